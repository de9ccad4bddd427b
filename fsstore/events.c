/*
 * The events of a tree, read for the fold.
 *
 * Each file under events/ (events/ab/cd/<xxh128>.json) is one event. A file
 * that is anything but a valid event in its place (a link, a submodule, a
 * name or bytes that do not check) is left out of the fold with the reason
 * (quarantined), so one bad file a peer committed never stops a registry.
 */
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * One entry under events/ and what became of it: an event, a reason to
 * leave it out, or an error that stops the fold. A full fold walks the
 * tree first and reads the entries after, on every core; they join the
 * fold in the walk's order all the same, so its result and its list of
 * files left out are the same as one thread's.
 */
typedef struct {
	git_oid id;
	git_filemode_t mode;
	size_t path;		/* its offset in collect.paths */
	mreg_event *ev;
	char *problem;		/* left out, and why */
	int rc;			/* < 0: the fold stops, with msg; 1: read again by the walking thread */
	char *msg;
	int64_t clock;		/* a streamed fold's key, read from the head of the bytes (keyed) */
	mreg_odb_where where;	/* where that head was found (located): the whole read looks nothing up */
	unsigned char name[16];	/* keyed: its name, the xxh128 of its bytes, as pass one read it from the path */
	bool keyed, located;
	bool known;		/* ev is one this process read from the same blob under the same name (take_known) */
} entry;

typedef struct {
	mreg_registry *reg;
	mreg_event **evs;
	size_t n, a;
	mreg_state *q;		/* the event files left out, and why (a state for its list only) */
	int64_t nfiles;		/* entries seen under events/, good or not */
	bool defer;		/* entries are noted by the walk and read after it (read_all) */
	bool take_known;	/* and may take reg->known_events instead (mreg_events_added) */
	entry *ents;
	size_t nents, aents;
	mreg_buf paths;		/* the entries' paths, each ending in '\0' */
} collect;

bool mreg_events_is_name(const char *name, size_t n)
{
	return n == 37 && !memcmp(name + 32, ".json", 5) && strspn(name, "0123456789abcdef") == 32;
}

static int quarantine(collect *c, const char *path, const char *fmt, const char *arg)
{
	char *msg = mreg_strfmt(fmt, arg);
	int rc = 0;
	if (!c->q)
		rc = mreg_state_new(&c->q);
	if (rc == 0)
		rc = msg ? mreg_state_quarantine(c->q, path, msg) : mreg_error_set(MREG_ERROR, "out of memory");
	free(msg);
	mreg_error_clear();
	return rc;
}

static int left_out(entry *e, const char *why)
{
	return (e->problem = mreg_strdup(why)) ? 0 : mreg_error_set(MREG_ERROR, "out of memory");
}

/* Why the entry at path is no event file in its place, before its bytes are read; NULL: it may be one. */
static const char *misplaced(const entry *e, const char *path)
{
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	if (e->mode != GIT_FILEMODE_BLOB && e->mode != GIT_FILEMODE_BLOB_EXECUTABLE)
		return e->mode == GIT_FILEMODE_LINK ? "a symbolic link, not an event file"
		       : e->mode == GIT_FILEMODE_COMMIT ? "a submodule, not an event file"
		       : "not a file, not an event file";
	if (!mreg_events_is_name(name, strlen(name)))
		return "not named <xxh128>.json";
	if (strlen(path) != 7 + 6 + 37 || strncmp(path, "events/", 7) || strncmp(path + 7, name, 2) || path[9] != '/' ||
	    strncmp(path + 10, name + 2, 2) || path[12] != '/')
		return "not in its fan-out directory events/ab/cd/";
	return NULL;
}

/*
 * Read the entry at path (events/ab/cd/<name>): an event for the fold in
 * e->ev, or, when it is anything but a valid event file in its place, the
 * reason in e->problem. Only what mreg cannot read at all (a missing
 * object, no memory) is an error. shared: on a thread beside others, from
 * the ready odb only; what it does not find there is 1, for the walking
 * thread to read as always.
 */
/*
 * How an entry's bytes are read: by mreg's reader made ready, which threads
 * share (where the first pass found them, when it did); as any read is,
 * which may look at the packs again; or by libgit2 alone, by the walking
 * thread while the readers share mreg's reader (which a look at the packs
 * again would change under them).
 */
typedef enum { READ_SHARED, READ_ANY, READ_GIT } read_how;

/* The bytes of an entry in its place, named want (its xxh128 in hex), parsed into e->ev (examine). */
static int read_event(entry *e, mreg_registry *reg, const char *want, read_how how)
{
	mreg_buf blob = MREG_BUF_INIT;
	git_object_t type;
	int rc;

	/* no SHA-1 of the bytes: the name is their xxh128, which the parse checks */
	if (how == READ_SHARED)
		rc = e->located ? mreg_odb_read_at(&blob, &type, reg->lodb, &e->where, &e->id)
				: mreg_odb_read_named(&blob, &type, reg->lodb, &e->id);
	else
		rc = how == READ_GIT ? mreg_tree_read_git(&blob, &type, reg, &e->id)
				     : mreg_tree_read_named(&blob, &type, reg, &e->id);
	if (rc == 0 && type != GIT_OBJECT_BLOB)
		rc = left_out(e, "not a file in the object store");
	else if (rc == 0) {
		rc = mreg_event_parse(&e->ev, blob.ptr, blob.size, want);
		if (rc == MREG_EINVALID || rc == MREG_ECORRUPT)
			rc = left_out(e, mreg_error_last());
	}
	mreg_buf_dispose(&blob);
	return rc;
}

static int examine(entry *e, mreg_registry *reg, const char *path, read_how how)
{
	const char *why = misplaced(e, path);
	char want[33];
	if (why)
		return left_out(e, why);
	memcpy(want, strrchr(path, '/') + 1, 32);
	want[32] = '\0';
	return read_event(e, reg, want, how);
}

/* What became of entry e joins c: its event, or its reason to be left out. */
static int settle(collect *c, entry *e, const char *path)
{
	c->nfiles++;
	if (e->problem) {
		int rc = quarantine(c, path, "%s", e->problem);
		free(e->problem);
		e->problem = NULL;
		return rc;
	}
	if (c->n == c->a) {
		size_t a = c->a ? c->a * 2 : 256;
		mreg_event **p = realloc(c->evs, a * sizeof(*p));
		if (!p)
			return mreg_error_set(MREG_ERROR, "out of memory");
		c->evs = p;
		c->a = a;
	}
	c->evs[c->n++] = e->ev;
	e->ev = NULL;
	return 0;
}

/*
 * The event a caller of this process read and checked already from blob id
 * under the name path ends in (reg->known_events), taken from it; NULL when
 * there is none. The same bytes under the same name parse to the same event.
 */
static mreg_event *take_known(const mreg_registry *reg, const git_oid *id, const char *path)
{
	size_t lo = 0, hi = reg->nknown_events;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = git_oid_cmp(&reg->known_events[mid].id, id);
		if (d == 0) {
			mreg_event **slot = reg->known_events[mid].ev, *ev = *slot;
			const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
			if (!ev || strlen(name) != 37 || memcmp(name, ev->id, 32))
				return NULL;
			*slot = NULL;
			return ev;
		}
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* One entry under events/: read now, or noted for read_all when c defers. */
static int push_event(collect *c, const git_oid *id, git_filemode_t mode, const char *path)
{
	entry one = { .id = *id, .mode = mode };
	if (!c->defer) {
		int rc = examine(&one, c->reg, path, READ_ANY);
		if (rc == 0)
			rc = settle(c, &one, path);
		mreg_event_free(one.ev);
		free(one.problem);
		return rc;
	}
	if (c->nents == c->aents) {
		size_t a = c->aents ? c->aents * 2 : 1024;
		entry *p = realloc(c->ents, a * sizeof(*p));
		if (!p)
			return mreg_error_set(MREG_ERROR, "out of memory");
		c->ents = p;
		c->aents = a;
	}
	one.path = c->paths.size;
	mreg_buf_put(&c->paths, path, strlen(path) + 1);
	if (mreg_buf_oom(&c->paths))
		return mreg_error_set(MREG_ERROR, "out of memory");
	if (c->take_known && c->reg->nknown_events && !misplaced(&one, path) && (one.ev = take_known(c->reg, id, path)))
		one.known = true;
	c->ents[c->nents++] = one;
	return 0;
}

/* ---- reading the noted entries on every core ---------------------------- */

#define CHUNK 64		/* entries a thread takes at a time */
#define MIN_SHARED 512		/* fewer entries are read by the walking thread alone */

/* An error that stops the fold kept with entry e, for the walking thread to take up in order. */
static void keep_error(entry *e)
{
	if (e->rc < 0 && !(e->msg = mreg_strdup(mreg_error_last())))
		e->rc = MREG_ERROR;
	mreg_error_clear();
}

static void read_shared(void *arg, size_t i)
{
	collect *c = arg;
	entry *e = &c->ents[i];
	if (e->known)
		return;	/* read and checked before, by this process */
	e->rc = examine(e, c->reg, c->paths.ptr + e->path, READ_SHARED);
	keep_error(e);
}

/* A keyed entry read for pass two: its place was checked by pass one, its name noted there (no look at its path). */
static void read_keyed(collect *c, entry *e)
{
	static const char digits[] = "0123456789abcdef";
	char want[33];
	for (int k = 0; k < 16; k++) {
		want[2 * k] = digits[e->name[k] >> 4];
		want[2 * k + 1] = digits[e->name[k] & 15];
	}
	want[32] = '\0';
	e->rc = read_event(e, c->reg, want, READ_SHARED);
	keep_error(e);
}

/* mreg's reader with every pack open, for threads to read at once (opened on first, as a read would open it). */
static bool ready_to_share(mreg_registry *reg, const git_oid *first)
{
	if (!reg->lodb) {
		git_object_t type;
		mreg_buf probe = MREG_BUF_INIT;
		mreg_tree_read_named(&probe, &type, reg, first);
		mreg_buf_dispose(&probe);
	}
	bool ready = reg->lodb && mreg_odb_ready(reg->lodb) == 0;
	mreg_error_clear();
	return ready;
}

/*
 * Read every noted entry, on as many threads as there are cores when there
 * are enough of them and mreg's own reader has the packs open; then each
 * joins c in the walk's order. An entry the threads could not read (an
 * object only libgit2 finds) is read again here; the first error in the
 * walk's order stops it, as it would have one thread.
 */
static int read_all(collect *c)
{
	size_t unread = 0;	/* the entries not taken from reg->known_events */
	for (size_t i = 0; i < c->nents; i++)
		unread += !c->ents[i].known;
	bool shared = unread >= MIN_SHARED && mreg_threads() > 1 && ready_to_share(c->reg, &c->ents[0].id);
	int rc = 0;
	if (shared)
		mreg_parallel_for(c->nents, CHUNK, read_shared, c, mreg_odb_thread_done);
	for (size_t i = 0; i < c->nents; i++) {
		entry *e = &c->ents[i];
		const char *path = c->paths.ptr + e->path;
		if (rc == 0 && !e->known && (!shared || e->rc == 1)) {
			mreg_event_free(e->ev);
			free(e->problem);
			*e = (entry){ .id = e->id, .mode = e->mode, .path = e->path };
			e->rc = examine(e, c->reg, path, READ_ANY);
		} else if (rc == 0 && e->rc < 0) {
			rc = mreg_error_set(e->rc, "%s", e->msg ? e->msg : "out of memory");
		}
		if (rc == 0 && e->rc < 0)
			rc = e->rc;
		if (rc == 0)
			rc = settle(c, e, path);
		mreg_event_free(e->ev);
		free(e->problem);
		free(e->msg);
	}
	free(c->ents);
	c->ents = NULL;
	c->nents = c->aents = 0;
	return rc;
}

/* The quarantined files of c into st. */
static int quarantine_into(mreg_state *st, const collect *c)
{
	int rc = 0;
	for (size_t i = 0; c->q && i < c->q->nquarantined && rc == 0; i++)
		rc = mreg_state_quarantine(st, c->q->quarantined[i].path, c->q->quarantined[i].problem);
	return rc;
}

/*
 * Every file under the directory tree id (path: "events/..."), read with
 * mreg's own object reader: the fan-out trees once each, then each event.
 * A peer may commit trees nested deeper than mreg writes them: their files
 * are quarantined one by one (not in their fan-out directory), as far down
 * as MAX_DEPTH; a directory deeper than that is quarantined whole.
 */
#define MAX_DEPTH 64
static int walk_dir(collect *c, const git_oid *id, mreg_buf *path, int depth)
{
	mreg_buf t = MREG_BUF_INIT;
	git_object_t type;
	mreg_git_tree_entry e;
	int rc = mreg_tree_read_object(&t, &type, c->reg, id), h = 0;
	if (rc == 0 && type != GIT_OBJECT_TREE)
		rc = mreg_error_set(MREG_ECORRUPT, "corrupt tree under '%s' in '%s'", path->ptr, c->reg->path);
	const char *p = t.ptr, *end = t.ptr + t.size;
	while (rc == 0 && (h = mreg_git_tree_next(&e, &p, end)) > 0) {
		size_t at = path->size;
		mreg_buf_putc(path, '/');
		mreg_buf_put(path, e.name, e.len);
		if (mreg_buf_oom(path))
			rc = mreg_error_set(MREG_ERROR, "out of memory");
		else if (e.mode == 040000 && depth < MAX_DEPTH)
			rc = walk_dir(c, &e.id, path, depth + 1);
		else if (e.mode == 040000) {
			c->nfiles++;
			rc = quarantine(c, path->ptr, "%s", "a directory nested too deep under events/");
		} else
			rc = push_event(c, &e.id, (git_filemode_t)e.mode, path->ptr);
		path->size = at;
		path->ptr[at] = '\0';
	}
	if (rc == 0 && h < 0)
		rc = mreg_error_set(MREG_ECORRUPT, "corrupt tree under '%s' in '%s'", path->ptr, c->reg->path);
	mreg_buf_dispose(&t);
	return rc;
}

static int cmp_events(const void *a, const void *b)
{
	return mreg_event_cmp(*(mreg_event *const *)a, *(mreg_event *const *)b);
}

/* c's events, in fold order, handed to the caller. */
static void take_events(mreg_event ***out, size_t *n, collect *c)
{
	if (c->n)
		qsort(c->evs, c->n, sizeof(*c->evs), cmp_events);
	*out = c->evs;
	*n = c->n;
	c->evs = NULL;
	c->n = 0;
}

/* ---- a fold streamed in fold order --------------------------------------- */

/* How much of an event file pass one peeks at for its clock. */
#define HEAD_BYTES 128

/*
 * The head of an event file as mreg writes it: the schema, the type and the
 * clock on the first four lines. Nothing can come before the clock there,
 * so the clock read is the event's; any other layout is read in full.
 */
bool mreg_events_clock_of(int64_t *out, const unsigned char *h, size_t n)
{
	static const char schema[] = "{\n  \"schema\": 1,\n  \"type\": \"", clock[] = "\",\n  \"clock\": ";
	/* the head only, whoever has more of the bytes at hand: a peek's and an indexer's key agree */
	const unsigned char *end = h + (n < HEAD_BYTES ? n : HEAD_BYTES), *q;
	if (n < sizeof(schema) || memcmp(h, schema, sizeof(schema) - 1))
		return false;
	for (q = h + sizeof(schema) - 1; q < end && ((*q >= 'a' && *q <= 'z') || *q == '.' || *q == '_'); q++)
		;
	if ((size_t)(end - q) < sizeof(clock) || memcmp(q, clock, sizeof(clock) - 1))
		return false;
	int64_t v = 0;
	int digits = 0;
	for (q += sizeof(clock) - 1; q < end && *q >= '0' && *q <= '9' && digits < 16; q++, digits++)
		v = v * 10 + (*q - '0');
	if (!digits || (digits > 1 && q[-digits] == '0') || q >= end || *q != ',')
		return false;
	*out = v;
	return true;
}

/* A keyed entry's name (its place checked: 32 lowercase hex digits after the last '/') into e->name. */
static void note_name(entry *e, const char *path)
{
	const char *h = strrchr(path, '/') + 1;
	for (int k = 0; k < 16; k++) {
		int hi = h[2 * k] <= '9' ? h[2 * k] - '0' : h[2 * k] - 'a' + 10;
		int lo = h[2 * k + 1] <= '9' ? h[2 * k + 1] - '0' : h[2 * k + 1] - 'a' + 10;
		e->name[k] = (unsigned char)(hi << 4 | lo);
	}
}

/* Pass one, for entry i: its place checked and its key read from the head of its bytes, else read whole. */
static void key_one(void *arg, size_t i)
{
	collect *c = arg;
	entry *e = &c->ents[i];
	const char *path = c->paths.ptr + e->path, *why = misplaced(e, path);
	unsigned char head[HEAD_BYTES];
	size_t got = 0;
	git_object_t type;
	if (why) {
		e->rc = left_out(e, why);
	} else if (mreg_odb_key(&e->clock, c->reg->lodb, &e->id, &e->where) == 0) {
		e->keyed = e->located = true;	/* the clock the indexer read from the same bytes: a blob's */
		note_name(e, path);
		return;
	} else if ((e->located = mreg_odb_peek(head, &got, sizeof(head), &type, c->reg->lodb, &e->id, &e->where) == 0) &&
		   type == GIT_OBJECT_BLOB && mreg_events_clock_of(&e->clock, head, got)) {
		e->keyed = true;
		note_name(e, path);
		return;
	} else {
		e->rc = examine(e, c->reg, path, READ_SHARED);
	}
	keep_error(e);
}

/* An entry's place in the fold: (clock, id), the id being its name. */
typedef struct {
	int64_t clock;
	const char *name;
	size_t i;
} fold_key;

static int cmp_fold_keys(const void *a, const void *b)
{
	const fold_key *x = a, *y = b;
	return x->clock != y->clock ? (x->clock < y->clock ? -1 : 1) : memcmp(x->name, y->name, 32);
}

/* The entries to fold (keyed, or read whole into an event) in fold order, into order. */
static int sort_for_fold(size_t *order, const collect *c, size_t n)
{
	fold_key *k = malloc((n + 1) * sizeof(*k));
	if (!k)
		return mreg_error_set(MREG_ERROR, "out of memory");
	for (size_t j = 0; j < n; j++) {
		const entry *e = &c->ents[order[j]];
		const char *path = c->paths.ptr + e->path;
		k[j] = (fold_key){ e->keyed ? e->clock : e->ev->clock, path + strlen(path) - 37, order[j] };
	}
	qsort(k, n, sizeof(*k), cmp_fold_keys);
	for (size_t j = 0; j < n; j++)
		order[j] = k[j].i;
	free(k);
	return 0;
}

/* Pass two's readers: chunks of the fold order, no further ahead of the fold than WINDOW entries. */
#define WINDOW (64 * CHUNK)

typedef struct {
	collect *c;
	entry *seq;		/* the entries to fold, in fold order */
	size_t n;
	atomic_size_t next;
	unsigned char *done;	/* per chunk, under mu */
	size_t applied;		/* where the fold is, under mu */
	bool stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
} stream;

/*
 * A reader frees the events it read once the fold has applied them (the
 * chunks of mine that end at or before applied; the fold leaves them be).
 * An allocator keeps a thread's frees for that thread's next allocations:
 * events read on one thread and freed on the fold's left the readers
 * allocating the slow way (glibc's malloc, the library's callers').
 */
static void free_applied(const stream *s, size_t *mine, size_t *nmine, size_t applied)
{
	size_t kept = 0;
	for (size_t j = 0; j < *nmine; j++) {
		if (mine[j] + CHUNK > applied) {
			mine[kept++] = mine[j];
			continue;
		}
		for (size_t k = mine[j]; k < s->n && k < mine[j] + CHUNK; k++) {
			entry *e = &s->seq[k];
			mreg_event_free(e->ev);
			e->ev = NULL;
		}
	}
	*nmine = kept;
}

static void *stream_reader(void *arg)
{
	stream *s = arg;
	size_t mine[WINDOW / CHUNK + 2], nmine = 0;	/* chunks read, not yet freed: within a window of the fold */
	for (;;) {
		size_t at = atomic_fetch_add(&s->next, CHUNK);
		if (at >= s->n)
			break;
		pthread_mutex_lock(&s->mu);
		while (!s->stop && at >= s->applied + WINDOW)
			pthread_cond_wait(&s->cv, &s->mu);
		bool stop = s->stop;
		size_t applied = s->applied;
		pthread_mutex_unlock(&s->mu);
		if (stop)
			break;
		free_applied(s, mine, &nmine, applied);
		for (size_t k = at; k < s->n && k < at + CHUNK; k++)
			if (s->seq[k].keyed)
				read_keyed(s->c, &s->seq[k]);
		mine[nmine++] = at;
		pthread_mutex_lock(&s->mu);
		s->done[at / CHUNK] = 1;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
	}
	/* the last chunks' events are the fold's to free, after the readers are done (mreg_events_fold) */
	mreg_odb_thread_done();
	return NULL;
}

/* An entry pass one could not settle on its own: read again here (as how says), or its error taken up. */
static int settle_first(collect *c, entry *e, read_how how)
{
	const char *path = c->paths.ptr + e->path;
	if (e->rc == 1) {
		*e = (entry){ .id = e->id, .mode = e->mode, .path = e->path };
		if ((e->rc = examine(e, c->reg, path, how)) < 0)
			return e->rc;
	}
	if (e->rc < 0)
		return mreg_error_set(e->rc, "%s", e->msg ? e->msg : "out of memory");
	if (e->problem) {
		int rc = quarantine(c, path, "%s", e->problem);
		free(e->problem);
		e->problem = NULL;
		return rc;
	}
	return 0;
}

/*
 * The fold, in order: entry e (read by a reader when shared, else here) to
 * fn, or left out; freed here, or by the reader of its chunk when shared.
 */
static int fold_one(collect *c, entry *e, bool shared, int (*fn)(const mreg_event *ev, void *arg), void *arg)
{
	int64_t key = e->clock;
	int rc;
	if (e->keyed) {
		if (!shared)
			read_keyed(c, e);	/* the ready odb, with one thread: the same read */
		/* the readers may be reading through mreg's reader now: a look at the packs again would move them */
		if ((rc = settle_first(c, e, shared ? READ_GIT : READ_ANY)) < 0)
			return rc;
		if (e->ev && e->ev->clock != key)
			return mreg_error_set(MREG_ECORRUPT, "event %s: its clock is not the one its head shows",
					      e->ev->id);
	}
	rc = e->ev ? fn(e->ev, arg) : 0;
	if (!shared) {
		mreg_event_free(e->ev);
		e->ev = NULL;
	}
	return rc;
}

/*
 * The entries order names (n of them) moved to the front of c->ents, in
 * that order, in place; the others, which own nothing once pass one is
 * settled, behind them. Pass two then goes through them in sequence: in
 * the walk's order each was a miss of the caches, twice a reader's and
 * once the fold's. order becomes the whole permutation, and is used up.
 */
static int into_fold_order(collect *c, size_t *order, size_t n)
{
	size_t total = c->nents, m = n;
	unsigned char *in = calloc(total + 1, 1);
	if (!in)
		return mreg_error_set(MREG_ERROR, "out of memory");
	for (size_t k = 0; k < n; k++)
		in[order[k]] = 1;
	for (size_t i = 0; i < total; i++)
		if (!in[i])
			order[m++] = i;
	free(in);
	/* each cycle of the permutation once: position j takes the entry at order[j] */
	for (size_t k = 0; k < total; k++) {
		if (order[k] == k)
			continue;
		entry first = c->ents[k];
		size_t j = k;
		for (;;) {
			size_t from = order[j];
			order[j] = j;
			if (from == k) {
				c->ents[j] = first;
				break;
			}
			c->ents[j] = c->ents[from];
			j = from;
		}
	}
	return 0;
}

/* What entries own, and ents, freed. */
static void drop_entries(entry *ents, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		mreg_event_free(ents[i].ev);
		free(ents[i].problem);
		free(ents[i].msg);
	}
	free(ents);
}

static int fold_ordered(collect *c, entry *seq, size_t n, bool shared,
			int (*fn)(const mreg_event *ev, void *arg), void *arg)
{
	stream s = { .c = c, .seq = seq, .n = n };
	pthread_t tid[MREG_MAX_THREADS];
	/* readers beside this thread, which folds: one a core (the fold is the smaller part); none for few */
	int readers = shared && n >= MIN_SHARED ? mreg_threads() : 0, started = 0, rc = 0;
	if (readers == 1)
		readers = 0;	/* one thread: this one reads as it folds */
	if (readers && !(s.done = calloc(n / CHUNK + 1, 1)))
		return mreg_error_set(MREG_ERROR, "out of memory");
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cv, NULL);
	for (int i = 0; i < readers; i++)
		if (pthread_create(&tid[started], NULL, stream_reader, &s) == 0)
			started++;
	for (size_t k = 0; k < n && rc == 0; k++) {
		if (started && k % CHUNK == 0) {
			pthread_mutex_lock(&s.mu);
			s.applied = k;
			pthread_cond_broadcast(&s.cv);
			while (!s.done[k / CHUNK])
				pthread_cond_wait(&s.cv, &s.mu);
			pthread_mutex_unlock(&s.mu);
		}
		rc = fold_one(c, &seq[k], started > 0, fn, arg);
	}
	pthread_mutex_lock(&s.mu);
	s.stop = true;
	pthread_cond_broadcast(&s.cv);
	pthread_mutex_unlock(&s.mu);
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	pthread_cond_destroy(&s.cv);
	pthread_mutex_destroy(&s.mu);
	free(s.done);
	return rc;
}

int mreg_events_fold(mreg_registry *reg, const git_oid *tree_id, mreg_state *st,
		     int (*fn)(const mreg_event *ev, void *arg), void *arg)
{
	collect c = { .reg = reg, .defer = true };
	git_oid events;
	unsigned mode = 0;
	size_t *order = NULL, n = 0;
	int rc = mreg_registry_need_git(reg);
	bool shared = false;
	if (rc == 0)
		rc = mreg_tree_path(&events, &mode, reg, tree_id, "events");
	if (rc == 0 && mode != 040000) {
		/* a file (or link) where the events should be: nothing to fold, and it says so */
		c.nfiles++;
		rc = quarantine(&c, "events", "%s", "not a directory");
	} else if (rc == 0) {
		mreg_buf path = MREG_BUF_INIT;
		mreg_buf_puts(&path, "events");
		rc = mreg_buf_oom(&path) ? mreg_error_set(MREG_ERROR, "out of memory") : walk_dir(&c, &events, &path, 0);
		mreg_buf_dispose(&path);
	} else if (rc == 1) {
		rc = 0;	/* no events yet */
	}
	/* else one thread reads every file whole, through the full road */
	if (rc == 0 && c.nents)
		shared = ready_to_share(reg, &c.ents[0].id);
	c.nfiles += (int64_t)c.nents;
	if (rc == 0 && shared)
		mreg_parallel_for(c.nents, CHUNK, key_one, &c, mreg_odb_thread_done);
	else
		for (size_t i = 0; i < c.nents; i++)
			c.ents[i].rc = 1;	/* no key: read whole, in the walk's order, below */
	/* what pass one settled, in the walk's order: its first error stops the fold, as one thread's would */
	if (rc == 0 && !(order = malloc((c.nents + 1) * sizeof(*order))))
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	for (size_t i = 0; i < c.nents && rc == 0; i++) {
		entry *e = &c.ents[i];
		if (!e->keyed && (rc = settle_first(&c, e, READ_ANY)) == 0 && e->ev)
			order[n++] = i;
		else if (e->keyed)
			order[n++] = i;
	}
	if (rc == 0) {
		st->nfiles = c.nfiles;	/* the base of the clock bound, before the fold */
		rc = quarantine_into(st, &c);
		/* what the fold's reads leave out goes straight to st */
		mreg_state_free(c.q);
		c.q = st;
	}
	if (rc == 0 && (rc = sort_for_fold(order, &c, n)) == 0 && (rc = into_fold_order(&c, order, n)) == 0)
		rc = fold_ordered(&c, c.ents, n, shared, fn, arg);
	drop_entries(c.ents, c.nents);
	free(order);
	mreg_buf_dispose(&c.paths);
	if (c.q != st)
		mreg_state_free(c.q);
	return rc;
}

static void free_one(void *arg, size_t i)
{
	mreg_event_free(((mreg_event **)arg)[i]);
}

void mreg_events_free(mreg_event **evs, size_t n)
{
	/* a million events take a second to free on one core: on every core when there are many */
	if (n >= MIN_SHARED * 8)
		mreg_parallel_for(n, 1024, free_one, evs, NULL);
	else
		for (size_t i = 0; i < n; i++)
			mreg_event_free(evs[i]);
	free(evs);
}

int mreg_events_read(mreg_event ***out, size_t *n, mreg_state *quarantined, mreg_registry *reg,
			const git_oid *tree_id)
{
	git_tree *tree = NULL, *events = NULL;
	git_tree_entry *e = NULL;
	collect c = { .reg = reg, .defer = true };
	int rc = 0;
	if ((rc = mreg_registry_need_git(reg)) < 0)
		return rc;

	*out = NULL;
	*n = 0;
	if (git_tree_lookup(&tree, reg->repo, tree_id) < 0)
		return mreg_libgit2_error("cannot read the tree of", reg->path);
	if (git_tree_entry_bypath(&e, tree, "events") == 0) {
		if (git_tree_entry_type(e) != GIT_OBJECT_TREE || git_tree_lookup(&events, reg->repo, git_tree_entry_id(e)) < 0) {
			/* a file (or link) where the events should be: nothing to fold, and it says so */
			git_error_clear();
			c.nfiles++;
			if ((rc = quarantine(&c, "events", "%s", "not a directory")) < 0)
				goto done;
		} else {
			mreg_buf path = MREG_BUF_INIT;
			mreg_buf_puts(&path, "events");
			rc = mreg_buf_oom(&path) ? mreg_error_set(MREG_ERROR, "out of memory")
						 : walk_dir(&c, git_tree_entry_id(e), &path, 0);
			mreg_buf_dispose(&path);
			if (rc == 0 && c.nents)
				rc = read_all(&c);
			if (rc < 0)
				goto done;
		}
	}
	git_error_clear();
	if (quarantined) {
		quarantined->nfiles = c.nfiles;	/* the base of the clock bound, before the fold */
		if ((rc = quarantine_into(quarantined, &c)) < 0)
			goto done;
	}
	take_events(out, n, &c);
done:
	free(c.ents);	/* noted, not read: the walk stopped */
	mreg_buf_dispose(&c.paths);
	mreg_state_free(c.q);
	mreg_events_free(c.evs, c.n);
	git_tree_entry_free(e);
	git_tree_free(events);
	git_tree_free(tree);
	return rc;
}

/* An event file added since the state's tree joins the fold; anything else changed under events/: 1, fold all. */
static int added_cb(const mreg_tree_change *ch, void *payload)
{
	if (ch->old_id || !ch->new_id)
		return 1;
	int rc = push_event(payload, ch->new_id, (git_filemode_t)ch->new_mode, ch->path);
	return rc < 0 ? rc : 0;
}

int mreg_events_added(mreg_event ***out, size_t *n, mreg_state **q, int64_t *nfiles, mreg_registry *reg,
		      const git_oid *old_tree, const git_oid *tree)
{
	/* noted as the diff finds them, then read on every core when there are many (a sync brings thousands) */
	collect c = { .reg = reg, .defer = true, .take_known = true };
	int rc;

	*out = NULL;
	*n = 0;
	*q = NULL;
	*nfiles = 0;
	if ((rc = mreg_registry_need_git(reg)) < 0)
		return rc;
	if ((rc = mreg_tree_changes(reg, old_tree, tree, "events", added_cb, &c)) == 0 && c.nents)
		rc = read_all(&c);
	if (rc == 0) {
		*q = c.q;
		*nfiles = c.nfiles;
		c.q = NULL;
		take_events(out, n, &c);
	}
	if (rc < 0 && mreg_error_code() != MREG_ERROR) {
		/* an old tree this clone does not have (a shallow fetch, a gc): fold all */
		mreg_error_clear();
		rc = 1;
	}
	for (size_t i = 0; i < c.nents; i++)
		mreg_event_free(c.ents[i].ev);	/* noted, not read (the diff stopped): only a known one is there */
	free(c.ents);
	mreg_buf_dispose(&c.paths);
	mreg_state_free(c.q);
	mreg_events_free(c.evs, c.n);
	return rc;
}

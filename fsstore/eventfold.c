/*
 * The streamed fold of a tree's events (refresh --full, fsck, check,
 * restore-from, a first clone): a first pass reads each event file's clock
 * from the head of its bytes (or from the fold's key cache, foldkeys.c),
 * the entries are sorted into fold order, and a second pass reads and
 * parses them a bounded window ahead of the fold, on every core, each
 * reader freeing what it read once it is applied.
 */
#include "events.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	e->rc = mreg_events_read_entry(e, c->reg, want, READ_SHARED);
	/* what the fold would compute from the event alone, here, beside it; what fails is left to the fold, in order */
	if (e->rc == 0 && e->ev && mreg_fold_prepare(e->ev) < 0)
		mreg_error_clear();
	mreg_events_keep_error(e);
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
	const char *path = c->paths.ptr + e->path, *why = mreg_events_misplaced(e, path);
	unsigned char head[HEAD_BYTES];
	size_t got = 0;
	git_object_t type;
	if (why) {
		e->rc = mreg_events_left_out(e, why);
	} else if (mreg_odb_key(&e->clock, c->reg->lodb, &e->id, &e->where) == 0) {
		e->keyed = e->located = true;	/* the clock an indexer or a fold before read from the same bytes */
		note_name(e, path);
		return;
	} else if ((e->located = mreg_odb_peek(head, &got, sizeof(head), &type, c->reg->lodb, &e->id, &e->where) == 0) &&
		   type == GIT_OBJECT_BLOB && mreg_events_clock_of(&e->clock, head, got)) {
		e->keyed = true;
		note_name(e, path);
		return;
	} else {
		e->rc = mreg_events_examine(e, c->reg, path, READ_SHARED);
	}
	mreg_events_keep_error(e);
}

static int cmp_names(const void *a, const void *b)
{
	const mreg_fold_key *x = a, *y = b;
	int c = memcmp(x->name, y->name, 32);
	return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* A clock as bits that sort as the clocks do, unsigned. */
static uint64_t clock_bits(int64_t clock)
{
	return (uint64_t)clock ^ ((uint64_t)1 << 63);
}

/*
 * A stable sort by the clock, least significant byte first, of only the
 * bytes in which the clocks differ (three passes at a million events, where
 * qsort's comparisons took a fifth of a second on the one thread); then each
 * run of one clock by name, and by the place in the walk for a name twice.
 */
void mreg_events_sort_keys(mreg_fold_key *k, mreg_fold_key *tmp, size_t n)
{
	uint64_t any = 0, all = ~(uint64_t)0;
	for (size_t j = 0; j < n; j++) {
		uint64_t u = clock_bits(k[j].clock);
		any |= u;
		all &= u;
	}
	mreg_fold_key *src = k, *dst = tmp;
	for (unsigned shift = 0; shift < 64; shift += 8) {
		if (!(((any ^ all) >> shift) & 0xff))
			continue;	/* one value of this byte in every key: nothing to move */
		size_t start[257] = { 0 };
		for (size_t j = 0; j < n; j++)
			start[((clock_bits(src[j].clock) >> shift) & 0xff) + 1]++;
		for (int b = 0; b < 256; b++)
			start[b + 1] += start[b];
		for (size_t j = 0; j < n; j++)
			dst[start[(clock_bits(src[j].clock) >> shift) & 0xff]++] = src[j];
		mreg_fold_key *t = src;
		src = dst;
		dst = t;
	}
	if (src != k && n)
		memcpy(k, src, n * sizeof(*k));
	for (size_t j = 0; j < n;) {
		size_t end = j + 1;
		while (end < n && k[end].clock == k[j].clock)
			end++;
		if (end - j > 1)
			qsort(k + j, end - j, sizeof(*k), cmp_names);
		j = end;
	}
}

/* The entries to fold (keyed, or read whole into an event) in fold order, into order. */
static int sort_for_fold(size_t *order, const collect *c, size_t n)
{
	mreg_fold_key *k = malloc((2 * n + 1) * sizeof(*k));
	if (!k)
		return mreg_error_set(MREG_ERROR, "out of memory");
	for (size_t j = 0; j < n; j++) {
		const entry *e = &c->ents[order[j]];
		const char *path = c->paths.ptr + e->path;
		k[j] = (mreg_fold_key){ e->keyed ? e->clock : e->ev->clock, path + strlen(path) - 37, order[j] };
	}
	mreg_events_sort_keys(k, k + n, n);
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
		if ((e->rc = mreg_events_examine(e, c->reg, path, how)) < 0)
			return e->rc;
	}
	if (e->rc < 0)
		return mreg_error_set(e->rc, "%s", e->msg ? e->msg : "out of memory");
	if (e->problem) {
		int rc = mreg_events_quarantine(c, path, "%s", e->problem);
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
		if (e->ev && e->ev->clock != key) {
			c->reg->fold_keys_wrong = c->file_keys;	/* perhaps the cache's: fold_all tries without */
			return mreg_error_set(MREG_ECORRUPT, "event %s: its clock is not the one its head shows",
					      e->ev->id);
		}
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

/*
 * After a fold that ended well: the keys pass one found (or an indexer
 * gave) written to the key cache, for each large pack that has no file
 * there yet (foldkeys.c). What a write or the cache cannot keep is left.
 */
static void save_keys(const collect *c)
{
	mreg_odb *odb = c->reg->lodb;
	size_t npacks = odb ? mreg_odb_npacks(odb) : 0;
	unsigned gen = odb ? mreg_odb_gen(odb) : 0;
	mreg_fold_keys_prune(c->reg);	/* once, before the files of this fold's packs */
	for (size_t p = 0; p < npacks; p++) {
		uint32_t count;
		if (!mreg_fold_keys_wanted(c->reg, p, &count))
			continue;
		int64_t *keys = malloc(((size_t)count + 1) * sizeof(*keys));
		size_t set = 0;
		for (uint32_t i = 0; keys && i < count; i++)
			keys[i] = -1;
		for (size_t i = 0; keys && i < c->nents; i++) {
			const entry *e = &c->ents[i];
			if (e->keyed && e->located && e->where.pack == p && e->where.gen == gen && e->where.pos < count) {
				keys[e->where.pos] = e->clock;
				set++;
			}
		}
		if (set)
			mreg_fold_keys_save(c->reg, p, keys, count);
		free(keys);
	}
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

/* The length of an event file's path as mreg writes it, with its NUL: events/ab/cd/<32 hex digits>.json */
#define EVENT_PATH 51

/*
 * Room for an entry and its path per object of the registry's packs (the
 * most entries there can be, unless objects are loose), made before the
 * walk: grown by doubling as the walk went, the entries and their paths
 * were copied and given fresh pages over and over, about half of the
 * walk's time at a million events. Pages never written cost nothing; when
 * there is no room to be had they grow as before. True: mreg's reader is
 * ready to share (mreg_events_ready_to_share, made ready here once).
 */
static bool make_room(collect *c)
{
	mreg_odb *odb = c->reg->lodb;
	if (!odb || mreg_odb_ready(odb) < 0) {
		mreg_error_clear();
		return false;
	}
	size_t n = mreg_odb_count(odb);
	if (n < 1024 || n > ((size_t)1 << 26) || !(c->ents = malloc(n * sizeof(*c->ents))))
		return true;
	c->aents = n;
	if (mreg_buf_grow(&c->paths, n * EVENT_PATH) < 0)
		mreg_buf_init(&c->paths, 0);	/* nothing was taken: it grows as it goes */
	return true;
}

int mreg_events_fold(mreg_registry *reg, const git_oid *tree_id, mreg_state *st,
		     int (*fn)(const mreg_event *ev, void *arg), void *arg)
{
	collect c = { .reg = reg };
	git_oid events;
	unsigned mode = 0;
	size_t *order = NULL, n = 0;
	int rc = mreg_registry_need_git(reg);
	bool shared = false, ready = false;
	if (rc == 0)
		rc = mreg_tree_path(&events, &mode, reg, tree_id, "events");
	if (rc == 0 && mode != 040000) {
		/* a file (or link) where the events should be: nothing to fold, and it says so */
		c.nfiles++;
		rc = mreg_events_quarantine(&c, "events", "%s", "not a directory");
	} else if (rc == 0) {
		mreg_buf path = MREG_BUF_INIT;
		ready = make_room(&c);
		mreg_buf_puts(&path, "events");
		rc = mreg_buf_oom(&path) ? mreg_error_set(MREG_ERROR, "out of memory") : mreg_events_walk_dir(&c, &events, &path, 0);
		mreg_buf_dispose(&path);
	} else if (rc == 1) {
		rc = 0;	/* no events yet */
	}
	/* else one thread reads every file whole, through the full road */
	/* the packs listed and opened once: before the walk, or now when they were not then */
	if (rc == 0 && c.nents)
		shared = ready || mreg_events_ready_to_share(reg, &c.ents[0].id);
	if (shared && reg->fold_keys)
		c.file_keys = mreg_fold_keys_load(reg) > 0;
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
		rc = mreg_events_quarantine_into(st, &c);
		/* what the fold's reads leave out goes straight to st */
		mreg_state_free(c.q);
		c.q = st;
	}
	if (rc == 0 && (rc = sort_for_fold(order, &c, n)) == 0 && (rc = into_fold_order(&c, order, n)) == 0)
		rc = fold_ordered(&c, c.ents, n, shared, fn, arg);
	if (rc == 0 && shared && reg->fold_keys)
		save_keys(&c);
	drop_entries(c.ents, c.nents);
	free(order);
	mreg_buf_dispose(&c.paths);
	if (c.q != st)
		mreg_state_free(c.q);
	return rc;
}

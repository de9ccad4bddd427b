/*
 * The events of a tree, read for the fold.
 *
 * Each file under events/ (events/ab/cd/<xxh128>.json) is one event. A file
 * that is anything but a valid event in its place (a link, a submodule, a
 * name or bytes that do not check) is left out of the fold with the reason
 * (quarantined), so one bad file a peer committed never stops a registry.
 */
#include "events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool mreg_events_is_name(const char *name, size_t n)
{
	return n == 37 && !memcmp(name + 32, ".json", 5) && strspn(name, "0123456789abcdef") == 32;
}

int mreg_events_quarantine(collect *c, const char *path, const char *fmt, const char *arg)
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

int mreg_events_left_out(entry *e, const char *why)
{
	return (e->problem = mreg_strdup(why)) ? 0 : mreg_error_set(MREG_ERROR, "out of memory");
}

/* Why the entry at path is no event file in its place, before its bytes are read; NULL: it may be one. */
const char *mreg_events_misplaced(const entry *e, const char *path)
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

/* The bytes of an entry in its place, named want (its xxh128 in hex), parsed into e->ev (mreg_events_examine). */
int mreg_events_read_entry(entry *e, mreg_registry *reg, const char *want, read_how how)
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
		rc = mreg_events_left_out(e, "not a file in the object store");
	else if (rc == 0) {
		rc = mreg_event_parse(&e->ev, blob.ptr, blob.size, want);
		if (rc == MREG_EINVALID || rc == MREG_ECORRUPT)
			rc = mreg_events_left_out(e, mreg_error_last());
	}
	mreg_buf_dispose(&blob);
	return rc;
}

/*
 * Read the entry at path (events/ab/cd/<name>): an event for the fold in
 * e->ev, or, when it is anything but a valid event file in its place, the
 * reason in e->problem. Only what mreg cannot read at all (a missing
 * object, no memory) is an error. shared: on a thread beside others, from
 * the ready odb only; what it does not find there is 1, for the walking
 * thread to read as always.
 */
int mreg_events_examine(entry *e, mreg_registry *reg, const char *path, read_how how)
{
	const char *why = mreg_events_misplaced(e, path);
	char want[33];
	if (why)
		return mreg_events_left_out(e, why);
	memcpy(want, strrchr(path, '/') + 1, 32);
	want[32] = '\0';
	return mreg_events_read_entry(e, reg, want, how);
}

/* What became of entry e joins c: its event, or its reason to be left out. */
static int settle(collect *c, entry *e, const char *path)
{
	c->nfiles++;
	if (e->problem) {
		int rc = mreg_events_quarantine(c, path, "%s", e->problem);
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

/* One entry under events/, noted for read_all (or the streamed fold) to read. */
static int push_event(collect *c, const git_oid *id, git_filemode_t mode, const char *path)
{
	entry one = { .id = *id, .mode = mode };
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
	if (c->take_known && c->reg->nknown_events && !mreg_events_misplaced(&one, path) && (one.ev = take_known(c->reg, id, path)))
		one.known = true;
	c->ents[c->nents++] = one;
	return 0;
}

/* ---- reading the noted entries on every core ---------------------------- */


/* An error that stops the fold kept with entry e, for the walking thread to take up in order. */
void mreg_events_keep_error(entry *e)
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
	e->rc = mreg_events_examine(e, c->reg, c->paths.ptr + e->path, READ_SHARED);
	mreg_events_keep_error(e);
}

/* mreg's reader with every pack open, for threads to read at once (opened on first, as a read would open it). */
bool mreg_events_ready_to_share(mreg_registry *reg, const git_oid *first)
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
	bool shared = unread >= MIN_SHARED && mreg_threads() > 1 && mreg_events_ready_to_share(c->reg, &c->ents[0].id);
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
			e->rc = mreg_events_examine(e, c->reg, path, READ_ANY);
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
int mreg_events_quarantine_into(mreg_state *st, const collect *c)
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
int mreg_events_walk_dir(collect *c, const git_oid *id, mreg_buf *path, int depth)
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
			rc = mreg_events_walk_dir(c, &e.id, path, depth + 1);
		else if (e.mode == 040000) {
			c->nfiles++;
			rc = mreg_events_quarantine(c, path->ptr, "%s", "a directory nested too deep under events/");
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
	collect c = { .reg = reg };
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
			if ((rc = mreg_events_quarantine(&c, "events", "%s", "not a directory")) < 0)
				goto done;
		} else {
			mreg_buf path = MREG_BUF_INIT;
			mreg_buf_puts(&path, "events");
			rc = mreg_buf_oom(&path) ? mreg_error_set(MREG_ERROR, "out of memory")
						 : mreg_events_walk_dir(&c, git_tree_entry_id(e), &path, 0);
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
		if ((rc = mreg_events_quarantine_into(quarantined, &c)) < 0)
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
	collect c = { .reg = reg, .take_known = true };
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

/*
 * A backup's head complete: every object it reaches is in the pack (or,
 * for a restore into a registry, in the registry), each commit and tree
 * parsed, and the events at the head counted.
 */
#include "backup.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tree id's bytes into out; false when it is not a tree there. */
static bool read_tree(mreg_buf *out, mreg_odb *odb, const git_oid *id)
{
	git_object_t type;
	return mreg_odb_read(out, &type, odb, id) == 0 && type == GIT_OBJECT_TREE;
}

/* The events at head: blobs under events/ab/cd/, three levels down (what the second level's trees hold). */
static int64_t count_events(mreg_odb *odb, const git_oid *head)
{
	mreg_buf b = MREG_BUF_INIT, l1 = MREG_BUF_INIT, l2 = MREG_BUF_INIT;
	git_object_t type;
	git_oid tree;
	mreg_git_tree_entry e, e1, e2;
	int64_t n = 0;
	if (mreg_odb_read(&b, &type, odb, head) == 0 && type == GIT_OBJECT_COMMIT &&
	    mreg_git_commit_tree(&tree, b.ptr, b.size) && read_tree(&b, odb, &tree) &&
	    mreg_git_tree_find(&e, b.ptr, b.size, "events", 6) && read_tree(&b, odb, &e.id)) {
		const char *p = b.ptr, *end = b.ptr + b.size;
		while (mreg_git_tree_next(&e1, &p, end) == 1) {
			if (!read_tree(&l1, odb, &e1.id))
				continue;
			const char *q = l1.ptr, *qend = l1.ptr + l1.size;
			while (mreg_git_tree_next(&e2, &q, qend) == 1) {
				if (!read_tree(&l2, odb, &e2.id))
					continue;
				const char *r = l2.ptr, *rend = l2.ptr + l2.size;
				while (mreg_git_tree_next(&e, &r, rend) == 1)
					n++;
			}
		}
	}
	mreg_error_clear();
	mreg_buf_dispose(&b);
	mreg_buf_dispose(&l1);
	mreg_buf_dispose(&l2);
	return n;
}


/*
 * An object the walk needs, read by mreg's reader (hash-checked, in a
 * registry: repo; a pack just indexed, without repo, had every id computed
 * from its bytes as it was indexed), or by libgit2 for one mreg's reader
 * does not find where libgit2 might (mreg_odb_unsure). 1: missing.
 */
static int read_needed(mreg_buf *out, git_object_t *type, mreg_odb *odb, git_repository *repo, const git_oid *id)
{
	int rc = repo ? mreg_odb_read(out, type, odb, id) : mreg_odb_read_named(out, type, odb, id);
	if (rc != 1 || !repo || !mreg_odb_unsure(odb))
		return rc;
	git_odb *godb = NULL;
	git_odb_object *o = NULL;
	if (git_repository_odb(&godb, repo) < 0 || git_odb_read(&o, godb, id) < 0) {
		git_error_clear();
		git_odb_free(godb);
		return 1;
	}
	mreg_buf_clear(out);
	mreg_buf_put(out, git_odb_object_data(o), git_odb_object_size(o));
	*type = git_odb_object_type(o);
	git_odb_object_free(o);
	git_odb_free(godb);
	return mreg_buf_oom(out) ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
}

static int has_blob(mreg_odb *odb, git_repository *repo, const git_oid *id)
{
	int rc = mreg_odb_has(odb, id);
	if (rc != 1 || !repo || !mreg_odb_unsure(odb))
		return rc;
	git_odb *godb = NULL;
	bool there = git_repository_odb(&godb, repo) == 0 && git_odb_exists(godb, id);
	git_odb_free(godb);
	return there ? 0 : 1;
}

/*
 * The walk: every object reachable from the head, each read (commits and
 * trees) or looked up (blobs) once. On a pack just indexed (no repo) it
 * runs on every core: each worker owns the ids whose first byte falls to
 * it (the set of ids it has seen is its own), walks what it owns and hands
 * what it finds of the others' to them in batches. At a million events the
 * walk took two seconds on one core, as long as indexing the pack.
 */
typedef struct {
	git_oid id;
	bool blob;		/* looked up, not read */
} item;

typedef struct {
	item *v;
	size_t n, a;
} items;

#define HANDOFF 1024		/* items for another worker sent in batches of this many */

typedef struct walk walk;

typedef struct {
	walk *w;
	int me;
	items todo;		/* this worker's own */
	items inbox;		/* handed over by the others, under w->mu */
	items out[MREG_MAX_THREADS];	/* for the others, not yet handed over */
	mreg_git_oidset seen;	/* of the ids it owns: read as commits or trees */
	mreg_git_oidset looked;	/* and looked up as blobs (an id a tree names both ways is read all the same) */
	mreg_buf obj;
	bool idle;		/* under w->mu: nothing to do, nothing held back */
	pthread_t tid;
} worker;

struct walk {
	const mreg_backup_bundle *bi;
	mreg_odb *odb;
	git_repository *repo;
	worker ws[MREG_MAX_THREADS];
	int n;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_bool done;
	int rc;			/* the first error (under mu), its message in msg */
	char msg[1024];
};

static bool items_push(items *s, const git_oid *id, bool blob)
{
	if (s->n == s->a) {
		size_t a = s->a ? s->a * 2 : 1024;
		item *v = realloc(s->v, a * sizeof(*v));
		if (!v)
			return false;
		s->v = v;
		s->a = a;
	}
	s->v[s->n++] = (item){ *id, blob };
	return true;
}

/* The walk stopped by k's error (the first one kept), the others woken to stop too. */
static int fail(worker *k, int rc)
{
	walk *w = k->w;
	pthread_mutex_lock(&w->mu);
	if (!w->rc) {
		w->rc = rc;
		snprintf(w->msg, sizeof(w->msg), "%s", mreg_error_last());
	}
	atomic_store(&w->done, true);
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return rc;
}

static void hand_over(worker *k, int to)
{
	walk *w = k->w;
	items *o = &k->out[to], *in = &w->ws[to].inbox;
	if (!o->n)
		return;
	pthread_mutex_lock(&w->mu);
	bool ok = true;
	for (size_t i = 0; i < o->n && ok; i++)
		ok = items_push(in, &o->v[i].id, o->v[i].blob);
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	o->n = 0;
	if (!ok)
		fail(k, mreg_error_set(MREG_ERROR, "out of memory"));
}

static int missing(worker *k, const git_oid *id)
{
	char hex[41];
	return mreg_error_set(MREG_ECORRUPT, "corrupt backup '%s': its head is incomplete: object %s is missing",
			      k->w->bi->id, git_oid_tostr(hex, sizeof(hex), id));
}

/* A blob k owns, looked up once. */
static int look_up(worker *k, const git_oid *id)
{
	if (mreg_git_oidset_has(&k->looked, id->id))
		return 0;
	int rc = has_blob(k->w->odb, k->w->repo, id);
	if (rc != 0)
		return rc == 1 ? missing(k, id) : rc;
	return mreg_git_oidset_add(&k->looked, id->id) < 0 ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
}

/* id found in what k read: walked by its owner (k itself, at once for a blob). */
static int found(worker *k, const git_oid *id, bool blob)
{
	int to = id->id[0] % k->w->n;
	if (to == k->me)
		return blob ? look_up(k, id)
			    : items_push(&k->todo, id, false) ? 0 : mreg_error_set(MREG_ERROR, "out of memory");
	if (!items_push(&k->out[to], id, blob))
		return mreg_error_set(MREG_ERROR, "out of memory");
	if (k->out[to].n >= HANDOFF)
		hand_over(k, to);
	return 0;
}

/* A commit or tree k owns, read once, and what it names found. */
static int walk_one(worker *k, const git_oid *id)
{
	const mreg_backup_bundle *bi = k->w->bi;
	git_object_t type;
	git_oid link;
	char hex[41];
	int added = mreg_git_oidset_add(&k->seen, id->id), rc;
	if (added <= 0)
		return added < 0 ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
	if ((rc = read_needed(&k->obj, &type, k->w->odb, k->w->repo, id)) != 0)
		return rc == 1 ? missing(k, id) : rc;
	const char *p = k->obj.ptr, *end = k->obj.ptr + k->obj.size;
	if (type == GIT_OBJECT_COMMIT) {
		int r = mreg_git_commit_tree(&link, p, k->obj.size) ? 1 : -1;
		if (r == 1) {
			p += 46;
			rc = found(k, &link, false);
		}
		while (rc == 0 && r == 1 && (r = mreg_git_commit_next_parent(&link, &p, end)) == 1)
			rc = found(k, &link, false);
		if (rc == 0 && r < 0)
			rc = mreg_error_set(MREG_ECORRUPT, "corrupt backup '%s': commit %s does not parse", bi->id,
					    git_oid_tostr(hex, sizeof(hex), id));
	} else if (type == GIT_OBJECT_TREE) {
		mreg_git_tree_entry e;
		int r;
		/* as libgit2 reads a mode: a directory is a tree, a gitlink a commit elsewhere, anything else a blob */
		while (rc == 0 && (r = mreg_git_tree_next(&e, &p, end)) == 1)
			if ((e.mode & 0170000) != 0160000)
				rc = found(k, &e.id, (e.mode & 0170000) != 0040000);
		if (rc == 0 && r < 0)
			rc = mreg_error_set(MREG_ECORRUPT, "corrupt backup '%s': tree %s does not parse", bi->id,
					    git_oid_tostr(hex, sizeof(hex), id));
	}
	return rc;
}

/*
 * A worker: its own items, then what it holds for the others handed over,
 * then what they handed it; when no worker has anything left (each idle,
 * every inbox empty), the walk is over.
 */
static void *work(void *arg)
{
	worker *k = arg;
	walk *w = k->w;
	for (;;) {
		while (k->todo.n && !atomic_load_explicit(&w->done, memory_order_relaxed)) {
			item it = k->todo.v[--k->todo.n];
			int rc = it.blob ? look_up(k, &it.id) : walk_one(k, &it.id);
			if (rc < 0)
				fail(k, rc);
		}
		for (int to = 0; to < w->n; to++)
			hand_over(k, to);
		pthread_mutex_lock(&w->mu);
		if (!atomic_load(&w->done) && k->inbox.n) {
			items t = k->todo;	/* empty: its room swapped for the inbox's */
			k->todo = k->inbox;
			k->inbox = t;
			pthread_mutex_unlock(&w->mu);
			continue;
		}
		k->idle = true;
		bool over = true;
		for (int i = 0; i < w->n; i++)
			over = over && w->ws[i].idle && !w->ws[i].inbox.n;
		if (over) {
			atomic_store(&w->done, true);
			pthread_cond_broadcast(&w->cv);
		}
		while (!atomic_load(&w->done) && !k->inbox.n)
			pthread_cond_wait(&w->cv, &w->mu);
		k->idle = false;
		bool stop = atomic_load(&w->done);
		pthread_mutex_unlock(&w->mu);
		if (stop)
			break;
	}
	if (w->n > 1)
		mreg_odb_thread_done();
	return NULL;
}

/* Workers 1..n-1 started (worker 0 is the caller): false, none left running, when one would not start. */
static bool start_workers(walk *w)
{
	int i;
	for (i = 1; i < w->n; i++)
		if (pthread_create(&w->ws[i].tid, NULL, work, &w->ws[i]) != 0)
			break;
	if (i == w->n)
		return true;
	atomic_store(&w->done, true);	/* nothing handed out yet: those started stop idle */
	pthread_mutex_lock(&w->mu);
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	while (--i >= 1)
		pthread_join(w->ws[i].tid, NULL);
	return false;
}

/* The walk's workers' memory released. */
static void workers_dispose(walk *w)
{
	for (int i = 0; i < w->n; i++) {
		worker *k = &w->ws[i];
		free(k->todo.v);
		free(k->inbox.v);
		for (int j = 0; j < w->n; j++)
			free(k->out[j].v);
		mreg_git_oidset_dispose(&k->seen);
		mreg_git_oidset_dispose(&k->looked);
		mreg_buf_dispose(&k->obj);
	}
}

/* The walk on up to threads workers (one when others will not start); 0, or the first fault found; *objects. */
static int run_walk(int64_t *objects, mreg_backup_bundle *bi, mreg_odb *odb, git_repository *repo, int threads)
{
	walk w = { .bi = bi, .odb = odb, .repo = repo };
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	for (w.n = threads;; w.n = 1) {
		atomic_init(&w.done, false);
		for (int i = 0; i < w.n; i++) {
			w.ws[i] = (worker){ .w = &w, .me = i };
			/* about its share of the objects, most of them blobs: made that large at once (no memory: they grow) */
			size_t share = mreg_odb_count(odb) / (size_t)w.n + 1;
			if (mreg_git_oidset_reserve(&w.ws[i].looked, share) < 0 ||
			    mreg_git_oidset_reserve(&w.ws[i].seen, share / 2) < 0)
				mreg_error_clear();
		}
		if (w.n == 1 || start_workers(&w))
			break;
		workers_dispose(&w);
	}
	pthread_mutex_lock(&w.mu);
	if (!items_push(&w.ws[bi->head.id[0] % w.n].inbox, &bi->head, false)) {
		w.rc = mreg_error_set(MREG_ERROR, "out of memory");
		snprintf(w.msg, sizeof(w.msg), "%s", mreg_error_last());
		atomic_store(&w.done, true);
	}
	pthread_cond_broadcast(&w.cv);
	pthread_mutex_unlock(&w.mu);
	work(&w.ws[0]);
	for (int i = 1; i < w.n; i++)	/* every worker stopped before any of their items go */
		pthread_join(w.ws[i].tid, NULL);
	*objects = 0;
	for (int i = 0; i < w.n; i++)	/* an id read as a tree and looked up as a blob counts once */
		*objects += (int64_t)(w.ws[i].seen.n + mreg_git_oidset_count_not_in(&w.ws[i].looked, &w.ws[i].seen));
	workers_dispose(&w);
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	return w.rc ? mreg_error_set(w.rc, "%s", w.msg) : 0;
}

int mreg_backup_check_complete(mreg_backup_bundle *bi, mreg_odb *odb, git_repository *repo)
{
	/* every pack open, large indexes with their radix; one that will not open: the reads that need it say so */
	if (mreg_odb_ready(odb) < 0)
		mreg_error_clear();
	/* libgit2's view (repo) is read by one thread */
	int threads = !repo && mreg_threads() > 1 ? mreg_threads() : 1, rc;
	int64_t objects;
	rc = run_walk(&objects, bi, odb, repo, threads);
	/* which fault several threads meet first is chance: walked again on one, the message names the same one each time */
	if (rc == MREG_ECORRUPT && threads > 1)
		rc = run_walk(&objects, bi, odb, repo, 1);
	bi->objects = objects;
	if (rc == 0)
		bi->events = count_events(odb, &bi->head);
	return rc;
}

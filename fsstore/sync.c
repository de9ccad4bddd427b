/*
 * mreg sync: a node's registry joined with its remotes' by git fetch and
 * merge, then the fold (DESIGN sections 3 and 6).
 *
 * One round: a backup first (unless the newest already holds HEAD), then
 * for each remote whose circuit breaker allows a try:
 *
 *   1. fetch its branch (remote.c): objects only, no ref moves;
 *   2. check what came (incoming.c) before anything local changes: new
 *      commits may only add valid events and model files; a history that
 *      no longer holds what we fetched from it before (rewritten), or one
 *      unrelated to ours, is refused as a whole; large files the new
 *      history names are fetched with git-lfs and checked by hash;
 *   3. under the writer lock: a fast-forward when we have nothing of our
 *      own, else a merge commit whose tree is the union of both (merge.c),
 *      the branch moved by compare-and-swap (txn.c);
 *   4. the fold of the new events, state files, work tree and index
 *      (cache.c); what was renumbered and what became a conflict, reported;
 *   5. with push, the merged branch sent back (large files first).
 *
 * A registry with no events adopts a remote's history, unrelated or not.
 * A failure at any step before 3 leaves the registry as it was (fetched
 * objects no ref names are garbage for gc) and counts against the
 * remote's breaker; each remote's record lives in .git/mreg/sync.json,
 * written under the writer lock, so the breakers survive restarts and
 * `mreg sync status` can say what happened.
 */
#define _GNU_SOURCE
#include "internal.h"
#include "../core/breaker.h"
#include "../core/jsonw.h"
#include "backup/backup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

/* ---- each remote's record: .git/mreg/sync.json ------------------------- */

typedef struct {
	char *name;
	char *url;
	char last_try[MREG_TIME_LEN + 1], last_success[MREG_TIME_LEN + 1], last_error_at[MREG_TIME_LEN + 1];
	char *last_error;
	int64_t failures;	/* consecutive */
	int64_t received;	/* events received from it, all rounds */
	int64_t last_received;	/* in its last successful round */
	mreg_breaker breaker;
} remote_rec;

typedef struct {
	remote_rec *r;
	size_t n;
	char round_started[MREG_TIME_LEN + 1], round_finished[MREG_TIME_LEN + 1];
	cJSON *last_round;	/* the last round's summary, as reported */
} sync_book;

static void book_dispose(sync_book *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->r[i].name);
		free(b->r[i].url);
		free(b->r[i].last_error);
	}
	free(b->r);
	cJSON_Delete(b->last_round);
	memset(b, 0, sizeof(*b));
}

static void copy_time(char out[MREG_TIME_LEN + 1], const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	snprintf(out, MREG_TIME_LEN + 1, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static int64_t get_int(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) && v->valuedouble >= 0 ? (int64_t)v->valuedouble : 0;
}

static char *get_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? mreg_strdup(v->valuestring) : NULL;
}

static char *book_path(mreg_registry *reg)
{
	return mreg_strfmt("%ssync.json", reg->mregdir);
}

/* The record as it was written; a damaged one is started afresh (it is only a record). */
static int book_load(sync_book *b, mreg_registry *reg)
{
	mreg_buf buf = MREG_BUF_INIT;
	char *path = book_path(reg);
	memset(b, 0, sizeof(*b));
	if (!path)
		return mreg_error_set(MREG_ERROR, "out of memory");
	int rc = mreg_fs_read(&buf, path, 16 << 20);
	free(path);
	if (rc < 0) {
		mreg_error_clear();
		return 0;
	}
	cJSON *doc = cJSON_ParseWithLength(buf.ptr, buf.size);
	mreg_buf_dispose(&buf);
	const cJSON *remotes = cJSON_GetObjectItemCaseSensitive(doc, "remotes"), *o;
	b->last_round = cJSON_DetachItemFromObjectCaseSensitive(doc, "last_round");
	size_t n = (size_t)cJSON_GetArraySize(remotes);
	if (n && !(b->r = calloc(n, sizeof(*b->r)))) {
		cJSON_Delete(doc);
		return mreg_error_set(MREG_ERROR, "out of memory");
	}
	cJSON_ArrayForEach(o, remotes) {
		if (!cJSON_IsObject(o) || !o->string)
			continue;
		remote_rec *r = &b->r[b->n++];
		r->name = mreg_strdup(o->string);
		r->url = get_str(o, "url");
		r->last_error = get_str(o, "last_error");
		copy_time(r->last_try, o, "last_try");
		copy_time(r->last_success, o, "last_success");
		copy_time(r->last_error_at, o, "last_error_at");
		r->failures = get_int(o, "consecutive_failures");
		r->received = get_int(o, "events_received");
		r->last_received = get_int(o, "last_events_received");
		if (mreg_breaker_read(&r->breaker, cJSON_GetObjectItemCaseSensitive(o, "breaker")) < 0) {
			mreg_error_clear();
			r->breaker = (mreg_breaker)MREG_BREAKER_INIT;
		}
	}
	cJSON_Delete(doc);
	return 0;
}

static void put_time(mreg_jsonw *w, const char *key, const char *t)
{
	mreg_jsonw_str(w, key, t[0] ? t : NULL);
}

static void book_write_remote(mreg_jsonw *w, const remote_rec *r, bool with_name)
{
	mreg_jsonw_obj_begin(w, with_name ? NULL : r->name);
	if (with_name)
		mreg_jsonw_str(w, "name", r->name);
	mreg_jsonw_str(w, "url", r->url);
	put_time(w, "last_try", r->last_try);
	put_time(w, "last_success", r->last_success);
	mreg_jsonw_str(w, "last_error", r->last_error);
	put_time(w, "last_error_at", r->last_error_at);
	mreg_jsonw_int(w, "consecutive_failures", r->failures);
	mreg_jsonw_int(w, "events_received", r->received);
	mreg_jsonw_int(w, "last_events_received", r->last_received);
	mreg_jsonw_obj_begin(w, "breaker");
	mreg_breaker_write(w, &r->breaker);
	mreg_jsonw_obj_end(w);
	mreg_jsonw_obj_end(w);
}

/* Written atomically, under the writer lock (taken here: locks nest). */
static int book_save(sync_book *b, mreg_registry *reg)
{
	mreg_buf out = MREG_BUF_INIT;
	mreg_jsonw w;
	char *path = book_path(reg);
	int rc;
	if (!path)
		return mreg_error_set(MREG_ERROR, "out of memory");
	mreg_jsonw_init(&w, &out);
	mreg_jsonw_obj_begin(&w, NULL);
	mreg_jsonw_value(&w, "last_round", b->last_round);
	mreg_jsonw_obj_begin(&w, "remotes");
	for (size_t i = 0; i < b->n; i++)
		book_write_remote(&w, &b->r[i], false);
	mreg_jsonw_obj_end(&w);
	mreg_jsonw_obj_end(&w);
	if ((rc = mreg_jsonw_finish(&w)) == 0 && (rc = mreg_lock_take(reg)) == 0) {
		rc = mreg_fs_write_atomic(path, out.ptr, out.size, reg->fsync);
		mreg_lock_release(reg);
	}
	free(path);
	mreg_buf_dispose(&out);
	return rc;
}

static remote_rec *book_find(sync_book *b, const char *name, bool add)
{
	for (size_t i = 0; i < b->n; i++)
		if (!strcmp(b->r[i].name, name))
			return &b->r[i];
	if (!add)
		return NULL;
	remote_rec *more = realloc(b->r, (b->n + 1) * sizeof(*more));
	if (!more)
		return NULL;
	b->r = more;
	remote_rec *r = &b->r[b->n];
	memset(r, 0, sizeof(*r));
	if (!(r->name = mreg_strdup(name)))
		return NULL;
	r->breaker = (mreg_breaker)MREG_BREAKER_INIT;
	b->n++;
	return r;
}

void mreg_sync_forget(mreg_registry *reg, const char *name)
{
	sync_book b;
	if (book_load(&b, reg) == 0) {
		for (size_t i = 0; i < b.n; i++)
			if (!strcmp(b.r[i].name, name)) {
				free(b.r[i].name);
				free(b.r[i].url);
				free(b.r[i].last_error);
				b.r[i] = b.r[--b.n];
				book_save(&b, reg);
				break;
			}
	}
	book_dispose(&b);
	mreg_error_clear();
}

/* ---- settings from git config ----------------------------------------- */


typedef struct {
	mreg_breaker_config breaker;
	bool push;
	mreg_clone_files files;
} sync_settings;

static int settings_read(sync_settings *s, mreg_registry *reg)
{
	git_config *cfg = NULL;
	git_buf v = GIT_BUF_INIT;
	int rc = 0, b;
	*s = (sync_settings){ MREG_BREAKER_CONFIG_INIT, false, MREG_CLONE_FILES_ALL };
	if (git_repository_config_snapshot(&cfg, reg->repo) < 0)
		return mreg_libgit2_error("cannot read the git config of", reg->path);
	static const char *const keys[] = { "mreg.breaker.failureThreshold", "mreg.breaker.recoveryTimeout",
					     "mreg.breaker.maxBackoff", "mreg.breaker.halfOpenMaxCalls", "mreg.breaker.jitter" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys) && rc == 0; i++) {
		git_buf_dispose(&v);
		if (git_config_get_string_buf(&v, cfg, keys[i]) < 0)
			continue;
		char *end;
		double d = strtod(v.ptr, &end);
		if (end == v.ptr || *end) {
			rc = mreg_error_set(MREG_EINVALID, "invalid git config %s '%s': not a number", keys[i], v.ptr);
			break;
		}
		switch (i) {
		case 0: s->breaker.failure_threshold = (int)d; break;
		case 1: s->breaker.recovery_seconds = d; break;
		case 2: s->breaker.max_backoff_seconds = d; break;
		case 3: s->breaker.half_open_max_calls = (int)d; break;
		default: s->breaker.jitter = d; break;
		}
	}
	if (rc == 0)
		rc = mreg_breaker_config_check(&s->breaker);
	if (rc == 0 && git_config_get_bool(&b, cfg, "mreg.syncPush") == 0)
		s->push = b;
	git_buf_dispose(&v);
	if (rc == 0 && git_config_get_string_buf(&v, cfg, "mreg.syncFiles") == 0) {
		if (!strcmp(v.ptr, "all"))
			s->files = MREG_CLONE_FILES_ALL;
		else if (!strcmp(v.ptr, "serving"))
			s->files = MREG_CLONE_FILES_SERVING;
		else if (!strcmp(v.ptr, "none"))
			s->files = MREG_CLONE_FILES_NONE;
		else
			rc = mreg_error_set(MREG_EINVALID, "invalid git config mreg.syncFiles '%s': all, serving or none", v.ptr);
	}
	git_error_clear();
	git_buf_dispose(&v);
	git_config_free(cfg);
	return rc;
}

/* ---- one remote -------------------------------------------------------- */

typedef struct {
	mreg_registry *reg;
	const sync_settings *set;
	const mreg_sync_opts *o;
	const char *name;
	char branch[256];	/* refs/heads/... */
	char problem[700];	/* the first problem incoming.c found */
	/* what happened, for the report */
	const char *result;
	int64_t received, sent;
	size_t commits;
	bool merged, fast_forward, adopted;
	char head[41];
	cJSON *missing;		/* large files not here */
	char warning[700];
	cJSON *models;
	cJSON *round_models;	/* the round's: models whose versions were seen before any change */
	cJSON *ren_before;	/* their versions renumbered then */
} one_sync;

static void first_problem(const char *commit, const char *path, const char *problem, void *payload)
{
	one_sync *s = payload;
	if (s->problem[0])
		return;
	if (*path)
		snprintf(s->problem, sizeof(s->problem), "commit %.12s: '%s' %s", commit, path, problem);
	else
		snprintf(s->problem, sizeof(s->problem), "commit %.12s: %s", commit, problem);
}

/* Events in the commits reachable from from and not from hide (their Mreg-Event / Mreg-Events trailers). */
static int64_t events_between(mreg_registry *reg, const git_oid *from, const git_oid *hide)
{
	git_revwalk *w = NULL;
	git_oid id;
	int64_t n = 0;
	if (git_revwalk_new(&w, reg->repo) < 0 || git_revwalk_push(w, from) < 0 || (hide && git_revwalk_hide(w, hide) < 0)) {
		git_revwalk_free(w);
		git_error_clear();
		return 0;
	}
	while (git_revwalk_next(&id, w) == 0) {
		git_commit *c = NULL;
		if (git_commit_lookup(&c, reg->repo, &id) < 0)
			break;
		const char *msg = git_commit_message(c), *t;
		if (git_commit_parentcount(c) <= 1) {
			if ((t = strstr(msg, "\nMreg-Events: ")))
				n += strtoll(t + 14, NULL, 10);
			else if (strstr(msg, "\nMreg-Event: "))
				n++;
		}
		git_commit_free(c);
	}
	git_revwalk_free(w);
	git_error_clear();
	return n;
}

static bool has_events(mreg_registry *reg, const git_oid *tree)
{
	git_oid e;
	unsigned mode;
	return mreg_tree_path(&e, &mode, reg, tree, "events") == 0;
}

/* The large files the new history names that are not here, fetched with git-lfs and checked. */
static int fetch_large(one_sync *s, const mreg_incoming *in, const git_oid *tip)
{
	char **paths = NULL;
	size_t n = 0;
	int rc = 0;
	if (s->set->files == MREG_CLONE_FILES_NONE || !in->nlarge)
		return 0;
	if (!(paths = calloc(in->nlarge, sizeof(*paths))))
		return mreg_error_set(MREG_ERROR, "out of memory");
	for (size_t i = 0; i < in->nlarge; i++) {
		char xxh[33];
		const char *base = strrchr(in->large[i].path, '/') + 1;
		snprintf(xxh, sizeof(xxh), "%.32s", base);
		if (mreg_lfs_check(s->reg, &in->large[i].ptr, xxh) < 0)
			paths[n++] = in->large[i].path;
		mreg_error_clear();
	}
	if (n) {
		char hex[41];
		git_oid_tostr(hex, sizeof(hex), tip);
		char why[600] = "";
		if (mreg_remote_lfs(s->reg, "fetch", s->name, hex, paths, n) < 0)
			snprintf(why, sizeof(why), "%s", mreg_error_last());
		mreg_error_clear();
		for (size_t i = 0; i < n; i++) {
			const mreg_incoming_large *l = NULL;
			for (size_t k = 0; k < in->nlarge && !l; k++)
				if (in->large[k].path == paths[i])
					l = &in->large[k];
			char xxh[33];
			snprintf(xxh, sizeof(xxh), "%.32s", strrchr(paths[i], '/') + 1);
			if (mreg_lfs_check(s->reg, &l->ptr, xxh) < 0) {
				cJSON *m = cJSON_CreateObject();
				cJSON_AddStringToObject(m, "path", paths[i]);
				cJSON_AddStringToObject(m, "problem", why[0] ? why : mreg_error_last());
				cJSON_AddItemToArray(s->missing, m);
			}
			mreg_error_clear();
		}
	}
	free(paths);
	return rc;
}

/* The remote-tracking ref, as git fetch would leave it. */
static void track(one_sync *s, const git_oid *to)
{
	char *ref = mreg_strfmt("refs/remotes/%s/%s", s->name, s->branch + 11);
	git_reference *r = NULL;
	if (ref && git_reference_create(&r, s->reg->repo, ref, to, 1, "mreg sync") < 0)
		git_error_clear();
	git_reference_free(r);
	free(ref);
}

static bool tracked(git_oid *out, one_sync *s)
{
	char *ref = mreg_strfmt("refs/remotes/%s/%s", s->name, s->branch + 11);
	bool ok = ref && git_reference_name_to_id(out, s->reg->repo, ref) == 0;
	git_error_clear();
	free(ref);
	return ok;
}

/* Steps 3 and 4: the branch moved to tip, or to a merge with it; the fold follows. */
static int land(one_sync *s, const git_oid *tip, size_t nevents)
{
	mreg_registry *reg = s->reg;
	git_oid head, tree, commit;
	int rc;
	if ((rc = mreg_lock_take(reg)) < 0)
		return rc;
	if ((rc = mreg_head_read(&head, &tree, reg)) < 0 && rc != MREG_ENOTFOUND)
		goto done;
	if (git_oid_equal(&head, tip) || git_graph_descendant_of(reg->repo, &head, tip) == 1) {
		rc = 0;	/* what we fetched is here already */
		goto done;
	}
	if (s->adopted || git_graph_descendant_of(reg->repo, tip, &head) == 1) {
		char why[300];
		snprintf(why, sizeof(why), "sync: fast-forward to %s", s->name);
		rc = mreg_txn_reset_branch(reg, tip, &head, why);
		s->fast_forward = true;
	} else {
		char *msg = mreg_strfmt("sync: merge %s (%zu events)\n\nMreg-Type: merge\n", s->name, nevents);
		char *summary = mreg_strfmt("sync: merge %s (%zu events)", s->name, nevents);
		rc = msg && summary ? mreg_merge_commit(&commit, &tree, reg, &head, tip, msg)
				    : mreg_error_set(MREG_ERROR, "out of memory");
		if (rc == 0)
			rc = mreg_txn_land_batch(reg, &commit, &tree, &head, summary);
		free(msg);
		free(summary);
		s->merged = rc == 0;
	}
	if (rc == 0)
		rc = mreg_cache_check_large(reg);
done:
	mreg_lock_release(reg);
	return rc;
}

/* Whether this node keeps any large file (else git-lfs need not run to push). */
static bool has_large_files(mreg_registry *reg)
{
	char *dir = mreg_strfmt("%slfs/objects", reg->gitdir);
	struct stat sb;
	bool any = dir && stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) && sb.st_nlink > 2;
	free(dir);
	return any;
}

static void renumbered(cJSON *into, mreg_registry *reg, const char *model);

/* What the models about to change had renumbered before, once per model and round. */
static void note_before(one_sync *s, const mreg_incoming *in)
{
	for (size_t i = 0; i < in->nmodels; i++) {
		bool seen = false;
		const cJSON *x;
		cJSON_ArrayForEach(x, s->round_models) if (!strcmp(x->valuestring, in->models[i])) seen = true;
		if (seen)
			continue;
		cJSON_AddItemToArray(s->round_models, cJSON_CreateString(in->models[i]));
		renumbered(s->ren_before, s->reg, in->models[i]);
	}
}

static int sync_one(one_sync *s)
{
	mreg_registry *reg = s->reg;
	mreg_incoming in;
	git_oid tip, head, head_tree, before;
	char *url = NULL;
	int rc;

	memset(&in, 0, sizeof(in));
	rc = mreg_remote_fetch(&tip, &url, reg, s->name, s->branch);
	free(url);
	if (rc < 0)
		return rc;
	bool remote_empty = rc == 1;
	if ((rc = mreg_head_read(&head, &head_tree, reg)) < 0)
		return rc;
	if (!remote_empty) {
		if (tracked(&before, s) && !git_oid_equal(&before, &tip) && git_graph_descendant_of(reg->repo, &tip, &before) != 1)
			return mreg_error_set(MREG_ECONFLICT, "cannot sync '%s': its history was rewritten (it no longer holds "
					      "commit %.12s, which it had before); nothing was changed", s->name,
					      git_oid_tostr_s(&before));
		bool have = git_oid_equal(&head, &tip) || git_graph_descendant_of(reg->repo, &head, &tip) == 1;
		git_error_clear();
		if (!have) {
			git_oid base;
			bool related = git_merge_base(&base, reg->repo, &head, &tip) == 0;
			git_error_clear();
			s->adopted = !related && !has_events(reg, &head_tree);
			if (!related && !s->adopted)
				return mreg_error_set(MREG_EINVALID, "cannot sync '%s': its history is unrelated to this "
						      "registry's; nothing was changed", s->name);
			rc = mreg_incoming_check(&in, reg, &tip, &head, s->adopted ? 0 : 1, first_problem, s);
			if (rc == MREG_EINVALID)
				rc = mreg_error_set(MREG_EINVALID, "cannot sync '%s': %s; nothing was changed", s->name,
						    s->problem);
			if (rc == 0)
				rc = fetch_large(s, &in, &tip);
			if (rc == 0)
				note_before(s, &in);
			for (size_t i = 0; rc == 0 && i < in.nmodels; i++)
				cJSON_AddItemToArray(s->models, cJSON_CreateString(in.models[i]));
			s->received = (int64_t)in.events;
			s->commits = in.commits;
			if (rc == 0 && !s->o->dry_run)
				rc = land(s, &tip, in.events);
			mreg_incoming_dispose(&in);
			if (rc < 0)
				return rc;
		}
		if (!s->o->dry_run)
			track(s, &tip);
	}
	if ((rc = mreg_head_read(&head, &head_tree, reg)) < 0)
		return rc;
	git_oid_tostr(s->head, sizeof(s->head), &head);
	bool push = (s->o->push || s->set->push) && !s->o->dry_run;
	if (push && (remote_empty || !git_oid_equal(&head, &tip))) {
		s->sent = events_between(reg, &head, remote_empty ? NULL : &tip);
		if (has_large_files(reg) && mreg_remote_lfs(reg, "push", s->name, s->branch + 11, NULL, 0) < 0) {
			/* a remote without LFS: the branch still goes; its large files are "not here" there */
			snprintf(s->warning, sizeof(s->warning), "large files not sent: %s", mreg_error_last());
			mreg_error_clear();
		}
		if ((rc = mreg_remote_push(reg, s->name, s->branch, remote_empty ? NULL : &tip)) < 0)
			return rc;
		track(s, &head);
	}
	return 0;
}

/* ---- what a round changed ---------------------------------------------- */

/* Each version of model whose number is not the one its writer claimed, as {model_id, version, claimed, ref}. */
static void renumbered(cJSON *into, mreg_registry *reg, const char *model)
{
	mreg_state *st = NULL;
	if (mreg_read_model(&st, reg, model, -1) == 0) {
		const mreg_model *m = mreg_state_model(st, model);
		for (int i = 0; m && i < m->nversions; i++) {
			const mreg_version *v = &m->versions[i];
			if (v->version == v->claimed)
				continue;
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "model_id", model);
			cJSON_AddNumberToObject(o, "version", v->version);
			cJSON_AddNumberToObject(o, "claimed", v->claimed);
			cJSON_AddStringToObject(o, "ref", v->ref);
			cJSON_AddItemToArray(into, o);
		}
	}
	mreg_state_free(st);
	mreg_cache_release_maps(reg);
	mreg_error_clear();
}

/* The conflicts the state records, as {event, type, model_id, version, message, actor}. */
static cJSON *conflicts(mreg_registry *reg)
{
	mreg_state *st = NULL;
	cJSON *arr = cJSON_CreateArray();
	if (mreg_read_state(&st, reg, NULL, false) == 0) {
		for (size_t i = 0; i < st->nconflicts; i++) {
			const mreg_conflict *c = &st->conflicts[i];
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "event", c->event);
			cJSON_AddStringToObject(o, "type", c->type ? c->type : "");
			cJSON_AddStringToObject(o, "model_id", c->model ? c->model : "");
			cJSON_AddNumberToObject(o, "version", c->version);
			cJSON_AddStringToObject(o, "message", c->message ? c->message : "");
			cJSON_AddStringToObject(o, "actor", c->actor ? c->actor : "");
			cJSON_AddItemToArray(arr, o);
		}
	}
	mreg_state_free(st);
	mreg_cache_release_maps(reg);
	mreg_error_clear();
	return arr;
}

/* The members of after whose key (a string member) no member of before has: what is new. */
static cJSON *added_items(const cJSON *before, const cJSON *after, const char *key)
{
	cJSON *out = cJSON_CreateArray(), *a;
	cJSON_ArrayForEach(a, after) {
		const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, key));
		bool seen = false;
		const cJSON *b;
		cJSON_ArrayForEach(b, before) {
			const char *kb = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, key));
			if (k && kb && !strcmp(k, kb)) {
				seen = true;
				break;
			}
		}
		if (!seen)
			cJSON_AddItemToArray(out, cJSON_Duplicate(a, true));
	}
	return out;
}

/* ---- the round ---------------------------------------------------------- */

static double draw(void)
{
	unsigned int r = 0;
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (unsigned int)mreg_fs_now_usec();
	return (double)r / 4294967296.0;
}

static void add_time(cJSON *o, const char *key, const char *t)
{
	if (t[0])
		cJSON_AddStringToObject(o, key, t);
	else
		cJSON_AddNullToObject(o, key);
}

static cJSON *remote_item(const one_sync *s, const remote_rec *r, const mreg_breaker_config *bc, const char *error)
{
	cJSON *o = cJSON_CreateObject();
	char t[MREG_TIME_LEN + 1];
	cJSON_AddStringToObject(o, "name", s->name);
	if (r->url)
		cJSON_AddStringToObject(o, "url", r->url);
	else
		cJSON_AddNullToObject(o, "url");
	cJSON_AddStringToObject(o, "result", s->result);
	if (error)
		cJSON_AddStringToObject(o, "error", error);
	else
		cJSON_AddNullToObject(o, "error");
	cJSON_AddNumberToObject(o, "events_received", (double)s->received);
	cJSON_AddNumberToObject(o, "events_sent", (double)s->sent);
	cJSON_AddNumberToObject(o, "commits_received", (double)s->commits);
	cJSON_AddStringToObject(o, "how", s->adopted ? "adopted" : s->fast_forward ? "fast-forward" : s->merged ? "merge" : "none");
	add_time(o, "head", s->head);
	cJSON_AddItemToObject(o, "files_not_here", cJSON_Duplicate(s->missing, true));
	if (s->warning[0])
		cJSON_AddStringToObject(o, "warning", s->warning);
	cJSON_AddStringToObject(o, "breaker", mreg_breaker_state_name(r->breaker.state));
	cJSON_AddNumberToObject(o, "consecutive_failures", (double)r->failures);
	t[0] = '\0';
	if (r->breaker.state == MREG_BREAKER_OPEN)
		mreg_time_format(t, r->breaker.open_until);
	add_time(o, "next_try", t);
	(void)bc;
	return o;
}

/* The remotes named, or every remote of git config. */
static int remote_names(git_strarray *out, mreg_registry *reg, const mreg_sync_opts *o)
{
	if (!o->nremotes) {
		int rc = mreg_remote_names(out, reg);
		if (rc == 0 && !out->count)
			rc = mreg_error_set(MREG_ENOTFOUND, "'%s' has no remotes (see mreg remote add)", reg->path);
		return rc;
	}
	out->strings = calloc(o->nremotes, sizeof(char *));
	if (!out->strings)
		return mreg_error_set(MREG_ERROR, "out of memory");
	for (size_t i = 0; i < o->nremotes; i++) {
		git_remote *r = NULL;
		if (git_remote_lookup(&r, reg->repo, o->remotes[i]) < 0) {
			git_error_clear();
			return mreg_error_set(MREG_ENOTFOUND, "no remote '%s' (see mreg remote list)", o->remotes[i]);
		}
		git_remote_free(r);
		out->strings[out->count++] = mreg_strdup(o->remotes[i]);
	}
	return 0;
}

/* The pre-sync backup, unless the newest backup holds HEAD already; then retention. */
static int pre_sync_backup(cJSON *report, mreg_registry *reg)
{
	cJSON *all = NULL, *meta = NULL;
	git_oid head, tree;
	char hex[41] = "";
	int rc;
	if ((rc = mreg_head_read(&head, &tree, reg)) == 0)
		git_oid_tostr(hex, sizeof(hex), &head);
	if ((rc = mreg_backup_list(&all, reg)) < 0)
		return rc;
	const char *newest = mreg_backup_meta_str(cJSON_GetArrayItem(all, 0), "head");
	if (newest && !strcmp(newest, hex)) {
		cJSON_AddStringToObject(report, "backup", mreg_backup_meta_str(cJSON_GetArrayItem(all, 0), "id"));
	} else if ((rc = mreg_backup_create(&meta, reg, "pre_sync")) == 0) {
		size_t removed = 0;
		cJSON_AddStringToObject(report, "backup", mreg_backup_meta_str(meta, "id"));
		if (mreg_backup_prune(&removed, reg, 0) < 0)
			mreg_error_clear();	/* retention is housekeeping: the sync goes on */
	}
	cJSON_Delete(all);
	cJSON_Delete(meta);
	return rc;
}

int mreg_sync(cJSON **out, mreg_registry *reg, const mreg_sync_opts *o)
{
	sync_settings set;
	sync_book book;
	git_strarray names = { NULL, 0 };
	cJSON *report = NULL, *items, *models, *ren = NULL, *conf_before = NULL, *round_models = NULL;
	char branch[256];
	int64_t received = 0, sent = 0, synced = 0, failed = 0;
	int rc;

	*out = NULL;
	memset(&book, 0, sizeof(book));
	if ((rc = mreg_registry_need_git(reg)) < 0 || (rc = settings_read(&set, reg)) < 0 ||
	    (rc = remote_names(&names, reg, o)) < 0)
		goto done;
	if (o->files >= 0)
		set.files = (mreg_clone_files)o->files;
	if (!mreg_head_on_branch(reg) || strncmp(mreg_head_branch(reg, branch, sizeof(branch)), "refs/heads/", 11)) {
		rc = mreg_error_set(MREG_EINVALID, "cannot sync '%s': HEAD is not on a branch", reg->path);
		goto done;
	}
	if ((rc = mreg_lock_take(reg)) < 0)
		goto done;
	rc = mreg_cache_ensure(reg);
	mreg_lock_release(reg);
	if (rc < 0 || (rc = book_load(&book, reg)) < 0)
		goto done;
	report = cJSON_CreateObject();
	mreg_time_format(book.round_started, mreg_fs_now_usec());
	cJSON_AddStringToObject(report, "started", book.round_started);
	cJSON_AddBoolToObject(report, "dry_run", o->dry_run);
	if (!o->no_backup && !o->dry_run && (rc = pre_sync_backup(report, reg)) < 0)
		goto done;
	if (!cJSON_HasObjectItem(report, "backup"))
		cJSON_AddNullToObject(report, "backup");
	items = cJSON_AddArrayToObject(report, "remotes");
	models = cJSON_CreateArray();
	ren = cJSON_CreateArray();
	round_models = cJSON_CreateArray();
	conf_before = conflicts(reg);
	for (size_t i = 0; i < names.count; i++) {
		one_sync s;
		memset(&s, 0, sizeof(s));
		s.reg = reg;
		s.set = &set;
		s.o = o;
		s.name = names.strings[i];
		snprintf(s.branch, sizeof(s.branch), "%s", branch);
		s.missing = cJSON_CreateArray();
		s.models = cJSON_CreateArray();
		s.round_models = round_models;
		s.ren_before = ren;
		remote_rec *r = book_find(&book, s.name, true);
		if (!r) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
			cJSON_Delete(s.missing);
			cJSON_Delete(s.models);
			goto done;
		}
		git_remote *gr = NULL;
		if (git_remote_lookup(&gr, reg->repo, s.name) == 0 && git_remote_url(gr)) {
			free(r->url);
			r->url = mreg_strdup(git_remote_url(gr));
		}
		git_remote_free(gr);
		git_error_clear();
		int64_t now = mreg_fs_now_usec();
		char *error = NULL;
		if (!o->dry_run && !mreg_breaker_allow(&r->breaker, &set.breaker, now)) {
			s.result = "skipped";
			char until[MREG_TIME_LEN + 1];
			mreg_time_format(until, r->breaker.open_until);
			error = mreg_strfmt("circuit open after %lld failures; next try after %s", (long long)r->failures, until);
			failed++;
		} else {
			if (!o->dry_run)
				book_save(&book, reg);	/* a half-open try is counted even if this process dies */
			int one = sync_one(&s);
			now = mreg_fs_now_usec();
			if (one == 0) {
				s.result = "ok";
				synced++;
				received += s.received;
				sent += s.sent;
				if (!o->dry_run) {
					mreg_breaker_success(&r->breaker);
					r->failures = 0;
					mreg_time_format(r->last_success, now);
					r->received += s.received;
					r->last_received = s.received;
				}
			} else {
				s.result = "failed";
				failed++;
				error = mreg_strdup(mreg_error_last());
				mreg_error_clear();
				if (!o->dry_run) {
					mreg_breaker_failure(&r->breaker, &set.breaker, now, draw());
					r->failures++;
					free(r->last_error);
					r->last_error = mreg_strdup(error);
					mreg_time_format(r->last_error_at, now);
				}
			}
			mreg_time_format(r->last_try, now);
			if (!o->dry_run)
				book_save(&book, reg);
		}
		cJSON *m;
		cJSON_ArrayForEach(m, s.models) {
			bool seen = false;
			const cJSON *x;
			cJSON_ArrayForEach(x, models) if (!strcmp(x->valuestring, m->valuestring)) seen = true;
			if (!seen)
				cJSON_AddItemToArray(models, cJSON_CreateString(m->valuestring));
		}
		cJSON_AddItemToArray(items, remote_item(&s, r, &set.breaker, error));
		free(error);
		cJSON_Delete(s.missing);
		cJSON_Delete(s.models);
	}
	/* what the round changed: versions renumbered and promotions that became conflicts */
	cJSON *ren_after = cJSON_CreateArray(), *m;
	cJSON_ArrayForEach(m, models) renumbered(ren_after, reg, m->valuestring);
	cJSON *conf_after = conflicts(reg);
	cJSON_AddNumberToObject(report, "nodes_synced", (double)synced);
	cJSON_AddNumberToObject(report, "nodes_failed", (double)failed);
	cJSON_AddNumberToObject(report, "events_received", (double)received);
	cJSON_AddNumberToObject(report, "events_sent", (double)sent);
	cJSON_AddItemToObject(report, "models_changed", models);
	cJSON_AddItemToObject(report, "versions_renumbered", added_items(ren, ren_after, "ref"));
	cJSON_Delete(ren_after);
	cJSON_AddItemToObject(report, "conflicts", added_items(conf_before, conf_after, "event"));
	cJSON_Delete(conf_after);
	git_oid head, tree;
	char hex[41] = "";
	if (mreg_head_read(&head, &tree, reg) == 0)
		git_oid_tostr(hex, sizeof(hex), &head);
	cJSON_AddStringToObject(report, "head", hex);
	mreg_time_format(book.round_finished, mreg_fs_now_usec());
	cJSON_AddStringToObject(report, "finished", book.round_finished);
	cJSON_AddBoolToObject(report, "ok", failed == 0);
	if (!o->dry_run) {
		cJSON_Delete(book.last_round);
		book.last_round = cJSON_CreateObject();
		cJSON_AddStringToObject(book.last_round, "started", book.round_started);
		cJSON_AddStringToObject(book.last_round, "finished", book.round_finished);
		cJSON_AddNumberToObject(book.last_round, "nodes_synced", (double)synced);
		cJSON_AddNumberToObject(book.last_round, "nodes_failed", (double)failed);
		cJSON_AddNumberToObject(book.last_round, "events_received", (double)received);
		cJSON_AddNumberToObject(book.last_round, "events_sent", (double)sent);
		if ((rc = book_save(&book, reg)) < 0)
			goto done;
	}
	*out = report;
	report = NULL;
	rc = 0;
done:
	cJSON_Delete(report);
	cJSON_Delete(ren);
	cJSON_Delete(round_models);
	cJSON_Delete(conf_before);
	book_dispose(&book);
	git_strarray_dispose(&names);
	return rc;
}

/* ---- status ------------------------------------------------------------ */

int mreg_sync_status(cJSON **out, mreg_registry *reg)
{
	sync_book book;
	git_strarray names = { NULL, 0 };
	mreg_state *st = NULL;
	int rc;
	*out = NULL;
	if ((rc = mreg_registry_need_git(reg)) < 0 || (rc = mreg_remote_names(&names, reg)) < 0 ||
	    (rc = book_load(&book, reg)) < 0)
		goto done;
	if ((rc = mreg_read_state(&st, reg, NULL, false)) < 0)
		goto done;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "last_round", book.last_round ? cJSON_Duplicate(book.last_round, true) : cJSON_CreateNull());
	cJSON_AddNumberToObject(o, "models", (double)st->nmodels);
	cJSON_AddNumberToObject(o, "versions", (double)st->nversions);
	cJSON_AddNumberToObject(o, "events", (double)st->nevents);
	cJSON_AddNumberToObject(o, "conflicts", (double)st->nconflicts);
	cJSON *arr = cJSON_AddArrayToObject(o, "remotes");
	for (size_t i = 0; i < names.count; i++) {
		remote_rec *r = book_find(&book, names.strings[i], true);
		git_remote *gr = NULL;
		if (r && git_remote_lookup(&gr, reg->repo, r->name) == 0 && git_remote_url(gr)) {
			free(r->url);
			r->url = mreg_strdup(git_remote_url(gr));
		}
		git_remote_free(gr);
		git_error_clear();
		if (!r)
			continue;
		mreg_buf b = MREG_BUF_INIT;
		mreg_jsonw w;
		mreg_jsonw_init(&w, &b);
		book_write_remote(&w, r, true);
		if (mreg_jsonw_finish(&w) == 0)
			cJSON_AddItemToArray(arr, cJSON_ParseWithLength(b.ptr, b.size));
		mreg_buf_dispose(&b);
	}
	*out = o;
done:
	mreg_state_free(st);
	book_dispose(&book);
	git_strarray_dispose(&names);
	return rc;
}

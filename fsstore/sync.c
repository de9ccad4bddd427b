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

/* ---- one remote -------------------------------------------------------- */

typedef struct {
	mreg_registry *reg;
	const mreg_sync_settings *set;
	const mreg_sync_opts *o;
	const char *name;
	char branch[256];	/* refs/heads/...: ours */
	char there[256];	/* the remote's (the same name, else the one its HEAD names) */
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
	cJSON *book_missing;	/* large files earlier rounds could not have */
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

/*
 * The event files the tree of commit from holds and that of hide (NULL:
 * none) does not: what a push sends. Counted from the trees, not the
 * history, which a clock running behind can date in any order.
 */
static int64_t events_between(mreg_registry *reg, const git_oid *from, const git_oid *hide)
{
	git_commit *a = NULL, *b = NULL;
	git_tree *ta = NULL, *tb = NULL;
	git_diff *diff = NULL;
	git_diff_options o;
	char *spec[] = { "events" };
	int64_t n = 0;
	git_diff_options_init(&o, GIT_DIFF_OPTIONS_VERSION);
	o.pathspec.strings = spec;
	o.pathspec.count = 1;
	if (git_commit_lookup(&a, reg->repo, from) == 0 && git_commit_tree(&ta, a) == 0 &&
	    (!hide || (git_commit_lookup(&b, reg->repo, hide) == 0 && git_commit_tree(&tb, b) == 0)) &&
	    git_diff_tree_to_tree(&diff, reg->repo, tb, ta, &o) == 0) {
		size_t nd = git_diff_num_deltas(diff);
		for (size_t i = 0; i < nd; i++)
			n += git_diff_get_delta(diff, i)->status == GIT_DELTA_ADDED;
	}
	git_error_clear();
	git_diff_free(diff);
	git_tree_free(ta);
	git_tree_free(tb);
	git_commit_free(a);
	git_commit_free(b);
	return n;
}

static bool has_events(mreg_registry *reg, const git_oid *tree)
{
	git_oid e;
	unsigned mode;
	return mreg_tree_path(&e, &mode, reg, tree, "events") == 0;
}

/* Whether the large file at path is in the store with p's bytes. */
static bool large_here(mreg_registry *reg, const char *path, const mreg_lfs_pointer *p)
{
	char xxh[33];
	const char *slash = strrchr(path, '/');
	snprintf(xxh, sizeof(xxh), "%.32s", slash ? slash + 1 : path);
	bool here = mreg_lfs_check(reg, p, xxh) == 0;
	mreg_error_clear();
	return here;
}

/* The file paths of the production and staging versions (mreg.syncFiles serving): sorted, for bsearch. */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int serving_paths(char ***out, size_t *n, mreg_registry *reg)
{
	mreg_state *st = NULL;
	int rc = mreg_read_state(&st, reg, NULL, true);
	*out = NULL;
	*n = 0;
	for (size_t i = 0; rc == 0 && i < st->nmodels; i++) {
		mreg_model *m = st->models[i];
		for (int k = 0; k < m->nversions; k++) {
			mreg_version *v = &m->versions[k];
			if (v->stage != MREG_STAGE_PRODUCTION && v->stage != MREG_STAGE_STAGING)
				continue;
			if ((rc = mreg_version_materialize(v)) < 0)
				break;
			char **more = realloc(*out, (*n + 1) * sizeof(**out));
			if (!more || !(more[*n] = mreg_strdup(v->file_path ? v->file_path : ""))) {
				free(more);
				rc = mreg_error_set(MREG_ERROR, "out of memory");
				break;
			}
			*out = more;
			(*n)++;
		}
	}
	if (*n)
		qsort(*out, *n, sizeof(**out), cmp_str);
	mreg_state_free(st);
	mreg_cache_release_maps(reg);
	return rc;
}

static void missing(one_sync *s, const mreg_incoming_large *l, const char *why)
{
	cJSON *m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "path", l->path);
	cJSON_AddStringToObject(m, "oid", l->ptr.oid);
	cJSON_AddNumberToObject(m, "size", (double)l->ptr.size);
	cJSON_AddStringToObject(m, "problem", why);
	cJSON_AddItemToArray(s->missing, m);
}

/*
 * The large files of cand that are not here, fetched from the remote with
 * git-lfs (the objects rev names) and checked by hash; those still not here
 * go to s->missing with the reason. serving: only the files of production
 * and staging versions are wanted.
 */
static int fetch_large(one_sync *s, const mreg_incoming_large *cand, size_t ncand, const char *rev, bool serving)
{
	char **paths = NULL, **want = NULL;
	size_t n = 0, nwant = 0;
	int rc = 0;
	bool none = s->set->files == MREG_CLONE_FILES_NONE;
	if (!ncand)
		return 0;
	if (serving && !none && (rc = serving_paths(&want, &nwant, s->reg)) < 0)
		return rc;
	if (!(paths = calloc(ncand, sizeof(*paths)))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < ncand; i++) {
		if (large_here(s->reg, cand[i].path, &cand[i].ptr))
			continue;
		if (none || (serving && !bsearch(&cand[i].path, want, nwant, sizeof(*want), cmp_str)))
			missing(s, &cand[i], none ? "not fetched (mreg.syncFiles is none)"
						  : "not fetched (mreg.syncFiles is serving; not a production or staging version's)");
		else
			paths[n++] = cand[i].path;
	}
	if (!n)
		goto done;
	char why[600] = "";
	if (mreg_remote_lfs(s->reg, "fetch", s->name, rev, paths, n) < 0)
		snprintf(why, sizeof(why), "%s", mreg_error_last());
	mreg_error_clear();
	for (size_t i = 0, k = 0; i < ncand && k < n; i++) {
		if (cand[i].path != paths[k])
			continue;
		k++;
		if (large_here(s->reg, cand[i].path, &cand[i].ptr))
			continue;
		missing(s, &cand[i], why[0] ? why : "the remote did not send it");
	}
done:
	for (size_t i = 0; i < nwant; i++)
		free(want[i]);
	free(want);
	free(paths);
	return rc;
}

/* The large files earlier rounds could not have, tried again from this remote (at HEAD: pointers never go). */
static int fetch_missing(one_sync *s)
{
	size_t n = (size_t)cJSON_GetArraySize(s->book_missing), k = 0;
	if (!n)
		return 0;
	mreg_incoming_large *cand = calloc(n, sizeof(*cand));
	if (!cand)
		return mreg_error_set(MREG_ERROR, "out of memory");
	const cJSON *m;
	cJSON_ArrayForEach(m, s->book_missing) {
		const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "path"));
		const char *oid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "oid"));
		const cJSON *size = cJSON_GetObjectItemCaseSensitive(m, "size");
		if (!path || !oid || strlen(oid) != 64 || !cJSON_IsNumber(size))
			continue;
		cand[k].path = (char *)path;
		snprintf(cand[k].ptr.oid, sizeof(cand[k].ptr.oid), "%s", oid);
		cand[k].ptr.size = (int64_t)size->valuedouble;
		k++;
	}
	int rc = fetch_large(s, cand, k, "HEAD", s->set->files == MREG_CLONE_FILES_SERVING);
	free(cand);
	return rc;
}

/* The remote-tracking ref, as git fetch would leave it. */
static void track(one_sync *s, const git_oid *to)
{
	char *ref = mreg_strfmt("refs/remotes/%s/%s", s->name, s->there + 11);
	git_reference *r = NULL;
	if (ref && git_reference_create(&r, s->reg->repo, ref, to, 1, "mreg sync") < 0)
		git_error_clear();
	git_reference_free(r);
	free(ref);
}

static bool tracked(git_oid *out, one_sync *s)
{
	char *ref = mreg_strfmt("refs/remotes/%s/%s", s->name, s->there + 11);
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
	if ((rc = mreg_registry_writable(reg)) < 0 || (rc = mreg_lock_take(reg)) < 0)
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
		const char *ev = nevents == 1 ? "event" : "events";
		char *msg = mreg_strfmt("sync: merge %s (%zu %s)\n\nMreg-Type: merge\n", s->name, nevents, ev);
		char *summary = mreg_strfmt("sync: merge %s (%zu %s)", s->name, nevents, ev);
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

/* land, the fold of what lands taking the events in's check just read instead of reading them again */
static int land_checked(one_sync *s, const git_oid *tip, mreg_incoming *in)
{
	mreg_known_event *known = NULL;
	size_t n = 0;
	int rc = mreg_incoming_known(&known, &n, in);
	if (rc == 0) {
		s->reg->known_events = known;
		s->reg->nknown_events = n;
		rc = land(s, tip, in->events);
		s->reg->known_events = NULL;
		s->reg->nknown_events = 0;
	}
	free(known);
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
		mreg_syncbook_renumbered(s->ren_before, s->reg, in->models[i]);
	}
}

/*
 * A tree mreg could not fold as it came: an event whose clock is past what
 * any writer could have seen (the fold leaves such a forgery out, DESIGN
 * section 3) is refused here instead, before it gets in.
 */
static int check_clock(one_sync *s, const mreg_incoming *in)
{
	mreg_state *st = NULL;
	int rc = mreg_read_state(&st, s->reg, NULL, false);
	if (rc < 0)
		return rc;
	int64_t bound = st->nfiles + (int64_t)in->events + MREG_CLOCK_SLACK;
	mreg_state_free(st);
	mreg_cache_release_maps(s->reg);
	if (in->max_clock > bound)
		return mreg_error_set(MREG_EINVALID, "cannot sync '%s': an event claims clock %lld, past the %lld events "
				      "the registry would hold (a forged clock); nothing was changed", s->name,
				      (long long)in->max_clock, (long long)(bound - MREG_CLOCK_SLACK));
	return 0;
}

static int sync_one(one_sync *s)
{
	mreg_registry *reg = s->reg;
	mreg_incoming in;
	git_oid tip, head, head_tree, before;
	char *url = NULL;
	int rc;

	memset(&in, 0, sizeof(in));
	rc = mreg_remote_fetch(&tip, &url, s->there, reg, s->name, s->branch);
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
			rc = mreg_incoming_check_keep(&in, reg, &tip, &head, s->adopted ? 0 : 1, first_problem, s);
			/* protected stages: what a hub's pre-receive refuses, a peer cannot bring either */
			if (rc == 0)
				rc = mreg_signoff_check(s->problem, sizeof(s->problem), reg, &in, s->adopted ? NULL : &head);
			if (rc == MREG_EINVALID)
				rc = mreg_error_set(MREG_EINVALID, "cannot sync '%s': %s; nothing was changed", s->name,
						    s->problem);
			if (rc == 0)
				rc = check_clock(s, &in);
			char hex[41];
			git_oid_tostr(hex, sizeof(hex), &tip);
			if (rc == 0 && s->set->files != MREG_CLONE_FILES_SERVING)
				rc = fetch_large(s, in.large, in.nlarge, hex, false);	/* before the branch moves */
			if (rc == 0)
				note_before(s, &in);
			for (size_t i = 0; rc == 0 && i < in.nmodels; i++)
				cJSON_AddItemToArray(s->models, cJSON_CreateString(in.models[i]));
			s->received = (int64_t)in.events;
			s->commits = in.commits;
			if (rc == 0 && !s->o->dry_run) {
				rc = land_checked(s, &tip, &in);
			} else if (rc == 0) {	/* what it would be */
				s->fast_forward = s->adopted || git_graph_descendant_of(reg->repo, &tip, &head) == 1;
				s->merged = !s->fast_forward;
				git_error_clear();
			}
			/* the serving versions are known once the new events are folded */
			if (rc == 0 && !s->o->dry_run && s->set->files == MREG_CLONE_FILES_SERVING &&
			    (rc = fetch_large(s, in.large, in.nlarge, hex, true)) == 0 && cJSON_GetArraySize(s->missing) < (int)in.nlarge)
				rc = mreg_cache_check_large(reg);
			mreg_incoming_dispose(&in);
			if (rc < 0)
				return rc;
		}
		if (!s->o->dry_run)
			track(s, &tip);
	}
	if (!s->o->dry_run && cJSON_GetArraySize(s->book_missing)) {
		if ((rc = fetch_missing(s)) < 0)
			return rc;
		if ((rc = mreg_cache_check_large(reg)) < 0)
			return rc;
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
		if ((rc = mreg_remote_push(reg, s->name, s->branch, s->there, remote_empty ? NULL : &tip)) < 0)
			return rc;
		track(s, &head);
	}
	return 0;
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

static cJSON *remote_item(const one_sync *s, const mreg_sync_remote *r, const char *error)
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
		cJSON_AddStringToObject(report, "backup", mreg_backup_meta_str(meta, "id"));	/* retained as every backup is */
	}
	cJSON_Delete(all);
	cJSON_Delete(meta);
	return rc;
}

/* A round: what every remote's sync shares, and the totals. */
typedef struct {
	mreg_registry *reg;
	const mreg_sync_opts *o;
	mreg_sync_settings set;
	mreg_sync_book book;
	char branch[256];
	cJSON *models, *ren, *round_models;
	cJSON *missing;		/* large files this round could not have */
	int64_t received, sent, synced, failed;
} sync_round;

/* The models of one remote's sync added to the round's, once each. */
static void add_models(cJSON *into, const cJSON *from)
{
	const cJSON *m;
	cJSON_ArrayForEach(m, from) {
		bool seen = false;
		const cJSON *x;
		cJSON_ArrayForEach(x, into) if (!strcmp(x->valuestring, m->valuestring)) seen = true;
		if (!seen)
			cJSON_AddItemToArray(into, cJSON_CreateString(m->valuestring));
	}
}

/* The outcome of one try into the remote's record and its breaker. */
static void record(sync_round *rd, mreg_sync_remote *r, one_sync *s, const char *error, int64_t now)
{
	if (!error) {
		rd->synced++;
		rd->received += s->received;
		rd->sent += s->sent;
		mreg_breaker_success(&r->breaker);
		r->failures = 0;
		mreg_time_format(r->last_success, now);
		r->received += s->received;
		r->last_received = s->received;
	} else {
		rd->failed++;
		mreg_breaker_failure(&r->breaker, &rd->set.breaker, now, draw());
		r->failures++;
		free(r->last_error);
		r->last_error = mreg_strdup(error);
		mreg_time_format(r->last_error_at, now);
	}
	mreg_time_format(r->last_try, now);
}

/* One remote's part of the round, as its report item (NULL for want of memory). */
static cJSON *sync_remote(sync_round *rd, const char *name)
{
	one_sync s;
	char *error = NULL;
	memset(&s, 0, sizeof(s));
	s.reg = rd->reg;
	s.set = &rd->set;
	s.o = rd->o;
	s.name = name;
	snprintf(s.branch, sizeof(s.branch), "%s", rd->branch);
	s.missing = cJSON_CreateArray();
	s.models = cJSON_CreateArray();
	s.round_models = rd->round_models;
	s.ren_before = rd->ren;
	s.book_missing = rd->book.missing;
	mreg_sync_remote *r = mreg_syncbook_find(&rd->book, name, true);
	if (!r) {
		cJSON_Delete(s.missing);
		cJSON_Delete(s.models);
		return NULL;
	}
	r->touched = true;
	mreg_syncbook_url(r, rd->reg);
	if (!rd->o->dry_run && !mreg_breaker_allow(&r->breaker, &rd->set.breaker, mreg_fs_now_usec())) {
		char until[MREG_TIME_LEN + 1];
		s.result = "skipped";
		mreg_time_format(until, r->breaker.open_until);
		error = mreg_strfmt("circuit open after %lld failures; next try after %s", (long long)r->failures, until);
		rd->failed++;
	} else {
		if (!rd->o->dry_run)
			mreg_syncbook_save(&rd->book, rd->reg);	/* a half-open try is counted even if this process dies */
		if (sync_one(&s) == 0) {
			s.result = "ok";
		} else {
			s.result = "failed";
			error = mreg_strdup(mreg_error_last());
			mreg_error_clear();
		}
		if (rd->o->dry_run) {
			rd->synced += !error;
			rd->failed += !!error;
			rd->received += s.received;
		} else {
			record(rd, r, &s, error ? error : NULL, mreg_fs_now_usec());
			mreg_syncbook_save(&rd->book, rd->reg);
		}
	}
	add_models(rd->models, s.models);
	const cJSON *m;
	cJSON_ArrayForEach(m, s.missing) cJSON_AddItemToArray(rd->missing, cJSON_Duplicate(m, true));
	cJSON *item = remote_item(&s, r, error);
	free(error);
	cJSON_Delete(s.missing);
	cJSON_Delete(s.models);
	return item;
}

/* The round's totals, and what it changed: versions renumbered and promotions that became conflicts. */
static void round_report(cJSON *report, sync_round *rd, const cJSON *conf_before)
{
	cJSON *ren_after = cJSON_CreateArray(), *m;
	cJSON_ArrayForEach(m, rd->models) mreg_syncbook_renumbered(ren_after, rd->reg, m->valuestring);
	cJSON *conf_after = mreg_syncbook_conflicts(rd->reg);
	cJSON_AddNumberToObject(report, "nodes_synced", (double)rd->synced);
	cJSON_AddNumberToObject(report, "nodes_failed", (double)rd->failed);
	cJSON_AddNumberToObject(report, "events_received", (double)rd->received);
	cJSON_AddNumberToObject(report, "events_sent", (double)rd->sent);
	cJSON_AddItemToObject(report, "models_changed", cJSON_Duplicate(rd->models, true));
	cJSON_AddItemToObject(report, "versions_renumbered", mreg_syncbook_added(rd->ren, ren_after));
	cJSON_AddItemToObject(report, "conflicts", mreg_syncbook_added(conf_before, conf_after));
	cJSON_Delete(ren_after);
	cJSON_Delete(conf_after);
	git_oid head, tree;
	char hex[41] = "";
	if (mreg_head_read(&head, &tree, rd->reg) == 0)
		git_oid_tostr(hex, sizeof(hex), &head);
	cJSON_AddStringToObject(report, "head", hex);
	mreg_time_format(rd->book.round_finished, mreg_fs_now_usec());
	cJSON_AddStringToObject(report, "finished", rd->book.round_finished);
	cJSON_AddBoolToObject(report, "ok", rd->failed == 0);
	cJSON *last = cJSON_CreateObject();
	cJSON_AddStringToObject(last, "started", rd->book.round_started);
	cJSON_AddStringToObject(last, "finished", rd->book.round_finished);
	cJSON_AddNumberToObject(last, "nodes_synced", (double)rd->synced);
	cJSON_AddNumberToObject(last, "nodes_failed", (double)rd->failed);
	cJSON_AddNumberToObject(last, "events_received", (double)rd->received);
	cJSON_AddNumberToObject(last, "events_sent", (double)rd->sent);
	cJSON_Delete(rd->book.last_round);
	rd->book.last_round = last;
	rd->book.round_touched = true;
}

/* The book's list of large files not here: the round's and the earlier ones, less those here now. */
static void still_missing(sync_round *rd)
{
	cJSON *all = cJSON_CreateArray(), *m;
	cJSON *lists[2] = { rd->book.missing, rd->missing };
	for (int i = 0; i < 2; i++)
		cJSON_ArrayForEach(m, lists[i]) {
			const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "path"));
			const char *oid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "oid"));
			const cJSON *size = cJSON_GetObjectItemCaseSensitive(m, "size"), *x;
			bool dup = false;
			cJSON_ArrayForEach(x, all) dup |= path && !strcmp(path, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "path")));
			if (!path || !oid || strlen(oid) != 64 || !cJSON_IsNumber(size) || dup)
				continue;
			mreg_lfs_pointer p = { "", (int64_t)size->valuedouble };
			snprintf(p.oid, sizeof(p.oid), "%s", oid);
			if (!large_here(rd->reg, path, &p))
				cJSON_AddItemToArray(all, cJSON_Duplicate(m, true));
		}
	cJSON_Delete(rd->book.missing);
	rd->book.missing = all;
}

/* The state and mirror at HEAD before anything is fetched, and HEAD's branch. */
static int round_start(sync_round *rd)
{
	mreg_registry *reg = rd->reg;
	int rc;
	if (!mreg_head_on_branch(reg) || strncmp(mreg_head_branch(reg, rd->branch, sizeof(rd->branch)), "refs/heads/", 11))
		return mreg_error_set(MREG_EINVALID, "cannot sync '%s': HEAD is not on a branch", reg->path);
	if ((rc = mreg_registry_writable(reg)) < 0 || (rc = mreg_lock_take(reg)) < 0)
		return rc;
	rc = mreg_cache_ensure(reg);
	mreg_lock_release(reg);
	return rc;
}

int mreg_sync(cJSON **out, mreg_registry *reg, const mreg_sync_opts *o)
{
	sync_round rd;
	git_strarray names = { NULL, 0 };
	cJSON *report = NULL, *items, *conf_before = NULL;
	int rc;

	*out = NULL;
	memset(&rd, 0, sizeof(rd));
	rd.reg = reg;
	rd.o = o;
	if ((rc = mreg_registry_need_git(reg)) < 0 || (rc = mreg_syncbook_settings(&rd.set, reg)) < 0 ||
	    (rc = remote_names(&names, reg, o)) < 0 || (rc = round_start(&rd)) < 0 ||
	    (rc = mreg_syncbook_load(&rd.book, reg)) < 0)
		goto done;
	if (o->files >= 0)
		rd.set.files = (mreg_clone_files)o->files;
	report = cJSON_CreateObject();
	mreg_time_format(rd.book.round_started, mreg_fs_now_usec());
	cJSON_AddStringToObject(report, "started", rd.book.round_started);
	cJSON_AddBoolToObject(report, "dry_run", o->dry_run);
	if (!o->no_backup && !o->dry_run && (rc = pre_sync_backup(report, reg)) < 0)
		goto done;
	if (!cJSON_HasObjectItem(report, "backup"))
		cJSON_AddNullToObject(report, "backup");
	items = cJSON_AddArrayToObject(report, "remotes");
	rd.models = cJSON_CreateArray();
	rd.ren = cJSON_CreateArray();
	rd.round_models = cJSON_CreateArray();
	rd.missing = cJSON_CreateArray();
	conf_before = mreg_syncbook_conflicts(reg);
	for (size_t i = 0; i < names.count; i++) {
		cJSON *item = sync_remote(&rd, names.strings[i]);
		if (!item) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
			goto done;
		}
		cJSON_AddItemToArray(items, item);
	}
	round_report(report, &rd, conf_before);
	still_missing(&rd);
	if (!o->dry_run && (rc = mreg_syncbook_save(&rd.book, reg)) < 0)
		goto done;
	*out = report;
	report = NULL;
done:
	cJSON_Delete(report);
	cJSON_Delete(rd.models);
	cJSON_Delete(rd.ren);
	cJSON_Delete(rd.round_models);
	cJSON_Delete(rd.missing);
	cJSON_Delete(conf_before);
	mreg_syncbook_dispose(&rd.book);
	git_strarray_dispose(&names);
	return rc;
}

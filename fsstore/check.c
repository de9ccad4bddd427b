/*
 * `mreg check`: a proposed range of commits, validated before it lands.
 *
 * CI runs it on a pull request, the server's pre-receive hook on a push,
 * a person before pushing. Three checks, in order:
 *
 *   1. layout: every commit of the range only adds well-formed events and
 *      model files (incoming.c, the check `mreg sync` runs on what it
 *      fetches: one implementation);
 *   2. fold: the tip's tree folds with no event of the range becoming a
 *      conflict and no event left out, that did not in the base's fold
 *      (the base: where the range starts, its merge base with what it is
 *      checked against), so invariants hold by the fold's own assertions;
 *   3. policy (signoff.c): an event that moves a version into a stage
 *      mreg.json protects, and a change to the protect section or to a
 *      signers file it names, needs its commit signed (sign.c) by a key the
 *      signers file allows as of the commit's parent.
 *
 * The report says what the range does in words, event by event, and names
 * the commit and the event or path of every problem.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PROBLEMS 100
#define MAX_HIDE 4096

typedef struct {
	mreg_registry *reg;
	cJSON *changes, *policy_changes, *problems;
	size_t nproblems;
	mreg_signoff *signoff;	/* who may: protected stages (signoff.c) */
} checking;

static void add_problem(checking *ck, const char *commit, const char *path, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void add_problem(checking *ck, const char *commit, const char *path, const char *event, const char *fmt, ...)
{
	char msg[700];
	va_list ap;
	if (ck->nproblems++ >= MAX_PROBLEMS)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "commit", commit);
	if (path && *path)
		cJSON_AddStringToObject(o, "path", path);
	else
		cJSON_AddNullToObject(o, "path");
	if (event)
		cJSON_AddStringToObject(o, "event", event);
	else
		cJSON_AddNullToObject(o, "event");
	cJSON_AddStringToObject(o, "problem", msg);
	cJSON_AddItemToArray(ck->problems, o);
}

/* The id of the event an events/ path names, or NULL. */
static const char *path_event(char out[33], const char *path)
{
	const char *base = strrchr(path, '/');
	if (strncmp(path, "events/", 7) || !base || strlen(base + 1) != 37)
		return NULL;
	snprintf(out, 33, "%.32s", base + 1);
	return out;
}

static void layout_problem(const char *commit, const char *path, const char *problem, void *payload)
{
	char event[33];
	add_problem(payload, commit, path, path_event(event, path), "%s", problem);
}

/* ---- the range ---------------------------------------------------------- */

typedef struct {
	git_oid tip;
	git_oid *hide;
	size_t nhide;
	git_oid base;
	bool has_base;
	char label[200];
} range;

static int hide_add(range *r, const git_oid *id)
{
	if (r->nhide >= MAX_HIDE)
		return 0;
	if (r->nhide % 64 == 0) {
		git_oid *more = realloc(r->hide, (r->nhide + 64) * sizeof(*more));
		if (!more)
			return mreg_error_set(MREG_ERROR, "out of memory");
		r->hide = more;
	}
	r->hide[r->nhide++] = *id;
	return 0;
}

static int commit_of(git_oid *out, mreg_registry *reg, const char *spec)
{
	git_object *o = NULL, *c = NULL;
	int rc = 0;
	if (git_revparse_single(&o, reg->repo, spec) < 0 || git_object_peel(&c, o, GIT_OBJECT_COMMIT) < 0)
		rc = mreg_error_set(MREG_ENOTFOUND, "unknown commit '%s' in '%s'", spec, reg->path);
	else
		*out = *git_object_id(c);
	git_object_free(o);
	git_object_free(c);
	git_error_clear();
	return rc;
}

/* The base: the merge base of a and b, when they have one. */
static void set_base(range *r, mreg_registry *reg, const git_oid *a, const git_oid *b)
{
	r->has_base = git_merge_base(&r->base, reg->repo, a, b) == 0;
	git_error_clear();
}

/* One commit: against its parents, its base the first one. */
static int one_commit(range *r, mreg_registry *reg, const git_oid *id)
{
	git_commit *c = NULL;
	int rc = 0;
	r->tip = *id;
	if (git_commit_lookup(&c, reg->repo, id) < 0)
		return mreg_libgit2_error("cannot read commit", git_oid_tostr_s(id));
	for (unsigned i = 0; i < git_commit_parentcount(c) && rc == 0; i++)
		rc = hide_add(r, git_commit_parent_id(c, i));
	if (git_commit_parentcount(c)) {
		r->base = *git_commit_parent_id(c, 0);
		r->has_base = true;
	}
	git_commit_free(c);
	return rc;
}

static int hide_ref(const char *name, void *payload)
{
	void **p = payload;
	range *r = p[0];
	mreg_registry *reg = p[1];
	git_object *o = NULL, *c = NULL;
	int rc = 0;
	if (git_revparse_single(&o, reg->repo, name) == 0 && git_object_peel(&c, o, GIT_OBJECT_COMMIT) == 0)
		rc = hide_add(r, git_object_id(c));
	git_object_free(o);
	git_object_free(c);
	git_error_clear();
	return rc;
}

/* A hook's old and new: a new branch (old all zeros) is what no ref holds yet. */
static int hook_range(range *r, mreg_registry *reg, const char *old_id, const char *new_id)
{
	git_oid old, head;
	int rc;
	if ((rc = commit_of(&r->tip, reg, new_id)) < 0)
		return rc;
	snprintf(r->label, sizeof(r->label), "%.12s..%.12s", old_id, new_id);
	if (strspn(old_id, "0") == strlen(old_id)) {
		void *p[2] = { r, reg };
		if (git_reference_foreach_name(reg->repo, hide_ref, p) < 0 && mreg_error_last()[0])
			return MREG_ERROR;
		git_error_clear();
		if (git_reference_name_to_id(&head, reg->repo, "HEAD") == 0)
			set_base(r, reg, &head, &r->tip);
		git_error_clear();
		return 0;
	}
	if ((rc = commit_of(&old, reg, old_id)) < 0)
		return rc;
	set_base(r, reg, &old, &r->tip);
	return hide_add(r, &old);
}

static int default_range(range *r, mreg_registry *reg)
{
	git_reference *head = NULL, *up = NULL;
	git_oid from;
	int rc = 0;
	if (git_repository_head(&head, reg->repo) < 0) {
		git_error_clear();
		return mreg_error_set(MREG_ENOTFOUND, "nothing to check: '%s' has no commits", reg->path);
	}
	if (git_branch_upstream(&up, head) == 0 && git_reference_name_to_id(&from, reg->repo, git_reference_name(up)) == 0) {
		r->tip = *git_reference_target(head);
		snprintf(r->label, sizeof(r->label), "%s..%s", git_reference_shorthand(up), git_reference_shorthand(head));
		set_base(r, reg, &from, &r->tip);
		rc = hide_add(r, &from);
	} else {
		git_error_clear();
		snprintf(r->label, sizeof(r->label), "%s (its last commit)", git_reference_shorthand(head));
		rc = one_commit(r, reg, git_reference_target(head));
	}
	git_reference_free(up);
	git_reference_free(head);
	return rc;
}

static int resolve(range *r, mreg_registry *reg, const mreg_check_opts *o)
{
	git_revspec spec;
	memset(r, 0, sizeof(*r));
	if (o->new_id)
		return hook_range(r, reg, o->old_id ? o->old_id : "0", o->new_id);
	if (!o->range)
		return default_range(r, reg);
	snprintf(r->label, sizeof(r->label), "%s", o->range);
	if (!strstr(o->range, "..")) {
		git_oid one;
		int rc = commit_of(&one, reg, o->range);
		return rc < 0 ? rc : one_commit(r, reg, &one);
	}
	if (git_revparse(&spec, reg->repo, o->range) < 0 || !spec.from || !spec.to) {
		git_error_clear();
		if (!spec.from || !spec.to) {
			git_object_free(spec.from);
			git_object_free(spec.to);
		}
		return mreg_error_set(MREG_ENOTFOUND, "unknown range '%s' in '%s'", o->range, reg->path);
	}
	git_object *a = NULL, *b = NULL;
	int rc = 0;
	if (git_object_peel(&a, spec.from, GIT_OBJECT_COMMIT) < 0 || git_object_peel(&b, spec.to, GIT_OBJECT_COMMIT) < 0) {
		git_error_clear();
		rc = mreg_error_set(MREG_ENOTFOUND, "range '%s' does not name commits in '%s'", o->range, reg->path);
	} else {
		r->tip = *git_object_id(b);
		set_base(r, reg, git_object_id(a), &r->tip);
		rc = hide_add(r, git_object_id(a));
	}
	git_object_free(a);
	git_object_free(b);
	git_object_free(spec.from);
	git_object_free(spec.to);
	return rc;
}

/* ---- the fold ----------------------------------------------------------- */

static int cmp_items(const void *a, const void *b)
{
	const mreg_incoming_item *x = *(mreg_incoming_item *const *)a, *y = *(mreg_incoming_item *const *)b;
	return strcmp(x->ev->id, y->ev->id);
}

/* The range's events by id (each once: a merge may show one from both sides). */
typedef struct {
	mreg_incoming_item **by_id;
	size_t n;
} event_index;

static int index_events(event_index *ix, mreg_incoming *in)
{
	ix->n = 0;
	if (!(ix->by_id = calloc(in->nkept ? in->nkept : 1, sizeof(*ix->by_id))))
		return mreg_error_set(MREG_ERROR, "out of memory");
	for (size_t i = 0; i < in->nkept; i++)
		if (in->kept[i].ev)
			ix->by_id[ix->n++] = &in->kept[i];
	qsort(ix->by_id, ix->n, sizeof(*ix->by_id), cmp_items);
	size_t k = 0;
	for (size_t i = 0; i < ix->n; i++)
		if (!k || strcmp(ix->by_id[k - 1]->ev->id, ix->by_id[i]->ev->id))
			ix->by_id[k++] = ix->by_id[i];
		else
			ix->by_id[i]->ev->id[0] = '\0';	/* a second sighting: left out of the report */
	ix->n = k;
	return 0;
}

static const mreg_incoming_item *find_event(const event_index *ix, const char *id)
{
	mreg_event key;
	mreg_incoming_item item, *p = &item;
	memcpy(key.id, id, sizeof(key.id));
	item.ev = &key;
	mreg_incoming_item **hit = ix->n ? bsearch(&p, ix->by_id, ix->n, sizeof(*ix->by_id), cmp_items) : NULL;
	return hit ? *hit : NULL;
}

static bool had_conflict(const mreg_state *st, const char *event)
{
	for (size_t i = 0; st && i < st->nconflicts; i++)
		if (!strcmp(st->conflicts[i].event, event))
			return true;
	return false;
}

static bool had_quarantined(const mreg_state *st, const char *path)
{
	for (size_t i = 0; st && i < st->nquarantined; i++)
		if (!strcmp(st->quarantined[i].path, path))
			return true;
	return false;
}

typedef struct {
	mreg_state *st;
	const event_index *ix;
	bool seen_new;
	bool *interleaved;
} folding;

static int fold_one(const mreg_event *ev, void *arg)
{
	folding *f = arg;
	if (f->ix && find_event(f->ix, ev->id))
		f->seen_new = true;
	else if (f->ix && f->seen_new)
		*f->interleaved = true;
	return mreg_fold_apply_bulk(f->st, ev);
}

/*
 * The fold of a tree (NULL: of nothing), streamed (mreg_events_fold). With
 * ix: *interleaved set when an event not of the range comes after one of
 * it in fold order (then the events before the range do not fold as they
 * did at the base).
 */
static int fold_tree(mreg_state **out, bool *interleaved, mreg_registry *reg, const git_oid *tree, const event_index *ix)
{
	folding f = { NULL, ix, false, interleaved };
	int rc = mreg_state_new(&f.st);
	if (rc == 0 && tree)
		rc = mreg_events_fold(reg, tree, f.st, fold_one, &f);
	if (rc == 0)
		rc = mreg_state_check_all(f.st);
	if (rc < 0) {
		mreg_state_free(f.st);
		f.st = NULL;
	}
	*out = f.st;
	return rc;
}

static int cmp_events(const void *a, const void *b)
{
	return mreg_event_cmp(*(mreg_event *const *)a, *(mreg_event *const *)b);
}

/*
 * The range's events folded onto the state files, when those were folded
 * from the base's tree (a hub's cache, which post-receive keeps at its
 * branch): O(the range). 1 when that road is closed (no such cache, or the
 * range's events do not all come after the base's in fold order).
 */
static int fold_onto_cache(mreg_state **out, checking *ck, const git_oid *base_tree, const event_index *ix)
{
	mreg_registry *reg = ck->reg;
	mreg_state *st = NULL;
	mreg_event **evs = NULL;
	char stamp[41], want[41];
	int rc, maps = reg->nmaps;
	*out = NULL;
	mreg_cache_stamp(stamp, reg);
	git_oid_tostr(want, sizeof(want), base_tree);
	if (strcmp(stamp, want) || !mreg_cache_sound(reg))
		return 1;
	if (mreg_cache_load(&st, reg, NULL, false, true) < 0) {
		mreg_error_clear();
		return 1;
	}
	if (!(evs = calloc(ix->n ? ix->n : 1, sizeof(*evs)))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < ix->n; i++)
		evs[i] = ix->by_id[i]->ev;
	qsort(evs, ix->n, sizeof(*evs), cmp_events);
	st->nfiles += (int64_t)ix->n;	/* the range adds event files and nothing else under events/ */
	if ((rc = mreg_cache_apply(st, reg, evs, ix->n)) == 0) {
		*out = st;
		st = NULL;
	}
done:
	free(evs);
	mreg_state_free(st);
	if (!*out)
		mreg_cache_release_maps_from(reg, maps);
	return rc;
}

/*
 * What the tip's fold refuses that the base's did not: each a problem, with
 * the commit that brought it. base NULL: the tip's fold judged alone, for
 * the range's events only (nothing of the range came before an older event).
 */
static void fold_problems(checking *ck, const mreg_state *head, const mreg_state *base, const event_index *ix,
			  const char *tip)
{
	char id[33];
	for (size_t i = 0; i < head->nconflicts; i++) {
		const mreg_conflict *x = &head->conflicts[i];
		const mreg_incoming_item *it = find_event(ix, x->event);
		if ((base && had_conflict(base, x->event)) || (!base && !it))
			continue;
		if (it)
			add_problem(ck, it->commit, it->path, x->event, "does not apply: %s", x->message);
		else
			add_problem(ck, tip, NULL, x->event, "an earlier event no longer applies after the range: %s",
				    x->message);
	}
	for (size_t i = 0; i < head->nquarantined; i++) {
		const mreg_quarantined *q = &head->quarantined[i];
		const char *ev = path_event(id, q->path);
		if ((base && had_quarantined(base, q->path)) || (!base && !(ev && find_event(ix, ev))))
			continue;
		add_problem(ck, tip, q->path, ev, "left out of the fold: %s", q->problem);
	}
}

/*
 * The fold judged, by the cheapest road that gives the same answer: the
 * range onto the base's state files; else one fold of the tip, enough when
 * the range's events all come after the older ones; else both folds compared.
 */
static int fold_check(mreg_state **head, checking *ck, const range *r, const event_index *ix)
{
	mreg_state *base = NULL;
	git_commit *c = NULL;
	git_oid base_tree;
	char tip[41];
	bool interleaved = false;
	int rc = 0;
	*head = NULL;
	git_oid_tostr(tip, sizeof(tip), &r->tip);
	if (r->has_base) {
		if (git_commit_lookup(&c, ck->reg->repo, &r->base) < 0)
			return mreg_libgit2_error("cannot read commit", git_oid_tostr_s(&r->base));
		base_tree = *git_commit_tree_id(c);
		git_commit_free(c);
		c = NULL;
		if ((rc = fold_onto_cache(head, ck, &base_tree, ix)) <= 0) {
			if (rc == 0)
				fold_problems(ck, *head, NULL, ix, tip);
			return rc;
		}
	}
	if (git_commit_lookup(&c, ck->reg->repo, &r->tip) < 0)
		return mreg_libgit2_error("cannot read commit", tip);
	rc = fold_tree(head, &interleaved, ck->reg, git_commit_tree_id(c), ix);
	git_commit_free(c);
	if (rc == 0 && interleaved && r->has_base)
		rc = fold_tree(&base, &interleaved, ck->reg, &base_tree, NULL);
	if (rc == 0)
		fold_problems(ck, *head, base, ix, tip);
	mreg_state_free(base);
	return rc;
}

/* ---- what each event does, and who signed it ------------------------------ */

static void signoff_problem(const char *commit, const char *path, const char *event, const char *msg, void *payload)
{
	add_problem(payload, commit, path, event, "%s", msg);
}

/* A change to a policy file, judged by signoff.c. */
static int check_policy_file(checking *ck, const mreg_incoming_item *it)
{
	const char *who = NULL;
	int rc = mreg_signoff_file(&who, ck->signoff, it);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "commit", it->commit);
	cJSON_AddStringToObject(o, "path", it->path);
	if (who)
		cJSON_AddStringToObject(o, "signed_by", who);
	else
		cJSON_AddNullToObject(o, "signed_by");
	cJSON_AddItemToArray(ck->policy_changes, o);
	return rc;
}

/* One event of the range: in words, and signed when it moves a version into a protected stage. */
static int check_event(checking *ck, const mreg_incoming_item *it, const mreg_state *head)
{
	const mreg_event *ev = it->ev;
	const char *who = NULL;
	mreg_stage s = MREG_STAGE_NONE;
	mreg_buf words = MREG_BUF_INIT;
	int rc = mreg_signoff_event(&s, &who, ck->signoff, it);
	mreg_model *m = mreg_state_model(head, ev->model);
	const mreg_version *v = m ? mreg_model_version_by_ref(m, ev->ref[0] ? ev->ref : ev->id, ev->version) : NULL;
	const char *bm = mreg_event_other_model(ev), *bref = mreg_event_body_str(ev, bm ? "b_ref" : "from_ref");
	mreg_model *om = bm ? mreg_state_model(head, bm) : m;
	const mreg_version *ov = om && bref ? mreg_model_version_by_ref(om, bref, 0) : NULL;
	mreg_event_describe(&words, ev, v ? v->version : 0, ov ? ov->version : 0);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "commit", it->commit);
	cJSON_AddStringToObject(o, "event", ev->id);
	cJSON_AddStringToObject(o, "type", mreg_event_type_name(ev->type));
	cJSON_AddStringToObject(o, "model", ev->model);
	cJSON_AddNumberToObject(o, "version", v ? v->version : ev->version);
	cJSON_AddStringToObject(o, "actor", ev->actor);
	cJSON_AddStringToObject(o, "time", ev->time);
	cJSON_AddStringToObject(o, "words", words.ptr);
	if (s != MREG_STAGE_NONE)
		cJSON_AddStringToObject(o, "protected_stage", mreg_stage_name(s));
	else
		cJSON_AddNullToObject(o, "protected_stage");
	if (who)
		cJSON_AddStringToObject(o, "signed_by", who);
	else
		cJSON_AddNullToObject(o, "signed_by");
	cJSON_AddItemToArray(ck->changes, o);
	mreg_buf_dispose(&words);
	return rc;
}

int mreg_check(cJSON **report, mreg_registry *reg, const mreg_check_opts *opts)
{
	checking ck = { reg, cJSON_CreateArray(), cJSON_CreateArray(), cJSON_CreateArray(), 0, NULL };
	mreg_incoming in;
	event_index ix = { NULL, 0 };
	mreg_state *head = NULL;
	range r;
	char hex[41];
	int rc;

	*report = NULL;
	memset(&in, 0, sizeof(in));
	memset(&r, 0, sizeof(r));
	if ((rc = mreg_registry_need_git(reg)) < 0 || (rc = resolve(&r, reg, opts)) < 0 ||
	    (rc = mreg_signoff_new(&ck.signoff, reg, r.has_base ? &r.base : NULL, signoff_problem, &ck)) < 0)
		goto done;
	rc = mreg_incoming_check_keep(&in, reg, &r.tip, r.hide, r.nhide, layout_problem, &ck);
	if (rc < 0 && rc != MREG_EINVALID)
		goto done;
	/* the fold and the policy judge a range whose files are all well-formed */
	if (rc == 0 && (rc = index_events(&ix, &in)) == 0 && (rc = fold_check(&head, &ck, &r, &ix)) == 0) {
		for (size_t i = 0; i < in.nkept && rc == 0; i++) {
			if (!in.kept[i].ev)
				rc = check_policy_file(&ck, &in.kept[i]);
			else if (in.kept[i].ev->id[0])
				rc = check_event(&ck, &in.kept[i], head);
		}
	}
	if (rc < 0 && rc != MREG_EINVALID)
		goto done;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "range", r.label);
	if (r.has_base)
		cJSON_AddStringToObject(o, "base", git_oid_tostr(hex, sizeof(hex), &r.base));
	else
		cJSON_AddNullToObject(o, "base");
	cJSON_AddStringToObject(o, "head", git_oid_tostr(hex, sizeof(hex), &r.tip));
	cJSON_AddNumberToObject(o, "commits", (double)in.commits);
	cJSON_AddNumberToObject(o, "events", (double)ix.n);
	cJSON_AddBoolToObject(o, "valid", ck.nproblems == 0);
	cJSON_AddItemToObject(o, "changes", ck.changes);
	cJSON_AddItemToObject(o, "policy_changes", ck.policy_changes);
	cJSON_AddItemToObject(o, "problems", ck.problems);
	if (ck.nproblems > MAX_PROBLEMS)
		cJSON_AddNumberToObject(o, "problems_left_out", (double)(ck.nproblems - MAX_PROBLEMS));
	ck.changes = ck.policy_changes = ck.problems = NULL;
	*report = o;
	rc = ck.nproblems ? MREG_EINVALID : 0;
done:
	if (rc == MREG_EINVALID)
		mreg_error_clear();
	cJSON_Delete(ck.changes);
	cJSON_Delete(ck.policy_changes);
	cJSON_Delete(ck.problems);
	mreg_signoff_free(ck.signoff);
	mreg_state_free(head);
	free(ix.by_id);
	free(r.hide);
	mreg_incoming_dispose(&in);
	return rc;
}

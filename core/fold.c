/*
 * The fold: state = fold(events sorted by (clock, id)).
 *
 * Pure and deterministic: the same set of events gives the same state on
 * every node, whatever order they arrived in, which is what makes sync
 * converge. The rules (DESIGN section 3):
 *
 *  - Versions are numbered per model. A registration claims a number; if it
 *    is taken (two nodes claimed it concurrently), the later one in fold order
 *    gets the next free number, max + 1. Both numbers are kept. Later events
 *    name a version by ref, never by number, so renumbering breaks nothing.
 *  - A promotion applies only if the version is still in the stage its
 *    writer saw and the table allows the move; otherwise it is recorded as a
 *    conflict and changes nothing.
 *  - Production is one version per model: promoting to production, or
 *    registering straight into it, archives the current production version
 *    in the same event ("Replaced by <id>:v<N>").
 *  - A rollback moves an archived version back to production and archives
 *    the version it names as production, in one event; if either is no
 *    longer where its writer saw it (another node moved it first), the
 *    rollback is a conflict and is kept in the rollback record as failed.
 *  - Validations step pending -> queued -> running -> passed | failed; a
 *    step the current status does not allow is a conflict.
 *  - A comparison is shown in both versions it names.
 *
 * After each event the touched model's invariants are checked
 * (mreg_state_check_model, state.c). The state's containers and lookups are
 * state.c's; this file is the rules alone.
 */
#include "state.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- applying events ------------------------------------------------ */

static int add_transition(mreg_version *v, mreg_stage from, mreg_stage to, const char *reason,
			  const mreg_event *ev)
{
	mreg_transition *h = realloc(v->history, (v->nhistory + 1) * sizeof(*h));
	if (!h)
		return mreg_error_set(MREG_ERROR, "out of memory");
	v->history = h;
	mreg_transition *t = &h[v->nhistory];
	memset(t, 0, sizeof(*t));
	t->from = from;
	t->to = to;
	t->reason = mreg_strdup(reason ? reason : "");
	t->by = mreg_strdup(ev->actor);
	memcpy(t->at, ev->time, sizeof(t->at));
	memcpy(t->event, ev->id, sizeof(t->event));
	v->nhistory++;
	if (!t->reason || !t->by)
		return mreg_error_set(MREG_ERROR, "out of memory");
	return 0;
}

static int set_prod(mreg_model *m, mreg_version *v)
{
	int rc;
	mreg_version_free(m->prod);
	m->prod = NULL;
	if (v && (rc = mreg_version_materialize(v)) < 0)
		return rc;
	if (v && !(m->prod = mreg_version_dup(v)))
		return mreg_error_set(MREG_ERROR, "out of memory");
	return 0;
}

static void move_stage(mreg_state *st, mreg_version *v, mreg_stage to)
{
	st->stage_count[v->stage]--;
	st->stage_count[to]++;
	v->stage = to;
}

/* Archive the model's production version because `by` replaces it. */
static int archive_production(mreg_state *st, mreg_model *m, const mreg_version *by, const mreg_event *ev)
{
	if (!m->prod || m->prod->version == by->version)
		return 0;
	mreg_version *old = mreg_model_version(m, m->prod->version);
	if (!old)
		return mreg_error_set(MREG_ECORRUPT, "production version %d of '%s' is missing", m->prod->version, m->id);
	int rc = mreg_version_materialize(old);
	if (rc < 0)
		return rc;
	char *reason = mreg_strfmt("Replaced by %s:v%d", m->id, by->version);
	if (!reason)
		return mreg_error_set(MREG_ERROR, "out of memory");
	rc = add_transition(old, MREG_STAGE_PRODUCTION, MREG_STAGE_ARCHIVED, reason, ev);
	free(reason);
	if (rc < 0)
		return rc;
	move_stage(st, old, MREG_STAGE_ARCHIVED);
	memcpy(old->updated_at, ev->time, sizeof(old->updated_at));
	return set_prod(m, NULL);
}

static int add_conflict(mreg_state *st, const mreg_event *ev, int version, const char *message)
{
	if (st->nconflicts == st->aconflicts) {
		size_t n = st->aconflicts ? st->aconflicts * 2 : 8;
		mreg_conflict *p = realloc(st->conflicts, n * sizeof(*p));
		if (!p)
			return mreg_error_set(MREG_ERROR, "out of memory");
		st->conflicts = p;
		st->aconflicts = n;
	}
	mreg_conflict *c = &st->conflicts[st->nconflicts++];
	memset(c, 0, sizeof(*c));
	memcpy(c->event, ev->id, sizeof(c->event));
	memcpy(c->time, ev->time, sizeof(c->time));
	c->type = mreg_strdup(mreg_event_type_name(ev->type));
	c->model = mreg_strdup(ev->model);
	c->version = version;
	c->message = mreg_strdup(message);
	c->actor = mreg_strdup(ev->actor);
	if (!c->type || !c->model || !c->message || !c->actor)
		return mreg_error_set(MREG_ERROR, "out of memory");
	return 1;	/* recorded: the event has no other effect */
}

static int insert_tag(mreg_version *v, const char *tag)
{
	size_t i = 0;
	while (i < v->ntags && strcmp(v->tags[i], tag) < 0)
		i++;
	if (i < v->ntags && !strcmp(v->tags[i], tag))
		return 0;
	char **p = realloc(v->tags, (v->ntags + 1) * sizeof(*p));
	if (!p)
		return mreg_error_set(MREG_ERROR, "out of memory");
	v->tags = p;
	memmove(p + i + 1, p + i, (v->ntags - i) * sizeof(*p));
	if (!(p[i] = mreg_strdup(tag)))
		return mreg_error_set(MREG_ERROR, "out of memory");
	v->ntags++;
	return 0;
}

static void remove_tag(mreg_version *v, const char *tag)
{
	for (size_t i = 0; i < v->ntags; i++)
		if (!strcmp(v->tags[i], tag)) {
			free(v->tags[i]);
			memmove(v->tags + i, v->tags + i + 1, (v->ntags - i - 1) * sizeof(*v->tags));
			v->ntags--;
			return;
		}
}

/* A registration's training_config, normalized with defaults, as bytes into out (len *n). */
static int make_config(char **out, size_t *n, const mreg_event *ev)
{
	cJSON *config;
	int rc = mreg_config_normalize(&config, ev->training_config, true, ev->model);
	if (rc < 0)
		return rc;
	rc = mreg_config_render(out, n, config);
	cJSON_Delete(config);
	return rc;
}

int mreg_fold_prepare(mreg_event *ev)
{
	if (ev->type != MREG_EV_REGISTERED || ev->version_config)
		return 0;
	return make_config(&ev->version_config, &ev->version_config_len, ev);
}

/* The new version v's training_config: a copy of what a reader made ahead, or made here. */
static int copy_config(mreg_version *v, const mreg_event *ev)
{
	if (!ev->version_config)
		return make_config(&v->training_config, &v->training_config_len, ev);
	if (!(v->training_config = malloc(ev->version_config_len + 1)))
		return mreg_error_set(MREG_ERROR, "out of memory");
	memcpy(v->training_config, ev->version_config, ev->version_config_len + 1);
	v->training_config_len = ev->version_config_len;
	return 0;
}

static int apply_registered(mreg_state *st, mreg_model *m, const mreg_event *ev)
{
	int rc;
	/*
	 * The next free number: the claim when it is that (it always is, for a
	 * writer that saw the latest), else the claim was taken concurrently, or
	 * reaches past numbers nobody used (only a forged event does): either
	 * way the number given is max + 1, and the claim is kept. So versions are
	 * 1..n with no gaps, and no event can push a model's numbers to where
	 * its next registration could not be written.
	 */
	int number = m->latest + 1;
	if ((size_t)m->nversions == m->aversions) {
		size_t n = m->aversions ? m->aversions * 2 : 8;
		mreg_version *p = realloc(m->versions, n * sizeof(*p));
		if (!p)
			return mreg_error_set(MREG_ERROR, "out of memory");
		m->versions = p;
		m->aversions = n;
	}
	mreg_version *v = &m->versions[m->nversions];
	memset(v, 0, sizeof(*v));
	m->nversions++;
	v->version = number;
	v->claimed = ev->version;
	memcpy(v->ref, ev->id, sizeof(v->ref));
	v->stage = ev->stage;
	v->file_path = mreg_strdup(ev->file_path);
	memcpy(v->file_hash, ev->file_hash, sizeof(v->file_hash));
	v->file_size = ev->file_size;
	v->metrics = ev->metrics;
	if (!(v->metrics.present & (1u << MREG_METRIC_GAMES_PLAYED))) {
		v->metrics.v[MREG_METRIC_GAMES_PLAYED] = 0;
		v->metrics.present |= 1u << MREG_METRIC_GAMES_PLAYED;
	}
	if ((rc = copy_config(v, ev)) < 0)
		return rc;
	for (size_t i = 0; i < ev->ntags; i++)
		if ((rc = insert_tag(v, ev->tags[i])) < 0)
			return rc;
	memcpy(v->created_at, ev->time, sizeof(v->created_at));
	memcpy(v->updated_at, ev->time, sizeof(v->updated_at));
	if (!v->file_path)
		return mreg_error_set(MREG_ERROR, "out of memory");
	if ((rc = add_transition(v, MREG_STAGE_NONE, ev->stage, "Initial registration", ev)) < 0)
		return rc;
	if (ev->model_type == MREG_TYPE_POLICY_VALUE &&
	    (ev->stage == MREG_STAGE_DEVELOPMENT || ev->stage == MREG_STAGE_STAGING)) {
		v->validation = mreg_validation_pending();
	}
	m->latest = number;
	if (m->nversions == 1 && !m->name) {
		m->name = mreg_strdup(ev->name);
		m->description = mreg_strdup(ev->description);
		m->type = ev->model_type;
		memcpy(m->created_at, ev->time, sizeof(m->created_at));
		if (!m->name || !m->description)
			return mreg_error_set(MREG_ERROR, "out of memory");
	}
	st->nversions++;
	st->stage_count[v->stage]++;
	if (m->type >= 0)
		st->type_count[m->type]++;
	if (v->stage == MREG_STAGE_PRODUCTION) {
		if ((rc = archive_production(st, m, v, ev)) < 0)
			return rc;
		return set_prod(m, v);
	}
	return 0;
}

static int apply_promoted(mreg_state *st, mreg_model *m, mreg_version *v, const mreg_event *ev)
{
	int rc;
	if (v->stage != ev->from) {
		char *msg = mreg_strfmt("cannot promote '%s:%d' to %s: it is in %s, not %s", m->id, v->version,
					mreg_stage_name(ev->to), mreg_stage_name(v->stage), mreg_stage_name(ev->from));
		rc = msg ? add_conflict(st, ev, v->version, msg) : mreg_error_set(MREG_ERROR, "out of memory");
		free(msg);
		return rc;
	}
	if (!mreg_stage_allowed(ev->from, ev->to)) {
		char *msg = mreg_strfmt("cannot transition from %s to %s", mreg_stage_name(ev->from),
					mreg_stage_name(ev->to));
		rc = msg ? add_conflict(st, ev, v->version, msg) : mreg_error_set(MREG_ERROR, "out of memory");
		free(msg);
		return rc;
	}
	if (ev->to == MREG_STAGE_PRODUCTION && (rc = archive_production(st, m, v, ev)) < 0)
		return rc;
	if ((rc = add_transition(v, ev->from, ev->to, ev->reason, ev)) < 0)
		return rc;
	move_stage(st, v, ev->to);
	memcpy(v->updated_at, ev->time, sizeof(v->updated_at));
	if (ev->to == MREG_STAGE_PRODUCTION)
		return set_prod(m, v);
	if (m->prod && m->prod->version == v->version)
		return set_prod(m, NULL);
	return 0;
}

/* ---- the rollback manager's records and the newer version events ---- */

static int conflictf(mreg_state *st, const mreg_event *ev, int version, const char *fmt, ...)
{
	mreg_buf b = MREG_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	mreg_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	int rc = mreg_buf_oom(&b) ? mreg_error_set(MREG_ERROR, "out of memory") : add_conflict(st, ev, version, b.ptr);
	mreg_buf_dispose(&b);
	return rc;
}

/* Put item under key in obj, keeping members sorted by key (replacing one of the same key). */
int mreg_json_put_sorted(cJSON **obj, const char *key, cJSON *item)
{
	if (!item || (!*obj && !(*obj = cJSON_CreateObject()))) {
		cJSON_Delete(item);
		return mreg_error_set(MREG_ERROR, "out of memory");
	}
	cJSON_DeleteItemFromObjectCaseSensitive(*obj, key);
	cJSON *after = NULL;
	for (cJSON *c = (*obj)->child; c && strcmp(c->string, key) < 0; c = c->next)
		after = c;
	if (!(item->string = mreg_strdup(key))) {
		cJSON_Delete(item);
		return mreg_error_set(MREG_ERROR, "out of memory");
	}
	/* link in after `after` (or first) */
	cJSON *head = (*obj)->child;
	if (!after) {
		item->next = head;
		item->prev = head ? head->prev : item;
		if (head)
			head->prev = item;
		(*obj)->child = item;
	} else {
		item->next = after->next;
		item->prev = after;
		if (after->next)
			after->next->prev = item;
		else
			head->prev = item;	/* the new last member */
		after->next = item;
	}
	return 0;
}

static cJSON *str_or_null(const char *s)
{
	return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static void add_body_member(cJSON *o, const char *key, const mreg_event *ev, const char *from)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev->body, from);
	cJSON_AddItemToObject(o, key, v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
}

static int apply_baseline(mreg_state *st, const mreg_event *ev)
{
	if (mreg_event_body_str(ev, "name"))
		return mreg_monitor_apply(st, ev);
	cJSON *b = cJSON_CreateObject();
	if (b) {
		add_body_member(b, "elo", ev, "elo");
		add_body_member(b, "win_rate", ev, "win_rate");
		add_body_member(b, "games_played", ev, "games_played");
		cJSON_AddStringToObject(b, "set_at", ev->time);
		cJSON_AddStringToObject(b, "set_by", ev->actor);
		cJSON_AddStringToObject(b, "event", ev->id);
	}
	return mreg_json_put_sorted(&st->baselines, ev->model, b);
}

static int apply_requested(mreg_state *st, const mreg_event *ev)
{
	cJSON *p = cJSON_CreateObject();
	if (p) {
		add_body_member(p, "severity", ev, "severity");
		add_body_member(p, "elo_drop", ev, "elo_drop");
		add_body_member(p, "reason", ev, "reason");
		cJSON_AddStringToObject(p, "requested_at", ev->time);
		cJSON_AddStringToObject(p, "requested_by", ev->actor);
		cJSON_AddStringToObject(p, "event", ev->id);
	}
	return mreg_json_put_sorted(&st->pending, ev->model, p);
}

static int apply_cleared(mreg_state *st, const mreg_event *ev)
{
	if (!cJSON_GetObjectItemCaseSensitive(st->pending, ev->model))
		return conflictf(st, ev, 0, "no rollback of '%s' is waiting for approval", ev->model);
	cJSON_DeleteItemFromObjectCaseSensitive(st->pending, ev->model);
	return 0;
}

/* One row of the rollback record; error NULL: it succeeded. */
static int record_rollback(mreg_state *st, const mreg_event *ev, const char *error)
{
	cJSON *r = cJSON_CreateObject();
	if (!r || (!st->rollbacks && !(st->rollbacks = cJSON_CreateArray()))) {
		cJSON_Delete(r);
		return mreg_error_set(MREG_ERROR, "out of memory");
	}
	cJSON_AddStringToObject(r, "model_id", ev->model);
	add_body_member(r, "from_version", ev, "from_version");
	cJSON_AddNumberToObject(r, "to_version", ev->version);
	add_body_member(r, "reason", ev, "reason");
	add_body_member(r, "triggered_by", ev, "trigger");
	cJSON_AddBoolToObject(r, "success", error == NULL);
	cJSON_AddItemToObject(r, "error_message", str_or_null(error));
	add_body_member(r, "from_metrics", ev, "from_metrics");
	add_body_member(r, "to_metrics", ev, "to_metrics");
	cJSON_AddStringToObject(r, "timestamp", ev->time);
	cJSON_AddStringToObject(r, "actor", ev->actor);
	cJSON_AddStringToObject(r, "event", ev->id);
	cJSON_AddItemToArray(st->rollbacks, r);
	return 0;
}

static int apply_rollback(mreg_state *st, mreg_model *m, const mreg_event *ev)
{
	int rc;
	int from_no = (int)mreg_event_body_num(ev, "from_version", 0);
	mreg_version *to = mreg_model_version_by_ref(m, ev->ref, ev->version);
	mreg_version *from = mreg_model_version_by_ref(m, mreg_event_body_str(ev, "from_ref"), from_no);
	mreg_buf why = MREG_BUF_INIT;
	if (!to || !from)
		mreg_buf_printf(&why, "cannot roll back '%s': it names an unknown version", m->id);
	else if (from->stage != MREG_STAGE_PRODUCTION)
		mreg_buf_printf(&why, "cannot roll back '%s': version %d is no longer in production", m->id,
				from->version);
	else if (to->stage != MREG_STAGE_ARCHIVED)
		mreg_buf_printf(&why, "cannot roll back '%s' to version %d: it is in %s, not archived", m->id,
				to->version, mreg_stage_name(to->stage));
	if (why.size || mreg_buf_oom(&why)) {
		rc = mreg_buf_oom(&why) ? mreg_error_set(MREG_ERROR, "out of memory") : record_rollback(st, ev, why.ptr);
		if (rc == 0)
			rc = add_conflict(st, ev, ev->version, why.ptr);
		mreg_buf_dispose(&why);
		return rc;
	}
	if ((rc = mreg_version_materialize(from)) < 0 || (rc = mreg_version_materialize(to)) < 0)
		return rc;
	const char *reason = mreg_event_body_str(ev, "reason");
	char *down = mreg_strfmt("Rolled back to %s:v%d%s%s", m->id, to->version, reason[0] ? ": " : "", reason);
	if (!down)
		return mreg_error_set(MREG_ERROR, "out of memory");
	rc = add_transition(from, MREG_STAGE_PRODUCTION, MREG_STAGE_ARCHIVED, down, ev);
	free(down);
	char *up = rc < 0 ? NULL : mreg_strfmt("Rollback from %s:v%d%s%s", m->id, from->version,
					       reason[0] ? ": " : "", reason);
	if (rc == 0 && !up)
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	if (rc == 0)
		rc = add_transition(to, MREG_STAGE_ARCHIVED, MREG_STAGE_PRODUCTION, up, ev);
	free(up);
	if (rc < 0)
		return rc;
	to->history[to->nhistory - 1].rollback = true;
	move_stage(st, from, MREG_STAGE_ARCHIVED);
	move_stage(st, to, MREG_STAGE_PRODUCTION);
	memcpy(from->updated_at, ev->time, sizeof(from->updated_at));
	memcpy(to->updated_at, ev->time, sizeof(to->updated_at));
	if ((rc = set_prod(m, to)) < 0 || (rc = record_rollback(st, ev, NULL)) < 0)
		return rc;
	/* as the original: a rollback ends the waiting request and the baseline it was judged by */
	cJSON_DeleteItemFromObjectCaseSensitive(st->pending, m->id);
	cJSON_DeleteItemFromObjectCaseSensitive(st->baselines, m->id);
	mreg_monitor_rolled_back(st, m->id, mreg_event_body_str(ev, "trigger"));
	return 0;
}

static const char *validation_status(const mreg_version *v)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(v->validation, "status");
	return cJSON_IsString(s) ? s->valuestring : NULL;
}

/*
 * The validation steps: which statuses each action may start from.
 * create starts a new validation from anything but running.
 * Keep in step with mreg_validation_allowed's user in fsstore/lifecycle.c.
 */
int mreg_validation_allowed(const char *status, const char *action)
{
	if (!strcmp(action, "create"))
		return !status || strcmp(status, "running");
	if (!status)
		return 0;
	if (!strcmp(action, "queue"))
		return !strcmp(status, "pending");
	if (!strcmp(action, "start"))
		return !strcmp(status, "pending") || !strcmp(status, "queued");
	return !strcmp(status, "pending") || !strcmp(status, "queued") || !strcmp(status, "running");
}

static int apply_validation(mreg_state *st, mreg_model *m, mreg_version *v, const mreg_event *ev)
{
	const char *action = mreg_event_body_str(ev, "action"), *status = validation_status(v);
	if (!mreg_validation_allowed(status, action))
		return conflictf(st, ev, v->version, "cannot %s the validation of '%s:%d': it is %s", action, m->id,
				 v->version, status ? status : "not created");
	static const char *const after[][2] = {
		{ "create", "pending" }, { "queue", "queued" }, { "start", "running" },
		{ "pass", "passed" }, { "fail", "failed" }
	};
	const char *to = NULL;
	for (size_t i = 0; i < sizeof(after) / sizeof(after[0]); i++)
		if (!strcmp(after[i][0], action))
			to = after[i][1];
	cJSON *val = v->validation;
	if (!strcmp(action, "create")) {
		cJSON *bl = cJSON_GetObjectItemCaseSensitive(ev->body, "baselines");
		val = cJSON_CreateObject();
		if (!val)
			return mreg_error_set(MREG_ERROR, "out of memory");
		cJSON_AddStringToObject(val, "status", to);
		cJSON_AddNullToObject(val, "work_id");
		cJSON_AddItemToObject(val, "baselines", bl ? cJSON_Duplicate(bl, 1) : cJSON_CreateArray());
		cJSON_AddNumberToObject(val, "games_per_matchup", mreg_event_body_num(ev, "games_per_matchup", 50));
		cJSON_AddNullToObject(val, "results");
		cJSON_AddNullToObject(val, "started_at");
		cJSON_AddNullToObject(val, "completed_at");
		mreg_validation_free(v->validation);
		v->validation = val;
		return 0;
	}
	int rc = mreg_validation_own(v);	/* changed in place below: the shared pending one is copied first */
	if (rc < 0)
		return rc;
	val = v->validation;
	cJSON_ReplaceItemInObjectCaseSensitive(val, "status", cJSON_CreateString(to));
	if (!strcmp(action, "queue"))
		cJSON_ReplaceItemInObjectCaseSensitive(val, "work_id",
						       cJSON_CreateString(mreg_event_body_str(ev, "work_id")));
	else if (!strcmp(action, "start"))
		cJSON_ReplaceItemInObjectCaseSensitive(val, "started_at", cJSON_CreateString(ev->time));
	else {
		const cJSON *res = cJSON_GetObjectItemCaseSensitive(ev->body, "results");
		if (res)
			cJSON_ReplaceItemInObjectCaseSensitive(val, "results", cJSON_Duplicate(res, 1));
		cJSON_ReplaceItemInObjectCaseSensitive(val, "completed_at", cJSON_CreateString(ev->time));
	}
	return 0;
}

/* The comparison object both versions show. */
static cJSON *comparison_object(const mreg_event *ev, const char *a, const char *b)
{
	double games = mreg_event_body_num(ev, "games", 0), aw = mreg_event_body_num(ev, "a_wins", 0),
	       bw = mreg_event_body_num(ev, "b_wins", 0), dr = mreg_event_body_num(ev, "draws", 0);
	double total = aw + bw + dr;
	cJSON *c = cJSON_CreateObject();
	if (!c)
		return NULL;
	cJSON_AddStringToObject(c, "model_a", a);
	cJSON_AddStringToObject(c, "model_b", b);
	cJSON_AddNumberToObject(c, "games", games);
	cJSON_AddNumberToObject(c, "a_wins", aw);
	cJSON_AddNumberToObject(c, "b_wins", bw);
	cJSON_AddNumberToObject(c, "draws", dr);
	cJSON_AddNumberToObject(c, "a_win_rate", total > 0 ? aw / total : 0);
	cJSON_AddNumberToObject(c, "b_win_rate", total > 0 ? bw / total : 0);
	cJSON_AddNumberToObject(c, "draw_rate", total > 0 ? dr / total : 0);
	add_body_member(c, "elo_diff", ev, "elo_diff");
	add_body_member(c, "notes", ev, "notes");
	cJSON_AddStringToObject(c, "compared_at", ev->time);
	cJSON_AddStringToObject(c, "event", ev->id);
	return c;
}

static int add_comparison(mreg_version *v, cJSON *c)
{
	if (!c || (!v->comparisons && !(v->comparisons = cJSON_CreateArray()))) {
		cJSON_Delete(c);
		return mreg_error_set(MREG_ERROR, "out of memory");
	}
	cJSON_AddItemToArray(v->comparisons, c);
	return 0;
}

static int apply_comparison(mreg_state *st, mreg_model *m, mreg_version *a, const mreg_event *ev)
{
	const char *bid = mreg_event_body_str(ev, "b_model");
	mreg_model *bm = mreg_state_model(st, bid);
	if (bm && !bm->loaded)
		return mreg_error_set(MREG_ERROR, "model '%s' is not loaded for event %s", bid, ev->id);
	int bno = (int)mreg_event_body_num(ev, "b_version", 0);
	mreg_version *b = bm ? mreg_model_version_by_ref(bm, mreg_event_body_str(ev, "b_ref"), bno) : NULL;
	if (!b)
		return conflictf(st, ev, a->version, "comparison of '%s:%d' names an unknown version '%s:%d'", m->id,
				 a->version, bid, bno);
	int rc = mreg_version_materialize(b);
	if (rc < 0)
		return rc;
	char *an = mreg_strfmt("%s:v%d", m->id, a->version), *bn = mreg_strfmt("%s:v%d", bid, b->version);
	if (!an || !bn)
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	if (rc == 0)
		rc = add_comparison(a, comparison_object(ev, an, bn));
	if (rc == 0)
		rc = add_comparison(b, comparison_object(ev, an, bn));
	free(an);
	free(bn);
	if (rc < 0)
		return rc;
	if (bm != m) {
		bm->dirty = true;
		memcpy(bm->updated_at, ev->time, sizeof(bm->updated_at));
		if (bm->prod && bm->prod->version == b->version && (rc = set_prod(bm, b)) < 0)
			return rc;
	}
	return 0;
}

static int apply_to_version(mreg_state *st, mreg_model *m, const mreg_event *ev)
{
	int rc = 0;
	mreg_version *v = mreg_model_version_by_ref(m, ev->ref, ev->version);
	if (!v) {
		char *msg = mreg_strfmt("%s for '%s:%d' names an unknown registration %s",
					mreg_event_type_name(ev->type), ev->model, ev->version, ev->ref);
		rc = msg ? add_conflict(st, ev, ev->version, msg) : mreg_error_set(MREG_ERROR, "out of memory");
		free(msg);
		return rc;
	}
	if ((rc = mreg_version_materialize(v)) < 0)
		return rc;
	switch (ev->type) {
	case MREG_EV_PROMOTED:
		return apply_promoted(st, m, v, ev);
	case MREG_EV_VALIDATION:
		rc = apply_validation(st, m, v, ev);
		break;
	case MREG_EV_COMPARISON:
		rc = apply_comparison(st, m, v, ev);
		break;
	case MREG_EV_METRICS:
		if (ev->replace) {
			memset(&v->metrics, 0, sizeof(v->metrics));
			v->metrics.present = 1u << MREG_METRIC_GAMES_PLAYED;
		}
		mreg_metrics_merge(&v->metrics, &ev->metrics);
		break;
	case MREG_EV_TAGGED:
		for (size_t i = 0; i < ev->ntags && rc == 0; i++)
			rc = insert_tag(v, ev->tags[i]);
		break;
	case MREG_EV_UNTAGGED:
		for (size_t i = 0; i < ev->ntags; i++)
			remove_tag(v, ev->tags[i]);
		break;
	default:
		break;
	}
	/* as the original: a version's updated_at moves with its stage and its metrics only */
	if (rc == 0 && ev->type == MREG_EV_METRICS)
		memcpy(v->updated_at, ev->time, sizeof(v->updated_at));
	return rc;	/* 0 applied, 1 a conflict, <0 error */
}

/*
 * After an event of a bulk fold: invariant 3 for the versions it can have
 * changed (its own, the last one, production before and after), and 1 and
 * 2 where it can have broken them. The whole model is checked at the end.
 */
static int check_touched(const mreg_model *m, const mreg_event *ev, int prod_before)
{
	int prod = m->prod ? m->prod->version : 0, rc;
	int touched[4] = { mreg_event_has_version(ev) ? ev->version : 0, prod_before, prod,
			   m->nversions ? m->versions[m->nversions - 1].version : 0 };
	for (size_t k = 0; k < 4; k++) {
		const mreg_version *v = touched[k] > 0 ? mreg_model_version(m, touched[k]) : NULL;
		if (v && (rc = mreg_state_check_version(m, v)) < 0)
			return rc;
	}
	const mreg_version *now = prod ? mreg_model_version(m, prod) : NULL;
	const mreg_version *before = prod_before && prod_before != prod ? mreg_model_version(m, prod_before) : NULL;
	if ((prod && (!now || now->stage != MREG_STAGE_PRODUCTION)) || (before && before->stage == MREG_STAGE_PRODUCTION))
		return mreg_error_set(MREG_ECORRUPT, "invariant 1 broken in '%s': production is not the summary's %d",
				      m->id, prod);
	int n = m->nversions;
	if (n && (m->latest != m->versions[n - 1].version || (n > 1 && m->versions[n - 2].version >= m->latest)))
		return mreg_error_set(MREG_ECORRUPT, "invariant 2 broken in '%s': latest is wrong", m->id);
	return 0;
}

static int apply(mreg_state *st, const mreg_event *ev, bool bulk)
{
	mreg_model *m = mreg_state_model(st, ev->model);
	int rc, prod_before = 0;

	if (st->nevents && (ev->clock < st->clock || (ev->clock == st->clock && strcmp(ev->id, st->last_event) <= 0)))
		return mreg_error_set(MREG_ERROR, "event %s applied out of (clock, id) order", ev->id);
	if (ev->clock > st->nfiles + MREG_CLOCK_SLACK) {
		char path[MREG_EVENT_PATH_MAX];
		mreg_event_path(path, ev->id);
		char *msg = mreg_strfmt("clock %lld is more than %d past the number of event files", (long long)ev->clock,
					MREG_CLOCK_SLACK);
		rc = msg ? mreg_state_quarantine(st, path, msg) : mreg_error_set(MREG_ERROR, "out of memory");
		free(msg);
		if (rc == 0 && (!st->forged_clock || ev->clock < st->forged_clock))
			st->forged_clock = ev->clock;
		return rc;
	}
	if (m && !m->loaded)
		return mreg_error_set(MREG_ERROR, "model '%s' is not loaded for event %s", ev->model, ev->id);
	if (!m && (ev->type == MREG_EV_BASELINE || ev->type == MREG_EV_QUALITY)) {
		/* as the original: a baseline (or a quality report) may come ahead of the model's first registration */
		rc = ev->type == MREG_EV_BASELINE ? apply_baseline(st, ev) : mreg_monitor_apply(st, ev);
		goto counted;
	}
	if (!m) {
		if (ev->type != MREG_EV_REGISTERED) {
			char *msg = mreg_strfmt("%s for '%s:%d' names an unknown model", mreg_event_type_name(ev->type),
						ev->model, ev->version);
			rc = msg ? add_conflict(st, ev, ev->version, msg) : mreg_error_set(MREG_ERROR, "out of memory");
			free(msg);
			goto counted;
		}
		if ((rc = mreg_state_model_add(&m, st, ev->model)) < 0)
			return rc;
	}
	prod_before = m->prod ? m->prod->version : 0;
	switch (ev->type) {
	case MREG_EV_REGISTERED:
		rc = apply_registered(st, m, ev);
		break;
	case MREG_EV_BASELINE:
		rc = apply_baseline(st, ev);
		break;
	case MREG_EV_ROLLBACK_REQUESTED:
		rc = apply_requested(st, ev);
		break;
	case MREG_EV_ROLLBACK_CLEARED:
		rc = apply_cleared(st, ev);
		break;
	case MREG_EV_ROLLBACK:
		rc = apply_rollback(st, m, ev);
		break;
	case MREG_EV_QUALITY:
	case MREG_EV_CHECKED:
		rc = mreg_monitor_apply(st, ev);
		break;
	default:
		rc = apply_to_version(st, m, ev);
		break;
	}
	if (rc < 0)
		return rc;
	if (rc > 0)
		goto counted;
	m->dirty = true;
	m->clock = ev->clock;
	memcpy(m->last_event, ev->id, sizeof(m->last_event));
	memcpy(m->updated_at, ev->time, sizeof(m->updated_at));
	/* the copy follows metric and tag changes (a comparison's B in production: apply_comparison) */
	if (m->prod && mreg_event_has_version(ev) && ev->version == m->prod->version &&
	    (rc = set_prod(m, mreg_model_version(m, m->prod->version))) < 0)
		return rc;
	if ((rc = bulk ? check_touched(m, ev, prod_before) : mreg_state_check_model(m)) < 0)
		return rc;
counted:
	if (rc < 0)
		return rc;

	st->nevents++;
	st->by_type[ev->type]++;
	st->clock = ev->clock;
	memcpy(st->last_event, ev->id, sizeof(st->last_event));
	return 0;
}

int mreg_fold_apply(mreg_state *st, const mreg_event *ev)
{
	return apply(st, ev, false);
}

int mreg_fold_apply_bulk(mreg_state *st, const mreg_event *ev)
{
	return apply(st, ev, true);
}

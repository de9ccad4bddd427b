/*
 * The rollback manager, validations, comparisons and the auto-promoter as
 * transactions (see store.h). Each checks its request against the state
 * under the lock, so a refused request writes nothing, and writes one event.
 * The decisions themselves are core/lifecycle.c's.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

int mreg_registry_policy(mreg_policy *out, mreg_registry *reg)
{
	cJSON *doc = NULL;
	mreg_policy p = MREG_POLICY_INIT;
	int rc = mreg_head_policy_doc(&doc, reg);
	*out = p;
	if (rc == 0 && doc && (rc = mreg_policy_from_json(&p, doc, reg->path)) == 0)
		*out = p;
	cJSON_Delete(doc);
	return rc;
}

static cJSON *metrics_json(const mreg_metrics *m)
{
	cJSON *o = cJSON_CreateObject();
	for (int i = 0; o && i < MREG_METRIC_COUNT; i++)
		if (m->present & (1u << i))
			cJSON_AddNumberToObject(o, mreg_metric_name((mreg_metric)i), m->v[i]);
	return o;
}

/* An event about a whole model: type, model and an empty body. */
static int model_event(mreg_event *ev, mreg_event_type type, const char *model)
{
	ev->type = type;
	if (!(ev->model = mreg_strdup(model)) || !(ev->body = cJSON_CreateObject()))
		return mreg_error_set(MREG_ERROR, "out of memory");
	return 0;
}

/* A loaded model that has versions; MREG_ENOTFOUND otherwise. */
static int find_model(mreg_model **out, mreg_state *st, const char *model)
{
	mreg_model *m = mreg_state_model(st, model);
	if (!m || m->nversions == 0)
		return mreg_error_set(MREG_ENOTFOUND, "model not found: '%s'", model);
	*out = m;
	return 0;
}

const char *mreg_baseline_name_problem(const char *name)
{
	size_t n = strlen(name);
	if (n == 0)
		return "empty";
	if (n > 64)
		return "longer than 64 bytes";
	if (strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n)
		return "use letters, digits, '.', '_' and '-'";
	return NULL;
}

int mreg_baseline_set(mreg_registry *reg, const char *model, const char *name, const mreg_metrics *given)
{
	static const mreg_metric keys[] = { MREG_METRIC_ELO, MREG_METRIC_WIN_RATE, MREG_METRIC_GAMES_PLAYED };
	static const char *const names[] = { "elo", "win_rate", "games_played" };
	mreg_txn t;
	mreg_model *m = NULL;
	int rc;

	if ((rc = mreg_txn_begin(&t, reg, model)) < 0)
		return rc;
	/* a model not registered yet may have a baseline, given in full (the original accepts it) */
	m = mreg_state_model(t.st, model);
	if ((rc = mreg_id_check(model)) < 0 || (rc = model_event(&t.ev, MREG_EV_BASELINE, model)) < 0)
		goto done;
	if (name && mreg_baseline_name_problem(name)) {
		rc = mreg_error_set(MREG_EINVALID, "invalid baseline name '%s': %s", name, mreg_baseline_name_problem(name));
		goto done;
	}
	mreg_buf_printf(&t.summary, "baseline %s%s%s", model, name ? " " : "", name ? name : "");
	for (size_t i = 0; i < 3; i++) {
		const mreg_metrics *from = given && (given->present & (1u << keys[i])) ? given
					   : m && m->prod ? &m->prod->metrics : NULL;
		if (!from) {
			rc = mreg_error_set(MREG_EINVALID,
					    "cannot set a baseline for '%s': no version is in production; give --elo, --win-rate and --games",
					    model);
			goto done;
		}
		if (!(from->present & (1u << keys[i])))
			continue;	/* the production version has no such metric */
		cJSON_AddNumberToObject(t.ev.body, names[i], from->v[keys[i]]);
		mreg_buf_printf(&t.summary, " %s=%g", names[i], from->v[keys[i]]);
	}
	if (name)
		cJSON_AddStringToObject(t.ev.body, "name", name);
	rc = mreg_txn_commit(&t, NULL, 0);
done:
	mreg_txn_end(&t);
	return rc;
}

/* The rollback a transaction holding model would write, checked; the event is filled. */
static int build_rollback(mreg_event *ev, mreg_txn *t, const char *model, int to, const char *reason,
			  const char *trigger, int *from_out, int *to_out)
{
	mreg_model *m = NULL;
	int rc;
	if ((rc = find_model(&m, t->st, model)) < 0)
		return rc;
	if (!m->prod)
		return mreg_error_set(MREG_ETRANSITION, "cannot roll back '%s': no version is in production", model);
	const mreg_version *target;
	if (to) {
		target = mreg_model_version(m, to);
		if (!target)
			return mreg_error_set(MREG_ENOTFOUND, "cannot roll back '%s' to version %d: no such version", model,
					      to);
		if (target->stage != MREG_STAGE_ARCHIVED)
			return mreg_error_set(MREG_ETRANSITION, "cannot roll back '%s' to version %d: it is in %s, not archived",
					      model, to, mreg_stage_name(target->stage));
	} else if (!(target = mreg_rollback_candidate(m))) {
		return mreg_error_set(MREG_ETRANSITION, "cannot roll back '%s': no rollback candidate found (no version is archived)",
				      model);
	}
	const mreg_version *from = mreg_model_version(m, m->prod->version);
	if (!from)
		return mreg_error_set(MREG_ECORRUPT, "production version %d of '%s' is missing", m->prod->version, model);
	/* the monitor's policy, from the rollbacks in the log: cooldown, daily limit */
	mreg_policy p;
	mreg_buf why = MREG_BUF_INIT;
	if ((rc = mreg_registry_policy(&p, t->reg)) < 0)
		return rc;
	if (mreg_rollback_allowed(&why, t->st, model, trigger, mreg_fs_now_usec(), &p) == 1) {
		rc = mreg_error_set(MREG_ETRANSITION, "cannot roll back '%s' automatically: %s", model, why.ptr);
		mreg_buf_dispose(&why);
		return rc;
	}
	mreg_buf_dispose(&why);
	mreg_ref r;
	memset(&r, 0, sizeof(r));
	strcpy(r.model, model);
	if ((rc = mreg_txn_version_envelope(ev, &r, target, MREG_EV_ROLLBACK)) < 0)
		return rc;
	cJSON_AddStringToObject(ev->body, "from_ref", from->ref);
	cJSON_AddNumberToObject(ev->body, "from_version", from->version);
	cJSON_AddStringToObject(ev->body, "reason", reason ? reason : "Manual rollback");
	cJSON_AddStringToObject(ev->body, "trigger", trigger ? trigger : "manual");
	cJSON_AddItemToObject(ev->body, "from_metrics", metrics_json(&from->metrics));
	cJSON_AddItemToObject(ev->body, "to_metrics", metrics_json(&target->metrics));
	if (from_out)
		*from_out = from->version;
	if (to_out)
		*to_out = target->version;
	return 0;
}

static int commit_rollback(mreg_txn *t)
{
	const mreg_event *ev = &t->ev;
	mreg_buf_printf(&t->summary, "rollback %s:%d -> %s:%d (%s): %s", ev->model,
			(int)mreg_event_body_num(ev, "from_version", 0), ev->model, ev->version,
			mreg_event_body_str(ev, "trigger"), mreg_event_body_str(ev, "reason"));
	return mreg_txn_commit(t, NULL, 0);
}

int mreg_rollback(int *from_out, int *to_out, mreg_registry *reg, const char *model, int to, const char *reason,
		  const char *trigger)
{
	mreg_txn t;
	int rc;
	if ((rc = mreg_txn_begin(&t, reg, model)) < 0)
		return rc;
	if ((rc = build_rollback(&t.ev, &t, model, to, reason, trigger, from_out, to_out)) == 0)
		rc = commit_rollback(&t);
	mreg_txn_end(&t);
	return rc;
}

int mreg_rollback_plan(int *from_out, int *to_out, mreg_registry *reg, const char *model, int to)
{
	mreg_txn t;
	int rc;
	if ((rc = mreg_txn_begin(&t, reg, model)) < 0)
		return rc;
	rc = build_rollback(&t.ev, &t, model, to, "dry run", "manual", from_out, to_out);	/* checked, never committed */
	mreg_txn_end(&t);
	return rc;
}

int mreg_rollback_request(mreg_registry *reg, const char *model, const char *severity, double elo_drop,
			  const char *reason)
{
	mreg_txn t;
	mreg_model *m = NULL;
	int rc;
	if ((rc = mreg_txn_begin(&t, reg, model)) < 0)
		return rc;
	if ((rc = find_model(&m, t.st, model)) < 0)
		goto done;
	if (!m->prod) {
		rc = mreg_error_set(MREG_ETRANSITION, "cannot ask to roll back '%s': no version is in production", model);
		goto done;
	}
	if ((rc = model_event(&t.ev, MREG_EV_ROLLBACK_REQUESTED, model)) < 0)
		goto done;
	cJSON_AddStringToObject(t.ev.body, "severity", severity);
	cJSON_AddNumberToObject(t.ev.body, "elo_drop", elo_drop);
	cJSON_AddStringToObject(t.ev.body, "reason", reason);
	mreg_buf_printf(&t.summary, "rollback requested for %s (%s regression, elo drop %g): waits for approval",
			model, severity, elo_drop);
	rc = mreg_txn_commit(&t, NULL, 0);
done:
	mreg_txn_end(&t);
	return rc;
}

int mreg_rollback_clear(mreg_registry *reg, const char *model, const char *reason)
{
	mreg_txn t;
	int rc;
	if ((rc = mreg_txn_begin(&t, reg, model)) < 0)
		return rc;
	if (!cJSON_GetObjectItemCaseSensitive(t.st->pending, model)) {
		rc = mreg_error_set(MREG_ENOTFOUND, "no pending rollback for '%s'", model);
		goto done;
	}
	if ((rc = model_event(&t.ev, MREG_EV_ROLLBACK_CLEARED, model)) < 0)
		goto done;
	cJSON_AddStringToObject(t.ev.body, "reason", reason ? reason : "");
	mreg_buf_printf(&t.summary, "rollback request for %s cleared", model);
	rc = mreg_txn_commit(&t, NULL, 0);
done:
	mreg_txn_end(&t);
	return rc;
}

int mreg_rollback_approve(int *from_out, int *to_out, mreg_buf *reason_out, mreg_registry *reg, const char *model)
{
	mreg_txn t;
	char *reason = NULL;
	int rc;
	if ((rc = mreg_txn_begin(&t, reg, model)) < 0)
		return rc;
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(t.st->pending, model);
	const cJSON *why = cJSON_GetObjectItemCaseSensitive(p, "reason");
	if (!p) {
		rc = mreg_error_set(MREG_ENOTFOUND, "no pending rollback for '%s'", model);
		goto done;
	}
	reason = mreg_strfmt("Approved rollback: %s", cJSON_IsString(why) && why->valuestring[0]
							      ? why->valuestring
							      : "SEVERE regression - manual approval");
	if (!reason) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	if ((rc = build_rollback(&t.ev, &t, model, 0, reason, "auto_regression_approved", from_out, to_out)) == 0)
		rc = commit_rollback(&t);
	if (rc == 0 && reason_out)
		mreg_buf_puts(reason_out, reason);
done:
	mreg_txn_end(&t);
	free(reason);
	return rc;
}

int mreg_quality_report(mreg_registry *reg, const char *model, double score, const char *reason)
{
	mreg_txn t;
	mreg_policy p;
	int rc;
	if (!(score >= 0 && score <= 1))
		return mreg_error_set(MREG_EINVALID, "invalid quality score for '%s': expected a number from 0 to 1", model);
	if ((rc = mreg_id_check(model)) < 0 || (rc = mreg_registry_policy(&p, reg)) < 0)
		return rc;
	if ((rc = mreg_txn_begin(&t, reg, model)) < 0)
		return rc;
	if ((rc = model_event(&t.ev, MREG_EV_QUALITY, model)) == 0) {
		cJSON_AddNumberToObject(t.ev.body, "score", score);
		cJSON_AddNumberToObject(t.ev.body, "threshold", p.quality_critical_threshold);
		cJSON_AddStringToObject(t.ev.body, "reason", reason ? reason : "");
		mreg_buf_printf(&t.summary, "quality %s %.3f (%s %.3f)", model, score,
				score < p.quality_critical_threshold ? "below" : "at or above", p.quality_critical_threshold);
		rc = mreg_txn_commit(&t, NULL, 0);
	}
	mreg_txn_end(&t);
	return rc;
}

int mreg_quality_rollback(mreg_monitor_outcome *out, int *from_out, int *to_out, mreg_buf *why, mreg_registry *reg,
			  const char *model, bool dry_run)
{
	mreg_txn t;
	mreg_policy p;
	double minutes;
	int rc;
	*out = MREG_MONITOR_NOTHING;
	if ((rc = mreg_registry_policy(&p, reg)) < 0 || (rc = mreg_txn_begin(&t, reg, model)) < 0)
		return rc;
	if (mreg_quality_due(why, &minutes, t.st, model, mreg_fs_now_usec(), &p) == 1) {
		if (!p.auto_rollback_enabled) {
			*out = MREG_MONITOR_NOT_MADE;
		} else if ((rc = build_rollback(&t.ev, &t, model, 0, why->ptr, "auto_quality", from_out, to_out)) == 0) {
			*out = MREG_MONITOR_ROLLED_BACK;
			if (!dry_run)
				rc = commit_rollback(&t);
		}
	}
	mreg_txn_end(&t);
	return rc;
}

int mreg_rollback_checked(int *seen, mreg_registry *reg, const char *model, bool degraded, const char *reason)
{
	mreg_txn t;
	mreg_model *m = NULL;
	int rc;
	if ((rc = mreg_txn_begin(&t, reg, model)) < 0)
		return rc;
	int run = mreg_monitor_regressions(t.st, model);
	*seen = degraded ? run + 1 : 0;
	if ((!degraded && run == 0) || (rc = find_model(&m, t.st, model)) < 0 ||
	    (rc = model_event(&t.ev, MREG_EV_CHECKED, model)) < 0)
		goto done;
	cJSON_AddBoolToObject(t.ev.body, "degraded", degraded);
	cJSON_AddStringToObject(t.ev.body, "reason", reason);
	mreg_buf_printf(&t.summary, "rollback check of %s: %s (%d in a row)", model, degraded ? "degraded" : "within range",
			*seen);
	rc = mreg_txn_commit(&t, NULL, 0);
done:
	mreg_txn_end(&t);
	return rc;
}

int mreg_regression(mreg_regression_action *action, mreg_buf *out, int *from_out, int *to_out, mreg_registry *reg,
		    const char *model, const char *severity, double elo_drop, const char *reason, int approval)
{
	mreg_policy p;
	const char *trigger;
	int rc;
	if ((rc = mreg_registry_policy(&p, reg)) < 0)
		return rc;
	if (approval >= 0)
		p.require_approval = approval != 0;
	if ((rc = mreg_regression_decide(action, out, &trigger, severity, elo_drop, reason, &p)) < 0)
		return rc;
	if (*action == MREG_REGRESSION_ROLLBACK)
		return mreg_rollback(from_out, to_out, reg, model, 0, out->ptr, trigger);
	if (*action == MREG_REGRESSION_WAIT)
		return mreg_rollback_request(reg, model, severity, elo_drop, reason);
	/* nothing to do, but the model must exist for the answer to mean anything */
	mreg_state *st = NULL;
	if ((rc = mreg_read_model(&st, reg, model, 0)) == 0 && !mreg_state_model(st, model))
		rc = mreg_error_set(MREG_ENOTFOUND, "model not found: '%s'", model);
	mreg_state_free(st);
	return rc;
}

int mreg_validation_step(mreg_registry *reg, const mreg_ref *ref, const mreg_validation_opts *o)
{
	mreg_version *v;
	mreg_txn t;
	int rc;
	if ((rc = mreg_txn_begin_on_version(&t, &v, reg, ref)) < 0)
		return rc;
	if ((rc = mreg_version_materialize(v)) < 0)
		goto done;
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(v->validation, "status");
	const char *status = cJSON_IsString(s) ? s->valuestring : NULL;
	if (!mreg_validation_allowed(status, o->action)) {
		rc = mreg_error_set(MREG_ETRANSITION, "cannot %s the validation of '%s:%d': it is %s", o->action,
				    ref->model, v->version, status ? status : "not created (run 'validation create')");
		goto done;
	}
	if ((rc = mreg_txn_version_envelope(&t.ev, ref, v, MREG_EV_VALIDATION)) < 0)
		goto done;
	cJSON_AddStringToObject(t.ev.body, "action", o->action);
	if (!strcmp(o->action, "create")) {
		cJSON *bl = cJSON_CreateArray();
		for (size_t i = 0; bl && i < o->nbaselines; i++)
			cJSON_AddItemToArray(bl, cJSON_CreateString(o->baselines[i]));
		cJSON_AddItemToObject(t.ev.body, "baselines", bl);
		cJSON_AddNumberToObject(t.ev.body, "games_per_matchup", o->games_per_matchup ? o->games_per_matchup : 50);
	}
	if (!strcmp(o->action, "queue"))
		cJSON_AddStringToObject(t.ev.body, "work_id", o->work_id ? o->work_id : "");
	if (o->results && (!strcmp(o->action, "pass") || !strcmp(o->action, "fail")))
		cJSON_AddItemToObject(t.ev.body, "results", cJSON_Duplicate(o->results, 1));
	mreg_buf_printf(&t.summary, "validation %s %s:%d", o->action, ref->model, v->version);
	rc = mreg_txn_commit(&t, NULL, 0);
done:
	mreg_txn_end(&t);
	return rc;
}

int mreg_compare_record(cJSON **out, mreg_registry *reg, const mreg_ref *a, const mreg_ref *b,
			const mreg_comparison_opts *o)
{
	mreg_version *va, *vb;
	mreg_model *mb;
	mreg_txn t;
	int rc;
	*out = NULL;
	if ((rc = mreg_txn_begin_on_version(&t, &va, reg, a)) < 0)
		return rc;
	if ((rc = mreg_cache_load_model(t.st, reg, b->model)) < 0 || (rc = mreg_query_version(&mb, &vb, t.st, b)) < 0)
		goto done;
	if (vb == va) {
		rc = mreg_error_set(MREG_EINVALID, "cannot compare '%s:%d' with itself", a->model, va->version);
		goto done;
	}
	if ((rc = mreg_txn_version_envelope(&t.ev, a, va, MREG_EV_COMPARISON)) < 0)
		goto done;
	cJSON_AddStringToObject(t.ev.body, "b_model", b->model);
	cJSON_AddStringToObject(t.ev.body, "b_ref", vb->ref);
	cJSON_AddNumberToObject(t.ev.body, "b_version", vb->version);
	cJSON_AddNumberToObject(t.ev.body, "games", (double)o->games);
	cJSON_AddNumberToObject(t.ev.body, "a_wins", (double)o->a_wins);
	cJSON_AddNumberToObject(t.ev.body, "b_wins", (double)o->b_wins);
	cJSON_AddNumberToObject(t.ev.body, "draws", (double)o->draws);
	if (o->has_elo_diff)
		cJSON_AddNumberToObject(t.ev.body, "elo_diff", o->elo_diff);
	if (o->notes)
		cJSON_AddStringToObject(t.ev.body, "notes", o->notes);
	int bver = vb->version;
	mreg_buf_printf(&t.summary, "compare %s:%d vs %s:%d: %lld-%lld-%lld of %lld", a->model, va->version, b->model, bver,
			      (long long)o->a_wins, (long long)o->b_wins, (long long)o->draws, (long long)o->games);
	if ((rc = mreg_txn_commit(&t, NULL, 0)) < 0)
		goto done;
	/* the object as the fold made it: the last comparison of version a */
	const mreg_model *ma = mreg_state_model(t.st, a->model);
	const mreg_version *fa = ma ? mreg_model_version_by_ref(ma, t.ev.ref, t.ev.version) : NULL;
	const cJSON *last = fa && fa->comparisons ? cJSON_GetArrayItem(fa->comparisons,
								       cJSON_GetArraySize(fa->comparisons) - 1) : NULL;
	if (last)
		*out = cJSON_Duplicate(last, 1);
done:
	mreg_txn_end(&t);
	return rc;
}

int mreg_auto_promote(mreg_stage *to_out, mreg_buf *out, mreg_registry *reg, const mreg_ref *ref,
		      const mreg_policy *p)
{
	mreg_version *v;
	mreg_txn t;
	int rc;
	*to_out = MREG_STAGE_NONE;
	if ((rc = mreg_txn_begin_on_version(&t, &v, reg, ref)) < 0)
		return rc;
	mreg_stage to = mreg_auto_promote_decide(out, mreg_state_model(t.st, ref->model), v, p);
	/* not promoting is a decision, not an error: nothing is written */
	if (to != MREG_STAGE_NONE && (rc = mreg_txn_promote(&t, ref, v, to, out->ptr, "auto-promoter")) == 0)
		*to_out = to;
	mreg_txn_end(&t);
	return rc;
}

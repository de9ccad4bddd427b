/*
 * The C API's lifecycle methods (see capi.c): the rollback manager and its
 * record, regressions, baselines, the quality watch, comparisons,
 * validations, the auto-promoter, CMA-ES results and the registry's
 * policy. Each answers with the object the matching `--json` command
 * prints; the decisions are the library's, as the CLI's are.
 */
#include "capi.h"

#include <stdlib.h>
#include <string.h>

/* rollback {model, to, reason, trigger, dry_run, actor} */
static int m_rollback(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	const char *model, *reason, *trigger;
	int to, from_v = 0, to_v = 0, rc;
	bool dry;
	mreg_registry *reg = NULL;
	if ((rc = mreg_arg_str(&model, a, "model", true)) < 0 || (rc = mreg_id_check(model)) < 0 ||
	    (rc = mreg_arg_int(&to, a, "to", 0, 0, 1 << 30)) < 0 || (rc = mreg_arg_str(&reason, a, "reason", false)) < 0 ||
	    (rc = mreg_arg_str(&trigger, a, "trigger", false)) < 0 || (rc = mreg_arg_bool(&dry, a, "dry_run")) < 0)
		return rc;
	if (dry) {
		if ((rc = mreg_rollback_plan(&from_v, &to_v, mreg_handle_reader(h), model, to)) < 0)
			return rc;
		mreg_jsonw_obj_begin(w, NULL);
		mreg_jsonw_bool(w, "dry_run", true);
		mreg_jsonw_str(w, "model_id", model);
		mreg_jsonw_int(w, "from_version", from_v);
		mreg_jsonw_int(w, "to_version", to_v);
		mreg_jsonw_obj_end(w);
		return 0;
	}
	if ((rc = mreg_handle_writer(&reg, h, a)) == 0)
		rc = mreg_rollback(&from_v, &to_v, reg, model, to, reason, trigger);
	mreg_registry_free(reg);
	if (rc == 0)
		mreg_rolled_back_write(w, model, from_v, to_v, reason ? reason : "Manual rollback", trigger ? trigger : "manual");
	return rc;
}

/* The policy, with a call's threshold overrides (rollback_check). */
static int policy_of(mreg_policy *p, mreg_handle *h, const mreg_call_args *a)
{
	bool given;
	int rc;
	if ((rc = mreg_registry_policy(p, mreg_handle_reader(h))) < 0 ||
	    (rc = mreg_arg_num(&p->elo_drop_threshold, &given, a, "elo_drop_threshold", 0, 1e6)) < 0 ||
	    (rc = mreg_arg_num(&p->win_rate_drop_threshold, &given, a, "win_rate_drop_threshold", 0, 1)) < 0 ||
	    (rc = mreg_arg_num(&p->min_games_for_evaluation, &given, a, "min_games_for_evaluation", 0, 1e12)) < 0)
		return rc;
	return 0;
}

/* rollback_check {model, metrics: {elo, win_rate, games_played}, thresholds}: {should_rollback, reason, check} */
static int m_rollback_check(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	const char *model;
	const mreg_state *st;
	mreg_metrics given, cur;
	mreg_policy p;
	mreg_buf why = MREG_BUF_INIT, check = MREG_BUF_INIT;
	int rc;
	if ((rc = mreg_arg_str(&model, a, "model", true)) < 0 || (rc = mreg_id_check(model)) < 0 ||
	    (rc = mreg_arg_metrics(&given, a, "metrics")) < 0 || (rc = policy_of(&p, h, a)) < 0 ||
	    (rc = mreg_handle_state(&st, h)) < 0)
		return rc;
	mreg_model *m = mreg_state_model(st, model);
	if (m && !m->nversions)
		m = NULL;	/* a model the registry has not seen: not in production, as the original answers */
	memset(&cur, 0, sizeof(cur));
	if (m && m->prod)
		cur = m->prod->metrics;
	mreg_metrics_merge(&cur, &given);
	rc = mreg_should_rollback(&why, &check, st, m, &cur, &p);
	mreg_jsonw_obj_begin(w, NULL);
	mreg_jsonw_bool(w, "should_rollback", rc == 1);
	mreg_jsonw_str(w, "reason", why.ptr);
	mreg_jsonw_str(w, "check", check.size ? check.ptr : NULL);
	mreg_jsonw_obj_end(w);
	mreg_buf_dispose(&why);
	mreg_buf_dispose(&check);
	return 0;
}

/* rollback_history {model, limit}, rollback_stats, rollback_pending: the record, as the CLI's --json */
static int m_record(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	const mreg_state *st;
	int rc;
	if ((rc = mreg_handle_state(&st, h)) < 0)
		return rc;
	if (!strcmp(a->method, "rollback_history")) {
		const char *model;
		int limit;
		if ((rc = mreg_arg_str(&model, a, "model", false)) < 0 || (rc = mreg_arg_int(&limit, a, "limit", 20, 0, 1 << 30)) < 0)
			return rc;
		mreg_rollback_history_write(w, st, model, limit);
	} else if (!strcmp(a->method, "rollback_stats")) {
		mreg_rollback_stats s;
		if ((rc = mreg_rollback_stats_of(&s, st, mreg_fs_now_usec())) < 0)
			return rc;
		mreg_rollback_stats_write(w, &s);
		mreg_rollback_stats_dispose(&s);
	} else if (st->pending) {
		mreg_jsonw_value(w, NULL, st->pending);
	} else {
		mreg_jsonw_obj_begin(w, NULL);
		mreg_jsonw_obj_end(w);
	}
	return 0;
}

/* rollback_approve {model}, rollback_clear {model, reason} */
static int m_pending(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	const char *model, *reason;
	mreg_registry *reg = NULL;
	mreg_buf why = MREG_BUF_INIT;
	int from_v = 0, to_v = 0, rc;
	if ((rc = mreg_arg_str(&model, a, "model", true)) < 0 || (rc = mreg_id_check(model)) < 0 ||
	    (rc = mreg_arg_str(&reason, a, "reason", false)) < 0 || (rc = mreg_handle_writer(&reg, h, a)) < 0)
		return rc;
	if (!strcmp(a->method, "rollback_approve")) {
		if ((rc = mreg_rollback_approve(&from_v, &to_v, &why, reg, model)) == 0)
			mreg_rolled_back_write(w, model, from_v, to_v, why.ptr, "auto_regression_approved");
	} else if ((rc = mreg_rollback_clear(reg, model, reason)) == 0) {
		mreg_jsonw_obj_begin(w, NULL);
		mreg_jsonw_bool(w, "cleared", true);
		mreg_jsonw_str(w, "model_id", model);
		mreg_jsonw_obj_end(w);
	}
	mreg_buf_dispose(&why);
	mreg_registry_free(reg);
	return rc;
}

/* regression {model, severity, elo_drop, reason, require_approval}: {model_id, action, reason[, from, to]} */
static int m_regression(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	const char *model, *severity, *reason;
	const cJSON *approval = cJSON_GetObjectItemCaseSensitive(a->args, "require_approval");
	double drop = 0;
	bool given;
	mreg_registry *reg = NULL;
	mreg_regression_action act;
	mreg_buf why = MREG_BUF_INIT, dflt = MREG_BUF_INIT;
	int from_v = 0, to_v = 0, rc;
	if ((rc = mreg_arg_str(&model, a, "model", true)) < 0 || (rc = mreg_id_check(model)) < 0 ||
	    (rc = mreg_arg_str(&severity, a, "severity", true)) < 0 || (rc = mreg_arg_num(&drop, &given, a, "elo_drop", -1e6, 1e6)) < 0 ||
	    (rc = mreg_arg_str(&reason, a, "reason", false)) < 0)
		return rc;
	if (approval && !cJSON_IsBool(approval) && !cJSON_IsNull(approval))
		return mreg_error_set(MREG_EINVALID, "invalid 'require_approval' for regression: expected true, false or null");
	mreg_buf_printf(&dflt, "Elo dropped by %g", drop);
	if ((rc = mreg_handle_writer(&reg, h, a)) == 0)
		rc = mreg_regression(&act, &why, &from_v, &to_v, reg, model, severity, drop, reason ? reason : dflt.ptr,
				     cJSON_IsBool(approval) ? cJSON_IsTrue(approval) : -1);
	if (rc == 0)
		mreg_regression_write(w, model, act, why.ptr, from_v, to_v);
	mreg_buf_dispose(&why);
	mreg_buf_dispose(&dflt);
	mreg_registry_free(reg);
	return rc;
}

/* baseline_set {model, name, elo, win_rate, games_played}, baseline_get {model, name}: the baseline or null */
static int m_baseline(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	const char *model, *name;
	const mreg_state *st;
	mreg_metrics m;
	int rc;
	if ((rc = mreg_arg_str(&model, a, "model", true)) < 0 || (rc = mreg_id_check(model)) < 0 ||
	    (rc = mreg_arg_str(&name, a, "name", false)) < 0)
		return rc;
	if (!strcmp(a->method, "baseline_set")) {
		mreg_registry *reg = NULL;
		if ((rc = mreg_arg_metrics(&m, a, "metrics")) < 0 || (rc = mreg_handle_writer(&reg, h, a)) < 0)
			return rc;
		rc = mreg_baseline_set(reg, model, name, &m);
		mreg_registry_free(reg);
		if (rc < 0)
			return rc;
	}
	if ((rc = mreg_handle_state(&st, h)) < 0)
		return rc;
	const cJSON *named = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st->monitor, model),
							      "baselines");
	const cJSON *b = name ? cJSON_GetObjectItemCaseSensitive(named, name)
			      : cJSON_GetObjectItemCaseSensitive(st->baselines, model);
	if (b)
		mreg_jsonw_value(w, NULL, b);
	else
		mreg_jsonw_null(w, NULL);
	return 0;
}

/* quality_report {model, score, reason}: the model's quality record after the report and what the watch did */
static int m_quality(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	const char *model, *reason;
	double score = 0;
	bool given, dry;
	mreg_registry *reg = NULL;
	mreg_monitor_outcome out = MREG_MONITOR_NOTHING;
	mreg_buf why = MREG_BUF_INIT;
	const mreg_state *st;
	int from_v = 0, to_v = 0, rc;
	if ((rc = mreg_arg_str(&model, a, "model", true)) < 0 || (rc = mreg_id_check(model)) < 0 ||
	    (rc = mreg_arg_str(&reason, a, "reason", false)) < 0 || (rc = mreg_arg_bool(&dry, a, "dry_run")) < 0)
		return rc;
	bool report = !strcmp(a->method, "quality_report");
	if (report && ((rc = mreg_arg_num(&score, &given, a, "score", 0, 1)) < 0 ||
		       (!given && (rc = mreg_error_set(MREG_EINVALID, "quality_report needs 'score'")) < 0)))
		return rc;
	if ((rc = mreg_handle_writer(&reg, h, a)) < 0)
		return rc;
	if (report)
		rc = mreg_quality_report(reg, model, score, reason);
	if (rc == 0)
		rc = mreg_quality_rollback(&out, &from_v, &to_v, &why, reg, model, dry);
	mreg_registry_free(reg);
	if (rc < 0 || (rc = mreg_handle_state(&st, h)) < 0) {
		mreg_buf_dispose(&why);
		return rc;
	}
	static const char *const names[] = { "none", "rolled_back", "not_made" };
	mreg_jsonw_obj_begin(w, NULL);
	mreg_jsonw_str(w, "model_id", model);
	mreg_jsonw_str(w, "action", dry && out == MREG_MONITOR_ROLLED_BACK ? "would_roll_back" : names[out]);
	mreg_jsonw_str(w, "reason", why.ptr);
	if (out == MREG_MONITOR_ROLLED_BACK) {
		mreg_jsonw_int(w, "from_version", from_v);
		mreg_jsonw_int(w, "to_version", to_v);
	}
	mreg_jsonw_value(w, "quality", mreg_monitor_quality(st, model));
	mreg_jsonw_obj_end(w);
	mreg_buf_dispose(&why);
	return 0;
}

/* compare {a: {model, version}, b: {...}, games, a_wins, b_wins, draws, elo_diff, notes}: the comparison recorded */
static int m_compare(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	mreg_comparison_opts o;
	mreg_ref ra, rb;
	mreg_registry *reg = NULL;
	cJSON *out = NULL;
	int games, aw, bw, draws, rc;
	memset(&o, 0, sizeof(o));
	mreg_call_args sa = { cJSON_GetObjectItemCaseSensitive(a->args, "a"), a->method };
	mreg_call_args sb = { cJSON_GetObjectItemCaseSensitive(a->args, "b"), a->method };
	if (!cJSON_IsObject(sa.args) || !cJSON_IsObject(sb.args))
		return mreg_error_set(MREG_EINVALID, "compare needs 'a' and 'b': {model, version}");
	if ((rc = mreg_arg_ref(&ra, &sa)) < 0 || (rc = mreg_arg_ref(&rb, &sb)) < 0 ||
	    (rc = mreg_arg_int(&games, a, "games", 0, 0, 1 << 30)) < 0 || (rc = mreg_arg_int(&aw, a, "a_wins", 0, 0, 1 << 30)) < 0 ||
	    (rc = mreg_arg_int(&bw, a, "b_wins", 0, 0, 1 << 30)) < 0 || (rc = mreg_arg_int(&draws, a, "draws", 0, 0, 1 << 30)) < 0 ||
	    (rc = mreg_arg_num(&o.elo_diff, &o.has_elo_diff, a, "elo_diff", -1e9, 1e9)) < 0 ||
	    (rc = mreg_arg_str(&o.notes, a, "notes", false)) < 0 || (rc = mreg_handle_writer(&reg, h, a)) < 0)
		return rc;
	o.games = games, o.a_wins = aw, o.b_wins = bw, o.draws = draws;
	if ((rc = mreg_compare_record(&out, reg, &ra, &rb, &o)) == 0)
		mreg_jsonw_value(w, NULL, out);
	cJSON_Delete(out);
	mreg_registry_free(reg);
	return rc;
}

/* validation {model, version, action, baselines, games_per_matchup, work_id, results}: the version after */
static int m_validation(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	mreg_validation_opts o;
	mreg_ref ref;
	mreg_registry *reg = NULL;
	const cJSON *bl = cJSON_GetObjectItemCaseSensitive(a->args, "baselines"), *b;
	const char *names[MREG_BASELINES_MAX];
	const mreg_state *st;
	mreg_model *m;
	mreg_version *v;
	int rc;
	memset(&o, 0, sizeof(o));
	if ((rc = mreg_arg_ref(&ref, a)) < 0 || (rc = mreg_arg_str(&o.action, a, "action", true)) < 0 ||
	    (rc = mreg_arg_int(&o.games_per_matchup, a, "games_per_matchup", 0, 0, 1 << 30)) < 0 ||
	    (rc = mreg_arg_str(&o.work_id, a, "work_id", false)) < 0)
		return rc;
	if (bl && !cJSON_IsNull(bl)) {
		if (!cJSON_IsArray(bl) || cJSON_GetArraySize(bl) > MREG_BASELINES_MAX)
			return mreg_error_set(MREG_EINVALID, "invalid 'baselines' for validation: a list of at most %d names",
					      MREG_BASELINES_MAX);
		cJSON_ArrayForEach(b, bl) {
			if (!cJSON_IsString(b))
				return mreg_error_set(MREG_EINVALID, "invalid 'baselines' for validation: expected names");
			names[o.nbaselines++] = b->valuestring;
		}
		o.baselines = names;
	}
	o.results = cJSON_GetObjectItemCaseSensitive(a->args, "results");
	if (cJSON_IsNull(o.results))
		o.results = NULL;
	if ((rc = mreg_handle_writer(&reg, h, a)) < 0)
		return rc;
	rc = mreg_validation_step(reg, &ref, &o);
	mreg_registry_free(reg);
	if (rc < 0 || (rc = mreg_handle_state(&st, h)) < 0 || (rc = mreg_query_version(&m, &v, st, &ref)) < 0)
		return rc;
	if ((rc = mreg_version_materialize(v)) < 0)
		return rc;
	mreg_version_write(w, NULL, m, v);
	return 0;
}

/* auto_promote {model, version, min_elo_improvement, min_games}: {promoted, stage, reason} */
static int m_auto_promote(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	mreg_ref ref;
	mreg_policy p;
	mreg_registry *reg = NULL;
	mreg_stage to = MREG_STAGE_NONE;
	mreg_buf why = MREG_BUF_INIT;
	bool given;
	int rc;
	if ((rc = mreg_arg_ref(&ref, a)) < 0 || (rc = mreg_registry_policy(&p, mreg_handle_reader(h))) < 0 ||
	    (rc = mreg_arg_num(&p.min_elo_improvement, &given, a, "min_elo_improvement", -1e6, 1e6)) < 0 ||
	    (rc = mreg_arg_num(&p.min_games, &given, a, "min_games", 0, 1e12)) < 0 || (rc = mreg_handle_writer(&reg, h, a)) < 0)
		return rc;
	if ((rc = mreg_auto_promote(&to, &why, reg, &ref, &p)) == 0) {
		mreg_jsonw_obj_begin(w, NULL);
		mreg_jsonw_bool(w, "promoted", to != MREG_STAGE_NONE);
		mreg_jsonw_str(w, "stage", to != MREG_STAGE_NONE ? mreg_stage_name(to) : NULL);
		mreg_jsonw_str(w, "reason", why.ptr);
		mreg_jsonw_obj_end(w);
	}
	mreg_buf_dispose(&why);
	mreg_registry_free(reg);
	return rc;
}

/* cmaes_register {weights, board, players, fitness, generation, config, auto_promote, min_improvement} */
static int m_cmaes(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	mreg_cmaes_opts o = MREG_CMAES_OPTS_INIT;
	mreg_registry *reg = NULL;
	char model[MREG_ID_MAX + 1];
	int version = 0, rc;
	mreg_stage stage = MREG_STAGE_NONE;
	mreg_buf note = MREG_BUF_INIT;
	bool given, no_auto = false;
	const cJSON *ap = cJSON_GetObjectItemCaseSensitive(a->args, "auto_promote");
	if ((rc = mreg_arg_str(&o.weights, a, "weights", true)) < 0 || (rc = mreg_arg_str(&o.board, a, "board", true)) < 0 ||
	    (rc = mreg_arg_int(&o.players, a, "players", 0, 0, 1000)) < 0 ||
	    (rc = mreg_arg_num(&o.fitness, &given, a, "fitness", 0, 1)) < 0 ||
	    (rc = mreg_arg_int(&o.generation, a, "generation", 0, 0, 1 << 30)) < 0 ||
	    (rc = mreg_arg_num(&o.min_improvement, &given, a, "min_improvement", -1, 1)) < 0)
		return rc;
	if (ap && !cJSON_IsNull(ap)) {
		if (!cJSON_IsBool(ap))
			return mreg_error_set(MREG_EINVALID, "invalid 'auto_promote' for cmaes_register: expected true or false");
		no_auto = cJSON_IsFalse(ap);
	}
	o.auto_promote = !no_auto;
	o.config = cJSON_GetObjectItemCaseSensitive(a->args, "config");
	if (cJSON_IsNull(o.config))
		o.config = NULL;
	if ((rc = mreg_handle_writer(&reg, h, a)) < 0)
		return rc;
	if ((rc = mreg_cmaes_register(model, &version, &stage, &note, reg, &o)) == 0) {
		mreg_jsonw_obj_begin(w, NULL);
		mreg_jsonw_str(w, "model_id", model);
		mreg_jsonw_int(w, "version", version);
		mreg_jsonw_str(w, "stage", mreg_stage_name(stage));
		mreg_jsonw_str(w, "note", note.size ? note.ptr : NULL);
		mreg_jsonw_obj_end(w);
	}
	mreg_buf_dispose(&note);
	mreg_registry_free(reg);
	return rc;
}

/* policy: mreg.json as this registry reads it, every key with its value */
static int m_policy(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	mreg_policy p;
	int rc;
	(void)a;
	if ((rc = mreg_registry_policy(&p, mreg_handle_reader(h))) < 0)
		return rc;
	mreg_jsonw_obj_begin(w, NULL);
	mreg_jsonw_int(w, "artifact_max_bytes", p.artifact_max_bytes);
	mreg_jsonw_obj_begin(w, "rollback");
	mreg_jsonw_num(w, "elo_drop_threshold", p.elo_drop_threshold);
	mreg_jsonw_num(w, "win_rate_drop_threshold", p.win_rate_drop_threshold);
	mreg_jsonw_num(w, "min_games_for_evaluation", p.min_games_for_evaluation);
	mreg_jsonw_bool(w, "require_approval", p.require_approval);
	mreg_jsonw_bool(w, "auto_rollback_enabled", p.auto_rollback_enabled);
	mreg_jsonw_num(w, "consecutive_regressions_required", p.consecutive_regressions_required);
	mreg_jsonw_num(w, "cooldown_minutes", p.cooldown_minutes);
	mreg_jsonw_num(w, "max_rollbacks_per_day", p.max_rollbacks_per_day);
	mreg_jsonw_num(w, "quality_critical_threshold", p.quality_critical_threshold);
	mreg_jsonw_num(w, "quality_sustained_minutes", p.quality_sustained_minutes);
	mreg_jsonw_obj_end(w);
	mreg_jsonw_obj_begin(w, "auto_promote");
	mreg_jsonw_num(w, "min_elo_improvement", p.min_elo_improvement);
	mreg_jsonw_num(w, "min_games", p.min_games);
	mreg_jsonw_obj_end(w);
	mreg_jsonw_obj_begin(w, "backup");
	mreg_jsonw_num(w, "max_backups", p.max_backups);
	mreg_jsonw_num(w, "interval_hours", p.backup_interval_hours);
	mreg_jsonw_obj_end(w);
	mreg_jsonw_obj_end(w);
	return 0;
}

int mreg_capi_lifecycle(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	static const struct {
		const char *name;
		int (*fn)(mreg_jsonw *, mreg_handle *, const mreg_call_args *);
	} table[] = {
		{ "rollback", m_rollback },		{ "rollback_check", m_rollback_check },
		{ "rollback_history", m_record },	{ "rollback_stats", m_record },
		{ "rollback_pending", m_record },	{ "rollback_approve", m_pending },
		{ "rollback_clear", m_pending },	{ "regression", m_regression },
		{ "baseline_set", m_baseline },		{ "baseline_get", m_baseline },
		{ "quality_report", m_quality },	{ "quality_check", m_quality },
		{ "compare", m_compare },		{ "validation", m_validation },
		{ "auto_promote", m_auto_promote },	{ "cmaes_register", m_cmaes },
		{ "policy", m_policy },
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (!strcmp(table[i].name, a->method))
			return table[i].fn(w, h, a);
	return 1;
}

/*
 * The rollback manager, regressions, validations, comparisons, the
 * auto-promoter and the dashboard: baseline, rollback, regression,
 * validation, compare, auto-promote, dashboard. Words and layouts of the
 * original's messages and tables are kept; --json gives objects with the
 * original's keys.
 */
#define _GNU_SOURCE /* strsep */
#include "cli.h"
#include "../core/num.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- shared -------------------------------------------------------- */

/* Options are found by name, so one callback serves every command here. */
typedef struct {
	const cli_command *cmd;
	const char *val[16];
	bool set[16];
} opt_values;

static int collect_opt(int idx, const char *value, void *payload)
{
	opt_values *o = payload;
	if (idx < 16) {
		o->val[idx] = value;
		o->set[idx] = true;
	}
	return 0;
}

static int opt_index(const cli_command *cmd, const char *name)
{
	for (int i = 0; cmd->opts[i].name; i++)
		if (!strcmp(cmd->opts[i].name, name))
			return i;
	return -1;
}

static const char *opt(const opt_values *o, const char *name)
{
	int i = opt_index(o->cmd, name);
	return i >= 0 ? o->val[i] : NULL;
}

static bool flag(const opt_values *o, const char *name)
{
	int i = opt_index(o->cmd, name);
	return i >= 0 && o->set[i];
}

/* A numeric option into *out (left alone when absent); <0 after printing the usage error. */
static int num_opt(double *out, bool *given, const opt_values *o, const char *name, double min, double max)
{
	const char *v = opt(o, name);
	char label[64];
	if (!v)
		return 0;
	snprintf(label, sizeof(label), "--%s", name);
	if (cli_number(out, v, label, min, max) < 0) {
		cli_usage(o->cmd, "%s", mreg_error_last());
		return -1;
	}
	if (given)
		*given = true;
	return 0;
}

/* A cJSON object's member as text for a table: numbers shortest, null as "-". */
static const char *member_text(char *buf, size_t n, const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (cJSON_IsString(v))
		return v->valuestring;
	if (cJSON_IsNumber(v) && n >= MREG_NUM_MAX && mreg_num_format(buf, mreg_num_nz(v->valuedouble)) >= 0)
		return buf;
	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v) ? "yes" : "no";
	return "-";
}

/* ---- baseline ------------------------------------------------------- */

const cli_opt opts_baseline[] = {
	{ "elo", 0, true, "X            baseline Elo (default: the production version's)" },
	{ "win-rate", 0, true, "Y       baseline win rate, 0 to 1" },
	{ "games", 0, true, "N          games played at the baseline" },
	{ NULL, 0, false, NULL }
};

static int metrics_opts(mreg_metrics *m, const opt_values *o)
{
	double v;
	bool given = false;
	memset(m, 0, sizeof(*m));
	if (num_opt(&v, &given, o, "elo", -1e6, 1e6) < 0)
		return -1;
	if (given)
		m->v[MREG_METRIC_ELO] = v, m->present |= 1u << MREG_METRIC_ELO, given = false;
	if (num_opt(&v, &given, o, "win-rate", 0, 1) < 0)
		return -1;
	if (given)
		m->v[MREG_METRIC_WIN_RATE] = v, m->present |= 1u << MREG_METRIC_WIN_RATE, given = false;
	if (num_opt(&v, &given, o, "games", 0, 1e15) < 0)
		return -1;
	if (given) {
		if (v != (double)(long long)v) {
			cli_usage(o->cmd, "invalid --games '%s': expected a whole number", opt(o, "games"));
			return -1;
		}
		m->v[MREG_METRIC_GAMES_PLAYED] = v, m->present |= 1u << MREG_METRIC_GAMES_PLAYED;
	}
	return 0;
}

static void write_baseline(mreg_jsonw *w, const char *key, const cJSON *b)
{
	if (b)
		mreg_jsonw_value(w, key, b);
	else
		mreg_jsonw_null(w, key);
}

int cmd_baseline(cli_globals *g, int argc, char **argv)
{
	opt_values o = { cli_find("baseline"), { 0 }, { 0 } };
	cli_args a;
	mreg_registry *reg = NULL;
	mreg_state *st = NULL;
	mreg_metrics m;
	int rc;

	if ((rc = cli_parse(&a, o.cmd, argc, argv, collect_opt, &o)))
		return rc;
	if (a.npositional != 2 || (strcmp(a.positional[0], "set") && strcmp(a.positional[0], "show")))
		return cli_usage(o.cmd, "baseline needs 'set MODEL' or 'show MODEL'");
	const char *model = a.positional[1];
	if (mreg_id_check(model) < 0)
		return cli_fail(MREG_EINVALID);
	if (metrics_opts(&m, &o) < 0)
		return 2;
	if ((rc = cli_open(&reg, g)))
		return rc;
	if (!strcmp(a.positional[0], "set") && (rc = mreg_baseline_set(reg, model, &m)) < 0) {
		rc = cli_fail(rc);
		goto done;
	}
	if ((rc = mreg_registry_state(&st, reg, NULL, false)) < 0) {
		rc = cli_fail(rc);
		goto done;
	}
	if (!mreg_state_model(st, model)) {
		rc = cli_fail(mreg_error_set(MREG_ENOTFOUND, "model not found: '%s'", model));
		goto done;
	}
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(st->baselines, model);
	if (g->json) {
		mreg_buf buf = MREG_BUF_INIT;
		mreg_jsonw w;
		cli_json_begin(&w, &buf);
		write_baseline(&w, NULL, b);
		cli_json_end(&w, &buf);
	} else if (!b) {
		printf("No baseline set for %s\n", model);
	} else {
		char e[32], r[32], n[32];
		printf("Baseline of %s: elo %s, win rate %s, games %s (set %s by %s)\n", model,
		       member_text(e, sizeof(e), b, "elo"), member_text(r, sizeof(r), b, "win_rate"),
		       member_text(n, sizeof(n), b, "games_played"), cJSON_GetObjectItemCaseSensitive(b, "set_at")->valuestring,
		       cJSON_GetObjectItemCaseSensitive(b, "set_by")->valuestring);
	}
done:
	mreg_state_free(st);
	mreg_registry_free(reg);
	return rc;
}

/* ---- rollback ------------------------------------------------------- */

const cli_opt opts_rollback[] = {
	{ "to", 0, true, "N             version to roll back to (default: the candidate rule)" },
	{ "version", 'v', true, "N        the same, as the original's -v" },
	{ "reason", 'r', true, "R         reason (default \"Manual rollback\")" },
	{ "trigger", 0, true, "T        what triggered it (default \"manual\")" },
	{ "if-needed", 0, false, "      run the check first; roll back only if it says so" },
	{ "elo", 0, true, "X            check: current Elo (default: the production version's)" },
	{ "win-rate", 0, true, "Y       check: current win rate" },
	{ "games", 0, true, "N          check: games played now" },
	{ "limit", 0, true, "N          history: rows (default 20)" },
	{ "yes", 'y', false, "            accepted for the original's scripts; mreg never prompts" },
	{ "elo-drop-threshold", 0, true, "X  check: Elo drop that degrades (mreg.json, 50)" },
	{ "win-rate-drop-threshold", 0, true, "Y  check: win-rate drop that degrades (mreg.json, 0.1)" },
	{ "min-games-for-evaluation", 0, true, "N  check: games since the baseline (mreg.json, 50)" },
	{ NULL, 0, false, NULL }
};

/* mreg.json's rollback thresholds, with the command's overrides; -1 after a usage error. */
static int check_policy(mreg_policy *p, mreg_registry *reg, const opt_values *o)
{
	int rc = mreg_registry_policy(p, reg);
	if (rc < 0)
		return rc;
	if (num_opt(&p->elo_drop_threshold, NULL, o, "elo-drop-threshold", 0, 1e6) < 0 ||
	    num_opt(&p->win_rate_drop_threshold, NULL, o, "win-rate-drop-threshold", 0, 1) < 0 ||
	    num_opt(&p->min_games_for_evaluation, NULL, o, "min-games-for-evaluation", 0, 1e12) < 0)
		return 1;
	return 0;
}

/* The production version's metrics with the given ones laid over them. */
static void current_metrics(mreg_metrics *out, const mreg_model *m, const mreg_metrics *given)
{
	memset(out, 0, sizeof(*out));
	if (m && m->prod)
		*out = m->prod->metrics;
	for (int i = 0; i < MREG_METRIC_COUNT; i++)
		if (given->present & (1u << i)) {
			out->v[i] = given->v[i];
			out->present |= 1u << i;
		}
}

/* should_rollback over the current state: 1 yes, 0 no, <0 error. */
static int rollback_check(mreg_buf *reason, mreg_buf *check, mreg_registry *reg, const char *model,
			  const mreg_metrics *given, const mreg_policy *p)
{
	mreg_state *st = NULL;
	mreg_metrics cur;
	int rc;
	if ((rc = mreg_registry_state(&st, reg, model, false)) < 0)
		return rc;
	mreg_model *m = mreg_state_model(st, model);
	if (!m || !m->nversions) {
		mreg_state_free(st);
		return mreg_error_set(MREG_ENOTFOUND, "model not found: '%s'", model);
	}
	current_metrics(&cur, m, given);
	rc = mreg_should_rollback(reason, check, st, m, &cur, p);
	mreg_state_free(st);
	return rc;
}

static void print_rolled_back(cli_globals *g, const char *model, int from, int to, const char *reason,
			      const char *trigger)
{
	if (!g->json) {
		printf("Successfully rolled back to %s:v%d (v%d archived)\n", model, to, from);
		return;
	}
	mreg_buf b = MREG_BUF_INIT;
	mreg_jsonw w;
	cli_json_begin(&w, &b);
	mreg_jsonw_obj_begin(&w, NULL);
	mreg_jsonw_bool(&w, "success", true);
	mreg_jsonw_str(&w, "model_id", model);
	mreg_jsonw_int(&w, "from_version", from);
	mreg_jsonw_int(&w, "to_version", to);
	mreg_jsonw_str(&w, "reason", reason);
	mreg_jsonw_str(&w, "triggered_by", trigger);
	mreg_jsonw_obj_end(&w);
	cli_json_end(&w, &b);
}

static int rollback_history(cli_globals *g, mreg_registry *reg, const char *model, const opt_values *o)
{
	mreg_state *st = NULL;
	double limit = 20;
	int rc;
	if (num_opt(&limit, NULL, o, "limit", 0, 1e9) < 0)
		return 2;
	if ((rc = mreg_registry_state(&st, reg, NULL, false)) < 0)
		return cli_fail(rc);
	int n = cJSON_GetArraySize(st->rollbacks), shown = 0;
	mreg_buf b = MREG_BUF_INIT;
	mreg_jsonw w;
	if (g->json) {
		cli_json_begin(&w, &b);
		mreg_jsonw_arr_begin(&w, NULL);
	} else {
		printf("%-27s %-20s %-5s %-5s %-26s %-7s %s\n", "Time", "Model", "From", "To", "Trigger", "Result",
		       "Reason");
		printf("%s\n", "------------------------------------------------------------------------------------------------------------");
	}
	/* newest first: the record is in fold order */
	for (int i = n - 1; i >= 0 && shown < limit; i--) {
		const cJSON *r = cJSON_GetArrayItem(st->rollbacks, i);
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "model_id");
		if (model && strcmp(id->valuestring, model))
			continue;
		shown++;
		if (g->json) {
			mreg_jsonw_value(&w, NULL, r);
			continue;
		}
		char t[40], f[MREG_NUM_MAX], to[MREG_NUM_MAX], tr[64];
		const cJSON *ok = cJSON_GetObjectItemCaseSensitive(r, "success");
		const cJSON *err = cJSON_GetObjectItemCaseSensitive(r, "error_message");
		printf("%-27s %-20s v%-4s v%-4s %-26s %-7s %s\n", member_text(t, sizeof(t), r, "timestamp"), id->valuestring,
		       member_text(f, sizeof(f), r, "from_version"), member_text(to, sizeof(to), r, "to_version"),
		       member_text(tr, sizeof(tr), r, "triggered_by"), cJSON_IsTrue(ok) ? "ok" : "failed",
		       cJSON_IsTrue(ok) ? cJSON_GetObjectItemCaseSensitive(r, "reason")->valuestring : err->valuestring);
	}
	if (g->json) {
		mreg_jsonw_arr_end(&w);
		cli_json_end(&w, &b);
	} else if (!shown) {
		printf("No rollbacks recorded.\n");
	}
	mreg_state_free(st);
	return 0;
}

static int rollback_stats(cli_globals *g, mreg_registry *reg)
{
	mreg_state *st = NULL;
	int rc;
	if ((rc = mreg_registry_state(&st, reg, NULL, false)) < 0)
		return cli_fail(rc);
	int64_t total = 0, ok = 0, recent = 0;
	int64_t now = (int64_t)time(NULL) * 1000000;
	cJSON *by = cJSON_CreateObject();
	const cJSON *r;
	cJSON_ArrayForEach(r, st->rollbacks) {
		total++;
		ok += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "success"));
		int64_t at;
		const cJSON *ts = cJSON_GetObjectItemCaseSensitive(r, "timestamp");
		if (cJSON_IsString(ts) && mreg_time_parse(&at, ts->valuestring) == 0 && now - at < 86400LL * 1000000)
			recent++;
		const char *tr = cJSON_GetObjectItemCaseSensitive(r, "triggered_by")->valuestring;
		cJSON *c = cJSON_GetObjectItemCaseSensitive(by, tr);
		if (c)
			cJSON_SetNumberValue(c, c->valuedouble + 1);
		else
			cJSON_AddNumberToObject(by, tr, 1);
	}
	if (g->json) {
		mreg_buf b = MREG_BUF_INIT;
		mreg_jsonw w;
		cli_json_begin(&w, &b);
		mreg_jsonw_obj_begin(&w, NULL);
		mreg_jsonw_int(&w, "total_rollbacks", total);
		mreg_jsonw_int(&w, "successful", ok);
		mreg_jsonw_int(&w, "failed", total - ok);
		mreg_jsonw_value(&w, "by_trigger", by);
		mreg_jsonw_int(&w, "recent_24h", recent);
		mreg_jsonw_obj_end(&w);
		cli_json_end(&w, &b);
	} else {
		printf("Rollbacks: %lld total, %lld successful, %lld failed, %lld in the last 24 h\n", (long long)total,
		       (long long)ok, (long long)(total - ok), (long long)recent);
		cJSON_ArrayForEach(r, by)
			printf("  %-28s %g\n", r->string, r->valuedouble);
	}
	cJSON_Delete(by);
	mreg_state_free(st);
	return 0;
}

static int rollback_pending(cli_globals *g, mreg_registry *reg)
{
	mreg_state *st = NULL;
	int rc;
	if ((rc = mreg_registry_state(&st, reg, NULL, false)) < 0)
		return cli_fail(rc);
	if (g->json) {
		mreg_buf b = MREG_BUF_INIT;
		mreg_jsonw w;
		cli_json_begin(&w, &b);
		if (st->pending)
			mreg_jsonw_value(&w, NULL, st->pending);
		else
			mreg_jsonw_obj_begin(&w, NULL), mreg_jsonw_obj_end(&w);
		cli_json_end(&w, &b);
	} else if (!st->pending) {
		printf("No rollbacks waiting for approval.\n");
	} else {
		const cJSON *p;
		cJSON_ArrayForEach(p, st->pending) {
			char d[32];
			printf("%s: %s regression, elo drop %s, requested %s by %s: %s\n", p->string,
			       cJSON_GetObjectItemCaseSensitive(p, "severity")->valuestring,
			       member_text(d, sizeof(d), p, "elo_drop"),
			       cJSON_GetObjectItemCaseSensitive(p, "requested_at")->valuestring,
			       cJSON_GetObjectItemCaseSensitive(p, "requested_by")->valuestring,
			       cJSON_GetObjectItemCaseSensitive(p, "reason")->valuestring);
		}
	}
	mreg_state_free(st);
	return 0;
}

static int rollback_do(cli_globals *g, mreg_registry *reg, const char *model, const opt_values *o)
{
	mreg_metrics given;
	double to = 0;
	int from_v = 0, to_v = 0, rc;
	const char *reason = opt(o, "reason"), *trigger = opt(o, "trigger");
	if (metrics_opts(&given, o) < 0)
		return 2;
	if (num_opt(&to, NULL, o, "to", 1, 1 << 30) < 0 || num_opt(&to, NULL, o, "version", 1, 1 << 30) < 0)
		return 2;
	if (to != (double)(int)to)
		return cli_usage(o->cmd, "invalid version: expected a whole number");
	if ((given.present || opt(o, "elo-drop-threshold") || opt(o, "win-rate-drop-threshold") ||
	     opt(o, "min-games-for-evaluation")) && !flag(o, "if-needed"))
		return cli_usage(o->cmd, "--elo, --win-rate, --games and the thresholds go with 'rollback check' or --if-needed");
	if (flag(o, "if-needed")) {
		mreg_buf why = MREG_BUF_INIT, check = MREG_BUF_INIT;
		mreg_policy p;
		int yes = check_policy(&p, reg, o);
		if (yes == 1)
			return 2;
		if (yes == 0)
			yes = rollback_check(&why, &check, reg, model, &given, &p);
		if (yes < 0) {
			mreg_buf_dispose(&why);
			mreg_buf_dispose(&check);
			return cli_fail(yes);
		}
		if (!yes) {
			if (g->json) {
				mreg_buf b = MREG_BUF_INIT;
				mreg_jsonw w;
				cli_json_begin(&w, &b);
				mreg_jsonw_obj_begin(&w, NULL);
				mreg_jsonw_bool(&w, "should_rollback", false);
				mreg_jsonw_bool(&w, "rolled_back", false);
				mreg_jsonw_str(&w, "reason", why.ptr);
				mreg_jsonw_obj_end(&w);
				cli_json_end(&w, &b);
			} else {
				printf("No rollback: %s%s%s%s\n", why.ptr, check.size ? " (" : "", check.ptr,
				       check.size ? ")" : "");
			}
			mreg_buf_dispose(&why);
			mreg_buf_dispose(&check);
			return 0;
		}
		if (!reason)
			reason = why.ptr;	/* the check's words become the rollback's reason */
		if (!trigger)
			trigger = "auto_check";
		rc = mreg_rollback(&from_v, &to_v, reg, model, (int)to, reason, trigger);
		if (rc == 0)
			print_rolled_back(g, model, from_v, to_v, reason, trigger);
		mreg_buf_dispose(&why);
		mreg_buf_dispose(&check);
		return rc < 0 ? cli_fail(rc) : 0;
	}
	if ((rc = mreg_rollback(&from_v, &to_v, reg, model, (int)to, reason, trigger)) < 0)
		return cli_fail(rc);
	print_rolled_back(g, model, from_v, to_v, reason ? reason : "Manual rollback", trigger ? trigger : "manual");
	return 0;
}

int cmd_rollback(cli_globals *g, int argc, char **argv)
{
	opt_values o = { cli_find("rollback"), { 0 }, { 0 } };
	cli_args a;
	mreg_registry *reg = NULL;
	int rc;

	if ((rc = cli_parse(&a, o.cmd, argc, argv, collect_opt, &o)))
		return rc;
	if (a.npositional < 1)
		return cli_usage(o.cmd, "rollback needs MODEL or a subcommand");
	const char *sub = a.positional[0];
	bool takes_model = !strcmp(sub, "check") || !strcmp(sub, "approve") || !strcmp(sub, "clear");
	bool no_model = !strcmp(sub, "stats") || !strcmp(sub, "pending");
	const char *model = NULL;
	if (takes_model) {
		if (a.npositional != 2)
			return cli_usage(o.cmd, "rollback %s needs one MODEL", sub);
		model = a.positional[1];
	} else if (no_model) {
		if (a.npositional != 1)
			return cli_usage(o.cmd, "rollback %s takes no arguments", sub);
	} else if (!strcmp(sub, "history")) {
		if (a.npositional > 2)
			return cli_usage(o.cmd, "rollback history takes at most one MODEL");
		model = a.npositional == 2 ? a.positional[1] : NULL;
	} else {
		if (a.npositional != 1)
			return cli_usage(o.cmd, "rollback needs one MODEL");
		model = sub;
		sub = NULL;
	}
	if (model && mreg_id_check(model) < 0)
		return cli_fail(MREG_EINVALID);
	if ((rc = cli_open(&reg, g)))
		return rc;
	if (!sub) {
		rc = rollback_do(g, reg, model, &o);
	} else if (!strcmp(sub, "check")) {
		mreg_metrics given;
		mreg_policy p;
		mreg_buf why = MREG_BUF_INIT, check = MREG_BUF_INIT;
		if (metrics_opts(&given, &o) < 0) {
			rc = 2;
		} else if ((rc = check_policy(&p, reg, &o)) != 0) {
			rc = rc == 1 ? 2 : cli_fail(rc);
		} else if ((rc = rollback_check(&why, &check, reg, model, &given, &p)) < 0) {
			rc = cli_fail(rc);
		} else if (g->json) {
			mreg_buf b = MREG_BUF_INIT;
			mreg_jsonw w;
			cli_json_begin(&w, &b);
			mreg_jsonw_obj_begin(&w, NULL);
			mreg_jsonw_bool(&w, "should_rollback", rc == 1);
			mreg_jsonw_str(&w, "reason", why.ptr);
			mreg_jsonw_str(&w, "check", check.size ? check.ptr : NULL);
			mreg_jsonw_obj_end(&w);
			cli_json_end(&w, &b);
			rc = 0;
		} else {
			printf("%s: %s%s%s%s\n", rc == 1 ? "Rollback needed" : "No rollback", why.ptr,
			       rc == 0 && check.size ? " (" : "", rc == 0 ? check.ptr : "", rc == 0 && check.size ? ")" : "");
			rc = 0;
		}
		mreg_buf_dispose(&why);
		mreg_buf_dispose(&check);
	} else if (!strcmp(sub, "history")) {
		rc = rollback_history(g, reg, model, &o);
	} else if (!strcmp(sub, "stats")) {
		rc = rollback_stats(g, reg);
	} else if (!strcmp(sub, "pending")) {
		rc = rollback_pending(g, reg);
	} else if (!strcmp(sub, "approve")) {
		int from_v = 0, to_v = 0;
		mreg_buf why = MREG_BUF_INIT;
		if ((rc = mreg_rollback_approve(&from_v, &to_v, &why, reg, model)) < 0)
			rc = cli_fail(rc);
		else
			print_rolled_back(g, model, from_v, to_v, why.ptr, "auto_regression_approved");
		mreg_buf_dispose(&why);
	} else {
		if ((rc = mreg_rollback_clear(reg, model, opt(&o, "reason"))) < 0) {
			rc = cli_fail(rc);
		} else if (g->json) {
			mreg_buf b = MREG_BUF_INIT;
			mreg_jsonw w;
			cli_json_begin(&w, &b);
			mreg_jsonw_obj_begin(&w, NULL);
			mreg_jsonw_bool(&w, "cleared", true);
			mreg_jsonw_str(&w, "model_id", model);
			mreg_jsonw_obj_end(&w);
			cli_json_end(&w, &b);
		} else {
			printf("Cleared the pending rollback of %s\n", model);
		}
	}
	mreg_registry_free(reg);
	return rc;
}

/* ---- regression ----------------------------------------------------- */

const cli_opt opts_regression[] = {
	{ "severity", 0, true, "S         minor, moderate, severe or critical (required)" },
	{ "elo-drop", 0, true, "X         the Elo drop seen (required)" },
	{ "reason", 'r', true, "R         what the detector saw (default \"Elo dropped by X\")" },
	{ "no-approval", 0, false, "     severe rolls back at once (mreg.json: rollback.require_approval)" },
	{ "require-approval", 0, false, " severe waits for approval (the default)" },
	{ NULL, 0, false, NULL }
};

int cmd_regression(cli_globals *g, int argc, char **argv)
{
	opt_values o = { cli_find("regression"), { 0 }, { 0 } };
	cli_args a;
	mreg_registry *reg = NULL;
	double drop = 0;
	bool has_drop = false;
	int rc, from_v = 0, to_v = 0;

	if ((rc = cli_parse(&a, o.cmd, argc, argv, collect_opt, &o)))
		return rc;
	if (a.npositional != 1)
		return cli_usage(o.cmd, "regression needs one MODEL");
	if (!opt(&o, "severity"))
		return cli_usage(o.cmd, "regression needs --severity");
	if (num_opt(&drop, &has_drop, &o, "elo-drop", -1e6, 1e6) < 0)
		return 2;
	if (!has_drop)
		return cli_usage(o.cmd, "regression needs --elo-drop");
	const char *model = a.positional[0];
	if (mreg_id_check(model) < 0)
		return cli_fail(MREG_EINVALID);
	mreg_buf why = MREG_BUF_INIT, dflt = MREG_BUF_INIT;
	mreg_buf_printf(&dflt, "Elo dropped by %g", drop);
	const char *reason = opt(&o, "reason") ? opt(&o, "reason") : dflt.ptr;
	mreg_regression_action act;
	if ((rc = cli_open(&reg, g)))
		goto out;
	if (flag(&o, "no-approval") && flag(&o, "require-approval")) {
		rc = cli_usage(o.cmd, "--no-approval and --require-approval contradict each other");
		goto out;
	}
	int approval = flag(&o, "no-approval") ? 0 : flag(&o, "require-approval") ? 1 : -1;
	if ((rc = mreg_regression(&act, &why, &from_v, &to_v, reg, model, opt(&o, "severity"), drop, reason, approval)) < 0) {
		rc = cli_fail(rc);
		goto out;
	}
	static const char *const names[] = { "none", "rollback", "wait" };
	if (g->json) {
		mreg_buf b = MREG_BUF_INIT;
		mreg_jsonw w;
		cli_json_begin(&w, &b);
		mreg_jsonw_obj_begin(&w, NULL);
		mreg_jsonw_str(&w, "model_id", model);
		mreg_jsonw_str(&w, "action", names[act]);
		mreg_jsonw_str(&w, "reason", why.ptr);
		if (act == MREG_REGRESSION_ROLLBACK) {
			mreg_jsonw_int(&w, "from_version", from_v);
			mreg_jsonw_int(&w, "to_version", to_v);
		}
		mreg_jsonw_obj_end(&w);
		cli_json_end(&w, &b);
	} else if (act == MREG_REGRESSION_ROLLBACK) {
		printf("Rolled back %s: v%d -> v%d (%s)\n", model, from_v, to_v, why.ptr);
	} else if (act == MREG_REGRESSION_WAIT) {
		printf("Rollback of %s waits for approval: mreg rollback approve %s\n", model, model);
	} else {
		printf("No action for %s: %s\n", model, why.ptr);
	}
out:
	mreg_buf_dispose(&why);
	mreg_buf_dispose(&dflt);
	mreg_registry_free(reg);
	return rc;
}

/* ---- validation ----------------------------------------------------- */

const cli_opt opts_validation[] = {
	{ "baselines", 0, true, "A,B    create: baselines to play against, comma-separated" },
	{ "games", 0, true, "N          create: games per matchup (default 50)" },
	{ "results", 0, true, "F        pass, fail: a JSON file of results" },
	{ NULL, 0, false, NULL }
};

static void validation_row_json(mreg_jsonw *w, const mreg_model *m, const mreg_version *v, bool with_validation)
{
	mreg_jsonw_obj_begin(w, NULL);
	mreg_jsonw_str(w, "model_id", m->id);
	mreg_jsonw_int(w, "version", v->version);
	mreg_jsonw_str(w, "file_path", v->file_path);
	mreg_jsonw_str(w, "stage", mreg_stage_name(v->stage));
	mreg_jsonw_str(w, "name", m->name);
	mreg_jsonw_str(w, "model_type", mreg_type_name(m->type));
	if (with_validation) {
		const cJSON *bl = cJSON_GetObjectItemCaseSensitive(v->validation, "baselines");
		const cJSON *gm = cJSON_GetObjectItemCaseSensitive(v->validation, "games_per_matchup");
		mreg_jsonw_str(w, "validation_status", "pending");
		mreg_jsonw_value(w, "baselines", bl);
		mreg_jsonw_value(w, "games_per_matchup", gm);
	}
	mreg_jsonw_obj_end(w);
}

static int cmp_created_desc(const void *x, const void *y)
{
	const mreg_row *a = x, *b = y;
	int c = strcmp(b->version->created_at, a->version->created_at);
	if (c)
		return c;
	c = strcmp(a->model->id, b->model->id);
	return c ? c : b->version->version - a->version->version;
}

/* validation pending | unvalidated: listings over every model. */
static int validation_list(cli_globals *g, mreg_registry *reg, bool pending)
{
	mreg_state *st = NULL;
	mreg_row *rows = NULL;
	size_t n = 0, k = 0;
	mreg_filter f = MREG_FILTER_INIT;
	int rc;
	if ((rc = mreg_registry_state(&st, reg, NULL, true)) < 0 || (rc = mreg_query_list(&rows, &n, st, &f)) < 0) {
		mreg_state_free(st);
		return cli_fail(rc);
	}
	for (size_t i = 0; i < n; i++) {
		mreg_version *v = (mreg_version *)rows[i].version;
		if ((rc = mreg_version_materialize(v)) < 0)
			break;
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(v->validation, "status");
		bool keep = pending ? cJSON_IsString(s) && !strcmp(s->valuestring, "pending")
				    : !v->validation && (v->stage == MREG_STAGE_DEVELOPMENT || v->stage == MREG_STAGE_STAGING);
		if (keep)
			rows[k++] = rows[i];
	}
	if (rc < 0) {
		free(rows);
		mreg_state_free(st);
		return cli_fail(rc);
	}
	if (!pending && k)	/* the original lists these newest registration first */
		qsort(rows, k, sizeof(*rows), cmp_created_desc);
	if (g->json) {
		mreg_buf b = MREG_BUF_INIT;
		mreg_jsonw w;
		cli_json_begin(&w, &b);
		mreg_jsonw_arr_begin(&w, NULL);
		for (size_t i = 0; i < k; i++)
			validation_row_json(&w, rows[i].model, rows[i].version, pending);
		mreg_jsonw_arr_end(&w);
		cli_json_end(&w, &b);
	} else if (!k) {
		printf(pending ? "No versions waiting for validation.\n" : "Every development and staging version has a validation.\n");
	} else {
		printf("%-25s %-5s %-12s %-14s %s\n", "Model ID", "Ver", "Stage", "Type", pending ? "Baselines / games" : "");
		printf("--------------------------------------------------------------------------------\n");
		for (size_t i = 0; i < k; i++) {
			const mreg_version *v = rows[i].version;
			printf("%-25s v%-4d %-12s %-14s", rows[i].model->id, v->version, mreg_stage_name(v->stage),
			       mreg_type_name(rows[i].model->type));
			if (pending) {
				const cJSON *bl = cJSON_GetObjectItemCaseSensitive(v->validation, "baselines"), *c;
				int j = 0;
				cJSON_ArrayForEach(c, bl)
					printf("%s%s", j++ ? "," : " ", c->valuestring);
				char gm[MREG_NUM_MAX];
				printf("%s / %s", j ? "" : " -", member_text(gm, sizeof(gm), v->validation, "games_per_matchup"));
			}
			printf("\n");
		}
	}
	free(rows);
	mreg_state_free(st);
	return 0;
}

int cmd_validation(cli_globals *g, int argc, char **argv)
{
	opt_values o = { cli_find("validation"), { 0 }, { 0 } };
	cli_args a;
	mreg_registry *reg = NULL;
	mreg_ref ref;
	mreg_validation_opts vo;
	cJSON *results = NULL;
	char *bl = NULL;
	const char *names[64];
	int rc;

	memset(&vo, 0, sizeof(vo));
	if ((rc = cli_parse(&a, o.cmd, argc, argv, collect_opt, &o)))
		return rc;
	if (a.npositional == 1 && (!strcmp(a.positional[0], "pending") || !strcmp(a.positional[0], "unvalidated"))) {
		if ((rc = cli_open(&reg, g)))
			return rc;
		rc = validation_list(g, reg, !strcmp(a.positional[0], "pending"));
		mreg_registry_free(reg);
		return rc;
	}
	static const char *const actions[] = { "create", "queue", "start", "pass", "fail" };
	if (a.npositional < 2)
		return cli_usage(o.cmd, "validation needs REF and an action, or 'pending' / 'unvalidated'");
	vo.action = NULL;
	for (size_t i = 0; i < 5; i++)
		if (!strcmp(a.positional[1], actions[i]))
			vo.action = actions[i];
	if (!vo.action)
		return cli_usage(o.cmd, "unknown validation action '%s': expected create, queue, start, pass or fail",
				 a.positional[1]);
	if (a.npositional != (!strcmp(vo.action, "queue") ? 3 : 2))
		return cli_usage(o.cmd, !strcmp(vo.action, "queue") ? "validation REF queue needs one WORK_ID"
								   : "validation REF %s takes no more arguments", vo.action);
	if (strcmp(vo.action, "create") && (opt(&o, "baselines") || opt(&o, "games")))
		return cli_usage(o.cmd, "--baselines and --games go with 'create'");
	if (strcmp(vo.action, "pass") && strcmp(vo.action, "fail") && opt(&o, "results"))
		return cli_usage(o.cmd, "--results goes with 'pass' or 'fail'");
	if ((rc = mreg_ref_parse(&ref, a.positional[0])) < 0)
		return cli_fail(rc);
	if (!strcmp(vo.action, "queue")) {
		vo.work_id = a.positional[2];
		if (!*vo.work_id || strlen(vo.work_id) > 256)
			return cli_usage(o.cmd, "invalid WORK_ID: 1 to 256 bytes");
	}
	double games = 0;
	if (num_opt(&games, NULL, &o, "games", 1, 1 << 30) < 0)
		return 2;
	if (games != (double)(int)games)
		return cli_usage(o.cmd, "invalid --games '%s': expected a whole number", opt(&o, "games"));
	vo.games_per_matchup = (int)games;
	if (opt(&o, "baselines")) {
		bl = strdup(opt(&o, "baselines"));
		char *p = bl, *tok;
		while ((tok = strsep(&p, ",")) != NULL) {
			if (!*tok || strlen(tok) > 256 || vo.nbaselines >= 64) {
				rc = cli_usage(o.cmd, "invalid --baselines '%s': up to 64 non-empty names, comma-separated",
					       opt(&o, "baselines"));
				goto done;
			}
			for (size_t i = 0; i < vo.nbaselines; i++)
				if (!strcmp(names[i], tok)) {
					rc = cli_usage(o.cmd, "invalid --baselines: '%s' is named twice", tok);
					goto done;
				}
			names[vo.nbaselines++] = tok;
		}
		vo.baselines = names;
	}
	if (opt(&o, "results") && (rc = cli_read_json_file(&results, opt(&o, "results"), "results file")) < 0) {
		rc = cli_fail(rc);
		goto done;
	}
	vo.results = results;
	if ((rc = cli_open(&reg, g)))
		goto done;
	if ((rc = mreg_validation_step(reg, &ref, &vo)) < 0) {
		rc = cli_fail(rc);
		goto done;
	}
	mreg_state *st = NULL;
	mreg_model *m;
	mreg_version *v;
	if ((rc = mreg_registry_model(&st, reg, ref.model, ref.version)) < 0 ||
	    (rc = mreg_query_version(&m, &v, st, &ref)) < 0 || (rc = mreg_version_materialize(v)) < 0) {
		mreg_state_free(st);
		rc = cli_fail(rc);
		goto done;
	}
	if (g->json) {
		mreg_buf b = MREG_BUF_INIT;
		mreg_jsonw w;
		cli_json_begin(&w, &b);
		mreg_jsonw_value(&w, NULL, v->validation);
		cli_json_end(&w, &b);
	} else {
		char wid[MREG_NUM_MAX + 256];
		printf("Validation of %s:%d: %s", m->id, v->version,
		       cJSON_GetObjectItemCaseSensitive(v->validation, "status")->valuestring);
		if (!strcmp(vo.action, "queue"))
			printf(" (work %s)", member_text(wid, sizeof(wid), v->validation, "work_id"));
		printf("\n");
	}
	mreg_state_free(st);
done:
	cJSON_Delete(results);
	free(bl);
	mreg_registry_free(reg);
	return rc;
}

/* ---- compare -------------------------------------------------------- */

const cli_opt opts_compare[] = {
	{ "record", 0, false, "         record a head-to-head result instead of showing the two" },
	{ "games", 0, true, "N          record: games played" },
	{ "a-wins", 0, true, "N         record: wins of A" },
	{ "b-wins", 0, true, "N         record: wins of B" },
	{ "draws", 0, true, "N          record: draws" },
	{ "elo-diff", 0, true, "X       record: Elo difference measured" },
	{ "notes", 0, true, "S          record: notes" },
	{ NULL, 0, false, NULL }
};

static const char *config_text(char *buf, size_t n, const mreg_version *v, const char *key)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(v->training_config, key);
	return c ? member_text(buf, n, v->training_config, key) : "N/A";
}

static void print_compare_table(const mreg_model *ma, const mreg_version *a, const mreg_model *mb, const mreg_version *b)
{
	char x[MREG_NUM_MAX + 160], y[MREG_NUM_MAX + 160];
	printf("\n%-20s %-25s %-25s\n", "Comparison", "Model A", "Model B");
	printf("----------------------------------------------------------------------\n");
	snprintf(x, sizeof(x), "%s:v%d", ma->id, a->version);
	snprintf(y, sizeof(y), "%s:v%d", mb->id, b->version);
	printf("%-20s %-25s %-25s\n", "ID", x, y);
	printf("%-20s %-25s %-25s\n", "Stage", mreg_stage_name(a->stage), mreg_stage_name(b->stage));
	printf("%-20s %-25s %-25s\n", "Type", mreg_type_name(ma->type), mreg_type_name(mb->type));
	printf("\n%-20s\n", "Metrics");
	const mreg_version *vs[2] = { a, b };
	char *cell[2] = { x, y };
	for (int i = 0; i < 2; i++) {
		mreg_buf c = MREG_BUF_INIT;
		const mreg_metrics *m = &vs[i]->metrics;
		if ((m->present & (1u << MREG_METRIC_ELO)) && m->v[MREG_METRIC_ELO] != 0)
			mreg_put_pyfloat(&c, m->v[MREG_METRIC_ELO]);
		else
			mreg_buf_puts(&c, "N/A");
		snprintf(cell[i], sizeof(x), "%s", c.ptr);
		mreg_buf_dispose(&c);
	}
	printf("%-20s %-25s %-25s\n", "  Elo", x, y);
	const mreg_metrics *ma_m = &a->metrics, *mb_m = &b->metrics;
	if ((ma_m->present & mb_m->present & (1u << MREG_METRIC_ELO)) && ma_m->v[MREG_METRIC_ELO] != 0 &&
	    mb_m->v[MREG_METRIC_ELO] != 0) {
		mreg_buf c = MREG_BUF_INIT;
		double d = mreg_num_nz(mb_m->v[MREG_METRIC_ELO] - ma_m->v[MREG_METRIC_ELO]);
		mreg_buf_printf(&c, "%s%.1f", d >= 0 ? "+" : "", d);
		printf("%-20s %-25s %s\n", "  Elo Diff", "", c.ptr);
		mreg_buf_dispose(&c);
	}
	for (int i = 0; i < 2; i++) {
		const mreg_metrics *m = &vs[i]->metrics;
		if ((m->present & (1u << MREG_METRIC_WIN_RATE)) && m->v[MREG_METRIC_WIN_RATE] != 0) {
			mreg_buf c = MREG_BUF_INIT;
			mreg_buf_printf(&c, "%.1f%%", m->v[MREG_METRIC_WIN_RATE] * 100);
			snprintf(cell[i], sizeof(x), "%s", c.ptr);
			mreg_buf_dispose(&c);
		} else {
			snprintf(cell[i], sizeof(x), "N/A");
		}
	}
	printf("%-20s %-25s %-25s\n", "  Win Rate", x, y);
	printf("%-20s %-25g %-25g\n", "  Games Played", mreg_num_nz(a->metrics.v[MREG_METRIC_GAMES_PLAYED]),
	       mreg_num_nz(b->metrics.v[MREG_METRIC_GAMES_PLAYED]));
	printf("\n%-20s\n", "Training Config");
	static const char *const rows[][2] = { { "  Optimizer", "optimizer" }, { "  Learning Rate", "learning_rate" },
					       { "  Batch Size", "batch_size" }, { "  Epochs", "epochs" } };
	for (size_t i = 0; i < 4; i++) {
		char p[MREG_NUM_MAX + 64], q[MREG_NUM_MAX + 64];
		printf("%-20s %-25s %-25s\n", rows[i][0], config_text(p, sizeof(p), a, rows[i][1]),
		       config_text(q, sizeof(q), b, rows[i][1]));
	}
}

/* Both versions, fully parsed, in one state (every model loaded: compare is not a hot path). */
static int load_pair(mreg_state **st, mreg_model **ma, mreg_version **a, mreg_model **mb, mreg_version **b,
		     mreg_registry *reg, const mreg_ref *ra, const mreg_ref *rb)
{
	int rc;
	if ((rc = mreg_registry_state(st, reg, NULL, true)) < 0 || (rc = mreg_query_version(ma, a, *st, ra)) < 0 ||
	    (rc = mreg_query_version(mb, b, *st, rb)) < 0 || (rc = mreg_version_materialize(*a)) < 0 ||
	    (rc = mreg_version_materialize(*b)) < 0)
		return rc;
	return 0;
}

static int count_opt(int64_t *out, const opt_values *o, const char *name)
{
	double v = 0;
	bool given = false;
	if (num_opt(&v, &given, o, name, 0, 1e15) < 0)
		return -1;
	if (!given) {
		cli_usage(o->cmd, "compare --record needs --%s", name);
		return -1;
	}
	if (v != (double)(int64_t)v) {
		cli_usage(o->cmd, "invalid --%s '%s': expected a whole number", name, opt(o, name));
		return -1;
	}
	*out = (int64_t)v;
	return 0;
}

int cmd_compare(cli_globals *g, int argc, char **argv)
{
	opt_values o = { cli_find("compare"), { 0 }, { 0 } };
	cli_args a;
	mreg_registry *reg = NULL;
	mreg_state *st = NULL;
	mreg_ref ra, rb;
	int rc;

	if ((rc = cli_parse(&a, o.cmd, argc, argv, collect_opt, &o)))
		return rc;
	if (a.npositional != 2)
		return cli_usage(o.cmd, "compare needs two REFs");
	if ((rc = mreg_ref_parse(&ra, a.positional[0])) < 0 || (rc = mreg_ref_parse(&rb, a.positional[1])) < 0)
		return cli_fail(rc);
	bool record = flag(&o, "record");
	static const char *const rec_only[] = { "games", "a-wins", "b-wins", "draws", "elo-diff", "notes" };
	for (size_t i = 0; !record && i < 6; i++)
		if (opt(&o, rec_only[i]))
			return cli_usage(o.cmd, "--%s goes with --record", rec_only[i]);
	mreg_comparison_opts co;
	memset(&co, 0, sizeof(co));
	if (record) {
		if (count_opt(&co.games, &o, "games") < 0 || count_opt(&co.a_wins, &o, "a-wins") < 0 ||
		    count_opt(&co.b_wins, &o, "b-wins") < 0 || count_opt(&co.draws, &o, "draws") < 0 ||
		    num_opt(&co.elo_diff, &co.has_elo_diff, &o, "elo-diff", -1e6, 1e6) < 0)
			return 2;
		if (co.a_wins + co.b_wins + co.draws > co.games)
			return cli_usage(o.cmd, "wins and draws (%lld) add up to more than --games %lld",
					 (long long)(co.a_wins + co.b_wins + co.draws), (long long)co.games);
		co.notes = opt(&o, "notes");
	}
	if ((rc = cli_open(&reg, g)))
		return rc;
	if (record) {
		cJSON *res = NULL;
		if ((rc = mreg_compare_record(&res, reg, &ra, &rb, &co)) < 0) {
			rc = cli_fail(rc);
		} else if (g->json) {
			mreg_buf b = MREG_BUF_INIT;
			mreg_jsonw w;
			cli_json_begin(&w, &b);
			mreg_jsonw_value(&w, NULL, res);
			cli_json_end(&w, &b);
		} else {
			const cJSON *A = cJSON_GetObjectItemCaseSensitive(res, "model_a");
			const cJSON *B = cJSON_GetObjectItemCaseSensitive(res, "model_b");
			printf("Recorded %s vs %s: %lld-%lld-%lld of %lld (A %.1f%%, B %.1f%%, draws %.1f%%)\n",
			       A ? A->valuestring : "?", B ? B->valuestring : "?", (long long)co.a_wins, (long long)co.b_wins,
			       (long long)co.draws, (long long)co.games,
			       cJSON_GetObjectItemCaseSensitive(res, "a_win_rate")->valuedouble * 100,
			       cJSON_GetObjectItemCaseSensitive(res, "b_win_rate")->valuedouble * 100,
			       cJSON_GetObjectItemCaseSensitive(res, "draw_rate")->valuedouble * 100);
		}
		cJSON_Delete(res);
		goto done;
	}
	mreg_model *ma, *mb;
	mreg_version *va, *vb;
	if ((rc = load_pair(&st, &ma, &va, &mb, &vb, reg, &ra, &rb)) < 0) {
		rc = cli_fail(rc);
		goto done;
	}
	if (g->json) {
		mreg_buf b = MREG_BUF_INIT;
		mreg_jsonw w;
		cli_json_begin(&w, &b);
		mreg_jsonw_obj_begin(&w, NULL);
		mreg_version_write(&w, "model_a", ma, va);
		mreg_version_write(&w, "model_b", mb, vb);
		if ((va->metrics.present & vb->metrics.present & (1u << MREG_METRIC_ELO)))
			mreg_jsonw_num(&w, "elo_diff", vb->metrics.v[MREG_METRIC_ELO] - va->metrics.v[MREG_METRIC_ELO]);
		else
			mreg_jsonw_null(&w, "elo_diff");
		mreg_jsonw_obj_end(&w);
		cli_json_end(&w, &b);
	} else {
		print_compare_table(ma, va, mb, vb);
	}
done:
	mreg_state_free(st);
	mreg_registry_free(reg);
	return rc;
}

/* ---- auto-promote --------------------------------------------------- */

const cli_opt opts_auto_promote[] = {
	{ "min-elo-improvement", 0, true, "X  Elo over production for staging -> production (mreg.json, 25)" },
	{ "min-games", 0, true, "N      games for production, half for staging (mreg.json, 100)" },
	{ NULL, 0, false, NULL }
};

int cmd_auto_promote(cli_globals *g, int argc, char **argv)
{
	opt_values o = { cli_find("auto-promote"), { 0 }, { 0 } };
	cli_args a;
	mreg_registry *reg = NULL;
	mreg_ref ref;
	mreg_policy p;
	mreg_buf why = MREG_BUF_INIT;
	int rc;

	if ((rc = cli_parse(&a, o.cmd, argc, argv, collect_opt, &o)))
		return rc;
	if (a.npositional != 1)
		return cli_usage(o.cmd, "auto-promote needs one REF");
	if ((rc = mreg_ref_parse(&ref, a.positional[0])) < 0)
		return cli_fail(rc);
	if ((rc = cli_open(&reg, g)))
		return rc;
	if ((rc = mreg_registry_policy(&p, reg)) < 0) {
		rc = cli_fail(rc);
		goto done;
	}
	if (num_opt(&p.min_elo_improvement, NULL, &o, "min-elo-improvement", -1e6, 1e6) < 0 ||
	    num_opt(&p.min_games, NULL, &o, "min-games", 0, 1e12) < 0) {
		rc = 2;
		goto done;
	}
	/* the stage before, for the message */
	mreg_state *st = NULL;
	mreg_model *m;
	mreg_version *v;
	if ((rc = mreg_registry_model(&st, reg, ref.model, ref.version)) < 0 ||
	    (rc = mreg_query_version(&m, &v, st, &ref)) < 0) {
		mreg_state_free(st);
		rc = cli_fail(rc);
		goto done;
	}
	mreg_stage from = v->stage;
	int version = v->version;
	mreg_state_free(st);
	ref.version = version;
	mreg_stage to;
	if ((rc = mreg_auto_promote(&to, &why, reg, &ref, &p)) < 0) {
		rc = cli_fail(rc);
		goto done;
	}
	if (g->json) {
		mreg_buf b = MREG_BUF_INIT;
		mreg_jsonw w;
		cli_json_begin(&w, &b);
		mreg_jsonw_obj_begin(&w, NULL);
		mreg_jsonw_str(&w, "model_id", ref.model);
		mreg_jsonw_int(&w, "version", version);
		mreg_jsonw_bool(&w, "promoted", to != MREG_STAGE_NONE);
		mreg_jsonw_str(&w, "from_stage", mreg_stage_name(from));
		mreg_jsonw_str(&w, "to_stage", to != MREG_STAGE_NONE ? mreg_stage_name(to) : NULL);
		mreg_jsonw_str(&w, "reason", why.ptr);
		mreg_jsonw_obj_end(&w);
		cli_json_end(&w, &b);
	} else if (to != MREG_STAGE_NONE) {
		printf("Promoted %s:%d %s -> %s: %s\n", ref.model, version, mreg_stage_name(from), mreg_stage_name(to),
		       why.ptr);
	} else {
		printf("Not promoted %s:%d (%s): %s\n", ref.model, version, mreg_stage_name(from), why.ptr);
	}
done:
	mreg_buf_dispose(&why);
	mreg_registry_free(reg);
	return rc;
}

/* ---- dashboard ------------------------------------------------------ */

/* board and players of a CMA-ES model, from its tags; "" for others */
static void board_of(char *out, size_t n, const mreg_version *v)
{
	const char *board = NULL, *players = NULL;
	out[0] = '\0';
	for (size_t i = 0; i < v->ntags; i++) {
		if (!strncmp(v->tags[i], "board:", 6))
			board = v->tags[i] + 6;
		else if (!strncmp(v->tags[i], "players:", 8))
			players = v->tags[i] + 8;
	}
	if (board && players)
		snprintf(out, n, " (%s_%sp)", board, players);
}

int cmd_dashboard(cli_globals *g, int argc, char **argv)
{
	const cli_command *cmd = cli_find("dashboard");
	mreg_registry *reg = NULL;
	mreg_state *st = NULL;
	mreg_row *rows = NULL;
	size_t n = 0;
	int rc;

	if ((rc = cli_open_noargs(&reg, g, cmd, argc, argv, NULL, NULL)))
		return rc;
	mreg_filter f = MREG_FILTER_INIT;
	f.stage = MREG_STAGE_STAGING;
	if ((rc = mreg_registry_state(&st, reg, NULL, true)) < 0 || (rc = mreg_query_list(&rows, &n, st, &f)) < 0) {
		rc = cli_fail(rc);
		goto done;
	}
	int64_t prod = st->stage_count[MREG_STAGE_PRODUCTION], dev = st->stage_count[MREG_STAGE_DEVELOPMENT],
		arch = st->stage_count[MREG_STAGE_ARCHIVED];
	if (g->json) {
		mreg_buf b = MREG_BUF_INIT;
		mreg_jsonw w;
		cli_json_begin(&w, &b);
		mreg_jsonw_obj_begin(&w, NULL);
		mreg_jsonw_arr_begin(&w, "production");
		for (size_t i = 0; i < st->nmodels; i++)
			if (st->models[i]->prod)
				mreg_version_write(&w, NULL, st->models[i], st->models[i]->prod);
		mreg_jsonw_arr_end(&w);
		mreg_jsonw_arr_begin(&w, "staging");
		for (size_t i = 0; i < n; i++)
			mreg_version_write(&w, NULL, rows[i].model, rows[i].version);
		mreg_jsonw_arr_end(&w);
		mreg_jsonw_obj_begin(&w, "counts");
		for (int s = 0; s < MREG_STAGE_COUNT; s++)
			mreg_jsonw_int(&w, mreg_stage_name((mreg_stage)s), st->stage_count[s]);
		mreg_jsonw_obj_end(&w);
		mreg_jsonw_obj_end(&w);
		cli_json_end(&w, &b);
		goto done;
	}
	printf("\n============================================================\n");
	printf("        RingRift Model Registry Dashboard\n");
	printf("============================================================\n");
	printf("\n%-15s (%lld models)\n", "PRODUCTION", (long long)prod);
	printf("--------------------------------------------------\n");
	if (!prod)
		printf("  No production models\n");
	for (size_t i = 0; i < st->nmodels; i++) {
		const mreg_model *m = st->models[i];
		if (!m->prod)
			continue;
		mreg_buf e = MREG_BUF_INIT;
		char board[300];
		if (m->prod->metrics.present & (1u << MREG_METRIC_ELO))
			mreg_buf_printf(&e, "%.0f", mreg_num_nz(m->prod->metrics.v[MREG_METRIC_ELO]));
		else
			mreg_buf_puts(&e, "N/A");
		board_of(board, sizeof(board), m->prod);
		printf("  %-25s Elo: %-6s%s\n", m->id, e.ptr, board);
		mreg_buf_dispose(&e);
	}
	printf("\n%-15s (%zu models)\n", "STAGING", n);
	printf("--------------------------------------------------\n");
	if (!n)
		printf("  No staging models\n");
	for (size_t i = 0; i < n && i < 5; i++)
		printf("  %-25s Games: %g\n", rows[i].model->id,
		       mreg_num_nz(rows[i].version->metrics.v[MREG_METRIC_GAMES_PLAYED]));
	if (n > 5)
		printf("  ... and %zu more\n", n - 5);
	printf("\n%-15s %lld models awaiting evaluation\n", "DEVELOPMENT", (long long)dev);
	printf("%-15s %lld models\n", "ARCHIVED", (long long)arch);
	printf("\n%-15s %lld model versions in registry\n", "TOTAL", (long long)(prod + (int64_t)n + dev + arch));
	printf("\n============================================================\n");
done:
	free(rows);
	mreg_state_free(st);
	mreg_registry_free(reg);
	return rc;
}

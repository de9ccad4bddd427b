/*
 * The rollback manager: baseline (what a check compares to), rollback (the
 * check, the rollback itself, and its record: history, stats, requests
 * waiting for approval) and regression (the original's policy for a
 * reported regression). The decisions are the library's; the words and
 * tables are the original's, and --json gives objects with its keys.
 */
#include "cli.h"
#include "../core/num.h"

#include <string.h>
#include <time.h>

/* ---- baseline ------------------------------------------------------- */

const cli_opt opts_baseline[] = {
	{ "elo", 0, true, "X            baseline Elo (default: the production version's)" },
	{ "win-rate", 0, true, "Y       baseline win rate, 0 to 1" },
	{ "games", 0, true, "N          games played at the baseline" },
	{ "name", 0, true, "NAME         a named baseline, checked as well as the model's own" },
	{ NULL, 0, false, NULL }
};

/* "Baseline of m: elo 1500, ..." (the name in quotes after the model's id for a named one). */
static void print_baseline(const char *model, const char *name, const cJSON *b)
{
	char e[32], r[32], n[32];
	printf("Baseline %s%s%sof %s: elo %s, win rate %s, games %s (set %s by %s)\n", name ? "'" : "", name ? name : "",
	       name ? "' " : "", model, cli_member_text(e, sizeof(e), b, "elo"), cli_member_text(r, sizeof(r), b, "win_rate"),
	       cli_member_text(n, sizeof(n), b, "games_played"), cli_str(b, "set_at"), cli_str(b, "set_by"));
}

/* --elo, --win-rate and --games (of baseline, and of rollback's check) as metrics; -1 after a usage error. */
static int metrics_opts(mreg_metrics *m, const cli_args *a)
{
	double v;
	bool given = false;
	memset(m, 0, sizeof(*m));
	if (cli_number_opt(&v, &given, a, "elo", -1e6, 1e6) < 0)
		return -1;
	if (given)
		m->v[MREG_METRIC_ELO] = v, m->present |= 1u << MREG_METRIC_ELO, given = false;
	if (cli_number_opt(&v, &given, a, "win-rate", 0, 1) < 0)
		return -1;
	if (given)
		m->v[MREG_METRIC_WIN_RATE] = v, m->present |= 1u << MREG_METRIC_WIN_RATE, given = false;
	if (cli_number_opt(&v, &given, a, "games", 0, 1e15) < 0)
		return -1;
	if (given) {
		if (v != (double)(long long)v) {
			cli_usage(a->cmd, "invalid --games '%s': expected a whole number", cli_get(a, "games"));
			return -1;
		}
		m->v[MREG_METRIC_GAMES_PLAYED] = v, m->present |= 1u << MREG_METRIC_GAMES_PLAYED;
	}
	return 0;
}

int cmd_baseline(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	mreg_registry *reg = NULL;
	mreg_state *st = NULL;
	mreg_metrics m;
	int rc;

	if ((rc = cli_parse(&a, "baseline", argc, argv)))
		return rc;
	if (a.npositional != 2 || (strcmp(a.positional[0], "set") && strcmp(a.positional[0], "show")))
		return cli_usage(a.cmd, "baseline needs 'set MODEL' or 'show MODEL'");
	const char *model = a.positional[1];
	if (mreg_id_check(model) < 0)
		return cli_fail(MREG_EINVALID);
	if (metrics_opts(&m, &a) < 0)
		return 2;
	if ((rc = cli_open(&reg, g)))
		return rc;
	const char *name = cli_get(&a, "name");
	if (!strcmp(a.positional[0], "set") && (rc = mreg_baseline_set(reg, model, name, &m)) < 0) {
		rc = cli_fail(rc);
		goto done;
	}
	if ((rc = mreg_read_state(&st, reg, NULL, false)) < 0) {
		rc = cli_fail(rc);
		goto done;
	}
	/* a baseline may be there ahead of the model (the original's get_baseline: None when not) */
	const cJSON *named = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st->monitor, model),
							      "baselines");
	const cJSON *b = name ? cJSON_GetObjectItemCaseSensitive(named, name)
			      : cJSON_GetObjectItemCaseSensitive(st->baselines, model);
	if (g->json) {
		cli_print_value(b);	/* null when none is set */
	} else if (!b && !(name == NULL && named)) {
		printf("No baseline %s%s%sset for %s\n", name ? "'" : "", name ? name : "", name ? "' " : "", model);
	} else {
		if (b)
			print_baseline(model, name, b);
		if (!name)
			cJSON_ArrayForEach(b, named) print_baseline(model, b->string, b);
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
	{ "dry-run", 0, false, "        say what the rollback would do; write nothing" },
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
static int check_policy(mreg_policy *p, mreg_registry *reg, const cli_args *a)
{
	int rc = mreg_registry_policy(p, reg);
	if (rc < 0)
		return rc;
	if (cli_number_opt(&p->elo_drop_threshold, NULL, a, "elo-drop-threshold", 0, 1e6) < 0 ||
	    cli_number_opt(&p->win_rate_drop_threshold, NULL, a, "win-rate-drop-threshold", 0, 1) < 0 ||
	    cli_number_opt(&p->min_games_for_evaluation, NULL, a, "min-games-for-evaluation", 0, 1e12) < 0)
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
	if ((rc = mreg_read_state(&st, reg, model, false)) < 0)
		return rc;
	mreg_model *m = mreg_state_model(st, model);
	if (m && !m->nversions)
		m = NULL;	/* a model the registry has not seen: not in production, as the original answers */
	current_metrics(&cur, m, given);
	rc = mreg_should_rollback(reason, check, st, m, &cur, p);
	mreg_state_free(st);
	return rc;
}

/* rollback --dry-run: what it would do; 0, or the exit code after the refusal it would meet. */
static int print_plan(cli_globals *g, mreg_registry *reg, const char *model, int to)
{
	int from_v = 0, to_v = 0, rc = mreg_rollback_plan(&from_v, &to_v, reg, model, to);
	if (rc < 0)
		return cli_fail(rc);
	if (!g->json) {
		printf("Would roll back %s to v%d (v%d archived); nothing was written (--dry-run)\n", model, to_v, from_v);
		return 0;
	}
	cli_json j;
	mreg_jsonw *w = cli_json_object(&j);
	mreg_jsonw_bool(w, "dry_run", true);
	mreg_jsonw_str(w, "model_id", model);
	mreg_jsonw_int(w, "from_version", from_v);
	mreg_jsonw_int(w, "to_version", to_v);
	cli_json_print(&j);
	return 0;
}

static void print_rolled_back(cli_globals *g, const char *model, int from, int to, const char *reason,
			      const char *trigger)
{
	if (!g->json) {
		printf("Successfully rolled back to %s:v%d (v%d archived)\n", model, to, from);
		return;
	}
	cli_json j;
	mreg_rolled_back_write(cli_json_start(&j), model, from, to, reason, trigger);
	cli_json_print(&j);
}

static int rollback_history(cli_globals *g, mreg_registry *reg, const char *model, const cli_args *a)
{
	mreg_state *st = NULL;
	double limit = 20;
	int rc;
	if (cli_number_opt(&limit, NULL, a, "limit", 0, 1e9) < 0)
		return 2;
	if ((rc = mreg_read_state(&st, reg, NULL, false)) < 0)
		return cli_fail(rc);
	if (g->json) {
		cli_json j;
		mreg_rollback_history_write(cli_json_start(&j), st, model, limit);
		cli_json_print(&j);
		mreg_state_free(st);
		return 0;
	}
	int n = cJSON_GetArraySize(st->rollbacks), shown = 0;
	printf("%-27s %-20s %-5s %-5s %-26s %-7s %s\n", "Time", "Model", "From", "To", "Trigger", "Result", "Reason");
	printf("%s\n", "------------------------------------------------------------------------------------------------------------");
	/* newest first: the record is in fold order */
	for (int i = n - 1; i >= 0 && shown < limit; i--) {
		const cJSON *r = cJSON_GetArrayItem(st->rollbacks, i);
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "model_id");
		if (model && strcmp(id->valuestring, model))
			continue;
		shown++;
		char t[40], f[MREG_NUM_MAX], to[MREG_NUM_MAX], tr[64];
		const cJSON *ok = cJSON_GetObjectItemCaseSensitive(r, "success");
		const cJSON *err = cJSON_GetObjectItemCaseSensitive(r, "error_message");
		printf("%-27s %-20s v%-4s v%-4s %-26s %-7s %s\n", cli_member_text(t, sizeof(t), r, "timestamp"), id->valuestring,
		       cli_member_text(f, sizeof(f), r, "from_version"), cli_member_text(to, sizeof(to), r, "to_version"),
		       cli_member_text(tr, sizeof(tr), r, "triggered_by"), cJSON_IsTrue(ok) ? "ok" : "failed",
		       cJSON_IsTrue(ok) ? cJSON_GetObjectItemCaseSensitive(r, "reason")->valuestring : err->valuestring);
	}
	if (!shown)
		printf("No rollbacks recorded.\n");
	mreg_state_free(st);
	return 0;
}

static int rollback_stats(cli_globals *g, mreg_registry *reg)
{
	mreg_state *st = NULL;
	mreg_rollback_stats s;
	const cJSON *r;
	int rc;
	if ((rc = mreg_read_state(&st, reg, NULL, false)) < 0 || (rc = mreg_rollback_stats_of(&s, st, cli_now_usec())) < 0) {
		mreg_state_free(st);
		return cli_fail(rc);
	}
	if (g->json) {
		cli_json j;
		mreg_rollback_stats_write(cli_json_start(&j), &s);
		cli_json_print(&j);
	} else {
		printf("Rollbacks: %lld total, %lld successful, %lld failed, %lld in the last 24 h\n", (long long)s.total,
		       (long long)s.successful, (long long)(s.total - s.successful), (long long)s.recent);
		cJSON_ArrayForEach(r, s.by_trigger)
			printf("  %-28s %g\n", r->string, r->valuedouble);
	}
	mreg_rollback_stats_dispose(&s);
	mreg_state_free(st);
	return 0;
}

static int rollback_pending(cli_globals *g, mreg_registry *reg)
{
	mreg_state *st = NULL;
	int rc;
	if ((rc = mreg_read_state(&st, reg, NULL, false)) < 0)
		return cli_fail(rc);
	if (g->json) {
		cli_json j;
		mreg_jsonw *w = cli_json_start(&j);
		if (st->pending)
			mreg_jsonw_value(w, NULL, st->pending);
		else
			mreg_jsonw_obj_begin(w, NULL), mreg_jsonw_obj_end(w);
		cli_json_print(&j);
	} else if (!st->pending) {
		printf("No rollbacks waiting for approval.\n");
	} else {
		const cJSON *p;
		cJSON_ArrayForEach(p, st->pending) {
			char d[32];
			printf("%s: %s regression, elo drop %s, requested %s by %s: %s\n", p->string,
			       cJSON_GetObjectItemCaseSensitive(p, "severity")->valuestring,
			       cli_member_text(d, sizeof(d), p, "elo_drop"),
			       cJSON_GetObjectItemCaseSensitive(p, "requested_at")->valuestring,
			       cJSON_GetObjectItemCaseSensitive(p, "requested_by")->valuestring,
			       cJSON_GetObjectItemCaseSensitive(p, "reason")->valuestring);
		}
	}
	mreg_state_free(st);
	return 0;
}

/* --if-needed's answer when nothing rolled back, as JSON: {should_rollback, rolled_back: false, reason, ...}. */
static mreg_jsonw *not_rolled_back(cli_json *j, bool should, const char *why)
{
	mreg_jsonw *w = cli_json_object(j);
	mreg_jsonw_bool(w, "should_rollback", should);
	mreg_jsonw_bool(w, "rolled_back", false);
	mreg_jsonw_str(w, "reason", why);
	return w;
}

/* What --if-needed prints when the check finds no rollback needed. */
static void print_no_rollback(cli_globals *g, const char *why, const mreg_buf *check)
{
	if (!g->json) {
		printf("No rollback: %s%s%s%s\n", why, check->size ? " (" : "", check->ptr, check->size ? ")" : "");
		return;
	}
	cli_json j;
	not_rolled_back(&j, false, why);
	cli_json_print(&j);
}

/* What --if-needed prints when a regression was seen, but not yet in enough checks in a row. */
static void print_run(cli_globals *g, const char *why, int seen, double required)
{
	if (!g->json) {
		printf("Regression seen in %d of %.0f consecutive checks (rollback.consecutive_regressions_required), "
		       "no rollback yet: %s\n", seen, required, why);
		return;
	}
	cli_json j;
	mreg_jsonw *w = not_rolled_back(&j, true, why);
	mreg_jsonw_int(w, "regressions_seen", seen);
	mreg_jsonw_int(w, "regressions_required", (int64_t)required);
	cli_json_print(&j);
}

/* rollback MODEL --if-needed: the check first; its words become the reason, "auto_check" the trigger. */
static int rollback_if_needed(cli_globals *g, mreg_registry *reg, const char *model, int to, const mreg_metrics *given,
			      const cli_args *a)
{
	mreg_buf why = MREG_BUF_INIT, check = MREG_BUF_INIT;
	const char *reason = cli_get(a, "reason"), *trigger = cli_get(a, "trigger");
	mreg_policy p;
	int from_v = 0, to_v = 0, rc;

	if ((rc = check_policy(&p, reg, a)) == 1)
		return 2;
	if (rc == 0)
		rc = rollback_check(&why, &check, reg, model, given, &p);
	int seen = 0;
	if (rc >= 0 && p.consecutive_regressions_required > 1 && !cli_has(a, "dry-run")) {
		/* the monitor's run of regressions, one event per check that changes it */
		int got = mreg_rollback_checked(&seen, reg, model, rc == 1, rc == 1 ? why.ptr : check.size ? check.ptr : why.ptr);
		rc = got < 0 ? got : rc;
	}
	if (rc < 0) {
		rc = cli_fail(rc);
	} else if (rc == 0) {
		print_no_rollback(g, why.ptr, &check);
	} else if (seen && seen < p.consecutive_regressions_required) {
		print_run(g, why.ptr, seen, p.consecutive_regressions_required);
		rc = 0;
	} else if (cli_has(a, "dry-run")) {
		rc = print_plan(g, reg, model, to);
	} else if (!p.auto_rollback_enabled) {
		/* reported, never rolled back by itself: mreg.json's rollback.auto_rollback_enabled is false */
		if (g->json) {
			cli_json j;
			mreg_jsonw_str(not_rolled_back(&j, true, why.ptr), "not_rolled_back", "automatic rollback is disabled (rollback.auto_rollback_enabled)");
			cli_json_print(&j);
		} else {
			printf("Rollback needed, not made (automatic rollback is disabled: rollback.auto_rollback_enabled): %s\n",
			       why.ptr);
		}
		rc = 0;
	} else {
		if (!reason)
			reason = why.ptr;
		if (!trigger)
			trigger = "auto_check";
		if ((rc = mreg_rollback(&from_v, &to_v, reg, model, to, reason, trigger)) < 0) {
			rc = cli_fail(rc);
		} else {
			print_rolled_back(g, model, from_v, to_v, reason, trigger);
			rc = 0;
		}
	}
	mreg_buf_dispose(&why);
	mreg_buf_dispose(&check);
	return rc;
}

/* rollback MODEL [--to N] [-r R] [--trigger T] [--if-needed ...] */
static int rollback_do(cli_globals *g, mreg_registry *reg, const char *model, const cli_args *a)
{
	mreg_metrics given;
	double to = 0;
	int from_v = 0, to_v = 0, rc;
	const char *reason = cli_get(a, "reason"), *trigger = cli_get(a, "trigger");
	if (metrics_opts(&given, a) < 0)
		return 2;
	if (cli_number_opt(&to, NULL, a, "to", 1, 1 << 30) < 0 || cli_number_opt(&to, NULL, a, "version", 1, 1 << 30) < 0)
		return 2;
	if (to != (double)(int)to)
		return cli_usage(a->cmd, "invalid version: expected a whole number");
	if ((given.present || cli_get(a, "elo-drop-threshold") || cli_get(a, "win-rate-drop-threshold") ||
	     cli_get(a, "min-games-for-evaluation")) && !cli_has(a, "if-needed"))
		return cli_usage(a->cmd, "--elo, --win-rate, --games and the thresholds go with 'rollback check' or --if-needed");
	if (cli_has(a, "if-needed"))
		return rollback_if_needed(g, reg, model, (int)to, &given, a);
	if (cli_has(a, "dry-run"))
		return print_plan(g, reg, model, (int)to);
	if ((rc = mreg_rollback(&from_v, &to_v, reg, model, (int)to, reason, trigger)) < 0)
		return cli_fail(rc);
	print_rolled_back(g, model, from_v, to_v, reason ? reason : "Manual rollback", trigger ? trigger : "manual");
	return 0;
}

/* rollback check MODEL: should_rollback's answer, without writing anything. */
static int rollback_check_cmd(cli_globals *g, mreg_registry *reg, const char *model, const cli_args *a)
{
	mreg_metrics given;
	mreg_policy p;
	mreg_buf why = MREG_BUF_INIT, check = MREG_BUF_INIT;
	int rc;
	if (metrics_opts(&given, a) < 0) {
		rc = 2;
	} else if ((rc = check_policy(&p, reg, a)) != 0) {
		rc = rc == 1 ? 2 : cli_fail(rc);
	} else if ((rc = rollback_check(&why, &check, reg, model, &given, &p)) < 0) {
		rc = cli_fail(rc);
	} else if (g->json) {
		cli_json j;
		mreg_jsonw *w = cli_json_object(&j);
		mreg_jsonw_bool(w, "should_rollback", rc == 1);
		mreg_jsonw_str(w, "reason", why.ptr);
		mreg_jsonw_str(w, "check", check.size ? check.ptr : NULL);
		cli_json_print(&j);
		rc = 0;
	} else {
		printf("%s: %s%s%s%s\n", rc == 1 ? "Rollback needed" : "No rollback", why.ptr,
		       rc == 0 && check.size ? " (" : "", rc == 0 ? check.ptr : "", rc == 0 && check.size ? ")" : "");
		rc = 0;
	}
	mreg_buf_dispose(&why);
	mreg_buf_dispose(&check);
	return rc;
}

static int rollback_approve(cli_globals *g, mreg_registry *reg, const char *model)
{
	int from_v = 0, to_v = 0, rc;
	mreg_buf why = MREG_BUF_INIT;
	if ((rc = mreg_rollback_approve(&from_v, &to_v, &why, reg, model)) < 0)
		rc = cli_fail(rc);
	else
		print_rolled_back(g, model, from_v, to_v, why.ptr, "auto_regression_approved");
	mreg_buf_dispose(&why);
	return rc;
}

static int rollback_clear(cli_globals *g, mreg_registry *reg, const char *model, const cli_args *a)
{
	int rc;
	if ((rc = mreg_rollback_clear(reg, model, cli_get(a, "reason"))) < 0)
		return cli_fail(rc);
	if (g->json) {
		cli_json j;
		mreg_jsonw *w = cli_json_object(&j);
		mreg_jsonw_bool(w, "cleared", true);
		mreg_jsonw_str(w, "model_id", model);
		cli_json_print(&j);
	} else {
		printf("Cleared the pending rollback of %s\n", model);
	}
	return 0;
}

/*
 * The subcommand (NULL for `rollback MODEL`) and the MODEL its arguments
 * name (NULL where there is none): 0, or 2 after the usage error.
 */
static int rollback_args(const char **sub, const char **model, const cli_args *a)
{
	const char *s = a->positional[0];
	*sub = s;
	*model = NULL;
	if (!strcmp(s, "check") || !strcmp(s, "approve") || !strcmp(s, "clear")) {
		if (a->npositional != 2)
			return cli_usage(a->cmd, "rollback %s needs one MODEL", s);
		*model = a->positional[1];
	} else if (!strcmp(s, "stats") || !strcmp(s, "pending")) {
		if (a->npositional != 1)
			return cli_usage(a->cmd, "rollback %s takes no arguments", s);
	} else if (!strcmp(s, "history")) {
		if (a->npositional > 2)
			return cli_usage(a->cmd, "rollback history takes at most one MODEL");
		*model = a->npositional == 2 ? a->positional[1] : NULL;
	} else {
		if (a->npositional != 1)
			return cli_usage(a->cmd, "rollback needs one MODEL");
		*model = s;
		*sub = NULL;
	}
	return 0;
}

int cmd_rollback(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	mreg_registry *reg = NULL;
	const char *sub, *model;
	int rc;

	if ((rc = cli_parse(&a, "rollback", argc, argv)))
		return rc;
	if (a.npositional < 1)
		return cli_usage(a.cmd, "rollback needs MODEL or a subcommand");
	if ((rc = rollback_args(&sub, &model, &a)))
		return rc;
	if (model && mreg_id_check(model) < 0)
		return cli_fail(MREG_EINVALID);
	if ((rc = cli_open(&reg, g)))
		return rc;
	if (!sub)
		rc = rollback_do(g, reg, model, &a);
	else if (!strcmp(sub, "check"))
		rc = rollback_check_cmd(g, reg, model, &a);
	else if (!strcmp(sub, "history"))
		rc = rollback_history(g, reg, model, &a);
	else if (!strcmp(sub, "stats"))
		rc = rollback_stats(g, reg);
	else if (!strcmp(sub, "pending"))
		rc = rollback_pending(g, reg);
	else if (!strcmp(sub, "approve"))
		rc = rollback_approve(g, reg, model);
	else
		rc = rollback_clear(g, reg, model, &a);
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
	cli_args a;
	mreg_registry *reg = NULL;
	double drop = 0;
	bool has_drop = false;
	int rc, from_v = 0, to_v = 0;

	if ((rc = cli_parse(&a, "regression", argc, argv)))
		return rc;
	if (a.npositional != 1)
		return cli_usage(a.cmd, "regression needs one MODEL");
	if (!cli_get(&a, "severity"))
		return cli_usage(a.cmd, "regression needs --severity");
	if (cli_number_opt(&drop, &has_drop, &a, "elo-drop", -1e6, 1e6) < 0)
		return 2;
	if (!has_drop)
		return cli_usage(a.cmd, "regression needs --elo-drop");
	const char *model = a.positional[0];
	if (mreg_id_check(model) < 0)
		return cli_fail(MREG_EINVALID);
	mreg_buf why = MREG_BUF_INIT, dflt = MREG_BUF_INIT;
	mreg_buf_printf(&dflt, "Elo dropped by %g", drop);
	const char *reason = cli_get(&a, "reason") ? cli_get(&a, "reason") : dflt.ptr;
	mreg_regression_action act;
	if ((rc = cli_open(&reg, g)))
		goto out;
	if (cli_has(&a, "no-approval") && cli_has(&a, "require-approval")) {
		rc = cli_usage(a.cmd, "--no-approval and --require-approval contradict each other");
		goto out;
	}
	int approval = cli_has(&a, "no-approval") ? 0 : cli_has(&a, "require-approval") ? 1 : -1;
	if ((rc = mreg_regression(&act, &why, &from_v, &to_v, reg, model, cli_get(&a, "severity"), drop, reason, approval)) < 0) {
		rc = cli_fail(rc);
		goto out;
	}
	if (g->json) {
		cli_json j;
		mreg_regression_write(cli_json_start(&j), model, act, why.ptr, from_v, to_v);
		cli_json_print(&j);
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

/*
 * The quality watch (the original's QualityRollbackWatcher): data-quality
 * scores reported for a model, as events; a score that stays below
 * mreg.json's rollback.quality_critical_threshold for
 * rollback.quality_sustained_minutes rolls the model back (trigger
 * auto_quality), when a report comes or at the next `quality check`.
 */
#include "cli.h"

#include <string.h>

const cli_opt opts_quality[] = {
	{ "score", 0, true, "S          report: the data-quality score, 0 to 1" },
	{ "reason", 'r', true, "R         report: what the score is about" },
	{ "dry-run", 0, false, "        check: say what would roll back; write nothing" },
	{ NULL, 0, false, NULL }
};

/* How long a watched model's quality has been low, in minutes (0: not watched). */
static double minutes_low(const cJSON *q)
{
	int64_t t;
	const char *since = cli_str(q, "low_since");
	if (!since[0] || mreg_time_parse(&t, since) < 0)
		return 0;
	double m = (double)(cli_now_usec() - t) / 60e6;
	return m > 0 ? m : 0;
}

typedef struct {
	mreg_monitor_outcome outcome;
	int from, to;
	mreg_buf why;		/* the decision, or the refusal's message */
	bool refused;		/* due, but the rollback was refused (cooldown, no candidate, ...) */
} watch_result;

/* The watch of one model, decided and (unless dry_run) acted on; <0 on an error that is not a refusal. */
static int watch_one(watch_result *r, mreg_registry *reg, const char *model, bool dry_run)
{
	mreg_buf empty = MREG_BUF_INIT;
	memset(r, 0, sizeof(*r));
	r->why = empty;
	int rc = mreg_quality_rollback(&r->outcome, &r->from, &r->to, &r->why, reg, model, dry_run);
	if (rc == MREG_ETRANSITION || rc == MREG_ENOTFOUND) {
		/* a rollback that cannot be made: said, not fatal to the report */
		mreg_buf_clear(&r->why);
		mreg_buf_puts(&r->why, mreg_error_last());
		r->refused = true;
		return 0;
	}
	return rc;
}

static const char *outcome_name(const watch_result *r, bool dry_run)
{
	if (r->refused)
		return "refused";
	switch (r->outcome) {
	case MREG_MONITOR_ROLLED_BACK:
		return dry_run ? "would_roll_back" : "rolled_back";
	case MREG_MONITOR_NOT_MADE:
		return "not_made";
	default:
		return "none";
	}
}

static void write_result(mreg_jsonw *w, const char *model, const watch_result *r, bool dry_run)
{
	mreg_jsonw_str(w, "model_id", model);
	mreg_jsonw_str(w, "action", outcome_name(r, dry_run));
	mreg_jsonw_str(w, "reason", r->why.ptr);
	if (r->outcome == MREG_MONITOR_ROLLED_BACK && !r->refused) {
		mreg_jsonw_int(w, "from_version", r->from);
		mreg_jsonw_int(w, "to_version", r->to);
	}
}

/* One model's outcome in words; a refusal goes to stderr as an error when the command fails for it (check). */
static void print_result(const char *model, const watch_result *r, bool dry_run, bool refusal_fails)
{
	if (r->refused && refusal_fails)
		fprintf(stderr, "mreg: %s\n", r->why.ptr);
	else if (r->refused)
		printf("Rollback of %s needed, not made: %s\n", model, r->why.ptr);
	else if (r->outcome == MREG_MONITOR_NOT_MADE)
		printf("Rollback of %s needed, not made (automatic rollback is disabled: rollback.auto_rollback_enabled): %s\n",
		       model, r->why.ptr);
	else if (r->outcome == MREG_MONITOR_ROLLED_BACK)
		printf("%s %s: v%d -> v%d (%s)%s\n", dry_run ? "Would roll back" : "Rolled back", model, r->from, r->to,
		       r->why.ptr, dry_run ? "; nothing was written (--dry-run)" : "");
	else
		printf("No rollback of %s: %s\n", model, r->why.ptr);
}

/* quality report MODEL --score S: the event, then the watch at once (as the original acts on the report). */
static int quality_report(cli_globals *g, mreg_registry *reg, const char *model, const cli_args *a)
{
	double score = 0;
	bool given = false;
	mreg_state *st = NULL;
	watch_result r;
	int rc;
	if (cli_number_opt(&score, &given, a, "score", 0, 1) < 0)
		return 2;
	if (!given)
		return cli_usage(a->cmd, "quality report needs --score");
	if ((rc = mreg_quality_report(reg, model, score, cli_get(a, "reason"))) < 0 ||
	    (rc = watch_one(&r, reg, model, false)) < 0 || (rc = mreg_read_state(&st, reg, NULL, false)) < 0) {
		mreg_buf_dispose(&r.why);
		return cli_fail(rc);
	}
	const cJSON *q = mreg_monitor_quality(st, model);
	if (g->json) {
		cli_json j;
		mreg_jsonw *w = cli_json_object(&j);
		write_result(w, model, &r, false);
		mreg_jsonw_num(w, "score", score);
		mreg_jsonw_value(w, "quality", q);
		cli_json_print(&j);
	} else {
		const char *since = cli_str(q, "low_since");
		double threshold = cli_num(q, "threshold");
		printf("Quality of %s: %.3f (%s %.3f%s%s)\n", model, score, score < threshold ? "below" : "at or above",
		       threshold, since[0] ? ", low since " : "", since);
		if (r.outcome != MREG_MONITOR_NOTHING || r.refused)
			print_result(model, &r, false, false);
	}
	mreg_buf_dispose(&r.why);
	mreg_state_free(st);
	return 0;
}

/* quality check [MODEL] [--dry-run]: every watched model (or MODEL) whose quality stayed low long enough rolls back. */
static int quality_check(cli_globals *g, mreg_registry *reg, const char *model, const cli_args *a)
{
	mreg_state *st = NULL;
	bool dry = cli_has(a, "dry-run"), refused = false;
	cli_json j;
	mreg_jsonw *w = NULL;
	int rc;
	if ((rc = mreg_read_state(&st, reg, NULL, false)) < 0)
		return cli_fail(rc);
	if (g->json) {
		w = cli_json_start(&j);
		mreg_jsonw_arr_begin(w, NULL);
	}
	const cJSON *rec;
	cJSON_ArrayForEach(rec, st->monitor) {
		if (model ? strcmp(rec->string, model) : !cli_str(mreg_monitor_quality(st, rec->string), "low_since")[0])
			continue;
		watch_result r;
		if ((rc = watch_one(&r, reg, rec->string, dry)) < 0) {
			mreg_buf_dispose(&r.why);
			break;
		}
		refused |= r.refused;
		if (w) {
			mreg_jsonw_obj_begin(w, NULL);
			write_result(w, rec->string, &r, dry);
			mreg_jsonw_obj_end(w);
		} else {
			print_result(rec->string, &r, dry, true);
		}
		mreg_buf_dispose(&r.why);
	}
	if (w) {
		mreg_jsonw_arr_end(w);
		cli_json_print(&j);
	}
	mreg_state_free(st);
	if (rc < 0)
		return cli_fail(rc);
	return refused ? 1 : 0;
}

/* quality status: the watched models, since when, and the original's counters. */
static int quality_status(cli_globals *g, mreg_registry *reg)
{
	mreg_state *st = NULL;
	mreg_policy p;
	int rc, triggered = 0, watched = 0;
	if ((rc = mreg_registry_policy(&p, reg)) < 0 || (rc = mreg_read_state(&st, reg, NULL, false)) < 0)
		return cli_fail(rc);
	const cJSON *r, *rec;
	cJSON_ArrayForEach(r, st->rollbacks)
		triggered += !strcmp(cli_str(r, "triggered_by"), "auto_quality") && cJSON_IsTrue(cJSON_GetObjectItem(r, "success"));
	cJSON_ArrayForEach(rec, st->monitor)
		watched += cli_str(mreg_monitor_quality(st, rec->string), "low_since")[0] != 0;
	if (g->json) {
		cli_json j;
		mreg_jsonw *w = cli_json_object(&j);
		mreg_jsonw_num(w, "critical_threshold", p.quality_critical_threshold);
		mreg_jsonw_num(w, "sustained_minutes", p.quality_sustained_minutes);
		mreg_jsonw_int(w, "rollbacks_triggered", triggered);
		mreg_jsonw_arr_begin(w, "configs_being_monitored");
		cJSON_ArrayForEach(rec, st->monitor) if (cli_str(mreg_monitor_quality(st, rec->string), "low_since")[0])
			mreg_jsonw_str(w, NULL, rec->string);
		mreg_jsonw_arr_end(w);
		mreg_jsonw_obj_begin(w, "models");
		cJSON_ArrayForEach(rec, st->monitor) {
			const cJSON *q = mreg_monitor_quality(st, rec->string);
			if (!q)
				continue;
			mreg_jsonw_obj_begin(w, rec->string);
			cJSON_ArrayForEach(r, q) mreg_jsonw_value(w, r->string, r);
			mreg_jsonw_num(w, "minutes_low", minutes_low(q));
			mreg_jsonw_obj_end(w);
		}
		mreg_jsonw_obj_end(w);
		cli_json_print(&j);
	} else {
		printf("Quality watch: %d model%s watched, %d rollback%s triggered (threshold %.3f, sustained %.1f minutes)\n",
		       watched, watched == 1 ? "" : "s", triggered, triggered == 1 ? "" : "s", p.quality_critical_threshold,
		       p.quality_sustained_minutes);
		cJSON_ArrayForEach(rec, st->monitor) {
			const cJSON *q = mreg_monitor_quality(st, rec->string);
			if (q && cli_str(q, "low_since")[0])
				printf("  %s: %.3f, low since %s (%.1f minutes), %.0f reports\n", rec->string, cli_num(q, "score"),
				       cli_str(q, "low_since"), minutes_low(q), cli_num(q, "reports"));
		}
	}
	mreg_state_free(st);
	return 0;
}

int cmd_quality(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	mreg_registry *reg = NULL;
	int rc;
	if ((rc = cli_parse(&a, "quality", argc, argv)))
		return rc;
	const char *sub = a.npositional ? a.positional[0] : "";
	const char *model = a.npositional > 1 ? a.positional[1] : NULL;
	if (!strcmp(sub, "report") ? a.npositional != 2
	    : !strcmp(sub, "check") ? a.npositional > 2
	    : !strcmp(sub, "status") ? a.npositional != 1
				    : true)
		return cli_usage(a.cmd, "quality needs 'report MODEL --score S', 'check [MODEL]' or 'status'");
	if (strcmp(sub, "report") && (cli_get(&a, "score") || cli_get(&a, "reason")))
		return cli_usage(a.cmd, "--score and --reason go with 'quality report'");
	if (strcmp(sub, "check") && cli_has(&a, "dry-run"))
		return cli_usage(a.cmd, "--dry-run goes with 'quality check'");
	if (model && mreg_id_check(model) < 0)
		return cli_fail(MREG_EINVALID);
	if ((rc = cli_open(&reg, g)))
		return rc;
	if (!strcmp(sub, "report"))
		rc = quality_report(g, reg, model, &a);
	else if (!strcmp(sub, "check"))
		rc = quality_check(g, reg, model, &a);
	else
		rc = quality_status(g, reg);
	mreg_registry_free(reg);
	return rc;
}

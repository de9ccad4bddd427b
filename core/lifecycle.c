/*
 * Rollback manager, auto-promoter and regression policy decisions (see
 * lifecycle.h). Numbers in reasons are formatted as the original's Python
 * f-strings format them: {x:.0f}, {x:.1f}, {x:.1%}, and str() of a float.
 */
#include "lifecycle.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

int mreg_policy_from_json(mreg_policy *p, const cJSON *doc)
{
	static const struct {
		const char *group, *key;
		size_t off;
		double min, max;
	} nums[] = {
		{ "rollback", "elo_drop_threshold", offsetof(mreg_policy, elo_drop_threshold), 0, 1e6 },
		{ "rollback", "win_rate_drop_threshold", offsetof(mreg_policy, win_rate_drop_threshold), 0, 1 },
		{ "rollback", "min_games_for_evaluation", offsetof(mreg_policy, min_games_for_evaluation), 0, 1e12 },
		{ "auto_promote", "min_elo_improvement", offsetof(mreg_policy, min_elo_improvement), -1e6, 1e6 },
		{ "auto_promote", "min_games", offsetof(mreg_policy, min_games), 0, 1e12 },
		{ "backup", "max_backups", offsetof(mreg_policy, max_backups), 1, 1e6 },
		{ "backup", "interval_hours", offsetof(mreg_policy, backup_interval_hours), 0, 1e6 },
	};
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		const cJSON *g = cJSON_GetObjectItemCaseSensitive(doc, nums[i].group);
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(g, nums[i].key);
		if (!v)
			continue;
		if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < nums[i].min ||
		    v->valuedouble > nums[i].max)
			return mreg_error_set(MREG_EINVALID, "invalid mreg.json: '%s.%s' must be a number from %g to %g",
					      nums[i].group, nums[i].key, nums[i].min, nums[i].max);
		*(double *)((char *)p + nums[i].off) = v->valuedouble;
	}
	const cJSON *ra = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "rollback"),
							   "require_approval");
	if (ra && !cJSON_IsBool(ra))
		return mreg_error_set(MREG_EINVALID, "invalid mreg.json: 'rollback.require_approval' must be true or false");
	if (ra)
		p->require_approval = cJSON_IsTrue(ra);
	return 0;
}

void mreg_put_pyfloat(mreg_buf *b, double v)
{
	size_t start = b->size;
	mreg_buf_printf(b, "%g", v);
	if (!strpbrk(b->ptr + start, ".en"))	/* integral: Python keeps one decimal */
		mreg_buf_puts(b, ".0");
}

static bool metric(double *out, const mreg_metrics *m, mreg_metric k)
{
	if (!(m->present & (1u << k)))
		return false;
	*out = m->v[k];
	return true;
}

/* A number member of a JSON object; false when absent or null. */
static bool num_of(double *out, const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(v))
		return false;
	*out = v->valuedouble;
	return true;
}

int mreg_check_performance(mreg_buf *out, const cJSON *baseline, const mreg_metrics *cur, const mreg_policy *p)
{
	double bgames = 0, games = 0, belo, elo, bwr, wr;
	if (!baseline) {
		mreg_buf_puts(out, "No baseline set");
		return 0;
	}
	num_of(&bgames, baseline, "games_played");
	metric(&games, cur, MREG_METRIC_GAMES_PLAYED);
	double since = games - bgames;
	if (since < p->min_games_for_evaluation) {
		mreg_buf_printf(out, "Insufficient games (%g)", since);
		return 0;
	}
	/* as the original: a zero or missing rating is not compared */
	if (num_of(&belo, baseline, "elo") && metric(&elo, cur, MREG_METRIC_ELO) && belo != 0 && elo != 0 &&
	    belo - elo >= p->elo_drop_threshold) {
		mreg_buf_printf(out, "Elo dropped by %.0f (threshold: ", belo - elo);
		mreg_put_pyfloat(out, p->elo_drop_threshold);
		mreg_buf_putc(out, ')');
		return 1;
	}
	if (num_of(&bwr, baseline, "win_rate") && metric(&wr, cur, MREG_METRIC_WIN_RATE) && bwr != 0 && wr != 0 &&
	    bwr - wr >= p->win_rate_drop_threshold) {
		mreg_buf_printf(out, "Win rate dropped by %.1f%% (threshold: %.1f%%)", (bwr - wr) * 100,
				p->win_rate_drop_threshold * 100);
		return 1;
	}
	mreg_buf_puts(out, "Performance within acceptable range");
	return 0;
}

const mreg_version *mreg_rollback_candidate(const mreg_model *m)
{
	const mreg_version *any = NULL;
	for (int i = m->nversions; i-- > 0;) {
		const mreg_version *v = &m->versions[i];
		if (v->stage != MREG_STAGE_ARCHIVED)
			continue;
		if (!any)
			any = v;
		double elo;
		if (metric(&elo, &v->metrics, MREG_METRIC_ELO) && elo > 0)
			return v;
	}
	return any;
}

int mreg_should_rollback(mreg_buf *out, mreg_buf *check, const mreg_state *st, const mreg_model *m,
			 const mreg_metrics *cur, const mreg_policy *p)
{
	if (!m || !m->prod) {
		mreg_buf_puts(out, "Model not in production");
		return 0;
	}
	if (!mreg_rollback_candidate(m)) {
		mreg_buf_puts(out, "No rollback candidates available");
		return 0;
	}
	mreg_buf tmp = MREG_BUF_INIT;
	mreg_buf *c = check ? check : &tmp;
	int degraded = mreg_check_performance(c, cJSON_GetObjectItemCaseSensitive(st->baselines, m->id),
					      cur ? cur : &m->prod->metrics, p);
	mreg_buf_puts(out, degraded ? c->ptr : "No rollback needed");
	mreg_buf_dispose(&tmp);
	return degraded;
}

mreg_stage mreg_auto_promote_decide(mreg_buf *out, const mreg_model *m, const mreg_version *v, const mreg_policy *p)
{
	double games = 0, elo, pelo;
	metric(&games, &v->metrics, MREG_METRIC_GAMES_PLAYED);
	if (v->stage == MREG_STAGE_DEVELOPMENT) {
		double need = floor(p->min_games / 2);
		if (games < need) {
			mreg_buf_printf(out, "Insufficient games (%g < %g)", games, need);
			return MREG_STAGE_NONE;
		}
		if (!metric(&elo, &v->metrics, MREG_METRIC_ELO)) {
			mreg_buf_puts(out, "No Elo rating available");
			return MREG_STAGE_NONE;
		}
		mreg_buf_puts(out, "Model meets staging criteria");
		return MREG_STAGE_STAGING;
	}
	if (v->stage != MREG_STAGE_STAGING) {
		mreg_buf_printf(out, "Model is in %s, not development or staging", mreg_stage_name(v->stage));
		return MREG_STAGE_NONE;
	}
	if (games < p->min_games) {
		mreg_buf_printf(out, "Insufficient games (%g < %g)", games, p->min_games);
		return MREG_STAGE_NONE;
	}
	/* production is compared per model (the original took any model's) */
	if (!m->prod) {
		mreg_buf_puts(out, "No current production model");
		return MREG_STAGE_PRODUCTION;
	}
	if (!metric(&elo, &v->metrics, MREG_METRIC_ELO) || !metric(&pelo, &m->prod->metrics, MREG_METRIC_ELO)) {
		mreg_buf_puts(out, "Cannot compare Elo ratings");
		return MREG_STAGE_NONE;
	}
	if (elo - pelo < p->min_elo_improvement) {
		mreg_buf_printf(out, "Elo improvement insufficient (%.1f < ", elo - pelo);
		mreg_put_pyfloat(out, p->min_elo_improvement);
		mreg_buf_putc(out, ')');
		return MREG_STAGE_NONE;
	}
	mreg_buf_printf(out, "Elo improved by %.1f", elo - pelo);
	return MREG_STAGE_PRODUCTION;
}

int mreg_regression_decide(mreg_regression_action *action, mreg_buf *out, const char **trigger,
			   const char *severity, double elo_drop, const char *reason, const mreg_policy *p)
{
	*action = MREG_REGRESSION_NOTHING;
	*trigger = NULL;
	if (!strcmp(severity, "critical")) {
		*action = MREG_REGRESSION_ROLLBACK;
		*trigger = "auto_regression_critical";
		mreg_buf_printf(out, "Auto-rollback: CRITICAL regression - %s", reason);
	} else if (!strcmp(severity, "severe")) {
		if (p->require_approval) {
			*action = MREG_REGRESSION_WAIT;
			mreg_buf_puts(out, reason);
		} else {
			*action = MREG_REGRESSION_ROLLBACK;
			*trigger = "auto_regression_severe";
			mreg_buf_printf(out, "Auto-rollback: SEVERE regression - %s", reason);
		}
	} else if (!strcmp(severity, "moderate")) {
		if (elo_drop > 30) {
			*action = MREG_REGRESSION_ROLLBACK;
			*trigger = "auto_regression_moderate";
			mreg_buf_printf(out, "Auto-rollback: MODERATE regression with elo_drop=%.1f - %s", elo_drop,
					reason);
		} else {
			mreg_buf_printf(out, "Moderate regression with elo_drop=%.1f: monitoring, no rollback", elo_drop);
		}
	} else if (!strcmp(severity, "minor")) {
		mreg_buf_puts(out, "Minor regression: no action");
	} else {
		return mreg_error_set(MREG_EINVALID,
				      "invalid severity '%s': use minor, moderate, severe or critical", severity);
	}
	return 0;
}

bool mreg_cmaes_elo(double *out, double fitness)
{
	if (!(fitness > 0.01 && fitness < 0.99))
		return false;
	*out = -400 * log10(1 / fitness - 1);
	return true;
}

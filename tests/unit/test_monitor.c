/*
 * Unit tests for core/monitor.c's decisions: the quality watch
 * (mreg_quality_due: the original's QualityRollbackWatcher, its threshold
 * 0.3 and 30 sustained minutes, its reason string), the performance check
 * against named baselines (mreg_check_baselines), and the monitor's
 * settings in mreg.json. The fold of the monitor's events is covered by
 * testdata/fold/monitor_*.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "lifecycle.h"

static int64_t at(const char *time)
{
	int64_t t;
	assert_int_equal(mreg_time_parse(&t, time), 0);
	return t;
}

static mreg_state *state_with_monitor(const char *json)
{
	mreg_state *st = NULL;
	assert_int_equal(mreg_state_new(&st), 0);
	st->monitor = cJSON_Parse(json);
	assert_non_null(st->monitor);
	return st;
}

static void quality_rolls_back_after_sustained_minutes(void **state)
{
	(void)state;
	mreg_state *st = state_with_monitor(
		"{\"m\":{\"quality\":{\"score\":0.15,\"threshold\":0.3,\"low_since\":\"2026-01-01T12:00:00.000000Z\"}},"
		"\"ok\":{\"quality\":{\"score\":0.9,\"threshold\":0.3,\"low_since\":null}}}");
	mreg_policy p = MREG_POLICY_INIT;
	mreg_buf why = MREG_BUF_INIT;
	double minutes;
	assert_true(p.quality_critical_threshold == 0.3 && p.quality_sustained_minutes == 30);	/* the original's */
	assert_int_equal(mreg_quality_due(&why, &minutes, st, "m", at("2026-01-01T12:29:00.000000Z"), &p), 0);
	assert_string_equal(why.ptr,
			    "Low quality (0.150) for 29.0 minutes, under rollback.quality_sustained_minutes (30.0)");
	mreg_buf_clear(&why);
	/* at 30 minutes exactly, as the original's minutes >= sustained_minutes */
	assert_int_equal(mreg_quality_due(&why, &minutes, st, "m", at("2026-01-01T12:30:00.000000Z"), &p), 1);
	assert_string_equal(why.ptr, "Sustained low quality (0.150) for 30.0 minutes");
	assert_true(minutes == 30);
	mreg_buf_clear(&why);
	assert_int_equal(mreg_quality_due(&why, &minutes, st, "ok", at("2026-01-02T00:00:00.000000Z"), &p), 0);
	assert_string_equal(why.ptr, "'ok' is not being watched for low data quality");
	assert_true(minutes == 0);
	mreg_buf_clear(&why);
	assert_int_equal(mreg_quality_due(&why, &minutes, st, "nobody", at("2026-01-02T00:00:00.000000Z"), &p), 0);
	mreg_buf_dispose(&why);
	mreg_state_free(st);
}

static mreg_metrics current(double elo, double games)
{
	mreg_metrics m;
	memset(&m, 0, sizeof(m));
	m.v[MREG_METRIC_ELO] = elo;
	m.v[MREG_METRIC_GAMES_PLAYED] = games;
	m.present = 1u << MREG_METRIC_ELO | 1u << MREG_METRIC_GAMES_PLAYED;
	return m;
}

static void check_names_the_baseline_that_regressed(void **state)
{
	(void)state;
	mreg_state *st = state_with_monitor("{\"m\":{\"baselines\":{"
					    "\"a-old\":{\"elo\":1500,\"games_played\":0},"
					    "\"release\":{\"elo\":1600,\"games_played\":0}}}}");
	st->baselines = cJSON_Parse("{\"m\":{\"elo\":1520,\"games_played\":0}}");
	mreg_policy p = MREG_POLICY_INIT;
	mreg_buf out = MREG_BUF_INIT;
	mreg_metrics cur = current(1530, 100);
	assert_int_equal(mreg_check_baselines(&out, st, "m", &cur, &p), 1);
	assert_string_equal(out.ptr, "Elo dropped by 70 (threshold: 50.0) (baseline 'release')");
	mreg_buf_clear(&out);
	/* the model's own baseline first, without a name, as the original's */
	cur = current(1460, 100);
	assert_int_equal(mreg_check_baselines(&out, st, "m", &cur, &p), 1);
	assert_string_equal(out.ptr, "Elo dropped by 60 (threshold: 50.0)");
	mreg_buf_clear(&out);
	cur = current(1590, 100);
	assert_int_equal(mreg_check_baselines(&out, st, "m", &cur, &p), 0);
	assert_string_equal(out.ptr, "Performance within acceptable range");
	mreg_buf_clear(&out);
	/* without the model's own, the first named one speaks when none regressed */
	cJSON_Delete(st->baselines);
	st->baselines = NULL;
	assert_int_equal(mreg_check_baselines(&out, st, "m", &cur, &p), 0);
	assert_string_equal(out.ptr, "Performance within acceptable range (baseline 'a-old')");
	mreg_buf_clear(&out);
	assert_int_equal(mreg_check_baselines(&out, st, "other", &cur, &p), 0);
	assert_string_equal(out.ptr, "No baseline set");
	mreg_buf_dispose(&out);
	mreg_state_free(st);
}

static void monitor_settings_read_and_checked(void **state)
{
	(void)state;
	mreg_policy p = MREG_POLICY_INIT;
	assert_true(p.consecutive_regressions_required == 1);
	cJSON *doc = cJSON_Parse("{\"rollback\":{\"quality_critical_threshold\":0.5,\"quality_sustained_minutes\":5,"
				 "\"consecutive_regressions_required\":3}}");
	assert_int_equal(mreg_policy_from_json(&p, doc, NULL), 0);
	assert_true(p.quality_critical_threshold == 0.5 && p.quality_sustained_minutes == 5 &&
		    p.consecutive_regressions_required == 3);
	cJSON_Delete(doc);
	static const char *const refused[] = {
		"{\"rollback\":{\"quality_critical_threshold\":1.5}}",
		"{\"rollback\":{\"quality_sustained_minutes\":-1}}",
		"{\"rollback\":{\"consecutive_regressions_required\":0}}",
		"{\"rollback\":{\"consecutive_regressions_required\":2.5}}",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		doc = cJSON_Parse(refused[i]);
		assert_int_equal(mreg_policy_from_json(&p, doc, NULL), MREG_EINVALID);
		assert_non_null(strstr(mreg_error_last(), "rollback."));
		cJSON_Delete(doc);
	}
	assert_true(p.consecutive_regressions_required == 3);	/* left as it was */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(quality_rolls_back_after_sustained_minutes),
		cmocka_unit_test(check_names_the_baseline_that_regressed),
		cmocka_unit_test(monitor_settings_read_and_checked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

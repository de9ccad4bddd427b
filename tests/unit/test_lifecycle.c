/*
 * Unit tests for core/lifecycle.c: the pure decisions of the rollback
 * manager (check_performance, should_rollback, the rollback candidate), the
 * auto-promoter, the regression policy, the CMA-ES fitness-to-Elo mapping,
 * the policy read from mreg.json and Python's str() of a float; and the
 * %.Nf conversion of mreg_buf_printf (core/common.c) the reasons use.
 *
 * Numbers and reason strings are those the original Python registry's tests
 * assert (its thresholds are floats here, so "threshold: 30.0").
 * States, models and versions are built by hand in memory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "lifecycle.h"
#include "num.h"

/* "absent" for the helpers below: the metric or member is not set */
#define NONE NAN

/* ---- building metrics, baselines, models ----------------------------- */

static void set_metric(mreg_metrics *m, mreg_metric k, double v)
{
	if (isnan(v))
		return;
	m->present |= 1u << k;
	m->v[k] = v;
}

static mreg_metrics metrics(double elo, double win_rate, double games)
{
	mreg_metrics m;
	memset(&m, 0, sizeof(m));
	set_metric(&m, MREG_METRIC_ELO, elo);
	set_metric(&m, MREG_METRIC_WIN_RATE, win_rate);
	set_metric(&m, MREG_METRIC_GAMES_PLAYED, games);
	return m;
}

/* {"elo": elo, "win_rate": win_rate or null, "games_played": games}, as the state keeps it */
static cJSON *baseline(double elo, double win_rate, double games)
{
	cJSON *b = cJSON_CreateObject();
	assert_non_null(b);
	assert_non_null(cJSON_AddNumberToObject(b, "elo", elo));
	if (isnan(win_rate))
		assert_non_null(cJSON_AddNullToObject(b, "win_rate"));
	else
		assert_non_null(cJSON_AddNumberToObject(b, "win_rate", win_rate));
	assert_non_null(cJSON_AddNumberToObject(b, "games_played", games));
	return b;
}

/* A new state with one empty, loaded model "m". */
static mreg_model *new_model(mreg_state **out)
{
	mreg_state *st;
	mreg_model *m;
	assert_int_equal(mreg_state_new(&st), 0);
	assert_int_equal(mreg_state_model_add(&m, st, "m"), 0);
	*out = st;
	return m;
}

/*
 * Append the next version in the given stage with these metrics. Call
 * set_prod() after the last one: versions may move as the array grows.
 */
static void add_version(mreg_model *m, mreg_stage stage, double elo, double games)
{
	if ((size_t)m->nversions == m->aversions) {
		size_t n = m->aversions ? m->aversions * 2 : 4;
		mreg_version *p = realloc(m->versions, n * sizeof(*p));
		assert_non_null(p);
		m->versions = p;
		m->aversions = n;
	}
	mreg_version *v = &m->versions[m->nversions++];
	memset(v, 0, sizeof(*v));
	v->version = v->claimed = m->nversions;
	v->stage = stage;
	v->file_path = mreg_strdup("blobs/x");
	assert_non_null(v->file_path);
	v->metrics = metrics(elo, NONE, games);
	m->latest = m->nversions;
}

/* The summary's copy of the production version, if there is one. */
static void set_prod(mreg_model *m)
{
	for (int i = 0; i < m->nversions; i++)
		if (m->versions[i].stage == MREG_STAGE_PRODUCTION) {
			m->prod = mreg_version_dup(&m->versions[i]);
			assert_non_null(m->prod);
		}
}

/* The policy of the original's tests: elo_drop 30, min_games 10, win_rate_drop 0.10. */
static mreg_policy test_policy(void)
{
	mreg_policy p = MREG_POLICY_INIT;
	p.elo_drop_threshold = 30;
	p.min_games_for_evaluation = 10;
	p.win_rate_drop_threshold = 0.10;
	return p;
}

static void assert_check(const cJSON *base, mreg_metrics cur, const mreg_policy *p, int want, const char *reason)
{
	mreg_buf out = MREG_BUF_INIT;
	assert_int_equal(mreg_check_performance(&out, base, &cur, p), want);
	assert_string_equal(out.ptr, reason);
	mreg_buf_dispose(&out);
}

/* ---- check_performance ----------------------------------------------- */

static void elo_drop_of_10_over_threshold_30_is_acceptable(void **state)
{
	(void)state;
	mreg_policy p = test_policy();
	cJSON *b = baseline(1500, NONE, 100);
	assert_check(b, metrics(1490, NONE, 150), &p, 0, "Performance within acceptable range");
	cJSON_Delete(b);
}

static void elo_drop_of_40_over_threshold_30_degrades(void **state)
{
	(void)state;
	mreg_policy p = test_policy();
	cJSON *b = baseline(1500, NONE, 100);
	assert_check(b, metrics(1460, NONE, 150), &p, 1, "Elo dropped by 40 (threshold: 30.0)");
	cJSON_Delete(b);
}

static void elo_drop_equal_to_threshold_degrades(void **state)
{
	(void)state;
	mreg_policy p = test_policy();
	cJSON *b = baseline(1500, NONE, 100);
	assert_check(b, metrics(1470, NONE, 150), &p, 1, "Elo dropped by 30 (threshold: 30.0)");
	cJSON_Delete(b);
}

static void win_rate_drop_of_15_points_over_threshold_10_degrades(void **state)
{
	(void)state;
	mreg_policy p = test_policy();
	cJSON *b = baseline(1500, 0.55, 100);
	assert_check(b, metrics(1495, 0.40, 150), &p, 1, "Win rate dropped by 15.0% (threshold: 10.0%)");
	cJSON_Delete(b);
}

static void five_games_since_baseline_are_insufficient(void **state)
{
	(void)state;
	mreg_policy p = test_policy();
	cJSON *b = baseline(1500, NONE, 100);
	assert_check(b, metrics(1400, NONE, 105), &p, 0, "Insufficient games (5)");
	cJSON_Delete(b);
}

/* A games_played of -0 (accepted by the range check) prints as 0, not -0. */
static void negative_zero_games_print_without_sign(void **state)
{
	(void)state;
	mreg_policy p = test_policy();
	cJSON *b = baseline(1500, NONE, 0);
	assert_check(b, metrics(1400, NONE, -0.0), &p, 0, "Insufficient games (0)");
	cJSON_Delete(b);
}

static void no_baseline_is_never_degraded(void **state)
{
	(void)state;
	mreg_policy p = test_policy();
	assert_check(NULL, metrics(1000, 0.1, 1000), &p, 0, "No baseline set");
}

static void zero_or_missing_ratings_are_not_compared(void **state)
{
	(void)state;
	mreg_policy p = test_policy();
	cJSON *b = baseline(1500, 0.55, 100);
	/* current Elo 0 and win rate absent: neither comparison runs */
	assert_check(b, metrics(0, NONE, 150), &p, 0, "Performance within acceptable range");
	cJSON_Delete(b);
	b = baseline(0, 0.55, 100);
	assert_check(b, metrics(1000, 0, 150), &p, 0, "Performance within acceptable range");
	cJSON_Delete(b);
}

static void default_policy_elo_drop_of_60_degrades(void **state)
{
	(void)state;
	mreg_policy p = MREG_POLICY_INIT;
	cJSON *b = baseline(1600, NONE, 0);
	assert_check(b, metrics(1540, NONE, 100), &p, 1, "Elo dropped by 60 (threshold: 50.0)");
	cJSON_Delete(b);
}

static void default_policy_ten_games_are_insufficient(void **state)
{
	(void)state;
	mreg_policy p = MREG_POLICY_INIT;
	cJSON *b = baseline(1600, NONE, 0);
	assert_check(b, metrics(1500, NONE, 10), &p, 0, "Insufficient games (10)");
	cJSON_Delete(b);
}

static void default_policy_win_rate_drop_degrades(void **state)
{
	(void)state;
	mreg_policy p = MREG_POLICY_INIT;
	cJSON *b = baseline(1600, 0.55, 0);
	assert_check(b, metrics(1600, 0.40, 100), &p, 1, "Win rate dropped by 15.0% (threshold: 10.0%)");
	cJSON_Delete(b);
}

static void default_policy_improvement_is_acceptable(void **state)
{
	(void)state;
	mreg_policy p = MREG_POLICY_INIT;
	cJSON *b = baseline(1600, 0.55, 0);
	assert_check(b, metrics(1610, 0.56, 100), &p, 0, "Performance within acceptable range");
	cJSON_Delete(b);
}

/* ---- policy ---------------------------------------------------------- */

static void policy_init_holds_the_original_defaults(void **state)
{
	(void)state;
	mreg_policy p = MREG_POLICY_INIT;
	assert_true(p.elo_drop_threshold == 50);
	assert_true(p.win_rate_drop_threshold == 0.10);
	assert_true(p.min_games_for_evaluation == 50);
	assert_true(p.require_approval);
	assert_true(p.min_elo_improvement == 25);
	assert_true(p.min_games == 100);
	assert_true(p.max_backups == 10);
	assert_true(p.backup_interval_hours == 24);
	assert_true(p.artifact_max_bytes == 1 << 20);
}

static void policy_from_json_overrides_only_present_members(void **state)
{
	(void)state;
	mreg_policy p = MREG_POLICY_INIT;
	cJSON *doc = cJSON_Parse("{\"rollback\":{\"elo_drop_threshold\":30,\"require_approval\":false},"
				 "\"auto_promote\":{\"min_games\":200},\"backup\":{\"interval_hours\":6}}");
	assert_non_null(doc);
	assert_int_equal(mreg_policy_from_json(&p, doc, NULL), 0);
	assert_true(p.elo_drop_threshold == 30);
	assert_true(p.win_rate_drop_threshold == 0.10);
	assert_true(p.min_games_for_evaluation == 50);
	assert_false(p.require_approval);
	assert_true(p.min_elo_improvement == 25);
	assert_true(p.min_games == 200);
	assert_true(p.max_backups == 10);
	assert_true(p.backup_interval_hours == 6);
	assert_true(p.artifact_max_bytes == 1 << 20);
	cJSON_Delete(doc);
}

static void policy_from_empty_object_keeps_defaults(void **state)
{
	(void)state;
	mreg_policy p = MREG_POLICY_INIT, want = MREG_POLICY_INIT;
	cJSON *doc = cJSON_Parse("{}");
	assert_non_null(doc);
	assert_int_equal(mreg_policy_from_json(&p, doc, NULL), 0);
	assert_true(p.elo_drop_threshold == want.elo_drop_threshold);
	assert_true(p.win_rate_drop_threshold == want.win_rate_drop_threshold);
	assert_true(p.min_games_for_evaluation == want.min_games_for_evaluation);
	assert_true(p.require_approval == want.require_approval);
	assert_true(p.min_elo_improvement == want.min_elo_improvement);
	assert_true(p.min_games == want.min_games);
	assert_true(p.max_backups == want.max_backups);
	assert_true(p.backup_interval_hours == want.backup_interval_hours);
	assert_true(p.artifact_max_bytes == want.artifact_max_bytes);
	cJSON_Delete(doc);
}

static void assert_policy_refused(const char *json, const char *key)
{
	mreg_policy p = MREG_POLICY_INIT;
	cJSON *doc = cJSON_Parse(json);
	assert_non_null(doc);
	mreg_error_clear();
	assert_int_equal(mreg_policy_from_json(&p, doc, NULL), MREG_EINVALID);
	assert_int_equal(mreg_error_code(), MREG_EINVALID);
	if (!strstr(mreg_error_last(), key))
		fail_msg("message does not name '%s': %s", key, mreg_error_last());
	cJSON_Delete(doc);
}

static void policy_from_json_refuses_a_string_threshold(void **state)
{
	(void)state;
	assert_policy_refused("{\"rollback\":{\"win_rate_drop_threshold\":\"0.1\"}}",
			      "'rollback.win_rate_drop_threshold'");
	mreg_policy p = MREG_POLICY_INIT;
	cJSON *doc = cJSON_Parse("{\"rollback\":{\"win_rate_drop_threshold\":\"0.1\"}}");
	assert_non_null(doc);
	assert_int_equal(mreg_policy_from_json(&p, doc, NULL), MREG_EINVALID);
	assert_string_equal(mreg_error_last(),
			    "invalid mreg.json: 'rollback.win_rate_drop_threshold' must be a number from 0 to 1");
	cJSON_Delete(doc);
}

static void policy_from_json_refuses_out_of_range_values(void **state)
{
	(void)state;
	assert_policy_refused("{\"rollback\":{\"elo_drop_threshold\":-1}}", "'rollback.elo_drop_threshold'");
	assert_policy_refused("{\"rollback\":{\"win_rate_drop_threshold\":1.5}}",
			      "'rollback.win_rate_drop_threshold'");
	assert_policy_refused("{\"backup\":{\"max_backups\":0}}", "'backup.max_backups'");
	assert_policy_refused("{\"auto_promote\":{\"min_games\":null}}", "'auto_promote.min_games'");
}

static void policy_from_json_refuses_non_bool_require_approval(void **state)
{
	(void)state;
	assert_policy_refused("{\"rollback\":{\"require_approval\":1}}", "'rollback.require_approval'");
	assert_policy_refused("{\"rollback\":{\"require_approval\":\"yes\"}}", "'rollback.require_approval'");
}

static void assert_policy_equal(const mreg_policy *a, const mreg_policy *b)
{
	assert_true(a->elo_drop_threshold == b->elo_drop_threshold);
	assert_true(a->win_rate_drop_threshold == b->win_rate_drop_threshold);
	assert_true(a->min_games_for_evaluation == b->min_games_for_evaluation);
	assert_true(a->require_approval == b->require_approval);
	assert_true(a->min_elo_improvement == b->min_elo_improvement);
	assert_true(a->min_games == b->min_games);
	assert_true(a->max_backups == b->max_backups);
	assert_true(a->backup_interval_hours == b->backup_interval_hours);
	assert_true(a->artifact_max_bytes == b->artifact_max_bytes);
}

/* The whole message, with the registry as its subject; *p must stay as it was. */
static void assert_policy_message(const char *json, const char *want)
{
	mreg_policy p = MREG_POLICY_INIT, before = MREG_POLICY_INIT;
	cJSON *doc = cJSON_Parse(json);
	assert_non_null(doc);
	mreg_error_clear();
	assert_int_equal(mreg_policy_from_json(&p, doc, "reg"), MREG_EINVALID);
	assert_string_equal(mreg_error_last(), want);
	assert_policy_equal(&p, &before);
	cJSON_Delete(doc);
}

/* The mreg.json `mreg init` writes (fsstore/repo.c) is read whole. */
static void policy_from_json_reads_the_default_mreg_json(void **state)
{
	(void)state;
	mreg_policy p = MREG_POLICY_INIT, want = MREG_POLICY_INIT;
	cJSON *doc = cJSON_Parse("{\"format\": 1, \"artifact_max_bytes\": 1048576,"
				 "\"rollback\": {\"elo_drop_threshold\": 50, \"win_rate_drop_threshold\": 0.1,"
				 " \"min_games_for_evaluation\": 50, \"require_approval\": true},"
				 "\"auto_promote\": {\"min_elo_improvement\": 25, \"min_games\": 100},"
				 "\"backup\": {\"max_backups\": 10, \"interval_hours\": 24}}");
	assert_non_null(doc);
	assert_int_equal(mreg_policy_from_json(&p, doc, "reg"), 0);
	assert_policy_equal(&p, &want);
	cJSON_Delete(doc);
}

static void policy_from_json_refuses_unknown_keys(void **state)
{
	(void)state;
	assert_policy_message("{\"rollback\":{\"elo_drop_treshold\":30}}",
			      "invalid mreg.json in 'reg': unknown key 'rollback.elo_drop_treshold'");
	assert_policy_message("{\"artifact_max_byte\":10}", "invalid mreg.json in 'reg': unknown key 'artifact_max_byte'");
	assert_policy_message("{\"other\":{\"x\":1}}", "invalid mreg.json in 'reg': unknown key 'other'");
	/* a key of one group is unknown in another, and at the top */
	assert_policy_message("{\"backup\":{\"min_games\":10}}", "invalid mreg.json in 'reg': unknown key 'backup.min_games'");
	assert_policy_message("{\"min_games\":10}", "invalid mreg.json in 'reg': unknown key 'min_games'");
	assert_policy_message("{\"rollback\":{\"rollback\":{}}}", "invalid mreg.json in 'reg': unknown key 'rollback.rollback'");
	/* keys match exactly */
	assert_policy_message("{\"Format\":1}", "invalid mreg.json in 'reg': unknown key 'Format'");
}

static void policy_from_json_shows_a_hostile_key_on_one_line(void **state)
{
	(void)state;
	assert_policy_message("{\"rollback\":{\"a\\nb\\u0001\":1}}", "invalid mreg.json in 'reg': unknown key 'rollback.a?b?'");
	char json[300], want[200];
	snprintf(json, sizeof(json), "{\"%0100d\":1}", 0);
	snprintf(want, sizeof(want), "invalid mreg.json in 'reg': unknown key '%064d...'", 0);
	assert_policy_message(json, want);
}

static void policy_from_json_refuses_duplicate_keys(void **state)
{
	(void)state;
	assert_policy_message("{\"rollback\":{\"elo_drop_threshold\":30,\"elo_drop_threshold\":40}}",
			      "invalid mreg.json in 'reg': duplicate key 'rollback.elo_drop_threshold'");
	assert_policy_message("{\"backup\":{},\"backup\":{}}", "invalid mreg.json in 'reg': duplicate key 'backup'");
}

static void policy_from_json_refuses_a_group_that_is_not_an_object(void **state)
{
	(void)state;
	assert_policy_message("{\"rollback\":50}", "invalid mreg.json in 'reg': 'rollback' must be an object");
	assert_policy_message("{\"backup\":[]}", "invalid mreg.json in 'reg': 'backup' must be an object");
	assert_policy_message("{\"auto_promote\":null}", "invalid mreg.json in 'reg': 'auto_promote' must be an object");
}

static void policy_from_json_refuses_a_document_that_is_not_an_object(void **state)
{
	(void)state;
	assert_policy_message("[1]", "invalid mreg.json in 'reg': not a JSON object");
}

static void policy_from_json_reads_artifact_max_bytes(void **state)
{
	(void)state;
	mreg_policy p = MREG_POLICY_INIT;
	cJSON *doc = cJSON_Parse("{\"artifact_max_bytes\":0}");
	assert_int_equal(mreg_policy_from_json(&p, doc, "reg"), 0);
	assert_true(p.artifact_max_bytes == 0);
	cJSON_Delete(doc);
	doc = cJSON_Parse("{\"artifact_max_bytes\":9007199254740992}");	/* 2^53, the cap */
	assert_int_equal(mreg_policy_from_json(&p, doc, "reg"), 0);
	assert_true(p.artifact_max_bytes == MREG_ARTIFACT_MAX_BYTES_CAP);
	cJSON_Delete(doc);
	doc = cJSON_Parse("{\"artifact_max_bytes\":5000.0}");
	assert_int_equal(mreg_policy_from_json(&p, doc, "reg"), 0);
	assert_true(p.artifact_max_bytes == 5000);
	cJSON_Delete(doc);
}

/* 2^63 and more overflowed a cast to int64_t and sent every file to blobs/. */
static void policy_from_json_refuses_artifact_max_bytes_out_of_range(void **state)
{
	(void)state;
	static const char *const bad[] = { "9223372036854775808", "1e19", "1e300", "9007199254740994", "-1", "1.5",
					   "\"1048576\"", "null", "true" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char json[64];
		snprintf(json, sizeof(json), "{\"artifact_max_bytes\":%s}", bad[i]);
		assert_policy_message(json, "invalid mreg.json in 'reg': 'artifact_max_bytes' must be a whole number of "
					    "bytes from 0 to 9007199254740992 (2^53)");
	}
}

static void policy_from_json_accepts_format_1(void **state)
{
	(void)state;
	mreg_policy p = MREG_POLICY_INIT;
	cJSON *doc = cJSON_Parse("{\"format\":1}");
	assert_int_equal(mreg_policy_from_json(&p, doc, "reg"), 0);
	cJSON_Delete(doc);
}

static void policy_from_json_refuses_a_newer_format_as_too_new(void **state)
{
	(void)state;
	assert_policy_message("{\"format\":2,\"rollback\":{\"elo_drop_threshold\":30}}",
			      "unsupported mreg.json format 2 in 'reg': this mreg is too old (it reads format 1)");
	assert_policy_message("{\"format\":17}",
			      "unsupported mreg.json format 17 in 'reg': this mreg is too old (it reads format 1)");
}

static void policy_from_json_refuses_a_format_that_is_no_version(void **state)
{
	(void)state;
	static const char *const bad[] = { "0", "-1", "1.5", "\"1\"", "null", "1e300" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char json[64];
		snprintf(json, sizeof(json), "{\"format\":%s}", bad[i]);
		assert_policy_message(json, "invalid mreg.json in 'reg': 'format' must be a whole number >= 1");
	}
}

static void policy_from_json_refuses_fractional_counts(void **state)
{
	(void)state;
	assert_policy_message("{\"backup\":{\"max_backups\":2.5}}",
			      "invalid mreg.json in 'reg': 'backup.max_backups' must be a whole number from 1 to 1000000");
	assert_policy_message("{\"auto_promote\":{\"min_games\":99.5}}",
			      "invalid mreg.json in 'reg': 'auto_promote.min_games' must be a whole number from 0 to 1000000000000");
	assert_policy_message("{\"rollback\":{\"min_games_for_evaluation\":0.5}}",
			      "invalid mreg.json in 'reg': 'rollback.min_games_for_evaluation' must be a whole number from 0 to "
			      "1000000000000");
}

/* A refusal later in the document leaves what came before unapplied. */
static void policy_from_json_applies_nothing_when_it_refuses(void **state)
{
	(void)state;
	assert_policy_message("{\"rollback\":{\"elo_drop_threshold\":30},\"backup\":{\"max_backups\":-1}}",
			      "invalid mreg.json in 'reg': 'backup.max_backups' must be a whole number from 1 to 1000000");
}

static void policy_from_json_drops_the_sign_of_a_zero(void **state)
{
	(void)state;
	mreg_policy p = MREG_POLICY_INIT;
	cJSON *doc = cJSON_Parse("{\"auto_promote\":{\"min_elo_improvement\":-0}}");
	assert_int_equal(mreg_policy_from_json(&p, doc, "reg"), 0);
	assert_true(p.min_elo_improvement == 0 && !signbit(p.min_elo_improvement));
	cJSON_Delete(doc);
}

/* ---- rollback candidate ---------------------------------------------- */

static void rollback_candidate_is_highest_archived_with_elo(void **state)
{
	(void)state;
	mreg_state *st;
	mreg_model *m = new_model(&st);
	add_version(m, MREG_STAGE_DEVELOPMENT, NONE, NONE);
	add_version(m, MREG_STAGE_DEVELOPMENT, NONE, NONE);
	add_version(m, MREG_STAGE_ARCHIVED, 1500, NONE);
	add_version(m, MREG_STAGE_ARCHIVED, 1550, NONE);
	add_version(m, MREG_STAGE_PRODUCTION, 1400, NONE);
	set_prod(m);
	const mreg_version *c = mreg_rollback_candidate(m);
	assert_non_null(c);
	assert_int_equal(c->version, 4);
	mreg_state_free(st);
}

static void rollback_candidate_of_one_archived_version_is_that_version(void **state)
{
	(void)state;
	mreg_state *st;
	mreg_model *m = new_model(&st);
	add_version(m, MREG_STAGE_ARCHIVED, 1500, NONE);
	const mreg_version *c = mreg_rollback_candidate(m);
	assert_non_null(c);
	assert_int_equal(c->version, 1);
	mreg_state_free(st);
}

static void rollback_candidate_without_positive_elo_is_highest_archived(void **state)
{
	(void)state;
	mreg_state *st;
	mreg_model *m = new_model(&st);
	add_version(m, MREG_STAGE_ARCHIVED, NONE, NONE);	/* v1: no Elo */
	add_version(m, MREG_STAGE_ARCHIVED, 0, NONE);		/* v2: Elo 0 is not > 0 */
	const mreg_version *c = mreg_rollback_candidate(m);
	assert_non_null(c);
	assert_int_equal(c->version, 2);
	mreg_state_free(st);
}

static void rollback_candidate_prefers_lower_version_with_elo(void **state)
{
	(void)state;
	mreg_state *st;
	mreg_model *m = new_model(&st);
	add_version(m, MREG_STAGE_ARCHIVED, 1500, NONE);	/* v1 */
	add_version(m, MREG_STAGE_ARCHIVED, NONE, NONE);	/* v2 */
	const mreg_version *c = mreg_rollback_candidate(m);
	assert_non_null(c);
	assert_int_equal(c->version, 1);
	mreg_state_free(st);
}

static void rollback_candidate_without_archived_versions_is_null(void **state)
{
	(void)state;
	mreg_state *st;
	mreg_model *m = new_model(&st);
	assert_null(mreg_rollback_candidate(m));
	add_version(m, MREG_STAGE_DEVELOPMENT, 1500, NONE);
	add_version(m, MREG_STAGE_REJECTED, 1500, NONE);
	add_version(m, MREG_STAGE_PRODUCTION, 1500, NONE);
	set_prod(m);
	assert_null(mreg_rollback_candidate(m));
	mreg_state_free(st);
}

/* ---- should_rollback ------------------------------------------------- */

static void assert_should(const mreg_state *st, const mreg_model *m, const mreg_metrics *cur, int want,
			  const char *reason, const char *check)
{
	mreg_policy p = test_policy();
	mreg_buf out = MREG_BUF_INIT, chk = MREG_BUF_INIT;
	assert_int_equal(mreg_should_rollback(&out, &chk, st, m, cur, &p), want);
	assert_string_equal(out.ptr, reason);
	assert_string_equal(chk.ptr, check);
	mreg_buf_dispose(&out);
	mreg_buf_dispose(&chk);
	/* check may be NULL: same answer */
	assert_int_equal(mreg_should_rollback(&out, NULL, st, m, cur, &p), want);
	assert_string_equal(out.ptr, reason);
	mreg_buf_dispose(&out);
}

/* Model "m": v1 archived (1550), v2 in production with elo, 150 games; baseline 1500 @100. */
static mreg_model *rollback_model(mreg_state **out, double prod_elo)
{
	mreg_model *m = new_model(out);
	add_version(m, MREG_STAGE_ARCHIVED, 1550, 80);
	add_version(m, MREG_STAGE_PRODUCTION, prod_elo, 150);
	set_prod(m);
	(*out)->baselines = cJSON_CreateObject();
	assert_non_null((*out)->baselines);
	cJSON_AddItemToObject((*out)->baselines, "m", baseline(1500, NONE, 100));
	return m;
}

static void model_without_production_needs_no_rollback(void **state)
{
	(void)state;
	mreg_state *st;
	mreg_model *m = new_model(&st);
	add_version(m, MREG_STAGE_ARCHIVED, 1500, NONE);
	add_version(m, MREG_STAGE_STAGING, 1400, NONE);
	assert_should(st, m, NULL, 0, "Model not in production", "");
	assert_should(st, NULL, NULL, 0, "Model not in production", "");
	mreg_state_free(st);
}

static void production_without_archived_versions_has_no_candidates(void **state)
{
	(void)state;
	mreg_state *st;
	mreg_model *m = new_model(&st);
	add_version(m, MREG_STAGE_DEVELOPMENT, 1500, NONE);
	add_version(m, MREG_STAGE_PRODUCTION, 1000, 1000);
	set_prod(m);
	assert_should(st, m, NULL, 0, "No rollback candidates available", "No baseline set");
	mreg_state_free(st);
}

/* The performance check answers with nothing to roll back to: a degraded sole production version is seen. */
static void sole_production_version_is_still_checked(void **state)
{
	(void)state;
	mreg_state *st;
	mreg_model *m = rollback_model(&st, 1460);
	for (size_t i = 0; i < (size_t)m->nversions; i++)
		if (m->versions[i].stage == MREG_STAGE_ARCHIVED)
			m->versions[i].stage = MREG_STAGE_REJECTED;	/* no candidate left */
	assert_should(st, m, NULL, 0, "No rollback candidates available", "Elo dropped by 40 (threshold: 30.0)");
	mreg_state_free(st);
}

static void degraded_production_rolls_back_with_the_check_reason(void **state)
{
	(void)state;
	mreg_state *st;
	mreg_model *m = rollback_model(&st, 1460);
	assert_should(st, m, NULL, 1, "Elo dropped by 40 (threshold: 30.0)", "Elo dropped by 40 (threshold: 30.0)");
	mreg_state_free(st);
}

static void healthy_production_needs_no_rollback(void **state)
{
	(void)state;
	mreg_state *st;
	mreg_model *m = rollback_model(&st, 1490);
	assert_should(st, m, NULL, 0, "No rollback needed", "Performance within acceptable range");
	mreg_state_free(st);
}

static void given_metrics_are_judged_instead_of_production(void **state)
{
	(void)state;
	mreg_state *st;
	mreg_model *m = rollback_model(&st, 1490);
	mreg_metrics cur = metrics(1400, NONE, 200);
	assert_should(st, m, &cur, 1, "Elo dropped by 100 (threshold: 30.0)", "Elo dropped by 100 (threshold: 30.0)");
	cur = metrics(1400, NONE, 105);
	assert_should(st, m, &cur, 0, "No rollback needed", "Insufficient games (5)");
	mreg_state_free(st);
}

static void production_without_baseline_needs_no_rollback(void **state)
{
	(void)state;
	mreg_state *st;
	mreg_model *m = rollback_model(&st, 1000);
	cJSON_Delete(st->baselines);
	st->baselines = NULL;
	assert_should(st, m, NULL, 0, "No rollback needed", "No baseline set");
	st->baselines = cJSON_CreateObject();
	assert_non_null(st->baselines);
	cJSON_AddItemToObject(st->baselines, "other", baseline(1500, NONE, 0));
	assert_should(st, m, NULL, 0, "No rollback needed", "No baseline set");
	mreg_state_free(st);
}

/* ---- auto-promoter --------------------------------------------------- */

/* The original's test policy: min_games 50, min_elo_improvement 25. */
static mreg_policy promote_policy(void)
{
	mreg_policy p = MREG_POLICY_INIT;
	p.min_games = 50;
	p.min_elo_improvement = 25;
	return p;
}

/*
 * Decide for the last version of m (stage, elo, games), with or without a
 * production version of elo prod_elo (NONE: its Elo absent) before it.
 */
static void assert_promote(bool with_prod, double prod_elo, mreg_stage stage, double elo, double games,
			   mreg_stage want, const char *reason)
{
	mreg_state *st;
	mreg_model *m = new_model(&st);
	mreg_policy p = promote_policy();
	if (with_prod)
		add_version(m, MREG_STAGE_PRODUCTION, prod_elo, 500);
	add_version(m, stage, elo, games);
	set_prod(m);
	mreg_buf out = MREG_BUF_INIT;
	assert_int_equal(mreg_auto_promote_decide(&out, m, &m->versions[m->nversions - 1], &p), want);
	assert_string_equal(out.ptr, reason);
	mreg_buf_dispose(&out);
	mreg_state_free(st);
}

static void development_with_10_games_is_insufficient(void **state)
{
	(void)state;
	assert_promote(false, 0, MREG_STAGE_DEVELOPMENT, 1500, 10, MREG_STAGE_NONE, "Insufficient games (10 < 25)");
	assert_promote(false, 0, MREG_STAGE_DEVELOPMENT, 1500, NONE, MREG_STAGE_NONE, "Insufficient games (0 < 25)");
}

static void negative_zero_games_and_elo_print_without_sign(void **state)
{
	(void)state;
	assert_promote(false, 0, MREG_STAGE_DEVELOPMENT, 1500, -0.0, MREG_STAGE_NONE, "Insufficient games (0 < 25)");
	/* -0 - 0 is -0: an improvement of nothing is "0.0" */
	assert_promote(true, 0, MREG_STAGE_STAGING, -0.0, 100, MREG_STAGE_NONE, "Elo improvement insufficient (0.0 < 25.0)");
}

static void development_without_elo_cannot_be_staged(void **state)
{
	(void)state;
	assert_promote(false, 0, MREG_STAGE_DEVELOPMENT, NONE, 50, MREG_STAGE_NONE, "No Elo rating available");
}

static void development_with_50_games_and_elo_goes_to_staging(void **state)
{
	(void)state;
	assert_promote(false, 0, MREG_STAGE_DEVELOPMENT, 1500, 50, MREG_STAGE_STAGING, "Model meets staging criteria");
	assert_promote(true, 1600, MREG_STAGE_DEVELOPMENT, 1500, 25, MREG_STAGE_STAGING,
		       "Model meets staging criteria");
}

static void staging_with_too_few_games_stays(void **state)
{
	(void)state;
	assert_promote(false, 0, MREG_STAGE_STAGING, 1500, 40, MREG_STAGE_NONE, "Insufficient games (40 < 50)");
}

static void staging_10_elo_over_production_is_insufficient(void **state)
{
	(void)state;
	assert_promote(true, 1500, MREG_STAGE_STAGING, 1510, 100, MREG_STAGE_NONE,
		       "Elo improvement insufficient (10.0 < 25.0)");
}

static void staging_without_production_goes_to_production(void **state)
{
	(void)state;
	assert_promote(false, 0, MREG_STAGE_STAGING, 1500, 100, MREG_STAGE_PRODUCTION, "No current production model");
}

static void staging_60_elo_over_production_goes_to_production(void **state)
{
	(void)state;
	assert_promote(true, 1500, MREG_STAGE_STAGING, 1560, 100, MREG_STAGE_PRODUCTION, "Elo improved by 60.0");
	assert_promote(true, 1500, MREG_STAGE_STAGING, 1525, 100, MREG_STAGE_PRODUCTION, "Elo improved by 25.0");
}

static void staging_without_elo_cannot_be_compared(void **state)
{
	(void)state;
	assert_promote(true, 1500, MREG_STAGE_STAGING, NONE, 100, MREG_STAGE_NONE, "Cannot compare Elo ratings");
	assert_promote(true, NONE, MREG_STAGE_STAGING, 1600, 100, MREG_STAGE_NONE, "Cannot compare Elo ratings");
}

static void production_version_is_not_promoted(void **state)
{
	(void)state;
	assert_promote(false, 0, MREG_STAGE_PRODUCTION, 1500, 100, MREG_STAGE_NONE,
		       "Model is in production, not development or staging");
	assert_promote(false, 0, MREG_STAGE_ARCHIVED, 1500, 100, MREG_STAGE_NONE,
		       "Model is in archived, not development or staging");
}

/* ---- regression policy ----------------------------------------------- */

static void assert_regression(const char *severity, double elo_drop, bool require_approval,
			      mreg_regression_action want, const char *reason, const char *trigger)
{
	mreg_policy p = MREG_POLICY_INIT;
	p.require_approval = require_approval;
	mreg_regression_action act = (mreg_regression_action)-1;
	const char *trig = "unset";
	mreg_buf out = MREG_BUF_INIT;
	assert_int_equal(mreg_regression_decide(&act, &out, &trig, severity, elo_drop, "Elo dropped 45 points", &p), 0);
	assert_int_equal(act, want);
	assert_string_equal(out.ptr, reason);
	if (trigger)
		assert_string_equal(trig, trigger);
	else
		assert_null(trig);
	mreg_buf_dispose(&out);
}

static void critical_regression_rolls_back(void **state)
{
	(void)state;
	assert_regression("critical", 0, true, MREG_REGRESSION_ROLLBACK,
			  "Auto-rollback: CRITICAL regression - Elo dropped 45 points", "auto_regression_critical");
}

static void severe_regression_waits_for_approval(void **state)
{
	(void)state;
	assert_regression("severe", 45, true, MREG_REGRESSION_WAIT, "Elo dropped 45 points", NULL);
}

static void severe_regression_without_approval_rolls_back(void **state)
{
	(void)state;
	assert_regression("severe", 45, false, MREG_REGRESSION_ROLLBACK,
			  "Auto-rollback: SEVERE regression - Elo dropped 45 points", "auto_regression_severe");
}

static void moderate_regression_of_30_elo_is_only_monitored(void **state)
{
	(void)state;
	assert_regression("moderate", 30, false, MREG_REGRESSION_NOTHING,
			  "Moderate regression with elo_drop=30.0: monitoring, no rollback", NULL);
}

static void moderate_regression_of_30_5_elo_rolls_back(void **state)
{
	(void)state;
	assert_regression("moderate", 30.5, true, MREG_REGRESSION_ROLLBACK,
			  "Auto-rollback: MODERATE regression with elo_drop=30.5 - Elo dropped 45 points",
			  "auto_regression_moderate");
}

static void minor_regression_does_nothing(void **state)
{
	(void)state;
	assert_regression("minor", 100, false, MREG_REGRESSION_NOTHING, "Minor regression: no action", NULL);
}

static void unknown_severity_is_invalid(void **state)
{
	(void)state;
	mreg_policy p = MREG_POLICY_INIT;
	mreg_regression_action act;
	const char *trig;
	mreg_buf out = MREG_BUF_INIT;
	mreg_error_clear();
	assert_int_equal(mreg_regression_decide(&act, &out, &trig, "bogus", 50, "r", &p), MREG_EINVALID);
	assert_int_equal(act, MREG_REGRESSION_NOTHING);
	assert_null(trig);
	assert_string_equal(out.ptr, "");
	assert_string_equal(mreg_error_last(), "invalid severity 'bogus': use minor, moderate, severe or critical");
	mreg_buf_dispose(&out);
}

/* ---- CMA-ES ---------------------------------------------------------- */

static void fitness_075_is_elo_190_85(void **state)
{
	(void)state;
	double elo = 0;
	assert_true(mreg_cmaes_elo(&elo, 0.75));
	assert_true(fabs(elo - -400 * log10(1 / 0.75 - 1)) < 1e-9);
	assert_true(fabs(elo - 190.848501887865) < 1e-9);
	mreg_buf b = MREG_BUF_INIT;
	mreg_buf_printf(&b, "%.2f", elo);
	assert_string_equal(b.ptr, "190.85");
	mreg_buf_dispose(&b);
}

static void fitness_085_is_elo_301_3(void **state)
{
	(void)state;
	double elo = 0;
	assert_true(mreg_cmaes_elo(&elo, 0.85));
	assert_true(fabs(elo - -400 * log10(1 / 0.85 - 1)) < 1e-9);
	mreg_buf b = MREG_BUF_INIT;
	mreg_buf_printf(&b, "%.1f", elo);
	assert_string_equal(b.ptr, "301.3");
	mreg_buf_dispose(&b);
}

static void fitness_half_is_elo_0(void **state)
{
	(void)state;
	double elo = 1;
	assert_true(mreg_cmaes_elo(&elo, 0.5));
	assert_true(fabs(elo) < 1e-12);
}

static void fitness_at_or_outside_bounds_has_no_elo(void **state)
{
	(void)state;
	static const double bad[] = { 0.01, 0.99, 0, 1, -0.5, 2 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		double elo = 123;
		assert_false(mreg_cmaes_elo(&elo, bad[i]));
		assert_true(elo == 123);	/* untouched */
	}
	double elo = 123;
	assert_false(mreg_cmaes_elo(&elo, NAN));
	assert_true(elo == 123);
}

/* ---- Python's str() of a float --------------------------------------- */

static void assert_pyfloat(double v, const char *want)
{
	mreg_buf b = MREG_BUF_INIT;
	mreg_buf_puts(&b, "x=");	/* appends after what is there */
	mreg_put_pyfloat(&b, v);
	assert_string_equal(b.ptr + 2, want);
	mreg_buf_dispose(&b);
}

static void pyfloat_keeps_one_decimal_of_integral_values(void **state)
{
	(void)state;
	assert_pyfloat(50, "50.0");
	assert_pyfloat(0, "0.0");
	assert_pyfloat(-0.0, "0.0");	/* Python says "-0.0"; a threshold of -0 is 0 */
	assert_pyfloat(-25, "-25.0");
	assert_pyfloat(123456789012.0, "123456789012.0");
}

static void pyfloat_prints_fractions_shortest(void **state)
{
	(void)state;
	assert_pyfloat(0.1, "0.1");
	assert_pyfloat(25.5, "25.5");
	assert_pyfloat(0.0001, "0.0001");
	assert_pyfloat(1e20, "1e+20");
}

/* ---- mreg_buf_printf %.Nf -------------------------------------------- */

static void assert_fixed(const char *fmt, double v, const char *want)
{
	mreg_buf b = MREG_BUF_INIT;
	assert_int_equal(mreg_buf_printf(&b, fmt, v), 0);
	assert_string_equal(b.ptr, want);
	mreg_buf_dispose(&b);
}

static void fixed_zero_decimals_round_half_to_even(void **state)
{
	(void)state;
	assert_fixed("%.0f", 0.5, "0");
	assert_fixed("%.0f", 1.5, "2");
	assert_fixed("%.0f", 2.5, "2");
	assert_fixed("%.0f", 40, "40");
	assert_fixed("%.0f", -60.4, "-60");
}

static void fixed_keeps_the_sign_of_negative_values_rounding_to_zero(void **state)
{
	(void)state;
	assert_fixed("%.1f", -0.04, "-0.0");
	assert_fixed("%.1f", -10.25, "-10.2");
}

static void fixed_pads_decimals_with_zeros(void **state)
{
	(void)state;
	assert_fixed("%.4f", 0.6, "0.6000");
	assert_fixed("%.4f", 0.75, "0.7500");
	assert_fixed("%.1f", 60, "60.0");
	assert_fixed("%.3f", 1.0005, "1.000");	/* 1.0005 is just below the tie */
}

static void fixed_rounds_away_a_tiny_excess(void **state)
{
	(void)state;
	assert_fixed("%.1f", 15.000000000000002, "15.0");	/* (0.55 - 0.40) * 100 */
	assert_fixed("%.2f", 190.848501887865, "190.85");
}

/*
 * The exact binary value is rounded, not the decimal literal: 2.675 is
 * 2.67499999999999982236431605997495353221893310546875, so "2.67", as
 * printf and Python's f-strings give. Then random values against glibc's
 * printf, which rounds exactly too.
 */
static void fixed_rounds_the_binary_value_not_the_decimal_literal(void **state)
{
	(void)state;
	assert_fixed("%.2f", 2.675, "2.67");
	assert_fixed("%.1f", 0.35, "0.3");	/* 0.34999999999999997779... */
	assert_fixed("%.2f", 946.845, "946.85");	/* 946.84500000000002728... */
	assert_fixed("%.1f", 0.05, "0.1");
	assert_fixed("%.1f", 0.45, "0.5");
	assert_fixed("%.1f", 0.95, "0.9");
	uint64_t x = 88172645463325252ull;
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		/* values with few decimals, where ties are near, and arbitrary ones */
		double v = i % 2 ? (double)(x % 2000000) / 1000.0 : (double)(x % 1000000007) / 3.7e3;
		int prec = (int)(x >> 40) % 5;
		char fmt[8], want[64];
		snprintf(fmt, sizeof(fmt), "%%.%df", prec);
		snprintf(want, sizeof(want), fmt, v);
		assert_fixed(fmt, v, want);
	}
}

/* Whole parts past 2^52 keep their decimals, as printf writes them. */
static void fixed_keeps_decimals_of_large_values(void **state)
{
	(void)state;
	assert_fixed("%.1f", 1e15, "1000000000000000.0");
	assert_fixed("%.1f", 999999999998490.0, "999999999998490.0");
	assert_fixed("%.2f", 4503599627370495.5, "4503599627370495.50");
	assert_fixed("%.1f", 1e20, "100000000000000000000.0");
	assert_fixed("%.0f", 18014398509481985.0, "18014398509481984");
	uint64_t x = 12345;
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		double v = (double)(x >> 8) / (double)(1u << (x % 24));	/* up to 2^56, many fractions */
		int prec = (int)(x >> 40) % 5;
		char fmt[8], want[64];
		snprintf(fmt, sizeof(fmt), "%%.%df", prec);
		snprintf(want, sizeof(want), fmt, v);
		assert_fixed(fmt, v, want);
	}
}

/*
 * %.Nf as mreg wrote it before it used the C library's %.*f (its own
 * exact rounding), kept as the reference: reasons such as "Fitness
 * improved from 0.6000 to 0.7500" are written into events, which are
 * hashed by their bytes, so every value must print exactly as before.
 */
static int ref_put_unsigned(mreg_buf *b, unsigned long long v, int base)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = "0123456789abcdef"[v % (unsigned)base];
		v /= (unsigned)base;
	} while (v);
	char out[24];
	for (int i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return mreg_buf_put(b, out, (size_t)n);
}

/*
 * (The reference.) v with prec decimals (at most 9), as printf's %.Nf and Python's format:
 * the exact binary value rounded half to even. The whole part and the
 * fraction are split exactly (floor, then a subtraction that cannot
 * round); the fraction times 10^prec is rounded once by the multiplication,
 * and fma gives that rounding's error exactly, so it is compared with one
 * half without a second rounding. Whole parts of 2^64 and more (only
 * absurd metrics have them) are written from the shortest digits.
 */
static void ref_put_fixed(mreg_buf *b, double v, size_t prec)
{
	if (isnan(v) || isinf(v)) {
		mreg_buf_puts(b, isnan(v) ? "nan" : v < 0 ? "-inf" : "inf");
		return;
	}
	if (prec > 9)
		prec = 9;
	double scale = 1, a = fabs(v);
	for (size_t i = 0; i < prec; i++)
		scale *= 10;
	if (v < 0)
		mreg_buf_putc(b, '-');
	double whole = floor(a), frac = a - whole;
	double prod = frac * scale;
	double err = fma(frac, scale, -prod);	/* frac * scale == prod + err, exactly */
	double f = floor(prod);
	if (prod - f + err < 0)
		f -= 1;
	double half = (prod - f - 0.5) + err;	/* its sign is exact */
	if (half > 0 || (half == 0 && fmod(prec ? f : whole + f, 2) != 0))
		f += 1;
	if (f >= scale) {	/* rounded up into the whole part */
		f -= scale;
		whole += 1;
	}
	if (whole < 18446744073709551616.0) {
		ref_put_unsigned(b, (unsigned long long)whole, 10);
	} else {
		/* d.ddde+NN: the digits, then zeros up to the exponent */
		char num[MREG_NUM_MAX];
		mreg_num_format(num, whole);
		char *e = strchr(num, 'e');
		int exp = e ? atoi(e + 1) : 0, ndig = 0;
		for (char *p = num; *p && p != e; p++)
			if (*p >= '0' && *p <= '9') {
				mreg_buf_putc(b, *p);
				ndig++;
			}
		for (; ndig <= exp; ndig++)
			mreg_buf_putc(b, '0');
	}
	if (prec) {
		char digits[10];
		unsigned long long x = (unsigned long long)f;
		for (size_t i = prec; i-- > 0; x /= 10)
			digits[i] = (char)('0' + x % 10);
		mreg_buf_putc(b, '.');
		mreg_buf_put(b, digits, prec);
	}
}

static void same_fixed_as_reference(int prec, double v)
{
	char fmt[8];
	mreg_buf got = MREG_BUF_INIT, want = MREG_BUF_INIT;
	snprintf(fmt, sizeof(fmt), "%%.%df", prec);
	assert_int_equal(mreg_buf_printf(&got, fmt, v), 0);
	ref_put_fixed(&want, v, (size_t)prec);
	if (strcmp(got.ptr, want.ptr))
		fail_msg("%s of %a: \"%s\", before \"%s\"", fmt, v, got.ptr, want.ptr);
	mreg_buf_dispose(&got);
	mreg_buf_dispose(&want);
}

static void fixed_same_as_reference(void **state)
{
	(void)state;
	static const double edges[] = { 0.0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 0.05, 0.45, 0.95, 2.675, 1e-300, -1e-300,
					5e-324, 4503599627370495.5, 9007199254740993.0, 18446744073709549568.0,
					18446744073709551616.0, -18446744073709551616.0, 1e20, 1e23, -1e23, 1.5e300,
					1.7976931348623157e308, -1.7976931348623157e308, NAN, INFINITY, -INFINITY };
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		for (int prec = 0; prec <= 12; prec++)
			same_fixed_as_reference(prec, edges[i]);
	uint64_t x = 99991;
	for (int i = 0; i < 100000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		int prec = (int)(x >> 40) % 11;
		double v;
		switch (i % 4) {
		case 0:	/* few decimals: ties and near ties */
			v = (double)(int64_t)(x % 2000001 - 1000000) / (double)(1u << (x >> 50) % 12);
			break;
		case 1:	/* rates and ratings as reasons show them */
			v = (double)(x % 1000003) / 7.0e3 - 70;
			break;
		case 2:	/* any finite value */
			memcpy(&v, &x, sizeof(v));
			if (!isfinite(v))
				v = 1;
			break;
		default:	/* around 2^53 .. 2^70 */
			v = ldexp((double)(x >> 11), (int)(x % 18)) * ((x >> 63) ? -1 : 1);
			break;
		}
		same_fixed_as_reference(prec, v);
	}
}

static void fixed_sits_among_other_conversions(void **state)
{
	(void)state;
	mreg_buf b = MREG_BUF_INIT;
	assert_int_equal(mreg_buf_printf(&b, "a %.1f%% b %s %.0f %d", 15.000000000000002, "s", 2.5, 7), 0);
	assert_string_equal(b.ptr, "a 15.0% b s 2 7");
	mreg_buf_dispose(&b);
}


/* ---- protected stages ------------------------------------------------ */

static void policy_protect_names_signers_per_stage(void **state)
{
	(void)state;
	mreg_policy p = MREG_POLICY_INIT;
	assert_false(mreg_policy_protects(&p));
	cJSON *doc = cJSON_Parse("{\"protect\":{\"production\":{\"signers\":\".mreg/allowed_signers\"},"
				 "\"staging\":{\"signers\":\".mreg/team/ci-keys\"}}}");
	assert_non_null(doc);
	assert_int_equal(mreg_policy_from_json(&p, doc, NULL), 0);
	assert_string_equal(p.protect[MREG_STAGE_PRODUCTION], ".mreg/allowed_signers");
	assert_string_equal(p.protect[MREG_STAGE_STAGING], ".mreg/team/ci-keys");
	assert_string_equal(p.protect[MREG_STAGE_DEVELOPMENT], "");
	assert_true(mreg_policy_protects(&p));
	assert_int_equal(mreg_policy_protected(&p, 1u << MREG_STAGE_ARCHIVED), MREG_STAGE_NONE);
	assert_int_equal(mreg_policy_protected(&p, (1u << MREG_STAGE_PRODUCTION) | (1u << MREG_STAGE_ARCHIVED)),
			 MREG_STAGE_PRODUCTION);
	cJSON_Delete(doc);
	/* a later mreg.json without production protected replaces the whole section */
	doc = cJSON_Parse("{\"protect\":{\"staging\":{\"signers\":\".mreg/s\"}}}");
	assert_int_equal(mreg_policy_from_json(&p, doc, NULL), 0);
	assert_string_equal(p.protect[MREG_STAGE_PRODUCTION], "");
	assert_string_equal(p.protect[MREG_STAGE_STAGING], ".mreg/s");
	cJSON_Delete(doc);
}

static void policy_protect_refuses_what_could_name_another_file(void **state)
{
	(void)state;
	assert_policy_refused("{\"protect\":{\"prod\":{\"signers\":\".mreg/a\"}}}", "unknown stage 'protect.prod'");
	assert_policy_refused("{\"protect\":[]}", "'protect' must be an object of stages");
	assert_policy_refused("{\"protect\":{\"production\":true}}", "'protect.production' must be an object");
	assert_policy_refused("{\"protect\":{\"production\":{\"signers\":\".mreg/a\",\"who\":1}}}",
			      "unknown key 'protect.who'");
	assert_policy_refused("{\"protect\":{\"production\":{}}}", "'protect.production'.signers must name");
	static const char *const bad[] = { "/etc/passwd", "../x", ".mreg/../x", ".mreg/", ".mreg", "signers",
					   ".mreg/.hidden", ".mreg/a//b", ".mreg/a/", ".mreg/a b", ".mreg/a\\nb" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char json[256];
		snprintf(json, sizeof(json), "{\"protect\":{\"production\":{\"signers\":\"%s\"}}}", bad[i]);
		assert_policy_refused(json, "'protect.production'.signers must name a file under .mreg/");
	}
	char json[400];
	snprintf(json, sizeof(json), "{\"protect\":{\"production\":{\"signers\":\".mreg/%0122d\"}}}", 0);
	assert_policy_refused(json, "at most 127 bytes");
	snprintf(json, sizeof(json), "{\"protect\":{\"production\":{\"signers\":\".mreg/%0121d\"}}}", 0);
	mreg_policy p = MREG_POLICY_INIT;
	cJSON *doc = cJSON_Parse(json);
	assert_int_equal(mreg_policy_from_json(&p, doc, NULL), 0);
	assert_int_equal(strlen(p.protect[MREG_STAGE_PRODUCTION]), 127);
	cJSON_Delete(doc);
}

static void stages_entered_by_each_event(void **state)
{
	(void)state;
	mreg_event ev;
	mreg_event_init(&ev);
	ev.type = MREG_EV_PROMOTED;
	ev.from = MREG_STAGE_DEVELOPMENT;
	ev.to = MREG_STAGE_STAGING;
	assert_int_equal(mreg_event_stages_entered(&ev), 1u << MREG_STAGE_STAGING);
	ev.to = MREG_STAGE_PRODUCTION;	/* and archived: the version it replaces */
	assert_int_equal(mreg_event_stages_entered(&ev), (1u << MREG_STAGE_PRODUCTION) | (1u << MREG_STAGE_ARCHIVED));
	ev.type = MREG_EV_REGISTERED;
	ev.stage = MREG_STAGE_DEVELOPMENT;
	assert_int_equal(mreg_event_stages_entered(&ev), 1u << MREG_STAGE_DEVELOPMENT);
	ev.type = MREG_EV_ROLLBACK;
	assert_int_equal(mreg_event_stages_entered(&ev), (1u << MREG_STAGE_PRODUCTION) | (1u << MREG_STAGE_ARCHIVED));
	ev.type = MREG_EV_TAGGED;
	assert_int_equal(mreg_event_stages_entered(&ev), 0);
	ev.type = MREG_EV_METRICS;
	assert_int_equal(mreg_event_stages_entered(&ev), 0);
}

/* rollback.auto_rollback_enabled false: what would roll back waits for approval instead */
static void regression_without_auto_rollback_waits(void **state)
{
	(void)state;
	mreg_policy p = MREG_POLICY_INIT;
	mreg_regression_action action;
	const char *trigger = "x";
	mreg_buf out = MREG_BUF_INIT;
	p.auto_rollback_enabled = false;
	assert_int_equal(mreg_regression_decide(&action, &out, &trigger, "critical", 100, "big drop", &p), 0);
	assert_int_equal(action, MREG_REGRESSION_WAIT);
	assert_null(trigger);
	assert_string_equal(out.ptr, "Auto-rollback disabled: big drop");
	mreg_buf_clear(&out);
	assert_int_equal(mreg_regression_decide(&action, &out, &trigger, "minor", 1, "small", &p), 0);
	assert_int_equal(action, MREG_REGRESSION_NOTHING);
	mreg_buf_dispose(&out);
	cJSON *doc = cJSON_Parse("{\"rollback\":{\"auto_rollback_enabled\":false}}");
	mreg_policy q = MREG_POLICY_INIT;
	assert_true(q.auto_rollback_enabled);
	assert_int_equal(mreg_policy_from_json(&q, doc, NULL), 0);
	assert_false(q.auto_rollback_enabled);
	cJSON_Delete(doc);
}

/* cooldown and daily limit: automatic rollbacks only, from the rollbacks recorded */
static void rollback_allowed_by_cooldown_and_daily_limit(void **state)
{
	(void)state;
	mreg_state *st = NULL;
	assert_int_equal(mreg_state_new(&st), 0);
	st->rollbacks = cJSON_Parse("[{\"model_id\":\"m\",\"success\":true,\"timestamp\":\"2026-01-01T10:00:00.000000Z\"},"
				    "{\"model_id\":\"m\",\"success\":false,\"timestamp\":\"2026-01-01T11:50:00.000000Z\"},"
				    "{\"model_id\":\"n\",\"success\":true,\"timestamp\":\"2026-01-01T11:55:00.000000Z\"}]");
	int64_t noon;
	assert_int_equal(mreg_time_parse(&noon, "2026-01-01T12:00:00.000000Z"), 0);
	mreg_policy p = MREG_POLICY_INIT;
	mreg_buf why = MREG_BUF_INIT;
	assert_int_equal(mreg_rollback_allowed(&why, st, "m", "auto_check", noon, &p), 0);	/* none set */
	p.cooldown_minutes = 121;
	assert_int_equal(mreg_rollback_allowed(&why, st, "m", "auto_check", noon, &p), 1);
	assert_string_equal(why.ptr, "the last rollback of 'm' was 120 minutes ago (rollback.cooldown_minutes: 121.0)");
	mreg_buf_clear(&why);
	assert_int_equal(mreg_rollback_allowed(&why, st, "m", "manual", noon, &p), 0);	/* a person's */
	assert_int_equal(mreg_rollback_allowed(&why, st, "m", "auto_regression_approved", noon, &p), 0);
	p.cooldown_minutes = 119;	/* the failed one does not count */
	assert_int_equal(mreg_rollback_allowed(&why, st, "m", "auto_check", noon, &p), 0);
	p.max_rollbacks_per_day = 1;
	assert_int_equal(mreg_rollback_allowed(&why, st, "m", "auto_check", noon, &p), 1);
	assert_string_equal(why.ptr, "'m' was rolled back 1 times in the last 24 hours (rollback.max_rollbacks_per_day: 1)");
	mreg_buf_clear(&why);
	assert_int_equal(mreg_rollback_allowed(&why, st, "m", "auto_check", noon + (int64_t)86400 * 1000000, &p), 0);
	mreg_buf_dispose(&why);
	mreg_state_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sole_production_version_is_still_checked),
		cmocka_unit_test(regression_without_auto_rollback_waits),
		cmocka_unit_test(rollback_allowed_by_cooldown_and_daily_limit),
		cmocka_unit_test(policy_protect_names_signers_per_stage),
		cmocka_unit_test(policy_protect_refuses_what_could_name_another_file),
		cmocka_unit_test(stages_entered_by_each_event),
		cmocka_unit_test(elo_drop_of_10_over_threshold_30_is_acceptable),
		cmocka_unit_test(elo_drop_of_40_over_threshold_30_degrades),
		cmocka_unit_test(elo_drop_equal_to_threshold_degrades),
		cmocka_unit_test(win_rate_drop_of_15_points_over_threshold_10_degrades),
		cmocka_unit_test(five_games_since_baseline_are_insufficient),
		cmocka_unit_test(negative_zero_games_print_without_sign),
		cmocka_unit_test(no_baseline_is_never_degraded),
		cmocka_unit_test(zero_or_missing_ratings_are_not_compared),
		cmocka_unit_test(default_policy_elo_drop_of_60_degrades),
		cmocka_unit_test(default_policy_ten_games_are_insufficient),
		cmocka_unit_test(default_policy_win_rate_drop_degrades),
		cmocka_unit_test(default_policy_improvement_is_acceptable),
		cmocka_unit_test(policy_init_holds_the_original_defaults),
		cmocka_unit_test(policy_from_json_overrides_only_present_members),
		cmocka_unit_test(policy_from_empty_object_keeps_defaults),
		cmocka_unit_test(policy_from_json_refuses_a_string_threshold),
		cmocka_unit_test(policy_from_json_refuses_out_of_range_values),
		cmocka_unit_test(policy_from_json_refuses_non_bool_require_approval),
		cmocka_unit_test(policy_from_json_reads_the_default_mreg_json),
		cmocka_unit_test(policy_from_json_refuses_unknown_keys),
		cmocka_unit_test(policy_from_json_shows_a_hostile_key_on_one_line),
		cmocka_unit_test(policy_from_json_refuses_duplicate_keys),
		cmocka_unit_test(policy_from_json_refuses_a_group_that_is_not_an_object),
		cmocka_unit_test(policy_from_json_refuses_a_document_that_is_not_an_object),
		cmocka_unit_test(policy_from_json_reads_artifact_max_bytes),
		cmocka_unit_test(policy_from_json_refuses_artifact_max_bytes_out_of_range),
		cmocka_unit_test(policy_from_json_accepts_format_1),
		cmocka_unit_test(policy_from_json_refuses_a_newer_format_as_too_new),
		cmocka_unit_test(policy_from_json_refuses_a_format_that_is_no_version),
		cmocka_unit_test(policy_from_json_refuses_fractional_counts),
		cmocka_unit_test(policy_from_json_applies_nothing_when_it_refuses),
		cmocka_unit_test(policy_from_json_drops_the_sign_of_a_zero),
		cmocka_unit_test(rollback_candidate_is_highest_archived_with_elo),
		cmocka_unit_test(rollback_candidate_of_one_archived_version_is_that_version),
		cmocka_unit_test(rollback_candidate_without_positive_elo_is_highest_archived),
		cmocka_unit_test(rollback_candidate_prefers_lower_version_with_elo),
		cmocka_unit_test(rollback_candidate_without_archived_versions_is_null),
		cmocka_unit_test(model_without_production_needs_no_rollback),
		cmocka_unit_test(production_without_archived_versions_has_no_candidates),
		cmocka_unit_test(degraded_production_rolls_back_with_the_check_reason),
		cmocka_unit_test(healthy_production_needs_no_rollback),
		cmocka_unit_test(given_metrics_are_judged_instead_of_production),
		cmocka_unit_test(production_without_baseline_needs_no_rollback),
		cmocka_unit_test(development_with_10_games_is_insufficient),
		cmocka_unit_test(negative_zero_games_and_elo_print_without_sign),
		cmocka_unit_test(development_without_elo_cannot_be_staged),
		cmocka_unit_test(development_with_50_games_and_elo_goes_to_staging),
		cmocka_unit_test(staging_with_too_few_games_stays),
		cmocka_unit_test(staging_10_elo_over_production_is_insufficient),
		cmocka_unit_test(staging_without_production_goes_to_production),
		cmocka_unit_test(staging_60_elo_over_production_goes_to_production),
		cmocka_unit_test(staging_without_elo_cannot_be_compared),
		cmocka_unit_test(production_version_is_not_promoted),
		cmocka_unit_test(critical_regression_rolls_back),
		cmocka_unit_test(severe_regression_waits_for_approval),
		cmocka_unit_test(severe_regression_without_approval_rolls_back),
		cmocka_unit_test(moderate_regression_of_30_elo_is_only_monitored),
		cmocka_unit_test(moderate_regression_of_30_5_elo_rolls_back),
		cmocka_unit_test(minor_regression_does_nothing),
		cmocka_unit_test(unknown_severity_is_invalid),
		cmocka_unit_test(fitness_075_is_elo_190_85),
		cmocka_unit_test(fitness_085_is_elo_301_3),
		cmocka_unit_test(fitness_half_is_elo_0),
		cmocka_unit_test(fitness_at_or_outside_bounds_has_no_elo),
		cmocka_unit_test(pyfloat_keeps_one_decimal_of_integral_values),
		cmocka_unit_test(pyfloat_prints_fractions_shortest),
		cmocka_unit_test(fixed_zero_decimals_round_half_to_even),
		cmocka_unit_test(fixed_keeps_the_sign_of_negative_values_rounding_to_zero),
		cmocka_unit_test(fixed_pads_decimals_with_zeros),
		cmocka_unit_test(fixed_rounds_away_a_tiny_excess),
		cmocka_unit_test(fixed_rounds_the_binary_value_not_the_decimal_literal),
		cmocka_unit_test(fixed_keeps_decimals_of_large_values),
		cmocka_unit_test(fixed_sits_among_other_conversions),
		cmocka_unit_test(fixed_same_as_reference),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

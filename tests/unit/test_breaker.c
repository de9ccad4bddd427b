/*
 * Unit tests for core/breaker.c: the circuit breaker `mreg sync` keeps per
 * remote, through its whole state diagram (breaker.h), with the original's
 * defaults: 5 failures in a row open it, 60 s then 120 s then 180 s (the
 * cap), each within 10 % either way, 300 s whatever the settings, 2 tries
 * while half-open. Also the rule for tries that never report (a process
 * that died between allow() and its result), the settings check, and the
 * breaker's record in the sync state, written and read back.
 *
 * Time is an input: every test states the instants it asks about, to the
 * microsecond, and r, the random number that draws the jitter.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "breaker.h"

/* seconds as microseconds */
#define S(x) ((int64_t)((x) * 1000000.0))
/* 2026-01-01T00:00:00Z */
#define T0 ((int64_t)1767225600 * 1000000)
/* r at the middle draws no jitter */
#define NOJIT 0.5

/* the largest r below 1: the long end of the jitter */
static double r_high(void)
{
	return nextafter(1.0, 0.0);
}

/* failure_threshold failures at now: the circuit opens with the last */
static void fail_until_open(mreg_breaker *b, const mreg_breaker_config *c, int64_t now, double r)
{
	for (int i = 0; i < c->failure_threshold; i++) {
		assert_int_equal(b->state, MREG_BREAKER_CLOSED);
		assert_true(mreg_breaker_allow(b, c, now));
		mreg_breaker_failure(b, c, now, r);
	}
	assert_int_equal(b->state, MREG_BREAKER_OPEN);
}

/* b is open, and the first try it allows is at exactly now + wait: refused a microsecond before */
static void assert_opens_after(mreg_breaker *b, const mreg_breaker_config *c, int64_t now, int64_t wait)
{
	assert_int_equal(b->state, MREG_BREAKER_OPEN);
	assert_false(mreg_breaker_allow(b, c, now + wait - 1));
	assert_int_equal(b->state, MREG_BREAKER_OPEN);
	assert_true(mreg_breaker_allow(b, c, now + wait));
	assert_int_equal(b->state, MREG_BREAKER_HALF_OPEN);
}

/* ---- closed -> open -------------------------------------------------- */

static void four_failures_stay_closed_the_fifth_opens(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	for (int i = 1; i <= 4; i++) {
		mreg_breaker_failure(&b, &c, T0 + S(i), NOJIT);
		assert_int_equal(b.state, MREG_BREAKER_CLOSED);
		assert_int_equal(b.failures, i);
		assert_true(mreg_breaker_allow(&b, &c, T0 + S(i)));
	}
	mreg_breaker_failure(&b, &c, T0 + S(5), NOJIT);
	assert_int_equal(b.state, MREG_BREAKER_OPEN);
	assert_int_equal(b.failures, 5);
	assert_int_equal(b.opens, 1);
	assert_true(b.open_until == T0 + S(5) + S(60));
}

static void success_between_failures_resets_the_count(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	for (int i = 0; i < 4; i++)
		mreg_breaker_failure(&b, &c, T0, NOJIT);
	mreg_breaker_success(&b);
	assert_int_equal(b.failures, 0);
	for (int i = 0; i < 4; i++)
		mreg_breaker_failure(&b, &c, T0, NOJIT);
	assert_int_equal(b.state, MREG_BREAKER_CLOSED);
	assert_int_equal(b.failures, 4);
	mreg_breaker_failure(&b, &c, T0, NOJIT);
	assert_int_equal(b.state, MREG_BREAKER_OPEN);
}

static void threshold_of_one_opens_on_the_first_failure(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	c.failure_threshold = 1;
	mreg_breaker_failure(&b, &c, T0, NOJIT);
	assert_int_equal(b.state, MREG_BREAKER_OPEN);
}

/* ---- open ------------------------------------------------------------- */

static void no_try_while_open(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	fail_until_open(&b, &c, T0, NOJIT);
	mreg_breaker before = b;
	int64_t at[] = { T0, T0 + 1, T0 + S(30), T0 + S(59.999999) };
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		assert_false(mreg_breaker_allow(&b, &c, at[i]));
		assert_memory_equal(&b, &before, sizeof(b));
	}
}

static void half_open_after_the_timeout_and_not_before(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	fail_until_open(&b, &c, T0, NOJIT);
	assert_opens_after(&b, &c, T0, S(60));
	assert_int_equal(b.half_open_calls, 1);
}

static void jitter_at_r_zero_shortens_the_timeout_by_ten_percent(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	fail_until_open(&b, &c, T0, 0.0);
	assert_opens_after(&b, &c, T0, S(54));
}

static void jitter_at_r_near_one_lengthens_the_timeout_by_ten_percent(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	fail_until_open(&b, &c, T0, r_high());
	assert_opens_after(&b, &c, T0, S(66));
}

static void jitter_follows_the_config(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	c.jitter = 0.5;
	fail_until_open(&b, &c, T0, 0.0);
	assert_opens_after(&b, &c, T0, S(30));
	c.jitter = 0;
	b = (mreg_breaker)MREG_BREAKER_INIT;
	fail_until_open(&b, &c, T0, 0.0);
	assert_opens_after(&b, &c, T0, S(60));
}

static void r_outside_zero_to_one_is_taken_as_the_nearer_end(void **state)
{
	(void)state;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	const struct {
		double r;
		double wait;
	} cases[] = { { -1, 54 }, { NAN, 54 }, { 1, 66 }, { 7, 66 }, { INFINITY, 66 } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mreg_breaker b = MREG_BREAKER_INIT;
		fail_until_open(&b, &c, T0, cases[i].r);
		assert_opens_after(&b, &c, T0, S(cases[i].wait));
	}
}

/* ---- half-open -------------------------------------------------------- */

static void two_half_open_tries_then_no_third(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	fail_until_open(&b, &c, T0, NOJIT);
	assert_true(mreg_breaker_allow(&b, &c, T0 + S(60)));
	assert_true(mreg_breaker_allow(&b, &c, T0 + S(61)));
	assert_int_equal(b.half_open_calls, 2);
	assert_false(mreg_breaker_allow(&b, &c, T0 + S(62)));
	assert_int_equal(b.state, MREG_BREAKER_HALF_OPEN);
	assert_int_equal(b.half_open_calls, 2);
}

static void half_open_tries_follow_the_config(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	c.half_open_max_calls = 3;
	fail_until_open(&b, &c, T0, NOJIT);
	for (int i = 0; i < 3; i++)
		assert_true(mreg_breaker_allow(&b, &c, T0 + S(60)));
	assert_false(mreg_breaker_allow(&b, &c, T0 + S(60)));
}

static void success_in_half_open_closes_and_resets_opens(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	fail_until_open(&b, &c, T0, NOJIT);
	assert_true(mreg_breaker_allow(&b, &c, T0 + S(60)));
	mreg_breaker_failure(&b, &c, T0 + S(60), NOJIT);	/* opens again: the second opening */
	assert_int_equal(b.opens, 2);
	assert_true(mreg_breaker_allow(&b, &c, T0 + S(180)));
	mreg_breaker_success(&b);
	assert_int_equal(b.state, MREG_BREAKER_CLOSED);
	assert_int_equal(b.failures, 0);
	assert_int_equal(b.opens, 0);
	assert_int_equal(b.half_open_calls, 0);
	assert_true(b.open_until == 0);
	assert_true(mreg_breaker_allow(&b, &c, T0 + S(181)));
	/* the next opening is a first one again: 60 s, not 240 */
	fail_until_open(&b, &c, T0 + S(200), NOJIT);
	assert_int_equal(b.opens, 1);
	assert_opens_after(&b, &c, T0 + S(200), S(60));
}

static void failure_in_half_open_reopens_with_the_doubled_timeout(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	fail_until_open(&b, &c, T0, NOJIT);
	assert_true(mreg_breaker_allow(&b, &c, T0 + S(60)));
	mreg_breaker_failure(&b, &c, T0 + S(70), NOJIT);
	assert_int_equal(b.opens, 2);
	assert_int_equal(b.half_open_calls, 0);
	assert_opens_after(&b, &c, T0 + S(70), S(120));
}

/* 60, 120, then 180 for every later opening: 240 and 480 are capped */
static void timeout_is_capped_at_max_backoff(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	const double want[] = { 60, 120, 180, 180, 180 };
	int64_t now = T0;
	fail_until_open(&b, &c, now, NOJIT);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(b.opens, (int)i + 1);
		assert_opens_after(&b, &c, now, S(want[i]));
		now += S(want[i]);
		mreg_breaker_failure(&b, &c, now, NOJIT);
	}
}

static void jitter_applies_to_the_capped_timeout(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	fail_until_open(&b, &c, T0, NOJIT);
	b.opens = 5;	/* 60 * 2^5 = 1920 s uncapped */
	assert_true(mreg_breaker_allow(&b, &c, T0 + S(60)));
	mreg_breaker_failure(&b, &c, T0 + S(60), r_high());
	assert_opens_after(&b, &c, T0 + S(60), S(198));
	mreg_breaker_failure(&b, &c, T0 + S(258), 0.0);
	assert_opens_after(&b, &c, T0 + S(258), S(162));
}

/* Settings that ask for more than 300 s get 300 s: the original's forced-retry ceiling. */
static void timeout_never_exceeds_the_300_second_ceiling(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	c.recovery_seconds = 200;
	c.max_backoff_seconds = 1000;
	fail_until_open(&b, &c, T0, r_high());
	assert_opens_after(&b, &c, T0, S(220));	/* within the ceiling: jittered as usual */
	mreg_breaker_failure(&b, &c, T0 + S(220), 0.0);	/* 400 * 0.9 = 360 */
	assert_opens_after(&b, &c, T0 + S(220), S(300));
	mreg_breaker_failure(&b, &c, T0 + S(520), r_high());	/* 800 * 1.1 */
	assert_opens_after(&b, &c, T0 + S(520), S(300));

	b = (mreg_breaker)MREG_BREAKER_INIT;
	c.recovery_seconds = 3600;
	c.max_backoff_seconds = 3600;
	fail_until_open(&b, &c, T0, 0.0);
	assert_opens_after(&b, &c, T0, S(300));
}

/* 2.6 µs and 2.4 µs of recovery: whole microseconds, the nearest */
static void timeout_is_rounded_to_the_nearest_microsecond(void **state)
{
	(void)state;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	const struct {
		double recovery;
		int64_t wait;
	} cases[] = { { 2.6e-6, 3 }, { 2.4e-6, 2 } };
	c.jitter = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mreg_breaker b = MREG_BREAKER_INIT;
		c.recovery_seconds = c.max_backoff_seconds = cases[i].recovery;
		fail_until_open(&b, &c, T0, NOJIT);
		assert_opens_after(&b, &c, T0, cases[i].wait);
	}
}

static void openings_saturate_without_overflow(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	fail_until_open(&b, &c, T0, NOJIT);
	b.opens = INT_MAX - 1;
	b.failures = INT_MAX;
	for (int i = 0; i < 2; i++) {
		int64_t now = T0 + S(1000) * (i + 1);
		assert_true(mreg_breaker_allow(&b, &c, now));
		mreg_breaker_failure(&b, &c, now, NOJIT);
		assert_int_equal(b.opens, INT_MAX);
		assert_int_equal(b.failures, INT_MAX);
		assert_opens_after(&b, &c, now, S(180));
	}
}

static void deadline_saturates_at_the_end_of_time(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	int64_t now = INT64_MAX - S(10);
	fail_until_open(&b, &c, now, NOJIT);
	assert_true(b.open_until == INT64_MAX);
	assert_false(mreg_breaker_allow(&b, &c, now));
	assert_false(mreg_breaker_allow(&b, &c, INT64_MAX - 1));
	assert_true(mreg_breaker_allow(&b, &c, INT64_MAX));
}

/* ---- results that come late or never ----------------------------------- */

/*
 * Two half-open tries began and their processes died: no result. Nothing
 * more for one recovery period after the last of them, then one try, then
 * nothing for another period; a result, when one comes, decides as usual.
 */
static void half_open_tries_without_a_result_allow_one_more_each_recovery_period(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	fail_until_open(&b, &c, T0, NOJIT);
	int64_t last = T0 + S(65);
	assert_true(mreg_breaker_allow(&b, &c, T0 + S(60)));
	assert_true(mreg_breaker_allow(&b, &c, last));
	assert_false(mreg_breaker_allow(&b, &c, last + S(60) - 1));
	assert_true(mreg_breaker_allow(&b, &c, last + S(60)));
	assert_int_equal(b.state, MREG_BREAKER_HALF_OPEN);
	assert_int_equal(b.half_open_calls, 3);
	assert_false(mreg_breaker_allow(&b, &c, last + S(61)));
	assert_false(mreg_breaker_allow(&b, &c, last + S(120) - 1));
	assert_true(mreg_breaker_allow(&b, &c, last + S(120)));
	mreg_breaker_failure(&b, &c, last + S(121), NOJIT);
	assert_int_equal(b.opens, 2);
	assert_opens_after(&b, &c, last + S(121), S(120));
}

/* The period is the recovery timeout as set, without jitter and within the ceiling. */
static void stuck_half_open_waits_one_unjittered_recovery_period(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	c.half_open_max_calls = 1;
	fail_until_open(&b, &c, T0, r_high());	/* opened for 66 s */
	assert_true(mreg_breaker_allow(&b, &c, T0 + S(66)));
	assert_false(mreg_breaker_allow(&b, &c, T0 + S(126) - 1));
	assert_true(mreg_breaker_allow(&b, &c, T0 + S(126)));

	b = (mreg_breaker)MREG_BREAKER_INIT;
	c.recovery_seconds = 400;
	c.max_backoff_seconds = 400;
	fail_until_open(&b, &c, T0, NOJIT);	/* opened for 300 s, the ceiling */
	assert_true(mreg_breaker_allow(&b, &c, T0 + S(300)));
	assert_false(mreg_breaker_allow(&b, &c, T0 + S(600) - 1));
	assert_true(mreg_breaker_allow(&b, &c, T0 + S(600)));
}

static void late_failure_while_open_keeps_the_wait(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	fail_until_open(&b, &c, T0, NOJIT);
	/* a second half-open try fails after the first re-opened the circuit */
	assert_true(mreg_breaker_allow(&b, &c, T0 + S(60)));
	assert_true(mreg_breaker_allow(&b, &c, T0 + S(60)));
	mreg_breaker_failure(&b, &c, T0 + S(61), NOJIT);
	mreg_breaker_failure(&b, &c, T0 + S(100), r_high());
	assert_int_equal(b.opens, 2);
	assert_int_equal(b.failures, 7);
	assert_opens_after(&b, &c, T0 + S(61), S(120));
}

static void late_success_while_open_closes(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	fail_until_open(&b, &c, T0, NOJIT);
	mreg_breaker_success(&b);
	assert_int_equal(b.state, MREG_BREAKER_CLOSED);
	assert_int_equal(b.opens, 0);
	assert_true(mreg_breaker_allow(&b, &c, T0 + 1));
}

/* A clock stepped back by an hour must not hold the circuit open for an hour. */
static void clock_stepped_back_makes_the_try_due(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	fail_until_open(&b, &c, T0, r_high());
	assert_false(mreg_breaker_allow(&b, &c, T0 + S(66) - S(300)));	/* a wait of exactly 300 s: kept */
	assert_true(mreg_breaker_allow(&b, &c, T0 + S(66) - S(300) - 1));
	assert_int_equal(b.state, MREG_BREAKER_HALF_OPEN);

	assert_true(mreg_breaker_allow(&b, &c, T0));
	assert_false(mreg_breaker_allow(&b, &c, T0 + S(1)));	/* both tries used, the period running */
	assert_true(mreg_breaker_allow(&b, &c, T0 - S(3600)));
}

/* ---- names ------------------------------------------------------------- */

static void state_names_are_the_originals(void **state)
{
	(void)state;
	const char *names[] = { "closed", "open", "half_open" };
	mreg_breaker_state states[] = { MREG_BREAKER_CLOSED, MREG_BREAKER_OPEN, MREG_BREAKER_HALF_OPEN };
	for (int i = 0; i < 3; i++) {
		assert_string_equal(mreg_breaker_state_name(states[i]), names[i]);
		assert_int_equal(mreg_breaker_state_parse(names[i]), states[i]);
	}
	assert_string_equal(mreg_breaker_state_name(MREG_BREAKER_NONE), "unknown");
	assert_string_equal(mreg_breaker_state_name(MREG_BREAKER_COUNT), "unknown");
	assert_int_equal(mreg_breaker_state_parse("half-open"), MREG_BREAKER_NONE);
	assert_int_equal(mreg_breaker_state_parse("Closed"), MREG_BREAKER_NONE);
	assert_int_equal(mreg_breaker_state_parse(""), MREG_BREAKER_NONE);
	assert_int_equal(mreg_breaker_state_parse(NULL), MREG_BREAKER_NONE);
}

/* ---- settings ---------------------------------------------------------- */

static void config_init_holds_the_original_defaults(void **state)
{
	(void)state;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	assert_int_equal(c.failure_threshold, 5);
	assert_true(c.recovery_seconds == 60);
	assert_true(c.max_backoff_seconds == 180);
	assert_int_equal(c.half_open_max_calls, 2);
	assert_true(c.jitter == 0.1);
	assert_int_equal(mreg_breaker_config_check(&c), 0);
}

static void assert_config_refused(const mreg_breaker_config *c, const char *want)
{
	mreg_error_clear();
	assert_int_equal(mreg_breaker_config_check(c), MREG_EINVALID);
	assert_int_equal(mreg_error_code(), MREG_EINVALID);
	assert_string_equal(mreg_error_last(), want);
}

static void config_check_names_the_key_and_value(void **state)
{
	(void)state;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	c.failure_threshold = 0;
	assert_config_refused(&c, "invalid mreg.breaker.failureThreshold 0: must be 1 or more");

	c = (mreg_breaker_config)MREG_BREAKER_CONFIG_INIT;
	c.recovery_seconds = 0;
	assert_config_refused(&c, "invalid mreg.breaker.recoveryTimeout 0: must be a number of seconds above 0");
	c.recovery_seconds = -1.5;
	assert_config_refused(&c, "invalid mreg.breaker.recoveryTimeout -1.5: must be a number of seconds above 0");
	c.recovery_seconds = NAN;
	assert_config_refused(&c, "invalid mreg.breaker.recoveryTimeout nan: must be a number of seconds above 0");

	c = (mreg_breaker_config)MREG_BREAKER_CONFIG_INIT;
	c.max_backoff_seconds = 59.5;
	assert_config_refused(&c, "invalid mreg.breaker.maxBackoff 59.5: must be a number of seconds no less than "
				  "mreg.breaker.recoveryTimeout (60)");

	c = (mreg_breaker_config)MREG_BREAKER_CONFIG_INIT;
	c.half_open_max_calls = -2;
	assert_config_refused(&c, "invalid mreg.breaker.halfOpenMaxCalls -2: must be 1 or more");

	c = (mreg_breaker_config)MREG_BREAKER_CONFIG_INIT;
	c.jitter = 1;
	assert_config_refused(&c, "invalid mreg.breaker.jitter 1: must be from 0 to below 1");
	c.jitter = -0.1;
	assert_config_refused(&c, "invalid mreg.breaker.jitter -0.1: must be from 0 to below 1");
}

static void config_check_accepts_the_edges(void **state)
{
	(void)state;
	mreg_breaker_config c = { 1, 0.001, 0.001, 1, 0 };
	assert_int_equal(mreg_breaker_config_check(&c), 0);
	c.jitter = nextafter(1.0, 0.0);
	c.max_backoff_seconds = 1e9;
	assert_int_equal(mreg_breaker_config_check(&c), 0);
	c.max_backoff_seconds = INFINITY;
	assert_int_equal(mreg_breaker_config_check(&c), MREG_EINVALID);
	if (!strstr(mreg_error_last(), "mreg.breaker.maxBackoff"))
		fail_msg("message does not name the key: %s", mreg_error_last());
}

/* ---- the record in the sync state -------------------------------------- */

/* b written as the members of one object, as text */
static char *written(const mreg_breaker *b)
{
	mreg_buf out = MREG_BUF_INIT;
	mreg_jsonw w;
	mreg_jsonw_init(&w, &out);
	mreg_jsonw_obj_begin(&w, NULL);
	mreg_breaker_write(&w, b);
	mreg_jsonw_obj_end(&w);
	assert_int_equal(mreg_jsonw_finish(&w), 0);
	return mreg_buf_detach(&out);
}

static void assert_breaker_equal(const mreg_breaker *a, const mreg_breaker *b)
{
	assert_int_equal(a->state, b->state);
	assert_int_equal(a->failures, b->failures);
	assert_int_equal(a->opens, b->opens);
	assert_true(a->open_until == b->open_until);
	assert_int_equal(a->half_open_calls, b->half_open_calls);
}

static void round_trip(const mreg_breaker *b)
{
	char *text = written(b);
	cJSON *doc = cJSON_Parse(text);
	assert_non_null(doc);
	mreg_breaker back = { MREG_BREAKER_HALF_OPEN, -1, -1, -1, -1 };
	assert_int_equal(mreg_breaker_read(&back, doc), 0);
	assert_breaker_equal(&back, b);
	cJSON_Delete(doc);
	free(text);
}

static void open_breaker_is_written_with_its_time(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	fail_until_open(&b, &c, T0 + 250, NOJIT);
	char *text = written(&b);
	assert_string_equal(text, "{\n"
				  "  \"state\": \"open\",\n"
				  "  \"failures\": 5,\n"
				  "  \"opens\": 1,\n"
				  "  \"open_until\": \"2026-01-01T00:01:00.000250Z\",\n"
				  "  \"half_open_calls\": 0\n"
				  "}\n");
	free(text);
}

static void closed_breaker_is_written_with_a_null_time(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	mreg_breaker_failure(&b, &c, T0, NOJIT);
	char *text = written(&b);
	assert_string_equal(text, "{\n"
				  "  \"state\": \"closed\",\n"
				  "  \"failures\": 1,\n"
				  "  \"opens\": 0,\n"
				  "  \"open_until\": null,\n"
				  "  \"half_open_calls\": 0\n"
				  "}\n");
	free(text);
}

static void every_state_reads_back_as_written(void **state)
{
	(void)state;
	mreg_breaker b = MREG_BREAKER_INIT;
	mreg_breaker_config c = MREG_BREAKER_CONFIG_INIT;
	round_trip(&b);
	mreg_breaker_failure(&b, &c, T0, NOJIT);
	round_trip(&b);
	mreg_breaker_success(&b);
	fail_until_open(&b, &c, T0 + 123457, r_high());
	round_trip(&b);
	assert_true(mreg_breaker_allow(&b, &c, T0 + S(70)));
	round_trip(&b);
	assert_true(mreg_breaker_allow(&b, &c, T0 + S(71)));
	mreg_breaker_failure(&b, &c, T0 + S(72), 0.25);
	round_trip(&b);
	b.failures = b.opens = INT_MAX;
	round_trip(&b);
}

static void read_ignores_members_it_does_not_own(void **state)
{
	(void)state;
	cJSON *doc = cJSON_Parse("{\"remote\": \"origin\", \"state\": \"half_open\", \"failures\": 6, \"opens\": 2,"
				 " \"open_until\": \"2026-01-01T00:03:00.000000Z\", \"half_open_calls\": 1,"
				 " \"last_sync\": null}");
	assert_non_null(doc);
	mreg_breaker b;
	assert_int_equal(mreg_breaker_read(&b, doc), 0);
	mreg_breaker want = { MREG_BREAKER_HALF_OPEN, 6, 2, T0 + S(180), 1 };
	assert_breaker_equal(&b, &want);
	cJSON_Delete(doc);
}

/* json refused with exactly this message, and *out untouched */
static void assert_read_refused(const char *json, const char *want)
{
	cJSON *doc = cJSON_Parse(json);
	if (!doc)
		fail_msg("test input is not JSON: %s", json);
	mreg_breaker b = { MREG_BREAKER_OPEN, 11, 12, 13, 14 }, before = b;
	mreg_error_clear();
	assert_int_equal(mreg_breaker_read(&b, doc), MREG_EINVALID);
	assert_string_equal(mreg_error_last(), want);
	assert_memory_equal(&b, &before, sizeof(b));
	cJSON_Delete(doc);
}

#define OK_REST "\"failures\": 0, \"opens\": 1, \"half_open_calls\": 0"
#define OPEN_AT "\"open_until\": \"2026-01-01T00:01:00.000000Z\""

static void read_refuses_a_breaker_that_is_not_an_object_or_lacks_a_member(void **state)
{
	(void)state;
	assert_read_refused("[]", "invalid circuit breaker: expected a JSON object");
	assert_read_refused("\"open\"", "invalid circuit breaker: expected a JSON object");
	assert_read_refused("{\"state\": \"open\", " OK_REST "}", "invalid circuit breaker: missing member 'open_until'");
	assert_read_refused("{" OPEN_AT ", " OK_REST "}", "invalid circuit breaker: missing member 'state'");
	assert_read_refused("{\"state\": \"open\", \"state\": \"closed\", " OPEN_AT ", " OK_REST "}",
			    "invalid circuit breaker: duplicate member 'state'");
}

static void read_refuses_members_of_the_wrong_type_or_range(void **state)
{
	(void)state;
	const char *count = "must be a whole number from 0 to 2147483647";
	char want[160];
	assert_read_refused("{\"state\": \"half-open\", " OPEN_AT ", " OK_REST "}",
			    "invalid circuit breaker member 'state': must be closed, open or half_open");
	assert_read_refused("{\"state\": 1, " OPEN_AT ", " OK_REST "}",
			    "invalid circuit breaker member 'state': must be closed, open or half_open");
	const char *bad_counts[] = { "-1", "1.5", "2147483648", "\"3\"", "null", "true", "1e300" };
	for (size_t i = 0; i < sizeof(bad_counts) / sizeof(bad_counts[0]); i++) {
		char json[256];
		snprintf(json, sizeof(json),
			 "{\"state\": \"open\", " OPEN_AT ", \"failures\": 0, \"opens\": %s, \"half_open_calls\": 0}",
			 bad_counts[i]);
		snprintf(want, sizeof(want), "invalid circuit breaker member 'opens': %s", count);
		assert_read_refused(json, want);
	}
	snprintf(want, sizeof(want), "invalid circuit breaker member 'failures': %s", count);
	assert_read_refused("{\"state\": \"open\", " OPEN_AT ", \"failures\": -0.5, \"opens\": 1, \"half_open_calls\": 0}",
			    want);
	snprintf(want, sizeof(want), "invalid circuit breaker member 'half_open_calls': %s", count);
	assert_read_refused("{\"state\": \"open\", " OPEN_AT ", \"failures\": 0, \"opens\": 1, \"half_open_calls\": {}}",
			    want);
}

static void read_refuses_a_bad_time(void **state)
{
	(void)state;
	const char *want = "invalid circuit breaker member 'open_until': must be a time "
			   "(2026-11-27T01:45:12.123456Z), or null when closed";
	assert_read_refused("{\"state\": \"open\", \"open_until\": \"2026-01-01T00:01:00Z\", " OK_REST "}", want);
	assert_read_refused("{\"state\": \"open\", \"open_until\": \"2026-02-30T00:01:00.000000Z\", " OK_REST "}", want);
	assert_read_refused("{\"state\": \"open\", \"open_until\": 1767225660, " OK_REST "}", want);
	assert_read_refused("{\"state\": \"open\", \"open_until\": null, " OK_REST "}", want);
	assert_read_refused("{\"state\": \"half_open\", \"open_until\": null, \"failures\": 5, \"opens\": 1,"
			    " \"half_open_calls\": 1}",
			    want);
}

/* Each numbered invariant of breaker.h, broken once. */
static void read_refuses_a_breaker_that_breaks_an_invariant(void **state)
{
	(void)state;
	const char *closed = "invalid circuit breaker: state 'closed' must have opens 0, half_open_calls 0 and "
			     "open_until null";
	assert_read_refused("{\"state\": \"closed\", \"open_until\": null, \"failures\": 0, \"opens\": 1,"
			    " \"half_open_calls\": 0}",
			    closed);
	assert_read_refused("{\"state\": \"closed\", \"open_until\": null, \"failures\": 0, \"opens\": 0,"
			    " \"half_open_calls\": 2}",
			    closed);
	assert_read_refused("{\"state\": \"closed\", " OPEN_AT ", \"failures\": 0, \"opens\": 0, \"half_open_calls\": 0}",
			    closed);
	const char *open = "invalid circuit breaker: state 'open' must have opens 1 or more and half_open_calls 0";
	assert_read_refused("{\"state\": \"open\", " OPEN_AT ", \"failures\": 5, \"opens\": 0, \"half_open_calls\": 0}",
			    open);
	assert_read_refused("{\"state\": \"open\", " OPEN_AT ", \"failures\": 5, \"opens\": 1, \"half_open_calls\": 1}",
			    open);
	const char *half = "invalid circuit breaker: state 'half_open' must have opens 1 or more and half_open_calls "
			   "1 or more";
	assert_read_refused("{\"state\": \"half_open\", " OPEN_AT ", \"failures\": 5, \"opens\": 0,"
			    " \"half_open_calls\": 1}",
			    half);
	assert_read_refused("{\"state\": \"half_open\", " OPEN_AT ", \"failures\": 5, \"opens\": 1,"
			    " \"half_open_calls\": 0}",
			    half);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(four_failures_stay_closed_the_fifth_opens),
		cmocka_unit_test(success_between_failures_resets_the_count),
		cmocka_unit_test(threshold_of_one_opens_on_the_first_failure),
		cmocka_unit_test(no_try_while_open),
		cmocka_unit_test(half_open_after_the_timeout_and_not_before),
		cmocka_unit_test(jitter_at_r_zero_shortens_the_timeout_by_ten_percent),
		cmocka_unit_test(jitter_at_r_near_one_lengthens_the_timeout_by_ten_percent),
		cmocka_unit_test(jitter_follows_the_config),
		cmocka_unit_test(r_outside_zero_to_one_is_taken_as_the_nearer_end),
		cmocka_unit_test(two_half_open_tries_then_no_third),
		cmocka_unit_test(half_open_tries_follow_the_config),
		cmocka_unit_test(success_in_half_open_closes_and_resets_opens),
		cmocka_unit_test(failure_in_half_open_reopens_with_the_doubled_timeout),
		cmocka_unit_test(timeout_is_capped_at_max_backoff),
		cmocka_unit_test(jitter_applies_to_the_capped_timeout),
		cmocka_unit_test(timeout_never_exceeds_the_300_second_ceiling),
		cmocka_unit_test(timeout_is_rounded_to_the_nearest_microsecond),
		cmocka_unit_test(openings_saturate_without_overflow),
		cmocka_unit_test(deadline_saturates_at_the_end_of_time),
		cmocka_unit_test(half_open_tries_without_a_result_allow_one_more_each_recovery_period),
		cmocka_unit_test(stuck_half_open_waits_one_unjittered_recovery_period),
		cmocka_unit_test(late_failure_while_open_keeps_the_wait),
		cmocka_unit_test(late_success_while_open_closes),
		cmocka_unit_test(clock_stepped_back_makes_the_try_due),
		cmocka_unit_test(state_names_are_the_originals),
		cmocka_unit_test(config_init_holds_the_original_defaults),
		cmocka_unit_test(config_check_names_the_key_and_value),
		cmocka_unit_test(config_check_accepts_the_edges),
		cmocka_unit_test(open_breaker_is_written_with_its_time),
		cmocka_unit_test(closed_breaker_is_written_with_a_null_time),
		cmocka_unit_test(every_state_reads_back_as_written),
		cmocka_unit_test(read_ignores_members_it_does_not_own),
		cmocka_unit_test(read_refuses_a_breaker_that_is_not_an_object_or_lacks_a_member),
		cmocka_unit_test(read_refuses_members_of_the_wrong_type_or_range),
		cmocka_unit_test(read_refuses_a_bad_time),
		cmocka_unit_test(read_refuses_a_breaker_that_breaks_an_invariant),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

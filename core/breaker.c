/*
 * The circuit breaker's moves, its settings checked, and its record in the
 * sync state (diagram, timeouts and invariants in breaker.h). Every move
 * is a function of the breaker, the settings, the time and a random number
 * given by the caller; nothing here reads a clock.
 */
#include "breaker.h"

#include <limits.h>
#include <math.h>
#include <string.h>

static const char *const state_names[MREG_BREAKER_COUNT] = { "closed", "open", "half_open" };

#define CEILING_USEC ((int64_t)MREG_BREAKER_CEILING_SECONDS * 1000000)

const char *mreg_breaker_state_name(mreg_breaker_state s)
{
	return s >= 0 && s < MREG_BREAKER_COUNT ? state_names[s] : "unknown";
}

mreg_breaker_state mreg_breaker_state_parse(const char *s)
{
	for (int i = 0; s && i < MREG_BREAKER_COUNT; i++)
		if (!strcmp(s, state_names[i]))
			return (mreg_breaker_state)i;
	return MREG_BREAKER_NONE;
}

/* Seconds as microseconds, capped at the ceiling (NaN included) and rounded to the nearest. */
static int64_t wait_usec(double s)
{
	if (!(s <= MREG_BREAKER_CEILING_SECONDS))
		return CEILING_USEC;
	if (s <= 0)
		return 0;
	return (int64_t)(s * 1e6 + 0.5);
}

/* The timeout of the opens-th opening in a row: min(recovery * 2^(opens-1), max), jittered. */
static int64_t open_timeout(const mreg_breaker_config *c, int opens, double r)
{
	/* 2^2048 overflows any positive double to infinity, which the cap then takes */
	int n = opens < 1 ? 0 : opens - 1 < 2048 ? opens - 1 : 2048;
	double s = fmin(ldexp(c->recovery_seconds, n), c->max_backoff_seconds);
	if (!(r >= 0))
		r = 0;
	if (r > 1)
		r = 1;
	return wait_usec(s * (1 + c->jitter * (2 * r - 1)));
}

/* now + d (d >= 0), saturating: a forged clock must not wrap a deadline into the past. */
static int64_t later(int64_t now, int64_t d)
{
	return now > INT64_MAX - d ? INT64_MAX : now + d;
}

/*
 * Whether until has come at now. A deadline further away than any timeout
 * can be was set by a clock that has since stepped back (or written by
 * hand): it has come too. until > now here, so the unsigned difference is
 * exact.
 */
static bool due(int64_t now, int64_t until)
{
	return now >= until || (uint64_t)until - (uint64_t)now > (uint64_t)CEILING_USEC;
}

static void bump(int *n)
{
	if (*n < INT_MAX)
		(*n)++;
}

bool mreg_breaker_allow(mreg_breaker *b, const mreg_breaker_config *c, int64_t now)
{
	switch (b->state) {
	case MREG_BREAKER_OPEN:
		if (!due(now, b->open_until))
			return false;
		b->state = MREG_BREAKER_HALF_OPEN;
		b->half_open_calls = 0;
		break;
	case MREG_BREAKER_HALF_OPEN:
		/* tries used up with no result: one more once a recovery period has passed */
		if (b->half_open_calls >= c->half_open_max_calls && !due(now, b->open_until))
			return false;
		break;
	default:
		return true;
	}
	bump(&b->half_open_calls);
	b->open_until = later(now, wait_usec(c->recovery_seconds));
	return true;
}

void mreg_breaker_success(mreg_breaker *b)
{
	*b = (mreg_breaker)MREG_BREAKER_INIT;
}

void mreg_breaker_failure(mreg_breaker *b, const mreg_breaker_config *c, int64_t now, double r)
{
	bump(&b->failures);
	if (b->state == MREG_BREAKER_OPEN)
		return;	/* a try begun before it opened: the wait stands */
	if (b->state != MREG_BREAKER_HALF_OPEN && b->failures < c->failure_threshold)
		return;
	bump(&b->opens);
	b->state = MREG_BREAKER_OPEN;
	b->half_open_calls = 0;
	b->open_until = later(now, open_timeout(c, b->opens, r));
}

int mreg_breaker_config_check(const mreg_breaker_config *c)
{
	if (c->failure_threshold < 1)
		return mreg_error_set(MREG_EINVALID, "invalid mreg.breaker.failureThreshold %d: must be 1 or more",
				      c->failure_threshold);
	if (!(c->recovery_seconds > 0) || !isfinite(c->recovery_seconds))
		return mreg_error_set(MREG_EINVALID,
				      "invalid mreg.breaker.recoveryTimeout %g: must be a number of seconds above 0",
				      c->recovery_seconds);
	if (!(c->max_backoff_seconds >= c->recovery_seconds) || !isfinite(c->max_backoff_seconds))
		return mreg_error_set(MREG_EINVALID,
				      "invalid mreg.breaker.maxBackoff %g: must be a number of seconds no less than "
				      "mreg.breaker.recoveryTimeout (%g)",
				      c->max_backoff_seconds, c->recovery_seconds);
	if (c->half_open_max_calls < 1)
		return mreg_error_set(MREG_EINVALID, "invalid mreg.breaker.halfOpenMaxCalls %d: must be 1 or more",
				      c->half_open_max_calls);
	if (!(c->jitter >= 0 && c->jitter < 1))
		return mreg_error_set(MREG_EINVALID, "invalid mreg.breaker.jitter %g: must be from 0 to below 1",
				      c->jitter);
	return 0;
}

void mreg_breaker_write(mreg_jsonw *w, const mreg_breaker *b)
{
	char t[MREG_TIME_LEN + 1];
	mreg_jsonw_str(w, "state", mreg_breaker_state_name(b->state));
	mreg_jsonw_int(w, "failures", b->failures);
	mreg_jsonw_int(w, "opens", b->opens);
	if (b->state == MREG_BREAKER_CLOSED) {
		mreg_jsonw_null(w, "open_until");
	} else {
		mreg_time_format(t, b->open_until);
		mreg_jsonw_str(w, "open_until", t);
	}
	mreg_jsonw_int(w, "half_open_calls", b->half_open_calls);
}

/* The members read back, in the order written; mreg_breaker_write and this table change together. */
enum { M_STATE, M_FAILURES, M_OPENS, M_OPEN_UNTIL, M_HALF_OPEN_CALLS, M_COUNT };
static const char *const member_names[M_COUNT] = { "state", "failures", "opens", "open_until", "half_open_calls" };

static int read_count(int *out, const cJSON *v, const char *name)
{
	double d = v->valuedouble;
	if (!cJSON_IsNumber(v) || !(d >= 0 && d <= INT_MAX) || d != floor(d))
		return mreg_error_set(MREG_EINVALID,
				      "invalid circuit breaker member '%s': must be a whole number from 0 to %d", name,
				      INT_MAX);
	*out = (int)d;
	return 0;
}

/* The invariants of breaker.h, numbered as there; NULL when b keeps them all. */
static const char *broken_invariant(const mreg_breaker *b)
{
	switch (b->state) {
	case MREG_BREAKER_CLOSED:
		if (b->opens || b->half_open_calls || b->open_until)
			return "state 'closed' must have opens 0, half_open_calls 0 and open_until null";
		return NULL;
	case MREG_BREAKER_OPEN:
		if (b->opens < 1 || b->half_open_calls)
			return "state 'open' must have opens 1 or more and half_open_calls 0";
		return NULL;
	default:
		if (b->opens < 1 || b->half_open_calls < 1)
			return "state 'half_open' must have opens 1 or more and half_open_calls 1 or more";
		return NULL;
	}
}

static int read_members(mreg_breaker *b, const cJSON *const m[M_COUNT])
{
	int rc;
	b->state = cJSON_IsString(m[M_STATE]) ? mreg_breaker_state_parse(m[M_STATE]->valuestring) : MREG_BREAKER_NONE;
	if (b->state == MREG_BREAKER_NONE)
		return mreg_error_set(MREG_EINVALID,
				      "invalid circuit breaker member 'state': must be closed, open or half_open");
	if ((rc = read_count(&b->failures, m[M_FAILURES], "failures")) < 0 ||
	    (rc = read_count(&b->opens, m[M_OPENS], "opens")) < 0 ||
	    (rc = read_count(&b->half_open_calls, m[M_HALF_OPEN_CALLS], "half_open_calls")) < 0)
		return rc;
	const cJSON *t = m[M_OPEN_UNTIL];
	if (cJSON_IsNull(t) && b->state == MREG_BREAKER_CLOSED)
		b->open_until = 0;
	else if (!cJSON_IsString(t) || mreg_time_parse(&b->open_until, t->valuestring) < 0)
		return mreg_error_set(MREG_EINVALID,
				      "invalid circuit breaker member 'open_until': must be a time "
				      "(2026-11-27T01:45:12.123456Z), or null when closed");
	const char *why = broken_invariant(b);
	if (why)
		return mreg_error_set(MREG_EINVALID, "invalid circuit breaker: %s", why);
	return 0;
}

int mreg_breaker_read(mreg_breaker *out, const cJSON *obj)
{
	const cJSON *m[M_COUNT] = { NULL };
	const cJSON *c;
	mreg_breaker b;
	int rc;

	if (!cJSON_IsObject(obj))
		return mreg_error_set(MREG_EINVALID, "invalid circuit breaker: expected a JSON object");
	cJSON_ArrayForEach(c, obj) {
		for (int i = 0; c->string && i < M_COUNT; i++) {
			if (strcmp(c->string, member_names[i]))
				continue;
			if (m[i])
				return mreg_error_set(MREG_EINVALID, "invalid circuit breaker: duplicate member '%s'",
						      member_names[i]);
			m[i] = c;
		}
	}
	for (int i = 0; i < M_COUNT; i++)
		if (!m[i])
			return mreg_error_set(MREG_EINVALID, "invalid circuit breaker: missing member '%s'",
					      member_names[i]);
	if ((rc = read_members(&b, m)) < 0)
		return rc;
	*out = b;
	return 0;
}

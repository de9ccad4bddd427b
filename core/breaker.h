/*
 * The circuit breaker `mreg sync` keeps for each remote, with the original
 * system's behaviour (ORIGINAL-API.md 5.5): a remote that keeps failing is
 * left alone for a while instead of being tried on every run.
 *
 * Pure: the time (microseconds since the epoch) and the random number that
 * draws the jitter are inputs, so every path is tested by stating them.
 * fsstore keeps one breaker per remote with the sync state and writes it
 * back after every try.
 *
 *                 a failure, the failure_threshold-th in a row
 *   +--------+ ------------------------------------------> +------+
 *   | closed |                                             | open |
 *   +--------+ <------------+                              +------+
 *     |    ^                | a success                      |   ^
 *     +----+                |                allow() at or   |   | a failure: the
 *   a failure below   +-----------+          past open_until |   | next, longer
 *   the threshold,    | half_open | <------------------------+   | timeout
 *   a success         +-----------+ -----------------------------+
 *
 * The timeout of the n-th opening in a row is
 *
 *   min(recovery * 2^(n-1), max_backoff) * (1 + jitter * (2r - 1))
 *
 * capped at MREG_BREAKER_CEILING_SECONDS whatever the settings, rounded to
 * the nearest microsecond: 60 s, 120 s, then 180 s with the defaults, each
 * within 10 % either way (r = 0 is the short end, r near 1 the long one).
 *
 * While half-open, up to half_open_max_calls tries are allowed; the first
 * result decides: a success closes the circuit, a failure opens it again.
 * A process that dies between allow() and reporting the result leaves its
 * try counted with no result. So that such tries cannot keep a remote shut
 * for ever, each try begun while half-open sets open_until to one recovery
 * period later (min(recovery, ceiling), without jitter); once the half-open
 * tries are used up, allow() lets one more through when that time comes,
 * and sets it again: one try per recovery period until a result arrives.
 *
 * A result can also arrive in a state its try did not start in (two
 * processes, or a result reported late): a success closes the circuit from
 * any state, since the remote answered; a failure while open is counted but
 * neither extends the wait nor counts as another opening.
 *
 * A wait longer than the ceiling can only come from a clock that stepped
 * back (or a file edited by hand): such a try is due at once.
 *
 * Invariants (mreg_breaker_read refuses a breaker that breaks one):
 *   1. closed: opens == 0, half_open_calls == 0, open_until == 0.
 *   2. open: opens >= 1, half_open_calls == 0.
 *   3. half_open: opens >= 1, half_open_calls >= 1.
 *   4. failures, opens and half_open_calls are >= 0 (they saturate at INT_MAX).
 */
#ifndef MREG_BREAKER_H
#define MREG_BREAKER_H

#include "common.h"
#include "jsonw.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

/* The original's forced-retry ceiling: no timeout is longer, whatever the settings. */
#define MREG_BREAKER_CEILING_SECONDS 300

typedef enum {
	MREG_BREAKER_NONE = -1,	/* an unknown name */
	MREG_BREAKER_CLOSED = 0,
	MREG_BREAKER_OPEN,
	MREG_BREAKER_HALF_OPEN,
	MREG_BREAKER_COUNT
} mreg_breaker_state;

/* Per-node settings (git config mreg.breaker.*); MREG_BREAKER_CONFIG_INIT holds the original's defaults. */
typedef struct {
	int failure_threshold;		/* failures in a row that open the circuit (5) */
	double recovery_seconds;	/* timeout of the first opening (60) */
	double max_backoff_seconds;	/* cap of the doubled timeout (180) */
	int half_open_max_calls;	/* tries allowed while half-open (2) */
	double jitter;			/* 0.1: the timeout varies by up to 10 % either way */
} mreg_breaker_config;

#define MREG_BREAKER_CONFIG_INIT { 5, 60, 180, 2, 0.1 }

typedef struct {
	mreg_breaker_state state;
	int failures;			/* consecutive failures */
	int opens;			/* consecutive openings, reset by a success */
	int64_t open_until;		/* µs since the epoch: no try before it while open, no
					 * try past half_open_max_calls before it while half-open */
	int half_open_calls;		/* tries begun while half-open */
} mreg_breaker;

#define MREG_BREAKER_INIT { MREG_BREAKER_CLOSED, 0, 0, 0, 0 }

/*
 * Whether a try may start at now. Moves open -> half-open when the timeout
 * has elapsed, and counts each try allowed while half-open.
 */
bool mreg_breaker_allow(mreg_breaker *b, const mreg_breaker_config *c, int64_t now);

/* A try succeeded: the circuit closes, and every count goes back to zero. */
void mreg_breaker_success(mreg_breaker *b);

/*
 * A try failed at now. r in [0, 1) draws the jitter of the timeout, if the
 * circuit opens (a value outside is taken as the nearer end, NaN as 0).
 */
void mreg_breaker_failure(mreg_breaker *b, const mreg_breaker_config *c, int64_t now, double r);

/* "closed", "open", "half_open" (the original's strings); "unknown" for anything else. */
const char *mreg_breaker_state_name(mreg_breaker_state s);
/* MREG_BREAKER_NONE if unknown */
mreg_breaker_state mreg_breaker_state_parse(const char *s);

/*
 * A config's values checked: failureThreshold >= 1, recoveryTimeout > 0,
 * maxBackoff >= recoveryTimeout (both finite), halfOpenMaxCalls >= 1,
 * 0 <= jitter < 1. 0 or MREG_EINVALID naming the git config key
 * (mreg.breaker.failureThreshold, .recoveryTimeout, .maxBackoff,
 * .halfOpenMaxCalls, .jitter) and its value.
 */
int mreg_breaker_config_check(const mreg_breaker_config *c);

/*
 * A breaker as members of the object w has open: state, failures, opens,
 * open_until (a time as events write it, 2026-11-27T01:45:12.123456Z, or
 * null when closed), half_open_calls.
 */
void mreg_breaker_write(mreg_jsonw *w, const mreg_breaker *b);

/*
 * Those members read back from obj; other members of obj are not looked
 * at. MREG_EINVALID naming the member for anything missing, repeated, of
 * the wrong type or out of range, and for a breaker that breaks an
 * invariant above (the file it comes from may be damaged); *out is left
 * as it was.
 */
int mreg_breaker_read(mreg_breaker *out, const cJSON *obj);

#endif

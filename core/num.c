/*
 * Number formatting for mreg's JSON output: the shortest decimal string
 * that strtod() reads back as the same double. The C library makes the
 * digits: snprintf's "%.*e" rounds the exact binary value correctly to p
 * significant digits, and the first p from 1 to 17 whose digits strtod()
 * reads back bit for bit wins (17 always does). mreg then lays the digits
 * out in its own notation, which is not %g's: plain decimal when the
 * decimal exponent k (v = d.ddd * 10^k) is in -7..16, else d[.ddd]e+K or
 * d[.ddd]e-K with no padding in the exponent. Event ids hash these bytes,
 * so the notation never changes. Whole numbers below 2^53 print as
 * integers without the search; neither the digits nor the check depend on
 * the locale's radix character.
 *
 * A normal double has 15 decimal digits of precision: any decimal of 15
 * digits or fewer that reads back as v is what v rounds to at 15 digits.
 * So when the 15-digit rounding does not read back, no shorter one does,
 * and when it does, the shortest is it without its trailing zeros: the
 * search tries 15, then 16 and 17, and gives the same answer as trying
 * 1, 2, ... 17 in turn. A subnormal double has fewer digits of precision;
 * its search tries every p in turn.
 *
 * Most numbers are short decimals, and those are found first without the
 * C library, whose two conversions cost about a microsecond a number
 * (num_short_decimal): a fifth of writing the state files of a million
 * events, most of it their metrics.
 */
#include "num.h"

#ifdef __FAST_MATH__
#error "core/num.c needs exact IEEE arithmetic: event ids hash the digits it makes (no -ffast-math)"
#endif

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Plain notation is used for exponents in [NUM_PLAIN_MIN, NUM_PLAIN_MAX]. */
#define NUM_PLAIN_MIN (-7)
#define NUM_PLAIN_MAX 16
/* 17 significant digits always read back as the same double. */
#define NUM_DIGITS 17

/* a's digits rounded to p significant digits: digits without the radix,
 * with trailing zeros dropped (at least one kept), and the exponent k. */
typedef struct {
	char d[NUM_DIGITS + 1];
	int nd;
	int k;
} num_digits;

/*
 * Round a (finite, > 0) to p significant digits through snprintf's %.*e:
 * "d.ddde+XX", where the radix may be any locale's (it is skipped, not
 * matched). 0, or -1 if the output is not of that form.
 */
static int num_round(num_digits *out, double a, int p)
{
	char buf[64];
	const char *s = buf;
	int n = snprintf(buf, sizeof(buf), "%.*e", p - 1, a);

	if (n <= 0 || n >= (int)sizeof(buf) || *s < '0' || *s > '9')
		return -1;
	out->nd = 0;
	out->d[out->nd++] = *s++;
	while (*s && *s != 'e' && (*s < '0' || *s > '9'))
		s++;	/* the radix character */
	while (*s >= '0' && *s <= '9' && out->nd < NUM_DIGITS)
		out->d[out->nd++] = *s++;
	if (*s != 'e')
		return -1;
	out->k = atoi(s + 1);
	while (out->nd > 1 && out->d[out->nd - 1] == '0')
		out->nd--;
	out->d[out->nd] = '\0';
	return 0;
}

/* Whether the digits read back as a, through strtod() of "<digits>e<exp>":
 * no radix character, so the check does not depend on the locale. */
static int num_reads_back(const num_digits *dg, double a)
{
	char buf[64];
	double d;

	snprintf(buf, sizeof(buf), "%se%d", dg->d, dg->k - dg->nd + 1);
	d = strtod(buf, NULL);
	return memcmp(&d, &a, sizeof(d)) == 0;
}

/* The shortest correctly rounded digits of a that read back (see the top). */
static int num_shortest(num_digits *out, double a)
{
	int p = a < DBL_MIN ? 1 : 15;

	for (; p <= NUM_DIGITS; p++) {
		if (num_round(out, a, p) < 0)
			return -1;
		if (num_reads_back(out, a))
			return 0;
	}
	return 0;	/* unreachable with a correctly rounding strtod(): keep 17 digits */
}

/*
 * The short decimals most numbers are (metrics such as 0.8234 or 1523.5),
 * without the C library: a = r / 10^j for a whole r below 10^15 and j from
 * 1 to 22. r and 10^j are then both exact doubles, so the division rounds
 * r * 10^-j correctly, as strtod() rounds those digits: the quotient is a
 * exactly when the digits read back as a. A decimal of 15 digits or fewer
 * that reads back is what a rounds to at 15 digits (see the top), and the
 * smallest j gives it without trailing zeros: the search's answer. r is
 * found from a * 10^j, whose rounding errs by under a quarter below 10^15.
 * false: no such r (the search decides).
 */
static bool num_short_decimal(num_digits *out, double a)
{
	static const double p10[] = { 1e0,  1e1,  1e2,	1e3,  1e4,  1e5,  1e6,	1e7,  1e8,  1e9,  1e10, 1e11,
				      1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22 };
	for (int j = 1; j < (int)(sizeof(p10) / sizeof(p10[0])); j++) {
		double x = a * p10[j], r;
		if (x >= 1e15)
			return false;
#if FLT_EVAL_METHOD == 0
		r = (x + 0x1p52) - 0x1p52;	/* x rounded to a whole number (x < 2^52), without a call */
#else
		r = nearbyint(x);	/* wider intermediates (x87) would round twice */
#endif
		if (r / p10[j] != a)
			continue;
		char rev[NUM_DIGITS];
		int n = 0;
		for (uint64_t u = (uint64_t)r; u; u /= 10)
			rev[n++] = (char)('0' + u % 10);
		out->k = n - 1 - j;
		out->nd = 0;
		while (n > 0)
			out->d[out->nd++] = rev[--n];
		while (out->nd > 1 && out->d[out->nd - 1] == '0')
			out->nd--;
		out->d[out->nd] = '\0';
		return true;
	}
	return false;
}

static int num_render(char *out, int neg, const num_digits *dg)
{
	int n = 0, i, k = dg->k, nd = dg->nd;
	const char *digits = dg->d;

	if (neg)
		out[n++] = '-';
	if (k >= NUM_PLAIN_MIN && k <= NUM_PLAIN_MAX) {
		if (k < 0) {
			out[n++] = '0';
			out[n++] = '.';
			for (i = -1; i > k; i--)
				out[n++] = '0';
			for (i = 0; i < nd; i++)
				out[n++] = digits[i];
		} else {
			for (i = 0; i < nd || i <= k; i++) {
				if (i == k + 1)
					out[n++] = '.';
				out[n++] = i < nd ? digits[i] : '0';
			}
		}
		out[n] = '\0';
		return n;
	}
	out[n++] = digits[0];
	if (nd > 1) {
		out[n++] = '.';
		for (i = 1; i < nd; i++)
			out[n++] = digits[i];
	}
	return n + snprintf(out + n, (size_t)(MREG_NUM_MAX - n), "e%c%d", k < 0 ? '-' : '+', k < 0 ? -k : k);
}

int mreg_num_format(char out[MREG_NUM_MAX], double v)
{
	num_digits dg;
	int neg = signbit(v) != 0, saved_errno, rc;
	double a = fabs(v);

	if (!isfinite(v)) {
		out[0] = '\0';
		return -1;
	}
	if (a < 9007199254740992.0 && a == floor(a)) {
		char rev[20];
		int n = 0, len = 0;
		uint64_t u = (uint64_t)a;
		do
			rev[n++] = (char)('0' + u % 10);
		while (u /= 10);
		if (neg)
			out[len++] = '-';
		while (n > 0)
			out[len++] = rev[--n];
		out[len] = '\0';
		return len;
	}

	if (num_short_decimal(&dg, a))
		return num_render(out, neg, &dg);
	saved_errno = errno;	/* strtod() sets ERANGE for subnormals */
	rc = num_shortest(&dg, a);
	errno = saved_errno;
	if (rc < 0) {
		out[0] = '\0';
		return -1;
	}
	return num_render(out, neg, &dg);
}

bool mreg_num_is_int(double v)
{
	return v == floor(v) && fabs(v) < 9007199254740992.0;
}

double mreg_num_nz(double v)
{
	return v == 0 ? 0.0 : v;
}

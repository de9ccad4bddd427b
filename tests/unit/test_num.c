/*
 * Unit tests for core/num.c: shortest round-trip double formatting.  Known
 * values pin the output format; randomised bit patterns check that every
 * output reads back exactly, is valid JSON number syntax and uses no more
 * significant digits than the shortest round-tripping "%.{p}g".
 *
 * Events are hashed by their bytes, so the output must never change: the
 * formatter mreg had before it used the C library's digits (an exact
 * bignum digit generator, below as ref_format) is kept here as the
 * reference, and every value class where the notation could differ is
 * compared byte for byte with it.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "num.h"

/* ---- the reference: mreg's own formatter before this one ----------------- */

#define REF_WORDS 40
/* Digits generated: 17 significant digits plus one rounding digit. */
#define REF_DIGITS 18
/* Plain notation is used for exponents in [REF_PLAIN_MIN, REF_PLAIN_MAX]. */
#define REF_PLAIN_MIN (-7)
#define REF_PLAIN_MAX 16

typedef struct {
	uint32_t w[REF_WORDS]; /* little-endian words */
	int n;                 /* words in use; w[n - 1] != 0 unless n == 0 */
} ref_big;

static const uint32_t ref_pow10[10] = {
	1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u,
	100000000u, 1000000000u
};

static void ref_big_set(ref_big *b, uint64_t v)
{
	b->n = 0;
	while (v) {
		b->w[b->n++] = (uint32_t)v;
		v >>= 32;
	}
}

static void ref_big_shl(ref_big *b, int bits)
{
	int ws = bits / 32, bs = bits % 32, i;

	if (b->n == 0 || bits == 0)
		return;
	if (bs == 0) {
		for (i = b->n - 1; i >= 0; i--)
			b->w[i + ws] = b->w[i];
	} else {
		b->w[b->n + ws] = b->w[b->n - 1] >> (32 - bs);
		for (i = b->n - 1; i > 0; i--)
			b->w[i + ws] = (b->w[i] << bs) | (b->w[i - 1] >> (32 - bs));
		b->w[ws] = b->w[0] << bs;
	}
	for (i = 0; i < ws; i++)
		b->w[i] = 0;
	b->n += ws + (bs ? 1 : 0);
	while (b->n > 0 && b->w[b->n - 1] == 0)
		b->n--;
}

static void ref_big_mul_small(ref_big *b, uint32_t m)
{
	uint64_t carry = 0;
	int i;

	for (i = 0; i < b->n; i++) {
		uint64_t t = (uint64_t)b->w[i] * m + carry;
		b->w[i] = (uint32_t)t;
		carry = t >> 32;
	}
	if (carry)
		b->w[b->n++] = (uint32_t)carry;
}

static void ref_big_mul_pow10(ref_big *b, int k)
{
	for (; k >= 9; k -= 9)
		ref_big_mul_small(b, ref_pow10[9]);
	if (k > 0)
		ref_big_mul_small(b, ref_pow10[k]);
}

static int ref_big_cmp(const ref_big *a, const ref_big *b)
{
	int i;

	if (a->n != b->n)
		return a->n < b->n ? -1 : 1;
	for (i = a->n - 1; i >= 0; i--) {
		if (a->w[i] != b->w[i])
			return a->w[i] < b->w[i] ? -1 : 1;
	}
	return 0;
}

/* a -= b; requires a >= b. */
static void ref_big_sub(ref_big *a, const ref_big *b)
{
	uint64_t borrow = 0;
	int i;

	for (i = 0; i < a->n; i++) {
		uint64_t t = (uint64_t)a->w[i] - (i < b->n ? b->w[i] : 0) - borrow;
		a->w[i] = (uint32_t)t;
		borrow = (t >> 32) & 1;
	}
	while (a->n > 0 && a->w[a->n - 1] == 0)
		a->n--;
}

/* Write the decimal form of u at p; returns the number of chars written. */
static int ref_put_uint(char *p, uint64_t u)
{
	char tmp[20];
	int n = 0, i;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	for (i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

static int ref_put_int(char *p, int v)
{
	if (v < 0) {
		*p = '-';
		return 1 + ref_put_uint(p + 1, (uint64_t)-(int64_t)v);
	}
	return ref_put_uint(p, (uint64_t)v);
}

/*
 * Generate the first REF_DIGITS exact decimal digits of a positive finite
 * value f * 2^e (f != 0) into dig, with *k set so that the value is
 * dig[0].dig[1]dig[2]... * 10^k.  Returns whether any nonzero digits follow.
 */
static int ref_exact_digits(uint8_t dig[REF_DIGITS], int *k, uint64_t f, int e, double v)
{
	ref_big r, s;
	int i, dk;

	ref_big_set(&r, f);
	ref_big_set(&s, 1);
	if (e >= 0)
		ref_big_shl(&r, e);
	else
		ref_big_shl(&s, -e);

	dk = (int)floor(log10(v));
	if (dk >= 0)
		ref_big_mul_pow10(&s, dk);
	else
		ref_big_mul_pow10(&r, -dk);

	/* log10() may be off by one near powers of ten; fix up exactly. */
	while (ref_big_cmp(&r, &s) < 0) {
		ref_big_mul_small(&r, 10);
		dk--;
	}
	for (;;) {
		ref_big t = s;
		ref_big_mul_small(&t, 10);
		if (ref_big_cmp(&r, &t) < 0)
			break;
		s = t;
		dk++;
	}

	for (i = 0; i < REF_DIGITS; i++) {
		uint8_t d = 0;
		while (ref_big_cmp(&r, &s) >= 0) {
			ref_big_sub(&r, &s);
			d++;
		}
		dig[i] = d;
		ref_big_mul_small(&r, 10);
	}
	*k = dk;
	return r.n != 0;
}

/*
 * Round the exact digits to p significant digits, half to even, into out.
 * *k is bumped when rounding carries into a new leading digit.  Returns the
 * digit count with trailing zeros removed.
 */
static int ref_round(uint8_t out[REF_DIGITS], const uint8_t dig[REF_DIGITS],
	int p, int sticky, int *k)
{
	int up, i, rest = sticky, nd;

	for (i = p + 1; i < REF_DIGITS && !rest; i++)
		rest = dig[i] != 0;
	if (dig[p] != 5)
		up = dig[p] > 5;
	else
		up = rest || (dig[p - 1] & 1);

	memcpy(out, dig, (size_t)p);
	if (up) {
		for (i = p - 1; i >= 0 && out[i] == 9; i--)
			out[i] = 0;
		if (i < 0) {
			out[0] = 1;
			(*k)++;
		} else {
			out[i]++;
		}
	}
	for (nd = p; nd > 1 && out[nd - 1] == 0; nd--)
		;
	return nd;
}

/* strtod() of digits * 10^(k - nd + 1), written without a radix character
 * so that the check does not depend on the locale. */
static uint64_t ref_read_back(const uint8_t *digits, int nd, int k)
{
	char buf[MREG_NUM_MAX];
	double d;
	uint64_t bits;
	int i, n = 0;

	for (i = 0; i < nd; i++)
		buf[n++] = (char)('0' + digits[i]);
	buf[n++] = 'e';
	n += ref_put_int(buf + n, k - nd + 1);
	buf[n] = '\0';
	d = strtod(buf, NULL);
	memcpy(&bits, &d, sizeof(bits));
	return bits;
}

static int ref_render(char *out, int neg, const uint8_t *digits, int nd, int k)
{
	int n = 0, i;

	if (neg)
		out[n++] = '-';
	if (k >= REF_PLAIN_MIN && k <= REF_PLAIN_MAX) {
		if (k < 0) {
			out[n++] = '0';
			out[n++] = '.';
			for (i = -1; i > k; i--)
				out[n++] = '0';
			for (i = 0; i < nd; i++)
				out[n++] = (char)('0' + digits[i]);
		} else {
			for (i = 0; i < nd || i <= k; i++) {
				if (i == k + 1)
					out[n++] = '.';
				out[n++] = (char)(i < nd ? '0' + digits[i] : '0');
			}
		}
	} else {
		out[n++] = (char)('0' + digits[0]);
		if (nd > 1) {
			out[n++] = '.';
			for (i = 1; i < nd; i++)
				out[n++] = (char)('0' + digits[i]);
		}
		out[n++] = 'e';
		out[n++] = k < 0 ? '-' : '+';
		n += ref_put_uint(out + n, (uint64_t)(k < 0 ? -k : k));
	}
	out[n] = '\0';
	return n;
}

static int ref_format(char out[MREG_NUM_MAX], double v)
{
	uint64_t bits, abits, f;
	uint8_t dig[REF_DIGITS], cand[REF_DIGITS];
	int neg, bexp, e, k, p, nd = 0, sticky, saved_errno;
	double a;

	memcpy(&bits, &v, sizeof(bits));
	neg = (int)(bits >> 63);
	abits = bits & ~((uint64_t)1 << 63);
	bexp = (int)(abits >> 52);
	f = abits & (((uint64_t)1 << 52) - 1);

	if (bexp == 0x7ff) {
		out[0] = '\0';
		return -1;
	}

	a = neg ? -v : v;
	if (a < 9007199254740992.0 && (double)(int64_t)a == a) {
		int n = 0;
		if (neg)
			out[n++] = '-';
		n += ref_put_uint(out + n, (uint64_t)a);
		out[n] = '\0';
		return n;
	}

	if (bexp == 0) {
		e = -1074;
	} else {
		f |= (uint64_t)1 << 52;
		e = bexp - 1075;
	}
	while ((f & 1) == 0) {
		f >>= 1;
		e++;
	}

	sticky = ref_exact_digits(dig, &k, f, e, a);

	saved_errno = errno;
	for (p = 1; p <= REF_DIGITS - 1; p++) {
		int kp = k;
		nd = ref_round(cand, dig, p, sticky, &kp);
		if (ref_read_back(cand, nd, kp) == abits) {
			k = kp;
			break;
		}
	}
	errno = saved_errno;
	if (p > REF_DIGITS - 1) {
		/* Unreachable with a correctly rounding strtod(): 17 digits
		 * always round-trip.  Fall back to those digits regardless. */
		nd = ref_round(cand, dig, REF_DIGITS - 1, sticky, &k);
	}
	return ref_render(out, neg, cand, nd, k);
}


/* ---- the tests ----------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* splitmix64, fixed seed so failures are reproducible */
static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double from_bits(uint64_t b)
{
	double d;
	memcpy(&d, &b, sizeof(d));
	return d;
}

static uint64_t to_bits(double d)
{
	uint64_t b;
	memcpy(&b, &d, sizeof(b));
	return b;
}

static void assert_formats_as(double v, const char *want)
{
	char out[MREG_NUM_MAX];
	int n = mreg_num_format(out, v);

	assert_string_equal(out, want);
	assert_int_equal(n, (int)strlen(want));
}

/* JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int is_json_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return 0;
	if (*s == '.') {
		s++;
		if (!(*s >= '0' && *s <= '9'))
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

/* No trailing zero in a fraction, i.e. no '0' right before 'e' or the end
 * of the string once a '.' has been seen. */
static int has_trailing_fraction_zero(const char *s)
{
	const char *dot = strchr(s, '.');
	const char *end;

	if (!dot)
		return 0;
	end = strchr(dot, 'e');
	if (!end)
		end = s + strlen(s);
	return end[-1] == '0' || end[-1] == '.';
}

/* Significant digits in a formatted number: digits of the mantissa with
 * leading and trailing zeros dropped (integers with trailing zeros count
 * only their significant part, like %g). */
static int significant_digits(const char *s)
{
	char d[64];
	int n = 0, i = 0, j;

	for (; *s && *s != 'e' && *s != 'E'; s++)
		if (*s >= '0' && *s <= '9')
			d[n++] = *s;
	while (i < n && d[i] == '0')
		i++;
	for (j = n; j > i && d[j - 1] == '0'; j--)
		;
	return j > i ? j - i : 1;
}

/* Smallest p for which "%.{p}g" round-trips, and its string. */
static int shortest_g(double v, char *buf, size_t len)
{
	int p;

	for (p = 1; p <= 17; p++) {
		snprintf(buf, len, "%.*g", p, v);
		if (to_bits(strtod(buf, NULL)) == to_bits(v))
			return p;
	}
	fail_msg("%%.17g does not round-trip for %a", v);
	return 17;
}

/* The full contract for one value. */
static void check_value(double v)
{
	char out[MREG_NUM_MAX], g[64];
	int n, p, sig;

	memset(out, 'x', sizeof(out));
	n = mreg_num_format(out, v);
	if (n < 0 || n >= MREG_NUM_MAX || (size_t)n != strlen(out))
		fail_msg("bad length %d for %a", n, v);
	if (to_bits(strtod(out, NULL)) != to_bits(v))
		fail_msg("%s does not round-trip to %a (%.17g)", out, v, v);
	if (!is_json_number(out))
		fail_msg("%s is not a JSON number (%a)", out, v);
	if (has_trailing_fraction_zero(out))
		fail_msg("%s has a trailing fraction zero", out);
	p = shortest_g(v, g, sizeof(g));
	sig = significant_digits(out);
	if (sig > p)
		fail_msg("%s has %d significant digits, %s only %d", out, sig, g, p);
	/* Same precision means the same correctly rounded digits as %g. */
	if (significant_digits(g) != sig)
		fail_msg("%s vs %s: digit count differs", out, g);
	{
		char a[32], b[32];
		int na = 0, nb = 0;
		const char *s;
		for (s = out; *s && *s != 'e'; s++)
			if (*s >= '0' && *s <= '9' && (na || *s != '0'))
				a[na++] = *s;
		for (s = g; *s && *s != 'e'; s++)
			if (*s >= '0' && *s <= '9' && (nb || *s != '0'))
				b[nb++] = *s;
		while (na > 0 && a[na - 1] == '0')
			na--;
		while (nb > 0 && b[nb - 1] == '0')
			nb--;
		if (na != nb || memcmp(a, b, (size_t)na) != 0)
			fail_msg("%s vs %s: digits differ", out, g);
	}
}

static void integers_print_without_fraction(void **state)
{
	(void)state;
	assert_formats_as(0.0, "0");
	assert_formats_as(3.0, "3");
	assert_formats_as(-42.0, "-42");
	assert_formats_as(1500.0, "1500");
	assert_formats_as(1e15, "1000000000000000");
	assert_formats_as(4294967296.0, "4294967296");
}

static void one_tenth_is_shortest(void **state)
{
	(void)state;
	assert_formats_as(0.1, "0.1");
	assert_formats_as(0.2, "0.2");
	assert_formats_as(0.3, "0.3");
	assert_formats_as(0.1 + 0.2, "0.30000000000000004");
}

static void decimal_fractions_are_shortest(void **state)
{
	(void)state;
	assert_formats_as(1523.5, "1523.5");
	assert_formats_as(0.55, "0.55");
	assert_formats_as(-0.55, "-0.55");
	assert_formats_as(1e-3, "0.001");
	assert_formats_as(123.456, "123.456");
	assert_formats_as(3.141592653589793, "3.141592653589793");
}

static void value_190_85_round_trips(void **state)
{
	char out[MREG_NUM_MAX];

	(void)state;
	assert_int_equal(mreg_num_format(out, 190.85), 6);
	assert_string_equal(out, "190.85");
	assert_true(to_bits(strtod(out, NULL)) == to_bits(190.85));
}

static void max_safe_integer_is_exact(void **state)
{
	(void)state;
	assert_formats_as(9007199254740991.0, "9007199254740991");
	assert_formats_as(-9007199254740991.0, "-9007199254740991");
	assert_formats_as(9007199254740992.0, "9007199254740992");
	assert_formats_as(9007199254740994.0, "9007199254740994");
}

static void large_values_use_exponent_form(void **state)
{
	(void)state;
	assert_formats_as(1e21, "1e+21");
	assert_formats_as(-1e21, "-1e+21");
	assert_formats_as(1e17, "1e+17");
	assert_formats_as(1e16, "10000000000000000");
	assert_formats_as(123456789012345680000.0, "1.2345678901234568e+20");
	assert_formats_as(1.5e300, "1.5e+300");
}

static void small_values_use_exponent_form(void **state)
{
	(void)state;
	assert_formats_as(1.5e-8, "1.5e-8");
	assert_formats_as(1e-8, "1e-8");
	assert_formats_as(1e-7, "0.0000001");
	assert_formats_as(1.25e-7, "0.000000125");
	assert_formats_as(9.99e-8, "9.99e-8");
	assert_formats_as(2.5e-100, "2.5e-100");
}

static void nan_and_infinity_are_refused(void **state)
{
	char out[MREG_NUM_MAX];

	(void)state;
	assert_int_equal(mreg_num_format(out, NAN), -1);
	assert_int_equal(mreg_num_format(out, -NAN), -1);
	assert_int_equal(mreg_num_format(out, INFINITY), -1);
	assert_int_equal(mreg_num_format(out, -INFINITY), -1);
	assert_int_equal(mreg_num_format(out, from_bits(0x7ff0000000000001ull)), -1);
}

static void negative_zero(void **state)
{
	(void)state;
	assert_formats_as(-0.0, "-0");
	assert_formats_as(0.0, "0");
}

/* For people: negative zero becomes zero, everything else stays as it is. */
static void nz_drops_only_the_sign_of_zero(void **state)
{
	(void)state;
	assert_true(mreg_num_nz(-0.0) == 0 && !signbit(mreg_num_nz(-0.0)));
	assert_true(mreg_num_nz(0.0) == 0 && !signbit(mreg_num_nz(0.0)));
	assert_true(mreg_num_nz(-5e-324) == -5e-324);
	assert_true(mreg_num_nz(-0.04) == -0.04);
	assert_true(mreg_num_nz(1500) == 1500);
	assert_true(isnan(mreg_num_nz(NAN)));
}

static void smallest_subnormal(void **state)
{
	char out[MREG_NUM_MAX];

	(void)state;
	assert_formats_as(4.9406564584124654e-324, "5e-324");
	assert_formats_as(-5e-324, "-5e-324");
	assert_true(mreg_num_format(out, 5e-324) > 0);
	assert_true(to_bits(strtod(out, NULL)) == 1);
	assert_formats_as(from_bits(0x000fffffffffffffull), "2.225073858507201e-308");
	assert_formats_as(2.2250738585072014e-308, "2.2250738585072014e-308");
}

static void largest_double(void **state)
{
	(void)state;
	assert_formats_as(1.7976931348623157e308, "1.7976931348623157e+308");
	assert_formats_as(-1.7976931348623157e308, "-1.7976931348623157e+308");
}

static void powers_of_ten_and_two_round_trip(void **state)
{
	int i;

	(void)state;
	for (i = -323; i <= 308; i++) {
		char want[32];
		double v;
		snprintf(want, sizeof(want), "1e%d", i);
		v = strtod(want, NULL);
		check_value(v);
		check_value(nextafter(v, 0));
		check_value(nextafter(v, INFINITY));
	}
	for (i = -1074; i <= 1023; i++)
		check_value(ldexp(1.0, i));
}

static void round_trips_random_bit_patterns(void **state)
{
	int i, done = 0;

	(void)state;
	rng_state = 0x9e3779b97f4a7c15ull;
	while (done < 200000) {
		uint64_t b = rng_next();
		if (((b >> 52) & 0x7ff) == 0x7ff)
			continue;
		check_value(from_bits(b));
		done++;
	}
	/* Subnormals are 1/2048 of the above; cover them explicitly. */
	for (i = 0; i < 20000; i++)
		check_value(from_bits(rng_next() & 0x800fffffffffffffull));
}

static void round_trips_random_everyday_values(void **state)
{
	int i;

	(void)state;
	rng_state = 42;
	for (i = 0; i < 100000; i++) {
		uint64_t b = rng_next();
		/* binary exponents -40..+80: the plain-notation range and around */
		uint64_t ex = (uint64_t)(1023 - 40 + (int)((b >> 52) % 121));
		check_value(from_bits((b & 0x800fffffffffffffull) | (ex << 52)));
		/* short decimals such as prices and metrics */
		check_value((double)(int64_t)(rng_next() % 2000000) / 100.0);
	}
}

/* ---- the same bytes as the reference ------------------------------------- */

static long compared;

static void same_as_reference(double v)
{
	char got[MREG_NUM_MAX], want[MREG_NUM_MAX];
	int ng = mreg_num_format(got, v), nw = ref_format(want, v);

	compared++;
	if (ng != nw || strcmp(got, want))
		fail_msg("%a: formats as \"%s\" (%d), before as \"%s\" (%d)", v, got, ng, want, nw);
}

static void same_both_signs(double v)
{
	same_as_reference(v);
	same_as_reference(-v);
}

/* Whole numbers: the integer road below 2^53, the digit search above it. */
static void reference_whole_numbers(void **state)
{
	(void)state;
	compared = 0;
	rng_state = 7;
	for (int i = 0; i <= 64; i++) {
		double p = ldexp(1.0, i);
		same_both_signs(p);
		same_both_signs(p - 1);
		same_both_signs(p + 1);
		same_both_signs(nextafter(p, 0));
		same_both_signs(nextafter(p, INFINITY));
	}
	for (int i = 0; i < 40000; i++) {
		uint64_t r = rng_next();
		same_both_signs((double)(r >> 11));		/* up to 2^53 */
		same_both_signs((double)(r >> (11 + r % 50)));	/* small ones too */
		same_both_signs((double)r);			/* up to 2^64 */
		same_both_signs(ldexp((double)(r >> 11), 1 + (int)(r % 960)));	/* beyond */
	}
	for (int e = 0; e <= 308; e++) {
		char s[16];
		snprintf(s, sizeof(s), "1e%d", e);
		same_both_signs(strtod(s, NULL));
	}
	same_both_signs(0.0);
	assert_true(compared > 320000);
}

/* Around every power of ten, where the notation switches (1e-7 / 1e-8,
 * 1e16 / 1e17, 1e21, the subnormal and overflow ends) and digits carry. */
static void reference_powers_of_ten(void **state)
{
	static const char *const mantissas[] = { "1", "9.999999999999999", "9.99", "1.5", "2.5", "5", "1.0000000000000002",
						 "9.5", "0.95", "1.25", "3.0517578125" };
	(void)state;
	compared = 0;
	for (int e = -325; e <= 309; e++)
		for (size_t m = 0; m < sizeof(mantissas) / sizeof(mantissas[0]); m++) {
			char s[64];
			snprintf(s, sizeof(s), "%se%d", mantissas[m], e);
			double v = strtod(s, NULL);
			if (!isfinite(v))
				continue;
			same_both_signs(v);
			same_both_signs(nextafter(v, 0));
			same_both_signs(nextafter(v, INFINITY));
			same_both_signs(nextafter(nextafter(v, INFINITY), INFINITY));
		}
	for (int i = -1074; i <= 1023; i++) {
		same_both_signs(ldexp(1.0, i));
		same_both_signs(nextafter(ldexp(1.0, i), 0));
	}
	same_both_signs(DBL_MIN);
	same_both_signs(DBL_MAX);
	same_both_signs(DBL_EPSILON);
	assert_true(compared > 60000);
}

/* Subnormals (fewer digits of precision: the search tries every length) and the smallest normals. */
static void reference_subnormals(void **state)
{
	(void)state;
	compared = 0;
	rng_state = 11;
	for (int i = 0; i < 50000; i++) {
		uint64_t r = rng_next();
		same_as_reference(from_bits(r & 0x800fffffffffffffull));
		same_as_reference(from_bits((r & 0x800fffffffffffffull) >> (r % 52)));	/* a few bits */
		same_as_reference(from_bits((r & 0x800fffffffffffffull) | (1ull << 52)));	/* the first normals */
	}
	for (uint64_t b = 1; b < 5000; b++)
		same_both_signs(from_bits(b));
	assert_true(compared > 150000);
}

/* Random bit patterns across the whole range. */
static void reference_random_bit_patterns(void **state)
{
	(void)state;
	compared = 0;
	rng_state = 13;
	while (compared < 200000) {
		uint64_t b = rng_next();
		if (((b >> 52) & 0x7ff) != 0x7ff)
			same_as_reference(from_bits(b));
	}
}

/* What metrics hold: short decimals, rates, Elo ratings as mreg computes them. */
static void reference_everyday_values(void **state)
{
	static const double pow10[] = { 1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9 };
	(void)state;
	compared = 0;
	rng_state = 17;
	for (int i = 0; i < 50000; i++) {
		uint64_t r = rng_next();
		same_both_signs((double)(int64_t)(r % 100000000) / pow10[r % 10]);
		double a = (double)(r % 1000), b = (double)((r >> 20) % 1000) + 1;
		same_as_reference(a / (a + b));
		double f = (a + 1) / (a + b + 2);
		same_as_reference(-400 * log10(1 / f - 1));
		same_as_reference(1500 + (double)(int64_t)(r % 20000) / 10 - 1000);
	}
	for (int i = 1; i < 1000; i++) {
		same_both_signs(i / 10.0);
		same_both_signs(i / 100.0);
		same_both_signs(i * 0.1);
		same_both_signs(i * 0.01);
		same_both_signs(1.0 / i);
	}
	assert_true(compared > 250000);
}

/*
 * Decimals of 1 to 17 digits with 1 to 24 of them after the point (where
 * the formatter finds the digits without the C library up to 15 digits
 * and 22 places, and must leave the rest to the search), and the doubles
 * beside each.
 */
static void reference_short_decimals(void **state)
{
	(void)state;
	compared = 0;
	rng_state = 19;
	for (int i = 0; i < 60000; i++) {
		uint64_t r = rng_next();
		int digits = 1 + (int)(r % 17), places = 1 + (int)((r >> 8) % 24);
		uint64_t m = rng_next() % 100000000000000000ull, lim = 1;
		for (int d = 0; d < digits; d++)
			lim *= 10;
		char s[64];
		snprintf(s, sizeof(s), "%llue-%d", (unsigned long long)(m % lim), places);
		double v = strtod(s, NULL);
		same_both_signs(v);
		same_as_reference(nextafter(v, 0));
		same_as_reference(nextafter(v, INFINITY));
	}
	assert_true(compared > 200000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(integers_print_without_fraction),
		cmocka_unit_test(one_tenth_is_shortest),
		cmocka_unit_test(decimal_fractions_are_shortest),
		cmocka_unit_test(value_190_85_round_trips),
		cmocka_unit_test(max_safe_integer_is_exact),
		cmocka_unit_test(large_values_use_exponent_form),
		cmocka_unit_test(small_values_use_exponent_form),
		cmocka_unit_test(nan_and_infinity_are_refused),
		cmocka_unit_test(negative_zero),
		cmocka_unit_test(nz_drops_only_the_sign_of_zero),
		cmocka_unit_test(smallest_subnormal),
		cmocka_unit_test(largest_double),
		cmocka_unit_test(powers_of_ten_and_two_round_trip),
		cmocka_unit_test(round_trips_random_bit_patterns),
		cmocka_unit_test(round_trips_random_everyday_values),
		cmocka_unit_test(reference_whole_numbers),
		cmocka_unit_test(reference_powers_of_ten),
		cmocka_unit_test(reference_subnormals),
		cmocka_unit_test(reference_random_bit_patterns),
		cmocka_unit_test(reference_everyday_values),
		cmocka_unit_test(reference_short_decimals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

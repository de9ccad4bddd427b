/*
 * Unit tests for core/num.c: shortest round-trip double formatting.  Known
 * values pin the output format; randomised bit patterns check that every
 * output reads back exactly, is valid JSON number syntax and uses no more
 * significant digits than the shortest round-tripping "%.{p}g".
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "num.h"

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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

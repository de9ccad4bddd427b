/*
 * Unit tests for fsstore/eventfold.c's mreg_events_sort_keys, the sort of a
 * full fold's entries into fold order, against qsort with the whole
 * comparison as the reference: random clocks over narrow and wide ranges
 * (one byte, three, all eight, negative ones), many sharing a clock, some
 * sharing a clock and a name.
 */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"

static int cmp_reference(const void *a, const void *b)
{
	const mreg_fold_key *x = a, *y = b;
	if (x->clock != y->clock)
		return x->clock < y->clock ? -1 : 1;
	int c = memcmp(x->name, y->name, 32);
	return c ? c : (x->i > y->i) - (x->i < y->i);
}

static unsigned short seed[3] = { 0x330e, 0xabcd, 0x1234 };

/* 64 random bits, the same on every run */
static uint64_t rnd(void)
{
	return (uint64_t)(uint32_t)jrand48(seed) << 32 | (uint32_t)jrand48(seed);
}

/* n keys with clocks base + a random number below span, names from a set of nnames; sorted both ways, compared. */
static void sorts_as_qsort(size_t n, int64_t base, uint64_t span, size_t nnames)
{
	char *names = malloc(nnames * 32 + 1);
	mreg_fold_key *k = malloc((2 * n + 1) * sizeof(*k)), *want = malloc((n + 1) * sizeof(*want));
	assert_non_null(names);
	assert_non_null(k);
	assert_non_null(want);
	for (size_t j = 0; j < nnames * 32; j++)
		names[j] = "0123456789abcdef"[rnd() % 16];
	for (size_t j = 0; j < n; j++) {
		int64_t clock = base + (int64_t)(span ? rnd() % span : 0);
		k[j] = (mreg_fold_key){ clock, names + 32 * (rnd() % nnames), n - j };
	}
	memcpy(want, k, n * sizeof(*k));
	qsort(want, n, sizeof(*want), cmp_reference);
	mreg_events_sort_keys(k, k + n, n);
	for (size_t j = 0; j < n; j++) {
		if (k[j].clock != want[j].clock || k[j].name != want[j].name || k[j].i != want[j].i)
			fail_msg("n %zu, span %llu: key %zu is (%lld, %zu), qsort's (%lld, %zu)", n,
				 (unsigned long long)span, j, (long long)k[j].clock, k[j].i, (long long)want[j].clock,
				 want[j].i);
	}
	free(names);
	free(k);
	free(want);
}

static void few_keys(void **state)
{
	(void)state;
	sorts_as_qsort(0, 0, 10, 1);
	sorts_as_qsort(1, 5, 10, 1);
	sorts_as_qsort(2, 5, 2, 2);
	sorts_as_qsort(7, 0, 3, 2);
}

static void one_clock_by_name_then_place(void **state)
{
	(void)state;
	sorts_as_qsort(1000, 42, 0, 1000);	/* no byte differs: the names alone order them */
	sorts_as_qsort(1000, 42, 0, 3);	/* and the place in the walk, for a name met twice */
}

static void clocks_narrow_and_wide(void **state)
{
	(void)state;
	sorts_as_qsort(5000, 1, 200, 5000);	/* one byte */
	sorts_as_qsort(5000, 1, 1000, 40);	/* two bytes, many ties */
	sorts_as_qsort(20000, 1, 1u << 20, 20000);	/* three bytes, as a million events */
	sorts_as_qsort(5000, 0, UINT64_MAX, 5000);	/* every byte, negative clocks among them */
	sorts_as_qsort(5000, INT64_MIN / 2, (uint64_t)1 << 62, 100);
	sorts_as_qsort(5000, (int64_t)1 << 52, 300, 100);	/* a high byte the same in all */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(few_keys),
		cmocka_unit_test(one_clock_by_name_then_place),
		cmocka_unit_test(clocks_narrow_and_wide),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

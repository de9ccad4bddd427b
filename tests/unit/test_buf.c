/*
 * Unit tests for core/common.c's growing buffer (mreg_buf): appends that
 * fit take a short road without growing, so each case here checks that
 * the short road keeps the rules of the long one: the cap (a buffer
 * never holds more than cap bytes), the sticky out-of-memory flag (once
 * set, appends fail and change nothing), the terminating NUL after every
 * append, and the shared empty buffer, which is never written.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common.h"

static void appends_that_fit_and_that_grow(void **state)
{
	(void)state;
	mreg_buf b = MREG_BUF_INIT;
	char want[1000];
	for (int i = 0; i < 1000; i++) {
		want[i] = (char)('a' + i % 26);
		assert_int_equal(i % 3 ? mreg_buf_putc(&b, want[i]) : mreg_buf_put(&b, &want[i], 1), 0);
		assert_int_equal(b.size, (size_t)i + 1);
		assert_int_equal(b.ptr[b.size], '\0');
	}
	assert_memory_equal(b.ptr, want, sizeof(want));
	assert_false(mreg_buf_oom(&b));
	mreg_buf_dispose(&b);
}

static void the_cap_holds_on_every_road(void **state)
{
	(void)state;
	mreg_buf b;
	mreg_buf_init(&b, 8);
	/* grow once, with room to spare in the allocation: later appends fit it */
	assert_int_equal(mreg_buf_put(&b, "abcd", 4), 0);
	assert_true(b.asize > 9);
	assert_int_equal(mreg_buf_put(&b, "efg", 3), 0);
	assert_int_equal(mreg_buf_putc(&b, 'h'), 0);
	assert_string_equal(b.ptr, "abcdefgh");
	/* the ninth byte would fit the allocation, not the cap */
	assert_int_not_equal(mreg_buf_putc(&b, 'i'), 0);
	assert_true(mreg_buf_oom(&b));
	assert_int_equal(b.size, 8);
	assert_string_equal(b.ptr, "abcdefgh");
	/* sticky: nothing is appended any more, however small */
	assert_int_not_equal(mreg_buf_put(&b, "", 0), 0);
	assert_int_not_equal(mreg_buf_putc(&b, 'x'), 0);
	assert_string_equal(b.ptr, "abcdefgh");
	mreg_buf_dispose(&b);

	mreg_buf_init(&b, 8);
	assert_int_equal(mreg_buf_put(&b, "abcdef", 6), 0);
	assert_int_not_equal(mreg_buf_put(&b, "ghi", 3), 0);
	assert_int_equal(b.size, 6);
	assert_true(mreg_buf_oom(&b));
	mreg_buf_dispose(&b);
}

static void the_empty_buffer_is_never_written(void **state)
{
	(void)state;
	mreg_buf a = MREG_BUF_INIT, b = MREG_BUF_INIT;
	assert_int_equal(mreg_buf_put(&a, "", 0), 0);
	assert_int_equal(a.asize, 0);
	assert_int_equal(mreg_buf_putc(&a, 'x'), 0);
	assert_ptr_not_equal(a.ptr, b.ptr);
	assert_string_equal(a.ptr, "x");
	assert_string_equal(b.ptr, "");
	mreg_buf_dispose(&a);
}

static void json_strings_escape_through_the_short_road(void **state)
{
	(void)state;
	mreg_buf b = MREG_BUF_INIT;
	assert_int_equal(mreg_buf_put_json_string(&b, "a\"b\\c\n\x01"), 0);
	assert_string_equal(b.ptr, "\"a\\\"b\\\\c\\n\\u0001\"");
	mreg_buf_dispose(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(appends_that_fit_and_that_grow),
		cmocka_unit_test(the_cap_holds_on_every_road),
		cmocka_unit_test(the_empty_buffer_is_never_written),
		cmocka_unit_test(json_strings_escape_through_the_short_road),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

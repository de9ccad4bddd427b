/*
 * Unit tests for a version's training_config kept as the bytes a state file
 * holds (core/state.c, core/jsonw.c's mreg_jsonw_render_at): written at any
 * depth, as a member or as the top-level value, they are byte for byte what
 * mreg_jsonw_value writes from the parsed object; parsed back they are that
 * object; a copy of the version has them too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

static const char *const configs[] = {
	"{}",
	"{\"learning_rate\": 0.001, \"batch_size\": 256, \"epochs\": 100, \"optimizer\": \"adam\", "
	"\"architecture\": \"resnet\", \"augmentation_enabled\": true, \"curriculum_stage\": null, "
	"\"extra_config\": {}}",
	"{\"extra_config\": {\"optimizer_type\": \"cmaes\", \"weights\": [1.5, -2, 3e-7, [], {}, [[1], {\"a\": [2]}]], "
	"\"note\": \"two\\nlines  and \\\"quotes\\\" \\\\ \\u0001 \\u00e9\", \"empty\": \"\"}, \"x\": [null, false]}",
};

/* In out, config as the member "training_config" (or the value, when key is NULL) of objects nested depth deep. */
static void write_at(mreg_buf *out, int depth, const char *key, const mreg_version *v, const cJSON *config)
{
	mreg_jsonw w;
	mreg_jsonw_init(&w, out);
	for (int d = 0; d < depth; d++)
		mreg_jsonw_obj_begin(&w, d ? "inner" : NULL);
	if (v)
		mreg_version_write_config(&w, key, v);
	else
		mreg_jsonw_value(&w, key, config);
	for (int d = 0; d < depth; d++)
		mreg_jsonw_obj_end(&w);
	assert_int_equal(mreg_jsonw_finish(&w), 0);
}

static void bytes_as_the_value_writes_them(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
		cJSON *config = cJSON_Parse(configs[i]);
		assert_non_null(config);
		char path[] = "artifacts/ab/cd/abcd.bin";
		mreg_version v = { .version = 1, .file_path = path };
		assert_int_equal(mreg_version_set_config(&v, config), 0);
		assert_int_equal(strlen(v.training_config), v.training_config_len);
		for (int depth = 0; depth <= MREG_CONFIG_DEPTH + 3; depth++) {
			mreg_buf want = MREG_BUF_INIT, got = MREG_BUF_INIT;
			write_at(&want, depth, depth ? "training_config" : NULL, NULL, config);
			write_at(&got, depth, depth ? "training_config" : NULL, &v, NULL);
			if (strcmp(want.ptr, got.ptr))
				fail_msg("config %zu at depth %d:\n%s\nwritten as\n%s", i, depth, want.ptr, got.ptr);
			mreg_buf_dispose(&want);
			mreg_buf_dispose(&got);
		}
		cJSON *back = mreg_version_config(&v);
		assert_true(cJSON_Compare(back, config, 1));
		mreg_version *copy = mreg_version_dup(&v);
		assert_non_null(copy);
		assert_non_null(copy->training_config);
		assert_ptr_not_equal(copy->training_config, v.training_config);
		assert_string_equal(copy->training_config, v.training_config);
		assert_int_equal(copy->training_config_len, v.training_config_len);
		mreg_version_free(copy);
		cJSON_Delete(back);
		cJSON_Delete(config);
		free(v.training_config);
	}
}

static void a_version_without_one_writes_null(void **state)
{
	(void)state;
	mreg_version v = { .version = 1 };
	mreg_buf b = MREG_BUF_INIT;
	write_at(&b, 1, "training_config", &v, NULL);
	assert_string_equal(b.ptr, "{\n  \"training_config\": null\n}\n");
	assert_null(mreg_version_config(&v));
	mreg_buf_dispose(&b);
}

static void render_refuses_depths_it_cannot_write(void **state)
{
	(void)state;
	cJSON *config = cJSON_Parse(configs[1]);
	mreg_buf b = MREG_BUF_INIT;
	assert_int_equal(mreg_jsonw_render_at(&b, config, 0), MREG_ERROR);
	assert_string_equal(mreg_error_last(), "cannot write a JSON value at depth 0");
	assert_int_equal(mreg_jsonw_render_at(&b, config, MREG_JSONW_DEPTH), MREG_ERROR);
	assert_int_equal(b.size, 0);
	mreg_error_clear();
	assert_int_equal(mreg_jsonw_render_at(&b, config, 1), 0);
	assert_memory_equal(b.ptr, "{\n    \"learning_rate\": 0.001,\n", 30);
	mreg_buf_dispose(&b);
	cJSON_Delete(config);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bytes_as_the_value_writes_them),
		cmocka_unit_test(a_version_without_one_writes_null),
		cmocka_unit_test(render_refuses_depths_it_cannot_write),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

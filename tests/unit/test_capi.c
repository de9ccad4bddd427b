/*
 * Unit tests for the stable C API (fsstore/mreg.h, capi.c): a handle on a
 * new registry, writes and reads as JSON, errors as codes and one-line
 * messages, and a handle that sees another writer's changes (the cached
 * state is read again when HEAD moved).
 */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mreg.h"
#include "store.h"

static char root[64];		/* /tmp/mreg-test-capi.XXXXXX */
static char regdir[128];	/* <root>/reg */
static char model[128];		/* <root>/model.bin */

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/mreg-test-capi.XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(regdir, sizeof(regdir), "%s/reg", root);
	snprintf(model, sizeof(model), "%s/model.bin", root);
	FILE *f = fopen(model, "w");
	if (!f)
		return -1;
	fputs("weights", f);
	return fclose(f);
}

static int teardown(void **state)
{
	(void)state;
	return nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* call and parse: the document, or NULL with *rc and the message in err */
static cJSON *call(mreg_handle *h, const char *method, const char *args, int *rc, char err[512])
{
	char *result = NULL, *error = NULL;
	*rc = mreg_call(h, method, args, &result, &error);
	err[0] = '\0';
	if (*rc) {
		assert_null(result);
		assert_non_null(error);
		snprintf(err, 512, "%s", error);
		mreg_free(error);
		return NULL;
	}
	assert_null(error);
	cJSON *doc = cJSON_Parse(result);
	assert_non_null(doc);
	mreg_free(result);
	return doc;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	assert_true(cJSON_IsString(v));
	return v->valuestring;
}

static void register_promote_get_list(void **state)
{
	(void)state;
	mreg_handle *h = NULL;
	char *error = NULL, err[512], args[512];
	int rc;
	assert_int_equal(mreg_api_version(), MREG_API_VERSION);
	assert_int_equal(mreg_open(&h, regdir, 0, &error), MREG_API_ENOTFOUND);
	assert_non_null(error);
	mreg_free(error);
	assert_null(h);
	assert_int_equal(mreg_open(&h, regdir, 1, &error), 0);
	assert_null(error);

	snprintf(args, sizeof(args), "{\"name\": \"Square 8\", \"file\": \"%s\", \"metrics\": {\"elo\": 1500}, \"tags\": [\"b\", \"a\"]}",
		 model);
	cJSON *v = call(h, "register", args, &rc, err);
	assert_int_equal(rc, 0);
	assert_string_equal(str(v, "model_id"), "square_8");
	assert_string_equal(str(v, "stage"), "development");
	assert_int_equal(cJSON_GetObjectItem(v, "version")->valueint, 1);
	cJSON_Delete(v);

	v = call(h, "promote", "{\"model\": \"square_8\", \"version\": 1, \"to\": \"staging\", \"reason\": \"ok\", \"actor\": \"ci\"}", &rc, err);
	assert_int_equal(rc, 0);
	assert_string_equal(str(v, "stage"), "staging");
	cJSON_Delete(v);
	v = call(h, "history", "{\"model\": \"square_8\"}", &rc, err);
	assert_int_equal(cJSON_GetArraySize(v), 2);
	assert_string_equal(str(cJSON_GetArrayItem(v, 1), "transitioned_by"), "ci");
	cJSON_Delete(v);

	/* refused: a code and one line naming the subject; nothing changed */
	v = call(h, "promote", "{\"model\": \"square_8\", \"to\": \"staging\"}", &rc, err);
	assert_null(v);
	assert_int_equal(rc, MREG_API_ETRANSITION);
	assert_non_null(strstr(err, "cannot transition from staging to staging"));
	assert_null(strchr(err, '\n'));
	v = call(h, "get", "{\"model\": \"nope\"}", &rc, err);
	assert_int_equal(rc, 0);
	assert_true(cJSON_IsNull(v));	/* as the original's get_model: None */
	cJSON_Delete(v);
	v = call(h, "frobnicate", NULL, &rc, err);
	assert_int_equal(rc, MREG_API_EUSAGE);
	assert_string_equal(err, "unknown method 'frobnicate'");
	v = call(h, "get", "[1]", &rc, err);
	assert_int_equal(rc, MREG_API_EINVALID);
	v = call(h, "get", "{\"model\": 7}", &rc, err);
	assert_int_equal(rc, MREG_API_EINVALID);
	assert_string_equal(err, "invalid 'model' for get: expected a string");

	/* another writer (here: the library, as another process would) is seen by the next read */
	mreg_registry *reg = NULL;
	mreg_ref ref = { "square_8", 1 };
	assert_int_equal(mreg_registry_open_write(&reg, regdir), 0);
	assert_int_equal(mreg_promote(reg, &ref, MREG_STAGE_PRODUCTION, "elsewhere"), 0);
	mreg_registry_free(reg);
	v = call(h, "list", "{\"stage\": \"production\"}", &rc, err);
	assert_int_equal(rc, 0);
	assert_int_equal(cJSON_GetArraySize(v), 1);
	assert_string_equal(str(cJSON_GetArrayItem(v, 0), "model_id"), "square_8");
	cJSON_Delete(v);
	v = call(h, "events", "{\"limit\": 1}", &rc, err);
	assert_int_equal(cJSON_GetArraySize(v), 1);
	assert_string_equal(str(cJSON_GetArrayItem(v, 0), "type"), "version.promoted");
	cJSON_Delete(v);
	mreg_close(h);
}

/* A write's answer, byte for byte what a get of the same version answers after it. */
static void answers_as_get(mreg_handle *h, const char *method, const char *args, const char *get_args)
{
	char *wrote = NULL, *got = NULL, *error = NULL;
	int rc = mreg_call(h, method, args, &wrote, &error);
	if (rc)
		fprintf(stderr, "%s %s: %s\n", method, args, error);
	assert_int_equal(rc, 0);
	assert_null(error);
	assert_int_equal(mreg_call(h, "get", get_args, &got, &error), 0);
	assert_null(error);
	assert_string_equal(wrote, got);
	mreg_free(wrote);
	mreg_free(got);
}

/*
 * A write answers from the state it ended with (what the state files now
 * hold) instead of reading the model's file again: every kind of write,
 * checked against a fresh read. The production version of the model moves
 * too (a promotion archives the one before), and a tag that changes nothing
 * writes nothing and still answers.
 */
static void writes_answer_as_a_fresh_read(void **state)
{
	(void)state;
	mreg_handle *h = NULL;
	char *error = NULL, args[512], state_args[128];
	assert_int_equal(mreg_open(&h, regdir, 1, &error), 0);
	/* another model first and after, so that hex_8's row sits among others */
	snprintf(args, sizeof(args), "{\"name\": \"Alpha\", \"file\": \"%s\", \"tags\": [\"x\"]}", model);
	answers_as_get(h, "register", args, "{\"model\": \"alpha\", \"version\": 1}");
	answers_as_get(h, "promote", "{\"model\": \"alpha\", \"version\": 1, \"to\": \"staging\"}",
		       "{\"model\": \"alpha\", \"version\": 1}");
	answers_as_get(h, "promote", "{\"model\": \"alpha\", \"version\": 1, \"to\": \"production\"}",
		       "{\"model\": \"alpha\", \"version\": 1}");
	for (int i = 0; i < 3; i++) {
		snprintf(args, sizeof(args), "{\"name\": \"Hex 8\", \"file\": \"%s\", \"metrics\": {\"elo\": %d}}", model,
			 1500 + 10 * i);
		snprintf(state_args, sizeof(state_args), "{\"model\": \"hex_8\", \"version\": %d}", i + 1);
		answers_as_get(h, "register", args, state_args);
	}
	static const struct {
		const char *method, *args, *get;
	} writes[] = {
		{ "promote", "{\"model\": \"hex_8\", \"version\": 1, \"to\": \"staging\"}", "{\"model\": \"hex_8\", \"version\": 1}" },
		{ "promote", "{\"model\": \"hex_8\", \"version\": 1, \"to\": \"production\"}", "{\"model\": \"hex_8\", \"version\": 1}" },
		{ "promote", "{\"model\": \"hex_8\", \"version\": 2, \"to\": \"staging\"}", "{\"model\": \"hex_8\", \"version\": 2}" },
		{ "promote", "{\"model\": \"hex_8\", \"version\": 2, \"to\": \"production\"}", "{\"model\": \"hex_8\", \"version\": 2}" },
		{ "update_metrics", "{\"model\": \"hex_8\", \"metrics\": {\"elo\": 1612.5, \"games_played\": 40}}",
		  "{\"model\": \"hex_8\", \"version\": 3}" },
		{ "tag", "{\"model\": \"hex_8\", \"version\": 2, \"tags\": [\"best\", \"cma\"]}", "{\"model\": \"hex_8\", \"version\": 2}" },
		{ "tag", "{\"model\": \"hex_8\", \"version\": 2, \"tags\": [\"best\"]}", "{\"model\": \"hex_8\", \"version\": 2}" },
		{ "untag", "{\"model\": \"hex_8\", \"version\": 2, \"tags\": [\"cma\"]}", "{\"model\": \"hex_8\", \"version\": 2}" },
		{ "reject", "{\"model\": \"hex_8\", \"version\": 3}", "{\"model\": \"hex_8\", \"version\": 3}" },
		{ "archive", "{\"model\": \"hex_8\", \"version\": 1}", "{\"model\": \"hex_8\", \"version\": 1}" },
		{ "update_metrics", "{\"model\": \"hex_8\", \"version\": 2, \"metrics\": {\"win_rate\": 0.1}, \"replace\": true}",
		  "{\"model\": \"hex_8\", \"version\": 2}" },
		{ "register", "{\"name\": \"Zeta\", \"file\": \"MODEL\", \"description\": \"last \\\"one\\\"\", "
			      "\"tags\": [\"b\", \"a\"], \"training_config\": {\"lr\": 0.0003, \"layers\": [64, 64]}, "
			      "\"metrics\": {\"elo\": 1234.5678901234, \"games_played\": 12}}",
		  "{\"model\": \"zeta\", \"version\": 1}" },
		{ "promote", "{\"model\": \"zeta\", \"version\": 1, \"to\": \"staging\"}", "{\"model\": \"zeta\", \"version\": 1}" },
		{ "promote", "{\"model\": \"zeta\", \"version\": 1, \"to\": \"production\"}", "{\"model\": \"zeta\", \"version\": 1}" },
	};
	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
		const char *at = strstr(writes[i].args, "MODEL");
		if (at)	/* the model file's path in place of MODEL */
			snprintf(args, sizeof(args), "%.*s%s%s", (int)(at - writes[i].args), writes[i].args, model, at + 5);
		answers_as_get(h, writes[i].method, at ? args : writes[i].args, writes[i].get);
	}
	mreg_close(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(register_promote_get_list, setup, teardown),
		cmocka_unit_test_setup_teardown(writes_answer_as_a_fresh_read, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests for fsstore/ops.c's promotions through the library, where the
 * CLI cannot reach: a promotion told which stages the version must still
 * be in (cleanup's guard against a writer that moved it meanwhile) is
 * refused, writing nothing, when the version has left them.
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
#include <unistd.h>

#include "internal.h"

static char root[64];		/* /tmp/mreg-test-ops.XXXXXX */
static char regdir[128];	/* <root>/reg */

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/mreg-test-ops.XXXXXX");
	if (!mkdtemp(root) || mreg_libgit2_ready() < 0)
		return -1;
	snprintf(regdir, sizeof(regdir), "%s/reg", root);
	return mreg_registry_init(regdir) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* HEAD's commit, as stock git reads it. */
static void head_of(char out[41])
{
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "git -C '%s' rev-parse HEAD", regdir);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, 41, p));
	assert_int_equal(pclose(p), 0);
}

static void promotion_refused_when_the_version_left_the_stages_named(void **state)
{
	(void)state;
	char file[256], head[41], again[41];
	mreg_registry *reg = NULL;
	mreg_register_opts r = MREG_REGISTER_OPTS_INIT;
	snprintf(file, sizeof(file), "%s/model.bin", root);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fputs("weights", f);
	fclose(f);
	r.name = "m";
	r.file = file;
	assert_int_equal(mreg_registry_open_write(&reg, regdir), 0);
	assert_int_equal(mreg_register(NULL, NULL, reg, &r), 0);
	mreg_ref ref;
	memset(&ref, 0, sizeof(ref));
	strcpy(ref.model, "m");
	ref.version = 1;
	assert_int_equal(mreg_promote(reg, &ref, MREG_STAGE_STAGING, "moved by another writer"), 0);
	mreg_registry_free(reg);

	/* cleanup saw m:1 in development: it must not archive it from staging */
	head_of(head);
	mreg_promote_opts o = MREG_PROMOTE_OPTS_INIT;
	o.reason = "Cleanup";
	o.from = 1u << MREG_STAGE_DEVELOPMENT;
	int version = 0;
	assert_int_equal(mreg_registry_open_write(&reg, regdir), 0);
	assert_int_equal(mreg_promote_to(&version, reg, &ref, MREG_STAGE_ARCHIVED, &o), MREG_ETRANSITION);
	assert_string_equal(mreg_error_last(), "'m:1' moved to staging meanwhile: left as it is");
	head_of(again);
	assert_string_equal(head, again);	/* the refusal wrote nothing */
	/* in a stage it names, it moves */
	o.from = 1u << MREG_STAGE_DEVELOPMENT | 1u << MREG_STAGE_STAGING;
	assert_int_equal(mreg_promote_to(&version, reg, &ref, MREG_STAGE_ARCHIVED, &o), 0);
	assert_int_equal(version, 1);
	mreg_registry_free(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(promotion_refused_when_the_version_left_the_stages_named, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

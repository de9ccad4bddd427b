/*
 * Unit tests for backup ids (fsstore/backup.c): they sort by time, and two
 * backups of the same microsecond (so of the same millisecond) get
 * different ids, because an id whose files exist is skipped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

static char dir[] = "/tmp/mreg-backup-id.XXXXXX";

static void touch(const char *id, const char *ext)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s%s", dir, id, ext);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fclose(f);
}

static void ids_sort_by_time(void **state)
{
	(void)state;
	char a[48], b[48], c[48];
	/* 2026-11-27T01:45:12.123456Z, a microsecond later, a day later */
	assert_int_equal(mreg_backup_new_id(a, dir, 1795743912123456LL), 0);
	assert_int_equal(mreg_backup_new_id(b, dir, 1795743912123457LL), 0);
	assert_int_equal(mreg_backup_new_id(c, dir, 1795830312123456LL), 0);
	assert_string_equal(a, "20261127-014512-123456-00");
	assert_string_equal(b, "20261127-014512-123457-00");
	assert_true(strcmp(a, b) < 0 && strcmp(b, c) < 0);
}

static void the_same_microsecond_gives_different_ids(void **state)
{
	(void)state;
	char a[48], b[48], c[48];
	int64_t t = 1795743912500000LL;
	assert_int_equal(mreg_backup_new_id(a, dir, t), 0);
	touch(a, ".json");	/* the first backup of that microsecond exists */
	assert_int_equal(mreg_backup_new_id(b, dir, t), 0);
	assert_string_not_equal(a, b);
	assert_true(strcmp(a, b) < 0);
	touch(b, ".bundle");	/* a bundle alone (a create in progress) takes the id too */
	assert_int_equal(mreg_backup_new_id(c, dir, t), 0);
	assert_string_equal(c, "20261127-014512-500000-02");
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ids_sort_by_time),
		cmocka_unit_test(the_same_microsecond_gives_different_ids),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

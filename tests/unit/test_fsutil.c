/*
 * Unit tests for fsstore/fsutil.c.
 *
 * mreg_fs_map: files up to the read limit are copied into the heap, larger
 * ones mapped. Which road a file took shows in what a later write to it
 * does: a copy keeps the old bytes, a mapping of the page cache sees the
 * new ones. Under AddressSanitizer, mreg_fs_unmap freeing a mapping or
 * unmapping a heap block would fail the run.
 *
 * mreg_fs_replace: the target ends with the new file (the same inode), the
 * source name is gone, a reader that opened the old file keeps its bytes,
 * and a missing source is an error with errno, the target untouched.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <errno.h>
#include <unistd.h>

#include "internal.h"

static char dir[] = "/tmp/mreg-test-fsutil.XXXXXX";

static char *path_of(const char *name)
{
	static char buf[256];
	snprintf(buf, sizeof(buf), "%s/%s", dir, name);
	return buf;
}

static void put(const char *name, size_t size, char fill)
{
	char *data = malloc(size ? size : 1);
	assert_non_null(data);
	memset(data, fill, size);
	int fd = open(path_of(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, size), (ssize_t)size);
	assert_int_equal(close(fd), 0);
	free(data);
}

/* overwrite the first byte in place, as another process could */
static void poke(const char *name, char c)
{
	int fd = open(path_of(name), O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &c, 1, 0), 1);
	assert_int_equal(close(fd), 0);
}

static void small_files_are_copied(void **state)
{
	(void)state;
	const char *data;
	size_t len;
	put("small", 4096, 'a');
	assert_int_equal(mreg_fs_map(&data, &len, path_of("small")), 0);
	assert_int_equal(len, 4096);
	assert_int_equal(data[0], 'a');
	assert_int_equal(data[4095], 'a');
	assert_int_equal(data[4096], '\0');	/* a terminator after the bytes */
	poke("small", 'z');
	assert_int_equal(data[0], 'a');		/* a copy: the write does not show */
	mreg_fs_unmap(data, len);
}

static void large_files_are_mapped(void **state)
{
	(void)state;
	const char *data;
	size_t len;
	put("large", 4097, 'b');
	assert_int_equal(mreg_fs_map(&data, &len, path_of("large")), 0);
	assert_int_equal(len, 4097);
	assert_int_equal(data[4096], 'b');
	poke("large", 'y');
	assert_int_equal(data[0], 'y');		/* the page cache itself: the write shows */
	mreg_fs_unmap(data, len);
}

static void missing_empty_and_directory_are_refused(void **state)
{
	(void)state;
	const char *data = "untouched";
	size_t len = 7;
	assert_int_equal(mreg_fs_map(&data, &len, path_of("none")), MREG_ENOTFOUND);
	assert_non_null(strstr(mreg_error_last(), "file not found"));
	assert_non_null(strstr(mreg_error_last(), "none"));
	assert_null(data);
	assert_int_equal(len, 0);
	put("empty", 0, 'c');
	assert_int_equal(mreg_fs_map(&data, &len, path_of("empty")), MREG_ECORRUPT);
	assert_non_null(strstr(mreg_error_last(), "empty or not a regular file"));
	assert_int_equal(mreg_fs_map(&data, &len, dir), MREG_ECORRUPT);
	assert_non_null(strstr(mreg_error_last(), dir));
	assert_null(data);
}

static ino_t inode_of(const char *name)
{
	struct stat sb;
	assert_int_equal(stat(path_of(name), &sb), 0);
	return sb.st_ino;
}

static char first_byte(int fd)
{
	char c = 0;
	assert_int_equal(pread(fd, &c, 1, 0), 1);
	return c;
}

static void replace_swaps_an_existing_target(void **state)
{
	(void)state;
	char from[512];
	put("target", 100, 'o');
	put("target.new", 200, 'n');
	ino_t fresh = inode_of("target.new");
	int reader = open(path_of("target"), O_RDONLY);
	assert_true(reader >= 0);
	snprintf(from, sizeof(from), "%s", path_of("target.new"));
	assert_int_equal(mreg_fs_replace(from, path_of("target")), 0);
	assert_int_equal(inode_of("target"), fresh);
	assert_int_equal(access(path_of("target.new"), F_OK), -1);	/* the old file went with the name */
	assert_int_equal(errno, ENOENT);
	int now = open(path_of("target"), O_RDONLY);
	assert_true(now >= 0);
	assert_int_equal(first_byte(now), 'n');
	assert_int_equal(lseek(now, 0, SEEK_END), 200);
	assert_int_equal(first_byte(reader), 'o');	/* an open reader keeps the old bytes */
	assert_int_equal(lseek(reader, 0, SEEK_END), 100);
	close(now);
	close(reader);
}

static void replace_renames_when_the_target_is_missing(void **state)
{
	(void)state;
	char from[512];
	unlink(path_of("fresh"));
	put("fresh.new", 10, 'f');
	snprintf(from, sizeof(from), "%s", path_of("fresh.new"));
	assert_int_equal(mreg_fs_replace(from, path_of("fresh")), 0);
	assert_int_equal(access(from, F_OK), -1);
	int fd = open(path_of("fresh"), O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(first_byte(fd), 'f');
	close(fd);
}

static void replace_without_a_source_fails(void **state)
{
	(void)state;
	char from[512];
	put("kept", 10, 'k');
	snprintf(from, sizeof(from), "%s", path_of("no-such-file"));
	errno = 0;
	assert_int_equal(mreg_fs_replace(from, path_of("kept")), -1);
	assert_int_equal(errno, ENOENT);
	int fd = open(path_of("kept"), O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(first_byte(fd), 'k');
	assert_int_equal(lseek(fd, 0, SEEK_END), 10);
	close(fd);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	mreg_fs_set_read_max(4096);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	const char *names[] = { "small", "large", "empty", "target", "fresh", "kept" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink(path_of(names[i]));
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(small_files_are_copied),
		cmocka_unit_test(large_files_are_mapped),
		cmocka_unit_test(missing_empty_and_directory_are_refused),
		cmocka_unit_test(replace_swaps_an_existing_target),
		cmocka_unit_test(replace_renames_when_the_target_is_missing),
		cmocka_unit_test(replace_without_a_source_fails),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

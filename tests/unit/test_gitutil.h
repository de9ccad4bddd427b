/*
 * What the unit tests of fsstore/git/ share: a scratch directory that is
 * also HOME, and the stock git binary run in it.
 *
 * Each test_git*.c checks one part of fsstore/git/ against a reference
 * (libgit2, or git itself), so most tests run git. setup_group makes a
 * fresh directory under /tmp, points HOME there with a small .gitconfig,
 * turns the system config off for git (GIT_CONFIG_NOSYSTEM; libgit2
 * ignores it and reads /etc/gitconfig all the same) and unsets the
 * variables that would point git elsewhere: nothing of the user's config
 * reaches a test.
 *
 * Commands run with the working directory tg_cwd (the scratch directory
 * unless a test sets it). Everything here is static inline: each test
 * binary includes what it uses, and the compiler says nothing of the rest.
 * The Makefile does not list this header among the tests' prerequisites:
 * after a change to it, remove build/asan/tests/test_git* to rebuild them.
 */
#ifndef TEST_GITUTIL_H
#define TEST_GITUTIL_H

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
#include <sys/wait.h>
#include <unistd.h>

#include "git/git.h"

static char tg_base[64];	/* /tmp/mreg-test-git.XXXXXX: HOME, and where repositories go */
static char tg_work[128];	/* <tg_base>/t: made afresh for each test, removed after it */
static char tg_cwd[512];	/* where commands run */

/* ---- running git ---- */

static inline void tg_command(char *out, size_t n, const char *fmt, va_list ap)
{
	char cmd[8192];
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	snprintf(out, n, "cd '%s' && {\n%s\n}", tg_cwd, cmd);
}

/* The exit status of a shell command (0 when it exited 0). */
static inline int tg_status(const char *fmt, ...)
{
	char full[9000];
	va_list ap;
	va_start(ap, fmt);
	tg_command(full, sizeof(full), fmt, ap);
	va_end(ap);
	int st = system(full);
	return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A shell command; the test fails unless it exits 0. */
static inline void tg_sh(const char *fmt, ...)
{
	char full[9000];
	va_list ap;
	va_start(ap, fmt);
	tg_command(full, sizeof(full), fmt, ap);
	va_end(ap);
	int st = system(full);
	if (st != 0)
		fail_msg("exit status %d from: %s", st, full);
}

/* What a shell command prints, NUL-terminated (free it); the test fails unless it exits 0. */
static inline char *tg_capture(size_t *len, const char *fmt, ...)
{
	char full[9000];
	va_list ap;
	va_start(ap, fmt);
	tg_command(full, sizeof(full), fmt, ap);
	va_end(ap);
	FILE *f = popen(full, "r");
	assert_non_null(f);
	size_t n = 0, a = 4096;
	char *buf = malloc(a);
	assert_non_null(buf);
	for (size_t got; (got = fread(buf + n, 1, a - n - 1, f)) > 0;) {
		n += got;
		if (a - n - 1 == 0) {
			buf = realloc(buf, a *= 2);
			assert_non_null(buf);
		}
	}
	int st = pclose(f);
	if (st != 0)
		fail_msg("exit status %d from: %s", st, full);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

/* The id git gives for a revision, in the repository at tg_cwd. */
static inline void tg_rev(git_oid *out, const char *rev)
{
	char *s = tg_capture(NULL, "git rev-parse --verify -q '%s'", rev);
	if (strlen(s) < 40 || git_oid_fromstrn(out, s, 40) != 0)
		fail_msg("git rev-parse '%s' says '%s'", rev, s);
	free(s);
}

static inline git_oid tg_oid(const char *hex)
{
	git_oid id;
	assert_int_equal(git_oid_fromstr(&id, hex), 0);
	return id;
}

/* ---- files ---- */

/* A file written whole (directories made as needed). */
static inline void tg_put(const char *path, const void *data, size_t len)
{
	assert_int_equal(mreg_fs_mkparents(path), 0);
	FILE *f = fopen(path, "wb");
	if (!f)
		fail_msg("cannot write '%s'", path);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static inline void tg_puts(const char *path, const char *text)
{
	tg_put(path, text, strlen(text));
}

/* A whole file, NUL-terminated (free it). */
static inline char *tg_slurp(size_t *len, const char *path)
{
	mreg_buf b = MREG_BUF_INIT;
	if (mreg_fs_read(&b, path, 0) != 0)
		fail_msg("cannot read '%s': %s", path, mreg_error_last());
	if (len)
		*len = b.size;
	return mreg_buf_detach(&b);
}

/* printf into a fixed buffer, failing the test when it does not fit. */
static inline char *tg_fmt(char *out, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(out, n, fmt, ap);
	va_end(ap);
	assert_true(k >= 0 && (size_t)k < n);
	return out;
}

/* ---- fixtures ---- */

/* The scratch directory, HOME in it, and no config from the machine; libgit2 started after, so it sees this HOME. */
static inline int tg_setup_group(void **state)
{
	static const char *unset[] = {
		"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
		"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM",
		"GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT", "XDG_CONFIG_HOME", "GIT_NAMESPACE",
		"GIT_TEST_DATE_NOW", "GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE",
	};
	char path[128];
	(void)state;
	snprintf(tg_base, sizeof(tg_base), "/tmp/mreg-test-git.XXXXXX");
	if (!mkdtemp(tg_base))
		return -1;
	snprintf(tg_cwd, sizeof(tg_cwd), "%s", tg_base);
	for (size_t i = 0; i < sizeof(unset) / sizeof(unset[0]); i++)
		unsetenv(unset[i]);
	setenv("HOME", tg_base, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("LC_ALL", "C", 1);
	snprintf(path, sizeof(path), "%s/.gitconfig", tg_base);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	/* gc.auto 0: no automatic gc packs the loose objects a test counts on */
	fputs("[user]\n\tname = t\n\temail = t@t\n[init]\n\tdefaultBranch = main\n"
	      "[gc]\n\tauto = 0\n[maintenance]\n\tauto = false\n[advice]\n\tdetachedHead = false\n", f);
	if (fclose(f) != 0)
		return -1;
	return git_libgit2_init() > 0 ? 0 : -1;
}

static inline int tg_teardown_group(void **state)
{
	char cmd[128];
	(void)state;
	git_libgit2_shutdown();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tg_base);
	return system(cmd) == 0 ? 0 : -1;
}

/* A fresh tg_work holding an empty repository, tg_work/repo (git init), the working directory of commands. */
static inline int tg_setup_repo(void **state)
{
	char cmd[512];
	(void)state;
	snprintf(tg_work, sizeof(tg_work), "%s/t", tg_base);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir '%s' && git init -q '%s/repo'", tg_work, tg_work, tg_work);
	if (system(cmd) != 0)
		return -1;
	snprintf(tg_cwd, sizeof(tg_cwd), "%s/repo", tg_work);
	return 0;
}

static inline int tg_teardown_repo(void **state)
{
	char cmd[512];
	(void)state;
	snprintf(tg_cwd, sizeof(tg_cwd), "%s", tg_base);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tg_work);
	return system(cmd) == 0 ? 0 : -1;
}

#define TG_REPO_TEST(f) cmocka_unit_test_setup_teardown(f, tg_setup_repo, tg_teardown_repo)

#endif

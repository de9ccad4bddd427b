/*
 * Unit tests for fsstore/tree.c's mreg_tree_changes, against libgit2's tree
 * diff as the reference: random trees of fan-out paths (as events/ and
 * artifacts/ are), changed at random (files added, removed, changed, a
 * file where a directory was and the reverse); both must name the same
 * paths with the same ids, and mreg's must read only the trees that differ.
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

static char root[64];		/* /tmp/mreg-test-treediff.XXXXXX */
static char regdir[128];	/* <root>/reg */
static mreg_registry *reg;

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/mreg-test-treediff.XXXXXX");
	if (!mkdtemp(root) || mreg_libgit2_ready() < 0)
		return -1;
	snprintf(regdir, sizeof(regdir), "%s/reg", root);
	return mreg_registry_init(regdir) < 0 || mreg_registry_open(&reg, regdir) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	mreg_registry_free(reg);
	return nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- trees from path lists, through a libgit2 index in memory ---- */

typedef struct {
	char path[64];
	int content;	/* the blob's bytes: "c<content>" */
} file;

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static unsigned next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng >> 11);
}

/* A fan-out path under dir: dir/ab/cd/<name>.json, from few enough digits that directories are shared. */
static void random_path(char out[64], const char *dir)
{
	unsigned a = next_rand() % 6, b = next_rand() % 4, n = next_rand() % 1000;
	snprintf(out, 64, "%s/%02x/%02x/%04u.json", dir, a, b, n);
}

static void tree_of(git_oid *out, const file *f, size_t n)
{
	git_index *idx = NULL;
	assert_int_equal(git_index_new(&idx), 0);
	for (size_t i = 0; i < n; i++) {
		if (!f[i].path[0])
			continue;
		char data[32];
		int len = snprintf(data, sizeof(data), "c%d", f[i].content);
		git_index_entry e;
		memset(&e, 0, sizeof(e));
		e.mode = GIT_FILEMODE_BLOB;
		e.path = f[i].path;
		assert_int_equal(git_blob_create_from_buffer(&e.id, reg->repo, data, (size_t)len), 0);
		assert_int_equal(git_index_add(idx, &e), 0);
	}
	assert_int_equal(git_index_write_tree_to(out, idx, reg->repo), 0);
	git_index_free(idx);
}

/* ---- the two answers, as sorted lines "path old new" ---- */

typedef struct {
	char **lines;
	size_t n;
} lines;

static void add_line(lines *l, const char *path, const git_oid *a, const git_oid *b)
{
	char ha[GIT_OID_HEXSZ + 1] = "-", hb[GIT_OID_HEXSZ + 1] = "-";
	if (a)
		git_oid_tostr(ha, sizeof(ha), a);
	if (b)
		git_oid_tostr(hb, sizeof(hb), b);
	l->lines = realloc(l->lines, (l->n + 1) * sizeof(*l->lines));
	assert_non_null(l->lines);
	l->lines[l->n] = mreg_strfmt("%s %s %s", path, ha, hb);
	assert_non_null(l->lines[l->n]);
	l->n++;
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int take(const mreg_tree_change *c, void *payload)
{
	add_line(payload, c->path, c->old_id, c->new_id);
	return 0;
}

static void libgit2_lines(lines *l, const git_oid *a, const git_oid *b, const char *dir)
{
	git_tree *ta = NULL, *tb = NULL;
	git_diff *diff = NULL;
	git_diff_options o;
	char *spec[] = { (char *)dir };
	git_diff_options_init(&o, GIT_DIFF_OPTIONS_VERSION);
	o.pathspec.strings = spec;
	o.pathspec.count = 1;
	assert_int_equal(git_tree_lookup(&ta, reg->repo, a), 0);
	assert_int_equal(git_tree_lookup(&tb, reg->repo, b), 0);
	assert_int_equal(git_diff_tree_to_tree(&diff, reg->repo, ta, tb, &o), 0);
	for (size_t i = 0; i < git_diff_num_deltas(diff); i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		bool added = d->status == GIT_DELTA_ADDED, removed = d->status == GIT_DELTA_DELETED;
		add_line(l, added ? d->new_file.path : d->old_file.path, added ? NULL : &d->old_file.id,
			 removed ? NULL : &d->new_file.id);
	}
	git_diff_free(diff);
	git_tree_free(ta);
	git_tree_free(tb);
}

static void lines_dispose(lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->lines[i]);
	free(l->lines);
	l->lines = NULL;
	l->n = 0;
}

static void assert_same_changes(const git_oid *a, const git_oid *b, const char *dir)
{
	lines got = { NULL, 0 }, want = { NULL, 0 };
	assert_int_equal(mreg_tree_changes(reg, a, b, dir, take, &got), 0);
	libgit2_lines(&want, a, b, dir);
	if (got.n)
		qsort(got.lines, got.n, sizeof(*got.lines), cmp_line);
	if (want.n)
		qsort(want.lines, want.n, sizeof(*want.lines), cmp_line);
	if (got.n != want.n)
		fail_msg("%zu changes, libgit2 finds %zu", got.n, want.n);
	for (size_t i = 0; i < got.n; i++)
		assert_string_equal(got.lines[i], want.lines[i]);
	lines_dispose(&got);
	lines_dispose(&want);
}

/* ---- the cases ---- */

static void random_changes_agree_with_libgit2(void **state)
{
	(void)state;
	enum { N = 300 };
	static file before[N], after[N];
	for (int round = 0; round < 40; round++) {
		size_t n = 40 + next_rand() % (N - 40);
		memset(before, 0, sizeof(before));
		for (size_t i = 0; i < n; i++) {
			random_path(before[i].path, i % 3 ? "events" : "artifacts");
			before[i].content = (int)(next_rand() % 50);
		}
		/* the same path twice would be one entry: the later wins in both trees alike */
		memcpy(after, before, sizeof(after));
		for (size_t k = 0, changes = next_rand() % 12; k < changes; k++) {
			size_t i = next_rand() % N;
			switch (next_rand() % 3) {
			case 0:	/* added (or replaced) */
				random_path(after[i].path, next_rand() % 2 ? "events" : "artifacts");
				after[i].content = (int)(next_rand() % 50);
				break;
			case 1:	/* removed */
				after[i].path[0] = '\0';
				break;
			default:	/* other bytes */
				after[i].content++;
			}
		}
		git_oid a, b;
		tree_of(&a, before, N);
		tree_of(&b, after, N);
		assert_same_changes(&a, &b, "events");
		assert_same_changes(&a, &b, "artifacts");
		assert_same_changes(&b, &a, "events");
	}
}

static void a_file_where_a_directory_was(void **state)
{
	(void)state;
	file one[3] = { { "events/00/01/a.json", 1 }, { "events/00/01/b.json", 2 }, { "events/02", 3 } };
	file two[3] = { { "events/00/01", 4 }, { "events/02/03/c.json", 5 }, { "", 0 } };
	git_oid a, b;
	tree_of(&a, one, 3);
	tree_of(&b, two, 3);
	assert_same_changes(&a, &b, "events");
	assert_same_changes(&b, &a, "events");
	/* events itself a file on one side */
	file three[1] = { { "events", 6 } };
	git_oid c;
	tree_of(&c, three, 1);
	assert_same_changes(&a, &c, "events");
	assert_same_changes(&c, &a, "events");
}

static void equal_trees_and_absent_directories_give_nothing(void **state)
{
	(void)state;
	file one[2] = { { "events/00/01/a.json", 1 }, { "mreg.json", 2 } };
	file two[2] = { { "events/00/01/a.json", 1 }, { "mreg.json", 3 } };
	git_oid a, b;
	tree_of(&a, one, 2);
	tree_of(&b, two, 2);
	lines got = { NULL, 0 };
	assert_int_equal(mreg_tree_changes(reg, &a, &b, "events", take, &got), 0);
	assert_int_equal(got.n, 0);	/* only mreg.json differs: events/ is the same subtree */
	assert_int_equal(mreg_tree_changes(reg, &a, &b, "artifacts", take, &got), 0);
	assert_int_equal(got.n, 0);	/* on neither side */
}

static int stop_at_first(const mreg_tree_change *c, void *payload)
{
	(void)c;
	(*(int *)payload)++;
	return 7;
}

static void a_callback_stops_the_walk(void **state)
{
	(void)state;
	file one[1] = { { "events/00/01/a.json", 1 } };
	file two[3] = { { "events/00/01/a.json", 2 }, { "events/00/02/b.json", 3 }, { "events/05/01/c.json", 4 } };
	git_oid a, b;
	tree_of(&a, one, 1);
	tree_of(&b, two, 3);
	int calls = 0;
	assert_int_equal(mreg_tree_changes(reg, &a, &b, "events", stop_at_first, &calls), 7);
	assert_int_equal(calls, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(random_changes_agree_with_libgit2),
		cmocka_unit_test(a_file_where_a_directory_was),
		cmocka_unit_test(equal_trees_and_absent_directories_give_nothing),
		cmocka_unit_test(a_callback_stops_the_walk),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

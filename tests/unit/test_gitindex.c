/*
 * Unit tests for fsstore/git/index.c: the index file, edited as a stream,
 * and the cache-tree ids read from it.
 *
 * The references: libgit2, which wrote the index being edited and which,
 * given the same additions and removals (git_index_add, git_index_remove)
 * on its own copy, must hold exactly the entries the spliced file holds;
 * and git, in a twin repository where `git add` and `git rm --cached` made
 * the same changes: `git ls-files -s` and `git status --porcelain` must
 * say the same in both. An index this code does not stream (version 3 or
 * 4, a merge stage, a required extension) must be left to libgit2. The
 * cache-tree ids must be the trees git names for what the index holds.
 */
#include "test_gitutil.h"

#include <dirent.h>

static char index_path[600];	/* <repo>/.git/index */

/* A repository with files at several depths, a file called "events", committed. */
static void committed_files(void)
{
	tg_sh("mkdir -p dir/sub && echo a >a.txt && echo b >b.txt && echo c >dir/c.txt && echo d >dir/sub/d.txt\n"
	      "echo e >events && echo z >z.txt && echo y >dir/y.txt\n"
	      "git add . && git commit -q -m files");
}

/* .git/index written afresh by libgit2: from HEAD's tree (with its cache tree) or entry by entry (without). */
static void libgit2_writes_the_index(bool with_tree)
{
	git_repository *repo = NULL;
	git_index *index = NULL;
	git_object *tree = NULL;
	unlink(index_path);
	assert_int_equal(git_repository_open(&repo, tg_cwd), 0);
	assert_int_equal(git_repository_index(&index, repo), 0);
	assert_int_equal(git_revparse_single(&tree, repo, "HEAD^{tree}"), 0);
	if (with_tree) {
		assert_int_equal(git_index_read_tree(index, (git_tree *)tree), 0);
		/* the stat data of the work tree's files, as git would have them */
		assert_int_equal(git_index_add_all(index, NULL, 0, NULL, NULL), 0);
		git_oid written;
		assert_int_equal(git_index_write_tree(&written, index), 0);
	} else {
		static const char *const files[] = { "z.txt", "a.txt", "dir/sub/d.txt", "b.txt", "dir/c.txt", "events", "dir/y.txt" };
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
			assert_int_equal(git_index_add_bypath(index, files[i]), 0);
	}
	assert_int_equal(git_index_write(index), 0);
	git_object_free(tree);
	git_index_free(index);
	git_repository_free(repo);
	size_t len;
	char *data = tg_slurp(&len, index_path);
	assert_memory_equal(data, "DIRC\0\0\0\2", 8);
	int trees = 0;
	for (size_t i = 12; i + 4 <= len; i++)
		trees += !memcmp(data + i, "TREE", 4);
	assert_true(with_tree ? trees > 0 : trees == 0);
	free(data);
}

/* ---- the change, made both ways ---- */

typedef struct {
	const char *path;
	const char *text;	/* the file's new content, written into the work tree; NULL: no file there */
} add;

/* An entry for path as the work tree has it now (or as a file of text that is not there). */
static void entry_for(mreg_git_index_entry *e, const add *a)
{
	char full[5000];
	e->path = a->path;
	tg_fmt(full, sizeof(full), "%s/%s", tg_cwd, a->path);
	if (a->text) {
		tg_puts(full, a->text);
		assert_int_equal(stat(full, &e->st), 0);
	} else {
		memset(&e->st, 0, sizeof(e->st));
		e->st.st_mode = S_IFREG | 0644;
		e->st.st_size = 7;
		e->st.st_mtim.tv_sec = 1700000000;
		e->st.st_ino = 42;
	}
	mreg_git_hash(&e->id, GIT_OBJECT_BLOB, a->text ? a->text : "", a->text ? strlen(a->text) : 0);
}

/* The libgit2 entry mreg's entry stands for. */
static void as_libgit2(git_index_entry *out, const mreg_git_index_entry *e)
{
	memset(out, 0, sizeof(*out));
	out->ctime.seconds = (int32_t)e->st.st_ctim.tv_sec;
	out->ctime.nanoseconds = (uint32_t)e->st.st_ctim.tv_nsec;
	out->mtime.seconds = (int32_t)e->st.st_mtim.tv_sec;
	out->mtime.nanoseconds = (uint32_t)e->st.st_mtim.tv_nsec;
	out->dev = (uint32_t)e->st.st_dev;
	out->ino = (uint32_t)e->st.st_ino;
	out->mode = e->st.st_mode & 0111 ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB;
	out->uid = (uint32_t)e->st.st_uid;
	out->gid = (uint32_t)e->st.st_gid;
	out->file_size = (uint32_t)e->st.st_size;
	out->id = e->id;
	out->path = e->path;
}

/* Every field of two index entries. */
static void expect_same_entry(const git_index_entry *a, const git_index_entry *b)
{
	assert_string_equal(a->path, b->path);
	assert_true(git_oid_equal(&a->id, &b->id));
	assert_int_equal(a->mode, b->mode);
	assert_int_equal(a->file_size, b->file_size);
	assert_int_equal(a->ctime.seconds, b->ctime.seconds);
	assert_int_equal(a->ctime.nanoseconds, b->ctime.nanoseconds);
	assert_int_equal(a->mtime.seconds, b->mtime.seconds);
	assert_int_equal(a->mtime.nanoseconds, b->mtime.nanoseconds);
	assert_int_equal(a->dev, b->dev);
	assert_int_equal(a->ino, b->ino);
	assert_int_equal(a->uid, b->uid);
	assert_int_equal(a->gid, b->gid);
	/* the low 12 bits are the path's length as read from a file (0 in an entry added in memory) */
	assert_int_equal(a->flags & ~GIT_INDEX_ENTRY_NAMEMASK, b->flags & ~GIT_INDEX_ENTRY_NAMEMASK);
	/* of the extended flags, those written to the file (not libgit2's in-memory "up to date") */
	assert_int_equal(a->flags_extended & GIT_INDEX_ENTRY_EXTENDED_FLAGS, b->flags_extended & GIT_INDEX_ENTRY_EXTENDED_FLAGS);
}

/*
 * The index at index_path spliced with adds and removes, written back as
 * the caller writes it (mreg_fs_write_atomic_spans); with libgit2 as the
 * reference, libgit2's own copy of the old index given the same changes
 * must hold the very same entries (else libgit2 must at least read it).
 */
static void splice(const add *adds, size_t nadds, char **removes, size_t nremoves, bool libgit2_reference)
{
	size_t len;
	char *old = tg_slurp(&len, index_path);
	char copy[700];
	tg_put(tg_fmt(copy, sizeof(copy), "%s/index.before", tg_work), old, len);

	mreg_git_index_entry e[16];
	assert_true(nadds <= 16);
	for (size_t i = 0; i < nadds; i++)
		entry_for(&e[i], &adds[i]);
	char *rm[16];
	assert_true(nremoves <= 16);
	if (nremoves)
		memcpy(rm, removes, nremoves * sizeof(*rm));
	mreg_buf own = MREG_BUF_INIT;
	mreg_span *spans = NULL;
	size_t nspans = 0;
	int rc = mreg_git_index_splice(&own, &spans, &nspans, old, len, e, nadds, rm, nremoves);
	if (rc != 0)
		fail_msg("splice: %d %s", rc, mreg_error_last());
	assert_int_equal(mreg_fs_write_atomic_spans(index_path, &own, spans, nspans, false), 0);
	free(spans);
	mreg_buf_dispose(&own);

	git_index *want = NULL, *got = NULL;
	if (git_index_open(&got, index_path) != 0)
		fail_msg("libgit2 cannot read the spliced index: %s", git_error_last()->message);
	assert_int_equal(git_index_version(got), 2);
	if (!libgit2_reference) {
		git_index_free(got);
		free(old);
		return;
	}
	/* libgit2, the same changes on the old index */
	assert_int_equal(git_index_open(&want, copy), 0);
	for (size_t i = 0; i < nadds; i++) {
		git_index_entry le;
		as_libgit2(&le, &e[i]);
		assert_int_equal(git_index_add(want, &le), 0);
	}
	for (size_t i = 0; i < nremoves; i++) {
		int r = git_index_remove(want, removes[i], 0);
		assert_true(r == 0 || r == GIT_ENOTFOUND);
	}
	assert_int_equal(git_index_entrycount(got), git_index_entrycount(want));
	for (size_t i = 0; i < git_index_entrycount(want); i++)
		expect_same_entry(git_index_get_byindex(got, i), git_index_get_byindex(want, i));
	git_index_free(want);
	git_index_free(got);
	free(old);
}

/*
 * A twin of the repository (copied before the change) where git makes the
 * change itself; both must list the same entries and the same status.
 */
static void make_twin(void)
{
	tg_sh("cp -a . ../twin");
}

static void expect_twin_agrees(const char *git_change)
{
	tg_sh("cd ../twin && { %s; }", git_change);
	char *ls_mine = tg_capture(NULL, "git ls-files -s");
	char *ls_git = tg_capture(NULL, "git -C ../twin ls-files -s");
	if (strcmp(ls_mine, ls_git))
		tg_status("git -C ../twin ls-files -s >../twin.ls; git ls-files -s | diff - ../twin.ls >&2");
	assert_string_equal(ls_mine, ls_git);
	char *st_mine = tg_capture(NULL, "git status --porcelain --untracked-files=all");
	char *st_git = tg_capture(NULL, "git -C ../twin status --porcelain --untracked-files=all");
	assert_string_equal(st_mine, st_git);
	/* nothing shows as modified in the work tree: the stat data written is the files' */
	assert_null(strstr(st_mine, " M "));
	free(ls_mine);
	free(ls_git);
	free(st_mine);
	free(st_git);
}

/* One entry added, one replaced, one removed (its file gone too). */
static void add_replace_remove(void)
{
	static const add adds[] = { { "dir/new.txt", "new\n" }, { "a.txt", "a changed\n" } };
	char *removes[] = { "b.txt" };
	make_twin();
	tg_sh("rm b.txt");
	splice(adds, 2, removes, 1, true);
	expect_twin_agrees("echo new >dir/new.txt && echo 'a changed' >a.txt && git add dir/new.txt a.txt && git rm -q b.txt");
	char *st = tg_capture(NULL, "git status --porcelain");
	assert_string_equal(st, "M  a.txt\nD  b.txt\nA  dir/new.txt\n");
	free(st);
}

static void splice_on_an_index_without_a_cache_tree(void **state)
{
	(void)state;
	committed_files();
	libgit2_writes_the_index(false);
	add_replace_remove();
}

static void splice_on_an_index_with_a_cache_tree_drops_it(void **state)
{
	(void)state;
	committed_files();
	libgit2_writes_the_index(true);
	add_replace_remove();
	/* the cache tree, which would now be stale, is gone */
	size_t len;
	char *data = tg_slurp(&len, index_path);
	int calls = 0;
	for (size_t i = 12; i + 4 <= len; i++)
		calls += !memcmp(data + i, "TREE", 4);
	assert_int_equal(calls, 0);
	free(data);
}

/* Adds before the first entry, after the last, several in a row; removes of paths not there change nothing. */
static void splice_at_the_ends_and_in_runs(void **state)
{
	(void)state;
	static const add adds[] = {
		{ "0first", "0\n" }, { "zz-last", "zz\n" }, { "dir/c0.txt", "c0\n" }, { "dir/c1.txt", "c1\n" }, { "dir/sub/e", "e\n" },
	};
	char *removes[] = { "not-there", "dir/sub/d.txt", "dir/sub" };
	committed_files();
	libgit2_writes_the_index(false);
	make_twin();
	tg_sh("rm dir/sub/d.txt");
	splice(adds, sizeof(adds) / sizeof(adds[0]), removes, 3, true);
	expect_twin_agrees("rm dir/sub/d.txt && echo 0 >0first && echo zz >zz-last && echo c0 >dir/c0.txt && echo c1 >dir/c1.txt && "
			   "echo e >dir/sub/e && git add -A");
}

/* No change at all, on an index without extensions: the very same bytes. */
static void splice_of_nothing_is_the_same_file(void **state)
{
	(void)state;
	committed_files();
	libgit2_writes_the_index(false);
	size_t len, len2;
	char *before = tg_slurp(&len, index_path);
	splice(NULL, 0, NULL, 0, true);
	char *after = tg_slurp(&len2, index_path);
	assert_int_equal(len2, len);
	assert_memory_equal(after, before, len);
	free(before);
	free(after);
}

/*
 * A file where a new entry needs a directory ("events" before
 * "events/ab/x"), and a directory where a new entry is a file ("dir"):
 * the old entries go, as `git update-index --add --replace` replaces them.
 * (git is the reference here: libgit2 1.5's git_index_add drops "events"
 * but keeps "dir/c.txt" and the rest beside the new file "dir", an index
 * git cannot write a tree from.)
 */
static void splice_replaces_files_and_directories_in_the_way(void **state)
{
	(void)state;
	committed_files();
	libgit2_writes_the_index(false);
	make_twin();
	tg_sh("rm events && mkdir -p events/ab && rm -rf dir");
	static const add adds[] = { { "events/ab/x", "x\n" }, { "dir", "now a file\n" } };
	splice(adds, 2, NULL, 0, false);
	expect_twin_agrees("rm events && mkdir -p events/ab && echo x >events/ab/x && rm -rf dir && "
			   "echo 'now a file' >dir && git update-index --add --replace events/ab/x dir");
	char *ls = tg_capture(NULL, "git ls-files");
	assert_string_equal(ls, "a.txt\nb.txt\ndir\nevents/ab/x\nz.txt\n");
	free(ls);
	/* an index git builds a tree from, once the blobs are there: no path is both a file and a directory */
	tg_sh("git hash-object -w events/ab/x dir >/dev/null && git write-tree >/dev/null");
}

/*
 * The same, with another new entry sorting between the two that collide:
 * "events-x" comes between "events" and "events/ab/x", "dir-x" between
 * "dir" and "dir/c.txt".
 */
static void splice_replaces_what_is_in_the_way_past_a_neighbour(void **state)
{
	(void)state;
	committed_files();
	libgit2_writes_the_index(false);
	make_twin();
	tg_sh("rm events && mkdir -p events/ab && rm -rf dir");
	static const add adds[] = {
		{ "events/ab/x", "x\n" }, { "events-x", "ex\n" }, { "dir", "now a file\n" }, { "dir-x", "dx\n" },
	};
	splice(adds, 4, NULL, 0, false);
	expect_twin_agrees("rm events && mkdir -p events/ab && echo x >events/ab/x && echo ex >events-x && rm -rf dir && "
			   "echo 'now a file' >dir && echo dx >dir-x && "
			   "git update-index --add --replace events/ab/x events-x dir dir-x");
	char *ls = tg_capture(NULL, "git ls-files");
	assert_string_equal(ls, "a.txt\nb.txt\ndir\ndir-x\nevents-x\nevents/ab/x\nz.txt\n");
	free(ls);
}

/* A path longer than the 12 bits of an entry's length field (0xfff), and an executable. */
static void splice_of_a_long_path_and_an_executable(void **state)
{
	(void)state;
	committed_files();
	libgit2_writes_the_index(false);
	char longpath[4200];
	size_t n = 0;
	while (n < 4150) {
		memcpy(longpath + n, "abcdefghij/", 11);
		n += 11;
	}
	memcpy(longpath + n, "file", 5);
	assert_true(strlen(longpath) > 0xfff);
	/* run.sh: a file of the work tree, executable; the long path: no file, stat data made up */
	tg_sh("printf '#!/bin/sh\\n' >run.sh && chmod +x run.sh");
	static const add adds_init[] = { { NULL, NULL }, { "run.sh", "#!/bin/sh\n" } };
	add adds[2] = { adds_init[0], adds_init[1] };
	adds[0].path = longpath;
	splice(adds, 2, NULL, 0, true);
	git_index *got = NULL;
	assert_int_equal(git_index_open(&got, index_path), 0);
	const git_index_entry *le = git_index_get_bypath(got, longpath, 0);
	assert_non_null(le);
	assert_int_equal(strlen(le->path), strlen(longpath));
	le = git_index_get_bypath(got, "run.sh", 0);
	assert_non_null(le);
	assert_int_equal(le->mode, GIT_FILEMODE_BLOB_EXECUTABLE);
	git_index_free(got);
	char *ls = tg_capture(NULL, "git ls-files -s run.sh");
	assert_non_null(strstr(ls, "100755 "));
	free(ls);
	tg_sh("git ls-files | grep -q '/file$'");
}

/* ---- indexes left to libgit2 ---- */

static void expect_splice_unsure(void)
{
	size_t len;
	char *data = tg_slurp(&len, index_path);
	static const add adds[] = { { "dir/new.txt", "new\n" } };
	mreg_git_index_entry e;
	entry_for(&e, &adds[0]);
	mreg_buf own = MREG_BUF_INIT;
	mreg_span *spans = (mreg_span *)(uintptr_t)1;
	size_t nspans = 99;
	assert_int_equal(mreg_git_index_splice(&own, &spans, &nspans, data, len, &e, 1, NULL, 0), MREG_GIT_UNSURE);
	assert_null(spans);
	assert_int_equal(nspans, 0);
	mreg_buf_dispose(&own);
	free(data);
}

static unsigned index_version(void)
{
	size_t len;
	char *data = tg_slurp(&len, index_path);
	assert_true(len > 12);
	unsigned v = mreg_git_be32((const unsigned char *)data + 4);
	free(data);
	return v;
}

static void index_of_version_3_is_unsure(void **state)
{
	(void)state;
	committed_files();
	tg_sh("echo n >n.txt && git add -N n.txt");	/* intent to add: an extended flag, so version 3 */
	assert_int_equal(index_version(), 3);
	expect_splice_unsure();
	tg_sh("git reset -q && git update-index --skip-worktree a.txt");
	assert_int_equal(index_version(), 3);
	expect_splice_unsure();
}

static void index_of_version_4_is_unsure(void **state)
{
	(void)state;
	committed_files();
	tg_sh("git update-index --index-version 4");
	assert_int_equal(index_version(), 4);
	expect_splice_unsure();
}

static void index_with_a_merge_stage_is_unsure(void **state)
{
	(void)state;
	committed_files();
	tg_sh("git checkout -q -b side && echo side >a.txt && git commit -q -a -m side\n"
	      "git checkout -q main && echo main >a.txt && git commit -q -a -m main\n"
	      "! git merge -q side >/dev/null 2>&1 && git ls-files -u | grep -q a.txt");
	assert_int_equal(index_version(), 2);
	expect_splice_unsure();
}

/* A split index: the index names its shared part in a "link" extension, which a reader must understand. */
static void index_with_a_required_extension_is_unsure(void **state)
{
	(void)state;
	committed_files();
	tg_sh("git update-index --split-index && echo q >q && git add q && ls .git/sharedindex.* >/dev/null");
	assert_int_equal(index_version(), 2);
	expect_splice_unsure();
}

static void what_is_not_an_index_is_unsure(void **state)
{
	(void)state;
	committed_files();
	tg_puts(index_path, "not an index at all, but long enough");
	expect_splice_unsure();
}

/* ---- cache trees ---- */

typedef struct {
	char hex[64][41];
	size_t n;
} ids;

static int collect(const git_oid *id, void *payload)
{
	ids *x = payload;
	assert_true(x->n < 64);
	git_oid_tostr(x->hex[x->n++], 41, id);
	return 0;
}

static int cmp_hex(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The cache-tree ids of .git/index, sorted, one a line. */
static char *index_trees(void)
{
	size_t len;
	char *data = tg_slurp(&len, index_path);
	ids x;
	x.n = 0;
	assert_int_equal(mreg_git_index_trees(data, len, collect, &x), 0);
	free(data);
	qsort(x.hex, x.n, sizeof(x.hex[0]), cmp_hex);
	mreg_buf b = MREG_BUF_INIT;
	for (size_t i = 0; i < x.n; i++)
		mreg_buf_printf(&b, "%s\n", x.hex[i]);
	return mreg_buf_detach(&b);
}

/* Every tree of tree-ish rev, root included, sorted, one a line (git ls-tree). */
static char *git_trees(const char *rev, const char *except)
{
	return tg_capture(NULL, "{ git rev-parse '%s^{tree}'; git ls-tree -r -t '%s' | awk '$2 == \"tree\" { print $3 }'; } "
				"| grep -v -x -e '%s' | sort", rev, rev, except);
}

static void expect_trees(const char *rev, const char *except)
{
	char *mine = index_trees(), *git = git_trees(rev, except);
	assert_true(strlen(git) > 0);
	assert_string_equal(mine, git);
	free(mine);
	free(git);
}

static void cache_trees_of_git_read_tree(void **state)
{
	(void)state;
	committed_files();
	tg_sh("git read-tree HEAD");
	expect_trees("HEAD", "none");
	char *n = tg_capture(NULL, "git ls-tree -r -t HEAD | grep -c ' tree '");
	assert_int_equal(atoi(n), 2);	/* dir and dir/sub, and the root: three trees */
	free(n);
}

/* After git add, the trees on the changed path are invalid and not listed; git write-tree makes them valid again. */
static void invalid_cache_trees_are_passed_by(void **state)
{
	(void)state;
	committed_files();
	tg_sh("git read-tree HEAD && echo changed >dir/c.txt && git add dir/c.txt");
	char *dir = tg_capture(NULL, "git rev-parse HEAD:dir");
	dir[40] = '\0';
	char *mine = index_trees();
	char *git = tg_capture(NULL, "git ls-tree -r -t HEAD | awk '$2 == \"tree\" { print $3 }' | grep -v -x %s | sort", dir);
	assert_string_equal(mine, git);	/* dir/sub alone */
	free(mine);
	free(git);
	char *written = tg_capture(NULL, "git write-tree");
	written[40] = '\0';
	expect_trees(written, "none");
	free(written);
	free(dir);
}

static void cache_trees_of_versions_3_and_4(void **state)
{
	(void)state;
	committed_files();
	tg_sh("git read-tree HEAD && git update-index --index-version 4");
	assert_int_equal(index_version(), 4);
	expect_trees("HEAD", "none");
	tg_sh("git update-index --index-version 2 && git update-index --skip-worktree a.txt && git write-tree >/dev/null");
	assert_int_equal(index_version(), 3);
	expect_trees("HEAD", "none");
}

static void cache_trees_libgit2_wrote(void **state)
{
	(void)state;
	committed_files();
	libgit2_writes_the_index(true);
	expect_trees("HEAD", "none");
}

static int stop(const git_oid *id, void *payload)
{
	(void)id;
	(*(int *)payload)++;
	return 7;
}

static void cache_tree_walk_stops_when_told_and_reads_nothing_of_garbage(void **state)
{
	(void)state;
	int calls = 0;
	committed_files();
	tg_sh("git read-tree HEAD");
	size_t len;
	char *data = tg_slurp(&len, index_path);
	assert_int_equal(mreg_git_index_trees(data, len, stop, &calls), 7);
	assert_int_equal(calls, 1);
	calls = 0;
	assert_int_equal(mreg_git_index_trees("DIRX", 4, stop, &calls), 0);
	assert_int_equal(mreg_git_index_trees(data, 40, stop, &calls), 0);	/* cut short */
	data[5] = 9;	/* version 0x00090002 */
	assert_int_equal(mreg_git_index_trees(data, len, stop, &calls), 0);
	assert_int_equal(calls, 0);
	free(data);
}

/* ---- fixtures ---- */

static int setup(void **state)
{
	int rc = tg_setup_repo(state);
	snprintf(index_path, sizeof(index_path), "%s/.git/index", tg_cwd);
	return rc;
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, tg_teardown_repo)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(splice_on_an_index_without_a_cache_tree),
		TEST(splice_on_an_index_with_a_cache_tree_drops_it),
		TEST(splice_at_the_ends_and_in_runs),
		TEST(splice_of_nothing_is_the_same_file),
		TEST(splice_replaces_files_and_directories_in_the_way),
		TEST(splice_replaces_what_is_in_the_way_past_a_neighbour),
		TEST(splice_of_a_long_path_and_an_executable),
		TEST(index_of_version_3_is_unsure),
		TEST(index_of_version_4_is_unsure),
		TEST(index_with_a_merge_stage_is_unsure),
		TEST(index_with_a_required_extension_is_unsure),
		TEST(what_is_not_an_index_is_unsure),
		TEST(cache_trees_of_git_read_tree),
		TEST(invalid_cache_trees_are_passed_by),
		TEST(cache_trees_of_versions_3_and_4),
		TEST(cache_trees_libgit2_wrote),
		TEST(cache_tree_walk_stops_when_told_and_reads_nothing_of_garbage),
	};
	return cmocka_run_group_tests(tests, tg_setup_group, tg_teardown_group);
}

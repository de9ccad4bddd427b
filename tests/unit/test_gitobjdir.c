/*
 * Unit tests for fsstore/git/objdir.c (what the object directories hold)
 * and mreg_git_loose_write of packw.c.
 *
 * git is the reference: the packs and their files git wrote (and what git
 * counts as packs in use), the alternates git lists (`git count-objects
 * -v`), the loose objects git wrote (`git cat-file --batch-all-objects`),
 * and what git reads back from a loose object written here (`git cat-file`,
 * `git fsck`); libgit2 reads them too.
 */
#define _GNU_SOURCE
#include "test_gitutil.h"

#include <dirent.h>
#include <limits.h>

static char objdir[600];	/* <repo>/.git/objects, no trailing '/' */
static char packdir[700];	/* <objdir>/pack */

/* ---- packs ---- */

/* Three packs git wrote, one commit each (git repack -d packs what is loose into a new pack). */
static void three_packs(void)
{
	tg_sh("for i in 1 2 3; do echo $i >f$i && git add f$i && git commit -q -m c$i && git repack -q -d || exit 1; done\n"
	      "test $(ls .git/objects/pack/*.pack | wc -l) -eq 3");
}

static int cmp_pack(const void *a, const void *b)
{
	return strcmp(((const mreg_git_packfile *)a)->name, ((const mreg_git_packfile *)b)->name);
}

/* mreg_git_pack_list, sorted by name. */
static mreg_git_packfile *list(size_t *n, bool *midx)
{
	mreg_git_packfile *p = NULL;
	*midx = true;
	assert_int_equal(mreg_git_pack_list(&p, n, midx, packdir), 0);
	if (*n)
		qsort(p, *n, sizeof(*p), cmp_pack);
	return p;
}

/* The names of objects/pack's *.pack files, without ".pack", sorted, one a line (ls). */
static char *ls_packs(void)
{
	return tg_capture(NULL, "cd .git/objects/pack && ls | sed -n 's/\\.pack$//p' | LC_ALL=C sort");
}

static void packs_are_listed_with_what_lies_beside_them(void **state)
{
	(void)state;
	three_packs();
	char *names = ls_packs();
	char first[64], second[64], third[64];
	assert_int_equal(sscanf(names, "%63s %63s %63s", first, second, third), 3);
	/* kept on purpose, promised by a remote, and a pack without its index (not in use yet) */
	tg_sh("cd .git/objects/pack && : >%s.keep && : >%s.promisor && cp %s.pack pack-0000000000000000000000000000000000000000.pack\n"
	      ": >foo.txt && : >.tmp-1-pack && : >tmp_pack_XYZ && : >pack-x.idx",
	      first, second, third);
	size_t n;
	bool midx;
	mreg_git_packfile *p = list(&n, &midx);
	assert_false(midx);
	assert_int_equal(n, 4);
	/* the names git's ls gives, sorted alike: the copy (0000...) first */
	free(names);
	names = ls_packs();
	mreg_buf b = MREG_BUF_INIT;
	for (size_t i = 0; i < n; i++)
		mreg_buf_printf(&b, "%s\n", p[i].name);
	assert_string_equal(b.ptr, names);
	mreg_buf_dispose(&b);
	for (size_t i = 0; i < n; i++) {
		char path[800];
		struct stat sb;
		assert_int_equal(stat(tg_fmt(path, sizeof(path), "%s/%s.pack", packdir, p[i].name), &sb), 0);
		assert_int_equal(p[i].size, sb.st_size);
		assert_int_equal(p[i].mtime_ns, (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec);
		bool copy = !strcmp(p[i].name, "pack-0000000000000000000000000000000000000000");
		assert_int_equal(p[i].idx, !copy);
		assert_int_equal(p[i].kept, !strcmp(p[i].name, first) || !strcmp(p[i].name, second));
	}
	/* what git counts as packs in use: those with an index */
	char *out = tg_capture(NULL, "git count-objects -v 2>/dev/null | sed -n 's/^packs: //p'");
	assert_int_equal(atoi(out), 3);
	free(out);
	free(names);
	free(p);
}

static void multi_pack_index_is_seen(void **state)
{
	(void)state;
	three_packs();
	tg_sh("git multi-pack-index write && ls .git/objects/pack/multi-pack-index >/dev/null");
	size_t n;
	bool midx = false;
	mreg_git_packfile *p = list(&n, &midx);
	assert_true(midx);
	assert_int_equal(n, 3);
	free(p);
}

static void no_pack_directory_is_no_packs(void **state)
{
	(void)state;
	tg_sh("rm -rf .git/objects/pack");
	size_t n = 7;
	bool midx = true;
	mreg_git_packfile *p = (mreg_git_packfile *)(uintptr_t)1;
	assert_int_equal(mreg_git_pack_list(&p, &n, &midx, packdir), 0);
	assert_null(p);
	assert_int_equal(n, 0);
	assert_false(midx);
	tg_sh("mkdir .git/objects/pack");
	p = list(&n, &midx);
	assert_int_equal(n, 0);
	assert_false(midx);
	free(p);
}

/* ---- alternates ---- */

/* The real paths of mreg_git_object_dirs after the first (the repository's own), sorted, one a line. */
static char *alternates_here(size_t *n)
{
	char **dirs = NULL;
	assert_int_equal(mreg_git_object_dirs(&dirs, n, objdir), 0);
	assert_true(*n >= 1);
	assert_string_equal(dirs[0], objdir);
	char *lines[20];
	for (size_t i = 1; i < *n; i++) {
		char real[PATH_MAX];
		if (!realpath(dirs[i], real))
			fail_msg("no such directory '%s'", dirs[i]);
		lines[i - 1] = strdup(real);
	}
	for (size_t i = 1; i < *n; i++)
		for (size_t j = i; j > 1 && strcmp(lines[j - 2], lines[j - 1]) > 0; j--) {
			char *t = lines[j - 2];
			lines[j - 2] = lines[j - 1];
			lines[j - 1] = t;
		}
	mreg_buf b = MREG_BUF_INIT;
	for (size_t i = 1; i < *n; i++) {
		mreg_buf_printf(&b, "%s\n", lines[i - 1]);
		free(lines[i - 1]);
	}
	for (size_t i = 0; i < *n; i++)
		free(dirs[i]);
	free(dirs);
	return mreg_buf_detach(&b);
}

/* Absolute and relative alternates (relative to objects/), comments and blank lines: the directories git lists. */
static void alternates_are_the_directories_git_lists(void **state)
{
	(void)state;
	char info[700];
	tg_sh("for r in one two; do git init -q ../$r && git -C ../$r commit -q --allow-empty -m $r || exit 1; done");
	tg_fmt(info, sizeof(info), "%s/info/alternates", objdir);
	char text[1200];
	tg_puts(info, tg_fmt(text, sizeof(text), "# borrowed objects\n\n%s/one/.git/objects\n../../../two/.git/objects\n", tg_work));
	size_t n;
	char *mine = alternates_here(&n);
	assert_int_equal(n, 3);
	char *git = tg_capture(NULL, "git count-objects -v | sed -n 's/^alternate: //p' | xargs -n 1 realpath | LC_ALL=C sort");
	assert_string_equal(mine, git);
	free(mine);
	free(git);
	/* libgit2 reads the objects of both through them */
	git_repository *repo = NULL;
	git_object *obj = NULL;
	assert_int_equal(git_repository_open(&repo, tg_cwd), 0);
	char *ids = tg_capture(NULL, "git -C ../one rev-parse HEAD && git -C ../two rev-parse HEAD");
	git_oid id = tg_oid(strtok(ids, "\n"));
	assert_int_equal(git_object_lookup(&obj, repo, &id, GIT_OBJECT_COMMIT), 0);
	git_object_free(obj);
	id = tg_oid(strtok(NULL, "\n"));
	assert_int_equal(git_object_lookup(&obj, repo, &id, GIT_OBJECT_COMMIT), 0);
	git_object_free(obj);
	free(ids);
	git_repository_free(repo);
}

static void no_alternates_is_the_directory_alone_and_sixteen_at_most(void **state)
{
	(void)state;
	size_t n;
	char *none = alternates_here(&n);
	assert_int_equal(n, 1);
	assert_string_equal(none, "");
	free(none);
	char info[700];
	mreg_buf b = MREG_BUF_INIT;
	for (int i = 0; i < 20; i++)
		mreg_buf_printf(&b, "%s/pack\n", objdir);	/* any directory will do */
	tg_puts(tg_fmt(info, sizeof(info), "%s/info/alternates", objdir), b.ptr);
	mreg_buf_dispose(&b);
	char *many = alternates_here(&n);
	assert_int_equal(n, 16);
	free(many);
}

/* ---- loose objects ---- */

typedef struct {
	mreg_buf ids;		/* the ids seen, one a line */
	int nulls;		/* files that are not objects */
	char null_name[64];
	int calls, stop_at;
} walk;

static int seen(const git_oid *id, const char *path, const char *name, void *payload)
{
	walk *w = payload;
	w->calls++;
	if (!id) {
		w->nulls++;
		snprintf(w->null_name, sizeof(w->null_name), "%s", name);
		return 0;
	}
	/* the path is the object's, as mreg_git_loose_path gives it */
	char *want = mreg_git_loose_path(objdir, id), hex[41];
	assert_string_equal(path, want);
	free(want);
	git_oid_tostr(hex, sizeof(hex), id);
	assert_string_equal(name, hex + 2);
	mreg_buf_printf(&w->ids, "%s\n", hex);
	return w->calls == w->stop_at ? 99 : 0;
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of s (each ending in a newline) put in byte order, in place. */
static void sort_lines(char *s)
{
	size_t n = 0, len = strlen(s);
	for (size_t i = 0; i < len; i++)
		n += s[i] == '\n';
	char **line = calloc(n + 1, sizeof(*line)), *copy = strdup(s);
	assert_non_null(line);
	assert_non_null(copy);
	size_t k = 0;
	for (char *p = copy, *nl; k < n && (nl = strchr(p, '\n')); p = nl + 1) {
		*nl = '\0';
		line[k++] = p;
	}
	qsort(line, k, sizeof(*line), cmp_line);
	s[0] = '\0';
	for (size_t i = 0; i < k; i++) {
		strcat(s, line[i]);
		strcat(s, "\n");
	}
	free(line);
	free(copy);
}

static void loose_objects_are_the_ones_git_wrote(void **state)
{
	(void)state;
	tg_sh("mkdir d && echo a >a && echo b >d/b && git add . && git commit -q -m one && echo c >a && git commit -q -a -m two\n"
	      "test $(git count-objects -v | sed -n 's/^count: //p') -eq 8");
	char *git = tg_capture(NULL, "git cat-file --batch-all-objects --batch-check='%%(objectname)'");
	static const char *const forms[] = { "", "/" };
	for (size_t f = 0; f < 2; f++) {
		char dir[700];
		walk w;
		memset(&w, 0, sizeof(w));
		mreg_buf_init(&w.ids, 0);
		assert_int_equal(mreg_git_loose_each(tg_fmt(dir, sizeof(dir), "%s%s", objdir, forms[f]), false, seen, &w), 0);
		assert_int_equal(w.nulls, 0);
		/* the same ids: a directory lists its names in the file system's order, git sorts them */
		sort_lines(w.ids.ptr);
		assert_string_equal(w.ids.ptr, git);
		mreg_buf_dispose(&w.ids);
	}
	free(git);
}

/* A temporary file in a fan-out directory is reported with no id; empty fan-out directories go when asked. */
static void temporary_files_have_no_id_and_empty_fan_outs_go(void **state)
{
	(void)state;
	tg_sh("echo a >a && git add a && git commit -q -m one");
	char *hex = tg_capture(NULL, "git rev-parse HEAD");
	/* two fan-out directories git has put nothing in, made empty */
	char *empty = tg_capture(NULL, "cd .git/objects && for d in 00 01 02 03 04 05 fe ff; do test -e $d || echo $d; done | head -n 2 | tr '\\n' ' '");
	assert_int_equal(strlen(empty), 6);
	tg_sh("cd .git/objects && mkdir %s && : >%.2s/tmp_obj_AbCd12", empty, hex);
	walk w;
	memset(&w, 0, sizeof(w));
	mreg_buf_init(&w.ids, 0);
	assert_int_equal(mreg_git_loose_each(objdir, true, seen, &w), 0);
	assert_int_equal(w.nulls, 1);
	assert_string_equal(w.null_name, "tmp_obj_AbCd12");
	char *git = tg_capture(NULL, "git cat-file --batch-all-objects --batch-check='%%(objectname)'");
	sort_lines(w.ids.ptr);	/* two objects in one fan-out come in the file system's order */
	assert_string_equal(w.ids.ptr, git);
	free(git);
	mreg_buf_dispose(&w.ids);
	/* the empty ones are gone; the others, and info/ and pack/, stay */
	tg_sh("cd .git/objects && for d in %s; do ! test -e $d || exit 1; done\n"
	      "test -f %.2s/tmp_obj_AbCd12 && test -d info && test -d pack\n"
	      "git cat-file --batch-all-objects --batch-check >/dev/null",
	      empty, hex);
	free(empty);
	free(hex);
}

static void loose_walk_stops_when_told(void **state)
{
	(void)state;
	tg_sh("echo a >a && echo b >b && git add . && git commit -q -m one");
	walk w;
	memset(&w, 0, sizeof(w));
	mreg_buf_init(&w.ids, 0);
	w.stop_at = 2;
	assert_int_equal(mreg_git_loose_each(objdir, false, seen, &w), 99);
	assert_int_equal(w.calls, 2);
	mreg_buf_dispose(&w.ids);
}

static void loose_paths_are_where_git_puts_objects(void **state)
{
	(void)state;
	tg_sh("echo a >a && git add a && git commit -q -m one");
	char *ids = tg_capture(NULL, "git cat-file --batch-all-objects --batch-check='%%(objectname)'");
	for (char *hex = strtok(ids, "\n"); hex; hex = strtok(NULL, "\n")) {
		git_oid id = tg_oid(hex);
		char want[800], dir[700];
		struct stat sb;
		tg_fmt(want, sizeof(want), "%s/%.2s/%s", objdir, hex, hex + 2);
		assert_int_equal(stat(want, &sb), 0);
		char *p = mreg_git_loose_path(objdir, &id);
		assert_string_equal(p, want);
		free(p);
		p = mreg_git_loose_path(tg_fmt(dir, sizeof(dir), "%s/", objdir), &id);
		assert_string_equal(p, want);
		free(p);
	}
	free(ids);
}

/* Objects written loose here (a fan-out directory made where there was none): git and libgit2 read them. */
static void loose_objects_written_here_are_read_by_git(void **state)
{
	(void)state;
	tg_sh("rm -rf .git/objects/[0-9a-f][0-9a-f]");
	const char blob[] = "a model's bytes\n";
	git_oid bid, tid, cid;
	mreg_git_hash(&bid, GIT_OBJECT_BLOB, blob, sizeof(blob) - 1);
	mreg_git_tree_entry e;
	size_t n = 0;
	mreg_git_tree_entry x;
	mreg_git_tree_entry_init(&x, "model.pt", 8, false, &bid);
	mreg_git_tree_set(&e, &n, &x);
	mreg_buf tree = MREG_BUF_INIT, commit = MREG_BUF_INIT;
	assert_int_equal(mreg_git_tree_write(&tree, &e, n), 0);
	mreg_git_hash(&tid, GIT_OBJECT_TREE, tree.ptr, tree.size);
	assert_int_equal(mreg_git_commit_write(&commit, &tid, NULL, "t", "t@t", 1700000000, "register\n"), 0);
	mreg_git_hash(&cid, GIT_OBJECT_COMMIT, commit.ptr, commit.size);
	const struct {
		git_oid *id;
		git_object_t type;
		mreg_buf *b;
		const char *raw;
		size_t len;
	} objs[] = {
		{ &bid, GIT_OBJECT_BLOB, NULL, blob, sizeof(blob) - 1 },
		{ &tid, GIT_OBJECT_TREE, &tree, NULL, 0 },
		{ &cid, GIT_OBJECT_COMMIT, &commit, NULL, 0 },
	};
	for (size_t i = 0; i < 3; i++) {
		char *path = mreg_git_loose_path(objdir, objs[i].id);
		const char *data = objs[i].b ? objs[i].b->ptr : objs[i].raw;
		size_t len = objs[i].b ? objs[i].b->size : objs[i].len;
		assert_int_equal(mreg_git_loose_write(path, objs[i].type, data, len, i == 0), 0);
		struct stat sb;
		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0444);	/* read-only, as git keeps them */
		free(path);
		char hex[41];
		git_oid_tostr(hex, sizeof(hex), objs[i].id);
		size_t got_len;
		char *type = tg_capture(NULL, "git cat-file -t %s", hex);
		assert_string_equal(type, i == 0 ? "blob\n" : i == 1 ? "tree\n" : "commit\n");
		free(type);
		char *got = tg_capture(&got_len, "git cat-file %s %s", i == 0 ? "blob" : i == 1 ? "tree" : "commit", hex);
		assert_int_equal(got_len, len);
		assert_memory_equal(got, data, len);
		free(got);
	}
	char chex[41];
	git_oid_tostr(chex, sizeof(chex), &cid);
	tg_sh("git update-ref refs/heads/main %s && git fsck --strict --no-dangling 2>&1 && git cat-file -p HEAD:model.pt | grep -q model",
	      chex);
	/* libgit2 too */
	git_repository *repo = NULL;
	git_odb *odb = NULL;
	git_odb_object *o = NULL;
	assert_int_equal(git_repository_open(&repo, tg_cwd), 0);
	assert_int_equal(git_repository_odb(&odb, repo), 0);
	assert_int_equal(git_odb_read(&o, odb, &bid), 0);
	assert_int_equal(git_odb_object_size(o), sizeof(blob) - 1);
	assert_memory_equal(git_odb_object_data(o), blob, sizeof(blob) - 1);
	git_odb_object_free(o);
	git_odb_free(odb);
	git_repository_free(repo);
	mreg_buf_dispose(&tree);
	mreg_buf_dispose(&commit);
}

/* ---- fixtures ---- */

static int setup(void **state)
{
	int rc = tg_setup_repo(state);
	snprintf(objdir, sizeof(objdir), "%s/.git/objects", tg_cwd);
	snprintf(packdir, sizeof(packdir), "%s/pack", objdir);
	return rc;
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, tg_teardown_repo)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(packs_are_listed_with_what_lies_beside_them),
		TEST(multi_pack_index_is_seen),
		TEST(no_pack_directory_is_no_packs),
		TEST(alternates_are_the_directories_git_lists),
		TEST(no_alternates_is_the_directory_alone_and_sixteen_at_most),
		TEST(loose_objects_are_the_ones_git_wrote),
		TEST(temporary_files_have_no_id_and_empty_fan_outs_go),
		TEST(loose_walk_stops_when_told),
		TEST(loose_paths_are_where_git_puts_objects),
		TEST(loose_objects_written_here_are_read_by_git),
	};
	return cmocka_run_group_tests(tests, tg_setup_group, tg_teardown_group);
}

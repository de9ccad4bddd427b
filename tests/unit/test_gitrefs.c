/*
 * Unit tests for fsstore/git/refs.c: HEAD, branches, packed-refs, reflogs
 * and linked work trees, read and written by hand.
 *
 * libgit2 is the reference, on repositories git made: what HEAD or a ref
 * reads as here must be what libgit2 resolves (git_reference_name_to_id,
 * git_repository_head), and where this code answers MREG_GIT_UNSURE the
 * test says why that is the right answer (libgit2 refuses, or resolves by
 * a road this code does not take). Reflog lines written here must be read
 * back by git_reflog_read as written; git's own reflogs must be walked
 * line for line as libgit2 reads them.
 */
#include "test_gitutil.h"

static char gitdir[600];	/* <repo>/.git/, as refs.c wants it */

static git_repository *open_repo(void)
{
	git_repository *repo = NULL;
	if (git_repository_open(&repo, tg_cwd) != 0)
		fail_msg("cannot open '%s': %s", tg_cwd, git_error_last()->message);
	return repo;
}

/* A file under .git/ written whole. */
static void put_git(const char *rel, const char *text)
{
	char path[800];
	tg_puts(tg_fmt(path, sizeof(path), "%s%s", gitdir, rel), text);
}

/* Two commits on main; the first one's id into first (may be NULL), the second's into second. */
static void two_commits(git_oid *first, git_oid *second)
{
	tg_sh("echo one >a && git add a && git commit -q -m one && echo two >a && git commit -q -a -m two");
	if (first)
		tg_rev(first, "HEAD~1");
	if (second)
		tg_rev(second, "HEAD");
}

/* What mreg_git_head says, with or without a branch wanted: rc, the id (when 0) and the branch. */
typedef struct {
	int rc;
	git_oid id;
	char branch[256];
} head_answer;

static head_answer head_of(bool want_branch)
{
	head_answer a;
	char hex[41];
	memset(&a, 0, sizeof(a));
	memset(hex, 'x', sizeof(hex));
	a.rc = mreg_git_head(hex, want_branch ? a.branch : NULL, sizeof(a.branch), gitdir);
	if (a.rc == 0) {
		assert_int_equal(hex[40], '\0');
		assert_int_equal(git_oid_fromstr(&a.id, hex), 0);
	} else {
		assert_int_equal(a.rc, MREG_GIT_UNSURE);
	}
	return a;
}

/* HEAD as libgit2 resolves it: 0 and the id, or libgit2's error. */
static int libgit2_head(git_oid *out)
{
	git_repository *repo = open_repo();
	int rc = git_reference_name_to_id(out, repo, "HEAD");
	git_repository_free(repo);
	return rc;
}

/* mreg's answer, when it gives one, is libgit2's; the answer. */
static head_answer expect_head_as_libgit2(bool want_branch)
{
	head_answer a = head_of(want_branch);
	git_oid want;
	int theirs = libgit2_head(&want);
	if (a.rc == 0) {
		if (theirs != 0)
			fail_msg("HEAD read here, libgit2 refuses it: %s", git_error_last()->message);
		assert_true(git_oid_equal(&a.id, &want));
	}
	return a;
}

/* ---- HEAD ---- */

static void head_through_a_loose_branch_is_libgit2s(void **state)
{
	(void)state;
	git_oid second;
	two_commits(NULL, &second);
	head_answer a = expect_head_as_libgit2(false);
	assert_int_equal(a.rc, 0);
	a = expect_head_as_libgit2(true);
	assert_int_equal(a.rc, 0);
	assert_true(git_oid_equal(&a.id, &second));
	/* the branch's full name, as libgit2 names HEAD's target */
	git_repository *repo = open_repo();
	git_reference *head = NULL;
	assert_int_equal(git_repository_head(&head, repo), 0);
	assert_string_equal(a.branch, git_reference_name(head));
	git_reference_free(head);
	git_repository_free(repo);
}

static void head_through_a_packed_branch_is_libgit2s(void **state)
{
	(void)state;
	git_oid second;
	two_commits(NULL, &second);
	tg_sh("git pack-refs --all && ! test -e .git/refs/heads/main && grep -q ' refs/heads/main$' .git/packed-refs");
	head_answer a = expect_head_as_libgit2(true);
	assert_int_equal(a.rc, 0);
	assert_true(git_oid_equal(&a.id, &second));
	assert_string_equal(a.branch, "refs/heads/main");
	/* a peeled tag line and other branches around it change nothing */
	tg_sh("git tag -a -m t v1 HEAD~1 && git branch other HEAD~1 && git pack-refs --all && grep -q '^\\^' .git/packed-refs");
	a = expect_head_as_libgit2(true);
	assert_int_equal(a.rc, 0);
	assert_true(git_oid_equal(&a.id, &second));
}

static void detached_head_is_read_unless_a_branch_is_wanted(void **state)
{
	(void)state;
	git_oid first;
	two_commits(&first, NULL);
	tg_sh("git checkout -q --detach HEAD~1");
	git_repository *repo = open_repo();
	assert_int_equal(git_repository_head_detached(repo), 1);
	git_repository_free(repo);
	head_answer a = expect_head_as_libgit2(false);
	assert_int_equal(a.rc, 0);
	assert_true(git_oid_equal(&a.id, &first));
	a = head_of(true);
	assert_int_equal(a.rc, MREG_GIT_UNSURE);
}

/* HEAD naming a branch that is not there (a fresh repository, or a branch deleted): libgit2 calls it unborn. */
static void head_naming_a_missing_branch_is_unsure(void **state)
{
	(void)state;
	git_repository *repo = open_repo();
	git_reference *head = NULL;
	assert_int_equal(git_repository_head(&head, repo), GIT_EUNBORNBRANCH);
	git_repository_free(repo);
	assert_int_equal(head_of(false).rc, MREG_GIT_UNSURE);
	assert_int_equal(head_of(true).rc, MREG_GIT_UNSURE);
	two_commits(NULL, NULL);
	tg_sh("git symbolic-ref HEAD refs/heads/gone");
	assert_int_equal(head_of(false).rc, MREG_GIT_UNSURE);
	assert_int_equal(head_of(true).rc, MREG_GIT_UNSURE);
}

/* A branch buffer too small for the name: unsure, not cut. */
static void head_branch_that_does_not_fit_is_unsure(void **state)
{
	(void)state;
	char hex[41], branch[15];
	two_commits(NULL, NULL);
	assert_int_equal(mreg_git_head(hex, branch, sizeof(branch), gitdir), MREG_GIT_UNSURE);	/* refs/heads/main: 15 bytes and a NUL */
	char fits[16];
	assert_int_equal(mreg_git_head(hex, fits, sizeof(fits), gitdir), 0);
	assert_string_equal(fits, "refs/heads/main");
}

/*
 * HEAD naming branches of odd names, each a loose file holding the commit:
 * where this code answers, libgit2 must resolve HEAD to the same commit.
 * Names outside the plain ones ('..', a space, a leading '.', a tag, bytes
 * above 0x7f) must be unsure. Some plain names git itself refuses (a
 * component ending in ".lock" or starting with '.', a name ending in '.',
 * two slashes); libgit2 1.5 resolves HEAD through them all the same, and
 * libgit2 is what this code answers for.
 */
static void head_naming_odd_branches_agrees_with_libgit2(void **state)
{
	(void)state;
	static const struct {
		const char *ref;
		bool plain;	/* this code answers */
	} refs[] = {
		{ "refs/heads/a..b", false },
		{ "refs/heads/with space", false },
		{ "refs/heads/.hidden", false },
		{ "refs/heads/\xc3\xbc", false },
		{ "refs/heads/a@{1}", false },
		{ "refs/heads/a~1", false },
		{ "refs/heads/a:b", false },
		{ "refs/tags/v1", false },
		{ "refs/heads/nested/deep/name", true },
		{ "refs/heads/-dash", true },
		{ "refs/heads/UPPER_case-0.9", true },
		{ "refs/heads/x/.hidden", true },
		{ "refs/heads/x.lock", true },
		{ "refs/heads/a.", true },
		{ "refs/heads/a//b", true },
	};
	git_oid second;
	char hex[41], text[300];
	two_commits(NULL, &second);
	git_oid_tostr(hex, sizeof(hex), &second);
	for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
		put_git(refs[i].ref, tg_fmt(text, sizeof(text), "%s\n", hex));
		put_git("HEAD", tg_fmt(text, sizeof(text), "ref: %s\n", refs[i].ref));
		head_answer a = head_of(true);
		if (refs[i].plain && a.rc != 0)
			fail_msg("HEAD -> '%s' is unsure", refs[i].ref);
		if (!refs[i].plain && a.rc == 0)
			fail_msg("HEAD -> '%s' is read", refs[i].ref);
		git_oid want;
		int theirs = libgit2_head(&want);
		if (a.rc == 0 && theirs != 0)
			fail_msg("HEAD -> '%s' read here, libgit2 refuses it: %s", refs[i].ref, git_error_last()->message);
		if (a.rc == 0) {
			assert_true(git_oid_equal(&a.id, &want));
			assert_string_equal(a.branch, refs[i].ref);
		}
	}
}

/* HEAD that is neither a branch nor an id: unsure. */
static void head_of_other_forms_is_unsure(void **state)
{
	(void)state;
	static const char *const heads[] = {
		"ref: refs/heads/main",		/* no newline */
		"ref:refs/heads/main\n",
		"ref: refs/remotes/origin/main\n",
		"0123456789abcdef0123456789abcdef01234567",	/* an id without its newline */
		"0123456789ABCDEF0123456789abcdef01234567\n",
		"garbage\n",
		"",
	};
	two_commits(NULL, NULL);
	tg_sh("git update-ref refs/remotes/origin/main HEAD");
	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		put_git("HEAD", heads[i]);
		if (head_of(false).rc != MREG_GIT_UNSURE)
			fail_msg("HEAD '%s' is read", heads[i]);
	}
}

/* ---- names ---- */

/*
 * Plain names, as the header defines them (refs/heads/, then letters,
 * digits and ._-/, no "..", no leading '/' or '.'); the ordinary ones are
 * names `git check-ref-format` accepts.
 */
static void plain_ref_names_are_the_header_s(void **state)
{
	(void)state;
	static const struct {
		const char *ref;
		bool plain;
	} refs[] = {
		{ "refs/heads/main", true },
		{ "refs/heads/a/b/c", true },
		{ "refs/heads/v1.2-rc_3", true },
		{ "refs/heads/x/.y", true },
		{ "refs/heads/x.lock", true },
		{ "refs/heads/a//b", true },
		{ "refs/heads/", false },
		{ "refs/heads", false },
		{ "refs/heads//main", false },
		{ "refs/heads/.main", false },
		{ "refs/heads/a..b", false },
		{ "refs/heads/a b", false },
		{ "refs/heads/a:b", false },
		{ "refs/heads/a\\b", false },
		{ "refs/heads/\xc3\xa9", false },
		{ "refs/tags/v1", false },
		{ "HEAD", false },
		{ "", false },
	};
	for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
		if (mreg_git_ref_plain(refs[i].ref) != refs[i].plain)
			fail_msg("'%s' plain: %d", refs[i].ref, !refs[i].plain);
		if (refs[i].plain && i < 3)
			tg_sh("git check-ref-format '%s'", refs[i].ref);
	}
}

/* ---- refs ---- */

/* mreg_git_ref_read: rc, and the id it gives. */
static int ref_read(git_oid *out, const char *ref)
{
	memset(out, 0xab, sizeof(*out));
	int rc = mreg_git_ref_read(out, gitdir, ref);
	assert_true(rc == 0 || rc == MREG_GIT_UNSURE);
	return rc;
}

static void expect_ref_as_libgit2(const char *ref)
{
	git_oid got, want;
	git_repository *repo = open_repo();
	assert_int_equal(git_reference_name_to_id(&want, repo, ref), 0);
	git_repository_free(repo);
	assert_int_equal(ref_read(&got, ref), 0);
	assert_true(git_oid_equal(&got, &want));
}

static void refs_loose_and_packed_read_as_libgit2_reads_them(void **state)
{
	(void)state;
	two_commits(NULL, NULL);
	tg_sh("git branch side HEAD~1 && git tag light HEAD~1");
	expect_ref_as_libgit2("refs/heads/main");
	expect_ref_as_libgit2("refs/heads/side");
	expect_ref_as_libgit2("refs/tags/light");
	tg_sh("git pack-refs --all && ! test -e .git/refs/heads/side");
	expect_ref_as_libgit2("refs/heads/main");
	expect_ref_as_libgit2("refs/heads/side");
	expect_ref_as_libgit2("refs/tags/light");
	/* a loose file beats the packed line, as in git */
	tg_sh("git update-ref refs/heads/side HEAD && test -e .git/refs/heads/side");
	expect_ref_as_libgit2("refs/heads/side");
	/* an id without its newline is still the id */
	char *hex = tg_capture(NULL, "git rev-parse HEAD~1 | tr -d '\\n'");
	put_git("refs/heads/bare", hex);
	free(hex);
	expect_ref_as_libgit2("refs/heads/bare");
}

static void unborn_ref_reads_as_zero(void **state)
{
	(void)state;
	git_oid got, want;
	two_commits(NULL, NULL);
	git_repository *repo = open_repo();
	assert_int_equal(git_reference_name_to_id(&want, repo, "refs/heads/nope"), GIT_ENOTFOUND);
	git_repository_free(repo);
	assert_int_equal(ref_read(&got, "refs/heads/nope"), 0);
	assert_true(git_oid_is_zero(&got));
	tg_sh("git pack-refs --all");
	assert_int_equal(ref_read(&got, "refs/heads/nope"), 0);
	assert_true(git_oid_is_zero(&got));
}

/* A loose ref that is not an id (garbage, a short id, a symbolic ref): unsure. */
static void loose_ref_not_an_id_is_unsure(void **state)
{
	(void)state;
	static const char *const texts[] = {
		"garbage\n",
		"0123456789abcdef0123456789abcdef0123456\n",
		"ref: refs/heads/main\n",
		"0123456789abcdef0123456789abcdef01234567 and more\n",
		"",
	};
	git_oid got;
	two_commits(NULL, NULL);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		put_git("refs/heads/odd", texts[i]);
		if (ref_read(&got, "refs/heads/odd") != MREG_GIT_UNSURE)
			fail_msg("'%s' read as an id", texts[i]);
	}
}

/*
 * packed-refs whose line for the ref this code cannot read: libgit2
 * refuses the file (garbage) or reads the id (upper-case hex); zero, "no
 * such ref", is neither.
 */
static void packed_ref_line_not_read_here_is_unsure(void **state)
{
	(void)state;
	git_oid got, want, second;
	char text[200], upper[41];
	two_commits(NULL, &second);
	put_git("packed-refs", "# pack-refs with: peeled fully-peeled sorted \n"
			       "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz refs/heads/side\n");
	git_repository *repo = open_repo();
	int theirs = git_reference_name_to_id(&want, repo, "refs/heads/side");
	git_repository_free(repo);
	assert_true(theirs != 0 && theirs != GIT_ENOTFOUND);
	assert_int_equal(ref_read(&got, "refs/heads/side"), MREG_GIT_UNSURE);

	git_oid_tostr(upper, sizeof(upper), &second);
	for (char *c = upper; *c; c++)
		if (*c >= 'a' && *c <= 'f')
			*c = (char)(*c - 'a' + 'A');
	put_git("packed-refs", tg_fmt(text, sizeof(text), "# pack-refs with: peeled fully-peeled sorted \n"
				      "%s refs/heads/side\n", upper));
	repo = open_repo();
	assert_int_equal(git_reference_name_to_id(&want, repo, "refs/heads/side"), 0);
	git_repository_free(repo);
	assert_true(git_oid_equal(&want, &second));
	int mine = ref_read(&got, "refs/heads/side");
	assert_true(mine == MREG_GIT_UNSURE || (mine == 0 && git_oid_equal(&got, &want)));
}

/* ---- reflogs ---- */

typedef struct {
	const char *msg;	/* as given */
	const char *read;	/* as libgit2 reads it back */
} reflog_case;

/* Lines appended here, read back by git_reflog_read: ids, who, when, message. */
static void expect_reflog_read_back(const reflog_case *cases, size_t n)
{
	git_oid first, second;
	two_commits(&first, &second);
	git_oid ids[3] = { first, second, first };
	git_oid zero;
	memset(&zero, 0, sizeof(zero));
	for (size_t i = 0; i < n; i++) {
		mreg_git_ident who = { "Ann O\xc3\xbfmous", "ann@example.com", 1700000000 + (int64_t)i };
		mreg_git_reflog_append(gitdir, "refs/heads/newbranch", i ? &ids[(i - 1) % 3] : &zero, &ids[i % 3], &who,
				       cases[i].msg);
	}
	git_repository *repo = open_repo();
	git_reflog *log = NULL;
	assert_int_equal(git_reflog_read(&log, repo, "refs/heads/newbranch"), 0);
	assert_int_equal(git_reflog_entrycount(log), n);
	for (size_t i = 0; i < n; i++) {
		const git_reflog_entry *e = git_reflog_entry_byindex(log, n - 1 - i);	/* newest first */
		assert_true(git_oid_equal(git_reflog_entry_id_old(e), i ? &ids[(i - 1) % 3] : &zero));
		assert_true(git_oid_equal(git_reflog_entry_id_new(e), &ids[i % 3]));
		const git_signature *sig = git_reflog_entry_committer(e);
		assert_string_equal(sig->name, "Ann O\xc3\xbfmous");
		assert_string_equal(sig->email, "ann@example.com");
		assert_int_equal(sig->when.time, 1700000000 + (int64_t)i);
		assert_int_equal(sig->when.offset, 0);
		assert_non_null(git_reflog_entry_message(e));
		assert_string_equal(git_reflog_entry_message(e), cases[i].read);
	}
	git_reflog_free(log);
	git_repository_free(repo);
	/* and git reads them too, once the branch is there */
	char hex[41], text[64];
	git_oid_tostr(hex, sizeof(hex), &ids[(n - 1) % 3]);
	put_git("refs/heads/newbranch", tg_fmt(text, sizeof(text), "%s\n", hex));
	char *out = tg_capture(NULL, "git reflog show --format=%%gs refs/heads/newbranch | wc -l");
	assert_int_equal(atoi(out), (int)n);
	free(out);
}

static void reflog_lines_read_back_through_libgit2(void **state)
{
	(void)state;
	static const reflog_case cases[] = {
		{ "branch: Created from HEAD", "branch: Created from HEAD" },
		{ "commit: register square8_2p:1", "commit: register square8_2p:1" },
		{ "a message\nof three\nlines", "a message of three lines" },
		{ "tab\tinside", "tab\tinside" },
	};
	expect_reflog_read_back(cases, sizeof(cases) / sizeof(cases[0]));
}

/* A message ending in a newline reads back as libgit2 would have written it: trailing whitespace trimmed. */
static void reflog_message_ending_in_a_newline_reads_back_trimmed(void **state)
{
	(void)state;
	static const reflog_case cases[] = {
		{ "commit: one", "commit: one" },
		{ "commit: two\n", "commit: two" },
	};
	expect_reflog_read_back(cases, sizeof(cases) / sizeof(cases[0]));
}

/* git's own reflog of HEAD (commits, a checkout, a reset), walked line by line as libgit2 reads it. */
static void reflog_next_walks_git_s_reflog(void **state)
{
	(void)state;
	two_commits(NULL, NULL);
	tg_sh("git checkout -q -b side HEAD~1 && echo three >b && git add b && git commit -q -m 'three\n\nbody'\n"
	      "git checkout -q main && git reset -q --hard HEAD~1 && git commit -q --allow-empty -m four");
	char path[700];
	size_t len;
	char *data = tg_slurp(&len, tg_fmt(path, sizeof(path), "%slogs/HEAD", gitdir));
	git_repository *repo = open_repo();
	git_reflog *log = NULL;
	assert_int_equal(git_reflog_read(&log, repo, "HEAD"), 0);
	size_t n = git_reflog_entrycount(log), k = 0;
	assert_true(n >= 7);
	const char *p = data, *end = data + len;
	git_oid old, new_id;
	while (mreg_git_reflog_next(&old, &new_id, &p, end)) {
		assert_true(k < n);
		const git_reflog_entry *e = git_reflog_entry_byindex(log, n - 1 - k);
		assert_true(git_oid_equal(&old, git_reflog_entry_id_old(e)));
		assert_true(git_oid_equal(&new_id, git_reflog_entry_id_new(e)));
		k++;
	}
	assert_int_equal(k, n);
	assert_ptr_equal(p, end);
	git_reflog_free(log);
	git_repository_free(repo);
	/* lines too short to be one are passed by; a last line without its newline is read */
	mreg_buf b = MREG_BUF_INIT;
	mreg_buf_puts(&b, "short line\n\n");
	mreg_buf_put(&b, data, len - 1);
	p = b.ptr;
	end = b.ptr + b.size;
	k = 0;
	while (mreg_git_reflog_next(&old, &new_id, &p, end))
		k++;
	assert_int_equal(k, n);
	mreg_buf_dispose(&b);
	free(data);
}

/* ---- linked work trees ---- */

typedef struct {
	char name[8][64];
	bool detached[8];
	git_oid id[8];
	size_t n;
} worktrees;

static int collect_worktree(const git_oid *detached, const char *head, const char *log, const char *index, void *payload)
{
	worktrees *w = payload;
	char dir[700];
	struct stat sb;
	assert_true(w->n < 8);
	/* <gitdir>worktrees/<name>/HEAD, logs/HEAD and index beside it */
	const char *slash = strrchr(head, '/');
	assert_non_null(slash);
	assert_string_equal(slash, "/HEAD");
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - head), head);
	const char *name = strrchr(dir, '/') + 1;
	char want[800];
	assert_string_equal(head, tg_fmt(want, sizeof(want), "%sworktrees/%s/HEAD", gitdir, name));
	assert_string_equal(log, tg_fmt(want, sizeof(want), "%sworktrees/%s/logs/HEAD", gitdir, name));
	assert_string_equal(index, tg_fmt(want, sizeof(want), "%sworktrees/%s/index", gitdir, name));
	assert_int_equal(stat(head, &sb), 0);
	assert_int_equal(stat(log, &sb), 0);
	assert_int_equal(stat(index, &sb), 0);
	snprintf(w->name[w->n], sizeof(w->name[0]), "%s", name);
	w->detached[w->n] = detached != NULL;
	if (detached)
		w->id[w->n] = *detached;
	w->n++;
	return 0;
}

static void worktrees_detached_and_on_a_branch_as_libgit2_sees_them(void **state)
{
	(void)state;
	two_commits(NULL, NULL);
	tg_sh("git worktree add -q --detach ../wt1 HEAD~1 && git worktree add -q -b feat ../wt2");
	worktrees w;
	memset(&w, 0, sizeof(w));
	assert_int_equal(mreg_git_worktree_each(gitdir, collect_worktree, &w), 0);
	assert_int_equal(w.n, 2);
	git_repository *repo = open_repo();
	git_strarray names = { 0 };
	assert_int_equal(git_worktree_list(&names, repo), 0);
	assert_int_equal(names.count, 2);
	for (size_t i = 0; i < w.n; i++) {
		git_worktree *wt = NULL;
		git_repository *wrepo = NULL;
		assert_int_equal(git_worktree_lookup(&wt, repo, w.name[i]), 0);
		assert_int_equal(git_repository_open_from_worktree(&wrepo, wt), 0);
		int detached = git_repository_head_detached(wrepo);
		assert_int_equal(detached, w.detached[i]);
		if (detached) {
			git_oid want;
			assert_int_equal(git_reference_name_to_id(&want, wrepo, "HEAD"), 0);
			assert_true(git_oid_equal(&w.id[i], &want));
		}
		git_repository_free(wrepo);
		git_worktree_free(wt);
	}
	assert_true(w.detached[0] != w.detached[1]);
	git_strarray_dispose(&names);
	git_repository_free(repo);
}

static int stop_at_first(const git_oid *detached, const char *head, const char *log, const char *index, void *payload)
{
	(void)detached;
	(void)head;
	(void)log;
	(void)index;
	(*(int *)payload)++;
	return 42;
}

static void worktree_walk_stops_when_told_and_without_worktrees_calls_nothing(void **state)
{
	(void)state;
	int calls = 0;
	two_commits(NULL, NULL);
	assert_int_equal(mreg_git_worktree_each(gitdir, stop_at_first, &calls), 0);
	assert_int_equal(calls, 0);
	tg_sh("git worktree add -q --detach ../wt1 && git worktree add -q --detach ../wt2");
	assert_int_equal(mreg_git_worktree_each(gitdir, stop_at_first, &calls), 42);
	assert_int_equal(calls, 1);
}

/* ---- fixtures ---- */

static int setup(void **state)
{
	int rc = tg_setup_repo(state);
	snprintf(gitdir, sizeof(gitdir), "%s/.git/", tg_cwd);
	return rc;
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, tg_teardown_repo)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(head_through_a_loose_branch_is_libgit2s),
		TEST(head_through_a_packed_branch_is_libgit2s),
		TEST(detached_head_is_read_unless_a_branch_is_wanted),
		TEST(head_naming_a_missing_branch_is_unsure),
		TEST(head_branch_that_does_not_fit_is_unsure),
		TEST(head_naming_odd_branches_agrees_with_libgit2),
		TEST(head_of_other_forms_is_unsure),
		TEST(plain_ref_names_are_the_header_s),
		TEST(refs_loose_and_packed_read_as_libgit2_reads_them),
		TEST(unborn_ref_reads_as_zero),
		TEST(loose_ref_not_an_id_is_unsure),
		TEST(packed_ref_line_not_read_here_is_unsure),
		TEST(reflog_lines_read_back_through_libgit2),
		TEST(reflog_message_ending_in_a_newline_reads_back_trimmed),
		TEST(reflog_next_walks_git_s_reflog),
		TEST(worktrees_detached_and_on_a_branch_as_libgit2_sees_them),
		TEST(worktree_walk_stops_when_told_and_without_worktrees_calls_nothing),
	};
	return cmocka_run_group_tests(tests, tg_setup_group, tg_teardown_group);
}

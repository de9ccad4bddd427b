/*
 * Unit tests for fsstore/git/object.c: trees and commits as git writes them.
 *
 * libgit2 is the reference. A tree made here entry by entry
 * (mreg_git_tree_set, mreg_git_tree_write) must be byte for byte the tree
 * libgit2's treebuilder writes for the same entries, its id (mreg_git_hash)
 * the one libgit2 stores it under; the names are drawn at random from an
 * alphabet chosen for git's ordering traps: names that are prefixes of one
 * another, '.' and '-' (which sort before the '/' a directory sorts as),
 * '0' (after it), bytes above 0x7f (which sort as unsigned). A commit must
 * be the bytes git_commit_create_buffer gives. A tree that libgit2 refuses
 * to parse must not be parsed here either (MREG_GIT_UNSURE).
 */
#include "test_gitutil.h"

/* ---- libgit2's side ---- */

static git_repository *open_repo(void)
{
	git_repository *repo = NULL;
	if (git_repository_open(&repo, tg_cwd) != 0)
		fail_msg("cannot open '%s': %s", tg_cwd, git_error_last() ? git_error_last()->message : "");
	return repo;
}

/* A tree object's bytes as libgit2 stores it. */
static void odb_bytes(mreg_buf *out, git_repository *repo, const git_oid *id, git_object_t want)
{
	git_odb *odb = NULL;
	git_odb_object *obj = NULL;
	assert_int_equal(git_repository_odb(&odb, repo), 0);
	assert_int_equal(git_odb_read(&obj, odb, id), 0);
	assert_int_equal(git_odb_object_type(obj), want);
	mreg_buf_clear(out);
	assert_int_equal(mreg_buf_put(out, git_odb_object_data(obj), git_odb_object_size(obj)), 0);
	git_odb_object_free(obj);
	git_odb_free(odb);
}

/* Bytes stored as an object of type, as they are (no parsing), its id into out. */
static void odb_put(git_oid *out, git_repository *repo, git_object_t type, const void *data, size_t len)
{
	git_odb *odb = NULL;
	assert_int_equal(git_repository_odb(&odb, repo), 0);
	assert_int_equal(git_odb_write(out, odb, data, len, type), 0);
	git_odb_free(odb);
}

/* ---- trees built both ways ---- */

#define MAX_NAMES 40
#define NAME_MAX_LEN 5

typedef struct {
	char names[MAX_NAMES][NAME_MAX_LEN + 1];
	size_t n;				/* names in use */
	mreg_git_tree_entry e[MAX_NAMES + 1];	/* mreg's sorted entries, room for one more */
	size_t ne;
	git_treebuilder *bld;
} both;

static void random_id(git_oid *id)
{
	for (int i = 0; i < 20; i++)
		id->id[i] = (unsigned char)rand();
}

/* A name from the alphabet of ordering traps; never "." or "..". */
static void random_name(char *out)
{
	static const char alphabet[] = { 'a', 'b', '.', '-', '0', 'A', (char)0x80, (char)0xe9, (char)0xff };
	size_t len;
	do {
		len = 1 + (size_t)rand() % NAME_MAX_LEN;
		for (size_t i = 0; i < len; i++)
			out[i] = alphabet[rand() % (int)sizeof(alphabet)];
		out[len] = '\0';
	} while (!strcmp(out, ".") || !strcmp(out, ".."));
}

/* The same entry set in both: mreg's array and libgit2's builder. */
static void set_both(both *b, const char *name, bool dir, const git_oid *id)
{
	mreg_git_tree_entry x;
	mreg_git_tree_entry_init(&x, name, strlen(name), dir, id);
	mreg_git_tree_set(b->e, &b->ne, &x);
	if (git_treebuilder_insert(NULL, b->bld, name, id, dir ? GIT_FILEMODE_TREE : GIT_FILEMODE_BLOB) != 0)
		fail_msg("libgit2 refuses the name '%s': %s", name, git_error_last()->message);
}

/* mreg's tree bytes and id against libgit2's. */
static void expect_same_tree(both *b, git_repository *repo)
{
	mreg_buf mine = MREG_BUF_INIT, theirs = MREG_BUF_INIT;
	git_oid want, got;
	assert_int_equal(git_treebuilder_entrycount(b->bld), b->ne);
	assert_int_equal(git_treebuilder_write(&want, b->bld), 0);
	odb_bytes(&theirs, repo, &want, GIT_OBJECT_TREE);
	assert_int_equal(mreg_git_tree_write(&mine, b->e, b->ne), 0);
	assert_int_equal(mine.size, theirs.size);
	assert_memory_equal(mine.ptr, theirs.ptr, mine.size);
	mreg_git_hash(&got, GIT_OBJECT_TREE, mine.ptr, mine.size);
	assert_true(git_oid_equal(&got, &want));
	mreg_buf_dispose(&mine);
	mreg_buf_dispose(&theirs);
}

static int cmp_entries(const void *a, const void *b)
{
	return mreg_git_tree_cmp(a, b);
}

/* mreg_git_tree_cmp alone sorts a shuffled copy into the order mreg_git_tree_set keeps. */
static void expect_cmp_sorts(const both *b)
{
	mreg_git_tree_entry copy[MAX_NAMES + 1];
	memcpy(copy, b->e, b->ne * sizeof(copy[0]));
	for (size_t i = b->ne; i > 1; i--) {
		size_t j = (size_t)rand() % i;
		mreg_git_tree_entry t = copy[i - 1];
		copy[i - 1] = copy[j];
		copy[j] = t;
	}
	qsort(copy, b->ne, sizeof(copy[0]), cmp_entries);
	for (size_t i = 0; i < b->ne; i++) {
		assert_ptr_equal(copy[i].name, b->e[i].name);
		if (i)
			assert_true(mreg_git_tree_cmp(&b->e[i - 1], &b->e[i]) < 0);
	}
}

static void random_trees_match_libgit2(void **state)
{
	(void)state;
	git_repository *repo = open_repo();
	srand(1);
	for (int round = 0; round < 150; round++) {
		both b;
		memset(&b, 0, sizeof(b));
		assert_int_equal(git_treebuilder_new(&b.bld, repo, NULL), 0);
		size_t want = 1 + (size_t)rand() % MAX_NAMES;
		for (int tries = 0; b.n < want && tries < 1000; tries++) {
			char name[NAME_MAX_LEN + 1];
			bool dup = false;
			random_name(name);
			for (size_t i = 0; i < b.n && !dup; i++)
				dup = !strcmp(b.names[i], name);
			if (!dup)
				strcpy(b.names[b.n++], name);
		}
		/* prefixes of one another, of both kinds, every round */
		for (size_t i = 0; i < b.n; i++) {
			git_oid id;
			random_id(&id);
			set_both(&b, b.names[i], rand() % 2, &id);
		}
		assert_int_equal(b.ne, b.n);
		expect_same_tree(&b, repo);
		expect_cmp_sorts(&b);
		/* entries replaced, some by the other kind: the old one goes, wherever it sorted */
		for (int k = 0; k < 5; k++) {
			size_t i = (size_t)rand() % b.n;
			bool was_dir = false;
			for (size_t j = 0; j < b.ne; j++)
				if (b.e[j].name == b.names[i])
					was_dir = b.e[j].mode == 040000;
			git_oid id;
			random_id(&id);
			set_both(&b, b.names[i], rand() % 3 ? !was_dir : was_dir, &id);
		}
		assert_int_equal(b.ne, b.n);
		expect_same_tree(&b, repo);
		expect_cmp_sorts(&b);
		git_treebuilder_free(b.bld);
	}
	git_repository_free(repo);
}

/* "a" as a file sorts before "a.b" and "a-"; as a directory ("a/") after them and before "a0". */
static void directory_sorts_as_if_it_ended_in_a_slash(void **state)
{
	(void)state;
	git_repository *repo = open_repo();
	both b;
	git_oid id;
	memset(&b, 0, sizeof(b));
	assert_int_equal(git_treebuilder_new(&b.bld, repo, NULL), 0);
	static const char *const names[] = { "a0", "a.b", "a", "a-", "b", "a\x80" };
	for (size_t i = 0; i < 6; i++) {
		random_id(&id);
		set_both(&b, names[i], false, &id);
	}
	assert_int_equal(b.ne, 6);
	assert_string_equal(b.e[0].name, "a");
	expect_same_tree(&b, repo);
	random_id(&id);
	set_both(&b, "a", true, &id);	/* the file a becomes a directory a: it moves */
	assert_int_equal(b.ne, 6);
	assert_string_equal(b.e[0].name, "a-");
	assert_string_equal(b.e[1].name, "a.b");
	assert_string_equal(b.e[2].name, "a");
	assert_int_equal(b.e[2].mode, 040000);
	assert_true(git_oid_equal(&b.e[2].id, &id));
	assert_string_equal(b.e[3].name, "a0");
	expect_same_tree(&b, repo);
	random_id(&id);
	set_both(&b, "a", false, &id);	/* and back */
	assert_int_equal(b.ne, 6);
	assert_string_equal(b.e[0].name, "a");
	assert_int_equal(b.e[0].mode, 0100644);
	expect_same_tree(&b, repo);
	git_treebuilder_free(b.bld);
	git_repository_free(repo);
}

/* ---- parsing ---- */

/* Entries parsed from bytes, against libgit2's parse of the same object. */
static void expect_parse_as_libgit2(git_repository *repo, const git_oid *id, const char *data, size_t len)
{
	mreg_git_tree_entry *e = NULL;
	git_tree *tree = NULL;
	size_t n = 0;
	assert_int_equal(mreg_git_tree_parse(&e, &n, 2, data, len), 0);
	assert_int_equal(git_tree_lookup(&tree, repo, id), 0);
	assert_int_equal(n, git_tree_entrycount(tree));
	for (size_t i = 0; i < n; i++) {
		const git_tree_entry *te = git_tree_entry_byindex(tree, i);
		assert_int_equal(e[i].len, strlen(git_tree_entry_name(te)));
		assert_memory_equal(e[i].name, git_tree_entry_name(te), e[i].len);
		assert_int_equal(e[i].mode, git_tree_entry_filemode_raw(te));
		assert_true(git_oid_equal(&e[i].id, git_tree_entry_id(te)));
	}
	/* room for two more, zeroed */
	mreg_git_tree_entry zero;
	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(&e[n], &zero, sizeof(zero));
	assert_memory_equal(&e[n + 1], &zero, sizeof(zero));
	/* and written back, the same bytes */
	mreg_buf back = MREG_BUF_INIT;
	assert_int_equal(mreg_git_tree_write(&back, e, n), 0);
	assert_int_equal(back.size, len);
	assert_memory_equal(back.ptr, data, len);
	mreg_buf_dispose(&back);
	git_tree_free(tree);
	free(e);
}

/* A tree git made, with every mode git writes (executable, link, submodule, directory), round-trips. */
static void tree_git_made_parses_and_round_trips(void **state)
{
	(void)state;
	tg_sh("printf one >a.txt && printf two >run.sh && chmod +x run.sh && ln -s a.txt link && mkdir d && printf x >d/f\n"
	      "git add . && git commit -q -m one\n"
	      "{ git ls-tree HEAD; printf '160000 commit %%s\\tsub\\n' $(git rev-parse HEAD); } | git mktree >tree-id");
	char *hex = tg_capture(NULL, "cat tree-id");
	git_oid id;
	assert_int_equal(git_oid_fromstrn(&id, hex, 40), 0);
	free(hex);
	git_repository *repo = open_repo();
	mreg_buf raw = MREG_BUF_INIT;
	odb_bytes(&raw, repo, &id, GIT_OBJECT_TREE);
	expect_parse_as_libgit2(repo, &id, raw.ptr, raw.size);
	mreg_git_tree_entry *e = NULL;
	size_t n = 0;
	assert_int_equal(mreg_git_tree_parse(&e, &n, 0, raw.ptr, raw.size), 0);
	assert_int_equal(n, 5);
	unsigned modes = 0;
	for (size_t i = 0; i < n; i++)
		modes |= e[i].mode == 0100755 ? 1 : e[i].mode == 0120000 ? 2 : e[i].mode == 0160000 ? 4 : e[i].mode == 040000 ? 8 : 0;
	assert_int_equal(modes, 15);
	free(e);
	mreg_buf_dispose(&raw);
	git_repository_free(repo);
}

static void empty_tree_parses_to_no_entries(void **state)
{
	(void)state;
	mreg_git_tree_entry *e = NULL;
	size_t n = 7;
	assert_int_equal(mreg_git_tree_parse(&e, &n, 1, "", 0), 0);
	assert_non_null(e);
	assert_int_equal(n, 0);
	free(e);
}

/* The verdict on bytes: 0 parsed, else UNSURE with nothing handed out. */
static int parse_verdict(const char *data, size_t len)
{
	mreg_git_tree_entry *e = (mreg_git_tree_entry *)(uintptr_t)1;
	size_t n = 99;
	int rc = mreg_git_tree_parse(&e, &n, 1, data, len);
	if (rc != 0) {
		assert_int_equal(rc, MREG_GIT_UNSURE);
		assert_null(e);
		assert_int_equal(n, 0);
	}
	free(e);
	return rc;
}

/* Bytes libgit2 refuses to parse as a tree, each: MREG_GIT_UNSURE here. */
static void malformed_trees_are_unsure(void **state)
{
	(void)state;
	static const struct {
		const char *what;
		const char *data;
		size_t len;
	} bad[] = {
		{ "no space after the mode", "100644a\0" "01234567890123456789", 28 },
		{ "a mode that is not octal", "100844 a\0" "01234567890123456789", 29 },
		{ "no mode", " a\0" "01234567890123456789", 23 },
		{ "no name", "100644 \0" "01234567890123456789", 28 },
		{ "no NUL after the name", "100644 abc", 10 },
		{ "an id cut short", "100644 a\0" "0123456789012345678", 28 },
		{ "a second entry cut short", "100644 a\0" "01234567890123456789" "100644 b", 37 },
	};
	git_repository *repo = open_repo();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		git_oid id;
		git_tree *tree = NULL;
		odb_put(&id, repo, GIT_OBJECT_TREE, bad[i].data, bad[i].len);
		if (git_tree_lookup(&tree, repo, &id) == 0)
			fail_msg("libgit2 parses the tree with %s: not a case for this test", bad[i].what);
		if (parse_verdict(bad[i].data, bad[i].len) != MREG_GIT_UNSURE)
			fail_msg("a tree with %s is parsed", bad[i].what);
	}
	git_repository_free(repo);
}

/* Whether a parse gave an entry past the 16 bits libgit2 allows a mode or a name's length (the bug below). */
static bool past_sixteen_bits(const char *data, size_t len)
{
	mreg_git_tree_entry *e = NULL;
	size_t n = 0;
	bool past = false;
	assert_int_equal(mreg_git_tree_parse(&e, &n, 0, data, len), 0);
	for (size_t i = 0; i < n; i++)
		past |= e[i].mode > 0177777 || e[i].len > 0xffff;
	free(e);
	return past;
}

/*
 * Random damage to a real tree (a byte changed, inserted or cut): whatever
 * this parser reads, libgit2 reads the same way; what libgit2 refuses,
 * this parser refuses. Modes and names past 16 bits are the known bug of
 * the two tests after this one, left to them.
 */
static void damaged_trees_are_read_as_libgit2_reads_them_or_not_at_all(void **state)
{
	(void)state;
	static const char digits[] = "01234567";
	static const char picks[] = { ' ', '\0', '0', '7', '8', 'a', '/' };
	git_repository *repo = open_repo();
	tg_sh("printf one >a && printf two >b && mkdir d && printf x >d/f && git add . && git commit -q -m one");
	git_oid head_tree;
	tg_rev(&head_tree, "HEAD^{tree}");
	mreg_buf good = MREG_BUF_INIT, bad = MREG_BUF_INIT;
	odb_bytes(&good, repo, &head_tree, GIT_OBJECT_TREE);
	srand(3);
	for (int round = 0; round < 1500; round++) {
		mreg_buf_clear(&bad);
		mreg_buf_put(&bad, good.ptr, good.size);
		size_t at = (size_t)rand() % bad.size;
		switch (rand() % 3) {
		case 0:
			bad.ptr[at] = rand() % 2 ? picks[rand() % (int)sizeof(picks)] : (char)rand();
			break;
		case 1:	/* a byte inserted: an octal digit, half the time */
			mreg_buf_putc(&bad, 0);
			memmove(bad.ptr + at + 1, bad.ptr + at, bad.size - at - 1);
			bad.ptr[at] = rand() % 2 ? digits[rand() % 8] : picks[rand() % (int)sizeof(picks)];
			break;
		default:
			mreg_buf_truncate(&bad, at);
		}
		git_oid id;
		git_tree *tree = NULL;
		odb_put(&id, repo, GIT_OBJECT_TREE, bad.ptr, bad.size);
		bool theirs = git_tree_lookup(&tree, repo, &id) == 0;
		git_tree_free(tree);
		int mine = parse_verdict(bad.ptr, bad.size);
		if (mine == 0 && !theirs && past_sixteen_bits(bad.ptr, bad.size))
			continue;	/* the known bug below */
		if (mine == 0 && !theirs)
			fail_msg("round %d: parsed here, refused by libgit2 (%s)", round, git_error_last()->message);
		if (mine == 0)
			expect_parse_as_libgit2(repo, &id, bad.ptr, bad.size);
	}
	mreg_buf_dispose(&good);
	mreg_buf_dispose(&bad);
	git_repository_free(repo);
}

/*
 * A digit inserted into a mode: "1006444 a\0<20 bytes>". libgit2 1.5
 * refuses modes above 0177777 ("failed to parse tree: can't parse
 * filemode").
 */
static void a_mode_past_sixteen_bits_is_unsure(void **state)
{
	(void)state;
	static const char data[] = "1006444 a\0" "01234567890123456789";
	git_repository *repo = open_repo();
	git_oid id;
	git_tree *tree = NULL;
	odb_put(&id, repo, GIT_OBJECT_TREE, data, sizeof(data) - 1);
	assert_int_not_equal(git_tree_lookup(&tree, repo, &id), 0);
	assert_int_equal(parse_verdict(data, sizeof(data) - 1), MREG_GIT_UNSURE);
	git_repository_free(repo);
}

/*
 * A name of 70000 bytes: libgit2 1.5 refuses names over 65535 bytes
 * ("failed to parse tree: can't parse filename").
 */
static void a_name_past_sixteen_bits_is_unsure(void **state)
{
	(void)state;
	size_t nlen = 70000, len = 7 + nlen + 1 + 20;
	char *data = malloc(len);
	assert_non_null(data);
	memcpy(data, "100644 ", 7);
	memset(data + 7, 'a', nlen);
	data[7 + nlen] = '\0';
	memset(data + 8 + nlen, 1, 20);
	git_repository *repo = open_repo();
	git_oid id;
	git_tree *tree = NULL;
	odb_put(&id, repo, GIT_OBJECT_TREE, data, len);
	assert_int_not_equal(git_tree_lookup(&tree, repo, &id), 0);
	assert_int_equal(parse_verdict(data, len), MREG_GIT_UNSURE);
	git_repository_free(repo);
	free(data);
}

/* ---- commits ---- */

/* mreg's commit bytes against git_commit_create_buffer, for tree, parent (or none), who, when and message. */
static void expect_same_commit(git_repository *repo, const git_oid *tree_id, const git_oid *parent_id, const char *name,
			       const char *email, int64_t when, const char *message)
{
	git_signature *sig = NULL;
	git_tree *tree = NULL;
	git_commit *parent = NULL;
	git_buf theirs = { 0 };
	mreg_buf mine = MREG_BUF_INIT;
	assert_int_equal(git_signature_new(&sig, name, email, (git_time_t)when, 0), 0);
	assert_int_equal(git_tree_lookup(&tree, repo, tree_id), 0);
	if (parent_id)
		assert_int_equal(git_commit_lookup(&parent, repo, parent_id), 0);
	const git_commit *parents[1] = { parent };
	assert_int_equal(git_commit_create_buffer(&theirs, repo, sig, sig, NULL, message, tree, parent ? 1 : 0, parents), 0);
	assert_int_equal(mreg_git_commit_write(&mine, tree_id, parent_id, name, email, when, message), 0);
	assert_int_equal(mine.size, theirs.size);
	assert_memory_equal(mine.ptr, theirs.ptr, mine.size);
	/* and the tree read back from the bytes */
	git_oid back;
	assert_true(mreg_git_commit_tree(&back, mine.ptr, mine.size));
	assert_true(git_oid_equal(&back, tree_id));
	git_buf_dispose(&theirs);
	mreg_buf_dispose(&mine);
	git_commit_free(parent);
	git_tree_free(tree);
	git_signature_free(sig);
}

static void commits_match_libgit2_root_and_not(void **state)
{
	(void)state;
	tg_sh("printf one >a && git add a && git commit -q -m one && printf two >a && git commit -q -a -m two");
	git_oid t1, t2, c1;
	tg_rev(&t1, "HEAD~1^{tree}");
	tg_rev(&t2, "HEAD^{tree}");
	tg_rev(&c1, "HEAD~1");
	git_repository *repo = open_repo();
	expect_same_commit(repo, &t1, NULL, "mreg", "mreg@example.com", 1700000000, "register m:1\n\nMreg-Event: x\n");
	expect_same_commit(repo, &t2, &c1, "J\xc3\xb6rg Smith", "j@s", 0, "promote\n");
	expect_same_commit(repo, &t2, &c1, "a", "b", INT64_C(4102444800), "no newline at the end");
	expect_same_commit(repo, &t2, &c1, "a", "b", 1, "");
	git_repository_free(repo);
}


/*
 * A signed commit's bytes as libgit2 makes them (git_commit_create_with_signature),
 * and as git extracts them back. libgit2 ends the header with one more
 * continuation line when the signature ends in a newline, which git commit -S
 * does not write: libgit2 is given the signature without it, as its users do
 * to make what git makes (test_protect has stock git verify mreg's commits).
 */
static void signed_commits_match_libgit2(void **state)
{
	(void)state;
	tg_sh("printf one >a && git add a && git commit -q -m one && printf two >a && git commit -q -a -m two");
	git_oid t2, c1, theirs_id, mine_id;
	tg_rev(&t2, "HEAD^{tree}");
	tg_rev(&c1, "HEAD~1");
	git_repository *repo = open_repo();
	static const char *const sigs[] = {
		"-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAg\nAAAA\n-----END SSH SIGNATURE-----\n",
		"one line, no newline",
	};
	static const char *const messages[] = { "promote sq:1 staging -> production\n\nMreg-Event: x\n", "" };
	for (size_t k = 0; k < 2; k++) {
		mreg_buf commit = MREG_BUF_INIT, mine = MREG_BUF_INIT, back = MREG_BUF_INIT;
		git_buf sig = { 0 }, data = { 0 };
		assert_int_equal(mreg_git_commit_write(&commit, &t2, &c1, "alice", "a@example.com", 1700000000, messages[k]), 0);
		char trimmed[256];
		snprintf(trimmed, sizeof(trimmed), "%s", sigs[k]);
		if (trimmed[0] && trimmed[strlen(trimmed) - 1] == '\n')
			trimmed[strlen(trimmed) - 1] = '\0';
		assert_int_equal(git_commit_create_with_signature(&theirs_id, repo, commit.ptr, trimmed, NULL), 0);
		assert_int_equal(mreg_git_commit_sign(&mine, commit.ptr, commit.size, sigs[k]), 0);
		odb_bytes(&back, repo, &theirs_id, GIT_OBJECT_COMMIT);
		assert_int_equal(mine.size, back.size);
		assert_memory_equal(mine.ptr, back.ptr, mine.size);
		/* stored, git extracts the signature and the signed bytes as they were */
		odb_put(&mine_id, repo, GIT_OBJECT_COMMIT, mine.ptr, mine.size);
		assert_true(git_oid_equal(&mine_id, &theirs_id));
		assert_int_equal(git_commit_extract_signature(&sig, &data, repo, &mine_id, NULL), 0);
		assert_string_equal(data.ptr, commit.ptr);
		assert_string_equal(sig.ptr, trimmed);
		git_buf_dispose(&sig);
		git_buf_dispose(&data);
		mreg_buf_dispose(&commit);
		mreg_buf_dispose(&mine);
		mreg_buf_dispose(&back);
	}
	git_repository_free(repo);
}

/* The tree of commits git made, read from their bytes, is the one git names. */
static void commit_tree_reads_what_git_wrote(void **state)
{
	(void)state;
	tg_sh("printf one >a && git add a && git commit -q -m one && printf two >a && git commit -q -a -m two");
	static const char *const revs[] = { "HEAD", "HEAD~1" };
	for (size_t i = 0; i < 2; i++) {
		size_t len;
		char *raw = tg_capture(&len, "git cat-file commit %s", revs[i]);
		char rev[32];
		git_oid want, got;
		tg_rev(&want, tg_fmt(rev, sizeof(rev), "%s^{tree}", revs[i]));
		assert_true(mreg_git_commit_tree(&got, raw, len));
		assert_true(git_oid_equal(&got, &want));
		free(raw);
	}
}

/* The parents of a merge git made, read from its bytes, are git's, in order; a parent line that is not one is refused. */
static void commit_parents_read_what_git_wrote(void **state)
{
	(void)state;
	tg_sh("printf one >a && git add a && git commit -q -m one && git branch side && printf two >a && "
	      "git commit -q -a -m two && git checkout -q side && printf three >b && git add b && git commit -q -m three && "
	      "git checkout -q - && git merge -q --no-edit side");
	size_t len;
	char *raw = tg_capture(&len, "git cat-file commit HEAD");
	const char *p = raw + 46, *end = raw + len;
	git_oid tree, got, want;
	assert_true(mreg_git_commit_tree(&tree, raw, len));
	static const char *const parents[] = { "HEAD^1", "HEAD^2" };
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(mreg_git_commit_next_parent(&got, &p, end), 1);
		tg_rev(&want, parents[i]);
		assert_true(git_oid_equal(&got, &want));
	}
	assert_int_equal(mreg_git_commit_next_parent(&got, &p, end), 0);
	assert_int_equal(memcmp(p, "author ", 7), 0);
	free(raw);
	static const char *const bad[] = { "parent 0123456789abcdef0123456789abcdef0123456\n",
					   "parent 0123456789abcdef0123456789abcdef0123456x\n",
					   "parent 0123456789abcdef0123456789abcdef01234567", "parent " };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *q = bad[i];
		if (mreg_git_commit_next_parent(&got, &q, bad[i] + strlen(bad[i])) != -1 || q != bad[i])
			fail_msg("'%s' read as a parent line", bad[i]);
	}
}

static void commit_tree_refuses_what_is_not_a_commit(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"tree ",
		"tree 0123456789abcdef0123456789abcdef01234567",	/* no newline */
		"tree 0123456789abcdef0123456789abcdef0123456\n",	/* 39 digits */
		"tree 0123456789abcdef0123456789abcdef0123456x\n",
		"tree  0123456789abcdef0123456789abcdef0123456\n",
		"parent 0123456789abcdef0123456789abcdef01234567\n",
		"Tree 0123456789abcdef0123456789abcdef01234567\n",
		"100644 a\0" "01234567890123456789",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		git_oid id;
		if (mreg_git_commit_tree(&id, bad[i], strlen(bad[i]) + (i == 8 ? 21 : 0)))
			fail_msg("'%s' read as a commit", bad[i]);
	}
	git_oid id;
	const char ok[] = "tree 0123456789abcdef0123456789abcdef01234567\nauthor x";
	assert_true(mreg_git_commit_tree(&id, ok, sizeof(ok) - 1));
	git_oid want = tg_oid("0123456789abcdef0123456789abcdef01234567");
	assert_true(git_oid_equal(&id, &want));
}

/* ---- fixtures ---- */

static int group_setup(void **state)
{
	int rc = tg_setup_group(state);
	/* entries name random ids: libgit2 is not to look for the objects */
	if (rc == 0)
		rc = git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0);
	return rc;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TG_REPO_TEST(random_trees_match_libgit2),
		TG_REPO_TEST(directory_sorts_as_if_it_ended_in_a_slash),
		TG_REPO_TEST(tree_git_made_parses_and_round_trips),
		cmocka_unit_test(empty_tree_parses_to_no_entries),
		TG_REPO_TEST(malformed_trees_are_unsure),
		TG_REPO_TEST(damaged_trees_are_read_as_libgit2_reads_them_or_not_at_all),
		TG_REPO_TEST(a_mode_past_sixteen_bits_is_unsure),
		TG_REPO_TEST(a_name_past_sixteen_bits_is_unsure),
		TG_REPO_TEST(commits_match_libgit2_root_and_not),
		TG_REPO_TEST(commit_tree_reads_what_git_wrote),
		TG_REPO_TEST(commit_parents_read_what_git_wrote),
		cmocka_unit_test(commit_tree_refuses_what_is_not_a_commit),
		TG_REPO_TEST(signed_commits_match_libgit2),
	};
	return cmocka_run_group_tests(tests, group_setup, tg_teardown_group);
}

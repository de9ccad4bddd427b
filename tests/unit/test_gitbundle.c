/*
 * Unit tests for fsstore/git/bundle.c: git bundles (v2), written and read.
 *
 * git is the reference. A bundle written here from a repository whose
 * objects are in packs (with deltas by offset, which the bundle's one pack
 * must name by id) and loose must be one `git bundle verify` accepts and
 * `git clone` makes the same repository from: the same HEAD and every
 * object. Bundles git made must parse to the branch git lists; crafted
 * ones must be refused with the problem named.
 */
#include "test_gitutil.h"

/* ---- a repository to bundle ---- */

/*
 * Ten commits of a growing file packed by git (with deltas by offset,
 * asserted), then three more left loose.
 */
static void history_packed_and_loose(git_oid *head)
{
	tg_sh("for i in $(seq 1 10); do seq 1 $((i * 100)) >f && git add f && git commit -q -m \"c$i\" || exit 1; done\n"
	      "git repack -q -a -d\n"
	      "for i in 11 12 13; do echo $i >g$i && git add g$i && git commit -q -m \"c$i\" || exit 1; done\n"
	      "test \"$(git count-objects -v | sed -n 's/^count: //p')\" -ge 9");
	char *out = tg_capture(NULL, "git verify-pack -v .git/objects/pack/*.idx | awk 'NF == 7' | wc -l");
	assert_true(atoi(out) > 0);	/* deltas in the pack */
	free(out);
	tg_rev(head, "HEAD");
}

/* The bundle of the repository at repo (its object dirs, alternates too) into path; its bytes. */
static void write_bundle(mreg_buf *out, const char *repo, const git_oid *head, const char *path)
{
	char objdir[600];
	char **dirs = NULL;
	size_t n = 0;
	assert_int_equal(mreg_git_object_dirs(&dirs, &n, tg_fmt(objdir, sizeof(objdir), "%s/.git/objects", repo)), 0);
	if (mreg_git_bundle_write(out, dirs, n, head, "refs/heads/main") != 0)
		fail_msg("bundle: %s", mreg_error_last());
	for (size_t i = 0; i < n; i++)
		free(dirs[i]);
	free(dirs);
	tg_put(path, out->ptr, out->size);
}

/* git bundle verify accepts it, and git clone of it has HEAD at head and every object of the repository at repo. */
static void expect_git_takes(const char *bundle, const char *repo, const git_oid *head)
{
	char hex[41], clone[600];
	git_oid_tostr(hex, sizeof(hex), head);
	tg_sh("git -C '%s' bundle verify -q '%s'", repo, bundle);
	tg_fmt(clone, sizeof(clone), "%s/clone", tg_work);
	tg_sh("rm -rf '%s' && git clone -q '%s' '%s' && test \"$(git -C '%s' rev-parse HEAD)\" = %s\n"
	      "git -C '%s' fsck --no-progress --strict\n"
	      "git -C '%s' rev-list --objects --all | cut -c1-40 | sort >'%s/want'\n"
	      "git -C '%s' cat-file --batch-all-objects --batch-check='%%(objectname)' | sort >'%s/got'\n"
	      "cmp '%s/want' '%s/got'",
	      clone, bundle, clone, clone, hex, clone, repo, tg_work, clone, tg_work, tg_work, tg_work);
}

/* ---- writing ---- */

static void bundle_of_packed_and_loose_objects_is_taken_by_git(void **state)
{
	(void)state;
	git_oid head, got;
	mreg_buf b = MREG_BUF_INIT;
	char path[600];
	history_packed_and_loose(&head);
	write_bundle(&b, tg_cwd, &head, tg_fmt(path, sizeof(path), "%s/b.bundle", tg_work));
	expect_git_takes(path, tg_cwd, &head);
	/* and read back here: the branch, and the pack git's index-pack takes */
	const unsigned char *pack = NULL;
	size_t packlen = 0;
	const char *why = "unset";
	assert_int_equal(mreg_git_bundle_parse(&got, &pack, &packlen, &why, b.ptr, b.size), 0);
	assert_null(why);
	assert_true(git_oid_equal(&got, &head));
	assert_true(pack > (const unsigned char *)b.ptr && pack + packlen == (const unsigned char *)b.ptr + b.size);
	assert_memory_equal(pack, "PACK", 4);
	tg_put(tg_fmt(path, sizeof(path), "%s/only.pack", tg_work), pack, packlen);
	tg_sh("git index-pack --strict '%s' >/dev/null", path);
	mreg_buf_dispose(&b);
}

/* A repository that borrows objects through objects/info/alternates: the bundle holds them too. */
static void bundle_holds_the_objects_of_alternates(void **state)
{
	(void)state;
	git_oid head, base;
	mreg_buf b = MREG_BUF_INIT;
	char other[600], path[600];
	history_packed_and_loose(&base);
	tg_fmt(other, sizeof(other), "%s/other", tg_work);
	tg_sh("git clone -q --shared . '%s' && cd '%s' && echo more >h && git add h && git commit -q -m more\n"
	      "test -s .git/objects/info/alternates && test \"$(git count-objects -v | sed -n 's/^in-pack: //p')\" = 0",
	      other, other);
	char saved[sizeof(tg_cwd)];
	memcpy(saved, tg_cwd, sizeof(saved));
	tg_fmt(tg_cwd, sizeof(tg_cwd), "%s", other);
	tg_rev(&head, "HEAD");
	write_bundle(&b, other, &head, tg_fmt(path, sizeof(path), "%s/b.bundle", tg_work));
	expect_git_takes(path, other, &head);
	memcpy(tg_cwd, saved, sizeof(saved));
	mreg_buf_dispose(&b);
}

/* ---- reading ---- */

/* Bundles git made: the branch named last, the pack after the header, its checksum holding. */
static void bundles_git_made_parse_to_their_last_branch(void **state)
{
	(void)state;
	tg_sh("echo one >a && git add a && git commit -q -m one && git branch feature\n"
	      "echo two >a && git commit -q -a -m two && git tag v1\n"
	      "git bundle create -q ../one.bundle main && git bundle create -q ../two.bundle main feature v1");
	static const char *const names[] = { "one.bundle", "two.bundle" };
	for (size_t i = 0; i < 2; i++) {
		char path[600];
		size_t len;
		char *data = tg_slurp(&len, tg_fmt(path, sizeof(path), "%s/%s", tg_work, names[i]));
		char *last = tg_capture(NULL, "git bundle list-heads '%s' | grep ' refs/heads/' | tail -n 1 | cut -c1-40", path);
		git_oid want = tg_oid(last), got;
		const unsigned char *pack = NULL;
		size_t packlen = 0;
		const char *why = NULL;
		assert_int_equal(mreg_git_bundle_parse(&got, &pack, &packlen, &why, data, len), 0);
		assert_true(git_oid_equal(&got, &want));
		assert_memory_equal(pack, "PACK", 4);
		assert_true(pack + packlen == (const unsigned char *)data + len);
		free(last);
		free(data);
	}
	git_oid feature, main_id;
	tg_rev(&feature, "feature");
	tg_rev(&main_id, "main");
	assert_false(git_oid_equal(&feature, &main_id));
}

/* bytes: what mreg_git_bundle_parse makes of them, which must be MREG_ECORRUPT with why. */
static void expect_refused(const char *data, size_t len, const char *why_want)
{
	git_oid head;
	const unsigned char *pack = NULL;
	size_t packlen = 0;
	const char *why = NULL;
	assert_int_equal(mreg_git_bundle_parse(&head, &pack, &packlen, &why, data, len), MREG_ECORRUPT);
	assert_non_null(why);
	assert_string_equal(why, why_want);
}

/* A real bundle's header and pack, for crafting: header (up to the blank line, excluded) and pack. */
typedef struct {
	mreg_buf header, pack;
} parts;

static void real_parts(parts *p)
{
	size_t len;
	char path[600];
	tg_sh("echo one >a && git add a && git commit -q -m one && git bundle create -q ../r.bundle main");
	char *data = tg_slurp(&len, tg_fmt(path, sizeof(path), "%s/r.bundle", tg_work));
	const char *blank = strstr(data, "\n\n");
	assert_non_null(blank);
	mreg_buf_init(&p->header, 0);
	mreg_buf_init(&p->pack, 0);
	mreg_buf_put(&p->header, data, (size_t)(blank + 1 - data));
	mreg_buf_put(&p->pack, blank + 2, len - (size_t)(blank + 2 - data));
	free(data);
}

static void parts_dispose(parts *p)
{
	mreg_buf_dispose(&p->header);
	mreg_buf_dispose(&p->pack);
}

/* header, a blank line, pack: the bytes of a bundle */
static void join(mreg_buf *out, const char *header, const mreg_buf *pack)
{
	mreg_buf_clear(out);
	mreg_buf_puts(out, header);
	mreg_buf_putc(out, '\n');
	if (pack)
		mreg_buf_put(out, pack->ptr, pack->size);
}

static void bundle_with_a_wrong_signature_is_refused(void **state)
{
	(void)state;
	parts p;
	mreg_buf b = MREG_BUF_INIT;
	real_parts(&p);
	expect_refused("", 0, "not a v2 git bundle");
	expect_refused("# v2 git bundle", 15, "not a v2 git bundle");
	mreg_buf_clear(&b);
	mreg_buf_puts(&b, "# v3 git bundle\n@object-format=sha1\n");
	mreg_buf_puts(&b, p.header.ptr + 16);
	mreg_buf_putc(&b, '\n');
	mreg_buf_put(&b, p.pack.ptr, p.pack.size);
	expect_refused(b.ptr, b.size, "not a v2 git bundle");
	/* and one git wrote as version 3 */
	size_t len;
	char path[600];
	tg_sh("git bundle create -q --version=3 ../v3.bundle main");
	char *v3 = tg_slurp(&len, tg_fmt(path, sizeof(path), "%s/v3.bundle", tg_work));
	expect_refused(v3, len, "not a v2 git bundle");
	free(v3);
	mreg_buf_dispose(&b);
	parts_dispose(&p);
}

static void bundle_with_a_bad_header_line_is_refused(void **state)
{
	(void)state;
	parts p;
	mreg_buf b = MREG_BUF_INIT;
	char hex[41], header[300];
	real_parts(&p);
	memcpy(hex, p.header.ptr + 16, 40);
	hex[40] = '\0';
	static const char *const lines[] = {
		"%.39s refs/heads/main\n",	/* 39 digits */
		"%s\n",				/* no name */
		"%s \n",			/* an empty name */
		"%s\trefs/heads/main\n",	/* a tab for the space */
		"-%s a prerequisite\n",		/* a prerequisite: this bundle needs objects it lacks */
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		char line[200];
		snprintf(line, sizeof(line), lines[i], hex);
		join(&b, tg_fmt(header, sizeof(header), "# v2 git bundle\n%s", line), &p.pack);
		expect_refused(b.ptr, b.size, "bad bundle header");
		/* after a good line too */
		join(&b, tg_fmt(header, sizeof(header), "%s%s", p.header.ptr, line), &p.pack);
		expect_refused(b.ptr, b.size, "bad bundle header");
	}
	/* a line that runs to the end of the bytes */
	tg_fmt(header, sizeof(header), "# v2 git bundle\n%s refs/heads/main", hex);
	expect_refused(header, strlen(header), "bad bundle header");
	mreg_buf_dispose(&b);
	parts_dispose(&p);
}

static void bundle_naming_no_branch_is_refused(void **state)
{
	(void)state;
	parts p;
	mreg_buf b = MREG_BUF_INIT;
	char hex[41], header[300];
	real_parts(&p);
	memcpy(hex, p.header.ptr + 16, 40);
	hex[40] = '\0';
	join(&b, "# v2 git bundle\n", &p.pack);
	expect_refused(b.ptr, b.size, "the bundle names no branch");
	join(&b, tg_fmt(header, sizeof(header), "# v2 git bundle\n%s HEAD\n%s refs/tags/v1\n", hex, hex), &p.pack);
	expect_refused(b.ptr, b.size, "the bundle names no branch");
	join(&b, tg_fmt(header, sizeof(header), "# v2 git bundle\n%s refs/heads/\n", hex), &p.pack);
	expect_refused(b.ptr, b.size, "the bundle names no branch");
	mreg_buf_dispose(&b);
	parts_dispose(&p);
}

static void bundle_holding_no_pack_is_refused(void **state)
{
	(void)state;
	parts p;
	mreg_buf b = MREG_BUF_INIT, junk = MREG_BUF_INIT;
	real_parts(&p);
	join(&b, p.header.ptr, NULL);
	expect_refused(b.ptr, b.size, "the bundle holds no pack");
	mreg_buf_put(&junk, "KCAP", 4);
	mreg_buf_put(&junk, p.pack.ptr + 4, p.pack.size - 4);
	join(&b, p.header.ptr, &junk);
	expect_refused(b.ptr, b.size, "the bundle holds no pack");
	mreg_buf_clear(&junk);
	mreg_buf_put(&junk, p.pack.ptr, 31);	/* shorter than a header and a checksum */
	join(&b, p.header.ptr, &junk);
	expect_refused(b.ptr, b.size, "the bundle holds no pack");
	mreg_buf_dispose(&junk);
	mreg_buf_dispose(&b);
	parts_dispose(&p);
}

/* A bundle cut right after its ref lines, before the blank line: it names a branch, and holds no pack. */
static void bundle_cut_before_its_pack_says_it_holds_no_pack(void **state)
{
	(void)state;
	parts p;
	real_parts(&p);
	expect_refused(p.header.ptr, p.header.size, "the bundle holds no pack");
	parts_dispose(&p);
}

static void bundle_with_a_bad_checksum_is_refused(void **state)
{
	(void)state;
	parts p;
	mreg_buf b = MREG_BUF_INIT;
	real_parts(&p);
	join(&b, p.header.ptr, &p.pack);
	git_oid head;
	const unsigned char *pack;
	size_t packlen;
	const char *why;
	assert_int_equal(mreg_git_bundle_parse(&head, &pack, &packlen, &why, b.ptr, b.size), 0);
	for (size_t at = p.header.size + 1 + 4; at < b.size; at += 7) {
		b.ptr[at] ^= 0x01;
		expect_refused(b.ptr, b.size, "pack checksum mismatch");
		b.ptr[at] ^= 0x01;
	}
	mreg_buf_truncate(&b, b.size - 1);	/* a byte short: the checksum is not the one of what is before it */
	expect_refused(b.ptr, b.size, "pack checksum mismatch");
	mreg_buf_dispose(&b);
	parts_dispose(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TG_REPO_TEST(bundle_of_packed_and_loose_objects_is_taken_by_git),
		TG_REPO_TEST(bundle_holds_the_objects_of_alternates),
		TG_REPO_TEST(bundles_git_made_parse_to_their_last_branch),
		TG_REPO_TEST(bundle_with_a_wrong_signature_is_refused),
		TG_REPO_TEST(bundle_with_a_bad_header_line_is_refused),
		TG_REPO_TEST(bundle_naming_no_branch_is_refused),
		TG_REPO_TEST(bundle_holding_no_pack_is_refused),
		TG_REPO_TEST(bundle_cut_before_its_pack_says_it_holds_no_pack),
		TG_REPO_TEST(bundle_with_a_bad_checksum_is_refused),
	};
	return cmocka_run_group_tests(tests, tg_setup_group, tg_teardown_group);
}

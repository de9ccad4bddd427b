/*
 * Unit tests for fsstore/git/config.c: git's config files read without
 * libgit2, and the values read from them (booleans, numbers, expiry dates).
 *
 * The references: libgit2 for what the files say (every key this reader
 * reads must have the value libgit2's config gives it, whenever this
 * reader is sure; written files by hand, and files drawn at random from a
 * grammar of the forms git's config syntax allows), libgit2's parsers for
 * booleans and numbers, and git itself for expiry dates: `git rev-parse
 * --since=<date>` prints the cutoff git's date parser (the one gc.pruneExpire
 * goes through) gives, with the clock fixed by GIT_TEST_DATE_NOW and a time
 * zone with summer time, so that local time means something.
 *
 * Each test gets its own HOME (<work>/home) with no config in it; libgit2
 * is told to look for its global and XDG files again, as a new process
 * would. /etc/gitconfig is read by both as it is; it must hold none of the
 * keys read here.
 */
#define _GNU_SOURCE
#include "test_gitutil.h"

#include <time.h>

static char gitdir[600];	/* <repo>/.git/ */
static char home[600];		/* <work>/home */

/* ---- files ---- */

static void home_file(const char *rel, const char *text)
{
	char path[800];
	tg_puts(tg_fmt(path, sizeof(path), "%s/%s", home, rel), text);
}

/* The repository's config: what git init wrote, then text. */
static char *base_config;

static void local_config(const char *text)
{
	char path[800];
	mreg_buf b = MREG_BUF_INIT;
	mreg_buf_puts(&b, base_config);
	mreg_buf_puts(&b, text);
	tg_puts(tg_fmt(path, sizeof(path), "%sconfig", gitdir), b.ptr);
	mreg_buf_dispose(&b);
}

/* libgit2 looks at HOME and XDG_CONFIG_HOME again, as a new process would. */
static void env_changed(void)
{
	assert_int_equal(git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_GLOBAL, (const char *)NULL), 0);
	assert_int_equal(git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_XDG, (const char *)NULL), 0);
}

/* ---- both readers ---- */

#define NKEYS 6
static const char *const keys[NKEYS + 1] = {
	"mreg.fsync", "mreg.actor", "mreg.locktimeout", "user.name", "alias.st", "core.editor", NULL,
};

/* What a reader says of each key: set or not, and the value (NULL: a bare key). */
typedef struct {
	bool set[NKEYS];
	char *value[NKEYS];
	int calls;
} values;

static void values_dispose(values *v)
{
	for (int i = 0; i < NKEYS; i++)
		free(v->value[i]);
	memset(v, 0, sizeof(*v));
}

static void take(const char *key, const char *value, void *payload)
{
	values *v = payload;
	int k = 0;
	while (k < NKEYS && strcmp(keys[k], key))
		k++;
	if (k == NKEYS)
		fail_msg("a key not asked for: '%s'", key);
	free(v->value[k]);
	v->value[k] = value ? strdup(value) : NULL;
	v->set[k] = true;
	v->calls++;
}

/* mreg_git_config_read: 0 with the values, or MREG_GIT_UNSURE. */
static int mine(values *v)
{
	memset(v, 0, sizeof(*v));
	int rc = mreg_git_config_read(gitdir, keys, take, v, NULL);
	assert_true(rc == 0 || rc == MREG_GIT_UNSURE);
	return rc;
}

/* libgit2's values of the same keys, from the repository's whole config; -1 when libgit2 cannot read it. */
static int theirs(values *v)
{
	git_repository *repo = NULL;
	git_config *cfg = NULL;
	int rc = 0;
	memset(v, 0, sizeof(*v));
	if (git_repository_open(&repo, tg_cwd) != 0 || git_repository_config_snapshot(&cfg, repo) != 0) {
		rc = -1;
		goto done;
	}
	for (int k = 0; k < NKEYS; k++) {
		git_config_entry *e = NULL;
		int r = git_config_get_entry(&e, cfg, keys[k]);
		if (r == GIT_ENOTFOUND)
			continue;
		if (r != 0) {
			rc = -1;
			break;
		}
		v->set[k] = true;
		v->value[k] = e->value ? strdup(e->value) : NULL;
		git_config_entry_free(e);
	}
done:
	git_config_free(cfg);
	git_repository_free(repo);
	return rc;
}

/* The files as they are now: this reader sure, and of libgit2's reading; or unsure. rc of mreg. */
static int compare(const char *what)
{
	values a, b;
	int rc = mine(&a);
	int lrc = theirs(&b);
	if (rc == 0) {
		if (lrc != 0)
			fail_msg("%s: read here, libgit2 cannot read it: %s", what, git_error_last()->message);
		for (int k = 0; k < NKEYS; k++) {
			if (a.set[k] != b.set[k])
				fail_msg("%s: '%s' %s here, %s for libgit2", what, keys[k], a.set[k] ? "set" : "unset",
					 b.set[k] ? "set" : "unset");
			if (!a.set[k])
				continue;
			if (!a.value[k] || !b.value[k]) {
				if (a.value[k] || b.value[k])
					fail_msg("%s: '%s' is '%s' here, '%s' for libgit2", what, keys[k],
						 a.value[k] ? a.value[k] : "(bare)", b.value[k] ? b.value[k] : "(bare)");
			} else if (strcmp(a.value[k], b.value[k])) {
				fail_msg("%s: '%s' is '%s' here, '%s' for libgit2", what, keys[k], a.value[k], b.value[k]);
			}
		}
	}
	values_dispose(&a);
	values_dispose(&b);
	return rc;
}

static void expect_sure_and_same(const char *what)
{
	if (compare(what) != 0)
		fail_msg("%s: unsure", what);
}

static void expect_unsure(const char *what)
{
	values a;
	if (mine(&a) != MREG_GIT_UNSURE)
		fail_msg("%s: read, not unsure", what);
	values_dispose(&a);
}

/* The value this reader gives a key (asserting it is sure); NULL when bare or unset. */
static char *value_of(const char *key, bool *set)
{
	values a;
	assert_int_equal(mine(&a), 0);
	char *out = NULL;
	*set = false;
	for (int k = 0; k < NKEYS; k++)
		if (!strcmp(keys[k], key)) {
			*set = a.set[k];
			out = a.value[k] ? strdup(a.value[k]) : NULL;
		}
	values_dispose(&a);
	return out;
}

/* ---- the files, by hand ---- */

static void sections_subsections_and_bare_keys_read_as_libgit2(void **state)
{
	(void)state;
	local_config("[mreg]\n\tfsync = false\n\tactor = Ann Other <ann@example.com>\n"
		     "[mreg \"sub\"]\n\tfsync = true\n\tactor = not this one\n"
		     "[mreg]\n\tlockTimeout\n[user]name=plain  two  spaces\n");
	expect_sure_and_same("sections");
	bool set;
	char *v = value_of("mreg.locktimeout", &set);
	assert_true(set);
	assert_null(v);	/* bare: NULL, as libgit2's entry */
	v = value_of("user.name", &set);
	assert_string_equal(v, "plain  two  spaces");
	free(v);
	v = value_of("mreg.actor", &set);
	assert_string_equal(v, "Ann Other <ann@example.com>");
	free(v);
}

static void names_ignore_case_as_libgit2(void **state)
{
	(void)state;
	local_config("[MReg]\n\tFSync = No\n\tACTOR = x\n[User]\n\tName = y\n");
	expect_sure_and_same("case");
	bool set;
	char *v = value_of("mreg.fsync", &set);
	assert_string_equal(v, "No");
	free(v);
}

static void comments_read_as_libgit2(void **state)
{
	(void)state;
	local_config("# a comment\n; another\n[mreg] ; after a header\n"
		     "\tfsync = true # after a value\n\tactor = a b;c\n\tlocktimeout=5#x\n"
		     "  # indented comment\n[user]\n\tname = = still the value =\n");
	expect_sure_and_same("comments");
	bool set;
	char *v = value_of("mreg.actor", &set);
	assert_string_equal(v, "a b");
	free(v);
	v = value_of("user.name", &set);
	assert_string_equal(v, "= still the value =");
	free(v);
}

static void crlf_and_bom_read_as_libgit2(void **state)
{
	(void)state;
	home_file(".gitconfig", "\xef\xbb\xbf[mreg]\r\n\tactor = from global\r\n\tfsync\r\n\r\n[user]\r\n\tname = n \r\n");
	expect_sure_and_same("crlf and bom");
	bool set;
	char *v = value_of("mreg.actor", &set);
	assert_string_equal(v, "from global");
	free(v);
	v = value_of("mreg.fsync", &set);
	assert_true(set);
	assert_null(v);
}

/* xdg, then global, then the repository's: the later wins, keys of one file alone stay. */
static void later_files_win_as_in_libgit2(void **state)
{
	(void)state;
	home_file(".config/git/config", "[mreg]\n\tactor = xdg\n\tfsync = xdg\n\tlocktimeout = 1\n[alias]\n\tst = status\n");
	home_file(".gitconfig", "[mreg]\n\tactor = global\n\tfsync = global\n");
	local_config("[mreg]\n\tactor = local\n");
	expect_sure_and_same("three files");
	bool set;
	char *v = value_of("mreg.actor", &set);
	assert_string_equal(v, "local");
	free(v);
	v = value_of("mreg.fsync", &set);
	assert_string_equal(v, "global");
	free(v);
	v = value_of("mreg.locktimeout", &set);
	assert_string_equal(v, "1");
	free(v);
	/* XDG_CONFIG_HOME replaces ~/.config */
	char xdg[700];
	tg_fmt(xdg, sizeof(xdg), "%s/xdg", home);
	home_file("xdg/git/config", "[mreg]\n\tlocktimeout = 7\n");
	assert_int_equal(setenv("XDG_CONFIG_HOME", xdg, 1), 0);
	env_changed();
	expect_sure_and_same("XDG_CONFIG_HOME");
	v = value_of("mreg.locktimeout", &set);
	assert_string_equal(v, "7");
	free(v);
	unsetenv("XDG_CONFIG_HOME");
	env_changed();
}

/* Quoted values of keys not read, in pairs (an alias, a quoted name), leave the reader sure. */
static void quoted_values_of_keys_not_read_stay_sure(void **state)
{
	(void)state;
	local_config("[alias]\n\tlg = \"log --oneline\"\n[other]\n\tx = a \"b\" c\n[mreg]\n\tactor = plain\n");
	expect_sure_and_same("quotes elsewhere");
}

static void includes_are_unsure(void **state)
{
	(void)state;
	home_file("other", "[mreg]\n\tactor = included\n");
	home_file(".gitconfig", "[include]\n\tpath = other\n");
	expect_unsure("[include] in the global file");
	home_file(".gitconfig", "[includeIf \"gitdir:/\"]\n\tpath = other\n");
	expect_unsure("[includeIf] in the global file");
	home_file(".gitconfig", "");
	local_config("[Include]\n\tpath = ../../home/other\n");
	expect_unsure("[include] in the repository's file");
	/* and libgit2 does follow them: a guess would have been wrong */
	values b;
	assert_int_equal(theirs(&b), 0);
	assert_true(b.set[1]);
	assert_string_equal(b.value[1], "included");
	values_dispose(&b);
}

/* A value of a key this reader reads that holds what libgit2 reads its own way: unsure. */
static void escapes_and_quotes_in_values_read_are_unsure(void **state)
{
	(void)state;
	static const char *const texts[] = {
		"[mreg]\n\tactor = a\\\\b\n",
		"[mreg]\n\tactor = \"quoted\"\n",
		"[mreg]\n\tactor = half \"quoted\n",
		"[mreg]\n\tactor = goes on \\\n\ton the next line\n",
		"[mreg]\n\tactor = a\tb\n",
		"[mreg]\n\tfsync = true # \"a quote in the comment\n",
		"[alias]\n\tx = a\\\\b\n",	/* a backslash in any value */
		"[alias]\n\tx = one \"quote\n",	/* a quote left open in any value */
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		local_config(texts[i]);
		expect_unsure(texts[i]);
	}
}

/* Lines this reader does not parse: unsure. */
static void lines_not_parsed_are_unsure(void **state)
{
	(void)state;
	static const char *const texts[] = {
		"fsync = true\n",		/* a key before any section: after git init's [core], so put in front below */
		"[mreg]\n\t9lives = x\n",
		"[mreg]\n\tfs_ync = x\n",
		"[mreg.old]\n\tfsync = x\n",
		"[ mreg ]\n\tfsync = x\n",
		"[mreg \"sub\" ]\n",
		"[mreg \"a\\\"b\"]\n",
		"[mreg\n",
		"[mreg]\n\tfsync x = 1\n",
		"[mreg]]\n",
	};
	for (size_t i = 1; i < sizeof(texts) / sizeof(texts[0]); i++) {
		local_config(texts[i]);
		expect_unsure(texts[i]);
	}
	char path[800];
	tg_puts(tg_fmt(path, sizeof(path), "%sconfig", gitdir), texts[0]);
	expect_unsure(texts[0]);
}

/*
 * Config files drawn at random from the forms git's syntax allows (and a
 * few it does not): wherever this reader is sure, every key it reads has
 * libgit2's value. Enough of them must be read for the test to mean
 * something.
 */
static const char *pick(const char *const *v, size_t n)
{
	return v[(size_t)rand() % n];
}
#define PICK(a) pick(a, sizeof(a) / sizeof(a[0]))

static void random_config(mreg_buf *b, bool local)
{
	static const char *const sections[] = {
		"[mreg]", "[MReg]", "[mreg \"sub\"]", "[user]", "[alias]", "[mreg \"\"]", "[other-sec]", "[mreg] ", "[user]\t",
		"\t[mreg]", "[mreg \"a]b\"]", "[mreg \"a b\"]", "[mreg-2]", "[mreg] fsync = inline", "[user]name",
	};
	static const char *const names[] = {
		"fsync", "FSync", "actor", "lockTimeout", "name", "st", "x-y", "editor", "Name", "fsync2", "a1",
	};
	static const char *const assigns[] = { " = ", "=", " =", "= ", "\t=\t", "" };
	static const char *const vals[] = {
		"true", "false", "no", "1k", "Ann <a@b>", "two  spaces", "", "x=y", "\xc3\xa9 \xc3\xbc", "  lead", "trail  ",
		"semi;colon", "hash#tag", "on",
	};
	/* values libgit2 reads its own way: drawn now and then */
	static const char *const odd_vals[] = { "say \"hi\"", "a\\\\b", "tab\there", "x # \"q", "half \"open" };
	static const char *const comments[] = { "", "", "", " # c", " ; c", "#c" };
	static const char *const ends[] = { "\n", "\n", "\n", "\r\n" };
	static const char *const indents[] = { "", "\t", "  ", "\t" };
	if (!local && rand() % 8 == 0)
		mreg_buf_puts(b, "\xef\xbb\xbf");
	int lines = 1 + rand() % 10;
	mreg_buf_puts(b, PICK(sections));	/* the repository's file ends in [core]: leave it first */
	mreg_buf_puts(b, PICK(ends));
	for (int i = 0; i < lines; i++) {
		int kind = rand() % 10;
		if (kind == 0) {
			mreg_buf_puts(b, PICK(sections));
		} else if (kind == 1) {
			mreg_buf_puts(b, rand() % 2 ? "# a comment" : "; a comment");
		} else if (kind == 2) {
			/* a blank line */
		} else {
			mreg_buf_puts(b, PICK(indents));
			mreg_buf_puts(b, PICK(names));
			const char *assign = PICK(assigns);
			mreg_buf_puts(b, assign);
			if (*assign)
				mreg_buf_puts(b, rand() % 12 ? PICK(vals) : PICK(odd_vals));
			mreg_buf_puts(b, PICK(comments));
		}
		mreg_buf_puts(b, PICK(ends));
	}
}

static void random_config_files_read_as_libgit2(void **state)
{
	(void)state;
	int sure = 0, rounds = 300;
	mreg_buf g = MREG_BUF_INIT, l = MREG_BUF_INIT;
	char what[64];
	srand(17);
	for (int round = 0; round < rounds; round++) {
		mreg_buf_clear(&g);
		mreg_buf_clear(&l);
		random_config(&g, false);
		random_config(&l, true);
		home_file(".gitconfig", g.ptr);
		local_config(l.ptr);
		if (compare(tg_fmt(what, sizeof(what), "round %d", round)) == 0)
			sure++;
	}
	assert_true(sure > rounds / 3);
	mreg_buf_dispose(&g);
	mreg_buf_dispose(&l);
}

/* ---- the repository's layout ---- */

static void plain_layout_is_the_repository_s_own(void **state)
{
	(void)state;
	assert_int_equal(mreg_git_config_plain(gitdir, NULL), 0);	/* as git init wrote it */
	static const struct {
		const char *text;
		int rc;
	} cases[] = {
		{ "[core]\n\tbare = false\n", 0 },
		{ "[core]\n\tbare = FALSE\n", 0 },
		{ "[mreg]\n\tfsync = false\n[user]\n\tname = x\n", 0 },
		{ "[core]\n\tbare = true\n", 0 },
		{ "[core]\n\tbare = yes\n", MREG_GIT_UNSURE },
		{ "[core]\n\tbare\n", MREG_GIT_UNSURE },
		{ "[core]\n\tworktree = /somewhere/else\n", MREG_GIT_UNSURE },
		{ "[core]\n\trepositoryformatversion = 1\n", MREG_GIT_UNSURE },
		{ "[extensions]\n\tobjectformat = sha1\n", MREG_GIT_UNSURE },
		{ "[Extensions]\n\tworktreeConfig = true\n", MREG_GIT_UNSURE },
		{ "[include]\n\tpath = x\n", MREG_GIT_UNSURE },
		{ "[core]\n\tbare = \"false\"\n", MREG_GIT_UNSURE },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		local_config(cases[i].text);
		if (mreg_git_config_plain(gitdir, NULL) != cases[i].rc)
			fail_msg("'%s': %d", cases[i].text, mreg_git_config_plain(gitdir, NULL));
	}
	/* what libgit2 makes of two of them: a bare repository, a work tree elsewhere */
	git_repository *repo = NULL;
	local_config("[core]\n\tbare = true\n");
	assert_int_equal(git_repository_open(&repo, gitdir), 0);
	assert_true(git_repository_is_bare(repo));
	git_repository_free(repo);
	local_config("[core]\n\tworktree = /tmp\n");
	assert_int_equal(git_repository_open(&repo, gitdir), 0);
	assert_string_equal(git_repository_workdir(repo), "/tmp/");
	git_repository_free(repo);
	/* extensions seen in the global file are not the repository's */
	local_config("");
	home_file(".gitconfig", "[extensions]\n\tobjectformat = sha1\n");
	assert_int_equal(mreg_git_config_plain(gitdir, NULL), 0);
}

/* ---- values ---- */

static void booleans_read_as_libgit2_reads_them(void **state)
{
	(void)state;
	static const char *const vals[] = {
		"true", "TRUE", "yes", "On", "false", "No", "off", "", "0", "1", "2", "1k", "100",
		"-1", "010", "0x10", "truth", "t", " true", "true ", "2147483648", "y",
	};
	static const char *const must[] = { "true", "TRUE", "yes", "On", "false", "No", "off", "", "0", "1", "2", "1k" };
	bool b;
	int lb;
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		bool ok = mreg_git_config_bool(&b, vals[i]);
		int lrc = git_config_parse_bool(&lb, vals[i]);
		if (ok && (lrc != 0 || b != (lb != 0)))
			fail_msg("'%s': %d here, libgit2 %d (rc %d)", vals[i], b, lb, lrc);
	}
	for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++)
		if (!mreg_git_config_bool(&b, must[i]))
			fail_msg("'%s' is not read as a boolean", must[i]);
	/* a bare key is true */
	assert_true(mreg_git_config_bool(&b, NULL));
	assert_true(b);
	assert_false(mreg_git_config_bool(&b, "maybe"));
}

static void numbers_read_as_libgit2_reads_them(void **state)
{
	(void)state;
	static const struct {
		const char *v;
		bool ok;
		int32_t n;
	} cases[] = {
		{ "0", true, 0 },
		{ "7", true, 7 },
		{ "1k", true, 1024 },
		{ "3K", true, 3072 },
		{ "2m", true, 2097152 },
		{ "1g", true, 1073741824 },
		{ "1G", true, 1073741824 },
		{ "2147483647", true, INT32_MAX },
		{ "2097151k", true, 2147482624 },
		{ "2147483648", false, 0 },
		{ "2097152k", false, 0 },
		{ "2g", false, 0 },
		{ "99999999999999999999", false, 0 },
		{ "", false, 0 },
		{ "-1", false, 0 },
		{ "+1", false, 0 },
		{ "010", false, 0 },
		{ "0x10", false, 0 },
		{ "1kb", false, 0 },
		{ "1 k", false, 0 },
		{ " 1", false, 0 },
		{ "k", false, 0 },
		{ "1t", false, 0 },
		{ "0k", false, 0 },	/* libgit2 reads 0: not plainly a number here, which is allowed */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int32_t n = -7, ln = -8;
		bool ok = mreg_git_config_int32(&n, cases[i].v);
		if (ok != cases[i].ok)
			fail_msg("'%s': %s", cases[i].v, ok ? "read" : "not read");
		if (!ok)
			continue;
		assert_int_equal(n, cases[i].n);
		/* libgit2 reads the same number */
		assert_int_equal(git_config_parse_int32(&ln, cases[i].v), 0);
		assert_int_equal(ln, n);
	}
	/* what overflows an int32 here, libgit2 refuses too */
	int32_t ln;
	assert_int_not_equal(git_config_parse_int32(&ln, "2g"), 0);
	assert_int_not_equal(git_config_parse_int32(&ln, "2147483648"), 0);
}

/* ---- expiry dates, against git's date parser ---- */

#define NOW INT64_C(1710500000)	/* 2024-03-15 06:53:20 in New York, summer time since the 10th */

/* The cutoff git gives date at NOW (`git rev-parse --since`, the parser gc.pruneExpire goes through). */
static int64_t git_cutoff(const char *date)
{
	char *out = tg_capture(NULL, "GIT_TEST_DATE_NOW=%lld git rev-parse --since='%s'", (long long)NOW, date);
	long long t;
	if (sscanf(out, "--max-age=%lld", &t) != 1)
		fail_msg("git rev-parse --since='%s' says '%s'", date, out);
	free(out);
	return t;
}

static int64_t expiry(const char *v)
{
	int64_t t = 12345;
	int rc = mreg_git_config_expiry(&t, v, NOW);
	if (rc != 0) {
		assert_int_equal(rc, -1);
		return -1;
	}
	return t;
}

static void expect_as_git(const char *date)
{
	int64_t mine_t = expiry(date), git_t = git_cutoff(date);
	if (mine_t != git_t)
		fail_msg("'%s': %lld here, %lld for git", date, (long long)mine_t, (long long)git_t);
}

static void expiry_keywords_and_seconds(void **state)
{
	(void)state;
	assert_int_equal(expiry("now"), INT64_MAX);
	assert_int_equal(expiry("all"), INT64_MAX);
	assert_int_equal(expiry("never"), INT64_MIN);
	assert_int_equal(expiry("false"), INT64_MIN);
	/* seconds since the epoch, as git reads them (git reads "@" and fewer than nine digits otherwise) */
	expect_as_git("@1234567890");
	expect_as_git("@1700000000");
	assert_int_equal(expiry("@1234567890"), 1234567890);
	assert_int_equal(expiry("@"), -1);
	assert_int_equal(expiry("@12x"), -1);
}

/* "YYYY-MM-DD HH:MM[:SS]" in local time, winter and summer, and across the spring-forward gap. */
static void expiry_dates_with_a_time_are_local_as_git_reads_them(void **state)
{
	(void)state;
	static const char *const dates[] = {
		"2024-01-15 10:30", "2024-01-15 10:30:20", "2024-07-04 23:59:59", "2024-01-15T10:30", "2024-1-5 3:04",
		"2024-02-29 12:00", "1999-12-31 23:59:59", "2024-03-10 02:30",
	};
	for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++)
		expect_as_git(dates[i]);
	/* and mktime's reading of the same fields */
	struct tm tm = { .tm_year = 124, .tm_mon = 0, .tm_mday = 15, .tm_hour = 10, .tm_min = 30, .tm_isdst = -1 };
	assert_int_equal(expiry("2024-01-15 10:30"), (int64_t)mktime(&tm));
}

/* A date alone: git takes it at the time of day it is now (it is not midnight). */
static void expiry_date_alone_is_read_as_git_reads_it(void **state)
{
	(void)state;
	static const char *const dates[] = { "2024-01-15", "2023-07-01" };
	for (size_t i = 0; i < 2; i++) {
		int64_t t = expiry(dates[i]);
		if (t != -1)
			expect_as_git(dates[i]);
	}
}

/* Relative spans of seconds to weeks, with or without "ago", dots or spaces: now minus the span, as git. */
static void expiry_relative_spans_are_now_minus_the_span_as_git_reads_them(void **state)
{
	(void)state;
	static const struct {
		const char *v;
		int64_t back;
	} cases[] = {
		{ "2.weeks.ago", 14 * 86400 },
		{ "1 day 12 hours", 86400 + 12 * 3600 },
		{ "3.days", 3 * 86400 },
		{ "1.week", 7 * 86400 },
		{ "1.hour.ago", 3600 },
		{ "90.seconds.ago", 90 },
		{ "5.minutes.ago", 300 },
		{ "1.second", 1 },
		{ "2 weeks 3 days ago", 17 * 86400 },
		{ "1.day.1.hour.ago", 90000 },
		{ "10.days.ago", 10 * 86400 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(expiry(cases[i].v), NOW - cases[i].back);
		expect_as_git(cases[i].v);
	}
}

/* Months and years: git counts calendar ones (February, leap years), not 30 and 365 days. */
static void expiry_months_and_years_are_read_as_git_reads_them(void **state)
{
	(void)state;
	static const char *const spans[] = { "1.month.ago", "2.months.ago", "1.year.ago", "3.months" };
	for (size_t i = 0; i < sizeof(spans) / sizeof(spans[0]); i++)
		if (expiry(spans[i]) != -1)
			expect_as_git(spans[i]);
}

/* "sec" and "min" are not units to git ("5.min.ago" is the 5th of the month): read as git does, or refused. */
static void expiry_abbreviated_units_are_read_as_git_reads_them_or_refused(void **state)
{
	(void)state;
	static const char *const spans[] = { "5.min.ago", "5.mins.ago", "30.sec.ago", "2.secs" };
	for (size_t i = 0; i < sizeof(spans) / sizeof(spans[0]); i++)
		if (expiry(spans[i]) != -1)
			expect_as_git(spans[i]);
}

static void expiry_refuses_what_it_does_not_read(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"3.fortnights.ago", "2.weeks.ago.ago", "", "ago", "weeks", "2", "2.weeks.later", "yesterday",
		"2.Weeks.Ago", "1000001.seconds.ago", "2024-13-01 10:00", "2024-01-15 25:00", "2024-01-15 10:30 junk",
		"-2.weeks.ago", "now ", " now",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (expiry(bad[i]) != -1)
			fail_msg("'%s' read as %lld", bad[i], (long long)expiry(bad[i]));
}

/* ---- fixtures ---- */

static char *saved_tz;

static int group_setup(void **state)
{
	saved_tz = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
	/* a zone with summer time: local dates mean something, for git and here alike */
	setenv("TZ", "America/New_York", 1);
	tzset();
	return tg_setup_group(state);
}

static int group_teardown(void **state)
{
	if (saved_tz)
		setenv("TZ", saved_tz, 1);
	else
		unsetenv("TZ");
	free(saved_tz);
	return tg_teardown_group(state);
}

static int setup(void **state)
{
	char path[700];
	if (tg_setup_repo(state) != 0)
		return -1;
	snprintf(gitdir, sizeof(gitdir), "%s/.git/", tg_cwd);
	snprintf(home, sizeof(home), "%s/home", tg_work);
	snprintf(path, sizeof(path), "%sconfig", gitdir);
	if (mreg_fs_mkdirs(home) != 0)
		return -1;
	mreg_buf b = MREG_BUF_INIT;
	if (mreg_fs_read(&b, path, 0) != 0)
		return -1;
	base_config = mreg_buf_detach(&b);
	setenv("HOME", home, 1);
	unsetenv("XDG_CONFIG_HOME");
	env_changed();
	/* nothing of the machine's makes this reader unsure to begin with (an [include] in /etc/gitconfig would) */
	values a;
	memset(&a, 0, sizeof(a));
	int rc = mreg_git_config_read(gitdir, keys, take, &a, NULL);
	values_dispose(&a);
	if (rc != 0)
		fprintf(stderr, "the config of this machine (/etc/gitconfig) is not one this reader is sure of\n");
	return rc == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	free(base_config);
	base_config = NULL;
	setenv("HOME", tg_base, 1);
	unsetenv("XDG_CONFIG_HOME");
	env_changed();
	return tg_teardown_repo(state);
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(sections_subsections_and_bare_keys_read_as_libgit2),
		TEST(names_ignore_case_as_libgit2),
		TEST(comments_read_as_libgit2),
		TEST(crlf_and_bom_read_as_libgit2),
		TEST(later_files_win_as_in_libgit2),
		TEST(quoted_values_of_keys_not_read_stay_sure),
		TEST(includes_are_unsure),
		TEST(escapes_and_quotes_in_values_read_are_unsure),
		TEST(lines_not_parsed_are_unsure),
		TEST(random_config_files_read_as_libgit2),
		TEST(plain_layout_is_the_repository_s_own),
		TEST(booleans_read_as_libgit2_reads_them),
		TEST(numbers_read_as_libgit2_reads_them),
		TEST(expiry_keywords_and_seconds),
		TEST(expiry_dates_with_a_time_are_local_as_git_reads_them),
		TEST(expiry_date_alone_is_read_as_git_reads_it),
		TEST(expiry_relative_spans_are_now_minus_the_span_as_git_reads_them),
		TEST(expiry_months_and_years_are_read_as_git_reads_them),
		TEST(expiry_abbreviated_units_are_read_as_git_reads_them_or_refused),
		TEST(expiry_refuses_what_it_does_not_read),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

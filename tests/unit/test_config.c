/*
 * Unit tests for the settings read without libgit2 (fsstore/git/config.c,
 * through fsstore/registry.c): mreg.fsync, mreg.lockTimeout and mreg.actor.
 *
 * libgit2 is the reference. mreg_registry_open reads the settings through
 * it; mreg_registry_open_write reads them through git/config.c (reg->light)
 * when that reader is sure, and else falls back to libgit2's road. So the
 * central check opens one registry both ways and compares, config text by
 * config text, and also asserts which road the write open took: a case
 * that should be read lightly but falls back would compare equal and hide
 * the fallback.
 *
 * Each test gets a fresh registry in a fresh directory that is also HOME,
 * with XDG_CONFIG_HOME unset, so no user config leaks in (/etc/gitconfig is
 * read as it is and must hold no mreg keys). libgit2 looks at HOME and
 * XDG_CONFIG_HOME once, when it starts; a test that changes them has it
 * look again (env_changed), as a new process would.
 */

#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static char root[64];		/* /tmp/mreg-test-config.XXXXXX, fresh for each test */
static char regdir[128];	/* <root>/reg */
static char *base_config;	/* <regdir>/.git/config as mreg_registry_init wrote it */
static char *saved_home, *saved_xdg;	/* the environment before the tests, put back after each */

/* ---- files and environment ---- */

/* Write text to root/rel, making directories as needed. */
static void put(const char *rel, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(mreg_fs_mkparents(path), 0);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

/* The repository's config: what init wrote, then text. */
static void repo_config(const char *text)
{
	char *all = mreg_strfmt("%s%s", base_config, text);
	assert_non_null(all);
	put("reg/.git/config", all);
	free(all);
}

/* root/rel as an absolute path, into buf. */
static const char *abs_path(char *buf, size_t n, const char *rel)
{
	snprintf(buf, n, "%s/%s", root, rel);
	return buf;
}

static void env_changed(void)
{
	assert_int_equal(git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_GLOBAL, (const char *)NULL), 0);
	assert_int_equal(git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_XDG, (const char *)NULL), 0);
}

static void set_env(const char *name, const char *value)
{
	if (value)
		assert_int_equal(setenv(name, value, 1), 0);
	else
		assert_int_equal(unsetenv(name), 0);
	env_changed();
}

/* Without a check: also for teardown, which must not stop halfway. */
static void put_env_back(const char *name, const char *value)
{
	if (value)
		setenv(name, value, 1);
	else
		unsetenv(name);
}

/* ---- opening ---- */

/* What one open gave, copied out so the registry is freed before any assertion. */
typedef struct {
	int rc;
	bool light, settings, fsync;
	int ms;
	char actor[256];
} seen;

static seen open_with(bool write)
{
	seen s;
	mreg_registry *reg = NULL;
	memset(&s, 0, sizeof(s));
	s.rc = write ? mreg_registry_open_write(&reg, regdir) : mreg_registry_open(&reg, regdir);
	if (s.rc == 0) {
		s.light = reg->light;
		s.settings = reg->settings;
		s.fsync = reg->fsync;
		s.ms = reg->lock_timeout_ms;
		snprintf(s.actor, sizeof(s.actor), "%s", reg->actor ? reg->actor : "(null)");
	}
	mreg_registry_free(reg);
	return s;
}

/* The settings of a write open that must have been light. */
static seen light_open(void)
{
	seen s = open_with(true);
	assert_int_equal(s.rc, 0);
	assert_true(s.light);
	assert_true(s.settings);
	return s;
}

/* The settings of a write open that must have fallen back to libgit2; they must be libgit2's. */
static seen fallback_open(void)
{
	seen w = open_with(true), g = open_with(false);
	assert_int_equal(w.rc, 0);
	assert_int_equal(g.rc, 0);
	assert_false(w.light);
	assert_true(w.settings);
	assert_int_equal(w.fsync, g.fsync);
	assert_int_equal(w.ms, g.ms);
	assert_string_equal(w.actor, g.actor);
	return w;
}

static bool light_fsync(const char *text)
{
	repo_config(text);
	return light_open().fsync;
}

static void assert_default_actor(const char *actor)
{
	char *def = mreg_registry_default_actor();
	assert_non_null(def);
	assert_string_equal(actor, def);
	free(def);
}

/* ---- defaults and precedence ---- */

static void no_mreg_keys_give_the_defaults(void **state)
{
	(void)state;
	seen s = light_open();
	assert_true(s.fsync);
	assert_int_equal(s.ms, 30000);
	assert_default_actor(s.actor);
}

/* USER, else LOGNAME, else "unknown", then '@' and the host name. */
static void default_actor_is_user_at_host(void **state)
{
	(void)state;
	char host[256] = "";
	const char *user = getenv("USER"), *logname = getenv("LOGNAME");
	char *saved_user = user ? mreg_strdup(user) : NULL, *saved_logname = logname ? mreg_strdup(logname) : NULL;
	char *got[3];
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	setenv("USER", "tester", 1);
	setenv("LOGNAME", "logger", 1);
	got[0] = mreg_registry_default_actor();
	setenv("USER", "", 1);
	got[1] = mreg_registry_default_actor();
	unsetenv("USER");
	unsetenv("LOGNAME");
	got[2] = mreg_registry_default_actor();
	put_env_back("USER", saved_user);
	put_env_back("LOGNAME", saved_logname);
	free(saved_user);
	free(saved_logname);
	char *want[3] = { mreg_strfmt("tester@%s", host), mreg_strfmt("logger@%s", host), mreg_strfmt("unknown@%s", host) };
	for (int i = 0; i < 3; i++) {
		assert_non_null(got[i]);
		assert_string_equal(got[i], want[i]);
		free(got[i]);
		free(want[i]);
	}
}

static void repository_config_beats_global(void **state)
{
	(void)state;
	put("home/.gitconfig", "[mreg]\n\tactor = global\n");
	repo_config("[mreg]\n\tactor = repo\n");
	assert_string_equal(light_open().actor, "repo");
}

static void global_config_applies_alone(void **state)
{
	(void)state;
	put("home/.gitconfig", "[mreg]\n\tactor = global\n\tfsync = false\n\tlockTimeout = 9\n");
	seen s = light_open();
	assert_string_equal(s.actor, "global");
	assert_false(s.fsync);
	assert_int_equal(s.ms, 9000);
}

static void global_beats_xdg(void **state)
{
	(void)state;
	put("home/.config/git/config", "[mreg]\n\tactor = xdg\n");
	assert_string_equal(light_open().actor, "xdg");	/* read at all, when alone */
	put("home/.gitconfig", "[mreg]\n\tactor = global\n");
	assert_string_equal(light_open().actor, "global");
	seen g = open_with(false);
	assert_int_equal(g.rc, 0);
	assert_string_equal(g.actor, "global");
}

static void xdg_config_home_replaces_dot_config(void **state)
{
	(void)state;
	char xdg[512];
	put("home/.config/git/config", "[mreg]\n\tactor = dot-config\n");
	put("xdg/git/config", "[mreg]\n\tactor = xdg\n");
	set_env("XDG_CONFIG_HOME", abs_path(xdg, sizeof(xdg), "xdg"));
	assert_string_equal(light_open().actor, "xdg");
	assert_string_equal(open_with(false).actor, "xdg");
	put("home/.gitconfig", "[mreg]\n\tactor = global\n");
	assert_string_equal(light_open().actor, "global");
}

static void keys_from_different_files_combine(void **state)
{
	(void)state;
	put("home/.config/git/config", "[mreg]\n\tlockTimeout = 3\n\tactor = xdg\n");
	put("home/.gitconfig", "[mreg]\n\tfsync = false\n\tactor = global\n");
	repo_config("[mreg]\n\tactor = repo\n");
	seen s = light_open();
	assert_int_equal(s.ms, 3000);
	assert_false(s.fsync);
	assert_string_equal(s.actor, "repo");
}

/* ---- syntax ---- */

static void section_and_key_names_ignore_case(void **state)
{
	(void)state;
	repo_config("[MREG]\n\tLockTimeout = 5\n\tFSYNC = no\n[Mreg]\n\tACTOR = Someone\n");
	seen s = light_open();
	assert_int_equal(s.ms, 5000);
	assert_false(s.fsync);
	assert_string_equal(s.actor, "Someone");	/* the value keeps its case */
}

static void bare_fsync_is_true(void **state)
{
	(void)state;
	put("home/.gitconfig", "[mreg]\n\tfsync = false\n");
	assert_false(light_fsync(""));
	assert_true(light_fsync("[mreg]\n\tfsync\n"));
	assert_true(light_fsync("[mreg]\n\tfsync ; a comment\n"));
	assert_false(light_fsync("[mreg]\n\tfsync\n\tfsync = off\n"));	/* the last one wins */
}

static void fsync_false_spellings(void **state)
{
	(void)state;
	const char *texts[] = {
		"[mreg]\n\tfsync = off\n", "[mreg]\n\tfsync = no\n", "[mreg]\n\tfsync = false\n",
		"[mreg]\n\tfsync = 0\n", "[mreg]\n\tfsync =\n",
		"[mreg]\n\tfsync = OFF\n", "[mreg]\n\tfsync = False\n",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (light_fsync(texts[i]))
			fail_msg("fsync read as true from: %s", texts[i]);
	repo_config("[mreg]\n\tfsync = \"\"\n");	/* quoted: libgit2 reads it, to the same end */
	assert_false(fallback_open().fsync);
}

static void fsync_true_spellings(void **state)
{
	(void)state;
	put("home/.gitconfig", "[mreg]\n\tfsync = false\n");	/* so a value ignored would show */
	const char *texts[] = {
		"[mreg]\n\tfsync = yes\n", "[mreg]\n\tfsync = on\n", "[mreg]\n\tfsync = 1\n",
		"[mreg]\n\tfsync = true\n", "[mreg]\n\tfsync = TRUE\n",
		"[mreg]\n\tfsync = 7\n", "[mreg]\n\tfsync = 1k\n",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (!light_fsync(texts[i]))
			fail_msg("fsync read as false from: %s", texts[i]);
	repo_config("[mreg]\n\tfsync = \"On\"\n");
	assert_true(fallback_open().fsync);
}

/* Quotes, escapes and continued lines are libgit2's to read: the write open falls back, with its values. */
static void quoted_and_escaped_values_are_left_to_libgit2(void **state)
{
	(void)state;
	repo_config("[mreg]\n\tactor = \"a \\\"b\\\" \\\\ c\\td\\ne\" # a comment\n");
	assert_string_equal(fallback_open().actor, "a \"b\" \\ c\td\ne");
	repo_config("[mreg]\n\tactor = \"x;y#z\" ; a comment\n");
	assert_string_equal(fallback_open().actor, "x;y#z");
	repo_config("[mreg]\n\tactor = \"  padded  \"\n");
	assert_string_equal(fallback_open().actor, "  padded  ");
	repo_config("[mreg]\n\tactor = half\"quoted  part\"\n");
	assert_string_equal(fallback_open().actor, "halfquoted  part");
	repo_config("[mreg]\n\tactor = first \\\nsecond\n\tfsync = false\n");
	seen s = fallback_open();
	assert_string_equal(s.actor, "first second");
	assert_false(s.fsync);	/* the next line is a key again */
	repo_config("[mreg]\n\tlockTimeout = 1\\\n2\n");
	assert_int_equal(fallback_open().ms, 12000);
	/* a backslash in another section's value, or a quote left open there, is enough */
	repo_config("[alias]\n\tlg = log \\\n\t--graph\n[mreg]\n\tactor = plain\n");
	assert_string_equal(fallback_open().actor, "plain");
	repo_config("[alias]\n\tlg = \"log --graph\n[mreg]\n\tactor = plain\n");
	assert_string_equal(fallback_open().actor, "plain");	/* libgit2 makes what it makes of it */
	repo_config("[mreg]\n\tactor = plain # say \"hi\"\n");
	assert_string_equal(fallback_open().actor, "plain");
}

static void count_problem(const char *problem, void *payload)
{
	(void)problem;
	(*(size_t *)payload)++;
}

/* A handle from the light open serves the calls that need libgit2 too: they bring it up themselves. */
static void light_handles_serve_calls_that_need_libgit2(void **state)
{
	(void)state;
	mreg_registry *reg = NULL;
	size_t problems = 0, seen_cb = 0;
	cJSON *meta = NULL;
	repo_config("");
	assert_int_equal(mreg_registry_open_write(&reg, regdir), 0);
	assert_true(reg->light);
	assert_int_equal(mreg_fsck(&problems, reg, count_problem, &seen_cb), 0);
	assert_int_equal(problems, 0);
	assert_int_equal(seen_cb, 0);
	mreg_registry_free(reg);
	assert_int_equal(mreg_registry_open_write(&reg, regdir), 0);
	assert_true(reg->light);
	assert_int_equal(mreg_backup_create(&meta, reg, "test"), 0);
	assert_non_null(meta);
	cJSON_Delete(meta);
	mreg_registry_free(reg);
}

/* HEAD detached after a light open (a checkout in between): the write is refused under the lock. */
static void head_detached_after_the_open_refuses_the_write(void **state)
{
	(void)state;
	char file[512], cmd[1200];
	mreg_registry *reg = NULL;
	mreg_register_opts o = MREG_REGISTER_OPTS_INIT;
	put("model.bin", "weights");
	o.name = "m";
	o.file = abs_path(file, sizeof(file), "model.bin");
	repo_config("");
	assert_int_equal(mreg_registry_open_write(&reg, regdir), 0);
	assert_true(reg->light);
	snprintf(cmd, sizeof(cmd), "git -C '%s' checkout -q --detach", regdir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(mreg_register(NULL, NULL, reg, &o), MREG_EINVALID);
	assert_non_null(strstr(mreg_error_last(), "HEAD is detached"));
	mreg_registry_free(reg);
	snprintf(cmd, sizeof(cmd), "git -C '%s' checkout -q main", regdir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(mreg_registry_open_write(&reg, regdir), 0);
	assert_int_equal(mreg_register(NULL, NULL, reg, &o), 0);	/* on the branch again: it goes through */
	mreg_registry_free(reg);
}

/* A NUL byte anywhere in a config file: git and libgit2 read past it differently, so libgit2's road. */
static void a_nul_byte_is_left_to_libgit2(void **state)
{
	(void)state;
	static const char text[] = "[other \"a\0b\"]\n\tk = v\n[mreg]\n\tactor = after-nul\n";
	char path[512];
	repo_config("");
	FILE *f = fopen(abs_path(path, sizeof(path), "reg/.git/config"), "a");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, sizeof(text) - 1, f), sizeof(text) - 1);
	assert_int_equal(fclose(f), 0);
	seen w = open_with(true), g = open_with(false);
	assert_false(w.light && w.rc == 0);
	assert_int_equal(w.rc, g.rc);	/* whatever libgit2 makes of it, both roads make the same */
	if (g.rc == 0)
		assert_string_equal(w.actor, g.actor);
}

/* A registry another user owns: libgit2's ownership check (safe.directory) decides, not the light road. */
static void a_registry_owned_by_another_user_is_left_to_libgit2(void **state)
{
	(void)state;
	char path[512];
	if (geteuid() != 0)
		skip();	/* only root can give the registry away */
	repo_config("");
	assert_true(light_open().light);
	abs_path(path, sizeof(path), "reg");
	assert_int_equal(chown(path, 65534, 65534), 0);
	seen w = open_with(true), g = open_with(false);
	assert_false(w.light);
	assert_int_equal(w.rc, g.rc);
	assert_int_equal(chown(path, 0, 0), 0);
}

/* Quotes in pairs in keys this reader only passes by (a quoted user name, an alias) keep it light. */
static void quoted_values_of_other_keys_stay_light(void **state)
{
	(void)state;
	put("home/.gitconfig", "[user]\n\tname = \"Ada Lovelace\"\n\temail = ada@example.org\n"
			       "[alias]\n\tlg = \"log --graph --format='%h \\\"%s\\\"'\"\n");
	repo_config("[alias]\n\tst = \"status # not a comment\"\n[mreg]\n\tactor = ci@runner ; a comment\n");
	/* the alias holds backslashes: libgit2's road, with the same values */
	assert_string_equal(fallback_open().actor, "ci@runner");
	put("home/.gitconfig", "[user]\n\tname = \"Ada Lovelace\"\n[alias]\n\tlg = \"log --graph\"\n");
	seen s = light_open();
	assert_string_equal(s.actor, "ci@runner");
	seen g = open_with(false);
	assert_string_equal(g.actor, s.actor);
	assert_int_equal(g.fsync, s.fsync);
	assert_int_equal(g.ms, s.ms);
}

static void comments_after_plain_values_go(void **state)
{
	(void)state;
	repo_config("[mreg]\n\tactor = plain#comment\n");
	assert_string_equal(light_open().actor, "plain");
	repo_config("[mreg]\n\tactor = two words ; comment\n\tfsync = no # off\n");
	seen s = light_open();
	assert_string_equal(s.actor, "two words");
	assert_false(s.fsync);
}

static void whitespace_inside_a_value_stays_one_space_per_character(void **state)
{
	(void)state;
	repo_config("[mreg]\n\tactor =    a   b c   \n");
	assert_string_equal(light_open().actor, "a   b c");
	repo_config("[mreg]\n\tactor=tight\n");
	assert_string_equal(light_open().actor, "tight");
}

static void lock_timeout_is_in_seconds_with_k_m_suffixes(void **state)
{
	(void)state;
	repo_config("[mreg]\n\tlockTimeout = 2k\n");
	assert_int_equal(light_open().ms, 2048000);
	repo_config("[mreg]\n\tlockTimeout = 1M\n");
	assert_int_equal(light_open().ms, 1048576000);
	repo_config("[mreg]\n\tlockTimeout = 0\n");
	assert_int_equal(light_open().ms, 0);
	repo_config("[mreg]\n\tlockTimeout = 2147483\n");	/* the most that fits in ms */
	assert_int_equal(light_open().ms, 2147483000);
}

static void subsections_and_other_sections_are_ignored(void **state)
{
	(void)state;
	repo_config("[mreg \"sub\"]\n\tactor = sub\n\tfsync = false\n\tlockTimeout = 1\n"
		    "[other]\n\tactor = other\n\tfsync = false\n"
		    "[mreg]\n\tmore = 1\n");
	seen s = light_open();
	assert_default_actor(s.actor);
	assert_true(s.fsync);
	assert_int_equal(s.ms, 30000);
}

static void crlf_and_bom_are_read(void **state)
{
	(void)state;
	put("home/.gitconfig", "\xef\xbb\xbf[mreg]\n\tlockTimeout = 4\n");
	repo_config("[mreg]\r\n\tactor = crlf\r\n\tfsync = off\r\n");
	seen s = light_open();
	assert_string_equal(s.actor, "crlf");
	assert_false(s.fsync);
	assert_int_equal(s.ms, 4000);
}

/* ---- light and libgit2 agree ---- */

typedef struct {
	const char *global;	/* ~/.gitconfig, NULL: none */
	const char *repo;	/* after what init wrote in .git/config */
	bool light;		/* config.c is sure of it */
} agree_case;

static const agree_case agree_cases[] = {
	{ NULL, "", true },
	{ NULL, "[mreg]\n\tactor = alice\n\tfsync = false\n\tlockTimeout = 7\n", true },
	{ NULL, "[MREG]\n\tLockTimeout = 5\n\tFSYNC = No\n\tActor = Bob\n", true },
	{ "[mreg]\n\tfsync = false\n", "[mreg]\n\tfsync\n", true },
	{ NULL, "[mreg]\n\tfsync = \"\"\n", false },
	{ NULL, "[mreg]\n\tfsync = 1k\n\tlockTimeout = 2k\n", true },
	{ NULL, "[mreg]\n\tfsync = \"1\" \n\tlockTimeout = 1m\n", false },
	{ NULL, "[mreg]\n\tactor = \"a;b\" ; c\n", false },
	{ NULL, "[mreg]\n\tactor = x # c\n", true },
	{ NULL, "[mreg]\n\tactor = \"q\\\"t\\\\s\\tt\\nn\"\n", false },
	{ NULL, "[mreg]\n\tactor = \"  a  \" ; c\n", false },
	{ NULL, "[mreg]\n\tactor = one \\\n two\n", false },
	{ NULL, "[mreg]\n\tactor = \"a\\\nb\"\n", false },
	{ NULL, "[mreg]\n\tactor = a   b   c  \n", true },
	{ NULL, "[mreg \"sub\"]\n\tactor = sub\n\tfsync = false\n[other]\n\tactor = o\n\tlockTimeout = 1\n", true },
	{ NULL, "[mreg]actor = same-line\n", true },
	{ NULL, "[mreg]\n\tactor = first\n\tactor = second\n", true },
	{ "[mreg]\n\tactor = global\n", "[mreg]\n\tactor = set\n\tactor\n", true },
	{ NULL, "[mreg]\r\n\tactor = crlf\r\n\tfsync = off\r\n", true },
	{ "\xef\xbb\xbf[mreg]\n\tactor = bom\n", "", true },
	{ "[mreg]\n\tfsync = false\n\tactor = g\n", "[mreg]\n\tactor = r\n", true },
	{ "[extensions]\n\tnoop = true\n[mreg]\n\tactor = g\n", "", true },	/* only the repository's matter */
	{ NULL, "[mreg]\n\tlockTimeout = 2147483\n", true },
	{ NULL, "[mreg]\n\tfsync = maybe\n", false },
	{ NULL, "[mreg]\n\tfsync = \" \"\n", false },
	{ NULL, "[mreg]\n\tlockTimeout = 0x10\n", false },
	{ NULL, "[mreg]\n\tlockTimeout = 010\n", false },
	{ NULL, "[mreg]\n\tlockTimeout = -1\n", false },
	{ NULL, "[mreg]\n\tlockTimeout = 2g\n", false },
	{ NULL, "[mreg]\n\tlockTimeout\n", false },
	{ NULL, "[mreg]\n\tactor = \"abc\n", false },
	{ NULL, "[mreg.sub]\n\tactor = old-style\n", false },
	{ NULL, "[extensions]\n\tnoop = true\n[mreg]\n\tactor = ext\n", false },
	{ "[mreg]\n\tactor = \"unterminated\n", "", false },
	/* where libgit2 reads quotes, escapes, continued lines and tabs its own way */
	{ NULL, "[mreg]\n\tactor = a\t\tb\n", false },
	{ NULL, "[mreg]\n\tactor = a\\\n\tb\n", false },
	{ NULL, "[mreg]\n\tactor = \"\" x\n", false },
	{ NULL, "[mreg]\n\tactor = \"a\\\\\" ; c\n", false },
	{ NULL, "[mreg]\n\tactor = a\\\n# comment\nb\n", false },
	{ NULL, "[mreg]\n\tlockTimeout = 5\\\n# c\nk\n", false },
	{ NULL, "[mreg]\n\tactor = a\\\n\nb\n", false },
	{ NULL, "[mreg]\n\tactor = \\\n   b\n", false },
	/* control bytes in a value, escapes in a subsection name */
	{ NULL, "[mreg]\n\tactor = bob\f\n", false },
	{ NULL, "[mreg]\n\tactor = bo\vb\n", false },
	{ NULL, "[other \"a\\\"b\"]\n\tk = v\n[mreg]\n\tactor = x\n", false },
};

static void light_and_libgit2_agree(void **state)
{
	(void)state;
	char path[512];
	for (size_t i = 0; i < sizeof(agree_cases) / sizeof(agree_cases[0]); i++) {
		const agree_case *c = &agree_cases[i];
		unlink(abs_path(path, sizeof(path), "home/.gitconfig"));
		if (c->global)
			put("home/.gitconfig", c->global);
		repo_config(c->repo);
		seen w = open_with(true), g = open_with(false);
		if (w.rc != 0 || g.rc != 0)
			fail_msg("case %zu: open_write %d, open %d: %s", i, w.rc, g.rc, mreg_error_last());
		if (w.light != c->light)
			fail_msg("case %zu: the write open was %s", i, w.light ? "light" : "not light");
		if (!w.settings || w.fsync != g.fsync || w.ms != g.ms || strcmp(w.actor, g.actor))
			fail_msg("case %zu: light fsync %d, %d ms, actor '%s'; libgit2 fsync %d, %d ms, actor '%s'", i,
				 w.fsync, w.ms, w.actor, g.fsync, g.ms, g.actor);
	}
}

/* ---- not sure: libgit2's road ---- */

static void values_not_plain_take_the_libgit2_road(void **state)
{
	(void)state;
	repo_config("[mreg]\n\tlockTimeout = 0x10\n");
	assert_int_equal(fallback_open().ms, 16000);
	repo_config("[mreg]\n\tfsync = maybe\n\tactor = m\n");
	seen s = fallback_open();
	assert_true(s.fsync);	/* libgit2 cannot read it either and keeps the default */
	assert_string_equal(s.actor, "m");
	repo_config("[mreg]\n\tactor = \"abc\n");
	assert_string_equal(fallback_open().actor, "abc");
}

static void include_in_global_config_takes_the_libgit2_road(void **state)
{
	(void)state;
	char inc[512], text[1024];
	put("included.conf", "[mreg]\n\tactor = included\n\tlockTimeout = 11\n");
	snprintf(text, sizeof(text), "[mreg]\n\tactor = global\n[include]\n\tpath = %s\n",
		 abs_path(inc, sizeof(inc), "included.conf"));
	put("home/.gitconfig", text);
	seen s = fallback_open();
	assert_string_equal(s.actor, "included");	/* libgit2 follows it: guessing would be wrong */
	assert_int_equal(s.ms, 11000);
}

static void include_if_takes_the_libgit2_road(void **state)
{
	(void)state;
	char inc[512], text[1024];
	put("included.conf", "[mreg]\n\tactor = conditional\n");
	snprintf(text, sizeof(text), "[includeIf \"gitdir:%s/\"]\n\tpath = %s\n", regdir,
		 abs_path(inc, sizeof(inc), "included.conf"));
	put("home/.config/git/config", text);
	assert_string_equal(fallback_open().actor, "conditional");
}

static void repository_extensions_take_the_libgit2_road(void **state)
{
	(void)state;
	repo_config("[extensions]\n\tnoop = true\n[mreg]\n\tactor = ext\n");
	assert_string_equal(fallback_open().actor, "ext");
}

/*
 * mreg_registry_settings_light called on a registry opened lightly, after its config
 * changed to text: 1, the registry's settings untouched. Texts that the
 * light open's own layout check would stop before config.c is asked.
 */
static void assert_unsure(mreg_registry *reg, const char *text)
{
	repo_config(text);
	int rc = mreg_registry_settings_light(reg);
	if (rc != 1)
		fail_msg("mreg_registry_settings_light gave %d, not 1, for: %s", rc, text);
	assert_string_equal(reg->actor, "before");
	assert_int_equal(reg->lock_timeout_ms, 7000);
}

/* The same with text as ~/.gitconfig, the repository's config plain: for what must open a file. */
static void assert_unsure_global(mreg_registry *reg, const char *text)
{
	char path[512];
	put("home/.gitconfig", text);
	assert_unsure(reg, "");
	assert_int_equal(unlink(abs_path(path, sizeof(path), "home/.gitconfig")), 0);
}

static mreg_registry *light_registry(void)
{
	mreg_registry *reg = NULL;
	repo_config("[mreg]\n\tactor = before\n\tlockTimeout = 7\n");
	assert_int_equal(mreg_registry_open_write(&reg, regdir), 0);
	assert_true(reg->light);
	assert_string_equal(reg->actor, "before");
	return reg;
}

/* The same registry, asked again with a plain config: sure. What made it unsure was the text. */
static void assert_sure_again(mreg_registry *reg)
{
	repo_config("[mreg]\n\tactor = after\n");
	assert_int_equal(mreg_registry_settings_light(reg), 0);
	assert_string_equal(reg->actor, "after");
	assert_int_equal(reg->lock_timeout_ms, 30000);
}

static void repository_layout_keys_are_left_to_libgit2(void **state)
{
	(void)state;
	mreg_registry *reg = light_registry();
	/* core.bare true or false is read: true is a lean registry (no index, no events in the work tree) */
	assert_false(reg->lean);
	repo_config("[core]\n\tbare = true\n");
	assert_int_equal(mreg_registry_settings_light(reg), 0);
	assert_true(reg->lean);
	repo_config("[CORE]\n\tBare = TRUE\n[mreg]\n\tactor = before\n\tlockTimeout = 7\n");
	assert_int_equal(mreg_registry_settings_light(reg), 0);
	assert_true(reg->lean);
	repo_config("[core]\n\tbare = false\n[mreg]\n\tactor = before\n\tlockTimeout = 7\n");
	assert_int_equal(mreg_registry_settings_light(reg), 0);
	assert_false(reg->lean);
	assert_unsure(reg, "[core]\n\tbare\n");
	assert_unsure(reg, "[core]\n\tbare = no\n");
	assert_unsure(reg, "[core]\n\tworktree = /elsewhere\n");
	assert_unsure(reg, "[core]\n\trepositoryformatversion = 1\n");
	assert_unsure(reg, "[extensions]\n\tworktreeConfig = true\n");
	assert_unsure(reg, "[include]\n\tpath = /nonexistent\n");
	assert_unsure(reg, "[IncludeIf \"gitdir:/x/\"]\n\tpath = /nonexistent\n");
	assert_sure_again(reg);
	repo_config("[core \"x\"]\n\tbare = true\n[core]\n\tbare = false\n\trepositoryformatversion = 0\n");
	assert_int_equal(mreg_registry_settings_light(reg), 0);	/* a subsection is not core */
	mreg_registry_free(reg);
}

static void lines_it_cannot_parse_are_left_to_libgit2(void **state)
{
	(void)state;
	mreg_registry *reg = light_registry();
	assert_unsure(reg, "[mreg]\n\tactor = \"unterminated\n");
	assert_unsure(reg, "[mreg]\n\tactor = bad\\qescape\n");
	assert_unsure(reg, "[mreg]\n\tactor = ends in a backslash\\");
	assert_unsure(reg, "[mreg\n\tactor = x\n");
	assert_unsure(reg, "[mreg \"sub]\n\tactor = x\n");
	assert_unsure(reg, "[mreg]\n\tactor x\n");
	assert_unsure(reg, "[mreg]\n\t1actor = x\n");
	assert_unsure_global(reg, "actor = outside any section\n");
	assert_unsure_global(reg, "\xef\xbb\xbf\xef\xbb\xbf[mreg]\n");
	assert_unsure(reg, "[mreg]\n\tfsync = maybe\n");
	assert_unsure(reg, "[mreg]\n\tlockTimeout = 0x10\n");
	assert_unsure(reg, "[mreg]\n\tlockTimeout = 2147484\n");	/* too many ms for an int */
	assert_sure_again(reg);
	mreg_registry_free(reg);
}

static void home_unset_or_relative_is_left_to_libgit2(void **state)
{
	(void)state;
	mreg_registry *reg = light_registry();
	char home[512];
	abs_path(home, sizeof(home), "home");

	set_env("HOME", NULL);
	assert_unsure(reg, "[mreg]\n\tactor = repo\n");
	assert_string_equal(fallback_open().actor, "repo");
	set_env("HOME", "relative/home");
	assert_unsure(reg, "[mreg]\n\tactor = repo\n");
	assert_string_equal(fallback_open().actor, "repo");
	set_env("HOME", home);
	set_env("XDG_CONFIG_HOME", "relative/xdg");
	assert_unsure(reg, "[mreg]\n\tactor = repo\n");
	assert_string_equal(fallback_open().actor, "repo");
	set_env("XDG_CONFIG_HOME", NULL);
	assert_sure_again(reg);
	mreg_registry_free(reg);
}

/* ---- fixture ---- */

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	mreg_buf b = MREG_BUF_INIT;
	char path[512];
	snprintf(root, sizeof(root), "/tmp/mreg-test-config.XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(path, sizeof(path), "%s/home", root);
	snprintf(regdir, sizeof(regdir), "%s/reg", root);
	if (mkdir(path, 0755) < 0 || setenv("HOME", path, 1) < 0 || unsetenv("XDG_CONFIG_HOME") < 0 ||
	    mreg_libgit2_ready() < 0)
		return -1;
	env_changed();
	if (mreg_registry_init(regdir) < 0)
		return -1;
	/* a full checkout, where git can detach HEAD: the tests add core.bare = true where they want lean */
	char cmd[1200];
	snprintf(cmd, sizeof(cmd), "git -C '%s' config core.bare false && git -C '%s' reset -q --hard", regdir, regdir);
	mreg_registry *reg = NULL;
	if (system(cmd) != 0 || mreg_registry_open(&reg, regdir) < 0 || mreg_registry_refresh(reg, false, NULL) < 0) {
		mreg_registry_free(reg);
		return -1;
	}
	mreg_registry_free(reg);
	snprintf(path, sizeof(path), "%s/.git/config", regdir);
	if (mreg_fs_read(&b, path, 1 << 20) < 0)
		return -1;
	base_config = mreg_buf_detach(&b);
	return base_config ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(base_config);
	base_config = NULL;
	put_env_back("HOME", saved_home);
	put_env_back("XDG_CONFIG_HOME", saved_xdg);
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_GLOBAL, (const char *)NULL);
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_XDG, (const char *)NULL);
	return nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int group_setup(void **state)
{
	(void)state;
	const char *home = getenv("HOME"), *xdg = getenv("XDG_CONFIG_HOME");
	saved_home = home ? mreg_strdup(home) : NULL;
	saved_xdg = xdg ? mreg_strdup(xdg) : NULL;
	return (home && !saved_home) || (xdg && !saved_xdg) ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	free(saved_home);
	free(saved_xdg);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(no_mreg_keys_give_the_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(default_actor_is_user_at_host, setup, teardown),
		cmocka_unit_test_setup_teardown(repository_config_beats_global, setup, teardown),
		cmocka_unit_test_setup_teardown(global_config_applies_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(global_beats_xdg, setup, teardown),
		cmocka_unit_test_setup_teardown(xdg_config_home_replaces_dot_config, setup, teardown),
		cmocka_unit_test_setup_teardown(keys_from_different_files_combine, setup, teardown),
		cmocka_unit_test_setup_teardown(section_and_key_names_ignore_case, setup, teardown),
		cmocka_unit_test_setup_teardown(bare_fsync_is_true, setup, teardown),
		cmocka_unit_test_setup_teardown(fsync_false_spellings, setup, teardown),
		cmocka_unit_test_setup_teardown(fsync_true_spellings, setup, teardown),
		cmocka_unit_test_setup_teardown(quoted_and_escaped_values_are_left_to_libgit2, setup, teardown),
		cmocka_unit_test_setup_teardown(comments_after_plain_values_go, setup, teardown),
		cmocka_unit_test_setup_teardown(quoted_values_of_other_keys_stay_light, setup, teardown),
		cmocka_unit_test_setup_teardown(light_handles_serve_calls_that_need_libgit2, setup, teardown),
		cmocka_unit_test_setup_teardown(head_detached_after_the_open_refuses_the_write, setup, teardown),
		cmocka_unit_test_setup_teardown(a_nul_byte_is_left_to_libgit2, setup, teardown),
		cmocka_unit_test_setup_teardown(a_registry_owned_by_another_user_is_left_to_libgit2, setup, teardown),
		cmocka_unit_test_setup_teardown(whitespace_inside_a_value_stays_one_space_per_character, setup,
						teardown),
		cmocka_unit_test_setup_teardown(lock_timeout_is_in_seconds_with_k_m_suffixes, setup, teardown),
		cmocka_unit_test_setup_teardown(subsections_and_other_sections_are_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(crlf_and_bom_are_read, setup, teardown),
		cmocka_unit_test_setup_teardown(light_and_libgit2_agree, setup, teardown),
		cmocka_unit_test_setup_teardown(values_not_plain_take_the_libgit2_road, setup, teardown),
		cmocka_unit_test_setup_teardown(include_in_global_config_takes_the_libgit2_road, setup, teardown),
		cmocka_unit_test_setup_teardown(include_if_takes_the_libgit2_road, setup, teardown),
		cmocka_unit_test_setup_teardown(repository_extensions_take_the_libgit2_road, setup, teardown),
		cmocka_unit_test_setup_teardown(repository_layout_keys_are_left_to_libgit2, setup, teardown),
		cmocka_unit_test_setup_teardown(lines_it_cannot_parse_are_left_to_libgit2, setup, teardown),
		cmocka_unit_test_setup_teardown(home_unset_or_relative_is_left_to_libgit2, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

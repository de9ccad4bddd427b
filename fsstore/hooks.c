/*
 * `mreg hooks`: the scripts of hooks/ put where git runs them.
 *
 * A registry people work in gets post-merge, post-checkout and
 * post-rewrite (state files current after plain git); the central bare
 * repository gets pre-receive (the gate: mreg check on every push) and
 * post-receive (its state cache refreshed). The scripts' text comes from
 * the caller (the binary carries hooks/ as it was built). They go to
 * core.hooksPath when git config sets it, else .git/hooks/, and find mreg
 * through git config mreg.program, which install sets to the mreg that
 * installed them: a server's hooks run with a PATH of their own.
 *
 * A hook already there with other content is somebody's: left alone
 * unless forced.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const client_hooks[] = { "post-merge", "post-checkout", "post-rewrite", NULL };
static const char *const server_hooks[] = { "pre-receive", "post-receive", NULL };

/* Where git runs this repository's hooks (ends in '/'). */
static int hooks_dir(char **out, mreg_registry *reg)
{
	git_config *cfg = NULL;
	git_buf b = GIT_BUF_INIT_CONST(NULL, 0);
	*out = NULL;
	if (git_repository_config_snapshot(&cfg, reg->repo) < 0)
		return mreg_libgit2_error("cannot read the git config of", reg->path);
	if (git_config_get_path(&b, cfg, "core.hookspath") == 0 && b.size) {
		const char *base = reg->workdir ? reg->workdir : reg->gitdir;
		*out = b.ptr[0] == '/' ? mreg_strfmt("%s%s", b.ptr, b.ptr[b.size - 1] == '/' ? "" : "/")
				       : mreg_strfmt("%s%s%s", base, b.ptr, b.ptr[b.size - 1] == '/' ? "" : "/");
	} else {
		*out = mreg_strfmt("%shooks/", reg->gitdir);
	}
	git_error_clear();
	git_buf_dispose(&b);
	git_config_free(cfg);
	return *out ? 0 : mreg_error_set(MREG_ERROR, "out of memory");
}

static const char *text_of(const mreg_hook_text *texts, const char *name)
{
	for (const mreg_hook_text *t = texts; t->name; t++)
		if (!strcmp(t->name, name))
			return t->text;
	return NULL;
}

/* "installed" (mreg's, as this mreg has it), "different", "missing". */
static const char *state_of(const char *path, const char *text, bool *exec)
{
	mreg_buf b = MREG_BUF_INIT;
	struct stat sb;
	*exec = false;
	if (lstat(path, &sb) < 0)
		return "missing";
	*exec = S_ISREG(sb.st_mode) && (sb.st_mode & 0111);
	bool same = S_ISREG(sb.st_mode) && mreg_fs_read(&b, path, 1 << 20) == 0 && b.size == strlen(text) &&
		    !memcmp(b.ptr, text, b.size);
	mreg_error_clear();
	mreg_buf_dispose(&b);
	return same ? "installed" : "different";
}

static char *program_setting(mreg_registry *reg)
{
	git_config *cfg = NULL;
	git_buf b = GIT_BUF_INIT_CONST(NULL, 0);
	char *s = NULL;
	if (git_repository_config_snapshot(&cfg, reg->repo) == 0 && git_config_get_string_buf(&b, cfg, "mreg.program") == 0)
		s = mreg_strdup(b.ptr);
	git_error_clear();
	git_buf_dispose(&b);
	git_config_free(cfg);
	return s;
}

static cJSON *hook_item(const char *name, const char *path, const char *state, bool exec, const char *action)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddStringToObject(o, "path", path);
	cJSON_AddStringToObject(o, "state", state);
	cJSON_AddBoolToObject(o, "executable", exec);
	if (action)
		cJSON_AddStringToObject(o, "action", action);
	return o;
}

int mreg_hooks_status(cJSON **out, mreg_registry *reg, const mreg_hook_text *texts)
{
	char *dir = NULL;
	int rc;
	*out = NULL;
	if ((rc = mreg_registry_need_git(reg)) < 0 || (rc = hooks_dir(&dir, reg)) < 0)
		return rc;
	cJSON *o = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(o, "hooks");
	cJSON_AddStringToObject(o, "directory", dir);
	cJSON_AddBoolToObject(o, "bare", reg->workdir == NULL);
	char *program = program_setting(reg);
	if (program)
		cJSON_AddStringToObject(o, "program", program);
	else
		cJSON_AddNullToObject(o, "program");
	free(program);
	for (int set = 0; set < 2; set++)
		for (const char *const *n = set ? server_hooks : client_hooks; *n; n++) {
			char *path = mreg_strfmt("%s%s", dir, *n);
			const char *text = text_of(texts, *n);
			bool exec = false;
			if (path && text) {
				const char *state = state_of(path, text, &exec);
				cJSON_AddItemToArray(list, hook_item(*n, path, state, exec, NULL));
			}
			free(path);
		}
	free(dir);
	*out = o;
	return 0;
}

/* mreg.program in the repository's own config: the mreg running now. */
static int set_program(mreg_registry *reg)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return mreg_error_set(MREG_ERROR, "cannot tell where this mreg is: %s", strerror(errno));
	self[n] = '\0';
	git_config *cfg = NULL;
	char *path = mreg_strfmt("%sconfig", reg->gitdir);
	int rc = 0;
	if (!path || git_config_open_ondisk(&cfg, path) < 0 || git_config_set_string(cfg, "mreg.program", self) < 0)
		rc = path ? mreg_libgit2_error("cannot write the git config of", reg->path)
			  : mreg_error_set(MREG_ERROR, "out of memory");
	git_config_free(cfg);
	free(path);
	return rc;
}

int mreg_hooks_install(cJSON **out, mreg_registry *reg, const mreg_hook_text *texts, bool server, bool force)
{
	char *dir = NULL;
	int rc;
	*out = NULL;
	if ((rc = mreg_registry_need_git(reg)) < 0 || (rc = hooks_dir(&dir, reg)) < 0)
		return rc;
	const char *const *names = server || !reg->workdir ? server_hooks : client_hooks;
	/* every hook judged before any is written: a refusal installs nothing */
	for (const char *const *n = names; *n && rc == 0; n++) {
		char *path = mreg_strfmt("%s%s", dir, *n);
		bool exec;
		if (!path || !text_of(texts, *n))
			rc = mreg_error_set(MREG_ERROR, path ? "this mreg carries no '%s' hook" : "out of memory", *n);
		else if (!force && !strcmp(state_of(path, text_of(texts, *n), &exec), "different"))
			rc = mreg_error_set(MREG_EEXISTS, "a different '%s' hook is installed: '%s' (--force replaces it)",
					    *n, path);
		free(path);
	}
	cJSON *o = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(o, "hooks");
	cJSON_AddStringToObject(o, "directory", dir);
	if (rc == 0 && (rc = mreg_fs_mkdirs(dir)) == 0)
		rc = set_program(reg);
	for (const char *const *n = names; *n && rc == 0; n++) {
		char *path = mreg_strfmt("%s%s", dir, *n);
		const char *text = text_of(texts, *n);
		bool exec = false;
		const char *before = path ? state_of(path, text, &exec) : NULL;
		if (!path)
			rc = mreg_error_set(MREG_ERROR, "out of memory");
		else if ((rc = mreg_fs_write_atomic(path, text, strlen(text), false)) == 0 && chmod(path, 0755) < 0)
			rc = mreg_error_set(MREG_ERROR, "cannot make '%s' executable: %s", path, strerror(errno));
		if (rc == 0)
			cJSON_AddItemToArray(list, hook_item(*n, path, "installed", true,
							     !strcmp(before, "missing") ? "added"
							     : !strcmp(before, "installed") && exec ? "unchanged"
												  : "replaced"));
		free(path);
	}
	free(dir);
	if (rc < 0) {
		cJSON_Delete(o);
		return rc;
	}
	*out = o;
	return 0;
}

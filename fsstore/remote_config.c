/*
 * The remotes of a registry, as git config holds them: `mreg remote add`,
 * `remove` and `list` read and write [remote "NAME"] sections as `git
 * remote` does (git remote -v shows the same), and a removed remote's
 * tracking refs and sync record go with it.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/*
 * The registry's own git config file, opened for writing: a command reads a
 * snapshot of its config (registry.c), which takes no changes.
 */
static int local_config(git_config **out, mreg_registry *reg)
{
	char *path = mreg_strfmt("%sconfig", reg->gitdir);
	int rc = path && git_config_open_ondisk(out, path) == 0 ? 0 : mreg_libgit2_error("cannot open the git config of", reg->path);
	free(path);
	return rc;
}

int mreg_remote_add(mreg_registry *reg, const char *name, const char *url)
{
	git_remote *r = NULL;
	git_config *cfg = NULL;
	int rc, valid = 0;
	if ((rc = mreg_registry_need_git(reg)) < 0)
		return rc;
	if (git_remote_name_is_valid(&valid, name) < 0 || !valid)
		return mreg_error_set(MREG_EINVALID, "invalid remote name '%s'", name);
	if (!*url)
		return mreg_error_set(MREG_EINVALID, "invalid URL '' for remote '%s'", name);
	if (git_remote_lookup(&r, reg->repo, name) == 0) {
		git_remote_free(r);
		return mreg_error_set(MREG_EEXISTS, "remote '%s' already exists", name);
	}
	git_error_clear();
	/* a local path as an absolute one, as git clone keeps it: git lfs and a command run elsewhere find it */
	char *abs = !strstr(url, "://") ? realpath(url, NULL) : NULL;
	struct stat sb;
	if (abs && stat(abs, &sb) == 0 && S_ISDIR(sb.st_mode))
		url = abs;
	if ((rc = local_config(&cfg, reg)) < 0) {
		free(abs);
		return rc;
	}
	char *k_url = mreg_strfmt("remote.%s.url", name), *k_fetch = mreg_strfmt("remote.%s.fetch", name);
	char *spec = mreg_strfmt("+refs/heads/*:refs/remotes/%s/*", name);
	if (!k_url || !k_fetch || !spec)
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	else if (git_config_set_string(cfg, k_url, url) < 0 || git_config_set_multivar(cfg, k_fetch, "^$", spec) < 0)
		rc = mreg_libgit2_error("cannot add remote", name);
	free(k_url);
	free(k_fetch);
	free(spec);
	free(abs);
	git_config_free(cfg);
	return rc;
}

static int drop_ref(git_reference *ref, void *payload)
{
	(void)payload;
	git_reference_delete(ref);
	git_reference_free(ref);
	return 0;
}

int mreg_remote_remove(mreg_registry *reg, const char *name)
{
	git_remote *r = NULL;
	git_config *cfg = NULL;
	int rc;
	if ((rc = mreg_registry_need_git(reg)) < 0)
		return rc;
	if (git_remote_lookup(&r, reg->repo, name) < 0) {
		git_error_clear();
		return mreg_error_set(MREG_ENOTFOUND, "no remote '%s'", name);
	}
	git_remote_free(r);
	if ((rc = local_config(&cfg, reg)) < 0)
		return rc;
	/* its settings, then its remote-tracking refs, as git remote remove does */
	char *re = mreg_strfmt("^remote\\.%s\\.", name), *glob = mreg_strfmt("refs/remotes/%s/*", name);
	git_config_iterator *it = NULL;
	git_config_entry *e;
	if (re && git_config_iterator_glob_new(&it, cfg, re) == 0) {
		char **keys = NULL;
		size_t n = 0;
		while (git_config_next(&e, it) == 0) {
			char **more = realloc(keys, (n + 1) * sizeof(*keys));
			if (!more)
				break;
			keys = more;
			keys[n++] = mreg_strdup(e->name);
		}
		git_config_iterator_free(it);
		for (size_t i = 0; i < n; i++) {
			if (keys[i] && git_config_delete_multivar(cfg, keys[i], ".*") < 0 && rc == 0)
				rc = mreg_libgit2_error("cannot remove remote", name);
			free(keys[i]);
		}
		free(keys);
	}
	git_reference_iterator *ri = NULL;
	git_reference *ref;
	if (glob && git_reference_iterator_glob_new(&ri, reg->repo, glob) == 0) {
		while (git_reference_next(&ref, ri) == 0)
			drop_ref(ref, NULL);
		git_reference_iterator_free(ri);
	}
	git_error_clear();
	free(re);
	free(glob);
	git_config_free(cfg);
	if (rc == 0)
		mreg_sync_forget(reg, name);
	return rc;
}

int mreg_remote_names(git_strarray *out, mreg_registry *reg)
{
	int rc = mreg_registry_need_git(reg);
	if (rc == 0 && git_remote_list(out, reg->repo) < 0)
		rc = mreg_libgit2_error("cannot list the remotes of", reg->path);
	return rc;
}

int mreg_remote_list(cJSON **out, mreg_registry *reg)
{
	git_strarray names = { NULL, 0 };
	int rc = mreg_remote_names(&names, reg);
	if (rc < 0)
		return rc;
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; arr && i < names.count; i++) {
		git_remote *r = NULL;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "name", names.strings[i]);
		if (git_remote_lookup(&r, reg->repo, names.strings[i]) == 0 && git_remote_url(r))
			cJSON_AddStringToObject(o, "url", git_remote_url(r));
		else
			cJSON_AddNullToObject(o, "url");
		git_error_clear();
		git_remote_free(r);
	}
	git_strarray_dispose(&names);
	*out = arr;
	return arr ? 0 : mreg_error_set(MREG_ERROR, "out of memory");
}

/*
 * mreg clone: a node joins. Not git_clone: what a peer serves is checked
 * before any of it is checked out, as every sync checks it. A registry is
 * made at dir (mreg init), the URL becomes its remote "origin", its branch
 * takes the name of the one the remote's HEAD names, and a sync adopts the
 * remote's history (a registry without events does: sync.c); the state,
 * the work tree and the large files of the serving versions follow.
 */
#include "internal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* dir is absent or an empty directory */
static bool vacant(const char *dir)
{
	DIR *d = opendir(dir);
	struct stat sb;
	if (!d)
		return stat(dir, &sb) < 0;
	struct dirent *e;
	bool empty = true;
	while (empty && (e = readdir(d)))
		empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
	closedir(d);
	return empty;
}

/* The registry's branch renamed to the one the remote serves, while it holds only mreg init's commit. */
static int follow_branch(mreg_registry *reg)
{
	char want[256], have[256];
	git_reference *ref = NULL, *moved = NULL;
	int rc = mreg_remote_head_branch(want, sizeof(want), reg, "origin");
	if (rc != 0)
		return rc < 0 ? rc : 0;
	if (!strcmp(mreg_head_branch(reg, have, sizeof(have)), want))
		return 0;
	if (git_reference_lookup(&ref, reg->repo, have) < 0 || git_branch_move(&moved, ref, want + 11, 0) < 0)
		rc = mreg_libgit2_error("cannot name the branch of", reg->path);
	git_reference_free(ref);
	git_reference_free(moved);
	return rc;
}

int mreg_clone(cJSON **report, const char *url, const char *dir, mreg_clone_files files)
{
	mreg_registry *reg = NULL;
	cJSON *sync = NULL;
	int rc;
	*report = NULL;
	if (!vacant(dir))
		return mreg_error_set(MREG_EEXISTS, "cannot clone into '%s': it exists and is not empty", dir);
	if ((rc = mreg_registry_init(dir)) < 0 || (rc = mreg_registry_open(&reg, dir)) < 0 ||
	    (rc = mreg_remote_add(reg, "origin", url)) < 0)
		goto done;
	mreg_registry_free(reg);	/* opened again: a registry reads its git config once */
	reg = NULL;
	if ((rc = mreg_registry_open(&reg, dir)) < 0 || (rc = follow_branch(reg)) < 0)
		goto done;
	const char *names[] = { "origin" };
	mreg_sync_opts o = { names, 1, false, true, false, (int)files };
	if ((rc = mreg_sync(&sync, reg, &o)) < 0)
		goto done;
	const cJSON *one = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(sync, "remotes"), 0);
	const char *err = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(one, "error"));
	if (err) {
		rc = mreg_error_set(MREG_ERROR, "%s", err);
		goto done;
	}
	mreg_state *st = NULL;
	if ((rc = mreg_read_state(&st, reg, NULL, false)) < 0)
		goto done;
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "path", dir);
	cJSON_AddStringToObject(r, "url", url);
	cJSON_AddItemToObject(r, "head", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(sync, "head"), true));
	cJSON_AddNumberToObject(r, "events", (double)st->nevents);
	cJSON_AddNumberToObject(r, "models", (double)st->nmodels);
	cJSON_AddNumberToObject(r, "versions", (double)st->nversions);
	cJSON_AddItemToObject(r, "files_not_here",
			      cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(one, "files_not_here"), true));
	mreg_state_free(st);
	*report = r;
done:
	cJSON_Delete(sync);
	mreg_registry_free(reg);
	if (rc < 0) {
		/* nothing half-made is left: the directory was absent or empty */
		char *msg = mreg_strdup(mreg_error_last());
		int code = mreg_error_code();
		if (vacant(dir) == false && rc != MREG_EEXISTS)
			mreg_fs_remove_tree(dir);
		mreg_error_set(code, "%s", msg ? msg : "clone failed");
		free(msg);
	}
	return rc;
}

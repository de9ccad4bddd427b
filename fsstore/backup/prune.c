/*
 * Pruning old backups (the newest max_backups of mreg.json stay), and the
 * backup directory's numbers.
 */
#define _GNU_SOURCE /* mkdtemp */
#include "backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- prune, auto, stats ---------------------------------------------- */

int mreg_backup_prune_locked(size_t *removed, size_t *orphans, const char *dir, const char *regid, int keep,
			     const char *spare)
{
	cJSON *all = NULL;
	int rc = mreg_backup_list_in(&all, dir, regid);
	*removed = 0;
	*orphans = 0;
	if (rc < 0)
		return rc;
	*orphans = mreg_backup_sweep(dir);
	int i = 0;
	const cJSON *m;
	cJSON_ArrayForEach(m, all) {
		const char *id = mreg_backup_meta_str(m, "id");
		if (i++ < keep || (spare && id && !strcmp(id, spare)))
			continue;	/* the newest keep, and the one a restore is using */
		char *j = mreg_strfmt("%s/%s.json", dir, id), *b = mreg_strfmt("%s/%s.bundle", dir, id);
		char *st = mreg_strfmt("%s/%s.state", dir, id);
		if (j)
			unlink(j);	/* the metadata first: a half-removed backup is no longer listed */
		if (b)
			unlink(b);
		if (st)
			mreg_fs_remove_tree(st);
		free(j);
		free(b);
		free(st);
		(*removed)++;
	}
	/* large files no remaining backup names (of any registry sharing the directory) */
	mreg_backup_blobs have = { NULL, 0, 0 };
	cJSON *left = NULL;
	if (mreg_backup_list_in(&left, dir, NULL) == 0 && mreg_backup_blobs_scan(&have, dir, "lfs/objects") == 0 && mreg_backup_blobs_scan(&have, dir, "blobs") == 0) {
		for (size_t k = 0; k < have.n; k++) {
			bool used = false;
			cJSON_ArrayForEach(m, left) {
				const cJSON *b;
				cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(m, "blobs"))
					used |= !strcmp(mreg_backup_meta_str(b, "path"), have.paths[k]);
			}
			if (!used) {
				char *p = mreg_strfmt("%s/%s", dir, have.paths[k]);
				if (p)
					unlink(p);
				free(p);
			}
		}
	}
	mreg_backup_blobs_dispose(&have);
	cJSON_Delete(left);
	cJSON_Delete(all);
	return 0;
}

int mreg_backup_prune(size_t *removed, size_t *orphans, mreg_registry *reg, int keep)
{
	char *dir = NULL;
	int dfd = -1, rc;
	*removed = 0;
	*orphans = 0;
	if (keep <= 0) {
		mreg_policy p;
		if ((rc = mreg_registry_policy(&p, reg)) < 0)
			return rc;
		keep = (int)p.max_backups;
	}
	char *regid = mreg_backup_registry_id(reg);
	if (!regid)
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	else if ((rc = mreg_backup_dir(&dir, reg)) == 0 && (rc = mreg_backup_lock_dir(&dfd, dir, LOCK_EX)) == 0)
		rc = mreg_backup_prune_locked(removed, orphans, dir, regid, keep, NULL);
	if (dfd >= 0)
		close(dfd);
	free(regid);
	free(dir);
	return rc;
}

int mreg_backup_stats(cJSON **out, mreg_registry *reg)
{
	char *dir = NULL;
	cJSON *all = NULL;
	int rc;
	*out = NULL;
	char *regid = mreg_backup_registry_id(reg);
	if (!regid)
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	else if ((rc = mreg_backup_dir(&dir, reg)) == 0)
		rc = mreg_backup_list_in(&all, dir, regid);
	free(regid);
	if (rc < 0)
		goto done;
	int64_t bundles = 0;
	const cJSON *m;
	cJSON_ArrayForEach(m, all)
		bundles += mreg_backup_meta_int(m, "bundle_size") > 0 ? mreg_backup_meta_int(m, "bundle_size") : 0;
	mreg_backup_blobs bl = { NULL, 0, 0 };
	mreg_backup_blobs_scan(&bl, dir, "lfs/objects");
	mreg_backup_blobs_scan(&bl, dir, "blobs");
	mreg_error_clear();
	int64_t blob_bytes = 0;
	for (size_t i = 0; i < bl.n; i++) {
		char *f = mreg_strfmt("%s/%s", dir, bl.paths[i]);
		blob_bytes += f ? mreg_fs_tree_size(f) : 0;
		free(f);
	}
	cJSON *r = cJSON_CreateObject();
	int n = cJSON_GetArraySize(all);
	cJSON_AddStringToObject(r, "directory", dir);
	cJSON_AddNumberToObject(r, "total_backups", n);
	cJSON_AddNumberToObject(r, "bundle_bytes", (double)bundles);
	cJSON_AddNumberToObject(r, "blob_files", (double)bl.n);
	cJSON_AddNumberToObject(r, "total_bytes", (double)(bundles + blob_bytes));
	if (n) {
		cJSON_AddStringToObject(r, "newest", mreg_backup_meta_str(cJSON_GetArrayItem(all, 0), "id"));
		cJSON_AddStringToObject(r, "oldest", mreg_backup_meta_str(cJSON_GetArrayItem(all, n - 1), "id"));
	} else {
		cJSON_AddNullToObject(r, "newest");
		cJSON_AddNullToObject(r, "oldest");
	}
	mreg_backup_blobs_dispose(&bl);
	*out = r;
done:
	cJSON_Delete(all);
	free(dir);
	return rc;
}

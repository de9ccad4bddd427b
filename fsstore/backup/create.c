/*
 * Backups as git bundles (DESIGN section 6): create, and create when due.
 *
 * A bundle is "# v2 git bundle", the refs it holds, a blank line and one
 * pack of every object the registry has (fsstore/git/bundle.c); its large
 * files are hard-linked beside it (dir.c); the metadata, written last,
 * makes it a backup. A restore folds the state from the bundle's events:
 * nothing beside the bundle is trusted to say what the events say.
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

static char *host_name(void)
{
	char h[256];
	if (gethostname(h, sizeof(h)) < 0)
		return mreg_strdup("unknown");
	h[sizeof(h) - 1] = '\0';
	return mreg_strdup(h);
}

/* The whole bundle in out: branch at head, and one pack of every object the registry has (fsstore/git/bundle.c). */
static int build_bundle(mreg_buf *out, mreg_registry *reg, const git_oid *head, const char *branch)
{
	char **dirs = NULL, *objdir = mreg_strfmt("%sobjects", reg->gitdir);
	size_t n = 0;
	int rc = objdir ? mreg_git_object_dirs(&dirs, &n, objdir) : mreg_error_set(MREG_ERROR, "out of memory");
	if (rc == 0)
		rc = mreg_git_bundle_write(out, dirs, n, head, branch);
	for (size_t i = 0; i < n; i++)
		free(dirs[i]);
	free(dirs);
	free(objdir);
	return rc;
}

/* The metadata of backup id, as JSON into meta (see create_locked for what each field is). */
static int write_meta(mreg_buf *meta, mreg_registry *reg, const char *id, const char *now, const char *reason,
		      const char *host, const char *regid, const char *branch, const char *hex, const char *thex,
		      const mreg_state *st, const char *bpath, size_t bundle_size, const char *bhash, const char *dir,
		      const mreg_backup_blobs *blobs)
{
	mreg_jsonw w;
	mreg_jsonw_init(&w, meta);
	mreg_jsonw_obj_begin(&w, NULL);
	mreg_jsonw_str(&w, "id", id);
	mreg_jsonw_str(&w, "time", now);
	mreg_jsonw_str(&w, "reason", reason ? reason : "");
	mreg_jsonw_str(&w, "actor", reg->actor);
	mreg_jsonw_str(&w, "host", host);
	mreg_jsonw_str(&w, "registry", regid);
	mreg_jsonw_str(&w, "branch", branch);
	mreg_jsonw_str(&w, "head", hex);
	mreg_jsonw_str(&w, "tree", thex);
	mreg_jsonw_int(&w, "events", st->nevents);
	mreg_jsonw_int(&w, "models", (int64_t)st->nmodels);
	mreg_jsonw_int(&w, "versions", st->nversions);
	mreg_jsonw_str(&w, "bundle", strrchr(bpath, '/') + 1);
	mreg_jsonw_int(&w, "bundle_size", (int64_t)bundle_size);
	char h[48];
	snprintf(h, sizeof(h), "xxh128:%s", bhash);
	mreg_jsonw_str(&w, "bundle_hash", h);
	mreg_jsonw_arr_begin(&w, "blobs");
	for (size_t i = 0; i < blobs->n; i++) {
		struct stat sb;
		char *f = mreg_strfmt("%s/%s", dir, blobs->paths[i]);
		mreg_jsonw_obj_begin(&w, NULL);
		mreg_jsonw_str(&w, "path", blobs->paths[i]);
		mreg_jsonw_int(&w, "size", f && stat(f, &sb) == 0 ? (int64_t)sb.st_size : -1);
		mreg_jsonw_obj_end(&w);
		free(f);
	}
	mreg_jsonw_arr_end(&w);
	mreg_jsonw_str(&w, "mreg_version", MREG_VERSION_STRING);
	mreg_jsonw_obj_end(&w);
	return mreg_jsonw_finish(&w) < 0 ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
}

/* Create with the writer lock held by the caller (restore keeps it from here to the reset). */
int mreg_backup_create_locked(cJSON **meta_out, mreg_registry *reg, const char *reason, const char *spare)
{
	char *dir = NULL, *bpath = NULL, *mpath = NULL, *host = NULL, *regid = NULL;
	mreg_buf bundle = MREG_BUF_INIT, meta = MREG_BUF_INIT;
	mreg_state *st = NULL;
	mreg_backup_blobs blobs = { NULL, 0, 0 };
	git_oid commit, tree;
	char id[48], branch[256], hex[41], thex[41], bhash[33], now[MREG_TIME_LEN + 1];
	int dfd = -1, rc;

	if (meta_out)
		*meta_out = NULL;
	if ((rc = mreg_backup_dir(&dir, reg)) < 0 || (rc = mreg_backup_lock_dir(&dfd, dir, LOCK_EX)) < 0)
		goto done;
	mreg_backup_sweep(dir);
	/* under the writer lock: no pack is merged away while it is read, the state is the head's */
	if ((rc = mreg_cache_ensure(reg)) < 0 || (rc = mreg_head_read(&commit, &tree, reg)) < 0 ||
	    (rc = mreg_cache_load(&st, reg, NULL, false, false)) < 0)
		goto done;
	if (!(regid = mreg_backup_registry_id(reg))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	int64_t usec = mreg_fs_now_usec();
	mreg_time_format(now, usec);
	if ((rc = mreg_backup_new_id(id, dir, usec)) < 0)
		goto done;
	mreg_head_branch(reg, branch, sizeof(branch));
	git_oid_tostr(hex, sizeof(hex), &commit);
	git_oid_tostr(thex, sizeof(thex), &tree);
	if ((rc = build_bundle(&bundle, reg, &commit, branch)) < 0)
		goto done;
	mreg_hash128(bhash, bundle.ptr, bundle.size);
	bpath = mreg_strfmt("%s/%s.bundle", dir, id);
	mpath = mreg_strfmt("%s/%s.json", dir, id);
	host = host_name();
	if (!bpath || !mpath || !host) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	if ((rc = mreg_fs_write_atomic(bpath, bundle.ptr, bundle.size, reg->fsync)) < 0)
		goto done;
	/* large files, shared by every backup in dir: the store, and blobs/ not moved into it yet */
	size_t nlfs = 0;
	char *store = mreg_strfmt("%s.", reg->gitdir);
	if (!store || (rc = mreg_backup_blobs_scan(&blobs, store, "lfs/objects")) < 0 ||
	    (nlfs = blobs.n, reg->workdir && (rc = mreg_backup_blobs_scan(&blobs, reg->workdir, "blobs")) < 0)) {
		free(store);
		rc = rc < 0 ? rc : mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	free(store);
	for (size_t i = 0; i < blobs.n && rc == 0; i++) {
		char *src = mreg_strfmt("%s%s", i < nlfs ? reg->gitdir : reg->workdir, blobs.paths[i]);
		rc = src ? mreg_backup_place(src, dir, blobs.paths[i], reg->fsync) : mreg_error_set(MREG_ERROR, "out of memory");
		free(src);
	}
	if (rc < 0)
		goto done;
	if ((rc = write_meta(&meta, reg, id, now, reason, host, regid, branch, hex, thex, st, bpath, bundle.size, bhash,
			     dir, &blobs)) < 0)
		goto done;
	/* the metadata last: a backup without it is not listed, and is swept by prune */
	if ((rc = mreg_fs_write_atomic(mpath, meta.ptr, meta.size, reg->fsync)) < 0)
		goto done;
	if (meta_out && !(*meta_out = cJSON_ParseWithLength(meta.ptr, meta.size)))
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	/* retention after every backup, as the original rotates: the newest (this one) always stays */
	mreg_policy p;
	size_t removed, orphans;
	if (rc == 0 && (mreg_registry_policy(&p, reg) < 0 ||
			mreg_backup_prune_locked(&removed, &orphans, dir, regid, (int)p.max_backups, spare) < 0))
		mreg_error_clear();	/* housekeeping: the backup stands */
done:
	if (rc < 0 && bpath && !mreg_backup_exists("%s/%s.json", dir, id))
		unlink(bpath);
	if (dfd >= 0)
		close(dfd);
	mreg_backup_blobs_dispose(&blobs);
	mreg_state_free(st);
	mreg_buf_dispose(&bundle);
	mreg_buf_dispose(&meta);
	free(dir);
	free(bpath);
	free(mpath);
	free(host);
	free(regid);
	return rc;
}

int mreg_backup_create(cJSON **meta_out, mreg_registry *reg, const char *reason)
{
	int rc = mreg_registry_need_git(reg);
	if (rc == 0)
		rc = mreg_lock_take(reg);
	if (rc < 0)
		return rc;
	rc = mreg_backup_create_locked(meta_out, reg, reason, NULL);
	mreg_lock_release(reg);
	return rc;
}

int mreg_backup_auto(cJSON **meta_out, mreg_registry *reg)
{
	cJSON *all = NULL;
	mreg_policy p;
	int rc;
	*meta_out = NULL;
	if ((rc = mreg_registry_policy(&p, reg)) < 0 || (rc = mreg_backup_list(&all, reg)) < 0)
		return rc;
	const cJSON *newest = cJSON_GetArrayItem(all, 0);
	int64_t t = 0;
	bool due = !newest || mreg_time_parse(&t, mreg_backup_meta_str(newest, "time")) < 0 ||
		   mreg_fs_now_usec() - t >= (int64_t)(p.backup_interval_hours * 3600e6);
	cJSON_Delete(all);
	return due ? mreg_backup_create(meta_out, reg, "auto") : 0;
}

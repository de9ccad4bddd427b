/*
 * Restoring a backup: into the registry it came from (after a pre-restore
 * backup, so that the restore can be undone), or as a new registry from
 * the backup's files alone (restore-from). The state is folded from the
 * events at the restored head: nothing beside the bundle is trusted to say
 * what the events say.
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

/* ---- restore --------------------------------------------------------- */

/*
 * Large files the metadata lists, into the registry (.git/lfs/objects, or
 * blobs/ for older ones, which the next write moves into the store): kept
 * when there and whole, else put back.
 */
static int restore_blobs(const cJSON *meta, const char *dir, mreg_registry *reg, bool sync)
{
	const cJSON *b;
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(meta, "blobs")) {
		const char *path = mreg_backup_meta_str(b, "path");
		bool lfs = !strncmp(path, "lfs/objects/", 12);
		const char *root = lfs ? reg->gitdir : reg->workdir;
		if (!mreg_backup_blob_path_ok(path))
			continue;	/* verify_in refused such a backup */
		char *src = mreg_strfmt("%s/%s", dir, path), *dst = mreg_strfmt("%s%s", root, path);
		int rc = src && dst ? 0 : mreg_error_set(MREG_ERROR, "out of memory");
		if (rc == 0 && mreg_backup_blob_check(path, dst, mreg_backup_meta_int(b, "size")) < 0) {
			mreg_error_clear();
			const char *name;
			int d;
			if (mreg_fs_parent_beneath(&d, &name, root, path, 0) == 0) {
				unlinkat(d, name, 0);	/* damaged or missing: the backup's copy replaces it */
				close(d);
			}
			mreg_error_clear();
		}
		if (rc == 0)
			rc = mreg_backup_place(src, root, path, sync);
		free(src);
		free(dst);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int counts_report(cJSON *r, mreg_registry *reg)
{
	mreg_state *st = NULL;
	int rc = mreg_read_state(&st, reg, NULL, false);
	if (rc < 0)
		return rc;
	cJSON_AddNumberToObject(r, "events", (double)st->nevents);
	cJSON_AddNumberToObject(r, "models", (double)st->nmodels);
	cJSON_AddNumberToObject(r, "versions", (double)st->nversions);
	mreg_state_free(st);
	return 0;
}

int mreg_backup_restore(cJSON **report, mreg_registry *reg, const char *id)
{
	char *dir = NULL;
	cJSON *meta = NULL, *pre = NULL;
	const char *bundle = NULL;
	size_t blen = 0;
	mreg_backup_bundle bi;
	git_oid head;
	int rc;
	bool locked = false;

	*report = NULL;
	if (!reg->workdir)
		return mreg_error_set(MREG_EINVALID, "cannot restore into '%s': it is a bare repository", reg->path);
	if ((rc = mreg_backup_dir(&dir, reg)) < 0)
		goto done;
	/*
	 * Verify first. When the registry has the backup's head (it came from
	 * here), the head is walked in the registry's own objects; otherwise
	 * the pack is indexed where it lies in the bundle, as verify does, and
	 * then into the registry.
	 */
	cJSON *peek = NULL;
	git_oid want;
	bool local = mreg_backup_read_meta(&peek, dir, id) == 0 && git_oid_fromstr(&want, mreg_backup_meta_str(peek, "head")) == 0 &&
		     git_odb_exists(reg->odb, &want);
	mreg_error_clear();
	cJSON_Delete(peek);
	int dfd = -1;
	if ((rc = mreg_backup_check_id(id)) == 0 && (rc = mreg_backup_lock_dir(&dfd, dir, LOCK_SH)) == 0)
		rc = mreg_backup_verify_in(&meta, &bi, dir, id, local ? reg->repo : NULL, NULL, &bundle, &blen);
	if (dfd >= 0)
		close(dfd);	/* the pre-restore backup takes it exclusively */
	if (rc < 0)
		goto done;
	/*
	 * Then a pre-restore backup under its own id, so the restore can be
	 * undone; the writer lock is held from it to the reset, so no write
	 * can land between them and be in neither.
	 */
	if ((rc = mreg_registry_writable(reg)) < 0 || (rc = mreg_lock_take(reg)) < 0)
		goto done;
	locked = true;
	char why[96];
	snprintf(why, sizeof(why), "pre-restore: before restoring %s", id);
	if ((rc = mreg_backup_create_locked(&pre, reg, why, id)) < 0)
		goto done;
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, reg->fsync ? 1 : 0);
	if (!git_odb_exists(reg->odb, &bi.head) && (rc = mreg_backup_import_pack(reg->repo, bi.pack, bi.packlen, id, reg->fsync)) < 0)
		goto done;
	if ((rc = restore_blobs(meta, dir, reg, reg->fsync)) < 0)
		goto done;
	git_oid cur;
	if (git_oid_fromstr(&cur, mreg_backup_meta_str(pre, "head")) < 0) {	/* what the pre-restore backup holds */
		rc = mreg_error_set(MREG_ERROR, "the pre-restore backup of '%s' names no head", reg->path);
		goto done;
	}
	head = bi.head;
	char msg[96];
	snprintf(msg, sizeof(msg), "restore backup %s", id);
	if ((rc = mreg_txn_reset_branch(reg, &head, &cur, msg)) < 0)
		goto done;
	/*
	 * The state at the head, folded from the events it holds (nothing else
	 * is trusted to say it); the work tree follows, and every large file's
	 * copy is checked by hash: a damaged one is made again from the store.
	 */
	if ((rc = mreg_cache_check_large(reg)) < 0)
		goto done;
	mreg_lock_release(reg);
	locked = false;
	cJSON *r = cJSON_CreateObject();
	char hex[41];
	git_oid_tostr(hex, sizeof(hex), &bi.head);
	cJSON_AddStringToObject(r, "restored", id);
	cJSON_AddStringToObject(r, "pre_restore_backup", mreg_backup_meta_str(pre, "id"));
	cJSON_AddStringToObject(r, "head", hex);
	if ((rc = counts_report(r, reg)) < 0) {
		cJSON_Delete(r);
		goto done;
	}
	*report = r;
done:
	if (locked)
		mreg_lock_release(reg);
	mreg_fs_unmap(bundle, blen);
	cJSON_Delete(meta);
	cJSON_Delete(pre);
	free(dir);
	return rc;
}

/* ---- restore-from: a registry from a backup alone --------------------- */

/* 0 when target is absent or an empty directory (*was_dir: it is one); EEXISTS otherwise. */
static int target_empty(bool *was_dir, const char *target)
{
	struct stat sb;
	*was_dir = false;
	if (stat(target, &sb) < 0)
		return 0;
	DIR *d = opendir(target);
	struct dirent *de;
	bool empty = d != NULL;
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = false;
	if (d)
		closedir(d);
	if (!empty)
		return mreg_error_set(MREG_EEXISTS, "cannot restore into '%s': it is not an empty directory", target);
	*was_dir = true;
	return 0;
}

/* A new lean repository at tmp, its HEAD naming branch (as the backup's metadata names it), durable as it fills. */
static int init_aside(git_repository **out, const char *tmp, const char *target, const char *branch)
{
	git_repository_init_options o;
	git_repository_init_options_init(&o, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	o.flags = GIT_REPOSITORY_INIT_MKPATH;
	o.initial_head = branch && !strncmp(branch, "refs/heads/", 11) ? branch + 11 : "main";
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);	/* the history is durable before it is in place */
	if (git_repository_init_ext(out, tmp, &o) < 0)
		return mreg_libgit2_error("cannot make a repository in", tmp);
	/* lean, as mreg init makes it (README, "The work tree") */
	return mreg_registry_make_lean(*out, target);
}

/* Its branch at the bundle's head (the pack is in, indexed by the verify). */
static int set_branch(git_repository *repo, const char *target, const mreg_backup_bundle *bi)
{
	git_reference *head = NULL, *ref = NULL;
	int rc = 0;
	if (git_reference_lookup(&head, repo, "HEAD") < 0 ||
	    git_reference_create(&ref, repo, git_reference_symbolic_target(head), &bi->head, 1,
				 "mreg: restore-from backup") < 0)
		rc = mreg_libgit2_error("cannot set the branch of", target);
	git_reference_free(ref);
	git_reference_free(head);
	return rc;
}

/* *parent, and *tmp: a new directory beside target (in parent), where the registry is built. */
static int make_aside(char **parent, char **tmp, const char *target)
{
	size_t tl = strlen(target);
	int rc = 0;
	while (tl > 1 && target[tl - 1] == '/')
		tl--;
	const char *ts = NULL;
	for (size_t i = 0; i < tl; i++)
		if (target[i] == '/')
			ts = target + i;
	*parent = ts ? (ts == target ? mreg_strdup("/") : mreg_strfmt("%.*s", (int)(ts - target), target)) : mreg_strdup(".");
	*tmp = mreg_strfmt("%.*s.restoring-XXXXXX", (int)tl, target);
	if (!*parent || !*tmp || (rc = mreg_fs_mkdirs(*parent)) < 0 || !mkdtemp(*tmp)) {
		rc = rc < 0 ? rc : mreg_error_set(MREG_ERROR, "cannot make a directory beside '%s': %s", target, strerror(errno));
		free(*tmp);	/* nothing made there to remove */
		*tmp = NULL;
	}
	return rc;
}

/*
 * The pack stored in tmp without a wait (verify.c's store_pack): its
 * writeback started, or waited for (mreg_git_pack_flush). Its directory is
 * the one open_in_place stores into, objects/pack of the repository
 * init_aside made at tmp: the two must agree.
 */
static int flush_stored_pack(const char *tmp, const char *pack, bool wait)
{
	char *packdir = mreg_strfmt("%s/.git/objects/pack", tmp);
	int rc = packdir ? mreg_git_pack_flush(packdir, pack, wait) : mreg_error_set(MREG_ERROR, "out of memory");
	free(packdir);
	return rc;
}

/*
 * The state, folded from the events, and the model files (a lean
 * registry's work tree); a full checkout's work tree and index are checked
 * out first, and the mirror check puts the large files' bytes where the
 * checkout wrote their pointers. The pack's writeback goes on meanwhile,
 * started once the lock's files are synced (they waited behind it).
 */
static int check_out(mreg_registry *reg, const char *target, const char *tmp, const char *pack)
{
	git_checkout_options co;
	int rc = mreg_lock_take(reg);
	if (rc < 0)
		return rc;
	if (flush_stored_pack(tmp, pack, false) < 0)
		mreg_error_clear();	/* only a start: the wait at the end says what failed */
	git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
	co.checkout_strategy = GIT_CHECKOUT_FORCE;
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 0);
	if (!reg->lean && git_checkout_head(reg->repo, &co) < 0)
		rc = mreg_libgit2_error("cannot write the work tree of", target);
	if (rc == 0)
		rc = mreg_cache_ensure(reg);
	mreg_lock_release(reg);
	return rc;
}

/*
 * The registry built aside (tmp) moved into place as target, the one step
 * that makes it a registry; first its pack, its writeback started before
 * the fold (check_out), made durable.
 */
static int move_into_place(const char *tmp, const char *target, bool target_was_dir, const char *pack)
{
	int rc = flush_stored_pack(tmp, pack, true);
	if (rc == 0 && ((target_was_dir && rmdir(target) < 0) || rename(tmp, target) < 0))
		rc = mreg_error_set(MREG_ERROR, "cannot move the restored registry to '%s': %s", target, strerror(errno));
	return rc;
}

int mreg_backup_restore_from(cJSON **report, const char *bundle, const char *target)
{
	char *dir = NULL, *id = NULL, *tmp = NULL, *parent = NULL;
	cJSON *meta = NULL;
	const char *data = NULL;
	size_t len = 0;
	mreg_backup_bundle bi = { .clocks = NULL };
	mreg_registry *reg = NULL;
	int rc;
	struct stat sb;
	bool target_was_dir;

	*report = NULL;
	if ((rc = mreg_libgit2_ready()) < 0)
		return rc;
	/* dir/<id>.bundle, with <id>.json beside it */
	const char *slash = strrchr(bundle, '/'), *base = slash ? slash + 1 : bundle;
	size_t bl = strlen(base);
	if (bl < 8 || strcmp(base + bl - 7, ".bundle"))
		return mreg_error_set(MREG_EINVALID, "not a backup bundle: '%s' (expected <id>.bundle)", bundle);
	dir = slash ? mreg_strfmt("%.*s", (int)(slash - bundle), bundle) : mreg_strdup(".");
	id = mreg_strfmt("%.*s", (int)(bl - 7), base);
	if (!dir || !id) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	if (stat(bundle, &sb) < 0) {
		rc = mreg_error_set(MREG_ENOTFOUND, "backup file missing: '%s'", bundle);
		goto done;
	}
	/* an empty or absent directory only: restore-from never overwrites */
	if ((rc = target_empty(&target_was_dir, target)) < 0)
		goto done;
	/*
	 * Built aside, in a directory beside the target, and renamed into
	 * place at the end: a restore-from that is killed or fails leaves the
	 * target as it was (absent or empty), so it can simply be run again.
	 * The verify indexes the bundle's pack there, once.
	 */
	int dfd = -1;
	cJSON *peek = NULL;
	git_repository *aside = NULL;
	if ((rc = mreg_backup_check_id(id)) == 0 && (rc = mreg_backup_read_meta(&peek, dir, id)) == 0 &&
	    (rc = make_aside(&parent, &tmp, target)) == 0 &&
	    (rc = init_aside(&aside, tmp, target, mreg_backup_meta_str(peek, "branch"))) == 0 &&
	    (rc = mreg_backup_lock_dir(&dfd, dir, LOCK_SH)) == 0)
		rc = mreg_backup_verify_in(&meta, &bi, dir, id, NULL, aside, &data, &len);
	if (dfd >= 0)
		close(dfd);
	if (rc == 0)
		rc = set_branch(aside, target, &bi);
	git_repository_free(aside);
	cJSON_Delete(peek);
	if (rc < 0)
		goto done;
	if ((rc = mreg_registry_open(&reg, tmp)) < 0)
		goto done;
	/* the events' clocks, as the verify found them: the fold's first pass need not look at each again (1: lost) */
	rc = mreg_tree_set_keys(reg, bi.stored, bi.clocks, bi.nclocks);
	bi.clocks = NULL;
	if (rc < 0 || (rc = restore_blobs(meta, dir, reg, true)) < 0)
		goto done;
	if ((rc = check_out(reg, target, tmp, bi.stored)) < 0)
		goto done;
	cJSON *r = cJSON_CreateObject();
	char hex[41];
	git_oid_tostr(hex, sizeof(hex), &bi.head);
	cJSON_AddStringToObject(r, "restored", id);
	cJSON_AddStringToObject(r, "registry", target);
	cJSON_AddStringToObject(r, "head", hex);
	if ((rc = counts_report(r, reg)) < 0) {
		cJSON_Delete(r);
		goto done;
	}
	mreg_registry_free(reg);
	reg = NULL;
	if ((rc = move_into_place(tmp, target, target_was_dir, bi.stored)) < 0) {
		cJSON_Delete(r);
		goto done;
	}
	mreg_fs_fsync_dir(parent);
	free(tmp);
	tmp = NULL;
	*report = r;
done:
	free(bi.clocks);
	mreg_registry_free(reg);
	if (tmp)
		mreg_fs_remove_tree(tmp);
	mreg_fs_unmap(data, len);
	cJSON_Delete(meta);
	free(dir);
	free(id);
	free(tmp);
	free(parent);
	return rc;
}

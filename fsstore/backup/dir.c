/*
 * The backup directory: where it is, backup ids, its lock, the metadata
 * beside each bundle, the large files shared by every backup in it, and
 * what a killed backup command left there.
 *
 * Beside the bundles: <id>.json (metadata) and lfs/objects/ab/cd/<sha256>
 * (large model files, hard-linked from the registry's .git/lfs/objects:
 * content-addressed, they never change, so every backup shares them; a
 * registry from before .git/lfs that has not moved its large files yet has
 * them in blobs/ab/cd/<xxh128><ext>, and so does its backup). Backups made
 * by older versions have an <id>.state/ snapshot beside them; it is not
 * read, and goes with them.
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

/* ---- places ---------------------------------------------------------- */

int mreg_backup_dir(char **out, mreg_registry *reg)
{
	git_config *cfg = NULL;
	git_buf v = GIT_BUF_INIT;
	*out = NULL;
	int rc = mreg_registry_need_git(reg);	/* a handle opened without libgit2 gets it here */
	if (rc < 0)
		return rc;
	if (git_repository_config_snapshot(&cfg, reg->repo) == 0 && git_config_get_string_buf(&v, cfg, "mreg.backupDir") == 0 &&
	    v.size) {
		*out = mreg_strdup(v.ptr);
	} else {
		/*
		 * registry_backups/ beside the registry: data/model_registry ->
		 * data/registry_backups. From libgit2's absolute path, so that
		 * "-C ." and "-C ../reg" name the same place.
		 */
		char *p = mreg_strdup(reg->workdir ? reg->workdir : reg->gitdir);
		size_t n = p ? strlen(p) : 0;
		while (n > 1 && p[n - 1] == '/')
			p[--n] = '\0';
		char *slash = p ? strrchr(p, '/') : NULL;
		if (slash)
			*out = slash == p ? mreg_strdup("/registry_backups")
					  : mreg_strfmt("%.*s/registry_backups", (int)(slash - p), p);
		free(p);
	}
	git_buf_dispose(&v);
	git_config_free(cfg);
	return *out ? 0 : mreg_error_set(MREG_ERROR, "out of memory");
}

/* An id names files in the backup directory: digits and '-' only. */
int mreg_backup_check_id(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > 40 || strspn(id, "0123456789-") != n || id[0] == '-')
		return mreg_error_set(MREG_ENOTFOUND, "backup not found: '%s'", id);
	return 0;
}

/* shared: verifying (the bundle read must not be pruned or swept); exclusive: creating, pruning */
int mreg_backup_lock_dir(int *fd, const char *dir, int mode)
{
	int rc = mreg_fs_mkdirs(dir);	/* its message names the directory */
	char *p = rc == 0 ? mreg_strfmt("%s/.lock", dir) : NULL;
	if (rc < 0)
		return rc;
	*fd = p ? open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644) : -1;
	free(p);
	if (*fd < 0 || flock(*fd, mode) < 0) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return mreg_error_set(MREG_ERROR, "cannot lock the backup directory '%s': %s", dir, strerror(errno));
	}
	return 0;
}



bool mreg_backup_exists(const char *fmt, const char *dir, const char *id)
{
	struct stat sb;
	char *p = mreg_strfmt(fmt, dir, id);
	bool yes = !p || lstat(p, &sb) == 0;
	free(p);
	return yes;
}

/* YYYYMMDD-HHMMSS-ffffff-NN: sorts by time; NN makes two backups of one microsecond differ. */
int mreg_backup_new_id(char out[48], const char *dir, int64_t usec)
{
	char t[MREG_TIME_LEN + 1];
	mreg_time_format(t, usec);	/* 2026-11-27T01:45:12.123456Z */
	for (int k = 0; k < 100; k++) {
		snprintf(out, 48, "%.4s%.2s%.2s-%.2s%.2s%.2s-%.6s-%02d", t, t + 5, t + 8, t + 11, t + 14, t + 17, t + 20, k);
		if (!mreg_backup_exists("%s/%s.json", dir, out) && !mreg_backup_exists("%s/%s.bundle", dir, out) && !mreg_backup_exists("%s/%s.state", dir, out))
			return 0;
	}
	return mreg_error_set(MREG_ERROR, "cannot name a backup in '%s': 100 in one microsecond", dir);
}

/*
 * What a killed create, verify or restore leaves behind: bundles and state
 * snapshots whose metadata was never written (the metadata is written
 * last), temporary files, scratch repositories (an older verify's). Caller holds the directory lock.
 */
size_t mreg_backup_sweep(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t orphans = 0;
	while (d && (de = readdir(d))) {
		const char *n = de->d_name;
		size_t len = strlen(n);
		char *p = NULL;
		if (!strncmp(n, ".verify-", 8) || strstr(n, ".mreg-tmp")) {
			p = mreg_strfmt("%s/%s", dir, n);
		} else if ((len > 7 && !strcmp(n + len - 7, ".bundle")) || (len > 6 && !strcmp(n + len - 6, ".state"))) {
			size_t idlen = len - (n[len - 1] == 'e' && n[len - 2] == 'l' ? 7 : 6);
			char *j = mreg_strfmt("%s/%.*s.json", dir, (int)idlen, n);
			struct stat sb;
			if (j && stat(j, &sb) < 0 && errno == ENOENT && (p = mreg_strfmt("%s/%s", dir, n)))
				orphans++;
			free(j);
		}
		if (p)
			mreg_fs_remove_tree(p);
		free(p);
	}
	if (d)
		closedir(d);
	return orphans;
}

/* ---- large files ----------------------------------------------------- */

void mreg_backup_blobs_dispose(mreg_backup_blobs *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->paths[i]);
	free(b->paths);
}

/* Every file under root/rel, as "rel/..." paths (links never followed, temporary files skipped). */
int mreg_backup_blobs_scan(mreg_backup_blobs *out, const char *root, const char *rel)
{
	char *full = mreg_strfmt("%s/%s", root, rel);
	DIR *d = full ? opendir(full) : NULL;
	struct dirent *de;
	int rc = 0;
	while (d && rc == 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *r = mreg_strfmt("%s/%s", rel, de->d_name), *f = mreg_strfmt("%s/%s", full, de->d_name);
		struct stat sb;
		if (!r || !f) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
		} else if (lstat(f, &sb) == 0 && S_ISDIR(sb.st_mode)) {
			rc = mreg_backup_blobs_scan(out, root, r);
		} else if (S_ISREG(sb.st_mode) && !strstr(de->d_name, ".mreg-tmp")) {
			if (out->n == out->a) {
				out->a = out->a ? out->a * 2 : 16;
				char **p = realloc(out->paths, out->a * sizeof(*p));
				if (!p) {
					rc = mreg_error_set(MREG_ERROR, "out of memory");
					free(r);
					free(f);
					break;
				}
				out->paths = p;
			}
			out->paths[out->n++] = r;
			r = NULL;
		}
		free(r);
		free(f);
	}
	if (d)
		closedir(d);
	free(full);
	return rc;
}

/* Where a backup keeps large files: lfs/objects/ab/cd/<sha256>, or blobs/ab/cd/<xxh128><ext> (older). */
bool mreg_backup_blob_path_ok(const char *p)
{
	return (!strncmp(p, "lfs/objects/", 12) || !strncmp(p, "blobs/", 6)) && !strstr(p, "..") && !strstr(p, "//");
}

/* A large file's hash is its name: the SHA-256 under lfs/objects/, the xxh128 under blobs/. */
int mreg_backup_blob_check(const char *path, const char *file, int64_t size)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	bool lfs = !strncmp(path, "lfs/objects/", 12);
	char x[33], sha[65];
	mreg_hasher h;
	int fd = open(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return mreg_error_set(MREG_ECORRUPT, "large file '%s' is missing from the backup", path);
	int rc = mreg_hasher_init(&h, lfs);
	if (rc == 0) {
		mreg_buf b = MREG_BUF_INIT;
		rc = mreg_fs_read_fd(&b, fd, path);
		if (rc == 0)
			mreg_hasher_update(&h, b.ptr, b.size, lfs);
		mreg_buf_dispose(&b);
		mreg_hasher_final(&h, x, lfs ? sha : NULL);
		mreg_hasher_dispose(&h);
	}
	close(fd);
	if (rc < 0)
		return rc;
	const char *got = lfs ? sha : x;
	size_t want = lfs ? 64 : 32;
	if ((size >= 0 && h.size != size) || strlen(base) < want || strncmp(base, got, want))
		return mreg_error_set(MREG_ECORRUPT, "hash mismatch: large file '%s' hashes to %s", path, got);
	return 0;
}

/*
 * Hard link (or copy) src to rel beneath root, making its directories
 * without following a link; an existing file is kept (callers checked it).
 */
int mreg_backup_place(const char *src, const char *root, const char *rel, bool sync)
{
	const char *name;
	int dir, rc;
	if ((rc = mreg_fs_parent_beneath(&dir, &name, root, rel, MREG_FS_MKDIRS | MREG_FS_REPAIR | (sync ? MREG_FS_SYNC : 0))) < 0)
		return rc;
	struct stat sb;
	if (fstatat(dir, name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		close(dir);
		return 0;
	}
	if (linkat(AT_FDCWD, src, dir, name, 0) < 0) {
		mreg_buf b = MREG_BUF_INIT;
		int in = open(src, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		rc = in < 0 ? mreg_error_set(MREG_ERROR, "cannot read '%s': %s", src, strerror(errno))
			    : mreg_fs_read_fd(&b, in, src);
		if (in >= 0)
			close(in);
		mreg_span all = { NULL, 0, b.size };
		if (rc == 0)
			rc = mreg_fs_write_atomic_at(dir, name, &b, &all, 1, sync);
		mreg_buf_dispose(&b);
	} else if (sync && fsync(dir) < 0) {
		rc = mreg_error_set(MREG_ERROR, "cannot fsync the directory of '%s': %s", rel, strerror(errno));
	}
	close(dir);
	return rc;
}

/* ---- metadata -------------------------------------------------------- */

int mreg_backup_read_meta(cJSON **out, const char *dir, const char *id)
{
	mreg_buf b = MREG_BUF_INIT;
	int rc = mreg_backup_check_id(id);
	char *p = rc == 0 ? mreg_strfmt("%s/%s.json", dir, id) : NULL;
	*out = NULL;
	if (rc < 0)
		return rc;
	rc = p ? mreg_fs_read(&b, p, 1 << 24) : mreg_error_set(MREG_ERROR, "out of memory");
	if (rc == MREG_ENOTFOUND)
		rc = mreg_error_set(MREG_ENOTFOUND, "backup not found: '%s'", id);
	else if (rc == 0 && (!(*out = cJSON_ParseWithLength(b.ptr, b.size)) || !cJSON_IsObject(*out) ||
			     !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(*out, "head")))) {
		cJSON_Delete(*out);
		*out = NULL;
		rc = mreg_error_set(MREG_ECORRUPT, "corrupt backup '%s': its metadata '%s' does not parse", id, p);
	}
	free(p);
	mreg_buf_dispose(&b);
	return rc;
}

const char *mreg_backup_meta_str(const cJSON *m, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

double mreg_backup_meta_num(const cJSON *m, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, k);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* A whole number of the metadata, -1 when absent or not one an int64 holds (the metadata is not trusted). */
int64_t mreg_backup_meta_int(const cJSON *m, const char *k)
{
	double v = mreg_backup_meta_num(m, k);
	return v >= 0 && v < 9007199254740992.0 && v == (double)(int64_t)v ? (int64_t)v : -1;
}

/* The registry a backup belongs to: its directory, resolved, as the metadata's "registry". */
char *mreg_backup_registry_id(mreg_registry *reg)
{
	char buf[PATH_MAX];
	const char *p = reg->workdir ? reg->workdir : reg->gitdir;
	char *r = realpath(p, buf) ? mreg_strdup(buf) : mreg_strdup(p);
	size_t n = r ? strlen(r) : 0;
	while (n > 1 && r[n - 1] == '/')
		r[--n] = '\0';
	return r;
}

/* ---- list, show ------------------------------------------------------ */

static int cmp_meta_desc(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	return strcmp(mreg_backup_meta_str(y, "id"), mreg_backup_meta_str(x, "id"));
}

/* The backups in dir of the registry regid (NULL: of any), newest first. */
int mreg_backup_list_in(cJSON **out, const char *dir, const char *regid)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	cJSON **v = NULL;
	size_t n = 0, a = 0;
	*out = cJSON_CreateArray();
	if (!*out) {
		if (d)
			closedir(d);
		return mreg_error_set(MREG_ERROR, "out of memory");
	}
	while (d && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char id[48];
		cJSON *m = NULL;
		if (len < 6 || len - 5 >= sizeof(id) || strcmp(de->d_name + len - 5, ".json"))
			continue;
		memcpy(id, de->d_name, len - 5);
		id[len - 5] = '\0';
		if (mreg_backup_check_id(id) < 0 || mreg_backup_read_meta(&m, dir, id) < 0) {
			mreg_error_clear();
			continue;
		}
		if (regid && strcmp(mreg_backup_meta_str(m, "registry"), regid)) {
			cJSON_Delete(m);	/* another registry's, in a shared directory */
			continue;
		}
		if (n == a) {
			a = a ? a * 2 : 16;
			cJSON **p = realloc(v, a * sizeof(*p));
			if (!p) {
				cJSON_Delete(m);
				break;
			}
			v = p;
		}
		v[n++] = m;
	}
	if (d)
		closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_meta_desc);
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(*out, v[i]);
	free(v);
	return 0;
}

int mreg_backup_list(cJSON **out, mreg_registry *reg)
{
	char *dir = NULL, *regid = mreg_backup_registry_id(reg);
	int rc = regid ? mreg_backup_dir(&dir, reg) : mreg_error_set(MREG_ERROR, "out of memory");
	if (rc == 0)
		rc = mreg_backup_list_in(out, dir, regid);
	free(dir);
	free(regid);
	return rc;
}

int mreg_backup_show(cJSON **out, mreg_registry *reg, const char *id)
{
	char *dir = NULL;
	int rc = mreg_backup_dir(&dir, reg);
	if (rc == 0)
		rc = mreg_backup_read_meta(out, dir, id);
	free(dir);
	return rc;
}

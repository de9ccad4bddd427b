/*
 * Backups as git bundles (DESIGN section 6). A bundle is "# v2 git bundle",
 * the refs it holds, a blank line and one pack. The pack is made from the
 * registry's own packs, entry by entry, without inflating anything: an
 * object's bytes are copied as they are, and a delta that names its base by
 * offset (OFS_DELTA, meaningful only inside its own pack) is rewritten to
 * name it by id (REF_DELTA), so entries from several packs can share one.
 * Loose objects, which mreg does not write but git may, are added whole.
 *
 * Beside the bundles: <id>.json (metadata) and lfs/objects/ab/cd/<sha256>
 * (large model files, hard-linked from the registry's .git/lfs/objects:
 * content-addressed, they never change, so every backup shares them; a
 * registry from before .git/lfs that has not moved its large files yet has
 * them in blobs/ab/cd/<xxh128><ext>, and so does its backup). A restore
 * folds the state from the bundle's events: nothing beside the bundle is
 * trusted to say what the events say. Backups made by older versions have
 * an <id>.state/ snapshot beside them; it is not read, and goes with them.
 */
#define _GNU_SOURCE /* mkdtemp */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BUNDLE_SIGNATURE "# v2 git bundle\n"

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
static int check_id(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > 40 || strspn(id, "0123456789-") != n || id[0] == '-')
		return mreg_error_set(MREG_ENOTFOUND, "backup not found: '%s'", id);
	return 0;
}

/* shared: verifying (its scratch repository must not be swept); exclusive: creating, pruning */
static int lock_dir_mode(int *fd, const char *dir, int mode)
{
	int rc = mreg_fs_mkdirs(dir);
	char *p = rc == 0 ? mreg_strfmt("%s/.lock", dir) : NULL;
	if (rc < 0)
		return mreg_error_set(rc, "cannot make the backup directory '%s': %s", dir, mreg_error_last());
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

static int lock_dir(int *fd, const char *dir)
{
	return lock_dir_mode(fd, dir, LOCK_EX);
}

static bool exists(const char *fmt, const char *dir, const char *id)
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
		if (!exists("%s/%s.json", dir, out) && !exists("%s/%s.bundle", dir, out) && !exists("%s/%s.state", dir, out))
			return 0;
	}
	return mreg_error_set(MREG_ERROR, "cannot name a backup in '%s': 100 in one microsecond", dir);
}

static void remove_tree(const char *path)
{
	struct stat sb;
	if (lstat(path, &sb) < 0)
		return;
	if (S_ISDIR(sb.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			char *p = mreg_strfmt("%s/%s", path, de->d_name);
			if (p)
				remove_tree(p);
			free(p);
		}
		if (d)
			closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

/*
 * What a killed create, verify or restore leaves behind: bundles and state
 * snapshots whose metadata was never written (the metadata is written
 * last), temporary files, scratch repositories. Caller holds the directory lock.
 */
static void sweep_orphans(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
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
			if (j && stat(j, &sb) < 0 && errno == ENOENT)
				p = mreg_strfmt("%s/%s", dir, n);
			free(j);
		}
		if (p)
			remove_tree(p);
		free(p);
	}
	if (d)
		closedir(d);
}

/* ---- the bundle's pack ----------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

typedef struct {
	uint64_t offset;
	const unsigned char *oid;
} entry;

static int cmp_entry(const void *a, const void *b)
{
	const entry *x = a, *y = b;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Entries of one pack, each copied once; OFS_DELTA rewritten as REF_DELTA. */
static int add_pack(mreg_buf *out, uint32_t *count, mreg_oid_set *seen, const char *idxpath, const char *packpath)
{
	const unsigned char *idx = NULL, *pack = NULL;
	size_t ilen = 0, plen = 0;
	entry *ents = NULL;
	int rc;

	if ((rc = mreg_fs_map((const char **)&idx, &ilen, idxpath)) < 0 ||
	    (rc = mreg_fs_map((const char **)&pack, &plen, packpath)) < 0)
		goto done;
	rc = mreg_error_set(MREG_ECORRUPT, "cannot back up: pack '%s' is not one this code reads", packpath);
	if (ilen < 8 + 1024 + 40 || memcmp(idx, "\377tOc\0\0\0\2", 8) || plen < 32 || memcmp(pack, "PACK", 4))
		goto done;
	size_t n = be32(idx + 8 + 255 * 4), off32 = 8 + 1024 + n * 24, off64 = off32 + n * 4;
	if (ilen < off64 + 40 || be32(pack + 8) != n)
		goto done;
	if (!(ents = calloc(n ? n : 1, sizeof(*ents)))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t o = be32(idx + off32 + i * 4);
		if (o & 0x80000000u) {	/* large-offset table */
			size_t k = o & 0x7fffffffu;
			if (ilen < off64 + (k + 1) * 8 + 40)
				goto done;
			ents[i].offset = (uint64_t)be32(idx + off64 + k * 8) << 32 | be32(idx + off64 + k * 8 + 4);
		} else {
			ents[i].offset = o;
		}
		ents[i].oid = idx + 8 + 1024 + i * 20;
	}
	qsort(ents, n, sizeof(*ents), cmp_entry);
	for (size_t i = 0; i < n; i++) {
		uint64_t start = ents[i].offset, end = i + 1 < n ? ents[i + 1].offset : plen - 20;
		if (start < 12 || end > plen - 20 || end <= start)
			goto done;
		int added = mreg_oid_set_add(seen, ents[i].oid);
		if (added < 0) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
			goto done;
		}
		if (!added)
			continue;
		const unsigned char *p = pack + start, *e = pack + end;
		if (((p[0] >> 4) & 7) != 6) {	/* anything but OFS_DELTA is copied as it is */
			mreg_buf_put(out, p, (size_t)(e - p));
			(*count)++;
			continue;
		}
		const unsigned char *q = p;
		while (q < e && (*q & 0x80))	/* the size */
			q++;
		q++;
		uint64_t rel = *q & 127;	/* the base, counted back from this entry */
		while (q < e && (*q & 0x80)) {
			q++;
			rel = ((rel + 1) << 7) | (*q & 127);
		}
		q++;
		if (q >= e || rel == 0 || rel > start)
			goto done;
		entry key = { start - rel, NULL };
		entry *base = bsearch(&key, ents, n, sizeof(*ents), cmp_entry);
		if (!base)
			goto done;
		size_t hdr = 0;
		unsigned char h[16];
		for (const unsigned char *s = p; s < e; s++) {	/* the same size bytes, type 7 */
			h[hdr++] = s == p ? (unsigned char)((*s & 0x8f) | (7 << 4)) : *s;
			if (!(*s & 0x80) || hdr == sizeof(h))
				break;
		}
		mreg_buf_put(out, h, hdr);
		mreg_buf_put(out, base->oid, 20);
		mreg_buf_put(out, q, (size_t)(e - q));
		(*count)++;
	}
	rc = mreg_buf_oom(out) ? mreg_error_set(MREG_ERROR, "out of memory writing a bundle") : 0;
done:
	free(ents);
	mreg_fs_unmap((const char *)idx, ilen);
	mreg_fs_unmap((const char *)pack, plen);
	return rc;
}

/* Loose objects (git writes them; mreg does not), added whole. */
static int add_loose(mreg_buf *out, uint32_t *count, mreg_oid_set *seen, mreg_registry *reg, const char *objects)
{
	int rc = 0;
	for (int i = 0; i < 256 && rc == 0; i++) {
		char fan[3] = { "0123456789abcdef"[i >> 4], "0123456789abcdef"[i & 15], '\0' };
		char *dir = mreg_strfmt("%s/%s", objects, fan);	/* (the core printf has no widths) */
		DIR *d = dir ? opendir(dir) : NULL;
		struct dirent *de;
		while (d && rc == 0 && (de = readdir(d))) {
			char hex[41];
			git_oid id;
			git_odb_object *o = NULL;
			if (strlen(de->d_name) != 38 || strspn(de->d_name, "0123456789abcdef") != 38)
				continue;
			hex[0] = "0123456789abcdef"[i >> 4];
			hex[1] = "0123456789abcdef"[i & 15];
			memcpy(hex + 2, de->d_name, 39);	/* 38 digits and the NUL */
			if (git_oid_fromstr(&id, hex) < 0 || mreg_oid_set_has(seen, id.id))
				continue;
			if (git_odb_read(&o, reg->odb, &id) < 0) {
				rc = mreg_git_error("cannot read a loose object of", reg->path);
				break;
			}
			rc = mreg_pack_put_object(out, git_odb_object_type(o), git_odb_object_data(o), git_odb_object_size(o));
			git_odb_object_free(o);
			if (rc == 0 && mreg_oid_set_add(seen, id.id) < 0)
				rc = mreg_error_set(MREG_ERROR, "out of memory");
			if (rc == 0)
				(*count)++;
		}
		if (d)
			closedir(d);
		free(dir);
	}
	return rc;
}

/* The whole bundle in out: header for branch at head, then one pack of every object the registry has. */
/* The object directories of the registry: its own, then those objects/info/alternates names. */
static int object_dirs(char ***out, size_t *n, mreg_registry *reg)
{
	mreg_buf alt = MREG_BUF_INIT;
	char *own = mreg_strfmt("%sobjects", reg->gitdir), *ap = mreg_strfmt("%sobjects/info/alternates", reg->gitdir);
	char **v = calloc(17, sizeof(*v));
	size_t k = 0;
	if (!own || !ap || !v) {
		free(own);
		free(ap);
		free(v);
		return mreg_error_set(MREG_ERROR, "out of memory");
	}
	v[k++] = own;
	if (mreg_fs_read(&alt, ap, 1 << 16) == 0) {
		for (char *line = alt.ptr, *nl; line && *line && k < 16; line = nl) {
			nl = strchr(line, '\n');
			if (nl)
				*nl++ = '\0';
			if (!*line || *line == '#')
				continue;
			/* a relative alternate is relative to objects/ */
			v[k++] = line[0] == '/' ? mreg_strdup(line) : mreg_strfmt("%s/%s", own, line);
		}
	}
	mreg_error_clear();
	mreg_buf_dispose(&alt);
	free(ap);
	*out = v;
	*n = k;
	return 0;
}

/* The whole bundle in out: header for branch at head, then one pack of every object the registry has. */
static int build_bundle(mreg_buf *out, mreg_registry *reg, const git_oid *head, const char *branch)
{
	char hex[41];
	mreg_oid_set seen = { NULL, 0, 0 };
	uint32_t count = 0;
	char **odirs = NULL;
	size_t nodirs = 0;
	int rc = 0;
	git_oid_tostr(hex, sizeof(hex), head);
	mreg_buf_printf(out, "%s%s HEAD\n%s %s\n\n", BUNDLE_SIGNATURE, hex, hex, branch);
	size_t start = out->size;
	mreg_buf_put(out, "PACK\0\0\0\2\0\0\0\0", 12);
	if ((rc = object_dirs(&odirs, &nodirs, reg)) < 0)
		return rc;
	/* room for every pack at once: the bundle is at most their sum, and growing would copy it */
	int64_t total = 0;
	for (size_t o = 0; o < nodirs; o++) {
		char *dir = mreg_strfmt("%s/pack", odirs[o]);
		DIR *d = dir ? opendir(dir) : NULL;
		struct dirent *de;
		while (d && (de = readdir(d))) {
			struct stat sb;
			char *pp = mreg_strfmt("%s/%s", dir, de->d_name);
			if (pp && strstr(de->d_name, ".pack") && stat(pp, &sb) == 0)
				total += sb.st_size + sb.st_size / 8;	/* REF_DELTA names are longer than offsets */
			free(pp);
		}
		if (d)
			closedir(d);
		free(dir);
	}
	mreg_buf_grow(out, (size_t)total + 4096);
	for (size_t o = 0; o < nodirs && rc == 0; o++) {
		char *dir = mreg_strfmt("%s/pack", odirs[o]);
		DIR *d = dir ? opendir(dir) : NULL;
		struct dirent *de;
		while (d && rc == 0 && (de = readdir(d))) {
			size_t n = strlen(de->d_name);
			if (n < 6 || strcmp(de->d_name + n - 5, ".pack"))
				continue;
			char *pp = mreg_strfmt("%s/%s", dir, de->d_name);
			char *ip = mreg_strfmt("%s/%.*s.idx", dir, (int)(n - 5), de->d_name);
			struct stat sb;
			if (pp && ip && stat(ip, &sb) == 0)	/* a pack without its index is not in use yet */
				rc = add_pack(out, &count, &seen, ip, pp);
			free(pp);
			free(ip);
		}
		if (d)
			closedir(d);
		free(dir);
		if (rc == 0)
			rc = add_loose(out, &count, &seen, reg, odirs[o]);
	}
	for (size_t o = 0; o < nodirs; o++)
		free(odirs[o]);
	free(odirs);
	free(seen.slot);
	if (rc < 0)
		return rc;
	if (mreg_buf_oom(out))
		return mreg_error_set(MREG_ERROR, "out of memory writing a bundle");
	unsigned char *c = (unsigned char *)out->ptr + start + 8;
	c[0] = (unsigned char)(count >> 24), c[1] = (unsigned char)(count >> 16), c[2] = (unsigned char)(count >> 8),
	c[3] = (unsigned char)count;
	unsigned char sum[20];
	mreg_git_sha1(sum, out->ptr + start, out->size - start);
	mreg_buf_put(out, sum, 20);
	return mreg_buf_oom(out) ? mreg_error_set(MREG_ERROR, "out of memory writing a bundle") : 0;
}

/* ---- large files ----------------------------------------------------- */

typedef struct {
	char **paths;	/* "lfs/objects/ab/cd/<sha256>", or "blobs/ab/cd/<xxh128><ext>" from before .git/lfs */
	size_t n, a;
} blob_list;

static void blobs_dispose(blob_list *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->paths[i]);
	free(b->paths);
}

/* Every file under root/rel, as "rel/..." paths (links never followed, temporary files skipped). */
static int scan_blobs(blob_list *out, const char *root, const char *rel)
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
			rc = scan_blobs(out, root, r);
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
static bool blob_path_ok(const char *p)
{
	return (!strncmp(p, "lfs/objects/", 12) || !strncmp(p, "blobs/", 6)) && !strstr(p, "..") && !strstr(p, "//");
}

/* A large file's hash is its name: the SHA-256 under lfs/objects/, the xxh128 under blobs/. */
static int check_blob(const char *path, const char *file, int64_t size)
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
static int place(const char *src, const char *root, const char *rel, bool sync)
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

static int read_meta(cJSON **out, const char *dir, const char *id)
{
	mreg_buf b = MREG_BUF_INIT;
	int rc = check_id(id);
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

static const char *meta_str(const cJSON *m, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static double meta_num(const cJSON *m, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, k);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* A whole number of the metadata, -1 when absent or not one an int64 holds (the metadata is not trusted). */
static int64_t meta_int(const cJSON *m, const char *k)
{
	double v = meta_num(m, k);
	return v >= 0 && v < 9007199254740992.0 && v == (double)(int64_t)v ? (int64_t)v : -1;
}

static char *host_name(void)
{
	char h[256];
	if (gethostname(h, sizeof(h)) < 0)
		return mreg_strdup("unknown");
	h[sizeof(h) - 1] = '\0';
	return mreg_strdup(h);
}

/* ---- create ---------------------------------------------------------- */

/* The registry a backup belongs to: its directory, resolved, as the metadata's "registry". */
static char *registry_id(mreg_registry *reg)
{
	char buf[PATH_MAX];
	const char *p = reg->workdir ? reg->workdir : reg->gitdir;
	char *r = realpath(p, buf) ? mreg_strdup(buf) : mreg_strdup(p);
	size_t n = r ? strlen(r) : 0;
	while (n > 1 && r[n - 1] == '/')
		r[--n] = '\0';
	return r;
}

/* Create with the writer lock held by the caller (restore keeps it from here to the reset). */
static int create_locked(cJSON **meta_out, mreg_registry *reg, const char *reason)
{
	char *dir = NULL, *bpath = NULL, *mpath = NULL, *host = NULL, *regid = NULL;
	mreg_buf bundle = MREG_BUF_INIT, meta = MREG_BUF_INIT;
	mreg_state *st = NULL;
	blob_list blobs = { NULL, 0, 0 };
	git_oid commit, tree;
	char id[48], branch[256], hex[41], thex[41], bhash[33], now[MREG_TIME_LEN + 1];
	int dfd = -1, rc;

	if (meta_out)
		*meta_out = NULL;
	if ((rc = mreg_backup_dir(&dir, reg)) < 0 || (rc = lock_dir(&dfd, dir)) < 0)
		goto done;
	sweep_orphans(dir);
	/* under the writer lock: no pack is merged away while it is read, the state is the head's */
	if ((rc = mreg_cache_ensure(reg)) < 0 || (rc = mreg_head(&commit, &tree, reg)) < 0 ||
	    (rc = mreg_cache_load(&st, reg, NULL, false, false)) < 0)
		goto done;
	if (!(regid = registry_id(reg))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	int64_t usec = mreg_fs_now_usec();
	mreg_time_format(now, usec);
	if ((rc = mreg_backup_new_id(id, dir, usec)) < 0)
		goto done;
	mreg_branch_ref(reg, branch, sizeof(branch));
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
	if (!store || (rc = scan_blobs(&blobs, store, "lfs/objects")) < 0 ||
	    (nlfs = blobs.n, reg->workdir && (rc = scan_blobs(&blobs, reg->workdir, "blobs")) < 0)) {
		free(store);
		rc = rc < 0 ? rc : mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	free(store);
	for (size_t i = 0; i < blobs.n && rc == 0; i++) {
		char *src = mreg_strfmt("%s%s", i < nlfs ? reg->gitdir : reg->workdir, blobs.paths[i]);
		rc = src ? place(src, dir, blobs.paths[i], reg->fsync) : mreg_error_set(MREG_ERROR, "out of memory");
		free(src);
	}
	if (rc < 0)
		goto done;
	mreg_jsonw w;
	mreg_jsonw_init(&w, &meta);
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
	mreg_jsonw_int(&w, "bundle_size", (int64_t)bundle.size);
	char h[48];
	snprintf(h, sizeof(h), "xxh128:%s", bhash);
	mreg_jsonw_str(&w, "bundle_hash", h);
	mreg_jsonw_arr_begin(&w, "blobs");
	for (size_t i = 0; i < blobs.n; i++) {
		struct stat sb;
		char *f = mreg_strfmt("%s/%s", dir, blobs.paths[i]);
		mreg_jsonw_obj_begin(&w, NULL);
		mreg_jsonw_str(&w, "path", blobs.paths[i]);
		mreg_jsonw_int(&w, "size", f && stat(f, &sb) == 0 ? (int64_t)sb.st_size : -1);
		mreg_jsonw_obj_end(&w);
		free(f);
	}
	mreg_jsonw_arr_end(&w);
	mreg_jsonw_str(&w, "mreg_version", MREG_VERSION_STRING);
	mreg_jsonw_obj_end(&w);
	if (mreg_jsonw_finish(&w) < 0) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	/* the metadata last: a backup without it is not listed, and is swept by prune */
	if ((rc = mreg_fs_write_atomic(mpath, meta.ptr, meta.size, reg->fsync)) < 0)
		goto done;
	if (meta_out && !(*meta_out = cJSON_ParseWithLength(meta.ptr, meta.size)))
		rc = mreg_error_set(MREG_ERROR, "out of memory");
done:
	if (rc < 0 && bpath && !exists("%s/%s.json", dir, id))
		unlink(bpath);
	if (dfd >= 0)
		close(dfd);
	blobs_dispose(&blobs);
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
		rc = mreg_lock(reg);
	if (rc < 0)
		return rc;
	rc = create_locked(meta_out, reg, reason);
	mreg_unlock(reg);
	return rc;
}

/* ---- list, show ------------------------------------------------------ */

static int cmp_meta_desc(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	return strcmp(meta_str(y, "id"), meta_str(x, "id"));
}

/* The backups in dir of the registry regid (NULL: of any), newest first. */
static int list_in(cJSON **out, const char *dir, const char *regid)
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
		if (check_id(id) < 0 || read_meta(&m, dir, id) < 0) {
			mreg_error_clear();
			continue;
		}
		if (regid && strcmp(meta_str(m, "registry"), regid)) {
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
	char *dir = NULL, *regid = registry_id(reg);
	int rc = regid ? mreg_backup_dir(&dir, reg) : mreg_error_set(MREG_ERROR, "out of memory");
	if (rc == 0)
		rc = list_in(out, dir, regid);
	free(dir);
	free(regid);
	return rc;
}

int mreg_backup_show(cJSON **out, mreg_registry *reg, const char *id)
{
	char *dir = NULL;
	int rc = mreg_backup_dir(&dir, reg);
	if (rc == 0)
		rc = read_meta(out, dir, id);
	free(dir);
	return rc;
}

/* ---- verify ---------------------------------------------------------- */

typedef struct {
	const char *id;
	git_oid head;
	const unsigned char *pack;	/* inside the bundle */
	size_t packlen;
	int64_t events;			/* files under events/ at the head */
	int64_t objects;
} bundle_info;

/* Header, head and pack checksum of a bundle already known to hash right. */
static int check_bundle_bytes(bundle_info *bi, const char *data, size_t len, const cJSON *meta)
{
	const char *id = bi->id, *p = data, *end = data + len;
	size_t sl = strlen(BUNDLE_SIGNATURE);
	bool have = false;
	if (len < sl || memcmp(data, BUNDLE_SIGNATURE, sl))
		return mreg_error_set(MREG_ECORRUPT, "corrupt backup '%s': not a v2 git bundle", id);
	p += sl;
	while (p < end && *p != '\n') {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		git_oid oid;
		if (!nl || *p == '-' || nl - p < 42 || p[40] != ' ' || git_oid_fromstrn(&oid, p, 40) < 0)
			return mreg_error_set(MREG_ECORRUPT, "corrupt backup '%s': bad bundle header", id);
		if (nl - p - 41 > 11 && !memcmp(p + 41, "refs/heads/", 11)) {
			bi->head = oid;
			have = true;
		}
		p = nl + 1;
	}
	if (p >= end || !have)
		return mreg_error_set(MREG_ECORRUPT, "corrupt backup '%s': the bundle names no branch", id);
	char hex[41];
	git_oid_tostr(hex, sizeof(hex), &bi->head);
	if (strcmp(hex, meta_str(meta, "head")))
		return mreg_error_set(MREG_ECORRUPT, "corrupt backup '%s': its bundle's head %s is not the metadata's %s", id,
				      hex, meta_str(meta, "head"));
	p++;
	bi->pack = (const unsigned char *)p;
	bi->packlen = (size_t)(end - p);
	unsigned char sum[20];
	if (bi->packlen < 32 || memcmp(p, "PACK", 4))
		return mreg_error_set(MREG_ECORRUPT, "corrupt backup '%s': the bundle holds no pack", id);
	mreg_git_sha1(sum, p, bi->packlen - 20);
	if (memcmp(sum, p + bi->packlen - 20, 20))
		return mreg_error_set(MREG_ECORRUPT, "corrupt backup '%s': pack checksum mismatch", id);
	return 0;
}

/* Every object reachable from head is in repo; events counted at the head. */
static int check_complete(bundle_info *bi, git_repository *repo)
{
	mreg_oid_set seen = { NULL, 0, 0 };
	git_oid *stack = NULL;
	size_t n = 0, a = 0;
	git_odb *odb = NULL;
	int rc = 0;
	char hex[41];
#define PUSH(o)                                                                                   \
	do {                                                                                      \
		if (n == a) {                                                                     \
			a = a ? a * 2 : 1024;                                                     \
			git_oid *s_ = realloc(stack, a * sizeof(*s_));                            \
			if (!s_) {                                                                \
				rc = mreg_error_set(MREG_ERROR, "out of memory");                  \
				goto done;                                                        \
			}                                                                         \
			stack = s_;                                                               \
		}                                                                                 \
		stack[n++] = *(o);                                                                \
	} while (0)
	if (git_repository_odb(&odb, repo) < 0) {
		rc = mreg_git_error("cannot open the objects of backup", bi->id);
		goto done;
	}
	PUSH(&bi->head);
	while (n && rc == 0) {
		git_oid id = stack[--n];
		int added = mreg_oid_set_add(&seen, id.id);
		if (added < 0) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
			break;
		}
		if (!added)
			continue;
		git_object *o = NULL;
		if (git_object_lookup(&o, repo, &id, GIT_OBJECT_ANY) < 0) {
			git_oid_tostr(hex, sizeof(hex), &id);
			rc = mreg_error_set(MREG_ECORRUPT, "corrupt backup '%s': its head is incomplete: object %s is missing",
					    bi->id, hex);
			break;
		}
		if (git_object_type(o) == GIT_OBJECT_COMMIT) {
			const git_commit *c = (const git_commit *)o;
			PUSH(git_commit_tree_id(c));
			for (unsigned i = 0; i < git_commit_parentcount(c); i++)
				PUSH(git_commit_parent_id(c, i));
		} else if (git_object_type(o) == GIT_OBJECT_TREE) {
			const git_tree *t = (const git_tree *)o;
			size_t k = git_tree_entrycount(t);
			for (size_t i = 0; i < k; i++) {
				const git_tree_entry *e = git_tree_entry_byindex(t, i);
				if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
					PUSH(git_tree_entry_id(e));
				} else if (git_tree_entry_type(e) == GIT_OBJECT_BLOB &&
					   !mreg_oid_set_has(&seen, git_tree_entry_id(e)->id)) {
					/* a blob need not be read, only be there */
					if (!git_odb_exists(odb, git_tree_entry_id(e))) {
						git_oid_tostr(hex, sizeof(hex), git_tree_entry_id(e));
						rc = mreg_error_set(MREG_ECORRUPT,
								    "corrupt backup '%s': its head is incomplete: object %s is missing",
								    bi->id, hex);
						break;
					}
					if (mreg_oid_set_add(&seen, git_tree_entry_id(e)->id) < 0)
						rc = mreg_error_set(MREG_ERROR, "out of memory");
				}
			}
		}
		git_object_free(o);
	}
	bi->objects = (int64_t)seen.n;
	if (rc == 0) {
		/* the events at the head: blobs under events/ */
		git_commit *c = NULL;
		git_tree *t = NULL;
		git_tree_entry *e = NULL;
		git_tree *ev = NULL;
		bi->events = 0;
		if (git_commit_lookup(&c, repo, &bi->head) == 0 && git_commit_tree(&t, c) == 0 &&
		    git_tree_entry_bypath(&e, t, "events") == 0 && git_tree_lookup(&ev, repo, git_tree_entry_id(e)) == 0) {
			/* events/ab/cd/<id>.json: three levels */
			for (size_t i = 0; i < git_tree_entrycount(ev); i++) {
				git_tree *l1 = NULL;
				if (git_tree_lookup(&l1, repo, git_tree_entry_id(git_tree_entry_byindex(ev, i))) < 0)
					continue;
				for (size_t j = 0; j < git_tree_entrycount(l1); j++) {
					git_tree *l2 = NULL;
					if (git_tree_lookup(&l2, repo, git_tree_entry_id(git_tree_entry_byindex(l1, j))) == 0)
						bi->events += (int64_t)git_tree_entrycount(l2);
					git_tree_free(l2);
				}
				git_tree_free(l1);
			}
		}
		git_tree_free(ev);
		git_tree_entry_free(e);
		git_tree_free(t);
		git_commit_free(c);
	}
#undef PUSH
done:
	git_odb_free(odb);
	free(stack);
	free(seen.slot);
	return rc;
}

/* Index a pack into repo's object database (libgit2's indexer checks every object as it goes). */
static int import_pack(git_repository *repo, const unsigned char *pack, size_t len, const char *id)
{
	git_odb *odb = NULL;
	git_odb_writepack *wp = NULL;
	git_indexer_progress stats;
	int rc = 0;
	if (git_repository_odb(&odb, repo) < 0 || git_odb_write_pack(&wp, odb, NULL, NULL) < 0 ||
	    wp->append(wp, pack, len, &stats) < 0 || wp->commit(wp, &stats) < 0)
		rc = mreg_error_set(MREG_ECORRUPT, "corrupt backup '%s': its pack does not index: %s", id,
				    git_error_last() ? git_error_last()->message : "unknown error");
	if (wp)
		wp->free(wp);
	git_odb_free(odb);
	return rc;
}

/*
 * Verify the backup id in dir. Without repo: index the pack in a scratch
 * repository and walk the head there (backup verify, restore-from). With
 * repo (a restore into a registry that has the head): see below.
 */
static int verify_in(cJSON **meta_out, bundle_info *bi, const char *dir, const char *id, git_repository *repo,
		     const char **bundle_map, size_t *bundle_len)
{
	bool local_history = repo != NULL;
	cJSON *meta = NULL;
	const char *data = NULL;
	size_t len = 0;
	char *bpath = NULL, *scratch = NULL;
	git_repository *tmp = NULL;
	int rc;

	memset(bi, 0, sizeof(*bi));
	bi->id = id;
	if ((rc = read_meta(&meta, dir, id)) < 0)
		goto done;
	bpath = mreg_strfmt("%s/%s", dir, meta_str(meta, "bundle"));
	if (!bpath || strcmp(meta_str(meta, "id"), id) || strchr(meta_str(meta, "bundle"), '/')) {
		rc = mreg_error_set(MREG_ECORRUPT, "corrupt backup '%s': its metadata names another backup", id);
		goto done;
	}
	if ((rc = mreg_fs_map(&data, &len, bpath)) < 0) {
		rc = mreg_error_set(rc == MREG_ENOTFOUND ? MREG_ECORRUPT : rc, "backup file missing: '%s'", bpath);
		goto done;
	}
	char hex[33], want[48];
	mreg_hash128(hex, data, len);
	snprintf(want, sizeof(want), "xxh128:%s", hex);
	if ((int64_t)len != meta_int(meta, "bundle_size") || strcmp(want, meta_str(meta, "bundle_hash"))) {
		rc = mreg_error_set(MREG_ECORRUPT, "hash mismatch in backup '%s': the bundle (%zu bytes) hashes to %s, the metadata says %s (%.0f bytes)",
				    id, len, want, meta_str(meta, "bundle_hash"), meta_num(meta, "bundle_size"));
		goto done;
	}
	if ((rc = check_bundle_bytes(bi, data, len, meta)) < 0)
		goto done;
	if (!repo) {
		if (!(scratch = mreg_strfmt("%s/.verify-XXXXXX", dir)) || !mkdtemp(scratch)) {
			rc = mreg_error_set(MREG_ERROR, "cannot make a scratch directory in '%s': %s", dir, strerror(errno));
			free(scratch);
			scratch = NULL;
			goto done;
		}
		if (git_repository_init(&tmp, scratch, 1) < 0) {
			rc = mreg_git_error("cannot make a scratch repository in", scratch);
			goto done;
		}
		if ((rc = import_pack(tmp, bi->pack, bi->packlen, id)) < 0)
			goto done;
		repo = tmp;
	}
	/*
	 * Completeness. A head that is the registry's own history (HEAD or an
	 * ancestor of it) has its objects in the registry, whose integrity is
	 * `mreg fsck`'s business: the bundle's hash, header and pack checksum
	 * above are what restore needs then. Anything else is walked.
	 */
	git_oid cur;
	bool own = local_history && git_reference_name_to_id(&cur, repo, "HEAD") == 0 &&
		   (git_oid_equal(&cur, &bi->head) || git_graph_descendant_of(repo, &cur, &bi->head) == 1);
	if (own) {
		bi->events = meta_int(meta, "events");
		bi->objects = -1;
	} else if ((rc = check_complete(bi, repo)) < 0) {
		goto done;
	}
	if (bi->events != meta_int(meta, "events")) {
		rc = mreg_error_set(MREG_ECORRUPT, "count mismatch in backup '%s': %lld events at its head, the metadata says %.0f",
				    id, (long long)bi->events, meta_num(meta, "events"));
		goto done;
	}
	const cJSON *b;
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(meta, "blobs")) {
		const char *p = meta_str(b, "path");
		char *f = blob_path_ok(p) ? mreg_strfmt("%s/%s", dir, p) : NULL;
		rc = f ? check_blob(p, f, meta_int(b, "size"))
		       : mreg_error_set(MREG_ECORRUPT, "corrupt backup '%s': it names a large file '%s' outside lfs/objects/ and blobs/",
					id, p);
		free(f);
		if (rc < 0)
			goto done;
	}
done:
	git_repository_free(tmp);
	if (scratch)
		remove_tree(scratch);
	free(scratch);
	free(bpath);
	if (rc == 0 && bundle_map) {
		*bundle_map = data;
		*bundle_len = len;
	} else {
		mreg_fs_unmap(data, len);
	}
	if (rc == 0 && meta_out)
		*meta_out = meta;
	else
		cJSON_Delete(meta);
	return rc;
}

static cJSON *verify_report(const cJSON *meta, const bundle_info *bi)
{
	cJSON *r = cJSON_CreateObject();
	char hex[41];
	git_oid_tostr(hex, sizeof(hex), &bi->head);
	cJSON_AddStringToObject(r, "id", bi->id);
	cJSON_AddBoolToObject(r, "ok", 1);
	cJSON_AddStringToObject(r, "head", hex);
	cJSON_AddNumberToObject(r, "objects", (double)bi->objects);
	cJSON_AddNumberToObject(r, "events", (double)bi->events);
	cJSON_AddNumberToObject(r, "blobs", cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(meta, "blobs")));
	return r;
}

int mreg_backup_verify(cJSON **report, mreg_registry *reg, const char *id)
{
	char *dir = NULL;
	cJSON *meta = NULL;
	bundle_info bi;
	int dfd = -1;
	int rc = mreg_backup_dir(&dir, reg);
	*report = NULL;
	if (rc == 0 && (rc = check_id(id)) == 0 && (rc = lock_dir_mode(&dfd, dir, LOCK_SH)) == 0 &&
	    (rc = verify_in(&meta, &bi, dir, id, NULL, NULL, NULL)) == 0)
		*report = verify_report(meta, &bi);
	if (dfd >= 0)
		close(dfd);
	cJSON_Delete(meta);
	free(dir);
	return rc;
}

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
		const char *path = meta_str(b, "path");
		bool lfs = !strncmp(path, "lfs/objects/", 12);
		const char *root = lfs ? reg->gitdir : reg->workdir;
		if (!blob_path_ok(path))
			continue;	/* verify_in refused such a backup */
		char *src = mreg_strfmt("%s/%s", dir, path), *dst = mreg_strfmt("%s%s", root, path);
		int rc = src && dst ? 0 : mreg_error_set(MREG_ERROR, "out of memory");
		if (rc == 0 && check_blob(path, dst, meta_int(b, "size")) < 0) {
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
			rc = place(src, root, path, sync);
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
	int rc = mreg_registry_state(&st, reg, NULL, false);
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
	bundle_info bi;
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
	 * the pack is indexed in a scratch repository, as verify does.
	 */
	cJSON *peek = NULL;
	git_oid want;
	bool local = read_meta(&peek, dir, id) == 0 && git_oid_fromstr(&want, meta_str(peek, "head")) == 0 &&
		     git_odb_exists(reg->odb, &want);
	mreg_error_clear();
	cJSON_Delete(peek);
	int dfd = -1;
	if ((rc = check_id(id)) == 0 && (rc = lock_dir_mode(&dfd, dir, LOCK_SH)) == 0)
		rc = verify_in(&meta, &bi, dir, id, local ? reg->repo : NULL, &bundle, &blen);
	if (dfd >= 0)
		close(dfd);	/* the pre-restore backup takes it exclusively */
	if (rc < 0)
		goto done;
	/*
	 * Then a pre-restore backup under its own id, so the restore can be
	 * undone; the writer lock is held from it to the reset, so no write
	 * can land between them and be in neither.
	 */
	if ((rc = mreg_lock(reg)) < 0)
		goto done;
	locked = true;
	char why[96];
	snprintf(why, sizeof(why), "pre-restore: before restoring %s", id);
	if ((rc = create_locked(&pre, reg, why)) < 0)
		goto done;
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, reg->fsync ? 1 : 0);
	if (!git_odb_exists(reg->odb, &bi.head) && (rc = import_pack(reg->repo, bi.pack, bi.packlen, id)) < 0)
		goto done;
	if ((rc = restore_blobs(meta, dir, reg, reg->fsync)) < 0)
		goto done;
	git_oid cur;
	if (git_oid_fromstr(&cur, meta_str(pre, "head")) < 0) {	/* what the pre-restore backup holds */
		rc = mreg_error_set(MREG_ERROR, "the pre-restore backup of '%s' names no head", reg->path);
		goto done;
	}
	head = bi.head;
	char msg[96];
	snprintf(msg, sizeof(msg), "restore backup %s", id);
	if ((rc = mreg_reset_branch(reg, &head, &cur, msg)) < 0)
		goto done;
	/*
	 * The state at the head, folded from the events it holds (nothing else
	 * is trusted to say it); the work tree follows, and every large file's
	 * copy is checked by hash: a damaged one is made again from the store.
	 */
	if ((rc = mreg_cache_check_large(reg)) < 0)
		goto done;
	mreg_unlock(reg);
	locked = false;
	cJSON *r = cJSON_CreateObject();
	char hex[41];
	git_oid_tostr(hex, sizeof(hex), &bi.head);
	cJSON_AddStringToObject(r, "restored", id);
	cJSON_AddStringToObject(r, "pre_restore_backup", meta_str(pre, "id"));
	cJSON_AddStringToObject(r, "head", hex);
	if ((rc = counts_report(r, reg)) < 0) {
		cJSON_Delete(r);
		goto done;
	}
	*report = r;
done:
	if (locked)
		mreg_unlock(reg);
	mreg_fs_unmap(bundle, blen);
	cJSON_Delete(meta);
	cJSON_Delete(pre);
	free(dir);
	return rc;
}

/* ---- prune, auto, stats ---------------------------------------------- */

static int64_t tree_bytes(const char *path)
{
	struct stat sb;
	int64_t n = 0;
	if (lstat(path, &sb) < 0)
		return 0;
	if (!S_ISDIR(sb.st_mode))
		return sb.st_size;
	DIR *d = opendir(path);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *p = mreg_strfmt("%s/%s", path, de->d_name);
		if (p)
			n += tree_bytes(p);
		free(p);
	}
	if (d)
		closedir(d);
	return n;
}

int mreg_backup_prune(size_t *removed, mreg_registry *reg, int keep)
{
	char *dir = NULL;
	cJSON *all = NULL;
	int dfd = -1, rc;
	*removed = 0;
	if (keep <= 0) {
		mreg_policy p;
		if ((rc = mreg_registry_policy(&p, reg)) < 0)
			return rc;
		keep = (int)p.max_backups;
	}
	char *regid = registry_id(reg);
	if (!regid)
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	else if ((rc = mreg_backup_dir(&dir, reg)) == 0 && (rc = lock_dir(&dfd, dir)) == 0)
		rc = list_in(&all, dir, regid);
	free(regid);
	if (rc < 0)
		goto done;
	sweep_orphans(dir);
	int i = 0;
	const cJSON *m;
	cJSON_ArrayForEach(m, all) {
		if (i++ < keep)
			continue;
		const char *id = meta_str(m, "id");
		char *j = mreg_strfmt("%s/%s.json", dir, id), *b = mreg_strfmt("%s/%s.bundle", dir, id);
		char *s = mreg_strfmt("%s/%s.state", dir, id);
		if (j)
			unlink(j);	/* the metadata first: a half-removed backup is no longer listed */
		if (b)
			unlink(b);
		if (s)
			remove_tree(s);
		free(j);
		free(b);
		free(s);
		(*removed)++;
	}
	/* large files no remaining backup names (of any registry sharing the directory) */
	blob_list have = { NULL, 0, 0 };
	cJSON *left = NULL;
	if (list_in(&left, dir, NULL) == 0 && scan_blobs(&have, dir, "lfs/objects") == 0 && scan_blobs(&have, dir, "blobs") == 0) {
		for (size_t k = 0; k < have.n; k++) {
			bool used = false;
			cJSON_ArrayForEach(m, left) {
				const cJSON *b;
				cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(m, "blobs"))
					used |= !strcmp(meta_str(b, "path"), have.paths[k]);
			}
			if (!used) {
				char *p = mreg_strfmt("%s/%s", dir, have.paths[k]);
				if (p)
					unlink(p);
				free(p);
			}
		}
	}
	blobs_dispose(&have);
	cJSON_Delete(left);
done:
	if (dfd >= 0)
		close(dfd);
	cJSON_Delete(all);
	free(dir);
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
	bool due = !newest || mreg_time_parse(&t, meta_str(newest, "time")) < 0 ||
		   mreg_fs_now_usec() - t >= (int64_t)(p.backup_interval_hours * 3600e6);
	cJSON_Delete(all);
	return due ? mreg_backup_create(meta_out, reg, "auto") : 0;
}

int mreg_backup_stats(cJSON **out, mreg_registry *reg)
{
	char *dir = NULL;
	cJSON *all = NULL;
	int rc;
	*out = NULL;
	char *regid = registry_id(reg);
	if (!regid)
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	else if ((rc = mreg_backup_dir(&dir, reg)) == 0)
		rc = list_in(&all, dir, regid);
	free(regid);
	if (rc < 0)
		goto done;
	int64_t bundles = 0;
	const cJSON *m;
	cJSON_ArrayForEach(m, all)
		bundles += meta_int(m, "bundle_size") > 0 ? meta_int(m, "bundle_size") : 0;
	blob_list bl = { NULL, 0, 0 };
	scan_blobs(&bl, dir, "lfs/objects");
	scan_blobs(&bl, dir, "blobs");
	mreg_error_clear();
	int64_t blob_bytes = 0;
	for (size_t i = 0; i < bl.n; i++) {
		char *f = mreg_strfmt("%s/%s", dir, bl.paths[i]);
		blob_bytes += f ? tree_bytes(f) : 0;
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
		cJSON_AddStringToObject(r, "newest", meta_str(cJSON_GetArrayItem(all, 0), "id"));
		cJSON_AddStringToObject(r, "oldest", meta_str(cJSON_GetArrayItem(all, n - 1), "id"));
	} else {
		cJSON_AddNullToObject(r, "newest");
		cJSON_AddNullToObject(r, "oldest");
	}
	blobs_dispose(&bl);
	*out = r;
done:
	cJSON_Delete(all);
	free(dir);
	return rc;
}

/* ---- restore-from: a registry from a backup alone --------------------- */

int mreg_restore_from(cJSON **report, const char *bundle, const char *target)
{
	char *dir = NULL, *id = NULL, *tmp = NULL, *parent = NULL;
	cJSON *meta = NULL;
	const char *data = NULL;
	size_t len = 0;
	bundle_info bi;
	git_repository *repo = NULL;
	mreg_registry *reg = NULL;
	int rc;
	struct stat sb;
	bool target_was_dir = false;

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
	if (stat(target, &sb) == 0) {
		DIR *d = opendir(target);
		struct dirent *de;
		bool empty = d != NULL;
		while (d && (de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				empty = false;
		if (d)
			closedir(d);
		if (!empty) {
			rc = mreg_error_set(MREG_EEXISTS, "cannot restore into '%s': it is not an empty directory", target);
			goto done;
		}
		target_was_dir = true;
	}
	int dfd = -1;
	if ((rc = check_id(id)) == 0 && (rc = lock_dir_mode(&dfd, dir, LOCK_SH)) == 0)
		rc = verify_in(&meta, &bi, dir, id, NULL, &data, &len);
	if (dfd >= 0)
		close(dfd);
	if (rc < 0)
		goto done;
	/*
	 * Built aside, in a directory beside the target, and renamed into
	 * place at the end: a restore-from that is killed or fails leaves the
	 * target as it was (absent or empty), so it can simply be run again.
	 */
	size_t tl = strlen(target);
	while (tl > 1 && target[tl - 1] == '/')
		tl--;
	const char *ts = NULL;
	for (size_t i = 0; i < tl; i++)
		if (target[i] == '/')
			ts = target + i;
	parent = ts ? (ts == target ? mreg_strdup("/") : mreg_strfmt("%.*s", (int)(ts - target), target)) : mreg_strdup(".");
	tmp = mreg_strfmt("%.*s.restoring-XXXXXX", (int)tl, target);
	if (!parent || !tmp || (rc = mreg_fs_mkdirs(parent)) < 0 || !mkdtemp(tmp)) {
		rc = rc < 0 ? rc : mreg_error_set(MREG_ERROR, "cannot make a directory beside '%s': %s", target, strerror(errno));
		goto done;
	}
	git_repository_init_options o;
	git_repository_init_options_init(&o, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	o.flags = GIT_REPOSITORY_INIT_MKPATH;
	const char *branch = meta_str(meta, "branch");
	o.initial_head = !strncmp(branch, "refs/heads/", 11) ? branch + 11 : "main";
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);	/* the history is durable before it is in place */
	if (git_repository_init_ext(&repo, tmp, &o) < 0) {
		rc = mreg_git_error("cannot make a repository in", tmp);
		goto done;
	}
	if ((rc = import_pack(repo, bi.pack, bi.packlen, id)) < 0)
		goto done;
	git_reference *ref = NULL;
	char refname[300];
	snprintf(refname, sizeof(refname), "refs/heads/%s", o.initial_head);
	if (git_reference_create(&ref, repo, refname, &bi.head, 1, "mreg: restore-from backup") < 0) {
		rc = mreg_git_error("cannot set the branch of", target);
		goto done;
	}
	git_reference_free(ref);
	git_repository_free(repo);
	repo = NULL;
	if ((rc = mreg_registry_open(&reg, tmp)) < 0)
		goto done;
	if ((rc = restore_blobs(meta, dir, reg, true)) < 0)
		goto done;
	if ((rc = mreg_lock(reg)) < 0)
		goto done;
	/*
	 * The work tree and index from nothing; then the state, folded from
	 * the events, and the mirror check, which puts the large files' bytes
	 * where the checkout wrote their pointers.
	 */
	git_checkout_options co;
	git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
	co.checkout_strategy = GIT_CHECKOUT_FORCE;
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 0);
	if (git_checkout_head(reg->repo, &co) < 0)
		rc = mreg_git_error("cannot write the work tree of", target);
	if (rc == 0)
		rc = mreg_cache_ensure(reg);
	mreg_unlock(reg);
	if (rc < 0)
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
	/* into place: the one step that makes the target a registry */
	if ((target_was_dir && rmdir(target) < 0) || rename(tmp, target) < 0) {
		rc = mreg_error_set(MREG_ERROR, "cannot move the restored registry to '%s': %s", target, strerror(errno));
		cJSON_Delete(r);
		goto done;
	}
	mreg_fs_fsync_dir(parent);
	free(tmp);
	tmp = NULL;
	*report = r;
done:
	mreg_registry_free(reg);
	git_repository_free(repo);
	if (tmp)
		remove_tree(tmp);
	mreg_fs_unmap(data, len);
	cJSON_Delete(meta);
	free(dir);
	free(id);
	free(tmp);
	free(parent);
	return rc;
}

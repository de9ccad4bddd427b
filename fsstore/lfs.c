/*
 * Large model files, kept the way Git LFS keeps them.
 *
 * A model file over mreg.json's artifact_max_bytes is not committed whole:
 * the tree holds a Git LFS pointer file at the artifact's path (three lines:
 * the spec's version, `oid sha256:<hex>`, `size <bytes>`), the path is
 * marked `filter=lfs diff=lfs merge=lfs -text` in a .gitattributes beside
 * it, and the bytes live in .git/lfs/objects/ab/cd/<sha256>, where `git
 * lfs` keeps them. So no ordinary git operation can delete them (they are
 * under .git/, not in a git-ignored corner of the work tree), and `git lfs`
 * and any LFS server can carry them. The work tree copy at the artifact's
 * path holds the real bytes (what an inference server reads); it is made
 * from the store, checked as it is copied, whenever it is missing or not
 * the right bytes.
 *
 * Nothing here trusts a file it did not write: an object already in the
 * store is hashed before a registration relies on it (a planted file of the
 * right size is replaced), and every copy out of the store is checked
 * against both the pointer's SHA-256 and the event's xxh128.
 *
 * Which artifact is which needs no flag: the tree entry at a version's
 * file_path is either the model file itself (its bytes hash to the name) or
 * a pointer to it. Registries made before this layout kept large files in
 * a git-ignored blobs/ directory; mreg_lfs_migrate moves them over.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

static const char pointer_version[] = "version https://git-lfs.github.com/spec/v1\n";

/* ---- pointers --------------------------------------------------------- */

int mreg_lfs_pointer_parse(mreg_lfs_pointer *out, const void *data, size_t len)
{
	/* only the canonical form: one encoding per pointer, as the spec says, and no extensions */
	const char *p = data, *end = p + len;
	size_t vl = sizeof(pointer_version) - 1;
	if (len >= 1024 || len < vl || memcmp(p, pointer_version, vl))
		return 1;
	p += vl;
	if (end - p < 11 + 64 + 1 || memcmp(p, "oid sha256:", 11) || strspn(p + 11, "0123456789abcdef") < 64 ||
	    p[11 + 64] != '\n')
		return 1;
	memcpy(out->oid, p + 11, 64);
	out->oid[64] = '\0';
	p += 11 + 64 + 1;
	if (end - p < 7 || memcmp(p, "size ", 5))
		return 1;
	p += 5;
	size_t nd = strspn(p, "0123456789");
	if (nd == 0 || nd > 18 || (nd > 1 && *p == '0') || p + nd + 1 != end || p[nd] != '\n')
		return 1;
	int64_t size = 0;
	for (size_t i = 0; i < nd; i++)
		size = size * 10 + (p[i] - '0');
	out->size = size;
	return 0;
}

int mreg_lfs_pointer_format(mreg_buf *out, const mreg_lfs_pointer *p)
{
	mreg_buf_clear(out);
	mreg_buf_puts(out, pointer_version);
	mreg_buf_printf(out, "oid sha256:%s\nsize %lld\n", p->oid, (long long)p->size);
	return mreg_buf_oom(out) ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
}

bool mreg_lfs_pointer_at(mreg_lfs_pointer *out, const char *path, const void *data, size_t len)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	char hex[33];
	if ((strncmp(path, "artifacts/", 10) && strncmp(path, "blobs/", 6)) || strspn(base, "0123456789abcdef") < 32 ||
	    len >= 1024)
		return false;
	mreg_hash128(hex, data, len);
	return strncmp(hex, base, 32) && mreg_lfs_pointer_parse(out, data, len) == 0;
}

/* ---- hashing ---------------------------------------------------------- */

int mreg_hasher_init(mreg_hasher *h, bool sha256)
{
	memset(h, 0, sizeof(*h));
	if (!(h->x = XXH3_createState()) || XXH3_128bits_reset(h->x) == XXH_ERROR)
		goto oom;
	if (sha256 && mreg_hasher_start_sha256(h, NULL, 0) < 0)
		goto oom;
	return 0;
oom:
	mreg_hasher_dispose(h);
	return mreg_error_set(MREG_ERROR, "out of memory");
}

int mreg_hasher_start_sha256(mreg_hasher *h, const void *seen, size_t len)
{
	if (h->s)
		return 0;
	if (!(h->s = EVP_MD_CTX_new()) || EVP_DigestInit_ex(h->s, EVP_sha256(), NULL) != 1 ||
	    (len && EVP_DigestUpdate(h->s, seen, len) != 1))
		return mreg_error_set(MREG_ERROR, "cannot start a SHA-256 digest");
	return 0;
}

void mreg_hasher_update(mreg_hasher *h, const void *data, size_t len, bool sha256)
{
	XXH3_128bits_update(h->x, data, len);
	if (sha256 && h->s)
		EVP_DigestUpdate(h->s, data, len);
	h->size += (int64_t)len;
}

static void hex_of(char *out, const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = "0123456789abcdef"[b[i] >> 4];
		out[2 * i + 1] = "0123456789abcdef"[b[i] & 15];
	}
	out[2 * n] = '\0';
}

void mreg_hasher_final(mreg_hasher *h, char xxh[33], char sha[65])
{
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(h->x));
	hex_of(xxh, c.digest, 16);
	if (sha) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int n = 0;
		sha[0] = '\0';
		if (h->s && EVP_DigestFinal_ex(h->s, md, &n) == 1 && n == 32)
			hex_of(sha, md, 32);
	}
}

void mreg_hasher_dispose(mreg_hasher *h)
{
	XXH3_freeState(h->x);
	EVP_MD_CTX_free(h->s);
	h->x = NULL;
	h->s = NULL;
}

/*
 * Read fd to its end, hashing, and write what was read to out (-1: nowhere).
 * ECORRUPT when more than max bytes come (max < 0: no limit).
 */
static int copy_hashing(mreg_hasher *h, int in, int out, int64_t max, const char *what)
{
	size_t cap = 1 << 20;
	char *buf = malloc(cap);
	int rc = 0;
	if (!buf)
		return mreg_error_set(MREG_ERROR, "out of memory");
	for (;;) {
		ssize_t r = read(in, buf, cap);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = mreg_error_set(MREG_ERROR, "cannot read '%s': %s", what, strerror(errno));
			break;
		}
		if (r == 0)
			break;
		mreg_hasher_update(h, buf, (size_t)r, true);
		if (max >= 0 && h->size > max) {
			rc = mreg_error_set(MREG_ECORRUPT, "'%s' is larger than it should be", what);
			break;
		}
		mreg_span all = { buf, 0, (size_t)r };
		if (out >= 0 && mreg_fs_write_spans(out, NULL, &all, 1) < 0) {
			rc = mreg_error_set(MREG_ERROR, "cannot copy '%s': %s", what, strerror(errno));
			break;
		}
	}
	free(buf);
	return rc;
}

/* ---- the store -------------------------------------------------------- */

/* rel (lfs/...) opened beneath the git directory as mreg_fs_dir_beneath does; what it finds names the store. */
static int store_dir(int *out, mreg_registry *reg, const char *rel, unsigned how)
{
	char *subject = mreg_strfmt("the large-file store of '%s'", reg->path);
	if (!subject)
		return mreg_error_set(MREG_ERROR, "out of memory");
	mreg_error_subject(subject);
	int rc = mreg_fs_dir_beneath(out, reg->gitdir, rel, how);
	mreg_error_subject(NULL);
	free(subject);
	return rc;
}

/* .git/lfs/objects/ab/cd, opened beneath the git directory (made when create). */
static int object_dir(int *out, mreg_registry *reg, const char *oid, bool create)
{
	char rel[32];
	snprintf(rel, sizeof(rel), "lfs/objects/%.2s/%.2s", oid, oid + 2);
	return store_dir(out, reg, rel, create ? MREG_FS_MKDIRS | (reg->fsync ? MREG_FS_SYNC : 0) : 0);
}

int mreg_lfs_open(int *out, mreg_registry *reg, const char *oid)
{
	int dir, rc;
	*out = -1;
	if ((rc = object_dir(&dir, reg, oid, false)) < 0) {
		if (rc == MREG_ENOTFOUND)
			return mreg_error_set(MREG_ENOTFOUND, "large file %s is not in '%s' (.git/lfs/objects)", oid,
					      reg->path);
		return rc;
	}
	*out = openat(dir, oid, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int err = errno;
	close(dir);
	if (*out >= 0)
		return 0;
	if (err == ENOENT)
		return mreg_error_set(MREG_ENOTFOUND, "large file %s is not in '%s' (.git/lfs/objects)", oid, reg->path);
	return mreg_error_set(MREG_ECORRUPT, "cannot read large file %s of '%s': %s", oid, reg->path,
			      err == ELOOP ? "it is a symbolic link" : strerror(err));
}

/* Hash what fd holds; 0 when it is p's bytes (and, given xxh, hashes to it), 1 when not. */
static int holds(int fd, const mreg_lfs_pointer *p, const char *xxh, const char *what)
{
	mreg_hasher h;
	char x[33], s[65];
	struct stat sb;
	int rc;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size != p->size)
		return 1;
	if ((rc = mreg_hasher_init(&h, true)) < 0)
		return rc;
	rc = copy_hashing(&h, fd, -1, p->size, what);
	mreg_hasher_final(&h, x, s);
	mreg_hasher_dispose(&h);
	if (rc == MREG_ECORRUPT) {
		mreg_error_clear();
		return 1;
	}
	if (rc < 0)
		return rc;
	return h.size == p->size && !strcmp(s, p->oid) && (!xxh || !strcmp(x, xxh)) ? 0 : 1;
}

int mreg_lfs_check(mreg_registry *reg, const mreg_lfs_pointer *p, const char *xxh)
{
	int fd, rc;
	if ((rc = mreg_lfs_open(&fd, reg, p->oid)) < 0)
		return rc;
	rc = holds(fd, p, xxh, p->oid);
	close(fd);
	if (rc == 1)
		rc = mreg_error_set(MREG_ECORRUPT, "large file %s of '%s' is corrupt: its bytes are not the ones its name says",
				    p->oid, reg->path);
	return rc;
}

int mreg_lfs_put(mreg_registry *reg, int tmpdir, const char *tmpname, const mreg_lfs_pointer *p)
{
	int dir, fd, rc;
	if ((rc = object_dir(&dir, reg, p->oid, true)) < 0)
		return rc;
	/* one already there is used only if it is what its name says: never trust a file mreg did not write */
	fd = openat(dir, p->oid, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		rc = holds(fd, p, NULL, p->oid);
		close(fd);
		if (rc <= 0) {
			close(dir);
			return rc;
		}
	}
	if (fchmodat(tmpdir, tmpname, 0444, 0) < 0 || renameat(tmpdir, tmpname, dir, p->oid) < 0)
		rc = mreg_error_set(MREG_ERROR, "cannot store large file %s in '%s': %s", p->oid, reg->path, strerror(errno));
	else if (reg->fsync && fsync(dir) < 0)
		rc = mreg_error_set(MREG_ERROR, "cannot fsync the large-file store of '%s': %s", reg->path, strerror(errno));
	else
		rc = 0;
	close(dir);
	return rc;
}

int mreg_lfs_store_buf(mreg_lfs_pointer *out, mreg_registry *reg, const void *data, size_t len)
{
	char tmpname[64], x[33];
	mreg_hasher h;
	int dir = -1, fd = -1, rc;
	if ((rc = mreg_hasher_init(&h, true)) < 0)
		return rc;
	mreg_hasher_update(&h, data, len, true);
	mreg_hasher_final(&h, x, out->oid);
	mreg_hasher_dispose(&h);
	out->size = (int64_t)len;
	if ((rc = mreg_lfs_tmp_dir(&dir, reg)) < 0)
		return rc;
	snprintf(tmpname, sizeof(tmpname), "buf.mreg-tmp%d", (int)getpid());
	unlinkat(dir, tmpname, 0);
	fd = openat(dir, tmpname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	mreg_span all = { data, 0, len };
	if (fd < 0 || mreg_fs_write_spans(fd, NULL, &all, 1) < 0 || (reg->fsync && fsync(fd) < 0))
		rc = mreg_error_set(MREG_ERROR, "cannot store a large file in '%s': %s", reg->path, strerror(errno));
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = mreg_error_set(MREG_ERROR, "cannot store a large file in '%s': %s", reg->path, strerror(errno));
	if (rc == 0)
		rc = mreg_lfs_put(reg, dir, tmpname, out);
	unlinkat(dir, tmpname, 0);
	close(dir);
	return rc;
}

int mreg_lfs_tmp_dir(int *out, mreg_registry *reg)
{
	/* made durably: the store below .git/lfs is, and its parent's name must survive with it */
	return store_dir(out, reg, "lfs/tmp", MREG_FS_MKDIRS | (reg->fsync ? MREG_FS_SYNC : 0));
}

void mreg_lfs_sweep(mreg_registry *reg)
{
	char *tmp = mreg_strfmt("%slfs/tmp", reg->gitdir);
	if (tmp)
		mreg_fs_sweep_tmp(tmp, false);
	free(tmp);
}

/* ---- the work tree copy ----------------------------------------------- */

/*
 * git compares a file with its index entry by stat data, and hashes the
 * file when the entry is not older than the index itself (a "racily clean"
 * entry). Without the LFS filter, the hash of the real bytes is not the
 * pointer's, and `git status` would call the copy modified. A copy whose
 * modification time lies before the index's never looks racy: it is set
 * two seconds back (the bytes are content-addressed; the time says nothing).
 */
static void not_racy(int fd)
{
	struct timespec ts[2];
	clock_gettime(CLOCK_REALTIME, &ts[1]);
	ts[1].tv_sec -= 2;
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	futimens(fd, ts);
}

int mreg_lfs_checkout(struct stat *st, mreg_registry *reg, const char *relpath, const mreg_lfs_pointer *p,
		      const char *xxh)
{
	const char *name;
	char tmp[300] = "";
	int dir = -1, fd = -1, in = -1, rc;
	mreg_hasher h;
	bool hashing = false;

	if ((rc = mreg_fs_parent_beneath(&dir, &name, reg->workdir, relpath, MREG_FS_MKDIRS | MREG_FS_REPAIR)) < 0)
		return rc;
	/* a copy already there is kept only if it holds the right bytes */
	fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0) {
		rc = holds(fd, p, xxh, relpath);
		if (rc == 0) {
			not_racy(fd);
			if (fstat(fd, st) < 0)
				rc = mreg_error_set(MREG_ERROR, "cannot stat '%s': %s", relpath, strerror(errno));
			goto done;
		}
		if (rc < 0)
			goto done;
		close(fd);
		fd = -1;
	}
	if ((rc = mreg_lfs_open(&in, reg, p->oid)) < 0)
		goto done;
	snprintf(tmp, sizeof(tmp), "%s.mreg-tmp%d", name, (int)getpid());
	unlinkat(dir, tmp, 0);
	fd = openat(dir, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = mreg_error_set(MREG_ERROR, "cannot write '%s': %s", relpath, strerror(errno));
		goto done;
	}
	/* the kernel copies; then the copy is read back and checked, as any file mreg did not just write */
	for (struct stat sb; fstat(in, &sb) == 0;) {
		off_t left = sb.st_size;
		while (left > 0) {
			ssize_t n = copy_file_range(in, NULL, fd, NULL, (size_t)left, 0);
			if (n <= 0)
				break;
			left -= n;
		}
		if (left == 0)
			break;
		/* no copy_file_range here (or it stopped): copy by hand */
		if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0 || lseek(in, 0, SEEK_SET) < 0) {
			rc = mreg_error_set(MREG_ERROR, "cannot write '%s': %s", relpath, strerror(errno));
			goto done;
		}
		if ((rc = mreg_hasher_init(&h, true)) < 0)
			goto done;
		hashing = true;
		if ((rc = copy_hashing(&h, in, fd, p->size, p->oid)) < 0)
			goto done;
		break;
	}
	if (!hashing) {
		if (lseek(fd, 0, SEEK_SET) < 0) {
			rc = mreg_error_set(MREG_ERROR, "cannot read back '%s': %s", relpath, strerror(errno));
			goto done;
		}
		if ((rc = mreg_hasher_init(&h, true)) < 0)
			goto done;
		hashing = true;
		if ((rc = copy_hashing(&h, fd, -1, p->size, relpath)) < 0)
			goto done;
	}
	char x[33], s[65];
	mreg_hasher_final(&h, x, s);
	if (h.size != p->size || strcmp(s, p->oid) || (xxh && strcmp(x, xxh))) {
		rc = mreg_error_set(MREG_ECORRUPT, "large file %s of '%s' is corrupt: its bytes are not the ones its name says",
				    p->oid, reg->path);
		goto done;
	}
	not_racy(fd);
	struct stat there;
	bool swap = fstatat(dir, name, &there, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(there.st_mode);
	if (fstat(fd, st) < 0 ||
	    ((!swap || renameat2(dir, tmp, dir, name, RENAME_EXCHANGE) < 0) && renameat(dir, tmp, dir, name) < 0)) {
		rc = mreg_error_set(MREG_ERROR, "cannot write '%s': %s", relpath, strerror(errno));
		goto done;
	}
	rc = 0;
done:
	if (hashing)
		mreg_hasher_dispose(&h);
	if (in >= 0)
		close(in);
	if (fd >= 0)
		close(fd);
	if (dir >= 0) {
		if (tmp[0])
			unlinkat(dir, tmp, 0);
		close(dir);
	}
	return rc;
}

int mreg_lfs_copy_ok(mreg_registry *reg, const char *relpath, const mreg_lfs_pointer *p, const char *xxh)
{
	const char *name;
	int dir, fd, rc;
	if ((rc = mreg_fs_parent_beneath(&dir, &name, reg->workdir, relpath, 0)) < 0) {
		mreg_error_clear();
		return 1;
	}
	fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	close(dir);
	if (fd < 0)
		return 1;
	rc = holds(fd, p, xxh, relpath);
	close(fd);
	return rc;
}

/* ---- reading a version's model file ----------------------------------- */

int mreg_artifact_read(mreg_buf *out, mreg_registry *reg, const char *file_path, const char *file_hash)
{
	git_oid c, t, id;
	git_object_t type;
	unsigned mode;
	mreg_lfs_pointer ptr;
	char hex[33];
	int rc;

	if (strncmp(file_hash, "xxh128:", 7) || strlen(file_hash) != 39)
		return mreg_error_set(MREG_EINVALID, "invalid file hash '%s'", file_hash);
	mreg_buf_clear(out);
	if ((rc = mreg_head_read(&c, &t, reg)) < 0)
		return rc;
	rc = mreg_tree_path(&id, &mode, reg, &t, file_path);
	if (rc < 0)
		return rc;
	if (rc == 0 && (mode == 0100644 || mode == 0100755)) {
		if ((rc = mreg_tree_read_object(out, &type, reg, &id)) < 0)
			return rc;
		mreg_hash128(hex, out->ptr, out->size);
		if (type == GIT_OBJECT_BLOB && !strcmp(hex, file_hash + 7))
			return 0;	/* the file itself, committed */
		if (type != GIT_OBJECT_BLOB || mreg_lfs_pointer_parse(&ptr, out->ptr, out->size) != 0)
			return mreg_error_set(MREG_ECORRUPT, "model file '%s' is corrupt: its bytes hash to %s", file_path, hex);
		/* a pointer: the bytes come from .git/lfs, checked as they are read */
		int fd;
		mreg_hasher h;
		char x[33], sha[65];
		if ((rc = mreg_lfs_open(&fd, reg, ptr.oid)) < 0)
			return rc;
		mreg_buf_clear(out);
		if ((rc = mreg_fs_read_fd(out, fd, file_path)) == 0 && (rc = mreg_hasher_init(&h, true)) == 0) {
			mreg_hasher_update(&h, out->ptr, out->size, true);
			mreg_hasher_final(&h, x, sha);
			mreg_hasher_dispose(&h);
			if ((int64_t)out->size != ptr.size || strcmp(sha, ptr.oid) || strcmp(x, file_hash + 7))
				rc = mreg_error_set(MREG_ECORRUPT, "model file '%s' is corrupt: large file %s is not its bytes",
						    file_path, ptr.oid);
		}
		close(fd);
		return rc;
	}
	if (rc == 0 || strncmp(file_path, "blobs/", 6) || !reg->workdir)
		return mreg_error_set(MREG_ENOTFOUND, "model file '%s' is missing from the registry", file_path);
	/* a large file from before .git/lfs, not moved yet: in the work tree */
	const char *name;
	int dir, fd;
	if ((rc = mreg_fs_parent_beneath(&dir, &name, reg->workdir, file_path, 0)) < 0)
		return mreg_error_set(MREG_ENOTFOUND, "model file '%s' is missing from the registry", file_path);
	fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	close(dir);
	if (fd < 0)
		return mreg_error_set(MREG_ENOTFOUND, "model file '%s' is missing from the registry", file_path);
	rc = mreg_fs_read_fd(out, fd, file_path);
	close(fd);
	if (rc < 0)
		return rc;
	mreg_hash128(hex, out->ptr, out->size);
	if (strcmp(hex, file_hash + 7))
		return mreg_error_set(MREG_ECORRUPT, "model file '%s' is corrupt: its bytes hash to %s", file_path, hex);
	return 0;
}

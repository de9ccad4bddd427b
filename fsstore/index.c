/*
 * Adding entries to the git index without loading it.
 *
 * Every write mirrors its event (and model file) into the work tree and the
 * index, so that `git status` stays clean. Loading the index with libgit2
 * builds a structure per entry, which costs milliseconds at a few thousand
 * events; the change itself is one or two entries. So the index (format
 * version 2) is streamed instead: the old file is mapped and written back
 * as spans of itself, with the new entries inserted at their sorted place, optional extensions (the cached
 * tree, untracked cache) are dropped as git allows, and the checksum is
 * recomputed. Anything unexpected (another version, a required extension, a
 * malformed entry) answers 1 and the caller falls back to libgit2.
 *
 * Entry layout (version 2): ctime, mtime (seconds and nanoseconds), dev,
 * ino, mode, uid, gid, size as 32-bit big-endian, the 20-byte object id,
 * 16-bit flags (low 12 bits: path length, 0xfff if longer), the path and
 * 1 to 8 NUL bytes so the entry length is a multiple of 8.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void put_entry(mreg_buf *out, const mreg_index_entry *e)
{
	unsigned char h[62];
	const struct stat *s = &e->st;
	put32(h, (uint32_t)s->st_ctim.tv_sec);
	put32(h + 4, (uint32_t)s->st_ctim.tv_nsec);
	put32(h + 8, (uint32_t)s->st_mtim.tv_sec);
	put32(h + 12, (uint32_t)s->st_mtim.tv_nsec);
	put32(h + 16, (uint32_t)s->st_dev);
	put32(h + 20, (uint32_t)s->st_ino);
	put32(h + 24, s->st_mode & 0111 ? 0100755 : 0100644);	/* git's rule: any execute bit */
	put32(h + 28, (uint32_t)s->st_uid);
	put32(h + 32, (uint32_t)s->st_gid);
	put32(h + 36, (uint32_t)s->st_size);
	memcpy(h + 40, e->id.id, 20);
	size_t n = strlen(e->path);
	h[60] = (unsigned char)((n < 0xfff ? n : 0xfff) >> 8);
	h[61] = (unsigned char)(n < 0xfff ? n : 0xfff);
	mreg_buf_put(out, h, 62);
	mreg_buf_put(out, e->path, n);
	static const char zeros[8];
	mreg_buf_put(out, zeros, 8 - (62 + n) % 8);
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const mreg_index_entry *)a)->path, ((const mreg_index_entry *)b)->path);
}

/* Append a span of own (from mark to its end) or of the old index. */
static int add_span(mreg_span **sp, size_t *n, size_t *a, const char *ptr, size_t off, size_t len)
{
	if (!len)
		return 0;
	if (*n == *a) {
		*a = *a ? *a * 2 : 256;
		mreg_span *p = realloc(*sp, *a * sizeof(**sp));
		if (!p)
			return -1;
		*sp = p;
	}
	/* runs of the old index that touch are one span */
	if (ptr && *n && (*sp)[*n - 1].ptr && (*sp)[*n - 1].ptr + (*sp)[*n - 1].len == ptr) {
		(*sp)[*n - 1].len += len;
		return 0;
	}
	(*sp)[(*n)++] = (mreg_span){ ptr, off, len };
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int mreg_index_update(mreg_registry *reg, mreg_index_entry *adds, size_t nadds, char **removes, size_t nremoves)
{
	mreg_buf own = MREG_BUF_INIT;
	mreg_span *sp = NULL;
	size_t nsp = 0, asp = 0;
	const char *map = NULL;
	size_t maplen = 0;
	char *path = mreg_strfmt("%sindex", reg->gitdir), *lock = mreg_strfmt("%sindex.lock", reg->gitdir);
	int rc = 1, fd = -1;

	if (!path || !lock) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	qsort(adds, nadds, sizeof(*adds), cmp_entry);
	if (nremoves)
		qsort(removes, nremoves, sizeof(*removes), cmp_str);
	size_t gone = 0;	/* the next path to remove, in the old entries' order */
	size_t u = 0;	/* one entry per path */
	for (size_t i = 0; i < nadds; i++)
		if (!u || strcmp(adds[u - 1].path, adds[i].path))
			adds[u++] = adds[i];
	nadds = u;
	if (mreg_fs_map(&map, &maplen, path) < 0) {
		mreg_error_clear();
		goto done;
	}
	const unsigned char *p = (const unsigned char *)map, *end = p + maplen;
	if (maplen < 32 || memcmp(p, "DIRC", 4) || get32(p + 4) != 2)
		goto done;
	uint32_t n = get32(p + 8), kept = 0;
	const unsigned char *e = p + 12;
	size_t next = 0, mark = 0;
	mreg_buf_put(&own, "DIRC\0\0\0\2\0\0\0\0", 12);
	/* new entries are built in own; old ones are spans of the mapped index */
#define FLUSH_OWN() (add_span(&sp, &nsp, &asp, NULL, mark, own.size - mark), mark = own.size)
	for (uint32_t i = 0; i < n; i++) {
		if (end - e < 62 + 20)
			goto done;
		uint16_t flags = (uint16_t)(e[60] << 8 | e[61]);
		if (flags & 0x4000 || (flags >> 12 & 3))	/* extended flags or a merge stage */
			goto done;
		const unsigned char *name = e + 62;
		const unsigned char *nul = memchr(name, 0, (size_t)(end - name));
		if (!nul)
			goto done;
		size_t len = (size_t)(nul - name), elen = (62 + len + 8) & ~(size_t)7;
		if ((size_t)(end - e) < elen)
			goto done;
		int c = 1;
		while (next < nadds && (c = strcmp(adds[next].path, (const char *)name)) < 0) {
			put_entry(&own, &adds[next++]);
			kept++;
		}
		/*
		 * A file where a new entry needs a directory ("events" before
		 * "events/ab/..."), or entries under a path that is now a file:
		 * the index would hold both, which git refuses; the old goes,
		 * as a checkout replaces it in the work tree.
		 */
		bool shadowed = (next < nadds && !strncmp(adds[next].path, (const char *)name, len) &&
				 adds[next].path[len] == '/') ||
				(next > 0 && !strncmp((const char *)name, adds[next - 1].path, strlen(adds[next - 1].path)) &&
				 name[strlen(adds[next - 1].path)] == '/');
		while (gone < nremoves && strcmp(removes[gone], (const char *)name) < 0)
			gone++;
		bool removed = gone < nremoves && !strcmp(removes[gone], (const char *)name) &&
			       !(next < nadds && c == 0);
		if (shadowed || removed) {
			FLUSH_OWN();
			e += elen;
			continue;
		}
		if (next < nadds && c == 0) {	/* replaced */
			put_entry(&own, &adds[next++]);
		} else {
			FLUSH_OWN();
			if (add_span(&sp, &nsp, &asp, (const char *)e, 0, elen) < 0)
				goto oom;
		}
		kept++;
		e += elen;
	}
	while (next < nadds) {
		put_entry(&own, &adds[next++]);
		kept++;
	}
	FLUSH_OWN();
#undef FLUSH_OWN
	/* extensions: drop the optional ones (upper-case signature), refuse the rest */
	while (end - e > 20) {
		if (end - e < 8 + 20 || e[0] < 'A' || e[0] > 'Z')
			goto done;
		uint32_t size = get32(e + 4);
		if ((size_t)(end - e) < 8 + (size_t)size + 20)
			goto done;
		e += 8 + size;
	}
	if (mreg_buf_oom(&own))
		goto oom;
	put32((unsigned char *)own.ptr + 8, kept);
	unsigned char sum[20];
	mreg_git_sha1_ctx md;
	mreg_git_sha1_init(&md);
	for (size_t i = 0; i < nsp; i++)
		mreg_git_sha1_update(&md, sp[i].ptr ? sp[i].ptr : own.ptr + sp[i].off, sp[i].len);
	mreg_git_sha1_final(&md, sum);
	size_t sumoff = own.size;
	mreg_buf_put(&own, sum, 20);
	if (mreg_buf_oom(&own) || add_span(&sp, &nsp, &asp, NULL, sumoff, 20) < 0)
		goto oom;
	/*
	 * git's protocol: create index.lock exclusively (recorded, so that the
	 * next mreg removes it if this one dies holding it; waited for while a
	 * git command holds it), write, rename over index (by a swap and an
	 * unlink, see mreg_fs_replace)
	 */
	if ((rc = mreg_lockfile_create(&fd, reg, "index")) < 0)
		goto done;
	if (mreg_fs_write_spans(fd, &own, sp, nsp) < 0 || close(fd) < 0) {
		rc = mreg_error_set(MREG_ERROR, "cannot write the index of '%s': %s", reg->path, strerror(errno));
		fd = -1;
		unlink(lock);
		mreg_lockfile_done(reg);
		goto done;
	}
	fd = -1;
	if (mreg_fs_replace(lock, path) < 0) {
		rc = mreg_error_set(MREG_ERROR, "cannot write the index of '%s': %s", reg->path, strerror(errno));
		unlink(lock);
		mreg_lockfile_done(reg);
		goto done;
	}
	mreg_lockfile_done(reg);
	rc = 0;
	goto done;
oom:
	rc = mreg_error_set(MREG_ERROR, "out of memory writing the index of '%s'", reg->path);
done:
	if (fd >= 0)
		close(fd);
	mreg_fs_unmap(map, maplen);
	mreg_buf_dispose(&own);
	free(sp);
	free(path);
	free(lock);
	return rc;
}

/*
 * libgit2 writes an index through its own index.lock, which mreg cannot
 * record: a process killed in the middle would leave a lock file the next
 * write must take for a live git command's. So libgit2 works on a private
 * copy, .git/mreg/index.new (its lock file is under .git/mreg/, which only
 * mreg uses), and the result is put in place as any index write is: under
 * a recorded index.lock, by renaming the copy over the index.
 */
int mreg_index_libgit2(mreg_registry *reg, bool copy, int (*fn)(git_index *idx, void *payload), void *payload)
{
	char *priv = mreg_strfmt("%sindex.new", reg->mregdir), *plock = mreg_strfmt("%sindex.new.lock", reg->mregdir);
	char *path = mreg_strfmt("%sindex", reg->gitdir), *lock = mreg_strfmt("%sindex.lock", reg->gitdir);
	git_index *idx = NULL;
	mreg_buf b = MREG_BUF_INIT;
	int rc = 0, fd = -1;

	if (!priv || !plock || !path || !lock) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	if ((rc = mreg_registry_need_git(reg)) < 0)
		goto done;
	unlink(plock);	/* a killed mreg's: no one else writes under .git/mreg/ */
	unlink(priv);
	if (copy && (rc = mreg_fs_read(&b, path, 0)) == 0)
		rc = mreg_fs_write_atomic(priv, b.ptr, b.size, false);
	if (rc == MREG_ENOTFOUND)
		rc = 0;	/* no index yet: start from an empty one */
	mreg_error_clear();
	if (rc < 0)
		goto done;
	if (git_index_open(&idx, priv) < 0) {
		rc = mreg_git_error("cannot open the index of", reg->path);
		goto done;
	}
	/* version 2 is the one mreg_index_update streams on the next write */
	if (git_index_version(idx) != 2 && git_index_set_version(idx, 2) < 0) {
		rc = mreg_git_error("cannot set the index version of", reg->path);
		goto done;
	}
	if ((rc = fn(idx, payload)) < 0)
		goto done;
	if (git_index_write(idx) < 0) {
		rc = mreg_git_error("cannot write the index of", reg->path);
		goto done;
	}
	if ((rc = mreg_lockfile_create(&fd, reg, "index")) < 0)
		goto done;
	close(fd);
	if (rename(priv, path) < 0)
		rc = mreg_error_set(MREG_ERROR, "cannot write the index of '%s': %s", reg->path, strerror(errno));
	unlink(lock);
	mreg_lockfile_done(reg);
	if (rc == 0) {	/* the repository's own copy of the index reads the new file */
		git_index *own = NULL;
		if (git_repository_index(&own, reg->repo) == 0)
			git_index_read(own, true);
		git_index_free(own);
		git_error_clear();
	}
done:
	git_index_free(idx);
	if (priv)
		unlink(priv);
	mreg_buf_dispose(&b);
	free(priv);
	free(plock);
	free(path);
	free(lock);
	return rc;
}

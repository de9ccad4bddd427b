/*
 * The new objects of one write, built and stored by hand.
 *
 * A write adds a handful of objects: the event blob, maybe an artifact
 * blob, the trees on the paths to them and the commit. libgit2 would build
 * the trees with git_tree_create_updated, look every new object up in every
 * pack before storing it, and index the pack by inflating and hashing it all
 * again. Here each object's id is hashed once from bytes already in memory,
 * the trees are edited as bytes (only those on the changed paths are read),
 * and the pack and its index (.idx version 2) are written directly: the
 * pack, the index and their directory are fsynced before the branch moves,
 * and the index appears only after the pack it describes is complete.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_DEPTH 8

int mreg_objs_add(mreg_objs *o, git_object_t type, const void *data, size_t len, bool owned, git_oid *id_out)
{
	if (o->n == sizeof(o->obj) / sizeof(o->obj[0])) {
		if (owned)
			free((void *)data);
		return mreg_error_set(MREG_ERROR, "too many new objects in one write");
	}
	mreg_obj *x = &o->obj[o->n++];
	x->type = type;
	x->data = data;
	x->len = len;
	x->owned = owned;
	mreg_git_hash(&x->id, type, data, len);
	if (id_out)
		git_oid_cpy(id_out, &x->id);
	return 0;
}

void mreg_objs_dispose(mreg_objs *o)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->obj[i].owned)
			free((void *)o->obj[i].data);
	o->n = 0;
}

/* ---- trees ---------------------------------------------------------- */

typedef struct {
	const char *name;
	size_t len;
	bool tree;
	git_oid id;
	const char *mode;	/* as written: 40000, 100644, 100755, 120000, 160000 */
	size_t modelen;
} tree_ent;

/* git's order: names compare as bytes, a tree's as if it ended in '/'. */
static int ent_cmp(const tree_ent *a, const tree_ent *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->name, b->name, n);
	if (c)
		return c;
	unsigned ca = a->len > n ? (unsigned char)a->name[n] : a->tree ? '/' : 0;
	unsigned cb = b->len > n ? (unsigned char)b->name[n] : b->tree ? '/' : 0;
	return ca < cb ? -1 : ca > cb;
}

/* The entries of a tree object's bytes; 1 when they are not a tree as git writes them. */
static int parse_tree(tree_ent **out, size_t *n, size_t extra, const char *data, size_t len)
{
	size_t count = 0;
	for (const char *p = data, *end = data + len; p < end; count++) {
		const char *nul = memchr(p, '\0', (size_t)(end - p));
		if (!nul || end - nul < 21)
			return 1;
		p = nul + 21;
	}
	tree_ent *e = calloc(count + extra + 1, sizeof(*e));
	if (!e)
		return mreg_error_set(MREG_ERROR, "out of memory");
	size_t i = 0;
	for (const char *p = data, *end = data + len; p < end; i++) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		const char *nul = memchr(p, '\0', (size_t)(end - p));
		if (!sp || sp > nul) {
			free(e);
			return 1;
		}
		e[i].tree = (size_t)(sp - p) == 5 && !memcmp(p, "40000", 5);
		e[i].mode = p;	/* kept as it is: executables, symlinks and submodules stay what they are */
		e[i].modelen = (size_t)(sp - p);
		e[i].name = sp + 1;
		e[i].len = (size_t)(nul - sp - 1);
		memcpy(e[i].id.id, nul + 1, 20);
		p = nul + 21;
	}
	*out = e;
	*n = count;
	return 0;
}

/*
 * Put (name, tree?, id) in its place among n sorted entries, replacing one of
 * that name. The paths mreg writes are its layout's: an entry of the same
 * name but the other kind (a file, a link or a submodule a peer committed
 * where mreg keeps a directory, or the reverse) is replaced, as a checkout
 * would replace it in the work tree.
 */
static int ent_upsert(tree_ent *e, size_t *n, const tree_ent *x)
{
	size_t i = 0;
	/* an entry of the same name but the other kind sorts elsewhere: look for it by name */
	for (size_t k = 0; k < *n; k++)
		if (e[k].len == x->len && !memcmp(e[k].name, x->name, x->len) && e[k].tree != x->tree) {
			memmove(&e[k], &e[k + 1], (*n - k - 1) * sizeof(*e));
			(*n)--;
			break;
		}
	while (i < *n && ent_cmp(&e[i], x) < 0)
		i++;
	if (i < *n && !ent_cmp(&e[i], x)) {
		e[i] = *x;
		return 0;
	}
	memmove(&e[i + 1], &e[i], (*n - i) * sizeof(*e));
	e[i] = *x;
	(*n)++;
	return 0;
}

/*
 * The tree base (NULL: empty) with the n files of up set, each path relative
 * to it; the new tree and the new subtrees go to o. Paths share their
 * directories, so each directory on them is read and written once.
 */
static int build_tree(git_oid *out, mreg_objs *o, mreg_registry *reg, const git_oid *base, const mreg_tree_update *up,
		      size_t n, int depth)
{
	mreg_buf obj = MREG_BUF_INIT;
	git_object_t type;
	tree_ent *e = NULL;
	size_t ne = 0;
	mreg_buf b = MREG_BUF_INIT;
	int rc = 0;

	if (depth > MAX_DEPTH)
		return mreg_error_set(MREG_ERROR, "path too deep: '%s'", up[0].path);
	if (base) {
		if ((rc = mreg_object_read(&obj, &type, reg, base)) < 0)
			goto done;
		if (type != GIT_OBJECT_TREE) {
			rc = mreg_error_set(MREG_ECORRUPT, "corrupt tree in '%s'", reg->path);
			goto done;
		}
		rc = parse_tree(&e, &ne, n, obj.ptr, obj.size);
		if (rc == 1)
			rc = mreg_error_set(MREG_ECORRUPT, "corrupt tree in '%s'", reg->path);
	} else if (!(e = calloc(n + 1, sizeof(*e)))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	}
	if (rc < 0)
		goto done;
	bool done_up[8] = { false };
	if (n > 8) {
		rc = mreg_error_set(MREG_ERROR, "too many files in one write");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		if (done_up[i])
			continue;
		const char *path = up[i].path, *slash = strchr(path, '/');
		tree_ent x = { path, slash ? (size_t)(slash - path) : strlen(path), slash != NULL, up[i].id,
			       slash ? "40000" : "100644", slash ? 5 : 6 };
		if (!x.len || x.len > 255) {
			rc = mreg_error_set(MREG_ERROR, "invalid path '%s'", path);
			goto done;
		}
		if (slash) {
			/* every update under this directory, one level down */
			mreg_tree_update sub[8];
			size_t nsub = 0;
			for (size_t k = i; k < n; k++)
				if (!done_up[k] && !strncmp(up[k].path, path, x.len + 1)) {
					sub[nsub].path = up[k].path + x.len + 1;
					sub[nsub].id = up[k].id;
					nsub++;
					done_up[k] = true;
				}
			const git_oid *old = NULL;
			for (size_t k = 0; k < ne; k++)
				if (e[k].tree && e[k].len == x.len && !memcmp(e[k].name, x.name, x.len))
					old = &e[k].id;
			if ((rc = build_tree(&x.id, o, reg, old, sub, nsub, depth + 1)) < 0)
				goto done;
		}
		if ((rc = ent_upsert(e, &ne, &x)) < 0)
			goto done;
	}
	for (size_t i = 0; i < ne; i++) {
		mreg_buf_put(&b, e[i].mode, e[i].modelen);
		mreg_buf_put(&b, " ", 1);
		mreg_buf_put(&b, e[i].name, e[i].len);
		mreg_buf_put(&b, "", 1);
		mreg_buf_put(&b, e[i].id.id, 20);
	}
	if (mreg_buf_oom(&b)) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	size_t len = b.size;
	rc = mreg_objs_add(o, GIT_OBJECT_TREE, mreg_buf_detach(&b), len, true, out);
done:
	mreg_buf_dispose(&b);
	free(e);
	mreg_buf_dispose(&obj);
	return rc;
}

int mreg_objs_tree(git_oid *out, mreg_objs *o, mreg_registry *reg, const git_oid *base, const mreg_tree_update *up,
		   size_t n)
{
	return build_tree(out, o, reg, base, up, n, 0);
}

int mreg_objs_commit(git_oid *out, mreg_objs *o, const git_oid *tree, const git_oid *parent, const char *name,
		     const char *email, int64_t seconds, const char *message)
{
	mreg_buf b = MREG_BUF_INIT;
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), tree);
	mreg_buf_printf(&b, "tree %s\n", hex);
	if (parent) {
		git_oid_tostr(hex, sizeof(hex), parent);
		mreg_buf_printf(&b, "parent %s\n", hex);
	}
	mreg_buf_printf(&b, "author %s <%s> %lld +0000\n", name, email, (long long)seconds);
	mreg_buf_printf(&b, "committer %s <%s> %lld +0000\n\n%s", name, email, (long long)seconds, message);
	if (mreg_buf_oom(&b)) {
		mreg_buf_dispose(&b);
		return mreg_error_set(MREG_ERROR, "out of memory");
	}
	size_t len = b.size;
	return mreg_objs_add(o, GIT_OBJECT_COMMIT, mreg_buf_detach(&b), len, true, out);
}

/* ---- the pack and its index ----------------------------------------- */

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static int cmp_row(const void *a, const void *b)
{
	return memcmp(((const mreg_pack_row *)a)->id, ((const mreg_pack_row *)b)->id, 20);
}

/* The .idx (version 2) of a pack whose objects are rows, and whose checksum is sum. */
static int build_idx(mreg_buf *out, mreg_pack_row *rows, size_t n, const unsigned char sum[20])
{
	unsigned char w[8];
	qsort(rows, n, sizeof(*rows), cmp_row);
	mreg_buf_put(out, "\377tOc\0\0\0\2", 8);
	size_t k = 0;
	for (int b = 0; b < 256; b++) {
		while (k < n && rows[k].id[0] <= b)
			k++;
		put_be32(w, (uint32_t)k);
		mreg_buf_put(out, w, 4);
	}
	for (size_t i = 0; i < n; i++)
		mreg_buf_put(out, rows[i].id, 20);
	for (size_t i = 0; i < n; i++) {
		put_be32(w, rows[i].crc);
		mreg_buf_put(out, w, 4);
	}
	uint32_t large = 0;
	for (size_t i = 0; i < n; i++) {
		put_be32(w, rows[i].offset < 0x80000000u ? (uint32_t)rows[i].offset : 0x80000000u | large++);
		mreg_buf_put(out, w, 4);
	}
	for (size_t i = 0; i < n; i++)
		if (rows[i].offset >= 0x80000000u) {
			put_be32(w, (uint32_t)(rows[i].offset >> 32));
			put_be32(w + 4, (uint32_t)rows[i].offset);
			mreg_buf_put(out, w, 8);
		}
	mreg_buf_put(out, sum, 20);
	unsigned char isum[20];
	if (mreg_buf_oom(out))
		return mreg_error_set(MREG_ERROR, "out of memory");
	mreg_git_sha1(isum, out->ptr, out->size);
	mreg_buf_put(out, isum, 20);
	return mreg_buf_oom(out) ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
}

/*
 * data to a new file in dir, durable when sync, read-only as git keeps
 * packs; its name (*tmp) ends in neither .pack nor .idx, so git and
 * libgit2 pass it by, and one left by a killed writer is removed by the
 * next write. The caller renames it into place or removes it.
 */
static int put_tmp(char **tmp, const char *dir, const char *name, const mreg_buf *data, bool sync)
{
	int err = 0, fd;
	if (!(*tmp = mreg_strfmt("%s/%s.mreg-tmp%ld", dir, name, (long)getpid())))
		return mreg_error_set(MREG_ERROR, "out of memory");
	fd = open(*tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
	mreg_span all = { data->ptr, 0, data->size };
	if (fd < 0 || mreg_fs_write_spans(fd, NULL, &all, 1) < 0 || (sync && fsync(fd) < 0))
		err = errno ? errno : EIO;
	if (fd >= 0 && close(fd) < 0 && !err)
		err = errno;
	if (!err)
		return 0;
	if (fd >= 0)
		unlink(*tmp);
	free(*tmp);
	*tmp = NULL;
	return mreg_error_set(MREG_ERROR, "cannot write '%s/%s': %s", dir, name, strerror(err));
}

/* tmp renamed to path unless path exists (1: it did, tmp is removed); -1 with errno. */
static int rename_new(const char *tmp, const char *path)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EINVAL || errno == ENOSYS) {	/* a file system without it: ask, then rename */
		if (access(path, F_OK) < 0)
			return rename(tmp, path);
		errno = EEXIST;
	}
	if (errno != EEXIST)
		return -1;
	unlink(tmp);
	return 1;
}

int mreg_pack_store(mreg_registry *reg, mreg_buf *pack, mreg_pack_row *rows, size_t n, char hex[41], bool *created)
{
	mreg_buf idx = MREG_BUF_INIT;
	unsigned char sum[20];
	char *dir = NULL, *ptmp = NULL, *itmp = NULL, *ppath = NULL, *ipath = NULL, name[64];
	int rc;

	*created = false;
	put_be32((unsigned char *)pack->ptr + 8, (uint32_t)n);
	if (mreg_buf_oom(pack))
		return mreg_error_set(MREG_ERROR, "out of memory building a pack");
	mreg_git_sha1(sum, pack->ptr, pack->size);
	mreg_buf_put(pack, sum, 20);
	mreg_git_hex(hex, sum, 20);
	if ((rc = build_idx(&idx, rows, n, sum)) < 0)
		goto done;
	dir = mreg_strfmt("%sobjects/pack", reg->gitdir);
	ppath = mreg_strfmt("%sobjects/pack/pack-%s.pack", reg->gitdir, hex);
	ipath = mreg_strfmt("%sobjects/pack/pack-%s.idx", reg->gitdir, hex);
	if (!dir || !ppath || !ipath) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	/*
	 * Both files are written in full before either is named, so a full
	 * disk leaves no pack behind; then the pack is named first, as an
	 * index names only a complete pack. A pack of that name already there
	 * holds these very bytes, and is not this write's to remove.
	 */
	snprintf(name, sizeof(name), "pack-%s.pack", hex);
	if ((rc = put_tmp(&ptmp, dir, name, pack, reg->fsync)) < 0)
		goto done;
	snprintf(name, sizeof(name), "pack-%s.idx", hex);
	if ((rc = put_tmp(&itmp, dir, name, &idx, reg->fsync)) < 0)
		goto done;
	int r = rename_new(ptmp, ppath);
	if (r < 0 || (r == 0 && rename(itmp, ipath) < 0) || (r == 1 && rename_new(itmp, ipath) < 0)) {
		rc = mreg_error_set(MREG_ERROR, "cannot write '%s': %s", ppath, strerror(errno));
		if (r == 0)
			unlink(ppath);
		goto done;
	}
	free(ptmp);
	free(itmp);
	ptmp = itmp = NULL;
	*created = r == 0;
	if (reg->fsync && (rc = mreg_fs_fsync_dir(dir)) < 0)
		goto done;
done:
	if (ptmp)
		unlink(ptmp);
	if (itmp)
		unlink(itmp);
	free(ptmp);
	free(itmp);
	free(ppath);
	free(ipath);
	free(dir);
	mreg_buf_dispose(&idx);
	return rc;
}

int mreg_objs_write_pack(mreg_registry *reg, const mreg_objs *o, char hex[41], bool *created)
{
	mreg_buf pack = MREG_BUF_INIT;
	mreg_pack_row rows[sizeof(o->obj) / sizeof(o->obj[0])];
	uint64_t offsets[sizeof(o->obj) / sizeof(o->obj[0])];
	uint32_t crcs[sizeof(o->obj) / sizeof(o->obj[0])];
	int rc;

	*created = false;
	mreg_buf_put(&pack, "PACK\0\0\0\2\0\0\0\0", 12);
	if ((rc = mreg_pack_put_objects(&pack, offsets, crcs, o->obj, o->n)) == 0) {
		for (size_t i = 0; i < o->n; i++) {
			memcpy(rows[i].id, o->obj[i].id.id, 20);
			rows[i].offset = offsets[i];
			rows[i].crc = crcs[i];
		}
		rc = mreg_pack_store(reg, &pack, rows, o->n, hex, created);
	}
	mreg_buf_dispose(&pack);
	return rc;
}

/*
 * The trees and the commit of a write, built and packed by hand.
 *
 * A write adds a handful of objects: the event blob, maybe an artifact
 * blob, the trees on the paths to them and the commit. libgit2 would build
 * the trees with git_tree_create_updated, look every new object up in every
 * pack before storing it, and index the pack by inflating and hashing it all
 * again. Here each object's id is hashed once from bytes already in memory,
 * the trees are edited as bytes (only those on the changed paths are read;
 * fsstore/git/object.c knows their format), and the objects go to disk as
 * one pack with its index (fsstore/git/packw.c): durable before the branch
 * moves, the index named only after the pack it describes is complete.
 *
 * Batches (imports, migrations) have libgit2 build their trees and write
 * only the objects the repository lacks (batch_odb), then store them as
 * one pack the same way.
 */
#include "internal.h"

#include <git2/sys/odb_backend.h>

#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 8

int mreg_tree_add(mreg_tree_objs *o, git_object_t type, const void *data, size_t len, bool owned, git_oid *id_out)
{
	if (o->n == sizeof(o->obj) / sizeof(o->obj[0])) {
		if (owned)
			free((void *)data);
		return mreg_error_set(MREG_ERROR, "too many new objects in one write");
	}
	mreg_tree_obj *x = &o->obj[o->n++];
	x->type = type;
	x->data = data;
	x->len = len;
	x->owned = owned;
	mreg_git_hash(&x->id, type, data, len);
	if (id_out)
		git_oid_cpy(id_out, &x->id);
	return 0;
}

void mreg_tree_objs_dispose(mreg_tree_objs *o)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->obj[i].owned)
			free((void *)o->obj[i].data);
	o->n = 0;
}

/* ---- reading ---------------------------------------------------------- */

static int read_object(mreg_buf *out, git_object_t *type, mreg_registry *reg, const git_oid *id, bool check);

int mreg_tree_read_object(mreg_buf *out, git_object_t *type, mreg_registry *reg, const git_oid *id)
{
	return read_object(out, type, reg, id, true);
}

int mreg_tree_read_named(mreg_buf *out, git_object_t *type, mreg_registry *reg, const git_oid *id)
{
	return read_object(out, type, reg, id, false);
}

static int missing(const mreg_registry *reg, const git_oid *id)
{
	char hex[GIT_OID_HEXSZ + 1];
	return mreg_error_set(MREG_ECORRUPT, "object %s is missing from '%s'", git_oid_tostr(hex, sizeof(hex), id),
			      reg->path);
}

int mreg_tree_read_git(mreg_buf *out, git_object_t *type, mreg_registry *reg, const git_oid *id)
{
	git_odb_object *o = NULL;
	int rc = mreg_registry_need_git(reg);
	if (rc < 0)
		return rc;
	if (git_odb_read(&o, reg->odb, id) < 0) {
		git_error_clear();
		return missing(reg, id);
	}
	*type = git_odb_object_type(o);
	mreg_buf_clear(out);
	mreg_buf_put(out, git_odb_object_data(o), git_odb_object_size(o));
	git_odb_object_free(o);
	return mreg_buf_oom(out) ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
}

/* mreg's reader of reg's objects, opened when first needed. */
static int open_lodb(mreg_registry *reg)
{
	if (reg->lodb)
		return 0;
	/* a linked work tree's git directory has no objects: the common directory's (libgit2 knows it) */
	char *objdir = mreg_strfmt("%sobjects/", reg->repo ? git_repository_commondir(reg->repo) : reg->gitdir);
	int rc = objdir ? mreg_odb_open(&reg->lodb, objdir) : mreg_error_set(MREG_ERROR, "out of memory");
	free(objdir);
	return rc;
}

int mreg_tree_set_keys(mreg_registry *reg, const char *pack, int64_t *keys, size_t n)
{
	int rc = open_lodb(reg);
	if (rc < 0) {
		free(keys);
		return rc;
	}
	return mreg_odb_set_keys(reg->lodb, pack, keys, n);
}

static int read_object(mreg_buf *out, git_object_t *type, mreg_registry *reg, const git_oid *id, bool check)
{
	int (*rd)(mreg_buf *, git_object_t *, mreg_odb *, const git_oid *) = check ? mreg_odb_read : mreg_odb_read_named;
	bool opened = !reg->lodb;
	int rc = open_lodb(reg);
	if (rc == 0)
		rc = rd(out, type, reg->lodb, id);
	/* a miss in a pack list read earlier: packs written or merged since, by this process or another */
	if (rc == 1 && !opened && (rc = mreg_odb_refresh(reg->lodb)) == 0)
		rc = rd(out, type, reg->lodb, id);
	if (rc != 1)
		return rc;
	/* not in any pack or loose file: libgit2 looks too, where it may see more (alternates...) */
	return mreg_odb_unsure(reg->lodb) ? mreg_tree_read_git(out, type, reg, id) : missing(reg, id);
}

int mreg_tree_path(git_oid *out, unsigned *mode, mreg_registry *reg, const git_oid *tree, const char *path)
{
	mreg_buf b = MREG_BUF_INIT;
	git_object_t type;
	git_oid cur = *tree;
	int rc = 1;
	*mode = 040000;
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, "/");
		if (*mode != 040000) {
			rc = 1;	/* a file where the path wants a directory */
			break;
		}
		if ((rc = mreg_tree_read_object(&b, &type, reg, &cur)) < 0)
			break;
		if (type != GIT_OBJECT_TREE) {
			rc = mreg_error_set(MREG_ECORRUPT, "corrupt tree in '%s'", reg->path);
			break;
		}
		mreg_git_tree_entry te;
		if (!mreg_git_tree_find(&te, b.ptr, b.size, p, n)) {
			rc = 1;
			break;
		}
		cur = te.id;
		*mode = te.mode;
		rc = 0;
		p += n;
		while (*p == '/')
			p++;
	}
	if (rc == 0)
		*out = cur;
	mreg_buf_dispose(&b);
	return rc;
}

/* ---- what changed between two trees ----------------------------------- */

/*
 * libgit2's tree diff walks every entry of both trees, pathspec or not: at
 * a million events, 250 ms to find the one a pull brought. Here only the
 * subtrees whose ids differ are read (mreg_tree_read_object), each once: a
 * fan-out path of three small trees per changed file.
 */
typedef struct {
	mreg_registry *reg;
	mreg_tree_change_fn fn;
	void *payload;
	mreg_buf path;
} changes;

static int changes_between(changes *c, const git_oid *a, const git_oid *b);

/* What differs at c->path + the entry's name: a on the old side, b on the new (either NULL). */
static int change_at(changes *c, const mreg_git_tree_entry *a, const mreg_git_tree_entry *b)
{
	const mreg_git_tree_entry *e = b ? b : a;
	size_t at = c->path.size;
	int rc;
	if (at)
		mreg_buf_putc(&c->path, '/');
	mreg_buf_put(&c->path, e->name, e->len);
	if (mreg_buf_oom(&c->path))
		return mreg_error_set(MREG_ERROR, "out of memory");
	if (e->mode == 040000) {	/* both sides are directories, or the one there is */
		rc = changes_between(c, a ? &a->id : NULL, b ? &b->id : NULL);
	} else {
		mreg_tree_change ch = { c->path.ptr, a ? &a->id : NULL, b ? &b->id : NULL, a ? a->mode : 0, b ? b->mode : 0 };
		rc = c->fn(&ch, c->payload);
	}
	c->path.size = at;
	c->path.ptr[at] = '\0';
	return rc;
}

static int read_tree(mreg_buf *out, changes *c, const git_oid *id)
{
	git_object_t type;
	int rc = mreg_tree_read_object(out, &type, c->reg, id);
	if (rc == 0 && type != GIT_OBJECT_TREE)
		rc = mreg_error_set(MREG_ECORRUPT, "corrupt tree in '%s'", c->reg->path);
	return rc;
}

/* The entries of trees a and b (either NULL: empty) walked together in git's order. */
static int changes_between(changes *c, const git_oid *a, const git_oid *b)
{
	mreg_buf ta = MREG_BUF_INIT, tb = MREG_BUF_INIT;
	mreg_git_tree_entry xa, xb;
	int rc = 0, ha = 0, hb = 0;
	if ((a && (rc = read_tree(&ta, c, a)) < 0) || (b && (rc = read_tree(&tb, c, b)) < 0))
		goto done;
	const char *pa = ta.ptr, *ea = ta.ptr + ta.size, *pb = tb.ptr, *eb = tb.ptr + tb.size;
	ha = a ? mreg_git_tree_next(&xa, &pa, ea) : 0;
	hb = b ? mreg_git_tree_next(&xb, &pb, eb) : 0;
	while (rc == 0 && (ha > 0 || hb > 0)) {
		int cmp = ha <= 0 ? 1 : hb <= 0 ? -1 : mreg_git_tree_cmp(&xa, &xb);
		if (cmp < 0)
			rc = change_at(c, &xa, NULL);
		else if (cmp > 0)
			rc = change_at(c, NULL, &xb);
		else if (!git_oid_equal(&xa.id, &xb.id) || xa.mode != xb.mode)
			rc = change_at(c, &xa, &xb);
		if (cmp <= 0)
			ha = mreg_git_tree_next(&xa, &pa, ea);
		if (cmp >= 0)
			hb = mreg_git_tree_next(&xb, &pb, eb);
	}
	if (rc == 0 && (ha < 0 || hb < 0))
		rc = mreg_error_set(MREG_ECORRUPT, "corrupt tree in '%s'", c->reg->path);
done:
	mreg_buf_dispose(&ta);
	mreg_buf_dispose(&tb);
	return rc;
}

int mreg_tree_changes(mreg_registry *reg, const git_oid *a, const git_oid *b, const char *dir, mreg_tree_change_fn fn,
		      void *payload)
{
	git_oid ia, ib;
	unsigned ma = 0, mb = 0;
	int ra = mreg_tree_path(&ia, &ma, reg, a, dir), rb = ra < 0 ? ra : mreg_tree_path(&ib, &mb, reg, b, dir);
	if (ra < 0 || rb < 0)
		return ra < 0 ? ra : rb;
	if (ra == 0 && rb == 0 && ma == mb && git_oid_equal(&ia, &ib))
		return 0;
	changes c = { reg, fn, payload, MREG_BUF_INIT };
	int rc = 0;
	mreg_buf_puts(&c.path, dir);
	if (mreg_buf_oom(&c.path))
		return mreg_error_set(MREG_ERROR, "out of memory");
	bool da = ra == 0 && ma == 040000, db = rb == 0 && mb == 040000;
	if (da || db)
		rc = changes_between(&c, da ? &ia : NULL, db ? &ib : NULL);
	/* dir itself a file (or link) on a side: that entry changed too */
	if (rc == 0 && ((ra == 0 && !da) || (rb == 0 && !db))) {
		mreg_tree_change ch = { dir, ra == 0 && !da ? &ia : NULL, rb == 0 && !db ? &ib : NULL, da ? 0 : ma, db ? 0 : mb };
		rc = fn(&ch, payload);
	}
	mreg_buf_dispose(&c.path);
	return rc;
}

/* ---- a write's trees and commit --------------------------------------- */

/*
 * The tree base (NULL: empty) with the n files of up set, each path relative
 * to it; the new tree and the new subtrees go to o. Paths share their
 * directories, so each directory on them is read and written once. The
 * paths mreg writes are its layout's: an entry of the same name but the
 * other kind (a file, a link or a submodule a peer committed where mreg
 * keeps a directory, or the reverse) is replaced, as a checkout would
 * replace it in the work tree.
 */
static int build_tree(git_oid *out, mreg_tree_objs *o, mreg_registry *reg, const git_oid *base,
		      const mreg_tree_update *up, size_t n, int depth)
{
	mreg_buf obj = MREG_BUF_INIT;
	git_object_t type;
	mreg_git_tree_entry *e = NULL;
	size_t ne = 0;
	mreg_buf b = MREG_BUF_INIT;
	int rc = 0;

	if (depth > MAX_DEPTH)
		return mreg_error_set(MREG_ERROR, "path too deep: '%s'", up[0].path);
	if (n > 8)
		return mreg_error_set(MREG_ERROR, "too many files in one write");
	if (base) {
		if ((rc = mreg_tree_read_object(&obj, &type, reg, base)) < 0)
			goto done;
		rc = type != GIT_OBJECT_TREE ? MREG_GIT_UNSURE : mreg_git_tree_parse(&e, &ne, n, obj.ptr, obj.size);
		if (rc == MREG_GIT_UNSURE)
			rc = mreg_error_set(MREG_ECORRUPT, "corrupt tree in '%s'", reg->path);
	} else if (!(e = calloc(n + 1, sizeof(*e)))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	}
	if (rc < 0)
		goto done;
	bool done_up[8] = { false };
	for (size_t i = 0; i < n; i++) {
		if (done_up[i])
			continue;
		const char *path = up[i].path, *slash = strchr(path, '/');
		mreg_git_tree_entry x;
		mreg_git_tree_entry_init(&x, path, slash ? (size_t)(slash - path) : strlen(path), slash != NULL, &up[i].id);
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
				if (e[k].mode == 040000 && e[k].len == x.len && !memcmp(e[k].name, x.name, x.len))
					old = &e[k].id;
			if ((rc = build_tree(&x.id, o, reg, old, sub, nsub, depth + 1)) < 0)
				goto done;
		}
		mreg_git_tree_set(e, &ne, &x);
	}
	if ((rc = mreg_git_tree_write(&b, e, ne)) < 0)
		goto done;
	size_t len = b.size;
	rc = mreg_tree_add(o, GIT_OBJECT_TREE, mreg_buf_detach(&b), len, true, out);
done:
	mreg_buf_dispose(&b);
	free(e);
	mreg_buf_dispose(&obj);
	return rc;
}

int mreg_tree_build(git_oid *out, mreg_tree_objs *o, mreg_registry *reg, const git_oid *base,
		    const mreg_tree_update *up, size_t n)
{
	return build_tree(out, o, reg, base, up, n, 0);
}

int mreg_tree_commit(git_oid *out, mreg_tree_objs *o, const git_oid *tree, const git_oid *parent, const char *name,
		     const char *email, int64_t seconds, const char *message, const mreg_signing *sign)
{
	mreg_buf b = MREG_BUF_INIT, signed_ = MREG_BUF_INIT;
	int rc = mreg_git_commit_write(&b, tree, parent, name, email, seconds, message);
	if (rc == 0 && sign && (rc = mreg_sign_commit(&signed_, sign, b.ptr, b.size)) == 0) {
		mreg_buf_dispose(&b);
		b = signed_;
		mreg_buf_init(&signed_, 0);
	}
	mreg_buf_dispose(&signed_);
	if (rc < 0) {
		mreg_buf_dispose(&b);
		return rc;
	}
	size_t len = b.size;
	return mreg_tree_add(o, GIT_OBJECT_COMMIT, mreg_buf_detach(&b), len, true, out);
}

/* objs as one pack in objects/pack: the packs mreg writes all go through here. */
static int write_pack(mreg_registry *reg, const mreg_tree_obj *objs, size_t n, char hex[41], bool *created)
{
	mreg_git_packw w;
	char *dir = mreg_strfmt("%sobjects/pack", reg->gitdir);
	int rc = dir ? 0 : mreg_error_set(MREG_ERROR, "out of memory");
	*created = false;
	mreg_git_packw_init(&w, true, NULL);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = mreg_git_packw_add(&w, &objs[i].id, objs[i].type, objs[i].data, objs[i].len);
	if (rc == 0)
		rc = mreg_git_packw_store(&w, dir, reg->fsync, hex, created);
	mreg_git_packw_dispose(&w);
	free(dir);
	return rc;
}

int mreg_tree_write_pack(mreg_registry *reg, const mreg_tree_objs *o, char hex[41], bool *created)
{
	return write_pack(reg, o->obj, o->n, hex, created);
}

/* ---- a batch's trees and commit, by libgit2 --------------------------- */

/*
 * A batch's new objects. libgit2 builds the batch's trees
 * (git_tree_create_updated from HEAD's tree) and its commit, and writes an
 * object only when no backend of the object database has it; this backend,
 * first in line, is where those writes land. So it ends up holding exactly
 * the new objects: the new blobs, the trees on the changed paths, the
 * commit, which go to disk as one pack written as a single write's is
 * (write_pack). It lives as long as the registry (libgit2 cannot drop
 * a backend) and is emptied after each batch.
 */
typedef struct {
	git_odb_backend parent;
	mreg_tree_obj *obj;
	size_t n, cap;
	mreg_git_oidset ids;
} batch_odb;

static const mreg_tree_obj *batch_find(batch_odb *b, const git_oid *id)
{
	if (!mreg_git_oidset_has(&b->ids, id->id))
		return NULL;
	for (size_t i = 0; i < b->n; i++)
		if (git_oid_equal(&b->obj[i].id, id))
			return &b->obj[i];
	return NULL;
}

static int batch_write(git_odb_backend *be, const git_oid *id, const void *data, size_t len, git_object_t type)
{
	batch_odb *b = (batch_odb *)be;
	if (mreg_git_oidset_has(&b->ids, id->id))
		return 0;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		mreg_tree_obj *more = realloc(b->obj, cap * sizeof(*more));
		if (!more)
			return GIT_ERROR;
		b->obj = more;
		b->cap = cap;
	}
	void *copy = malloc(len ? len : 1);
	if (!copy || mreg_git_oidset_add(&b->ids, id->id) < 0) {
		free(copy);
		return GIT_ERROR;
	}
	memcpy(copy, data, len);
	b->obj[b->n++] = (mreg_tree_obj){ type, *id, copy, len, true };
	return 0;
}

static int batch_read(void **out, size_t *len, git_object_t *type, git_odb_backend *be, const git_oid *id)
{
	const mreg_tree_obj *o = batch_find((batch_odb *)be, id);
	if (!o)
		return GIT_ENOTFOUND;
	if (!(*out = git_odb_backend_data_alloc(be, o->len ? o->len : 1)))
		return GIT_ERROR;
	memcpy(*out, o->data, o->len);
	*len = o->len;
	*type = o->type;
	return 0;
}

static int batch_read_header(size_t *len, git_object_t *type, git_odb_backend *be, const git_oid *id)
{
	const mreg_tree_obj *o = batch_find((batch_odb *)be, id);
	if (!o)
		return GIT_ENOTFOUND;
	*len = o->len;
	*type = o->type;
	return 0;
}

static int batch_exists(git_odb_backend *be, const git_oid *id)
{
	return mreg_git_oidset_has(&((batch_odb *)be)->ids, id->id);
}

static void batch_reset(batch_odb *b)
{
	for (size_t i = 0; i < b->n; i++)
		free((void *)b->obj[i].data);
	b->n = 0;
	free(b->ids.slot);
	b->ids = (mreg_git_oidset){ NULL, 0, 0 };
}

static void batch_free(git_odb_backend *be)
{
	batch_odb *b = (batch_odb *)be;
	batch_reset(b);
	free(b->obj);
	free(b);
}

/* reg->mempack: the registry's batch backend, made and added on first use */
static int batch_backend(batch_odb **out, mreg_registry *reg)
{
	if (!reg->mempack) {
		batch_odb *b = calloc(1, sizeof(*b));
		if (!b || git_odb_init_backend(&b->parent, GIT_ODB_BACKEND_VERSION) < 0) {
			free(b);
			return mreg_error_set(MREG_ERROR, "out of memory");
		}
		b->parent.read = batch_read;
		b->parent.read_header = batch_read_header;
		b->parent.write = batch_write;
		b->parent.exists = batch_exists;
		b->parent.free = batch_free;
		if (git_odb_add_backend(reg->odb, &b->parent, 1000) < 0) {
			batch_free(&b->parent);
			return mreg_libgit2_error("cannot prepare object writing in", reg->path);
		}
		reg->mempack = &b->parent;
	}
	*out = (batch_odb *)reg->mempack;
	return 0;
}

int mreg_tree_batch_start(mreg_registry *reg)
{
	batch_odb *batch = NULL;
	int rc;
	if ((rc = mreg_registry_need_git(reg)) < 0 || (rc = batch_backend(&batch, reg)) < 0)
		return rc;
	batch_reset(batch);
	return 0;
}

int mreg_tree_batch_build(git_oid *tree, git_oid *commit, mreg_registry *reg, const git_oid *head,
			  const git_oid *base_tree, const mreg_addfile *files, size_t n, const char *name,
			  const char *email, int64_t seconds, const char *msg)
{
	git_tree *base = NULL, *t = NULL;
	git_commit *parent = NULL;
	git_signature *sig = NULL;
	git_tree_update *up = NULL;
	batch_odb *batch = NULL;
	int rc;

	if ((rc = mreg_registry_need_git(reg)) < 0 || (rc = batch_backend(&batch, reg)) < 0)
		return rc;
	batch_reset(batch);
	if (!(up = calloc(n ? n : 1, sizeof(*up)))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	if (git_tree_lookup(&base, reg->repo, base_tree) < 0 || git_commit_lookup(&parent, reg->repo, head) < 0) {
		rc = mreg_libgit2_error("cannot read HEAD of", reg->path);
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		up[i].action = GIT_TREE_UPDATE_UPSERT;
		up[i].filemode = GIT_FILEMODE_BLOB;
		up[i].path = files[i].path;
		if (git_blob_create_from_buffer(&up[i].id, reg->repo, files[i].data, files[i].len) < 0) {
			rc = mreg_libgit2_error("cannot store a file in", reg->path);
			goto done;
		}
	}
	if (git_tree_create_updated(tree, reg->repo, base, n, up) < 0 || git_tree_lookup(&t, reg->repo, tree) < 0) {
		rc = mreg_libgit2_error("cannot build the tree in", reg->path);
		goto done;
	}
	if (git_signature_new(&sig, name, email, (git_time_t)seconds, 0) < 0) {
		rc = mreg_libgit2_error("cannot make a signature for", reg->actor);
		goto done;
	}
	const git_commit *parents[1] = { parent };
	if (git_commit_create(commit, reg->repo, NULL, sig, sig, NULL, msg, t, 1, parents) < 0) {
		rc = mreg_libgit2_error("cannot create a commit in", reg->path);
		goto done;
	}
	rc = 0;
done:
	if (rc < 0)
		batch_reset(batch);
	git_signature_free(sig);
	git_tree_free(t);
	git_tree_free(base);
	git_commit_free(parent);
	free(up);
	return rc;
}

int mreg_tree_batch_write_pack(mreg_registry *reg, char hex[41], bool *created)
{
	batch_odb *b = (batch_odb *)reg->mempack;
	int rc = write_pack(reg, b->obj, b->n, hex, created);
	batch_reset(b);
	return rc;
}

/*
 * The commit: the moment of truth of every write (DESIGN section 4, step 4).
 *
 * A write's new objects (event blob, artifact blob, trees, commit) are
 * built and hashed in objects.c and reach disk as one pack with its index,
 * both fsynced when durability is on. Then the branch moves with
 * compare-and-swap, the way git moves it (update_branch). A crash before the
 * ref update leaves only an unreferenced pack; after it, the event is
 * durable and whatever lags (work tree, index, state files) is repaired by
 * the next command. Batches (imports, migrations) have libgit2 build their
 * trees and write only the objects the repository lacks (batch_odb), then
 * store them the same way.
 *
 * A write refused before its branch moves (the branch moved meanwhile, a
 * lock file held past mreg.lockTimeout, a full disk) removes the pack it
 * made; a pack file is only named once both it and its index are written
 * whole, so a full disk leaves none. What a killed writer left (temporary
 * files, a killed gc's pack) the next write removes (sweep_pack_tmp); an
 * unreferenced pack a writer killed at the wrong moment leaves is garbage
 * for `mreg gc`, which removes it past the grace period.
 *
 * One pack per write would pile up, so packs are merged geometrically: when
 * there are more than MAX_PACKS, every pack but the largest is merged, and
 * the largest joins once the rest outgrow half of it. Each object is thus
 * rewritten O(log n) times in all.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <git2/sys/odb_backend.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define MAX_PACKS 8

typedef struct {
	char name[64];		/* pack-<sha>, without extension */
	off_t size;
} pack_file;

static int cmp_size_asc(const void *a, const void *b)
{
	const pack_file *x = a, *y = b;
	return x->size < y->size ? -1 : x->size > y->size ? 1 : strcmp(x->name, y->name);
}

typedef struct {
	uint64_t offset;
	const unsigned char *oid;	/* 20 bytes inside the index */
	uint32_t crc;			/* of the entry, from the index */
} idx_entry;

static int cmp_offset(const void *a, const void *b)
{
	const idx_entry *x = a, *y = b;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Append the object entries of one pack to out, as they are (no inflate,
 * no deflate), and a row each (id, offset, CRC from the pack's index) to
 * rows, skipping objects already copied from another pack. Only packs
 * whose entries do not point into the pack by offset can be copied this way;
 * a pack with OFS_DELTA entries is left alone (1), decided before anything
 * is copied or marked as seen.
 */
static int copy_entries(mreg_buf *out, mreg_buf *rows, mreg_oid_set *seen, const char *dir, const char *name)
{
	mreg_buf idx = MREG_BUF_INIT, pack = MREG_BUF_INIT;
	idx_entry *ents = NULL;
	char *ip = mreg_strfmt("%s/%s.idx", dir, name), *pp = mreg_strfmt("%s/%s.pack", dir, name);
	int rc;

	if (!ip || !pp) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	if ((rc = mreg_fs_read(&idx, ip, 0)) < 0 || (rc = mreg_fs_read(&pack, pp, 0)) < 0) {
		if (rc == MREG_ENOTFOUND) {	/* gone meanwhile (a git gc): nothing to copy */
			mreg_error_clear();
			rc = 1;
		}
		goto done;
	}
	const unsigned char *p = (const unsigned char *)idx.ptr;
	if (idx.size < 8 + 1024 || memcmp(p, "\377tOc\0\0\0\2", 8) || pack.size < 32) {
		rc = 1;
		goto done;
	}
	size_t n = be32(p + 8 + 255 * 4);
	size_t off32 = 8 + 1024 + n * 20 + n * 4;
	if (idx.size < off32 + n * 4 + 40 || be32((const unsigned char *)pack.ptr + 8) != n) {
		rc = 1;
		goto done;
	}
	if (!(ents = calloc(n ? n : 1, sizeof(*ents)))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t o = be32(p + off32 + i * 4);
		if (o & 0x80000000u) {	/* a 64-bit offset: a pack far larger than ours */
			rc = 1;
			goto done;
		}
		ents[i].offset = o;
		ents[i].oid = p + 8 + 1024 + i * 20;
		ents[i].crc = be32(p + 8 + 1024 + n * 20 + i * 4);
	}
	qsort(ents, n, sizeof(*ents), cmp_offset);
	for (size_t i = 0; i < n; i++) {
		uint64_t start = ents[i].offset, end = i + 1 < n ? ents[i + 1].offset : pack.size - 20;
		if (start < 12 || end > pack.size - 20 || end <= start) {
			rc = 1;
			goto done;
		}
		unsigned type = ((unsigned char)pack.ptr[start] >> 4) & 7;
		if (type == 6) {	/* OFS_DELTA */
			rc = 1;
			goto done;
		}
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t start = ents[i].offset, end = i + 1 < n ? ents[i + 1].offset : pack.size - 20;
		int added = mreg_oid_set_add(seen, ents[i].oid);
		if (added < 0) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
			goto done;
		}
		if (!added)
			continue;	/* the same object from another pack */
		mreg_pack_row row;
		memcpy(row.id, ents[i].oid, 20);
		row.offset = out->size;
		row.crc = ents[i].crc;	/* the entry's bytes are copied as they are */
		mreg_buf_put(rows, &row, sizeof(row));
		mreg_buf_put(out, pack.ptr + start, end - start);
	}
	rc = mreg_buf_oom(out) || mreg_buf_oom(rows) ? mreg_error_set(MREG_ERROR, "out of memory merging packs") : 0;
done:
	free(ents);
	free(ip);
	free(pp);
	mreg_buf_dispose(&idx);
	mreg_buf_dispose(&pack);
	return rc;
}

/*
 * git's multi-pack-index (and its bitmap) names packs by name; once mreg
 * removes packs it is stale, and git reads packs through their own .idx
 * files without it. `git repack --write-midx` makes a new one.
 */
static bool is_midx(const char *name)
{
	return !strncmp(name, "multi-pack-index", 16);
}

static bool any_name(const char *name)
{
	(void)name;
	return true;
}

static void remove_midx(const char *dir)
{
	mreg_fs_unlink_where(dir, is_midx);
}

/*
 * What a dead writer left, removed by the next one (it holds the writer
 * lock, so no mreg is writing): temporary files of mreg's own (*.mreg-tmp*,
 * in objects/pack and wherever mreg writes), and the directory where
 * `mreg gc` has libgit2 write its pack (MREG_PACK_TMP), which only mreg
 * writes to and only under the lock. libgit2's temporary packs in
 * objects/pack (pack_git2_*: an older mreg gc, a backup restore, any
 * libgit2 program fetching) may be another live process's, so they go only
 * once an hour has passed without a write to them; git itself never
 * removes them, and `git gc` warns about them.
 */
#define MREG_PACK_TMP "mreg/pack-tmp"
#define LIBGIT2_TMP_AGE (60 * 60)

static void sweep_pack_tmp(mreg_registry *reg)
{
	char *dir = mreg_strfmt("%s" MREG_PACK_TMP, reg->gitdir);
	if (dir && rmdir(dir) < 0 && errno != ENOENT) {	/* usually not there: one system call */
		mreg_fs_unlink_where(dir, any_name);
		rmdir(dir);
	}
	free(dir);
}

static bool stale_libgit2_tmp(const char *dir, const char *name)
{
	struct stat sb;
	if (strncmp(name, "pack_git2_", 10))
		return false;
	char *path = mreg_strfmt("%s/%s", dir, name);
	bool stale = path && lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
		     (int64_t)sb.st_mtime < mreg_fs_now_usec() / 1000000 - LIBGIT2_TMP_AGE;
	free(path);
	return stale;
}

/*
 * Keep the number of packs small. Every write adds one small pack; once
 * there are more than MAX_PACKS, the small ones are merged geometrically (as
 * `git repack --geometric=2` does) by copying their entries into one new
 * pack, with its index written from the old indexes' ids and CRCs: no
 * compression and no hashing of objects. Deltas, which make the history
 * small, are left to `git gc`. Runs under the writer lock after the commit;
 * the merged pack is durable before the old ones are removed, so a crash
 * loses nothing.
 */
static int maybe_repack(mreg_registry *reg)
{
	char *dir = mreg_strfmt("%sobjects/pack", reg->gitdir);
	DIR *d = dir ? opendir(dir) : NULL;
	pack_file *packs = NULL;
	size_t n = 0, a = 0;
	mreg_buf out = MREG_BUF_INIT;
	unsigned char *merged = NULL;
	char **names = NULL;
	size_t nnames = 0;
	bool midx = false;
	struct dirent *de;
	int rc = 0;

	if (!d)
		goto done;
	/* the directory's names first: a pack counts only with its .idx, and not when git keeps it */
	sweep_pack_tmp(reg);
	while ((de = readdir(d))) {
		if (strstr(de->d_name, ".mreg-tmp") || stale_libgit2_tmp(dir, de->d_name)) {
			char *tmp = mreg_strfmt("%s/%s", dir, de->d_name);
			if (tmp)
				unlink(tmp);
			free(tmp);
			continue;
		}
		if (!strncmp(de->d_name, "multi-pack-index", 16))
			midx = true;
		if (strncmp(de->d_name, "pack-", 5))
			continue;
		char *name = mreg_strdup(de->d_name);
		char **more = name ? realloc(names, (nnames + 1) * sizeof(*names)) : NULL;
		if (!more) {
			free(name);
			goto done;
		}
		names = more;
		names[nnames++] = name;
	}
	closedir(d);
	d = NULL;
	for (size_t i = 0; i < nnames; i++) {
		size_t len = strlen(names[i]);
		if (len < 6 || len >= 64 || strcmp(names[i] + len - 5, ".pack"))
			continue;
		bool idx = false, kept = false;
		for (size_t k = 0; k < nnames; k++) {
			size_t kl = strlen(names[k]);
			if (kl <= len - 5 || strncmp(names[k], names[i], len - 5) || names[k][len - 5] != '.')
				continue;
			const char *ext = names[k] + len - 5;
			idx |= !strcmp(ext, ".idx");
			kept |= !strcmp(ext, ".keep") || !strcmp(ext, ".promisor");
		}
		if (!idx || kept)
			continue;	/* being written by git, or left by a crash; or kept on purpose */
		if (n == a) {
			a = a ? a * 2 : 16;
			pack_file *p = realloc(packs, a * sizeof(*p));
			if (!p)
				goto done;
			packs = p;
		}
		struct stat sb;
		char *full = mreg_strfmt("%s/%s", dir, names[i]);
		if (!full || stat(full, &sb) < 0) {
			free(full);
			continue;
		}
		free(full);
		memcpy(packs[n].name, names[i], len - 5);
		packs[n].name[len - 5] = '\0';
		packs[n].size = sb.st_size;
		n++;
	}
	if (n <= MAX_PACKS)
		goto done;
	/*
	 * Smallest first; merge packs 0..i for the largest i whose pack is not
	 * at least twice all smaller ones together. What stays is a geometric
	 * progression, so each object is copied O(log n) times in all.
	 */
	qsort(packs, n, sizeof(*packs), cmp_size_asc);
	size_t last = 1;
	off_t smaller = packs[0].size;
	for (size_t i = 1; i < n; i++) {
		if (packs[i].size < 2 * smaller)
			last = i;
		smaller += packs[i].size;
	}
	n = last + 1;
	if (!(merged = calloc(n, 1)))
		goto done;
	mreg_buf rows = MREG_BUF_INIT;
	mreg_oid_set seen = { NULL, 0, 0 };
	mreg_buf_put(&out, "PACK\0\0\0\2\0\0\0\0", 12);
	size_t nmerged = 0;
	for (size_t i = 0; i < n; i++) {
		size_t mark = out.size, rmark = rows.size;
		rc = copy_entries(&out, &rows, &seen, dir, packs[i].name);
		if (rc < 0) {
			free(seen.slot);
			mreg_buf_dispose(&rows);
			goto done;
		}
		if (rc == 1) {	/* not copyable (checked before any copy): keep it as it is */
			mreg_buf_truncate(&out, mark);
			mreg_buf_truncate(&rows, rmark);
			rc = 0;
			continue;
		}
		merged[i] = 1;
		nmerged++;
	}
	free(seen.slot);
	char keep[41];
	bool created;
	if (nmerged >= 2)
		rc = mreg_pack_store(reg, &out, (mreg_pack_row *)(void *)rows.ptr, rows.size / sizeof(mreg_pack_row), keep,
				     &created);
	mreg_buf_dispose(&rows);
	if (nmerged < 2 || rc < 0)
		goto done;
	for (size_t i = 0; i < n; i++) {
		if (!merged[i] || !strcmp(packs[i].name + 5, keep))
			continue;
		static const char *const ext[] = { ".idx", ".pack", ".rev" };
		/* the index goes first: a pack without one is ignored, never half-read */
		for (size_t e = 0; e < 3; e++) {
			char *f = mreg_strfmt("%s/%s%s", dir, packs[i].name, ext[e]);
			if (f)
				unlink(f);
			free(f);
		}
	}
	if (midx)
		remove_midx(dir);
done:
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	if (d)
		closedir(d);
	mreg_buf_dispose(&out);
	free(merged);
	free(packs);
	free(dir);
	return rc;
}

/*
 * A batch's new objects. libgit2 builds the batch's trees
 * (git_tree_create_updated from HEAD's tree) and its commit, and writes an
 * object only when no backend of the object database has it; this backend,
 * first in line, is where those writes land. So it ends up holding exactly
 * the new objects: the new blobs, the trees on the changed paths, the
 * commit, which go to disk as one pack written as a single write's is
 * (mreg_pack_store). It lives as long as the registry (libgit2 cannot drop
 * a backend) and is emptied after each batch.
 */
typedef struct {
	git_odb_backend parent;
	mreg_obj *obj;
	size_t n, cap;
	mreg_oid_set ids;
} batch_odb;

static const mreg_obj *batch_find(batch_odb *b, const git_oid *id)
{
	if (!mreg_oid_set_has(&b->ids, id->id))
		return NULL;
	for (size_t i = 0; i < b->n; i++)
		if (git_oid_equal(&b->obj[i].id, id))
			return &b->obj[i];
	return NULL;
}

static int batch_write(git_odb_backend *be, const git_oid *id, const void *data, size_t len, git_object_t type)
{
	batch_odb *b = (batch_odb *)be;
	if (mreg_oid_set_has(&b->ids, id->id))
		return 0;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		mreg_obj *more = realloc(b->obj, cap * sizeof(*more));
		if (!more)
			return GIT_ERROR;
		b->obj = more;
		b->cap = cap;
	}
	void *copy = malloc(len ? len : 1);
	if (!copy || mreg_oid_set_add(&b->ids, id->id) < 0) {
		free(copy);
		return GIT_ERROR;
	}
	memcpy(copy, data, len);
	b->obj[b->n++] = (mreg_obj){ type, *id, copy, len, true };
	return 0;
}

static int batch_read(void **out, size_t *len, git_object_t *type, git_odb_backend *be, const git_oid *id)
{
	const mreg_obj *o = batch_find((batch_odb *)be, id);
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
	const mreg_obj *o = batch_find((batch_odb *)be, id);
	if (!o)
		return GIT_ENOTFOUND;
	*len = o->len;
	*type = o->type;
	return 0;
}

static int batch_exists(git_odb_backend *be, const git_oid *id)
{
	return mreg_oid_set_has(&((batch_odb *)be)->ids, id->id);
}

static void batch_reset(batch_odb *b)
{
	for (size_t i = 0; i < b->n; i++)
		free((void *)b->obj[i].data);
	b->n = 0;
	free(b->ids.slot);
	b->ids = (mreg_oid_set){ NULL, 0, 0 };
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
			return mreg_git_error("cannot prepare object writing in", reg->path);
		}
		reg->mempack = &b->parent;
	}
	*out = (batch_odb *)reg->mempack;
	return 0;
}

/* The batch's objects as one pack in objects/pack (mreg_pack_store). */
static int batch_write_pack(mreg_registry *reg, batch_odb *b, char hex[41], bool *created)
{
	mreg_buf pack = MREG_BUF_INIT;
	uint64_t *offsets = calloc(b->n + 1, sizeof(*offsets));
	uint32_t *crcs = calloc(b->n + 1, sizeof(*crcs));
	mreg_pack_row *rows = calloc(b->n + 1, sizeof(*rows));
	int rc;

	*created = false;
	if (!offsets || !crcs || !rows) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	mreg_buf_put(&pack, "PACK\0\0\0\2\0\0\0\0", 12);
	if ((rc = mreg_pack_put_objects(&pack, offsets, crcs, b->obj, b->n)) < 0)
		goto done;
	for (size_t i = 0; i < b->n; i++) {
		memcpy(rows[i].id, b->obj[i].id.id, 20);
		rows[i].offset = offsets[i];
		rows[i].crc = crcs[i];
	}
	rc = mreg_pack_store(reg, &pack, rows, b->n, hex, created);
done:
	mreg_buf_dispose(&pack);
	free(offsets);
	free(crcs);
	free(rows);
	return rc;
}

/* Who a commit and a reflog line name: the actor, as libgit2's signature would have it. */
typedef struct {
	char *name, *email;
	int64_t time;
} signature;

static void signature_dispose(signature *s)
{
	free(s->name);
	free(s->email);
	s->name = s->email = NULL;
}

/* What libgit2 trims from the ends of a name or an address. */
static bool is_crud(unsigned char c)
{
	return c <= 32 || strchr(".,:;<>\"\\'", c);
}

/* Nothing that libgit2 would trim or refuse: the signature is the actor as it is. */
static bool plain_ident(const char *s)
{
	size_t n = strlen(s);
	return n && !is_crud((unsigned char)s[0]) && !is_crud((unsigned char)s[n - 1]) && !strpbrk(s, "<>");
}

static int make_signature(signature *out, mreg_registry *reg, const char *time)
{
	out->name = out->email = NULL;
	/* a commit header holds the actor on one line, between no angle brackets: anything else breaks the commit */
	for (const unsigned char *p = (const unsigned char *)reg->actor; *p; p++)
		if (*p < ' ' || *p == 0x7f || *p == '<' || *p == '>') {
			char shown[80];
			size_t k = 0;
			for (const unsigned char *q = (const unsigned char *)reg->actor; *q && k < sizeof(shown) - 1; q++)
				shown[k++] = *q < ' ' || *q == 0x7f ? '?' : (char)*q;
			shown[k] = '\0';
			return mreg_error_set(MREG_EINVALID,
					      "invalid actor '%s': no control characters, '<' or '>' (see git config mreg.actor)",
					      shown);
		}
	int64_t usec = 0;
	mreg_time_parse(&usec, time);
	const char *at = strchr(reg->actor, '@');
	char *email = at ? mreg_strdup(reg->actor) : mreg_strfmt("%s@mreg", reg->actor);
	out->time = usec / 1000000;
	out->name = out->email = NULL;
	if (!email)
		return mreg_error_set(MREG_ERROR, "out of memory");
	if (plain_ident(reg->actor) && plain_ident(email)) {
		out->name = mreg_strdup(reg->actor);
		out->email = email;
		return out->name ? 0 : mreg_error_set(MREG_ERROR, "out of memory");
	}
	/* anything else: libgit2 trims it, or refuses it, its own way */
	git_signature *sig = NULL;
	int rc = mreg_registry_need_git(reg);
	if (rc == 0 && git_signature_new(&sig, reg->actor, email, (git_time_t)out->time, 0) < 0)
		rc = mreg_git_error("cannot make a signature for", reg->actor);
	free(email);
	if (rc < 0)
		return rc;
	out->name = mreg_strdup(sig->name);
	out->email = mreg_strdup(sig->email);
	git_signature_free(sig);
	if (!out->name || !out->email) {
		signature_dispose(out);
		return mreg_error_set(MREG_ERROR, "out of memory");
	}
	return 0;
}

/* The branch's value now: loose file, else packed-refs; zero when it has none. 1: unreadable. */
static int read_branch(git_oid *out, mreg_registry *reg, const char *branch)
{
	mreg_buf b = MREG_BUF_INIT;
	char *path = mreg_strfmt("%s%s", reg->gitdir, branch);
	int rc = 1;
	memset(out, 0, sizeof(*out));
	int err = path ? mreg_fs_read(&b, path, 256) : MREG_ERROR;
	if (err == 0) {
		if (b.size >= 40 && git_oid_fromstrn(out, b.ptr, 40) == 0 && (b.size == 40 || b.ptr[40] == '\n'))
			rc = 0;
	} else if (err == MREG_ENOTFOUND) {
		/* no loose file and no packed line: the branch is unborn */
		const char *hex = mreg_packed_ref(&b, reg->gitdir, branch, strlen(branch));
		rc = !hex ? 0 : git_oid_fromstrn(out, hex, 40) == 0 ? 0 : 1;
	}
	mreg_error_clear();
	mreg_buf_dispose(&b);
	free(path);
	return rc;
}

/* Append one line to the reflog at logs/<name>, as git writes them (a mirror: not synced). */
static void append_reflog(mreg_registry *reg, const char *name, const git_oid *from, const git_oid *to,
			  const signature *who, const char *msg)
{
	char a[GIT_OID_HEXSZ + 1], b[GIT_OID_HEXSZ + 1];
	git_oid_tostr(a, sizeof(a), from);
	git_oid_tostr(b, sizeof(b), to);
	char *path = mreg_strfmt("%slogs/%s", reg->gitdir, name);
	char *line = mreg_strfmt("%s %s %s <%s> %lld +0000\t%s\n", a, b, who->name, who->email,
				 (long long)who->time, msg);
	if (path && line) {
		for (char *p = strchr(line, '\t'); p && p[1]; p++)
			if (*p == '\n')
				*p = ' ';	/* one line, whatever the message holds */
		int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0 && errno == ENOENT && mreg_fs_mkparents(path) == 0)
			fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0) {
			ssize_t w = write(fd, line, strlen(line));
			(void)w;	/* a reflog line lost is a reflog line lost: the ref is what counts */
			close(fd);
		}
	}
	mreg_error_clear();
	free(path);
	free(line);
}

/*
 * Move the branch to `to` as git does it: take <ref>.lock exclusively
 * (waiting while a git command holds it: mreg_lockfile_create), check
 * the branch still holds `expect` (compare-and-swap; NULL: any value),
 * write the lock, make it durable, log the move in the branch's reflog and
 * HEAD's, rename the lock over the ref and make the directory durable. This
 * is the moment of truth of a write. The reflog names the actor. *moved_out
 * says whether the rename happened, whatever else failed.
 */
static int update_branch(bool *moved_out, mreg_registry *reg, const char *branch, const git_oid *to,
			 const git_oid *expect, const signature *who, const char *msg, const char *moved)
{
	git_oid cur;
	char *path = mreg_strfmt("%s%s", reg->gitdir, branch), *lock = mreg_strfmt("%s%s.lock", reg->gitdir, branch);
	char hex[GIT_OID_HEXSZ + 2];
	int rc = 0, fd = -1;

	*moved_out = false;
	if (!path || !lock) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	if ((rc = mreg_lockfile_create(&fd, reg, branch)) < 0)
		goto done;
	if (read_branch(&cur, reg, branch) != 0) {
		rc = mreg_error_set(MREG_ECORRUPT, "cannot move the branch of '%s': '%s' does not hold a commit id",
				    reg->path, branch);
		goto fail;
	}
	if (expect && !git_oid_equal(&cur, expect)) {
		rc = mreg_error_set(MREG_ECONFLICT, "branch '%s' of '%s' %s", branch, reg->path, moved);
		goto fail;
	}
	git_oid_tostr(hex, GIT_OID_HEXSZ + 1, to);
	hex[GIT_OID_HEXSZ] = '\n';
	if (write(fd, hex, GIT_OID_HEXSZ + 1) != GIT_OID_HEXSZ + 1 || (reg->fsync && fsync(fd) < 0)) {
		rc = mreg_error_set(MREG_ERROR, "cannot move the branch of '%s': %s", reg->path, strerror(errno));
		goto fail;
	}
	close(fd);
	fd = -1;
	append_reflog(reg, branch, &cur, to, who, msg);
	char head_target[256];
	if (!strcmp(mreg_branch_ref(reg, head_target, sizeof(head_target)), branch))
		append_reflog(reg, "HEAD", &cur, to, who, msg);
	if (rename(lock, path) < 0) {
		rc = mreg_error_set(MREG_ERROR, "cannot move the branch of '%s': %s", reg->path, strerror(errno));
		goto fail;
	}
	mreg_lockfile_done(reg);
	*moved_out = true;
	if (reg->fsync) {
		char *slash = strrchr(path, '/');
		*slash = '\0';
		if (mreg_fs_fsync_dir(path) < 0) {
			/* the branch has moved: say so, or a retry would write the event twice */
			char why[256];
			snprintf(why, sizeof(why), "%s", mreg_error_last());
			rc = mreg_error_set(MREG_ERROR, "the write to '%s' is in its history, but making it durable failed (%s): "
					    "do not repeat it; check the disk", reg->path, why);
		}
	}
	goto done;
fail:
	if (fd >= 0)
		close(fd);
	fd = -1;
	unlink(lock);
	mreg_lockfile_done(reg);
done:
	if (fd >= 0)
		close(fd);
	free(path);
	free(lock);
	return rc;
}

/* A pack this write made, removed (index first: a pack without one is never read). */
static void remove_pack(mreg_registry *reg, const char *hex)
{
	static const char *const ext[] = { ".idx", ".pack", ".rev" };
	for (size_t e = 0; e < 3; e++) {
		char *f = mreg_strfmt("%sobjects/pack/pack-%s%s", reg->gitdir, hex, ext[e]);
		if (f)
			unlink(f);
		free(f);
	}
}

/*
 * Step 4's last part, shared by every commit path: compare-and-swap the
 * branch from head to commit (durable: the moment of truth), then merge
 * packs, which is housekeeping and may fail on its own. A write refused
 * here (the branch moved, a lock held too long, a full disk) removes the
 * pack it wrote, if it made it (pack, hex): nothing refers to it.
 */
static int move_branch(mreg_registry *reg, const git_oid *commit, const git_oid *head, const signature *who,
		       const char *summary, const char *pack, bool created)
{
	char branch[256];
	bool moved = false;
	int rc;

	mreg_branch_ref(reg, branch, sizeof(branch));
	char *log = mreg_strfmt("mreg: %s", summary);
	rc = log ? update_branch(&moved, reg, branch, commit, head, who, log,
				 "moved during the write; nothing was committed")
		 : mreg_error_set(MREG_ERROR, "out of memory");
	free(log);
	if (rc < 0) {
		if (!moved && created)
			remove_pack(reg, pack);
		return rc;
	}
	if (maybe_repack(reg) < 0)
		mreg_error_clear();
	return 0;
}

int mreg_reset_branch(mreg_registry *reg, const git_oid *to, const git_oid *expect, const char *why)
{
	signature who = { NULL, NULL, 0 };
	char branch[256], now[MREG_TIME_LEN + 1];
	int rc;
	bool moved;
	mreg_branch_ref(reg, branch, sizeof(branch));
	mreg_time_format(now, mreg_fs_now_usec());
	char *log = mreg_strfmt("mreg: %s", why);
	if (!log)
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	else if ((rc = make_signature(&who, reg, now)) == 0)
		rc = update_branch(&moved, reg, branch, to, expect, &who, log, "moved meanwhile; nothing was changed");
	reg->known = false;
	signature_dispose(&who);
	free(log);
	return rc;
}

int mreg_commit_event(git_oid *tree_out, mreg_registry *reg, const mreg_event *ev, const mreg_buf *bytes,
		      const mreg_addfile *extra, size_t nextra, const char *summary)
{
	git_oid head, base_tree, tree, commit;
	signature sig = { NULL, NULL, 0 };
	mreg_objs objs;
	mreg_tree_update up[4];
	char evpath[MREG_EVENT_PATH_MAX], *msg = NULL, pack[41];
	bool created = false;
	int rc;

	objs.n = 0;
	if (nextra > 3)
		return mreg_error_set(MREG_ERROR, "too many files in one event");
	if ((rc = mreg_head(&head, &base_tree, reg)) < 0)
		return rc;
	mreg_event_path(evpath, ev->id);
	msg = mreg_strfmt("%s\n\nMreg-Event: %s\nMreg-Type: %s\n", summary, ev->id, mreg_event_type_name(ev->type));
	if (!msg) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	up[0].path = evpath;
	if ((rc = mreg_objs_add(&objs, GIT_OBJECT_BLOB, bytes->ptr, bytes->size, false, &up[0].id)) < 0)
		goto done;
	for (size_t i = 0; i < nextra; i++) {
		up[i + 1].path = extra[i].path;
		if ((rc = mreg_objs_add(&objs, GIT_OBJECT_BLOB, extra[i].data, extra[i].len, false, &up[i + 1].id)) < 0)
			goto done;
	}
	if ((rc = mreg_objs_tree(&tree, &objs, reg, &base_tree, up, nextra + 1)) < 0 ||
	    (rc = make_signature(&sig, reg, ev->time)) < 0 ||
	    (rc = mreg_objs_commit(&commit, &objs, &tree, &head, sig.name, sig.email, sig.time, msg)) < 0)
		goto done;
	if ((rc = mreg_objs_write_pack(reg, &objs, pack, &created)) < 0) {
		if (created)	/* named, then the directory could not be made durable */
			remove_pack(reg, pack);
		goto done;
	}
	if ((rc = move_branch(reg, &commit, &head, &sig, summary, pack, created)) < 0)
		goto done;
	reg->known_commit = commit;	/* for the stamps: HEAD is this commit, of this tree */
	reg->known_tree = tree;
	reg->known = true;
	git_oid_cpy(tree_out, &tree);
	rc = 0;
done:
	mreg_objs_dispose(&objs);
	signature_dispose(&sig);
	free(msg);
	return rc;
}

/*
 * Many events in one commit: for imports, migrations and benchmarks, where a
 * commit per event would be wasted work. Only the objects the repository
 * does not have yet are written (batch_odb), as one pack.
 */
int mreg_commit_batch(git_oid *tree_out, mreg_registry *reg, const mreg_buf *bytes, const char (*ids)[33], size_t n,
		      const mreg_addfile *extra, size_t nextra, const char *summary, const char *time)
{
	git_oid head, base_tree, tree, commit;
	git_tree *base = NULL, *t = NULL;
	git_commit *parent = NULL;
	signature who = { NULL, NULL, 0 };
	git_signature *sig = NULL;
	git_tree_update *up = NULL;
	char (*paths)[MREG_EVENT_PATH_MAX] = NULL;
	batch_odb *batch = NULL;
	char *msg = NULL, pack[41];
	bool created = false;
	int rc;

	if ((rc = mreg_registry_need_git(reg)) < 0)
		return rc;
	if ((rc = batch_backend(&batch, reg)) < 0 || (rc = mreg_head(&head, &base_tree, reg)) < 0)
		return rc;
	batch_reset(batch);
	rc = MREG_ERROR;
	up = calloc(n + nextra, sizeof(*up));
	paths = calloc(n ? n : 1, sizeof(*paths));
	msg = mreg_strfmt("%s\n\nMreg-Events: %zu\nMreg-Type: batch\n", summary, n);
	if (!up || !paths || !msg) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	if (git_tree_lookup(&base, reg->repo, &base_tree) < 0 || git_commit_lookup(&parent, reg->repo, &head) < 0) {
		rc = mreg_git_error("cannot read HEAD of", reg->path);
		goto done;
	}
	for (size_t i = 0; i < n + nextra; i++) {
		up[i].action = GIT_TREE_UPDATE_UPSERT;
		up[i].filemode = GIT_FILEMODE_BLOB;
		const void *data;
		size_t len;
		if (i < n) {
			mreg_event_path(paths[i], ids[i]);
			up[i].path = paths[i];
			data = bytes[i].ptr;
			len = bytes[i].size;
		} else {
			up[i].path = extra[i - n].path;
			data = extra[i - n].data;
			len = extra[i - n].len;
		}
		if (git_blob_create_from_buffer(&up[i].id, reg->repo, data, len) < 0) {
			rc = mreg_git_error("cannot store a file in", reg->path);
			goto done;
		}
	}
	if (git_tree_create_updated(&tree, reg->repo, base, n + nextra, up) < 0 ||
	    git_tree_lookup(&t, reg->repo, &tree) < 0) {
		rc = mreg_git_error("cannot build the tree in", reg->path);
		goto done;
	}
	if ((rc = make_signature(&who, reg, time)) < 0)
		goto done;
	if (git_signature_new(&sig, who.name, who.email, (git_time_t)who.time, 0) < 0) {
		rc = mreg_git_error("cannot make a signature for", reg->actor);
		goto done;
	}
	const git_commit *parents[1] = { parent };
	if (git_commit_create(&commit, reg->repo, NULL, sig, sig, NULL, msg, t, 1, parents) < 0) {
		rc = mreg_git_error("cannot create a commit in", reg->path);
		goto done;
	}
	if ((rc = batch_write_pack(reg, batch, pack, &created)) < 0) {
		if (created)
			remove_pack(reg, pack);
		goto done;
	}
	if ((rc = move_branch(reg, &commit, &head, &who, summary, pack, created)) < 0)
		goto done;
	reg->known_commit = commit;	/* for the stamps: HEAD is this commit, of this tree */
	reg->known_tree = tree;
	reg->known = true;
	git_oid_cpy(tree_out, &tree);
	rc = 0;
done:
	if (batch)
		batch_reset(batch);
	git_signature_free(sig);
	signature_dispose(&who);
	git_tree_free(t);
	git_tree_free(base);
	git_commit_free(parent);
	free(up);
	free(paths);
	free(msg);
	return rc;
}

static int64_t objects_size(mreg_registry *reg)
{
	char *dir = mreg_strfmt("%sobjects", reg->gitdir);
	int64_t total = 0;
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *sub = mreg_strfmt("%s/%s", dir, de->d_name);
		DIR *s = sub ? opendir(sub) : NULL;
		struct dirent *fe;
		while (s && (fe = readdir(s))) {
			struct stat sb;
			char *f = mreg_strfmt("%s/%s", sub, fe->d_name);
			if (f && fe->d_name[0] != '.' && stat(f, &sb) == 0 && S_ISREG(sb.st_mode))
				total += sb.st_size;
			free(f);
		}
		if (s)
			closedir(s);
		free(sub);
	}
	if (d)
		closedir(d);
	free(dir);
	return total;
}

/*
 * mreg gc: one pack, with delta compression, of everything `git gc` keeps;
 * then the packs and loose objects it makes redundant go, and garbage only
 * once git's grace period is over. Writes never compute deltas (each stores
 * its trees whole, which is what makes them fast); this is where the history
 * gets small again.
 *
 * What is kept, as git keeps it: every ref (an annotated tag as the tag
 * object itself and what it points at, be it a commit, a tree or a blob),
 * HEAD, every entry of every reflog, the index's entries (a blob staged with
 * `git add` is in no commit yet) and its cache-tree, and the same for each
 * linked work tree. libgit2's revwalk peels tags to commits, so tags and
 * tips that are not commits go to the pack builder one by one (add_tip).
 *
 * What goes: a loose object the new pack holds, or one older than the
 * cutoff of gc.pruneExpire (prune_cutoff: two weeks by default). An old
 * pack goes whole, and the objects in it that the new pack does not hold are
 * unreachable: git's way with them (`git repack -A
 * --unpack-unreachable=<expiry>`, then `git prune --expire=<expiry>`) is to
 * write them out as loose objects dated with the pack's mtime, unless the
 * pack is older than the cutoff, and to prune loose objects by their mtime.
 * mreg does the same in one go: when the old pack is younger than the
 * cutoff, its unreachable objects are written loose with its mtime (and made
 * durable) before it is removed, and the next gc judges them by that date;
 * when it is older, they go with it. So nothing unreachable disappears
 * before its grace period is over, whichever way it was stored, and an
 * object written a moment ago by a command running beside gc (loose, or in
 * a pack gc did not see) stays. A .pack without its .idx (nothing reads
 * it) goes once older than the cutoff; packs git marks .keep or .promisor
 * stay as they are.
 *
 * libgit2 writes the new pack into MREG_PACK_TMP, from where the pack and
 * then its index are renamed into objects/pack and made durable before
 * anything old is removed; a gc killed while libgit2 writes leaves its
 * temporary files there, and the next write removes them.
 */
typedef struct {
	mreg_registry *reg;
	git_revwalk *walk;	/* commits: their history and trees go in with insert_walk */
	git_packbuilder *pb;
} gc_tips;

/* Keep id and what it reaches. must: a missing object is an error (a ref), else passed by (a reflog entry). */
static int add_tip(gc_tips *g, const git_oid *id, const char *what, bool must)
{
	git_oid cur = *id;
	char hex[GIT_OID_HEXSZ + 1];
	for (int depth = 0; depth < 32; depth++) {
		size_t size;
		git_object_t type;
		git_tag *tag = NULL;
		int err = 0;
		if (git_oid_is_zero(&cur))
			return 0;
		if (git_odb_read_header(&size, &type, g->reg->odb, &cur) < 0) {
			git_error_clear();
			if (!must)
				return 0;
			return mreg_error_set(MREG_ECORRUPT, "cannot gc '%s': %s names object %s, which is missing (see git fsck); nothing was removed",
					      g->reg->path, what, git_oid_tostr(hex, sizeof(hex), &cur));
		}
		switch (type) {
		case GIT_OBJECT_COMMIT:
			err = git_revwalk_push(g->walk, &cur);
			break;
		case GIT_OBJECT_TREE:
			err = git_packbuilder_insert_tree(g->pb, &cur);
			break;
		case GIT_OBJECT_BLOB:
			err = git_packbuilder_insert(g->pb, &cur, NULL);
			break;
		case GIT_OBJECT_TAG:	/* the tag itself, then what it points at */
			if (git_packbuilder_insert(g->pb, &cur, NULL) < 0 || git_tag_lookup(&tag, g->reg->repo, &cur) < 0)
				return mreg_git_error("cannot gc", g->reg->path);
			cur = *git_tag_target_id(tag);
			git_tag_free(tag);
			must = true;
			continue;
		default:
			return 0;
		}
		return err < 0 ? mreg_git_error("cannot gc", g->reg->path) : 0;
	}
	return mreg_error_set(MREG_ECORRUPT, "cannot gc '%s': %s is a chain of tags too long to follow", g->reg->path, what);
}

static int add_reflog(gc_tips *g, git_repository *repo, const char *name)
{
	git_reflog *log = NULL;
	int rc = 0;
	if (git_reflog_read(&log, repo, name) < 0) {
		git_error_clear();	/* none */
		return 0;
	}
	for (size_t i = 0; i < git_reflog_entrycount(log) && rc == 0; i++) {
		const git_reflog_entry *e = git_reflog_entry_byindex(log, i);
		if ((rc = add_tip(g, git_reflog_entry_id_new(e), name, false)) == 0)
			rc = add_tip(g, git_reflog_entry_id_old(e), name, false);
	}
	git_reflog_free(log);
	return rc;
}

/* Every ref and its reflog, and HEAD and its reflog. */
static int add_refs(gc_tips *g)
{
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	git_oid head;
	int rc = 0, err;
	if (git_reference_iterator_new(&it, g->reg->repo) < 0)
		return mreg_git_error("cannot list the refs of", g->reg->path);
	while (rc == 0 && (err = git_reference_next(&ref, it)) == 0) {
		git_reference *res = NULL;
		if (git_reference_resolve(&res, ref) == 0)
			rc = add_tip(g, git_reference_target(res), git_reference_name(ref), true);
		git_error_clear();	/* a symbolic ref to nothing */
		if (rc == 0)
			rc = add_reflog(g, g->reg->repo, git_reference_name(ref));
		git_reference_free(res);
		git_reference_free(ref);
	}
	if (rc == 0 && err != GIT_ITEROVER)
		rc = mreg_git_error("cannot list the refs of", g->reg->path);
	git_reference_iterator_free(it);
	if (rc == 0 && git_reference_name_to_id(&head, g->reg->repo, "HEAD") == 0)
		rc = add_tip(g, &head, "HEAD", true);
	git_error_clear();	/* an unborn HEAD */
	return rc == 0 ? add_reflog(g, g->reg->repo, "HEAD") : rc;
}

/* git's varint of index version 4, skipped; NULL past end. */
static const unsigned char *skip_varint(const unsigned char *p, const unsigned char *end)
{
	while (p < end && *p & 128)
		p++;
	return p < end ? p + 1 : NULL;
}

/*
 * The trees of an index's cache-tree (extension TREE), read from the file
 * (libgit2 does not show them). Index versions 2 to 4; an index this does
 * not follow keeps nothing more than its entries, which libgit2 read.
 */
static int add_cache_tree(gc_tips *g, const mreg_buf *b)
{
	const unsigned char *p = (const unsigned char *)b->ptr, *end = p + b->size;
	if (b->size < 12 + 20 || memcmp(p, "DIRC", 4))
		return 0;
	uint32_t version = be32(p + 4), n = be32(p + 8);
	if (version < 2 || version > 4)
		return 0;
	end -= 20;	/* the checksum */
	p += 12;
	for (uint32_t i = 0; i < n; i++) {
		if (end - p < 62)
			return 0;
		size_t fixed = 62 + (version >= 3 && (p[60] & 0x40) ? 2 : 0);
		const unsigned char *name = p + fixed, *nul;
		if (name > end || (version == 4 && !(name = skip_varint(name, end))) ||
		    !(nul = memchr(name, 0, (size_t)(end - name))))
			return 0;
		p = version == 4 ? nul + 1 : p + ((fixed + (size_t)(nul - (p + fixed)) + 8) & ~(size_t)7);
	}
	while (end - p >= 8) {
		uint32_t len = be32(p + 4);
		const unsigned char *data = p + 8;
		if ((size_t)(end - data) < len)
			return 0;
		if (!memcmp(p, "TREE", 4)) {
			/* path NUL, entry count (-1: invalid), space, subtree count, newline, then the id if valid */
			const unsigned char *q = data, *qend = data + len;
			while (q < qend) {
				const unsigned char *nul = memchr(q, 0, (size_t)(qend - q)), *nl;
				if (!nul || !(nl = memchr(nul, '\n', (size_t)(qend - nul))))
					return 0;
				bool valid = nul[1] != '-';
				q = nl + 1;
				if (valid) {
					git_oid id;
					if (qend - q < 20)
						return 0;
					memcpy(id.id, q, 20);
					q += 20;
					int rc = add_tip(g, &id, "the index's cache-tree", false);
					if (rc < 0)
						return rc;
				}
			}
		}
		p = data + len;
	}
	return 0;
}

/* The entries (all stages; not submodules) and the cache-tree of the index file at path. */
static int add_index(gc_tips *g, const char *path)
{
	git_index *idx = NULL;
	mreg_buf b = MREG_BUF_INIT;
	int rc = 0;
	if (access(path, F_OK) < 0)
		return 0;	/* none (a bare repository) */
	if (git_index_open(&idx, path) < 0)
		return mreg_git_error("cannot gc: cannot read the index", path);
	for (size_t i = 0; rc == 0 && i < git_index_entrycount(idx); i++) {
		const git_index_entry *e = git_index_get_byindex(idx, i);
		if (e->mode != GIT_FILEMODE_COMMIT)
			rc = add_tip(g, &e->id, "the index", false);
	}
	git_index_free(idx);
	if (rc == 0 && mreg_fs_read(&b, path, 0) == 0)
		rc = add_cache_tree(g, &b);
	mreg_error_clear();
	mreg_buf_dispose(&b);
	return rc;
}

/* A reflog file read by hand (a linked work tree's HEAD): "<old> <new> ..." per line. */
static int add_reflog_file(gc_tips *g, const char *path)
{
	mreg_buf b = MREG_BUF_INIT;
	int rc = 0;
	if (mreg_fs_read(&b, path, 0) < 0) {
		mreg_error_clear();
		return 0;
	}
	for (const char *p = b.ptr; rc == 0 && p && *p;) {
		git_oid a, c;
		if (strlen(p) > 82 && git_oid_fromstrn(&a, p, 40) == 0 && git_oid_fromstrn(&c, p + 41, 40) == 0 &&
		    (rc = add_tip(g, &a, path, false)) == 0)
			rc = add_tip(g, &c, path, false);
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	mreg_buf_dispose(&b);
	return rc;
}

/* Linked work trees (.git/worktrees/<name>/): their HEAD, its reflog, their index. */
static int add_worktrees(gc_tips *g)
{
	char *dir = mreg_strfmt("%sworktrees", g->reg->gitdir);
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *de;
	int rc = 0;
	while (d && rc == 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		mreg_buf b = MREG_BUF_INIT;
		char *head = mreg_strfmt("%s/%s/HEAD", dir, de->d_name);
		char *log = mreg_strfmt("%s/%s/logs/HEAD", dir, de->d_name);
		char *index = mreg_strfmt("%s/%s/index", dir, de->d_name);
		git_oid id;
		if (!head || !log || !index) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
		} else {
			/* detached at a commit; a branch is one of the refs */
			if (mreg_fs_read(&b, head, 256) == 0 && b.size >= 40 && git_oid_fromstrn(&id, b.ptr, 40) == 0)
				rc = add_tip(g, &id, head, true);
			mreg_error_clear();
			if (rc == 0 && (rc = add_reflog_file(g, log)) == 0)
				rc = add_index(g, index);
		}
		mreg_buf_dispose(&b);
		free(head);
		free(log);
		free(index);
	}
	if (d)
		closedir(d);
	free(dir);
	return rc;
}

/*
 * gc.pruneExpire as a cutoff in seconds: what is unreachable and older goes.
 * As git reads it: "now" or "all" (INT64_MAX: everything unreachable),
 * "never" or "false" (INT64_MIN: nothing), "@<seconds>", a date
 * "YYYY-MM-DD[ HH:MM[:SS]]" in local time (midnight when no time is given),
 * or a relative one: numbers with units (second, minute, hour, day, week,
 * month of 30 days, year of 365; plural or not) separated by dots or
 * spaces, "ago" at the end optional: "2.weeks.ago", "1 day 12 hours".
 * Anything else git's own date parser may know is refused here, with the
 * value named, and gc does nothing.
 */
static int parse_expiry(int64_t *out, const char *v, int64_t now)
{
	static const struct {
		const char *name;
		int64_t secs;
	} units[] = { { "second", 1 },	   { "sec", 1 },       { "minute", 60 },	{ "min", 60 },
		      { "hour", 3600 },	   { "day", 86400 },   { "week", 7 * 86400 }, { "month", 30 * 86400 },
		      { "year", 365 * 86400 } };
	char *end;
	int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;

	if (!strcmp(v, "now") || !strcmp(v, "all")) {
		*out = INT64_MAX;
		return 0;
	}
	if (!strcmp(v, "never") || !strcmp(v, "false")) {
		*out = INT64_MIN;
		return 0;
	}
	if (v[0] == '@') {
		errno = 0;
		long long t = strtoll(v + 1, &end, 10);
		if (errno || end == v + 1 || *end)
			return -1;
		*out = t;
		return 0;
	}
	if (sscanf(v, "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3) {
		const char *rest = v + n;
		if (*rest == ' ' || *rest == 'T') {
			int k = 0;
			if (sscanf(rest + 1, "%2d:%2d%n", &h, &mi, &k) != 2)
				return -1;
			rest += 1 + k;
			if (*rest == ':' && sscanf(rest + 1, "%2d%n", &sec, &k) == 1)
				rest += 1 + k;
		}
		if (*rest || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || h < 0 || mi < 0 ||
		    sec < 0)
			return -1;
		struct tm tm = { 0 };
		tm.tm_year = y - 1900;
		tm.tm_mon = mo - 1;
		tm.tm_mday = d;
		tm.tm_hour = h;
		tm.tm_min = mi;
		tm.tm_sec = sec;
		tm.tm_isdst = -1;
		time_t t = mktime(&tm);
		if (t == (time_t)-1)
			return -1;
		*out = (int64_t)t;
		return 0;
	}
	int64_t back = 0;
	int pairs = 0;
	const char *p = v;
	for (;;) {
		while (*p == '.' || *p == ' ')
			p++;
		if (!*p)
			break;
		if (!strncmp(p, "ago", 3) && (p[3] == '\0' || p[3] == '.' || p[3] == ' ')) {
			p += 3;
			while (*p == '.' || *p == ' ')
				p++;
			if (*p || !pairs)
				return -1;
			break;
		}
		if (*p < '0' || *p > '9')
			return -1;
		errno = 0;
		long long num = strtoll(p, &end, 10);
		if (errno || num > 1000000)
			return -1;
		p = end;
		while (*p == '.' || *p == ' ')
			p++;
		size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyz");
		size_t k = 0, base = len && p[len - 1] == 's' ? len - 1 : len;
		while (k < sizeof(units) / sizeof(units[0]) &&
		       !(strlen(units[k].name) == base && !strncmp(p, units[k].name, base)) &&
		       !(strlen(units[k].name) == len && !strncmp(p, units[k].name, len)))
			k++;
		if (!len || k == sizeof(units) / sizeof(units[0]))
			return -1;
		back += num * units[k].secs;
		pairs++;
		p += len;
	}
	if (!pairs)
		return -1;
	*out = now - back;
	return 0;
}

static int prune_cutoff(int64_t *out, mreg_registry *reg)
{
	git_config *cfg = NULL;
	git_buf v = GIT_BUF_INIT;
	const char *value = "2.weeks.ago";	/* git's default */
	int rc = 0;
	if (git_repository_config_snapshot(&cfg, reg->repo) < 0)
		return mreg_git_error("cannot read git config of", reg->path);
	if (git_config_get_string_buf(&v, cfg, "gc.pruneExpire") == 0)
		value = v.ptr;
	git_error_clear();
	if (parse_expiry(out, value, mreg_fs_now_usec() / 1000000) < 0)
		rc = mreg_error_set(MREG_EINVALID, "invalid gc.pruneExpire '%s': use now, never, a date (2024-01-31) "
				    "or a relative one (2.weeks.ago)", value);
	git_buf_dispose(&v);
	git_config_free(cfg);
	return rc;
}

/* The object ids of a pack index (version 2) read into b; NULL when it is not one this reads. */
static const unsigned char *idx_ids(mreg_buf *b, size_t *n, const char *path)
{
	mreg_buf_clear(b);
	if (mreg_fs_read(b, path, 0) < 0) {
		mreg_error_clear();
		return NULL;
	}
	const unsigned char *p = (const unsigned char *)b->ptr;
	if (b->size < 8 + 1024 || memcmp(p, "\377tOc\0\0\0\2", 8))
		return NULL;
	*n = be32(p + 8 + 255 * 4);
	if ((b->size - 8 - 1024) / 28 < *n)	/* ids and CRCs at least */
		return NULL;
	return p + 8 + 1024;
}

/* The pack builder's pack written in MREG_PACK_TMP, then moved into objects/pack, durably. */
static int write_new_pack(char name[41], gc_tips *g)
{
	mreg_registry *reg = g->reg;
	char *tmp = mreg_strfmt("%s" MREG_PACK_TMP, reg->gitdir), *from = NULL, *to = NULL;
	int rc = 0;
	if (!tmp)
		return mreg_error_set(MREG_ERROR, "out of memory");
	sweep_pack_tmp(reg);
	if ((rc = mreg_fs_mkdirs(tmp)) < 0)
		goto done;
	if (git_packbuilder_insert_walk(g->pb, g->walk) < 0 || git_packbuilder_write(g->pb, tmp, 0, NULL, NULL) < 0) {
		rc = mreg_git_error("cannot write the packed history of", reg->path);
		goto done;
	}
	snprintf(name, 41, "%s", git_packbuilder_name(g->pb));
	static const char *const ext[] = { ".pack", ".idx" };	/* an index names only a complete pack */
	for (size_t e = 0; e < 2 && rc == 0; e++) {
		free(from);
		free(to);
		from = mreg_strfmt("%s/pack-%s%s", tmp, name, ext[e]);
		to = mreg_strfmt("%sobjects/pack/pack-%s%s", reg->gitdir, name, ext[e]);
		if (!from || !to)
			rc = mreg_error_set(MREG_ERROR, "out of memory");
		else if (rename(from, to) < 0)
			rc = mreg_error_set(MREG_ERROR, "cannot write '%s': %s", to, strerror(errno));
	}
	if (rc == 0 && reg->fsync) {
		free(to);
		to = mreg_strfmt("%sobjects/pack", reg->gitdir);
		rc = to ? mreg_fs_fsync_dir(to) : mreg_error_set(MREG_ERROR, "out of memory");
	}
done:
	sweep_pack_tmp(reg);
	free(from);
	free(to);
	free(tmp);
	return rc;
}

/*
 * An unreachable object of a pack about to go, written loose with the
 * pack's mtime (or, already loose, given that mtime if it is later): what
 * `git repack --unpack-unreachable` does. The file and its directory are
 * durable (when reg->fsync) before the pack goes; its date is not, and a
 * date lost in a crash is a later one, which only keeps the object longer.
 */
static int eject(mreg_registry *reg, const unsigned char *oid, time_t mtime)
{
	git_oid id;
	git_odb_object *o = NULL;
	mreg_buf raw = MREG_BUF_INIT, z = MREG_BUF_INIT;
	char hex[GIT_OID_HEXSZ + 1];
	struct stat sb;
	int rc = 0;

	memcpy(id.id, oid, 20);
	git_oid_tostr(hex, sizeof(hex), &id);
	char *path = mreg_strfmt("%sobjects/%.2s/%s", reg->gitdir, hex, hex + 2);
	if (!path)
		return mreg_error_set(MREG_ERROR, "out of memory");
	if (stat(path, &sb) < 0) {
		if (git_odb_read(&o, reg->odb, &id) < 0) {
			rc = mreg_git_error("cannot gc: cannot read an unreachable object of", reg->path);
			goto done;
		}
		mreg_buf_printf(&raw, "%s %zu", mreg_git_type_name(git_odb_object_type(o)), git_odb_object_size(o));
		mreg_buf_put(&raw, "", 1);
		mreg_buf_put(&raw, git_odb_object_data(o), git_odb_object_size(o));
		uLongf zlen = compressBound((uLong)raw.size);
		if (mreg_buf_oom(&raw) || mreg_buf_grow(&z, zlen) < 0) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
			goto done;
		}
		if (compress2((Bytef *)z.ptr, &zlen, (const Bytef *)raw.ptr, (uLong)raw.size, Z_BEST_SPEED) != Z_OK) {
			rc = mreg_error_set(MREG_ERROR, "cannot compress object %s", hex);
			goto done;
		}
		if ((rc = mreg_fs_write_atomic(path, z.ptr, zlen, reg->fsync)) < 0)
			goto done;
		chmod(path, 0444);
	} else if (sb.st_mtime >= mtime) {
		goto done;
	}
	struct timespec ts[2] = { { mtime, 0 }, { mtime, 0 } };
	if (utimensat(AT_FDCWD, path, ts, 0) < 0)
		rc = mreg_error_set(MREG_ERROR, "cannot date '%s': %s", path, strerror(errno));
done:
	git_odb_object_free(o);
	mreg_buf_dispose(&raw);
	mreg_buf_dispose(&z);
	free(path);
	return rc;
}

static bool removable_pack(const char *dir, const char *name, size_t len)
{
	char *k = mreg_strfmt("%s/%.*s.keep", dir, (int)len, name);
	char *pr = mreg_strfmt("%s/%.*s.promisor", dir, (int)len, name);
	bool kept = !k || !pr || access(k, F_OK) == 0 || access(pr, F_OK) == 0;
	free(k);
	free(pr);
	return !kept;	/* git keeps it on purpose: so do we */
}

/* Every old pack goes, its unreachable objects ejected first when it is younger than cutoff. */
static int prune_packs(mreg_registry *reg, const mreg_oid_set *kept, const char *keep, int64_t cutoff)
{
	char *dir = mreg_strfmt("%sobjects/pack", reg->gitdir);
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *de;
	mreg_buf idx = MREG_BUF_INIT;
	int rc = 0;
	while (d && rc == 0 && (de = readdir(d))) {
		size_t len = strlen(de->d_name), n = 0;
		struct stat sb;
		if (len < 10 || strncmp(de->d_name, "pack-", 5) || strcmp(de->d_name + len - 5, ".pack") ||
		    !strncmp(de->d_name + 5, keep, 40) || !removable_pack(dir, de->d_name, len - 5))
			continue;
		char *ip = mreg_strfmt("%s/%.*s.idx", dir, (int)(len - 5), de->d_name);
		char *pp = mreg_strfmt("%s/%s", dir, de->d_name);
		const unsigned char *ids = NULL;
		bool go = false;
		if (!ip || !pp || stat(pp, &sb) < 0) {
			/* gone meanwhile */
		} else if (access(ip, F_OK) < 0) {
			go = (int64_t)sb.st_mtime < cutoff;	/* no index: nothing reads it */
		} else if ((ids = idx_ids(&idx, &n, ip))) {
			bool young = (int64_t)sb.st_mtime >= cutoff;
			for (size_t i = 0; rc == 0 && young && i < n; i++)
				if (!mreg_oid_set_has(kept, ids + i * 20))
					rc = eject(reg, ids + i * 20, sb.st_mtime);
			go = rc == 0;
		}	/* else an index this cannot read: the pack stays */
		if (go) {
			static const char *const ext[] = { ".idx", ".pack", ".rev", ".bitmap" };
			for (size_t e = 0; e < 4; e++) {	/* the index first: a pack without one is never read */
				char *f = mreg_strfmt("%s/%.*s%s", dir, (int)(len - 5), de->d_name, ext[e]);
				if (f)
					unlink(f);
				free(f);
			}
		}
		free(ip);
		free(pp);
	}
	if (d)
		closedir(d);
	free(dir);
	mreg_buf_dispose(&idx);
	return rc;
}

/* Loose objects the new pack holds, or older than cutoff; and temporary files a killed gc left. */
static void prune_loose(mreg_registry *reg, const mreg_oid_set *kept, int64_t cutoff)
{
	for (int f = 0; f < 256; f++) {
		char fan[3] = { "0123456789abcdef"[f >> 4], "0123456789abcdef"[f & 15], '\0' };
		char *dir = mreg_strfmt("%sobjects/%s", reg->gitdir, fan);
		DIR *d = dir ? opendir(dir) : NULL;
		struct dirent *de;
		while (d && (de = readdir(d))) {
			char hex[GIT_OID_HEXSZ + 1];
			git_oid id;
			struct stat sb;
			bool object = strlen(de->d_name) == 38 && strspn(de->d_name, "0123456789abcdef") == 38;
			if (!object && !strstr(de->d_name, ".mreg-tmp"))
				continue;
			char *path = mreg_strfmt("%s/%s", dir, de->d_name);
			if (path && object) {
				memcpy(hex, fan, 2);
				memcpy(hex + 2, de->d_name, 39);
				if (git_oid_fromstr(&id, hex) == 0 &&
				    (mreg_oid_set_has(kept, id.id) || (lstat(path, &sb) == 0 && (int64_t)sb.st_mtime < cutoff)))
					unlink(path);
			} else if (path) {
				unlink(path);
			}
			free(path);
		}
		if (d) {
			closedir(d);
			rmdir(dir);	/* when empty */
		}
		free(dir);
	}
}

int mreg_gc(int64_t *before, int64_t *after, mreg_registry *reg)
{
	gc_tips g = { reg, NULL, NULL };
	mreg_oid_set kept = { NULL, 0, 0 };
	mreg_buf idx = MREG_BUF_INIT;
	char name[41], *path = NULL;
	int64_t cutoff;
	size_t n = 0;
	int rc;

	if ((rc = mreg_registry_need_git(reg)) < 0 || (rc = mreg_lock(reg)) < 0)
		return rc;
	if ((rc = prune_cutoff(&cutoff, reg)) < 0)
		goto done;
	*before = objects_size(reg);
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, reg->fsync ? 1 : 0);
	if (git_revwalk_new(&g.walk, reg->repo) < 0 || git_packbuilder_new(&g.pb, reg->repo) < 0) {
		rc = mreg_git_error("cannot list the objects of", reg->path);
		goto done;
	}
	git_packbuilder_set_threads(g.pb, 0);
	if (!(path = mreg_strfmt("%sindex", reg->gitdir))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	if ((rc = add_refs(&g)) < 0 || (rc = add_index(&g, path)) < 0 || (rc = add_worktrees(&g)) < 0 ||
	    (rc = write_new_pack(name, &g)) < 0)
		goto done;
	/* what the new pack holds is all that is kept; the rest is unreachable */
	free(path);
	if (!(path = mreg_strfmt("%sobjects/pack/pack-%s.idx", reg->gitdir, name))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	const unsigned char *ids = idx_ids(&idx, &n, path);
	if (!ids) {
		rc = mreg_error_set(MREG_ERROR, "cannot gc '%s': cannot read the index of its new pack", reg->path);
		goto done;
	}
	for (size_t i = 0; i < n; i++)
		if (mreg_oid_set_add(&kept, ids + i * 20) < 0) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
			goto done;
		}
	if ((rc = prune_packs(reg, &kept, name, cutoff)) < 0)
		goto done;
	prune_loose(reg, &kept, cutoff);
	free(path);
	if ((path = mreg_strfmt("%sobjects/pack", reg->gitdir)))
		remove_midx(path);
	git_odb_refresh(reg->odb);
	*after = objects_size(reg);
done:
	free(kept.slot);
	mreg_buf_dispose(&idx);
	free(path);
	git_packbuilder_free(g.pb);
	git_revwalk_free(g.walk);
	mreg_unlock(reg);
	return rc;
}

/*
 * Reading objects without libgit2 (the formats: parse.c).
 *
 * A write reads a few objects: HEAD's commit, the trees on the paths it
 * changes and mreg.json. Starting libgit2 for them (its global set-up, the
 * repository open, its config stack) costs about a millisecond per command
 * on this kind of machine, more than the reads. So the objects are found
 * here, in the packs (index version 2, deltas by offset or by id, as `git
 * gc`, `git repack` and `mreg gc` write them) and among the loose objects,
 * and every object read is hashed and checked against its id.
 *
 * What this reader does not know answers 1, and the caller asks libgit2:
 * an object it cannot find (a repository with alternates, a pack index of
 * another version), so the two can never disagree about what exists. Pack
 * indexes are read when first needed, newest pack first.
 */
#define _GNU_SOURCE
#include "git.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libdeflate.h>
#include <zlib.h>

#define MAX_CHAIN 1000		/* deltas on deltas: git's default depth is 50 */
#define MAX_OBJECT MREG_GIT_OBJECT_MAX

typedef struct {
	char *path;		/* ".../pack-<hex>" without the suffix */
	unsigned char *idx;	/* the whole index, mapped (git never changes one in place) */
	size_t idxlen;
	mreg_git_idx x;		/* parsed, in idx */
	bool bad;		/* the index is not one this reader reads */
	const unsigned char *pack;	/* mapped when first needed */
	size_t packlen;
	bool borrowed;		/* mreg_odb_open_pack: the pack is the caller's, the index on the heap */
	int64_t *keys;		/* mreg_odb_set_keys: one per object, in the index's order */
} odb_pack;

struct mreg_odb {
	char *objdir;		/* ends in '/' */
	odb_pack *packs;
	size_t npacks;
	bool unsure;		/* something here this reader does not read: misses go to libgit2 */
	unsigned gen;		/* the pack list's generation: a look again makes a new one */
	bool fixed;		/* one pack in memory (mreg_odb_open_pack): no directory, no loose objects */
	bool keyed;		/* a pack has keys (mreg_odb_set_keys): without, mreg_odb_key looks nothing up */
};

/*
 * Per thread, so that threads may read at once from an odb made ready
 * (mreg_odb_ready): whether a read set its own message (a pack that will
 * not open), and the thread's decompressor.
 */
static _Thread_local bool said;
static _Thread_local struct libdeflate_decompressor *inflater;
static _Thread_local z_stream *peeker;	/* reset for each peek, not set up anew */

/* The newest pack first: a write's objects are in the packs written last. */
static int cmp_mtime_desc(const void *a, const void *b)
{
	const int64_t x = ((const mreg_git_packfile *)a)->mtime_ns, y = ((const mreg_git_packfile *)b)->mtime_ns;
	return x < y ? 1 : x > y ? -1 : 0;
}

static void idx_unmap(odb_pack *p)
{
	mreg_git_idx_radix_free(&p->x);
	if (p->idx && p->borrowed)
		free(p->idx);
	else if (p->idx)
		munmap(p->idx, p->idxlen);
	p->idx = NULL;
	p->idxlen = 0;
}

static void pack_dispose(odb_pack *p)
{
	free(p->path);
	free(p->keys);
	idx_unmap(p);
	if (p->pack && !p->borrowed)
		munmap((void *)p->pack, p->packlen);
}

/*
 * Pack p's index, mapped when first needed (a write finds what it reads in
 * the newest pack or two): version 2, and long enough for its counts, ids,
 * CRCs, offsets and two checksums. false when it is not that. Mapped, not
 * read: a lookup touches the fan-out and a few pages of its binary search,
 * where reading the index of a million objects (about 50 MB) would cost
 * every command that reads an object tens of milliseconds.
 */
static bool load_index(mreg_odb *odb, odb_pack *p)
{
	if (p->idx)
		return true;
	if (p->bad)
		return false;
	char *ip = mreg_strfmt("%s.idx", p->path);
	int fd = ip ? open(ip, O_RDONLY | O_CLOEXEC) : -1;
	struct stat sb;
	free(ip);
	if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
	    (uint64_t)sb.st_size < ((uint64_t)1 << 40)) {
		void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m != MAP_FAILED) {
			p->idx = m;
			p->idxlen = (size_t)sb.st_size;
		}
	}
	if (fd >= 0)
		close(fd);
	if (!p->idx || mreg_git_idx_parse(&p->x, p->idx, p->idxlen) != 0) {
		idx_unmap(p);
		p->bad = true;
		odb->unsure = true;	/* libgit2 may read what this reader does not */
		return false;
	}
	return true;
}

/*
 * The packs in objects/pack now, newest first: those already loaded are
 * kept as they are, new ones loaded, gone ones dropped. A process that
 * writes several times (the library) sees its own new packs this way.
 */
static int load_packs(mreg_odb *odb)
{
	if (odb->fixed)
		return 0;
	char *dir = mreg_strfmt("%spack", odb->objdir);
	mreg_git_packfile *found = NULL;
	size_t n = 0, np = 0, *from = NULL;	/* from[i]: where packs[i] was in odb->packs, or SIZE_MAX: new */
	odb_pack *packs = NULL;
	bool midx = false;
	int rc;

	if (!dir)
		return mreg_error_set(MREG_ERROR, "out of memory");
	rc = mreg_git_pack_list(&found, &n, &midx, dir);
	if (midx)
		odb->unsure = true;	/* the .idx files are still there; note it all the same */
	if (rc == 0 && n) {
		qsort(found, n, sizeof(*found), cmp_mtime_desc);
		if (!(packs = calloc(n, sizeof(*packs))) || !(from = calloc(n, sizeof(*from))))
			rc = mreg_error_set(MREG_ERROR, "out of memory");
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (!found[i].idx)
			continue;	/* a pack without its index is not in use */
		char *path = mreg_strfmt("%s/%s", dir, found[i].name);
		if (!path) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
			break;
		}
		size_t k = 0;
		while (k < odb->npacks && (!odb->packs[k].path || strcmp(odb->packs[k].path, path)))
			k++;
		if (k < odb->npacks) {	/* known: moved over */
			from[np] = k;
			packs[np++] = odb->packs[k];
			odb->packs[k].path = NULL;
			free(path);
		} else {
			from[np] = SIZE_MAX;
			packs[np++].path = path;
		}
	}
	free(found);
	free(dir);
	if (rc < 0) {
		/* the odb as it was: what was moved over goes back (its maps, keys and radix are still shared) */
		for (size_t i = 0; i < np; i++)
			if (from[i] == SIZE_MAX)
				pack_dispose(&packs[i]);
			else
				odb->packs[from[i]].path = packs[i].path;
		free(packs);
		free(from);
		return rc;
	}
	free(from);
	for (size_t k = 0; k < odb->npacks; k++)
		if (odb->packs[k].path)
			pack_dispose(&odb->packs[k]);
	free(odb->packs);
	odb->packs = packs;
	odb->npacks = np;
	odb->gen++;	/* a place found before (mreg_odb_where) may name another pack now */
	return 0;
}

int mreg_odb_refresh(mreg_odb *odb)
{
	return load_packs(odb);
}

static int map_pack(odb_pack *p);

/* Indexes of this many objects or more get a radix for the many lookups of a ready odb (mreg_git_idx_radix). */
#define RADIX_FROM 65536

int mreg_odb_ready(mreg_odb *odb)
{
	int rc = load_packs(odb);
	for (size_t i = 0; i < odb->npacks && rc == 0; i++) {
		odb_pack *p = &odb->packs[i];
		if (load_index(odb, p) && (rc = map_pack(p)) == 1)
			rc = 0;	/* gone since it was listed: marked bad, passed over */
		else if (rc == 0 && p->idx && p->x.count >= RADIX_FROM)
			mreg_git_idx_radix(&p->x);	/* no memory for it: the fan-out serves */
	}
	return rc;
}

int mreg_odb_open_pack(mreg_odb **out, const char *what, const unsigned char *pack, size_t len, unsigned char *idx,
		       size_t idxlen)
{
	mreg_odb *odb = calloc(1, sizeof(*odb));
	odb_pack *p = calloc(1, sizeof(*p));
	*out = NULL;
	if (!odb || !p || !(odb->objdir = mreg_strdup(what))) {
		free(idx);
		free(p);
		mreg_odb_free(odb);
		return mreg_error_set(MREG_ERROR, "out of memory");
	}
	*p = (odb_pack){ .idx = idx, .idxlen = idxlen, .pack = pack, .packlen = len, .borrowed = true };
	odb->packs = p;
	odb->npacks = 1;
	odb->fixed = true;
	if (len < 32 || memcmp(pack, "PACK", 4) || mreg_git_idx_parse(&p->x, idx, idxlen) != 0) {
		mreg_odb_free(odb);
		return mreg_error_set(MREG_ECORRUPT, "%s: not a pack and its index", what);
	}
	*out = odb;
	return 0;
}

int mreg_odb_open(mreg_odb **out, const char *objdir)
{
	mreg_odb *odb = calloc(1, sizeof(*odb));
	char *alt = NULL;
	struct stat sb;
	int rc;
	*out = NULL;
	if (!odb || !(odb->objdir = mreg_strdup(objdir)) || !(alt = mreg_strfmt("%sinfo/alternates", objdir))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto fail;
	}
	/* alternates, or objects git's environment adds (a pre-receive hook's quarantine): libgit2 reads those */
	if (stat(alt, &sb) == 0 || getenv("GIT_OBJECT_DIRECTORY") || getenv("GIT_ALTERNATE_OBJECT_DIRECTORIES"))
		odb->unsure = true;
	free(alt);
	alt = NULL;
	if ((rc = load_packs(odb)) < 0)
		goto fail;
	*out = odb;
	return 0;
fail:
	free(alt);
	mreg_odb_free(odb);
	return rc;
}

void mreg_odb_free(mreg_odb *odb)
{
	if (!odb)
		return;
	for (size_t i = 0; i < odb->npacks; i++)
		pack_dispose(&odb->packs[i]);
	free(odb->packs);
	free(odb->objdir);
	free(odb);
}

/* The offset of id in pack p's data, or -1 when p does not hold it. */
static int64_t find_in_index(const odb_pack *p, const unsigned char *id, uint32_t *at)
{
	uint32_t pos;
	uint64_t off;
	if (!mreg_git_idx_find(&pos, &p->x, id) || !mreg_git_idx_offset(&off, &p->x, pos) || off > INT64_MAX)
		return -1;
	if (at)
		*at = pos;
	return (int64_t)off;
}

static int map_pack(odb_pack *p)
{
	if (p->pack)
		return 0;
	char *path = mreg_strfmt("%s.pack", p->path);
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	struct stat sb;
	int rc = 0;
	if (fd < 0 && errno == ENOENT) {
		/* removed since its index was read (a repack, a gc): not here after all */
		free(path);
		idx_unmap(p);
		p->bad = true;
		return 1;
	}
	if (fd < 0 || fstat(fd, &sb) < 0 || sb.st_size < 12 + 20) {
		rc = mreg_error_set(MREG_ECORRUPT, "cannot read pack '%s.pack'", p->path);
	} else {
		void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			rc = mreg_error_set(MREG_ERROR, "cannot map pack '%s.pack': %s", p->path, strerror(errno));
		} else {
			p->pack = m;
			p->packlen = (size_t)sb.st_size;
			if (memcmp(p->pack, "PACK", 4) || (mreg_git_be32(p->pack + 4) != 2 && mreg_git_be32(p->pack + 4) != 3))
				rc = mreg_error_set(MREG_ECORRUPT, "not a pack: '%s.pack'", p->path);
		}
	}
	if (fd >= 0)
		close(fd);
	free(path);
	said = rc < 0;
	return rc;
}

/*
 * Inflate exactly size bytes from in (at most avail long) into a fresh
 * buffer: the zlib stream of one pack entry, whose size the entry's header
 * gives. libdeflate, not zlib: a whole buffer in one call, without zlib's
 * set-up of a stream, is about twice as fast on the small objects a fold
 * reads by the hundred thousand; it checks the stream's Adler-32 as zlib
 * does, and refuses a stream that ends short of size or runs past it.
 */
static int inflate_exact(unsigned char **out, const unsigned char *in, size_t avail, size_t size)
{
	if (!mreg_git_inflatable(size, avail))
		return MREG_ECORRUPT;
	if (!inflater && !(inflater = libdeflate_alloc_decompressor()))
		return mreg_error_set(MREG_ERROR, "out of memory");
	unsigned char *buf = malloc(size + 1);
	if (!buf)
		return mreg_error_set(MREG_ERROR, "out of memory");
	if (libdeflate_zlib_decompress(inflater, in, avail, buf, size, NULL) != LIBDEFLATE_SUCCESS) {
		free(buf);
		return MREG_ECORRUPT;
	}
	buf[size] = '\0';
	*out = buf;
	return 0;
}

size_t mreg_odb_count(const mreg_odb *odb)
{
	size_t n = 0;
	for (size_t i = 0; i < odb->npacks; i++)
		n += odb->packs[i].idx ? odb->packs[i].x.count : 0;
	return n;
}

void mreg_odb_thread_done(void)
{
	libdeflate_free_decompressor(inflater);
	inflater = NULL;
	if (peeker) {
		inflateEnd(peeker);
		free(peeker);
		peeker = NULL;
	}
}

/* The first bytes of a zlib stream (at most want of them): their number, or -1 when it does not inflate. */
static long inflate_head(unsigned char *out, size_t want, const unsigned char *in, size_t avail)
{
	if (!peeker) {
		if (!(peeker = calloc(1, sizeof(*peeker))))
			return -1;
		if (inflateInit(peeker) != Z_OK) {
			free(peeker);
			peeker = NULL;
			return -1;
		}
	} else if (inflateReset(peeker) != Z_OK) {
		return -1;
	}
	peeker->next_in = (Bytef *)(uintptr_t)in;
	peeker->avail_in = avail > UINT32_MAX ? UINT32_MAX : (uInt)avail;
	peeker->next_out = out;
	peeker->avail_out = (uInt)want;
	int zr = inflate(peeker, Z_SYNC_FLUSH);
	return zr == Z_OK || zr == Z_STREAM_END ? (long)(want - peeker->avail_out) : -1;
}

static int read_any(unsigned char **out, size_t *len, git_object_t *type, mreg_odb *odb, const unsigned char *id,
		    int depth);

/* The object at offset off of pack p, resolving deltas; 1 when the pack is gone. */
static int read_packed(unsigned char **out, size_t *len, git_object_t *type, mreg_odb *odb, odb_pack *p, uint64_t off,
		       int depth)
{
	int rc;
	if (depth > MAX_CHAIN)
		return MREG_ECORRUPT;
	if ((rc = map_pack(p)) != 0)
		return rc;
	const unsigned char *q = p->pack + off, *end = p->pack + p->packlen - 20;
	mreg_git_entry e;
	if (off < 12 || q >= end || !mreg_git_entry_parse(&e, q, end) || e.size > MAX_OBJECT)
		return MREG_ECORRUPT;
	size_t size = (size_t)e.size;
	q = e.data;
	if (e.type >= GIT_OBJECT_COMMIT && e.type <= GIT_OBJECT_TAG) {
		*type = (git_object_t)e.type;
		*len = size;
		return inflate_exact(out, q, (size_t)(end - q), size);
	}
	unsigned char *base = NULL, *delta = NULL;
	size_t baselen = 0;
	if (e.type == GIT_OBJECT_OFS_DELTA) {
		if (e.back > off)
			return MREG_ECORRUPT;
		rc = read_packed(&base, &baselen, type, odb, p, off - e.back, depth + 1);
	} else if (e.type == GIT_OBJECT_REF_DELTA) {
		if (end - q < 20)
			return MREG_ECORRUPT;
		rc = read_any(&base, &baselen, type, odb, q, depth + 1);
		if (rc == 1)
			rc = MREG_ECORRUPT;	/* a delta on a base that is nowhere */
		q += 20;
	} else {
		return MREG_ECORRUPT;
	}
	if (rc == 0)
		rc = inflate_exact(&delta, q, (size_t)(end - q), size);
	if (rc == 0)
		rc = mreg_git_delta_apply(out, len, base, baselen, delta, size, MAX_OBJECT);
	free(base);
	free(delta);
	return rc;
}

static int read_loose(unsigned char **out, size_t *len, git_object_t *type, mreg_odb *odb, const unsigned char *id)
{
	git_oid oid;
	memcpy(oid.id, id, 20);
	char *path = mreg_git_loose_path(odb->objdir, &oid);
	const char *data;
	size_t n;
	if (!path)
		return mreg_error_set(MREG_ERROR, "out of memory");
	int rc = mreg_fs_map(&data, &n, path);
	free(path);
	if (rc == MREG_ENOTFOUND) {
		mreg_error_clear();
		return 1;
	}
	if (rc < 0)
		return rc;
	/* the header first: "<type> <size>\0", then the rest in one go */
	unsigned char head[64];
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	rc = MREG_ECORRUPT;
	if (inflateInit(&zs) != Z_OK) {
		mreg_fs_unmap(data, n);
		return mreg_error_set(MREG_ERROR, "out of memory");
	}
	zs.next_in = (Bytef *)(uintptr_t)data;
	zs.avail_in = n > UINT32_MAX ? UINT32_MAX : (uInt)n;
	zs.next_out = head;
	zs.avail_out = sizeof(head);
	int zr = inflate(&zs, Z_SYNC_FLUSH);
	size_t got = sizeof(head) - zs.avail_out;
	const unsigned char *nul = memchr(head, 0, got);
	const unsigned char *sp = nul ? memchr(head, ' ', (size_t)(nul - head)) : NULL;
	if ((zr == Z_OK || zr == Z_STREAM_END) && sp) {
		git_object_t t = GIT_OBJECT_INVALID;
		for (int k = GIT_OBJECT_COMMIT; k <= GIT_OBJECT_TAG; k++)
			if ((size_t)(sp - head) == strlen(mreg_git_type_name((git_object_t)k)) &&
			    !memcmp(head, mreg_git_type_name((git_object_t)k), (size_t)(sp - head)))
				t = (git_object_t)k;
		size_t size = 0;
		bool digits = sp + 1 < nul;
		for (const unsigned char *d = sp + 1; d < nul && digits; d++) {
			digits = *d >= '0' && *d <= '9' && size <= MAX_OBJECT / 10;
			size = size * 10 + (size_t)(*d - '0');
		}
		size_t have = got - (size_t)(nul + 1 - head);
		unsigned char *buf = t != GIT_OBJECT_INVALID && digits && size <= MAX_OBJECT && have <= size &&
					     mreg_git_inflatable(size, n) ? malloc(size + 1) : NULL;
		if (buf) {
			memcpy(buf, nul + 1, have);
			zs.next_out = buf + have;
			zs.avail_out = (uInt)(size - have);
			if (zr != Z_STREAM_END)
				zr = inflate(&zs, Z_FINISH);
			bool ok = zr == Z_STREAM_END && zs.avail_out == 0;
			if (ok) {	/* a loose copy that is not the object: a packed copy may be */
				git_oid got;
				mreg_git_hash(&got, t, buf, size);
				ok = !memcmp(got.id, id, 20);
			}
			if (ok) {
				buf[size] = '\0';
				*out = buf;
				*len = size;
				*type = t;
				rc = 0;
			} else {
				free(buf);
			}
		}
	}
	inflateEnd(&zs);
	mreg_fs_unmap(data, n);
	return rc;
}

static int read_any(unsigned char **out, size_t *len, git_object_t *type, mreg_odb *odb, const unsigned char *id,
		    int depth)
{
	/*
	 * The indexes already read first, then the loose file (one failed open
	 * when there is none), then the indexes not read yet, newest first:
	 * reading a large old index costs more than looking for a loose file.
	 */
	bool damaged = false;	/* a loose copy that is not the object: a packed one may be */
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < odb->npacks; i++) {
			if (!round && !odb->packs[i].idx)
				continue;
			if (round && (odb->packs[i].idx || !load_index(odb, &odb->packs[i])))
				continue;
			int64_t off = find_in_index(&odb->packs[i], id, NULL);
			if (off < 0)
				continue;
			int rc = read_packed(out, len, type, odb, &odb->packs[i], (uint64_t)off, depth);
			if (rc != 1)
				return rc;	/* else the pack went away meanwhile: look on */
		}
		if (!round) {
			int rc = odb->fixed ? 1 : read_loose(out, len, type, odb, id);
			if (rc == MREG_ECORRUPT)
				damaged = true;
			else if (rc != 1)
				return rc;
		}
	}
	return damaged ? MREG_ECORRUPT : 1;
}

/* What a read of id found (rc, data, len) given to out: the bytes, or the error that says what. */
static int give(mreg_buf *out, git_object_t *type, mreg_odb *odb, const git_oid *id, bool check, int rc,
		unsigned char *data, size_t len)
{
	char hex[GIT_OID_HEXSZ + 1];
	if (rc == 1 || rc == MREG_ERROR || (rc < 0 && said))
		return rc;
	if (rc == 0) {
		git_oid got;
		if (check)
			mreg_git_hash(&got, *type, data, len);
		if (!check || git_oid_equal(&got, id)) {
			mreg_buf_dispose(out);
			out->ptr = (char *)data;
			out->size = len;
			out->asize = len + 1;
			return 0;
		}
		free(data);
	}
	return mreg_error_set(MREG_ECORRUPT, "object %s in '%s' is damaged", git_oid_tostr(hex, sizeof(hex), id),
			      odb->objdir);
}

int mreg_odb_peek(unsigned char *out, size_t *got, size_t want, git_object_t *type, const mreg_odb *odb,
		  const git_oid *id, mreg_odb_where *where)
{
	for (size_t i = 0; i < odb->npacks; i++) {
		const odb_pack *p = &odb->packs[i];
		uint32_t pos = 0;
		int64_t off = p->idx && p->pack ? find_in_index(p, id->id, &pos) : -1;
		if (off < 0)
			continue;
		const unsigned char *q = p->pack + off, *end = p->pack + p->packlen - 20;
		mreg_git_entry e;
		if (off < 12 || q >= end || !mreg_git_entry_parse(&e, q, end))
			return 1;	/* damage: the full read says what */
		if (where)
			*where = (mreg_odb_where){ i, (uint64_t)off, pos, odb->gen };
		if (e.type < GIT_OBJECT_COMMIT || e.type > GIT_OBJECT_TAG) {
			/* a delta (after a gc): resolved whole, its head kept */
			unsigned char *all = NULL;
			size_t len = 0;
			if (read_packed(&all, &len, type, (mreg_odb *)odb, (odb_pack *)p, (uint64_t)off, 0) != 0) {
				mreg_error_clear();
				return 1;
			}
			*got = len < want ? len : want;
			memcpy(out, all, *got);
			free(all);
			return 0;
		}
		long n = inflate_head(out, want < e.size ? want : (size_t)e.size, e.data, (size_t)(end - e.data));
		if (n < 0)
			return 1;
		*got = (size_t)n;
		*type = (git_object_t)e.type;
		return 0;
	}
	return 1;
}

static int odb_read(mreg_buf *out, git_object_t *type, mreg_odb *odb, const git_oid *id, bool check)
{
	unsigned char *data = NULL;
	size_t len = 0;
	said = false;
	int rc = read_any(&data, &len, type, odb, id->id, 0);
	return give(out, type, odb, id, check, rc, data, len);
}

int mreg_odb_read_at(mreg_buf *out, git_object_t *type, mreg_odb *odb, const mreg_odb_where *where, const git_oid *id)
{
	unsigned char *data = NULL;
	size_t len = 0;
	if (where->gen != odb->gen || where->pack >= odb->npacks)
		return mreg_odb_read_named(out, type, odb, id);	/* the packs were looked at again since */
	said = false;
	int rc = read_packed(&data, &len, type, odb, &odb->packs[where->pack], where->off, 0);
	return give(out, type, odb, id, false, rc, data, len);
}

int mreg_odb_read(mreg_buf *out, git_object_t *type, mreg_odb *odb, const git_oid *id)
{
	return odb_read(out, type, odb, id, true);
}

int mreg_odb_read_named(mreg_buf *out, git_object_t *type, mreg_odb *odb, const git_oid *id)
{
	return odb_read(out, type, odb, id, false);
}

int mreg_odb_set_keys(mreg_odb *odb, const char *hex, int64_t *keys, size_t n)
{
	size_t hl = strlen(hex);
	for (size_t i = 0; i < odb->npacks; i++) {
		odb_pack *p = &odb->packs[i];
		size_t pl = p->path ? strlen(p->path) : 0;
		if (pl < hl + 5 || strcmp(p->path + pl - hl, hex) || memcmp(p->path + pl - hl - 5, "pack-", 5))
			continue;
		if (!load_index(odb, p) || p->x.count != n || p->keys)
			break;
		p->keys = keys;
		odb->keyed = true;
		return 0;
	}
	free(keys);
	return 1;
}

int mreg_odb_key(int64_t *key, const mreg_odb *odb, const git_oid *id, mreg_odb_where *where)
{
	for (size_t i = 0; odb->keyed && i < odb->npacks; i++) {
		const odb_pack *p = &odb->packs[i];
		uint32_t pos;
		uint64_t off;
		if (!p->idx || !mreg_git_idx_find(&pos, &p->x, id->id))
			continue;
		if (!p->keys || p->keys[pos] < 0 || !p->pack || !mreg_git_idx_offset(&off, &p->x, pos) || off > INT64_MAX)
			return 1;
		*key = p->keys[pos];
		*where = (mreg_odb_where){ i, off, pos, odb->gen };
		return 0;
	}
	return 1;
}

void mreg_odb_clear_keys(mreg_odb *odb)
{
	for (size_t i = 0; i < odb->npacks; i++) {
		free(odb->packs[i].keys);
		odb->packs[i].keys = NULL;
	}
	odb->keyed = false;
}

size_t mreg_odb_npacks(const mreg_odb *odb)
{
	return odb->npacks;
}

unsigned mreg_odb_gen(const mreg_odb *odb)
{
	return odb->gen;
}

bool mreg_odb_pack_info(mreg_odb *odb, size_t i, char hex[41], uint32_t *count, bool *keyed)
{
	if (i >= odb->npacks || !odb->packs[i].path || !load_index(odb, &odb->packs[i]))
		return false;
	const odb_pack *p = &odb->packs[i];
	const char *name = strrchr(p->path, '/');
	name = name ? name + 1 : p->path;
	if (strncmp(name, "pack-", 5) || strlen(name + 5) != 40)
		return false;
	memcpy(hex, name + 5, 41);
	*count = p->x.count;
	*keyed = p->keys != NULL;
	return true;
}

int mreg_odb_has(mreg_odb *odb, const git_oid *id)
{
	for (size_t i = 0; i < odb->npacks; i++)
		if ((odb->packs[i].idx || load_index(odb, &odb->packs[i])) && find_in_index(&odb->packs[i], id->id, NULL) >= 0)
			return 0;
	if (odb->fixed)
		return 1;
	char *path = mreg_git_loose_path(odb->objdir, id);
	int there = path ? access(path, F_OK) == 0 : mreg_error_set(MREG_ERROR, "out of memory");
	free(path);
	return there < 0 ? there : !there;
}

bool mreg_odb_unsure(const mreg_odb *odb)
{
	return odb->unsure;
}

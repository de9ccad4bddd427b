/*
 * Packs, their indexes and loose objects, written.
 *
 * A write adds a handful of objects. Loose objects would cost a file (and
 * an fsync) each and pile up; libgit2's packbuilder would look each object
 * up again, search for deltas (in one thread unless told otherwise) and
 * index the pack by reading it back, none of which a handful of new objects
 * needs. So a write's objects go into one pack written here, plainly: each
 * object as a type-and-size header plus zlib data, then the pack's .idx
 * (version 2) built from what is already in memory, with no object
 * inflated or hashed again.
 *
 * Trees and commits go in as stored (uncompressed) deflate blocks: a tree
 * is mostly object ids, which do not compress (a 7 KiB tree of the events
 * directory shrinks by a fifth), and deflating it costs a quarter of a
 * millisecond here. `git gc` and `mreg gc` compress and delta them anyway.
 *
 * Blobs of at most FIXED_MAX bytes (events: a few hundred bytes, rarely
 * past a kilobyte) are deflated with deflate's fixed Huffman codes, not
 * codes made for each object. A reader builds the fixed codes' tables
 * once, where it built new ones for every event file: at a million events
 * that was a seventh of the cold fold's readers' time. Measured there, the
 * fold takes a sixth less time, for 7% more bytes of objects as written
 * (4.7% after `mreg gc`: an object's own codes cost a header that weighs
 * much against a few hundred bytes). Past a couple of kilobytes the tables
 * weigh little against the inflating, and an object's own codes save more
 * (a 4 KiB model file of numbers, as the benchmark's, is 40% larger with
 * the fixed ones), so larger blobs keep their own. zlib still stores a
 * blob that does not compress. *test_gitpack* checks both sides of the
 * line, and names FIXED_MAX's value.
 *
 * zlib's default window (32 KiB, with 256 KiB of state zeroed per stream)
 * is sized for large inputs; objects here are mostly under a kilobyte, and
 * on this kind of machine every fresh page costs as much as a system call.
 * So the window is the smallest power of two that holds the object, and one
 * stream serves the whole pack.
 *
 * The same writer copies other packs' entries as they are (no inflate, no
 * deflate): the geometric merge of a write's small packs, and a bundle's
 * one pack of everything.
 */
#define _GNU_SOURCE
#include "git.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ---- entries ------------------------------------------------------------ */

/* log2 of the window for an object of len bytes: 9 (512 B) to 15 (32 KiB) */
static int window_bits(size_t len)
{
	int bits = 9;
	while (bits < 15 && ((size_t)1 << bits) < len + 262)	/* 262: zlib's lookahead */
		bits++;
	return bits;
}

/* A zlib stream of stored blocks (at most 65535 bytes each) holding data, appended to b. */
static void put_stored(mreg_buf *b, const void *data, size_t len)
{
	const unsigned char *p = data;
	unsigned char hdr[5];
	uLong adler = adler32_z(1, p, len);
	mreg_buf_put(b, "\x78\x01", 2);
	do {
		size_t n = len > 65535 ? 65535 : len;
		hdr[0] = n == len;	/* BFINAL on the last; BTYPE 00: stored */
		hdr[1] = (unsigned char)n;
		hdr[2] = (unsigned char)(n >> 8);
		hdr[3] = (unsigned char)~n;
		hdr[4] = (unsigned char)(~n >> 8);
		mreg_buf_put(b, hdr, 5);
		mreg_buf_put(b, p, n);
		p += n;
		len -= n;
	} while (len);
	unsigned char a[4];
	mreg_git_put_be32(a, (uint32_t)adler);
	mreg_buf_put(b, a, 4);
}

#define FIXED_MAX 2048	/* the largest object given the fixed codes (above; test_gitpack knows it) */

/*
 * data deflated onto the end of b through w's one stream, sized for the
 * largest object so far, and made anew when an object wants the other
 * codes (a write's objects are nearly all of one kind: events).
 */
static int put_deflated(mreg_buf *b, mreg_git_packw *w, const void *data, size_t len)
{
	z_stream *zs = w->zs;
	int bits = window_bits(len);
	bool fixed = len <= FIXED_MAX;
	if (w->zbits && (bits > w->zbits || fixed != w->zfixed)) {
		deflateEnd(zs);
		w->zbits = 0;
	}
	if (!zs && !(zs = w->zs = calloc(1, sizeof(*zs))))
		return mreg_error_set(MREG_ERROR, "out of memory building a pack");
	if (!w->zbits) {
		memset(zs, 0, sizeof(*zs));
		if (deflateInit2(zs, Z_BEST_SPEED, Z_DEFLATED, bits, bits - 7 < 1 ? 1 : bits - 7,
				 fixed ? Z_FIXED : Z_DEFAULT_STRATEGY) != Z_OK)
			return mreg_error_set(MREG_ERROR, "cannot compress an object for a pack");
		w->zbits = bits;
		w->zfixed = fixed;
	} else if (deflateReset(zs) != Z_OK) {
		return mreg_error_set(MREG_ERROR, "cannot compress an object for a pack");
	}
	size_t bound = deflateBound(zs, (uLong)len);
	if (mreg_buf_grow(b, bound) < 0)
		return mreg_error_set(MREG_ERROR, "out of memory building a pack");
	/* zlib counts in 32 bits: feed it at most a gigabyte at a time, in and out */
	const size_t chunk = (size_t)1 << 30;
	const unsigned char *in = data;
	unsigned char *out = (unsigned char *)b->ptr + b->size;
	size_t left_in = len, left_out = bound;
	int zr;
	do {
		size_t cin = left_in < chunk ? left_in : chunk, cout = left_out < chunk ? left_out : chunk;
		zs->next_in = (Bytef *)(uintptr_t)in;
		zs->avail_in = (uInt)cin;
		zs->next_out = out;
		zs->avail_out = (uInt)cout;
		zr = deflate(zs, cin == left_in ? Z_FINISH : Z_NO_FLUSH);
		size_t used_in = cin - zs->avail_in, used_out = cout - zs->avail_out;
		in += used_in;
		left_in -= used_in;
		out += used_out;
		left_out -= used_out;
		if (zr == Z_STREAM_ERROR || (zr != Z_STREAM_END && !used_in && !used_out))
			return mreg_error_set(MREG_ERROR, "cannot compress an object for a pack");
	} while (zr != Z_STREAM_END);
	b->size += bound - left_out;
	b->ptr[b->size] = '\0';
	return 0;
}

void mreg_git_packw_init(mreg_git_packw *w, bool index, const char *prefix)
{
	memset(w, 0, sizeof(*w));
	mreg_buf_init(&w->pack, 0);
	mreg_buf_init(&w->rows, 0);
	w->index = index;
	if (prefix)
		mreg_buf_puts(&w->pack, prefix);
	w->start = w->pack.size;
	mreg_buf_put(&w->pack, "PACK\0\0\0\2\0\0\0\0", 12);
}

void mreg_git_packw_dispose(mreg_git_packw *w)
{
	if (w->zbits)
		deflateEnd(w->zs);
	free(w->zs);
	w->zs = NULL;
	w->zbits = 0;
	mreg_buf_dispose(&w->pack);
	mreg_buf_dispose(&w->rows);
}

/* The row of the entry that starts at offset (and ends the pack), its CRC-32 computed or given. */
static void put_row(mreg_git_packw *w, const unsigned char *id, size_t offset, const uint32_t *crc)
{
	w->count++;
	if (!w->index)
		return;
	mreg_git_pack_row row;
	memcpy(row.id, id, 20);
	row.offset = offset - w->start;
	row.crc = crc ? *crc
		      : (uint32_t)crc32_z(0, (const Bytef *)w->pack.ptr + offset, w->pack.size - offset);
	mreg_buf_put(&w->rows, &row, sizeof(row));
}

int mreg_git_packw_add(mreg_git_packw *w, const git_oid *id, git_object_t type, const void *data, size_t len)
{
	unsigned char hdr[16];
	size_t n = 0, size = len, start = w->pack.size;
	int rc = 0;
	hdr[n] = (unsigned char)((type << 4) | (size & 15));
	size >>= 4;
	while (size) {
		hdr[n++] |= 0x80;
		hdr[n] = (unsigned char)(size & 0x7f);
		size >>= 7;
	}
	mreg_buf_put(&w->pack, hdr, n + 1);
	if (type == GIT_OBJECT_TREE || type == GIT_OBJECT_COMMIT)
		put_stored(&w->pack, data, len);
	else
		rc = put_deflated(&w->pack, w, data, len);
	if (rc < 0)
		return rc;
	put_row(w, id->id, start, NULL);
	return mreg_buf_oom(&w->pack) || mreg_buf_oom(&w->rows) ? mreg_error_set(MREG_ERROR, "out of memory building a pack")
								 : 0;
}

/* ---- entries of other packs ----------------------------------------- */

typedef struct {
	uint64_t start, end;
	const unsigned char *id;	/* 20 bytes inside the index */
	uint32_t crc;			/* of the entry, from the index */
	const unsigned char *base;	/* an offset delta's base id, found in pass one */
	size_t hdrlen;			/* an offset delta's type-and-size bytes */
	const unsigned char *data;	/* and where its delta data starts */
} copy_entry;

static int cmp_start(const void *a, const void *b)
{
	const copy_entry *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* Every entry's bounds and header checked, offset deltas' bases found; MREG_GIT_UNSURE when any does not hold. */
static int check_entries(copy_entry *e, size_t n, const unsigned char *pack, size_t plen, bool ofs_to_ref)
{
	for (size_t i = 0; i < n; i++) {
		e[i].end = i + 1 < n ? e[i + 1].start : plen - 20;
		mreg_git_entry h;
		if (e[i].start < 12 || e[i].end > plen - 20 || e[i].end <= e[i].start ||
		    !mreg_git_entry_parse(&h, pack + e[i].start, pack + e[i].end))
			return MREG_GIT_UNSURE;
		if (h.type == GIT_OBJECT_OFS_DELTA) {
			if (!ofs_to_ref || h.back > e[i].start || h.data >= pack + e[i].end)
				return MREG_GIT_UNSURE;
			copy_entry key = { .start = e[i].start - h.back };
			const copy_entry *base = bsearch(&key, e, n, sizeof(*e), cmp_start);
			if (!base)
				return MREG_GIT_UNSURE;
			e[i].base = base->id;
			e[i].data = h.data;
			e[i].hdrlen = 1;
			while (pack[e[i].start + e[i].hdrlen - 1] & 0x80)
				e[i].hdrlen++;
		} else if (h.type < GIT_OBJECT_COMMIT || h.type == 5 || h.type > GIT_OBJECT_REF_DELTA) {
			return MREG_GIT_UNSURE;
		}
	}
	return 0;
}

int mreg_git_packw_copy(mreg_git_packw *w, mreg_git_oidset *seen, const void *idx, size_t ilen, const void *pack,
			size_t plen, bool ofs_to_ref)
{
	const unsigned char *pk = pack;
	mreg_git_idx x;
	copy_entry *e = NULL;
	int rc;

	if (mreg_git_idx_parse(&x, idx, ilen) != 0 || plen < 32 || memcmp(pk, "PACK", 4) ||
	    mreg_git_be32(pk + 8) != x.count)
		return MREG_GIT_UNSURE;
	/*
	 * A pack with offset deltas (gc's) cannot be merged as it is: said
	 * before anything is allocated or sorted, from the first such entry in
	 * the index's order (in a pack with deltas, one of the first few)
	 */
	for (uint32_t i = 0; i < x.count && !ofs_to_ref; i++) {
		uint64_t at;
		if (!mreg_git_idx_offset(&at, &x, i) || at < 12 || at >= plen - 20 ||
		    ((pk[at] >> 4) & 7) == GIT_OBJECT_OFS_DELTA)
			return MREG_GIT_UNSURE;
	}
	if (!(e = calloc(x.count ? x.count : 1, sizeof(*e))))
		return mreg_error_set(MREG_ERROR, "out of memory");
	rc = MREG_GIT_UNSURE;
	for (uint32_t i = 0; i < x.count; i++) {
		if (!mreg_git_idx_offset(&e[i].start, &x, i))
			goto done;
		e[i].id = mreg_git_idx_id(&x, i);
		e[i].crc = mreg_git_idx_crc(&x, i);
	}
	qsort(e, x.count, sizeof(*e), cmp_start);
	if ((rc = check_entries(e, x.count, pk, plen, ofs_to_ref)) != 0)
		goto done;
	for (uint32_t i = 0; i < x.count; i++) {
		if ((rc = mreg_git_oidset_add(seen, e[i].id)) < 0)
			goto done;
		if (rc == 0)
			continue;	/* the same object from another pack */
		size_t at = w->pack.size;
		if (!e[i].base) {	/* copied as it is, CRC and all */
			mreg_buf_put(&w->pack, pk + e[i].start, e[i].end - e[i].start);
			put_row(w, e[i].id, at, &e[i].crc);
			continue;
		}
		/* the same size bytes, type 7 (REF_DELTA), the base's id, the delta data */
		unsigned char first = (unsigned char)((pk[e[i].start] & 0x8f) | (GIT_OBJECT_REF_DELTA << 4));
		mreg_buf_put(&w->pack, &first, 1);
		mreg_buf_put(&w->pack, pk + e[i].start + 1, e[i].hdrlen - 1);
		mreg_buf_put(&w->pack, e[i].base, 20);
		mreg_buf_put(&w->pack, e[i].data, (size_t)(pk + e[i].end - e[i].data));
		put_row(w, e[i].id, at, NULL);
	}
	rc = mreg_buf_oom(&w->pack) || mreg_buf_oom(&w->rows) ? mreg_error_set(MREG_ERROR, "out of memory merging packs")
								: 0;
done:
	free(e);
	return rc;
}

/* ---- the pack, its index, their files ---------------------------------- */

int mreg_git_packw_finish(mreg_git_packw *w, char hex[41])
{
	unsigned char sum[20];
	if (mreg_buf_oom(&w->pack))
		return mreg_error_set(MREG_ERROR, "out of memory building a pack");
	mreg_git_put_be32((unsigned char *)w->pack.ptr + w->start + 8, w->count);
	mreg_git_sha1(sum, w->pack.ptr + w->start, w->pack.size - w->start);
	mreg_buf_put(&w->pack, sum, 20);
	mreg_git_hex(hex, sum, 20);
	return mreg_buf_oom(&w->pack) ? mreg_error_set(MREG_ERROR, "out of memory building a pack") : 0;
}

static int cmp_row(const void *a, const void *b)
{
	return memcmp(((const mreg_git_pack_row *)a)->id, ((const mreg_git_pack_row *)b)->id, 20);
}

int mreg_git_idx_build(mreg_buf *out, mreg_git_pack_row *rows, size_t n, const unsigned char sum[20])
{
	unsigned char w[8];
	size_t sorted = 1;
	while (sorted < n && cmp_row(&rows[sorted - 1], &rows[sorted]) <= 0)
		sorted++;
	if (sorted < n)	/* an indexer's rows come sorted already (1.5 million of them for a big bundle) */
		qsort(rows, n, sizeof(*rows), cmp_row);
	mreg_buf_put(out, "\377tOc\0\0\0\2", 8);
	size_t k = 0;
	for (int b = 0; b < 256; b++) {
		while (k < n && rows[k].id[0] <= b)
			k++;
		mreg_git_put_be32(w, (uint32_t)k);
		mreg_buf_put(out, w, 4);
	}
	for (size_t i = 0; i < n; i++)
		mreg_buf_put(out, rows[i].id, 20);
	for (size_t i = 0; i < n; i++) {
		mreg_git_put_be32(w, rows[i].crc);
		mreg_buf_put(out, w, 4);
	}
	uint32_t large = 0;
	for (size_t i = 0; i < n; i++) {
		mreg_git_put_be32(w, rows[i].offset < 0x80000000u ? (uint32_t)rows[i].offset : 0x80000000u | large++);
		mreg_buf_put(out, w, 4);
	}
	for (size_t i = 0; i < n; i++)
		if (rows[i].offset >= 0x80000000u) {
			mreg_git_put_be32(w, (uint32_t)(rows[i].offset >> 32));
			mreg_git_put_be32(w + 4, (uint32_t)rows[i].offset);
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
 * next merge (sweep). The caller renames it into place or removes it.
 */
static int put_tmp(char **tmp, const char *dir, const char *name, const void *data, size_t len, bool sync)
{
	int err = 0, fd;
	if (!(*tmp = mreg_strfmt("%s/%s.mreg-tmp%ld", dir, name, (long)getpid())))
		return mreg_error_set(MREG_ERROR, "out of memory");
	fd = open(*tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
	mreg_span all = { data, 0, len };
	/* written out only: the directory's fsync after the renames is the flush (mreg_fs_flush_data) */
	if (fd < 0 || mreg_fs_write_spans(fd, NULL, &all, 1) < 0 || (sync && mreg_fs_flush_data(fd) < 0))
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

int mreg_git_packw_store(mreg_git_packw *w, const char *packdir, bool sync, char hex[41], bool *created)
{
	int rc;
	*created = false;
	if ((rc = mreg_git_packw_finish(w, hex)) < 0)
		return rc;
	return mreg_git_pack_store(packdir, w->pack.ptr + w->start, w->pack.size - w->start,
				   (mreg_git_pack_row *)(void *)w->rows.ptr, w->rows.size / sizeof(mreg_git_pack_row), sync,
				   hex, created);
}

int mreg_git_pack_store(const char *packdir, const void *pack, size_t len, mreg_git_pack_row *rows, size_t n, bool sync,
			char hex[41], bool *created)
{
	mreg_buf idx = MREG_BUF_INIT;
	int rc = mreg_git_idx_build(&idx, rows, n, (const unsigned char *)pack + len - 20);
	*created = false;
	if (rc == 0)
		rc = mreg_git_pack_store_idx(packdir, pack, len, idx.ptr, idx.size, sync, hex, created);
	mreg_buf_dispose(&idx);
	return rc;
}

int mreg_git_pack_store_idx(const char *packdir, const void *pack, size_t len, const void *idx, size_t idxlen, bool sync,
			    char hex[41], bool *created)
{
	char *ptmp = NULL, *itmp = NULL, *ppath = NULL, *ipath = NULL, name[64];
	int rc = 0;

	*created = false;
	mreg_git_hex(hex, (const unsigned char *)pack + len - 20, 20);
	ppath = mreg_strfmt("%s/pack-%s.pack", packdir, hex);
	ipath = mreg_strfmt("%s/pack-%s.idx", packdir, hex);
	if (!ppath || !ipath) {
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
	if ((rc = put_tmp(&ptmp, packdir, name, pack, len, sync)) < 0)
		goto done;
	snprintf(name, sizeof(name), "pack-%s.idx", hex);
	if ((rc = put_tmp(&itmp, packdir, name, idx, idxlen, sync)) < 0)
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
	if (sync)
		rc = mreg_fs_fsync_dir(packdir);
done:
	if (ptmp)
		unlink(ptmp);
	if (itmp)
		unlink(itmp);
	free(ptmp);
	free(itmp);
	free(ppath);
	free(ipath);
	return rc;
}

int mreg_git_pack_flush(const char *packdir, const char *hex, bool wait)
{
	static const char *const ext[] = { ".pack", ".idx" };
	int rc = 0;
	for (size_t e = 0; e < sizeof(ext) / sizeof(ext[0]) && rc == 0; e++) {
		char *f = mreg_strfmt("%s/pack-%s%s", packdir, hex, ext[e]);
		int fd = f ? open(f, O_RDONLY | O_CLOEXEC) : -1, err = 0;
		if (fd < 0)
			err = f ? errno : ENOMEM;
		else if (wait)
			err = fsync(fd) < 0 ? errno : 0;	/* the data and what records it: renamed long before, its directory's fsync would not say */
		else
			sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);	/* only a start: the wait says what failed */
		if (fd >= 0)
			close(fd);
		if (err && wait)
			rc = mreg_error_set(MREG_ERROR, "cannot flush '%s/pack-%s%s': %s", packdir, hex, ext[e], strerror(err));
		free(f);
	}
	return rc == 0 && wait ? mreg_fs_fsync_dir(packdir) : rc;
}

/* The suffix of a pack's index renamed on its way out: the pack is going. */
#define GONE ".mreg-gone"

/* pack-<hex>'s files but its index (renamed away before) removed, then the name it was renamed to. */
static void remove_rest(const char *packdir, const char *hex)
{
	static const char *const ext[] = { ".pack", ".rev", ".bitmap", GONE };
	for (size_t e = 0; e < sizeof(ext) / sizeof(ext[0]); e++) {
		char *f = mreg_strfmt("%s/pack-%s%s", packdir, hex, ext[e]);
		if (f)
			unlink(f);
		free(f);
	}
}

/*
 * The index goes first, in one step that also says what is under way: it
 * is renamed to pack-<hex>.mreg-gone, so a pack without an index is never
 * read, and a writer killed before the rest is gone leaves that name for
 * the next one (mreg_git_pack_sweep) to finish with. An index that cannot
 * be renamed (gone already) is removed with the rest.
 */
void mreg_git_pack_remove(const char *packdir, const char *hex)
{
	char *idx = mreg_strfmt("%s/pack-%s.idx", packdir, hex), *gone = mreg_strfmt("%s/pack-%s" GONE, packdir, hex);
	/* an index still there keeps its pack: never a live index without one */
	bool idx_gone = idx && gone &&
			(rename(idx, gone) == 0 || errno == ENOENT || unlink(idx) == 0 || errno == ENOENT);
	free(idx);
	free(gone);
	if (idx_gone)
		remove_rest(packdir, hex);
}

static bool is_midx(const char *name)
{
	return !strncmp(name, "multi-pack-index", 16);
}

void mreg_git_pack_remove_midx(const char *packdir)
{
	mreg_fs_unlink_where(packdir, is_midx);
}

/* ---- merging small packs ------------------------------------------------ */

/*
 * What a dead writer left in packdir, removed by the next one (it holds
 * the writer lock, so no mreg is writing): mreg's own temporary files
 * (*.mreg-tmp*), and what is left of the packs it was removing
 * (pack-<hex>.mreg-gone: unless a pack of that name has an index again,
 * written since with the same objects). libgit2's temporary packs
 * (pack_git2_*: an older mreg gc, a backup restore, any libgit2 program
 * fetching) may be another live process's, so they go only once an hour
 * has passed without a write to them; git itself never removes them, and
 * `git gc` warns about them.
 */
#define LIBGIT2_TMP_AGE (60 * 60)

void mreg_git_pack_sweep(const char *packdir)
{
	DIR *d = opendir(packdir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		const char *n = de->d_name;
		bool mine = strstr(n, ".mreg-tmp") != NULL, libgit2 = !strncmp(n, "pack_git2_", 10);
		if (strlen(n) == 45 + strlen(GONE) && !strncmp(n, "pack-", 5) && strspn(n + 5, "0123456789abcdef") == 40 &&
		    !strcmp(n + 45, GONE)) {
			char hex[41], *idx = mreg_strfmt("%s/%.45s.idx", packdir, n), *gone = mreg_strfmt("%s/%s", packdir, n);
			snprintf(hex, sizeof(hex), "%.40s", n + 5);
			int there = idx && gone ? access(idx, F_OK) : 1;	/* 1: out of memory, the next writer then */
			if (there < 0 && errno == ENOENT)
				remove_rest(packdir, hex);
			else if (there == 0)
				unlink(gone);	/* the pack was written again since */
			/* else the index cannot be looked at now: the next writer */
			free(idx);
			free(gone);
			continue;
		}
		if (!mine && !libgit2)
			continue;
		struct stat sb;
		char *path = mreg_strfmt("%s/%s", packdir, de->d_name);
		if (path && (mine || (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
				      (int64_t)sb.st_mtime < mreg_fs_now_usec() / 1000000 - LIBGIT2_TMP_AGE)))
			unlink(path);
		free(path);
	}
	if (d)
		closedir(d);
}

static int cmp_size_asc(const void *a, const void *b)
{
	const mreg_git_packfile *x = a, *y = b;
	return x->size < y->size ? -1 : x->size > y->size ? 1 : strcmp(x->name, y->name);
}

/* The entries of packdir/name (.idx and .pack) into w; MREG_GIT_UNSURE when not copyable, or gone. */
static int copy_pack(mreg_git_packw *w, mreg_git_oidset *seen, const char *packdir, const char *name, bool ofs_to_ref)
{
	const char *idx = NULL, *pack = NULL;
	size_t ilen = 0, plen = 0;
	char *ip = mreg_strfmt("%s/%s.idx", packdir, name), *pp = mreg_strfmt("%s/%s.pack", packdir, name);
	int rc;
	if (!ip || !pp) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	} else if ((rc = mreg_fs_map(&idx, &ilen, ip)) < 0 || (rc = mreg_fs_map(&pack, &plen, pp)) < 0) {
		if (rc == MREG_ENOTFOUND) {	/* gone meanwhile (a git gc): nothing to copy */
			mreg_error_clear();
			rc = MREG_GIT_UNSURE;
		}
	} else {
		rc = mreg_git_packw_copy(w, seen, idx, ilen, pack, plen, ofs_to_ref);
	}
	mreg_fs_unmap(idx, ilen);
	mreg_fs_unmap(pack, plen);
	free(ip);
	free(pp);
	return rc;
}

/*
 * Every write adds one small pack; the small ones are merged geometrically
 * (as `git repack --geometric=2` does) by copying their entries into one
 * new pack, with its index written from the old indexes' ids and CRCs: no
 * compression and no hashing of objects. Smallest first, packs 0..i merge
 * for the largest i whose pack is not at least twice all smaller ones
 * together; what stays is a geometric progression, so each object is
 * copied O(log n) times in all. They merge once more than max_packs of
 * them would (or there are more than PACKS_MAX in all, as a bound on
 * what a lookup tries): the packs of the progression, whose number grows
 * with the log of the history, are not counted, so a merge comes every
 * max_packs writes or so at any size (counting every pack, 38 writes in
 * 100 merged at a million events, in a progression six packs deep, and 21
 * at a thousand). Deltas, which make the history small, are left to `git
 * gc`; a pack whose deltas name bases by offset stays as it is. The
 * merged pack is durable before the old ones are removed, so a crash
 * loses nothing. git's multi-pack-index (and its bitmap) names packs by
 * name: stale once packs go, it goes too (git reads packs through their
 * own .idx files without it).
 */
#define PACKS_MAX(max_packs) (4 * (max_packs))

int mreg_git_pack_merge(const char *packdir, size_t max_packs, bool sync)
{
	mreg_git_packfile *packs = NULL;
	size_t n = 0, k = 0, nmerged = 0;
	bool midx = false, created;
	mreg_git_packw w;
	mreg_git_oidset seen = { NULL, 0, 0 };
	unsigned char *merged = NULL;
	char keep[41];
	int rc;

	mreg_git_pack_sweep(packdir);
	mreg_git_packw_init(&w, true, NULL);
	if ((rc = mreg_git_pack_list(&packs, &n, &midx, packdir)) < 0)
		goto done;
	for (size_t i = 0; i < n; i++)	/* in use, and not kept on purpose */
		if (packs[i].idx && !packs[i].kept && !strncmp(packs[i].name, "pack-", 5))
			packs[k++] = packs[i];
	if ((n = k) <= max_packs)
		goto done;
	qsort(packs, n, sizeof(*packs), cmp_size_asc);
	size_t last = 1;
	int64_t smaller = packs[0].size;
	for (size_t i = 1; i < n; i++) {
		if (packs[i].size < 2 * smaller)
			last = i;
		smaller += packs[i].size;
	}
	if (last + 1 <= max_packs && n <= PACKS_MAX(max_packs))
		goto done;	/* the rest stand in the progression */
	n = last + 1;
	if (!(merged = calloc(n, 1))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		if ((rc = copy_pack(&w, &seen, packdir, packs[i].name, false)) < 0)
			goto done;
		merged[i] = rc == 0;	/* else not copyable (checked before any copy): kept as it is */
		nmerged += rc == 0;
	}
	rc = 0;
	if (nmerged < 2 || (rc = mreg_git_packw_store(&w, packdir, sync, keep, &created)) < 0)
		goto done;
	for (size_t i = 0; i < n; i++)
		if (merged[i] && strcmp(packs[i].name + 5, keep))
			mreg_git_pack_remove(packdir, packs[i].name + 5);
	if (midx)
		mreg_git_pack_remove_midx(packdir);
done:
	mreg_git_oidset_dispose(&seen);
	mreg_git_packw_dispose(&w);
	free(merged);
	free(packs);
	return rc;
}

/* ---- loose objects -------------------------------------------------------- */

int mreg_git_loose_write(const char *path, git_object_t type, const void *data, size_t len, bool sync)
{
	mreg_buf raw = MREG_BUF_INIT, z = MREG_BUF_INIT;
	int rc = 0;
	mreg_buf_printf(&raw, "%s %zu", mreg_git_type_name(type), len);
	mreg_buf_put(&raw, "", 1);
	mreg_buf_put(&raw, data, len);
	uLongf zlen = compressBound((uLong)raw.size);
	if (mreg_buf_oom(&raw) || mreg_buf_grow(&z, zlen) < 0)
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	else if (compress2((Bytef *)z.ptr, &zlen, (const Bytef *)raw.ptr, (uLong)raw.size, Z_BEST_SPEED) != Z_OK)
		rc = mreg_error_set(MREG_ERROR, "cannot compress object '%s'", path);
	else if ((rc = mreg_fs_write_atomic(path, z.ptr, zlen, sync)) == 0)
		chmod(path, 0444);
	if (rc == 0 && sync) {
		/* the fan-out directory may be new: its name in objects/ made durable too */
		char *objdir = mreg_strdup(path), *slash = objdir ? strrchr(objdir, '/') : NULL;
		if (slash) {
			*slash = '\0';
			slash = strrchr(objdir, '/');
		}
		if (slash) {
			*slash = '\0';
			rc = mreg_fs_fsync_dir(objdir);
		}
		free(objdir);
	}
	mreg_buf_dispose(&raw);
	mreg_buf_dispose(&z);
	return rc;
}

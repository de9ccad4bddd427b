/*
 * Writing one commit's new objects as a pack.
 *
 * A write adds a handful of objects (objects.c). Loose objects would cost a
 * file (and an fsync) each and pile up; libgit2's packbuilder starts delta
 * search threads, which costs more than the write itself. So pack entries
 * are written here, plainly: each object as a type-and-size header plus
 * zlib data. Backups use the same to add loose objects to a bundle.
 *
 * Trees and commits go in as stored (uncompressed) deflate blocks: a tree
 * is mostly object ids, which do not compress (a 7 KiB tree of the events
 * directory shrinks by a fifth), and deflating it costs a quarter of a
 * millisecond here. `git gc` and `mreg gc` compress and delta them anyway.
 *
 * zlib's default window (32 KiB, with 256 KiB of state zeroed per stream)
 * is sized for large inputs; objects here are mostly under a kilobyte, and
 * on this kind of machine every fresh page costs as much as a system call.
 * So the window is the smallest power of two that holds the object, and one
 * stream serves the whole pack.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

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
	unsigned char a[4] = { (unsigned char)(adler >> 24), (unsigned char)(adler >> 16), (unsigned char)(adler >> 8),
			       (unsigned char)adler };
	mreg_buf_put(b, a, 4);
}

static int put_object(mreg_buf *b, z_stream *zs, int *zbits, git_object_t type, const void *data, size_t len)
{
	unsigned char hdr[16];
	size_t n = 0, size = len;
	hdr[n] = (unsigned char)((type << 4) | (size & 15));
	size >>= 4;
	while (size) {
		hdr[n++] |= 0x80;
		hdr[n] = (unsigned char)(size & 0x7f);
		size >>= 7;
	}
	mreg_buf_put(b, hdr, n + 1);
	if (type == GIT_OBJECT_TREE || type == GIT_OBJECT_COMMIT) {
		put_stored(b, data, len);
		return mreg_buf_oom(b) ? mreg_error_set(MREG_ERROR, "out of memory building a pack") : 0;
	}
	int bits = window_bits(len);
	if (*zbits && bits > *zbits) {	/* a bigger object than the stream was made for */
		deflateEnd(zs);
		*zbits = 0;
	}
	if (!*zbits) {
		memset(zs, 0, sizeof(*zs));
		if (deflateInit2(zs, Z_BEST_SPEED, Z_DEFLATED, bits, bits - 7 < 1 ? 1 : bits - 7,
				 Z_DEFAULT_STRATEGY) != Z_OK)
			return mreg_error_set(MREG_ERROR, "cannot compress an object for a pack");
		*zbits = bits;
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

int mreg_oid_set_add(mreg_oid_set *s, const unsigned char *oid)
{
	static const unsigned char zero[20];
	if ((s->n + 1) * 2 > s->cap) {
		mreg_oid_set bigger = { NULL, s->cap ? s->cap * 2 : 1024, 0 };
		if (!(bigger.slot = calloc(bigger.cap, 20)))
			return -1;
		for (size_t i = 0; i < s->cap; i++)
			if (memcmp(s->slot[i], zero, 20))
				mreg_oid_set_add(&bigger, s->slot[i]);
		free(s->slot);
		*s = bigger;
	}
	size_t h = ((size_t)oid[0] << 24 | (size_t)oid[1] << 16 | (size_t)oid[2] << 8 | oid[3]) & (s->cap - 1);
	while (memcmp(s->slot[h], zero, 20)) {
		if (!memcmp(s->slot[h], oid, 20))
			return 0;	/* already there */
		h = (h + 1) & (s->cap - 1);
	}
	memcpy(s->slot[h], oid, 20);
	s->n++;
	return 1;
}

int mreg_oid_set_has(const mreg_oid_set *s, const unsigned char *oid)
{
	if (!s->cap)
		return 0;
	static const unsigned char zero[20];
	size_t h = ((size_t)oid[0] << 24 | (size_t)oid[1] << 16 | (size_t)oid[2] << 8 | oid[3]) & (s->cap - 1);
	while (memcmp(s->slot[h], zero, 20)) {
		if (!memcmp(s->slot[h], oid, 20))
			return 1;
		h = (h + 1) & (s->cap - 1);
	}
	return 0;
}

int mreg_pack_put_objects(mreg_buf *out, uint64_t *offsets, uint32_t *crcs, const mreg_obj *objs, size_t n)
{
	z_stream zs;
	int rc = 0, zbits = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		offsets[i] = out->size;
		rc = put_object(out, &zs, &zbits, objs[i].type, objs[i].data, objs[i].len);
		if (rc == 0)
			crcs[i] = (uint32_t)crc32_z(0, (const Bytef *)out->ptr + offsets[i], out->size - offsets[i]);
	}
	if (zbits)
		deflateEnd(&zs);
	return rc;
}

int mreg_pack_put_object(mreg_buf *out, git_object_t type, const void *data, size_t len)
{
	z_stream zs;
	int zbits = 0;
	int rc = put_object(out, &zs, &zbits, type, data, len);
	if (zbits)
		deflateEnd(&zs);
	return rc;
}

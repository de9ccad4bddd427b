/*
 * Writing one commit's new objects as a pack.
 *
 * A write adds a handful of objects: the event blob, maybe an artifact blob,
 * the trees on the paths to them, and the commit. Loose objects would cost a
 * file (and an fsync) each and pile up; libgit2's packbuilder starts delta
 * search threads, which costs more than the write itself. So the pack is
 * built here, plainly: "PACK", version 2, the object count, each object as a
 * type-and-size header plus zlib data, and the SHA-1 of it all. libgit2's
 * indexer then checks it, writes .pack and .idx, and fsyncs both.
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

static void put_be32(mreg_buf *b, uint32_t v)
{
	unsigned char x[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
			       (unsigned char)v };
	mreg_buf_put(b, x, 4);
}

/* log2 of the window for an object of len bytes: 9 (512 B) to 15 (32 KiB) */
static int window_bits(size_t len)
{
	int bits = 9;
	while (bits < 15 && ((size_t)1 << bits) < len + 262)	/* 262: zlib's lookahead */
		bits++;
	return bits;
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
	uLong bound = deflateBound(zs, (uLong)len);
	if (mreg_buf_grow(b, bound) < 0)
		return mreg_error_set(MREG_ERROR, "out of memory building a pack");
	zs->next_in = (Bytef *)(uintptr_t)data;
	zs->avail_in = (uInt)len;
	zs->next_out = (Bytef *)b->ptr + b->size;
	zs->avail_out = (uInt)bound;
	if (deflate(zs, Z_FINISH) != Z_STREAM_END)
		return mreg_error_set(MREG_ERROR, "cannot compress an object for a pack");
	b->size += zs->total_out;
	b->ptr[b->size] = '\0';
	return 0;
}

int mreg_pack_build(mreg_buf *out, char name[41], git_odb *odb, const git_oid *ids, size_t n)
{
	unsigned char sum[20];
	z_stream zs;
	int rc = 0, zbits = 0;

	mreg_buf_puts(out, "PACK");
	put_be32(out, 2);
	put_be32(out, (uint32_t)n);
	for (size_t i = 0; i < n && rc == 0; i++) {
		git_odb_object *o = NULL;
		if (git_odb_read(&o, odb, &ids[i]) < 0) {
			rc = mreg_git_error("cannot read a new object for the pack of", "commit");
			break;
		}
		rc = put_object(out, &zs, &zbits, git_odb_object_type(o), git_odb_object_data(o),
				git_odb_object_size(o));
		git_odb_object_free(o);
	}
	if (zbits)
		deflateEnd(&zs);
	if (rc < 0)
		return rc;
	if (mreg_buf_oom(out))
		return mreg_error_set(MREG_ERROR, "out of memory building a pack");
	mreg_sha1(sum, out->ptr, out->size);
	mreg_buf_put(out, sum, 20);
	/* the indexer names the pack after its checksum */
	mreg_sha1_hex(name, sum);
	return mreg_buf_oom(out) ? mreg_error_set(MREG_ERROR, "out of memory building a pack") : 0;
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

int mreg_pack_put_object(mreg_buf *out, git_object_t type, const void *data, size_t len)
{
	z_stream zs;
	int zbits = 0;
	int rc = put_object(out, &zs, &zbits, type, data, len);
	if (zbits)
		deflateEnd(&zs);
	return rc;
}

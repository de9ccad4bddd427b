/*
 * git's formats as mreg's reader and indexer read them: the one parser of
 * pack indexes, of pack entry headers and of tree objects, and the one
 * place deltas are applied.
 *
 * Pack layout (git's pack-format): "PACK", version 2 or 3, count; then per
 * entry a header (type in bits 4-6 of the first byte, size in 4 + 7n bits),
 * for an offset delta the distance back to its base (7 bits a byte, each
 * continuation adding one), for an id delta the base's 20 bytes; then zlib
 * data. A delta is the base's size and the result's size (7-bit varints),
 * then instructions: copy (high bit; flags say which offset and size bytes
 * follow; size 0 means 0x10000) or insert (1 to 127 literal bytes).
 * Index version 2: "\377tOc", 2, 256 cumulative counts, sorted ids, CRCs,
 * 31-bit offsets (high bit: index into the 64-bit offsets that follow).
 */
#include "git.h"

#include <stdlib.h>
#include <string.h>

/* ---- the .idx parser --------------------------------------------------- */

int mreg_git_idx_parse(mreg_git_idx *out, const void *data, size_t len)
{
	const unsigned char *p = data;
	memset(out, 0, sizeof(*out));
	if (len < 8 + 1024 + 40 || memcmp(p, "\377tOc\0\0\0\2", 8))
		return MREG_GIT_UNSURE;
	uint32_t n = mreg_git_be32(p + 8 + 255 * 4);
	if ((uint64_t)len < 8 + 1024 + (uint64_t)n * 28 + 40)
		return MREG_GIT_UNSURE;
	for (int b = 1; b < 256; b++)	/* cumulative counts never go down */
		if (mreg_git_be32(p + 8 + 4 * b) < mreg_git_be32(p + 8 + 4 * (b - 1)))
			return MREG_GIT_UNSURE;
	out->base = p;
	out->len = len;
	out->count = n;
	out->fanout = p + 8;
	out->ids = p + 8 + 1024;
	out->crcs = out->ids + (size_t)n * 20;
	out->offs = out->crcs + (size_t)n * 4;
	out->big = out->offs + (size_t)n * 4;
	out->nbig = (len - 40 - (size_t)(out->big - p)) / 8;
	return 0;
}

bool mreg_git_idx_offset(uint64_t *out, const mreg_git_idx *x, uint32_t i)
{
	uint32_t o = mreg_git_be32(x->offs + (size_t)i * 4);
	if (!(o & 0x80000000u)) {
		*out = o;
		return true;
	}
	size_t k = o & 0x7fffffffu;
	if (k >= x->nbig)
		return false;
	*out = (uint64_t)mreg_git_be32(x->big + k * 8) << 32 | mreg_git_be32(x->big + k * 8 + 4);
	return true;
}

#define RADIX_BUCKETS 65536

bool mreg_git_idx_find(uint32_t *pos, const mreg_git_idx *x, const unsigned char id[20])
{
	uint32_t lo, hi;
	if (x->radix) {
		size_t k = (size_t)id[0] << 8 | id[1];
		lo = x->radix[k];
		hi = x->radix[k + 1];
	} else {
		lo = id[0] ? mreg_git_be32(x->fanout + 4 * (id[0] - 1)) : 0;
		hi = mreg_git_be32(x->fanout + 4 * id[0]);
	}
	if (hi > x->count || lo > hi)
		return false;
	while (lo < hi) {	/* the first id not below id */
		uint32_t mid = lo + (hi - lo) / 2;
		if (memcmp(x->ids + (size_t)mid * 20, id, 20) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo >= x->count || memcmp(x->ids + (size_t)lo * 20, id, 20))
		return false;
	*pos = lo;
	return true;
}

bool mreg_git_idx_radix(mreg_git_idx *x)
{
	if (x->radix)
		return true;
	uint32_t *r = malloc((RADIX_BUCKETS + 1) * sizeof(*r));
	if (!r)
		return false;
	/* built only forwards: ids out of order (a damaged index) cannot make a bucket end before it starts */
	size_t b = 0;
	for (uint32_t i = 0; i < x->count; i++) {
		size_t k = (size_t)x->ids[(size_t)i * 20] << 8 | x->ids[(size_t)i * 20 + 1];
		while (b <= k)
			r[b++] = i;
	}
	while (b <= RADIX_BUCKETS)
		r[b++] = x->count;
	x->radix = r;
	return true;
}

void mreg_git_idx_radix_free(mreg_git_idx *x)
{
	free(x->radix);
	x->radix = NULL;
}

/* ---- pack entries and trees -------------------------------------------- */

bool mreg_git_entry_parse(mreg_git_entry *out, const unsigned char *q, const unsigned char *end)
{
	if (q >= end)
		return false;
	unsigned c = *q++;
	out->type = (c >> 4) & 7;
	out->size = c & 15;
	out->back = 0;
	int shift = 4;
	while (c & 0x80) {
		if (q >= end || shift > 57)
			return false;
		c = *q++;
		out->size |= (uint64_t)(c & 0x7f) << shift;
		shift += 7;
	}
	if (out->type == GIT_OBJECT_OFS_DELTA) {
		if (q >= end)
			return false;
		c = *q++;
		uint64_t back = c & 0x7f;
		while (c & 0x80) {
			if (q >= end || back >= ((uint64_t)1 << 56))
				return false;
			c = *q++;
			back = ((back + 1) << 7) | (c & 0x7f);
		}
		if (back == 0)
			return false;
		out->back = back;
	}
	out->data = q;
	return true;
}

int mreg_git_tree_next(mreg_git_tree_entry *out, const char **pp, const char *end)
{
	const char *p = *pp;
	if (p >= end)
		return 0;
	const char *sp = memchr(p, ' ', (size_t)(end - p));
	const char *nul = sp ? memchr(sp, '\0', (size_t)(end - sp)) : NULL;
	if (!sp || !nul || end - nul < 21 || sp == p || nul == sp + 1)
		return MREG_ECORRUPT;
	unsigned m = 0;
	for (const char *d = p; d < sp; d++) {
		if (*d < '0' || *d > '7' || m > 0177777 / 8)	/* libgit2 reads 16-bit modes */
			return MREG_ECORRUPT;
		m = m * 8 + (unsigned)(*d - '0');
	}
	if (nul - sp - 1 > 0xffff)	/* and names of at most 65535 bytes */
		return MREG_ECORRUPT;
	out->mode = m;
	out->rawmode = p;
	out->rawlen = (size_t)(sp - p);
	out->name = sp + 1;
	out->len = (size_t)(nul - sp - 1);
	memcpy(out->id.id, nul + 1, 20);
	*pp = nul + 21;
	return 1;
}

bool mreg_git_tree_find(mreg_git_tree_entry *out, const char *data, size_t len, const char *name, size_t n)
{
	const char *p = data, *end = data + len;
	while (mreg_git_tree_next(out, &p, end) == 1)
		if (out->len == n && !memcmp(out->name, name, n))
			return true;
	return false;
}

/* ---- deltas --------------------------------------------------------------- */

/* A 7-bit varint of a delta header. */
bool mreg_git_delta_size(size_t *out, const unsigned char **p, const unsigned char *end)
{
	size_t v = 0;
	int shift = 0;
	do {
		if (*p >= end || shift > 56)
			return false;
		v |= (size_t)(**p & 0x7f) << shift;
		shift += 7;
	} while (*(*p)++ & 0x80);
	*out = v;
	return true;
}

int mreg_git_delta_apply(unsigned char **out, size_t *outlen, const unsigned char *base, size_t baselen,
			 const unsigned char *d, size_t dlen, size_t max)
{
	const unsigned char *p = d, *end = d + dlen;
	size_t src, dst;
	if (!mreg_git_delta_size(&src, &p, end) || !mreg_git_delta_size(&dst, &p, end) || src != baselen || dst > max)
		return MREG_ECORRUPT;
	unsigned char *buf = malloc(dst + 1), *w = buf;
	if (!buf)
		return mreg_error_set(MREG_ERROR, "out of memory");
	while (p < end) {
		unsigned char op = *p++;
		if (op & 0x80) {
			size_t off = 0, n = 0;
			for (int i = 0; i < 4; i++)
				if (op & (1 << i)) {
					if (p >= end)
						goto bad;
					off |= (size_t)*p++ << (8 * i);
				}
			for (int i = 0; i < 3; i++)
				if (op & (0x10 << i)) {
					if (p >= end)
						goto bad;
					n |= (size_t)*p++ << (8 * i);
				}
			if (!n)
				n = 0x10000;
			if (off > baselen || n > baselen - off || n > dst - (size_t)(w - buf))
				goto bad;
			memcpy(w, base + off, n);
			w += n;
		} else if (op) {
			if (op > end - p || op > dst - (size_t)(w - buf))
				goto bad;
			memcpy(w, p, op);
			w += op;
			p += op;
		} else {
			goto bad;
		}
	}
	if ((size_t)(w - buf) != dst)
		goto bad;
	buf[dst] = '\0';
	*out = buf;
	*outlen = dst;
	return 0;
bad:
	free(buf);
	return MREG_ECORRUPT;
}

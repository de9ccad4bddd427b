/*
 * Object ids and checksums: SHA-1 from OpenSSL's libcrypto, which the
 * binary links anyway (for SHA-256 and libgit2's transports) and which uses
 * the processor's SHA extensions where it has them; a hand-written SHA-1
 * was no faster, measured, and nettle's costs every process its start-up
 * constructor (two page faults more per command, measured). The low-level
 * calls, not EVP: EVP allocates and looks up a context per digest. Then
 * git's object header around it, and a set of object ids.
 */
/* SHA1_Init and friends: deprecated in OpenSSL 3 for EVP, which costs an allocation and a lookup a call */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "git.h"

#include <stdlib.h>
#include <string.h>

void mreg_git_sha1_init(mreg_git_sha1_ctx *c)
{
	SHA1_Init(c);
}

void mreg_git_sha1_update(mreg_git_sha1_ctx *c, const void *data, size_t len)
{
	SHA1_Update(c, data, len);
}

void mreg_git_sha1_final(mreg_git_sha1_ctx *c, unsigned char out[20])
{
	SHA1_Final(out, c);
}

void mreg_git_sha1(unsigned char out[20], const void *data, size_t len)
{
	/* not SHA1(): OpenSSL 3 runs it through EVP, which loads its provider (some 30 page faults) */
	SHA_CTX c;
	SHA1_Init(&c);
	SHA1_Update(&c, data, len);
	SHA1_Final(out, &c);
}

void mreg_git_hex(char *out, const unsigned char *bytes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = "0123456789abcdef"[bytes[i] >> 4];
		out[2 * i + 1] = "0123456789abcdef"[bytes[i] & 15];
	}
	out[2 * n] = '\0';
}

const char *mreg_git_type_name(git_object_t type)
{
	return type == GIT_OBJECT_BLOB ? "blob" : type == GIT_OBJECT_TREE ? "tree" : type == GIT_OBJECT_TAG ? "tag" : "commit";
}

void mreg_git_hash(git_oid *out, git_object_t type, const void *data, size_t len)
{
	char hdr[32], digits[24];
	const char *name = mreg_git_type_name(type);
	size_t k = 0, nd = 0;
	while (name[k]) {
		hdr[k] = name[k];
		k++;
	}
	hdr[k++] = ' ';
	for (size_t v = len; nd == 0 || v; v /= 10)
		digits[nd++] = (char)('0' + v % 10);
	while (nd)
		hdr[k++] = digits[--nd];
	hdr[k++] = '\0';
	SHA_CTX c;
	SHA1_Init(&c);
	SHA1_Update(&c, hdr, k);
	SHA1_Update(&c, data, len);
	SHA1_Final(out->id, &c);
}

/* ---- a set of ids -------------------------------------------------------- */

static size_t slot_of(const mreg_git_oidset *s, const unsigned char *id)
{
	return ((size_t)id[0] << 24 | (size_t)id[1] << 16 | (size_t)id[2] << 8 | id[3]) & (s->cap - 1);
}

/* A slot's first eight bytes, compared before the rest: most slots differ there. */
static inline uint64_t head8(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline bool is_empty(const unsigned char *slot)
{
	static const unsigned char zero[20];
	return head8(slot) == 0 && !memcmp(slot + 8, zero + 8, 12);
}

static inline bool same_id(const unsigned char *a, const unsigned char *b)
{
	return head8(a) == head8(b) && !memcmp(a + 8, b + 8, 12);
}

/* Room for cap slots (a power of two), the ids there moved over. */
static int grow(mreg_git_oidset *s, size_t cap)
{
	mreg_git_oidset bigger = { NULL, cap, 0 };
	if (!(bigger.slot = calloc(bigger.cap, 20)))
		return mreg_error_set(MREG_ERROR, "out of memory");
	for (size_t i = 0; i < s->cap; i++)
		if (!is_empty(s->slot[i])) {
			size_t h = slot_of(&bigger, s->slot[i]);
			while (!is_empty(bigger.slot[h]))
				h = (h + 1) & (bigger.cap - 1);
			memcpy(bigger.slot[h], s->slot[i], 20);
			bigger.n++;
		}
	free(s->slot);
	*s = bigger;
	return 0;
}

int mreg_git_oidset_reserve(mreg_git_oidset *s, size_t n)
{
	size_t cap = s->cap ? s->cap : 1024;
	while (cap < n * 2 && cap < ((size_t)1 << 40))
		cap *= 2;
	return cap > s->cap ? grow(s, cap) : 0;
}

int mreg_git_oidset_add(mreg_git_oidset *s, const unsigned char id[20])
{
	if ((s->n + 1) * 2 > s->cap && grow(s, s->cap ? s->cap * 2 : 1024) < 0)
		return MREG_ERROR;
	size_t h = slot_of(s, id);
	while (!is_empty(s->slot[h])) {
		if (same_id(s->slot[h], id))
			return 0;	/* already there */
		h = (h + 1) & (s->cap - 1);
	}
	memcpy(s->slot[h], id, 20);
	s->n++;
	return 1;
}

bool mreg_git_oidset_has(const mreg_git_oidset *s, const unsigned char id[20])
{
	if (!s->cap)
		return false;
	for (size_t h = slot_of(s, id); !is_empty(s->slot[h]); h = (h + 1) & (s->cap - 1))
		if (same_id(s->slot[h], id))
			return true;
	return false;
}

size_t mreg_git_oidset_count_not_in(const mreg_git_oidset *s, const mreg_git_oidset *other)
{
	size_t n = 0;
	for (size_t i = 0; i < s->cap; i++)
		n += !is_empty(s->slot[i]) && !mreg_git_oidset_has(other, s->slot[i]);
	return n;
}

void mreg_git_oidset_dispose(mreg_git_oidset *s)
{
	free(s->slot);
	*s = (mreg_git_oidset){ NULL, 0, 0 };
}

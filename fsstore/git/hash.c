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

int mreg_git_oidset_add(mreg_git_oidset *s, const unsigned char id[20])
{
	static const unsigned char zero[20];
	if ((s->n + 1) * 2 > s->cap) {
		mreg_git_oidset bigger = { NULL, s->cap ? s->cap * 2 : 1024, 0 };
		if (!(bigger.slot = calloc(bigger.cap, 20)))
			return mreg_error_set(MREG_ERROR, "out of memory");
		for (size_t i = 0; i < s->cap; i++)
			if (memcmp(s->slot[i], zero, 20))
				mreg_git_oidset_add(&bigger, s->slot[i]);
		free(s->slot);
		*s = bigger;
	}
	size_t h = slot_of(s, id);
	while (memcmp(s->slot[h], zero, 20)) {
		if (!memcmp(s->slot[h], id, 20))
			return 0;	/* already there */
		h = (h + 1) & (s->cap - 1);
	}
	memcpy(s->slot[h], id, 20);
	s->n++;
	return 1;
}

bool mreg_git_oidset_has(const mreg_git_oidset *s, const unsigned char id[20])
{
	static const unsigned char zero[20];
	if (!s->cap)
		return false;
	for (size_t h = slot_of(s, id); memcmp(s->slot[h], zero, 20); h = (h + 1) & (s->cap - 1))
		if (!memcmp(s->slot[h], id, 20))
			return true;
	return false;
}

void mreg_git_oidset_dispose(mreg_git_oidset *s)
{
	free(s->slot);
	*s = (mreg_git_oidset){ NULL, 0, 0 };
}

/*
 * SHA-1, for the checksums git puts at the end of a pack, a pack index and
 * the index file. Object ids are libgit2's business; these trailers are plain
 * SHA-1 over bytes mreg writes itself. Written here so that a write does not
 * start a crypto library's provider machinery, which costs more page faults
 * than the hashing.
 */
#ifndef MREG_SHA1_H
#define MREG_SHA1_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
	uint32_t h[5];
	uint64_t total;		/* bytes seen */
	unsigned char block[64];
	size_t fill;		/* bytes waiting in block */
} mreg_sha1_ctx;

void mreg_sha1_init(mreg_sha1_ctx *c);
void mreg_sha1_update(mreg_sha1_ctx *c, const void *data, size_t len);
void mreg_sha1_final(mreg_sha1_ctx *c, unsigned char out[20]);
/* One call: out = SHA-1(data). */
void mreg_sha1(unsigned char out[20], const void *data, size_t len);
/* Set by tests to check the plain C steps on a processor with SHA extensions. */
extern bool mreg_sha1_use_plain;
/* out = the 40 lowercase hex digits of sum, NUL-terminated. */
void mreg_sha1_hex(char out[41], const unsigned char sum[20]);
#endif

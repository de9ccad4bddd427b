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
 */
#include "internal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>
#include <zlib.h>

static void put_be32(mreg_buf *b, uint32_t v)
{
	unsigned char x[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
			       (unsigned char)v };
	mreg_buf_put(b, x, 4);
}

static int put_object(mreg_buf *b, git_object_t type, const void *data, size_t len)
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
	uLongf zlen = compressBound((uLong)len);
	if (mreg_buf_grow(b, zlen) < 0)
		return mreg_error_set(MREG_ERROR, "out of memory building a pack");
	if (compress2((Bytef *)b->ptr + b->size, &zlen, data, (uLong)len, Z_BEST_SPEED) != Z_OK)
		return mreg_error_set(MREG_ERROR, "cannot compress an object for a pack");
	b->size += zlen;
	b->ptr[b->size] = '\0';
	return 0;
}

int mreg_pack_build(mreg_buf *out, char name[41], git_odb *odb, const git_oid *ids, size_t n)
{
	unsigned char sum[EVP_MAX_MD_SIZE];
	unsigned int sumlen = 0;
	int rc = 0;
	static int ssl_ready;

	if (!ssl_ready) {
		/* a digest needs no openssl.cnf: skip reading and parsing it */
		OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
		ssl_ready = 1;
	}

	mreg_buf_puts(out, "PACK");
	put_be32(out, 2);
	put_be32(out, (uint32_t)n);
	for (size_t i = 0; i < n && rc == 0; i++) {
		git_odb_object *o = NULL;
		if (git_odb_read(&o, odb, &ids[i]) < 0)
			return mreg_git_error("cannot read a new object for the pack of", "commit");
		rc = put_object(out, git_odb_object_type(o), git_odb_object_data(o), git_odb_object_size(o));
		git_odb_object_free(o);
	}
	if (rc < 0)
		return rc;
	if (!EVP_Digest(out->ptr, out->size, sum, &sumlen, EVP_sha1(), NULL) || sumlen != 20)
		return mreg_error_set(MREG_ERROR, "cannot checksum a pack");
	mreg_buf_put(out, sum, 20);
	/* the indexer names the pack after its checksum */
	for (int i = 0; i < 20; i++) {
		name[2 * i] = "0123456789abcdef"[sum[i] >> 4];
		name[2 * i + 1] = "0123456789abcdef"[sum[i] & 15];
	}
	name[40] = '\0';
	return mreg_buf_oom(out) ? mreg_error_set(MREG_ERROR, "out of memory building a pack") : 0;
}

/*
 * fsstore/git/: git's formats, and nothing of mreg.
 *
 * Everything that reads or writes bytes in a format git defines lives
 * here, once: object ids, loose and packed objects, pack indexes, trees,
 * refs and their reflogs, the config files, the index file. The rest of
 * fsstore/ calls these functions and never parses a git format itself;
 * nothing here includes a header of mreg's registry (only core/common.h,
 * for the error codes and the growable buffer, and the libraries).
 *
 * One rule: where this code is not sure to read what libgit2 would (a
 * feature it does not handle, a file it cannot parse), it answers
 * MREG_GIT_UNSURE, and the caller asks libgit2, which reads the same files
 * the way it always has. So the two never disagree about what is there.
 */
#ifndef MREG_GIT_H
#define MREG_GIT_H

#include "../../core/common.h"
#include "../fsutil.h"

#include <git2.h>
#include <nettle/sha1.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MREG_GIT_UNSURE 1	/* "ask libgit2": never an error, never an answer */

/* ---- hash.c: object ids and checksums ---------------------------------- */

/* SHA-1, nettle's: the checksums git puts at the end of packs, pack indexes and the index file. */
typedef struct sha1_ctx mreg_git_sha1_ctx;
void mreg_git_sha1_init(mreg_git_sha1_ctx *c);
void mreg_git_sha1_update(mreg_git_sha1_ctx *c, const void *data, size_t len);
void mreg_git_sha1_final(mreg_git_sha1_ctx *c, unsigned char out[20]);
void mreg_git_sha1(unsigned char out[20], const void *data, size_t len);
/* The 2n lowercase hex digits of n bytes, NUL-terminated. */
void mreg_git_hex(char *out, const unsigned char *bytes, size_t n);
/* "commit", "tree", "blob" or "tag", as object headers name them */
const char *mreg_git_type_name(git_object_t type);
/* An object's id: SHA-1 of "<type> <size>\0" and its bytes. */
void mreg_git_hash(git_oid *out, git_object_t type, const void *data, size_t len);

/* Big-endian 32-bit numbers, as every git file format writes them. */
static inline uint32_t mreg_git_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void mreg_git_put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* ---- odb.c: objects read without libgit2, the one .idx parser, the one tree parser ---- */

typedef struct mreg_odb mreg_odb;
int mreg_odb_open(mreg_odb **out, const char *objdir);	/* objdir ends in '/' */
void mreg_odb_free(mreg_odb *odb);
/*
 * The object's type and bytes (checked against id) into out. 1: not found
 * here; whether libgit2 could find it, mreg_odb_unsure says (alternates, a
 * multi-pack-index, an index this reader does not read). ECORRUPT: damaged.
 */
int mreg_odb_read(mreg_buf *out, git_object_t *type, mreg_odb *odb, const git_oid *id);
bool mreg_odb_unsure(const mreg_odb *odb);
/* Look at objects/pack again: packs written since are read, packs removed since dropped. */
int mreg_odb_refresh(mreg_odb *odb);

/*
 * A pack index, version 2: "\377tOc", 2, 256 cumulative counts, the sorted
 * ids, their CRC-32s, 31-bit offsets (the high bit points into the 64-bit
 * offsets that follow), then the pack's and the index's checksums. Parsed
 * in place (the bytes stay the caller's).
 */
typedef struct {
	const unsigned char *base;
	size_t len;
	uint32_t count;
	const unsigned char *fanout, *ids, *crcs, *offs, *big;
	size_t nbig;		/* 64-bit offsets there is room for */
} mreg_git_idx;
/* 0, or MREG_GIT_UNSURE when the bytes are not a version 2 index this code reads */
int mreg_git_idx_parse(mreg_git_idx *out, const void *data, size_t len);
/* The entry i's id (20 bytes), CRC-32 and offset in the pack; offset false when it points nowhere. */
static inline const unsigned char *mreg_git_idx_id(const mreg_git_idx *x, uint32_t i)
{
	return x->ids + (size_t)i * 20;
}
static inline uint32_t mreg_git_idx_crc(const mreg_git_idx *x, uint32_t i)
{
	return mreg_git_be32(x->crcs + (size_t)i * 4);
}
bool mreg_git_idx_offset(uint64_t *out, const mreg_git_idx *x, uint32_t i);
/* The position of id, or false. */
bool mreg_git_idx_find(uint32_t *pos, const mreg_git_idx *x, const unsigned char id[20]);

/*
 * A pack entry's header at p (before end): type (bits 4-6 of the first
 * byte) and size (4 + 7n bits); for an offset delta, the distance back to
 * its base. *data: where the zlib data (or, for an id delta, the base's
 * id) starts. false when the header runs past end or overflows.
 */
typedef struct {
	int type;		/* 1-4 objects, 6 OFS_DELTA, 7 REF_DELTA */
	uint64_t size;
	uint64_t back;		/* OFS_DELTA: the base is this many bytes before the entry */
	const unsigned char *data;
} mreg_git_entry;
bool mreg_git_entry_parse(mreg_git_entry *out, const unsigned char *p, const unsigned char *end);

/* One tree entry: its name, mode (040000 a directory), the mode as written, and id. */
typedef struct {
	const char *name;
	size_t len;
	unsigned mode;
	const char *rawmode;	/* "40000", "100644", "100755", "120000", "160000" */
	size_t rawlen;
	git_oid id;
} mreg_git_tree_entry;
/* The next entry of a tree object's bytes at *p (advanced): 1, 0 at the end, MREG_ECORRUPT if malformed. */
int mreg_git_tree_next(mreg_git_tree_entry *out, const char **p, const char *end);
/* The entry called name (n bytes) in a tree object's bytes; false when there is none (or it is malformed). */
bool mreg_git_tree_find(mreg_git_tree_entry *out, const char *data, size_t len, const char *name, size_t n);

#endif

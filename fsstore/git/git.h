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
#include <openssl/sha.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define MREG_GIT_UNSURE 1	/* "ask libgit2": never an error, never an answer */

/* ---- hash.c: object ids and checksums ---------------------------------- */

/* SHA-1, OpenSSL's: the checksums git puts at the end of packs, pack indexes and the index file. */
typedef SHA_CTX mreg_git_sha1_ctx;
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

/* A set of object ids (open addressing; the all-zero id cannot be stored); zero-initialise, dispose when done. */
typedef struct {
	unsigned char (*slot)[20];
	size_t cap, n;
} mreg_git_oidset;
/* 1 added, 0 already there, MREG_ERROR out of memory */
int mreg_git_oidset_add(mreg_git_oidset *s, const unsigned char id[20]);
/* Room for n ids without growing again (a walk that knows how many objects there are). */
int mreg_git_oidset_reserve(mreg_git_oidset *s, size_t n);
bool mreg_git_oidset_has(const mreg_git_oidset *s, const unsigned char id[20]);
/* How many ids of s other does not hold. */
size_t mreg_git_oidset_count_not_in(const mreg_git_oidset *s, const mreg_git_oidset *other);
void mreg_git_oidset_dispose(mreg_git_oidset *s);

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

/* ---- odb.c: objects read without libgit2 ---------------------------- */

typedef struct mreg_odb mreg_odb;
int mreg_odb_open(mreg_odb **out, const char *objdir);	/* objdir ends in '/' */
/*
 * An odb of one pack in memory (len bytes, the caller's, kept until the odb
 * is freed) and its .idx (idxlen bytes on the heap: the odb's from here,
 * even when this fails); `what` names it in messages. Nothing else is
 * read: no directory, no loose object.
 */
int mreg_odb_open_pack(mreg_odb **out, const char *what, const unsigned char *pack, size_t len, unsigned char *idx,
		       size_t idxlen);
void mreg_odb_free(mreg_odb *odb);
/*
 * The object's type and bytes (checked against id) into out. 1: not found
 * here; whether libgit2 could find it, mreg_odb_unsure says (alternates, a
 * multi-pack-index, an index this reader does not read). ECORRUPT: damaged.
 */
int mreg_odb_read(mreg_buf *out, git_object_t *type, mreg_odb *odb, const git_oid *id);
/*
 * The same without the SHA-1 of the bytes, for objects the caller checks by
 * a name of their own (an event file is named by the xxh128 of its bytes);
 * zlib's checksum still catches damaged compressed data.
 */
int mreg_odb_read_named(mreg_buf *out, git_object_t *type, mreg_odb *odb, const git_oid *id);
bool mreg_odb_unsure(const mreg_odb *odb);
/* 0: id is here (in a pack's index, or a loose file), unread; 1: not found here, as mreg_odb_read. */
int mreg_odb_has(mreg_odb *odb, const git_oid *id);
/* Look at objects/pack again: packs written since are read, packs removed since dropped. */
int mreg_odb_refresh(mreg_odb *odb);
/*
 * Look at objects/pack again and open every pack and index now (a large
 * index with its radix, for the many lookups to come): after it, reads
 * change nothing in odb, so several threads may read at once (a
 * pack that appears later is not seen; a miss is 1 as always). A thread
 * that read calls mreg_odb_thread_done before it ends.
 */
int mreg_odb_ready(mreg_odb *odb);
/* How many objects the indexes opened so far list (a pack's objects counted once a pack). */
size_t mreg_odb_count(const mreg_odb *odb);
void mreg_odb_thread_done(void);
/*
 * The first bytes of a packed object, at most want of them, with its type:
 * for a look at the head of many objects. One whole in its pack is
 * inflated no further than that; a delta is resolved whole. 1: not so here
 * (a loose object, not found, damaged), for a full read to settle. Reads
 * only; an odb made ready may be peeked by several threads at once.
 */
/* Where a peek found an object: a pack of the odb (made ready), the entry's offset there, the pack list's generation. */
typedef struct {
	size_t pack;
	uint64_t off;
	uint32_t pos;		/* its place in the pack's .idx */
	unsigned gen;
} mreg_odb_where;
int mreg_odb_peek(unsigned char *out, size_t *got, size_t want, git_object_t *type, const mreg_odb *odb,
		  const git_oid *id, mreg_odb_where *where);
/*
 * The object a peek of the same ready odb found at where, read whole
 * without looking its id up again, and as mreg_odb_read_named (no SHA-1:
 * the caller checks the bytes by a name of its own). Several threads at
 * once, as peek; if the packs were looked at again since the peek
 * (mreg_odb_refresh, mreg_odb_ready), read by id instead.
 */
int mreg_odb_read_at(mreg_buf *out, git_object_t *type, mreg_odb *odb, const mreg_odb_where *where, const git_oid *id);
/*
 * Keys for the objects of the pack named pack-<hex> (n of them, in its
 * .idx's order, -1 for none: mreg_git_index_pack_mem's), kept with the
 * pack while the odb has it. keys is the odb's from here on. 1 (and keys
 * freed): no such pack, or not that many objects in it.
 */
int mreg_odb_set_keys(mreg_odb *odb, const char *hex, int64_t *keys, size_t n);
/*
 * The key set for id, and where id lies (as a peek finds it): 0; 1 when no
 * key is set for it. Reads only, as peek.
 */
int mreg_odb_key(int64_t *key, const mreg_odb *odb, const git_oid *id, mreg_odb_where *where);
/* Every pack's keys dropped: mreg_odb_key finds none. */
void mreg_odb_clear_keys(mreg_odb *odb);
/* The odb's packs (a where's pack is one of them) and their generation (a where's gen). */
size_t mreg_odb_npacks(const mreg_odb *odb);
unsigned mreg_odb_gen(const mreg_odb *odb);
/* Pack i's name (pack-<hex>: hex) and object count, and whether it has keys: false when its index does not load. */
bool mreg_odb_pack_info(mreg_odb *odb, size_t i, char hex[41], uint32_t *count, bool *keyed);

/* ---- parse.c: the one .idx parser, the one pack-entry parser, the one tree parser ---- */

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
	uint32_t *radix;	/* mreg_git_idx_radix, or NULL */
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
 * For many lookups in a large index: where each two-byte prefix of the ids
 * starts (x->radix, freed by mreg_git_idx_radix_free), so that a lookup
 * searches a few dozen ids next to each other, where the fan-out of 256
 * leaves thousands (a million objects) spread over tens of kilobytes.
 * Reads every id once; false when there is no memory (the fan-out serves).
 */
bool mreg_git_idx_radix(mreg_git_idx *x);
void mreg_git_idx_radix_free(mreg_git_idx *x);

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

/* ---- objdir.c: what the object directories hold ---------------------- */

/* A pack in objects/pack: its name without extension, and what lies beside it. */
typedef struct {
	char name[64];		/* pack-<hex> */
	int64_t size;		/* of the .pack */
	int64_t mtime_ns;
	bool idx;		/* its .idx is there: the pack is in use */
	bool kept;		/* a .keep or .promisor: git keeps it as it is */
} mreg_git_packfile;
/*
 * The .pack files of packdir (free *out); *midx: a multi-pack-index is
 * there. No directory: none. A pack that goes while it is listed is left out.
 */
int mreg_git_pack_list(mreg_git_packfile **out, size_t *n, bool *midx, const char *packdir);
/*
 * The object directories of a repository: objdir (no trailing '/'), then
 * those objects/info/alternates names, at most 16 in all; free each and *out.
 */
int mreg_git_object_dirs(char ***out, size_t *n, const char *objdir);
/*
 * fn for each file in the fan-out directories of objdir (objects/00 to
 * ff): id is the object's, NULL for a name that is not an object's (a
 * temporary file). A non-zero return stops the walk and is returned. With
 * rmdir_empty, each fan-out directory left empty is removed.
 */
int mreg_git_loose_each(const char *objdir, bool rmdir_empty,
			int (*fn)(const git_oid *id, const char *path, const char *name, void *payload), void *payload);
/* objects/ab/cdef... for id under objdir (no trailing '/'); free it. */
char *mreg_git_loose_path(const char *objdir, const git_oid *id);

/* ---- object.c: trees and commits as git writes them ------------------ */

/* git's order of tree entries: names as bytes, a directory's as if it ended in '/'. */
int mreg_git_tree_cmp(const mreg_git_tree_entry *a, const mreg_git_tree_entry *b);
/* An entry for a file (mode 100644) or a directory (40000) called name (len bytes). */
void mreg_git_tree_entry_init(mreg_git_tree_entry *e, const char *name, size_t len, bool dir, const git_oid *id);
/* All entries of a tree's bytes, with room for extra more (free *out); MREG_GIT_UNSURE when they are not a tree. */
int mreg_git_tree_parse(mreg_git_tree_entry **out, size_t *n, size_t extra, const char *data, size_t len);
/*
 * x put in its place among n sorted entries (room for one more), replacing
 * the entry of that name, be it of x's kind or not (a file where x is a
 * directory, or the reverse, goes as a checkout would replace it).
 */
void mreg_git_tree_set(mreg_git_tree_entry *e, size_t *n, const mreg_git_tree_entry *x);
/* A tree object's bytes from n sorted entries. */
int mreg_git_tree_write(mreg_buf *out, const mreg_git_tree_entry *e, size_t n);
/* A commit object's bytes (parent NULL: a root), author and committer name <email> at seconds UTC. */
int mreg_git_commit_write(mreg_buf *out, const git_oid *tree, const git_oid *parent, const char *name,
			  const char *email, int64_t seconds, const char *message);
/* commit's bytes with sig (armored, lines ending in \n) as its gpgsig header, as git commit -S writes it. */
int mreg_git_commit_sign(mreg_buf *out, const char *commit, size_t len, const char *sig);
/* A commit's tree from its bytes; false when they do not start as a commit does. */
bool mreg_git_commit_tree(git_oid *out, const char *data, size_t len);
/*
 * The next parent a commit names, from *p on (just past its tree line, at
 * 46 bytes): 1 and the id, 0 when the parent lines are over, -1 when one
 * is not a parent line as git writes it.
 */
int mreg_git_commit_next_parent(git_oid *out, const char **p, const char *end);

/* ---- indexer.c: a pack received whole, indexed; deltas applied ---- */

/* The largest object mreg reads (2 GiB). */
#define MREG_GIT_OBJECT_MAX ((size_t)1 << 31)
/*
 * Whether a deflate stream of avail bytes can grow to size: a match of 258
 * bytes costs two bits at best, so a stream grows at most 1032-fold. A
 * size beyond that is damage, refused before anything is allocated for it.
 */
static inline bool mreg_git_inflatable(size_t size, size_t avail)
{
	return size / 1032 <= avail;
}
/*
 * (parse.c) A delta (dlen bytes) applied to base: *out (malloc'd, NUL after),
 * *outlen; ECORRUPT when it does not apply, or would make more than max
 * bytes (checked before anything is allocated).
 */
int mreg_git_delta_apply(unsigned char **out, size_t *outlen, const unsigned char *base, size_t baselen,
			 const unsigned char *delta, size_t dlen, size_t max);
/* One size of a delta's header (a 7-bit varint) at *p, which moves past it; false when it runs past end. */
bool mreg_git_delta_size(size_t *out, const unsigned char **p, const unsigned char *end);
/*
 * A pack received whole (len bytes: a bundle's) indexed as `git
 * index-pack` does it, then stored in packdir (mreg_git_pack_store; hex
 * its name): every entry inflated in one pass and its CRC-32 taken, each
 * delta applied to its base, every object's id computed with libgit2's
 * SHA-1 (which detects collision attacks, as its indexer does). The
 * pack's trailing checksum is the caller's to check (mreg_git_bundle_parse
 * does). ECORRUPT, its message saying what and where, when the pack is
 * not whole and sound: a damaged header or entry, a stream that does not
 * inflate to its size, entries that end short of or past the checksum, a
 * delta whose base is not in the pack or that does not apply, an object twice,
 * an object over 128 MiB, a chain of deltas holding over 1 GiB at once, or
 * objects that come to over 1 GiB plus 4096 bytes a byte of the pack.
 */
int mreg_git_index_pack(char hex[41], const char *packdir, const unsigned char *pack, size_t len, bool sync);
/* How many scans in this process took the second half a thread of their own had scanned (for tests). */
size_t mreg_git_index_halves(void);
/*
 * A key the caller computes from a blob's bytes (true: *out, 0 or more),
 * taken while the indexer has them inflated, for a reader that would
 * otherwise inflate each blob again only to learn it (mreg_odb_set_keys).
 */
typedef bool (*mreg_git_key_fn)(int64_t *out, const unsigned char *data, size_t len);
/*
 * The same, its .idx into idx (appended) and nothing written: to read the
 * pack where it lies (mreg_odb_open_pack). With keys: key's value for each
 * blob, -1 for any other object, in the .idx's order (freed by the caller).
 */
int mreg_git_index_pack_mem(mreg_buf *idx, int64_t **keys, mreg_git_key_fn key, const unsigned char *pack, size_t len);

/* ---- packw.c: packs, their indexes, loose objects, bundles written ---- */

/* One object of a pack being written: its id, where its entry starts, the CRC-32 of the entry. */
typedef struct {
	unsigned char id[20];
	uint64_t offset;
	uint32_t crc;
	uint32_t entry;		/* the indexer's: the entry's place in the pack */
} mreg_git_pack_row;
/*
 * A pack built in memory: "PACK", version 2, the entries; with index, a row
 * per entry for its .idx. init, add objects (and copy other packs'
 * entries), then store (or finish, for a bundle's pack), then dispose.
 */
typedef struct {
	mreg_buf pack;		/* the prefix, then the pack */
	size_t start;		/* where "PACK" is */
	mreg_buf rows;		/* mreg_git_pack_row[], when indexed */
	uint32_t count;
	bool index;
	void *zs;		/* one zlib stream for all objects */
	int zbits;
	bool zfixed;		/* the stream was made for deflate's fixed Huffman codes (small objects) */
} mreg_git_packw;
/* prefix: text before the pack in the same buffer (a bundle's header), or NULL */
void mreg_git_packw_init(mreg_git_packw *w, bool index, const char *prefix);
void mreg_git_packw_dispose(mreg_git_packw *w);
/* One whole object as an entry (type-and-size header, zlib data). */
int mreg_git_packw_add(mreg_git_packw *w, const git_oid *id, git_object_t type, const void *data, size_t len);
/*
 * The entries of an existing pack (its .idx and .pack bytes), each as it
 * is (nothing inflated), but those whose id is in seen (added to it). An
 * entry whose delta names its base by offset is meaningful only in its own
 * pack: with ofs_to_ref it is rewritten to name the base by id, else the
 * pack is not copied (MREG_GIT_UNSURE, as for a pack this code does not
 * read). Checked whole before anything is copied or marked seen.
 */
int mreg_git_packw_copy(mreg_git_packw *w, mreg_git_oidset *seen, const void *idx, size_t ilen, const void *pack,
			size_t plen, bool ofs_to_ref);
/* The count set and the checksum appended; hex: the pack's name. */
int mreg_git_packw_finish(mreg_git_packw *w, char hex[41]);
/*
 * Finish, then the pack and its .idx into packdir, durable when sync. Both
 * are written whole under temporary names before either is named, the
 * pack first (an index names only a complete pack). *created: false when
 * a pack of that name (the same bytes) was there, so not this write's to remove.
 */
int mreg_git_packw_store(mreg_git_packw *w, const char *packdir, bool sync, char hex[41], bool *created);
/*
 * A whole pack (len bytes, its checksum the last 20) and the .idx of its
 * rows (sorted here) written to packdir as pack-<checksum>.pack and .idx,
 * as mreg_git_packw_store does: both in full, then the pack named first;
 * durable when sync. *created false when a pack of that name was there.
 */
int mreg_git_pack_store(const char *packdir, const void *pack, size_t len, mreg_git_pack_row *rows, size_t n, bool sync,
			char hex[41], bool *created);
/* The same with its .idx already built (idxlen bytes, only read: another thread may read it meanwhile). */
int mreg_git_pack_store_idx(const char *packdir, const void *pack, size_t len, const void *idx, size_t idxlen, bool sync,
			    char hex[41], bool *created);
/*
 * pack-<hex>'s .pack and .idx in packdir, stored without sync: their
 * writeback started, to go on while the caller works (wait false), or
 * each fsynced whole, then the directory (wait true; then they are
 * durable, as a store with sync leaves them).
 */
int mreg_git_pack_flush(const char *packdir, const char *hex, bool wait);
/* The .idx (version 2) of a pack whose objects are rows (sorted here) and whose checksum is sum, appended to out. */
int mreg_git_idx_build(mreg_buf *out, mreg_git_pack_row *rows, size_t n, const unsigned char sum[20]);
/*
 * pack-<hex>'s files in packdir removed, the index first (renamed to
 * pack-<hex>.mreg-gone): a pack without one is never read, and what a
 * killed writer left of it goes with the next mreg_git_pack_sweep.
 */
void mreg_git_pack_remove(const char *packdir, const char *hex);
/* What dead writers left in packdir (their temporary files, the packs they were removing), removed. */
void mreg_git_pack_sweep(const char *packdir);
/* git's multi-pack-index (and its bitmap) names packs: stale once mreg removes one, it goes. */
void mreg_git_pack_remove_midx(const char *packdir);
/*
 * Keep the packs of packdir few: once more than max_packs small ones
 * would merge (or there are more than four times max_packs in all), they
 * are merged geometrically into one (see packw.c), durable when sync,
 * before the merged ones go. Temporary files of killed writers are swept
 * first.
 */
int mreg_git_pack_merge(const char *packdir, size_t max_packs, bool sync);
/* A loose object written at path (mreg_git_loose_path), read-only, durable when sync. */
int mreg_git_loose_write(const char *path, git_object_t type, const void *data, size_t len, bool sync);
/*
 * A git bundle (v2) of every object of the object directories dirs (the
 * first the repository's own): one ref, branch at head, and HEAD, then one
 * pack of their packs' entries (deltas by offset rewritten by id) and
 * their loose objects.
 */
int mreg_git_bundle_write(mreg_buf *out, char *const *dirs, size_t ndirs, const git_oid *head, const char *branch);
/*
 * A bundle's bytes: the id of its branch (the last, if it names several) and its pack. MREG_ECORRUPT,
 * with *why naming the problem ("not a v2 git bundle", ...), when they are not
 * a v2 bundle naming a branch, holding a pack whose checksum holds.
 */
int mreg_git_bundle_parse(git_oid *head, const unsigned char **pack, size_t *packlen, const char **why,
			  const char *data, size_t len);

/* ---- refs.c: HEAD, branches, packed-refs, reflogs --------------------- */

/*
 * HEAD of the repository at gitdir, read by hand: the 40 hex digits of the
 * commit it names through a branch (loose or packed) or detached (branch
 * NULL), or MREG_GIT_UNSURE when HEAD is anything else (a missing branch, a
 * name outside the plain ones). With branch given, only a branch will do,
 * and its full name (refs/heads/...) goes there.
 */
int mreg_git_head(char hex[41], char *branch, size_t branchlen, const char *gitdir);
/* Whether ref is a branch of plain name (refs/heads/ and [A-Za-z0-9._-/], no "..", no leading '/' or '.'), which mreg_git_head reads. */
bool mreg_git_ref_plain(const char *ref);
/* The branch HEAD names (refs/heads/...), from HEAD alone; false when it names none. */
bool mreg_git_head_branch(char *out, size_t n, const char *gitdir);
/*
 * The 40 hex digits of ref (n bytes) in gitdir's packed-refs, read into b
 * (*hex NULL: none). MREG_GIT_UNSURE when any line of the file is not one
 * this reader reads (libgit2 refuses such a file, or reads more).
 */
int mreg_git_packed_ref(const char **hex, mreg_buf *b, const char *gitdir, const char *ref, size_t n);
/* A ref's value now: loose file, else packed-refs; zero when it has none. MREG_GIT_UNSURE: unreadable. */
int mreg_git_ref_read(git_oid *out, const char *gitdir, const char *ref);
/*
 * A ref's new value written into its lock file fd, written out when sync
 * (mreg_fs_flush_data: durable with the fsync of its directory after the
 * rename); -1 with errno.
 */
int mreg_git_ref_put(int fd, const git_oid *to, bool sync);
/* Who a reflog line names. */
typedef struct {
	const char *name, *email;
	int64_t time;
} mreg_git_ident;
/* One line appended to logs/<ref>, as git writes them (not synced: a reflog line lost is only that). */
void mreg_git_reflog_append(const char *gitdir, const char *ref, const git_oid *from, const git_oid *to,
			    const mreg_git_ident *who, const char *msg);
/*
 * fn for each linked work tree of gitdir (worktrees/<name>/): the commit
 * its HEAD holds when detached (NULL when it names a branch, one of the
 * refs), and the paths of its HEAD, its HEAD's reflog and its index.
 */
int mreg_git_worktree_each(const char *gitdir,
			   int (*fn)(const git_oid *detached, const char *head, const char *log, const char *index,
				     void *payload),
			   void *payload);
/* The next line of a reflog's bytes at *p (advanced): its old and new ids; false at the end. */
bool mreg_git_reflog_next(git_oid *old, git_oid *new_id, const char **p, const char *end);

/* ---- config.c: the one git-config reader ------------------------------ */

/*
 * The config files libgit2 1.5 reads, in its order, the later winning:
 * /etc/gitconfig, $XDG_CONFIG_HOME/git/config (else ~/.config/git/config),
 * ~/.gitconfig, then gitdir's config. fn gets each key of keys ("section.key",
 * lower case; no subsections) as it is set: value NULL for a bare key
 * (true). MREG_GIT_UNSURE when any file holds what this reader does not
 * read as libgit2 would (see config.c), or the repository's layout is not
 * the plain one (a work tree elsewhere, extensions, another format).
 * *bare (when not NULL): the repository's core.bare, true or false.
 */
int mreg_git_config_read(const char *gitdir, const char *const *keys,
			 void (*fn)(const char *key, const char *value, void *payload), void *payload, bool *bare);
/* Only the repository's own config, for its layout (no keys read): 0 plain (*bare its core.bare), else MREG_GIT_UNSURE. */
int mreg_git_config_plain(const char *gitdir, bool *bare);
/* A value as git reads a boolean / a 32-bit number with k, m or g; false when not plainly one. */
bool mreg_git_config_bool(bool *out, const char *value);
bool mreg_git_config_int32(int32_t *out, const char *value);
/*
 * An expiry date (gc.pruneExpire) as seconds, as git reads it: "now"/"all"
 * (INT64_MAX), "never"/"false" (INT64_MIN), "@<seconds>", a local
 * "YYYY-MM-DD HH:MM[:SS]", a date alone (at now's time of day), or relative
 * ("2.weeks.ago", "1 day 12 hours": seconds to weeks back in time, months
 * and years on the calendar). -1 for anything else, "min" and "sec" too.
 */
int mreg_git_config_expiry(int64_t *out, const char *value, int64_t now);

/* ---- index.c: the index file ---------------------------------------- */

typedef struct {
	const char *path;
	git_oid id;
	struct stat st;
} mreg_git_index_entry;
/*
 * A version 2 index (map, len bytes) with the entries adds added or
 * replaced and the paths removes dropped (both sorted here): the new file
 * as spans of the old and of own, checksum included. MREG_GIT_UNSURE when
 * the index is not one this code streams (another version, a merge stage,
 * a required extension): libgit2 writes that one.
 */
int mreg_git_index_splice(mreg_buf *own, mreg_span **spans, size_t *nspans, const char *map, size_t len,
			  mreg_git_index_entry *adds, size_t nadds, char **removes, size_t nremoves);
/* fn for each valid tree of an index's cache-tree (extension TREE), versions 2 to 4; others: nothing. */
int mreg_git_index_trees(const void *data, size_t len, int (*fn)(const git_oid *id, void *payload), void *payload);

#endif

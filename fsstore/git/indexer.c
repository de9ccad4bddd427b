/*
 * A pack received whole, indexed: what `git index-pack` does for a
 * bundle's pack, and what libgit2's indexer did for restore-from and
 * backup verify. Measured on the pack of a million events (620 MB, 1.5
 * million objects, no deltas): `git index-pack` of the pack already on
 * disk 6.6 s; this 5.2 s with the pack written out (about 1.4 s of it),
 * 6.1 s when the hashing shares the one thread; libgit2's indexer took 7.8
 * s of restore-from. What it gains is inflating with libdeflate (a whole
 * buffer in one call, where zlib sets up a stream per object), hashing the
 * pack's bytes once (the caller has checked its trailing checksum), and
 * hashing the objects on a second thread.
 *
 * One pass over the entries in order inflates each (its header gives the
 * size; libdeflate says how many bytes the stream took, which is where the
 * next entry starts) and takes the CRC-32 of its bytes for the .idx; the
 * whole objects go on, in batches, to a thread that computes their ids. A
 * pack of a megabyte or more has its second half scanned by a thread of
 * its own (scan_ahead), from an entry's start it guesses and the first
 * half's scan confirms.
 * Then each delta is applied to its base, depth first from the whole
 * objects (git's way: every object inflated once, every delta applied
 * once, a base's bytes kept only while its deltas are made): offset deltas
 * found by their base's offset, id deltas by their base's id, both from
 * arrays sorted by it.
 *
 * Object ids come from libgit2's SHA-1 (git_odb_hash), which detects the
 * known collision attacks as libgit2's indexer and git do: a bundle may come
 * from a hostile peer. The format: see parse.c.
 */
#define _GNU_SOURCE /* qsort_r */
#include "git.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <libdeflate.h>

#define MAX_DEPTH 1000		/* deltas on deltas, as deep as odb.c reads them */
/*
 * The largest object indexed, and the most bytes a chain of deltas holds at
 * once (each delta's base is kept while its own deltas are made). mreg's
 * objects are events, trees and commits (large files are not git objects);
 * a delta of a few bytes can claim 64 KiB of its base per byte, so without
 * these a pack of a few hundred bytes could make the indexer allocate
 * gigabytes.
 */
#define MAX_INDEXED ((size_t)128 << 20)
#define MAX_CHAIN_BYTES ((size_t)1 << 30)
/*
 * And what all its objects may come to: 1 GiB, plus 4096 bytes for each
 * byte of the pack (a million events in 620 MB make 740 MB; a registry's
 * trees after a gc, deltas of a few bytes on 15 KB, a few hundred times
 * their packed size), so that a small pack cannot have the indexer hash
 * for hours either.
 */
#define BYTES_PER_PACK_BYTE 4096

typedef struct {
	uint64_t off, end;	/* the entry's bytes */
	uint64_t base;		/* an offset delta's base's offset */
	uint64_t size;		/* inflated: the object, or the delta */
	const unsigned char *data;	/* the zlib data */
	const unsigned char *ref;	/* an id delta's base's id (in the pack) */
	unsigned char id[20];
	uint32_t crc;
	int64_t key;		/* the caller's key of a blob's bytes (mreg_git_key_fn), when keyed */
	uint8_t type;		/* as in the pack: 1-4, 6 or 7 */
	uint8_t real;		/* the object's type, 0 until known */
	bool keyed;
} ix_entry;

typedef struct {
	const unsigned char *pack;
	size_t len;
	ix_entry *e;
	size_t n;
	uint64_t budget;	/* bytes the objects may still come to */
	uint32_t *ofs, *refs;	/* the offset deltas by base offset, the id deltas by base id */
	size_t nofs, nrefs;
	struct libdeflate_decompressor *d;
	mreg_git_key_fn key;	/* or NULL */
} indexer;

/* The caller's key of a blob's bytes, taken while they are at hand. */
static void take_key(const indexer *ix, ix_entry *e, const unsigned char *data, size_t len)
{
	e->keyed = ix->key && ix->key(&e->key, data, len) && e->key >= 0;
}

static int damaged(const ix_entry *e, const char *what)
{
	return mreg_error_set(MREG_ECORRUPT, "the entry at offset %llu %s", (unsigned long long)e->off, what);
}

/* e's stream inflated to exactly e->size bytes into *buf (grown as needed) by d; *used: the stream's length. */
static int inflate_with(struct libdeflate_decompressor *d, unsigned char **buf, size_t *cap, size_t *used,
			const indexer *ix, const ix_entry *e)
{
	size_t avail = (size_t)(ix->pack + ix->len - 20 - e->data);
	if (!mreg_git_inflatable((size_t)e->size, avail))
		return damaged(e, "claims a size its data cannot hold");
	if (*cap < e->size + 1) {
		unsigned char *b = realloc(*buf, (size_t)e->size + 1);
		if (!b)
			return mreg_error_set(MREG_ERROR, "out of memory");
		*buf = b;
		*cap = (size_t)e->size + 1;
	}
	if (libdeflate_zlib_decompress_ex(d, e->data, avail, *buf, (size_t)e->size, used, NULL) != LIBDEFLATE_SUCCESS)
		return damaged(e, "does not inflate to its size");
	(*buf)[e->size] = '\0';
	return 0;
}

static int inflate_entry(unsigned char **buf, size_t *cap, size_t *used, indexer *ix, const ix_entry *e)
{
	return inflate_with(ix->d, buf, cap, used, ix, e);
}

/* e's id and type, from its bytes; false when they do not hash (libgit2's SHA-1 refuses bytes made to collide: SHA1DC). */
static bool take_id(ix_entry *e, const unsigned char *data, size_t len, int type)
{
	git_oid id;
	if (git_odb_hash(&id, data, len, (git_object_t)type) < 0)
		return false;
	memcpy(e->id, id.id, 20);
	e->real = (uint8_t)type;
	return true;
}

/* The same for a delta's result, within what the pack's budget has left. */
static bool hash_object(indexer *ix, ix_entry *e, const unsigned char *data, size_t len, int type)
{
	if (len > ix->budget || !take_id(e, data, len, type))
		return false;
	ix->budget -= len;
	return true;
}

/*
 * Pass one hands the whole objects it inflates to a second thread, which
 * hashes them while it inflates on (hashing is a third of the pass): in
 * batches of up to BATCH_OBJECTS objects in one buffer, two batches in turn.
 */
#define BATCH_OBJECTS 1024
#define BATCH_BYTES ((size_t)4 << 20)

typedef struct {
	unsigned char *bytes;	/* the objects, one after the other */
	size_t used, cap, n;
	uint32_t entry[BATCH_OBJECTS];
	size_t at[BATCH_OBJECTS];
} batch;

typedef struct {
	indexer *ix;
	batch b[2];
	bool full[2];		/* handed to the hasher, not hashed yet */
	bool over;		/* no batch will come */
	size_t failed;		/* 1 + the first entry that did not hash; 0: none */
	pthread_mutex_t mu;
	pthread_cond_t cv;
} hasher;

static void hash_batch(hasher *h, batch *b)
{
	for (size_t k = 0; k < b->n; k++) {
		ix_entry *e = &h->ix->e[b->entry[k]];
		if (!take_id(e, b->bytes + b->at[k], (size_t)e->size, e->type) && !h->failed)
			h->failed = b->entry[k] + 1;
	}
	b->n = b->used = 0;
}

static void *hash_thread(void *arg)
{
	hasher *h = arg;
	for (int k = 0;; k ^= 1) {
		pthread_mutex_lock(&h->mu);
		while (!h->full[k] && !h->over)
			pthread_cond_wait(&h->cv, &h->mu);
		bool work = h->full[k];
		pthread_mutex_unlock(&h->mu);
		if (!work)
			return NULL;
		hash_batch(h, &h->b[k]);
		pthread_mutex_lock(&h->mu);
		h->full[k] = false;
		pthread_cond_broadcast(&h->cv);
		pthread_mutex_unlock(&h->mu);
	}
}

/* Batch *k to the hasher (or hashed here, without one); then the other batch, once it is free, is *k. */
static void hand_over(hasher *h, int *k, bool threaded)
{
	if (!h->b[*k].n)
		return;
	if (!threaded) {
		hash_batch(h, &h->b[*k]);
		return;
	}
	pthread_mutex_lock(&h->mu);
	h->full[*k] = true;
	pthread_cond_broadcast(&h->cv);
	*k ^= 1;
	while (h->full[*k])
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
}

/* Room in batch *k for an object of size bytes (handing the batch over first when it is full). */
static unsigned char *room_for(hasher *h, int *k, bool threaded, size_t size)
{
	batch *b = &h->b[*k];
	if (b->n == BATCH_OBJECTS || (b->n && b->used + size + 1 > b->cap)) {
		hand_over(h, k, threaded);
		b = &h->b[*k];
	}
	if (b->used + size + 1 > b->cap) {
		size_t cap = size + 1 > BATCH_BYTES ? size + 1 : BATCH_BYTES;
		unsigned char *p = realloc(b->bytes, cap);
		if (!p)
			return NULL;
		b->bytes = p;
		b->cap = cap;
	}
	return b->bytes + b->used;
}

/* One entry's header read into e (at off); 0, or ECORRUPT saying what. */
static int read_header(const indexer *ix, ix_entry *e, uint64_t off)
{
	const unsigned char *end = ix->pack + ix->len - 20;
	mreg_git_entry h;
	e->off = off;
	if (ix->pack + off >= end || !mreg_git_entry_parse(&h, ix->pack + off, end))
		return damaged(e, "has a damaged header");
	e->type = (uint8_t)h.type;
	e->size = h.size;
	if (h.size > MAX_INDEXED)
		return damaged(e, "is larger than 128 MiB");
	e->data = h.data;
	if (h.type == GIT_OBJECT_OFS_DELTA) {
		e->base = off - h.back;	/* h.back <= off: checked against the entries in pass two */
		if (h.back > off)
			return damaged(e, "is a delta on a base before the pack");
	} else if (h.type == GIT_OBJECT_REF_DELTA) {
		e->ref = h.data;
		e->data = h.data + 20;
		if (end - h.data < 20)
			return damaged(e, "has a damaged header");
	} else if (h.type < GIT_OBJECT_COMMIT || h.type > GIT_OBJECT_TAG) {
		return damaged(e, "has an unknown type");
	}
	return 0;
}

/*
 * The second half of pass one, on a thread of its own (a large pack's
 * inflating took 3 s of a restore at a million events, on one core). An
 * entry's end is known only once its stream is inflated, so the thread
 * guesses where an entry starts past the middle of the pack (a header
 * whose zlib stream inflates to exactly the size it gives, its Adler-32
 * holding) and scans from there to the end, hashing its whole objects
 * itself. Its entries are taken only if the first half's scan lands
 * exactly on that start and the thread reached the checksum without a
 * fault, with the entries the header counts: then the guess was an
 * entry's start and the rest follows from it, byte for byte as one scan
 * would have read it. Otherwise (any fault, any doubt) the first half's
 * scan goes on alone and says what one scan says.
 */
#define SPLIT_FROM ((size_t)1 << 20)	/* packs smaller than this are scanned by one thread */
#define SPLIT_LOOK ((size_t)1 << 20)	/* how far past the middle a start is looked for */
/*
 * What the guesses may inflate in all: a pack made of candidates that each
 * claim a large object and share one stream that inflates far (a few bytes
 * apart) must not keep the thread inflating for hours.
 */
#define SPLIT_GUESSES ((size_t)32 << 20)

#define NO_START UINT64_MAX	/* the thread found no start to guess */

typedef struct {
	const indexer *ix;
	uint64_t budget;	/* the pack's, when the thread started */
	atomic_uint_fast64_t start;	/* the guessed start; 0: not looked for yet; NO_START: none */
	pthread_mutex_t mu;	/* start, once known, is signalled by cv */
	pthread_cond_t cv;
	ix_entry *e;		/* the entries from start on */
	size_t n, a;
	uint64_t spent;		/* the objects' bytes, against the pack's budget */
	bool ok;		/* the checksum reached, every object hashed */
	atomic_bool stop;	/* the first half has passed start, or stopped: moot */
	pthread_t tid;
	bool started;
} ahead;

/*
 * Whether an entry starts at off: its header sound, its stream inflating
 * to exactly its size, within what the guesses may still inflate (*left).
 */
static bool starts_entry(const indexer *ix, struct libdeflate_decompressor *d, unsigned char **buf, size_t *cap,
			 uint64_t off, ix_entry *e, size_t *left)
{
	const unsigned char *p = ix->pack + off;
	unsigned t = (p[0] >> 4) & 7;
	if (t == 0 || t == 5)
		return false;
	*e = (ix_entry){ 0 };
	if (read_header(ix, e, off) < 0) {
		mreg_error_clear();
		return false;
	}
	const unsigned char *z = e->data;
	size_t used;
	if (z + 2 > ix->pack + ix->len - 20 || (z[0] & 0x0f) != 8 || (z[0] << 8 | z[1]) % 31)
		return false;	/* not a zlib header */
	if (e->size > *left) {
		*left = 0;	/* no more guessing */
		return false;
	}
	*left -= (size_t)e->size;
	if (inflate_with(d, buf, cap, &used, ix, e) < 0) {
		mreg_error_clear();
		return false;
	}
	return true;
}

static atomic_size_t halves_taken;	/* mreg_git_index_halves */

size_t mreg_git_index_halves(void)
{
	return atomic_load(&halves_taken);
}

static void *scan_ahead(void *arg)
{
	ahead *a = arg;
	const indexer *ix = a->ix;
	struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
	unsigned char *buf = NULL;
	size_t cap = 0, used;
	uint64_t end = ix->len - 20, off, look = ix->len / 2 + SPLIT_LOOK < end ? ix->len / 2 + SPLIT_LOOK : end;
	ix_entry e;
	size_t left = SPLIT_GUESSES;
	bool found = false;
	for (off = ix->len / 2; d && off < look && left && !atomic_load_explicit(&a->stop, memory_order_relaxed); off++)
		if ((found = starts_entry(ix, d, &buf, &cap, off, &e, &left)))
			break;
	pthread_mutex_lock(&a->mu);	/* the first half waits for this at the middle */
	atomic_store(&a->start, found ? off : NO_START);
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
	if (!found)
		goto done;
	while (off < end && !atomic_load_explicit(&a->stop, memory_order_relaxed)) {
		e = (ix_entry){ 0 };	/* as the first half's, which start zeroed */
		if (read_header(ix, &e, off) < 0 || inflate_with(d, &buf, &cap, &used, ix, &e) < 0)
			break;
		bool whole = e.type <= GIT_OBJECT_TAG;
		e.end = (uint64_t)(e.data - ix->pack) + used;
		e.crc = (uint32_t)libdeflate_crc32(0, ix->pack + off, (size_t)(e.end - off));
		if (whole) {
			if ((a->spent += e.size) > a->budget || !take_id(&e, buf, (size_t)e.size, e.type))
				break;
			if (e.type == GIT_OBJECT_BLOB)
				take_key(ix, &e, buf, (size_t)e.size);
		}
		if (a->n == a->a) {
			size_t na = a->a ? a->a * 2 : 4096;
			ix_entry *ne = a->n < ix->n ? realloc(a->e, na * sizeof(*ne)) : NULL;
			if (!ne)
				break;	/* out of memory, or more entries than the pack counts */
			a->e = ne;
			a->a = na;
		}
		a->e[a->n++] = e;
		off = e.end;
	}
	a->ok = off == end;
done:
	mreg_error_clear();
	free(buf);
	libdeflate_free_decompressor(d);
	return NULL;
}

/*
 * The first scan at entry i, offset *off: true when the thread's second
 * half is taken here (its entries copied from i on, *off at the end). Past
 * the middle before the thread's guess is known, it waits for it (a search
 * of at most SPLIT_LOOK bytes), so that whether the halves are taken
 * depends on the pack, not on which thread ran first.
 */
static bool take_ahead(ahead *a, indexer *ix, size_t i, uint64_t *off)
{
	uint64_t start = atomic_load_explicit(&a->start, memory_order_relaxed);
	if (!start && *off >= ix->len / 2) {
		pthread_mutex_lock(&a->mu);
		while (!(start = atomic_load(&a->start)))
			pthread_cond_wait(&a->cv, &a->mu);
		pthread_mutex_unlock(&a->mu);
	}
	if (start == NO_START) {
		pthread_join(a->tid, NULL);
		a->started = false;
		return false;
	}
	if (!start || *off < start)
		return false;
	/* the second half's: taken whole when this scan lands on its start (see scan_ahead) */
	if (*off != start)
		atomic_store(&a->stop, true);	/* a wrong guess: its scan is moot */
	pthread_join(a->tid, NULL);
	a->started = false;
	if (*off != start || !a->ok || a->n != ix->n - i || a->spent > ix->budget)
		return false;
	memcpy(&ix->e[i], a->e, a->n * sizeof(*a->e));
	ix->budget -= a->spent;
	*off = a->e[a->n - 1].end;
	atomic_fetch_add(&halves_taken, 1);
	return true;
}

/* Pass one: every entry's bounds, CRC-32 and, for a whole object, id (hashed by the hasher). */
static int scan(indexer *ix)
{
	hasher h = { .ix = ix };
	pthread_t th;
	unsigned char *buf = NULL;
	size_t cap = 0, used;
	uint64_t off = 12;
	int rc = 0, k = 0;
	pthread_mutex_init(&h.mu, NULL);
	pthread_cond_init(&h.cv, NULL);
	bool threaded = mreg_threads() > 1 && pthread_create(&th, NULL, hash_thread, &h) == 0;
	ahead a = { .ix = ix, .budget = ix->budget };
	atomic_init(&a.stop, false);
	atomic_init(&a.start, 0);
	pthread_mutex_init(&a.mu, NULL);
	pthread_cond_init(&a.cv, NULL);
	if (threaded && ix->len >= SPLIT_FROM)
		a.started = pthread_create(&a.tid, NULL, scan_ahead, &a) == 0;
	for (size_t i = 0; i < ix->n && rc == 0; i++) {
		ix_entry *e = &ix->e[i];
		if (a.started && take_ahead(&a, ix, i, &off))
			break;
		if ((rc = read_header(ix, e, off)) < 0)
			break;
		bool whole = e->type <= GIT_OBJECT_TAG;
		if (whole && e->size > ix->budget) {
			rc = damaged(e, "makes its objects more than the pack may come to");
			break;
		}
		unsigned char *into = whole ? room_for(&h, &k, threaded, (size_t)e->size) : NULL;
		if (whole && !into) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
			break;
		}
		if ((rc = inflate_entry(whole ? &into : &buf, whole ? &(size_t){ (size_t)e->size + 1 } : &cap, &used, ix, e)) < 0)
			break;
		e->end = (uint64_t)(e->data - ix->pack) + used;
		e->crc = (uint32_t)libdeflate_crc32(0, ix->pack + off, (size_t)(e->end - off));
		if (whole) {
			batch *b = &h.b[k];
			b->entry[b->n] = (uint32_t)i;
			b->at[b->n++] = b->used;
			b->used += (size_t)e->size + 1;
			ix->budget -= e->size;
			if (e->type == GIT_OBJECT_BLOB)
				take_key(ix, e, into, (size_t)e->size);
		}
		off = e->end;
	}
	if (a.started) {
		atomic_store(&a.stop, true);
		pthread_join(a.tid, NULL);
	}
	pthread_mutex_destroy(&a.mu);
	pthread_cond_destroy(&a.cv);
	free(a.e);
	if (rc == 0)
		hand_over(&h, &k, threaded);
	if (threaded) {
		pthread_mutex_lock(&h.mu);
		h.over = true;
		pthread_cond_broadcast(&h.cv);
		pthread_mutex_unlock(&h.mu);
		pthread_join(th, NULL);
	}
	pthread_mutex_destroy(&h.mu);
	pthread_cond_destroy(&h.cv);
	free(h.b[0].bytes);
	free(h.b[1].bytes);
	free(buf);
	if (rc == 0 && h.failed)
		rc = damaged(&ix->e[h.failed - 1], "does not hash (bytes made to collide with another object's SHA-1)");
	if (rc == 0 && off != ix->len - 20)
		rc = mreg_error_set(MREG_ECORRUPT, "its %zu entries end at offset %llu, not at its checksum (%zu)", ix->n,
				    (unsigned long long)off, ix->len - 20);
	return rc;
}

static int cmp_ofs(const void *a, const void *b, void *arg)
{
	const ix_entry *e = arg;
	uint64_t x = e[*(const uint32_t *)a].base, y = e[*(const uint32_t *)b].base;
	return x < y ? -1 : x > y;
}

static int cmp_ref(const void *a, const void *b, void *arg)
{
	const ix_entry *e = arg;
	return memcmp(e[*(const uint32_t *)a].ref, e[*(const uint32_t *)b].ref, 20);
}

/* The first index in kids (sorted by cmp) whose key is not below key's: a lower bound. */
static size_t first_kid(const indexer *ix, const uint32_t *kids, size_t n, bool by_ofs, const ix_entry *key)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const ix_entry *k = &ix->e[kids[mid]];
		bool below = by_ofs ? k->base < key->off : memcmp(k->ref, key->id, 20) < 0;
		if (below)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int descend(indexer *ix, size_t i, const unsigned char *data, size_t len, int depth, size_t held);

/* Delta k applied to its base (i's data), its id taken, and its own deltas after it; held: the chain's bytes. */
static int apply_kid(indexer *ix, size_t i, size_t k, const unsigned char *data, size_t len, int depth, size_t held)
{
	ix_entry *e = &ix->e[k];
	unsigned char *delta = NULL, *out = NULL;
	size_t cap = 0, used, outlen;
	if (e->real)
		return 0;	/* the same base twice (an object twice): refused when the ids are sorted */
	int rc = inflate_entry(&delta, &cap, &used, ix, e);
	size_t room = MAX_CHAIN_BYTES - held < MAX_INDEXED ? MAX_CHAIN_BYTES - held : MAX_INDEXED, src, dst;
	const unsigned char *p = delta;
	if (rc == 0 && mreg_git_delta_size(&src, &p, delta + e->size) && mreg_git_delta_size(&dst, &p, delta + e->size) && dst > room)
		rc = damaged(e, "is a delta that would make more than 128 MiB, or more than its chain may hold (1 GiB)");
	if (rc == 0 && (rc = mreg_git_delta_apply(&out, &outlen, data, len, delta, (size_t)e->size, room)) == MREG_ECORRUPT)
		rc = damaged(e, "is a delta that does not apply to its base");
	free(delta);
	if (rc == 0 && !hash_object(ix, e, out, outlen, ix->e[i].real))
		rc = damaged(e, "does not hash, or makes its objects more than the pack may come to");
	if (rc == 0 && e->real == GIT_OBJECT_BLOB)
		take_key(ix, e, out, outlen);
	if (rc == 0)
		rc = descend(ix, k, out, outlen, depth + 1, held + outlen);
	free(out);
	return rc;
}

/* The deltas whose base is i (its bytes: data), applied, depth first. */
static int descend(indexer *ix, size_t i, const unsigned char *data, size_t len, int depth, size_t held)
{
	const ix_entry *b = &ix->e[i];
	int rc = 0;
	if (depth > MAX_DEPTH)
		return damaged(b, "ends a chain of deltas deeper than 1000");
	for (size_t j = first_kid(ix, ix->ofs, ix->nofs, true, b); rc == 0 && j < ix->nofs && ix->e[ix->ofs[j]].base == b->off; j++)
		rc = apply_kid(ix, i, ix->ofs[j], data, len, depth, held);
	/* the id deltas on b's id are all made the first time that id is a base: a second copy of it finds them done */
	size_t j = first_kid(ix, ix->refs, ix->nrefs, false, b);
	if (j < ix->nrefs && ix->e[ix->refs[j]].real)
		return rc;
	for (; rc == 0 && j < ix->nrefs && !memcmp(ix->e[ix->refs[j]].ref, b->id, 20); j++)
		rc = apply_kid(ix, i, ix->refs[j], data, len, depth, held);
	return rc;
}

static bool has_kids(const indexer *ix, const ix_entry *b)
{
	size_t j = first_kid(ix, ix->ofs, ix->nofs, true, b);
	if (j < ix->nofs && ix->e[ix->ofs[j]].base == b->off)
		return true;
	j = first_kid(ix, ix->refs, ix->nrefs, false, b);
	return j < ix->nrefs && !memcmp(ix->e[ix->refs[j]].ref, b->id, 20);
}

/* Pass two: every delta applied, from the whole objects down. */
static int resolve(indexer *ix)
{
	for (size_t i = 0; i < ix->n; i++) {
		if (ix->e[i].type == GIT_OBJECT_OFS_DELTA)
			ix->ofs[ix->nofs++] = (uint32_t)i;
		else if (ix->e[i].type == GIT_OBJECT_REF_DELTA)
			ix->refs[ix->nrefs++] = (uint32_t)i;
	}
	if (!ix->nofs && !ix->nrefs)
		return 0;
	qsort_r(ix->ofs, ix->nofs, sizeof(uint32_t), cmp_ofs, ix->e);
	qsort_r(ix->refs, ix->nrefs, sizeof(uint32_t), cmp_ref, ix->e);
	unsigned char *buf = NULL;
	size_t cap = 0, used;
	int rc = 0;
	for (size_t i = 0; i < ix->n && rc == 0; i++)
		if (ix->e[i].type <= GIT_OBJECT_TAG && has_kids(ix, &ix->e[i]) &&
		    (rc = inflate_entry(&buf, &cap, &used, ix, &ix->e[i])) == 0)
			rc = descend(ix, i, buf, (size_t)ix->e[i].size, 0, (size_t)ix->e[i].size);
	free(buf);
	for (size_t i = 0; i < ix->n && rc == 0; i++)
		if (!ix->e[i].real)
			rc = damaged(&ix->e[i], "is a delta whose base is not in the pack");
	return rc;
}

static int cmp_row_id(const void *a, const void *b)
{
	return memcmp(((const mreg_git_pack_row *)a)->id, ((const mreg_git_pack_row *)b)->id, 20);
}

/*
 * The rows sorted by id: dealt into buckets by the ids' first two bytes,
 * then each bucket sorted (by insertion when small, as ids spread evenly;
 * by qsort when not, as a pack made to crowd one prefix would have it).
 * qsort of them all took half a second for the 1.5 million objects of a
 * million events, as long as checking the head they hold. false: no memory.
 */
#define ROW_BUCKETS 65536
#define ROW_INSERTION 32

static bool sort_rows(mreg_git_pack_row **rows, size_t n)
{
	size_t *start = calloc(ROW_BUCKETS + 1, sizeof(*start));
	mreg_git_pack_row *out = malloc((n ? n : 1) * sizeof(*out)), *in = *rows;
	if (!start || !out) {
		free(start);
		free(out);
		return false;
	}
	for (size_t i = 0; i < n; i++)
		start[((size_t)in[i].id[0] << 8 | in[i].id[1]) + 1]++;
	for (size_t b = 1; b <= ROW_BUCKETS; b++)
		start[b] += start[b - 1];
	for (size_t i = 0; i < n; i++)
		out[start[(size_t)in[i].id[0] << 8 | in[i].id[1]]++] = in[i];
	/* start[b] is now where bucket b ends */
	for (size_t b = 0, lo = 0; b < ROW_BUCKETS; lo = start[b++]) {
		size_t hi = start[b];
		if (hi - lo > ROW_INSERTION) {
			qsort(out + lo, hi - lo, sizeof(*out), cmp_row_id);
			continue;
		}
		for (size_t i = lo + 1; i < hi; i++) {
			mreg_git_pack_row r = out[i];
			size_t j = i;
			for (; j > lo && memcmp(out[j - 1].id, r.id, 20) > 0; j--)
				out[j] = out[j - 1];
			out[j] = r;
		}
	}
	free(start);
	free(in);
	*rows = out;
	return true;
}

/*
 * The rows of the pack's .idx (*rows, *n: every object's id, offset and
 * CRC-32, sorted by id), or ECORRUPT; with key, *keys: each row's key, or -1.
 */
static int index_rows(mreg_git_pack_row **rows_out, size_t *n_out, int64_t **keys, mreg_git_key_fn key,
		      const unsigned char *pack, size_t len)
{
	indexer ix = { pack, len, NULL, 0, 0, NULL, NULL, 0, 0, NULL, key };
	mreg_git_pack_row *rows = NULL;
	int rc = 0;
	*rows_out = NULL;
	*n_out = 0;
	if (len < 32 || memcmp(pack, "PACK", 4) || (mreg_git_be32(pack + 4) != 2 && mreg_git_be32(pack + 4) != 3))
		return mreg_error_set(MREG_ECORRUPT, "not a pack of version 2 or 3");
	ix.n = mreg_git_be32(pack + 8);
	ix.budget = ((uint64_t)1 << 30) + (uint64_t)len * BYTES_PER_PACK_BYTE;
	if (ix.n > (len - 32) / 9)	/* an entry is nine bytes at least: a header byte and a zlib stream of 8 */
		return mreg_error_set(MREG_ECORRUPT, "its header counts %zu entries, more than its %zu bytes can hold", ix.n, len);
	ix.e = calloc(ix.n ? ix.n : 1, sizeof(*ix.e));
	ix.ofs = malloc((ix.n ? ix.n : 1) * sizeof(uint32_t));
	ix.refs = malloc((ix.n ? ix.n : 1) * sizeof(uint32_t));
	rows = malloc((ix.n ? ix.n : 1) * sizeof(*rows));
	if (!ix.e || !ix.ofs || !ix.refs || !rows || !(ix.d = libdeflate_alloc_decompressor())) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	if ((rc = scan(&ix)) < 0 || (rc = resolve(&ix)) < 0)
		goto done;
	for (size_t i = 0; i < ix.n; i++) {
		memcpy(rows[i].id, ix.e[i].id, 20);
		rows[i].offset = ix.e[i].off;
		rows[i].crc = ix.e[i].crc;
		rows[i].entry = (uint32_t)i;
	}
	if (!sort_rows(&rows, ix.n)) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	for (size_t i = 1; i < ix.n; i++)
		if (!memcmp(rows[i - 1].id, rows[i].id, 20)) {
			char id[41];
			mreg_git_hex(id, rows[i].id, 20);
			rc = mreg_error_set(MREG_ECORRUPT, "object %s is in it twice", id);
			goto done;
		}
	if (keys && !(*keys = malloc((ix.n ? ix.n : 1) * sizeof(**keys)))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	for (size_t i = 0; keys && i < ix.n; i++) {
		const ix_entry *e = &ix.e[rows[i].entry];
		(*keys)[i] = e->keyed ? e->key : -1;
	}
	*rows_out = rows;
	*n_out = ix.n;
	rows = NULL;
done:
	libdeflate_free_decompressor(ix.d);
	free(ix.e);
	free(ix.ofs);
	free(ix.refs);
	free(rows);
	return rc;
}

int mreg_git_index_pack(char hex[41], const char *packdir, const unsigned char *pack, size_t len, bool sync)
{
	mreg_git_pack_row *rows;
	size_t n;
	bool created;
	int rc = index_rows(&rows, &n, NULL, NULL, pack, len);
	if (rc == 0)
		rc = mreg_git_pack_store(packdir, pack, len, rows, n, sync, hex, &created);
	free(rows);
	return rc;
}

int mreg_git_index_pack_mem(mreg_buf *idx, int64_t **keys, mreg_git_key_fn key, const unsigned char *pack, size_t len)
{
	mreg_git_pack_row *rows;
	size_t n;
	if (keys)
		*keys = NULL;
	int rc = index_rows(&rows, &n, keys, key, pack, len);
	/* the rows are sorted by id already: the .idx keeps their order, which is the keys' */
	if (rc == 0)
		rc = mreg_git_idx_build(idx, rows, n, pack + len - 20);
	if (rc < 0 && keys) {
		free(*keys);
		*keys = NULL;
	}
	free(rows);
	return rc;
}

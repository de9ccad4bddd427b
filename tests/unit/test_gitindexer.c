/*
 * mreg_git_index_pack (fsstore/git/indexer.c) against git index-pack: for
 * packs git wrote (whole objects, offset deltas, id deltas), the .idx it
 * writes is git's byte for byte, under git's name, and so is the one it
 * makes in memory, through which mreg's reader reads every object where
 * the pack lies (mreg_odb_open_pack); a pack that is damaged,
 * thin, cut short or that holds an object twice is refused with a message
 * saying what, and leaves nothing in the pack directory; one byte flipped
 * anywhere in a small pack is either refused or indexed as git would.
 */
#include "test_gitutil.h"

#include <zlib.h>

/* A history whose files change a little each commit: git finds deltas in it. */
#define HISTORY_KEYED 60	/* a.txt and b.txt of each commit start with a number: whole or deltas, each keyed */
static void make_history(void)
{
	tg_sh("for i in $(seq 1 30); do seq $i 400 >a.txt; seq 1 $((i * 7)) >b.txt; printf 'v%%s\\n' $i >c.txt; "
	      "git add . && git commit -q -m c$i; done");
}

/* git pack-objects with opts, of every object of HEAD, into p-<hex>.pack and .idx in the repository; its hex. */
static char *git_pack(const char *opts)
{
	char *out = tg_capture(NULL, "git rev-list --objects HEAD | git pack-objects -q %s p", opts);
	out[strcspn(out, "\n")] = '\0';
	assert_int_equal(strlen(out), 40);
	return out;
}

/* Counts of the pack's entries by how they are stored, as git verify-pack says. */
static void entry_kinds(size_t *whole, size_t *deltas, const char *hex)
{
	char *v = tg_capture(NULL, "git verify-pack -v p-%s.idx | awk '$2 ~ /^(commit|tree|blob|tag)$/ { if (NF >= 7) "
				   "d++; else w++ } END { print w + 0, d + 0 }'", hex);
	assert_int_equal(sscanf(v, "%zu %zu", whole, deltas), 2);
	free(v);
}

/* How many entries of the pack p-<hex> are of a type (6: offset delta, 7: id delta), by the first byte at each offset. */
static size_t entries_of_type(const char *hex, int type)
{
	char path[128];
	size_t len, n = 0;
	char *pack = tg_slurp(&len, tg_fmt(path, sizeof(path), "%s/p-%s.pack", tg_cwd, hex));
	char *offs = tg_capture(NULL, "git show-index <p-%s.idx | cut -d' ' -f1", hex);
	for (char *line = strtok(offs, "\n"); line; line = strtok(NULL, "\n")) {
		size_t off = strtoull(line, NULL, 10);
		assert_true(off < len);
		n += ((unsigned char)pack[off] >> 4 & 7) == type;
	}
	free(offs);
	free(pack);
	return n;
}

/* A key of a blob's bytes for the indexer to take: the number its first line is, when it is one. */
static bool first_number(int64_t *out, const unsigned char *data, size_t len)
{
	size_t i = 0;
	int64_t v = 0;
	for (; i < len && i < 12 && data[i] >= '0' && data[i] <= '9'; i++)
		v = v * 10 + (data[i] - '0');
	if (!i || i == len || data[i] != '\n')
		return false;
	*out = v;
	return true;
}

/* What first_number makes of an object, -1 for none (or for anything but a blob). */
static int64_t expected_key(git_object_t type, const mreg_buf *obj)
{
	int64_t k;
	return type == GIT_OBJECT_BLOB && first_number(&k, (const unsigned char *)obj->ptr, obj->size) ? k : -1;
}

/*
 * The keys the indexer took (in the .idx's order) set on the pack in
 * objects/pack of a directory odb: each object's key found with where it
 * lies, the object read from there; none for the others; keys for another
 * pack or of another count refused.
 */
static void expect_keys(const char *hex, int64_t *keys, const mreg_git_idx *x, size_t min_keyed)
{
	char dir[600];
	mreg_odb *odb;
	tg_sh("rm -rf kodb && mkdir -p kodb/pack && cp p-%s.pack kodb/pack/pack-%s.pack && cp p-%s.idx kodb/pack/pack-%s.idx",
	      hex, hex, hex, hex);
	assert_int_equal(mreg_odb_open(&odb, tg_fmt(dir, sizeof(dir), "%s/kodb/", tg_cwd)), 0);
	assert_int_equal(mreg_odb_ready(odb), 0);
	int64_t *other = malloc(sizeof(*other) * x->count);
	assert_non_null(other);
	assert_int_equal(mreg_odb_set_keys(odb, "0123456789abcdef0123456789abcdef01234567", other, x->count), 1);
	other = malloc(sizeof(*other) * (x->count + 1));
	assert_int_equal(mreg_odb_set_keys(odb, hex, other, x->count + 1), 1);
	git_oid first;
	int64_t none;
	mreg_odb_where nowhere;
	memcpy(first.id, x->ids, 20);
	assert_int_equal(mreg_odb_key(&none, odb, &first, &nowhere), 1);	/* no keys set yet: none found */
	assert_int_equal(mreg_odb_set_keys(odb, hex, keys, x->count), 0);
	size_t keyed = 0, unkeyed = 0;
	for (uint32_t i = 0; i < x->count; i++) {
		git_oid id;
		git_object_t type;
		mreg_buf obj = MREG_BUF_INIT, at = MREG_BUF_INIT;
		mreg_odb_where where;
		int64_t k = -7;
		memcpy(id.id, x->ids + 20 * (size_t)i, 20);
		assert_int_equal(mreg_odb_read(&obj, &type, odb, &id), 0);
		int64_t want = expected_key(type, &obj);
		if (want < 0) {
			assert_int_equal(mreg_odb_key(&k, odb, &id, &where), 1);
			unkeyed++;
		} else {
			assert_int_equal(mreg_odb_key(&k, odb, &id, &where), 0);
			assert_int_equal(k, want);
			assert_int_equal(mreg_odb_read_at(&at, &type, odb, &where, &id), 0);
			assert_int_equal(at.size, obj.size);
			assert_memory_equal(at.ptr, obj.ptr, obj.size);
			keyed++;
		}
		mreg_buf_dispose(&obj);
		mreg_buf_dispose(&at);
	}
	assert_true(keyed >= min_keyed);
	assert_true(unkeyed >= 2);	/* a tree and a commit at least */
	mreg_odb_free(odb);
}

/* The pack indexed into a fresh directory `mine`: its .idx is git's, byte for byte, under the same name. */
/* min_keyed: how many blobs at least start with a number on a line of its own (first_number) */
static void expect_as_git(const char *hex, size_t min_keyed)
{
	char path[128], got[41], mine[600];
	size_t plen, glen, mlen;
	tg_sh("rm -rf mine && mkdir mine");
	char *pack = tg_slurp(&plen, tg_fmt(path, sizeof(path), "%s/p-%s.pack", tg_cwd, hex));
	int rc = mreg_git_index_pack(got, tg_fmt(mine, sizeof(mine), "%s/mine", tg_cwd), (const unsigned char *)pack, plen,
				     false);
	if (rc != 0)
		fail_msg("index-pack of p-%s: %d %s", hex, rc, mreg_error_last());
	assert_string_equal(got, hex);
	char *gidx = tg_slurp(&glen, tg_fmt(path, sizeof(path), "%s/p-%s.idx", tg_cwd, hex));
	char *midx = tg_slurp(&mlen, tg_fmt(mine, sizeof(mine), "%s/mine/pack-%s.idx", tg_cwd, hex));
	assert_int_equal(mlen, glen);
	assert_memory_equal(midx, gidx, glen);
	size_t mplen;
	char *mpack = tg_slurp(&mplen, tg_fmt(mine, sizeof(mine), "%s/mine/pack-%s.pack", tg_cwd, hex));
	assert_int_equal(mplen, plen);
	assert_memory_equal(mpack, pack, plen);
	free(mpack);
	/* in memory: the same .idx, and every object it lists read where the pack lies, each hashing to its id */
	mreg_buf mem = MREG_BUF_INIT, keyed = MREG_BUF_INIT;
	assert_int_equal(mreg_git_index_pack_mem(&mem, NULL, NULL, (const unsigned char *)pack, plen), 0);
	assert_int_equal(mem.size, glen);
	assert_memory_equal(mem.ptr, gidx, glen);
	/* with keys: the same .idx, and each key the one of its object's bytes */
	int64_t *keys = NULL;
	mreg_git_idx gx;
	assert_int_equal(mreg_git_index_pack_mem(&keyed, &keys, first_number, (const unsigned char *)pack, plen), 0);
	assert_int_equal(keyed.size, glen);
	assert_memory_equal(keyed.ptr, gidx, glen);
	mreg_buf_dispose(&keyed);
	assert_int_equal(mreg_git_idx_parse(&gx, gidx, glen), 0);
	expect_keys(hex, keys, &gx, min_keyed);
	mreg_odb *odb;
	mreg_git_idx x;
	size_t ilen = mem.size;
	assert_int_equal(mreg_odb_open_pack(&odb, "the pack", (const unsigned char *)pack, plen,
					    (unsigned char *)mreg_buf_detach(&mem), ilen),
			 0);
	assert_int_equal(mreg_git_idx_parse(&x, gidx, glen), 0);
	for (uint32_t i = 0; i < x.count; i++) {
		git_oid id;
		git_object_t type;
		mreg_buf obj = MREG_BUF_INIT;
		memcpy(id.id, x.ids + 20 * (size_t)i, 20);
		assert_int_equal(mreg_odb_has(odb, &id), 0);
		if (mreg_odb_read(&obj, &type, odb, &id) != 0)
			fail_msg("object %u of p-%s did not read: %s", i, hex, mreg_error_last());
		mreg_buf_dispose(&obj);
	}
	git_oid nowhere = tg_oid("0123456789abcdef0123456789abcdef01234567");
	mreg_buf none = MREG_BUF_INIT;
	git_object_t t;
	assert_int_equal(mreg_odb_read(&none, &t, odb, &nowhere), 1);
	assert_int_equal(mreg_odb_has(odb, &nowhere), 1);
	assert_int_equal(mreg_odb_refresh(odb), 0);	/* no directory to look at: the one pack stays */
	assert_int_equal(mreg_odb_has(odb, (git_oid *)(void *)x.ids), 0);
	mreg_odb_free(odb);
	free(midx);
	free(gidx);
	free(pack);
}

static void whole_objects_index_as_git_does(void **state)
{
	(void)state;
	size_t whole, deltas;
	make_history();
	char *hex = git_pack("--window=0");
	entry_kinds(&whole, &deltas, hex);
	assert_true(whole > 60);
	assert_int_equal(deltas, 0);
	expect_as_git(hex, HISTORY_KEYED);
	free(hex);
}

static void offset_deltas_index_as_git_does(void **state)
{
	(void)state;
	size_t whole, deltas;
	make_history();
	char *hex = git_pack("--delta-base-offset --window=50 --depth=50");
	entry_kinds(&whole, &deltas, hex);
	assert_true(deltas >= 20);
	assert_int_equal(tg_status("git verify-pack -v p-%s.idx | grep -q 'chain length = [2-9]'", hex), 0);
	assert_int_equal(entries_of_type(hex, 6), deltas);
	expect_as_git(hex, HISTORY_KEYED);
	free(hex);
}

/* Without --delta-base-offset, git writes deltas that name their base by id (what mreg's bundles hold after a gc). */
static void id_deltas_index_as_git_does(void **state)
{
	(void)state;
	size_t whole, deltas;
	make_history();
	char *hex = git_pack("--window=50 --depth=50");
	entry_kinds(&whole, &deltas, hex);
	assert_true(deltas >= 20);
	assert_int_equal(entries_of_type(hex, 7), deltas);
	expect_as_git(hex, HISTORY_KEYED);
	free(hex);
}

/*
 * Many ids that share their first two bytes (found by hashing candidates:
 * a pack made to crowd one prefix), beside ordinary ones: the indexer sorts
 * them as git does.
 */
static void a_crowded_prefix_indexes_as_git_does(void **state)
{
	(void)state;
	int found[2] = { 0, 0 };
	tg_sh("mkdir crowd && seq 1 50 >plain.txt");
	/* 40 under 0000 (more than the indexer sorts by insertion), 20 under 0001 (sorted by insertion) */
	for (unsigned long n = 0; found[0] < 40 || found[1] < 20; n++) {
		char text[64], path[600];
		int len = snprintf(text, sizeof(text), "%lu\ncrowd\n", n);	/* keyed: n */
		git_oid id;
		mreg_git_hash(&id, GIT_OBJECT_BLOB, text, (size_t)len);
		if (id.id[0] || id.id[1] > 1 || found[id.id[1]] == (id.id[1] ? 20 : 40))
			continue;
		FILE *f = fopen(tg_fmt(path, sizeof(path), "%s/crowd/%lu.txt", tg_cwd, n), "w");
		assert_non_null(f);
		fputs(text, f);
		fclose(f);
		found[id.id[1]]++;
	}
	tg_sh("git add . && git commit -q -m crowd");
	char *hex = git_pack("--window=0");
	char *n = tg_capture(NULL, "git show-index <p-%s.idx | awk '$2 ~ /^0000/ { a++ } $2 ~ /^0001/ { b++ } END { print a, b }'",
			     hex);
	assert_string_equal(n, "40 20\n");
	free(n);
	expect_as_git(hex, 61);	/* the crowd and plain.txt */
	free(hex);
}

/* What indexing data in memory answers, and its message, with MREG_FOLD_THREADS=threads. */
static int index_with(char *msg, size_t n, const char *data, size_t len, const char *threads)
{
	mreg_buf idx = MREG_BUF_INIT;
	setenv("MREG_FOLD_THREADS", threads, 1);
	mreg_error_clear();
	int rc = mreg_git_index_pack_mem(&idx, NULL, NULL, (const unsigned char *)data, len);
	snprintf(msg, n, "%s", rc ? mreg_error_last() : "");
	unsetenv("MREG_FOLD_THREADS");
	mreg_buf_dispose(&idx);
	return rc;
}

/*
 * A pack of more than a megabyte is scanned in two halves, the second on
 * a thread of its own from an entry's start it guesses: the .idx is git's
 * all the same (deltas and keys too), the second half is taken, and a pack
 * damaged anywhere (a byte flipped, cut short, a count off by one) answers
 * what one thread's scan answers, word for word.
 */
static void a_large_pack_is_scanned_in_halves(void **state)
{
	(void)state;
	char path[128];
	size_t len;
	make_history();
	tg_sh("mkdir big && head -c 3000000 /dev/urandom | split -b 1500 - big/f && git add big && git commit -q -m big");
	char *hex = git_pack("--delta-base-offset --window=50 --depth=50");
	char *pack = tg_slurp(&len, tg_fmt(path, sizeof(path), "%s/p-%s.pack", tg_cwd, hex));
	assert_true(len > (2u << 20));
	size_t before = mreg_git_index_halves();
	setenv("MREG_FOLD_THREADS", "2", 1);
	expect_as_git(hex, HISTORY_KEYED);
	unsetenv("MREG_FOLD_THREADS");
	assert_true(mreg_git_index_halves() > before);
	char *copy = malloc(len);
	assert_non_null(copy);
	uint32_t r = 7;
	for (int t = 0; t < 40; t++) {
		char one[1024], two[1024];
		size_t cut = len;
		memcpy(copy, pack, len);
		r = r * 1103515245u + 12345u;
		if (t % 10 == 8)
			cut = len - 1 - r % (len / 2);	/* cut short */
		else if (t % 10 == 9)
			copy[11] = (char)(copy[11] + (t % 20 == 9 ? 1 : -1));	/* one entry more, one fewer */
		else
			copy[12 + r % (len - 32)] ^= (char)(1 + r % 255);	/* a byte anywhere, the second half included */
		int rc1 = index_with(one, sizeof(one), copy, cut, "1"), rc2 = index_with(two, sizeof(two), copy, cut, "2");
		assert_int_equal(rc2, rc1);
		assert_string_equal(two, one);
	}
	free(copy);
	free(pack);
	free(hex);
}

/* The pack at path refused with a message matching want (a substring), and nothing left in `mine`. */
static void expect_refused(const char *data, size_t len, const char *want)
{
	char got[41], mine[600];
	tg_sh("rm -rf mine && mkdir mine");
	mreg_error_clear();
	int rc = mreg_git_index_pack(got, tg_fmt(mine, sizeof(mine), "%s/mine", tg_cwd), (const unsigned char *)data, len,
				     false);
	assert_int_equal(rc, MREG_ECORRUPT);
	if (!strstr(mreg_error_last(), want))
		fail_msg("message '%s' does not say '%s'", mreg_error_last(), want);
	char *left = tg_capture(NULL, "ls -A mine");
	assert_string_equal(left, "");
	free(left);
}

static void damaged_packs_are_refused(void **state)
{
	(void)state;
	char path[128];
	size_t len;
	make_history();
	char *hex = git_pack("--delta-base-offset --window=50");
	char *pack = tg_slurp(&len, tg_fmt(path, sizeof(path), "%s/p-%s.pack", tg_cwd, hex));
	char *copy = malloc(len);
	assert_non_null(copy);

	memcpy(copy, pack, len);
	copy[1] = 'X';
	expect_refused(copy, len, "not a pack");
	/* cut short: the last entries run into what is left */
	expect_refused(pack, len - 200, "");
	/* one entry more than the pack holds */
	memcpy(copy, pack, len);
	copy[11]++;
	expect_refused(copy, len, "");
	/* one entry fewer: the entries end before the checksum */
	memcpy(copy, pack, len);
	copy[11]--;
	expect_refused(copy, len, "not at its checksum");
	/* a count no pack of this size can hold */
	memcpy(copy, pack, len);
	copy[8] = 0x7f;
	expect_refused(copy, len, "more than its");
	/* a byte of the first entry's zlib data flipped: its checksum fails */
	memcpy(copy, pack, len);
	copy[12 + 8] ^= 0x55;
	expect_refused(copy, len, "offset 12");
	free(copy);
	free(pack);
	free(hex);
}

/* A thin pack (git's for a fetch) has deltas on bases it does not carry. */
static void thin_packs_are_refused(void **state)
{
	(void)state;
	char path[128];
	size_t len;
	make_history();
	tg_sh("printf 'HEAD\\n^HEAD~1\\n' | git pack-objects -q --revs --thin --stdout >thin.pack");
	char *pack = tg_slurp(&len, tg_fmt(path, sizeof(path), "%s/thin.pack", tg_cwd));
	assert_int_not_equal(tg_status("git index-pack --stdin <thin.pack >/dev/null 2>&1"), 0);
	expect_refused(pack, len, "whose base is not in the pack");
	free(pack);
}

/* The same object twice: git's index would name it twice; refused. */
static void an_object_twice_is_refused(void **state)
{
	(void)state;
	mreg_git_packw w;
	git_oid id;
	char hex[41], want[80];
	static const char blob[] = "the same bytes\n";
	assert_int_equal(git_odb_hash(&id, blob, sizeof(blob) - 1, GIT_OBJECT_BLOB), 0);
	mreg_git_packw_init(&w, false, NULL);
	assert_int_equal(mreg_git_packw_add(&w, &id, GIT_OBJECT_BLOB, blob, sizeof(blob) - 1), 0);
	assert_int_equal(mreg_git_packw_add(&w, &id, GIT_OBJECT_BLOB, blob, sizeof(blob) - 1), 0);
	assert_int_equal(mreg_git_packw_finish(&w, hex), 0);
	expect_refused(w.pack.ptr + w.start, w.pack.size - w.start,
		       tg_fmt(want, sizeof(want), "object %s is in it twice", git_oid_tostr(hex, sizeof(hex), &id)));
	mreg_git_packw_dispose(&w);
}

/* A pack entry's header: type and size, 4 + 7n bits. */
static void put_entry_header(mreg_buf *b, int type, size_t size)
{
	unsigned char c = (unsigned char)((type << 4) | (size & 15));
	size >>= 4;
	while (size) {
		mreg_buf_putc(b, (char)(c | 0x80));
		c = (unsigned char)(size & 0x7f);
		size >>= 7;
	}
	mreg_buf_putc(b, (char)c);
}

static void put_deflated(mreg_buf *b, const void *data, size_t len)
{
	uLongf n = compressBound((uLong)len);
	unsigned char *z = malloc(n);
	assert_non_null(z);
	assert_int_equal(compress(z, &n, data, (uLong)len), Z_OK);
	mreg_buf_put(b, z, n);
	free(z);
}

static void put_varint(mreg_buf *b, size_t v)
{
	do {
		mreg_buf_putc(b, (char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0)));
		v >>= 7;
	} while (v);
}

/*
 * A pack of a 64 KiB blob and `ndeltas` id deltas on it, each `ops` copy
 * instructions of 64 KiB of the blob (one byte each: 0x80): each delta
 * makes ops * 64 KiB from a few bytes of zlib.
 */
static void delta_bomb(mreg_buf *pack, size_t ops, int ndeltas)
{
	static unsigned char zeros[65536];
	mreg_buf delta = MREG_BUF_INIT;
	git_oid base;
	unsigned char n[4], sum[20];
	assert_int_equal(git_odb_hash(&base, zeros, sizeof(zeros), GIT_OBJECT_BLOB), 0);
	put_varint(&delta, sizeof(zeros));
	put_varint(&delta, ops * sizeof(zeros));
	for (size_t i = 0; i < ops; i++)
		mreg_buf_putc(&delta, (char)0x80);
	mreg_buf_put(pack, "PACK\0\0\0\2", 8);
	mreg_git_put_be32(n, (uint32_t)(1 + ndeltas));
	mreg_buf_put(pack, n, 4);
	put_entry_header(pack, GIT_OBJECT_BLOB, sizeof(zeros));
	put_deflated(pack, zeros, sizeof(zeros));
	for (int k = 0; k < ndeltas; k++) {
		put_entry_header(pack, GIT_OBJECT_REF_DELTA, delta.size);
		mreg_buf_put(pack, base.id, 20);
		put_deflated(pack, delta.ptr, delta.size);
	}
	mreg_git_sha1(sum, pack->ptr, pack->size);
	mreg_buf_put(pack, sum, 20);
	assert_false(mreg_buf_oom(pack));
	mreg_buf_dispose(&delta);
}

/* A delta that would make more than 128 MiB from a few bytes is refused before anything that large is allocated. */
static void a_delta_past_the_limit_is_refused(void **state)
{
	(void)state;
	mreg_buf pack = MREG_BUF_INIT;
	delta_bomb(&pack, 2049, 1);	/* 2049 * 64 KiB: 128 MiB and 64 KiB */
	assert_true(pack.size < 2000);
	expect_refused(pack.ptr, pack.size, "is a delta that would make more than 128 MiB");
	mreg_buf_dispose(&pack);
	/* the same bomb one copy smaller is 128 MiB exactly: indexed */
	mreg_buf ok = MREG_BUF_INIT;
	char got[41], mine[600];
	delta_bomb(&ok, 2048, 1);
	tg_sh("rm -rf mine && mkdir mine");
	assert_int_equal(mreg_git_index_pack(got, tg_fmt(mine, sizeof(mine), "%s/mine", tg_cwd),
					     (const unsigned char *)ok.ptr, ok.size, false),
			 0);
	assert_int_equal(tg_status("git show-index <mine/pack-%s.idx | wc -l | grep -qx 2", got), 0);
	mreg_buf_dispose(&ok);
}

/*
 * Nine such deltas of 128 MiB each on one blob: each alone within the
 * limit, together past what a pack of a few hundred bytes may come to
 * (1 GiB and 4096 bytes a byte of the pack): refused at the ninth.
 */
static void deltas_past_the_pack_budget_are_refused(void **state)
{
	(void)state;
	mreg_buf pack = MREG_BUF_INIT;
	delta_bomb(&pack, 2048, 9);
	assert_true(pack.size < 2000);
	expect_refused(pack.ptr, pack.size, "makes its objects more than the pack may come to");
	mreg_buf_dispose(&pack);
}

/*
 * Every byte of a small pack with deltas flipped in turn (the checksum
 * aside, which is the caller's): each is refused, or indexed to an .idx
 * git index-pack writes for the same bytes. Under the sanitizers, no
 * flip reads or writes out of bounds.
 */
static void every_flipped_byte_is_refused_or_indexed_as_git_does(void **state)
{
	(void)state;
	char path[128], got[41], mine[600];
	size_t len;
	tg_sh("for i in $(seq 1 4); do seq $i 60 >a.txt; git add . && git commit -q -m c$i; done");
	char *hex = git_pack("--delta-base-offset --window=10");
	char *pack = tg_slurp(&len, tg_fmt(path, sizeof(path), "%s/p-%s.pack", tg_cwd, hex));
	size_t indexed = 0, refused = 0;
	char *fixed = malloc(len);
	assert_non_null(fixed);
	tg_fmt(mine, sizeof(mine), "%s/mine", tg_cwd);
	for (size_t at = 0; at < len - 20; at++) {
		pack[at] ^= 0x20;
		tg_sh("rm -rf mine && mkdir mine");
		int rc = mreg_git_index_pack(got, mine, (const unsigned char *)pack, len, false);
		if (rc == 0) {
			/* git must agree: the same bytes with their checksum made anew, indexed by git, hold the same objects where */
			indexed++;
			memcpy(fixed, pack, len - 20);
			mreg_git_sha1((unsigned char *)fixed + len - 20, fixed, len - 20);
			tg_put(tg_fmt(path, sizeof(path), "%s/f.pack", tg_cwd), fixed, len);
			tg_sh("rm -f f.idx && git index-pack -o f.idx f.pack >/dev/null 2>&1 && "
			      "git show-index <f.idx | sort >a && git show-index <mine/pack-%s.idx | sort >b && cmp -s a b", got);
		} else {
			assert_int_equal(rc, MREG_ECORRUPT);
			refused++;
		}
		if (at < 12 && rc == 0)	/* "PACK", its version and its count */
			fail_msg("a flip in the header at %zu was indexed", at);
		pack[at] ^= 0x20;
	}
	/* every entry's bytes are under its zlib stream's checksum or its header: nearly every flip is refused */
	assert_int_equal(indexed + refused, len - 20);
	assert_true(refused > (len - 20) * 9 / 10);
	free(fixed);
	free(pack);
	free(hex);
}

static int group_setup(void **state)
{
	return tg_setup_group(state);
}

static int group_teardown(void **state)
{
	return tg_teardown_group(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TG_REPO_TEST(whole_objects_index_as_git_does),
		TG_REPO_TEST(offset_deltas_index_as_git_does),
		TG_REPO_TEST(id_deltas_index_as_git_does),
		TG_REPO_TEST(a_crowded_prefix_indexes_as_git_does),
		TG_REPO_TEST(a_large_pack_is_scanned_in_halves),
		TG_REPO_TEST(damaged_packs_are_refused),
		TG_REPO_TEST(thin_packs_are_refused),
		TG_REPO_TEST(an_object_twice_is_refused),
		TG_REPO_TEST(a_delta_past_the_limit_is_refused),
		TG_REPO_TEST(deltas_past_the_pack_budget_are_refused),
		TG_REPO_TEST(every_flipped_byte_is_refused_or_indexed_as_git_does),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

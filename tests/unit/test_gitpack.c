/*
 * Unit tests for fsstore/git/packw.c: packs and their indexes, written.
 *
 * The references are libgit2 and git. A pack written here must be one
 * libgit2 reads every object of (git_odb_read: type and bytes) and
 * `git verify-pack` accepts; a pack copied entry by entry from one git
 * wrote with offset deltas must be one libgit2's indexer takes, holding
 * every object with the same bytes, and the .idx written here must be the
 * one libgit2's indexer writes for the same pack. The shapes a test needs
 * (deltas by offset, by id) are asserted before they are relied on, so a
 * git that packs differently fails the test instead of passing it on
 * easier input.
 */
#include "test_gitutil.h"

#include <dirent.h>

/* ---- objects to pack ---- */

/* Objects with their ids, types and bytes; zero-initialise, dispose when done. */
typedef struct {
	git_oid *id;
	git_object_t *type;
	mreg_buf *data;
	size_t n, a;
} objects;

static void objects_add(objects *o, git_object_t type, const void *data, size_t len)
{
	if (o->n == o->a) {
		o->a = o->a ? 2 * o->a : 16;
		o->id = realloc(o->id, o->a * sizeof(*o->id));
		o->type = realloc(o->type, o->a * sizeof(*o->type));
		o->data = realloc(o->data, o->a * sizeof(*o->data));
		assert_true(o->id && o->type && o->data);
	}
	mreg_buf_init(&o->data[o->n], 0);
	assert_int_equal(mreg_buf_put(&o->data[o->n], data, len), 0);
	mreg_git_hash(&o->id[o->n], type, data, len);
	o->type[o->n++] = type;
}

static void objects_dispose(objects *o)
{
	for (size_t i = 0; i < o->n; i++)
		mreg_buf_dispose(&o->data[i]);
	free(o->id);
	free(o->type);
	free(o->data);
	memset(o, 0, sizeof(*o));
}

/* Bytes that do not compress (len of them, from seed). */
static void random_bytes(mreg_buf *b, size_t len, unsigned seed)
{
	srand(seed);
	for (size_t i = 0; i < len; i++)
		mreg_buf_putc(b, (char)rand());
	assert_false(mreg_buf_oom(b));
}

/*
 * Every kind of object and size the writer treats apart: empty, small,
 * a blob past zlib's largest window (32 KiB) and one past a stored
 * block (64 KiB) that does not compress; a small tree and a tree of
 * 3000 entries (stored in several blocks); a root commit; a tag.
 */
static void every_kind(objects *o)
{
	mreg_buf b = MREG_BUF_INIT;
	objects_add(o, GIT_OBJECT_BLOB, "", 0);
	objects_add(o, GIT_OBJECT_BLOB, "hello\n", 6);
	for (int i = 0; i < 4000; i++)
		mreg_buf_printf(&b, "line %d of a text that compresses\n", i);
	assert_true(b.size > 100000);
	objects_add(o, GIT_OBJECT_BLOB, b.ptr, b.size);
	mreg_buf_clear(&b);
	random_bytes(&b, 70000, 5);
	objects_add(o, GIT_OBJECT_BLOB, b.ptr, b.size);
	mreg_buf_clear(&b);
	random_bytes(&b, 33000, 6);
	objects_add(o, GIT_OBJECT_BLOB, b.ptr, b.size);

	mreg_git_tree_entry e[3001];
	size_t n = 0;
	char names[3000][16];
	mreg_git_tree_entry_init(&e[0], "hello", 5, false, &o->id[1]);
	mreg_git_tree_entry_init(&e[1], "big", 3, false, &o->id[2]);
	mreg_git_tree_entry_init(&e[2], "empty", 5, false, &o->id[0]);
	mreg_git_tree_set(e, &n, &e[0]);
	mreg_git_tree_set(e, &n, &e[1]);
	mreg_git_tree_set(e, &n, &e[2]);
	mreg_buf_clear(&b);
	assert_int_equal(mreg_git_tree_write(&b, e, n), 0);
	objects_add(o, GIT_OBJECT_TREE, b.ptr, b.size);
	git_oid small_tree = o->id[o->n - 1];
	n = 0;
	for (int i = 0; i < 3000; i++) {
		snprintf(names[i], sizeof(names[i]), "f%04d", i % 10000);
		mreg_git_tree_entry_init(&e[n], names[i], strlen(names[i]), i % 7 == 0, &o->id[i % 3]);
		n++;
	}
	mreg_buf_clear(&b);
	assert_int_equal(mreg_git_tree_write(&b, e, n), 0);
	assert_true(b.size > 65535);	/* more than one stored block */
	objects_add(o, GIT_OBJECT_TREE, b.ptr, b.size);

	mreg_buf_clear(&b);
	assert_int_equal(mreg_git_commit_write(&b, &small_tree, NULL, "t", "t@t", 1700000000, "one\n"), 0);
	objects_add(o, GIT_OBJECT_COMMIT, b.ptr, b.size);
	char hex[41];
	git_oid_tostr(hex, sizeof(hex), &o->id[o->n - 1]);
	mreg_buf_clear(&b);
	mreg_buf_printf(&b, "object %s\ntype commit\ntag v1\ntagger t <t@t> 1700000000 +0000\n\nrelease\n", hex);
	objects_add(o, GIT_OBJECT_TAG, b.ptr, b.size);
	mreg_buf_dispose(&b);
}

/* ---- libgit2's side ---- */

static git_repository *open_repo(const char *dir)
{
	git_repository *repo = NULL;
	if (git_repository_open(&repo, dir) != 0)
		fail_msg("cannot open '%s': %s", dir, git_error_last()->message);
	return repo;
}

/* Each object read back by libgit2 from the repository at dir: its type and bytes. */
static void expect_libgit2_reads(const char *dir, const objects *o)
{
	git_repository *repo = open_repo(dir);
	git_odb *odb = NULL;
	assert_int_equal(git_repository_odb(&odb, repo), 0);
	for (size_t i = 0; i < o->n; i++) {
		git_odb_object *obj = NULL;
		if (git_odb_read(&obj, odb, &o->id[i]) != 0)
			fail_msg("libgit2 cannot read object %zu: %s", i, git_error_last()->message);
		assert_int_equal(git_odb_object_type(obj), o->type[i]);
		assert_int_equal(git_odb_object_size(obj), o->data[i].size);
		assert_memory_equal(git_odb_object_data(obj), o->data[i].ptr, o->data[i].size);
		git_odb_object_free(obj);
	}
	git_odb_free(odb);
	git_repository_free(repo);
}

/* Every object of the repository at dir (libgit2's list), with its type and bytes, into o. */
typedef struct {
	git_odb *odb;
	objects *o;
} collect;

static int collect_one(const git_oid *id, void *payload)
{
	collect *c = payload;
	git_odb_object *obj = NULL;
	assert_int_equal(git_odb_read(&obj, c->odb, id), 0);
	objects_add(c->o, git_odb_object_type(obj), git_odb_object_data(obj), git_odb_object_size(obj));
	assert_true(git_oid_equal(&c->o->id[c->o->n - 1], id));
	git_odb_object_free(obj);
	return 0;
}

static void all_objects(objects *o, const char *dir)
{
	git_repository *repo = open_repo(dir);
	collect c = { NULL, o };
	assert_int_equal(git_repository_odb(&c.odb, repo), 0);
	assert_int_equal(git_odb_foreach(c.odb, collect_one, &c), 0);
	git_odb_free(c.odb);
	git_repository_free(repo);
}

/* The pack's bytes indexed by libgit2's indexer into dir: its name (hex) and the .idx it wrote. */
static void libgit2_index(char hex[41], mreg_buf *idx, const void *pack, size_t len, const char *dir)
{
	git_indexer *ix = NULL;
	git_indexer_progress stats;
	char path[600];
	assert_int_equal(mreg_fs_mkdirs(dir), 0);
	assert_int_equal(git_indexer_new(&ix, dir, 0, NULL, NULL), 0);
	if (git_indexer_append(ix, pack, len, &stats) != 0 || git_indexer_commit(ix, &stats) != 0)
		fail_msg("libgit2's indexer refuses the pack: %s", git_error_last()->message);
	snprintf(hex, 41, "%s", git_indexer_name(ix));
	git_indexer_free(ix);
	char *bytes = tg_slurp(&len, tg_fmt(path, sizeof(path), "%s/pack-%s.idx", dir, hex));
	mreg_buf_clear(idx);
	mreg_buf_put(idx, bytes, len);
	free(bytes);
}

/* ---- packs on disk ---- */

static const char *packdir(char *out, size_t n, const char *repo)
{
	return tg_fmt(out, n, "%s/.git/objects/pack", repo);
}

/* What mreg_git_entry_parse finds at each entry of a pack: how many of each type (1-7). */
static void entry_kinds(size_t kinds[8], const char *idx, size_t ilen, const char *pack, size_t plen)
{
	mreg_git_idx x;
	memset(kinds, 0, 8 * sizeof(kinds[0]));
	assert_int_equal(mreg_git_idx_parse(&x, idx, ilen), 0);
	for (uint32_t i = 0; i < x.count; i++) {
		uint64_t off;
		mreg_git_entry e;
		assert_true(mreg_git_idx_offset(&off, &x, i));
		assert_true(off < plen - 20);
		assert_true(mreg_git_entry_parse(&e, (const unsigned char *)pack + off, (const unsigned char *)pack + plen - 20));
		assert_true(e.type >= 1 && e.type <= 7);
		kinds[e.type]++;
	}
}

/* The one pack of dir (the test fails if there is not exactly one): its path without ".pack". */
static void the_one_pack(char *out, size_t n, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t found = 0;
	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l > 5 && !strcmp(de->d_name + l - 5, ".pack")) {
			tg_fmt(out, n, "%s/%.*s", dir, (int)(l - 5), de->d_name);
			found++;
		}
	}
	closedir(d);
	assert_int_equal(found, 1);
}

/* The files of a pack (path without extension). */
typedef struct {
	char *idx, *pack;
	size_t ilen, plen;
} packfiles;

static void load_pack(packfiles *p, const char *path)
{
	char f[700];
	p->idx = tg_slurp(&p->ilen, tg_fmt(f, sizeof(f), "%s.idx", path));
	p->pack = tg_slurp(&p->plen, tg_fmt(f, sizeof(f), "%s.pack", path));
}

static void unload_pack(packfiles *p)
{
	free(p->idx);
	free(p->pack);
	memset(p, 0, sizeof(*p));
}

/* 40 similar blobs of 4 KB, committed and packed by git with deltas by offset (asserted). */
static void git_pack_with_offset_deltas(packfiles *p)
{
	char dir[600], path[700];
	tg_sh("for i in $(seq 1 40); do seq 1 800 | sed \"$((i * 10))s/$/ changed in $i/\" >f$i; done\n"
	      "git add . && git commit -q -m many && git repack -q -a -d -f --depth=50");
	the_one_pack(path, sizeof(path), packdir(dir, sizeof(dir), tg_cwd));
	load_pack(p, path);
	size_t kinds[8];
	entry_kinds(kinds, p->idx, p->ilen, p->pack, p->plen);
	assert_true(kinds[GIT_OBJECT_OFS_DELTA] >= 20);
	assert_int_equal(kinds[GIT_OBJECT_REF_DELTA], 0);
}

/* ---- the tests ---- */

static void stored_objects_read_back_through_libgit2(void **state)
{
	(void)state;
	objects o = { 0 };
	mreg_git_packw w;
	char dir[600], hex[41], path[700];
	bool created = false;
	every_kind(&o);
	mreg_git_packw_init(&w, true, NULL);
	for (size_t i = 0; i < o.n; i++)
		assert_int_equal(mreg_git_packw_add(&w, &o.id[i], o.type[i], o.data[i].ptr, o.data[i].size), 0);
	assert_int_equal(w.count, o.n);
	assert_int_equal(mreg_git_packw_store(&w, packdir(dir, sizeof(dir), tg_cwd), true, hex, &created), 0);
	mreg_git_packw_dispose(&w);
	assert_true(created);
	assert_int_equal(strlen(hex), 40);
	expect_libgit2_reads(tg_cwd, &o);
	/* git's own check of the pack and its index: every object, every CRC, the checksums */
	char *out = tg_capture(NULL, "git verify-pack -v '%s'", tg_fmt(path, sizeof(path), "%s/pack-%s.idx", dir, hex));
	size_t lines = 0;
	for (size_t i = 0; i < o.n; i++) {
		char hexid[41];
		git_oid_tostr(hexid, sizeof(hexid), &o.id[i]);
		lines += strstr(out, hexid) != NULL;
	}
	assert_int_equal(lines, o.n);
	assert_non_null(strstr(out, ": ok"));
	free(out);
	/* git reads each one as libgit2 does */
	char tag[41];
	git_oid_tostr(tag, sizeof(tag), &o.id[o.n - 1]);
	tg_sh("test \"$(git cat-file -t %s)\" = tag && git cat-file -p %s | grep -q '^release$'", tag, tag);
	objects_dispose(&o);
}

/* The BTYPE of the first deflate block of object id's entry in pack p: 1 fixed codes, 2 the object's own. */
static int first_block_type(const packfiles *p, const git_oid *id)
{
	mreg_git_idx x;
	uint32_t pos;
	uint64_t off;
	mreg_git_entry e;
	const unsigned char *pack = (const unsigned char *)p->pack;
	assert_int_equal(mreg_git_idx_parse(&x, p->idx, p->ilen), 0);
	assert_true(mreg_git_idx_find(&pos, &x, id->id));
	assert_true(mreg_git_idx_offset(&off, &x, pos));
	assert_true(mreg_git_entry_parse(&e, pack + off, pack + p->plen - 20));
	assert_true(e.data + 3 <= pack + p->plen - 20);
	assert_int_equal(e.data[0] & 0x0f, 8);	/* zlib's header: deflate */
	assert_false(e.data[1] & 0x20);	/* no preset dictionary, whose id would come next */
	return (e.data[2] >> 1) & 3;	/* after the two bytes of the header: BFINAL, then BTYPE */
}

/*
 * An event-sized blob is deflated with deflate's fixed Huffman codes,
 * which a reader builds once; a blob one byte past packw.c's FIXED_MAX
 * (2048 bytes) that compresses, with codes of its own; one of exactly
 * FIXED_MAX with the fixed codes, and one past it again, each after the
 * other kind through the same writer. libgit2 and git read them all.
 */
static void small_objects_take_fixed_codes_and_large_ones_their_own(void **state)
{
	(void)state;
	objects o = { 0 };
	mreg_git_packw w;
	mreg_buf b = MREG_BUF_INIT;
	char dir[600], hex[41], path[700];
	bool created = false;
	static const size_t text[4] = { 0, 2049, 2048, 2049 };	/* 0: an event */
	for (int k = 0; k < 4; k++) {
		mreg_buf_clear(&b);
		if (text[k]) {
			for (int i = 0; b.size < text[k]; i++)
				mreg_buf_printf(&b, "line %d of a text that compresses %d\n", i, k);
			objects_add(&o, GIT_OBJECT_BLOB, b.ptr, text[k]);
			continue;
		}
		mreg_buf_puts(&b, "{\"event_id\": \"0f3a\", \"kind\": \"metrics\", \"metrics\": {");
		for (int i = 0; i < 20; i++)
			mreg_buf_printf(&b, "%s\"m%d\": %d.%d", i ? ", " : "", i, i * 37, i * 11);
		mreg_buf_puts(&b, "}}\n");
		objects_add(&o, GIT_OBJECT_BLOB, b.ptr, b.size);
	}
	mreg_buf_dispose(&b);
	mreg_git_packw_init(&w, true, NULL);
	for (size_t i = 0; i < o.n; i++)
		assert_int_equal(mreg_git_packw_add(&w, &o.id[i], o.type[i], o.data[i].ptr, o.data[i].size), 0);
	assert_int_equal(mreg_git_packw_store(&w, packdir(dir, sizeof(dir), tg_cwd), true, hex, &created), 0);
	mreg_git_packw_dispose(&w);
	packfiles p;
	load_pack(&p, tg_fmt(path, sizeof(path), "%s/pack-%s", dir, hex));
	assert_int_equal(first_block_type(&p, &o.id[0]), 1);
	assert_int_equal(first_block_type(&p, &o.id[1]), 2);
	assert_int_equal(first_block_type(&p, &o.id[2]), 1);
	assert_int_equal(first_block_type(&p, &o.id[3]), 2);
	unload_pack(&p);
	expect_libgit2_reads(tg_cwd, &o);
	tg_sh("git verify-pack '%s/pack-%s.idx'", dir, hex);
	objects_dispose(&o);
}

static void the_same_pack_stored_twice_is_created_once(void **state)
{
	(void)state;
	objects o = { 0 };
	char dir[600], hex1[41], hex2[41], path[700];
	bool created1 = false, created2 = true;
	every_kind(&o);
	packdir(dir, sizeof(dir), tg_cwd);
	for (int round = 0; round < 2; round++) {
		mreg_git_packw w;
		mreg_git_packw_init(&w, true, NULL);
		for (size_t i = 0; i < o.n; i++)
			assert_int_equal(mreg_git_packw_add(&w, &o.id[i], o.type[i], o.data[i].ptr, o.data[i].size), 0);
		assert_int_equal(mreg_git_packw_store(&w, dir, false, round ? hex2 : hex1, round ? &created2 : &created1), 0);
		mreg_git_packw_dispose(&w);
	}
	assert_true(created1);
	assert_false(created2);
	assert_string_equal(hex1, hex2);
	/* one pack and its index, nothing left beside them */
	char *ls = tg_capture(NULL, "ls -A '%s'", dir);
	assert_string_equal(ls, tg_fmt(path, sizeof(path), "pack-%s.idx\npack-%s.pack\n", hex1, hex1));
	free(ls);
	expect_libgit2_reads(tg_cwd, &o);
	objects_dispose(&o);
}

/*
 * A pack git wrote with deltas by offset, copied with ofs_to_ref: the new
 * pack holds every object with the same bytes (libgit2 reads them from
 * it), has no offset delta left, and its .idx is the one libgit2's indexer
 * writes for it.
 */
static void offset_deltas_copied_by_id_are_indexed_by_libgit2(void **state)
{
	(void)state;
	packfiles in;
	objects want = { 0 };
	mreg_git_packw w;
	mreg_git_oidset seen = { NULL, 0, 0 };
	char dir[600], other[600], hex[41], hex2[41], path[700];
	bool created = false;
	git_pack_with_offset_deltas(&in);
	size_t count = 0;
	{
		mreg_git_idx x;
		assert_int_equal(mreg_git_idx_parse(&x, in.idx, in.ilen), 0);
		count = x.count;
	}
	mreg_git_packw_init(&w, true, NULL);
	assert_int_equal(mreg_git_packw_copy(&w, &seen, in.idx, in.ilen, in.pack, in.plen, true), 0);
	assert_int_equal(w.count, count);
	assert_int_equal(seen.n, count);
	tg_fmt(other, sizeof(other), "%s/other", tg_work);
	tg_sh("git init -q '%s'", other);
	assert_int_equal(mreg_git_packw_store(&w, packdir(dir, sizeof(dir), other), false, hex, &created), 0);
	assert_true(created);
	mreg_git_packw_dispose(&w);
	mreg_git_oidset_dispose(&seen);

	packfiles out;
	load_pack(&out, tg_fmt(path, sizeof(path), "%s/pack-%s", dir, hex));
	size_t kinds[8];
	entry_kinds(kinds, out.idx, out.ilen, out.pack, out.plen);
	assert_int_equal(kinds[GIT_OBJECT_OFS_DELTA], 0);
	assert_true(kinds[GIT_OBJECT_REF_DELTA] >= 20);
	mreg_buf theirs = MREG_BUF_INIT;
	libgit2_index(hex2, &theirs, out.pack, out.plen, tg_fmt(path, sizeof(path), "%s/indexed", tg_work));
	assert_string_equal(hex2, hex);
	assert_int_equal(theirs.size, out.ilen);
	assert_memory_equal(theirs.ptr, out.idx, out.ilen);
	mreg_buf_dispose(&theirs);

	unload_pack(&out);
	unload_pack(&in);
	tg_sh("git verify-pack '%s/pack-%s.idx'", dir, hex);
	all_objects(&want, tg_cwd);
	assert_int_equal(want.n, count);
	expect_libgit2_reads(other, &want);
	objects_dispose(&want);
}

/* The same pack without ofs_to_ref: not copied, and nothing added to the writer or to seen. */
static void offset_deltas_without_ofs_to_ref_are_unsure_and_add_nothing(void **state)
{
	(void)state;
	packfiles in;
	mreg_git_packw w;
	mreg_git_oidset seen = { NULL, 0, 0 };
	git_pack_with_offset_deltas(&in);
	mreg_git_packw_init(&w, true, NULL);
	size_t size = w.pack.size;
	assert_int_equal(mreg_git_packw_copy(&w, &seen, in.idx, in.ilen, in.pack, in.plen, false), MREG_GIT_UNSURE);
	assert_int_equal(w.count, 0);
	assert_int_equal(w.pack.size, size);
	assert_int_equal(w.rows.size, 0);
	assert_int_equal(seen.n, 0);
	mreg_git_packw_dispose(&w);
	mreg_git_oidset_dispose(&seen);
	unload_pack(&in);
}

static int insert_one(const git_oid *id, void *payload)
{
	return git_packbuilder_insert(payload, id, NULL);
}

/* libgit2's packbuilder's pack of every object of the repository at tg_cwd, written into dir: its path without ".pack". */
static void libgit2_pack(char *out, size_t n, const char *dir)
{
	git_repository *repo = open_repo(tg_cwd);
	git_packbuilder *pb = NULL;
	git_odb *odb = NULL;
	assert_int_equal(git_packbuilder_new(&pb, repo), 0);
	assert_int_equal(git_repository_odb(&odb, repo), 0);
	assert_int_equal(git_odb_foreach(odb, insert_one, pb), 0);
	assert_int_equal(mreg_fs_mkdirs(dir), 0);
	assert_int_equal(git_packbuilder_write(pb, dir, 0, NULL, NULL), 0);
	git_packbuilder_free(pb);
	git_odb_free(odb);
	git_repository_free(repo);
	the_one_pack(out, n, dir);
}

/*
 * libgit2's packbuilder names delta bases by id: such a pack is copied
 * without ofs_to_ref, entry by entry as it is, so the copy is the very
 * same pack, and its .idx the very same index.
 */
static void libgit2_id_deltas_copy_as_they_are(void **state)
{
	(void)state;
	char path[700], hex[41];
	packfiles in, out;
	mreg_git_packw w;
	mreg_git_oidset seen = { NULL, 0, 0 };
	bool created;
	tg_sh("for i in $(seq 1 30); do seq 1 500 | sed \"$((i * 10))s/^/x/\" >f$i; done && git add . && git commit -q -m x");
	char pbdir[600];
	libgit2_pack(path, sizeof(path), tg_fmt(pbdir, sizeof(pbdir), "%s/pb", tg_work));
	load_pack(&in, path);
	size_t kinds[8];
	entry_kinds(kinds, in.idx, in.ilen, in.pack, in.plen);
	assert_true(kinds[GIT_OBJECT_REF_DELTA] >= 20);
	assert_int_equal(kinds[GIT_OBJECT_OFS_DELTA], 0);
	mreg_git_packw_init(&w, true, NULL);
	assert_int_equal(mreg_git_packw_copy(&w, &seen, in.idx, in.ilen, in.pack, in.plen, false), 0);
	tg_fmt(path, sizeof(path), "%s/copy", tg_work);
	assert_int_equal(mreg_fs_mkdirs(path), 0);
	assert_int_equal(mreg_git_packw_store(&w, path, false, hex, &created), 0);
	assert_true(created);
	load_pack(&out, tg_fmt(path, sizeof(path), "%s/copy/pack-%s", tg_work, hex));
	assert_int_equal(out.plen, in.plen);
	assert_memory_equal(out.pack, in.pack, in.plen);
	assert_int_equal(out.ilen, in.ilen);
	assert_memory_equal(out.idx, in.idx, in.ilen);
	unload_pack(&in);
	unload_pack(&out);
	mreg_git_packw_dispose(&w);
	mreg_git_oidset_dispose(&seen);
}

/* Two packs of the same objects (libgit2's, git's with offset deltas): the second adds nothing. */
static void objects_seen_are_copied_once(void **state)
{
	(void)state;
	char path[700], dir[600], hex[41];
	packfiles a, b;
	mreg_git_packw w;
	mreg_git_oidset seen = { NULL, 0, 0 };
	objects all = { 0 };
	bool created;
	git_pack_with_offset_deltas(&b);
	char pbdir[600];
	libgit2_pack(path, sizeof(path), tg_fmt(pbdir, sizeof(pbdir), "%s/pb", tg_work));
	load_pack(&a, path);
	mreg_git_packw_init(&w, true, NULL);
	assert_int_equal(mreg_git_packw_copy(&w, &seen, a.idx, a.ilen, a.pack, a.plen, true), 0);
	uint32_t count = w.count;
	size_t size = w.pack.size;
	assert_int_equal(seen.n, count);
	assert_int_equal(mreg_git_packw_copy(&w, &seen, b.idx, b.ilen, b.pack, b.plen, true), 0);
	assert_int_equal(w.count, count);
	assert_int_equal(w.pack.size, size);
	assert_int_equal(seen.n, count);
	assert_int_equal(mreg_git_packw_copy(&w, &seen, a.idx, a.ilen, a.pack, a.plen, true), 0);
	assert_int_equal(w.count, count);
	tg_sh("git init -q '%s/other'", tg_work);
	tg_fmt(path, sizeof(path), "%s/other", tg_work);
	assert_int_equal(mreg_git_packw_store(&w, packdir(dir, sizeof(dir), path), false, hex, &created), 0);
	all_objects(&all, tg_cwd);
	assert_int_equal(all.n, count);
	expect_libgit2_reads(path, &all);
	objects_dispose(&all);
	unload_pack(&a);
	unload_pack(&b);
	mreg_git_packw_dispose(&w);
	mreg_git_oidset_dispose(&seen);
}

/* ---- merging ---- */

/* A pack of the objects first..last of o stored in dir; its name (hex). */
static void store_some(char hex[41], const objects *o, size_t first, size_t last, const char *dir)
{
	mreg_git_packw w;
	bool created;
	mreg_git_packw_init(&w, true, NULL);
	for (size_t i = first; i <= last; i++)
		assert_int_equal(mreg_git_packw_add(&w, &o->id[i], o->type[i], o->data[i].ptr, o->data[i].size), 0);
	assert_int_equal(mreg_git_packw_store(&w, dir, false, hex, &created), 0);
	assert_true(created);
	mreg_git_packw_dispose(&w);
}

static int pack_exists(const char *dir, const char *hex)
{
	char path[700];
	struct stat sb;
	return stat(tg_fmt(path, sizeof(path), "%s/pack-%s.pack", dir, hex), &sb) == 0 &&
	       stat(tg_fmt(path, sizeof(path), "%s/pack-%s.idx", dir, hex), &sb) == 0;
}

static long count_packs(const char *dir)
{
	char *out = tg_capture(NULL, "ls '%s' | grep -c '\\.pack$' || true", dir);
	long n = strtol(out, NULL, 10);
	free(out);
	return n;
}

/*
 * Five small packs, one large one, one small one kept (.keep), and a
 * writer's temporary file, past max_packs 2: the five become one; the
 * large one (more than twice all smaller ones) and the kept one stay as
 * they are; the temporary file goes; libgit2 reads every object still.
 */
static void small_packs_merge_into_one_and_the_rest_stay(void **state)
{
	(void)state;
	objects o = { 0 };
	char dir[600], path[700], small[5][41], big[41], kept[41];
	mreg_buf b = MREG_BUF_INIT;
	packdir(dir, sizeof(dir), tg_cwd);
	for (int i = 0; i < 12; i++) {
		mreg_buf_clear(&b);
		mreg_buf_printf(&b, "blob number %d of a small pack\n", i);
		objects_add(&o, GIT_OBJECT_BLOB, b.ptr, b.size);
	}
	mreg_buf_clear(&b);
	random_bytes(&b, 100000, 9);
	objects_add(&o, GIT_OBJECT_BLOB, b.ptr, b.size);
	mreg_buf_dispose(&b);
	for (size_t i = 0; i < 5; i++)
		store_some(small[i], &o, 2 * i, 2 * i + 1, dir);
	store_some(kept, &o, 10, 11, dir);
	store_some(big, &o, 12, 12, dir);
	tg_puts(tg_fmt(path, sizeof(path), "%s/pack-%s.keep", dir, kept), "kept on purpose\n");
	tg_puts(tg_fmt(path, sizeof(path), "%s/pack-%s.pack.mreg-tmp4242", dir, small[0]), "half a pack");
	assert_int_equal(count_packs(dir), 7);

	assert_int_equal(mreg_git_pack_merge(dir, 2, false), 0);
	assert_int_equal(count_packs(dir), 3);
	assert_true(pack_exists(dir, kept));
	assert_true(pack_exists(dir, big));
	for (size_t i = 0; i < 5; i++)
		assert_false(pack_exists(dir, small[i]));
	tg_sh("test -f '%s/pack-%s.keep' && ! ls '%s' | grep -q mreg-tmp", dir, kept, dir);
	expect_libgit2_reads(tg_cwd, &o);
	tg_sh("for i in '%s'/*.idx; do git verify-pack \"$i\" || exit 1; done", dir);
	objects_dispose(&o);
}

/* A blob of len bytes in a pack of its own, added to o. */
static void store_blob(char hex[41], objects *o, const void *data, size_t len, const char *dir)
{
	objects_add(o, GIT_OBJECT_BLOB, data, len);
	store_some(hex, o, o->n - 1, o->n - 1, dir);
}

/* Three small blobs, each in a pack of its own, added to o. */
static void three_packs(char hex[3][41], objects *o, const char *dir)
{
	for (int i = 0; i < 3; i++) {
		char text[32];
		snprintf(text, sizeof(text), "blob %d\n", i);
		store_blob(hex[i], o, text, strlen(text), dir);
	}
}

/*
 * A pack stored without sync, flushed later: the start and the wait both
 * leave it as it was (libgit2 reads it); a pack that is not there is an
 * error naming it when waited for, and nothing when only started.
 */
static void a_pack_stored_without_sync_is_flushed_later(void **state)
{
	(void)state;
	objects o = { 0 };
	char dir[600], hex[41], missing[41];
	every_kind(&o);
	packdir(dir, sizeof(dir), tg_cwd);
	store_some(hex, &o, 0, o.n - 1, dir);
	assert_int_equal(mreg_git_pack_flush(dir, hex, false), 0);
	assert_int_equal(mreg_git_pack_flush(dir, hex, true), 0);
	expect_libgit2_reads(tg_cwd, &o);
	memset(missing, 'a', 40);
	missing[40] = '\0';
	assert_int_equal(mreg_git_pack_flush(dir, missing, false), 0);
	assert_int_equal(mreg_git_pack_flush(dir, missing, true), MREG_ERROR);
	char want[800];
	assert_string_equal(mreg_error_last(), tg_fmt(want, sizeof(want), "cannot flush '%s/pack-%s.pack': No such file or directory", dir, missing));
	mreg_error_clear();
	objects_dispose(&o);
}

static void packs_within_max_packs_stay_as_they_are(void **state)
{
	(void)state;
	objects o = { 0 };
	char dir[600], hex[3][41];
	packdir(dir, sizeof(dir), tg_cwd);
	three_packs(hex, &o, dir);
	char *before = tg_capture(NULL, "ls -l --time-style=full-iso '%s'", dir);
	assert_int_equal(mreg_git_pack_merge(dir, 3, false), 0);
	char *after = tg_capture(NULL, "ls -l --time-style=full-iso '%s'", dir);
	assert_string_equal(before, after);
	free(before);
	free(after);
	/* one more than max_packs: all three of one size merge into one */
	assert_int_equal(mreg_git_pack_merge(dir, 2, false), 0);
	assert_int_equal(count_packs(dir), 1);
	expect_libgit2_reads(tg_cwd, &o);
	objects_dispose(&o);
}

/* A blob of len random bytes (which do not compress) in a pack of its own, added to o. */
static void store_random(char hex[41], objects *o, size_t len, unsigned seed, const char *dir)
{
	mreg_buf b = MREG_BUF_INIT;
	random_bytes(&b, len, seed);
	store_blob(hex, o, b.ptr, b.size, dir);
	mreg_buf_dispose(&b);
}

/*
 * Packs in a geometric progression (each more than twice all smaller ones
 * together) are not counted against max_packs: with two small packs below
 * five such, past max_packs 3 in all, nothing merges; with four small ones
 * (more than max_packs that would merge), those four merge and the
 * progression stays. Past four times max_packs in all, the smallest two
 * merge whatever their sizes.
 */
static void packs_in_a_progression_are_not_counted(void **state)
{
	(void)state;
	objects o = { 0 };
	char dir[600], prog[7][41], small[5][41];
	size_t len = 1000;
	packdir(dir, sizeof(dir), tg_cwd);
	for (size_t i = 0; i < 5; i++, len *= 4)
		store_random(prog[i], &o, len, 30 + (unsigned)i, dir);
	for (size_t i = 0; i < 2; i++)
		store_random(small[i], &o, 40, 40 + (unsigned)i, dir);
	assert_int_equal(mreg_git_pack_merge(dir, 3, false), 0);
	assert_int_equal(count_packs(dir), 7);
	for (size_t i = 2; i < 4; i++)
		store_random(small[i], &o, 40, 40 + (unsigned)i, dir);
	assert_int_equal(mreg_git_pack_merge(dir, 3, false), 0);
	assert_int_equal(count_packs(dir), 6);
	for (size_t i = 0; i < 5; i++)
		assert_true(pack_exists(dir, prog[i]));
	for (size_t i = 0; i < 4; i++)
		assert_false(pack_exists(dir, small[i]));
	expect_libgit2_reads(tg_cwd, &o);
	/* one small pack more, the four merged one above it: two would merge, max_packs 2 */
	store_random(small[4], &o, 40, 44, dir);
	assert_int_equal(mreg_git_pack_merge(dir, 2, false), 0);
	assert_int_equal(count_packs(dir), 7);
	/* two more in the progression: nine packs, past four times max_packs 2 */
	for (size_t i = 5; i < 7; i++, len *= 4)
		store_random(prog[i], &o, len, 30 + (unsigned)i, dir);
	assert_int_equal(mreg_git_pack_merge(dir, 2, false), 0);
	assert_int_equal(count_packs(dir), 8);
	assert_false(pack_exists(dir, small[4]));
	for (size_t i = 0; i < 7; i++)
		assert_true(pack_exists(dir, prog[i]));
	expect_libgit2_reads(tg_cwd, &o);
	objects_dispose(&o);
}

/*
 * A pack git wrote with offset deltas, the smallest of four: all four are
 * to merge, but that one cannot be copied without rewriting its deltas,
 * so it stays as it is and the other three become one.
 */
static void packs_with_offset_deltas_are_not_merged(void **state)
{
	(void)state;
	packfiles in;
	objects o = { 0 }, all = { 0 };
	char dir[600], path[700], gitpack[700], hex[3][41];
	mreg_buf b = MREG_BUF_INIT;
	git_pack_with_offset_deltas(&in);
	unload_pack(&in);
	packdir(dir, sizeof(dir), tg_cwd);
	the_one_pack(gitpack, sizeof(gitpack), dir);
	for (int i = 0; i < 3; i++) {
		mreg_buf_clear(&b);
		random_bytes(&b, 20000, 20 + (unsigned)i);
		objects_add(&o, GIT_OBJECT_BLOB, b.ptr, b.size);
		store_some(hex[i], &o, (size_t)i, (size_t)i, dir);
	}
	mreg_buf_dispose(&b);
	struct stat sb;
	assert_int_equal(stat(tg_fmt(path, sizeof(path), "%s.pack", gitpack), &sb), 0);
	assert_true(sb.st_size < 20000);
	assert_int_equal(mreg_git_pack_merge(dir, 1, false), 0);
	assert_int_equal(count_packs(dir), 2);
	assert_int_equal(stat(tg_fmt(path, sizeof(path), "%s.pack", gitpack), &sb), 0);
	assert_int_equal(stat(tg_fmt(path, sizeof(path), "%s.idx", gitpack), &sb), 0);
	for (size_t i = 0; i < 3; i++)
		assert_false(pack_exists(dir, hex[i]));
	all_objects(&all, tg_cwd);
	assert_int_equal(all.n, 3 + 42);	/* the three blobs, and the commit, tree and 40 blobs of git's pack */
	expect_libgit2_reads(tg_cwd, &all);
	expect_libgit2_reads(tg_cwd, &o);
	objects_dispose(&o);
	objects_dispose(&all);
}

/*
 * A removal renames the index away first (pack-<hex>.mreg-gone). A writer
 * killed after that leaves the name, and the next merge (every write's)
 * removes what is left of the pack; unless a pack of that name has an
 * index again (written since with the same objects), which stays whole.
 */
static void a_pack_removed_half_way_is_finished_by_the_next_merge(void **state)
{
	(void)state;
	objects o = { 0 }, rest = { 0 };
	char dir[600], hex[3][41];
	packdir(dir, sizeof(dir), tg_cwd);
	three_packs(hex, &o, dir);
	for (size_t i = 1; i < 3; i++)	/* what stays readable */
		objects_add(&rest, o.type[i], o.data[i].ptr, o.data[i].size);
	/* killed in pack 0's removal, after its index went; pack 1 named there as well, but whole again */
	tg_sh("cd '%s' && mv pack-%s.idx pack-%s.mreg-gone && cp pack-%s.idx pack-%s.mreg-gone", dir, hex[0], hex[0], hex[1],
	      hex[1]);
	assert_int_equal(count_packs(dir), 3);
	assert_int_equal(mreg_git_pack_merge(dir, 8, false), 0);
	tg_sh("! ls '%s' | grep -e '%s' -e mreg-gone", dir, hex[0]);
	assert_true(pack_exists(dir, hex[1]));
	assert_true(pack_exists(dir, hex[2]));
	expect_libgit2_reads(tg_cwd, &rest);
	/* a removal run to its end leaves nothing of the pack */
	mreg_git_pack_remove(dir, hex[2]);
	tg_sh("! ls '%s' | grep -e '%s' -e mreg-gone", dir, hex[2]);
	assert_true(pack_exists(dir, hex[1]));
	objects_dispose(&o);
	objects_dispose(&rest);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TG_REPO_TEST(stored_objects_read_back_through_libgit2),
		TG_REPO_TEST(small_objects_take_fixed_codes_and_large_ones_their_own),
		TG_REPO_TEST(the_same_pack_stored_twice_is_created_once),
		TG_REPO_TEST(offset_deltas_copied_by_id_are_indexed_by_libgit2),
		TG_REPO_TEST(offset_deltas_without_ofs_to_ref_are_unsure_and_add_nothing),
		TG_REPO_TEST(libgit2_id_deltas_copy_as_they_are),
		TG_REPO_TEST(objects_seen_are_copied_once),
		TG_REPO_TEST(small_packs_merge_into_one_and_the_rest_stay),
		TG_REPO_TEST(a_pack_removed_half_way_is_finished_by_the_next_merge),
		TG_REPO_TEST(packs_in_a_progression_are_not_counted),
		TG_REPO_TEST(a_pack_stored_without_sync_is_flushed_later),
		TG_REPO_TEST(packs_within_max_packs_stay_as_they_are),
		TG_REPO_TEST(packs_with_offset_deltas_are_not_merged),
	};
	return cmocka_run_group_tests(tests, tg_setup_group, tg_teardown_group);
}

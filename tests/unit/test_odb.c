/*
 * Unit tests for fsstore/odb.c, the object reader that works without libgit2.
 *
 * The stock git binary makes every repository here: loose objects, packs
 * without deltas, with deltas by offset and by id, with 64-bit offsets,
 * several packs beside loose files. What each read must give back is what
 * git says (cat-file for type and bytes, verify-pack for what a pack holds);
 * no object bytes are written into this file, so the reader is checked
 * against git and not against itself. Where a test depends on git having
 * made a particular shape (deltas of one kind, no loose objects, a second
 * pack), it asserts that shape first, so a git that packs differently fails
 * the test instead of letting it pass on easier input.
 *
 * Everything runs in a fresh directory under /tmp with HOME pointed there
 * and the system config off, so no user settings reach git.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#include <zlib.h>

#define MAX_PACKS 8
#define PACK_LEN 600	/* objdir, "pack/" and a file name without its suffix */

static char base[] = "/tmp/mreg-test-odb.XXXXXX";
static char repo[256];		/* <base>/repo, made fresh for each test */
static char objdir[300];	/* <repo>/.git/objects/, as mreg_odb_open wants it */

/* ---- running git ---- */

/* cmd in the repository: "cd <repo> && { cmd }", so a cmd can be a script. */
static void in_repo(char *out, size_t n, const char *fmt, va_list ap)
{
	char cmd[4096];
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	snprintf(out, n, "cd '%s' && {\n%s\n}", repo, cmd);
}

/* The exit status of a shell command run in the repository. */
static int sh_status(const char *fmt, ...)
{
	char full[5000];
	va_list ap;
	va_start(ap, fmt);
	in_repo(full, sizeof(full), fmt, ap);
	va_end(ap);
	return system(full);
}

/* A shell command run in the repository; the test fails unless it exits 0. */
static void sh(const char *fmt, ...)
{
	char full[5000];
	va_list ap;
	va_start(ap, fmt);
	in_repo(full, sizeof(full), fmt, ap);
	va_end(ap);
	int st = system(full);
	if (st != 0)
		fail_msg("exit status %d from: %s", st, full);
}

/* What a shell command run in the repository prints, NUL-terminated; free() it. */
static char *capture(size_t *len, const char *fmt, ...)
{
	char full[5000];
	va_list ap;
	va_start(ap, fmt);
	in_repo(full, sizeof(full), fmt, ap);
	va_end(ap);
	FILE *f = popen(full, "r");
	assert_non_null(f);
	size_t n = 0, a = 4096;
	char *buf = malloc(a);
	assert_non_null(buf);
	for (size_t got; (got = fread(buf + n, 1, a - n - 1, f)) > 0;) {
		n += got;
		if (a - n - 1 == 0) {
			buf = realloc(buf, a *= 2);
			assert_non_null(buf);
		}
	}
	int st = pclose(f);
	if (st != 0)
		fail_msg("exit status %d from: %s", st, full);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

/* The 40 hex digits git gives for a revision. */
static void rev_parse(char hex[41], const char *rev)
{
	char *out = capture(NULL, "git rev-parse --verify -q '%s'", rev);
	assert_true(strlen(out) >= 40);
	memcpy(hex, out, 40);
	hex[40] = '\0';
	free(out);
}

/* One line of count-objects -v, e.g. "count" (loose objects) or "packs". */
static long count_objects(const char *field)
{
	char *out = capture(NULL, "git count-objects -v");
	char key[64];
	snprintf(key, sizeof(key), "%s: ", field);
	const char *p = strstr(out, key);
	if (!p)
		fail_msg("no '%s' in count-objects output:\n%s", field, out);
	long v = strtol(p + strlen(key), NULL, 10);
	free(out);
	return v;
}

/* ---- what the reader gives, against what git says ---- */

static git_object_t type_named(const char *name, size_t n)
{
	static const struct {
		const char *name;
		git_object_t type;
	} types[] = {
		{ "commit", GIT_OBJECT_COMMIT },
		{ "tree", GIT_OBJECT_TREE },
		{ "blob", GIT_OBJECT_BLOB },
		{ "tag", GIT_OBJECT_TAG },
	};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strlen(types[i].name) == n && !memcmp(types[i].name, name, n))
			return types[i].type;
	fail_msg("git names an unknown type '%.*s'", (int)n, name);
	return GIT_OBJECT_INVALID;
}

static mreg_odb *open_odb(void)
{
	mreg_odb *odb = NULL;
	int rc = mreg_odb_open(&odb, objdir);
	if (rc != 0)
		fail_msg("mreg_odb_open: %d %s", rc, mreg_error_last());
	assert_non_null(odb);
	return odb;
}

static void oid_of(git_oid *id, const char *hex)
{
	assert_int_equal(git_oid_fromstr(id, hex), 0);
}

/*
 * Read hex and compare with the type and bytes given. The buffer starts
 * with other bytes in it: a read replaces what was there, it does not
 * append (and under the leak checker, must not leak it either).
 */
static void expect_object(mreg_odb *odb, const char *hex, git_object_t want_type, const char *want, size_t want_len)
{
	git_oid id;
	git_object_t type = GIT_OBJECT_INVALID;
	mreg_buf got = MREG_BUF_INIT;
	oid_of(&id, hex);
	assert_int_equal(mreg_buf_puts(&got, "stale bytes from before"), 0);
	int rc = mreg_odb_read(&got, &type, odb, &id);
	if (rc != 0)
		fail_msg("reading %s: %d %s", hex, rc, mreg_error_last());
	assert_int_equal(type, want_type);
	assert_int_equal(got.size, want_len);
	if (want_len)
		assert_memory_equal(got.ptr, want, want_len);
	assert_int_equal(got.ptr[want_len], '\0');	/* mreg_buf's promise */
	mreg_buf_dispose(&got);
}

/* Read hex and compare with `git cat-file -t` and `git cat-file <type>`; the type. */
static git_object_t expect_as_git_says(mreg_odb *odb, const char *hex)
{
	char *t = capture(NULL, "git cat-file -t %s", hex);
	size_t tn = strcspn(t, "\n");
	git_object_t type = type_named(t, tn);
	t[tn] = '\0';
	size_t len;
	char *bytes = capture(&len, "git cat-file %s %s", t, hex);
	expect_object(odb, hex, type, bytes, len);
	free(bytes);
	free(t);
	return type;
}

/*
 * Every object `git rev-list --objects --all` lists, read and compared
 * with `git cat-file --batch` (one git process for all of them, not two
 * per object). The number read; per type in types[] when not NULL.
 */
static size_t expect_all(mreg_odb *odb, size_t types[5])
{
	size_t len, n = 0;
	char *out = capture(&len, "git rev-list --objects --all | cut -c1-40 | git cat-file --batch");
	const char *p = out, *end = out + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		char hex[41], tname[16];
		size_t size;
		assert_non_null(nl);
		if (sscanf(p, "%40s %15s %zu", hex, tname, &size) != 3)
			fail_msg("cat-file --batch says: %.*s", (int)(nl - p), p);
		git_object_t type = type_named(tname, strlen(tname));
		const char *data = nl + 1;
		assert_true(size < (size_t)(end - data));
		assert_int_equal(data[size], '\n');
		expect_object(odb, hex, type, data, size);
		if (types)
			types[type]++;
		n++;
		p = data + size + 1;
	}
	free(out);
	return n;
}

/* ---- what the packs hold ---- */

/* The packs in objects/pack, each path without its ".pack"; how many. */
static size_t list_packs(char paths[MAX_PACKS][PACK_LEN])
{
	char dir[320];
	snprintf(dir, sizeof(dir), "%spack", objdir);
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l > 5 && !strcmp(de->d_name + l - 5, ".pack")) {
			assert_true(n < MAX_PACKS);
			snprintf(paths[n++], PACK_LEN, "%s/%.*s", dir, (int)(l - 5), de->d_name);
		}
	}
	closedir(d);
	return n;
}

typedef struct {
	size_t objects, deltas;
	size_t ofs, ref;	/* deltas by kind, read from the entry's type bits */
	int max_depth;
} pack_stats;

/* One entry's first byte: bits 4-6 are its type (6 an offset delta, 7 an id delta). */
static int entry_kind(const char *pack, unsigned long long off)
{
	char path[PACK_LEN + 16];
	unsigned char c;
	snprintf(path, sizeof(path), "%s.pack", pack);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, (off_t)off), 1);
	close(fd);
	return (c >> 4) & 7;
}

/*
 * What `git verify-pack -v` lists for one pack: "<id> <type> <size>
 * <size-in-pack> <offset>", and for a delta also "<depth> <base>".
 * If want is not NULL, that object's offset and size in the pack go to
 * off and insize.
 */
static void stats_of(pack_stats *s, const char *pack, const char *want, unsigned long long *off, size_t *insize)
{
	char *out = capture(NULL, "git verify-pack -v '%s.idx'", pack);
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		char hex[41], tname[16], basehex[41];
		size_t size, in_pack;
		unsigned long long at;
		int depth;
		int k = sscanf(line, "%40s %15s %zu %zu %llu %d %40s", hex, tname, &size, &in_pack, &at, &depth,
			       basehex);
		if (k < 5 || strlen(hex) != 40)
			continue;	/* the summary lines */
		s->objects++;
		if (want && !strcmp(hex, want)) {
			*off = at;
			*insize = in_pack;
		}
		if (k != 7)
			continue;
		s->deltas++;
		if (depth > s->max_depth)
			s->max_depth = depth;
		int kind = entry_kind(pack, at);
		s->ofs += kind == 6;
		s->ref += kind == 7;
	}
	free(out);
}

/* All the packs' stats added up; the number of packs. */
static size_t stats_all(pack_stats *s)
{
	char packs[MAX_PACKS][PACK_LEN];
	size_t n = list_packs(packs);
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < n; i++)
		stats_of(s, packs[i], NULL, NULL, NULL);
	return n;
}

/* ---- histories ---- */

/* A ~21 KB text file and another, committed, then the big one edited a little in each of 30 commits. */
static void make_history(void)
{
	sh("seq 1 500 | sed 's/^/line /; s/$/ of a text file that changes a little/' >big.txt\n"
	   "seq 1 50 >small.txt && git add . && git commit -q -m start || exit 1\n"
	   "for i in $(seq 1 30); do\n"
	   "	sed -i \"$((i * 15))s/\\$/ edited in commit $i/\" big.txt\n"
	   "	git commit -q -a -m \"edit $i\" || exit 1\n"
	   "done");
	sh("test $(wc -c <big.txt) -gt 20000 && test $(git rev-list --count HEAD) -eq 31");
}

/* Every object of the history reads back; the history's objects must all be in packs. */
static void expect_history_packed(mreg_odb *odb, const pack_stats *s)
{
	assert_int_equal(count_objects("count"), 0);
	size_t n = expect_all(odb, NULL);
	assert_int_equal(n, s->objects);
	assert_true(n >= 31 * 3);	/* each commit brings a commit, a tree and a blob */
}

/* ---- the tests ---- */

static void loose_objects_read_back(void **state)
{
	(void)state;
	sh("printf 'hello\\nworld\\n' >a.txt && : >empty.txt && mkdir sub && seq 1 200 >sub/b.txt\n"
	   "git add . && git commit -q -m 'first commit'");
	assert_int_equal(count_objects("in-pack"), 0);
	static const struct {
		const char *rev;
		git_object_t type;
	} objs[] = {
		{ "HEAD", GIT_OBJECT_COMMIT },
		{ "HEAD^{tree}", GIT_OBJECT_TREE },
		{ "HEAD:sub", GIT_OBJECT_TREE },
		{ "HEAD:a.txt", GIT_OBJECT_BLOB },
		{ "HEAD:sub/b.txt", GIT_OBJECT_BLOB },
		{ "HEAD:empty.txt", GIT_OBJECT_BLOB },
	};
	mreg_odb *odb = open_odb();
	for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
		char hex[41], path[PACK_LEN + 16];
		struct stat sb;
		rev_parse(hex, objs[i].rev);
		snprintf(path, sizeof(path), "%s%.2s/%s", objdir, hex, hex + 2);
		assert_int_equal(stat(path, &sb), 0);	/* loose, as the test means */
		assert_int_equal(expect_as_git_says(odb, hex), objs[i].type);
	}
	assert_false(mreg_odb_unsure(odb));
	mreg_odb_free(odb);
}

static void packed_objects_without_deltas_read_back(void **state)
{
	(void)state;
	pack_stats s;
	size_t types[5] = { 0 };
	sh("seq 1 300 >one.txt && seq 1000 7 3000 | rev >two.txt && printf x >three.txt && : >empty.txt\n"
	   "head -c 3000 /dev/urandom >random.bin && mkdir dir && echo nested >dir/four.txt\n"
	   "git add . && git commit -q -m one\n"
	   "echo more >>one.txt && git commit -q -a -m two\n"
	   "git repack -q -a -d -f --window=0");
	assert_int_equal(stats_all(&s), 1);
	assert_int_equal(s.deltas, 0);
	assert_int_equal(count_objects("count"), 0);
	mreg_odb *odb = open_odb();
	size_t n = expect_all(odb, types);
	assert_int_equal(n, s.objects);
	assert_int_equal(types[GIT_OBJECT_COMMIT], 2);
	assert_int_equal(types[GIT_OBJECT_TREE], 3);
	assert_int_equal(types[GIT_OBJECT_BLOB], 7);
	assert_false(mreg_odb_unsure(odb));
	mreg_odb_free(odb);
}

/* An annotated tag is an object of its own type, loose at first and then packed. */
static void annotated_tags_read_back(void **state)
{
	(void)state;
	char tag[41], path[PACK_LEN + 16];
	struct stat sb;
	sh("echo one >a.txt && git add . && git commit -q -m one && git tag -a v1 -m 'release one'");
	rev_parse(tag, "v1");
	snprintf(path, sizeof(path), "%s%.2s/%s", objdir, tag, tag + 2);
	assert_int_equal(stat(path, &sb), 0);
	mreg_odb *odb = open_odb();
	assert_int_equal(expect_as_git_says(odb, tag), GIT_OBJECT_TAG);
	mreg_odb_free(odb);
	sh("git repack -q -a -d");
	assert_int_equal(count_objects("count"), 0);
	odb = open_odb();
	assert_int_equal(expect_as_git_says(odb, tag), GIT_OBJECT_TAG);
	mreg_odb_free(odb);
}

static void offset_deltas_read_back(void **state)
{
	(void)state;
	pack_stats s;
	make_history();
	sh("git repack -q -a -d -f --depth=50 --window=50");
	assert_int_equal(stats_all(&s), 1);
	assert_true(s.deltas >= 20);
	assert_int_equal(s.ofs, s.deltas);
	assert_int_equal(s.ref, 0);
	assert_true(s.max_depth >= 2);	/* deltas on deltas */
	mreg_odb *odb = open_odb();
	expect_history_packed(odb, &s);
	mreg_odb_free(odb);
}

static void ref_deltas_read_back(void **state)
{
	(void)state;
	pack_stats s;
	make_history();
	sh("git -c repack.useDeltaBaseOffset=false repack -q -a -d -f --depth=50 --window=50");
	assert_int_equal(stats_all(&s), 1);
	assert_true(s.deltas >= 20);
	assert_int_equal(s.ref, s.deltas);
	assert_int_equal(s.ofs, 0);
	assert_true(s.max_depth >= 2);
	mreg_odb *odb = open_odb();
	expect_history_packed(odb, &s);
	mreg_odb_free(odb);
}

/*
 * Index version 2 keeps offsets of 2 GiB and more in a table of 64-bit
 * offsets. No test can write such a pack, but index-pack can be told
 * (a switch for git's own tests) to put every offset past the given one in
 * that table: past 12, every object but the first. Not all of them, as git
 * refuses an index whose table has an entry for every object.
 */
static void offsets_in_the_64_bit_table_read_back(void **state)
{
	(void)state;
	pack_stats s;
	char packs[MAX_PACKS][PACK_LEN], idx[PACK_LEN + 8];
	struct stat sb;
	make_history();
	sh("git repack -q -a -d -f --depth=50 --window=50");
	assert_int_equal(list_packs(packs), 1);
	sh("git index-pack --index-version=2,12 -o '%s.idx.big' '%s.pack' >/dev/null && mv -f '%s.idx.big' '%s.idx'",
	   packs[0], packs[0], packs[0], packs[0]);
	assert_int_equal(stats_all(&s), 1);
	assert_true(s.deltas >= 20);
	snprintf(idx, sizeof(idx), "%s.idx", packs[0]);
	assert_int_equal(stat(idx, &sb), 0);
	/* header, fan-out, per object id, CRC and 31-bit offset, a 64-bit offset for all but one, two checksums */
	assert_int_equal((size_t)sb.st_size, 8 + 1024 + s.objects * (20 + 4 + 4) + (s.objects - 1) * 8 + 40);
	mreg_odb *odb = open_odb();
	expect_history_packed(odb, &s);
	assert_false(mreg_odb_unsure(odb));
	mreg_odb_free(odb);
}

/* The object read where a peek found it is the object read by id. */
static void expect_read_at_is_read(mreg_odb *odb, const git_oid *id, const mreg_odb_where *where)
{
	git_object_t t1, t2;
	mreg_buf b1 = MREG_BUF_INIT, b2 = MREG_BUF_INIT;
	assert_int_equal(mreg_odb_read_at(&b1, &t1, odb, where, id), 0);
	assert_int_equal(mreg_odb_read(&b2, &t2, odb, id), 0);
	assert_int_equal(t1, t2);
	assert_int_equal(b1.size, b2.size);
	assert_memory_equal(b1.ptr, b2.ptr, b1.size);
	mreg_buf_dispose(&b1);
	mreg_buf_dispose(&b2);
}

static void several_packs_and_loose_objects_read_back(void **state)
{
	(void)state;
	pack_stats s;
	size_t types[5] = { 0 };
	char first[41], second[41], third[41];
	sh("seq 1 400 >a.txt && echo one >b.txt && git add . && git commit -q -m one\n"
	   "git repack -q -a -d\n"
	   "seq 2 401 >a.txt && echo two >c.txt && git add . && git commit -q -m two\n"
	   "git repack -q -d\n"	/* without -a: a second pack of the loose objects only */
	   "seq 3 402 >a.txt && echo three >d.txt && git add . && git commit -q -m three");
	rev_parse(first, "HEAD~2");
	rev_parse(second, "HEAD~1");
	rev_parse(third, "HEAD");
	assert_int_equal(stats_all(&s), 2);
	assert_int_equal(count_objects("count"), 4);	/* the third commit, its tree and two blobs */
	assert_int_equal(sh_status("git verify-pack -v %spack/*.idx | grep -q %s", objdir, first), 0);
	assert_int_equal(sh_status("git verify-pack -v %spack/*.idx | grep -q %s", objdir, second), 0);
	mreg_odb *odb = open_odb();
	size_t n = expect_all(odb, types);
	assert_int_equal(n, s.objects + 4);
	assert_int_equal(types[GIT_OBJECT_COMMIT], 3);
	assert_int_equal(expect_as_git_says(odb, third), GIT_OBJECT_COMMIT);
	/*
	 * mreg_odb_has finds every object git lists, in either pack or loose
	 * (the third commit is); on the odb made ready, a peek finds each
	 * packed one, and a read where it found it gives what a read by id does
	 */
	char *all = capture(NULL, "git cat-file --batch-all-objects --batch-check='%%(objectname)'");
	size_t listed = 0, located = 0;
	assert_int_equal(mreg_odb_ready(odb), 0);
	for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n"), listed++) {
		git_oid id;
		unsigned char head[16];
		size_t got;
		git_object_t t;
		mreg_odb_where where;
		oid_of(&id, line);
		assert_int_equal(mreg_odb_has(odb, &id), 0);
		if (mreg_odb_peek(head, &got, sizeof(head), &t, odb, &id, &where) != 0)
			continue;
		located++;
		expect_read_at_is_read(odb, &id, &where);
	}
	assert_int_equal(listed, n);
	assert_int_equal(located, s.objects);	/* every packed object, and no loose one */
	/*
	 * A place found before the packs were looked at again is not trusted:
	 * a new pack (newest, so first in the list) moves the others along,
	 * and the read goes by id instead of reading another pack at that offset.
	 */
	{
		git_oid id;
		unsigned char head[16];
		size_t got;
		git_object_t t;
		mreg_odb_where where;
		oid_of(&id, first);
		assert_int_equal(mreg_odb_peek(head, &got, sizeof(head), &t, odb, &id, &where), 0);
		sh("sleep 1 && echo newer >e.txt && git add . && git commit -q -m four && git repack -q -d");
		assert_int_equal(stats_all(&s), 3);
		assert_int_equal(mreg_odb_refresh(odb), 0);
		expect_read_at_is_read(odb, &id, &where);
	}
	free(all);
	assert_false(mreg_odb_unsure(odb));
	mreg_odb_free(odb);
}

/* Not found, in a repository with a pack and loose objects; the ids hit both ends of the fan-out too. */
static void missing_objects_are_not_found(void **state)
{
	(void)state;
	char *nowhere;
	sh("seq 1 100 >a.txt && git add . && git commit -q -m one && git repack -q -a -d\n"
	   "echo loose >b.txt && git add . && git commit -q -m two");
	assert_true(count_objects("count") > 0);
	assert_true(count_objects("packs") > 0);
	nowhere = capture(NULL, "echo 'never written to this repository' | git hash-object --stdin");
	nowhere[40] = '\0';
	assert_int_not_equal(sh_status("git cat-file -e %s 2>/dev/null", nowhere), 0);
	const char *ids[] = {
		nowhere,
		"0000000000000000000000000000000000000000",
		"0000000000000000000000000000000000000001",
		"ffffffffffffffffffffffffffffffffffffffff",
	};
	mreg_odb *odb = open_odb();
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		git_oid id;
		git_object_t type = GIT_OBJECT_INVALID;
		mreg_buf out = MREG_BUF_INIT;
		oid_of(&id, ids[i]);
		assert_int_equal(mreg_odb_read(&out, &type, odb, &id), 1);
		assert_int_equal(mreg_odb_has(odb, &id), 1);
		assert_int_equal(out.size, 0);
		mreg_buf_dispose(&out);
	}
	assert_false(mreg_odb_unsure(odb));
	mreg_odb_free(odb);
	mreg_odb_free(NULL);
	free(nowhere);
}

static void alternates_make_the_reader_unsure(void **state)
{
	(void)state;
	sh("echo one >a.txt && git add . && git commit -q -m one && git repack -q -a -d");
	mreg_odb *odb = open_odb();
	assert_false(mreg_odb_unsure(odb));
	mreg_odb_free(odb);
	sh("mkdir -p .git/objects/info && echo /nonexistent/objects >.git/objects/info/alternates");
	odb = open_odb();
	assert_true(mreg_odb_unsure(odb));
	mreg_odb_free(odb);
}

static void multi_pack_index_makes_the_reader_unsure(void **state)
{
	(void)state;
	sh("echo one >a.txt && git add . && git commit -q -m one && git repack -q -a -d\n"
	   "echo two >b.txt && git add . && git commit -q -m two && git repack -q -d");
	mreg_odb *odb = open_odb();
	assert_false(mreg_odb_unsure(odb));
	mreg_odb_free(odb);
	sh("git multi-pack-index write && test -f .git/objects/pack/multi-pack-index");
	odb = open_odb();
	assert_true(mreg_odb_unsure(odb));
	assert_int_equal(expect_all(odb, NULL), 6);	/* the .idx files are still there, and read */
	mreg_odb_free(odb);
}

/*
 * An index of version 1 is not read: what only that pack holds is "not
 * found", and after that miss the reader says it is unsure (indexes are
 * read when first needed, so the miss comes first).
 */
static void index_version_1_makes_the_reader_unsure(void **state)
{
	(void)state;
	char hex[41], packs[MAX_PACKS][PACK_LEN];
	git_oid id;
	git_object_t type;
	mreg_buf out = MREG_BUF_INIT;
	sh("echo one >a.txt && git add . && git commit -q -m one\n"
	   "git -c pack.indexVersion=1 repack -q -a -d");
	assert_int_equal(count_objects("count"), 0);
	assert_int_equal(list_packs(packs), 1);
	/* version 2 starts with "\377tOc"; version 1 with the fan-out, whose first count is small */
	sh("test -s '%s.idx' && ! head -c 4 '%s.idx' | grep -q tOc", packs[0], packs[0]);
	rev_parse(hex, "HEAD");
	oid_of(&id, hex);
	mreg_odb *odb = open_odb();
	assert_int_equal(mreg_odb_read(&out, &type, odb, &id), 1);
	assert_true(mreg_odb_unsure(odb));
	mreg_buf_dispose(&out);
	mreg_odb_free(odb);
}

/* After a refresh, packs written since the open are read, and packs removed since are not missed. */
static void refresh_sees_packs_written_since_open(void **state)
{
	(void)state;
	pack_stats s;
	sh("echo one >a.txt && git add . && git commit -q -m one && git repack -q -a -d");
	mreg_odb *odb = open_odb();
	assert_int_equal(expect_all(odb, NULL), 3);
	sh("echo two >b.txt && git add . && git commit -q -m two && git repack -q -d");
	assert_int_equal(stats_all(&s), 2);
	assert_int_equal(count_objects("count"), 0);
	assert_int_equal(mreg_odb_refresh(odb), 0);
	assert_int_equal(expect_all(odb, NULL), 6);
	sh("git repack -q -a -d");	/* the two packs give way to one */
	assert_int_equal(stats_all(&s), 1);
	assert_int_equal(mreg_odb_refresh(odb), 0);
	assert_int_equal(expect_all(odb, NULL), 6);
	assert_false(mreg_odb_unsure(odb));
	mreg_odb_free(odb);
}

/* The damaged object's read: ECORRUPT, with a message that names it. */
static void expect_damaged(mreg_odb *odb, const char *hex)
{
	git_oid id;
	git_object_t type;
	mreg_buf out = MREG_BUF_INIT;
	oid_of(&id, hex);
	assert_int_equal(mreg_odb_read(&out, &type, odb, &id), MREG_ECORRUPT);
	assert_non_null(strstr(mreg_error_last(), hex));
	assert_non_null(strstr(mreg_error_last(), "damaged"));
	mreg_buf_dispose(&out);
}

/* Flip the bits of the byte at off in file path. */
static void flip_byte(const char *path, unsigned long long off)
{
	unsigned char c;
	assert_int_equal(chmod(path, 0644), 0);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, (off_t)off), 1);
	c = (unsigned char)~c;
	assert_int_equal(pwrite(fd, &c, 1, (off_t)off), 1);
	assert_int_equal(close(fd), 0);
}

/*
 * A pack whose index was read and whose data was not yet mapped is removed
 * (a repack, a gc, by another process): its objects are "not here", not
 * damaged, and a refresh finds them in the pack that replaced it.
 */
static void a_pack_removed_after_its_index_was_read_is_not_damage(void **state)
{
	(void)state;
	char first[41], second[41];
	git_oid id;
	git_object_t type;
	mreg_buf out = MREG_BUF_INIT;
	sh("echo one >a.txt && git add . && git commit -q -m one && git repack -q -a -d");
	sh("echo two >b.txt && git add . && git commit -q -m two && git repack -q -d");
	rev_parse(first, "HEAD~1:a.txt");	/* in the older pack */
	rev_parse(second, "HEAD:b.txt");	/* in the newer one */
	mreg_odb *odb = open_odb();
	/* reading a missing id reads both indexes and maps no pack */
	oid_of(&id, "0000000000000000000000000000000000000001");
	assert_int_equal(mreg_odb_read(&out, &type, odb, &id), 1);
	sh("git repack -q -a -d");	/* both packs give way to one */
	oid_of(&id, first);
	assert_int_equal(mreg_odb_read(&out, &type, odb, &id), 1);
	oid_of(&id, second);
	assert_int_equal(mreg_odb_read(&out, &type, odb, &id), 1);
	assert_int_equal(mreg_odb_refresh(odb), 0);
	assert_int_equal(expect_as_git_says(odb, first), GIT_OBJECT_BLOB);
	assert_int_equal(expect_as_git_says(odb, second), GIT_OBJECT_BLOB);
	mreg_buf_dispose(&out);
	mreg_odb_free(odb);
}

/* A loose copy that is damaged does not hide a good packed copy of the same object. */
static void a_damaged_loose_copy_gives_way_to_a_packed_one(void **state)
{
	(void)state;
	char blob[41], path[PACK_LEN + 16];
	struct stat sb;
	sh("seq 1 1000 >a.txt && git add . && git commit -q -m one && git repack -q -a");	/* no -d: loose stay */
	rev_parse(blob, "HEAD:a.txt");
	snprintf(path, sizeof(path), "%s%.2s/%s", objdir, blob, blob + 2);
	assert_int_equal(stat(path, &sb), 0);
	flip_byte(path, (unsigned long long)sb.st_size / 2);
	mreg_odb *odb = open_odb();
	assert_int_equal(expect_as_git_says(odb, blob), GIT_OBJECT_BLOB);
	mreg_odb_free(odb);
	/* and with the packed copy gone too, it is damage */
	sh("rm -f .git/objects/pack/*");
	odb = open_odb();
	expect_damaged(odb, blob);
	mreg_odb_free(odb);
}

static void damaged_packed_object_is_corrupt(void **state)
{
	(void)state;
	char blob[41], commit[41], packs[MAX_PACKS][PACK_LEN], path[PACK_LEN + 16];
	unsigned long long off = 0;
	size_t insize = 0;
	pack_stats s = { 0 };
	sh("seq 1 1000 >a.txt && echo other >b.txt && git add . && git commit -q -m one\n"
	   "git repack -q -a -d -f --window=0");
	rev_parse(blob, "HEAD:a.txt");
	rev_parse(commit, "HEAD");
	assert_int_equal(list_packs(packs), 1);
	stats_of(&s, packs[0], blob, &off, &insize);
	assert_true(insize > 100);	/* a header of a few bytes, then zlib data well past the middle */
	snprintf(path, sizeof(path), "%s.pack", packs[0]);
	flip_byte(path, off + insize / 2);
	assert_int_not_equal(sh_status("git cat-file blob %s >/dev/null 2>&1", blob), 0);	/* git sees it too */
	mreg_odb *odb = open_odb();
	expect_damaged(odb, blob);
	assert_int_equal(expect_as_git_says(odb, commit), GIT_OBJECT_COMMIT);	/* the rest of the pack reads */
	mreg_odb_free(odb);
}

static void damaged_loose_object_is_corrupt(void **state)
{
	(void)state;
	char blob[41], commit[41], path[PACK_LEN + 16];
	struct stat sb;
	sh("seq 1 1000 >a.txt && git add . && git commit -q -m one");
	rev_parse(blob, "HEAD:a.txt");
	rev_parse(commit, "HEAD");
	snprintf(path, sizeof(path), "%s%.2s/%s", objdir, blob, blob + 2);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_size > 100);
	flip_byte(path, (unsigned long long)sb.st_size / 2);
	assert_int_not_equal(sh_status("git cat-file blob %s >/dev/null 2>&1", blob), 0);
	mreg_odb *odb = open_odb();
	expect_damaged(odb, blob);
	assert_int_equal(expect_as_git_says(odb, commit), GIT_OBJECT_COMMIT);
	mreg_odb_free(odb);
}

/*
 * An entry whose header claims 2 GiB in a pack of a few dozen bytes (found
 * by fuzzing): no deflate stream that short inflates to that much, so it is
 * damage, refused before a buffer of that size is asked for (in this binary
 * an allocation past 512 MiB stops the test, see __asan_default_options).
 */
static void a_size_no_pack_entry_could_hold_is_damage(void **state)
{
	(void)state;
	char blob[41], packs[MAX_PACKS][PACK_LEN], path[PACK_LEN + 16];
	sh("echo one blob >a.txt && git add a.txt && git commit -q -m one");
	rev_parse(blob, "HEAD:a.txt");
	sh("echo %s | git pack-objects -q .git/objects/pack/pack >/dev/null && rm -f .git/objects/%.2s/%s", blob,
	   blob, blob + 2);
	assert_int_equal(list_packs(packs), 1);
	snprintf(path, sizeof(path), "%s.pack", packs[0]);
	size_t len = 0;
	char *pack = capture(&len, "cat '%s'", path);
	assert_true(len > 12 + 20);
	size_t hdr = 12;	/* the one entry: its header, then its zlib data */
	while (hdr < len && ((unsigned char)pack[hdr] & 0x80))
		hdr++;
	hdr++;
	/* a blob (type 3) of 2^31 - 1 bytes: 15 in the first byte, 7 bits in each of four more */
	static const unsigned char claim[] = { 0xbf, 0xff, 0xff, 0xff, 0x3f };
	assert_int_equal(chmod(path, 0644), 0);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(pack, 1, 12, f), 12);
	assert_int_equal(fwrite(claim, 1, sizeof(claim), f), sizeof(claim));
	assert_int_equal(fwrite(pack + hdr, 1, len - hdr, f), len - hdr);
	assert_int_equal(fclose(f), 0);
	free(pack);
	mreg_odb *odb = open_odb();
	expect_damaged(odb, blob);
	mreg_odb_free(odb);
}

/*
 * The same in a loose object: a file of a few dozen bytes whose header says
 * 1 GB. (A hand-made input through the fuzz harness; it is in the corpus.)
 */
static void a_loose_size_the_file_could_not_hold_is_damage(void **state)
{
	(void)state;
	static const char obj[] = "blob 1000000000\0only a few bytes";
	char hex[41], dir[PACK_LEN], path[PACK_LEN + 64];
	unsigned char z[256], sum[20];
	uLongf zlen = sizeof(z);
	assert_int_equal(compress(z, &zlen, (const Bytef *)obj, sizeof(obj) - 1), Z_OK);
	mreg_git_sha1(sum, obj, sizeof(obj) - 1);
	mreg_git_hex(hex, sum, 20);
	snprintf(dir, sizeof(dir), "%s%.2s", objdir, hex);
	snprintf(path, sizeof(path), "%s/%s", dir, hex + 2);
	assert_int_equal(mkdir(dir, 0755), 0);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(z, 1, zlen, f), zlen);
	assert_int_equal(fclose(f), 0);
	mreg_odb *odb = open_odb();
	expect_damaged(odb, hex);
	mreg_odb_free(odb);
}

/* ---- fixtures ---- */

/* HOME in the temporary directory, with the little config the tests need; nothing from the caller's git. */
static int setup_group(void **state)
{
	(void)state;
	static const char *unset[] = {
		"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
		"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM",
		"GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT", "XDG_CONFIG_HOME", "GIT_NAMESPACE",
	};
	char path[600];
	if (!mkdtemp(base))
		return -1;
	for (size_t i = 0; i < sizeof(unset) / sizeof(unset[0]); i++)
		unsetenv(unset[i]);
	setenv("HOME", base, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("LC_ALL", "C", 1);
	snprintf(path, sizeof(path), "%s/.gitconfig", base);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	/* gc.auto 0: no automatic gc packs the loose objects a test counts on */
	fputs("[user]\n\tname = t\n\temail = t@t\n[init]\n\tdefaultBranch = main\n"
	      "[gc]\n\tauto = 0\n[maintenance]\n\tauto = false\n", f);
	if (fclose(f) != 0)
		return -1;
	snprintf(repo, sizeof(repo), "%s/repo", base);
	snprintf(objdir, sizeof(objdir), "%s/.git/objects/", repo);
	return 0;
}

static int teardown_group(void **state)
{
	(void)state;
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

static int setup_repo(void **state)
{
	(void)state;
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "git init -q '%s'", repo);
	return system(cmd) == 0 ? 0 : -1;
}

static int teardown_repo(void **state)
{
	(void)state;
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", repo);
	return system(cmd) == 0 ? 0 : -1;
}

#define REPO_TEST(f) cmocka_unit_test_setup_teardown(f, setup_repo, teardown_repo)

/*
 * An allocation past 512 MiB stops the test binary instead of being granted
 * untouched: no read here needs that much, and one that asks for it has
 * sized a buffer by a damaged header (see the last two tests).
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "max_allocation_size_mb=512";
}

/* ---- lookups in a large index: the radix finds what the fan-out finds -- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* id found (or not) alike with and without the radix, at a position holding id. */
static void expect_same_find(const mreg_git_idx *plain, const mreg_git_idx *radix, const unsigned char *id, bool there)
{
	uint32_t a = UINT32_MAX, b = UINT32_MAX;
	bool fa = mreg_git_idx_find(&a, plain, id), fb = mreg_git_idx_find(&b, radix, id);
	assert_int_equal(fa, there);
	assert_int_equal(fb, there);
	if (there) {
		assert_int_equal(a, b);
		assert_memory_equal(radix->ids + (size_t)b * 20, id, 20);
	}
}

static void radix_lookups_find_what_the_fanout_finds(void **state)
{
	(void)state;
	enum { N = 200000 };
	mreg_git_pack_row *rows = calloc(N, sizeof(*rows));
	assert_non_null(rows);
	for (size_t i = 0; i < N; i++) {
		for (int k = 0; k < 20; k += 8) {
			uint64_t r = next_rand();
			memcpy(rows[i].id + k, &r, k + 8 <= 20 ? 8 : 4);
		}
		if (i < 300) {	/* crowd the first and last prefixes, and one between */
			rows[i].id[0] = i % 3 == 0 ? 0x00 : i % 3 == 1 ? 0xff : 0x7f;
			rows[i].id[1] = i % 3 == 0 ? 0x00 : i % 3 == 1 ? 0xff : 0x80;
		}
		rows[i].offset = 12 + i;
	}
	unsigned char sum[20] = { 0 };
	mreg_buf idx = MREG_BUF_INIT;
	assert_int_equal(mreg_git_idx_build(&idx, rows, N, sum), 0);
	mreg_git_idx plain, radix;
	assert_int_equal(mreg_git_idx_parse(&plain, idx.ptr, idx.size), 0);
	assert_int_equal(mreg_git_idx_parse(&radix, idx.ptr, idx.size), 0);
	assert_int_equal(plain.count, N);
	assert_true(mreg_git_idx_radix(&radix));
	assert_non_null(radix.radix);
	for (size_t i = 0; i < N; i++) {
		unsigned char other[20];
		expect_same_find(&plain, &radix, rows[i].id, true);
		memcpy(other, rows[i].id, 20);
		other[19] ^= 0x5a;	/* beside an id that is there */
		expect_same_find(&plain, &radix, other, false);
	}
	static const unsigned char low[20] = { 0 }, high[20] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
								 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	expect_same_find(&plain, &radix, low, false);
	expect_same_find(&plain, &radix, high, false);
	mreg_git_idx_radix_free(&radix);
	assert_null(radix.radix);
	/* ids out of order (a damaged index): the radix is built all the same, and a find only ever names an equal id */
	unsigned char *ids = (unsigned char *)idx.ptr + 8 + 1024;
	for (size_t i = 0; i < 5000; i++) {
		size_t a = next_rand() % N, b = next_rand() % N;
		unsigned char t[20];
		memcpy(t, ids + a * 20, 20);
		memcpy(ids + a * 20, ids + b * 20, 20);
		memcpy(ids + b * 20, t, 20);
	}
	assert_int_equal(mreg_git_idx_parse(&radix, idx.ptr, idx.size), 0);
	assert_true(mreg_git_idx_radix(&radix));
	for (size_t i = 0; i < N; i += 7) {
		uint32_t pos;
		if (mreg_git_idx_find(&pos, &radix, rows[i].id)) {
			assert_true(pos < N);
			assert_memory_equal(radix.ids + (size_t)pos * 20, rows[i].id, 20);
		}
	}
	mreg_git_idx_radix_free(&radix);
	mreg_buf_dispose(&idx);
	free(rows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		REPO_TEST(loose_objects_read_back),
		REPO_TEST(packed_objects_without_deltas_read_back),
		REPO_TEST(annotated_tags_read_back),
		REPO_TEST(offset_deltas_read_back),
		REPO_TEST(ref_deltas_read_back),
		REPO_TEST(offsets_in_the_64_bit_table_read_back),
		REPO_TEST(several_packs_and_loose_objects_read_back),
		REPO_TEST(missing_objects_are_not_found),
		REPO_TEST(alternates_make_the_reader_unsure),
		REPO_TEST(multi_pack_index_makes_the_reader_unsure),
		REPO_TEST(index_version_1_makes_the_reader_unsure),
		REPO_TEST(refresh_sees_packs_written_since_open),
		REPO_TEST(damaged_packed_object_is_corrupt),
		REPO_TEST(damaged_loose_object_is_corrupt),
		REPO_TEST(a_size_no_pack_entry_could_hold_is_damage),
		REPO_TEST(a_loose_size_the_file_could_not_hold_is_damage),
		REPO_TEST(a_pack_removed_after_its_index_was_read_is_not_damage),
		REPO_TEST(a_damaged_loose_copy_gives_way_to_a_packed_one),
		cmocka_unit_test(radix_lookups_find_what_the_fanout_finds),
	};
	return cmocka_run_group_tests(tests, setup_group, teardown_group);
}

/*
 * Fuzzing the object reader (fsstore/odb.c): packs, pack indexes and loose
 * objects as anyone could have left them in .git/objects.
 *
 * An input is cut apart by SEP: a pack, its index (version 2), then loose
 * objects. A loose object is 'Z', its 20-byte id and the file's bytes as
 * they are (a zlib stream of "<type> <size>\0<data>"); or 'R' and the
 * inflated bytes, which the harness deflates and names by their SHA-1, so
 * that the fuzzer can reach the header inside the stream. They are written
 * into a scratch objects/ directory: pack/pack-<zeros>.pack and .idx, and
 * <xx>/<38 hex> for each loose object. Then every id the index lists (up to
 * 256), every loose id and one id that is nowhere are read, the first of
 * them twice around a refresh; then, the odb made ready, the head of each
 * (mreg_odb_peek), which must be the first bytes of what a whole read gives,
 * and a read where the peek found it (mreg_odb_read_at), the same as a read by id.
 *
 * A read answers 0 with an object whose git hash (computed here by
 * libgit2, not by mreg) is the id asked for, 1 (not here: the caller asks
 * libgit2), MREG_ECORRUPT or MREG_ERROR, with a one-line message; a crash,
 * leak, undefined behaviour, an allocation past the memory limit or a slow
 * input fails.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#include <zlib.h>

#define SEP "\n--8<--\n"
#define MAX_PARTS 10
#define MAX_READS 256

#define CHECK(cond)                  \
	do {                         \
		if (!(cond))         \
			abort();     \
	} while (0)

static char objdir[256];	/* <scratch>/objects/ */
static char written[MAX_PARTS][320];
static int nwritten;

static void put_file(const char *rel, const char *data, size_t len)
{
	char *path = written[nwritten++];
	snprintf(path, sizeof(written[0]), "%s%s", objdir, rel);
	char dir[320];
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	mkdir(dir, 0755);
	FILE *f = fopen(path, "wb");
	CHECK(f);
	CHECK(fwrite(data, 1, len, f) == len || len == 0);
	CHECK(fclose(f) == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	git_libgit2_init();
	snprintf(objdir, sizeof(objdir), "%s/mreg-fuzz-odb.%d/", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
		 (int)getpid());
	mkdir(objdir, 0755);
	strcat(objdir, "objects/");
	mkdir(objdir, 0755);
	return 0;
}

static void read_one(mreg_odb *odb, const unsigned char *raw)
{
	git_oid id, got;
	git_object_t type = GIT_OBJECT_INVALID;
	mreg_buf b = MREG_BUF_INIT;
	memcpy(id.id, raw, 20);
	mreg_error_clear();
	int rc = mreg_odb_read(&b, &type, odb, &id);
	CHECK(rc == 0 || rc == 1 || rc == MREG_ECORRUPT || rc == MREG_ERROR);
	if (rc == 0) {
		CHECK(type >= GIT_OBJECT_COMMIT && type <= GIT_OBJECT_TAG);
		CHECK(git_odb_hash(&got, b.ptr, b.size, type) == 0);
		CHECK(git_oid_equal(&got, &id));
	} else if (rc < 0) {
		CHECK(!strchr(mreg_error_last(), '\n'));
	}
	mreg_buf_dispose(&b);
}

/* The head of an object (mreg_odb_peek) on the odb made ready: 0 or 1, and when a whole read answers too, its first bytes. */
static void peek_one(mreg_odb *odb, const unsigned char *raw)
{
	git_oid id;
	git_object_t type = GIT_OBJECT_INVALID, full_type = GIT_OBJECT_INVALID;
	unsigned char head[128];
	size_t got = 0;
	mreg_buf b = MREG_BUF_INIT;
	memcpy(id.id, raw, 20);
	mreg_error_clear();
	mreg_odb_where where;
	int rc = mreg_odb_peek(head, &got, sizeof(head), &type, odb, &id, &where);
	CHECK(rc == 0 || rc == 1);
	if (rc == 0 && mreg_odb_read_named(&b, &full_type, odb, &id) == 0) {
		CHECK(full_type == type);
		CHECK(got == (b.size < sizeof(head) ? b.size : sizeof(head)));
		CHECK(!memcmp(head, b.ptr, got));
	}
	/* read again where the peek found it: what the read by id gives, or its refusal */
	mreg_buf at = MREG_BUF_INIT;
	git_object_t at_type = GIT_OBJECT_INVALID;
	if (rc == 0) {
		int r1 = mreg_odb_read_named(&b, &full_type, odb, &id), r2 = mreg_odb_read_at(&at, &at_type, odb, &where, &id);
		CHECK(r1 == r2);
		if (r1 == 0)
			CHECK(at_type == full_type && at.size == b.size && !memcmp(at.ptr, b.ptr, b.size));
	}
	mreg_buf_dispose(&at);
	mreg_buf_dispose(&b);
	mreg_error_clear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	const char *parts[MAX_PARTS];
	size_t lens[MAX_PARTS], n = 0, sl = sizeof(SEP) - 1;
	unsigned char ids[MAX_READS + MAX_PARTS + 1][20];
	size_t nids = 0;

	while (n < MAX_PARTS) {
		const char *q = p;
		while (q + sl <= end && memcmp(q, SEP, sl))
			q++;
		if (q + sl > end)
			q = end;
		parts[n] = p;
		lens[n++] = (size_t)(q - p);
		if (q == end)
			break;
		p = q + sl;
	}
	nwritten = 0;
	static const char pack[] = "pack/pack-0000000000000000000000000000000000000000";
	if (n >= 2) {
		char rel[128];
		snprintf(rel, sizeof(rel), "%s.pack", pack);
		put_file(rel, parts[0], lens[0]);
		snprintf(rel, sizeof(rel), "%s.idx", pack);
		put_file(rel, parts[1], lens[1]);
		/* the ids the index lists, as far as it is long enough to list them */
		const unsigned char *idx = (const unsigned char *)parts[1];
		if (lens[1] >= 8 + 1024) {
			uint32_t count = (uint32_t)idx[1028] << 24 | (uint32_t)idx[1029] << 16 |
					 (uint32_t)idx[1030] << 8 | idx[1031];
			for (size_t i = 0; i < count && nids < MAX_READS && 1032 + (i + 1) * 20 <= lens[1]; i++)
				memcpy(ids[nids++], idx + 1032 + i * 20, 20);
		}
	}
	for (size_t i = 2; i < n; i++) {
		char hex[41], rel[64];
		git_oid oid;
		if (lens[i] >= 21 && parts[i][0] == 'Z') {
			memcpy(oid.id, parts[i] + 1, 20);
			git_oid_tostr(hex, sizeof(hex), &oid);
			snprintf(rel, sizeof(rel), "%.2s/%s", hex, hex + 2);
			put_file(rel, parts[i] + 21, lens[i] - 21);
		} else if (lens[i] >= 1 && parts[i][0] == 'R') {
			uLongf zlen = compressBound((uLong)lens[i]);
			unsigned char *z = malloc(zlen);
			CHECK(z && compress(z, &zlen, (const Bytef *)parts[i] + 1, (uLong)lens[i] - 1) == Z_OK);
			mreg_git_sha1(oid.id, parts[i] + 1, lens[i] - 1);
			git_oid_tostr(hex, sizeof(hex), &oid);
			snprintf(rel, sizeof(rel), "%.2s/%s", hex, hex + 2);
			put_file(rel, (const char *)z, zlen);
			free(z);
		} else {
			continue;
		}
		memcpy(ids[nids++], oid.id, 20);
	}
	memset(ids[nids++], 0x5a, 20);	/* nowhere */

	mreg_odb *odb = NULL;
	int rc = mreg_odb_open(&odb, objdir);
	CHECK(rc == 0);
	for (size_t i = 0; i < nids; i++)
		read_one(odb, ids[i]);
	CHECK(mreg_odb_refresh(odb) == 0);
	read_one(odb, ids[0]);
	if (mreg_odb_ready(odb) == 0)
		for (size_t i = 0; i < nids; i++)
			peek_one(odb, ids[i]);
	mreg_error_clear();
	mreg_odb_thread_done();
	mreg_odb_free(odb);

	for (int i = 0; i < nwritten; i++)
		unlink(written[i]);
	return 0;
}

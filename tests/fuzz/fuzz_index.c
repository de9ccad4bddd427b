/*
 * Fuzzing the pack indexer (fsstore/git/indexer.c): any bytes as the pack
 * of a bundle someone sent, indexed into a scratch objects/pack/ (under
 * $TMPDIR, which run.sh points into build/fuzz/).
 *
 * Indexing answers 0 or MREG_ECORRUPT with a message of its own (MREG_ERROR
 * would be memory, which no input this small may exhaust). A refusal leaves nothing in the pack directory. A pack
 * indexed has its .idx and its bytes there under its name; its index holds
 * as many objects as the pack's header counts, and each of them, read back
 * by mreg's object reader, hashes (by libgit2) to the id the index gives.
 * Indexed in memory too (mreg_git_index_pack_mem), the .idx is the same,
 * every object reads where the pack lies (mreg_odb_open_pack), and the
 * key taken of each (an event's clock) is that of its bytes. A crash,
 * leak, undefined behaviour, an allocation past the memory limit or a slow
 * input fails.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define CHECK(cond)                  \
	do {                         \
		if (!(cond))         \
			abort();     \
	} while (0)

static char objdir[256];	/* <scratch>/objects/ */
static char packdir[300];	/* <scratch>/objects/pack */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *tmp = getenv("TMPDIR");
	char base[200];
	snprintf(base, sizeof(base), "%s/fuzz-index-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	CHECK(mkdtemp(base));
	snprintf(objdir, sizeof(objdir), "%s/objects/", base);
	snprintf(packdir, sizeof(packdir), "%spack", objdir);
	CHECK(mkdir(objdir, 0755) == 0 && mkdir(packdir, 0755) == 0);
	git_libgit2_init();
	return 0;
}

/* The names in the pack directory, removed (each call starts from an empty one); how many there were. */
static int empty_packdir(void)
{
	DIR *d = opendir(packdir);
	CHECK(d);
	int n = 0;
	char path[600];
	for (struct dirent *e; (e = readdir(d));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", packdir, e->d_name);
		CHECK(unlink(path) == 0);
		n++;
	}
	closedir(d);
	return n;
}

/* Every object the stored index lists reads back by mreg's reader and hashes to its id. */
static void check_stored(const char hex[41], uint32_t count)
{
	char path[600];
	mreg_buf idx = MREG_BUF_INIT, obj = MREG_BUF_INIT;
	mreg_git_idx x;
	mreg_odb *odb = NULL;
	snprintf(path, sizeof(path), "%s/pack-%s.idx", packdir, hex);
	CHECK(mreg_fs_read(&idx, path, 0) == 0);
	CHECK(mreg_git_idx_parse(&x, idx.ptr, idx.size) == 0);
	CHECK(x.count == count);
	CHECK(mreg_odb_open(&odb, objdir) == 0);
	for (uint32_t i = 0; i < x.count; i++) {
		git_oid id, got;
		git_object_t type;
		memcpy(id.id, x.ids + 20 * (size_t)i, 20);
		CHECK(mreg_odb_read(&obj, &type, odb, &id) == 0);
		CHECK(git_odb_hash(&got, obj.ptr, obj.size, type) == 0 && git_oid_equal(&got, &id));
	}
	mreg_odb_free(odb);
	mreg_buf_dispose(&obj);
	mreg_buf_dispose(&idx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char hex[41];
	mreg_error_clear();
	int rc = mreg_git_index_pack(hex, packdir, data, size, false);
	CHECK(rc == 0 || rc == MREG_ECORRUPT);	/* no input here is large enough to run out of memory */
	if (rc == 0) {
		check_stored(hex, mreg_git_be32(data + 8));
		/* indexed in memory: the same .idx, and the same objects read where the pack lies */
		mreg_buf mem = MREG_BUF_INIT, stored = MREG_BUF_INIT, obj = MREG_BUF_INIT;
		char path[600];
		snprintf(path, sizeof(path), "%s/pack-%s.idx", packdir, hex);
		CHECK(mreg_fs_read(&stored, path, 0) == 0);
		int64_t *keys = NULL;
		CHECK(mreg_git_index_pack_mem(&mem, &keys, mreg_events_clock_of, data, size) == 0);
		CHECK(mem.size == stored.size && !memcmp(mem.ptr, stored.ptr, mem.size));
		mreg_odb *odb;
		mreg_git_idx x;
		size_t ilen = mem.size;
		CHECK(mreg_odb_open_pack(&odb, "fuzz", data, size, (unsigned char *)mreg_buf_detach(&mem), ilen) == 0);
		CHECK(mreg_git_idx_parse(&x, stored.ptr, stored.size) == 0);
		for (uint32_t i = 0; i < x.count; i++) {
			git_oid id;
			git_object_t type;
			int64_t clock;
			memcpy(id.id, x.ids + 20 * (size_t)i, 20);
			CHECK(mreg_odb_read(&obj, &type, odb, &id) == 0);
			/* each key is the clock of the object's own bytes, and only a blob's */
			bool keyed = type == GIT_OBJECT_BLOB &&
				     mreg_events_clock_of(&clock, (const unsigned char *)obj.ptr, obj.size);
			CHECK(keyed ? keys[i] == clock : keys[i] == -1);
		}
		free(keys);
		mreg_odb_free(odb);
		mreg_buf_dispose(&obj);
		mreg_buf_dispose(&stored);
		CHECK(empty_packdir() == 2);
	} else {
		CHECK(strcmp(mreg_error_last(), "unknown error") != 0);	/* a message of its own */
		CHECK(empty_packdir() == 0);
	}
	mreg_error_clear();
	return 0;
}

/*
 * The fold's key cache: for a large pack, the clock of each event file in
 * it as the first pass of a fold over every event read it from the head of
 * the file's bytes (-1 for any other object), in the order of the pack's
 * .idx, so that the next such fold need not inflate every event's head
 * again (about a fifth of refresh --full at a million events).
 *
 * One file a pack, <gitdir>mreg/fold-keys/pack-<name>.keys: "mregfk1\n",
 * the object count (4 bytes), a key of 8 bytes a object (big-endian, two's
 * complement), then the SHA-1 of all before. A pack's objects never change
 * (its name is the checksum of its bytes), so a file never goes stale;
 * one whose count is not its pack's, or whose checksum does not hold (a
 * torn write: the files are not fsynced, being a cache), is not used. The
 * fold still checks each key against the clock the event's parse gives:
 * a key wrong all the same (written by hand) stops that fold, the files
 * are removed, and the fold runs again without them (cache.c,
 * fold_every_event). The keys are the odb's only for that fold.
 *
 * Written after a fold over every event that ended well, for each pack of
 * MIN_OBJECTS objects or more that had no keys file, from the keys pass
 * one found (or the restore's indexer gave); the files whose packs are
 * gone are removed then (eventfold.c, save_keys), and by mreg gc. Only the
 * fold of every event into the state cache (refresh --full, a first read
 * without state, restore-from) uses and writes them: fsck and check read
 * every head again, and a first clone reads every event whole, as a pull
 * does.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DIR_NAME "fold-keys"
#define MAGIC "mregfk1\n"
#define HEAD (sizeof(MAGIC) - 1 + 4)
#define MIN_OBJECTS 64		/* a write's own pack holds about five: its keys cost more than a peek */

static char *keys_path(const mreg_registry *reg, const char *hex)
{
	return hex ? mreg_strfmt("%s" DIR_NAME "/pack-%s.keys", reg->mregdir, hex)
		   : mreg_strfmt("%s" DIR_NAME, reg->mregdir);
}

/* The keys of a file's bytes (count of them, as the pack holds), or NULL when the file is not one for it. */
static int64_t *keys_of(const mreg_buf *b, uint32_t count)
{
	const unsigned char *p = (const unsigned char *)b->ptr;
	unsigned char sum[20];
	if (b->size != HEAD + (size_t)count * 8 + 20 || memcmp(p, MAGIC, sizeof(MAGIC) - 1) ||
	    mreg_git_be32(p + sizeof(MAGIC) - 1) != count)
		return NULL;
	mreg_git_sha1(sum, p, b->size - 20);
	int64_t *keys = memcmp(sum, p + b->size - 20, 20) ? NULL : malloc(((size_t)count + 1) * sizeof(*keys));
	for (uint32_t i = 0; keys && i < count; i++) {
		const unsigned char *k = p + HEAD + (size_t)i * 8;
		keys[i] = (int64_t)((uint64_t)mreg_git_be32(k) << 32 | mreg_git_be32(k + 4));
	}
	return keys;
}

int mreg_fold_keys_load(mreg_registry *reg)
{
	mreg_odb *odb = reg->lodb;
	size_t n = odb ? mreg_odb_npacks(odb) : 0;
	int loaded = 0;
	for (size_t i = 0; i < n; i++) {
		char hex[41];
		uint32_t count;
		bool keyed;
		if (!mreg_odb_pack_info(odb, i, hex, &count, &keyed) || keyed || count < MIN_OBJECTS)
			continue;
		char *path = keys_path(reg, hex);
		mreg_buf b = MREG_BUF_INIT;
		int64_t *keys = path && mreg_fs_read(&b, path, HEAD + (size_t)count * 8 + 20) == 0 ? keys_of(&b, count) : NULL;
		if (path && !keys)
			unlink(path);	/* none, or not one for its pack (torn, damaged): written anew after the fold */
		mreg_buf_dispose(&b);
		free(path);
		if (keys && mreg_odb_set_keys(odb, hex, keys, count) == 0)
			loaded++;
	}
	mreg_error_clear();	/* a file missing or unusable is no error: the heads are read instead */
	return loaded;
}

static bool is_keys_file(const char *name)
{
	size_t n = strlen(name);
	return n == 5 + 40 + 5 && !strncmp(name, "pack-", 5) && !strcmp(name + 45, ".keys");
}

void mreg_fold_keys_drop(mreg_registry *reg)
{
	char *dir = keys_path(reg, NULL);
	if (reg->lodb)
		mreg_odb_clear_keys(reg->lodb);
	if (dir)
		mreg_fs_unlink_where(dir, is_keys_file);
	free(dir);
}

void mreg_fold_keys_prune(mreg_registry *reg)
{
	char *dir = keys_path(reg, NULL);
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *de;
	/* a linked work tree's git directory has no objects: the common directory's (tree.c, open_lodb) */
	const char *common = reg->repo ? git_repository_commondir(reg->repo) : reg->gitdir;
	if (dir)
		mreg_fs_sweep_tmp(dir, false);	/* what a write killed midway left */
	while (d && (de = readdir(d))) {
		if (!is_keys_file(de->d_name))
			continue;
		char *idx = mreg_strfmt("%sobjects/pack/%.45s.idx", common, de->d_name);
		if (idx && access(idx, F_OK) < 0 && errno == ENOENT)
			unlinkat(dirfd(d), de->d_name, 0);
		free(idx);
	}
	if (d)
		closedir(d);
	free(dir);
}

bool mreg_fold_keys_wanted(mreg_registry *reg, size_t pack, uint32_t *count)
{
	char hex[41];
	bool keyed;
	if (!reg->lodb || !mreg_odb_pack_info(reg->lodb, pack, hex, count, &keyed) || *count < MIN_OBJECTS)
		return false;
	char *path = keys_path(reg, hex);
	bool there = path && access(path, F_OK) == 0;
	free(path);
	return !there;
}

void mreg_fold_keys_save(mreg_registry *reg, size_t pack, const int64_t *keys, uint32_t count)
{
	char hex[41], *dir = keys_path(reg, NULL), *path = NULL;
	uint32_t have;
	bool keyed;
	mreg_buf b = MREG_BUF_INIT;
	if (!dir || !mreg_odb_pack_info(reg->lodb, pack, hex, &have, &keyed) || have != count ||
	    !(path = keys_path(reg, hex)) || mreg_fs_mkdirs(dir) < 0)
		goto done;
	unsigned char k[8];
	mreg_buf_put(&b, MAGIC, sizeof(MAGIC) - 1);
	mreg_git_put_be32(k, count);
	mreg_buf_put(&b, k, 4);
	for (uint32_t i = 0; i < count; i++) {
		mreg_git_put_be32(k, (uint32_t)((uint64_t)keys[i] >> 32));
		mreg_git_put_be32(k + 4, (uint32_t)keys[i]);
		mreg_buf_put(&b, k, 8);
	}
	unsigned char sum[20];
	if (!mreg_buf_oom(&b)) {
		mreg_git_sha1(sum, b.ptr, b.size);
		mreg_buf_put(&b, sum, 20);
	}
	/* a cache: not fsynced (a torn file fails its checksum), and no failure to write it fails the fold */
	if (!mreg_buf_oom(&b))
		mreg_fs_write_atomic(path, b.ptr, b.size, false);
done:
	mreg_error_clear();
	mreg_buf_dispose(&b);
	free(path);
	free(dir);
}

/*
 * The index follows HEAD (a full checkout; a lean registry has none).
 *
 * A write's entries are streamed into it (fsstore/git/index.c) under a
 * recorded index.lock; an index the streaming writer leaves alone goes
 * through libgit2 on a private copy; one a power cut left cut short is made
 * again from HEAD.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The entries into the index, streamed (git/index.c): git's protocol,
 * index.lock created exclusively (recorded, so that the next mreg removes
 * it if this one dies holding it; waited for while a git command holds it),
 * written, renamed over index (by a swap and an unlink, see
 * mreg_fs_replace). 1 when the index is not one the stream writes.
 */
static int index_update(mreg_registry *reg, mreg_index_entry *adds, size_t nadds, char **removes, size_t nremoves)
{
	mreg_buf own = MREG_BUF_INIT;
	mreg_span *sp = NULL;
	size_t nsp = 0;
	const char *map = NULL;
	size_t maplen = 0;
	char *path = mreg_strfmt("%sindex", reg->gitdir), *lock = mreg_strfmt("%sindex.lock", reg->gitdir);
	int rc = 1, fd = -1;

	if (!path || !lock) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	if (mreg_fs_map(&map, &maplen, path) < 0) {
		mreg_error_clear();
		goto done;
	}
	if ((rc = mreg_git_index_splice(&own, &sp, &nsp, map, maplen, adds, nadds, removes, nremoves)) != 0)
		goto done;
	if ((rc = mreg_lock_file_create(&fd, reg, "index")) < 0)
		goto done;
	if (mreg_fs_write_spans(fd, &own, sp, nsp) < 0 || close(fd) < 0 || mreg_fs_replace(lock, path) < 0) {
		rc = mreg_error_set(MREG_ERROR, "cannot write the index of '%s': %s", reg->path, strerror(errno));
		unlink(lock);
	}
	fd = -1;
	mreg_lock_file_done(reg);
done:
	if (fd >= 0)
		close(fd);
	mreg_fs_unmap(map, maplen);
	mreg_buf_dispose(&own);
	free(sp);
	free(path);
	free(lock);
	return rc;
}

/*
 * libgit2 writes an index through its own index.lock, which mreg cannot
 * record: a process killed in the middle would leave a lock file the next
 * write must take for a live git command's. So libgit2 works on a private
 * copy, .git/mreg/index.new (its lock file is under .git/mreg/, which only
 * mreg uses), and the result is put in place as any index write is: under
 * a recorded index.lock, by renaming the copy over the index.
 */
int mreg_mirror_index_libgit2(mreg_registry *reg, bool copy, int (*fn)(git_index *idx, void *payload), void *payload)
{
	char *priv = mreg_strfmt("%sindex.new", reg->mregdir), *plock = mreg_strfmt("%sindex.new.lock", reg->mregdir);
	char *path = mreg_strfmt("%sindex", reg->gitdir), *lock = mreg_strfmt("%sindex.lock", reg->gitdir);
	git_index *idx = NULL;
	mreg_buf b = MREG_BUF_INIT;
	int rc = 0, fd = -1;

	if (!priv || !plock || !path || !lock) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	if ((rc = mreg_registry_need_git(reg)) < 0)
		goto done;
	unlink(plock);	/* a killed mreg's: no one else writes under .git/mreg/ */
	unlink(priv);
	if (copy && (rc = mreg_fs_read(&b, path, 0)) == 0)
		rc = mreg_fs_write_atomic(priv, b.ptr, b.size, false);
	if (rc == MREG_ENOTFOUND)
		rc = 0;	/* no index yet: start from an empty one */
	mreg_error_clear();
	if (rc < 0)
		goto done;
	if (git_index_open(&idx, priv) < 0) {
		rc = mreg_libgit2_error("cannot open the index of", reg->path);
		goto done;
	}
	/* version 2 is the one git/index.c streams on the next write */
	if (git_index_version(idx) != 2 && git_index_set_version(idx, 2) < 0) {
		rc = mreg_libgit2_error("cannot set the index version of", reg->path);
		goto done;
	}
	if ((rc = fn(idx, payload)) < 0)
		goto done;
	if (git_index_write(idx) < 0) {
		rc = mreg_libgit2_error("cannot write the index of", reg->path);
		goto done;
	}
	if ((rc = mreg_lock_file_create(&fd, reg, "index")) < 0)
		goto done;
	close(fd);
	if (rename(priv, path) < 0)
		rc = mreg_error_set(MREG_ERROR, "cannot write the index of '%s': %s", reg->path, strerror(errno));
	unlink(lock);
	mreg_lock_file_done(reg);
	if (rc == 0) {	/* the repository's own copy of the index reads the new file */
		git_index *own = NULL;
		if (git_repository_index(&own, reg->repo) == 0)
			git_index_read(own, true);
		git_index_free(own);
		git_error_clear();
	}
done:
	git_index_free(idx);
	if (priv)
		unlink(priv);
	mreg_buf_dispose(&b);
	free(priv);
	free(plock);
	free(path);
	free(lock);
	return rc;
}

/* The same entries through libgit2, for an index the streaming writer leaves alone. */
typedef struct {
	mreg_registry *reg;
	const mreg_index_entry *adds;
	size_t n;
	char **removes;
	size_t nremoves;
} index_change;

static int apply_index_change(git_index *idx, void *payload)
{
	const index_change *c = payload;
	for (size_t i = 0; i < c->nremoves; i++)
		if (git_index_remove(idx, c->removes[i], 0) < 0)
			git_error_clear();	/* not there: nothing to drop */
	for (size_t i = 0; i < c->n; i++) {
		git_index_entry e;
		const struct stat *sb = &c->adds[i].st;
		memset(&e, 0, sizeof(e));
		e.ctime.seconds = (int32_t)sb->st_ctim.tv_sec;
		e.ctime.nanoseconds = (uint32_t)sb->st_ctim.tv_nsec;
		e.mtime.seconds = (int32_t)sb->st_mtim.tv_sec;
		e.mtime.nanoseconds = (uint32_t)sb->st_mtim.tv_nsec;
		e.dev = (uint32_t)sb->st_dev;
		e.ino = (uint32_t)sb->st_ino;
		e.mode = sb->st_mode & 0111 ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB;
		e.uid = sb->st_uid;
		e.gid = sb->st_gid;
		e.file_size = (uint32_t)sb->st_size;
		e.path = c->adds[i].path;
		git_oid_cpy(&e.id, &c->adds[i].id);
		if (git_index_add(idx, &e) < 0)
			return mreg_libgit2_error("cannot update the index of", c->reg->path);
	}
	return 0;
}

int mreg_mirror_index_change(mreg_registry *reg, mreg_index_entry *adds, size_t n, char **removes, size_t nremoves,
			     const git_oid *tree)
{
	int rc;
	if ((rc = mreg_lock_wait_git(reg, "index")) < 0)
		return rc;
	if ((rc = index_update(reg, adds, n, removes, nremoves)) != 1)
		return rc;
	/* an index this code does not stream (another version, an extension git requires): libgit2's */
	if ((rc = mreg_mirror_index_check(reg, tree)) < 0)	/* one left alone because it is cut short: made again */
		return rc;
	index_change c = { reg, adds, n, removes, nremoves };
	return mreg_mirror_index_libgit2(reg, true, apply_index_change, &c);
}

int mreg_mirror_index(mreg_registry *reg, mreg_index_entry *adds, size_t n, const git_oid *tree)
{
	return mreg_mirror_index_change(reg, adds, n, NULL, 0, tree);
}

/*
 * The git index is derived data and never fsynced: a power cut can leave
 * it empty or cut short, and then git and libgit2 refuse to read it. Such
 * an index is made again from tree (HEAD's), as `git reset` would; its
 * entries carry no stat data, so the next `git status` hashes the files
 * once and finds them clean. 0 when the index reads, or was made again.
 */
static int read_tree_into(git_index *idx, void *payload)
{
	return git_index_read_tree(idx, payload) < 0 ? mreg_libgit2_error("cannot make the index again from", "HEAD") : 0;
}

int mreg_mirror_index_check(mreg_registry *reg, const git_oid *tree)
{
	git_index *idx = NULL;
	git_tree *t = NULL;
	int rc = mreg_registry_need_git(reg);
	if (rc < 0)
		return rc;
	char *path = mreg_strfmt("%sindex", reg->gitdir);
	if (!path)
		return mreg_error_set(MREG_ERROR, "out of memory");
	/* libgit2 takes an empty file for an empty index; git does not, and neither may this */
	struct stat sb;
	int st = stat(path, &sb);
	bool missing = st < 0 && errno == ENOENT;	/* no index: an empty one, which the repair fills */
	if (missing || (st == 0 && sb.st_size >= 12 + 20 && git_index_open(&idx, path) == 0)) {
		git_index_free(idx);
		free(path);
		return 0;
	}
	git_error_clear();
	free(path);
	if (git_tree_lookup(&t, reg->repo, tree) < 0)
		return mreg_libgit2_error("cannot make the index again in", reg->path);
	rc = mreg_mirror_index_libgit2(reg, false, read_tree_into, t);
	git_tree_free(t);
	return rc;
}


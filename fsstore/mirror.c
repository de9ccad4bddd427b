/*
 * The work tree and the index follow HEAD.
 *
 * In a full checkout every write mirrors its files into the work tree and
 * their entries into the index (mirror_index.c), so that `git status`
 * stays clean (mreg_mirror_file, mreg_mirror_index). A lean registry
 * (reg->lean, mreg init's) has no index and no events in its work tree:
 * only the model files are made there. The mirror is derived data, never
 * fsynced: what a crash or a change made with plain git leaves behind,
 * mreg_mirror_repair brings back to HEAD (called by cache.c when the
 * mirror's stamp, or a lean registry's state stamp, does not name HEAD).
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

/* ---- a write's files and entries ------------------------------------- */

/* The xxh128 a content-addressed path names (its last part's first 32 hex digits), or NULL. */
static const char *named_hash(char out[33], const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	if (strspn(base, "0123456789abcdef") < 32)
		return NULL;
	memcpy(out, base, 32);
	out[32] = '\0';
	return out;
}

/* Whether the open file fd holds exactly len bytes equal to data. */
static bool same_bytes(int fd, const void *data, size_t len)
{
	struct stat sb;
	char buf[65536];
	size_t off = 0;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (size_t)sb.st_size != len)
		return false;
	while (off < len) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || off + (size_t)r > len || memcmp(buf, (const char *)data + off, (size_t)r))
			return false;
		off += (size_t)r;
	}
	return true;
}

/*
 * A work tree copy of a committed file, reached without following any
 * symbolic link (a peer may have committed one on the way: it is replaced,
 * never written through). No temporary file and rename: the name is the
 * content's hash, so a file already there that holds the same bytes is the
 * file, and a copy cut short by a crash is caught because its index entry
 * is written after it (the next command's mirror check restores it). A
 * large file's copy comes from .git/lfs, checked on the way.
 */
int mreg_mirror_file(mreg_index_entry *e, mreg_registry *reg, const mreg_addfile *f)
{
	const char *name;
	char hex[33];
	int dir = -1, fd = -1, rc;

	e->path = f->path;
	mreg_git_hash(&e->id, GIT_OBJECT_BLOB, f->data, f->len);
	if (f->lfs)
		return mreg_lfs_checkout(&e->st, reg, f->path, f->lfs, named_hash(hex, f->path));
	if ((rc = mreg_fs_parent_beneath(&dir, &name, reg->workdir, f->path, MREG_FS_MKDIRS | MREG_FS_REPAIR)) < 0)
		return rc;
	fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0 && same_bytes(fd, f->data, f->len)) {
		rc = fstat(fd, &e->st) < 0 ? mreg_error_set(MREG_ERROR, "cannot stat '%s': %s", f->path, strerror(errno)) : 0;
		goto done;
	}
	if (fd >= 0)
		close(fd);
	mreg_error_subject(f->path);	/* what the open finds names the file's path in the work tree */
	rc = mreg_fs_open_at(&fd, dir, name, O_WRONLY | O_CREAT | O_TRUNC, MREG_FS_REPAIR);
	mreg_error_subject(NULL);
	if (rc < 0)
		goto done;
	mreg_span all = { f->data, 0, f->len };
	if (mreg_fs_write_spans(fd, NULL, &all, 1) < 0 || fstat(fd, &e->st) < 0)
		rc = mreg_error_set(MREG_ERROR, "cannot write '%s': %s", f->path, strerror(errno));
done:
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = mreg_error_set(MREG_ERROR, "cannot write '%s': %s", f->path, strerror(errno));
	close(dir);
	return rc;
}

int mreg_mirror_batch(mreg_registry *reg, const mreg_buf *bytes, const char (*ids)[33], size_t n,
			const mreg_addfile *files, size_t nfiles, const git_oid *tree)
{
	mreg_index_entry *adds = calloc(n + nfiles + 1, sizeof(*adds));
	char (*paths)[MREG_EVENT_PATH_MAX] = calloc(n + 1, sizeof(*paths));
	int rc = 0;
	if (!adds || !paths) {
		free(adds);
		free(paths);
		return mreg_error_set(MREG_ERROR, "out of memory");
	}
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 0);
	for (size_t i = 0; rc == 0 && !reg->lean && i < n; i++) {
		mreg_event_path(paths[i], ids[i]);
		mreg_addfile ev = { paths[i], bytes[i].ptr, bytes[i].size, NULL };
		rc = mreg_mirror_file(&adds[i], reg, &ev);
	}
	for (size_t i = 0; rc == 0 && i < nfiles; i++)
		rc = mreg_mirror_file(&adds[n + i], reg, &files[i]);
	if (rc == 0 && !reg->lean)
		rc = mreg_mirror_index(reg, adds, n + nfiles, tree);
	if (rc == 0 && !reg->lean)
		rc = mreg_cache_set_mirror(reg, tree);
	free(adds);
	free(paths);
	return rc;
}

/* ---- repair ------------------------------------------------------------ */

/*
 * Bring the mirror to HEAD after a crash or a change made with plain git:
 * the files of mreg's paths (`git checkout -f HEAD -- paths`, missing ones
 * too), then their index entries (`git reset -- paths`: a writer killed
 * between the work tree and the index leaves entries missing), then the
 * litter of killed writers.
 */
typedef struct {
	char **paths;
	size_t n, a;
} path_list;

static int collect_path(const git_diff_delta *d, float progress, void *payload)
{
	path_list *l = payload;
	(void)progress;
	const char *p = d->new_file.path ? d->new_file.path : d->old_file.path;
	if (l->n == l->a) {
		l->a = l->a ? l->a * 2 : 64;
		char **q = realloc(l->paths, l->a * sizeof(*q));
		if (!q)
			return -1;
		l->paths = q;
	}
	if (!(l->paths[l->n] = mreg_strdup(p)))
		return -1;
	l->n++;
	return 0;
}

/*
 * Every path of a diff, from its deltas alone: git_diff_foreach would look
 * up each file's diff driver in the attributes (a realpath and a search for
 * .gitattributes files per path), which a 10,000-event sync pays for nothing.
 */
static int collect_paths(git_diff *diff, path_list *l)
{
	size_t n = git_diff_num_deltas(diff);
	for (size_t i = 0; i < n; i++)
		if (collect_path(git_diff_get_delta(diff, i), 0, l) < 0)
			return -1;
	return 0;
}

static void path_list_dispose(path_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->paths[i]);
	free(l->paths);
}

static int path_add(path_list *l, const char *p)
{
	git_diff_delta d;
	memset(&d, 0, sizeof(d));
	d.new_file.path = p;
	return collect_path(&d, 0, l);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted, each path once (the diffs and the large-file scan may name one twice). */
static void path_list_unique(path_list *l)
{
	size_t k = 0;
	if (l->n)
		qsort(l->paths, l->n, sizeof(*l->paths), cmp_str);
	for (size_t i = 0; i < l->n; i++) {
		if (k && !strcmp(l->paths[k - 1], l->paths[i])) {
			free(l->paths[i]);
			continue;
		}
		l->paths[k++] = l->paths[i];
	}
	l->n = k;
}

/*
 * Large files whose work tree copy is missing or is not the right size (a
 * `git pull` or `git checkout` without the LFS filter writes the pointer
 * text there) join the lag. They are named in the .gitattributes files
 * under artifacts/ and blobs/: all of them (refresh, a first look), or
 * those of the attribute files that changed since the mirror's tree.
 */
typedef struct {
	mreg_registry *reg;
	git_tree *head;
	path_list *lag;
	const char *prefix;	/* of a tree walk's roots: "artifacts/" */
	bool by_hash;		/* a copy of the right size is hashed too */
	int rc;
} lfs_scan;

static void lfs_scan_attributes(lfs_scan *s, const char *attrpath, const git_oid *attr_id)
{
	git_blob *blob = NULL;
	const char *slash = strrchr(attrpath, '/');
	size_t dirlen = slash ? (size_t)(slash - attrpath) + 1 : 0;
	if (git_blob_lookup(&blob, s->reg->repo, attr_id) < 0) {
		git_error_clear();
		return;
	}
	const char *p = git_blob_rawcontent(blob), *end = p + git_blob_rawsize(blob), *name;
	size_t len;
	while (s->rc == 0 && mreg_lfs_attributes_next(&name, &len, &p, end)) {
		char path[512];
		snprintf(path, sizeof(path), "%.*s%.*s", (int)dirlen, attrpath, (int)len, name);
		git_tree_entry *e = NULL;
		git_blob *b = NULL;
		mreg_lfs_pointer ptr;
		struct stat sb;
		char *full = mreg_strfmt("%s%s", s->reg->workdir, path);
		if (full && git_tree_entry_bypath(&e, s->head, path) == 0 && git_tree_entry_type(e) == GIT_OBJECT_BLOB &&
		    git_blob_lookup(&b, s->reg->repo, git_tree_entry_id(e)) == 0 &&
		    mreg_lfs_pointer_parse(&ptr, git_blob_rawcontent(b), (size_t)git_blob_rawsize(b)) == 0) {
			char want[33];
			const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
			snprintf(want, sizeof(want), "%.32s", base);
			bool lags = lstat(full, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size != ptr.size ||
				    (s->by_hash && mreg_lfs_copy_ok(s->reg, path, &ptr, want) != 0);
			if (lags && path_add(s->lag, path) < 0)
				s->rc = mreg_error_set(MREG_ERROR, "out of memory");
		}
		git_error_clear();
		git_blob_free(b);
		git_tree_entry_free(e);
		free(full);
	}
	git_blob_free(blob);
}

static int lfs_walk_cb(const char *root, const git_tree_entry *e, void *payload)
{
	lfs_scan *s = payload;
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB || strcmp(git_tree_entry_name(e), ".gitattributes"))
		return 0;
	char path[512];
	snprintf(path, sizeof(path), "%s%s%s", s->prefix, root, git_tree_entry_name(e));
	lfs_scan_attributes(s, path, git_tree_entry_id(e));
	return s->rc < 0 ? -1 : 0;
}

/* An attributes file added or changed since the mirror's tree: its large files are looked at. */
static int lfs_change_cb(const mreg_tree_change *ch, void *payload)
{
	lfs_scan *s = payload;
	const char *slash = strrchr(ch->path, '/');
	if (ch->new_id && !strcmp(slash ? slash + 1 : ch->path, ".gitattributes"))
		lfs_scan_attributes(s, ch->path, ch->new_id);
	return s->rc;
}

static int lfs_lag(path_list *lag, mreg_registry *reg, git_tree *head, const git_oid *since, bool by_hash)
{
	static char *dirs[] = { "artifacts", "blobs" };
	lfs_scan s = { reg, head, lag, "", by_hash, 0 };
	int rc = 0;
	for (size_t i = 0; since && rc == 0 && i < 2; i++)
		rc = mreg_tree_changes(reg, since, git_tree_id(head), dirs[i], lfs_change_cb, &s);
	if (since && rc == 0)
		return s.rc;
	if (rc < 0 && mreg_error_code() == MREG_ERROR)
		return rc;
	mreg_error_clear();	/* the mirror's tree is not here: every large file is looked at */
	git_error_clear();
	for (size_t i = 0; i < 2 && s.rc == 0; i++) {
		git_tree_entry *e = NULL;
		git_tree *t = NULL;
		if (git_tree_entry_bypath(&e, head, dirs[i]) == 0 && git_tree_entry_type(e) == GIT_OBJECT_TREE &&
		    git_tree_lookup(&t, reg->repo, git_tree_entry_id(e)) == 0) {
			char root[32];
			snprintf(root, sizeof(root), "%s/", dirs[i]);
			s.prefix = root;	/* git_tree_walk's roots are relative to the tree walked */
			git_tree_walk(t, GIT_TREEWALK_PRE, lfs_walk_cb, &s);
			s.prefix = "";
		}
		git_error_clear();
		git_tree_entry_free(e);
		git_tree_free(t);
	}
	return s.rc;
}

/* Make one lagging path what HEAD has: *entry set when a file was written (1: removed, 2: left alone). */
static int repair_path(mreg_index_entry *entry, mreg_registry *reg, git_tree *head, const char *path)
{
	git_tree_entry *e = NULL;
	git_blob *blob = NULL;
	int rc = 0;
	if (git_tree_entry_bypath(&e, head, path) < 0) {
		/* not in HEAD: the file goes (a link too, never what it points to); the directories stay */
		const char *name;
		int dir;
		git_error_clear();
		if (mreg_fs_parent_beneath(&dir, &name, reg->workdir, path, 0) == 0) {
			struct stat sb;
			if (fstatat(dir, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(sb.st_mode))
				unlinkat(dir, name, 0);
			close(dir);
		}
		mreg_error_clear();
		return 1;
	}
	git_filemode_t mode = git_tree_entry_filemode(e);
	if (mode != GIT_FILEMODE_BLOB && mode != GIT_FILEMODE_BLOB_EXECUTABLE) {
		/* a link, a submodule or a directory where mreg keeps files: never made in the work tree */
		git_tree_entry_free(e);
		return 2;
	}
	if (git_blob_lookup(&blob, reg->repo, git_tree_entry_id(e)) < 0) {
		rc = mreg_libgit2_error("cannot read", path);
		goto done;
	}
	mreg_lfs_pointer ptr;
	const void *data = git_blob_rawcontent(blob);
	size_t len = (size_t)git_blob_rawsize(blob);
	mreg_addfile f = { path, data, len, mreg_lfs_pointer_at(&ptr, path, data, len) ? &ptr : NULL };
	rc = mreg_mirror_file(entry, reg, &f);
	if (rc == MREG_ENOTFOUND && f.lfs) {
		/*
		 * The large file is not here (not fetched yet). Its path is what an
		 * inference server reads (production.json): it never holds the
		 * pointer, so a pointer git left there goes, and the path stays
		 * empty until the bytes come (the next sync, or git lfs fetch and
		 * a refresh); git status says it is missing meanwhile, and the
		 * next repair looks again (lfs_lag: a large file's copy not there).
		 */
		mreg_error_clear();
		const char *name;
		int dir;
		if (mreg_fs_parent_beneath(&dir, &name, reg->workdir, path, 0) == 0) {
			int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			if (fd >= 0 && same_bytes(fd, data, len))
				unlinkat(dir, name, 0);
			if (fd >= 0)
				close(fd);
			close(dir);
		}
		mreg_error_clear();
		/* the index keeps HEAD's pointer, so the file reads as missing, never as deleted on purpose */
		memset(entry, 0, sizeof(*entry));
		entry->path = path;
		entry->st.st_mode = S_IFREG | 0644;
		mreg_git_hash(&entry->id, GIT_OBJECT_BLOB, data, len);
		rc = 0;
		goto done;
	}
	if (rc == 0 && mode == GIT_FILEMODE_BLOB_EXECUTABLE) {
		char *full = mreg_strfmt("%s%s", reg->workdir, path);
		if (full && chmod(full, 0755) == 0)
			lstat(full, &entry->st);
		free(full);
	}
done:
	git_blob_free(blob);
	git_tree_entry_free(e);
	return rc;
}

/* Temporary files can only be where the lagging files are: sweep those directories (lag sorted), not the tree. */
static void sweep_lag(mreg_registry *reg, const path_list *lag)
{
	for (size_t i = 0; i < lag->n; i++) {
		const char *slash = strrchr(lag->paths[i], '/');
		size_t n = slash ? (size_t)(slash - lag->paths[i]) : 0;
		if (i && n && !strncmp(lag->paths[i - 1], lag->paths[i], n) && lag->paths[i - 1][n] == '/' &&
		    !strchr(lag->paths[i - 1] + n + 1, '/'))
			continue;	/* the same directory as the path before */
		char *dir = mreg_strfmt("%s%.*s", reg->workdir, (int)n, lag->paths[i]);
		if (dir)
			mreg_fs_sweep_tmp(dir, false);
		free(dir);
	}
	mreg_fs_sweep_tmp(reg->mregdir, false);
}

/*
 * A lean registry (reg->lean) has no index and no events in its work tree:
 * its files are the model files under artifacts/ and blobs/. Those that
 * changed since the state's tree are made what HEAD has; with
 * MREG_MIRROR_FILES (refresh, after a power cut), or with no state, every
 * one is read and compared. The caller moves the stamp.
 */
typedef struct {
	mreg_registry *reg;
	path_list *lag;
	const char *prefix;
	int rc;
} lean_scan;

static int lean_walk_cb(const char *root, const git_tree_entry *e, void *payload)
{
	lean_scan *s = payload;
	git_filemode_t mode = git_tree_entry_filemode(e);
	git_blob *b = NULL;
	mreg_lfs_pointer ptr;
	char path[512];
	if (mode != GIT_FILEMODE_BLOB && mode != GIT_FILEMODE_BLOB_EXECUTABLE)
		return 0;
	snprintf(path, sizeof(path), "%s%s%s", s->prefix, root, git_tree_entry_name(e));
	if (git_blob_lookup(&b, s->reg->repo, git_tree_entry_id(e)) < 0) {
		git_error_clear();
		return path_add(s->lag, path) < 0 ? (s->rc = mreg_error_set(MREG_ERROR, "out of memory"), -1) : 0;
	}
	const void *data = git_blob_rawcontent(b);
	size_t len = (size_t)git_blob_rawsize(b);
	bool lags = false;
	if (!mreg_lfs_pointer_at(&ptr, path, data, len)) {	/* a large file's copy: lfs_lag's */
		const char *name;
		int dir = -1, fd = -1;
		lags = true;
		if (mreg_fs_parent_beneath(&dir, &name, s->reg->workdir, path, 0) == 0 &&
		    (fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) >= 0)
			lags = !same_bytes(fd, data, len);
		mreg_error_clear();
		if (fd >= 0)
			close(fd);
		if (dir >= 0)
			close(dir);
	}
	git_blob_free(b);
	if (lags && path_add(s->lag, path) < 0) {
		s->rc = mreg_error_set(MREG_ERROR, "out of memory");
		return -1;
	}
	return 0;
}

static int lean_change_cb(const mreg_tree_change *ch, void *payload)
{
	return path_add(payload, ch->path) < 0 ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
}

static int lean_repair(mreg_registry *reg, git_tree *t, unsigned how)
{
	static char *dirs[] = { "artifacts", "blobs" };
	path_list lag = { NULL, 0, 0 };
	lean_scan s = { reg, &lag, "", 0 };
	git_tree *old = NULL;
	char since_hex[41];
	git_oid since;
	int rc = 0;
	mreg_cache_stamp(since_hex, reg);
	bool have_since = !how && since_hex[0] && git_oid_fromstr(&since, since_hex) == 0 &&
			  git_tree_lookup(&old, reg->repo, &since) == 0;
	git_error_clear();
	for (size_t i = 0; have_since && rc == 0 && i < 2; i++)
		rc = mreg_tree_changes(reg, &since, git_tree_id(t), dirs[i], lean_change_cb, &lag);
	for (size_t i = 0; !have_since && rc == 0 && i < 2; i++) {
		git_tree_entry *e = NULL;
		git_tree *sub = NULL;
		char root[16];
		if (git_tree_entry_bypath(&e, t, dirs[i]) == 0 && git_tree_entry_type(e) == GIT_OBJECT_TREE &&
		    git_tree_lookup(&sub, reg->repo, git_tree_entry_id(e)) == 0) {
			snprintf(root, sizeof(root), "%s/", dirs[i]);
			s.prefix = root;
			git_tree_walk(sub, GIT_TREEWALK_PRE, lean_walk_cb, &s);
			rc = s.rc;
		}
		git_error_clear();
		git_tree_entry_free(e);
		git_tree_free(sub);
	}
	if (rc == 0)
		rc = lfs_lag(&lag, reg, t, have_since ? &since : NULL, how & MREG_MIRROR_LARGE);
	path_list_unique(&lag);
	for (size_t i = 0; rc == 0 && i < lag.n; i++) {
		mreg_index_entry unused;
		rc = repair_path(&unused, reg, t, lag.paths[i]);
		rc = rc > 0 ? 0 : rc;
	}
	if (rc == 0)
		sweep_lag(reg, &lag);
	path_list_dispose(&lag);
	git_tree_free(old);
	return rc;
}

int mreg_mirror_repair(mreg_registry *reg, const git_oid *tree, unsigned how)
{
	git_diff_options d;
	git_object *headc = NULL;
	git_tree *t = NULL;
	git_diff *diff = NULL;
	char *paths[] = { "events", "artifacts", "blobs", "mreg.json", ".gitignore", ".mreg" };
	git_strarray spec = { paths, 6 };
	path_list lag = { NULL, 0, 0 }, gone = { NULL, 0, 0 };
	mreg_index_entry *adds = NULL;
	size_t nadds = 0;
	char since_hex[41];
	git_oid since;
	int rc = 0;
	if ((rc = mreg_registry_need_git(reg)) < 0)
		return rc;

	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 0);
	if (reg->lean) {
		if (git_tree_lookup(&t, reg->repo, tree) < 0)
			return mreg_libgit2_error("cannot read the tree of", reg->path);
		rc = lean_repair(reg, t, how);
		git_tree_free(t);
		return rc;
	}
	mreg_lock_wait_git(reg, "index");
	if ((rc = mreg_mirror_index_check(reg, tree)) < 0)
		return rc;
	git_diff_options_init(&d, GIT_DIFF_OPTIONS_VERSION);
	d.pathspec = spec;
	if (git_tree_lookup(&t, reg->repo, tree) < 0 || git_diff_tree_to_index(&diff, reg->repo, t, NULL, &d) < 0 ||
	    collect_paths(diff, &lag) < 0) {
		rc = mreg_libgit2_error("cannot compare the index with HEAD in", reg->path);
		goto done;
	}
	git_diff_free(diff);
	diff = NULL;
	bool thorough = how & MREG_MIRROR_FILES;
	if (thorough && (git_diff_index_to_workdir(&diff, reg->repo, NULL, &d) < 0 ||
			 collect_paths(diff, &lag) < 0)) {
		rc = mreg_libgit2_error("cannot compare the work tree with the index in", reg->path);
		goto done;
	}
	mreg_cache_mirror_stamp(since_hex, reg);
	bool have_since = !how && since_hex[0] && git_oid_fromstr(&since, since_hex) == 0;
	if ((rc = lfs_lag(&lag, reg, t, have_since ? &since : NULL, how & MREG_MIRROR_LARGE)) < 0)
		goto done;
	path_list_unique(&lag);
	if (lag.n && !(adds = calloc(lag.n, sizeof(*adds)))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < lag.n; i++) {
		int r = repair_path(&adds[nadds], reg, t, lag.paths[i]);
		if (r < 0) {
			rc = r;
			goto done;
		}
		if (r == 0)
			nadds++;
		else if (r == 1 && path_add(&gone, lag.paths[i]) < 0) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
			goto done;
		}
	}
	/* entries of the files written, and of files HEAD no longer has dropped, in one index write */
	if ((nadds || gone.n) && (rc = mreg_mirror_index_change(reg, adds, nadds, gone.paths, gone.n, tree)) < 0)
		goto done;
	sweep_lag(reg, &lag);
	rc = mreg_cache_set_mirror(reg, tree);
done:
	free(adds);
	path_list_dispose(&lag);
	path_list_dispose(&gone);
	git_diff_free(diff);
	git_tree_free(t);
	git_object_free(headc);
	return rc;
}

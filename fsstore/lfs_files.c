/*
 * Large files in a commit: the pointer committed in a large file's place,
 * the .gitattributes line beside it that marks it for Git LFS (written
 * and read here, in the one form mreg writes: "/<name> filter=lfs diff=lfs
 * merge=lfs -text"), and the move of large files committed before
 * .git/lfs (blobs/ab/cd/<xxh128><ext>, the bytes themselves) into the
 * store, in one commit.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- .gitattributes ------------------------------------------------------ */

/*
 * The .gitattributes beside a large file's pointer: HEAD's (if any) with a
 * line marking the pointer for Git LFS, so that `git lfs` and git's filters
 * treat it as one. One such file per fan-out directory keeps them small.
 */
static int lfs_attributes_at_head(mreg_buf *out, mreg_registry *reg, const char *attrpath)
{
	git_oid c, t, id;
	git_object_t type;
	unsigned mode;
	int rc;
	mreg_buf_clear(out);
	if ((rc = mreg_head_read(&c, &t, reg)) < 0)
		return rc;
	rc = mreg_tree_path(&id, &mode, reg, &t, attrpath);
	if (rc == 0 && mode != 040000 && (rc = mreg_tree_read_object(out, &type, reg, &id)) == 0 && type != GIT_OBJECT_BLOB)
		mreg_buf_clear(out);
	return rc < 0 ? rc : 0;
}

static bool has_line(const mreg_buf *b, const char *line, size_t n)
{
	for (const char *p = b->ptr, *end = b->ptr + b->size; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		if (len == n && !memcmp(p, line, n))
			return true;
		p += len;
	}
	return false;
}

/*
 * The line marking name for Git LFS, added to out unless it is there. The
 * file's first line merges the file itself by union: two nodes that add
 * large files to one fan-out directory have their lines kept side by side
 * by a plain `git merge`, never a conflict.
 */
static int lfs_attributes_add(mreg_buf *out, const char *name)
{
	static const char union_line[] = MREG_LFS_UNION_LINE "\n";
	char *line = mreg_strfmt("/%s" MREG_LFS_LINE_TAIL "\n", name);
	if (!line)
		return mreg_error_set(MREG_ERROR, "out of memory");
	size_t n = strlen(line);
	if (!has_line(out, union_line, sizeof(union_line) - 1)) {
		mreg_buf rest = *out;	/* what was there goes after the union line */
		mreg_buf_init(out, 0);
		mreg_buf_put(out, union_line, sizeof(union_line) - 1);
		mreg_buf_put(out, rest.ptr, rest.size);
		mreg_buf_dispose(&rest);
	}
	if (!has_line(out, line, n)) {
		if (out->size && out->ptr[out->size - 1] != '\n')
			mreg_buf_putc(out, '\n');
		mreg_buf_put(out, line, n);
	}
	free(line);
	return mreg_buf_oom(out) ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
}

int mreg_lfs_attributes(mreg_buf *out, mreg_registry *reg, const char *attrpath, const char *name)
{
	int rc = lfs_attributes_at_head(out, reg, attrpath);
	return rc < 0 ? rc : lfs_attributes_add(out, name);
}

bool mreg_lfs_attributes_next(const char **name, size_t *len, const char **p, const char *end)
{
	while (*p < end) {
		const char *line = *p, *nl = memchr(line, '\n', (size_t)(end - line));
		const char *eol = nl ? nl : end;
		const char *sp = memchr(line, ' ', (size_t)(eol - line));
		*p = nl ? nl + 1 : end;
		if (*line == '/' && sp && sp - line > 1 && sp - line < 200 && memmem(sp, (size_t)(eol - sp), "filter=lfs", 10)) {
			*name = line + 1;
			*len = (size_t)(sp - line - 1);
			return true;
		}
	}
	return false;
}

/* ---- the files a commit adds for large files --------------------------- */

/* ---- the files a commit adds for large files --------------------------- */

typedef struct {
	const char *path;
	const mreg_lfs_pointer *ptr;
} lfs_item;

static int cmp_item(const void *a, const void *b)
{
	return strcmp(((const lfs_item *)a)->path, ((const lfs_item *)b)->path);
}

int mreg_lfs_files_make(mreg_lfs_files *out, mreg_registry *reg, char *const *paths, const mreg_lfs_pointer *ptrs,
			size_t n)
{
	lfs_item *it = calloc(n ? n : 1, sizeof(*it));
	int rc = 0;
	memset(out, 0, sizeof(*out));
	out->files = calloc(2 * n + 1, sizeof(*out->files));
	out->bufs = calloc(2 * n + 1, sizeof(*out->bufs));
	out->attrpaths = calloc(n + 1, sizeof(*out->attrpaths));
	if (!it || !out->files || !out->bufs || !out->attrpaths) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	out->nbufs = 2 * n;
	for (size_t i = 0; i < n; i++)
		it[i] = (lfs_item){ paths[i], &ptrs[i] };
	qsort(it, n, sizeof(*it), cmp_item);	/* a directory's files side by side */
	for (size_t i = 0; i < n; i++) {
		if (i && !strcmp(it[i].path, it[i - 1].path))
			continue;
		mreg_buf *b = &out->bufs[out->n];
		if ((rc = mreg_lfs_pointer_format(b, it[i].ptr)) < 0)
			goto done;
		out->files[out->n++] = (mreg_addfile){ it[i].path, b->ptr, b->size, it[i].ptr };
	}
	for (size_t i = 0; i < n; i++) {
		const char *slash = strrchr(it[i].path, '/');
		size_t dl = slash ? (size_t)(slash - it[i].path) : 0;
		char **last = out->nattr ? &out->attrpaths[out->nattr - 1] : NULL;
		if (last && !strncmp(*last, it[i].path, dl) && (*last)[dl] == '/' && !strcmp(*last + dl, "/.gitattributes"))
			continue;	/* this directory's file is made already */
		if (!(out->attrpaths[out->nattr] = mreg_strfmt("%.*s/.gitattributes", (int)dl, it[i].path))) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
			goto done;
		}
		mreg_buf *b = &out->bufs[out->n];
		if ((rc = lfs_attributes_at_head(b, reg, out->attrpaths[out->nattr])) < 0)
			goto done;
		for (size_t k = i; k < n && !strncmp(it[k].path, it[i].path, dl + 1) && !strchr(it[k].path + dl + 1, '/'); k++)
			if ((rc = lfs_attributes_add(b, it[k].path + dl + 1)) < 0)
				goto done;
		out->files[out->n++] = (mreg_addfile){ out->attrpaths[out->nattr], b->ptr, b->size, NULL };
		out->nattr++;
	}
done:
	free(it);
	return rc;
}

void mreg_lfs_files_dispose(mreg_lfs_files *f)
{
	for (size_t i = 0; f->bufs && i < f->nbufs; i++)
		mreg_buf_dispose(&f->bufs[i]);
	free(f->bufs);
	free(f->files);
	for (size_t i = 0; i < f->nattr; i++)
		free(f->attrpaths[i]);
	free(f->attrpaths);
	memset(f, 0, sizeof(*f));
}

/* ---- large files from before .git/lfs --------------------------------- */

/* ---- large files from before .git/lfs --------------------------------- */

typedef struct {
	char **paths;		/* "blobs/ab/cd/<hex><ext>" */
	mreg_lfs_pointer *ptrs;
	size_t n;
} lfs_moved;

/* Copy one legacy large file into the store, checked against its name; 1 when it is not what its name says. */
static int move_one(mreg_lfs_pointer *ptr, mreg_registry *reg, int dir, const char *name, int tmpdir)
{
	char tmpname[64], x[33];
	mreg_hasher h;
	int in = -1, out = -1, rc;
	snprintf(tmpname, sizeof(tmpname), "legacy.mreg-tmp%d", (int)getpid());
	unlinkat(tmpdir, tmpname, 0);
	if ((in = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0)
		return 1;
	if ((rc = mreg_hasher_init(&h, true)) < 0) {
		close(in);
		return rc;
	}
	out = openat(tmpdir, tmpname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (out < 0) {
		rc = mreg_error_set(MREG_ERROR, "cannot copy '%s' into .git/lfs: %s", name, strerror(errno));
		goto done;
	}
	char *buf = malloc(1 << 20);
	if (!buf) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	for (;;) {
		ssize_t r = read(in, buf, 1 << 20);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? 1 : 0;	/* unreadable: left to fsck */
			break;
		}
		mreg_hasher_update(&h, buf, (size_t)r, true);
		mreg_span chunk = { buf, 0, (size_t)r };
		if (mreg_fs_write_spans(out, NULL, &chunk, 1) < 0) {
			rc = mreg_error_set(MREG_ERROR, "cannot copy '%s' into .git/lfs: %s", name, strerror(errno));
			break;
		}
	}
	free(buf);
	if (rc != 0)
		goto done;
	mreg_hasher_final(&h, x, ptr->oid);
	ptr->size = h.size;
	if (strncmp(x, name, 32)) {
		rc = 1;	/* not the bytes its name says: fsck reports it */
		goto done;
	}
	if (reg->fsync && fsync(out) < 0) {
		rc = mreg_error_set(MREG_ERROR, "cannot copy '%s' into .git/lfs: %s", name, strerror(errno));
		goto done;
	}
	close(out);
	out = -1;
	rc = mreg_lfs_put(reg, tmpdir, tmpname, ptr);
done:
	mreg_hasher_dispose(&h);
	if (out >= 0)
		close(out);
	close(in);
	unlinkat(tmpdir, tmpname, 0);
	return rc;
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Registries made before large files went to .git/lfs kept them in the
 * git-ignored blobs/ directory, where a `git pull` bringing any tracked
 * path `blobs` deletes them. The first write or `mreg refresh` moves them
 * over: each large file some registration names (at blobs/ab/cd/..., its
 * file_path) is copied into .git/lfs/objects, checked against its name, and
 * one commit adds a Git LFS pointer at that path (and its .gitattributes
 * line). The file in blobs/ stays as the work tree copy. 0 when there was
 * nothing to move (one lstat when there is no blobs/).
 */
/* What a registration killed by an older mreg left: blobs/.incoming-<pid> (no writer is alive but us). */
static void sweep_incoming(mreg_registry *reg)
{
	int bdir;
	if (mreg_fs_dir_beneath(&bdir, reg->workdir, "blobs", 0) == 0) {
		int dup = fcntl(bdir, F_DUPFD_CLOEXEC, 0);
		DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
		struct dirent *de;
		if (!d && dup >= 0)
			close(dup);
		while (d && (de = readdir(d)))
			if (!strncmp(de->d_name, ".incoming-", 10))
				unlinkat(bdir, de->d_name, 0);
		if (d)
			closedir(d);
		close(bdir);
	}
	mreg_error_clear();
}

/* The model files registered under blobs/ that tree holds no more of: those to move (*want, sorted by the caller). */
static int legacy_paths(char ***want, size_t *nwant, mreg_registry *reg, const git_oid *tree, mreg_event **evs,
			size_t nevs)
{
	for (size_t i = 0; i < nevs; i++) {
		const mreg_event *ev = evs[i];
		git_oid id;
		unsigned mode;
		if (ev->type != MREG_EV_REGISTERED || strncmp(ev->file_path, "blobs/", 6) ||
		    mreg_tree_path(&id, &mode, reg, tree, ev->file_path) == 0)
			continue;	/* not a legacy large file, or moved over already */
		char **more = realloc(*want, (*nwant + 1) * sizeof(*more));
		if (!more)
			return mreg_error_set(MREG_ERROR, "out of memory");
		*want = more;
		if (!(more[*nwant] = mreg_strdup(ev->file_path)))
			return mreg_error_set(MREG_ERROR, "out of memory");
		(*nwant)++;
	}
	return 0;
}

int mreg_lfs_migrate(mreg_registry *reg)
{
	mreg_event **evs = NULL;
	size_t nevs = 0;
	char **want = NULL;
	size_t nwant = 0;
	lfs_moved mv = { NULL, NULL, 0 };
	mreg_lfs_files lf;
	int tmpdir = -1, rc = 0;
	struct stat sb;
	git_oid commit, tree;

	memset(&lf, 0, sizeof(lf));
	if (!reg->workdir)
		return 0;
	char *blobs = mreg_strfmt("%sblobs", reg->workdir);
	bool there = blobs && lstat(blobs, &sb) == 0 && S_ISDIR(sb.st_mode);
	free(blobs);
	if (!there)
		return 0;	/* none; or a link or file a peer committed there: never followed */
	sweep_incoming(reg);
	mreg_error_clear();
	if ((rc = mreg_head_read(&commit, &tree, reg)) < 0 || (rc = mreg_events_read(&evs, &nevs, NULL, reg, &tree)) < 0)
		goto done;
	if ((rc = legacy_paths(&want, &nwant, reg, &tree, evs, nevs)) < 0)
		goto done;
	if (nwant == 0)
		goto done;
	qsort(want, nwant, sizeof(*want), cmp_path);
	if ((rc = mreg_lfs_tmp_dir(&tmpdir, reg)) < 0)
		goto done;
	mv.paths = calloc(nwant, sizeof(*mv.paths));
	mv.ptrs = calloc(nwant, sizeof(*mv.ptrs));
	if (!mv.paths || !mv.ptrs) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < nwant; i++) {
		if (i && !strcmp(want[i], want[i - 1]))
			continue;	/* two versions of the same bytes */
		const char *name;
		int dir;
		if (mreg_fs_parent_beneath(&dir, &name, reg->workdir, want[i], 0) < 0) {
			mreg_error_clear();	/* not there (deleted, or behind a link): fsck reports it */
			continue;
		}
		rc = move_one(&mv.ptrs[mv.n], reg, dir, name, tmpdir);
		close(dir);
		if (rc < 0)
			goto done;
		if (rc == 0)
			mv.paths[mv.n++] = want[i];
		rc = 0;
	}
	if (mv.n == 0)
		goto done;
	if ((rc = mreg_lfs_files_make(&lf, reg, mv.paths, mv.ptrs, mv.n)) < 0)
		goto done;
	char now[MREG_TIME_LEN + 1], *summary = mreg_strfmt("lfs: move %zu large model file%s from blobs/ into .git/lfs", mv.n,
							    mv.n == 1 ? "" : "s");
	git_oid newtree;
	mreg_time_format(now, mreg_fs_now_usec());
	rc = summary ? mreg_txn_commit_batch(&newtree, reg, NULL, NULL, 0, lf.files, lf.n, summary, now)
		     : mreg_error_set(MREG_ERROR, "out of memory");
	free(summary);
	if (rc < 0)
		goto done;
	/* committed: the mirror follows, as after any write (a lag the next command repairs) */
	if (mreg_mirror_batch(reg, NULL, NULL, 0, lf.files, lf.n, &newtree) < 0)
		mreg_error_clear();
done:
	if (tmpdir >= 0)
		close(tmpdir);
	mreg_lfs_files_dispose(&lf);
	free(mv.paths);
	free(mv.ptrs);
	for (size_t i = 0; i < nwant; i++)
		free(want[i]);
	free(want);
	mreg_events_free(evs, nevs);
	return rc;
}

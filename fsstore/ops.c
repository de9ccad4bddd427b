/*
 * The write operations: register, promote, update metrics, tag.
 *
 * Each is one transaction (DESIGN section 4): lock; bring the state up to
 * HEAD; load the summary and the one model concerned; validate the request
 * against it (a refused request writes nothing); build the event; commit it;
 * mirror it into the work tree and index; fold it into the state files.
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
#include <xxhash.h>

/* HEAD names a branch, read by hand, else (detached, or anything odd) judged by libgit2. */
static int check_on_branch(mreg_registry *reg)
{
	int rc;
	if (reg->light && mreg_head_on_branch(reg))
		return 0;
	if ((rc = mreg_registry_need_git(reg)) < 0)
		return rc;
	if (git_repository_head_detached(reg->repo) == 1)
		return mreg_error_set(MREG_EINVALID, "cannot write to '%s': HEAD is detached (check out a branch)",
				      reg->path);
	return 0;
}

int mreg_txn_begin(mreg_txn *t, mreg_registry *reg, const char *model)
{
	int rc;
	t->reg = reg;
	t->st = NULL;
	if (!reg->workdir)
		return mreg_error_set(MREG_EINVALID, "cannot write to '%s': it is a bare repository", reg->path);
	if ((rc = mreg_lock(reg)) < 0)
		return rc;
	mreg_lfs_sweep(reg);	/* what a killed writer left: no writer is alive but us */
	/* under the lock, so that a checkout since the open is seen */
	if ((rc = check_on_branch(reg)) < 0 || (rc = mreg_lfs_migrate(reg)) < 0) {
		mreg_unlock(reg);
		return rc;
	}
	if ((rc = mreg_cache_ensure(reg)) < 0 || (rc = mreg_cache_load(&t->st, reg, model, false, true)) < 0) {
		if (rc == MREG_ECORRUPT) {
			/* state damaged behind its stamp: fold from the log and retry once */
			char *p = mreg_strfmt("%sstamp", reg->mregdir);
			if (p)
				unlink(p);
			free(p);
			if ((rc = mreg_cache_ensure(reg)) == 0)
				rc = mreg_cache_load(&t->st, reg, model, false, true);
		}
		if (rc < 0)
			mreg_unlock(reg);
	}
	return rc;
}

void mreg_txn_end(mreg_txn *t)
{
	mreg_state_free(t->st);
	t->st = NULL;
	mreg_release_maps(t->reg);
	mreg_unlock(t->reg);
}

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
	if ((rc = mreg_fs_open_at(&fd, dir, name, O_WRONLY | O_CREAT | O_TRUNC, MREG_FS_REPAIR)) < 0) {
		rc = mreg_error_set(MREG_ERROR, "cannot write '%s': %s", f->path, mreg_error_last());
		goto done;
	}
	mreg_span all = { f->data, 0, f->len };
	if (mreg_fs_write_spans(fd, NULL, &all, 1) < 0 || fstat(fd, &e->st) < 0)
		rc = mreg_error_set(MREG_ERROR, "cannot write '%s': %s", f->path, strerror(errno));
done:
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = mreg_error_set(MREG_ERROR, "cannot write '%s': %s", f->path, strerror(errno));
	close(dir);
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
			return mreg_git_error("cannot update the index of", c->reg->path);
	}
	return 0;
}

int mreg_mirror_index_change(mreg_registry *reg, mreg_index_entry *adds, size_t n, char **removes, size_t nremoves,
			     const git_oid *tree)
{
	int rc;
	if ((rc = mreg_clear_stale_lock(reg, "index")) < 0)
		return rc;
	if ((rc = mreg_index_update(reg, adds, n, removes, nremoves)) != 1)
		return rc;
	/* an index this code does not stream (another version, an extension git requires): libgit2's */
	if ((rc = mreg_index_check(reg, tree)) < 0)	/* one left alone because it is cut short: made again */
		return rc;
	index_change c = { reg, adds, n, removes, nremoves };
	return mreg_index_libgit2(reg, true, apply_index_change, &c);
}

int mreg_mirror_index(mreg_registry *reg, mreg_index_entry *adds, size_t n, const git_oid *tree)
{
	return mreg_mirror_index_change(reg, adds, n, NULL, 0, tree);
}

/* Work tree and index follow the new commit (step 5). */
static int mirror(mreg_registry *reg, const char *evpath, const mreg_buf *bytes, const mreg_addfile *extra,
		  size_t nextra, const git_oid *tree)
{
	mreg_index_entry adds[4];
	int rc;
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 0);	/* a mirror: repaired from HEAD if lost */
	if (nextra > 3)
		return mreg_error_set(MREG_ERROR, "too many files in one event");
	mreg_addfile ev = { evpath, bytes->ptr, bytes->size, NULL };
	rc = mreg_mirror_file(&adds[0], reg, &ev);
	for (size_t i = 0; rc == 0 && i < nextra; i++)
		rc = mreg_mirror_file(&adds[i + 1], reg, &extra[i]);
	if (rc < 0)
		return rc;
	if ((rc = mreg_mirror_index(reg, adds, nextra + 1, tree)) == 0)
		rc = mreg_cache_set_mirror(reg, tree);
	return rc;
}

/* The envelope: a Lamport clock one past everything folded, now, who, where. */
int mreg_txn_envelope(mreg_txn *t, mreg_event *ev)
{
	if (ev->clock)
		return 0;
	ev->clock = t->st->clock + 1;
	mreg_time_format(ev->time, mreg_fs_now_usec());
	if (!(ev->actor = mreg_strdup(t->reg->actor)) || !(ev->node = mreg_strdup(t->reg->node)))
		return mreg_error_set(MREG_ERROR, "out of memory");
	return 0;
}

/* Fill the envelope, write, mirror, fold. ev->id is set on return. */
int mreg_txn_commit(mreg_txn *t, mreg_event *ev, const mreg_addfile *extra, size_t nextra, const char *summary)
{
	mreg_registry *reg = t->reg;
	mreg_buf bytes = MREG_BUF_INIT;
	git_oid tree;
	char evpath[MREG_EVENT_PATH_MAX];
	int rc;

	if ((rc = mreg_txn_envelope(t, ev)) < 0)
		return rc;
	if ((rc = mreg_event_serialize(&bytes, ev)) < 0)
		goto done;
	if ((rc = mreg_commit_event(&tree, reg, ev, &bytes, extra, nextra, summary)) < 0)
		goto done;
	/* committed: from here on the event is durable, and failures only leave a lag to repair */
	mreg_event_path(evpath, ev->id);
	if ((rc = mirror(reg, evpath, &bytes, extra, nextra, &tree)) < 0)
		goto lag;
	/* the event is one more file; what it replaced on its path (a peer's link or file) is no longer there */
	t->st->nfiles++;
	for (size_t k = 6; k <= 12; k += 3) {
		char dir[16];
		snprintf(dir, sizeof(dir), "%.*s", (int)k, evpath);
		mreg_state_unquarantine(t->st, dir);
	}
	if ((rc = mreg_fold_apply(t->st, ev)) < 0 || (rc = mreg_cache_save(reg, t->st, &tree)) < 0)
		goto lag;
	rc = 0;
	goto done;
lag:
	/* the commit stands; say so, and leave the repair to the next command */
	rc = 0;
done:
	mreg_buf_dispose(&bytes);
	return rc;
}

/* artifact_max_bytes of mreg.json: the largest model file committed to git (default 1 MiB). */
int mreg_artifact_limit(mreg_registry *reg, int64_t *out)
{
	mreg_policy p;
	int rc = mreg_registry_policy(&p, reg);	/* an invalid mreg.json is refused, naming the key */
	*out = p.artifact_max_bytes;
	return rc;
}

static void file_ext(char out[17], const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	const char *dot = strrchr(base, '.');
	out[0] = '\0';
	if (!dot || dot == base || strlen(dot) > 16 || strlen(dot) < 2)
		return;
	for (size_t i = 1; dot[i]; i++) {
		char c = dot[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
			out[0] = '\0';
			return;
		}
		out[i] = c;
	}
	out[0] = '.';
	out[strlen(dot)] = '\0';
}

/*
 * A model file as registered: the bytes read and hashed once. Whether it
 * is large is decided by the bytes actually read, never by a size looked at
 * before (a file that changes while it is read is stored exactly as read):
 * they are kept in memory while they fit under the limit, and once they do
 * not, what was read so far and the rest go to a temporary file in
 * .git/lfs/tmp, hashed with SHA-256 too, for the large-file store.
 */
typedef struct {
	mreg_buf data;		/* the bytes, while within the limit */
	char hex[33];		/* xxh128 */
	int64_t size;
	bool large;
	mreg_lfs_pointer lfs;	/* large: SHA-256 and size */
	int tmpdir;		/* large: .git/lfs/tmp */
	char tmpname[64];	/* large: the copy being made there */
} model_file;

#define MODEL_FILE_INIT { MREG_BUF_INIT, "", 0, false, { "", 0 }, -1, "" }

/* The rest of a large file: what was buffered, then what is still to read, to a temporary file. */
static int spill(model_file *f, mreg_registry *reg, mreg_hasher *h)
{
	int fd = -1, rc;
	if ((rc = mreg_hasher_start_sha256(h, f->data.ptr, f->data.size)) < 0 || (rc = mreg_lfs_tmp_dir(&f->tmpdir, reg)) < 0)
		return rc;
	snprintf(f->tmpname, sizeof(f->tmpname), "incoming.mreg-tmp%d", (int)getpid());
	unlinkat(f->tmpdir, f->tmpname, 0);
	fd = openat(f->tmpdir, f->tmpname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = mreg_error_set(MREG_ERROR, "cannot store model file in '%s': %s", reg->path, strerror(errno));
		f->tmpname[0] = '\0';
		return rc;
	}
	mreg_span all = { f->data.ptr, 0, f->data.size };
	if (mreg_fs_write_spans(fd, NULL, &all, 1) < 0) {
		rc = mreg_error_set(MREG_ERROR, "cannot store model file in '%s': %s", reg->path, strerror(errno));
		close(fd);
		return rc;
	}
	mreg_buf_dispose(&f->data);
	f->large = true;
	return fd;
}

/* Read the model file, hashing as it goes; large files are copied to .git/lfs/tmp on the way. */
static int read_model_file(model_file *f, mreg_registry *reg, const char *path, int64_t limit)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	int out = -1, rc = 0;
	struct stat sb;
	mreg_hasher h;
	bool hashing = false;
	size_t cap = 1 << 20;
	char *buf = NULL;

	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return mreg_error_set(MREG_ENOTFOUND, "model file not found: '%s'", path);
		if (errno == ELOOP)
			return mreg_error_set(MREG_EINVALID, "cannot register '%s': it is a symbolic link", path);
		return mreg_error_set(MREG_EINVALID, "cannot read model file '%s': %s", path, strerror(errno));
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return mreg_error_set(MREG_EINVALID, "cannot register '%s': %s", path,
				      S_ISDIR(sb.st_mode) ? "it is a directory" : "not a regular file");
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	if ((rc = mreg_hasher_init(&h, false)) < 0)
		goto done;
	hashing = true;
	if (!(buf = malloc(cap))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	for (;;) {
		ssize_t r = read(fd, buf, cap);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = mreg_error_set(MREG_EINVALID, "cannot read model file '%s': %s", path, strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		if (!f->large && h.size + r > limit && (out = spill(f, reg, &h)) < 0) {
			rc = out;
			goto done;
		}
		mreg_hasher_update(&h, buf, (size_t)r, f->large);
		mreg_span chunk = { buf, 0, (size_t)r };
		if (f->large ? mreg_fs_write_spans(out, NULL, &chunk, 1) < 0 : mreg_buf_put(&f->data, buf, (size_t)r) < 0) {
			rc = f->large ? mreg_error_set(MREG_ERROR, "cannot store model file '%s' in '%s': %s", path, reg->path,
						       strerror(errno))
				      : mreg_error_set(MREG_ERROR, "out of memory reading '%s'", path);
			goto done;
		}
	}
	if (out >= 0 && reg->fsync && fsync(out) < 0) {
		rc = mreg_error_set(MREG_ERROR, "cannot store model file '%s' in '%s': %s", path, reg->path, strerror(errno));
		goto done;
	}
	f->size = h.size;
	mreg_hasher_final(&h, f->hex, f->large ? f->lfs.oid : NULL);
	f->lfs.size = f->size;
done:
	if (out >= 0 && close(out) < 0 && rc == 0)
		rc = mreg_error_set(MREG_ERROR, "cannot store model file '%s' in '%s': %s", path, reg->path, strerror(errno));
	if (hashing)
		mreg_hasher_dispose(&h);
	free(buf);
	close(fd);
	return rc;
}

static void model_file_dispose(model_file *f)
{
	if (f->tmpdir >= 0) {
		if (f->tmpname[0])
			unlinkat(f->tmpdir, f->tmpname, 0);
		close(f->tmpdir);
	}
	mreg_buf_dispose(&f->data);
}

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
	if ((rc = mreg_head(&c, &t, reg)) < 0)
		return rc;
	rc = mreg_tree_path(&id, &mode, reg, &t, attrpath);
	if (rc == 0 && mode != 040000 && (rc = mreg_object_read(out, &type, reg, &id)) == 0 && type != GIT_OBJECT_BLOB)
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
	static const char union_line[] = "/.gitattributes merge=union\n";
	char *line = mreg_strfmt("/%s filter=lfs diff=lfs merge=lfs -text\n", name);
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

static int lfs_attributes(mreg_buf *out, mreg_registry *reg, const char *attrpath, const char *name)
{
	int rc = lfs_attributes_at_head(out, reg, attrpath);
	return rc < 0 ? rc : lfs_attributes_add(out, name);
}

static int sort_tags(char ***out, size_t *nout, const char *const *tags, size_t n)
{
	char **t = n ? calloc(n, sizeof(char *)) : NULL;
	size_t k = 0;
	int rc;
	*out = NULL;
	*nout = 0;
	if (n && !t)
		return mreg_error_set(MREG_ERROR, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if ((rc = mreg_tag_check(tags[i])) < 0)
			goto fail;
		size_t j = 0;
		while (j < k && strcmp(t[j], tags[i]) < 0)
			j++;
		if (j < k && !strcmp(t[j], tags[i]))
			continue;
		memmove(t + j + 1, t + j, (k - j) * sizeof(*t));
		if (!(t[j] = mreg_strdup(tags[i]))) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
			goto fail;
		}
		k++;
	}
	*out = t;
	*nout = k;
	return 0;
fail:
	for (size_t i = 0; i < k; i++)
		free(t[i]);
	free(t);
	return rc;
}

int mreg_register(char model_out[MREG_ID_MAX + 1], int *version_out, mreg_registry *reg,
		  const mreg_register_opts *opts)
{
	char id[MREG_ID_MAX + 1];
	char ext[17];
	model_file f = MODEL_FILE_INIT;
	mreg_buf pointer = MREG_BUF_INIT, attrs = MREG_BUF_INIT;
	char *attrpath = NULL;
	mreg_event ev;
	mreg_txn t = { reg, NULL };
	char *summary = NULL, *relpath = NULL;
	int rc;

	mreg_event_init(&ev);
	if (!opts->name || !*opts->name)
		return mreg_error_set(MREG_EUSAGE, "register needs a NAME");
	if (opts->id) {
		if (strlen(opts->id) > MREG_ID_MAX)
			return mreg_error_set(MREG_EINVALID, "invalid model id '%.*s...': longer than %d bytes", 40,
					      opts->id, MREG_ID_MAX);
		if ((rc = mreg_id_check(opts->id)) < 0)
			return rc;
		strcpy(id, opts->id);
	} else if ((rc = mreg_id_derive(id, sizeof(id), opts->name)) < 0) {
		return rc;
	}
	ev.type = MREG_EV_REGISTERED;
	ev.model_type = opts->type == MREG_TYPE_NONE ? MREG_TYPE_POLICY_VALUE : opts->type;
	ev.stage = opts->stage == MREG_STAGE_NONE ? MREG_STAGE_DEVELOPMENT : opts->stage;
	ev.metrics = opts->metrics;
	if (!(ev.model = mreg_strdup(id)) || !(ev.name = mreg_strdup(opts->name)) ||
	    !(ev.description = mreg_strdup(opts->description ? opts->description : ""))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	if ((rc = mreg_config_normalize(&ev.training_config, opts->training_config, false, id)) < 0 ||
	    (rc = sort_tags(&ev.tags, &ev.ntags, opts->tags, opts->ntags)) < 0)
		goto done;
	for (int i = 0; i < MREG_METRIC_COUNT; i++)
		if ((ev.metrics.present & (1u << i)) &&
		    (rc = mreg_metric_check((mreg_metric)i, ev.metrics.v[i], id)) < 0)
			goto done;
	if ((rc = mreg_txn_begin(&t, reg, id)) < 0)
		goto done;
	int64_t limit;
	if ((rc = mreg_artifact_limit(reg, &limit)) < 0 || (rc = read_model_file(&f, reg, opts->file, limit)) < 0)
		goto done;
	mreg_model *m = mreg_state_model(t.st, id);
	if (m && m->nversions && m->type != ev.model_type) {
		rc = mreg_error_set(MREG_EINVALID, "cannot register '%s' as %s: the model is %s", id,
				    mreg_type_name(ev.model_type), mreg_type_name(m->type));
		goto done;
	}
	ev.version = (m ? m->latest : 0) + 1;
	file_ext(ext, opts->file);
	relpath = mreg_strfmt("artifacts/%.2s/%.2s/%s%s", f.hex, f.hex + 2, f.hex, ext);
	attrpath = mreg_strfmt("artifacts/%.2s/%.2s/.gitattributes", f.hex, f.hex + 2);
	ev.file_path = relpath ? mreg_strdup(relpath) : NULL;
	summary = mreg_strfmt("register %s:%d (%s, %s)", id, ev.version, mreg_type_name(ev.model_type),
			      mreg_stage_name(ev.stage));
	if (!relpath || !attrpath || !ev.file_path || !summary) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	memcpy(ev.file_hash, "xxh128:", 7);
	memcpy(ev.file_hash + 7, f.hex, 33);
	ev.file_size = f.size;
	if ((rc = mreg_txn_envelope(&t, &ev)) < 0 || (rc = mreg_event_validate(&ev)) < 0)
		goto done;
	mreg_addfile add[2] = { { relpath, f.data.ptr, f.data.size, NULL }, { attrpath, NULL, 0, NULL } };
	if (f.large) {
		/* the bytes in the store (durably) before the commit names them; a pointer and its attributes in the tree */
		if ((rc = mreg_lfs_put(reg, f.tmpdir, f.tmpname, &f.lfs)) < 0 ||
		    (rc = mreg_lfs_pointer_format(&pointer, &f.lfs)) < 0 ||
		    (rc = lfs_attributes(&attrs, reg, attrpath, relpath + 16)) < 0)
			goto done;
		add[0] = (mreg_addfile){ relpath, pointer.ptr, pointer.size, &f.lfs };
		add[1] = (mreg_addfile){ attrpath, attrs.ptr, attrs.size, NULL };
	}
	if ((rc = mreg_txn_commit(&t, &ev, add, f.large ? 2 : 1, summary)) < 0)
		goto done;
	if (model_out)
		strcpy(model_out, id);
	if (version_out) {
		const mreg_model *mm = mreg_state_model(t.st, id);
		const mreg_version *v = mm ? mreg_model_version_by_ref(mm, ev.id, ev.version) : NULL;
		*version_out = v ? v->version : ev.version;
	}
done:
	if (t.st || reg->lockfd >= 0)
		mreg_txn_end(&t);
	model_file_dispose(&f);
	mreg_event_dispose(&ev);
	mreg_buf_dispose(&pointer);
	mreg_buf_dispose(&attrs);
	free(attrpath);
	free(summary);
	free(relpath);
	return rc;
}

/* Begin a transaction on an existing version named by ref. */
int mreg_txn_begin_on_version(mreg_txn *t, mreg_version **v, mreg_registry *reg, const mreg_ref *ref)
{
	mreg_model *m;
	int rc;
	if ((rc = mreg_txn_begin(t, reg, ref->model)) < 0)
		return rc;
	if ((rc = mreg_query_version(&m, v, t->st, ref)) < 0) {
		mreg_txn_end(t);
		return rc;
	}
	return 0;
}

int mreg_txn_version_envelope(mreg_event *ev, const mreg_ref *ref, const mreg_version *v, mreg_event_type type)
{
	ev->type = type;
	ev->version = v->version;
	memcpy(ev->ref, v->ref, sizeof(ev->ref));
	if (!(ev->model = mreg_strdup(ref->model)))
		return mreg_error_set(MREG_ERROR, "out of memory");
	/* the newer types keep their payload in a body: an empty one to fill */
	if (type >= MREG_EV_VALIDATION && !ev->body && !(ev->body = cJSON_CreateObject()))
		return mreg_error_set(MREG_ERROR, "out of memory");
	return 0;
}

int mreg_txn_promote(mreg_txn *t, const mreg_ref *ref, const mreg_version *v, mreg_stage to, const char *reason,
		     const char *by)
{
	mreg_event ev;
	char *summary = NULL;
	int rc;

	mreg_event_init(&ev);
	if ((rc = mreg_txn_version_envelope(&ev, ref, v, MREG_EV_PROMOTED)) < 0)
		goto done;
	ev.from = v->stage;
	ev.to = to;
	ev.reason = mreg_strdup(reason ? reason : "");
	summary = mreg_strfmt("promote %s:%d %s -> %s%s%s%s%s", ref->model, v->version, mreg_stage_name(v->stage),
			      mreg_stage_name(to), by || (reason && *reason) ? ": " : "", by ? by : "", by ? ": " : "",
			      reason ? reason : "");
	if (!ev.reason || !summary) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	/* one line in git log --oneline, whatever the reason holds */
	for (char *p = summary; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	rc = mreg_txn_commit(t, &ev, NULL, 0, summary);
done:
	mreg_event_dispose(&ev);
	free(summary);
	return rc;
}

int mreg_promote(mreg_registry *reg, const mreg_ref *ref, mreg_stage to, const char *reason)
{
	mreg_version *v;
	mreg_txn t;
	int rc;

	if ((rc = mreg_txn_begin_on_version(&t, &v, reg, ref)) < 0)
		return rc;
	if (!mreg_stage_allowed(v->stage, to))
		rc = mreg_error_set(MREG_ETRANSITION, "cannot promote '%s:%d': cannot transition from %s to %s",
				    ref->model, v->version, mreg_stage_name(v->stage), mreg_stage_name(to));
	else
		rc = mreg_txn_promote(&t, ref, v, to, reason, NULL);
	mreg_txn_end(&t);
	return rc;
}

int mreg_update_metrics(mreg_registry *reg, const mreg_ref *ref, const mreg_metrics *metrics, bool replace)
{
	mreg_version *v;
	mreg_event ev;
	mreg_buf s = MREG_BUF_INIT;
	mreg_txn t;
	int rc;

	mreg_event_init(&ev);
	if (!metrics->present && !replace)
		return mreg_error_set(MREG_EUSAGE, "update-metrics needs at least one KEY=VALUE");
	if ((rc = mreg_txn_begin_on_version(&t, &v, reg, ref)) < 0)
		return rc;
	if ((rc = mreg_txn_version_envelope(&ev, ref, v, MREG_EV_METRICS)) < 0)
		goto done;
	ev.metrics = *metrics;
	ev.replace = replace;
	mreg_buf_printf(&s, "metrics %s:%d", ref->model, v->version);
	for (int i = 0; i < MREG_METRIC_COUNT; i++)
		if (metrics->present & (1u << i))
			mreg_buf_printf(&s, " %s=%g", mreg_metric_name((mreg_metric)i), metrics->v[i]);
	if (replace)
		mreg_buf_puts(&s, " (replace)");
	rc = mreg_txn_commit(&t, &ev, NULL, 0, s.ptr);
done:
	mreg_txn_end(&t);
	mreg_event_dispose(&ev);
	mreg_buf_dispose(&s);
	return rc;
}

int mreg_tag(mreg_registry *reg, const mreg_ref *ref, const char *const *tags, size_t n, bool untag)
{
	mreg_version *v;
	mreg_event ev;
	mreg_buf s = MREG_BUF_INIT;
	mreg_txn t;
	int rc;

	mreg_event_init(&ev);
	if (n == 0)
		return mreg_error_set(MREG_EUSAGE, "%s needs at least one TAG", untag ? "untag" : "tag");
	if ((rc = sort_tags(&ev.tags, &ev.ntags, tags, n)) < 0)
		return rc;
	if ((rc = mreg_txn_begin_on_version(&t, &v, reg, ref)) < 0) {
		mreg_event_dispose(&ev);
		return rc;
	}
	if ((rc = mreg_version_materialize(v)) < 0)
		goto done;
	/* keep only the tags that change something: adding twice is a no-op */
	size_t k = 0;
	for (size_t i = 0; i < ev.ntags; i++) {
		bool has = false;
		for (size_t j = 0; j < v->ntags && !has; j++)
			has = !strcmp(v->tags[j], ev.tags[i]);
		if (has != untag) {
			free(ev.tags[i]);
			continue;
		}
		ev.tags[k++] = ev.tags[i];
	}
	ev.ntags = k;
	if (k == 0) {
		rc = 0;	/* nothing to change, nothing written */
		goto done;
	}
	if ((rc = mreg_txn_version_envelope(&ev, ref, v, untag ? MREG_EV_UNTAGGED : MREG_EV_TAGGED)) < 0)
		goto done;
	mreg_buf_printf(&s, "%s %s:%d", untag ? "untag" : "tag", ref->model, v->version);
	for (size_t i = 0; i < k; i++)
		mreg_buf_printf(&s, " %c%s", untag ? '-' : '+', ev.tags[i]);
	rc = mreg_txn_commit(&t, &ev, NULL, 0, s.ptr);
done:
	mreg_txn_end(&t);
	mreg_event_dispose(&ev);
	mreg_buf_dispose(&s);
	return rc;
}

static int mirror_batch(mreg_registry *reg, const mreg_buf *bytes, const char (*ids)[33], size_t n,
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
	for (size_t i = 0; rc == 0 && i < n; i++) {
		mreg_event_path(paths[i], ids[i]);
		mreg_addfile ev = { paths[i], bytes[i].ptr, bytes[i].size, NULL };
		rc = mreg_mirror_file(&adds[i], reg, &ev);
	}
	for (size_t i = 0; rc == 0 && i < nfiles; i++)
		rc = mreg_mirror_file(&adds[n + i], reg, &files[i]);
	if (rc == 0)
		rc = mreg_mirror_index(reg, adds, n + nfiles, tree);
	if (rc == 0)
		rc = mreg_cache_set_mirror(reg, tree);
	free(adds);
	free(paths);
	return rc;
}

int mreg_append_events(mreg_registry *reg, mreg_event **evs, size_t n, const char *const *file_paths,
		       const void *const *file_data, const size_t *file_len, size_t nfiles, const char *summary)
{
	mreg_buf *bytes = calloc(n ? n : 1, sizeof(*bytes));
	char (*ids)[33] = calloc(n ? n : 1, sizeof(*ids));
	mreg_addfile *files = calloc(nfiles ? nfiles : 1, sizeof(*files));
	mreg_lfs_pointer *ptrs = calloc(nfiles ? nfiles : 1, sizeof(*ptrs));
	mreg_txn t;
	git_oid tree;
	int rc;

	if (!bytes || !ids || !files || !ptrs) {
		free(bytes);
		free(ids);
		free(files);
		free(ptrs);
		return mreg_error_set(MREG_ERROR, "out of memory");
	}
	if ((rc = mreg_txn_begin(&t, reg, NULL)) < 0)
		goto out;
	int64_t clock = t.st->clock;
	for (size_t i = 0; i < n; i++) {
		mreg_event *ev = evs[i];
		if (!ev->clock)
			ev->clock = ++clock;
		if (!ev->time[0])
			mreg_time_format(ev->time, mreg_fs_now_usec());
		if (!ev->actor && !(ev->actor = mreg_strdup(reg->actor)))
			rc = mreg_error_set(MREG_ERROR, "out of memory");
		if (!ev->node && !(ev->node = mreg_strdup(reg->node)))
			rc = mreg_error_set(MREG_ERROR, "out of memory");
		if (rc < 0 || (rc = mreg_event_serialize(&bytes[i], ev)) < 0)
			goto done;
		memcpy(ids[i], ev->id, 33);
	}
	for (size_t i = 0; i < nfiles; i++) {
		files[i].path = file_paths[i];
		files[i].data = file_data[i];
		files[i].len = file_len[i];
		/* a pointer to a large file (in the store already): the work tree gets the bytes */
		if (mreg_lfs_pointer_at(&ptrs[i], file_paths[i], file_data[i], file_len[i]))
			files[i].lfs = &ptrs[i];
	}
	char now[MREG_TIME_LEN + 1];
	mreg_time_format(now, mreg_fs_now_usec());
	if ((rc = mreg_commit_batch(&tree, reg, bytes, (const char(*)[33])ids, n, files, nfiles, summary, now)) < 0)
		goto done;
	/* committed: mirror the new files as a single write does, then fold them in */
	if (mirror_batch(reg, bytes, (const char(*)[33])ids, n, files, nfiles, &tree) < 0)
		mreg_error_clear();	/* a lag the next command repairs */
	rc = mreg_cache_ensure(reg);
done:
	mreg_txn_end(&t);
out:
	for (size_t i = 0; i < n; i++)
		mreg_buf_dispose(&bytes[i]);
	free(bytes);
	free(ids);
	free(files);
	free(ptrs);
	return rc;
}

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
	/* what a registration killed by an older mreg left: blobs/.incoming-<pid> (no writer is alive but us) */
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
	if ((rc = mreg_head(&commit, &tree, reg)) < 0 || (rc = mreg_read_events_at(&evs, &nevs, NULL, reg, &tree)) < 0)
		goto done;
	for (size_t i = 0; i < nevs; i++) {
		const mreg_event *ev = evs[i];
		git_oid id;
		unsigned mode;
		if (ev->type != MREG_EV_REGISTERED || strncmp(ev->file_path, "blobs/", 6) ||
		    mreg_tree_path(&id, &mode, reg, &tree, ev->file_path) == 0)
			continue;	/* not a legacy large file, or moved over already */
		char **more = realloc(want, (nwant + 1) * sizeof(*more));
		if (!more || !(more[nwant] = mreg_strdup(ev->file_path))) {
			want = more ? more : want;
			rc = mreg_error_set(MREG_ERROR, "out of memory");
			goto done;
		}
		want = more;
		nwant++;
	}
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
	rc = summary ? mreg_commit_batch(&newtree, reg, NULL, NULL, 0, lf.files, lf.n, summary, now)
		     : mreg_error_set(MREG_ERROR, "out of memory");
	free(summary);
	if (rc < 0)
		goto done;
	/* committed: the mirror follows, as after any write (a lag the next command repairs) */
	if (mirror_batch(reg, NULL, NULL, 0, lf.files, lf.n, &newtree) < 0)
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

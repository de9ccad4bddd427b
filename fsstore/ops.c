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
	mreg_txn t;
	mreg_event *ev = &t.ev;
	char *relpath = NULL;
	int rc;

	mreg_txn_init(&t, reg);
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
	ev->type = MREG_EV_REGISTERED;
	ev->model_type = opts->type == MREG_TYPE_NONE ? MREG_TYPE_POLICY_VALUE : opts->type;
	ev->stage = opts->stage == MREG_STAGE_NONE ? MREG_STAGE_DEVELOPMENT : opts->stage;
	ev->metrics = opts->metrics;
	if (!(ev->model = mreg_strdup(id)) || !(ev->name = mreg_strdup(opts->name)) ||
	    !(ev->description = mreg_strdup(opts->description ? opts->description : ""))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	if ((rc = mreg_config_normalize(&ev->training_config, opts->training_config, false, id)) < 0 ||
	    (rc = sort_tags(&ev->tags, &ev->ntags, opts->tags, opts->ntags)) < 0)
		goto done;
	for (int i = 0; i < MREG_METRIC_COUNT; i++)
		if ((ev->metrics.present & (1u << i)) &&
		    (rc = mreg_metric_check((mreg_metric)i, ev->metrics.v[i], id)) < 0)
			goto done;
	if ((rc = mreg_txn_lock(&t, id)) < 0)
		goto done;
	int64_t limit;
	if ((rc = mreg_head_artifact_limit(reg, &limit)) < 0 || (rc = read_model_file(&f, reg, opts->file, limit)) < 0)
		goto done;
	mreg_model *m = mreg_state_model(t.st, id);
	if (m && m->nversions && m->type != ev->model_type) {
		rc = mreg_error_set(MREG_EINVALID, "cannot register '%s' as %s: the model is %s", id,
				    mreg_type_name(ev->model_type), mreg_type_name(m->type));
		goto done;
	}
	ev->version = (m ? m->latest : 0) + 1;
	file_ext(ext, opts->file);
	relpath = mreg_strfmt("artifacts/%.2s/%.2s/%s%s", f.hex, f.hex + 2, f.hex, ext);
	attrpath = mreg_strfmt("artifacts/%.2s/%.2s/.gitattributes", f.hex, f.hex + 2);
	ev->file_path = relpath ? mreg_strdup(relpath) : NULL;
	mreg_buf_printf(&t.summary, "register %s:%d (%s, %s)", id, ev->version, mreg_type_name(ev->model_type),
			mreg_stage_name(ev->stage));
	if (!relpath || !attrpath || !ev->file_path) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	memcpy(ev->file_hash, "xxh128:", 7);
	memcpy(ev->file_hash + 7, f.hex, 33);
	ev->file_size = f.size;
	if ((rc = mreg_txn_envelope(&t, ev)) < 0 || (rc = mreg_event_validate(ev)) < 0)
		goto done;
	mreg_addfile add[2] = { { relpath, f.data.ptr, f.data.size, NULL }, { attrpath, NULL, 0, NULL } };
	if (f.large) {
		/* the bytes in the store (durably) before the commit names them; a pointer and its attributes in the tree */
		if ((rc = mreg_lfs_put(reg, f.tmpdir, f.tmpname, &f.lfs)) < 0 ||
		    (rc = mreg_lfs_pointer_format(&pointer, &f.lfs)) < 0 ||
		    (rc = mreg_lfs_attributes(&attrs, reg, attrpath, relpath + 16)) < 0)
			goto done;
		add[0] = (mreg_addfile){ relpath, pointer.ptr, pointer.size, &f.lfs };
		add[1] = (mreg_addfile){ attrpath, attrs.ptr, attrs.size, NULL };
	}
	if ((rc = mreg_txn_commit(&t, add, f.large ? 2 : 1)) < 0)
		goto done;
	if (model_out)
		strcpy(model_out, id);
	if (version_out) {
		const mreg_model *mm = mreg_state_model(t.st, id);
		const mreg_version *v = mm ? mreg_model_version_by_ref(mm, ev->id, ev->version) : NULL;
		*version_out = v ? v->version : ev->version;
	}
done:
	mreg_txn_end(&t);
	model_file_dispose(&f);
	mreg_buf_dispose(&pointer);
	mreg_buf_dispose(&attrs);
	free(attrpath);
	free(relpath);
	return rc;
}

int mreg_promote_to(int *version, mreg_registry *reg, const mreg_ref *ref, mreg_stage to, const mreg_promote_opts *o)
{
	mreg_version *v;
	mreg_txn t;
	int rc;

	*version = 0;
	if ((rc = mreg_txn_begin_on_version(&t, &v, reg, ref)) < 0)
		return rc;
	*version = v->version;
	if (v->stage == to && o->same_stage_ok)
		rc = 1;	/* already there: nothing to write */
	else if (o->from && !(o->from & (1u << v->stage)))
		rc = mreg_error_set(MREG_ETRANSITION, "'%s:%d' moved to %s meanwhile: left as it is", ref->model, v->version,
				    mreg_stage_name(v->stage));
	else if (!mreg_stage_allowed(v->stage, to))
		rc = mreg_error_set(MREG_ETRANSITION, "cannot promote '%s:%d': cannot transition from %s to %s",
				    ref->model, v->version, mreg_stage_name(v->stage), mreg_stage_name(to));
	else
		rc = mreg_txn_promote(&t, ref, v, to, o->reason, NULL);
	mreg_txn_end(&t);
	return rc;
}

int mreg_promote(mreg_registry *reg, const mreg_ref *ref, mreg_stage to, const char *reason)
{
	mreg_promote_opts o = MREG_PROMOTE_OPTS_INIT;
	int version;
	o.reason = reason;
	int rc = mreg_promote_to(&version, reg, ref, to, &o);
	return rc > 0 ? 0 : rc;
}

int mreg_update_metrics(mreg_registry *reg, const mreg_ref *ref, const mreg_metrics *metrics, bool replace)
{
	mreg_version *v;
	mreg_txn t;
	int rc;

	if (!metrics->present && !replace)
		return mreg_error_set(MREG_EUSAGE, "update-metrics needs at least one KEY=VALUE");
	if ((rc = mreg_txn_begin_on_version(&t, &v, reg, ref)) < 0)
		return rc;
	if ((rc = mreg_txn_version_envelope(&t.ev, ref, v, MREG_EV_METRICS)) < 0)
		goto done;
	t.ev.metrics = *metrics;
	t.ev.replace = replace;
	mreg_buf_printf(&t.summary, "metrics %s:%d", ref->model, v->version);
	for (int i = 0; i < MREG_METRIC_COUNT; i++)
		if (metrics->present & (1u << i))
			mreg_buf_printf(&t.summary, " %s=%g", mreg_metric_name((mreg_metric)i), metrics->v[i]);
	if (replace)
		mreg_buf_puts(&t.summary, " (replace)");
	rc = mreg_txn_commit(&t, NULL, 0);
done:
	mreg_txn_end(&t);
	return rc;
}

int mreg_tag(mreg_registry *reg, const mreg_ref *ref, const char *const *tags, size_t n, bool untag)
{
	mreg_version *v;
	mreg_txn t;
	char **sorted = NULL;
	size_t nsorted = 0;
	int rc;

	if (n == 0)
		return mreg_error_set(MREG_EUSAGE, "%s needs at least one TAG", untag ? "untag" : "tag");
	if ((rc = sort_tags(&sorted, &nsorted, tags, n)) < 0)
		return rc;
	if ((rc = mreg_txn_begin_on_version(&t, &v, reg, ref)) < 0) {
		while (nsorted)
			free(sorted[--nsorted]);
		free(sorted);
		return rc;
	}
	mreg_event *ev = &t.ev;	/* the transaction's event owns the tags from here */
	ev->tags = sorted;
	ev->ntags = nsorted;
	if ((rc = mreg_version_materialize(v)) < 0)
		goto done;
	/* keep only the tags that change something: adding twice is a no-op */
	size_t k = 0;
	for (size_t i = 0; i < ev->ntags; i++) {
		bool has = false;
		for (size_t j = 0; j < v->ntags && !has; j++)
			has = !strcmp(v->tags[j], ev->tags[i]);
		if (has != untag) {
			free(ev->tags[i]);
			continue;
		}
		ev->tags[k++] = ev->tags[i];
	}
	ev->ntags = k;
	if (k == 0) {
		rc = 0;	/* nothing to change, nothing written */
		goto done;
	}
	if ((rc = mreg_txn_version_envelope(ev, ref, v, untag ? MREG_EV_UNTAGGED : MREG_EV_TAGGED)) < 0)
		goto done;
	mreg_buf_printf(&t.summary, "%s %s:%d", untag ? "untag" : "tag", ref->model, v->version);
	for (size_t i = 0; i < k; i++)
		mreg_buf_printf(&t.summary, " %c%s", untag ? '-' : '+', ev->tags[i]);
	rc = mreg_txn_commit(&t, NULL, 0);
done:
	mreg_txn_end(&t);
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
	t.current = false;	/* the batch is folded by a refresh, not into t.st: that is the state from before it */
	if ((rc = mreg_txn_commit_batch(&tree, reg, bytes, (const char(*)[33])ids, n, files, nfiles, summary, now)) < 0)
		goto done;
	/* committed: mirror the new files as a single write does, then fold them in */
	if (mreg_mirror_batch(reg, bytes, (const char(*)[33])ids, n, files, nfiles, &tree) < 0)
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


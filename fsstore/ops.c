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
	/* under the lock, so that a checkout since the open is seen */
	if ((rc = check_on_branch(reg)) < 0) {
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

/*
 * A work tree copy of a committed file. No temporary file and rename: the
 * name is the content's hash, so an existing file of the right size is the
 * file, and a copy cut short by a crash is caught because its index entry is
 * written after it (the next command's mirror check restores it).
 */
static int write_mirror_file(mreg_index_entry *e, mreg_registry *reg, const char *path, const void *data, size_t len)
{
	char *full = mreg_strfmt("%s%s", reg->workdir, path);
	int rc = 0;

	if (!full)
		return mreg_error_set(MREG_ERROR, "out of memory");
	if (lstat(full, &e->st) < 0 || !S_ISREG(e->st.st_mode) || (size_t)e->st.st_size != len) {
		int fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 && errno == ENOENT && mreg_fs_mkparents(full) == 0)
			fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		mreg_span all = { data, 0, len };
		bool ok = fd >= 0 && mreg_fs_write_spans(fd, NULL, &all, 1) == 0;
		int err = errno;
		if (fd >= 0 && close(fd) < 0 && ok) {
			ok = false;
			err = errno;
		}
		if (ok && lstat(full, &e->st) < 0) {
			ok = false;
			err = errno;
		}
		if (!ok)
			rc = mreg_error_set(MREG_ERROR, "cannot write '%s': %s", path, strerror(err));
	}
	free(full);
	if (rc < 0)
		return rc;
	e->path = path;
	mreg_objs_hash(&e->id, GIT_OBJECT_BLOB, data, len);
	return 0;
}

/* The same entries through libgit2, for an index the streaming writer leaves alone. */
static int index_add_libgit2(mreg_registry *reg, const mreg_index_entry *adds, size_t n, const git_oid *tree)
{
	git_index *idx = NULL;
	int rc = mreg_index_check(reg, tree);	/* one it left alone because it is cut short: made again */
	if (rc < 0)
		return rc;
	if (git_repository_index(&idx, reg->repo) < 0)
		return mreg_git_error("cannot open the index of", reg->path);
	/* version 2 is the one index.c streams on the next write */
	if (git_index_version(idx) != 2 && git_index_set_version(idx, 2) < 0)
		rc = mreg_git_error("cannot set the index version of", reg->path);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		git_index_entry e;
		const struct stat *sb = &adds[i].st;
		memset(&e, 0, sizeof(e));
		e.ctime.seconds = (int32_t)sb->st_ctim.tv_sec;
		e.ctime.nanoseconds = (uint32_t)sb->st_ctim.tv_nsec;
		e.mtime.seconds = (int32_t)sb->st_mtim.tv_sec;
		e.mtime.nanoseconds = (uint32_t)sb->st_mtim.tv_nsec;
		e.dev = (uint32_t)sb->st_dev;
		e.ino = (uint32_t)sb->st_ino;
		e.mode = GIT_FILEMODE_BLOB;
		e.uid = sb->st_uid;
		e.gid = sb->st_gid;
		e.file_size = (uint32_t)sb->st_size;
		e.path = adds[i].path;
		git_oid_cpy(&e.id, &adds[i].id);
		if (git_index_add(idx, &e) < 0)
			rc = mreg_git_error("cannot update the index of", reg->path);
	}
	if (rc == 0 && git_index_write(idx) < 0)
		rc = mreg_git_error("cannot write the index of", reg->path);
	git_index_free(idx);
	return rc;
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
	rc = write_mirror_file(&adds[0], reg, evpath, bytes->ptr, bytes->size);
	for (size_t i = 0; rc == 0 && i < nextra; i++)
		rc = write_mirror_file(&adds[i + 1], reg, extra[i].path, extra[i].data, extra[i].len);
	if (rc < 0)
		return rc;
	mreg_clear_stale_lock(reg, "index");
	if ((rc = mreg_index_add(reg, adds, nextra + 1)) == 1)
		rc = index_add_libgit2(reg, adds, nextra + 1, tree);
	if (rc == 0)
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
	cJSON *doc = NULL;
	int rc = mreg_head_policy_doc(&doc, reg);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "artifact_max_bytes");
	*out = cJSON_IsNumber(v) && v->valuedouble >= 0 ? (int64_t)v->valuedouble : 1 << 20;
	cJSON_Delete(doc);
	return rc == MREG_EINVALID ? (mreg_error_clear(), 0) : rc;
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

typedef struct {
	mreg_buf data;		/* the bytes, when small enough to commit */
	char hex[33];
	int64_t size;
	char *tmp;		/* large files: copied here while hashing */
} model_file;

/* Read (and for large files, copy aside) the model file, hashing as we go. */
static int read_model_file(model_file *f, mreg_registry *reg, const char *path, int64_t limit)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	int out = -1, rc = 0;
	struct stat sb;
	XXH3_state_t *hs = NULL;
	char buf[1 << 16];

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
	if (!(hs = XXH3_createState()) || XXH3_128bits_reset(hs) == XXH_ERROR) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	bool large = sb.st_size > limit;
	if (large) {
		char *dir = mreg_strfmt("%sblobs", reg->workdir);
		f->tmp = mreg_strfmt("%sblobs/.incoming-%d", reg->workdir, (int)getpid());
		if (!dir || !f->tmp || (rc = mreg_fs_mkdirs(dir)) < 0) {
			free(dir);
			rc = rc < 0 ? rc : mreg_error_set(MREG_ERROR, "out of memory");
			goto done;
		}
		free(dir);
		out = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
		if (out < 0) {
			rc = mreg_error_set(MREG_ERROR, "cannot write '%s': %s", f->tmp, strerror(errno));
			goto done;
		}
	}
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = mreg_error_set(MREG_EINVALID, "cannot read model file '%s': %s", path, strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		XXH3_128bits_update(hs, buf, (size_t)r);
		f->size += r;
		if (!large) {
			if (f->size > limit) {
				rc = mreg_error_set(MREG_EINVALID, "model file '%s' changed while being read", path);
				goto done;
			}
			if (mreg_buf_put(&f->data, buf, (size_t)r) < 0) {
				rc = mreg_error_set(MREG_ERROR, "out of memory reading '%s'", path);
				goto done;
			}
		} else if (write(out, buf, (size_t)r) != r) {
			rc = mreg_error_set(MREG_ERROR, "cannot write '%s': %s", f->tmp, strerror(errno));
			goto done;
		}
	}
	if (out >= 0 && reg->fsync && fsync(out) < 0) {
		rc = mreg_error_set(MREG_ERROR, "cannot fsync '%s': %s", f->tmp, strerror(errno));
		goto done;
	}
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(hs));
	for (int i = 0; i < 16; i++) {
		f->hex[2 * i] = "0123456789abcdef"[c.digest[i] >> 4];
		f->hex[2 * i + 1] = "0123456789abcdef"[c.digest[i] & 15];
	}
	f->hex[32] = '\0';
done:
	if (out >= 0)
		close(out);
	close(fd);
	XXH3_freeState(hs);
	return rc;
}

static void model_file_dispose(model_file *f)
{
	if (f->tmp) {
		unlink(f->tmp);
		free(f->tmp);
	}
	mreg_buf_dispose(&f->data);
}

/* Put a large file in place under blobs/ (durably) before the commit names it. */
static int place_blob(mreg_registry *reg, model_file *f, const char *relpath)
{
	char *full = mreg_strfmt("%s%s", reg->workdir, relpath);
	struct stat sb;
	int rc = 0;
	if (!full)
		return mreg_error_set(MREG_ERROR, "out of memory");
	if (stat(full, &sb) == 0 && sb.st_size == f->size) {
		free(full);
		return 0;	/* content-addressed: already there */
	}
	if ((rc = mreg_fs_mkparents(full)) == 0) {
		if (rename(f->tmp, full) < 0) {
			rc = mreg_error_set(MREG_ERROR, "cannot store '%s': %s", relpath, strerror(errno));
		} else {
			free(f->tmp);
			f->tmp = NULL;
			if (reg->fsync) {
				char *slash = strrchr(full, '/');
				*slash = '\0';
				rc = mreg_fs_fsync_dir(full);
			}
		}
	}
	free(full);
	return rc;
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
	model_file f = { MREG_BUF_INIT, "", 0, NULL };
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
	bool large = f.size > limit;
	relpath = mreg_strfmt("%s/%.2s/%.2s/%s%s", large ? "blobs" : "artifacts", f.hex, f.hex + 2, f.hex, ext);
	ev.file_path = relpath ? mreg_strdup(relpath) : NULL;
	summary = mreg_strfmt("register %s:%d (%s, %s)", id, ev.version, mreg_type_name(ev.model_type),
			      mreg_stage_name(ev.stage));
	if (!relpath || !ev.file_path || !summary) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	memcpy(ev.file_hash, "xxh128:", 7);
	memcpy(ev.file_hash + 7, f.hex, 33);
	ev.file_size = f.size;
	if ((rc = mreg_txn_envelope(&t, &ev)) < 0 || (rc = mreg_event_validate(&ev)) < 0)
		goto done;
	if (large && (rc = place_blob(reg, &f, relpath)) < 0)
		goto done;
	mreg_addfile add = { relpath, f.data.ptr, f.data.size };
	if ((rc = mreg_txn_commit(&t, &ev, &add, large ? 0 : 1, summary)) < 0)
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
		rc = write_mirror_file(&adds[i], reg, paths[i], bytes[i].ptr, bytes[i].size);
	}
	for (size_t i = 0; rc == 0 && i < nfiles; i++)
		rc = write_mirror_file(&adds[n + i], reg, files[i].path, files[i].data, files[i].len);
	if (rc == 0) {
		mreg_clear_stale_lock(reg, "index");
		if ((rc = mreg_index_add(reg, adds, n + nfiles)) == 1)
			rc = index_add_libgit2(reg, adds, n + nfiles, tree);
	}
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
	mreg_txn t;
	git_oid tree;
	int rc;

	if (!bytes || !ids || !files) {
		free(bytes);
		free(ids);
		free(files);
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
	return rc;
}

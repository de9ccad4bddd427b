/*
 * Export and import in the original's format, so files moved between the
 * original and mreg keep their metrics, config and tags. The metadata file
 * is the original's ModelVersion.to_dict(): keys in its order, every metric
 * (null when unset) and the whole training config.
 *
 * Also the one reader of files a user names (mreg_user_file_read): a FIFO
 * given as a metrics file would otherwise hang the command forever, so the
 * file is opened without blocking and must be a regular file.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "16 MiB", or the exact count where cap is no whole number of MiB */
static void put_size(mreg_buf *b, size_t cap)
{
	if (cap && cap % (1u << 20) == 0)
		mreg_buf_printf(b, "%zu MiB", cap >> 20);
	else
		mreg_buf_printf(b, "%zu bytes", cap);
}

int mreg_user_file_read(mreg_buf *out, const char *path, const char *what, size_t cap)
{
	struct stat sb;
	mreg_buf size = MREG_BUF_INIT;
	int rc = 0;
	/* O_NONBLOCK: opening a FIFO for reading waits for a writer otherwise */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return mreg_error_set(MREG_ENOTFOUND, "cannot read %s '%s': no such file", what, path);
		return mreg_error_set(MREG_EINVALID, "cannot read %s '%s': %s", what, path, strerror(errno));
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		rc = mreg_error_set(MREG_EINVALID, "cannot read %s '%s': not a regular file", what, path);
		goto done;
	}
	put_size(&size, cap);
	if ((uintmax_t)sb.st_size > cap) {
		rc = mreg_error_set(MREG_EINVALID, "cannot read %s '%s': larger than %s", what, path, size.ptr);
		goto done;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		rc = mreg_error_set(MREG_ERROR, "cannot read %s '%s': %s", what, path, strerror(errno));
		goto done;
	}
	if (mreg_buf_grow(out, (size_t)sb.st_size + 1) < 0) {
		rc = mreg_error_set(MREG_ERROR, "out of memory reading %s '%s'", what, path);
		goto done;
	}
	size_t start = out->size;
	for (;;) {
		if (out->asize - out->size < 2 && mreg_buf_grow(out, 65536) < 0) {
			rc = mreg_error_set(MREG_ERROR, "out of memory reading %s '%s'", what, path);
			goto done;
		}
		ssize_t r = read(fd, out->ptr + out->size, out->asize - out->size - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = mreg_error_set(MREG_EINVALID, "cannot read %s '%s': %s", what, path, strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		out->size += (size_t)r;
		out->ptr[out->size] = '\0';
		if (out->size - start > cap) {	/* it grew while being read */
			rc = mreg_error_set(MREG_EINVALID, "cannot read %s '%s': larger than %s", what, path, size.ptr);
			goto done;
		}
	}
done:
	close(fd);
	mreg_buf_dispose(&size);
	return rc;
}

char *mreg_path_with_suffix(const char *path, const char *suffix)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	const char *dot = strrchr(base, '.');
	size_t keep = dot && dot != base ? (size_t)(dot - path) : strlen(path);
	return mreg_strfmt("%.*s%s", (int)keep, path, suffix);
}

/* The metadata of one version in the original's export layout. */
static void write_metadata(mreg_jsonw *w, const mreg_model *m, const mreg_version *v)
{
	mreg_jsonw_obj_begin(w, NULL);
	mreg_jsonw_str(w, "model_id", m->id);
	mreg_jsonw_int(w, "version", v->version);
	mreg_jsonw_str(w, "name", m->name);
	mreg_jsonw_str(w, "model_type", mreg_type_name(m->type));
	mreg_jsonw_str(w, "stage", mreg_stage_name(v->stage));
	mreg_jsonw_str(w, "created_at", v->created_at);
	mreg_jsonw_str(w, "updated_at", v->updated_at);
	mreg_jsonw_str(w, "file_path", v->file_path);
	mreg_jsonw_str(w, "file_hash", v->file_hash);
	mreg_jsonw_int(w, "file_size_bytes", v->file_size);
	mreg_metrics_write(w, "metrics", &v->metrics, true);
	mreg_version_write_config(w, "training_config", v);
	mreg_jsonw_str(w, "description", m->description);
	mreg_jsonw_arr_begin(w, "tags");
	for (size_t i = 0; i < v->ntags; i++)
		mreg_jsonw_str(w, NULL, v->tags[i]);
	mreg_jsonw_arr_end(w);
	mreg_jsonw_obj_end(w);
}

/* The directory path is in: "." for a bare name. malloc'd. */
static char *parent_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return mreg_strdup(".");
	return slash == path ? mreg_strdup("/") : mreg_strfmt("%.*s", (int)(slash - path), path);
}

/*
 * data in a new file beside path, written and fsynced: created exclusively
 * (never through a link someone left there) under a name of its own, which
 * *tmp gets for the caller to rename into place or unlink.
 */
static int write_beside(char **tmp, const char *path, const void *data, size_t len, const char *dest)
{
	mreg_span one = { data, 0, len };
	*tmp = NULL;
	for (int i = 0; i < 1000; i++) {
		char *t = mreg_strfmt("%s.mreg-tmp%d-%d", path, (int)getpid(), i);
		if (!t)
			return mreg_error_set(MREG_ERROR, "out of memory");
		int fd = open(t, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
		if (fd < 0 && errno == EEXIST) {
			free(t);
			continue;
		}
		if (fd < 0) {
			int err = errno;
			free(t);
			return mreg_error_set(MREG_ERROR, "cannot export to '%s': cannot write '%s': %s", dest, path,
					      strerror(err));
		}
		*tmp = t;
		if (mreg_fs_write_spans(fd, NULL, &one, 1) < 0 || fsync(fd) < 0) {
			int err = errno;
			close(fd);
			return mreg_error_set(MREG_ERROR, "cannot export to '%s': cannot write '%s': %s", dest, path,
					      strerror(err));
		}
		if (close(fd) < 0)
			return mreg_error_set(MREG_ERROR, "cannot export to '%s': cannot write '%s': %s", dest, path,
					      strerror(errno));
		return 0;
	}
	return mreg_error_set(MREG_ERROR, "cannot export to '%s': no free temporary name beside '%s'", dest, path);
}

/*
 * Where an export may write: dest names a file (not a directory) in a
 * directory that exists (export creates none), and its metadata path is no
 * directory either. Checked before anything is written.
 */
static int export_target_check(const char *dest, const char *mpath, const char *dir)
{
	struct stat sb;
	if (stat(dir, &sb) < 0)
		return mreg_error_set(MREG_EINVALID, "cannot export to '%s': directory '%s' does not exist", dest, dir);
	if (!S_ISDIR(sb.st_mode))
		return mreg_error_set(MREG_EINVALID, "cannot export to '%s': '%s' is not a directory", dest, dir);
	if (lstat(mpath, &sb) == 0 && S_ISDIR(sb.st_mode))
		return mreg_error_set(MREG_EINVALID, "cannot export to '%s': its metadata path '%s' is a directory", dest,
				      mpath);
	return 0;
}

/*
 * The model file goes to dest, its metadata to dest with suffix .json.
 * Both are written whole under temporary names first and then renamed into
 * place, so a failure leaves no file half-written, and a symbolic link at
 * either name is replaced, never written through.
 */
int mreg_export(char **meta_out, mreg_registry *reg, const mreg_ref *ref, const char *dest)
{
	mreg_state *st = NULL;
	mreg_model *m;
	mreg_version *v;
	mreg_buf data = MREG_BUF_INIT, meta = MREG_BUF_INIT;
	char *mpath = NULL, *dir = NULL, *tmp_data = NULL, *tmp_meta = NULL;
	struct stat sb;
	int rc;

	if (meta_out)
		*meta_out = NULL;
	if (!*dest || dest[strlen(dest) - 1] == '/' || (stat(dest, &sb) == 0 && S_ISDIR(sb.st_mode)))
		return mreg_error_set(MREG_EINVALID, "cannot export to '%s': give a file path, not a directory", dest);
	if (!(mpath = mreg_path_with_suffix(dest, ".json")) || !(dir = parent_dir(dest))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	if (!strcmp(mpath, dest)) {
		rc = mreg_error_set(MREG_EINVALID, "cannot export to '%s': the metadata would overwrite the model file", dest);
		goto done;
	}
	if ((rc = export_target_check(dest, mpath, dir)) < 0)
		goto done;
	if ((rc = mreg_read_model(&st, reg, ref->model, ref->version)) < 0 ||
	    (rc = mreg_query_version(&m, &v, st, ref)) < 0 || (rc = mreg_version_materialize(v)) < 0 ||
	    (rc = mreg_artifact_read(&data, reg, v->file_path, v->file_hash)) < 0)
		goto done;
	mreg_jsonw w;
	mreg_jsonw_init(&w, &meta);
	write_metadata(&w, m, v);
	if (mreg_jsonw_finish(&w) < 0) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	if ((rc = write_beside(&tmp_data, dest, data.ptr, data.size, dest)) < 0 ||
	    (rc = write_beside(&tmp_meta, mpath, meta.ptr, meta.size, dest)) < 0)
		goto done;
	if (rename(tmp_data, dest) < 0) {
		rc = mreg_error_set(MREG_ERROR, "cannot export to '%s': %s", dest, strerror(errno));
		goto done;
	}
	free(tmp_data);
	tmp_data = NULL;
	if (rename(tmp_meta, mpath) < 0) {
		rc = mreg_error_set(MREG_ERROR, "cannot export to '%s': cannot write '%s': %s", dest, mpath,
				    strerror(errno));
		goto done;
	}
	free(tmp_meta);
	tmp_meta = NULL;
	if ((rc = mreg_fs_fsync_dir(dir)) < 0)
		goto done;
	if (meta_out) {
		*meta_out = mpath;
		mpath = NULL;
	}
done:
	if (tmp_data)
		unlink(tmp_data);
	if (tmp_meta)
		unlink(tmp_meta);
	free(tmp_data);
	free(tmp_meta);
	mreg_state_free(st);
	mreg_buf_dispose(&data);
	mreg_buf_dispose(&meta);
	free(mpath);
	free(dir);
	return rc;
}

int mreg_import(char model_out[MREG_ID_MAX + 1], int *version_out, mreg_registry *reg, const char *file,
		const char *metadata, const char *id)
{
	mreg_register_opts o = MREG_REGISTER_OPTS_INIT;
	mreg_buf b = MREG_BUF_INIT;
	cJSON *doc = NULL;
	char *mpath = metadata ? mreg_strdup(metadata) : mreg_path_with_suffix(file, ".json");
	char *stem = NULL;
	const char **tags = NULL;
	int rc;

	if (!mpath)
		return mreg_error_set(MREG_ERROR, "out of memory");
	if (strcmp(mpath, file))
		rc = mreg_user_file_read(&b, mpath, "metadata file", 16u << 20);
	else	/* FILE.json itself: no metadata of its own */
		rc = metadata ? mreg_error_set(MREG_ENOTFOUND, "metadata file not found: '%s'", mpath) : MREG_ENOTFOUND;
	if (rc == MREG_ENOTFOUND && !metadata) {
		rc = 0;	/* no metadata beside the file: defaults, as the original */
	} else if (rc < 0) {
		goto done;
	} else if (!(doc = cJSON_ParseWithLength(b.ptr, b.size)) || !cJSON_IsObject(doc)) {
		rc = mreg_error_set(MREG_EINVALID, "invalid metadata file '%s': not a JSON object", mpath);
		goto done;
	}
	/* name: --id, else the metadata's, else the file's stem, as the original */
	const char *slash = strrchr(file, '/');
	char *base = mreg_path_with_suffix(slash ? slash + 1 : file, "");
	stem = base;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "name");
	o.name = id ? id : stem;
	if (doc && v && !cJSON_IsString(v)) {
		rc = mreg_error_set(MREG_EINVALID, "invalid metadata file '%s': 'name' must be a string", mpath);
		goto done;
	}
	if (cJSON_IsString(v) && v->valuestring[0])
		o.name = v->valuestring;
	o.id = id;	/* NULL: derived from the name, as register does */
	v = cJSON_GetObjectItemCaseSensitive(doc, "description");
	if (v && !cJSON_IsString(v) && !cJSON_IsNull(v)) {
		rc = mreg_error_set(MREG_EINVALID, "invalid metadata file '%s': 'description' must be a string", mpath);
		goto done;
	}
	o.description = cJSON_IsString(v) ? v->valuestring : "";
	v = cJSON_GetObjectItemCaseSensitive(doc, "model_type");
	if (v && (!cJSON_IsString(v) || (o.type = mreg_type_parse(v->valuestring)) == MREG_TYPE_NONE)) {
		rc = mreg_error_set(MREG_EINVALID, "invalid metadata file '%s': unknown model_type", mpath);
		goto done;
	}
	v = cJSON_GetObjectItemCaseSensitive(doc, "metrics");
	if (v && !cJSON_IsNull(v) && (rc = mreg_metrics_from_json(&o.metrics, v, mpath)) < 0)
		goto done;
	v = cJSON_GetObjectItemCaseSensitive(doc, "training_config");
	if (v && !cJSON_IsNull(v))
		o.training_config = v;
	v = cJSON_GetObjectItemCaseSensitive(doc, "tags");
	if (v && !cJSON_IsNull(v)) {
		const cJSON *t;
		if (!cJSON_IsArray(v)) {
			rc = mreg_error_set(MREG_EINVALID, "invalid metadata file '%s': 'tags' must be a list", mpath);
			goto done;
		}
		if (!(tags = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof(*tags)))) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
			goto done;
		}
		cJSON_ArrayForEach(t, v) {
			if (!cJSON_IsString(t)) {
				rc = mreg_error_set(MREG_EINVALID, "invalid metadata file '%s': tags must be strings", mpath);
				goto done;
			}
			tags[o.ntags++] = t->valuestring;
		}
		o.tags = tags;
	}
	o.file = file;
	o.stage = MREG_STAGE_DEVELOPMENT;
	rc = mreg_register(model_out, version_out, reg, &o);
done:
	cJSON_Delete(doc);
	mreg_buf_dispose(&b);
	free(mpath);
	free(stem);
	free(tags);
	return rc;
}

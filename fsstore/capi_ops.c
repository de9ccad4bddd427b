/*
 * The C API's operations on the registry as a whole (see capi.c): backups,
 * sync and remotes, export and import, fsck. Each answers with the object
 * the matching `--json` command prints (the library's report objects).
 */
#include "capi.h"

#include <stdlib.h>
#include <string.h>

/* Answer with a report object the library made (taken), or null. */
static int give(mreg_jsonw *w, cJSON *report, int rc)
{
	if (rc == 0) {
		if (report)
			mreg_jsonw_value(w, NULL, report);
		else
			mreg_jsonw_null(w, NULL);
	}
	cJSON_Delete(report);
	return rc;
}

/* backup_create {reason}, backup_list, backup_show/verify/restore {id}, backup_prune {keep}, backup_auto, backup_stats */
static int m_backup(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	const char *m = a->method + 7, *reason, *id;
	mreg_registry *reg = mreg_handle_reader(h);
	cJSON *report = NULL;
	int rc;
	if ((rc = mreg_arg_str(&reason, a, "reason", false)) < 0)
		return rc;
	if (!strcmp(m, "create"))
		return give(w, report, mreg_backup_create(&report, reg, reason ? reason : "manual"));
	if (!strcmp(m, "list"))
		return give(w, report, mreg_backup_list(&report, reg));
	if (!strcmp(m, "auto"))
		return give(w, report, mreg_backup_auto(&report, reg));
	if (!strcmp(m, "stats"))
		return give(w, report, mreg_backup_stats(&report, reg));
	if (!strcmp(m, "prune")) {
		size_t removed = 0, orphans = 0;
		int keep;
		if ((rc = mreg_arg_int(&keep, a, "keep", 0, 0, 1 << 30)) < 0 ||
		    (rc = mreg_backup_prune(&removed, &orphans, reg, keep)) < 0)
			return rc;
		mreg_jsonw_obj_begin(w, NULL);
		mreg_jsonw_int(w, "removed", (int64_t)removed);
		mreg_jsonw_int(w, "orphans", (int64_t)orphans);
		mreg_jsonw_obj_end(w);
		return 0;
	}
	if (strcmp(m, "show") && strcmp(m, "verify") && strcmp(m, "restore"))
		return 1;
	if ((rc = mreg_arg_str(&id, a, "id", true)) < 0)
		return rc;
	if (!strcmp(m, "show"))
		return give(w, report, mreg_backup_show(&report, reg, id));
	if (!strcmp(m, "verify"))
		return give(w, report, mreg_backup_verify(&report, reg, id));
	return give(w, report, mreg_backup_restore(&report, reg, id));
}

/* sync and remotes (see m_sync) on reg */
static int sync_on(mreg_jsonw *w, mreg_registry *reg, const mreg_call_args *a)
{
	cJSON *report = NULL;
	const char *name, *url;
	int rc;
	if (!strcmp(a->method, "sync_status"))
		return give(w, report, mreg_sync_status(&report, reg));
	if (!strcmp(a->method, "remote_list"))
		return give(w, report, mreg_remote_list(&report, reg));
	if (!strcmp(a->method, "remote_add") || !strcmp(a->method, "remote_remove")) {
		bool add = !strcmp(a->method, "remote_add");
		if ((rc = mreg_arg_str(&name, a, "name", true)) < 0 || (rc = mreg_arg_str(&url, a, "url", add)) < 0 ||
		    (rc = add ? mreg_remote_add(reg, name, url) : mreg_remote_remove(reg, name)) < 0)
			return rc;
		/* the list from a registry opened after the change: a handle reads git config once */
		mreg_registry *fresh = NULL;
		if ((rc = mreg_registry_open(&fresh, mreg_registry_path(reg))) == 0)
			rc = mreg_remote_list(&report, fresh);
		mreg_registry_free(fresh);
		return give(w, report, rc);
	}
	mreg_sync_opts o;
	const cJSON *remotes = cJSON_GetObjectItemCaseSensitive(a->args, "remotes"), *r;
	const char *names[64];
	memset(&o, 0, sizeof(o));
	o.files = -1;
	if ((rc = mreg_arg_bool(&o.push, a, "push")) < 0 || (rc = mreg_arg_bool(&o.no_backup, a, "no_backup")) < 0 ||
	    (rc = mreg_arg_bool(&o.dry_run, a, "dry_run")) < 0)
		return rc;
	if (remotes && !cJSON_IsNull(remotes)) {
		if (!cJSON_IsArray(remotes) || cJSON_GetArraySize(remotes) > 64)
			return mreg_error_set(MREG_EINVALID, "invalid 'remotes' for sync: a list of at most 64 names");
		cJSON_ArrayForEach(r, remotes) {
			if (!cJSON_IsString(r))
				return mreg_error_set(MREG_EINVALID, "invalid 'remotes' for sync: expected names");
			names[o.nremotes++] = r->valuestring;
		}
		o.remotes = names;
	}
	return give(w, report, mreg_sync(&report, reg, &o));
}

/*
 * sync {remotes, push, no_backup, dry_run}, sync_status, remote_add {name, url}, remote_remove {name},
 * remote_list: through a registry opened for the call, which reads the remotes and the breaker settings
 * in git config as they are now (the handle's own registry read them when it was opened).
 */
static int m_sync(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	mreg_registry *reg = NULL;
	int rc = mreg_registry_open(&reg, mreg_registry_path(mreg_handle_reader(h)));
	if (rc == 0)
		rc = sync_on(w, reg, a);
	mreg_registry_free(reg);
	return rc;
}

/* export {model, version, path}: the metadata written; import {file, metadata, id}: the version registered */
static int m_transfer(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	mreg_registry *reg = NULL;
	mreg_ref ref;
	const char *path, *meta, *id;
	char *written = NULL;
	int rc;
	if (!strcmp(a->method, "export")) {
		if ((rc = mreg_arg_ref(&ref, a)) < 0 || (rc = mreg_arg_str(&path, a, "path", true)) < 0 ||
		    (rc = mreg_export(&written, mreg_handle_reader(h), &ref, path)) < 0)
			return rc;
		/* the metadata file it wrote, as its answer */
		mreg_buf bytes = MREG_BUF_INIT;
		rc = written ? mreg_fs_read(&bytes, written, MREG_EVENT_MAX_BYTES) : mreg_error_set(MREG_ERROR, "out of memory");
		cJSON *doc = rc == 0 ? cJSON_ParseWithLength(bytes.ptr, bytes.size) : NULL;
		if (rc == 0 && !doc)
			rc = mreg_error_set(MREG_ECORRUPT, "cannot read back the metadata written to '%s'", written);
		mreg_buf_dispose(&bytes);
		free(written);
		return give(w, doc, rc);
	}
	if ((rc = mreg_arg_str(&path, a, "file", true)) < 0 || (rc = mreg_arg_str(&meta, a, "metadata", false)) < 0 ||
	    (rc = mreg_arg_str(&id, a, "id", false)) < 0 || (rc = mreg_handle_writer(&reg, h, a)) < 0)
		return rc;
	memset(&ref, 0, sizeof(ref));
	rc = mreg_import(ref.model, &ref.version, reg, path, meta, id);
	mreg_registry_free(reg);
	if (rc < 0)
		return rc;
	const mreg_state *st;
	mreg_model *m;
	mreg_version *v;
	if ((rc = mreg_handle_state(&st, h)) < 0 || (rc = mreg_query_version(&m, &v, st, &ref)) < 0 ||
	    (rc = mreg_version_materialize(v)) < 0)
		return rc;
	mreg_version_write(w, NULL, m, v);
	return 0;
}

static void collect_problem(const char *problem, void *payload)
{
	cJSON_AddItemToArray((cJSON *)payload, cJSON_CreateString(problem));
}

/* fsck: {ok, problems: [...]} */
static int m_fsck(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	cJSON *problems = cJSON_CreateArray();
	size_t n = 0;
	int rc;
	(void)a;
	if (!problems)
		return mreg_error_set(MREG_ERROR, "out of memory");
	/* problems found are the answer (ok false); an fsck that could not finish is an error */
	if ((rc = mreg_fsck(&n, mreg_handle_reader(h), collect_problem, problems)) == 0 || (rc == MREG_ECORRUPT && n)) {
		rc = 0;
		mreg_jsonw_obj_begin(w, NULL);
		mreg_jsonw_bool(w, "ok", n == 0);
		mreg_jsonw_value(w, "problems", problems);
		mreg_jsonw_obj_end(w);
	}
	cJSON_Delete(problems);
	return rc;
}

int mreg_capi_ops(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	if (!strncmp(a->method, "backup_", 7))
		return m_backup(w, h, a);
	if (!strcmp(a->method, "sync") || !strcmp(a->method, "sync_status") || !strncmp(a->method, "remote_", 7))
		return m_sync(w, h, a);
	if (!strcmp(a->method, "export") || !strcmp(a->method, "import"))
		return m_transfer(w, h, a);
	if (!strcmp(a->method, "fsck"))
		return m_fsck(w, h, a);
	return 1;
}

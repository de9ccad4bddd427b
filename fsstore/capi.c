/*
 * The stable C API (mreg.h): handles, one JSON call per method, and the
 * handle's state kept between calls. The methods are the library's
 * operations with their arguments taken from a JSON object by name, and
 * their answers written with the writers `--json` uses (core/state.h's
 * mreg_version_write and friends), so a binding sees what a script sees.
 *
 * The cache: the handle holds the state of every model, read at HEAD's
 * commit. A read compares HEAD (two small file reads) with the commit the
 * state was read at and reads the state files again only when they differ;
 * a write through the handle moves HEAD and so refreshes the next read.
 */
#include "capi.h"

#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(MREG_API_ERROR == MREG_ERROR && MREG_API_ENOTFOUND == MREG_ENOTFOUND &&
		       MREG_API_EEXISTS == MREG_EEXISTS && MREG_API_ETRANSITION == MREG_ETRANSITION &&
		       MREG_API_EINVALID == MREG_EINVALID && MREG_API_ELOCKED == MREG_ELOCKED &&
		       MREG_API_EUSAGE == MREG_EUSAGE && MREG_API_ECONFLICT == MREG_ECONFLICT &&
		       MREG_API_ECORRUPT == MREG_ECORRUPT,
	       "the public result codes are the library's");

struct mreg_handle {
	pthread_mutex_t lock;
	char *dir;
	mreg_registry *reader;	/* for HEAD checks and reads; writes open their own */
	mreg_state *st;		/* every model, at head; NULL until a read needs it */
	char head[41];
};

int mreg_api_version(void)
{
	return MREG_API_VERSION;
}

void mreg_free(void *p)
{
	free(p);
}

/* The message of the failure just set, for the caller (error may be NULL). */
static void give_error(char **error)
{
	if (error)
		*error = mreg_strdup(mreg_error_last()[0] ? mreg_error_last() : "unknown error");
}

/* A directory with nothing in it. */
static bool empty_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool empty = d != NULL;
	while (empty && (de = readdir(d)))
		empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
	if (d)
		closedir(d);
	return empty;
}

int mreg_open(mreg_handle **out, const char *dir, int create, char **error)
{
	mreg_handle *h = calloc(1, sizeof(*h));
	int rc;
	*out = NULL;
	if (error)
		*error = NULL;
	if (!h || pthread_mutex_init(&h->lock, NULL)) {
		free(h);
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		give_error(error);
		return rc;
	}
	/* state files are read into the heap: the cached state owns its bytes, whatever the registry maps */
	mreg_fs_set_read_max((size_t)1 << 40);
	if (!dir)
		dir = getenv("MREG_DIR") && *getenv("MREG_DIR") ? getenv("MREG_DIR") : MREG_DEFAULT_DIR;
	if (!(h->dir = mreg_strdup(dir))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	} else if ((rc = mreg_registry_open(&h->reader, dir)) < 0 && create && (rc == MREG_ENOTFOUND || empty_dir(dir))) {
		/* as `mreg init DIR`: a directory that is not there, or is there and empty */
		if ((rc = mreg_registry_init(dir)) == 0)
			rc = mreg_registry_open(&h->reader, dir);
	}
	if (rc < 0) {
		give_error(error);
		mreg_close(h);
		return rc;
	}
	*out = h;
	return 0;
}

void mreg_close(mreg_handle *h)
{
	if (!h)
		return;
	mreg_state_free(h->st);
	mreg_registry_free(h->reader);
	free(h->dir);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

int mreg_handle_state(const mreg_state **out, mreg_handle *h)
{
	char head[41];
	int rc = mreg_head_now(head, h->reader);
	if (rc < 0)
		return rc;
	if (!h->st || strcmp(head, h->head)) {
		mreg_state *st = NULL;
		if ((rc = mreg_read_state(&st, h->reader, NULL, true)) < 0)
			return rc;
		mreg_state_free(h->st);
		h->st = st;
		/* the state read is at least as new as head; a write in between only makes the next call read again */
		memcpy(h->head, head, sizeof(h->head));
	}
	*out = h->st;
	return 0;
}

/* ---- arguments ---------------------------------------------------------- */

int mreg_arg_str(const char **out, const mreg_call_args *a, const char *key, bool required)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(a->args, key);
	*out = NULL;
	if (!v || cJSON_IsNull(v)) {
		if (required)
			return mreg_error_set(MREG_EINVALID, "%s needs '%s'", a->method, key);
		return 0;
	}
	if (!cJSON_IsString(v))
		return mreg_error_set(MREG_EINVALID, "invalid '%s' for %s: expected a string", key, a->method);
	*out = v->valuestring;
	return 0;
}

int mreg_arg_int(int *out, const mreg_call_args *a, const char *key, int dflt, int min, int max)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(a->args, key);
	*out = dflt;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble || v->valuedouble < min ||
	    v->valuedouble > max)
		return mreg_error_set(MREG_EINVALID, "invalid '%s' for %s: expected a whole number from %d to %d", key,
				      a->method, min, max);
	*out = (int)v->valuedouble;
	return 0;
}

int mreg_arg_num(double *out, bool *given, const mreg_call_args *a, const char *key, double min, double max)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(a->args, key);
	*given = false;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= min && v->valuedouble <= max))
		return mreg_error_set(MREG_EINVALID, "invalid '%s' for %s: expected a number from %g to %g", key, a->method,
				      min, max);
	*out = v->valuedouble;
	*given = true;
	return 0;
}

int mreg_arg_bool(bool *out, const mreg_call_args *a, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(a->args, key);
	*out = false;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsBool(v))
		return mreg_error_set(MREG_EINVALID, "invalid '%s' for %s: expected true or false", key, a->method);
	*out = cJSON_IsTrue(v);
	return 0;
}

int mreg_arg_ref(mreg_ref *ref, const mreg_call_args *a)
{
	const char *model;
	int rc;
	memset(ref, 0, sizeof(*ref));
	if ((rc = mreg_arg_str(&model, a, "model", true)) < 0 || (rc = mreg_id_check(model)) < 0 ||
	    (rc = mreg_arg_int(&ref->version, a, "version", 0, 0, 1 << 30)) < 0)
		return rc;
	memcpy(ref->model, model, strlen(model) + 1);
	return 0;
}

int mreg_arg_stage(mreg_stage *out, const mreg_call_args *a, const char *key, bool required)
{
	const char *s;
	int rc = mreg_arg_str(&s, a, key, required);
	*out = MREG_STAGE_NONE;
	if (rc < 0 || !s)
		return rc;
	if ((*out = mreg_stage_parse(s)) == MREG_STAGE_NONE)
		return mreg_error_set(MREG_EINVALID, "invalid stage '%s'", s);
	return 0;
}

int mreg_arg_type(mreg_model_type *out, const mreg_call_args *a)
{
	const char *s;
	int rc = mreg_arg_str(&s, a, "type", false);
	*out = MREG_TYPE_NONE;
	if (rc < 0 || !s)
		return rc;
	if ((*out = mreg_type_parse(s)) == MREG_TYPE_NONE)
		return mreg_error_set(MREG_EINVALID, "invalid model type '%s'", s);
	return 0;
}

int mreg_arg_metrics(mreg_metrics *out, const mreg_call_args *a, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(a->args, key);
	memset(out, 0, sizeof(*out));
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsObject(v))
		return mreg_error_set(MREG_EINVALID, "invalid '%s' for %s: expected an object", key, a->method);
	return mreg_metrics_from_json(out, v, key);
}

/* ---- answers ------------------------------------------------------------ */

/*
 * The version ref names, as show --json writes it, read after a write from
 * that model's state file alone: the cached state is read again at the next
 * read that needs it, not after every write.
 */
static int write_version_of(mreg_jsonw *w, mreg_handle *h, const mreg_ref *ref)
{
	mreg_state *st = NULL;
	mreg_model *m;
	mreg_version *v;
	int rc;
	if ((rc = mreg_read_model(&st, h->reader, ref->model, ref->version)) == 0 &&
	    (rc = mreg_query_version(&m, &v, st, ref)) == 0)
		mreg_version_write(w, NULL, m, v);
	mreg_state_free(st);
	return rc;
}

/* ---- methods ------------------------------------------------------------ */

/* A write through a registry opened for it; the actor argument stands for promoted_by and the like. */
typedef int (*write_fn)(mreg_registry *reg, const mreg_call_args *a, mreg_ref *ref);

int mreg_handle_writer(mreg_registry **out, mreg_handle *h, const mreg_call_args *a)
{
	mreg_registry *reg = NULL;
	const char *actor;
	int rc;
	*out = NULL;
	if ((rc = mreg_arg_str(&actor, a, "actor", false)) < 0 || (rc = mreg_registry_open_write(&reg, h->dir)) < 0)
		return rc;
	if (actor) {
		char *copy = mreg_strdup(actor);
		if (!copy) {
			mreg_registry_free(reg);
			return mreg_error_set(MREG_ERROR, "out of memory");
		}
		free(reg->actor);
		reg->actor = copy;
	}
	*out = reg;
	return 0;
}

mreg_registry *mreg_handle_reader(mreg_handle *h)
{
	return h->reader;
}

/*
 * The write, answered with the version as written: from the state the
 * write ended with, which is what the files now hold, else read again.
 */
static int with_writer(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a, write_fn fn)
{
	mreg_registry *reg = NULL;
	mreg_model *m;
	mreg_version *v;
	mreg_ref ref;
	int rc = mreg_handle_writer(&reg, h, a);
	if (rc == 0) {
		reg->keep_state = true;
		rc = fn(reg, a, &ref);
	}
	if (rc >= 0 && reg->kept && mreg_query_version(&m, &v, reg->kept, &ref) == 0) {
		mreg_version_write(w, NULL, m, v);
		rc = 0;
	} else if (rc >= 0) {
		rc = write_version_of(w, h, &ref);
	}
	mreg_registry_free(reg);
	return rc;
}

static int do_register(mreg_registry *reg, const mreg_call_args *a, mreg_ref *ref)
{
	mreg_register_opts o = MREG_REGISTER_OPTS_INIT;
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(a->args, "tags");
	const char **names = NULL;
	size_t n = 0;
	int rc;
	if ((rc = mreg_arg_str(&o.name, a, "name", true)) < 0 || (rc = mreg_arg_str(&o.file, a, "file", true)) < 0 ||
	    (rc = mreg_arg_str(&o.id, a, "id", false)) < 0 || (rc = mreg_arg_type(&o.type, a)) < 0 ||
	    (rc = mreg_arg_str(&o.description, a, "description", false)) < 0 ||
	    (rc = mreg_arg_stage(&o.stage, a, "stage", false)) < 0 || (rc = mreg_arg_metrics(&o.metrics, a, "metrics")) < 0)
		return rc;
	o.training_config = cJSON_GetObjectItemCaseSensitive(a->args, "training_config");
	if (cJSON_IsNull(o.training_config))
		o.training_config = NULL;
	if (o.training_config && !cJSON_IsObject(o.training_config))
		return mreg_error_set(MREG_EINVALID, "invalid 'training_config' for register: expected an object");
	if (tags && !cJSON_IsNull(tags)) {
		const cJSON *t;
		if (!cJSON_IsArray(tags) || !(names = calloc((size_t)cJSON_GetArraySize(tags) + 1, sizeof(*names))))
			return cJSON_IsArray(tags) ? mreg_error_set(MREG_ERROR, "out of memory")
						   : mreg_error_set(MREG_EINVALID, "invalid 'tags' for register: expected a list");
		cJSON_ArrayForEach(t, tags) {
			if (!cJSON_IsString(t)) {
				free(names);
				return mreg_error_set(MREG_EINVALID, "invalid 'tags' for register: expected strings");
			}
			names[n++] = t->valuestring;
		}
		o.tags = names;
		o.ntags = n;
	}
	memset(ref, 0, sizeof(*ref));
	rc = mreg_register(ref->model, &ref->version, reg, &o);
	free(names);
	return rc;
}

static int do_promote(mreg_registry *reg, const mreg_call_args *a, mreg_ref *ref)
{
	mreg_promote_opts o = MREG_PROMOTE_OPTS_INIT;
	mreg_stage to;
	int rc, version;
	if (!strcmp(a->method, "archive") || !strcmp(a->method, "reject")) {
		to = !strcmp(a->method, "archive") ? MREG_STAGE_ARCHIVED : MREG_STAGE_REJECTED;
		o.same_stage_ok = true;
	} else if ((rc = mreg_arg_stage(&to, a, "to", true)) < 0) {
		return rc;
	}
	if ((rc = mreg_arg_ref(ref, a)) < 0 || (rc = mreg_arg_str(&o.reason, a, "reason", false)) < 0)
		return rc;
	if ((rc = mreg_promote_to(&version, reg, ref, to, &o)) < 0)
		return rc;
	ref->version = version;
	return 0;
}

static int do_metrics(mreg_registry *reg, const mreg_call_args *a, mreg_ref *ref)
{
	mreg_metrics m;
	bool replace;
	int rc;
	if ((rc = mreg_arg_ref(ref, a)) < 0 || (rc = mreg_arg_metrics(&m, a, "metrics")) < 0 || (rc = mreg_arg_bool(&replace, a, "replace")) < 0)
		return rc;
	return mreg_update_metrics(reg, ref, &m, replace);
}

static int do_tag(mreg_registry *reg, const mreg_call_args *a, mreg_ref *ref)
{
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(a->args, "tags"), *t;
	const char *names[MREG_TAGS_MAX];
	size_t n = 0;
	int rc;
	if ((rc = mreg_arg_ref(ref, a)) < 0)
		return rc;
	if (!cJSON_IsArray(tags) || cJSON_GetArraySize(tags) < 1 || cJSON_GetArraySize(tags) > MREG_TAGS_MAX)
		return mreg_error_set(MREG_EINVALID, "%s needs 'tags': a list of 1 to %d tags", a->method, MREG_TAGS_MAX);
	cJSON_ArrayForEach(t, tags) {
		if (!cJSON_IsString(t))
			return mreg_error_set(MREG_EINVALID, "invalid 'tags' for %s: expected strings", a->method);
		names[n++] = t->valuestring;
	}
	return mreg_tag(reg, ref, names, n, !strcmp(a->method, "untag"));
}

/* Methods that write one version and answer with it. */
static int method_version_write(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	static const struct {
		const char *name;
		write_fn fn;
	} table[] = { { "register", do_register }, { "promote", do_promote },	{ "archive", do_promote },
		      { "reject", do_promote },	    { "update_metrics", do_metrics }, { "tag", do_tag },
		      { "untag", do_tag } };
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (!strcmp(table[i].name, a->method))
			return with_writer(w, h, a, table[i].fn);
	return 1;
}

static int method_get(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	const mreg_state *st;
	mreg_model *m;
	mreg_version *v;
	mreg_ref ref;
	int rc;
	if ((rc = mreg_arg_ref(&ref, a)) < 0 || (rc = mreg_handle_state(&st, h)) < 0)
		return rc;
	if (mreg_query_version(&m, &v, st, &ref) < 0) {
		mreg_jsonw_null(w, NULL);	/* the original's get_model: None */
		return 0;
	}
	if (!strcmp(a->method, "history")) {
		mreg_jsonw_arr_begin(w, NULL);
		for (size_t i = 0; i < v->nhistory; i++)
			mreg_transition_write(w, &v->history[i]);
		mreg_jsonw_arr_end(w);
	} else {
		mreg_version_write(w, NULL, m, v);
	}
	return 0;
}

static int method_list(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	mreg_filter f = MREG_FILTER_INIT;
	const mreg_state *st;
	mreg_row *rows = NULL;
	size_t n = 0;
	int rc;
	if ((rc = mreg_arg_stage(&f.stage, a, "stage", false)) < 0 || (rc = mreg_arg_type(&f.type, a)) < 0 ||
	    (rc = mreg_arg_str(&f.tag, a, "tag", false)) < 0 || (rc = mreg_arg_str(&f.model, a, "model", false)) < 0 ||
	    (rc = mreg_handle_state(&st, h)) < 0 || (rc = mreg_query_list(&rows, &n, st, &f)) < 0)
		return rc;
	mreg_jsonw_arr_begin(w, NULL);
	for (size_t i = 0; i < n; i++)
		mreg_version_write(w, NULL, rows[i].model, rows[i].version);
	mreg_jsonw_arr_end(w);
	free(rows);
	return 0;
}

/*
 * events {model, since, limit}: the log in fold order. Without since, the
 * last limit events (as log --limit); with since (an event id, or "" for
 * the start), the first limit events after it: NotFound when since names
 * no event.
 */
static int method_events(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	const char *model, *since;
	mreg_event **evs = NULL;
	size_t n = 0, start = 0, end;
	int limit, rc;
	if ((rc = mreg_arg_str(&model, a, "model", false)) < 0 || (model && (rc = mreg_id_check(model)) < 0) ||
	    (rc = mreg_arg_str(&since, a, "since", false)) < 0 || (rc = mreg_arg_int(&limit, a, "limit", -1, -1, 1 << 30)) < 0 ||
	    (rc = mreg_read_events(&evs, &n, h->reader, model)) < 0)
		return rc;
	end = n;
	if (since && *since) {
		while (start < n && strcmp(evs[start]->id, since))
			start++;
		if (start == n) {
			mreg_events_free(evs, n);
			return mreg_error_set(MREG_ENOTFOUND, "no such event: '%.40s'", since);
		}
		start++;
	}
	if (since && limit >= 0 && (size_t)limit < n - start)
		end = start + (size_t)limit;
	else if (!since && limit >= 0 && (size_t)limit < n)
		start = n - (size_t)limit;
	mreg_jsonw_arr_begin(w, NULL);
	for (size_t i = start; i < end; i++)
		mreg_event_write_summary(w, evs[i]);
	mreg_jsonw_arr_end(w);
	mreg_events_free(evs, n);
	return 0;
}

/* models, production: every model's summary, the production versions (api.c, as mreg serve answers) */
static int method_models(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	const mreg_state *st;
	int rc;
	if ((rc = mreg_handle_state(&st, h)) < 0)
		return rc;
	if (!strcmp(a->method, "models")) {
		mreg_api_models(w, st);
		return 0;
	}
	return mreg_api_production(w, st);
}

/* model {model, version}: the model with every version (version 0 or absent), or one version; null when none */
static int method_model(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	const mreg_state *st;
	mreg_ref ref;
	int rc;
	if ((rc = mreg_arg_ref(&ref, a)) < 0 || (rc = mreg_handle_state(&st, h)) < 0)
		return rc;
	/* the handle's own state: materializing a version is the cache filling in, not a change */
	if ((rc = mreg_api_model(w, h->st, ref.model, ref.version)) == 1) {
		mreg_jsonw_null(w, NULL);
		rc = 0;
	}
	return rc;
}

static int method_status(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a)
{
	const mreg_state *st;
	int rc;
	(void)a;
	if ((rc = mreg_handle_state(&st, h)) < 0)
		return rc;
	mreg_jsonw_obj_begin(w, NULL);
	mreg_jsonw_str(w, "path", mreg_registry_path(h->reader));
	mreg_jsonw_str(w, "head", h->head);
	mreg_jsonw_int(w, "models", (int64_t)st->nmodels);
	mreg_jsonw_int(w, "versions", st->nversions);
	mreg_jsonw_int(w, "events", st->nevents);
	mreg_jsonw_obj_begin(w, "stages");
	for (int i = 0; i < MREG_STAGE_COUNT; i++)
		mreg_jsonw_int(w, mreg_stage_name((mreg_stage)i), st->stage_count[i]);
	mreg_jsonw_obj_end(w);
	mreg_jsonw_int(w, "conflicts", (int64_t)st->nconflicts);
	mreg_jsonw_obj_end(w);
	return 0;
}

typedef int (*method_fn)(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a);

static const struct {
	const char *name;
	method_fn fn;
} methods[] = {
	{ "get", method_get },		{ "history", method_get }, { "list", method_list },
	{ "events", method_events },	{ "status", method_status }, { "models", method_models },
	{ "production", method_models }, { "model", method_model },
};

int mreg_call(mreg_handle *h, const char *method, const char *args, char **result, char **error)
{
	mreg_buf out = MREG_BUF_INIT;
	mreg_jsonw w;
	cJSON *doc = NULL;
	int rc = 1;
	*result = NULL;
	if (error)
		*error = NULL;
	if (!h || !method) {
		rc = mreg_error_set(MREG_EUSAGE, "mreg_call needs a handle and a method");
		give_error(error);
		return rc;
	}
	if (args && !(doc = cJSON_Parse(args))) {
		rc = mreg_error_set(MREG_EINVALID, "invalid arguments for %s: not JSON", method);
	} else if (doc && !cJSON_IsObject(doc)) {
		rc = mreg_error_set(MREG_EINVALID, "invalid arguments for %s: not a JSON object", method);
	}
	if (rc < 0) {
		cJSON_Delete(doc);
		give_error(error);
		return rc;
	}
	mreg_call_args a = { doc, method };
	mreg_jsonw_init(&w, &out);
	pthread_mutex_lock(&h->lock);
	rc = method_version_write(&w, h, &a);
	if (rc == 1)
		rc = mreg_capi_lifecycle(&w, h, &a);
	if (rc == 1)
		rc = mreg_capi_ops(&w, h, &a);
	for (size_t i = 0; rc == 1 && i < sizeof(methods) / sizeof(methods[0]); i++)
		if (!strcmp(methods[i].name, method))
			rc = methods[i].fn(&w, h, &a);
	pthread_mutex_unlock(&h->lock);
	if (rc == 1)
		rc = mreg_error_set(MREG_EUSAGE, "unknown method '%s'", method);
	if (rc == 0 && mreg_jsonw_finish(&w) < 0)
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	if (rc == 0 && !(*result = mreg_buf_detach(&out)))
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	if (rc < 0)
		give_error(error);
	mreg_buf_dispose(&out);
	cJSON_Delete(doc);
	return rc;
}

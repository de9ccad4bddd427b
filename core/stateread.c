/*
 * State files read back in full: the readers that trust nothing. A file
 * that does not parse or lacks a field is MREG_ECORRUPT, and the caller
 * folds from the log instead. They read what statefile.c writes; the lazy
 * readers of the fast road (statelazy.c) hand them any file not in that
 * writer's exact layout.
 */
#include "state.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Also in statelazy.c: the two change together. */
#define BAD(what) mreg_error_set(MREG_ECORRUPT, "corrupt state file: %s", what)

static const char *str_of(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A model's name, description and type, from any object that carries them. */
static int read_model_names(mreg_model *m, const cJSON *o)
{
	free(m->name);	/* a row read again after a read that failed half way */
	free(m->description);
	m->name = mreg_strdup(str_of(o, "name"));
	m->description = mreg_strdup(str_of(o, "description"));
	m->type = mreg_type_parse(str_of(o, "model_type"));
	return m->name && m->description && m->type != MREG_TYPE_NONE ? 0 : -1;
}

static int copy_fixed(char *dst, size_t size, const cJSON *o, const char *k)
{
	const char *s = str_of(o, k);
	if (!s || strlen(s) >= size)
		return BAD(k);
	strcpy(dst, s);
	return 0;
}

static int int_of(int64_t *out, const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	/* in range before the cast: a double past int64_t's range has no defined conversion */
	if (!cJSON_IsNumber(v) ||
	    !(v->valuedouble >= -9223372036854775808.0 && v->valuedouble < 9223372036854775808.0))
		return BAD(k);
	*out = (int64_t)v->valuedouble;
	return 0;
}

static int read_version(mreg_version *v, cJSON *o);

/* Detach key from doc into *out: an object (or array); empty ones stay NULL. */
static int take_json(cJSON **out, cJSON *doc, const char *key, bool array)
{
	cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(doc, key);
	if (!v || (array ? !cJSON_IsArray(v) : !cJSON_IsObject(v))) {
		cJSON_Delete(v);
		return BAD(key);
	}
	if (!v->child)
		cJSON_Delete(v);
	else
		*out = v;
	return 0;
}

/* The conflicts array of registry.json into st. */
static int read_conflicts(mreg_state *st, const cJSON *o)
{
	const cJSON *c;
	int64_t n = 0;
	int rc;
	if (!cJSON_IsArray(o))
		return BAD("conflicts");
	cJSON_ArrayForEach(c, o) {
		if (st->nconflicts == st->aconflicts) {
			size_t a = st->aconflicts ? st->aconflicts * 2 : 8;
			mreg_conflict *p = realloc(st->conflicts, a * sizeof(*p));
			if (!p)
				return mreg_error_set(MREG_ERROR, "out of memory");
			st->conflicts = p;
			st->aconflicts = a;
		}
		mreg_conflict *k = &st->conflicts[st->nconflicts++];
		memset(k, 0, sizeof(*k));
		if ((rc = copy_fixed(k->event, sizeof(k->event), c, "event")) < 0 ||
		    (rc = copy_fixed(k->time, sizeof(k->time), c, "time")) < 0 || (rc = int_of(&n, c, "version")) < 0)
			return rc;
		k->version = (int)n;
		k->type = mreg_strdup(str_of(c, "type"));
		k->model = mreg_strdup(str_of(c, "model_id"));
		k->message = mreg_strdup(str_of(c, "message"));
		k->actor = mreg_strdup(str_of(c, "actor"));
		if (!k->type || !k->model || !k->message || !k->actor)
			return BAD("conflict");
	}
	return 0;
}

/* One row of registry.json's model_list into m (its id aside). */
static int read_model_row(mreg_model *m, const cJSON *c)
{
	int64_t n = 0;
	int rc = 0;
	if (read_model_names(m, c) < 0 ||
	    (rc = copy_fixed(m->created_at, sizeof(m->created_at), c, "created_at")) < 0 ||
	    (rc = copy_fixed(m->updated_at, sizeof(m->updated_at), c, "updated_at")) < 0 ||
	    (rc = copy_fixed(m->last_event, sizeof(m->last_event), c, "last_event")) < 0 ||
	    (rc = int_of(&m->clock, c, "clock")) < 0 || (rc = int_of(&n, c, "versions")) < 0)
		return rc < 0 ? rc : BAD("model row");
	m->nversions = (int)n;
	if ((rc = int_of(&n, c, "production_version")) < 0)
		return rc;
	m->summary_prod = (int)n;
	if ((rc = int_of(&n, c, "latest_version")) < 0)
		return rc;
	m->latest = (int)n;
	return 0;
}

/* The model_list array of registry.json into st: one summary row per model, none loaded. */
static int read_model_rows(mreg_state *st, const cJSON *o)
{
	const cJSON *c;
	int rc = 0;
	if (!cJSON_IsArray(o))
		return BAD("model_list");
	cJSON_ArrayForEach(c, o) {
		mreg_model *m;
		const char *id = str_of(c, "model_id");
		if (!id)
			return BAD("model_id");
		if (st->nmodels && strcmp(st->models[st->nmodels - 1]->id, id) >= 0)
			return BAD("model_list is not sorted");
		if ((rc = mreg_state_model_add(&m, st, id)) < 0)
			return rc;
		m->loaded = false;
		if ((rc = read_model_row(m, c)) < 0)
			return rc;
	}
	return 0;
}

int mreg_model_row_materialize(mreg_model *m)
{
	if (!m->row)
		return 0;
	cJSON *doc = cJSON_ParseWithLength(m->row, m->rowlen);
	const char *id = str_of(doc, "model_id");
	int rc = !id || strcmp(id, m->id) ? BAD("model row") : read_model_row(m, doc);
	cJSON_Delete(doc);
	if (rc == 0)
		m->row = NULL;
	return rc;
}

int mreg_state_read_registry(mreg_state **out, const char *data, size_t len)
{
	mreg_state *st = NULL;
	cJSON *doc = cJSON_ParseWithLength(data, len);
	int rc;

	*out = NULL;
	if (!cJSON_IsObject(doc))
		rc = BAD("registry.json does not parse");
	else if ((rc = mreg_state_new(&st)) == 0 && (rc = mreg_state_read_registry_head(st, doc)) == 0)
		rc = read_model_rows(st, cJSON_GetObjectItemCaseSensitive(doc, "model_list"));
	if (rc == 0) {
		*out = st;
		st = NULL;
	}
	cJSON_Delete(doc);
	mreg_state_free(st);
	return rc;
}

int mreg_state_read_registry_head(mreg_state *st, cJSON *doc)
{
	const cJSON *c, *o;
	int rc;
	int64_t format = 0;
	if (int_of(&format, doc, "format") < 0 || format != MREG_STATE_FORMAT)
		return BAD("registry.json has another format");
	if ((rc = copy_fixed(st->tree, sizeof(st->tree), doc, "tree")) < 0 ||
	    (rc = copy_fixed(st->production_digest, sizeof(st->production_digest), doc, "production_digest")) < 0 ||
	    (rc = int_of(&st->clock, doc, "clock")) < 0 ||
	    (rc = copy_fixed(st->last_event, sizeof(st->last_event), doc, "last_event")) < 0 ||
	    (rc = int_of(&st->nevents, doc, "events")) < 0 || (rc = int_of(&st->nversions, doc, "versions")) < 0)
		return rc;
	o = cJSON_GetObjectItemCaseSensitive(doc, "event_types");
	for (int i = 0; i < MREG_EV_COUNT; i++)
		if ((rc = int_of(&st->by_type[i], o, mreg_event_type_name((mreg_event_type)i))) < 0)
			return rc;
	o = cJSON_GetObjectItemCaseSensitive(doc, "stages");
	for (int i = 0; i < MREG_STAGE_COUNT; i++)
		if ((rc = int_of(&st->stage_count[i], o, mreg_stage_name((mreg_stage)i))) < 0)
			return rc;
	o = cJSON_GetObjectItemCaseSensitive(doc, "types");
	for (int i = 0; i < MREG_TYPE_COUNT; i++)
		if ((rc = int_of(&st->type_count[i], o, mreg_type_name((mreg_model_type)i))) < 0)
			return rc;
	if ((rc = read_conflicts(st, cJSON_GetObjectItemCaseSensitive(doc, "conflicts"))) < 0)
		return rc;
	o = cJSON_GetObjectItemCaseSensitive(doc, "quarantined");
	if (!cJSON_IsArray(o))
		return BAD("quarantined");
	cJSON_ArrayForEach(c, o) {
		const char *path = str_of(c, "path"), *problem = str_of(c, "problem");
		if (!path || !problem)
			return BAD("quarantined");
		if ((rc = mreg_state_quarantine(st, path, problem)) < 0)
			return rc;
	}
	if ((rc = int_of(&st->nfiles, doc, "event_files")) < 0 || (rc = int_of(&st->forged_clock, doc, "forged_clock")) < 0)
		return rc;
	if ((rc = take_json(&st->baselines, doc, "baselines", false)) < 0 ||
	    (rc = take_json(&st->pending, doc, "pending_rollbacks", false)) < 0 ||
	    (rc = take_json(&st->rollbacks, doc, "rollbacks", true)) < 0 ||
	    (rc = take_json(&st->monitor, doc, "monitor", false)) < 0)
		return rc;
	return 0;
}

static int read_transition(mreg_transition *t, const cJSON *o)
{
	const cJSON *from = cJSON_GetObjectItemCaseSensitive(o, "from_stage");
	t->from = cJSON_IsNull(from) ? MREG_STAGE_NONE : mreg_stage_parse(str_of(o, "from_stage"));
	t->to = mreg_stage_parse(str_of(o, "to_stage"));
	t->reason = mreg_strdup(str_of(o, "reason"));
	t->by = mreg_strdup(str_of(o, "transitioned_by"));
	if ((!cJSON_IsNull(from) && t->from == MREG_STAGE_NONE) || t->to == MREG_STAGE_NONE || !t->reason ||
	    !t->by)
		return BAD("history row");
	int rc;
	if ((rc = copy_fixed(t->at, sizeof(t->at), o, "transitioned_at")) < 0 ||
	    (rc = copy_fixed(t->event, sizeof(t->event), o, "event")) < 0)
		return rc;
	t->rollback = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "rollback"));
	return 0;
}

static int read_version(mreg_version *v, cJSON *o)
{
	int64_t n = 0;
	int rc;
	const cJSON *c, *arr;
	if ((rc = int_of(&n, o, "version")) < 0)
		return rc;
	v->version = (int)n;
	if ((rc = int_of(&n, o, "claimed_version")) < 0)
		return rc;
	v->claimed = (int)n;
	if ((rc = copy_fixed(v->ref, sizeof(v->ref), o, "ref")) < 0 ||
	    (rc = copy_fixed(v->file_hash, sizeof(v->file_hash), o, "file_hash")) < 0 ||
	    (rc = copy_fixed(v->created_at, sizeof(v->created_at), o, "created_at")) < 0 ||
	    (rc = copy_fixed(v->updated_at, sizeof(v->updated_at), o, "updated_at")) < 0 ||
	    (rc = int_of(&v->file_size, o, "file_size_bytes")) < 0)
		return rc;
	if ((v->stage = mreg_stage_parse(str_of(o, "stage"))) == MREG_STAGE_NONE)
		return BAD("stage");
	if (!(v->file_path = mreg_strdup(str_of(o, "file_path"))))
		return BAD("file_path");
	const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(o, "metrics");
	if (mreg_metrics_from_json(&v->metrics, metrics, NULL) < 0)
		return BAD("metrics");
	v->metrics.present |= 1u << MREG_METRIC_GAMES_PLAYED;
	cJSON *cfg = cJSON_DetachItemFromObjectCaseSensitive(o, "training_config");
	if (!cJSON_IsObject(cfg)) {
		cJSON_Delete(cfg);
		return BAD("training_config");
	}
	rc = mreg_version_set_config(v, cfg);
	cJSON_Delete(cfg);
	if (rc < 0)
		return rc;
	cJSON *val = cJSON_DetachItemFromObjectCaseSensitive(o, "validation");
	if (val && !cJSON_IsNull(val))
		v->validation = val;
	else
		cJSON_Delete(val);
	cJSON *cmp = cJSON_DetachItemFromObjectCaseSensitive(o, "comparisons");
	if (!cJSON_IsArray(cmp)) {
		cJSON_Delete(cmp);
		return BAD("comparisons");
	}
	if (cmp->child)
		v->comparisons = cmp;
	else
		cJSON_Delete(cmp);
	arr = cJSON_GetObjectItemCaseSensitive(o, "tags");
	if (!cJSON_IsArray(arr))
		return BAD("tags");
	int nt = cJSON_GetArraySize(arr);
	if (nt && !(v->tags = calloc((size_t)nt, sizeof(char *))))
		return mreg_error_set(MREG_ERROR, "out of memory");
	cJSON_ArrayForEach(c, arr) {
		if (!cJSON_IsString(c) || !(v->tags[v->ntags] = mreg_strdup(c->valuestring)))
			return BAD("tag");
		v->ntags++;
	}
	arr = cJSON_GetObjectItemCaseSensitive(o, "history");
	int nh = cJSON_GetArraySize(arr);
	if (!cJSON_IsArray(arr) || nh == 0)
		return BAD("history");
	if (!(v->history = calloc((size_t)nh, sizeof(*v->history))))
		return mreg_error_set(MREG_ERROR, "out of memory");
	cJSON_ArrayForEach(c, arr) {
		if ((rc = read_transition(&v->history[v->nhistory++], c)) < 0)
			return rc;
	}
	return 0;
}

/* Versions of one model file into m; with a summary, the file must agree with it. */
static int read_model_doc(mreg_model *m, cJSON *doc, bool summary)
{
	cJSON *c;
	int rc = 0;
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(doc, "versions");
	int n = cJSON_GetArraySize(arr);
	const char *last = str_of(doc, "last_event");
	const cJSON *format = cJSON_GetObjectItemCaseSensitive(doc, "format");

	if (!cJSON_IsNumber(format) || format->valuedouble != MREG_STATE_FORMAT)
		return BAD("model file has another format");
	if (summary && (rc = mreg_model_row_materialize(m)) < 0)
		return rc;
	mreg_model_unload(m);
	if (!cJSON_IsArray(arr) || (summary && n != m->nversions))
		return BAD("model file does not match the registry summary");
	if (!last || (summary && strcmp(last, m->last_event)))
		return BAD("model file is older than the registry summary");
	m->loaded = true;
	if (n && !(m->versions = calloc((size_t)n, sizeof(*m->versions)))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	m->aversions = (size_t)n;
	m->nversions = 0;
	cJSON_ArrayForEach(c, arr) {
		m->nversions++;
		if ((rc = read_version(&m->versions[m->nversions - 1], c)) < 0)
			goto done;
	}
	if (!summary) {
		/* standing alone: the summary comes from the file itself */
		int64_t clock = 0;
		if ((rc = int_of(&clock, doc, "clock")) < 0 ||
		    (rc = copy_fixed(m->last_event, sizeof(m->last_event), doc, "last_event")) < 0 ||
		    (rc = copy_fixed(m->created_at, sizeof(m->created_at), doc, "created_at")) < 0 ||
		    (rc = copy_fixed(m->updated_at, sizeof(m->updated_at), doc, "updated_at")) < 0)
			goto done;
		m->clock = clock;
		if (read_model_names(m, doc) < 0) {
			rc = BAD("model file lacks name, type or description");
			goto done;
		}
		m->latest = m->nversions ? m->versions[m->nversions - 1].version : 0;
		for (int i = 0; i < m->nversions; i++)	/* a second one is for the invariant check to refuse */
			if (m->versions[i].stage == MREG_STAGE_PRODUCTION && !m->prod &&
			    !(m->prod = mreg_version_dup(&m->versions[i]))) {
				rc = mreg_error_set(MREG_ERROR, "out of memory");
				goto done;
			}
	} else if ((rc = mreg_model_prod_from_versions(m)) < 0) {
		goto done;
	}
	rc = mreg_state_check_model(m);
done:
	if (rc < 0) {
		int keep = n > 0 ? n : m->nversions;
		mreg_model_unload(m);
		m->nversions = keep;
	}
	return rc;
}

int mreg_version_materialize(mreg_version *v)
{
	mreg_version *full;
	int rc;
	if (!v->raw)
		return 0;
	if (!(full = calloc(1, sizeof(*full))))
		return mreg_error_set(MREG_ERROR, "out of memory");
	cJSON *doc = cJSON_ParseWithLength(v->raw, v->rawlen);
	rc = doc ? read_version(full, doc) : BAD("version in a model file does not parse");
	cJSON_Delete(doc);
	if (rc < 0) {
		mreg_version_free(full);
		return rc;
	}
	if (v->rawowned)
		free((char *)v->raw);
	*v = *full;
	free(full);
	return 0;
}

int mreg_state_read_model(mreg_state *st, const char *data, size_t len, bool lazy)
{
	if (lazy) {
		char *copy = malloc(len + 1);
		if (!copy)
			return mreg_error_set(MREG_ERROR, "out of memory");
		memcpy(copy, data, len);
		copy[len] = '\0';
		return mreg_state_adopt_model(st, copy, len);
	}
	cJSON *doc = cJSON_ParseWithLength(data, len);
	const char *id = str_of(doc, "model_id");
	mreg_model *m = id ? mreg_state_model(st, id) : NULL;
	int rc = m ? read_model_doc(m, doc, true)
		   : BAD(id ? "model file for a model the registry does not list" : "model file does not parse");
	cJSON_Delete(doc);
	return rc;
}

int mreg_state_read_model_alone(mreg_state **out, const char *data, size_t len)
{
	cJSON *doc = cJSON_ParseWithLength(data, len);
	const char *id = str_of(doc, "model_id");
	mreg_state *st = NULL;
	mreg_model *m = NULL;
	int rc;

	*out = NULL;
	if (!id || mreg_id_problem(id))
		rc = BAD("model file does not parse");
	else if ((rc = mreg_state_new(&st)) == 0 && (rc = mreg_state_model_add(&m, st, id)) == 0)
		rc = read_model_doc(m, doc, false);
	cJSON_Delete(doc);
	if (rc < 0) {
		mreg_state_free(st);
		return rc;
	}
	*out = st;
	return 0;
}

/* A number that starts at p, read without looking past end (data may be a mapped file). */
int mreg_state_read_production(mreg_state **out, const char *data, size_t len)
{
	cJSON *doc = cJSON_ParseWithLength(data, len);
	mreg_state *st = NULL;
	cJSON *c;
	int rc;

	*out = NULL;
	const cJSON *format = cJSON_GetObjectItemCaseSensitive(doc, "format");
	const cJSON *models = cJSON_GetObjectItemCaseSensitive(doc, "models");
	if (!cJSON_IsNumber(format) || format->valuedouble != MREG_STATE_FORMAT || !cJSON_IsObject(models)) {
		rc = BAD("production.json does not parse or has another format");
		goto done;
	}
	if ((rc = mreg_state_new(&st)) < 0)
		goto done;
	cJSON_ArrayForEach(c, models) {
		mreg_model *m;
		if (!c->string || mreg_id_problem(c->string)) {
			rc = BAD("production.json model id");
			goto done;
		}
		if ((rc = mreg_state_model_add(&m, st, c->string)) < 0)
			goto done;
		if (m->prod) {
			rc = BAD("production.json lists a model twice");
			goto done;
		}
		m->loaded = false;
		if (read_model_names(m, c) < 0) {
			rc = BAD("production.json version");
			goto done;
		}
		if (!(m->prod = calloc(1, sizeof(*m->prod)))) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
			goto done;
		}
		if ((rc = read_version(m->prod, c)) < 0)
			goto done;
		m->latest = m->prod->version;	/* at least; the summary is not here */
	}
	*out = st;
	st = NULL;
	rc = 0;
done:
	mreg_state_free(st);
	cJSON_Delete(doc);
	return rc;
}

int mreg_state_attach_production(mreg_state *st, const char *data, size_t len, bool lazy)
{
	mreg_state *p = NULL;
	int rc = lazy ? mreg_state_borrow_production(&p, data, len) : 1;
	if (rc == 1)
		rc = mreg_state_read_production(&p, data, len);
	if (rc < 0)
		return rc;
	char digest[33];
	mreg_hash128(digest, data, len);
	if (strcmp(digest, st->production_digest)) {
		rc = BAD("production.json is not the one registry.json names");
		goto done;
	}
	for (size_t i = 0; i < p->nmodels; i++) {
		mreg_model *pm = p->models[i], *m = mreg_state_model(st, pm->id);
		if (!m || !pm->prod || m->summary_prod != pm->prod->version) {
			rc = BAD("production.json does not match the registry summary");
			goto done;
		}
		mreg_version_free(m->prod);
		m->prod = pm->prod;
		pm->prod = NULL;
	}
	for (size_t i = 0; i < st->nmodels; i++)
		if (st->models[i]->summary_prod && !st->models[i]->prod) {
			rc = BAD("production.json lacks a production version of the registry summary");
			goto done;
		}
	rc = 0;
done:
	mreg_state_free(p);
	return rc;
}

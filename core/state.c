/*
 * The state as a data structure: making and freeing states, models and
 * versions, finding a model by id and a version by number or by ref, the
 * list of quarantined event files, and the invariants every model keeps
 * (numbered as in state.h; mreg_state_check_model asserts them after every
 * event the fold applies and every model file read back). What an event
 * does to a state is fold.c's; how a state is written and read back,
 * statefile.c's (writers), stateread.c's and statelazy.c's (readers).
 */
#include "state.h"

#include <stdlib.h>
#include <string.h>

int mreg_state_new(mreg_state **out)
{
	*out = calloc(1, sizeof(mreg_state));
	return *out ? 0 : mreg_error_set(MREG_ERROR, "out of memory");
}

/*
 * The validation every policy-value version registered into development or
 * staging starts with, one object for them all: at a million events it was
 * a tenth of a fold's heap (250,000 copies of eight nodes and their keys).
 * It is never written to nor freed: a step of a validation replaces it with
 * a copy of its own (mreg_validation_own), and disposing of a version leaves
 * it be. Static, so threads and states share it without a lock.
 */
#define PENDING_KEY(k) ((char *)(k))
static cJSON pending_members[7] = {
	{ &pending_members[1], &pending_members[6], NULL, cJSON_String | cJSON_StringIsConst, PENDING_KEY("pending"), 0, 0,
	  PENDING_KEY("status") },
	{ &pending_members[2], &pending_members[0], NULL, cJSON_NULL | cJSON_StringIsConst, NULL, 0, 0,
	  PENDING_KEY("work_id") },
	{ &pending_members[3], &pending_members[1], NULL, cJSON_Array | cJSON_StringIsConst, NULL, 0, 0,
	  PENDING_KEY("baselines") },
	{ &pending_members[4], &pending_members[2], NULL, cJSON_Number | cJSON_StringIsConst, NULL, 50, 50,
	  PENDING_KEY("games_per_matchup") },
	{ &pending_members[5], &pending_members[3], NULL, cJSON_NULL | cJSON_StringIsConst, NULL, 0, 0,
	  PENDING_KEY("results") },
	{ &pending_members[6], &pending_members[4], NULL, cJSON_NULL | cJSON_StringIsConst, NULL, 0, 0,
	  PENDING_KEY("started_at") },
	{ NULL, &pending_members[5], NULL, cJSON_NULL | cJSON_StringIsConst, NULL, 0, 0, PENDING_KEY("completed_at") },
};
static cJSON pending = { NULL, NULL, &pending_members[0], cJSON_Object, NULL, 0, 0, NULL };

cJSON *mreg_validation_pending(void)
{
	return &pending;
}

int mreg_validation_own(mreg_version *v)
{
	if (v->validation != &pending)
		return 0;
	cJSON *copy = cJSON_Duplicate(&pending, 1);
	if (!copy)
		return mreg_error_set(MREG_ERROR, "out of memory");
	v->validation = copy;
	return 0;
}

void mreg_validation_free(cJSON *validation)
{
	if (validation != &pending)
		cJSON_Delete(validation);
}

static void transition_dispose(mreg_transition *t)
{
	free(t->reason);
	free(t->by);
}

static void version_dispose(mreg_version *v)
{
	if (!v)
		return;
	if (v->rawowned)
		free((char *)v->raw);
	free(v->file_path);
	free(v->training_config);
	for (size_t i = 0; i < v->ntags; i++)
		free(v->tags[i]);
	free(v->tags);
	for (size_t i = 0; i < v->nhistory; i++)
		transition_dispose(&v->history[i]);
	free(v->history);
	mreg_validation_free(v->validation);
	cJSON_Delete(v->comparisons);
}

int mreg_config_render(char **out, size_t *len, const cJSON *config)
{
	mreg_buf b = MREG_BUF_INIT;
	int rc = mreg_jsonw_render_at(&b, config, MREG_CONFIG_DEPTH);
	*len = b.size;
	*out = rc == 0 ? mreg_buf_detach(&b) : NULL;
	mreg_buf_dispose(&b);
	return rc < 0 ? rc : *out ? 0 : mreg_error_set(MREG_ERROR, "out of memory");
}

int mreg_version_set_config(mreg_version *v, const cJSON *config)
{
	char *bytes;
	size_t len;
	int rc = mreg_config_render(&bytes, &len, config);
	if (rc < 0)
		return rc;
	free(v->training_config);
	v->training_config = bytes;
	v->training_config_len = len;
	return 0;
}

cJSON *mreg_version_config(const mreg_version *v)
{
	return v->training_config ? cJSON_ParseWithLength(v->training_config, v->training_config_len) : NULL;
}

void mreg_version_write_config(mreg_jsonw *w, const char *key, const mreg_version *v)
{
	if (!v->training_config) {
		mreg_jsonw_null(w, key);
	} else if (w->depth <= MREG_CONFIG_DEPTH) {
		mreg_jsonw_raw_at(w, key, v->training_config, v->training_config_len, MREG_CONFIG_DEPTH);
	} else {
		/* deeper than a state file has it: written again from its value */
		cJSON *c = mreg_version_config(v);
		if (c)
			mreg_jsonw_value(w, key, c);
		else
			w->out->oom = 1;
		cJSON_Delete(c);
	}
}

void mreg_version_free(mreg_version *v)
{
	version_dispose(v);
	free(v);
}

mreg_version *mreg_version_dup(const mreg_version *v)
{
	mreg_version *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	*d = *v;
	d->file_path = NULL;
	d->training_config = NULL;
	d->tags = NULL;
	d->ntags = 0;
	d->history = NULL;
	d->nhistory = 0;
	d->validation = NULL;
	d->comparisons = NULL;
	d->raw = NULL;
	d->rawowned = false;
	if (v->raw) {
		char *copy = malloc(v->rawlen + 1);
		if (!copy)
			goto fail;
		memcpy(copy, v->raw, v->rawlen);
		copy[v->rawlen] = '\0';
		d->raw = copy;
		d->rawowned = true;
		return d;	/* the rest is in the bytes */
	}
	if (!(d->file_path = mreg_strdup(v->file_path)))
		goto fail;
	if (v->training_config) {
		if (!(d->training_config = malloc(v->training_config_len + 1)))
			goto fail;
		memcpy(d->training_config, v->training_config, v->training_config_len + 1);
	}
	if (v->validation == &pending)
		d->validation = &pending;
	else if (v->validation && !(d->validation = cJSON_Duplicate(v->validation, 1)))
		goto fail;
	if (v->comparisons && !(d->comparisons = cJSON_Duplicate(v->comparisons, 1)))
		goto fail;
	if (v->ntags && !(d->tags = calloc(v->ntags, sizeof(char *))))
		goto fail;
	for (; d->ntags < v->ntags; d->ntags++)
		if (!(d->tags[d->ntags] = mreg_strdup(v->tags[d->ntags])))
			goto fail;
	if (v->nhistory && !(d->history = calloc(v->nhistory, sizeof(*d->history))))
		goto fail;
	for (; d->nhistory < v->nhistory; d->nhistory++) {
		mreg_transition *t = &d->history[d->nhistory];
		*t = v->history[d->nhistory];
		t->reason = mreg_strdup(t->reason);
		t->by = mreg_strdup(t->by);
		if (!t->reason || !t->by) {
			d->nhistory++;
			goto fail;
		}
	}
	return d;
fail:
	mreg_version_free(d);
	return NULL;
}

int mreg_model_prod_from_versions(mreg_model *m)
{
	if (m->prod || !m->summary_prod)
		return 0;
	mreg_version *v = mreg_model_version(m, m->summary_prod);
	if (!v || v->stage != MREG_STAGE_PRODUCTION)
		return mreg_error_set(MREG_ECORRUPT, "corrupt state file: production version %d of '%s' is not in its file",
				      m->summary_prod, m->id);
	if (!(m->prod = mreg_version_dup(v)))
		return mreg_error_set(MREG_ERROR, "out of memory");
	return 0;
}

void mreg_model_unload(mreg_model *m)
{
	if (!m->loaded)
		return;
	for (int i = 0; i < m->nversions; i++)
		version_dispose(&m->versions[i]);
	free(m->versions);
	m->versions = NULL;
	m->aversions = 0;
	free(m->rawbuf);
	m->rawbuf = NULL;
	m->rawsrc = NULL;
	m->rawsrclen = 0;
	m->loaded = false;
	m->dirty = false;
}

static void model_free(mreg_model *m)
{
	if (!m)
		return;
	mreg_model_unload(m);
	free(m->id);
	free(m->name);
	free(m->description);
	mreg_version_free(m->prod);
	free(m);
}

void mreg_state_free(mreg_state *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->nmodels; i++)
		model_free(st->models[i]);
	free(st->models);
	for (size_t i = 0; i < st->nconflicts; i++) {
		free(st->conflicts[i].type);
		free(st->conflicts[i].model);
		free(st->conflicts[i].message);
		free(st->conflicts[i].actor);
	}
	free(st->conflicts);
	for (size_t i = 0; i < st->nquarantined; i++) {
		free(st->quarantined[i].path);
		free(st->quarantined[i].problem);
	}
	free(st->quarantined);
	free(st->rowbuf);
	cJSON_Delete(st->baselines);
	cJSON_Delete(st->pending);
	cJSON_Delete(st->rollbacks);
	cJSON_Delete(st->monitor);
	free(st);
}

int mreg_state_quarantine(mreg_state *st, const char *path, const char *problem)
{
	size_t lo = 0, hi = st->nquarantined;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(st->quarantined[mid].path, path);
		if (c == 0)
			return 0;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (st->nquarantined == st->aquarantined) {
		size_t a = st->aquarantined ? st->aquarantined * 2 : 8;
		mreg_quarantined *p = realloc(st->quarantined, a * sizeof(*p));
		if (!p)
			return mreg_error_set(MREG_ERROR, "out of memory");
		st->quarantined = p;
		st->aquarantined = a;
	}
	mreg_quarantined q = { mreg_strdup(path), mreg_strdup(problem) };
	if (!q.path || !q.problem) {
		free(q.path);
		free(q.problem);
		return mreg_error_set(MREG_ERROR, "out of memory");
	}
	memmove(&st->quarantined[lo + 1], &st->quarantined[lo], (st->nquarantined - lo) * sizeof(q));
	st->quarantined[lo] = q;
	st->nquarantined++;
	return 0;
}

void mreg_state_unquarantine(mreg_state *st, const char *path)
{
	size_t k = 0;
	for (size_t i = 0; i < st->nquarantined; i++) {
		if (!strcmp(st->quarantined[i].path, path)) {
			free(st->quarantined[i].path);
			free(st->quarantined[i].problem);
			st->nfiles--;	/* it was one of the files under events/ */
			continue;
		}
		st->quarantined[k++] = st->quarantined[i];
	}
	st->nquarantined = k;
}

static size_t model_pos(const mreg_state *st, const char *id, bool *found)
{
	size_t lo = 0, hi = st->nmodels;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(st->models[mid]->id, id);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

mreg_model *mreg_state_model(const mreg_state *st, const char *id)
{
	bool found;
	size_t i = model_pos(st, id, &found);
	return found ? st->models[i] : NULL;
}

int mreg_state_model_add(mreg_model **out, mreg_state *st, const char *id)
{
	bool found = false;
	/* ids that come in order (a state file's rows) go at the end without a search */
	size_t i = st->nmodels && strcmp(st->models[st->nmodels - 1]->id, id) < 0 ? st->nmodels : model_pos(st, id, &found);
	if (found) {
		*out = st->models[i];
		return 0;
	}
	if (st->nmodels == st->amodels) {
		size_t n = st->amodels ? st->amodels * 2 : 16;
		mreg_model **p = realloc(st->models, n * sizeof(*p));
		if (!p)
			return mreg_error_set(MREG_ERROR, "out of memory");
		st->models = p;
		st->amodels = n;
	}
	mreg_model *m = calloc(1, sizeof(*m));
	if (!m || !(m->id = mreg_strdup(id))) {
		free(m);
		return mreg_error_set(MREG_ERROR, "out of memory");
	}
	m->type = MREG_TYPE_NONE;
	m->loaded = true;
	memmove(st->models + i + 1, st->models + i, (st->nmodels - i) * sizeof(*st->models));
	st->models[i] = m;
	st->nmodels++;
	*out = m;
	return 0;
}

mreg_version *mreg_model_version(const mreg_model *m, int version)
{
	if (!m->loaded || m->nversions == 0)
		return NULL;
	if (version == 0)
		return &m->versions[m->nversions - 1];
	/* numbers are dense unless renumbering left a gap: try the direct slot first */
	if (version <= m->nversions && m->versions[version - 1].version == version)
		return &m->versions[version - 1];
	size_t lo = 0, hi = (size_t)m->nversions;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (m->versions[mid].version == version)
			return &m->versions[mid];
		if (m->versions[mid].version < version)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

mreg_version *mreg_model_version_by_ref(const mreg_model *m, const char *ref, int hint)
{
	if (!m->loaded)
		return NULL;
	mreg_version *v = hint > 0 ? mreg_model_version(m, hint) : NULL;
	if (v && !strcmp(v->ref, ref))
		return v;
	for (int i = 0; i < m->nversions; i++)
		if (!strcmp(m->versions[i].ref, ref))
			return &m->versions[i];
	return NULL;
}

/* ---- the invariants ------------------------------------------------- */

/* Invariant 3 for one version (a lazily loaded version was checked when it was last changed). */
int mreg_state_check_version(const mreg_model *m, const mreg_version *v)
{
	if (v->raw)
		return 0;
	if (v->nhistory == 0 || v->history[0].from != MREG_STAGE_NONE)
		return mreg_error_set(MREG_ECORRUPT, "invariant 3 broken in '%s:%d': history has no first row", m->id,
				      v->version);
	for (size_t h = 1; h < v->nhistory; h++) {
		const mreg_transition *t = &v->history[h];
		bool back = t->rollback && t->from == MREG_STAGE_ARCHIVED && t->to == MREG_STAGE_PRODUCTION;
		if (t->from != v->history[h - 1].to || !(back || mreg_stage_allowed(t->from, t->to)))
			return mreg_error_set(MREG_ECORRUPT, "invariant 3 broken in '%s:%d': %s -> %s in its history",
					      m->id, v->version, mreg_stage_name(t->from), mreg_stage_name(t->to));
	}
	if (v->history[v->nhistory - 1].to != v->stage)
		return mreg_error_set(MREG_ECORRUPT, "invariant 3 broken in '%s:%d': stage is not where history ends",
				      m->id, v->version);
	return 0;
}

int mreg_state_check_model(const mreg_model *m)
{
	int prod = 0, rc;
	if (!m->loaded)
		return 0;
	for (int i = 0; i < m->nversions; i++) {
		const mreg_version *v = &m->versions[i];
		/* 2 */
		if (v->version < 1 || (i && m->versions[i - 1].version >= v->version))
			return mreg_error_set(MREG_ECORRUPT, "invariant 2 broken in '%s': version numbers out of order",
					      m->id);
		/* 1 */
		if (v->stage == MREG_STAGE_PRODUCTION) {
			if (prod)
				return mreg_error_set(MREG_ECORRUPT,
						      "invariant 1 broken in '%s': versions %d and %d are both in production",
						      m->id, prod, v->version);
			prod = v->version;
		}
		/* 3 */
		if ((rc = mreg_state_check_version(m, v)) < 0)
			return rc;
	}
	if (prod != (m->prod ? m->prod->version : 0))
		return mreg_error_set(MREG_ECORRUPT, "invariant 1 broken in '%s': production is %d, summary says %d",
				      m->id, prod, m->prod ? m->prod->version : 0);
	if (m->nversions && m->latest != m->versions[m->nversions - 1].version)
		return mreg_error_set(MREG_ECORRUPT, "invariant 2 broken in '%s': latest is wrong", m->id);
	return 0;
}

int mreg_state_check_all(const mreg_state *st)
{
	int rc = 0;
	for (size_t i = 0; i < st->nmodels && rc == 0; i++)
		rc = mreg_state_check_model(st->models[i]);
	return rc;
}

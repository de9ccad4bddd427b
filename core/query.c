/*
 * Queries over a (loaded) state; see query.h.
 */
#include "query.h"

#include <stdlib.h>
#include <string.h>

int mreg_ref_parse(mreg_ref *out, const char *s)
{
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);

	memset(out, 0, sizeof(*out));
	if (n == 0)
		return mreg_error_set(MREG_EINVALID, "invalid reference '%s': expected MODEL_ID[:VERSION]", s);
	if (n > MREG_ID_MAX)
		return mreg_error_set(MREG_EINVALID, "invalid reference '%.*s...': model id longer than %d bytes", 40,
				      s, MREG_ID_MAX);
	memcpy(out->model, s, n);
	out->model[n] = '\0';
	const char *problem = mreg_id_problem(out->model);
	if (problem)
		return mreg_error_set(MREG_EINVALID, "invalid reference '%s': %s", s, problem);
	if (colon) {
		const char *p = colon + 1;
		if (*p == 'v')
			p++;
		long v = 0;
		if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 9 || (v = strtol(p, NULL, 10)) < 1)
			return mreg_error_set(MREG_EINVALID, "invalid reference '%s': version must be a number >= 1", s);
		out->version = (int)v;
	}
	return 0;
}

int mreg_query_version(mreg_model **model, mreg_version **version, const mreg_state *st, const mreg_ref *ref)
{
	mreg_model *m = mreg_state_model(st, ref->model);
	if (!m || (m->nversions == 0 && m->latest == 0))
		return mreg_error_set(MREG_ENOTFOUND, "model not found: '%s'", ref->model);
	mreg_version *v = mreg_model_version(m, ref->version);
	if (!v) {
		if (!m->loaded)
			return mreg_error_set(MREG_ERROR, "model '%s' is not loaded", ref->model);
		return mreg_error_set(MREG_ENOTFOUND, "version not found: '%s:%d' (latest is %d)", ref->model,
				      ref->version, m->latest);
	}
	*model = m;
	*version = v;
	return 0;
}

static int cmp_tag(const void *key, const void *item)
{
	return strcmp(key, *(char *const *)item);
}

/* v's tags are sorted (the fold keeps them so) */
static bool has_tag(const mreg_version *v, const char *tag)
{
	return v->ntags && bsearch(tag, v->tags, v->ntags, sizeof(*v->tags), cmp_tag);
}

static int row_cmp(const void *a, const void *b)
{
	const mreg_row *x = a, *y = b;
	int c = strcmp(y->version->updated_at, x->version->updated_at);
	if (c)
		return c;
	if ((c = strcmp(x->model->id, y->model->id)))
		return c;
	return y->version->version - x->version->version;
}

int mreg_query_list(mreg_row **out, size_t *n, const mreg_state *st, const mreg_filter *f)
{
	size_t cap = 0, cnt = 0;
	mreg_row *rows = NULL;

	for (size_t i = 0; i < st->nmodels; i++) {
		const mreg_model *m = st->models[i];
		if (f->model && strcmp(f->model, m->id))
			continue;
		if (f->type != MREG_TYPE_NONE && m->type != f->type)
			continue;
		if (!m->loaded) {
			free(rows);
			return mreg_error_set(MREG_ERROR, "model '%s' is not loaded", m->id);
		}
		for (int j = 0; j < m->nversions; j++) {
			const mreg_version *v = &m->versions[j];
			if (f->stage != MREG_STAGE_NONE && v->stage != f->stage)
				continue;
			if (f->tag && !has_tag(v, f->tag))
				continue;
			if (cnt == cap) {
				cap = cap ? cap * 2 : 64;
				mreg_row *p = realloc(rows, cap * sizeof(*p));
				if (!p) {
					free(rows);
					return mreg_error_set(MREG_ERROR, "out of memory");
				}
				rows = p;
			}
			rows[cnt].model = m;
			rows[cnt].version = v;
			cnt++;
		}
	}
	if (cnt)
		qsort(rows, cnt, sizeof(*rows), row_cmp);
	*out = rows;
	*n = cnt;
	return 0;
}

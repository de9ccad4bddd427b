/*
 * What the read-only JSON API of `mreg serve` answers, written from a
 * state: every model's summary, one model with its versions, the
 * production versions. The C API's methods models, model and production
 * (capi.c) answer with these over a handle's state, and `mreg serve` routes
 * its paths to those methods (cmd/serve.c); /health is answered here.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void model_summary(mreg_jsonw *w, const mreg_model *m)
{
	mreg_jsonw_str(w, "model_id", m->id);
	mreg_jsonw_str(w, "name", m->name);
	mreg_jsonw_str(w, "model_type", m->type >= 0 ? mreg_type_name(m->type) : NULL);
	mreg_jsonw_int(w, "version_count", m->nversions);
	mreg_jsonw_int(w, "latest_version", m->latest);
	if (m->prod)
		mreg_jsonw_int(w, "production_version", m->prod->version);
	else
		mreg_jsonw_null(w, "production_version");
	mreg_jsonw_str(w, "created_at", m->created_at);
	mreg_jsonw_str(w, "updated_at", m->updated_at);
}

void mreg_api_models(mreg_jsonw *w, const mreg_state *st)
{
	mreg_jsonw_arr_begin(w, NULL);
	for (size_t i = 0; i < st->nmodels; i++) {
		mreg_jsonw_obj_begin(w, NULL);
		model_summary(w, st->models[i]);
		mreg_jsonw_obj_end(w);
	}
	mreg_jsonw_arr_end(w);
}

int mreg_api_model(mreg_jsonw *w, mreg_state *st, const char *id, int version)
{
	mreg_model *m = mreg_state_model(st, id);
	mreg_version *v = m && version ? mreg_model_version(m, version) : NULL;
	int rc = 0;
	if (!m || !m->nversions || (version && (!v || v->version != version)))
		return 1;
	if (version) {
		if ((rc = mreg_version_materialize(v)) == 0)
			mreg_version_write(w, NULL, m, v);
		return rc;
	}
	mreg_jsonw_obj_begin(w, NULL);
	model_summary(w, m);
	mreg_jsonw_arr_begin(w, "versions");
	for (size_t k = 0; k < (size_t)m->nversions && rc == 0; k++)
		if ((rc = mreg_version_materialize(&m->versions[k])) == 0)
			mreg_version_write(w, NULL, m, &m->versions[k]);
	mreg_jsonw_arr_end(w);
	mreg_jsonw_obj_end(w);
	return rc;
}

int mreg_api_production(mreg_jsonw *w, const mreg_state *st)
{
	/* newest update first, as mreg list orders them; each written as list writes it */
	mreg_model **ms = calloc(st->nmodels + 1, sizeof(*ms));
	size_t n = 0;
	if (!ms)
		return mreg_error_set(MREG_ERROR, "out of memory");
	for (size_t i = 0; i < st->nmodels; i++)
		if (st->models[i]->prod)
			ms[n++] = st->models[i];
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(ms[j - 1]->prod->updated_at, ms[j]->prod->updated_at) < 0; j--) {
			mreg_model *t = ms[j];
			ms[j] = ms[j - 1];
			ms[j - 1] = t;
		}
	mreg_jsonw_arr_begin(w, NULL);
	for (size_t i = 0; i < n; i++)
		mreg_version_write(w, NULL, ms[i], ms[i]->prod);
	mreg_jsonw_arr_end(w);
	free(ms);
	return 0;
}

/* ---- /health --------------------------------------------------------------- */

static const char *worst(const char *a, const char *b)
{
	static const char *const order[] = { "healthy", "degraded", "unhealthy" };
	int x = 0, y = 0;
	for (int i = 0; i < 3; i++) {
		if (!strcmp(a, order[i]))
			x = i;
		if (!strcmp(b, order[i]))
			y = i;
	}
	return order[x > y ? x : y];
}

/* registry_sync: every remote's breaker closed and its last success younger than max_age seconds. */
static const char *sync_health(mreg_jsonw *w, mreg_registry *reg, double max_age, double now)
{
	cJSON *st = NULL;
	const char *status = "healthy";
	mreg_jsonw_obj_begin(w, "registry_sync");
	if (mreg_sync_status(&st, reg) < 0) {
		mreg_jsonw_str(w, "status", "unhealthy");
		mreg_jsonw_str(w, "error", mreg_error_last());
		mreg_error_clear();
		mreg_jsonw_obj_end(w);
		return "unhealthy";
	}
	mreg_jsonw_num(w, "max_age_seconds", max_age);
	mreg_jsonw_arr_begin(w, "remotes");
	const cJSON *r;
	cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(st, "remotes")) {
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "name"));
		const char *ok = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "last_success"));
		const char *breaker = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "breaker"), "state"));
		int64_t us = 0;
		double age = ok && mreg_time_parse(&us, ok) == 0 ? now - (double)us / 1e6 : -1;
		const char *s = breaker && strcmp(breaker, "closed") ? "degraded"
				: age < 0 || age > max_age		   ? "degraded"
									   : "healthy";
		status = worst(status, s);
		mreg_jsonw_obj_begin(w, NULL);
		mreg_jsonw_str(w, "name", name);
		mreg_jsonw_str(w, "status", s);
		mreg_jsonw_str(w, "breaker", breaker);
		mreg_jsonw_str(w, "last_success", ok);
		if (age >= 0)
			mreg_jsonw_num(w, "age_seconds", (double)(int64_t)age);
		else
			mreg_jsonw_null(w, "age_seconds");
		mreg_jsonw_obj_end(w);
	}
	mreg_jsonw_arr_end(w);
	mreg_jsonw_str(w, "status", status);
	mreg_jsonw_obj_end(w);
	cJSON_Delete(st);
	return status;
}

/* parity_validation: the last check's outcome (.git/mreg/parity.json), "unknown" before the first. */
static const char *parity_health(mreg_jsonw *w, mreg_registry *reg)
{
	mreg_buf b = MREG_BUF_INIT;
	char *path = mreg_strfmt("%sparity.json", reg->mregdir);
	cJSON *doc = path && mreg_fs_read(&b, path, 1 << 20) == 0 ? cJSON_ParseWithLength(b.ptr, b.size) : NULL;
	mreg_error_clear();
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(doc, "ok");
	const char *status = !cJSON_IsBool(ok) ? "unknown" : cJSON_IsTrue(ok) ? "healthy" : "unhealthy";
	mreg_jsonw_obj_begin(w, "parity_validation");
	mreg_jsonw_str(w, "status", status);
	mreg_jsonw_str(w, "last_check", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "time")));
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(doc, "problems");
	if (cJSON_IsNumber(n))
		mreg_jsonw_int(w, "problems", (int64_t)n->valuedouble);
	else
		mreg_jsonw_null(w, "problems");
	mreg_jsonw_obj_end(w);
	cJSON_Delete(doc);
	mreg_buf_dispose(&b);
	free(path);
	return strcmp(status, "unknown") ? status : "healthy";
}

int mreg_api_health(mreg_buf *out, int *status, mreg_registry *reg, double sync_max_age)
{
	mreg_jsonw w;
	mreg_state *st = NULL;
	mreg_status s;
	const char *overall = "healthy";
	mreg_buf_clear(out);
	mreg_jsonw_init(&w, out);
	mreg_jsonw_obj_begin(&w, NULL);
	mreg_jsonw_obj_begin(&w, "components");
	mreg_jsonw_obj_begin(&w, "model_registry");
	if (mreg_registry_status(&s, reg) < 0 || mreg_read_state(&st, reg, NULL, false) < 0) {
		mreg_jsonw_str(&w, "status", "unhealthy");
		mreg_jsonw_str(&w, "error", mreg_error_last());
		mreg_error_clear();
		overall = "unhealthy";
	} else {
		/* read_state folded what HEAD had and the files lacked: fresh now */
		mreg_jsonw_str(&w, "status", "healthy");
		mreg_jsonw_str(&w, "head", s.head);
		mreg_jsonw_bool(&w, "state_was_fresh", s.state_fresh);
		mreg_jsonw_int(&w, "models", (int64_t)st->nmodels);
		mreg_jsonw_int(&w, "versions", st->nversions);
		mreg_jsonw_int(&w, "events", st->nevents);
		mreg_jsonw_int(&w, "conflicts", (int64_t)st->nconflicts);
	}
	mreg_jsonw_obj_end(&w);
	overall = worst(overall, sync_health(&w, reg, sync_max_age, (double)mreg_fs_now_usec() / 1e6));
	overall = worst(overall, parity_health(&w, reg));
	mreg_jsonw_obj_end(&w);
	mreg_jsonw_str(&w, "status", overall);
	mreg_jsonw_obj_end(&w);
	mreg_state_free(st);
	*status = strcmp(overall, "unhealthy") ? 200 : 503;
	return mreg_jsonw_finish(&w) < 0 ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
}

int mreg_parity_check(mreg_registry *reg, size_t *nproblems)
{
	git_oid before, after;
	int rc = mreg_registry_need_git(reg);
	if (rc < 0)
		return rc;
	/* what lags behind HEAD (a pull, a reset just done) is repaired, not counted */
	if ((rc = mreg_registry_refresh(reg, false, NULL)) < 0)
		return rc;
	bool known = git_reference_name_to_id(&before, reg->repo, "HEAD") == 0;
	rc = mreg_fsck(nproblems, reg, NULL, NULL);
	if (rc != 0 && rc != MREG_ECORRUPT)
		return rc;
	/* HEAD moved while it ran: not recorded (mreg_fsck), the caller runs it again soon */
	bool moved = !known || git_reference_name_to_id(&after, reg->repo, "HEAD") < 0 || !git_oid_equal(&before, &after);
	git_error_clear();
	return moved ? 1 : 0;
}

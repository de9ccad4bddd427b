/*
 * The read-only JSON API of `mreg serve`, as answers to paths: what each
 * route returns is built here, from the state files, so that it can be
 * tested without a server and the server itself only routes and caches.
 *
 *   /api/v1/models                     every model's summary
 *   /api/v1/models/ID                  one model: its summary and every version
 *   /api/v1/models/ID/versions/N       one version, as `mreg show ID:N --json`
 *   /api/v1/production                 production versions, as `mreg list --stage production --json`
 *   /api/v1/events?since=EVENT&limit=N events after EVENT in fold order, as `mreg log --json`
 *
 * A path names a model only through its id, checked as every command
 * checks one (mreg_id_check), and the state files are found by the
 * library: no part of a path becomes a file name here.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS_LIMIT_DEFAULT 100
#define EVENTS_LIMIT_MAX 1000

static int answer_error(mreg_buf *out, int *status, int code, const char *message)
{
	mreg_jsonw w;
	mreg_buf_clear(out);
	mreg_jsonw_init(&w, out);
	mreg_jsonw_obj_begin(&w, NULL);
	mreg_jsonw_str(&w, "error", message);
	mreg_jsonw_obj_end(&w);
	*status = code;
	return mreg_jsonw_finish(&w) < 0 ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
}

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

static int models(mreg_jsonw *w, mreg_registry *reg)
{
	mreg_state *st = NULL;
	int rc = mreg_read_state(&st, reg, NULL, false);
	if (rc < 0)
		return rc;
	mreg_jsonw_arr_begin(w, NULL);
	for (size_t i = 0; i < st->nmodels; i++) {
		mreg_jsonw_obj_begin(w, NULL);
		model_summary(w, st->models[i]);
		mreg_jsonw_obj_end(w);
	}
	mreg_jsonw_arr_end(w);
	mreg_state_free(st);
	return 0;
}

/* One model (version 0) or one of its versions; 1 when there is no such. */
static int model(mreg_jsonw *w, mreg_registry *reg, const char *id, int version)
{
	mreg_state *st = NULL;
	int rc = mreg_read_model(&st, reg, id, version ? version : -1);
	mreg_model *m = rc == 0 ? mreg_state_model(st, id) : NULL;
	mreg_version *v = m && version ? mreg_model_version(m, version) : NULL;
	if (rc == 0 && (!m || (version && (!v || v->version != version))))
		rc = 1;
	if (rc == 0 && version) {
		rc = mreg_version_materialize(v);
		if (rc == 0)
			mreg_version_write(w, NULL, m, v);
	} else if (rc == 0) {
		mreg_jsonw_obj_begin(w, NULL);
		model_summary(w, m);
		mreg_jsonw_arr_begin(w, "versions");
		for (size_t k = 0; k < (size_t)m->nversions && rc == 0; k++)
			if ((rc = mreg_version_materialize(&m->versions[k])) == 0)
				mreg_version_write(w, NULL, m, &m->versions[k]);
		mreg_jsonw_arr_end(w);
		mreg_jsonw_obj_end(w);
	}
	mreg_state_free(st);
	return rc;
}

static int production(mreg_jsonw *w, mreg_registry *reg)
{
	mreg_state *st = NULL;
	int rc = mreg_read_production(&st, reg);
	if (rc < 0)
		return rc;
	/* newest update first, as mreg list orders them; each written as list writes it */
	mreg_model **ms = calloc(st->nmodels + 1, sizeof(*ms));
	size_t n = 0;
	if (!ms) {
		mreg_state_free(st);
		return mreg_error_set(MREG_ERROR, "out of memory");
	}
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
	mreg_state_free(st);
	return rc;
}

/* Events after since (NULL: from the first); 1 when since names no event. */
static int events(mreg_jsonw *w, mreg_registry *reg, const char *since, long limit)
{
	mreg_event **evs = NULL;
	size_t n = 0, start = 0;
	int rc = mreg_read_events(&evs, &n, reg, NULL);
	if (rc < 0)
		return rc;
	if (since) {
		size_t i = 0;
		while (i < n && strcmp(evs[i]->id, since))
			i++;
		if (i == n) {
			mreg_events_free(evs, n);
			return 1;
		}
		start = i + 1;
	}
	mreg_jsonw_arr_begin(w, NULL);
	for (size_t i = start; i < n && (long)(i - start) < limit; i++)
		mreg_event_write_summary(w, evs[i]);
	mreg_jsonw_arr_end(w);
	mreg_events_free(evs, n);
	return 0;
}

static bool is_hex32(const char *s)
{
	return strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32;
}

/* A version number: 1 to 9 digits, no sign, no leading zero. */
static int version_of(const char *s, size_t n)
{
	if (!n || n > 9 || s[0] == '0' || strspn(s, "0123456789") < n)
		return 0;
	return (int)strtol(s, NULL, 10);
}

int mreg_api_get(mreg_buf *out, int *status, mreg_registry *reg, const char *path, const char *since, const char *limit)
{
	static const char models_prefix[] = "/api/v1/models/";
	mreg_jsonw w;
	char id[MREG_ID_MAX + 1];
	int rc = 1;
	mreg_buf_clear(out);
	mreg_jsonw_init(&w, out);
	*status = 200;
	if (!strcmp(path, "/api/v1/models")) {
		rc = models(&w, reg);
	} else if (!strcmp(path, "/api/v1/production")) {
		rc = production(&w, reg);
	} else if (!strcmp(path, "/api/v1/events")) {
		long n = EVENTS_LIMIT_DEFAULT;
		if (limit) {
			char *end;
			n = strtol(limit, &end, 10);
			if (*end || !*limit || n < 1 || n > EVENTS_LIMIT_MAX)
				return answer_error(out, status, 400, "limit must be a whole number from 1 to 1000");
		}
		if (since && !is_hex32(since))
			return answer_error(out, status, 400, "since must be an event id (32 hex digits)");
		if ((rc = events(&w, reg, since, n)) == 1)
			return answer_error(out, status, 404, "no such event");
	} else if (!strncmp(path, models_prefix, sizeof(models_prefix) - 1)) {
		const char *p = path + sizeof(models_prefix) - 1, *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		int version = 0;
		if (n > MREG_ID_MAX)
			return answer_error(out, status, 404, "no such model");
		snprintf(id, sizeof(id), "%.*s", (int)n, p);
		if (mreg_id_problem(id))
			return answer_error(out, status, 404, "no such model");
		if (slash) {
			static const char versions[] = "/versions/";
			if (strncmp(slash, versions, sizeof(versions) - 1) ||
			    !(version = version_of(slash + sizeof(versions) - 1, strlen(slash + sizeof(versions) - 1))))
				return answer_error(out, status, 404, "no such path");
		}
		if ((rc = model(&w, reg, id, version)) == 1)
			return answer_error(out, status, 404, version ? "no such version" : "no such model");
	} else {
		return answer_error(out, status, 404, "no such path");
	}
	if (rc < 0) {
		int code = rc;
		answer_error(out, status, 500, mreg_error_last());
		return code;
	}
	return mreg_jsonw_finish(&w) < 0 ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
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
	int rc = mreg_fsck(nproblems, reg, NULL, NULL);
	return rc == MREG_ECORRUPT ? 0 : rc;
}

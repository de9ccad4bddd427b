/*
 * Metrics: the eight numbers a version carries (elo, win_rate, games_played
 * ...), their names, the rules each value must keep (rates in [0, 1],
 * games a whole number, the rest finite and, where a negative means
 * nothing, >= 0), and reading them from "K=V" options and JSON objects and
 * writing them. The writer and the parser of events and the state readers
 * check metrics through these same rules.
 */
#include "event.h"
#include "jsonw.h"
#include "num.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const metric_names[MREG_METRIC_COUNT] = {
	"elo", "elo_uncertainty", "win_rate", "draw_rate", "games_played",
	"avg_move_time_ms", "policy_accuracy", "value_mse"
};

const char *mreg_metric_name(mreg_metric m)
{
	return m >= 0 && m < MREG_METRIC_COUNT ? metric_names[m] : "unknown";
}

int mreg_metric_parse(const char *name)
{
	for (int i = 0; name && i < MREG_METRIC_COUNT; i++)
		if (!strcmp(name, metric_names[i]))
			return i;
	return -1;
}

/* What is wrong with v as metric m, or NULL. */
static const char *metric_problem(mreg_metric m, double v)
{
	if (!isfinite(v))
		return "not a finite number";
	switch (m) {
	case MREG_METRIC_WIN_RATE:
	case MREG_METRIC_DRAW_RATE:
	case MREG_METRIC_POLICY_ACCURACY:
		return v < 0 || v > 1 ? "must be between 0 and 1" : NULL;
	case MREG_METRIC_GAMES_PLAYED:
		return v < 0 || !mreg_num_is_int(v) ? "must be a whole number >= 0" : NULL;
	case MREG_METRIC_ELO_UNCERTAINTY:
	case MREG_METRIC_AVG_MOVE_TIME_MS:
	case MREG_METRIC_VALUE_MSE:
		return v < 0 ? "must be >= 0" : NULL;
	default:
		return NULL;
	}
}

int mreg_metric_check(mreg_metric m, double v, const char *subject)
{
	const char *problem = metric_problem(m, v);
	if (!problem)
		return 0;
	if (!subject)
		return MREG_EINVALID;
	if (!isfinite(v))
		return mreg_error_set(MREG_EINVALID, "invalid metric %s for '%s': %s", mreg_metric_name(m), subject,
				      problem);
	return mreg_error_set(MREG_EINVALID, "invalid metric %s=%g for '%s': %s", mreg_metric_name(m), v, subject,
			      problem);
}

/* Strict number: the whole string, finite, no hex or inf/nan spellings. */
static int parse_number(double *out, const char *s)
{
	char *end;
	if (!*s || strspn(s, "0123456789+-.eE") != strlen(s))
		return -1;
	double v = strtod(s, &end);
	if (*end || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

int mreg_metrics_set_kv(mreg_metrics *m, const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq)
		return mreg_error_set(MREG_EINVALID, "invalid metric '%s': expected KEY=VALUE", kv);
	char key[64];
	size_t kn = (size_t)(eq - kv);
	if (kn == 0 || kn >= sizeof(key))
		return mreg_error_set(MREG_EINVALID, "invalid metric '%s': expected KEY=VALUE", kv);
	memcpy(key, kv, kn);
	key[kn] = '\0';
	int k = mreg_metric_parse(key);
	if (k < 0)
		return mreg_error_set(MREG_EINVALID,
				      "unknown metric '%s': expected one of elo, elo_uncertainty, win_rate, draw_rate, games_played, avg_move_time_ms, policy_accuracy, value_mse",
				      key);
	double v;
	if (parse_number(&v, eq + 1) < 0)
		return mreg_error_set(MREG_EINVALID, "invalid metric '%s': '%s' is not a number", kv, eq + 1);
	int rc = mreg_metric_check((mreg_metric)k, v, key);
	if (rc < 0)
		return rc;
	m->v[k] = mreg_num_nz(v);	/* -0 is 0: stored, and shown, without a sign */
	m->present |= 1u << k;
	return 0;
}

int mreg_metrics_from_json(mreg_metrics *m, const cJSON *obj, const char *subject)
{
	const cJSON *c;
	if (!cJSON_IsObject(obj))
		return subject ? mreg_error_set(MREG_EINVALID, "invalid metrics in '%s': expected a JSON object", subject)
			       : MREG_EINVALID;
	cJSON_ArrayForEach(c, obj) {
		int k = mreg_metric_parse(c->string);
		if (k < 0 || cJSON_IsNull(c))
			continue;	/* the original ignores keys it does not know */
		if (!cJSON_IsNumber(c))
			return subject ? mreg_error_set(MREG_EINVALID, "invalid metric %s in '%s': not a number", c->string,
							subject)
				       : MREG_EINVALID;
		int rc = mreg_metric_check((mreg_metric)k, c->valuedouble, subject);
		if (rc < 0)
			return rc;
		m->v[k] = mreg_num_nz(c->valuedouble);
		m->present |= 1u << k;
	}
	return 0;
}

void mreg_metrics_merge(mreg_metrics *into, const mreg_metrics *from)
{
	for (int i = 0; i < MREG_METRIC_COUNT; i++)
		if (from->present & (1u << i)) {
			into->v[i] = from->v[i];
			into->present |= 1u << i;
		}
}

void mreg_metrics_write(mreg_jsonw *w, const char *key, const mreg_metrics *m, bool all_keys)
{
	mreg_jsonw_obj_begin(w, key);
	for (int i = 0; i < MREG_METRIC_COUNT; i++) {
		if (m->present & (1u << i)) {
			if (i == MREG_METRIC_GAMES_PLAYED && mreg_num_is_int(m->v[i]))
				mreg_jsonw_int(w, metric_names[i], (int64_t)m->v[i]);
			else
				mreg_jsonw_num(w, metric_names[i], m->v[i]);
		} else if (all_keys) {
			if (i == MREG_METRIC_GAMES_PLAYED)
				mreg_jsonw_int(w, metric_names[i], 0);
			else
				mreg_jsonw_null(w, metric_names[i]);
		}
	}
	mreg_jsonw_obj_end(w);
}

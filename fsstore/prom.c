/*
 * The registry as Prometheus metrics, in the text exposition format
 * (version 0.0.4): `mreg metrics`, its --textfile for node_exporter, and
 * `mreg serve`'s /metrics.
 *
 * Every number is read from what the registry holds, not counted in a
 * process: counters are counts of events in the log (versions registered,
 * stage changes, rollbacks, CMA-ES runs), so they are exact, the same on
 * every node that has the same events, and they survive restarts and
 * syncs. A counter only goes down when history does (a restore).
 *
 * Two families. The original's names, types and labels (REFERENCE.md,
 * "Metrics the original's dashboard reads"), so that existing dashboards
 * and the alert rules of deploy/prometheus/ work unchanged; their prefix,
 * "ringrift", is git config mreg.metricsPrefix. Then mreg's own under
 * "mreg_", by Prometheus's conventions: base units, _total on counters,
 * label values bounded (model ids, stages, types, remotes; never a
 * version number).
 */
#define _GNU_SOURCE
#include "internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX_MAX 64

typedef struct {
	mreg_buf *b;
	char prefix[PREFIX_MAX + 1];
} expo;

/* "# HELP" and "# TYPE" of a family; its name is prefix_name when ours is false, else name. */
static void family(expo *x, bool original, const char *name, const char *type, const char *help)
{
	if (original)
		mreg_buf_printf(x->b, "# HELP %s_%s %s\n# TYPE %s_%s %s\n", x->prefix, name, help, x->prefix, name, type);
	else
		mreg_buf_printf(x->b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value as the format wants it: backslash, double quote and newline escaped. */
static void label_value(mreg_buf *b, const char *v)
{
	for (const char *p = v ? v : ""; *p; p++) {
		if (*p == '\\' || *p == '"')
			mreg_buf_putc(b, '\\');
		if (*p == '\n') {
			mreg_buf_puts(b, "\\n");
			continue;
		}
		mreg_buf_putc(b, *p);
	}
}

static void value(mreg_buf *b, double v)
{
	char s[40];
	if (isnan(v))
		snprintf(s, sizeof(s), "NaN");
	else if (isinf(v))
		snprintf(s, sizeof(s), v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 1e15)
		snprintf(s, sizeof(s), "%.0f", v == 0 ? 0.0 : v);
	else
		snprintf(s, sizeof(s), "%.17g", v);	/* exact: it reads back as the same double */
	mreg_buf_printf(b, " %s\n", s);
}

/*
 * One sample: name (prefixed when original), then labels as alternating
 * key, value strings ending in NULL, then the value.
 */
static void sample(expo *x, bool original, const char *name, double v, ...)
{
	va_list ap;
	const char *k;
	bool first = true;
	if (original)
		mreg_buf_printf(x->b, "%s_%s", x->prefix, name);
	else
		mreg_buf_puts(x->b, name);
	va_start(ap, v);
	while ((k = va_arg(ap, const char *))) {
		const char *val = va_arg(ap, const char *);
		mreg_buf_printf(x->b, "%s%s=\"", first ? "{" : ",", k);
		label_value(x->b, val);
		mreg_buf_putc(x->b, '"');
		first = false;
	}
	va_end(ap);
	if (!first)
		mreg_buf_putc(x->b, '}');
	value(x->b, v);
}

static double seconds_of(const char *t)
{
	int64_t us;
	return t && mreg_time_parse(&us, t) == 0 ? (double)us / 1e6 : NAN;
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* ---- the original's metrics ------------------------------------------------ */

/* A model's CMA-ES runs: versions registered by `mreg cmaes register` (extra_config.optimizer_type "cmaes"). */
typedef struct {
	double runs, best, gens;
	char *board;		/* the first run's board_type that has one */
	char *best_board;	/* the best run's */
} cmaes_sum;

/* false: out of memory */
static bool cmaes_add(cmaes_sum *s, const cJSON *ex)
{
	const char *board = str(ex, "board_type");
	double f = num(ex, "final_fitness"), g = num(ex, "final_generation");
	bool ok = true;
	s->runs++;
	if (!s->board && board)
		ok = (s->board = mreg_strdup(board)) != NULL;
	if (!isnan(f) && (isnan(s->best) || f > s->best)) {
		s->best = f;
		free(s->best_board);
		s->best_board = board ? mreg_strdup(board) : NULL;
		ok = ok && (!board || s->best_board);
	}
	if (!isnan(g))
		s->gens += g;
	return ok;
}

/* false: out of memory */
static bool cmaes_of(cmaes_sum *s, const mreg_model *m)
{
	bool ok = true;
	*s = (cmaes_sum){ .best = NAN };
	for (size_t k = 0; k < (size_t)m->nversions; k++) {
		const mreg_version *v = &m->versions[k];
		/* only a config with the word in it is parsed: the bytes of "cmaes" as a string are these */
		if (!v->training_config || !strstr(v->training_config, "\"cmaes\""))
			continue;
		cJSON *config = mreg_version_config(v);
		const cJSON *ex = cJSON_GetObjectItemCaseSensitive(config, "extra_config");
		const char *opt = str(ex, "optimizer_type");
		if (!config)
			ok = false;
		else if (opt && !strcmp(opt, "cmaes"))
			ok = cmaes_add(s, ex) && ok;
		cJSON_Delete(config);
	}
	return ok;
}

static void original_cmaes(expo *x, const mreg_state *st)
{
	cmaes_sum *sums = calloc(st->nmodels + 1, sizeof(*sums));
	if (!sums) {
		x->b->oom = 1;
		return;
	}
	for (size_t i = 0; i < st->nmodels; i++)
		if (!cmaes_of(&sums[i], st->models[i]))
			x->b->oom = 1;	/* the exposition fails whole rather than leave a run out */
	family(x, true, "cmaes_runs_total", "counter", "CMA-ES runs registered, by config (model id) and board type.");
	for (size_t i = 0; i < st->nmodels; i++)
		if (sums[i].runs)
			sample(x, true, "cmaes_runs_total", sums[i].runs, "config", st->models[i]->id, "board_type",
			       sums[i].board ? sums[i].board : "", NULL);
	family(x, true, "cmaes_best_fitness", "gauge", "The best fitness of any CMA-ES run, by config and board type.");
	for (size_t i = 0; i < st->nmodels; i++)
		if (!isnan(sums[i].best))
			sample(x, true, "cmaes_best_fitness", sums[i].best, "config", st->models[i]->id, "board_type",
			       sums[i].best_board ? sums[i].best_board : "", NULL);
	family(x, true, "cmaes_generations_total", "counter", "CMA-ES generations over all runs, by config.");
	for (size_t i = 0; i < st->nmodels; i++)
		if (sums[i].runs)
			sample(x, true, "cmaes_generations_total", sums[i].gens, "config", st->models[i]->id, NULL);
	for (size_t i = 0; i < st->nmodels; i++) {
		free(sums[i].board);
		free(sums[i].best_board);
	}
	free(sums);
}

/* Stage changes by from and to: every history row after the first, rollbacks apart. */
static void original_promotions(expo *x, const mreg_state *st)
{
	double n[MREG_STAGE_COUNT][MREG_STAGE_COUNT];
	memset(n, 0, sizeof(n));
	for (size_t i = 0; i < st->nmodels; i++) {
		const mreg_model *m = st->models[i];
		/* a rollback's event moves two versions; only its row back into production is marked */
		cJSON *rollbacks = cJSON_CreateObject();
		for (size_t k = 0; k < (size_t)m->nversions; k++)
			for (size_t h = 0; h < m->versions[k].nhistory; h++)
				if (m->versions[k].history[h].rollback)
					cJSON_AddBoolToObject(rollbacks, m->versions[k].history[h].event, true);
		for (size_t k = 0; k < (size_t)m->nversions; k++) {
			const mreg_version *v = &m->versions[k];
			for (size_t h = 0; h < v->nhistory; h++) {
				const mreg_transition *t = &v->history[h];
				if (t->from != MREG_STAGE_NONE && t->to != MREG_STAGE_NONE &&
				    !cJSON_GetObjectItemCaseSensitive(rollbacks, t->event))
					n[t->from][t->to]++;
			}
		}
		cJSON_Delete(rollbacks);
	}
	family(x, true, "model_registry_promotions_total", "counter",
	       "Stage changes of versions, by the stage left and the stage entered (rollbacks apart).");
	for (int f = 0; f < MREG_STAGE_COUNT; f++)
		for (int t = 0; t < MREG_STAGE_COUNT; t++)
			if (mreg_stage_allowed((mreg_stage)f, (mreg_stage)t) || n[f][t])
				sample(x, true, "model_registry_promotions_total", n[f][t], "from_stage", mreg_stage_name((mreg_stage)f),
				       "to_stage", mreg_stage_name((mreg_stage)t), NULL);
}

static void original_rollbacks(expo *x, const mreg_state *st)
{
	/* per model and trigger: successful rollbacks, counted in fold order */
	cJSON *counts = cJSON_CreateObject();
	const cJSON *r;
	cJSON_ArrayForEach(r, st->rollbacks) {
		if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "success")) || !str(r, "model_id"))
			continue;
		char key[MREG_ID_MAX + MREG_NAME_MAX + 4];
		snprintf(key, sizeof(key), "%s\n%s", str(r, "model_id"), str(r, "triggered_by") ? str(r, "triggered_by") : "");
		cJSON *c = cJSON_GetObjectItemCaseSensitive(counts, key);
		if (c)
			cJSON_SetNumberValue(c, c->valuedouble + 1);
		else
			cJSON_AddNumberToObject(counts, key, 1);
	}
	family(x, true, "model_rollbacks_total", "counter", "Rollbacks done, by model and trigger.");
	cJSON_ArrayForEach(r, counts) {
		char model[MREG_ID_MAX + 1];
		const char *nl = strchr(r->string, '\n');
		snprintf(model, sizeof(model), "%.*s", (int)(nl - r->string), r->string);
		sample(x, true, "model_rollbacks_total", r->valuedouble, "model_id", model, "trigger", nl + 1, NULL);
	}
	cJSON_Delete(counts);
}

static void original(expo *x, const mreg_state *st)
{
	family(x, true, "model_registry_count", "gauge", "Versions in each stage.");
	for (int s = 0; s < MREG_STAGE_COUNT; s++)
		sample(x, true, "model_registry_count", (double)st->stage_count[s], "stage", mreg_stage_name((mreg_stage)s), NULL);
	family(x, true, "model_registry_registrations_total", "counter", "Versions registered, by config (model id).");
	for (size_t i = 0; i < st->nmodels; i++)
		sample(x, true, "model_registry_registrations_total", st->models[i]->nversions, "config", st->models[i]->id,
		       NULL);
	original_promotions(x, st);
	original_cmaes(x, st);
	original_rollbacks(x, st);
	family(x, true, "production_model_elo", "gauge", "The Elo of each model's production version.");
	for (size_t i = 0; i < st->nmodels; i++) {
		const mreg_model *m = st->models[i];
		if (m->prod && (m->prod->metrics.present & (1u << MREG_METRIC_ELO)))
			sample(x, true, "production_model_elo", m->prod->metrics.v[MREG_METRIC_ELO], "model_id", m->id, NULL);
	}
	family(x, true, "production_model_baseline_elo", "gauge", "The Elo of each model's baseline (rollback checks).");
	const cJSON *b;
	cJSON_ArrayForEach(b, st->baselines) {
		double elo = num(b, "elo");
		if (!isnan(elo))
			sample(x, true, "production_model_baseline_elo", elo, "model_id", b->string, NULL);
	}
}

/* ---- mreg's own -------------------------------------------------------------- */

static void own_registry(expo *x, const mreg_state *st, bool fresh)
{
	static const char *const statuses[] = { "none", "pending", "queued", "running", "passed", "failed" };
	double vals[6] = { 0 };
	double last = NAN;
	family(x, false, "mreg_build_info", "gauge", "1, labelled with this mreg's version.");
	sample(x, false, "mreg_build_info", 1, "version", MREG_VERSION_STRING, NULL);
	family(x, false, "mreg_models", "gauge", "Models in the registry.");
	sample(x, false, "mreg_models", (double)st->nmodels, NULL);
	family(x, false, "mreg_versions", "gauge", "Versions of each model in each stage.");
	for (size_t i = 0; i < st->nmodels; i++) {
		const mreg_model *m = st->models[i];
		double n[MREG_STAGE_COUNT] = { 0 };
		for (size_t k = 0; k < (size_t)m->nversions; k++) {
			const mreg_version *v = &m->versions[k];
			if (v->stage >= 0 && v->stage < MREG_STAGE_COUNT)
				n[v->stage]++;
			const char *status = str(v->validation, "status");
			size_t j = 0;
			while (status && j < 6 && strcmp(statuses[j], status))
				j++;
			vals[status && j < 6 ? j : 0]++;
			double t = seconds_of(v->updated_at);
			if (!isnan(t) && (isnan(last) || t > last))
				last = t;
		}
		for (int s = 0; s < MREG_STAGE_COUNT; s++)
			sample(x, false, "mreg_versions", n[s], "model_id", m->id, "stage", mreg_stage_name((mreg_stage)s), NULL);
	}
	family(x, false, "mreg_events_total", "counter", "Events in the log, by type.");
	for (int t = 0; t < MREG_EV_COUNT; t++)
		sample(x, false, "mreg_events_total", (double)st->by_type[t], "type", mreg_event_type_name((mreg_event_type)t),
		       NULL);
	family(x, false, "mreg_last_event_timestamp_seconds", "gauge", "When the newest change to a version was made.");
	sample(x, false, "mreg_last_event_timestamp_seconds", isnan(last) ? 0 : last, NULL);
	family(x, false, "mreg_conflicts", "gauge", "Events the fold could not apply (mreg status lists them).");
	sample(x, false, "mreg_conflicts", (double)st->nconflicts, NULL);
	family(x, false, "mreg_quarantined_events", "gauge", "Event files left out of the fold (mreg fsck names them).");
	sample(x, false, "mreg_quarantined_events", (double)st->nquarantined, NULL);
	family(x, false, "mreg_state_fresh", "gauge", "1 when the state files were folded from HEAD's tree.");
	sample(x, false, "mreg_state_fresh", fresh ? 1 : 0, NULL);
	family(x, false, "mreg_validations", "gauge", "Versions by the status of their validation (none: never validated).");
	for (size_t j = 0; j < 6; j++)
		sample(x, false, "mreg_validations", vals[j], "status", statuses[j], NULL);
	family(x, false, "mreg_rollbacks_pending", "gauge", "Rollbacks waiting for approval.");
	sample(x, false, "mreg_rollbacks_pending", (double)cJSON_GetArraySize(st->pending), NULL);
}

static void own_sync(expo *x, const cJSON *status)
{
	static const char *const states[] = { "closed", "open", "half_open" };
	const cJSON *remotes = cJSON_GetObjectItemCaseSensitive(status, "remotes"), *r;
	family(x, false, "mreg_sync_up", "gauge", "1 when the last sync with the remote succeeded.");
	cJSON_ArrayForEach(r, remotes) {
		const char *err = str(r, "last_error");
		double ok = str(r, "last_try") && !err ? 1 : 0;
		sample(x, false, "mreg_sync_up", ok, "remote", str(r, "name"), NULL);
	}
	family(x, false, "mreg_sync_last_attempt_timestamp_seconds", "gauge", "When a sync with the remote was last tried.");
	cJSON_ArrayForEach(r, remotes) if (str(r, "last_try"))
		sample(x, false, "mreg_sync_last_attempt_timestamp_seconds", seconds_of(str(r, "last_try")), "remote",
		       str(r, "name"), NULL);
	family(x, false, "mreg_sync_last_success_timestamp_seconds", "gauge", "When a sync with the remote last succeeded.");
	cJSON_ArrayForEach(r, remotes) if (str(r, "last_success"))
		sample(x, false, "mreg_sync_last_success_timestamp_seconds", seconds_of(str(r, "last_success")), "remote",
		       str(r, "name"), NULL);
	family(x, false, "mreg_sync_consecutive_failures", "gauge", "Failed syncs with the remote since its last success.");
	cJSON_ArrayForEach(r, remotes)
		sample(x, false, "mreg_sync_consecutive_failures", num(r, "consecutive_failures"), "remote", str(r, "name"), NULL);
	family(x, false, "mreg_sync_events_received_total", "counter", "Events received from the remote, all rounds.");
	cJSON_ArrayForEach(r, remotes)
		sample(x, false, "mreg_sync_events_received_total", num(r, "events_received"), "remote", str(r, "name"), NULL);
	family(x, false, "mreg_sync_breaker_state", "gauge", "The remote's circuit breaker: 1 for its state, 0 for the others.");
	cJSON_ArrayForEach(r, remotes) {
		const char *now = str(cJSON_GetObjectItemCaseSensitive(r, "breaker"), "state");
		for (size_t j = 0; j < 3; j++)
			sample(x, false, "mreg_sync_breaker_state", now && !strcmp(now, states[j]) ? 1 : 0, "remote", str(r, "name"),
			       "state", states[j], NULL);
	}
}

static void own_backups(expo *x, const cJSON *list)
{
	const cJSON *newest = NULL, *b;
	cJSON_ArrayForEach(b, list) if (!newest || (str(b, "time") && str(newest, "time") && strcmp(str(b, "time"), str(newest, "time")) > 0))
		newest = b;
	family(x, false, "mreg_backups", "gauge", "Backups kept.");
	sample(x, false, "mreg_backups", (double)cJSON_GetArraySize(list), NULL);
	if (!newest)
		return;
	family(x, false, "mreg_backup_last_timestamp_seconds", "gauge", "When the newest backup was made.");
	sample(x, false, "mreg_backup_last_timestamp_seconds", seconds_of(str(newest, "time")), NULL);
	family(x, false, "mreg_backup_last_size_bytes", "gauge", "The size of the newest backup's bundle.");
	sample(x, false, "mreg_backup_last_size_bytes", num(newest, "bundle_size"), NULL);
}

/* The last parity check (mreg_parity_check): .git/mreg/parity.json, when one ran. */
static void own_parity(expo *x, mreg_registry *reg)
{
	mreg_buf b = MREG_BUF_INIT;
	char *path = mreg_strfmt("%sparity.json", reg->mregdir);
	cJSON *doc = NULL;
	if (path && mreg_fs_read(&b, path, 1 << 20) == 0)
		doc = cJSON_ParseWithLength(b.ptr, b.size);
	mreg_error_clear();
	double at = seconds_of(str(doc, "time"));
	if (doc && !isnan(at)) {
		family(x, false, "mreg_parity_ok", "gauge",
		       "1 when the last parity check passed: state files equal a fresh fold, every event and artifact verifies.");
		sample(x, false, "mreg_parity_ok", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "ok")) ? 1 : 0, NULL);
		family(x, false, "mreg_parity_last_check_timestamp_seconds", "gauge", "When the last parity check ran.");
		sample(x, false, "mreg_parity_last_check_timestamp_seconds", at, NULL);
	}
	cJSON_Delete(doc);
	mreg_buf_dispose(&b);
	free(path);
}

/* mreg.metricsPrefix: letters, digits and '_', not starting with a digit (a metric name's start). */
static int read_prefix(char out[PREFIX_MAX + 1], mreg_registry *reg)
{
	git_config *cfg = NULL;
	git_buf b = GIT_BUF_INIT_CONST(NULL, 0);
	int rc = 0;
	snprintf(out, PREFIX_MAX + 1, "ringrift");
	if (git_repository_config_snapshot(&cfg, reg->repo) < 0)
		return mreg_libgit2_error("cannot read the git config of", reg->path);
	if (git_config_get_string_buf(&b, cfg, "mreg.metricsprefix") == 0) {
		size_t n = strspn(b.ptr, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
		if (!b.size || n != b.size || b.size > PREFIX_MAX || (b.ptr[0] >= '0' && b.ptr[0] <= '9'))
			rc = mreg_error_set(MREG_EINVALID, "invalid mreg.metricsPrefix '%s': letters, digits and '_', "
						      "1 to %d, not starting with a digit", b.ptr, PREFIX_MAX);
		else
			snprintf(out, PREFIX_MAX + 1, "%s", b.ptr);
	}
	git_error_clear();
	git_buf_dispose(&b);
	git_config_free(cfg);
	return rc;
}

int mreg_metrics_text(mreg_buf *out, mreg_registry *reg)
{
	expo x = { out, "" };
	mreg_state *st = NULL;
	cJSON *sync = NULL, *backups = NULL;
	mreg_status status;
	int rc;
	mreg_buf_clear(out);
	if ((rc = mreg_registry_need_git(reg)) < 0 || (rc = read_prefix(x.prefix, reg)) < 0 ||
	    (rc = mreg_registry_status(&status, reg)) < 0 || (rc = mreg_read_state(&st, reg, NULL, true)) < 0)
		goto done;
	for (size_t i = 0; i < st->nmodels && rc == 0; i++)
		for (size_t k = 0; k < (size_t)st->models[i]->nversions && rc == 0; k++)
			rc = mreg_version_materialize(&st->models[i]->versions[k]);
	if (rc < 0 || (rc = mreg_sync_status(&sync, reg)) < 0 || (rc = mreg_backup_list(&backups, reg)) < 0)
		goto done;
	original(&x, st);
	own_registry(&x, st, status.state_fresh);
	own_sync(&x, sync);
	own_backups(&x, backups);
	own_parity(&x, reg);
	if (mreg_buf_oom(out))
		rc = mreg_error_set(MREG_ERROR, "out of memory");
done:
	mreg_state_free(st);
	cJSON_Delete(sync);
	cJSON_Delete(backups);
	return rc;
}

int mreg_metrics_textfile(mreg_registry *reg, const char *path)
{
	mreg_buf b = MREG_BUF_INIT;
	int rc = mreg_metrics_text(&b, reg);
	if (rc == 0)
		rc = mreg_fs_write_atomic(path, b.ptr, b.size, false);
	mreg_buf_dispose(&b);
	return rc;
}

/*
 * CMA-ES results as registrations (REFERENCE.md, "CMA-ES integration"): a
 * tuned weights file becomes a heuristic version of heuristic_<board>_<n>p
 * with the fitness as its win rate and the run's settings in extra_config,
 * and the auto-promotion to staging is a second event. A training loop can
 * call mreg_cmaes_register directly; `mreg cmaes register` is a thin shell
 * over it. Reading back (best, weights, runs) is in cmd/cmaes.c over the
 * state, since it is only a query.
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mreg_cmaes_model_id(char out[MREG_ID_MAX + 1], const char *board, int players)
{
	if (!board || !*board || strlen(board) > 64 || strspn(board, "abcdefghijklmnopqrstuvwxyz0123456789") != strlen(board))
		return mreg_error_set(MREG_EINVALID, "invalid board '%s': lowercase letters and digits, 1 to 64",
				      board ? board : "");
	if (players < 2 || players > 8)
		return mreg_error_set(MREG_EINVALID, "invalid number of players %d: expected 2 to 8", players);
	snprintf(out, MREG_ID_MAX + 1, "heuristic_%s_%dp", board, players);
	return 0;
}

/* The weights file must exist and hold JSON, as the original checked. */
static int check_weights(const char *path)
{
	mreg_buf b = MREG_BUF_INIT;
	int rc = mreg_user_file_read(&b, path, "weights file", 64u << 20);	/* a regular file, never a FIFO */
	if (rc == MREG_ENOTFOUND)
		rc = mreg_error_set(MREG_ENOTFOUND, "weights file not found: '%s'", path);
	if (rc == 0) {
		cJSON *doc = cJSON_ParseWithLength(b.ptr, b.size);
		if (!doc)
			rc = mreg_error_set(MREG_EINVALID, "invalid weights file '%s': not JSON", path);
		cJSON_Delete(doc);
	}
	mreg_buf_dispose(&b);
	return rc;
}

/* The run's settings as the original's extra_config keys (absent ones null). */
static cJSON *training_config(const mreg_cmaes_opts *o)
{
	static const char *const from[][2] = {
		{ "population_size", "cmaes_population_size" }, { "sigma", "cmaes_sigma" },
		{ "generations", "cmaes_generations" }, { "games_per_eval", "cmaes_games_per_eval" },
		{ "opponent_mode", "cmaes_opponent_mode" }, { "eval_mode", "cmaes_eval_mode" },
		{ "run_id", "cmaes_run_id" },
	};
	cJSON *cfg = cJSON_CreateObject(), *ex = cJSON_CreateObject();
	if (!cfg || !ex) {
		cJSON_Delete(cfg);
		cJSON_Delete(ex);
		return NULL;
	}
	cJSON_AddNumberToObject(cfg, "epochs", o->generation);
	cJSON_AddStringToObject(cfg, "optimizer", "cmaes");
	cJSON_AddStringToObject(ex, "optimizer_type", "cmaes");
	cJSON_AddNumberToObject(ex, "final_fitness", o->fitness);
	cJSON_AddNumberToObject(ex, "final_generation", o->generation);
	cJSON_AddStringToObject(ex, "board_type", o->board);
	cJSON_AddNumberToObject(ex, "num_players", o->players);
	for (size_t i = 0; o->config && i < sizeof(from) / sizeof(from[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(o->config, from[i][0]);
		cJSON_AddItemToObject(ex, from[i][1], v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
	}
	cJSON_AddItemToObject(cfg, "extra_config", ex);
	return cfg;
}

/*
 * The auto-promotion, in a transaction of its own: the best win rate is
 * over the versions registered before this one, so the answer does not
 * depend on what other writers did in between.
 */
static int auto_promote(mreg_stage *stage_out, mreg_registry *reg, const char *id, int version,
			const mreg_cmaes_opts *o)
{
	mreg_txn t;
	mreg_version *v;
	mreg_ref ref;
	int rc;

	memset(&ref, 0, sizeof(ref));
	strcpy(ref.model, id);
	ref.version = version;
	if ((rc = mreg_txn_begin_on_version(&t, &v, reg, &ref)) < 0)
		return rc;
	const mreg_model *m = mreg_state_model(t.st, id);
	double best = 0;
	for (int i = 0; i < m->nversions; i++) {
		const mreg_version *x = &m->versions[i];
		if (x->version < version && (x->metrics.present & (1u << MREG_METRIC_WIN_RATE)) &&
		    x->metrics.v[MREG_METRIC_WIN_RATE] > best)
			best = x->metrics.v[MREG_METRIC_WIN_RATE];
	}
	*stage_out = v->stage;
	if (o->fitness > best + o->min_improvement && v->stage == MREG_STAGE_DEVELOPMENT) {
		mreg_buf r = MREG_BUF_INIT;
		mreg_buf_printf(&r, "Fitness improved from %.4f to %.4f", best, o->fitness);
		rc = mreg_buf_oom(&r) ? mreg_error_set(MREG_ERROR, "out of memory")
				      : mreg_txn_promote(&t, &ref, v, MREG_STAGE_STAGING, r.ptr, "cmaes");
		if (rc == 0)
			*stage_out = MREG_STAGE_STAGING;
		mreg_buf_dispose(&r);
	}
	mreg_txn_end(&t);
	return rc;
}

int mreg_cmaes_register(char model_out[MREG_ID_MAX + 1], int *version_out, mreg_stage *stage_out, mreg_buf *note,
			mreg_registry *reg, const mreg_cmaes_opts *o)
{
	char id[MREG_ID_MAX + 1], key[80], name[128];
	char tags[4][80];
	const char *tagp[4];
	mreg_register_opts ro = MREG_REGISTER_OPTS_INIT;
	cJSON *cfg = NULL;
	char *desc = NULL;
	int rc, version = 0;

	if (!o->weights)
		return mreg_error_set(MREG_EUSAGE, "cmaes register needs a WEIGHTS file");
	if ((rc = mreg_cmaes_model_id(id, o->board, o->players)) < 0)
		return rc;
	if (!(o->fitness >= 0 && o->fitness <= 1))
		return mreg_error_set(MREG_EINVALID, "invalid fitness %g for '%s': expected 0 to 1", o->fitness, id);
	if (o->generation < 0)
		return mreg_error_set(MREG_EINVALID, "invalid generation %d for '%s': expected >= 0", o->generation, id);
	if (o->config && !cJSON_IsObject(o->config))
		return mreg_error_set(MREG_EINVALID, "invalid CMA-ES config for '%s': expected a JSON object", id);
	if ((rc = check_weights(o->weights)) < 0)
		return rc;
	snprintf(key, sizeof(key), "%s_%dp", o->board, o->players);
	snprintf(name, sizeof(name), "CMA-ES Heuristic (%s)", key);
	mreg_buf d = MREG_BUF_INIT;
	mreg_buf_printf(&d, "CMA-ES optimized heuristic weights for %s, fitness=%.4f", key, o->fitness);
	desc = mreg_buf_detach(&d);
	snprintf(tags[0], sizeof(tags[0]), "board:%s", o->board);
	snprintf(tags[1], sizeof(tags[1]), "players:%d", o->players);
	snprintf(tags[2], sizeof(tags[2]), "generation:%d", o->generation);
	snprintf(tags[3], sizeof(tags[3]), "cmaes");
	for (int i = 0; i < 4; i++)
		tagp[i] = tags[i];
	if (!(cfg = training_config(o)) || !desc) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	ro.name = name;
	ro.file = o->weights;
	ro.id = id;
	ro.type = MREG_TYPE_HEURISTIC;
	ro.description = desc;
	ro.stage = MREG_STAGE_DEVELOPMENT;
	ro.training_config = cfg;
	ro.tags = tagp;
	ro.ntags = 4;
	ro.metrics.v[MREG_METRIC_WIN_RATE] = o->fitness;
	ro.metrics.present |= 1u << MREG_METRIC_WIN_RATE;
	double elo;
	if (mreg_cmaes_elo(&elo, o->fitness)) {
		ro.metrics.v[MREG_METRIC_ELO] = elo;
		ro.metrics.present |= 1u << MREG_METRIC_ELO;
	}
	const cJSON *gpe = cJSON_GetObjectItemCaseSensitive(o->config, "games_per_eval");
	double games = cJSON_IsNumber(gpe) ? gpe->valuedouble * o->generation : 0;
	if (!(games >= 0 && games == floor(games)))
		games = 0;
	ro.metrics.v[MREG_METRIC_GAMES_PLAYED] = games;
	ro.metrics.present |= 1u << MREG_METRIC_GAMES_PLAYED;
	if ((rc = mreg_register(model_out, &version, reg, &ro)) < 0)
		goto done;
	if (version_out)
		*version_out = version;
	if (stage_out)
		*stage_out = MREG_STAGE_DEVELOPMENT;
	if (o->auto_promote) {
		/*
		 * The registration is committed: it stands whatever happens to
		 * the promotion, so this call succeeds (a caller that retried
		 * would register twice) and says why the version stayed put.
		 */
		mreg_stage st = MREG_STAGE_DEVELOPMENT;
		if (auto_promote(&st, reg, id, version, o) < 0 && note)
			mreg_buf_printf(note, "registered %s:%d, but its auto-promotion failed: %s", id, version,
					mreg_error_last());
		mreg_error_clear();
		if (stage_out)
			*stage_out = st;
	}
done:
	cJSON_Delete(cfg);
	free(desc);
	return rc;
}

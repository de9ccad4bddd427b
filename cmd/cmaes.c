/*
 * mreg cmaes: register a CMA-ES result, and read back the best model, its
 * weights and the runs, as the original's cmaes_registry_integration did.
 * The reads are queries over heuristic versions of heuristic_<board>_<n>p.
 */
#include "cli.h"
#include "../core/num.h"

#include <stdlib.h>
#include <string.h>

const cli_opt opts_cmaes[] = {
	{ "board", 0, true, "B          board type: square8, hex8, ..." },
	{ "players", 0, true, "N        number of players, 2 to 8" },
	{ "fitness", 0, true, "F        register: final fitness (win rate), 0 to 1" },
	{ "generation", 0, true, "G     register: generations run" },
	{ "config-file", 0, true, "F   register: the run's config as JSON (population_size, sigma, ...)" },
	{ "population-size", 0, true, "N  register: CMA-ES population size" },
	{ "sigma", 0, true, "S          register: initial step size" },
	{ "games-per-eval", 0, true, "N  register: games per fitness evaluation" },
	{ "opponent-mode", 0, true, "M  register: opponent mode" },
	{ "eval-mode", 0, true, "M      register: evaluation mode" },
	{ "run-id", 0, true, "ID        register: run id" },
	{ "generations", 0, true, "N    register: generations planned" },
	{ "no-auto-promote", 0, false, " register: never promote to staging" },
	{ "min-improvement", 0, true, "X  register: fitness gain for auto-promotion (default 0.02)" },
	{ "stage", 's', true, "S        best, weights: only this stage (weights: default production)" },
	{ "limit", 0, true, "N          runs: at most N (default 10)" },
	{ NULL, 0, false, NULL }
};

/* A whole number option; 1 if absent, 0 if read, 2 after a usage error. */
static int int_opt(int *out, const cli_args *a, const char *name, int min, int max)
{
	const char *v = cli_get(a, name);
	double d;
	char label[40];
	if (!v)
		return 1;
	snprintf(label, sizeof(label), "--%s", name);
	if (cli_number(&d, v, label, min, max) < 0 || d != (double)(int)d) {
		cli_usage(a->cmd, "invalid --%s '%s': expected a whole number from %d to %d", name, v, min, max);
		return 2;
	}
	*out = (int)d;
	return 0;
}

static int board_players(char id[MREG_ID_MAX + 1], const cli_args *a, bool required)
{
	int players = 0, r;
	if (!cli_get(a, "board") || !cli_get(a, "players")) {
		if (required)
			return cli_usage(a->cmd, "cmaes needs --board and --players");
		return 1;
	}
	if ((r = int_opt(&players, a, "players", 2, 8)) == 2)
		return 2;
	if (mreg_cmaes_model_id(id, cli_get(a, "board"), players) < 0)
		return cli_fail(MREG_EINVALID);
	return 0;
}

/*
 * The run's config: --config-file, or the options that give it one value
 * each (not both), or NULL when there is none. 0, or the exit code after
 * printing the error.
 */
static int run_config(cJSON **cfg, const cli_args *a)
{
	static const char *const keys[][2] = {
		{ "population-size", "population_size" }, { "sigma", "sigma" }, { "games-per-eval", "games_per_eval" },
		{ "opponent-mode", "opponent_mode" }, { "eval-mode", "eval_mode" }, { "run-id", "run_id" },
		{ "generations", "generations" },
	};
	const char *file = cli_get(a, "config-file");
	bool any = false;
	int rc;

	*cfg = NULL;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		any |= cli_get(a, keys[i][0]) != NULL;
	if (any && file)
		return cli_usage(a->cmd, "give the run's config either as --config-file or as options, not both");
	if (file && (rc = cli_read_json_file(cfg, file, "config file")) < 0)
		return cli_fail(rc);
	if (!any)
		return 0;
	*cfg = cJSON_CreateObject();
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = cli_get(a, keys[i][0]);
		if (!v)
			continue;
		bool text = !strcmp(keys[i][1], "opponent_mode") || !strcmp(keys[i][1], "eval_mode") ||
			    !strcmp(keys[i][1], "run_id");
		double d;
		if (text)
			cJSON_AddStringToObject(*cfg, keys[i][1], v);
		else if (cli_number(&d, v, keys[i][0], 0, 1e12) < 0)
			return cli_usage(a->cmd, "invalid --%s '%s': expected a number >= 0", keys[i][0], v);
		else
			cJSON_AddNumberToObject(*cfg, keys[i][1], d);
	}
	return 0;
}

static int cmaes_register(cli_globals *g, const cli_args *a)
{
	mreg_cmaes_opts co = MREG_CMAES_OPTS_INIT;
	mreg_registry *reg = NULL;
	mreg_buf note = MREG_BUF_INIT;
	cJSON *cfg = NULL;
	char id[MREG_ID_MAX + 1];
	int rc, version = 0;
	mreg_stage stage;

	if (a->npositional != 2)
		return cli_usage(a->cmd, "cmaes register needs one WEIGHTS file");
	if ((rc = board_players(id, a, true)))
		return rc;
	co.weights = a->positional[1];
	co.board = cli_get(a, "board");
	int_opt(&co.players, a, "players", 2, 8);
	if (!cli_get(a, "fitness") || !cli_get(a, "generation"))
		return cli_usage(a->cmd, "cmaes register needs --fitness and --generation");
	if (cli_number(&co.fitness, cli_get(a, "fitness"), "--fitness", 0, 1) < 0)
		return cli_fail(MREG_EUSAGE);
	if (int_opt(&co.generation, a, "generation", 0, 1 << 30) == 2)
		return 2;
	if (cli_get(a, "min-improvement") && cli_number(&co.min_improvement, cli_get(a, "min-improvement"),
							"--min-improvement", -1, 1) < 0)
		return cli_fail(MREG_EUSAGE);
	co.auto_promote = !cli_has(a, "no-auto-promote");
	if ((rc = run_config(&cfg, a)) || (rc = cli_open(&reg, g)))
		goto done;
	co.config = cfg;
	rc = mreg_cmaes_register(id, &version, &stage, &note, reg, &co);
	if (note.size)
		fprintf(stderr, "mreg: warning: %s\n", note.ptr);
	if (rc < 0)
		rc = cli_fail(rc);
	else if (g->json)
		rc = cli_print_version_of(reg, id, version);
	else
		printf("Registered %s:%d (%s)\n", id, version, mreg_stage_name(stage));
done:
	mreg_buf_dispose(&note);
	cJSON_Delete(cfg);
	mreg_registry_free(reg);
	return rc;
}

static bool is_cmaes_id(const char *id, const char *board, int players)
{
	/* heuristic_<board>_<n>p, split at the last '_' as the original did */
	if (strncmp(id, "heuristic_", 10))
		return false;
	const char *rest = id + 10, *us = strrchr(rest, '_');
	if (!us || us == rest)
		return false;
	char *end;
	long n = strtol(us + 1, &end, 10);
	if (end == us + 1 || strcmp(end, "p"))
		return false;
	if (board && (strlen(board) != (size_t)(us - rest) || strncmp(rest, board, (size_t)(us - rest))))
		return false;
	return !players || n == players;
}

/* Heuristic versions of CMA-ES ids, newest update first. */
static int cmaes_rows(mreg_row **rows, size_t *n, mreg_state **st, mreg_registry *reg, const char *board, int players,
		      mreg_stage stage)
{
	mreg_filter f = MREG_FILTER_INIT;
	int rc;
	f.type = MREG_TYPE_HEURISTIC;
	f.stage = stage;
	if ((rc = mreg_read_state(st, reg, NULL, true)) < 0 || (rc = mreg_query_list(rows, n, *st, &f)) < 0)
		return rc;
	size_t k = 0;
	/* with no filter every heuristic version is a run, as the original listed them */
	for (size_t i = 0; i < *n; i++)
		if ((!board && !players) || is_cmaes_id((*rows)[i].model->id, board, players))
			(*rows)[k++] = (*rows)[i];
	*n = k;
	return 0;
}

/* The highest win rate (the first of equals, newest update first), or NULL. */
static const mreg_row *best_row(const mreg_row *rows, size_t n)
{
	const mreg_row *best = NULL;
	double top = -1;
	for (size_t i = 0; i < n; i++) {
		const mreg_metrics *m = &rows[i].version->metrics;
		if ((m->present & (1u << MREG_METRIC_WIN_RATE)) && m->v[MREG_METRIC_WIN_RATE] > top) {
			top = m->v[MREG_METRIC_WIN_RATE];
			best = &rows[i];
		}
	}
	return best;
}

/* cmaes runs: the first limit rows, as a table or as version objects. */
static void print_runs(cli_globals *g, const mreg_row *rows, size_t n, int limit)
{
	if (n > (size_t)limit)
		n = (size_t)limit;
	if (g->json) {
		cli_print_versions(rows, n);
		return;
	}
	printf("%-28s %-5s %-12s %-9s %-9s %s\n", "Model ID", "Ver", "Stage", "Fitness", "Elo", "Updated");
	printf("--------------------------------------------------------------------------------------\n");
	for (size_t i = 0; i < n; i++) {
		const mreg_version *v = rows[i].version;
		char e[32] = "-", f[32] = "-";
		if (v->metrics.present & (1u << MREG_METRIC_WIN_RATE))
			snprintf(f, sizeof(f), "%.4f", mreg_num_nz(v->metrics.v[MREG_METRIC_WIN_RATE]));
		if (v->metrics.present & (1u << MREG_METRIC_ELO))
			snprintf(e, sizeof(e), "%.1f", mreg_num_nz(v->metrics.v[MREG_METRIC_ELO]));
		printf("%-28s v%-4d %-12s %-9s %-9s %.16s\n", rows[i].model->id, v->version, mreg_stage_name(v->stage), f, e,
		       v->updated_at);
	}
	if (!n)
		printf("No CMA-ES runs found.\n");
}

/* cmaes weights: the "weights" object of the best version's file, as JSON with or without --json. */
static int print_weights(mreg_registry *reg, const mreg_row *best)
{
	mreg_buf data = MREG_BUF_INIT;
	mreg_version *v = (mreg_version *)best->version;
	cJSON *doc = NULL;
	int rc;
	if ((rc = mreg_version_materialize(v)) < 0 || (rc = mreg_artifact_read(&data, reg, v->file_path, v->file_hash)) < 0) {
		rc = cli_fail(rc);
		goto done;
	}
	doc = cJSON_ParseWithLength(data.ptr, data.size);
	const cJSON *wt = cJSON_GetObjectItemCaseSensitive(doc, "weights");
	if (!cJSON_IsObject(wt)) {
		rc = cli_fail(mreg_error_set(MREG_EINVALID, "weights file of '%s:%d' has no \"weights\" object",
					     best->model->id, v->version));
		goto done;
	}
	cli_print_value(wt);
done:
	cJSON_Delete(doc);
	mreg_buf_dispose(&data);
	return rc;
}

/* cmaes best | weights | runs: queries over the heuristic versions of CMA-ES ids. */
static int cmaes_read(cli_globals *g, const char *sub, const cli_args *a)
{
	mreg_registry *reg = NULL;
	mreg_state *st = NULL;
	mreg_row *rows = NULL;
	size_t n = 0;
	char id[MREG_ID_MAX + 1];
	int players = 0, limit = 10, rc;
	bool runs = !strcmp(sub, "runs"), weights = !strcmp(sub, "weights");

	if ((rc = board_players(id, a, !runs)) == 2 || (rc != 0 && rc != 1))
		return rc;
	if (cli_get(a, "players") && int_opt(&players, a, "players", 2, 8) == 2)
		return 2;
	if (runs && cli_get(a, "board") && !cli_get(a, "players"))
		players = 0;
	mreg_stage stage = weights ? MREG_STAGE_PRODUCTION : MREG_STAGE_NONE;
	if (cli_get(a, "stage") && (stage = mreg_stage_parse(cli_get(a, "stage"))) == MREG_STAGE_NONE)
		return cli_usage(a->cmd, "unknown stage '%s'", cli_get(a, "stage"));
	if (int_opt(&limit, a, "limit", 0, 1 << 30) == 2)
		return 2;
	if ((rc = cli_open(&reg, g)))
		return rc;
	if ((rc = cmaes_rows(&rows, &n, &st, reg, cli_get(a, "board"), players, runs ? MREG_STAGE_NONE : stage)) < 0) {
		rc = cli_fail(rc);
		goto done;
	}
	if (runs) {
		print_runs(g, rows, n, limit);
		goto done;
	}
	const mreg_row *best = best_row(rows, n);
	if (!best) {
		rc = cli_fail(mreg_error_set(MREG_ENOTFOUND, "no CMA-ES model for %s%s%s", id,
					     stage != MREG_STAGE_NONE ? " in " : "",
					     stage != MREG_STAGE_NONE ? mreg_stage_name(stage) : ""));
	} else if (weights) {
		rc = print_weights(reg, best);
	} else if (g->json) {
		cli_print_version(best->model, best->version);
	} else {
		const mreg_version *v = best->version;
		printf("%s:%d %s fitness %.4f\n", best->model->id, v->version, mreg_stage_name(v->stage),
		       mreg_num_nz(v->metrics.v[MREG_METRIC_WIN_RATE]));
	}
done:
	free(rows);
	mreg_state_free(st);
	mreg_registry_free(reg);
	return rc;
}

int cmd_cmaes(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	int rc;
	if ((rc = cli_parse(&a, "cmaes", argc, argv)))
		return rc;
	if (a.npositional < 1)
		return cli_usage(a.cmd, "cmaes needs register, best, weights or runs");
	const char *sub = a.positional[0];
	if (!strcmp(sub, "register"))
		return cmaes_register(g, &a);
	if (strcmp(sub, "best") && strcmp(sub, "weights") && strcmp(sub, "runs"))
		return cli_usage(a.cmd, "unknown cmaes subcommand '%s': expected register, best, weights or runs", sub);
	if (a.npositional != 1)
		return cli_usage(a.cmd, "cmaes %s takes options only", sub);
	return cmaes_read(g, sub, &a);
}

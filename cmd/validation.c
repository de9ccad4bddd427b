/*
 * mreg validation: step a version's validation (create, queue, start,
 * pass, fail), and list what needs one (pending, unvalidated). The library
 * checks the order of the steps; this file reads the options and prints
 * the validation that results.
 */
#define _GNU_SOURCE /* strsep */
#include "cli.h"
#include "../core/num.h"

#include <stdlib.h>
#include <string.h>

const cli_opt opts_validation[] = {
	{ "baselines", 0, true, "A,B    create: baselines to play against, comma-separated" },
	{ "games", 0, true, "N          create: games per matchup (default 50)" },
	{ "results", 0, true, "F        pass, fail: a JSON file of results" },
	{ NULL, 0, false, NULL }
};

static void validation_row_json(mreg_jsonw *w, const mreg_model *m, const mreg_version *v, bool with_validation)
{
	mreg_jsonw_obj_begin(w, NULL);
	mreg_jsonw_str(w, "model_id", m->id);
	mreg_jsonw_int(w, "version", v->version);
	mreg_jsonw_str(w, "file_path", v->file_path);
	mreg_jsonw_str(w, "stage", mreg_stage_name(v->stage));
	mreg_jsonw_str(w, "name", m->name);
	mreg_jsonw_str(w, "model_type", mreg_type_name(m->type));
	if (with_validation) {
		const cJSON *bl = cJSON_GetObjectItemCaseSensitive(v->validation, "baselines");
		const cJSON *gm = cJSON_GetObjectItemCaseSensitive(v->validation, "games_per_matchup");
		mreg_jsonw_str(w, "validation_status", "pending");
		mreg_jsonw_value(w, "baselines", bl);
		mreg_jsonw_value(w, "games_per_matchup", gm);
	}
	mreg_jsonw_obj_end(w);
}

static int cmp_created_desc(const void *x, const void *y)
{
	const mreg_row *a = x, *b = y;
	int c = strcmp(b->version->created_at, a->version->created_at);
	if (c)
		return c;
	c = strcmp(a->model->id, b->model->id);
	return c ? c : b->version->version - a->version->version;
}

/* validation pending | unvalidated: listings over every model. */
static int validation_list(cli_globals *g, mreg_registry *reg, bool pending)
{
	mreg_state *st = NULL;
	mreg_row *rows = NULL;
	size_t n = 0, k = 0;
	mreg_filter f = MREG_FILTER_INIT;
	int rc;
	if ((rc = mreg_read_state(&st, reg, NULL, true)) < 0 || (rc = mreg_query_list(&rows, &n, st, &f)) < 0) {
		mreg_state_free(st);
		return cli_fail(rc);
	}
	for (size_t i = 0; i < n; i++) {
		mreg_version *v = (mreg_version *)rows[i].version;
		if ((rc = mreg_version_materialize(v)) < 0)
			break;
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(v->validation, "status");
		bool keep = pending ? cJSON_IsString(s) && !strcmp(s->valuestring, "pending")
				    : !v->validation && (v->stage == MREG_STAGE_DEVELOPMENT || v->stage == MREG_STAGE_STAGING);
		if (keep)
			rows[k++] = rows[i];
	}
	if (rc < 0) {
		free(rows);
		mreg_state_free(st);
		return cli_fail(rc);
	}
	if (!pending && k)	/* the original lists these newest registration first */
		qsort(rows, k, sizeof(*rows), cmp_created_desc);
	if (g->json) {
		cli_json j;
		mreg_jsonw *w = cli_json_start(&j);
		mreg_jsonw_arr_begin(w, NULL);
		for (size_t i = 0; i < k; i++)
			validation_row_json(w, rows[i].model, rows[i].version, pending);
		mreg_jsonw_arr_end(w);
		cli_json_print(&j);
	} else if (!k) {
		printf(pending ? "No versions waiting for validation.\n" : "Every development and staging version has a validation.\n");
	} else {
		printf("%-25s %-5s %-12s %-14s %s\n", "Model ID", "Ver", "Stage", "Type", pending ? "Baselines / games" : "");
		printf("--------------------------------------------------------------------------------\n");
		for (size_t i = 0; i < k; i++) {
			const mreg_version *v = rows[i].version;
			printf("%-25s v%-4d %-12s %-14s", rows[i].model->id, v->version, mreg_stage_name(v->stage),
			       mreg_type_name(rows[i].model->type));
			if (pending) {
				const cJSON *bl = cJSON_GetObjectItemCaseSensitive(v->validation, "baselines"), *c;
				int j = 0;
				cJSON_ArrayForEach(c, bl)
					printf("%s%s", j++ ? "," : " ", c->valuestring);
				char gm[MREG_NUM_MAX];
				printf("%s / %s", j ? "" : " -", cli_member_text(gm, sizeof(gm), v->validation, "games_per_matchup"));
			}
			printf("\n");
		}
	}
	free(rows);
	mreg_state_free(st);
	return 0;
}

/* The action of `validation REF ACTION ...`, and the options that go with it: 0, or 2 after the usage error. */
static int validation_action(mreg_validation_opts *vo, const cli_args *a)
{
	static const char *const actions[] = { "create", "queue", "start", "pass", "fail" };
	if (a->npositional < 2)
		return cli_usage(a->cmd, "validation needs REF and an action, or 'pending' / 'unvalidated'");
	vo->action = NULL;
	for (size_t i = 0; i < 5; i++)
		if (!strcmp(a->positional[1], actions[i]))
			vo->action = actions[i];
	if (!vo->action)
		return cli_usage(a->cmd, "unknown validation action '%s': expected create, queue, start, pass or fail",
				 a->positional[1]);
	if (a->npositional != (!strcmp(vo->action, "queue") ? 3 : 2))
		return cli_usage(a->cmd, !strcmp(vo->action, "queue") ? "validation REF queue needs one WORK_ID"
								     : "validation REF %s takes no more arguments", vo->action);
	if (strcmp(vo->action, "create") && (cli_get(a, "baselines") || cli_get(a, "games")))
		return cli_usage(a->cmd, "--baselines and --games go with 'create'");
	if (strcmp(vo->action, "pass") && strcmp(vo->action, "fail") && cli_get(a, "results"))
		return cli_usage(a->cmd, "--results goes with 'pass' or 'fail'");
	return 0;
}

/*
 * WORK_ID, --games and --baselines into vo; the names point into *bl (free
 * it) and names[64]. 0, or 2 after the usage error.
 */
static int validation_values(mreg_validation_opts *vo, char **bl, const char **names, const cli_args *a)
{
	const char *list = cli_get(a, "baselines");
	double games = 0;
	if (!strcmp(vo->action, "queue")) {
		vo->work_id = a->positional[2];
		if (!*vo->work_id || strlen(vo->work_id) > 256)
			return cli_usage(a->cmd, "invalid WORK_ID: 1 to 256 bytes");
	}
	if (cli_number_opt(&games, NULL, a, "games", 1, 1 << 30) < 0)
		return 2;
	if (games != (double)(int)games)
		return cli_usage(a->cmd, "invalid --games '%s': expected a whole number", cli_get(a, "games"));
	vo->games_per_matchup = (int)games;
	if (!list)
		return 0;
	*bl = strdup(list);
	char *p = *bl, *tok;
	while ((tok = strsep(&p, ",")) != NULL) {
		if (!*tok || strlen(tok) > 256 || vo->nbaselines >= 64)
			return cli_usage(a->cmd, "invalid --baselines '%s': up to 64 non-empty names, comma-separated", list);
		for (size_t i = 0; i < vo->nbaselines; i++)
			if (!strcmp(names[i], tok))
				return cli_usage(a->cmd, "invalid --baselines: '%s' is named twice", tok);
		names[vo->nbaselines++] = tok;
	}
	vo->baselines = names;
	return 0;
}

/* The version's validation after the step: its status (and work id), or with --json the whole object. */
static int print_validation(cli_globals *g, mreg_registry *reg, const mreg_ref *ref, const char *action)
{
	mreg_state *st = NULL;
	mreg_model *m;
	mreg_version *v;
	int rc;
	if ((rc = mreg_read_model(&st, reg, ref->model, ref->version)) < 0 ||
	    (rc = mreg_query_version(&m, &v, st, ref)) < 0 || (rc = mreg_version_materialize(v)) < 0) {
		mreg_state_free(st);
		return cli_fail(rc);
	}
	if (g->json) {
		cli_print_value(v->validation);
	} else {
		char wid[MREG_NUM_MAX + 256];
		printf("Validation of %s:%d: %s", m->id, v->version,
		       cJSON_GetObjectItemCaseSensitive(v->validation, "status")->valuestring);
		if (!strcmp(action, "queue"))
			printf(" (work %s)", cli_member_text(wid, sizeof(wid), v->validation, "work_id"));
		printf("\n");
	}
	mreg_state_free(st);
	return 0;
}

int cmd_validation(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	mreg_registry *reg = NULL;
	mreg_ref ref;
	mreg_validation_opts vo;
	cJSON *results = NULL;
	char *bl = NULL;
	const char *names[64];
	int rc;

	memset(&vo, 0, sizeof(vo));
	if ((rc = cli_parse(&a, "validation", argc, argv)))
		return rc;
	if (a.npositional == 1 && (!strcmp(a.positional[0], "pending") || !strcmp(a.positional[0], "unvalidated"))) {
		if ((rc = cli_open(&reg, g)))
			return rc;
		rc = validation_list(g, reg, !strcmp(a.positional[0], "pending"));
		mreg_registry_free(reg);
		return rc;
	}
	if ((rc = validation_action(&vo, &a)))
		return rc;
	if ((rc = mreg_ref_parse(&ref, a.positional[0])) < 0)
		return cli_fail(rc);
	if ((rc = validation_values(&vo, &bl, names, &a)))
		goto done;
	if (cli_get(&a, "results") && (rc = cli_read_json_file(&results, cli_get(&a, "results"), "results file")) < 0) {
		rc = cli_fail(rc);
		goto done;
	}
	vo.results = results;
	if ((rc = cli_open(&reg, g)))
		goto done;
	if ((rc = mreg_validation_step(reg, &ref, &vo)) < 0)
		rc = cli_fail(rc);
	else
		rc = print_validation(g, reg, &ref, vo.action);
done:
	cJSON_Delete(results);
	free(bl);
	mreg_registry_free(reg);
	return rc;
}

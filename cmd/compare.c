/*
 * mreg compare: two versions side by side in the original's table, or with
 * --record a head-to-head result written as a comparison.recorded event.
 */
#include "cli.h"
#include "../core/num.h"

#include <stdint.h>
#include <string.h>

const cli_opt opts_compare[] = {
	{ "record", 0, false, "         record a head-to-head result instead of showing the two" },
	{ "games", 0, true, "N          record: games played" },
	{ "a-wins", 0, true, "N         record: wins of A" },
	{ "b-wins", 0, true, "N         record: wins of B" },
	{ "draws", 0, true, "N          record: draws" },
	{ "elo-diff", 0, true, "X       record: Elo difference measured" },
	{ "notes", 0, true, "S          record: notes" },
	{ NULL, 0, false, NULL }
};

static const char *config_text(char *buf, size_t n, const cJSON *config, const char *key)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(config, key);
	return c ? cli_member_text(buf, n, config, key) : "N/A";
}

/* a and b side by side; ca and cb their training configs, parsed */
static void print_compare_table(const mreg_model *ma, const mreg_version *a, const cJSON *ca, const mreg_model *mb,
				const mreg_version *b, const cJSON *cb)
{
	char x[MREG_NUM_MAX + 160], y[MREG_NUM_MAX + 160];
	printf("\n%-20s %-25s %-25s\n", "Comparison", "Model A", "Model B");
	printf("----------------------------------------------------------------------\n");
	snprintf(x, sizeof(x), "%s:v%d", ma->id, a->version);
	snprintf(y, sizeof(y), "%s:v%d", mb->id, b->version);
	printf("%-20s %-25s %-25s\n", "ID", x, y);
	printf("%-20s %-25s %-25s\n", "Stage", mreg_stage_name(a->stage), mreg_stage_name(b->stage));
	printf("%-20s %-25s %-25s\n", "Type", mreg_type_name(ma->type), mreg_type_name(mb->type));
	printf("\n%-20s\n", "Metrics");
	const mreg_version *vs[2] = { a, b };
	char *cell[2] = { x, y };
	for (int i = 0; i < 2; i++) {
		mreg_buf c = MREG_BUF_INIT;
		const mreg_metrics *m = &vs[i]->metrics;
		if ((m->present & (1u << MREG_METRIC_ELO)) && m->v[MREG_METRIC_ELO] != 0)
			mreg_put_pyfloat(&c, m->v[MREG_METRIC_ELO]);
		else
			mreg_buf_puts(&c, "N/A");
		snprintf(cell[i], sizeof(x), "%s", c.ptr);
		mreg_buf_dispose(&c);
	}
	printf("%-20s %-25s %-25s\n", "  Elo", x, y);
	const mreg_metrics *ma_m = &a->metrics, *mb_m = &b->metrics;
	if ((ma_m->present & mb_m->present & (1u << MREG_METRIC_ELO)) && ma_m->v[MREG_METRIC_ELO] != 0 &&
	    mb_m->v[MREG_METRIC_ELO] != 0) {
		mreg_buf c = MREG_BUF_INIT;
		double d = mreg_num_nz(mb_m->v[MREG_METRIC_ELO] - ma_m->v[MREG_METRIC_ELO]);
		mreg_buf_printf(&c, "%s%.1f", d >= 0 ? "+" : "", d);
		printf("%-20s %-25s %s\n", "  Elo Diff", "", c.ptr);
		mreg_buf_dispose(&c);
	}
	for (int i = 0; i < 2; i++) {
		const mreg_metrics *m = &vs[i]->metrics;
		if ((m->present & (1u << MREG_METRIC_WIN_RATE)) && m->v[MREG_METRIC_WIN_RATE] != 0) {
			mreg_buf c = MREG_BUF_INIT;
			mreg_buf_printf(&c, "%.1f%%", m->v[MREG_METRIC_WIN_RATE] * 100);
			snprintf(cell[i], sizeof(x), "%s", c.ptr);
			mreg_buf_dispose(&c);
		} else {
			snprintf(cell[i], sizeof(x), "N/A");
		}
	}
	printf("%-20s %-25s %-25s\n", "  Win Rate", x, y);
	printf("%-20s %-25g %-25g\n", "  Games Played", mreg_num_nz(a->metrics.v[MREG_METRIC_GAMES_PLAYED]),
	       mreg_num_nz(b->metrics.v[MREG_METRIC_GAMES_PLAYED]));
	printf("\n%-20s\n", "Training Config");
	static const char *const rows[][2] = { { "  Optimizer", "optimizer" }, { "  Learning Rate", "learning_rate" },
					       { "  Batch Size", "batch_size" }, { "  Epochs", "epochs" } };
	for (size_t i = 0; i < 4; i++) {
		char p[MREG_NUM_MAX + 64], q[MREG_NUM_MAX + 64];
		printf("%-20s %-25s %-25s\n", rows[i][0], config_text(p, sizeof(p), ca, rows[i][1]),
		       config_text(q, sizeof(q), cb, rows[i][1]));
	}
}

/* Both versions, fully parsed, in one state (every model loaded: compare is not a hot path). */
static int load_pair(mreg_state **st, mreg_model **ma, mreg_version **a, mreg_model **mb, mreg_version **b,
		     mreg_registry *reg, const mreg_ref *ra, const mreg_ref *rb)
{
	int rc;
	if ((rc = mreg_read_state(st, reg, NULL, true)) < 0 || (rc = mreg_query_version(ma, a, *st, ra)) < 0 ||
	    (rc = mreg_query_version(mb, b, *st, rb)) < 0 || (rc = mreg_version_materialize(*a)) < 0 ||
	    (rc = mreg_version_materialize(*b)) < 0)
		return rc;
	return 0;
}

static int count_opt(int64_t *out, const cli_args *a, const char *name)
{
	double v = 0;
	bool given = false;
	if (cli_number_opt(&v, &given, a, name, 0, 1e15) < 0)
		return -1;
	if (!given) {
		cli_usage(a->cmd, "compare --record needs --%s", name);
		return -1;
	}
	if (v != (double)(int64_t)v) {
		cli_usage(a->cmd, "invalid --%s '%s': expected a whole number", name, cli_get(a, name));
		return -1;
	}
	*out = (int64_t)v;
	return 0;
}

/* --games, --a-wins, --b-wins, --draws, --elo-diff and --notes of --record into co: 0, or 2 after the usage error. */
static int record_opts(mreg_comparison_opts *co, const cli_args *a)
{
	if (count_opt(&co->games, a, "games") < 0 || count_opt(&co->a_wins, a, "a-wins") < 0 ||
	    count_opt(&co->b_wins, a, "b-wins") < 0 || count_opt(&co->draws, a, "draws") < 0 ||
	    cli_number_opt(&co->elo_diff, &co->has_elo_diff, a, "elo-diff", -1e6, 1e6) < 0)
		return 2;
	if (co->a_wins + co->b_wins + co->draws > co->games)
		return cli_usage(a->cmd, "wins and draws (%lld) add up to more than --games %lld",
				 (long long)(co->a_wins + co->b_wins + co->draws), (long long)co->games);
	co->notes = cli_get(a, "notes");
	return 0;
}

/* compare A B --record: one comparison.recorded event, and the result as the library made it. */
static int compare_record(cli_globals *g, mreg_registry *reg, const mreg_ref *ra, const mreg_ref *rb,
			  const mreg_comparison_opts *co)
{
	cJSON *res = NULL;
	int rc;
	if ((rc = mreg_compare_record(&res, reg, ra, rb, co)) < 0) {
		rc = cli_fail(rc);
	} else if (g->json) {
		cli_print_value(res);
	} else {
		const cJSON *A = cJSON_GetObjectItemCaseSensitive(res, "model_a");
		const cJSON *B = cJSON_GetObjectItemCaseSensitive(res, "model_b");
		printf("Recorded %s vs %s: %lld-%lld-%lld of %lld (A %.1f%%, B %.1f%%, draws %.1f%%)\n",
		       A ? A->valuestring : "?", B ? B->valuestring : "?", (long long)co->a_wins, (long long)co->b_wins,
		       (long long)co->draws, (long long)co->games,
		       cJSON_GetObjectItemCaseSensitive(res, "a_win_rate")->valuedouble * 100,
		       cJSON_GetObjectItemCaseSensitive(res, "b_win_rate")->valuedouble * 100,
		       cJSON_GetObjectItemCaseSensitive(res, "draw_rate")->valuedouble * 100);
	}
	cJSON_Delete(res);
	return rc;
}

/* compare A B: the two side by side, or with --json both version objects and the Elo difference. */
static int compare_show(cli_globals *g, mreg_registry *reg, const mreg_ref *ra, const mreg_ref *rb)
{
	mreg_state *st = NULL;
	mreg_model *ma, *mb;
	mreg_version *va, *vb;
	cJSON *ca = NULL, *cb = NULL;
	int rc;
	if ((rc = load_pair(&st, &ma, &va, &mb, &vb, reg, ra, rb)) < 0) {
		rc = cli_fail(rc);
	} else if (g->json) {
		cli_json j;
		mreg_jsonw *w = cli_json_object(&j);
		mreg_version_write(w, "model_a", ma, va);
		mreg_version_write(w, "model_b", mb, vb);
		if ((va->metrics.present & vb->metrics.present & (1u << MREG_METRIC_ELO)))
			mreg_jsonw_num(w, "elo_diff", vb->metrics.v[MREG_METRIC_ELO] - va->metrics.v[MREG_METRIC_ELO]);
		else
			mreg_jsonw_null(w, "elo_diff");
		cli_json_print(&j);
	} else if ((va->training_config && !(ca = mreg_version_config(va))) ||
		   (vb->training_config && !(cb = mreg_version_config(vb)))) {
		rc = cli_fail(mreg_error_set(MREG_ERROR, "out of memory"));
	} else {
		print_compare_table(ma, va, ca, mb, vb, cb);
	}
	cJSON_Delete(ca);
	cJSON_Delete(cb);
	mreg_state_free(st);
	return rc;
}

int cmd_compare(cli_globals *g, int argc, char **argv)
{
	static const char *const rec_only[] = { "games", "a-wins", "b-wins", "draws", "elo-diff", "notes" };
	cli_args a;
	mreg_registry *reg = NULL;
	mreg_comparison_opts co;
	mreg_ref ra, rb;
	int rc;

	memset(&co, 0, sizeof(co));
	if ((rc = cli_parse(&a, "compare", argc, argv)))
		return rc;
	if (a.npositional != 2)
		return cli_usage(a.cmd, "compare needs two REFs");
	if ((rc = mreg_ref_parse(&ra, a.positional[0])) < 0 || (rc = mreg_ref_parse(&rb, a.positional[1])) < 0)
		return cli_fail(rc);
	bool record = cli_has(&a, "record");
	for (size_t i = 0; !record && i < 6; i++)
		if (cli_get(&a, rec_only[i]))
			return cli_usage(a.cmd, "--%s goes with --record", rec_only[i]);
	if (record && (rc = record_opts(&co, &a)))
		return rc;
	if ((rc = cli_open(&reg, g)))
		return rc;
	rc = record ? compare_record(g, reg, &ra, &rb, &co) : compare_show(g, reg, &ra, &rb);
	mreg_registry_free(reg);
	return rc;
}

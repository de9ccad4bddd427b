/*
 * Commands that read: show, history, list, log, stats, status, dashboard.
 * Each opens the registry for reading, asks the library for the state (or
 * the part of it it prints), and prints it: tables for people are aligned;
 * --json prints the objects of the state files and nothing else.
 */
#include "cli.h"
#include "../core/num.h"

#include <stdlib.h>
#include <string.h>

const cli_opt opts_show[] = {
	{ "version", 'v', true, "N        version (instead of REF's :N)" },
	{ NULL, 0, false, NULL }
};

const cli_opt opts_list[] = {
	{ "stage", 's', true, "S          only versions in stage S" },
	{ "type", 't', true, "T           only models of type T" },
	{ "tag", 0, true, "T            only versions with tag T" },
	{ "model", 0, true, "ID         only versions of model ID" },
	{ "group", 'g', false, "           group the table by model" },
	{ NULL, 0, false, NULL }
};

const cli_opt opts_log[] = {
	{ "limit", 'n', true, "N          at most the last N events" },
	{ NULL, 0, false, NULL }
};

/* ---- small table printer -------------------------------------------- */

#define MAX_COLS 10

typedef struct {
	int ncols;
	char **cells;	/* row-major */
	size_t nrows, arows;
	int width[MAX_COLS];
} table;

static void table_add(table *t, const char *const *cols)
{
	if (t->nrows == t->arows) {
		t->arows = t->arows ? t->arows * 2 : 64;
		char **p = realloc(t->cells, t->arows * (size_t)t->ncols * sizeof(char *));
		if (!p)
			return;
		t->cells = p;
	}
	for (int i = 0; i < t->ncols; i++) {
		char *s = mreg_strdup(cols[i] ? cols[i] : "");
		t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = s;
		int w = s ? (int)strlen(s) : 0;
		if (w > t->width[i])
			t->width[i] = w;
	}
	t->nrows++;
}

static void table_print(table *t, const char *indent)
{
	for (size_t r = 0; r < t->nrows; r++) {
		fputs(indent, stdout);
		for (int c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * (size_t)t->ncols + (size_t)c];
			if (c == t->ncols - 1)
				printf("%s", s ? s : "");
			else
				printf("%-*s  ", t->width[c], s ? s : "");
		}
		printf("\n");
	}
}

static void table_dispose(table *t)
{
	for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

static void fmt_metric(char *out, size_t n, const mreg_metrics *m, mreg_metric k, const char *fmt)
{
	if (m->present & (1u << k))
		snprintf(out, n, fmt, mreg_num_nz(m->v[k]));
	else
		snprintf(out, n, "-");
}

/* ---- show ----------------------------------------------------------- */

/* show and history: the one version REF (and -v N) names. */
static int open_version(mreg_registry **reg, mreg_state **st, mreg_model **m, mreg_version **v, cli_globals *g,
			const char *name, int argc, char **argv)
{
	cli_args a;
	mreg_ref ref;
	int rc;

	*reg = NULL;
	*st = NULL;
	if ((rc = cli_parse(&a, name, argc, argv)))
		return rc;
	if (a.npositional != 1)
		return cli_usage(a.cmd, "%s needs one REF", name);
	if ((rc = cli_ref(&ref, &a, a.positional[0], false)))
		return rc;
	if ((rc = cli_open_read(reg, g)))
		return rc;
	if ((rc = mreg_read_model(st, *reg, ref.model, ref.version)) < 0 ||
	    (rc = mreg_query_version(m, v, *st, &ref)) < 0)
		return cli_fail(rc);
	return 0;
}

static void print_history_rows(const mreg_version *v, const char *indent)
{
	table t = { 5, NULL, 0, 0, { 0 } };
	const char *head[5] = { "FROM", "TO", "REASON", "BY", "AT" };
	table_add(&t, head);
	for (size_t i = 0; i < v->nhistory; i++) {
		const mreg_transition *h = &v->history[i];
		const char *row[5] = { h->from == MREG_STAGE_NONE ? "(new)" : mreg_stage_name(h->from),
				       mreg_stage_name(h->to), h->reason, h->by, h->at };
		table_add(&t, row);
	}
	table_print(&t, indent);
	table_dispose(&t);
}

/* The training config as KEY=VALUE pairs: strings bare, other values as JSON, null and {} left out. */
static void print_config(const cJSON *config)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, config) {
		if (cJSON_IsObject(c)) {
			if (c->child) {
				char *s = cJSON_PrintUnformatted(c);
				printf(" %s=%s", c->string, s ? s : "");
				cJSON_free(s);
			}
		} else if (cJSON_IsString(c)) {
			printf(" %s=%s", c->string, c->valuestring);
		} else if (!cJSON_IsNull(c)) {
			char *s = cJSON_PrintUnformatted(c);
			printf(" %s=%s", c->string, s ? s : "");
			cJSON_free(s);
		}
	}
}

/* The validation's status, then whatever else it has so far; the head-to-head results. */
static void print_validation_comparisons(const mreg_version *v)
{
	if (v->validation) {
		const cJSON *c;
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(v->validation, "status");
		printf("  validation:   %s", cJSON_IsString(s) ? s->valuestring : "?");
		cJSON_ArrayForEach(c, v->validation) {
			if (c == s || cJSON_IsNull(c) || (cJSON_IsArray(c) && !c->child))
				continue;
			char *t = cJSON_PrintUnformatted(c);
			printf(", %s %s", c->string, t ? t : "");
			cJSON_free(t);
		}
		printf("\n");
	}
	const cJSON *cmp;
	cJSON_ArrayForEach(cmp, v->comparisons) {
		const cJSON *ed = cJSON_GetObjectItemCaseSensitive(cmp, "elo_diff");
		printf("  comparison:   %s vs %s: %g-%g-%g of %g (A %.1f%%, B %.1f%%, draws %.1f%%)",
		       cJSON_GetObjectItemCaseSensitive(cmp, "model_a")->valuestring,
		       cJSON_GetObjectItemCaseSensitive(cmp, "model_b")->valuestring,
		       cJSON_GetObjectItemCaseSensitive(cmp, "a_wins")->valuedouble,
		       cJSON_GetObjectItemCaseSensitive(cmp, "b_wins")->valuedouble,
		       cJSON_GetObjectItemCaseSensitive(cmp, "draws")->valuedouble,
		       cJSON_GetObjectItemCaseSensitive(cmp, "games")->valuedouble,
		       cJSON_GetObjectItemCaseSensitive(cmp, "a_win_rate")->valuedouble * 100,
		       cJSON_GetObjectItemCaseSensitive(cmp, "b_win_rate")->valuedouble * 100,
		       cJSON_GetObjectItemCaseSensitive(cmp, "draw_rate")->valuedouble * 100);
		if (cJSON_IsNumber(ed))
			printf(", elo diff %g", mreg_num_nz(ed->valuedouble));
		printf("\n");
	}
}

int cmd_show(cli_globals *g, int argc, char **argv)
{
	mreg_registry *reg;
	mreg_state *st;
	mreg_model *m;
	mreg_version *v;
	cJSON *config = NULL;
	int rc = open_version(&reg, &st, &m, &v, g, "show", argc, argv);
	if (rc)
		goto done;
	if (g->json) {
		cli_print_version(m, v);
		goto done;
	}
	if (v->training_config && !(config = mreg_version_config(v))) {
		rc = cli_fail(mreg_error_set(MREG_ERROR, "out of memory"));
		goto done;
	}
	printf("%s:%d\n", m->id, v->version);
	printf("  name:         %s\n", m->name);
	printf("  type:         %s\n", mreg_type_name(m->type));
	printf("  stage:        %s\n", mreg_stage_name(v->stage));
	if (m->description && *m->description)
		printf("  description:  %s\n", m->description);
	printf("  file:         %s (%lld bytes, %s)\n", v->file_path, (long long)v->file_size, v->file_hash);
	if (!mreg_file_here(reg, v->file_path, v->file_size))
		printf("  file here:    no (a large file not fetched yet: mreg sync brings it)\n");
	printf("  created:      %s\n", v->created_at);
	printf("  updated:      %s\n", v->updated_at);
	if (v->claimed != v->version)
		printf("  claimed as:   v%d (renumbered: registered concurrently with another)\n", v->claimed);
	printf("  metrics:     ");
	for (int i = 0; i < MREG_METRIC_COUNT; i++) {
		if (!(v->metrics.present & (1u << i)))
			continue;
		mreg_buf b = MREG_BUF_INIT;
		mreg_buf_printf(&b, "%g", mreg_num_nz(v->metrics.v[i]));
		printf(" %s=%s", mreg_metric_name((mreg_metric)i), b.ptr);
		mreg_buf_dispose(&b);
	}
	printf("\n  config:      ");
	print_config(config);
	printf("\n  tags:         ");
	for (size_t i = 0; i < v->ntags; i++)
		printf("%s%s", i ? ", " : "", v->tags[i]);
	printf("\n");
	print_validation_comparisons(v);
	printf("  history:\n");
	print_history_rows(v, "    ");
done:
	cJSON_Delete(config);
	mreg_state_free(st);
	mreg_registry_free(reg);
	return rc;
}

int cmd_history(cli_globals *g, int argc, char **argv)
{
	mreg_registry *reg;
	mreg_state *st;
	mreg_model *m;
	mreg_version *v;
	int rc = open_version(&reg, &st, &m, &v, g, "history", argc, argv);
	if (rc)
		goto done;
	if (g->json) {
		cli_json j;
		mreg_jsonw *w = cli_json_start(&j);
		mreg_jsonw_arr_begin(w, NULL);
		for (size_t i = 0; i < v->nhistory; i++)
			mreg_transition_write(w, &v->history[i]);
		mreg_jsonw_arr_end(w);
		cli_json_print(&j);
	} else {
		printf("History of %s:%d\n", m->id, v->version);
		print_history_rows(v, "  ");
	}
done:
	mreg_state_free(st);
	mreg_registry_free(reg);
	return rc;
}

/* ---- list ----------------------------------------------------------- */

/* list's options into f: --stage and --type are checked each time they are given, the last one counts. */
static int list_filter(mreg_filter *f, const cli_args *a)
{
	const char *name, *value;
	for (int it = 0; (name = cli_next(a, &it, "stage|type", &value));) {
		if (!strcmp(name, "stage") && (f->stage = mreg_stage_parse(value)) == MREG_STAGE_NONE)
			return cli_usage(a->cmd,
					 "unknown stage '%s': expected development, staging, production, archived or rejected",
					 value);
		if (!strcmp(name, "type") && (f->type = mreg_type_parse(value)) == MREG_TYPE_NONE)
			return cli_usage(a->cmd,
					 "unknown model type '%s': expected policy_value, heuristic, ensemble, compressed or experimental",
					 value);
	}
	f->tag = cli_get(a, "tag");
	f->model = cli_get(a, "model");
	return 0;
}

static void list_row(table *t, const mreg_model *m, const mreg_version *v)
{
	char ver[16], elo[32], wr[32], games[32];
	snprintf(ver, sizeof(ver), "%d", v->version);
	fmt_metric(elo, sizeof(elo), &v->metrics, MREG_METRIC_ELO, "%.1f");
	fmt_metric(wr, sizeof(wr), &v->metrics, MREG_METRIC_WIN_RATE, "%.3f");
	fmt_metric(games, sizeof(games), &v->metrics, MREG_METRIC_GAMES_PLAYED, "%.0f");
	char updated[20];
	snprintf(updated, sizeof(updated), "%.10s %.5s", v->updated_at, v->updated_at + 11);
	const char *row[8] = { m->id, ver, mreg_stage_name(v->stage), mreg_type_name(m->type), elo, wr, games, updated };
	table_add(t, row);
}

/*
 * The production versions that pass f, newest update first, as the general
 * listing orders them: from the production summary, which has no tags, so
 * with --tag each one's own bytes are read.
 */
static int production_rows(mreg_row **out, size_t *n, const mreg_state *st, const mreg_filter *f)
{
	mreg_row *rows = calloc(st->nmodels + 1, sizeof(*rows));
	int rc = 0;
	*out = rows;
	*n = 0;
	for (size_t i = 0; rows && i < st->nmodels; i++) {
		const mreg_model *m = st->models[i];
		if (!m->prod || (f->model && strcmp(f->model, m->id)) || (f->type != MREG_TYPE_NONE && f->type != m->type))
			continue;
		bool tag_ok = !f->tag;
		if (f->tag && (rc = mreg_version_materialize(m->prod)) < 0)
			return rc;
		for (size_t k = 0; !tag_ok && k < m->prod->ntags; k++)
			tag_ok = !strcmp(m->prod->tags[k], f->tag);
		if (!tag_ok)
			continue;
		rows[*n].model = m;
		rows[*n].version = m->prod;
		(*n)++;
	}
	for (size_t i = 1; i < *n; i++)
		for (size_t j = i; j > 0 && strcmp(rows[j - 1].version->updated_at, rows[j].version->updated_at) < 0; j--) {
			mreg_row tmp = rows[j];
			rows[j] = rows[j - 1];
			rows[j - 1] = tmp;
		}
	return 0;
}

/* The listing for people: one table, or with --group one per model. */
static void print_list(const mreg_state *st, const mreg_row *rows, size_t n, bool group)
{
	const char *head[8] = { "MODEL", "VERSION", "STAGE", "TYPE", "ELO", "WIN_RATE", "GAMES", "UPDATED" };
	if (n == 0) {
		printf("No models found.\n");
		return;
	}
	if (!group) {
		table t = { 8, NULL, 0, 0, { 0 } };
		table_add(&t, head);
		for (size_t r = 0; r < n; r++)
			list_row(&t, rows[r].model, rows[r].version);
		table_print(&t, "");
		table_dispose(&t);
		return;
	}
	for (size_t i = 0; i < st->nmodels; i++) {
		const mreg_model *m = st->models[i];
		table t = { 8, NULL, 0, 0, { 0 } };
		table_add(&t, head);
		for (size_t r = 0; r < n; r++)
			if (rows[r].model == m)
				list_row(&t, m, rows[r].version);
		if (t.nrows > 1) {
			printf("%s (%s, %zu version%s)\n", m->id, mreg_type_name(m->type), t.nrows - 1, t.nrows == 2 ? "" : "s");
			table_print(&t, "  ");
			printf("\n");
		}
		table_dispose(&t);
	}
}

int cmd_list(cli_globals *g, int argc, char **argv)
{
	mreg_filter f = MREG_FILTER_INIT;
	cli_args a;
	mreg_registry *reg = NULL;
	mreg_state *st = NULL;
	mreg_row *rows = NULL;
	size_t n = 0;
	int rc;

	if ((rc = cli_parse(&a, "list", argc, argv)) || (rc = list_filter(&f, &a)))
		return rc;
	if (a.npositional)
		return cli_usage(a.cmd, "list takes no arguments");
	if ((rc = cli_open_read(&reg, g)))
		return rc;
	/* production versions have a file of their own: no summary, no model file */
	bool prod_only = f.stage == MREG_STAGE_PRODUCTION;
	/* a listing reads each version's few fields, unless it filters on tags (kept in the rest of its object) */
	int (*read)(mreg_state **, mreg_registry *, const char *, bool) = f.tag ? mreg_read_state : mreg_read_state_lazy;
	if ((rc = prod_only ? mreg_read_production(&st, reg) : read(&st, reg, f.model, !f.model)) < 0 ||
	    (rc = prod_only ? production_rows(&rows, &n, st, &f) : mreg_query_list(&rows, &n, st, &f)) < 0) {
		rc = cli_fail(rc);
		goto done;
	}
	if (g->json)
		cli_print_versions(rows, n);
	else
		print_list(st, rows, n, cli_has(&a, "group"));
done:
	free(rows);
	mreg_state_free(st);
	mreg_registry_free(reg);
	return rc;
}

/* ---- log ------------------------------------------------------------ */

/* The events from start, one object each: id, clock, time, type, actor, node, model, version, ref. */
static void print_log_json(mreg_event **evs, size_t start, size_t n)
{
	cli_json j;
	mreg_jsonw *w = cli_json_start(&j);
	mreg_jsonw_arr_begin(w, NULL);
	for (size_t i = start; i < n; i++)
		mreg_event_write_summary(w, evs[i]);
	mreg_jsonw_arr_end(w);
	cli_json_print(&j);
}

int cmd_log(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	mreg_registry *reg = NULL;
	mreg_event **evs = NULL;
	size_t n = 0;
	int rc;

	if ((rc = cli_parse(&a, "log", argc, argv)))
		return rc;
	if (a.npositional > 1)
		return cli_usage(a.cmd, "log takes at most one MODEL");
	const char *limit_s = cli_get(&a, "limit");
	long limit = -1;
	if (limit_s) {
		char *end;
		limit = strtol(limit_s, &end, 10);
		if (*end || limit < 0)
			return cli_usage(a.cmd, "invalid limit '%s'", limit_s);
	}
	if (a.npositional == 1 && mreg_id_check(a.positional[0]) < 0)
		return cli_fail(MREG_EINVALID);
	if ((rc = cli_open(&reg, g)))
		return rc;
	if ((rc = mreg_read_events(&evs, &n, reg, a.npositional ? a.positional[0] : NULL)) < 0) {
		rc = cli_fail(rc);
		goto done;
	}
	size_t start = limit >= 0 && (size_t)limit < n ? n - (size_t)limit : 0;
	if (g->json) {
		print_log_json(evs, start, n);
		goto done;
	}
	for (size_t i = start; i < n; i++) {
		const mreg_event *e = evs[i];
		printf("%6lld  %.19s  %.12s  %-24s %s:%d", (long long)e->clock, e->time, e->id,
		       mreg_event_type_name(e->type), e->model, e->version);
		if (e->type == MREG_EV_PROMOTED)
			printf("  %s -> %s", mreg_stage_name(e->from), mreg_stage_name(e->to));
		else if (e->type == MREG_EV_REGISTERED)
			printf("  %s", mreg_stage_name(e->stage));
		printf("  by %s\n", e->actor);
	}
done:
	mreg_events_free(evs, n);
	mreg_registry_free(reg);
	return rc;
}

/* ---- stats, status -------------------------------------------------- */

/* The original's format_metrics: "Elo: 1500, WR: 55.0%, Games: 100", or "No metrics". */
static void format_metrics(mreg_buf *out, const mreg_metrics *m)
{
	size_t start = out->size;
	double v;
	if ((m->present & (1u << MREG_METRIC_ELO)) && (v = m->v[MREG_METRIC_ELO]) != 0)
		mreg_buf_printf(out, "Elo: %.0f", v);
	if ((m->present & (1u << MREG_METRIC_WIN_RATE)) && (v = m->v[MREG_METRIC_WIN_RATE]) != 0)
		mreg_buf_printf(out, "%sWR: %.1f%%", out->size > start ? ", " : "", v * 100);
	if ((m->present & (1u << MREG_METRIC_GAMES_PLAYED)) && (v = m->v[MREG_METRIC_GAMES_PLAYED]) != 0)
		mreg_buf_printf(out, "%sGames: %g", out->size > start ? ", " : "", v);
	if (out->size == start)
		mreg_buf_puts(out, "No metrics");
}

/* "production": the version objects of every model's production version (stats, dashboard). */
static void write_production(mreg_jsonw *w, const mreg_state *st)
{
	mreg_jsonw_arr_begin(w, "production");
	for (size_t i = 0; i < st->nmodels; i++)
		if (st->models[i]->prod)
			mreg_version_write(w, NULL, st->models[i], st->models[i]->prod);
	mreg_jsonw_arr_end(w);
}

/* The original's layout: counts and shares by stage (with a bar) and by type, then the production versions. */
static void print_stats(const mreg_state *st)
{
	int64_t total = 0;
	for (int i = 0; i < MREG_STAGE_COUNT; i++)
		total += st->stage_count[i];
	printf("\nModel Registry Statistics\n========================================\n\nBy Stage:\n");
	for (int i = 0; i < MREG_STAGE_COUNT; i++) {
		double pct = total ? 100.0 * (double)st->stage_count[i] / (double)total : 0;
		printf("  %-12s %5lld (%5.1f%%) ", mreg_stage_name((mreg_stage)i), (long long)st->stage_count[i], pct);
		for (int k = 0; k < (int)(pct / 5); k++)
			putchar('#');
		putchar('\n');
	}
	printf("\nBy Type:\n");
	for (int i = 0; i < MREG_TYPE_COUNT; i++)
		printf("  %-15s %5lld (%5.1f%%)\n", mreg_type_name((mreg_model_type)i), (long long)st->type_count[i],
		       total ? 100.0 * (double)st->type_count[i] / (double)total : 0);
	printf("\nTotal: %lld model versions\n\nProduction Models:\n", (long long)total);
	int any = 0;
	for (size_t i = 0; i < st->nmodels; i++) {
		const mreg_model *m = st->models[i];
		if (!m->prod)
			continue;
		mreg_buf f = MREG_BUF_INIT;
		format_metrics(&f, &m->prod->metrics);
		printf("  %s:v%d - %s\n", m->id, m->prod->version, f.ptr);
		mreg_buf_dispose(&f);
		any = 1;
	}
	if (!any)
		printf("  None\n");
}

int cmd_stats(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	mreg_registry *reg = NULL;
	mreg_state *st = NULL;
	int rc;

	if ((rc = cli_open_noargs(&reg, &a, g, "stats", argc, argv)))
		return rc;
	if ((rc = mreg_read_state(&st, reg, NULL, false)) < 0) {
		rc = cli_fail(rc);
		goto done;
	}
	if (g->json) {
		cli_json j;
		mreg_jsonw *w = cli_json_object(&j);
		mreg_jsonw_int(w, "total_models", (int64_t)st->nmodels);
		mreg_jsonw_int(w, "total_versions", st->nversions);
		mreg_jsonw_obj_begin(w, "by_stage");
		for (int i = 0; i < MREG_STAGE_COUNT; i++)
			mreg_jsonw_int(w, mreg_stage_name((mreg_stage)i), st->stage_count[i]);
		mreg_jsonw_obj_end(w);
		mreg_jsonw_obj_begin(w, "by_type");
		for (int i = 0; i < MREG_TYPE_COUNT; i++)
			mreg_jsonw_int(w, mreg_type_name((mreg_model_type)i), st->type_count[i]);
		mreg_jsonw_obj_end(w);
		write_production(w, st);
		mreg_jsonw_int(w, "events", st->nevents);
		mreg_jsonw_int(w, "conflicts", (int64_t)st->nconflicts);
		cli_json_print(&j);
	} else {
		print_stats(st);
	}
done:
	mreg_state_free(st);
	mreg_registry_free(reg);
	return rc;
}

int cmd_status(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	mreg_registry *reg = NULL;
	mreg_state *st = NULL;
	mreg_status s;
	int rc;

	if ((rc = cli_open_noargs(&reg, &a, g, "status", argc, argv)))
		return rc;
	if ((rc = mreg_registry_status(&s, reg)) < 0 || (rc = mreg_read_state(&st, reg, NULL, false)) < 0) {
		rc = cli_fail(rc);
		goto done;
	}
	if (g->json) {
		cli_json j;
		mreg_jsonw *w = cli_json_object(&j);
		mreg_jsonw_str(w, "path", mreg_registry_path(reg));
		mreg_jsonw_str(w, "branch", s.branch);
		mreg_jsonw_str(w, "head", s.head);
		mreg_jsonw_str(w, "tree", s.tree);
		mreg_jsonw_bool(w, "state_was_fresh", s.state_fresh);
		mreg_jsonw_bool(w, "bare", mreg_registry_is_bare(reg));
		mreg_jsonw_int(w, "events", st->nevents);
		mreg_jsonw_int(w, "models", (int64_t)st->nmodels);
		mreg_jsonw_int(w, "versions", st->nversions);
		mreg_jsonw_arr_begin(w, "conflicts");
		for (size_t i = 0; i < st->nconflicts; i++) {
			mreg_jsonw_obj_begin(w, NULL);
			mreg_jsonw_str(w, "event", st->conflicts[i].event);
			mreg_jsonw_str(w, "model_id", st->conflicts[i].model);
			mreg_jsonw_int(w, "version", st->conflicts[i].version);
			mreg_jsonw_str(w, "message", st->conflicts[i].message);
			mreg_jsonw_obj_end(w);
		}
		mreg_jsonw_arr_end(w);
		mreg_state_write_quarantined(w, st);
		cli_json_print(&j);
		goto done;
	}
	printf("registry:  %s%s\n", mreg_registry_path(reg), mreg_registry_is_bare(reg) ? " (bare)" : "");
	printf("branch:    %s\n", s.branch);
	printf("head:      %s\n", s.head);
	printf("state:     %s\n", s.state_fresh && s.mirror_fresh ? "fresh" : "was behind HEAD, refreshed");
	printf("events:    %lld\nmodels:    %zu\nversions:  %lld\n", (long long)st->nevents, st->nmodels,
	       (long long)st->nversions);
	printf("conflicts: %zu\n", st->nconflicts);
	for (size_t i = 0; i < st->nconflicts; i++)
		printf("  %.12s  %s\n", st->conflicts[i].event, st->conflicts[i].message);
	/* event files the fold leaves out (mreg fsck names them too, and fails) */
	printf("quarantined: %zu\n", st->nquarantined);
	for (size_t i = 0; i < st->nquarantined; i++)
		printf("  %s  %s\n", st->quarantined[i].path, st->quarantined[i].problem);
done:
	mreg_state_free(st);
	mreg_registry_free(reg);
	return rc;
}

/* ---- dashboard ------------------------------------------------------ */

/*
 * The (board_Np) of a heuristic model: from its tags (board:B, players:N, as
 * CMA-ES registers them), else from an id of the CMA-ES form
 * heuristic_<board>_<N>p; "" for others.
 */
static void board_of(char *out, size_t n, const mreg_model *m, const mreg_version *v)
{
	const char *board = NULL, *players = NULL;
	out[0] = '\0';
	for (size_t i = 0; i < v->ntags; i++) {
		if (!strncmp(v->tags[i], "board:", 6))
			board = v->tags[i] + 6;
		else if (!strncmp(v->tags[i], "players:", 8))
			players = v->tags[i] + 8;
	}
	if (board && players) {
		snprintf(out, n, " (%s_%sp)", board, players);
		return;
	}
	const char *key = m->id + 10, *us = strrchr(m->id, '_');
	size_t len = strlen(m->id);
	if (m->type != MREG_TYPE_HEURISTIC || strncmp(m->id, "heuristic_", 10) || !us || us <= key ||
	    m->id[len - 1] != 'p' || len - (size_t)(us - m->id) < 3 ||
	    strspn(us + 1, "0123456789") != len - (size_t)(us - m->id) - 2)
		return;
	snprintf(out, n, " (%s)", key);
}

/* The original's dashboard: production with Elo (and board), the first five in staging, counts. */
static void print_dashboard(const mreg_state *st, const mreg_row *rows, size_t n)
{
	int64_t prod = st->stage_count[MREG_STAGE_PRODUCTION], dev = st->stage_count[MREG_STAGE_DEVELOPMENT],
		arch = st->stage_count[MREG_STAGE_ARCHIVED];
	printf("\n============================================================\n");
	printf("        RingRift Model Registry Dashboard\n");
	printf("============================================================\n");
	printf("\n%-15s (%lld models)\n", "PRODUCTION", (long long)prod);
	printf("--------------------------------------------------\n");
	if (!prod)
		printf("  No production models\n");
	for (size_t i = 0; i < st->nmodels; i++) {
		const mreg_model *m = st->models[i];
		if (!m->prod)
			continue;
		mreg_buf e = MREG_BUF_INIT;
		char board[300];
		if (m->prod->metrics.present & (1u << MREG_METRIC_ELO))
			mreg_buf_printf(&e, "%.0f", mreg_num_nz(m->prod->metrics.v[MREG_METRIC_ELO]));
		else
			mreg_buf_puts(&e, "N/A");
		board_of(board, sizeof(board), m, m->prod);
		printf("  %-25s Elo: %-6s%s\n", m->id, e.ptr, board);
		mreg_buf_dispose(&e);
	}
	printf("\n%-15s (%zu models)\n", "STAGING", n);
	printf("--------------------------------------------------\n");
	if (!n)
		printf("  No staging models\n");
	for (size_t i = 0; i < n && i < 5; i++)
		printf("  %-25s Games: %g\n", rows[i].model->id,
		       mreg_num_nz(rows[i].version->metrics.v[MREG_METRIC_GAMES_PLAYED]));
	if (n > 5)
		printf("  ... and %zu more\n", n - 5);
	printf("\n%-15s %lld models awaiting evaluation\n", "DEVELOPMENT", (long long)dev);
	printf("%-15s %lld models\n", "ARCHIVED", (long long)arch);
	printf("\n%-15s %lld model versions in registry\n", "TOTAL", (long long)(prod + (int64_t)n + dev + arch));
	printf("\n============================================================\n");
}

int cmd_dashboard(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	mreg_registry *reg = NULL;
	mreg_state *st = NULL;
	mreg_row *rows = NULL;
	size_t n = 0;
	int rc;

	if ((rc = cli_open_noargs(&reg, &a, g, "dashboard", argc, argv)))
		return rc;
	mreg_filter f = MREG_FILTER_INIT;
	f.stage = MREG_STAGE_STAGING;
	if ((rc = mreg_read_state(&st, reg, NULL, true)) < 0 || (rc = mreg_query_list(&rows, &n, st, &f)) < 0) {
		rc = cli_fail(rc);
		goto done;
	}
	if (g->json) {
		cli_json j;
		mreg_jsonw *w = cli_json_object(&j);
		write_production(w, st);
		mreg_jsonw_arr_begin(w, "staging");
		for (size_t i = 0; i < n; i++)
			mreg_version_write(w, NULL, rows[i].model, rows[i].version);
		mreg_jsonw_arr_end(w);
		mreg_jsonw_obj_begin(w, "counts");
		for (int s = 0; s < MREG_STAGE_COUNT; s++)
			mreg_jsonw_int(w, mreg_stage_name((mreg_stage)s), st->stage_count[s]);
		mreg_jsonw_obj_end(w);
		cli_json_print(&j);
	} else {
		print_dashboard(st, rows, n);
	}
done:
	free(rows);
	mreg_state_free(st);
	mreg_registry_free(reg);
	return rc;
}

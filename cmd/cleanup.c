/*
 * cleanup: the original CLI's housekeeping. Versions left in development
 * or staging for more than --max-age days (since they entered that stage)
 * are archived, one promotion event each; without --execute it is a dry
 * run that lists them and writes nothing. Production, archived and
 * rejected versions are never touched.
 */
#include "cli.h"
#include "../core/query.h"

#include <stdlib.h>
#include <string.h>

const cli_opt opts_cleanup[] = {
	{ "max-age", 0, true, "DAYS      days in development or staging before a version is archived (30)" },
	{ "execute", 0, false, "        archive them (default: a dry run that lists them)" },
	{ NULL, 0, false, NULL }
};

typedef struct {
	const char *model;
	int version;
	mreg_stage stage;
	const char *since;
	double days;
} stale;

/* The versions in development or staging since before cutoff (microseconds), in model and version order. */
static int find_stale(stale **out, size_t *n, mreg_state *st, int64_t now, double max_days)
{
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < st->nmodels; i++) {
		mreg_model *m = st->models[i];
		for (int j = 0; j < m->nversions; j++) {
			mreg_version *v = &m->versions[j];
			int64_t t;
			int rc;
			if (v->stage != MREG_STAGE_DEVELOPMENT && v->stage != MREG_STAGE_STAGING)
				continue;
			if ((rc = mreg_version_materialize(v)) < 0)
				return rc;
			const char *since = v->nhistory ? v->history[v->nhistory - 1].at : v->created_at;
			if (mreg_time_parse(&t, since) < 0 || (double)(now - t) <= max_days * 86400e6)
				continue;
			if (*n == cap) {
				stale *grown = realloc(*out, (cap = cap ? 2 * cap : 16) * sizeof(**out));
				if (!grown)
					return mreg_error_set(MREG_ERROR, "out of memory");
				*out = grown;
			}
			(*out)[(*n)++] = (stale){ m->id, v->version, v->stage, since, (double)(now - t) / 86400e6 };
		}
	}
	return 0;
}

int cmd_cleanup(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	mreg_registry *reg = NULL;
	mreg_state *st = NULL;
	stale *list = NULL;
	size_t n = 0, archived = 0, skipped = 0;
	double max_days = 30;
	int rc;

	if ((rc = cli_parse(&a, "cleanup", argc, argv)))
		return rc;
	if (a.npositional)
		return cli_usage(a.cmd, "cleanup takes no arguments");
	if (cli_number_opt(&max_days, NULL, &a, "max-age", 0, 1e6) < 0)
		return 2;
	bool execute = cli_has(&a, "execute");
	if ((rc = cli_open(&reg, g)))
		return rc;
	int64_t now = cli_now_usec();
	if ((rc = mreg_read_state(&st, reg, NULL, true)) < 0 || (rc = find_stale(&list, &n, st, now, max_days)) < 0) {
		rc = cli_fail(rc);
		goto done;
	}
	cli_json j;
	mreg_jsonw *w = NULL;
	if (g->json) {
		w = cli_json_object(&j);
		mreg_jsonw_bool(w, "dry_run", !execute);
		mreg_jsonw_num(w, "max_age_days", max_days);
		mreg_jsonw_arr_begin(w, "versions");
	}
	for (size_t i = 0; i < n; i++) {
		const stale *s = &list[i];
		const char *result = "would_archive";
		if (execute) {
			char reason[96];
			int version;
			mreg_ref ref;
			mreg_promote_opts o = MREG_PROMOTE_OPTS_INIT;
			snprintf(reason, sizeof(reason), "Cleanup: in %s for more than %g days", mreg_stage_name(s->stage), max_days);
			memset(&ref, 0, sizeof(ref));
			snprintf(ref.model, sizeof(ref.model), "%s", s->model);
			ref.version = s->version;
			o.reason = reason;
			o.from = 1u << s->stage;	/* moved meanwhile by another writer: left alone */
			rc = mreg_promote_to(&version, reg, &ref, MREG_STAGE_ARCHIVED, &o);
			if (rc < 0 && rc != MREG_ETRANSITION) {
				rc = cli_fail(rc);
				goto done;
			}
			result = rc < 0 ? "skipped" : "archived";
			skipped += rc < 0;
			archived += rc >= 0;
		}
		if (!w && !strcmp(result, "skipped")) {
			printf("Skipped %s:%d: %s\n", s->model, s->version, mreg_error_last());
		} else if (w) {
			mreg_jsonw_obj_begin(w, NULL);
			mreg_jsonw_str(w, "model_id", s->model);
			mreg_jsonw_int(w, "version", s->version);
			mreg_jsonw_str(w, "stage", mreg_stage_name(s->stage));
			mreg_jsonw_str(w, "since", s->since);
			mreg_jsonw_str(w, "result", result);
			mreg_jsonw_obj_end(w);
		} else {
			printf("%s %s:%d (%s since %.10s, %.0f days)\n", execute ? "Archived" : "Would archive", s->model,
			       s->version, mreg_stage_name(s->stage), s->since, s->days);
		}
	}
	if (w) {
		mreg_jsonw_arr_end(w);
		mreg_jsonw_int(w, "archived", (int64_t)archived);
		mreg_jsonw_int(w, "skipped", (int64_t)skipped);
		cli_json_print(&j);
	} else if (!execute) {
		printf("%zu version%s older than %g days in development or staging; run with --execute to archive %s\n", n,
		       n == 1 ? "" : "s", max_days, n == 1 ? "it" : "them");
	} else {
		printf("Archived %zu version%s\n", archived, archived == 1 ? "" : "s");
	}
	rc = 0;
done:
	free(list);
	mreg_state_free(st);
	mreg_registry_free(reg);
	return rc;
}

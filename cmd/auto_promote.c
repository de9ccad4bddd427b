/*
 * mreg auto-promote: one step of the auto-promoter for one version, with
 * mreg.json's criteria or the command's. Not promoting is an answer, exit 0.
 */
#include "cli.h"

#include <string.h>

const cli_opt opts_auto_promote[] = {
	{ "min-elo-improvement", 0, true, "X  Elo over production for staging -> production (mreg.json, 25)" },
	{ "min-games", 0, true, "N      games for production, half for staging (mreg.json, 100)" },
	{ NULL, 0, false, NULL }
};

int cmd_auto_promote(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	mreg_registry *reg = NULL;
	mreg_ref ref;
	mreg_policy p;
	mreg_buf why = MREG_BUF_INIT;
	int rc;

	if ((rc = cli_parse(&a, "auto-promote", argc, argv)))
		return rc;
	if (a.npositional != 1)
		return cli_usage(a.cmd, "auto-promote needs one REF");
	if ((rc = mreg_ref_parse(&ref, a.positional[0])) < 0)
		return cli_fail(rc);
	if ((rc = cli_open(&reg, g)))
		return rc;
	if ((rc = mreg_registry_policy(&p, reg)) < 0) {
		rc = cli_fail(rc);
		goto done;
	}
	if (cli_number_opt(&p.min_elo_improvement, NULL, &a, "min-elo-improvement", -1e6, 1e6) < 0 ||
	    cli_number_opt(&p.min_games, NULL, &a, "min-games", 0, 1e12) < 0) {
		rc = 2;
		goto done;
	}
	/* the stage before, for the message */
	mreg_state *st = NULL;
	mreg_model *m;
	mreg_version *v;
	if ((rc = mreg_read_model(&st, reg, ref.model, ref.version)) < 0 ||
	    (rc = mreg_query_version(&m, &v, st, &ref)) < 0) {
		mreg_state_free(st);
		rc = cli_fail(rc);
		goto done;
	}
	mreg_stage from = v->stage;
	int version = v->version;
	mreg_state_free(st);
	ref.version = version;
	mreg_stage to;
	if ((rc = mreg_auto_promote(&to, &why, reg, &ref, &p)) < 0) {
		rc = cli_fail(rc);
		goto done;
	}
	if (g->json) {
		cli_json j;
		mreg_jsonw *w = cli_json_object(&j);
		mreg_jsonw_str(w, "model_id", ref.model);
		mreg_jsonw_int(w, "version", version);
		mreg_jsonw_bool(w, "promoted", to != MREG_STAGE_NONE);
		mreg_jsonw_str(w, "from_stage", mreg_stage_name(from));
		mreg_jsonw_str(w, "to_stage", to != MREG_STAGE_NONE ? mreg_stage_name(to) : NULL);
		mreg_jsonw_str(w, "reason", why.ptr);
		cli_json_print(&j);
	} else if (to != MREG_STAGE_NONE) {
		printf("Promoted %s:%d %s -> %s: %s\n", ref.model, version, mreg_stage_name(from), mreg_stage_name(to),
		       why.ptr);
	} else {
		printf("Not promoted %s:%d (%s): %s\n", ref.model, version, mreg_stage_name(from), why.ptr);
	}
done:
	mreg_buf_dispose(&why);
	mreg_registry_free(reg);
	return rc;
}

/*
 * Moving models in and out: export and import in the original's format,
 * and migrate, which replays an original SQLite registry as events.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

const cli_opt opts_export[] = {
	{ "output", 'o', true, "PATH      where the model file goes (required); its metadata beside it as .json" },
	{ "version", 'v', true, "N        version (instead of REF's :N)" },
	{ NULL, 0, false, NULL }
};

const cli_opt opts_import[] = {
	{ "metadata", 0, true, "F       metadata in the export format (default: FILE with suffix .json)" },
	{ "id", 0, true, "ID           model id (default: derived from the metadata's name)" },
	{ NULL, 0, false, NULL }
};

int cmd_export(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	mreg_registry *reg = NULL;
	mreg_ref ref;
	char *meta = NULL;
	int rc;

	if ((rc = cli_parse(&a, "export", argc, argv)))
		return rc;
	if (a.npositional != 1)
		return cli_usage(a.cmd, "export needs one REF");
	const char *path = cli_get(&a, "output");
	if (!path)
		return cli_usage(a.cmd, "export needs -o PATH");
	if ((rc = cli_ref(&ref, &a, a.positional[0], true)))
		return rc;
	if ((rc = cli_open(&reg, g)))
		return rc;
	if ((rc = mreg_export(&meta, reg, &ref, path)) < 0) {
		rc = cli_fail(rc);
	} else if (g->json) {
		cli_json j;
		mreg_jsonw *w = cli_json_object(&j);
		mreg_jsonw_str(w, "path", path);
		mreg_jsonw_str(w, "metadata", meta);
		cli_json_print(&j);
	} else {
		/* the version exported, by number, as promote names it */
		mreg_state *st = NULL;
		mreg_model *m = NULL;
		mreg_version *v = NULL;
		if (mreg_read_model(&st, reg, ref.model, ref.version) < 0 || mreg_query_version(&m, &v, st, &ref) < 0)
			mreg_error_clear();
		if (v)
			printf("Exported %s:%d to %s\nMetadata saved to %s\n", ref.model, v->version, path, meta);
		else
			printf("Exported %s to %s\nMetadata saved to %s\n", a.positional[0], path, meta);
		mreg_state_free(st);
	}
	free(meta);
	mreg_registry_free(reg);
	return rc;
}

int cmd_import(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	mreg_registry *reg = NULL;
	char model[MREG_ID_MAX + 1];
	int version = 0, rc;

	if ((rc = cli_parse(&a, "import", argc, argv)))
		return rc;
	if (a.npositional != 1)
		return cli_usage(a.cmd, "import needs one FILE");
	if ((rc = cli_open(&reg, g)))
		return rc;
	if ((rc = mreg_import(model, &version, reg, a.positional[0], cli_get(&a, "metadata"), cli_get(&a, "id"))) < 0) {
		rc = cli_fail(rc);
	} else if (g->json) {
		/* the whole version object, as register --json prints it */
		mreg_registry_free(reg);
		reg = NULL;
		if ((rc = cli_open(&reg, g)) == 0)
			rc = cli_print_version_of(reg, model, version);
	} else {
		printf("Imported %s as %s:%d\n", a.positional[0], model, version);
	}
	mreg_registry_free(reg);
	return rc;
}

int cmd_migrate(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	mreg_registry *reg = NULL;
	mreg_migrate_report r;
	int rc;

	if ((rc = cli_parse(&a, "migrate", argc, argv)))
		return rc;
	if (a.npositional != 1)
		return cli_usage(a.cmd, "migrate needs the original's registry.db");
	if ((rc = cli_open(&reg, g)))
		return rc;
	if ((rc = mreg_migrate(&r, reg, a.positional[0])) < 0) {
		rc = cli_fail(rc);
	} else if (g->json) {
		cli_json j;
		mreg_jsonw *w = cli_json_object(&j);
		mreg_jsonw_int(w, "models", (int64_t)r.models);
		mreg_jsonw_int(w, "versions", (int64_t)r.versions);
		mreg_jsonw_int(w, "transitions", (int64_t)r.transitions);
		mreg_jsonw_int(w, "comparisons", (int64_t)r.comparisons);
		mreg_jsonw_int(w, "validations", (int64_t)r.validations);
		mreg_jsonw_int(w, "events", (int64_t)r.events);
		mreg_jsonw_int(w, "conflicts", (int64_t)r.conflicts);
		mreg_jsonw_int(w, "skipped", (int64_t)r.skipped);
		cli_json_print(&j);
	} else {
		printf("Migrated %s: %zu models, %zu versions, %zu transitions, %zu comparisons, %zu validations "
		       "(%zu events in one commit)\n",
		       a.positional[0], r.models, r.versions, r.transitions, r.comparisons, r.validations, r.events);
		if (r.conflicts)
			printf("warning: %zu events did not apply as the original recorded them; see 'mreg status'\n",
			       r.conflicts);
		if (r.skipped)
			printf("warning: %zu rows named versions that do not exist or held nothing mreg records\n",
			       r.skipped);
	}
	mreg_registry_free(reg);
	return rc;
}

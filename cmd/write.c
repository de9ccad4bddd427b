/*
 * Commands that write: init, register, promote, archive, reject,
 * update-metrics, tag, untag. Each parses its arguments into the library's
 * options, makes one call, and prints one line (or, with --json, the
 * version object it produced).
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

const cli_opt opts_register[] = {
	{ "id", 0, true, "ID           model id (default: derived from NAME)" },
	{ "type", 't', true, "T            policy_value (default), heuristic, ensemble, compressed, experimental" },
	{ "description", 'd', true, "D     description of the model" },
	{ "stage", 's', true, "S          initial stage (default development)" },
	{ "metric", 'm', true, "K=V       a metric; repeatable" },
	{ "metrics-file", 0, true, "F  JSON object of metrics" },
	{ "config", 'c', true, "K=V       a training config value (JSON or string); repeatable" },
	{ "config-file", 0, true, "F   JSON object of training config" },
	{ "tag", 0, true, "T            a tag; repeatable" },
	{ NULL, 0, false, NULL }
};

const cli_opt opts_promote[] = {
	{ "to", 0, true, "STAGE         target stage (required)" },
	{ "reason", 'r', true, "R         reason, kept in the history" },
	{ "version", 'v', true, "N        version (instead of REF's :N)" },
	{ "yes", 'y', false, "            accepted for the original's scripts; mreg never prompts" },
	{ NULL, 0, false, NULL }
};

const cli_opt opts_reason[] = {
	{ "reason", 'r', true, "R         reason, kept in the history" },
	{ "version", 'v', true, "N        version (instead of REF's :N)" },
	{ "yes", 'y', false, "            accepted for the original's scripts; mreg never prompts" },
	{ NULL, 0, false, NULL }
};

const cli_opt opts_metrics[] = {
	{ "replace", 0, false, "        replace all metrics instead of merging" },
	{ NULL, 0, false, NULL }
};

/* What a write made, read back as show --json prints it: the write's own handle reads no state files. */
static int print_version_json(cli_globals *g, const char *model, int version)
{
	mreg_registry *reg = NULL;
	int rc = cli_open(&reg, g);
	if (rc == 0)
		rc = cli_print_version_of(reg, model, version);
	mreg_registry_free(reg);
	return rc;
}

int cmd_init(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	int rc = cli_parse(&a, "init", argc, argv);
	if (rc)
		return rc;
	const char *dir = g->dir;
	if (a.npositional > 1)
		return cli_usage(a.cmd, "init takes at most one DIR");
	if (a.npositional == 1)
		dir = a.positional[0];
	if (!dir || !*dir)
		dir = getenv("MREG_DIR");
	if (!dir || !*dir)
		dir = MREG_DEFAULT_DIR;
	if ((rc = mreg_registry_init(dir)) < 0)
		return cli_fail(rc);
	if (g->json) {
		cli_json j;
		mreg_jsonw *w = cli_json_object(&j);
		mreg_jsonw_str(w, "path", dir);
		cli_json_print(&j);
	} else {
		printf("Initialized mreg registry in %s\n", dir);
	}
	return 0;
}

/*
 * register's options into the library's. The ones that add up (--metric,
 * --metrics-file, --config, --config-file, --tag) are taken in the order
 * given, so a later value of a key wins; --type and --stage are checked
 * each time they are given, the last one counts. 0, or the exit code after
 * printing the error.
 */
static int register_opts(mreg_register_opts *o, const char **tags, cJSON *config, const cli_args *a)
{
	const char *name, *value;
	cJSON *doc = NULL;
	int rc = 0;

	o->id = cli_get(a, "id");
	o->description = cli_get(a, "description");
	for (int it = 0; rc == 0 && (name = cli_next(a, &it, "type|stage|metric|metrics-file|config|config-file|tag",
							       &value));) {
		if (!strcmp(name, "type")) {
			if ((o->type = mreg_type_parse(value)) == MREG_TYPE_NONE)
				return cli_usage(a->cmd,
						 "unknown model type '%s': expected policy_value, heuristic, ensemble, compressed or experimental",
						 value);
		} else if (!strcmp(name, "stage")) {
			if ((o->stage = mreg_stage_parse(value)) == MREG_STAGE_NONE)
				return cli_usage(a->cmd,
						 "unknown stage '%s': expected development, staging, production, archived or rejected",
						 value);
		} else if (!strcmp(name, "metric")) {
			rc = mreg_metrics_set_kv(&o->metrics, value);
		} else if (!strcmp(name, "metrics-file")) {
			if ((rc = cli_read_json_file(&doc, value, "metrics file")) == 0)
				rc = mreg_metrics_from_json(&o->metrics, doc, value);
		} else if (!strcmp(name, "config")) {
			rc = mreg_config_set_kv(config, value);
		} else if (!strcmp(name, "config-file")) {
			if ((rc = cli_read_json_file(&doc, value, "config file")) == 0)	/* an object, or refused */
				mreg_config_merge(config, doc);	/* after the keys before it: its values win over theirs */
		} else {
			if (o->ntags >= 64)
				return cli_usage(a->cmd, "too many --tag options");
			tags[o->ntags++] = value;
		}
		cJSON_Delete(doc);
		doc = NULL;
	}
	return rc < 0 ? cli_fail(rc) : 0;
}

int cmd_register(cli_globals *g, int argc, char **argv)
{
	mreg_register_opts o = MREG_REGISTER_OPTS_INIT;
	const char *tags[64];
	cli_args a;
	mreg_registry *reg = NULL;
	cJSON *config = cJSON_CreateObject();
	char model[MREG_ID_MAX + 1];
	int version = 0, rc;

	if ((rc = cli_parse(&a, "register", argc, argv)) || (rc = register_opts(&o, tags, config, &a)))
		goto done;
	if (a.npositional != 2) {
		rc = cli_usage(a.cmd, "register needs NAME and FILE");
		goto done;
	}
	o.name = a.positional[0];
	o.file = a.positional[1];
	o.tags = tags;
	o.training_config = config;
	if ((rc = cli_open_write(&reg, g)))
		goto done;
	if ((rc = mreg_register(model, &version, reg, &o)) < 0) {
		rc = cli_fail(rc);
		goto done;
	}
	mreg_registry_free(reg);
	reg = NULL;
	if (g->json)
		rc = print_version_json(g, model, version);
	else
		printf("Registered %s:%d\n", model, version);
done:
	mreg_registry_free(reg);
	cJSON_Delete(config);
	return rc;
}

static int do_promote(cli_globals *g, int argc, char **argv, const char *name, mreg_stage fixed)
{
	cli_args a;
	mreg_registry *reg = NULL;
	mreg_ref ref;
	int rc;

	if ((rc = cli_parse(&a, name, argc, argv)))
		return rc;
	if (a.npositional != 1)
		return cli_usage(a.cmd, "%s needs one REF", name);
	mreg_stage to = fixed;
	if (to == MREG_STAGE_NONE) {
		const char *s = cli_get(&a, "to");
		if (!s)
			return cli_usage(a.cmd, "promote needs --to STAGE");
		if ((to = mreg_stage_parse(s)) == MREG_STAGE_NONE)
			return cli_usage(a.cmd,
					 "unknown stage '%s': expected development, staging, production, archived or rejected",
					 s);
	}
	if ((rc = cli_ref(&ref, &a, a.positional[0], true)))
		return rc;
	if ((rc = cli_open_write(&reg, g)))
		return rc;
	mreg_promote_opts o = MREG_PROMOTE_OPTS_INIT;
	int version = 0;
	o.reason = cli_get(&a, "reason");
	o.same_stage_ok = fixed != MREG_STAGE_NONE;	/* archive and reject are idempotent, as the original's CLI */
	if ((rc = mreg_promote_to(&version, reg, &ref, to, &o)) < 0) {
		rc = cli_fail(rc);
	} else if (g->json) {
		mreg_registry_free(reg);
		reg = NULL;
		rc = print_version_json(g, ref.model, version);
	} else if (rc == 1) {
		printf("%s:%d is already %s\n", ref.model, version, mreg_stage_name(to));
		rc = 0;
	} else {
		printf("%s %s:%d -> %s\n", to == MREG_STAGE_ARCHIVED ? "Archived" : to == MREG_STAGE_REJECTED ? "Rejected" : "Promoted",
		       ref.model, version, mreg_stage_name(to));
	}
	mreg_registry_free(reg);
	return rc;
}

int cmd_promote(cli_globals *g, int argc, char **argv)
{
	return do_promote(g, argc, argv, "promote", MREG_STAGE_NONE);
}

int cmd_archive(cli_globals *g, int argc, char **argv)
{
	return do_promote(g, argc, argv, "archive", MREG_STAGE_ARCHIVED);
}

int cmd_reject(cli_globals *g, int argc, char **argv)
{
	return do_promote(g, argc, argv, "reject", MREG_STAGE_REJECTED);
}

int cmd_update_metrics(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	mreg_registry *reg = NULL;
	mreg_metrics m;
	mreg_ref ref;
	int rc;

	memset(&m, 0, sizeof(m));
	if ((rc = cli_parse(&a, "update-metrics", argc, argv)))
		return rc;
	if (a.npositional < 2)
		return cli_usage(a.cmd, "update-metrics needs REF and at least one KEY=VALUE");
	if ((rc = mreg_ref_parse(&ref, a.positional[0])) < 0)
		return cli_fail(rc);
	for (int i = 1; i < a.npositional; i++)
		if ((rc = mreg_metrics_set_kv(&m, a.positional[i])) < 0)
			return cli_fail(rc);
	if ((rc = cli_open_write(&reg, g)))
		return rc;
	if ((rc = mreg_update_metrics(reg, &ref, &m, cli_has(&a, "replace"))) < 0)
		rc = cli_fail(rc);
	else if (!g->json)
		printf("Updated metrics of %s\n", a.positional[0]);
	mreg_registry_free(reg);
	if (rc == 0 && g->json)
		rc = print_version_json(g, ref.model, ref.version);
	return rc;
}

static int do_tag(cli_globals *g, int argc, char **argv, bool untag)
{
	cli_args a;
	mreg_registry *reg = NULL;
	mreg_ref ref;
	int rc;

	if ((rc = cli_parse(&a, untag ? "untag" : "tag", argc, argv)))
		return rc;
	if (a.npositional < 2)
		return cli_usage(a.cmd, "%s needs REF and at least one TAG", a.cmd->name);
	if ((rc = mreg_ref_parse(&ref, a.positional[0])) < 0)
		return cli_fail(rc);
	if ((rc = cli_open_write(&reg, g)))
		return rc;
	if ((rc = mreg_tag(reg, &ref, a.positional + 1, (size_t)(a.npositional - 1), untag)) < 0)
		rc = cli_fail(rc);
	else if (!g->json)
		printf("%s %s\n", untag ? "Untagged" : "Tagged", a.positional[0]);
	mreg_registry_free(reg);
	if (rc == 0 && g->json)
		rc = print_version_json(g, ref.model, ref.version);
	return rc;
}

int cmd_tag(cli_globals *g, int argc, char **argv)
{
	return do_tag(g, argc, argv, false);
}

int cmd_untag(cli_globals *g, int argc, char **argv)
{
	return do_tag(g, argc, argv, true);
}

/*
 * Commands that write: init, register, promote, archive, reject,
 * update-metrics, tag, untag. Each parses its arguments into the library's
 * options, makes one call, and prints one line (or, with --json, the
 * version object it produced).
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

const cli_opt opts_none[] = { { NULL, 0, false, NULL } };

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

static int print_version_json(cli_globals *g, const char *model, int version)
{
	mreg_registry *reg = NULL;
	mreg_state *st = NULL;
	mreg_model *m;
	mreg_version *v;
	mreg_ref ref;
	mreg_buf b = MREG_BUF_INIT;
	mreg_jsonw w;
	int rc;

	memset(&ref, 0, sizeof(ref));
	strcpy(ref.model, model);
	ref.version = version;
	if ((rc = mreg_registry_open(&reg, g->dir)) < 0 || (rc = mreg_registry_model(&st, reg, model, version)) < 0 ||
	    (rc = mreg_query_version(&m, &v, st, &ref)) < 0) {
		rc = cli_fail(rc);
		goto done;
	}
	mreg_jsonw_init(&w, &b);
	mreg_version_write(&w, NULL, m, v);
	mreg_jsonw_finish(&w);
	cli_print_json(&b);
done:
	mreg_buf_dispose(&b);
	mreg_state_free(st);
	mreg_registry_free(reg);
	return rc;
}

int cmd_init(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	const cli_command *cmd = cli_find("init");
	int rc = cli_parse(&a, cmd, argc, argv, NULL, NULL);
	if (rc)
		return rc;
	const char *dir = g->dir;
	if (a.npositional > 1)
		return cli_usage(cmd, "init takes at most one DIR");
	if (a.npositional == 1)
		dir = a.positional[0];
	if (!dir || !*dir)
		dir = getenv("MREG_DIR");
	if (!dir || !*dir)
		dir = MREG_DEFAULT_DIR;
	if ((rc = mreg_registry_init(dir)) < 0)
		return cli_fail(rc);
	if (g->json) {
		mreg_buf b = MREG_BUF_INIT;
		mreg_jsonw w;
		cli_json_begin(&w, &b);
		mreg_jsonw_obj_begin(&w, NULL);
		mreg_jsonw_str(&w, "path", dir);
		mreg_jsonw_obj_end(&w);
		cli_json_end(&w, &b);
	} else {
		printf("Initialized mreg registry in %s\n", dir);
	}
	return 0;
}

typedef struct {
	mreg_register_opts o;
	const char *tags[64];
	cJSON *config;
	const cli_command *cmd;
	int rc;
} register_args;

static int register_opt(int idx, const char *value, void *payload)
{
	register_args *r = payload;
	int rc = 0;
	cJSON *doc = NULL;
	switch (idx) {
	case 0:
		r->o.id = value;
		break;
	case 1:
		if ((r->o.type = mreg_type_parse(value)) == MREG_TYPE_NONE)
			return cli_usage(r->cmd,
					 "unknown model type '%s': expected policy_value, heuristic, ensemble, compressed or experimental",
					 value);
		break;
	case 2:
		r->o.description = value;
		break;
	case 3:
		if ((r->o.stage = mreg_stage_parse(value)) == MREG_STAGE_NONE)
			return cli_usage(r->cmd,
					 "unknown stage '%s': expected development, staging, production, archived or rejected",
					 value);
		break;
	case 4:
		rc = mreg_metrics_set_kv(&r->o.metrics, value);
		break;
	case 5:
		if ((rc = cli_read_json_file(&doc, value, "metrics file")) == 0)
			rc = mreg_metrics_from_json(&r->o.metrics, doc, value);
		cJSON_Delete(doc);
		break;
	case 6:
		rc = mreg_config_set_kv(r->config, value);
		break;
	case 7:
		if ((rc = cli_read_json_file(&doc, value, "config file")) == 0)	/* an object, or refused */
			mreg_config_merge(r->config, doc);	/* the file's keys after the options': its values win */
		cJSON_Delete(doc);
		break;
	case 8:
		if (r->o.ntags >= 64)
			return cli_usage(r->cmd, "too many --tag options");
		r->tags[r->o.ntags++] = value;
		break;
	}
	return rc < 0 ? cli_fail(rc) : 0;
}

int cmd_register(cli_globals *g, int argc, char **argv)
{
	register_args r;
	cli_args a;
	mreg_registry *reg = NULL;
	char model[MREG_ID_MAX + 1];
	int version = 0, rc;
	mreg_register_opts init = MREG_REGISTER_OPTS_INIT;

	memset(&r, 0, sizeof(r));
	r.o = init;
	r.cmd = cli_find("register");
	r.config = cJSON_CreateObject();
	if ((rc = cli_parse(&a, r.cmd, argc, argv, register_opt, &r)))
		goto done;
	if (a.npositional != 2) {
		rc = cli_usage(r.cmd, "register needs NAME and FILE");
		goto done;
	}
	r.o.name = a.positional[0];
	r.o.file = a.positional[1];
	r.o.tags = r.tags;
	r.o.training_config = r.config;
	if ((rc = cli_open_write(&reg, g)))
		goto done;
	if ((rc = mreg_register(model, &version, reg, &r.o)) < 0) {
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
	cJSON_Delete(r.config);
	return rc;
}

typedef struct {
	const char *to, *reason, *version;
	const cli_command *cmd;
} promote_args;

static int promote_opt(int idx, const char *value, void *payload)
{
	promote_args *p = payload;
	const cli_opt *o = &p->cmd->opts[idx];
	if (!strcmp(o->name, "to"))
		p->to = value;
	else if (!strcmp(o->name, "reason"))
		p->reason = value;
	else if (!strcmp(o->name, "version"))
		p->version = value;
	return 0;
}

/* REF plus an optional -v N: the original's `promote ID -v N` still works. */
static int ref_with_version(mreg_ref *ref, const char *s, const char *v, const cli_command *cmd)
{
	int rc = mreg_ref_parse(ref, s);
	if (rc < 0)
		return cli_fail(rc);
	if (v) {
		char *end;
		long n = strtol(v, &end, 10);
		if (*end || n < 1 || n > 1 << 30)
			return cli_usage(cmd, "invalid version '%s': expected a number >= 1", v);
		if (ref->version && ref->version != n)
			return cli_usage(cmd, "'%s' and -v %s name different versions", s, v);
		ref->version = (int)n;
	}
	return 0;
}

static int do_promote(cli_globals *g, int argc, char **argv, const char *name, mreg_stage fixed)
{
	promote_args p = { NULL, NULL, NULL, cli_find(name) };
	cli_args a;
	mreg_registry *reg = NULL;
	mreg_ref ref;
	int rc;

	if ((rc = cli_parse(&a, p.cmd, argc, argv, promote_opt, &p)))
		return rc;
	if (a.npositional != 1)
		return cli_usage(p.cmd, "%s needs one REF", name);
	mreg_stage to = fixed;
	if (to == MREG_STAGE_NONE) {
		if (!p.to)
			return cli_usage(p.cmd, "promote needs --to STAGE");
		if ((to = mreg_stage_parse(p.to)) == MREG_STAGE_NONE)
			return cli_usage(p.cmd,
					 "unknown stage '%s': expected development, staging, production, archived or rejected",
					 p.to);
	}
	if ((rc = ref_with_version(&ref, a.positional[0], p.version, p.cmd)))
		return rc;
	if ((rc = cli_open_write(&reg, g)))
		return rc;
	if ((rc = mreg_promote(reg, &ref, to, p.reason)) < 0) {
		rc = cli_fail(rc);
	} else if (g->json) {
		mreg_registry_free(reg);
		reg = NULL;
		rc = print_version_json(g, ref.model, ref.version);
	} else {
		printf("%s %s -> %s\n", to == MREG_STAGE_ARCHIVED ? "Archived" : to == MREG_STAGE_REJECTED ? "Rejected" : "Promoted",
		       a.positional[0], mreg_stage_name(to));
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

static int flag_opt(int idx, const char *value, void *payload)
{
	(void)idx;
	(void)value;
	*(bool *)payload = true;
	return 0;
}

int cmd_update_metrics(cli_globals *g, int argc, char **argv)
{
	const cli_command *cmd = cli_find("update-metrics");
	cli_args a;
	mreg_registry *reg = NULL;
	mreg_metrics m;
	mreg_ref ref;
	bool replace = false;
	int rc;

	memset(&m, 0, sizeof(m));
	if ((rc = cli_parse(&a, cmd, argc, argv, flag_opt, &replace)))
		return rc;
	if (a.npositional < 2)
		return cli_usage(cmd, "update-metrics needs REF and at least one KEY=VALUE");
	if ((rc = mreg_ref_parse(&ref, a.positional[0])) < 0)
		return cli_fail(rc);
	for (int i = 1; i < a.npositional; i++)
		if ((rc = mreg_metrics_set_kv(&m, a.positional[i])) < 0)
			return cli_fail(rc);
	if ((rc = cli_open_write(&reg, g)))
		return rc;
	if ((rc = mreg_update_metrics(reg, &ref, &m, replace)) < 0)
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
	const cli_command *cmd = cli_find(untag ? "untag" : "tag");
	cli_args a;
	mreg_registry *reg = NULL;
	mreg_ref ref;
	int rc;

	if ((rc = cli_parse(&a, cmd, argc, argv, NULL, NULL)))
		return rc;
	if (a.npositional < 2)
		return cli_usage(cmd, "%s needs REF and at least one TAG", cmd->name);
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

/*
 * mreg backup: create, list, show, verify, restore, prune, auto, stats; and
 * mreg restore-from, which needs no registry. Each prints a line or a
 * table, or with --json the metadata and reports of fsstore/backup.c.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

const cli_opt opts_backup[] = {
	{ "reason", 'r', true, "R         create: why (kept in the metadata)" },
	{ "keep", 0, true, "N           prune: how many to keep (default: mreg.json's backup.max_backups, 10)" },
	{ NULL, 0, false, NULL }
};

typedef struct {
	const char *reason, *keep;
} backup_opts;

static int backup_opt(int idx, const char *value, void *payload)
{
	backup_opts *o = payload;
	if (idx == 0)
		o->reason = value;
	else
		o->keep = value;
	return 0;
}

static void print_json(const cJSON *v)
{
	mreg_buf b = MREG_BUF_INIT;
	mreg_jsonw w;
	mreg_jsonw_init(&w, &b);
	mreg_jsonw_value(&w, NULL, v);
	mreg_jsonw_finish(&w);
	cli_print_json(&b);
	mreg_buf_dispose(&b);
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "-";
}

static double num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void print_meta(const cJSON *m)
{
	printf("Backup %s\n", str(m, "id"));
	printf("  time:      %s\n  reason:    %s\n  by:        %s on %s\n", str(m, "time"), str(m, "reason"), str(m, "actor"),
	       str(m, "host"));
	printf("  registry:  %s (%s at %s)\n", str(m, "registry"), str(m, "branch"), str(m, "head"));
	printf("  contents:  %.0f events, %.0f models, %.0f versions, %d large files\n", num(m, "events"), num(m, "models"),
	       num(m, "versions"), cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(m, "blobs")));
	printf("  bundle:    %s (%.0f bytes, %s)\n", str(m, "bundle"), num(m, "bundle_size"), str(m, "bundle_hash"));
}

int cmd_backup(cli_globals *g, int argc, char **argv)
{
	const cli_command *cmd = cli_find("backup");
	backup_opts o = { NULL, NULL };
	cli_args a;
	mreg_registry *reg = NULL;
	cJSON *out = NULL;
	int rc;

	if ((rc = cli_parse(&a, cmd, argc, argv, backup_opt, &o)))
		return rc;
	if (a.npositional < 1)
		return cli_usage(cmd, "backup needs create, list, show, verify, restore, prune, auto or stats");
	const char *sub = a.positional[0];
	bool with_id = !strcmp(sub, "show") || !strcmp(sub, "verify") || !strcmp(sub, "restore");
	bool without = !strcmp(sub, "create") || !strcmp(sub, "list") || !strcmp(sub, "prune") || !strcmp(sub, "auto") ||
		       !strcmp(sub, "stats");
	if (!with_id && !without)
		return cli_usage(cmd, "unknown backup subcommand '%s'", sub);
	if (a.npositional != (with_id ? 2 : 1))
		return cli_usage(cmd, with_id ? "backup %s needs one ID" : "backup %s takes no arguments", sub);
	if (o.reason && strcmp(sub, "create"))
		return cli_usage(cmd, "-r goes with 'backup create'");
	int keep = 0;
	if (o.keep) {
		double k;
		if (strcmp(sub, "prune"))
			return cli_usage(cmd, "--keep goes with 'backup prune'");
		if (cli_number(&k, o.keep, "--keep", 1, 1e6) < 0 || k != (int)k)
			return cli_usage(cmd, "invalid --keep '%s': expected a whole number from 1", o.keep);
		keep = (int)k;
	}
	if ((rc = cli_open(&reg, g)))
		return rc;
	const char *id = with_id ? a.positional[1] : NULL;
	if (!strcmp(sub, "create") || !strcmp(sub, "auto")) {
		rc = !strcmp(sub, "create") ? mreg_backup_create(&out, reg, o.reason ? o.reason : "manual")
					    : mreg_backup_auto(&out, reg);
		if (rc < 0) {
			rc = cli_fail(rc);
		} else if (g->json) {
			print_json(out);	/* null when no backup was needed */
		} else if (out) {
			printf("Created backup %s (%.0f events, %.0f bytes)\n", str(out, "id"), num(out, "events"),
			       num(out, "bundle_size"));
		} else {
			printf("No backup needed: the newest is younger than the interval (mreg.json backup.interval_hours)\n");
		}
	} else if (!strcmp(sub, "list")) {
		if ((rc = mreg_backup_list(&out, reg)) < 0) {
			rc = cli_fail(rc);
		} else if (g->json) {
			print_json(out);
		} else if (!cJSON_GetArraySize(out)) {
			printf("No backups.\n");
		} else {
			printf("%-27s %-27s %8s %12s  %s\n", "ID", "Time", "Events", "Bytes", "Reason");
			printf("----------------------------------------------------------------------------------------------\n");
			const cJSON *m;
			cJSON_ArrayForEach(m, out)
				printf("%-27s %-27s %8.0f %12.0f  %s\n", str(m, "id"), str(m, "time"), num(m, "events"),
				       num(m, "bundle_size"), str(m, "reason"));
		}
	} else if (!strcmp(sub, "show")) {
		if ((rc = mreg_backup_show(&out, reg, id)) < 0)
			rc = cli_fail(rc);
		else if (g->json)
			print_json(out);
		else
			print_meta(out);
	} else if (!strcmp(sub, "verify")) {
		if ((rc = mreg_backup_verify(&out, reg, id)) < 0)
			rc = cli_fail(rc);
		else if (g->json)
			print_json(out);
		else
			printf("Backup %s is valid: head %s complete (%.0f objects), %.0f events, %.0f large files\n", id,
			       str(out, "head"), num(out, "objects"), num(out, "events"), num(out, "blobs"));
	} else if (!strcmp(sub, "restore")) {
		if ((rc = mreg_backup_restore(&out, reg, id)) < 0)
			rc = cli_fail(rc);
		else if (g->json)
			print_json(out);
		else
			printf("Restored backup %s: %.0f events, %.0f models, %.0f versions (the state before is backup %s)\n", id,
			       num(out, "events"), num(out, "models"), num(out, "versions"), str(out, "pre_restore_backup"));
	} else if (!strcmp(sub, "prune")) {
		size_t removed = 0;
		if ((rc = mreg_backup_prune(&removed, reg, keep)) < 0) {
			rc = cli_fail(rc);
		} else if (g->json) {
			mreg_buf b = MREG_BUF_INIT;
			mreg_jsonw w;
			cli_json_begin(&w, &b);
			mreg_jsonw_obj_begin(&w, NULL);
			mreg_jsonw_int(&w, "removed", (int64_t)removed);
			mreg_jsonw_obj_end(&w);
			cli_json_end(&w, &b);
		} else {
			printf("Removed %zu backup%s\n", removed, removed == 1 ? "" : "s");
		}
	} else {
		if ((rc = mreg_backup_stats(&out, reg)) < 0) {
			rc = cli_fail(rc);
		} else if (g->json) {
			print_json(out);
		} else {
			printf("Backups in %s: %.0f, %.0f bytes in all (%.0f in bundles), %.0f large files\n", str(out, "directory"),
			       num(out, "total_backups"), num(out, "total_bytes"), num(out, "bundle_bytes"), num(out, "blob_files"));
			if (num(out, "total_backups"))
				printf("  newest %s, oldest %s\n", str(out, "newest"), str(out, "oldest"));
		}
	}
	cJSON_Delete(out);
	mreg_registry_free(reg);
	return rc;
}

int cmd_restore_from(cli_globals *g, int argc, char **argv)
{
	const cli_command *cmd = cli_find("restore-from");
	cli_args a;
	cJSON *out = NULL;
	int rc;

	if ((rc = cli_parse(&a, cmd, argc, argv, NULL, NULL)))
		return rc;
	if (a.npositional != 2)
		return cli_usage(cmd, "restore-from needs BUNDLE and DIR");
	if ((rc = mreg_restore_from(&out, a.positional[0], a.positional[1])) < 0)
		return cli_fail(rc);
	if (g->json)
		print_json(out);
	else
		printf("Restored %s into %s: %.0f events, %.0f models, %.0f versions\n", a.positional[0], a.positional[1],
		       num(out, "events"), num(out, "models"), num(out, "versions"));
	cJSON_Delete(out);
	return 0;
}

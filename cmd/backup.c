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

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "-";
}

static void print_meta(const cJSON *m)
{
	printf("Backup %s\n", str(m, "id"));
	printf("  time:      %s\n  reason:    %s\n  by:        %s on %s\n", str(m, "time"), str(m, "reason"), str(m, "actor"),
	       str(m, "host"));
	printf("  registry:  %s (%s at %s)\n", str(m, "registry"), str(m, "branch"), str(m, "head"));
	printf("  contents:  %.0f events, %.0f models, %.0f versions, %d large files\n", cli_num(m, "events"), cli_num(m, "models"),
	       cli_num(m, "versions"), cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(m, "blobs")));
	printf("  bundle:    %s (%.0f bytes, %s)\n", str(m, "bundle"), cli_num(m, "bundle_size"), str(m, "bundle_hash"));
}

/* backup create | auto: one backup now, or only when the newest is older than the interval. */
static int backup_create(cli_globals *g, mreg_registry *reg, bool create, const char *reason)
{
	cJSON *out = NULL;
	int rc = create ? mreg_backup_create(&out, reg, reason ? reason : "manual") : mreg_backup_auto(&out, reg);
	if (rc < 0)
		rc = cli_fail(rc);
	else if (g->json)
		cli_print_value(out);	/* null when no backup was needed */
	else if (out)
		printf("Created backup %s (%.0f events, %.0f bytes)\n", str(out, "id"), cli_num(out, "events"),
		       cli_num(out, "bundle_size"));
	else
		printf("No backup needed: the newest is younger than the interval (mreg.json backup.interval_hours)\n");
	cJSON_Delete(out);
	return rc;
}

static int backup_list(cli_globals *g, mreg_registry *reg)
{
	cJSON *out = NULL;
	int rc;
	if ((rc = mreg_backup_list(&out, reg)) < 0) {
		rc = cli_fail(rc);
	} else if (g->json) {
		cli_print_value(out);
	} else if (!cJSON_GetArraySize(out)) {
		printf("No backups.\n");
	} else {
		printf("%-27s %-27s %8s %12s  %s\n", "ID", "Time", "Events", "Bytes", "Reason");
		printf("----------------------------------------------------------------------------------------------\n");
		const cJSON *m;
		cJSON_ArrayForEach(m, out)
			printf("%-27s %-27s %8.0f %12.0f  %s\n", str(m, "id"), str(m, "time"), cli_num(m, "events"),
			       cli_num(m, "bundle_size"), str(m, "reason"));
	}
	cJSON_Delete(out);
	return rc;
}

/* backup show | verify | restore ID: the library's report, as a line (or the metadata) or as JSON. */
static int backup_one(cli_globals *g, mreg_registry *reg, const char *sub, const char *id)
{
	cJSON *out = NULL;
	int rc = !strcmp(sub, "show")	  ? mreg_backup_show(&out, reg, id)
		 : !strcmp(sub, "verify") ? mreg_backup_verify(&out, reg, id)
					  : mreg_backup_restore(&out, reg, id);
	if (rc < 0)
		rc = cli_fail(rc);
	else if (g->json)
		cli_print_value(out);
	else if (!strcmp(sub, "show"))
		print_meta(out);
	else if (!strcmp(sub, "verify"))
		printf("Backup %s is valid: head %s complete (%.0f objects), %.0f events, %.0f large files\n", id,
		       str(out, "head"), cli_num(out, "objects"), cli_num(out, "events"), cli_num(out, "blobs"));
	else
		printf("Restored backup %s: %.0f events, %.0f models, %.0f versions (the state before is backup %s)\n", id,
		       cli_num(out, "events"), cli_num(out, "models"), cli_num(out, "versions"), str(out, "pre_restore_backup"));
	cJSON_Delete(out);
	return rc;
}

static int backup_prune(cli_globals *g, mreg_registry *reg, int keep)
{
	size_t removed = 0, orphans = 0;
	int rc;
	if ((rc = mreg_backup_prune(&removed, &orphans, reg, keep)) < 0)
		return cli_fail(rc);
	if (g->json) {
		cli_json j;
		mreg_jsonw *w = cli_json_object(&j);
		mreg_jsonw_int(w, "removed", (int64_t)removed);
		mreg_jsonw_int(w, "orphans", (int64_t)orphans);
		cli_json_print(&j);
	} else if (orphans) {
		printf("Removed %zu backup%s and %zu orphaned file%s\n", removed, removed == 1 ? "" : "s", orphans,
		       orphans == 1 ? "" : "s");
	} else {
		printf("Removed %zu backup%s\n", removed, removed == 1 ? "" : "s");
	}
	return 0;
}

static int backup_stats(cli_globals *g, mreg_registry *reg)
{
	cJSON *out = NULL;
	int rc;
	if ((rc = mreg_backup_stats(&out, reg)) < 0) {
		rc = cli_fail(rc);
	} else if (g->json) {
		cli_print_value(out);
	} else {
		printf("Backups in %s: %.0f, %.0f bytes in all (%.0f in bundles), %.0f large files\n", str(out, "directory"),
		       cli_num(out, "total_backups"), cli_num(out, "total_bytes"), cli_num(out, "bundle_bytes"), cli_num(out, "blob_files"));
		if (cli_num(out, "total_backups"))
			printf("  newest %s, oldest %s\n", str(out, "newest"), str(out, "oldest"));
	}
	cJSON_Delete(out);
	return rc;
}

/* The subcommand's arguments and options, and --keep: 0, or 2 after the usage error. */
static int backup_args(int *keep, const cli_args *a)
{
	const char *sub = a->positional[0], *keep_s = cli_get(a, "keep");
	bool with_id = !strcmp(sub, "show") || !strcmp(sub, "verify") || !strcmp(sub, "restore");
	bool without = !strcmp(sub, "create") || !strcmp(sub, "list") || !strcmp(sub, "prune") || !strcmp(sub, "auto") ||
		       !strcmp(sub, "stats");
	double k;
	*keep = 0;
	if (!with_id && !without)
		return cli_usage(a->cmd, "unknown backup subcommand '%s'", sub);
	if (a->npositional != (with_id ? 2 : 1))
		return cli_usage(a->cmd, with_id ? "backup %s needs one ID" : "backup %s takes no arguments", sub);
	if (cli_get(a, "reason") && strcmp(sub, "create"))
		return cli_usage(a->cmd, "-r goes with 'backup create'");
	if (!keep_s)
		return 0;
	if (strcmp(sub, "prune"))
		return cli_usage(a->cmd, "--keep goes with 'backup prune'");
	if (cli_number(&k, keep_s, "--keep", 1, 1e6) < 0 || k != (int)k)
		return cli_usage(a->cmd, "invalid --keep '%s': expected a whole number from 1", keep_s);
	*keep = (int)k;
	return 0;
}

int cmd_backup(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	mreg_registry *reg = NULL;
	int keep, rc;

	if ((rc = cli_parse(&a, "backup", argc, argv)))
		return rc;
	if (a.npositional < 1)
		return cli_usage(a.cmd, "backup needs create, list, show, verify, restore, prune, auto or stats");
	if ((rc = backup_args(&keep, &a)) || (rc = cli_open(&reg, g)))
		return rc;
	const char *sub = a.positional[0];
	if (!strcmp(sub, "create") || !strcmp(sub, "auto"))
		rc = backup_create(g, reg, !strcmp(sub, "create"), cli_get(&a, "reason"));
	else if (!strcmp(sub, "list"))
		rc = backup_list(g, reg);
	else if (!strcmp(sub, "prune"))
		rc = backup_prune(g, reg, keep);
	else if (!strcmp(sub, "stats"))
		rc = backup_stats(g, reg);
	else
		rc = backup_one(g, reg, sub, a.positional[1]);
	mreg_registry_free(reg);
	return rc;
}

int cmd_restore_from(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	cJSON *out = NULL;
	int rc;

	if ((rc = cli_parse(&a, "restore-from", argc, argv)))
		return rc;
	if (a.npositional != 2)
		return cli_usage(a.cmd, "restore-from needs BUNDLE and DIR");
	if ((rc = mreg_backup_restore_from(&out, a.positional[0], a.positional[1])) < 0)
		return cli_fail(rc);
	if (g->json)
		cli_print_value(out);
	else
		printf("Restored %s into %s: %.0f events, %.0f models, %.0f versions\n", a.positional[0], a.positional[1],
		       cli_num(out, "events"), cli_num(out, "models"), cli_num(out, "versions"));
	cJSON_Delete(out);
	return 0;
}

/*
 * Nodes in sync: mreg clone, mreg remote add|remove|list, mreg sync
 * [REMOTE...] (once, or every N seconds until stopped) and mreg sync
 * status. Each prints a line per remote and a summary, or with --json the
 * library's report (fsstore/sync.c). A sync exits 1 when any remote failed
 * or its breaker kept it from being tried.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

const cli_opt opts_clone[] = {
	{ "all-files", 0, false, "      fetch the large model files of every version" },
	{ "no-files", 0, false, "       fetch no large model file (the default: production and staging)" },
	{ NULL, 0, false, NULL }
};

const cli_opt opts_sync[] = {
	{ "push", 0, false, "           push the merged branch back (also git config mreg.syncPush)" },
	{ "no-backup", 0, false, "      no pre-sync backup" },
	{ "dry-run", 0, false, "        fetch and check; change nothing" },
	{ "every", 0, true, "SECONDS  a round every SECONDS (±10 %) until SIGTERM or SIGINT ('default': 600 s)" },
	{ NULL, 0, false, NULL }
};

static int count(const cJSON *o, const char *k)
{
	return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* ---- clone --------------------------------------------------------------- */

/* The directory git clone would make of url: its last part without ".git". */
static char *clone_dir(const char *url)
{
	size_t n = strlen(url);
	while (n && (url[n - 1] == '/' || url[n - 1] == ':'))
		n--;
	size_t s = n;
	while (s && url[s - 1] != '/' && url[s - 1] != ':')
		s--;
	if (n - s > 4 && !strncmp(url + n - 4, ".git", 4))
		n -= 4;
	return n > s ? mreg_strfmt("%.*s", (int)(n - s), url + s) : NULL;
}

int cmd_clone(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	cJSON *out = NULL;
	int rc;
	if ((rc = cli_parse(&a, "clone", argc, argv)))
		return rc;
	if (a.npositional < 1 || a.npositional > 2)
		return cli_usage(a.cmd, "clone needs URL and may take DIR");
	if (cli_has(&a, "all-files") && cli_has(&a, "no-files"))
		return cli_usage(a.cmd, "--all-files and --no-files exclude each other");
	mreg_clone_files files = cli_has(&a, "all-files") ? MREG_CLONE_FILES_ALL
				 : cli_has(&a, "no-files") ? MREG_CLONE_FILES_NONE
							   : MREG_CLONE_FILES_SERVING;
	char *dir = a.npositional == 2 ? mreg_strdup(a.positional[1]) : clone_dir(a.positional[0]);
	if (!dir)
		return cli_usage(a.cmd, "cannot tell a directory from '%s': name one", a.positional[0]);
	if ((rc = mreg_clone(&out, a.positional[0], dir, files)) < 0)
		rc = cli_fail(rc);
	else if (g->json)
		cli_print_value(out);
	else
		printf("Cloned %s into %s: %.0f events, %.0f models, %.0f versions%s\n", a.positional[0], dir,
		       cli_num(out, "events"), cli_num(out, "models"), cli_num(out, "versions"),
		       count(out, "files_not_here") ? " (some large files are not here: see mreg sync status)" : "");
	cJSON_Delete(out);
	free(dir);
	return rc;
}

/* ---- remote --------------------------------------------------------------- */

int cmd_remote(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	mreg_registry *reg = NULL;
	cJSON *out = NULL;
	int rc;
	if ((rc = cli_parse(&a, "remote", argc, argv)))
		return rc;
	const char *sub = a.npositional ? a.positional[0] : "";
	int want = !strcmp(sub, "add") ? 3 : !strcmp(sub, "remove") ? 2 : !strcmp(sub, "list") ? 1 : -1;
	if (want < 0)
		return cli_usage(a.cmd, a.npositional ? "unknown remote subcommand '%s'" : "remote needs add, remove or list",
				 sub);
	if (a.npositional != want)
		return cli_usage(a.cmd, want == 3 ? "remote add needs NAME and URL"
				       : want == 2 ? "remote remove needs NAME"
						   : "remote list takes no arguments");
	if ((rc = cli_open(&reg, g)))
		return rc;
	if (want == 3)
		rc = mreg_remote_add(reg, a.positional[1], a.positional[2]);
	else if (want == 2)
		rc = mreg_remote_remove(reg, a.positional[1]);
	else
		rc = mreg_remote_list(&out, reg);
	if (rc < 0) {
		rc = cli_fail(rc);
	} else if (want == 1 && g->json) {
		cli_print_value(out);
	} else if (want == 1) {
		const cJSON *r;
		cJSON_ArrayForEach(r, out)
			printf("%s\t%s\n", cli_str(r, "name"), cli_str(r, "url"));
	} else if (!g->json) {
		printf(want == 3 ? "Added remote %s\n" : "Removed remote %s\n", a.positional[1]);
	}
	cJSON_Delete(out);
	mreg_registry_free(reg);
	return rc;
}

/* ---- sync --------------------------------------------------------------- */

static void print_round(const cJSON *r)
{
	const cJSON *x;
	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(r, "remotes")) {
		const char *res = cli_str(x, "result");
		if (!strcmp(res, "ok")) {
			printf("%s: ok: %.0f events received, %.0f sent", cli_str(x, "name"), cli_num(x, "events_received"),
			       cli_num(x, "events_sent"));
			if (strcmp(cli_str(x, "how"), "none"))
				printf(" (%s)", cli_str(x, "how"));
			printf("\n");
		} else {
			printf("%s: %s: %s\n", cli_str(x, "name"), res, cli_str(x, "error"));
		}
		const cJSON *m;
		cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(x, "files_not_here"))
			printf("%s: large file not here: %s: %s\n", cli_str(x, "name"), cli_str(m, "path"), cli_str(m, "problem"));
		if (*cli_str(x, "warning"))
			printf("%s: %s\n", cli_str(x, "name"), cli_str(x, "warning"));
	}
	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(r, "versions_renumbered"))
		printf("renumbered: %s:%.0f is now %s:%.0f (%s)\n", cli_str(x, "model_id"), cli_num(x, "claimed"),
		       cli_str(x, "model_id"), cli_num(x, "version"), cli_str(x, "ref"));
	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(r, "conflicts"))
		printf("conflict: %s %s:%.0f: %s\n", cli_str(x, "type"), cli_str(x, "model_id"), cli_num(x, "version"),
		       cli_str(x, "message"));
	int nremotes = count(r, "remotes");
	printf("%s%.0f of %d nodes synced: %.0f events received, %.0f sent, %d models changed, %d versions renumbered, "
	       "%d conflicts\n",
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "dry_run")) ? "dry run: " : "", cli_num(r, "nodes_synced"),
	       nremotes, cli_num(r, "events_received"), cli_num(r, "events_sent"), count(r, "models_changed"),
	       count(r, "versions_renumbered"), count(r, "conflicts"));
}

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

/* A round; its exit code: 0 every remote synced, 1 otherwise. */
static int round_once(cli_globals *g, mreg_registry *reg, const mreg_sync_opts *o)
{
	cJSON *out = NULL;
	int rc = mreg_sync(&out, reg, o);
	if (rc < 0)
		return cli_fail(rc);
	if (g->json)
		cli_print_value(out);
	else
		print_round(out);
	fflush(stdout);
	rc = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(out, "ok")) ? 0 : 1;
	cJSON_Delete(out);
	return rc;
}

/* Rounds every period seconds, ±10 %, until SIGTERM or SIGINT: the exit code of the last round. */
static int rounds(cli_globals *g, const mreg_sync_opts *o, double period)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	cli_alloc_long_running();	/* a process that runs until stopped hands freed memory back */
	int rc = 0;
	while (!stopping) {
		mreg_registry *reg = NULL;
		if ((rc = cli_open(&reg, g)))
			return rc;
		rc = round_once(g, reg, o);
		mreg_registry_free(reg);
		unsigned int r = 0;
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (unsigned int)time(NULL);
		double wait = period * (0.9 + 0.2 * ((double)r / 4294967296.0));
		struct timespec ts = { (time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9) };
		while (!stopping && nanosleep(&ts, &ts) < 0)
			;
	}
	return rc;
}

static int sync_status(cli_globals *g, mreg_registry *reg)
{
	cJSON *out = NULL;
	int rc = mreg_sync_status(&out, reg);
	if (rc < 0)
		return cli_fail(rc);
	if (g->json) {
		cli_print_value(out);
	} else {
		const cJSON *last = cJSON_GetObjectItemCaseSensitive(out, "last_round"), *r;
		if (cJSON_IsObject(last))
			printf("last round: %s, %.0f synced, %.0f failed, %.0f events received, %.0f sent\n", cli_str(last, "finished"),
			       cli_num(last, "nodes_synced"), cli_num(last, "nodes_failed"), cli_num(last, "events_received"),
			       cli_num(last, "events_sent"));
		else
			printf("last round: never\n");
		printf("local: %.0f models, %.0f versions, %.0f events, %.0f conflicts\n", cli_num(out, "models"),
		       cli_num(out, "versions"), cli_num(out, "events"), cli_num(out, "conflicts"));
		cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(out, "remotes")) {
			const cJSON *b = cJSON_GetObjectItemCaseSensitive(r, "breaker");
			printf("%s\t%s\n", cli_str(r, "name"), cli_str(r, "url"));
			printf("  last success: %s; events received: %.0f (last round %.0f)\n",
			       *cli_str(r, "last_success") ? cli_str(r, "last_success") : "never", cli_num(r, "events_received"),
			       cli_num(r, "last_events_received"));
			if (*cli_str(r, "last_error"))
				printf("  last error: %s: %s\n", cli_str(r, "last_error_at"), cli_str(r, "last_error"));
			printf("  breaker: %s, %.0f consecutive failures", cli_str(b, "state"), cli_num(r, "consecutive_failures"));
			if (*cli_str(b, "open_until"))
				printf(", next try after %s", cli_str(b, "open_until"));
			printf("\n");
		}
	}
	cJSON_Delete(out);
	return 0;
}

int cmd_sync(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	mreg_registry *reg = NULL;
	int rc;
	double every = 0;
	bool every_given = false;
	if ((rc = cli_parse(&a, "sync", argc, argv)))
		return rc;
	if (a.npositional && !strcmp(a.positional[0], "status")) {
		if (a.npositional > 1 || cli_has(&a, "push") || cli_has(&a, "no-backup") || cli_has(&a, "dry-run") ||
		    cli_has(&a, "every"))
			return cli_usage(a.cmd, "sync status takes no arguments or options but --json");
		if ((rc = cli_open(&reg, g)))
			return rc;
		rc = sync_status(g, reg);
		mreg_registry_free(reg);
		return rc;
	}
	const char *every_s = cli_get(&a, "every");
	bool every_default = every_s && !strcmp(every_s, "default");
	if (!every_default && cli_number_opt(&every, &every_given, &a, "every", 1, 1e7) < 0)
		return 2;
	every_given |= every_default;
	mreg_sync_opts o = { a.positional, (size_t)a.npositional, cli_has(&a, "push"), cli_has(&a, "no-backup"),
			     cli_has(&a, "dry-run"), -1 };
	if (every_given && o.dry_run)
		return cli_usage(a.cmd, "--every and --dry-run exclude each other");
	if (every_default) {
		if ((rc = cli_open(&reg, g)))
			return rc;
		rc = mreg_sync_interval(&every, reg);
		mreg_registry_free(reg);
		if (rc < 0)
			return cli_fail(rc);
	}
	if (every_given)
		return rounds(g, &o, every);
	if ((rc = cli_open(&reg, g)))
		return rc;
	rc = round_once(g, reg, &o);
	mreg_registry_free(reg);
	return rc;
}

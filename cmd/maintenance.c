/*
 * Commands that look after the registry rather than its models: refresh
 * (state files, work tree and index brought up to HEAD), fsck (every check
 * the library has, one line per problem), gc (the history packed with
 * deltas), and version.
 */
#include "cli.h"

#include <git2/version.h>

const cli_opt opts_refresh[] = {
	{ "full", 0, false, "           fold the whole log from scratch" },
	{ NULL, 0, false, NULL }
};

const cli_opt opts_fsck[] = { { NULL, 0, false, NULL } };

const cli_opt opts_gc[] = {
	{ "full", 0, false, "           pack everything again, the base pack too" },
	{ NULL, 0, false, NULL }
};

int cmd_refresh(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	mreg_registry *reg = NULL;
	bool full, fresh = false;
	int rc;

	if ((rc = cli_open_noargs(&reg, &a, g, "refresh", argc, argv)))
		return rc;
	full = cli_has(&a, "full");
	if ((rc = mreg_registry_refresh(reg, full, &fresh)) < 0)
		rc = cli_fail(rc);
	else if (!g->json)
		printf("%s\n", full ? "State folded from scratch" : fresh ? "Already up to date" : "State refreshed");
	mreg_registry_free(reg);
	return rc;
}

static void fsck_report(const char *problem, void *payload)
{
	(void)payload;
	fprintf(stderr, "mreg: fsck: %s\n", problem);
}

int cmd_fsck(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	mreg_registry *reg = NULL;
	size_t n = 0;
	int rc;

	if ((rc = cli_open_noargs(&reg, &a, g, "fsck", argc, argv)))
		return rc;
	rc = mreg_fsck(&n, reg, fsck_report, NULL);
	if (rc == MREG_ECORRUPT && n) {
		rc = 1;	/* one line per problem is the report */
	} else if (rc < 0) {	/* fsck could not finish (a missing object): the error, in one line */
		rc = cli_fail(rc);
	} else if (!g->json) {
		printf("ok: %s is consistent\n", mreg_registry_path(reg));
	}
	mreg_registry_free(reg);
	return rc;
}

int cmd_gc(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	mreg_registry *reg = NULL;
	int64_t before = 0, after = 0;
	bool full = false;
	int rc;

	if ((rc = cli_open_noargs(&reg, &a, g, "gc", argc, argv)))
		return rc;
	if ((rc = mreg_gc(&before, &after, &full, reg, cli_has(&a, "full"))) < 0) {
		rc = cli_fail(rc);
	} else if (g->json) {
		cli_json j;
		mreg_jsonw *w = cli_json_object(&j);
		mreg_jsonw_int(w, "bytes_before", before);
		mreg_jsonw_int(w, "bytes_after", after);
		mreg_jsonw_bool(w, "full", full);
		cli_json_print(&j);
	} else {
		printf("Packed %s: %lld -> %lld bytes of objects (%s)\n", mreg_registry_path(reg), (long long)before,
		       (long long)after, full ? "everything, into a new base pack" : "what lies outside the base pack");
	}
	mreg_registry_free(reg);
	return rc;
}

int cmd_version(cli_globals *g, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (g->json) {
		mreg_buf lib = MREG_BUF_INIT;
		cli_json j;
		mreg_jsonw *w = cli_json_object(&j);
		mreg_buf_printf(&lib, "%d.%d.%d", LIBGIT2_VER_MAJOR, LIBGIT2_VER_MINOR, LIBGIT2_VER_REVISION);
		mreg_jsonw_str(w, "version", MREG_VERSION_STRING);
		mreg_jsonw_str(w, "libgit2", lib.ptr);
		cli_json_print(&j);
		mreg_buf_dispose(&lib);
	} else {
		printf("mreg %s (libgit2 %d.%d.%d)\n", MREG_VERSION_STRING, LIBGIT2_VER_MAJOR, LIBGIT2_VER_MINOR,
		       LIBGIT2_VER_REVISION);
	}
	return 0;
}

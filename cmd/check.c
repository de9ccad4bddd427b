/*
 * mreg check: what a range of commits does, and whether it may land; mreg
 * hooks: the hooks that run it where git pushes arrive.
 */
#include "cli.h"
#include "hooks_text.h"

#include <stdio.h>
#include <string.h>

/* Every problem, one line on stderr: mreg: commit C: event E|path P: what. */
static void print_problems(const cJSON *report)
{
	const cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(report, "problems")) {
		const char *event = cli_str(p, "event"), *path = cli_str(p, "path");
		fprintf(stderr, "mreg: commit %.12s: ", cli_str(p, "commit"));
		if (*event)
			fprintf(stderr, "event %s: ", event);
		else if (*path)
			fprintf(stderr, "'%s': ", path);
		fprintf(stderr, "%s\n", cli_str(p, "problem"));
	}
	double left = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(report, "problems_left_out"));
	if (left > 0)
		fprintf(stderr, "mreg: and %.0f more problems\n", left);
}

static void print_words(const cJSON *report)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(report, "changes")) {
		printf("%.12s %s", cli_str(c, "commit"), cli_str(c, "words"));
		if (*cli_str(c, "signed_by"))
			printf(" [signed by %s]", cli_str(c, "signed_by"));
		printf("\n");
	}
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(report, "policy_changes")) {
		printf("%.12s %s changed", cli_str(c, "commit"), cli_str(c, "path"));
		if (*cli_str(c, "signed_by"))
			printf(" [signed by %s]", cli_str(c, "signed_by"));
		printf("\n");
	}
	bool valid = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(report, "valid"));
	double commits = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(report, "commits"));
	double events = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(report, "events"));
	printf("%s: %.0f commit%s, %.0f event%s: %s\n", cli_str(report, "range"), commits, commits == 1 ? "" : "s", events,
	       events == 1 ? "" : "s", valid ? "valid" : "refused");
}

int cmd_check(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	mreg_registry *reg = NULL;
	cJSON *report = NULL;
	mreg_check_opts o = MREG_CHECK_OPTS_INIT;
	int rc;
	if ((rc = cli_parse(&a, "check", argc, argv)))
		return rc;
	if (a.npositional > 2)
		return cli_usage(a.cmd, "check takes BASE..HEAD, or OLD NEW");
	if (a.npositional == 2) {
		o.old_id = a.positional[0];
		o.new_id = a.positional[1];
	} else if (a.npositional == 1) {
		o.range = a.positional[0];
	}
	if ((rc = mreg_registry_open_git(&reg, g->dir)) < 0)
		return cli_fail(rc);
	rc = mreg_check(&report, reg, &o);
	if (rc < 0 && !report) {
		rc = cli_fail(rc);
		goto done;
	}
	if (g->json)
		cli_print_value(report);
	else
		print_words(report);
	print_problems(report);
	rc = rc < 0 ? 1 : 0;
done:
	cJSON_Delete(report);
	mreg_registry_free(reg);
	return rc;
}

/* ---- hooks ---------------------------------------------------------------- */

const cli_opt opts_hooks[] = {
	{ "server", 0, false, "         install the central repository's hooks (pre-receive, post-receive)" },
	{ "force", 0, false, "          replace hooks of other content already there" },
	{ NULL, 0, false, NULL }
};

int cmd_hooks(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	mreg_registry *reg = NULL;
	cJSON *out = NULL;
	int rc;
	if ((rc = cli_parse(&a, "hooks", argc, argv)))
		return rc;
	const char *sub = a.npositional ? a.positional[0] : "";
	bool install = !strcmp(sub, "install"), status = !strcmp(sub, "status");
	if (!install && !status)
		return cli_usage(a.cmd, a.npositional ? "unknown hooks subcommand '%s'" : "hooks needs install or status", sub);
	if (a.npositional != 1)
		return cli_usage(a.cmd, "hooks %s takes no arguments", sub);
	if (status && (cli_has(&a, "server") || cli_has(&a, "force")))
		return cli_usage(a.cmd, "--server and --force go with hooks install");
	if ((rc = mreg_registry_open_git(&reg, g->dir)) < 0)
		return cli_fail(rc);
	rc = install ? mreg_hooks_install(&out, reg, mreg_hook_texts, cli_has(&a, "server"), cli_has(&a, "force"))
		     : mreg_hooks_status(&out, reg, mreg_hook_texts);
	if (rc < 0) {
		rc = cli_fail(rc);
	} else if (g->json) {
		cli_print_value(out);
	} else {
		const cJSON *h;
		cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(out, "hooks")) {
			if (install)
				printf("%-14s %s (%s)\n", cli_str(h, "name"), cli_str(h, "action"), cli_str(h, "path"));
			else
				printf("%-14s %s%s\n", cli_str(h, "name"), cli_str(h, "state"),
				       !strcmp(cli_str(h, "state"), "missing") || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(h, "executable"))
					       ? ""
					       : " (not executable)");
		}
		if (status)
			printf("mreg.program: %s\n", *cli_str(out, "program") ? cli_str(out, "program") : "(not set: mreg on PATH)");
	}
	cJSON_Delete(out);
	mreg_registry_free(reg);
	return rc;
}

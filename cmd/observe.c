/*
 * mreg metrics: the registry as Prometheus metrics, on stdout or into a
 * file for node_exporter's textfile collector.
 */
#include "cli.h"

#include <stdio.h>

const cli_opt opts_prom[] = {
	{ "textfile", 0, true, "PATH  write them to PATH atomically (node_exporter's textfile collector reads *.prom)" },
	{ NULL, 0, false, NULL }
};

int cmd_metrics(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	mreg_registry *reg = NULL;
	mreg_buf b = MREG_BUF_INIT;
	int rc;
	if ((rc = cli_open_noargs(&reg, &a, g, "metrics", argc, argv)))
		return rc;
	const char *path = cli_get(&a, "textfile");
	if (path)
		rc = mreg_metrics_textfile(reg, path);
	else if ((rc = mreg_metrics_text(&b, reg)) == 0)
		fwrite(b.ptr, 1, b.size, stdout);
	if (rc < 0)
		rc = cli_fail(rc);
	mreg_buf_dispose(&b);
	mreg_registry_free(reg);
	return rc;
}

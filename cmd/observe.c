/*
 * mreg metrics: the registry as Prometheus metrics, on stdout or into a
 * file for node_exporter's textfile collector. mreg watch: that file and
 * the state files kept current as the registry changes (fsstore/watch.c),
 * and a command run once per new event.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

/* ---- watch ------------------------------------------------------------------ */


const cli_opt opts_watch[] = {
	{ "textfile", 0, true, "PATH  keep the metrics current in PATH (node_exporter's textfile collector)" },
	{ "exec", 0, true, "CMD  run CMD (with /bin/sh) once per new event: its JSON on stdin, MREG_EVENT_* in the environment" },
	{ NULL, 0, false, NULL }
};

static volatile sig_atomic_t watch_stop;

static void on_stop(int sig)
{
	watch_stop = sig;
}

typedef struct {
	const char *cmd;
	const char *registry;
} exec_ctx;

/* CMD for one event: its bytes on stdin, what it is in the environment; 0 when it exits 0. */
static int run_for_event(const mreg_event *ev, void *payload)
{
	exec_ctx *x = payload;
	mreg_buf bytes = MREG_BUF_INIT;
	int in[2], status = 0;
	/* serializing sets the id the bytes hash to: the one the event has */
	if (mreg_event_serialize(&bytes, (mreg_event *)ev) < 0 || pipe(in) < 0) {
		fprintf(stderr, "mreg: watch: cannot prepare event %s: %s\n", ev->id, mreg_error_last());
		mreg_error_clear();
		mreg_buf_dispose(&bytes);
		return 1;
	}
	char version[16], clock[24];
	snprintf(version, sizeof(version), "%d", ev->version);
	snprintf(clock, sizeof(clock), "%lld", (long long)ev->clock);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		close(in[0]);
		close(in[1]);
		setenv("MREG_EVENT_ID", ev->id, 1);
		setenv("MREG_EVENT_TYPE", mreg_event_type_name(ev->type), 1);
		setenv("MREG_EVENT_CLOCK", clock, 1);
		setenv("MREG_MODEL", ev->model, 1);
		setenv("MREG_VERSION", version, 1);
		setenv("MREG_ACTOR", ev->actor, 1);
		setenv("MREG_REGISTRY", x->registry, 1);
		execl("/bin/sh", "sh", "-c", x->cmd, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	signal(SIGPIPE, SIG_IGN);
	if (pid > 0 && write(in[1], bytes.ptr, bytes.size) < 0)
		(void)0;	/* it need not read it all */
	close(in[1]);
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	mreg_buf_dispose(&bytes);
	if (pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	fprintf(stderr, "mreg: watch: '%s' failed for event %s (%s %d); tried again later\n", x->cmd, ev->id,
		pid < 0 ? "fork" : WIFEXITED(status) ? "exit" : "signal",
		pid < 0 ? errno : WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	return 1;
}

/* One round: state files up to HEAD, the textfile, the new events delivered; 1 when a delivery failed. */
static int watch_round(const char *dir, const char *textfile, exec_ctx *x)
{
	mreg_registry *reg = NULL;
	int rc = mreg_registry_open(&reg, dir);
	if (rc == 0)
		rc = mreg_registry_refresh(reg, false, NULL);
	if (rc == 0 && textfile)
		rc = mreg_metrics_textfile(reg, textfile);
	if (rc == 0 && x->cmd)
		rc = mreg_watch_deliver(reg, run_for_event, x);
	if (rc < 0) {
		fprintf(stderr, "mreg: watch: %s\n", mreg_error_last());
		mreg_error_clear();
	}
	mreg_registry_free(reg);
	return rc;
}

int cmd_watch(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	mreg_registry *reg = NULL;
	mreg_watch *w = NULL;
	int rc;
	if ((rc = cli_open_noargs(&reg, &a, g, "watch", argc, argv)))
		return rc;
	const char *textfile = cli_get(&a, "textfile");
	exec_ctx x = { cli_get(&a, "exec"), mreg_registry_path(reg) };
	if (!textfile && !x.cmd) {
		mreg_registry_free(reg);
		return cli_usage(a.cmd, "watch needs --textfile or --exec (or both)");
	}
	if ((rc = mreg_watch_open(&w, reg)) < 0) {
		mreg_registry_free(reg);
		return cli_fail(rc);
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", mreg_registry_path(reg));
	int backoff = 0;
	time_t retry_at = 0, last_round = 0;
	bool pending = true;
	while (!watch_stop) {
		time_t now = time(NULL);
		if (pending && now >= retry_at) {
			int r = watch_round(dir, textfile, &x);
			pending = r != 0;	/* a failed delivery or an error: again, after a while */
			backoff = pending ? (backoff ? (backoff * 2 > 60 ? 60 : backoff * 2) : 1) : 0;
			retry_at = now + backoff;
			last_round = now;
		}
		int c = mreg_watch_wait(w, 1000);
		if (c < 0) {
			fprintf(stderr, "mreg: watch: %s\n", mreg_error_last());
			mreg_error_clear();
			sleep(1);
		}
		/* a change, or every 10 s what moves without one (sync records, backups) */
		if (c > 0 || time(NULL) - last_round >= 10)
			pending = true;
	}
	fprintf(stderr, "mreg: watch: stopped by %s\n", watch_stop == SIGTERM ? "SIGTERM" : "SIGINT");
	mreg_watch_free(w);
	mreg_registry_free(reg);
	return 0;
}

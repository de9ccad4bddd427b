/*
 * bench_lib: the timing half of `make bench` (tests/bench/bench.sh is the
 * other half, which only orders the steps and measures nothing itself).
 *
 * Every number is taken here with clock_gettime(CLOCK_MONOTONIC): library
 * calls around the call, commands (mreg, stock git, /bin/true) around
 * posix_spawn + waitpid, so a CLI figure is exactly one process's life and
 * nothing of the shell. Each step prints its own report and appends
 * "key value" lines to $BENCH_RESULTS; `bench_lib summary` reads them back
 * and sets the numbers against the targets. Nothing here fails on time: a
 * nonzero exit means a command failed or a registry came out wrong.
 *
 * Workload W1 (the original's benchmark): 10 model ids x 100 versions of a
 * 4 KiB model file with all eight metrics and two tags; 10 versions per id
 * promoted to staging and then to production (200 promotions); 7 list
 * queries and a show of every version (of every fifth through the CLI). The
 * model files differ from version to version in a few numbers, as
 * checkpoints of one training run would. The 100k registry is written with
 * mreg_append_events in 10 batches: 100 models, each with 250 versions and
 * 750 follow-up events (metrics, tags, promotions, rejections).
 *
 *   bench_lib gen FILES                       the W1 model files
 *   bench_lib spawn KEY N PROG [ARG...]       median start-to-exit of a command
 *   bench_lib lib REG FILES [same]            W1 through the library, one process
 *   bench_lib cli MREG REG FILES              W1 through the CLI, one process per op
 *   bench_lib naive GITDIR FILES              W1's writes as files + git add + git commit
 *   bench_lib reads MREG REG KEY N REF        show REF and list --stage production
 *   bench_lib build100k REG [MODELS]          the 100,000-event registry (1,000 events per model:
 *                                             MODELS 1000 makes a million)
 *   bench_lib refresh MREG REG NF NM REF      refresh --full; first read after HEAD moved
 *   bench_lib onewrites MREG REG KEY N MODEL FILE [LIB_N]
 *                                             one-event writes, N of each: register, promote,
 *                                             tag, update-metrics through the CLI, then tag and
 *                                             update-metrics through the C API in one process
 *                                             (LIB_N of each, N when not given)
 *   bench_lib du KEY DIR [EVENTS|-] [MINUS]   bytes of DIR/.git/objects per event
 *   bench_lib time KEY PROG [ARG...]          one command, once (git gc, git repack)
 *   bench_lib summary                         targets and the original's numbers
 */
#define _GNU_SOURCE
#include "../../fsstore/store.h"
#include "../../fsstore/mreg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define W1_MODELS 10
#define W1_VERSIONS 100
#define W1_PROMOTE_EVERY 10	/* versions 10, 20, ..., 100 go to staging, then production */
#define MODEL_BYTES 4096
#define WEIGHTS 380		/* numbers in a model file, 10 bytes each */

#define BIG_MODELS 100
#define BIG_VERSIONS 250
#define BIG_BATCHES 10
#define BIG_ARTIFACTS 8

/* ---- small helpers ---------------------------------------------------- */

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fprintf(stderr, "bench_lib: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static void die_mreg(const char *what, int rc)
{
	die("%s failed (%d): %s", what, rc, mreg_error_last());
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		die("out of memory");
	return p;
}

static char *xstrfmt(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		die("out of memory");
	return s;
}

static void mkdirs(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);
	if (n >= sizeof(buf))
		die("path too long: %s", path);
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] == '/' || buf[i] == '\0') {
			char c = buf[i];
			buf[i] = '\0';
			if (mkdir(buf, 0755) < 0 && errno != EEXIST)
				die("cannot create %s: %s", buf, strerror(errno));
			buf[i] = c;
		}
	}
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd) < 0)
		die("cannot write %s: %s", path, strerror(errno));
}

static size_t read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("cannot read %s: %s", path, strerror(errno));
	ssize_t n = read(fd, buf, cap);
	close(fd);
	if (n < 0)
		die("cannot read %s: %s", path, strerror(errno));
	return (size_t)n;
}

/* ---- results file ------------------------------------------------------ */

static void record(const char *key, double value)
{
	const char *path = getenv("BENCH_RESULTS");
	if (!path || !*path)
		return;
	FILE *f = fopen(path, "a");
	if (!f)
		die("cannot append to %s: %s", path, strerror(errno));
	fprintf(f, "%s %.6f\n", key, value);
	fclose(f);
}

/* ---- series of timings -------------------------------------------------- */

typedef struct {
	const char *name;
	double *v;
	size_t n, a;
	double total;
} series;

static void series_add(series *s, double ms)
{
	if (s->n == s->a) {
		s->a = s->a ? s->a * 2 : 256;
		s->v = realloc(s->v, s->a * sizeof(*s->v));
		if (!s->v)
			die("out of memory");
	}
	s->v[s->n++] = ms;
	s->total += ms;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Sorts the samples: call after the last series_add. */
static double series_q(series *s, double q)
{
	if (!s->n)
		return 0;
	qsort(s->v, s->n, sizeof(*s->v), cmp_double);
	if (q == 0.5)
		return s->n % 2 ? s->v[s->n / 2] : (s->v[s->n / 2 - 1] + s->v[s->n / 2]) / 2;
	size_t i = (size_t)ceil(q * (double)s->n);
	return s->v[i ? i - 1 : 0];
}

static void series_header(void)
{
	printf("  %-34s %6s %10s %10s %10s %11s\n", "phase", "n", "median", "p90", "max", "total");
}

/* Print one row and record <prefix>.<key>.{median,p90,max,total,n}. */
static void series_report(series *s, const char *prefix, const char *key)
{
	double med = series_q(s, 0.5), p90 = series_q(s, 0.9), max = s->n ? s->v[s->n - 1] : 0;
	printf("  %-34s %6zu %7.2f ms %7.2f ms %7.2f ms %9.3f s\n", s->name, s->n, med, p90, max, s->total / 1e3);
	char k[256];
	snprintf(k, sizeof(k), "%s.%s.median", prefix, key);
	record(k, med);
	snprintf(k, sizeof(k), "%s.%s.p90", prefix, key);
	record(k, p90);
	snprintf(k, sizeof(k), "%s.%s.total", prefix, key);
	record(k, s->total);
	snprintf(k, sizeof(k), "%s.%s.n", prefix, key);
	record(k, (double)s->n);
}

static void series_dispose(series *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->a = 0;
	s->total = 0;
}

/* ---- spawning a command, timed ------------------------------------------ */

static int devnull_fd = -1, err_fd = -1;

static void spawn_setup(void)
{
	if (devnull_fd >= 0)
		return;
	devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	char tmpl[] = "/tmp/mreg-bench-stderr.XXXXXX";
	err_fd = mkostemp(tmpl, O_CLOEXEC);
	if (devnull_fd < 0 || err_fd < 0)
		die("cannot open /dev/null or a stderr file: %s", strerror(errno));
	unlink(tmpl);
}

static void print_child_stderr(void)
{
	char buf[2048];
	lseek(err_fd, 0, SEEK_SET);
	ssize_t n = read(err_fd, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		fprintf(stderr, "%s", buf);
	}
}

/*
 * Run argv[0] (an absolute path) with stdin and stdout on /dev/null (or
 * stdout into out_fd) and stderr kept aside; returns the milliseconds from
 * posix_spawn to waitpid, and dies if the command fails.
 */
static double run_timed_fd(char *const argv[], int out_fd)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status;

	spawn_setup();
	if (ftruncate(err_fd, 0) < 0 || lseek(err_fd, 0, SEEK_SET) < 0)
		die("cannot reset the stderr file: %s", strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, devnull_fd, 0);
	posix_spawn_file_actions_adddup2(&fa, out_fd >= 0 ? out_fd : devnull_fd, 1);
	posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
	double t0 = now_ms();
	int err = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	if (err)
		die("cannot run %s: %s", argv[0], strerror(err));
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid: %s", strerror(errno));
	double t1 = now_ms();
	posix_spawn_file_actions_destroy(&fa);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fflush(stdout);
		fprintf(stderr, "bench_lib: command failed (%s %d):", WIFEXITED(status) ? "exit" : "signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		for (int i = 0; argv[i]; i++)
			fprintf(stderr, " %s", argv[i]);
		fprintf(stderr, "\n");
		print_child_stderr();
		exit(1);
	}
	return t1 - t0;
}

static double run_timed(char *const argv[])
{
	return run_timed_fd(argv, -1);
}

/* The absolute path of a program on $PATH, looked up once. */
static char *which(const char *prog)
{
	if (strchr(prog, '/'))
		return xstrfmt("%s", prog);
	const char *path = getenv("PATH");
	char *copy = xstrfmt("%s", path ? path : "/usr/bin:/bin");
	for (char *dir = strtok(copy, ":"); dir; dir = strtok(NULL, ":")) {
		char *full = xstrfmt("%s/%s", dir, prog);
		if (access(full, X_OK) == 0) {
			free(copy);
			return full;
		}
		free(full);
	}
	die("%s is not on PATH", prog);
	return NULL;
}

/* An argv under construction: strings copied into one arena. */
typedef struct {
	char *argv[64];
	int n;
	char arena[8192];
	size_t used;
} args;

static void args_add(args *a, const char *fmt, ...)
{
	va_list ap;
	if (a->n >= 63)
		die("too many arguments");
	va_start(ap, fmt);
	int len = vsnprintf(a->arena + a->used, sizeof(a->arena) - a->used, fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(a->arena) - a->used)
		die("arguments too long");
	a->argv[a->n++] = a->arena + a->used;
	a->argv[a->n] = NULL;
	a->used += (size_t)len + 1;
}

/* ---- the W1 workload: names, files, metrics ----------------------------- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/*
 * A 4 KiB JSON-ish weights file: the model's own 380 numbers, with eight of
 * them (different ones each version) nudged by training, and the version and
 * step in the header. Exactly MODEL_BYTES long.
 */
static void model_file_text(char out[MODEL_BYTES + 1], int m, int v)
{
	double w[WEIGHTS];
	uint64_t s = 0x9E3779B97F4A7C15ull * (uint64_t)(m + 1) + 12345;
	for (int i = 0; i < WEIGHTS; i++)
		w[i] = (double)(rng_next(&s) % 1999999) / 1e6 - 0.999999;
	for (int k = 0; v > 0 && k < 8; k++) {
		int idx = (v * 53 + k * 97) % WEIGHTS;
		w[idx] = fmod(w[idx] + 0.0137 * (k + 1) + 0.001 * v, 1.0);
	}
	size_t n = (size_t)snprintf(out, MODEL_BYTES + 1,
				    "{\"format\":\"bench-weights/1\",\"model\":\"model_%02d\",\"version\":%d,"
				    "\"step\":%d,\"arch\":\"resnet10x128\",\"w\":[",
				    m, v, v * 1000);
	for (int i = 0; i < WEIGHTS; i++)
		n += (size_t)snprintf(out + n, MODEL_BYTES + 1 - n, "%+.6f%s", w[i], i + 1 < WEIGHTS ? "," : "");
	const char *tail = "],\"pad\":\"";
	memcpy(out + n, tail, strlen(tail));
	n += strlen(tail);
	while (n < MODEL_BYTES - 3)
		out[n++] = ' ';
	memcpy(out + n, "\"}\n", 3);
	out[MODEL_BYTES] = '\0';
}

static void model_id(char out[32], int m)
{
	snprintf(out, 32, "model_%02d", m);
}

static char *model_path(const char *files, int m, int v)
{
	return v ? xstrfmt("%s/model_%02d/v%03d.json", files, m, v) : xstrfmt("%s/same.json", files);
}

static void w1_metrics(double out[MREG_METRIC_COUNT], int m, int v)
{
	out[MREG_METRIC_ELO] = 1200.5 + 8 * v + 15 * m;
	out[MREG_METRIC_ELO_UNCERTAINTY] = round(6000.0 / (1 + 0.01 * v)) / 100;
	out[MREG_METRIC_WIN_RATE] = 0.4 + 0.002 * v;
	out[MREG_METRIC_DRAW_RATE] = 0.1 + 0.0005 * m;
	out[MREG_METRIC_GAMES_PLAYED] = 100 + 10 * v;
	out[MREG_METRIC_AVG_MOVE_TIME_MS] = 85.5 + m;
	out[MREG_METRIC_POLICY_ACCURACY] = 0.3 + 0.002 * v;
	out[MREG_METRIC_VALUE_MSE] = round(25000.0 / (1 + 0.01 * v)) / 1e5;
}

static void w1_tags(char t1[32], char t2[32], int v)
{
	snprintf(t1, 32, "gen-%d", v / 10);
	snprintf(t2, 32, "selfplay");
}

static int cmd_gen(int argc, char **argv)
{
	if (argc != 3)
		die("usage: bench_lib gen FILES");
	char text[MODEL_BYTES + 1];
	for (int m = 0; m < W1_MODELS; m++) {
		char *dir = xstrfmt("%s/model_%02d", argv[2], m);
		mkdirs(dir);
		free(dir);
		for (int v = 1; v <= W1_VERSIONS; v++) {
			char *p = model_path(argv[2], m, v);
			model_file_text(text, m, v);
			write_file(p, text, MODEL_BYTES);
			free(p);
		}
	}
	char *p = model_path(argv[2], 0, 0);
	model_file_text(text, 0, 0);
	write_file(p, text, MODEL_BYTES);
	free(p);
	printf("  %d model files of %d bytes (and one shared file) in %s\n", W1_MODELS * W1_VERSIONS, MODEL_BYTES,
	       argv[2]);
	return 0;
}

/* The seven list queries of the original's benchmark. */
typedef struct {
	const char *label;
	mreg_stage stage;
	const char *model;
	const char *tag;
	bool by_type;
} list_query;

static const list_query w1_lists[7] = {
	{ "list", MREG_STAGE_NONE, NULL, NULL, false },
	{ "list --stage production", MREG_STAGE_PRODUCTION, NULL, NULL, false },
	{ "list --stage staging", MREG_STAGE_STAGING, NULL, NULL, false },
	{ "list --stage archived", MREG_STAGE_ARCHIVED, NULL, NULL, false },
	{ "list --model model_03", MREG_STAGE_NONE, "model_03", NULL, false },
	{ "list --tag gen-5", MREG_STAGE_NONE, NULL, "gen-5", false },
	{ "list --type policy_value", MREG_STAGE_NONE, NULL, NULL, true },
};

/* ---- (a) W1 through the library, in one process ------------------------- */

static void lib_show(mreg_registry *reg, const char *model, int version)
{
	mreg_state *st = NULL;
	mreg_model *m;
	mreg_version *v;
	mreg_ref ref;
	int rc;
	memset(&ref, 0, sizeof(ref));
	snprintf(ref.model, sizeof(ref.model), "%s", model);
	ref.version = version;
	if ((rc = mreg_read_state(&st, reg, model, false)) < 0 || (rc = mreg_query_version(&m, &v, st, &ref)) < 0)
		die_mreg("show", rc);
	mreg_state_free(st);
}

/* As `mreg list`: production rows come from the summary, the rest need every model. */
static size_t lib_list(mreg_registry *reg, const list_query *q)
{
	mreg_state *st = NULL;
	mreg_row *rows = NULL;
	size_t n = 0;
	int rc;
	bool prod_only = q->stage == MREG_STAGE_PRODUCTION;
	if ((rc = mreg_read_state(&st, reg, q->model, !prod_only && !q->model)) < 0)
		die_mreg("list", rc);
	if (prod_only) {
		for (size_t i = 0; i < st->nmodels; i++)
			n += st->models[i]->prod != NULL;
	} else {
		mreg_filter f = MREG_FILTER_INIT;
		f.stage = q->stage;
		f.model = q->model;
		f.tag = q->tag;
		if (q->by_type)
			f.type = MREG_TYPE_POLICY_VALUE;
		if ((rc = mreg_query_list(&rows, &n, st, &f)) < 0)
			die_mreg("list", rc);
	}
	free(rows);
	mreg_state_free(st);
	return n;
}

/* The fold of a W1 registry must be exactly what W1 wrote. */
static void check_state(mreg_registry *reg, int64_t events, int64_t versions, int64_t prod)
{
	mreg_state *st = NULL;
	int rc;
	if ((rc = mreg_read_state(&st, reg, NULL, false)) < 0)
		die_mreg("reading the state", rc);
	if (st->nevents != events || st->nversions != versions || st->stage_count[MREG_STAGE_PRODUCTION] != prod ||
	    st->nconflicts != 0)
		die("registry %s is wrong: %lld events (want %lld), %lld versions (want %lld), %lld in production "
		    "(want %lld), %zu conflicts",
		    mreg_registry_path(reg), (long long)st->nevents, (long long)events, (long long)st->nversions,
		    (long long)versions, (long long)st->stage_count[MREG_STAGE_PRODUCTION], (long long)prod,
		    st->nconflicts);
	mreg_state_free(st);
}

static int cmd_lib(int argc, char **argv)
{
	if (argc < 4 || argc > 5 || (argc == 5 && strcmp(argv[4], "same")))
		die("usage: bench_lib lib REG FILES [same]");
	const char *dir = argv[2], *files = argv[3];
	bool same = argc == 5;
	const char *prefix = same ? "libsame" : "lib";
	mreg_registry *reg = NULL;
	series reg_s = { "register (4 KiB, 8 metrics, 2 tags)", NULL, 0, 0, 0 };
	series stg_s = { "promote -> staging", NULL, 0, 0, 0 };
	series prd_s = { "promote -> production", NULL, 0, 0, 0 };
	series pro_s = { "promote (both)", NULL, 0, 0, 0 };
	series lst_s = { "7 list queries", NULL, 0, 0, 0 };
	series shw_s = { "show (get) x 1000", NULL, 0, 0, 0 };
	int rc;

	if ((rc = mreg_registry_init(dir)) < 0 || (rc = mreg_registry_open(&reg, dir)) < 0)
		die_mreg("init", rc);
	for (int v = 1; v <= W1_VERSIONS; v++) {
		for (int m = 0; m < W1_MODELS; m++) {
			char id[32], name[64], t1[32], t2[32];
			double mv[MREG_METRIC_COUNT];
			const char *tags[2] = { t1, t2 };
			mreg_register_opts o = MREG_REGISTER_OPTS_INIT;
			char *file = model_path(files, m, same ? 0 : v);
			model_id(id, m);
			snprintf(name, sizeof(name), "Model %02d", m);
			w1_metrics(mv, m, v);
			w1_tags(t1, t2, v);
			o.name = name;
			o.file = file;
			o.id = id;
			o.description = "W1 benchmark model";
			for (int i = 0; i < MREG_METRIC_COUNT; i++)
				o.metrics.v[i] = mv[i];
			o.metrics.present = (1u << MREG_METRIC_COUNT) - 1;
			o.tags = tags;
			o.ntags = 2;
			char got[MREG_ID_MAX + 1];
			int ver = 0;
			double t0 = now_ms();
			rc = mreg_register(got, &ver, reg, &o);
			double t1v = now_ms();
			if (rc < 0)
				die_mreg("register", rc);
			if (ver != v)
				die("register %s gave version %d, want %d", id, ver, v);
			series_add(&reg_s, t1v - t0);
			free(file);
		}
	}
	for (int m = 0; m < W1_MODELS; m++) {
		for (int v = W1_PROMOTE_EVERY; v <= W1_VERSIONS; v += W1_PROMOTE_EVERY) {
			mreg_ref ref;
			memset(&ref, 0, sizeof(ref));
			model_id(ref.model, m);
			ref.version = v;
			double t0 = now_ms();
			if ((rc = mreg_promote(reg, &ref, MREG_STAGE_STAGING, "passed evaluation")) < 0)
				die_mreg("promote to staging", rc);
			double t1 = now_ms();
			if ((rc = mreg_promote(reg, &ref, MREG_STAGE_PRODUCTION, "gauntlet won")) < 0)
				die_mreg("promote to production", rc);
			double t2 = now_ms();
			series_add(&stg_s, t1 - t0);
			series_add(&prd_s, t2 - t1);
			series_add(&pro_s, t1 - t0);
			series_add(&pro_s, t2 - t1);
		}
	}
	for (int i = 0; i < 7; i++) {
		double t0 = now_ms();
		size_t n = lib_list(reg, &w1_lists[i]);
		series_add(&lst_s, now_ms() - t0);
		if (i == 1 && n != W1_MODELS)
			die("list --stage production gave %zu rows, want %d", n, W1_MODELS);
	}
	for (int v = 1; v <= W1_VERSIONS; v++) {
		for (int m = 0; m < W1_MODELS; m++) {
			char id[32];
			model_id(id, m);
			double t0 = now_ms();
			lib_show(reg, id, v);
			series_add(&shw_s, now_ms() - t0);
		}
	}
	check_state(reg, W1_MODELS * W1_VERSIONS + 2 * W1_MODELS * (W1_VERSIONS / W1_PROMOTE_EVERY),
		    W1_MODELS * W1_VERSIONS, W1_MODELS);
	series_header();
	series_report(&reg_s, prefix, "register");
	series_report(&stg_s, prefix, "promote_staging");
	series_report(&prd_s, prefix, "promote_production");
	series_report(&pro_s, prefix, "promote");
	series_report(&lst_s, prefix, "list");
	series_report(&shw_s, prefix, "show");
	printf("  in-process totals: register x1000 %.2f s, 200 promotions %.2f s, 7 lists %.3f s, get x1000 %.3f s\n",
	       reg_s.total / 1e3, pro_s.total / 1e3, lst_s.total / 1e3, shw_s.total / 1e3);
	series_dispose(&reg_s);
	series_dispose(&stg_s);
	series_dispose(&prd_s);
	series_dispose(&pro_s);
	series_dispose(&lst_s);
	series_dispose(&shw_s);
	mreg_registry_free(reg);
	return 0;
}

/* ---- (b) W1 through the CLI, one process per operation ------------------ */

static void cli_list_args(args *a, const char *mreg, const char *dir, const list_query *q)
{
	a->n = 0;
	a->used = 0;
	args_add(a, "%s", mreg);
	args_add(a, "-C");
	args_add(a, "%s", dir);
	args_add(a, "list");
	if (q->stage != MREG_STAGE_NONE) {
		args_add(a, "--stage");
		args_add(a, "%s", mreg_stage_name(q->stage));
	}
	if (q->model) {
		args_add(a, "--model");
		args_add(a, "%s", q->model);
	}
	if (q->tag) {
		args_add(a, "--tag");
		args_add(a, "%s", q->tag);
	}
	if (q->by_type) {
		args_add(a, "--type");
		args_add(a, "policy_value");
	}
}

static void cli_show_args(args *a, const char *mreg, const char *dir, const char *ref)
{
	a->n = 0;
	a->used = 0;
	args_add(a, "%s", mreg);
	args_add(a, "-C");
	args_add(a, "%s", dir);
	args_add(a, "show");
	args_add(a, "%s", ref);
}

static int cmd_cli(int argc, char **argv)
{
	if (argc != 5)
		die("usage: bench_lib cli MREG REG FILES");
	const char *mreg = argv[2], *dir = argv[3], *files = argv[4];
	series reg_s = { "register (4 KiB, 8 metrics, 2 tags)", NULL, 0, 0, 0 };
	series stg_s = { "promote -> staging", NULL, 0, 0, 0 };
	series prd_s = { "promote -> production", NULL, 0, 0, 0 };
	series pro_s = { "promote (both)", NULL, 0, 0, 0 };
	series lst_s = { "7 list queries", NULL, 0, 0, 0 };
	series shw_s = { "show (get) x 200, every 5th version", NULL, 0, 0, 0 };
	args a = { { NULL }, 0, { 0 }, 0 };

	args_add(&a, "%s", mreg);
	args_add(&a, "-C");
	args_add(&a, "%s", dir);
	args_add(&a, "init");
	run_timed(a.argv);
	for (int v = 1; v <= W1_VERSIONS; v++) {
		for (int m = 0; m < W1_MODELS; m++) {
			char id[32], t1[32], t2[32];
			double mv[MREG_METRIC_COUNT];
			char *file = model_path(files, m, v);
			model_id(id, m);
			w1_metrics(mv, m, v);
			w1_tags(t1, t2, v);
			a.n = 0;
			a.used = 0;
			args_add(&a, "%s", mreg);
			args_add(&a, "-C");
			args_add(&a, "%s", dir);
			args_add(&a, "register");
			args_add(&a, "Model %02d", m);
			args_add(&a, "%s", file);
			args_add(&a, "--id");
			args_add(&a, "%s", id);
			args_add(&a, "-d");
			args_add(&a, "W1 benchmark model");
			for (int i = 0; i < MREG_METRIC_COUNT; i++) {
				args_add(&a, "-m");
				args_add(&a, "%s=%.10g", mreg_metric_name((mreg_metric)i), mv[i]);
			}
			args_add(&a, "--tag");
			args_add(&a, "%s", t1);
			args_add(&a, "--tag");
			args_add(&a, "%s", t2);
			series_add(&reg_s, run_timed(a.argv));
			free(file);
		}
	}
	for (int m = 0; m < W1_MODELS; m++) {
		for (int v = W1_PROMOTE_EVERY; v <= W1_VERSIONS; v += W1_PROMOTE_EVERY) {
			for (int k = 0; k < 2; k++) {
				a.n = 0;
				a.used = 0;
				args_add(&a, "%s", mreg);
				args_add(&a, "-C");
				args_add(&a, "%s", dir);
				args_add(&a, "promote");
				args_add(&a, "model_%02d:%d", m, v);
				args_add(&a, "--to");
				args_add(&a, k ? "production" : "staging");
				args_add(&a, "-r");
				args_add(&a, k ? "gauntlet won" : "passed evaluation");
				double ms = run_timed(a.argv);
				series_add(k ? &prd_s : &stg_s, ms);
				series_add(&pro_s, ms);
			}
		}
	}
	for (int i = 0; i < 7; i++) {
		cli_list_args(&a, mreg, dir, &w1_lists[i]);
		series_add(&lst_s, run_timed(a.argv));
	}
	for (int v = 5; v <= W1_VERSIONS; v += 5) {
		for (int m = 0; m < W1_MODELS; m++) {
			char ref[48];
			snprintf(ref, sizeof(ref), "model_%02d:%d", m, v);
			cli_show_args(&a, mreg, dir, ref);
			series_add(&shw_s, run_timed(a.argv));
		}
	}
	mreg_registry *reg = NULL;
	int rc;
	if ((rc = mreg_registry_open(&reg, dir)) < 0)
		die_mreg("open", rc);
	check_state(reg, W1_MODELS * W1_VERSIONS + 2 * W1_MODELS * (W1_VERSIONS / W1_PROMOTE_EVERY),
		    W1_MODELS * W1_VERSIONS, W1_MODELS);
	mreg_registry_free(reg);
	series_header();
	series_report(&reg_s, "cli", "register");
	series_report(&stg_s, "cli", "promote_staging");
	series_report(&prd_s, "cli", "promote_production");
	series_report(&pro_s, "cli", "promote");
	series_report(&lst_s, "cli", "list");
	series_report(&shw_s, "cli", "show");
	printf("  CLI totals: register x1000 %.2f s, 200 promotions %.2f s, 7 lists %.3f s, get x200 %.3f s\n",
	       reg_s.total / 1e3, pro_s.total / 1e3, lst_s.total / 1e3, shw_s.total / 1e3);
	series_dispose(&reg_s);
	series_dispose(&stg_s);
	series_dispose(&prd_s);
	series_dispose(&pro_s);
	series_dispose(&lst_s);
	series_dispose(&shw_s);
	return 0;
}

/* ---- (c) the naive alternative: files + git add + git commit ------------ */

static void naive_metadata(char *out, size_t cap, int m, int v, const char *stage, const char *history)
{
	double mv[MREG_METRIC_COUNT];
	char t1[32], t2[32];
	w1_metrics(mv, m, v);
	w1_tags(t1, t2, v);
	snprintf(out, cap,
		 "{\n  \"model_id\": \"model_%02d\",\n  \"version\": %d,\n  \"name\": \"Model %02d\",\n"
		 "  \"model_type\": \"policy_value\",\n  \"description\": \"W1 benchmark model\",\n"
		 "  \"stage\": \"%s\",\n  \"file_path\": \"models/model_%02d/v%d/model.json\",\n"
		 "  \"file_size\": %d,\n  \"metrics\": {\n    \"elo\": %.10g,\n    \"elo_uncertainty\": %.10g,\n"
		 "    \"win_rate\": %.10g,\n    \"draw_rate\": %.10g,\n    \"games_played\": %.10g,\n"
		 "    \"avg_move_time_ms\": %.10g,\n    \"policy_accuracy\": %.10g,\n    \"value_mse\": %.10g\n  },\n"
		 "  \"tags\": [\"%s\", \"%s\"],\n  \"stage_history\": [%s]\n}\n",
		 m, v, m, stage, m, v, MODEL_BYTES, mv[0], mv[1], mv[2], mv[3], mv[4], mv[5], mv[6], mv[7], t1, t2,
		 history);
}

static int cmd_naive(int argc, char **argv)
{
	if (argc != 4)
		die("usage: bench_lib naive GITDIR FILES");
	const char *dir = argv[2], *files = argv[3];
	char *git = which("git");
	series reg_s = { "register: write 2 files, add, commit", NULL, 0, 0, 0 };
	series add_s = { "  of which git add", NULL, 0, 0, 0 };
	series com_s = { "  of which git commit", NULL, 0, 0, 0 };
	series pro_s = { "promote: rewrite, add, commit", NULL, 0, 0, 0 };
	args a = { { NULL }, 0, { 0 }, 0 };
	char meta[4096], text[MODEL_BYTES + 1];

	args_add(&a, "%s", git);
	args_add(&a, "init");
	args_add(&a, "-q");
	args_add(&a, "%s", dir);
	run_timed(a.argv);
	for (int v = 1; v <= W1_VERSIONS; v++) {
		for (int m = 0; m < W1_MODELS; m++) {
			char *src = model_path(files, m, v);
			char *vdir = xstrfmt("%s/models/model_%02d/v%d", dir, m, v);
			char *mpath = xstrfmt("%s/metadata.json", vdir), *fpath = xstrfmt("%s/model.json", vdir);
			double t0 = now_ms();
			mkdirs(vdir);
			naive_metadata(meta, sizeof(meta), m, v, "development",
				       "{\"from\": null, \"to\": \"development\", \"reason\": \"Initial registration\"}");
			write_file(mpath, meta, strlen(meta));
			size_t n = read_file(src, text, sizeof(text));
			write_file(fpath, text, n);
			a.n = 0;
			a.used = 0;
			args_add(&a, "%s", git);
			args_add(&a, "-C");
			args_add(&a, "%s", dir);
			args_add(&a, "add");
			args_add(&a, "models/model_%02d/v%d", m, v);
			double tadd = run_timed(a.argv);
			a.n = 0;
			a.used = 0;
			args_add(&a, "%s", git);
			args_add(&a, "-C");
			args_add(&a, "%s", dir);
			args_add(&a, "commit");
			args_add(&a, "-q");
			args_add(&a, "-m");
			args_add(&a, "register model_%02d:v%d", m, v);
			double tcom = run_timed(a.argv);
			series_add(&reg_s, now_ms() - t0);
			series_add(&add_s, tadd);
			series_add(&com_s, tcom);
			free(src);
			free(vdir);
			free(mpath);
			free(fpath);
		}
	}
	for (int m = 0; m < W1_MODELS; m++) {
		for (int v = W1_PROMOTE_EVERY; v <= W1_VERSIONS; v += W1_PROMOTE_EVERY) {
			for (int k = 0; k < 2; k++) {
				char *mpath = xstrfmt("%s/models/model_%02d/v%d/metadata.json", dir, m, v);
				double t0 = now_ms();
				naive_metadata(meta, sizeof(meta), m, v, k ? "production" : "staging",
					       k ? "{\"to\": \"development\"}, {\"to\": \"staging\"}, {\"to\": \"production\"}"
						 : "{\"to\": \"development\"}, {\"to\": \"staging\"}");
				write_file(mpath, meta, strlen(meta));
				a.n = 0;
				a.used = 0;
				args_add(&a, "%s", git);
				args_add(&a, "-C");
				args_add(&a, "%s", dir);
				args_add(&a, "add");
				args_add(&a, "models/model_%02d/v%d/metadata.json", m, v);
				run_timed(a.argv);
				a.n = 0;
				a.used = 0;
				args_add(&a, "%s", git);
				args_add(&a, "-C");
				args_add(&a, "%s", dir);
				args_add(&a, "commit");
				args_add(&a, "-q");
				args_add(&a, "-m");
				args_add(&a, "promote model_%02d:v%d to %s", m, v, k ? "production" : "staging");
				run_timed(a.argv);
				series_add(&pro_s, now_ms() - t0);
				free(mpath);
			}
		}
	}
	series_header();
	series_report(&reg_s, "naive", "register");
	series_report(&add_s, "naive", "add");
	series_report(&com_s, "naive", "commit");
	series_report(&pro_s, "naive", "promote");
	printf("  stock-git totals: register x1000 %.2f s, 200 promotions %.2f s\n", reg_s.total / 1e3,
	       pro_s.total / 1e3);
	series_dispose(&reg_s);
	series_dispose(&add_s);
	series_dispose(&com_s);
	series_dispose(&pro_s);
	free(git);
	return 0;
}

/* ---- process start ------------------------------------------------------- */

static int cmd_spawn(int argc, char **argv)
{
	if (argc < 5)
		die("usage: bench_lib spawn KEY N PROG [ARG...]");
	int n = atoi(argv[3]);
	char *prog = which(argv[4]);
	char *av[64];
	int k = 0;
	av[k++] = prog;
	for (int i = 5; i < argc && k < 63; i++)
		av[k++] = argv[i];
	av[k] = NULL;
	series s = { NULL, NULL, 0, 0, 0 };
	mreg_buf label = MREG_BUF_INIT;
	const char *slash = strrchr(argv[4], '/');
	mreg_buf_puts(&label, slash ? slash + 1 : argv[4]);
	for (int i = 5; i < argc; i++)
		mreg_buf_printf(&label, " %s", argv[i]);
	s.name = label.ptr;
	run_timed(av);	/* warm the page cache */
	for (int i = 0; i < n; i++)
		series_add(&s, run_timed(av));
	series_report(&s, "spawn", argv[2]);
	series_dispose(&s);
	mreg_buf_dispose(&label);
	free(prog);
	return 0;
}

/* ---- reads at a given size ----------------------------------------------- */

static int cmd_reads(int argc, char **argv)
{
	if (argc != 7)
		die("usage: bench_lib reads MREG REG KEY N REF");
	const char *mreg = argv[2], *dir = argv[3], *key = argv[4], *ref = argv[6];
	int n = atoi(argv[5]);
	args a = { { NULL }, 0, { 0 }, 0 };
	char label[128];
	snprintf(label, sizeof(label), "show %s", ref);
	series shw = { label, NULL, 0, 0, 0 };
	series lst = { "list --stage production", NULL, 0, 0, 0 };
	list_query prod = { "", MREG_STAGE_PRODUCTION, NULL, NULL, false };

	/* one untimed round first: the state is current and the files are in the page cache */
	cli_show_args(&a, mreg, dir, ref);
	run_timed(a.argv);
	cli_list_args(&a, mreg, dir, &prod);
	run_timed(a.argv);
	for (int i = 0; i < n; i++) {
		cli_show_args(&a, mreg, dir, ref);
		series_add(&shw, run_timed(a.argv));
		cli_list_args(&a, mreg, dir, &prod);
		series_add(&lst, run_timed(a.argv));
	}
	series_header();
	series_report(&shw, key, "show");
	series_report(&lst, key, "listprod");
	series_dispose(&shw);
	series_dispose(&lst);
	return 0;
}

/* ---- the 100,000-event registry -------------------------------------------- */

typedef struct {
	char path[128];
	char hex[33];
	char data[512];
	size_t len;
} artifact;

static mreg_event *big_event(mreg_event_type type, int m, int v, int64_t *clock, int64_t base_usec)
{
	mreg_event *ev = xcalloc(1, sizeof(*ev));
	mreg_event_init(ev);
	ev->type = type;
	ev->clock = ++*clock;
	mreg_time_format(ev->time, base_usec + *clock * 1000);
	ev->actor = mreg_strdup("bench@mreg");
	ev->node = mreg_strdup("0b0e0c0d0a0f0e0d");
	ev->model = xstrfmt("model_%03d", m);
	ev->version = v;
	if (!ev->actor || !ev->node || !ev->model)
		die("out of memory");
	return ev;
}

static void big_tags(mreg_event *ev, const char *a, const char *b)
{
	ev->tags = xcalloc(2, sizeof(char *));
	ev->tags[ev->ntags++] = mreg_strdup(a);
	if (b)
		ev->tags[ev->ntags++] = mreg_strdup(b);
}

static mreg_event *big_promotion(int m, int v, const char *ref, mreg_stage from, mreg_stage to, const char *reason,
				 int64_t *clock, int64_t base)
{
	mreg_event *ev = big_event(MREG_EV_PROMOTED, m, v, clock, base);
	memcpy(ev->ref, ref, 33);
	ev->from = from;
	ev->to = to;
	ev->reason = mreg_strdup(reason);
	return ev;
}

/*
 * Per model and version v: registered, metrics_updated, tagged (unless
 * v % 4 == 0), and promotions: even versions to staging, every fourth on
 * to production (archiving the one before), odd ones rejected or archived.
 * 1,000 events per model, 100,000 in all.
 */
static int cmd_build100k(int argc, char **argv)
{
	if (argc != 3 && argc != 4)
		die("usage: bench_lib build100k REG [MODELS]");
	const char *dir = argv[2];
	int models = argc == 4 ? atoi(argv[3]) : BIG_MODELS;
	if (models < 1 || models > 1000)
		die("build100k: MODELS from 1 to 1000");
	/* the keys of make bench's summary are the 100-model registry's; other sizes print only */
	const char *key = models == BIG_MODELS ? "build100k" : "build";
	mreg_registry *reg = NULL;
	mreg_state *st = NULL;
	artifact arts[BIG_ARTIFACTS];
	const char *paths[BIG_ARTIFACTS];
	const void *datas[BIG_ARTIFACTS];
	size_t lens[BIG_ARTIFACTS];
	series bs = { "append batch (~10,000 events)", NULL, 0, 0, 0 };
	int rc;

	if ((rc = mreg_registry_init(dir)) < 0 || (rc = mreg_registry_open(&reg, dir)) < 0)
		die_mreg("init", rc);
	if ((rc = mreg_read_state(&st, reg, NULL, false)) < 0)
		die_mreg("reading the state", rc);
	int64_t clock = st->clock;
	mreg_state_free(st);
	for (int i = 0; i < BIG_ARTIFACTS; i++) {
		artifact *x = &arts[i];
		int n = snprintf(x->data, sizeof(x->data), "{\"format\":\"bench-weights/1\",\"artifact\":%d,\"w\":[", i);
		uint64_t s = 0xC0FFEEull + (uint64_t)i;
		while (n < 480)
			n += snprintf(x->data + n, sizeof(x->data) - (size_t)n, "%+.6f,",
				      (double)(rng_next(&s) % 1999999) / 1e6 - 0.999999);
		n += snprintf(x->data + n, sizeof(x->data) - (size_t)n, "0]}\n");
		x->len = (size_t)n;
		mreg_hash128(x->hex, x->data, x->len);
		snprintf(x->path, sizeof(x->path), "artifacts/%.2s/%.2s/%s.json", x->hex, x->hex + 2, x->hex);
		paths[i] = x->path;
		datas[i] = x->data;
		lens[i] = x->len;
	}
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	int64_t base = ((int64_t)rt.tv_sec - 3600) * 1000000;	/* an hour ago, one event per ms */
	size_t cap = (size_t)(BIG_VERSIONS / BIG_BATCHES) * (size_t)models * 5 + 8, total = 0;
	mreg_event **evs = xcalloc(cap, sizeof(*evs));
	mreg_buf scratch = MREG_BUF_INIT;
	int per = BIG_VERSIONS / BIG_BATCHES;
	for (int b = 0; b < BIG_BATCHES; b++) {
		size_t n = 0;
		for (int v = b * per + 1; v <= (b + 1) * per; v++) {
			for (int m = 0; m < models; m++) {
				if (n + 8 > cap)
					die("batch too large");
				const artifact *x = &arts[(m + v) % BIG_ARTIFACTS];
				mreg_event *r = big_event(MREG_EV_REGISTERED, m, v, &clock, base);
				char t1[32];
				r->name = xstrfmt("Model %03d", m);
				r->description = mreg_strdup("100k benchmark model");
				r->model_type = MREG_TYPE_POLICY_VALUE;
				r->stage = MREG_STAGE_DEVELOPMENT;
				r->file_path = mreg_strdup(x->path);
				snprintf(r->file_hash, sizeof(r->file_hash), "xxh128:%s", x->hex);
				r->file_size = (int64_t)x->len;
				double mv[MREG_METRIC_COUNT];
				w1_metrics(mv, m % 10, v);
				for (int i = 0; i < MREG_METRIC_COUNT; i++)
					r->metrics.v[i] = mv[i];
				r->metrics.present = (1u << MREG_METRIC_COUNT) - 1;
				snprintf(t1, sizeof(t1), "gen-%d", v / 10);
				big_tags(r, t1, "selfplay");
				mreg_buf_clear(&scratch);
				if ((rc = mreg_event_serialize(&scratch, r)) < 0)	/* sets r->id: the ref */
					die_mreg("serializing a registration", rc);
				evs[n++] = r;

				mreg_event *e = big_event(MREG_EV_METRICS, m, v, &clock, base);
				memcpy(e->ref, r->id, 33);
				e->metrics.v[MREG_METRIC_ELO] = mv[MREG_METRIC_ELO] + 3.5;
				e->metrics.v[MREG_METRIC_GAMES_PLAYED] = mv[MREG_METRIC_GAMES_PLAYED] + 400;
				e->metrics.present = 1u << MREG_METRIC_ELO | 1u << MREG_METRIC_GAMES_PLAYED;
				evs[n++] = e;
				if (v % 4) {
					e = big_event(MREG_EV_TAGGED, m, v, &clock, base);
					memcpy(e->ref, r->id, 33);
					big_tags(e, "evaluated", NULL);
					evs[n++] = e;
				}
				if (v % 2 == 0) {
					evs[n++] = big_promotion(m, v, r->id, MREG_STAGE_DEVELOPMENT, MREG_STAGE_STAGING,
								 "passed evaluation", &clock, base);
					if (v % 4 == 0)
						evs[n++] = big_promotion(m, v, r->id, MREG_STAGE_STAGING,
									 MREG_STAGE_PRODUCTION, "gauntlet won", &clock,
									 base);
				} else {
					evs[n++] = big_promotion(m, v, r->id, MREG_STAGE_DEVELOPMENT,
								 v % 4 == 1 ? MREG_STAGE_REJECTED : MREG_STAGE_ARCHIVED,
								 "below baseline", &clock, base);
				}
			}
		}
		char summary[64];
		snprintf(summary, sizeof(summary), "bench: batch %d of %d", b + 1, BIG_BATCHES);
		double t0 = now_ms();
		rc = mreg_append_events(reg, evs, n, b == 0 ? paths : NULL, b == 0 ? datas : NULL, b == 0 ? lens : NULL,
					b == 0 ? BIG_ARTIFACTS : 0, summary);
		double ms = now_ms() - t0;
		if (rc < 0)
			die_mreg("mreg_append_events", rc);
		series_add(&bs, ms);
		printf("  batch %2d: %5zu events appended in %8.1f ms (%.1f us/event)\n", b + 1, n, ms, ms * 1e3 / (double)n);
		total += n;
		for (size_t i = 0; i < n; i++)
			mreg_event_free(evs[i]);
	}
	mreg_buf_dispose(&scratch);
	free(evs);
	series_header();
	series_report(&bs, key, "batch");
	printf("  %zu events in %d batches: %.2f s\n", total, BIG_BATCHES, bs.total / 1e3);
	if (models == BIG_MODELS)
		record("build100k.events", (double)total);
	check_state(reg, (int64_t)total, (int64_t)models * BIG_VERSIONS, models);
	series_dispose(&bs);
	mreg_registry_free(reg);
	return 0;
}

/* ---- one-event writes at a registry's size -------------------------------- */

/* One C API call that must succeed (the handle is the library's own, as Python's). */
static void api_call(mreg_handle *h, const char *method, const char *args)
{
	char *result = NULL, *error = NULL;
	if (mreg_call(h, method, args, &result, &error) != MREG_API_OK)
		die("mreg_call %s %s: %s", method, args, error ? error : "?");
	mreg_free(result);
	mreg_free(error);
}

/* `MREG -C DIR words...`, timed */
static double run_mreg(const char *mreg, const char *dir, const char *const *words)
{
	args a = { { NULL }, 0, { 0 }, 0 };
	args_add(&a, "%s", mreg);
	args_add(&a, "-C");
	args_add(&a, "%s", dir);
	for (; *words; words++)
		args_add(&a, "%s", *words);
	return run_timed(a.argv);
}

static int cmd_onewrites(int argc, char **argv)
{
	if (argc != 8 && argc != 9)
		die("usage: bench_lib onewrites MREG REG KEY N MODEL FILE [LIB_N]");
	const char *mreg = argv[2], *dir = argv[3], *key = argv[4], *model = argv[6], *file = argv[7];
	int n = atoi(argv[5]), lib_n = argc == 9 ? atoi(argv[8]) : n;	/* the library's writes are short: more of them */
	if (n < 1 || lib_n < 1)
		die("onewrites: N and LIB_N are counts of writes, at least 1");
	series reg_s = { "CLI register", NULL, 0, 0, 0 }, pro_s = { "CLI promote", NULL, 0, 0, 0 };
	series tag_s = { "CLI tag", NULL, 0, 0, 0 }, met_s = { "CLI update-metrics", NULL, 0, 0, 0 };
	series ltag_s = { "library tag", NULL, 0, 0, 0 }, lmet_s = { "library update_metrics", NULL, 0, 0, 0 };
	for (int i = 0; i < n; i++) {
		/* each round's version is the newest: registered, then promoted, tagged, measured */
		char tag[32], elo[32];
		snprintf(tag, sizeof(tag), "scale-%d", i);
		snprintf(elo, sizeof(elo), "elo=%d", 1500 + i);
		const char *reg_w[] = { "register", model, file, NULL }, *pro_w[] = { "promote", model, "--to", "staging", NULL };
		const char *tag_w[] = { "tag", model, tag, NULL }, *met_w[] = { "update-metrics", model, elo, NULL };
		series_add(&reg_s, run_mreg(mreg, dir, reg_w));
		series_add(&pro_s, run_mreg(mreg, dir, pro_w));
		series_add(&tag_s, run_mreg(mreg, dir, tag_w));
		series_add(&met_s, run_mreg(mreg, dir, met_w));
	}
	mreg_handle *h = NULL;
	char *error = NULL;
	if (mreg_open(&h, dir, 0, &error) != MREG_API_OK)
		die("mreg_open %s: %s", dir, error ? error : "?");
	char args_json[256];
	for (int i = 0; i < lib_n; i++) {
		snprintf(args_json, sizeof(args_json), "{\"model\": \"%s\", \"tags\": [\"lib-%d\"]}", model, i);
		double t0 = now_ms();
		api_call(h, "tag", args_json);
		series_add(&ltag_s, now_ms() - t0);
		snprintf(args_json, sizeof(args_json), "{\"model\": \"%s\", \"metrics\": {\"elo\": %d}}", model, 1600 + i);
		t0 = now_ms();
		api_call(h, "update_metrics", args_json);
		series_add(&lmet_s, now_ms() - t0);
	}
	mreg_close(h);
	series_header();
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "onewrites_%s", key);
	series_report(&reg_s, prefix, "register");
	series_report(&pro_s, prefix, "promote");
	series_report(&tag_s, prefix, "tag");
	series_report(&met_s, prefix, "metrics");
	series_report(&ltag_s, prefix, "lib_tag");
	series_report(&lmet_s, prefix, "lib_metrics");
	series *all[] = { &reg_s, &pro_s, &tag_s, &met_s, &ltag_s, &lmet_s };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		series_dispose(all[i]);
	return 0;
}

/* ---- refresh: full fold, and the first read after HEAD moved --------------- */

/*
 * Commit one tag event with the stock git binary, as a `git pull` from
 * another node would bring it: HEAD moves, the state files and the work
 * tree mirror stay behind until the next mreg command.
 */
static void inject_event(const char *git, const char *dir, const char *model, int version, int k)
{
	mreg_registry *reg = NULL;
	mreg_state *st = NULL;
	mreg_model *m;
	mreg_version *v;
	mreg_ref ref;
	mreg_event ev;
	mreg_buf bytes = MREG_BUF_INIT;
	args a = { { NULL }, 0, { 0 }, 0 };
	int rc;

	memset(&ref, 0, sizeof(ref));
	snprintf(ref.model, sizeof(ref.model), "%s", model);
	ref.version = version;
	if ((rc = mreg_registry_open(&reg, dir)) < 0 || (rc = mreg_read_state(&st, reg, model, false)) < 0 ||
	    (rc = mreg_query_version(&m, &v, st, &ref)) < 0)
		die_mreg("reading the state to inject an event", rc);
	mreg_event_init(&ev);
	ev.type = MREG_EV_TAGGED;
	ev.clock = st->clock + 1;
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	mreg_time_format(ev.time, (int64_t)rt.tv_sec * 1000000 + rt.tv_nsec / 1000);
	ev.actor = mreg_strdup("other-node@mreg");
	ev.node = mreg_strdup("0f0f0f0f0f0f0f0f");
	ev.model = mreg_strdup(model);
	ev.version = v->version;
	memcpy(ev.ref, v->ref, 33);
	ev.tags = xcalloc(1, sizeof(char *));
	ev.tags[ev.ntags++] = xstrfmt("synced-%d", k);
	if ((rc = mreg_event_serialize(&bytes, &ev)) < 0)
		die_mreg("serializing the injected event", rc);
	/*
	 * Committed with stock git's plumbing, on a private index: the registry
	 * is lean (no index, no work tree for git), as a push from another node
	 * would leave it.
	 */
	char *rel = xstrfmt("events/%.2s/%.2s/%s.json", ev.id, ev.id + 2, ev.id);
	char *file = xstrfmt("%s/.git/bench-event", dir);
	write_file(file, bytes.ptr, bytes.size);
	args_add(&a, "/bin/sh");
	args_add(&a, "-c");
	args_add(&a, "cd \"$1\" && export GIT_INDEX_FILE=.git/bench-index && b=$(\"$2\" hash-object -w .git/bench-event) && "
		     "\"$2\" read-tree HEAD && \"$2\" update-index --add --cacheinfo \"100644,$b,$3\" && "
		     "t=$(\"$2\" write-tree) && c=$(\"$2\" commit-tree \"$t\" -p HEAD -m \"$4\") && "
		     "\"$2\" update-ref HEAD \"$c\" && rm -f .git/bench-index .git/bench-event");
	args_add(&a, "inject");
	args_add(&a, "%s", dir);
	args_add(&a, "%s", git);
	args_add(&a, "%s", rel);
	args_add(&a, "tag %s:%d +synced-%d (from another node)", model, v->version, k);
	run_timed(a.argv);
	free(rel);
	free(file);
	mreg_buf_dispose(&bytes);
	mreg_event_dispose(&ev);
	mreg_state_free(st);
	mreg_registry_free(reg);
}

static int cmd_refresh(int argc, char **argv)
{
	if (argc != 7 && argc != 8)
		die("usage: bench_lib refresh MREG REG NFULL NMOVED MODEL:VERSION [KEY]");
	const char *mreg = argv[2], *dir = argv[3], *refs = argv[6], *rkey = argc == 8 ? argv[7] : "refresh100k";
	int nfull = atoi(argv[4]), n = atoi(argv[5]);
	char *git = which("git");
	char model[MREG_ID_MAX + 1];
	const char *colon = strchr(refs, ':');
	if (!colon || (size_t)(colon - refs) > MREG_ID_MAX)
		die("bad ref %s", refs);
	memcpy(model, refs, (size_t)(colon - refs));
	model[colon - refs] = '\0';
	int version = atoi(colon + 1);
	args a = { { NULL }, 0, { 0 }, 0 };
	series full = { "refresh --full (fold everything)", NULL, 0, 0, 0 };
	series plain = { "refresh, already up to date", NULL, 0, 0, 0 };
	series first_show = { "first show after HEAD moved", NULL, 0, 0, 0 };
	series next_show = { "  the show after it", NULL, 0, 0, 0 };
	series first_list = { "first list --stage prod. after", NULL, 0, 0, 0 };
	series next_list = { "  the list after it", NULL, 0, 0, 0 };
	list_query prod = { "", MREG_STAGE_PRODUCTION, NULL, NULL, false };

	for (int i = 0; i < nfull; i++) {
		a.n = 0;
		a.used = 0;
		args_add(&a, "%s", mreg);
		args_add(&a, "-C");
		args_add(&a, "%s", dir);
		args_add(&a, "refresh");
		args_add(&a, "--full");
		series_add(&full, run_timed(a.argv));
		a.n = 0;
		a.used = 0;
		args_add(&a, "%s", mreg);
		args_add(&a, "-C");
		args_add(&a, "%s", dir);
		args_add(&a, "refresh");
		series_add(&plain, run_timed(a.argv));
	}
	for (int i = 0; i < n; i++) {
		inject_event(git, dir, model, version, 2 * i);
		cli_show_args(&a, mreg, dir, refs);
		series_add(&first_show, run_timed(a.argv));
		series_add(&next_show, run_timed(a.argv));
		inject_event(git, dir, model, version, 2 * i + 1);
		cli_list_args(&a, mreg, dir, &prod);
		series_add(&first_list, run_timed(a.argv));
		series_add(&next_list, run_timed(a.argv));
	}
	series_header();
	series_report(&full, rkey, "full");
	series_report(&plain, rkey, "noop");
	series_report(&first_show, rkey, "first_show");
	series_report(&next_show, rkey, "next_show");
	series_report(&first_list, rkey, "first_listprod");
	series_report(&next_list, rkey, "next_listprod");
	printf("  (HEAD moved: one tag event committed with the stock git binary, as a pull would bring it;\n"
	       "   the first read folds it in and brings the work tree mirror up to HEAD)\n");
	series_dispose(&full);
	series_dispose(&plain);
	series_dispose(&first_show);
	series_dispose(&next_show);
	series_dispose(&first_list);
	series_dispose(&next_list);
	free(git);
	return 0;
}

/* ---- disk ------------------------------------------------------------------ */

typedef struct {
	int64_t pack_bytes, loose_bytes, other_bytes;
	int64_t npacks, nloose;
} objsize;

static void walk_objects(objsize *o, const char *dir, int depth, bool in_pack)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *p = xstrfmt("%s/%s", dir, de->d_name);
		struct stat sb;
		if (lstat(p, &sb) == 0) {
			if (S_ISDIR(sb.st_mode)) {
				walk_objects(o, p, depth + 1, depth == 0 && !strcmp(de->d_name, "pack"));
			} else if (in_pack) {
				o->pack_bytes += sb.st_size;
				size_t n = strlen(de->d_name);
				o->npacks += n > 5 && !strcmp(de->d_name + n - 5, ".pack");
			} else if (depth == 1 && strlen(de->d_name) == 38) {
				o->loose_bytes += sb.st_size;
				o->nloose++;
			} else {
				o->other_bytes += sb.st_size;
			}
		}
		free(p);
	}
	closedir(d);
}

static int cmd_du(int argc, char **argv)
{
	if (argc < 4 || argc > 6)
		die("usage: bench_lib du KEY DIR [EVENTS|-] [MINUS_BYTES]");
	const char *key = argv[2], *dir = argv[3];
	int64_t events, minus = argc == 6 ? atoll(argv[5]) : 0;
	if (argc >= 5 && strcmp(argv[4], "-")) {
		events = atoll(argv[4]);
	} else {
		mreg_registry *reg = NULL;
		mreg_state *st = NULL;
		int rc;
		if ((rc = mreg_registry_open(&reg, dir)) < 0 || (rc = mreg_read_state(&st, reg, NULL, false)) < 0)
			die_mreg("reading the state", rc);
		events = st->nevents;
		mreg_state_free(st);
		mreg_registry_free(reg);
	}
	objsize o = { 0, 0, 0, 0, 0 };
	char *objdir = xstrfmt("%s/.git/objects", dir);
	walk_objects(&o, objdir, 0, false);
	free(objdir);
	int64_t total = o.pack_bytes + o.loose_bytes + o.other_bytes - minus;
	double per = events ? (double)total / (double)events : 0;
	if (minus)
		printf("  %-24s %11lld B  (%lld B of model-file blobs left out)             %7lld events %7.0f B/event\n",
		       key, (long long)total, (long long)minus, (long long)events, per);
	else
		printf("  %-24s %11lld B  in %3lld pack%s %11lld B + %5lld loose %9lld B %7lld events %7.0f B/event\n",
		       key, (long long)total, (long long)o.npacks, o.npacks == 1 ? " " : "s", (long long)o.pack_bytes,
		       (long long)o.nloose, (long long)o.loose_bytes, (long long)events, per);
	char k[256];
	snprintf(k, sizeof(k), "disk.%s.bytes", key);
	record(k, (double)total);
	snprintf(k, sizeof(k), "disk.%s.events", key);
	record(k, (double)events);
	snprintf(k, sizeof(k), "disk.%s.per_event", key);
	record(k, per);
	return 0;
}

/* ---- one command, once (git gc, git repack) -------------------------------- */

static int cmd_time(int argc, char **argv)
{
	if (argc < 4)
		die("usage: bench_lib time KEY PROG [ARG...]");
	char *av[64];
	int k = 0;
	av[k++] = which(argv[3]);
	mreg_buf label = MREG_BUF_INIT;
	const char *slash = strrchr(argv[3], '/');
	mreg_buf_puts(&label, slash ? slash + 1 : argv[3]);
	for (int i = 4; i < argc && k < 63; i++) {
		av[k++] = argv[i];
		mreg_buf_printf(&label, " %s", argv[i]);
	}
	av[k] = NULL;
	double ms = run_timed(av);
	struct rusage ru;
	long rss_kb = getrusage(RUSAGE_CHILDREN, &ru) == 0 ? ru.ru_maxrss : 0;	/* the one child's peak */
	printf("  %-60s %9.1f ms %8ld MB peak\n", label.ptr, ms, rss_kb / 1024);
	char key[256];
	snprintf(key, sizeof(key), "time.%s", argv[2]);
	record(key, ms);
	snprintf(key, sizeof(key), "rss.%s", argv[2]);
	record(key, (double)rss_kb / 1024);
	mreg_buf_dispose(&label);
	free(av[0]);
	return 0;
}

/* ---- summary --------------------------------------------------------------- */

typedef struct {
	char key[128];
	double value;
} result;

static result *results;
static size_t nresults;

static void load_results(void)
{
	const char *path = getenv("BENCH_RESULTS");
	FILE *f = path ? fopen(path, "r") : NULL;
	char key[128];
	double v;
	size_t a = 0;
	if (!f)
		die("no results: set BENCH_RESULTS");
	while (fscanf(f, "%127s %lf", key, &v) == 2) {
		if (nresults == a) {
			a = a ? a * 2 : 128;
			results = realloc(results, a * sizeof(*results));
			if (!results)
				die("out of memory");
		}
		snprintf(results[nresults].key, sizeof(results[nresults].key), "%s", key);
		results[nresults++].value = v;
	}
	fclose(f);
}

/* The last value recorded under key; NAN when none. */
static double get(const char *key)
{
	for (size_t i = nresults; i-- > 0;)
		if (!strcmp(results[i].key, key))
			return results[i].value;
	return NAN;
}

/* One target row: "le" targets are met at ratio <= 1, "ge" targets at >= 1. */
static void target_row(const char *what, double measured, const char *unit, double target, bool le)
{
	char m[32], t[32];
	snprintf(t, sizeof(t), "%s %g %s", le ? "<=" : ">=", target, unit);
	if (isnan(measured)) {
		printf("  %-52s %12s %11s %7s  %s\n", what, "n/a", t, "", "not measured");
		return;
	}
	snprintf(m, sizeof(m), "%.2f %s", measured, unit);
	double ratio = measured / target;
	bool met = le ? ratio <= 1 : ratio >= 1;
	printf("  %-52s %12s %11s %7.2f  %s\n", what, m, t, ratio, met ? "meets" : "misses");
}

static void info_row(const char *what, double v, const char *fmt_unit)
{
	if (isnan(v))
		printf("  %-58s %12s\n", what, "n/a");
	else
		printf("  %-58s %9.2f %s\n", what, v, fmt_unit);
}

static int cmd_summary(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	load_results();
	printf("  %-52s %12s %11s %7s\n", "", "measured", "target", "m/t");
	target_row("register via CLI, durable, median at 1,000 versions", get("cli.register.median"), "ms", 3, true);
	target_row("promote via CLI, durable, median at 1,000 versions", get("cli.promote.median"), "ms", 3, true);
	target_row("show model_05:50 via CLI, median, 1,000 versions", get("reads1k.show.median"), "ms", 3, true);
	target_row("list --stage production via CLI, median, 1,000 v.", get("reads1k.listprod.median"), "ms", 3, true);
	target_row("show model_050:50 via CLI, median, 100,000 events", get("reads100k.show.median"), "ms", 10, true);
	target_row("list --stage production via CLI, median, 100k ev.", get("reads100k.listprod.median"), "ms", 10, true);
	target_row("writes vs stock-git loop, register medians", get("naive.register.median") / get("cli.register.median"),
		   "x", 5, false);
	target_row("writes vs stock-git loop, 1000 registrations total",
		   get("naive.register.total") / get("cli.register.total"), "x", 5, false);
	target_row("writes vs stock-git loop, 200 promotions total", get("naive.promote.total") / get("cli.promote.total"),
		   "x", 5, false);
	target_row("disk/event after mreg gc, W1 w/o model blobs", get("disk.w1-packed-noblobs.per_event"), "B",
		   2048, true);
	target_row("disk/event after mreg gc, W1 with model blobs", get("disk.w1-packed.per_event"), "B", 2048,
		   true);
	target_row("disk/event after mreg gc, 100,000 events", get("disk.100k-packed.per_event"), "B", 2048, true);
	target_row("disk/event after plain git gc, W1 w/o model blobs", get("disk.w1-gc-noblobs.per_event"), "B", 2048,
		   true);
	target_row("disk/event after plain git gc, 100,000 events", get("disk.100k-gc.per_event"), "B", 2048, true);
	target_row("disk/event as mreg wrote it, W1 w/o model blobs", get("disk.w1-noblobs.per_event"), "B", 2048, true);
	target_row("disk/event as mreg wrote it, W1 with model blobs", get("disk.w1.per_event"), "B", 2048, true);
	target_row("disk/event as mreg wrote it, 100,000 events", get("disk.100k.per_event"), "B", 2048, true);
	target_row("backup create at 100,000 events (CLI)", get("time.backup100k"), "ms", 2000, true);
	target_row("backup restore at 100,000 events (CLI)", get("time.restore100k"), "ms", 2000, true);
	target_row("mreg check, 10,000-event range, hub (pre-receive)", get("time.check10k"), "ms", 1000, true);
	target_row("mreg serve: a version, vs a fixed answer (req/s)", get("serve.api.rps") / get("serve.static.rps"), "x",
		   0.7, false);
	/* issue 17: W1 through the Python package, against the original's own Python API (its medians) */
	target_row("Python package: register, durable, median (W1)", get("py.register.median"), "ms", 4.5, true);
	target_row("Python package: promote, durable, median (W1)", get("py.promote.median"), "ms", 1.3, true);
	target_row("Python package: list, median of the 7 (W1)", get("py.list.median"), "ms", 3.5, true);
	target_row("Python package: get, median of 1,000 (W1)", get("py.get.median"), "ms", 0.05, true);

	printf("\n  what this machine allows (tests/bench/floor.c: no mreg code, linked statically)\n");
	info_row("floor: start of a process that does nothing, median", get("spawn.floor_start.median"), "ms");
	info_row("floor: that process + a durable commit's files, median", get("spawn.floor_write.median"), "ms");
	printf("  %s\n", "  (a pack and its index written out, their directory fsynced, the branch written out, its directory"
			   " fsynced: two flushes in order)");
	info_row("register via CLI minus the write floor, median", get("cli.register.median") - get("spawn.floor_write.median"),
		 "ms");
	info_row("show at 1,000 via CLI minus the start floor, median",
		 get("reads1k.show.median") - get("spawn.floor_start.median"), "ms");
	info_row("what 5x the stock-git loop asks of a register, median", get("naive.register.median") / 5, "ms");

	printf("\n  other numbers (no target)\n");
	info_row("start a trivial process (/bin/true), median", get("spawn.true.median"), "ms");
	info_row("start mreg (mreg --version), median", get("spawn.mreg_version.median"), "ms");
	info_row("CLI register minus mreg's own start, median", get("cli.register.median") - get("spawn.mreg_version.median"),
		 "ms");
	info_row("CLI show at 1,000 minus mreg's own start, median",
		 get("reads1k.show.median") - get("spawn.mreg_version.median"), "ms");
	info_row("library register, durable, median (no process start)", get("lib.register.median"), "ms");
	info_row("library promote, durable, median", get("lib.promote.median"), "ms");
	info_row("library show, median", get("lib.show.median"), "ms");
	info_row("stock git: write 2 files + git add + git commit, median", get("naive.register.median"), "ms");
	info_row("100k: build with mreg_append_events, 10 batches, total", get("build100k.batch.total") / 1e3, "s");
	info_row("100k: mreg refresh --full, median", get("refresh100k.full.median"), "ms");
	info_row("100k: first show after HEAD moved by one event, median", get("refresh100k.first_show.median"), "ms");
	info_row("100k: first list --stage production after HEAD moved", get("refresh100k.first_listprod.median"), "ms");
	info_row("100k: git gc", get("time.gc100k"), "ms");
	info_row("100k: mreg gc", get("time.repack100k"), "ms");
	info_row("100k: mreg fsck", get("time.fsck100k"), "ms");
	info_row("100k: backup verify (pack indexed, head walked)", get("time.verify100k"), "ms");
	info_row("100k: bundle size per event", get("backup100k.bundle_per_event"), "B");
	info_row("check of the last 10,000 events in a fresh clone (CI)", get("time.check10k_ci"), "ms");
	info_row("mreg serve: /api/v1/models/ID/versions/N, requests/s", get("serve.api.rps"), "req/s");
	info_row("the same answer fixed, same libmicrohttpd settings", get("serve.static.rps"), "req/s");
	info_row("mreg serve: /metrics (1,000 versions), requests/s", get("serve.metrics.rps"), "req/s");

	printf("\n  %-36s %-16s %s\n", "vs the original (REFERENCE.md)", "the original", "mreg here");
	printf("  %-36s %-16s %7.2f s in-process, %.2f s as 1000 CLI processes\n", "register x 1000", "3.3 - 5.2 s",
	       get("lib.register.total") / 1e3, get("cli.register.total") / 1e3);
	printf("  %-36s %-16s %7.2f s in-process, %.2f s as 200 CLI processes\n", "200 promotions", "0.27 - 0.33 s",
	       get("lib.promote.total") / 1e3, get("cli.promote.total") / 1e3);
	printf("  %-36s %-16s %7.3f s in-process, %.3f s as 7 CLI processes\n", "7 list queries", "0.02 - 0.03 s",
	       get("lib.list.total") / 1e3, get("cli.list.total") / 1e3);
	printf("  %-36s %-16s %7.3f s in-process, %.2f ms median per CLI show\n", "get x 1000", "0.04 s",
	       get("lib.show.total") / 1e3, get("cli.show.median"));
	printf("  %-36s %-16s %7.2f ms register, %.2f ms show (CLI medians)\n", "one CLI command as a process",
	       "70 - 160 ms", get("cli.register.median"), get("cli.show.median"));
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "gen", cmd_gen }, { "spawn", cmd_spawn }, { "lib", cmd_lib }, { "cli", cmd_cli },
		{ "naive", cmd_naive }, { "reads", cmd_reads }, { "build100k", cmd_build100k }, { "onewrites", cmd_onewrites },
		{ "refresh", cmd_refresh }, { "du", cmd_du }, { "time", cmd_time }, { "summary", cmd_summary },
	};
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		die("usage: bench_lib gen|spawn|lib|cli|naive|reads|build100k|onewrites|refresh|du|time|summary ...");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc, argv);
	die("unknown step '%s'", argv[1]);
	return 1;
}

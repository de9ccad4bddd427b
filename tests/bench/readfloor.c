/*
 * make bench-scale: the floor under a cold fold. The event files at a
 * registry's HEAD, read and inflated on every core by mreg's object reader,
 * and nothing else done with them: no parse, no fold, no state. Twice:
 * each file read once, and each read as the streamed fold reads it (the
 * head of its bytes for its clock, then the whole, where the head was
 * found). A fold cannot take less than the second, whatever its parser.
 * Then a third time, each file read once and parsed by cJSON (the parser
 * mreg's events go through), the document freed: no fold can take less
 * than that either, even one that read each file only once.
 * The list of files comes from `git ls-tree`, before the clock starts.
 *
 *   readfloor REG KEY    prints the three times; "time.KEY_once",
 *                        "time.KEY_fold" and "time.KEY_parse" (ms) to
 *                        $BENCH_RESULTS
 */
#include "../../fsstore/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

typedef struct {
	mreg_odb *odb;
	git_oid *ids;
	bool as_fold;
	bool parse;
	int failed;
} job;

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void read_one(void *arg, size_t i)
{
	job *j = arg;
	mreg_buf b = MREG_BUF_INIT;
	git_object_t type;
	unsigned char head[128];
	size_t got;
	mreg_odb_where where;
	int rc;
	if (j->as_fold && mreg_odb_peek(head, &got, sizeof(head), &type, j->odb, &j->ids[i], &where) == 0)
		rc = mreg_odb_read_at(&b, &type, j->odb, &where, &j->ids[i]);
	else
		rc = mreg_odb_read_named(&b, &type, j->odb, &j->ids[i]);
	cJSON *doc = rc == 0 && j->parse ? cJSON_ParseWithLength(b.ptr, b.size) : NULL;
	if (rc != 0 || (j->parse && !doc))
		__atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
	cJSON_Delete(doc);
	mreg_buf_dispose(&b);
}

static void record(const char *key, double ms)
{
	const char *path = getenv("BENCH_RESULTS");
	FILE *f = path && *path ? fopen(path, "a") : NULL;
	if (f) {
		fprintf(f, "time.%s %.6f\n", key, ms);
		fclose(f);
	}
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: readfloor REG KEY\n");
		return 2;
	}
	char cmd[4200], line[512], objdir[4200];
	snprintf(cmd, sizeof(cmd), "git -C '%s' ls-tree -r HEAD events", argv[1]);
	FILE *p = popen(cmd, "r");
	size_t n = 0, a = 1024;
	git_oid *ids = malloc(a * sizeof(*ids));
	while (p && ids && fgets(line, sizeof(line), p)) {
		const char *tab = strchr(line, '\t');
		if (!tab || tab - line < 40 || strncmp(line + 7, "blob ", 5))
			continue;
		if (n == a && !(ids = realloc(ids, (a *= 2) * sizeof(*ids))))
			break;
		if (git_oid_fromstrn(&ids[n], tab - 40, 40) == 0)
			n++;
	}
	if (!p || pclose(p) != 0 || !ids || !n) {
		fprintf(stderr, "readfloor: no event files at HEAD of '%s'\n", argv[1]);
		return 1;
	}
	snprintf(objdir, sizeof(objdir), "%s/.git/objects/", argv[1]);
	job j = { NULL, ids, false, false, 0 };
	if (mreg_odb_open(&j.odb, objdir) < 0 || mreg_odb_ready(j.odb) < 0) {
		fprintf(stderr, "readfloor: %s\n", mreg_error_last());
		return 1;
	}
	double ms[3];
	for (int k = 0; k < 3; k++) {
		j.as_fold = k == 1;
		j.parse = k == 2;
		double t = now_ms();
		mreg_parallel_for(n, 64, read_one, &j, mreg_odb_thread_done);
		ms[k] = now_ms() - t;
	}
	if (j.failed) {
		fprintf(stderr, "readfloor: an event file did not read\n");
		return 1;
	}
	printf("  reading floor at %s: %zu event files, each read once %.1f ms, as the fold reads them %.1f ms, "
	       "read once and parsed by cJSON %.1f ms (%d threads)\n",
	       argv[2], n, ms[0], ms[1], ms[2], mreg_threads());
	char key[256];
	snprintf(key, sizeof(key), "%s_once", argv[2]);
	record(key, ms[0]);
	snprintf(key, sizeof(key), "%s_fold", argv[2]);
	record(key, ms[1]);
	snprintf(key, sizeof(key), "%s_parse", argv[2]);
	record(key, ms[2]);
	mreg_odb_free(j.odb);
	free(ids);
	return 0;
}

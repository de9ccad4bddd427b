/*
 * Fold cases as data: one cmocka test per testdata/fold/<case>.events, run
 * from the repository root. Adding a case is adding files.
 *
 * <case>.events holds one event per line as a JSON object WITHOUT id (the id
 * is the hash of the bytes, which the runner makes). Blank lines and lines
 * starting with '#' are comments. The runner fills what a line leaves out:
 *
 *   type     "registered", "promoted", "metrics_updated", "tagged",
 *            "untagged" (the "version." prefix is added when missing)
 *   schema   1
 *   time     2026-01-01T00:00:00.000000Z plus `clock` seconds, unless the
 *            line gives its own (then the clock may be any)
 *   actor    "t"          node  "n1"
 *   registrations: name = model, model_type "policy_value",
 *            description "", stage "development", metrics {},
 *            training_config {}, tags [], file = a fixed fake artifact
 *            (artifacts/00/11/00112233445566778899aabbccddeeff.bin, size 1)
 *   other events: version = the version the referenced registration
 *            claimed; promotions: reason ""; metrics updates: metrics {},
 *            replace false; rollbacks: reason "", trigger "manual",
 *            from_metrics {}, to_metrics {}
 *   the newer types are given in full ("comparison.recorded",
 *            "baseline.set", "rollback", "rollback.requested",
 *            "rollback.cleared"), except "validation"; model-wide ones
 *            (baseline.*, quality.*, rollback.*) get no version
 *   "b_ref": "@x" / "from_ref": "@x" name the second version of a
 *            comparison or rollback; b_version / from_version (and b_model)
 *            are filled from that line
 *
 * `clock`, `model` and a registration's `version` are always given.
 * "label": "x" (runner only, removed before building) names a line;
 * "ref": "@x" is replaced by the id of the line labelled x, which must come
 * earlier in the file. A literal 32-hex ref is kept as it is.
 *
 * Each line is built into an event with mreg_event_parse (all field rules
 * apply) and mreg_event_serialize (which sets its id). The events are sorted
 * by (clock, id) and folded one by one with mreg_fold_apply, as a fold of a
 * tree holding exactly them: the clock bound counts one event file per line
 * (a clock more than MREG_CLOCK_SLACK past that is quarantined). Then either
 *
 *   <case>.expected  the fold succeeds and its summary equals this file, or
 *   <case>.error     building or folding fails with a message containing
 *                    this file's text (one line).
 *
 * The summary (see summarize()):
 *
 *   order @a L3 @b ...        every event in fold order: @label, or L<line>
 *   model <id> type=<t> versions=<n> latest=<n> production=<n|-> created=<c>
 *         updated=<c> name="<name>" description="<desc>"
 *   <id>:<n> <stage> claimed=<n> ref=<@label|Lline> updated=<c>
 *         validation=<status|-> tags=<a,b|-> metrics=<k=v,...>
 *   history <id>:<n> (new)>development>staging [<reason of the last row>]
 *     (one model line, then per version its line and its history line)
 *   conflict <id>:<n> <message>        one per conflict, in fold order, with
 *                                      event ids in the message shown as names
 *   quarantined <path> <problem>       one per event the fold left out, by path
 *   stages development=<n> staging=<n> production=<n> archived=<n> rejected=<n>
 *   types policy_value=<n> heuristic=<n> ensemble=<n> compressed=<n> experimental=<n>
 *   events <n> registered=<n> promoted=<n> metrics_updated=<n> tagged=<n>
 *         untagged=<n> [<newer type>=<n> when nonzero] conflicts=<n>
 *   comparison <id>:<n> <json>       after a version's history: each comparison
 *   validation <id>:<n> <json>       a validation past its automatic "pending"
 *   baseline <id> <json>             the rollback manager's records, last
 *   pending <id> <severity> "<reason>"
 *   rollback <id> v<from>->v<to> by=<trigger> ok|<error>
 *
 * Times are shown as the clock they were derived from (<c>), or verbatim if
 * a line gave its own time. The runner also checks, for every case, that the
 * stage and type counters match a recount of the versions and that every
 * model passes mreg_state_check_model.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "num.h"
#include "state.h"

#define CASE_DIR "testdata/fold"
#define MIN_CASES 12
#define BASE_USEC (1767225600LL * 1000000)	/* 2026-01-01T00:00:00Z */
#define FAKE_HEX "00112233445566778899aabbccddeeff"

typedef struct {
	int line;
	char *label;	/* NULL: none */
	mreg_event *ev;
} item;

typedef struct {
	item *items;
	size_t n, a;
	char *error;	/* first build or fold error, NULL: none */
	mreg_state *st;
} run;

/* ---- small helpers -------------------------------------------------- */

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	mreg_buf b = MREG_BUF_INIT;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		mreg_buf_put(&b, chunk, n);
	fclose(f);
	return mreg_buf_detach(&b);
}

static void out(mreg_buf *b, const char *fmt, ...)
{
	char tmp[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	mreg_buf_puts(b, tmp);
}

static void run_dispose(run *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->items[i].label);
		mreg_event_free(r->items[i].ev);
	}
	free(r->items);
	free(r->error);
	mreg_state_free(r->st);
}

static const item *find_label(const run *r, const char *label)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->items[i].label && !strcmp(r->items[i].label, label))
			return &r->items[i];
	return NULL;
}

/* "@label" or "L<line>" for the event with this id; NULL if none. */
static const char *name_of(const run *r, const char *id, char *buf, size_t size)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->items[i].ev && !strcmp(r->items[i].ev->id, id)) {
			if (r->items[i].label)
				snprintf(buf, size, "@%s", r->items[i].label);
			else
				snprintf(buf, size, "L%d", r->items[i].line);
			return buf;
		}
	snprintf(buf, size, "%s", id);
	return buf;
}

/* A time as the clock it was derived from, else verbatim. */
static const char *clock_of(const char *time, char *buf, size_t size)
{
	int64_t t;
	if (mreg_time_parse(&t, time) == 0 && t >= BASE_USEC && (t - BASE_USEC) % 1000000 == 0)
		snprintf(buf, size, "%lld", (long long)((t - BASE_USEC) / 1000000));
	else
		snprintf(buf, size, "%s", time);
	return buf;
}

static void set_default(cJSON *obj, const char *key, cJSON *v)
{
	if (cJSON_GetObjectItemCaseSensitive(obj, key))
		cJSON_Delete(v);
	else
		cJSON_AddItemToObject(obj, key, v);
}

/* ---- building events ------------------------------------------------ */

static void record_error(run *r, const char *where, int line)
{
	if (r->error)
		return;
	char tmp[2048];
	snprintf(tmp, sizeof(tmp), "%s (line %d): %s", where, line, mreg_error_last());
	r->error = strdup(tmp);
}

/* Fill one line's defaults and build it; runner mistakes fail the test. */
static void build_line(run *r, const char *path, int lineno, const char *text)
{
	cJSON *obj = cJSON_Parse(text);
	if (!cJSON_IsObject(obj))
		fail_msg("%s:%d: not a JSON object", path, lineno);
	if (r->n == r->a) {
		r->a = r->a ? r->a * 2 : 16;
		r->items = realloc(r->items, r->a * sizeof(*r->items));
		assert_non_null(r->items);
	}
	item *it = &r->items[r->n++];
	memset(it, 0, sizeof(*it));
	it->line = lineno;

	cJSON *label = cJSON_DetachItemFromObjectCaseSensitive(obj, "label");
	if (label) {
		if (!cJSON_IsString(label) || find_label(r, label->valuestring))
			fail_msg("%s:%d: label must be a new string", path, lineno);
		it->label = strdup(label->valuestring);
		cJSON_Delete(label);
	}
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "type");
	const cJSON *clock = cJSON_GetObjectItemCaseSensitive(obj, "clock");
	const cJSON *model = cJSON_GetObjectItemCaseSensitive(obj, "model");
	if (!cJSON_IsString(type) || !cJSON_IsNumber(clock) || !cJSON_IsString(model))
		fail_msg("%s:%d: type, clock and model are required", path, lineno);
	if (!strchr(type->valuestring, '.') && strcmp(type->valuestring, "rollback")) {
		char full[128];
		snprintf(full, sizeof(full), "version.%s", type->valuestring);
		cJSON_ReplaceItemInObjectCaseSensitive(obj, "type", cJSON_CreateString(full));
		type = cJSON_GetObjectItemCaseSensitive(obj, "type");
	}
	char time[MREG_TIME_LEN + 1];
	if (!cJSON_GetObjectItemCaseSensitive(obj, "time")) {	/* a line's own time: the clock may be any */
		mreg_time_format(time, BASE_USEC + (int64_t)clock->valuedouble * 1000000);
		set_default(obj, "time", cJSON_CreateString(time));
	}
	set_default(obj, "schema", cJSON_CreateNumber(1));
	set_default(obj, "actor", cJSON_CreateString("t"));
	set_default(obj, "node", cJSON_CreateString("n1"));

	if (!strcmp(type->valuestring, "version.registered")) {
		set_default(obj, "name", cJSON_CreateString(model->valuestring));
		set_default(obj, "model_type", cJSON_CreateString("policy_value"));
		set_default(obj, "description", cJSON_CreateString(""));
		set_default(obj, "stage", cJSON_CreateString("development"));
		cJSON *file = cJSON_CreateObject();
		cJSON_AddStringToObject(file, "path", "artifacts/00/11/" FAKE_HEX ".bin");
		cJSON_AddStringToObject(file, "hash", "xxh128:" FAKE_HEX);
		cJSON_AddNumberToObject(file, "size", 1);
		set_default(obj, "file", file);
		set_default(obj, "metrics", cJSON_CreateObject());
		set_default(obj, "training_config", cJSON_CreateObject());
		set_default(obj, "tags", cJSON_CreateArray());
	} else {
		const cJSON *ref = cJSON_GetObjectItemCaseSensitive(obj, "ref");
		const item *target = NULL;
		if (cJSON_IsString(ref) && ref->valuestring[0] == '@') {
			target = find_label(r, ref->valuestring + 1);
			if (!target)
				fail_msg("%s:%d: no earlier line is labelled '%s'", path, lineno, ref->valuestring + 1);
			if (!target->ev)
				fail_msg("%s:%d: line labelled '%s' did not build", path, lineno, ref->valuestring + 1);
			cJSON_ReplaceItemInObjectCaseSensitive(obj, "ref", cJSON_CreateString(target->ev->id));
		}
		/* the second version a comparison or rollback names */
		static const char *const second[][2] = { { "b_ref", "b_version" }, { "from_ref", "from_version" } };
		for (size_t k = 0; k < 2; k++) {
			const cJSON *r2 = cJSON_GetObjectItemCaseSensitive(obj, second[k][0]);
			if (!cJSON_IsString(r2) || r2->valuestring[0] != '@')
				continue;
			const item *t2 = find_label(r, r2->valuestring + 1);
			if (!t2 || !t2->ev)
				fail_msg("%s:%d: no earlier line labelled '%s' built", path, lineno, r2->valuestring + 1);
			cJSON_ReplaceItemInObjectCaseSensitive(obj, second[k][0], cJSON_CreateString(t2->ev->id));
			set_default(obj, second[k][1], cJSON_CreateNumber(t2->ev->version));
			if (k == 0)
				set_default(obj, "b_model", cJSON_CreateString(t2->ev->model));
		}
		bool model_wide = !strcmp(type->valuestring, "baseline.set") ||
				  !strcmp(type->valuestring, "quality.reported") ||
				  !strncmp(type->valuestring, "rollback.", 9);
		if (!model_wide)
			set_default(obj, "version", cJSON_CreateNumber(target ? target->ev->version : 1));
		if (!strcmp(type->valuestring, "rollback")) {
			set_default(obj, "reason", cJSON_CreateString(""));
			set_default(obj, "trigger", cJSON_CreateString("manual"));
			set_default(obj, "from_metrics", cJSON_CreateObject());
			set_default(obj, "to_metrics", cJSON_CreateObject());
		}
		if (!strcmp(type->valuestring, "version.promoted"))
			set_default(obj, "reason", cJSON_CreateString(""));
		if (!strcmp(type->valuestring, "version.metrics_updated")) {
			set_default(obj, "metrics", cJSON_CreateObject());
			set_default(obj, "replace", cJSON_CreateFalse());
		}
	}

	char *json = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	assert_non_null(json);
	mreg_event *ev = NULL;
	if (mreg_event_parse(&ev, json, strlen(json), NULL) < 0) {
		record_error(r, "build", lineno);
		cJSON_free(json);
		return;
	}
	cJSON_free(json);
	mreg_buf b = MREG_BUF_INIT;
	if (mreg_event_serialize(&b, ev) < 0) {
		record_error(r, "serialize", lineno);
		mreg_event_free(ev);
		mreg_buf_dispose(&b);
		return;
	}
	mreg_buf_dispose(&b);
	it->ev = ev;
}

static int cmp_items(const void *a, const void *b)
{
	const item *x = a, *y = b;
	return mreg_event_cmp(x->ev, y->ev);
}

static void run_case(run *r, const char *events_path)
{
	char *text = read_file(events_path);
	if (!text)
		fail_msg("cannot read %s", events_path);
	int lineno = 0;
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		const char *p = line + strspn(line, " \t\r");
		if (!*p || *p == '#')
			continue;
		build_line(r, events_path, lineno, p);
		if (r->error)
			break;
	}
	free(text);
	if (r->n == 0)
		fail_msg("%s: no events", events_path);
	assert_int_equal(mreg_state_new(&r->st), 0);
	if (r->error)
		return;
	qsort(r->items, r->n, sizeof(*r->items), cmp_items);
	r->st->nfiles = (int64_t)r->n;	/* as a fold of a tree: the clock bound counts its event files */
	for (size_t i = 0; i < r->n; i++)
		if (mreg_fold_apply(r->st, r->items[i].ev) < 0) {
			record_error(r, "fold", r->items[i].line);
			return;
		}
}

/* ---- the summary ---------------------------------------------------- */

/* A copy of a message with every event id of this run replaced by its name. */
static char *names_in(const run *r, const char *msg)
{
	char *s = strdup(msg);
	for (size_t i = 0; i < r->n; i++) {
		char name[64], *p;
		const char *id = r->items[i].ev->id;
		while ((p = strstr(s, id))) {
			name_of(r, id, name, sizeof(name));
			mreg_buf b = MREG_BUF_INIT;
			mreg_buf_put(&b, s, (size_t)(p - s));
			mreg_buf_puts(&b, name);
			mreg_buf_puts(&b, p + strlen(id));
			free(s);
			s = mreg_buf_detach(&b);
		}
	}
	return s;
}

static void summarize_version(mreg_buf *b, const run *r, const mreg_model *m, const mreg_version *v)
{
	char name[64], when[64];
	out(b, "%s:%d %s claimed=%d ref=%s updated=%s", m->id, v->version, mreg_stage_name(v->stage), v->claimed,
	    name_of(r, v->ref, name, sizeof(name)), clock_of(v->updated_at, when, sizeof(when)));
	const cJSON *status = v->validation ? cJSON_GetObjectItemCaseSensitive(v->validation, "status") : NULL;
	out(b, " validation=%s tags=", cJSON_IsString(status) ? status->valuestring : "-");
	for (size_t i = 0; i < v->ntags; i++)
		out(b, "%s%s", i ? "," : "", v->tags[i]);
	if (!v->ntags)
		out(b, "-");
	out(b, " metrics=");
	int k = 0;
	for (int i = 0; i < MREG_METRIC_COUNT; i++)
		if (v->metrics.present & (1u << i)) {
			char num[MREG_NUM_MAX];
			mreg_num_format(num, v->metrics.v[i]);
			out(b, "%s%s=%s", k++ ? "," : "", mreg_metric_name((mreg_metric)i), num);
		}
	if (!k)
		out(b, "-");
	out(b, "\nhistory %s:%d ", m->id, v->version);
	for (size_t h = 0; h < v->nhistory; h++) {
		if (h == 0)
			out(b, "%s", mreg_stage_name(v->history[h].from));
		out(b, ">%s", mreg_stage_name(v->history[h].to));
	}
	if (v->nhistory)
		out(b, " [%s]", v->history[v->nhistory - 1].reason);
	out(b, "\n");
	const cJSON *c;
	cJSON_ArrayForEach(c, v->comparisons) {
		char *j = cJSON_PrintUnformatted(c);
		char *msg = names_in(r, j);
		out(b, "comparison %s:%d %s\n", m->id, v->version, msg);
		free(msg);
		cJSON_free(j);
	}
	/* a validation past its automatic start is shown whole */
	const cJSON *vs = cJSON_GetObjectItemCaseSensitive(v->validation, "status");
	const cJSON *vb = cJSON_GetObjectItemCaseSensitive(v->validation, "baselines");
	if (cJSON_IsString(vs) && (strcmp(vs->valuestring, "pending") || cJSON_GetArraySize(vb))) {
		char *j = cJSON_PrintUnformatted(v->validation);
		out(b, "validation %s:%d %s\n", m->id, v->version, j);
		cJSON_free(j);
	}
}

/* One line per member of a state record object: "<what> <model id> <JSON, event ids as names>". */
static void put_records(mreg_buf *b, const run *r, const char *what, const cJSON *records)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, records) {
		char *j = cJSON_PrintUnformatted(c);
		char *msg = names_in(r, j);
		out(b, "%s %s %s\n", what, c->string, msg);
		free(msg);
		cJSON_free(j);
	}
}

static void summarize(mreg_buf *b, const run *r)
{
	const mreg_state *st = r->st;
	char name[64], c1[64], c2[64];

	out(b, "order");
	for (size_t i = 0; i < r->n; i++)
		out(b, " %s", name_of(r, r->items[i].ev->id, name, sizeof(name)));
	out(b, "\n");
	for (size_t i = 0; i < st->nmodels; i++) {
		const mreg_model *m = st->models[i];
		out(b, "model %s type=%s versions=%d latest=%d production=", m->id, mreg_type_name(m->type),
		    m->nversions, m->latest);
		if (m->prod)
			out(b, "%d", m->prod->version);
		else
			out(b, "-");
		out(b, " created=%s updated=%s name=\"%s\" description=\"%s\"\n",
		    clock_of(m->created_at, c1, sizeof(c1)), clock_of(m->updated_at, c2, sizeof(c2)), m->name,
		    m->description);
		for (int j = 0; j < m->nversions; j++)
			summarize_version(b, r, m, &m->versions[j]);
	}
	for (size_t i = 0; i < st->nconflicts; i++) {
		char *msg = names_in(r, st->conflicts[i].message);
		out(b, "conflict %s:%d %s\n", st->conflicts[i].model, st->conflicts[i].version, msg);
		free(msg);
	}
	for (size_t i = 0; i < st->nquarantined; i++) {
		char *line = mreg_strfmt("%s %s", st->quarantined[i].path, st->quarantined[i].problem);
		char *msg = line ? names_in(r, line) : NULL;
		out(b, "quarantined %s\n", msg ? msg : "?");
		free(msg);
		free(line);
	}
	out(b, "stages");
	for (int s = 0; s < MREG_STAGE_COUNT; s++)
		out(b, " %s=%lld", mreg_stage_name((mreg_stage)s), (long long)st->stage_count[s]);
	out(b, "\ntypes");
	for (int t = 0; t < MREG_TYPE_COUNT; t++)
		out(b, " %s=%lld", mreg_type_name((mreg_model_type)t), (long long)st->type_count[t]);
	out(b, "\nevents %lld", (long long)st->nevents);
	for (int t = 0; t < MREG_EV_COUNT; t++) {
		const char *tn = mreg_event_type_name((mreg_event_type)t);
		if (t >= MREG_EV_VALIDATION && !st->by_type[t])
			continue;	/* the newer types only when a case has them */
		out(b, " %s=%lld", strncmp(tn, "version.", 8) ? tn : tn + 8, (long long)st->by_type[t]);
	}
	out(b, " conflicts=%zu\n", st->nconflicts);
	const cJSON *c;
	put_records(b, r, "baseline", st->baselines);
	put_records(b, r, "monitor", st->monitor);
	cJSON_ArrayForEach(c, st->pending) {
		const cJSON *sev = cJSON_GetObjectItemCaseSensitive(c, "severity");
		const cJSON *why = cJSON_GetObjectItemCaseSensitive(c, "reason");
		out(b, "pending %s %s \"%s\"\n", c->string, sev->valuestring, why->valuestring);
	}
	cJSON_ArrayForEach(c, st->rollbacks) {
		const cJSON *err = cJSON_GetObjectItemCaseSensitive(c, "error_message");
		char *msg = cJSON_IsString(err) ? names_in(r, err->valuestring) : strdup("ok");
		out(b, "rollback %s v%g->v%g by=%s %s\n", cJSON_GetObjectItemCaseSensitive(c, "model_id")->valuestring,
		    cJSON_GetObjectItemCaseSensitive(c, "from_version")->valuedouble,
		    cJSON_GetObjectItemCaseSensitive(c, "to_version")->valuedouble,
		    cJSON_GetObjectItemCaseSensitive(c, "triggered_by")->valuestring, msg);
		free(msg);
	}
}

/* The state's counters must match a recount; every model its invariants. */
static void check_consistency(const mreg_state *st)
{
	int64_t stages[MREG_STAGE_COUNT] = { 0 }, types[MREG_TYPE_COUNT] = { 0 }, nversions = 0;
	for (size_t i = 0; i < st->nmodels; i++) {
		const mreg_model *m = st->models[i];
		if (mreg_state_check_model(m) < 0)
			fail_msg("model '%s' breaks an invariant: %s", m->id, mreg_error_last());
		for (int j = 0; j < m->nversions; j++) {
			stages[m->versions[j].stage]++;
			types[m->type]++;
			nversions++;
		}
	}
	assert_int_equal(st->nversions, nversions);
	for (int s = 0; s < MREG_STAGE_COUNT; s++)
		if (stages[s] != st->stage_count[s])
			fail_msg("stage count %s is %lld, recount says %lld", mreg_stage_name((mreg_stage)s),
				 (long long)st->stage_count[s], (long long)stages[s]);
	for (int t = 0; t < MREG_TYPE_COUNT; t++)
		if (types[t] != st->type_count[t])
			fail_msg("type count %s is %lld, recount says %lld", mreg_type_name((mreg_model_type)t),
				 (long long)st->type_count[t], (long long)types[t]);
}

static void trim(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = '\0';
}

static void report_diff(const char *want, const char *got)
{
	int line = 1;
	const char *w = want, *g = got;
	while (*w && *g) {
		const char *we = strchr(w, '\n'), *ge = strchr(g, '\n');
		size_t wn = we ? (size_t)(we - w) : strlen(w), gn = ge ? (size_t)(ge - g) : strlen(g);
		if (wn != gn || memcmp(w, g, wn)) {
			fprintf(stderr, "first difference at line %d:\n  want: %.*s\n  got:  %.*s\n", line, (int)wn, w,
				    (int)gn, g);
			break;
		}
		w += wn + (we ? 1 : 0);
		g += gn + (ge ? 1 : 0);
		line++;
	}
	fprintf(stderr, "--- expected\n%s--- got\n%s---\n", want, got);
}

static void fold_case(void **state)
{
	const char *base = *state;
	char path[1024];
	run r = { 0 };

	snprintf(path, sizeof(path), "%s.events", base);
	run_case(&r, path);

	snprintf(path, sizeof(path), "%s.error", base);
	char *want_error = read_file(path);
	snprintf(path, sizeof(path), "%s.expected", base);
	char *want = read_file(path);
	if (!want_error == !want)
		fail_msg("%s: needs exactly one of .expected and .error", base);

	if (want_error) {
		trim(want_error);
		if (!*want_error)
			fail_msg("%s.error is empty", base);
		if (!r.error)
			fail_msg("%s: the fold succeeded, expected an error containing '%s'", base, want_error);
		if (!strstr(r.error, want_error))
			fail_msg("%s: error '%s' does not contain '%s'", base, r.error, want_error);
		free(want_error);
		run_dispose(&r);
		return;
	}
	if (r.error)
		fail_msg("%s: %s", base, r.error);
	check_consistency(r.st);
	mreg_buf got = MREG_BUF_INIT;
	summarize(&got, &r);
	if (strcmp(got.ptr, want)) {
		report_diff(want, got.ptr);
		mreg_buf_dispose(&got);
		free(want);
		run_dispose(&r);
		fail_msg("%s: summary differs from %s.expected", base, base);
	}
	mreg_buf_dispose(&got);
	free(want);
	run_dispose(&r);
}

/* ---- finding the cases ---------------------------------------------- */

static char **case_names;
static size_t ncases;

static void fold_cases_exist(void **state)
{
	(void)state;
	if (ncases < MIN_CASES)
		fail_msg("found %zu cases in %s (run from the repository root), expected at least %d", ncases, CASE_DIR,
			 MIN_CASES);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void find_cases(void)
{
	DIR *d = opendir(CASE_DIR);
	struct dirent *e;
	size_t a = 0;
	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n <= 7 || strcmp(e->d_name + n - 7, ".events"))
			continue;
		if (ncases == a) {
			a = a ? a * 2 : 32;
			case_names = realloc(case_names, a * sizeof(*case_names));
		}
		char *name = malloc(n - 7 + 1);
		memcpy(name, e->d_name, n - 7);
		name[n - 7] = '\0';
		case_names[ncases++] = name;
	}
	closedir(d);
	if (ncases)
		qsort(case_names, ncases, sizeof(*case_names), cmp_str);
}

int main(void)
{
	find_cases();
	struct CMUnitTest *tests = calloc(ncases + 1, sizeof(*tests));
	char **paths = calloc(ncases + 1, sizeof(*paths));
	tests[0].name = "fold_cases_exist";
	tests[0].test_func = fold_cases_exist;
	for (size_t i = 0; i < ncases; i++) {
		size_t n = strlen(CASE_DIR) + strlen(case_names[i]) + 2;
		paths[i] = malloc(n);
		snprintf(paths[i], n, "%s/%s", CASE_DIR, case_names[i]);
		tests[i + 1].name = case_names[i];
		tests[i + 1].test_func = fold_case;
		tests[i + 1].initial_state = paths[i];
	}
	int rc = _cmocka_run_group_tests("fold", tests, ncases + 1, NULL, NULL);
	for (size_t i = 0; i < ncases; i++) {
		free(paths[i]);
		free(case_names[i]);
	}
	free(paths);
	free(case_names);
	free(tests);
	return rc;
}

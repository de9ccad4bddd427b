/*
 * State files read lazily: the fast road of reads and writes. A model file
 * or production.json in the layout mreg's own writer gives it (statefile.c:
 * one member per line, fixed indentation, strings without raw newlines) is
 * not parsed whole: each version is found by its indentation and kept as
 * its bytes (mreg_version.raw), with only the fields a fold or a listing
 * needs read out of them (version, claimed, ref, stage, updated_at,
 * metrics), and a read of one version skips straight to it. Anything else
 * is parsed when needed (mreg_version_materialize). A file in another
 * layout is answered with 1, and the caller reads it with the full readers
 * of stateread.c, which trust nothing.
 */
#define _GNU_SOURCE /* memmem, stpcpy */
#include "state.h"

#include <stdlib.h>
#include <string.h>

/* Also in stateread.c: the two change together. */
#define BAD(what) mreg_error_set(MREG_ECORRUPT, "corrupt state file: %s", what)

static long number_after(const char *start, const char *end, const char *key);
static double number_at(const char *p, const char *end);
static long count_at(const char *p, const char *end);

/* A string value after key (our layout: "key": "value"), into out. */
static int string_after(char *out, size_t size, const char *start, const char *end, const char *key)
{
	size_t kn = strlen(key);
	const char *p = start < end ? memmem(start, (size_t)(end - start), key, kn) : NULL;
	if (!p)
		return -1;
	const char *q = p + kn, *e = memchr(q, '"', (size_t)(end - q));
	if (!e || (size_t)(e - q) >= size)
		return -1;
	memcpy(out, q, (size_t)(e - q));
	out[e - q] = '\0';
	return 0;
}

/* A string value (our layout: "key": "value",) starting at q, into out. */
static int string_at(char *out, size_t size, const char *q, const char *eol)
{
	if (q >= eol || *q != '"')
		return -1;
	const char *e = memchr(q + 1, '"', (size_t)(eol - q - 1));
	if (!e || (size_t)(e - q - 1) >= size)
		return -1;
	memcpy(out, q + 1, (size_t)(e - q - 1));
	out[e - q - 1] = '\0';
	return 0;
}

/*
 * An object at depth 2 as our writer lays it out (a version in a model
 * file, a row of registry.json), line by line: each call moves to the next
 * line, false at the object's closing line ("    }": close is just past
 * it) or at the end of the bytes.
 */
typedef struct {
	const char *start, *end;	/* the object's "{", the end of the bytes */
	const char *line, *eol;		/* the line read, and its end */
	const char *close;
} obj_lines;

static bool next_line(obj_lines *o)
{
	o->line = o->line ? o->eol + 1 : o->start;
	if (o->line >= o->end)
		return false;
	const char *nl = memchr(o->line, '\n', (size_t)(o->end - o->line));
	o->eol = nl ? nl : o->end;
	if (o->line > o->start && o->eol - o->line >= 5 && !memcmp(o->line, "    }", 5)) {
		o->close = o->line + 5;
		return false;
	}
	return true;
}

/* The member on o's line when it is indented by indent spaces: its key (kn bytes) and value, past `": `. */
static bool member_of(const obj_lines *o, size_t indent, const char **key, size_t *kn, const char **val)
{
	size_t len = (size_t)(o->eol - o->line);
	if (len <= indent + 1 || o->line[indent] != '"' || strspn(o->line, " ") != indent)
		return false;
	*key = o->line + indent + 1;
	const char *q = memchr(*key, '"', len - indent - 1);
	*kn = q ? (size_t)(q - *key) : 0;
	*val = q && o->eol - q > 3 ? q + 3 : o->eol;
	return true;
}

/*
 * The cheap fields of one version object as our writer lays it out in a
 * model file, in one pass over its lines: the version's own keys are
 * indented 6 spaces, the metrics' 8 (and only lines inside "metrics" are
 * read as metrics), and the object ends at the first line that starts with
 * 4 spaces and '}'. Strings hold no raw newline, so a line is never part of
 * a value that merely looks like a key. The bytes used, or <0.
 */
static long read_version_lazy(mreg_version *v, const char *p, const char *end)
{
	obj_lines o = { p, end, NULL, NULL, NULL };
	char stage[16] = "";
	long ver = -1, claimed = -1;
	bool in_metrics = false;
	const char *key, *val;
	size_t kn;
	v->ref[0] = v->updated_at[0] = '\0';
	while (next_line(&o)) {
		const char *eol = o.eol;
		if (in_metrics) {
			if (eol - o.line >= 7 && !memcmp(o.line, "      }", 7)) {
				in_metrics = false;
			} else if (member_of(&o, 8, &key, &kn, &val)) {
				for (int i = 0; kn && i < MREG_METRIC_COUNT; i++) {
					const char *name = mreg_metric_name((mreg_metric)i);
					if (kn == strlen(name) && !memcmp(key, name, kn) && val < eol &&
					    !(eol - val >= 4 && !memcmp(val, "null", 4))) {
						v->metrics.v[i] = number_at(val, eol);
						v->metrics.present |= 1u << i;
					}
				}
			}
		} else if (member_of(&o, 6, &key, &kn, &val)) {
#define KEY(s) (kn == sizeof(s) - 1 && !memcmp(key, s, kn))
			if (KEY("version"))
				ver = count_at(val, eol);
			else if (KEY("claimed_version"))
				claimed = count_at(val, eol);
			else if (KEY("ref") && string_at(v->ref, sizeof(v->ref), val, eol) < 0)
				return BAD("version in a model file");
			else if (KEY("stage") && string_at(stage, sizeof(stage), val, eol) < 0)
				return BAD("version in a model file");
			else if (KEY("updated_at") && string_at(v->updated_at, sizeof(v->updated_at), val, eol) < 0)
				return BAD("version in a model file");
			else if (KEY("metrics"))
				in_metrics = *val == '{' && !(val + 1 < eol && val[1] == '}');
#undef KEY
		}
	}
	const char *close = o.close;
	if (!close || *p != '{' || ver < 1 || claimed < 1 || !v->ref[0] || !v->updated_at[0] ||
	    (v->stage = mreg_stage_parse(stage)) == MREG_STAGE_NONE)
		return BAD("version in a model file");
	v->version = (int)ver;
	v->claimed = (int)claimed;
	v->metrics.present |= 1u << MREG_METRIC_GAMES_PLAYED;
	v->raw = p;	/* into the model's rawbuf */
	v->rawlen = (size_t)(close - p);
	v->rawowned = false;
	return (long)v->rawlen;
}

/*
 * Our writer's layout of a model file: the versions array comes last, at
 * "\n  \"versions\": [", and each version object ends at the first
 * "\n    }" after it (nested values are indented deeper; strings hold no raw
 * newline). versions_key finds the array; read_version_lazy steps through
 * it, one object at a time.
 */
static const char versions_key[] = "\n  \"versions\": [";


/*
 * Versions of a model file, each kept as its bytes (see mreg_version.raw),
 * which stay in buf: the caller keeps it alive while the model lives.
 */
static int read_model_lazy(mreg_model *m, const char *buf, size_t len)
{
	const char *data = buf, *end = data + len;
	const char *k = memmem(data, len, versions_key, sizeof(versions_key) - 1);
	char last[33];
	if (!k || string_after(last, sizeof(last), data, k, "\n  \"last_event\": \"") < 0 ||
	    number_after(data, k, "\n  \"format\": ") != MREG_STATE_FORMAT)
		return 1;	/* not our layout: parse it all (and refuse another format) */
	if (strcmp(last, m->last_event))
		return BAD("model file is older than the registry summary");
	int rc = mreg_model_row_materialize(m);
	if (rc < 0)
		return rc;
	/* the summary's count sizes the array: no more than the file could hold ("{}," at least each) */
	if (m->nversions < 0 || (size_t)m->nversions > len / 3)
		return BAD("model file does not match the registry summary");
	mreg_model_unload(m);
	if (m->nversions && !(m->versions = calloc((size_t)m->nversions, sizeof(*m->versions))))
		return mreg_error_set(MREG_ERROR, "out of memory");
	m->loaded = true;
	m->rawsrc = buf;
	m->rawsrclen = len;
	m->aversions = (size_t)m->nversions;
	int want = m->nversions;
	m->nversions = 0;
	const char *p = k + sizeof(versions_key) - 1;
	for (;;) {
		while (p < end && (*p == ' ' || *p == '\n' || *p == ','))
			p++;
		if (p < end && *p == ']')
			break;
		if (p >= end || *p != '{' || m->nversions >= want) {
			rc = BAD("model file does not match the registry summary");
			break;
		}
		long used = read_version_lazy(&m->versions[m->nversions++], p, end);
		if (used < 0) {
			rc = (int)used;
			break;
		}
		p += used;
	}
	if (rc == 0 && m->nversions != want)
		rc = BAD("model file does not match the registry summary");
	if (rc == 0)
		rc = mreg_model_prod_from_versions(m);
	if (rc == 0)
		rc = mreg_state_check_model(m);
	if (rc < 0) {
		mreg_model_unload(m);	/* versions only pointed into buf: the caller still owns it */
		m->nversions = want;
		return rc;
	}
	return 0;
}

int mreg_state_borrow_model(mreg_state *st, const char *data, size_t len)
{
	const char *id_key = "\n  \"model_id\": \"";
	char id[MREG_ID_MAX + 1];
	mreg_model *m;
	if (string_after(id, sizeof(id), data, data + (len < 512 ? len : 512), id_key) == 0 &&
	    (m = mreg_state_model(st, id)))
		return read_model_lazy(m, data, len);
	return 1;
}

int mreg_state_adopt_model(mreg_state *st, char *buf, size_t len)
{
	int rc = mreg_state_borrow_model(st, buf, len);
	if (rc == 0) {
		const char *id_key = "\n  \"model_id\": \"";
		char id[MREG_ID_MAX + 1];
		string_after(id, sizeof(id), buf, buf + (len < 512 ? len : 512), id_key);
		mreg_state_model(st, id)->rawbuf = buf;
		return 0;
	}
	if (rc == 1)
		rc = mreg_state_read_model(st, buf, len, false);
	free(buf);
	return rc;
}

static double number_at(const char *p, const char *end)
{
	/* digits alone (counts, clocks), up to 15 of them: exact as a double, the value strtod gives */
	size_t d = 0;
	uint64_t v = 0;
	while (p + d < end && d < 16 && p[d] >= '0' && p[d] <= '9')
		v = v * 10 + (uint64_t)(p[d++] - '0');
	if (d && d < 16 && (p + d == end || !strchr("0123456789+-.eE", p[d]) || !p[d]))
		return (double)v;
	char tmp[40];
	size_t n = 0;
	while (p + n < end && n < sizeof(tmp) - 1 && p[n] && strchr("0123456789+-.eE", p[n]))
		n++;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	return n ? strtod(tmp, NULL) : -1;
}

/* A whole number from 0 to INT_MAX that starts at p, else -1 (none there, or out of range). */
static long count_at(const char *p, const char *end)
{
	double v = number_at(p, end);
	return v >= 0 && v <= 2147483647.0 ? (long)v : -1;
}

static long number_after(const char *start, const char *end, const char *key)
{
	size_t kn = strlen(key);
	const char *p = start < end ? memmem(start, (size_t)(end - start), key, kn) : NULL;
	return p ? count_at(p + kn, end) : -1;
}

/*
 * The version object whose "version" key (at a version object's depth, 6
 * spaces: deeper keys are indented more, and strings hold no raw newline)
 * says version, between p and end: found with one search for the key and
 * its number, not by stepping through every version before it.
 */
static const char *find_version_obj(size_t *n, const char *p, const char *end, long version)
{
	char key[48];
	char *k = stpcpy(key, "\n      \"version\": ");
	char digits[24];
	int nd = 0;
	for (unsigned long v = (unsigned long)version; nd == 0 || v; v /= 10)
		digits[nd++] = (char)('0' + v % 10);
	while (nd)
		*k++ = digits[--nd];
	*k++ = ',';
	size_t kn = (size_t)(k - key);
	const char *at = p < end ? memmem(p, (size_t)(end - p), key, kn) : NULL;
	if (!at)
		return NULL;
	const char *open = at;
	while (open > p && memcmp(open, "\n    {", 6))
		open--;
	const char *close = memmem(at, (size_t)(end - at), "\n    }", 6);
	if (memcmp(open, "\n    {", 6) || !close)
		return NULL;
	open += 5;	/* at the brace, as next_version gives it */
	*n = (size_t)(close + 6 - open);
	return open;
}

int mreg_state_read_model_version(mreg_state **out, const char *data, size_t len, int version)
{
	const char *end = data + len, *best = NULL;
	size_t bestlen = 0;
	mreg_buf doc = MREG_BUF_INIT;
	int rc;

	const char *k = memmem(data, len, versions_key, sizeof(versions_key) - 1);
	if (!k)
		return mreg_state_read_model_alone(out, data, len);
	long latest = number_after(data, k, "\n  \"latest_version\": ");
	long want = version ? version : latest;
	const char *p = k + sizeof(versions_key) - 1;
	if (want > 0)
		best = find_version_obj(&bestlen, p, end, want);
	if (!best && want > 0 && version == 0)
		return mreg_state_read_model_alone(out, data, len);	/* the latest must be there: not our layout */
	mreg_buf_put(&doc, data, (size_t)(k - data));
	mreg_buf_put(&doc, versions_key, sizeof(versions_key) - 1);
	if (best)
		mreg_buf_put(&doc, best, bestlen);
	mreg_buf_puts(&doc, "]\n}\n");
	if (mreg_buf_oom(&doc))
		return mreg_error_set(MREG_ERROR, "out of memory");
	rc = mreg_state_read_model_alone(out, doc.ptr, doc.size);
	mreg_buf_dispose(&doc);
	if (rc == 0 && (*out)->nmodels == 1 && latest > 0)
		(*out)->models[0]->latest = (int)latest;
	return rc;
}

int mreg_state_borrow_production(mreg_state **out, const char *data, size_t len)
{
	static const char key[] = "\n  \"models\": {";
	const char *end = data + len, *k = memmem(data, len, key, sizeof(key) - 1);
	mreg_state *st = NULL;
	int rc;

	*out = NULL;
	if (!k || number_after(data, k, "\n  \"format\": ") != MREG_STATE_FORMAT)
		return 1;
	if ((rc = mreg_state_new(&st)) < 0)
		goto done;
	const char *p = k + sizeof(key) - 1;
	for (;;) {
		const char *q = memmem(p, (size_t)(end - p), "\n    \"", 6);
		if (!q)
			break;
		q += 6;
		const char *qe = memchr(q, '"', (size_t)(end - q));
		const char *open = qe ? memmem(qe, (size_t)(end - qe), "{", 1) : NULL;
		const char *close = open ? memmem(open, (size_t)(end - open), "\n    }", 6) : NULL;
		char id[MREG_ID_MAX + 1], type[32];
		if (!close || (size_t)(qe - q) > MREG_ID_MAX) {
			rc = BAD("production.json entry");
			goto done;
		}
		memcpy(id, q, (size_t)(qe - q));
		id[qe - q] = '\0';
		mreg_model *m;
		if (mreg_id_problem(id)) {
			rc = BAD("production.json model id");
			goto done;
		}
		if ((rc = mreg_state_model_add(&m, st, id)) < 0)
			goto done;
		if (m->prod) {
			rc = BAD("production.json lists a model twice");
			goto done;
		}
		size_t n = (size_t)(close + 6 - open);
		m->loaded = false;
		m->name = mreg_strdup("");	/* in the version's bytes; listings print the id */
		m->description = mreg_strdup("");
		if (!m->name || !m->description || !(m->prod = calloc(1, sizeof(*m->prod)))) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
			goto done;
		}
		if (string_after(type, sizeof(type), open, open + n, "\n      \"model_type\": \"") < 0 ||
		    (m->type = mreg_type_parse(type)) == MREG_TYPE_NONE) {
			rc = BAD("production.json model type");
			goto done;
		}
		long used = read_version_lazy(m->prod, open, open + n);
		if (used < 0) {
			rc = (int)used;
			goto done;
		}
		m->latest = m->prod->version;
		p = close + 6;
	}
	*out = st;
	st = NULL;
	rc = 0;
done:
	mreg_state_free(st);
	return rc;
}

/*
 * registry.json for a write: the head (every member before model_list,
 * which our writer puts last) parsed in full, the rows kept as their
 * bytes (mreg_model.row). Each row is an object at depth 2, from "{" to
 * the first "\n    }" after it; only the fields a write reads of a model
 * it does not load are read out of it.
 */
static const char rows_key[] = ",\n  \"model_list\": [";

/* A clock: a whole number no larger than 2^53 (the parser's bound), else -1. */
static long clock_at(const char *p, const char *end)
{
	double v = number_at(p, end);
	return v >= 0 && v <= 9007199254740992.0 && v == (double)(long)v ? (long)v : -1;
}

static int read_row_lazy(mreg_state *st, const char *p, const char *end, const char **next)
{
	obj_lines o = { p, end, NULL, NULL, NULL };
	char id[MREG_ID_MAX + 1] = "", last[33] = "";
	long versions = -1, latest = -1, clock = -1, prod = -1;
	const char *key, *val;
	size_t kn;
	mreg_model *m;
	int rc;
	while (next_line(&o)) {
		if (!member_of(&o, 6, &key, &kn, &val))
			continue;
#define KEY(s) (kn == sizeof(s) - 1 && !memcmp(key, s, kn))
		if (KEY("model_id") && string_at(id, sizeof(id), val, o.eol) < 0)
			return BAD("model row");
		else if (KEY("last_event") && string_at(last, sizeof(last), val, o.eol) < 0)
			return BAD("model row");
		else if (KEY("versions"))
			versions = count_at(val, o.eol);
		else if (KEY("latest_version"))
			latest = count_at(val, o.eol);
		else if (KEY("clock"))
			clock = clock_at(val, o.eol);
		else if (KEY("production_version"))
			prod = count_at(val, o.eol);
#undef KEY
	}
	const char *close = o.close;
	if (!close || !id[0] || mreg_id_problem(id) || versions < 0 || latest < 0 || clock < 0 || prod < 0 || !last[0])
		return BAD("model row");
	if (st->nmodels && strcmp(st->models[st->nmodels - 1]->id, id) >= 0)
		return BAD("model_list is not sorted");
	if ((rc = mreg_state_model_add(&m, st, id)) < 0)
		return rc;
	memcpy(m->last_event, last, sizeof(last));
	m->loaded = false;
	m->nversions = (int)versions;
	m->latest = (int)latest;
	m->clock = clock;
	m->summary_prod = (int)prod;
	m->row = p;
	m->rowlen = (size_t)(close - p);
	*next = close;
	return 0;
}

/* A new state from the head of registry.json alone (buf up to k, where model_list starts), closed. */
static int read_head(mreg_state **out, const char *buf, const char *k)
{
	size_t hn = (size_t)(k - buf);
	char *head = malloc(hn + 3);
	int rc;
	*out = NULL;
	if (!head)
		return mreg_error_set(MREG_ERROR, "out of memory");
	memcpy(head, buf, hn);
	memcpy(head + hn, "\n}", 3);
	cJSON *doc = cJSON_ParseWithLength(head, hn + 2);
	free(head);
	if (!cJSON_IsObject(doc))
		rc = BAD("registry.json does not parse");
	else if ((rc = mreg_state_new(out)) == 0)
		rc = mreg_state_read_registry_head(*out, doc);
	cJSON_Delete(doc);
	return rc;
}

/* The rows of model_list kept where they lie, in buf (which the state does not take). */
static int read_rows(mreg_state **out, const char *buf, size_t len)
{
	const char *end = buf + len, *k = memmem(buf, len, rows_key, sizeof(rows_key) - 1);
	mreg_state *st = NULL;
	int rc;
	*out = NULL;
	if (!k)
		return 1;	/* not our layout: the full reader */
	rc = read_head(&st, buf, k);
	const char *p = k + sizeof(rows_key) - 1;
	while (rc == 0) {
		while (p < end && (*p == ' ' || *p == '\n' || *p == ','))
			p++;
		if (p < end && *p == ']')
			break;
		rc = p < end && *p == '{' ? read_row_lazy(st, p, end, &p) : BAD("model_list");
	}
	/* after the array's "]" nothing but the document's "}" (and a newline) */
	if (rc == 0) {
		const char *q = p + 1;
		while (q < end && (*q == ' ' || *q == '\n'))
			q++;
		if (q >= end || *q != '}' || (end - q > 1 && !(end - q == 2 && q[1] == '\n')))
			rc = BAD("registry.json after model_list");
	}
	if (rc == 0) {
		st->rowsrc = buf;
		st->rowsrclen = len;
		*out = st;
		st = NULL;
	}
	mreg_state_free(st);
	return rc;
}

int mreg_state_read_registry_rows(mreg_state **out, char *buf, size_t len)
{
	int rc = read_rows(out, buf, len);
	if (rc == 0)
		(*out)->rowbuf = buf;
	return rc;
}

int mreg_state_borrow_registry_rows(mreg_state **out, const char *data, size_t len)
{
	return read_rows(out, data, len);
}

int mreg_state_read_registry_row(mreg_state **out, const char *data, size_t len, const char *id)
{
	const char *end = data + len, *k = memmem(data, len, rows_key, sizeof(rows_key) - 1);
	mreg_state *st = NULL;
	*out = NULL;
	if (!k)
		return 1;	/* not our layout: the full reader */
	int rc = read_head(&st, data, k);
	/*
	 * The row's first line, with the newlines and indents of our writer:
	 * no string in the file holds a raw newline, and an id needs no
	 * escape, so past the head (whose rollback records begin the same
	 * way) these bytes are found at the row's start and nowhere else.
	 */
	char *want = NULL;
	const char *at = NULL, *close = NULL;
	if (rc == 0 && mreg_id_problem(id))
		rc = 1;	/* no row of it: the full reader says so */
	else if (rc == 0 && !(want = mreg_strfmt("\n    {\n      \"model_id\": \"%s\",\n", id)))
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	if (rc == 0 && !(at = memmem(k, (size_t)(end - k), want, strlen(want))))
		rc = 1;	/* not there, or its first line damaged: for the full reader to tell */
	if (rc == 0 && !(close = memmem(at, (size_t)(end - at), "\n    }", 6)))
		rc = BAD("model row");
	if (rc == 0) {
		/* the row's bytes, copied: the state keeps them as a write's rows are kept */
		size_t n = (size_t)(close + 6 - (at + 5));
		char *buf = malloc(n + 1);
		const char *next;
		if (!buf) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
		} else {
			memcpy(buf, at + 5, n);
			buf[n] = '\0';
			st->rowbuf = buf;
			st->rowsrc = buf;
			st->rowsrclen = n;
			rc = read_row_lazy(st, buf, buf + n, &next);
		}
		/* a row that names another model further down (only a hand's edit) is no row of id */
		if (rc == 0 && strcmp(st->models[0]->id, id))
			rc = BAD("model row");
	}
	free(want);
	if (rc == 0) {
		*out = st;
		st = NULL;
	}
	mreg_state_free(st);
	return rc;
}

int mreg_state_rows_materialize(mreg_state *st)
{
	int rc = 0;
	for (size_t i = 0; i < st->nmodels && rc == 0; i++)
		rc = mreg_model_row_materialize(st->models[i]);
	return rc;
}

/*
 * The rules of an event, one set for the writer and the parser (event.c):
 * the payload tables of the newer types and the checks of each member, the
 * rules every value keeps wherever it sits (UTF-8, sizes, depth, no key
 * twice, finite numbers), the checks of a whole document's bytes, and the
 * field rules of each type. All of them read the one table of limits in
 * event.h, so an event mreg writes always parses, and an event it parses
 * could have been written by it.
 */
#include "eventcheck.h"
#include "num.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- bodies of the newer types -------------------------------------- */

typedef enum {
	K_TEXT,		/* a string, may be empty */
	K_NAME,		/* a non-empty string of MREG_NAME_MAX bytes at most */
	K_ID,		/* a model id */
	K_HEX,		/* an event id: 32 hex digits */
	K_COUNT,	/* a whole number >= 0 */
	K_VERSION,	/* a whole number >= 1 */
	K_NUM,		/* a finite number */
	K_BOOL,
	K_NAMES,	/* an array of distinct non-empty names */
	K_OBJ,		/* an object, any members */
	K_METRICS,	/* an object of known metrics */
	K_ENUM		/* one of choices */
} body_kind;

typedef struct {
	const char *key;
	body_kind kind;
	bool required;
	const char *const *choices;
} body_field;

static const char *const validation_actions[] = { "create", "queue", "start", "pass", "fail", NULL };
static const char *const severities[] = { "minor", "moderate", "severe", "critical", NULL };

/* Where a member is listed here it is written; add new ones at the end of a list. */
static const body_field body_fields[MREG_EV_COUNT][12] = {
	[MREG_EV_VALIDATION] = {
		{ "action", K_ENUM, true, validation_actions },
		{ "baselines", K_NAMES, false, NULL },
		{ "games_per_matchup", K_VERSION, false, NULL },
		{ "work_id", K_NAME, false, NULL },
		{ "results", K_OBJ, false, NULL },
	},
	[MREG_EV_COMPARISON] = {
		{ "b_model", K_ID, true, NULL },
		{ "b_ref", K_HEX, true, NULL },
		{ "b_version", K_VERSION, true, NULL },
		{ "games", K_COUNT, true, NULL },
		{ "a_wins", K_COUNT, true, NULL },
		{ "b_wins", K_COUNT, true, NULL },
		{ "draws", K_COUNT, true, NULL },
		{ "elo_diff", K_NUM, false, NULL },
		{ "notes", K_TEXT, false, NULL },
	},
	[MREG_EV_BASELINE] = {
		{ "elo", K_NUM, false, NULL },
		{ "win_rate", K_NUM, false, NULL },
		{ "games_played", K_COUNT, false, NULL },
		{ "name", K_NAME, false, NULL },
	},
	[MREG_EV_ROLLBACK] = {
		{ "from_ref", K_HEX, true, NULL },
		{ "from_version", K_VERSION, true, NULL },
		{ "reason", K_TEXT, true, NULL },
		{ "trigger", K_NAME, true, NULL },
		{ "from_metrics", K_METRICS, true, NULL },
		{ "to_metrics", K_METRICS, true, NULL },
	},
	[MREG_EV_ROLLBACK_REQUESTED] = {
		{ "severity", K_ENUM, true, severities },
		{ "elo_drop", K_NUM, true, NULL },
		{ "reason", K_TEXT, true, NULL },
	},
	[MREG_EV_ROLLBACK_CLEARED] = {
		{ "reason", K_TEXT, true, NULL },
	},
	[MREG_EV_QUALITY] = {
		{ "score", K_NUM, true, NULL },
		{ "threshold", K_NUM, true, NULL },
		{ "reason", K_TEXT, true, NULL },
	},
	[MREG_EV_CHECKED] = {
		{ "degraded", K_BOOL, true, NULL },
		{ "reason", K_TEXT, true, NULL },
	},
};

const char *mreg_eventcheck_body_key(mreg_event_type t, size_t i)
{
	if (!mreg_event_has_body(t) || i >= sizeof(body_fields[0]) / sizeof(body_fields[0][0]))
		return NULL;
	return body_fields[t][i].key;
}

static int check_member(const body_field *f, const cJSON *v)
{
	switch (f->kind) {
	case K_TEXT:
	case K_NAME:
	case K_ID:
	case K_HEX:
	case K_ENUM:
		if (!cJSON_IsString(v))
			return mreg_error_set(MREG_EINVALID, "invalid event: '%s' must be a string", f->key);
		break;
	case K_COUNT:
	case K_VERSION:
		if (!cJSON_IsNumber(v) || !mreg_num_is_int(v->valuedouble) || v->valuedouble < (f->kind == K_VERSION) ||
		    v->valuedouble > (f->kind == K_VERSION ? (double)(1 << 30) : 1e15))
			return mreg_error_set(MREG_EINVALID, "invalid event: '%s' must be a whole number%s", f->key,
					      f->kind == K_VERSION ? " from 1" : " from 0");
		return 0;
	case K_NUM:
		if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
			return mreg_error_set(MREG_EINVALID, "invalid event: '%s' must be a number", f->key);
		return 0;
	case K_BOOL:
		if (!cJSON_IsBool(v))
			return mreg_error_set(MREG_EINVALID, "invalid event: '%s' must be true or false", f->key);
		return 0;
	case K_NAMES: {
		const cJSON *c, *e;
		if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > MREG_BASELINES_MAX)
			return mreg_error_set(MREG_EINVALID, "invalid event: '%s' must be a list of %d names at most",
					      f->key, MREG_BASELINES_MAX);
		cJSON_ArrayForEach(c, v) {
			if (!cJSON_IsString(c) || !c->valuestring[0] || strlen(c->valuestring) > MREG_NAME_MAX)
				return mreg_error_set(MREG_EINVALID, "invalid event: '%s' must hold non-empty names",
						      f->key);
			for (e = v->child; e != c; e = e->next)
				if (!strcmp(e->valuestring, c->valuestring))
					return mreg_error_set(MREG_EINVALID, "invalid event: '%s' names '%s' twice",
							      f->key, c->valuestring);
		}
		return 0;
	}
	case K_OBJ:
		if (!cJSON_IsObject(v))
			return mreg_error_set(MREG_EINVALID, "invalid event: '%s' must be an object", f->key);
		return 0;
	case K_METRICS: {
		mreg_metrics m;
		const cJSON *c;
		if (!cJSON_IsObject(v))
			return mreg_error_set(MREG_EINVALID, "invalid event: '%s' must be an object", f->key);
		cJSON_ArrayForEach(c, v)
			if (mreg_metric_parse(c->string) < 0)
				return mreg_error_set(MREG_EINVALID, "invalid event: unknown metric '%s' in '%s'",
						      c->string, f->key);
		memset(&m, 0, sizeof(m));
		return mreg_metrics_from_json(&m, v, f->key);
	}
	}
	const char *s = v->valuestring;
	size_t n = strlen(s);
	if (f->kind == K_TEXT ? n > MREG_STRING_MAX : (n == 0 || n > MREG_NAME_MAX))
		return mreg_error_set(MREG_EINVALID, "invalid event: '%s' must be %s%d bytes at most", f->key,
				      f->kind == K_TEXT ? "" : "non-empty, ",
				      f->kind == K_TEXT ? MREG_STRING_MAX : MREG_NAME_MAX);
	if (f->kind == K_ID)
		return mreg_id_check(s);
	if (f->kind == K_HEX && (n != 32 || strspn(s, "0123456789abcdef") != 32))
		return mreg_error_set(MREG_EINVALID, "invalid event: '%s' is not 32 hex digits", f->key);
	if (f->kind == K_ENUM) {
		for (const char *const *c = f->choices; *c; c++)
			if (!strcmp(*c, s))
				return 0;
		return mreg_error_set(MREG_EINVALID, "invalid event: '%s' cannot be '%s'", f->key, s);
	}
	return 0;
}

/* Rules that tie members together. */
static int check_body_rules(const mreg_event *ev)
{
	const char *s;
	switch (ev->type) {
	case MREG_EV_VALIDATION:
		s = mreg_event_body_str(ev, "action");
		if (strcmp(s, "create") && (mreg_event_body_has(ev, "baselines") ||
					    mreg_event_body_has(ev, "games_per_matchup")))
			return mreg_error_set(MREG_EINVALID, "invalid event: only 'create' sets baselines and games");
		if (!strcmp(s, "queue") != mreg_event_body_has(ev, "work_id"))
			return mreg_error_set(MREG_EINVALID, "invalid event: 'queue' and only 'queue' sets a work id");
		if (strcmp(s, "pass") && strcmp(s, "fail") && mreg_event_body_has(ev, "results"))
			return mreg_error_set(MREG_EINVALID, "invalid event: only 'pass' and 'fail' set results");
		break;
	case MREG_EV_COMPARISON: {
		/* wins and draws may exceed games: the original never checked, and rates are over their sum */
		if (!strcmp(mreg_event_body_str(ev, "b_ref"), ev->ref))
			return mreg_error_set(MREG_EINVALID, "invalid comparison: a version against itself");
		break;
	}
	case MREG_EV_ROLLBACK:
		if (!strcmp(mreg_event_body_str(ev, "from_ref"), ev->ref))
			return mreg_error_set(MREG_EINVALID, "invalid rollback: a version replacing itself");
		break;
	case MREG_EV_QUALITY:
		/* a score and the threshold it was judged by are fractions, as the original's quality_score */
		if (!(mreg_event_body_num(ev, "score", -1) >= 0 && mreg_event_body_num(ev, "score", -1) <= 1) ||
		    !(mreg_event_body_num(ev, "threshold", -1) >= 0 && mreg_event_body_num(ev, "threshold", -1) <= 1))
			return mreg_error_set(MREG_EINVALID, "invalid quality report: score and threshold must be from 0 to 1");
		break;
	default:
		break;
	}
	return 0;
}

static int check_body(const mreg_event *ev)
{
	const body_field *fields = body_fields[ev->type];
	const cJSON *c = ev->body ? ev->body->child : NULL;
	int rc;
	if (!cJSON_IsObject(ev->body))
		return mreg_error_set(MREG_EINVALID, "invalid event: no payload");
	/* members in table order, each known, required ones present */
	for (const body_field *f = fields; f->key; f++) {
		if (c && !strcmp(c->string, f->key)) {
			if ((rc = check_member(f, c)) < 0)
				return rc;
			c = c->next;
		} else if (f->required) {
			return mreg_error_set(MREG_EINVALID, "invalid event: '%s' is missing", f->key);
		}
	}
	if (c)
		return mreg_error_set(MREG_EINVALID, "invalid event: unknown or misplaced key '%s'", c->string);
	return check_body_rules(ev);
}

/* ---- the rules of every value --------------------------------------- */

/*
 * What holds for every value in an event, wherever it sits: strings and
 * keys are valid UTF-8 of MREG_STRING_MAX bytes at most, no key appears
 * twice in one object, numbers are finite, nothing is nested deeper than
 * MREG_EVENT_MAX_DEPTH. The parser checks a whole document with this code;
 * the writer checks each value it was given (training config, payload) at
 * the depth it will be written at, then the bytes it wrote, so the two
 * cannot disagree. The work is linear in the size of the value, but for
 * sorting the keys of a large object once to find twins.
 *
 * Control characters are allowed: the serializer escapes them and the
 * parser reads the escapes back to the same bytes. NUL is not: a C string
 * cannot hold one, so mreg never writes "\u0000", and the parser refuses it.
 */
static int value_refused(const mreg_eventcheck_ctx *vc, const char *fmt, ...)
{
	mreg_buf b = MREG_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	mreg_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	int rc = mreg_error_set(MREG_EINVALID, "invalid %s %s'%s': %s", vc->what, vc->for_subject ? "for " : "",
				vc->subject, b.ptr);
	mreg_buf_dispose(&b);
	return rc;
}

static int check_text(const mreg_eventcheck_ctx *vc, const char *s, const char *kind)
{
	size_t n = strlen(s);
	if (n > MREG_STRING_MAX)
		return value_refused(vc, "a %s is longer than %d bytes", kind, MREG_STRING_MAX);
	if (mreg_utf8_valid(s, n) != n)
		return value_refused(vc, "a %s is not valid UTF-8", kind);
	return 0;
}

static int cmp_keys(const void *a, const void *b)
{
	return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* A key twice in one object: compared in pairs in a small object, sorted once in a large one. */
static int check_twins(const mreg_eventcheck_ctx *vc, const cJSON *obj)
{
	const cJSON *c, *e;
	size_t n = 0, i = 0;
	int rc = 0;
	for (c = obj->child; c; c = c->next)
		n++;
	if (n <= 16) {
		/* the first bytes first: most keys differ there, and a fold checks every event's */
		for (c = obj->child; c; c = c->next)
			for (e = obj->child; e != c; e = e->next)
				if (e->string[0] == c->string[0] && !strcmp(e->string, c->string))
					return value_refused(vc, "duplicate key '%s'", c->string);
		return 0;
	}
	const cJSON **keys = malloc(n * sizeof(*keys));
	if (!keys)
		return mreg_error_set(MREG_ERROR, "out of memory");
	for (c = obj->child; c; c = c->next)
		keys[i++] = c;
	qsort(keys, n, sizeof(*keys), cmp_keys);
	for (i = 1; i < n && rc == 0; i++)
		if (!strcmp(keys[i - 1]->string, keys[i]->string))
			rc = value_refused(vc, "duplicate key '%s'", keys[i]->string);
	free(keys);
	return rc;
}

/* v and everything in it, v being at depth (the event itself is at 0). */
static int check_value(const mreg_eventcheck_ctx *vc, const cJSON *v, int depth)
{
	const cJSON *c;
	int rc;
	if (depth > MREG_EVENT_MAX_DEPTH)
		return value_refused(vc, "nested deeper than %d", MREG_EVENT_MAX_DEPTH);
	if (cJSON_IsString(v))
		return check_text(vc, v->valuestring ? v->valuestring : "", "string");
	if (cJSON_IsNumber(v) && !isfinite(v->valuedouble))
		return value_refused(vc, "a number is out of range");
	if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
		return 0;
	for (c = v->child; c; c = c->next) {
		if (cJSON_IsObject(v) && !c->string)
			return value_refused(vc, "a member has no key");
		if (cJSON_IsObject(v) && (rc = check_text(vc, c->string, "key")) < 0)
			return rc;
		if ((rc = check_value(vc, c, depth + 1)) < 0)
			return rc;
	}
	return cJSON_IsObject(v) ? check_twins(vc, v) : 0;
}

/* "\u0000" outside any other escape: cJSON would cut the string there. */
static bool has_escaped_nul(const char *data, size_t len)
{
	const char *p = data, *end = data + len;
	while ((p = memchr(p, '\\', (size_t)(end - p)))) {
		if (end - p >= 6 && !memcmp(p + 1, "u0000", 5))
			return true;
		if (end - p < 3)
			break;
		p += 2;	/* past the escaped character: "\\u0000" is a backslash and text */
	}
	return false;
}

/*
 * What the parser checks of the bytes of a whole event before its fields:
 * size, NUL, one JSON value and nothing after it, and the rules of every
 * value. The writer runs it on the bytes it wrote.
 */
int mreg_eventcheck_document(cJSON **out, const char *data, size_t len, const mreg_eventcheck_ctx *vc)
{
	const char *end = NULL;
	cJSON *doc = NULL;
	int rc;
	*out = NULL;
	if (len > MREG_EVENT_MAX_BYTES)
		return value_refused(vc, "larger than %u bytes", MREG_EVENT_MAX_BYTES);
	if (memchr(data, '\0', len))
		return value_refused(vc, "contains a NUL byte");
	if (has_escaped_nul(data, len))
		return value_refused(vc, "a string holds a NUL (\\u0000)");
	if (!(doc = cJSON_ParseWithLengthOpts(data, len, &end, 0)))
		return value_refused(vc, "not valid JSON");
	while (end && end < data + len && (*end == '\n' || *end == ' ' || *end == '\r' || *end == '\t'))
		end++;
	if (end != data + len)
		rc = value_refused(vc, "trailing bytes after the JSON value");
	else
		rc = check_value(vc, doc, 0);
	if (rc < 0)
		cJSON_Delete(doc);
	else
		*out = doc;
	return rc;
}

/* ---- validation ----------------------------------------------------- */

/* A string field of the event's own; model names the event in a message (NULL: the caller checks the bytes). */
static int check_string(const char *what, const char *s, size_t max, bool empty_ok, const char *model)
{
	if (!s)
		return mreg_error_set(MREG_EINVALID, "invalid event: %s is missing", what);
	size_t n = strlen(s);
	if ((!empty_ok && n == 0) || n > max)
		return mreg_error_set(MREG_EINVALID, "invalid event: %s must be %s%zu bytes at most", what,
				      empty_ok ? "" : "non-empty and ", max);
	if (model && mreg_utf8_valid(s, n) != n)
		return mreg_error_set(MREG_EINVALID, "invalid %s for '%s': not valid UTF-8", what, model);
	return 0;
}

static int check_hex(const char *what, const char *s, size_t len)
{
	if (strlen(s) != len || strspn(s, "0123456789abcdef") != len)
		return mreg_error_set(MREG_EINVALID, "invalid event: %s '%s' is not %zu hex digits", what, s, len);
	return 0;
}

static int check_file_path(const char *p, const char *hash)
{
	/* artifacts/ab/cd/<hex><ext> or blobs/ab/cd/<hex><ext>, hex = the file's hash */
	const char *hex = hash + 7;
	const char *rest;
	if (!strncmp(p, "artifacts/", 10))
		rest = p + 10;
	else if (!strncmp(p, "blobs/", 6))
		rest = p + 6;
	else
		return mreg_error_set(MREG_EINVALID, "invalid event: file path '%s' is not under artifacts/ or blobs/", p);
	if (strncmp(rest, hex, 2) || rest[2] != '/' || strncmp(rest + 3, hex + 2, 2) || rest[5] != '/' ||
	    strncmp(rest + 6, hex, 32))
		return mreg_error_set(MREG_EINVALID, "invalid event: file path '%s' does not match its hash", p);
	const char *ext = rest + 38;
	if (*ext && (*ext != '.' || strlen(ext) > MREG_EXT_MAX ||
		     strspn(ext + 1, "abcdefghijklmnopqrstuvwxyz0123456789") != strlen(ext + 1) || !ext[1]))
		return mreg_error_set(MREG_EINVALID, "invalid event: file path '%s' has a bad extension", p);
	return 0;
}

/* The fields of the first types' payloads, and the tags, metrics and config any of them carry. */
static int check_payload_fields(const mreg_event *ev)
{
	int rc = 0;
	switch (ev->type) {
	case MREG_EV_REGISTERED:
		if ((rc = check_string("name", ev->name, MREG_NAME_MAX, false, ev->model)) < 0 ||
		    (rc = check_string("description", ev->description, MREG_STRING_MAX, true, ev->model)) < 0)
			return rc;
		if (ev->model_type < 0 || ev->model_type >= MREG_TYPE_COUNT)
			return mreg_error_set(MREG_EINVALID, "invalid event: unknown model type");
		if (ev->stage < 0 || ev->stage >= MREG_STAGE_COUNT)
			return mreg_error_set(MREG_EINVALID, "invalid event: unknown stage");
		if (strncmp(ev->file_hash, "xxh128:", 7) || (rc = check_hex("file hash", ev->file_hash + 7, 32)) < 0)
			return rc < 0 ? rc : mreg_error_set(MREG_EINVALID, "invalid event: file hash '%s'", ev->file_hash);
		if (ev->file_size < 0)
			return mreg_error_set(MREG_EINVALID, "invalid event: negative file size");
		if (!ev->file_path || (rc = check_file_path(ev->file_path, ev->file_hash)) < 0)
			return ev->file_path ? rc : mreg_error_set(MREG_EINVALID, "invalid event: file path is missing");
		break;
	case MREG_EV_PROMOTED:
		if (ev->from < 0 || ev->from >= MREG_STAGE_COUNT || ev->to < 0 || ev->to >= MREG_STAGE_COUNT)
			return mreg_error_set(MREG_EINVALID, "invalid event: unknown stage");
		if ((rc = check_string("reason", ev->reason, MREG_STRING_MAX, true, ev->model)) < 0)
			return rc;
		break;
	case MREG_EV_TAGGED:
	case MREG_EV_UNTAGGED:
		if (ev->ntags == 0)
			return mreg_error_set(MREG_EINVALID, "invalid event: no tags");
		break;
	default:
		break;
	}
	if (ev->training_config) {
		/* the config as it will be written, then as the parser normalizes it */
		mreg_eventcheck_ctx vc = { "training config", ev->model, true };
		cJSON *norm = NULL;
		if ((rc = check_value(&vc, ev->training_config, 1)) < 0)
			return rc;
		rc = mreg_config_normalize(&norm, ev->training_config, false, ev->model);
		cJSON_Delete(norm);
		if (rc < 0)
			return rc;
	}
	if (ev->ntags > MREG_TAGS_MAX)
		return mreg_error_set(MREG_EINVALID, "invalid event: more than %d tags", MREG_TAGS_MAX);
	for (size_t i = 0; i < ev->ntags; i++) {
		if ((rc = mreg_tag_check(ev->tags[i])) < 0)
			return rc;
		if (i && strcmp(ev->tags[i - 1], ev->tags[i]) >= 0)
			return mreg_error_set(MREG_EINVALID, "invalid event: tags must be sorted and unique");
	}
	for (int i = 0; i < MREG_METRIC_COUNT; i++)
		if ((ev->metrics.present & (1u << i)) &&
		    (rc = mreg_metric_check((mreg_metric)i, ev->metrics.v[i], ev->model)) < 0)
			return rc;
	return 0;
}

/* The field rules, shared by the writer and the parser (which has checked the bytes already). */
int mreg_eventcheck_fields(const mreg_event *ev)
{
	int rc;
	if (ev->type < 0 || ev->type >= MREG_EV_COUNT)
		return mreg_error_set(MREG_EINVALID, "invalid event: unknown type");
	if (ev->clock < 1 || ev->clock > (int64_t)1 << 52)
		return mreg_error_set(MREG_EINVALID, "invalid event: clock %lld out of range", (long long)ev->clock);
	int64_t t;
	if (mreg_time_parse(&t, ev->time) < 0)
		return mreg_error_set(MREG_EINVALID, "invalid event: time '%s' is not YYYY-MM-DDTHH:MM:SS.ffffffZ",
				      ev->time);
	if ((rc = check_string("model", ev->model, MREG_ID_MAX, false, NULL)) < 0 || (rc = mreg_id_check(ev->model)) < 0)
		return rc;
	if ((rc = check_string("actor", ev->actor, MREG_NAME_MAX, false, ev->model)) < 0 ||
	    (rc = check_string("node", ev->node, MREG_NODE_MAX, false, ev->model)) < 0)
		return rc;
	if (mreg_event_has_body(ev->type)) {
		if ((rc = check_body(ev)) < 0)
			return rc;
		for (const cJSON *c = ev->body->child; c; c = c->next) {
			mreg_eventcheck_ctx vc = { c->string, ev->model, true };
			if ((rc = check_value(&vc, c, 1)) < 0)
				return rc;
		}
	}
	if (!mreg_event_has_version(ev)) {
		if (ev->ref[0] || ev->version)
			return mreg_error_set(MREG_EINVALID, "invalid event: %s names no version",
					      mreg_event_type_name(ev->type));
	} else if (ev->version < 1 || ev->version > 1 << 30) {
		return mreg_error_set(MREG_EINVALID, "invalid event: version %d out of range", ev->version);
	}
	if (ev->type == MREG_EV_REGISTERED) {
		if (ev->ref[0])
			return mreg_error_set(MREG_EINVALID, "invalid event: a registration has no ref");
	} else if (mreg_event_has_version(ev) && (rc = check_hex("ref", ev->ref, 32)) < 0) {
		return rc;
	}
	return check_payload_fields(ev);
}

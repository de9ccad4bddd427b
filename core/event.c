/*
 * Events as bytes: the type names, serializing an event (after its rules
 * are checked) and setting its id from the bytes, and parsing an event
 * file back. Names of models and tags are checked here too.
 *
 * The writer and the parser share one set of rules (eventcheck.c): the
 * field rules of each type, and the rules of every value and of a whole
 * document, over one table of limits (event.h). The writer checks what it
 * was given before writing, then runs the parser's document checks on the
 * bytes it wrote, so an event this code writes always parses, and an event
 * it parses could have been written by it. Payload keys are written in the
 * order the parser lists them for each type. Metrics are metrics.c's,
 * training configs config.c's.
 */
#include "event.h"
#include "eventcheck.h"
#include "jsonw.h"
#include "num.h"

#include <stdlib.h>
#include <string.h>

static const char *const event_type_names[MREG_EV_COUNT] = {
	"version.registered", "version.promoted", "version.metrics_updated",
	"version.tagged", "version.untagged", "version.validation", "comparison.recorded",
	"baseline.set", "rollback", "rollback.requested", "rollback.cleared",
	"quality.reported", "rollback.checked"
};

const char *mreg_event_type_name(mreg_event_type t)
{
	return t >= 0 && t < MREG_EV_COUNT ? event_type_names[t] : "unknown";
}

mreg_event_type mreg_event_type_parse(const char *name)
{
	for (int i = 0; name && i < MREG_EV_COUNT; i++)
		if (!strcmp(name, event_type_names[i]))
			return (mreg_event_type)i;
	return (mreg_event_type)-1;
}

void mreg_event_init(mreg_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = (mreg_event_type)-1;
	ev->model_type = MREG_TYPE_NONE;
	ev->stage = ev->from = ev->to = MREG_STAGE_NONE;
}

void mreg_event_dispose(mreg_event *ev)
{
	if (!ev)
		return;
	free(ev->actor);
	free(ev->node);
	free(ev->model);
	free(ev->name);
	free(ev->description);
	free(ev->file_path);
	free(ev->reason);
	cJSON_Delete(ev->training_config);
	free(ev->version_config);
	cJSON_Delete(ev->body);
	for (size_t i = 0; i < ev->ntags; i++)
		free(ev->tags[i]);
	free(ev->tags);
	mreg_event_init(ev);
}

void mreg_event_free(mreg_event *ev)
{
	mreg_event_dispose(ev);
	free(ev);
}

void mreg_event_path(char out[MREG_EVENT_PATH_MAX], const char *id)
{
	/* fanned out by the first two bytes of the name, so no tree grows flat */
	memcpy(out, "events/", 7);
	memcpy(out + 7, id, 2);
	out[9] = '/';
	memcpy(out + 10, id + 2, 2);
	out[12] = '/';
	memcpy(out + 13, id, 32);
	memcpy(out + 45, ".json", 6);
}

int mreg_event_cmp(const mreg_event *a, const mreg_event *b)
{
	if (a->clock != b->clock)
		return a->clock < b->clock ? -1 : 1;
	return strcmp(a->id, b->id);
}

/* ---- names ---------------------------------------------------------- */

#define STR_(x) #x
#define STR(x) STR_(x)

const char *mreg_id_problem(const char *id)
{
	size_t n = strlen(id);
	if (n == 0)
		return "empty";
	if (n > MREG_ID_MAX)
		return "longer than " STR(MREG_ID_MAX) " bytes";
	bool dots = false;	/* ".." somewhere: said only when every byte is allowed */
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  ((c == '_' || c == '-' || c == '.') && i > 0);
		if (!ok)
			return "use letters, digits, '_', '-' and '.', starting with a letter or digit";
		dots = dots || (c == '.' && id[i - 1] == '.');
	}
	if (dots)
		return "'..' is not allowed";
	return NULL;
}

int mreg_id_check(const char *id)
{
	const char *problem = mreg_id_problem(id);
	if (!problem)
		return 0;
	if (strlen(id) > MREG_ID_MAX)	/* named by its start */
		return mreg_error_set(MREG_EINVALID, "invalid model id '%.*s...': %s", 40, id, problem);
	return mreg_error_set(MREG_EINVALID, "invalid model id '%s': %s", id, problem);
}

int mreg_id_derive(char *out, size_t outlen, const char *name)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		char c = (char)*p;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		else if (c == ' ' || c == '-')
			c = '_';
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			continue;
		if (n + 1 >= outlen || n >= MREG_ID_MAX)
			return mreg_error_set(MREG_EINVALID,
					      "cannot derive a model id from '%s': longer than %d bytes",
					      name, MREG_ID_MAX);
		out[n++] = c;
	}
	out[n] = '\0';
	if (n == 0)
		return mreg_error_set(MREG_EINVALID, "cannot derive a model id from '%s': no letters or digits",
				      name);
	if (out[0] == '_')
		return mreg_error_set(MREG_EINVALID,
				      "cannot derive a model id from '%s': it would start with '_'", name);
	return 0;
}

int mreg_tag_check(const char *tag)
{
	size_t n = strlen(tag), valid = mreg_utf8_valid(tag, n);
	if (valid != n)	/* named by the part that can be printed */
		return mreg_error_set(MREG_EINVALID, "invalid tag '%.*s...': not valid UTF-8",
				      (int)(valid < 40 ? valid : 40), tag);
	if (n == 0 || n > MREG_TAG_MAX)
		return mreg_error_set(MREG_EINVALID, "invalid tag '%s': must be 1 to %d bytes", tag,
				      MREG_TAG_MAX);
	for (const unsigned char *p = (const unsigned char *)tag; *p; p++)
		if (*p <= ' ' || *p == 0x7f || *p == ',')
			return mreg_error_set(MREG_EINVALID,
					      "invalid tag '%s': no spaces, commas or control characters", tag);
	return 0;
}

bool mreg_event_has_body(mreg_event_type t)
{
	return t >= MREG_EV_VALIDATION && t < MREG_EV_COUNT;
}

bool mreg_event_has_version(const mreg_event *ev)
{
	switch (ev->type) {
	case MREG_EV_BASELINE:
	case MREG_EV_ROLLBACK_REQUESTED:
	case MREG_EV_ROLLBACK_CLEARED:
	case MREG_EV_QUALITY:
	case MREG_EV_CHECKED:
		return false;
	default:
		return true;
	}
}

/*
 * cJSON_GetObjectItemCaseSensitive, looking at a key's first byte before
 * the rest of it: a fold looks up a dozen keys in every event, most of them
 * differing from the keys before theirs at the first byte.
 */
static const cJSON *member(const cJSON *obj, const char *key)
{
	if (!obj || !key)
		return NULL;
	for (const cJSON *c = obj->child; c; c = c->next)
		if (c->string && c->string[0] == key[0] && !strcmp(c->string, key))
			return c;
	return NULL;
}

const char *mreg_event_other_model(const mreg_event *ev)
{
	return ev->type == MREG_EV_COMPARISON ? mreg_event_body_str(ev, "b_model") : NULL;
}

const char *mreg_event_body_str(const mreg_event *ev, const char *key)
{
	const cJSON *v = member(ev->body, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

double mreg_event_body_num(const mreg_event *ev, const char *key, double dflt)
{
	const cJSON *v = member(ev->body, key);
	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

bool mreg_event_body_has(const mreg_event *ev, const char *key)
{
	return member(ev->body, key) != NULL;
}

/* Move the payload members of doc into a new body, in table order. */
static int take_body(mreg_event *ev, cJSON *doc)
{
	if (!(ev->body = cJSON_CreateObject()))
		return MREG_ERROR;
	const char *key;
	for (size_t i = 0; (key = mreg_eventcheck_body_key(ev->type, i)); i++) {
		cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(doc, key);
		if (v)
			cJSON_AddItemToObject(ev->body, key, v);
	}
	return 0;
}

/* ---- serialization -------------------------------------------------- */

static void write_tags(mreg_jsonw *w, const mreg_event *ev)
{
	mreg_jsonw_arr_begin(w, "tags");
	for (size_t i = 0; i < ev->ntags; i++)
		mreg_jsonw_str(w, NULL, ev->tags[i]);
	mreg_jsonw_arr_end(w);
}

/* The bytes of an event whose fields are valid, appended to out. */
static int write_event(mreg_buf *out, const mreg_event *ev)
{
	mreg_jsonw w;
	mreg_jsonw_init(&w, out);
	mreg_jsonw_obj_begin(&w, NULL);
	mreg_jsonw_int(&w, "schema", MREG_SCHEMA);
	mreg_jsonw_str(&w, "type", mreg_event_type_name(ev->type));
	mreg_jsonw_int(&w, "clock", ev->clock);
	mreg_jsonw_str(&w, "time", ev->time);
	mreg_jsonw_str(&w, "actor", ev->actor);
	mreg_jsonw_str(&w, "node", ev->node);
	mreg_jsonw_str(&w, "model", ev->model);
	if (ev->type != MREG_EV_REGISTERED && mreg_event_has_version(ev))
		mreg_jsonw_str(&w, "ref", ev->ref);
	if (mreg_event_has_version(ev))
		mreg_jsonw_int(&w, "version", ev->version);
	if (mreg_event_has_body(ev->type)) {
		const cJSON *c;
		cJSON_ArrayForEach(c, ev->body)
			mreg_jsonw_value(&w, c->string, c);
	}
	switch (ev->type) {
	case MREG_EV_REGISTERED:
		mreg_jsonw_str(&w, "name", ev->name);
		mreg_jsonw_str(&w, "model_type", mreg_type_name(ev->model_type));
		mreg_jsonw_str(&w, "description", ev->description);
		mreg_jsonw_str(&w, "stage", mreg_stage_name(ev->stage));
		mreg_jsonw_obj_begin(&w, "file");
		mreg_jsonw_str(&w, "path", ev->file_path);
		mreg_jsonw_str(&w, "hash", ev->file_hash);
		mreg_jsonw_int(&w, "size", ev->file_size);
		mreg_jsonw_obj_end(&w);
		mreg_metrics_write(&w, "metrics", &ev->metrics, false);
		if (ev->training_config)
			mreg_jsonw_value(&w, "training_config", ev->training_config);
		else
			mreg_jsonw_obj_begin(&w, "training_config"), mreg_jsonw_obj_end(&w);
		write_tags(&w, ev);
		break;
	case MREG_EV_PROMOTED:
		mreg_jsonw_str(&w, "from", mreg_stage_name(ev->from));
		mreg_jsonw_str(&w, "to", mreg_stage_name(ev->to));
		mreg_jsonw_str(&w, "reason", ev->reason);
		break;
	case MREG_EV_METRICS:
		mreg_metrics_write(&w, "metrics", &ev->metrics, false);
		mreg_jsonw_bool(&w, "replace", ev->replace);
		break;
	case MREG_EV_TAGGED:
	case MREG_EV_UNTAGGED:
		write_tags(&w, ev);
		break;
	default:
		break;
	}
	mreg_jsonw_obj_end(&w);
	if (mreg_jsonw_finish(&w) < 0)
		return mreg_error_set(MREG_ERROR, "out of memory writing an event");
	return 0;
}

/* The bytes just written, through the parser's own checks of a document. */
static int check_written(const char *data, size_t len, const char *model)
{
	mreg_eventcheck_ctx vc = { "event", model, true };
	cJSON *doc = NULL;
	int rc = mreg_eventcheck_document(&doc, data, len, &vc);
	cJSON_Delete(doc);
	return rc;
}

int mreg_event_validate(const mreg_event *ev)
{
	mreg_buf b = MREG_BUF_INIT;
	int rc = mreg_eventcheck_fields(ev);
	if (rc == 0 && (rc = write_event(&b, ev)) == 0)
		rc = check_written(b.ptr, b.size, ev->model);
	mreg_buf_dispose(&b);
	return rc;
}

int mreg_event_serialize(mreg_buf *out, mreg_event *ev)
{
	size_t start = out->size;
	int rc;
	if ((rc = mreg_eventcheck_fields(ev)) < 0)
		return rc;
	if ((rc = write_event(out, ev)) < 0 ||
	    (rc = check_written(out->ptr + start, out->size - start, ev->model)) < 0) {
		mreg_buf_truncate(out, start);
		return rc;
	}
	mreg_hash128(ev->id, out->ptr + start, out->size - start);
	return 0;
}

/* ---- parsing -------------------------------------------------------- */

static const char *const envelope_keys[] = {
	"schema", "type", "clock", "time", "actor", "node", "model", "ref", "version", NULL
};

static const char *const payload_keys[MREG_EV_COUNT][12] = {
	[MREG_EV_REGISTERED] = { "name", "model_type", "description", "stage", "file", "metrics",
				 "training_config", "tags", NULL },
	[MREG_EV_PROMOTED] = { "from", "to", "reason", NULL },
	[MREG_EV_METRICS] = { "metrics", "replace", NULL },
	[MREG_EV_TAGGED] = { "tags", NULL },
	[MREG_EV_UNTAGGED] = { "tags", NULL },
};

static bool in_list(const char *const *list, const char *k)
{
	for (; *list; list++)
		if (**list == *k && !strcmp(*list, k))
			return true;
	return false;
}

static int get_str(char **out, const cJSON *obj, const char *key, bool required)
{
	const cJSON *v = member(obj, key);
	if (!v) {
		if (required)
			return mreg_error_set(MREG_EINVALID, "invalid event: '%s' is missing", key);
		return 0;
	}
	if (!cJSON_IsString(v))
		return mreg_error_set(MREG_EINVALID, "invalid event: '%s' must be a string", key);
	if (!(*out = mreg_strdup(v->valuestring)))
		return MREG_ERROR;
	return 0;
}

static int get_fixed(char *out, size_t size, const cJSON *obj, const char *key)
{
	const cJSON *v = member(obj, key);
	if (!cJSON_IsString(v))
		return mreg_error_set(MREG_EINVALID, "invalid event: '%s' must be a string", key);
	if (strlen(v->valuestring) >= size)
		return mreg_error_set(MREG_EINVALID, "invalid event: '%s' is too long", key);
	strcpy(out, v->valuestring);
	return 0;
}

static int get_int(int64_t *out, const cJSON *obj, const char *key)
{
	const cJSON *v = member(obj, key);
	if (!cJSON_IsNumber(v) || !mreg_num_is_int(v->valuedouble))
		return mreg_error_set(MREG_EINVALID, "invalid event: '%s' must be a whole number", key);
	*out = (int64_t)v->valuedouble;
	return 0;
}

static int get_stage(mreg_stage *out, const cJSON *obj, const char *key)
{
	const cJSON *v = member(obj, key);
	if (!cJSON_IsString(v) || (*out = mreg_stage_parse(v->valuestring)) == MREG_STAGE_NONE)
		return mreg_error_set(MREG_EINVALID, "invalid event: '%s' is not a stage", key);
	return 0;
}

static int get_tags(mreg_event *ev, const cJSON *obj)
{
	const cJSON *arr = member(obj, "tags"), *c;
	if (!cJSON_IsArray(arr))
		return mreg_error_set(MREG_EINVALID, "invalid event: 'tags' must be an array");
	int n = cJSON_GetArraySize(arr);
	if (n > MREG_TAGS_MAX)
		return mreg_error_set(MREG_EINVALID, "invalid event: more than %d tags", MREG_TAGS_MAX);
	if (n && !(ev->tags = calloc((size_t)n, sizeof(char *))))
		return MREG_ERROR;
	cJSON_ArrayForEach(c, arr) {
		if (!cJSON_IsString(c))
			return mreg_error_set(MREG_EINVALID, "invalid event: tags must be strings");
		if (!(ev->tags[ev->ntags++] = mreg_strdup(c->valuestring)))
			return MREG_ERROR;
	}
	return 0;
}

/* schema, type, the keys the type knows, clock, time, actor, node, model, and the payload of the newer types. */
static int parse_envelope(mreg_event *ev, const cJSON *doc)
{
	const cJSON *c, *v;
	int rc;

	if (!cJSON_IsObject(doc))
		return mreg_error_set(MREG_EINVALID, "invalid event: not a JSON object");
	v = member(doc, "schema");
	if (!cJSON_IsNumber(v))
		return mreg_error_set(MREG_EINVALID, "invalid event: 'schema' is missing");
	if (v->valuedouble != MREG_SCHEMA)
		return mreg_error_set(MREG_EINVALID, "unsupported event schema %g (this mreg reads schema %d)",
				      v->valuedouble, MREG_SCHEMA);
	v = member(doc, "type");
	if (!cJSON_IsString(v))
		return mreg_error_set(MREG_EINVALID, "invalid event: 'type' is missing");
	if ((int)(ev->type = mreg_event_type_parse(v->valuestring)) < 0)
		return mreg_error_set(MREG_EINVALID, "unknown event type '%s'", v->valuestring);
	cJSON_ArrayForEach(c, doc) {
		bool known = in_list(envelope_keys, c->string) || in_list(payload_keys[ev->type], c->string);
		const char *key;
		for (size_t i = 0; !known && (key = mreg_eventcheck_body_key(ev->type, i)); i++)
			known = *key == *c->string && !strcmp(key, c->string);
		if (!known)
			return mreg_error_set(MREG_EINVALID, "invalid event: unknown key '%s'", c->string);
	}
	if ((rc = get_int(&ev->clock, doc, "clock")) < 0 ||
	    (rc = get_fixed(ev->time, sizeof(ev->time), doc, "time")) < 0 ||
	    (rc = get_str(&ev->actor, doc, "actor", true)) < 0 ||
	    (rc = get_str(&ev->node, doc, "node", true)) < 0 ||
	    (rc = get_str(&ev->model, doc, "model", true)) < 0)
		return rc;
	if (mreg_event_has_body(ev->type) && (rc = take_body(ev, (cJSON *)doc)) < 0)
		return rc;
	return 0;
}

/* ref and version: on events about one version, and on no others. */
static int parse_version(mreg_event *ev, const cJSON *doc)
{
	int64_t n;
	int rc;

	if (!mreg_event_has_version(ev)) {
		if (member(doc, "ref") || member(doc, "version"))
			return mreg_error_set(MREG_EINVALID, "invalid event: %s names no version",
					      mreg_event_type_name(ev->type));
		return 0;
	}
	if ((rc = get_int(&n, doc, "version")) < 0)
		return rc;
	if (n < 1 || n > 1 << 30)
		return mreg_error_set(MREG_EINVALID, "invalid event: version %lld out of range", (long long)n);
	ev->version = (int)n;
	if (ev->type == MREG_EV_REGISTERED && member(doc, "ref"))
		return mreg_error_set(MREG_EINVALID, "invalid event: a registration has no ref");
	if (ev->type != MREG_EV_REGISTERED && (rc = get_fixed(ev->ref, sizeof(ev->ref), doc, "ref")) < 0)
		return rc;
	return 0;
}

/* "metrics": known metrics only (the parser is strict where the original's files were not). */
static int get_metrics(mreg_event *ev, const cJSON *doc)
{
	const cJSON *c, *v = member(doc, "metrics");
	cJSON_ArrayForEach(c, v)
		if (mreg_metric_parse(c->string) < 0)
			return mreg_error_set(MREG_EINVALID, "invalid event: unknown metric '%s'", c->string);
	return mreg_metrics_from_json(&ev->metrics, v, ev->model);
}

static int parse_registration(mreg_event *ev, const cJSON *doc)
{
	const cJSON *file = member(doc, "file"), *v;
	int rc;

	if ((rc = get_str(&ev->name, doc, "name", true)) < 0 ||
	    (rc = get_str(&ev->description, doc, "description", true)) < 0 ||
	    (rc = get_stage(&ev->stage, doc, "stage")) < 0)
		return rc;
	v = member(doc, "model_type");
	if (!cJSON_IsString(v) || (ev->model_type = mreg_type_parse(v->valuestring)) == MREG_TYPE_NONE)
		return mreg_error_set(MREG_EINVALID, "invalid event: 'model_type' is not a model type");
	if (!cJSON_IsObject(file) || cJSON_GetArraySize(file) != 3)
		return mreg_error_set(MREG_EINVALID, "invalid event: 'file' must have path, hash and size");
	if ((rc = get_str(&ev->file_path, file, "path", true)) < 0 ||
	    (rc = get_fixed(ev->file_hash, sizeof(ev->file_hash), file, "hash")) < 0 ||
	    (rc = get_int(&ev->file_size, file, "size")) < 0)
		return rc;
	if ((rc = get_metrics(ev, doc)) < 0)
		return rc;
	v = member(doc, "training_config");
	if (!cJSON_IsObject(v))
		return mreg_error_set(MREG_EINVALID, "invalid event: 'training_config' must be an object");
	if ((rc = mreg_config_normalize(&ev->training_config, v, false, ev->model)) < 0)
		return rc;
	return get_tags(ev, doc);
}

/* The payload of the first types (the newer ones keep theirs in ev->body). */
static int parse_payload(mreg_event *ev, const cJSON *doc)
{
	const cJSON *v;
	int rc;

	switch (ev->type) {
	case MREG_EV_REGISTERED:
		return parse_registration(ev, doc);
	case MREG_EV_PROMOTED:
		if ((rc = get_stage(&ev->from, doc, "from")) < 0 || (rc = get_stage(&ev->to, doc, "to")) < 0)
			return rc;
		return get_str(&ev->reason, doc, "reason", true);
	case MREG_EV_METRICS:
		if ((rc = get_metrics(ev, doc)) < 0)
			return rc;
		v = member(doc, "replace");
		if (!cJSON_IsBool(v))
			return mreg_error_set(MREG_EINVALID, "invalid event: 'replace' must be true or false");
		ev->replace = cJSON_IsTrue(v);
		return 0;
	case MREG_EV_TAGGED:
	case MREG_EV_UNTAGGED:
		return get_tags(ev, doc);
	default:
		return 0;
	}
}

static int parse_fields(mreg_event *ev, const cJSON *doc)
{
	int rc;
	if ((rc = parse_envelope(ev, doc)) < 0 || (rc = parse_version(ev, doc)) < 0 ||
	    (rc = parse_payload(ev, doc)) < 0)
		return rc;
	return mreg_eventcheck_fields(ev);
}

int mreg_event_parse(mreg_event **out, const char *data, size_t len, const char *expect_id)
{
	mreg_event *ev = NULL;
	cJSON *doc = NULL;
	char id[33];
	mreg_eventcheck_ctx vc = { "event", id, false };
	int rc;

	*out = NULL;
	if (len > MREG_EVENT_MAX_BYTES)
		return mreg_error_set(MREG_EINVALID, "invalid event '%s': larger than %u bytes",
				      expect_id ? expect_id : "", MREG_EVENT_MAX_BYTES);
	mreg_hash128(id, data, len);
	if (expect_id && strcmp(id, expect_id))
		return mreg_error_set(MREG_ECORRUPT, "corrupt event '%s': its bytes hash to %s", expect_id, id);
	if ((rc = mreg_eventcheck_document(&doc, data, len, &vc)) < 0)
		goto done;
	if (!(ev = malloc(sizeof(*ev)))) {
		rc = MREG_ERROR;
		goto done;
	}
	mreg_event_init(ev);
	/* the field rules know the field, this call the event: every message they set names it */
	char subject[48];
	memcpy(subject, "event ", 6);
	memcpy(subject + 6, id, sizeof(id));
	mreg_error_subject(subject);
	rc = parse_fields(ev, doc);
	mreg_error_subject(NULL);
	if (rc < 0)
		goto done;
	memcpy(ev->id, id, sizeof(id));
	*out = ev;
	ev = NULL;
done:
	cJSON_Delete(doc);
	mreg_event_free(ev);
	return rc;
}

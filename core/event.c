/*
 * Building, serializing, parsing and validating events (see event.h).
 *
 * The writer and the parser share one set of field rules (validate_fields)
 * and one set of rules for every value and for a whole document
 * (check_value, check_document) over one table of limits (event.h). The
 * writer checks what it was given with both before writing, then runs the
 * parser's document checks on the bytes it wrote, so an event this code
 * writes always parses, and an event it parses could have been written by
 * it. Payload keys are written in the order the parser lists them for each
 * type.
 */
#include "event.h"
#include "jsonw.h"
#include "num.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const event_type_names[MREG_EV_COUNT] = {
	"version.registered", "version.promoted", "version.metrics_updated",
	"version.tagged", "version.untagged", "version.validation", "comparison.recorded",
	"baseline.set", "rollback", "rollback.requested", "rollback.cleared"
};

static const char *const metric_names[MREG_METRIC_COUNT] = {
	"elo", "elo_uncertainty", "win_rate", "draw_rate", "games_played",
	"avg_move_time_ms", "policy_accuracy", "value_mse"
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

const char *mreg_metric_name(mreg_metric m)
{
	return m >= 0 && m < MREG_METRIC_COUNT ? metric_names[m] : "unknown";
}

int mreg_metric_parse(const char *name)
{
	for (int i = 0; name && i < MREG_METRIC_COUNT; i++)
		if (!strcmp(name, metric_names[i]))
			return i;
	return -1;
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
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  ((c == '_' || c == '-' || c == '.') && i > 0);
		if (!ok)
			return "use letters, digits, '_', '-' and '.', starting with a letter or digit";
	}
	if (strstr(id, ".."))
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

static bool is_int(double v)
{
	return v == floor(v) && fabs(v) < 9007199254740992.0;
}

/* What is wrong with v as metric m, or NULL. */
static const char *metric_problem(mreg_metric m, double v)
{
	if (!isfinite(v))
		return "not a finite number";
	switch (m) {
	case MREG_METRIC_WIN_RATE:
	case MREG_METRIC_DRAW_RATE:
	case MREG_METRIC_POLICY_ACCURACY:
		return v < 0 || v > 1 ? "must be between 0 and 1" : NULL;
	case MREG_METRIC_GAMES_PLAYED:
		return v < 0 || !is_int(v) ? "must be a whole number >= 0" : NULL;
	case MREG_METRIC_ELO_UNCERTAINTY:
	case MREG_METRIC_AVG_MOVE_TIME_MS:
	case MREG_METRIC_VALUE_MSE:
		return v < 0 ? "must be >= 0" : NULL;
	default:
		return NULL;
	}
}

int mreg_metric_check(mreg_metric m, double v, const char *subject)
{
	const char *problem = metric_problem(m, v);
	if (!problem)
		return 0;
	if (!subject)
		return MREG_EINVALID;
	if (!isfinite(v))
		return mreg_error_set(MREG_EINVALID, "invalid metric %s for '%s': %s", mreg_metric_name(m), subject,
				      problem);
	return mreg_error_set(MREG_EINVALID, "invalid metric %s=%g for '%s': %s", mreg_metric_name(m), v, subject,
			      problem);
}

/* Strict number: the whole string, finite, no hex or inf/nan spellings. */
static int parse_number(double *out, const char *s)
{
	char *end;
	if (!*s || strspn(s, "0123456789+-.eE") != strlen(s))
		return -1;
	double v = strtod(s, &end);
	if (*end || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

int mreg_metrics_set_kv(mreg_metrics *m, const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq)
		return mreg_error_set(MREG_EINVALID, "invalid metric '%s': expected KEY=VALUE", kv);
	char key[64];
	size_t kn = (size_t)(eq - kv);
	if (kn == 0 || kn >= sizeof(key))
		return mreg_error_set(MREG_EINVALID, "invalid metric '%s': expected KEY=VALUE", kv);
	memcpy(key, kv, kn);
	key[kn] = '\0';
	int k = mreg_metric_parse(key);
	if (k < 0)
		return mreg_error_set(MREG_EINVALID,
				      "unknown metric '%s': expected one of elo, elo_uncertainty, win_rate, draw_rate, games_played, avg_move_time_ms, policy_accuracy, value_mse",
				      key);
	double v;
	if (parse_number(&v, eq + 1) < 0)
		return mreg_error_set(MREG_EINVALID, "invalid metric '%s': '%s' is not a number", kv, eq + 1);
	int rc = mreg_metric_check((mreg_metric)k, v, key);
	if (rc < 0)
		return rc;
	m->v[k] = mreg_num_nz(v);	/* -0 is 0: stored, and shown, without a sign */
	m->present |= 1u << k;
	return 0;
}

int mreg_metrics_from_json(mreg_metrics *m, const cJSON *obj, const char *subject)
{
	const cJSON *c;
	if (!cJSON_IsObject(obj))
		return subject ? mreg_error_set(MREG_EINVALID, "invalid metrics in '%s': expected a JSON object", subject)
			       : MREG_EINVALID;
	cJSON_ArrayForEach(c, obj) {
		int k = mreg_metric_parse(c->string);
		if (k < 0 || cJSON_IsNull(c))
			continue;	/* the original ignores keys it does not know */
		if (!cJSON_IsNumber(c))
			return subject ? mreg_error_set(MREG_EINVALID, "invalid metric %s in '%s': not a number", c->string,
							subject)
				       : MREG_EINVALID;
		int rc = mreg_metric_check((mreg_metric)k, c->valuedouble, subject);
		if (rc < 0)
			return rc;
		m->v[k] = mreg_num_nz(c->valuedouble);
		m->present |= 1u << k;
	}
	return 0;
}

void mreg_metrics_merge(mreg_metrics *into, const mreg_metrics *from)
{
	for (int i = 0; i < MREG_METRIC_COUNT; i++)
		if (from->present & (1u << i)) {
			into->v[i] = from->v[i];
			into->present |= 1u << i;
		}
}

void mreg_metrics_write(mreg_jsonw *w, const char *key, const mreg_metrics *m, bool all_keys)
{
	mreg_jsonw_obj_begin(w, key);
	for (int i = 0; i < MREG_METRIC_COUNT; i++) {
		if (m->present & (1u << i)) {
			if (i == MREG_METRIC_GAMES_PLAYED && is_int(m->v[i]))
				mreg_jsonw_int(w, metric_names[i], (int64_t)m->v[i]);
			else
				mreg_jsonw_num(w, metric_names[i], m->v[i]);
		} else if (all_keys) {
			if (i == MREG_METRIC_GAMES_PLAYED)
				mreg_jsonw_int(w, metric_names[i], 0);
			else
				mreg_jsonw_null(w, metric_names[i]);
		}
	}
	mreg_jsonw_obj_end(w);
}

/* ---- training config ------------------------------------------------ */

typedef enum { CFG_NUM, CFG_INT, CFG_STR, CFG_BOOL, CFG_ANY } cfg_kind;

static const struct {
	const char *key;
	cfg_kind kind;
	double num;
	const char *str;
	bool nullable;
} config_keys[] = {
	{ "learning_rate", CFG_NUM, 0.001, NULL, false },
	{ "batch_size", CFG_INT, 256, NULL, false },
	{ "epochs", CFG_INT, 100, NULL, false },
	{ "optimizer", CFG_STR, 0, "adam", false },
	{ "architecture", CFG_STR, 0, "resnet", false },
	{ "num_residual_blocks", CFG_INT, 10, NULL, false },
	{ "num_filters", CFG_INT, 128, NULL, false },
	{ "augmentation_enabled", CFG_BOOL, 1, NULL, false },
	{ "curriculum_stage", CFG_ANY, 0, NULL, true },
	{ "parent_model_id", CFG_STR, 0, NULL, true },
	{ "training_data_hash", CFG_STR, 0, NULL, true },
};
#define N_CONFIG_KEYS (sizeof(config_keys) / sizeof(config_keys[0]))

static int config_key(const char *k)
{
	for (size_t i = 0; i < N_CONFIG_KEYS; i++)
		if (!strcmp(config_keys[i].key, k))
			return (int)i;
	return -1;
}

static int check_config_value(size_t i, const cJSON *v, const char *subject)
{
	const char *k = config_keys[i].key;
	if (cJSON_IsNull(v)) {
		if (config_keys[i].nullable)
			return 0;
		return mreg_error_set(MREG_EINVALID, "invalid training config %s for '%s': must not be null", k,
				      subject);
	}
	switch (config_keys[i].kind) {
	case CFG_NUM:
		if (!cJSON_IsNumber(v) || v->valuedouble <= 0)
			return mreg_error_set(MREG_EINVALID,
					      "invalid training config %s for '%s': must be a number > 0", k, subject);
		break;
	case CFG_INT:
		if (!cJSON_IsNumber(v) || !is_int(v->valuedouble) || v->valuedouble < 0)
			return mreg_error_set(MREG_EINVALID,
					      "invalid training config %s for '%s': must be a whole number >= 0", k,
					      subject);
		break;
	case CFG_STR:
		if (!cJSON_IsString(v))
			return mreg_error_set(MREG_EINVALID, "invalid training config %s for '%s': must be a string",
					      k, subject);
		break;
	case CFG_BOOL:
		if (!cJSON_IsBool(v))
			return mreg_error_set(MREG_EINVALID,
					      "invalid training config %s for '%s': must be true or false", k, subject);
		break;
	case CFG_ANY:
		if (cJSON_IsArray(v) || cJSON_IsObject(v))
			return mreg_error_set(MREG_EINVALID,
					      "invalid training config %s for '%s': must be a string or a number", k,
					      subject);
		break;
	}
	return 0;
}

/* A member moved into extra_config, and where it came: the later of two with one key wins. */
typedef struct {
	const cJSON *item;
	size_t pos;
} extra_item;

static int cmp_items(const void *a, const void *b)
{
	const extra_item *x = a, *y = b;
	int c = strcmp(x->item->string, y->item->string);
	return c ? c : x->pos < y->pos ? -1 : 1;
}

/* Copy members of src into dst sorted by key; later duplicates win. */
static int add_sorted(cJSON *dst, extra_item *items, size_t n)
{
	if (n)
		qsort(items, n, sizeof(*items), cmp_items);
	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && !strcmp(items[i].item->string, items[i + 1].item->string))
			continue;
		cJSON *dup = cJSON_Duplicate(items[i].item, 1);
		if (!dup)
			return MREG_ERROR;
		cJSON_AddItemToObject(dst, items[i].item->string, dup);
	}
	return 0;
}

int mreg_config_normalize(cJSON **out, const cJSON *in, bool with_defaults, const char *subject)
{
	const cJSON *given[N_CONFIG_KEYS] = { 0 };
	extra_item *extra = NULL;
	size_t nextra = 0, aextra = 0;
	cJSON *obj = NULL, *ex = NULL;
	const cJSON *c;
	int rc = MREG_ERROR;

	*out = NULL;
	if (in && !cJSON_IsObject(in))
		return mreg_error_set(MREG_EINVALID, "invalid training config for '%s': expected a JSON object",
				      subject);
	cJSON_ArrayForEach(c, in) {
		int k = config_key(c->string);
		if (k >= 0) {
			if ((rc = check_config_value((size_t)k, c, subject)) < 0)
				goto done;
			given[k] = c;
			continue;
		}
		const cJSON *src = c;
		size_t add = 1;
		if (!strcmp(c->string, "extra_config")) {
			if (!cJSON_IsObject(c) && !cJSON_IsNull(c)) {
				rc = mreg_error_set(MREG_EINVALID,
						    "invalid training config extra_config for '%s': expected an object",
						    subject);
				goto done;
			}
			add = (size_t)cJSON_GetArraySize(c);
			src = c->child;
		}
		if (nextra + add > aextra) {
			aextra = (nextra + add) * 2 + 8;
			extra_item *p = realloc(extra, aextra * sizeof(*extra));
			if (!p) {
				rc = mreg_error_set(MREG_ERROR, "out of memory");
				goto done;
			}
			extra = p;
		}
		for (size_t i = 0; i < add && src; i++, src = src->next, nextra++) {
			extra[nextra].item = src;
			extra[nextra].pos = nextra;
		}
	}
	rc = MREG_ERROR;
	if (!(obj = cJSON_CreateObject()))
		goto done;
	for (size_t i = 0; i < N_CONFIG_KEYS; i++) {
		cJSON *v = NULL;
		if (given[i])
			v = cJSON_Duplicate(given[i], 1);
		else if (!with_defaults)
			continue;
		else if (config_keys[i].kind == CFG_STR && config_keys[i].str)
			v = cJSON_CreateString(config_keys[i].str);
		else if (config_keys[i].kind == CFG_NUM || config_keys[i].kind == CFG_INT)
			v = cJSON_CreateNumber(config_keys[i].num);
		else if (config_keys[i].kind == CFG_BOOL)
			v = cJSON_CreateBool(config_keys[i].num != 0);
		else
			v = cJSON_CreateNull();
		if (!v)
			goto done;
		cJSON_AddItemToObject(obj, config_keys[i].key, v);
	}
	if (nextra || with_defaults) {
		if (!(ex = cJSON_CreateObject()))
			goto done;
		if (add_sorted(ex, extra, nextra) < 0)
			goto done;
		cJSON_AddItemToObject(obj, "extra_config", ex);
		ex = NULL;
	}
	*out = obj;
	obj = NULL;
	rc = 0;
done:
	free(extra);
	cJSON_Delete(obj);
	cJSON_Delete(ex);
	return rc;
}

int mreg_config_set_kv(cJSON *obj, const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return mreg_error_set(MREG_EINVALID, "invalid training config '%s': expected KEY=VALUE", kv);
	char *key = mreg_strfmt("%.*s", (int)(eq - kv), kv);
	if (!key)
		return MREG_ERROR;
	cJSON *v = cJSON_Parse(eq + 1);
	if (!v || cJSON_IsArray(v) || cJSON_IsObject(v)) {
		cJSON_Delete(v);
		v = cJSON_CreateString(eq + 1);
	}
	/* appended, not looked up: an earlier value of the key gives way in mreg_config_normalize */
	int rc = v && cJSON_AddItemToObject(obj, key, v) ? 0 : mreg_error_set(MREG_ERROR, "out of memory");
	if (rc < 0)
		cJSON_Delete(v);
	free(key);
	return rc;
}

void mreg_config_merge(cJSON *into, cJSON *from)
{
	cJSON *c;
	while ((c = from->child)) {
		cJSON_DetachItemViaPointer(from, c);
		cJSON_AddItemToArray(into, c);	/* keeps its key; appends in constant time */
	}
}

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
};

static bool has_body(mreg_event_type t)
{
	return t >= MREG_EV_VALIDATION && t < MREG_EV_COUNT;
}

bool mreg_event_has_version(const mreg_event *ev)
{
	switch (ev->type) {
	case MREG_EV_BASELINE:
	case MREG_EV_ROLLBACK_REQUESTED:
	case MREG_EV_ROLLBACK_CLEARED:
		return false;
	default:
		return true;
	}
}

const char *mreg_event_other_model(const mreg_event *ev)
{
	return ev->type == MREG_EV_COMPARISON ? mreg_event_body_str(ev, "b_model") : NULL;
}

const char *mreg_event_body_str(const mreg_event *ev, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev->body, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

double mreg_event_body_num(const mreg_event *ev, const char *key, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev->body, key);
	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

bool mreg_event_body_has(const mreg_event *ev, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(ev->body, key) != NULL;
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
		if (!cJSON_IsNumber(v) || !is_int(v->valuedouble) || v->valuedouble < (f->kind == K_VERSION) ||
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

/* Move the payload members of doc into a new body, in table order. */
static int take_body(mreg_event *ev, cJSON *doc)
{
	if (!(ev->body = cJSON_CreateObject()))
		return MREG_ERROR;
	for (const body_field *f = body_fields[ev->type]; f->key; f++) {
		cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(doc, f->key);
		if (v)
			cJSON_AddItemToObject(ev->body, f->key, v);
	}
	return 0;
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
typedef struct {
	const char *what;	/* "event", "training config", a payload member */
	const char *subject;	/* the event's id (parser), the model (writer) */
	bool for_subject;	/* "invalid <what> for '<subject>'", else "invalid <what> '<subject>'" */
} value_ctx;

static int value_refused(const value_ctx *vc, const char *fmt, ...)
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

static int check_text(const value_ctx *vc, const char *s, const char *kind)
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
static int check_twins(const value_ctx *vc, const cJSON *obj)
{
	const cJSON *c, *e;
	size_t n = 0, i = 0;
	int rc = 0;
	for (c = obj->child; c; c = c->next)
		n++;
	if (n <= 16) {
		for (c = obj->child; c; c = c->next)
			for (e = obj->child; e != c; e = e->next)
				if (!strcmp(e->string, c->string))
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
static int check_value(const value_ctx *vc, const cJSON *v, int depth)
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
static int check_document(cJSON **out, const char *data, size_t len, const value_ctx *vc)
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

/* The field rules, shared by the writer and the parser (which has checked the bytes already). */
static int validate_fields(const mreg_event *ev)
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
	if (has_body(ev->type)) {
		if ((rc = check_body(ev)) < 0)
			return rc;
		for (const cJSON *c = ev->body->child; c; c = c->next) {
			value_ctx vc = { c->string, ev->model, true };
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
		value_ctx vc = { "training config", ev->model, true };
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
	if (has_body(ev->type)) {
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
	value_ctx vc = { "event", model, true };
	cJSON *doc = NULL;
	int rc = check_document(&doc, data, len, &vc);
	cJSON_Delete(doc);
	return rc;
}

int mreg_event_validate(const mreg_event *ev)
{
	mreg_buf b = MREG_BUF_INIT;
	int rc = validate_fields(ev);
	if (rc == 0 && (rc = write_event(&b, ev)) == 0)
		rc = check_written(b.ptr, b.size, ev->model);
	mreg_buf_dispose(&b);
	return rc;
}

int mreg_event_serialize(mreg_buf *out, mreg_event *ev)
{
	size_t start = out->size;
	int rc;
	if ((rc = validate_fields(ev)) < 0)
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
		if (!strcmp(*list, k))
			return true;
	return false;
}

static int get_str(char **out, const cJSON *obj, const char *key, bool required)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
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
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!cJSON_IsString(v))
		return mreg_error_set(MREG_EINVALID, "invalid event: '%s' must be a string", key);
	if (strlen(v->valuestring) >= size)
		return mreg_error_set(MREG_EINVALID, "invalid event: '%s' is too long", key);
	strcpy(out, v->valuestring);
	return 0;
}

static int get_int(int64_t *out, const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!cJSON_IsNumber(v) || !is_int(v->valuedouble))
		return mreg_error_set(MREG_EINVALID, "invalid event: '%s' must be a whole number", key);
	*out = (int64_t)v->valuedouble;
	return 0;
}

static int get_stage(mreg_stage *out, const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!cJSON_IsString(v) || (*out = mreg_stage_parse(v->valuestring)) == MREG_STAGE_NONE)
		return mreg_error_set(MREG_EINVALID, "invalid event: '%s' is not a stage", key);
	return 0;
}

static int get_tags(mreg_event *ev, const cJSON *obj)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, "tags"), *c;
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

static int parse_fields(mreg_event *ev, const cJSON *doc)
{
	const cJSON *c, *v;
	int64_t n;
	int rc;

	if (!cJSON_IsObject(doc))
		return mreg_error_set(MREG_EINVALID, "invalid event: not a JSON object");
	v = cJSON_GetObjectItemCaseSensitive(doc, "schema");
	if (!cJSON_IsNumber(v))
		return mreg_error_set(MREG_EINVALID, "invalid event: 'schema' is missing");
	if (v->valuedouble != MREG_SCHEMA)
		return mreg_error_set(MREG_EINVALID, "unsupported event schema %g (this mreg reads schema %d)",
				      v->valuedouble, MREG_SCHEMA);
	v = cJSON_GetObjectItemCaseSensitive(doc, "type");
	if (!cJSON_IsString(v))
		return mreg_error_set(MREG_EINVALID, "invalid event: 'type' is missing");
	if ((int)(ev->type = mreg_event_type_parse(v->valuestring)) < 0)
		return mreg_error_set(MREG_EINVALID, "unknown event type '%s'", v->valuestring);
	cJSON_ArrayForEach(c, doc) {
		bool known = in_list(envelope_keys, c->string) || in_list(payload_keys[ev->type], c->string);
		for (const body_field *f = body_fields[ev->type]; !known && f->key; f++)
			known = !strcmp(f->key, c->string);
		if (!known)
			return mreg_error_set(MREG_EINVALID, "invalid event: unknown key '%s'", c->string);
	}
	if ((rc = get_int(&ev->clock, doc, "clock")) < 0 ||
	    (rc = get_fixed(ev->time, sizeof(ev->time), doc, "time")) < 0 ||
	    (rc = get_str(&ev->actor, doc, "actor", true)) < 0 ||
	    (rc = get_str(&ev->node, doc, "node", true)) < 0 ||
	    (rc = get_str(&ev->model, doc, "model", true)) < 0)
		return rc;
	if (has_body(ev->type) && (rc = take_body(ev, (cJSON *)doc)) < 0)
		return rc;
	if (!mreg_event_has_version(ev)) {
		if (cJSON_GetObjectItemCaseSensitive(doc, "ref") || cJSON_GetObjectItemCaseSensitive(doc, "version"))
			return mreg_error_set(MREG_EINVALID, "invalid event: %s names no version",
					      mreg_event_type_name(ev->type));
		return validate_fields(ev);
	}
	if ((rc = get_int(&n, doc, "version")) < 0)
		return rc;
	if (n < 1 || n > 1 << 30)
		return mreg_error_set(MREG_EINVALID, "invalid event: version %lld out of range", (long long)n);
	ev->version = (int)n;
	if (ev->type == MREG_EV_REGISTERED && cJSON_GetObjectItemCaseSensitive(doc, "ref"))
		return mreg_error_set(MREG_EINVALID, "invalid event: a registration has no ref");
	if (ev->type != MREG_EV_REGISTERED && (rc = get_fixed(ev->ref, sizeof(ev->ref), doc, "ref")) < 0)
		return rc;

	switch (ev->type) {
	case MREG_EV_REGISTERED: {
		const cJSON *file = cJSON_GetObjectItemCaseSensitive(doc, "file");
		if ((rc = get_str(&ev->name, doc, "name", true)) < 0 ||
		    (rc = get_str(&ev->description, doc, "description", true)) < 0 ||
		    (rc = get_stage(&ev->stage, doc, "stage")) < 0)
			return rc;
		v = cJSON_GetObjectItemCaseSensitive(doc, "model_type");
		if (!cJSON_IsString(v) || (ev->model_type = mreg_type_parse(v->valuestring)) == MREG_TYPE_NONE)
			return mreg_error_set(MREG_EINVALID, "invalid event: 'model_type' is not a model type");
		if (!cJSON_IsObject(file) || cJSON_GetArraySize(file) != 3)
			return mreg_error_set(MREG_EINVALID, "invalid event: 'file' must have path, hash and size");
		if ((rc = get_str(&ev->file_path, file, "path", true)) < 0 ||
		    (rc = get_fixed(ev->file_hash, sizeof(ev->file_hash), file, "hash")) < 0 ||
		    (rc = get_int(&ev->file_size, file, "size")) < 0)
			return rc;
		v = cJSON_GetObjectItemCaseSensitive(doc, "metrics");
		cJSON_ArrayForEach(c, v)
			if (mreg_metric_parse(c->string) < 0)
				return mreg_error_set(MREG_EINVALID, "invalid event: unknown metric '%s'", c->string);
		if ((rc = mreg_metrics_from_json(&ev->metrics, v, ev->model)) < 0)
			return rc;
		v = cJSON_GetObjectItemCaseSensitive(doc, "training_config");
		if (!cJSON_IsObject(v))
			return mreg_error_set(MREG_EINVALID, "invalid event: 'training_config' must be an object");
		if ((rc = mreg_config_normalize(&ev->training_config, v, false, ev->model)) < 0)
			return rc;
		if ((rc = get_tags(ev, doc)) < 0)
			return rc;
		break;
	}
	case MREG_EV_PROMOTED:
		if ((rc = get_stage(&ev->from, doc, "from")) < 0 || (rc = get_stage(&ev->to, doc, "to")) < 0 ||
		    (rc = get_str(&ev->reason, doc, "reason", true)) < 0)
			return rc;
		break;
	case MREG_EV_METRICS:
		v = cJSON_GetObjectItemCaseSensitive(doc, "metrics");
		cJSON_ArrayForEach(c, v)
			if (mreg_metric_parse(c->string) < 0)
				return mreg_error_set(MREG_EINVALID, "invalid event: unknown metric '%s'", c->string);
		if ((rc = mreg_metrics_from_json(&ev->metrics, v, ev->model)) < 0)
			return rc;
		v = cJSON_GetObjectItemCaseSensitive(doc, "replace");
		if (!cJSON_IsBool(v))
			return mreg_error_set(MREG_EINVALID, "invalid event: 'replace' must be true or false");
		ev->replace = cJSON_IsTrue(v);
		break;
	case MREG_EV_TAGGED:
	case MREG_EV_UNTAGGED:
		if ((rc = get_tags(ev, doc)) < 0)
			return rc;
		break;
	default:
		break;
	}
	return validate_fields(ev);
}

int mreg_event_parse(mreg_event **out, const char *data, size_t len, const char *expect_id)
{
	mreg_event *ev = NULL;
	cJSON *doc = NULL;
	char id[33];
	value_ctx vc = { "event", id, false };
	int rc;

	*out = NULL;
	if (len > MREG_EVENT_MAX_BYTES)
		return mreg_error_set(MREG_EINVALID, "invalid event '%s': larger than %u bytes",
				      expect_id ? expect_id : "", MREG_EVENT_MAX_BYTES);
	mreg_hash128(id, data, len);
	if (expect_id && strcmp(id, expect_id))
		return mreg_error_set(MREG_ECORRUPT, "corrupt event '%s': its bytes hash to %s", expect_id, id);
	if ((rc = check_document(&doc, data, len, &vc)) < 0)
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

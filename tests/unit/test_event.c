/*
 * Unit tests for core/event.c, eventcheck.c, metrics.c and config.c (and
 * the small helpers they lean on in common.c and query.c): the
 * serializer's exact bytes, ids as the xxh128 of those bytes, the strict parser's refusals (each with its code and its
 * message), the field rules shared by writer and parser, names, metrics,
 * training config, times and references.
 *
 * Broken inputs are made from one canonical event by replacing one piece of
 * its text (replace_once), so each test changes exactly one thing and the
 * expected message names exactly that thing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common.h"
#include "event.h"
#include "jsonw.h"
#include "query.h"

#define HEX "0123456789abcdef0123456789abcdef"
#define REF "fedcba9876543210fedcba9876543210"
#define PATH "artifacts/01/23/" HEX ".pt"
#define TIME "2026-11-27T01:45:12.123456Z"
#define TIME_USEC 1795743912123456LL

/* ---- helpers -------------------------------------------------------- */

static void assert_error(int rc, int code, const char *msg)
{
	assert_int_equal(rc, code);
	assert_int_equal(mreg_error_code(), code);
	assert_string_equal(mreg_error_last(), msg);
}

/*
 * Parse text; expect a refusal with this code and message. The message may
 * hold one %s, replaced by the id of the text (the hash of its bytes).
 * Returns NULL if so, else what went wrong (a static string), so that callers
 * free their inputs before failing.
 */
static const char *parse_refusal_mismatch(const char *text, size_t len, int code, const char *fmt)
{
	static char why[4096];
	char id[33], msg[2048];
	mreg_event *ev = (mreg_event *)0x1;
	mreg_hash128(id, text, len);
	snprintf(msg, sizeof(msg), fmt, id);
	mreg_error_clear();
	int rc = mreg_event_parse(&ev, text, len, NULL);
	if (ev) {
		mreg_event_free(ev);
		snprintf(why, sizeof(why), "parsed, expected %d: %s", code, msg);
		return why;
	}
	if (rc != code || mreg_error_code() != code || strcmp(mreg_error_last(), msg)) {
		snprintf(why, sizeof(why), "got %d (last %d) '%s', expected %d '%s'", rc, mreg_error_code(),
			 mreg_error_last(), code, msg);
		return why;
	}
	return NULL;
}

static void assert_parse_refused_len(const char *text, size_t len, int code, const char *fmt)
{
	const char *why = parse_refusal_mismatch(text, len, code, fmt);
	if (why)
		fail_msg("%s", why);
}

static void assert_parse_refused(const char *text, int code, const char *fmt)
{
	assert_parse_refused_len(text, strlen(text), code, fmt);
}

/* A copy of s with the one occurrence of from replaced by to. */
static char *replace_once(const char *s, const char *from, const char *to)
{
	const char *p = strstr(s, from);
	assert_non_null(p);
	assert_null(strstr(p + 1, from));
	size_t n = strlen(s) - strlen(from) + strlen(to);
	char *out = malloc(n + 1);
	assert_non_null(out);
	size_t pre = (size_t)(p - s);
	memcpy(out, s, pre);
	strcpy(out + pre, to);
	strcat(out, p + strlen(from));
	return out;
}

static char **strv(int n, ...)
{
	va_list ap;
	char **v = calloc((size_t)n + 1, sizeof(char *));
	assert_non_null(v);
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		v[i] = mreg_strdup(va_arg(ap, const char *));
	va_end(ap);
	return v;
}

static void envelope(mreg_event *ev, mreg_event_type type, int64_t clock, int version)
{
	mreg_event_init(ev);
	ev->type = type;
	ev->clock = clock;
	strcpy(ev->time, TIME);
	ev->actor = mreg_strdup("alice");
	ev->node = mreg_strdup("n1");
	ev->model = mreg_strdup("square8_2p");
	ev->version = version;
	if (type != MREG_EV_REGISTERED)
		strcpy(ev->ref, REF);
}

/* The registration most parser tests start from. */
static void make_registration(mreg_event *ev)
{
	envelope(ev, MREG_EV_REGISTERED, 1, 1);
	ev->name = mreg_strdup("Square 8 2p");
	ev->description = mreg_strdup("first");
	ev->model_type = MREG_TYPE_POLICY_VALUE;
	ev->stage = MREG_STAGE_DEVELOPMENT;
	ev->file_path = mreg_strdup(PATH);
	strcpy(ev->file_hash, "xxh128:" HEX);
	ev->file_size = 4096;
	ev->metrics.present = (1u << MREG_METRIC_ELO) | (1u << MREG_METRIC_GAMES_PLAYED);
	ev->metrics.v[MREG_METRIC_ELO] = 1500.5;
	ev->metrics.v[MREG_METRIC_GAMES_PLAYED] = 10;
	ev->training_config = cJSON_CreateObject();
	cJSON_AddNumberToObject(ev->training_config, "learning_rate", 0.01);
	ev->tags = strv(2, "a", "b");
	ev->ntags = 2;
}

static void make_promotion(mreg_event *ev)
{
	envelope(ev, MREG_EV_PROMOTED, 7, 3);
	ev->from = MREG_STAGE_STAGING;
	ev->to = MREG_STAGE_PRODUCTION;
	ev->reason = mreg_strdup("passed evaluation");
}

/* Serialized bytes of an event as a heap string. */
static char *serialized(mreg_event *ev)
{
	mreg_buf b = MREG_BUF_INIT;
	int rc = mreg_event_serialize(&b, ev);
	if (rc < 0)
		fail_msg("serialize: %s", mreg_error_last());
	return mreg_buf_detach(&b);
}

static char *registration_text(void)
{
	mreg_event ev;
	make_registration(&ev);
	char *s = serialized(&ev);
	mreg_event_dispose(&ev);
	return s;
}

static char *promotion_text(void)
{
	mreg_event ev;
	make_promotion(&ev);
	char *s = serialized(&ev);
	mreg_event_dispose(&ev);
	return s;
}

static void assert_registration_refused_with(const char *from, const char *to, int code, const char *fmt)
{
	char *base = registration_text();
	char *bad = replace_once(base, from, to);
	const char *why = parse_refusal_mismatch(bad, strlen(bad), code, fmt);
	free(bad);
	free(base);
	if (why)
		fail_msg("%s", why);
}

static void assert_promotion_refused_with(const char *from, const char *to, int code, const char *fmt)
{
	char *base = promotion_text();
	char *bad = replace_once(base, from, to);
	const char *why = parse_refusal_mismatch(bad, strlen(bad), code, fmt);
	free(bad);
	free(base);
	if (why)
		fail_msg("%s", why);
}

static char *json_text(const cJSON *v)
{
	mreg_buf b = MREG_BUF_INIT;
	mreg_jsonw w;
	mreg_jsonw_init(&w, &b);
	mreg_jsonw_value(&w, NULL, v);
	assert_int_equal(mreg_jsonw_finish(&w), 0);
	return mreg_buf_detach(&b);
}

/* ---- serializer ----------------------------------------------------- */

static const char promotion_bytes[] =
	"{\n"
	"  \"schema\": 1,\n"
	"  \"type\": \"version.promoted\",\n"
	"  \"clock\": 7,\n"
	"  \"time\": \"2026-11-27T01:45:12.123456Z\",\n"
	"  \"actor\": \"alice\",\n"
	"  \"node\": \"n1\",\n"
	"  \"model\": \"square8_2p\",\n"
	"  \"ref\": \"fedcba9876543210fedcba9876543210\",\n"
	"  \"version\": 3,\n"
	"  \"from\": \"staging\",\n"
	"  \"to\": \"production\",\n"
	"  \"reason\": \"passed evaluation\"\n"
	"}\n";

static void serialize_promotion_exact_bytes(void **state)
{
	(void)state;
	char *s = promotion_text();
	assert_string_equal(s, promotion_bytes);
	free(s);
}

static void serialize_registration_exact_bytes(void **state)
{
	(void)state;
	static const char want[] =
		"{\n"
		"  \"schema\": 1,\n"
		"  \"type\": \"version.registered\",\n"
		"  \"clock\": 1,\n"
		"  \"time\": \"2026-11-27T01:45:12.123456Z\",\n"
		"  \"actor\": \"alice\",\n"
		"  \"node\": \"n1\",\n"
		"  \"model\": \"square8_2p\",\n"
		"  \"version\": 1,\n"
		"  \"name\": \"Square 8 2p\",\n"
		"  \"model_type\": \"policy_value\",\n"
		"  \"description\": \"first\",\n"
		"  \"stage\": \"development\",\n"
		"  \"file\": {\n"
		"    \"path\": \"artifacts/01/23/0123456789abcdef0123456789abcdef.pt\",\n"
		"    \"hash\": \"xxh128:0123456789abcdef0123456789abcdef\",\n"
		"    \"size\": 4096\n"
		"  },\n"
		"  \"metrics\": {\n"
		"    \"elo\": 1500.5,\n"
		"    \"games_played\": 10\n"
		"  },\n"
		"  \"training_config\": {\n"
		"    \"learning_rate\": 0.01\n"
		"  },\n"
		"  \"tags\": [\n"
		"    \"a\",\n"
		"    \"b\"\n"
		"  ]\n"
		"}\n";
	char *s = registration_text();
	assert_string_equal(s, want);
	free(s);
}

static void serialize_empty_payload_objects_as_braces(void **state)
{
	(void)state;
	mreg_event ev;
	make_registration(&ev);
	ev.metrics.present = 0;
	cJSON_Delete(ev.training_config);
	ev.training_config = NULL;
	free(ev.tags[0]);
	free(ev.tags[1]);
	free(ev.tags);
	ev.tags = NULL;
	ev.ntags = 0;
	char *s = serialized(&ev);
	assert_non_null(strstr(s, "  \"metrics\": {},\n  \"training_config\": {},\n  \"tags\": []\n}\n"));
	free(s);
	mreg_event_dispose(&ev);
}

static void serialize_metrics_event_layout(void **state)
{
	(void)state;
	mreg_event ev;
	envelope(&ev, MREG_EV_METRICS, 9, 2);
	ev.metrics.present = 1u << MREG_METRIC_WIN_RATE;
	ev.metrics.v[MREG_METRIC_WIN_RATE] = 0.625;
	ev.replace = true;
	char *s = serialized(&ev);
	assert_non_null(strstr(s, "  \"version\": 2,\n  \"metrics\": {\n    \"win_rate\": 0.625\n  },\n"
				  "  \"replace\": true\n}\n"));
	free(s);
	mreg_event_dispose(&ev);
}

static void serialize_escapes_strings(void **state)
{
	(void)state;
	mreg_event ev;
	make_promotion(&ev);
	free(ev.reason);
	ev.reason = mreg_strdup("say \"hi\"\\\n\t\x01");
	char *s = serialized(&ev);
	assert_non_null(strstr(s, "  \"reason\": \"say \\\"hi\\\"\\\\\\n\\t\\u0001\"\n}\n"));
	mreg_event *back = NULL;
	assert_int_equal(mreg_event_parse(&back, s, strlen(s), NULL), 0);
	assert_string_equal(back->reason, "say \"hi\"\\\n\t\x01");
	mreg_event_free(back);
	free(s);
	mreg_event_dispose(&ev);
}

static void serialize_sets_id_to_xxh128_of_bytes(void **state)
{
	(void)state;
	mreg_event ev;
	make_promotion(&ev);
	char *s = serialized(&ev);
	char want[33];
	mreg_hash128(want, promotion_bytes, strlen(promotion_bytes));
	assert_string_equal(ev.id, want);
	/* and mreg_hash128 is the canonical XXH3-128, lowercase hex */
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits(promotion_bytes, strlen(promotion_bytes)));
	char hex[33];
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", c.digest[i]);
	assert_string_equal(ev.id, hex);
	free(s);
	mreg_event_dispose(&ev);
}

static void hash128_of_empty_input_is_known_vector(void **state)
{
	(void)state;
	char out[33];
	mreg_hash128(out, "", 0);
	assert_string_equal(out, "99aa06d3014798d86001c324468d497f");
}

static void serialize_appends_to_buffer_and_hashes_only_the_event(void **state)
{
	(void)state;
	mreg_event ev;
	make_promotion(&ev);
	mreg_buf b = MREG_BUF_INIT;
	mreg_buf_puts(&b, "prefix");
	assert_int_equal(mreg_event_serialize(&b, &ev), 0);
	assert_string_equal(b.ptr + 6, promotion_bytes);
	char want[33];
	mreg_hash128(want, promotion_bytes, strlen(promotion_bytes));
	assert_string_equal(ev.id, want);
	mreg_buf_dispose(&b);
	mreg_event_dispose(&ev);
}

static void serialize_refuses_invalid_event_and_writes_nothing(void **state)
{
	(void)state;
	mreg_event ev;
	make_promotion(&ev);
	ev.clock = 0;
	mreg_buf b = MREG_BUF_INIT;
	assert_error(mreg_event_serialize(&b, &ev), MREG_EINVALID, "invalid event: clock 0 out of range");
	assert_int_equal(b.size, 0);
	assert_string_equal(ev.id, "");
	mreg_buf_dispose(&b);
	mreg_event_dispose(&ev);
}

static void serialize_refuses_nan_metric(void **state)
{
	(void)state;
	mreg_event ev;
	envelope(&ev, MREG_EV_METRICS, 9, 2);
	ev.metrics.present = 1u << MREG_METRIC_ELO;
	ev.metrics.v[MREG_METRIC_ELO] = NAN;
	mreg_buf b = MREG_BUF_INIT;
	assert_error(mreg_event_serialize(&b, &ev), MREG_EINVALID,
		     "invalid metric elo for 'square8_2p': not a finite number");
	assert_int_equal(b.size, 0);
	mreg_buf_dispose(&b);
	mreg_event_dispose(&ev);
}

static void serialize_refuses_ref_on_registration(void **state)
{
	(void)state;
	mreg_event ev;
	make_registration(&ev);
	strcpy(ev.ref, REF);
	mreg_buf b = MREG_BUF_INIT;
	assert_error(mreg_event_serialize(&b, &ev), MREG_EINVALID, "invalid event: a registration has no ref");
	mreg_buf_dispose(&b);
	mreg_event_dispose(&ev);
}

/*
 * event.c promises "an event this code writes always parses": the writer
 * must refuse what the parser would refuse. A training config the parser
 * refuses must not be written.
 */
static void serialize_refuses_training_config_the_parser_refuses(void **state)
{
	(void)state;
	mreg_event ev;
	make_registration(&ev);
	cJSON_ReplaceItemInObject(ev.training_config, "learning_rate", cJSON_CreateString("fast"));
	mreg_buf b = MREG_BUF_INIT;
	int rc = mreg_event_serialize(&b, &ev);
	int prc = 0;
	if (rc == 0) {
		mreg_event *back = NULL;
		prc = mreg_event_parse(&back, b.ptr, b.size, NULL);
		mreg_event_free(back);
	}
	mreg_buf_dispose(&b);
	mreg_event_dispose(&ev);
	if (rc == 0)
		fail_msg("serialize wrote an event that parse refuses (parse rc %d: %s)", prc, mreg_error_last());
	assert_error(rc, MREG_EINVALID, "invalid training config learning_rate for 'square8_2p': must be a number > 0");
}

/* Same promise for the version number: the parser caps it at 2^30. */
static void serialize_refuses_version_the_parser_refuses(void **state)
{
	(void)state;
	mreg_event ev;
	make_promotion(&ev);
	ev.version = (1 << 30) + 1;
	mreg_buf b = MREG_BUF_INIT;
	int rc = mreg_event_serialize(&b, &ev);
	int prc = 0;
	if (rc == 0) {
		mreg_event *back = NULL;
		prc = mreg_event_parse(&back, b.ptr, b.size, NULL);
		mreg_event_free(back);
	}
	mreg_buf_dispose(&b);
	mreg_event_dispose(&ev);
	if (rc == 0)
		fail_msg("serialize wrote version 1073741825, which parse refuses (parse rc %d: %s)", prc,
			 mreg_error_last());
	assert_error(rc, MREG_EINVALID, "invalid event: version 1073741825 out of range");
}

/* ---- parse round trip ----------------------------------------------- */

static void assert_round_trip(mreg_event *ev)
{
	char *s1 = serialized(ev);
	mreg_event *back = NULL;
	int rc = mreg_event_parse(&back, s1, strlen(s1), ev->id);
	if (rc < 0)
		fail_msg("parse: %s", mreg_error_last());
	assert_string_equal(back->id, ev->id);
	char *s2 = serialized(back);
	assert_string_equal(s2, s1);
	assert_string_equal(back->id, ev->id);
	free(s1);
	free(s2);
	mreg_event_free(back);
}

static void parse_round_trips_registration(void **state)
{
	(void)state;
	mreg_event ev;
	make_registration(&ev);
	ev.metrics.present |= 1u << MREG_METRIC_VALUE_MSE | 1u << MREG_METRIC_WIN_RATE;
	ev.metrics.v[MREG_METRIC_VALUE_MSE] = 0.1;
	ev.metrics.v[MREG_METRIC_WIN_RATE] = 1e-7;
	ev.metrics.v[MREG_METRIC_GAMES_PLAYED] = 9007199254740991.0;
	cJSON *extra = cJSON_AddObjectToObject(ev.training_config, "extra_config");
	cJSON_AddNumberToObject(extra, "big", 9007199254740991.0);
	cJSON_AddStringToObject(extra, "s", "x\"y");
	assert_round_trip(&ev);

	/* and the fields come back as they were */
	char *s = serialized(&ev);
	mreg_event *back = NULL;
	assert_int_equal(mreg_event_parse(&back, s, strlen(s), NULL), 0);
	assert_int_equal(back->type, MREG_EV_REGISTERED);
	assert_int_equal(back->clock, 1);
	assert_string_equal(back->time, TIME);
	assert_string_equal(back->actor, "alice");
	assert_string_equal(back->node, "n1");
	assert_string_equal(back->model, "square8_2p");
	assert_string_equal(back->ref, "");
	assert_int_equal(back->version, 1);
	assert_string_equal(back->name, "Square 8 2p");
	assert_string_equal(back->description, "first");
	assert_int_equal(back->model_type, MREG_TYPE_POLICY_VALUE);
	assert_int_equal(back->stage, MREG_STAGE_DEVELOPMENT);
	assert_string_equal(back->file_path, PATH);
	assert_string_equal(back->file_hash, "xxh128:" HEX);
	assert_int_equal(back->file_size, 4096);
	assert_int_equal(back->metrics.present, ev.metrics.present);
	assert_true(back->metrics.v[MREG_METRIC_ELO] == 1500.5);
	assert_true(back->metrics.v[MREG_METRIC_VALUE_MSE] == 0.1);
	assert_true(back->metrics.v[MREG_METRIC_WIN_RATE] == 1e-7);
	assert_true(back->metrics.v[MREG_METRIC_GAMES_PLAYED] == 9007199254740991.0);
	assert_int_equal(back->ntags, 2);
	assert_string_equal(back->tags[0], "a");
	assert_string_equal(back->tags[1], "b");
	free(s);
	mreg_event_free(back);
	mreg_event_dispose(&ev);
}

static void parse_round_trips_promotion(void **state)
{
	(void)state;
	mreg_event ev;
	make_promotion(&ev);
	assert_round_trip(&ev);
	mreg_event *back = NULL;
	assert_int_equal(mreg_event_parse(&back, promotion_bytes, strlen(promotion_bytes), NULL), 0);
	assert_int_equal(back->from, MREG_STAGE_STAGING);
	assert_int_equal(back->to, MREG_STAGE_PRODUCTION);
	assert_string_equal(back->reason, "passed evaluation");
	assert_string_equal(back->ref, REF);
	assert_int_equal(back->version, 3);
	mreg_event_free(back);
	mreg_event_dispose(&ev);
}

static void parse_round_trips_metrics_update(void **state)
{
	(void)state;
	mreg_event ev;
	envelope(&ev, MREG_EV_METRICS, 12, 2);
	ev.metrics.present = (1u << MREG_METRIC_COUNT) - 1;
	for (int i = 0; i < MREG_METRIC_COUNT; i++)
		ev.metrics.v[i] = 0.125 * i;
	ev.metrics.v[MREG_METRIC_ELO] = -37.125;
	ev.metrics.v[MREG_METRIC_GAMES_PLAYED] = 500;
	ev.replace = true;
	assert_round_trip(&ev);
	mreg_event_dispose(&ev);
}

static void parse_round_trips_tag_and_untag(void **state)
{
	(void)state;
	mreg_event ev;
	envelope(&ev, MREG_EV_TAGGED, 3, 1);
	ev.tags = strv(3, "board:hex8", "cmaes", "players:2");
	ev.ntags = 3;
	assert_round_trip(&ev);
	ev.type = MREG_EV_UNTAGGED;
	assert_round_trip(&ev);
	mreg_event_dispose(&ev);
}

static void parse_checks_expected_id(void **state)
{
	(void)state;
	char id[33];
	mreg_event *ev = NULL;
	mreg_hash128(id, promotion_bytes, strlen(promotion_bytes));
	assert_int_equal(mreg_event_parse(&ev, promotion_bytes, strlen(promotion_bytes), id), 0);
	assert_string_equal(ev->id, id);
	mreg_event_free(ev);
}

/* ---- parser refusals ------------------------------------------------ */

static void parse_refuses_bytes_not_hashing_to_expected_id(void **state)
{
	(void)state;
	char id[33], msg[256];
	const char *expect = "00000000000000000000000000000000";
	mreg_event *ev = (mreg_event *)0x1;
	mreg_hash128(id, promotion_bytes, strlen(promotion_bytes));
	snprintf(msg, sizeof(msg), "corrupt event '%s': its bytes hash to %s", expect, id);
	assert_error(mreg_event_parse(&ev, promotion_bytes, strlen(promotion_bytes), expect), MREG_ECORRUPT, msg);
	assert_null(ev);
}

static void parse_refuses_unknown_schema(void **state)
{
	(void)state;
	assert_promotion_refused_with("\"schema\": 1", "\"schema\": 2", MREG_EINVALID,
				      "unsupported event schema 2 (this mreg reads schema 1) (event %s)");
}

static void parse_refuses_missing_schema(void **state)
{
	(void)state;
	assert_promotion_refused_with("  \"schema\": 1,\n", "", MREG_EINVALID,
				      "invalid event: 'schema' is missing (event %s)");
}

static void parse_refuses_unknown_type(void **state)
{
	(void)state;
	assert_promotion_refused_with("version.promoted", "version.deleted", MREG_EINVALID,
				      "unknown event type 'version.deleted' (event %s)");
}

static void parse_refuses_unknown_key(void **state)
{
	(void)state;
	assert_promotion_refused_with("  \"schema\": 1,\n", "  \"schema\": 1,\n  \"color\": \"red\",\n",
				      MREG_EINVALID, "invalid event: unknown key 'color' (event %s)");
}

static void parse_refuses_key_of_another_type(void **state)
{
	(void)state;
	assert_promotion_refused_with("  \"reason\"", "  \"name\": \"x\",\n  \"reason\"", MREG_EINVALID,
				      "invalid event: unknown key 'name' (event %s)");
}

/* The writer never puts a ref on a registration (validate refuses one); the
 * parser must not silently drop one either. */
static void parse_refuses_ref_on_registration(void **state)
{
	(void)state;
	assert_registration_refused_with("  \"version\": 1,\n",
					 "  \"ref\": \"" REF "\",\n  \"version\": 1,\n", MREG_EINVALID,
					 "invalid event: a registration has no ref (event %s)");
}

static void parse_refuses_duplicate_key(void **state)
{
	(void)state;
	assert_promotion_refused_with("  \"actor\": \"alice\",\n",
				      "  \"actor\": \"alice\",\n  \"actor\": \"bob\",\n", MREG_EINVALID,
				      "invalid event '%s': duplicate key 'actor'");
}

static void parse_refuses_duplicate_key_nested(void **state)
{
	(void)state;
	assert_registration_refused_with("    \"size\": 4096\n", "    \"size\": 4096,\n    \"size\": 4096\n",
					 MREG_EINVALID, "invalid event '%s': duplicate key 'size'");
}

static void parse_refuses_missing_actor(void **state)
{
	(void)state;
	assert_promotion_refused_with("  \"actor\": \"alice\",\n", "", MREG_EINVALID,
				      "invalid event: 'actor' is missing (event %s)");
}

static void parse_refuses_missing_reason(void **state)
{
	(void)state;
	assert_promotion_refused_with(",\n  \"reason\": \"passed evaluation\"", "", MREG_EINVALID,
				      "invalid event: 'reason' is missing (event %s)");
}

static void parse_refuses_missing_ref(void **state)
{
	(void)state;
	assert_promotion_refused_with("  \"ref\": \"" REF "\",\n", "", MREG_EINVALID,
				      "invalid event: 'ref' must be a string (event %s)");
}

static void parse_refuses_string_where_number_expected(void **state)
{
	(void)state;
	assert_promotion_refused_with("\"clock\": 7", "\"clock\": \"7\"", MREG_EINVALID,
				      "invalid event: 'clock' must be a whole number (event %s)");
}

static void parse_refuses_fractional_version(void **state)
{
	(void)state;
	assert_promotion_refused_with("\"version\": 3", "\"version\": 2.5", MREG_EINVALID,
				      "invalid event: 'version' must be a whole number (event %s)");
}

static void parse_refuses_number_where_string_expected(void **state)
{
	(void)state;
	assert_promotion_refused_with("\"actor\": \"alice\"", "\"actor\": 5", MREG_EINVALID,
				      "invalid event: 'actor' must be a string (event %s)");
}

static void parse_refuses_unknown_stage(void **state)
{
	(void)state;
	assert_promotion_refused_with("\"to\": \"production\"", "\"to\": \"prod\"", MREG_EINVALID,
				      "invalid event: 'to' is not a stage (event %s)");
}

static void parse_refuses_tags_not_array(void **state)
{
	(void)state;
	assert_registration_refused_with("[\n    \"a\",\n    \"b\"\n  ]", "\"a\"", MREG_EINVALID,
					 "invalid event: 'tags' must be an array (event %s)");
}

static void parse_refuses_bad_time(void **state)
{
	(void)state;
	assert_promotion_refused_with(TIME, "2026-11-27 01:45:12", MREG_EINVALID,
				      "invalid event: time '2026-11-27 01:45:12' is not YYYY-MM-DDTHH:MM:SS.ffffffZ (event %s)");
}

static void parse_refuses_version_zero(void **state)
{
	(void)state;
	assert_promotion_refused_with("\"version\": 3", "\"version\": 0", MREG_EINVALID,
				      "invalid event: version 0 out of range (event %s)");
}

/* Objects nested inside training_config.extra_config; depth of the top-level
 * object is 0, training_config 1, extra_config 2. */
static char *nested_extra(int nobjects)
{
	mreg_buf b = MREG_BUF_INIT;
	mreg_buf_puts(&b, "\"extra_config\": ");
	for (int i = 1; i < nobjects; i++)
		mreg_buf_puts(&b, "{\"x\": ");
	mreg_buf_puts(&b, "{}");
	for (int i = 1; i < nobjects; i++)
		mreg_buf_putc(&b, '}');
	return mreg_buf_detach(&b);
}

static void parse_refuses_nesting_deeper_than_16(void **state)
{
	(void)state;
	char *base = registration_text();
	char *deep = nested_extra(16);	/* innermost object at depth 17 */
	char *bad = replace_once(base, "\"learning_rate\": 0.01", deep);
	assert_parse_refused(bad, MREG_EINVALID, "invalid event '%s': nested deeper than 16");
	free(bad);
	free(deep);
	free(base);
}

static void parse_accepts_nesting_of_exactly_16(void **state)
{
	(void)state;
	char *base = registration_text();
	char *deep = nested_extra(15);	/* innermost object at depth 16 */
	char *ok = replace_once(base, "\"learning_rate\": 0.01", deep);
	mreg_event *ev = NULL;
	int rc = mreg_event_parse(&ev, ok, strlen(ok), NULL);
	if (rc < 0)
		fail_msg("parse: %s", mreg_error_last());
	assert_non_null(cJSON_GetObjectItemCaseSensitive(ev->training_config, "extra_config"));
	mreg_event_free(ev);
	free(ok);
	free(deep);
	free(base);
}

static void parse_refuses_more_than_1_mib(void **state)
{
	(void)state;
	size_t len = MREG_EVENT_MAX_BYTES + 1;
	char *big = malloc(len);
	assert_non_null(big);
	size_t n = strlen(promotion_bytes);
	memcpy(big, promotion_bytes, n);
	memset(big + n, ' ', len - n);
	mreg_event *ev = (mreg_event *)0x1;
	assert_error(mreg_event_parse(&ev, big, len, NULL), MREG_EINVALID, "invalid event '': larger than 1048576 bytes");
	assert_null(ev);
	assert_error(mreg_event_parse(&ev, big, len, HEX), MREG_EINVALID,
		     "invalid event '" HEX "': larger than 1048576 bytes");
	/* exactly 1 MiB (the event padded with trailing whitespace) is accepted */
	assert_int_equal(mreg_event_parse(&ev, big, len - 1, NULL), 0);
	assert_string_equal(ev->reason, "passed evaluation");
	mreg_event_free(ev);
	free(big);
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void parse_refuses_string_longer_than_16384(void **state)
{
	(void)state;
	char *d = repeat('d', MREG_STRING_MAX + 1);
	char *quoted = mreg_strfmt("\"description\": \"%s\"", d);
	assert_registration_refused_with("\"description\": \"first\"", quoted, MREG_EINVALID,
					 "invalid event '%s': a string is longer than 16384 bytes");
	free(quoted);
	free(d);
}

static void parse_accepts_string_of_16384(void **state)
{
	(void)state;
	char *d = repeat('d', MREG_STRING_MAX);
	char *quoted = mreg_strfmt("\"description\": \"%s\"", d);
	char *base = registration_text();
	char *ok = replace_once(base, "\"description\": \"first\"", quoted);
	mreg_event *ev = NULL;
	assert_int_equal(mreg_event_parse(&ev, ok, strlen(ok), NULL), 0);
	assert_int_equal(strlen(ev->description), MREG_STRING_MAX);
	mreg_event_free(ev);
	free(ok);
	free(base);
	free(quoted);
	free(d);
}

/* Keys are strings too: "string lengths are capped" (event.h). */
static void parse_refuses_key_longer_than_16384(void **state)
{
	(void)state;
	char *k = repeat('k', MREG_STRING_MAX + 1);
	char *member = mreg_strfmt("\"extra_config\": {\"%s\": 1}", k);
	char *base = registration_text();
	char *bad = replace_once(base, "\"learning_rate\": 0.01", member);
	mreg_event *ev = NULL;
	int rc = mreg_event_parse(&ev, bad, strlen(bad), NULL);
	mreg_event_free(ev);
	free(bad);
	free(base);
	free(member);
	free(k);
	assert_int_equal(rc, MREG_EINVALID);
	assert_non_null(strstr(mreg_error_last(), "longer than 16384 bytes"));
}

static void parse_refuses_trailing_garbage(void **state)
{
	(void)state;
	char *bad = mreg_strfmt("%sx", promotion_bytes);
	assert_parse_refused(bad, MREG_EINVALID, "invalid event '%s': trailing bytes after the JSON value");
	free(bad);
	bad = mreg_strfmt("%s{}\n", promotion_bytes);
	assert_parse_refused(bad, MREG_EINVALID, "invalid event '%s': trailing bytes after the JSON value");
	free(bad);
}

static void parse_refuses_nul_byte(void **state)
{
	(void)state;
	size_t n = strlen(promotion_bytes);
	char *bad = malloc(n + 1);
	memcpy(bad, promotion_bytes, n + 1);
	bad[n - 1] = '\0';	/* the trailing newline becomes NUL */
	assert_parse_refused_len(bad, n, MREG_EINVALID, "invalid event '%s': contains a NUL byte");
	bad[n - 1] = '\n';
	bad[20] = '\0';	/* inside a string */
	assert_parse_refused_len(bad, n, MREG_EINVALID, "invalid event '%s': contains a NUL byte");
	free(bad);
}

static void parse_refuses_invalid_json(void **state)
{
	(void)state;
	assert_parse_refused("{\"schema\": 1,", MREG_EINVALID, "invalid event '%s': not valid JSON");
	assert_parse_refused("", MREG_EINVALID, "invalid event '%s': not valid JSON");
	assert_parse_refused("[1]\n", MREG_EINVALID, "invalid event: not a JSON object (event %s)");
}

static void parse_refuses_unsorted_tags(void **state)
{
	(void)state;
	assert_registration_refused_with("\"a\",\n    \"b\"", "\"b\",\n    \"a\"", MREG_EINVALID,
					 "invalid event: tags must be sorted and unique (event %s)");
}

static void parse_refuses_duplicate_tags(void **state)
{
	(void)state;
	assert_registration_refused_with("\"a\",\n    \"b\"", "\"a\",\n    \"a\"", MREG_EINVALID,
					 "invalid event: tags must be sorted and unique (event %s)");
}

static void parse_refuses_file_path_outside_store(void **state)
{
	(void)state;
	assert_registration_refused_with(PATH, "models/square8_2p/v1.pt", MREG_EINVALID,
					 "invalid event: file path 'models/square8_2p/v1.pt' is not under artifacts/ or blobs/ (event %s)");
}

static void parse_refuses_file_path_not_matching_hash(void **state)
{
	(void)state;
	const char *other = "artifacts/01/23/" REF ".pt";
	char *msg = mreg_strfmt("invalid event: file path '%s' does not match its hash (event %%s)", other);
	assert_registration_refused_with(PATH, other, MREG_EINVALID, msg);
	free(msg);
	const char *fan = "artifacts/01/24/" HEX ".pt";
	msg = mreg_strfmt("invalid event: file path '%s' does not match its hash (event %%s)", fan);
	assert_registration_refused_with(PATH, fan, MREG_EINVALID, msg);
	free(msg);
}

static void parse_refuses_file_path_bad_extension(void **state)
{
	(void)state;
	const char *p = "blobs/01/23/" HEX ".PT";
	char *msg = mreg_strfmt("invalid event: file path '%s' has a bad extension (event %%s)", p);
	assert_registration_refused_with(PATH, p, MREG_EINVALID, msg);
	free(msg);
}

static void parse_refuses_file_hash_not_hex(void **state)
{
	(void)state;
	assert_registration_refused_with("\"xxh128:" HEX "\"", "\"xxh128:" "0123456789ABCDEF0123456789abcdef\"",
					 MREG_EINVALID,
					 "invalid event: file hash '0123456789ABCDEF0123456789abcdef' is not 32 hex digits (event %s)");
}

static void parse_refuses_win_rate_above_one(void **state)
{
	(void)state;
	assert_registration_refused_with("\"elo\": 1500.5", "\"win_rate\": 1.5", MREG_EINVALID,
					 "invalid metric win_rate=1.5 for 'square8_2p': must be between 0 and 1 (event %s)");
}

static void parse_refuses_negative_games_played(void **state)
{
	(void)state;
	assert_registration_refused_with("\"games_played\": 10", "\"games_played\": -1", MREG_EINVALID,
					 "invalid metric games_played=-1 for 'square8_2p': must be a whole number >= 0 (event %s)");
}

static void parse_refuses_fractional_games_played(void **state)
{
	(void)state;
	assert_registration_refused_with("\"games_played\": 10", "\"games_played\": 2.5", MREG_EINVALID,
					 "invalid metric games_played=2.5 for 'square8_2p': must be a whole number >= 0 (event %s)");
}

static void parse_refuses_nan_and_infinite_metrics(void **state)
{
	(void)state;
	/* JSON has no NaN: the document does not parse */
	char *base = registration_text();
	char *bad = replace_once(base, "1500.5", "NaN");
	assert_parse_refused(bad, MREG_EINVALID, "invalid event '%s': not valid JSON");
	free(bad);
	/* a number too large for a double reads as infinity and is refused, wherever it is */
	bad = replace_once(base, "1500.5", "1e999");
	assert_parse_refused(bad, MREG_EINVALID, "invalid event '%s': a number is out of range");
	free(bad);
	free(base);
}

static void parse_refuses_unknown_metric(void **state)
{
	(void)state;
	assert_registration_refused_with("\"elo\": 1500.5", "\"fitness\": 0.5", MREG_EINVALID,
					 "invalid event: unknown metric 'fitness' (event %s)");
}

static void parse_refuses_bad_training_config(void **state)
{
	(void)state;
	assert_registration_refused_with("\"learning_rate\": 0.01", "\"batch_size\": 2.5", MREG_EINVALID,
					 "invalid training config batch_size for 'square8_2p': must be a whole number >= 0 (event %s)");
}

static void parse_refuses_metrics_replace_not_bool(void **state)
{
	(void)state;
	mreg_event ev;
	envelope(&ev, MREG_EV_METRICS, 9, 2);
	char *base = serialized(&ev);
	char *bad = replace_once(base, "\"replace\": false", "\"replace\": 0");
	assert_parse_refused(bad, MREG_EINVALID, "invalid event: 'replace' must be true or false (event %s)");
	free(bad);
	free(base);
	mreg_event_dispose(&ev);
}

static void parse_refuses_tag_event_without_tags(void **state)
{
	(void)state;
	mreg_event ev;
	envelope(&ev, MREG_EV_TAGGED, 3, 1);
	ev.tags = strv(1, "x");
	ev.ntags = 1;
	char *base = serialized(&ev);
	char *bad = replace_once(base, "[\n    \"x\"\n  ]", "[]");
	assert_parse_refused(bad, MREG_EINVALID, "invalid event: no tags (event %s)");
	free(bad);
	free(base);
	mreg_event_dispose(&ev);
}

/* ---- names ---------------------------------------------------------- */

static void id_check_accepts_letters_digits_and_separators(void **state)
{
	(void)state;
	assert_int_equal(mreg_id_check("square8_2p"), 0);
	assert_int_equal(mreg_id_check("Hex8-4p.v2"), 0);
	assert_int_equal(mreg_id_check("0"), 0);
	char *max = repeat('a', MREG_ID_MAX);
	assert_int_equal(mreg_id_check(max), 0);
	free(max);
}

static void id_check_refuses_empty(void **state)
{
	(void)state;
	assert_error(mreg_id_check(""), MREG_EINVALID, "invalid model id '': empty");
}

static void id_check_refuses_longer_than_128(void **state)
{
	(void)state;
	char *s = repeat('a', 200);
	assert_error(mreg_id_check(s), MREG_EINVALID,
		     "invalid model id 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...': longer than 128 bytes");
	free(s);
	s = repeat('b', MREG_ID_MAX + 1);
	assert_int_equal(mreg_id_check(s), MREG_EINVALID);
	free(s);
}

static void id_check_refuses_slash(void **state)
{
	(void)state;
	assert_error(mreg_id_check("a/b"), MREG_EINVALID,
		     "invalid model id 'a/b': use letters, digits, '_', '-' and '.', starting with a letter or digit");
}

static void id_check_refuses_dot_dot(void **state)
{
	(void)state;
	assert_error(mreg_id_check("a..b"), MREG_EINVALID, "invalid model id 'a..b': '..' is not allowed");
	assert_error(mreg_id_check(".."), MREG_EINVALID,
		     "invalid model id '..': use letters, digits, '_', '-' and '.', starting with a letter or digit");
}

static void id_check_refuses_spaces(void **state)
{
	(void)state;
	assert_error(mreg_id_check("   "), MREG_EINVALID,
		     "invalid model id '   ': use letters, digits, '_', '-' and '.', starting with a letter or digit");
	assert_error(mreg_id_check("_a"), MREG_EINVALID,
		     "invalid model id '_a': use letters, digits, '_', '-' and '.', starting with a letter or digit");
}

static void id_derive_lowercases_and_maps_separators(void **state)
{
	(void)state;
	char out[MREG_ID_MAX + 1];
	assert_int_equal(mreg_id_derive(out, sizeof(out), "Test Model-1!"), 0);
	assert_string_equal(out, "test_model_1");
	assert_int_equal(mreg_id_derive(out, sizeof(out), "a/b..c"), 0);
	assert_string_equal(out, "abc");
	assert_int_equal(mreg_id_derive(out, sizeof(out), "Caf\xc3\xa9 8"), 0);	/* ASCII only */
	assert_string_equal(out, "caf_8");
	assert_int_equal(mreg_id_check(out), 0);
}

static void id_derive_refuses_empty(void **state)
{
	(void)state;
	char out[MREG_ID_MAX + 1];
	assert_error(mreg_id_derive(out, sizeof(out), ""), MREG_EINVALID,
		     "cannot derive a model id from '': no letters or digits");
	assert_error(mreg_id_derive(out, sizeof(out), "/..!"), MREG_EINVALID,
		     "cannot derive a model id from '/..!': no letters or digits");
}

static void id_derive_refuses_spaces_only(void **state)
{
	(void)state;
	char out[MREG_ID_MAX + 1];
	assert_error(mreg_id_derive(out, sizeof(out), "   "), MREG_EINVALID,
		     "cannot derive a model id from '   ': it would start with '_'");
}

static void id_derive_refuses_longer_than_128(void **state)
{
	(void)state;
	char out[MREG_ID_MAX + 1];
	char *s = repeat('A', 200);
	char *msg = mreg_strfmt("cannot derive a model id from '%s': longer than 128 bytes", s);
	assert_error(mreg_id_derive(out, sizeof(out), s), MREG_EINVALID, msg);
	free(msg);
	free(s);
	s = repeat('A', MREG_ID_MAX);
	assert_int_equal(mreg_id_derive(out, sizeof(out), s), 0);
	assert_int_equal(strlen(out), MREG_ID_MAX);
	free(s);
}

/* ---- metrics -------------------------------------------------------- */

static void metrics_set_kv_accepts_exponent(void **state)
{
	(void)state;
	mreg_metrics m = { 0 };
	assert_int_equal(mreg_metrics_set_kv(&m, "elo=1e3"), 0);
	assert_int_equal(m.present, 1u << MREG_METRIC_ELO);
	assert_true(m.v[MREG_METRIC_ELO] == 1000.0);
	assert_int_equal(mreg_metrics_set_kv(&m, "win_rate=0.5"), 0);
	assert_int_equal(m.present, (1u << MREG_METRIC_ELO) | (1u << MREG_METRIC_WIN_RATE));
	assert_true(m.v[MREG_METRIC_WIN_RATE] == 0.5);
}

static void metrics_set_kv_refuses_non_number(void **state)
{
	(void)state;
	mreg_metrics m = { 0 };
	assert_error(mreg_metrics_set_kv(&m, "elo=abc"), MREG_EINVALID, "invalid metric 'elo=abc': 'abc' is not a number");
	assert_error(mreg_metrics_set_kv(&m, "elo=inf"), MREG_EINVALID, "invalid metric 'elo=inf': 'inf' is not a number");
	assert_error(mreg_metrics_set_kv(&m, "elo=0x10"), MREG_EINVALID,
		     "invalid metric 'elo=0x10': '0x10' is not a number");
	assert_int_equal(m.present, 0);
}

static void metrics_set_kv_refuses_empty_value(void **state)
{
	(void)state;
	mreg_metrics m = { 0 };
	assert_error(mreg_metrics_set_kv(&m, "elo="), MREG_EINVALID, "invalid metric 'elo=': '' is not a number");
	assert_int_equal(m.present, 0);
}

static void metrics_set_kv_refuses_empty_key(void **state)
{
	(void)state;
	mreg_metrics m = { 0 };
	assert_error(mreg_metrics_set_kv(&m, "=1"), MREG_EINVALID, "invalid metric '=1': expected KEY=VALUE");
	assert_error(mreg_metrics_set_kv(&m, "elo"), MREG_EINVALID, "invalid metric 'elo': expected KEY=VALUE");
}

static void metrics_set_kv_refuses_unknown_metric(void **state)
{
	(void)state;
	mreg_metrics m = { 0 };
	assert_error(mreg_metrics_set_kv(&m, "nosuch=1"), MREG_EINVALID,
		     "unknown metric 'nosuch': expected one of elo, elo_uncertainty, win_rate, draw_rate, games_played, avg_move_time_ms, policy_accuracy, value_mse");
}

static void metrics_set_kv_refuses_out_of_range(void **state)
{
	(void)state;
	mreg_metrics m = { 0 };
	assert_error(mreg_metrics_set_kv(&m, "win_rate=1.5"), MREG_EINVALID,
		     "invalid metric win_rate=1.5 for 'win_rate': must be between 0 and 1");
	assert_error(mreg_metrics_set_kv(&m, "games_played=-1"), MREG_EINVALID,
		     "invalid metric games_played=-1 for 'games_played': must be a whole number >= 0");
	assert_error(mreg_metrics_set_kv(&m, "games_played=2.5"), MREG_EINVALID,
		     "invalid metric games_played=2.5 for 'games_played': must be a whole number >= 0");
	assert_error(mreg_metrics_set_kv(&m, "value_mse=-0.5"), MREG_EINVALID,
		     "invalid metric value_mse=-0.5 for 'value_mse': must be >= 0");
	assert_int_equal(m.present, 0);
}

static void metrics_from_json_ignores_unknown_keys_and_nulls(void **state)
{
	(void)state;
	mreg_metrics m = { 0 };
	cJSON *o = cJSON_Parse("{\"elo\": 1200, \"fitness\": 3, \"win_rate\": null}");
	assert_int_equal(mreg_metrics_from_json(&m, o, "x"), 0);
	assert_int_equal(m.present, 1u << MREG_METRIC_ELO);
	assert_true(m.v[MREG_METRIC_ELO] == 1200.0);
	cJSON_Delete(o);
	o = cJSON_Parse("{\"elo\": \"high\"}");
	assert_error(mreg_metrics_from_json(&m, o, "x"), MREG_EINVALID, "invalid metric elo in 'x': not a number");
	cJSON_Delete(o);
}

static void metrics_merge_overwrites_only_present(void **state)
{
	(void)state;
	mreg_metrics a = { 0 }, b = { 0 };
	assert_int_equal(mreg_metrics_set_kv(&a, "elo=1000"), 0);
	assert_int_equal(mreg_metrics_set_kv(&a, "win_rate=0.5"), 0);
	assert_int_equal(mreg_metrics_set_kv(&b, "elo=1100"), 0);
	assert_int_equal(mreg_metrics_set_kv(&b, "draw_rate=0.1"), 0);
	mreg_metrics_merge(&a, &b);
	assert_int_equal(a.present, (1u << MREG_METRIC_ELO) | (1u << MREG_METRIC_WIN_RATE) | (1u << MREG_METRIC_DRAW_RATE));
	assert_true(a.v[MREG_METRIC_ELO] == 1100.0);
	assert_true(a.v[MREG_METRIC_WIN_RATE] == 0.5);
	assert_true(a.v[MREG_METRIC_DRAW_RATE] == 0.1);
}

/* ---- training config ------------------------------------------------ */

static void assert_normalized(const char *in, bool with_defaults, const char *want)
{
	cJSON *doc = cJSON_Parse(in), *out = NULL;
	assert_non_null(doc);
	int rc = mreg_config_normalize(&out, doc, with_defaults, "m");
	if (rc < 0)
		fail_msg("normalize: %s", mreg_error_last());
	char *got = json_text(out);
	assert_string_equal(got, want);
	free(got);
	cJSON_Delete(out);
	cJSON_Delete(doc);
}

static void config_normalize_moves_unknown_keys_into_extra_sorted(void **state)
{
	(void)state;
	assert_normalized("{\"zeta\": 1, \"optimizer\": \"sgd\", \"alpha\": \"x\", \"learning_rate\": 0.01,"
			  " \"extra_config\": {\"mid\": [1, 2]}}",
			  false,
			  "{\n"
			  "  \"learning_rate\": 0.01,\n"
			  "  \"optimizer\": \"sgd\",\n"
			  "  \"extra_config\": {\n"
			  "    \"alpha\": \"x\",\n"
			  "    \"mid\": [\n"
			  "      1,\n"
			  "      2\n"
			  "    ],\n"
			  "    \"zeta\": 1\n"
			  "  }\n"
			  "}\n");
}

static void config_normalize_without_extra_has_no_extra_config(void **state)
{
	(void)state;
	assert_normalized("{\"epochs\": 5}", false, "{\n  \"epochs\": 5\n}\n");
	assert_normalized("{}", false, "{}\n");
}

static void config_normalize_with_defaults_fills_originals_defaults(void **state)
{
	(void)state;
	assert_normalized("{\"epochs\": 5, \"foo\": true}", true,
			  "{\n"
			  "  \"learning_rate\": 0.001,\n"
			  "  \"batch_size\": 256,\n"
			  "  \"epochs\": 5,\n"
			  "  \"optimizer\": \"adam\",\n"
			  "  \"architecture\": \"resnet\",\n"
			  "  \"num_residual_blocks\": 10,\n"
			  "  \"num_filters\": 128,\n"
			  "  \"augmentation_enabled\": true,\n"
			  "  \"curriculum_stage\": null,\n"
			  "  \"parent_model_id\": null,\n"
			  "  \"training_data_hash\": null,\n"
			  "  \"extra_config\": {\n"
			  "    \"foo\": true\n"
			  "  }\n"
			  "}\n");
}

static void config_normalize_null_input_with_defaults(void **state)
{
	(void)state;
	cJSON *out = NULL;
	assert_int_equal(mreg_config_normalize(&out, NULL, true, "m"), 0);
	char *got = json_text(out);
	assert_string_equal(got,
			    "{\n"
			    "  \"learning_rate\": 0.001,\n"
			    "  \"batch_size\": 256,\n"
			    "  \"epochs\": 100,\n"
			    "  \"optimizer\": \"adam\",\n"
			    "  \"architecture\": \"resnet\",\n"
			    "  \"num_residual_blocks\": 10,\n"
			    "  \"num_filters\": 128,\n"
			    "  \"augmentation_enabled\": true,\n"
			    "  \"curriculum_stage\": null,\n"
			    "  \"parent_model_id\": null,\n"
			    "  \"training_data_hash\": null,\n"
			    "  \"extra_config\": {}\n"
			    "}\n");
	free(got);
	cJSON_Delete(out);
}

static void config_normalize_is_idempotent(void **state)
{
	(void)state;
	cJSON *doc = cJSON_Parse("{\"b\": 2, \"learning_rate\": 0.5, \"a\": 1}"), *once = NULL, *twice = NULL;
	assert_int_equal(mreg_config_normalize(&once, doc, true, "m"), 0);
	assert_int_equal(mreg_config_normalize(&twice, once, true, "m"), 0);
	char *s1 = json_text(once), *s2 = json_text(twice);
	assert_string_equal(s1, s2);
	free(s1);
	free(s2);
	cJSON_Delete(doc);
	cJSON_Delete(once);
	cJSON_Delete(twice);
}

static void assert_config_refused(const char *in, const char *msg)
{
	cJSON *doc = cJSON_Parse(in), *out = (cJSON *)0x1;
	assert_non_null(doc);
	assert_error(mreg_config_normalize(&out, doc, false, "m"), MREG_EINVALID, msg);
	assert_null(out);
	cJSON_Delete(doc);
}

static void config_normalize_refuses_bad_types(void **state)
{
	(void)state;
	assert_config_refused("{\"learning_rate\": \"fast\"}",
			      "invalid training config learning_rate for 'm': must be a number > 0");
	assert_config_refused("{\"learning_rate\": 0}",
			      "invalid training config learning_rate for 'm': must be a number > 0");
	assert_config_refused("{\"batch_size\": 2.5}",
			      "invalid training config batch_size for 'm': must be a whole number >= 0");
	assert_config_refused("{\"epochs\": -1}", "invalid training config epochs for 'm': must be a whole number >= 0");
	assert_config_refused("{\"optimizer\": 5}", "invalid training config optimizer for 'm': must be a string");
	assert_config_refused("{\"augmentation_enabled\": \"yes\"}",
			      "invalid training config augmentation_enabled for 'm': must be true or false");
	assert_config_refused("{\"curriculum_stage\": [1]}",
			      "invalid training config curriculum_stage for 'm': must be a string or a number");
	assert_config_refused("{\"num_filters\": null}", "invalid training config num_filters for 'm': must not be null");
	assert_config_refused("{\"extra_config\": 5}",
			      "invalid training config extra_config for 'm': expected an object");
	assert_config_refused("[1]", "invalid training config for 'm': expected a JSON object");
}

static void config_normalize_accepts_nullable_keys(void **state)
{
	(void)state;
	assert_normalized("{\"parent_model_id\": null, \"curriculum_stage\": 3}", false,
			  "{\n  \"curriculum_stage\": 3,\n  \"parent_model_id\": null\n}\n");
}

/* ---- time ----------------------------------------------------------- */

static void time_format_known_values(void **state)
{
	(void)state;
	char out[MREG_TIME_LEN + 1];
	mreg_time_format(out, 0);
	assert_string_equal(out, "1970-01-01T00:00:00.000000Z");
	mreg_time_format(out, TIME_USEC);
	assert_string_equal(out, TIME);
	mreg_time_format(out, 1709251199999999LL);
	assert_string_equal(out, "2024-02-29T23:59:59.999999Z");
	mreg_time_format(out, 1);
	assert_string_equal(out, "1970-01-01T00:00:00.000001Z");
	mreg_time_format(out, 253402300799999999LL);
	assert_string_equal(out, "9999-12-31T23:59:59.999999Z");
}

static void time_parse_known_values(void **state)
{
	(void)state;
	int64_t t = -1;
	assert_int_equal(mreg_time_parse(&t, TIME), 0);
	assert_int_equal(t, TIME_USEC);
	assert_int_equal(mreg_time_parse(&t, "1970-01-01T00:00:00.000000Z"), 0);
	assert_int_equal(t, 0);
	assert_int_equal(mreg_time_parse(&t, "2024-02-29T23:59:59.999999Z"), 0);
	assert_int_equal(t, 1709251199999999LL);
}

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint64_t rng_next(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void time_round_trips_with_microseconds(void **state)
{
	(void)state;
	char out[MREG_TIME_LEN + 1], again[MREG_TIME_LEN + 1];
	for (int i = 0; i < 20000; i++) {
		int64_t usec = (int64_t)(rng_next() % 253402300800000000ull), back = -1;
		mreg_time_format(out, usec);
		assert_int_equal(strlen(out), MREG_TIME_LEN);
		assert_int_equal(mreg_time_parse(&back, out), 0);
		assert_int_equal(back, usec);
		mreg_time_format(again, back);
		assert_string_equal(again, out);
	}
}

static void time_parse_refuses_other_forms(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"2026-11-27T01:45:12Z",		/* no microseconds */
		"2026-11-27T01:45:12.123Z",	/* milliseconds */
		"2026-11-27T01:45:12.123456",	/* no Z */
		"2026-11-27T01:45:12.123456z",
		"2026-11-27 01:45:12.123456Z",
		"2026-13-27T01:45:12.123456Z",
		"2026-00-27T01:45:12.123456Z",
		"2026-11-32T01:45:12.123456Z",
		"2026-11-27T24:00:00.000000Z",
		"2026-11-27T01:60:12.123456Z",
		"2026-11-27T01:45:60.123456Z",
		"2026-11-27T01:45:12.12345aZ",
		"2026-11-27T01:45:12.123456Z ",
		"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t t = 42;
		if (mreg_time_parse(&t, bad[i]) != MREG_EINVALID)
			fail_msg("accepted '%s'", bad[i]);
		assert_int_equal(t, 42);
	}
}

/* "Parse that exact form back": a date the formatter can never write is
 * not that form, and accepting it makes format(parse(s)) != s. */
static void time_parse_refuses_impossible_dates(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"2026-02-30T00:00:00.000000Z",
		"2026-02-29T00:00:00.000000Z",	/* 2026 is not a leap year */
		"2026-04-31T00:00:00.000000Z",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t t = 42;
		int rc = mreg_time_parse(&t, bad[i]);
		if (rc != MREG_EINVALID) {
			char out[MREG_TIME_LEN + 1];
			mreg_time_format(out, t);
			fail_msg("accepted '%s' (reads back as %s)", bad[i], out);
		}
	}
}

/*
 * The time code mreg had before it used gmtime_r and timegm (its own civil
 * date arithmetic), kept as the reference: event times are hashed with the
 * event, so every time must be written and read exactly as before.
 */
static void ref_civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t yy = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yy + (*m <= 2));
}

static int64_t ref_days_from_civil(int y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void ref_put_digits(char *p, unsigned v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

static void ref_time_format(char out[MREG_TIME_LEN + 1], int64_t usec)
{
	int64_t secs = usec >= 0 ? usec / 1000000 : -((-usec + 999999) / 1000000);
	unsigned frac = (unsigned)(usec - secs * 1000000);
	int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	unsigned sod = (unsigned)(secs - days * 86400);
	int y;
	unsigned m, d;
	ref_civil_from_days(days, &y, &m, &d);
	if (y < 0)
		y = 0;
	if (y > 9999)
		y = 9999;
	ref_put_digits(out, (unsigned)y, 4);
	out[4] = '-';
	ref_put_digits(out + 5, m, 2);
	out[7] = '-';
	ref_put_digits(out + 8, d, 2);
	out[10] = 'T';
	ref_put_digits(out + 11, sod / 3600, 2);
	out[13] = ':';
	ref_put_digits(out + 14, sod / 60 % 60, 2);
	out[16] = ':';
	ref_put_digits(out + 17, sod % 60, 2);
	out[19] = '.';
	ref_put_digits(out + 20, frac, 6);
	out[26] = 'Z';
	out[27] = '\0';
}

static int ref_digits(const char *s, int n, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return 0;
}

static int ref_time_parse(int64_t *out, const char *s)
{
	unsigned y, mo, d, h, mi, se, us;
	if (strlen(s) != MREG_TIME_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' || s[19] != '.' || s[26] != 'Z' ||
	    ref_digits(s, 4, &y) || ref_digits(s + 5, 2, &mo) || ref_digits(s + 8, 2, &d) ||
	    ref_digits(s + 11, 2, &h) || ref_digits(s + 14, 2, &mi) || ref_digits(s + 17, 2, &se) ||
	    ref_digits(s + 20, 6, &us) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || se > 59)
		return MREG_EINVALID;
	static const unsigned char mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap))
		return MREG_EINVALID;
	int64_t days = ref_days_from_civil((int)y, mo, d);
	*out = ((days * 86400) + h * 3600 + mi * 60 + se) * 1000000 + us;
	return 0;
}

static void same_time_as_reference(int64_t usec)
{
	char got[MREG_TIME_LEN + 1], want[MREG_TIME_LEN + 1];
	mreg_time_format(got, usec);
	ref_time_format(want, usec);
	if (strcmp(got, want))
		fail_msg("%lld formats as %s, before as %s", (long long)usec, got, want);
}

static void same_parse_as_reference(const char *s)
{
	int64_t got = 42, want = 42;
	int rg = mreg_time_parse(&got, s), rw = ref_time_parse(&want, s);
	if (rg != rw || got != want)
		fail_msg("'%s' parses as %d %lld, before as %d %lld", s, rg, (long long)got, rw, (long long)want);
}

/* Every instant, including those before year 0 and after 9999 (written clamped). */
static void time_format_same_as_reference(void **state)
{
	(void)state;
	for (int i = 0; i < 200000; i++) {
		uint64_t r = rng_next();
		same_time_as_reference((int64_t)(r % 253402300800000000ull));	/* years 1970..9999 */
		same_time_as_reference((int64_t)r / 2);	/* any: -146,000 to 146,000 years */
		same_time_as_reference(-(int64_t)(r % 62167219200000000ull));	/* years 0..1970 */
	}
	static const int64_t edges[] = { 0, 1, -1, 999999, -999999, 1000000, -1000000, 86399999999, 86400000000,
					 -86400000000, -62167219200000000LL, -62167219200000001LL, 253402300799999999LL,
					 253402300800000000LL, INT64_MAX, INT64_MIN + 1000000 };
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		same_time_as_reference(edges[i]);
	/* (the reference overflows on INT64_MIN; the year is clamped there) */
	char out[MREG_TIME_LEN + 1];
	mreg_time_format(out, INT64_MIN);
	assert_memory_equal(out, "0000-", 5);
	/* every day boundary of 1899..2401 (leap years, centuries, 2000) */
	for (int64_t d = -25567; d < 157800; d++) {
		same_time_as_reference(d * 86400000000LL);
		same_time_as_reference(d * 86400000000LL - 1);
	}
}

/* Every day of the month 0..32 of every month 0..13, in leap and common years and centuries. */
static void time_parse_same_as_reference(void **state)
{
	(void)state;
	static const int years[] = { 0, 1, 4, 100, 400, 1600, 1700, 1900, 1970, 1999, 2000, 2023, 2024, 2026,
				     2100, 2400, 9996, 9999 };
	char s[64];
	for (size_t y = 0; y < sizeof(years) / sizeof(years[0]); y++)
		for (int mo = 0; mo <= 13; mo++)
			for (int d = 0; d <= 32; d++) {
				snprintf(s, sizeof(s), "%04d-%02d-%02dT23:59:59.999999Z", years[y], mo, d);
				same_parse_as_reference(s);
				snprintf(s, sizeof(s), "%04d-%02d-%02dT00:00:00.000000Z", years[y], mo, d);
				same_parse_as_reference(s);
			}
	for (int i = 0; i < 100000; i++) {
		uint64_t r = rng_next();
		snprintf(s, sizeof(s), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", (int)(r % 10000), (int)(r >> 14) % 14,
			 (int)(r >> 18) % 33, (int)(r >> 24) % 25, (int)(r >> 30) % 61, (int)(r >> 36) % 61,
			 (int)(r >> 42) % 1000000);
		same_parse_as_reference(s);
	}
}

/* ---- the last error, per thread ------------------------------------- */

typedef struct {
	pthread_barrier_t *both;
	char seen_first[64];	/* what the thread read before it set its own */
	int code_first;
	char seen_after[64];	/* its own, after the main thread set another */
} err_thread;

static void *set_in_thread(void *arg)
{
	err_thread *t = arg;
	snprintf(t->seen_first, sizeof(t->seen_first), "%s", mreg_error_last());
	t->code_first = mreg_error_code();
	mreg_error_set(MREG_ENOTFOUND, "model not found: '%s'", "in-thread");
	pthread_barrier_wait(t->both);	/* 1: both have set their message */
	pthread_barrier_wait(t->both);	/* 2: the main thread has set another */
	snprintf(t->seen_after, sizeof(t->seen_after), "%s", mreg_error_last());
	return NULL;
}

/* The HTTP server and the Python binding call the library from threads:
 * one thread's failure must not change the message another one reads. */
static void error_message_is_per_thread(void **state)
{
	(void)state;
	pthread_barrier_t both;
	pthread_t th;
	err_thread t = { &both, "", -1, "" };

	assert_int_equal(pthread_barrier_init(&both, NULL, 2), 0);
	mreg_error_set(MREG_EINVALID, "invalid tag '%s'", "main");
	assert_int_equal(pthread_create(&th, NULL, set_in_thread, &t), 0);
	pthread_barrier_wait(&both);
	assert_string_equal(mreg_error_last(), "invalid tag 'main'");
	assert_int_equal(mreg_error_code(), MREG_EINVALID);
	mreg_error_set(MREG_ELOCKED, "registry locked: '%s'", "main");
	pthread_barrier_wait(&both);
	assert_int_equal(pthread_join(th, NULL), 0);
	pthread_barrier_destroy(&both);

	assert_string_equal(t.seen_first, "unknown error");	/* a new thread starts with none */
	assert_int_equal(t.code_first, 0);
	assert_string_equal(t.seen_after, "model not found: 'in-thread'");
	assert_string_equal(mreg_error_last(), "registry locked: 'main'");
	mreg_error_clear();
}

/* A caller that knows the subject names it once; messages set below end with it until it is cleared. */
static void error_subject_ends_messages_until_cleared(void **state)
{
	(void)state;
	mreg_error_subject("event " HEX);
	mreg_error_set(MREG_EINVALID, "invalid event: '%s' is missing", "actor");
	assert_string_equal(mreg_error_last(), "invalid event: 'actor' is missing (event " HEX ")");
	mreg_error_subject(NULL);
	mreg_error_set(MREG_EINVALID, "invalid tag '%s'", "a b");
	assert_string_equal(mreg_error_last(), "invalid tag 'a b'");
	mreg_error_clear();
}

/* The parser names the event in the field rule's message once, and clears the subject on its way out. */
static void parse_names_the_event_once_and_only_in_its_own_messages(void **state)
{
	(void)state;
	const char *text = "{\"schema\": 1, \"type\": \"version.tagged\"}\n";
	char id[33], want[160];
	mreg_event *ev = NULL;
	mreg_hash128(id, text, strlen(text));
	assert_int_equal(mreg_event_parse(&ev, text, strlen(text), NULL), MREG_EINVALID);
	snprintf(want, sizeof(want), "invalid event: 'clock' must be a whole number (event %s)", id);
	assert_string_equal(mreg_error_last(), want);
	mreg_error_set(MREG_ENOTFOUND, "model not found: '%s'", "m");
	assert_string_equal(mreg_error_last(), "model not found: 'm'");
	mreg_error_clear();
}

/* A reader that names the failure itself asks for no message: none is set, so none is overwritten. */
static void metrics_without_subject_set_no_message(void **state)
{
	(void)state;
	mreg_metrics m;
	memset(&m, 0, sizeof(m));
	cJSON *bad = cJSON_Parse("{\"win_rate\": 2}"), *str = cJSON_Parse("{\"elo\": \"high\"}");
	mreg_error_set(MREG_ECORRUPT, "earlier");
	assert_int_equal(mreg_metrics_from_json(&m, bad, NULL), MREG_EINVALID);
	assert_int_equal(mreg_metrics_from_json(&m, str, NULL), MREG_EINVALID);
	assert_int_equal(mreg_metric_check(MREG_METRIC_GAMES_PLAYED, 1.5, NULL), MREG_EINVALID);
	assert_string_equal(mreg_error_last(), "earlier");
	assert_error(mreg_metrics_from_json(&m, bad, "m"), MREG_EINVALID,
		     "invalid metric win_rate=2 for 'm': must be between 0 and 1");
	cJSON_Delete(bad);
	cJSON_Delete(str);
	mreg_error_clear();
}

static void id_problem_is_the_text_after_the_subject(void **state)
{
	(void)state;
	assert_null(mreg_id_problem("square8_2p"));
	assert_string_equal(mreg_id_problem(""), "empty");
	assert_string_equal(mreg_id_problem("a..b"), "'..' is not allowed");
	assert_string_equal(mreg_id_problem("ab.."), "'..' is not allowed");
	assert_null(mreg_id_problem("a.b.c"));
	/* a byte not allowed is said first, wherever the ".." is */
	assert_string_equal(mreg_id_problem("a..b$"), "use letters, digits, '_', '-' and '.', starting with a letter or digit");
	assert_string_equal(mreg_id_problem("_a"), "use letters, digits, '_', '-' and '.', starting with a letter or digit");
	char longid[MREG_ID_MAX + 2];
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_string_equal(mreg_id_problem(longid), "longer than 128 bytes");
	assert_error(mreg_id_check(longid), MREG_EINVALID,
		     "invalid model id 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...': longer than 128 bytes");
}

/* ---- references ----------------------------------------------------- */

static void ref_parse_model_only_means_latest(void **state)
{
	(void)state;
	mreg_ref r;
	assert_int_equal(mreg_ref_parse(&r, "square8_2p"), 0);
	assert_string_equal(r.model, "square8_2p");
	assert_int_equal(r.version, 0);
}

static void ref_parse_with_version(void **state)
{
	(void)state;
	mreg_ref r;
	assert_int_equal(mreg_ref_parse(&r, "square8_2p:3"), 0);
	assert_string_equal(r.model, "square8_2p");
	assert_int_equal(r.version, 3);
	assert_int_equal(mreg_ref_parse(&r, "hex8-4p.b:v12"), 0);
	assert_string_equal(r.model, "hex8-4p.b");
	assert_int_equal(r.version, 12);
	assert_int_equal(mreg_ref_parse(&r, "m:999999999"), 0);
	assert_int_equal(r.version, 999999999);
}

static void ref_parse_refuses_empty_model(void **state)
{
	(void)state;
	mreg_ref r;
	assert_error(mreg_ref_parse(&r, ":3"), MREG_EINVALID, "invalid reference ':3': expected MODEL_ID[:VERSION]");
	assert_error(mreg_ref_parse(&r, ""), MREG_EINVALID, "invalid reference '': expected MODEL_ID[:VERSION]");
}

static void ref_parse_refuses_bad_version(void **state)
{
	(void)state;
	mreg_ref r;
	static const char *const bad[] = { "m:", "m:0", "m:-1", "m:abc", "m:v", "m:3:4", "m:1234567890", "m: 3" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *msg = mreg_strfmt("invalid reference '%s': version must be a number >= 1", bad[i]);
		assert_error(mreg_ref_parse(&r, bad[i]), MREG_EINVALID, msg);
		free(msg);
	}
}

static void ref_parse_refuses_bad_model_id(void **state)
{
	(void)state;
	mreg_ref r;
	assert_error(mreg_ref_parse(&r, "a/b:1"), MREG_EINVALID,
		     "invalid reference 'a/b:1': use letters, digits, '_', '-' and '.', starting with a letter or digit");
	assert_error(mreg_ref_parse(&r, "a..b"), MREG_EINVALID, "invalid reference 'a..b': '..' is not allowed");
	char *s = repeat('a', MREG_ID_MAX + 1);
	assert_error(mreg_ref_parse(&r, s), MREG_EINVALID,
		     "invalid reference 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...': model id longer than 128 bytes");
	free(s);
}

/* ---- misc ----------------------------------------------------------- */

static void event_cmp_orders_by_clock_then_id(void **state)
{
	(void)state;
	mreg_event a, b;
	mreg_event_init(&a);
	mreg_event_init(&b);
	a.clock = 2;
	b.clock = 10;
	strcpy(a.id, "ff");
	strcpy(b.id, "00");
	assert_true(mreg_event_cmp(&a, &b) < 0);
	assert_true(mreg_event_cmp(&b, &a) > 0);
	b.clock = 2;
	assert_true(mreg_event_cmp(&a, &b) > 0);
	strcpy(b.id, "ff");
	assert_int_equal(mreg_event_cmp(&a, &b), 0);
}

static void names_of_types_stages_metrics_round_trip(void **state)
{
	(void)state;
	for (int i = 0; i < MREG_EV_COUNT; i++)
		assert_int_equal((int)mreg_event_type_parse(mreg_event_type_name((mreg_event_type)i)), i);
	for (int i = 0; i < MREG_METRIC_COUNT; i++)
		assert_int_equal(mreg_metric_parse(mreg_metric_name((mreg_metric)i)), i);
	assert_int_equal((int)mreg_event_type_parse("version.deleted"), -1);
	assert_int_equal(mreg_metric_parse("fitness"), -1);
	assert_string_equal(mreg_event_type_name(MREG_EV_METRICS), "version.metrics_updated");
}

/* ---- one table of limits: the writer refuses what the parser would ---- */

/*
 * Serialize must refuse with msg and append nothing; mreg_event_validate
 * must refuse the same. Should serialize have written the event, the
 * parser's verdict on the bytes is reported instead.
 */
static void assert_serialize_refused(mreg_event *ev, const char *msg)
{
	mreg_buf b = MREG_BUF_INIT;
	mreg_buf_puts(&b, "before");
	int rc = mreg_event_serialize(&b, ev);
	if (rc == 0) {
		mreg_event *back = NULL;
		int prc = mreg_event_parse(&back, b.ptr + 6, b.size - 6, NULL);
		mreg_event_free(back);
		fail_msg("serialize wrote it (parse rc %d: %s), expected '%s'", prc, mreg_error_last(), msg);
	}
	assert_error(rc, MREG_EINVALID, msg);
	assert_string_equal(b.ptr, "before");
	mreg_buf_dispose(&b);
	mreg_error_clear();
	assert_error(mreg_event_validate(ev), MREG_EINVALID, msg);
}

/* Serialize must write it, and the parser take the bytes back. */
static void assert_serialize_parses(mreg_event *ev)
{
	char *s = serialized(ev);
	mreg_event *back = NULL;
	int rc = mreg_event_parse(&back, s, strlen(s), ev->id);
	if (rc < 0)
		fail_msg("parse of what serialize wrote: %s", mreg_error_last());
	mreg_event_free(back);
	free(s);
}

static cJSON *extra_of(mreg_event *ev)
{
	cJSON *extra = cJSON_GetObjectItemCaseSensitive(ev->training_config, "extra_config");
	return extra ? extra : cJSON_AddObjectToObject(ev->training_config, "extra_config");
}

static void serialize_refuses_config_string_over_16384(void **state)
{
	(void)state;
	mreg_event ev;
	make_registration(&ev);
	char *s = repeat('v', 20000);
	cJSON_AddStringToObject(extra_of(&ev), "note", s);
	assert_serialize_refused(&ev, "invalid training config for 'square8_2p': a string is longer than 16384 bytes");
	s[MREG_STRING_MAX] = '\0';	/* exactly the limit: written, and parsed back */
	cJSON_ReplaceItemInObject(extra_of(&ev), "note", cJSON_CreateString(s));
	assert_serialize_parses(&ev);
	free(s);
	mreg_event_dispose(&ev);
}

static void serialize_refuses_config_key_over_16384(void **state)
{
	(void)state;
	mreg_event ev;
	make_registration(&ev);
	char *k = repeat('k', MREG_STRING_MAX + 1);
	cJSON_AddNumberToObject(extra_of(&ev), k, 1);
	assert_serialize_refused(&ev, "invalid training config for 'square8_2p': a key is longer than 16384 bytes");
	free(k);
	mreg_event_dispose(&ev);
}

/* levels objects, each the only member "x" of the one before, under parent at key. */
static void nest_objects(cJSON *parent, const char *key, int levels)
{
	cJSON *o = cJSON_AddObjectToObject(parent, key);
	for (int i = 1; i < levels; i++)
		o = cJSON_AddObjectToObject(o, "x");
}

static void serialize_refuses_config_nested_deeper_than_16(void **state)
{
	(void)state;
	mreg_event ev;
	make_registration(&ev);
	/* training_config at depth 1, extra_config 2, its "deep" 3: 14 objects end at 16 */
	nest_objects(extra_of(&ev), "deep", 14);
	assert_serialize_parses(&ev);
	cJSON_DeleteItemFromObject(extra_of(&ev), "deep");
	nest_objects(extra_of(&ev), "deep", 15);
	assert_serialize_refused(&ev, "invalid training config for 'square8_2p': nested deeper than 16");
	mreg_event_dispose(&ev);
}

/* Keys "k000000".. in extra_config, n of them (11 bytes a member once written, and the indentation). */
static void add_keys(cJSON *obj, int n)
{
	char k[16] = "k";
	for (int i = 0; i < n; i++) {
		for (int d = 6, v = i; d >= 1; d--, v /= 10)
			k[d] = (char)('0' + v % 10);
		k[7] = '\0';
		cJSON_AddNumberToObject(obj, k, i);
	}
}

static void serialize_refuses_event_over_1_mib(void **state)
{
	(void)state;
	mreg_event ev;
	make_registration(&ev);
	add_keys(extra_of(&ev), 60000);	/* "    \"k000000\": 59999,\n": 23 bytes each, 1.3 MiB */
	assert_serialize_refused(&ev, "invalid event for 'square8_2p': larger than 1048576 bytes");
	cJSON_DeleteItemFromObject(ev.training_config, "extra_config");
	add_keys(extra_of(&ev), 40000);	/* under 1 MiB */
	assert_serialize_parses(&ev);
	mreg_event_dispose(&ev);
}

static void serialize_refuses_infinite_number_in_config(void **state)
{
	(void)state;
	mreg_event ev;
	make_registration(&ev);
	/* learning_rate only has to be > 0; infinity would be written as null, which the parser refuses */
	cJSON_ReplaceItemInObject(ev.training_config, "learning_rate", cJSON_CreateNumber(INFINITY));
	assert_serialize_refused(&ev, "invalid training config for 'square8_2p': a number is out of range");
	mreg_event_dispose(&ev);
}

static void make_validation_pass(mreg_event *ev, cJSON *results)
{
	envelope(ev, MREG_EV_VALIDATION, 5, 1);
	ev->body = cJSON_CreateObject();
	cJSON_AddStringToObject(ev->body, "action", "pass");
	cJSON_AddItemToObject(ev->body, "results", results);
}

/* `results` is any object: its strings, keys and nesting are checked all the same. */
static void serialize_refuses_results_the_parser_refuses(void **state)
{
	(void)state;
	mreg_event ev;
	char *s = repeat('r', MREG_STRING_MAX + 1);
	cJSON *results = cJSON_CreateObject();
	cJSON_AddStringToObject(cJSON_AddObjectToObject(results, "vs_random"), "log", s);
	make_validation_pass(&ev, results);
	assert_serialize_refused(&ev, "invalid results for 'square8_2p': a string is longer than 16384 bytes");
	mreg_event_dispose(&ev);

	results = cJSON_CreateObject();
	nest_objects(results, "deep", 15);	/* results at 1: its innermost object at 16 */
	make_validation_pass(&ev, results);
	assert_serialize_parses(&ev);
	cJSON_DeleteItemFromObject(results, "deep");
	nest_objects(results, "deep", 16);
	assert_serialize_refused(&ev, "invalid results for 'square8_2p': nested deeper than 16");
	mreg_event_dispose(&ev);

	results = cJSON_CreateObject();
	cJSON_AddNumberToObject(results, "x", NAN);
	make_validation_pass(&ev, results);
	assert_serialize_refused(&ev, "invalid results for 'square8_2p': a number is out of range");
	mreg_event_dispose(&ev);
	free(s);
}

/* A duplicate key can only come from a tree built by hand: refused all the same. */
static void serialize_refuses_duplicate_key_in_results(void **state)
{
	(void)state;
	mreg_event ev;
	cJSON *results = cJSON_CreateObject();
	cJSON_AddNumberToObject(results, "games", 1);
	cJSON_AddNumberToObject(results, "games", 2);
	make_validation_pass(&ev, results);
	assert_serialize_refused(&ev, "invalid results for 'square8_2p': duplicate key 'games'");
	mreg_event_dispose(&ev);
}

/* ---- UTF-8 ----------------------------------------------------------- */

static void utf8_valid_follows_rfc_3629(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		size_t valid;
	} cases[] = {
		{ "", 0 },
		{ "plain ascii \x01\x7f", 14 },
		{ "\xc2\x80", 2 },			/* U+0080 */
		{ "\xdf\xbf", 2 },			/* U+07FF */
		{ "\xe0\xa0\x80", 3 },			/* U+0800 */
		{ "\xed\x9f\xbf", 3 },			/* U+D7FF */
		{ "\xee\x80\x80", 3 },			/* U+E000 */
		{ "\xef\xbf\xbf", 3 },			/* U+FFFF */
		{ "\xf0\x90\x80\x80", 4 },		/* U+10000 */
		{ "\xf4\x8f\xbf\xbf", 4 },		/* U+10FFFF */
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14 },
		{ "\xc0\x80", 0 },			/* overlong NUL */
		{ "\xc1\xbf", 0 },			/* overlong U+007F */
		{ "\xe0\x9f\xbf", 0 },			/* overlong U+07FF */
		{ "\xf0\x8f\xbf\xbf", 0 },		/* overlong U+FFFF */
		{ "\xed\xa0\x80", 0 },			/* surrogate U+D800 */
		{ "\xed\xbf\xbf", 0 },			/* surrogate U+DFFF */
		{ "\xf4\x90\x80\x80", 0 },		/* U+110000 */
		{ "\xf5\x80\x80\x80", 0 },
		{ "\xff", 0 },
		{ "ab\x80", 2 },			/* a continuation byte alone */
		{ "ab\xe2\x82", 2 },			/* cut short */
		{ "ab\xe2\x28\xa1", 2 },		/* a bad second byte */
		{ "ab\xe2\x82\x28", 2 },		/* a bad third byte */
		{ "ab\xf0\x9f\x98", 2 },		/* four bytes cut to three */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t got = mreg_utf8_valid(cases[i].s, strlen(cases[i].s));
		if (got != cases[i].valid)
			fail_msg("case %zu: %zu valid bytes, expected %zu", i, got, cases[i].valid);
	}
	/* the length given counts, not the NUL */
	assert_int_equal(mreg_utf8_valid("\xe2\x82\xac", 2), 0);
	assert_int_equal(mreg_utf8_valid("a\0b", 3), 3);
}

static void serialize_refuses_invalid_utf8_in_strings(void **state)
{
	(void)state;
	mreg_event ev;
	make_registration(&ev);
	free(ev.description);
	ev.description = mreg_strdup("caf\xc3");
	assert_serialize_refused(&ev, "invalid description for 'square8_2p': not valid UTF-8");
	free(ev.description);
	ev.description = mreg_strdup("caf\xc3\xa9");	/* valid: written and parsed back */
	assert_serialize_parses(&ev);
	free(ev.name);
	ev.name = mreg_strdup("\xed\xa0\x80");
	assert_serialize_refused(&ev, "invalid name for 'square8_2p': not valid UTF-8");
	mreg_event_dispose(&ev);

	make_promotion(&ev);
	free(ev.reason);
	ev.reason = mreg_strdup("ok \xf4\x90\x80\x80");
	assert_serialize_refused(&ev, "invalid reason for 'square8_2p': not valid UTF-8");
	free(ev.reason);
	ev.reason = mreg_strdup("ok");
	free(ev.actor);
	ev.actor = mreg_strdup("al\xffice");
	assert_serialize_refused(&ev, "invalid actor for 'square8_2p': not valid UTF-8");
	mreg_event_dispose(&ev);
}

static void serialize_refuses_invalid_utf8_in_config(void **state)
{
	(void)state;
	mreg_event ev;
	make_registration(&ev);
	cJSON_AddStringToObject(extra_of(&ev), "note", "\xc0\xaf");
	assert_serialize_refused(&ev, "invalid training config for 'square8_2p': a string is not valid UTF-8");
	cJSON_DeleteItemFromObject(ev.training_config, "extra_config");
	cJSON_AddNumberToObject(extra_of(&ev), "n\xe9", 1);
	assert_serialize_refused(&ev, "invalid training config for 'square8_2p': a key is not valid UTF-8");
	mreg_event_dispose(&ev);
}

static void tag_check_refuses_invalid_utf8(void **state)
{
	(void)state;
	assert_int_equal(mreg_tag_check("r\xc3\xa9sum\xc3\xa9"), 0);
	assert_error(mreg_tag_check("night\xff"), MREG_EINVALID, "invalid tag 'night...': not valid UTF-8");
	assert_error(mreg_tag_check("\xed\xa0\x80"), MREG_EINVALID, "invalid tag '...': not valid UTF-8");
	mreg_event ev;
	make_registration(&ev);
	free(ev.tags[1]);
	ev.tags[1] = mreg_strdup("b\xe0\x80\x80");
	assert_serialize_refused(&ev, "invalid tag 'b...': not valid UTF-8");
	mreg_event_dispose(&ev);
}

static void parse_refuses_invalid_utf8(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"\xff", "\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xf4\x90\x80\x80",
		"\xf8\x88\x80\x80\x80",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *to = mreg_strfmt("\"description\": \"x%sy\"", bad[i]);
		assert_registration_refused_with("\"description\": \"first\"", to, MREG_EINVALID,
						 "invalid event '%s': a string is not valid UTF-8");
		free(to);
		to = mreg_strfmt("\"reason\": \"%s\"", bad[i]);
		assert_promotion_refused_with("\"reason\": \"passed evaluation\"", to, MREG_EINVALID,
					      "invalid event '%s': a string is not valid UTF-8");
		free(to);
		to = mreg_strfmt("\"extra_config\": {\"k%s\": 1}", bad[i]);
		assert_registration_refused_with("\"learning_rate\": 0.01", to, MREG_EINVALID,
						 "invalid event '%s': a key is not valid UTF-8");
		free(to);
	}
	assert_registration_refused_with("\"a\",", "\"\xe2\x82\",", MREG_EINVALID,
					 "invalid event '%s': a string is not valid UTF-8");
}

static void parse_accepts_utf8_and_escapes(void **state)
{
	(void)state;
	char *base = registration_text();
	char *ok = replace_once(base, "\"description\": \"first\"",
				"\"description\": \"caf\xc3\xa9 \\u00e9 \\ud83d\\ude00 \\u0001 \\\\u0000\"");
	mreg_event *ev = NULL;
	int rc = mreg_event_parse(&ev, ok, strlen(ok), NULL);
	if (rc < 0)
		fail_msg("parse: %s", mreg_error_last());
	assert_string_equal(ev->description, "caf\xc3\xa9 \xc3\xa9 \xf0\x9f\x98\x80 \x01 \\u0000");
	assert_round_trip(ev);
	mreg_event_free(ev);
	free(ok);
	free(base);
}

/* cJSON would cut a string at an escaped NUL; mreg never writes one. */
static void parse_refuses_escaped_nul(void **state)
{
	(void)state;
	assert_registration_refused_with("\"description\": \"first\"", "\"description\": \"fi\\u0000rst\"",
					 MREG_EINVALID, "invalid event '%s': a string holds a NUL (\\u0000)");
	assert_registration_refused_with("\"learning_rate\": 0.01", "\"k\\u0000\": 0.01", MREG_EINVALID,
					 "invalid event '%s': a string holds a NUL (\\u0000)");
	assert_registration_refused_with("\"description\": \"first\"", "\"description\": \"\\\\\\u0000\"",
					 MREG_EINVALID, "invalid event '%s': a string holds a NUL (\\u0000)");
}

/* Control characters are escaped by the writer and read back to the same bytes. */
static void serialize_escapes_control_characters_and_parses_back(void **state)
{
	(void)state;
	mreg_event ev;
	make_promotion(&ev);
	free(ev.reason);
	ev.reason = mreg_strdup("a\x01\x1f\x7f\n\tb\xc2\x85");
	char *s = serialized(&ev);
	assert_non_null(strstr(s, "\"reason\": \"a\\u0001\\u001f\x7f\\n\\tb\xc2\x85\""));
	free(s);
	assert_round_trip(&ev);
	mreg_event_dispose(&ev);
}

/* ---- large objects ----------------------------------------------------- */

/* A registration whose extra_config has n keys (and, if twin, the first key again at the end). */
static char *registration_with_keys(int n, bool twin)
{
	mreg_buf b = MREG_BUF_INIT;
	mreg_buf_puts(&b, "\"extra_config\": {");
	for (int i = 0; i < n; i++)
		mreg_buf_printf(&b, "%s\"k%d\":1", i ? "," : "", i);
	if (twin)
		mreg_buf_puts(&b, ",\"k0\":2");
	mreg_buf_putc(&b, '}');
	char *base = registration_text();
	char *text = replace_once(base, "\"learning_rate\": 0.01", b.ptr);
	free(base);
	mreg_buf_dispose(&b);
	return text;
}

/*
 * One event of about 1 MiB and 90,000 keys in one object: the duplicate
 * check sorts the keys once instead of comparing every pair (4 billion
 * comparisons). The fuzz run's time limit guards the speed; this guards
 * the answers on both sides.
 */
static void parse_of_90000_keys_in_one_object(void **state)
{
	(void)state;
	char *text = registration_with_keys(90000, false);
	size_t len = strlen(text);
	assert_true(len > 900000 && len <= MREG_EVENT_MAX_BYTES);
	mreg_event *ev = NULL;
	int rc = mreg_event_parse(&ev, text, len, NULL);
	if (rc < 0)
		fail_msg("parse: %s", mreg_error_last());
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ev->training_config, "extra_config")),
			 90000);
	mreg_event_free(ev);
	free(text);

	text = registration_with_keys(90000, true);
	assert_parse_refused(text, MREG_EINVALID, "invalid event '%s': duplicate key 'k0'");
	free(text);
}

/* Twins in an object large enough to be sorted, far apart; and none in arrays of equal strings. */
static void parse_finds_twins_in_large_objects(void **state)
{
	(void)state;
	char *text = registration_with_keys(17, true);
	assert_parse_refused(text, MREG_EINVALID, "invalid event '%s': duplicate key 'k0'");
	free(text);
	char *base = registration_text();
	text = replace_once(base, "\"learning_rate\": 0.01",
			    "\"extra_config\": {\"a\": [\"x\", \"x\", {\"x\": 1}, {\"x\": 1}]}");
	mreg_event *ev = NULL;
	assert_int_equal(mreg_event_parse(&ev, text, strlen(text), NULL), 0);
	mreg_event_free(ev);
	free(text);
	free(base);
}

/* ---- config given twice ------------------------------------------------ */

static void config_set_kv_last_value_wins(void **state)
{
	(void)state;
	cJSON *cfg = cJSON_CreateObject();
	assert_int_equal(mreg_config_set_kv(cfg, "note=a"), 0);
	assert_int_equal(mreg_config_set_kv(cfg, "epochs=5"), 0);
	assert_int_equal(mreg_config_set_kv(cfg, "note=b"), 0);
	assert_int_equal(mreg_config_set_kv(cfg, "epochs=7"), 0);
	cJSON *out = NULL;
	assert_int_equal(mreg_config_normalize(&out, cfg, false, "m"), 0);
	char *got = json_text(out);
	assert_string_equal(got, "{\n  \"epochs\": 7,\n  \"extra_config\": {\n    \"note\": \"b\"\n  }\n}\n");
	free(got);
	cJSON_Delete(out);
	cJSON_Delete(cfg);
}

/* A config file over --config options: its values win, the options' other keys stay. */
static void config_merge_appends_and_the_last_value_wins(void **state)
{
	(void)state;
	cJSON *cfg = cJSON_CreateObject();
	assert_int_equal(mreg_config_set_kv(cfg, "note=option"), 0);
	assert_int_equal(mreg_config_set_kv(cfg, "keep=1"), 0);
	assert_int_equal(mreg_config_set_kv(cfg, "optimizer=sgd"), 0);
	cJSON *file = cJSON_Parse("{\"note\": \"file\", \"optimizer\": \"adam\", \"z\": [1]}");
	assert_non_null(file);
	mreg_config_merge(cfg, file);
	assert_null(file->child);
	cJSON_Delete(file);
	assert_int_equal(mreg_config_set_kv(cfg, "z=last"), 0);
	cJSON *out = NULL;
	assert_int_equal(mreg_config_normalize(&out, cfg, false, "m"), 0);
	char *got = json_text(out);
	assert_string_equal(got, "{\n  \"optimizer\": \"adam\",\n  \"extra_config\": {\n    \"keep\": 1,\n"
				 "    \"note\": \"file\",\n    \"z\": \"last\"\n  }\n}\n");
	free(got);
	cJSON_Delete(out);
	cJSON_Delete(cfg);
}

/* Many keys, each given three times: the last of each wins, whatever the sort does with equal keys. */
static void config_normalize_last_value_wins_among_many(void **state)
{
	(void)state;
	cJSON *cfg = cJSON_CreateObject();
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 500; i++) {
			char kv[32] = "k";
			for (int d = 3, v = i; d >= 1; d--, v /= 10)
				kv[d] = (char)('0' + v % 10);
			kv[4] = '=';
			kv[5] = (char)('0' + round);
			kv[6] = '\0';
			assert_int_equal(mreg_config_set_kv(cfg, kv), 0);
		}
	cJSON *out = NULL, *c;
	assert_int_equal(mreg_config_normalize(&out, cfg, false, "m"), 0);
	cJSON *extra = cJSON_GetObjectItemCaseSensitive(out, "extra_config");
	assert_int_equal(cJSON_GetArraySize(extra), 500);
	cJSON_ArrayForEach(c, extra)
		assert_int_equal((int)c->valuedouble, 2);
	cJSON_Delete(out);
	cJSON_Delete(cfg);
}

/* 200,000 keys: normalized (sorted once), then refused by size before anything is written. */
static void config_of_200000_keys_is_refused_by_size(void **state)
{
	(void)state;
	cJSON *cfg = cJSON_CreateObject();
	add_keys(cfg, 200000);
	mreg_event ev;
	make_registration(&ev);
	cJSON_Delete(ev.training_config);
	assert_int_equal(mreg_config_normalize(&ev.training_config, cfg, false, "square8_2p"), 0);
	assert_int_equal(cJSON_GetArraySize(extra_of(&ev)), 200000);
	assert_serialize_refused(&ev, "invalid event for 'square8_2p': larger than 1048576 bytes");
	mreg_event_dispose(&ev);
	cJSON_Delete(cfg);
}

/*
 * games_played is whole in every event, but the metrics of a state file
 * someone edited are only read, not checked: writing them again must not
 * cast a number past int64_t (undefined) or cut 2.5 to 2.
 */
static void metrics_write_games_played_that_is_not_whole(void **state)
{
	(void)state;
	mreg_metrics m;
	memset(&m, 0, sizeof(m));
	m.present = 1u << MREG_METRIC_GAMES_PLAYED;
	const double values[] = { 1e300, 2.5, -3, 7 };
	const char *const want[] = { "1e+300", "2.5", "-3", "7" };
	for (int i = 0; i < 4; i++) {
		mreg_buf b = MREG_BUF_INIT;
		mreg_jsonw w;
		mreg_jsonw_init(&w, &b);
		m.v[MREG_METRIC_GAMES_PLAYED] = values[i];
		mreg_metrics_write(&w, NULL, &m, false);
		assert_int_equal(mreg_jsonw_finish(&w), 0);
		char *expect = mreg_strfmt("{\n  \"games_played\": %s\n}\n", want[i]);
		assert_string_equal(b.ptr, expect);
		free(expect);
		mreg_buf_dispose(&b);
	}
}


/* ---- an event in words (describe.c) --------------------------------------- */

static char *words(const mreg_event *ev, int version, int other)
{
	mreg_buf b = MREG_BUF_INIT;
	mreg_event_describe(&b, ev, version, other);
	return mreg_buf_detach(&b);
}

static void describe_says_what_each_event_does(void **state)
{
	(void)state;
	mreg_event ev;
	char *w;
	make_registration(&ev);
	w = words(&ev, 0, 0);
	assert_string_equal(w, "square8_2p:1 registered in development by alice");
	free(w);
	w = words(&ev, 4, 0);	/* renumbered by the fold */
	assert_string_equal(w, "square8_2p:4 registered in development by alice");
	free(w);
	mreg_event_dispose(&ev);

	envelope(&ev, MREG_EV_PROMOTED, 2, 3);
	ev.from = MREG_STAGE_STAGING;
	ev.to = MREG_STAGE_PRODUCTION;
	ev.reason = mreg_strdup("passed evaluation");
	w = words(&ev, 0, 0);
	assert_string_equal(w, "square8_2p:3 staging -> production (passed evaluation) by alice");
	free(w);
	free(ev.reason);
	ev.reason = mreg_strdup("");
	w = words(&ev, 0, 0);
	assert_string_equal(w, "square8_2p:3 staging -> production by alice");
	free(w);
	mreg_event_dispose(&ev);

	envelope(&ev, MREG_EV_TAGGED, 3, 2);
	ev.tags = strv(2, "best", "candidate");
	ev.ntags = 2;
	w = words(&ev, 0, 0);
	assert_string_equal(w, "square8_2p:2 tagged best, candidate by alice");
	free(w);
	mreg_event_dispose(&ev);
}

static void describe_keeps_free_text_to_one_short_line(void **state)
{
	(void)state;
	mreg_event ev;
	envelope(&ev, MREG_EV_PROMOTED, 2, 3);
	ev.from = MREG_STAGE_STAGING;
	ev.to = MREG_STAGE_PRODUCTION;
	char reason[400];
	memset(reason, 'r', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	reason[3] = '\n';
	reason[5] = '\t';
	ev.reason = mreg_strdup(reason);
	char *w = words(&ev, 0, 0);
	assert_null(strchr(w, '\n'));
	assert_null(strchr(w, '\t'));
	assert_non_null(strstr(w, "(rrr?r?rrr"));
	assert_non_null(strstr(w, "...) by alice"));
	assert_true(strlen(w) < 260);
	free(w);
	mreg_event_dispose(&ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(serialize_promotion_exact_bytes),
		cmocka_unit_test(serialize_registration_exact_bytes),
		cmocka_unit_test(serialize_empty_payload_objects_as_braces),
		cmocka_unit_test(serialize_metrics_event_layout),
		cmocka_unit_test(serialize_escapes_strings),
		cmocka_unit_test(serialize_sets_id_to_xxh128_of_bytes),
		cmocka_unit_test(hash128_of_empty_input_is_known_vector),
		cmocka_unit_test(serialize_appends_to_buffer_and_hashes_only_the_event),
		cmocka_unit_test(serialize_refuses_invalid_event_and_writes_nothing),
		cmocka_unit_test(serialize_refuses_nan_metric),
		cmocka_unit_test(serialize_refuses_ref_on_registration),
		cmocka_unit_test(serialize_refuses_training_config_the_parser_refuses),
		cmocka_unit_test(serialize_refuses_version_the_parser_refuses),
		cmocka_unit_test(parse_round_trips_registration),
		cmocka_unit_test(parse_round_trips_promotion),
		cmocka_unit_test(parse_round_trips_metrics_update),
		cmocka_unit_test(parse_round_trips_tag_and_untag),
		cmocka_unit_test(parse_checks_expected_id),
		cmocka_unit_test(parse_refuses_bytes_not_hashing_to_expected_id),
		cmocka_unit_test(parse_refuses_unknown_schema),
		cmocka_unit_test(parse_refuses_missing_schema),
		cmocka_unit_test(parse_refuses_unknown_type),
		cmocka_unit_test(parse_refuses_unknown_key),
		cmocka_unit_test(parse_refuses_key_of_another_type),
		cmocka_unit_test(parse_refuses_ref_on_registration),
		cmocka_unit_test(parse_refuses_duplicate_key),
		cmocka_unit_test(parse_refuses_duplicate_key_nested),
		cmocka_unit_test(parse_refuses_missing_actor),
		cmocka_unit_test(parse_refuses_missing_reason),
		cmocka_unit_test(parse_refuses_missing_ref),
		cmocka_unit_test(parse_refuses_string_where_number_expected),
		cmocka_unit_test(parse_refuses_fractional_version),
		cmocka_unit_test(parse_refuses_number_where_string_expected),
		cmocka_unit_test(parse_refuses_unknown_stage),
		cmocka_unit_test(parse_refuses_tags_not_array),
		cmocka_unit_test(parse_refuses_bad_time),
		cmocka_unit_test(parse_refuses_version_zero),
		cmocka_unit_test(parse_refuses_nesting_deeper_than_16),
		cmocka_unit_test(parse_accepts_nesting_of_exactly_16),
		cmocka_unit_test(parse_refuses_more_than_1_mib),
		cmocka_unit_test(parse_refuses_string_longer_than_16384),
		cmocka_unit_test(parse_accepts_string_of_16384),
		cmocka_unit_test(parse_refuses_key_longer_than_16384),
		cmocka_unit_test(parse_refuses_trailing_garbage),
		cmocka_unit_test(parse_refuses_nul_byte),
		cmocka_unit_test(parse_refuses_invalid_json),
		cmocka_unit_test(parse_refuses_unsorted_tags),
		cmocka_unit_test(parse_refuses_duplicate_tags),
		cmocka_unit_test(parse_refuses_file_path_outside_store),
		cmocka_unit_test(parse_refuses_file_path_not_matching_hash),
		cmocka_unit_test(parse_refuses_file_path_bad_extension),
		cmocka_unit_test(parse_refuses_file_hash_not_hex),
		cmocka_unit_test(parse_refuses_win_rate_above_one),
		cmocka_unit_test(parse_refuses_negative_games_played),
		cmocka_unit_test(parse_refuses_fractional_games_played),
		cmocka_unit_test(parse_refuses_nan_and_infinite_metrics),
		cmocka_unit_test(parse_refuses_unknown_metric),
		cmocka_unit_test(parse_refuses_bad_training_config),
		cmocka_unit_test(parse_refuses_metrics_replace_not_bool),
		cmocka_unit_test(parse_refuses_tag_event_without_tags),
		cmocka_unit_test(id_check_accepts_letters_digits_and_separators),
		cmocka_unit_test(id_check_refuses_empty),
		cmocka_unit_test(id_check_refuses_longer_than_128),
		cmocka_unit_test(id_check_refuses_slash),
		cmocka_unit_test(id_check_refuses_dot_dot),
		cmocka_unit_test(id_check_refuses_spaces),
		cmocka_unit_test(id_derive_lowercases_and_maps_separators),
		cmocka_unit_test(id_derive_refuses_empty),
		cmocka_unit_test(id_derive_refuses_spaces_only),
		cmocka_unit_test(id_derive_refuses_longer_than_128),
		cmocka_unit_test(metrics_set_kv_accepts_exponent),
		cmocka_unit_test(metrics_set_kv_refuses_non_number),
		cmocka_unit_test(metrics_set_kv_refuses_empty_value),
		cmocka_unit_test(metrics_set_kv_refuses_empty_key),
		cmocka_unit_test(metrics_set_kv_refuses_unknown_metric),
		cmocka_unit_test(metrics_set_kv_refuses_out_of_range),
		cmocka_unit_test(metrics_from_json_ignores_unknown_keys_and_nulls),
		cmocka_unit_test(metrics_merge_overwrites_only_present),
		cmocka_unit_test(config_normalize_moves_unknown_keys_into_extra_sorted),
		cmocka_unit_test(config_normalize_without_extra_has_no_extra_config),
		cmocka_unit_test(config_normalize_with_defaults_fills_originals_defaults),
		cmocka_unit_test(config_normalize_null_input_with_defaults),
		cmocka_unit_test(config_normalize_is_idempotent),
		cmocka_unit_test(config_normalize_refuses_bad_types),
		cmocka_unit_test(config_normalize_accepts_nullable_keys),
		cmocka_unit_test(time_format_known_values),
		cmocka_unit_test(time_parse_known_values),
		cmocka_unit_test(time_round_trips_with_microseconds),
		cmocka_unit_test(time_parse_refuses_other_forms),
		cmocka_unit_test(time_parse_refuses_impossible_dates),
		cmocka_unit_test(time_format_same_as_reference),
		cmocka_unit_test(time_parse_same_as_reference),
		cmocka_unit_test(error_message_is_per_thread),
		cmocka_unit_test(error_subject_ends_messages_until_cleared),
		cmocka_unit_test(parse_names_the_event_once_and_only_in_its_own_messages),
		cmocka_unit_test(metrics_without_subject_set_no_message),
		cmocka_unit_test(id_problem_is_the_text_after_the_subject),
		cmocka_unit_test(ref_parse_model_only_means_latest),
		cmocka_unit_test(ref_parse_with_version),
		cmocka_unit_test(ref_parse_refuses_empty_model),
		cmocka_unit_test(ref_parse_refuses_bad_version),
		cmocka_unit_test(ref_parse_refuses_bad_model_id),
		cmocka_unit_test(event_cmp_orders_by_clock_then_id),
		cmocka_unit_test(names_of_types_stages_metrics_round_trip),
		cmocka_unit_test(metrics_write_games_played_that_is_not_whole),
		cmocka_unit_test(serialize_refuses_config_string_over_16384),
		cmocka_unit_test(serialize_refuses_config_key_over_16384),
		cmocka_unit_test(serialize_refuses_config_nested_deeper_than_16),
		cmocka_unit_test(serialize_refuses_event_over_1_mib),
		cmocka_unit_test(serialize_refuses_infinite_number_in_config),
		cmocka_unit_test(serialize_refuses_results_the_parser_refuses),
		cmocka_unit_test(serialize_refuses_duplicate_key_in_results),
		cmocka_unit_test(utf8_valid_follows_rfc_3629),
		cmocka_unit_test(serialize_refuses_invalid_utf8_in_strings),
		cmocka_unit_test(serialize_refuses_invalid_utf8_in_config),
		cmocka_unit_test(tag_check_refuses_invalid_utf8),
		cmocka_unit_test(parse_refuses_invalid_utf8),
		cmocka_unit_test(parse_accepts_utf8_and_escapes),
		cmocka_unit_test(parse_refuses_escaped_nul),
		cmocka_unit_test(serialize_escapes_control_characters_and_parses_back),
		cmocka_unit_test(parse_of_90000_keys_in_one_object),
		cmocka_unit_test(parse_finds_twins_in_large_objects),
		cmocka_unit_test(config_set_kv_last_value_wins),
		cmocka_unit_test(describe_says_what_each_event_does),
		cmocka_unit_test(describe_keeps_free_text_to_one_short_line),
		cmocka_unit_test(config_merge_appends_and_the_last_value_wins),
		cmocka_unit_test(config_normalize_last_value_wins_among_many),
		cmocka_unit_test(config_of_200000_keys_is_refused_by_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Events: the only thing mreg stores. Each event is one immutable JSON file
 * named by the xxh128 of its bytes; the state is a fold over them (fold.c).
 *
 * Every event has the envelope schema, type, clock, time, actor, node, model;
 * events about one version add ref (the id of that version's registration)
 * and version (the number its writer saw). The payload follows, its keys in
 * a fixed order per type. New types add payload fields and a case in the
 * fold; the envelope never changes. The parser is strict: sizes, nesting and
 * string lengths are capped, unknown keys and unknown schemas are refused,
 * and every field is checked against the same rules the writer used.
 */
#ifndef MREG_EVENT_H
#define MREG_EVENT_H

#include "common.h"
#include "jsonw.h"
#include "stage.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

#define MREG_SCHEMA 1

/*
 * Limits: one table for the writer and the parser. The parser refuses an
 * event over any of them; mreg_event_validate and mreg_event_serialize
 * refuse the same event before a byte of it is written, with the same code
 * (see check_value in eventcheck.c), so an event mreg writes always parses.
 */
#define MREG_EVENT_MAX_BYTES (1u << 20)	/* the whole file */
#define MREG_EVENT_MAX_DEPTH 16		/* nesting: the event at 0, its members at 1 */
#define MREG_STRING_MAX 16384		/* any string or key anywhere, in bytes */
#define MREG_NAME_MAX 256		/* a model's name, an actor, a trigger, a work id, a baseline */
#define MREG_NODE_MAX 64		/* a node id */
#define MREG_ID_MAX 128			/* a model id */
#define MREG_TAG_MAX 128		/* one tag */
#define MREG_TAGS_MAX 256		/* tags on one event */
#define MREG_BASELINES_MAX 64		/* baselines of one validation */
#define MREG_EXT_MAX 16			/* a model file's extension, its dot included */

typedef enum {
	MREG_EV_REGISTERED = 0,
	MREG_EV_PROMOTED,
	MREG_EV_METRICS,
	MREG_EV_TAGGED,
	MREG_EV_UNTAGGED,
	/* the types below keep their payload in ev->body (see body_fields in eventcheck.c) */
	MREG_EV_VALIDATION,	/* version.validation: one step of a version's validation */
	MREG_EV_COMPARISON,	/* comparison.recorded: a head-to-head result of two versions */
	MREG_EV_BASELINE,	/* baseline.set: the performance a model's rollback check compares to */
	MREG_EV_ROLLBACK,	/* rollback: an archived version back to production, atomically */
	MREG_EV_ROLLBACK_REQUESTED,	/* rollback.requested: a regression waits for approval */
	MREG_EV_ROLLBACK_CLEARED,	/* rollback.cleared: a waiting request dropped */
	MREG_EV_QUALITY,	/* quality.reported: a data-quality score of a model (the quality watch) */
	MREG_EV_CHECKED,	/* rollback.checked: one check of the rollback monitor, degraded or not */
	MREG_EV_COUNT
} mreg_event_type;

typedef enum {
	MREG_METRIC_ELO = 0,
	MREG_METRIC_ELO_UNCERTAINTY,
	MREG_METRIC_WIN_RATE,
	MREG_METRIC_DRAW_RATE,
	MREG_METRIC_GAMES_PLAYED,
	MREG_METRIC_AVG_MOVE_TIME_MS,
	MREG_METRIC_POLICY_ACCURACY,
	MREG_METRIC_VALUE_MSE,
	MREG_METRIC_COUNT
} mreg_metric;

typedef struct {
	unsigned present;	/* bit i set: v[i] holds a value */
	double v[MREG_METRIC_COUNT];
} mreg_metrics;

typedef struct {
	char id[33];		/* xxh128 of the serialized bytes */
	mreg_event_type type;
	int64_t clock;
	char time[MREG_TIME_LEN + 1];
	char *actor;
	char *node;
	char *model;
	char ref[33];		/* "" on registrations */
	int version;

	/* version.registered */
	char *name;
	char *description;
	mreg_model_type model_type;
	mreg_stage stage;
	char *file_path;	/* artifacts/ab/cd/<hex><ext> or blobs/... */
	char file_hash[48];	/* xxh128:<hex> */
	int64_t file_size;

	/* version.registered, version.metrics_updated */
	mreg_metrics metrics;
	bool replace;		/* metrics_updated: replace all instead of merging */
	cJSON *training_config;	/* owned; only the keys given, normalized */
	/*
	 * version.registered: the training_config its version takes, when a
	 * reader of a full fold made it ahead (mreg_fold_prepare): normalized
	 * with defaults, as mreg_version.training_config holds it. Owned; not
	 * part of the event's bytes. NULL: the fold makes it.
	 */
	char *version_config;
	size_t version_config_len;

	/* version.registered, version.tagged, version.untagged */
	char **tags;
	size_t ntags;

	/* version.promoted */
	mreg_stage from;
	mreg_stage to;
	char *reason;

	/*
	 * The payload of the newer types, owned: a JSON object whose members
	 * come in the order body_fields lists them, each checked against its
	 * kind there. ref and version are set for validation, comparison and
	 * rollback events (the version acted on: A of a comparison, the target
	 * of a rollback) and absent on model-wide ones.
	 */
	cJSON *body;
} mreg_event;

/* True if events of this type keep their payload in ev->body (the newer types). */
bool mreg_event_has_body(mreg_event_type t);
/* True if events of this type carry ref and version. */
bool mreg_event_has_version(const mreg_event *ev);
/* The second model an event touches (B of a comparison), or NULL. */
const char *mreg_event_other_model(const mreg_event *ev);
/* Body members, NULL or the default when absent or of another kind. */
const char *mreg_event_body_str(const mreg_event *ev, const char *key);
double mreg_event_body_num(const mreg_event *ev, const char *key, double dflt);
bool mreg_event_body_has(const mreg_event *ev, const char *key);

const char *mreg_event_type_name(mreg_event_type t);
mreg_event_type mreg_event_type_parse(const char *name);	/* -1 if unknown */
const char *mreg_metric_name(mreg_metric m);			/* metrics.c */
int mreg_metric_parse(const char *name);			/* -1 if unknown */

/* Zeroed event with stages and types set to NONE. */
void mreg_event_init(mreg_event *ev);
void mreg_event_dispose(mreg_event *ev);
void mreg_event_free(mreg_event *ev);

/* Check every field against the rules for its type. */
int mreg_event_validate(const mreg_event *ev);

/* Serialize (after validating) and set ev->id from the bytes. */
int mreg_event_serialize(mreg_buf *out, mreg_event *ev);

/*
 * Parse and validate one event file. If expect_id is given, the bytes must
 * hash to it (MREG_ECORRUPT otherwise).
 */
int mreg_event_parse(mreg_event **out, const char *data, size_t len, const char *expect_id);

/* Where an event lives in the tree: "events/ab/cd/<id>.json" (64 bytes suffice). */
#define MREG_EVENT_PATH_MAX 64
void mreg_event_path(char out[MREG_EVENT_PATH_MAX], const char *id);

/*
 * The event in words, one line (describe.c): "square8_2p:3 staging ->
 * production (passed evaluation) by alice". version: the number the fold
 * gave the version (0: the one the event names); other: the second
 * version's (B of a comparison, the version a rollback replaces; 0: as named).
 */
void mreg_event_describe(mreg_buf *out, const mreg_event *ev, int version, int other);
/* The event as the log lists it: {id, clock, time, type, actor, node, model, version, ref (null on registrations)}. */
void mreg_event_write_summary(mreg_jsonw *w, const mreg_event *e);

/* (clock, id) order: negative, zero or positive. */
int mreg_event_cmp(const mreg_event *a, const mreg_event *b);

/* ---- names (event.c) ---- */

/* What is wrong with id as a model id ("empty", "'..' is not allowed", ...), or NULL. */
const char *mreg_id_problem(const char *id);
/* The same as a message: MREG_EINVALID, "invalid model id '<id>': <problem>". */
int mreg_id_check(const char *id);
int mreg_id_derive(char *out, size_t outlen, const char *name);
int mreg_tag_check(const char *tag);

/* ---- metrics (metrics.c) ---- */

/* v as metric m (rates in [0, 1], games whole, ...); MREG_EINVALID with a message naming
 * subject, or without one when subject is NULL (a reader that names the failure itself). */
int mreg_metric_check(mreg_metric m, double v, const char *subject);
/* "elo=1500" into metrics; MREG_EINVALID with a message naming the pair. */
int mreg_metrics_set_kv(mreg_metrics *m, const char *kv);
/* A JSON object of metrics (unknown keys ignored, as the original); subject as for mreg_metric_check. */
int mreg_metrics_from_json(mreg_metrics *m, const cJSON *obj, const char *subject);
void mreg_metrics_merge(mreg_metrics *into, const mreg_metrics *from);
/* Metrics as an object; all_keys writes every metric (null when absent). */
void mreg_metrics_write(mreg_jsonw *w, const char *key, const mreg_metrics *m, bool all_keys);

/* ---- training config (config.c) ---- */

/*
 * Training config: known keys checked and typed, unknown top-level keys moved
 * into extra_config (sorted), keys in the original's order. With defaults,
 * missing known keys get the original's defaults (the state's view).
 */
int mreg_config_normalize(cJSON **out, const cJSON *in, bool with_defaults, const char *subject);
/*
 * "lr=0.01" or "optimizer=sgd": the value is JSON if it parses, else a
 * string. Appended to obj: a key given twice keeps its last value once the
 * config goes through mreg_config_normalize.
 */
int mreg_config_set_kv(cJSON *obj, const char *kv);
/*
 * Move every member of from to the end of into, in constant time each (a
 * config file over the --config options): as with mreg_config_set_kv, the
 * last value of a key wins in mreg_config_normalize.
 */
void mreg_config_merge(cJSON *into, cJSON *from);

#endif

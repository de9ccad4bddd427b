/*
 * The state: what the fold of the event log says about every model.
 *
 * A state may be partial. The registry summary (clock, counts, one summary
 * row per model) is always present; a model's versions are present only when
 * that model is loaded. The fold touches only the models an event names, so
 * a writer loads the summary and one model, applies its one new event, and
 * writes back what changed: a write costs O(that model), not O(the log).
 * Functions that need every version (listing across models, stats by tag)
 * say so and the caller loads all models first.
 */
#ifndef MREG_STATE_H
#define MREG_STATE_H

#include "common.h"
#include "event.h"
#include "jsonw.h"
#include "stage.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

typedef struct {
	mreg_stage from;	/* MREG_STAGE_NONE on the first row: "(new)" */
	mreg_stage to;
	char *reason;
	char *by;
	char at[MREG_TIME_LEN + 1];
	char event[33];
	bool rollback;		/* made by a rollback: archived -> production is allowed */
} mreg_transition;

typedef struct {
	int version;		/* as the fold assigned it */
	int claimed;		/* as its writer claimed it */
	char ref[33];		/* id of the registration event */
	mreg_stage stage;
	char *file_path;
	char file_hash[48];
	int64_t file_size;
	mreg_metrics metrics;
	/*
	 * Normalized with defaults, as its JSON: the bytes mreg_jsonw writes
	 * for it as a member of a version in a state file (at
	 * MREG_CONFIG_DEPTH), copied as they are when the version is written.
	 * A dozen cJSON nodes a version took half the heap of a full fold.
	 * NULL until set (mreg_version_set_config); parsed: mreg_version_config.
	 */
	char *training_config;
	size_t training_config_len;
	char **tags;		/* sorted, unique */
	size_t ntags;
	char created_at[MREG_TIME_LEN + 1];
	char updated_at[MREG_TIME_LEN + 1];
	mreg_transition *history;
	size_t nhistory;
	cJSON *validation;	/* NULL or an object */
	cJSON *comparisons;	/* NULL or an array of comparison objects, fold order */
	/*
	 * A lazily loaded version: its JSON as written (at depth 2) in its
	 * model file or production.json, with only version, claimed, ref,
	 * stage, updated_at and metrics filled in. Anything
	 * else needs mreg_version_materialize() first; the fold does that for
	 * the versions an event touches, and writing a model file copies the
	 * bytes of untouched ones as they are. NULL: fully parsed.
	 */
	const char *raw;
	size_t rawlen;
	bool rawowned;		/* raw is this version's own copy, else it points into model->rawbuf */
} mreg_version;

typedef struct {
	char *id;
	char *name;
	char *description;
	mreg_model_type type;
	char created_at[MREG_TIME_LEN + 1];
	char updated_at[MREG_TIME_LEN + 1];
	int nversions;
	int latest;
	mreg_version *prod;	/* owned copy of the production version, NULL: none.
				 * Kept in the summary so production.json and
				 * `list --stage production` need no model file. */
	int summary_prod;	/* the production version registry.json names (0: none),
				 * checked when production.json is attached */
	char prod_loaded[33];	/* when loaded without production.json: the xxh128 of
				 * its production entry then ("-" none), to tell a
				 * write that changed it ("" not recorded) */
	int64_t clock;		/* newest event applied to this model */
	char last_event[33];

	/*
	 * A write's state reads registry.json's model_list lazily (statelazy.c):
	 * a model it does not load keeps its row as the bytes written (at depth
	 * 2), with only id, versions, latest, clock, last_event and
	 * summary_prod read out of them, and the row is written back as it is.
	 * Loading the model reads the rest (mreg_model_row_materialize).
	 * NULL: read in full. Points into the state's rowbuf, or into the
	 * bytes it borrows (rowsrc).
	 */
	const char *row;
	size_t rowlen;

	bool loaded;
	bool dirty;		/* changed since load: its state file must be written */
	char *rawbuf;		/* the model file lazily loaded versions point into, if
				 * the state owns it (NULL: the caller keeps it alive) */
	const char *rawsrc;	/* that file's bytes, owned or not (NULL: no version is lazy) */
	size_t rawsrclen;
	mreg_version *versions;	/* sorted by version number */
	size_t aversions;
} mreg_model;

typedef struct {
	char event[33];
	char *type;
	char *model;
	int version;
	char *message;
	char time[MREG_TIME_LEN + 1];
	char *actor;
} mreg_conflict;

/*
 * An event file left out of the fold, on every node alike (the fold stays a
 * function of the tree): it failed validation (a name that is not its hash,
 * a bad schema, a limit passed, bytes changed), is not a file at all (a
 * link, a submodule), or claims a clock more than MREG_CLOCK_SLACK past the
 * number of event files in the tree. Reads and writes go on; status and
 * fsck list it.
 */
typedef struct {
	char *path;		/* in the tree: events/ab/cd/<name> */
	char *problem;
} mreg_quarantined;

/*
 * A Lamport clock counts the events its writer had seen: an honest event's
 * clock is at most the number of event files in the tree (more only where
 * events were deleted by hand). A clock more than this past that number is
 * taken for a forgery and left out, so that the clock the next writer takes
 * stays far from the largest the parser accepts (2^52) and no event can
 * stop writes. The bound depends on the tree alone (not on the order events
 * arrived in), so every node leaves out the same events.
 */
#define MREG_CLOCK_SLACK (1 << 20)

typedef struct {
	char tree[41];		/* git tree the state was folded from ("" unknown) */
	/*
	 * The xxh128 of production.json's bytes, recorded in registry.json: the
	 * two files belong together. production.json is rewritten only when
	 * production changes, so it names no tree. mreg_state_write_registry
	 * computes it from the state, unless production_missing.
	 */
	char production_digest[33];
	bool production_missing;	/* loaded without production.json (a write's load): only loaded models have m->prod */
	int64_t clock;		/* largest clock applied */
	char last_event[33];	/* id of the last event applied */
	int64_t nevents;
	int64_t by_type[MREG_EV_COUNT];
	int64_t nversions;
	int64_t stage_count[MREG_STAGE_COUNT];
	int64_t type_count[MREG_TYPE_COUNT];	/* versions by model type */
	mreg_model **models;	/* sorted by id */
	size_t nmodels, amodels;
	mreg_conflict *conflicts;
	size_t nconflicts, aconflicts;
	mreg_quarantined *quarantined;	/* sorted by path */
	size_t nquarantined, aquarantined;
	int64_t nfiles;		/* entries under events/ in the tree: the clock bound's base */
	int64_t forged_clock;	/* the smallest clock left out as forged (0: none) */
	/*
	 * Registry-wide records of the rollback manager, as JSON (they are
	 * few, and they are written to registry.json as they are):
	 * baselines      model id -> {elo, win_rate, games_played, set_at, set_by, event}
	 * pending        model id -> {severity, elo_drop, reason, requested_at, requested_by, event}
	 * rollbacks      every rollback attempt in fold order (see fold.c)
	 * monitor        model id -> the rollback monitor's record (monitor.c):
	 *                {baselines: {name -> baseline}, quality: {score,
	 *                threshold, reported_at, low_since, reports, event},
	 *                regressions}, each member there once it has a value
	 * Objects keep their members sorted by model id. NULL: none yet.
	 */
	cJSON *baselines;
	cJSON *pending;
	cJSON *rollbacks;
	cJSON *monitor;
	char *rowbuf;		/* registry.json's bytes (or one row's), when models keep their rows (mreg_model.row) */
	/* the bytes the rows point into: rowbuf, or a mapping the caller keeps (mreg_state_borrow_registry_rows) */
	const char *rowsrc;
	size_t rowsrclen;
} mreg_state;

int mreg_state_new(mreg_state **out);
void mreg_state_free(mreg_state *st);

mreg_model *mreg_state_model(const mreg_state *st, const char *id);
/* Leave the event file at path out, saying why (kept sorted by path, each once). */
int mreg_state_quarantine(mreg_state *st, const char *path, const char *problem);
/* Take path off the list: a write replaced what was there (a file where a directory belongs). */
void mreg_state_unquarantine(mreg_state *st, const char *path);

/* Find or create (empty, loaded) a model entry. */
int mreg_state_model_add(mreg_model **out, mreg_state *st, const char *id);
/* Drop a model's versions, keeping its summary (to reload it). */
/*
 * A model loaded from its file without production.json (a write's): its
 * production version, the one the summary names, taken from its versions.
 */
int mreg_model_prod_from_versions(mreg_model *m);
void mreg_model_unload(mreg_model *m);

mreg_version *mreg_model_version(const mreg_model *m, int version);	/* 0: latest */
mreg_version *mreg_model_version_by_ref(const mreg_model *m, const char *ref, int hint);

/*
 * Apply one event. Events must come in (clock, id) order and every model the
 * event names must be loaded. A promotion that no longer fits is recorded as
 * a conflict and changes nothing else; an event whose clock is more than
 * MREG_CLOCK_SLACK past st->nfiles (set by the caller: the event files in
 * the tree) is quarantined. After each
 * event the invariants are checked (mreg_state_check_model); a failure is
 * MREG_ECORRUPT.
 */
int mreg_fold_apply(mreg_state *st, const mreg_event *ev);
/*
 * The same for a fold of many events (a full fold, fsck, check): after each
 * event only what it touched is checked (its versions' histories, where
 * production is, the latest), so a fold costs O(events), not O(events x
 * versions). The caller checks every model once at the end
 * (mreg_state_check_all).
 */
int mreg_fold_apply_bulk(mreg_state *st, const mreg_event *ev);
/*
 * What applying ev will compute from it alone, computed now: a full fold's
 * readers call it on the events they read, so that the thread that applies
 * them has less to do (a registration's version's training_config).
 */
int mreg_fold_prepare(mreg_event *ev);
/* ---- the rollback monitor's record (monitor.c; its decisions are in lifecycle.h) ---- */

/*
 * The fold of the monitor's events (fold.c calls it): baseline.set with a
 * name, quality.reported, rollback.checked, into st->monitor.
 */
int mreg_monitor_apply(mreg_state *st, const mreg_event *ev);
/* After a rollback of model by trigger: the run of regressions and the named baselines end; auto_quality ends the watch. */
void mreg_monitor_rolled_back(mreg_state *st, const char *model, const char *trigger);
/* The regressions the monitor's checks of model saw in a row, since the last check within range or rollback. */
int mreg_monitor_regressions(const mreg_state *st, const char *model);
/* The quality record of model ({score, threshold, reported_at, low_since, reports, event}), or NULL. */
const cJSON *mreg_monitor_quality(const mreg_state *st, const char *model);
/* Put item under key in *obj (made when NULL), members sorted by key, replacing one of the same key; item is taken. */
int mreg_json_put_sorted(cJSON **obj, const char *key, cJSON *item);

/*
 * Invariants of one model (state.c), asserted after every event the fold applies:
 *  1. at most one version is in production, and it is the summary's prod;
 *  2. version numbers are unique and ascending, latest is the largest;
 *  3. each version's history starts with "(new)" and chains: every row
 *     starts where the previous one ended and is allowed by the stage table,
 *     and the last row ends in the version's stage.
 */
int mreg_state_check_model(const mreg_model *m);
/* Invariant 3 alone, for one version of m. */
int mreg_state_check_version(const mreg_model *m, const mreg_version *v);
/* mreg_state_check_model for every model of st. */
int mreg_state_check_all(const mreg_state *st);

/* 1 if a validation in status (NULL: none) may take action (create, queue, start, pass, fail). */
int mreg_validation_allowed(const char *status, const char *action);

/* ---- state files (statefile.c: writers; stateread.c: full readers; statelazy.c: lazy readers) ---- */

/* The layout of the state files; bump when any of them changes: older files are then folded anew. */
#define MREG_STATE_FORMAT 8

/* "quarantined": [{path, problem}] as registry.json and `status --json` have it. */
void mreg_state_write_quarantined(mreg_jsonw *w, const mreg_state *st);
/* state/registry.json: summary, counts, conflicts, one row per model. */
int mreg_state_write_registry(mreg_buf *out, const mreg_state *st);
/*
 * The same bytes, with the rows kept as they were read (mreg_model.row)
 * listed as spans where they lie, not copied, as
 * mreg_state_write_model_spans lists versions: rows that follow each other
 * in the file read, as they will in the file written, are one span.
 */
int mreg_state_write_registry_spans(mreg_buf *own, mreg_span **spans, size_t *nspans, const mreg_state *st);
/* state/models/<id>.json: every version of one (loaded) model. */
int mreg_state_write_model(mreg_buf *out, const mreg_model *m);
/* state/production.json: model id -> production version and artifact. */
int mreg_state_write_production(mreg_buf *out, const mreg_state *st);
/* The xxh128 of m's entry in production.json as it would be written now ("-" when it has none). */
int mreg_state_production_entry_digest(char out[33], const mreg_model *m);

/*
 * Read registry.json into a new partial state (no model loaded). Its rows
 * name each model's production version by number; the versions themselves
 * come from production.json (mreg_state_attach_production), so the summary
 * stays small: a write reads and rewrites it whole.
 */
int mreg_state_read_registry(mreg_state **out, const char *data, size_t len);
/* Its members but model_list into st (stateread.c; doc is left without some members). */
int mreg_state_read_registry_head(mreg_state *st, cJSON *doc);
/*
 * A write's read of registry.json: the rows of model_list kept as their
 * bytes (mreg_model.row), in buf, which the state takes on success. 1:
 * not our writer's layout, for mreg_state_read_registry.
 */
int mreg_state_read_registry_rows(mreg_state **out, char *buf, size_t len);
/* The same with the rows left in data, which the caller keeps alive and unchanged while the state lives (a mapping). */
int mreg_state_borrow_registry_rows(mreg_state **out, const char *data, size_t len);
/*
 * A listing of one model's read of registry.json (len bytes at data, not
 * kept): the head, and of model_list only the row of model id, found by
 * its first line and copied, kept as mreg_state_read_registry_rows keeps
 * rows. The other rows are neither parsed nor checked. 1: not our
 * writer's layout, or no row of id (or none whose first line reads), for
 * the full readers to tell.
 */
int mreg_state_read_registry_row(mreg_state **out, const char *data, size_t len, const char *id);
/* The rest of m's row read (before m is loaded); and every model's (before production.json is written). */
int mreg_model_row_materialize(mreg_model *m);
int mreg_state_rows_materialize(mreg_state *st);
/*
 * Give the models of a state read from registry.json their production
 * versions from production.json; ECORRUPT when the two files disagree.
 * lazy: borrow data as mreg_state_borrow_production does.
 */
int mreg_state_attach_production(mreg_state *st, const char *data, size_t len, bool lazy);
/*
 * Read production.json into a new state holding each model's production
 * version (m->prod) and nothing else: no versions, no counts. For listing
 * production versions without registry.json.
 */
int mreg_state_read_production(mreg_state **out, const char *data, size_t len);
/*
 * The same, lazily, borrowing data (kept alive and unchanged by the caller
 * until the state is freed): each production version keeps its bytes, with
 * its cheap fields and metrics read. 1: not a layout this reader takes.
 */
int mreg_state_borrow_production(mreg_state **out, const char *data, size_t len);

/*
 * Read a model file into the state's entry for that model, marking it
 * loaded. lazy: keep each version's bytes and parse them only when needed
 * (the write path: an event touches one or two versions of the model).
 */
int mreg_state_read_model(mreg_state *st, const char *data, size_t len, bool lazy);
/* The same, lazily, taking ownership of buf (malloc'd, len bytes, NUL-terminated). */
int mreg_state_adopt_model(mreg_state *st, char *buf, size_t len);
/*
 * The same, lazily, borrowing data: the caller keeps it unchanged and alive
 * (a mapped file, say) until the state is freed. 1: not a file this reader
 * can take lazily; the caller reads it with mreg_state_read_model instead.
 */
int mreg_state_borrow_model(mreg_state *st, const char *data, size_t len);


/*
 * A model file as pieces, so untouched versions are written straight from
 * where they were read: the bytes built here go to own, the spans list the
 * file in order. The same bytes as mreg_state_write_model.
 */
int mreg_state_write_model_spans(mreg_buf *own, mreg_span **spans, size_t *nspans, const mreg_model *m);
/* Parse a lazily loaded version in place; 0 if it already was. */
int mreg_version_materialize(mreg_version *v);
/*
 * A state holding only the model of one model file, its summary taken from
 * the file (for reads of one model: no registry.json needed). Counts and
 * other models are absent.
 */
int mreg_state_read_model_alone(mreg_state **out, const char *data, size_t len);
/*
 * The same for one version only (0: the latest): the other versions are
 * skipped over, not parsed. The model keeps its real latest number; its
 * versions array holds just that version (or nothing if there is none).
 */
int mreg_state_read_model_version(mreg_state **out, const char *data, size_t len, int version);

/* The depth a version's members are written at in a state file: its training_config's bytes are as written there. */
#define MREG_CONFIG_DEPTH 3
/* config's bytes as a version's training_config holds them, into *out (*len bytes; the caller frees). */
int mreg_config_render(char **out, size_t *len, const cJSON *config);
/* v's training_config set to config's bytes (a normalized object); MREG_ERROR with its message. */
int mreg_version_set_config(mreg_version *v, const cJSON *config);
/* v's training_config parsed, for the caller to cJSON_Delete; NULL when it has none (or no memory). */
cJSON *mreg_version_config(const mreg_version *v);
/* v's training_config as the member key at w's depth (null when it has none). */
void mreg_version_write_config(mreg_jsonw *w, const char *key, const mreg_version *v);

/* One version as the JSON object of DESIGN section 5 (show --json, list --json). */
void mreg_version_write(mreg_jsonw *w, const char *key, const mreg_model *m, const mreg_version *v);
/*
 * The validation a version is registered with ({"status": "pending", ...,
 * "games_per_matchup": 50}): one object shared by every version that has
 * it, read like any other. Before a version's validation is changed in
 * place, mreg_validation_own gives the version a copy of its own; a
 * validation is freed by mreg_validation_free, which leaves the shared one.
 */
cJSON *mreg_validation_pending(void);
int mreg_validation_own(mreg_version *v);
void mreg_validation_free(cJSON *validation);
/* Deep copy; NULL on out of memory. */
mreg_version *mreg_version_dup(const mreg_version *v);
void mreg_version_free(mreg_version *v);
/* One history row with the original's column names. */
void mreg_transition_write(mreg_jsonw *w, const mreg_transition *t);

#endif

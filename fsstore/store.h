/*
 * fsstore: the registry on disk. A registry is a git repository whose
 * commits each add one event file; this layer is the only one that touches
 * libgit2 and the file system.
 *
 * Reads never fold the whole log when they can help it: state files, stamped
 * with the git tree they were folded from, are the cache. A command first
 * compares the stamp with HEAD's tree (one ref read and one commit read); a
 * match means the files are current, a mismatch means a refresh: the new
 * events alone when they only add to what was folded, a full fold otherwise.
 *
 * Writes follow DESIGN section 4: lock, load, validate, write objects as one
 * pack, move the branch with compare-and-swap, mirror into the work tree and
 * index, fold the one new event into the state files.
 */
#ifndef MREG_STORE_H
#define MREG_STORE_H

#include "../core/common.h"
#include "../core/event.h"
#include "../core/lifecycle.h"
#include "../core/query.h"
#include "../core/state.h"

#include <stdbool.h>

#define MREG_VERSION_STRING "0.1.0"
#define MREG_DEFAULT_DIR "data/model_registry"

typedef struct mreg_registry mreg_registry;

/*
 * State files and the git index up to this many bytes are read into the
 * heap rather than mapped (default 0: always mapped). For a process whose
 * heap is cheap to touch; set once, before opening a registry.
 */
void mreg_fs_set_read_max(size_t bytes);

/* Create a registry at path (directories made as needed). */
int mreg_registry_init(const char *path);

/*
 * Open the registry at dir; NULL means $MREG_DIR, else data/model_registry.
 * Bare repositories open for reading and checking.
 */
int mreg_registry_open(mreg_registry **out, const char *dir);
/* The same for any git repository, even one without commits yet (a hub a hook checks a first push into). */
int mreg_registry_open_git(mreg_registry **out, const char *dir);
/*
 * The same, for a command that only reads state files (show, history, list):
 * when the state files are stamped with the commit HEAD is at, the registry
 * is opened without starting libgit2 (its git side comes when a call needs
 * it). Anything out of the ordinary takes mreg_registry_open's road.
 */
int mreg_registry_open_read(mreg_registry **out, const char *dir);
/*
 * The same, for a command that writes events: when the state files are
 * stamped with HEAD's commit, HEAD is on a branch and git config holds
 * nothing that only libgit2 should read, the registry is opened without
 * libgit2; the write reads the few objects it needs itself.
 */
int mreg_registry_open_write(mreg_registry **out, const char *dir);
void mreg_registry_free(mreg_registry *reg);
const char *mreg_registry_path(const mreg_registry *reg);
bool mreg_registry_is_bare(const mreg_registry *reg);
/* A git config setting of the registry (key lowercase: "mreg.servetoken"): 1 with its value in out, 0 when unset. */
int mreg_registry_setting(mreg_buf *out, mreg_registry *reg, const char *key);

/*
 * A current state. With model set, that model is loaded (if it exists); with
 * all set, every model is loaded. Refreshes the state files first if HEAD
 * moved since they were written.
 */
int mreg_read_state(mreg_state **out, mreg_registry *reg, const char *model, bool all);
/*
 * The same, with each version kept as its bytes in the model file (mapped
 * while reg lives) and only its version, stage, update time, ref and
 * metrics read out: what a listing prints. Anything else of a version needs
 * mreg_version_materialize; as JSON it is written from its bytes.
 * production.json is not read: only loaded models (model's, or all) have
 * their production version, from their own files.
 */
int mreg_read_state_lazy(mreg_state **out, mreg_registry *reg, const char *model, bool all);

/*
 * A current state holding one model only (read from its own state file; no
 * summary, no counts): the cheap road for show and history. version -1
 * loads every version; 0 only the latest, N only version N (the others are
 * skipped, not parsed). A model that does not exist gives a state without it.
 */
int mreg_read_model(mreg_state **out, mreg_registry *reg, const char *id, int version);

/* A current state holding only each model's production version (from production.json). */
int mreg_read_production(mreg_state **out, mreg_registry *reg);

/* Bring state files, work tree and index up to HEAD; force: fold from scratch. */
int mreg_registry_refresh(mreg_registry *reg, bool force, bool *was_fresh);

typedef struct {
	char head[41];		/* HEAD commit, "" when none */
	char tree[41];
	char branch[256];
	bool state_fresh;	/* the state files were folded from HEAD's tree */
	bool mirror_fresh;	/* work tree and index match HEAD */
} mreg_status;

int mreg_registry_status(mreg_status *out, mreg_registry *reg);
/* HEAD's commit now, read by hand when git's files allow (two small reads), else by libgit2. */
int mreg_head_now(char out[41], mreg_registry *reg);
/*
 * HEAD's commit read by hand, files only (safe from any thread on one
 * registry): 0, or 1 when only libgit2 could tell (a packed or detached HEAD).
 */
int mreg_head_peek(char out[41], const mreg_registry *reg);

/* ---- writes ---- */

typedef struct {
	const char *name;		/* required */
	const char *file;		/* required: the model file to store */
	const char *id;			/* NULL: derived from name */
	mreg_model_type type;		/* NONE: policy_value */
	const char *description;	/* NULL: "" */
	mreg_stage stage;		/* NONE: development */
	mreg_metrics metrics;
	const cJSON *training_config;	/* borrowed, may be NULL */
	const char *const *tags;
	size_t ntags;
} mreg_register_opts;

#define MREG_REGISTER_OPTS_INIT { NULL, NULL, NULL, MREG_TYPE_NONE, NULL, MREG_STAGE_NONE, { 0, { 0 } }, NULL, NULL, 0 }

/* On success *model_out / *version_out say what was registered (may be NULL). */
int mreg_register(char model_out[MREG_ID_MAX + 1], int *version_out, mreg_registry *reg,
		  const mreg_register_opts *opts);

int mreg_promote(mreg_registry *reg, const mreg_ref *ref, mreg_stage to, const char *reason);
typedef struct {
	const char *reason;
	bool same_stage_ok;	/* a version already in the stage is no error: nothing is written (archive, reject) */
	unsigned from;		/* stages (1 << stage) the version must still be in under the lock (0: any; cleanup) */
} mreg_promote_opts;
#define MREG_PROMOTE_OPTS_INIT { NULL, false, 0 }
/* The same, saying which version moved (*version); 1 when it was in the stage already and same_stage_ok. */
int mreg_promote_to(int *version, mreg_registry *reg, const mreg_ref *ref, mreg_stage to, const mreg_promote_opts *o);
int mreg_update_metrics(mreg_registry *reg, const mreg_ref *ref, const mreg_metrics *m, bool replace);
int mreg_tag(mreg_registry *reg, const mreg_ref *ref, const char *const *tags, size_t n, bool untag);

/*
 * Append events in one commit (imports, migrations, benchmarks). Each event
 * gets the envelope a single write would give it (clock, time, actor, node)
 * for the members left unset; files are committed beside them (model files
 * under artifacts/). On success each event's id is set.
 */
int mreg_append_events(mreg_registry *reg, mreg_event **evs, size_t n, const char *const *file_paths,
		       const void *const *file_data, const size_t *file_len, size_t nfiles, const char *summary);

/*
 * Pack the history with delta compression (writes store each commit's
 * trees whole, for speed), keeping what git gc keeps (refs and tag objects,
 * HEAD, reflogs, the index, linked work trees): with full, or when there is
 * no base pack to keep, everything into one pack, the next base; else only
 * what lies outside the base (gc.c). Unreachable objects go once older
 * than gc.pruneExpire, those inside the base at the next full gc. Sizes of
 * .git/objects before and after, in bytes; *was_full: everything was packed.
 */
int mreg_gc(int64_t *before, int64_t *after, bool *was_full, mreg_registry *reg, bool full);

/* ---- the rollback manager, validations, comparisons (lifecycle.c) ---- */

/* The policy of mreg.json at HEAD over the original's defaults (MREG_POLICY_INIT). */
int mreg_registry_policy(mreg_policy *out, mreg_registry *reg);

/*
 * Record the baseline a rollback check compares to: the metrics given
 * (present members), the rest from the production version. Without a
 * production version every member must be given. name NULL: the model's
 * baseline (the original's one); else one of its named baselines, each of
 * which a check compares to as well.
 */
int mreg_baseline_set(mreg_registry *reg, const char *model, const char *name, const mreg_metrics *given);
/* What is wrong with name as a baseline's name (letters, digits, '.', '_', '-'; 64 bytes), or NULL. */
const char *mreg_baseline_name_problem(const char *name);

/*
 * Roll model back: version `to` (0: the candidate rule) goes to production,
 * the production version to archived, in one event. reason NULL: "Manual
 * rollback"; trigger NULL: "manual". *from_out / *to_out: the versions.
 * MREG_ENOTFOUND for an unknown model or version, MREG_ETRANSITION when
 * nothing is in production, no candidate exists or the target is not archived.
 */
int mreg_rollback(int *from_out, int *to_out, mreg_registry *reg, const char *model, int to, const char *reason,
		  const char *trigger);
/* What mreg_rollback would do (the versions it would move), checked as it checks, writing nothing (rollback --dry-run). */
int mreg_rollback_plan(int *from_out, int *to_out, mreg_registry *reg, const char *model, int to);

/* A regression that waits for approval (rollback.requested); the model must be in production. */
int mreg_rollback_request(mreg_registry *reg, const char *model, const char *severity, double elo_drop,
			  const char *reason);
/* Drop the waiting request (MREG_ENOTFOUND if none). */
int mreg_rollback_clear(mreg_registry *reg, const char *model, const char *reason);
/* Carry out the waiting request as a rollback (trigger auto_regression_approved); reason_out may be NULL. */
int mreg_rollback_approve(int *from_out, int *to_out, mreg_buf *reason_out, mreg_registry *reg, const char *model);

/*
 * A data-quality score of model (0 to 1) as a quality.reported event,
 * judged by mreg.json's rollback.quality_critical_threshold, which the
 * event records. model need not be registered yet.
 */
int mreg_quality_report(mreg_registry *reg, const char *model, double score, const char *reason);

typedef enum {
	MREG_MONITOR_NOTHING = 0,	/* not due: nothing to do */
	MREG_MONITOR_ROLLED_BACK,	/* rolled back (with dry_run: would roll back) */
	MREG_MONITOR_NOT_MADE		/* due, but rollback.auto_rollback_enabled is false */
} mreg_monitor_outcome;

/*
 * The quality watch of model, decided under the lock: when its data
 * quality has been low for rollback.quality_sustained_minutes, a rollback
 * (trigger auto_quality, the original's reason). why says what was decided;
 * the rollback's refusals (cooldown, no candidate) are errors.
 */
int mreg_quality_rollback(mreg_monitor_outcome *out, int *from_out, int *to_out, mreg_buf *why, mreg_registry *reg,
			  const char *model, bool dry_run);

/*
 * One check of the rollback monitor (rollback --if-needed when
 * rollback.consecutive_regressions_required is above 1), recorded under the
 * lock as a rollback.checked event: degraded adds one to the run of
 * regressions; a check within range ends a run (and writes nothing when
 * there is none). *seen: the run after this check.
 */
int mreg_rollback_checked(int *seen, mreg_registry *reg, const char *model, bool degraded, const char *reason);

/*
 * The regression policy (REFERENCE.md): decides with mreg_regression_decide
 * and acts: a rollback, a waiting request, or nothing. *action and the
 * reason (out) say which. approval: 1 severe waits, 0 it does not, -1 as
 * mreg.json says.
 */
int mreg_regression(mreg_regression_action *action, mreg_buf *out, int *from_out, int *to_out, mreg_registry *reg,
		    const char *model, const char *severity, double elo_drop, const char *reason, int approval);

typedef struct {
	const char *action;		/* create, queue, start, pass, fail */
	const char *const *baselines;	/* create */
	size_t nbaselines;
	int games_per_matchup;		/* create; 0: 50 */
	const char *work_id;		/* queue */
	const cJSON *results;		/* pass, fail; may be NULL */
} mreg_validation_opts;

/* One step of a version's validation; a step its status refuses is MREG_ETRANSITION. */
int mreg_validation_step(mreg_registry *reg, const mreg_ref *ref, const mreg_validation_opts *o);

typedef struct {
	int64_t games, a_wins, b_wins, draws;
	bool has_elo_diff;
	double elo_diff;
	const char *notes;
} mreg_comparison_opts;

/* Record a head-to-head result of versions a and b; *out: the comparison object as the state shows it. */
int mreg_compare_record(cJSON **out, mreg_registry *reg, const mreg_ref *a, const mreg_ref *b,
			const mreg_comparison_opts *o);

/*
 * The auto-promoter's one step for ref under policy p: promotes when the
 * criteria hold. *to_out: the new stage or MREG_STAGE_NONE; reason in out.
 */
int mreg_auto_promote(mreg_stage *to_out, mreg_buf *out, mreg_registry *reg, const mreg_ref *ref,
		      const mreg_policy *p);

/* ---- CMA-ES (cmaes.c) ---- */

typedef struct {
	const char *weights;		/* required: a JSON file whose "weights" object is the result */
	const char *board;		/* required: square8, hex8, ... */
	int players;			/* required: 2 to 8 */
	double fitness;			/* win rate reached, 0 to 1 */
	int generation;			/* generations run, >= 0 */
	const cJSON *config;		/* NULL or the run's config: population_size, sigma, generations,
					 * games_per_eval, opponent_mode, eval_mode, run_id */
	bool auto_promote;		/* promote to staging when fitness beats the best by min_improvement */
	double min_improvement;
} mreg_cmaes_opts;

#define MREG_CMAES_OPTS_INIT { NULL, NULL, 0, 0, 0, NULL, true, 0.02 }

/*
 * Register a CMA-ES result as a heuristic version of heuristic_<board>_<n>p
 * (the original's name, tags, metrics and config), then, with auto_promote,
 * promote it to staging when its fitness beats the best win rate of the
 * versions registered before it by more than min_improvement (a second
 * event, "Fitness improved from 0.6000 to 0.7500"). *stage_out: its stage.
 * Once the registration is committed the call succeeds; if the promotion
 * then fails, note (may be NULL) says so.
 */
int mreg_cmaes_register(char model_out[MREG_ID_MAX + 1], int *version_out, mreg_stage *stage_out, mreg_buf *note,
			mreg_registry *reg, const mreg_cmaes_opts *o);

/* heuristic_<board>_<n>p, checked; MREG_EINVALID for a bad board or player count. */
int mreg_cmaes_model_id(char out[MREG_ID_MAX + 1], const char *board, int players);

/*
 * Whether a version's model file is here: its work tree copy has its size
 * (a large file not fetched yet has no copy, never its pointer). true on a
 * bare registry, which keeps no copies.
 */
bool mreg_file_here(mreg_registry *reg, const char *file_path, int64_t size);

/* The bytes of a stored model file (artifacts/ from HEAD, blobs/ from the work tree), verified. */
int mreg_artifact_read(mreg_buf *out, mreg_registry *reg, const char *file_path, const char *file_hash);

/* ---- moving in and out (transfer.c) ---- */

/*
 * The original's export: the model file copied to dest, and beside it
 * (dest with its suffix replaced by .json) the version's metadata in the
 * original's format. *meta_out (malloc'd, may be NULL): that path.
 */
int mreg_export(char **meta_out, mreg_registry *reg, const mreg_ref *ref, const char *dest);

/*
 * The original's import: register file as a new development version with
 * the name, description, tags, model type, metrics and training config of
 * a metadata file in the export format (default: file with its suffix
 * replaced by .json; absent is fine then, given and absent is not). Its
 * stage, version, hash and times are ignored, as the original did.
 */
int mreg_import(char model_out[MREG_ID_MAX + 1], int *version_out, mreg_registry *reg, const char *file,
		const char *metadata, const char *id);

typedef struct {
	size_t models, versions, transitions, comparisons, validations;
	size_t events;		/* written, in one commit */
	size_t conflicts;	/* events the fold could not apply (see mreg status) */
	size_t skipped;		/* rows with nothing mreg can say of them (unknown validation status) */
} mreg_migrate_report;

/*
 * Replay the original's SQLite registry (registry.db) as events, in the
 * order its own times give, in one commit: each version's registration
 * (with its file, final metrics, config and tags, in the stage its history
 * starts in), every later stage transition with its time, actor and
 * reason, comparisons and validations. The registry must not have any of
 * the database's models yet. Model files are found at their stored path,
 * relative to the database's directory, or at models/<id>/v<N><ext> beside
 * the database.
 */
int mreg_migrate(mreg_migrate_report *out, mreg_registry *reg, const char *db_path);

/* "a/b.pt" -> "a/b.json" (Python's Path.with_suffix): malloc'd. */
char *mreg_path_with_suffix(const char *path, const char *suffix);

/*
 * Read a file a user named (a metrics or config file, export metadata, CMA-ES
 * weights) into out, at most cap bytes. Anything but a regular file (a FIFO,
 * a device, a directory) is refused without blocking. what names the file in
 * messages: MREG_ENOTFOUND "cannot read <what> '<path>': no such file",
 * MREG_EINVALID "...: not a regular file" or "...: larger than 16 MiB".
 */
int mreg_user_file_read(mreg_buf *out, const char *path, const char *what, size_t cap);

/* ---- backups (backup/) ---- */

/*
 * A backup is <id>.bundle (a git bundle of the branch: `git bundle verify`
 * and `git clone` take it), <id>.json (its metadata) and, beside them,
 * blobs/ (the large model files outside git, shared by all backups: they
 * are content-addressed and never change) and <id>.state/ (the state files
 * at its head, so a restore need not fold). Ids sort by time and are unique
 * even within one microsecond.
 */

/* The backup directory: git config mreg.backupDir, else registry_backups/ beside the registry. */
int mreg_backup_dir(char **out, mreg_registry *reg);

/*
 * The id a backup made at usec gets in dir: YYYYMMDD-HHMMSS-ffffff-NN, NN
 * the first number whose files are not there yet (callers hold the backup
 * directory's lock, as create does).
 */
int mreg_backup_new_id(char out[48], const char *dir, int64_t usec);

/* Create a backup; *meta_out (may be NULL): its metadata object. */
int mreg_backup_create(cJSON **meta_out, mreg_registry *reg, const char *reason);

/* Every backup's metadata, newest first. */
int mreg_backup_list(cJSON **out, mreg_registry *reg);

/* One backup's metadata; MREG_ENOTFOUND "backup not found". */
int mreg_backup_show(cJSON **out, mreg_registry *reg, const char *id);

/*
 * Check a backup: metadata, the bundle's size and hash, its header and
 * head, the pack (indexed in a scratch repository: every object inflates
 * and hashes), that every object reachable from the head is there, the
 * event count, and every large file's hash. MREG_ECORRUPT (or
 * MREG_ENOTFOUND) with a message naming the first problem.
 */
int mreg_backup_verify(cJSON **report, mreg_registry *reg, const char *id);

/*
 * Restore: verify, take a pre-restore backup (another id), point the branch
 * at the backup's head, put back large files and the state; the work tree
 * and index follow. *report: {restored, pre_restore_backup, head, events,
 * models, versions}.
 */
int mreg_backup_restore(cJSON **report, mreg_registry *reg, const char *id);

/* Keep the newest keep backups (0: mreg.json's backup.max_backups); *removed: how many went. */
int mreg_backup_prune(size_t *removed, size_t *orphans, mreg_registry *reg, int keep);

/* A backup when the newest is older than mreg.json's backup.interval_hours; *meta_out NULL when none was due. */
int mreg_backup_auto(cJSON **meta_out, mreg_registry *reg);

/* {total_backups, total_bytes, bundle_bytes, blob_files, oldest, newest, directory} */
int mreg_backup_stats(cJSON **out, mreg_registry *reg);

/*
 * Rebuild a registry in dir (absent or empty) from a backup alone: the
 * bundle, its metadata beside it, and the blobs/ and state snapshot there.
 */
int mreg_backup_restore_from(cJSON **report, const char *bundle, const char *dir);

/* ---- log and checks ---- */

/* Every event at HEAD in fold order (optionally one model's); free with mreg_events_free. */
int mreg_read_events(mreg_event ***out, size_t *n, mreg_registry *reg, const char *model);
void mreg_events_free(mreg_event **evs, size_t n);

typedef void (*mreg_fsck_cb)(const char *problem, void *payload);
/* Check everything; calls cb once per problem. Returns 0 when clean, MREG_ECORRUPT otherwise. */
int mreg_fsck(size_t *nproblems, mreg_registry *reg, mreg_fsck_cb cb, void *payload);

/* ---- nodes in sync: remotes, clone, sync (remote.c, sync.c, clone.c) ---- */

/* A git remote (any URL libgit2 speaks), as `git remote add` makes it. */
int mreg_remote_add(mreg_registry *reg, const char *name, const char *url);
int mreg_remote_remove(mreg_registry *reg, const char *name);
/* [{name, url}] in git config's order */
int mreg_remote_list(cJSON **out, mreg_registry *reg);

typedef enum { MREG_CLONE_FILES_SERVING, MREG_CLONE_FILES_ALL, MREG_CLONE_FILES_NONE } mreg_clone_files;

typedef struct {
	const char *const *remotes;	/* none: every remote */
	size_t nremotes;
	bool push;			/* also when git config mreg.syncPush is true */
	bool no_backup;
	bool dry_run;			/* fetch and check; change nothing */
	int files;			/* large files fetched: -1 as git config mreg.syncFiles says (all), else an mreg_clone_files */
} mreg_sync_opts;

/*
 * One sync round (see sync.c). *report: {started, finished, dry_run,
 * backup, remotes: [{name, url, result: ok|failed|skipped, error,
 * events_received, events_sent, commits_received, how, head,
 * files_not_here, breaker, consecutive_failures, next_try}], nodes_synced,
 * nodes_failed, events_received, events_sent, models_changed,
 * versions_renumbered, conflicts, head, ok}. A remote that fails is in
 * the report, not an error; errors are what stops the round (no remotes,
 * a bad setting, the backup).
 */
int mreg_sync(cJSON **report, mreg_registry *reg, const mreg_sync_opts *o);
/* The period of `sync --every default`: git config mreg.syncInterval, else the original's 600 s. */
int mreg_sync_interval(double *out, mreg_registry *reg);
/* {last_round, models, versions, events, conflicts, files_not_here, remotes: [each remote's record]} */
int mreg_sync_status(cJSON **out, mreg_registry *reg);

/* A registry cloned from url into dir (absent or empty); *report: {path, head, events, models, versions, files_not_here}. */
int mreg_clone(cJSON **report, const char *url, const char *dir, mreg_clone_files files);

/* Run the TLS and SSH set-up deferred at link time (cmd/gitlink.c) before network use. */
int mreg_git_net_init(void);

/* ---- check.c: a proposed range of commits, validated ----------------------- */

/*
 * What `mreg check` is given: a range "BASE..HEAD" (or one commit, checked
 * against its parent), or a hook's old and new ids (old all zeros: a new
 * branch, checked from what no ref holds yet). All NULL: the current
 * branch's upstream..HEAD, else HEAD's last commit.
 */
typedef struct {
	const char *range;
	const char *old_id, *new_id;
} mreg_check_opts;
#define MREG_CHECK_OPTS_INIT { NULL, NULL, NULL }

/*
 * Every commit of the range checked as sync checks what it fetches
 * (incoming.c), then the fold of its tip against the fold of its base (no
 * event may become a conflict or be left out), then the policy: an event
 * that moves a version into a protected stage, and a change to the protect
 * section or to a signers file, needs its commit signed by a key the
 * signers file allows as of the commit's parent. *report (always set on 0
 * and MREG_EINVALID): {range, base, head, commits, events, valid, changes,
 * policy_changes, problems}. 0 valid; MREG_EINVALID when problems were
 * found; MREG_ENOTFOUND when the range names no commit; anything else when
 * the history could not be read.
 */
int mreg_check(cJSON **report, mreg_registry *reg, const mreg_check_opts *opts);

/* ---- hooks.c: the scripts of hooks/ where git runs them ------------------- */

/* One hook script: its name (pre-receive, ...) and text; a table ends with a NULL name. */
typedef struct {
	const char *name;
	const char *text;
} mreg_hook_text;

/*
 * Install the hooks of texts into core.hooksPath, else .git/hooks/: the
 * server's (pre-receive, post-receive) when server or the repository is
 * bare, else post-merge, post-checkout, post-rewrite; git config
 * mreg.program set to this mreg. A different hook already there refuses
 * everything (MREG_EEXISTS) unless force. *out: {directory, hooks: [{name,
 * path, state, executable, action}]}.
 */
int mreg_hooks_install(cJSON **out, mreg_registry *reg, const mreg_hook_text *texts, bool server, bool force);
/* What is installed: {directory, bare, program, hooks: [{name, path, state: installed|different|missing, executable}]}. */
int mreg_hooks_status(cJSON **out, mreg_registry *reg, const mreg_hook_text *texts);

/* ---- prom.c: the registry as Prometheus metrics ----------------------------- */

/*
 * Every metric, in the text exposition format 0.0.4: the original's names
 * (prefix git config mreg.metricsPrefix, default ringrift) and mreg's own
 * (mreg_*), read from the state, the sync records, the backups and the last
 * parity check (mreg fsck records it in .git/mreg/parity.json).
 */
int mreg_metrics_text(mreg_buf *out, mreg_registry *reg);
/* The same written to path atomically (node_exporter's textfile collector reads *.prom). */
int mreg_metrics_textfile(mreg_registry *reg, const char *path);

/* ---- api.c: what the read-only JSON API of mreg serve answers ------------------- */

/* Every model's summary: {model_id, name, model_type, version_count, latest_version, production_version, created_at, updated_at}. */
void mreg_api_models(mreg_jsonw *w, const mreg_state *st);
/* One model (version 0: its summary and every version) or one version, as show --json; 1 when there is no such. */
int mreg_api_model(mreg_jsonw *w, mreg_state *st, const char *id, int version);
/* The production versions, newest update first, as list --stage production --json. */
int mreg_api_production(mreg_jsonw *w, const mreg_state *st);
/*
 * /health: {status, components: {model_registry, registry_sync,
 * parity_validation}}, each with its status (healthy, degraded, unhealthy;
 * parity "unknown" before its first check); *status 200, or 503 when unhealthy.
 */
int mreg_api_health(mreg_buf *out, int *status, mreg_registry *reg, double sync_max_age);
/*
 * The parity check: the state files, work tree and mirror brought up to
 * HEAD (mreg refresh), then mreg fsck, its outcome recorded for /health and
 * the metrics. 0 whether or not it found problems; 1 when HEAD moved while
 * it ran (nothing recorded: run it again).
 */
int mreg_parity_check(mreg_registry *reg, size_t *nproblems);

/* ---- watch.c: live refresh (inotify) and delivery of new events ------------- */

typedef struct mreg_watch mreg_watch;
/* Watch what moves when the registry changes: HEAD, packed-refs, the branches, .git/mreg. */
int mreg_watch_open(mreg_watch **out, mreg_registry *reg);
/* Wait up to timeout_ms (-1: for ever) for a change, a burst coalesced: 1 changed, 0 not, <0 error. */
int mreg_watch_wait(mreg_watch *w, int timeout_ms);
void mreg_watch_free(mreg_watch *w);
/* One new event to deliver: 0 delivered, >0 not now (tried again, from this event, next time). */
typedef int (*mreg_watch_deliver_fn)(const mreg_event *ev, void *payload);
/*
 * The events HEAD gained since the last delivery, in fold order, each to fn
 * once (progress in .git/mreg/watch.json, across restarts); the first call
 * only marks where delivery starts. 0, 1 when fn refused one, <0 error.
 */
int mreg_watch_deliver(mreg_registry *reg, mreg_watch_deliver_fn fn, void *payload);

#endif

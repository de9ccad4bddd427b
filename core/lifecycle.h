/*
 * The decisions of the original's rollback manager, auto-promoter,
 * regression policy and CMA-ES integration, as pure functions of a state
 * and a policy. fsstore turns a decision into events; the CLI prints it.
 * Wording and order of every check follow the original (REFERENCE.md), so
 * a reason string here is what a RingRift operator already knows.
 */
#ifndef MREG_LIFECYCLE_H
#define MREG_LIFECYCLE_H

#include "state.h"

/* The longest path of an allowed-signers file, with its NUL. */
#define MREG_SIGNERS_PATH_MAX 128

/*
 * Registry policy, shared by all nodes through the committed mreg.json.
 * MREG_POLICY_INIT holds the original's defaults.
 */
typedef struct {
	double elo_drop_threshold;		/* rollback: Elo drop that degrades (50) */
	double win_rate_drop_threshold;		/* rollback: win-rate drop that degrades (0.10) */
	double min_games_for_evaluation;	/* rollback: games since the baseline (50) */
	bool require_approval;			/* severe regressions wait for approval (true) */
	double min_elo_improvement;		/* auto-promote: Elo over production (25) */
	double min_games;			/* auto-promote: games for production, half for staging (100) */
	double max_backups;			/* backups kept by prune (10) */
	double backup_interval_hours;		/* backup auto (24) */
	int64_t artifact_max_bytes;		/* largest model file committed to git (1 MiB) */
	/*
	 * Protected stages: protect[s] names the allowed-signers file (git's
	 * gpg.ssh.allowedSignersFile format, a path under .mreg/ in the
	 * registry) whose keys may sign a commit moving a version into s; ""
	 * when s is not protected.
	 */
	char protect[MREG_STAGE_COUNT][MREG_SIGNERS_PATH_MAX];
	bool auto_rollback_enabled;		/* regressions may roll back by themselves (true); else they wait */
	double cooldown_minutes;		/* automatic rollbacks of one model at least this far apart (0: none) */
	double max_rollbacks_per_day;		/* automatic rollbacks of one model in 24 h at most (0: no limit) */
	double quality_critical_threshold;	/* a data-quality score below this starts the watch (0.3) */
	double quality_sustained_minutes;	/* low that long, the model rolls back (30) */
	double consecutive_regressions_required;	/* checks in a row that must regress before a rollback (1) */
} mreg_policy;

#define MREG_POLICY_INIT { 50, 0.10, 50, true, 25, 100, 10, 24, (int64_t)1 << 20, { "" }, true, 0, 0, 0.3, 30, 1 }

/* The mreg.json format this mreg reads; a higher one is refused as too new. */
#define MREG_POLICY_FORMAT 1
/* The largest artifact_max_bytes: 2^53, the largest whole number a JSON number holds exactly. */
#define MREG_ARTIFACT_MAX_BYTES_CAP ((int64_t)1 << 53)

/*
 * Read mreg.json's object over *p: the members present replace the
 * defaults. Every key is known here with its type and range (format,
 * artifact_max_bytes, rollback.*, auto_promote.*, backup.*); an unknown or
 * repeated key, a value of the wrong type or out of range is MREG_EINVALID
 * naming the key and subject (the registry, or NULL), and a format newer
 * than MREG_POLICY_FORMAT is refused as too new for this mreg. On error *p
 * is left as it was.
 */
int mreg_policy_from_json(mreg_policy *p, const cJSON *doc, const char *subject);

/*
 * The stages an event moves a version into (bit 1 << stage): a promotion's
 * target, a registration's stage, a rollback's production; with production
 * also archived, for the version it replaces (when there is one).
 */
unsigned mreg_event_stages_entered(const mreg_event *ev);
/* The first stage of mask that p protects, or MREG_STAGE_NONE. */
mreg_stage mreg_policy_protected(const mreg_policy *p, unsigned mask);
/*
 * Whether an automatic rollback of model (trigger auto_*, but an approved
 * one) may be made at now (microseconds) given the rollbacks done so far
 * (st->rollbacks): 0 yes; 1 no, with why (cooldown_minutes, max_rollbacks_per_day).
 */
int mreg_rollback_allowed(mreg_buf *why, const mreg_state *st, const char *model, const char *trigger, int64_t now,
			  const mreg_policy *p);
/* Whether any stage is protected. */
bool mreg_policy_protects(const mreg_policy *p);

/*
 * check_performance: 1 degraded, 0 not, with the original's reason in out.
 * baseline is the state's baseline object of the model (NULL: none).
 */
int mreg_check_performance(mreg_buf *out, const cJSON *baseline, const mreg_metrics *cur, const mreg_policy *p);

/*
 * should_rollback: 1 yes, 0 no, with the reason in out and, when the
 * performance check ran, its own reason in check (may be NULL). m must be
 * loaded. cur: the metrics to judge (NULL: the production version's).
 */
int mreg_should_rollback(mreg_buf *out, mreg_buf *check, const mreg_state *st, const mreg_model *m,
			 const mreg_metrics *cur, const mreg_policy *p);

/* The highest archived version with an Elo above 0, else the highest archived one; NULL if none. */
const mreg_version *mreg_rollback_candidate(const mreg_model *m);

/*
 * The auto-promoter's one step for version v of m: the stage it may move to
 * (staging or production), or MREG_STAGE_NONE, with the reason in out.
 */
mreg_stage mreg_auto_promote_decide(mreg_buf *out, const mreg_model *m, const mreg_version *v, const mreg_policy *p);

typedef enum {
	MREG_REGRESSION_NOTHING = 0,	/* minor, or moderate within 30 Elo */
	MREG_REGRESSION_ROLLBACK,	/* roll back now, with reason and trigger */
	MREG_REGRESSION_WAIT		/* severe: wait for `rollback approve` */
} mreg_regression_action;

/*
 * The regression policy. severity: minor, moderate, severe, critical
 * (anything else is MREG_EINVALID). The rollback reason (or why nothing
 * happens) goes to out, the trigger name to *trigger.
 */
int mreg_regression_decide(mreg_regression_action *action, mreg_buf *out, const char **trigger,
			   const char *severity, double elo_drop, const char *reason, const mreg_policy *p);

/* ---- the rollback monitor's record (monitor.c) ---- */

/*
 * The quality watch at now (microseconds): 1 when model's data quality has
 * been low for rollback.quality_sustained_minutes or more, with the
 * original's reason ("Sustained low quality (0.150) for 31.0 minutes");
 * else 0 with why. *minutes: how long it has been low (0: not watched).
 */
int mreg_quality_due(mreg_buf *why, double *minutes, const mreg_state *st, const char *model, int64_t now,
		     const mreg_policy *p);
/*
 * The performance check against each baseline of model: the unnamed one
 * (the original's), then the named ones in name order; 1 at the first that
 * degraded, its reason naming it ("Elo dropped by 60 (threshold: 50.0)
 * (baseline 'release')"); else 0 with the unnamed one's reason (the first
 * named one's when there is no unnamed one).
 */
int mreg_check_baselines(mreg_buf *out, const mreg_state *st, const char *model, const mreg_metrics *cur,
			 const mreg_policy *p);

/* ---- the rollback record (st->rollbacks) ---- */

typedef struct {
	int64_t total, successful, recent;	/* recent: in the 24 hours before now */
	cJSON *by_trigger;			/* trigger -> count, first seen first; owned */
} mreg_rollback_stats;

/* The original's get_rollback_stats over the record; free with mreg_rollback_stats_dispose. */
int mreg_rollback_stats_of(mreg_rollback_stats *out, const mreg_state *st, int64_t now);
void mreg_rollback_stats_dispose(mreg_rollback_stats *s);
/* {total_rollbacks, successful, failed, by_trigger, recent_24h}, as rollback stats --json. */
void mreg_rollback_stats_write(mreg_jsonw *w, const mreg_rollback_stats *s);
/* {success: true, model_id, from_version, to_version, reason, triggered_by}: a rollback made, as rollback --json. */
void mreg_rolled_back_write(mreg_jsonw *w, const char *model, int from, int to, const char *reason, const char *trigger);
/* The record's rows, newest first, of model (NULL: all), limit at most (negative: all), as rollback history --json. */
void mreg_rollback_history_write(mreg_jsonw *w, const mreg_state *st, const char *model, double limit);

/* {model_id, action: none|rollback|wait, reason[, from_version, to_version]}: regression --json. */
void mreg_regression_write(mreg_jsonw *w, const char *model, mreg_regression_action act, const char *reason, int from,
			   int to);

/* CMA-ES fitness to Elo: -400 log10(1/f - 1) for 0.01 < f < 0.99; false outside. */
bool mreg_cmaes_elo(double *out, double fitness);

/* Python's str() of a float: "50.0", "0.1", "1e+20" (thresholds are shown so in reasons). */
void mreg_put_pyfloat(mreg_buf *b, double v);

#endif

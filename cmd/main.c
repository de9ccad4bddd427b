/*
 * mreg: the command line. One table of commands; each command's options
 * live beside it, so `mreg help`, `mreg CMD --help` and the man page come
 * from the same place. main() reads the global options, finds the command
 * and runs it; the commands are in one file per group (write.c, read.c,
 * rollback.c, ...) and parse their arguments with cli_parse (cli.c). No
 * registry logic here: parse, call the library, print, return an exit
 * status.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <stdlib.h>
#include <string.h>

/* The commands and their option tables, by the file they live in. */
/* write.c */
int cmd_init(cli_globals *, int, char **);
int cmd_register(cli_globals *, int, char **);
int cmd_promote(cli_globals *, int, char **);
int cmd_archive(cli_globals *, int, char **);
int cmd_reject(cli_globals *, int, char **);
int cmd_update_metrics(cli_globals *, int, char **);
int cmd_tag(cli_globals *, int, char **);
int cmd_untag(cli_globals *, int, char **);
extern const cli_opt opts_register[], opts_promote[], opts_reason[], opts_metrics[];
/* read.c */
int cmd_show(cli_globals *, int, char **);
int cmd_history(cli_globals *, int, char **);
int cmd_list(cli_globals *, int, char **);
int cmd_log(cli_globals *, int, char **);
int cmd_stats(cli_globals *, int, char **);
int cmd_status(cli_globals *, int, char **);
int cmd_dashboard(cli_globals *, int, char **);
extern const cli_opt opts_show[], opts_list[], opts_log[];
/* maintenance.c */
int cmd_refresh(cli_globals *, int, char **);
int cmd_fsck(cli_globals *, int, char **);
int cmd_gc(cli_globals *, int, char **);
int cmd_version(cli_globals *, int, char **);
extern const cli_opt opts_refresh[], opts_fsck[], opts_gc[];
/* rollback.c */
int cmd_baseline(cli_globals *, int, char **);
int cmd_rollback(cli_globals *, int, char **);
int cmd_regression(cli_globals *, int, char **);
extern const cli_opt opts_baseline[], opts_rollback[], opts_regression[];
/* cleanup.c */
int cmd_cleanup(cli_globals *, int, char **);
extern const cli_opt opts_cleanup[];
/* quality.c */
int cmd_quality(cli_globals *, int, char **);
extern const cli_opt opts_quality[];
/* validation.c, compare.c, auto_promote.c */
int cmd_validation(cli_globals *, int, char **);
int cmd_compare(cli_globals *, int, char **);
int cmd_auto_promote(cli_globals *, int, char **);
extern const cli_opt opts_validation[], opts_compare[], opts_auto_promote[];
/* cmaes.c */
int cmd_cmaes(cli_globals *, int, char **);
extern const cli_opt opts_cmaes[];
/* transfer.c */
int cmd_export(cli_globals *, int, char **);
int cmd_import(cli_globals *, int, char **);
int cmd_migrate(cli_globals *, int, char **);
extern const cli_opt opts_export[], opts_import[];
/* sync.c */
int cmd_clone(cli_globals *, int, char **);
int cmd_remote(cli_globals *, int, char **);
int cmd_sync(cli_globals *, int, char **);
extern const cli_opt opts_clone[], opts_sync[];
/* observe.c */
int cmd_metrics(cli_globals *, int, char **);
int cmd_watch(cli_globals *, int, char **);
extern const cli_opt opts_prom[], opts_watch[];
/* serve.c */
int cmd_serve(cli_globals *, int, char **);
extern const cli_opt opts_serve[];
/* check.c */
int cmd_check(cli_globals *, int, char **);
int cmd_hooks(cli_globals *, int, char **);
extern const cli_opt opts_hooks[];

/* backup.c */
int cmd_backup(cli_globals *, int, char **);
int cmd_restore_from(cli_globals *, int, char **);
extern const cli_opt opts_backup[];

const cli_opt opts_none[] = { { NULL, 0, false, NULL } };

const cli_command cli_commands[] = {
	{ "init", cmd_init, "create a registry", "mreg [-C DIR] init", opts_none,
	  "Creates DIR (default: $MREG_DIR, else data/model_registry) as a git repository with mreg.json,\n"
	  ".gitignore and a first commit." },
	{ "register", cmd_register, "register a model file as a new version",
	  "mreg register NAME FILE [options]", opts_register,
	  "Stores FILE content-addressed under artifacts/ (committed whole when up to artifact_max_bytes\n"
	  "of mreg.json, else as a Git LFS pointer with the bytes in .git/lfs/objects) and commits a\n"
	  "version.registered event. The model id is\n"
	  "--id, or NAME lowercased with spaces and '-' turned into '_' and other characters dropped.\n"
	  "Registering into production archives the model's current production version." },
	{ "promote", cmd_promote, "move a version to another stage", "mreg promote REF --to STAGE [-r REASON]",
	  opts_promote,
	  "Allowed: development -> staging|archived|rejected; staging -> production|development|archived|\n"
	  "rejected; production -> archived|staging; archived -> development; rejected -> development.\n"
	  "Promoting to production archives the model's current production version in the same event." },
	{ "archive", cmd_archive, "move a version to archived", "mreg archive REF [-r REASON]", opts_reason, NULL },
	{ "reject", cmd_reject, "move a version to rejected", "mreg reject REF [-r REASON]", opts_reason, NULL },
	{ "update-metrics", cmd_update_metrics, "set metrics of a version",
	  "mreg update-metrics REF KEY=VALUE... [--replace]", opts_metrics,
	  "Keys: elo, elo_uncertainty, win_rate, draw_rate, games_played, avg_move_time_ms,\n"
	  "policy_accuracy, value_mse. Given keys are merged into the current metrics; --replace\n"
	  "replaces the whole metrics object, as the original's update_metrics did." },
	{ "tag", cmd_tag, "add tags to a version", "mreg tag REF TAG...", opts_none,
	  "Tags already present are skipped; when nothing changes, nothing is written." },
	{ "untag", cmd_untag, "remove tags from a version", "mreg untag REF TAG...", opts_none,
	  "Tags not present are skipped; when nothing changes, nothing is written." },
	{ "show", cmd_show, "show one version", "mreg show REF [-v N]", opts_show,
	  "REF is MODEL_ID[:VERSION]; without a version, the latest. --json prints one version object." },
	{ "list", cmd_list, "list versions, newest update first",
	  "mreg list [--stage S] [--type T] [--tag T] [--model ID] [--group]", opts_list,
	  "--json prints an array of version objects." },
	{ "history", cmd_history, "stage history of a version", "mreg history REF [-v N]", opts_show,
	  "--json prints an array of rows: from_stage, to_stage, reason, transitioned_by,\n"
	  "transitioned_at, event." },
	{ "log", cmd_log, "events in fold order", "mreg log [MODEL] [--limit N]", opts_log,
	  "--json prints an array of {id, clock, time, type, actor, node, model, version, ref}." },
	{ "compare", cmd_compare, "show two versions side by side, or record a head-to-head result",
	  "mreg compare A B [--record --games N --a-wins N --b-wins N --draws N [--elo-diff X] [--notes S]]",
	  opts_compare,
	  "Without --record: stage, type, Elo (and difference), win rate, games, optimizer, learning rate,\n"
	  "batch size and epochs of A and B; --json gives {model_a, model_b, elo_diff} with version objects.\n"
	  "With --record: a comparison.recorded event; win and draw rates are over a_wins + b_wins + draws\n"
	  "(11/8/1 of 20 gives 0.55/0.40/0.05), and both versions show it under \"comparisons\". --json\n"
	  "gives the comparison: model_a, model_b, games, a_wins, b_wins, draws, a_win_rate, b_win_rate,\n"
	  "draw_rate, elo_diff, notes, compared_at, event." },
	{ "validation", cmd_validation, "track a version's validation",
	  "mreg validation REF create [--baselines A,B] [--games N] | REF queue WORK_ID | REF start |\n"
	  "       REF pass [--results F] | REF fail [--results F] | pending | unvalidated",
	  opts_validation,
	  "Statuses: pending -> queued -> running -> passed | failed. queue needs pending; start needs\n"
	  "pending or queued; pass and fail need pending, queued or running; create starts again from\n"
	  "anything but running. A policy_value version registered in development or staging starts\n"
	  "pending (50 games per matchup). show --json carries the validation object (status, work_id,\n"
	  "baselines, games_per_matchup, results, started_at, completed_at). 'pending' lists versions\n"
	  "whose validation is pending; 'unvalidated' development and staging versions without one." },
	{ "auto-promote", cmd_auto_promote, "promote one step if the auto-promoter's criteria hold",
	  "mreg auto-promote REF [--min-elo-improvement X] [--min-games N]", opts_auto_promote,
	  "development -> staging needs games_played >= min_games/2 and an Elo; staging -> production\n"
	  "needs games_played >= min_games and, if the model has a production version, an Elo at least\n"
	  "min_elo_improvement above it. Defaults from mreg.json's auto_promote (25 Elo, 100 games).\n"
	  "Not promoting is an answer, not an error: exit 0 with the reason." },
	{ "baseline", cmd_baseline, "set or show the baselines a rollback check compares to",
	  "mreg baseline set MODEL [--name NAME] [--elo X] [--win-rate Y] [--games N] |\n"
	  "       baseline show MODEL [--name NAME]", opts_baseline,
	  "set writes a baseline.set event: the values given, the rest from the production version.\n"
	  "--name sets a named baseline: a check compares to the model's own baseline, then to each named\n"
	  "one, and names the one that regressed ('... (baseline 'release')'). show prints all of them\n"
	  "(--json: the one asked for, or null). A successful rollback drops the model's baselines, as the\n"
	  "original did." },
	{ "rollback", cmd_rollback, "roll a model back, check whether to, and its record",
	  "mreg rollback MODEL [--to N] [-r REASON] [--trigger T] [--dry-run] [--if-needed [--elo X] [--win-rate Y]\n"
	  "       [--games N]] | rollback check MODEL [--elo X] [--win-rate Y] [--games N] |\n"
	  "       rollback history [MODEL] [--limit N] | rollback stats | rollback pending |\n"
	  "       rollback approve MODEL | rollback clear MODEL [-r REASON]",
	  opts_rollback,
	  "A rollback is one event: the target (--to, else the highest archived version with an Elo\n"
	  "above 0, else the highest archived one) goes to production and the production version to\n"
	  "archived. Refused, writing nothing, when no version is in production, no candidate exists or\n"
	  "the target is not archived. check answers as the original's should_rollback: 'Model not in\n"
	  "production', 'No rollback candidates available', the performance check ('Elo dropped by N\n"
	  "(threshold: T)', 'Win rate dropped by P% (threshold: T%)'), else 'No rollback needed';\n"
	  "--json {should_rollback, reason, check}. Thresholds: mreg.json's rollback (50 Elo, 0.10 win\n"
	  "rate, 50 games since the baseline). history lists attempts newest first (--json: model_id,\n"
	  "from_version, to_version, reason, triggered_by, success, error_message, from_metrics,\n"
	  "to_metrics, timestamp, actor, event); a rollback another node made impossible first is kept\n"
	  "as failed. stats: total_rollbacks, successful, failed, by_trigger, recent_24h. --dry-run says\n"
	  "what would happen and writes nothing. --if-needed is the monitor's check: with mreg.json's\n"
	  "rollback.consecutive_regressions_required N above 1 it rolls back only when N checks in a row\n"
	  "regressed (each check that changes the run is a rollback.checked event). Automatic rollbacks\n"
	  "(trigger auto_*) wait for rollback.cooldown_minutes and keep to rollback.max_rollbacks_per_day;\n"
	  "with rollback.auto_rollback_enabled false they are reported and not made." },
	{ "regression", cmd_regression, "apply the regression policy to a reported regression",
	  "mreg regression MODEL --severity minor|moderate|severe|critical --elo-drop X [-r REASON]",
	  opts_regression,
	  "critical rolls back now (trigger auto_regression_critical); severe waits for 'rollback approve'\n"
	  "(a rollback.requested event) unless mreg.json's rollback.require_approval is false, then rolls\n"
	  "back (auto_regression_severe); moderate rolls back when the Elo drop is over 30\n"
	  "(auto_regression_moderate); minor does nothing. --json {model_id, action: none|rollback|wait,\n"
	  "reason[, from_version, to_version]}." },
	{ "cleanup", cmd_cleanup, "archive versions left in development or staging",
	  "mreg cleanup [--max-age DAYS] [--execute]", opts_cleanup,
	  "The original CLI's cleanup. Lists the versions in development or staging for more than\n"
	  "--max-age days (30) since they entered that stage; --execute archives them, one promotion\n"
	  "event each (reason 'Cleanup: in development for more than 30 days'). A version another\n"
	  "writer moved meanwhile is skipped. --json {dry_run, max_age_days, versions: [{model_id,\n"
	  "version, stage, since, result}], archived, skipped}." },
	{ "quality", cmd_quality, "report data quality; roll back on sustained low quality",
	  "mreg quality report MODEL --score S [-r REASON] | quality check [MODEL] [--dry-run] |\n"
	  "       quality status",
	  opts_quality,
	  "The original's quality watcher. report writes a quality.reported event (a score from 0 to 1,\n"
	  "judged by mreg.json's rollback.quality_critical_threshold, 0.3, which the event records); a\n"
	  "score below it starts the watch, one at or above it ends it. When the quality has stayed low\n"
	  "for rollback.quality_sustained_minutes (30), the model rolls back (trigger auto_quality,\n"
	  "reason 'Sustained low quality (Q) for M minutes'), at the report or at the next check; the\n"
	  "rollback ends the watch. check looks at every watched model (or MODEL), exit 1 when a rollback\n"
	  "due was refused (cooldown, no candidate). status: the watched models, since when, and the\n"
	  "original's counters (--json: critical_threshold, sustained_minutes, rollbacks_triggered,\n"
	  "configs_being_monitored, models)." },
	{ "cmaes", cmd_cmaes, "register CMA-ES results; best model, weights and runs",
	  "mreg cmaes register WEIGHTS --board B --players N --fitness F --generation G [--config-file F |\n"
	  "       --population-size N --sigma S --games-per-eval N --opponent-mode M --eval-mode M --run-id ID]\n"
	  "       [--no-auto-promote] [--min-improvement 0.02] | cmaes best --board B --players N [--stage S] |\n"
	  "       cmaes weights --board B --players N [--stage production] | cmaes runs [--board B]\n"
	  "       [--players N] [--limit 10]",
	  opts_cmaes,
	  "register: WEIGHTS must be JSON; it becomes a heuristic version of heuristic_<B>_<N>p named\n"
	  "\"CMA-ES Heuristic (<B>_<N>p)\", tagged board:<B>, players:<N>, generation:<G>, cmaes, with\n"
	  "win_rate = F, elo = -400 log10(1/F - 1) when 0.01 < F < 0.99, games_played = games_per_eval * G,\n"
	  "optimizer cmaes, epochs G and the run's settings in extra_config (cmaes_population_size, ...).\n"
	  "Unless --no-auto-promote, it then goes to staging when F beats the best win rate of the\n"
	  "model's earlier versions by more than --min-improvement (\"Fitness improved from 0.6000 to\n"
	  "0.7500\"). best: the version with the highest win rate. weights: the \"weights\" object of the\n"
	  "best version in the stage, as JSON. runs: heuristic versions (with --board or --players, those\n"
	  "of heuristic_<B>_<N>p), newest update first." },
	{ "dashboard", cmd_dashboard, "production, staging and counts at a glance", "mreg dashboard", opts_none,
	  "--json {production: [versions], staging: [versions], counts: {stage: n}}." },
	{ "export", cmd_export, "copy a version's model file out, with its metadata", "mreg export REF -o PATH [-v N]",
	  opts_export,
	  "Writes the model file to PATH (verified against its hash) and PATH with its suffix replaced by\n"
	  ".json: the original's export format (model_id, version, name, model_type, stage, created_at,\n"
	  "updated_at, file_path, file_hash, file_size_bytes, metrics, training_config, description, tags).\n"
	  "PATH's directory must exist. Each file is written under a temporary name and renamed into\n"
	  "place, so a failed export leaves neither half-written; a symbolic link at PATH is replaced,\n"
	  "not written through." },
	{ "import", cmd_import, "register a file exported by mreg or the original",
	  "mreg import FILE [--metadata F] [--id ID]", opts_import,
	  "Registers FILE as a new development version with the name, description, tags, model_type,\n"
	  "metrics and training_config of the metadata (FILE with suffix .json by default; without one the\n"
	  "name is FILE's stem). Stage, version, hash and times in the metadata are ignored, as the\n"
	  "original did." },
	{ "migrate", cmd_migrate, "move the original's SQLite registry in, history and all",
	  "mreg migrate PATH/registry.db", opts_none,
	  "Replays the database as events in one commit, in the order of its own times (read as UTC):\n"
	  "each version registered at its created_at in the stage its transition log starts with, with\n"
	  "its file, current metrics, training config and tags; every later stage transition with its\n"
	  "time, actor and reason; comparisons; validations as the steps that reach their status. Model\n"
	  "files are looked up at their stored path, relative to the database's directory, then at\n"
	  "models/<id>/v<N><ext> beside it. The registry must not hold any of the database's models." },
	{ "backup", cmd_backup, "back up the registry as a git bundle, and restore it",
	  "mreg backup create [-r REASON] | list | show ID | verify ID | restore ID | prune [--keep N] |\n"
	  "       auto | stats",
	  opts_backup,
	  "Backups live in git config mreg.backupDir, else registry_backups/ beside the registry\n"
	  "(data/registry_backups for the default one): <id>.bundle, a git bundle of the branch that stock\n"
	  "`git bundle verify` and `git clone` take; <id>.json, its metadata (id, time, reason, actor, host,\n"
	  "head, event/model/version counts, bundle size and xxh128, large files, mreg version); lfs/objects/,\n"
	  "the large model files (from .git/lfs), hard-linked and shared by all backups. Ids sort by time\n"
	  "and differ even within one microsecond.\n"
	  "verify checks the bundle's size and hash, its header and head, its pack (every object), that\n"
	  "everything reachable from the head is there, the event count and every large file's hash.\n"
	  "restore verifies, takes a pre-restore backup under a new id, points the branch at the backup's\n"
	  "head, brings back large files, folds the state from the events and checks work tree and index.\n"
	  "prune keeps the newest N (mreg.json\n"
	  "backup.max_backups, 10); auto creates one only when the newest is older than\n"
	  "backup.interval_hours (24)." },
	{ "restore-from", cmd_restore_from, "rebuild a registry from a backup alone", "mreg restore-from BUNDLE DIR",
	  opts_none,
	  "DIR must be absent or empty. BUNDLE is a backup's <id>.bundle; its <id>.json and large files\n"
	  "(lfs/objects/, blobs/) are taken from beside it. Verified first, as backup verify does." },
	{ "clone", cmd_clone, "join: a registry cloned from another node or a hub",
	  "mreg clone URL [DIR] [--all-files | --no-files]", opts_clone,
	  "What the remote serves is checked as sync checks it before anything is checked out. URL is any\n"
	  "git URL (a path, file://, git://, ssh://, user@host:path, http(s)://). DIR defaults to the URL's\n"
	  "last part without .git. The large model files of production and staging versions come too." },
	{ "remote", cmd_remote, "add, remove or list the nodes this registry syncs with",
	  "mreg remote add NAME URL | remove NAME | list", opts_none,
	  "Remotes are plain git remotes: git remote -v shows the same. ssh credentials: the ssh agent,\n"
	  "else the key git config mreg.sshKey names; host keys are checked against mreg.sshKnownHosts,\n"
	  "else ~/.ssh/known_hosts. http(s): the user and password in the URL, else git's credential helpers." },
	{ "sync", cmd_sync, "fetch, check and merge other nodes' registries; push with --push",
	  "mreg sync [REMOTE...] [--push] [--no-backup] [--dry-run] [--every SECONDS] | status", opts_sync,
	  "A backup first (unless the newest holds HEAD), then for each remote (default: all) whose circuit\n"
	  "breaker allows a try: fetch its branch; check that every new commit only adds valid events and\n"
	  "model files (a changed, deleted or renamed file, a rewritten or unrelated history refuses the\n"
	  "remote, and nothing changes); fetch its new large files with git lfs; fast-forward or merge by\n"
	  "the union of both trees; fold; with --push send the branch back. Exit 1 when a remote failed.\n"
	  "A registry without events adopts the remote's history. `sync status` shows the last round and\n"
	  "each remote's last success, last error and breaker. Settings (git config): mreg.syncPush,\n"
	  "mreg.syncFiles (all | serving | none), mreg.breaker.failureThreshold (5), recoveryTimeout (60 s),\n"
	  "maxBackoff (180 s), halfOpenMaxCalls (2), jitter (0.1)." },
	{ "check", cmd_check, "validate a range of commits: what it does, and whether it may land",
	  "mreg check [BASE..HEAD | COMMIT | OLD NEW]", opts_none,
	  "Default: the current branch's upstream..HEAD, else HEAD's last commit. OLD NEW: a hook's ids\n"
	  "(OLD all zeros: a new branch, checked from what no ref holds). Every commit may only add valid\n"
	  "events and model files, as sync checks them; the tip must fold with no new conflict; a commit\n"
	  "moving a version into a stage mreg.json protects (\"protect\": {\"production\": {\"signers\":\n"
	  "\".mreg/allowed_signers\"}}), or changing that section or a signers file, must be signed (git's\n"
	  "gpg.format ssh) by a key the signers file allows as of its parent. Prints each event in words;\n"
	  "exit 0 valid, 1 with one line per problem (commit, event or path) on stderr. Works in a bare\n"
	  "repository." },
	{ "hooks", cmd_hooks, "install git hooks, or say which are installed",
	  "mreg hooks install [--server] [--force] | status", opts_hooks,
	  "install: post-merge, post-checkout, post-rewrite (state files current after plain git); with\n"
	  "--server or in a bare repository, pre-receive (refuses a deleted or rewritten registry branch\n"
	  "and any push mreg check refuses; the pusher sees why) and post-receive (state cache refreshed).\n"
	  "Into core.hooksPath, else .git/hooks; sets git config mreg.program to this mreg. A different\n"
	  "hook already there is kept unless --force. status: installed, different or missing, each." },
	{ "metrics", cmd_metrics, "the registry as Prometheus metrics", "mreg metrics [--textfile PATH]", opts_prom,
	  "The text exposition format. The original's series with its names, types and labels\n"
	  "(ringrift_model_registry_count{stage}, ..._registrations_total{config}, ..._promotions_total\n"
	  "{from_stage,to_stage}, ringrift_cmaes_runs_total, _best_fitness, _generations_total,\n"
	  "ringrift_model_rollbacks_total{model_id,trigger}, ringrift_production_model_elo and\n"
	  "_baseline_elo{model_id}; the prefix is git config mreg.metricsPrefix), then mreg's own: mreg_*\n"
	  "(versions, events by type, conflicts, validations, sync per remote, breakers, backups, the last\n"
	  "parity check of mreg fsck, build info). Counters are counts of events in the log: exact, and the\n"
	  "same after a restart or a sync." },
	{ "watch", cmd_watch, "keep the state and a metrics textfile current, run a command per new event",
	  "mreg watch [--textfile PATH] [--exec CMD]", opts_watch,
	  "Waits on inotify for the registry to change by any road (a write, a sync, a git pull, a restore),\n"
	  "bursts coalesced; then brings the state files up to HEAD, rewrites the textfile and runs CMD once\n"
	  "for each new event in fold order: the event's JSON on stdin; MREG_EVENT_ID, MREG_EVENT_TYPE,\n"
	  "MREG_EVENT_CLOCK, MREG_MODEL, MREG_VERSION, MREG_ACTOR, MREG_REGISTRY in the environment. What was\n"
	  "delivered is kept in .git/mreg/watch.json: a restart repeats and skips nothing; the first run starts\n"
	  "from HEAD. A failing CMD is logged with its exit status and tried again (1 s, doubling to 60 s),\n"
	  "from the same event. SIGTERM or SIGINT stops it." },
	{ "serve", cmd_serve, "serve /metrics, /health and a read-only JSON API over HTTP",
	  "mreg serve [--listen ADDR:PORT] [--token-file FILE] [--parity-every SECONDS] [--timeout SECONDS]", opts_serve,
	  "GET /metrics (as mreg metrics); /health (JSON: status and the components model_registry,\n"
	  "registry_sync, parity_validation; 503 when unhealthy); /api/v1/models, /api/v1/models/ID,\n"
	  "/api/v1/models/ID/versions/N, /api/v1/production, /api/v1/events?since=EVENT&limit=N (the same\n"
	  "objects as --json). Answers follow the registry without a restart. Loopback by default; a\n"
	  "bearer token from git config mreg.serveToken or --token-file guards every path when set. The\n"
	  "parity check (mreg fsck) runs in the background. SIGTERM or SIGINT stops it." },
	{ "stats", cmd_stats, "counts by stage and type, production versions", "mreg stats", opts_none, NULL },
	{ "status", cmd_status, "head, counts, conflicts, freshness", "mreg status", opts_none, NULL },
	{ "refresh", cmd_refresh, "bring state files, work tree and index up to HEAD", "mreg refresh [--full]",
	  opts_refresh, "--full folds the whole log from scratch." },
	{ "fsck", cmd_fsck, "check events, artifacts, the fold and the state files", "mreg fsck", opts_fsck,
	  "Exit 0 when clean, 1 with one line per problem on stderr otherwise." },
	{ "gc", cmd_gc, "pack the history with delta compression", "mreg gc [--full]", opts_gc,
	  "Writes store each commit's trees whole, which keeps them fast; gc packs everything git gc\n"
	  "keeps (refs and tag objects, HEAD, reflogs, the index, linked work trees) into one pack with\n"
	  "deltas (as git repack -a -d -f), the base. A later gc leaves the base as it is and packs what\n"
	  "lies outside it, until that outgrows the base; --full packs everything again. Unreachable\n"
	  "objects go only once older than git config gc.pruneExpire (2.weeks.ago by default), those\n"
	  "inside the base at the next full gc. Run it now and then, or from cron." },
	{ "version", cmd_version, "print mreg's version", "mreg version", opts_none, NULL },
	{ "help", cmd_help, "help on a command", "mreg help [COMMAND]", opts_none, NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL }
};

const cli_command *cli_find(const char *name)
{
	for (const cli_command *c = cli_commands; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static void print_main_help(FILE *out)
{
	fprintf(out, "usage: mreg [-C DIR | --registry-dir DIR] [--json] COMMAND [ARGS]\n\ncommands:\n");
	for (const cli_command *c = cli_commands; c->name; c++)
		fprintf(out, "  %-15s %s\n", c->name, c->summary);
	fprintf(out, "\nREF is MODEL_ID[:VERSION]. The registry is -C DIR, else $MREG_DIR, else data/model_registry.\n"
		     "Exit status: 0 success, 1 failure, 2 usage error. 'mreg help COMMAND' for more.\n");
}

void cli_print_help(FILE *out, const cli_command *cmd)
{
	fprintf(out, "usage: %s\n\n%s\n", cmd->usage, cmd->summary);
	if (cmd->opts && cmd->opts[0].name) {
		fprintf(out, "\noptions:\n");
		for (const cli_opt *o = cmd->opts; o->name; o++) {
			char left[64];
			if (o->short_name)
				snprintf(left, sizeof(left), "-%c, --%s", o->short_name, o->name);
			else
				snprintf(left, sizeof(left), "    --%s", o->name);
			fprintf(out, "  %-24s %s\n", left, o->help ? o->help : "");
		}
	}
	if (cmd->details)
		fprintf(out, "\n%s\n", cmd->details);
	fprintf(out, "\nglobal: -C DIR, --registry-dir DIR, --json. Exit status: 0 success, 1 failure, 2 usage.\n");
}

/* roff for `man mreg`: the same table as `mreg help`, so they cannot drift. */
static void print_man(FILE *out)
{
	fprintf(out, ".TH MREG 1 \"\" \"mreg %s\" \"mreg manual\"\n", MREG_VERSION_STRING);
	fprintf(out, ".SH NAME\nmreg \\- a model registry kept as JSON events in a git repository\n");
	fprintf(out, ".SH SYNOPSIS\n.B mreg\n[\\-C DIR | \\-\\-registry\\-dir DIR] [\\-\\-json] COMMAND [ARGS]\n");
	fprintf(out, ".SH DESCRIPTION\nEvery registration, promotion, metrics update and tag is one immutable JSON event file in\n"
		     "a git repository; the current state is a fold over those events and is written to\n"
		     ".I state/*.json\nin the registry. REF is MODEL_ID[:VERSION]; without a version it means the latest.\n"
		     "The registry is \\-C DIR, else $MREG_DIR, else data/model_registry.\n");
	fprintf(out, ".SH COMMANDS\n");
	for (const cli_command *c = cli_commands; c->name; c++) {
		fprintf(out, ".TP\n.B %s\n%s.\n", c->usage, c->summary);
		if (c->opts && c->opts[0].name) {
			for (const cli_opt *o = c->opts; o->name; o++) {
				if (o->short_name)
					fprintf(out, ".br\n\\-%c, \\-\\-%s %s\n", o->short_name, o->name, o->help ? o->help : "");
				else
					fprintf(out, ".br\n\\-\\-%s %s\n", o->name, o->help ? o->help : "");
			}
		}
		if (c->details) {
			fprintf(out, ".br\n");
			for (const char *p = c->details; *p; p++) {
				if (*p == '\n')
					fputs(p[1] == '.' ? "\n.br\n\\&" : "\n.br\n", out);
				else if (*p == '-')
					fputs("\\-", out);
				else
					fputc(*p, out);
			}
			fputc('\n', out);
		}
	}
	fprintf(out, ".SH JSON OUTPUT\nWith \\-\\-json, read commands print only JSON on stdout: show prints one version object,\n"
		     "list an array of them (the objects of state/models/ID.json: model_id, version, name, model_type,\n"
		     "stage, description, file_path, file_hash, file_size_bytes, metrics, training_config, tags,\n"
		     "created_at, updated_at, claimed_version, ref, validation, history), history an array of rows\n"
		     "(from_stage, to_stage, reason, transitioned_by, transitioned_at, event). See README.md.\n");
	fprintf(out, ".SH EXIT STATUS\n0 success, 1 failure (not found, refused, corrupt, locked), 2 usage error.\n"
		     "Errors are one line on stderr: mreg: <problem> '<subject>'.\n");
	fprintf(out, ".SH FILES\n.TP\nmreg.json\nregistry policy shared by all nodes (committed).\n"
		     ".TP\nevents/ab/cd/<xxh128>.json\none immutable event per file.\n"
		     ".TP\nstate/registry.json, state/models/<id>.json, state/production.json\nthe fold, rewritten atomically.\n"
		     ".SH SETTINGS\ngit config mreg.actor (who is recorded), mreg.fsync (default true), mreg.lockTimeout (seconds, default 30).\n");
}

/*
 * help reads its one argument itself rather than through cli_parse: `help
 * --man`, with which the Makefile writes docs/mreg.1, is in no option table,
 * so that it is not in the help it prints.
 */
int cmd_help(cli_globals *g, int argc, char **argv)
{
	(void)g;
	if (argc >= 2 && !strcmp(argv[1], "--man")) {
		print_man(stdout);
		return 0;
	}
	if (argc < 2) {
		print_main_help(stdout);
		return 0;
	}
	const cli_command *c = cli_find(argv[1]);
	if (!c) {
		fprintf(stderr, "mreg: unknown command '%s' (see 'mreg help')\n", argv[1]);
		return 2;
	}
	cli_print_help(stdout, c);
	return 0;
}

int cli_command_at(int argc, char **argv)
{
	int i = 1;
	while (i < argc) {
		if ((!strcmp(argv[i], "-C") || !strcmp(argv[i], "--registry-dir")) && i + 1 < argc)
			i += 2;
		else if (!strncmp(argv[i], "--registry-dir=", 15) || !strcmp(argv[i], "--json"))
			i++;
		else
			break;
	}
	return i;
}

bool cli_writes_one_event(const char *command)
{
	static const char *const one_event[] = { "register", "promote", "archive", "reject",
						 "update-metrics", "tag", "untag" };
	for (size_t k = 0; k < sizeof(one_event) / sizeof(one_event[0]); k++)
		if (!strcmp(command, one_event[k]))
			return true;
	return false;
}

bool cli_folds_whole_log(int argc, char **argv)
{
	if (argc < 1)
		return false;
	if (!strcmp(argv[0], "fsck") || !strcmp(argv[0], "restore-from") || !strcmp(argv[0], "clone"))
		return true;
	for (int k = 1; k < argc && !strcmp(argv[0], "refresh"); k++)
		if (!strcmp(argv[k], "--full"))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	cli_globals g = { NULL, false };
	int i = cli_command_at(argc, argv);
	for (int j = 1; j < i; j++) {
		if (!strcmp(argv[j], "-C") || !strcmp(argv[j], "--registry-dir"))
			g.dir = argv[++j];
		else if (!strncmp(argv[j], "--registry-dir=", 15))
			g.dir = argv[j] + 15;
		else
			g.json = true;	/* --json */
	}
	if (i < argc && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))) {
		print_main_help(stdout);
		return 0;
	}
	if (i < argc && !strcmp(argv[i], "--version")) {
		printf("mreg %s\n", MREG_VERSION_STRING);
		return 0;
	}
	if (i < argc && argv[i][0] == '-')
		return cli_usage(NULL, "unknown option '%s' (see 'mreg help')", argv[i]);
	if (i >= argc) {	/* one line, as any usage error: the list is 'mreg help' */
		fprintf(stderr, "usage: mreg [-C DIR | --registry-dir DIR] [--json] COMMAND [ARGS]; "
				"'mreg help' lists the commands\n");
		return 2;
	}
	const cli_command *c = cli_find(argv[i]);
	if (!c)
		return cli_usage(NULL, "unknown command '%s' (see 'mreg help')", argv[i]);
	/*
	 * The commands that write one event read the state files and the git
	 * index into memory rather than map them: they touch little of a
	 * mapping, and setting one up and tearing it down costs a few us a page
	 * here, while their heap is on huge pages (cmd/alloc.c). The commands
	 * that run until stopped hand unused memory back to the kernel.
	 */
	if (cli_writes_one_event(c->name))
		mreg_fs_set_read_max((size_t)4 << 20);
	if (!strcmp(c->name, "serve") || !strcmp(c->name, "watch"))
		cli_alloc_long_running();
	/* --json and --help are accepted after the command too */
	int n = 0;
	for (int j = i; j < argc; j++) {
		if (j > i && !strcmp(argv[j], "--json")) {
			g.json = true;
			continue;
		}
		if (j > i && (!strcmp(argv[j], "--help") || !strcmp(argv[j], "-h"))) {
			cli_print_help(stdout, c);
			return 0;
		}
		argv[i + n++] = argv[j];
	}
	int rc = c->fn(&g, n, argv + i);
	if (fflush(stdout) != 0 && rc == 0) {
		fprintf(stderr, "mreg: cannot write output\n");
		return 1;
	}
	return rc;
}

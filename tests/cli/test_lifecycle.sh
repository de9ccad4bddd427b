#!/bin/sh
# Lifecycle: the rollback manager, the regression policy, the auto-promoter,
# validations, comparisons, dashboard and stats, driven through the CLI with
# the numbers of the original Python registry's test suite (its
# rollback_manager, AutoRollbackHandler, AutoPromoter, validation tracking and
# compare_models). Reads that answer "no" (a rollback check, an auto-promote
# that does not promote, a minor regression) must write nothing; every
# refusal exits 1 (or 2 for a usage error) with one line on stderr and leaves
# the registry byte-for-byte as it was (see snapshot in lib.sh). Several small
# registries keep the sections independent.
. "$(dirname "$0")/lib.sh"

# j REG FILTER ARGS...: mreg --json ARGS on REG, through jq -rc FILTER
j() {
	_r=$1 _q=$2
	shift 2
	"$MREG" -C "$_r" --json "$@" | jq -rc "$_q"
}

# rbcheck REG MODEL [ARGS...]: "should_rollback|reason|check" of rollback check
rbcheck() {
	_r=$1
	shift
	"$MREG" -C "$_r" --json rollback check "$@" | jq -r '"\(.should_rollback)|\(.reason)|\(.check)"'
}

# stage REG REF: the stage of a version
stage() { j "$1" .stage show "$2"; }

# out FILTER: jq -rc FILTER over the stdout of the last check
out() { jq -rc "$1" "$T/.out"; }

# has DESC PATTERN: the stdout of the last check has a line matching PATTERN (grep -E)
has() {
	if grep -qE "$2" "$T/.out"; then ok "$1"; else
		fail "$1: no line matches /$2/"; sed 's/^/    # /' "$T/.out" | head -20; fi
}

# edit_config REG JQ: rewrite REG's mreg.json with a jq program and commit it
# with stock git
edit_config() {
	jq "$2" "$1/mreg.json" >"$T/.cfg" && cat "$T/.cfg" >"$1/mreg.json" &&
		git -C "$1" commit -qam "config: $2"
}

model_file m.bin 1024

# ---- rollback thresholds and check ----------------------------------------
R=chk
new_registry_full $R
expect_eq "default elo_drop_threshold" "$(jq -r .rollback.elo_drop_threshold $R/mreg.json)" 50
expect_eq "default win_rate_drop_threshold" "$(jq -r .rollback.win_rate_drop_threshold $R/mreg.json)" 0.1
expect_eq "default min_games_for_evaluation" "$(jq -r .rollback.min_games_for_evaluation $R/mreg.json)" 50
expect_eq "default require_approval" "$(jq -r .rollback.require_approval $R/mreg.json)" true
check "register dev:1 (development only)" "$MREG" -C $R register Dev m.bin --metric elo=1500
check "register m:1 into production" "$MREG" -C $R register M m.bin --metric elo=1500 --stage production
before=$(snapshot $R)
expect_eq "check: model without a production version" \
	"$(rbcheck $R dev | cut -d'|' -f1,2)" "false|Model not in production"
expect_eq "check: production but nothing archived" \
	"$(rbcheck $R m | cut -d'|' -f1,2)" "false|No rollback candidates available"
expect_eq "those checks wrote nothing" "$(snapshot $R)" "$before"
expect_eq "check: unknown model: not in production, as the original answers" \
	"$(rbcheck $R nosuch | cut -d'|' -f1,2)" "false|Model not in production"
check "register m:2 into production (archives m:1)" "$MREG" -C $R register M m.bin --metric elo=1600 --stage production
expect_eq "m:1 archived by the new production version" "$(stage $R m:1)" archived
expect_eq "check: no baseline" "$(rbcheck $R m)" "false|No rollback needed|No baseline set"
check "baseline set m --elo 1600 --games 0" "$MREG" -C $R baseline set m --elo 1600 --games 0
expect_eq "baseline show: elo and games" "$(j $R '"\(.elo) \(.games_played)"' baseline show m)" "1600 0"
before=$(snapshot $R)
expect_eq "check: 1540 @100 against 1600 @0" "$(rbcheck $R m --elo 1540 --games 100)" \
	"true|Elo dropped by 60 (threshold: 50.0)|Elo dropped by 60 (threshold: 50.0)"
expect_eq "check: 1500 @10 is too few games" "$(rbcheck $R m --elo 1500 --games 10)" \
	"false|No rollback needed|Insufficient games (10)"
check "check exits 0 when it says yes" "$MREG" -C $R rollback check m --elo 1540 --games 100
expect_eq "checks wrote nothing" "$(snapshot $R)" "$before"
check "baseline set m --elo 1600 --win-rate 0.55 --games 0" \
	"$MREG" -C $R baseline set m --elo 1600 --win-rate 0.55 --games 0
expect_eq "check: win rate 0.55 -> 0.40 @100" "$(rbcheck $R m --win-rate 0.40 --elo 1600 --games 100)" \
	"true|Win rate dropped by 15.0% (threshold: 10.0%)|Win rate dropped by 15.0% (threshold: 10.0%)"
expect_eq "check: 1610 / 0.56 @100 is acceptable" "$(rbcheck $R m --elo 1610 --win-rate 0.56 --games 100)" \
	"false|No rollback needed|Performance within acceptable range"

# thresholds from mreg.json, edited and committed with plain git
check "set elo_drop_threshold 30, min_games 10 (git commit)" \
	edit_config $R '.rollback.elo_drop_threshold = 30 | .rollback.min_games_for_evaluation = 10'
check "baseline set m --elo 1500 --win-rate 0.55 --games 100" \
	"$MREG" -C $R baseline set m --elo 1500 --win-rate 0.55 --games 100
expect_eq "custom thresholds: 1460 @150" "$(rbcheck $R m --elo 1460 --games 150)" \
	"true|Elo dropped by 40 (threshold: 30.0)|Elo dropped by 40 (threshold: 30.0)"
expect_eq "custom thresholds: 1490 @150" "$(rbcheck $R m --elo 1490 --games 150 | cut -d'|' -f1,3)" \
	"false|Performance within acceptable range"
expect_eq "custom thresholds: 1495 / 0.40 @150" "$(rbcheck $R m --elo 1495 --win-rate 0.40 --games 150 | cut -d'|' -f1,3)" \
	"true|Win rate dropped by 15.0% (threshold: 10.0%)"
expect_eq "custom thresholds: 1400 @105" "$(rbcheck $R m --elo 1400 --games 105 | cut -d'|' -f1,3)" \
	"false|Insufficient games (5)"
check "fsck after the config edit" "$MREG" -C $R fsck

# ---- rollback candidate ------------------------------------------------------
# archived: v1 Elo 0, v2 1400, v3 1500, v4 1550, v5 no Elo; v6 production
R=cand
new_registry_full $R
for e in 0 1400 1500 1550; do
	check "register m archived, elo $e" "$MREG" -C $R register M m.bin --metric elo=$e --stage archived
done
check "register m:5 archived without Elo" "$MREG" -C $R register M m.bin --stage archived
check "register m:6 into production" "$MREG" -C $R register M m.bin --stage production
check "rollback m (no --to)" "$MREG" -C $R --json rollback m
expect_eq "candidate: highest archived version with an Elo above 0" "$(out '"\(.from_version)->\(.to_version)"')" "6->4"
expect_eq "m:4 in production" "$(stage $R m:4)" production
expect_eq "m:6 archived" "$(stage $R m:6)" archived
R=cand2
new_registry_full $R
check "register n:1 archived without Elo" "$MREG" -C $R register N m.bin --stage archived
check "register n:2 archived without Elo" "$MREG" -C $R register N m.bin --stage archived
check "register n:3 into production" "$MREG" -C $R register N m.bin --stage production
check "rollback n (no archived Elo)" "$MREG" -C $R --json rollback n
expect_eq "candidate without Elo: the highest archived version" "$(out .to_version)" 2
expect_eq "n:2 in production" "$(stage $R n:2)" production

# ---- rollback --to --------------------------------------------------------------
R=rb
new_registry_full $R
check "register m:1 (elo 1500) into production" "$MREG" -C $R register M m.bin --metric elo=1500 --stage production
check "register m:2 (elo 1450) in staging" "$MREG" -C $R register M m.bin --metric elo=1450 --stage staging
check "promote m:2 to production" "$MREG" -C $R promote m:2 --to production
expect_eq "m:1 archived by the promotion" "$(stage $R m:1)" archived
check "baseline set m" "$MREG" -C $R baseline set m --elo 1450 --games 0
n=$(git -C $R rev-list --count HEAD)
check "rollback m --to 1 -r 'Performance regression'" \
	"$MREG" -C $R rollback m --to 1 -r "Performance regression"
expect_eq "m:1 in production" "$(stage $R m:1)" production
expect_eq "m:2 archived" "$(stage $R m:2)" archived
expect_eq "one commit added" "$(git -C $R rev-list --count HEAD)" $((n + 1))
check "the commit subject mentions the rollback" sh -c "git -C $R log -1 --format=%s | grep -qi rollback"
expect_eq "work tree clean" "$(tree_clean $R)" ""
check "fsck clean after the rollback" "$MREG" -C $R fsck
expect_eq "history: one row" "$(j $R length rollback history)" 1
expect_eq "history row" \
	"$(j $R '.[0] | "\(.success) \(.from_version) \(.to_version) \(.triggered_by) \(.reason)"' rollback history)" \
	"true 2 1 manual Performance regression"
expect_eq "history row metrics" "$(j $R '.[0] | "\(.from_metrics.elo) \(.to_metrics.elo)"' rollback history m)" "1450 1500"
expect_eq "stats" \
	"$(j $R '"\(.total_rollbacks) \(.successful) \(.failed) \(.by_trigger.manual) \(.recent_24h)"' rollback stats)" \
	"1 1 0 1 1"
expect_eq "stats by_trigger has only manual" "$(j $R '.by_trigger | keys' rollback stats)" '["manual"]'
expect_eq "the rollback dropped the baseline" "$(j $R . baseline show m)" null

# ---- rollback refusals -------------------------------------------------------------
check "register dev:1 (no production version)" "$MREG" -C $R register Dev m.bin
check "register solo:1 into production (nothing archived)" "$MREG" -C $R register Solo m.bin --stage production
check "register m:3 in development" "$MREG" -C $R register M m.bin
bad "rollback a model not in production" 1 "cannot roll back 'dev': no version is in production" $R \
	"$MREG" -C $R rollback dev
bad "rollback without a candidate" 1 "cannot roll back 'solo': no rollback candidate" $R \
	"$MREG" -C $R rollback solo
bad "rollback --to a version in development" 1 "cannot roll back 'm' to version 3: .*not archived" $R \
	"$MREG" -C $R rollback m --to 3
bad "rollback --to the production version" 1 "cannot roll back 'm' to version 1: .*not archived" $R \
	"$MREG" -C $R rollback m --to 1
bad "rollback --to a version that does not exist" 1 "cannot roll back 'm' to version 9: no such version" $R \
	"$MREG" -C $R rollback m --to 9
bad "rollback an unknown model" 1 "model not found: 'nosuch'" $R \
	"$MREG" -C $R rollback nosuch
bad "rollback approve with nothing pending" 1 "no pending rollback for 'm'" $R \
	"$MREG" -C $R rollback approve m
bad "rollback clear with nothing pending" 1 "no pending rollback for 'm'" $R \
	"$MREG" -C $R rollback clear m
bad "rollback --to 0 is a usage error" 2 "invalid --to '0'" $R \
	"$MREG" -C $R rollback m --to 0
expect_eq "refusals left no history" "$(j $R length rollback history)" 1

# ---- regression policy ---------------------------------------------------------------
R=reg
new_registry_full $R
check "register m:1 (elo 1500) archived" "$MREG" -C $R register M m.bin --metric elo=1500 --stage archived
check "register m:2 (elo 1450) into production" "$MREG" -C $R register M m.bin --metric elo=1450 --stage production
before=$(snapshot $R)
check "minor regression" "$MREG" -C $R --json regression m --severity minor --elo-drop 100
expect_eq "minor: action none" "$(out .action)" none
check "moderate regression, elo drop 30" "$MREG" -C $R --json regression m --severity moderate --elo-drop 30
expect_eq "moderate 30: action none" "$(out .action)" none
expect_eq "minor and moderate 30 wrote nothing" "$(snapshot $R)" "$before"
check "moderate regression, elo drop 31" "$MREG" -C $R --json regression m --severity moderate --elo-drop 31
expect_eq "moderate 31: rolls back v2 -> v1" "$(out '"\(.action) \(.from_version) \(.to_version)"')" "rollback 2 1"
expect_eq "moderate 31: trigger" "$(j $R '.[0].triggered_by' rollback history m)" auto_regression_moderate
expect_eq "m:1 in production" "$(stage $R m:1)" production
check "critical regression" "$MREG" -C $R --json regression m --severity critical --elo-drop 5 -r "boom"
expect_eq "critical: rolls back at once" "$(out '"\(.action) \(.from_version) \(.to_version)"')" "rollback 1 2"
expect_eq "critical: trigger and reason" "$(j $R '.[0] | "\(.triggered_by)|\(.reason)"' rollback history m)" \
	"auto_regression_critical|Auto-rollback: CRITICAL regression - boom"
before=$(snapshot $R)
check "severe regression (approval required)" \
	"$MREG" -C $R --json regression m --severity severe --elo-drop 45 -r "Elo dropped 45 points"
expect_eq "severe: action wait" "$(out .action)" wait
expect_eq "severe: no rollback yet" "$(stage $R m:2)" production
expect_eq "pending has m with the reason" "$(j $R '.m.reason' rollback pending)" "Elo dropped 45 points"
check "rollback approve m" "$MREG" -C $R rollback approve m
expect_eq "approved: m:1 in production" "$(stage $R m:1)" production
expect_eq "approved: trigger and reason" "$(j $R '.[0] | "\(.triggered_by)|\(.reason)"' rollback history m)" \
	"auto_regression_approved|Approved rollback: Elo dropped 45 points"
expect_eq "approved: pending entry gone" "$(j $R 'has("m")' rollback pending)" false
check "severe regression again" "$MREG" -C $R regression m --severity severe --elo-drop 60 -r "again"
expect_eq "pending again" "$(j $R '.m.reason' rollback pending)" again
check "rollback clear m" "$MREG" -C $R rollback clear m
expect_eq "cleared: pending empty" "$(j $R . rollback pending)" "{}"
expect_eq "cleared: no rollback" "$(stage $R m:1)" production
bad "rollback clear m again" 1 "no pending rollback for 'm'" $R \
	"$MREG" -C $R rollback clear m
check "register dev:1 (not in production)" "$MREG" -C $R register Dev m.bin
bad "critical regression of a model not in production" 1 "'dev'.*no version is in production" $R \
	"$MREG" -C $R regression dev --severity critical --elo-drop 100
bad "regression --severity unknown" 1 "invalid severity 'huge'" $R \
	"$MREG" -C $R regression m --severity huge --elo-drop 100
check "set require_approval false (git commit)" edit_config $R '.rollback.require_approval = false'
check "severe regression without approval" "$MREG" -C $R --json regression m --severity severe --elo-drop 45 -r "sev"
expect_eq "severe, no approval: rolls back at once" "$(out '"\(.action) \(.from_version) \(.to_version)"')" "rollback 1 2"
expect_eq "severe, no approval: trigger" "$(j $R '.[0].triggered_by' rollback history m)" auto_regression_severe
expect_eq "severe, no approval: nothing pending" "$(j $R . rollback pending)" "{}"
expect_eq "stats by trigger" "$(j $R '.by_trigger | to_entries | sort_by(.key) | map("\(.key)=\(.value)") | join(" ")' rollback stats)" \
	"auto_regression_approved=1 auto_regression_critical=1 auto_regression_moderate=1 auto_regression_severe=1"
check "fsck after the regression policy" "$MREG" -C $R fsck

# ---- rollback --if-needed ---------------------------------------------------------------
# m:2 production, m:1 archived, no baseline (the last rollback dropped it)
before=$(snapshot $R)
check "--if-needed without a baseline" "$MREG" -C $R --json rollback m --if-needed --elo 1000 --games 100
expect_eq "--if-needed: not rolled back" "$(out '"\(.should_rollback) \(.rolled_back)"')" "false false"
expect_eq "--if-needed said no: nothing written" "$(snapshot $R)" "$before"
check "baseline set m --elo 1600 --games 0" "$MREG" -C $R baseline set m --elo 1600 --games 0
before=$(snapshot $R)
check "--if-needed within range" "$MREG" -C $R rollback m --if-needed --elo 1590 --games 100
expect_eq "--if-needed within range: nothing written" "$(snapshot $R)" "$before"
check "--if-needed with a 60 Elo drop" "$MREG" -C $R rollback m --if-needed --elo 1540 --games 100
expect_eq "--if-needed: m:1 in production" "$(stage $R m:1)" production
expect_eq "--if-needed: m:2 archived" "$(stage $R m:2)" archived
expect_eq "--if-needed: history reason" "$(j $R '.[0] | "\(.success) \(.reason)"' rollback history m)" \
	"true Elo dropped by 60 (threshold: 50.0)"
expect_eq "--if-needed: baseline dropped" "$(j $R . baseline show m)" null

# ---- auto-promoter ---------------------------------------------------------------------
R=auto
new_registry_full $R
check "register m:1 dev, games 10" "$MREG" -C $R register M m.bin --metric games_played=10 --metric elo=1500
before=$(snapshot $R)
check "auto-promote m:1 (games 10)" "$MREG" -C $R --json auto-promote m:1 --min-games 50 --min-elo-improvement 25
expect_eq "games 10: not promoted" "$(out '"\(.promoted)|\(.reason)"')" "false|Insufficient games (10 < 25)"
expect_eq "not promoted: nothing written" "$(snapshot $R)" "$before"
expect_eq "m:1 still in development" "$(stage $R m:1)" development
check "register m:2 dev, games 50, elo 1500" "$MREG" -C $R register M m.bin --metric games_played=50 --metric elo=1500
check "auto-promote m:2" "$MREG" -C $R --json auto-promote m:2 --min-games 50 --min-elo-improvement 25
expect_eq "games 50: promoted to staging" "$(out '"\(.promoted)|\(.to_stage)|\(.reason)"')" \
	"true|staging|Model meets staging criteria"
expect_eq "m:2 in staging" "$(stage $R m:2)" staging
expect_eq "the transition carries the reason" "$(j $R '.history[-1].reason' show m:2)" "Model meets staging criteria"
check "register m:3 dev, games 50, no Elo" "$MREG" -C $R register M m.bin --metric games_played=50
check "auto-promote m:3" "$MREG" -C $R --json auto-promote m:3 --min-games 50
expect_eq "no Elo: not promoted" "$(out '"\(.promoted)|\(.reason)"')" "false|No Elo rating available"
check "register m:4 dev, games 40, elo 1500" "$MREG" -C $R register M m.bin --metric games_played=40 --metric elo=1500
check "auto-promote m:4 with mreg.json's defaults" "$MREG" -C $R --json auto-promote m:4
expect_eq "defaults: min_games 100, half for staging" "$(out '"\(.promoted)|\(.reason)"')" "false|Insufficient games (40 < 50)"
check "register m:5 into production, elo 1500" "$MREG" -C $R register M m.bin --metric games_played=100 --metric elo=1500 --stage production
check "register m:6 staging, games 100, elo 1510" "$MREG" -C $R register M m.bin --metric games_played=100 --metric elo=1510 --stage staging
before=$(snapshot $R)
check "auto-promote m:6" "$MREG" -C $R --json auto-promote m:6 --min-games 50 --min-elo-improvement 25
expect_eq "elo 1510 vs production 1500" "$(out '"\(.promoted)|\(.reason)"')" \
	"false|Elo improvement insufficient (10.0 < 25.0)"
expect_eq "insufficient improvement: nothing written" "$(snapshot $R)" "$before"
check "register big:1 into production, elo 2000" "$MREG" -C $R register Big m.bin --metric games_played=500 --metric elo=2000 --stage production
check "register fresh:1 staging, games 100, elo 1500" "$MREG" -C $R register Fresh m.bin --metric games_played=100 --metric elo=1500 --stage staging
check "auto-promote fresh:1" "$MREG" -C $R --json auto-promote fresh:1 --min-games 50 --min-elo-improvement 25
expect_eq "no production version of fresh: promoted" "$(out '"\(.promoted)|\(.to_stage)|\(.reason)"')" \
	"true|production|No current production model"
expect_eq "fresh:1 in production" "$(stage $R fresh:1)" production
expect_eq "big:1 still in production" "$(stage $R big:1)" production
expect_eq "m:5 still in production" "$(stage $R m:5)" production
bad "auto-promote an unknown model" 1 "model not found: 'nosuch'" $R \
	"$MREG" -C $R auto-promote nosuch:1

# ---- dashboard and stats -------------------------------------------------------------------
# auto: m:1,3,4 development, m:2,6 staging, m:5 big:1 fresh:1 production
check "dashboard" "$MREG" -C $R dashboard
has "dashboard PRODUCTION (3 models)" "^PRODUCTION +\\(3 models\\)"
has "dashboard STAGING (2 models)" "^STAGING +\\(2 models\\)"
has "dashboard lists fresh" "^  fresh "
has "dashboard lists big" "^  big "
has "dashboard TOTAL" "TOTAL  *8 model versions"
expect_eq "dashboard --json production" "$(j $R '[.production[] | "\(.model_id):\(.version)"] | sort | join(" ")' dashboard)" \
	"big:1 fresh:1 m:5"
check "stats" "$MREG" -C $R stats
has "stats title" "^Model Registry Statistics$"
has "stats total" "^Total: 8 model versions$"
check "register m:7 rejected" "$MREG" -C $R register M m.bin --stage rejected
check "stats" "$MREG" -C $R stats
has "stats total counts rejected" "^Total: 9 model versions$"

# ---- validations ------------------------------------------------------------------------------
R=valreg
new_registry_full $R
check "register m:1 (policy_value, development)" "$MREG" -C $R register M m.bin
check "register h:1 (heuristic, development)" "$MREG" -C $R register H m.bin --type heuristic
check "register s:1 (policy_value, staging)" "$MREG" -C $R register S m.bin --stage staging
check "register p:1 (policy_value, production)" "$MREG" -C $R register P m.bin --stage production
expect_eq "m:1 validation pending, 50 games" "$(j $R '.validation | "\(.status) \(.games_per_matchup)"' show m:1)" "pending 50"
expect_eq "s:1 validation pending" "$(j $R .validation.status show s:1)" pending
expect_eq "h:1 has no validation" "$(j $R .validation show h:1)" null
expect_eq "p:1 (registered into production) has no validation" "$(j $R .validation show p:1)" null
expect_eq "validation pending" "$(j $R '[.[] | "\(.model_id):\(.version)"] | sort | join(" ")' validation pending)" "m:1 s:1"
expect_eq "validation unvalidated" "$(j $R '[.[] | "\(.model_id):\(.version):\(.stage)"] | sort | join(" ")' validation unvalidated)" \
	"h:1:development"
check "validation create --baselines random,heuristic --games 20" \
	"$MREG" -C $R validation m:1 create --baselines random,heuristic --games 20
check "validation queue w-1" "$MREG" -C $R validation m:1 queue w-1
expect_eq "queued" "$(j $R '.validation | "\(.status) \(.work_id)"' show m:1)" "queued w-1"
check "validation start" "$MREG" -C $R validation m:1 start
expect_eq "running, started_at set" "$(j $R '.validation | "\(.status) \(.started_at != null)"' show m:1)" "running true"
printf '{"random": {"wins": 19, "losses": 1}, "heuristic": {"win_rate": 0.7}}\n' >results.json
check "validation pass --results" "$MREG" -C $R validation m:1 pass --results results.json
expect_eq "passed validation" \
	"$(j $R '.validation | "\(.status)|\(.work_id)|\(.baselines | join(","))|\(.games_per_matchup)|\(.started_at != null)|\(.completed_at != null)"' show m:1)" \
	"passed|w-1|random,heuristic|20|true|true"
expect_eq "results as given" "$(j $R '.validation.results' show m:1 | jq -Sc .)" "$(jq -Sc . results.json)"
expect_eq "validation pending after the pass" "$(j $R '[.[] | "\(.model_id):\(.version)"] | join(" ")' validation pending)" "s:1"
bad "validation start after passed" 1 "cannot start the validation of 'm:1': it is passed" $R \
	"$MREG" -C $R validation m:1 start
bad "validation queue without a validation" 1 "cannot queue the validation of 'h:1'" $R \
	"$MREG" -C $R validation h:1 queue w-2
printf '{"random": 0.9,' >truncated.json
bad "validation pass with a results file that is not JSON" 1 "invalid results file 'truncated\.json'" $R \
	"$MREG" -C $R validation s:1 pass --results truncated.json
bad "validation of an unknown model" 1 "model not found: 'nosuch'" $R \
	"$MREG" -C $R validation nosuch:1 start
bad "validation create --games 0 is a usage error" 2 "invalid --games '0'" $R \
	"$MREG" -C $R validation s:1 create --games 0
check "fsck after validations" "$MREG" -C $R fsck

# ---- comparisons -------------------------------------------------------------------------------
R=cmpreg
new_registry_full $R
check "register a:1 (elo 1500)" "$MREG" -C $R register A m.bin --metric elo=1500 --metric games_played=20
check "register b:1 (elo 1530)" "$MREG" -C $R register B m.bin --metric elo=1530
check "compare --record 11/8/1 of 20" \
	"$MREG" -C $R --json compare a:1 b:1 --record --games 20 --a-wins 11 --b-wins 8 --draws 1
expect_eq "11/8/1: rates" "$(out '"\(.a_win_rate) \(.b_win_rate) \(.draw_rate)"')" "0.55 0.4 0.05"
expect_eq "11/8/1: keys" "$(out '[has("model_a", "model_b", "games", "elo_diff")] | all')" true
expect_eq "11/8/1: models and games" "$(out '"\(.model_a) \(.model_b) \(.games)"')" "a:v1 b:v1 20"
check "compare --record 55/40/5 of 100, elo diff 30" \
	"$MREG" -C $R --json compare a:1 b:1 --record --games 100 --a-wins 55 --b-wins 40 --draws 5 --elo-diff 30
expect_eq "55/40/5: rates and elo diff" "$(out '"\(.a_win_rate) \(.b_win_rate) \(.elo_diff)"')" "0.55 0.4 30"
expect_eq "a:1 shows both comparisons" "$(j $R '[.comparisons[].games] | join(" ")' show a:1)" "20 100"
expect_eq "b:1 shows both comparisons" "$(j $R '[.comparisons[] | "\(.model_a)-\(.model_b)"] | join(" ")' show b:1)" \
	"a:v1-b:v1 a:v1-b:v1"
before=$(snapshot $R)
check "compare without --record" "$MREG" -C $R compare a:1 b:1
has "compare table has Elo Diff" "Elo Diff"
has "compare table has a:v1 and b:v1" "a:v1 .*b:v1"
expect_eq "compare --json elo_diff" "$(j $R .elo_diff compare a b)" 30
expect_eq "compare without --record wrote nothing" "$(snapshot $R)" "$before"
bad "wins and draws over games" 2 "add up to more than --games 10" $R \
	"$MREG" -C $R compare a:1 b:1 --record --games 10 --a-wins 8 --b-wins 2 --draws 1
bad "compare a version with itself" 1 "cannot compare 'a:1' with itself" $R \
	"$MREG" -C $R compare a:1 a --record --games 10 --a-wins 5 --b-wins 5 --draws 0
bad "compare with an unknown version" 1 "version not found: 'b:2'" $R \
	"$MREG" -C $R compare a:1 b:2 --record --games 10 --a-wins 5 --b-wins 5 --draws 0
bad "compare with an unknown model" 1 "model not found: 'zz'" $R \
	"$MREG" -C $R compare zz a:1
check "fsck after comparisons" "$MREG" -C $R fsck

finish

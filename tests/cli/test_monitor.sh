#!/bin/sh
# The rest of the original's rollback machinery (issue 16), as events:
# the quality watch (quality report / check / status: a score below
# rollback.quality_critical_threshold for rollback.quality_sustained_minutes
# rolls back, trigger auto_quality, at the report or at the next check; a
# report at or above the threshold ends the watch; the watch's refusals say
# why), the monitor's run of consecutive regressions
# (rollback.consecutive_regressions_required: rollback --if-needed rolls
# back only after N regressed checks in a row; a check within range ends
# the run), and named baselines (baseline set --name; a check names the
# baseline that regressed; a rollback drops them all).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

for f in a b c; do model_file "$T/$f.pt"; done
# set KEY VALUE in REG's mreg.json, committed, and the state refreshed
policy() {
	jq "$2" "$1/mreg.json" >"$T/policy.json" && cp "$T/policy.json" "$1/mreg.json" &&
		git -C "$1" commit -qam "policy: $2" && "$MREG" -C "$1" refresh >/dev/null
}
# two versions of m: v1 archived (Elo 1600), v2 in production (Elo 1500, 100 games)
two_versions() {
	new_registry_full "$1"
	check "$2: m:1 in production" "$MREG" -C "$1" register m "$T/a.pt" --stage production --metric elo=1600
	check "$2: m:2 replaces it" "$MREG" -C "$1" register m "$T/b.pt" --stage production --metric elo=1500 --metric games_played=100
}
stage_of() { "$MREG" -C "$1" --json show "$2" | jq -r .stage; }

# ---- the quality watch ---------------------------------------------------
Q=$T/quality
two_versions "$Q" quality
check "quality report below the threshold" "$MREG" -C "$Q" quality report m --score 0.1 -r "corrupt games"
expect_eq "quality report: the score, the threshold, the watch's start" \
	"$(sed 's/since [0-9T:.Z-]*/since T/' "$T/.out")" "Quality of m: 0.100 (below 0.300, low since T)"
expect_eq "a low score does not roll back before the sustained minutes" "$(stage_of "$Q" m:2)" production
check "quality status --json" "$MREG" -C "$Q" quality status --json
expect_eq "quality status: the original's counters and defaults" \
	"$(jq -c '[.critical_threshold, .sustained_minutes, .rollbacks_triggered, .configs_being_monitored, .models.m.reports]' "$T/.out")" \
	'[0.3,30,0,["m"],1]'
check "quality status (text)" "$MREG" -C "$Q" quality status
expect_eq "quality status (text): the watched model" "$(sed -n 2p "$T/.out" | sed 's/since [0-9T:.Z-]*/since T/; s/([0-9.]* minutes)/(M minutes)/')" \
	"  m: 0.100, low since T (M minutes), 1 reports"
check "quality check within the sustained minutes" "$MREG" -C "$Q" quality check
expect_eq "quality check: not yet, and why" "$(sed 's/for [0-9.]* minutes/for M minutes/' "$T/.out")" \
	"No rollback of m: Low quality (0.100) for M minutes, under rollback.quality_sustained_minutes (30.0)"
first=$("$MREG" -C "$Q" quality status --json | jq -r .models.m.low_since)
check "a second low report" "$MREG" -C "$Q" quality report m --score 0.2
expect_eq "a second low report keeps the watch's start" "$("$MREG" -C "$Q" quality status --json | jq -r .models.m.low_since)" "$first"
check "a report at the threshold" "$MREG" -C "$Q" quality report m --score 0.3
expect_eq "a report at or above the threshold ends the watch" \
	"$("$MREG" -C "$Q" quality status --json | jq -c '[.configs_being_monitored, .models.m.low_since, .models.m.reports]')" '[[],null,3]'
expect_eq "quality reports are events in the log" "$("$MREG" -C "$Q" --json log | jq '[.[] | select(.type == "quality.reported")] | length')" 3
expect_eq "a quality report's commit says what it is" "$(git -C "$Q" log -1 --format=%s)" "quality m 0.300 (at or above 0.300)"

policy "$Q" '.rollback.quality_sustained_minutes = 0'
check "a low report past the sustained minutes" "$MREG" -C "$Q" quality report m --score 0.05
expect_eq "sustained low quality rolls back at the report" "$(sed -n 2p "$T/.out" | sed 's/for [0-9.]* minutes/for M minutes/')" \
	"Rolled back m: v2 -> v1 (Sustained low quality (0.050) for M minutes)"
expect_eq "the quality rollback: v1 in production" "$(stage_of "$Q" m:1)" production
expect_eq "the quality rollback's trigger is auto_quality" "$("$MREG" -C "$Q" --json rollback history m | jq -r '.[0].triggered_by')" auto_quality
expect_eq "the rollback ends the watch and is counted" \
	"$("$MREG" -C "$Q" quality status --json | jq -c '[.configs_being_monitored, .rollbacks_triggered]')" '[[],1]'

check "a low report, then check --dry-run" "$MREG" -C "$Q" quality report m --score 0.1
expect_eq "at the report it rolls back at once (sustained 0)" "$(stage_of "$Q" m:2)" production
policy "$Q" '.rollback.quality_sustained_minutes = 30'
check "low again, with 30 minutes" "$MREG" -C "$Q" quality report m --score 0.1
policy "$Q" '.rollback.quality_sustained_minutes = 0'
before=$(snapshot "$Q" 2>&1)
check "quality check --dry-run" "$MREG" -C "$Q" quality check --dry-run --json
expect_eq "quality check --dry-run: what it would do" "$(jq -c '.[] | [.model_id, .action, .from_version, .to_version]' "$T/.out")" \
	'["m","would_roll_back",2,1]'
expect_eq "quality check --dry-run writes nothing" "$(snapshot "$Q" 2>&1)" "$before"
check "quality check rolls back at the next check" "$MREG" -C "$Q" quality check
expect_eq "the check's rollback: v1 in production again" "$(stage_of "$Q" m:1)" production

policy "$Q" '.rollback.cooldown_minutes = 60'
check "low again, within the cooldown" "$MREG" -C "$Q" quality report m --score 0.1
expect_eq "a report whose rollback is refused: recorded, and says why" "$(sed -n 2p "$T/.out")" \
	"Rollback of m needed, not made: cannot roll back 'm' automatically: the last rollback of 'm' was 0 minutes ago (rollback.cooldown_minutes: 60.0)"
bad "quality check: a refused rollback fails, saying why" 1 \
	"^mreg: cannot roll back 'm' automatically: the last rollback of 'm' was 0 minutes ago \(rollback.cooldown_minutes: 60.0\)$" \
	"$Q" "$MREG" -C "$Q" quality check
policy "$Q" '.rollback.cooldown_minutes = 0 | .rollback.auto_rollback_enabled = false'
before=$(snapshot "$Q" 2>&1)
check "quality check with automatic rollback off" "$MREG" -C "$Q" quality check
expect_eq "automatic rollback off: reported, not made" "$(cut -c1-95 "$T/.out")" \
	"Rollback of m needed, not made (automatic rollback is disabled: rollback.auto_rollback_enabled)"
expect_eq "automatic rollback off: nothing written" "$(snapshot "$Q" 2>&1)" "$before"

check "a quality report ahead of a model's registration" "$MREG" -C "$Q" quality report later --score 0.9
expect_eq "it makes no model" "$("$MREG" -C "$Q" --json show later 2>&1 | grep -c 'not found')" 1
bad "a score above 1 is refused" 2 "invalid --score" "$Q" "$MREG" -C "$Q" quality report m --score 1.5
bad "quality report needs --score" 2 "quality report needs --score" "$Q" "$MREG" -C "$Q" quality report m
bad "quality report of an invalid model id" 1 "invalid model id" "$Q" "$MREG" -C "$Q" quality report ../x --score 0.5
bad "an unknown quality subcommand" 2 "quality needs" "$Q" "$MREG" -C "$Q" quality watch m
expect_fail "an invalid quality threshold in mreg.json is refused" 1 "rollback.quality_critical_threshold" sh -c \
	"jq '.rollback.quality_critical_threshold = 2' '$Q/mreg.json' >'$T/bad.json' && cp '$T/bad.json' '$Q/mreg.json' && git -C '$Q' commit -qam bad && '$MREG' -C '$Q' quality status >/dev/null"
git -C "$Q" reset -q --hard HEAD~1
check "fsck after the quality watch" "$MREG" -C "$Q" fsck
check "a full fold gives the same quality record" sh -c \
	"'$MREG' -C '$Q' --json quality status >'$T/q1' && '$MREG' -C '$Q' refresh --full >/dev/null && '$MREG' -C '$Q' --json quality status >'$T/q2'"
expect_eq "the quality record after a full fold" "$(jq -S 'del(.models[].minutes_low)' "$T/q2")" "$(jq -S 'del(.models[].minutes_low)' "$T/q1")"

# ---- consecutive regressions ---------------------------------------------
C=$T/consecutive
two_versions "$C" consecutive
policy "$C" '.rollback.consecutive_regressions_required = 3'
check "consecutive: a baseline at 1600" "$MREG" -C "$C" baseline set m --elo 1600 --games 10
check "consecutive: a first regressed check" "$MREG" -C "$C" rollback m --if-needed --games 200 --json
expect_eq "consecutive: one regression seen is not enough" \
	"$(jq -c '[.should_rollback, .rolled_back, .regressions_seen, .regressions_required]' "$T/.out")" '[true,false,1,3]'
check "consecutive: a second" "$MREG" -C "$C" rollback m --if-needed --games 200
expect_eq "consecutive: the text says how many" "$(cut -c1-101 "$T/.out")" \
	"Regression seen in 2 of 3 consecutive checks (rollback.consecutive_regressions_required), no rollback"
expect_eq "consecutive: still no rollback" "$(stage_of "$C" m:2)" production
check "consecutive: a check within range" "$MREG" -C "$C" rollback m --if-needed --elo 1600 --games 200
check "consecutive: regressed again" "$MREG" -C "$C" rollback m --if-needed --games 200 --json
expect_eq "consecutive: a check within range ends the run" "$(jq .regressions_seen "$T/.out")" 1
before=$(snapshot "$C" 2>&1)
check "consecutive: a dry run" "$MREG" -C "$C" rollback m --if-needed --games 200 --dry-run
expect_eq "consecutive: a dry run does not count" "$(snapshot "$C" 2>&1)" "$before"
check "consecutive: two" "$MREG" -C "$C" rollback m --if-needed --games 200
check "consecutive: three" "$MREG" -C "$C" rollback m --if-needed --games 200
expect_eq "consecutive: the third regression in a row rolls back" "$(cat "$T/.out")" "Successfully rolled back to m:v1 (v2 archived)"
expect_eq "consecutive: each check that changed the run is an event (the rollback's own check too)" \
	"$("$MREG" -C "$C" --json log | jq -c '[.[] | select(.type == "rollback.checked")] | length')" 6
before=$(snapshot "$C" 2>&1)
check "consecutive: a check within range with no run" "$MREG" -C "$C" rollback m --if-needed
expect_eq "consecutive: a check within range with no run writes nothing" "$(snapshot "$C" 2>&1)" "$before"
expect_fail "consecutive: 0 is refused" 1 "rollback.consecutive_regressions_required" sh -c \
	"jq '.rollback.consecutive_regressions_required = 0' '$C/mreg.json' >'$T/bad.json' && cp '$T/bad.json' '$C/mreg.json' && git -C '$C' commit -qam bad && '$MREG' -C '$C' rollback check m >/dev/null"
git -C "$C" reset -q --hard HEAD~1

# ---- named baselines -----------------------------------------------------
N=$T/named
two_versions "$N" named
check "named: the model's own baseline" "$MREG" -C "$N" baseline set m --elo 1520 --games 10
check "named: a baseline named release" "$MREG" -C "$N" baseline set m --name release --elo 1600 --win-rate 0.6 --games 10
check "named: baseline show lists them" "$MREG" -C "$N" baseline show m
expect_eq "named: baseline show (text)" "$(sed 's/ (set .*//' "$T/.out")" "Baseline of m: elo 1520, win rate -, games 10
Baseline 'release' of m: elo 1600, win rate 0.6, games 10"
check "named: baseline show --name --json" "$MREG" -C "$N" baseline show m --name release --json
expect_eq "named: one named baseline as JSON" "$(jq -c '[.elo, .win_rate, .games_played]' "$T/.out")" '[1600,0.6,10]'
check "named: rollback check" "$MREG" -C "$N" rollback check m --games 200 --json
expect_eq "named: the check names the baseline that regressed" "$(jq -c '[.should_rollback, .reason]' "$T/.out")" \
	"[true,\"Elo dropped by 100 (threshold: 50.0) (baseline 'release')\"]"
bad "named: an invalid baseline name" 1 "^mreg: invalid baseline name 'a b': use letters, digits" "$N" \
	"$MREG" -C "$N" baseline set m --name "a b" --elo 1
check "named: the rollback" "$MREG" -C "$N" rollback m --if-needed --games 200
check "named: after the rollback" "$MREG" -C "$N" baseline show m --name release --json
expect_eq "named: a rollback drops the named baselines too" "$(cat "$T/.out")" null
check "fsck after named baselines" "$MREG" -C "$N" fsck
finish

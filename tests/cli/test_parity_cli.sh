#!/bin/sh
# The original's CLI, where mreg differed (issue 16): messages name the
# version moved or exported, however it was named (REF:N, -v N, the
# latest); archive and reject of a version already there are a no-op, exit
# 0, as the original's "already archived" (promote --to the same stage stays
# refused, as the transition table says); import --json prints the version
# object register --json prints; backup prune counts the orphaned files it
# removes (a bundle whose metadata is gone), as the original's count does;
# retention after every backup made (manual, pre-restore), as the original
# rotates, never removing the one just made or the one being restored;
# rollback check of a model that is not there answers as the original
# ("Model not in production", exit 0), and a baseline may be set ahead of a
# model's first registration; the performance check answers for a sole
# production version, with nothing to roll back to; with mreg.json's
# rollback.auto_rollback_enabled false a regression is recorded (waiting
# for approval) and reported, and nothing rolls back by itself; rollback
# --dry-run says what it would do and writes nothing; rollback.cooldown_minutes
# and rollback.max_rollbacks_per_day hold back automatic rollbacks of one
# model, from the rollbacks in the log, and say why; a person's are not.
# dashboard shows a heuristic model's (board_Np), from its tags or its id;
# cleanup archives versions left in development or staging, a dry run
# unless --execute, one event per version.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/bulk.sh"

R=$T/reg
new_registry_full "$R"
for f in a b c; do model_file "$T/$f.pt"; done
check "register sq:1" "$MREG" -C "$R" register sq "$T/a.pt"
check "register sq:2" "$MREG" -C "$R" register sq "$T/b.pt"
check "register sq:3" "$MREG" -C "$R" register sq "$T/c.pt"

check "promote sq -v 2 --to staging" "$MREG" -C "$R" promote sq -v 2 --to staging
expect_eq "promote -v: the message names the version" "$(cat "$T/.out")" "Promoted sq:2 -> staging"
check "promote sq (the latest) --to staging" "$MREG" -C "$R" promote sq --to staging
expect_eq "promote of the latest: the message names its number" "$(cat "$T/.out")" "Promoted sq:3 -> staging"
check "archive sq:1" "$MREG" -C "$R" archive sq:1
expect_eq "archive: the message names the version" "$(cat "$T/.out")" "Archived sq:1 -> archived"
check "reject sq -v 2" "$MREG" -C "$R" reject sq -v 2
expect_eq "reject -v: the message names the version" "$(cat "$T/.out")" "Rejected sq:2 -> rejected"

before=$(snapshot "$R" 2>&1)
check "archive an archived version: exit 0" "$MREG" -C "$R" archive sq:1
expect_eq "archive an archived version: already archived" "$(cat "$T/.out")" "sq:1 is already archived"
check "reject a rejected version: exit 0" "$MREG" -C "$R" reject sq:2
expect_eq "reject a rejected version: already rejected" "$(cat "$T/.out")" "sq:2 is already rejected"
check "archive an archived version --json: the version object" "$MREG" -C "$R" archive sq:1 --json
expect_eq "archive --json of an archived version: its stage" "$(jq -r .stage "$T/.out")" archived
expect_eq "archive and reject of a version already there write nothing" "$(snapshot "$R" 2>&1)" "$before"
bad "promote --to the stage it is in stays refused" 1 "cannot transition from staging to staging" "$R" \
	"$MREG" -C "$R" promote sq:3 --to staging

mkdir "$T/out"
check "export sq (the latest)" "$MREG" -C "$R" export sq -o "$T/out/sq.pt"
expect_eq "export: the message names the version" "$(head -1 "$T/.out")" "Exported sq:3 to $T/out/sq.pt"
check "import --json" "$MREG" -C "$R" import "$T/out/sq.pt" --metadata "$T/out/sq.json" --id imported --json
cp "$T/.out" "$T/import.json"
check "show imported --json" "$MREG" -C "$R" show imported --json
expect_eq "import --json prints the version object show --json prints" "$(jq -S . "$T/import.json")" "$(jq -S . "$T/.out")"
expect_eq "import --json: the whole object (its file hash is there)" "$(jq -r '.file_hash | startswith("xxh128:")' "$T/import.json")" true

# models not there yet
check "rollback check of a model that does not exist" "$MREG" -C "$R" rollback check nope --json
expect_eq "rollback check: not in production, no rollback" "$(jq -c . "$T/.out")" \
	'{"should_rollback":false,"reason":"Model not in production","check":null}'
check "rollback check (text)" "$MREG" -C "$R" rollback check nope
expect_eq "rollback check (text): the original's reason" "$(cat "$T/.out")" "No rollback: Model not in production"
check "baseline set ahead of the model's first registration" "$MREG" -C "$R" baseline set later --elo 1500 --win-rate 0.5 --games 10
check "baseline show of it" "$MREG" -C "$R" baseline show later --json
expect_eq "the baseline is kept" "$(jq -c '[.elo, .win_rate, .games_played]' "$T/.out")" "[1500,0.5,10]"
expect_eq "it makes no model" "$("$MREG" -C "$R" --json status | jq -r .models)" \
	"$("$MREG" -C "$R" --json list | jq '[.[].model_id] | unique | length')"
bad "baseline set ahead of a model needs every metric" 1 "no version is in production; give --elo, --win-rate and --games" "$R" \
	"$MREG" -C "$R" baseline set later2
check "the model registered later" "$MREG" -C "$R" register later "$T/a.pt"
check "its baseline is still there" "$MREG" -C "$R" baseline show later --json
expect_eq "the baseline survives the registration" "$(jq -r .elo "$T/.out")" 1500
check "fsck after a baseline ahead of its model" "$MREG" -C "$R" fsck

# a sole production version, degraded: the check says so, with no candidate to roll back to
check "solo: register into production" "$MREG" -C "$R" register solo "$T/a.pt" --stage production --metric elo=1500 --metric games_played=100
check "solo: baseline" "$MREG" -C "$R" baseline set solo --elo 1600 --win-rate 0.6 --games 10
check "solo: rollback check with a lower Elo" "$MREG" -C "$R" rollback check solo --elo 1500 --games 200 --json
expect_eq "solo: no candidate, and the check still answers" "$(jq -c '[.should_rollback, .reason, .check]' "$T/.out")" \
	'[false,"No rollback candidates available","Elo dropped by 100 (threshold: 50.0)"]'

# automatic rollback switched off
A=$T/auto-off
new_registry_full "$A"
jq '.rollback.auto_rollback_enabled = false' "$A/mreg.json" >"$T/off.json" && cp "$T/off.json" "$A/mreg.json" && git -C "$A" commit -qam "no automatic rollback"
check "off: m:1 in production" "$MREG" -C "$A" register m "$T/a.pt" --stage production --metric elo=1600
check "off: m:2 replaces it" "$MREG" -C "$A" register m "$T/b.pt" --stage production --metric elo=1500 --metric games_played=100
check "off: a baseline" "$MREG" -C "$A" baseline set m --elo 1600 --games 10
check "off: a critical regression" "$MREG" -C "$A" regression m --severity critical --elo-drop 100 -r "big drop"
expect_eq "off: recorded, waiting for approval" "$("$MREG" -C "$A" --json rollback pending | jq -c 'to_entries | map([.key, .value.severity])')" '[["m","critical"]]'
expect_eq "off: nothing rolled back" "$("$MREG" -C "$A" --json show m:2 | jq -r .stage)" production
check "off: rollback --if-needed" "$MREG" -C "$A" rollback m --if-needed --games 200 --json
expect_eq "off: needed, reported, not made" "$(jq -c '[.should_rollback, .rolled_back]' "$T/.out")" '[true,false]'
expect_eq "off: still nothing rolled back" "$("$MREG" -C "$A" --json show m:2 | jq -r .stage)" production
before=$(snapshot "$A" 2>&1)
check "rollback --dry-run" "$MREG" -C "$A" rollback m --dry-run
expect_eq "dry run: what it would do" "$(cat "$T/.out")" "Would roll back m to v1 (v2 archived); nothing was written (--dry-run)"
check "rollback --dry-run --json" "$MREG" -C "$A" rollback m --dry-run --json
expect_eq "dry run --json" "$(jq -c . "$T/.out")" '{"dry_run":true,"model_id":"m","from_version":2,"to_version":1}'
expect_fail "dry run of a refused rollback: refused the same" 1 "cannot roll back 'm' to version 9: no such version" \
	"$MREG" -C "$A" rollback m --to 9 --dry-run
check "rollback --if-needed --dry-run" "$MREG" -C "$A" rollback m --if-needed --games 200 --dry-run
expect_eq "if needed, dry run: what it would do" "$(cut -c1-26 "$T/.out")" "Would roll back m to v1 (v"
expect_eq "dry runs write nothing" "$(snapshot "$A" 2>&1)" "$before"
check "off: a person approves" "$MREG" -C "$A" rollback approve m
expect_eq "off: the approved rollback is made" "$("$MREG" -C "$A" --json show m:1 | jq -r .stage)" production

# the monitor's policy: cooldown and daily limit, for automatic rollbacks
C=$T/cool
new_registry_full "$C"
jq '.rollback.cooldown_minutes = 60' "$C/mreg.json" >"$T/cool.json" && cp "$T/cool.json" "$C/mreg.json" && git -C "$C" commit -qam "cooldown 60"
check "cool: m:1 in production" "$MREG" -C "$C" register m "$T/a.pt" --stage production --metric elo=1600
check "cool: m:2 replaces it" "$MREG" -C "$C" register m "$T/b.pt" --stage production --metric elo=1500
check "cool: a critical regression rolls back" "$MREG" -C "$C" regression m --severity critical --elo-drop 100 -r drop
bad "cool: a second automatic rollback within the cooldown is refused, saying why" 1 \
	"^mreg: cannot roll back 'm' automatically: the last rollback of 'm' was 0 minutes ago \(rollback.cooldown_minutes: 60.0\)" \
	"$C" "$MREG" -C "$C" regression m --severity critical --elo-drop 100 -r again
check "cool: a person's rollback is not held back" "$MREG" -C "$C" rollback m
jq '.rollback.cooldown_minutes = 0 | .rollback.max_rollbacks_per_day = 1' "$C/mreg.json" >"$T/cool.json" && cp "$T/cool.json" "$C/mreg.json" && git -C "$C" commit -qam "one a day"
check "cool: the state follows the policy commit" "$MREG" -C "$C" refresh
bad "cool: the daily limit holds back the next automatic one" 1 \
	"^mreg: cannot roll back 'm' automatically: 'm' was rolled back 2 times in the last 24 hours \(rollback.max_rollbacks_per_day: 1\)" \
	"$C" "$MREG" -C "$C" rollback m --trigger auto_check
expect_fail "an invalid cooldown is refused" 1 "rollback.cooldown_minutes" sh -c \
	"jq '.rollback.cooldown_minutes = -1' '$C/mreg.json' >'$T/bad.json' && cp '$T/bad.json' '$C/mreg.json' && git -C '$C' commit -qam bad && '$MREG' -C '$C' rollback check m >/dev/null"

# retention after every create
B=$T/rot
new_registry_full "$B"
check "rot: a version" "$MREG" -C "$B" register r "$T/a.pt"
: >"$T/rot.ids"
i=0
while [ $i -lt 11 ]; do
	"$MREG" -C "$B" --json backup create | jq -r .id >>"$T/rot.ids"
	i=$((i + 1))
done
expect_eq "11 backups made, 10 kept (backup.max_backups), without a prune" "$("$MREG" -C "$B" --json backup list | jq length)" 10
expect_eq "the 10 newest kept" "$("$MREG" -C "$B" --json backup list | jq -r '.[].id')" "$(sort -r "$T/rot.ids" | head -10)"
jq '.backup.max_backups = 2' "$B/mreg.json" >"$T/m2.json" && cp "$T/m2.json" "$B/mreg.json" && git -C "$B" commit -qam "keep 2"
check "rot: the oldest of the two kept next" "$MREG" -C "$B" backup prune
oldest=$("$MREG" -C "$B" --json backup list | jq -r '.[1].id')
check "restore the oldest kept: its pre-restore backup rotates, and spares it" "$MREG" -C "$B" backup restore "$oldest"
expect_eq "after the restore: the pre-restore backup, the newest, and the restored one past the limit" \
	"$("$MREG" -C "$B" --json backup list | jq -r '[.[].reason] | join(" ")' | sed 's/pre-restore: before restoring [0-9-]*/pre-restore/')" \
	"pre-restore manual manual"
expect_eq "the restored one is the one kept past the limit" "$("$MREG" -C "$B" --json backup list | jq -r '.[2].id')" "$oldest"
check "keep 2 again (the restored history's mreg.json keeps 10)" sh -c "jq '.backup.max_backups = 2' '$B/mreg.json' >'$T/m3.json' && cp '$T/m3.json' '$B/mreg.json' && git -C '$B' commit -qam 'keep 2 again'"
check "the next backup rotates it out" "$MREG" -C "$B" backup create
expect_eq "then two again" "$("$MREG" -C "$B" --json backup list | jq length)" 2

check "backup 1" "$MREG" -C "$R" backup create
check "backup 2" "$MREG" -C "$R" backup create
old=$("$MREG" -C "$R" --json backup list | jq -r '.[1].id')
rm "$T/registry_backups/$old.json"
expect_eq "an orphaned bundle is there" "$(ls "$T/registry_backups/$old.bundle")" "$T/registry_backups/$old.bundle"
check "backup prune --json" "$MREG" -C "$R" backup prune --json
expect_eq "prune counts the orphan it removed" "$(jq -c . "$T/.out")" '{"removed":0,"orphans":1}'
expect_eq "the orphan is gone" "$(ls "$T/registry_backups/$old.bundle" 2>&1 | grep -c 'No such file')" 1
check "backup 3, then an orphan again" sh -c "'$MREG' -C '$R' backup create >/dev/null && rm '$T/registry_backups/'\$('$MREG' -C '$R' --json backup list | jq -r '.[0].id').json"
check "backup prune (text)" "$MREG" -C "$R" backup prune
expect_eq "prune says how many orphans" "$(cat "$T/.out")" "Removed 0 backups and 1 orphaned file"
# dashboard: the (board_Np) of heuristic models
D=$T/dash
new_registry_full "$D"
printf '{"material": 1.5}\n' >"$T/w.json"
check "dash: a CMA-ES result" "$MREG" -C "$D" cmaes register "$T/w.json" --board square8 --players 2 --fitness 0.7 --generation 3
check "dash: into production" "$MREG" -C "$D" promote heuristic_square8_2p:1 --to production
check "dash: a heuristic model named as CMA-ES names them, without tags" "$MREG" -C "$D" register hex "$T/a.pt" --id heuristic_hexagonal_3p --type heuristic --stage production
check "dash: a policy model" "$MREG" -C "$D" register sq "$T/b.pt" --stage production
check "dashboard" "$MREG" -C "$D" dashboard
expect_eq "dashboard: the board of a CMA-ES model, from its tags" "$(grep -c '^  heuristic_square8_2p  *Elo: [0-9]*  *(square8_2p)$' "$T/.out")" 1
expect_eq "dashboard: the board of a heuristic model, from its id" "$(grep -c '^  heuristic_hexagonal_3p  *Elo: N/A  *(hexagonal_3p)$' "$T/.out")" 1
expect_eq "dashboard: no board for a policy model" "$(grep -c '^  sq  *Elo: N/A *$' "$T/.out")" 1

# cleanup: versions left in development or staging
K=$T/cleanup
bulk_registry "$K" old 2 4
check "cleanup: a version promoted to staging today" "$MREG" -C "$K" promote old0:2 --to staging
check "cleanup: a version registered today" "$MREG" -C "$K" register old1 "$T/a.pt" --type heuristic
check "cleanup: a version in production" sh -c "'$MREG' -C '$K' promote old1:2 --to staging && '$MREG' -C '$K' promote old1:2 --to production"
before=$(snapshot "$K" 2>&1)
check "cleanup (a dry run)" "$MREG" -C "$K" cleanup
expect_eq "cleanup: lists what has been in development or staging over 30 days" "$(sed 's/ (development since 2025-01-01, [0-9]* days)$//' "$T/.out")" \
	"Would archive old0:1
Would archive old1:1
2 versions older than 30 days in development or staging; run with --execute to archive them"
expect_eq "cleanup without --execute writes nothing" "$(snapshot "$K" 2>&1)" "$before"
check "cleanup --execute --json" "$MREG" -C "$K" cleanup --execute --json
expect_eq "cleanup --execute: each version archived" "$(jq -c '[.dry_run, [.versions[] | [.model_id, .version, .result]], .archived, .skipped]' "$T/.out")" \
	'[false,[["old0",1,"archived"],["old1",1,"archived"]],2,0]'
expect_eq "cleanup: old0:1 archived" "$("$MREG" -C "$K" --json show old0:1 | jq -r .stage)" archived
expect_eq "cleanup: the reason" "$("$MREG" -C "$K" --json history old1:1 | jq -r '.[-1].reason')" "Cleanup: in development for more than 30 days"
expect_eq "cleanup: one event per version archived" "$(git -C "$K" log --format=%s -2 | sort)" "promote old0:1 development -> archived: Cleanup: in development for more than 30 days
promote old1:1 development -> archived: Cleanup: in development for more than 30 days"
expect_eq "cleanup: what entered staging today, what is new and production are left" \
	"$("$MREG" -C "$K" --json list | jq -c '[.[] | select(.stage != "archived") | "\(.model_id):\(.version) \(.stage)"] | sort')" \
	'["old0:2 staging","old1:2 production","old1:3 development"]'
check "cleanup --max-age 0: everything in development or staging" "$MREG" -C "$K" cleanup --max-age 0 --json
expect_eq "cleanup --max-age 0 lists the rest" "$(jq -c '[.versions[] | "\(.model_id):\(.version)"]' "$T/.out")" '["old0:2","old1:3"]'
bad "cleanup: a negative --max-age is refused" 2 "invalid --max-age" "$K" "$MREG" -C "$K" cleanup --max-age -1 --execute
bad "cleanup takes no arguments" 2 "cleanup takes no arguments" "$K" "$MREG" -C "$K" cleanup old0
finish

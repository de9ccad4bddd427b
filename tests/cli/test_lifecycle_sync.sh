#!/bin/sh
# The rollback manager, validations and comparisons are events, so they
# travel with git and converge: two clones act on the same view, merge with
# stock git in both directions, and end with byte-identical state files.
# Both clones roll the same model back from the same production version;
# the first in (clock, id) order applies and the other is kept in the
# rollback record as a failed attempt (and as a conflict), on every node.
. "$(dirname "$0")/lib.sh"

O=$T/origin A=$T/A B=$T/B
new_registry "$O"
for f in v1 v2 v3 w1 w2; do model_file "$T/$f.pt"; done
check "origin: register m:1 into staging" "$MREG" -C "$O" register m "$T/v1.pt" --stage staging --metric elo=1500 --metric games_played=100
check "origin: m:1 to production" "$MREG" -C "$O" promote m:1 --to production
check "origin: register m:2 into staging" "$MREG" -C "$O" register m "$T/v2.pt" --stage staging --metric elo=1550
check "origin: m:2 to production (m:1 archived)" "$MREG" -C "$O" promote m:2 --to production
check "origin: register m:3" "$MREG" -C "$O" register m "$T/v3.pt" --metric elo=1400
check "origin: register w:1" "$MREG" -C "$O" register w "$T/w1.pt"
check "origin: register w:2" "$MREG" -C "$O" register w "$T/w2.pt"
check "origin: a baseline for m" "$MREG" -C "$O" baseline set m --elo 1550 --games 100
for n in A B; do
	eval "d=\$$n"
	git clone -q "$O" "$d" || { echo "not ok - clone $n"; exit 1; }
	git -C "$d" config mreg.actor "node-$n"
done
git -C "$A" remote add b "$B"
git -C "$B" remote add a "$A"

# ---- each node acts on the same view ----------------------------------------
check "A: roll m back to m:1" "$MREG" -C "$A" rollback m --to 1 -r "A saw a drop"
check "A: compare w:1 with m:3" "$MREG" -C "$A" compare w:1 m:3 --record --games 20 --a-wins 11 --b-wins 8 --draws 1
check "A: validation of w:2 queued" "$MREG" -C "$A" validation w:2 queue w-7
check "B: a critical regression rolls m back too" "$MREG" -C "$B" regression m --severity critical --elo-drop 80
check "B: validation of w:1 started" "$MREG" -C "$B" validation w:1 start
check "B: compare m:3 with w:2" "$MREG" -C "$B" compare m:3 w:2 --record --games 10 --a-wins 2 --b-wins 7 --draws 1 --elo-diff -40
rA=$("$MREG" -C "$A" log --json | jq -r '[.[] | select(.type == "rollback")][0].id')
rB=$("$MREG" -C "$B" log --json | jq -r '[.[] | select(.type == "rollback")][0].id')
expect_eq "A rolled back to m:1" "$("$MREG" -C "$A" show m:1 --json | jq -r .stage)" production
expect_eq "B rolled back to m:1 (the candidate)" "$("$MREG" -C "$B" show m:1 --json | jq -r .stage)" production

# ---- merge both ways --------------------------------------------------------
git -C "$B" fetch -q a
check "A: git pull B" git -C "$A" -c pull.rebase=false pull -q --no-edit b main
check "B: git merge A's pre-merge head" git -C "$B" merge -q --no-edit a/main
for n in A B; do
	eval "d=\$$n"
	check "$n: mreg refresh" "$MREG" -C "$d" refresh
	expect_eq "$n: git status clean" "$(tree_clean "$d")" ""
	check "$n: mreg fsck" "$MREG" -C "$d" fsck
done
for f in registry.json production.json models/m.json models/w.json; do
	if cmp -s "$A/state/$f" "$B/state/$f"; then ok "state/$f identical in A and B"
	else fail "state/$f identical in A and B"; diff "$A/state/$f" "$B/state/$f" | head -8 | sed 's/^/    # /'; fi
done

# ---- what the fold made of it -------------------------------------------------
first=$(printf '%s\n%s\n' "$rA" "$rB" | sort | head -1)
[ "$first" = "$rA" ] && loser=$rB || loser=$rA
"$MREG" -C "$A" rollback history --json >"$T/h.json"
expect_eq "two rollback attempts recorded" "$(jq length "$T/h.json")" 2
expect_eq "the first in (clock, id) order succeeded" \
	"$(jq -r --arg e "$first" '.[] | select(.event == $e) | .success' "$T/h.json")" true
expect_eq "the other failed: m:2 was no longer in production" \
	"$(jq -r --arg e "$loser" '.[] | select(.event == $e) | "\(.success) \(.error_message)"' "$T/h.json")" \
	"false cannot roll back 'm': version 2 is no longer in production"
expect_eq "rollback stats agree" "$("$MREG" -C "$B" rollback stats --json | jq -c '[.total_rollbacks, .successful, .failed]')" "[2,1,1]"
expect_eq "the failed rollback is a conflict too" "$("$MREG" -C "$A" status --json | jq -r '[.conflicts[].event] | join(",")')" "$loser"
expect_eq "m:1 in production, m:2 archived, once" \
	"$("$MREG" -C "$B" list --model m --json | jq -r 'sort_by(.version) | map(.stage) | join(",")')" "production,archived,development"
expect_eq "m:1's history has one rollback row" \
	"$("$MREG" -C "$A" history m:1 --json | jq '[.[] | select(.rollback == true)] | length')" 1
expect_eq "the successful rollback dropped m's baseline" "$("$MREG" -C "$A" baseline show m --json)" null
expect_eq "w:1 shows the comparison it took part in" \
	"$("$MREG" -C "$B" show w:1 --json | jq -c '[.comparisons[] | [.model_a, .model_b]]')" '[["w:v1","m:v3"]]'
expect_eq "m:3 shows both comparisons" "$("$MREG" -C "$A" show m:3 --json | jq '.comparisons | length')" 2
expect_eq "validations from both nodes" \
	"$("$MREG" -C "$A" list --model w --json | jq -r 'sort_by(.version) | map(.validation.status) | join(",")')" "running,queued"

# a full fold from scratch agrees with the incremental one
cp "$A/state/registry.json" "$T/reg.before"
check "A: mreg refresh --full" "$MREG" -C "$A" refresh --full
if cmp -s "$T/reg.before" "$A/state/registry.json"; then ok "A: full fold gives the same registry.json"
else fail "A: full fold gives the same registry.json"; diff "$T/reg.before" "$A/state/registry.json" | head -8 | sed 's/^/    # /'; fi
finish

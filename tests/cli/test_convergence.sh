#!/bin/sh
# Convergence: clones that diverge and merge with stock git end with
# byte-identical state, whatever the order the events arrived in.
#
# Round 1: A registers 3 versions of m and promotes one; B registers 2 and
# tags one: both claim m:2 and m:3. A merges B, B merges A (independently,
# each from the other's pre-merge head), and C merges B first, then A.
# Round 2: A promotes a staging version to production while B archives it.
# The fold keeps whichever sorts first and records the other as a conflict.
. "$(dirname "$0")/lib.sh"

O=$T/origin A=$T/A B=$T/B C=$T/C
new_registry "$O"
model_file "$T/base.pt"
check "origin: register m:1" "$MREG" -C "$O" register m "$T/base.pt"
check "origin: promote m:1 to staging" "$MREG" -C "$O" promote m:1 --to staging
for n in A B C; do
	eval "d=\$$n"
	git clone -q "$O" "$d" || { echo "not ok - clone $n"; exit 1; }
	git -C "$d" config mreg.actor "node-$n"
done
git -C "$A" remote add b "$B"
git -C "$B" remote add a "$A"
git -C "$C" remote add a "$A"
git -C "$C" remote add b "$B"
for f in a1 a2 a3 b1 b2; do model_file "$T/$f.pt"; done

# ---- round 1: concurrent registrations --------------------------------------
check "A: register (claims m:2)" "$MREG" -C "$A" register m "$T/a1.pt"
expect_eq "A: claims m:2" "$(cat "$T/.out")" "Registered m:2"
check "A: register (claims m:3)" "$MREG" -C "$A" register m "$T/a2.pt"
check "A: register (claims m:4)" "$MREG" -C "$A" register m "$T/a3.pt"
check "A: promote m:2 to staging" "$MREG" -C "$A" promote m:2 --to staging -r "A likes it"
check "B: register (claims m:2)" "$MREG" -C "$B" register m "$T/b1.pt"
expect_eq "B: claims m:2" "$(cat "$T/.out")" "Registered m:2"
check "B: register (claims m:3)" "$MREG" -C "$B" register m "$T/b2.pt"
expect_eq "B: claims m:3" "$(cat "$T/.out")" "Registered m:3"
check "B: tag m:3" "$MREG" -C "$B" tag m:3 b-best
refA1=$("$MREG" -C "$A" show m:2 --json | jq -r .ref)
refB2=$("$MREG" -C "$B" show m:3 --json | jq -r .ref)

# everyone takes a snapshot of the others' pre-merge heads
git -C "$B" fetch -q a
git -C "$C" fetch -q a
git -C "$C" fetch -q b
check "A: git pull B (merge)" git -C "$A" -c pull.rebase=false pull -q --no-edit b main
check "B: git merge A's head (as a pull from A before A merged)" git -C "$B" merge -q --no-edit a/main
check "C: git merge B first (fast-forward)" git -C "$C" merge -q --no-edit b/main
check "C: mreg list between the merges" "$MREG" -C "$C" list
check "C: git merge A second" git -C "$C" merge -q --no-edit a/main

expect_eq "A and B merged independently (different merge commits)" \
	"$([ "$(git -C "$A" rev-parse HEAD)" != "$(git -C "$B" rev-parse HEAD)" ] && echo yes)" yes
expect_eq "A and B have the same tree" "$(git -C "$A" rev-parse 'HEAD^{tree}')" "$(git -C "$B" rev-parse 'HEAD^{tree}')"
expect_eq "A and C have the same tree" "$(git -C "$A" rev-parse 'HEAD^{tree}')" "$(git -C "$C" rev-parse 'HEAD^{tree}')"
for n in A B C; do
	eval "d=\$$n"
	check "$n: mreg refresh" "$MREG" -C "$d" refresh
	expect_eq "$n: git status clean after merge + refresh" "$(tree_clean "$d")" ""
done

# same_state WHAT: state files byte-identical in A, B and C
same_state() {
	for f in registry.json production.json models/m.json; do
		for n in B C; do
			eval "d=\$$n"
			if cmp "$A/state/$f" "$d/state/$f" >"$T/.cmp" 2>&1; then ok "$1: state/$f identical in A and $n"
			else fail "$1: state/$f identical in A and $n"; sed 's/^/    # /' "$T/.cmp"
				diff "$A/state/$f" "$d/state/$f" | head -8 | sed 's/^/    # /'; fi
		done
	done
}
same_state "round 1"

"$MREG" -C "$A" log --json >"$T/log.json"
"$MREG" -C "$A" list --json >"$T/list.json"
expect_eq "mreg log: 1 + 1 + 4 + 3 events" "$(jq length "$T/log.json")" 9
expect_eq "mreg log is in (clock, id) order" "$(jq -r '.[].id' "$T/log.json")" \
	"$(jq -r 'sort_by(.clock, .id) | .[].id' "$T/log.json")"
# what the fold must give: registrations in (clock, id) order keep their
# claimed number unless taken, else get the next one after the latest
want=$(jq -c 'sort_by(.clock, .id) | map(select(.type == "version.registered" and .model == "m"))
	| reduce .[] as $e ({latest: 0, out: []};
		(if $e.version <= .latest then .latest + 1 else $e.version end) as $n
		| {latest: $n, out: (.out + [{ref: $e.id, version: $n, claimed: $e.version}])})
	| .out | sort_by(.ref)' "$T/log.json")
got=$(jq -c '[.[] | {ref, version, claimed: .claimed_version}] | sort_by(.ref)' "$T/list.json")
expect_eq "versions renumbered deterministically (ref -> version, claimed_version)" "$got" "$want"
expect_eq "versions are 1..6" "$(jq -c '[.[].version] | sort' "$T/list.json")" "[1,2,3,4,5,6]"
expect_eq "claimed versions are 1,2,2,3,3,4" "$(jq -c '[.[].claimed_version] | sort' "$T/list.json")" "[1,2,2,3,3,4]"
nren=$(jq '[.[] | select(.claimed_version != .version)] | length' "$T/list.json")
if [ "$nren" -ge 2 ]; then ok "at least 2 versions renumbered ($nren)"; else fail "at least 2 versions renumbered ($nren)"; fi
ren=$(jq -r '[.[] | select(.claimed_version != .version)][0] | "\(.version) \(.claimed_version)"' "$T/list.json")
rv=${ren% *} rc=${ren#* }
expect_eq "show m:$rv says it was claimed as v$rc" \
	"$("$MREG" -C "$B" show "m:$rv" | grep 'claimed as:' | sed 's/^ *//')" \
	"claimed as:   v$rc (renumbered: registered concurrently with another)"
expect_eq "show --json m:$rv in A, B, C agree" \
	"$("$MREG" -C "$B" show "m:$rv" --json)$("$MREG" -C "$C" show "m:$rv" --json)" \
	"$("$MREG" -C "$A" show "m:$rv" --json)$("$MREG" -C "$A" show "m:$rv" --json)"
expect_eq "A's promotion follows its version by ref" \
	"$(jq -r --arg r "$refA1" '.[] | select(.ref == $r) | .stage' "$T/list.json")" staging
expect_eq "B's tag follows its version by ref" \
	"$(jq -c --arg r "$refB2" '.[] | select(.ref == $r) | .tags' "$T/list.json")" '["b-best"]'
expect_eq "stages after round 1" "$(jq -r '[.[] | .stage] | sort | join(",")' "$T/list.json")" \
	"development,development,development,development,staging,staging"
for n in A B C; do
	eval "d=\$$n"
	expect_eq "$n: mreg status --json: no conflicts" "$("$MREG" -C "$d" status --json | jq -c .conflicts)" "[]"
	expect_eq "$n: mreg status: conflicts: 0" "$("$MREG" -C "$d" status | grep '^conflicts:')" "conflicts: 0"
	check "$n: mreg fsck" "$MREG" -C "$d" fsck
	expect_eq "$n: git status clean" "$(tree_clean "$d")" ""
done

# ---- round 2: the same version promoted two ways ------------------------------
X=$(jq -r --arg r "$refA1" '.[] | select(.ref == $r) | .version' "$T/list.json")
check "A: promote m:$X staging -> production" "$MREG" -C "$A" promote "m:$X" --to production -r "A ships it"
check "B: promote m:$X staging -> archived" "$MREG" -C "$B" promote "m:$X" --to archived -r "B retires it"
pA=$("$MREG" -C "$A" log --json | jq -r '.[-1].id')
pB=$("$MREG" -C "$B" log --json | jq -r '.[-1].id')
cA=$("$MREG" -C "$A" log --json | jq -r '.[-1].clock')
cB=$("$MREG" -C "$B" log --json | jq -r '.[-1].clock')
expect_eq "both promotions carry the same Lamport clock" "$cA" "$cB"
git -C "$B" fetch -q a
git -C "$C" fetch -q a
git -C "$C" fetch -q b
check "A: git pull B (merge)" git -C "$A" -c pull.rebase=false pull -q --no-edit b main
check "B: git merge A's head" git -C "$B" merge -q --no-edit a/main
check "C: git merge B first" git -C "$C" merge -q --no-edit b/main
check "C: mreg list between the merges" "$MREG" -C "$C" list
check "C: git merge A second" git -C "$C" merge -q --no-edit a/main
for n in A B C; do
	eval "d=\$$n"
	check "$n: mreg refresh" "$MREG" -C "$d" refresh
	expect_eq "$n: git status clean after round 2" "$(tree_clean "$d")" ""
done
same_state "round 2"

# the first in (clock, id) order applies, the other is the conflict
if [ "$(printf '%s\n%s\n' "$pA" "$pB" | sort | head -1)" = "$pA" ]; then
	first=$pA loser=$pB stage=production prod=$X
else
	first=$pB loser=$pA stage=archived prod=0
fi
echo "# round 2: $first applies ($stage), $loser conflicts"
"$MREG" -C "$A" list --json >"$T/list2.json"
expect_eq "m:$X is $stage" "$(jq -r --arg v "$X" '.[] | select(.version == ($v | tonumber)) | .stage' "$T/list2.json")" "$stage"
expect_eq "m:$X history: registration, A's staging promotion, then the applied promotion only" \
	"$(jq -r --arg v "$X" '.[] | select(.version == ($v | tonumber)) | .history | map(.event) | join(" ")' "$T/list2.json")" \
	"$refA1 $(jq -r --arg r "$refA1" '[.[] | select(.type == "version.promoted" and .ref == $r)][0].id' "$T/log.json") $first"
expect_eq "production.json: m's production version" \
	"$(jq -r '.models.m.version // 0' "$A/state/production.json")" "$prod"
for n in A B C; do
	eval "d=\$$n"
	expect_eq "$n: mreg status --json: exactly one conflict, the later promotion of m:$X" \
		"$("$MREG" -C "$d" status --json | jq -c '[.conflicts[] | {event, model_id, version}]')" \
		"[{\"event\":\"$loser\",\"model_id\":\"m\",\"version\":$X}]"
	expect_eq "$n: mreg status: conflicts: 1" "$("$MREG" -C "$d" status | grep '^conflicts:')" "conflicts: 1"
	check "$n: mreg fsck" "$MREG" -C "$d" fsck
	expect_eq "$n: git status clean at the end" "$(tree_clean "$d")" ""
done
expect_eq "registry.json lists the one conflict" "$(jq -c '[.conflicts[].event]' "$A/state/registry.json")" "[\"$loser\"]"

# ---- and a full fold from scratch agrees with the incremental ones ------------
cp "$C/state/registry.json" "$T/reg.before"
cp "$C/state/models/m.json" "$T/m.before"
check "C: mreg refresh --full" "$MREG" -C "$C" refresh --full
if cmp -s "$T/reg.before" "$C/state/registry.json" && cmp -s "$T/m.before" "$C/state/models/m.json"; then
	ok "C: full fold gives the same state files"; else fail "C: full fold gives the same state files"; fi

finish

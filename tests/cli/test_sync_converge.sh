#!/bin/sh
# Convergence through `mreg sync`: three nodes cloned from one origin write
# concurrently (the same version numbers claimed, conflicting promotions, a
# rollback racing a promotion, two rollbacks from one production version,
# metrics, tags, validations, comparisons, baselines, a rollback waiting for
# approval approved on one node and cleared on another), then sync in
# different topologies and orders:
#
#   (a) a star through a bare hub: each node `sync origin --push`, round
#       after round until a round moves nothing;
#   (b) a ring of path remotes: A pulls B, B pulls C, C pulls A, twice round.
#
# Before each topology the nodes are copied as they are, and the copies sync
# the same writes in another order (the star C, B, A; the ring the other way
# round). After each: byte-identical state/ on every node and copy, the same
# tree, every event written present (counted from the trees, not from mreg),
# git status clean, mreg fsck and git fsck clean, and the renumbered versions
# and conflicts the same everywhere and each reported by the syncs of every
# node that acquired it. Then a hop by stock `git pull` among mreg syncs, and
# a version renumbered twice, which its second report must name again.
. "$(dirname "$0")/lib.sh"

# ev_count DIR: event files in HEAD's tree
ev_count() {
	git -C "$1" ls-tree -r --name-only HEAD -- events | grep -c '\.json$'
}

# w NODE DESC CMD...: a write on a node that must succeed and add one event
w() {
	_n=$1 _desc=$2
	shift 2
	eval "_d=\$$_n"
	_before=$(ev_count "$_d")
	check "$_n: $_desc" "$MREG" -C "$_d" "$@"
	expect_eq "$_n: $_desc: one event" "$(ev_count "$_d")" "$((_before + 1))"
}

# one_sync NODE ARGS...: one `mreg --json sync ARGS` on NODE, which must
# succeed; its report in $T/last.json, the versions it reported renumbered
# and the conflicts it reported appended to $T/ren.NODE and $T/conf.NODE
one_sync() {
	_n=$1
	shift
	eval "_d=\$$_n"
	"$MREG" -C "$_d" --json sync "$@" >"$T/last.json" 2>"$T/last.err"
	_rc=$?
	if [ "$_rc" -ne 0 ] || ! jq -e '.ok == true' "$T/last.json" >/dev/null 2>&1; then
		fail "$_n: sync $* (exit $_rc)"
		sed 's/^/    # /' "$T/last.err" | head -5
		jq -c '.remotes[]? | {name, result, error}' "$T/last.json" 2>/dev/null | sed 's/^/    # /'
		return 1
	fi
	if [ -s "$T/last.err" ]; then fail "$_n: sync $*: stderr not empty"; sed 's/^/    # /' "$T/last.err" | head -5; fi
	jq -r '.versions_renumbered[].ref' "$T/last.json" >>"$T/ren.$_n"
	jq -r '.conflicts[].event' "$T/last.json" >>"$T/conf.$_n"
	return 0
}

# star NODES...: each node syncs origin (the hub) with --push in turn, round
# after round until a round moves no commit; prints nothing, sets $rounds
star() {
	rounds=0
	while [ "$rounds" -lt 5 ]; do
		rounds=$((rounds + 1))
		moved=0
		for _s in "$@"; do
			one_sync "$_s" origin --push || return 1
			moved=$((moved + $(jq '[.remotes[] | .commits_received + .events_sent] | add' "$T/last.json")))
		done
		[ "$moved" -eq 0 ] && return 0
	done
	return 1
}

# ring X Y Z: X pulls Y, Y pulls Z, Z pulls X, twice round (path remotes
# named after the node pulled from: a, b, c, for copies too)
rname() {
	echo "$1" | cut -c1 | tr A-Z a-z
}
ring() {
	for _round in 1 2; do
		one_sync "$1" "$(rname "$2")" || return 1
		one_sync "$2" "$(rname "$3")" || return 1
		one_sync "$3" "$(rname "$1")" || return 1
	done
}

# same_file DESC GOT WANT: two files with the same bytes (a short diff when not)
same_file() {
	if cmp -s "$2" "$3"; then ok "$1"; else fail "$1"; diff "$3" "$2" | head -12 | sed 's/^/    # /'; fi
}

# converged DESC WANT_EVENTS NODES...: everything that must agree after a topology
converged() {
	_desc=$1 _want=$2
	shift 2
	eval "_first=\$$1"
	_f=$1
	"$MREG" -C "$_first" status --json | jq -c '{tree, events, models, versions, conflicts, quarantined}' >"$T/st.$_f"
	"$MREG" -C "$_first" list --json >"$T/list.$_f"
	"$MREG" -C "$_first" log --json >"$T/log.$_f"
	for _n in "$@"; do
		eval "_d=\$$_n"
		expect_eq "$_desc: $_n holds every event written ($_want)" "$(ev_count "$_d")" "$_want"
		if [ "$(git -C "$_d" config core.bare)" = true ]; then
			# lean (mreg init's): no events in the work tree, and git has none to compare
			expect_eq "$_desc: $_n: lean, no events or index" "$(ls -d "$_d/events" "$_d/.git/index" 2>/dev/null)" ""
		else
			expect_eq "$_desc: $_n: event files in the work tree" "$(find "$_d/events" -type f | wc -l | tr -d ' ')" "$_want"
			expect_eq "$_desc: $_n: git status clean" "$(tree_clean "$_d")" ""
		fi
		check "$_desc: $_n: mreg fsck" "$MREG" -C "$_d" fsck
		check "$_desc: $_n: git fsck" git -C "$_d" fsck --no-progress --no-dangling
		expect_eq "$_desc: $_n: state stamped with HEAD's tree" "$(jq -r .tree "$_d/state/registry.json")" \
			"$(git -C "$_d" rev-parse 'HEAD^{tree}')"
		[ "$_n" = "$_f" ] && continue
		expect_eq "$_desc: $_n has $_f's tree" "$(git -C "$_d" rev-parse 'HEAD^{tree}')" \
			"$(git -C "$_first" rev-parse 'HEAD^{tree}')"
		if diff -r "$_first/state" "$_d/state" >"$T/.diff" 2>&1; then
			ok "$_desc: state/ byte-identical in $_f and $_n"
		else
			fail "$_desc: state/ byte-identical in $_f and $_n"
			head -10 "$T/.diff" | sed 's/^/    # /'
		fi
		expect_eq "$_desc: $_n: status --json (tree, counts, conflicts, quarantined) as $_f's" \
			"$("$MREG" -C "$_d" status --json | jq -c '{tree, events, models, versions, conflicts, quarantined}')" \
			"$(cat "$T/st.$_f")"
		"$MREG" -C "$_d" list --json >"$T/list.$_n"
		"$MREG" -C "$_d" log --json >"$T/log.$_n"
		same_file "$_desc: $_n: list --json as $_f's" "$T/list.$_n" "$T/list.$_f"
		same_file "$_desc: $_n: log --json as $_f's" "$T/log.$_n" "$T/log.$_f"
	done
}

# reported DESC NODES...: each node's syncs reported every version now
# renumbered and every conflict now recorded (a report lists what a round
# changed, so over all its rounds a node has named each one)
reported() {
	_desc=$1
	shift
	eval "_first=\$$1"
	"$MREG" -C "$_first" list --json | jq -r '.[] | select(.version != .claimed_version) | .ref' | sort >"$T/ren.want"
	"$MREG" -C "$_first" status --json | jq -r '.conflicts[].event' | sort >"$T/conf.want"
	for _n in "$@"; do
		touch "$T/ren.$_n" "$T/conf.$_n"
		expect_eq "$_desc: $_n: every renumbered version was reported by one of its syncs" \
			"$(sort -u "$T/ren.$_n" | comm -13 - "$T/ren.want" | tr '\n' ' ')" ""
		expect_eq "$_desc: $_n: every conflict was reported by one of its syncs" \
			"$(sort -u "$T/conf.$_n" | comm -13 - "$T/conf.want" | tr '\n' ' ')" ""
	done
}

# copy_nodes SUFFIX: A, B, C and the hub copied as they are; the copies'
# remotes point at the copies
copy_nodes() {
	cp -a "$T/hub.git" "$T/hub$1.git"
	for _n in A B C; do
		cp -a "$T/$_n" "$T/$_n$1"
		git -C "$T/$_n$1" remote set-url origin "$T/hub$1.git"
		for _o in a b c; do
			git -C "$T/$_n$1" remote get-url "$_o" >/dev/null 2>&1 &&
				git -C "$T/$_n$1" remote set-url "$_o" "$T/$(echo "$_o" | tr a-z A-Z)$1"
		done
		cp "$T/ren.$_n" "$T/ren.$_n$1" 2>/dev/null
		cp "$T/conf.$_n" "$T/conf.$_n$1" 2>/dev/null
	done
}

# ---- origin, a bare hub, three nodes ------------------------------------------------
O=$T/origin
new_registry "$O"
for f in o1 o2 o3 o4 a1 a2 a3 b1 b2 c1 c2 c3; do model_file "$T/$f.pt" 1500; done
check "origin: m:1 into staging" "$MREG" -C "$O" register m "$T/o1.pt" --stage staging --metric elo=1500 --metric games_played=100
check "origin: m:1 to production" "$MREG" -C "$O" promote m:1 --to production
check "origin: m:2 into staging" "$MREG" -C "$O" register m "$T/o2.pt" --stage staging --metric elo=1550 --metric games_played=200
check "origin: m:2 to production (m:1 archived)" "$MREG" -C "$O" promote m:2 --to production
check "origin: m:3 into staging" "$MREG" -C "$O" register m "$T/o3.pt" --stage staging --metric elo=1580
check "origin: w:1 (validation pending)" "$MREG" -C "$O" register w "$T/o4.pt"
check "origin: baseline for m" "$MREG" -C "$O" baseline set m --elo 1550 --games 200
written=$(ev_count "$O")
expect_eq "origin: 7 events" "$written" 7
git clone -q --bare "$O" "$T/hub.git" || { echo "not ok - clone --bare"; exit 1; }
A=$T/A B=$T/B C=$T/C
check "A: mreg clone of the hub" "$MREG" clone "$T/hub.git" "$A"
check "B: mreg clone of the hub (file://)" "$MREG" clone "file://$T/hub.git" "$B"
check "C: git clone of the hub" git clone -q "$T/hub.git" "$C"
check "C: mreg refresh after git clone" "$MREG" -C "$C" refresh
for n in A B C; do
	eval "d=\$$n"
	git -C "$d" config mreg.actor "node-$n"
	expect_eq "$n: starts from the origin's tree" "$(git -C "$d" rev-parse 'HEAD^{tree}')" "$(git -C "$O" rev-parse 'HEAD^{tree}')"
done
# path remotes for the ring, both ways round
"$MREG" -C "$A" remote add b "$B" >/dev/null && "$MREG" -C "$A" remote add c "$C" >/dev/null &&
	"$MREG" -C "$B" remote add c "$C" >/dev/null && "$MREG" -C "$B" remote add a "$A" >/dev/null &&
	"$MREG" -C "$C" remote add a "$A" >/dev/null && "$MREG" -C "$C" remote add b "$B" >/dev/null ||
	fail "remote add for the ring"

# ---- phase 1: concurrent writes on one view ------------------------------------------
# Clocks (origin's 7 events have 1..7): each node's first write is clock 8.
# A: m:4 (8), m:5 (9), m:3 staging -> production (10), ...
# B: m:4 (8), rollback m to m:1 (9), ...
# C: m:4 (8), m:3 staging -> archived (9), ...
# So B's rollback and C's archive (clock 9) precede A's promotion of m:3
# (clock 10), which finds m:3 archived: the one conflict. The three m:4
# claims of clock 8 take 4, 5, 6 in id order and A's m:5 claim becomes m:7.
w A "register m (claims m:4)" register m "$T/a1.pt"
refA1=$("$MREG" -C "$A" show m:4 --json | jq -r .ref)
w A "register m (claims m:5)" register m "$T/a2.pt"
refA2=$("$MREG" -C "$A" show m:5 --json | jq -r .ref)
w A "promote m:3 staging -> production (m:2 archived)" promote m:3 --to production -r "A ships m:3"
promoA=$("$MREG" -C "$A" log --json | jq -r '.[-1].id')
w A "update-metrics m:2" update-metrics m:2 elo=1540 games_played=300
w A "tag m:4" tag m:4 a-tag
w A "validation w:1 start" validation w:1 start

w B "register m (claims m:4)" register m "$T/b1.pt"
refB1=$("$MREG" -C "$B" show m:4 --json | jq -r .ref)
w B "rollback m to m:1" rollback m --to 1 -r "B saw a drop"
rollB=$("$MREG" -C "$B" log --json | jq -r '.[-1].id')
w B "tag m:3" tag m:3 b-tag
w B "update-metrics m:3" update-metrics m:3 elo=1600
w B "tag m:4 (its own)" tag m:4 b-tag

w C "register m (claims m:4)" register m "$T/c1.pt"
refC1=$("$MREG" -C "$C" show m:4 --json | jq -r .ref)
w C "archive m:3 (staging -> archived)" archive m:3
w C "register w (claims w:2)" register w "$T/c2.pt"
w C "compare m:3 with w:1, recorded" compare m:3 w:1 --record --games 10 --a-wins 6 --b-wins 3 --draws 1
w C "tag m:2" tag m:2 c-tag
w C "untag m:2" untag m:2 c-tag
for n in A B C; do
	eval "d=\$$n"
	written=$((written + $(ev_count "$d") - 7))
done
expect_eq "phase 1: 7 + 6 + 5 + 6 events written" "$written" 24

copy_nodes 2
# ---- (a) star through the hub: A, B, C ---------------------------------------------
if star A B C; then ok "star A, B, C: quiet after $rounds rounds"; else fail "star A, B, C: not quiet after $rounds rounds"; fi
if [ "$rounds" -le 3 ]; then ok "star: quiet by the third round"; else fail "star: quiet by the third round ($rounds)"; fi
expect_eq "star: every node is at the hub's commit" \
	"$(git -C "$A" rev-parse HEAD) $(git -C "$B" rev-parse HEAD) $(git -C "$C" rev-parse HEAD)" \
	"$(git -C "$T/hub.git" rev-parse main) $(git -C "$T/hub.git" rev-parse main) $(git -C "$T/hub.git" rev-parse main)"
converged "star" "$written" A B C
reported "star" A B C

# what the fold must give, from the log alone: registrations in (clock, id)
# order keep their claim unless taken, else the next number
"$MREG" -C "$A" log --json >"$T/log.json"
"$MREG" -C "$A" list --json >"$T/list.json"
want=$(jq -c 'sort_by(.clock, .id) | map(select(.type == "version.registered" and .model == "m"))
	| reduce .[] as $e ({latest: 0, out: []};
		(if $e.version <= .latest then .latest + 1 else $e.version end) as $n
		| {latest: $n, out: (.out + [{ref: $e.id, version: $n, claimed: $e.version}])})
	| .out | sort_by(.ref)' "$T/log.json")
expect_eq "star: m's versions numbered as the fold order says" \
	"$(jq -c '[.[] | select(.model_id == "m") | {ref, version, claimed: .claimed_version}] | sort_by(.ref)' "$T/list.json")" "$want"
expect_eq "star: m's versions are 1..7" "$(jq -c '[.[] | select(.model_id == "m") | .version] | sort' "$T/list.json")" "[1,2,3,4,5,6,7]"
expect_eq "star: three versions renumbered" "$(jq '[.[] | select(.version != .claimed_version)] | length' "$T/list.json")" 3
expect_eq "star: A's second registration (claimed m:5) is m:7" \
	"$(jq -r --arg r "$refA2" '.[] | select(.ref == $r) | "\(.claimed_version) \(.version)"' "$T/list.json")" "5 7"
expect_eq "star: A's tag followed its version by ref" \
	"$(jq -c --arg r "$refA1" '.[] | select(.ref == $r) | .tags' "$T/list.json")" '["a-tag"]'
expect_eq "star: B's tag followed its version by ref" \
	"$(jq -c --arg r "$refB1" '.[] | select(.ref == $r) | .tags' "$T/list.json")" '["b-tag"]'
expect_eq "star: C's version untouched by tags" \
	"$(jq -c --arg r "$refC1" '.[] | select(.ref == $r) | .tags' "$T/list.json")" '[]'
expect_eq "star: stages of m:1, m:2, m:3" \
	"$(jq -r '[.[] | select(.model_id == "m" and .version <= 3)] | sort_by(.version) | map(.stage) | join(" ")' "$T/list.json")" \
	"production archived archived"
expect_eq "star: production.json names m:1" "$(jq -r .models.m.version "$A/state/production.json")" 1
expect_eq "star: the one conflict is A's promotion of m:3" \
	"$("$MREG" -C "$A" status --json | jq -c '[.conflicts[] | {event, model_id, version}]')" \
	"[{\"event\":\"$promoA\",\"model_id\":\"m\",\"version\":3}]"
expect_eq "star: B's rollback is in the record, successful" \
	"$(jq -c --arg e "$rollB" '[.rollbacks[] | select(.event == $e) | .success]' "$A/state/registry.json")" "[true]"
for v in 4 5 6 7; do
	expect_eq "star: show m:$v --json the same on A, B, C" \
		"$("$MREG" -C "$B" show "m:$v" --json)$("$MREG" -C "$C" show "m:$v" --json)" \
		"$("$MREG" -C "$A" show "m:$v" --json)$("$MREG" -C "$A" show "m:$v" --json)"
done
expect_eq "star: hub and nodes agree with stock git on the hub's tree" \
	"$(git -C "$T/hub.git" rev-parse 'main^{tree}')" "$(git -C "$A" rev-parse 'HEAD^{tree}')"

# ---- the same writes, the star in the other order on the copies -------------------
A2=$T/A2 B2=$T/B2 C2=$T/C2
if star C2 B2 A2; then ok "star C, B, A (copies): quiet after $rounds rounds"; else fail "star C, B, A (copies): not quiet"; fi
converged "star C, B, A" "$written" A2 B2 C2
reported "star C, B, A" A2 B2 C2
expect_eq "star C, B, A: a different history" \
	"$([ "$(git -C "$A2" rev-parse HEAD)" != "$(git -C "$A" rev-parse HEAD)" ] && echo yes)" yes
expect_eq "star C, B, A: the tree of A, B, C" "$(git -C "$A2" rev-parse 'HEAD^{tree}')" "$(git -C "$A" rev-parse 'HEAD^{tree}')"
if diff -r "$A/state" "$A2/state" >"$T/.diff" 2>&1; then ok "star C, B, A: state/ byte-identical to the first star's"
else fail "star C, B, A: state/ byte-identical to the first star's"; head -10 "$T/.diff" | sed 's/^/    # /'; fi

# ---- phase 2: more concurrent writes on the converged view ---------------------------
# a registration each (the same claim again), one version promoted two ways,
# two rollbacks from the same production version, metrics, tags
w A "register m (claims m:8)" register m "$T/a3.pt"
w A "promote m:4 to staging" promote m:4 --to staging -r "A likes m:4"
w A "rollback m (candidate rule)" rollback m -r "A rolls back"
w A "validation w:2 queue" validation w:2 queue work-a
w B "register m (claims m:8)" register m "$T/b2.pt"
w B "reject m:4" reject m:4
vB1=$("$MREG" -C "$B" list --json | jq -r --arg r "$refB1" '.[] | select(.ref == $r) | .version')
w B "untag b-tag from m:$vB1" untag "m:$vB1" b-tag
w B "update-metrics m:5" update-metrics m:5 elo=1499 win_rate=0.51
w C "register m (claims m:8)" register m "$T/c3.pt"
w C "rollback m to m:2" rollback m --to 2 -r "C rolls back to m:2"
w C "validation w:2 start" validation w:2 start
w C "compare m:4 with m:5, recorded" compare m:4 m:5 --record --games 20 --a-wins 11 --b-wins 8 --draws 1
w A "baseline set m" baseline set m --elo 1600 --games 300
w B "baseline set m, another" baseline set m --elo 1450 --games 20
w C "a severe regression: a rollback waits for approval" regression m --severity severe --elo-drop 60 -r "C sees a drop"
written=$((written + 15))

copy_nodes 3
# ---- (b) a ring of path remotes: A pulls B, B pulls C, C pulls A, twice round -------
if ring A B C; then ok "ring A <- B <- C <- A, twice round"; else fail "ring A <- B <- C <- A, twice round"; fi
converged "ring" "$written" A B C
reported "ring" A B C
expect_eq "ring: m's versions are 1..10" \
	"$("$MREG" -C "$A" list --json | jq -c '[.[] | select(.model_id == "m") | .version] | sort')" "[1,2,3,4,5,6,7,8,9,10]"
expect_eq "ring: one production version of m" \
	"$("$MREG" -C "$A" list --json | jq '[.[] | select(.model_id == "m" and .stage == "production")] | length')" 1
expect_eq "ring: the two rollbacks from one production version: one applied, one failed" \
	"$(jq -c '[.rollbacks[] | .success] | .[-2:] | sort' "$A/state/registry.json")" "[false,true]"
expect_eq "ring: one baseline for m, and one rollback waiting" \
	"$(jq -c '[(.baselines | keys), (.pending_rollbacks | keys)]' "$A/state/registry.json")" '[["m"],["m"]]'
expect_eq "ring: m:4 promoted two ways: one of them is a conflict" \
	"$("$MREG" -C "$A" status --json | jq '[.conflicts[] | select(.model_id == "m" and .version == 4)] | length')" 1
nconf=$("$MREG" -C "$A" status --json | jq '.conflicts | length')
if [ "$nconf" -ge 3 ]; then ok "ring: the conflicts of both phases are recorded ($nconf)"; else fail "ring: the conflicts of both phases are recorded ($nconf)"; fi

# ---- the same writes, the ring the other way round on the copies --------------------
A3=$T/A3 B3=$T/B3 C3=$T/C3
if ring A3 C3 B3; then ok "ring A <- C <- B <- A (copies), twice round"; else fail "ring A <- C <- B <- A (copies)"; fi
converged "ring reversed" "$written" A3 B3 C3
reported "ring reversed" A3 B3 C3
expect_eq "ring reversed: the tree of the first ring" "$(git -C "$A3" rev-parse 'HEAD^{tree}')" "$(git -C "$A" rev-parse 'HEAD^{tree}')"
if diff -r "$A/state" "$A3/state" >"$T/.diff" 2>&1; then ok "ring reversed: state/ byte-identical to the first ring's"
else fail "ring reversed: state/ byte-identical to the first ring's"; head -10 "$T/.diff" | sed 's/^/    # /'; fi

# ---- and the ring's result through the hub: the star copies catch up --------------
# A2, B2, C2 stopped after phase 1 (in the other order); the ring's result
# reaches the hub by a push, and the copies, which never saw phase 2, take
# it from A by a path remote and spread it through their own hub
check "A: push the ring's result to the hub" "$MREG" -C "$A" sync origin --push
expect_eq "the hub is at A's commit" "$(git -C "$T/hub.git" rev-parse main)" "$(git -C "$A" rev-parse HEAD)"
"$MREG" -C "$A2" remote add ring "$A" >/dev/null || fail "A2: remote add ring"
one_sync A2 ring && ok "A2 pulls the ring's result from A"
if star A2 B2 C2; then ok "star copies: quiet after $rounds rounds"; else fail "star copies: not quiet"; fi
converged "star copies after the ring" "$written" A2 B2 C2
expect_eq "star copies: the ring's tree" "$(git -C "$A2" rev-parse 'HEAD^{tree}')" "$(git -C "$A" rev-parse 'HEAD^{tree}')"
if diff -r "$A/state" "$A2/state" >"$T/.diff" 2>&1; then ok "star copies: state/ byte-identical to the ring's"
else fail "star copies: state/ byte-identical to the ring's"; head -10 "$T/.diff" | sed 's/^/    # /'; fi

# ---- mixed tools: a hop by stock git pull ------------------------------------------
# C merges A with `git pull`; B takes git's merge commit from C by mreg
# sync, A takes it from B: mreg checks and merges what stock git made
model_file "$T/a4.pt" 1500
model_file "$T/b4.pt" 1500
w A "register m (claims m:11)" register m "$T/a4.pt"
w B "register m (claims m:11)" register m "$T/b4.pt"
w C "tag m:1" tag m:1 mixed
w A "approve the waiting rollback" rollback approve m
w B "clear the waiting rollback" rollback clear m -r "B says no"
written=$((written + 5))
check "C: git pull A (a stock merge)" git -C "$C" pull -q --no-rebase --no-edit a main
expect_eq "C: git made a merge commit" "$(git -C "$C" log -1 --format=%P | wc -w | tr -d ' ')" 2
check "C: mreg status after the pull" "$MREG" -C "$C" status
one_sync B c && ok "B takes git's merge from C"
one_sync A b && ok "A takes it from B"
one_sync C a && ok "C takes A's"
converged "mixed" "$written" A B C
expect_eq "mixed: no rollback waits any more" "$(jq -c '.pending_rollbacks | keys' "$A/state/registry.json")" '[]'
reported "mixed" A B

# ---- a version renumbered twice is reported with its new number ---------------------
# X, Y, Z each register q:2 at the same clock; ordered by id they are lo <
# mid < hi. The node holding mid pulls hi first (hi: q:2 -> q:3), then lo,
# which takes q:2 and pushes mid to q:3 and hi on to q:4: the second report
# must say where hi went, or the first one's "now q:3" is the last word on it.
Q=$T/q0
new_registry "$Q"
model_file "$T/q1.pt" 300
check "q0: register q:1" "$MREG" -C "$Q" register q "$T/q1.pt"
for n in X Y Z; do
	git clone -q "$Q" "$T/q$n" && model_file "$T/q$n.pt" 300 &&
		"$MREG" -C "$T/q$n" register q "$T/q$n.pt" >/dev/null || fail "q$n: clone and register q:2"
	echo "$("$MREG" -C "$T/q$n" show q:2 --json | jq -r .ref) $n"
done | sort >"$T/q.ids"
lo=$(sed -n 1p "$T/q.ids" | cut -d' ' -f2) mid=$(sed -n 2p "$T/q.ids" | cut -d' ' -f2) hi=$(sed -n 3p "$T/q.ids" | cut -d' ' -f2)
refhi=$(sed -n 3p "$T/q.ids" | cut -d' ' -f1) refmid=$(sed -n 2p "$T/q.ids" | cut -d' ' -f1)
"$MREG" -C "$T/q$mid" remote add hi "$T/q$hi" >/dev/null && "$MREG" -C "$T/q$mid" remote add lo "$T/q$lo" >/dev/null ||
	fail "q$mid: remotes"
check "q$mid pulls q$hi" "$MREG" -C "$T/q$mid" sync hi --no-backup
expect_eq "first pull: q$hi's version is q:3" "$(grep '^renumbered:' "$T/.out")" "renumbered: q:2 is now q:3 ($refhi)"
check "q$mid pulls q$lo" "$MREG" -C "$T/q$mid" sync lo --no-backup
expect_eq "second pull: both moves reported, q$hi's to q:4" "$(grep '^renumbered:' "$T/.out" | sort)" \
	"$(printf 'renumbered: q:2 is now q:3 (%s)\nrenumbered: q:2 is now q:4 (%s)' "$refmid" "$refhi" | sort)"
expect_eq "the state agrees: q$hi's is q:4" \
	"$("$MREG" -C "$T/q$mid" list --json | jq -r --arg r "$refhi" '.[] | select(.ref == $r) | .version')" 4

# ---- a full fold from scratch agrees with the incremental ones ----------------------
cp -a "$B/state" "$T/state.before"
check "B: mreg refresh --full" "$MREG" -C "$B" refresh --full
if diff -r "$T/state.before" "$B/state" >/dev/null 2>&1; then ok "B: a full fold gives the same state"
else fail "B: a full fold gives the same state"; fi

finish

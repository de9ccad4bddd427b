#!/bin/sh
# mreg sync when a remote is down, lies or breaks: each failure leaves the
# local registry as it was (lib.sh's snapshot; .git/mreg/sync.json is left
# out, it records the failure), is reported in one line naming the remote
# and the problem, and `mreg sync status` shows it (last error, consecutive
# failures, breaker).
#
#   - a remote that is down: five failures open its breaker, the sixth sync
#     skips it, after the recovery time a half-open try fails and waits
#     twice as long, then the remote is back and a success closes it (the
#     half-open try seen in sync status while it runs: the remote's
#     packed-refs is a FIFO, so the try blocks until the test lets it go);
#   - a remote whose history was rewritten (git push -f);
#   - remotes that bring an edited, deleted or renamed event, files outside
#     the layout, a name that is not the hash, a bad schema, a link, a
#     submodule: each names the commit and the path;
#   - a remote whose pack is damaged or cut short;
#   - a fetch of thousands of events killed with SIGKILL while the pack
#     comes, once it is in, and once the branch has moved;
#   - a push the server's pre-receive hook refuses, and a push to a node
#     with a work tree;
#   - an unrelated history refused, adopted by a registry with no events;
#   - --dry-run, which changes nothing.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/bulk.sh"
fast_copy
F=$T/mreg-fast
XXH=$(xxh128_helper)

# ev_count DIR: event files in HEAD's tree
ev_count() {
	git -C "$1" ls-tree -r --name-only HEAD -- events | grep -c '\.json$'
}

# rec REG REMOTE JQ: a field of REMOTE's record in `sync status --json`
rec() {
	"$MREG" -C "$1" sync status --json | jq -c --arg n "$2" ".remotes[] | select(.name == \$n) | $3"
}

# sync_bad DESC REG REMOTE PATTERN [ARGS...]: `mreg -C REG sync REMOTE ARGS`
# must fail on that remote: exit 1, exactly one line on stdout for it,
# "REMOTE: failed: " and a message matching PATTERN (grep -E), the summary
# line saying nothing came, nothing on stderr, REG's snapshot unchanged, and
# sync status recording the message, one more consecutive failure and the
# breaker's state ($BREAKER, closed when unset)
sync_bad() {
	_desc=$1 _reg=$2 _rem=$3 _pat=$4
	shift 4
	_before=$(snapshot "$_reg" 2>&1)
	_nf=$(rec "$_reg" "$_rem" .consecutive_failures)
	"$MREG" -C "$_reg" sync "$_rem" --no-backup "$@" >"$T/bad.out" 2>"$T/bad.err"
	_rc=$?
	_line=$(grep "^$_rem: " "$T/bad.out")
	if [ "$_rc" -ne 1 ]; then
		fail "$_desc: exit $_rc, want 1"; sed 's/^/    # /' "$T/bad.out" "$T/bad.err" | head -5
	elif [ "$(grep -c "^$_rem: " "$T/bad.out")" -ne 1 ]; then
		fail "$_desc: one line for $_rem"; sed 's/^/    # /' "$T/bad.out" | head -5
	elif ! printf '%s\n' "$_line" | grep -q "^$_rem: failed: "; then
		fail "$_desc: '$_rem: failed: ...'"; echo "    # $_line"
	elif ! printf '%s\n' "$_line" | grep -qE "$_pat"; then
		fail "$_desc: the line does not match /$_pat/"; echo "    # $_line"
	else
		ok "$_desc"
	fi
	expect_eq "$_desc: the summary" "$(tail -1 "$T/bad.out")" \
		"0 of 1 nodes synced: 0 events received, 0 sent, 0 models changed, 0 versions renumbered, 0 conflicts"
	expect_eq "$_desc: nothing on stderr" "$(cat "$T/bad.err")" ""
	expect_eq "$_desc: registry unchanged" "$(snapshot "$_reg" 2>&1)" "$_before"
	expect_eq "$_desc: sync status: the last error" "$(rec "$_reg" "$_rem" .last_error)" \
		"$(printf '%s' "${_line#"$_rem: failed: "}" | jq -R -c .)"
	expect_eq "$_desc: sync status: one more consecutive failure, breaker ${BREAKER:-closed}" \
		"$(rec "$_reg" "$_rem" '[.consecutive_failures, .breaker.state]')" "[$((${_nf:-0} + 1)),\"${BREAKER:-closed}\"]"
}

# t2s TIME: a time as mreg writes it, in seconds since the epoch (fractional)
t2s() {
	jq -n --arg t "$1" '($t[0:19] + "Z" | fromdate) + ($t[20:26] | tonumber) / 1e6'
}

O=$T/origin
new_registry_full "$O"
for f in o1 o2 o3 p1 p2 p3 p4 p5 l1 l2 u1; do model_file "$T/$f.pt" 700; done
check "origin: register m:1" "$MREG" -C "$O" register m "$T/o1.pt"
check "origin: register m:2" "$MREG" -C "$O" register m "$T/o2.pt"
check "origin: promote m:1 to staging" "$MREG" -C "$O" promote m:1 --to staging
git clone -q --bare "$O" "$T/hub.git" || { echo "not ok - clone --bare"; exit 1; }
L=$T/L
check "L: clone of the hub" "$MREG" clone "$T/hub.git" "$L"
git -C "$L" config mreg.actor node-L
# a peer that writes with mreg and commits with stock git
P=$T/peer
git clone -q "$T/hub.git" "$P" && git -C "$P" config mreg.actor peer || fail "peer: git clone"

# ---- a remote that is down: the breaker ----------------------------------------------------
D=$T/D
"$F" clone "$T/hub.git" "$D" >/dev/null || fail "D: clone of the hub"
git -C "$D" config mreg.breaker.recoveryTimeout 3
git -C "$D" config mreg.breaker.maxBackoff 4
git -C "$D" config mreg.breaker.jitter 0
"$MREG" -C "$D" remote add down "$T/down.git" >/dev/null
sync_bad "a path that does not exist: it says so" "$D" down "cannot reach 'down'.*(does not exist|[Nn]o such file|not found)"
"$MREG" -C "$D" remote add downf "file://$T/down.git" >/dev/null
sync_bad "a file:// URL to a removed repository: it says so" "$D" downf \
	"cannot reach 'downf'.*$T/down\.git.*(does not exist|[Nn]o such file|not found)"
for i in 2 3 4; do
	sync_bad "down, failure $i" "$D" down "cannot reach 'down'"
	expect_eq "down, failure $i: the breaker stays closed" "$(rec "$D" down .breaker.state)" '"closed"'
done
before=$(snapshot "$D")
# the fifth failure, then at once a sixth and a seventh sync (within the 3 s)
"$MREG" -C "$D" sync down --no-backup >"$T/fifth.out" 2>&1
"$MREG" -C "$D" sync down --no-backup >"$T/sixth.out" 2>"$T/sixth.err"
sixth=$?
"$MREG" -C "$D" --json sync down --no-backup >"$T/skip.json" 2>&1
expect_eq "down, failure 5" "$(head -1 "$T/fifth.out" | cut -d: -f1-3)" "down: failed: cannot reach 'down'"
expect_eq "5 failures open the breaker" "$(rec "$D" down '[.breaker.state, .breaker.opens, .breaker.failures, .consecutive_failures]')" \
	'["open",1,5,5]'
until=$(rec "$D" down .breaker.open_until | tr -d '"')
failed_at=$(rec "$D" down .last_error_at | tr -d '"')
expect_eq "open for the recovery time exactly (3 s, no jitter)" \
	"$(jq -n "$(t2s "$until") - $(t2s "$failed_at") | . * 1000 | round")" 3000
expect_eq "the sixth sync: exit 1" "$sixth" 1
expect_eq "the sixth sync: skipped without a try" "$(cat "$T/sixth.out")" \
	"down: skipped: circuit open after 5 failures; next try after $until
0 of 1 nodes synced: 0 events received, 0 sent, 0 models changed, 0 versions renumbered, 0 conflicts"
expect_eq "the sixth sync: nothing on stderr" "$(cat "$T/sixth.err")" ""
expect_eq "skipped: no try recorded (the last try is the fifth failure)" \
	"$(rec "$D" down '[.last_try == .last_error_at, .consecutive_failures]')" "[true,5]"
expect_eq "skipped: the registry as it was" "$(snapshot "$D")" "$before"
expect_eq "skipped, in --json" "$(jq -c '.remotes[0] | [.result, .error, .breaker, .consecutive_failures, .next_try, .events_received]' "$T/skip.json")" \
	"[\"skipped\",\"circuit open after 5 failures; next try after $until\",\"open\",5,\"$until\",0]"
expect_eq "skipped, in --json: not ok" "$(jq -c '[.ok, .nodes_synced, .nodes_failed]' "$T/skip.json")" '[false,0,1]'
expect_eq "sync status, as people read it" "$("$MREG" -C "$D" sync status | sed -n '/^down	/,/breaker/p' | tail -1)" \
	"  breaker: open, 5 consecutive failures, next try after $until"
"$MREG" -C "$D" sync status >"$T/st.txt"
check "sync status shows the last error, with its time" grep -q "^  last error: $failed_at: cannot reach 'down'" "$T/st.txt"
# past the recovery time a try is let through (half-open); the remote is
# still down, so the breaker opens again, for twice as long capped at
# maxBackoff: min(3 * 2, 4) = 4 s
i=0
while [ "$(jq -n "now < $(t2s "$until")")" = true ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
BREAKER=open
sync_bad "past the recovery time: tried again, still down" "$D" down "cannot reach 'down'"
unset BREAKER
expect_eq "the half-open try failed: open again, a second opening" \
	"$(rec "$D" down '[.breaker.state, .breaker.opens, .consecutive_failures]')" '["open",2,6]'
until=$(rec "$D" down .breaker.open_until | tr -d '"')
expect_eq "the second opening waits 4 s (twice the recovery time, capped by maxBackoff)" \
	"$(jq -n "$(t2s "$until") - $(t2s "$(rec "$D" down .last_error_at | tr -d '"')") | . * 1000 | round")" 4000
# the remote comes back, with something new; its objects/info/alternates a
# FIFO (git reads it as a list of other object stores), so the next try waits
# on it where the test can see it, and goes on, with none, when let go
git clone -q --bare "$T/hub.git" "$T/down.git"
check "peer: register m:3" "$MREG" -C "$P" register m "$T/p1.pt"
git -C "$P" push -q "$T/down.git" main || fail "peer: push to down"
mkdir -p "$T/down.git/objects/info"
mkfifo "$T/down.git/objects/info/alternates" && ln "$T/down.git/objects/info/alternates" "$T/fifo"
(
	i=0
	while [ "$i" -lt 200 ]; do
		"$MREG" -C "$D" sync down --no-backup >"$T/back.out" 2>"$T/back.err"
		head -1 "$T/back.out" | grep -q '^down: skipped: ' || break
		sleep 0.05
		i=$((i + 1))
	done
) &
retry=$!
i=0
while [ "$(rec "$D" down .breaker.state 2>/dev/null)" != '"half_open"' ] && [ "$i" -lt 300 ]; do sleep 0.05; i=$((i + 1)); done
expect_eq "the try after the wait: half-open while it runs" "$(rec "$D" down '[.breaker.state, .breaker.half_open_calls]')" '["half_open",1]'
expect_eq "sync status while it runs" "$("$MREG" -C "$D" sync status | sed -n '/^down	/,/breaker/p' | tail -1)" \
	"  breaker: half_open, 6 consecutive failures, next try after $(rec "$D" down .breaker.open_until | tr -d '"')"
rm "$T/down.git/objects/info/alternates"
timeout 20 sh -c ": >'$T/fifo'" || fail "let the try go on (nothing waits on the FIFO)"
wait "$retry"
rm -f "$T/fifo"
expect_eq "the remote is back: the try succeeds" "$(head -1 "$T/back.out")" "down: ok: 1 events received, 0 sent (fast-forward)"
expect_eq "a success closes the breaker" \
	"$(rec "$D" down '[.breaker.state, .breaker.opens, .breaker.failures, .breaker.open_until, .consecutive_failures, .last_events_received]')" \
	'["closed",0,0,null,0,1]'
check "sync status after the recovery" "$MREG" -C "$D" sync status
expect_eq "sync status: down recovered, its last error kept with its time" \
	"$(sed -n '/^down	/,/breaker/p' "$T/.out" | sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z/TIME/g')" \
	"$(printf 'down\t%s\n  last success: TIME; events received: 1 (last round 1)\n  last error: TIME: cannot reach %s: %s\n  breaker: closed, 0 consecutive failures' \
		"$T/down.git" "'down'" "$(rec "$D" down .last_error | jq -r . | sed "s/^cannot reach 'down': //")")"
check "D: fsck after all that" "$MREG" -C "$D" fsck
expect_eq "D: git status clean" "$(tree_clean "$D")" ""

# ---- two rounds at once: each remote's record survives the other's ---------------------------
# D syncs slow (held on a FIFO, as above) while another `mreg sync` on D
# records a failure of bad; when the first round ends, bad's failure must
# still be in the record (the breaker counts it)
git clone -q --bare "$T/hub.git" "$T/slow.git"
model_file "$T/s1.pt" 300
"$MREG" -C "$P" register m "$T/s1.pt" >/dev/null && git -C "$P" push -q "$T/slow.git" HEAD:main &&
	git -C "$P" reset -q --hard HEAD~1 || fail "slow: an event D lacks"
"$MREG" -C "$D" remote add slow "$T/slow.git" >/dev/null
"$MREG" -C "$D" remote add bad "$T/nothing-here" >/dev/null
mkdir -p "$T/slow.git/objects/info"
mkfifo "$T/slow.git/objects/info/alternates" && ln "$T/slow.git/objects/info/alternates" "$T/fifo"
"$MREG" -C "$D" sync slow --no-backup >"$T/slow.out" 2>&1 &
pid=$!
i=0
while [ "$(rec "$D" slow .last_try 2>/dev/null)" = "" ] && [ "$i" -lt 300 ]; do sleep 0.05; i=$((i + 1)); done
sync_bad "bad, while slow's round runs" "$D" bad "cannot reach 'bad'"
rm "$T/slow.git/objects/info/alternates"
timeout 20 sh -c ": >'$T/fifo'" || fail "let slow's round go on"
wait "$pid"
rm -f "$T/fifo"
expect_eq "slow's round succeeded" "$(head -1 "$T/slow.out")" "slow: ok: 1 events received, 0 sent (fast-forward)"
expect_eq "after both rounds: bad's failure is still recorded" "$(rec "$D" bad '[.consecutive_failures, .breaker.failures, (.last_error != null)]')" \
	'[1,1,true]'
expect_eq "after both rounds: slow's success is recorded" "$(rec "$D" slow '[.consecutive_failures, .last_events_received, (.last_success != null)]')" \
	'[0,1,true]'
# one remote failing does not keep the others from syncing
"$MREG" -C "$D" sync bad origin --no-backup >"$T/two.out" 2>"$T/two.err"
expect_eq "one remote failing, one not: exit 1" "$?" 1
expect_eq "one remote failing, one not: a line each and the summary" "$(sed -E 's/^([a-z]+: [a-z]+|[^:]*):.*/\1/' "$T/two.out")" \
	"bad: failed
origin: ok
1 of 2 nodes synced"
expect_eq "one remote failing, one not: nothing on stderr" "$(cat "$T/two.err")" ""
"$MREG" -C "$D" --json sync bad origin --no-backup >"$T/two.json" 2>"$T/two.err"
expect_eq "the same with --json: exit 1" "$?" 1
expect_eq "the same with --json: only JSON on stdout, nothing on stderr" \
	"$(jq -c '[.ok, .nodes_synced, .nodes_failed, [.remotes[] | .result]]' "$T/two.json")$(cat "$T/two.err")" \
	'[false,1,1,["failed","ok"]]'

# ---- a remote whose history was rewritten ---------------------------------------------------
git -C "$P" push -q origin main || fail "peer: push m:3 to the hub"
check "L: sync the hub (its history as it was)" "$MREG" -C "$L" sync --no-backup
old=$(git -C "$T/hub.git" rev-parse main)
lost=$(git -C "$P" diff-tree -r --no-commit-id --name-only HEAD -- events)
git -C "$P" reset -q --hard HEAD~1 && "$MREG" -C "$P" register m "$T/p2.pt" >/dev/null &&
	git -C "$P" push -q -f origin main 2>/dev/null || fail "peer: rewrite the hub's branch"
sync_bad "a rewritten history is refused" "$L" origin \
	"cannot sync 'origin': its history was rewritten \(it no longer holds commit $(echo "$old" | cut -c1-12), which it had before\); nothing was changed"
expect_eq "rewritten: L still has the event the remote dropped" "$(git -C "$L" ls-tree --name-only HEAD -- "$lost")" "$lost"
# what a person does about it: forget what the remote held, then sync
"$MREG" -C "$L" remote remove origin >/dev/null && "$MREG" -C "$L" remote add origin "$T/hub.git" >/dev/null ||
	fail "L: remove and add origin again"
check "after remote remove/add: the rewritten history merges" "$MREG" -C "$L" sync --push --no-backup
expect_eq "... keeping the dropped event, and sending it back" "$(git -C "$T/hub.git" ls-tree --name-only main -- "$lost")" "$lost"
git -C "$P" pull -q --no-rebase origin main 2>/dev/null || fail "peer: pull"
git -C "$L" config mreg.breaker.failureThreshold 1000

# ---- remotes that bring what a registry never holds -------------------------------------------
# hostile NAME DESC PATTERN: the peer's last commit pushed to a remote of its
# own (a bare copy of the hub), which L must refuse naming that commit; the
# peer's branch goes back after
good=$(git -C "$P" rev-parse HEAD)
hostile() {
	_name=$1 _desc=$2 _pat=$3
	_c=$(git -C "$P" rev-parse HEAD)
	git clone -q --bare "$T/hub.git" "$T/$_name.git" && git -C "$P" push -q -f "$T/$_name.git" HEAD:main ||
		fail "$_desc: push to $_name"
	"$MREG" -C "$L" remote add "$_name" "$T/$_name.git" >/dev/null
	sync_bad "$_desc" "$L" "$_name" "cannot sync '$_name': commit $(echo "$_c" | cut -c1-12): $_pat.*; nothing was changed"
	git -C "$P" reset -q --hard "$good"
}
ev=$(git -C "$P" ls-tree -r --name-only HEAD -- events | head -1)
evdir=${ev%/*} evid=${ev##*/}
evid=${evid%.json}
printf ' ' >>"$P/$ev" && git -C "$P" commit -qam "edit an event by hand"
hostile edited "a hand-edited event" "'$ev' changed \(events and model files never change\)"
git -C "$P" rm -q "$ev" && git -C "$P" commit -qm "delete an event"
hostile deleted "a deleted event" "'$ev' deleted"
renamed=$evdir/$(echo "$evid" | cut -c1-4)0000000000000000000000000000.json
git -C "$P" mv "$ev" "$renamed" && git -C "$P" commit -qm "rename an event"
hostile renamed "a renamed event" "'($ev|$renamed)' "
echo 'echo pwned' >"$P/evil.sh" && git -C "$P" add evil.sh && git -C "$P" commit -qm "a script at the top"
hostile evil "a file outside the layout at the top" "'evil.sh' a file outside the registry's layout"
mkdir -p "$P/events/zz" && echo notes >"$P/events/zz/notes.txt" && git -C "$P" add events && git -C "$P" commit -qm "notes under events"
hostile notes "a file under events/ outside the layout" "'events/zz(/notes\.txt)?' a (file|directory) outside the registry's layout"
cp "$P/$ev" "$P/$renamed" && git -C "$P" add events && git -C "$P" commit -qm "an event under a name not its hash"
hostile nothash "an event whose name is not its hash" "'$renamed' not a valid event: .*hash to $evid"
printf '{"schema": 99}\n' >"$T/schema99.json"
h=$("$XXH" "$T/schema99.json")
bogus=events/$(echo "$h" | cut -c1-2)/$(echo "$h" | cut -c3-4)/$h.json
mkdir -p "$P/${bogus%/*}" && cp "$T/schema99.json" "$P/$bogus" && git -C "$P" add events && git -C "$P" commit -qm "an event of an unknown schema"
hostile schema "an event of an unknown schema (named by its hash)" "'$bogus' not a valid event"
ln -s /etc/passwd "$P/$renamed" && git -C "$P" add events && git -C "$P" commit -qm "a link under events"
hostile link "a symbolic link under events/" "'$renamed' a symbolic link, where mreg keeps only files"
git -C "$P" update-index --add --cacheinfo "160000,$good,$renamed" && git -C "$P" commit -qm "a submodule under events"
hostile submodule "a submodule under events/" "'$renamed' a submodule, where mreg keeps only files"
git -C "$P" reset -q --hard "$good"
printf '* filter=evil\n' >"$P/.gitattributes" && git -C "$P" add .gitattributes && git -C "$P" commit -qm "attributes for every file"
hostile attributes "a .gitattributes at the top" "'\.gitattributes' a file outside the registry's layout"
printf '[submodule "x"]\n\tpath = x\n\turl = /tmp\n' >"$P/.gitmodules" && git -C "$P" add .gitmodules && git -C "$P" commit -qm "a .gitmodules"
hostile gitmodules "a .gitmodules at the top" "'\.gitmodules' a file outside the registry's layout"
mkdir -p "$P/artifacts/ab/cd" && printf '/.gitattributes merge=union\n* filter=evil\n' >"$P/artifacts/ab/cd/.gitattributes" &&
	git -C "$P" add artifacts && git -C "$P" commit -qm "attributes mreg does not write"
hostile fanattr "a fan-out .gitattributes with a line mreg does not write" "'artifacts/ab/cd/\.gitattributes' holds lines mreg does not write"
printf '{"format": 1,\n' >"$P/mreg.json" && git -C "$P" commit -qam "a policy that is not JSON"
hostile policy "a registry policy that is not a JSON object" "'mreg.json' the registry's policy is not a JSON object"
# a forged clock: an event the peer wrote, its clock set far past what any
# writer could have seen (2^20 past the number of events), named by its new hash
"$MREG" -C "$P" tag m:1 forged >/dev/null || fail "peer: tag"
tagev=$(git -C "$P" diff-tree -r --no-commit-id --name-only HEAD -- events)
cp "$P/$tagev" "$T/tag.json"
sed 's/^  "clock": [0-9]*,$/  "clock": 4000000,/' "$T/tag.json" >"$T/forged.json"
h=$("$XXH" "$T/forged.json")
forged=events/$(echo "$h" | cut -c1-2)/$(echo "$h" | cut -c3-4)/$h.json
git -C "$P" rm -q "$tagev" && mkdir -p "$P/${forged%/*}" && cp "$T/forged.json" "$P/$forged" && git -C "$P" add events &&
	git -C "$P" commit -q --amend -m "tag m:1 forged (its clock forged)" || fail "peer: forge a clock"
expect_eq "the forged event differs from the written one in its clock only" \
	"$(diff "$T/tag.json" "$T/forged.json" | grep -c '^[<>]')" 2
git clone -q --bare "$T/hub.git" "$T/forged.git" && git -C "$P" push -q -f "$T/forged.git" HEAD:main || fail "forged: push"
"$MREG" -C "$L" remote add forged "$T/forged.git" >/dev/null
sync_bad "an event with a forged clock" "$L" forged "cannot sync 'forged': .*clock 4000000.*forged.*nothing was changed"
git -C "$P" reset -q --hard "$good"
# the hostile commit deep in a history that is otherwise good
printf ' ' >>"$P/$ev" && git -C "$P" commit -qam "edit an event by hand" && bad_commit=$(git -C "$P" rev-parse HEAD)
git -C "$P" checkout -q "$good" -- "$ev" && git -C "$P" commit -qm "and put it back"
"$MREG" -C "$P" register m "$T/p3.pt" >/dev/null || fail "peer: register on top"
git clone -q --bare "$T/hub.git" "$T/deep.git" && git -C "$P" push -q -f "$T/deep.git" HEAD:main
"$MREG" -C "$L" remote add deep "$T/deep.git" >/dev/null
sync_bad "an edit undone later is refused all the same" "$L" deep \
	"commit $(echo "$bad_commit" | cut -c1-12): '$ev' changed"
git -C "$P" reset -q --hard "$good"
expect_eq "L: the hostile remotes left nothing behind: fsck" "$("$MREG" -C "$L" fsck >/dev/null 2>&1; echo $?)" 0
expect_eq "L: git status clean" "$(tree_clean "$L")" ""
expect_eq "L: the breaker of each is closed (threshold 1000), one failure each" \
	"$("$MREG" -C "$L" sync status --json | jq -c '[.remotes[] | select(.name != "origin") | [.breaker.state, .consecutive_failures]] | unique')" \
	'[["closed",1]]'
check "sync status names the commit and path of a refusal" sh -c \
	"'$MREG' -C '$L' sync status | grep -q \"last error: .*cannot sync 'edited': commit [0-9a-f]\{12\}: '$ev' changed\""

# ---- the registry's policy (mreg.json), changed by hand -------------------------------------
# changed on one side since the two parted: that side's is taken; changed on
# both: refused, for a person to merge
L2=$T/L2
"$F" clone "$T/hub.git" "$L2" >/dev/null && full_checkout "$L2" || fail "L2: clone"
jq '.backup.max_backups = 5' "$P/mreg.json" >"$T/pol.json" && cp "$T/pol.json" "$P/mreg.json" &&
	git -C "$P" commit -qam "policy: keep 5 backups" || fail "peer: change mreg.json"
git clone -q --bare "$T/hub.git" "$T/pol.git" && git -C "$P" push -q "$T/pol.git" HEAD:main || fail "pol: push"
git -C "$P" reset -q --hard "$good"
"$MREG" -C "$L2" remote add pol "$T/pol.git" >/dev/null
check "a policy changed on the remote's side only" "$MREG" -C "$L2" sync pol --no-backup
check "... is taken" cmp "$T/pol.json" "$L2/mreg.json"
expect_eq "... and read: backup.max_backups" "$(git -C "$L2" show HEAD:mreg.json | jq .backup.max_backups)" 5
jq '.backup.max_backups = 7' "$L2/mreg.json" >"$T/pol7.json" && cp "$T/pol7.json" "$L2/mreg.json" &&
	git -C "$L2" commit -qam "policy: keep 7 backups" || fail "L2: change mreg.json"
"$MREG" -C "$L2" status >/dev/null || fail "L2: status after the commit by hand"
jq '.backup.max_backups = 3' "$P/mreg.json" >"$T/pol3.json" && cp "$T/pol3.json" "$P/mreg.json" &&
	git -C "$P" commit -qam "policy: keep 3 backups" || fail "peer: change mreg.json again"
git clone -q --bare "$T/hub.git" "$T/pol2.git" && git -C "$P" push -q "$T/pol2.git" HEAD:main || fail "pol2: push"
git -C "$P" reset -q --hard "$good"
"$MREG" -C "$L2" remote add pol2 "$T/pol2.git" >/dev/null
sync_bad "a policy changed on both sides is refused" "$L2" pol2 "'mreg.json' was changed on both sides since they parted; merge it by hand"
check "L2: keeps its own policy" cmp "$T/pol7.json" "$L2/mreg.json"
check "L2: fsck" "$MREG" -C "$L2" fsck

# ---- a damaged pack ---------------------------------------------------------------------------
# corrupt NAME: a bare copy of the hub with three events L lacks, all in one pack
corrupt() {
	git clone -q --bare "$T/hub.git" "$T/$1.git"
	for _i in 1 2 3; do model_file "$T/$1$_i.pt" 900; "$MREG" -C "$P" register c "$T/$1$_i.pt" >/dev/null; done
	git -C "$P" push -q "$T/$1.git" HEAD:main && git -C "$T/$1.git" repack -adq || fail "$1: build"
	git -C "$P" reset -q --hard "$good"
	ls "$T/$1.git"/objects/pack/*.pack
}
pack=$(corrupt flipped)
tip=$(git -C "$T/flipped.git" rev-parse main)
at=$(git show-index <"${pack%.pack}.idx" | awk -v id="$tip" '$2 == id { print $1 }')
chmod u+w "$pack"
printf 'DAMAGED!' | dd of="$pack" bs=1 seek=$((at + 4)) conv=notrunc 2>/dev/null
check "flipped: stock git sees the damage" sh -c "! git -C '$T/flipped.git' cat-file -p $tip >/dev/null 2>&1"
"$MREG" -C "$L" remote add flipped "$T/flipped.git" >/dev/null
sync_bad "a pack with damaged bytes" "$L" flipped "cannot fetch from 'flipped'"
pack=$(corrupt cut)
size=$(wc -c <"$pack" | tr -d ' ')
chmod u+w "$pack"
truncate -s $((size / 2)) "$pack"
"$MREG" -C "$L" remote add cut "$T/cut.git" >/dev/null
sync_bad "a pack cut short" "$L" cut "cannot fetch from 'cut'"
check "L: git fsck after the damaged packs" git -C "$L" fsck --no-progress --no-dangling
expect_eq "L: no temporary pack left behind" "$(ls "$L/.git/objects/pack" | grep -cv '^pack-[0-9a-f]*\.\(pack\|idx\|rev\)$')" 0
check "L: a good sync after them" "$MREG" -C "$L" sync origin --no-backup

# ---- a push refused by the server's hook; a push to a work tree ---------------------------------
H=$T/hooked.git
git clone -q --bare "$T/hub.git" "$H"
"$MREG" -C "$P" register m "$T/p4.pt" >/dev/null && git -C "$P" push -q "$H" HEAD:main || fail "hooked: an event L lacks"
git -C "$P" reset -q --hard "$good"
printf '#!/bin/sh\necho "pushes are frozen for the migration" >&2\nexit 1\n' >"$H/hooks/pre-receive"
chmod +x "$H/hooks/pre-receive"
theirs=$(git -C "$H" rev-parse main)
git -C "$P" commit -q --allow-empty -m "nothing" && git -C "$P" push -q "$H" HEAD:refs/heads/probe 2>"$T/probe.err"
expect_eq "the hook refuses a stock git push (exit)" "$?" 1
check "the hook refuses a stock git push (its message)" grep -q "pushes are frozen for the migration" "$T/probe.err"
git -C "$P" reset -q --hard "$good"
check "L: register m (to push)" "$MREG" -C "$L" register m "$T/l1.pt"
"$MREG" -C "$L" remote add hooked "$H" >/dev/null
nL=$(ev_count "$L")
"$MREG" -C "$L" sync hooked --push --no-backup >"$T/.out" 2>"$T/.err"
expect_eq "a push the hook refuses: exit 1" "$?" 1
line=$(grep '^hooked: ' "$T/.out")
if printf '%s\n' "$line" | grep -q "^hooked: failed: .*pushes are frozen for the migration"; then
	ok "a push the hook refuses: the line shows the server's message"
else
	fail "a push the hook refuses: the line shows the server's message"; echo "    # $line"
fi
expect_eq "a push the hook refuses: the server's branch as it was" "$(git -C "$H" rev-parse main)" "$theirs"
expect_eq "a push the hook refuses: the local merge happened" "$(ev_count "$L")" "$((nL + 1))"
expect_eq "a push the hook refuses: sync status has it" "$(rec "$L" hooked '[.consecutive_failures, (.last_error // "" | test("frozen"))]')" '[1,true]'
check "L: fsck after the refused push" "$MREG" -C "$L" fsck
"$MREG" -C "$L" remote add node "$O" >/dev/null
"$MREG" -C "$L" sync node --push --no-backup >"$T/node.out" 2>"$T/node.err"
expect_eq "a push to a node with a work tree: exit 1" "$?" 1
check "a push to a node with a work tree: one line naming it and why" grep -q "^node: failed: .*'node'.*checked out" "$T/node.out"
check "the node with a work tree: fsck" "$MREG" -C "$O" fsck
expect_eq "the node with a work tree: git status clean" "$(tree_clean "$O")" ""

# ---- two pushes race to a path hub ---------------------------------------------------------
# A push must not overwrite what the hub gained after the sync looked at it.
# The hub's pre-receive hook holds the first push that finds a flag (mreg's)
# until the test says go; meanwhile a stock git push lands another node's
# event there.
RH=$T/race.git
git clone -q --bare "$T/hub.git" "$RH"
cat >"$RH/hooks/pre-receive" <<HOOK
#!/bin/sh
if mv '$T/hold' '$T/held' 2>/dev/null; then
	i=0
	while [ ! -e '$T/go' ] && [ \$i -lt 600 ]; do sleep 0.05; i=\$((i + 1)); done
fi
exit 0
HOOK
chmod +x "$RH/hooks/pre-receive"
"$F" clone "$RH" "$T/RA" >/dev/null && git -C "$T/RA" config mreg.actor node-RA || fail "RA: clone"
git clone -q "$RH" "$T/RP" && git -C "$T/RP" config mreg.actor node-RP || fail "RP: git clone"
model_file "$T/ra.pt" 500
model_file "$T/rp.pt" 500
"$MREG" -C "$T/RA" register m "$T/ra.pt" >/dev/null || fail "RA: register"
"$MREG" -C "$T/RP" register m "$T/rp.pt" >/dev/null || fail "RP: register"
rp=$(git -C "$T/RP" rev-parse HEAD)
touch "$T/hold"
"$MREG" -C "$T/RA" sync --push --no-backup >"$T/race.out" 2>"$T/race.err" &
pid=$!
i=0
while [ ! -e "$T/held" ] && kill -0 "$pid" 2>/dev/null && [ "$i" -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
check "race: mreg's push is at the hub, held by its hook" test -e "$T/held"
check "race: meanwhile a stock git push lands RP's event" git -C "$T/RP" push -q origin HEAD:main
touch "$T/go"
wait "$pid"
expect_eq "race: mreg's push fails (exit)" "$?" 1
check "race: one line says so" grep -q "^origin: failed: " "$T/race.out"
check "race: the hub's branch still holds RP's event" git -C "$RH" merge-base --is-ancestor "$rp" main
check "race: RP syncs on (its hub was not rewritten under it)" "$MREG" -C "$T/RP" sync --no-backup
check "race: RA syncs again and pushes" "$MREG" -C "$T/RA" sync --push --no-backup
check "race: then the hub holds both" sh -c "git -C '$RH' merge-base --is-ancestor $rp main &&
	git -C '$RH' merge-base --is-ancestor $(git -C "$T/RA" rev-parse HEAD) main"

# ---- a remote whose branch has another name ----------------------------------------------
# ms.git keeps the registry on master (its HEAD), with an event L lacks. A
# sync must not call that "ok, nothing new": it takes master's events (the
# branch the remote serves) or fails naming the branch; a push must not leave
# a second branch beside the remote's own.
MS=$T/ms.git
git init -q --bare -b master "$MS"
"$MREG" -C "$P" register m "$T/p3.pt" >/dev/null && git -C "$P" push -q "$MS" HEAD:master || fail "ms: build"
msev=$(git -C "$P" diff-tree -r --no-commit-id --name-only HEAD -- events)
git -C "$P" reset -q --hard "$good"
"$MREG" -C "$L" remote add ms "$MS" >/dev/null
"$MREG" -C "$L" sync ms --no-backup >"$T/ms.out" 2>&1
rc=$?
if [ "$rc" -eq 0 ] && [ -n "$(git -C "$L" ls-tree --name-only HEAD -- "$msev")" ]; then
	ok "a remote on master: its events arrive"
elif [ "$rc" -eq 1 ] && grep -q "^ms: failed: .*\(main\|master\)" "$T/ms.out"; then
	ok "a remote on master: refused, naming the branch"
else
	fail "a remote on master: neither its events nor a refusal naming the branch (exit $rc)"
	sed 's/^/    # /' "$T/ms.out"
fi
"$MREG" -C "$L" sync ms --push --no-backup >"$T/ms.out" 2>&1
expect_eq "a remote on master: a push leaves it one branch" "$(git -C "$MS" for-each-ref --format='%(refname)' refs/heads)" refs/heads/master

# ---- unrelated histories -------------------------------------------------------------------
U=$T/U
new_registry_full "$U"
check "U: an unrelated registry with an event" "$MREG" -C "$U" register u "$T/u1.pt"
"$MREG" -C "$L" remote add u "$U" >/dev/null
sync_bad "an unrelated history is refused" "$L" u "cannot sync 'u': its history is unrelated to this registry's; nothing was changed"
E=$T/E
new_registry_full "$E"
"$MREG" -C "$E" remote add hub "$T/hub.git" >/dev/null
check "a registry with no events adopts the remote's history" "$MREG" -C "$E" sync
expect_eq "adopted: the report" "$(head -1 "$T/.out")" "hub: ok: $(ev_count "$T/hub.git") events received, 0 sent (adopted)"
expect_eq "adopted: the hub's commit" "$(git -C "$E" rev-parse HEAD)" "$(git -C "$T/hub.git" rev-parse main)"
"$F" clone "$T/hub.git" "$T/ref" >/dev/null
if diff -r "$T/ref/state" "$E/state" >/dev/null 2>&1; then ok "adopted: the state of a clone of the hub"; else fail "adopted: the state of a clone of the hub"; fi
check "adopted: fsck" "$MREG" -C "$E" fsck
expect_eq "adopted: git status clean" "$(tree_clean "$E")" ""
# a plain git repository is no registry, even for one with nothing to lose
git init -q "$T/plain" && echo hello >"$T/plain/README" && git -C "$T/plain" add README && git -C "$T/plain" commit -qm readme
E2=$T/E2
new_registry_full "$E2"
"$MREG" -C "$E2" remote add plain "$T/plain" >/dev/null
sync_bad "a plain git repository is not adopted" "$E2" plain "'README' a file outside the registry's layout"

# ---- --dry-run ---------------------------------------------------------------------------
"$MREG" -C "$P" register m "$T/p5.pt" >/dev/null && "$MREG" -C "$P" tag m:1 dry >/dev/null &&
	git -C "$P" push -q origin HEAD:main || fail "peer: two events to the hub"
check "L: register m (something to push)" "$MREG" -C "$L" register m "$T/l2.pt"
before=$(snapshot "$L")
cp "$L/.git/mreg/sync.json" "$T/sync.json.before"
nb=$("$MREG" -C "$L" backup list --json | jq length)
hub_before=$(git -C "$T/hub.git" rev-parse main)
"$MREG" -C "$L" sync origin --dry-run --push >"$T/.out" 2>"$T/.err"
expect_eq "--dry-run: exit 0" "$?" 0
expect_eq "--dry-run: reports what it would receive, and that it would merge" "$(cat "$T/.out")" \
	"origin: ok: 2 events received, 0 sent (merge)
dry run: 1 of 1 nodes synced: 2 events received, 0 sent, 1 models changed, 0 versions renumbered, 0 conflicts"
expect_eq "--dry-run: nothing on stderr" "$(cat "$T/.err")" ""
expect_eq "--dry-run: the registry as it was" "$(snapshot "$L")" "$before"
check "--dry-run: sync.json as it was" cmp "$T/sync.json.before" "$L/.git/mreg/sync.json"
expect_eq "--dry-run: no backup" "$("$MREG" -C "$L" backup list --json | jq length)" "$nb"
expect_eq "--dry-run --push: nothing pushed" "$(git -C "$T/hub.git" rev-parse main)" "$hub_before"
"$MREG" -C "$L" --json sync edited --dry-run >"$T/dry.json"
expect_eq "--dry-run of a hostile remote: exit 1, reported" "$?:$(jq -r '.remotes[0].result' "$T/dry.json")" "1:failed"
check "--dry-run of a hostile remote: sync.json as it was" cmp "$T/sync.json.before" "$L/.git/mreg/sync.json"
check "after the dry run, the sync" "$MREG" -C "$L" sync origin --no-backup
expect_eq "the sync brings the two events" "$(head -1 "$T/.out")" "origin: ok: 2 events received, 0 sent (merge)"

# ---- a fetch of thousands of events killed with SIGKILL ---------------------------------------
# many.git: the hub and 3,000 more events, one commit each (made by mreg
# migrate of a database built here, replayed with git fast-import)
S=$T/S
bulk_registry "$S" many 3 3000
M=$T/many.git
git clone -q --bare "$T/hub.git" "$M"
replay_one_by_one "$S" "$M"
git -C "$M" gc -q --prune=now
expect_eq "many.git: 3,000 events more than the hub" "$(ev_count "$M")" "$(($(ev_count "$T/hub.git") + 3000))"
many_head=$(git -C "$M" rev-parse main)
"$F" clone "$M" "$T/R" >/dev/null || fail "R: a clone of many.git, undisturbed"

# killed K WHEN: a clone of the hub syncs many.git and is killed with SIGKILL
# when WHEN says; then the next sync must succeed and leave it as R is
killed() {
	_k=$T/$1 _when=$2
	"$F" clone "$T/hub.git" "$_k" >/dev/null || fail "$1: clone"
	"$MREG" -C "$_k" remote add many "$M" >/dev/null
	_head=$(git -C "$_k" rev-parse HEAD)
	_packs=$(ls "$_k/.git/objects/pack" | grep -c '\.idx$')
	"$MREG" -C "$_k" sync many --no-backup >/dev/null 2>&1 &
	_pid=$!
	_i=0 _hit=no
	while kill -0 "$_pid" 2>/dev/null && [ "$_i" -lt 200000 ]; do
		case $_when in
		pack) ls "$_k/.git/objects/pack" | grep -qE '^(pack_git2_|tmp_pack_)' && _hit=yes ;;
		fetched) [ "$(ls "$_k/.git/objects/pack" | grep -c '\.idx$')" -gt "$_packs" ] && _hit=yes ;;
		moved) [ "$(cat "$_k/.git/refs/heads/main" 2>/dev/null || echo "$_head")" != "$_head" ] && _hit=yes ;;
		esac
		[ "$_hit" = yes ] && { kill -KILL "$_pid" 2>/dev/null; break; }
		_i=$((_i + 1))
	done
	wait "$_pid" 2>/dev/null
	_rc=$?
	_now=$(git -C "$_k" rev-parse HEAD)
	if [ "$_now" = "$_head" ]; then _moved="before the branch moved"; else _moved="after the branch moved"; fi
	echo "# $1: killed when '$_when' was seen ($_hit), exit $_rc, $_moved"
	expect_eq "$1: the kill landed ($_when)" "$_hit:$_rc" yes:137
	check "$1: mreg status after the kill" "$MREG" -C "$_k" status
	check "$1: the next sync succeeds" "$MREG" -C "$_k" sync many --no-backup
	expect_eq "$1: its report" "$(head -1 "$T/.out" | sed 's/ ([a-z-]*)$//')" \
		"many: ok: $([ "$_now" = "$_head" ] && echo 3000 || echo 0) events received, 0 sent"
	expect_eq "$1: at many.git's commit" "$(git -C "$_k" rev-parse HEAD)" "$many_head"
	expect_eq "$1: the remote-tracking ref" "$(git -C "$_k" rev-parse refs/remotes/many/main)" "$many_head"
	if diff -r "$T/R/state" "$_k/state" >/dev/null 2>&1; then ok "$1: the state of an undisturbed sync"; else fail "$1: the state of an undisturbed sync"; fi
	check "$1: mreg fsck" "$MREG" -C "$_k" fsck
	check "$1: git fsck" git -C "$_k" fsck --no-progress --no-dangling
	expect_eq "$1: git status clean" "$(tree_clean "$_k")" ""
	expect_eq "$1: sync status: many synced, no failure" "$(rec "$_k" many '[.breaker.state, .consecutive_failures]')" '["closed",0]'
	if [ "$1" = K1 ]; then
		# what the killed fetch was writing is garbage to git; mreg gc clears it
		check "$1: mreg gc" "$MREG" -C "$_k" gc
		expect_eq "$1: after mreg gc, git count-objects finds no garbage" \
			"$(git -C "$_k" count-objects -v 2>/dev/null | grep '^garbage:')" "garbage: 0"
	fi
}
killed K1 pack
killed K2 fetched
killed K3 moved
expect_eq "many.git untouched by the killed syncs" "$(git -C "$M" rev-parse main)" "$many_head"
check "many.git: git fsck" git -C "$M" fsck --no-progress --no-dangling

# ---- local writes while a sync of 3,000 events runs: none is lost ---------------------------
K4=$T/K4
"$F" clone "$T/hub.git" "$K4" >/dev/null || fail "K4: clone"
git -C "$K4" config mreg.actor node-K4
"$MREG" -C "$K4" remote add many "$M" >/dev/null
n0=$(ev_count "$K4")
model_file "$T/w.pt" 400
"$MREG" -C "$K4" sync many --no-backup >"$T/k4.out" 2>"$T/k4.err" &
pid=$!
n=0
while kill -0 "$pid" 2>/dev/null && [ "$n" -lt 40 ]; do
	n=$((n + 1))
	"$F" -C "$K4" register w "$T/w.pt" >/dev/null 2>>"$T/k4.writes" || echo "write $n failed" >>"$T/k4.writes"
	sleep 0.1
done
wait "$pid"
expect_eq "K4: the sync succeeds beside the writes" "$?" 0
echo "# K4: $n registrations while the sync ran"
if [ "$n" -ge 2 ]; then ok "K4: writes ran during the sync ($n)"; else fail "K4: writes ran during the sync ($n)"; fi
expect_eq "K4: every write succeeded" "$(cat "$T/k4.writes" 2>/dev/null)" ""
expect_eq "K4: every event is there: the hub's, many's 3,000 and the $n written" "$(ev_count "$K4")" "$((n0 + 3000 + n))"
expect_eq "K4: w has versions 1..$n" "$("$MREG" -C "$K4" list --model w --json | jq -c '[.[].version] | sort | [first, last, length]')" "[1,$n,$n]"
check "K4: mreg fsck" "$MREG" -C "$K4" fsck
expect_eq "K4: git status clean" "$(tree_clean "$K4")" ""
check "K4: many.git is in its history" git -C "$K4" merge-base --is-ancestor "$many_head" HEAD
check "K4: the next sync" "$MREG" -C "$K4" sync many --no-backup
expect_eq "K4: has nothing more to take" "$(head -1 "$T/.out")" "many: ok: 0 events received, 0 sent"

finish

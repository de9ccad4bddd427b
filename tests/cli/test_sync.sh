#!/bin/sh
# mreg clone, remote and sync, the basics, on local paths and file:// URLs:
# a clone is the origin's history and state; remotes are git remotes (git
# remote -v agrees); a sync with nothing new changes nothing; a fast-forward;
# a merge (two parents, `sync: merge <remote> (<n> events)`, the renumbered
# version and the conflict reported); --push to a bare hub; the pre-sync
# backup and --no-backup; the --json report and `sync status --json`;
# `sync --every default` (mreg.syncInterval) stopped by SIGTERM after two
# rounds; usage errors; a node that was offline for a long time taking
# 10,000 events in one round of its `sync --every`, stopped by SIGTERM in the
# middle of that round, which it finishes first.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/bulk.sh"
fast_copy
F=$T/mreg-fast

# ev_count DIR: event files in HEAD's tree
ev_count() {
	git -C "$1" ls-tree -r --name-only HEAD -- events | grep -c '\.json$'
}

# same_state DESC DIR1 DIR2: byte-identical state/ and the same tree
same_state() {
	if diff -r "$2/state" "$3/state" >"$T/.diff" 2>&1; then ok "$1: state/ byte-identical"
	else fail "$1: state/ byte-identical"; head -10 "$T/.diff" | sed 's/^/    # /'; fi
	expect_eq "$1: the same tree" "$(git -C "$3" rev-parse 'HEAD^{tree}')" "$(git -C "$2" rev-parse 'HEAD^{tree}')"
}

# clean DESC DIR: git status clean and mreg fsck clean
clean() {
	expect_eq "$1: git status clean" "$(tree_clean "$2")" ""
	check "$1: mreg fsck" "$MREG" -C "$2" fsck
}

# pre_sync DIR: how many pre_sync backups DIR has
pre_sync() {
	"$MREG" -C "$1" backup list --json | jq '[.[] | select(.reason == "pre_sync")] | length'
}

O=$T/origin
new_registry_full "$O"
for f in o1 o2 o3 o4 o5 a1 a2 b1; do model_file "$T/$f.pt" 1200; done
check "origin: register m:1" "$MREG" -C "$O" register m "$T/o1.pt" --metric elo=1500
check "origin: register m:2" "$MREG" -C "$O" register m "$T/o2.pt"
check "origin: promote m:1 to staging" "$MREG" -C "$O" promote m:1 --to staging

# ---- clone ----------------------------------------------------------------------------
A=$T/A
check "clone the origin by path" "$MREG" clone "$O" "$A"
expect_eq "clone says what came" "$(cat "$T/.out")" "Cloned $O into $A: 3 events, 1 models, 2 versions"
git -C "$A" config mreg.actor node-A
expect_eq "clone: the origin's commit" "$(git -C "$A" rev-parse HEAD)" "$(git -C "$O" rev-parse HEAD)"
same_state "clone" "$O" "$A"
clean "clone" "$A"
expect_eq "clone: the branch is the origin's" "$(git -C "$A" symbolic-ref HEAD)" refs/heads/main
expect_eq "clone: remote list" "$("$MREG" -C "$A" remote list)" "$(printf 'origin\t%s' "$O")"
expect_eq "clone: git remote -v agrees" "$(git -C "$A" remote -v)" "$(printf 'origin\t%s (fetch)\norigin\t%s (push)' "$O" "$O")"
expect_eq "clone: the remote-tracking ref, as git fetch leaves it" "$(git -C "$A" rev-parse refs/remotes/origin/main)" \
	"$(git -C "$O" rev-parse HEAD)"
check "clone: git fetch works with what clone configured" git -C "$A" fetch -q origin
expect_eq "clone made no backup" "$("$MREG" -C "$A" backup list --json | jq length)" 0
check "clone --json of a file:// URL" "$MREG" --json clone "file://$O" "$T/A2"
expect_eq "clone --json: its keys" "$(jq -c 'keys_unsorted' "$T/.out")" '["path","url","head","events","models","versions","files_not_here"]'
expect_eq "clone --json: counts and head" "$(jq -c '[.events, .models, .versions, .head, .files_not_here]' "$T/.out")" \
	"[3,1,2,\"$(git -C "$O" rev-parse HEAD)\",[]]"
same_state "clone of file://" "$O" "$T/A2"

mkdir "$T/full" && echo keep >"$T/full/file"
expect_fail "clone into a directory that is not empty" 1 "cannot clone into '.*full'.*not empty" \
	"$MREG" clone "$O" "$T/full"
expect_eq "that directory is as it was" "$(ls -A "$T/full")" file
expect_fail "clone of a path that does not exist" 1 "nowhere" "$MREG" clone "$T/nowhere" "$T/A3"
check "a failed clone leaves no directory behind" test ! -e "$T/A3"
# a relative path: git clone stores it absolute, so the clone syncs from anywhere
(cd "$T" && "$MREG" clone origin rel >/dev/null 2>&1) || fail "clone by a relative path"
mkdir -p "$T/elsewhere"
(cd "$T/elsewhere" && "$MREG" -C "$T/rel" sync --no-backup) >"$T/.out" 2>&1
rc=$?
expect_eq "a clone by a relative path syncs from another directory (exit)" "$rc" 0
expect_eq "a clone by a relative path syncs from another directory (report)" "$(head -1 "$T/.out")" \
	"origin: ok: 0 events received, 0 sent"
expect_eq "a clone by a relative path: git fetch agrees" "$(git -C "$T/rel" fetch -q origin 2>/dev/null && echo fetched)" fetched

# ---- remote add / remove / list -----------------------------------------------------------
check "remote add peer (path)" "$MREG" -C "$A" remote add peer "$T/A2"
expect_eq "remote add says so" "$(cat "$T/.out")" "Added remote peer"
check "remote add hubf (file://)" "$MREG" -C "$A" remote add hubf "file://$T/hub.git"
expect_eq "remote list, by name" "$("$MREG" -C "$A" remote list)" \
	"$(printf 'hubf\tfile://%s\norigin\t%s\npeer\t%s' "$T/hub.git" "$O" "$T/A2")"
expect_eq "remote list --json" "$("$MREG" -C "$A" remote list --json | jq -c .)" \
	"[{\"name\":\"hubf\",\"url\":\"file://$T/hub.git\"},{\"name\":\"origin\",\"url\":\"$O\"},{\"name\":\"peer\",\"url\":\"$T/A2\"}]"
expect_eq "git remote -v agrees" "$(git -C "$A" remote -v | grep '(fetch)' | sed 's/ (fetch)//')" \
	"$(printf 'hubf\tfile://%s\norigin\t%s\npeer\t%s' "$T/hub.git" "$O" "$T/A2")"
expect_eq "git config: the fetch refspec git remote add writes" "$(git -C "$A" config --get-all remote.peer.fetch)" \
	"+refs/heads/*:refs/remotes/peer/*"
git -C "$A" remote add viagit "$T/A2"
expect_eq "a remote git added is one mreg lists" "$("$MREG" -C "$A" remote list | grep -c '^viagit	')" 1
bad "remote add of a name taken" 1 "remote 'peer' already exists" "$A" "$MREG" -C "$A" remote add peer "$T/other"
bad "remote add of an invalid name" 1 "invalid remote name 'a b'" "$A" "$MREG" -C "$A" remote add "a b" "$T/other"
bad "remote add of an empty URL" 1 "invalid URL ''" "$A" "$MREG" -C "$A" remote add empty ""
bad "remote remove of a remote that is not there" 1 "no remote 'nosuch'" "$A" "$MREG" -C "$A" remote remove nosuch
check "sync peer once (its remote-tracking ref and record)" "$MREG" -C "$A" sync peer --no-backup
expect_eq "sync status lists peer" "$("$MREG" -C "$A" sync status --json | jq -r '[.remotes[].name] | join(" ")')" \
	"hubf origin peer viagit"
check "remote remove peer" "$MREG" -C "$A" remote remove peer
expect_eq "remote remove says so" "$(cat "$T/.out")" "Removed remote peer"
expect_eq "git remote -v: peer gone" "$(git -C "$A" remote -v | grep -c '^peer' | tr -d ' ')" 0
expect_eq "git config: nothing of peer left" "$(git -C "$A" config --get-regexp '^remote\.peer\.' | wc -l | tr -d ' ')" 0
expect_eq "its remote-tracking refs are gone" "$(git -C "$A" for-each-ref refs/remotes/peer | wc -l | tr -d ' ')" 0
expect_eq "sync status: its record is gone" "$("$MREG" -C "$A" sync status --json | jq -r '[.remotes[].name] | join(" ")')" \
	"hubf origin viagit"
git -C "$A" remote remove viagit
# a relative path given to remote add means what git takes it to mean
(cd "$T" && "$MREG" -C A remote add relpeer A2 >/dev/null 2>&1) || fail "remote add by a relative path"
(cd "$T/elsewhere" && "$MREG" -C "$A" sync relpeer --no-backup) >"$T/.out" 2>&1
expect_eq "remote added by a relative path: sync from another directory" "$(head -1 "$T/.out")" \
	"relpeer: ok: 0 events received, 0 sent"
expect_eq "remote added by a relative path: git fetch reaches the same repository" \
	"$(git -C "$A" fetch -q relpeer 2>/dev/null && echo fetched)" fetched
"$MREG" -C "$A" remote remove relpeer >/dev/null 2>&1

# ---- sync with nothing new -----------------------------------------------------------
before=$(snapshot "$A")
"$MREG" -C "$A" sync origin --no-backup >"$T/.out" 2>"$T/.err"
expect_eq "nothing new: exit 0" "$?" 0
expect_eq "nothing new: the report" "$(cat "$T/.out")" \
	"origin: ok: 0 events received, 0 sent
1 of 1 nodes synced: 0 events received, 0 sent, 0 models changed, 0 versions renumbered, 0 conflicts"
expect_eq "nothing new: nothing on stderr" "$(cat "$T/.err")" ""
expect_eq "nothing new: the registry as it was" "$(snapshot "$A")" "$before"

# ---- fast-forward ----------------------------------------------------------------------
check "origin: register m:3" "$MREG" -C "$O" register m "$T/o3.pt"
check "origin: tag m:3" "$MREG" -C "$O" tag m:3 fresh
before=$(git -C "$A" rev-parse HEAD)
check "sync: fast-forward" "$MREG" -C "$A" sync origin --no-backup
expect_eq "fast-forward: the report" "$(head -1 "$T/.out")" "origin: ok: 2 events received, 0 sent (fast-forward)"
expect_eq "fast-forward: the summary" "$(tail -1 "$T/.out")" \
	"1 of 1 nodes synced: 2 events received, 0 sent, 1 models changed, 0 versions renumbered, 0 conflicts"
expect_eq "fast-forward: A is at the origin's commit" "$(git -C "$A" rev-parse HEAD)" "$(git -C "$O" rev-parse HEAD)"
expect_eq "fast-forward: no merge commit" "$(git -C "$A" rev-list --merges "$before..HEAD" | wc -l | tr -d ' ')" 0
expect_eq "fast-forward: in the reflog" "$(git -C "$A" reflog -1 --format=%gs refs/heads/main)" "mreg: sync: fast-forward to origin"
same_state "fast-forward" "$O" "$A"
clean "fast-forward" "$A"
expect_eq "fast-forward: show m:3" "$("$MREG" -C "$A" show m:3 --json | jq -c .tags)" '["fresh"]'

# ---- merge: a version number claimed twice, a promotion two ways ----------------------
check "A: register m (claims m:4)" "$MREG" -C "$A" register m "$T/a1.pt"
check "A: promote m:2 to staging" "$MREG" -C "$A" promote m:2 --to staging -r "A takes m:2"
check "origin: register m (claims m:4)" "$MREG" -C "$O" register m "$T/o4.pt"
check "origin: reject m:2" "$MREG" -C "$O" reject m:2
refA=$("$MREG" -C "$A" show m:4 --json | jq -r .ref)
refO=$("$MREG" -C "$O" show m:4 --json | jq -r .ref)
pA=$("$MREG" -C "$A" log --json | jq -r '.[-1].id')
pO=$("$MREG" -C "$O" log --json | jq -r '.[-1].id')
ours=$(git -C "$A" rev-parse HEAD)
theirs=$(git -C "$O" rev-parse HEAD)
check "sync: merge" "$MREG" -C "$A" sync origin --no-backup
# both m:4 claims have the same clock: the lower id keeps 4; both promotions
# of m:2 too: the lower id applies, the other is the conflict
lowest() { printf '%s\n%s\n' "$1" "$2" | LC_ALL=C sort | head -1; }
if [ "$(lowest "$refA" "$refO")" = "$refA" ]; then lose=$refO; else lose=$refA; fi
if [ "$(lowest "$pA" "$pO")" = "$pA" ]; then conf=$pO stage=staging; else conf=$pA stage=rejected; fi
expect_eq "merge: the report" "$(cat "$T/.out")" \
	"origin: ok: 2 events received, 0 sent (merge)
renumbered: m:4 is now m:5 ($lose)
conflict: version.promoted m:2: $("$MREG" -C "$A" status --json | jq -r '.conflicts[0].message')
1 of 1 nodes synced: 2 events received, 0 sent, 1 models changed, 1 versions renumbered, 1 conflicts"
expect_eq "merge: the conflict is the later promotion" "$("$MREG" -C "$A" status --json | jq -r '[.conflicts[].event] | join(" ")')" "$conf"
expect_eq "merge: m:2 is $stage" "$("$MREG" -C "$A" show m:2 --json | jq -r .stage)" "$stage"
expect_eq "merge: commit message" "$(git -C "$A" log -1 --format=%s)" "sync: merge origin (2 events)"
expect_eq "merge: its trailer" "$(git -C "$A" log -1 --format=%B | grep '^Mreg-Type:')" "Mreg-Type: merge"
expect_eq "merge: two parents, ours first" "$(git -C "$A" log -1 --format=%P)" "$ours $theirs"
expect_eq "merge: the author is the node's actor" "$(git -C "$A" log -1 --format=%an)" node-A
expect_eq "merge: git log reads: the merge, then what it brought" "$(git -C "$A" log --format=%s "$ours..HEAD")" \
	"$(printf 'sync: merge origin (2 events)\n%s' "$(git -C "$O" log --format=%s -2)")"
check "merge: git log --graph" git -C "$A" log --graph --oneline
expect_eq "merge: the tree is the union of both" \
	"$(git -C "$A" ls-tree -r --name-only HEAD | sort | tr '\n' ' ')" \
	"$( (git -C "$A" ls-tree -r --name-only HEAD^1; git -C "$A" ls-tree -r --name-only HEAD^2) | sort -u | tr '\n' ' ')"
expect_eq "merge: the remote-tracking ref is the origin's head" "$(git -C "$A" rev-parse refs/remotes/origin/main)" "$theirs"
clean "merge" "$A"
expect_eq "merge: show m:5 says it was claimed as v4" "$("$MREG" -C "$A" show m:5 --json | jq -r '"\(.ref) \(.claimed_version)"')" "$lose 4"

# ---- --push to a bare hub ---------------------------------------------------------------
git init -q --bare "$T/hub.git"
check "remote add hub" "$MREG" -C "$A" remote add hub "$T/hub.git"
nA=$(ev_count "$A")
check "sync hub --push into an empty hub" "$MREG" -C "$A" sync hub --push --no-backup
expect_eq "push: the report" "$(head -1 "$T/.out")" "hub: ok: 0 events received, $nA sent"
expect_eq "push: the hub's branch is A's" "$(git -C "$T/hub.git" rev-parse main)" "$(git -C "$A" rev-parse HEAD)"
expect_eq "push: the remote-tracking ref follows" "$(git -C "$A" rev-parse refs/remotes/hub/main)" "$(git -C "$A" rev-parse HEAD)"
check "push: git fsck of the hub" git -C "$T/hub.git" fsck --no-progress
check "sync hub --push again" "$MREG" -C "$A" sync hub --push --no-backup
expect_eq "push again: nothing to send" "$(head -1 "$T/.out")" "hub: ok: 0 events received, 0 sent"
B=$T/B
check "B: mreg clone of the hub" "$MREG" clone "$T/hub.git" "$B"
git -C "$B" config mreg.actor node-B
same_state "B from the hub" "$A" "$B"
check "B: register m:6" "$MREG" -C "$B" register m "$T/b1.pt"
check "B: sync --push" "$MREG" -C "$B" sync --push --no-backup
expect_eq "B: pushed one event" "$(head -1 "$T/.out")" "origin: ok: 0 events received, 1 sent"
check "A: register m (claims m:6)" "$MREG" -C "$A" register m "$T/a2.pt"
check "A: sync hub --push: merge and push" "$MREG" -C "$A" sync hub --push --no-backup
expect_eq "A: merged B's, sent its own and the merge" "$(head -1 "$T/.out")" "hub: ok: 1 events received, 1 sent (merge)"
expect_eq "the hub has A's merge" "$(git -C "$T/hub.git" rev-parse main)" "$(git -C "$A" rev-parse HEAD)"
check "B: sync: fast-forward to A's merge" "$MREG" -C "$B" sync --no-backup
same_state "A and B through the hub" "$A" "$B"
clean "B after the hub" "$B"
git clone -q "$T/hub.git" "$T/stock"
expect_eq "a stock git clone of the hub has the same tree" "$(git -C "$T/stock" rev-parse 'HEAD^{tree}')" \
	"$(git -C "$A" rev-parse 'HEAD^{tree}')"
# a node whose clock is years behind: its commits are dated in the past (as
# mreg on that node dates them; made here by re-dating B's with stock git)
for i in 1 2 3 4 5 6 7 8; do
	model_file "$T/late$i.pt" 300
	"$MREG" -C "$B" register late "$T/late$i.pt" >/dev/null || fail "B: register late:$i"
done
p=$(git -C "$B" rev-parse HEAD~8)
for c in $(git -C "$B" rev-list --reverse HEAD~8..HEAD); do
	p=$(GIT_COMMITTER_DATE=2020-01-01T00:00:00Z GIT_AUTHOR_DATE=2020-01-01T00:00:00Z \
		git -C "$B" commit-tree "$c^{tree}" -p "$p" -m "$(git -C "$B" log -1 --format=%B "$c")")
done
git -C "$B" update-ref refs/heads/main "$p" && git -C "$B" push -q origin main 2>/dev/null || fail "B: push the late commits"
check "A: register m (beside the late ones)" "$MREG" -C "$A" register m "$T/o4.pt" --id early
check "A: sync hub --push, the hub's history dated years back" "$MREG" -C "$A" sync hub --push --no-backup
expect_eq "a history dated in the past: received 8, sent A's one" "$(head -1 "$T/.out")" "hub: ok: 8 events received, 1 sent (merge)"
check "B: sync" "$MREG" -C "$B" sync --no-backup
same_state "A and B after the late history" "$A" "$B"

# ---- the pre-sync backup ---------------------------------------------------------------
n0=$(pre_sync "$A")
check "A: register m:8" "$MREG" -C "$A" register m "$T/o5.pt"
head_before=$(git -C "$A" rev-parse HEAD)
check "sync with a backup (the default)" "$MREG" -C "$A" --json sync hub --push
bid=$(jq -r .backup "$T/.out")
expect_eq "a pre_sync backup was made" "$(pre_sync "$A")" "$((n0 + 1))"
expect_eq "the report names it" "$("$MREG" -C "$A" backup list --json | jq -r '.[0].id')" "$bid"
expect_eq "it holds the head from before the sync" "$("$MREG" -C "$A" backup show "$bid" --json | jq -r .head)" "$head_before"
expect_eq "backup list shows the reason" "$("$MREG" -C "$A" backup list | grep -c "^$bid .* pre_sync$")" 1
check "the pre_sync backup verifies" "$MREG" -C "$A" backup verify "$bid"
check "sync again, nothing new anywhere" "$MREG" -C "$A" --json sync hub --push
expect_eq "no new backup when the newest holds HEAD" "$(pre_sync "$A")" "$((n0 + 1))"
expect_eq "the report names the newest backup" "$(jq -r .backup "$T/.out")" "$bid"
check "A: tag m:8" "$MREG" -C "$A" tag m:8 nobackup
check "sync --no-backup" "$MREG" -C "$A" --json sync hub --push --no-backup
expect_eq "--no-backup: no backup" "$(pre_sync "$A")" "$((n0 + 1))"
expect_eq "--no-backup: the report's backup is null" "$(jq .backup "$T/.out")" null

# ---- the --json report -------------------------------------------------------------------
check "B: sync" "$MREG" -C "$B" sync --no-backup
check "B: register other:1" "$MREG" -C "$B" register m "$T/o1.pt" --id other
check "B: sync --push" "$MREG" -C "$B" sync --push --no-backup
"$MREG" -C "$A" --json sync hub origin --no-backup >"$T/r.json" 2>"$T/r.err"
expect_eq "--json: exit 0" "$?" 0
expect_eq "--json: nothing on stderr" "$(cat "$T/r.err")" ""
check "--json: stdout is one JSON document" jq -e . "$T/r.json"
expect_eq "--json: the report's keys" "$(jq -c 'keys_unsorted' "$T/r.json")" \
	'["started","dry_run","backup","remotes","nodes_synced","nodes_failed","events_received","events_sent","models_changed","versions_renumbered","conflicts","head","finished","ok"]'
expect_eq "--json: a remote's keys" "$(jq -c '.remotes[0] | keys_unsorted' "$T/r.json")" \
	'["name","url","result","error","events_received","events_sent","commits_received","how","head","files_not_here","breaker","consecutive_failures","next_try"]'
expect_eq "--json: the remotes in the order given" "$(jq -c '[.remotes[].name]' "$T/r.json")" '["hub","origin"]'
expect_eq "--json: hub's item" "$(jq -c '.remotes[0] | [.url, .result, .error, .events_received, .events_sent, .commits_received, .how, .breaker, .consecutive_failures, .next_try]' "$T/r.json")" \
	"[\"$T/hub.git\",\"ok\",null,1,0,1,\"fast-forward\",\"closed\",0,null]"
expect_eq "--json: the totals" "$(jq -c '[.dry_run, .nodes_synced, .nodes_failed, .events_received, .models_changed, .ok]' "$T/r.json")" \
	'[false,2,0,1,["other"],true]'
expect_eq "--json: head is HEAD" "$(jq -r .head "$T/r.json")" "$(git -C "$A" rev-parse HEAD)"
expect_eq "--json: started and finished are times" \
	"$(jq -r '[.started, .finished] | map(test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$")) | all' "$T/r.json")" true
"$MREG" -C "$A" sync status --json >"$T/s.json"
expect_eq "sync status --json: its keys" "$(jq -c 'keys_unsorted' "$T/s.json")" \
	'["last_round","files_not_here","models","versions","events","conflicts","remotes"]'
expect_eq "sync status --json: a remote's keys" "$(jq -c '.remotes[0] | keys_unsorted' "$T/s.json")" \
	'["name","url","last_try","last_success","last_error","last_error_at","consecutive_failures","events_received","last_events_received","breaker"]'
expect_eq "sync status --json: the breaker's keys" "$(jq -c '.remotes[0].breaker | keys_unsorted' "$T/s.json")" \
	'["state","failures","opens","open_until","half_open_calls"]'
expect_eq "sync status --json: the last round" "$(jq -c '.last_round | [.nodes_synced, .nodes_failed, .events_received, .events_sent]' "$T/s.json")" \
	'[2,0,1,0]'
expect_eq "sync status --json: counts are the state's" "$(jq -c '[.events, .versions, .conflicts]' "$T/s.json")" \
	"$("$MREG" -C "$A" status --json | jq -c '[.events, .versions, (.conflicts | length)]')"
expect_eq "sync status --json: hub's record" \
	"$(jq -c '.remotes[] | select(.name == "hub") | [.last_error, .consecutive_failures, .last_events_received, .breaker.state]' "$T/s.json")" \
	'[null,0,1,"closed"]'
expect_eq "sync status: hub, as people read it" "$("$MREG" -C "$A" sync status | sed -n "/^hub	/,/breaker/p" | sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z/TIME/g')" \
	"$(printf 'hub\t%s\n  last success: TIME; events received: %s (last round 1)\n  breaker: closed, 0 consecutive failures' \
		"$T/hub.git" "$(jq '.remotes[] | select(.name == "hub") | .events_received' "$T/s.json")")"

# ---- sync --every, stopped by SIGTERM after two rounds -------------------------------------
# --every default: the period git config mreg.syncInterval gives (1 s here)
rounds_seen() {
	"$MREG" -C "$B" sync status --json 2>/dev/null | jq -r '.last_round.finished // ""'
}
first=$(rounds_seen)
git -C "$B" config mreg.syncInterval 1
"$MREG" -C "$B" sync --every default --no-backup >"$T/every.out" 2>"$T/every.err" &
pid=$!
seen=0 last=$first i=0
while [ "$seen" -lt 2 ] && [ "$i" -lt 300 ]; do
	now=$(rounds_seen)
	if [ -n "$now" ] && [ "$now" != "$last" ]; then
		seen=$((seen + 1)) last=$now
		# between the rounds, the hub gains an event the next round brings
		[ "$seen" -eq 1 ] && "$MREG" -C "$A" register m "$T/o2.pt" --id every >/dev/null &&
			"$MREG" -C "$A" sync hub --push --no-backup >/dev/null
	fi
	i=$((i + 1))
	sleep 0.1
done
expect_eq "--every: two rounds seen in sync status" "$seen" 2
# the event sent between them arrives in a later round
i=0
while ! grep -q '1 events received' "$T/every.out" && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kill -TERM "$pid"
wait "$pid"
expect_eq "--every: SIGTERM ends it with the last round's status" "$?" 0
expect_eq "--every: nothing on stderr" "$(cat "$T/every.err")" ""
n=$(grep -c '^1 of 1 nodes synced' "$T/every.out")
if [ "$n" -ge 2 ]; then ok "--every: a summary line per round ($n)"; else fail "--every: a summary line per round ($n)"; fi
expect_eq "--every: a later round took the new event" "$(grep -c '^origin: ok: 1 events received, 0 sent (fast-forward)$' "$T/every.out")" 1
expect_eq "--every: B has it" "$("$MREG" -C "$B" show every:1 --json | jq -r .model_id)" every
check "--every: a write after it (no lock left behind)" "$MREG" -C "$B" tag every:1 after
clean "--every" "$B"

# ---- usage errors and refusals -----------------------------------------------------------
bad "sync --every 0" 2 "invalid --every '0'" "$A" "$MREG" -C "$A" sync --every 0
bad "sync --every x" 2 "invalid --every 'x'" "$A" "$MREG" -C "$A" sync --every x
bad "sync --every with --dry-run" 2 "every and --dry-run exclude each other" "$A" "$MREG" -C "$A" sync --every 5 --dry-run
git -C "$A" config mreg.syncInterval x
bad "sync --every default, mreg.syncInterval not a number" 1 "invalid git config mreg.syncInterval 'x'" "$A" \
	"$MREG" -C "$A" sync --every default
git -C "$A" config mreg.syncInterval 0
bad "sync --every default, mreg.syncInterval 0" 1 "invalid git config mreg.syncInterval '0'" "$A" \
	"$MREG" -C "$A" sync --every default
git -C "$A" config --unset mreg.syncInterval
bad "sync with an unknown option" 2 "unknown option '--bogus'" "$A" "$MREG" -C "$A" sync --bogus
bad "sync status with an argument" 2 "sync status takes no arguments" "$A" "$MREG" -C "$A" sync status hub
bad "sync status --push" 2 "sync status takes no arguments" "$A" "$MREG" -C "$A" sync status --push
bad "sync of a remote that is not there" 1 "no remote 'nosuch'" "$A" "$MREG" -C "$A" sync nosuch
bad "sync of one remote there and one not" 1 "no remote 'nosuch'" "$A" "$MREG" -C "$A" sync hub nosuch
git -C "$A" update-ref --no-deref HEAD "$(git -C "$A" rev-parse HEAD)"
bad "sync with HEAD detached" 1 "HEAD is not on a branch" "$A" "$MREG" -C "$A" sync hub --no-backup
git -C "$A" symbolic-ref HEAD refs/heads/main
new_registry_full "$T/lonely"
bad "sync without remotes" 1 "has no remotes" "$T/lonely" "$MREG" -C "$T/lonely" sync
bad "clone without a URL" 2 "clone needs URL" "$A" "$MREG" clone
bad "clone with three arguments" 2 "clone needs URL" "$A" "$MREG" clone "$O" "$T/x" "$T/y"
bad "clone --all-files --no-files" 2 "exclude each other" "$A" "$MREG" clone "$O" "$T/x" --all-files --no-files
check "... and made nothing" test ! -e "$T/x"
bad "remote without a subcommand" 2 "remote needs add, remove or list" "$A" "$MREG" -C "$A" remote
bad "remote frob" 2 "unknown remote subcommand 'frob'" "$A" "$MREG" -C "$A" remote frob
bad "remote add NAME" 2 "remote add needs NAME and URL" "$A" "$MREG" -C "$A" remote add x
bad "remote remove" 2 "remote remove needs NAME" "$A" "$MREG" -C "$A" remote remove
bad "remote list extra" 2 "remote list takes no arguments" "$A" "$MREG" -C "$A" remote list extra

# ---- a node offline for a long time takes 10,000 events in one sync ------------------------
# N joins from the hub and goes offline; it writes 3 events of its own. The
# others go on: W registers m (the number N claims too), and 9,999 events of
# ten other models arrive one commit each (the events made by `mreg migrate`
# of a database built here, replayed onto the hub as single-event commits
# with stock git fast-import).
N=$T/N W=$T/W S=$T/S
check "N: clone of the hub" "$MREG" clone "$T/hub.git" "$N"
"$F" clone "$T/hub.git" "$W" >/dev/null || fail "W: clone of the hub"
git -C "$N" config mreg.actor node-N
git -C "$W" config mreg.actor node-W
git -C "$W" config mreg.fsync false
nstart=$(ev_count "$N")
check "N (offline): register m" "$MREG" -C "$N" register m "$T/a1.pt" --id offline
check "N (offline): promote offline:1 to staging" "$MREG" -C "$N" promote offline:1 --to staging
check "N (offline): register m (claims the next number of m)" "$MREG" -C "$N" register m "$T/b1.pt"
"$F" -C "$W" register m "$T/a2.pt" >/dev/null && "$F" -C "$W" sync --push --no-backup >/dev/null ||
	fail "W: register m and push"
# 9,999 registrations of bulk0..bulk9, then each as a commit of its own on the hub
bulk_registry "$S" bulk 10 9999
expect_eq "the bulk: 9,999 events" "$(ev_count "$S")" 9999
base=$(git -C "$T/hub.git" rev-parse main)
replay_one_by_one "$S" "$T/hub.git"
expect_eq "the hub gained 10,000 events" "$(git -C "$T/hub.git" ls-tree -r --name-only main -- events | wc -l | tr -d ' ')" \
	"$((nstart + 10000))"
expect_eq "... in 10,000 commits" "$(git -C "$T/hub.git" rev-list --count "$base..main")" 9999
ahead=$(git -C "$T/hub.git" rev-parse main)
# back online, N's timer loop (`sync --every`) runs its round; it is told
# to stop (SIGTERM) while the fetch is under way: it finishes the round first
"$MREG" -C "$N" sync --every 100 --push --no-backup >"$T/.out" 2>"$T/.err" &
pid=$!
i=0 seen=no
while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 20000 ]; do
	ls "$N/.git/objects/pack" | grep -qE '^(pack_git2_|tmp_pack_)' && { seen=yes; break; }
	i=$((i + 1))
done
kill -TERM "$pid"
wait "$pid"
expect_eq "N: sync --every --push after the long absence, SIGTERM during the fetch: exit 0" "$?" 0
expect_eq "N: SIGTERM came while the fetch was under way" "$seen" yes
expect_eq "N: nothing on stderr" "$(cat "$T/.err")" ""
expect_eq "N: one round, finished" "$(grep -c '^1 of 1 nodes synced: 10000 events received, 3 sent' "$T/.out")" 1
expect_eq "N: the report" "$(head -1 "$T/.out")" "origin: ok: 10000 events received, 3 sent (merge)"
expect_eq "N: one version renumbered (the m claim W made too)" "$(grep -c '^renumbered: m:' "$T/.out")" 1
expect_eq "N: every event arrived" "$(ev_count "$N")" "$((nstart + 10000 + 3))"
git -C "$T/hub.git" ls-tree -r --name-only "$ahead" -- events | sort >"$T/hub.ev"
git -C "$N" ls-tree -r --name-only HEAD -- events | sort >"$T/n.ev"
expect_eq "N: every event of the hub's is N's" "$(comm -23 "$T/hub.ev" "$T/n.ev" | wc -l | tr -d ' ')" 0
expect_eq "N: mreg status counts them" "$("$MREG" -C "$N" status --json | jq -c '[.events, .models, .conflicts]')" \
	"$("$F" -C "$W" status --json | jq -c --argjson e $((nstart + 10003)) '[$e, .models + 11, .conflicts]')"
expect_eq "N: sync status: 10,000 received in the last round" \
	"$("$MREG" -C "$N" sync status --json | jq -c '.remotes[] | select(.name == "origin") | .last_events_received')" 10000
expect_eq "N: the hub has N's merge" "$(git -C "$T/hub.git" rev-parse main)" "$(git -C "$N" rev-parse HEAD)"
clean "N after 10,000 events" "$N"
"$F" clone "$T/hub.git" "$T/R" >/dev/null || fail "R: a fresh clone of the hub"
same_state "N and a fresh clone of the hub" "$T/R" "$N"
expect_eq "N: bulk9's last version" "$("$MREG" -C "$N" show bulk9 --json | jq -c '[.version, .stage]')" '[999,"development"]'

finish

#!/bin/sh
# mreg watch: the state files and a metrics textfile current, and --exec run
# once per new event in fold order, whatever road the event came by: a local
# write, a plain git pull, mreg sync, a restore; after git pack-refs; a burst
# of 1,000 writes (coalesced, each event delivered once); a failing command
# retried from the same event without stopping the watch; a restart
# repeating and skipping nothing; SIGTERM stops it (exit 0).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/servers.sh"
fast_copy
F=$T/mreg-fast

R=$T/reg
new_registry_full "$R"
model_file "$T/a.pt"
mkdir "$T/ev"
cat >"$T/hook.sh" <<'SH'
#!/bin/sh
# fails while $T/fail exists; records each event it is given
[ -e "$T/fail" ] && exit 3
cat >"$T/ev/$MREG_EVENT_ID.json"
echo "$MREG_EVENT_TYPE $MREG_MODEL $MREG_VERSION $MREG_EVENT_ID" >>"$T/delivered"
SH
export T

start_watch() {
	_spawn mreg-watch "$MREG" -C "$R" watch --textfile "$T/collector/mreg.prom" --exec "sh $T/hook.sh"
	_n=0
	while [ ! -s "$T/collector/mreg.prom" ] && [ $_n -lt 300 ]; do sleep 0.1; _n=$((_n + 1)); done
}

# delivered_count N: wait until N events were delivered (or 30 s), then print how many
delivered_count() {
	_n=0
	touch "$T/delivered"
	while [ "$(wc -l <"$T/delivered")" -lt "$1" ] && [ $_n -lt 300 ]; do sleep 0.1; _n=$((_n + 1)); done
	sleep 0.3
	wc -l <"$T/delivered" | tr -d ' '
}

# textfile_has PATTERN: wait until the textfile holds a line matching PATTERN
textfile_has() {
	_n=0
	while ! grep -qE "$1" "$T/collector/mreg.prom" 2>/dev/null && [ $_n -lt 300 ]; do sleep 0.1; _n=$((_n + 1)); done
	grep -qE "$1" "$T/collector/mreg.prom"
}

mkdir "$T/collector"
check "an event before the watch (not delivered: the first run starts from HEAD)" "$MREG" -C "$R" register old "$T/a.pt"
start_watch
[ -s "$T/collector/mreg.prom" ] && ok "watch wrote the textfile" || fail "watch wrote the textfile"

# a local write
check "register sq:1" "$MREG" -C "$R" register sq "$T/a.pt"
expect_eq "a local write: delivered" "$(delivered_count 1)" 1
expect_eq "what --exec was given" "$(cut -d' ' -f1-3 "$T/delivered")" "version.registered sq 1"
id=$(cut -d' ' -f4 "$T/delivered")
expect_eq "its stdin: the event file's bytes" "$(cat "$T/ev/$id.json")" "$(git -C "$R" show "HEAD:$(git -C "$R" diff --name-only HEAD~1 HEAD -- events)")"
textfile_has '^ringrift_model_registry_registrations_total\{config="sq"\} 1$' && ok "the textfile follows" || fail "the textfile follows"

# a plain git pull from a clone
C=$T/clone
check "a clone" "$MREG" clone "$R" "$C"
check "the clone promotes sq:1" "$MREG" -C "$C" promote sq:1 --to staging
git -C "$R" pull -q --no-rebase "$C" main 2>/dev/null
expect_eq "a git pull: delivered" "$(delivered_count 2)" 2
expect_eq "a git pull: the promotion" "$(sed -n 2p "$T/delivered" | cut -d' ' -f1-3)" "version.promoted sq 1"
textfile_has '^mreg_versions\{model_id="sq",stage="staging"\} 1$' && ok "a git pull: the state and textfile follow" ||
	fail "a git pull: the state and textfile follow"
expect_eq "a git pull: state files current without a command" "$(jq -r .tree "$R/state/registry.json")" "$(git -C "$R" rev-parse 'HEAD^{tree}')"

# mreg sync
check "the clone tags sq:1" "$MREG" -C "$C" tag sq:1 best
check "mreg sync from the clone" sh -c "'$MREG' -C '$R' remote add c '$C' && '$MREG' -C '$R' sync --no-backup c"
expect_eq "a sync: delivered" "$(delivered_count 3)" 3
expect_eq "a sync: the tag" "$(sed -n 3p "$T/delivered" | cut -d' ' -f1-2)" "version.tagged sq"

# packed refs, then a write
git -C "$R" pack-refs --all
check "register sq:2 after git pack-refs" "$MREG" -C "$R" register sq "$T/a.pt"
expect_eq "after pack-refs: delivered" "$(delivered_count 4)" 4

# .git/mreg replaced whole (as a restore of a copy would): watched again
cp -a "$R/.git/mreg" "$T/mreg-copy"
rm -rf "$R/.git/mreg"
mv "$T/mreg-copy" "$R/.git/mreg"
sleep 0.3
check "register sq:2b after .git/mreg was replaced" "$MREG" -C "$R" register sq2 "$T/a.pt"
expect_eq "after .git/mreg was replaced: delivered" "$(delivered_count 5)" 5
check "register sq:2c" "$MREG" -C "$R" register sq2 "$T/a.pt"
expect_eq "and the next one too" "$(delivered_count 6)" 6

# a failing command: logged, retried from the same event, the watch goes on
touch "$T/fail"
check "register sq:3 while --exec fails" "$MREG" -C "$R" register sq "$T/a.pt"
_n=0
while ! grep -q "failed for event .* (exit 3)" "$T/servers/mreg-watch.log" && [ $_n -lt 100 ]; do sleep 0.1; _n=$((_n + 1)); done
grep -q "^mreg: watch: 'sh $T/hook.sh' failed for event [0-9a-f]\{32\} (exit 3); tried again later$" "$T/servers/mreg-watch.log" &&
	ok "a failing command: logged with its exit status" || fail "a failing command: logged with its exit status"
check "register sq:4 while --exec fails" "$MREG" -C "$R" register sq "$T/a.pt"
rm "$T/fail"
expect_eq "after it works again: both, in fold order, once" "$(delivered_count 8; sed -n '7,8p' "$T/delivered" | cut -d' ' -f3 | tr '\n' ' ')" "8
3 4 "

# a restart: nothing repeated, nothing skipped
stop_servers
check "register sq:5 while no watch runs" "$MREG" -C "$R" register sq "$T/a.pt"
check "register sq:6 while no watch runs" "$MREG" -C "$R" register sq "$T/a.pt"
start_watch
expect_eq "after a restart: the two it missed, once" "$(delivered_count 10; sed -n '9,10p' "$T/delivered" | cut -d' ' -f3 | tr '\n' ' ')" "10
5 6 "

# a restore: history goes back; what comes after is delivered
check "a backup" "$MREG" -C "$R" backup create
bid=$("$MREG" -C "$R" --json backup list | jq -r '.[0].id')
check "register sq:7" "$MREG" -C "$R" register sq "$T/a.pt"
expect_eq "sq:7 delivered" "$(delivered_count 11)" 11
check "restore the backup (sq:7 gone)" "$MREG" -C "$R" backup restore "$bid"
textfile_has '^ringrift_model_registry_registrations_total\{config="sq"\} 6$' && ok "a restore: the textfile follows" ||
	fail "a restore: the textfile follows"
check "register after the restore" "$MREG" -C "$R" register sq "$T/a.pt"
expect_eq "after a restore: the new event delivered" "$(delivered_count 12; tail -1 "$T/delivered" | cut -d' ' -f1-2)" "12
version.registered sq"

# a burst of 1,000 writes: each event once
i=0
while [ $i -lt 1000 ]; do
	echo "burst $i" >"$T/burst.pt"
	"$F" -C "$R" register burst "$T/burst.pt" >/dev/null || break
	i=$((i + 1))
done
expect_eq "1,000 writes made" "$i" 1000
expect_eq "1,000 writes: 1,000 deliveries" "$(delivered_count 1012)" 1012
expect_eq "each event delivered once" "$(cut -d' ' -f4 "$T/delivered" | sort | uniq -d | wc -l | tr -d ' ')" 0
expect_eq "in fold order: versions 1..1000 of burst" "$(grep '^version.registered burst' "$T/delivered" | cut -d' ' -f3 | tr '\n' ' ' | awk '{ for (i = 1; i <= NF; i++) if ($i != i) { print "out of order at " i; exit } print "in order" }')" "in order"
textfile_has '^ringrift_model_registry_registrations_total\{config="burst"\} 1000$' && ok "1,000 writes: the textfile follows" ||
	fail "1,000 writes: the textfile follows"

# SIGTERM
pg=$(cat "$T/servers/mreg-watch.pgid")
kill -TERM "$pg"
_n=0
while _alive "$pg" && [ $_n -lt 100 ]; do sleep 0.1; _n=$((_n + 1)); done
wait "$pg" 2>/dev/null
expect_eq "SIGTERM: stopped, and said so" "$(tail -1 "$T/servers/mreg-watch.log")" "mreg: watch: stopped by SIGTERM"
rm -f "$T/servers/mreg-watch.pgid"
expect_fail "watch needs --textfile or --exec" 2 "watch needs --textfile or --exec" "$MREG" -C "$R" watch
finish

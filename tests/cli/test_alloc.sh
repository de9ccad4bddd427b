#!/bin/sh
# The release binary's allocator (cmd/alloc.c): jemalloc, linked in, which
# prints its settings at exit when MALLOC_CONF asks. A command that reads
# keeps what it frees (decay off) and its heap on small pages; a command
# that writes one event, or folds the whole log (fsck, restore-from, clone,
# refresh --full), puts its heap on huge pages; watch and sync
# --every, which run until stopped, hand freed memory back after 10 s, on
# a thread of jemalloc's own. The global options before the command word
# do not change which. (The sanitizer build has its own allocator: this
# runs the release binary.)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/servers.sh"
fast_copy
F=$T/mreg-fast

R=$T/reg
new_registry "$R"
model_file "$T/a.pt"
check "register sq:1" "$F" -C "$R" register sq "$T/a.pt"

# settings NAME CMD...: jemalloc's settings as CMD's exit prints them, into $T/NAME
settings() {
	_n=$1
	shift
	MALLOC_CONF=stats_print:true "$@" >/dev/null 2>"$T/$_n"
}
# decay FILE, thp FILE: the decay of unused pages (ms, -1 off) and the huge-page setting
decay() {
	sed -n 's/.*(arenas\.dirty_decay_ms: \(-\{0,1\}[0-9]*\)).*/\1/p' "$1"
}
thp() {
	sed -n 's/^ *opt\.thp: "\(.*\)"$/\1/p' "$1"
}
# background FILE: whether jemalloc's own thread hands memory back; arena0 FILE: the first arena's decay
background() {
	sed -n 's/.*(background_thread: \([a-z]*\)).*/\1/p' "$1"
}
arena0() {
	awk '/^arenas\[0\]:/ { on = 1 } on && $1 == "dirty:" { print $2; exit }' "$1"
}

settings version "$F" --version
grep -q "jemalloc statistics" "$T/version" && ok "the release binary allocates with jemalloc" ||
	fail "the release binary allocates with jemalloc (no statistics at exit)"

settings read "$F" -C "$R" status
expect_eq "a read: decay off" "$(decay "$T/read")" -1
expect_eq "a read: no thread of the allocator's" "$(background "$T/read")" false
settings write "$F" -C "$R" tag sq:1 nightly
expect_eq "a one-event write: decay off" "$(decay "$T/write")" -1
settings write2 "$F" --json --registry-dir "$R" untag sq:1 nightly
settings write3 "$F" --registry-dir="$R" update-metrics sq:1 elo=1500
settings read2 "$F" -C "$R" show tag
settings fsck "$F" -C "$R" fsck
settings full "$F" -C "$R" refresh --full
settings refresh "$F" -C "$R" refresh
git -C "$R" config mreg.backupDir "$T/bk"
settings bundle "$F" -C "$R" backup create -r alloc
settings restore "$F" restore-from "$(ls "$T"/bk/*.bundle | head -1)" "$T/restored"
check "restored" test -d "$T/restored/.git"
# jemalloc says "not supported" where the kernel offers no transparent huge pages
if [ "$(thp "$T/read")" = "not supported" ]; then
	echo "# skipped: no transparent huge pages here, so no heap on them to check"
else
	expect_eq "a read: small pages" "$(thp "$T/read")" default
	expect_eq "a one-event write: huge pages" "$(thp "$T/write")" always
	expect_eq "a one-event write after global options: huge pages" "$(thp "$T/write2")" always
	expect_eq "update-metrics after --registry-dir=: huge pages" "$(thp "$T/write3")" always
	expect_eq "a read whose argument is a write's name: small pages" "$(thp "$T/read2")" default
	expect_eq "fsck, which folds the whole log: huge pages" "$(thp "$T/fsck")" always
	expect_eq "refresh --full: huge pages" "$(thp "$T/full")" always
	expect_eq "restore-from: huge pages" "$(thp "$T/restore")" always
	expect_eq "a refresh that folds only what is new: small pages" "$(thp "$T/refresh")" default
	expect_eq "backup create: small pages" "$(thp "$T/bundle")" default
fi

# stopped: a long-running command's settings, as it printed them at exit, into $T/NAME
stopped() {
	pg=$(cat "$T/servers/$1.pgid")
	kill -TERM "$pg"
	_n=0
	while _alive "$pg" && [ $_n -lt 100 ]; do sleep 0.1; _n=$((_n + 1)); done
	wait "$pg" 2>/dev/null
	rm -f "$T/servers/$1.pgid"
	cp "$T/servers/$1.log" "$T/$1"
}

_spawn mreg-watch env MALLOC_CONF=stats_print:true "$F" -C "$R" watch --textfile "$T/collector/mreg.prom"
_n=0
while [ ! -s "$T/collector/mreg.prom" ] && [ $_n -lt 100 ]; do sleep 0.1; _n=$((_n + 1)); done
[ -s "$T/collector/mreg.prom" ] && ok "watch wrote its textfile" || fail "watch wrote its textfile"
stopped mreg-watch
expect_eq "watch: freed memory goes back after 10 s" "$(decay "$T/mreg-watch")" 10000
expect_eq "watch: the arena it used too" "$(arena0 "$T/mreg-watch")" 10000
expect_eq "watch: on the allocator's own thread" "$(background "$T/mreg-watch")" true
# sync --every goes on round after round, whether a round succeeds or not (no remote here)
_spawn mreg-sync env MALLOC_CONF=stats_print:true "$F" -C "$R" sync --every 60
_n=0
while ! grep -q "has no remotes" "$T/servers/mreg-sync.log" && [ $_n -lt 100 ]; do sleep 0.1; _n=$((_n + 1)); done
stopped mreg-sync
expect_eq "sync --every: freed memory goes back after 10 s" "$(decay "$T/mreg-sync")" 10000
expect_eq "sync --every: on the allocator's own thread" "$(background "$T/mreg-sync")" true
finish

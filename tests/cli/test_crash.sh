#!/bin/sh
# Crash safety: writers killed with SIGKILL at random moments never lose an
# acknowledged event and never leave the registry inconsistent.
#
# 200 rounds alternate `register m FILE` (each file unique) and `promote m
# --to staging` (the latest version); each runs in the background and gets
# SIGKILL after a random delay of up to what a register takes on this
# machine, measured first the way the rounds run it (a fixed range would
# kill nothing once writes got faster than it). A command that exited 0 before the kill has acknowledged
# its event: that event must be in the final state.
#
#   MREG_FAST  binary for the killed writers (default: build/mreg next to an
#              ASan $MREG if it exists, else $MREG): the sanitizer build is
#              slow enough to shift where the kills land.
. "$(dirname "$0")/lib.sh"

ROUNDS=${CRASH_ROUNDS:-200}
fast_copy
FAST=$T/mreg-fast

R=$T/reg
new_registry_full "$R"

XXH=$(xxh128_helper)
mkdir "$T/files" "$T/out"

# How long a register takes here, started in the background and waited
# for as the rounds do, in microseconds: the median of five.
new_registry_full "$T/cal"
for k in 1 2 3 4 5; do
	echo "calibration $k" >"$T/cal.bin"
	t0=$(date +%s%N)
	"$FAST" -C "$T/cal" register m "$T/cal.bin" >/dev/null 2>&1 &
	wait $!
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000))
done | sort -n >"$T/cal.us"
span_us=$(sed -n 3p "$T/cal.us")
[ "$span_us" -gt 30000 ] && span_us=30000	# rand reaches 65535
echo "# a register takes about $span_us us here: kills land 0-$((span_us * 3 / 2)) us after a start, plus sleep's own start"

# rand N: a random integer in 0..N
rand() {
	r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
	echo $((r % ($1 + 1)))
}

: >"$T/regs_ok"		# "<version printed> <round>" of registrations that exited 0
: >"$T/promos_ok"	# "<version promoted> <round>" of promotions that exited 0
: >"$T/files_list"	# every model file tried
killed=0 n_ok=0 odd=0
i=0
while [ "$i" -lt "$ROUNDS" ]; do
	i=$((i + 1))
	# drawn before the start, so that drawing it takes no time from the window; up to 1.5 times the
	# median, so that some commands finish (and acknowledge) even when the machine is slower than measured
	us=$(rand $((span_us * 3 / 2)))
	delay=$(printf '%d.%06d' $((us / 1000000)) $((us % 1000000)))
	if [ $((i % 2)) -eq 1 ]; then
		f=$T/files/f$i.bin
		# unique content: the round number, then random bytes
		{ echo "model file $i"; head -c 600 /dev/urandom; } >"$f"
		echo "$f" >>"$T/files_list"
		"$FAST" -C "$R" register m "$f" >"$T/out/$i" 2>"$T/out/$i.err" &
	else
		"$FAST" -C "$R" --json promote m --to staging -r "round $i" >"$T/out/$i" 2>"$T/out/$i.err" &
	fi
	pid=$!
	sleep "$delay"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rc=$?
	if [ "$rc" -eq 137 ]; then
		killed=$((killed + 1))
	elif [ "$rc" -eq 0 ]; then
		n_ok=$((n_ok + 1))
		if [ $((i % 2)) -eq 1 ]; then
			v=$(sed -n 's/^Registered m:\([0-9]*\)$/\1/p' "$T/out/$i")
			echo "${v:-?} $i" >>"$T/regs_ok"
		else
			v=$(jq -r .version "$T/out/$i" 2>/dev/null)
			echo "${v:-?} $i" >>"$T/promos_ok"
		fi
	elif [ $((i % 2)) -eq 0 ] && [ "$rc" -eq 1 ] &&
		grep -qE "^mreg: (cannot promote 'm:[0-9]+': cannot transition from staging to staging|model not found: 'm')$" "$T/out/$i.err"; then
		: # the register before was killed first: nothing new to promote, refused
	else
		odd=$((odd + 1))
		[ "$odd" -gt 5 ] || echo "    # round $i: exit $rc: $(head -c 300 "$T/out/$i.err")"
	fi
done
echo "# $ROUNDS rounds: $n_ok exited 0, $killed killed, $odd failed otherwise"
for l in .git/refs/heads/main.lock .git/index.lock; do
	[ -e "$R/$l" ] && echo "# $l is left behind by a killed writer"
done
expect_eq "every command exited 0, was killed, or was refused for a reason" "$odd" 0
# a run where nothing (or everything) was killed tests nothing
if [ "$killed" -gt 0 ] && [ "$n_ok" -gt 0 ]; then ok "some commands were killed, some finished ($killed killed, $n_ok finished)"
else fail "some commands were killed, some finished ($killed killed, $n_ok finished)"; fi

# ---- the next command repairs whatever lag the last kill left --------------
check "the next mreg command after the crashes succeeds" "$MREG" -C "$R" list --json
cp "$T/.out" "$T/list.json"
expect_eq "git status clean after the next command" "$(tree_clean "$R")" ""
check "mreg refresh" "$MREG" -C "$R" refresh
expect_eq "git status clean after mreg refresh" "$(tree_clean "$R")" ""
out=$("$MREG" -C "$R" fsck 2>&1); rc=$?
expect_eq "mreg fsck is clean (exit 0)" "$rc" 0
[ "$rc" -eq 0 ] || echo "$out" | head -10 | sed 's/^/    # /'
out=$(git -C "$R" fsck --strict --no-dangling 2>&1); rc=$?
expect_eq "git fsck is clean" "$rc:$out" "0:"
# temp files of atomic writes (whatever their naming: x.tmp123, x.mreg-tmp123)
temps() { (cd "$R" && find "$@" -name '*tmp*' 2>/dev/null | sort | head -5); }
expect_eq "no leftover temp files in state/" "$(temps state)" ""
expect_eq "no leftover temp files in .git/mreg/" "$(temps .git/mreg)" ""
expect_eq "no leftover temp files in the work tree mirror (events/, artifacts/)" "$(temps events artifacts)" ""
"$MREG" -C "$R" list --json >"$T/list.json"

# ---- every acknowledged registration is there, with the number it printed --
hashes=$(jq -r '.[].file_hash' "$T/list.json" | sort)
nregs_ok=$(wc -l <"$T/regs_ok" | tr -d ' ')
# note N MESSAGE: print the first few diagnostics of a check only
note() { [ "$1" -gt 5 ] || echo "    # $2"; }
# version_of V FIELDS: jq FIELDS of version V in list.json ("" if none)
version_of() {
	case "$1" in ''|*[!0-9]*) return ;; esac
	jq -r --argjson v "$1" ".[] | select(.version == \$v) | $2" "$T/list.json"
}
missing=0 wrongv=0 bad=0
while read -r v i; do
	f=$T/files/f$i.bin
	h=xxh128:$("$XXH" "$f")
	echo "$hashes" | grep -qx "$h" || { missing=$((missing + 1)); note $missing "round $i: $h (Registered m:$v) is not in list --json"; }
	got=$(version_of "$v" '.file_hash + " " + .file_path')
	case "$got" in
	"$h artifacts/"*"${h#xxh128:}.bin") ;;
	*) wrongv=$((wrongv + 1)); note $wrongv "round $i: printed m:$v, whose file is: ${got:-(no such version)}"; continue ;;
	esac
	if ! git -C "$R" cat-file blob "HEAD:${got#* }" | cmp -s - "$f"; then
		bad=$((bad + 1)); note $bad "round $i: m:$v's committed file (${got#* }) differs from the registered file"
	fi
done <"$T/regs_ok"
expect_eq "every acknowledged registration's xxh128: hash is in list --json file_hash" "$missing" 0
expect_eq "every acknowledged registration has the version number it printed" "$wrongv" 0
expect_eq "every acknowledged registration's file is committed whole" "$bad" 0
tried=$(xargs "$XXH" <"$T/files_list" | sed 's/^/xxh128:/' | sort)
expect_eq "every version's file_hash is one of the files tried" \
	"$(echo "$hashes" | comm -23 - "$(printf '%s\n' "$tried" >"$T/tried"; echo "$T/tried")" | wc -l | tr -d ' ')" 0
expect_eq "file_hash values are unique (one per distinct file)" "$(echo "$hashes" | uniq | wc -l | tr -d ' ')" \
	"$(echo "$hashes" | wc -l | tr -d ' ')"

# ---- versions are 1..K, one per registration event -------------------------
nver=$(jq length "$T/list.json")
expect_eq "versions are exactly 1..$nver" "$(jq -c '[.[].version] | sort' "$T/list.json")" \
	"$(jq -cn --argjson n "$nver" '[range(1; $n + 1)]')"
"$MREG" -C "$R" log --json >"$T/log.json"
expect_eq "one version.registered event per version" \
	"$(jq '[.[] | select(.type == "version.registered")] | length' "$T/log.json")" "$nver"
nev=$(jq length "$T/log.json")
expect_eq "one commit per event, plus init" "$(git -C "$R" log --oneline | wc -l | tr -d ' ')" $((nev + 1))
if [ "$nregs_ok" -le "$nver" ]; then ok "at least the $nregs_ok acknowledged registrations exist ($nver versions)"
else fail "at least the $nregs_ok acknowledged registrations exist ($nver versions)"; fi

# ---- every acknowledged promotion took effect ------------------------------
bad=0
while read -r v i; do
	got=$(version_of "$v" ".stage + \" \" + ([.history[] | select(.reason == \"round $i\" and .from_stage == \"development\" and .to_stage == \"staging\")] | length | tostring)")
	if [ "$got" != "staging 1" ]; then
		bad=$((bad + 1)); note $bad "round $i: promoted m:$v, but its stage/history says: ${got:-(no such version)}"
	fi
done <"$T/promos_ok"
expect_eq "every acknowledged promotion is in the version's stage and history" "$bad" 0
expect_eq "promotion events = versions in staging (each promoted once)" \
	"$(jq '[.[] | select(.type == "version.promoted")] | length' "$T/log.json")" \
	"$(jq '[.[] | select(.stage == "staging")] | length' "$T/list.json")"

# ---- and the registry still takes writes --------------------------------------
model_file "$T/last.bin"
check "a write after all that" "$MREG" -C "$R" register m "$T/last.bin"
expect_eq "it gets the next number" "$(cat "$T/.out")" "Registered m:$((nver + 1))"
check "mreg fsck at the end" "$MREG" -C "$R" fsck
expect_eq "git status clean at the end" "$(tree_clean "$R")" ""

# ---- one crash point, made deterministic ---------------------------------------
# A writer killed after its commit and after mirroring the event file into the
# work tree, but before the index was written (and so before the mirror
# stamp): HEAD has the event, the work tree has the file, the index and the
# mirror stamp are those of the commit before. The next command must repair.
R2=$T/reg2
new_registry_full "$R2"
model_file "$T/d1.bin"
model_file "$T/d2.bin"
check "crash point: register m:1" "$MREG" -C "$R2" register m "$T/d1.bin"
cp "$R2/.git/index" "$T/index.before"
cp "$R2/.git/mreg/mirror" "$T/mirror.before"
check "crash point: register m:2" "$MREG" -C "$R2" register m "$T/d2.bin"
cp "$T/index.before" "$R2/.git/index"
cp "$T/mirror.before" "$R2/.git/mreg/mirror"
check "crash point: the next command succeeds" "$MREG" -C "$R2" list
expect_eq "crash point: the next command restores the index (git status clean)" \
	"$(tree_clean "$R2")" ""
"$MREG" -C "$R2" refresh >/dev/null 2>&1
expect_eq "crash point: git status clean after mreg refresh" "$(tree_clean "$R2")" ""
check "crash point: mreg fsck clean" "$MREG" -C "$R2" fsck

# Lock files a killed mreg leaves behind: the branch's (killed while moving
# it) and the index's (killed while writing it). mreg records each lock file
# it makes in .git/mreg/lock, under its flock; the next writer removes the
# recorded one at once (a lock file of a live git command is waited for
# instead: test_locks.sh). record FILE: the record a killed mreg leaves.
record() { printf '%s %s %s %s\n' $(stat -c '%d %i' "$R3/.git/$1") "$(stat -c '%.9W' "$R3/.git/$1" | tr -d .)" "$1" >"$R3/.git/mreg/lock"; }
R3=$T/reg3
new_registry_full "$R3"
model_file "$T/e1.bin"
model_file "$T/e2.bin"
check "stale locks: register m:1" "$MREG" -C "$R3" register m "$T/e1.bin"
git -C "$R3" rev-parse HEAD >"$R3/.git/refs/heads/main.lock"
record refs/heads/main.lock
check "a killed mreg's refs/heads/main.lock does not block the next write" "$MREG" -C "$R3" register m "$T/e2.bin"
check "it is gone" test ! -e "$R3/.git/refs/heads/main.lock"
: >"$R3/.git/index.lock"
record index.lock
check "a killed mreg's index.lock does not block the next write" "$MREG" -C "$R3" promote m:1 --to staging
expect_eq "stale locks: git status clean" "$(tree_clean "$R3")" ""
expect_eq "stale locks: every write landed" "$(git -C "$R3" log --format=%s -3)" "promote m:1 development -> staging
register m:2 (policy_value, development)
register m:1 (policy_value, development)"

# A half-written pack of a killed writer: the temporary name is one git
# passes by, and the next write removes it.
tmp=$(ls "$R3/.git/objects/pack" | grep '\.pack$' | head -1).mreg-tmp4242
head -c 100 /dev/urandom >"$R3/.git/objects/pack/$tmp"
check "half-written pack: git fsck passes it by" git -C "$R3" fsck
check "half-written pack: the next write succeeds" "$MREG" -C "$R3" tag m:1 kept
expect_eq "half-written pack: removed by that write" "$(ls "$R3/.git/objects/pack" | grep -c mreg-tmp)" 0
check "half-written pack: mreg fsck clean" "$MREG" -C "$R3" fsck

# A power cut: what is never fsynced (the git index, the stamps, the state
# files) can come back empty. Events are fsynced; the rest is made again.
model_file "$T/e3.bin"
: >"$R3/.git/index"
expect_fail "power cut: stock git refuses the empty index" 128 "index file smaller than expected" git -C "$R3" status --porcelain
check "power cut, empty index: the next write succeeds" "$MREG" -C "$R3" register m "$T/e3.bin"
expect_eq "power cut, empty index: git status clean after it" "$(tree_clean "$R3")" ""
: >"$R3/.git/index"
for f in "$R3"/state/*.json "$R3"/state/models/*.json "$R3/.git/mreg/stamp" "$R3/.git/mreg/mirror"; do
	: >"$f"
done
check "power cut, everything derived empty: list" "$MREG" -C "$R3" list
expect_eq "power cut, everything derived empty: git status clean" "$(tree_clean "$R3")" ""
expect_eq "power cut: every version still there" "$("$MREG" -C "$R3" show m --json | sed -n 's/.*"version": \([0-9]*\).*/\1/p' | head -1)" 3
check "power cut: mreg fsck clean" "$MREG" -C "$R3" fsck

# A power cut that leaves a work tree event copy cut short behind its index
# entry (neither is fsynced; the index survived): the mirror stamp names the
# boot it was written in, and a command in a later boot checks every file.
# The later boot is simulated by another boot id in the stamp.
ev=$(cd "$R3" && ls events/*/*/*.json | head -1)
: >"$R3/$ev"
printf '%s\n' "$(head -n 2 "$R3/.git/mreg/mirror")" 00000000-0000-0000-0000-000000000000 >"$R3/.git/mreg/mirror.new"
mv "$R3/.git/mreg/mirror.new" "$R3/.git/mreg/mirror"
check "power cut, an event copy cut short: list" "$MREG" -C "$R3" list
expect_eq "power cut: the event copy is whole again" "$(cat "$R3/$ev")" "$(git -C "$R3" show "HEAD:$ev")"
expect_eq "power cut: git status clean" "$(tree_clean "$R3")" ""
check "power cut: the mirror stamp names this boot again" grep -qF "$(cat /proc/sys/kernel/random/boot_id)" "$R3/.git/mreg/mirror"
: >"$R3/$ev"
check "in the same boot a cut-short copy waits for mreg refresh: list" "$MREG" -C "$R3" list
expect_eq "(the copy is not looked at)" "$(wc -c <"$R3/$ev" | tr -d ' ')" 0
check "mreg refresh" "$MREG" -C "$R3" refresh
expect_eq "mreg refresh restores it" "$(cat "$R3/$ev")" "$(git -C "$R3" show "HEAD:$ev")"

# The flushes of a durable write (README, "Durability"): on XFS and on ext4
# with its journal the pack, its index and the branch's new value are written
# out and waited for (sync_file_range), and each directory they are renamed
# into is fsynced once: two full flushes, in that order, after each file's
# write-out. ext4 without a journal, and any other file system, fsync each
# file. Whether the journal is there is read as mreg reads it: the device's
# name, and its entry in /proc/fs/jbd2.
# flushes DESC DIR EXPECT: a promotion in a new registry at DIR makes the
# flushes EXPECT names (batch: written out, then one flush per directory;
# fsync: each file fsynced, then its directory)
flushes() {
	_r=$2/reg
	new_registry_full "$_r"
	check "flushes ($1): a version" "$MREG" -C "$_r" register m "$T/e3.bin"
	# (LeakSanitizer cannot stop a traced process at exit: leaks are checked everywhere else)
	ASAN_OPTIONS=detect_leaks=0 strace -f -e trace=fsync,fdatasync,sync_file_range,rename,renameat2 -o "$T/flush.trace" "$MREG" -C "$_r" promote m:1 --to staging >/dev/null
	# the calls in order, reduced to what they act on
	sed -n 's/^[0-9]* *//; s/^\(fsync\|fdatasync\)(.*/\1/p; s/^sync_file_range(.*/writeout/p; s/^rename[at2]*(.*"\([^"]*\)", .*/rename \1/p' "$T/flush.trace" |
		sed 's#rename .*/objects/pack/pack-[0-9a-f]*\.\(pack\|idx\).*#rename pack.\1#; s#rename .*refs/heads/main.*#rename branch#' |
		grep -v '^rename .*\(index\|mirror\|stamp\|json\)' >"$T/flush.calls"
	case $3 in
	batch)
		expect_eq "flushes ($1): pack and index written out, renamed, one flush; the branch written out, renamed, one flush" \
			"$(tr '\n' ' ' <"$T/flush.calls")" "writeout writeout rename pack.pack rename pack.idx fsync writeout rename branch fsync " ;;
	*)
		expect_eq "flushes ($1): each file fsynced, then its directory" \
			"$(tr '\n' ' ' <"$T/flush.calls")" "fsync fsync rename pack.pack rename pack.idx fsync fsync rename branch fsync " ;;
	esac
	check "flushes ($1): the promotion is there" sh -c "'$MREG' -C '$_r' --json show m:1 | grep -q '\"stage\": \"staging\"'"
}

mkdir -p "$T/flushes"
fs=$(stat -f -c %T "$T/flushes")
devname=$(sed -n 's/^DEVNAME=//p' "/sys/dev/block/$(stat -c '%Hd:%Ld' "$T/flushes")/uevent" 2>/dev/null)
journal=none
[ -n "$devname" ] && ls /proc/fs/jbd2 2>/dev/null | grep -q "^$devname-" && journal=yes
case $fs:$journal in
ext2/ext3:yes | xfs:*) flushes "$fs, journal $journal" "$T/flushes" batch ;;
*) flushes "$fs, journal $journal" "$T/flushes" fsync ;;
esac

# Both kinds of ext4, on loop devices where this user may mount them (root): the journal decides
if [ "$(id -u)" = 0 ] && command -v mkfs.ext4 >/dev/null 2>&1; then
	trap 'umount "$T/journal" "$T/no-journal" 2>/dev/null; rm -rf "$T"' EXIT
	for kind in journal no-journal; do
		opt=; [ $kind = no-journal ] && opt="-O ^has_journal"
		truncate -s 64M "$T/$kind.img" && mkfs.ext4 -q -F $opt "$T/$kind.img" && mkdir -p "$T/$kind" &&
			mount -o loop "$T/$kind.img" "$T/$kind" 2>/dev/null || { echo "# ext4 $kind: no loop mount here, skipped"; continue; }
		if [ $kind = journal ]; then flushes "ext4 with a journal" "$T/$kind" batch; else flushes "ext4 without a journal" "$T/$kind" fsync; fi
		umount "$T/$kind" || fail "umount $T/$kind"
	done
fi

finish

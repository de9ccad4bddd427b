#!/bin/sh
# Backups and restores killed with SIGKILL at random moments. A backup that
# was acknowledged (exit 0) verifies; a killed one is never listed, and the
# next create sweeps its files; a restore that was acknowledged left the
# branch at the backup's head, a killed one left it at the head before or
# the backup's; either way the registry is consistent (mreg fsck, git
# status clean) once the next command has run.
. "$(dirname "$0")/lib.sh"

ROUNDS=${BACKUP_CRASH_ROUNDS:-40}
fast_copy
FAST=$T/mreg-fast
R=$T/data/model_registry B=$T/data/registry_backups
mkdir -p "$T/data"
new_registry_full "$R"
# every backup made here is counted: retention (10 by default) would drop the oldest
jq '.backup.max_backups = 1000' "$R/mreg.json" >"$T/max.json" && cp "$T/max.json" "$R/mreg.json" && git -C "$R" commit -qam "keep 1000 backups"
model_file "$T/big.bin" 1200000	# over artifact_max_bytes: a large file in .git/lfs
check "register a large model" "$FAST" -C "$R" register big "$T/big.bin"
for i in 1 2 3 4 5; do
	model_file "$T/m$i.bin" 3000
	"$FAST" -C "$R" register m "$T/m$i.bin" >/dev/null || fail "register m ($i)"
done
check "a first backup to restore" "$FAST" -C "$R" backup create -r base
base=$("$FAST" -C "$R" --json backup list | jq -r '.[0].id')
base_head=$(jq -r .head "$B/$base.json")

rand() {
	r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
	echo $((r % ($1 + 1)))
}

# How long a backup takes here, started in the background and waited for as
# the rounds do, in microseconds (the median of three): kills land within
# 1.5 times that, so that some land mid-way however fast the machine is.
for k in 1 2 3; do
	t0=$(date +%s%N)
	"$FAST" -C "$R" backup create -r "calibration $k" >/dev/null 2>&1 &
	wait $!
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000))
done | sort -n >"$T/cal.us"
span_us=$(sed -n 2p "$T/cal.us")
[ "$span_us" -gt 40000 ] && span_us=40000	# rand reaches 65535
echo "# a backup takes about $span_us us here: kills land 0-$((span_us * 3 / 2)) us after a start, plus sleep's own start"

: >"$T/acked"	# ids of backups that exited 0
killed=0 i=0
while [ "$i" -lt "$ROUNDS" ]; do
	i=$((i + 1))
	before=$(git -C "$R" rev-parse HEAD)
	us=$(rand $((span_us * 3 / 2)))	# drawn before the start: drawing it takes no time from the window
	delay=$(printf '%d.%06d' $((us / 1000000)) $((us % 1000000)))
	case $((i % 3)) in
	0) "$FAST" -C "$R" --json backup restore "$base" >"$T/out" 2>"$T/err" & ;;
	*) "$FAST" -C "$R" --json backup create -r "round $i" >"$T/out" 2>"$T/err" & ;;
	esac
	pid=$!
	sleep "$delay"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rc=$?
	if [ "$rc" -eq 137 ]; then
		killed=$((killed + 1))
		after=$(git -C "$R" rev-parse HEAD)
		[ "$after" = "$before" ] || [ "$after" = "$base_head" ] ||
			fail "round $i: a killed restore left HEAD at $after (neither $before nor $base_head)"
	elif [ "$rc" -eq 0 ]; then
		if [ $((i % 3)) -eq 0 ]; then
			[ "$(git -C "$R" rev-parse HEAD)" = "$base_head" ] || fail "round $i: an acknowledged restore is not at the backup's head"
			jq -r .pre_restore_backup "$T/out" >>"$T/acked"
		else
			jq -r .id "$T/out" >>"$T/acked"
		fi
	else
		fail "round $i: exit $rc: $(head -1 "$T/err")"
	fi
	# between rounds, a write: the next restore has something to undo
	model_file "$T/w$i.bin" 500
	"$FAST" -C "$R" register w "$T/w$i.bin" >/dev/null 2>"$T/err" || fail "round $i: register after: $(head -1 "$T/err")"
done
echo "# $killed of $ROUNDS rounds killed"
if [ "$killed" -gt 0 ]; then ok "some rounds were killed mid-way ($killed)"; else fail "some rounds were killed mid-way"; fi

check "mreg fsck after the kills" "$MREG" -C "$R" fsck
expect_eq "git status clean" "$(tree_clean "$R")" ""
"$MREG" -C "$R" --json backup list >"$T/list.json"
bad=0
while read -r id; do
	jq -e --arg id "$id" 'any(.[]; .id == $id)' "$T/list.json" >/dev/null || { bad=$((bad + 1)); echo "    # acknowledged $id is not listed"; }
done <"$T/acked"
expect_eq "every acknowledged backup is listed" "$bad" 0
bad=0
for id in $(jq -r '.[].id' "$T/list.json"); do
	"$MREG" -C "$R" backup verify "$id" >/dev/null 2>"$T/err" || { bad=$((bad + 1)); echo "    # $id: $(head -1 "$T/err")"; }
done
expect_eq "every listed backup verifies" "$bad" 0
check "a create after the kills" "$MREG" -C "$R" backup create -r after
orphans=$(cd "$B" && for f in *.bundle; do [ -e "${f%.*}.json" ] || echo "$f"; done; ls -a | grep -c -e '^\.verify-' -e 'mreg-tmp' -e '\.state$')
expect_eq "no bundle without metadata, no scratch or temporary files" "$orphans" 0
check "the base backup restores" "$MREG" -C "$R" backup restore "$base"
expect_eq "at the base head" "$(git -C "$R" rev-parse HEAD)" "$base_head"
check "mreg fsck at the end" "$MREG" -C "$R" fsck
cmp -s "$T/big.bin" "$R/.git/$(jq -r '.blobs[0].path' "$B/$base.json")" && ok "the large file is in .git/lfs" || fail "the large file is in .git/lfs"
cmp -s "$T/big.bin" "$R/$("$MREG" -C "$R" --json list | jq -r '.[] | select(.file_size_bytes == 1200000) | .file_path')" &&
	ok "the large file's work tree copy is in place" || fail "the large file's work tree copy is in place"

# restore-from killed at random moments: the target is a registry or is not
# there at all, never half of one; a run after a kill succeeds
kills=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	N=$T/rebuilt$i
	"$FAST" restore-from "$B/$base.bundle" "$N" >/dev/null 2>&1 &
	pid=$!
	sleep "$(printf '0.%03d' "$(rand 40)")"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	[ $? -eq 137 ] && kills=$((kills + 1))
	if [ -e "$N" ]; then
		"$MREG" -C "$N" fsck >/dev/null 2>"$T/err" || fail "round $i: a target left behind is not a whole registry: $(head -1 "$T/err")"
	else
		"$FAST" restore-from "$B/$base.bundle" "$N" >/dev/null 2>"$T/err" || fail "round $i: restore-from after the kill: $(head -1 "$T/err")"
	fi
	expect_eq "round $i: the rebuilt registry is at the backup's head" "$(git -C "$N" rev-parse HEAD 2>/dev/null)" "$base_head"
done
echo "# $kills of 10 restore-from runs killed (a killed run may leave a <target>.restoring-* directory beside it)"
finish

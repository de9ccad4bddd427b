#!/bin/sh
# The fold's key cache (fsstore/foldkeys.c): a fold of every event writes,
# for each large pack, the clock of each event file in it; the next such
# fold takes the clocks from there instead of the head of every file. The
# state is the same bytes with it, without it, with a damaged file and with
# a file whose checksum holds but whose clocks are wrong (the fold stops,
# drops the files and folds again without them, then writes them anew); a
# gc's new pack gets its own file and the old one goes.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/bulk.sh"

R=$T/reg
bulk_registry "$R" k 5 400
KD=$R/.git/mreg/fold-keys
keysfile() { ls "$KD"/pack-*.keys 2>/dev/null | head -1; }
statesum() { (cd "$R" && find state -type f | sort | xargs sha1sum); }

rm -rf "$KD"
check "refresh --full without a key cache" "$MREG" -C "$R" refresh --full
want=$(statesum)
f=$(keysfile)
expect_eq "it wrote a key file" "$([ -n "$f" ] && echo yes)" yes
pack=$(basename "$f" .keys)
expect_eq "named after a pack of the registry" "$([ -f "$R/.git/objects/pack/$pack.idx" ] && echo yes)" yes
count=$(git -C "$R" verify-pack -v "$R/.git/objects/pack/$pack.idx" | grep -cE '^[0-9a-f]{40} ')
expect_eq "a key for each object of the pack, and its checksum" "$(wc -c <"$f" | tr -d ' ')" $((8 + 4 + 8 * count + 20))
expect_eq "the checksum is the SHA-1 of the rest" \
	"$(head -c $((8 + 4 + 8 * count)) "$f" | sha1sum | cut -c1-40)" "$(tail -c 20 "$f" | od -An -tx1 | tr -d ' \n')"
# an event file's key is its clock, at its blob's place in the .idx (git show-index lists them in order)
blob=$(git -C "$R" ls-tree -r HEAD events | sed -n 7p | awk '{print $3}')
pos=$(git show-index <"$R/.git/objects/pack/$pack.idx" | awk -v b="$blob" '$2 == b { print NR - 1 }')
key=$(od -An -tu1 -j $((12 + 8 * pos)) -N 8 "$f" | awk '{ v = 0; for (i = 1; i <= 8; i++) v = v * 256 + $i; print v }')
expect_eq "an event's key is its clock" "$key" "$(git -C "$R" cat-file -p "$blob" | jq .clock)"
cp "$f" "$T/good.keys"

check "refresh --full with the key cache" "$MREG" -C "$R" refresh --full
expect_eq "the same state files" "$(statesum)" "$want"
expect_eq "the key file left as it was" "$(cmp "$f" "$T/good.keys" && echo same)" same

# a damaged file (a byte of its checksum changed, the keys themselves right): not used, written anew
size=$(wc -c <"$f" | tr -d ' ')
printf 'X' | dd of="$f" bs=1 seek=$((size - 1)) conv=notrunc 2>/dev/null
expect_eq "the damaged file differs" "$(cmp -s "$f" "$T/good.keys" || echo differs)" differs
check "refresh --full with a damaged key file" "$MREG" -C "$R" refresh --full
expect_eq "damaged: the same state files" "$(statesum)" "$want"
expect_eq "damaged: the file written anew" "$(cmp "$f" "$T/good.keys" && echo same)" same

# wrong clocks under a checksum that holds, in the reverse order (taken as
# they are, they would fold the log backwards): the fold finds out, drops
# the files, folds again
/usr/bin/python3 - "$f" <<'EOF'
import hashlib, struct, sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
n = struct.unpack('>I', b[8:12])[0]
for i in range(n):
    o = 12 + 8 * i
    k = struct.unpack('>q', b[o:o + 8])[0]
    if k >= 0:
        b[o:o + 8] = struct.pack('>q', 1000000 - k)
b[-20:] = hashlib.sha1(bytes(b[:-20])).digest()
open(p, 'wb').write(b)
EOF
expect_eq "the crafted file differs" "$(cmp -s "$f" "$T/good.keys" || echo differs)" differs
check "refresh --full with wrong keys" "$MREG" -C "$R" refresh --full
expect_eq "wrong keys: the same state files" "$(statesum)" "$want"
expect_eq "wrong keys: the file written anew" "$(cmp "$f" "$T/good.keys" && echo same)" same
check "status after it" "$MREG" -C "$R" status

# a gc packs everything anew: the next fold writes the new pack's file, the old one goes
check "mreg gc" "$MREG" -C "$R" gc
expect_eq "gc removed the file of the pack it removed" "$([ ! -e "$f" ] && echo gone)" gone
check "refresh --full after gc" "$MREG" -C "$R" refresh --full
expect_eq "after gc: the same state files" "$(statesum)" "$want"
n=0
for k in "$KD"/pack-*.keys; do
	[ -e "$k" ] || continue
	n=$((n + 1))
	p=$(basename "$k" .keys)
	[ -f "$R/.git/objects/pack/$p.idx" ] || fail "after gc: $p.keys names no pack"
done
expect_eq "after gc: one file, for the new pack" "$n" 1

# a restore's indexer reads every clock: the restored registry has the
# cache from its first fold, the same bytes a fold reading the heads writes
git -C "$R" config mreg.backupDir "$T/bk"
check "backup create" "$MREG" -C "$R" backup create -r keys
check "restore-from" "$MREG" restore-from "$(ls "$T"/bk/*.bundle | head -1)" "$T/restored"
rk=$(ls "$T/restored/.git/mreg/fold-keys"/pack-*.keys 2>/dev/null | head -1)
expect_eq "restored: a key file" "$([ -n "$rk" ] && echo yes)" yes
cp "$rk" "$T/restored.keys"
rm -rf "$T/restored/.git/mreg/fold-keys"
check "restored: refresh --full reading the heads" "$MREG" -C "$T/restored" refresh --full
expect_eq "restored: the file it writes is the restore's" "$(cmp "$rk" "$T/restored.keys" && echo same)" same

# a linked work tree: the packs are the common directory's, and the files
# of its folds are not taken for files of packs gone. A second large pack
# (a part of the events packed again by stock git): a file for each
git -C "$R" rev-list --objects HEAD -- events | sed -n 1,200p | cut -d' ' -f1 |
	git -C "$R" pack-objects -q "$R/.git/objects/pack/pack" >/dev/null
check "git worktree add" git -C "$R" worktree add -q "$T/linked"
check "linked: refresh --full" "$MREG" -C "$T/linked" refresh --full
LK=$R/.git/worktrees/linked/mreg/fold-keys
expect_eq "linked: a key file for each large pack" "$(ls "$LK" | grep -c '\.keys$')" 2
touch -d '2001-01-01 00:00:00' "$LK"/*.keys	# written again, they would be dated now
check "linked: refresh --full again" "$MREG" -C "$T/linked" refresh --full
expect_eq "linked: the files read, not written again" "$(for k in "$LK"/*.keys; do date -r "$k" +%Y; done | sort -u)" 2001
expect_eq "linked: the same state files" "$(cd "$T/linked" && find state -type f | sort | xargs sha1sum)" "$want"

# one thread reads the same with the cache
check "refresh --full on one thread" env MREG_FOLD_THREADS=1 "$MREG" -C "$R" refresh --full
expect_eq "one thread: the same state files" "$(statesum)" "$want"
out=$(git -C "$R" fsck 2>&1)
expect_eq "git fsck is clean" "$?:$out" "0:"
finish

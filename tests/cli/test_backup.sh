#!/bin/sh
# Backups: mreg backup create/list/show/verify/restore/prune/auto/stats and
# mreg restore-from, checked against stock git (git bundle verify, git clone)
# and independent tools (cmp, stat, xxh128). A backup is <id>.bundle,
# <id>.json in registry_backups/ beside the registry (or git config
# mreg.backupDir), with the large model files (over mreg.json's
# artifact_max_bytes: Git LFS pointers in git, bytes in .git/lfs/objects)
# carried in its lfs/objects/. A restore folds the state from the events.
# A refused verify or restore exits 1 with one line on stderr, leaves the
# registry byte-for-byte as it was and adds no backup (no pre-restore backup
# for a restore that did not happen). Several registries keep the sections
# independent: the main one in the default layout (data/model_registry, its
# backups in data/registry_backups), the others with mreg.backupDir.
. "$(dirname "$0")/lib.sh"

# snap REG: snapshot (lib.sh) and the large files outside git
snap() {
	snapshot "$1"
	(cd "$1" && find blobs .git/lfs/objects -type f 2>/dev/null | sort | xargs -r sha1sum)
}

# bad DESC CODE PATTERN REG CMD...: CMD must fail as expect_fail says, and
# leave REG's snapshot unchanged
bad() {
	_d=$1 _c=$2 _p=$3 _r=$4
	shift 4
	_before=$(snap "$_r" 2>&1)
	expect_fail "$_d" "$_c" "$_p" "$@"
	expect_eq "$_d: registry unchanged" "$(snap "$_r" 2>&1)" "$_before"
}

# j REG FILTER ARGS...: mreg --json ARGS on REG, through jq -rc FILTER
j() {
	_r=$1 _q=$2
	shift 2
	"$MREG" -C "$_r" --json "$@" | jq -rc "$_q"
}

# out FILTER: jq -rc FILTER over the stdout of the last check
out() { jq -rc "$1" "$T/.out"; }

# newbk REG [REASON]: create a backup, print its id
newbk() { j "$1" .id backup create -r "${2:-test}"; }

# ids REG: the backup ids as list --json gives them, one a line
ids() { j "$1" '.[].id' backup list; }

# flip FILE OFFSET: invert one byte in place
flip() {
	_b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "\\$(printf %03o $((_b ^ 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# hex2bin HEX: the bytes
hex2bin() {
	for _h in $(echo "$1" | sed 's/../& /g'); do printf "\\$(printf %03o "0x$_h")"; done
}

# xxh FILE: the xxh128 of FILE in hex, computed without mreg (empty if no tool)
if command -v xxh128sum >/dev/null 2>&1; then
	xxh() { xxh128sum "$1" | cut -d' ' -f1; }
else
	XXH=$(xxh128_helper)
	xxh() { "$XXH" "$1" 2>/dev/null; }
fi

# lsdir DIR: every path under DIR, for "nothing was added or removed"
lsdir() { (cd "$1" && find . | sort); }

model_file m1.bin
model_file big.bin 1500000	# over artifact_max_bytes (1 MiB): goes to .git/lfs
model_file m3.bin 2048
model_file m4.bin 3000
model_file big2.bin 1200000
model_file m5.bin 1000
git init -q vr	# for git bundle verify, which wants a repository

# ---- fixture: the default layout ----------------------------------------
# alpha_net: v1 development (tag baseline), v2 (large) staging; heur:1 development.
REG=data/model_registry
BK=data/registry_backups
new_registry_full $REG
# more backups than the default retention keeps (10) are made and counted here; section 6 tests retention
jq '.backup.max_backups = 100' $REG/mreg.json >max.json && cp max.json $REG/mreg.json && git -C $REG commit -qam "keep 100 backups"
check "register alpha_net:1" "$MREG" -C $REG register "Alpha Net" m1.bin
check "register alpha_net:2 (large)" "$MREG" -C $REG register "Alpha Net" big.bin --metric elo=1500
check "promote alpha_net:2 to staging" "$MREG" -C $REG promote alpha_net:2 --to staging
check "register heur:1" "$MREG" -C $REG register heur m3.bin --type heuristic
check "tag alpha_net:1" "$MREG" -C $REG tag alpha_net:1 baseline
bigpath=$(j $REG .file_path show alpha_net:2)
case $bigpath in artifacts/*) ok "large file's path is under artifacts/ ($bigpath)" ;; *) fail "large file path '$bigpath'" ;; esac
check "large file's work tree copy is the registered file" cmp big.bin "$REG/$bigpath"
# lfsobj FILE: where Git LFS keeps FILE's bytes, lfs/objects/ab/cd/<sha256>
lfsobj() { _s=$(sha256sum "$1" | cut -c1-64); echo "lfs/objects/$(echo $_s | cut -c1-2)/$(echo $_s | cut -c3-4)/$_s"; }
bigobj=$(lfsobj big.bin)
big2obj=$(lfsobj big2.bin)
check "large file in the registry's .git/lfs is the registered file" cmp big.bin "$REG/.git/$bigobj"

# R0: the state at the first backup
cp -R $REG/state r0.state
"$MREG" -C $REG --json list >r0.list
(cd $REG && find events -type f | sort) >r0.events
head0=$(git -C $REG rev-parse HEAD)
nev0=$(wc -l <r0.events | tr -d ' ')

# ---- 1. create ---------------------------------------------------------------
check "backup create -r 'before sync'" "$MREG" -C $REG --json backup create -r "before sync"
cp "$T/.out" c.json
ID=$(jq -r .id c.json)
expect_eq "id looks like YYYYMMDD-HHMMSS-ffffff-NN" \
	"$(echo "$ID" | grep -cE '^[0-9]{8}-[0-9]{6}-[0-9]{6}-[0-9]{2}$')" 1
for f in "$ID.bundle" "$ID.json"; do
	check "default layout: $BK/$f" test -f "$T/$BK/$f"
done
check "default layout: no state snapshot (a restore folds)" test ! -e "$T/$BK/$ID.state"
check "default layout: nothing inside the registry" test ! -e "$REG/registry_backups"
check "backup show ID --json" "$MREG" -C $REG --json backup show "$ID"
expect_eq "show --json is what create printed" "$(jq -cS . "$T/.out")" "$(jq -rcS . c.json)"
expect_eq "metadata file is what create printed" "$(jq -cS . "$BK/$ID.json")" "$(jq -rcS . c.json)"
tm=$(jq -r .time c.json)
expect_eq "time is an RFC 3339 UTC time to the microsecond" \
	"$(echo "$tm" | grep -cE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$')" 1
expect_eq "id is the time" "$(echo "$ID" | cut -c1-22)" "$(echo "$tm" | tr -d -- '-:Z' | tr 'T.' '--')"
expect_eq "reason" "$(jq -r .reason c.json)" "before sync"
expect_eq "actor" "$(jq -r .actor c.json)" "tester"
expect_eq "host" "$(jq -r .host c.json)" "$(uname -n)"
expect_eq "head is HEAD" "$(jq -r .head c.json)" "$head0"
expect_eq "counts are status's" "$(jq -c '[.events, .models, .versions]' c.json)" \
	"$(j $REG '[.events, .models, .versions]' status)"
expect_eq "counts are what was registered" "$(jq -c '[.events, .models, .versions]' c.json)" "[$nev0,2,3]"
expect_eq "bundle names its file" "$(jq -r .bundle c.json)" "$ID.bundle"
expect_eq "bundle_size is the file's size" "$(jq -r .bundle_size c.json)" "$(stat -c %s "$BK/$ID.bundle")"
expect_eq "bundle_hash is xxh128:<32 hex>" \
	"$(jq -r .bundle_hash c.json | grep -cE '^xxh128:[0-9a-f]{32}$')" 1
h=$(xxh "$BK/$ID.bundle")
if [ -n "$h" ]; then
	expect_eq "bundle_hash is the bundle's xxh128 (computed without mreg)" "$(jq -r .bundle_hash c.json)" "xxh128:$h"
fi
expect_eq "blobs lists the large file" "$(jq -c '[.blobs[] | [.path, .size]]' c.json)" "[[\"$bigobj\",1500000]]"
expect_eq "mreg_version" "$(jq -r .mreg_version c.json)" "$("$MREG" version | cut -d' ' -f2)"
check "stock git bundle verify takes the bundle" git -C vr bundle verify "$T/$BK/$ID.bundle"
# the bundle carries the pointer; its bytes are beside it, in lfs/objects/ (no LFS server to fetch from)
check "git clone of the bundle" env GIT_LFS_SKIP_SMUDGE=1 git clone -q "$BK/$ID.bundle" clone
expect_eq "the clone is at the backup's head" "$(git -C clone rev-parse HEAD)" "$head0"
check "mreg list on the clone" "$MREG" -C clone --json list
expect_eq "clone lists the same versions and stages" "$(out '[.[] | [.model_id, .version, .stage, .tags]]')" \
	"$(jq -c '[.[] | [.model_id, .version, .stage, .tags]]' r0.list)"
expect_eq "clone lists exactly what the source did" "$(out .)" "$(jq -c . r0.list)"
bad "fsck on the clone names the large file git does not carry" 1 "$bigpath" clone \
	"$MREG" -C clone fsck
mkdir -p clone/.git/lfs && cp -R "$BK/lfs/objects" clone/.git/lfs/
check "refresh on the clone with the backup's lfs/objects makes the work tree copy" "$MREG" -C clone refresh
check "the clone's copy holds the large file's bytes" cmp big.bin "clone/$bigpath"
check "fsck on the clone with the backup's lfs/objects" "$MREG" -C clone fsck
check "large file is in the backup's lfs/objects/" test -f "$BK/$bigobj"
check "large file in the backup is identical" cmp big.bin "$BK/$bigobj"
expect_eq "large file in the backup is a hard link of the registry's" \
	"$(stat -c %d:%i "$BK/$bigobj")" "$(stat -c %d:%i "$REG/.git/$bigobj")"
check "backup verify" "$MREG" -C $REG backup verify "$ID"
check "backup verify --json" "$MREG" -C $REG --json backup verify "$ID"
expect_eq "verify report" "$(out '[.ok, .head, .events, .blobs]')" "[true,\"$head0\",$nev0,1]"
expect_eq "backup create wrote nothing to the registry" "$(git -C $REG rev-parse HEAD)" "$head0"
expect_eq "git status still clean" "$(tree_clean $REG)" ""

# the registry named as "." from inside it: its backups are still beside it
new_registry_full dot/reg
check "dot: register" "$MREG" -C dot/reg register "Alpha Net" m1.bin
DOT=$(cd dot/reg && "$MREG" -C . --json backup create -r dot | jq -r .id)
check "-C . from inside the registry: backup made" test -n "$DOT"
check "-C .: the backup is beside the registry (dot/registry_backups)" test -f "dot/registry_backups/$DOT.json"
expect_eq "-C .: nothing left in the registry's work tree" "$(tree_clean dot/reg)" ""
check "-C .: the same registry named dot/reg finds the backup" "$MREG" -C dot/reg backup show "$DOT"

# ---- 2. ids --------------------------------------------------------------
ID2=$(newbk $REG) ID3=$(newbk $REG)
check "two backups in a row have distinct ids" test -n "$ID2" -a -n "$ID3" -a "$ID2" != "$ID3"
expect_eq "the later id sorts after" "$(printf '%s\n' "$ID3" "$ID2" | sort | tr '\n' ' ')" "$ID2 $ID3 "
: >made.ids
for i in 1 2 3 4 5; do newbk $REG "fast $i" >>made.ids; done
expect_eq "5 fast backups: 5 distinct ids" "$(sort -u made.ids | grep -c .)" 5
expect_eq "5 fast backups: ids increase" "$(cat made.ids)" "$(sort made.ids)"
# three at once: they queue on the backup directory's lock
for i in 1 2 3; do (newbk $REG "parallel $i" >par.$i) & done
wait
cat par.1 par.2 par.3 >>made.ids
printf '%s\n' "$ID" "$ID2" "$ID3" >>made.ids
expect_eq "all 11 ids distinct" "$(sort -u made.ids | grep -c .)" 11
expect_eq "list has all 11" "$(ids $REG | grep -c .)" 11
expect_eq "list is newest first (ids descending)" "$(ids $REG)" "$(sort -r made.ids)"
expect_eq "ids sort by time" "$(j $REG '.[].time' backup list)" "$(j $REG '.[].time' backup list | sort -r)"
expect_eq "each id is its time" \
	"$(j $REG '.[] | (.id[0:22] == (.time | gsub("[-:Z]"; "") | sub("T"; "-") | sub("\\."; "-")))' backup list | sort -u)" true

# ---- 3. restore round trip -------------------------------------------------
check "register alpha_net:3" "$MREG" -C $REG register "Alpha Net" m4.bin
check "register beta:1 (large)" "$MREG" -C $REG register Beta big2.bin
check "promote alpha_net:2 to production" "$MREG" -C $REG promote alpha_net:2 --to production
check "tag alpha_net:3" "$MREG" -C $REG tag alpha_net:3 candidate
check "update-metrics alpha_net:3" "$MREG" -C $REG update-metrics alpha_net:3 elo=1600
check "reject heur:1" "$MREG" -C $REG reject heur:1 -r weak
big2path=$(j $REG .file_path show beta:1)
cp -R $REG/state r1.state
"$MREG" -C $REG --json list >r1.list
(cd $REG && find events -type f | sort) >r1.events
head1=$(git -C $REG rev-parse HEAD)
check "the later writes changed production.json" sh -c '! cmp -s r0.state/production.json r1.state/production.json'
check "backup restore ID" "$MREG" -C $REG --json backup restore "$ID"
cp "$T/.out" rr.json
for f in registry.json production.json; do
	check "restore: state/$f byte-identical to the backup's time" cmp r0.state/$f $REG/state/$f
done
for f in r0.state/models/*.json; do
	check "restore: state/models/${f##*/} byte-identical" cmp "$f" "$REG/state/models/${f##*/}"
done
check "restore: state/ holds exactly the files it held" diff -r r0.state $REG/state
expect_eq "restore: list as at the backup" "$(j $REG . list)" "$(jq -c . r0.list)"
expect_eq "restore: HEAD is the backup's head" "$(git -C $REG rev-parse HEAD)" "$head0"
expect_eq "restore: git status clean" "$(tree_clean $REG)" ""
check "restore: fsck clean" "$MREG" -C $REG fsck
expect_eq "restore: events are the backup's" "$(cd $REG && find events -type f | sort)" "$(cat r0.events)"
later=$(comm -13 r0.events r1.events | head -1)
check "restore: an event written after the backup ($later) is gone" test -n "$later" -a ! -e "$REG/$later"
expect_eq "restore report: restored, head, counts" "$(jq -c '[.restored, .head, .events, .models, .versions]' rr.json)" \
	"[\"$ID\",\"$head0\",$nev0,2,3]"
PRE=$(jq -r .pre_restore_backup rr.json)
check "restore report names a pre-restore backup other than ID" test -n "$PRE" -a "$PRE" != null -a "$PRE" != "$ID"
check "the pre-restore backup exists" test -f "$BK/$PRE.json" -a -f "$BK/$PRE.bundle"
expect_eq "the pre-restore backup is of the state before" "$(jq -r .head "$BK/$PRE.json")" "$head1"
expect_eq "the pre-restore backup says why" "$(jq -r .reason "$BK/$PRE.json")" "pre-restore: before restoring $ID"
check "restore the pre-restore backup" "$MREG" -C $REG --json backup restore "$PRE"
cp "$T/.out" rr2.json
for f in registry.json production.json; do
	check "undo: state/$f byte-identical to before the first restore" cmp r1.state/$f $REG/state/$f
done
for f in r1.state/models/*.json; do
	check "undo: state/models/${f##*/} byte-identical" cmp "$f" "$REG/state/models/${f##*/}"
done
check "undo: state/ holds exactly the files it held" diff -r r1.state $REG/state
expect_eq "undo: list as before the first restore" "$(j $REG . list)" "$(jq -c . r1.list)"
expect_eq "undo: HEAD as before the first restore" "$(git -C $REG rev-parse HEAD)" "$head1"
expect_eq "undo: events as before the first restore" "$(cd $REG && find events -type f | sort)" "$(cat r1.events)"
expect_eq "undo: git status clean" "$(tree_clean $REG)" ""
check "undo: fsck clean" "$MREG" -C $REG fsck
PRE2=$(jq -r .pre_restore_backup rr2.json)
check "undo took its own pre-restore backup" test -n "$PRE2" -a "$PRE2" != "$PRE" -a "$PRE2" != "$ID"
check "the original backup still verifies" "$MREG" -C $REG backup verify "$ID"

# ---- 8. stats ---------------------------------------------------------------
check "backup stats --json" "$MREG" -C $REG --json backup stats
cp "$T/.out" st.json
n=$(ids $REG | grep -c .)
expect_eq "stats: total_backups is list's count" "$(jq -r .total_backups st.json)" "$n"
expect_eq "stats: 13 backups (11 made, 2 pre-restore)" "$n" 13
expect_eq "stats: bundle_bytes is the sum of bundle_size" "$(jq -r .bundle_bytes st.json)" \
	"$(j $REG '[.[].bundle_size] | add' backup list)"
expect_eq "stats: bundle_bytes is the bundles' sizes on disk" "$(jq -r .bundle_bytes st.json)" \
	"$(stat -c %s $BK/*.bundle | awk '{s += $1} END {print s}')"
expect_eq "stats: newest and oldest" "$(jq -c '[.newest, .oldest]' st.json)" \
	"$(j $REG '[.[0].id, .[-1].id]' backup list)"
expect_eq "stats: blob_files" "$(jq -r .blob_files st.json)" "$(find $BK/lfs $BK/blobs -type f 2>/dev/null | grep -c .)"

# ---- 4. restore-from ----------------------------------------------------------
check "backup of the current state" "$MREG" -C $REG --json backup create -r "before the disk died"
B4=$(out .id)
"$MREG" -C $REG --json list >r4.list
head4=$(git -C $REG rev-parse HEAD)
commits4=$(git -C $REG log --oneline | wc -l | tr -d ' ')
rm -rf $REG
check "registry gone" test ! -e $REG
NEW=data/rebuilt
check "restore-from the bundle into a new directory" "$MREG" --json restore-from "$BK/$B4.bundle" $NEW
expect_eq "restore-from report" "$(out '[.restored, .head, .events, .models, .versions]')" \
	"$(jq -c "[\"$B4\", .head, .events, .models, .versions]" "$BK/$B4.json")"
expect_eq "restore-from: list as at the backup" "$(j $NEW . list)" "$(jq -c . r4.list)"
expect_eq "restore-from: HEAD is the backup's head" "$(git -C $NEW rev-parse HEAD)" "$head4"
check "restore-from: the large file has its bytes" cmp big.bin "$NEW/$bigpath"
check "restore-from: the second large file has its bytes" cmp big2.bin "$NEW/$big2path"
check "restore-from: fsck clean" "$MREG" -C $NEW fsck
expect_eq "restore-from: git status clean" "$(tree_clean $NEW)" ""
expect_eq "restore-from: every commit is there" "$(git -C $NEW log --oneline | wc -l | tr -d ' ')" "$commits4"
expect_eq "restore-from: on the backup's branch" "$(git -C $NEW symbolic-ref HEAD)" "$(jq -r .branch "$BK/$B4.json")"
check "restore-from: a later register works" "$MREG" -C $NEW register "Alpha Net" m5.bin
expect_eq "restore-from: it is alpha_net:4" "$(j $NEW .version show alpha_net)" 4
check "restore-from: fsck clean after the write" "$MREG" -C $NEW fsck
mkdir empty
check "restore-from into an empty directory (the first backup)" "$MREG" restore-from "$BK/$ID.bundle" empty
expect_eq "restore-from: the first backup's list" "$(j empty . list)" "$(jq -c . r0.list)"
check "restore-from: the first backup's fsck clean" "$MREG" -C empty fsck
# the pack is written without a wait, its writeback started once the writer
# lock's files are synced (started before, they waited behind it), and
# flushed at the end: its bytes, its index and the pack directory are on
# disk before the registry is in place
if command -v strace >/dev/null 2>&1; then
	strace -f -y -e trace=fsync,fdatasync,sync_file_range,rename,renameat,renameat2 -o restore.trace \
		"$MREG" restore-from "$BK/$B4.bundle" flushed >/dev/null 2>&1
	# the line of the first call naming PATTERN (0: none)
	first_line() { grep -n -E "$1" restore.trace | head -n 1 | cut -d: -f1 | grep . || echo 0; }
	_moved=$(first_line 'rename(at2?)?\(([A-Z_]+, )?"flushed\.restoring-[^"]*", ([A-Z_]+, )?"flushed".* = 0')
	_node=$(first_line '(fsync|fdatasync)\([0-9]+<[^>]*/mreg/node[^>]*>\)|sync_file_range\([0-9]+<[^>]*/mreg/node[^>]*>.*WAIT_AFTER')
	_start=$(first_line 'sync_file_range\([0-9]+<[^>]*pack-[0-9a-f]{40}\.pack>, 0, 0, SYNC_FILE_RANGE_WRITE\)')
	expect_eq "restore-from: the pack's writeback starts after the writer lock's files are synced" \
		"$([ "$_node" -gt 0 ] && [ "$_start" -gt "$_node" ] && [ "$_start" -lt "$_moved" ] && echo yes)" yes
	for _what in 'pack-[0-9a-f]{40}\.pack>' 'pack-[0-9a-f]{40}\.idx>' 'objects/pack>'; do
		# (a journaled ext4 or xfs flushes a file's data with sync_file_range, waiting)
		_synced=$(first_line "(fsync|fdatasync)\\([0-9]+<[^>]*$_what|sync_file_range\\([0-9]+<[^>]*$_what.*WAIT_AFTER")
		expect_eq "restore-from: $_what flushed before the registry is moved into place" \
			"$([ "$_synced" -gt 0 ] && [ "$_synced" -lt "$_moved" ] && echo yes)" yes
	done
	check "restore-from: the flushed restore's fsck clean" "$MREG" -C flushed fsck
else
	echo "# skip: no strace"
fi
mkdir full && printf 'keep me\n' >full/keep.txt
before=$(lsdir full; sha1sum full/keep.txt)
expect_fail "restore-from into a non-empty directory" 1 "cannot restore into 'full': it is not an empty directory" \
	"$MREG" restore-from "$BK/$B4.bundle" full
expect_eq "restore-from: the non-empty directory untouched" "$(lsdir full; sha1sum full/keep.txt)" "$before"
expect_fail "restore-from a missing bundle" 1 "backup file missing: '$BK/nosuch\.bundle'" \
	"$MREG" restore-from "$BK/nosuch.bundle" gone
check "restore-from a missing bundle made no directory" test ! -e gone
expect_fail "restore-from a file that is not <id>.bundle" 1 "not a backup bundle" \
	"$MREG" restore-from "$BK/$B4.json" gone
check "restore-from a non-bundle made no directory" test ! -e gone

# ---- 5. corruption ----------------------------------------------------------
# registry C, its backups moved by mreg.backupDir to CB
C=corr/reg
CB=$T/cbk
new_registry_full $C
git -C $C config mreg.backupDir "$CB"
check "C: register a small file" "$MREG" -C $C register "Alpha Net" m1.bin
check "C: register a large file" "$MREG" -C $C register "Alpha Net" big.bin
check "C: promote" "$MREG" -C $C promote alpha_net:2 --to staging
GOOD=$(newbk $C good)
check "mreg.backupDir: the backup is there" test -f "$CB/$GOOD.bundle" -a -f "$CB/$GOOD.json" -a -f "$CB/$bigobj"
check "mreg.backupDir: nothing in the default place" test ! -e corr/registry_backups
check "mreg.backupDir: list finds it" test "$(ids $C)" = "$GOOD"
check "C: the good backup verifies" "$MREG" -C $C backup verify "$GOOD"
# and writes nothing to do it: the pack is read where it lies in the bundle
# (a disk with no room for a copy of it verifies all the same)
if command -v strace >/dev/null 2>&1; then
	strace -f -e trace=openat,mkdir,mkdirat,rename,unlink,unlinkat -o verify.trace "$MREG" -C $C backup verify "$GOOD" >/dev/null 2>&1
	# (the backup directory's lock is there already; its directories too)
	expect_eq "backup verify creates, renames or removes nothing" \
		"$(grep -E 'O_CREAT|O_WRONLY|O_RDWR|mkdir|rename|unlink' verify.trace |
			grep -v -e ENOENT -e EEXIST -e '/dev/' -e '/proc/' -e '/\.lock"' | grep -c .)" 0
else
	echo "# skip: no strace"
fi

# refused DESC PATTERN ID: verify and restore both refuse (as expect_fail says);
# the registry (snap) and the backup directory are left as they were
refused() {
	_l=$(lsdir "$CB") _before=$(snap $C 2>&1)
	expect_fail "$1: backup verify" 1 "$2" "$MREG" -C $C backup verify "$3"
	expect_fail "$1: backup restore" 1 "$2" "$MREG" -C $C backup restore "$3"
	expect_eq "$1: registry unchanged" "$(snap $C 2>&1)" "$_before"
	expect_eq "$1: no backup made or removed" "$(lsdir "$CB")" "$_l"
}

# (a) one flipped byte in the middle of the bundle
A=$(newbk $C flipped)
flip "$CB/$A.bundle" $(($(stat -c %s "$CB/$A.bundle") / 2))
refused "(a) a flipped byte in the bundle" "hash mismatch in backup '$A'" "$A"
# (b) a truncated bundle
B=$(newbk $C truncated)
truncate -s $(($(stat -c %s "$CB/$B.bundle") - 100)) "$CB/$B.bundle"
refused "(b) a truncated bundle" "hash mismatch in backup '$B'" "$B"
# (c) a large file missing from the backup's lfs/objects/ (shared: GOOD is hit too)
mv "$CB/$bigobj" saved.blob
refused "(c) a large file missing" "large file '$bigobj' is missing from the backup" "$GOOD"
mv saved.blob "$CB/$bigobj"
check "(c) with the file back, the backup verifies" "$MREG" -C $C backup verify "$GOOD"
# (d) a large file whose bytes changed (a copy: the registry's own file is a hard link)
cp "$CB/$bigobj" changed.blob
flip changed.blob 1000
cp "$CB/$bigobj" saved.blob
chmod u+w "$CB/$bigobj" 2>/dev/null
mv changed.blob "$CB/$bigobj"
refused "(d) a large file changed" "hash mismatch: large file '$bigobj'" "$GOOD"
check "(d) the registry's large file untouched" cmp big.bin "$C/$bigpath"
check "(d) the registry's stored large file untouched" cmp big.bin "$C/.git/$bigobj"
mv saved.blob "$CB/$bigobj"
check "(d) with the file back, the backup verifies" "$MREG" -C $C backup verify "$GOOD"
# (e) a metadata file whose bundle_hash was edited
E=$(newbk $C edited)
jq '.bundle_hash = "xxh128:0123456789abcdef0123456789abcdef"' "$CB/$E.json" >e.json && mv e.json "$CB/$E.json"
refused "(e) bundle_hash edited" "hash mismatch in backup '$E'" "$E"
# (f) unknown ids
refused "(f) unknown id" "backup not found: '20990101-000000-000000-00'" 20990101-000000-000000-00
refused "(f) unknown name" "backup not found: 'nosuch'" nosuch
# (g) ids that are paths
refused "(g) id with a slash" "backup not found: '\.\./cbk/$GOOD'" "../cbk/$GOOD"
refused "(g) id with .." "backup not found: '\.\.'" ..
refused "(g) id with .. inside" "backup not found: '$GOOD/\.\.'" "$GOOD/.."
# and two more: the bundle gone, the metadata not JSON
F=$(newbk $C gone)
rm "$CB/$F.bundle"
refused "bundle file missing" "backup file missing: '.*$F\.bundle'" "$F"
G=$(newbk $C garbled)
printf '{"id": "%s", ' "$G" >"$CB/$G.json"
refused "metadata does not parse" "corrupt backup '$G'.*does not parse" "$G"
# (h) a consistent forgery: a byte flipped inside the pack, the metadata's size
# and hash rewritten to match (the hash needs an xxh128 made without mreg)
H=$(newbk $C forged)
if [ -n "$(xxh "$CB/$H.bundle")" ]; then
	hb=$CB/$H.bundle
	hdr=$(awk '{ n += length($0) + 1 } /^$/ { print n; exit }' "$hb")	# header bytes, the blank line too
	flip "$hb" $(( (hdr + $(stat -c %s "$hb")) / 2 ))
	jq --arg h "xxh128:$(xxh "$hb")" --argjson s "$(stat -c %s "$hb")" '.bundle_hash = $h | .bundle_size = $s' \
		"$CB/$H.json" >h.json && mv h.json "$CB/$H.json"
	refused "(h) a byte flipped in the pack, size and hash rewritten" \
		"corrupt backup '$H'.*(pack checksum mismatch|does not index)" "$H"
	# (h2) and the pack's own SHA-1 trailer recomputed: only indexing the pack finds it
	H2=$(newbk $C forged2)
	hb=$CB/$H2.bundle
	sz=$(stat -c %s "$hb")
	hdr=$(awk '{ n += length($0) + 1 } /^$/ { print n; exit }' "$hb")
	flip "$hb" $(( (hdr + sz) / 2 ))
	sum=$(tail -c +$((hdr + 1)) "$hb" | head -c $((sz - hdr - 20)) | sha1sum | cut -c1-40)
	hex2bin "$sum" | dd of="$hb" bs=1 seek=$((sz - 20)) conv=notrunc 2>/dev/null
	expect_eq "(h2) the forged bundle keeps its size" "$(stat -c %s "$hb")" "$sz"
	jq --arg h "xxh128:$(xxh "$hb")" '.bundle_hash = $h' "$CB/$H2.json" >h.json && mv h.json "$CB/$H2.json"
	_l=$(lsdir "$CB")
	bad "(h2) pack checksum recomputed: backup verify" 1 "corrupt backup '$H2'" $C \
		"$MREG" -C $C backup verify "$H2"
	expect_eq "(h2) no backup made or removed" "$(lsdir "$CB")" "$_l"
	# a registry without the backup's history indexes the pack to restore it
	new_registry_full corr/other
	git -C corr/other config mreg.backupDir "$CB"
	_l=$(lsdir "$CB")
	bad "(h2) backup restore into a registry without that history" 1 "corrupt backup '$H2'" corr/other \
		"$MREG" -C corr/other backup restore "$H2"
	expect_eq "(h2) restore refused: no backup made or removed" "$(lsdir "$CB")" "$_l"
	# (h3) a consistent bundle whose pack lacks one event file the head reaches:
	# every byte and checksum holds, only the walk of the head finds the gap
	H3=$(newbk $C incomplete)
	hb=$CB/$H3.bundle
	hdr=$(awk '{ n += length($0) + 1 } /^$/ { print n; exit }' "$hb")
	head3=$(jq -r .head "$CB/$H3.json")
	gone=$(git -C $C ls-tree -r "$head3" -- events | head -1 | cut -d' ' -f3 | cut -c1-40)
	git -C $C rev-list --objects "$head3" | cut -d' ' -f1 | grep -v "^$gone\$" |
		git -C $C pack-objects -q "$PWD/h3pack" >/dev/null
	expect_eq "(h3) the crafted pack lacks the event file, and only it" \
		"$(cat h3pack-*.idx | git show-index | grep -c " $gone ")/$(cat h3pack-*.idx | git show-index | wc -l)" \
		"0/$(($(git -C $C rev-list --objects "$head3" | wc -l) - 1))"
	{ head -c "$hdr" "$hb"; cat h3pack-*.pack; } >h3.bundle
	rm -f h3pack-*
	mv h3.bundle "$hb"
	jq --arg h "xxh128:$(xxh "$hb")" --argjson s "$(stat -c %s "$hb")" '.bundle_hash = $h | .bundle_size = $s' \
		"$CB/$H3.json" >h.json && mv h.json "$CB/$H3.json"
	_l=$(lsdir "$CB")
	bad "(h3) a pack without an object the head reaches: backup verify" 1 \
		"corrupt backup '$H3': its head is incomplete: object $gone is missing" $C "$MREG" -C $C backup verify "$H3"
	expect_fail "(h3) restore-from refuses it" 1 "corrupt backup '$H3': its head is incomplete: object $gone is missing" \
		"$MREG" restore-from "$hb" h3restored
	check "(h3) restore-from left nothing" test ! -e h3restored
	expect_eq "(h3) no backup made or removed" "$(lsdir "$CB")" "$_l"
	expect_fail "(h3) the walk on one thread finds the same gap" 1 \
		"corrupt backup '$H3': its head is incomplete: object $gone is missing" \
		env MREG_FOLD_THREADS=1 "$MREG" -C $C backup verify "$H3"
	# (h3b) the same with a tree gone: the events directory's, which every event hangs from
	H3B=$(newbk $C incomplete-tree)
	hb=$CB/$H3B.bundle
	hdr=$(awk '{ n += length($0) + 1 } /^$/ { print n; exit }' "$hb")
	head3b=$(jq -r .head "$CB/$H3B.json")
	gone=$(git -C $C rev-parse "$head3b:events")
	git -C $C rev-list --objects "$head3b" | cut -d' ' -f1 | grep -v "^$gone\$" |
		git -C $C pack-objects -q "$PWD/h3pack" >/dev/null
	{ head -c "$hdr" "$hb"; cat h3pack-*.pack; } >h3.bundle
	rm -f h3pack-*
	mv h3.bundle "$hb"
	jq --arg h "xxh128:$(xxh "$hb")" --argjson s "$(stat -c %s "$hb")" '.bundle_hash = $h | .bundle_size = $s' \
		"$CB/$H3B.json" >h.json && mv h.json "$CB/$H3B.json"
	for threads in 1 2 3; do
		expect_fail "(h3b) a pack without the events tree, on $threads thread(s): backup verify" 1 \
			"corrupt backup '$H3B': its head is incomplete: object $gone is missing" \
			env MREG_FOLD_THREADS=$threads "$MREG" -C $C backup verify "$H3B"
	done
	expect_fail "(h3b) restore-from refuses it" 1 "corrupt backup '$H3B': its head is incomplete: object $gone is missing" \
		"$MREG" restore-from "$hb" h3restored
	check "(h3b) restore-from left nothing" test ! -e h3restored
	# (h4) a head commit whose parent line is not one: hashes hold, the walk refuses it
	H4=$(newbk $C badcommit)
	hb=$CB/$H4.bundle
	tree4=$(git -C $C rev-parse "$head3^{tree}")
	# the commit is written to a scratch repository that borrows C's objects, not to C
	git init -q --bare h4.git && echo "$PWD/$C/.git/objects" >h4.git/objects/info/alternates
	bad4=$(printf 'tree %s\nparent %s\nauthor a <a> 1 +0000\ncommitter a <a> 1 +0000\n\nx\n' "$tree4" \
		"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz" | git -C h4.git hash-object -t commit -w --literally --stdin)
	printf '# v2 git bundle\n%s refs/heads/main\n\n' "$bad4" >h4.bundle
	{ echo "$bad4"; git -C $C rev-list --objects "$head3" | cut -d' ' -f1; } | git -C h4.git pack-objects -q --stdout >>h4.bundle
	mv h4.bundle "$hb"
	jq --arg h "xxh128:$(xxh "$hb")" --argjson s "$(stat -c %s "$hb")" --arg c "$bad4" \
		'.bundle_hash = $h | .bundle_size = $s | .head = $c' "$CB/$H4.json" >h.json && mv h.json "$CB/$H4.json"
	bad "(h4) a head commit that does not parse: backup verify" 1 \
		"corrupt backup '$H4': commit $bad4 does not parse" $C "$MREG" -C $C backup verify "$H4"
	# (h5) a tree named both as a file and as a directory, its file gone from the pack: the walk
	# reads it as the directory it also is, whichever way it meets it first, on any number of threads
	H5=$H3B	# h3b's backup, written over (one more would prune the oldest, which the checks below use)
	hb=$CB/$H5.bundle
	git init -q --bare h5.git
	y5=$(printf 'only here\n' | git -C h5.git hash-object -w --stdin)
	x5=$(printf '100644 blob %s\ty\n' "$y5" | git -C h5.git mktree)
	bin5() { perl -e 'print pack("H*", $ARGV[0])' "$x5"; }	# git mktree refuses a tree named as a file: by hand
	r5=$({ printf '100644 a\000'; bin5; printf '40000 b\000'; bin5; printf '100644 c\000'; bin5; } |
		git -C h5.git hash-object -t tree -w --stdin --literally)
	c5=$(printf 'tree %s\nauthor a <a> 1 +0000\ncommitter a <a> 1 +0000\n\nx\n' "$r5" |
		git -C h5.git hash-object -t commit -w --stdin)
	printf '# v2 git bundle\n%s refs/heads/main\n\n' "$c5" >h5.bundle
	printf '%s\n%s\n%s\n' "$c5" "$r5" "$x5" | git -C h5.git pack-objects -q --stdout >>h5.bundle
	mv h5.bundle "$hb"
	jq --arg h "xxh128:$(xxh "$hb")" --argjson s "$(stat -c %s "$hb")" --arg c "$c5" \
		'.bundle_hash = $h | .bundle_size = $s | .head = $c' "$CB/$H5.json" >h.json && mv h.json "$CB/$H5.json"
	for threads in 1 2 4; do
		expect_fail "(h5) a tree that is also named as a file, its file gone, on $threads thread(s)" 1 \
			"corrupt backup '$H5': its head is incomplete: object $y5 is missing" \
			env MREG_FOLD_THREADS=$threads "$MREG" -C $C backup verify "$H5"
	done
else
	# no xxh128sum and no cc/xxhash.h to build lib.sh's helper: cannot forge the hash
	echo "# skip (h): no xxh128 tool"
fi
# the metadata of another backup under this id (a copy)
cp "$CB/$GOOD.json" "$CB/20000101-000000-000000-00.json"
refused "metadata of another backup" "corrupt backup '20000101-000000-000000-00': its metadata names another backup" \
	20000101-000000-000000-00
rm "$CB/20000101-000000-000000-00.json"
check "C: fsck clean after all that" "$MREG" -C $C fsck
check "C: the good backup still verifies" "$MREG" -C $C backup verify "$GOOD"
# restore into a registry with other history: the pack is indexed there
new_registry_full corr/fresh
git -C corr/fresh config mreg.backupDir "$CB"
check "restore GOOD into a fresh registry" "$MREG" -C corr/fresh backup restore "$GOOD"
expect_eq "fresh: list as C's at GOOD" "$(j corr/fresh . list)" "$(j $C . list)"
expect_eq "fresh: HEAD is GOOD's head" "$(git -C corr/fresh rev-parse HEAD)" "$(jq -r .head "$CB/$GOOD.json")"
check "fresh: the large file has its bytes" cmp big.bin "corr/fresh/$bigpath"
check "fresh: fsck clean" "$MREG" -C corr/fresh fsck
expect_eq "fresh: git status clean" "$(tree_clean corr/fresh)" ""

# ---- 6. retention -------------------------------------------------------------
# P and Q share one backup directory. Each registry lists, prunes and counts
# its own backups; a large file stays while any backup in the directory
# names it, and goes when none does.
P=ret/p Q=ret/q PB=$T/pbk
new_registry_full $P
new_registry_full $Q
git -C $P config mreg.backupDir "$PB"
git -C $Q config mreg.backupDir "$PB"
check "P: register a large file" "$MREG" -C $P register Pnet big.bin
check "Q: register another large file" "$MREG" -C $Q register Qnet big2.bin
check "P: the large file is stored where this test expects" test -f "$P/.git/$bigobj"
newbk $P p1 >p.ids
newbk $P p2 >>p.ids
: >q.ids
for i in 1 2 3; do newbk $Q q$i >>q.ids; done
expect_eq "Q lists its 3 backups" "$(ids $Q | grep -c .)" 3
expect_eq "P lists its 2 backups" "$(ids $P)" "$(sort -r p.ids)"
check "P's large file is in the backups" test -f "$PB/$bigobj"
# a large file no backup names (left by a backup since pruned by hand)
orphan=lfs/objects/00/00/0000000000000000000000000000000000000000000000000000000000000000
mkdir -p "$PB/lfs/objects/00/00" && echo stale >"$PB/$orphan"
check "Q: backup prune --keep 1" "$MREG" -C $Q --json backup prune --keep 1
expect_eq "prune reports 2 removed" "$(out .removed)" 2
expect_eq "Q keeps its newest" "$(ids $Q)" "$(sort -r q.ids | head -1)"
for old in $(sort q.ids | head -2); do
	check "pruned $old: no .json, .bundle, .state" test ! -e "$PB/$old.json" -a ! -e "$PB/$old.bundle" -a ! -e "$PB/$old.state"
done
expect_eq "P's backups are not Q's to prune" "$(ids $P)" "$(sort -r p.ids)"
check "a large file no backup names is removed" test ! -e "$PB/$orphan"
check "P's large file, named by P's backups, is kept" cmp big.bin "$PB/$bigobj"
check "Q's large file, named by Q's newest, is kept" cmp big2.bin "$PB/$big2obj"
check "the newest backup still verifies" "$MREG" -C $Q backup verify "$(ids $Q | head -1)"
# 11 more, made by the release build when $MREG is the sanitizer one (fast_copy: only for speed)
fast_copy
for i in 1 2 3 4 5 6 7 8 9 10 11; do "$T/mreg-fast" -C $Q --json backup create -r more$i | jq -r .id >>q.ids; done
expect_eq "11 more backups of Q: each create rotates, 10 are kept (backup.max_backups)" "$(ids $Q | grep -c .)" 10
expect_eq "rotation keeps the 10 newest, the one just made first" "$(ids $Q)" "$(sort -r q.ids | head -10)"
check "backup prune (default)" "$MREG" -C $Q --json backup prune
expect_eq "default prune: nothing left to remove" "$(out .removed)" 0
expect_eq "default prune keeps the 10 newest (backup.max_backups)" "$(ids $Q)" "$(sort -r q.ids | head -10)"
check "prune again: nothing to do" "$MREG" -C $Q --json backup prune
expect_eq "prune again removes 0" "$(out .removed)" 0
expect_eq "backups on disk are the listed ones, P's and Q's" "$(cd "$PB" && ls -d *.json *.bundle *.state 2>/dev/null | sort)" \
	"$({ ids $Q; ids $P; } | sed 'p' | awk '{ print $0 (NR % 2 ? ".bundle" : ".json") }' | sort)"
check "P: backup prune --keep 1" "$MREG" -C $P --json backup prune --keep 1
expect_eq "P keeps its newest" "$(ids $P)" "$(sort -r p.ids | head -1)"
expect_eq "Q's are left alone" "$(ids $Q | grep -c .)" 10
check "P's large file, still named by P's newest, is kept" cmp big.bin "$PB/$bigobj"

# ---- 7. auto --------------------------------------------------------------------
AR=auto/reg AB=$T/abk
new_registry_full $AR
git -C $AR config mreg.backupDir "$AB"
check "auto: register" "$MREG" -C $AR register "Alpha Net" m1.bin
check "backup auto with no backups" "$MREG" -C $AR --json backup auto
expect_eq "auto: created one" "$(out .reason)|$(ids $AR | grep -c .)" "auto|1"
check "backup auto again at once" "$MREG" -C $AR --json backup auto
expect_eq "auto again: --json prints null" "$(cat "$T/.out")" null
expect_eq "auto again: created none" "$(ids $AR | grep -c .)" 1
check "backup auto again (text)" "$MREG" -C $AR backup auto
expect_eq "auto again (text): still one" "$(ids $AR | grep -c .)" 1
jq '.backup.interval_hours = 0' $AR/mreg.json >mj && cat mj >$AR/mreg.json
git -C $AR commit -qam "back up every time"
check "backup auto with interval_hours 0" "$MREG" -C $AR --json backup auto
expect_eq "auto with interval 0: created one" "$(out .reason)|$(ids $AR | grep -c .)" "auto|2"
expect_eq "auto's backup is of the new head" "$(out .head)" "$(git -C $AR rev-parse HEAD)"
check "auto's backup (stock git's loose objects in it) verifies" "$MREG" -C $AR backup verify "$(out .id)"

# ---- 8b. after mreg gc: one pack whose deltas point by offset -------------------------
# the bundle's pack is made from the registry's packs; deltas by offset must
# be rewritten to name their base, or stock git refuses the bundle
G=$T/gcreg
new_registry_full "$G"
for i in 1 2 3 4 5 6; do
	# similar files, so gc finds deltas between them
	{ seq 1 400; echo "version $i"; } >"$T/g$i.txt"
	"$MREG" -C "$G" register g "$T/g$i.txt" --metric elo=$((1400 + i)) >/dev/null || fail "register g ($i)"
done
check "mreg gc" "$MREG" -C "$G" gc
git -C "$G" verify-pack -v "$G"/.git/objects/pack/*.idx >"$T/vp" 2>&1
if grep -qE '^[0-9a-f]{40} (blob|tree|commit) +[0-9]+ [0-9]+ [0-9]+ [0-9]+ [0-9a-f]{40}' "$T/vp"; then
	ok "gc's pack has deltas"; else fail "gc's pack has deltas"; fi
check "backup create after gc" "$MREG" -C "$G" --json backup create -r gc
GID=$(jq -r .id "$T/.out")
check "backup verify after gc" "$MREG" -C "$G" backup verify "$GID"
git init -q "$T/vr-gc"
check "stock git bundle verify after gc" git -C "$T/vr-gc" bundle verify "$T/registry_backups/$GID.bundle"
check "git clone of the bundle after gc" git clone -q "$T/registry_backups/$GID.bundle" "$T/gc-clone"
expect_eq "the clone lists the same versions" "$("$MREG" -C "$T/gc-clone" list --json | jq -c '[.[] | [.version, .metrics.elo]]')" \
	"$("$MREG" -C "$G" list --json | jq -c '[.[] | [.version, .metrics.elo]]')"
check "the clone passes mreg fsck" "$MREG" -C "$T/gc-clone" fsck
check "git fsck of the clone" git -C "$T/gc-clone" fsck --no-progress

# ---- 8c. a registry that borrows objects (git clone -s: objects/info/alternates) ------
S=$T/shared-clone
check "git clone -s of a registry" git clone -q -s "$G" "$S"
git -C "$S" config mreg.actor tester
{ seq 1 400; echo "in the clone"; } >"$T/s1.txt"
check "register in the clone" "$MREG" -C "$S" register g "$T/s1.txt"
check "backup create in the clone" "$MREG" -C "$S" --json backup create -r shared
SID=$(jq -r .id "$T/.out")
check "its backup verifies: the borrowed objects are in the bundle" "$MREG" -C "$S" backup verify "$SID"
check "stock git bundle verify of it" git -C "$T/vr-gc" bundle verify "$T/registry_backups/$SID.bundle"

# ---- 8d. a damaged large file is put back by restore ----------------------------------
D=$T/dmg/model_registry
mkdir -p "$T/dmg"
new_registry_full "$D"
check "register a large file" "$MREG" -C "$D" register dnet big.bin
dpath=$("$MREG" -C "$D" --json show dnet | jq -r .file_path)
check "backup create" "$MREG" -C "$D" --json backup create -r dmg
DID=$(jq -r .id "$T/.out")
# damage the registry's copy without touching the backup's (a new inode)
cp "$D/$dpath" dmg.tmp && rm -f "$D/$dpath" && head -c 1200000 /dev/zero >"$D/$dpath"
if "$MREG" -C "$D" fsck >/dev/null 2>&1; then fail "fsck sees the damage"; else ok "fsck sees the damage"; fi
check "backup restore" "$MREG" -C "$D" backup restore "$DID"
check "the large file is whole again" cmp big.bin "$D/$dpath"
check "fsck after the restore" "$MREG" -C "$D" fsck
# the same for the registry's stored copy in .git/lfs (a new inode, as a disk error would leave)
dobj="$D/.git/$(lfsobj big.bin)"
rm -f "$dobj" && head -c 1500000 /dev/zero >"$dobj"
if "$MREG" -C "$D" fsck >/dev/null 2>&1; then fail "fsck sees the damaged store"; else ok "fsck sees the damaged store"; fi
check "backup restore puts the stored copy back" "$MREG" -C "$D" backup restore "$DID"
check "the stored copy is whole again" cmp big.bin "$dobj"
check "fsck after the second restore" "$MREG" -C "$D" fsck

# ---- 8e. a state snapshot beside a backup is never trusted --------------------------
# Older versions kept <id>.state/ beside a backup and a restore took it as
# the state. Edited, it restored a state the events contradict. A restore
# now folds the bundle's events; a snapshot found beside it is not read.
S=$T/snap/model_registry
mkdir -p "$T/snap"
new_registry_full "$S"
check "snap: register" "$MREG" -C "$S" register snet m1.bin --metric elo=1500
check "snap: promote to staging" "$MREG" -C "$S" promote snet:1 --to staging
check "snap: backup create" "$MREG" -C "$S" --json backup create -r snap
SID=$(jq -r .id "$T/.out")
SB=$T/snap/registry_backups
rm -rf "$SB/$SID.state" && cp -R "$S/state" "$SB/$SID.state"
sed -i 's/"elo": 1500/"elo": 9999/' "$SB/$SID.state/models/snet.json"
check "snap: the snapshot is edited" grep -q '"elo": 9999' "$SB/$SID.state/models/snet.json"
check "snap: a later write" "$MREG" -C "$S" register snet m3.bin
check "snap: restore" "$MREG" -C "$S" backup restore "$SID"
expect_eq "snap: the restored metrics are the events' (1500), not the edited snapshot's" \
	"$("$MREG" -C "$S" --json show snet:1 | jq -r .metrics.elo)" 1500
check "snap: fsck after the restore" "$MREG" -C "$S" fsck

# ---- 8f. a FIFO where a backup's metadata belongs is refused, never waited on --------
mkdir -p "$T/fifo"
cp "$SB/$SID.bundle" "$T/fifo/$SID.bundle"
mkfifo "$T/fifo/$SID.json"
expect_fail "restore-from with a FIFO for the metadata" 1 "$SID" timeout 30 "$MREG" restore-from "$T/fifo/$SID.bundle" "$T/fifo/new"
check "nothing was made" test ! -e "$T/fifo/new"

# ---- 9. bad usage ------------------------------------------------------------------
R=$NEW
bad "backup without a subcommand" 2 "backup needs create, list, show" $R "$MREG" -C $R backup
bad "backup frob" 2 "unknown backup subcommand 'frob'" $R "$MREG" -C $R backup frob
bad "backup show without an id" 2 "backup show needs one ID" $R "$MREG" -C $R backup show
bad "backup verify with two ids" 2 "backup verify needs one ID" $R "$MREG" -C $R backup verify a b
bad "backup prune --keep 0" 2 "invalid --keep '0'" $R "$MREG" -C $R backup prune --keep 0
bad "backup prune --keep 1.5" 2 "invalid --keep '1\.5'" $R "$MREG" -C $R backup prune --keep 1.5
bad "backup create -r with --keep" 2 "mreg: --keep goes with 'backup prune'" $R \
	"$MREG" -C $R backup create -r x --keep 3
bad "backup list -r" 2 "mreg: -r goes with 'backup create'" $R "$MREG" -C $R backup list -r x
bad "backup create -r without its value" 2 "option '--reason' needs a value|'-r' needs a value" $R \
	"$MREG" -C $R backup create -r
bad "restore-from with one argument" 2 "restore-from needs BUNDLE and DIR" $R \
	"$MREG" restore-from "$BK/$ID.bundle"

finish

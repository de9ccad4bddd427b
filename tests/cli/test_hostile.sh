#!/bin/sh
# Nothing is written outside the registry, whatever a peer commits. A peer's
# commit, brought in by a plain `git pull`, may put a symbolic link where
# mreg keeps a directory or a file: `state -> /anywhere`, a link at the path
# a model file will take, `blobs -> /anywhere` in a registry from before
# .git/lfs. mreg never follows a link it did not create (under state/,
# artifacts/, events/, the large-file store, backups): a link where its
# layout has a directory or a file is replaced in the work tree (and in the
# tree, for the paths a write commits), never written through.
. "$(dirname "$0")/lib.sh"

XXH=$(xxh128_helper)
V=$T/victim
mkdir -p "$V/models"
echo VICTIM >"$V/registry.json"
echo VICTIM >"$V/production.json"
echo VICTIM >"$V/models/m.json"
echo VICTIM >"$V/file"
victim_untouched() {
	expect_eq "$1: nothing written outside the registry" \
		"$(cd "$V" && find . -type f | sort | xargs cat | tr '\n' ' ')" "$(printf 'VICTIM %.0s' 1 2 3 4)"
	expect_eq "$1: nothing new outside the registry" "$(cd "$V" && find . | sort | tr '\n' ' ')" \
		". ./file ./models ./models/m.json ./production.json ./registry.json "
}
R=$T/reg
new_registry_full "$R"
model_file m1.bin 2000
model_file m2.bin 3000
model_file big.bin 1300000
check "register m:1" "$MREG" -C "$R" register m m1.bin
git clone -q "$R" "$T/peer"
# pull: a plain git pull of the peer's main into the registry
pull() { git -C "$R" pull -q --no-rebase "$T/peer" main >"$T/.pull" 2>&1 || { fail "git pull: $1"; sed 's/^/    # /' "$T/.pull"; }; }

# ---- 6. state -> /anywhere ----------------------------------------------------------
(cd "$T/peer" && ln -s "$V" state && git add state && git commit -qm "peer: state is a link")
pull "state link"
check "the pull brought the link" test -L "$R/state"
check "a read after it" "$MREG" -C "$R" list
check "a write after it" "$MREG" -C "$R" register m m2.bin
check "state/ is a directory again" test -d "$R/state" -a ! -L "$R/state"
expect_eq "state/registry.json is mreg's" "$(jq -r .versions "$R/state/registry.json")" 2
check "promote" "$MREG" -C "$R" promote m:2 --to staging
victim_untouched "state link"
# a link where state/models belongs
rm -rf "$R/state/models" && ln -s "$V/models" "$R/state/models"
check "a write with state/models a link" "$MREG" -C "$R" tag m:2 x
check "state/models is a directory again" test -d "$R/state/models" -a ! -L "$R/state/models"
check "refresh --full" "$MREG" -C "$R" refresh --full
victim_untouched "state/models link"

# ---- 7. a link at the path a model file will take -------------------------------------
h=$("$XXH" m1.bin)
model_file m3.bin 2500
h3=$("$XXH" m3.bin)
hb=$("$XXH" big.bin)
(cd "$T/peer" && git pull -q --no-rebase "$R" main &&
	mkdir -p "artifacts/$(echo $h3 | cut -c1-2)/$(echo $h3 | cut -c3-4)" "artifacts/$(echo $hb | cut -c1-2)/$(echo $hb | cut -c3-4)" &&
	ln -s "$V/file" "artifacts/$(echo $h3 | cut -c1-2)/$(echo $h3 | cut -c3-4)/$h3.bin" &&
	ln -s "$V/file" "artifacts/$(echo $hb | cut -c1-2)/$(echo $hb | cut -c3-4)/$hb.bin" &&
	git add artifacts && git commit -qm "peer: links where model files go") || fail "peer commit of links"
pull "artifact links"
p3="artifacts/$(echo $h3 | cut -c1-2)/$(echo $h3 | cut -c3-4)/$h3.bin"
pb="artifacts/$(echo $hb | cut -c1-2)/$(echo $hb | cut -c3-4)/$hb.bin"
check "the pull brought the links" test -L "$R/$p3" -a -L "$R/$pb"
check "register the bytes the link's path names" "$MREG" -C "$R" register m m3.bin
check "register the large file the other link's path names" "$MREG" -C "$R" register big big.bin
victim_untouched "artifact links"
expect_eq "the tree holds the model file, not a link" "$(git -C "$R" ls-tree HEAD "$p3" | cut -c1-6)" 100644
expect_eq "the tree holds the large file's pointer, not a link" "$(git -C "$R" ls-tree HEAD "$pb" | cut -c1-6)" 100644
check "the work tree copy is a file with the bytes" cmp m3.bin "$R/$p3"
check "the large file's copy is a file with the bytes" cmp big.bin "$R/$pb"
# the peer's tracked `state` link is refused by fsck (state/ is mreg's), and gone once removed
"$MREG" -C "$R" fsck >/dev/null 2>"$T/fsck.err"
expect_eq "fsck exits 1 while HEAD tracks 'state'" "$?" 1
check "fsck names it" grep -q "HEAD tracks 'state'" "$T/fsck.err"
expect_eq "git status: the tracked link is gone from the work tree, nothing else" "$(git -C "$R" status --porcelain)" " D state"
git -C "$R" rm -q --cached state && git -C "$R" commit -qm "remove the peer's state link"
check "fsck" "$MREG" -C "$R" fsck
expect_eq "git status clean" "$(tree_clean "$R")" ""
victim_untouched "after fsck"

# ---- the large-file store and backups: links mreg did not make are refused or replaced ----
R2=$T/r2
new_registry_full "$R2"
V2=$T/victim2
mkdir -p "$V2/lfs" "$V2/blobs"
ln -s "$V2/lfs" "$R2/.git/lfs"
expect_fail "a large file with .git/lfs a link is refused" 1 "symbolic link.*large-file store" \
	"$MREG" -C "$R2" register big big.bin
expect_eq "nothing stored through the link" "$(find "$V2/lfs" -type f | wc -l | tr -d ' ')" 0
rm "$R2/.git/lfs"
check "with the link gone the registration works" "$MREG" -C "$R2" register big big.bin
BK=$T/bk
mkdir -p "$BK/lfs"
ln -s "$V2/lfs" "$BK/lfs/objects"
git -C "$R2" config mreg.backupDir "$BK"
check "a backup with a link in the backup directory" "$MREG" -C "$R2" backup create
expect_eq "the backup wrote nothing through it" "$(find "$V2/lfs" -type f | wc -l | tr -d ' ')" 0
check "the backup's large file is in a directory of its own" test -f "$BK/$(cd "$R2/.git" && find lfs/objects -type f)" -a ! -L "$BK/lfs/objects"
victim_untouched "store and backups"

# ---- 8. blobs -> /anywhere in a registry from before .git/lfs ---------------------------
L=$T/legacy
git clone -q "$TESTDATA/legacy-blobs/registry.bundle" "$L" 2>/dev/null
git -C "$L" checkout -q -B main origin/main 2>/dev/null
git -C "$L" config mreg.actor tester
GIT_LFS_SKIP_SMUDGE=1 git clone -q "$L" "$T/peer2"
(cd "$T/peer2" && ln -s "$V2/blobs" blobs && git add blobs && git commit -qm "peer: blobs is a link")
git -C "$L" pull -q --no-rebase "$T/peer2" main 2>/dev/null || fail "pull of the blobs link"
check "refresh with blobs a link" "$MREG" -C "$L" refresh
check "register a large file with blobs a link" "$MREG" -C "$L" register big big.bin
expect_eq "nothing went into the linked directory" "$(find "$V2/blobs" | wc -l | tr -d ' ')" 1
victim_untouched "blobs link"
check "the large file is in .git/lfs" test -n "$(find "$L/.git/lfs/objects" -type f -size 1300000c)"

finish

#!/bin/sh
# A lean registry (what mreg init, mreg clone and restore-from make): git
# sees a bare repository (core.bare), there is no index, and the work tree
# holds state/ and the model files only, so that no write costs more as the
# history grows. Stock git reads and writes it as the bare repository it
# is; a git clone of it is a full checkout mreg works in too; the model
# files an inference server reads are always there, made again when lost.
. "$(dirname "$0")/lib.sh"

R=$T/reg
new_registry "$R"
model_file "$T/a.pt" 3000
model_file "$T/b.pt" 3100
model_file "$T/c.pt" 3200

# ---- what init makes --------------------------------------------------------------
expect_eq "init: core.bare is true" "$(git -C "$R" config core.bare)" true
expect_eq "init: the directory holds .git and state/ only" "$(ls -A "$R" | tr '\n' ' ')" ".git state "
expect_eq "init: no index" "$(ls "$R/.git/index" 2>/dev/null)" ""
expect_eq "init: mreg.json is committed" "$(git -C "$R" show HEAD:mreg.json | jq -r .rollback.elo_drop_threshold)" 50
expect_fail "git status says there is no work tree for it (the cost, in the README)" 128 \
	"must be run in a work tree" git -C "$R" status --porcelain

# ---- writes -----------------------------------------------------------------------
check "register m:1" "$MREG" -C "$R" register m "$T/a.pt" --metric elo=1500
check "register m:2" "$MREG" -C "$R" register m "$T/b.pt" --metric elo=1510
check "m:1 to staging" "$MREG" -C "$R" promote m:1 --to staging
check "m:1 to production" "$MREG" -C "$R" promote m:1 --to production -r "first one"
P1=$("$MREG" -C "$R" --json show m:1 | jq -r .file_path)
P2=$("$MREG" -C "$R" --json show m:2 | jq -r .file_path)
check "m:1's model file is in the work tree, its bytes" cmp "$T/a.pt" "$R/$P1"
check "production.json points at it" test "$(jq -r .models.m.file_path "$R/state/production.json")" = "$P1"
files_before=$(find "$R" -path "$R/.git" -prune -o -type f -print | wc -l)
for i in 1 2 3 4 5 6 7 8 9 10; do
	"$MREG" -C "$R" update-metrics m:2 "elo=$((1510 + i))" >/dev/null || fail "update-metrics $i"
	"$MREG" -C "$R" tag m:2 "t$i" >/dev/null || fail "tag $i"
done
expect_eq "20 more events: no more files in the work tree" \
	"$(find "$R" -path "$R/.git" -prune -o -type f -print | wc -l)" "$files_before"
expect_eq "still no events directory and no index" "$(ls -d "$R/events" "$R/.git/index" 2>/dev/null)" ""
check "mreg fsck" "$MREG" -C "$R" fsck
check "git fsck --strict" git -C "$R" fsck --strict --no-progress --no-dangling
expect_eq "git log: one line per event" "$(git -C "$R" log --oneline | wc -l | tr -d ' ')" 25
ev=$(git -C "$R" log -1 --format= --name-only | grep '^events/')
expect_eq "an event reads with git show" "$(git -C "$R" show "HEAD:$ev" | jq -r .type)" version.tagged

# ---- the read road: short while the state is stamped with HEAD ---------------------
if command -v strace >/dev/null 2>&1; then
	strace -f -e trace=open,openat -o "$T/.trace" "$MREG" -C "$R" show m:2 >/dev/null 2>&1
	expect_eq "show reads no git object (the light open knows core.bare)" \
		"$(grep -c '\.git/objects' "$T/.trace")" 0
else
	fail "strace is needed (make deps installs it)"
fi

# ---- model files lost or damaged come back ----------------------------------------
rm "$R/$P2"
if "$MREG" -C "$R" fsck >"$T/.out" 2>&1; then fail "fsck names a missing model file"; else
	expect_eq "fsck names a missing model file" "$(grep -c "$P2" "$T/.out")" 1; fi
check "refresh" "$MREG" -C "$R" refresh
check "refresh makes it again" cmp "$T/b.pt" "$R/$P2"
chmod u+w "$R/$P1"
head -c 3000 /dev/zero >"$R/$P1"
check "refresh" "$MREG" -C "$R" refresh
check "refresh puts back a model file of the right size and other bytes" cmp "$T/a.pt" "$R/$P1"
# a power cut: the stamp is from another boot, the model files were not fsynced
head -c 3000 /dev/zero >"$R/$P1"
sed -i '3s/.*/00000000-0000-0000-0000-000000000000/' "$R/.git/mreg/stamp"
check "after a reboot, any command" "$MREG" -C "$R" list
check "... checks every model file first" cmp "$T/a.pt" "$R/$P1"

# ---- stock git on both sides: a clone is a full checkout, a push lands --------------
C=$T/clone
check "git clone" git clone -q "$R" "$C"
check "the clone has the events as files" test -f "$C/$ev"
git -C "$C" config mreg.actor carol
check "mreg writes in the clone (a full checkout)" "$MREG" -C "$C" register m "$T/c.pt"
expect_eq "the clone's git status is clean" "$(git -C "$C" status --porcelain)" ""
check "git push from the clone into the lean registry" git -C "$C" push -q origin main
check "the lean registry's next command folds it" "$MREG" -C "$R" show m:3
P3=$("$MREG" -C "$R" --json show m:3 | jq -r .file_path)
check "and makes its model file" cmp "$T/c.pt" "$R/$P3"
expect_eq "still no events directory and no index" "$(ls -d "$R/events" "$R/.git/index" 2>/dev/null)" ""
check "mreg fsck after the push" "$MREG" -C "$R" fsck

# ---- converting: to a full checkout and back --------------------------------------
F=$T/full
check "mreg clone makes a lean registry" "$MREG" clone "$R" "$F"
git -C "$F" config mreg.actor tester
expect_eq "the clone: core.bare, no events, no index" \
	"$(git -C "$F" config core.bare) $(ls -d "$F/events" "$F/.git/index" 2>/dev/null)" "true "
check "to a full checkout (README): core.bare false, git reset --hard" full_checkout "$F"
check "then mreg writes there" "$MREG" -C "$F" tag m:1 full
expect_eq "and git status stays clean" "$(git -C "$F" status --porcelain)" ""
check "mreg fsck in the full checkout" "$MREG" -C "$F" fsck
git -C "$F" config core.bare true && rm -f "$F/.git/index" && rm -rf "$F/events" "$F/mreg.json" "$F/.gitignore"
check "back to lean (README): core.bare true, index and events removed" "$MREG" -C "$F" tag m:1 lean-again
check "mreg fsck in the lean registry again" "$MREG" -C "$F" fsck
expect_eq "no index came back" "$(ls "$F/.git/index" 2>/dev/null)" ""

# ---- restore-from makes a lean registry too ------------------------------------
git -C "$R" config mreg.backupDir "$T/bk"
bid=$("$MREG" -C "$R" --json backup create -r lean | jq -r .id)
check "restore-from a backup of the lean registry" "$MREG" restore-from "$T/bk/$bid.bundle" "$T/restored"
expect_eq "restored: core.bare, no events, no index" \
	"$(git -C "$T/restored" config core.bare) $(ls -d "$T/restored/events" "$T/restored/.git/index" 2>/dev/null)" "true "
check "restored: the model files are there" cmp "$T/c.pt" "$T/restored/$P3"
check "restored: mreg fsck" "$MREG" -C "$T/restored" fsck

# a peer's link where a model file goes is never made, nor written through
mkdir -p "$C/artifacts/ee/ee"
ln -s "$T/outside" "$C/artifacts/ee/ee/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.pt"
git -C "$C" add artifacts && git -C "$C" commit -qm "a link" && git -C "$C" push -q origin main
"$MREG" -C "$R" refresh >/dev/null 2>&1
expect_eq "a pushed link: nothing outside the registry" "$(ls "$T/outside" 2>/dev/null)" ""
expect_eq "a pushed link: not made in the work tree" \
	"$(ls -la "$R/artifacts/ee/ee" 2>/dev/null | grep -c -- '->')" 0

# a peer's directories nested deeper than any event can be: quarantined as one, the rest folds
deep=events/$(i=0; while [ $i -lt 70 ]; do printf 'd/'; i=$((i + 1)); done)
mkdir -p "$C/$deep" && echo '{}' >"$C/${deep}x.json"
git -C "$C" add events && git -C "$C" commit -qm "deep" && git -C "$C" push -q origin main
check "deeply nested directories: reads go on" "$MREG" -C "$R" show m:3
"$MREG" -C "$R" fsck >"$T/.out" 2>&1
expect_eq "deeply nested directories: fsck names the one too deep, once" \
	"$(grep -c 'nested too deep under events/' "$T/.out")" 1

finish

#!/bin/sh
# Large model files travel with sync: git lfs (path and file:// remotes need
# no LFS server) pushes them with the branch and fetches those the new
# history names, checked by hash before the branch moves. mreg.syncFiles
# (all, serving, none) and clone's --all-files / --no-files say which; a
# file that cannot be had (a git daemon remote has no LFS) is one line, is
# "not here" in show and fsck, leaves its path empty (never the pointer),
# and comes with a later sync from a remote that has it.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/servers.sh"
export GIT_TERMINAL_PROMPT=0
git lfs install --skip-repo >/dev/null 2>&1

A=$T/A HUB=$T/srv/hub.git
new_registry_full() { "$MREG" -C "$1" init >/dev/null; }
new_registry_full "$A"
head -c 1300000 /dev/urandom >"$T/stag.pt"
head -c 1200000 /dev/urandom >"$T/dev.pt"
head -c 1100000 /dev/urandom >"$T/prod.pt"
check "A: a large file into staging" "$MREG" -C "$A" register m "$T/stag.pt" --stage staging
check "A: a large file in development" "$MREG" -C "$A" register m "$T/dev.pt"
check "A: a large file straight into production" "$MREG" -C "$A" register p "$T/prod.pt" --stage production
path_of() { "$MREG" -C "$1" show "$2" --json | jq -r .file_path; }
PS=$(path_of "$A" m:1) PD=$(path_of "$A" m:2) PP=$(path_of "$A" p:1)
mkdir -p "$T/srv" && git init -q --bare "$HUB"
check "A: remote add hub" "$MREG" -C "$A" remote add hub "$HUB"
check "A: sync --push" "$MREG" -C "$A" sync hub --push
n=$(find "$HUB/lfs/objects" -type f 2>/dev/null | wc -l | tr -d ' ')
expect_eq "the hub holds the three large files (git lfs push)" "$n" 3

# ---- clone: production and staging by default --------------------------------
check "clone (default: serving files)" "$MREG" clone "$HUB" "$T/B"
check "B: the staging version's bytes" cmp "$T/stag.pt" "$T/B/$PS"
check "B: the production version's bytes" cmp "$T/prod.pt" "$T/B/$PP"
if [ -e "$T/B/$PD" ]; then fail "B: the development version's path is empty"; else ok "B: the development version's path is empty"; fi
expect_eq "B: show says the development file is not here" \
	"$("$MREG" -C "$T/B" show m:2 | grep -c 'file here:    no')" 1
expect_eq "B: show says nothing of a file that is here" "$("$MREG" -C "$T/B" show m:1 | grep -c 'file here')" 0
expect_eq "B: sync status lists it, with the reason" \
	"$("$MREG" -C "$T/B" sync status --json | jq -r '.files_not_here[] | .path + " " + (.problem | test("serving") | tostring)')" \
	"$PD true"
if "$MREG" -C "$T/B" fsck >"$T/.out" 2>&1; then fail "B: fsck names the file not here"; else
	expect_eq "B: fsck names the file not here, once" "$(grep -c "$PD" "$T/.out")" 1; fi
expect_eq "B: nothing else is out of place in its work tree" "$(tree_clean "$T/B")" ""

check "clone --all-files" "$MREG" clone --all-files "$HUB" "$T/C"
check "C: the development version's bytes too" cmp "$T/dev.pt" "$T/C/$PD"
check "C: fsck" "$MREG" -C "$T/C" fsck
expect_eq "C: git status clean" "$(tree_clean "$T/C")" ""

check "clone --no-files" "$MREG" clone --no-files "$HUB" "$T/D"
prod=$(jq -r '.models.p.file_path' "$T/D/state/production.json")
expect_eq "D: production.json names the production file" "$prod" "$PP"
if [ -e "$T/D/$prod" ]; then fail "D: production.json's path holds nothing (never a pointer)"; else
	ok "D: production.json's path holds nothing (never a pointer)"; fi
expect_eq "D: three files not here" "$("$MREG" -C "$T/D" sync status --json | jq '.files_not_here | length')" 3
check "D: mreg.syncFiles all" git -C "$T/D" config mreg.syncFiles all
check "D: a sync with nothing new fetches them" "$MREG" -C "$T/D" sync
for f in "stag.pt:$PS" "dev.pt:$PD" "prod.pt:$PP"; do
	check "D: ${f%%:*} is here now" cmp "$T/${f%%:*}" "$T/D/${f#*:}"
done
expect_eq "D: none missing" "$("$MREG" -C "$T/D" sync status --json | jq '.files_not_here | length')" 0
check "D: fsck" "$MREG" -C "$T/D" fsck
expect_eq "D: git status clean" "$(tree_clean "$T/D")" ""
bad "D: mreg.syncFiles must be all, serving or none" 1 "invalid git config mreg.syncFiles 'some'" "$T/D" \
	sh -c "git -C '$T/D' config mreg.syncFiles some && '$MREG' -C '$T/D' sync; rc=\$?; git -C '$T/D' config mreg.syncFiles all; exit \$rc"

# ---- a remote without LFS: the events come, the file does not, then does -------
serve_git_daemon "$T/srv" || finish
E=$T/E
new_registry_full "$E"
check "E: remote add over git://" "$MREG" -C "$E" remote add daemon "${GIT_DAEMON_URL}hub.git"
"$MREG" -C "$E" sync daemon >"$T/.out" 2>"$T/.err"
expect_eq "E: sync over git:// succeeds (exit 0)" "$?" 0
expect_eq "E: the events came" "$("$MREG" -C "$E" list --json | jq length)" 3
expect_eq "E: one line per large file not here" "$(grep -c '^daemon: large file not here: artifacts/' "$T/.out")" 3
if [ -e "$E/$PP" ]; then fail "E: the production path stays empty"; else ok "E: the production path stays empty"; fi
expect_eq "E: show says so" "$("$MREG" -C "$E" show p:1 | grep -c 'file here:    no')" 1
check "E: remote add the hub by path" "$MREG" -C "$E" remote add hub "$HUB"
check "E: a sync from a remote that has them" "$MREG" -C "$E" sync
check "E: the production file is here" cmp "$T/prod.pt" "$E/$PP"
check "E: fsck" "$MREG" -C "$E" fsck
expect_eq "E: git status clean" "$(tree_clean "$E")" ""

# ---- a new large file on B travels back through the hub ----------------------
head -c 1400000 /dev/urandom >"$T/b.pt"
check "B: a large file" "$MREG" -C "$T/B" register m "$T/b.pt" --stage staging
check "B: sync --push" "$MREG" -C "$T/B" sync --push
check "A: sync" "$MREG" -C "$A" sync
check "A: B's file arrived" cmp "$T/b.pt" "$A/$(path_of "$T/B" m:3)"
check "A: fsck" "$MREG" -C "$A" fsck
finish

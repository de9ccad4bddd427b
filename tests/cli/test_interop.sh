#!/bin/sh
# Interoperability with stock git: what mreg writes must read well in
# `git log`, pass `git fsck --strict`, leave `git status` clean, survive
# `git clone` (normal and bare), and follow plain git operations (pull,
# reset) without an explicit `mreg refresh`.
. "$(dirname "$0")/lib.sh"

R=$T/reg
new_registry_full "$R"

# xxh128 of files, computed independently of mreg (header-only xxHash)
XXH=$(xxh128_helper)

# clean DESC: `git status --porcelain` must print nothing
clean() {
	st=$(git -C "${2:-$R}" status --porcelain 2>&1)
	expect_eq "git status clean after $1" "$st" ""
}

# expect_same DESC GOT WANT: like expect_eq, but shows a short diff of long values
expect_same() {
	if [ "$2" = "$3" ]; then ok "$1"; else
		fail "$1"
		printf '%s\n' "$3" >"$T/.want"; printf '%s\n' "$2" >"$T/.got"
		diff -u "$T/.want" "$T/.got" | head -12 | sed 's/^/    # /'
	fi
}

# step DESC CMD...: the mreg command succeeds and leaves git status clean
step() {
	check "$@"
	clean "$1"
}

model_file "$T/m1.pt" 3000
model_file "$T/m2.pt" 5000
model_file "$T/h1.json" 700
clean "init"
step "register m:1" "$MREG" -C "$R" register m "$T/m1.pt"
step "register m:2" "$MREG" -C "$R" register m "$T/m2.pt"
step "promote m:1 to staging" "$MREG" -C "$R" promote m:1 --to staging -r "passed smoke test"
step "tag m:1" "$MREG" -C "$R" tag m:1 best candidate
step "update-metrics m:1" "$MREG" -C "$R" update-metrics m:1 elo=1512.5 win_rate=0.625
step "promote m:1 to production" "$MREG" -C "$R" promote m:1 --to production
step "register heuristic h:1" "$MREG" -C "$R" register h "$T/h1.json" --type heuristic
step "untag m:1" "$MREG" -C "$R" untag m:1 candidate
step "archive m:2" "$MREG" -C "$R" archive m:2
step "show (read)" "$MREG" -C "$R" show m:1
step "list (read)" "$MREG" -C "$R" list
step "log (read)" "$MREG" -C "$R" log
step "status (read)" "$MREG" -C "$R" status
step "refresh" "$MREG" -C "$R" refresh
step "mreg fsck" "$MREG" -C "$R" fsck

# ---- git log: one readable line per event, plus the init commit --------
want_subjects=$(cat <<'EOF'
promote m:2 development -> archived
untag m:1 -candidate
register h:1 (heuristic, development)
promote m:1 staging -> production
metrics m:1 elo=1512.5 win_rate=0.625
tag m:1 +best +candidate
promote m:1 development -> staging: passed smoke test
register m:2 (policy_value, development)
register m:1 (policy_value, development)
init mreg registry
EOF
)
expect_eq "git log --oneline: 9 events + init" "$(git -C "$R" log --oneline | wc -l | tr -d ' ')" 10
expect_eq "git log --oneline: each line says what happened" \
	"$(git -C "$R" log --oneline | sed 's/^[0-9a-f]\{7,\} //')" "$want_subjects"
bad=$(git -C "$R" log --oneline | grep -cv '^[0-9a-f]\{7,\} [ -~]*$')
expect_eq "git log --oneline: lines are hash + printable text" "$bad" 0

# ---- trailers --------------------------------------------------------------
ids_log=$("$MREG" -C "$R" log --json | jq -r '.[].id')
types_log=$("$MREG" -C "$R" log --json | jq -r '.[].type')
ids_git=$(git -C "$R" log --reverse --format='%(trailers:key=Mreg-Event,valueonly)' HEAD~9..HEAD | sed '/^$/d')
types_git=$(git -C "$R" log --reverse --format='%(trailers:key=Mreg-Type,valueonly)' HEAD~9..HEAD | sed '/^$/d')
expect_eq "Mreg-Event trailers = mreg log ids, in order" "$ids_git" "$ids_log"
expect_eq "Mreg-Type trailers = mreg log types, in order" "$types_git" "$types_log"
expect_eq "Mreg-Type trailers name the event types" "$(echo "$types_git" | tr '\n' ' ')" \
	"version.registered version.registered version.promoted version.tagged version.metrics_updated version.promoted version.registered version.untagged version.promoted "
expect_eq "every Mreg-Event is 32 hex digits" "$(echo "$ids_git" | grep -c '^[0-9a-f]\{32\}$')" 9
reg1=$(git -C "$R" rev-list --reverse HEAD | sed -n 2p)
id1=$(echo "$ids_log" | sed -n 1p)
expect_eq "full message of the first registration" "$(git -C "$R" log -1 --format=%B "$reg1")" \
	"register m:1 (policy_value, development)

Mreg-Event: $id1
Mreg-Type: version.registered"
expect_eq "commit author is the actor" "$(git -C "$R" log --format=%an HEAD~9..HEAD | sort -u)" "tester"
expect_eq "init commit has no parent" "$(git -C "$R" rev-list --max-parents=0 HEAD | wc -l | tr -d ' ')" 1

# ---- git fsck --strict -----------------------------------------------------
out=$(git -C "$R" fsck --strict --no-dangling 2>&1)
rc=$?
expect_eq "git fsck --strict: exit 0" "$rc" 0
expect_eq "git fsck --strict: no complaints" "$out" ""

# ---- git show --stat lists the event file ----------------------------------
idH=$(echo "$ids_log" | tail -1)
pH="events/$(echo "$idH" | cut -c1-2)/$(echo "$idH" | cut -c3-4)/$idH.json"
stat=$(git -C "$R" show HEAD --stat=300 --format=)
case "$stat" in
*" $pH "*) ok "git show HEAD --stat lists $pH" ;;
*) fail "git show HEAD --stat lists $pH"; echo "$stat" | sed 's/^/    # /' ;;
esac
expect_eq "git show HEAD --stat: one file changed" "$(echo "$stat" | tail -1 | sed 's/,.*//' | tr -d ' ')" "1filechanged"
expect_eq "git show HEAD: only the event file" "$(git -C "$R" show HEAD --name-only --format=)" "$pH"
am1=$("$XXH" "$T/m1.pt")
p1="events/$(echo "$id1" | cut -c1-2)/$(echo "$id1" | cut -c3-4)/$id1.json"
a1="artifacts/$(echo "$am1" | cut -c1-2)/$(echo "$am1" | cut -c3-4)/$am1.pt"
expect_eq "a registration commit adds the artifact and the event" \
	"$(git -C "$R" show "$reg1" --name-only --format= | sort)" "$(printf '%s\n%s' "$a1" "$p1" | sort)"
expect_eq "registration's file_hash and file_path" \
	"$("$MREG" -C "$R" show m:1 --json | jq -r '.file_hash + " " + .file_path')" "xxh128:$am1 $a1"

# ---- event files are named by the xxh128 of their bytes --------------------
files=$(git -C "$R" ls-files events)
expect_eq "9 event files in git" "$(echo "$files" | wc -l | tr -d ' ')" 9
bad=0
for f in $files; do
	name=$(basename "$f" .json)
	d="$(echo "$name" | cut -c1-2)/$(echo "$name" | cut -c3-4)"
	git -C "$R" cat-file blob "HEAD:$f" >"$T/blob"
	h1=$("$XXH" "$T/blob")
	h2=$("$XXH" "$R/$f")
	if [ "$h1" != "$name" ] || [ "$h2" != "$name" ] || [ "events/$d/$name.json" != "$f" ]; then
		bad=$((bad + 1)); echo "    # $f: committed bytes hash to $h1, work tree to $h2"
	fi
done
expect_eq "every event file's name is the xxh128 of its bytes, fanned out ab/cd" "$bad" 0
expect_eq "event file names = mreg log --json ids" \
	"$(for f in $files; do basename "$f" .json; done | sort)" "$(echo "$ids_log" | sort)"
bad=0
for f in $(git -C "$R" ls-files artifacts); do
	name=$(basename "$f"); name=${name%%.*}
	[ "$("$XXH" "$R/$f")" = "$name" ] || bad=$((bad + 1))
done
expect_eq "every artifact's name is the xxh128 of its bytes" "$bad" 0
expect_eq "event files are pretty JSON ending in a newline" \
	"$(tail -c 1 "$R/$p1" | od -An -c | tr -d ' '):$(head -2 "$R/$p1" | tail -1 | cut -c1-3)" '\n:  "'

# ---- git clone ---------------------------------------------------------------
src_list=$("$MREG" -C "$R" list --json)
src_show=$("$MREG" -C "$R" show m:1 --json)
src_table=$("$MREG" -C "$R" list)
check "git clone" git clone -q "$R" "$T/clone"
clean "git clone" "$T/clone"
git -C "$T/clone" config mreg.actor cloner
expect_same "clone: list --json equals the source's" "$("$MREG" -C "$T/clone" list --json)" "$src_list"
expect_same "clone: show --json m:1 equals the source's" "$("$MREG" -C "$T/clone" show m:1 --json)" "$src_show"
clean "reads in the clone" "$T/clone"
check "clone: mreg fsck" "$MREG" -C "$T/clone" fsck

# ---- git clone --bare: reads work from git objects alone ---------------------
check "git clone --bare" git clone -q --bare "$R" "$T/bare.git"
out=$("$MREG" -C "$T/bare.git" list 2>"$T/.err"); rc=$?
expect_eq "bare: list exits 0" "$rc" 0; [ "$rc" -eq 0 ] || sed 's/^/    # /' "$T/.err"
expect_same "bare: list equals the source's" "$out" "$src_table"
expect_same "bare: list --json equals the source's" "$("$MREG" -C "$T/bare.git" list --json 2>/dev/null)" "$src_list"
expect_same "bare: show --json m:1 equals the source's" "$("$MREG" -C "$T/bare.git" show m:1 --json 2>/dev/null)" "$src_show"
expect_same "bare: show m:1 equals the source's" "$("$MREG" -C "$T/bare.git" show m:1 2>/dev/null)" \
	"$("$MREG" -C "$R" show m:1)"
out=$("$MREG" -C "$T/bare.git" fsck 2>"$T/.err"); rc=$?
expect_eq "bare: fsck exits 0" "$rc" 0; [ "$rc" -eq 0 ] || sed 's/^/    # /' "$T/.err"
expect_eq "bare: fsck output" "$out" "ok: $T/bare.git is consistent"
out=$(git -C "$T/bare.git" fsck --strict --no-dangling 2>&1)
expect_eq "bare: git fsck --strict still clean after mreg reads" "$?:$out" "0:"

# ---- plain git operations are picked up without `mreg refresh` ---------------
model_file "$T/m3.pt" 2000
before_m3=$("$MREG" -C "$R" list --json)
step "source: register m:3" "$MREG" -C "$R" register m "$T/m3.pt"
after_m3=$("$MREG" -C "$R" list --json)
step "source: promote m:3 to staging" "$MREG" -C "$R" promote m:3 --to staging
src_list=$("$MREG" -C "$R" list --json)
check "clone: git pull" git -C "$T/clone" -c pull.rebase=false pull -q
clean "git pull" "$T/clone"
expect_same "clone: after git pull, list --json equals the source's" "$("$MREG" -C "$T/clone" list --json)" "$src_list"
expect_eq "clone: m:3 is in staging after git pull" \
	"$("$MREG" -C "$T/clone" show m:3 --json 2>&1 | jq -r .stage 2>&1)" staging
clean "list after git pull" "$T/clone"
for f in registry.json production.json models/m.json models/h.json; do
	if cmp -s "$R/state/$f" "$T/clone/state/$f"; then ok "clone: state/$f equals the source's after git pull"
	else fail "clone: state/$f equals the source's after git pull"; fi
done
check "clone: git reset --hard HEAD~1" git -C "$T/clone" reset -q --hard HEAD~1
clean "git reset --hard" "$T/clone"
expect_same "clone: after reset, list --json is as before the undone promotion" \
	"$("$MREG" -C "$T/clone" list --json)" "$after_m3"
expect_eq "clone: m:3 back in development" "$("$MREG" -C "$T/clone" show m:3 --json | jq -r .stage)" development
check "clone: git reset --hard HEAD~1 again" git -C "$T/clone" reset -q --hard HEAD~1
expect_same "clone: after 2nd reset, list --json is as before m:3" "$("$MREG" -C "$T/clone" list --json)" "$before_m3"
expect_fail "clone: m:3 is gone" 1 "^mreg: version not found: .m:3. \(latest is 2\)$" "$MREG" -C "$T/clone" show m:3
clean "reads after reset" "$T/clone"
check "clone: mreg fsck after reset" "$MREG" -C "$T/clone" fsck
expect_eq "clone: git status clean after fsck" "$(tree_clean "$T/clone")" ""

# ---- large files: Git LFS pointers in the tree, bytes in .git/lfs ---------
model_file "$T/big.onnx" 1572864
model_file "$T/edge.onnx" 1048576
model_file "$T/edge1.onnx" 1048577
hb=$("$XXH" "$T/big.onnx")
he=$("$XXH" "$T/edge.onnx")
he1=$("$XXH" "$T/edge1.onnx")
step "register a 1.5 MiB model" "$MREG" -C "$R" register big "$T/big.onnx"
step "register a model of exactly 1 MiB" "$MREG" -C "$R" register edge "$T/edge.onnx"
step "register a model of 1 MiB + 1 byte" "$MREG" -C "$R" register edge "$T/edge1.onnx"
pb="artifacts/$(echo "$hb" | cut -c1-2)/$(echo "$hb" | cut -c3-4)/$hb.onnx"
pe="artifacts/$(echo "$he" | cut -c1-2)/$(echo "$he" | cut -c3-4)/$he.onnx"
pe1="artifacts/$(echo "$he1" | cut -c1-2)/$(echo "$he1" | cut -c3-4)/$he1.onnx"
sb=$(sha256sum "$T/big.onnx" | cut -c1-64)
expect_eq "large model: file_path under artifacts/" "$("$MREG" -C "$R" show big:1 --json | jq -r .file_path)" "$pb"
expect_eq "1 MiB model: file_path under artifacts/" "$("$MREG" -C "$R" show edge:1 --json | jq -r .file_path)" "$pe"
expect_eq "1 MiB + 1 model: file_path under artifacts/" "$("$MREG" -C "$R" show edge:2 --json | jq -r .file_path)" "$pe1"
if cmp -s "$T/big.onnx" "$R/$pb"; then ok "large model's work tree copy holds its bytes"; else fail "large model's work tree copy holds its bytes"; fi
if cmp -s "$T/big.onnx" "$R/.git/lfs/objects/$(echo "$sb" | cut -c1-2)/$(echo "$sb" | cut -c3-4)/$sb"; then
	ok "large model stored in .git/lfs/objects/ab/cd/<sha256>"; else fail "large model stored in .git/lfs/objects/ab/cd/<sha256>"; fi
expect_eq "HEAD holds a Git LFS pointer at its path" "$(git -C "$R" show "HEAD~2:$pb")" \
	"$(printf 'version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize 1572864' "$sb")"
expect_eq "the pointer is marked for Git LFS" "$(git -C "$R" check-attr filter -- "$pb" | sed 's/.*: //')" "lfs"
expect_eq "the 1 MiB model is committed whole" "$(git -C "$R" cat-file -s "HEAD:$pe")" 1048576
expect_eq "a small model is not marked for Git LFS" "$(git -C "$R" check-attr filter -- "$pe" | sed 's/.*: //')" "unspecified"
expect_eq "small model is in git ls-files" "$(git -C "$R" ls-files "$a1")" "$a1"
expect_eq "large registration commit adds the event, the pointer and .gitattributes" \
	"$(git -C "$R" show HEAD~2 --name-only --format= | sed 's,^\(artifacts\|events\)/../../,\1/,' | sort | tr '\n' ' ')" \
	"$(printf 'artifacts/%s.onnx\nartifacts/.gitattributes\nevents/%s\n' "$hb" "$(git -C "$R" show HEAD~2 --name-only --format= | grep events | sed 's,.*/,,')" | sort | tr '\n' ' ')"
if command -v git-lfs >/dev/null 2>&1; then
	expect_eq "git lfs ls-files lists the two large models" "$(git -C "$R" lfs ls-files -n | sort | tr '\n' ' ')" \
		"$(printf '%s\n%s\n' "$pb" "$pe1" | sort | tr '\n' ' ')"
	check "git lfs fsck agrees" git -C "$R" lfs fsck
	touch "$R/$pb"	# a changed stat: git hashes the file through the LFS filter
	clean "touching a large model's copy (git's LFS filter)"
	rm -rf "$T/lfsclone"
	check "git clone (with git lfs) brings the large model's bytes" git clone -q "$R" "$T/lfsclone"
	if cmp -s "$T/big.onnx" "$T/lfsclone/$pb"; then ok "git lfs smudges the pointer from .git/lfs"; else fail "git lfs smudges the pointer from .git/lfs"; fi
else
	fail "git-lfs is not installed (.ci/deps installs it)"
fi
check "mreg fsck with large files" "$MREG" -C "$R" fsck
out=$(git -C "$R" fsck --strict --no-dangling 2>&1)
expect_eq "git fsck --strict at the end" "$?:$out" "0:"
expect_eq "git log --oneline at the end: 14 events + init" "$(git -C "$R" log --oneline | wc -l | tr -d ' ')" 15
clean "the end"

# mreg gc: one pack with deltas, nothing lost, stock git agrees
"$MREG" -C "$R" list --json >"$T/before-gc.json"
before=$(du -sk "$R/.git/objects" | cut -f1)
step "mreg gc" "$MREG" -C "$R" gc
expect_eq "gc leaves one pack" "$(ls "$R/.git/objects/pack/" | grep -c '\.pack$')" 1
expect_eq "gc leaves no loose objects" "$(git -C "$R" count-objects -v | sed -n 's/^count: //p')" 0
out=$(git -C "$R" fsck --strict --no-dangling 2>&1)
expect_eq "git fsck --strict after gc" "$?:$out" "0:"
"$MREG" -C "$R" list --json >"$T/after-gc.json"
if cmp -s "$T/before-gc.json" "$T/after-gc.json"; then ok "gc changes no state"; else fail "gc changes no state"; fi
after=$(du -sk "$R/.git/objects" | cut -f1)
if [ "$after" -le "$before" ]; then ok "gc does not grow the history ($before -> $after KiB)"; else fail "gc grew the history ($before -> $after KiB)"; fi
check "mreg fsck after gc" "$MREG" -C "$R" fsck
step "a write after gc" "$MREG" -C "$R" tag m:1 after-gc
clean "after gc"

# ---- the branch as git keeps it: reflog, packed refs, git's lock ------
# mreg moves the branch itself (lock file, compare-and-swap, rename): the
# reflogs of the branch and of HEAD get one line per write, in git's format,
# naming the actor; a branch that stock git packed moves the same way.
expect_eq "reflog: the last write, by the actor" "$(git -C "$R" log -g -1 --format='%gs|%gn <%ge>')" \
	"mreg: tag m:1 +after-gc|tester <tester@mreg>"
expect_eq "reflog of HEAD too" "$(git -C "$R" log -g -1 --format=%gs HEAD)" "mreg: tag m:1 +after-gc"
n_before=$(git -C "$R" reflog main | wc -l)
git -C "$R" pack-refs --all
expect_eq "pack-refs: the branch is packed" "$(ls "$R/.git/refs/heads")" ""
step "a write on a packed branch" "$MREG" -C "$R" untag m:1 after-gc
expect_eq "packed branch: HEAD is the new commit" "$(git -C "$R" log -1 --format=%s)" "untag m:1 -after-gc"
expect_eq "packed branch: one reflog line more" "$(git -C "$R" reflog main | wc -l)" "$((n_before + 1))"
expect_eq "packed branch: the reflog line's old value is the packed one" \
	"$(tail -1 "$R/.git/logs/refs/heads/main" | cut -d' ' -f1)" "$(git -C "$R" rev-parse HEAD~1)"
out=$(git -C "$R" fsck --strict 2>&1)
expect_eq "git fsck --strict after writes on a packed branch" "$?:$out" "0:"
check "mreg fsck after writes on a packed branch" "$MREG" -C "$R" fsck

# ---- trees mreg builds itself: git's order of names ----------------------
# The same bytes registered under names with different extensions land in
# one directory as names that are prefixes of each other; git sorts them
# byte-wise, and `git fsck --strict` refuses a tree out of order.
R4=$T/reg-order
new_registry_full "$R4"
model_file "$T/same" 2000
for ext in .pt .p .pt2 .a; do cp "$T/same" "$T/same$ext"; done
for ext in .pt "" .pt2 .a .p; do check "register the same bytes as same$ext" "$MREG" -C "$R4" register m "$T/same$ext"; done
h=$($XXH "$T/same")
expect_eq "one directory, five names in git's order" \
	"$(git -C "$R4" ls-tree --name-only HEAD "artifacts/$(echo "$h" | cut -c1-2)/$(echo "$h" | cut -c3-4)/" | sed 's|.*/||' | tr '\n' ' ')" \
	"$h $h.a $h.p $h.pt $h.pt2 "
out=$(git -C "$R4" fsck --strict 2>&1)
expect_eq "git fsck --strict on trees mreg built" "$?:$out" "0:"
clean "names in git's order" "$R4"

# Two registries made apart are two histories, even by one actor in one
# second: the first commit names the node that made it.
check "init a" "$MREG" init "$T/apart-a"
check "init b" "$MREG" init "$T/apart-b"
expect_eq "the first commit names its node" "$(git -C "$T/apart-a" log -1 --format='%(trailers:key=Mreg-Node,valueonly)' | head -1)" \
	"$(cat "$T/apart-a/.git/mreg/node")"
check "two registries made apart share no commit" sh -c \
	"! git -C '$T/apart-a' cat-file -e \$(git -C '$T/apart-b' rev-parse HEAD) 2>/dev/null && test \$(git -C '$T/apart-a' rev-parse HEAD) != \$(git -C '$T/apart-b' rev-parse HEAD)"

finish

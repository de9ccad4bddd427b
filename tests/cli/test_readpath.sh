#!/bin/sh
# The read commands' short road (mreg_registry_open_read): while the state
# files are stamped with HEAD's commit, show, history and list read two
# refs and the state files, and never open git's objects; whenever anything
# is out of the ordinary they take the full road and still answer right.
# Which road was taken is seen with strace: the full one opens objects/pack.
. "$(dirname "$0")/lib.sh"

R=$T/reg
new_registry_full "$R"
model_file "$T/a.pt" 3000
model_file "$T/b.pt" 3100
model_file "$T/c.pt" 3200
"$MREG" -C "$R" register m "$T/a.pt" --metric elo=1500 >/dev/null
"$MREG" -C "$R" register m "$T/b.pt" --metric elo=1510 --tag two >/dev/null
"$MREG" -C "$R" promote m:1 --to staging >/dev/null
"$MREG" -C "$R" promote m:1 --to production -r "first one" >/dev/null
"$MREG" -C "$R" register m "$T/c.pt" --metric elo=1520 >/dev/null

# road CMD...: "short" when CMD opened nothing under .git/objects, else "full"
road() {
	strace -f -e trace=open,openat -o "$T/.trace" "$@" >/dev/null 2>&1
	if grep -q '\.git/objects' "$T/.trace"; then echo full; else echo short; fi
}

# jq-free field of mreg --json show
field() { "$MREG" -C "$R" --json show "$1" | jq -r "$2"; }

if ! command -v strace >/dev/null 2>&1; then
	fail "strace is needed (make deps installs it)"
	finish
fi

expect_eq "show on fresh state takes the short road" "$(road "$MREG" -C "$R" show m:2)" short
expect_eq "history on fresh state takes the short road" "$(road "$MREG" -C "$R" history m:1)" short
expect_eq "list on fresh state takes the short road" "$(road "$MREG" -C "$R" list)" short
expect_eq "list --stage production takes the short road" "$(road "$MREG" -C "$R" list --stage production)" short
expect_eq "status (not a state-file read) takes the full road" "$(road "$MREG" -C "$R" status)" full
expect_eq "show latest" "$(field m '.version')" 3
expect_eq "show m:2 tags" "$(field m:2 '.tags | join(",")')" two
expect_eq "show m:1 stage" "$(field m:1 '.stage')" production
expect_eq "show -v 2" "$("$MREG" -C "$R" --json show m -v 2 | jq -r '.metrics.elo')" 1510
expect_eq "show m:1 history reason" "$("$MREG" -C "$R" --json history m:1 | jq -r '.[2].reason')" "first one"
expect_eq "list --stage production" "$("$MREG" -C "$R" --json list --stage production | jq -r '.[] | "\(.model_id):\(.version)"')" m:1
expect_fail "show of a version past the latest" 1 "version not found: 'm:4'" "$MREG" -C "$R" show m:4
expect_fail "show of an unknown model" 1 "model not found: 'zz'" "$MREG" -C "$R" show zz

# HEAD moved by plain git: the stamps no longer name HEAD, so the full road refreshes
git -C "$R" reset -q --hard HEAD~1
expect_eq "after git reset: the full road" "$(road "$MREG" -C "$R" show m)" full
expect_eq "after git reset: latest is 2" "$(field m '.version')" 2
expect_eq "after the refresh: the short road again" "$(road "$MREG" -C "$R" show m)" short
"$MREG" -C "$R" register m "$T/c.pt" >/dev/null

# a packed branch (git gc does this): HEAD's commit is in packed-refs
git -C "$R" pack-refs --all
expect_eq "packed branch: no loose ref file" "$(ls "$R/.git/refs/heads")" ""
expect_eq "packed branch: the short road" "$(road "$MREG" -C "$R" show m)" short
expect_eq "packed branch: right answer" "$(field m '.version')" 3

# detached HEAD: the commit is in HEAD itself
git -C "$R" checkout -q --detach
expect_eq "detached HEAD: the short road" "$(road "$MREG" -C "$R" show m)" short
expect_eq "detached HEAD: right answer" "$(field m:1 '.stage')" production
git -C "$R" checkout -q main

# a branch that is neither loose nor packed: the full road, and its error
git -C "$R" symbolic-ref HEAD refs/heads/nothing
expect_eq "missing branch: the full road" "$(road "$MREG" -C "$R" show m)" full
expect_fail "missing branch: refused" 1 "has no (commits|mreg.json at HEAD)" "$MREG" -C "$R" show m
git -C "$R" symbolic-ref HEAD refs/heads/main

# a linked work tree: .git is a file naming the git directory
check "git worktree add" git -C "$R" worktree add -q "$T/linked"
expect_eq "linked work tree: the full road" "$(road "$MREG" -C "$T/linked" show m)" full
expect_eq "linked work tree: right answer" "$("$MREG" -C "$T/linked" --json show m:1 | jq -r .stage)" production
# writes there are refused, naming the main work tree: its objects and branches
# are the main one's, in a git directory a write from here would not reach
head_before=$(git -C "$R" rev-parse HEAD) packs_before=$(ls "$R/.git/objects/pack" | wc -l)
expect_fail "linked work tree: a write is refused" 1 "cannot write to '$T/linked': it is a linked work tree; write in '$R'" \
	"$MREG" -C "$T/linked" tag m:1 here
expect_fail "linked work tree: gc is refused" 1 "it is a linked work tree" "$MREG" -C "$T/linked" gc
expect_eq "linked work tree: the main branch did not move" "$(git -C "$R" rev-parse HEAD)" "$head_before"
expect_eq "linked work tree: no pack written" "$(ls "$R/.git/objects/pack" | wc -l)" "$packs_before"
expect_eq "linked work tree: nothing under its own git directory's objects" \
	"$(find "$R/.git/worktrees" -path '*objects*' -type f | wc -l)" 0

# config that could move the work tree or the git directory: the full road
git -C "$R" config include.path "$T/nothing.cfg"
expect_eq "config with include: the full road" "$(road "$MREG" -C "$R" show m)" full
expect_eq "config with include: right answer" "$(field m '.version')" 3
git -C "$R" config --remove-section include

# a state file damaged behind a good stamp: fsck names it (the model files
# are compared on every core; what differs is said in the models' order)
expect_eq "fresh again: the short road" "$(road "$MREG" -C "$R" show m)" short
cp "$R/state/models/m.json" "$T/m.keep"
printf ' ' >>"$R/state/models/m.json"
expect_fail "fsck names a model file that differs from the fold" 1 \
	"state file 'models/m.json' differs from the fold of HEAD \(run 'mreg refresh'\)" "$MREG" -C "$R" fsck
cp "$T/m.keep" "$R/state/models/m.json"
check "fsck clean with the file as it was" "$MREG" -C "$R" fsck
# and the read refolds and answers right
: >"$R/state/models/m.json"
check "show with an emptied state file" "$MREG" -C "$R" show m:2
expect_eq "emptied state file: right answer" "$(field m:2 '.metrics.elo')" 1510
printf '{"format": 4, "model_id": "m", "versions": [\n' >"$R/state/models/m.json"
expect_eq "truncated state file: right answer" "$(field m '.version')" 3
check "list with a truncated state file refolds" "$MREG" -C "$R" list
expect_eq "git status clean after the reads" "$(tree_clean "$R")" ""
check "mreg fsck" "$MREG" -C "$R" fsck
# a write's road: registry.json's rows of the models it does not touch are kept as bytes
W=$T/rows
new_registry "$W"
for m in a b c; do "$MREG" -C "$W" register "$m" "$T/a.pt" >/dev/null; done
row_of() { jq -c --arg m "$1" '.model_list[] | select(.model_id == $m)' "$W/state/registry.json"; }
c_before=$(row_of c)
check "a write beside kept rows" "$MREG" -C "$W" tag b:1 kept
expect_eq "the written model's row moved" "$(row_of b | jq .clock)" 4
expect_eq "another's row stays as it was" "$(row_of c)" "$c_before"
cp "$W/state/registry.json" "$T/rows.json"
check "refresh --full" "$MREG" -C "$W" refresh --full
check "registry.json after the write is what a full fold writes" cmp "$T/rows.json" "$W/state/registry.json"
# another layout of the same content (jq -c): the write reads it in full, and lays it out again
jq -c . "$W/state/registry.json" >"$T/compact.json" && cp "$T/compact.json" "$W/state/registry.json"
check "a write on a registry.json in another layout" "$MREG" -C "$W" tag c:1 other
cp "$W/state/registry.json" "$T/rows.json"
"$MREG" -C "$W" refresh --full >/dev/null
check "  and the layout is mreg's again" cmp "$T/rows.json" "$W/state/registry.json"
# a damaged row behind a good stamp: the write refolds and lands
grep -v '"latest_version"' "$W/state/registry.json" >"$T/damaged.json" && cp "$T/damaged.json" "$W/state/registry.json"
check "a write on a damaged row" "$MREG" -C "$W" tag a:1 healed
expect_eq "  the damaged row is whole again" "$(row_of c | jq .latest_version)" 1
expect_eq "  the write landed" "$("$MREG" -C "$W" --json show a:1 | jq -c .tags)" '["healed"]'
check "mreg fsck of the rows registry" "$MREG" -C "$W" fsck
# a listing of one model reads registry.json's head and that model's row
# only: a row of another model damaged behind a good stamp does not stop
# it (the file is left as it is, for the next read of every row to mend);
# its own row damaged, it refolds and answers right
versions_of() { "$MREG" -C "$W" --json list --model "$1" | jq -c '[.[].version] | sort'; }
awk '/"model_id": "c"/ { c = 1 } c && /"latest_version"/ { c = 0; next } { print }' "$W/state/registry.json" >"$T/damaged.json"
expect_eq "  the damage is in c's row alone" "$(diff "$W/state/registry.json" "$T/damaged.json" | grep -c '^<')" 1
cp "$T/damaged.json" "$W/state/registry.json"
expect_eq "list --model b beside a damaged row of c" "$(versions_of b)" "[1]"
check "  registry.json left as it was" cmp "$T/damaged.json" "$W/state/registry.json"
expect_eq "list --model c with its own row damaged" "$(versions_of c)" "[1]"
expect_eq "  c's row is whole again" "$(row_of c | jq .latest_version)" 1
expect_eq "list --model of a model not there" "$("$MREG" -C "$W" --json list --model zz)" "[]"
check "mreg fsck after the listings" "$MREG" -C "$W" fsck
finish

#!/bin/sh
# mreg gc keeps what git gc keeps and removes only what git gc would: every
# ref (annotated tags as tag objects, a tag of a blob), HEAD, reflogs, the
# index's entries and cache-tree, linked work trees; unreachable objects,
# loose or packed, only once older than gc.pruneExpire (two weeks unless
# set). Checked with stock git: git cat-file -e on each object, git fsck
# --strict. Also: a gc killed while git pack-objects writes its pack leaves nothing
# the next write does not remove.
. "$(dirname "$0")/lib.sh"

R=$T/reg
new_registry_full "$R"
g() { git -C "$R" "$@"; }
n=0
reg_one() {
	n=$((n + 1))
	model_file "$T/v$n.bin" 1500
	"$MREG" -C "$R" register m "$T/v$n.bin" >/dev/null 2>"$T/.err" || { fail "register m:$n"; sed 's/^/    # /' "$T/.err"; }
}
# loose PATH of an object id
loose() { echo "$R/.git/objects/$(echo "$1" | cut -c1-2)/$(echo "$1" | cut -c3-)"; }
present() { if g cat-file -e "$2" 2>/dev/null; then ok "$1"; else fail "$1: $2 is gone"; fi; }
absent() { if g cat-file -e "$2" 2>/dev/null; then fail "$1: $2 is still there"; else ok "$1"; fi; }
fsck_clean() {
	out=$(g fsck --strict --no-dangling 2>&1)
	expect_eq "$1" "$?:$out" "0:"
}

for i in 1 2 3 4; do reg_one; done

# ---- what git gc keeps, each made only by git ------------------------------
g tag -a v1 -m "an annotated tag"
tag=$(g rev-parse v1)
blob_tagged=$(echo "a file only a tag points at" | g hash-object -w --stdin)
g tag -a blobtag -m "a tag of a blob" "$blob_tagged"
tag_of_blob=$(g rev-parse blobtag)
echo "staged, never committed" >"$R/staged.txt"
g add staged.txt
staged=$(g rev-parse :staged.txt)
# a linked work tree, detached, with a commit no branch has and a blob staged there
g worktree add -q --detach "$T/wt" HEAD 2>"$T/.err" || fail "git worktree add"
echo "work tree file" >"$T/wt/wt.txt"
git -C "$T/wt" add wt.txt
git -C "$T/wt" commit -qm "only the linked work tree has this"
wt_commit=$(git -C "$T/wt" rev-parse HEAD)
echo "staged in the work tree" >"$T/wt/wt2.txt"
git -C "$T/wt" add wt2.txt
wt_staged=$(git -C "$T/wt" rev-parse :wt2.txt)
# reflog: a commit the branch no longer points at
reg_one
dropped=$(g rev-parse HEAD)
g update-ref -m "back one" refs/heads/main HEAD~1
"$MREG" -C "$R" refresh >/dev/null 2>&1
# a tree only the index's cache-tree names: git write-tree writes it there
mkdir -p "$R/notes"
echo "in a directory" >"$R/notes/a.txt"
g add notes/a.txt
cache_tree=$(g write-tree)
expect_eq "the index has a cache-tree" "$(LC_ALL=C grep -c TREE "$R/.git/index")" 1
expect_eq "no ref or reflog reaches that tree" "$(g rev-list --objects --all --reflog | grep -c "$cache_tree")" 0
# every loose object is a month old: what stays, stays because it is reachable
find "$R/.git/objects" -type f ! -path '*/pack/*' -exec touch -d '30 days ago' {} +

# ---- unreachable objects, loose and packed, young and old -----------------
fresh=$(echo "unreachable, made just now" | g hash-object -w --stdin)
stale=$(echo "unreachable, a month old" | g hash-object -w --stdin)
touch -d '30 days ago' "$(loose "$stale")"
young_packed=$(echo "unreachable, in a young pack" | g hash-object --stdin)
old_packed=$(echo "unreachable, in an old pack" | g hash-object --stdin)
echo "unreachable, in a young pack" | g hash-object -w --stdin >/dev/null
echo "unreachable, in an old pack" | g hash-object -w --stdin >/dev/null
young_pack=$(echo "$young_packed" | g pack-objects -q .git/objects/pack/pack)
old_pack=$(echo "$old_packed" | g pack-objects -q .git/objects/pack/pack)
rm -f "$(loose "$young_packed")" "$(loose "$old_packed")"
touch -d '5 days ago' "$R/.git/objects/pack/pack-$young_pack.pack"
touch -d '30 days ago' "$R/.git/objects/pack/pack-$old_pack.pack"
young_mtime=$(stat -c %Y "$R/.git/objects/pack/pack-$young_pack.pack")

check "mreg gc" "$MREG" -C "$R" gc
present "the annotated tag object stays" "$tag"
present "a tag of a blob stays" "$tag_of_blob"
present "the blob it points at stays" "$blob_tagged"
present "a blob staged with git add stays" "$staged"
present "a tree of the index's cache-tree stays" "$cache_tree"
present "a commit only a linked work tree's HEAD has stays" "$wt_commit"
present "a blob staged in a linked work tree stays" "$wt_staged"
present "a commit only the reflog has stays" "$dropped"
present "an unreachable loose object made now stays (grace period)" "$fresh"
absent "an unreachable loose object a month old is pruned" "$stale"
present "an unreachable object of a 5-day-old pack stays" "$young_packed"
expect_eq "it is loose now, dated with its pack's mtime" "$(stat -c %Y "$(loose "$young_packed")" 2>&1)" "$young_mtime"
absent "an unreachable object of a month-old pack is pruned" "$old_packed"
expect_eq "one pack left" "$(ls "$R/.git/objects/pack" | grep -c '\.pack$')" 1
fsck_clean "git fsck --strict after mreg gc"
expect_eq "git count-objects: no garbage" "$(g count-objects -v | sed -n 's/^garbage: //p')" 0
expect_eq "every version still there" "$("$MREG" -C "$R" --json show m | jq -r .version)" 4
check "mreg fsck" "$MREG" -C "$R" fsck
check "a register after gc" reg_one

# ---- gc.pruneExpire -------------------------------------------------------
g config gc.pruneExpire never
touch -d '1 year ago' "$(loose "$fresh")"
check "mreg gc with gc.pruneExpire never" "$MREG" -C "$R" gc
present "never: a year-old unreachable object stays" "$fresh"
g config gc.pruneExpire "3.days.ago"
check "mreg gc with gc.pruneExpire 3.days.ago" "$MREG" -C "$R" gc
absent "3.days.ago: a year-old unreachable object goes" "$fresh"
absent "3.days.ago: the object ejected from the 5-day-old pack goes" "$young_packed"
recent=$(echo "unreachable, an hour old" | g hash-object -w --stdin)
touch -d '1 hour ago' "$(loose "$recent")"
g config gc.pruneExpire "2 days"
check "mreg gc with gc.pruneExpire '2 days'" "$MREG" -C "$R" gc
present "2 days: an hour-old unreachable object stays" "$recent"
g config gc.pruneExpire 2000-01-01
check "mreg gc with gc.pruneExpire 2000-01-01" "$MREG" -C "$R" gc
present "a date in 2000: an hour-old unreachable object stays" "$recent"
g config gc.pruneExpire "3.fortnights.ago"
bad "gc.pruneExpire git's parser might know but mreg does not: refused, naming it" 1 \
	"^mreg: invalid gc.pruneExpire '3.fortnights.ago'" "$R" "$MREG" -C "$R" gc
present "the refused gc removed nothing" "$recent"
g config gc.pruneExpire now
check "mreg gc with gc.pruneExpire now" "$MREG" -C "$R" gc
absent "now: an hour-old unreachable object goes" "$recent"
present "now: the staged blob stays" "$staged"
present "now: the tag object stays" "$tag"
fsck_clean "git fsck --strict after every gc"
g config --unset gc.pruneExpire

# ---- the base pack: a later gc packs only what lies outside it ------------
R=$T/reg3
new_registry_full "$R"
packs() { ls "$R/.git/objects/pack" | grep '\.pack$' | sed 's/^pack-//; s/\.pack$//' | sort; }
psize() { stat -c %s "$R/.git/objects/pack/pack-$1.pack"; }
ids() { git -C "$R" show-index <"$R/.git/objects/pack/pack-$1.idx" | cut -d' ' -f2 | sort; }
gcbase() { head -1 "$R/.git/mreg/gc-base" 2>&1; }
for i in 1 2 3 4 5 6; do reg_one; done
check "a first gc" "$MREG" -C "$R" gc
expect_eq "the first gc is a full one: one pack, named in .git/mreg/gc-base" "$(gcbase)" "$(packs)"
# a blob only a tag reaches goes into the base; without the tag it is unreachable there
inbase=$(echo "unreachable later, inside the base" | g hash-object -w --stdin)
g tag intobase "$inbase"
check "mreg gc --full" "$MREG" -C "$R" gc --full
base=$(packs)
expect_eq "gc --full: one pack, the new base" "$(gcbase)" "$base"
expect_eq "gc-base: then the commit HEAD was at" "$(sed -n 2p "$R/.git/mreg/gc-base")" "$(g rev-parse HEAD)"
expect_eq "the tagged blob is in it" "$(ids "$base" | grep -c "$inbase")" 1
g tag -d intobase >/dev/null
g config gc.pruneExpire now
ids "$base" >"$T/base-ids.txt"
reg_one
reg_one
expect_eq "two writes, two small packs beside the base" "$(packs | grep -vc "$base")" 2
check "a later gc" "$MREG" -C "$R" gc
expect_eq "the base is left as it is" "$(packs | grep -c "$base"):$(gcbase)" "1:$base"
expect_eq "one pack beside it" "$(packs | grep -vc "$base")" 1
new=$(packs | grep -v "$base")
expect_eq "it holds nothing the base holds" "$(ids "$new" | comm -12 - "$T/base-ids.txt" | wc -l | tr -d ' ')" 0
expect_eq "its commits: the two writes'" "$(ids "$new" | g cat-file --batch-check='%(objecttype)' | grep -c commit)" 2
present "an object unreachable inside the base stays until a full gc" "$inbase"
fsck_clean "git fsck --strict after a later gc"
expect_eq "git count-objects: no garbage after a later gc" "$(g count-objects -v | sed -n 's/^garbage: //p')" 0
check "mreg fsck after a later gc" "$MREG" -C "$R" fsck
# what only a later walk finds, made after the base: with gc.pruneExpire now, kept only if walked
g tag -a later -m "a tag made after the base"
later_tag=$(g rev-parse later)
echo "staged after the base" >"$R/staged-later.txt"
g add staged-later.txt
later_staged=$(g rev-parse :staged-later.txt)
reg_one
later_dropped=$(g rev-parse HEAD)
g update-ref -m "back one" refs/heads/main HEAD~1
"$MREG" -C "$R" refresh >/dev/null 2>&1
check "a later gc with a tag, a staged blob and a reflog-only commit made after the base" "$MREG" -C "$R" gc
present "the tag object made after the base stays" "$later_tag"
present "the blob staged after the base stays" "$later_staged"
present "the commit only the reflog has, made after the base, stays" "$later_dropped"
fsck_clean "git fsck --strict after it"
expect_eq "a gc with nothing new: --json says it packed only what lies outside the base" \
	"$("$MREG" -C "$R" --json gc 2>&1 | jq -r .full)" false
expect_eq "the base and the pack beside it" "$(packs | grep -c "$base"):$(packs | wc -l | tr -d ' ')" "1:2"
# the commit in gc-base only shortens the walk: one that is not there changes nothing
cp "$R/.git/mreg/gc-base" "$T/gc-base"
printf '%s\n%s\n' "$base" 0123456789abcdef0123456789abcdef01234567 >"$R/.git/mreg/gc-base"
reg_one
check "a gc whose base names a commit that is not there" "$MREG" -C "$R" gc
expect_eq "still the base and one pack beside it" "$(packs | grep -c "$base"):$(packs | wc -l | tr -d ' ')" "1:2"
expect_eq "it holds the four writes' commits" "$(ids "$(packs | grep -v "$base")" | g cat-file --batch-check='%(objecttype)' | grep -c commit)" 4
cp "$T/gc-base" "$R/.git/mreg/gc-base"
# nothing outside the base: no new pack
expect_eq "gc --full: --json says it packed everything" "$("$MREG" -C "$R" --json gc --full 2>&1 | jq -r .full)" true
expect_eq "then a gc with nothing outside the base says so" "$("$MREG" -C "$R" gc 2>&1 | sed 's/.*(//')" "what lies outside the base pack)"
expect_eq "the base alone" "$(packs | wc -l | tr -d ' '):$(gcbase)" "1:$(packs)"
base=$(packs)
fsck_clean "git fsck --strict after it"
# a base that cannot be linked into gc's own object directory (immutable
# here): a full gc, every commit in its pack, though the base stays
reg_one
commits=$(g rev-list --all --reflog | sort -u | wc -l | tr -d ' ')
if chattr +i "$R/.git/objects/pack/pack-$base.pack" 2>/dev/null; then
	"$MREG" -C "$R" gc >"$T/.out" 2>&1
	rc=$?
	chattr -i "$R/.git/objects/pack/pack-$base.pack"
	expect_eq "a gc whose base cannot be linked" "$rc" 0
	full=$(packs | grep -v "$base")
	expect_eq "it packed every commit, not only those after the base" \
		"$(ids "$full" | g cat-file --batch-check='%(objecttype)' | grep -c commit)" "$commits"
	expect_eq "and names its pack the base" "$(gcbase)" "$full"
	check "the next gc" "$MREG" -C "$R" gc
	fsck_clean "git fsck --strict after it"
else
	echo "# chattr +i does not work here: a base that cannot be linked is not tried"
fi
base=$(gcbase)
# the other packs grow past the base: the next gc is a full one
rest() { for p in $(packs | grep -v "$base"); do psize "$p"; done | awk '{s += $1} END {print s + 0}'; }
k=0
while [ "$(rest)" -lt "$(psize "$base")" ] && [ $k -lt 300 ]; do
	reg_one
	k=$((k + 1))
done
check "a gc once the rest has outgrown the base ($k writes)" "$MREG" -C "$R" gc
expect_eq "outgrown: a full gc, one pack, a new base named in gc-base" \
	"$(packs | wc -l | tr -d ' '):$(packs | grep -c "$base"):$(gcbase)" "1:0:$(packs)"
absent "the full gc drops what was unreachable inside the old base" "$inbase"
fsck_clean "git fsck --strict after the full gc"
# a base that is gone (a git gc by hand, say): the next gc is a full one
reg_one
echo 0123456789012345678901234567890123456789 >"$R/.git/mreg/gc-base"
check "a gc whose base is gone" "$MREG" -C "$R" gc
expect_eq "no base: a full gc, one pack, named in gc-base" "$(packs | wc -l | tr -d ' '):$(gcbase)" "1:$(packs)"
g config --unset gc.pruneExpire
bad "gc takes no arguments" 2 "takes no arguments" "$R" "$MREG" -C "$R" gc now

# ---- a gc killed while git pack-objects writes its pack -------------------
fast_copy
R=$T/reg2
new_registry_full "$R"
i=0
while [ $i -lt 60 ]; do
	i=$((i + 1))
	model_file "$T/k$i.bin" 1500
	"$T/mreg-fast" -C "$R" register k "$T/k$i.bin" >/dev/null 2>&1 || fail "register k:$i"
done
# git pack-objects writes into .git/mreg/pack-tmp (tmp_pack_*, then pack-*)
gc_tmp() { find "$R/.git/mreg/pack-tmp" -type f 2>/dev/null | head -1; }
# kill a gc at a moment when its temporary pack exists
leftover=
try=0
while [ $try -lt 40 ] && [ -z "$leftover" ]; do
	try=$((try + 1))
	"$T/mreg-fast" -C "$R" gc >/dev/null 2>&1 &
	pid=$!
	k=0
	while [ $k -lt 2000 ] && kill -0 $pid 2>/dev/null; do
		if [ -n "$(gc_tmp)" ]; then
			kill -KILL $pid 2>/dev/null
			break
		fi
		k=$((k + 1))
	done
	wait $pid 2>/dev/null
	sleep 0.2	# git, which dies with mreg (its parent-death signal), has gone
	leftover=$(gc_tmp)
done
if [ -n "$leftover" ]; then ok "a gc killed mid-way left its temporary pack (try $try)"; else
	fail "no gc was killed while git pack-objects wrote (40 tries)"; fi
garbage() { { find "$R/.git/mreg/pack-tmp" -type f 2>/dev/null; find "$R/.git" -name 'pack_git2_*' -o -name '*.mreg-tmp*' -o -name '*.mreg-gone'; } | wc -l | tr -d ' '; }
model_file "$T/k.bin" 1500
check "one write after the killed gc" "$MREG" -C "$R" register k "$T/k.bin"
expect_eq "nothing the killed gc left remains" "$(garbage)" 0
expect_eq "git count-objects: no garbage after the killed gc" "$(g count-objects -v | sed -n 's/^garbage: //p')" 0
fsck_clean "git fsck --strict after the killed gc"
check "mreg fsck after the killed gc" "$MREG" -C "$R" fsck
# A gc killed between moving its new pack into objects/pack and moving the
# index after it (a window too short to hit by a kill from here): the pack
# lies alone there, its index still in pack-tmp. The next write removes it.
tmpd=$R/.git/mreg/pack-tmp
mkdir -p "$tmpd"
h=$(g rev-list --objects --all | g pack-objects -q "$tmpd/pack")
mv "$tmpd/pack-$h.pack" "$R/.git/objects/pack/"
expect_eq "a lone pack is garbage to git" "$(g count-objects -v 2>/dev/null | sed -n 's/^garbage: //p')" 1
model_file "$T/k2.bin" 1500
check "one write after the gc killed between its pack and its index" "$MREG" -C "$R" register k "$T/k2.bin"
expect_eq "the lone pack is gone" "$(ls "$R/.git/objects/pack/pack-$h.pack" 2>/dev/null)" ""
expect_eq "git count-objects: no garbage after it" "$(g count-objects -v | sed -n 's/^garbage: //p')" 0
fsck_clean "git fsck --strict after it"
# A gc killed while it removes an old pack, between its index (renamed to
# pack-<hex>.mreg-gone first) and the pack: the next write finishes.
mkdir -p "$tmpd"
h=$(g rev-list --objects --all | g pack-objects -q "$tmpd/pack")
mv "$tmpd/pack-$h.pack" "$tmpd/pack-$h.idx" "$R/.git/objects/pack/"
mv "$R/.git/objects/pack/pack-$h.idx" "$R/.git/objects/pack/pack-$h.mreg-gone"
expect_eq "a pack half removed is garbage to git" "$(g count-objects -v 2>/dev/null | sed -n 's/^garbage: //p')" 2
model_file "$T/k3.bin" 1500
check "one write after the gc killed while removing a pack" "$MREG" -C "$R" register k "$T/k3.bin"
expect_eq "nothing of the pack half removed remains" "$(ls "$R/.git/objects/pack/" | grep -c -e "$h" -e mreg-gone)" 0
expect_eq "git count-objects: no garbage after the write" "$(g count-objects -v | sed -n 's/^garbage: //p')" 0
fsck_clean "git fsck --strict after the write"
check "mreg fsck after the write" "$MREG" -C "$R" fsck
# and so does the next gc
mkdir -p "$tmpd"
h=$(g rev-list --objects --all | g pack-objects -q "$tmpd/pack")
mv "$tmpd/pack-$h.pack" "$tmpd/pack-$h.idx" "$R/.git/objects/pack/"
mv "$R/.git/objects/pack/pack-$h.idx" "$R/.git/objects/pack/pack-$h.mreg-gone"
check "a gc after the gc killed while removing a pack" "$MREG" -C "$R" gc
expect_eq "nothing of the pack half removed remains after the gc" "$(ls "$R/.git/objects/pack/" | grep -c -e "$h" -e mreg-gone)" 0
expect_eq "git count-objects: no garbage after the gc" "$(g count-objects -v | sed -n 's/^garbage: //p')" 0
finish

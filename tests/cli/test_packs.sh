#!/bin/sh
# What mreg writes beside what git keeps: the trees a write edits keep the
# modes of entries mreg did not make (executables, symlinks, submodules);
# pack merges leave alone the packs git marks .keep or that have no index
# yet, and drop a multi-pack-index that would name merged-away packs. A
# batch (migrate) writes only the objects that are new. A write refused for
# a full disk leaves no pack behind; libgit2's temporary packs left in
# objects/pack go once they are an hour old. An object whose bytes do not
# hash to its name is refused by the command that reads it.
. "$(dirname "$0")/lib.sh"

R=$T/reg
new_registry_full "$R"
n=0
# reg_one: register one more version of m (a new small model file)
reg_one() {
	n=$((n + 1))
	model_file "$T/v$n.bin" 1500
	"$MREG" -C "$R" register m "$T/v$n.bin" >/dev/null 2>"$T/.err" || { fail "register m:$n"; sed 's/^/    # /' "$T/.err"; }
}
packs() { ls "$R/.git/objects/pack" | grep -c '\.pack$'; }
idxs() { ls "$R/.git/objects/pack" | grep -c '\.idx$'; }

# ---- modes of entries mreg did not make --------------------------------
printf '#!/bin/sh\necho run\n' >"$R/run.sh"
chmod +x "$R/run.sh"
ln -s mreg.json "$R/link.json"
git -C "$R" add run.sh link.json
mkdir -p "$R/vendor/sub"	# an uninitialised submodule: an empty directory
git -C "$R" update-index --add --cacheinfo "160000,$(git -C "$R" rev-parse HEAD),vendor/sub"
git -C "$R" commit -qm "a script, a link and a submodule beside the registry"
reg_one
expect_eq "register after plain-git files: the executable stays 100755" \
	"$(git -C "$R" ls-tree HEAD run.sh | cut -d' ' -f1)" 100755
expect_eq "the symlink stays 120000" "$(git -C "$R" ls-tree HEAD link.json | cut -d' ' -f1)" 120000
expect_eq "the submodule stays 160000" "$(git -C "$R" ls-tree HEAD vendor/sub | cut -d' ' -f1)" 160000
out=$(git -C "$R" fsck --strict 2>&1)
expect_eq "git fsck --strict with all three" "$?:$out" "0:"
expect_eq "git status clean" "$(tree_clean "$R")" ""

# ---- a root tree over 64 KiB: stored in several deflate blocks ---------
i=0
while [ $i -lt 2500 ]; do : >"$R/root-file-$i.txt"; i=$((i + 1)); done
git -C "$R" add . && git -C "$R" commit -qm "2,500 files at the root"
reg_one
size=$(git -C "$R" cat-file -s HEAD^{tree})
expect_eq "the root tree mreg wrote is over 65,535 bytes" "$([ "$size" -gt 65535 ] && echo yes || echo "no: $size")" yes
out=$(git -C "$R" fsck --strict 2>&1)
expect_eq "git fsck --strict reads it" "$?:$out" "0:"
last=$(ls -t "$R/.git/objects/pack"/*.idx | head -1)
check "git verify-pack on the pack holding it" git -C "$R" verify-pack "$last"

# ---- a pack without its index, a kept pack, a multi-pack-index ---------
for i in 1 2 3; do reg_one; done
first=$(ls "$R/.git/objects/pack"/*.pack | head -1)
orphan="$R/.git/objects/pack/pack-0000000000000000000000000000000000000000.pack"
cp "$first" "$orphan"	# as a crash between a pack and its index leaves it
kept=$(basename "$first" .pack)
touch "$R/.git/objects/pack/$kept.keep"
check "git multi-pack-index write" git -C "$R" multi-pack-index write
for i in $(seq 1 14); do reg_one; done
expect_eq "merges go on past a pack without an index" "$(packs_merged "$R")" yes
if [ -f "$orphan" ]; then ok "the pack without an index is left to git gc / mreg gc"; else fail "the pack without an index was removed"; fi
if [ -f "$R/.git/objects/pack/$kept.pack" ]; then ok "the kept pack is not merged away"; else fail "the kept pack was merged away"; fi
if [ -f "$R/.git/objects/pack/multi-pack-index" ]; then fail "a stale multi-pack-index is left"; else ok "the multi-pack-index is dropped once packs merge"; fi
out=$(git -C "$R" fsck --strict 2>&1)
expect_eq "git fsck --strict after merges" "$?:$out" "0:"
check "mreg fsck after merges" "$MREG" -C "$R" fsck

check "mreg gc" "$MREG" -C "$R" gc
if [ -f "$R/.git/objects/pack/$kept.pack" ]; then ok "mreg gc keeps the kept pack"; else fail "mreg gc removed the kept pack"; fi
expect_eq "mreg gc: the kept pack and one more" "$(idxs)" 2
out=$(git -C "$R" fsck --strict 2>&1)
expect_eq "git fsck --strict after mreg gc" "$?:$out" "0:"
expect_eq "every version still there" "$("$MREG" -C "$R" --json show m | jq -r .version)" "$n"

# ---- a batch writes only its new objects ----------------------------------
fast_copy
B=$T/batch
new_registry_full "$B"
i=0
while [ $i -lt 300 ]; do
	i=$((i + 1))
	head -c 200 /dev/urandom >"$T/b.bin"
	"$T/mreg-fast" -C "$B" register "m$((i % 10))" "$T/b.bin" >/dev/null 2>&1 || fail "register $i"
done
check "mreg gc before the batch: one pack" "$MREG" -C "$B" gc
mkdir "$T/orig"
model_file "$T/orig/one.pt" 1200
sqlite3 "$T/orig/registry.db" <<SQL
CREATE TABLE models (model_id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, model_type TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE versions (id INTEGER PRIMARY KEY AUTOINCREMENT, model_id TEXT NOT NULL, version INTEGER NOT NULL,
    stage TEXT NOT NULL, file_path TEXT NOT NULL, file_hash TEXT NOT NULL, file_size_bytes INTEGER NOT NULL,
    metrics_json TEXT, training_config_json TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE tags (id INTEGER PRIMARY KEY AUTOINCREMENT, model_id TEXT NOT NULL, version INTEGER NOT NULL, tag TEXT NOT NULL);
CREATE TABLE stage_transitions (id INTEGER PRIMARY KEY AUTOINCREMENT, model_id TEXT NOT NULL, version INTEGER NOT NULL,
    from_stage TEXT, to_stage TEXT NOT NULL, reason TEXT, transitioned_by TEXT, transitioned_at TEXT NOT NULL);
INSERT INTO models VALUES ('moved_in', 'moved_in', '', 'policy_value', '2025-11-01T09:15:02.118734', '2025-11-01T09:15:02.118734');
INSERT INTO versions (model_id, version, stage, file_path, file_hash, file_size_bytes, metrics_json, training_config_json, created_at, updated_at)
    VALUES ('moved_in', 1, 'development', '$T/orig/one.pt', '$(sha256sum <"$T/orig/one.pt" | cut -c1-64)', 1200, '{}', '{}',
    '2025-11-01T09:15:02.118734', '2025-11-01T09:15:02.118734');
INSERT INTO stage_transitions (model_id, version, from_stage, to_stage, reason, transitioned_by, transitioned_at)
    VALUES ('moved_in', 1, NULL, 'development', 'Initial registration', NULL, '2025-11-01T09:15:02.118734');
SQL
ls "$B/.git/objects/pack" | grep '\.idx$' >"$T/packs.before"
check "migrate one version: a batch of one event into 300 versions" "$MREG" -C "$B" migrate "$T/orig/registry.db"
newidx=$(ls "$B/.git/objects/pack" | grep '\.idx$' | grep -vxF -f "$T/packs.before")
expect_eq "the batch wrote one pack" "$(echo "$newidx" | grep -c .)" 1
git -C "$B" show-index <"$B/.git/objects/pack/$newidx" | cut -d' ' -f2 | sort >"$T/in-pack"
git -C "$B" rev-list --objects HEAD --not HEAD^ | cut -d' ' -f1 | sort >"$T/new-objects"
expect_eq "its pack holds exactly the new objects (event, model file, trees on their paths, commit)" \
	"$(cmp -s "$T/in-pack" "$T/new-objects" && echo same ||
		echo "$(wc -l <"$T/in-pack") in the pack, $(wc -l <"$T/new-objects") new")" same
expect_eq "a handful of them, not the whole tree" "$([ "$(wc -l <"$T/in-pack")" -le 12 ] && echo yes || echo "no: $(wc -l <"$T/in-pack")")" yes
out=$(git -C "$B" fsck --strict 2>&1)
expect_eq "git fsck --strict after the batch" "$?:$out" "0:"
check "mreg fsck after the batch" "$MREG" -C "$B" fsck
expect_eq "the migrated version is there" "$("$MREG" -C "$B" --json show moved_in | jq -r .version)" 1

# ---- libgit2's temporary packs in objects/pack -------------------------------
old_tmp="$R/.git/objects/pack/pack_git2_0123456789abcdef"
new_tmp="$R/.git/objects/pack/pack_git2_fedcba9876543210"
echo "left by a killed libgit2 writer" >"$old_tmp"
echo "a live libgit2 writer's, maybe" >"$new_tmp"
touch -d '2 hours ago' "$old_tmp"
reg_one
if [ -e "$old_tmp" ]; then fail "an hour-old pack_git2_ file is left"; else ok "the next write removes an hour-old pack_git2_ file"; fi
if [ -e "$new_tmp" ]; then ok "a fresh pack_git2_ file is left to its writer"; else fail "a fresh pack_git2_ file was removed"; fi
rm -f "$new_tmp"

# ---- an object whose bytes do not hash to its name ----------------------------
# Every pack unpacked into loose objects, then the loose file of HEAD's tree
# swapped for the previous commit's (a valid tree: the registry one event
# earlier). Read without checking, it is a history that silently lost its
# last event; mreg's object reader (which hashes every tree it reads) and
# libgit2 must refuse it.
C=$T/corrupt
new_registry_full "$C"
for i in 1 2; do
	model_file "$T/c$i.bin" 800
	"$MREG" -C "$C" register c "$T/c$i.bin" >/dev/null 2>&1 || fail "register c:$i"
done
mkdir "$T/c-packs"
mv "$C/.git/objects/pack/"* "$T/c-packs/"
for p in "$T/c-packs/"*.pack; do git -C "$C" unpack-objects -q <"$p"; done
loose_of() { echo "$C/.git/objects/$(echo "$1" | cut -c1-2)/$(echo "$1" | cut -c3-)"; }
head_tree=$(git -C "$C" rev-parse HEAD^{tree})
chmod u+w "$(loose_of "$head_tree")"
cp "$(loose_of "$(git -C "$C" rev-parse HEAD~1^{tree})")" "$(loose_of "$head_tree")"
bad "refresh --full reading a tree whose bytes do not hash to its name: refused" 1 \
	"^mreg: (.*hash mismatch.*$head_tree|object $head_tree .* is damaged)" "$C" "$MREG" -C "$C" refresh --full

# ---- a full disk ---------------------------------------------------------------
# The registry on a small tmpfs, filled up; then room is given a page at a
# time, so that the write runs out of space at each of its steps in turn
# (the pack, its index, the branch's lock file, ...) until it goes through.
if [ "$(id -u)" = 0 ] && mkdir "$T/small" && mount -t tmpfs -o size=4m tmpfs "$T/small" 2>/dev/null; then
	trap 'umount "$T/small" 2>/dev/null; rm -rf "$T"' EXIT
	S=$T/small/reg
	new_registry_full "$S"
	for i in 1 2 3; do
		model_file "$T/s$i.bin" 1500
		"$MREG" -C "$S" register s "$T/s$i.bin" >/dev/null 2>&1 || fail "register s:$i"
	done
	model_file "$T/full.bin" 1500
	head -c 8M /dev/zero >"$T/small/fill" 2>/dev/null
	refused=0
	page=0
	while [ $page -lt 16 ]; do
		ls "$S/.git/objects/pack" >"$T/packs.before"
		before=$(snapshot "$S" 2>&1)
		if "$MREG" -C "$S" register s "$T/full.bin" >"$T/.out" 2>"$T/.err"; then
			break
		fi
		refused=$((refused + 1))
		expect_eq "full disk, $page page(s) free: one line naming the problem" \
			"$(wc -l <"$T/.err" | tr -d ' '):$(grep -c 'No space left on device' "$T/.err")" "1:1"
		expect_eq "full disk, $page page(s) free: registry unchanged" "$(snapshot "$S" 2>&1)" "$before"
		expect_eq "full disk, $page page(s) free: no new file in objects/pack" \
			"$(ls "$S/.git/objects/pack" | grep -vxF -f "$T/packs.before")" ""
		page=$((page + 1))
		truncate -s -4096 "$T/small/fill"
	done
	expect_eq "writes were refused for a full disk, then one went through" \
		"$([ $refused -ge 3 ] && [ $page -lt 16 ] && echo yes || echo "no: $refused refused, $page pages")" yes
	rm -f "$T/small/fill"
	model_file "$T/after.bin" 1500
	check "a write once there is room again" "$MREG" -C "$S" register s "$T/after.bin"
	out=$(git -C "$S" fsck --strict 2>&1)
	expect_eq "git fsck --strict after the full disk" "$?:$out" "0:"
	check "mreg fsck after the full disk" "$MREG" -C "$S" fsck
	umount "$T/small"
else
	echo "# skipped: a full disk needs root, to mount a small tmpfs"
fi
finish

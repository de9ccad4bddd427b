#!/bin/sh
# git's lock files: mreg never takes one away from a live process. A git
# commit whose reference-transaction hook is slow holds the branch's lock
# file; a write beside it waits, and both land. A lock file a killed mreg
# left (made as mreg makes it, and recorded as mreg records it) is removed
# by the next write at once; any other lock file that never goes away makes
# the write fail after mreg.lockTimeout, naming it, with the registry
# unchanged.
. "$(dirname "$0")/lib.sh"

R=$T/reg
new_registry_full "$R"
g() { git -C "$R" "$@"; }
n=0 k=0
# reg_one: register one more version of m; n counts those that succeeded
reg_one() {
	k=$((k + 1))
	model_file "$T/v$k.bin" 1500
	"$MREG" -C "$R" register m "$T/v$k.bin" && n=$((n + 1))
}
check "a first version" reg_one
expect_eq "after a write, no lock file is recorded" "$(head -n 1 "$R/.git/mreg/lock")" ""

# ---- a git commit with a slow reference-transaction hook, beside a write ----
mkdir -p "$R/.git/hooks"
cat >"$R/.git/hooks/reference-transaction" <<EOF
#!/bin/sh
if [ "\$1" = prepared ]; then touch "$T/hook-started"; sleep 3; fi
EOF
chmod +x "$R/.git/hooks/reference-transaction"
echo "notes by hand" >"$R/NOTES.txt"
g add NOTES.txt
(g commit -qm "notes, committed by hand" >"$T/commit.out" 2>&1; echo $? >"$T/commit.rc") &
cpid=$!
i=0
while [ ! -f "$T/hook-started" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
if [ -f "$R/.git/refs/heads/main.lock" ]; then ok "git commit holds refs/heads/main.lock while its hook runs"; else
	fail "git commit's hook did not start, or holds no lock"; fi
check "a write while git commit holds the branch's lock: it waits" reg_one
wait $cpid
expect_eq "the git commit beside it succeeds" "$(cat "$T/commit.rc")" 0
sed 's/^/    # /' "$T/commit.out"
rm -f "$R/.git/hooks/reference-transaction"
expect_eq "both are in the history, the write after the commit" \
	"$(g log --format=%s -2 | sed 's/ m:.*//')" "$(printf 'register\nnotes, committed by hand')"
out=$(g fsck --strict 2>&1)
expect_eq "git fsck --strict" "$?:$out" "0:"
check "mreg fsck" "$MREG" -C "$R" fsck
expect_eq "git status clean" "$(g status --porcelain)" ""

# ---- a lock file a killed mreg left ----------------------------------------
g config mreg.lockTimeout 1
# record LOCK: what mreg writes in .git/mreg/lock while it holds LOCK (relative to .git)
record() {
	printf '%s %s %s %s\n' $(stat -c '%d %i' "$R/.git/$1") "$(stat -c '%.9W' "$R/.git/$1" | tr -d .)" "$1" \
		>"$R/.git/mreg/lock"
}
for lock in refs/heads/main.lock index.lock; do
	echo "0000000000000000000000000000000000000000" >"$R/.git/$lock"
	record "$lock"
	check "a write after a killed mreg left $lock" reg_one
	if [ -e "$R/.git/$lock" ]; then fail "$lock is still there"; else ok "the write removed $lock"; fi
	expect_eq "and cleared the record" "$(head -n 1 "$R/.git/mreg/lock")" ""
done
# killed between swapping its new index in (RENAME_EXCHANGE) and unlinking
# the old one, which now sits at index.lock: the record names the file that
# was at index when the lock was made
printf '1 1 1 index.lock %s %s %s\n' $(stat -c '%d %i' "$R/.git/index") "$(stat -c '%.9W' "$R/.git/index" | tr -d .)" \
	>"$R/.git/mreg/lock"
mv "$R/.git/index" "$R/.git/index.lock"
cp "$R/.git/index.lock" "$R/.git/index"
check "a write after a killed mreg swapped its index in but left the old one at index.lock" reg_one
if [ -e "$R/.git/index.lock" ]; then fail "the old index is still at index.lock"; else ok "the write removed it"; fi
check "mreg fsck after the dead writers' locks" "$MREG" -C "$R" fsck

# ---- lock files no mreg made: waited for, never removed ----------------------
for lock in refs/heads/main.lock index.lock; do
	: >"$R/.git/$lock"
	bad "a write while another process holds $lock: refused after mreg.lockTimeout" 1 \
		"^mreg: cannot (move the branch|update the index) of '.*': '$lock' is held by another process \(gave up after 1 s; remove it if no git command is running\)$" \
		"$R" reg_one
	if [ -e "$R/.git/$lock" ]; then ok "$lock is left to its owner"; else fail "$lock was removed"; fi
	# a record of a lock file that is gone, and another file of that name since
	record "$lock"
	rm -f "$R/.git/$lock"
	echo "another process's" >"$R/.git/$lock"
	bad "a record naming an earlier file of the name does not make $lock mreg's" 1 \
		"^mreg: cannot .*'$lock' is held by another process" "$R" reg_one
	if [ -e "$R/.git/$lock" ]; then ok "$lock is still left to its owner"; else fail "$lock was removed"; fi
	rm -f "$R/.git/$lock"
done
check "a write once the lock files are gone" reg_one
expect_eq "every acknowledged version is there" "$("$MREG" -C "$R" --json show m | jq -r .version)" "$n"
out=$(g fsck --strict 2>&1)
expect_eq "git fsck --strict at the end" "$?:$out" "0:"
finish

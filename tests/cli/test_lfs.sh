#!/bin/sh
# Large model files (over mreg.json's artifact_max_bytes) in Git LFS's
# layout: a pointer committed at the artifact's path and marked filter=lfs
# beside it, the bytes in .git/lfs/objects/ab/cd/<sha256>, the work tree
# copy holding the real bytes. Checked with stock git and git-lfs; and the
# ways large files used to be lost: a file that changes while it is
# registered, a `git pull` that deletes the git-ignored blobs/ directory, a
# planted file of the right size, a killed registration's litter. Registries
# from before .git/lfs (testdata/legacy-blobs) are moved over by the first
# write or `mreg refresh`.
. "$(dirname "$0")/lib.sh"

LEGACY=$TESTDATA/legacy-blobs
mkdir -p "$T/out"	# export writes into an existing directory only
# lfsobj FILE: where Git LFS keeps FILE's bytes (relative to .git/)
lfsobj() { _s=$(sha256sum "$1" | cut -c1-64); echo "lfs/objects/$(echo $_s | cut -c1-2)/$(echo $_s | cut -c3-4)/$_s"; }
path_of() { "$MREG" -C "$1" --json show "$2" | jq -r .file_path; }
# nolfs GIT-ARGS...: stock git without git-lfs's filter (the system config is where it is installed)
nolfs() { GIT_CONFIG_NOSYSTEM=1 git "$@"; }

R=$T/reg
new_registry_full "$R"
model_file big.pt 1500000
model_file small.pt 3000

# ---- the layout ----------------------------------------------------------------
check "register a large model" "$MREG" -C "$R" register big big.pt
P=$(path_of "$R" big:1)
case $P in artifacts/??/??/*.pt) ok "its path is under artifacts/ ($P)" ;; *) fail "its path: '$P'" ;; esac
O=$(lfsobj big.pt)
check "the bytes are in .git/$O" cmp big.pt "$R/.git/$O"
check "the work tree copy holds the bytes" cmp big.pt "$R/$P"
expect_eq "HEAD holds a canonical Git LFS pointer" "$(git -C "$R" show "HEAD:$P")" \
	"$(printf 'version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize 1500000' "${O##*/}")"
expect_eq ".gitattributes beside it marks it (and merges itself by union)" "$(git -C "$R" show "HEAD:${P%/*}/.gitattributes")" \
	"$(printf '/.gitattributes merge=union\n/%s filter=lfs diff=lfs merge=lfs -text' "${P##*/}")"
expect_eq "git status clean (with git-lfs's filter)" "$(tree_clean "$R")" ""
expect_eq "git status clean (without it)" "$(nolfs -C "$R" status --porcelain)" ""
touch "$R/$P"
expect_eq "git status clean after the copy's mtime changed (git-lfs cleans it to the pointer)" \
	"$(tree_clean "$R")" ""
check "git lfs fsck" git -C "$R" lfs fsck
expect_eq "git lfs ls-files" "$(git -C "$R" lfs ls-files -n)" "$P"
check "mreg fsck" "$MREG" -C "$R" fsck
check "export reads the bytes from .git/lfs" "$MREG" -C "$R" export big:1 -o "$T/out/big.pt"
check "exported bytes are the model's" cmp big.pt "$T/out/big.pt"
check "a second large model in the same store" "$MREG" -C "$R" register big2 big.pt
expect_eq "same bytes, same object: one file in .git/lfs/objects" "$(find "$R/.git/lfs/objects" -type f | wc -l | tr -d ' ')" 1

# the work tree copy is made again when it is missing or not the right bytes
rm "$R/$P"
check "refresh after the copy was deleted" "$MREG" -C "$R" refresh
check "the copy is back" cmp big.pt "$R/$P"
chmod u+w "$R/$P" 2>/dev/null
printf 'x' | dd of="$R/$P" bs=1 seek=1000 conv=notrunc 2>/dev/null
if "$MREG" -C "$R" fsck >/dev/null 2>&1; then fail "fsck sees a changed copy"; else ok "fsck sees a changed copy"; fi
check "refresh after the copy was changed in place" "$MREG" -C "$R" refresh
check "the copy holds the bytes again" cmp big.pt "$R/$P"
check "fsck after the repair" "$MREG" -C "$R" fsck

# ---- 18. the store's new directories are durable: each one's parent is fsynced -------
RS=$T/rs
new_registry_full "$RS"
if ASAN_OPTIONS=detect_leaks=0 strace -f -y -e trace=mkdirat,fsync -o "$T/strace.txt" "$MREG" -C "$RS" register big big.pt >/dev/null 2>&1; then
	made=$(grep -c 'mkdirat(.*/\.git[>/].*= 0$' "$T/strace.txt")
	missing=$(grep 'mkdirat(.*/\.git[>/].*= 0$' "$T/strace.txt" | sed 's/^[0-9]* *mkdirat([0-9]*<\([^>]*\)>.*/\1/' | while read -r d; do
		grep -q "fsync([0-9]*<$d>)" "$T/strace.txt" || echo "$d"; done)
	check "a large registration made the store's directories under .git ($made)" test "$made" -ge 4
	expect_eq "each new directory's parent was fsynced" "$missing" ""
else
	fail "strace of a large registration"
fi

# ---- a clone: git lfs brings the bytes; without it, mreg puts them in place ----------
check "git clone (git-lfs smudges from the source's .git/lfs)" git clone -q "$R" "$T/c1"
check "the clone's copy holds the bytes" cmp big.pt "$T/c1/$P"
check "mreg fsck on the clone" "$MREG" -C "$T/c1" fsck
check "git clone without smudging" env GIT_LFS_SKIP_SMUDGE=1 git clone -q "$R" "$T/c2"
expect_eq "the clone has the pointer text" "$(head -n 1 "$T/c2/$P")" "version https://git-lfs.github.com/spec/v1"
if "$MREG" -C "$T/c2" fsck >"$T/.out" 2>&1; then fail "fsck names the large file not fetched"; else
	expect_eq "fsck names the large file not fetched" "$(grep -c "is not in '$T/c2' (.git/lfs/objects)" "$T/.out")" 1; fi
check "git lfs fetch brings the bytes" sh -c "git -C '$T/c2' lfs fetch >/dev/null"
check "a read after the fetch" "$MREG" -C "$T/c2" list
check "refresh puts the bytes where the pointer was" "$MREG" -C "$T/c2" refresh
check "the copy holds the bytes" cmp big.pt "$T/c2/$P"
expect_eq "git status clean on that clone" "$(tree_clean "$T/c2")" ""

# ---- 1. a model file that changes while it is registered ------------------------
# A shim makes fstat report 2 MiB for files named *shrinking*: the size looked
# at says large, the bytes read are 11. They must be what is committed.
cat >"$T/shim.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
int fstat(int fd, struct stat *st)
{
	static int (*real)(int, struct stat *);
	char link[64], target[4096];
	if (!real)
		real = (int (*)(int, struct stat *))dlsym(RTLD_NEXT, "fstat");
	int rc = real(fd, st);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	if (rc == 0 && n > 0) {
		target[n] = '\0';
		if (strstr(target, "shrinking"))
			st->st_size = 2 << 20;
	}
	return rc;
}
EOF
fast_copy
if ${CC:-cc} -shared -fPIC -o "$T/shim.so" "$T/shim.c" -ldl 2>"$T/.cc"; then
	echo "0123456789" >shrinking.pt
	check "register a file whose size changes between the look and the read" \
		env LD_PRELOAD="$T/shim.so" "$T/mreg-fast" -C "$R" register shr shrinking.pt
	expect_eq "its size is the bytes read" "$("$MREG" -C "$R" --json show shr | jq .file_size_bytes)" 11
	SP=$(path_of "$R" shr)
	expect_eq "the committed file is those bytes" "$(git -C "$R" show "HEAD:$SP")" "0123456789"
	check "fsck after it" "$MREG" -C "$R" fsck
else
	fail "build the fstat shim"; sed 's/^/    # /' "$T/.cc"
fi

# ---- 2. a plain git pull cannot delete a large file's bytes -----------------------
# A peer commits a tracked path `blobs` (where large files used to live,
# git-ignored) and removes artifacts/ entirely; the bytes stay in .git/lfs.
git clone -q "$R" "$T/peer"
(cd "$T/peer" && git rm -q -r artifacts && echo gotcha >blobs && git add blobs &&
	git commit -q -m "peer: remove artifacts, add blobs") || fail "peer commit"
git -C "$R" pull -q --no-rebase "$T/peer" main 2>"$T/.err" || { fail "git pull"; sed 's/^/    # /' "$T/.err"; }
check "after the pull the bytes are still in .git/$O" cmp big.pt "$R/.git/$O"
check "git lfs fsck still finds every object its pointers named" test -s "$R/.git/$O"
git -C "$R" revert -q --no-edit HEAD >/dev/null 2>&1 || git -C "$R" reset -q --hard HEAD~1
check "a read after the peer's commit is undone" "$MREG" -C "$R" list
check "the copy is made again from .git/lfs" cmp big.pt "$R/$P"
check "fsck after undoing it" "$MREG" -C "$R" fsck

# ---- 3. a planted file of the right size is never trusted ------------------------
R3=$T/r3
new_registry_full "$R3"
model_file planted.pt 1400000
O3=$(lfsobj planted.pt)
mkdir -p "$(dirname "$R3/.git/$O3")"
head -c 1400000 /dev/zero >"$R3/.git/$O3"	# the right name and size, the wrong bytes
check "register over a planted store object" "$MREG" -C "$R3" register pl planted.pt
check "the store holds the real bytes" cmp planted.pt "$R3/.git/$O3"
P3=$(path_of "$R3" pl)
check "so does the work tree copy" cmp planted.pt "$R3/$P3"
# a planted work tree copy (untracked, right size) at the path the next registration takes
model_file planted2.pt 1300000
h2=$("$MREG" -C "$R3" register pl2 planted2.pt >/dev/null 2>&1; path_of "$R3" pl2)
R3b=$T/r3b
new_registry_full "$R3b"
mkdir -p "$R3b/$(dirname "$h2")"
head -c 1300000 /dev/zero >"$R3b/$h2"
check "register over a planted work tree copy" "$MREG" -C "$R3b" register pl2 planted2.pt
check "the copy holds the real bytes" cmp planted2.pt "$R3b/$h2"
check "fsck" "$MREG" -C "$R3b" fsck

# ---- 17. what a killed large registration leaves is swept by the next write --------
mkdir -p "$R3/.git/lfs/tmp"
head -c 100000 /dev/zero >"$R3/.git/lfs/tmp/incoming.mreg-tmp99999"
check "a write after a killed large registration" "$MREG" -C "$R3" register s small.pt
check "its half-copied file is gone" test ! -e "$R3/.git/lfs/tmp/incoming.mreg-tmp99999"
# and a real one: kill registrations of a 60 MB file until one leaves its copy behind
model_file huge.pt 60000000
left=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	"$T/mreg-fast" -C "$R3" register huge huge.pt >/dev/null 2>&1 &
	pid=$!
	for k in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		ls "$R3/.git/lfs/tmp/" 2>/dev/null | grep -q mreg-tmp && break
		sleep 0.01
	done
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	if ls "$R3/.git/lfs/tmp/" 2>/dev/null | grep -q mreg-tmp; then left=1; break; fi
done
if [ $left = 1 ]; then
	check "a write after a registration killed mid-copy" "$MREG" -C "$R3" tag s:1 swept
	expect_eq "nothing half-copied is left" "$(ls "$R3/.git/lfs/tmp/" | grep -c mreg-tmp)" 0
else
	ok "no kill landed mid-copy in 10 tries (the simulated case above covers the sweep)"
fi
check "fsck after the kills" "$MREG" -C "$R3" fsck

# ---- 19. a full disk while a large file is copied: the disk is named, nothing is left --
MNT=$T/full
mkdir -p "$MNT"
if mount -t tmpfs -o size=3m tmpfs "$MNT" 2>/dev/null; then
	RF=$MNT/reg
	new_registry_full "$RF"
	model_file "$T/four.bin" 4000000
	bad "a large file bigger than the free space" 1 "^mreg: cannot store model file '.*four\.bin' in '.*': No space left on device$" \
		"$RF" "$MREG" -C "$RF" register four "$T/four.bin"
	expect_eq "nothing half-copied is left" "$(find "$RF/.git/lfs" -type f 2>/dev/null | wc -l | tr -d ' ')" 0
	check "a large file that fits, after it" "$MREG" -C "$RF" register fits big.pt
	check "fsck" "$MREG" -C "$RF" fsck
	umount "$MNT"
else
	ok "full disk: no tmpfs can be mounted here (not root), so this case is not run"
fi

# ---- two nodes add large files to one fan-out directory: a plain git merge ---------
# Each directory's .gitattributes merges itself by union, so the two lines
# are kept side by side. Two files whose xxh128 share the first 4 hex digits
# are found by a small program (a few hundred tries); mreg.json makes files
# of 200 bytes large.
cat >"$T/twin.c" <<'EOF'
#define XXH_INLINE_ALL
#include <xxhash.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv)
{
	static char seen[65536][200];
	static int used[65536];
	char buf[200];
	(void)argc;
	for (unsigned i = 1; i < 100000; i++) {
		memset(buf, 'x', sizeof(buf));
		snprintf(buf, sizeof(buf), "twin %u", i);
		XXH128_canonical_t c;
		XXH128_canonicalFromHash(&c, XXH3_128bits(buf, sizeof(buf)));
		unsigned k = (unsigned)c.digest[0] << 8 | c.digest[1];
		if (used[k]) {
			FILE *a = fopen(argv[1], "wb"), *b = fopen(argv[2], "wb");
			if (!a || !b)
				return 1;
			fwrite(seen[k], 1, sizeof(buf), a);
			fwrite(buf, 1, sizeof(buf), b);
			return fclose(a) || fclose(b);
		}
		used[k] = 1;
		memcpy(seen[k], buf, sizeof(buf));
	}
	return 1;
}
EOF
if ${CC:-cc} -O1 -o "$T/twin" "$T/twin.c" 2>"$T/.cc" && "$T/twin" "$T/twin1.bin" "$T/twin2.bin"; then
	RA=$T/ra
	new_registry_full "$RA"
	sed -i 's/"artifact_max_bytes": 1048576/"artifact_max_bytes": 100/' "$RA/mreg.json"
	git -C "$RA" commit -qam "large files from 100 bytes on"
	git clone -q "$RA" "$T/rb" && git -C "$T/rb" config mreg.actor other
	check "node A registers one twin" "$MREG" -C "$RA" register twin "$T/twin1.bin"
	check "node B registers the other, concurrently" "$MREG" -C "$T/rb" register twin "$T/twin2.bin"
	da=$(dirname "$(path_of "$RA" twin:1)")
	expect_eq "both in one fan-out directory" "$(dirname "$(path_of "$T/rb" twin:1)")" "$da"
	# node B's bytes first (what `git lfs fetch` from an LFS server, or mreg sync, brings), so git's smudge finds them
	cp -R "$T/rb/.git/lfs/objects" "$RA/.git/lfs/"
	check "git pull merges without a conflict" git -C "$RA" pull -q --no-rebase --no-edit "$T/rb" main
	expect_eq "the merged .gitattributes marks both" "$(grep -c 'filter=lfs' "$RA/$da/.gitattributes")" 2
	check "mreg refresh after the merge" "$MREG" -C "$RA" refresh
	check "fsck after the merge" "$MREG" -C "$RA" fsck
	expect_eq "both versions, renumbered as concurrent registrations are" \
		"$("$MREG" -C "$RA" --json list --model twin | jq -c '[.[].version] | sort')" "[1,2]"
else
	fail "find two files whose names share a fan-out directory"; sed 's/^/    # /' "$T/.cc"
fi

# ---- registries from before .git/lfs ----------------------------------------------
L=$T/legacy
git clone -q "$LEGACY/registry.bundle" "$L" 2>/dev/null
git -C "$L" checkout -q -B main origin/main 2>/dev/null
git -C "$L" config mreg.actor tester
cp -R "$LEGACY/blobs" "$L/blobs"
head -c 50000 /dev/zero >"$L/blobs/.incoming-4242"	# left by a registration an older mreg was killed in
lp=$(path_of "$L" legacy:1)
case $lp in blobs/*) ok "a legacy version's file is under blobs/ ($lp)" ;; *) fail "legacy path '$lp'" ;; esac
check "a read does not move anything" test "$(git -C "$L" rev-list --count HEAD)" -eq 6
check "mreg refresh moves the large files into .git/lfs" "$MREG" -C "$L" refresh
check "and removes what a killed registration left in blobs/" test ! -e "$L/blobs/.incoming-4242"
expect_eq "one commit, named for what it did" "$(git -C "$L" log -1 --format=%s)" \
	"lfs: move 2 large model files from blobs/ into .git/lfs"
check "big.pt is in .git/lfs" cmp "$LEGACY/big.pt" "$L/.git/$(lfsobj "$LEGACY/big.pt")"
check "big2.pt is in .git/lfs" cmp "$LEGACY/big2.pt" "$L/.git/$(lfsobj "$LEGACY/big2.pt")"
expect_eq "pointers at the old paths" "$(git -C "$L" lfs ls-files -n | sort | tr '\n' ' ')" \
	"$(git -C "$L" ls-files blobs | grep -v gitattributes | sort | tr '\n' ' ')"
check "the work tree copy stays" cmp "$LEGACY/big.pt" "$L/$lp"
expect_eq "git status clean" "$(tree_clean "$L")" ""
expect_eq "git status clean without git-lfs" "$(nolfs -C "$L" status --porcelain)" ""
check "git lfs fsck" git -C "$L" lfs fsck
check "mreg fsck" "$MREG" -C "$L" fsck
check "refresh again moves nothing" "$MREG" -C "$L" refresh
expect_eq "no second commit" "$(git -C "$L" rev-list --count HEAD)" 7
# now a plain git pull bringing a tracked `blobs` file cannot lose the bytes
GIT_LFS_SKIP_SMUDGE=1 git clone -q "$L" "$T/peer2"
(cd "$T/peer2" && git rm -q -r blobs && echo gotcha >blobs && git add blobs &&
	git commit -q -m "peer: blobs is a file") || fail "peer commit on legacy"
git -C "$L" pull -q --no-rebase "$T/peer2" main 2>/dev/null
check "after the pull the bytes are still in .git/lfs" cmp "$LEGACY/big.pt" "$L/.git/$(lfsobj "$LEGACY/big.pt")"
# the first write moves them too
L2=$T/legacy2
git clone -q "$LEGACY/registry.bundle" "$L2" 2>/dev/null
git -C "$L2" checkout -q -B main origin/main 2>/dev/null
git -C "$L2" config mreg.actor tester
cp -R "$LEGACY/blobs" "$L2/blobs"
check "the first write" "$MREG" -C "$L2" tag legacy:1 moved
expect_eq "the move, then the write" "$(git -C "$L2" log -2 --format=%s | tr '\n' '|')" \
	"tag legacy:1 +moved|lfs: move 2 large model files from blobs/ into .git/lfs|"
check "mreg fsck after the first write" "$MREG" -C "$L2" fsck
check "export of a legacy version reads .git/lfs" "$MREG" -C "$L2" export other:1 -o "$T/out/other.pt"
check "its bytes" cmp "$LEGACY/big2.pt" "$T/out/other.pt"
# a legacy registry whose blobs/ copy is damaged: nothing false is moved
L3=$T/legacy3
git clone -q "$LEGACY/registry.bundle" "$L3" 2>/dev/null
git -C "$L3" checkout -q -B main origin/main 2>/dev/null
cp -R "$LEGACY/blobs" "$L3/blobs"
bad_copy=$(find "$L3/blobs" -type f -size 1500c)
chmod u+w "$bad_copy" && printf 'x' | dd of="$bad_copy" bs=1 seek=10 conv=notrunc 2>/dev/null
check "refresh with a damaged legacy file" "$MREG" -C "$L3" refresh
expect_eq "only the good file is moved" "$(git -C "$L3" log -1 --format=%s)" \
	"lfs: move 1 large model file from blobs/ into .git/lfs"
if "$MREG" -C "$L3" fsck >"$T/.out" 2>&1; then fail "fsck names the damaged legacy file"; else
	expect_eq "fsck names the damaged legacy file" "$(grep -c "model file of 'other:1' is corrupt" "$T/.out")" 1; fi

finish

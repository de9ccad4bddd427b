# Helpers for CLI tests: sourced by tests/cli/test_*.sh.
#
# Each test script works in its own temporary directory (removed at exit),
# drives the real mreg binary ($MREG) and the stock git binary, and reports
# with ok/not ok lines. A script exits non-zero if any check failed.
set -u
: "${MREG:?set MREG}"
TESTDATA=${TESTDATA:-$(cd "$(dirname "$0")/../../testdata" && pwd)}
T=$(mktemp -d "${TMPDIR:-/tmp}/mreg-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
export HOME="$T/home"
mkdir -p "$HOME"
git config --global user.name "mreg test"
git config --global user.email "test@mreg.invalid"
git config --global init.defaultBranch main
export MREG_DIR=
_fails=0

ok() { echo "ok - $*"; }
fail() { echo "not ok - $*"; _fails=$((_fails + 1)); }
finish() { [ "$_fails" -eq 0 ]; exit $?; }

# check DESC CMD...: the command must succeed
check() {
	desc=$1; shift
	if "$@" >"$T/.out" 2>"$T/.err"; then ok "$desc"; else
		fail "$desc (exit $?)"; sed 's/^/    # /' "$T/.err" | head -5; fi
}

# expect_eq DESC GOT WANT
expect_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1"; echo "    # got:  $2"; echo "    # want: $3"; fi
}

# expect_fail DESC CODE PATTERN CMD...: exit code CODE, one line on stderr matching PATTERN (grep -E), no stdout
expect_fail() {
	desc=$1; code=$2; pat=$3; shift 3
	"$@" >"$T/.out" 2>"$T/.err"
	rc=$?
	lines=$(wc -l <"$T/.err" | tr -d ' ')
	if [ "$rc" -ne "$code" ]; then
		fail "$desc: exit $rc, want $code"; sed 's/^/    # /' "$T/.err" | head -3
	elif [ "$lines" -ne 1 ]; then
		fail "$desc: $lines lines on stderr, want 1"; sed 's/^/    # /' "$T/.err" | head -5
	elif ! grep -qE "$pat" "$T/.err"; then
		fail "$desc: stderr does not match /$pat/"; sed 's/^/    # /' "$T/.err"
	elif [ -s "$T/.out" ]; then
		fail "$desc: wrote to stdout"; sed 's/^/    # /' "$T/.out" | head -3
	else
		ok "$desc"
	fi
}

# snapshot REG: everything a failed command must leave as it was
snapshot() {
	(cd "$1" && {
		git rev-parse HEAD
		git for-each-ref
		cat .git/HEAD
		find state -type f | sort | xargs sha1sum
		find events artifacts -type f 2>/dev/null | sort
		git status --porcelain
	})
}

# bad DESC CODE PATTERN REG CMD...: CMD must fail as expect_fail says, and
# leave REG's snapshot unchanged
bad() {
	_d=$1 _c=$2 _p=$3 _r=$4
	shift 4
	_before=$(snapshot "$_r" 2>&1)
	expect_fail "$_d" "$_c" "$_p" "$@"
	expect_eq "$_d: registry unchanged" "$(snapshot "$_r" 2>&1)" "$_before"
}

# model_file NAME [BYTES]: a file of pseudo-random bytes
model_file() {
	head -c "${2:-4096}" /dev/urandom >"$1"
}

# new_registry DIR: a registry as mreg init makes it (lean: git sees a bare
# repository; the work tree holds state/ and model files, no events, no index)
new_registry() {
	"$MREG" -C "$1" init >/dev/null || { echo "not ok - init $1"; exit 1; }
	git -C "$1" config mreg.actor tester
}

# full_checkout DIR: the registry given a git work tree and an index of every
# committed file (as a git clone has), for tests that edit and commit in it
full_checkout() {
	git -C "$1" config core.bare false && git -C "$1" reset -q --hard ||
		{ echo "not ok - full checkout $1"; exit 1; }
}

# tree_clean DIR: what is out of place in DIR's work tree, nothing when all
# is well: a full checkout's `git status --porcelain`; for a lean registry
# (git sees a bare repository) an events directory or an index, which it
# never has
tree_clean() {
	if [ "$(git -C "$1" config core.bare)" = true ]; then
		ls -d "$1/events" "$1/.git/index" 2>&1 | grep -v 'No such file'
	else
		git -C "$1" status --porcelain 2>&1
	fi
}

# packs_merged DIR: "yes" when the packs of registry DIR are as merged as
# a write leaves them, else what is not: the packs in use (with an index,
# no .keep or .promisor), smallest first, of which those a geometric merge
# would take (the first i, at least two, for the largest i whose pack is
# under twice all smaller ones) are at most 8, and at most 32 in all
packs_merged() {
	p=$1/.git/objects/pack
	for i in "$p"/pack-*.idx; do
		[ -f "$i" ] && [ ! -f "${i%.idx}.keep" ] && [ ! -f "${i%.idx}.promisor" ] && wc -c <"${i%.idx}.pack"
	done | sort -n | awk '
		NR == 1 { sum = $1; last = 2; next }
		{ if ($1 < 2 * sum) last = NR; sum += $1 }
		END { if (NR <= 8 || (last <= 8 && NR <= 32)) print "yes"; else print "no: " NR " packs, " last " to merge" }'
}

new_registry_full() {
	new_registry "$1"
	full_checkout "$1"
}

# fast_copy: $T/mreg-fast, a private copy of the release binary (MREG_FAST,
# default build/mreg beside an ASan $MREG) for tests that kill or race many
# writers: the sanitizer build is slow enough to shift where kills land, and
# a rebuild during the run must not break it.
fast_copy() {
	if [ -z "${MREG_FAST:-}" ]; then
		case "$MREG" in
		*/build/asan/mreg) f=${MREG%/asan/mreg}/mreg; [ -x "$f" ] && MREG_FAST=$f ;;
		esac
	fi
	cp "${MREG_FAST:-$MREG}" "$T/mreg-fast" || { echo "not ok - copy ${MREG_FAST:-$MREG}"; exit 1; }
}

# xxh128_helper: build a tool that prints the xxh128 of files, computed
# independently of mreg (header-only xxHash); prints its path, or "false".
xxh128_helper() {
	cat >"$T/xxh128.c" <<'EOF'
#define XXH_INLINE_ALL
#include <xxhash.h>
#include <stdio.h>
int main(int argc, char **argv)
{
	static unsigned char buf[1 << 16];
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		XXH3_state_t *s = XXH3_createState();
		size_t n;
		if (!f || !s || XXH3_128bits_reset(s) == XXH_ERROR)
			return 1;
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			XXH3_128bits_update(s, buf, n);
		fclose(f);
		XXH128_canonical_t c;
		XXH128_canonicalFromHash(&c, XXH3_128bits_digest(s));
		XXH3_freeState(s);
		for (int k = 0; k < 16; k++)
			printf("%02x", c.digest[k]);
		printf("\n");
	}
	return 0;
}
EOF
	if ${CC:-cc} -O1 -o "$T/xxh128" "$T/xxh128.c" 2>"$T/.cc"; then
		echo "$T/xxh128"
	else
		echo "not ok - build the xxh128 helper (needs cc and xxhash.h)" >&2
		echo false
	fi
}

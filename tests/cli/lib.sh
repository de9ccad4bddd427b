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

# model_file NAME [BYTES]: a file of pseudo-random bytes
model_file() {
	head -c "${2:-4096}" /dev/urandom >"$1"
}

new_registry() {
	"$MREG" -C "$1" init >/dev/null || { echo "not ok - init $1"; exit 1; }
	git -C "$1" config mreg.actor tester
}

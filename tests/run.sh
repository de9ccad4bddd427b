#!/bin/sh
# The whole test suite: every unit test binary, then every CLI test script.
# Each CLI script prints "ok - ..." / "not ok - ..." lines; unit tests are
# cmocka binaries. The last line is "N passed, N failed".
#
#   MREG      the mreg binary to test (a sanitizer build under `make test`)
#   UNIT_DIR  where the unit test binaries are
#   PY_LIB    libmreg.so for the Python package's tests (bindings/python/tests,
#             pytest under Debian's /usr/bin/python3); a sanitizer build is
#             run with its runtime preloaded
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${MREG:?set MREG to the mreg binary}"
: "${UNIT_DIR:?set UNIT_DIR}"
export MREG TESTDATA="$here/../testdata"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$here/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
passed=0
failed=0
failures=""
log=$(mktemp)

for t in "$UNIT_DIR"/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	if (cd "$here/.." && "$t") >"$log" 2>&1; then
		n=$(grep -c '^\[       OK \]' "$log")
		passed=$((passed + n))
		echo "ok - $name ($n cases)"
	else
		n_ok=$(grep -c '^\[       OK \]' "$log")
		n_bad=$(grep -c '^\[  FAILED  \]' "$log")
		[ "$n_bad" -gt 0 ] || n_bad=1
		passed=$((passed + n_ok))
		failed=$((failed + n_bad))
		failures="$failures $name"
		echo "not ok - $name"
		sed 's/^/    /' "$log" | tail -40
	fi
done

# tally NAME RC OK_PATTERN BAD_PATTERN UNIT: count $log's passing and failing
# lines (a nonzero exit with none failing counts as one), report, add up
tally() {
	n_ok=$(grep -c "$3" "$log")
	n_bad=$(grep -c "$4" "$log")
	if [ "$2" -ne 0 ] && [ "$n_bad" -eq 0 ]; then n_bad=1; fi
	passed=$((passed + n_ok))
	failed=$((failed + n_bad))
	if [ "$n_bad" -gt 0 ]; then
		failures="$failures $1"
		echo "not ok - $1 ($n_ok ok, $n_bad failed, exit $2)"
		grep -v "$3" "$log" | sed 's/^/    /' | tail -60
	else
		echo "ok - $1 ($n_ok $5)"
	fi
}

for t in "$here"/cli/test_*.sh; do
	[ -f "$t" ] || continue
	name=$(basename "$t" .sh)
	if sh "$t" >"$log" 2>&1; then rc=0; else rc=$?; fi
	tally "$name" "$rc" '^ok ' '^not ok ' checks
done
if [ -n "${PY_LIB:-}" ]; then
	preload=""
	if nm -D "$PY_LIB" 2>/dev/null | grep -q __asan_init; then
		preload=$(gcc -print-file-name=libasan.so)
	fi
	if LD_PRELOAD=$preload ASAN_OPTIONS=detect_leaks=0 MREG_LIBRARY="$PY_LIB" MREG_CLI="${MREG_FAST:-$MREG}" \
		/usr/bin/python3 -m pytest -v -p no:cacheprovider "$here/../bindings/python/tests" >"$log" 2>&1; then rc=0; else rc=$?; fi
	tally python "$rc" ' PASSED' ' FAILED\| ERROR' tests
fi
rm -f "$log"
[ -z "$failures" ] || echo "failed:$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/bin/sh
# The documentation follows the code: the committed man page is what
# `mreg help --man` prints, every command has `mreg help COMMAND`, the same
# text as `mreg COMMAND --help`, and a row in the README's command table.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$TESTDATA/.." && pwd)

"$MREG" help --man >"$T/mreg.1"
if cmp -s "$T/mreg.1" "$ROOT/docs/mreg.1"; then ok "docs/mreg.1 is what 'mreg help --man' prints (make docs/mreg.1)"
else fail "docs/mreg.1 is what 'mreg help --man' prints (make docs/mreg.1)"; diff "$ROOT/docs/mreg.1" "$T/mreg.1" | head -5 | sed 's/^/    # /'; fi
cmds=$("$MREG" help | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p')
n=0
for c in $cmds; do
	n=$((n + 1))
	"$MREG" help "$c" >"$T/h" 2>&1 || fail "mreg help $c"
	grep -q "^usage: mreg" "$T/h" || fail "mreg help $c prints a usage line"
	grep -q "\`$c" "$ROOT/README.md" || fail "README's command table has $c"
	"$MREG" "$c" --help >"$T/h2" 2>&1 || fail "mreg $c --help"
	cmp -s "$T/h" "$T/h2" || fail "mreg $c --help prints what mreg help $c prints"
done
if [ "$n" -ge 30 ]; then ok "$n commands documented in help and README"; else fail "at least 30 commands in mreg help ($n)"; fi
finish

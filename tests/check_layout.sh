#!/bin/sh
# The layering and size rules of docs/ARCHITECTURE.md, checked (make check).
#
#   1. core/ is pure: no libgit2, no streams or printing, no exit.
#   2. fsstore/git/ knows git and nothing of mreg: it includes its own
#      header, ../fsutil.h, core/common.h and system or library headers only.
#   3. fsstore/ outside git/ parses no git format: the signatures and
#      layouts of git's files appear in fsstore/git/ alone.
#   4. No source file over MAX_FILE lines; no function over MAX_FUNC lines
#      unless the comment above it says why ("Long:").
#
# Each rule prints what breaks it; the exit status is 1 when any does.
set -u
cd "$(dirname "$0")/.."
MAX_FILE=${MAX_FILE:-800}
MAX_FUNC=${MAX_FUNC:-100}
bad=0

fail() {
	echo "$1"
	bad=1
}

# 1. core/: no libgit2, no streams or printing, no exit; snprintf and strtod are formatting
hits=$(grep -nE '#include *[<"](git2|git2/.*)\.h[>"]|\<(FILE|stdin|stdout|stderr)\>|[^_a-z](printf|fprintf|vprintf|vfprintf|dprintf|puts|fputs|putchar|perror|fopen|fdopen|popen|fwrite|fread|exit|_Exit|abort) *\(' core/*.[ch] || true)
[ -z "$hits" ] || fail "core/ must not do I/O, print, exit or use libgit2:
$hits"

# 2. fsstore/git/: its own header, ../fsutil.h, core/common.h, <system and library headers>
hits=$(grep -nE '^#include *"' fsstore/git/*.[ch] | grep -vE '#include *"(git\.h|\.\./fsutil\.h|\.\./\.\./core/common\.h)"' || true)
[ -z "$hits" ] || fail "fsstore/git/ must not include mreg's registry headers:
$hits"
hits=$(grep -nE '^#include *"' fsstore/fsutil.h | grep -vE '"\.\./core/common\.h"' || true)
[ -z "$hits" ] || fail "fsstore/fsutil.h is shared with fsstore/git/ and includes core/common.h only:
$hits"

# 3. git's formats outside fsstore/git/: pack and index signatures, the
# index's, packed-refs and reflogs, HEAD's symbolic form, object headers,
# bundles, alternates, zlib streams and big-endian fields of git's files
pattern='\\377tOc|"DIRC|"PACK|packed-refs|"ref: |logs/|"tree |"parent |"author |# v2 git bundle|info/alternates|[^_]be32|put32|get32|deflate|inflate|compress2|"40000"|"100644"'
hits=$(grep -nE "$pattern" fsstore/*.[ch] fsstore/backup/*.[ch] | grep -vE '^[^:]+:[0-9]+: *(/?\*|//)' || true)
[ -z "$hits" ] || fail "fsstore/ outside git/ must not parse git's formats (use fsstore/git/):
$hits"

# 4. sizes
for f in core/*.[ch] fsstore/*.[ch] fsstore/*/*.[ch] cmd/*.[ch]; do
	n=$(wc -l <"$f")
	[ "$n" -le "$MAX_FILE" ] || fail "$f: $n lines (more than $MAX_FILE: split it by job)"
done
long=$(awk -v max="$MAX_FUNC" '
	FNR == 1 { comment = ""; incomment = 0 }
	/^\/\*/ { incomment = 1; comment = "" }
	incomment { comment = comment $0 "\n" }
	incomment && /\*\// { incomment = 0; last = FNR; next }
	/^[a-z].*\(/ && !/;[ \t]*$/ && !start { start = FNR; name = $0; why = (comment ~ /Long:/ && last >= FNR - 1) }
	/^}/ && start {
		n = FNR - start + 1
		if (n > max && !why) { sub(/\(.*/, "", name); printf "%s:%d: %s: %d lines\n", FILENAME, start, name, n }
		start = 0
	}
	!incomment && !/^\/\*/ && !/^[a-z].*\(/ && NF && !start { comment = "" }
' core/*.c fsstore/*.c fsstore/*/*.c cmd/*.c)
[ -z "$long" ] || fail "functions over $MAX_FUNC lines without a reason (a comment above them saying \"Long: ...\"):
$long"

[ "$bad" = 0 ] && echo "layout ok: core/ pure, git's formats in fsstore/git/ only, files <= $MAX_FILE lines, functions <= $MAX_FUNC or said why"
exit "$bad"

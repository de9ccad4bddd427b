#!/bin/sh
# Concurrent writers on one registry: 4 processes register 100 versions each
# of the same model at once, with durability on (mreg.fsync left at its
# default). The writer lock must serialise them: versions 1..400, every
# command succeeds, no event is lost, and the log is linear.
#
#   MREG_FAST  binary for the writers (default: build/mreg next to an ASan
#              $MREG if it exists, else $MREG); checks use $MREG.
. "$(dirname "$0")/lib.sh"

PROCS=4
EACH=100
TOTAL=$((PROCS * EACH))
fast_copy
FAST=$T/mreg-fast

R=$T/reg
new_registry "$R"
loose() { find "$R/.git/objects" -path '*/objects/[0-9a-f][0-9a-f]/*' -type f | wc -l | tr -d ' '; }
loose0=$(loose)
expect_eq "durability is on (mreg.fsync not set)" "$(git -C "$R" config --get mreg.fsync)" ""

# distinct files; each registration also carries its own games_played, so
# every one can be found again: process p, iteration i -> p*1000 + i
p=1
while [ "$p" -le "$PROCS" ]; do
	mkdir "$T/p$p"
	i=1
	while [ "$i" -le "$EACH" ]; do
		{ echo "process $p file $i"; head -c 200 /dev/urandom; } >"$T/p$p/f$i.bin"
		i=$((i + 1))
	done
	p=$((p + 1))
done

# writer P: register EACH versions; log "<games_played> <exit> <stdout>"
writer() {
	i=1
	while [ "$i" -le "$EACH" ]; do
		out=$("$FAST" -C "$R" register m "$T/p$1/f$i.bin" -m "games_played=$(($1 * 1000 + i))" 2>>"$T/err$1")
		echo "$(($1 * 1000 + i)) $? $out"
		i=$((i + 1))
	done >"$T/log$1"
}

start=$(date +%s)
p=1
while [ "$p" -le "$PROCS" ]; do
	writer "$p" &
	p=$((p + 1))
done
wait
echo "# $TOTAL registrations by $PROCS processes in $(($(date +%s) - start)) s"

cat "$T"/log[0-9]* >"$T/all"
expect_eq "$TOTAL commands ran" "$(wc -l <"$T/all" | tr -d ' ')" "$TOTAL"
expect_eq "every command exited 0" "$(awk '$2 != 0' "$T/all" | wc -l | tr -d ' ')" 0
errs=$(cat "$T"/err[0-9]*)
expect_eq "no command wrote to stderr" "$errs" ""
printed=$(sed -n 's/^[0-9]* 0 Registered m:\([0-9]*\)$/\1/p' "$T/all" | sort -n | tr '\n' ' ')
expect_eq "the printed versions are exactly 1..$TOTAL, each once" "$printed" "$(seq 1 "$TOTAL" | tr '\n' ' ')"

check "list --json" "$MREG" -C "$R" list --json
cp "$T/.out" "$T/list.json"
expect_eq "list has $TOTAL versions" "$(jq length "$T/list.json")" "$TOTAL"
expect_eq "versions are exactly 1..$TOTAL" "$(jq -r '.[].version' "$T/list.json" | sort -n | tr '\n' ' ')" \
	"$(seq 1 "$TOTAL" | tr '\n' ' ')"
expect_eq "no version was renumbered (claimed_version = version)" \
	"$(jq '[.[] | select(.claimed_version != .version)] | length' "$T/list.json")" 0
# the version each writer was told is the version that holds its file
expect_eq "each registration is the version it printed" \
	"$(jq -r '.[] | "\(.metrics.games_played) \(.version)"' "$T/list.json" | sort)" \
	"$(sed -n 's/^\([0-9]*\) 0 Registered m:\([0-9]*\)$/\1 \2/p' "$T/all" | sort)"
expect_eq "file hashes are all distinct" "$(jq -r '.[].file_hash' "$T/list.json" | sort -u | wc -l | tr -d ' ')" "$TOTAL"

check "log --json" "$MREG" -C "$R" log --json
cp "$T/.out" "$T/log.json"
expect_eq "log has $TOTAL version.registered events" \
	"$(jq '[.[] | select(.type == "version.registered")] | length' "$T/log.json")" "$TOTAL"
expect_eq "log has no other events" "$(jq length "$T/log.json")" "$TOTAL"
expect_eq "Lamport clocks are exactly 1..$TOTAL (each writer saw all before it)" \
	"$(jq -r '.[].clock' "$T/log.json" | tr '\n' ' ')" "$(seq 1 "$TOTAL" | tr '\n' ' ')"
expect_eq "git log --oneline: $TOTAL events + init" "$(git -C "$R" log --oneline | wc -l | tr -d ' ')" $((TOTAL + 1))
expect_eq "history is linear (no merges)" "$(git -C "$R" rev-list --merges HEAD | wc -l | tr -d ' ')" 0
expect_eq "commit subjects are register m:1..m:$TOTAL" \
	"$(git -C "$R" log --reverse --format=%s HEAD~$TOTAL..HEAD | sed -n 's/^register m:\([0-9]*\) (policy_value, development)$/\1/p' | tr '\n' ' ')" \
	"$(seq 1 "$TOTAL" | tr '\n' ' ')"
check "mreg fsck" "$MREG" -C "$R" fsck
out=$(git -C "$R" fsck --strict --no-dangling 2>&1)
expect_eq "git fsck --strict is clean" "$?:$out" "0:"
expect_eq "git status is clean" "$(tree_clean "$R")" ""
expect_eq "no temp files left in state/ or .git/mreg/" "$(find "$R/state" "$R/.git/mreg" -name '*tmp*' | wc -l | tr -d ' ')" 0
expect_eq "packs are merged ($(find "$R/.git/objects/pack" -name '*.pack' | wc -l | tr -d ' ') packs)" "$(packs_merged "$R")" yes
expect_eq "no loose objects pile up (as many as after init)" "$(loose)" "$loose0"

# ---- readers beside 8 writers ------------------------------------------------------
# A reader that reads registry.json and then a model file while a writer
# replaces both sees files of two different writes. That is a concurrent
# write, not corruption: the reader reads again. A shim makes every open of
# a model's state file take 20 ms longer, so that writes land inside
# nearly every read; readers of every kind must all succeed.
cat >"$T/slow.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
static void slow(const char *path)
{
	if (strstr(path, "/state/models/")) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}
/* open and open64 the same: wait, then the real one */
#define SLOW_OPEN(name)                                                              \
	int name(const char *path, int flags, ...)                                   \
	{                                                                            \
		static int (*real)(const char *, int, ...);                          \
		va_list ap;                                                          \
		va_start(ap, flags);                                                 \
		int mode = va_arg(ap, int);                                          \
		va_end(ap);                                                          \
		if (!real)                                                           \
			real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, #name); \
		slow(path);                                                          \
		return real(path, flags, mode);                                      \
	}
SLOW_OPEN(open)
SLOW_OPEN(open64)
EOF
R2=$T/reg2
new_registry "$R2"
for m in a b c; do
	echo "$m" >"$T/$m.bin"
	"$MREG" -C "$R2" register "$m" "$T/$m.bin" >/dev/null
done
: >"$T/werr"
: >"$T/rerr"
if ${CC:-cc} -shared -fPIC -o "$T/slow.so" "$T/slow.c" -ldl 2>"$T/.cc"; then
	wr() {
		k=1
		while [ "$k" -le 25 ]; do
			{ echo "w$1 $k"; head -c 100 /dev/urandom; } >"$T/w$1.$k"
			m=$(echo a b c | cut -d' ' -f$((k % 3 + 1)))
			"$FAST" -C "$R2" register "$m" "$T/w$1.$k" >/dev/null 2>>"$T/werr" || echo "register failed" >>"$T/werr"
			"$FAST" -C "$R2" promote "$m" --to staging >/dev/null 2>&1
			k=$((k + 1))
		done
		: >"$T/done.$1"
	}
	for w in 1 2 3 4 5 6 7 8; do wr $w & done
	reads=0 bad=0
	while [ "$(ls "$T" | grep -c '^done\.')" -lt 8 ] && [ "$reads" -lt 600 ]; do
		for cmd in "list" "list --stage staging" "show a" "history b" "status"; do
			LD_PRELOAD="$T/slow.so" "$FAST" -C "$R2" $cmd >/dev/null 2>>"$T/rerr" || bad=$((bad + 1))
			reads=$((reads + 1))
		done
	done
	wait
	echo "# $reads reads beside 8 writers"
	check "readers ran while the writers wrote" test "$reads" -ge 10
	expect_eq "every read beside 8 writers succeeded" "$bad" 0
	expect_eq "no read said anything on stderr" "$(sort "$T/rerr" | uniq -c | head -3)" ""
	expect_eq "every write succeeded" "$(cat "$T/werr")" ""
	check "fsck after the readers" "$MREG" -C "$R2" fsck
else
	fail "build the slow-open shim"; sed 's/^/    # /' "$T/.cc"
fi

finish


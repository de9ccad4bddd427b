#!/bin/sh
# Run one fuzz harness (see README): replay its seed corpus, and for the
# event parser a few large inputs made here, under the per-input time limit;
# then fuzz for SECONDS from those seeds. Any crash, leak, undefined
# behaviour, slow input (-timeout) or memory blow-up (-rss_limit_mb) fails,
# and libFuzzer leaves the input beside the binary as <name>-crash-*,
# <name>-timeout-*, ... to be looked at and added to the corpus.
#
#   sh tests/fuzz/run.sh BINARY NAME SECONDS
set -eu
bin=$1 name=$2 seconds=$3
here=$(cd "$(dirname "$0")" && pwd)
out=$(dirname "$bin")
seeds=$here/corpus/$name
work=$out/work-$name	# what the fuzzer finds worth keeping: not committed
big=$out/big-$name
mkdir -p "$work" "$big"
# scratch files of the harnesses (fuzz_odb's objects/ directory) stay under build/
export TMPDIR="$out/tmp"
rm -rf "$TMPDIR" && mkdir -p "$TMPDIR"
opts="-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 -artifact_prefix=$out/$name-"

if [ "$name" = event ]; then
	# One registration of about 1 MiB whose extra_config has 90,000 keys,
	# the same with one key twice (the twin found only at the end), and
	# 8,000 keys of 120 bytes that differ only at their end: a parser that
	# looks at every pair of keys, or at every key's whole prefix in every
	# comparison, takes far longer than the limit on these.
	reg='{"schema":1,"type":"version.registered","clock":1,"time":"2026-11-27T01:45:12.123456Z","actor":"a","node":"n","model":"m","version":1,"name":"m","model_type":"policy_value","description":"","stage":"development","file":{"path":"artifacts/01/23/0123456789abcdef0123456789abcdef.pt","hash":"xxh128:0123456789abcdef0123456789abcdef","size":1},"metrics":{},"training_config":{"extra_config":{'
	for twin in 0 1; do
		awk -v reg="$reg" -v twin=$twin 'BEGIN {
			printf "%s", reg
			for (i = 0; i < 90000; i++)
				printf "%s\"k%d\":1", i ? "," : "", i
			if (twin)
				printf ",\"k0\":2"
			printf "}},\"tags\":[]}\n"
		}' >"$big/keys-90000-$twin"
	done
	awk -v reg="$reg" 'BEGIN {
		p = sprintf("%0110d", 0)
		printf "%s", reg
		for (i = 0; i < 8000; i++)
			printf "%s\"%s%08d\":1", i ? "," : "", p, i
		printf "}},\"tags\":[]}\n"
	}' >"$big/long-keys"
fi

echo "fuzz $name: replaying the seeds"
"$bin" $opts -runs=0 "$seeds" "$big" 2>"$out/$name-replay.log" || {
	tail -40 "$out/$name-replay.log"
	echo "fuzz $name: FAILED on a seed (log: $out/$name-replay.log)"
	exit 1
}
echo "fuzz $name: fuzzing for $seconds s"
dict=
[ -f "$here/$name.dict" ] && dict="-dict=$here/$name.dict"
"$bin" $opts $dict -max_total_time="$seconds" -print_final_stats=1 "$work" "$seeds" 2>"$out/$name.log" || {
	tail -60 "$out/$name.log"
	echo "fuzz $name: FAILED (log: $out/$name.log; the input is in $out/$name-*)"
	exit 1
}
grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$out/$name.log" | sed "s/^/fuzz $name: /"
echo "fuzz $name: ok"

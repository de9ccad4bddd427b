#!/bin/sh
# make bench: workload W1 through the library, the CLI and a stock-git loop;
# reads at 1,000 versions and at 100,000 events; refresh costs; disk per
# event. Prints numbers and their ratio to the targets and never fails on
# time: the exit status is nonzero only when a step broke (a command failed,
# or a registry did not fold to what was written).
#
# This script only orders the steps; every time is taken in C by bench_lib
# (tests/bench/bench_lib.c) with CLOCK_MONOTONIC around the library call or
# around posix_spawn + waitpid of the one command.
#
#   sh tests/bench/bench.sh MREG BENCH_LIB FLOOR
#   BENCH_TMPDIR=DIR  where the registries go (default: $TMPDIR, else /tmp).
#                     Use a real disk: on tmpfs an fsync costs nothing.
#   BENCH_KEEP=1      keep the registries and the results file afterwards
#   BENCH_PYLIB=SO    libmreg.so for W1 through the Python package (make bench sets it)
#   BENCH_VS=MREG_B   also time another mreg binary (an older build) against
#                     this one on the same registries: the one-event writes
#                     and the reads, A B A B A B, and the ratios of medians
set -u
usage="usage: sh tests/bench/bench.sh MREG BENCH_LIB FLOOR [SERVE_FLOOR]"
MREG_BIN=${1:?$usage}
LIB_BIN=${2:?$usage}
FLOOR_BIN=${3:?$usage}
SERVE_FLOOR_BIN=${4:-}
base=${BENCH_TMPDIR:-${TMPDIR:-/tmp}}
T=$(mktemp -d "$base/mreg-bench.XXXXXX") || exit 1
cleanup() {
	cd /
	if [ "${BENCH_KEEP:-}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Private copies: another `make` may relink build/ while this runs.
BENCH_SRC=$(cd "$(dirname "$0")/../.." && pwd)
cp "$MREG_BIN" "$T/mreg" && cp "$LIB_BIN" "$T/bench_lib" && cp "$FLOOR_BIN" "$T/floor" || exit 1
if [ -n "${BENCH_PYLIB:-}" ]; then
	cp "$BENCH_PYLIB" "$T/libmreg.so.1" || exit 1
	BENCH_PYLIB=$T/libmreg.so.1
fi
if [ -n "${BENCH_VS:-}" ]; then
	cp "$BENCH_VS" "$T/mreg-b" || exit 1
fi
MREG=$T/mreg
LIB=$T/bench_lib
FLOOR=$T/floor
cd "$T" || exit 1	# registries are named relative to $T from here on

. "$BENCH_SRC/tests/bench/env.sh"

failed=""
step() {
	name=$1
	shift
	if ! "$@"; then
		failed="$failed $name"
		echo "  !! step '$name' failed"
	fi
}

# Bytes the model-file blobs (everything under artifacts/) take in the object store.
artifact_bytes() {
	git -C "$1" ls-tree -r HEAD artifacts | awk '{ print $3 }' |
		git -C "$1" cat-file --batch-check='%(objectsize:disk)' | awk '{ s += $1 } END { print s + 0 }'
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?"; }

started=$(date +%s)
echo "mreg benchmark ($(date -u '+%Y-%m-%d %H:%M:%S UTC'))"
echo "  machine:  $(uname -srm), $(nproc 2>/dev/null || echo ?) CPUs," \
	"$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')"
echo "  disk:     $T on $(df -T "$T" 2>/dev/null | awk 'NR == 2 { print $2 }')" \
	"(mreg writes durably: git config mreg.fsync true, the default)"
echo "  tools:    $("$MREG" --version), $(git --version)"
echo "  load:     $(loadavg) (1/5/15 min) at start; other work on this machine shows up in every number"
echo "  times are medians and 90th percentiles of each operation, timed in C; targets are not pass/fail"

echo
echo "== setup: $((10 * 100)) model files of 4 KiB (JSON-ish weights, a few numbers differ per version) =="
step gen "$LIB" gen files

echo
echo "== process start (spawn + wait, 200 runs each) =="
step spawn "$LIB" spawn true 200 /bin/true
step spawn "$LIB" spawn mreg_version 200 "$MREG" --version
echo "  the floor (tests/bench/floor.c: no mreg code, no shared library):"
step spawn "$LIB" spawn floor_start 200 "$FLOOR"
# a W1 register's pack and index are about 12.6 KB and 1.35 KB, flushed as mreg
# flushes them here: batched on XFS and on ext4 with its journal, else each file fsynced
fs=$(stat -f -c %T .)
devname=$(sed -n 's/^DEVNAME=//p' "/sys/dev/block/$(stat -c '%Hd:%Ld' .)/uevent" 2>/dev/null)
flush=fsync
case $fs in
xfs) flush=batch ;;
ext2/ext3) [ -n "$devname" ] && ls /proc/fs/jbd2 2>/dev/null | grep -q "^$devname-" && flush=batch ;;
esac
echo "  durable writes here ($fs): $flush"
if [ $flush = batch ]; then
	step spawn "$LIB" spawn floor_write 200 "$FLOOR" write floor-repo 12600 1352
else
	step spawn "$LIB" spawn floor_write 200 "$FLOOR" write floor-repo 12600 1352 fsync
fi

echo
echo "== W1 (a): library, one process, durable =="
echo "  10 ids x 100 versions registered; 10 versions per id to staging, then production; 7 lists; get x 1000"
step w1-lib "$LIB" lib w1-lib files

echo
echo "== W1 (d): the Python package (import mreg), one process, durable; beside the original's Python API =="
if [ -n "${BENCH_PYLIB:-}" ] && [ -x /usr/bin/python3 ]; then
	step w1-python env MREG_LIBRARY="$BENCH_PYLIB" /usr/bin/python3 "$BENCH_SRC/tests/bench/w1_python.py" w1-py files
else
	echo "  skipped: BENCH_PYLIB (libmreg.so) not given"
fi

echo
echo "== W1 (b): CLI, one mreg process per operation, durable =="
step w1-cli "$LIB" cli "$MREG" w1-cli files

echo
echo "== W1 (c): the naive alternative: JSON metadata + model file, git add, git commit (stock git) =="
echo "  stock git defaults: loose objects are not fsynced, so this loop is not durable"
step naive "$LIB" naive naive files

echo
echo "== reads at 1,000 versions (CLI, 50 runs each, W1 (b) registry) =="
step reads1k "$LIB" reads "$MREG" w1-cli reads1k 50 model_05:50

echo
echo "== disk after W1 (bytes of .git/objects; W1 writes 1,200 events) =="
w1=w1-cli
step disk-w1 "$LIB" du w1 "$w1"
step disk-w1 "$LIB" du w1-noblobs "$w1" - "$(artifact_bytes "$w1")"
step disk-w1 "$LIB" time gc1k git -C "$w1" gc -q
step disk-w1 "$LIB" du w1-gc "$w1"
step disk-w1 "$LIB" du w1-gc-noblobs "$w1" - "$(artifact_bytes "$w1")"
step disk-w1 "$LIB" time repack1k "$MREG" -C "$w1" gc
step disk-w1 "$LIB" du w1-packed "$w1"
step disk-w1 "$LIB" du w1-packed-noblobs "$w1" - "$(artifact_bytes "$w1")"
echo "  mreg fsck of both W1 registries (after the repacks), as a correctness check:"
step fsck-w1 "$LIB" time fsck1k "$MREG" -C w1-cli fsck
step fsck-w1 "$LIB" time fsck1k-lib "$MREG" -C w1-lib fsck
echo "  stock-git loop, for comparison (1,200 commits):"
step disk-naive "$LIB" du naive naive 1200
step disk-naive "$LIB" time gcnaive git -C naive gc -q
step disk-naive "$LIB" du naive-gc naive 1200

echo
echo "== 100,000 events: 100 models x 250 versions, with metrics, tags, promotions, rejections =="
echo "  written with mreg_append_events in 10 batches of 10,000 events (one commit each)"
big=r100k
step build100k "$LIB" build100k "$big"
step disk-100k "$LIB" du 100k "$big"

echo
echo "== reads at 100,000 events (CLI, 30 runs each) =="
step reads100k "$LIB" reads "$MREG" "$big" reads100k 30 model_050:50

# A against B (BENCH_VS): the same commands on the same registries, in turn,
# three rounds; each figure is the median of its rounds' medians.
versus() {
	head -c 4096 /dev/urandom >"$T/vs.pt"
	"$MREG" -C w1-cli register model_vs "$T/vs.pt" >/dev/null || return 1
	for round in 1 2 3; do
		for who in a b; do
			if [ "$who" = a ]; then bin=$MREG; else bin=$T/mreg-b; fi
			"$LIB" spawn "vs_register_${who}_$round" 30 "$bin" -C w1-cli register model_vs "$T/vs.pt" &&
				"$LIB" spawn "vs_metrics_${who}_$round" 30 "$bin" -C w1-cli update-metrics model_vs:1 \
					"elo=15$round" &&
				"$LIB" spawn "vs_show1k_${who}_$round" 50 "$bin" -C w1-cli show model_05:50 &&
				"$LIB" spawn "vs_list1k_${who}_$round" 50 "$bin" -C w1-cli list --stage production &&
				"$LIB" spawn "vs_show100k_${who}_$round" 30 "$bin" -C "$big" show model_050:50 &&
				"$LIB" spawn "vs_list100k_${who}_$round" 30 "$bin" -C "$big" list --stage production ||
				return 1
		done
	done >/dev/null
	echo "  op                       A median   B median    A/B   (A: $MREG_BIN, B: $BENCH_VS)"
	for op in register metrics show1k list1k show100k list100k; do
		awk -v op="$op" '
			function med(v, n,   i, j, t) {
				for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
				return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
			}
			$1 ~ "^spawn\\.vs_" op "_a_[0-9]\\.median$" { a[++na] = $2 }
			$1 ~ "^spawn\\.vs_" op "_b_[0-9]\\.median$" { b[++nb] = $2 }
			END {
				ma = med(a, na); mb = med(b, nb)
				printf "  %-22s %8.2f ms %8.2f ms %6.3f\n", op, ma, mb, mb ? ma / mb : 0
				printf "vs.%s.a %.6f\nvs.%s.b %.6f\n", op, ma, op, mb >> ENVIRON["BENCH_RESULTS"]
			}' "$BENCH_RESULTS"
	done
	echo "  rounds (medians, ms):"
	for op in register metrics show1k list1k show100k list100k; do
		printf "    %-10s" "$op"
		for round in 1 2 3; do
			for who in a b; do
				printf " %s%s=%s" "$who" "$round" "$(awk -v k="spawn.vs_${op}_${who}_$round.median" '$1 == k { printf "%.2f", $2 }' "$BENCH_RESULTS")"
			done
		done
		echo
	done
}

if [ -n "${BENCH_VS:-}" ]; then
	echo
	echo "== this build (A) against another (B), same registries, alternating A B, 3 rounds =="
	echo "  register and update-metrics on the W1 registry; show and list --stage production at 1,000 versions and at 100,000 events"
	step versus versus
fi

echo
echo "== refresh at 100,000 events =="
step refresh100k "$LIB" refresh "$MREG" "$big" 2 3 model_050:50

echo
echo "== disk at 100,000 events =="
step disk-100k "$LIB" time gc100k git -C "$big" gc -q
step disk-100k "$LIB" du 100k-gc "$big"
step disk-100k "$LIB" time repack100k "$MREG" -C "$big" gc
step disk-100k "$LIB" du 100k-packed "$big"
step fsck-100k "$LIB" time fsck100k "$MREG" -C "$big" fsck
echo "  work tree (events mirrored as files, state files): $(du -sh "$big" --exclude=.git 2>/dev/null | cut -f1)" \
	"on disk, $(du -sh --apparent-size "$big/state" 2>/dev/null | cut -f1) of it state files"

echo
echo "== backup and restore at 100,000 events (after mreg gc: one pack with deltas) =="
# backups go to registry_backups/ beside the registry, here in $T
step backup100k "$LIB" time backup100k "$MREG" -C "$big" backup create -r bench
bid=$("$MREG" -C "$big" --json backup list | jq -r '.[0].id')
if [ -n "$bid" ] && [ "$bid" != null ]; then
	"$MREG" -C "$big" --json backup show "$bid" |
		jq -r '"backup100k.bundle_per_event \(.bundle_size / .events)\nbackup100k.bundle_bytes \(.bundle_size)"' \
			>>"$BENCH_RESULTS"
	echo "  bundle: $(jq -r '.bundle_size' "$T/registry_backups/$bid.json") bytes for 100,000 events"
	step backup100k "$LIB" time verify100k "$MREG" -C "$big" backup verify "$bid"
	head -c 4096 /dev/urandom >"$T/after-backup.pt"
	step backup100k "$MREG" -C "$big" register model_001 "$T/after-backup.pt"
	step backup100k "$LIB" time restore100k "$MREG" -C "$big" backup restore "$bid"
	step backup100k "$MREG" -C "$big" fsck
else
	failed="$failed backup100k"
fi

echo
echo "== sync (issue 13 targets: 10,000 new events <= 1 s and within 1.5x of git fetch + merge;"
echo "   20 remotes with nothing new <= 1 s) =="
# A node that was offline: the 100k registry's history one batch of 10,000 events behind.
# (the commit before the last batch: later steps added single events on top of the batches)
behind=$(git -C "$big" log -1 --format=%H --grep='^bench: batch 10 of 10$' main)~1
git clone -q --bare "$big" hub90.git && git -C hub90.git update-ref refs/heads/main "$(git -C "$big" rev-parse "$behind")"
echo "  the node is $(git -C "$big" rev-list --count "$behind..main") commits, $(git -C "$big" diff --name-only "$behind" main -- events | wc -l) events behind"
step sync-setup "$LIB" time clone90k "$MREG" clone hub90.git node90
step sync-setup git clone -q hub90.git git90
"$MREG" -C node90 remote add origin-big "$T/$big" >/dev/null
# A then B, twice: mreg sync, and stock git fetch + merge of the same commit (both check the new files out)
for round in 1 2; do
	step sync10k "$LIB" time sync10k "$MREG" -C node90 sync --no-backup origin-big
	step sync10k "$LIB" time git10k sh -c "git -C git90 fetch -q '$T/$big' main && git -C git90 merge -q --ff-only FETCH_HEAD"
	if [ "$round" = 1 ]; then
		# both back one batch, for the second round
		git -C git90 reset -q --hard "$(git -C "$big" rev-parse "$behind")"
		git -C node90 reset -q --hard "$(git -C "$big" rev-parse "$behind")" && git -C node90 update-ref -d refs/remotes/origin-big/main
		step sync10k "$MREG" -C node90 refresh >/dev/null
	fi
done
step sync10k "$MREG" -C node90 fsck
# 20 remotes, nothing new: the W1 (b) registry's clone, with it as each remote
step sync20 "$MREG" clone w1-cli node20 >/dev/null
for i in $(seq 1 20); do "$MREG" -C node20 remote add "r$i" "$T/w1-cli" >/dev/null; done
"$MREG" -C node20 remote remove origin >/dev/null
step sync20 "$MREG" -C node20 sync --no-backup >/dev/null
for round in 1 2 3; do
	step sync20 "$LIB" time sync20 "$MREG" -C node20 sync --no-backup
	step sync20 "$LIB" time git20 git -C node20 fetch -q --multiple $(seq -f 'r%g' 1 20)
done

echo
echo "== mreg check (issue 14 target: a 10,000-event range <= 1 s) =="
# the hub's pre-receive: hub90.git one batch of 10,000 events behind, its state cache at its branch
# (post-receive keeps it there), checking the push of the last batch as the hook does: OLD NEW
step check10k "$MREG" -C hub90.git refresh >/dev/null
old=$(git -C hub90.git rev-parse main)
new=$(git -C "$big" rev-parse main)
echo "  the range: $("$MREG" -C hub90.git check "$old" "$new" | tail -1)"
for round in 1 2 3; do
	step check10k "$LIB" time check10k "$MREG" -C hub90.git check "$old" "$new"
done
# CI on a pull request: a fresh clone, no state, checking origin/main..HEAD (one fold of the tip)
step check10k git clone -q "$big" ci100k
step check10k "$LIB" time check10k_ci "$MREG" -C ci100k check "$(git -C "$big" rev-parse "$behind")..main"
echo "  the range: $("$MREG" -C ci100k check "$(git -C "$big" rev-parse "$behind")..main" | tail -1)"
echo "  the same checks by stock git for scale: git rev-list of the range"
step check10k "$LIB" time check10k_revlist git -C ci100k rev-list --objects "$(git -C "$big" rev-parse "$behind")..main"

echo
echo "== mreg serve (issue 15 target: >= 70 % of the requests per second of a fixed answer served with"
echo "   the same libmicrohttpd settings; wrk, 10 s, 32 connections, 2 threads, loopback) =="
# port_free: a port nothing listens on
port_free() {
	while :; do
		_p=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 20000))
		[ -z "$(ss -Hltn "sport = :$_p" 2>/dev/null)" ] && { echo "$_p"; return; }
	done
}
# rps KEY URL: wrk's requests per second (and its errors) recorded under KEY
rps() {
	wrk -t2 -c32 -d10s "$2" >"$T/wrk.out" 2>&1 || return 1
	_r=$(awk '/^Requests\/sec:/ { print $2 }' "$T/wrk.out")
	_e=$(awk '/Non-2xx|Socket errors/ { print }' "$T/wrk.out" | tr '\n' ' ')
	printf '  %-58s %10s req/s %s\n' "$1" "$_r" "${_e:+($_e)}"
	echo "$1 $_r" >>"$BENCH_RESULTS"
}
if command -v wrk >/dev/null && [ -n "$SERVE_FLOOR_BIN" ]; then
	p1=$(port_free)
	"$MREG" -C w1-cli serve --listen "127.0.0.1:$p1" >/dev/null 2>"$T/serve.err" &
	serve_pid=$!
	n=0
	while ! curl -s -o "$T/answer.json" "http://127.0.0.1:$p1/api/v1/models/model_05/versions/50" && [ $n -lt 100 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	p2=$(port_free)
	"$SERVE_FLOOR_BIN" "$p2" "$T/answer.json" &
	floor_pid=$!
	sleep 0.5
	echo "  the answer: /api/v1/models/model_05/versions/50 of the W1 registry, $(wc -c <"$T/answer.json") bytes"
	for round in 1 2; do
		step serve rps serve.api.rps "http://127.0.0.1:$p1/api/v1/models/model_05/versions/50"
		step serve rps serve.static.rps "http://127.0.0.1:$p2/"
	done
	step serve rps serve.metrics.rps "http://127.0.0.1:$p1/metrics"
	kill -TERM "$serve_pid" "$floor_pid"
	wait "$serve_pid" "$floor_pid" 2>/dev/null
else
	echo "  (wrk or the serve floor is missing: not measured)"
fi

echo
echo "== summary: measured against the targets (m/t = measured / target) =="
step summary "$LIB" summary

echo
echo "  load $(loadavg) at the end; total $(($(date +%s) - started)) s"
if [ -n "$failed" ]; then
	echo "bench: broken steps:$failed"
	exit 1
fi
exit 0

#!/bin/sh
# make bench-scale: what each command costs as the history grows. Registries
# of 1,000, 10,000, 100,000 and 1,000,000 events (1, 10, 100 and 1,000
# models of 250 versions and 1,000 events each), each written by the
# library's batch writer (bench_lib build100k, which checks that the state
# it folds to is what was written), then on each: the one-event writes
# through the CLI and the library, the first read after HEAD moved by one
# event, a listing of one model, a cold fold (refresh --full) without and
# with the fold's key cache and its peak memory, fsck, git gc and git
# repack -a -d -f against mreg gc on copies of the same registry, backup
# create and restore-from, and the disk per event (the writes in turns
# across the sizes, the rest size by size); at 100,000 events
# also a sync that receives them all (a node cloned when the registry held
# none) and `mreg check` of the whole range on a bare hub. Prints the numbers
# and a table of medians by size at the end; never fails on time.
#
#   sh tests/bench/scale.sh MREG BENCH_LIB [READFLOOR]
#   READFLOOR (tests/bench/readfloor.c): also the floor under the cold fold,
#   the event files read and inflated with nothing done with them, and read
#   once and parsed by cJSON
#   SCALE_MODELS="1 10 100 1000"   the sizes, in models of 1,000 events
#   BENCH_TMPDIR=DIR               where the registries go (a real disk)
set -u
usage="usage: sh tests/bench/scale.sh MREG BENCH_LIB [READFLOOR]"
MREG_BIN=${1:?$usage}
LIB_BIN=${2:?$usage}
FLOOR=${3:-}
base=${BENCH_TMPDIR:-${TMPDIR:-/tmp}}
T=$(mktemp -d "$base/mreg-scale.XXXXXX") || exit 1
trap 'cd /; rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
BENCH_SRC=$(cd "$(dirname "$0")/../.." && pwd)
cp "$MREG_BIN" "$T/mreg" && cp "$LIB_BIN" "$T/bench_lib" || exit 1
MREG=$T/mreg
LIB=$T/bench_lib
cd "$T" || exit 1
. "$BENCH_SRC/tests/bench/env.sh"
head -c 4096 /dev/urandom >model.pt

step() {
	"$@" || { echo "scale: step failed: $*" >&2; exit 1; }
}

label_of() {
	k=$(($1 * 1000))
	case $k in
	*000000) echo $((k / 1000000))M ;;
	*000) echo $((k / 1000))k ;;
	*) echo $k ;;
	esac
}

# every registry first, then the one-event writes on them in turns (three
# rounds of 5 writes of each kind through the CLI and 25 through the
# library, whose writes are short enough that five gave medians spread by
# half; sizes alternating), so that the ratio between sizes is measured in
# one stretch of time, not minutes apart
sizes=""
for m in ${SCALE_MODELS:-1 10 100 1000}; do
	label=$(label_of "$m")
	sizes="$sizes $label"
	echo
	echo "== $label events: $m model(s) x 250 versions, 1,000 events each =="
	step "$LIB" build100k "reg$label" "$m"
	git -C "reg$label" config mreg.actor bench
done
for round in 1 2 3; do
	for label in $sizes; do
		echo
		echo "== one-event writes at $label events, round $round of 3 =="
		step "$LIB" onewrites "$MREG" "reg$label" "$label" 5 model_000 model.pt 25
	done
done

for label in $sizes; do
	r=reg$label
	echo
	echo "== $label events: the other commands =="
	step "$LIB" refresh "$MREG" "$r" 1 3 model_000:50 "refresh_$label"
	step "$LIB" spawn "list_$label" 20 "$MREG" -C "$r" list --model model_000
	# the cold fold twice: without the fold's key cache (as a first fold, or
	# a first clone, runs), then with the cache that fold wrote
	rm -rf "$r/.git/mreg/fold-keys"
	step "$LIB" time "foldnokeys_$label" "$MREG" -C "$r" refresh --full
	step "$LIB" time "fold_$label" "$MREG" -C "$r" refresh --full
	if [ -n "$FLOOR" ]; then step "$FLOOR" "$r" "readfloor_$label"; fi
	step "$LIB" time "fsck_$label" "$MREG" -C "$r" fsck
	step "$LIB" du "written_$label" "$r"
	git -C "$r" config mreg.backupDir "$T/bk$label"
	step "$LIB" time "backup_$label" "$MREG" -C "$r" backup create -r scale
	bundle=$(ls "$T/bk$label"/*.bundle | head -1)
	step "$LIB" time "restore_$label" "$MREG" restore-from "$bundle" "restored$label"
	rm -rf "restored$label" "$T/bk$label"
	if [ "$label" = 100k ]; then
		first=$(git -C "$r" rev-list --max-parents=0 HEAD)
		git init -q --bare "hub$label.git" && git -C "$r" push -q "$T/hub$label.git" "$first:refs/heads/main"
		step "$MREG" clone "hub$label.git" "node$label" >/dev/null
		git -C "$r" push -q "$T/hub$label.git" main:main
		step "$LIB" time "sync_$label" "$MREG" -C "node$label" sync --no-backup
		step "$LIB" time "check_$label" sh -c "'$MREG' -C 'hub$label.git' check $first main >/dev/null"
		echo "  the range: $("$MREG" -C "hub$label.git" check "$first" main | tail -1)"
		rm -rf "hub$label.git" "node$label"
	fi
	cp -a "$r" "$r-git"
	step "$LIB" time "gitgc_$label" git -C "$r-git" gc -q
	step "$LIB" du "gitgc_$label" "$r-git"
	rm -rf "$r-git"
	# git's own way to the pack mreg gc makes (deltas searched among all
	# objects, as mreg's write packs hold none): the floor for mreg gc
	cp -a "$r" "$r-git"
	step "$LIB" time "gitrepack_$label" git -C "$r-git" repack -a -d -f -q
	step "$LIB" du "gitrepack_$label" "$r-git"
	rm -rf "$r-git"
	step "$LIB" time "mreggc_$label" "$MREG" -C "$r" gc
	step "$LIB" du "mreggc_$label" "$r"
	# a later gc, after the writes of a training loop (five one-event
	# writes of each kind, 30 in all, as in the earlier tables): mreg gc
	# leaves its base pack as it is and packs what lies outside it; git gc
	# on a copy of the same registry
	step "$LIB" onewrites "$MREG" "$r" "later_$label" 5 model_000 model.pt >/dev/null
	cp -a "$r" "$r-git"
	step "$LIB" time "gitgc2_$label" git -C "$r-git" gc -q
	step "$LIB" du "gitgc2_$label" "$r-git"
	rm -rf "$r-git"
	step "$LIB" time "mreggc2_$label" "$MREG" -C "$r" gc
	step "$LIB" du "mreggc2_$label" "$r"
	rm -rf "$r"
done

# the medians by size, from the results file (key value per line): a key
# recorded in several rounds gives the median of its values
get() {
	awk -v k="$1" '$1 == k { print $2 }' "$BENCH_RESULTS" | sort -g |
		awk '{ v[NR] = $1 } END { if (!NR) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
echo
echo "== by history size (medians; ms unless said) =="
printf '  %-38s' "events"
for s in $sizes; do printf ' %10s' "$s"; done
echo
row() {
	printf '  %-38s' "$1"
	for s in $sizes; do
		v=$(get "$(echo "$2" | sed "s/@/$s/g")")
		case $v in -) printf ' %10s' - ;; *) printf ' %10.*f' "${3:-2}" "$v" ;; esac
	done
	echo
}
row "CLI register" "onewrites_@.register.median"
row "CLI promote" "onewrites_@.promote.median"
row "CLI tag" "onewrites_@.tag.median"
row "CLI update-metrics" "onewrites_@.metrics.median"
row "library tag" "onewrites_@.lib_tag.median"
row "library update_metrics" "onewrites_@.lib_metrics.median"
row "first show after HEAD moved 1 event" "refresh_@.first_show.median"
row "list --model (250 rows)" "spawn.list_@.median"
row "refresh --full (cold, no key cache)" "time.foldnokeys_@" 0
row "refresh --full with the key cache" "time.fold_@" 0
row "  peak memory of it (MB)" "rss.fold_@" 0
row "  floor: each event file read once" "time.readfloor_@_once" 0
row "  floor: read as the fold reads them" "time.readfloor_@_fold" 0
row "  floor: read once, parsed by cJSON" "time.readfloor_@_parse" 0
row "fsck" "time.fsck_@" 0
row "backup create" "time.backup_@" 0
row "restore-from" "time.restore_@" 0
row "sync receiving every event" "time.sync_@" 0
row "check of the whole range (bare hub)" "time.check_@" 0
row "git gc" "time.gitgc_@" 0
row "git repack -a -d -f (mreg gc's pack)" "time.gitrepack_@" 0
row "mreg gc" "time.mreggc_@" 0
row "a later gc, after 30 more writes: git gc" "time.gitgc2_@" 0
row "  mreg gc (its base pack left as it is)" "time.mreggc2_@" 0
row "disk as written (B/event)" "disk.written_@.per_event" 0
row "disk after git gc (B/event)" "disk.gitgc_@.per_event" 0
row "disk after git repack -a -d -f (B/event)" "disk.gitrepack_@.per_event" 0
row "disk after mreg gc (B/event)" "disk.mreggc_@.per_event" 0
row "disk after the later git gc (B/event)" "disk.gitgc2_@.per_event" 0
row "  mreg gc" "disk.mreggc2_@.per_event" 0

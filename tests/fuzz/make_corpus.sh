#!/bin/sh
# Make the seed corpora under tests/fuzz/corpus/ again: events and state
# files written by the real binary, packs and loose objects written by stock
# git. The seeds are committed; run this when a format changes, and keep the
# inputs that found bugs (corpus/*/bug-*) as they are.
#
#   sh tests/fuzz/make_corpus.sh build/mreg
set -eu
MREG=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/mreg-corpus.XXXXXX")
trap 'rm -rf "$T"' EXIT
export HOME=$T/home GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME"
git config --global user.name "mreg corpus"
git config --global user.email corpus@mreg.invalid
git config --global init.defaultBranch main
SEP='
--8<--
'

# ---- events and state files: every event type, by the real binary ----------
R=$T/reg
m() { "$MREG" -C "$R" "$@" >/dev/null; }
m init
git -C "$R" config mreg.actor corpus
for i in 1 2 3; do
	head -c 64 /dev/zero | tr '\0' "$i" >"$T/m$i.pt"
done
printf '{"weights": {"material": 1.0, "mobility": 0.35}}\n' >"$T/w.json"
printf '{"learning_rate": 0.001, "extra_config": {"a": [1, {"b": null}], "n\\u00e9": "\\u00e9\\n"}}\n' >"$T/cfg.json"
printf '{"games": 50, "vs_random": {"win_rate": 0.9}, "notes": "ok"}\n' >"$T/res.json"
m register "Square 8" "$T/m1.pt" --description "first net" --metric elo=1500 --metric win_rate=0.5 \
	--metric games_played=100 -c batch_size=128 --config-file "$T/cfg.json" --tag nightly --tag run1
m register "Square 8" "$T/m2.pt" --metric elo=1550 --metric games_played=120 --stage staging
m register other "$T/m3.pt" --type heuristic --stage production
m promote square_8:2 --to production -r "passed evaluation"
m promote square_8:1 --to staging -r "dev tests"
m promote square_8:1 --to production -r "better"
m update-metrics square_8:1 elo=1600 games_played=300
m tag square_8:1 gold best
m untag square_8:1 best
m validation square_8:1 create --baselines random,heuristic --games 10
m validation square_8:1 queue work-7
m validation square_8:1 start
m validation square_8:1 pass --results "$T/res.json"
m compare square_8:1 square_8:2 --record --games 20 --a-wins 11 --b-wins 8 --draws 1 --elo-diff 35.5 --notes n
m baseline set square_8 --elo 1600 --win-rate 0.6 --games 300
m rollback square_8 --to 2 -r "regressed"
m regression square_8 --severity severe --elo-drop 80
m rollback clear square_8 -r "false alarm"
m regression other --severity severe --elo-drop 60
m cmaes register "$T/w.json" --board square8 --players 2 --fitness 0.75 --generation 4 --no-auto-promote

out=$here/corpus/event
mkdir -p "$out"
find "$out" -name 'seed-*' -delete
# (a lean registry: the events are in git, not in its work tree)
for f in $(git -C "$R" ls-tree -r --name-only HEAD events); do
	git -C "$R" show "HEAD:$f" >"$out/seed-$(basename "$f" .json)"
done
# and a few lines of the fold cases as they are: events in the runner's shorthand
n=0
for f in "$here"/../../testdata/fold/rollback_atomic.events "$here"/../../testdata/fold/comparison_both_versions.events; do
	grep '^{' "$f" | head -3 | while IFS= read -r line; do
		n=$((n + 1))
		printf '%s\n' "$line" >"$out/seed-fold-$(basename "$f" .events)-$n"
	done
done

out=$here/corpus/state
mkdir -p "$out"
find "$out" -name 'seed-*' -delete
S=$R/state
for f in "$S"/models/*.json; do
	{ cat "$S/registry.json"; printf '%s' "$SEP"; cat "$S/production.json"; printf '%s' "$SEP"; cat "$f"; } \
		>"$out/seed-$(basename "$f" .json)"
done
{ cat "$S/registry.json"; printf '%s' "$SEP"; cat "$S/production.json"; } >"$out/seed-registry"

# ---- objects: packs (deltas by offset, by id, offsets in the 64-bit table) and loose ones ----
G=$T/git
git init -q "$G"
cd "$G"
seq 1 60 | sed 's/^/line of a file that changes a little: /' >f.txt
printf 'small\n' >s.txt
git add . && git commit -q -m one
for i in 1 2 3; do
	sed -i "$((i * 9))s/\$/ edited $i/" f.txt
	git commit -q -a -m "edit $i"
done
git tag -a -m tag v1
loose() {	# 'Z', the object's 20-byte id, then its file as it is
	hex=$(git rev-parse "$1")
	printf 'Z'
	printf '%s' "$hex" | sed 's/../\\x&/g' | xargs -0 printf '%b'
	cat ".git/objects/$(echo "$hex" | cut -c1-2)/$(echo "$hex" | cut -c3-)"
}
inflated() {	# 'R', then the object as git hashes it: "<type> <size>\0<data>"
	printf 'R%s %s\0' "$(git cat-file -t "$1")" "$(git cat-file -s "$1")"
	git cat-file "$(git cat-file -t "$1")" "$1"
}
blob=$(printf 'a loose blob\n' | git hash-object -w --stdin)
loose "$blob" >"$T/loose-blob"
loose HEAD >"$T/loose-commit"
inflated HEAD^{tree} >"$T/inflated-tree"
seed() {	# NAME: the one pack, its index, the loose objects; and the pack alone, for the indexer
	p=$(ls .git/objects/pack/*.pack)
	{ cat "$p"; printf '%s' "$SEP"; cat "${p%.pack}.idx"; printf '%s' "$SEP"; cat "$T/loose-blob"
	  printf '%s' "$SEP"; cat "$T/loose-commit"; printf '%s' "$SEP"; cat "$T/inflated-tree"; } >"$out/seed-$1"
	cat "$p" >"$here/corpus/index/seed-$1"
}
out=$here/corpus/odb
mkdir -p "$out" "$here/corpus/index"
find "$out" "$here/corpus/index" -name 'seed-*' -delete
git repack -q -a -d -f --depth=50 --window=50
seed ofs-deltas
git -c repack.useDeltaBaseOffset=false repack -q -a -d -f --depth=50 --window=50
seed ref-deltas
p=$(ls .git/objects/pack/*.pack)
git index-pack --index-version=2,12 -o "$p.big" "$p" >/dev/null
mv -f "$p.big" "${p%.pack}.idx"
seed offsets-64
git -c pack.compression=0 repack -q -a -d -F --depth=0
seed no-deltas
echo "corpus: $(ls "$here/corpus/event" | wc -l) events, $(ls "$here/corpus/state" | wc -l) state inputs, $(ls "$here/corpus/odb" | wc -l) object inputs, $(ls "$here/corpus/index" | wc -l) packs"

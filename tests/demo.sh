#!/bin/sh
# `make demo`: the main job on the default registry (data/model_registry):
# register a few models, promote one to production, show the result.
set -e
MREG=${1:-build/mreg}
dir=${MREG_DIR:-data/model_registry}
work=$(mktemp -d "${TMPDIR:-/tmp}/mreg-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ ! -d "$dir/.git" ]; then
	"$MREG" -C "$dir" init
fi
git -C "$dir" config mreg.actor "${USER:-demo}@demo" 2>/dev/null || true

# three training runs of square8_2p and a CMA-ES heuristic
for i in 1 2 3; do
	head -c 4096 /dev/urandom >"$work/square8_2p_v$i.pt"
	"$MREG" -C "$dir" register square8_2p "$work/square8_2p_v$i.pt" \
		--description "RingRift square8 2-player policy/value net" \
		--metric elo=$((1480 + 25 * i)) --metric win_rate=0.5$i --metric games_played=$((80 * i)) \
		--config learning_rate=0.001 --config batch_size=256 --tag demo --tag run$i
done
printf '{"weights": {"material": 1.0, "mobility": 0.35, "center": 0.2}}\n' >"$work/weights.json"
"$MREG" -C "$dir" cmaes register "$work/weights.json" --board square8 --players 2 --fitness 0.75 \
	--generation 40 --games-per-eval 20 --population-size 16 --sigma 0.5

latest=$("$MREG" -C "$dir" --json show square8_2p | sed -n 's/^  "version": \([0-9]*\),$/\1/p')
"$MREG" -C "$dir" promote "square8_2p:$latest" --to staging -r "passed dev tests"
"$MREG" -C "$dir" promote "square8_2p:$latest" --to production -r "passed evaluation"

echo
echo "== mreg list"
"$MREG" -C "$dir" list
echo
echo "== mreg show square8_2p:$latest"
"$MREG" -C "$dir" show "square8_2p:$latest"
echo
echo "== state/production.json (what an inference server reads)"
sed -n '1,12p' "$dir/state/production.json"
echo "   ..."
echo
echo "== mreg rollback check square8_2p (nothing archived yet: nothing to roll back to)"
"$MREG" -C "$dir" rollback check square8_2p
echo
echo "== mreg backup create (a git bundle beside the registry)"
"$MREG" -C "$dir" backup create -r demo
echo
echo "== git log --oneline (the registry's history)"
git -C "$dir" log --oneline | head -8

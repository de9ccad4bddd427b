#!/bin/sh
# CMA-ES: the original's cmaes_registry_integration tests, through `mreg cmaes`.
# Registration (ids, name, tags, metrics, Elo from fitness, training config and
# the run's settings in extra_config), auto-promotion to staging, best model,
# weights, runs, and refused input leaving the registry byte-for-byte as it was.
. "$(dirname "$0")/lib.sh"

# sv REG REF: `show --json` of a version into $T/v.json; f JQ: a field of it, compact
sv() {
	"$MREG" -C "$1" show "$2" --json >"$T/v.json" 2>&1 || echo '{"error": "show failed"}' >"$T/v.json"
}
f() {
	jq -c "$1" "$T/v.json"
}

# q REG REF JQ: one field of `show --json`, compact
q() {
	"$MREG" -C "$1" show "$2" --json | jq -c "$3"
}

# weights FILE MATERIAL POSITION: a weights file as the CMA-ES runner writes it
weights() {
	printf '{"weights": {"material": %s, "position": %s}, "fitness": 0.5, "generation": 10}\n' "$2" "$3" >"$1"
}

# the original's TrainingConfig defaults, but for what register_cmaes_result sets
cfg_rest='{"architecture":"resnet","augmentation_enabled":true,"batch_size":256,"curriculum_stage":null,"learning_rate":0.001,"num_filters":128,"num_residual_blocks":10,"parent_model_id":null,"training_data_hash":null}'

weights w.json 1.5 0.8

# ---- register: ids, metrics, tags, config ---------------------------------
# test_register_cmaes_result: fitness 0.85, generation 50, auto_promote=False
R=reg
new_registry_full $R
check "register fitness 0.85 gen 50" "$MREG" -C $R cmaes register w.json --board square8 --players 2 \
	--fitness 0.85 --generation 50 --no-auto-promote
expect_eq "output names the version" "$(cat "$T/.out")" "Registered heuristic_square8_2p:1 (development)"
S=heuristic_square8_2p:1
sv $R $S
expect_eq "id and version" "$(f '[.model_id, .version]')" '["heuristic_square8_2p",1]'
expect_eq "model_type heuristic" "$(f .model_type)" '"heuristic"'
expect_eq "stage development" "$(f .stage)" '"development"'
expect_eq "name" "$(f .name)" '"CMA-ES Heuristic (square8_2p)"'
expect_eq "description" "$(f .description)" '"CMA-ES optimized heuristic weights for square8_2p, fitness=0.8500"'
expect_eq "win_rate = fitness" "$(f .metrics.win_rate)" 0.85
expect_eq "elo = -400 log10(1/0.85 - 1) = 301.3" "$(f '.metrics.elo*10|round')" 3013
expect_eq "games_played 0 without a run config" "$(f .metrics.games_played)" 0
expect_eq "other metrics null" "$(f '[.metrics.elo_uncertainty, .metrics.draw_rate, .metrics.avg_move_time_ms, .metrics.policy_accuracy, .metrics.value_mse]')" \
	'[null,null,null,null,null]'
expect_eq "tags (sorted)" "$(f .tags)" '["board:square8","cmaes","generation:50","players:2"]'
expect_eq "training_config optimizer cmaes" "$(f .training_config.optimizer)" '"cmaes"'
expect_eq "training_config epochs = generation" "$(f .training_config.epochs)" 50
expect_eq "other training_config fields keep the original's defaults" \
	"$(f '.training_config | del(.extra_config, .optimizer, .epochs)' | jq -S -c .)" "$cfg_rest"
expect_eq "extra_config without a run config: exactly the five keys" \
	"$(f .training_config.extra_config | jq -S -c .)" \
	'{"board_type":"square8","final_fitness":0.85,"final_generation":50,"num_players":2,"optimizer_type":"cmaes"}'
expect_eq "heuristic: no validation" "$(f .validation)" null
expect_eq "history: one initial row" "$("$MREG" -C $R history $S --json | jq -c 'map([.from_stage, .to_stage, .reason])')" \
	'[[null,"development","Initial registration"]]'
expect_eq "the weights file is stored as it was" \
	"$(cat "$R/$(jq -r .file_path "$T/v.json")")" "$(cat w.json)"

# test_register_with_config: the run's settings as options, generation 100
check "register with the run's config as options" "$MREG" -C $R cmaes register w.json --board square8 --players 2 \
	--fitness 0.85 --generation 100 --population-size 30 --sigma 0.3 --games-per-eval 20 \
	--opponent-mode mixed --run-id test_run --no-auto-promote
want_extra='{"board_type":"square8","cmaes_eval_mode":null,"cmaes_games_per_eval":20,"cmaes_generations":null,"cmaes_opponent_mode":"mixed","cmaes_population_size":30,"cmaes_run_id":"test_run","cmaes_sigma":0.3,"final_fitness":0.85,"final_generation":100,"num_players":2,"optimizer_type":"cmaes"}'
S=heuristic_square8_2p:2
sv $R $S
expect_eq "v2 of the same model" "$(f .version)" 2
expect_eq "extra_config: cmaes_* from the options, absent ones null" \
	"$(f .training_config.extra_config | jq -S -c .)" "$want_extra"
expect_eq "cmaes_population_size 30" "$(f .training_config.extra_config.cmaes_population_size)" 30
expect_eq "cmaes_sigma 0.3" "$(f .training_config.extra_config.cmaes_sigma)" 0.3
expect_eq "cmaes_games_per_eval 20" "$(f .training_config.extra_config.cmaes_games_per_eval)" 20
expect_eq "final_generation 100" "$(f .training_config.extra_config.final_generation)" 100
expect_eq "games_played = games_per_eval * generation = 2000" "$(f .metrics.games_played)" 2000
expect_eq "epochs 100" "$(f .training_config.epochs)" 100
expect_eq "tags name generation 100" "$(f .tags)" '["board:square8","cmaes","generation:100","players:2"]'

# the same config as --config-file
printf '{"population_size": 30, "sigma": 0.3, "games_per_eval": 20, "opponent_mode": "mixed", "run_id": "test_run"}\n' >run.json
check "register with the run's config as --config-file" "$MREG" -C $R cmaes register w.json --board square8 --players 2 \
	--fitness 0.85 --generation 100 --config-file run.json --no-auto-promote
S=heuristic_square8_2p:3
sv $R $S
expect_eq "--config-file: the same extra_config" "$(f .training_config.extra_config | jq -S -c .)" "$want_extra"
expect_eq "--config-file: games_played 2000" "$(f .metrics.games_played)" 2000
expect_eq "--config-file: same training_config as the options" \
	"$(f .training_config)" "$(q $R heuristic_square8_2p:2 .training_config)"

# a full CMAESRunConfig.to_dict(): generations and eval_mode too; other keys are not copied
printf '{"population_size": 16, "sigma": 0.5, "generations": 40, "games_per_eval": 8, "board_type": "hex8", "num_players": 3, "opponent_mode": "baseline-only", "eval_mode": "sequential", "seed": 42, "run_id": null}\n' >full.json
check "register hex8 3p with a full run config" "$MREG" -C $R cmaes register w.json --board hex8 --players 3 \
	--fitness 0.6 --generation 25 --config-file full.json --no-auto-promote
S=heuristic_hex8_3p:1
sv $R $S
expect_eq "hex8 3p: id, name" "$(f '[.model_id, .name]')" '["heuristic_hex8_3p","CMA-ES Heuristic (hex8_3p)"]'
expect_eq "hex8 3p: tags" "$(f .tags)" '["board:hex8","cmaes","generation:25","players:3"]'
expect_eq "hex8 3p: extra_config has the seven cmaes_* keys and no seed" \
	"$(f .training_config.extra_config | jq -S -c .)" \
	'{"board_type":"hex8","cmaes_eval_mode":"sequential","cmaes_games_per_eval":8,"cmaes_generations":40,"cmaes_opponent_mode":"baseline-only","cmaes_population_size":16,"cmaes_run_id":null,"cmaes_sigma":0.5,"final_fitness":0.6,"final_generation":25,"num_players":3,"optimizer_type":"cmaes"}'
expect_eq "hex8 3p: games_played 8 * 25" "$(f .metrics.games_played)" 200

# Elo from fitness: only for 0.01 < fitness < 0.99
check "register fitness 0.75" "$MREG" -C $R cmaes register w.json --board square19 --players 2 \
	--fitness 0.75 --generation 1 --no-auto-promote
expect_eq "fitness 0.75: elo 190.85" "$(q $R heuristic_square19_2p:1 '.metrics.elo*100|round')" 19085
check "register fitness 0.995" "$MREG" -C $R cmaes register w.json --board square19 --players 2 \
	--fitness 0.995 --generation 1 --no-auto-promote
expect_eq "fitness 0.995: elo null, win_rate kept" "$(q $R heuristic_square19_2p:2 '[.metrics.elo, .metrics.win_rate]')" '[null,0.995]'
check "register fitness 0.005" "$MREG" -C $R cmaes register w.json --board square19 --players 2 \
	--fitness 0.005 --generation 1 --no-auto-promote
expect_eq "fitness 0.005: elo null, win_rate kept" "$(q $R heuristic_square19_2p:3 '[.metrics.elo, .metrics.win_rate]')" '[null,0.005]'
check "registry consistent after registrations" "$MREG" -C $R fsck

# ---- auto-promotion --------------------------------------------------------
A=auto
new_registry_full $A
stage() { q $A "$1" .stage; }
check "0.60 with --no-auto-promote" "$MREG" -C $A cmaes register w.json --board square8 --players 2 \
	--fitness 0.60 --generation 10 --no-auto-promote
expect_eq "0.60 --no-auto-promote: development" "$(stage heuristic_square8_2p:1)" '"development"'
check "0.75 with auto-promote and --min-improvement 0.05" "$MREG" -C $A cmaes register w.json --board square8 --players 2 \
	--fitness 0.75 --generation 20 --min-improvement 0.05
expect_eq "0.75 > 0.60 + 0.05: staging" "$(stage heuristic_square8_2p:2)" '"staging"'
expect_eq "output says staging" "$(cat "$T/.out")" "Registered heuristic_square8_2p:2 (staging)"
expect_eq "history: last row is the promotion with the original's reason" \
	"$("$MREG" -C $A history heuristic_square8_2p:2 --json | jq -c '.[-1] | [.from_stage, .to_stage, .reason]')" \
	'["development","staging","Fitness improved from 0.6000 to 0.7500"]'
expect_eq "history: two rows" "$("$MREG" -C $A history heuristic_square8_2p:2 --json | jq length)" 2
check "0.70 (not better than 0.75)" "$MREG" -C $A cmaes register w.json --board square8 --players 2 \
	--fitness 0.70 --generation 30
expect_eq "0.70: stays development" "$(stage heuristic_square8_2p:3)" '"development"'
expect_eq "0.75 still staging" "$(stage heuristic_square8_2p:2)" '"staging"'
check "0.76 (better, but not by the default 0.02)" "$MREG" -C $A cmaes register w.json --board square8 --players 2 \
	--fitness 0.76 --generation 40
expect_eq "0.76: stays development" "$(stage heuristic_square8_2p:4)" '"development"'
check "0.95 with --no-auto-promote" "$MREG" -C $A cmaes register w.json --board square8 --players 2 \
	--fitness 0.95 --generation 50 --no-auto-promote
expect_eq "--no-auto-promote never promotes" "$(stage heuristic_square8_2p:5)" '"development"'
check "0.96 (an unpromoted 0.95 still counts as the best)" "$MREG" -C $A cmaes register w.json --board square8 --players 2 \
	--fitness 0.96 --generation 60
expect_eq "0.96 < 0.95 + 0.02: development" "$(stage heuristic_square8_2p:6)" '"development"'
check "hex8 3p first registration, 0.70" "$MREG" -C $A cmaes register w.json --board hex8 --players 3 \
	--fitness 0.70 --generation 25
expect_eq "first registration: staging (best so far 0.0)" "$(stage heuristic_hex8_3p:1)" '"staging"'
expect_eq "first registration: reason from 0.0000" \
	"$("$MREG" -C $A history heuristic_hex8_3p:1 --json | jq -r '.[-1].reason')" "Fitness improved from 0.0000 to 0.7000"
expect_eq "other models' fitness does not count" "$(stage heuristic_square8_2p:1)" '"development"'
check "auto registry consistent" "$MREG" -C $A fsck

# ---- best and weights --------------------------------------------------------
# test_get_best_heuristic_model: fitnesses 0.60, 0.75, 0.70 (default auto-promote:
# 0.60 and 0.75 go to staging, 0.70 stays in development)
B=best
new_registry_full $B
weights w1.json 1.0 0.5
printf '{"weights": {"material": 2.0, "position": 0.1, "mobility": 0.3}}\n' >w2.json
weights w3.json 1.5 0.8
check "best: register 0.60" "$MREG" -C $B cmaes register w1.json --board square8 --players 2 --fitness 0.60 --generation 10
check "best: register 0.75" "$MREG" -C $B cmaes register w2.json --board square8 --players 2 --fitness 0.75 --generation 20
check "best: register 0.70" "$MREG" -C $B cmaes register w3.json --board square8 --players 2 --fitness 0.70 --generation 30
expect_eq "stages after auto-promotion" \
	"$("$MREG" -C $B list --json | jq -c 'sort_by(.version) | map(.stage)')" '["staging","staging","development"]'
check "cmaes best --json" "$MREG" -C $B cmaes best --board square8 --players 2 --json
expect_eq "best: win_rate 0.75" "$(jq -c .metrics.win_rate "$T/.out")" 0.75
expect_eq "best: its version" "$(jq -c '[.model_id, .version, .stage]' "$T/.out")" '["heuristic_square8_2p",2,"staging"]'
check "cmaes best (text)" "$MREG" -C $B cmaes best --board square8 --players 2
expect_eq "best (text) names the version" "$(grep -c 'heuristic_square8_2p:2' "$T/.out")" 1
check "cmaes best --stage development" "$MREG" -C $B cmaes best --board square8 --players 2 --stage development --json
expect_eq "best in development: 0.70, v3" "$(jq -c '[.version, .metrics.win_rate, .stage]' "$T/.out")" '[3,0.7,"development"]'
check "cmaes best --stage staging" "$MREG" -C $B cmaes best --board square8 --players 2 --stage staging --json
expect_eq "best in staging: 0.75, v2" "$(jq -c '[.version, .metrics.win_rate]' "$T/.out")" '[2,0.75]'
expect_fail "best: unknown board" 1 "square9" "$MREG" -C $B cmaes best --board square9 --players 2
expect_fail "best: unknown number of players" 1 "heuristic_square8_4p" "$MREG" -C $B cmaes best --board square8 --players 4
expect_fail "best: nothing in production" 1 "production" "$MREG" -C $B cmaes best --board square8 --players 2 --stage production

# test_load_heuristic_weights: weights of the best version in a stage
check "cmaes weights --stage development" "$MREG" -C $B cmaes weights --board square8 --players 2 --stage development
expect_eq "weights (development): v3's weights object" "$(jq -S -c . "$T/.out")" "$(jq -S -c .weights w3.json)"
expect_eq "weights (development): material 1.5, position 0.8" "$(jq -c '[.material, .position]' "$T/.out")" '[1.5,0.8]'
check "cmaes weights --stage staging" "$MREG" -C $B cmaes weights --board square8 --players 2 --stage staging
expect_eq "weights (staging): v2's weights object" "$(jq -S -c . "$T/.out")" "$(jq -S -c .weights w2.json)"
expect_fail "weights: default stage production, nothing in production" 1 "production" \
	"$MREG" -C $B cmaes weights --board square8 --players 2
expect_fail "weights: unknown board" 1 "hex8" "$MREG" -C $B cmaes weights --board hex8 --players 2 --stage development
check "promote v2 to production" "$MREG" -C $B promote heuristic_square8_2p:2 --to production
check "cmaes weights (production)" "$MREG" -C $B cmaes weights --board square8 --players 2
expect_eq "weights (production): v2's weights object" "$(jq -S -c . "$T/.out")" "$(jq -S -c .weights w2.json)"
check "cmaes best --stage production" "$MREG" -C $B cmaes best --board square8 --players 2 --stage production --json
expect_eq "best in production: v2" "$(jq -c .version "$T/.out")" 2

# ---- refused input: exit code, one line on stderr, registry unchanged --------
printf '{"weights": {"material": 1.5,' >broken.json
printf '[1, 2]\n' >array.json
run() { "$MREG" -C $B cmaes register "$@"; }
bad "missing weights file" 1 "weights file not found.*nope\.json" $B \
	run nope.json --board square8 --players 2 --fitness 0.9 --generation 5
bad "weights file not JSON" 1 "broken\.json" $B \
	run broken.json --board square8 --players 2 --fitness 0.9 --generation 5
bad "--fitness 1.5" 2 "fitness.*1\.5" $B \
	run w1.json --board square8 --players 2 --fitness 1.5 --generation 5
bad "--fitness abc" 2 "fitness.*abc" $B \
	run w1.json --board square8 --players 2 --fitness abc --generation 5
bad "--fitness -0.1" 2 "fitness.*-0\.1" $B \
	run w1.json --board square8 --players 2 --fitness -0.1 --generation 5
bad "--players 1" 2 "players.*'1'" $B \
	run w1.json --board square8 --players 1 --fitness 0.9 --generation 5
bad "--players 9" 2 "players.*'9'" $B \
	run w1.json --board square8 --players 9 --fitness 0.9 --generation 5
bad "board with a space" 1 "invalid board 'square 8'" $B \
	run w1.json --board 'square 8' --players 2 --fitness 0.9 --generation 5
bad "board with uppercase" 1 "invalid board 'Square8'" $B \
	run w1.json --board Square8 --players 2 --fitness 0.9 --generation 5
bad "--config-file a JSON array" 1 "config file 'array\.json'" $B \
	run w1.json --board square8 --players 2 --fitness 0.9 --generation 5 --config-file array.json
bad "--config-file not JSON" 1 "config file 'broken\.json'" $B \
	run w1.json --board square8 --players 2 --fitness 0.9 --generation 5 --config-file broken.json
bad "--config-file missing" 1 "config file 'gone\.json'" $B \
	run w1.json --board square8 --players 2 --fitness 0.9 --generation 5 --config-file gone.json
bad "missing --board" 2 "board" $B \
	run w1.json --players 2 --fitness 0.9 --generation 5
bad "missing --fitness" 2 "fitness" $B \
	run w1.json --board square8 --players 2 --generation 5
bad "weights without --players" 2 "players" $B \
	"$MREG" -C $B cmaes weights --board square8

# ---- runs ------------------------------------------------------------------
# test_list_cmaes_runs: 5 runs, limit 3; one run each for square8 and hex8
U=runs
new_registry_full $U
for cfg in square8:2 hex8:3 square19:2 hexagonal:2 square19:4; do
	check "runs: register ${cfg%:*} ${cfg#*:}p" "$MREG" -C $U cmaes register w.json --board "${cfg%:*}" \
		--players "${cfg#*:}" --fitness 0.6 --generation 10 --no-auto-promote
done
model_file other.bin 500
check "runs: a policy_value model besides" "$MREG" -C $U register other other.bin
expect_eq "runs: all 5" "$("$MREG" -C $U cmaes runs --json | jq length)" 5
expect_eq "runs --limit 3" "$("$MREG" -C $U cmaes runs --limit 3 --json | jq length)" 3
expect_eq "runs: newest first" "$("$MREG" -C $U cmaes runs --json | jq -c 'map(.model_id)')" \
	'["heuristic_square19_4p","heuristic_hexagonal_2p","heuristic_square19_2p","heuristic_hex8_3p","heuristic_square8_2p"]'
expect_eq "runs --limit 3: the 3 newest" "$("$MREG" -C $U cmaes runs --limit 3 --json | jq -c 'map(.model_id)')" \
	'["heuristic_square19_4p","heuristic_hexagonal_2p","heuristic_square19_2p"]'
expect_eq "runs --board square8: 1" "$("$MREG" -C $U cmaes runs --board square8 --json | jq -c 'map(.model_id)')" \
	'["heuristic_square8_2p"]'
expect_eq "runs --board hex8: 1 (not hexagonal)" "$("$MREG" -C $U cmaes runs --board hex8 --json | jq -c 'map(.model_id)')" \
	'["heuristic_hex8_3p"]'
expect_eq "runs --players 2" "$("$MREG" -C $U cmaes runs --players 2 --json | jq -c 'map(.model_id)')" \
	'["heuristic_hexagonal_2p","heuristic_square19_2p","heuristic_square8_2p"]'
expect_eq "runs --board square19 --players 4" \
	"$("$MREG" -C $U cmaes runs --board square19 --players 4 --json | jq -c 'map(.model_id)')" '["heuristic_square19_4p"]'
expect_eq "runs --board nosuch: none" "$("$MREG" -C $U cmaes runs --board nosuch --json | jq length)" 0
expect_eq "runs rows are version objects" "$("$MREG" -C $U cmaes runs --limit 1 --json | jq -c '.[0] | [.version, .model_type, .stage, .metrics.win_rate]')" \
	'[1,"heuristic","development",0.6]'
check "runs: promote the oldest run" "$MREG" -C $U promote heuristic_square8_2p:1 --to staging
expect_eq "runs: newest update first" "$("$MREG" -C $U cmaes runs --limit 2 --json | jq -c 'map(.model_id)')" \
	'["heuristic_square8_2p","heuristic_square19_4p"]'

# ---- git: one commit per event, clean work tree, fsck ---------------------------
for r in $R $A $B $U; do
	"$MREG" -C $r log --json >"$T/log.json"
	nev=$(jq length "$T/log.json")
	nreg=$(jq '[.[] | select(.type == "version.registered")] | length' "$T/log.json")
	npro=$(jq '[.[] | select(.type == "version.promoted")] | length' "$T/log.json")
	expect_eq "$r: git log --oneline: one line per event + init" "$(git -C $r log --oneline | wc -l | tr -d ' ')" $((nev + 1))
	expect_eq "$r: a register line per registration" "$(git -C $r log --format=%s | grep -c '^register ')" "$nreg"
	expect_eq "$r: a promote line per promotion" "$(git -C $r log --format=%s | grep -c '^promote ')" "$npro"
	expect_eq "$r: git status clean" "$(tree_clean $r)" ""
	check "$r: mreg fsck" "$MREG" -C $r fsck
done
expect_eq "auto: 7 registrations, 2 auto-promotions" \
	"$(git -C $A log --format=%s | grep -c '^register heuristic_'),$(git -C $A log --format=%s | grep -c '^promote heuristic_.* development -> staging')" "7,2"
expect_eq "auto: the promotion line gives the reason" \
	"$(git -C $A log --format=%s | grep -c '^promote heuristic_square8_2p:2 development -> staging.*Fitness improved from 0\.6000 to 0\.7500')" 1
finish

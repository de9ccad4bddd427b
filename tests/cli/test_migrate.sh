#!/bin/sh
# Moving in from the original: export and import in its metadata format (files
# it wrote, testdata/original/), and `mreg migrate` of its SQLite registry,
# built here with its exact schema and rows as it writes them. The migrated
# state is checked against what the database itself says.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/bulk.sh"

# sv REG REF: `show --json` of a version into $T/v.json; f JQ: a field of it, compact
sv() {
	"$MREG" -C "$1" show "$2" --json >"$T/v.json" 2>&1 || echo '{"error": "show failed"}' >"$T/v.json"
}
f() {
	jq -c "$1" "$T/v.json"
}
# numbers as numbers (1500.0 and 1500 alike, whatever jq keeps of literals)
N='def n: walk(if type == "number" then . + 0 else . end);'

metric_keys='["elo","elo_uncertainty","win_rate","draw_rate","games_played","avg_move_time_ms","policy_accuracy","value_mse"]'
config_keys='["learning_rate","batch_size","epochs","optimizer","architecture","num_residual_blocks","num_filters","augmentation_enabled","curriculum_stage","parent_model_id","training_data_hash","extra_config"]'
export_keys='["model_id","version","name","model_type","stage","created_at","updated_at","file_path","file_hash","file_size_bytes","metrics","training_config","description","tags"]'

# ---- export, then import into another registry ------------------------------
# test_export_import: metrics (elo 1500), tags and extra config survive
R=reg
new_registry_full $R
model_file model.pt 3000
check "register with metrics, tags, config" "$MREG" -C $R register "Test Model" model.pt -d "exported model" \
	--metric elo=1500 --metric elo_uncertainty=25.5 --metric win_rate=0.55 --metric draw_rate=0.1 \
	--metric games_played=120 --metric avg_move_time_ms=12.5 --metric policy_accuracy=0.42 --metric value_mse=0.08 \
	--tag exp --tag best -c custom_param=value
mkdir out
check "export test_model:1" "$MREG" -C $R export test_model:1 -o out/exported_model.pt
check "export wrote the model file byte for byte" cmp model.pt out/exported_model.pt
E=out/exported_model.json
expect_eq "metadata: the original's keys in its order" "$(jq -c keys_unsorted $E)" "$export_keys"
expect_eq "metadata: all 8 metrics, in order" "$(jq -c '.metrics | keys_unsorted' $E)" "$metric_keys"
expect_eq "metadata: all 12 training_config keys, in order" "$(jq -c '.training_config | keys_unsorted' $E)" "$config_keys"
expect_eq "metadata: metric values" "$(jq -c "$N"'.metrics | n' $E)" \
	'{"elo":1500,"elo_uncertainty":25.5,"win_rate":0.55,"draw_rate":0.1,"games_played":120,"avg_move_time_ms":12.5,"policy_accuracy":0.42,"value_mse":0.08}'
expect_eq "metadata: id, version, name, type, stage" "$(jq -c '[.model_id, .version, .name, .model_type, .stage]' $E)" \
	'["test_model",1,"Test Model","policy_value","development"]'
expect_eq "metadata: tags, description, extra_config" "$(jq -c '[.tags, .description, .training_config.extra_config]' $E)" \
	'[["best","exp"],"exported model",{"custom_param":"value"}]'
sv $R test_model:1
expect_eq "metadata: file hash, size and times as show has them" \
	"$(jq -c '[.file_hash, .file_size_bytes, .created_at, .updated_at, .file_path]' $E)" \
	"$(f '[.file_hash, .file_size_bytes, .created_at, .updated_at, .file_path]')"
expect_eq "metadata: file_size_bytes is the file's" "$(jq .file_size_bytes $E)" "$(wc -c <model.pt | tr -d ' ')"

I=imp
new_registry_full $I
check "import into a new registry with --id imported_model" "$MREG" -C $I import out/exported_model.pt --id imported_model
sv $I imported_model:1
expect_eq "imported: imported_model:1 in development" "$(f '[.model_id, .version, .stage]')" '["imported_model",1,"development"]'
expect_eq "imported: elo 1500" "$(f "$N"'.metrics.elo | n')" 1500
expect_eq "imported: all metrics kept" "$(f "$N"'.metrics | n')" "$(jq -c "$N"'.metrics | n' $E)"
expect_eq "imported: same tags" "$(f .tags)" '["best","exp"]'
expect_eq "imported: extra_config.custom_param" "$(f .training_config.extra_config.custom_param)" '"value"'
expect_eq "imported: whole training_config kept" "$(f "$N"'.training_config | n')" "$(jq -c "$N"'.training_config | n' $E)"
expect_eq "imported: name, description and type from the metadata" "$(f '[.name, .description, .model_type]')" \
	'["Test Model","exported model","policy_value"]'
expect_eq "imported: same file" "$(f '[.file_hash, .file_size_bytes]')" "$(jq -c '[.file_hash, .file_size_bytes]' $E)"
expect_eq "imported: one history row" "$(f '.history | map([.from_stage, .to_stage, .reason])')" \
	'[[null,"development","Initial registration"]]'
expect_eq "imported policy_value in development: pending validation, as register makes" "$(f .validation.status)" '"pending"'
check "import again without --id" "$MREG" -C $I import out/exported_model.pt
sv $I test_model
expect_eq "without --id: id derived from the metadata's name" "$(f '[.model_id, .version, .name]')" '["test_model",1,"Test Model"]'

# a file without metadata beside it: the name is the file's stem
model_file My-Model.v2.pt 700
check "import a file without a .json beside it" "$MREG" -C $I import My-Model.v2.pt
sv $I my_modelv2
expect_eq "no metadata: name is the stem, id derived from it" "$(f '[.name, .model_id, .version, .stage, .model_type]')" \
	'["My-Model.v2","my_modelv2",1,"development","policy_value"]'
expect_eq "no metadata: no tags, default metrics" "$(f '[.tags, .metrics.elo, .metrics.games_played, .description]')" '[[],null,0,""]'
check "no metadata: file stored as it was" cmp My-Model.v2.pt "$I/$(jq -r .file_path "$T/v.json")"

bad "import --metadata missing.json" 1 "missing\.json" $I \
	"$MREG" -C $I import model.pt --metadata missing.json
printf '{"name": "x",' >broken.json
bad "import --metadata not JSON" 1 "broken\.json" $I \
	"$MREG" -C $I import model.pt --metadata broken.json
bad "import a missing model file" 1 "nosuch\.pt" $I \
	"$MREG" -C $I import nosuch.pt
bad "export of an unknown version" 1 "version not found: 'test_model:7'" $R \
	"$MREG" -C $R export test_model:7 -o out/v7.pt
expect_eq "export of an unknown version wrote nothing" "$(ls out/v7.* 2>/dev/null)" ""
bad "export of an unknown model" 1 "model not found: 'nosuch'" $R \
	"$MREG" -C $R export nosuch -o out/nosuch.pt
bad "export without -o" 2 "export needs -o" $R \
	"$MREG" -C $R export test_model:1

# ---- a file exported by the original ------------------------------------------
# testdata/original/exported_model.{pt,json}: its export of square8_2p:3 in production
mkdir fx
cp "$TESTDATA/original/exported_model.pt" "$TESTDATA/original/exported_model.json" fx/
X=fx/exported_model.json
expect_eq "fixture: file_hash is the file's sha256" "$(jq -r .file_hash $X)" "$(sha256sum <fx/exported_model.pt | cut -c1-64)"
expect_eq "fixture: file_size_bytes is the file's size" "$(jq .file_size_bytes $X)" "$(wc -c <fx/exported_model.pt | tr -d ' ')"
expect_eq "fixture: the original's keys" "$(jq -c keys_unsorted $X)" "$export_keys"
O=fromorig
new_registry_full $O
check "import the original's export" "$MREG" -C $O import fx/exported_model.pt
sv $O square8_2p
expect_eq "original's export: id square8_2p from its name, version 1" "$(f '[.model_id, .version, .name]')" \
	'["square8_2p",1,"square8_2p"]'
expect_eq "original's export: stage development (its production is ignored)" "$(f .stage)" '"development"'
expect_eq "original's export: metrics kept, nulls and all" "$(f "$N"'.metrics | n')" "$(jq -c "$N"'.metrics | n' $X)"
expect_eq "original's export: training_config kept" "$(f "$N"'.training_config | n')" "$(jq -c "$N"'.training_config | n' $X)"
expect_eq "original's export: tags kept" "$(f .tags)" '["prod-candidate"]'
expect_eq "original's export: description and type kept" "$(f '[.description, .model_type]')" \
	"$(jq -c '[.description, .model_type]' $X)"
expect_eq "original's export: size kept" "$(f .file_size_bytes)" 384
expect_eq "original's export: one history row (its history is not in an export)" "$(f '.history | length')" 1
check "export it again" "$MREG" -C $O export square8_2p:1 -o out/again.pt
check "exported again: the same bytes" cmp fx/exported_model.pt out/again.pt
expect_eq "exported again: the original's key order" "$(jq -c keys_unsorted out/again.json)" "$(jq -c keys_unsorted $X)"
expect_eq "exported again: same metrics, config, tags, description" \
	"$(jq -c "$N"'[.metrics, .training_config, .tags, .description, .name] | n' out/again.json)" \
	"$(jq -c "$N"'[.metrics, .training_config, .tags, .description, .name] | n' $X)"

# ---- migrate: the original's database -------------------------------------------

# orig_rows DIR: model files and rows as the original writes them (json.dumps of
# its dataclasses, naive local times, sha256 hashes). Three models:
#   square8_2p: v1 staging -> production, archived when v2 replaced it there;
#               v2 production, v3 development (validations passed, passed, queued)
#   hex8_3p: v1 development (validation pending), v2 rejected
#   heuristic_square8_2p: v1 auto-promoted to staging by the CMA-ES integration
# File paths: v1, v3 and the others relative to the original's working directory
# ("data/model_registry/models/..."), so found only as models/<id>/v<N> beside the
# database; square8_2p:2 absolute beside it; hex8_3p:1 absolute elsewhere.
orig_rows() {
	_d=$1
	mkdir -p "$_d/models/square8_2p" "$_d/models/hex8_3p" "$_d/models/heuristic_square8_2p" "$T/elsewhere"
	model_file "$_d/models/square8_2p/v1.pt" 1500
	model_file "$_d/models/square8_2p/v2.pt" 2500
	model_file "$_d/models/square8_2p/v3.pt" 1800
	model_file "$T/elsewhere/hex8_v1.pt" 900
	model_file "$_d/models/hex8_3p/v2.pt" 1100
	printf '{"weights": {"material": 1.5, "position": 0.8}}' >"$_d/models/heuristic_square8_2p/v1.json"
	_dflt='"learning_rate": 0.001, "batch_size": 256, "epochs": 100, "optimizer": "adam", "architecture": "resnet", "num_residual_blocks": 10, "num_filters": 128, "augmentation_enabled": true, "curriculum_stage": null, "parent_model_id": null, "training_data_hash": null'
	_nom='"elo": null, "elo_uncertainty": null, "win_rate": null, "draw_rate": null, "games_played": 0, "avg_move_time_ms": null, "policy_accuracy": null, "value_mse": null'
	# ver MODEL N FILE STORED_PATH STAGE METRICS CONFIG CREATED UPDATED
	ver() {
		_h=$(sha256sum <"$3" | cut -c1-64)
		_n=$(wc -c <"$3" | tr -d ' ')
		printf "INSERT INTO versions (model_id, version, stage, file_path, file_hash, file_size_bytes, metrics_json, training_config_json, created_at, updated_at) VALUES ('%s', %s, '%s', '%s', '%s', %s, '%s', '%s', '%s', '%s');\n" \
			"$1" "$2" "$5" "$4" "$_h" "$_n" "$6" "$7" "$8" "$9"
	}
	{
	echo "BEGIN;"
	cat <<'SQL'
INSERT INTO models VALUES ('square8_2p', 'square8_2p', 'Square 8x8, two players', 'policy_value', '2025-11-01T09:15:02.118734', '2025-11-01T09:15:02.118734');
INSERT INTO models VALUES ('hex8_3p', 'Hex8 3P', '', 'policy_value', '2025-11-04T16:40:11.905120', '2025-11-04T16:40:11.905120');
INSERT INTO models VALUES ('heuristic_square8_2p', 'CMA-ES Heuristic (square8_2p)', 'CMA-ES optimized heuristic weights for square8_2p, fitness=0.7000', 'heuristic', '2025-11-06T02:11:45.000321', '2025-11-06T02:11:45.000321');
SQL
	ver square8_2p 1 "$_d/models/square8_2p/v1.pt" data/model_registry/models/square8_2p/v1.pt archived \
		'{"elo": 1512.0, "elo_uncertainty": 35.5, "win_rate": 0.54, "draw_rate": 0.06, "games_played": 250, "avg_move_time_ms": null, "policy_accuracy": 0.41, "value_mse": 0.083}' \
		"{$_dflt, \"extra_config\": {}}" 2025-11-01T09:15:02.118734 2025-11-10T11:00:00.250001
	ver square8_2p 2 "$_d/models/square8_2p/v2.pt" "$_d/models/square8_2p/v2.pt" production \
		'{"elo": 1587.25, "elo_uncertainty": 28.0, "win_rate": 0.61, "draw_rate": null, "games_played": 400, "avg_move_time_ms": 12.5, "policy_accuracy": null, "value_mse": null}' \
		'{"learning_rate": 0.0005, "batch_size": 512, "epochs": 60, "optimizer": "adam", "architecture": "resnet", "num_residual_blocks": 12, "num_filters": 192, "augmentation_enabled": false, "curriculum_stage": "late", "parent_model_id": "square8_2p", "training_data_hash": "9f2c1e", "extra_config": {"custom_param": "value", "seed": 7}}' \
		2025-11-05T14:22:10.700200 2025-11-10T11:00:00.250344
	ver square8_2p 3 "$_d/models/square8_2p/v3.pt" data/model_registry/models/square8_2p/v3.pt development \
		"{$_nom}" "{$_dflt, \"extra_config\": {}}" 2025-11-12T07:45:00.000001 2025-11-12T07:45:00.000001
	ver hex8_3p 1 "$T/elsewhere/hex8_v1.pt" "$T/elsewhere/hex8_v1.pt" development \
		'{"elo": 1400.5, "elo_uncertainty": null, "win_rate": null, "draw_rate": null, "games_played": 30, "avg_move_time_ms": null, "policy_accuracy": null, "value_mse": null}' \
		"{$_dflt, \"extra_config\": {}}" 2025-11-04T16:40:11.905120 2025-11-04T16:40:11.905120
	ver hex8_3p 2 "$_d/models/hex8_3p/v2.pt" data/model_registry/models/hex8_3p/v2.pt rejected \
		"{$_nom}" "{$_dflt, \"extra_config\": {}}" 2025-11-07T19:02:03.333333 2025-11-09T09:09:09.090909
	ver heuristic_square8_2p 1 "$_d/models/heuristic_square8_2p/v1.json" data/model_registry/models/heuristic_square8_2p/v1.json staging \
		'{"elo": 147.19071411783776, "elo_uncertainty": null, "win_rate": 0.7, "draw_rate": null, "games_played": 2000, "avg_move_time_ms": null, "policy_accuracy": null, "value_mse": null}' \
		'{"learning_rate": 0.001, "batch_size": 256, "epochs": 100, "optimizer": "cmaes", "architecture": "resnet", "num_residual_blocks": 10, "num_filters": 128, "augmentation_enabled": true, "curriculum_stage": null, "parent_model_id": null, "training_data_hash": null, "extra_config": {"optimizer_type": "cmaes", "final_fitness": 0.7, "final_generation": 100, "board_type": "square8", "num_players": 2, "cmaes_population_size": 30, "cmaes_sigma": 0.3, "cmaes_generations": 100, "cmaes_games_per_eval": 20, "cmaes_opponent_mode": "baseline-only", "cmaes_eval_mode": "sequential", "cmaes_run_id": null}}' \
		2025-11-06T02:11:45.000321 2025-11-06T02:11:45.004870
	# transitions in the order the original inserts them: create_version's initial row,
	# promote's rows, and for a production promotion the old production archived first
	cat <<'SQL'
INSERT INTO tags (model_id, version, tag) VALUES ('square8_2p', 1, 'baseline'), ('square8_2p', 2, 'prod-candidate'), ('square8_2p', 2, 'best'),
 ('hex8_3p', 1, 'exp'), ('heuristic_square8_2p', 1, 'board:square8'), ('heuristic_square8_2p', 1, 'players:2'),
 ('heuristic_square8_2p', 1, 'generation:100'), ('heuristic_square8_2p', 1, 'cmaes');
INSERT INTO stage_transitions (model_id, version, from_stage, to_stage, reason, transitioned_by, transitioned_at) VALUES
 ('square8_2p', 1, NULL, 'development', 'Initial registration', NULL, '2025-11-01T09:15:02.118734'),
 ('square8_2p', 1, 'development', 'staging', 'Eval start', 'alice', '2025-11-02T08:00:00.000412'),
 ('square8_2p', 1, 'staging', 'production', 'Manual promotion via CLI', 'bob', '2025-11-03T12:30:45.500000'),
 ('hex8_3p', 1, NULL, 'development', 'Initial registration', NULL, '2025-11-04T16:40:11.905120'),
 ('square8_2p', 2, NULL, 'development', 'Initial registration', NULL, '2025-11-05T14:22:10.700200'),
 ('heuristic_square8_2p', 1, NULL, 'development', 'Initial registration', NULL, '2025-11-06T02:11:45.000321'),
 ('heuristic_square8_2p', 1, 'development', 'staging', 'Fitness improved from 0.0000 to 0.7000', 'cmaes_auto_promote', '2025-11-06T02:11:45.004870'),
 ('hex8_3p', 2, NULL, 'development', 'Initial registration', NULL, '2025-11-07T19:02:03.333333'),
 ('square8_2p', 2, 'development', 'staging', 'Passed gauntlet', 'alice', '2025-11-08T10:05:33.123456'),
 ('hex8_3p', 2, 'development', 'rejected', 'Failed gauntlet', NULL, '2025-11-09T09:09:09.090909'),
 ('square8_2p', 1, 'production', 'archived', 'Replaced by square8_2p:v2', 'carol', '2025-11-10T11:00:00.250001'),
 ('square8_2p', 2, 'staging', 'production', 'Manual promotion via CLI', 'carol', '2025-11-10T11:00:00.250344'),
 ('square8_2p', 3, NULL, 'development', 'Initial registration', NULL, '2025-11-12T07:45:00.000001');
INSERT INTO comparisons (model_a_id, model_a_version, model_b_id, model_b_version, games_played, model_a_wins, model_b_wins, draws, elo_diff, compared_at, notes) VALUES
 ('hex8_3p', 1, 'hex8_3p', 2, 20, 11, 8, 1, NULL, '2025-11-08T00:00:00.500000', ''),
 ('square8_2p', 2, 'square8_2p', 1, 100, 55, 40, 5, 30.0, '2025-11-09T15:00:00.000100', 'gauntlet');
INSERT INTO validations (model_id, version, status, work_id, baselines, games_per_matchup, results_json, started_at, completed_at, created_at, updated_at) VALUES
 ('square8_2p', 1, 'passed', 'w-101', NULL, 50, '{"vs_random": 0.98, "vs_heuristic": 0.71}', '2025-11-01T10:00:00.000001', '2025-11-01T11:30:00.000001', '2025-11-01T09:15:02.118734', '2025-11-01T11:30:00.000001'),
 ('hex8_3p', 1, 'pending', NULL, NULL, 50, NULL, NULL, NULL, '2025-11-04T16:40:11.905120', '2025-11-04T16:40:11.905120'),
 ('square8_2p', 2, 'passed', 'w-202', '["random", "heuristic"]', 100, '{"vs_random": 0.99}', '2025-11-06T08:00:00.000000', '2025-11-06T09:00:00.000000', '2025-11-05T14:22:10.700200', '2025-11-06T09:00:00.000000'),
 ('hex8_3p', 2, 'pending', NULL, NULL, 50, NULL, NULL, NULL, '2025-11-07T19:02:03.333333', '2025-11-07T19:02:03.333333'),
 ('square8_2p', 3, 'queued', 'w-303', NULL, 50, NULL, NULL, NULL, '2025-11-12T07:45:00.000001', '2025-11-12T08:00:00.000000');
COMMIT;
SQL
	} | sqlite3 "$_d/registry.db"
}

mkdir orig
orig_schema orig/registry.db
orig_rows "$T/orig"
DB=orig/registry.db
sql() { sqlite3 "$DB" "$@"; }
expect_eq "the original's database has its tables" \
	"$(sql "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name)")" \
	"comparisons models stage_transitions tags validations versions"
nmodels=$(sql "SELECT count(*) FROM models")
nversions=$(sql "SELECT count(*) FROM versions")
ntrans=$(sql "SELECT count(*) FROM stage_transitions WHERE from_stage IS NOT NULL")
ncomp=$(sql "SELECT count(*) FROM comparisons")
nval=$(sql "SELECT count(*) FROM validations")

M=mig
new_registry_full $M
model_file other.pt 800
check "a model of mreg's own in the target registry" "$MREG" -C $M register other other.pt --metric elo=1300

# refused: the registry stays as it was
cp -a orig miss
rm miss/models/square8_2p/v3.pt
bad "migrate: a version whose file is nowhere" 1 "'square8_2p:3'.*not found" $M \
	"$MREG" -C $M migrate miss/registry.db
sqlite3 other.db "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('hello');"
bad "migrate: a sqlite database that is not the original's" 1 "other\.db" $M \
	"$MREG" -C $M migrate other.db
printf 'not a database\n' >text.db
bad "migrate: a text file" 1 "text\.db" $M \
	"$MREG" -C $M migrate text.db
bad "migrate: a missing database" 1 "nowhere/registry\.db" $M \
	"$MREG" -C $M migrate nowhere/registry.db
mkdir empty
orig_schema empty/registry.db
bad "migrate: an original database with no versions" 1 "empty/registry\.db" $M \
	"$MREG" -C $M migrate empty/registry.db
bad "migrate without a path" 2 "migrate" $M \
	"$MREG" -C $M migrate

commits=$(git -C $M rev-list --count HEAD)
check "migrate orig/registry.db" "$MREG" -C $M migrate orig/registry.db
expect_eq "migrate reports the counts of the database" \
	"$(sed -n 's/^\(Migrated orig\/registry\.db: [^(]*\).*/\1/p' "$T/.out")" \
	"Migrated orig/registry.db: $nmodels models, $nversions versions, $ntrans transitions, $ncomp comparisons, $nval validations "
expect_eq "git log: one migration commit" "$(git -C $M rev-list --count HEAD)" $((commits + 1))
expect_eq "git log: the migration commit says what it moved" "$(git -C $M log -1 --format=%s)" \
	"migrate orig/registry.db: $nmodels models, $nversions versions, $ntrans transitions"
expect_eq "git status clean after migrate" "$(tree_clean $M)" ""
check "mreg fsck after migrate" "$MREG" -C $M fsck
"$MREG" -C $M log --json >"$T/log.json"
expect_eq "one registration event per version" \
	"$(jq '[.[] | select(.type == "version.registered" and .model != "other")] | length' "$T/log.json")" "$nversions"
expect_eq "one promotion event per later transition" \
	"$(jq '[.[] | select(.type == "version.promoted")] | length' "$T/log.json")" "$ntrans"
expect_eq "all versions listed, with mreg's own" "$("$MREG" -C $M list --json | jq length)" $((nversions + 1))
expect_eq "production: what the database says" "$("$MREG" -C $M list --stage production --json | jq -r '.[] | "\(.model_id):\(.version)"')" \
	"$(sql "SELECT model_id || ':' || version FROM versions WHERE stage = 'production'")"

# every version against its rows
for ref in $(sql "SELECT model_id || ':' || version FROM versions ORDER BY model_id, version"); do
	id=${ref%:*} n=${ref#*:}
	w="model_id = '$id' AND version = $n"
	sv $M "$ref"
	expect_eq "$ref: stage" "$(f .stage)" "\"$(sql "SELECT stage FROM versions WHERE $w")\""
	expect_eq "$ref: name, type, description" "$(f '[.name, .model_type, .description]')" \
		"$(sql -json "SELECT name, model_type, description FROM models WHERE model_id = '$id'" | jq -c '.[0] | [.name, .model_type, .description]')"
	expect_eq "$ref: metrics (the non-null ones)" "$(f "$N"'.metrics | with_entries(select(.value != null)) | n')" \
		"$(sql "SELECT metrics_json FROM versions WHERE $w" | jq -c "$N"'with_entries(select(.value != null)) | n')"
	expect_eq "$ref: no other metrics" "$(f '[.metrics[] | select(. != null)] | length')" \
		"$(sql "SELECT metrics_json FROM versions WHERE $w" | jq '[.[] | select(. != null)] | length')"
	expect_eq "$ref: training_config" "$(f "$N"'.training_config | n' | jq -S -c .)" \
		"$(sql "SELECT training_config_json FROM versions WHERE $w" | jq -S -c "$N"'n')"
	expect_eq "$ref: tags" "$(f '.tags | sort')" \
		"$(sql "SELECT tag FROM tags WHERE $w ORDER BY tag" | jq -R -s -c 'split("\n") | map(select(length > 0))')"
	expect_eq "$ref: created_at (read as UTC)" "$(f .created_at)" "\"$(sql "SELECT created_at FROM versions WHERE $w")Z\""
	expect_eq "$ref: file size" "$(f .file_size_bytes)" "$(sql "SELECT file_size_bytes FROM versions WHERE $w")"
	"$MREG" -C $M history "$ref" --json >"$T/h.json"
	expect_eq "$ref: history = stage_transitions in time order" \
		"$(jq -c 'map([.from_stage, .to_stage, .reason, .transitioned_by, .transitioned_at])' "$T/h.json")" \
		"$(sql -json "SELECT from_stage, to_stage, coalesce(reason, '') AS reason, coalesce(transitioned_by, 'system') AS transitioned_by, transitioned_at || 'Z' AS transitioned_at FROM stage_transitions WHERE $w ORDER BY transitioned_at, id" |
			jq -c 'map([.from_stage, .to_stage, .reason, .transitioned_by, .transitioned_at])')"
	status=$(sql "SELECT status FROM validations WHERE $w")
	expect_eq "$ref: validation status" "$(f '.validation.status')" "$([ -n "$status" ] && echo "\"$status\"" || echo null)"
	expect_eq "$ref: validation work_id" "$(f '.validation.work_id')" \
		"$(sql -json "SELECT work_id FROM validations WHERE $w" | jq -s -c '.[0][0].work_id')"
	expect_eq "$ref: comparisons it took part in" "$(f '.comparisons | length')" \
		"$(sql "SELECT count(*) FROM comparisons WHERE (model_a_id = '$id' AND model_a_version = $n) OR (model_b_id = '$id' AND model_b_version = $n)")"
	check "$ref: export" "$MREG" -C $M export "$ref" -o "out/$id-$n.bin"
	expect_eq "$ref: the file is the one the database hashed" "$(sha256sum <"out/$id-$n.bin" | cut -c1-64)" \
		"$(sql "SELECT file_hash FROM versions WHERE $w")"
done

# comparisons: counts and elo_diff as recorded, on A's side
sql -json "SELECT model_a_id, model_a_version, model_b_id, model_b_version, games_played, model_a_wins, model_b_wins, draws, elo_diff FROM comparisons ORDER BY id" |
	jq -c '.[]' >"$T/cmp.rows"
while read -r row; do
	a="$(echo "$row" | jq -r '"\(.model_a_id):\(.model_a_version)"')"
	b="$(echo "$row" | jq -r '"\(.model_b_id):v\(.model_b_version)"')"
	sv $M "$a"
	expect_eq "comparison $a vs $b: games, wins, draws, elo_diff" \
		"$(f "$N"'[.comparisons[] | select(.model_b == "'"$b"'") | [.games, .a_wins, .b_wins, .draws, .elo_diff]] | n')" \
		"$(echo "$row" | jq -c "$N"'[[.games_played, .model_a_wins, .model_b_wins, .draws, .elo_diff]] | n')"
done <"$T/cmp.rows"

# the production replacement, as the original recorded it
expect_eq "square8_2p:1 archived when v2 replaced it in production" \
	"$("$MREG" -C $M history square8_2p:1 --json | jq -c '.[-1] | [.from_stage, .to_stage, .reason, .transitioned_by]')" \
	'["production","archived","Replaced by square8_2p:v2","carol"]'
sv $M other
expect_eq "mreg's own model untouched" "$(f '[.version, .stage, .metrics.elo]')" '[1,"development",1300]'

# again: refused, nothing changes
bad "migrate the same database again" 1 "already" $M \
	"$MREG" -C $M migrate orig/registry.db
check "a migrated version moves on" "$MREG" -C $M promote square8_2p:3 --to staging -r "after migration"
expect_eq "its history goes on from the migrated one" \
	"$("$MREG" -C $M history square8_2p:3 --json | jq -c 'map(.to_stage)')" '["development","staging"]'
expect_eq "git status clean at the end" "$(tree_clean $M)" ""
check "mreg fsck at the end" "$MREG" -C $M fsck
finish

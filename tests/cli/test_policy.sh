#!/bin/sh
# mreg.json, the policy every node shares, is read strictly: every key is
# known with its type and range, and a misspelt key, a value of the wrong
# type or out of range, a repeated key or a format newer than this mreg
# reads is refused by every command that needs the policy (exit 1, one
# line naming the key and the registry, nothing written). The bad files are
# committed with stock git, as a peer would push them.
. "$(dirname "$0")/lib.sh"

R=reg
new_registry_full $R
model_file m1.bin
model_file m2.bin
check "register m:1" "$MREG" -C $R register m m1.bin --metric elo=1500 --metric games_played=100
check "register m:2" "$MREG" -C $R register m m2.bin --metric elo=1400 --metric games_played=100
check "m:1 to staging" "$MREG" -C $R promote m:1 --to staging
check "m:1 to production" "$MREG" -C $R promote m:1 --to production
check "m:2 to staging" "$MREG" -C $R promote m:2 --to staging
check "m:2 to production (m:1 archived)" "$MREG" -C $R promote m:2 --to production
base=$(git -C $R rev-parse HEAD)

# commit_policy DESC JSON: mreg.json replaced by JSON and committed with stock git
commit_policy() {
	git -C $R reset -q --hard "$base"
	printf '%s\n' "$2" >$R/mreg.json
	git -C $R commit -qm "$1" mreg.json
	"$MREG" -C $R status >/dev/null 2>&1	# the state follows HEAD before the snapshot
}

valid='"format": 1, "artifact_max_bytes": 1048576'

commit_policy "misspelt threshold" "{$valid, \"rollback\": {\"elo_drop_treshold\": 30}}"
bad "rollback check refuses a misspelt rollback key" 1 \
	"^mreg: invalid mreg\.json in '$R': unknown key 'rollback\.elo_drop_treshold'$" $R \
	"$MREG" -C $R rollback check m
bad "rollback --if-needed refuses it too" 1 "unknown key 'rollback\.elo_drop_treshold'" $R \
	"$MREG" -C $R rollback m --if-needed
check "reads that need no policy go on" "$MREG" -C $R list

commit_policy "misspelt group" "{$valid, \"auto_promot\": {\"min_games\": 10}}"
bad "auto-promote refuses an unknown top-level key" 1 \
	"^mreg: invalid mreg\.json in '$R': unknown key 'auto_promot'$" $R \
	"$MREG" -C $R auto-promote m:2

commit_policy "huge artifact limit" '{"format": 1, "artifact_max_bytes": 9223372036854775808}'
bad "artifact_max_bytes of 2^63 is refused" 1 \
	"^mreg: invalid mreg\.json in '$R': 'artifact_max_bytes' must be a whole number of bytes from 0 to 9007199254740992 \(2\^53\)$" $R \
	"$MREG" -C $R auto-promote m:2
commit_policy "negative artifact limit" '{"format": 1, "artifact_max_bytes": -1}'
bad "artifact_max_bytes of -1 is refused" 1 "'artifact_max_bytes' must be a whole number" $R \
	"$MREG" -C $R rollback check m

commit_policy "newer format" '{"format": 2, "rollback": {"elo_drop_threshold": 30}}'
bad "backup prune refuses a newer format as too new for this mreg" 1 \
	"^mreg: unsupported mreg\.json format 2 in '$R': this mreg is too old \(it reads format 1\)$" $R \
	"$MREG" -C $R backup prune
bad "backup auto refuses it too" 1 "unsupported mreg\.json format 2" $R \
	"$MREG" -C $R backup auto
commit_policy "format as a string" '{"format": "1"}'
bad "a format that is not a number is refused" 1 "'format' must be a whole number >= 1" $R \
	"$MREG" -C $R backup prune

commit_policy "threshold as a string" "{$valid, \"rollback\": {\"require_approval\": \"no\"}}"
bad "regression refuses a require_approval that is not a boolean" 1 \
	"^mreg: invalid mreg\.json in '$R': 'rollback\.require_approval' must be true or false$" $R \
	"$MREG" -C $R regression m --severity severe --elo-drop 40

commit_policy "repeated key" "{$valid, \"backup\": {\"max_backups\": 3, \"max_backups\": 30}}"
bad "a repeated key is refused" 1 "duplicate key 'backup\.max_backups'" $R \
	"$MREG" -C $R backup prune

commit_policy "group not an object" "{$valid, \"rollback\": 50}"
bad "a group that is not an object is refused" 1 "'rollback' must be an object" $R \
	"$MREG" -C $R rollback check m

commit_policy "fractional count" "{$valid, \"backup\": {\"max_backups\": 2.5}}"
bad "a fractional count is refused" 1 "'backup\.max_backups' must be a whole number from 1 to 1000000" $R \
	"$MREG" -C $R backup prune

commit_policy "not an object" '[1, 2]'
bad "an mreg.json that is not an object is refused" 1 "invalid mreg\.json in '$R': not a JSON object" $R \
	"$MREG" -C $R rollback check m

# a valid policy, every key given, is read and used
commit_policy "every key" '{
  "format": 1,
  "artifact_max_bytes": 0,
  "rollback": {"elo_drop_threshold": 20, "win_rate_drop_threshold": 0.2, "min_games_for_evaluation": 0,
               "require_approval": false},
  "auto_promote": {"min_elo_improvement": 5, "min_games": 10},
  "backup": {"max_backups": 3, "interval_hours": 1}
}'
check "baseline m from production" "$MREG" -C $R baseline set m --elo 1500 --games 100
expect_eq "rollback check uses the committed thresholds" \
	"$("$MREG" -C $R rollback check m --elo 1470 --games 100 2>&1)" \
	"Rollback needed: Elo dropped by 30 (threshold: 20.0)"
expect_eq "and the defaults where the registry's mreg.json is the default one" \
	"$(git -C $R reset -q --hard "$base" && "$MREG" -C $R baseline set m --elo 1500 --games 100 >/dev/null &&
		"$MREG" -C $R rollback check m --elo 1470 --games 200 2>&1)" \
	"No rollback: No rollback needed (Performance within acceptable range)"
check "fsck" "$MREG" -C $R fsck

# artifact_max_bytes decides where a model file goes: out of range is refused (it was
# cast to an integer with undefined behaviour, and every file went to the large-file store)
model_file m3.bin 3000
commit_policy "artifact_max_bytes 2^63" '{"format": 1, "artifact_max_bytes": 9223372036854775808}'
bad "register refuses artifact_max_bytes of 2^63" 1 "^mreg: invalid mreg\.json in '$R': .*artifact_max_bytes" $R \
	"$MREG" -C $R register m m3.bin
commit_policy "artifact_max_bytes -1" '{"format": 1, "artifact_max_bytes": -1}'
bad "register refuses a negative artifact_max_bytes" 1 "artifact_max_bytes" $R "$MREG" -C $R register m m3.bin
commit_policy "artifact_max_bytes 0" '{"format": 1, "artifact_max_bytes": 0}'
check "with artifact_max_bytes 0 every model file is large" "$MREG" -C $R register m m3.bin
p3=$("$MREG" -C $R --json show m | jq -r .file_path)
expect_eq "its tree entry is a Git LFS pointer" "$(git -C $R show "HEAD:$p3" | head -1)" "version https://git-lfs.github.com/spec/v1"
commit_policy "artifact_max_bytes 1 MiB" '{"format": 1, "artifact_max_bytes": 1048576}'
model_file m4.bin 3000
check "with 1 MiB a 3000-byte file is committed whole" "$MREG" -C $R register m m4.bin
p4=$("$MREG" -C $R --json show m | jq -r .file_path)
check "its tree entry is the file" sh -c "git -C $R show 'HEAD:$p4' | cmp -s - m4.bin"
finish

#!/bin/sh
# What mreg prints. With --json, stdout is one valid JSON document whatever
# the strings it echoes hold (quotes, backslashes, control characters,
# newlines): every document is checked with jq and the hostile string read
# back from it. For people, a zero never prints with a sign: a metric given
# as -0 shows as 0, 0.0 or 0.000, never -0.
. "$(dirname "$0")/lib.sh"

nl='
'
Q='a"b'				# a quote
BS='c\d'			# a backslash
NL="first${nl}second"		# a newline
CTL=$(printf 'x\001y\037z\177w\tv')	# control characters and a tab
HOSTILE="$Q $BS $NL $CTL"

# json DESC FIELD WANT CMD...: CMD succeeds, its stdout is valid JSON, jq FIELD of it is WANT
json() {
	_d=$1 _f=$2 _w=$3
	shift 3
	if ! "$@" >"$T/.json" 2>"$T/.err"; then
		fail "$_d (exit $?)"; sed 's/^/    # /' "$T/.err" | head -3; return
	fi
	if ! jq -e . "$T/.json" >/dev/null 2>&1; then
		fail "$_d: stdout is not valid JSON"; sed 's/^/    # /' "$T/.json" | head -5; return
	fi
	expect_eq "$_d" "$(jq -r "$_f" "$T/.json")" "$_w"
}

# ---- init echoes the directory it was given ----------------------------------
json "init --json of a directory with a quote" .path "$Q" "$MREG" --json init "$Q"
json "init --json of a directory with a backslash" .path "$BS" "$MREG" --json init "$BS"
json "init --json of a directory with a newline" .path "$NL" "$MREG" --json init "$NL"
json "init --json of a directory with control characters" .path "$CTL" "$MREG" --json init "$CTL"
check "a registry whose path needs escaping works" "$MREG" -C "$CTL" list
json "status --json: its path" .path "$CTL" "$MREG" -C "$CTL" --json status

# ---- the strings a user gives, back through every command that echoes them -----
R=reg
new_registry $R
# (an actor becomes a commit's author, where git allows no newline or '<')
ACTOR="$Q $BS"
git -C $R config mreg.actor "$ACTOR"
model_file m1.bin
model_file m2.bin
json "register --json: a hostile name" .name "$HOSTILE" \
	"$MREG" -C $R --json register "$HOSTILE" m1.bin --id m --description "$HOSTILE" -c "note=$HOSTILE" \
	--metric elo=1500 --metric games_played=100
expect_eq "register --json: the description" "$(jq -r .description "$T/.json")" "$HOSTILE"
expect_eq "register --json: the config value" "$(jq -r .training_config.extra_config.note "$T/.json")" "$HOSTILE"
json "show --json" .name "$HOSTILE" "$MREG" -C $R --json show m:1
json "list --json" '.[0].description' "$HOSTILE" "$MREG" -C $R --json list
json "promote --json with a hostile reason" '.history[-1].reason' "$HOSTILE" \
	"$MREG" -C $R --json promote m:1 --to staging -r "$HOSTILE"
json "history --json: the actor" '.[-1].transitioned_by' "$ACTOR" "$MREG" -C $R --json history m:1
json "log --json: the actor" '.[-1].actor' "$ACTOR" "$MREG" -C $R --json log
check "m:1 to production" "$MREG" -C $R promote m:1 --to production
check "register m:2" "$MREG" -C $R register m m2.bin --metric elo=1400 --metric games_played=100
check "m:2 to staging" "$MREG" -C $R promote m:2 --to staging
check "m:2 to production" "$MREG" -C $R promote m:2 --to production
json "compare --record --json: hostile notes" .notes "$HOSTILE" \
	"$MREG" -C $R --json compare m:1 m:2 --record --games 2 --a-wins 1 --b-wins 1 --draws 0 --notes "$HOSTILE"
json "compare --json" '.model_a.name' "$HOSTILE" "$MREG" -C $R --json compare m:1 m:2
json "validation queue --json: a hostile WORK_ID" .work_id "$HOSTILE" \
	"$MREG" -C $R --json validation m:2 queue "$HOSTILE"
json "baseline set --json" .set_by "$ACTOR" "$MREG" -C $R --json baseline set m --elo 1500 --games 100
json "rollback --if-needed --json, no rollback" .reason "No rollback needed" \
	"$MREG" -C $R --json rollback m --if-needed --games 200 --elo 1500
json "regression --json: a hostile reason waits" .reason "$HOSTILE" \
	"$MREG" -C $R --json regression m --severity severe --elo-drop 60 -r "$HOSTILE"
json "rollback pending --json" .m.reason "$HOSTILE" "$MREG" -C $R --json rollback pending
json "rollback clear --json" .model_id m "$MREG" -C $R --json rollback clear m -r "$HOSTILE"
json "rollback --json: hostile reason and trigger" .triggered_by "$HOSTILE" \
	"$MREG" -C $R --json rollback m -r "$HOSTILE" --trigger "$HOSTILE"
json "rollback history --json" '.[0].reason' "$HOSTILE" "$MREG" -C $R --json rollback history
json "rollback stats --json: the trigger as a key" ".by_trigger | keys[0]" "$HOSTILE" \
	"$MREG" -C $R --json rollback stats
json "dashboard --json" '.production[0].name' "$HOSTILE" "$MREG" -C $R --json dashboard
json "stats --json" '.production[0].description' "$HOSTILE" "$MREG" -C $R --json stats
mkdir "out$Q"
json "export --json: a hostile path" .path "out$Q/$BS.bin" "$MREG" -C $R --json export m:1 -o "out$Q/$BS.bin"
expect_eq "export --json: the metadata path" "$(jq -r .metadata "$T/.json")" "out$Q/$BS.json"
json "import --json" .model_id imported "$MREG" -C $R --json import "out$Q/$BS.bin" --id imported
json "backup create --json: a hostile reason" .reason "$HOSTILE" "$MREG" -C $R --json backup create -r "$HOSTILE"
json "backup list --json" '.[0].reason' "$HOSTILE" "$MREG" -C $R --json backup list
json "backup prune --json" .removed 0 "$MREG" -C $R --json backup prune
json "gc --json" '.bytes_after > 0' true "$MREG" -C $R --json gc
json "version --json" '.version | length > 0' true "$MREG" --json version
check "fsck" "$MREG" -C $R fsck

# ---- negative zero, for people ----------------------------------------------
Z=zero
new_registry $Z
model_file z1.bin
model_file z2.bin
check "register z:1 with metrics of -0" "$MREG" -C $Z register z z1.bin \
	--metric elo=-0 --metric win_rate=-0 --metric games_played=-0 --metric draw_rate=-0
check "list" "$MREG" -C $Z list
expect_eq "list prints the zeros without a sign" "$(awk 'NR == 2 {print $5, $6, $7}' "$T/.out")" "0.0 0.000 0"
check "show" "$MREG" -C $Z show z:1
expect_eq "show prints the metrics without a sign" "$(grep 'metrics:' "$T/.out" | tr -s ' ')" \
	" metrics: elo=0 win_rate=0 draw_rate=0 games_played=0"
check "z:1 to staging" "$MREG" -C $Z promote z:1 --to staging
check "z:1 to production" "$MREG" -C $Z promote z:1 --to production
check "dashboard" "$MREG" -C $Z dashboard
expect_eq "dashboard: the production Elo" "$(grep -c 'Elo: 0 ' "$T/.out") $(grep -c -- '-0' "$T/.out")" "1 0"
zev=$(cd $Z && git log --format= --name-only -1 HEAD~2 | grep '^events/')
git -C $Z show "HEAD:$zev" >"$T/zev.json"
expect_eq "the event stores 0, not -0" "$(grep -c -- ': -0' "$T/zev.json") $(jq -c .metrics "$T/zev.json")" \
	'0 {"elo":0,"win_rate":0,"draw_rate":0,"games_played":0}'
check "register z:2" "$MREG" -C $Z register z z2.bin --metric elo=-0 --metric games_played=-0
check "compare" "$MREG" -C $Z compare z:1 z:2
expect_eq "compare: games played without a sign" "$(grep 'Games Played' "$T/.out" | tr -s ' ')" " Games Played 0 0 "
expect_eq "auto-promote: the reason without a sign" "$("$MREG" -C $Z auto-promote z:2 2>&1)" \
	"Not promoted z:2 (development): Insufficient games (0 < 50)"
check "z:2 to staging" "$MREG" -C $Z promote z:2 --to staging
expect_eq "auto-promote from staging: an improvement of nothing" \
	"$("$MREG" -C $Z auto-promote z:2 --min-games 0 2>&1)" \
	"Not promoted z:2 (staging): Elo improvement insufficient (0.0 < 25.0)"
check "baseline set --elo -0 --games 0" "$MREG" -C $Z baseline set z --elo -0 --games 0 --win-rate -0
expect_eq "baseline show: the zeros without a sign" "$("$MREG" -C $Z baseline show z | sed 's/ (set .*//')" \
	"Baseline of z: elo 0, win rate 0, games 0"
check "archive z:2 (a rollback candidate)" "$MREG" -C $Z archive z:2
expect_eq "rollback check: games since the baseline without a sign" "$("$MREG" -C $Z rollback check z 2>&1)" \
	"No rollback: No rollback needed (Insufficient games (0))"
expect_eq "regression: an Elo drop of -0 is 0" \
	"$("$MREG" -C $Z regression z --severity moderate --elo-drop -0 2>&1)" \
	"No action for z: Moderate regression with elo_drop=0.0: monitoring, no rollback"
check "fsck" "$MREG" -C $Z fsck
finish

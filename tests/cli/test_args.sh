#!/bin/sh
# The command line's argument handling: one parser for every command, each
# option found by its name in the command's table (cmd/cli.c). Repeatable
# options are taken in the order given, the last value of any other option
# wins, "--" ends the options, a value that looks like an option is still a
# value, every option `mreg help CMD` lists is one CMD accepts, and a
# command line is checked whole before any file it names is read.
. "$(dirname "$0")/lib.sh"

R=reg
new_registry $R
model_file m1.bin
echo '{"elo": 2000, "games_played": 7}' >metrics.json
echo '{"optimizer": "adam"}' >config.json

# field REF JQ: one field of show --json
field() {
	"$MREG" -C $R --json show "$1" | jq -c "$2"
}

# ---- repeatable options: every value, in the order given ----------------------
check "register: --metric, --metrics-file, --metric" \
	"$MREG" -C $R register a m1.bin --metric elo=1500 --metrics-file metrics.json --metric games_played=9
expect_eq "the file wins over the --metric before it, the --metric after it over the file" \
	"$(field a:1 '[.metrics.elo, .metrics.games_played]')" "[2000,9]"
check "register: --metrics-file, then --metric" \
	"$MREG" -C $R register a m1.bin --metrics-file metrics.json --metric elo=1500
expect_eq "a --metric after the file wins" "$(field a:2 '[.metrics.elo, .metrics.games_played]')" "[1500,7]"
check "register: -c, then --config-file" "$MREG" -C $R register a m1.bin -c optimizer=sgd --config-file config.json
expect_eq "the config file after -c wins" "$(field a:3 .training_config.optimizer)" '"adam"'
check "register: --config-file, then -c" "$MREG" -C $R register a m1.bin --config-file config.json -c optimizer=sgd
expect_eq "a -c after the config file wins" "$(field a:4 .training_config.optimizer)" '"sgd"'
check "register: --tag three times, in each form" "$MREG" -C $R register a m1.bin --tag b --tag=c --tag a
expect_eq "every --tag is kept" "$(field a:5 '.tags | sort')" '["a","b","c"]'

# ---- the last value of any other option wins ------------------------------------
check "register --id twice, -d and --description" \
	"$MREG" -C $R register "Some Name" m1.bin --id first --id second -d one --description=two
expect_eq "the last --id names the model" "$(cat "$T/.out")" "Registered second:1"
expect_eq "the last description is kept" "$(field second:1 .description)" '"two"'

# ---- values that look like options, and "--" ----------------------------------------
check "promote --to=staging -r -y: -y is the reason" "$MREG" -C $R promote a:1 --to=staging -r -y
expect_eq "the reason is '-y'" "$(field a:1 '.history[-1].reason')" '"-y"'
check "tag REF -- -x: after --, -x is a tag" "$MREG" -C $R tag a:1 -- -x
expect_eq "the tag is '-x'" "$(field a:1 '.tags | index("-x") != null')" "true"

# ---- every value of a checked option is checked ------------------------------------
bad "list: an unknown stage before a good one" 2 "unknown stage 'bogus'" $R \
	"$MREG" -C $R list --stage bogus --stage staging
bad "register: an unknown type before a good one" 2 "unknown model type 'bogus'" $R \
	"$MREG" -C $R register a m1.bin -t bogus -t heuristic

# ---- the command line is checked whole first ----------------------------------------
bad "an unknown option is refused before the file of an option before it is read" 2 \
	"^mreg: unknown option '--nope' for register " $R \
	"$MREG" -C $R register a m1.bin --metrics-file missing.json --nope
bad "an unknown option is refused before a bad --metric before it" 2 "^mreg: unknown option '--nope' for register " $R \
	"$MREG" -C $R register a m1.bin --metric elo=abc --nope
bad "a missing value is refused before a bad --config-file before it" 2 "^mreg: option '--tag' needs a value" $R \
	"$MREG" -C $R register a m1.bin --config-file missing.json --tag

# ---- help and the parser read the same table ---------------------------------------
# Each option `mreg help CMD` lists, long and short, given alone: whatever
# else is wrong with that command line, the option is not unknown.
cmds=$("$MREG" help | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p')
n=0 unknown=""
for c in $cmds; do
	"$MREG" help "$c" >"$T/help"
	for o in $(sed -n 's/^  \(-[a-z], \|    \)--\([a-z-]*\) .*/--\2/p' "$T/help") \
		$(sed -n 's/^  -\([a-z]\), .*/-\1/p' "$T/help"); do
		n=$((n + 1))
		"$MREG" -C $R "$c" "$o" >/dev/null 2>"$T/err"
		grep -q "unknown option" "$T/err" && unknown="$unknown $c:$o"
	done
done
expect_eq "every option of every command's help is an option of that command ($n)" "$unknown" ""
if [ "$n" -ge 60 ]; then ok "the help of the commands lists $n options"; else fail "at least 60 options in the commands' help ($n)"; fi
finish

#!/bin/sh
# The writer enforces the parser's limits, before writing. Every value a
# command is given that would make an event the parser refuses (a string or
# key over 16384 bytes, nesting past 16 levels, an event over 1 MiB,
# invalid UTF-8) is refused with one line naming the problem and the
# subject, exit 1, and the registry exactly as it was. Such an event used to
# be written, and then every later write, `fsck`, `refresh --full` and every
# fresh clone failed on it; so after the refusals, all of those must work,
# and so must values right at the limits.
. "$(dirname "$0")/lib.sh"

R=reg
new_registry $R
model_file m1.bin
model_file m2.bin 2048
check "register sq:1" "$MREG" -C $R register sq m1.bin --metric elo=1500
check "validation of sq:1 started" "$MREG" -C $R validation sq:1 start

# repeat C N: C, N times
repeat() { head -c "$2" /dev/zero | tr '\0' "$1"; }

# nested_file N: a config file whose key "deep" holds N objects, one inside the other
nested_file() {
	awk -v n="$1" 'BEGIN { s = "{}"; for (i = 1; i < n; i++) s = "{\"x\": " s "}"; printf "{\"deep\": %s}\n", s }'
}

# ---- item by item: refused, one line, the registry as it was ---------------
bad "--config value of 20,000 bytes" 1 \
	"^mreg: invalid training config for 'sq': a string is longer than 16384 bytes$" $R \
	"$MREG" -C $R register sq m2.bin --config "note=$(repeat a 20000)"
bad "--config key of 16,385 bytes" 1 \
	"^mreg: invalid training config for 'sq': a key is longer than 16384 bytes$" $R \
	"$MREG" -C $R register sq m2.bin --config "$(repeat k 16385)=1"

# 100 values of 15,000 bytes: each within the limits, the event over 1 MiB
{
	printf '{'
	i=0
	while [ $i -lt 100 ]; do
		printf '%s"k%d": "%s"' "$([ $i -gt 0 ] && echo ,)" $i "$(repeat v 15000)"
		i=$((i + 1))
	done
	printf '}\n'
} >big.json
bad "--config-file making an event over 1 MiB" 1 \
	"^mreg: invalid event for 'sq': larger than 1048576 bytes$" $R \
	"$MREG" -C $R register sq m2.bin --config-file big.json

# depth: training_config is at 1 in the event, extra_config at 2, "deep" (moved there) at 3:
# 14 nested objects end at 16, 15 go one deeper
nested_file 15 >deep15.json
bad "--config-file nesting past 16 levels" 1 \
	"^mreg: invalid training config for 'sq': nested deeper than 16$" $R \
	"$MREG" -C $R register sq m2.bin --config-file deep15.json

printf '{"log": "%s"}\n' "$(repeat r 17000)" >results.json
bad "validation pass --results with a string of 17,000 bytes" 1 \
	"^mreg: invalid results for 'sq': a string is longer than 16384 bytes$" $R \
	"$MREG" -C $R validation sq:1 pass --results results.json

# ---- invalid UTF-8, wherever an event carries a string ----------------------
bad "--description with a byte that is not UTF-8" 1 \
	"^mreg: invalid description for 'sq': not valid UTF-8$" $R \
	"$MREG" -C $R register sq m2.bin --description "$(printf 'caf\377')"
bad "--tag with a byte that is not UTF-8" 1 "^mreg: invalid tag 'night\.\.\.': not valid UTF-8$" $R \
	"$MREG" -C $R register sq m2.bin --tag "$(printf 'night\377')"
bad "tag with an overlong encoding" 1 "^mreg: invalid tag 'a\.\.\.': not valid UTF-8$" $R \
	"$MREG" -C $R tag sq:1 "$(printf 'a\300\257')"
bad "promote -r with a surrogate" 1 "^mreg: invalid reason for 'sq': not valid UTF-8$" $R \
	"$MREG" -C $R promote sq:1 --to staging -r "$(printf 'ok \355\240\200')"
bad "--config value past U+10FFFF" 1 \
	"^mreg: invalid training config for 'sq': a string is not valid UTF-8$" $R \
	"$MREG" -C $R register sq m2.bin --config "note=$(printf '\364\220\200\200')"
printf '{"note\377": 1}\n' >badkey.json
bad "--config-file key that is not UTF-8" 1 \
	"^mreg: invalid training config for 'sq': a key is not valid UTF-8$" $R \
	"$MREG" -C $R register sq m2.bin --config-file badkey.json

# ---- 200,000 keys: refused (the event would be 4 MiB), and without running for minutes
awk 'BEGIN { printf "{"; for (i = 0; i < 200000; i++) printf "%s\"k%d\": %d", i ? ", " : "", i, i; printf "}\n" }' \
	>keys.json
bad "--config-file of 200,000 keys" 1 "^mreg: invalid event for 'sq': larger than 1048576 bytes$" $R \
	"$MREG" -C $R register sq m2.bin --config-file keys.json
bad "validation pass --results of 200,000 keys" 1 "^mreg: invalid event for 'sq': larger than 1048576 bytes$" $R \
	"$MREG" -C $R validation sq:1 pass --results keys.json

# ---- right at the limits: written, and read back by everything -------------
nested_file 14 >deep14.json
printf '{"log": "%s", "note": "caf\303\251 \342\202\254 \360\237\230\200"}\n' "$(repeat r 16384)" >results.json
check "--config value of 16,384 bytes, key of 16,384, nesting to 16" \
	"$MREG" -C $R register sq m2.bin --config "note=$(repeat a 16384)" --config "$(repeat k 16384)=1" \
	--config-file deep14.json --description "$(printf 'caf\303\251')" --tag "$(printf 'r\303\251sum\303\251')"
check "validation pass --results with a string of 16,384 bytes" \
	"$MREG" -C $R validation sq:1 pass --results results.json
check "promote -r in UTF-8" "$MREG" -C $R promote sq:2 --to staging -r "$(printf 'na\303\257ve \360\237\230\200')"

# ---- and the registry stays usable ------------------------------------------
check "a later write" "$MREG" -C $R update-metrics sq:2 elo=1510
check "fsck" "$MREG" -C $R fsck
check "refresh --full" "$MREG" -C $R refresh --full
check "git clone" git clone -q $R clone
check "fsck on a fresh clone" "$MREG" -C clone fsck
check "refresh --full on a fresh clone" "$MREG" -C clone refresh --full
check "a write on the clone" "$MREG" -C clone promote sq:2 --to production -r "clone"
expect_eq "the clone reads the tag and the reason back" \
	"$("$MREG" -C clone --json show sq:2 | jq -r '.tags[0], .history[1].reason')" \
	"$(printf 'r\303\251sum\303\251\nna\303\257ve \360\237\230\200')"
expect_eq "the clone reads the 16,384-byte value back" \
	"$("$MREG" -C clone --json show sq:2 | jq -r '.training_config.extra_config.note | length')" 16384
finish

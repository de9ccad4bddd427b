#!/bin/sh
# One bad event must not stop a registry. An event file that arrives by
# plain git (a pull, a checkout, a commit made by hand) and fails validation
# (a name that is not its hash, bytes changed, a bad schema, a limit passed,
# a link or a submodule where an event belongs, a file in the wrong place)
# is quarantined: left out of the fold on every node alike, listed by
# `mreg status` and `mreg fsck` (which exits 1), while reads and writes go
# on. The same for a forged Lamport clock (more than 2^20 past the events
# before it) and a registration claiming a number nobody reached (it gets
# the next free number): neither can stop the writes that follow.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/bulk.sh"

XXH=$(xxh128_helper)
R=$T/reg
new_registry_full "$R"
model_file m1.bin 2000
model_file m2.bin 3000
check "register m:1" "$MREG" -C "$R" register m m1.bin
check "promote m:1 to staging" "$MREG" -C "$R" promote m:1 --to staging
ev1=$(cd "$R" && git log --format= --name-only HEAD~1 -1 | grep '^events/')
prom=$(cd "$R" && git log --format= --name-only HEAD -1 | grep '^events/')

# put BYTES-FILE: commit a file with stock git under its right name (events/ab/cd/<xxh128>.json); prints the path
put() {
	_h=$("$XXH" "$1")
	_p="events/$(echo $_h | cut -c1-2)/$(echo $_h | cut -c3-4)/$_h.json"
	mkdir -p "$R/$(dirname "$_p")" && cp "$1" "$R/$_p" && git -C "$R" add "$_p" && git -C "$R" commit -qm "by hand: $2"
	echo "$_p"
}
# quarantined PATH PATTERN DESC: status --json lists PATH with a problem matching PATTERN
quarantined() {
	_got=$("$MREG" -C "$R" --json status | jq -r --arg p "$1" '.quarantined[] | select(.path == $p) | .problem')
	if printf '%s' "$_got" | grep -qE "$2"; then ok "$3: quarantined ($2)"; else fail "$3: quarantined"; echo "    # got: $_got"; fi
}
# goes_on DESC: reads and writes go on, fsck names the file and exits 1
goes_on() {
	check "$1: list" "$MREG" -C "$R" list
	check "$1: show" "$MREG" -C "$R" show m:1
	check "$1: a write" "$MREG" -C "$R" tag m:1 "t$n"
	n=$((n + 1))
	"$MREG" -C "$R" fsck >"$T/.fo" 2>"$T/.fe"
	expect_eq "$1: fsck exits 1" "$?" 1
	check "$1: fsck names the file" grep -qF "$2" "$T/.fe"
}
n=0

# ---- events that fail validation ------------------------------------------------
# (a) bytes changed under their name, committed by hand
sed 's/"actor": "tester"/"actor": "mallory"/' "$R/$prom" >"$R/$prom.new" && mv "$R/$prom.new" "$R/$prom"
git -C "$R" commit -qam "by hand: an edited event"
quarantined "$prom" "its bytes hash to" "(a) an edited event"
goes_on "(a) an edited event" "$prom"
expect_eq "(a) the edited promotion is not in the fold" "$("$MREG" -C "$R" --json show m:1 | jq -r .stage)" development
# (b) a bad schema
sed 's/"schema": 1/"schema": 2/' "$R/$ev1" >bad-schema.json
p=$(put bad-schema.json "schema 2")
quarantined "$p" "unsupported event schema 2" "(b) a bad schema"
goes_on "(b) a bad schema" "$p"
# (c) over the size limit
{ sed '$d' "$R/$ev1" | sed '$d'; printf '  "description": "'; head -c 1100000 /dev/zero | tr '\0' 'x'; printf '"\n}\n'; } >big.json
p=$(put big.json "over 1 MiB")
quarantined "$p" "larger than 1048576 bytes" "(c) an event over 1 MiB"
goes_on "(c) an event over 1 MiB" "$p"
# (d) a name that is not its hash
mkdir -p "$R/events/00/00"
cp "$R/$ev1" "$R/events/00/00/00000000000000000000000000000000.json"
git -C "$R" add events/00 && git -C "$R" commit -qm "by hand: a misnamed event"
quarantined events/00/00/00000000000000000000000000000000.json "hash to" "(d) a misnamed event"
goes_on "(d) a misnamed event" events/00/00/00000000000000000000000000000000.json
# (e) a good event in the wrong fan-out directory
sed 's/"actor": "tester"/"actor": "elsewhere"/' "$R/$ev1" >moved.json
h=$("$XXH" moved.json)
mkdir -p "$R/events/ff/ff" && cp moved.json "$R/events/ff/ff/$h.json"
git -C "$R" add events/ff && git -C "$R" commit -qm "by hand: misplaced"
quarantined "events/ff/ff/$h.json" "fan-out directory" "(e) a misplaced event"
# (f) a file named like an event that is not JSON
printf 'not json\n' >notjson.json
p=$(put notjson.json "not json")
quarantined "$p" "not valid JSON" "(f) not JSON"
# (g) a symbolic link where an event belongs, and a submodule
mkdir -p "$T/victim" && echo untouched >"$T/victim/x"
# a fan-out name no event holds yet (an event's random name may start with "ab")
for fan in ab ac ad ae af b0 b1 b2; do [ -e "$R/events/$fan" ] || break; done
ln -s "$T/victim" "$R/events/$fan"
git -C "$R" add "events/$fan" && git -C "$R" commit -qm "by hand: a link"
git -C "$R" update-index --add --cacheinfo "160000,$(git -C "$R" rev-parse HEAD),events/cd/ef/0123456789abcdef0123456789abcdef.json"
git -C "$R" commit -qm "by hand: a submodule"
quarantined "events/$fan" "a symbolic link" "(g) a link"
quarantined events/cd/ef/0123456789abcdef0123456789abcdef.json "a submodule" "(g) a submodule"
goes_on "(g) a link and a submodule" "events/$fan"
for i in 1 2 3 4 5 6 7 8; do "$MREG" -C "$R" tag m:1 "many$i" >/dev/null 2>&1 || fail "write $i beside the link"; done
expect_eq "(g) nothing was written through the link" "$(ls "$T/victim")" "x"

# ---- limits the fold keeps coherent ---------------------------------------------------
# (h) a forged clock: the largest the parser takes; writes after it go on
sed 's/"clock": [0-9]*/"clock": 4503599627370496/; s/"actor": "tester"/"actor": "forger"/' "$R/$ev1" >clock.json
p=$(put clock.json "clock 2^52")
quarantined "$p" "clock 4503599627370496 is more than 1048576 past the number of event files" "(h) a forged clock"
check "(h) a registration after the forged clock" "$MREG" -C "$R" register m m2.bin
check "(h) and a promotion" "$MREG" -C "$R" promote m:2 --to staging
expect_eq "(h) the clock writers take stays small" \
	"$(jq .clock "$R/state/registry.json" | awk '{ print ($1 < 1000) }')" 1
# (i) a registration claiming version 2^30 (the largest the parser takes) gets the next free number
# (with a clock after every event: a registration's number is given in fold order)
c=$(($(jq .clock "$R/state/registry.json") + 1))
sed "s/\"version\": 1,/\"version\": 1073741824,/; s/\"clock\": [0-9]*/\"clock\": $c/; s/\"actor\": \"tester\"/\"actor\": \"claimer\"/" \
	"$R/$ev1" >claim.json
p=$(put claim.json "version 2^30")
check "(i) a read after a claim of version 2^30" "$MREG" -C "$R" list
expect_eq "(i) the claim got the next free number" \
	"$("$MREG" -C "$R" --json list --model m | jq -c '[.[] | select(.claimed_version == 1073741824) | .version]')" "[3]"
check "(i) a registration after it" "$MREG" -C "$R" register m m1.bin
expect_eq "(i) which is version 4" "$("$MREG" -C "$R" --json show m | jq .version)" 4

# ---- every node alike -------------------------------------------------------------
check "git clone" git clone -q "$R" "$T/node2"
check "the clone folds" "$MREG" -C "$T/node2" list
check "its state files are byte-identical (quarantine included)" diff -r "$R/state" "$T/node2/state"
expect_eq "the clone lists the same quarantine" "$("$MREG" -C "$T/node2" --json status | jq -c .quarantined)" \
	"$("$MREG" -C "$R" --json status | jq -c .quarantined)"
check "refresh --full folds the same" "$MREG" -C "$R" refresh --full
check "state byte-identical after a full fold" diff -r "$R/state" "$T/node2/state"
# (j) `events` itself a file: nothing to fold, and the next write makes it a directory again
R2=$T/r2
new_registry_full "$R2"
check "register r2" "$MREG" -C "$R2" register m m1.bin
(cd "$R2" && git rm -q -r events && echo peer >events && git add events && git commit -qm "by hand: events is a file")
quarantined_r2=$("$MREG" -C "$R2" --json status | jq -r '.quarantined[0].path + " " + .quarantined[0].problem')
expect_eq "(j) 'events' a file: quarantined" "$quarantined_r2" "events not a directory"
check "(j) a write" "$MREG" -C "$R2" register m m2.bin
expect_eq "(j) events is a directory again in the tree" "$(git -C "$R2" cat-file -t HEAD:events)" tree
check "(j) fsck after the write" "$MREG" -C "$R2" fsck

# (k) a registration deleted by hand: fsck names the events that still point at it
R3=$T/r3
new_registry_full "$R3"
check "(k) register" "$MREG" -C "$R3" register k m1.bin
regev=$(cd "$R3" && git log --format= --name-only -1 | grep '^events/')
check "(k) tag it" "$MREG" -C "$R3" tag k:1 keep
tagev=$(cd "$R3" && git log --format= --name-only -1 | grep '^events/')
git -C "$R3" rm -q "$regev" && git -C "$R3" commit -qm "by hand: delete a registration"
"$MREG" -C "$R3" fsck >/dev/null 2>"$T/k.err"
expect_eq "(k) fsck exits 1" "$?" 1
check "(k) fsck names the tag event and the missing registration" \
	grep -q "event $(basename "$tagev" .json) (version.tagged of 'k') names registration $(basename "$regev" .json), which is not in the log" "$T/k.err"

# (l) a full fold of many event files reads them on several threads: the state, the
# files left out and why, and a missing object's error are those of one thread
R4=$T/r4
bulk_registry "$R4" t 7 700
full_checkout "$R4"
# an event in another layout (compact, named by its own hash): read whole by the first pass, folded in its place
"$MREG" -C "$R4" tag t1:1 compact >/dev/null
tagp=$(cd "$R4" && git log --format= --name-only -1 | grep '^events/')
jq -c . "$R4/$tagp" >"$T/compact.json"
h=$("$XXH" "$T/compact.json")
np="events/$(echo "$h" | cut -c1-2)/$(echo "$h" | cut -c3-4)/$h.json"
mkdir -p "$R4/$(dirname "$np")" && cp "$T/compact.json" "$R4/$np" && git -C "$R4" rm -q "$tagp" &&
	git -C "$R4" add "$np" && git -C "$R4" commit -qm "by hand: a tag in another layout"
before=$("$MREG" -C "$R4" --json status | jq .events)
# (an event of another model than t1's: the tag above stays valid, whichever name sorts first)
first=$(cd "$R4" && git ls-files events | xargs grep -L '"model": "t1"' | head -1)
sed 's/"schema": 1/"schema": 2/' "$R4/$first" >"$R4/$first.new" && mv "$R4/$first.new" "$R4/$first"
ln -s ../../../mreg.json "$R4/events/00/00/$(printf '0%.0s' $(seq 32)).json" 2>/dev/null ||
	{ mkdir -p "$R4/events/00/00" && ln -s ../../../mreg.json "$R4/events/00/00/$(printf '0%.0s' $(seq 32)).json"; }
mkdir -p "$R4/events/zz" && cp "$R4/$(cd "$R4" && git ls-files events | sed -n 5p)" "$R4/events/zz/misplaced.json"
git -C "$R4" add -A events && git -C "$R4" commit -qm "by hand: three bad event files among 700"
folds() {	# folds THREADS DIR: refresh --full with THREADS readers, the state and status --json into DIR
	mkdir -p "$2"
	MREG_FOLD_THREADS=$1 "$MREG" -C "$R4" refresh --full >/dev/null 2>"$2/err"
	echo $? >"$2/rc"
	cp -r "$R4/state" "$2/state" 2>/dev/null
	"$MREG" -C "$R4" --json status 2>/dev/null | jq -c .quarantined >"$2/q"
}
folds 1 "$T/f1"
folds 4 "$T/f4"
expect_eq "(l) one thread folds" "$(cat "$T/f1/rc")" 0
expect_eq "(l) four threads fold" "$(cat "$T/f4/rc")" 0
expect_eq "(l) three files left out" "$(jq length "$T/f1/q")" 3
check "(l) the same files left out, for the same reasons" cmp "$T/f1/q" "$T/f4/q"
check "(l) byte-identical state files" diff -r "$T/f1/state" "$T/f4/state"
expect_eq "(l) the edited one is left out of the fold" "$(jq .events "$R4/state/registry.json")" $((before - 1))
expect_eq "(l) the tag in another layout is folded" "$("$MREG" -C "$R4" --json show t1:1 | jq -c .tags)" '["compact"]'
# fsck folds the log as refresh --full does (the same code: it cannot tell this fold's files wrong) and names the three files
"$MREG" -C "$R4" fsck >/dev/null 2>"$T/l.fsck"
expect_eq "(l) fsck names the three files and nothing else" "$(grep -c . "$T/l.fsck") $(grep -c 'left out of the fold' "$T/l.fsck")" "3 3"
# a repack with deltas (as a gc makes): the first pass resolves them for the heads; the same state
git -C "$R4" repack -qadf --window=50
deltas=$(for i in "$R4"/.git/objects/pack/*.idx; do git verify-pack -v "$i"; done | awk '$2 == "blob" && NF >= 7' | wc -l)
expect_eq "(l) the repack made deltas of event files" "$([ "$deltas" -gt 100 ] && echo yes)" yes
folds 4 "$T/f5"
check "(l) folded from deltas: byte-identical state files" diff -r "$T/f1/state" "$T/f5/state"
# an event blob gone from the object store: the same error, naming it, either way
victim=$(git -C "$R4" rev-parse "HEAD:$(cd "$R4" && git ls-files events | sed -n 300p)")
git -C "$R4" repack -qad && git -C "$R4" cat-file -p "$victim" >"$T/victim.json"
vdir=$T/unpacked && rm -rf "$vdir" && mkdir "$vdir" && mv "$R4/.git/objects/pack" "$vdir/" && mkdir "$R4/.git/objects/pack"
for p in "$vdir"/pack/*.pack; do git -C "$R4" unpack-objects -q <"$p"; done
rm -f "$R4/.git/objects/$(echo "$victim" | cut -c1-2)/$(echo "$victim" | cut -c3-)"
folds 1 "$T/g1"
folds 4 "$T/g4"
expect_eq "(l) one thread: a missing object stops the fold" "$(cat "$T/g1/rc")" 1
expect_eq "(l) four threads: the same" "$(cat "$T/g4/rc")" 1
check "(l) the error names the object" grep -q "$victim" "$T/g1/err"
check "(l) the same error either way" cmp "$T/g1/err" "$T/g4/err"
"$MREG" -C "$R4" fsck >/dev/null 2>"$T/l.fsck2"
expect_eq "(l) fsck: a missing object stops it, exit 1" "$?" 1
expect_eq "(l) fsck names the missing object in one line" "$(grep -c . "$T/l.fsck2") $(grep -c "^mreg: .*$victim" "$T/l.fsck2")" "1 1"

finish

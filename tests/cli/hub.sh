# Pushes to a registry hub that must be refused, for CLI tests: sourced
# after lib.sh (test_check, test_protect).

# hub_state HUB: what a refused push must leave as it was
hub_state() {
	git -C "$1" for-each-ref
	find "$1/objects" -type f | sort | xargs cat | sha1sum
}

# refused DESC HUB PATTERN CMD...: the push fails, its output shows PATTERN, the hub is unchanged
refused() {
	_d=$1 _h=$2 _p=$3
	shift 3
	_before=$(hub_state "$_h")
	if "$@" >"$T/.out" 2>&1; then fail "$_d: refused"; else ok "$_d: refused"; fi
	if grep -qE "$_p" "$T/.out"; then ok "$_d: the pusher sees why"; else
		fail "$_d: the pusher sees why (/$_p/)"; sed 's/^/    # /' "$T/.out" | head -8; fi
	expect_eq "$_d: the hub is as it was" "$(hub_state "$_h")" "$_before"
}

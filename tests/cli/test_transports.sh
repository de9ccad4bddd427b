#!/bin/sh
# Sync over every transport: a local path, file://, git:// (git daemon),
# http:// (git-http-backend under lighttpd, with and without basic auth) and
# ssh:// (sshd), each server started here on 127.0.0.1 and stopped at exit.
#
# Each transport gets a bare hub cloned from one registry. Stock git fetches
# from and pushes to it first (that proves the server); then two nodes sync
# through it with mreg: A registers and pushes, B registers concurrently,
# syncs (a real merge) and pushes, A syncs, and both end with byte-identical
# state files; `mreg clone` of the hub gives a working registry. Credentials
# are what mreg documents: for ssh, git config mreg.sshKey and
# mreg.sshKnownHosts (a wrong host key or an unknown client key fails the
# sync); for http, the URL or git's credential helper (none fails the sync).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/servers.sh"

# nothing may prompt or reach for the caller's agent or keys
export GIT_TERMINAL_PROMPT=0
unset SSH_AUTH_SOCK GIT_SSH GIT_SSH_COMMAND GIT_ASKPASS SSH_ASKPASS

SRV=$T/srv
mkdir -p "$SRV"

# libgit2 1.5 leaks in every ssh connection it makes: _git_ssh_setup_conn
# keeps the known_hosts collection of a connection that succeeds, and
# load_known_hosts clears two strings instead of freeing them (libgit2 1.6
# frees all three). Its shared library names neither function, so while
# over_ssh=1 the commands run with whole allocation stacks and leave out
# what leaks inside git_remote_connect_ext (tests/lsan.supp as it is for
# everything else).
ssh_supp=$T/lsan-ssh.supp
{
	cat "$here/../lsan.supp" 2>/dev/null
	printf '%s\n' leak:libssh2_knownhost_init leak:git_remote_connect_ext
} >"$ssh_supp"
over_ssh=0

# net CMD...: CMD with stdin closed, killed if it hangs past NET_WAIT
# seconds (a guard against a prompt or a stuck connection, not a timing check)
net() {
	if [ "$over_ssh" = 1 ]; then
		LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$ssh_supp:fast_unwind_on_malloc=0" \
			timeout -k 10 "${NET_WAIT:-120}" "$@" </dev/null
	else
		timeout -k 10 "${NET_WAIT:-120}" "$@" </dev/null
	fi
}

# gitx ARGS...: stock git, over ssh with the test's key and known_hosts
gitx() {
	GIT_SSH_COMMAND=${SSH_COMMAND:-ssh} net git "$@"
}

# sync_json DESC OUT REG ARGS...: `mreg -C REG sync ARGS... --json` into OUT
# must exit 0 with every remote "ok"
sync_json() {
	_d=$1 _o=$2 _r=$3
	shift 3
	net "$MREG" -C "$_r" sync "$@" --json >"$_o" 2>"$T/.err"
	rc=$?
	if [ $rc -eq 0 ] && [ "$(jq -r '[.remotes[].result] | unique | join(",")' "$_o" 2>/dev/null)" = ok ]; then
		ok "$_d"
	else
		fail "$_d (exit $rc)"
		sed 's/^/    # /' "$T/.err" "$_o" | head -8
	fi
}

# sync_fails DESC PATTERN REG ARGS...: `mreg -C REG sync ARGS... --json`
# must exit 1, say "failed" for its one remote with an error that matches
# PATTERN (grep -E), and leave REG as it was
sync_fails() {
	_d=$1 _p=$2 _r=$3
	shift 3
	_before=$(snapshot "$_r" 2>&1)
	net "$MREG" -C "$_r" sync "$@" --json >"$T/fail.json" 2>"$T/.err"
	rc=$?
	got=$(jq -r '[.remotes[] | .result, (.error | type)] | join(" ")' "$T/fail.json" 2>/dev/null)
	err=$(jq -r '.remotes[0].error' "$T/fail.json" 2>/dev/null)
	if [ $rc -eq 1 ] && [ "$got" = "failed string" ] && echo "$err" | grep -qE "$_p"; then
		ok "$_d"
	else
		fail "$_d (exit $rc, want 1; remotes: $got; want an error matching /$_p/)"
		sed 's/^/    # /' "$T/.err" "$T/fail.json" | head -8
	fi
	expect_eq "$_d: registry unchanged" "$(snapshot "$_r" 2>&1)" "$_before"
}

# ---- the registry every hub starts from ---------------------------------------
O=$T/origin
new_registry_full "$O"
model_file "$T/m1.pt"
check "origin: register m:1" "$MREG" -C "$O" register m "$T/m1.pt" --metric elo=1500
for h in path file git http ssh auth; do
	git clone -q --bare "$O" "$SRV/$h.git" || { fail "hub $h"; finish; }
done

# ---- the servers ---------------------------------------------------------------
serve_git_daemon "$SRV" && ok "git daemon listens ($GIT_DAEMON_URL)"
serve_http "$SRV" && ok "lighttpd listens ($HTTP_URL)"
serve_sshd && ok "sshd listens and lets the test key in ($SSH_URL)"
git config --global mreg.sshKey "${SSH_KEY:-none}"
git config --global mreg.sshKnownHosts "${SSH_KNOWN_HOSTS:-none}"

# transport NAME URL: stock git, then two mreg nodes, through hub NAME at URL
transport() {
	tr=$1 url=$2 hub=$SRV/$1.git d=$T/$1
	mkdir -p "$d"

	# stock git: ls-remote, clone, push, fetch
	expect_eq "$tr: git ls-remote lists the hub's main" \
		"$(gitx ls-remote "$url" refs/heads/main 2>&1 | cut -f1)" "$(git --git-dir="$hub" rev-parse main)"
	check "$tr: git clone" gitx clone -q "$url" "$d/s1"
	check "$tr: git clone again" gitx clone -q "$url" "$d/s2"
	model_file "$d/s.pt"
	check "$tr: register s:1 in a stock clone" "$MREG" -C "$d/s1" register s "$d/s.pt"
	check "$tr: git push" gitx -C "$d/s1" push -q origin main
	expect_eq "$tr: the hub has the pushed commit" \
		"$(git --git-dir="$hub" rev-parse main)" "$(git -C "$d/s1" rev-parse HEAD)"
	check "$tr: git fetch" gitx -C "$d/s2" fetch -q origin
	expect_eq "$tr: the fetch brought the pushed commit" \
		"$(git -C "$d/s2" rev-parse origin/main 2>&1)" "$(git -C "$d/s1" rev-parse HEAD)"

	# mreg: A clones, B is a stock clone; both name the hub "hub"
	A=$d/A B=$d/B
	check "$tr: mreg clone (A)" net "$MREG" clone "$url" "$A"
	expect_eq "$tr: A is at the hub's main" "$(git -C "$A" rev-parse HEAD 2>&1)" "$(git --git-dir="$hub" rev-parse main)"
	expect_eq "$tr: A lists m and s" "$("$MREG" -C "$A" list --json 2>&1 | jq -r '[.[].model_id] | sort | join(",")' 2>&1)" "m,s"
	check "$tr: git clone (B)" gitx clone -q "$url" "$B"
	git -C "$A" config mreg.actor node-a
	git -C "$B" config mreg.actor node-b
	for n in A B; do
		eval "r=\$$n"
		check "$tr: $n: mreg remote add hub" "$MREG" -C "$r" remote add hub "$url"
		expect_eq "$tr: $n: git remote -v shows hub" "$(git -C "$r" remote -v | grep '^hub	')" \
			"$(printf 'hub\t%s (fetch)\nhub\t%s (push)' "$url" "$url")"
	done

	model_file "$d/m2.pt"
	check "$tr: A: register m:2" "$MREG" -C "$A" register m "$d/m2.pt" --metric elo=1550
	a2=$(git -C "$A" rev-parse HEAD)
	sync_json "$tr: A: mreg sync hub --push" "$d/a1.json" "$A" hub --push
	expect_eq "$tr: A sent one event, received none" \
		"$(jq -c '[.events_sent, .events_received, .remotes[0].name]' "$d/a1.json" 2>&1)" '[1,0,"hub"]'
	expect_eq "$tr: the hub is at A's head" "$(git --git-dir="$hub" rev-parse main)" "$a2"

	model_file "$d/b1.pt"
	check "$tr: B: register b:1 before it syncs" "$MREG" -C "$B" register b "$d/b1.pt"
	sync_json "$tr: B: mreg sync hub --push (a merge)" "$d/b1.json" "$B" hub --push
	expect_eq "$tr: B received A's event and sent its own" \
		"$(jq -c '[.events_received, .events_sent]' "$d/b1.json" 2>&1)" '[1,1]'
	check "$tr: B's history has A's commit" git -C "$B" merge-base --is-ancestor "$a2" HEAD
	expect_eq "$tr: the hub is at B's head" "$(git --git-dir="$hub" rev-parse main)" "$(git -C "$B" rev-parse HEAD)"
	sync_json "$tr: A: mreg sync hub" "$d/a2.json" "$A" hub
	expect_eq "$tr: A received B's event" "$(jq -c '[.events_received, .events_sent]' "$d/a2.json" 2>&1)" '[1,0]'

	if out=$(diff -r "$A/state" "$B/state" 2>&1); then ok "$tr: state/ identical in A and B"
	else fail "$tr: state/ identical in A and B"; echo "$out" | head -5 | sed 's/^/    # /'; fi
	"$MREG" -C "$B" show m:2 --json >"$d/b-m2.json" 2>&1
	expect_eq "$tr: B shows m:2 with A's metrics" "$(jq -c '[.version, .metrics.elo]' "$d/b-m2.json" 2>&1)" '[2,1550]'
	expect_eq "$tr: B shows m:2 as A does" "$(jq -c . "$d/b-m2.json" 2>&1)" \
		"$("$MREG" -C "$A" show m:2 --json 2>&1 | jq -c . 2>&1)"
	for n in A B; do
		eval "r=\$$n"
		check "$tr: $n: mreg fsck" "$MREG" -C "$r" fsck
		expect_eq "$tr: $n: git status clean" "$(tree_clean "$r")" ""
	done

	check "$tr: mreg clone (C)" net "$MREG" clone "$url" "$d/C"
	expect_eq "$tr: C lists b, m:1, m:2, s" \
		"$("$MREG" -C "$d/C" list --json 2>&1 | jq -r '[.[] | "\(.model_id):\(.version)"] | sort | join(",")' 2>&1)" \
		"b:1,m:1,m:2,s:1"
	if out=$(diff -r "$A/state" "$d/C/state" 2>&1); then ok "$tr: state/ identical in A and C"
	else fail "$tr: state/ identical in A and C"; echo "$out" | head -5 | sed 's/^/    # /'; fi
}

transport path "$SRV/path.git"
transport file "file://$SRV/file.git"
[ -n "${GIT_DAEMON_URL:-}" ] && transport git "${GIT_DAEMON_URL}git.git"
[ -n "${HTTP_URL:-}" ] && transport http "${HTTP_URL}http.git"
over_ssh=1
[ -n "${SSH_URL:-}" ] && transport ssh "$SSH_URL$SRV/ssh.git"

# ---- ssh: host keys and client keys are checked --------------------------------
if [ -n "${SSH_URL:-}" ]; then
	B=$T/ssh/B
	ssh-keygen -q -t ed25519 -N '' -f "$T/other_ed25519"
	printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1,2 "$T/other_ed25519.pub")" >"$T/wrong_known_hosts"
	git -C "$B" config mreg.sshKnownHosts "$T/wrong_known_hosts"
	sync_fails "ssh: another host key in mreg.sshKnownHosts fails the sync" "host key" "$B" hub
	: >"$T/empty_known_hosts"
	git -C "$B" config mreg.sshKnownHosts "$T/empty_known_hosts"
	sync_fails "ssh: a host not in mreg.sshKnownHosts fails the sync" "not in|unknown" "$B" hub
	git -C "$B" config --unset mreg.sshKnownHosts
	git -C "$B" config mreg.sshKey "$T/other_ed25519"
	sync_fails "ssh: a key the server does not know fails the sync" "refused|denied|authenticat" "$B" hub
	git -C "$B" config --unset mreg.sshKey
	sync_json "ssh: with the global settings back, the sync works" "$T/ssh/ok.json" "$B" hub

	# the agent's keys come first, then mreg.sshKey's
	if serve_ssh_agent "$SSH_KEY"; then
		export SSH_AUTH_SOCK="$SSH_AGENT_SOCK"
		git -C "$B" config mreg.sshKey "$T/other_ed25519"
		sync_json "ssh: the agent's key lets in a node whose mreg.sshKey the server does not know" "$T/ssh/agent.json" "$B" hub
		SSH_AUTH_SOCK=$SSH_AGENT_SOCK ssh-add -q -D 2>/dev/null
		git -C "$B" config --unset mreg.sshKey
		sync_json "ssh: with no key in the agent, mreg.sshKey's key is offered" "$T/ssh/agent-empty.json" "$B" hub
		unset SSH_AUTH_SOCK
	fi
fi
over_ssh=0

# ---- http behind basic auth: the URL's credentials, then git's helper ------------
if [ -n "${HTTP_AUTH_URL:-}" ]; then
	d=$T/auth hub=$SRV/auth.git A=$T/auth/A B=$T/auth/B
	mkdir -p "$d"
	if gitx ls-remote "${HTTP_AUTH_URL}auth.git" >/dev/null 2>&1; then
		fail "auth: git ls-remote without credentials is refused"
	else ok "auth: git ls-remote without credentials is refused"; fi
	check "auth: git ls-remote with the URL's credentials" gitx ls-remote "${HTTP_AUTH_URL_USERPASS}auth.git"
	check "auth: mreg clone (A) with the URL's credentials" net "$MREG" clone "${HTTP_AUTH_URL_USERPASS}auth.git" "$A"
	check "auth: git clone (B) with the URL's credentials" gitx clone -q "${HTTP_AUTH_URL_USERPASS}auth.git" "$B"
	git -C "$A" config mreg.actor node-a
	git -C "$B" config mreg.actor node-b
	git -C "$B" remote set-url origin "${HTTP_AUTH_URL}auth.git"
	check "auth: B: mreg refresh (state files made before they are compared)" "$MREG" -C "$B" refresh
	model_file "$d/m2.pt"
	check "auth: A: register m:2" "$MREG" -C "$A" register m "$d/m2.pt"
	sync_json "auth: A: mreg sync origin --push (credentials in the URL)" "$d/a.json" "$A" origin --push
	expect_eq "auth: the hub is at A's head" "$(git --git-dir="$hub" rev-parse main)" "$(git -C "$A" rev-parse HEAD)"

	sync_fails "auth: B: no credentials fails the sync" "credential" "$B" origin
	printf 'http://%s:wrong@127.0.0.1:%s\n' "$HTTP_USER" "$HTTP_PORT" >"$d/wrong-credentials"
	git -C "$B" config credential.helper "store --file=$d/wrong-credentials"
	sync_fails "auth: B: a wrong password from git's helper fails the sync" "refused|denied|credential" "$B" origin
	printf 'http://%s:%s@127.0.0.1:%s\n' "$HTTP_USER" "$HTTP_PASSWORD" "$HTTP_PORT" >"$d/credentials"
	git -C "$B" config credential.helper "store --file=$d/credentials"
	sync_json "auth: B: mreg sync origin (credentials from git's helper)" "$d/b.json" "$B" origin
	expect_eq "auth: B is at A's head" "$(git -C "$B" rev-parse HEAD)" "$(git -C "$A" rev-parse HEAD)"
	if out=$(diff -r "$A/state" "$B/state" 2>&1); then ok "auth: state/ identical in A and B"
	else fail "auth: state/ identical in A and B"; echo "$out" | head -5 | sed 's/^/    # /'; fi
fi

# ---- one node, every transport at once ---------------------------------------------
N=$T/N
git clone -q "$O" "$N"
git -C "$N" remote remove origin
git -C "$N" config mreg.actor node-n
check "N: remote add path" "$MREG" -C "$N" remote add path "$SRV/path.git"
check "N: remote add file" "$MREG" -C "$N" remote add file "file://$SRV/file.git"
n=2
[ -n "${GIT_DAEMON_URL:-}" ] && n=$((n + 1)) && check "N: remote add git" "$MREG" -C "$N" remote add git "${GIT_DAEMON_URL}git.git"
[ -n "${HTTP_URL:-}" ] && n=$((n + 1)) && check "N: remote add http" "$MREG" -C "$N" remote add http "${HTTP_URL}http.git"
[ -n "${SSH_URL:-}" ] && n=$((n + 1)) && check "N: remote add ssh" "$MREG" -C "$N" remote add ssh "$SSH_URL$SRV/ssh.git"
expect_eq "N: mreg remote list names them all" "$("$MREG" -C "$N" remote list --json 2>&1 | jq -r '[.[].name] | sort | join(",")' 2>&1)" \
	"$(git -C "$N" remote | sort | paste -sd,)"
over_ssh=1
sync_json "N: mreg sync (every remote)" "$T/n.json" "$N"
over_ssh=0
expect_eq "N: synced with $n remotes" "$(jq '.remotes | length' "$T/n.json" 2>&1)" "$n"
# each hub's s:1 was registered on its own: the fold numbers them 1..n
expect_eq "N: s has one version per hub" "$("$MREG" -C "$N" list --model s --json 2>&1 | jq length 2>&1)" "$n"
expect_eq "N: b has one version per hub" "$("$MREG" -C "$N" list --model b --json 2>&1 | jq length 2>&1)" "$n"
check "N: mreg fsck" "$MREG" -C "$N" fsck

# ---- no server outlives the test -------------------------------------------------
groups=$(server_groups)
stop_servers
alive=""
for g in $groups; do kill -0 "-$g" 2>/dev/null && alive="$alive $g"; done
expect_eq "every server stopped (process groups: $(echo $groups))" "$alive" ""

# ---- with the servers gone, their remotes fail and the others still sync ------------
want=file=ok,path=ok
[ -n "${GIT_DAEMON_URL:-}" ] && want="$want,git=failed"
[ -n "${HTTP_URL:-}" ] && want="$want,http=failed"
[ -n "${SSH_URL:-}" ] && want="$want,ssh=failed"
net "$MREG" -C "$N" sync --json >"$T/down.json" 2>"$T/.err"
expect_eq "N: mreg sync with servers down exits 1" "$?" 1
expect_eq "N: the remotes whose server is down failed, the others did not" \
	"$(jq -r '[.remotes[] | "\(.name)=\(.result)"] | sort | join(",")' "$T/down.json" 2>&1)" \
	"$(echo "$want" | tr , '\n' | sort | paste -sd,)"
finish

# Git servers on 127.0.0.1 for CLI tests: sourced after lib.sh.
#
# Each server is started by the test that needs it, on a port nobody
# listens on, with its configuration, keys, logs and pid files under
# $T/servers, and stopped when the test exits: the EXIT trap lib.sh set now
# stops the servers first, and INT, TERM and HUP exit through it. A watchdog
# does both if the test is killed outright (SIGKILL runs no trap).
#
# A server is started in a session of its own (setsid), so that its process
# group holds it and every child it forks (upload-pack, receive-pack, CGI
# processes): stopping it is one signal to that group. It is up when the
# process listening on its port belongs to that group (`ss -p`); a port
# taken by another test between the choice and the bind makes the server
# exit with "Address already in use", and it is started again on another.
#
#   serve_git_daemon BASEDIR  GIT_DAEMON_URL=git://127.0.0.1:PORT/ (BASEDIR/x.git is
#                             ${GIT_DAEMON_URL}x.git); fetch and push
#   serve_http BASEDIR        HTTP_URL=http://127.0.0.1:PORT/git/: git-http-backend over
#                             BASEDIR, fetch and push; HTTP_AUTH_URL=http://127.0.0.1:PORT/auth/:
#                             the same behind basic auth for HTTP_USER and HTTP_PASSWORD
#                             (HTTP_AUTH_URL_USERPASS has them in the URL), HTTP_PORT
#   serve_sshd                SSH_URL=ssh://USER@127.0.0.1:PORT (append an absolute path),
#                             SSH_KEY (ed25519 client key, SSH_KEY.pub beside it),
#                             SSH_KNOWN_HOSTS (one line, "[127.0.0.1]:PORT ssh-ed25519 ..."),
#                             SSH_COMMAND (for GIT_SSH_COMMAND), SSH_PORT, SSH_USER
#   serve_ssh_agent KEY...    SSH_AGENT_SOCK: the socket of an ssh-agent holding KEY...
#   stop_servers              stop them all (the EXIT trap calls it)
#   server_groups             the process groups of the servers running
#
# Each serve_* prints "not ok" and returns 1 when its server does not come
# up within SERVER_WAIT seconds (default 60), or exits other than on a port
# in use; the log it wrote is shown under the "not ok" line.

SERVER_WAIT=${SERVER_WAIT:-60}
_srv=$T/servers
mkdir -p "$_srv"

server_groups() {
	for _sf in "$_srv"/*.pgid; do
		[ -f "$_sf" ] && cat "$_sf"
	done
}

# _alive PID: PID runs (a zombie, exited but not yet waited for, does not)
_alive() {
	_st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$_st" ] && [ "$_st" != Z ]
}

# stop_servers: TERM to each server's group, KILL to what is left of it
# after 10 s; each group leader is this shell's child and is waited for
stop_servers() {
	for _sg in $(server_groups); do
		kill -TERM "-$_sg" 2>/dev/null
		_sn=0
		while _alive "$_sg" && [ $_sn -lt 100 ]; do
			sleep 0.1
			_sn=$((_sn + 1))
		done
		kill -KILL "-$_sg" 2>/dev/null
		wait "$_sg" 2>/dev/null
		_sn=0
		while kill -0 "-$_sg" 2>/dev/null && [ $_sn -lt 100 ]; do
			sleep 0.1
			_sn=$((_sn + 1))
		done
	done
	rm -f "$_srv"/*.pgid
}

# lib.sh's EXIT action runs after stop_servers. `trap` prints it as
# "trap -- 'ACTION' EXIT" (dash reports no traps inside $(...)).
trap >"$_srv/traps"
_prev_exit=$(sed -n "s/^trap -- '\(.*\)' EXIT\$/\1/p" "$_srv/traps")
trap "stop_servers; $_prev_exit" EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# _watchdog: when this shell dies without running its EXIT trap, stops the
# servers and runs lib.sh's EXIT action. It is a group of its own that
# stop_servers stops like the others.
_watchdog() {
	[ -f "$_srv/watchdog.pgid" ] && return 0
	setsid sh -c '
		alive() {
			st=$(sed "s/.*) //" "/proc/$1/stat" 2>/dev/null | cut -d" " -f1)
			[ -n "$st" ] && [ "$st" != Z ]
		}
		while alive "$1"; do sleep 1; done
		for f in "$2"/*.pgid; do
			[ -f "$f" ] && [ "$f" != "$2/watchdog.pgid" ] && kill -KILL "-$(cat "$f")" 2>/dev/null
		done
		T=$3
		eval "$4"' watchdog $$ "$_srv" "$T" "$_prev_exit" </dev/null >/dev/null 2>&1 &
	echo $! >"$_srv/watchdog.pgid"
}

# free_port: a port below the ephemeral range that nothing listens on now
free_port() {
	_lo=10000
	_hi=$(($(cut -f1 /proc/sys/net/ipv4/ip_local_port_range) - 1))
	[ "$_hi" -gt $((_lo + 1000)) ] || { _lo=61000 _hi=65535; }
	while :; do
		_r=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
		_p=$((_lo + _r % (_hi - _lo + 1)))
		[ -z "$(ss -Hltn "sport = :$_p")" ] && { echo "$_p"; return 0; }
	done
}

# _spawn NAME CMD...: CMD in a session of its own, its output in
# $_srv/NAME.log, its process group in $_srv/NAME.pgid
_spawn() {
	_sname=$1
	shift
	_watchdog
	setsid "$@" </dev/null >"$_srv/$_sname.log" 2>&1 &
	echo $! >"$_srv/$_sname.pgid"
}

# _await NAME PORT: 0 when a process of NAME's group listens on PORT, 1 when
# NAME exited because the port was taken, 2 (and "not ok") on anything else
_await() {
	_sg=$(cat "$_srv/$1.pgid")
	_deadline=$(($(date +%s) + SERVER_WAIT))
	while :; do
		for _lp in $(ss -Hltnp "sport = :$2" | grep -o 'pid=[0-9]*' | cut -d= -f2); do
			# field 5 of /proc/PID/stat, the process group; the name before it may hold spaces
			[ "$(sed 's/.*) //' "/proc/$_lp/stat" 2>/dev/null | cut -d' ' -f3)" = "$_sg" ] && return 0
		done
		if ! _alive "$_sg"; then
			wait "$_sg" 2>/dev/null
			kill -KILL "-$_sg" 2>/dev/null
			rm -f "$_srv/$1.pgid"
			grep -q 'Address already in use' "$_srv/$1.log" && return 1
			fail "$1 on port $2 exited"
			sed 's/^/    # /' "$_srv/$1.log" | tail -5
			return 2
		fi
		if [ "$(date +%s)" -ge "$_deadline" ]; then
			fail "$1 on port $2 not listening after $SERVER_WAIT s"
			sed 's/^/    # /' "$_srv/$1.log" | tail -5
			return 2
		fi
		sleep 0.1
	done
}

# _start NAME RUN: pick a port ($_port) and call RUN, which writes what the
# server reads and starts it with _spawn NAME, until it listens on the port
_start() {
	command -v ss >/dev/null || { fail "$1: no ss (iproute2) to see who listens where"; return 1; }
	_tries=0
	while [ $_tries -lt 20 ]; do
		_tries=$((_tries + 1))
		_port=$(free_port)
		"$2" || { fail "$1: cannot start"; return 1; }
		_await "$1" "$_port"
		case $? in
		0) return 0 ;;
		2) return 1 ;;
		esac
	done
	fail "$1: every port tried was in use"
	return 1
}

# serve_git_daemon BASEDIR: git daemon exporting every repository under
# BASEDIR, pushes allowed
serve_git_daemon() {
	_git_root=$1
	_start git-daemon _run_git_daemon || return 1
	GIT_DAEMON_URL=git://127.0.0.1:$_port/
}

_run_git_daemon() {
	_spawn git-daemon git daemon --reuseaddr --listen=127.0.0.1 --port="$_port" \
		--base-path="$_git_root" --export-all --enable=receive-pack "$_git_root"
}

HTTP_USER=mreg
HTTP_PASSWORD=s3cret-pw

# serve_http BASEDIR: lighttpd running git-http-backend over BASEDIR, on
# /git/ and, behind basic auth, on /auth/; pushes allowed on both
serve_http() {
	_http_root=$1
	_start lighttpd _run_lighttpd || return 1
	HTTP_PORT=$_port
	HTTP_URL=http://127.0.0.1:$_port/git/
	HTTP_AUTH_URL=http://127.0.0.1:$_port/auth/
	HTTP_AUTH_URL_USERPASS=http://$HTTP_USER:$HTTP_PASSWORD@127.0.0.1:$_port/auth/
}

_run_lighttpd() {
	mkdir -p "$_srv/www"
	printf '%s:%s\n' "$HTTP_USER" "$HTTP_PASSWORD" >"$_srv/http.users"
	cat >"$_srv/lighttpd.conf" <<EOF
server.modules = ( "mod_alias", "mod_setenv", "mod_cgi", "mod_auth", "mod_authn_file" )
server.document-root = "$_srv/www"
server.bind = "127.0.0.1"
server.port = $_port
alias.url = ( "/git/" => "/usr/lib/git-core/git-http-backend/",
              "/auth/" => "/usr/lib/git-core/git-http-backend/" )
cgi.assign = ( "" => "" )
setenv.add-environment = (
	"GIT_PROJECT_ROOT" => "$_http_root",
	"GIT_HTTP_EXPORT_ALL" => "1",
	"GIT_CONFIG_COUNT" => "1",
	"GIT_CONFIG_KEY_0" => "http.receivepack",
	"GIT_CONFIG_VALUE_0" => "true"
)
auth.backend = "plain"
auth.backend.plain.userfile = "$_srv/http.users"
auth.require = ( "/auth/" => ( "method" => "basic", "realm" => "mreg-test", "require" => "valid-user" ) )
EOF
	_spawn lighttpd lighttpd -D -f "$_srv/lighttpd.conf"
}

# serve_sshd: sshd with an ed25519 host key of its own, letting in the user
# running the test with a new ed25519 key (libssh2 1.10 cannot sign with
# RSA-SHA2, so no RSA anywhere), by key only
serve_sshd() {
	mkdir -p "$_srv/ssh"
	[ -d /run/sshd ] || mkdir -p -m 0755 /run/sshd
	if [ ! -f "$_srv/ssh/id_ed25519" ]; then
		ssh-keygen -q -t ed25519 -N '' -C mreg-test-host -f "$_srv/ssh/host_ed25519" &&
			ssh-keygen -q -t ed25519 -N '' -C mreg-test-client -f "$_srv/ssh/id_ed25519" &&
			cp "$_srv/ssh/id_ed25519.pub" "$_srv/ssh/authorized_keys" ||
			{ fail "sshd: make the keys"; return 1; }
	fi
	_start sshd _run_sshd || return 1
	SSH_PORT=$_port
	SSH_USER=$(id -un)
	SSH_KEY=$_srv/ssh/id_ed25519
	SSH_KNOWN_HOSTS=$_srv/ssh/known_hosts
	printf '[127.0.0.1]:%s %s\n' "$_port" "$(cut -d' ' -f1,2 "$_srv/ssh/host_ed25519.pub")" >"$SSH_KNOWN_HOSTS"
	SSH_COMMAND="ssh -F /dev/null -i $SSH_KEY -o UserKnownHostsFile=$SSH_KNOWN_HOSTS -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o BatchMode=yes"
	SSH_URL=ssh://$SSH_USER@127.0.0.1:$_port
	if ! $SSH_COMMAND -p "$_port" "$SSH_USER@127.0.0.1" true </dev/null >"$_srv/ssh-check.log" 2>&1; then
		fail "sshd on port $_port: ssh with the test key does not get in"
		sed 's/^/    # /' "$_srv/ssh-check.log" "$_srv/sshd.log" | tail -8
		return 1
	fi
}

_run_sshd() {
	cat >"$_srv/sshd_config" <<EOF
Port $_port
ListenAddress 127.0.0.1
HostKey $_srv/ssh/host_ed25519
PidFile $_srv/sshd.pid
AuthorizedKeysFile $_srv/ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
LogLevel VERBOSE
EOF
	_spawn sshd /usr/sbin/sshd -D -e -f "$_srv/sshd_config"
}

# serve_ssh_agent KEY...: an ssh-agent of the test's own, holding KEY...
serve_ssh_agent() {
	SSH_AGENT_SOCK=$_srv/agent.sock
	rm -f "$SSH_AGENT_SOCK"
	_spawn ssh-agent ssh-agent -D -a "$SSH_AGENT_SOCK"
	_sg=$(cat "$_srv/ssh-agent.pgid")
	_deadline=$(($(date +%s) + SERVER_WAIT))
	while [ ! -S "$SSH_AGENT_SOCK" ]; do
		if ! _alive "$_sg" || [ "$(date +%s)" -ge "$_deadline" ]; then
			fail "ssh-agent: no socket at $SSH_AGENT_SOCK"
			sed 's/^/    # /' "$_srv/ssh-agent.log" | tail -5
			return 1
		fi
		sleep 0.1
	done
	for _k; do
		SSH_AUTH_SOCK=$SSH_AGENT_SOCK ssh-add -q "$_k" </dev/null 2>"$_srv/ssh-add.log" ||
			{ fail "ssh-agent: ssh-add $_k"; sed 's/^/    # /' "$_srv/ssh-add.log"; return 1; }
	done
}

#!/bin/sh
# mreg serve, on 127.0.0.1 (run under ASan in make test): /metrics is what
# mreg metrics prints; /health and its components; the JSON API answers what
# show/list/log --json say, and follows the registry without a restart (a
# write, a git reset, a sync); bad requests (unknown paths, bad ids and
# versions, POST, a body, huge headers, garbage, a slow client) get 4xx or a
# closed connection and the server keeps answering; the bearer token; a
# listen address that is not loopback warns; SIGTERM stops it, exit 0. A real
# Prometheus (Debian's) scrapes it and its query API sees the writes.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/servers.sh"
command -v curl >/dev/null || { fail "curl is not installed"; finish; }

R=$T/reg
new_registry_full "$R"
for f in a b c; do model_file "$T/$f.pt"; done
check "register sq:1 in staging" "$MREG" -C "$R" register sq "$T/a.pt" --stage staging --metric elo=1600
check "promote sq:1 to production" "$MREG" -C "$R" promote sq:1 --to production -r "passed evaluation"
check "register sq:2" "$MREG" -C "$R" register sq "$T/b.pt"

_run_serve() { _spawn mreg-serve "$MREG" -C "$R" serve --listen "127.0.0.1:$_port" --parity-every 1 --timeout 2; }
_start mreg-serve _run_serve && ok "mreg serve listens"
P=${_port:-1}
U=http://127.0.0.1:$P

# get PATH: body into $T/body, the status code printed
get() {
	curl -s -o "$T/body" -w '%{http_code}' "$@" 2>/dev/null
}

expect_eq "GET /metrics" "$(get "$U/metrics")" 200
check "mreg metrics" "$MREG" -C "$R" metrics
expect_eq "/metrics is what mreg metrics prints (but the parity check's time)" \
	"$(grep -v '^mreg_parity' "$T/body")" "$(grep -v '^mreg_parity' "$T/.out")"
expect_eq "GET /health" "$(get "$U/health")" 200
expect_eq "/health: healthy, its three components" \
	"$(jq -c '[.status, (.components | keys)]' "$T/body")" '["healthy",["model_registry","parity_validation","registry_sync"]]'
expect_eq "GET /api/v1/models" "$(get "$U/api/v1/models")" 200
expect_eq "models: sq with 2 versions, 1 in production" \
	"$(jq -c '[.[] | [.model_id, .version_count, .production_version]]' "$T/body")" '[["sq",2,1]]'
expect_eq "GET /api/v1/models/sq/versions/1" "$(get "$U/api/v1/models/sq/versions/1")" 200
check "show sq:1 --json" "$MREG" -C "$R" show sq:1 --json
expect_eq "a version is what show --json says" "$(jq -S . "$T/body")" "$(jq -S . "$T/.out")"
expect_eq "GET /api/v1/models/sq" "$(get "$U/api/v1/models/sq")" 200
expect_eq "one model: its versions" "$(jq -c '[.model_id, [.versions[].version]]' "$T/body")" '["sq",[1,2]]'
expect_eq "GET /api/v1/production" "$(get "$U/api/v1/production")" 200
check "list --stage production --json" "$MREG" -C "$R" list --stage production --json
expect_eq "production is what list --stage production --json says" "$(jq -S . "$T/body")" "$(jq -S . "$T/.out")"
expect_eq "GET /api/v1/events" "$(get "$U/api/v1/events")" 200
check "log --json" "$MREG" -C "$R" log --json
expect_eq "events are what log --json says" "$(jq -S . "$T/body")" "$(jq -S . "$T/.out")"
first=$(jq -r '.[0].id' "$T/.out")
expect_eq "GET /api/v1/events?since=FIRST&limit=1" "$(get "$U/api/v1/events?since=$first&limit=1")" 200
expect_eq "events after the first, one of them" "$(jq -c '[.[].id]' "$T/body")" "$(jq -c '[.[1].id]' "$T/.out")"

# the registry moves: the server follows, without a restart
check "register sq:3 while it serves" "$MREG" -C "$R" register sq "$T/c.pt"
expect_eq "after a write: /api/v1/models/sq/versions/3" "$(get "$U/api/v1/models/sq/versions/3")" 200
expect_eq "after a write: sq has 3 versions" "$(get "$U/api/v1/models" >/dev/null; jq -c '.[0].version_count' "$T/body")" 3
git -C "$R" reset -q --hard HEAD~1
n=0
while [ "$(jq -r .tree "$R/state/registry.json")" != "$(git -C "$R" rev-parse 'HEAD^{tree}')" ] && [ $n -lt 100 ]; do
	sleep 0.1
	n=$((n + 1))
done
expect_eq "after git reset: the server refreshed the state files by itself (inotify)" \
	"$(jq -r .tree "$R/state/registry.json")" "$(git -C "$R" rev-parse 'HEAD^{tree}')"
expect_eq "after git reset: sq:3 is gone" "$(get "$U/api/v1/models/sq/versions/3")" 404
N=$T/node
check "a node clones the registry" "$MREG" clone "$R" "$N"
check "the node promotes sq:2 to staging" "$MREG" -C "$N" promote sq:2 --to staging
check "the registry syncs from the node" sh -c "'$MREG' -C '$R' remote add node '$N' && '$MREG' -C '$R' sync --no-backup node"
expect_eq "after a sync: sq:2 in staging" "$(get "$U/api/v1/models/sq/versions/2" >/dev/null; jq -r .stage "$T/body")" staging
expect_eq "after a sync: /health lists the remote" \
	"$(get "$U/health" >/dev/null; jq -c '[.components.registry_sync.remotes[] | [.name, .status, .breaker]]' "$T/body")" \
	'[["node","healthy","closed"]]'
# the parity check ran in the background
n=0
while [ "$(get "$U/health" >/dev/null; jq -r .components.parity_validation.status "$T/body")" = unknown ] && [ $n -lt 100 ]; do
	sleep 0.2
	n=$((n + 1))
done
expect_eq "the parity check ran in the background: healthy" "$(jq -r .components.parity_validation.status "$T/body")" healthy

# bad requests: 4xx or a closed connection, and the server answers on
expect_eq "unknown path" "$(get "$U/nope")" 404
expect_eq "unknown API path" "$(get "$U/api/v1/nope")" 404
expect_eq "a model id that is not one" "$(get "$U/api/v1/models/..%2F..%2Fetc")" 404
expect_eq "a path outside the registry" "$(get --path-as-is "$U/api/v1/models/../../../../etc/passwd")" 404
expect_eq "no such model" "$(get "$U/api/v1/models/nope")" 404
expect_eq "version 0" "$(get "$U/api/v1/models/sq/versions/0")" 404
expect_eq "version not a number" "$(get "$U/api/v1/models/sq/versions/x1")" 404
expect_eq "version 99" "$(get "$U/api/v1/models/sq/versions/99")" 404
expect_eq "limit out of range" "$(get "$U/api/v1/events?limit=0")" 400
expect_eq "since not an event id" "$(get "$U/api/v1/events?since=zz")" 400
expect_eq "since an unknown event" "$(get "$U/api/v1/events?since=00000000000000000000000000000000")" 404
expect_eq "POST" "$(get -X POST "$U/metrics")" 405
case $(get -X GET --data-binary @"$T/a.pt" "$U/metrics") in 413 | 000) ok "a body: 413 or closed" ;; *) fail "a body: 413 or closed" ;; esac
expect_eq "a huge header" "$(get -H "X-Big: $(head -c 60000 /dev/zero | tr '\0' a)" "$U/metrics")" 431
/usr/bin/python3 - "$P" <<'PYEOF' >"$T/raw.out" 2>&1
import socket, sys, time
port = int(sys.argv[1])
def send(data, wait=0.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if wait:
        time.sleep(wait)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        reply = s.recv(200)
    except OSError:
        reply = b""
    s.close()
    return reply.split(b"\r\n")[0].decode("latin-1")
print("garbage:", send(b"\x00\x01\x02 not http at all\r\n\r\n"))
print("bad version:", send(b"GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n"))
print("no host:", send(b"GET /metrics HTTP/1.1\r\n\r\n"))
# a slow client: connects and says nothing; the server closes after its timeout (2 s)
s = socket.create_connection(("127.0.0.1", port), timeout=30)
t0 = time.time()
closed = s.recv(10) == b""
print("slow client closed:", closed)
PYEOF
expect_eq "garbage: 400 or closed; a bad version: 505; a silent client closed" \
	"$(sed -E 's/HTTP\/1\.[01] ([0-9]{3}).*/\1/; s/: $/: closed/; s/^garbage: (400|closed)$/garbage: 400 or closed/' "$T/raw.out" | grep -v '^no host')" \
	"$(printf 'garbage: 400 or closed\nbad version: 505\nslow client closed: True')"
expect_eq "after all that: it still answers" "$(get "$U/api/v1/models")" 200
stop_servers

# a token; not loopback warns
echo "s3cret-token" >"$T/token"
_run_serve() { _spawn mreg-serve "$MREG" -C "$R" serve --listen "127.0.0.1:$_port" --token-file "$T/token"; }
_start mreg-serve _run_serve && ok "mreg serve with a token file"
U=http://127.0.0.1:${_port:-1}
expect_eq "no token: 401" "$(get "$U/metrics")" 401
expect_eq "a wrong token: 401" "$(get -H 'Authorization: Bearer s3cret-tokeX' "$U/metrics")" 401
expect_eq "the token: 200" "$(get -H 'Authorization: Bearer s3cret-token' "$U/metrics")" 200
stop_servers
git -C "$R" config mreg.serveToken from-config
_run_serve() { _spawn mreg-serve "$MREG" -C "$R" serve --listen "0.0.0.0:$_port"; }
_start mreg-serve _run_serve && ok "mreg serve on 0.0.0.0"
U=http://127.0.0.1:${_port:-1}
expect_eq "mreg.serveToken: required" "$(get "$U/health") $(get -H 'Authorization: Bearer from-config' "$U/health")" "401 200"
grep -q "^mreg: warning: serving on 0.0.0.0:[0-9]*, not loopback" "$T/servers/mreg-serve.log" &&
	ok "not loopback: a warning" || fail "not loopback: a warning"
stop_servers
git -C "$R" config --unset mreg.serveToken
expect_fail "an invalid --listen" 2 "invalid --listen 'localhost'" "$MREG" -C "$R" serve --listen localhost
expect_fail "a token file that is not there" 1 "token file" "$MREG" -C "$R" serve --listen 127.0.0.1:1 --token-file "$T/none"

# SIGTERM: a clean stop
port=$(free_port)
"$MREG" -C "$R" serve --listen "127.0.0.1:$port" >"$T/serve.out" 2>"$T/serve.err" &
pid=$!
n=0
while [ "$(get "http://127.0.0.1:$port/health")" != 200 ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
kill -TERM "$pid"
wait "$pid"
expect_eq "SIGTERM: exit 0" "$?" 0
expect_eq "SIGTERM: said so" "$(tail -1 "$T/serve.err")" "mreg: serve: stopped by SIGTERM"

# a real Prometheus scrapes it
if command -v prometheus >/dev/null; then
	_run_serve() { _spawn mreg-serve "$MREG" -C "$R" serve --listen "127.0.0.1:$_port"; }
	_start mreg-serve _run_serve && ok "mreg serve for Prometheus"
	SP=${_port:-1}
	_run_prom() {
		cat >"$T/prometheus.yml" <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: mreg
    static_configs:
      - targets: ['127.0.0.1:$SP']
YML
		_spawn prometheus prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom-data" \
			--web.listen-address="127.0.0.1:$_port"
	}
	_start prometheus _run_prom && ok "prometheus listens"
	PQ=http://127.0.0.1:${_port:-1}/api/v1/query
	# query EXPR WANT: poll Prometheus until EXPR's one value is WANT (a scrape a second)
	query() {
		_n=0
		while [ $_n -lt 150 ]; do
			_got=$(curl -s --data-urlencode "query=$1" "$PQ" | jq -r '.data.result[0].value[1] // "none"')
			[ "$_got" = "$2" ] && break
			sleep 0.2
			_n=$((_n + 1))
		done
		expect_eq "prometheus: $1" "$_got" "$2"
	}
	query 'up{job="mreg"}' 1
	query 'ringrift_model_registry_count{stage="production"}' 1
	check "promote sq:2 to production" "$MREG" -C "$R" promote sq:2 --to production
	query 'ringrift_model_registry_promotions_total{from_stage="staging",to_stage="production"}' 2
	query 'ringrift_model_registry_count{stage="archived"}' 1
	check "rollback sq to 1" "$MREG" -C "$R" rollback sq --to 1 --trigger manual
	query 'ringrift_model_rollbacks_total{model_id="sq",trigger="manual"}' 1
	query 'ringrift_production_model_elo{model_id="sq"}' 1600
	query 'mreg_sync_up{remote="node"}' 1
	# every expression of the dashboard and the alert rules, as Prometheus evaluates them now
	D=$(cd "$TESTDATA/.." && pwd)
	if /usr/bin/python3 "$D/tests/dashboard/promql.py" rules "$D/deploy/grafana/model-registry-dashboard.json" \
		"$D/deploy/prometheus/mreg-alerts.yml" >"$T/rules.yml" 2>"$T/rules.err"; then
		/usr/bin/python3 - "$T/rules.yml" "$PQ" "127.0.0.1:$SP" >"$T/panels.out" 2>&1 <<'PYIN'
import json, sys, urllib.parse, urllib.request
import yaml
rules = yaml.safe_load(open(sys.argv[1]))
exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
for e in exprs:
    e = e.replace("127.0.0.1:9464", sys.argv[3])
    with urllib.request.urlopen(sys.argv[2] + "?" + urllib.parse.urlencode({"query": e})) as r:
        d = json.load(r)
    state = "error" if d["status"] != "success" else ("data" if d["data"]["result"] else "empty")
    print(state, e)
PYIN
		expect_eq "every dashboard and alert expression evaluates in Prometheus" "$(grep -c '^error' "$T/panels.out")" 0
		expect_eq "the panels on versions by stage have data" \
			"$(grep -c '^empty .*ringrift_model_registry_count' "$T/panels.out") $(grep -c '^data .*ringrift_model_registry_count' "$T/panels.out" | awk '$1 > 0 { print "some" }')" "0 some"
		expect_eq "the sync panels have data" "$(grep '^[a-z]* .*mreg_sync_up' "$T/panels.out" | grep -vc '^data')" 0
	else
		fail "the dashboard's expressions"; sed 's/^/    # /' "$T/rules.err" | head -3
	fi
	stop_servers
else
	fail "prometheus is not installed (sh .ci/deps installs it)"
fi
finish

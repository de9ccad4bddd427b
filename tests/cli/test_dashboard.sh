#!/bin/sh
# deploy/grafana and deploy/prometheus: the dashboard is what Grafana's
# published schema says a dashboard is (type-checked against @grafana/schema
# with tsc --strict), every PromQL expression of the dashboard and of the
# alert rules parses (promtool check rules), every metric they name is one
# `mreg metrics` prints, that output passes promtool's lint but for the one
# name the original chose (ringrift_model_registry_count, a gauge ending in
# _count), and the Prometheus and Grafana provisioning files are what they
# say. Each check is also run on a broken copy, which it must refuse.
#
# @grafana/schema and typescript come from the npm registry, pinned, into
# build/npm-grafana/ of this checkout, once: later runs reuse them.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$TESTDATA/.." && pwd)	# lib.sh has moved into a temporary directory
DASH=$ROOT/deploy/grafana/model-registry-dashboard.json
ALERTS=$ROOT/deploy/prometheus/mreg-alerts.yml
PROM=$ROOT/deploy/prometheus/prometheus.yml
PROV=$ROOT/deploy/grafana/provisioning
HELPERS=$ROOT/tests/dashboard
PY=/usr/bin/python3
"$PY" -c 'import yaml' 2>/dev/null || { fail "$PY cannot import yaml (Debian package python3-yaml; sh .ci/deps installs it)"; finish; }
command -v promtool >/dev/null || { fail "promtool is not installed (sh .ci/deps installs it)"; finish; }
command -v jq >/dev/null || { fail "jq is not installed (sh .ci/deps installs it)"; finish; }
command -v npm >/dev/null && command -v node >/dev/null ||
	{ fail "npm and node are not installed (Debian package npm; sh .ci/deps installs it)"; finish; }

# ---- the dashboard's own promises ------------------------------------------
j() { jq -r "$1" "$DASH"; }
expect_eq "uid" "$(j .uid)" ringrift-model-registry
expect_eq "title" "$(j .title)" "RingRift Model Registry & Optimization"
expect_eq "refreshes every 30 s" "$(j .refresh)" 30s
expect_eq "schemaVersion of Grafana 10.4 and 11" "$(j .schemaVersion)" 39
expect_eq "a data source variable of type prometheus" \
	"$(j '[.templating.list[] | select(.type == "datasource") | "\(.name)=\(.query)"] | join(",")')" datasource=prometheus
expect_eq "every panel, target and annotation queries the variable's data source" \
	"$(j '[(.panels[] | select(.type != "row") | .datasource.uid, .targets[].datasource.uid),
		(.annotations.list[] | select(.builtIn != 1) | .datasource.uid)] | unique | join(",")')" '${datasource}'
expect_eq "panel ids are unique" "$(j '[.panels[].id] | length == (unique | length)')" true
check "panels lie within the 24 columns and do not overlap" "$PY" "$HELPERS/grid.py" "$DASH"
titles=$(j '[.panels[].title] | join("|")')
for t in "Models by stage" Production Staging Development "Promotions to production (24h)" "Promotion activity" \
	"Best fitness by config" "CMA-ES runs and generations" "Fitness leaderboard" "CMA-ES runs per hour" \
	"Rollback history" "Rollbacks waiting for approval" "Production Elo vs baseline" Parity \
	"Since the last parity check" "Versions by validation status" "Sync by remote" "Circuit breaker" \
	"Since the last successful sync" "Events received per hour" "Backups kept" "Since the last backup" \
	"Last backup size" "Events per hour by type" Conflicts "Quarantined event files" "State files" "mreg version"; do
	case "|$titles|" in
	*"|$t|"*) ok "panel '$t'" ;;
	*) fail "panel '$t'" ;;
	esac
done
expect_eq "promotions to production in 24 h, as the original counted them" \
	"$(j '.panels[] | select(.title == "Promotions to production (24h)") | .targets[0].expr')" \
	'sum(increase(ringrift_model_registry_promotions_total{to_stage="production", instance="$instance"}[24h]))'
expect_eq "annotations on changes of the promotion, CMA-ES and rollback counters" \
	"$(j '[.annotations.list[] | select(.builtIn != 1) | .expr | capture("^changes\\((?<m>[a-z_]+)\\{") | .m] | join(",")')" \
	ringrift_model_registry_promotions_total,ringrift_cmaes_runs_total,ringrift_model_rollbacks_total

# ---- a. Grafana's schema ---------------------------------------------------
# The pins: Grafana 11's Dashboard, Panel and panel option types, and 10.4's
# Prometheus query type (11 publishes none); see tests/dashboard/dashboard-types.ts.
NPMDIR=$ROOT/build/npm-grafana
PKG='{
  "private": true,
  "dependencies": {
    "@grafana/schema": "11.6.16",
    "grafana-schema-10": "npm:@grafana/schema@10.4.19",
    "typescript": "5.9.3"
  }
}'
if [ -f "$NPMDIR/.installed" ] && [ "$(cat "$NPMDIR/package.json" 2>/dev/null)" = "$PKG" ]; then
	ok "@grafana/schema and typescript already in build/npm-grafana"
else
	# installed beside it and renamed into place: a run killed halfway leaves nothing to reuse
	tmp=$ROOT/build/npm-grafana.$$
	rm -rf "$tmp" && mkdir -p "$tmp" && printf '%s\n' "$PKG" >"$tmp/package.json"
	if (cd "$tmp" && npm install --no-audit --no-fund --ignore-scripts --no-package-lock --no-update-notifier \
		--cache "$T/npm-cache" --fetch-retries 1 --fetch-retry-mintimeout 2000 --fetch-retry-maxtimeout 10000) \
		>"$T/npm.log" 2>&1; then
		touch "$tmp/.installed" && rm -rf "$NPMDIR" && mv "$tmp" "$NPMDIR"
		ok "@grafana/schema and typescript installed from the npm registry into build/npm-grafana"
	else
		rm -rf "$tmp"
		fail "npm could not install @grafana/schema and typescript from the npm registry (is it reachable?); npm said:"
		{ grep -E '^npm error (code |[0-9]{3} |.*reason: )' "$T/npm.log" || tail -3 "$T/npm.log"; } | head -3 | sed 's/^/    # /'
		finish
	fi
fi
ln -s "$NPMDIR/node_modules" "$T/node_modules"

# tsc_check FILE.json: type-check it as an MregDashboard; tsc's errors in $T/.err
tsc_check() {
	{
		cat "$HELPERS/dashboard-types.ts"
		printf '\nexport const dashboard: MregDashboard = '
		cat "$1"
		printf ';\n'
	} >"$T/check.ts"
	node "$NPMDIR/node_modules/typescript/bin/tsc" --noEmit --strict --target es2022 --module esnext \
		--moduleResolution bundler "$T/check.ts" >"$T/.err" 2>&1
}
if tsc_check "$DASH"; then ok "the dashboard type-checks against @grafana/schema"; else
	fail "the dashboard type-checks against @grafana/schema"; head -20 "$T/.err" | sed 's/^/    # /'; fi

# broken BREAK CODE DESC: a copy of the dashboard changed by jq filter BREAK
# must fail the same check with TypeScript error CODE
broken() {
	jq "$1" "$DASH" >"$T/broken.json" || { fail "make a broken copy: $3"; return; }
	if tsc_check "$T/broken.json"; then fail "refused: $3"
	elif grep -q "error $2:" "$T/.err"; then ok "refused: $3 ($2)"
	else fail "refused: $3: not with $2"; head -3 "$T/.err" | sed 's/^/    # /'; fi
}
broken '(.panels[] | select(.title == "Production")).gridPos = "0 1 4 4"' TS2322 "a panel's gridPos a string"
broken '.style = "dark"' TS2353 "a top-level field the schema does not have"
broken '(.panels[] | select(.title == "Production")).options.colorMode = "rainbow"' TS2322 \
	"a stat panel's colorMode none of its values"
broken '(.panels[] | select(.title == "Models by stage")).targets[0].legend = "{{stage}}"' TS2353 \
	"a target field Prometheus's query does not have"

# ---- b. every expression parses ----------------------------------------------
check "a rule per expression of the dashboard and the alert rules" "$PY" "$HELPERS/promql.py" rules "$DASH" "$ALERTS"
mv "$T/.out" "$T/rules.yml"
n=$(grep -c '^  - record:' "$T/rules.yml")
expect_eq "one rule per panel target, annotation, query variable and alert" "$n" \
	"$(($(j '[.panels[].targets[]?] | length') + $(j '[.annotations.list[] | select(.expr)] | length') +
		$(j '[.templating.list[] | select(.type == "query")] | length') + $(grep -c '^ *- alert:' "$ALERTS")))"
check "promtool check rules parses every expression" promtool check rules "$T/rules.yml"
grep -q "SUCCESS: $n rules found" "$T/.out" && ok "promtool found $n rules" || fail "promtool found $n rules"

jq '(.panels[] | select(.title == "Models by stage")).targets[0].expr |= "sum by (stage) ((" + .' "$DASH" >"$T/broken.json"
"$PY" "$HELPERS/promql.py" rules "$T/broken.json" "$ALERTS" >"$T/broken-rules.yml"
if promtool check rules "$T/broken-rules.yml" >"$T/.out" 2>&1; then
	fail "promtool refuses an unbalanced parenthesis"
elif grep -q "could not parse expression" "$T/.out"; then
	ok "promtool refuses an unbalanced parenthesis"
else
	fail "promtool refuses an unbalanced parenthesis: not as a parse error"; sed 's/^/    # /' "$T/.out" | head -3
fi
jq '(.panels[] | select(.title == "Production")).targets[0].expr |= sub("\\$instance"; "$instnace")' "$DASH" >"$T/broken.json"
expect_fail "a variable Grafana would not replace is refused" 1 "^promql.py: panel 'Production' target A: unknown variable '\\\$instnace'" \
	"$PY" "$HELPERS/promql.py" rules "$T/broken.json" "$ALERTS"

# ---- c. every metric named is one mreg metrics prints ------------------------
R=$T/reg
new_registry "$R"
model_file m1.pt
model_file m2.pt
model_file m3.pt
printf '{"weights": {"material": 1.5, "position": 0.8}}\n' >w.json
check "register square8_2p:1" "$MREG" -C "$R" register square8_2p m1.pt --metric elo=1500 --metric games_played=100
check "register square8_2p:2" "$MREG" -C "$R" register square8_2p m2.pt --metric elo=1560 --metric games_played=200
check "register hex8_2p:1" "$MREG" -C "$R" register hex8_2p m3.pt --metric elo=1400
check "square8_2p:1 to staging" "$MREG" -C "$R" promote square8_2p:1 --to staging -r "passed dev tests"
check "square8_2p:1 to production" "$MREG" -C "$R" promote square8_2p:1 --to production -r "passed evaluation"
check "square8_2p:2 to staging" "$MREG" -C "$R" promote square8_2p:2 --to staging
check "square8_2p:2 to production, square8_2p:1 archived" "$MREG" -C "$R" promote square8_2p:2 --to production
check "a baseline for square8_2p" "$MREG" -C "$R" baseline set square8_2p --elo 1600
check "a rollback of square8_2p to 1" "$MREG" -C "$R" rollback square8_2p -r "Elo dropped"
check "a baseline for square8_2p:1" "$MREG" -C "$R" baseline set square8_2p --elo 1520
check "a CMA-ES run" "$MREG" -C "$R" cmaes register w.json --board square8 --players 2 --fitness 0.75 --generation 10
git clone -q --bare "$R" "$T/hub.git"
check "a remote" "$MREG" -C "$R" remote add hub "$T/hub.git"
check "a sync with it" "$MREG" -C "$R" sync hub
check "a backup" "$MREG" -C "$R" backup create -r dashboard
check "fsck" "$MREG" -C "$R" fsck
check "mreg metrics" "$MREG" -C "$R" metrics
mv "$T/.out" "$T/metrics.txt"
if [ -s "$T/metrics.txt" ]; then
	check "the metric names of the dashboard and the alert rules" "$PY" "$HELPERS/promql.py" names "$DASH" "$ALERTS"
	expect_eq "they name $(grep -c . "$T/.out") metrics, all of the ringrift_ or mreg_ family" \
		"$(grep -cvE '^(ringrift|mreg)_' "$T/.out")" 0
	check "the names mreg metrics prints that nothing shows" "$PY" "$HELPERS/promql.py" unused "$T/metrics.txt" "$DASH" "$ALERTS"
	expect_eq "every metric mreg metrics prints is on the dashboard or in an alert rule" "$(cat "$T/.out")" ""
	check "the names mreg metrics does not print" "$PY" "$HELPERS/promql.py" missing "$T/metrics.txt" "$DASH" "$ALERTS"
	expect_eq "mreg metrics prints every metric the dashboard and the alert rules name" "$(cat "$T/.out")" ""
	jq '(.panels[] | select(.title == "Production")).targets[0].expr |= sub("registry_count"; "registry_cnt")' \
		"$DASH" >"$T/broken.json"
	"$PY" "$HELPERS/promql.py" missing "$T/metrics.txt" "$T/broken.json" "$ALERTS" >"$T/.out"
	expect_eq "a name mreg metrics does not print is found" "$(cat "$T/.out")" \
		"ringrift_model_registry_cnt (panel 'Production' target A)"

	# ---- d. promtool's lint of mreg metrics ---------------------------------
	promtool check metrics <"$T/metrics.txt" >"$T/lint.out" 2>"$T/lint.err"
	expect_eq "promtool check metrics: exit 3, lint problems (1 would be a parse error)" "$?" 3
	expect_eq "its one problem is the original's name ringrift_model_registry_count" "$(cat "$T/lint.out" "$T/lint.err")" \
		'ringrift_model_registry_count non-histogram and non-summary metrics should not have "_count" suffix'
else
	fail "mreg metrics printed nothing: the metric names and promtool's lint cannot be checked"
fi

# ---- deploy/prometheus/prometheus.yml -----------------------------------------
check "promtool check config prometheus.yml, and the alert rules it loads" promtool check config "$PROM"
grep -q "SUCCESS: 3 rules found" "$T/.out" && ok "prometheus.yml loads mreg-alerts.yml's three rules" ||
	fail "prometheus.yml loads mreg-alerts.yml's three rules"
# y FILE EXPR: the Python expression EXPR over the YAML document d of FILE
y() { "$PY" -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
expect_eq "it scrapes mreg serve on 127.0.0.1:9464/metrics" \
	"$(y "$PROM" '[(c["metrics_path"], c["static_configs"][0]["targets"]) for c in d["scrape_configs"]]')" \
	"[('/metrics', ['127.0.0.1:9464'])]"

# ---- deploy/grafana/provisioning -----------------------------------------------
expect_eq "a file provider of dashboards" \
	"$(y "$PROV/dashboards/mreg.yml" '[(d["apiVersion"], p["type"], p["options"]["path"]) for p in d["providers"]]')" \
	"[(1, 'file', '/var/lib/grafana/dashboards/mreg')]"
expect_eq "a Prometheus data source on 127.0.0.1:9090" \
	"$(y "$PROV/datasources/prometheus.yml" '[(d["apiVersion"], s["type"], s["url"]) for s in d["datasources"]]')" \
	"[(1, 'prometheus', 'http://127.0.0.1:9090')]"
finish

#!/bin/sh
# mreg metrics: the Prometheus text format, checked by the stock promtool on
# every registry here, never empty; the original's series with its names,
# types and labels (the values counted from the log: the true best fitness,
# not the latest; promotions by from and to; rollbacks by model and trigger;
# production and baseline Elo); mreg's own (versions, events by type,
# validations, sync per remote with its breaker, backups, the last parity
# check); the same numbers on a node that synced the same events; the
# prefix from git config mreg.metricsPrefix; --textfile written atomically.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
command -v promtool >/dev/null || { fail "promtool is not installed (sh .ci/deps installs it)"; finish; }

# lint DESC FILE: promtool check metrics raises nothing but the one expected lint on the original's _count gauge
lint() {
	promtool check metrics <"$2" >"$T/lint.out" 2>&1
	expect_eq "$1: promtool's lints" "$(grep -v '^$' "$T/lint.out")" \
		"$(sed -n 's/^# TYPE \(.*_count\) gauge$/\1 non-histogram and non-summary metrics should not have "_count" suffix/p' "$2")"
}

# val FILE SERIES: the value of one sample, by its name and labels as written
val() {
	awk -v s="$2" '$1 == s { print $2 }' "$1"
}

R=$T/reg
new_registry "$R"
check "metrics of an empty registry" "$MREG" -C "$R" metrics
cp "$T/.out" "$T/empty.prom"
expect_eq "an empty registry: never empty output" "$(grep -c '^# TYPE' "$T/empty.prom" | awk '$1 > 20 { print "many" }')" many
lint "empty registry" "$T/empty.prom"
expect_eq "empty: five stages at zero" "$(grep -c '^ringrift_model_registry_count{stage="[a-z]*"} 0$' "$T/empty.prom")" 5

for f in a b c d; do model_file "$T/$f.pt"; done
echo '{"w": [1, 2, 3]}' >"$T/w.json"
check "register sq:1 in staging" "$MREG" -C "$R" register sq "$T/a.pt" --stage staging --metric elo=1600
check "register sq:2 in staging" "$MREG" -C "$R" register sq "$T/b.pt" --stage staging --metric elo=1500
check "promote sq:1 to production" "$MREG" -C "$R" promote sq:1 --to production
check "promote sq:2 to production (sq:1 archived)" "$MREG" -C "$R" promote sq:2 --to production
check "rollback of sq to 1" "$MREG" -C "$R" rollback sq --to 1 -r regressed --trigger elo_drop
check "baseline of sq (a rollback ends the one before)" "$MREG" -C "$R" baseline set sq --elo 1550 --win-rate 0.6 --games 100
check "cmaes run 1 (fitness 0.6)" "$MREG" -C "$R" cmaes register "$T/w.json" --board square8 --players 2 --fitness 0.6 --generation 10 --no-auto-promote
check "cmaes run 2 (fitness 0.7, the best)" "$MREG" -C "$R" cmaes register "$T/w.json" --board square8 --players 2 --fitness 0.7 --generation 20 --no-auto-promote
check "cmaes run 3 (fitness 0.65, the latest)" "$MREG" -C "$R" cmaes register "$T/w.json" --board square8 --players 2 --fitness 0.65 --generation 5 --no-auto-promote
check "validation of sq:2" "$MREG" -C "$R" validation sq:2 create
check "a backup" "$MREG" -C "$R" backup create
check "fsck records a parity check" "$MREG" -C "$R" fsck
check "metrics" "$MREG" -C "$R" metrics
cp "$T/.out" "$T/m.prom"
lint "a registry of every kind of event" "$T/m.prom"
for family in ringrift_model_registry_count:gauge ringrift_model_registry_registrations_total:counter \
	ringrift_model_registry_promotions_total:counter ringrift_cmaes_runs_total:counter \
	ringrift_cmaes_best_fitness:gauge ringrift_cmaes_generations_total:counter ringrift_model_rollbacks_total:counter \
	ringrift_production_model_elo:gauge ringrift_production_model_baseline_elo:gauge; do
	expect_eq "the original's ${family%:*} is a ${family#*:}" "$(grep -c "^# TYPE ${family%:*} ${family#*:}$" "$T/m.prom")" 1
done
expect_eq "count: production 1, archived 1" \
	"$(val "$T/m.prom" 'ringrift_model_registry_count{stage="production"}') $(val "$T/m.prom" 'ringrift_model_registry_count{stage="archived"}')" "1 1"
expect_eq "registrations of sq" "$(val "$T/m.prom" 'ringrift_model_registry_registrations_total{config="sq"}')" 2
expect_eq "promotions staging -> production" \
	"$(val "$T/m.prom" 'ringrift_model_registry_promotions_total{from_stage="staging",to_stage="production"}')" 2
expect_eq "promotions production -> archived: the replaced one, not the rollback's" \
	"$(val "$T/m.prom" 'ringrift_model_registry_promotions_total{from_stage="production",to_stage="archived"}')" 1
expect_eq "rollbacks by model and trigger" "$(val "$T/m.prom" 'ringrift_model_rollbacks_total{model_id="sq",trigger="elo_drop"}')" 1
expect_eq "cmaes runs" "$(val "$T/m.prom" 'ringrift_cmaes_runs_total{config="heuristic_square8_2p",board_type="square8"}')" 3
expect_eq "cmaes best fitness: the best, not the latest" \
	"$(val "$T/m.prom" 'ringrift_cmaes_best_fitness{config="heuristic_square8_2p",board_type="square8"}')" 0.69999999999999996
expect_eq "cmaes generations" "$(val "$T/m.prom" 'ringrift_cmaes_generations_total{config="heuristic_square8_2p"}')" 35
expect_eq "production Elo: sq:1 after the rollback" "$(val "$T/m.prom" 'ringrift_production_model_elo{model_id="sq"}')" 1600
expect_eq "baseline Elo" "$(val "$T/m.prom" 'ringrift_production_model_baseline_elo{model_id="sq"}')" 1550
expect_eq "events by type: promotions" "$(val "$T/m.prom" 'mreg_events_total{type="version.promoted"}')" 2
expect_eq "events by type: rollbacks" "$(val "$T/m.prom" 'mreg_events_total{type="rollback"}')" 1
expect_eq "versions of sq in production" "$(val "$T/m.prom" 'mreg_versions{model_id="sq",stage="production"}')" 1
expect_eq "validations pending (policy-value versions registered in staging)" "$(val "$T/m.prom" 'mreg_validations{status="pending"}')" 2
expect_eq "validations: none for the CMA-ES runs" "$(val "$T/m.prom" 'mreg_validations{status="none"}')" 3
expect_eq "backups" "$(val "$T/m.prom" mreg_backups)" 1
expect_eq "the last parity check passed" "$(val "$T/m.prom" mreg_parity_ok)" 1
expect_eq "build info" "$(grep -c '^mreg_build_info{version="[0-9.]*"} 1$' "$T/m.prom")" 1
expect_eq "no version number is a label" "$(grep -c 'version="[0-9]*"' "$T/m.prom")" 0
expect_eq "every mreg counter ends in _total" "$(grep '^# TYPE mreg_.* counter$' "$T/m.prom" | grep -vc '_total counter$')" 0

# a node that synced the same events: the same counts of them
N=$T/node
check "a node joins" "$MREG" clone "$R" "$N"
check "the node's metrics" "$MREG" -C "$N" metrics
cp "$T/.out" "$T/n.prom"
lint "a node after a sync" "$T/n.prom"
expect_eq "the node counts what the registry counts (the original's series)" \
	"$(grep '^ringrift_' "$T/n.prom")" "$(grep '^ringrift_' "$T/m.prom")"
expect_eq "the node: its remote is up, breaker closed" \
	"$(val "$T/n.prom" 'mreg_sync_up{remote="origin"}') $(val "$T/n.prom" 'mreg_sync_breaker_state{remote="origin",state="closed"}')" "1 1"
expect_eq "the node: events received" "$(val "$T/n.prom" 'mreg_sync_events_received_total{remote="origin"}')" \
	"$(val "$T/m.prom" 'mreg_events_total{type="version.registered"}' | awk -v f="$T/m.prom" '{ s = 0; while ((getline l < f) > 0) if (l ~ /^mreg_events_total/) { split(l, a, " "); s += a[2] } print s }')"
# a damaged fsck: the next metrics say so
echo junk >"$N/state/registry.json"
"$MREG" -C "$N" fsck >/dev/null 2>&1
check "metrics after a fsck that found problems" "$MREG" -C "$N" metrics
expect_eq "parity: not ok" "$(val "$T/.out" mreg_parity_ok)" 0

# the prefix, and a bad one
git -C "$R" config mreg.metricsPrefix acme
check "metrics with mreg.metricsPrefix acme" "$MREG" -C "$R" metrics
expect_eq "the original's series under acme_" "$(grep -c '^# TYPE acme_' "$T/.out") $(grep -c '^# TYPE ringrift_' "$T/.out")" "9 0"
expect_eq "mreg's own keep mreg_" "$(grep -c '^# TYPE mreg_build_info gauge$' "$T/.out")" 1
git -C "$R" config mreg.metricsPrefix '9bad-prefix'
expect_fail "an invalid prefix" 1 "^mreg: invalid mreg.metricsPrefix '9bad-prefix'" "$MREG" -C "$R" metrics
git -C "$R" config --unset mreg.metricsPrefix

# --textfile: written whole, by rename
check "metrics --textfile" "$MREG" -C "$R" metrics --textfile "$T/collector/mreg.prom"
expect_fail "metrics --textfile under a file" 1 "^mreg: .*a\.pt" "$MREG" -C "$R" metrics --textfile "$T/a.pt/mreg.prom"
expect_eq "the textfile is what metrics prints" "$(cat "$T/collector/mreg.prom")" "$(cat "$T/m.prom")"
expect_eq "nothing else left in the collector's directory" "$(ls "$T/collector")" mreg.prom
expect_eq "metrics --textfile prints nothing" "$(cat "$T/.out")" ""
expect_fail "metrics takes no arguments" 2 "usage|takes no" "$MREG" -C "$R" metrics extra
finish

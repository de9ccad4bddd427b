#!/bin/sh
# deploy/: the Prometheus alert rules of the rollback manager are valid for
# the stock promtool, fire in the cases the original meant them for (the
# unit cases in mreg-alerts.test.yml) and keep the original's names,
# expressions and severities.
. "$(dirname "$0")/lib.sh"
D=$(cd "$TESTDATA/../deploy/prometheus" && pwd)	# lib.sh has moved into a temporary directory
command -v promtool >/dev/null || { fail "promtool is not installed (sh .ci/deps installs it)"; finish; }

check "promtool check rules" promtool check rules "$D/mreg-alerts.yml"
expect_eq "three rules" "$(grep -c 'SUCCESS: 3 rules found' "$T/.out")" 1
check "promtool test rules: each alert fires and stays quiet as it should" promtool test rules "$D/mreg-alerts.test.yml"
grep -q SUCCESS "$T/.out" && ok "rule tests report SUCCESS" || fail "rule tests report SUCCESS"

# the original's three rules, word for word where it matters
rule() { awk -v a="$1" '$0 ~ "alert: "a"$" {on=1; next} on && /- alert:/ {on=0} on' "$D/mreg-alerts.yml"; }
expect_eq "ModelRollbackTriggered expression" "$(rule ModelRollbackTriggered | sed -n 's/^ *expr: //p')" \
	"increase(ringrift_model_rollbacks_total[1h]) > 0"
expect_eq "ModelRollbackTriggered severity" "$(rule ModelRollbackTriggered | sed -n 's/^ *severity: //p')" warning
expect_eq "MultipleRollbacksDetected expression" "$(rule MultipleRollbacksDetected | sed -n 's/^ *expr: //p')" \
	"increase(ringrift_model_rollbacks_total[24h]) > 2"
expect_eq "MultipleRollbacksDetected severity" "$(rule MultipleRollbacksDetected | sed -n 's/^ *severity: //p')" critical
expect_eq "EloDegradation expression" "$(rule EloDegradation | sed -n 's/^ *expr: //p')" \
	"(ringrift_production_model_elo - ringrift_production_model_baseline_elo) < -50"
expect_eq "EloDegradation waits 30m" "$(rule EloDegradation | sed -n 's/^ *for: //p')" 30m
expect_eq "EloDegradation severity" "$(rule EloDegradation | sed -n 's/^ *severity: //p')" warning

# a broken rule file is refused, so the checks above can fail
sed 's/> 0$/>> 0/' "$D/mreg-alerts.yml" >"$T/broken.yml"
if promtool check rules "$T/broken.yml" >/dev/null 2>&1; then fail "promtool refuses a broken rule"; else ok "promtool refuses a broken rule"; fi
finish

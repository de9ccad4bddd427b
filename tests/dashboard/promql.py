"""The PromQL of deploy/: every expression of the Grafana dashboard and of
the Prometheus alert rules, for tests/cli/test_dashboard.sh.

  promql.py rules DASHBOARD ALERTS     a recording-rules file with one rule per
                                       expression, for promtool check rules
  promql.py names DASHBOARD ALERTS     the metric names the expressions use,
                                       one a line
  promql.py missing METRICS DASHBOARD ALERTS
                                       the names used that METRICS (the text
                                       format, as mreg metrics prints it)
                                       does not have, one a line
  promql.py unused METRICS DASHBOARD ALERTS
                                       the names METRICS has that no
                                       expression uses, one a line

Expressions come from each panel's targets (rows' panels too), each
annotation (its expr, or its target's), each query variable
(label_values(METRIC, LABEL) gives METRIC) and each rule of ALERTS. Grafana's
variables become concrete values first ($__rate_interval 4m, $__interval 1m,
$__range 1d, $instance a host:port, $datasource the data source); any other
variable is an error, so none reaches promtool unreplaced. Exits 1 with a
message on stderr when a file cannot be read or an expression names a
variable it does not know.
"""
import json
import re
import sys

import yaml

VARIABLES = {
    "__rate_interval": "4m",
    "__interval": "1m",
    "__range": "1d",
    "__range_s": "86400",
    "__range_ms": "86400000",
    "instance": "127.0.0.1:9464",
}

# words of PromQL that are neither functions (followed by "(") nor metrics
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset",
            "bool", "and", "or", "unless", "atan2", "inf", "nan"}


class Bad(Exception):
    pass


def substitute(expr, where):
    def one(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in VARIABLES:
            raise Bad(f"{where}: unknown variable '{m.group(0)}' in '{expr}'")
        return VARIABLES[name]
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$([A-Za-z_]\w*)|\[\[(\w+)\]\]", one, expr)


def panel_exprs(panels, found):
    for p in panels or []:
        title = p.get("title", "")
        for t in p.get("targets") or []:
            if "expr" not in t:
                raise Bad(f"panel '{title}' target {t.get('refId')}: no expr")
            found.append((f"panel '{title}' target {t.get('refId')}", t["expr"]))
        panel_exprs(p.get("panels"), found)


def variable_expr(v):
    q = v.get("query")
    if isinstance(q, dict):
        q = q.get("query", "")
    m = re.fullmatch(r"\s*label_values\(\s*(.+?)\s*,\s*\w+\s*\)\s*", q or "")
    if m:
        return m.group(1)
    m = re.fullmatch(r"\s*query_result\((.*)\)\s*", q or "")
    if m:
        return m.group(1)
    raise Bad(f"variable '{v.get('name')}': query '{q}' is not label_values(METRIC, LABEL) or query_result(EXPR)")


def expressions(dashboard_path, alerts_path):
    """[(where, expr)] with Grafana's variables replaced"""
    with open(dashboard_path) as f:
        d = json.load(f)
    found = []
    panel_exprs(d.get("panels"), found)
    for a in (d.get("annotations") or {}).get("list") or []:
        expr = a.get("expr") or (a.get("target") or {}).get("expr")
        if expr:
            found.append((f"annotation '{a.get('name')}'", expr))
        elif a.get("datasource", {}).get("type") == "prometheus":
            raise Bad(f"annotation '{a.get('name')}': no expr")
    for v in (d.get("templating") or {}).get("list") or []:
        if v.get("type") == "query":
            found.append((f"variable '{v.get('name')}'", variable_expr(v)))
    with open(alerts_path) as f:
        alerts = yaml.safe_load(f)
    for g in alerts.get("groups") or []:
        for r in g.get("rules") or []:
            found.append((f"rule '{r.get('alert') or r.get('record')}'", r["expr"]))
    if not found:
        raise Bad(f"no expressions in '{dashboard_path}' and '{alerts_path}'")
    return [(where, substitute(e, where)) for where, e in found]


def metric_names(expr):
    """The metric names an expression selects: every identifier that is not
    a function, a keyword, a label name (in {...} or by/without/on/ignoring
    (...)), a duration or part of a string or a number."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    if "__name__" in s:
        raise Bad(f"'{expr}': selects by __name__; its metric names cannot be checked")
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w.:])[A-Za-z_:][\w:]*", s):
        word = m.group(0)
        if s[m.end():].lstrip().startswith("(") or word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names


def emitted(metrics_path):
    """names in the text format: # TYPE lines and samples"""
    names = set()
    with open(metrics_path) as f:
        for line in f:
            if line.startswith("# TYPE "):
                names.add(line.split()[2])
            elif line.strip() and not line.startswith("#"):
                names.add(re.match(r"[A-Za-z_:][\w:]*", line).group(0))
    return names


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "rules":
        rules = [{"record": f"mreg_deploy_check:expr_{i}", "expr": e, "labels": {"where": where}}
                 for i, (where, e) in enumerate(expressions(*args), 1)]
        yaml.safe_dump({"groups": [{"name": "deploy", "rules": rules}]}, sys.stdout, sort_keys=False)
    elif cmd == "names":
        used = set().union(*(metric_names(e) for _, e in expressions(*args)))
        print("\n".join(sorted(used)))
    elif cmd == "missing":
        have = emitted(args[0])
        for where, e in expressions(*args[1:]):
            for name in sorted(metric_names(e) - have):
                print(f"{name} ({where})")
    elif cmd == "unused":
        used = set().union(*(metric_names(e) for _, e in expressions(*args[1:])))
        for name in sorted(emitted(args[0]) - used):
            print(name)
    else:
        raise Bad(f"unknown command '{cmd}'")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (Bad, OSError, ValueError, KeyError, yaml.YAMLError) as e:
        print(f"promql.py: {e}", file=sys.stderr)
        sys.exit(1)

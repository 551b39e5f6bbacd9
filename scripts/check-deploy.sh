#!/usr/bin/env bash
# Checks the operations files in deploy/:
#   1. promtool check rules  deploy/prometheus/bedrock-cost-rules.yml (recording rules) and
#                            deploy/prometheus/bedrock-cost-alerts.yml (alerting rules)
#   2. promtool test rules   deploy/prometheus/bedrock-cost-alerts.test.yml (both files loaded) and
#                            deploy/prometheus/bedrock-cost-alerts-without-rules.test.yml (the
#                            alerts alone: BedrockCostRecordingRulesMissing) and
#                            deploy/prometheus/bedrock-cost-replicas.test.yml (three replicas
#                            exposing the same global series: true values, one alert per subject)
#      and test coverage: every alert has a case where it fires and one where it does not
#      (exp_alerts: []), and every recording rule is evaluated by a promql_expr_test.
#   3. promtool check config deploy/prometheus/scrape-config.yml (the scrape job with HTTP
#      authentication; its credential files are replaced by empty temporary ones, since
#      promtool checks that they exist)
#   4. deploy/grafana/bedrock-cost.json: valid JSON, unique panel ids, gridPos on every panel,
#      datasource ${datasource} on every panel and target, the expected template variables, and
#      every target expr (and every label_values() selector) parses as PromQL: Grafana variables
#      are replaced ($__rate_interval->5m, $__interval->1m, $__range->1d, other $var/${var}->.*),
#      the expressions are written as recording rules into a temporary file, and
#      `promtool check rules` parses it.
# Usage (from anywhere): bash scripts/check-deploy.sh
# Needs promtool (Debian/Ubuntu package `prometheus`) and python3; installs nothing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

RECORDING=deploy/prometheus/bedrock-cost-rules.yml
ALERTS=deploy/prometheus/bedrock-cost-alerts.yml
TESTS=(deploy/prometheus/bedrock-cost-alerts.test.yml deploy/prometheus/bedrock-cost-alerts-without-rules.test.yml
    deploy/prometheus/bedrock-cost-replicas.test.yml)
DASHBOARD=deploy/grafana/bedrock-cost.json
SCRAPE=deploy/prometheus/scrape-config.yml

fail() {
    echo "check-deploy: FAILED: $*" >&2
    exit 1
}

command -v promtool >/dev/null 2>&1 \
    || fail "promtool is not installed or not in PATH (it ships with Prometheus; on Debian/Ubuntu: apt-get install prometheus). This script does not install it."
command -v python3 >/dev/null 2>&1 || fail "python3 is not installed or not in PATH"
for f in "$RECORDING" "$ALERTS" "${TESTS[@]}" "$DASHBOARD" "$SCRAPE"; do
    [[ -f "$f" ]] || fail "missing file $f"
done

echo "==> $(promtool --version 2>&1 | head -n 1)"

echo "==> promtool check rules $RECORDING $ALERTS"
promtool check rules "$RECORDING" "$ALERTS" || fail "promtool check rules reported problems in $RECORDING or $ALERTS (see above)"

echo "==> promtool test rules ${TESTS[*]}"
promtool test rules "${TESTS[@]}" || fail "promtool unit tests failed: ${TESTS[*]} (see above)"

echo "==> test coverage: every alert fires and stays quiet in a test, every recording rule is evaluated"
# Line-based (no YAML library needed): rule names from `- alert:` / `- record:` lines; in the
# tests, each `alertname:` line is followed by its `exp_alerts:` line ("[]" = a quiet case), and
# a recording rule counts as tested when a promql_expr_test `- expr:` line names it.
python3 - "$RECORDING" "$ALERTS" -- "${TESTS[@]}" <<'PY' || fail "rules without tests (listed above)"
import re
import sys

args = sys.argv[1:]
sep = args.index("--")
rule_files, test_files = args[:sep], args[sep + 1:]
alerts, records = [], []
for path in rule_files:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            m = re.match(r"\s*-\s+(alert|record):\s*(\S+)\s*$", line)
            if m:
                (alerts if m.group(1) == "alert" else records).append(m.group(2))
fires, quiet, exprs = set(), set(), []
for path in test_files:
    current = None
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            m = re.match(r"\s*-?\s*alertname:\s*(\S+)\s*$", line)
            if m:
                current = m.group(1)
                continue
            m = re.match(r"\s*exp_alerts:\s*(.*?)\s*$", line)
            if m and current:
                (quiet if m.group(1) == "[]" else fires).add(current)
                current = None
                continue
            m = re.match(r"\s*-\s+expr:\s*(.+?)\s*$", line)
            if m:
                exprs.append(m.group(1))
problems = []
for a in alerts:
    if a not in fires:
        problems.append(f"alert {a}: no test case where it fires")
    if a not in quiet:
        problems.append(f"alert {a}: no test case where it stays quiet (exp_alerts: [])")
for r in records:
    if not any(re.search(r"(?<![\w:])" + re.escape(r) + r"(?![\w:])", e) for e in exprs):
        problems.append(f"recording rule {r}: no promql_expr_test evaluates it")
for p in problems:
    print(f"  {p}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"  {len(alerts)} alerts and {len(records)} recording rules, all tested")
PY

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "==> promtool check config $SCRAPE"
secrets=/etc/prometheus/secrets/bedrock-cost-exporter
mkdir -p "$tmp/secrets"
: >"$tmp/secrets/token"
sed "s#$secrets/#$tmp/secrets/#g" "$SCRAPE" >"$tmp/scrape-config.yml"
promtool check config "$tmp/scrape-config.yml" || fail "promtool check config reported problems in $SCRAPE (see above)"
expr_rules="$tmp/dashboard-exprs.rules.yml"

echo "==> dashboard structure: $DASHBOARD"
python3 - "$DASHBOARD" "$expr_rules" <<'PY' || fail "dashboard check failed: $DASHBOARD (problems listed above)"
import json
import re
import sys

path, out = sys.argv[1], sys.argv[2]
problems = []

try:
    with open(path, encoding="utf-8") as fh:
        dash = json.load(fh)
except (OSError, ValueError) as e:
    print(f"  {path}: not valid JSON: {e}", file=sys.stderr)
    sys.exit(1)

DS_UID = "${datasource}"


def ds_ok(ds):
    if isinstance(ds, str):
        return ds == DS_UID
    return isinstance(ds, dict) and ds.get("uid") == DS_UID and ds.get("type", "prometheus") == "prometheus"


def all_panels(panels):
    for p in panels or []:
        yield p
        yield from all_panels(p.get("panels"))  # panels inside (collapsed) rows


def grafana_to_promql(expr):
    expr = re.sub(r"\$__rate_interval\b|\$\{__rate_interval\}", "5m", expr)
    expr = re.sub(r"\$__interval\b|\$\{__interval\}", "1m", expr)
    expr = re.sub(r"\$__range\b|\$\{__range\}", "1d", expr)
    expr = re.sub(r"\$\{[^}]*\}", ".*", expr)
    expr = re.sub(r"\$[A-Za-z_]\w*", ".*", expr)
    return expr


if not isinstance(dash, dict):
    print(f"  {path}: top level is not a JSON object", file=sys.stderr)
    sys.exit(1)

inputs = [i.get("name") for i in dash.get("__inputs", []) if i.get("type") == "datasource" and i.get("pluginId") == "prometheus"]
if "DS_PROMETHEUS" not in inputs:
    problems.append("__inputs has no prometheus datasource input named DS_PROMETHEUS")

variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
dsvar = variables.get("datasource")
if not dsvar or dsvar.get("type") != "datasource" or dsvar.get("query") != "prometheus":
    problems.append("templating: no variable 'datasource' of type datasource with query 'prometheus'")

rules = []
for name in ("user", "feature", "model"):
    v = variables.get(name)
    if not v:
        problems.append(f"templating: variable '{name}' is missing")
        continue
    if v.get("type") != "query" or not v.get("multi") or not v.get("includeAll"):
        problems.append(f"templating: variable '{name}' must be a query variable with multi and includeAll")
for name, v in variables.items():
    if v.get("type") != "query":
        continue
    if not ds_ok(v.get("datasource")):
        problems.append(f"templating: variable '{name}' does not use datasource {DS_UID}")
    q = v.get("query")
    q = q.get("query", "") if isinstance(q, dict) else (q or "")
    m = re.fullmatch(r"\s*label_values\((.*),\s*([A-Za-z_]\w*)\s*\)\s*", q, re.S)
    if not m:
        problems.append(f"templating: variable '{name}': expected label_values(<selector>, <label>), got {q!r}")
        continue
    rules.append({"record": f"dashboard:variable_{name}", "expr": grafana_to_promql(m.group(1))})

panels = list(all_panels(dash.get("panels")))
if not panels:
    problems.append("the dashboard has no panels")
seen = {}
boxes = []
for p in panels:
    pid = p.get("id")
    where = f"panel id={pid!r} {p.get('title', '')!r}"
    if not isinstance(pid, int) or isinstance(pid, bool):
        problems.append(f"{where}: id is not an integer")
    elif pid in seen:
        problems.append(f"{where}: id {pid} is also used by {seen[pid]!r}")
    else:
        seen[pid] = p.get("title", "")
    g = p.get("gridPos")
    if not isinstance(g, dict) or not all(isinstance(g.get(k), int) for k in ("h", "w", "x", "y")):
        problems.append(f"{where}: gridPos with integer h, w, x, y is missing")
    elif g["w"] < 1 or g["h"] < 1 or g["x"] < 0 or g["x"] + g["w"] > 24:
        problems.append(f"{where}: gridPos {g} does not fit the 24-column grid")
    else:
        for other, og in boxes:
            if g["x"] < og["x"] + og["w"] and og["x"] < g["x"] + g["w"] and g["y"] < og["y"] + og["h"] and og["y"] < g["y"] + g["h"]:
                problems.append(f"{where}: gridPos overlaps panel {other!r}")
        boxes.append((p.get("title", ""), g))
    if p.get("type") == "row":
        continue  # rows hold no queries; they need only an id and a gridPos
    if not ds_ok(p.get("datasource")):
        problems.append(f"{where}: datasource must be {{\"type\": \"prometheus\", \"uid\": \"{DS_UID}\"}}, got {p.get('datasource')!r}")
    targets = p.get("targets") or []
    if not targets:
        problems.append(f"{where}: has no targets")
    for t in targets:
        ref = t.get("refId", "")
        if "datasource" in t and not ds_ok(t["datasource"]):
            problems.append(f"{where} target {ref}: datasource must be {DS_UID}")
        expr = t.get("expr")
        if not isinstance(expr, str) or not expr.strip():
            problems.append(f"{where} target {ref!r}: no expr")
            continue
        if not re.fullmatch(r"[A-Za-z0-9_]+", ref or ""):
            problems.append(f"{where}: target refId {ref!r} must be alphanumeric")
            continue
        rules.append({"record": f"dashboard:panel_{pid}:{ref}", "expr": grafana_to_promql(expr)})

if problems:
    for pr in problems:
        print(f"  {path}: {pr}", file=sys.stderr)
    sys.exit(1)

# JSON is valid YAML: promtool reads this file as a rule file.
with open(out, "w", encoding="utf-8") as fh:
    json.dump({"groups": [{"name": "dashboard-exprs", "rules": rules}]}, fh, indent=2)
print(f"  {len(panels)} panels, unique ids, gridPos and datasource OK; {len(rules)} expressions to parse")
PY

echo "==> dashboard PromQL: promtool check rules on the extracted expressions"
if ! promtool check rules "$expr_rules"; then
    echo "  (the rule named dashboard:panel_<id>:<refId> or dashboard:variable_<name> shows which panel or variable)" >&2
    fail "a dashboard expression in $DASHBOARD is not valid PromQL"
fi

echo "check-deploy: OK"

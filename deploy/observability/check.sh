#!/usr/bin/env bash
# Checks the observability files shipped in deploy/observability:
#   - promtool check config / check rules / test rules (the alert unit tests),
#   - every dashboard query parses as PromQL (promtool check rules on the
#     dashboard's expressions, with Grafana's $__ variables filled in),
#   - every JSON file is valid JSON, every YAML file valid YAML (when python3
#     has PyYAML).
# promtool comes from $PROMTOOL, else from PATH:
#   GOBIN=/tmp/promtool-bin go install github.com/prometheus/prometheus/cmd/promtool@v0.316.0
#   PROMTOOL=/tmp/promtool-bin/promtool deploy/observability/check.sh
# Exits non-zero when any check fails. Works from any directory.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here" || exit 2

promtool="${PROMTOOL:-$(command -v promtool || true)}"
if [[ -z "$promtool" || ! -x "$promtool" ]]; then
	echo "check.sh: promtool not found (set PROMTOOL or put it on PATH)" >&2
	exit 2
fi

failed=0
run() {
	local what="$1"
	shift
	echo "== $what"
	if ! "$@"; then
		echo "FAIL: $what" >&2
		failed=1
	fi
}

have() { command -v "$1" >/dev/null 2>&1; }

json_ok() {
	if have jq; then
		jq empty "$1"
	elif have python3; then
		python3 -m json.tool "$1" >/dev/null
	else
		echo "check.sh: neither jq nor python3 to validate JSON" >&2
		return 1
	fi
}

yaml_ok() {
	python3 - "$1" <<'PY'
import sys, yaml
with open(sys.argv[1]) as f:
    list(yaml.safe_load_all(f))
PY
}

# The dashboard's queries as a rule file: panel and annotation targets (at any
# depth) and the PromQL of label_values(expr, label) variables, with the
# Grafana range variables replaced by durations.
dashboard_rules() {
	python3 - "$1" <<'PY'
import json, re, sys
doc = json.load(open(sys.argv[1]))
exprs = []
def walk(v):
    if isinstance(v, dict):
        for k, c in v.items():
            if k == "targets" and isinstance(c, list):
                exprs.extend(t["expr"] for t in c if isinstance(t, dict) and t.get("expr"))
            walk(c)
    elif isinstance(v, list):
        for c in v:
            walk(c)
walk(doc)
for var in doc.get("templating", {}).get("list", []):
    if var.get("type") != "query":
        continue
    q = var.get("query")
    q = q.get("query", "") if isinstance(q, dict) else (q or "")
    m = re.match(r"^\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$", q, re.S)
    if m:
        exprs.append(m.group(1))
    elif not re.match(r"^\s*(label_values|label_names|metrics)\(", q):
        exprs.append(re.sub(r"^\s*query_result\((.*)\)\s*$", r"\1", q, flags=re.S))
subst = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
rules = []
for i, e in enumerate(exprs):
    for k, v in subst.items():
        e = e.replace(k, v)
    rules.append({"record": "dashboard:expr_%d" % i, "expr": e})
print(json.dumps({"groups": [{"name": "dashboard " + sys.argv[1], "rules": rules}]}, indent=1))
PY
}

# Structure of a dashboard: the data source variable and the job/instance
# variables exist and every query uses them, panel ids are unique, panels sit
# inside the 24-column grid without overlapping, units are known ones.
dashboard_lint() {
	python3 - "$1" <<'PY'
import json, re, sys
path = sys.argv[1]
doc = json.load(open(path))
errs = []
vars_ = {v.get("name"): v for v in doc.get("templating", {}).get("list", [])}
ds = vars_.get("datasource")
if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
    errs.append("no datasource variable of type prometheus")
for name in ("job", "instance"):
    if vars_.get(name, {}).get("type") != "query":
        errs.append("no query variable %r" % name)
units = {"short", "none", "s", "ms", "reqps", "percentunit", "percent", "bytes", "cpm", "cps", "ops", "opm"}
ids, cells = set(), {}
def panels(ps):
    for p in ps:
        yield p
        yield from panels(p.get("panels", []))
for p in panels(doc.get("panels", [])):
    title = p.get("title", "?")
    if p.get("id") in ids:
        errs.append("duplicate panel id %s (%s)" % (p.get("id"), title))
    ids.add(p.get("id"))
    g = p.get("gridPos", {})
    if not all(k in g for k in "xywh") or g["x"] < 0 or g["x"] + g["w"] > 24:
        errs.append("panel %r: gridPos outside the grid: %s" % (title, g))
        continue
    for x in range(g["x"], g["x"] + g["w"]):
        for y in range(g["y"], g["y"] + g["h"]):
            if (x, y) in cells:
                errs.append("panel %r overlaps %r" % (title, cells[(x, y)]))
                break
            cells[(x, y)] = title
        else:
            continue
        break
    if p.get("type") == "row":
        continue
    if p.get("datasource", {}).get("uid") != "${datasource}":
        errs.append("panel %r does not use ${datasource}" % title)
    unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
    if unit is not None and unit not in units and not unit.startswith("suffix:"):
        errs.append("panel %r: unknown unit %r" % (title, unit))
    targets = p.get("targets", [])
    if not targets:
        errs.append("panel %r has no query" % title)
    refs = [t.get("refId") for t in targets]
    if len(refs) != len(set(refs)):
        errs.append("panel %r: duplicate refId" % title)
    for t in targets:
        e = t.get("expr", "")
        if t.get("datasource", {}).get("uid") != "${datasource}":
            errs.append("panel %r, query %s does not use ${datasource}" % (title, t.get("refId")))
        # every selector filters on the dashboard's job and instance
        n_sel = len(re.findall(r"\{[^}]*\}", e))
        n_ok = len(re.findall(r'\{[^}]*job=~"\$job"[^}]*instance=~"\$instance"[^}]*\}', e))
        if n_sel == 0 or n_sel != n_ok:
            errs.append("panel %r: every selector must filter job=~\"$job\",instance=~\"$instance\": %s" % (title, e))
for e in errs:
    print("%s: %s" % (path, e), file=sys.stderr)
sys.exit(1 if errs else 0)
PY
}

run "promtool check config prometheus/prometheus.yml" "$promtool" check config prometheus/prometheus.yml
run "promtool check rules prometheus/alerts.yml" "$promtool" check rules prometheus/alerts.yml
run "promtool test rules prometheus/alerts_test.yml" "$promtool" test rules prometheus/alerts_test.yml

while IFS= read -r -d '' f; do
	run "valid JSON: $f" json_ok "$f"
done < <(find . -name '*.json' -print0 | sort -z)

if have python3; then
	tmp="$(mktemp -d)"
	trap 'rm -rf "$tmp"' EXIT
	for f in grafana/*.json; do
		run "dashboard structure: $f" dashboard_lint "$f"
		name="$(basename "$f" .json)"
		if dashboard_rules "$f" >"$tmp/$name.rules.json"; then
			run "dashboard queries parse: $f" "$promtool" check rules "$tmp/$name.rules.json"
		else
			echo "FAIL: extract the queries of $f" >&2
			failed=1
		fi
	done
	if python3 -c 'import yaml' 2>/dev/null; then
		while IFS= read -r -d '' f; do
			run "valid YAML: $f" yaml_ok "$f"
		done < <(find . \( -name '*.yml' -o -name '*.yaml' \) -print0 | sort -z)
	else
		echo "== (YAML syntax not checked: python3 has no PyYAML)"
	fi
else
	echo "== (dashboard queries and YAML not checked: no python3)"
fi

if ((failed)); then
	echo "check.sh: FAILED" >&2
	exit 1
fi
echo "check.sh: all checks passed"

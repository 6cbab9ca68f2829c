package promnames

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// contractLabels gives each metric family's labels and, where the contract
// fixes them, their values (nil: any value). Like contractMetrics, a scrape
// after real work can replace it.
var contractLabels = map[string]map[string][]string{
	"codex32_build_info":                        {"version": nil, "commit": nil, "goversion": nil},
	"codex32_http_requests_total":               {"route": nil, "method": nil, "code": {"2xx", "3xx", "4xx", "5xx"}},
	"codex32_http_request_duration_seconds":     {"route": nil, "method": nil},
	"codex32_executions_requested_total":        {"kind": nil, "trigger": nil},
	"codex32_executions_finished_total":         {"kind": nil, "trigger": nil, "status": executionStatuses},
	"codex32_execution_queue_wait_seconds":      {"kind": nil},
	"codex32_execution_run_seconds":             {"kind": nil, "status": executionStatuses},
	"codex32_scrape_errors_total":               {"source": nil},
	"codex32_river_jobs":                        {"state": nil},
	"codex32_db_open_connections":               {"pool": nil},
	"codex32_db_in_use_connections":             {"pool": nil},
	"codex32_db_idle_connections":               {"pool": nil},
	"codex32_db_max_open_connections":           {"pool": nil},
	"codex32_db_wait_count_total":               {"pool": nil},
	"codex32_db_wait_duration_seconds_total":    {"pool": nil},
	"codex32_sandbox_restarts_total":            {"reason": {"memory", "timeout", "crash", "cancel"}},
	"codex32_outbound_requests_total":           {"kind": {"http", "llm"}, "result": {"ok", "refused", "timeout", "error"}},
	"codex32_outbound_request_duration_seconds": {"kind": {"http", "llm"}},
	"codex32_llm_tokens_total":                  {"model": nil, "direction": {"input", "output"}},
	"codex32_logins_total":                      {"method": nil, "result": {"ok", "failed", "locked", "limited"}},
	"codex32_webhook_calls_total":               {"result": {"accepted", "bad_signature", "replay", "stale", "disabled", "not_found", "error"}},
	"codex32_bot_executions_finished_total":     {"bot_id": nil, "status": executionStatuses},
}

var executionStatuses = []string{"success", "failed", "cancelled", "timed_out"}

// targetLabels are added to every series by the scrape (prometheus.yml).
var targetLabels = []string{"job", "instance", "component"}

// labelProblems reports the matchers and grouping lists of expr that use a
// label its metrics do not have, or a value the contract does not list.
func labelProblems(expr string) []string {
	q := Parse(expr)
	var problems []string
	inExpr := map[string]bool{}
	for _, l := range targetLabels {
		inExpr[l] = true
	}
	for _, sel := range q.Selectors {
		family := sel.Metric
		if _, ok := contractMetrics[family]; !ok {
			family = BaseName(family)
		}
		labels := contractLabels[family]
		allowed := func(l string) bool {
			_, ok := labels[l]
			return ok || slices.Contains(targetLabels, l) || (l == "le" && strings.HasSuffix(sel.Metric, "_bucket"))
		}
		for l := range labels {
			inExpr[l] = true
		}
		if strings.HasSuffix(sel.Metric, "_bucket") {
			inExpr["le"] = true
		}
		for _, m := range sel.Matchers {
			if !allowed(m.Label) {
				problems = append(problems, fmt.Sprintf("%s has no label %q", sel.Metric, m.Label))
				continue
			}
			values := labels[m.Label]
			if values == nil || (m.Op != "=" && m.Op != "=~") {
				continue
			}
			alternatives := []string{m.Value}
			if m.Op == "=~" {
				alternatives = strings.Split(m.Value, "|")
			}
			for _, v := range alternatives {
				if strings.ContainsAny(v, `$.*+?()[]{}\^`) {
					continue // a pattern or a Grafana variable, not a literal value
				}
				if !slices.Contains(values, v) {
					problems = append(problems, fmt.Sprintf("%s{%s}: %q is not one of %v", sel.Metric, m.Label, v, values))
				}
			}
		}
	}
	for _, l := range q.Grouping {
		if !inExpr[l] {
			problems = append(problems, fmt.Sprintf("grouping by %q, a label none of its metrics has", l))
		}
	}
	return problems
}

// legendLabels are the {{label}} references of a legend or annotation.
var legendLabels = regexp.MustCompile(`\{\{\s*(?:\$labels\.)?([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)

func TestShippedQueriesUseOnlyContractLabels(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(shipped, "grafana", "codex32.json"))
	require.NoError(t, err)
	var doc any
	require.NoError(t, json.Unmarshal(b, &doc))
	exprs := DashboardExprs(doc)
	rules, err := RuleExprs(filepath.Join(shipped, "prometheus", "alerts.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, rules)
	for _, e := range append(exprs, rules...) {
		require.Empty(t, labelProblems(e), e)
	}
}

// A legend names only labels that its query's result keeps.
func TestShippedLegendsNameResultLabels(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(shipped, "grafana", "codex32.json"))
	require.NoError(t, err)
	var doc struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr   string `json:"expr"`
				Legend string `json:"legendFormat"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	checked := 0
	for _, p := range doc.Panels {
		for _, tg := range p.Targets {
			q := Parse(tg.Expr)
			for _, m := range legendLabels.FindAllStringSubmatch(tg.Legend, -1) {
				checked++
				// An aggregation keeps only its by() labels; without one, the
				// selectors' labels survive.
				if len(q.Grouping) > 0 {
					require.Contains(t, q.Grouping, m[1], "%s: legend %q", p.Title, tg.Legend)
				} else {
					require.Empty(t, labelProblems(fmt.Sprintf(`%s{%s="x"}`, q.Names[0], m[1])), "%s: legend %q", p.Title, tg.Legend)
				}
			}
		}
	}
	require.Positive(t, checked)
}

func TestLabelProblemsCatchesMistakes(t *testing.T) {
	t.Parallel()
	for expr, want := range map[string]string{
		`sum(rate(codex32_executions_finished_total{status="succeeded"}[5m]))`:         `"succeeded" is not one of`,
		`sum(rate(codex32_http_requests_total{code=~"500|5xx"}[5m]))`:                  `"500" is not one of`,
		`sum by (status) (rate(codex32_http_requests_total[5m]))`:                      `grouping by "status"`,
		`codex32_workers_alive{pool="bun"}`:                                            `has no label "pool"`,
		`histogram_quantile(0.9, sum by (le) (rate(codex32_http_requests_total[5m])))`: `grouping by "le"`,
	} {
		problems := labelProblems(expr)
		require.NotEmpty(t, problems, expr)
		require.Contains(t, strings.Join(problems, "\n"), want, expr)
	}
	require.Empty(t, labelProblems(`sum by (le, kind) (rate(codex32_execution_run_seconds_bucket{status=~"failed|timed_out", kind=~"$kind"}[5m]))`))
}

// An alert's annotations name only labels its expression's result keeps.
func TestShippedAlertAnnotationsNameResultLabels(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(shipped, "prometheus", "alerts.yml"))
	require.NoError(t, err)
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	require.NoError(t, yaml.Unmarshal(b, &f))
	checked := 0
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Labels["severity"], r.Alert)
			for _, k := range []string{"summary", "description", "runbook"} {
				require.NotEmpty(t, r.Annotations[k], "%s: annotation %s", r.Alert, k)
			}
			q := Parse(r.Expr)
			for _, text := range r.Annotations {
				for _, m := range legendLabels.FindAllStringSubmatch(text, -1) {
					checked++
					if len(q.Grouping) > 0 {
						require.Contains(t, q.Grouping, m[1], "%s: %q", r.Alert, text)
					} else {
						require.Empty(t, labelProblems(fmt.Sprintf(`%s{%s="x"}`, q.Names[0], m[1])), "%s: %q", r.Alert, text)
					}
				}
			}
		}
	}
	require.Positive(t, checked)
}

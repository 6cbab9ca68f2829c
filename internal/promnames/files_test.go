package promnames

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
}

func TestFromDashboard(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "d.json")
	// A row with collapsed panels inside, a nested target list, a string query
	// variable, an object query variable, a datasource variable, an annotation.
	writeFile(t, path, `{
  "annotations": {"list": [{"datasource": "x", "expr": "changes(codex32_build_info[5m]) > 0"}]},
  "panels": [
    {"type": "timeseries", "targets": [{"expr": "sum(rate(a_total[5m]))"}, {"expr": ""}, {"refId": "B"}]},
    {"type": "row", "collapsed": true, "panels": [
      {"type": "stat", "targets": [{"expr": "histogram_quantile(0.5, sum by (le) (rate(h_seconds_bucket[5m])))"}]},
      {"type": "row", "panels": [{"targets": [{"expr": "deep_gauge"}]}]}
    ]}
  ],
  "templating": {"list": [
    {"type": "datasource", "name": "datasource", "query": "prometheus"},
    {"type": "query", "name": "job", "query": "label_values(up, job)"},
    {"type": "query", "name": "instance", "query": {"query": "label_values(codex32_build_info{job=~\"$job\"}, instance)", "refId": "A"}},
    {"type": "custom", "name": "c", "query": "not_a_metric,other"}
  ]}
}`)
	names, err := FromDashboard(path)
	require.NoError(t, err)
	require.Equal(t, []string{"a_total", "codex32_build_info", "deep_gauge", "h_seconds_bucket", "up"}, names)
}

func TestFromDashboardErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := FromDashboard(filepath.Join(dir, "absent.json"))
	require.Error(t, err)
	bad := filepath.Join(dir, "bad.json")
	writeFile(t, bad, `{"panels": [`)
	_, err = FromDashboard(bad)
	require.Error(t, err)
}

func TestFromRules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yml")
	writeFile(t, path, `groups:
  - name: one
    rules:
      - record: job:codex32_http_requests:rate5m
        expr: sum by (job) (rate(codex32_http_requests_total[5m]))
      - alert: X
        expr: |
          job:codex32_http_requests:rate5m > 100
          unless on (job) codex32_build_info{version="dev"}
        labels: {severity: info}
  - name: two
    rules:
      - alert: Y
        expr: up == 0
`)
	names, err := FromRules(path)
	require.NoError(t, err)
	require.Equal(t, []string{"codex32_build_info", "codex32_http_requests_total", "job:codex32_http_requests:rate5m", "up"}, names)

	_, err = FromRules(filepath.Join(dir, "absent.yml"))
	require.Error(t, err)
	bad := filepath.Join(dir, "bad.yml")
	writeFile(t, bad, "groups: [\n")
	_, err = FromRules(bad)
	require.Error(t, err)
}

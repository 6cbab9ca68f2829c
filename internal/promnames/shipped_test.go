package promnames

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// contractMetrics is what /metrics exposes according to the metrics contract
// (deploy/observability/README.md, "Metrics"): family name → type. Once the
// application exposes them, replace it by a real scrape after real work:
// exposed, err := Exposed(resp.Body). The go_* and process_* entries are the
// ones the dashboard uses from the standard collectors.
var contractMetrics = map[string]string{
	"codex32_build_info":                        "gauge",
	"codex32_http_requests_total":               "counter",
	"codex32_http_request_duration_seconds":     "histogram",
	"codex32_executions_requested_total":        "counter",
	"codex32_executions_finished_total":         "counter",
	"codex32_execution_queue_wait_seconds":      "histogram",
	"codex32_execution_run_seconds":             "histogram",
	"codex32_executions_queued":                 "gauge",
	"codex32_executions_running":                "gauge",
	"codex32_scrape_errors_total":               "counter",
	"codex32_river_jobs":                        "gauge",
	"codex32_workers_alive":                     "gauge",
	"codex32_db_open_connections":               "gauge",
	"codex32_db_in_use_connections":             "gauge",
	"codex32_db_idle_connections":               "gauge",
	"codex32_db_max_open_connections":           "gauge",
	"codex32_db_wait_count_total":               "counter",
	"codex32_db_wait_duration_seconds_total":    "counter",
	"codex32_sandbox_processes":                 "gauge",
	"codex32_sandbox_busy":                      "gauge",
	"codex32_sandbox_restarts_total":            "counter",
	"codex32_outbound_requests_total":           "counter",
	"codex32_outbound_request_duration_seconds": "histogram",
	"codex32_llm_tokens_total":                  "counter",
	"codex32_logins_total":                      "counter",
	"codex32_api_rate_limited_total":            "counter",
	"codex32_webhook_calls_total":               "counter",
	"codex32_schedule_ticks_total":              "counter",
	"codex32_schedule_misses_total":             "counter",
	"codex32_audit_rows_total":                  "counter",
	"codex32_bot_executions_finished_total":     "counter",
	"go_goroutines":                             "gauge",
	"process_cpu_seconds_total":                 "counter",
	"process_resident_memory_bytes":             "gauge",
	"process_open_fds":                          "gauge",
}

// prometheusOwn are series Prometheus writes itself for every target; a scrape
// of /metrics never shows them.
var prometheusOwn = map[string]string{"up": "gauge"}

// exposedForTest is a real scrape of the application's metrics.
func exposedForTest(t *testing.T) map[string]string {
	t.Helper()
	return realScrape(t)
}

const shipped = "../../deploy/observability"

func TestShippedDashboardNamesOnlyExposedMetrics(t *testing.T) {
	t.Parallel()
	names, err := FromDashboard(filepath.Join(shipped, "grafana", "codex32.json"))
	require.NoError(t, err)
	require.NotEmpty(t, names)
	require.Empty(t, Missing(names, exposedForTest(t)), "the dashboard queries metrics that /metrics does not expose")
}

func TestShippedRulesNameOnlyExposedMetrics(t *testing.T) {
	t.Parallel()
	names, err := FromRules(filepath.Join(shipped, "prometheus", "alerts.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, names)
	require.Empty(t, Missing(names, exposedForTest(t)), "the alert rules query metrics that /metrics does not expose")
}

// The check above must be able to fail: a rule file naming a metric that does
// not exist is reported.
func TestMissingReportsAnUnknownRuleMetric(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yml")
	writeFile(t, path, `groups:
  - name: g
    rules:
      - alert: A
        expr: codex32_workers_alive == 0 and on() codex32_workers_dead > 0
      - record: job:x:rate5m
        expr: sum by (job) (rate(codex32_http_requests_total_bucket[5m]))
`)
	names, err := FromRules(path)
	require.NoError(t, err)
	require.Equal(t, []string{"codex32_http_requests_total_bucket", "codex32_workers_alive", "codex32_workers_dead"}, names)
	require.Equal(t, []string{"codex32_http_requests_total_bucket", "codex32_workers_dead"}, Missing(names, exposedForTest(t)))
}

// The README's metric table documents exactly the codex32_ metrics that are
// exposed, with their types.
func TestReadmeDocumentsEveryMetric(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(shipped, "README.md"))
	require.NoError(t, err)
	row := regexp.MustCompile("(?m)^\\| `(codex32_[a-z0-9_]+)` \\| ([a-z]+) \\|")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		documented[m[1]] = m[2]
	}
	want := map[string]string{}
	for name, typ := range contractMetrics {
		if strings.HasPrefix(name, "codex32_") {
			want[name] = typ
		}
	}
	require.Equal(t, want, documented)
}

package promnames

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"
)

// A scrape of a real registry gives what Missing needs: histogram series
// resolve to their family, unknown names are reported.
func TestExposedFromARealScrape(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "codex32_http_request_duration_seconds", Help: "h"}, []string{"route", "method"})
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "codex32_http_requests_total", Help: "c"}, []string{"route", "method", "code"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "codex32_workers_alive", Help: "g"})
	reg.MustRegister(h, c, g)
	h.WithLabelValues("/bots/:id", "GET").Observe(0.01)
	c.WithLabelValues("/bots/:id", "GET", "2xx").Inc()

	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), "GET", "/metrics", nil))
	exposed, err := Exposed(rec.Body)
	require.NoError(t, err)
	require.Equal(t, map[string]string{
		"codex32_http_request_duration_seconds": "histogram",
		"codex32_http_requests_total":           "counter",
		"codex32_workers_alive":                 "gauge",
	}, exposed)
	require.Equal(t, []string{"codex32_workers_dead"}, Missing(FromPromQL(
		`histogram_quantile(0.9, sum by (le) (rate(codex32_http_request_duration_seconds_bucket[5m]))) + sum(rate(codex32_http_requests_total[5m])) + codex32_workers_alive + codex32_workers_dead`), exposed))

	_, err = Exposed(strings.NewReader("# TYPE x counter\nx{ 1\n"))
	require.Error(t, err)
}

package testutil

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Scrape is one parsed /metrics answer.
type Scrape map[string]*dto.MetricFamily

// ParseMetrics parses a Prometheus text exposition.
func ParseMetrics(tb testing.TB, r io.Reader) Scrape {
	tb.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		tb.Fatalf("testutil: parse metrics: %v", err)
	}
	return fams
}

// ScrapeHandler GETs /metrics from h and parses the answer.
func ScrapeHandler(tb testing.TB, h http.Handler) Scrape {
	tb.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(tb.Context(), http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		tb.Fatalf("testutil: /metrics answered %d: %s", rec.Code, rec.Body)
	}
	return ParseMetrics(tb, rec.Body)
}

// Value is the value of the series of name whose labels include want
// (summed over the series that match; a histogram gives its count), and
// whether any matched.
func (s Scrape) Value(name string, want map[string]string) (float64, bool) {
	f, ok := s[name]
	if !ok {
		return 0, false
	}
	var sum float64
	found := false
next:
	for _, m := range f.GetMetric() {
		for k, v := range want {
			if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == k && l.GetValue() == v }) {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum, found
}

// LabelValues lists the values label takes in the series of name.
func (s Scrape) LabelValues(name, label string) []string {
	var out []string
	for _, m := range s[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label && !slices.Contains(out, l.GetValue()) {
				out = append(out, l.GetValue())
			}
		}
	}
	slices.Sort(out)
	return out
}

// Names lists the metric families, sorted.
func (s Scrape) Names() []string {
	out := make([]string, 0, len(s))
	for n := range s {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Text is every label value and help string of the scrape, for checks
// that nothing secret is exposed.
func (s Scrape) Text() string {
	var b strings.Builder
	for n, f := range s {
		b.WriteString(n + " " + f.GetHelp() + "\n")
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				b.WriteString(l.GetName() + "=" + l.GetValue() + "\n")
			}
		}
	}
	return b.String()
}

// Count is Value for series that count whole things (counters, gauges of
// items, histogram observations).
func (s Scrape) Count(name string, want map[string]string) int {
	v, _ := s.Value(name, want)
	return int(v)
}

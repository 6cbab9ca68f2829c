package promnames

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFromPromQL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		expr string
		want []string
	}{
		{"bare name", "up", []string{"up"}},
		{"selector", `up{job="codex32",instance=~"a.*"}`, []string{"up"}},
		{"histogram quantile", `histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))`, []string{"x_bucket"}},
		{"by after the aggregation", `sum(rate(x_bucket{route!="/"}[5m])) by (le, route)`, []string{"x_bucket"}},
		{"without", `sum without (instance, pod) (rate(a_total[1m]))`, []string{"a_total"}},
		{"on and group_left", `a * on(instance) group_left(version, commit) b`, []string{"a", "b"}},
		{"empty on", `a and on() b`, []string{"a", "b"}},
		{"ignoring and group_right", `a / ignoring(code) group_right b`, []string{"a", "b"}},
		{"label_values with a metric", `label_values(codex32_build_info, instance)`, []string{"codex32_build_info"}},
		{"label_values with a selector", `label_values(codex32_build_info{job=~"$job"}, instance)`, []string{"codex32_build_info"}},
		{"label_values of a label only", `label_values(instance)`, nil},
		{"query_result", `query_result(topk(5, sum by (route) (rate(req_total[$__range]))))`, []string{"req_total"}},
		{"metrics() and label_names()", `metrics(codex32_.*)`, nil},
		{"set operators and comparisons", `x > 0 and y == 0`, []string{"x", "y"}},
		{"or unless bool", `(a > bool 1) or b unless c`, []string{"a", "b", "c"}},
		{"names inside strings", `label_replace(up, "dst", "fake_metric", "instance", "(other_metric):.*")`, []string{"up"}},
		{"single-quoted and raw strings", "count_values('not_a_metric', v) + on() vector(`raw_name`)", []string{"v"}},
		{"escaped quote in a string", `a{x="q\"b_metric"} + c`, []string{"a", "c"}},
		{"offset", `rate(a_total[5m] offset 1h) - rate(a_total[5m] offset -30m)`, []string{"a_total"}},
		{"@ modifier", `a @ 1609746000 + b @ start() - c @ end()`, []string{"a", "b", "c"}},
		{"subquery", `max_over_time(rate(r_total[1m])[30m:1m])`, []string{"r_total"}},
		{"durations and numbers", `a * 1e-3 + 0x1f + 1.5 + .5 + Inf - NaN`, []string{"a"}},
		{"grafana variables", `sum(rate(a_total{job=~"$job",instance=~"${instance:regex}"}[$__rate_interval])) * $factor`, []string{"a_total"}},
		{"__name__ matcher", `{__name__="by_name", job="x"} + {__name__=~"regex_.*"}`, []string{"by_name"}},
		{"recording rule names", `job:requests:rate5m > 0`, []string{"job:requests:rate5m"}},
		{"aggregation parameters", `topk(3, a) + quantile(0.9, b) + count_values("v", c) + limitk(2, d)`, []string{"a", "b", "c", "d"}},
		{"comment", "a # b is a comment\n+ c", []string{"a", "c"}},
		{"duplicates sorted", `b + a + b`, []string{"a", "b"}},
		{"function named like a metric prefix", `absent(codex32_workers_alive) or absent_over_time(up[5m])`, []string{"codex32_workers_alive", "up"}},
		{"atan2", `a atan2 b`, []string{"a", "b"}},
		{"keywords in upper case", `SUM BY (le) (rate(x_bucket[5m])) AND ON() y OR Bool_metric UNLESS z OFFSET 5m`, []string{"Bool_metric", "x_bucket", "y", "z"}},
		{"a metric named like a keyword prefix", `sum(byte_total) + sum by(le)(without_total) + on(by_label) bytes_metric`, []string{"byte_total", "bytes_metric", "without_total"}},
		{"unbalanced stays bounded", `sum(rate(a[5m]`, []string{"a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := FromPromQL(tc.expr)
			if len(tc.want) == 0 {
				require.Empty(t, got)
				return
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestBaseName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"codex32_http_request_duration_seconds_bucket": "codex32_http_request_duration_seconds",
		"codex32_http_request_duration_seconds_sum":    "codex32_http_request_duration_seconds",
		"codex32_http_request_duration_seconds_count":  "codex32_http_request_duration_seconds",
		"codex32_http_requests_total":                  "codex32_http_requests_total",
		"codex32_executions_queued":                    "codex32_executions_queued",
		"_count":                                       "_count",
	} {
		require.Equal(t, want, BaseName(in), in)
	}
}

func TestMissing(t *testing.T) {
	t.Parallel()
	exposed := map[string]string{"h_seconds": "histogram", "s_seconds": "summary", "c_total": "counter", "g": "gauge", "odd_count": "counter"}
	require.Empty(t, Missing([]string{"h_seconds_bucket", "h_seconds_sum", "h_seconds_count", "s_seconds", "s_seconds_sum", "s_seconds_count", "c_total", "g", "odd_count"}, exposed))
	require.Equal(t,
		[]string{"h_seconds", "s_seconds_bucket", "c_total_bucket", "g_sum", "nope", "nope_count"},
		Missing([]string{"h_seconds", "s_seconds_bucket", "c_total_bucket", "g_sum", "nope", "nope_count"}, exposed))
}

func TestParseSelectorsAndGrouping(t *testing.T) {
	t.Parallel()
	q := Parse(`histogram_quantile(0.95, sum by (le, route) (rate(h_bucket{job=~"$job", code!="5xx", x='it\'s', y=` + "`a\\b`" + `}[5m])))
		/ on (job) group_left (version) codex32_build_info
		and {__name__="named", status=~"failed|timed_out"} unless {__name__=~"re.*"}`)
	require.Equal(t, []string{"codex32_build_info", "h_bucket", "named"}, q.Names)
	require.Equal(t, []string{"job", "le", "route", "version"}, q.Grouping)
	require.Equal(t, []Selector{
		{Metric: "h_bucket", Matchers: []Matcher{
			{Label: "job", Op: "=~", Value: "$job"},
			{Label: "code", Op: "!=", Value: "5xx"},
			{Label: "x", Op: "=", Value: "it's"},
			{Label: "y", Op: "=", Value: `a\b`},
		}},
		{Metric: "codex32_build_info"},
		{Metric: "named", Matchers: []Matcher{{Label: "status", Op: "=~", Value: "failed|timed_out"}}},
		{Metric: ""},
	}, q.Selectors)
}

func TestParseEscapedDoubleQuote(t *testing.T) {
	t.Parallel()
	q := Parse(`a{path="x\"y"}`)
	require.Equal(t, []Selector{{Metric: "a", Matchers: []Matcher{{Label: "path", Op: "=", Value: `x"y`}}}}, q.Selectors)
}

package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// LogComponents are the names LOG_LEVEL may give a level of their own.
var LogComponents = []string{"http", "auth", "api", "runner", "sandbox", "scheduler", "audit", "db"}

// ParseLogLevels reads LOG_LEVEL: a default level, then optional
// component=level pairs ("info,runner=debug,http=warn").
func ParseLogLevels(s string) (slog.Level, map[string]slog.Level, error) {
	parts := strings.Split(s, ",")
	var def slog.Level
	if err := def.UnmarshalText([]byte(strings.TrimSpace(parts[0]))); err != nil || strings.Contains(parts[0], "=") {
		return 0, nil, fmt.Errorf("%q does not start with debug, info, warn or error (then optionally ,component=level)", s)
	}
	comps := map[string]slog.Level{}
	for _, p := range parts[1:] {
		name, lv, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			return 0, nil, fmt.Errorf("%q: %q is not component=level", s, p)
		}
		if !slices.Contains(LogComponents, name) {
			return 0, nil, fmt.Errorf("%q: unknown component %q (known: %s)", s, name, strings.Join(LogComponents, ", "))
		}
		var l slog.Level
		if err := l.UnmarshalText([]byte(lv)); err != nil {
			return 0, nil, fmt.Errorf("%q: %q is not debug, info, warn or error", s, lv)
		}
		comps[name] = l
	}
	return def, comps, nil
}

// validateTelemetry checks the metrics, tracing and trace-link settings.
func (c *Config) validateTelemetry() error {
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return &Error{Setting: "CODEX32_METRICS_ADDR", Problem: fmt.Sprintf("%q is not host:port (for example :9090 or 127.0.0.1:9090)", c.MetricsAddr)}
		}
		if c.MetricsAddr == c.Addr {
			return &Error{Setting: "CODEX32_METRICS_ADDR", Problem: "must differ from CODEX32_ADDR (to serve metrics on the main port, set CODEX32_METRICS_TOKEN instead)"}
		}
	}
	if c.MetricsToken != "" && len(c.MetricsToken) < 16 {
		return &Error{Setting: "CODEX32_METRICS_TOKEN", Problem: "must be at least 16 characters"}
	}
	if c.MetricsBotLabelsMax < 1 || c.MetricsBotLabelsMax > 10000 {
		return &Error{Setting: "CODEX32_METRICS_BOT_LABELS_MAX", Problem: fmt.Sprintf("%d is not from 1 to 10000", c.MetricsBotLabelsMax)}
	}
	if c.OTLPEndpoint != "" {
		u, err := url.Parse(c.OTLPEndpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &Error{Setting: "OTEL_EXPORTER_OTLP_ENDPOINT", Problem: fmt.Sprintf("%q is not an http:// or https:// URL", c.OTLPEndpoint)}
		}
	}
	switch c.OTLPProtocol {
	case "http/protobuf", "grpc":
	default:
		return &Error{Setting: "OTEL_EXPORTER_OTLP_PROTOCOL", Problem: fmt.Sprintf("%q is not http/protobuf or grpc", c.OTLPProtocol)}
	}
	switch c.OTelSampler {
	case "always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio":
	default:
		return &Error{Setting: "OTEL_TRACES_SAMPLER", Problem: fmt.Sprintf("%q is not a sampler this server knows (always_on, always_off, traceidratio, parentbased_…)", c.OTelSampler)}
	}
	if c.OTelSamplerArg != "" {
		if f, err := strconv.ParseFloat(c.OTelSamplerArg, 64); err != nil || f < 0 || f > 1 {
			return &Error{Setting: "OTEL_TRACES_SAMPLER_ARG", Problem: fmt.Sprintf("%q is not a number from 0 to 1", c.OTelSamplerArg)}
		}
	}
	if c.TraceURL != "" {
		u, err := url.Parse(strings.ReplaceAll(c.TraceURL, "{trace_id}", "x"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.Contains(c.TraceURL, "{trace_id}") {
			return &Error{Setting: "CODEX32_TRACE_URL", Problem: fmt.Sprintf("%q is not an http(s) URL with {trace_id} in it", c.TraceURL)}
		}
	}
	switch c.TrustTraceparent {
	case "proxies", "all", "none":
	default:
		return &Error{Setting: "CODEX32_TRUST_TRACEPARENT", Problem: fmt.Sprintf("%q is not proxies, all or none", c.TrustTraceparent)}
	}
	return nil
}

// TraceLink is the trace page of a trace id per CODEX32_TRACE_URL, or "".
func (c *Config) TraceLink(traceID string) string {
	if c.TraceURL == "" || traceID == "" {
		return ""
	}
	return strings.ReplaceAll(c.TraceURL, "{trace_id}", url.PathEscape(traceID))
}

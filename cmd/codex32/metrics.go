package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/codex32/codex32/internal/config"
	"github.com/codex32/codex32/internal/telemetry"
	"github.com/codex32/codex32/models"
)

// buildMetrics makes the process's metrics when they are served
// (CODEX32_METRICS_ADDR or CODEX32_METRICS_TOKEN), else nil: nothing is
// recorded.
func buildMetrics(cfg *config.Config, db *models.DB) *telemetry.Metrics {
	if cfg.MetricsAddr == "" && cfg.MetricsToken == "" {
		return nil
	}
	m := telemetry.NewMetrics(telemetry.MetricsOptions{
		Version: version(), Commit: buildCommit(),
		BotLabels: cfg.MetricsBotLabels, BotLabelsMax: cfg.MetricsBotLabelsMax,
	})
	m.WatchDB(models.Readings{DB: db}, cfg.WorkerLostAfter)
	db.CountAuditRows(m)
	return m
}

// buildCommit is the VCS revision the binary was built from, if known.
func buildCommit() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return ""
}

// startMetrics serves m at /metrics on addr (CODEX32_METRICS_ADDR) until
// ctx ends: a listener and mux of its own, answering nothing else. It
// returns the bound address ("" when off).
func startMetrics(ctx context.Context, addr string, m *telemetry.Metrics, log *slog.Logger) (string, error) {
	if addr == "" || m == nil {
		return "", nil
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	log.Info("metrics listening", "url", "http://"+ln.Addr().String()+"/metrics")
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return ln.Addr().String(), nil
}

// buildTracing makes the process's tracing from the OTEL_* settings (a
// no-op without an endpoint) and, when on, traces the database queries.
// db.Bun must not have been copied yet.
func buildTracing(ctx context.Context, cfg *config.Config, db *models.DB) (*telemetry.Tracing, error) {
	t, err := telemetry.NewTracing(ctx, telemetry.TracingOptions{
		Endpoint: cfg.OTLPEndpoint, Protocol: cfg.OTLPProtocol, ServiceName: cfg.OTelServiceName,
		Sampler: cfg.OTelSampler, SamplerArg: cfg.OTelSamplerArg, ResourceAttrs: cfg.OTelResource, Version: version(),
	})
	if err != nil {
		return nil, &config.Error{Setting: "OTEL_EXPORTER_OTLP_ENDPOINT", Problem: err.Error()}
	}
	if t.Enabled() {
		db.Trace(t.Provider())
	}
	return t, nil
}

// shutdownTracing sends the spans still buffered, within 5 s of ctx's
// values (ctx itself is usually over: the signal that stops the process).
func shutdownTracing(ctx context.Context, t *telemetry.Tracing, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := t.Shutdown(ctx); err != nil {
		log.Warn("tracing: could not send the last spans", "err", err)
	}
}

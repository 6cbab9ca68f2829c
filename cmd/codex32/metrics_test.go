package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/telemetry"
)

func TestMetricsListenerServesOnlyMetrics(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := telemetry.NewMetrics(telemetry.MetricsOptions{Version: "v9"})
	addr, err := startMetrics(ctx, "127.0.0.1:0", m, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) (int, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
		require.NoError(t, err)
		res, err := client.Do(req)
		require.NoError(t, err)
		defer func() { _ = res.Body.Close() }()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, body := get("/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `codex32_build_info{commit="unknown",goversion=`)
	require.Contains(t, body, "go_goroutines")
	for _, p := range []string{"/", "/debug/pprof/", "/bots", "/metrics/x"} {
		code, body := get(p)
		require.Equal(t, http.StatusNotFound, code, p)
		require.NotContains(t, body, "codex32_", p)
	}
	off, err := startMetrics(ctx, "", m, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.Empty(t, off, "no address: no listener")
}

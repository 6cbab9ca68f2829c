package promnames

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/telemetry"
	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

// realScrape is what the application's /metrics exposes once every
// instrument has recorded something (a label vector shows no series
// before that), with the scrape-time readings of a real database.
func realScrape(t *testing.T) map[string]string {
	t.Helper()
	db := testutil.NewDB(t)
	m := telemetry.NewMetrics(telemetry.MetricsOptions{Version: "test", BotLabels: true, BotLabelsMax: 5})
	m.WatchDB(models.Readings{DB: db}, 30*time.Second)
	m.WatchSandbox(func() (int, int) { return 2, 1 })
	db.CountAuditRows(m)
	m.ObserveHTTP("/bots/:id", "GET", 200, time.Millisecond)
	m.ExecutionRequested("script", "api", 1)
	m.ExecutionStarted("script", time.Millisecond)
	m.AttemptFinished("script", "success", time.Millisecond)
	m.ExecutionFinished("script", "api", "success", "b1")
	m.ObserveOutbound("http", telemetry.OutboundOK, time.Millisecond)
	m.LLMTokens("model", 1, 1)
	m.Login("password", "ok")
	m.RateLimited()
	m.Webhook("accepted")
	m.ScheduleTicks(1, 1)
	m.AuditRows(1)
	m.SandboxRestart("crash")
	_, err := db.Bun.ExecContext(context.Background(), "SELECT 1")
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	exposed, err := Exposed(rec.Body)
	require.NoError(t, err)
	for k, v := range prometheusOwn {
		exposed[k] = v
	}
	return exposed
}

// The contract (the README's metric table) is what the code exposes: every
// codex32_ family of the scrape is in it, with its type, and the other way
// round.
func TestContractIsWhatTheCodeExposes(t *testing.T) {
	exposed := realScrape(t)
	for name, typ := range exposed {
		if !strings.HasPrefix(name, "codex32_") {
			continue
		}
		require.Equal(t, typ, contractMetrics[name], "%s: exposed as %s, the contract says %q", name, typ, contractMetrics[name])
	}
	for name, typ := range contractMetrics {
		require.Equal(t, typ, exposed[name], "the contract names %s (%s) but /metrics does not expose it", name, typ)
	}
}

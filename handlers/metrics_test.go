package handlers_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

const metricsToken = "metrics-token-0123456789"

func scrapeApp(t *testing.T, a *testutil.App) testutil.Scrape {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+metricsToken)
	res := a.Do(t, req)
	require.Equal(t, http.StatusOK, res.StatusCode)
	return testutil.ParseMetrics(t, res.Body)
}

// metricValue is a counter's or gauge's value; these count whole things.
func metricValue(t *testing.T, s testutil.Scrape, name string, labels map[string]string) int {
	t.Helper()
	v, _ := s.Value(name, labels)
	return int(v)
}

// TestMetricsAfterRealWork signs in, runs the API, calls webhooks and
// trips the rate limit, then reads /metrics as Prometheus would.
func TestMetricsAfterRealWork(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t, testutil.WithMetrics(metricsToken), testutil.WithAPIRateLimit(3, time.Hour))
	auditBefore := countRows(t, a, "audit_logs", "")

	// Sign-ins: one good, one bad password.
	u := testutil.CreateUserWithPassword(t, a.DB, models.RoleUser)
	c := a.Client(t)
	c.Login(u.Email, testutil.TestPassword)
	bad := a.Client(t)
	bad.Get("/login")
	require.Equal(t, http.StatusUnauthorized, bad.Post("/login", url.Values{"email": {u.Email}, "password": {"not the password at all"}}).StatusCode)

	// A page by its route pattern.
	owner := testutil.CreateUser(t, a.DB, models.RoleUser)
	b := execBot(t, a, owner, "metered", models.BotActive)
	require.Equal(t, http.StatusOK, c.Get("/bots/"+b.ID.String()).StatusCode)

	// Webhooks: accepted, bad signature, unknown token.
	_, sec := hookOf(t, a, b, true, 0)
	body := `{"a":1}`
	good := http.Header{"X-Codex32-Signature": {models.SignWebhookBody(sec.SigningSecret, []byte(body))}}
	require.Equal(t, http.StatusAccepted, postJSON(t, a, "/hooks/"+sec.Token, body, good).status)
	require.Equal(t, http.StatusUnauthorized, postJSON(t, a, "/hooks/"+sec.Token, body, nil).status)
	require.Equal(t, http.StatusNotFound, postJSON(t, a, "/hooks/c32wh_"+strings.Repeat("b", 32), body, good).status)

	// The API: 3 requests allowed, the 4th refused.
	_, key := apiUserKey(t, a, models.RoleUser)
	for i := range 4 {
		res, _ := apiGet(t, a, "/api/v1/bots", key)
		if i < 3 {
			require.Equal(t, http.StatusOK, res.StatusCode)
		} else {
			require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
		}
	}

	s := scrapeApp(t, a)
	require.Equal(t, 1, metricValue(t, s, "codex32_logins_total", map[string]string{"method": "password", "result": "ok"}))
	require.Equal(t, 1, metricValue(t, s, "codex32_logins_total", map[string]string{"method": "password", "result": "failed"}))
	require.Equal(t, 1, metricValue(t, s, "codex32_webhook_calls_total", map[string]string{"result": "accepted"}))
	require.Equal(t, 1, metricValue(t, s, "codex32_webhook_calls_total", map[string]string{"result": "bad_signature"}))
	require.Equal(t, 1, metricValue(t, s, "codex32_webhook_calls_total", map[string]string{"result": "not_found"}))
	require.Equal(t, 1, metricValue(t, s, "codex32_api_rate_limited_total", nil))
	require.Equal(t, 1, metricValue(t, s, "codex32_http_requests_total", map[string]string{"route": "/bots/:id", "method": "GET", "code": "2xx"}))
	require.Equal(t, 3, metricValue(t, s, "codex32_http_requests_total", map[string]string{"route": "/api/v1/bots", "method": "GET", "code": "2xx"}))
	require.Equal(t, 2, metricValue(t, s, "codex32_http_requests_total", map[string]string{"route": "/hooks/:token", "code": "4xx"}))
	require.Equal(t, 1, metricValue(t, s, "codex32_executions_requested_total", map[string]string{"trigger": "webhook"}))
	require.Equal(t, 1, metricValue(t, s, "codex32_executions_queued", nil), "the webhook's execution waits (no workers)")
	written := countRows(t, a, "audit_logs", "") - auditBefore
	require.Positive(t, written)
	require.Equal(t, written, metricValue(t, s, "codex32_audit_rows_total", nil), "audit rows: metrics and table agree")

	// Nothing identifying or secret is exposed.
	text := s.Text()
	for _, secret := range []string{sec.Token, sec.SigningSecret, key, u.Email, b.ID.String(), u.ID.String(), metricsToken} {
		require.NotContains(t, text, secret)
	}
	for _, route := range s.LabelValues("codex32_http_requests_total", "route") {
		require.NotContains(t, route, "c32wh_", "a raw path as a label")
	}
}

func TestMetricsNeedTheirToken(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t, testutil.WithMetrics(metricsToken))
	for _, auth := range []string{"", "Bearer nope-nope-nope-nope-nope"} {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res := a.Do(t, req)
		require.Equal(t, http.StatusUnauthorized, res.StatusCode)
		b, _ := io.ReadAll(res.Body)
		require.NotContains(t, string(b), "codex32_")
	}
	off := testutil.NewApp(t)
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+metricsToken)
	require.Equal(t, http.StatusNotFound, off.Do(t, req).StatusCode, "metrics off: no such page")
}

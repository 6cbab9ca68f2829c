package web_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/telemetry"
	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/web"
)

func metricsApp(t *testing.T, token string) (*fiber.App, *telemetry.Metrics) {
	t.Helper()
	m := telemetry.NewMetrics(telemetry.MetricsOptions{Version: "1.2.3", Commit: "abc"})
	app := web.New(web.Options{Metrics: m, MetricsToken: token})
	app.Use(func(c *fiber.Ctx) error { return c.Next() }) // like sessions: app.Use on "/"
	app.Get("/", func(c *fiber.Ctx) error { return c.SendString("home") })
	app.Get("/bots/:id", func(c *fiber.Ctx) error { return c.SendString("bot") })
	app.Post("/bots/:id/run", func(c *fiber.Ctx) error { return fiber.ErrConflict })
	app.Get("/boom", func(c *fiber.Ctx) error { return c.Status(500).SendString("x") })
	return app, m
}

func doRequest(t *testing.T, app *fiber.App, method, path, auth string) *http.Response {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := app.Test(req, -1)
	require.NoError(t, err)
	return res
}

func TestRequestsAreCountedByRoutePattern(t *testing.T) {
	t.Parallel()
	app, m := metricsApp(t, "")
	for _, r := range []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/bots/0b6f6d9e-1111-4bbb-8ccc-000000000001"}, {"GET", "/bots/another-raw-id"},
		{"POST", "/bots/7/run"}, {"GET", "/boom"}, {"GET", "/no/such/page"}, {"GET", "/bots/7/no-such-tab"},
	} {
		_ = doRequest(t, app, r.method, r.path, "")
	}
	s := testutil.ScrapeHandler(t, m.Handler())
	for _, c := range []struct {
		labels map[string]string
		want   int
	}{
		{map[string]string{"route": "/", "method": "GET", "code": "2xx"}, 1},
		{map[string]string{"route": "/bots/:id", "method": "GET", "code": "2xx"}, 2},
		{map[string]string{"route": "/bots/:id/run", "method": "POST", "code": "4xx"}, 1},
		{map[string]string{"route": "/boom", "method": "GET", "code": "5xx"}, 1},
		{map[string]string{"route": "unmatched", "method": "GET", "code": "4xx"}, 2},
	} {
		got, ok := s.Value("codex32_http_requests_total", c.labels)
		require.True(t, ok, "%v", c.labels)
		require.Equal(t, c.want, int(got), "%v", c.labels)
	}
	n, _ := s.Value("codex32_http_request_duration_seconds", map[string]string{"route": "/bots/:id"})
	require.Equal(t, 2, int(n), "the duration histogram counts them too")
	for _, route := range s.LabelValues("codex32_http_requests_total", "route") {
		require.NotContains(t, route, "0b6f6d9e", "a raw path became a label")
		require.NotContains(t, route, "no/such", "a raw path became a label")
	}
	got, _ := s.Value("codex32_build_info", map[string]string{"version": "1.2.3", "commit": "abc"})
	require.Equal(t, 1, int(got))
	require.Contains(t, s.Names(), "go_goroutines")
	require.Contains(t, s.Names(), "process_cpu_seconds_total")
}

func TestMetricsOnTheMainPortNeedTheToken(t *testing.T) {
	t.Parallel()
	const token = "s3cret-metrics-token-0123"
	app, _ := metricsApp(t, token)
	for _, auth := range []string{"", "Bearer wrong-token-of-some-length", "Basic " + token, token} {
		res := doRequest(t, app, "GET", "/metrics", auth)
		require.Equal(t, http.StatusUnauthorized, res.StatusCode, "auth %q", auth)
		body, _ := io.ReadAll(res.Body)
		require.NotContains(t, string(body), "codex32_", "auth %q", auth)
	}
	res := doRequest(t, app, "GET", "/metrics", "Bearer "+token)
	require.Equal(t, http.StatusOK, res.StatusCode)
	body, _ := io.ReadAll(res.Body)
	s := testutil.ParseMetrics(t, bytes.NewReader(body))
	require.Contains(t, s.Names(), "codex32_http_requests_total")
	require.NotContains(t, string(body), token, "the token is never exposed")

	off, _ := metricsApp(t, "")
	require.Equal(t, http.StatusNotFound, doRequest(t, off, "GET", "/metrics", "Bearer "+token).StatusCode, "no token set: not served on the main port")
}

func TestNilMetricsRecordNothing(t *testing.T) {
	t.Parallel()
	var m *telemetry.Metrics
	m.ObserveHTTP("/", "GET", 200, 0)
	m.ExecutionRequested("http", "api", 1)
	m.ExecutionFinished("http", "api", "success", "b")
	m.LLMTokens("gpt", 1, 2)
	m.WatchDB(nil, 0)
}

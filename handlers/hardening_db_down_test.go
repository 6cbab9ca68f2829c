package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

// dbDownFixture is a signed-in page client, an API key and a webhook URL on
// app a, made while its database is up.
type dbDownFixture struct {
	c         *testutil.Client
	key, hook string
}

func newDBDownFixture(t *testing.T, opts ...testutil.AppOption) (*testutil.App, dbDownFixture) {
	t.Helper()
	a, c, u := signedIn(t, models.RoleUser, opts...)
	_, key := apiUserKey(t, a, models.RoleUser)
	_, sec := hookOf(t, a, execBot(t, a, u, "hooked", models.BotActive), false, 0)
	return a, dbDownFixture{c: c, key: key, hook: "/hooks/" + sec.Token}
}

// requireUnavailable checks that pages, the API and the webhooks answer
// 503 with Retry-After while the database cannot be reached — the error
// page in the browser, a problem for programs — and that the app recovers
// nothing it should not: liveness still answers.
func requireUnavailable(t *testing.T, a *testutil.App, f dbDownFixture) {
	t.Helper()
	for _, path := range []string{"/bots", "/executions"} {
		r := f.c.Get(path)
		require.Equal(t, http.StatusServiceUnavailable, r.StatusCode, "%s: %s", path, r.Body)
		require.Equal(t, "5", r.Header.Get("Retry-After"), path)
		require.Contains(t, r.Header.Get("Content-Type"), "text/html", path)
		d := r.Doc(t)
		require.Equal(t, "503", d.Find(`[data-testid="error-status"]`).Text(), path)
		require.Contains(t, d.Find("main").Text(), "database cannot be reached", path)
	}
	// htmx gets the flash, with the same status.
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/executions/rows", nil)
	req.Header.Set("HX-Request", "true")
	r := f.c.Do(req)
	require.Equal(t, http.StatusServiceUnavailable, r.StatusCode, r.Body)
	require.Equal(t, "5", r.Header.Get("Retry-After"))

	api := newAPITester(t, a)
	for _, path := range []string{"/api/v1/me", "/api/v1/bots"} {
		r := api.get(path, f.key)
		require.Equal(t, http.StatusServiceUnavailable, r.StatusCode, "%s: %s", path, r.Body)
		require.Equal(t, "5", r.Header.Get("Retry-After"), path)
		p := r.problem(t)
		require.Equal(t, web.ProblemTypeFor(http.StatusServiceUnavailable), p.Type, path)
		require.Contains(t, p.Detail, "database cannot be reached", path)
	}

	h := postJSON(t, a, f.hook, `{"ref":"main"}`, nil)
	require.Equal(t, http.StatusServiceUnavailable, h.status, h.raw)
	require.Equal(t, "5", h.header.Get("Retry-After"))
	require.Contains(t, h.body["detail"], "database cannot be reached")

	resp := a.Do(t, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/healthz", nil))
	require.Equal(t, http.StatusOK, resp.StatusCode, "liveness does not need the database")
}

// The database closed under the app (as at shutdown): on both databases.
func TestDatabaseClosedAnswers503(t *testing.T) {
	t.Parallel()
	a, f := newDBDownFixture(t)
	require.NoError(t, a.DB.Close())
	requireUnavailable(t, a, f)
}

// Postgres goes away for real: the connections the pool holds drop and new
// ones are refused (a cut TCP proxy between the app and the server).
func TestPostgresGoneAnswers503(t *testing.T) {
	if testutil.Dialect() != models.Postgres {
		t.Skip("SQLite has no connection to lose (TestDatabaseClosedAnswers503 covers it)")
	}
	t.Parallel()
	proxy := testutil.NewTCPProxy(t, testutil.PostgresAddr(t))
	a, f := newDBDownFixture(t, testutil.DBThrough(proxy))
	proxy.Cut()
	requireUnavailable(t, a, f)
}

package handlers_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/handlers"
	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/migrations"
	"github.com/codex32/codex32/models"
)

func jsonBody(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
	return m
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	resp := a.Do(t, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/healthz", nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "ok", jsonBody(t, resp)["status"])
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	resp := a.Do(t, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body := jsonBody(t, resp)
	require.Equal(t, "ready", body["status"])
	require.Equal(t, string(testutil.Dialect()), body["database"])
}

func TestReadyzSchemaBehind(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	_, err := a.Migrator.Down(context.Background(), 1)
	require.NoError(t, err)
	resp := a.Do(t, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	body := jsonBody(t, resp)
	require.Equal(t, "unavailable", body["status"])
	require.Contains(t, body["reason"], "migrate up")
}

func TestReadyzDatabaseDown(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	require.NoError(t, a.DB.Close())
	resp := a.Do(t, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "database unreachable", jsonBody(t, resp)["reason"])

	// Liveness does not depend on the database.
	resp = a.Do(t, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/healthz", nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// signedIn returns an app and a client signed in with a new user of role.
func signedIn(t *testing.T, role models.Role, opts ...testutil.AppOption) (*testutil.App, *testutil.Client, *models.User) {
	t.Helper()
	a := testutil.NewApp(t, opts...)
	u := testutil.CreateUserWithPassword(t, a.DB, role)
	c := a.Client(t)
	c.Login(u.Email, testutil.TestPassword)
	return a, c, u
}

func TestHomePage(t *testing.T) {
	t.Parallel()
	_, c, _ := signedIn(t, models.RoleUser)
	resp := c.Get("/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	d := resp.Doc(t)
	require.Equal(t, "Dashboard", d.Find(`[data-testid="page-title"]`).Text())
	require.Equal(t, 1, d.Find(`[data-testid="header"]`).Length())
	require.Equal(t, 1, d.Find(`[data-testid="flashes"]`).Length())
	require.Equal(t, 1, d.Find(`[data-testid="footer"]`).Length())
	require.Equal(t, 1, d.Find(`[data-testid="empty-state"]`).Length(), "no bots: empty state")
	require.Equal(t, "/bots/new", d.Find(`[data-testid="create-first-bot"]`).AttrOr("href", ""), "with a way out")
	css, _ := d.Find(`link[rel="stylesheet"]`).Attr("href")
	require.Regexp(t, `^/static/css/app\.css\?v=[0-9a-f]{12}$`, css)
	js, _ := d.Find(`script[src]`).Attr("src")
	require.Regexp(t, `^/static/js/htmx\.min\.js\?v=[0-9a-f]{12}$`, js)
	require.Contains(t, d.Find(`[data-testid="stat-database"]`).Text(), map[models.Dialect]string{models.SQLite: "SQLite", models.Postgres: "PostgreSQL"}[testutil.Dialect()])
}

func TestHomeCountsBots(t *testing.T) {
	t.Parallel()
	a, c, u := signedIn(t, models.RoleUser)
	_, err := models.CreateBot(context.Background(), a.DB.Bun, models.Actor{UserID: &u.ID}, &models.Bot{OwnerID: u.ID, Name: "b", Kind: models.KindHTTP}, json.RawMessage(`{}`), "")
	require.NoError(t, err)
	d := c.Get("/").Doc(t)
	require.Equal(t, "1", strings.TrimSpace(d.Find(`[data-testid="stat-bots"] div`).Eq(1).Text()))
	require.Zero(t, d.Find(`[data-testid="empty-state"]`).Length())
	require.Contains(t, d.Find(`[data-testid="stat-status-inactive"]`).Text(), "1", "counts by status")
}

func TestNotFoundPage(t *testing.T) {
	t.Parallel()
	a, c, _ := signedIn(t, models.RoleViewer)
	resp := c.Get("/no/such/page").Response
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	d := c.Get("/no/such/page").Doc(t)
	require.Equal(t, "404", d.Find(`[data-testid="error-status"]`).Text())
	require.Contains(t, d.Find("h1").Text(), "Page not found")
	require.NotEmpty(t, d.Find(`[data-testid="request-id"]`).Text())
	require.Equal(t, 1, d.Find(`[data-testid="header"]`).Length(), "error pages use the layout")

	// JSON clients get JSON.
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/no/such/page", nil)
	req.Header.Set("Accept", "application/json")
	resp = a.Do(t, req)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.EqualValues(t, 404, jsonBody(t, resp)["status"])
}

func TestInternalErrorPage(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	a.Fiber.Get("/test/boom", boom)
	a.Fiber.Get("/test/panic", func(c *fiberCtx) error { panic("kaboom") })
	for _, path := range []string{"/test/boom", "/test/panic"} {
		resp := a.Do(t, httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil))
		require.Equal(t, http.StatusInternalServerError, resp.StatusCode, path)
		body, _ := io.ReadAll(resp.Body)
		require.Contains(t, string(body), "Something went wrong")
		require.NotContains(t, string(body), "secret detail", "internal error text is not shown")
		require.NotContains(t, string(body), "kaboom")
	}
}

func boom(*fiberCtx) error { return errors.New("secret detail from the database") }

func TestStaticAssetsAreEmbeddedAndCached(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	d := a.Client(t).Get("/login").Doc(t)
	for _, sel := range []string{`link[rel="stylesheet"]`, `script[src]`} {
		node := d.Find(sel)
		href, ok := node.Attr("href")
		if !ok {
			href, _ = node.Attr("src")
		}
		resp := a.Do(t, httptest.NewRequestWithContext(t.Context(), http.MethodGet, href, nil))
		require.Equal(t, http.StatusOK, resp.StatusCode, href)
		require.Equal(t, "public, max-age=31536000, immutable", resp.Header.Get("Cache-Control"), href)
		etag := resp.Header.Get("ETag")
		require.NotEmpty(t, etag)
		body, _ := io.ReadAll(resp.Body)
		require.Greater(t, len(body), 1000, href)

		// Without the version: short cache, and a 304 for a matching ETag.
		plain := strings.Split(href, "?")[0]
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, plain, nil)
		req.Header.Set("If-None-Match", etag)
		resp = a.Do(t, req)
		require.Equal(t, http.StatusNotModified, resp.StatusCode)
		require.Contains(t, resp.Header.Get("Cache-Control"), "max-age=300")
	}
	resp := a.Do(t, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/static/css/app.css", nil))
	require.Contains(t, resp.Header.Get("Content-Type"), "text/css")
	for _, bad := range []string{"/static/nope.css", "/static/../go.mod", "/static/src/app.css"} {
		resp := a.Do(t, httptest.NewRequestWithContext(t.Context(), http.MethodGet, bad, nil))
		require.Equal(t, http.StatusNotFound, resp.StatusCode, bad)
	}
}

// Compile-time check that a Migrator satisfies handlers.Schema.
var _ handlers.Schema = (*migrations.Migrator)(nil)

type fiberCtx = fiber.Ctx

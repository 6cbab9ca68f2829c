package handlers_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

// A NUL character cannot be stored in Postgres text; SQLite would keep it.
// Both refuse it alike, wherever it comes in, before it reaches a query.
func TestNULIsRefusedOnPages(t *testing.T) {
	t.Parallel()
	a, c, u := signedIn(t, models.RoleAdmin)
	b := execBot(t, a, u, "nul target", models.BotActive)

	for _, path := range []string{"/bots?q=a%00b", "/bots?tag=%00", "/executions?q=%00", "/audit?action=bot.%00", "/bots/" + b.ID.String() + "?tab=%00"} {
		r := c.Get(path)
		require.Equal(t, http.StatusBadRequest, r.StatusCode, path)
		require.Contains(t, r.Header.Get("Content-Type"), "text/html", path)
		require.Equal(t, "400", r.Doc(t).Find(`[data-testid="error-status"]`).Text(), path)
	}

	// A form field (urlencoded): nothing is created.
	r := c.Post("/bots", url.Values{"name": {"a\x00b"}, "kind": {"http"}, "status": {"active"}, "config": {`{"url":"https://example.test/"}`}})
	require.Equal(t, http.StatusBadRequest, r.StatusCode, r.Body)
	require.Contains(t, r.Doc(t).Find(`main`).Text(), "NUL")
	bots, err := models.ListBots(bg, a.DB.Bun, models.BotFilter{})
	require.NoError(t, err)
	require.Len(t, bots, 1, "only the fixture")

	// JSON typed into a form may not hold \u0000 either: the form again,
	// with the config's error (the models refuse it, from any door).
	r = c.Post("/bots", url.Values{"name": {"nul config"}, "kind": {"http"}, "status": {"active"}, "config": {`{"method":"POST","url":"https://example.test/","body":"a\u0000b"}`}})
	require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode, r.Body)
	require.Contains(t, r.Doc(t).Find(`[data-testid="config-errors"]`).Text(), "NUL character")
	bots, err = models.ListBots(bg, a.DB.Bun, models.BotFilter{})
	require.NoError(t, err)
	require.Len(t, bots, 1, "still only the fixture")

	r = c.Post("/bots/"+b.ID.String()+"/schedules", scheduleFormValues("30 2 * * *", "UTC", `{"s": "\u0000"}`))
	require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode, r.Body)
	require.Contains(t, r.Doc(t).Find(`[data-testid="error-input"]`).Text(), "NUL")

	// A multipart form field, and a field name.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	require.NoError(t, mw.WriteField("_csrf", c.CSRF))
	require.NoError(t, mw.WriteField("name", "key\x00"))
	require.NoError(t, mw.WriteField("scopes", "read"))
	require.NoError(t, mw.Close())
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/settings/api-keys", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	r = c.Do(req)
	require.Equal(t, http.StatusBadRequest, r.StatusCode, r.Body)
	r = c.Post("/profile/password", url.Values{"current\x00": {"x"}})
	require.Equal(t, http.StatusBadRequest, r.StatusCode, r.Body)

	// An escaped %00 in a value is ordinary text, as is "\u0000" typed in.
	r = c.Get("/bots?q=" + url.QueryEscape("%00") + "&tag=" + url.QueryEscape(`\u0000`))
	require.Equal(t, http.StatusOK, r.StatusCode)
}

func TestNULIsRefusedOnTheAPI(t *testing.T) {
	t.Parallel()
	a, _, _ := signedIn(t, models.RoleAdmin)
	api := newAPITester(t, a)
	u, key := apiUserKey(t, a, models.RoleAdmin)
	b := apiBotFixture(t, a, u, false)

	// Query filters: 400 invalid-query naming the parameter.
	for path, field := range map[string]string{
		"/api/v1/bots?q=a%00b":          "q",
		"/api/v1/bots?tag=%00":          "tag",
		"/api/v1/executions?cursor=%00": "cursor",
		"/api/v1/audit?action=%00":      "action",
		"/api/v1/users?q=%00":           "q",
	} {
		r := api.get(path, key)
		require.Equal(t, http.StatusBadRequest, r.StatusCode, "%s: %s", path, r.Body)
		p := r.problem(t)
		require.Equal(t, web.ProblemType(web.ProblemInvalidQuery), p.Type, path)
		require.Equal(t, field, p.Errors[0].Field, path)
		require.Contains(t, p.Errors[0].Message, "NUL", path)
	}

	// JSON strings: 422 naming the top-level field; nothing changes.
	r := api.post("/api/v1/bots", key, `{"name": "a\u0000b", "kind": "http", "config": {"url": "https://example.test/"}}`)
	require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode, string(r.Body))
	require.Equal(t, "name", r.problem(t).Errors[0].Field)
	r = api.patch("/api/v1/bots/"+b.ID.String(), key, `{"tags": ["ok", "\u0000"]}`)
	require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode, string(r.Body))
	require.Equal(t, "tags", r.problem(t).Errors[0].Field)
	r = api.patch("/api/v1/bots/"+b.ID.String(), key, `{"config": {"url": "https://example.test/\u0000"}}`)
	require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode, string(r.Body))
	require.Equal(t, "config", r.problem(t).Errors[0].Field)
	got, err := models.BotByID(bg, a.DB.Bun, b.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"matrix"}, got.Tags)
	require.Equal(t, 2, countRows(t, a, "bot_versions", "bot_id = ?", b.ID), "no new version")

	// The route's own 404 still comes first for a body.
	r = api.patch("/api/v1/bots/"+uuid.NewString(), key, `{"name": "\u0000"}`)
	require.Equal(t, http.StatusNotFound, r.StatusCode, string(r.Body))
}

func TestNULIsRefusedOnWebhooks(t *testing.T) {
	t.Parallel()
	a, _, u := signedIn(t, models.RoleUser)
	b := execBot(t, a, u, "hooked", models.BotActive)
	_, sec := hookOf(t, a, b, false, 0)
	path := "/hooks/" + sec.Token

	for name, tc := range map[string]struct {
		path, contentType, body string
		status                  int
	}{
		"query":       {path + "?x=%00", "application/json", `{}`, http.StatusBadRequest},
		"form field":  {path, "application/x-www-form-urlencoded", "ref=ma%00in", http.StatusBadRequest},
		"JSON string": {path, "application/json", `{"ref": "ma\u0000in"}`, http.StatusUnprocessableEntity},
		"sniffed":     {path, "", `{"ref": "ma\u0000in"}`, http.StatusUnprocessableEntity},
	} {
		r := callHook(t, a, http.MethodPost, tc.path, tc.contentType, []byte(tc.body), nil)
		require.Equal(t, tc.status, r.status, "%s: %s", name, r.raw)
		require.Equal(t, "application/problem+json", r.header.Get("Content-Type"), name)
		require.NotContains(t, r.raw, sec.Token, "%s: the token is not echoed", name)
	}
	r := callHook(t, a, http.MethodPost, path, "application/json", []byte(`{"ref": "ma\u0000in"}`), nil)
	require.Equal(t, "ref", r.body["errors"].([]any)[0].(map[string]any)["field"])
	ex, err := models.QueryExecutions(bg, a.DB.Bun, models.ExecutionQuery{BotIDs: []uuid.UUID{b.ID}})
	require.NoError(t, err)
	require.Empty(t, ex.Rows, "nothing was queued")

	// A backslash before u0000 is text, and runs.
	r = callHook(t, a, http.MethodPost, path, "application/json", []byte(`{"ref": "ma\\u0000in"}`), nil)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.True(t, strings.HasPrefix(r.header.Get("Content-Type"), "application/json"))
}

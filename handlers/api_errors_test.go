package handlers_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

// TestAPIProblems produces every error status of the API and checks each
// is an RFC 9457 problem of the documented type (the contract transport
// checks the rest against openapi.yaml).
func TestAPIProblems(t *testing.T) { //nolint:tparallel // subtests share one app and one moves its clock; they run in order
	t.Parallel()
	a := testutil.NewApp(t)
	u, key := apiUserKey(t, a, models.RoleUser)
	bot := apiBotFixture(t, a, u, false)
	newAPITester := func(t *testing.T) *apiTester {
		t.Helper()
		return newAPITester(t, a)
	}
	botPath := "/api/v1/bots/" + bot.ID.String()
	typeOf := func(slug string) string { return web.ProblemType(slug) }

	t.Run("400 malformed JSON says where", func(t *testing.T) {
		api := newAPITester(t)
		r := api.send(apiReq{method: "POST", path: "/api/v1/bots", key: key, off: true, body: "{\n  \"name\": ,\n}"})
		require.Equal(t, s400, r.StatusCode)
		p := r.problem(t)
		require.Equal(t, typeOf(web.ProblemMalformedJSON), p.Type)
		require.Equal(t, 2, p.Line)
		require.Equal(t, 11, p.Column)
		require.EqualValues(t, 12, *p.Offset)
		require.Contains(t, p.Detail, "line 2, column 11")

		for body, want := range map[string]string{
			`{"name": "x"`:          "unexpected end of JSON input",
			`{"name": "x"} {}`:      "more after the JSON object",
			`[1, 2]`:                "must be a JSON object",
			"  ":                    "empty",
			`{"name": "x", "kind"}`: "invalid character",
		} {
			r := api.send(apiReq{method: "POST", path: "/api/v1/bots", key: key, off: true, body: body})
			require.Equal(t, s400, r.StatusCode, body)
			require.Contains(t, r.problem(t).Detail, want, body)
			require.Equal(t, typeOf(web.ProblemMalformedJSON), r.problem(t).Type, body)
		}
	})

	t.Run("401 needs a valid key, with a Bearer challenge", func(t *testing.T) {
		api := newAPITester(t)
		r := api.send(apiReq{method: "GET", path: "/api/v1/me", off: true})
		require.Equal(t, s401, r.StatusCode)
		require.Equal(t, `Bearer realm="codex32"`, r.Header.Get("WWW-Authenticate"))
		require.Equal(t, typeOf("unauthorized"), r.problem(t).Type)

		expiring := &models.APIKey{UserID: u.ID, Name: "short", Scopes: []string{models.ScopeRead}, ExpiresAt: new(time.Now().Add(time.Hour))}
		expKey, err := models.CreateAPIKey(context.Background(), a.DB.Bun, models.SystemActor("test"), expiring)
		require.NoError(t, err)
		revokedKey, revoked := accessKey(t, a.DB, u, models.ScopeRead)
		require.NoError(t, models.RevokeAPIKey(context.Background(), a.DB.Bun, models.SystemActor("test"), u.ID, revoked.ID))
		a.Clock.Advance(2 * time.Hour) // the app's clock: expiring has expired
		for name, tc := range map[string]struct{ key, path, detail string }{
			"forged":       {"c32_" + strings.Repeat("a", 38), "/api/v1/me", "Invalid API key."},
			"not ours":     {"sk-123", "/api/v1/me", "Invalid API key."},
			"expired":      {expKey, "/api/v1/me", "This API key is expired."},
			"revoked":      {revokedKey, "/api/v1/me", "This API key is revoked."},
			"in the query": {"", "/api/v1/me?api_key=" + key, "never in the URL"},
		} {
			r := api.send(apiReq{method: "GET", path: tc.path, key: tc.key, off: true})
			require.Equal(t, s401, r.StatusCode, name)
			require.Equal(t, `Bearer realm="codex32", error="invalid_token"`, r.Header.Get("WWW-Authenticate"), name)
			require.Contains(t, r.problem(t).Detail, tc.detail, name)
		}
	})

	t.Run("403 names the permission and is audited", func(t *testing.T) {
		api := newAPITester(t)
		other := testutil.CreateUser(t, a.DB, models.RoleUser)
		theirs := apiBotFixture(t, a, other, false)
		r := api.patch("/api/v1/bots/"+theirs.ID.String(), key, map[string]any{"name": "mine now"})
		require.Equal(t, s403, r.StatusCode)
		p := r.problem(t)
		require.Equal(t, typeOf("forbidden"), p.Type)
		require.Equal(t, string(models.PermBotsEditAny), p.MissingPermission)
		require.Contains(t, p.Detail, "Your role (user)")
		page, err := models.QueryAudit(context.Background(), a.DB.Bun, models.AuditQuery{Action: "access.denied", ResourceID: "PATCH /api/v1/bots/" + theirs.ID.String()})
		require.NoError(t, err)
		require.Len(t, page.Rows, 1)
		require.NotNil(t, page.Rows[0].ActorAPIKeyID)
		require.JSONEq(t, `{"needed":"bots:edit_any"}`, string(page.Rows[0].NewValues))
	})

	t.Run("403 for a run of someone else's bot is audited and queues nothing", func(t *testing.T) {
		api := newAPITester(t)
		other := testutil.CreateUser(t, a.DB, models.RoleUser)
		theirs := apiBotFixture(t, a, other, false)
		for _, path := range []string{"/executions", "/executions?wait=1s"} {
			r := api.post("/api/v1/bots/"+theirs.ID.String()+path, key, map[string]any{"input": map[string]any{"n": 1}})
			require.Equal(t, s403, r.StatusCode, path)
			p := r.problem(t)
			require.Equal(t, typeOf("forbidden"), p.Type, path)
			require.Equal(t, string(models.PermBotsRunAny), p.MissingPermission, path)
		}
		// Refused however the request is malformed: 404 and 403 come first.
		for name, req := range map[string]apiReq{
			"bad wait":       {method: "POST", path: "/api/v1/bots/" + theirs.ID.String() + "/executions?wait=soon", key: key, body: `{"input": {}}`, off: true},
			"malformed body": {method: "POST", path: "/api/v1/bots/" + theirs.ID.String() + "/executions", key: key, body: `{"input": `, off: true},
			"NUL in input":   {method: "POST", path: "/api/v1/bots/" + theirs.ID.String() + "/executions", key: key, body: `{"input": {"s": "\u0000"}}`, off: true},
		} {
			r := api.send(req)
			require.Equal(t, s403, r.StatusCode, name)
			require.Equal(t, string(models.PermBotsRunAny), r.problem(t).MissingPermission, name)
		}
		r := api.send(apiReq{method: "POST", path: "/api/v1/bots/" + uuid.NewString() + "/executions?wait=soon", key: key, body: `{}`, off: true})
		require.Equal(t, s404, r.StatusCode, "an unknown bot is a 404 before the bad wait")
		page, err := models.QueryAudit(context.Background(), a.DB.Bun, models.AuditQuery{Action: "access.denied", ResourceID: "POST /api/v1/bots/" + theirs.ID.String() + "/executions"})
		require.NoError(t, err)
		require.Len(t, page.Rows, 5, "every refusal is audited")
		require.JSONEq(t, `{"needed":"bots:run_any"}`, string(page.Rows[0].NewValues))
		ex, err := models.QueryExecutions(context.Background(), a.DB.Bun, models.ExecutionQuery{BotIDs: []uuid.UUID{theirs.ID}})
		require.NoError(t, err)
		require.Empty(t, ex.Rows, "nothing was queued")
	})

	t.Run("404 for records and for unknown endpoints", func(t *testing.T) {
		api := newAPITester(t)
		r := api.get("/api/v1/bots/"+bot.ID.String()+"/versions/7", key)
		require.Equal(t, s404, r.StatusCode)
		require.Equal(t, typeOf("not-found"), r.problem(t).Type)
		r = api.send(apiReq{method: "GET", path: "/api/v1/nothing/here", key: key, off: true})
		require.Equal(t, s404, r.StatusCode)
		p := r.problem(t)
		require.Equal(t, typeOf("not-found"), p.Type)
		require.Contains(t, p.Detail, "/api/docs")
		require.Equal(t, "/api/v1/nothing/here", p.Instance)
		// Without a key the answer is 401 whatever the path: nothing leaks.
		r = api.send(apiReq{method: "GET", path: "/api/v2/bots", off: true})
		require.Equal(t, s401, r.StatusCode)
	})

	t.Run("405 with Allow", func(t *testing.T) {
		api := newAPITester(t)
		r := api.send(apiReq{method: "DELETE", path: botPath, key: key, off: true})
		require.Equal(t, http.StatusMethodNotAllowed, r.StatusCode)
		require.Equal(t, typeOf("method-not-allowed"), r.problem(t).Type)
		allow := strings.Join(r.Header.Values("Allow"), ", ")
		require.Contains(t, allow, "GET")
		require.Contains(t, allow, "PATCH")
	})

	t.Run("409 version conflict and state", func(t *testing.T) {
		api := newAPITester(t)
		r := api.patch(botPath, key, map[string]any{"config": map[string]any{"url": "https://example.test/z"}, "base_version": 1})
		require.Equal(t, s409, r.StatusCode)
		require.Equal(t, typeOf(web.ProblemVersionConflict), r.problem(t).Type)
	})

	t.Run("413 over the body limit", func(t *testing.T) {
		api := newAPITester(t)
		huge := `{"name":"` + strings.Repeat("x", 1<<20+64<<10) + `"}`
		r := api.send(apiReq{method: "POST", path: "/api/v1/bots", key: key, off: true, body: huge})
		require.Equal(t, http.StatusRequestEntityTooLarge, r.StatusCode)
		p := r.problem(t)
		require.Equal(t, typeOf("payload-too-large"), p.Type)
		require.EqualValues(t, 1<<20+64<<10, p.LimitBytes)
		// Over the server's own limit (4 MiB) it is a problem too: the
		// server refuses it before any handler (over a real connection).
		// Announce 5 MiB and send none of it: the server answers at once.
		base := a.Serve(t)
		conn, err := (&net.Dialer{}).DialContext(t.Context(), "tcp", strings.TrimPrefix(base, "http://"))
		require.NoError(t, err)
		defer func() { _ = conn.Close() }()
		_, err = fmt.Fprintf(conn, "POST /api/v1/bots HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", key, 5<<20)
		require.NoError(t, err)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/api/v1/bots", nil)
		resp, err := http.ReadResponse(bufio.NewReader(conn), req)
		require.NoError(t, err)
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
		theContract(t).checkResponse(t, "POST /api/v1/bots (5 MiB)", offContract(req), resp, body)
	})

	t.Run("415 for a body that is not JSON", func(t *testing.T) {
		api := newAPITester(t)
		for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", ""} {
			r := api.send(apiReq{method: "POST", path: "/api/v1/bots", key: key, off: true, body: `{"name":"x"}`,
				header: http.Header{"Content-Type": {ct}}})
			require.Equal(t, http.StatusUnsupportedMediaType, r.StatusCode, ct)
			require.Equal(t, typeOf("unsupported-media-type"), r.problem(t).Type, ct)
		}
		r := api.send(apiReq{method: "PATCH", path: botPath, key: key, body: `{"name":"json"}`,
			header: http.Header{"Content-Type": {"application/merge-patch+json; charset=utf-8"}}, off: true})
		require.Equal(t, s200, r.StatusCode, "any +json type is JSON")
	})

	t.Run("422 names each field", func(t *testing.T) {
		api := newAPITester(t)
		r := api.send(apiReq{method: "POST", path: "/api/v1/bots", key: key, off: true, body: map[string]any{"name": "x", "kind": "http", "owner": "someone@example.test"}})
		require.Equal(t, s422, r.StatusCode)
		require.Equal(t, []web.FieldProblem{{Field: "owner", Message: "is not a field of this request"}}, r.problem(t).Errors)
		r = api.send(apiReq{method: "POST", path: "/api/v1/bots", key: key, off: true, body: map[string]any{"name": 7}})
		require.Equal(t, s422, r.StatusCode)
		require.Equal(t, []web.FieldProblem{{Field: "name", Message: "must be a string"}}, r.problem(t).Errors)
	})
}

// TestAPIProblemsFromMiddleware: errors that other middleware returns (a
// rate limiter's 429 with its Retry-After, idempotency conflicts, a plain
// error) become problems typed by their status, with no internals shown.
func TestAPIProblemsFromMiddleware(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	api := newAPITester(t, a)
	_, key := apiUserKey(t, a, models.RoleViewer)
	a.Fiber.Get("/api/test/limited", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderRetryAfter, "7")
		return fiber.NewError(fiber.StatusTooManyRequests, "Slow down: 100 requests a minute.")
	})
	a.Fiber.Get("/api/test/limited-bare", func(*fiber.Ctx) error { return fiber.ErrTooManyRequests })
	a.Fiber.Get("/api/test/replayed", func(*fiber.Ctx) error {
		return fiber.NewError(fiber.StatusConflict, "A request with this Idempotency-Key is still in progress.")
	})
	a.Fiber.Get("/api/test/mismatch", func(*fiber.Ctx) error {
		return fiber.NewError(fiber.StatusUnprocessableEntity, "This Idempotency-Key was used with another request.")
	})
	a.Fiber.Get("/api/test/boom", func(*fiber.Ctx) error { return errors.New(`pq: relation "bots" does not exist`) })
	a.Fiber.Get("/api/test/panic", func(*fiber.Ctx) error { panic("kaboom at handlers.go:12") })

	get := func(path string) *apiResp {
		return api.send(apiReq{method: "GET", path: path, key: key, off: true})
	}
	r := get("/api/test/limited")
	require.Equal(t, http.StatusTooManyRequests, r.StatusCode)
	require.Equal(t, "7", r.Header.Get("Retry-After"), "the middleware's Retry-After is kept")
	p := r.problem(t)
	require.Equal(t, web.ProblemType("rate-limited"), p.Type)
	require.Equal(t, "Slow down: 100 requests a minute.", p.Detail)
	require.Equal(t, "Too Many Requests", p.Title)
	require.Equal(t, "60", get("/api/test/limited-bare").Header.Get("Retry-After"))

	r = get("/api/test/replayed")
	require.Equal(t, s409, r.StatusCode)
	require.Equal(t, web.ProblemType("conflict"), r.problem(t).Type)
	r = get("/api/test/mismatch")
	require.Equal(t, s422, r.StatusCode)
	require.Equal(t, web.ProblemType("validation"), r.problem(t).Type)
	require.Equal(t, "This Idempotency-Key was used with another request.", r.problem(t).Detail)

	for _, path := range []string{"/api/test/boom", "/api/test/panic"} {
		r = get(path)
		require.Equal(t, http.StatusInternalServerError, r.StatusCode, path)
		p := r.problem(t)
		require.Equal(t, web.ProblemType("internal"), p.Type)
		require.NotEmpty(t, p.RequestID)
		require.NotContains(t, string(r.Body), "relation")
		require.NotContains(t, string(r.Body), "kaboom")
		require.NotContains(t, string(r.Body), ".go")
	}
}

package handlers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/codex32/codex32/handlers"
	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

const thingsPath = "/api/v1/test/things"

// thingsAPI is a stand-in for an API endpoint that creates something: each
// run writes an audit row and answers 201 with a Location. A body with
// "fail": true answers 500, "invalid": true answers 422 (a ValidationError),
// "panic": true panics.
type thingsAPI struct {
	a     *testutil.App
	calls atomic.Int64
	// gate, when set, holds every run until it is closed; entered receives
	// one value per run that reached the gate.
	gate    chan struct{}
	entered chan struct{}
}

func newThingsAPI(t *testing.T, opts ...testutil.AppOption) *thingsAPI {
	t.Helper()
	a := testutil.NewApp(t, opts...)
	api := &thingsAPI{a: a}
	deps := handlers.Deps{DB: a.DB, Now: a.Clock.Now, Log: slog.New(slog.DiscardHandler)}
	a.Fiber.Post(thingsPath, handlers.Idempotent(deps, api.create))
	a.Fiber.Post("/api/v1/test/other", handlers.Idempotent(deps, api.create))
	return api
}

func (api *thingsAPI) create(c *fiber.Ctx) error {
	n := api.calls.Add(1)
	if api.gate != nil {
		api.entered <- struct{}{}
		<-api.gate
	}
	var in struct {
		Name    string `json:"name"`
		Fail    bool   `json:"fail"`
		Invalid bool   `json:"invalid"`
		Panic   bool   `json:"panic"`
	}
	if err := c.BodyParser(&in); err != nil {
		return fiber.NewError(fiber.StatusBadRequest, err.Error())
	}
	switch {
	case in.Fail:
		return errors.New("the database went away")
	case in.Invalid:
		return &models.ValidationError{Fields: map[string]string{"name": "is not allowed"}}
	case in.Panic:
		panic("handler bug")
	}
	err := api.a.DB.InTx(c.UserContext(), func(ctx context.Context, tx bun.Tx) error {
		return models.WriteAudit(ctx, tx, web.Actor(c), models.AuditEntry{
			Action: "test.thing.create", ResourceType: "thing", ResourceID: fmt.Sprint(n), New: map[string]any{"name": in.Name},
		})
	})
	if err != nil {
		return err
	}
	c.Location(fmt.Sprintf("%s/%d", thingsPath, n))
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"id": n, "name": in.Name})
}

// runs is how many times the endpoint created a thing (audit rows).
func (api *thingsAPI) runs(t *testing.T) int {
	t.Helper()
	return countRows(t, api.a, "audit_logs", "action = ?", "test.thing.create")
}

type apiResult struct {
	status int
	header http.Header
	body   string
}

func (r apiResult) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.body), &m), r.body)
	return m
}

// post sends body to path with the API key and Idempotency-Key values
// (none: no header).
func (api *thingsAPI) post(t *testing.T, path, apiKey, body string, idemKeys ...string) apiResult {
	t.Helper()
	r, err := api.send(t.Context(), path, apiKey, body, idemKeys...)
	require.NoError(t, err)
	return r
}

// send is post for other goroutines than the test's (no require there).
func (api *thingsAPI) send(ctx context.Context, path, apiKey, body string, idemKeys ...string) (apiResult, error) {
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+apiKey)
	for _, k := range idemKeys {
		req.Header.Add("Idempotency-Key", k)
	}
	resp, err := api.a.Fiber.Test(req, -1)
	if err != nil {
		return apiResult{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return apiResult{status: resp.StatusCode, header: resp.Header, body: string(b)}, err
}

// sendAsync is send in a goroutine; a transport error arrives as status 0.
func (api *thingsAPI) sendAsync(ctx context.Context, results chan<- apiResult, start <-chan struct{}, path, apiKey, body string, idemKeys ...string) {
	go func() {
		<-start
		r, err := api.send(ctx, path, apiKey, body, idemKeys...)
		if err != nil {
			r = apiResult{body: err.Error()}
		}
		results <- r
	}()
}

func idemUserKey(t *testing.T, a *testutil.App) string {
	t.Helper()
	u := testutil.CreateUser(t, a.DB, models.RoleAPIUser)
	plain, _ := accessKey(t, a.DB, u, models.ScopeRead, models.ScopeWrite)
	return plain
}

func TestIdempotencyWithoutHeaderRunsEveryTime(t *testing.T) {
	t.Parallel()
	api := newThingsAPI(t)
	key := idemUserKey(t, api.a)
	for range 2 {
		r := api.post(t, thingsPath, key, `{"name":"a"}`)
		require.Equal(t, http.StatusCreated, r.status)
		require.Empty(t, r.header.Get("Idempotent-Replayed"))
	}
	require.Equal(t, 2, api.runs(t))
	require.Zero(t, countRows(t, api.a, "api_idempotency_keys", ""))
}

func TestIdempotencyReplaysTheFirstResponse(t *testing.T) {
	t.Parallel()
	api := newThingsAPI(t)
	key := idemUserKey(t, api.a)

	first := api.post(t, thingsPath, key, `{"name":"a","n":1.50}`, "order-42")
	require.Equal(t, http.StatusCreated, first.status, first.body)
	require.Empty(t, first.header.Get("Idempotent-Replayed"))
	require.Equal(t, thingsPath+"/1", first.header.Get("Location"))

	// The same request (JSON key order and spacing do not matter; the draft's
	// quoted form of the key is the same key): the stored response, once more.
	again := api.post(t, thingsPath, key, " {\"n\": 1.50,\n \"name\": \"a\"} ", `"order-42"`)
	require.Equal(t, first.status, again.status)
	require.Equal(t, first.body, again.body)
	require.Equal(t, first.header.Get("Location"), again.header.Get("Location"))
	require.Equal(t, first.header.Get("Content-Type"), again.header.Get("Content-Type"))
	require.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
	require.Equal(t, 1, api.runs(t), "the handler ran once")
	require.EqualValues(t, 1, api.calls.Load())

	// Same key, another request: 422, nothing runs.
	for _, other := range []struct{ path, body string }{
		{thingsPath, `{"name":"b","n":1.50}`},
		{thingsPath, `{"name":"a","n":1.5}`}, // numbers compare as written
		{"/api/v1/test/other", `{"name":"a","n":1.50}`},
		{thingsPath + "?dry_run=1", `{"name":"a","n":1.50}`},
	} {
		r := api.post(t, other.path, key, other.body, "order-42")
		require.Equal(t, http.StatusUnprocessableEntity, r.status, other)
		require.Equal(t, "Idempotency-Key was used with a different request", r.json(t)["detail"])
		require.Empty(t, r.header.Get("Idempotent-Replayed"))
	}
	require.Equal(t, 1, api.runs(t))
	require.EqualValues(t, 1, api.calls.Load())
}

func TestIdempotencyKeyMustBeWellFormed(t *testing.T) {
	t.Parallel()
	api := newThingsAPI(t)
	key := idemUserKey(t, api.a)
	for name, values := range map[string][]string{
		"empty":      {""},
		"blank":      {"   "},
		"quoted":     {`""`},
		"256 chars":  {strings.Repeat("k", 256)},
		"two values": {"a", "b"},
		"non-ASCII":  {"clé"},
	} {
		r := api.post(t, thingsPath, key, `{"name":"a"}`, values...)
		require.Equal(t, http.StatusBadRequest, r.status, name)
		require.Contains(t, r.json(t)["detail"], "Idempotency-Key", name)
	}
	require.Zero(t, api.runs(t))

	r := api.post(t, thingsPath, key, `{"name":"a"}`, strings.Repeat("k", 255))
	require.Equal(t, http.StatusCreated, r.status, "255 characters are fine")
}

func TestIdempotencyConcurrentDuplicatesRunOnce(t *testing.T) {
	t.Parallel()
	api := newThingsAPI(t)
	key := idemUserKey(t, api.a)
	api.gate, api.entered = make(chan struct{}), make(chan struct{}, 10)

	const n = 5
	results, start := make(chan apiResult, n), make(chan struct{})
	for range n {
		api.sendAsync(t.Context(), results, start, thingsPath, key, `{"name":"a"}`, "same")
	}
	close(start)
	// One request runs and waits at the gate; every other one is told the
	// first is still in flight.
	<-api.entered
	for range n - 1 {
		r := <-results
		require.Equal(t, http.StatusConflict, r.status, r.body)
		require.Contains(t, r.json(t)["detail"], "still being processed")
	}
	close(api.gate)
	winner := <-results
	require.Equal(t, http.StatusCreated, winner.status, winner.body)
	require.Empty(t, api.entered, "no second run")
	require.EqualValues(t, 1, api.calls.Load())
	require.Equal(t, 1, api.runs(t))

	// Once done, a retry is a replay.
	r := api.post(t, thingsPath, key, `{"name":"a"}`, "same")
	require.Equal(t, "true", r.header.Get("Idempotent-Replayed"))
	require.Equal(t, winner.body, r.body)
}

func TestIdempotencyConcurrentRaceRunsOnce(t *testing.T) {
	t.Parallel()
	api := newThingsAPI(t)
	key := idemUserKey(t, api.a)
	const n = 12
	ch, start := make(chan apiResult, n), make(chan struct{})
	for range n {
		api.sendAsync(t.Context(), ch, start, thingsPath, key, `{"name":"race"}`, "race-key")
	}
	close(start)
	results := make([]apiResult, 0, n)
	for range n {
		results = append(results, <-ch)
	}
	ran, replayed, busy := 0, 0, 0
	var body string
	for _, r := range results {
		switch {
		case r.status == http.StatusCreated && r.header.Get("Idempotent-Replayed") == "":
			ran++
			body = r.body
		case r.status == http.StatusCreated:
			replayed++
		case r.status == http.StatusConflict:
			busy++
		default:
			t.Fatalf("unexpected answer %d: %s", r.status, r.body)
		}
	}
	t.Logf("%d ran, %d replayed, %d told to retry", ran, replayed, busy)
	require.Equal(t, 1, ran, "exactly one request ran the handler")
	require.Equal(t, n, ran+replayed+busy)
	require.EqualValues(t, 1, api.calls.Load())
	require.Equal(t, 1, api.runs(t))
	for _, r := range results {
		if r.status == http.StatusCreated {
			require.Equal(t, body, r.body, "replays carry the one response")
		}
	}
}

func TestIdempotencyKeysExpireAfter24Hours(t *testing.T) {
	t.Parallel()
	api := newThingsAPI(t)
	key := idemUserKey(t, api.a)
	require.Equal(t, http.StatusCreated, api.post(t, thingsPath, key, `{"name":"a"}`, "daily").status)

	api.a.Clock.Advance(23 * time.Hour)
	r := api.post(t, thingsPath, key, `{"name":"a"}`, "daily")
	require.Equal(t, "true", r.header.Get("Idempotent-Replayed"), "still remembered after 23 h")

	api.a.Clock.Advance(time.Hour + time.Second)
	r = api.post(t, thingsPath, key, `{"name":"b"}`, "daily")
	require.Equal(t, http.StatusCreated, r.status, "after 24 h the key is free again, even for another request")
	require.Empty(t, r.header.Get("Idempotent-Replayed"))
	require.Equal(t, 2, api.runs(t))
	require.Equal(t, 1, countRows(t, api.a, "api_idempotency_keys", ""), "the expired record was replaced")

	// The prune loop deletes what has expired.
	n, err := models.PruneIdempotencyKeys(bg, api.a.DB.Bun, api.a.Clock.Now().Add(25*time.Hour))
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
}

func TestIdempotencyKeysAreScopedPerAPIKey(t *testing.T) {
	t.Parallel()
	api := newThingsAPI(t)
	alice, bob := idemUserKey(t, api.a), idemUserKey(t, api.a)
	a := api.post(t, thingsPath, alice, `{"name":"x"}`, "shared-key")
	b := api.post(t, thingsPath, bob, `{"name":"x"}`, "shared-key")
	require.Equal(t, http.StatusCreated, a.status)
	require.Equal(t, http.StatusCreated, b.status)
	require.Empty(t, b.header.Get("Idempotent-Replayed"), "another API key does not see alice's response")
	require.NotEqual(t, a.body, b.body)
	require.Equal(t, 2, api.runs(t))
	// And bob may use the key for another request than alice did.
	require.Equal(t, http.StatusUnprocessableEntity, api.post(t, thingsPath, bob, `{"name":"y"}`, "shared-key").status)
}

func TestIdempotencyServerErrorsAreNotStored(t *testing.T) {
	t.Parallel()
	api := newThingsAPI(t)
	key := idemUserKey(t, api.a)
	for range 2 {
		r := api.post(t, thingsPath, key, `{"name":"a","fail":true}`, "retry-me")
		require.Equal(t, http.StatusInternalServerError, r.status)
		require.Empty(t, r.header.Get("Idempotent-Replayed"))
		require.Zero(t, countRows(t, api.a, "api_idempotency_keys", ""), "a 5xx leaves no record")
	}
	require.EqualValues(t, 2, api.calls.Load(), "each retry ran")

	r := api.post(t, thingsPath, key, `{"name":"a","panic":true}`, "panics")
	require.Equal(t, http.StatusInternalServerError, r.status)
	require.Zero(t, countRows(t, api.a, "api_idempotency_keys", ""), "a panic leaves no record")
}

func TestIdempotencyClientErrorsAreStored(t *testing.T) {
	t.Parallel()
	api := newThingsAPI(t)
	key := idemUserKey(t, api.a)
	first := api.post(t, thingsPath, key, `{"invalid":true}`, "bad")
	require.Equal(t, http.StatusUnprocessableEntity, first.status)
	require.Contains(t, first.body, "is not allowed")
	again := api.post(t, thingsPath, key, `{"invalid":true}`, "bad")
	require.Equal(t, first.status, again.status)
	require.Equal(t, first.body, again.body)
	require.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
	require.EqualValues(t, 1, api.calls.Load())
}

func TestIdempotencyIgnoredWithoutAnAPIKey(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	calls := 0
	app := fiber.New()
	app.Post("/things", handlers.Idempotent(handlers.Deps{DB: a.DB, Now: a.Clock.Now, Log: slog.New(slog.DiscardHandler)},
		func(c *fiber.Ctx) error { calls++; return c.SendStatus(fiber.StatusCreated) }))
	for range 2 {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/things", strings.NewReader(`{}`))
		req.Header.Set("Idempotency-Key", "k")
		resp, err := app.Test(req, -1)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusCreated, resp.StatusCode)
	}
	require.Equal(t, 2, calls, "no API key: the header is ignored")
}

func TestAPIRateLimitPerKey(t *testing.T) {
	t.Parallel()
	api := newThingsAPI(t, testutil.WithAPIRateLimit(2, time.Minute))
	api.a.Fiber.Post("/api/v1/test/limited", api.create) // the /api group applies the limiter
	alice, bob := idemUserKey(t, api.a), idemUserKey(t, api.a)
	for i := range 2 {
		r := api.post(t, "/api/v1/test/limited", alice, `{}`)
		require.Equal(t, http.StatusCreated, r.status)
		require.Equal(t, "2", r.header.Get("RateLimit-Limit"))
		require.Equal(t, fmt.Sprint(1-i), r.header.Get("RateLimit-Remaining"))
	}
	r := api.post(t, "/api/v1/test/limited", alice, `{}`)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, "30", r.header.Get("Retry-After"), "one request per 30 s refills")
	require.Equal(t, "rate limit exceeded: 2 requests per minute per API key", r.json(t)["detail"])
	require.Equal(t, http.StatusCreated, api.post(t, "/api/v1/test/limited", bob, `{}`).status, "bob has his own allowance")

	api.a.Clock.Advance(30 * time.Second)
	require.Equal(t, http.StatusCreated, api.post(t, "/api/v1/test/limited", alice, `{}`).status)
	require.EqualValues(t, 4, api.calls.Load())
}

package handlers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

// The Idempotency-Key tests in api_idempotency_test.go drive a stand-in
// route; these drive the real creates — POST /api/v1/bots/{id}/executions
// and POST /api/v1/bots — through the contract, so the middleware is proven
// to be mounted where the document says it is and to store what the real
// handlers answer.

// withIdemKey is an apiReq header carrying an Idempotency-Key.
func withIdemKey(k string) http.Header { return http.Header{"Idempotency-Key": {k}} }

func runPath(b *models.Bot) string { return "/api/v1/bots/" + b.ID.String() + "/executions" }

func executionsOf(t *testing.T, a *testutil.App, b *models.Bot) int {
	t.Helper()
	return countRows(t, a, "bot_executions", "bot_id = ?", b.ID)
}

// requireIdemProblem checks a refusal by the Idempotency-Key middleware: a
// problem+json (the contract checks its shape) naming the header.
func requireIdemProblem(t *testing.T, r *apiResp, status int) {
	t.Helper()
	require.Equal(t, status, r.StatusCode, "%s", r.Body)
	require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"))
	p := r.problem(t)
	require.Equal(t, status, p.Status)
	require.Contains(t, p.Detail, "Idempotency-Key")
	require.Empty(t, r.Header.Get("Idempotent-Replayed"))
}

func TestAPIIdempotentRunReplays(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t) // no workers: executions stay queued, the answer is 202
	api := newAPITester(t, a)
	u, key := apiUserKey(t, a, models.RoleUser)
	b := apiBotFixture(t, a, u, false)
	run := func(body any, idem string) *apiResp {
		t.Helper()
		return api.send(apiReq{method: http.MethodPost, path: runPath(b), key: key, body: body, header: withIdemKey(idem)})
	}

	first := run(map[string]any{"input": map[string]any{"city": "Oslo", "days": 3}}, "run-1")
	require.Equal(t, s202, first.StatusCode, "%s", first.Body)
	require.Empty(t, first.Header.Get("Idempotent-Replayed"))
	var ex executionJSON
	first.decode(t, &ex)
	require.Equal(t, "/api/v1/executions/"+ex.ID, first.Header.Get("Location"))
	require.Equal(t, 1, executionsOf(t, a, b))

	// The same request again (key order and spacing differ, the JSON is the
	// same): the first answer once more, and no second execution.
	again := run(`{ "input": {"days": 3, "city": "Oslo"} }`, "run-1")
	require.Equal(t, first.StatusCode, again.StatusCode, "%s", again.Body)
	require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	require.Equal(t, string(first.Body), string(again.Body))
	require.Equal(t, first.Header.Get("Location"), again.Header.Get("Location"))
	require.Equal(t, first.Header.Get("Content-Type"), again.Header.Get("Content-Type"))
	require.Equal(t, 1, executionsOf(t, a, b), "a replay runs nothing")

	// Same key, another body: 422, still one execution.
	requireIdemProblem(t, run(map[string]any{"input": map[string]any{"city": "Bergen", "days": 3}}, "run-1"), s422)
	// Same key, same body, another wait: another request too.
	r := api.send(apiReq{method: http.MethodPost, path: runPath(b) + "?wait=1s", key: key,
		body: map[string]any{"input": map[string]any{"city": "Oslo", "days": 3}}, header: withIdemKey("run-1")})
	requireIdemProblem(t, r, s422)
	require.Equal(t, 1, executionsOf(t, a, b))

	// A new key is a new run.
	other := run(map[string]any{"input": map[string]any{"city": "Oslo", "days": 3}}, "run-2")
	require.Equal(t, s202, other.StatusCode, "%s", other.Body)
	require.Empty(t, other.Header.Get("Idempotent-Replayed"))
	require.NotEqual(t, string(first.Body), string(other.Body))
	require.Equal(t, 2, executionsOf(t, a, b))
}

// TestAPIIdempotentRunConcurrent fires duplicates at once over a real
// connection: one runs, the others are replays of it or 409s.
func TestAPIIdempotentRunConcurrent(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	u, key := apiUserKey(t, a, models.RoleUser)
	b := apiBotFixture(t, a, u, false)
	base := a.Serve(t)
	tr := &http.Transport{MaxIdleConnsPerHost: 16} // a connection per request: they arrive at once
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: contractTransport{t: t, next: tr}}

	type result struct {
		status   int
		replayed string
		ctype    string
		location string
		body     string
		err      error
	}
	const n = 10
	body := []byte(`{"input":{"race":true}}`)
	start, results := make(chan struct{}), make(chan result, n)
	for range n {
		go func() {
			<-start
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+runPath(b), bytes.NewReader(body))
			if err != nil {
				results <- result{err: err}
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Idempotency-Key", "same-run")
			resp, err := client.Do(req)
			if err != nil {
				results <- result{err: err}
				return
			}
			defer func() { _ = resp.Body.Close() }()
			raw, err := io.ReadAll(resp.Body)
			results <- result{status: resp.StatusCode, replayed: resp.Header.Get("Idempotent-Replayed"),
				ctype: resp.Header.Get("Content-Type"), location: resp.Header.Get("Location"), body: string(raw), err: err}
		}()
	}
	close(start)

	ran, replayed, busy := 0, 0, 0
	var original result
	var successes []result
	for range n {
		r := <-results
		require.NoError(t, r.err)
		switch {
		case r.status == s202 && r.replayed == "":
			ran++
			original = r
			successes = append(successes, r)
		case r.status == s202 && r.replayed == "true":
			replayed++
			successes = append(successes, r)
		case r.status == s409:
			busy++
			require.Equal(t, "application/problem+json", r.ctype)
			var p web.Problem
			require.NoError(t, json.Unmarshal([]byte(r.body), &p))
			require.Equal(t, s409, p.Status)
			require.Contains(t, p.Detail, "still being processed")
		default:
			t.Fatalf("unexpected answer %d (replayed %q): %s", r.status, r.replayed, r.body)
		}
	}
	t.Logf("%d ran, %d replayed, %d told to retry", ran, replayed, busy)
	require.Equal(t, 1, ran, "exactly one request ran the handler")
	require.Equal(t, n, ran+replayed+busy)
	for _, r := range successes {
		require.Equal(t, original.body, r.body, "replays carry the one response")
		require.Equal(t, original.location, r.location)
	}
	require.Equal(t, 1, executionsOf(t, a, b), "one execution for all the duplicates")

	// Now that it is done, a retry is a replay of it.
	api := newAPITester(t, a)
	r := api.send(apiReq{method: http.MethodPost, path: runPath(b), key: key, body: body, header: withIdemKey("same-run")})
	require.Equal(t, s202, r.StatusCode)
	require.Equal(t, "true", r.Header.Get("Idempotent-Replayed"))
	require.Equal(t, original.body, string(r.Body))
	require.Equal(t, 1, executionsOf(t, a, b))
}

// TestAPIIdempotentRunPerAPIKey: keys are scoped to the API key — not even
// another key of the same user sees the first key's response.
func TestAPIIdempotentRunPerAPIKey(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	api := newAPITester(t, a)
	u, first := apiUserKey(t, a, models.RoleUser)
	second, _ := accessKey(t, a.DB, u, models.ScopeRead, models.ScopeWrite, models.ScopeExecute)
	b := apiBotFixture(t, a, u, false)
	body := map[string]any{"input": map[string]any{"n": 1}}

	r1 := api.send(apiReq{method: http.MethodPost, path: runPath(b), key: first, body: body, header: withIdemKey("shared")})
	r2 := api.send(apiReq{method: http.MethodPost, path: runPath(b), key: second, body: body, header: withIdemKey("shared")})
	require.Equal(t, s202, r1.StatusCode, "%s", r1.Body)
	require.Equal(t, s202, r2.StatusCode, "%s", r2.Body)
	require.Empty(t, r2.Header.Get("Idempotent-Replayed"), "another API key does not get the first key's answer")
	require.NotEqual(t, string(r1.Body), string(r2.Body))
	require.NotEqual(t, r1.Header.Get("Location"), r2.Header.Get("Location"))
	require.Equal(t, 2, executionsOf(t, a, b))

	// Each key replays its own.
	for _, c := range []struct {
		key  string
		want *apiResp
	}{{first, r1}, {second, r2}} {
		r := api.send(apiReq{method: http.MethodPost, path: runPath(b), key: c.key, body: body, header: withIdemKey("shared")})
		require.Equal(t, "true", r.Header.Get("Idempotent-Replayed"))
		require.Equal(t, string(c.want.Body), string(r.Body))
	}
	require.Equal(t, 2, executionsOf(t, a, b))
}

func TestAPIIdempotentCreateBot(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	api := newAPITester(t, a)
	_, key := apiUserKey(t, a, models.RoleUser)
	name := fmt.Sprintf("Idempotent %s", t.Name())
	body := map[string]any{"name": name, "kind": "http", "config": map[string]any{"url": "https://example.test/idem"}}
	create := func(body any) *apiResp {
		t.Helper()
		return api.send(apiReq{method: http.MethodPost, path: "/api/v1/bots", key: key, body: body, header: withIdemKey("create-bot-1")})
	}

	first := create(body)
	require.Equal(t, s201, first.StatusCode, "%s", first.Body)
	require.Empty(t, first.Header.Get("Idempotent-Replayed"))
	again := create(body)
	require.Equal(t, s201, again.StatusCode, "%s", again.Body)
	require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	require.Equal(t, string(first.Body), string(again.Body))
	require.Equal(t, first.Header.Get("Location"), again.Header.Get("Location"))
	require.Equal(t, 1, countRows(t, a, "bots", "name = ?", name), "one bot for both requests")
	require.Equal(t, 1, countRows(t, a, "audit_logs", "action = ? AND resource_id = ?", "bot.create", first.object(t)["id"]))

	body["description"] = "changed"
	requireIdemProblem(t, create(body), s422)
	require.Equal(t, 1, countRows(t, a, "bots", "name = ?", name))
}

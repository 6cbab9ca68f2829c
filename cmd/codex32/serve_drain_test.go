package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/models"
)

// On SIGTERM `codex32 serve` drains: a request in flight when the signal
// comes (here a run with ?wait=) gets its answer, runs in flight finish
// within CODEX32_SHUTDOWN_GRACE and are recorded as they ended, and the
// process exits 0. The bot calls a server in the test that holds every
// call until the signal has been handled, so the runs and the request are
// provably in flight across it.
func TestServeDrainsInFlightRequestsAndRunsOnSIGTERM(t *testing.T) {
	db, env, _ := engineDB(t)
	arrived := make(chan string, 10)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- r.URL.Query().Get("n")
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"n": %q}`, r.URL.Query().Get("n"))
	}))
	defer srv.Close()
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()

	bot := createBot(t, db, models.KindHTTP, fmt.Sprintf(`{"method": "GET", "url": "%s/?n={{input.n}}", "timeout_seconds": 60}`, srv.URL))
	owner, err := models.UserByID(context.Background(), db.Bun, bot.OwnerID)
	require.NoError(t, err)
	key := apiKeyFor(t, db, owner)

	env["CODEX32_OUTBOUND_ALLOW"] = "127.0.0.1"
	env["CODEX32_WORKERS"] = "4"
	env["CODEX32_SHUTDOWN_GRACE"] = "30s"
	env["CODEX32_WORKER_LOST_AFTER"] = "60s"
	env["CODEX32_ADDR"] = "127.0.0.1:0"
	serve := startCodex32(t, "serve", env)
	base := serveURL(t, serve, 60*time.Second)

	run := func(query string, n int) (int, []byte, error) {
		body := fmt.Sprintf(`{"input": {"n": %d}}`, n)
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/api/v1/bots/"+bot.ID.String()+"/executions"+query, bytes.NewBufferString(body))
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		client := &http.Client{Timeout: 60 * time.Second}
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer func() { _ = resp.Body.Close() }()
		raw, err := io.ReadAll(resp.Body)
		return resp.StatusCode, raw, err
	}
	type answer struct {
		status int
		body   []byte
		err    error
	}
	waited := make(chan answer, 1)
	go func() {
		st, body, err := run("?wait=30s", 1)
		waited <- answer{st, body, err}
	}()
	st, body, err := run("", 2)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, st, "%s", body)
	var queued struct {
		ID uuid.UUID `json:"id"`
	}
	require.NoError(t, json.Unmarshal(body, &queued), "%s", body)

	got := map[string]bool{}
	for len(got) < 2 {
		select {
		case n := <-arrived:
			got[n] = true
		case <-time.After(60 * time.Second):
			t.Fatalf("the runs did not reach the target within 60 s (got %v):\n%s", got, serve.stderr.String())
		}
	}

	// Both runs and the ?wait request are in flight: stop the server.
	require.NoError(t, serve.cmd.Process.Signal(syscall.SIGTERM))
	waitStderr(t, serve, regexp.MustCompile(`msg="shutting down"`), 10*time.Second)
	close(release)
	released = true

	var a answer
	select {
	case a = <-waited:
	case <-time.After(60 * time.Second):
		t.Fatalf("the ?wait request got no answer within 60 s of SIGTERM:\n%s", serve.stderr.String())
	}
	require.NoError(t, a.err, "the request in flight is answered, not cut")
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	var finished struct {
		ID     uuid.UUID       `json:"id"`
		Status string          `json:"status"`
		Output json.RawMessage `json:"output"`
	}
	require.NoError(t, json.Unmarshal(a.body, &finished), "%s", a.body)
	require.Equal(t, "success", finished.Status, "%s", a.body)

	exited := make(chan error, 1)
	go func() { exited <- serve.cmd.Wait() }()
	select {
	case err := <-exited:
		require.NoError(t, err, "serve exits 0 after draining:\n%s", serve.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not exit within 60 s of SIGTERM:\n%s", serve.stderr.String())
	}
	require.NotContains(t, serve.stderr.String(), "grace period over", "nothing needed interrupting")

	for _, id := range []uuid.UUID{finished.ID, queued.ID} {
		e, err := models.ExecutionByID(context.Background(), db.Bun, id)
		require.NoError(t, err)
		require.Equal(t, models.ExecSuccess, e.Status, "execution %s: %q (attempts %+v)", id, e.Error, e.Attempts)
		require.Len(t, e.Attempts, 1, "run once, not interrupted and queued again")
	}
	requireStatsAddUp(t, db, bot.ID)
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/migrations"
	"github.com/codex32/codex32/models"
)

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// Postgres restarts (pg_ctl restart -m fast) under a running `codex32
// serve` with workers. Meanwhile pages answer 503 with Retry-After and the
// API a 503 problem with Retry-After, a run requested then is refused
// (and queues nothing); once the database is back the same process serves
// again by itself, and every run queued before and after the restart
// finishes: nothing is lost. The cluster is the test's own, so stopping
// it disturbs no other test.
func TestServeRecoversFromPostgresRestart(t *testing.T) {
	pg := testutil.StartPGCluster(t)
	ctx := context.Background()
	db, err := models.Open(ctx, "postgres", pg.URL())
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	m, err := migrations.New(db, nil)
	require.NoError(t, err)
	_, err = m.Up(ctx)
	require.NoError(t, err)

	var mu sync.Mutex
	hits := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Query().Get("n")]++
		mu.Unlock()
		// A target's latency, so that runs are in flight when Postgres stops.
		time.Sleep(200 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok": true}`))
	}))
	defer srv.Close()
	bot := createBot(t, db, models.KindHTTP, fmt.Sprintf(`{"method": "GET", "url": "%s/?n={{input.n}}"}`, srv.URL))
	owner, err := models.UserByID(ctx, db.Bun, bot.OwnerID)
	require.NoError(t, err)
	key := apiKeyFor(t, db, owner)
	viewer := testutil.CreateUserWithPassword(t, db, models.RoleViewer)

	serve := startCodex32(t, "serve", map[string]string{
		"DATABASE_URL": pg.URL(), "CODEX32_ADDR": "127.0.0.1:0", "CODEX32_WORKERS": "4", "CODEX32_SCRIPT_PROCESSES": "1",
		"CODEX32_OUTBOUND_ALLOW": "127.0.0.1", "CODEX32_WORKER_LOST_AFTER": "10s", "CODEX32_API_CACHE_TTL": "0",
	})
	base := serveURL(t, serve, 60*time.Second)

	client := &http.Client{Timeout: 15 * time.Second}
	api := func(method, path, body string) (*http.Response, []byte, error) {
		req, err := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+key)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer func() { _ = resp.Body.Close() }()
		raw, err := io.ReadAll(resp.Body)
		return resp, raw, err
	}
	var accepted []uuid.UUID
	queue := func(n int) {
		t.Helper()
		resp, raw, err := api(http.MethodPost, "/api/v1/bots/"+bot.ID.String()+"/executions", fmt.Sprintf(`{"input": {"n": %d}}`, n))
		require.NoError(t, err)
		require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", raw)
		var ex struct {
			ID uuid.UUID `json:"id"`
		}
		require.NoError(t, json.Unmarshal(raw, &ex), "%s", raw)
		accepted = append(accepted, ex.ID)
	}

	// A signed-in browser session (cookie and CSRF token) for the pages.
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	browser := &http.Client{Timeout: 15 * time.Second, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		return browser.Do(req)
	}
	resp, err := get(base + "/login")
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	tok := csrfField.FindStringSubmatch(string(page))
	require.NotNil(t, tok, "a CSRF token on the sign-in page")
	form := url.Values{"email": {viewer.Email}, "password": {testutil.TestPassword}, "_csrf": {tok[1]}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = browser.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "signed in")
	pageStatus := func() (int, string, string) {
		resp, err := get(base + "/bots")
		if err != nil {
			return 0, "", err.Error()
		}
		defer func() { _ = resp.Body.Close() }()
		return resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type")
	}
	st, _, _ := pageStatus()
	require.Equal(t, http.StatusOK, st, "the bots page, before the restart")

	const before, after = 30, 30
	for n := range before {
		queue(n)
	}

	final := countExecs(t, db, bot.ID, "status IN ('success', 'failed', 'timed_out', 'cancelled')")
	t.Logf("at the stop: %d of %d runs final", final, before)

	pg.Stop(t)
	down := time.Now()
	// While it is down, every request gets a clear answer at once: a 503
	// with Retry-After, not a hang, a 500 or a dropped connection.
	for range 20 {
		require.Less(t, time.Since(down), 60*time.Second, "20 rounds of requests took a minute:\n%s", serve.stderr.String())
		st, retry, ctype := pageStatus()
		require.Equal(t, http.StatusServiceUnavailable, st, "page during the outage: %s", ctype)
		require.Equal(t, "5", retry, "page: Retry-After")
		require.Contains(t, ctype, "text/html", "page: the error page")

		resp, raw, err := api(http.MethodGet, "/api/v1/bots", "")
		require.NoError(t, err, "the API answers during the outage")
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "API during the outage: %s", raw)
		require.Equal(t, "5", resp.Header.Get("Retry-After"), "API: Retry-After")
		require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), "%s", raw)
		var p struct {
			Status int    `json:"status"`
			Detail string `json:"detail"`
		}
		require.NoError(t, json.Unmarshal(raw, &p), "%s", raw)
		require.Equal(t, 503, p.Status)
		require.Contains(t, p.Detail, "database cannot be reached")
		time.Sleep(50 * time.Millisecond) // pacing the rounds, not waiting for anything
	}
	// A run asked for now is refused outright: it is not half queued.
	resp, raw, err := api(http.MethodPost, "/api/v1/bots/"+bot.ID.String()+"/executions", `{"input": {"n": -1}}`)
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s", raw)
	require.Equal(t, "5", resp.Header.Get("Retry-After"))

	pg.Start(t)
	t.Logf("Postgres down for %s", time.Since(down).Round(time.Millisecond))
	// The test's own pool holds connections the restart ended: read
	// through a new one (serve has to recover with the pool it has).
	db, err = models.Open(ctx, "postgres", pg.URL())
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	// serve comes back by itself: the same process, no restart.
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, _, _ := pageStatus()
		resp, _, err := api(http.MethodGet, "/api/v1/bots", "")
		if st == http.StatusOK && err == nil && resp.StatusCode == http.StatusOK {
			break
		}
		require.True(t, time.Now().Before(deadline), "serve did not recover within 60 s of Postgres's start (page %d):\n%s", st, serve.stderr.String())
		time.Sleep(50 * time.Millisecond)
	}
	require.Nil(t, serve.cmd.ProcessState, "serve kept running")
	for n := before; n < before+after; n++ {
		queue(n)
	}

	// Nothing lost: every run accepted before or after finishes, and the
	// one refused during the outage does not exist.
	deadline = time.Now().Add(120 * time.Second)
	for _, id := range accepted {
		for {
			e, err := models.ExecutionByID(ctx, db.Bun, id)
			require.NoError(t, err)
			if e.Final() {
				require.Equal(t, models.ExecSuccess, e.Status, "execution %s: %q (attempts %+v)", id, e.Error, e.Attempts)
				break
			}
			require.True(t, time.Now().Before(deadline), "execution %s still %s 120 s after the restart:\n%s", id, e.Status, serve.stderr.String())
			time.Sleep(50 * time.Millisecond)
		}
	}
	require.Equal(t, len(accepted), countExecs(t, db, bot.ID, "TRUE"), "exactly the accepted runs exist")
	mu.Lock()
	defer mu.Unlock()
	for n := range before + after {
		require.GreaterOrEqual(t, hits[fmt.Sprint(n)], 1, "run n=%d reached its target", n)
	}
	require.Zero(t, hits["-1"], "the refused run never ran")
	requireStatsAddUp(t, db, bot.ID)
	require.NotContains(t, serve.stderr.String(), "panic")
}

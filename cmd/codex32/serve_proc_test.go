package main

import (
	"context"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/models"
)

var servingURL = regexp.MustCompile(`msg="codex32 serving".*url=(http://\S+)`)

// serveURL waits for a `codex32 serve` started with CODEX32_ADDR=127.0.0.1:0
// to log the address it listens on, then for /readyz to answer 200, and
// returns its base URL.
func serveURL(t *testing.T, p *workerProc, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	var base string
	for base == "" {
		if m := servingURL.FindStringSubmatch(p.stderr.String()); m != nil {
			base = m[1]
			break
		}
		require.Nil(t, p.cmd.ProcessState, "serve exited:\n%s", p.stderr.String())
		require.True(t, time.Now().Before(deadline), "serve did not start within %s:\n%s", within, p.stderr.String())
		time.Sleep(20 * time.Millisecond)
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		require.True(t, time.Now().Before(deadline), "%s/readyz not 200 within %s:\n%s", base, within, p.stderr.String())
		time.Sleep(20 * time.Millisecond)
	}
}

// waitStderr polls p's stderr until it contains want.
func waitStderr(t *testing.T, p *workerProc, want *regexp.Regexp, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !want.MatchString(p.stderr.String()) {
		require.True(t, time.Now().Before(deadline), "no %q in serve's log within %s:\n%s", want, within, p.stderr.String())
		time.Sleep(10 * time.Millisecond)
	}
}

// apiKeyFor makes an API key with every scope for the user id.
func apiKeyFor(t *testing.T, db *models.DB, u *models.User) string {
	t.Helper()
	k := &models.APIKey{UserID: u.ID, Name: "test", Scopes: []string{models.ScopeRead, models.ScopeWrite, models.ScopeExecute}}
	plain, err := models.CreateAPIKey(context.Background(), db.Bun, models.SystemActor("test"), k)
	require.NoError(t, err)
	return plain
}

package runner_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
)

const scopedValue = "tok-0123456789-scoped"

// loopbackEngine is an engine whose bots may reach this machine (by
// address and as "localhost"), so the only guard left is the secrets' own.
func loopbackEngine(t *testing.T, db *models.DB, box *models.SecretBox) *runner.Engine {
	t.Helper()
	return testutil.NewEngine(t, db, box, testutil.EngineOptions{Workers: 2, Outbound: runner.OutboundPolicy{
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}}})
}

// countingServer counts its requests and remembers the last X-Api-Key.
type countingServer struct {
	*httptest.Server
	calls atomic.Int32
	key   atomic.Value
}

func newCountingServer(t *testing.T, h http.HandlerFunc) *countingServer {
	t.Helper()
	s := &countingServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		s.key.Store(r.Header.Get("X-Api-Key"))
		if h != nil {
			h(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok": true}`))
	}))
	t.Cleanup(s.Close)
	return s
}

func putScopedSecret(t *testing.T, db *models.DB, box *models.SecretBox, scope models.SecretScope) {
	t.Helper()
	_, err := models.PutSecret(context.Background(), db.Bun, box, models.SystemActor("test"), "API_TOKEN", "", scopedValue, &scope)
	require.NoError(t, err)
}

func runOnce(t *testing.T, eng *runner.Engine, db *models.DB, b *models.Bot) *models.Execution {
	t.Helper()
	ex, err := eng.Request(context.Background(), models.SystemActor("test"), runner.RunRequest{BotID: b.ID})
	require.NoError(t, err)
	return waitFinal(t, db, ex.ID, 30*time.Second)
}

func secretRefusals(t *testing.T, db *models.DB, b *models.Bot) []*models.AuditLog {
	t.Helper()
	var rows []*models.AuditLog
	require.NoError(t, db.Bun.NewSelect().Model(&rows).Where("action = ? AND bot_id = ?", "secret.refused", b.ID).Scan(context.Background()))
	for _, r := range rows {
		require.NotContains(t, string(r.NewValues), scopedValue, "the audit log never holds the value")
	}
	return rows
}

func httpSecretBot(t *testing.T, db *models.DB, url string) *models.Bot {
	t.Helper()
	return newBot(t, db, models.KindHTTP, fmt.Sprintf(`{"method": "GET", "url": %q, "headers": {"X-Api-Key": "{{secret.API_TOKEN}}"}}`, url))
}

func TestSecretGrantedBotSendsToItsAllowedHost(t *testing.T) {
	t.Parallel()
	db, box := testutil.NewDB(t), testBox(t)
	eng := loopbackEngine(t, db, box)
	srv := newCountingServer(t, nil)
	b := httpSecretBot(t, db, srv.URL)
	putScopedSecret(t, db, box, models.SecretScope{Grants: models.SecretGrants{Bots: []uuid.UUID{b.ID}}, Hosts: []string{"127.0.0.1"}})

	got := runOnce(t, eng, db, b)
	require.Equal(t, models.ExecSuccess, got.Status, got.Error)
	require.EqualValues(t, 1, srv.calls.Load())
	require.Equal(t, scopedValue, srv.key.Load(), "the allowed host gets the secret")
	require.Empty(t, secretRefusals(t, db, b))
}

func TestSecretRedirectOffTheAllowedHostIsRefused(t *testing.T) { //nolint:tparallel // each subtest scopes the one secret API_TOKEN to its own bot; they run in order
	t.Parallel()
	db, box := testutil.NewDB(t), testBox(t)
	eng := loopbackEngine(t, db, box)
	elsewhere := newCountingServer(t, nil)
	// The same machine under another name: only the secret's hosts tell them apart.
	other := strings.Replace(elsewhere.URL, "127.0.0.1", "localhost", 1)
	for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			start := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other+"/collect", code)
			})
			b := httpSecretBot(t, db, start.URL)
			putScopedSecret(t, db, box, models.SecretScope{Grants: models.SecretGrants{Owners: []uuid.UUID{b.OwnerID}}, Hosts: []string{"127.0.0.1"}})

			got := runOnce(t, eng, db, b)
			require.Equal(t, models.ExecFailed, got.Status)
			require.Contains(t, got.Error, "destination refused: secret API_TOKEN: a redirect went to localhost")
			require.NotContains(t, got.Error, scopedValue)
			require.EqualValues(t, 1, start.calls.Load())
			require.Zero(t, elsewhere.calls.Load(), "the redirect target never gets the request")
			rows := secretRefusals(t, db, b)
			require.Len(t, rows, 1)
			require.Contains(t, string(rows[0].NewValues), `"where":"run"`)
		})
	}
}

func TestSecretRunWhoseBotLostTheGrantSendsNothing(t *testing.T) {
	t.Parallel()
	db, box := testutil.NewDB(t), testBox(t)
	eng := loopbackEngine(t, db, box)
	srv := newCountingServer(t, nil)
	b := httpSecretBot(t, db, srv.URL)
	putScopedSecret(t, db, box, models.SecretScope{Grants: models.SecretGrants{Tags: []string{"payments"}}, Hosts: []string{"127.0.0.1"}})

	// Not tagged: never granted. Then tagged: runs. Then revoked: refused again.
	got := runOnce(t, eng, db, b)
	require.Equal(t, models.ExecFailed, got.Status)
	require.Contains(t, got.Error, "secret API_TOKEN: this bot may not use it")
	require.Contains(t, got.Error, "nothing was sent")

	_, err := models.UpdateBot(context.Background(), db.Bun, models.SystemActor("test"), b.ID, models.BotPatch{Name: b.Name, Tags: []string{"payments"}, Status: b.Status})
	require.NoError(t, err)
	require.Equal(t, models.ExecSuccess, runOnce(t, eng, db, b).Status)
	require.EqualValues(t, 1, srv.calls.Load())

	_, err = models.SetSecretScope(context.Background(), db.Bun, models.SystemActor("test"), "API_TOKEN", models.SecretScope{Hosts: []string{"127.0.0.1"}})
	require.NoError(t, err)
	got = runOnce(t, eng, db, b)
	require.Equal(t, models.ExecFailed, got.Status)
	require.Contains(t, got.Error, "this bot may not use it")
	require.EqualValues(t, 1, srv.calls.Load(), "a refused run sends nothing")
	require.Len(t, secretRefusals(t, db, b), 2)
	checkStats(t, db, b.ID)
}

func TestSecretLLMBaseURLOffTheAllowedHostIsRefused(t *testing.T) {
	t.Parallel()
	db, box := testutil.NewDB(t), testBox(t)
	eng := loopbackEngine(t, db, box)
	var auth atomic.Int32
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			auth.Add(1)
		}
		http.Error(w, "no", http.StatusTeapot)
	})
	b := newBot(t, db, models.KindLLM, fmt.Sprintf(`{"model": "gpt-4o-mini", "prompt_template": "hi", "base_url": %q, "api_key_secret": "API_TOKEN"}`, srv.URL+"/v1"))
	putScopedSecret(t, db, box, models.SecretScope{Grants: models.SecretGrants{Bots: []uuid.UUID{b.ID}}, Hosts: []string{"api.openai.com"}})

	got := runOnce(t, eng, db, b)
	require.Equal(t, models.ExecFailed, got.Status)
	require.Contains(t, got.Error, "secret API_TOKEN: the request went to 127.0.0.1, but the secret may only be sent to api.openai.com")
	require.Zero(t, srv.calls.Load(), "the model server the author chose never sees the key")
	require.Zero(t, auth.Load())
	require.Len(t, secretRefusals(t, db, b), 1)
}

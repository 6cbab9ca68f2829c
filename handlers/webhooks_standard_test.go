package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

func standardHeaders(secret, id string, at time.Time, body string) http.Header {
	ts, sig := models.SignStandardWebhook(secret, id, at, []byte(body))
	return http.Header{"Webhook-Id": {id}, "Webhook-Timestamp": {ts}, "Webhook-Signature": {sig}}
}

// A captured Standard Webhooks call cannot run the bot twice: the exact
// replay is refused, an old timestamp is refused, a valid call runs once.
func TestStandardWebhookCallsCannotBeReplayed(t *testing.T) {
	t.Parallel()
	a, c, u := signedIn(t, models.RoleUser)
	b := execBot(t, a, u, "callee", models.BotActive)

	// The form makes Standard Webhooks the default, and says how to sign.
	r := c.Post("/bots/"+b.ID.String()+"/webhooks", url.Values{"sync_timeout_seconds": {"0"}, "signed": {"1"}})
	require.Equal(t, http.StatusCreated, r.StatusCode, r.Body)
	d := r.Doc(t)
	secret := d.Find(`[data-testid="shown-signing-secret"]`).AttrOr("value", "")
	path := strings.TrimPrefix(d.Find(`[data-testid="shown-url"]`).AttrOr("value", ""), "http://example.com")
	require.Contains(t, d.Find(`[data-testid="shown-standard"]`).Text(), "webhook-signature: v1,")
	require.Equal(t, "Standard Webhooks", d.Find(`[data-testid="webhook-scheme-badge"]`).Text())
	executions := func() int { return countRows(t, a, "bot_executions", "") }

	body := `{"event":"push"}`
	call := standardHeaders(secret, "msg_2aa1", a.Clock.Now(), body)
	got := postJSON(t, a, path, body, call)
	require.Equal(t, http.StatusAccepted, got.status, got.raw)
	require.Equal(t, 1, executions())

	replay := postJSON(t, a, path, body, call)
	require.Equal(t, http.StatusConflict, replay.status, replay.raw)
	require.Contains(t, replay.body["detail"], "already received")
	require.Equal(t, 1, executions(), "the replay ran nothing")

	old := postJSON(t, a, path, body, standardHeaders(secret, "msg_2aa2", a.Clock.Now().Add(-6*time.Minute), body))
	require.Equal(t, http.StatusUnauthorized, old.status, old.raw)
	require.Contains(t, old.body["detail"], "webhook-timestamp is more than 5m0s from now")

	tampered := standardHeaders(secret, "msg_2aa3", a.Clock.Now(), body)
	require.Equal(t, http.StatusUnauthorized, postJSON(t, a, path, `{"event":"delete"}`, tampered).status, "the body is signed")
	tampered.Set("Webhook-Id", "msg_2aa4")
	require.Equal(t, http.StatusUnauthorized, postJSON(t, a, path, body, tampered).status, "the id is signed")
	legacy := http.Header{"X-Codex32-Signature": {models.SignWebhookBody(secret, []byte(body))}}
	require.Equal(t, http.StatusUnauthorized, postJSON(t, a, path, body, legacy).status, "a legacy signature is not enough")
	require.Equal(t, 1, executions())

	// A new id signed now runs again; the refusals were counted.
	require.Equal(t, http.StatusAccepted, postJSON(t, a, path, body, standardHeaders(secret, "msg_2aa5", a.Clock.Now(), body)).status)
	require.Equal(t, 2, executions())
	hooks, err := models.ListWebhooks(bg, a.DB.Bun, b.ID)
	require.NoError(t, err)
	require.EqualValues(t, 5, hooks[0].RejectedCount)

	// Switching to the legacy scheme is per webhook, with the caveat shown.
	r = c.Post("/bots/"+b.ID.String()+"/webhooks/"+hooks[0].ID.String(), url.Values{"signature_scheme": {"legacy"}})
	require.Equal(t, http.StatusSeeOther, r.StatusCode, r.Body)
	require.Contains(t, c.Get("/bots/"+b.ID.String()+"?tab=triggers").Doc(t).Find(`[data-testid="webhook-legacy-badge"]`).Text(), "replayable")
	require.Equal(t, http.StatusAccepted, postJSON(t, a, path, body, legacy).status)
	require.Equal(t, http.StatusAccepted, postJSON(t, a, path, body, legacy).status, "legacy: the caveat is real")
	require.Equal(t, 4, executions())
}

// Concurrent deliveries of one id: exactly one runs.
func TestStandardWebhookConcurrentReplaysRunOnce(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	owner := testutil.CreateUser(t, a.DB, models.RoleUser)
	b := execBot(t, a, owner, "callee", models.BotActive)
	w := &models.Webhook{BotID: b.ID}
	sec, err := models.CreateWebhook(bg, a.DB.Bun, a.Secrets, models.SystemActor("test"), w, true)
	require.NoError(t, err)
	body := `{"n":1}`
	h := standardHeaders(sec.SigningSecret, "msg_same", a.Clock.Now(), body)
	const n = 8
	type answer struct {
		code int
		err  error
	}
	answers := make(chan answer, n)
	for range n {
		go func() { // no require here: it cannot stop the test from this goroutine
			req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/hooks/"+sec.Token, strings.NewReader(body))
			req.Header = h.Clone()
			req.Header.Set("Content-Type", "application/json")
			resp, err := a.Fiber.Test(req, -1)
			if err != nil {
				answers <- answer{err: err}
				return
			}
			_ = resp.Body.Close()
			answers <- answer{code: resp.StatusCode}
		}()
	}
	seen := map[int]int{}
	for range n {
		got := <-answers
		require.NoError(t, got.err)
		seen[got.code]++
	}
	require.Equal(t, map[int]int{http.StatusAccepted: 1, http.StatusConflict: n - 1}, seen, strconv.Itoa(n)+" deliveries of one id")
	require.Equal(t, 1, countRows(t, a, "bot_executions", ""))
}

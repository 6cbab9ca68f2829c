package handlers_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/handlers"
	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

// hookCall is a machine's call: no cookies, no CSRF token.
type hookCall struct {
	status int
	body   map[string]any
	raw    string
	header http.Header
}

func callHook(t *testing.T, a *testutil.App, method, path, contentType string, body []byte, header http.Header) hookCall {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, path, strings.NewReader(string(body)))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp := a.Do(t, req)
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := hookCall{status: resp.StatusCode, raw: string(raw), header: resp.Header}
	// Answers are JSON; refusals are problems, like the API's.
	want := "application/json"
	if resp.StatusCode >= 400 {
		want = "application/problem+json"
	}
	require.Contains(t, resp.Header.Get("Content-Type"), want, "%s %s: %s", method, path, raw)
	require.NoError(t, json.Unmarshal(raw, &out.body), string(raw))
	require.Empty(t, resp.Header.Values("Set-Cookie"), "a webhook call gets no session")
	return out
}

func postJSON(t *testing.T, a *testutil.App, path string, body string, header http.Header) hookCall {
	t.Helper()
	return callHook(t, a, http.MethodPost, path, "application/json", []byte(body), header)
}

// hookOf creates a webhook through the model (the page is tested apart),
// signed (when signed) with the legacy body-only X-Codex32-Signature that
// these tests send; webhooks_standard_test.go covers Standard Webhooks.
func hookOf(t *testing.T, a *testutil.App, b *models.Bot, signed bool, syncSeconds int) (*models.Webhook, *models.WebhookSecrets) {
	t.Helper()
	w := &models.Webhook{BotID: b.ID, SyncTimeoutSeconds: syncSeconds, SignatureScheme: models.SchemeLegacy}
	sec, err := models.CreateWebhook(bg, a.DB.Bun, a.Secrets, models.SystemActor("test"), w, signed)
	require.NoError(t, err)
	return w, sec
}

func webhookExecution(t *testing.T, a *testutil.App, body map[string]any) *models.Execution {
	t.Helper()
	id, err := uuid.Parse(body["execution_id"].(string))
	require.NoError(t, err)
	ex, err := models.ExecutionByID(bg, a.DB.Bun, id)
	require.NoError(t, err)
	return ex
}

func TestWebhookManagementFromTheTriggersTab(t *testing.T) {
	t.Parallel()
	a, c, u := signedIn(t, models.RoleUser)
	b := execBot(t, a, u, "hooked", models.BotActive)
	tab := "/bots/" + b.ID.String() + "?tab=triggers"

	d := c.Get(tab).Doc(t)
	require.Equal(t, 1, d.Find(`[data-testid="webhooks-empty"]`).Length())
	require.Equal(t, 1, d.Find(`[data-testid="schedules-empty"]`).Length())
	require.Equal(t, 1, d.Find(`form[data-testid="webhook-form"]`).Length())
	require.Contains(t, d.Find(`[data-testid="tab-triggers"]`).AttrOr("class", ""), "border-brand-600", "the tab is current")

	// Creating shows the URL and the signing secret, once.
	r := c.Post("/bots/"+b.ID.String()+"/webhooks", url.Values{"description": {"GitHub push"}, "sync_timeout_seconds": {"0"}, "signed": {"1"}, "signature_scheme": {"legacy"}})
	require.Equal(t, http.StatusCreated, r.StatusCode, r.Body)
	d = r.Doc(t)
	hookURL := d.Find(`[data-testid="shown-url"]`).AttrOr("value", "")
	secret := d.Find(`[data-testid="shown-signing-secret"]`).AttrOr("value", "")
	require.True(t, strings.HasPrefix(hookURL, "http://example.com/hooks/c32wh_"), hookURL)
	require.True(t, strings.HasPrefix(secret, "whsec_"), secret)
	path := strings.TrimPrefix(hookURL, "http://example.com")
	token := strings.TrimPrefix(path, "/hooks/")
	require.Equal(t, 1, d.Find(`[data-testid="webhook-row"]`).Length())
	require.Equal(t, 1, countRows(t, a, "audit_logs", "action = 'webhook.create'"))

	d = c.Get(tab).Doc(t)
	require.Zero(t, d.Find(`[data-testid="shown-secrets"]`).Length(), "shown once")
	row := d.Find(`[data-testid="webhook-row"]`)
	require.Equal(t, "GitHub push", row.Find(`[data-testid="webhook-description"]`).Text())
	require.Equal(t, "signature required", row.Find(`[data-testid="webhook-signed-badge"]`).Text())
	require.Contains(t, row.Find(`[data-testid="webhook-url"]`).Text(), "/hooks/"+token[:12]+"…")
	page := c.Get(tab).Body
	require.NotContains(t, page, token, "the token is never shown again")
	require.NotContains(t, page, secret)

	// A signed call runs the bot with the body as input.
	body := `{"ref":"refs/heads/main","commits":[1,2]}`
	sig := http.Header{"X-Codex32-Signature": {models.SignWebhookBody(secret, []byte(body))}, "User-Agent": {"GitHub-Hookshot/1"}}
	got := postJSON(t, a, path, body, sig)
	require.Equal(t, http.StatusAccepted, got.status, got.raw)
	require.Equal(t, "queued", got.body["status"])
	ex := webhookExecution(t, a, got.body)
	require.Equal(t, models.TriggerWebhook, ex.Trigger)
	require.JSONEq(t, body, string(ex.Input))
	require.Nil(t, ex.RequestedBy)
	require.Equal(t, "http://example.com/api/v1/executions/"+ex.ID.String(), got.body["status_url"])
	var audit models.AuditLog
	require.NoError(t, a.DB.Bun.NewSelect().Model(&audit).Where("action = 'bot.execute'").Where("resource_id = ?", ex.ID.String()).Scan(bg))
	hooks, err := models.ListWebhooks(bg, a.DB.Bun, b.ID)
	require.NoError(t, err)
	require.Equal(t, "webhook "+hooks[0].ID.String(), audit.ActorLabel)
	require.Equal(t, "0.0.0.0", audit.IP, "the caller's address")
	require.Equal(t, "GitHub-Hookshot/1", audit.UserAgent)
	require.NotNil(t, hooks[0].LastCalledAt)

	// Rotating the URL: the old one is a 404 at once, the new one works.
	whPath := "/bots/" + b.ID.String() + "/webhooks/" + hooks[0].ID.String()
	r = c.Post(whPath+"/rotate", url.Values{"what": {"token"}})
	require.Equal(t, http.StatusOK, r.StatusCode, r.Body)
	newURL := r.Doc(t).Find(`[data-testid="shown-url"]`).AttrOr("value", "")
	require.NotEmpty(t, newURL)
	require.NotEqual(t, hookURL, newURL)
	require.Zero(t, r.Doc(t).Find(`[data-testid="shown-signing-secret"]`).Length(), "the signing secret stays")
	require.Equal(t, http.StatusNotFound, postJSON(t, a, path, body, sig).status)
	newPath := strings.TrimPrefix(newURL, "http://example.com")
	require.Equal(t, http.StatusAccepted, postJSON(t, a, newPath, body, sig).status)

	// A new signing secret: signatures made with the old one are refused.
	r = c.Post(whPath+"/rotate", url.Values{"what": {"signing"}})
	require.Equal(t, http.StatusOK, r.StatusCode, r.Body)
	newSecret := r.Doc(t).Find(`[data-testid="shown-signing-secret"]`).AttrOr("value", "")
	require.NotEqual(t, secret, newSecret)
	require.Equal(t, http.StatusUnauthorized, postJSON(t, a, newPath, body, sig).status)
	sig2 := http.Header{"X-Codex32-Signature": {models.SignWebhookBody(newSecret, []byte(body))}}
	require.Equal(t, http.StatusAccepted, postJSON(t, a, newPath, body, sig2).status)

	// Disabled: 404, like an unknown token. Enabled again: it runs.
	r = c.Post(whPath, url.Values{"enabled": {"0"}})
	require.Equal(t, http.StatusSeeOther, r.StatusCode, r.Body)
	require.Equal(t, tab, r.Header.Get("Location"))
	require.Contains(t, c.Get(tab).Doc(t).Find(`[data-testid="flash"]`).Text(), "disabled")
	require.Equal(t, http.StatusNotFound, postJSON(t, a, newPath, body, sig2).status)
	require.Equal(t, http.StatusSeeOther, c.Post(whPath, url.Values{"enabled": {"1"}}).StatusCode)
	require.Equal(t, http.StatusAccepted, postJSON(t, a, newPath, body, sig2).status)

	// Editing: description and the wait; stop requiring a signature.
	r = c.Post(whPath, url.Values{"description": {"GitHub"}, "sync_timeout_seconds": {"40"}})
	require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
	d = r.Doc(t)
	require.Contains(t, d.Find(`[data-testid="webhook-edit"][open] [data-testid="error-sync_timeout_seconds"]`).Text(), "from 0")
	r = c.Post(whPath, url.Values{"description": {"GitHub"}, "sync_timeout_seconds": {"0"}, "remove_signing": {"1"}})
	require.Equal(t, http.StatusSeeOther, r.StatusCode, r.Body)
	require.Equal(t, http.StatusAccepted, postJSON(t, a, newPath, `{}`, nil).status, "unsigned calls are accepted now")

	// Deleted: 404.
	r = c.Post(whPath+"/delete", nil)
	require.Equal(t, http.StatusSeeOther, r.StatusCode, r.Body)
	require.Equal(t, http.StatusNotFound, postJSON(t, a, newPath, body, nil).status)
	require.Equal(t, 1, c.Get(tab).Doc(t).Find(`[data-testid="webhooks-empty"]`).Length())

	for action, n := range map[string]int{"webhook.create": 1, "webhook.rotate": 2, "webhook.update": 3, "webhook.delete": 1} {
		require.Equal(t, n, countRows(t, a, "audit_logs", "action = ?", action), action)
	}
}

func TestWebhookTabForViewers(t *testing.T) {
	t.Parallel()
	a, vc, _ := signedIn(t, models.RoleViewer)
	owner := testutil.CreateUser(t, a.DB, models.RoleUser)
	b := execBot(t, a, owner, "viewed", models.BotActive)
	hookOf(t, a, b, true, 0)
	s := &models.Schedule{BotID: b.ID, CronExpr: "0 9 * * 1-5", TimeZone: "Europe/Oslo", Enabled: true}
	require.NoError(t, models.CreateSchedule(bg, a.DB.Bun, models.SystemActor("test"), s, time.Now()))

	d := vc.Get("/bots/" + b.ID.String() + "?tab=triggers").Doc(t)
	require.Equal(t, 1, d.Find(`[data-testid="webhook-row"]`).Length())
	require.Equal(t, 1, d.Find(`[data-testid="schedule-row"]`).Length())
	require.Len(t, d.Find(`[data-testid="schedule-next-run"]`).Nodes, 3)
	for _, sel := range []string{"webhook-form", "webhook-toggle", "webhook-rotate", "webhook-delete", "webhook-edit", "schedule-form", "schedule-toggle", "schedule-delete", "schedule-edit"} {
		require.Zero(t, d.Find(`[data-testid="`+sel+`"]`).Length(), sel)
	}
	// And cannot change them.
	hooks, err := models.ListWebhooks(bg, a.DB.Bun, b.ID)
	require.NoError(t, err)
	r := vc.Post("/bots/"+b.ID.String()+"/webhooks/"+hooks[0].ID.String()+"/rotate", url.Values{"what": {"token"}})
	require.Equal(t, http.StatusForbidden, r.StatusCode)
}

func TestWebhookCallRefusals(t *testing.T) { //nolint:tparallel // subtests count the executions and audit rows of the one webhook; they run in order
	t.Parallel()
	a := testutil.NewApp(t)
	owner := testutil.CreateUser(t, a.DB, models.RoleUser)
	b := execBot(t, a, owner, "callee", models.BotActive)
	w, sec := hookOf(t, a, b, true, 0)
	path := "/hooks/" + sec.Token
	body := `{"a":1}`
	good := http.Header{"X-Codex32-Signature": {models.SignWebhookBody(sec.SigningSecret, []byte(body))}}
	executions := func() int { return countRows(t, a, "bot_executions", "") }

	t.Run("unknown, malformed and disabled tokens are the same 404", func(t *testing.T) {
		unknown := postJSON(t, a, "/hooks/c32wh_"+strings.Repeat("b", 32), body, good)
		require.Equal(t, http.StatusNotFound, unknown.status)
		malformed := postJSON(t, a, "/hooks/whatever", body, good)
		require.Equal(t, http.StatusNotFound, malformed.status)
		require.Equal(t, unknown.raw, malformed.raw)

		other := execBot(t, a, owner, "off", models.BotActive)
		ow, osec := hookOf(t, a, other, false, 0)
		off := false
		_, err := models.UpdateWebhook(bg, a.DB.Bun, models.SystemActor("test"), other.ID, ow.ID, models.WebhookPatch{Enabled: &off})
		require.NoError(t, err)
		disabled := postJSON(t, a, "/hooks/"+osec.Token, body, nil)
		require.Equal(t, http.StatusNotFound, disabled.status)
		require.Equal(t, unknown.raw, disabled.raw, "no information leak")
		require.Zero(t, executions())
	})

	t.Run("signatures: missing and bad are 401, counted, audited once a minute", func(t *testing.T) {
		missing := postJSON(t, a, path, body, nil)
		require.Equal(t, http.StatusUnauthorized, missing.status, missing.raw)
		require.Contains(t, missing.body["detail"], "missing signature")
		bad := postJSON(t, a, path, body, http.Header{"X-Codex32-Signature": {models.SignWebhookBody("whsec_guess", []byte(body))}})
		require.Equal(t, http.StatusUnauthorized, bad.status)
		require.Contains(t, bad.body["detail"], "bad signature")
		// A signature of another body does not fit this one.
		replay := postJSON(t, a, path, `{"a":2}`, good)
		require.Equal(t, http.StatusUnauthorized, replay.status)
		require.Zero(t, executions())

		got, err := models.WebhookByID(bg, a.DB.Bun, b.ID, w.ID)
		require.NoError(t, err)
		require.EqualValues(t, 3, got.RejectedCount)
		require.NotNil(t, got.LastRejectedAt)
		require.Equal(t, 1, countRows(t, a, "audit_logs", "action = 'webhook.rejected' AND resource_id = ?", w.ID.String()), "one audit row a minute")
		a.Clock.Advance(2 * time.Minute)
		require.Equal(t, http.StatusUnauthorized, postJSON(t, a, path, body, nil).status)
		require.Equal(t, 2, countRows(t, a, "audit_logs", "action = 'webhook.rejected' AND resource_id = ?", w.ID.String()))

		ok := postJSON(t, a, path, body, good)
		require.Equal(t, http.StatusAccepted, ok.status, ok.raw)
	})

	t.Run("bodies: size, encoding, JSON, text", func(t *testing.T) {
		before := executions()
		big := `{"x":"` + strings.Repeat("a", 1<<20) + `"}`
		r := postJSON(t, a, path, big, http.Header{"X-Codex32-Signature": {models.SignWebhookBody(sec.SigningSecret, []byte(big))}})
		require.Equal(t, http.StatusRequestEntityTooLarge, r.status)

		gz := http.Header{"Content-Encoding": {"gzip"}, "X-Codex32-Signature": good["X-Codex32-Signature"]}
		require.Equal(t, http.StatusUnsupportedMediaType, postJSON(t, a, path, body, gz).status)

		broken := `{"a":`
		r = postJSON(t, a, path, broken, http.Header{"X-Codex32-Signature": {models.SignWebhookBody(sec.SigningSecret, []byte(broken))}})
		require.Equal(t, http.StatusBadRequest, r.status)
		require.Contains(t, r.body["detail"], "not valid JSON")

		binary := []byte{0xff, 0xfe, 0x00}
		r = callHook(t, a, http.MethodPost, path, "application/octet-stream", binary, http.Header{"X-Codex32-Signature": {models.SignWebhookBody(sec.SigningSecret, binary)}})
		require.Equal(t, http.StatusUnsupportedMediaType, r.status)
		require.Equal(t, before, executions(), "nothing ran")

		// Text is wrapped; JSON without a content type is taken as JSON.
		text := "payload=hello&n=1"
		r = callHook(t, a, http.MethodPost, path, "application/x-www-form-urlencoded", []byte(text), http.Header{"X-Codex32-Signature": {models.SignWebhookBody(sec.SigningSecret, []byte(text))}})
		require.Equal(t, http.StatusAccepted, r.status, r.raw)
		require.JSONEq(t, `{"body":"payload=hello&n=1","content_type":"application/x-www-form-urlencoded"}`, string(webhookExecution(t, a, r.body).Input))
		r = callHook(t, a, http.MethodPost, path, "", []byte(`[1,2]`), http.Header{"X-Codex32-Signature": {models.SignWebhookBody(sec.SigningSecret, []byte(`[1,2]`))}})
		require.Equal(t, http.StatusAccepted, r.status, r.raw)
		require.JSONEq(t, `[1,2]`, string(webhookExecution(t, a, r.body).Input))
		r = callHook(t, a, http.MethodPost, path, "application/json", nil, http.Header{"X-Codex32-Signature": {models.SignWebhookBody(sec.SigningSecret, nil)}})
		require.Equal(t, http.StatusAccepted, r.status, r.raw)
		require.JSONEq(t, `{}`, string(webhookExecution(t, a, r.body).Input), "an empty body is {}")
	})

	t.Run("other methods and paths never reach the pages", func(t *testing.T) {
		r := callHook(t, a, http.MethodGet, path, "", nil, nil)
		require.Equal(t, http.StatusMethodNotAllowed, r.status)
		require.Equal(t, "POST", r.header.Get("Allow"))
		r = callHook(t, a, http.MethodPut, path, "application/json", []byte(body), nil)
		require.Equal(t, http.StatusMethodNotAllowed, r.status)
		r = callHook(t, a, http.MethodPost, "/hooks/a/b", "application/json", []byte(body), nil)
		require.Equal(t, http.StatusNotFound, r.status)
		r = callHook(t, a, http.MethodGet, "/hooks", "", nil, nil)
		require.Equal(t, http.StatusNotFound, r.status)
	})

	t.Run("a bot that may not run is a 409 with the reason", func(t *testing.T) {
		_, err := models.UpdateBot(bg, a.DB.Bun, models.SystemActor("test"), b.ID, models.BotPatch{Name: b.Name, Status: models.BotMaintenance})
		require.NoError(t, err)
		t.Cleanup(func() {
			_, _ = models.UpdateBot(bg, a.DB.Bun, models.SystemActor("test"), b.ID, models.BotPatch{Name: b.Name, Status: models.BotActive})
		})
		r := postJSON(t, a, path, body, good)
		require.Equal(t, http.StatusConflict, r.status)
		require.Contains(t, r.body["detail"], "maintenance")
	})
}

// A synchronous webhook waits for the run and answers with its output; one
// that does not finish in time is a 202.
func TestWebhookSynchronousReply(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t, testutil.WithWorkers(2))
	owner := testutil.CreateUser(t, a.DB, models.RoleUser)
	script := func(name, source string) *models.Bot {
		src, err := json.Marshal(source)
		require.NoError(t, err)
		b := &models.Bot{OwnerID: owner.ID, Name: name, Kind: models.KindScript, Status: models.BotActive}
		_, err = models.CreateBot(bg, a.DB.Bun, models.SystemActor("test"), b, json.RawMessage(`{"source":`+string(src)+`}`), "v1")
		require.NoError(t, err)
		return b
	}

	echo := script("echo", `function main(input) { return {echo: input.msg, n: input.n * 2} }`)
	_, sec := hookOf(t, a, echo, false, 20)
	r := postJSON(t, a, "/hooks/"+sec.Token, `{"msg":"hi","n":21}`, nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, "success", r.body["status"])
	require.Equal(t, map[string]any{"echo": "hi", "n": float64(42)}, r.body["output"])
	require.NotEmpty(t, r.body["execution_id"])
	require.Equal(t, "http://example.com/api/v1/executions/"+r.body["execution_id"].(string), r.body["status_url"])
	require.Contains(t, r.body, "duration_ms")

	fails := script("fails", `function main() { throw new Error("no luck") }`)
	_, sec = hookOf(t, a, fails, false, 20)
	r = postJSON(t, a, "/hooks/"+sec.Token, `{}`, nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, "failed", r.body["status"])
	require.Contains(t, r.body["error"], "no luck")
	require.Nil(t, r.body["output"])

	slow := script("slow", `function main() { var end = Date.now() + 3000; while (Date.now() < end) {} return 1 }`)
	_, sec = hookOf(t, a, slow, false, 1)
	r = postJSON(t, a, "/hooks/"+sec.Token, `{}`, nil)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.Equal(t, "queued", r.body["status"])
	require.False(t, webhookExecution(t, a, r.body).Final(), "it stopped waiting before the run ended")
}

// lockedBuffer is a log sink safe for the engine's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The token is a credential: the access log records only its prefix.
func TestWebhookTokenStaysOutOfTheLogs(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	require.NoError(t, models.MarkSetupDone(bg, db.Bun))
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store, err := web.NewSessionStore(web.SessionConfig{DB: db, Keys: [][]byte{[]byte(testutil.TestSessionKey)}, Idle: time.Hour, MaxAge: time.Hour, Log: log})
	require.NoError(t, err)
	box, err := models.NewSecretBox([]byte("test-secret-key-0123456789abcdef"))
	require.NoError(t, err)
	app := handlers.NewApp(handlers.Deps{DB: db, Log: log, Version: "test", Sessions: store, Secrets: box,
		Engine: testutil.NewEngine(t, db, box, testutil.EngineOptions{})})

	owner := testutil.CreateUser(t, db, models.RoleUser)
	b := &models.Bot{OwnerID: owner.ID, Name: "logged", Kind: models.KindHTTP, Status: models.BotActive}
	_, err = models.CreateBot(bg, db.Bun, models.SystemActor("test"), b, json.RawMessage(`{"url":"https://example.test"}`), "v1")
	require.NoError(t, err)
	w := &models.Webhook{BotID: b.ID}
	sec, err := models.CreateWebhook(bg, db.Bun, box, models.SystemActor("test"), w, false)
	require.NoError(t, err)

	for _, m := range []string{http.MethodPost, http.MethodGet} {
		req := httptest.NewRequestWithContext(t.Context(), m, "/hooks/"+sec.Token, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := app.Test(req, -1)
		require.NoError(t, err)
		_ = resp.Body.Close()
	}
	out := logs.String()
	require.Contains(t, out, "path=/hooks/"+sec.Token[:models.WebhookTokenDisplayLen]+"...")
	require.Contains(t, out, "status=202")
	require.Contains(t, out, "status=405")
	require.NotContains(t, out, sec.Token)
}

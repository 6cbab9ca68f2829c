package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

// TestWebhookStatusURLIsTheAPIResource: a webhook's caller is a program, so
// the reply's status_url is the execution in the JSON API — which answers
// it, to an API key, with the execution the call started.
func TestWebhookStatusURLIsTheAPIResource(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	owner, key := apiUserKey(t, a, models.RoleUser)
	b := execBot(t, a, owner, "polled", models.BotActive)
	_, sec := hookOf(t, a, b, false, 0)

	got := postJSON(t, a, "/hooks/"+sec.Token, `{"n":1}`, nil)
	require.Equal(t, http.StatusAccepted, got.status, got.raw)
	id := got.body["execution_id"].(string)
	statusURL := got.body["status_url"].(string)
	require.Equal(t, "http://example.com/api/v1/executions/"+id, statusURL, "the request's scheme and host when no base URL is configured")

	u, err := url.Parse(statusURL)
	require.NoError(t, err)
	r := newAPITester(t, a).get(u.Path, key)
	require.Equal(t, s200, r.StatusCode, "%s", r.Body)
	var ex executionJSON
	r.decode(t, &ex)
	require.Equal(t, id, ex.ID)
	require.Equal(t, "webhook", ex.Trigger)
}

// TestWebhookURLsUseTheBaseURL: with CODEX32_BASE_URL set, the webhook URL
// shown on the Triggers tab and the reply's status_url are built on it, not
// on the Host the request happened to carry (a proxy's internal name, say).
func TestWebhookURLsUseTheBaseURL(t *testing.T) {
	t.Parallel()
	const base = "https://codex32.example.org"
	a, c, u := signedIn(t, models.RoleUser, testutil.WithBaseURL(base+"/"))
	b := execBot(t, a, u, "public", models.BotActive)
	const internal = "internal-lb.local:8080"

	c.Get("/bots/" + b.ID.String() + "?tab=triggers") // a CSRF token
	form := url.Values{"description": {"CI"}, "sync_timeout_seconds": {"0"}, "_csrf": {c.CSRF}}
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/bots/"+b.ID.String()+"/webhooks", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Host = internal
	r := c.Do(req)
	require.Equal(t, http.StatusCreated, r.StatusCode, r.Body)
	d := r.Doc(t)
	hookURL := d.Find(`[data-testid="shown-url"]`).AttrOr("value", "")
	require.True(t, strings.HasPrefix(hookURL, base+"/hooks/c32wh_"), hookURL)
	listed := d.Find(`[data-testid="webhook-url"]`).Text()
	require.True(t, strings.HasPrefix(listed, base+"/hooks/"), listed)
	require.NotContains(t, r.Body, internal)

	req = httptest.NewRequestWithContext(t.Context(), http.MethodPost, strings.TrimPrefix(hookURL, base), strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Host = internal
	resp := a.Do(t, req)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	var got map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	require.Equal(t, base+"/api/v1/executions/"+got["execution_id"].(string), got["status_url"])
}

// TestWebhookURLsFollowTheRequestHost: without a base URL, the URLs are
// built on the Host the request came with.
func TestWebhookURLsFollowTheRequestHost(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	owner := testutil.CreateUser(t, a.DB, models.RoleUser)
	b := execBot(t, a, owner, "internal", models.BotActive)
	_, sec := hookOf(t, a, b, false, 0)
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/hooks/"+sec.Token, strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Host = "codex32.internal:8080"
	resp := a.Do(t, req)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	var got map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	require.Equal(t, "http://codex32.internal:8080/api/v1/executions/"+got["execution_id"].(string), got["status_url"])
}

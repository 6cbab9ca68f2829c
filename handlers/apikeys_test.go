package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

func apiGet(t *testing.T, a *testutil.App, path, key string) (*http.Response, map[string]any) {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp := a.Do(t, req)
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp, body
}

func TestAPIKeyCreatedInThePageIsShownOnceAndWorks(t *testing.T) {
	t.Parallel()
	a, c, u := signedIn(t, models.RoleUser)
	require.Equal(t, 1, c.Get("/settings/api-keys").Doc(t).Find(`[data-testid="apikeys-empty"]`).Length())

	r := c.Post("/settings/api-keys", url.Values{"name": {"ci"}, "days": {"30"}, "scopes": {"read", "execute"}})
	require.Equal(t, http.StatusCreated, r.StatusCode)
	key := r.Doc(t).Find(`[data-testid="new-key-value"]`).AttrOr("value", "")
	require.Regexp(t, `^c32_[a-z2-7]{38}$`, key)
	require.True(t, models.WellFormedAPIKey(key))

	// Stored as a hash with a display prefix; the key itself is nowhere.
	k, err := models.APIKeyByKey(bg, a.DB.Bun, key)
	require.NoError(t, err)
	require.Equal(t, u.ID, k.UserID)
	require.Equal(t, []string{"execute", "read"}, k.Scopes)
	require.Equal(t, key[:len(k.Prefix)], k.Prefix)
	require.WithinDuration(t, time.Now().Add(30*24*time.Hour), *k.ExpiresAt, time.Minute)
	require.Zero(t, countRows(t, a, "api_keys", "key_hash = ? OR prefix = ?", key, key))
	require.Equal(t, 1, countRows(t, a, "audit_logs", "action = ?", "api_key.create"))

	// Shown once: the list afterwards has the prefix only.
	list := c.Get("/settings/api-keys")
	require.NotContains(t, list.Body, key)
	require.Contains(t, list.Body, k.Prefix)
	require.Zero(t, list.Doc(t).Find(`[data-testid="new-key"]`).Length())

	resp, body := apiGet(t, a, "/api/v1/me", key)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, u.Email, body["user"].(map[string]any)["email"])
	require.Equal(t, "user", body["user"].(map[string]any)["role"])
	require.Equal(t, []any{"execute", "read"}, body["key"].(map[string]any)["scopes"])
	k, err = models.APIKeyByKey(bg, a.DB.Bun, key)
	require.NoError(t, err)
	require.NotNil(t, k.LastUsedAt, "use is recorded")
	require.Contains(t, c.Get("/settings/api-keys").Doc(t).Find(`[data-testid="apikey-row"]`).Text(), "UTC", "last used shown")
}

func TestAPIKeyFormValidation(t *testing.T) {
	t.Parallel()
	a, c, _ := signedIn(t, models.RoleViewer)
	cases := []struct {
		form  url.Values
		field string
	}{
		{url.Values{"name": {""}, "days": {"30"}, "scopes": {"read"}}, "name"},
		{url.Values{"name": {"x"}, "days": {"30"}}, "scopes"},
		{url.Values{"name": {"x"}, "days": {"30"}, "scopes": {"admin"}}, "scopes"},
		{url.Values{"name": {"x"}, "days": {"366"}, "scopes": {"read"}}, "days"},
		{url.Values{"name": {"x"}, "days": {"0"}, "scopes": {"read"}}, "days"},
		{url.Values{"name": {"x"}, "days": {"soon"}, "scopes": {"read"}}, "days"},
	}
	for _, tc := range cases {
		r := c.Post("/settings/api-keys", tc.form)
		require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode, tc.form)
		require.NotEmpty(t, r.Doc(t).Find(`[data-testid="error-`+tc.field+`"]`).Text(), tc.form)
	}
	require.Zero(t, countRows(t, a, "api_keys", ""))
}

func TestAPIKeyAuthentication(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	u := testutil.CreateUser(t, a.DB, models.RoleUser)
	mk := func(scopes []string, ttl time.Duration) (string, *models.APIKey) {
		exp := time.Now().Add(ttl)
		k := &models.APIKey{UserID: u.ID, Name: "k", Scopes: scopes, ExpiresAt: &exp}
		key, err := models.CreateAPIKey(bg, a.DB.Bun, models.SystemActor("test"), k)
		require.NoError(t, err)
		return key, k
	}
	valid, _ := mk([]string{"read"}, time.Hour)
	executeOnly, _ := mk([]string{"execute"}, time.Hour)
	revoked, rk := mk([]string{"read"}, time.Hour)
	require.NoError(t, models.RevokeAPIKey(bg, a.DB.Bun, models.SystemActor("test"), u.ID, rk.ID))
	expiring, _ := mk([]string{"read"}, time.Hour)

	resp, _ := apiGet(t, a, "/api/v1/me", valid)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	for name, tc := range map[string]struct {
		key    string
		status int
		msg    string
	}{
		"missing":         {"", 401, "Missing API key"},
		"malformed":       {"c32_nope", 401, "Invalid API key"},
		"unknown":         {"c32_" + valid[4:36] + "aaaaaa", 401, "Invalid API key"},
		"typo (checksum)": {typoAt(valid, 10), 401, "Invalid API key"},
		"revoked":         {revoked, 401, "revoked"},
		"wrong scope":     {executeOnly, 403, "read scope"},
	} {
		resp, body := apiGet(t, a, "/api/v1/me", tc.key)
		require.Equal(t, tc.status, resp.StatusCode, name)
		require.Contains(t, body["detail"], tc.msg, name)
		if tc.status == 401 {
			require.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer", name)
		}
	}

	// Never in the query string, even alongside a valid header.
	for _, p := range []string{"api_key", "access_token", "token"} {
		resp, body := apiGet(t, a, "/api/v1/me?"+p+"="+valid, valid)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, p)
		require.Contains(t, body["detail"], "Authorization header")
	}

	// Expired keys stop working.
	a.Clock.Advance(2 * time.Hour)
	resp, body := apiGet(t, a, "/api/v1/me", expiring)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, body["detail"], "expired")

	// A user disabled by another process (the CLI, another replica): their
	// keys stop working once the API cache's entry is older than
	// CODEX32_API_CACHE_TTL (1 s). (Through this process it is at once:
	// TestAPIAuthCacheInvalidation.)
	a.Clock.Advance(-2 * time.Hour)
	_, err := models.SetUserActive(bg, a.DB.Bun, models.SystemActor("test"), u.ID, false)
	require.NoError(t, err)
	a.Clock.Advance(time.Second)
	resp, _ = apiGet(t, a, "/api/v1/me", valid)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestAPIIgnoresSessionCookies(t *testing.T) {
	t.Parallel()
	_, c, _ := signedIn(t, models.RoleAdmin)
	r := c.Get("/api/v1/me")
	require.Equal(t, http.StatusUnauthorized, r.StatusCode, "a signed-in browser is not an API client")
	require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"))
}

func TestAPIKeyRevokeFromThePage(t *testing.T) {
	t.Parallel()
	a, c, u := signedIn(t, models.RoleUser)
	exp := time.Now().Add(time.Hour)
	k := &models.APIKey{UserID: u.ID, Name: "mine", Scopes: []string{"read"}, ExpiresAt: &exp}
	key, err := models.CreateAPIKey(bg, a.DB.Bun, models.SystemActor("test"), k)
	require.NoError(t, err)

	// Another user's key is not theirs to revoke: 404, and it keeps working.
	stranger := testutil.CreateUser(t, a.DB, models.RoleUser)
	sk := &models.APIKey{UserID: stranger.ID, Name: "theirs", Scopes: []string{"read"}, ExpiresAt: &exp}
	strangerKey, err := models.CreateAPIKey(bg, a.DB.Bun, models.SystemActor("test"), sk)
	require.NoError(t, err)
	c.Get("/settings/api-keys")
	require.Equal(t, http.StatusNotFound, c.Post("/settings/api-keys/"+sk.ID.String()+"/revoke", nil).StatusCode)
	resp, _ := apiGet(t, a, "/api/v1/me", strangerKey)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	r := c.Post("/settings/api-keys/"+k.ID.String()+"/revoke", nil)
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	resp, _ = apiGet(t, a, "/api/v1/me", key)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, c.Get("/settings/api-keys").Doc(t).Find(`[data-testid="apikey-state"]`).Text(), "revoked")
	require.Equal(t, 1, countRows(t, a, "audit_logs", "action = ? AND resource_id = ?", "api_key.revoke", k.ID.String()))
}

// typoAt changes the character at i to a different one of the key alphabet.
func typoAt(key string, i int) string {
	c := byte('x')
	if key[i] == 'x' {
		c = 'y'
	}
	return key[:i] + string(c) + key[i+1:]
}

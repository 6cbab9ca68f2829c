package handlers_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

// The API cache reuses key checks for CODEX32_API_CACHE_TTL, but a change
// made through this process applies to the very next request.
func TestAPIAuthCacheInvalidation(t *testing.T) {
	t.Parallel()
	a, admin, _ := signedIn(t, models.RoleAdmin, testutil.WithAPICache(time.Minute))
	u := accessUser(t, a.DB, models.RoleUser)
	key, k := accessKey(t, a.DB, u, models.ScopeRead)
	resp, _ := apiGet(t, a, "/api/v1/me", key)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// Behind the app's back (another process): the cached check stands
	// until the TTL is over.
	require.NoError(t, models.RevokeAPIKey(bg, a.DB.Bun, models.SystemActor("test"), u.ID, k.ID))
	resp, _ = apiGet(t, a, "/api/v1/me", key)
	require.Equal(t, http.StatusOK, resp.StatusCode, "served from the cache")
	a.Clock.Advance(time.Minute)
	resp, body := apiGet(t, a, "/api/v1/me", key)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the TTL is over")
	require.Contains(t, body["detail"], "revoked")

	// Through this process: at once.
	key2, _ := accessKey(t, a.DB, u, models.ScopeRead, models.ScopeWrite)
	resp, _ = apiGet(t, a, "/api/v1/me", key2)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	r := admin.Post("/admin/users/"+u.ID.String()+"/disable", nil)
	require.Less(t, r.StatusCode, 400)
	resp, body = apiGet(t, a, "/api/v1/me", key2)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "disabled on the admin page")
	require.Contains(t, body["detail"], "disabled")
}

// Bot list pages are shared between callers for the TTL; any write through
// this process drops them.
func TestAPIBotListCache(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t, testutil.WithAPICache(time.Minute))
	api := newAPITester(t, a)
	_, key := apiUserKey(t, a, models.RoleAdmin)
	_, other := apiUserKey(t, a, models.RoleViewer)
	names := func(path, key string) []string {
		t.Helper()
		r := api.get(path, key)
		require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.Body)
		require.Equal(t, "application/json", r.Header.Get("Content-Type"))
		var page struct {
			Items []botJSON `json:"items"`
		}
		r.decode(t, &page)
		var out []string
		for _, b := range page.Items {
			out = append(out, b.Name)
		}
		return out
	}
	create := func(name string) string {
		t.Helper()
		r := api.post("/api/v1/bots", key, map[string]any{"name": name, "kind": "http", "config": map[string]any{"url": "https://example.test/"}})
		require.Equal(t, http.StatusCreated, r.StatusCode, "%s", r.Body)
		return r.object(t)["id"].(string)
	}
	first := create("alpha")
	require.Equal(t, []string{"alpha"}, names("/api/v1/bots?sort=name", key))

	// Created behind the app's back: not seen until the TTL is over — by
	// anyone, since pages are shared.
	owner := testutil.CreateUser(t, a.DB, models.RoleUser)
	_, err := models.CreateBot(bg, a.DB.Bun, models.SystemActor("test"),
		&models.Bot{OwnerID: owner.ID, Name: "beta", Kind: models.KindHTTP, Status: models.BotActive},
		json.RawMessage(`{"url": "https://example.test/"}`), "first")
	require.NoError(t, err)
	require.Equal(t, []string{"alpha"}, names("/api/v1/bots?sort=name", key))
	require.Equal(t, []string{"alpha"}, names("/api/v1/bots?sort=name", other))
	require.Len(t, names("/api/v1/bots?sort=name&limit=2", key), 2, "another query is another page")
	a.Clock.Advance(time.Minute)
	require.Equal(t, []string{"alpha", "beta"}, names("/api/v1/bots?sort=name", key))

	// Through this process: the next read sees it.
	create("gamma")
	require.Equal(t, []string{"alpha", "beta", "gamma"}, names("/api/v1/bots?sort=name", key))
	r := api.patch("/api/v1/bots/"+first, key, map[string]any{"name": "delta"})
	require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.Body)
	require.Equal(t, []string{"beta", "delta", "gamma"}, names("/api/v1/bots?sort=name", key))
	r = api.post("/api/v1/bots/"+first+"/archive", key, nil)
	require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.Body)
	require.Equal(t, []string{"beta", "gamma"}, names("/api/v1/bots?sort=name", key))
}

// A run answered at once (no ?wait) is built from what was inserted, not
// read back: it must say exactly what reading it back says.
func TestAPIRunResponseMatchesReadBack(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t) // no workers: it stays queued
	api := newAPITester(t, a)
	u, key := apiUserKey(t, a, models.RoleUser)
	bot := &models.Bot{OwnerID: u.ID, Name: "echo", Kind: models.KindScript, Status: models.BotActive}
	_, err := models.CreateBot(bg, a.DB.Bun, models.SystemActor("test"), bot,
		json.RawMessage(`{"source": "function main(input) { return input; }"}`), "first")
	require.NoError(t, err)

	r := api.post("/api/v1/bots/"+bot.ID.String()+"/executions", key, map[string]any{"input": map[string]any{"b": 2, "a": [2]any{"x", nil}}})
	require.Equal(t, http.StatusAccepted, r.StatusCode, "%s", r.Body)
	created := r.object(t)
	require.Equal(t, "/api/v1/executions/"+created["id"].(string), r.Header.Get("Location"))
	back := api.get(r.Header.Get("Location"), key)
	require.Equal(t, http.StatusOK, back.StatusCode)
	require.Equal(t, back.object(t), created)
	require.Equal(t, u.Email, created["requester_email"])
	require.EqualValues(t, 1, created["version"])
}

package handlers_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

// apiUserKey creates a user of role with a key carrying every scope.
func apiUserKey(t *testing.T, a *testutil.App, role models.Role) (*models.User, string) {
	t.Helper()
	u := accessUser(t, a.DB, role)
	key, _ := accessKey(t, a.DB, u, models.ScopeRead, models.ScopeWrite, models.ScopeExecute)
	return u, key
}

type botJSON struct {
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	Description   string   `json:"description"`
	Kind          string   `json:"kind"`
	Status        string   `json:"status"`
	Tags          []string `json:"tags"`
	OwnerID       string   `json:"owner_id"`
	OwnerEmail    string   `json:"owner_email"`
	ActiveVersion *int     `json:"active_version"`
	LatestVersion *int     `json:"latest_version"`
	Archived      bool     `json:"archived"`
}

func TestAPIBotLifecycle(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	api := newAPITester(t, a)
	u, key := apiUserKey(t, a, models.RoleUser)

	// Create: 201, Location, version 1 active.
	r := api.post("/api/v1/bots", key, map[string]any{"name": "  Weather  ", "description": "Asks the sky", "kind": "http",
		"tags": []string{"Ops", "ops", " weather "}, "config": map[string]any{"url": "https://example.test/v1"}})
	require.Equal(t, s201, r.StatusCode, string(r.Body))
	var b botJSON
	r.decode(t, &b)
	require.Equal(t, "/api/v1/bots/"+b.ID, r.Header.Get("Location"))
	require.Equal(t, "Weather", b.Name)
	require.Equal(t, "active", b.Status, "active by default, as the new-bot form")
	require.Equal(t, []string{"ops", "weather"}, b.Tags)
	require.Equal(t, u.ID.String(), b.OwnerID)
	require.Equal(t, u.Email, b.OwnerEmail)
	require.Equal(t, 1, *b.ActiveVersion)
	require.Equal(t, 1, *b.LatestVersion)
	path := "/api/v1/bots/" + b.ID

	// Details only: no new version.
	r = api.patch(path, key, map[string]any{"name": "Weather bot", "status": "maintenance"})
	require.Equal(t, s200, r.StatusCode, string(r.Body))
	r.decode(t, &b)
	require.Equal(t, "Weather bot", b.Name)
	require.Equal(t, "maintenance", b.Status)
	require.Equal(t, "Asks the sky", b.Description, "fields left out stay")
	require.Equal(t, 1, *b.LatestVersion)

	// A new config: version 2, active.
	r = api.patch(path, key, map[string]any{"config": map[string]any{"url": "https://example.test/v2"}, "base_version": 1, "changelog": "v2 endpoint"})
	require.Equal(t, s200, r.StatusCode, string(r.Body))
	r.decode(t, &b)
	require.Equal(t, 2, *b.LatestVersion)
	require.Equal(t, 2, *b.ActiveVersion)

	// The same config again changes nothing.
	r = api.patch(path, key, map[string]any{"config": map[string]any{"url": "https://example.test/v2"}})
	require.Equal(t, s200, r.StatusCode, string(r.Body))
	r.decode(t, &b)
	require.Equal(t, 2, *b.LatestVersion)

	// A change made from version 1 conflicts, and writes nothing.
	r = api.patch(path, key, map[string]any{"config": map[string]any{"url": "https://example.test/v3"}, "base_version": 1, "name": "lost"})
	require.Equal(t, s409, r.StatusCode, string(r.Body))
	p := r.problem(t)
	require.Equal(t, web.ProblemType(web.ProblemVersionConflict), p.Type)
	require.Equal(t, 1, p.BaseVersion)
	require.Equal(t, 2, p.LatestVersion)
	r = api.get(path, key)
	r.decode(t, &b)
	require.Equal(t, "Weather bot", b.Name)
	require.Equal(t, 2, *b.LatestVersion)

	// Versions: the list has no configs, one version has.
	r = api.get(path+"/versions", key)
	require.Equal(t, s200, r.StatusCode)
	var versions struct {
		Items []map[string]any `json:"items"`
		Next  *string          `json:"next_cursor"`
	}
	r.decode(t, &versions)
	require.Len(t, versions.Items, 2)
	require.Nil(t, versions.Next)
	require.EqualValues(t, 2, versions.Items[0]["number"])
	require.Equal(t, true, versions.Items[0]["active"])
	require.NotContains(t, versions.Items[0], "config")
	r = api.get(path+"/versions/1", key)
	require.Equal(t, s200, r.StatusCode)
	v1 := r.object(t)
	require.Equal(t, map[string]any{"url": "https://example.test/v1"}, v1["config"])
	require.Equal(t, "Created", v1["changelog"])
	require.Equal(t, u.ID.String(), v1["author_id"])

	// Diff: the newest against the one before, by default.
	r = api.get(path+"/diff", key)
	require.Equal(t, s200, r.StatusCode)
	diff := r.object(t)
	require.EqualValues(t, 1, diff["from"])
	require.EqualValues(t, 2, diff["to"])
	require.Equal(t, []any{map[string]any{"path": "url", "op": "changed", "old": "https://example.test/v1", "new": "https://example.test/v2"}}, diff["changes"])
	require.Contains(t, diff["unified"], "+  \"url\": \"https://example.test/v2\"")
	r = api.send(apiReq{method: "GET", path: path + "/diff?from=x", key: key, off: true})
	require.Equal(t, s400, r.StatusCode)
	require.Equal(t, []web.FieldProblem{{Field: "from", Message: "must be a version number (1 or more)"}}, r.problem(t).Errors)

	// Roll back to version 1; twice is harmless.
	for range 2 {
		r = api.post(path+"/versions/1/activate", key, nil)
		require.Equal(t, s200, r.StatusCode, string(r.Body))
		r.decode(t, &b)
		require.Equal(t, 1, *b.ActiveVersion)
		require.Equal(t, 2, *b.LatestVersion)
	}

	// Export: the same file as the bot page's.
	r = api.get(path+"/export", key)
	require.Equal(t, s200, r.StatusCode)
	require.Equal(t, `attachment; filename="weather-bot.json"`, r.Header.Get("Content-Disposition"))
	f, err := models.ParseBotFile(r.Body)
	require.NoError(t, err)
	require.Equal(t, models.BotFileFormat, f.Format)
	require.Len(t, f.Versions, 2)
	require.JSONEq(t, `{"url":"https://example.test/v1"}`, string(f.Config), "the active version's config")

	// Archive: gone from the list, back with archived=true; changes refused.
	r = api.post(path+"/archive", key, nil)
	require.Equal(t, s200, r.StatusCode)
	r.decode(t, &b)
	require.True(t, b.Archived)
	require.Empty(t, listBotIDs(t, api, key, "/api/v1/bots?mine=true"))
	require.Equal(t, []string{b.ID}, listBotIDs(t, api, key, "/api/v1/bots?mine=true&archived=true"))
	r = api.patch(path, key, map[string]any{"name": "x"})
	require.Equal(t, s409, r.StatusCode)
	require.Equal(t, web.ProblemType(web.ProblemStateConflict), r.problem(t).Type)
	require.Contains(t, r.problem(t).Detail, "archived")
	r = api.post(path+"/executions", key, nil)
	require.Equal(t, s409, r.StatusCode)
	require.Contains(t, r.problem(t).Detail, "archived")
	r = api.post(path+"/restore", key, nil)
	require.Equal(t, s200, r.StatusCode)
	r.decode(t, &b)
	require.False(t, b.Archived)

	// Every change is audited as made by the key.
	entries, err := models.QueryAudit(context.Background(), a.DB.Bun, models.AuditQuery{BotID: new(uuid.MustParse(b.ID)), Limit: 50})
	require.NoError(t, err)
	actions := map[string]bool{}
	for _, e := range entries.Rows {
		actions[e.Action] = true
		require.NotNil(t, e.ActorAPIKeyID, e.Action)
		require.Equal(t, u.ID, *e.ActorUserID, e.Action)
	}
	for _, want := range []string{"bot.create", "bot.update", "bot.version.create", "bot.version.activate", "bot.archive", "bot.restore"} {
		require.True(t, actions[want], "audited: %s (have %v)", want, actions)
	}
}

func listBotIDs(t *testing.T, api *apiTester, key, path string) []string {
	t.Helper()
	r := api.get(path, key)
	require.Equal(t, s200, r.StatusCode, string(r.Body))
	var page struct {
		Items []botJSON `json:"items"`
	}
	r.decode(t, &page)
	ids := []string{}
	for _, b := range page.Items {
		ids = append(ids, b.ID)
	}
	return ids
}

func TestAPIBotValidation(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	api := newAPITester(t, a)
	_, key := apiUserKey(t, a, models.RoleUser)

	r := api.send(apiReq{method: "POST", path: "/api/v1/bots", key: key, off: true,
		body: map[string]any{"name": "", "kind": "ftp", "config": map[string]any{}}})
	require.Equal(t, s422, r.StatusCode, string(r.Body))
	p := r.problem(t)
	require.Equal(t, web.ProblemType(web.ProblemValidation), p.Type)
	require.Equal(t, []web.FieldProblem{{Field: "kind", Message: "must be one of [http llm script]"}, {Field: "name", Message: "is required"}}, p.Errors)

	// The config's own problems name their field under config.
	r = api.post("/api/v1/bots", key, map[string]any{"name": "n", "kind": "http", "config": map[string]any{"url": "ftp://x", "timeout_seconds": 9999}})
	require.Equal(t, s422, r.StatusCode, string(r.Body))
	fields := map[string]string{}
	for _, e := range r.problem(t).Errors {
		fields[e.Field] = e.Message
	}
	require.Contains(t, fields, "config.url")
	require.Contains(t, fields, "config.timeout_seconds")

	r = api.send(apiReq{method: "POST", path: "/api/v1/bots", key: key, off: true, body: map[string]any{"name": "n", "kind": "http"}})
	require.Equal(t, s422, r.StatusCode)
	require.Equal(t, []web.FieldProblem{{Field: "config", Message: "is required"}}, r.problem(t).Errors)

	// A patch that would empty the name.
	r = api.post("/api/v1/bots", key, map[string]any{"name": "n", "kind": "http", "config": map[string]any{"url": "https://example.test"}})
	require.Equal(t, s201, r.StatusCode)
	var b botJSON
	r.decode(t, &b)
	r = api.patch("/api/v1/bots/"+b.ID, key, map[string]any{"name": "  ", "status": "active"})
	require.Equal(t, s422, r.StatusCode)
	require.Equal(t, []web.FieldProblem{{Field: "name", Message: "is required"}}, r.problem(t).Errors)
	r = api.patch("/api/v1/bots/"+b.ID, key, map[string]any{"kind": "script"})
	require.Equal(t, s422, r.StatusCode, "the http config is not a script config")
	require.Equal(t, "config.source", r.problem(t).Errors[0].Field)
}

func TestAPIBotListPages(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	api := newAPITester(t, a)
	u, key := apiUserKey(t, a, models.RoleViewer)
	other := testutil.CreateUser(t, a.DB, models.RoleUser)
	want := map[string]bool{}
	for range 5 {
		want[apiBotFixture(t, a, other, false).ID.String()] = true
	}
	apiBotFixture(t, a, u, false)

	got := map[string]bool{}
	cursor, pages := "", 0
	for {
		path := "/api/v1/bots?limit=2&owner=" + url.QueryEscape(other.Email)
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		r := api.get(path, key)
		require.Equal(t, s200, r.StatusCode, string(r.Body))
		var page struct {
			Items []botJSON `json:"items"`
			Next  *string   `json:"next_cursor"`
		}
		r.decode(t, &page)
		pages++
		for _, b := range page.Items {
			require.False(t, got[b.ID], "no bot twice")
			got[b.ID] = true
			require.Nil(t, b.LatestVersion, "lists leave latest_version out")
			require.Equal(t, 2, *b.ActiveVersion)
		}
		if page.Next == nil {
			break
		}
		cursor = *page.Next
	}
	require.Equal(t, want, got)
	require.Equal(t, 3, pages)
	require.Len(t, listBotIDs(t, api, key, "/api/v1/bots?owner="+other.ID.String()), 5, "owner by id")
	require.Len(t, listBotIDs(t, api, key, "/api/v1/bots?mine=true"), 1)
	require.Empty(t, listBotIDs(t, api, key, "/api/v1/bots?owner=nobody@example.test"))

	for _, q := range []string{"limit=0", "limit=201", "cursor=!!!", "mine=maybe", "sort=size", "kind=ftp", "mine=true&owner=x"} {
		r := api.send(apiReq{method: "GET", path: "/api/v1/bots?" + q, key: key, off: true})
		require.Equal(t, s400, r.StatusCode, q)
		p := r.problem(t)
		require.Equal(t, web.ProblemType(web.ProblemInvalidQuery), p.Type, q)
		require.Len(t, p.Errors, 1, q)
	}
	r := api.send(apiReq{method: "GET", path: "/api/v1/bots?cursor=bm9wZQ", key: key})
	require.Equal(t, s400, r.StatusCode)
	require.Equal(t, "cursor", r.problem(t).Errors[0].Field)
}

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

func newBotForm(name, config string) url.Values {
	return url.Values{"name": {name}, "description": {"d"}, "kind": {"http"}, "status": {"active"}, "tags": {"ops, Nightly"}, "config": {config}}
}

func createBotViaPage(t *testing.T, c *testutil.Client, name string) string {
	t.Helper()
	c.Get("/bots/new")
	r := c.Post("/bots", newBotForm(name, `{"url":"https://example.test/a"}`))
	require.Equal(t, http.StatusSeeOther, r.StatusCode, r.Body)
	loc := r.Header.Get("Location")
	require.True(t, strings.HasPrefix(loc, "/bots/"))
	return loc
}

func TestCreateBotPage(t *testing.T) {
	t.Parallel()
	a, c, u := signedIn(t, models.RoleUser)
	d := c.Get("/bots/new").Doc(t)
	cfg := d.Find(`[data-testid="input-config"]`).Text()
	require.Contains(t, cfg, `"url"`, "a starter config for the kind")

	// Errors are shown next to the field or the JSON line; nothing is created.
	r := c.Post("/bots", newBotForm("", "{\n  \"url\": 42,\n  \"bogus\": true\n}"))
	require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
	d = r.Doc(t)
	require.NotEmpty(t, d.Find(`[data-testid="error-name"]`).Text())
	lines := d.Find(`[data-testid="config-error"]`)
	require.GreaterOrEqual(t, lines.Length(), 2)
	require.Contains(t, lines.Text(), "line 2")
	require.Contains(t, lines.Text(), "bogus")
	require.Zero(t, countRows(t, a, "bots", ""))

	loc := createBotViaPage(t, c, "Pinger")
	page := c.Get(loc)
	require.Contains(t, page.Doc(t).Find(`[data-testid="flash"]`).Text(), "version 1")
	require.Contains(t, page.Doc(t).Find(`[data-testid="bot-owner"]`).Text(), u.Name)
	require.Equal(t, "nightlyops", strings.Join(page.Doc(t).Find(`[data-testid="bot-tag"]`).Map(func(_ int, s *goquerySelection) string { return s.Text() }), ""))
}

func TestEditBotMakesVersionsAndHandlesConflicts(t *testing.T) {
	t.Parallel()
	_, c, _ := signedIn(t, models.RoleUser)
	loc := createBotViaPage(t, c, "Pinger")
	c.Get(loc + "/edit")

	edit := func(base, config, name string) *testutil.Response {
		f := newBotForm(name, config)
		f.Set("base", base)
		f.Set("changelog", "change")
		return c.Post(loc, f)
	}
	// Identical config and details: no version, and it says so.
	r := edit("1", `{ "url" : "https://example.test/a" }`, "Pinger")
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	require.Contains(t, c.Get(loc).Doc(t).Find(`[data-testid="flash"]`).Text(), "no version was made")

	// Details only: updated, no version.
	edit("1", `{"url":"https://example.test/a"}`, "Pinger 2")
	require.Contains(t, c.Get(loc).Doc(t).Find(`[data-testid="flash"]`).Text(), "Details updated")

	// A new config: version 2.
	r = edit("1", `{"url":"https://example.test/b"}`, "Pinger 2")
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	d := c.Get(loc).Doc(t)
	require.Contains(t, d.Find(`[data-testid="flash"]`).Text(), "Saved version 2")
	require.Contains(t, d.Find(`[data-testid="active-version"]`).Text(), "v2 of 2")

	// A second editor still on version 1: a clear conflict, nothing overwritten, text kept.
	r = edit("1", `{"url":"https://example.test/mine"}`, "Pinger 2")
	require.Equal(t, http.StatusConflict, r.StatusCode)
	d = r.Doc(t)
	require.Contains(t, d.Find(`[data-testid="conflict"]`).Text(), "version 2 was saved meanwhile")
	require.Equal(t, loc+"/diff?from=1&to=2", d.Find(`[data-testid="conflict-diff"]`).AttrOr("href", ""))
	require.Contains(t, d.Find(`[data-testid="input-config"]`).Text(), "/mine")
	require.Contains(t, c.Get(loc).Doc(t).Find(`[data-testid="active-version"]`).Text(), "v2 of 2")

	// Diff and roll back.
	diff := c.Get(loc + "/diff?from=1&to=2&mode=unified").Doc(t)
	require.Equal(t, "url", diff.Find(`[data-testid="diff-row"]`).AttrOr("data-path", ""))
	require.Equal(t, "unified", diff.Find(`[data-testid="line-diff"]`).AttrOr("data-mode", ""))
	r = c.Post(loc+"/versions/1/activate", nil)
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	d = c.Get(loc + "?tab=versions").Doc(t)
	require.Contains(t, d.Find(`[data-testid="flash"]`).Text(), "Version 1 is now active")
	require.Equal(t, "1", d.Find(`[data-testid="active-marker"]`).Closest(`[data-testid="version-row"]`).AttrOr("data-number", ""))
	require.Equal(t, 2, d.Find(`[data-testid="version-row"]`).Length())
}

func TestOthersCannotEditButAdminsCan(t *testing.T) {
	t.Parallel()
	a, owner, _ := signedIn(t, models.RoleUser)
	loc := createBotViaPage(t, owner, "Mine")
	other := testutil.CreateUserWithPassword(t, a.DB, models.RoleUser)
	oc := a.Client(t)
	oc.Login(other.Email, testutil.TestPassword)
	require.Equal(t, http.StatusOK, oc.Get(loc).StatusCode, "everyone reads")
	require.Zero(t, oc.Get(loc).Doc(t).Find(`[data-testid="edit-bot"]`).Length(), "no edit button")
	require.Equal(t, http.StatusForbidden, oc.Get(loc+"/edit").StatusCode)
	f := newBotForm("Stolen", `{"url":"https://evil.example"}`)
	f.Set("base", "1")
	require.Equal(t, http.StatusForbidden, oc.Post(loc, f).StatusCode)
	require.Equal(t, http.StatusForbidden, oc.Post(loc+"/archive", nil).StatusCode)

	admin := testutil.CreateUserWithPassword(t, a.DB, models.RoleAdmin)
	ac := a.Client(t)
	ac.Login(admin.Email, testutil.TestPassword)
	require.Equal(t, http.StatusOK, ac.Get(loc+"/edit").StatusCode)
}

func TestArchiveRestorePurgeAndExport(t *testing.T) {
	t.Parallel()
	a, c, _ := signedIn(t, models.RoleAdmin)
	loc := createBotViaPage(t, c, "Short-lived")

	exp := c.Get(loc + "/export")
	require.Equal(t, http.StatusOK, exp.StatusCode)
	require.Contains(t, exp.Header.Get("Content-Disposition"), `filename="short-lived.json"`)
	f, err := models.ParseBotFile([]byte(exp.Body))
	require.NoError(t, err, "an export parses as a bot file")
	require.Equal(t, "Short-lived", f.Name)
	require.Len(t, f.Versions, 1)
	require.Equal(t, models.BotFileFormat, f.Format)

	require.Equal(t, http.StatusSeeOther, c.Post(loc+"/purge", nil).StatusCode)
	require.Contains(t, c.Get(loc).Doc(t).Find(`[data-testid="flash"]`).Text(), "Only an archived bot can be purged")
	require.Equal(t, http.StatusSeeOther, c.Post(loc+"/archive", nil).StatusCode)
	require.Equal(t, 1, c.Get(loc).Doc(t).Find(`[data-testid="archived-badge"]`).Length())
	require.Zero(t, c.Get("/bots").Doc(t).Find(`[data-testid="bot-row"]`).Length(), "hidden from the list")
	require.Equal(t, 1, c.Get("/bots?archived=1").Doc(t).Find(`[data-testid="bot-row"]`).Length())
	require.Equal(t, http.StatusSeeOther, c.Post(loc+"/restore", nil).StatusCode)
	require.Equal(t, 1, c.Get("/bots").Doc(t).Find(`[data-testid="bot-row"]`).Length())
	c.Post(loc+"/archive", nil)
	require.Equal(t, http.StatusSeeOther, c.Post(loc+"/purge", nil).StatusCode)
	require.Equal(t, http.StatusNotFound, c.Get(loc).StatusCode)
	require.Positive(t, countRows(t, a, "audit_logs", "resource_id = ? AND action = ?", strings.TrimPrefix(loc, "/bots/"), "bot.purge"))

	// The export imports back as a new bot.
	owner := testutil.CreateUser(t, a.DB, models.RoleUser)
	res, b, err := models.ImportBot(bg, a.DB.Bun, models.SystemActor("test"), owner.ID, f, "short-lived.json")
	require.NoError(t, err)
	require.Equal(t, models.ImportCreated, res)
	var cfg map[string]any
	require.NoError(t, json.Unmarshal(f.Config, &cfg))
	require.Equal(t, "Short-lived", b.Name)
}

func TestBotListSearchFiltersAndPages(t *testing.T) {
	t.Parallel()
	a, c, u := signedIn(t, models.RoleViewer)
	other := testutil.CreateUser(t, a.DB, models.RoleUser)
	for i, name := range []string{"alpha pinger", "beta pinger", "gamma summariser"} {
		owner := other
		if i == 0 {
			owner = u
		}
		b := &models.Bot{OwnerID: owner.ID, Name: name, Kind: models.KindHTTP, Status: models.BotActive, Tags: []string{"t" + itoa(i)}}
		_, err := models.CreateBot(bg, a.DB.Bun, models.SystemActor("test"), b, json.RawMessage(`{}`), "")
		require.NoError(t, err)
	}
	names := func(path string) []string {
		t.Helper()
		return c.Get(path).Doc(t).Find(`[data-testid="bot-link"]`).Map(func(_ int, s *goquerySelection) string { return s.Text() })
	}
	require.Equal(t, []string{"alpha pinger", "beta pinger", "gamma summariser"}, names("/bots?sort=name"))
	require.Equal(t, []string{"alpha pinger", "beta pinger"}, names("/bots?sort=name&q=PING"))
	require.Equal(t, []string{"alpha pinger"}, names("/bots?sort=name&mine=1"))
	require.Equal(t, []string{"beta pinger", "gamma summariser"}, names("/bots?sort=name&owner="+url.QueryEscape(strings.ToUpper(other.Email))))
	require.Empty(t, names("/bots?owner=nobody@example.test"))
	require.Equal(t, []string{"beta pinger"}, names("/bots?tag=t1"))
	require.Contains(t, c.Get("/bots?q=zzz").Doc(t).Find(`[data-testid="empty-state"]`).Text(), "No bots match")
	require.Equal(t, "3 bots", c.Get("/bots").Doc(t).Find(`[data-testid="bot-count"]`).Text())
	require.Zero(t, c.Get("/bots").Doc(t).Find(`[data-testid="new-bot"]`).Length(), "viewers cannot create")

	// Keyset pages: a next link carries the filters; a bad cursor falls back to page one.
	d := c.Get("/bots?sort=name&q=pinger").Doc(t)
	require.Zero(t, d.Find(`[data-testid="next-page"]`).Length(), "one page")
	r := c.Get("/bots?after=garbage")
	require.Equal(t, http.StatusOK, r.StatusCode)
	require.Equal(t, 3, r.Doc(t).Find(`[data-testid="bot-row"]`).Length())
}

func TestBotListLiveSearchGetsAFragment(t *testing.T) {
	t.Parallel()
	_, c, _ := signedIn(t, models.RoleUser)
	createBotViaPage(t, c, "Pinger")
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/bots?q=ping", nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("HX-Target", "bot-results")
	r := c.Do(req)
	require.Equal(t, http.StatusOK, r.StatusCode)
	require.NotContains(t, r.Body, "<html", "only the results")
	d := r.Doc(t)
	require.Equal(t, 1, d.Find(`#bot-results [data-testid="bot-row"]`).Length())
}

package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

func TestUsersPageListsAndSearches(t *testing.T) {
	t.Parallel()
	a, c, admin := signedIn(t, models.RoleAdmin)
	u := testutil.CreateUser(t, a.DB, models.RoleViewer)
	d := c.Get("/admin/users").Doc(t)
	require.Equal(t, 2, d.Find(`[data-testid="user-row"]`).Length())

	d = c.Get("/admin/users?q=" + url.QueryEscape(u.Email[:6])).Doc(t)
	rows := d.Find(`[data-testid="user-row"]`)
	require.Equal(t, 1, rows.Length())
	require.Equal(t, u.Email, rows.AttrOr("data-email", ""))

	d = c.Get("/admin/users?q=nobody-matches-this").Doc(t)
	require.Equal(t, 1, d.Find(`[data-testid="users-empty"]`).Length(), "an empty state, not an empty table")

	// LIKE wildcards in the search are literal.
	d = c.Get("/admin/users?q=%25").Doc(t)
	require.Equal(t, 1, d.Find(`[data-testid="users-empty"]`).Length())
	_ = admin
}

func TestUsersPageSearchAsYouTypeWithHTMX(t *testing.T) {
	t.Parallel()
	_, c, _ := signedIn(t, models.RoleAdmin)
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/admin/users?q=x", nil)
	req.Header.Set("HX-Request", "true")
	r := c.Do(req)
	require.Equal(t, http.StatusOK, r.StatusCode)
	require.Equal(t, 1, r.Doc(t).Find(`#users-table`).Length(), "the page htmx selects the table from")
}

func TestUsersPageChangesRolesAndProtectsTheLastAdmin(t *testing.T) {
	t.Parallel()
	a, c, admin := signedIn(t, models.RoleAdmin)
	u := testutil.CreateUserWithPassword(t, a.DB, models.RoleViewer)

	r := c.Post("/admin/users/"+u.ID.String()+"/role", url.Values{"role": {"user"}})
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	got, err := models.UserByID(bg, a.DB.Bun, u.ID)
	require.NoError(t, err)
	require.Equal(t, models.RoleUser, got.Role)
	require.Contains(t, c.Get("/admin/users").Doc(t).Find(`[data-testid="flash"]`).Text(), "is now user")
	require.Equal(t, 1, countRows(t, a, "audit_logs", "action = ? AND resource_id = ?", "user.role.change", u.ID.String()))

	r = c.Post("/admin/users/"+u.ID.String()+"/role", url.Values{"role": {"superuser"}})
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	require.Contains(t, c.Get("/admin/users").Doc(t).Find(`[data-testid="flash"]`).Text(), "Must be one of")

	// The only admin can neither demote nor disable themself.
	c.Post("/admin/users/"+admin.ID.String()+"/role", url.Values{"role": {"viewer"}})
	require.Contains(t, c.Get("/admin/users").Doc(t).Find(`[data-testid="flash"]`).Text(), "last active admin")
	c.Post("/admin/users/"+admin.ID.String()+"/disable", nil)
	require.Contains(t, c.Get("/admin/users").Doc(t).Find(`[data-testid="flash"]`).Text(), "last active admin")
	got, err = models.UserByID(bg, a.DB.Bun, admin.ID)
	require.NoError(t, err)
	require.Equal(t, models.RoleAdmin, got.Role)
	require.True(t, got.IsActive)

	// Unknown ids are 404.
	require.Equal(t, http.StatusNotFound, c.Post("/admin/users/not-a-uuid/disable", nil).StatusCode)
	require.Equal(t, http.StatusNotFound, c.Post("/admin/users/"+models.NewID().String()+"/disable", nil).StatusCode)
}

func TestUsersPageEnableAndEndSessions(t *testing.T) {
	t.Parallel()
	a, c, _ := signedIn(t, models.RoleAdmin)
	u := testutil.CreateUserWithPassword(t, a.DB, models.RoleUser)
	uc := a.Client(t)
	uc.Login(u.Email, testutil.TestPassword)

	require.Equal(t, http.StatusSeeOther, c.Post("/admin/users/"+u.ID.String()+"/sessions/end", nil).StatusCode)
	require.Equal(t, http.StatusSeeOther, uc.Get("/").StatusCode, "ended by the admin")
	require.Equal(t, 1, countRows(t, a, "audit_logs", "action = ? AND resource_id = ?", "session.end", u.ID.String()))

	c.Post("/admin/users/"+u.ID.String()+"/disable", nil)
	uc2 := a.Client(t)
	uc2.Get("/login")
	require.Equal(t, http.StatusForbidden, uc2.Post("/login", url.Values{"email": {u.Email}, "password": {testutil.TestPassword}}).StatusCode)
	require.Equal(t, http.StatusSeeOther, c.Post("/admin/users/"+u.ID.String()+"/enable", nil).StatusCode)
	uc2.Login(u.Email, testutil.TestPassword)
}

func TestForbiddenAttemptsAreAudited(t *testing.T) {
	t.Parallel()
	a, c, u := signedIn(t, models.RoleViewer)
	require.Equal(t, http.StatusForbidden, c.Get("/admin/users").StatusCode)
	require.Equal(t, http.StatusForbidden, c.Post("/admin/users/"+u.ID.String()+"/disable", nil).StatusCode)
	require.Equal(t, 2, countRows(t, a, "audit_logs", "action = ? AND actor_user_id = ?", "access.denied", u.ID))
	require.Equal(t, 1, countRows(t, a, "audit_logs", "action = ? AND resource_id = ?", "access.denied", "POST /admin/users/"+u.ID.String()+"/disable"))
}

// TestUsersPagePagesOn: past 100 users the page links to the older ones
// (keyset pages, the search kept); every user is reachable exactly once.
func TestUsersPagePagesOn(t *testing.T) {
	t.Parallel()
	a, c, _ := signedIn(t, models.RoleAdmin)
	_, err := models.Seed(t.Context(), a.DB, models.SeedOptions{Users: 120})
	require.NoError(t, err)
	var total int
	require.NoError(t, a.DB.Bun.NewRaw("SELECT count(*) FROM users").Scan(t.Context(), &total))
	require.Greater(t, total, 100)

	seen := map[string]bool{}
	path := "/admin/users"
	for pages := 0; path != ""; pages++ {
		require.Less(t, pages, 5, "paging ends")
		d := c.Get(path).Doc(t)
		rows := d.Find(`[data-testid="user-row"]`)
		require.LessOrEqual(t, rows.Length(), 100)
		rows.Each(func(_ int, s *goquery.Selection) {
			email := s.AttrOr("data-email", "")
			require.False(t, seen[email], "%s shown twice", email)
			seen[email] = true
		})
		require.Equal(t, pages > 0, d.Find(`[data-testid="first-page"]`).Length() == 1, "a way back from page %d", pages)
		path = d.Find(`[data-testid="next-page"]`).AttrOr("href", "")
	}
	require.Len(t, seen, total)

	// The search is kept on the next page; a broken cursor starts over.
	d := c.Get("/admin/users?q=example").Doc(t)
	next := d.Find(`[data-testid="next-page"]`).AttrOr("href", "")
	require.Contains(t, next, "q=example")
	r := c.Get("/admin/users?after=not-a-cursor")
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
}

package views_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/views"
)

func render(t *testing.T, p views.Page) *goquery.Document {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, views.Home(p, views.HomeData{Database: "SQLite"}).Render(context.Background(), &buf))
	d, err := goquery.NewDocumentFromReader(&buf)
	require.NoError(t, err)
	return d
}

func TestLayoutShowsFlashesEscaped(t *testing.T) {
	t.Parallel()
	d := render(t, views.Page{Title: "T", Flashes: []views.Flash{
		{Kind: views.FlashSuccess, Message: "Saved."},
		{Kind: views.FlashError, Message: `<script>alert("x")</script>`},
	}})
	flashes := d.Find(`[data-testid="flash"]`)
	require.Equal(t, 2, flashes.Length())
	require.Equal(t, "Saved.", flashes.Eq(0).Text())
	require.Contains(t, flashes.Eq(0).AttrOr("class", ""), "bg-green-50")
	require.Equal(t, `<script>alert("x")</script>`, flashes.Eq(1).Text(), "shown as text")
	require.Zero(t, d.Find(`[data-testid="flashes"] script`).Length(), "never as markup")
}

func TestLayoutNavigationAndTitle(t *testing.T) {
	t.Parallel()
	admin := &models.User{Email: "a@b.test", Username: "a", Role: models.RoleAdmin, IsActive: true}
	d := render(t, views.Page{Title: "Dashboard", Active: "home", Version: "v9", User: admin, CSRF: "tok"})
	require.Equal(t, "Dashboard · Codex-32", d.Find("title").Text())
	active := d.Find(`nav a[aria-current="page"]`)
	require.Equal(t, "Dashboard", active.Text())
	// Pages that do not exist yet would be shown disabled; none is left.
	require.Zero(t, d.Find(`nav [aria-disabled="true"]`).Length())
	require.Equal(t, 1, d.Find(`nav a[href="/executions"]`).Length(), "Executions is a link")
	require.Equal(t, 1, d.Find(`nav a[href="/admin/users"]`).Length(), "admins see Users")
	require.Equal(t, `{"X-CSRF-Token":"tok"}`, d.Find("body").AttrOr("hx-headers", ""), "htmx sends the CSRF token")
	require.Equal(t, "tok", d.Find(`form[action="/logout"] input[name="_csrf"]`).AttrOr("value", ""))

	require.Equal(t, "v9", d.Find(`[data-testid="version"]`).Text())
	viewer := &models.User{Email: "v@b.test", Username: "v", Role: models.RoleViewer, IsActive: true}
	d = render(t, views.Page{Title: "Dashboard", User: viewer})
	require.Zero(t, d.Find(`nav a[href="/admin/users"]`).Length(), "viewers do not")
	require.Zero(t, render(t, views.Page{}).Find("nav a, nav span").Length(), "signed out: no navigation")
	require.True(t, strings.HasPrefix(d.Find(`link[rel="stylesheet"]`).AttrOr("href", ""), "/static/css/app.css?v="))
}

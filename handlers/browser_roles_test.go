package handlers_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

// browserCount counts the elements matching a CSS selector on the page.
func browserCount(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
	require.NoError(t, err)
	return n
}

func browserText(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q)?.textContent.trim() ?? "(no element)"`, sel)))
	require.NoError(t, err)
	return s
}

func browserValue(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q)?.value ?? "(no element)"`, sel)))
	require.NoError(t, err)
	return s
}

// TestBrowserAdminUsers: an admin manages accounts at /admin/users — every
// user listed with role and status, a role changed, an account disabled
// and enabled again, a search — at desktop and phone width.
func TestBrowserAdminUsers(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	admin := testutil.CreateUserWithPassword(t, a.DB, models.RoleAdmin)
	viewer := testutil.CreateUser(t, a.DB, models.RoleViewer)
	other := testutil.CreateUser(t, a.DB, models.RoleUser)
	base := a.Serve(t)
	ctx := testutil.Browser(t)
	browserSignIn(t, ctx, base, admin)

	row := func(u *models.User, sel string) string {
		return fmt.Sprintf(`[data-testid="user-row"][data-email=%q] %s`, u.Email, sel)
	}
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/admin/users"),
		chromedp.WaitVisible(css(`[data-testid="users-table"]`)),
	))
	require.Equal(t, "Users", browserText(t, ctx, `[data-testid="page-title"]`))
	require.Equal(t, 3, browserCount(t, ctx, `[data-testid="user-row"]`))
	for _, u := range []*models.User{admin, viewer, other} {
		require.Equal(t, string(u.Role), browserValue(t, ctx, row(u, `[data-testid="user-role"]`)), u.Email)
	}
	testutil.Screenshot(t, ctx, "1-users")

	// The viewer becomes a user.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(css(row(viewer, `[data-testid="user-role"]`)), string(models.RoleUser)),
		chromedp.Click(css(row(viewer, `[data-testid="user-role-save"]`))),
		chromedp.WaitVisible(css(`[data-testid="flash"]`)),
	))
	require.Equal(t, string(models.RoleUser), browserValue(t, ctx, row(viewer, `[data-testid="user-role"]`)))
	got, err := models.UserByID(t.Context(), a.DB.Bun, viewer.ID)
	require.NoError(t, err)
	require.Equal(t, models.RoleUser, got.Role)
	testutil.Screenshot(t, ctx, "2-role-changed")

	// Disabled, then enabled again.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(row(other, `[data-testid="user-disable"]`))),
		chromedp.WaitVisible(css(row(other, `[data-testid="user-disabled"]`))),
	))
	testutil.Screenshot(t, ctx, "3-disabled")
	got, err = models.UserByID(t.Context(), a.DB.Bun, other.ID)
	require.NoError(t, err)
	require.False(t, got.IsActive)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(row(other, `[data-testid="user-enable"]`))),
		chromedp.WaitVisible(css(row(other, `[data-testid="user-disable"]`))),
	))
	require.Zero(t, browserCount(t, ctx, row(other, `[data-testid="user-disabled"]`)))

	// A search narrows the list.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/admin/users?q="+other.Email),
		chromedp.WaitVisible(css(`[data-testid="users-table"]`)),
	))
	require.Equal(t, 1, browserCount(t, ctx, `[data-testid="user-row"]`))
	require.Equal(t, 1, browserCount(t, ctx, row(other, "")))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/admin/users?q=nobody-at-all"),
		chromedp.WaitVisible(css(`[data-testid="users-empty"]`)),
	))
	testutil.Screenshot(t, ctx, "4-no-match")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/admin/users"),
		chromedp.WaitVisible(css(`[data-testid="users-table"]`)),
		chromedp.EmulateViewport(390, 844),
	))
	testutil.Screenshot(t, ctx, "5-phone")
}

// TestBrowserViewerReadsWithoutEditControls: a viewer signs in and reads
// the bots list and a bot's page, with no control to create, edit,
// archive, run or add triggers; the create page itself is a 403.
func TestBrowserViewerReadsWithoutEditControls(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	viewer := testutil.CreateUserWithPassword(t, a.DB, models.RoleViewer)
	owner := testutil.CreateUser(t, a.DB, models.RoleUser)
	var bots []*models.Bot
	for i, name := range []string{"Weather fetcher", "Invoice summariser"} {
		b := &models.Bot{OwnerID: owner.ID, Name: name, Description: "A bot the viewer may read", Kind: models.KindHTTP,
			Status: models.BotActive, Tags: []string{"ops"}}
		_, err := models.CreateBot(t.Context(), a.DB.Bun, models.SystemActor("test"), b, fmt.Appendf(nil, `{"url":"https://example.test/%d"}`, i), "first")
		require.NoError(t, err)
		bots = append(bots, b)
	}
	base := a.Serve(t)
	ctx := testutil.Browser(t)
	browserSignIn(t, ctx, base, viewer)
	require.Equal(t, "viewer", browserText(t, ctx, `[data-testid="nav-role"]`))

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/bots"),
		chromedp.WaitVisible(css(`[data-testid="bots-table"]`)),
	))
	require.Equal(t, 2, browserCount(t, ctx, `[data-testid="bot-row"]`))
	require.Zero(t, browserCount(t, ctx, `[data-testid="new-bot"]`), "no New bot button")
	testutil.Screenshot(t, ctx, "1-bots")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(fmt.Sprintf(`a[data-testid="bot-link"][href="/bots/%s"]`, bots[0].ID))),
		chromedp.WaitVisible(css(`[data-testid="bot-owner"]`)),
	))
	require.Contains(t, browserText(t, ctx, `[data-testid="page-title"]`), "Weather fetcher")
	for _, sel := range []string{"edit-bot", "archive-bot", "restore-bot", "purge-bot", "activate-version"} {
		require.Zero(t, browserCount(t, ctx, fmt.Sprintf(`[data-testid=%q]`, sel)), "no %s control", sel)
	}
	require.Equal(t, 1, browserCount(t, ctx, `button[data-testid="run-bot"][disabled]`), "Run is shown disabled")
	require.Contains(t, browserText(t, ctx, `[data-testid="run-blocked"]`), "Your role does not allow running this bot.")
	require.Equal(t, 1, browserCount(t, ctx, `[data-testid="export-bot"]`), "reading includes exporting")
	testutil.Screenshot(t, ctx, "2-bot-page")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="tab-triggers"]`)),
		chromedp.WaitVisible(css(`[data-testid="schedules"]`)),
	))
	require.Equal(t, 1, browserCount(t, ctx, `[data-testid="webhooks"]`))
	require.Zero(t, browserCount(t, ctx, `[data-testid="webhook-form"]`), "no form to add a webhook")
	require.Zero(t, browserCount(t, ctx, `[data-testid="schedule-form"]`), "no form to add a schedule")
	require.Zero(t, browserCount(t, ctx, `[data-testid="webhooks"] form, [data-testid="schedules"] form`), "no form at all on the tab")
	testutil.Screenshot(t, ctx, "3-triggers")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/bots/new"),
		chromedp.WaitVisible(css(`[data-testid="error-page"]`)),
	))
	require.Equal(t, "403", browserText(t, ctx, `[data-testid="error-status"]`))
	testutil.Screenshot(t, ctx, "4-new-bot-refused")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/bots/"+bots[1].ID.String()),
		chromedp.WaitVisible(css(`[data-testid="bot-owner"]`)),
		chromedp.EmulateViewport(390, 844),
	))
	testutil.Screenshot(t, ctx, "5-phone")
}

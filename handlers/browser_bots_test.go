package handlers_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

// TestBrowserBotVersionJourney: create a bot → edit its config → version 2
// → diff v1/v2 → roll back to v1 → the audit page shows all of it with
// diffs → export CSV.
func TestBrowserBotVersionJourney(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	admin := testutil.CreateUserWithPassword(t, a.DB, models.RoleAdmin)
	base := a.Serve(t)
	ctx := testutil.Browser(t)

	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
		require.NoError(t, err, sel)
		return s
	}
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.SendKeys(css(`[data-testid="input-email"]`), admin.Email),
		chromedp.SendKeys(css(`[data-testid="input-password"]`), testutil.TestPassword),
		chromedp.Click(css(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="nav-profile"]`)), // signed in (the login page has a title too)
		chromedp.Navigate(base+"/bots"),
		chromedp.WaitVisible(css(`[data-testid="empty-state"]`)),
	))
	testutil.Screenshot(t, ctx, "1-bots-empty")

	// Create a bot; a bad config is refused with the JSON line.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="new-bot"]`)),
		chromedp.WaitVisible(css(`[data-testid="bot-form"]`)),
		chromedp.SendKeys(css(`[data-testid="input-name"]`), "<script>alert(1)</script> checker"),
		chromedp.SendKeys(css(`[data-testid="input-tags"]`), "ops, javascript:alert(1)"),
		chromedp.SetValue(css(`[data-testid="input-config"]`), "{\n  \"method\": \"GET\",\n  \"url\": 42\n}"),
		chromedp.Click(css(`[data-testid="bot-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="config-errors"]`)),
	))
	require.Contains(t, text(`[data-testid="config-error"]`), "line 3")
	testutil.Screenshot(t, ctx, "2-config-error")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(css(`[data-testid="input-config"]`), "{\n  \"method\": \"GET\",\n  \"url\": \"https://status.example.test/health\"\n}"),
		chromedp.Click(css(`[data-testid="bot-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="active-config"]`)),
	))
	require.Contains(t, text(`[data-testid="flash"]`), "version 1")
	title := text(`[data-testid="page-title"]`)
	require.Contains(t, title, "<script>alert(1)</script> checker", "the name is shown as text")
	alerted, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelectorAll('script:not([src])').length > 0`))
	require.NoError(t, err)
	require.False(t, alerted, "no inline script made it into the page")
	testutil.Screenshot(t, ctx, "3-bot-page")

	// Edit the config: version 2.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="edit-bot"]`)),
		chromedp.WaitVisible(css(`[data-testid="bot-form"]`)),
		chromedp.SetValue(css(`[data-testid="input-config"]`), "{\n  \"method\": \"GET\",\n  \"url\": \"https://status.example.test/v2/health\",\n  \"timeout_seconds\": 5\n}"),
		chromedp.SendKeys(css(`[data-testid="input-changelog"]`), "Use the v2 endpoint"),
		chromedp.Click(css(`[data-testid="bot-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="active-config"]`)),
	))
	require.Contains(t, text(`[data-testid="flash"]`), "Saved version 2")
	require.Contains(t, text(`[data-testid="active-version"]`), "v2 of 2")

	// Versions tab (htmx) and the diff of v1 → v2.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="tab-versions"]`)),
		chromedp.WaitVisible(css(`[data-testid="versions-table"]`)),
	))
	testutil.Screenshot(t, ctx, "4-versions")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="compare-versions"]`)),
		chromedp.WaitVisible(css(`[data-testid="line-diff"]`)),
	))
	diff := text(`[data-testid="json-diff"]`)
	require.Contains(t, diff, "url")
	require.Contains(t, diff, "timeout_seconds")
	testutil.Screenshot(t, ctx, "5-diff")

	// Roll back to v1.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(strings.Replace(mustLocation(t, ctx), "/diff", "/versions/1", 1)),
		chromedp.WaitVisible(css(`[data-testid="activate-version"]`)),
		chromedp.Click(css(`[data-testid="activate-version"]`)),
		chromedp.WaitVisible(css(`[data-testid="versions-table"]`)),
	))
	require.Contains(t, text(`[data-testid="flash"]`), "Version 1 is now active")
	require.Contains(t, text(`[data-testid="active-version"]`), "v1 of 2")

	// The audit page shows it all, with diffs.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/audit?action=bot."),
		chromedp.WaitVisible(css(`[data-testid="audit-table"]`)),
	))
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid="audit-row"]')].map(r => r.dataset.action)`))
	require.NoError(t, err)
	require.Equal(t, []string{"bot.version.activate", "bot.version.create", "bot.create"}, rows)
	testutil.Screenshot(t, ctx, "6-audit")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="audit-row"][data-action="bot.version.create"] [data-testid="audit-link"]`)),
		chromedp.WaitVisible(css(`[data-testid="json-diff"]`)),
	))
	require.Contains(t, text(`[data-testid="json-diff"]`), "version")
	testutil.Screenshot(t, ctx, "7-audit-entry")

	// Export CSV (fetched from the page's own link, with the session cookie).
	csv, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch('/audit/export.csv?action=bot.').then(r => r.text())`, awaitPromise))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	require.Equal(t, "seq,created_at,actor_user_id,actor_api_key_id,actor,action,resource_type,resource_id,bot_id,old_values,new_values,ip,user_agent,prev_hash,hash", lines[0])
	require.Contains(t, csv, "bot.version.activate")
}

func awaitPromise(p *runtime.EvaluateParams) { yes := true; p.AwaitPromise = &yes }

func mustLocation(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	return loc
}

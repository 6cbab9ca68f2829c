package handlers_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

// TestBrowserTriggersJourney: the Triggers tab → a schedule typed with its
// live preview → a signed webhook shown once → a new URL (confirmed) →
// the old URL is gone.
func TestBrowserTriggersJourney(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	u := testutil.CreateUserWithPassword(t, a.DB, models.RoleUser)
	b := &models.Bot{OwnerID: u.ID, Name: "nightly report", Kind: models.KindHTTP, Status: models.BotActive}
	_, err := models.CreateBot(bg, a.DB.Bun, models.SystemActor("test"), b, json.RawMessage(`{"url":"https://example.test/report"}`), "v1")
	require.NoError(t, err)
	base := a.Serve(t)
	ctx := testutil.Browser(t)
	// Accept the confirm dialogs (hx-confirm).
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			go func() {
				_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			}()
		}
	}))
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
		require.NoError(t, err, sel)
		return s
	}
	value := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Value(css(sel)))
		require.NoError(t, err, sel)
		return s
	}

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.SendKeys(css(`[data-testid="input-email"]`), u.Email),
		chromedp.SendKeys(css(`[data-testid="input-password"]`), testutil.TestPassword),
		chromedp.Click(css(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="nav-profile"]`)),
		chromedp.Navigate(base+"/bots/"+b.ID.String()),
		chromedp.Click(css(`[data-testid="tab-triggers"]`)),
		chromedp.WaitVisible(css(`[data-testid="schedule-form"]`)),
	))

	// Typing an expression previews its next runs; a bad one says why.
	form := `form[data-testid="schedule-form"] `
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(css(form+`[data-testid="input-cron_expr"]`), "30 2 * *"),
		chromedp.WaitVisible(css(form+`[data-testid="preview-problem"]`)),
	))
	require.Contains(t, text(form+`[data-testid="preview-problem"]`), "exactly 5 fields")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(css(form+`[data-testid="input-time_zone"]`), "Europe/Oslo"),
		chromedp.SendKeys(css(form+`[data-testid="input-cron_expr"]`), " *"),
		chromedp.WaitVisible(css(form+`[data-testid="preview-runs"]`)),
	))
	require.Contains(t, text(form+`[data-testid="preview-runs"]`), "02:30 CE")
	testutil.Screenshot(t, ctx, "1-schedule-preview")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="schedule-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="schedule-row"]`)),
	))
	require.Contains(t, text(`[data-testid="flash"]`), "Schedule added")
	runs, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="schedule-next-run"]').length`))
	require.NoError(t, err)
	require.Equal(t, 3, runs)

	// A signed webhook: its URL and secret are shown once.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(css(`form[data-testid="webhook-form"] [data-testid="input-description"]`), "CI"),
		chromedp.Click(css(`[data-testid="webhook-signed"]`)),
		chromedp.Click(css(`[data-testid="webhook-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="shown-url"]`)),
	))
	first := value(`[data-testid="shown-url"]`)
	require.True(t, strings.HasPrefix(first, base+"/hooks/c32wh_"), first)
	require.True(t, strings.HasPrefix(value(`[data-testid="shown-signing-secret"]`), "whsec_"))
	testutil.Screenshot(t, ctx, "2-webhook-created")

	// New URL (htmx, after the confirm): the tab shows the new one. The
	// first one's box goes first, so waiting sees the swapped-in tab.
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="shown-secrets"]').remove() || true`))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="webhook-rotate"]`)),
		chromedp.WaitVisible(css(`[data-testid="shown-url"]`)),
	))
	second := value(`[data-testid="shown-url"]`)
	require.NotEqual(t, first, second)
	testutil.Screenshot(t, ctx, "3-webhook-rotated")
	old, err := models.WebhookByToken(context.Background(), a.DB.Bun, strings.TrimPrefix(first, base+"/hooks/"))
	require.ErrorIs(t, err, models.ErrNotFound, "the old URL is gone: %v", old)
}

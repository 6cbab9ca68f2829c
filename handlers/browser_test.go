package handlers_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
)

func css(s string) chromedp.CSS { return chromedp.CSS(s) }

// TestBrowserFirstRunJourney drives headless Chromium through the first
// run: set up the first admin → sign out → sign in → create an API key and
// see it once → sign out. Along the way it checks that Tailwind's CSS and
// htmx really loaded and that the CSP did not block them.
func TestBrowserFirstRunJourney(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t, testutil.FreshInstance())
	base := a.Serve(t)
	ctx := testutil.Browser(t)

	// Every page leads to /setup while no user exists.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(css(`[data-testid="setup-form"]`)),
	))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.Equal(t, base+"/setup", loc)

	// Tailwind: the header is bg-slate-900; unstyled HTML would be transparent.
	headerBG, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`getComputedStyle(document.querySelector('[data-testid="header"]')).backgroundColor`))
	require.NoError(t, err)
	require.Equal(t, "rgb(15, 23, 42)", headerBG, "Tailwind's bg-slate-900 applied")
	// htmx: loaded from our own server (allowed by the CSP), version 2.x, locked down.
	htmxVersion, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.htmx ? window.htmx.version : ""`))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(htmxVersion, "2."), "window.htmx is 2.x, got %q", htmxVersion)
	allowEval, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`htmx.config.allowEval`))
	require.NoError(t, err)
	require.False(t, allowEval, "htmx config from the meta tag applied")
	testutil.Screenshot(t, ctx, "1-setup")

	// Create the first admin.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(css(`[data-testid="input-email"]`), "ada@example.test"),
		chromedp.SendKeys(css(`[data-testid="input-name"]`), "Ada Lovelace"),
		chromedp.SendKeys(css(`[data-testid="input-password"]`), "analytical engine 1843"),
		chromedp.Click(css(`[data-testid="setup-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="empty-state"]`)),
	))
	flash, err := chromedp.Run(ctx, chromedp.Text(css(`[data-testid="flash"]`)))
	require.NoError(t, err)
	require.Contains(t, flash, "Welcome, Ada Lovelace")
	role, err := chromedp.Run(ctx, chromedp.Text(css(`[data-testid="nav-role"]`)))
	require.NoError(t, err)
	require.Equal(t, "admin", role)
	testutil.Screenshot(t, ctx, "2-dashboard")

	// Sign out, then /setup is gone for good.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="sign-out"]`)),
		chromedp.WaitVisible(css(`[data-testid="login-form"]`)),
		chromedp.Navigate(base+"/setup"),
		chromedp.WaitVisible(css(`[data-testid="error-status"]`)),
	))
	status, err := chromedp.Run(ctx, chromedp.Text(css(`[data-testid="error-status"]`)))
	require.NoError(t, err)
	require.Equal(t, "404", status)

	// A wrong password is refused with a clear message.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(css(`[data-testid="login-form"]`)),
		chromedp.SendKeys(css(`[data-testid="input-email"]`), "ada@example.test"),
		chromedp.SendKeys(css(`[data-testid="input-password"]`), "not the password"),
		chromedp.Click(css(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="form-error"]`)),
	))
	msg, err := chromedp.Run(ctx, chromedp.Text(css(`[data-testid="form-error"]`)))
	require.NoError(t, err)
	require.Equal(t, "Incorrect email or password.", msg)
	testutil.Screenshot(t, ctx, "3-login-failed")

	// Sign in.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(css(`[data-testid="input-password"]`), "analytical engine 1843"),
		chromedp.Click(css(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="empty-state"]`)),
	))

	// Create an API key: it is shown once.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="nav-api-keys"]`)),
		chromedp.WaitVisible(css(`[data-testid="apikeys-empty"]`)),
		chromedp.SendKeys(css(`[data-testid="input-name"]`), "deploy pipeline"),
		chromedp.Click(css(`[data-testid="scope-execute"]`)),
		chromedp.Click(css(`[data-testid="apikey-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="new-key"]`)),
	))
	key, err := chromedp.Run(ctx, chromedp.Value(css(`[data-testid="new-key-value"]`)))
	require.NoError(t, err)
	require.Regexp(t, `^c32_[a-z2-7]{38}$`, key)
	testutil.Screenshot(t, ctx, "4-api-key-created")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/settings/api-keys"),
		chromedp.WaitVisible(css(`[data-testid="apikeys-table"]`)),
	))
	page, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	require.NoError(t, err)
	require.NotContains(t, page, key, "the key is never shown again")
	require.Contains(t, page, key[:12], "its display prefix is")
	require.Contains(t, page, "deploy pipeline")
	testutil.Screenshot(t, ctx, "5-api-keys")

	// Sign out.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="sign-out"]`)),
		chromedp.WaitVisible(css(`[data-testid="login-form"]`)),
	))
	flash, err = chromedp.Run(ctx, chromedp.Text(css(`[data-testid="flash"]`)))
	require.NoError(t, err)
	require.Contains(t, flash, "signed out")
	testutil.Screenshot(t, ctx, "6-signed-out")
}

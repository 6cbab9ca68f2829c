package handlers_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
)

// TestBrowserHomeLoadsCSSAndHTMX loads the dashboard in headless Chromium and
// checks that Tailwind's CSS really applied and htmx really loaded.
func TestBrowserHomeLoadsCSSAndHTMX(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	base := a.Serve(t)
	ctx := testutil.Browser(t)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="empty-state"]`)),
	))

	// Tailwind: the header is bg-slate-900 and the brand mark is bg-brand-500;
	// unstyled HTML would be transparent.
	headerBG, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`getComputedStyle(document.querySelector('[data-testid="header"]')).backgroundColor`))
	require.NoError(t, err)
	require.Equal(t, "rgb(15, 23, 42)", headerBG, "Tailwind's bg-slate-900 applied")
	display, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`getComputedStyle(document.querySelector('[data-testid="empty-state"]')).display`))
	require.NoError(t, err)
	require.Equal(t, "flex", display, "Tailwind's flex utility applied")

	// htmx: loaded from our own server, version 2.x.
	htmxVersion, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.htmx ? window.htmx.version : ""`))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(htmxVersion, "2."), "window.htmx is 2.x, got %q", htmxVersion)

	title, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-testid="page-title"]`)))
	require.NoError(t, err)
	require.Equal(t, "Dashboard", title)
	testutil.Screenshot(t, ctx, "home")

	// The 404 page renders in the layout too.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/no/such/page"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="error-page"]`)),
	))
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-testid="error-status"]`)))
	require.NoError(t, err)
	require.Equal(t, "404", status)
	testutil.Screenshot(t, ctx, "not-found")
}

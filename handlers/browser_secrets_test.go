package handlers_test

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

// TestBrowserSecretScope: an admin sees the notice for a secret from
// before scopes, scopes it on its page, and the list says who may use it
// and where it goes; at phone width too.
func TestBrowserSecretScope(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	admin := testutil.CreateUserWithPassword(t, a.DB, models.RoleAdmin)
	_, err := models.PutSecret(context.Background(), a.DB.Bun, a.Secrets, models.SystemActor("test"), "LEGACY_TOKEN", "from before scopes", "legacy-value-123", nil)
	require.NoError(t, err)
	_, err = a.DB.Bun.NewUpdate().Table("secrets").Set("scoped_at = NULL").Where("name = ?", "LEGACY_TOKEN").Exec(context.Background())
	require.NoError(t, err)
	_, err = models.PutSecret(context.Background(), a.DB.Bun, a.Secrets, models.SystemActor("test"), "STRIPE_KEY", "payments", "sk-stripe-123456",
		&models.SecretScope{Grants: models.SecretGrants{Tags: []string{"payments"}, Owners: []uuid.UUID{admin.ID}}, Hosts: []string{"api.stripe.com"}})
	require.NoError(t, err)
	base := a.Serve(t)
	ctx := testutil.Browser(t)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.SendKeys(css(`[data-testid="input-email"]`), admin.Email),
		chromedp.SendKeys(css(`[data-testid="input-password"]`), testutil.TestPassword),
		chromedp.Click(css(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="secrets-need-scope"]`)), // the dashboard's notice
	))
	testutil.Screenshot(t, ctx, "1-dashboard-notice")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="secrets-need-scope"]`)),
		chromedp.WaitVisible(css(`[data-testid="secrets-table"]`)),
	))
	testutil.Screenshot(t, ctx, "2-secrets")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/admin/secrets/LEGACY_TOKEN"),
		chromedp.WaitVisible(css(`[data-testid="scope-form"]`)),
		chromedp.SendKeys(css(`[data-testid="input-grant_tags"]`), "ops"),
		chromedp.SendKeys(css(`[data-testid="input-hosts"]`), "https://bad.example/x"),
		chromedp.Click(css(`[data-testid="scope-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="error-hosts"]`)),
	))
	testutil.Screenshot(t, ctx, "3-scope-error")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(css(`[data-testid="input-hosts"]`), "internal.example.com\n*.hooks.example.com"),
		chromedp.Click(css(`[data-testid="scope-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="flash"]`)),
	))
	notices, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="secrets-need-scope"]').length`))
	require.NoError(t, err)
	require.Zero(t, notices, "scoped: the notice is gone")
	testutil.Screenshot(t, ctx, "4-scoped")
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)))
	testutil.Screenshot(t, ctx, "5-phone")
}

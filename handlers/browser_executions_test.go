package handlers_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

// scriptBot creates an active script bot of owner that busy-waits ms
// milliseconds and then returns {ok: true}.
func scriptBot(t *testing.T, a *testutil.App, owner *models.User, name string, ms, timeoutSeconds int) *models.Bot {
	t.Helper()
	src := `function main(input) {
  console.log("started with", JSON.stringify(input));
  const end = Date.now() + ` + itoa(ms) + `;
  while (Date.now() < end) {}
  console.log("done");
  return {ok: true, echo: input};
}`
	cfg, err := json.Marshal(map[string]any{"source": src, "timeout_seconds": timeoutSeconds})
	require.NoError(t, err)
	b := &models.Bot{OwnerID: owner.ID, Name: name, Kind: models.KindScript, Status: models.BotActive}
	_, err = models.CreateBot(bg, a.DB.Bun, models.Actor{UserID: &owner.ID, Label: owner.Email}, b, cfg, "busy-wait script")
	require.NoError(t, err)
	return b
}

// browserSignIn signs admin in through the login form.
func browserSignIn(t *testing.T, ctx context.Context, base string, u *models.User) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.SendKeys(css(`[data-testid="input-email"]`), u.Email),
		chromedp.SendKeys(css(`[data-testid="input-password"]`), testutil.TestPassword),
		chromedp.Click(css(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="nav-profile"]`)),
	))
}

// liveStatus is the execution page's status as the page shows it now.
func liveStatus(t *testing.T, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`(document.querySelector('[data-testid="exec-live"]') || {dataset: {}}).dataset.status || ""`))
	require.NoError(t, err)
	return s
}

// waitStatus polls the page until its status is one of want, and returns it.
func waitStatus(t *testing.T, ctx context.Context, within time.Duration, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(within)
	var seen []string
	for time.Now().Before(deadline) {
		s := liveStatus(t, ctx)
		if len(seen) == 0 || seen[len(seen)-1] != s {
			seen = append(seen, s)
		}
		for _, w := range want {
			if s == w {
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("status never became %v within %s; saw %v", want, within, seen)
	return ""
}

// TestBrowserRunAndWatch: run a script bot from its page and watch the
// execution page go queued/running → success without a reload.
func TestBrowserRunAndWatch(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t, testutil.WithWorkers(4))
	admin := testutil.CreateUserWithPassword(t, a.DB, models.RoleAdmin)
	b := scriptBot(t, a, admin, "Busy for 1.5 s", 1500, 10)
	base := a.Serve(t)
	ctx := testutil.Browser(t)
	browserSignIn(t, ctx, base, admin)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/bots/"+b.ID.String()),
		chromedp.Click(css(`a[data-testid="run-bot"]`)),
		chromedp.WaitVisible(css(`[data-testid="run-panel"]`)),
		chromedp.WaitVisible(css(`.codex-editor-gutter`)),                                // the line-number editor
		chromedp.SetValue(css(`[data-testid="run-input"]`), "{\n  \"city\": \"Oslo\"\n"), // broken: no closing brace
		chromedp.Click(css(`[data-testid="run-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="run-error"]`)),
	))
	msg, err := chromedp.Run(ctx, chromedp.Text(css(`[data-testid="run-error"]`)))
	require.NoError(t, err)
	require.Contains(t, msg, "not valid JSON")
	testutil.Screenshot(t, ctx, "1-run-json-error")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(css(`[data-testid="run-input"]`), "{\n  \"city\": \"Oslo\"\n}"),
		chromedp.Click(css(`[data-testid="run-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="exec-live"]`)),
	))
	// Mark the document: a reload would lose the mark.
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__sameDocument = true`))
	require.NoError(t, err)
	require.Contains(t, []string{"queued", "running"}, liveStatus(t, ctx), "in flight at first")

	waitStatus(t, ctx, 15*time.Second, "running")
	testutil.Screenshot(t, ctx, "2-running")
	waitStatus(t, ctx, 15*time.Second, "success")
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(css(`[data-testid="exec-output"]`))))
	same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__sameDocument === true`))
	require.NoError(t, err)
	require.True(t, same, "updated in place, without a reload")
	out, err := chromedp.Run(ctx, chromedp.Text(css(`[data-testid="exec-output"]`)))
	require.NoError(t, err)
	require.Contains(t, out, `"ok"`)
	require.Contains(t, out, `"Oslo"`)
	logs, err := chromedp.Run(ctx, chromedp.Text(css(`[data-testid="exec-logs"]`)))
	require.NoError(t, err)
	require.Contains(t, logs, "started with")
	polling, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="exec-live"]').hasAttribute('hx-trigger')`))
	require.NoError(t, err)
	require.False(t, polling, "polling stopped")
	testutil.Screenshot(t, ctx, "3-success")

	// The history shows it, final.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/executions"),
		chromedp.WaitVisible(css(`[data-testid="executions-table"]`)),
	))
	st, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="execution-row"]').dataset.status`))
	require.NoError(t, err)
	require.Equal(t, "success", st)
	testutil.Screenshot(t, ctx, "4-history")
}

// TestBrowserCancelRunning: a 30-second run is cancelled from its page and
// ends as cancelled within a few seconds; the history row follows live.
func TestBrowserCancelRunning(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t, testutil.WithWorkers(4))
	admin := testutil.CreateUserWithPassword(t, a.DB, models.RoleAdmin)
	b := scriptBot(t, a, admin, "Busy for 30 s", 30000, 60)
	base := a.Serve(t)
	ctx := testutil.Browser(t)
	browserSignIn(t, ctx, base, admin)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/bots/"+b.ID.String()+"?tab=run"),
		chromedp.WaitVisible(css(`[data-testid="run-panel"]`)),
		chromedp.Click(css(`[data-testid="run-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="exec-live"]`)),
	))
	waitStatus(t, ctx, 15*time.Second, "running")
	execURL := mustLocation(t, ctx)

	// Meanwhile the history (another tab) shows the row running, live.
	hist, cancelHist := chromedp.NewContext(ctx)
	defer cancelHist()
	require.NoError(t, chromedp.Do(hist,
		chromedp.Navigate(base+"/bots/"+b.ID.String()+"?tab=executions"),
		chromedp.WaitVisible(css(`[data-testid="execution-row"][data-status="running"]`)),
	))
	testutil.Screenshot(t, hist, "1-history-running")

	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(css(`[data-testid="cancel"]`))))
	testutil.Screenshot(t, ctx, "2-running")

	// The poll swaps the live section every second; the cancel form is the
	// same node across swaps, so a click landing mid-swap is not lost.
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(document.getElementById('exec-live').dataset.old = '1', document.getElementById('exec-cancel-form').dataset.kept = '1', true)`))
	require.NoError(t, err)
	swapped := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !swapped; time.Sleep(50 * time.Millisecond) {
		swapped, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.getElementById('exec-live').dataset.old`))
		require.NoError(t, err)
	}
	require.True(t, swapped, "the live section was never re-rendered")
	kept, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('exec-cancel-form')?.dataset.kept === '1'`))
	require.NoError(t, err)
	require.True(t, kept, "the cancel form was replaced by the poll")

	clicked := time.Now()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="cancel"]`)),
		// Only the cancel's own answer shows either of these (the run's
		// flash is still on the page, so waiting for a flash proves nothing).
		chromedp.WaitVisible(css(`[data-testid="cancel-requested"], [data-testid="exec-live"][data-status="cancelled"]`)),
	))
	require.Equal(t, execURL, mustLocation(t, ctx))
	waitStatus(t, ctx, 5*time.Second, "cancelled")
	t.Logf("cancelled %s after the click", time.Since(clicked).Round(time.Millisecond))
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(css(`[data-testid="exec-error"]`))))
	testutil.Screenshot(t, ctx, "3-cancelled")

	// The history row turned final by itself.
	require.NoError(t, chromedp.Do(hist, chromedp.WaitVisible(css(`[data-testid="execution-row"][data-status="cancelled"]`))))
	testutil.Screenshot(t, hist, "4-history-cancelled")
	ex, err := models.QueryExecutions(bg, a.DB.Bun, models.ExecutionQuery{BotIDs: []uuid.UUID{b.ID}})
	require.NoError(t, err)
	require.Len(t, ex.Rows, 1)
	require.Equal(t, models.ExecCancelled, ex.Rows[0].Status)
}

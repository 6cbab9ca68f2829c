package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/models"
)

// TestHostileNamesRenderHarmless: a bot named <script>alert(1)</script>
// with a tag javascript:alert(1) is text everywhere it appears.
func TestHostileNamesRenderHarmless(t *testing.T) {
	t.Parallel()
	a, c, admin := signedIn(t, models.RoleAdmin)
	const evil = `<script>alert(1)</script>`
	b := &models.Bot{OwnerID: admin.ID, Name: evil, Description: `<img src=x onerror=alert(1)>`, Kind: models.KindHTTP,
		Tags: []string{"javascript:alert(1)", `"><svg onload=alert(1)>`}}
	_, err := models.CreateBot(bg, a.DB.Bun, models.Actor{UserID: &admin.ID, Label: admin.Email}, b,
		json.RawMessage(`{"url":"https://example.test/</script><script>alert(1)</script>"}`), evil)
	require.NoError(t, err)
	_, err = models.CreateBotVersion(bg, a.DB.Bun, models.Actor{UserID: &admin.ID}, b.ID, 1, models.KindHTTP,
		json.RawMessage(`{"url":"https://example.test/`+"\u003cb\u003e"+`"}`), evil)
	require.NoError(t, err)
	seq := countRows(t, a, "audit_logs", "")

	id := b.ID.String()
	for _, path := range []string{"/bots", "/bots?q=script", "/bots/" + id, "/bots/" + id + "?tab=versions", "/bots/" + id + "?tab=audit",
		"/bots/" + id + "/versions/1", "/bots/" + id + "/diff?from=1&to=2", "/bots/" + id + "/edit", "/audit",
		"/audit/" + itoa(seq), "/audit?text=" + "script"} {
		r := c.Get(path)
		require.Equal(t, http.StatusOK, r.StatusCode, path)
		require.NotContains(t, r.Body, "<script>alert", path)
		require.NotContains(t, r.Body, "<img src=x", path)
		require.NotContains(t, r.Body, "<svg onload", path)
		d := r.Doc(t)
		d.Find("[href]").Each(func(_ int, s *goquerySelection) {
			href, _ := s.Attr("href")
			require.False(t, strings.HasPrefix(strings.ToLower(strings.TrimSpace(href)), "javascript:"), "%s: href %q", path, href)
		})
		require.Zero(t, d.Find("script:not([src])").Length(), "%s: no inline script", path)
		require.Zero(t, d.Find("[onerror], [onload]").Length(), path)
	}
	require.Contains(t, c.Get("/bots/"+id).Doc(t).Find(`[data-testid="page-title"]`).Text(), evil, "shown as text")
}

type goquerySelection = goquery.Selection

func itoa(n int) string { return strconv.Itoa(n) }

// TestHostileExecutionRendersHarmless: an execution whose input, output,
// error, logs and attempts carry markup shows it as text on every page and
// fragment that shows it.
func TestHostileExecutionRendersHarmless(t *testing.T) {
	t.Parallel()
	a, c, admin := signedIn(t, models.RoleAdmin)
	const evil = `<script>alert(1)</script>`
	b := &models.Bot{OwnerID: admin.ID, Name: evil, Kind: models.KindHTTP, Status: models.BotActive}
	_, err := models.CreateBot(bg, a.DB.Bun, models.Actor{UserID: &admin.ID}, b, json.RawMessage(`{"url":"https://example.test/"}`), evil)
	require.NoError(t, err)
	started := time.Now().Add(-time.Minute).UTC()
	ended := started.Add(time.Second)
	for _, st := range []models.ExecStatus{models.ExecFailed, models.ExecRunning} {
		e := &models.Execution{BotID: b.ID, VersionID: b.ActiveVersionID, Status: st, Trigger: models.TriggerWebhook,
			Input:  json.RawMessage(`{"q":"</script><script>alert(1)</script>","<img src=x onerror=alert(1)>":1}`),
			Output: json.RawMessage(`{"html":"<svg onload=alert(1)>"}`), Error: evil + `<img src=x onerror=alert(1)>`,
			Logs: "ok\n" + evil + "\n<svg onload=alert(1)>", RequestedBy: &admin.ID, StartedAt: &started,
			Attempts: []models.ExecAttempt{{N: 1, Worker: evil, StartedAt: started, EndedAt: &ended, Status: "failed", Error: evil}}}
		require.NoError(t, models.CreateExecution(bg, a.DB.Bun, e))
		id, bot := e.ID.String(), b.ID.String()
		for _, path := range []string{"/executions", "/executions?bot=" + url.QueryEscape(evil), "/executions/" + id, "/executions/" + id + "/live",
			"/executions/rows?ids=" + id, "/bots/" + bot + "?tab=executions", "/bots/" + bot + "?tab=run"} {
			r := c.Get(path)
			require.Equal(t, http.StatusOK, r.StatusCode, path)
			require.NotContains(t, r.Body, "<script>alert", path)
			require.NotContains(t, r.Body, "<img src=x", path)
			require.NotContains(t, r.Body, "<svg onload", path)
			d := r.Doc(t)
			require.Zero(t, d.Find("script:not([src])").Length(), "%s: no inline script", path)
			require.Zero(t, d.Find("[onerror], [onload]").Length(), path)
		}
		d := c.Get("/executions/" + id).Doc(t)
		require.Contains(t, d.Find(`[data-testid="exec-error"]`).Text(), evil, "shown as text")
		require.Contains(t, d.Find(`[data-testid="exec-logs"]`).Text(), evil)
		require.Contains(t, d.Find(`[data-testid="exec-input"]`).Text(), `<img src=x onerror=alert(1)>`)
	}
	// The Run editor is prefilled with the hostile input, as text.
	d := c.Get("/bots/" + b.ID.String() + "?tab=run").Doc(t)
	require.Contains(t, d.Find(`[data-testid="run-input"]`).Text(), "</script><script>alert(1)</script>")
}

package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

// execBot creates an http bot of owner with the given status.
func execBot(t *testing.T, a *testutil.App, owner *models.User, name string, status models.BotStatus) *models.Bot {
	t.Helper()
	b := &models.Bot{OwnerID: owner.ID, Name: name, Kind: models.KindHTTP, Status: status}
	_, err := models.CreateBot(bg, a.DB.Bun, models.Actor{UserID: &owner.ID, Label: owner.Email}, b,
		json.RawMessage(`{"url":"https://example.test/run"}`), "v1")
	require.NoError(t, err)
	return b
}

// execRow inserts an execution as is.
func execRow(t *testing.T, a *testutil.App, e *models.Execution) *models.Execution {
	t.Helper()
	require.NoError(t, models.CreateExecution(bg, a.DB.Bun, e))
	return e
}

func setExecStatus(t *testing.T, a *testutil.App, id uuid.UUID, st models.ExecStatus) {
	t.Helper()
	q := a.DB.Bun.NewUpdate().Model((*models.Execution)(nil)).Set("status = ?", st).Where("id = ?", id)
	if st.Terminal() {
		now := time.Now().UTC()
		q = q.Set("ended_at = ?", now).Set("started_at = ?", now).Set("duration_ms = ?", 42.0).Set("output = ?", `{"done":true}`)
	}
	_, err := q.Exec(bg)
	require.NoError(t, err)
}

// fragmentDoc parses a fragment of table rows the way htmx does (inside a
// template, where a <tr> may stand alone).
func fragmentDoc(t *testing.T, body string) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader("<table>" + body + "</table>"))
	require.NoError(t, err)
	return d
}

var hxHeaders = func(c *testutil.Client) http.Header {
	return http.Header{"Hx-Request": {"true"}, web.CSRFHeader: {c.CSRF}}
}

func TestExecutionRunFromBotPage(t *testing.T) {
	t.Parallel()
	a, c, u := signedIn(t, models.RoleUser)
	b := execBot(t, a, u, "runner", models.BotActive)
	page := "/bots/" + b.ID.String()

	// The Run button leads to the Run tab: an editor prefilled with {}.
	d := c.Get(page).Doc(t)
	require.Equal(t, page+"?tab=run", d.Find(`a[data-testid="run-bot"]`).AttrOr("href", ""))
	d = c.Get(page + "?tab=run").Doc(t)
	require.Equal(t, "{}", strings.TrimSpace(d.Find(`[data-testid="run-input"]`).Text()))
	require.Equal(t, "json", d.Find(`[data-testid="run-input"]`).AttrOr("data-editor", ""), "the line-number editor enhances it")
	require.Zero(t, d.Find(`[data-testid="run-submit"][disabled]`).Length())

	before := countRows(t, a, "audit_logs", "action = 'bot.execute'")
	r := c.Post(page+"/run", url.Values{"input": {"{\n  \"city\": \"Oslo\"\n}"}})
	require.Equal(t, http.StatusSeeOther, r.StatusCode, r.Body)
	loc := r.Header.Get("Location")
	require.True(t, strings.HasPrefix(loc, "/executions/"), loc)
	id := uuid.MustParse(strings.TrimPrefix(loc, "/executions/"))
	ex, err := models.ExecutionByID(bg, a.DB.Bun, id)
	require.NoError(t, err)
	require.Equal(t, models.ExecQueued, ex.Status)
	require.Equal(t, models.TriggerManual, ex.Trigger)
	require.Equal(t, b.ActiveVersionID, ex.VersionID)
	require.Equal(t, &u.ID, ex.RequestedBy)
	require.JSONEq(t, `{"city":"Oslo"}`, string(ex.Input))
	require.Equal(t, before+1, countRows(t, a, "audit_logs", "action = 'bot.execute'"), "exactly one bot.execute row")
	require.Equal(t, 1, countRows(t, a, "audit_logs", "action = 'bot.execute' AND resource_id = ?", id.String()))

	// The execution page, with the flash.
	d = c.Get(loc).Doc(t)
	require.Contains(t, d.Find(`[data-testid="flash"]`).Text(), "Run queued")
	require.Equal(t, "queued", d.Find(`[data-testid="exec-live"]`).AttrOr("data-status", ""))

	// The next Run starts from the last input, indented.
	d = c.Get(page + "?tab=run").Doc(t)
	require.JSONEq(t, `{"city":"Oslo"}`, d.Find(`[data-testid="run-input"]`).Text())
	require.Contains(t, d.Find(`[data-testid="run-input"]`).Text(), "\n  \"city\"")

	// htmx: 204 with HX-Redirect; empty input means {}.
	r = accessPost(c, page+"/run", url.Values{"input": {"  "}}, hxHeaders(c))
	require.Equal(t, http.StatusNoContent, r.StatusCode, r.Body)
	hxLoc := r.Header.Get("HX-Redirect")
	require.True(t, strings.HasPrefix(hxLoc, "/executions/"), hxLoc)
	ex, err = models.ExecutionByID(bg, a.DB.Bun, uuid.MustParse(strings.TrimPrefix(hxLoc, "/executions/")))
	require.NoError(t, err)
	require.JSONEq(t, `{}`, string(ex.Input))
	require.Equal(t, 2, countRows(t, a, "bot_executions", ""))
}

func TestExecutionRunRefusals(t *testing.T) { //nolint:tparallel // subtests share one signed-in client, and rows are counted between them; they run in order
	t.Parallel()
	a, c, u := signedIn(t, models.RoleUser)
	b := execBot(t, a, u, "strict", models.BotActive)
	page := "/bots/" + b.ID.String()

	t.Run("bad JSON: 422 with where it broke", func(t *testing.T) {
		r := c.Post(page+"/run", url.Values{"input": {"{\n  \"a\": 1,\n}"}})
		require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
		d := r.Doc(t)
		msg := d.Find(`[data-testid="run-error"]`).Text()
		require.Contains(t, msg, "not valid JSON")
		require.Contains(t, msg, "line 3")
		require.Equal(t, "{\n  \"a\": 1,\n}", d.Find(`[data-testid="run-input"]`).Text(), "the text is kept")
		require.Equal(t, "true", d.Find(`[data-testid="run-input"]`).AttrOr("aria-invalid", ""))
		require.Equal(t, 1, d.Find(`[data-testid="page-title"]`).Length(), "a full page")

		// htmx gets the panel alone.
		r = accessPost(c, page+"/run", url.Values{"input": {"[1, 2"}}, hxHeaders(c))
		require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
		require.NotContains(t, r.Body, "<html")
		require.Contains(t, r.Doc(t).Find(`#run-panel [data-testid="run-error"]`).Text(), "not valid JSON")
	})
	t.Run("too large: 422 with the limit", func(t *testing.T) {
		big := `{"x":"` + strings.Repeat("a", 1<<20) + `"}`
		r := c.Post(page+"/run", url.Values{"input": {big}})
		require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
		require.Contains(t, r.Doc(t).Find(`[data-testid="run-error"]`).Text(), "1 MiB")
	})
	require.Zero(t, countRows(t, a, "bot_executions", ""), "nothing was queued")
	require.Zero(t, countRows(t, a, "audit_logs", "action = 'bot.execute'"))

	for _, tc := range []struct {
		name, want string
		status     models.BotStatus
		archive    bool
	}{
		{"inactive", "is inactive", models.BotInactive, false},
		{"maintenance", "is in maintenance", models.BotMaintenance, false},
		{"archived", "is archived", models.BotActive, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := execBot(t, a, u, tc.name+" bot", tc.status)
			if tc.archive {
				_, err := models.SetBotArchived(bg, a.DB.Bun, models.SystemActor("test"), b.ID, true)
				require.NoError(t, err)
			}
			page := "/bots/" + b.ID.String()
			// The button is disabled with the reason…
			d := c.Get(page).Doc(t)
			require.Equal(t, 1, d.Find(`button[data-testid="run-bot"][disabled]`).Length())
			require.Contains(t, d.Find(`[data-testid="run-blocked"]`).Text(), tc.want)
			d = c.Get(page + "?tab=run").Doc(t)
			require.Equal(t, 1, d.Find(`[data-testid="run-submit"][disabled]`).Length())
			require.Contains(t, d.Find(`[data-testid="run-blocked-reason"]`).Text(), tc.want)
			// …and the server refuses anyway.
			r := c.Post(page+"/run", url.Values{"input": {`{}`}})
			require.Equal(t, http.StatusConflict, r.StatusCode)
			require.Contains(t, r.Doc(t).Find(`[data-testid="run-error"]`).Text(), tc.want)
			r = accessPost(c, page+"/run", url.Values{"input": {`{}`}}, hxHeaders(c))
			require.Equal(t, http.StatusConflict, r.StatusCode)
			require.Contains(t, r.Doc(t).Find(`[data-testid="run-error"]`).Text(), tc.want)
			require.Zero(t, countRows(t, a, "bot_executions", "bot_id = ?", b.ID))
		})
	}
}

func TestExecutionPermissions(t *testing.T) { //nolint:tparallel // subtests count the audit and execution rows the others add; they run in order
	t.Parallel()
	a := testutil.NewApp(t)
	owner := testutil.CreateUserWithPassword(t, a.DB, models.RoleUser)
	other := testutil.CreateUserWithPassword(t, a.DB, models.RoleUser)
	viewer := testutil.CreateUserWithPassword(t, a.DB, models.RoleViewer)
	admin := testutil.CreateUserWithPassword(t, a.DB, models.RoleAdmin)
	b := execBot(t, a, owner, "owned", models.BotActive)
	login := func(u *models.User) *testutil.Client {
		c := a.Client(t)
		c.Login(u.Email, testutil.TestPassword)
		return c
	}
	queued := execRow(t, a, &models.Execution{BotID: b.ID, VersionID: b.ActiveVersionID, Input: json.RawMessage(`{"q":1}`)})
	page := "/bots/" + b.ID.String()

	for name, u := range map[string]*models.User{"another user": other, "a viewer": viewer} {
		t.Run(name, func(t *testing.T) {
			c := login(u)
			d := c.Get(page).Doc(t)
			require.Equal(t, 1, d.Find(`button[data-testid="run-bot"][disabled]`).Length())
			require.Contains(t, d.Find(`[data-testid="run-blocked"]`).Text(), "Your role does not allow")
			d = c.Get("/executions/" + queued.ID.String()).Doc(t)
			require.Zero(t, d.Find(`[data-testid="cancel"]`).Length(), "no Cancel button")
			require.Zero(t, d.Find(`[data-testid="rerun"]`).Length(), "no Re-run button")

			denied := countRows(t, a, "audit_logs", "action = 'access.denied'")
			require.Equal(t, http.StatusForbidden, c.Post(page+"/run", url.Values{"input": {`{}`}}).StatusCode)
			require.Equal(t, http.StatusForbidden, c.Post("/executions/"+queued.ID.String()+"/cancel", nil).StatusCode)
			require.Equal(t, http.StatusForbidden, c.Post("/executions/"+queued.ID.String()+"/rerun", nil).StatusCode)
			require.Equal(t, denied+3, countRows(t, a, "audit_logs", "action = 'access.denied'"), "each refusal is recorded")
			got, err := models.ExecutionByID(bg, a.DB.Bun, queued.ID)
			require.NoError(t, err)
			require.Equal(t, models.ExecQueued, got.Status)
			require.Equal(t, 1, countRows(t, a, "bot_executions", ""), "nothing was queued")
		})
	}
	t.Run("the owner", func(t *testing.T) {
		c := login(owner)
		d := c.Get("/executions/" + queued.ID.String()).Doc(t)
		require.Equal(t, 1, d.Find(`[data-testid="cancel"]`).Length())
		require.Equal(t, 1, d.Find(`[data-testid="rerun"]`).Length())
	})
	t.Run("an admin runs anyone's bot", func(t *testing.T) {
		c := login(admin)
		r := c.Post(page+"/run", url.Values{"input": {`{}`}})
		require.Equal(t, http.StatusSeeOther, r.StatusCode, r.Body)
		ex, err := models.ExecutionByID(bg, a.DB.Bun, uuid.MustParse(strings.TrimPrefix(r.Header.Get("Location"), "/executions/")))
		require.NoError(t, err)
		require.Equal(t, &admin.ID, ex.RequestedBy)
	})
}

func TestExecutionPage(t *testing.T) {
	t.Parallel()
	a, c, u := signedIn(t, models.RoleUser)
	b := execBot(t, a, u, "reporter", models.BotActive)
	v1 := *b.ActiveVersionID
	started := time.Date(2025, 4, 1, 9, 30, 0, 0, time.UTC)
	ended := started.Add(2500 * time.Millisecond)
	ms := 2500.0
	ex := execRow(t, a, &models.Execution{BotID: b.ID, VersionID: &v1, Status: models.ExecFailed, Trigger: models.TriggerAPI,
		Input: json.RawMessage(`{"question":"why?"}`), Output: json.RawMessage(`{"partial":[1,2]}`),
		Error: "upstream said 502", Logs: "line one\n    indented line two\n", RequestedBy: &u.ID,
		QueuedAt: started.Add(-time.Second), StartedAt: &started, EndedAt: &ended, DurationMS: &ms, Attempt: 2, MaxAttempts: 2,
		Attempts: []models.ExecAttempt{
			{N: 1, Worker: "host-a-1", StartedAt: started.Add(-time.Minute), EndedAt: &started, Status: "failed", Error: "connection reset"},
			{N: 2, Worker: "host-b-2", StartedAt: started, EndedAt: &ended, Status: "failed", Error: "upstream said 502"},
		}})
	path := "/executions/" + ex.ID.String()

	r := c.Get(path)
	require.Equal(t, http.StatusOK, r.StatusCode)
	d := r.Doc(t)
	require.Equal(t, "failed", strings.TrimSpace(d.Find(`[data-testid="exec-status-big"]`).Text()))
	require.Equal(t, "reporter", d.Find(`[data-testid="exec-bot"]`).Text())
	require.Equal(t, "/bots/"+b.ID.String()+"/versions/1", d.Find(`[data-testid="exec-version"]`).AttrOr("href", ""))
	require.Equal(t, 1, d.Find(`[data-testid="exec-version-active"]`).Length())
	require.Zero(t, d.Find(`[data-testid="exec-version-diff"]`).Length(), "it ran the active version")
	require.Equal(t, "api", d.Find(`[data-testid="exec-trigger"]`).Text())
	require.Contains(t, d.Find(`[data-testid="exec-requester"]`).Text(), u.Email)
	require.Contains(t, d.Find(`[data-testid="exec-input"]`).Text(), `"question"`)
	require.Contains(t, d.Find(`[data-testid="exec-input"]`).Text(), `"why?"`)
	require.Contains(t, d.Find(`[data-testid="exec-output"]`).Text(), `"partial"`)
	require.Equal(t, "alert", d.Find(`[data-testid="exec-error"]`).AttrOr("role", ""))
	require.Contains(t, d.Find(`[data-testid="exec-error"]`).Text(), "upstream said 502")
	logs := d.Find(`pre[data-testid="exec-logs"]`)
	require.Equal(t, "line one\n    indented line two\n", logs.Text(), "whitespace kept")
	require.Contains(t, d.Find(`[data-testid="exec-started"]`).Text(), "09:30:00.000")
	require.Contains(t, d.Find(`[data-testid="exec-ended"]`).Text(), "09:30:02.500")
	require.Equal(t, "2.50 s", d.Find(`[data-testid="exec-duration"]`).Text())
	attempts := d.Find(`[data-testid="exec-attempt"]`)
	require.Equal(t, 2, attempts.Length())
	require.Contains(t, attempts.Eq(0).Text(), "host-a-1")
	require.Contains(t, attempts.Eq(0).Text(), "connection reset")
	require.Contains(t, attempts.Eq(1).Text(), "host-b-2")
	require.Zero(t, d.Find(`[data-testid="cancel"]`).Length(), "a finished run has no Cancel")
	require.Equal(t, 1, d.Find(`[data-testid="rerun"]`).Length())
	_, polls := d.Find(`[data-testid="exec-live"]`).Attr("hx-trigger")
	require.False(t, polls, "a final execution does not poll")

	// A newer active version: link the diff.
	_, err := models.CreateBotVersion(bg, a.DB.Bun, models.Actor{UserID: &u.ID}, b.ID, 1, models.KindHTTP, json.RawMessage(`{"url":"https://example.test/v2"}`), "v2")
	require.NoError(t, err)
	d = c.Get(path).Doc(t)
	require.Equal(t, "/bots/"+b.ID.String()+"/diff?from=1&to=2", d.Find(`[data-testid="exec-version-diff"]`).AttrOr("href", ""))
	require.Equal(t, http.StatusOK, c.Get("/bots/"+b.ID.String()+"/diff?from=1&to=2").StatusCode)

	// Waiting for a retry.
	retry := time.Now().Add(30 * time.Second)
	q := execRow(t, a, &models.Execution{BotID: b.ID, VersionID: &v1, Status: models.ExecQueued, Attempt: 1, MaxAttempts: 3, RetryAt: &retry,
		Error: "timeout", Attempts: []models.ExecAttempt{{N: 1, Worker: "w", StartedAt: started, EndedAt: &ended, Status: "failed", Error: "timeout"}}})
	d = c.Get("/executions/" + q.ID.String()).Doc(t)
	require.Contains(t, d.Find(`[data-testid="exec-retry-at"]`).Text(), "Attempt 1 of 3 failed; retry at")
	require.Contains(t, d.Find(`[data-testid="exec-error"]`).Text(), "Last attempt")
	require.Equal(t, "every 1s", d.Find(`[data-testid="exec-live"]`).AttrOr("hx-trigger", ""))
	require.Equal(t, 1, d.Find(`[data-testid="cancel"]`).Length())
	require.Contains(t, d.Find(`[data-testid="exec-output-empty"]`).Text(), "appears when the run finishes")

	require.Equal(t, http.StatusNotFound, c.Get("/executions/"+uuid.NewString()).StatusCode)
}

// The live fragments poll while an execution is in flight and stop when it
// is final.
func TestExecutionLiveStopsPollingWhenFinal(t *testing.T) { //nolint:tparallel // the history subtest needs the states the page-panel subtest set; they run in order
	t.Parallel()
	a, c, u := signedIn(t, models.RoleUser)
	b := execBot(t, a, u, "live", models.BotActive)
	ex := execRow(t, a, &models.Execution{BotID: b.ID, VersionID: b.ActiveVersionID, Status: models.ExecQueued})
	done := execRow(t, a, &models.Execution{BotID: b.ID, VersionID: b.ActiveVersionID, Status: models.ExecSuccess, QueuedAt: time.Now().Add(-time.Hour)})
	live := "/executions/" + ex.ID.String() + "/live"

	t.Run("the page panel", func(t *testing.T) {
		r := accessGet(c, live, http.Header{"Hx-Request": {"true"}})
		require.Equal(t, http.StatusOK, r.StatusCode)
		require.NotContains(t, r.Body, "<html", "a fragment")
		p := r.Doc(t).Find(`#exec-live`)
		require.Equal(t, "every 1s", p.AttrOr("hx-trigger", ""))
		require.Equal(t, live, p.AttrOr("hx-get", ""))
		require.Equal(t, "outerHTML", p.AttrOr("hx-swap", ""))
		require.Equal(t, "queued", p.AttrOr("data-status", ""))

		setExecStatus(t, a, ex.ID, models.ExecRunning)
		p = c.Get(live).Doc(t).Find(`#exec-live`)
		require.Equal(t, "running", p.AttrOr("data-status", ""))
		require.Equal(t, "every 1s", p.AttrOr("hx-trigger", ""))

		setExecStatus(t, a, ex.ID, models.ExecSuccess)
		p = c.Get(live).Doc(t).Find(`#exec-live`)
		require.Equal(t, "success", p.AttrOr("data-status", ""))
		_, ok := p.Attr("hx-trigger")
		require.False(t, ok, "final: no trigger, polling stops")
		_, ok = p.Attr("hx-get")
		require.False(t, ok)
		require.Contains(t, p.Find(`[data-testid="exec-output"]`).Text(), `"done"`, "the output arrives with the final state")
	})

	t.Run("deleted while watched", func(t *testing.T) {
		r := accessGet(c, "/executions/"+uuid.NewString()+"/live", http.Header{"Hx-Request": {"true"}})
		require.Equal(t, http.StatusOK, r.StatusCode, "not an error flash every second")
		p := r.Doc(t).Find(`#exec-live`)
		require.Equal(t, "gone", p.AttrOr("data-status", ""))
		_, ok := p.Attr("hx-trigger")
		require.False(t, ok)
	})

	t.Run("the history's rows", func(t *testing.T) {
		running := execRow(t, a, &models.Execution{BotID: b.ID, VersionID: b.ActiveVersionID, Status: models.ExecRunning})
		d := c.Get("/executions").Doc(t)
		require.Equal(t, 3, d.Find(`[data-testid="execution-row"]`).Length())
		poller := d.Find(`#exec-poller`)
		require.Equal(t, "every 1s", poller.AttrOr("hx-trigger", ""))
		require.Equal(t, "/executions/rows?ids="+running.ID.String(), poller.AttrOr("hx-get", ""), "only rows in flight are polled")
		require.NotContains(t, poller.AttrOr("hx-get", ""), done.ID.String())

		rows := "/executions/rows?ids=" + running.ID.String()
		r := accessGet(c, rows, http.Header{"Hx-Request": {"true"}})
		require.Equal(t, http.StatusOK, r.StatusCode)
		require.NotContains(t, r.Body, "<html")
		fd := fragmentDoc(t, r.Body)
		row := fd.Find(`tr#exec-row-` + running.ID.String())
		require.Equal(t, 1, row.Length(), r.Body)
		require.Equal(t, "true", row.AttrOr("hx-swap-oob", ""), "swapped out of band, by id")
		require.Equal(t, "running", row.AttrOr("data-status", ""))
		require.Equal(t, "every 1s", fd.Find(`#exec-poller`).AttrOr("hx-trigger", ""))

		setExecStatus(t, a, running.ID, models.ExecFailed)
		fd = fragmentDoc(t, c.Get(rows).Body)
		require.Equal(t, "failed", fd.Find(`tr#exec-row-`+running.ID.String()).AttrOr("data-status", ""))
		_, ok := fd.Find(`#exec-poller`).Attr("hx-trigger")
		require.False(t, ok, "nothing in flight: polling stops")
		_, ok = fd.Find(`#exec-poller`).Attr("hx-get")
		require.False(t, ok)

		// Nothing in flight on the page: no trigger from the start.
		_, ok = c.Get("/executions").Doc(t).Find(`#exec-poller`).Attr("hx-trigger")
		require.False(t, ok)
		// Junk ids are ignored.
		require.Equal(t, http.StatusOK, c.Get("/executions/rows?ids=nope,"+uuid.NewString()).StatusCode)
	})
}

func TestExecutionCancel(t *testing.T) { //nolint:tparallel // subtests share one signed-in client (its flashes) and count audit rows; they run in order
	t.Parallel()
	a, c, u := signedIn(t, models.RoleUser)
	b := execBot(t, a, u, "cancellable", models.BotActive)

	t.Run("queued: cancelled at once", func(t *testing.T) {
		ex := execRow(t, a, &models.Execution{BotID: b.ID, VersionID: b.ActiveVersionID, Status: models.ExecQueued})
		path := "/executions/" + ex.ID.String()
		before := countRows(t, a, "audit_logs", "action = 'execution.cancel'")
		r := c.Post(path+"/cancel", nil)
		require.Equal(t, http.StatusSeeOther, r.StatusCode, r.Body)
		require.Equal(t, path, r.Header.Get("Location"))
		got, err := models.ExecutionByID(bg, a.DB.Bun, ex.ID)
		require.NoError(t, err)
		require.Equal(t, models.ExecCancelled, got.Status)
		require.Equal(t, before+1, countRows(t, a, "audit_logs", "action = 'execution.cancel'"))
		d := c.Get(path).Doc(t)
		require.Contains(t, d.Find(`[data-testid="flash"]`).Text(), "Cancelled before it started")
		require.Equal(t, "cancelled", d.Find(`[data-testid="exec-live"]`).AttrOr("data-status", ""))
		require.Zero(t, d.Find(`[data-testid="cancel"]`).Length())
	})
	t.Run("running: flagged for the worker", func(t *testing.T) {
		ex := execRow(t, a, &models.Execution{BotID: b.ID, VersionID: b.ActiveVersionID, Status: models.ExecRunning})
		path := "/executions/" + ex.ID.String()
		r := accessPost(c, path+"/cancel", url.Values{}, hxHeaders(c))
		require.Equal(t, http.StatusNoContent, r.StatusCode, r.Body)
		require.Equal(t, path, r.Header.Get("HX-Redirect"))
		got, err := models.ExecutionByID(bg, a.DB.Bun, ex.ID)
		require.NoError(t, err)
		require.Equal(t, models.ExecRunning, got.Status, "the worker records the end")
		require.NotNil(t, got.CancelRequestedAt)
		d := c.Get(path).Doc(t)
		require.Contains(t, d.Find(`[data-testid="flash"]`).Text(), "Cancel requested")
		require.Zero(t, d.Find(`[data-testid="cancel"]`).Length(), "asked once")
		require.Contains(t, d.Find(`[data-testid="cancel-requested"]`).Text(), "stopping")
		require.Contains(t, c.Get("/executions").Doc(t).Find(`#exec-row-`+ex.ID.String()).Text(), "cancelling")
	})
	t.Run("finished: 409 with the reason", func(t *testing.T) {
		ex := execRow(t, a, &models.Execution{BotID: b.ID, VersionID: b.ActiveVersionID, Status: models.ExecSuccess})
		before := countRows(t, a, "audit_logs", "")
		r := c.Post("/executions/"+ex.ID.String()+"/cancel", nil)
		require.Equal(t, http.StatusConflict, r.StatusCode)
		require.Contains(t, r.Doc(t).Find(`[data-testid="error-page"]`).Text(), "already finished (success)")
		r = accessPost(c, "/executions/"+ex.ID.String()+"/cancel", url.Values{}, hxHeaders(c))
		require.Equal(t, http.StatusConflict, r.StatusCode)
		require.Equal(t, "#flashes", r.Header.Get("HX-Retarget"))
		require.Contains(t, r.Doc(t).Find(`[data-testid="flash"]`).Text(), "already finished")
		require.Equal(t, before, countRows(t, a, "audit_logs", ""), "nothing recorded")
	})
}

func TestExecutionRerun(t *testing.T) {
	t.Parallel()
	a, c, u := signedIn(t, models.RoleUser)
	b := execBot(t, a, u, "again", models.BotActive)
	old := execRow(t, a, &models.Execution{BotID: b.ID, VersionID: b.ActiveVersionID, Status: models.ExecFailed, Input: json.RawMessage(`{"k":[1,2,3]}`)})
	v2, err := models.CreateBotVersion(bg, a.DB.Bun, models.Actor{UserID: &u.ID}, b.ID, 1, models.KindHTTP, json.RawMessage(`{"url":"https://example.test/v2"}`), "v2")
	require.NoError(t, err)

	r := c.Post("/executions/"+old.ID.String()+"/rerun", nil)
	require.Equal(t, http.StatusSeeOther, r.StatusCode, r.Body)
	loc := r.Header.Get("Location")
	ex, err := models.ExecutionByID(bg, a.DB.Bun, uuid.MustParse(strings.TrimPrefix(loc, "/executions/")))
	require.NoError(t, err)
	require.NotEqual(t, old.ID, ex.ID)
	require.JSONEq(t, `{"k":[1,2,3]}`, string(ex.Input))
	require.Equal(t, models.TriggerReplay, ex.Trigger)
	require.Equal(t, v2.ID, *ex.VersionID, "the active version")
	require.Equal(t, models.ExecQueued, ex.Status)
	require.Contains(t, c.Get(loc).Doc(t).Find(`[data-testid="flash"]`).Text(), "Re-run queued")

	// A bot that may not run: the button is disabled with the reason; the server says 409.
	_, err = models.SetBotArchived(bg, a.DB.Bun, models.SystemActor("test"), b.ID, true)
	require.NoError(t, err)
	d := c.Get("/executions/" + old.ID.String()).Doc(t)
	require.Equal(t, 1, d.Find(`[data-testid="rerun"][disabled]`).Length())
	require.Contains(t, d.Find(`[data-testid="rerun-blocked"]`).Text(), "archived")
	r = c.Post("/executions/"+old.ID.String()+"/rerun", nil)
	require.Equal(t, http.StatusConflict, r.StatusCode)
	require.Contains(t, r.Doc(t).Find(`[data-testid="error-page"]`).Text(), "is archived")
}

func TestExecutionsList(t *testing.T) {
	t.Parallel()
	a, c, u := signedIn(t, models.RoleUser)
	other := testutil.CreateUser(t, a.DB, models.RoleUser)

	d := c.Get("/executions").Doc(t)
	require.Equal(t, "No executions yet", d.Find(`[data-testid="empty-title"]`).Text())
	require.Equal(t, 1, d.Find(`nav a[href="/executions"][aria-current="page"]`).Length(), "the nav item is live")

	b1 := execBot(t, a, u, "Alpha checker", models.BotActive)
	b2 := execBot(t, a, other, "Beta summariser", models.BotActive)
	d = c.Get("/bots/" + b1.ID.String() + "?tab=executions").Doc(t)
	require.Equal(t, "This bot has not run yet", d.Find(`[data-testid="empty-title"]`).Text())
	require.Equal(t, "/bots/"+b1.ID.String()+"?tab=run", d.Find(`[data-testid="empty-run"]`).AttrOr("href", ""))

	base := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	mk := func(b *models.Bot, st models.ExecStatus, tr models.Trigger, by *models.User, at time.Time) *models.Execution {
		e := &models.Execution{BotID: b.ID, VersionID: b.ActiveVersionID, Status: st, Trigger: tr, QueuedAt: at}
		if by != nil {
			e.RequestedBy = &by.ID
		}
		if st.Terminal() {
			ms := 1234.0
			e.DurationMS = &ms
		}
		return execRow(t, a, e)
	}
	var all []*models.Execution
	for i := range 30 {
		st := []models.ExecStatus{models.ExecSuccess, models.ExecFailed, models.ExecTimedOut}[i%3]
		b, by := b1, u
		if i%2 == 1 {
			b, by = b2, other
		}
		tr := models.TriggerManual
		if i%5 == 0 {
			tr = models.TriggerSchedule
			by = nil
		}
		all = append(all, mk(b, st, tr, by, base.Add(time.Duration(i)*time.Hour)))
	}
	rowIDs := func(d *goquery.Document) []string {
		var out []string
		d.Find(`[data-testid="execution-row"]`).Each(func(_ int, s *goquerySelection) { out = append(out, s.AttrOr("data-id", "")) })
		return out
	}

	// First page: 25 newest, then the rest, via the cursor.
	r := c.Get("/executions")
	d = r.Doc(t)
	require.Equal(t, "30 executions", d.Find(`[data-testid="execution-count"]`).Text())
	ids := rowIDs(d)
	require.Len(t, ids, 25)
	require.Equal(t, all[29].ID.String(), ids[0], "newest first")
	row := d.Find(`[data-testid="execution-row"]`).First()
	require.Equal(t, "Beta summariser", row.Find(`[data-testid="execution-bot"]`).Text())
	require.Equal(t, "/bots/"+b2.ID.String(), row.Find(`[data-testid="execution-bot"]`).AttrOr("href", ""))
	require.Equal(t, "/bots/"+b2.ID.String()+"/versions/1", row.Find(`[data-testid="execution-version"]`).AttrOr("href", ""))
	require.Equal(t, "timed_out", row.AttrOr("data-status", ""))
	require.Equal(t, "timed out", strings.TrimSpace(row.Find(`[data-testid="exec-status"]`).Text()))
	require.Equal(t, "manual", row.Find(`[data-testid="execution-trigger"]`).Text())
	require.NotEmpty(t, other.Name)
	require.Equal(t, other.Name, row.Find(`[data-testid="execution-requester"]`).Text())
	require.Equal(t, other.Email, row.Find(`[data-testid="execution-requester"]`).AttrOr("title", ""))
	require.Equal(t, "1.23 s", row.Find(`[data-testid="execution-duration"]`).Text())
	require.Equal(t, "2025-05-02 15:00:00 UTC", row.Find(`[data-testid="execution-queued"]`).AttrOr("title", ""))
	require.Equal(t, "2025-05-02", row.Find(`[data-testid="execution-queued"]`).Text(), "older than a month: the date")
	require.Equal(t, "/executions/"+all[29].ID.String(), row.Find(`[data-testid="execution-link"]`).AttrOr("href", ""))
	next := d.Find(`[data-testid="next-page"]`).AttrOr("href", "")
	require.NotEmpty(t, next)
	require.NotContains(t, next, "offset")
	d2 := c.Get(next).Doc(t)
	require.Len(t, rowIDs(d2), 5)
	require.Equal(t, all[0].ID.String(), rowIDs(d2)[4])
	require.Empty(t, d2.Find(`[data-testid="next-page"]`).AttrOr("href", ""))
	require.Equal(t, 1, d2.Find(`[data-testid="first-page"]`).Length())
	// A damaged cursor starts over rather than failing.
	require.Len(t, rowIDs(c.Get("/executions?after=garbage").Doc(t)), 25)

	// htmx paging and filtering swap only the results.
	r = accessGet(c, "/executions?status=failed", http.Header{"Hx-Request": {"true"}, "Hx-Target": {"exec-results"}})
	require.Equal(t, http.StatusOK, r.StatusCode)
	require.NotContains(t, r.Body, "<html")
	require.Len(t, rowIDs(r.Doc(t)), 10)

	count := func(q string) int {
		t.Helper()
		r := c.Get("/executions?" + q)
		require.Equal(t, http.StatusOK, r.StatusCode, q)
		return len(rowIDs(r.Doc(t)))
	}
	require.Equal(t, 10, count("status=failed"))
	require.Equal(t, 10, count("status=timed_out"))
	require.Equal(t, 6, count("trigger=schedule"))
	require.Equal(t, 15, count("bot="+url.QueryEscape("alpha checker")), "by name, any case")
	require.Equal(t, 15, count("bot="+b2.ID.String()), "by id")
	require.Equal(t, 12, count("requester="+url.QueryEscape(u.Email)))
	require.Equal(t, 12, count("mine=1"))
	require.Equal(t, 5, count("status=failed&bot="+b2.ID.String()))
	require.Equal(t, 14, count("from=2025-05-01&to=2025-05-01"), "to is inclusive: 10:00–23:00 on the 1st")
	require.Equal(t, 16, count("from=2025-05-02"))
	require.Equal(t, 2, count("from=2025-05-02&to=2025-05-02&status=success&bot="+b1.ID.String()))

	d = c.Get("/executions?bot=nobody-has-this-name").Doc(t)
	require.Equal(t, "No executions match", d.Find(`[data-testid="empty-title"]`).Text())
	require.Equal(t, "/executions", d.Find(`[data-testid="clear-filters"]`).AttrOr("href", ""))
	d = c.Get("/executions?status=exploded&from=yesterday").Doc(t)
	problem := d.Find(`[data-testid="filter-problem"]`).Text()
	require.Contains(t, problem, `"exploded" is not a status`)
	require.Contains(t, problem, "YYYY-MM-DD")
	require.Len(t, rowIDs(d), 25, "bad filters are ignored, not fatal")

	// The bot tab: the same table, that bot only, with its filters.
	d = c.Get("/bots/" + b1.ID.String() + "?tab=executions").Doc(t)
	require.Equal(t, "15 executions", d.Find(`[data-testid="execution-count"]`).Text())
	require.Zero(t, d.Find(`[data-testid="filter-bot"]`).Length())
	d.Find(`[data-testid="execution-bot"]`).Each(func(_ int, s *goquerySelection) { require.Equal(t, "Alpha checker", s.Text()) })
	d = c.Get("/bots/" + b1.ID.String() + "?tab=executions&status=failed").Doc(t)
	require.Len(t, rowIDs(d), 5)
	r = accessGet(c, "/bots/"+b1.ID.String()+"?tab=executions&status=success", http.Header{"Hx-Request": {"true"}, "Hx-Target": {"exec-results"}})
	require.NotContains(t, r.Body, "<html")
	require.Len(t, rowIDs(r.Doc(t)), 5)
	d = c.Get("/bots/" + b1.ID.String() + "?tab=executions&trigger=webhook").Doc(t)
	require.Equal(t, "No executions match", d.Find(`[data-testid="empty-title"]`).Text())
	require.Equal(t, "/bots/"+b1.ID.String()+"?tab=executions", d.Find(`[data-testid="clear-filters"]`).AttrOr("href", ""))
}

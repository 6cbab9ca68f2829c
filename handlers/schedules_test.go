package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

// signedInAt is signedIn with the app's clock moved to at first (moving
// it later would expire the session).
func signedInAt(t *testing.T, role models.Role, at time.Time) (*testutil.App, *testutil.Client, *models.User) {
	t.Helper()
	a := testutil.NewApp(t)
	a.Clock.Advance(time.Until(at))
	u := testutil.CreateUserWithPassword(t, a.DB, role)
	c := a.Client(t)
	c.Login(u.Email, testutil.TestPassword)
	return a, c, u
}

// scheduleFormValues is the create form as the page posts it.
func scheduleFormValues(expr, tz, input string) url.Values {
	return url.Values{"cron_expr": {expr}, "time_zone": {tz}, "input": {input}, "description": {"nightly"}, "enabled": {"1"}}
}

func TestScheduleManagementFromTheTriggersTab(t *testing.T) {
	t.Parallel()
	// The day before Oslo's clocks go forward (2027-03-28, 02:00 → 03:00).
	a, c, u := signedInAt(t, models.RoleUser, time.Date(2027, 3, 27, 12, 0, 0, 0, time.UTC))
	b := execBot(t, a, u, "scheduled", models.BotActive)
	tab := "/bots/" + b.ID.String() + "?tab=triggers"
	create := "/bots/" + b.ID.String() + "/schedules"

	// Clear errors, with what was typed kept.
	r := c.Post(create, scheduleFormValues("30 2 * *", "Europe/Oslo", `{}`))
	require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode, r.Body)
	d := r.Doc(t)
	form := d.Find(`form[data-testid="schedule-form"]`)
	require.Contains(t, form.Find(`[data-testid="error-cron_expr"]`).Text(), "Is not a valid cron expression")
	require.Contains(t, form.Find(`[data-testid="error-cron_expr"]`).Text(), "exactly 5 fields")
	require.Equal(t, "30 2 * *", form.Find(`[data-testid="input-cron_expr"]`).AttrOr("value", ""))

	r = c.Post(create, scheduleFormValues("30 2 * * *", "Europe/Olso", `{}`))
	require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
	require.Contains(t, r.Doc(t).Find(`form[data-testid="schedule-form"] [data-testid="error-time_zone"]`).Text(), `Unknown time zone: "Europe/Olso" is not a known time zone`)

	r = c.Post(create, scheduleFormValues("30 2 * * *", "Europe/Oslo", "{\n  \"a\": 1,\n}"))
	require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
	d = r.Doc(t)
	require.Contains(t, d.Find(`form[data-testid="schedule-form"] [data-testid="error-input"]`).Text(), "not valid JSON")
	require.Contains(t, d.Find(`form[data-testid="schedule-form"] [data-testid="error-input"]`).Text(), "line 3")
	require.Contains(t, d.Find(`form[data-testid="schedule-form"] [data-testid="input-input"]`).Text(), `"a": 1,`)

	r = c.Post(create, scheduleFormValues("@every 10s", "UTC", `{}`))
	require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
	require.Contains(t, r.Doc(t).Find(`[data-testid="error-cron_expr"]`).Text(), "@every is not supported")
	require.Zero(t, countRows(t, a, "bot_schedules", ""))
	require.Zero(t, countRows(t, a, "audit_logs", "action LIKE 'schedule.%'"))

	// A valid one: the tab lists it with its next three runs, on the Oslo
	// clock and in UTC — the first at 03:00 CEST, when 02:30 does not exist.
	r = c.Post(create, scheduleFormValues("30 2 * * *", "Europe/Oslo", `{"report": "nightly"}`))
	require.Equal(t, http.StatusSeeOther, r.StatusCode, r.Body)
	require.Equal(t, tab, r.Header.Get("Location"))
	d = c.Get(tab).Doc(t)
	require.Contains(t, d.Find(`[data-testid="flash"]`).Text(), "runs next Sun 28 Mar 2027 03:00 CEST")
	row := d.Find(`[data-testid="schedule-row"]`)
	require.Equal(t, 1, row.Length())
	require.Equal(t, "30 2 * * *", row.Find(`[data-testid="schedule-cron"]`).Text())
	require.Equal(t, "Europe/Oslo", row.Find(`[data-testid="schedule-tz"]`).Text())
	require.Equal(t, "nightly", row.Find(`[data-testid="schedule-description"]`).Text())
	require.JSONEq(t, `{"report":"nightly"}`, row.Find(`[data-testid="schedule-input"]`).Text())
	var runs []string
	row.Find(`[data-testid="schedule-next-run"]`).Each(func(_ int, s *goquery.Selection) { runs = append(runs, strings.Join(strings.Fields(s.Text()), " ")) })
	require.Equal(t, []string{
		"Sun 28 Mar 2027 03:00 CEST (2027-03-28 01:00 UTC)",
		"Mon 29 Mar 2027 02:30 CEST (2027-03-29 00:30 UTC)",
		"Tue 30 Mar 2027 02:30 CEST (2027-03-30 00:30 UTC)",
	}, runs)

	schedules, err := models.ListSchedules(bg, a.DB.Bun, b.ID)
	require.NoError(t, err)
	require.Len(t, schedules, 1)
	sPath := create + "/" + schedules[0].ID.String()

	// Editing: bad values come back in that schedule's open edit form.
	r = c.Post(sPath, url.Values{"cron_expr": {"0 9 * * 1-5"}, "time_zone": {"Mars/Base"}, "input": {`{}`}, "description": {"x"}, "enabled": {"1"}})
	require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
	d = r.Doc(t)
	edit := d.Find(`[data-testid="schedule-edit"][open]`)
	require.Equal(t, 1, edit.Length())
	require.Contains(t, edit.Find(`[data-testid="error-time_zone"]`).Text(), "Mars/Base")
	require.Equal(t, "0 9 * * 1-5", edit.Find(`[data-testid="input-cron_expr"]`).AttrOr("value", ""))
	require.Zero(t, d.Find(`form[data-testid="schedule-form"] [data-testid="error-time_zone"]`).Length(), "the create form is untouched")

	r = c.Post(sPath, url.Values{"cron_expr": {"0 9 * * 1-5"}, "time_zone": {"America/New_York"}, "input": {`{"report":"weekday"}`}, "description": {"mornings"}, "enabled": {"1"}})
	require.Equal(t, http.StatusSeeOther, r.StatusCode, r.Body)
	d = c.Get(tab).Doc(t)
	require.Contains(t, d.Find(`[data-testid="flash"]`).Text(), "runs next Mon 29 Mar 2027 09:00 EDT")
	require.Equal(t, "0 9 * * 1-5", d.Find(`[data-testid="schedule-cron"]`).Text())

	// The same values again: nothing changes, nothing is audited.
	r = c.Post(sPath, url.Values{"cron_expr": {"0 9 * * 1-5"}, "time_zone": {"America/New_York"}, "input": {` { "report" : "weekday" } `}, "description": {"mornings"}, "enabled": {"1"}})
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	require.Contains(t, c.Get(tab).Doc(t).Find(`[data-testid="flash"]`).Text(), "Nothing changed")

	// Disable and enable (the toggle posts only enabled).
	r = c.Post(sPath, url.Values{"enabled": {"0"}})
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	d = c.Get(tab).Doc(t)
	require.Equal(t, "disabled", d.Find(`[data-testid="schedule-state"]`).Text())
	require.Zero(t, d.Find(`[data-testid="schedule-next-run"]`).Length())
	require.Equal(t, "1", d.Find(`[data-testid="schedule-row"] form:has([data-testid="schedule-toggle"]) input[name="enabled"]`).AttrOr("value", ""))
	require.Equal(t, http.StatusSeeOther, c.Post(sPath, url.Values{"enabled": {"1"}}).StatusCode)
	got, err := models.ScheduleByID(bg, a.DB.Bun, b.ID, schedules[0].ID)
	require.NoError(t, err)
	require.True(t, got.Enabled)
	require.Equal(t, "mornings", got.Description, "a toggle leaves the other fields alone")
	require.NotNil(t, got.NextRunAt)

	r = c.Post(sPath+"/delete", nil)
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	require.Equal(t, 1, c.Get(tab).Doc(t).Find(`[data-testid="schedules-empty"]`).Length())

	for action, n := range map[string]int{"schedule.create": 1, "schedule.update": 3, "schedule.delete": 1} {
		require.Equal(t, n, countRows(t, a, "audit_logs", "action = ?", action), action)
	}
}

func TestSchedulePreview(t *testing.T) {
	t.Parallel()
	a, c, _ := signedInAt(t, models.RoleViewer, time.Date(2027, 10, 30, 12, 0, 0, 0, time.UTC))
	owner := testutil.CreateUser(t, a.DB, models.RoleUser)
	b := execBot(t, a, owner, "previewed", models.BotActive)
	preview := "/bots/" + b.ID.String() + "/schedules/preview?"

	// Around Oslo's clocks going back (2027-10-31, 03:00 → 02:00), hourly
	// runs every real hour: 02:00 twice.
	r := accessGet(c, preview+url.Values{"cron_expr": {"0 * * * *"}, "time_zone": {"Europe/Oslo"}}.Encode(), hxHeaders(c))
	require.Equal(t, http.StatusOK, r.StatusCode, r.Body)
	require.NotContains(t, r.Body, "<html", "a fragment")
	require.Len(t, r.Doc(t).Find(`[data-testid="preview-run"]`).Nodes, 3)

	a.Clock.Advance(time.Date(2027, 10, 30, 22, 30, 0, 0, time.UTC).Sub(a.Clock.Now()))
	var runs []string
	accessGet(c, preview+url.Values{"cron_expr": {"0 * * * *"}, "time_zone": {"Europe/Oslo"}}.Encode(), hxHeaders(c)).Doc(t).
		Find(`[data-testid="preview-run"]`).Each(func(_ int, s *goquery.Selection) { runs = append(runs, strings.Join(strings.Fields(s.Text()), " ")) })
	require.Equal(t, []string{
		"Sun 31 Oct 2027 01:00 CEST (2027-10-30 23:00 UTC)",
		"Sun 31 Oct 2027 02:00 CEST (2027-10-31 00:00 UTC)",
		"Sun 31 Oct 2027 02:00 CET (2027-10-31 01:00 UTC)",
	}, runs)

	for q, want := range map[string]string{
		url.Values{"cron_expr": {"0 9 * *"}, "time_zone": {"UTC"}}.Encode():            "exactly 5 fields",
		url.Values{"cron_expr": {"0 9 * * *"}, "time_zone": {"Nowhere/Town"}}.Encode(): "Unknown time zone",
		url.Values{"cron_expr": {""}, "time_zone": {"UTC"}}.Encode():                   "Type a cron expression",
	} {
		r := accessGet(c, preview+q, hxHeaders(c))
		require.Equal(t, http.StatusOK, r.StatusCode)
		require.Contains(t, r.Doc(t).Find(`[data-testid="preview-problem"]`).Text(), want, q)
	}
}

// An archived bot gets no new triggers (its tab shows no forms; a stale
// or crafted post is refused with the reason).
func TestTriggersOfAnArchivedBot(t *testing.T) {
	t.Parallel()
	a, c, u := signedIn(t, models.RoleUser)
	b := execBot(t, a, u, "archived", models.BotActive)
	_, err := models.SetBotArchived(bg, a.DB.Bun, models.SystemActor("test"), b.ID, true)
	require.NoError(t, err)
	d := c.Get("/bots/" + b.ID.String() + "?tab=triggers").Doc(t)
	require.Zero(t, d.Find(`form[data-testid="schedule-form"]`).Length())
	require.Zero(t, d.Find(`form[data-testid="webhook-form"]`).Length())

	r := c.Post("/bots/"+b.ID.String()+"/schedules", scheduleFormValues("@daily", "UTC", `{}`))
	require.Equal(t, http.StatusConflict, r.StatusCode)
	require.Contains(t, r.Doc(t).Find(`[data-testid="error-page"]`).Text(), "restore it before adding triggers")
	r = c.Post("/bots/"+b.ID.String()+"/webhooks", url.Values{"description": {"x"}})
	require.Equal(t, http.StatusConflict, r.StatusCode)
	require.Zero(t, countRows(t, a, "bot_schedules", "")+countRows(t, a, "bot_webhooks", ""))

	// /hooks is a prefix of its own: /hooksfoo is an ordinary page path.
	require.Contains(t, c.Get("/hooksfoo").Header.Get("Content-Type"), "text/html")
}

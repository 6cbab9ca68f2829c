package models_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

func TestScheduleValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		s     models.Schedule
		field string
		want  string
	}{
		{models.Schedule{CronExpr: "every day", TimeZone: "UTC"}, "cron_expr", "is not a valid cron expression"},
		{models.Schedule{CronExpr: "0 9 * * *", TimeZone: "Europe/Olso"}, "time_zone", `"Europe/Olso" is not a known time zone`},
		{models.Schedule{CronExpr: "0 9 * * *", Input: json.RawMessage(`{"a":`)}, "input", "is not valid JSON"},
		{models.Schedule{CronExpr: "0 9 * * *", Input: json.RawMessage(`{} {}`)}, "input", "is not valid JSON"},
		{models.Schedule{CronExpr: "0 9 * * *", Input: json.RawMessage(`"` + strings.Repeat("x", 70<<10) + `"`)}, "input", "at most 64 KiB"},
		{models.Schedule{CronExpr: "0 9 * * *", Description: strings.Repeat("d", 201)}, "description", "at most 200"},
	}
	for _, tc := range cases {
		_, err := tc.s.Validate()
		var ve *models.ValidationError
		require.ErrorAs(t, err, &ve, "%+v", tc.s)
		require.Contains(t, ve.Fields[tc.field], tc.want, "%+v", tc.s)
	}
	ok := models.Schedule{CronExpr: " 0  9 * * 1-5 ", Input: json.RawMessage(" { \"b\": 1, \"a\": [1, 2] } ")}
	c, err := ok.Validate()
	require.NoError(t, err)
	require.NotNil(t, c)
	require.Equal(t, "0 9 * * 1-5", ok.CronExpr)
	require.Equal(t, "UTC", ok.TimeZone, "no time zone is UTC")
	require.JSONEq(t, `{"a":[1,2],"b":1}`, string(ok.Input))
	empty := models.Schedule{CronExpr: "@daily"}
	_, err = empty.Validate()
	require.NoError(t, err)
	require.Equal(t, `{}`, string(empty.Input), "no input is {}")
}

func TestScheduleLifecycle(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	actor := models.Actor{UserID: &owner.ID, Label: owner.Email}
	b, _ := createBot(t, db, owner, "scheduled", models.BotActive)
	at := time.Date(2025, 1, 10, 9, 0, 0, 0, time.UTC) // a Friday, 10:00 in Oslo

	s := &models.Schedule{BotID: b.ID, Description: "weekday mornings", CronExpr: "0 9 * * 1-5", TimeZone: "Europe/Oslo",
		Input: json.RawMessage(`{"report":"daily"}`), Enabled: true}
	require.NoError(t, models.CreateSchedule(ctx, db.Bun, actor, s, at))
	require.NotNil(t, s.NextRunAt)
	require.Equal(t, utc("2025-01-13T08:00:00Z"), s.NextRunAt.UTC(), "Monday 09:00 in Oslo")

	list, err := models.ListSchedules(ctx, db.Bun, b.ID)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.JSONEq(t, `{"report":"daily"}`, string(list[0].Input))
	require.Equal(t, utc("2025-01-13T08:00:00Z"), list[0].NextRunAt.UTC())
	// The due query sees it only once it is due.
	due, err := models.DueScheduleIDs(ctx, db.Bun, at, 10)
	require.NoError(t, err)
	require.Empty(t, due)
	due, err = models.DueScheduleIDs(ctx, db.Bun, utc("2025-01-13T08:00:00Z"), 10)
	require.NoError(t, err)
	require.Len(t, due, 1)

	// Disabling clears the next run; it is never due.
	off := false
	got, err := models.UpdateSchedule(ctx, db.Bun, actor, b.ID, s.ID, models.SchedulePatch{Enabled: &off}, at)
	require.NoError(t, err)
	require.Nil(t, got.NextRunAt)
	due, err = models.DueScheduleIDs(ctx, db.Bun, utc("2030-01-01T00:00:00Z"), 10)
	require.NoError(t, err)
	require.Empty(t, due)
	_, err = models.UpdateSchedule(ctx, db.Bun, actor, b.ID, s.ID, models.SchedulePatch{Enabled: &off}, at)
	require.ErrorIs(t, err, models.ErrUnchanged)
	// Re-enabling computes from now: ticks missed while disabled do not run.
	on, later := true, utc("2025-02-03T12:00:00Z")
	got, err = models.UpdateSchedule(ctx, db.Bun, actor, b.ID, s.ID, models.SchedulePatch{Enabled: &on}, later)
	require.NoError(t, err)
	require.Equal(t, utc("2025-02-04T08:00:00Z"), got.NextRunAt.UTC())

	// A new expression and zone move the next run; the same input in
	// another key order is no change.
	expr, tz, input := "30 6 * * *", "America/New_York", json.RawMessage(`{ "report" : "daily" }`)
	got, err = models.UpdateSchedule(ctx, db.Bun, actor, b.ID, s.ID, models.SchedulePatch{CronExpr: &expr, TimeZone: &tz, Input: &input}, later)
	require.NoError(t, err)
	require.Equal(t, utc("2025-02-04T11:30:00Z"), got.NextRunAt.UTC(), "06:30 in New York (EST)")
	_, err = models.UpdateSchedule(ctx, db.Bun, actor, b.ID, s.ID, models.SchedulePatch{Input: &input}, later)
	require.ErrorIs(t, err, models.ErrUnchanged)

	badExpr := "0 9 * *"
	_, err = models.UpdateSchedule(ctx, db.Bun, actor, b.ID, s.ID, models.SchedulePatch{CronExpr: &badExpr}, later)
	var ve *models.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Contains(t, ve.Fields["cron_expr"], "exactly 5 fields")

	other, _ := createBot(t, db, owner, "other", models.BotActive)
	_, err = models.ScheduleByID(ctx, db.Bun, other.ID, s.ID)
	require.ErrorIs(t, err, models.ErrNotFound)
	require.ErrorIs(t, models.DeleteSchedule(ctx, db.Bun, actor, other.ID, s.ID), models.ErrNotFound)
	require.NoError(t, models.DeleteSchedule(ctx, db.Bun, actor, b.ID, s.ID))
	_, err = models.ScheduleByID(ctx, db.Bun, b.ID, s.ID)
	require.ErrorIs(t, err, models.ErrNotFound)

	for action, n := range map[string]int{"schedule.create": 1, "schedule.update": 3, "schedule.delete": 1} {
		require.Equal(t, n, count(t, db, "audit_logs", "action = ? AND resource_id = ?", action, s.ID.String()), action)
	}
	_, err = models.VerifyAuditChain(ctx, db.Bun)
	require.NoError(t, err)
}

func TestScheduleLimitsAndArchivedBots(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	actor := models.Actor{UserID: &owner.ID, Label: owner.Email}
	b, _ := createBot(t, db, owner, "busy", models.BotActive)
	for range models.MaxSchedulesPerBot {
		require.NoError(t, models.CreateSchedule(ctx, db.Bun, actor, &models.Schedule{BotID: b.ID, CronExpr: "@hourly", Enabled: true}, time.Now()))
	}
	err := models.CreateSchedule(ctx, db.Bun, actor, &models.Schedule{BotID: b.ID, CronExpr: "@hourly"}, time.Now())
	var ve *models.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Contains(t, ve.Fields[""], "at most")

	archived, _ := createBot(t, db, owner, "archived", models.BotActive)
	_, err = models.SetBotArchived(ctx, db.Bun, actor, archived.ID, true)
	require.NoError(t, err)
	err = models.CreateSchedule(ctx, db.Bun, actor, &models.Schedule{BotID: archived.ID, CronExpr: "@hourly"}, time.Now())
	require.ErrorAs(t, err, &ve)
	require.Contains(t, ve.Fields, "archived")

	// Purging a bot takes its schedules (and their guard rows) with it.
	s := &models.Schedule{BotID: archived.ID, CronExpr: "@hourly"}
	_, err = models.SetBotArchived(ctx, db.Bun, actor, archived.ID, false)
	require.NoError(t, err)
	require.NoError(t, models.CreateSchedule(ctx, db.Bun, actor, s, time.Now()))
	_, err = models.SetBotArchived(ctx, db.Bun, actor, archived.ID, true)
	require.NoError(t, err)
	require.NoError(t, models.PurgeBot(ctx, db.Bun, actor, archived.ID))
	require.Zero(t, count(t, db, "bot_schedules", "bot_id = ?", archived.ID))
}

// The guard row alone keeps a tick from running twice: a second claim of
// the same (schedule, tick) gets nothing, in a later transaction or not.
func TestScheduleTickGuard(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	b, _ := createBot(t, db, owner, "guarded", models.BotActive)
	s := &models.Schedule{BotID: b.ID, CronExpr: "*/5 * * * *", Enabled: true}
	require.NoError(t, models.CreateSchedule(ctx, db.Bun, models.SystemActor("test"), s, time.Now()))
	tick := time.Date(2025, 6, 2, 12, 5, 0, 0, time.UTC)
	claim := func(at time.Time) bool {
		var got bool
		require.NoError(t, db.Bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			var err error
			got, err = models.ClaimScheduleTick(ctx, tx, s.ID, at)
			return err
		}))
		return got
	}
	require.True(t, claim(tick))
	require.False(t, claim(tick), "the same tick again")
	require.False(t, claim(tick.In(time.FixedZone("CEST", 2*3600))), "the same instant in another zone")
	require.True(t, claim(tick.Add(5*time.Minute)), "the next tick")
	runs, err := models.ScheduleRunsOf(ctx, db.Bun, s.ID)
	require.NoError(t, err)
	require.Len(t, runs, 2)

	// Old guard rows are pruned; the schedule itself stays.
	n, err := models.PruneScheduleRuns(ctx, db.Bun, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
	_, err = models.ScheduleByID(ctx, db.Bun, b.ID, s.ID)
	require.NoError(t, err)
}

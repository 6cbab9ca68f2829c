package runner_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/migrations"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
)

// newSchedule creates an enabled schedule of bot and makes it due at due
// (as if its time had come while no worker was up).
func newSchedule(t *testing.T, db *models.DB, botID uuid.UUID, expr string, due time.Time) *models.Schedule {
	t.Helper()
	ctx := context.Background()
	s := &models.Schedule{BotID: botID, CronExpr: expr, TimeZone: "Europe/Oslo", Input: json.RawMessage(`{"from":"schedule"}`), Enabled: true}
	require.NoError(t, models.CreateSchedule(ctx, db.Bun, models.SystemActor("test"), s, due.Add(-time.Minute)))
	due = due.UTC().Truncate(time.Microsecond)
	_, err := db.Bun.NewUpdate().Model(s).Set("next_run_at = ?", due).WherePK().Exec(ctx)
	require.NoError(t, err)
	s.NextRunAt = &due
	return s
}

func loadSchedule(t *testing.T, db *models.DB, s *models.Schedule) *models.Schedule {
	t.Helper()
	got, err := models.ScheduleByID(context.Background(), db.Bun, s.BotID, s.ID)
	require.NoError(t, err)
	return got
}

func scheduleExecutions(t *testing.T, db *models.DB, botID uuid.UUID) []models.Execution {
	t.Helper()
	var out []models.Execution
	require.NoError(t, db.Bun.NewSelect().Model(&out).Where("e.bot_id = ?", botID).Order("e.queued_at").Scan(context.Background()))
	return out
}

// Two engines, each with its own connections to one database (two worker
// processes), tick at the same moment from several goroutines each: every
// schedule's tick queues exactly one execution.
func TestScheduleTickRunsOncePerTickAcrossEngines(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	spec := testutil.NewDBSpec(t)
	db1 := testutil.OpenDB(t, spec)
	m, err := migrations.New(db1, nil)
	require.NoError(t, err)
	_, err = m.Up(ctx)
	require.NoError(t, err)
	db2 := testutil.OpenDB(t, spec)
	box := testBox(t)
	engines := []*runner.Engine{
		testutil.NewEngine(t, db1, box, testutil.EngineOptions{WorkerID: "one"}),
		testutil.NewEngine(t, db2, box, testutil.EngineOptions{WorkerID: "two"}),
	}

	b := newBot(t, db1, models.KindScript, scriptConfig(`function main(input) { return input }`, ""))
	at := time.Date(2025, 6, 2, 7, 0, 20, 0, time.UTC) // 09:00:20 in Oslo
	const n = 12
	var schedules []*models.Schedule
	for range n {
		schedules = append(schedules, newSchedule(t, db1, b.ID, "0 9 * * *", at.Add(-20*time.Second)))
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	queued := 0
	var errs []error
	for i := range 8 {
		eng := engines[i%2]
		wg.Go(func() {
			q, err := eng.RunDueSchedules(ctx, at)
			mu.Lock()
			defer mu.Unlock()
			queued += q
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	require.Empty(t, errs)
	require.Equal(t, n, queued, "the ticks together queued one execution per schedule")

	execs := scheduleExecutions(t, db1, b.ID)
	require.Len(t, execs, n)
	byID := map[uuid.UUID]bool{}
	for _, ex := range execs {
		require.Equal(t, models.TriggerSchedule, ex.Trigger)
		require.JSONEq(t, `{"from":"schedule"}`, string(ex.Input))
		require.Nil(t, ex.RequestedBy, "the system asked")
		byID[ex.ID] = true
	}
	for _, s := range schedules {
		runs, err := models.ScheduleRunsOf(ctx, db1.Bun, s.ID)
		require.NoError(t, err)
		require.Len(t, runs, 1)
		require.True(t, runs[0].TickTime.Equal(*s.NextRunAt), "recorded under its tick")
		require.NotNil(t, runs[0].ExecutionID)
		require.True(t, byID[*runs[0].ExecutionID])

		got := loadSchedule(t, db1, s)
		require.Equal(t, utcTime("2025-06-03T07:00:00Z"), got.NextRunAt.UTC(), "advanced to tomorrow 09:00 Oslo")
		require.Equal(t, *runs[0].ExecutionID, *got.LastExecutionID)
		require.Empty(t, got.LastError)
		require.Equal(t, 1, countRows(t, db1, "SELECT count(*) FROM audit_logs WHERE action = 'bot.execute' AND actor_label = ?", "schedule "+s.ID.String()))
	}

	// The next pass at the same moment finds nothing due.
	q, err := engines[1].RunDueSchedules(ctx, at)
	require.NoError(t, err)
	require.Zero(t, q)
}

// After downtime a schedule runs once, not once per missed tick, and then
// continues from its next time after now.
func TestScheduleCatchUpRunsOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testutil.NewDB(t)
	eng := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{})
	b := newBot(t, db, models.KindScript, scriptConfig(`function main() { return 1 }`, ""))
	at := time.Date(2025, 6, 2, 12, 1, 0, 0, time.UTC)
	missedSince := at.Add(-3 * time.Hour) // 36 ticks of */5 missed
	s := newSchedule(t, db, b.ID, "*/5 * * * *", missedSince)

	q, err := eng.RunDueSchedules(ctx, at)
	require.NoError(t, err)
	require.Equal(t, 1, q)
	require.Len(t, scheduleExecutions(t, db, b.ID), 1)
	runs, err := models.ScheduleRunsOf(ctx, db.Bun, s.ID)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.True(t, runs[0].TickTime.Equal(missedSince), "recorded under the first missed tick")
	got := loadSchedule(t, db, s)
	require.Equal(t, utcTime("2025-06-02T12:05:00Z"), got.NextRunAt.UTC())
	require.True(t, got.LastRunAt.Equal(at))

	q, err = eng.RunDueSchedules(ctx, at.Add(3*time.Minute))
	require.NoError(t, err)
	require.Zero(t, q, "nothing due before 12:05")
	q, err = eng.RunDueSchedules(ctx, at.Add(4*time.Minute))
	require.NoError(t, err)
	require.Equal(t, 1, q, "12:05 runs")
	require.Len(t, scheduleExecutions(t, db, b.ID), 2)
}

// A bot that may not run consumes the tick: nothing is queued, the reason
// is kept on the schedule, and the schedule moves on.
func TestScheduleOfABotThatMayNotRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testutil.NewDB(t)
	eng := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{})
	b := newBot(t, db, models.KindScript, scriptConfig(`function main() { return 1 }`, ""))
	at := time.Date(2025, 6, 2, 12, 0, 10, 0, time.UTC)
	s := newSchedule(t, db, b.ID, "0 * * * *", at.Add(-10*time.Second))
	_, err := models.UpdateBot(ctx, db.Bun, models.SystemActor("test"), b.ID, models.BotPatch{Name: b.Name, Status: models.BotInactive})
	require.NoError(t, err)

	q, err := eng.RunDueSchedules(ctx, at)
	require.NoError(t, err)
	require.Zero(t, q)
	require.Empty(t, scheduleExecutions(t, db, b.ID))
	got := loadSchedule(t, db, s)
	require.Contains(t, got.LastError, "inactive")
	require.Equal(t, utcTime("2025-06-02T13:00:00Z"), got.NextRunAt.UTC())
	runs, err := models.ScheduleRunsOf(ctx, db.Bun, s.ID)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Nil(t, runs[0].ExecutionID)

	// Active again: the next tick runs and clears the reason.
	_, err = models.UpdateBot(ctx, db.Bun, models.SystemActor("test"), b.ID, models.BotPatch{Name: b.Name, Status: models.BotActive})
	require.NoError(t, err)
	q, err = eng.RunDueSchedules(ctx, at.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, q)
	require.Empty(t, loadSchedule(t, db, s).LastError)
}

// The periodic job is wired into the engine: a started engine's River
// leader ticks at once, and the due schedule's execution runs.
func TestSchedulePeriodicJobRunsDueSchedules(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	ran := make(chan json.RawMessage, 4)
	run := func(_ context.Context, _ runner.Config, input json.RawMessage, _ map[string]string, _ runner.RunMeta) (*runner.Result, error) {
		ran <- input
		return &runner.Result{Output: json.RawMessage(`"ok"`)}, nil
	}
	b := newBot(t, db, models.KindScript, scriptConfig(`function main() { return 1 }`, ""))
	s := newSchedule(t, db, b.ID, "*/5 * * * *", time.Now().Add(-time.Minute))
	testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{Workers: 1, Run: run})

	select {
	case in := <-ran:
		require.JSONEq(t, `{"from":"schedule"}`, string(in))
	case <-time.After(30 * time.Second):
		t.Fatal("the schedule did not run within 30 s of the engine starting")
	}
	execs := scheduleExecutions(t, db, b.ID)
	require.Len(t, execs, 1)
	require.Equal(t, models.TriggerSchedule, execs[0].Trigger)
	waitFinal(t, db, execs[0].ID, 10*time.Second)
	got := loadSchedule(t, db, s)
	require.True(t, got.NextRunAt.After(time.Now()))
}

func utcTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

package runner

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/uptrace/bun"

	"github.com/codex32/codex32/models"
)

// ScheduleTickArgs is the periodic job that queues the executions of due
// schedules. River's leader (one worker process at a time) inserts it every
// scheduleTickEvery; any worker may work it, and two ticks working at once
// still queue each schedule's tick once (see runSchedule).
type ScheduleTickArgs struct{}

// Kind implements river.JobArgs.
func (ScheduleTickArgs) Kind() string { return "codex32.schedule_tick" }

const (
	// scheduleQueue is the tick's own queue (one slot per worker process),
	// so schedules fire on time even when every execution slot is busy.
	scheduleQueue = "codex32_schedules"
	// scheduleTickEvery is how often due schedules are looked for: a
	// schedule runs at most this much (plus job pickup) after its time.
	scheduleTickEvery = 15 * time.Second
	// scheduleTickOffset puts the ticks just after :00, :15, :30 and :45,
	// so the usual whole-minute schedules fire about a second late.
	scheduleTickOffset = time.Second
	scheduleBatch      = 100
	// scheduleRunsKept is how long the (schedule, tick) guard rows stay.
	scheduleRunsKept = 7 * 24 * time.Hour
)

type scheduleWorker struct {
	river.WorkerDefaults[ScheduleTickArgs]
	e *Engine
}

func (w *scheduleWorker) Work(ctx context.Context, _ *river.Job[ScheduleTickArgs]) error {
	_, err := w.e.RunDueSchedules(ctx, time.Now())
	return err
}

// Timeout: a tick only queues executions; it never waits for them.
func (w *scheduleWorker) Timeout(*river.Job[ScheduleTickArgs]) time.Duration { return 2 * time.Minute }

// addScheduleTick registers the tick's worker, queue and periodic job on
// the config of a client that works jobs (River runs periodic jobs on the
// elected leader only; web processes without workers never tick).
func addScheduleTick(cfg *river.Config, ws *river.Workers, e *Engine) {
	river.AddWorker(ws, &scheduleWorker{e: e})
	cfg.Queues[scheduleQueue] = river.QueueConfig{MaxWorkers: 1}
	tick := func() (river.JobArgs, *river.InsertOpts) {
		return ScheduleTickArgs{}, &river.InsertOpts{
			Queue: scheduleQueue,
			// A failed tick is not retried: the next one comes soon and
			// finds the same schedules still due.
			MaxAttempts: 1,
			// At most one tick waiting or running: a stalled queue does
			// not pile ticks up.
			UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
				rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
				rivertype.JobStateRetryable, rivertype.JobStateScheduled,
			}},
		}
	}
	cfg.PeriodicJobs = append(cfg.PeriodicJobs, river.NewPeriodicJob(
		alignedEvery{every: scheduleTickEvery, offset: scheduleTickOffset}, tick,
		// A newly elected leader ticks at once: schedules missed while no
		// worker was up run without waiting for the first interval.
		&river.PeriodicJobOpts{RunOnStart: true}))
}

// alignedEvery is a River schedule of wall-clock-aligned instants: every
// `every` (a divisor of a minute), `offset` after the boundary. A leader
// that fell behind skips to the next instant instead of catching up tick
// by tick.
type alignedEvery struct{ every, offset time.Duration }

func (a alignedEvery) Next(t time.Time) time.Time {
	if now := time.Now(); now.After(t) {
		t = now
	}
	n := t.Truncate(a.every).Add(a.offset)
	for !n.After(t) {
		n = n.Add(a.every)
	}
	return n
}

// RunDueSchedules queues an execution for every enabled schedule due at
// at, and advances each to its first run time after at. It returns how
// many executions it queued.
//
// Exactly once: each schedule is handled in its own transaction that locks
// the schedule row (Postgres), re-checks it is still due, inserts the
// (schedule_id, tick_time) guard row of schedule_runs — unique, so a second
// worker's insert does nothing and that worker moves on — queues the
// execution with RequestTx, and advances next_run_at. All of it commits or
// none of it does, so a crash in between leaves the tick due for the next
// pass.
//
// Catch-up: after downtime a schedule runs once, whatever number of its
// ticks were missed (the run is recorded under the first missed tick), and
// then continues from its first run time after at.
func (e *Engine) RunDueSchedules(ctx context.Context, at time.Time) (int, error) {
	queued := 0
	tried := map[uuid.UUID]bool{}
	var firstErr error
	for {
		ids, err := models.DueScheduleIDs(ctx, e.db, at, scheduleBatch)
		if err != nil {
			return queued, err
		}
		fresh := 0
		for _, id := range ids {
			if tried[id] {
				continue // failed earlier in this pass: left for the next
			}
			tried[id], fresh = true, fresh+1
			ok, err := e.runSchedule(ctx, id, at)
			if err != nil {
				if ctx.Err() != nil {
					return queued, ctx.Err()
				}
				e.log.Warn("schedule tick failed", "schedule", id, "err", err)
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			if ok {
				queued++
			}
		}
		if len(ids) < scheduleBatch || fresh == 0 {
			break
		}
	}
	if _, err := models.PruneScheduleRuns(ctx, e.db, at.Add(-scheduleRunsKept)); err != nil && firstErr == nil {
		firstErr = err
	}
	if queued > 0 {
		e.log.Info("scheduled executions queued", "count", queued)
	}
	return queued, firstErr
}

// runSchedule handles one due schedule in one transaction; it reports
// whether it queued an execution. A bot that may not run (archived,
// inactive…) consumes the tick and leaves the reason on the schedule.
func (e *Engine) runSchedule(ctx context.Context, id uuid.UUID, at time.Time) (bool, error) {
	queued := false
	ticked, missed := false, 0
	err := e.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		queued, ticked, missed = false, false, 0
		s, err := models.LockDueSchedule(ctx, tx, id, at)
		if errors.Is(err, models.ErrNotFound) {
			return nil // another worker got there first, or it was disabled
		}
		if err != nil {
			return err
		}
		tick := *s.NextRunAt
		claimed, err := models.ClaimScheduleTick(ctx, tx, s.ID, tick)
		if err != nil || !claimed {
			return err
		}
		o := models.TickOutcome{Tick: tick, At: at}
		c, err := s.Cron()
		if err != nil {
			// Saved valid, so only a vanished time zone gets here; the
			// zero Next disables the schedule with this reason.
			o.Error = "The schedule could not be read (" + err.Error() + ") and was disabled."
			return models.FinishScheduleTick(ctx, tx, s, o)
		}
		o.Next = c.Next(at)
		ticked = true
		// Ticks missed while nothing ran them (downtime): one run stands
		// for them all; the others are counted as missed.
		for t := c.Next(tick); t.Before(at) && !t.IsZero() && missed < maxCountedMisses; t = c.Next(t) {
			missed++
		}
		actor := models.SystemActor("schedule " + s.ID.String())
		ex, err := e.RequestTx(ctx, tx, actor, RunRequest{BotID: s.BotID, Input: s.Input, Trigger: models.TriggerSchedule})
		var se *models.StateError
		var ve *models.ValidationError
		switch {
		case err == nil:
			o.ExecutionID, queued = &ex.ID, true
		case errors.As(err, &se):
			o.Error = "Not run: " + se.Message
		case errors.As(err, &ve):
			o.Error = "Not run: " + ve.Error()
		default:
			return err
		}
		return models.FinishScheduleTick(ctx, tx, s, o)
	})
	if err != nil {
		return false, err
	}
	if ticked {
		if queued {
			e.cfg.Metrics.ScheduleTicks(1, missed)
		} else {
			e.cfg.Metrics.ScheduleTicks(0, missed+1) // the bot could not run
		}
	}
	return queued, nil
}

// maxCountedMisses bounds the count of ticks missed during one downtime.
const maxCountedMisses = 10000

package models

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// ScheduleRun records that a schedule's tick ran. Its primary key
// (schedule_id, tick_time) is what makes a tick run once however many
// workers look at it: the row is inserted in the transaction that queues
// the execution.
type ScheduleRun struct {
	bun.BaseModel `bun:"table:schedule_runs,alias:sr"`

	ScheduleID  uuid.UUID  `bun:"schedule_id,pk,type:uuid"`
	TickTime    time.Time  `bun:"tick_time,pk"`
	ExecutionID *uuid.UUID `bun:"execution_id,type:uuid"`
	CreatedAt   time.Time  `bun:"created_at,notnull"`
}

// DueScheduleIDs returns up to limit enabled schedules due at at, the most
// overdue first.
func DueScheduleIDs(ctx context.Context, db bun.IDB, at time.Time, limit int) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	err := db.NewSelect().Model((*Schedule)(nil)).Column("sch.id").
		Where("sch.enabled").Where("sch.next_run_at <= ?", at.UTC()).
		OrderExpr("sch.next_run_at, sch.id").Limit(int64(limit)).Scan(ctx, &ids)
	if err != nil {
		return nil, fmt.Errorf("schedules: due at %s: %w", at.UTC().Format(time.RFC3339), err)
	}
	return ids, nil
}

// LockDueSchedule loads schedule id inside tx if it is still enabled and
// due at at (a row lock on Postgres: a second worker waits, then finds it
// no longer due). Not due any more is ErrNotFound.
func LockDueSchedule(ctx context.Context, tx bun.Tx, id uuid.UUID, at time.Time) (*Schedule, error) {
	s := new(Schedule)
	q := tx.NewSelect().Model(s).Where("sch.id = ?", id).Where("sch.enabled").Where("sch.next_run_at <= ?", at.UTC())
	if err := forUpdate(tx, q).Scan(ctx); err != nil {
		return nil, fmt.Errorf("schedules: lock due %s: %w", id, mapErr(err))
	}
	return s, nil
}

// ClaimScheduleTick inserts the (schedule, tick) guard row inside tx and
// reports whether this transaction got it; false means another worker ran
// (or is running) that tick.
func ClaimScheduleTick(ctx context.Context, tx bun.Tx, scheduleID uuid.UUID, tick time.Time) (bool, error) {
	run := &ScheduleRun{ScheduleID: scheduleID, TickTime: tick.UTC().Truncate(time.Microsecond), CreatedAt: now()}
	res, err := tx.NewInsert().Model(run).On("CONFLICT DO NOTHING").Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("schedules: claim tick %s of %s: %w", run.TickTime.Format(time.RFC3339), scheduleID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("schedules: claim tick of %s: %w", scheduleID, err)
	}
	return n == 1, nil
}

// TickOutcome is what a due tick did.
type TickOutcome struct {
	Tick time.Time
	// Next is the next due time (zero: none in five years; the schedule
	// is then disabled).
	Next        time.Time
	ExecutionID *uuid.UUID
	// Error is why nothing was queued ("" when an execution was).
	Error string
	At    time.Time
}

// FinishScheduleTick records a claimed tick inside tx: the execution on
// the guard row, and on the schedule its outcome and next due time.
func FinishScheduleTick(ctx context.Context, tx bun.Tx, s *Schedule, o TickOutcome) error {
	tick := o.Tick.UTC().Truncate(time.Microsecond)
	if o.ExecutionID != nil {
		if _, err := tx.NewUpdate().Model((*ScheduleRun)(nil)).Set("execution_id = ?", *o.ExecutionID).
			Where("schedule_id = ?", s.ID).Where("tick_time = ?", tick).Exec(ctx); err != nil {
			return fmt.Errorf("schedules: record run of %s: %w", s.ID, err)
		}
	}
	at := o.At.UTC().Truncate(time.Microsecond)
	s.LastRunAt, s.LastError = &at, o.Error
	if o.ExecutionID != nil {
		s.LastExecutionID = o.ExecutionID
	}
	if o.Next.IsZero() {
		s.NextRunAt, s.Enabled = nil, false
		if s.LastError == "" {
			s.LastError = "The expression has no run time in the next five years; the schedule was disabled."
		}
	} else {
		n := o.Next.UTC().Truncate(time.Microsecond)
		s.NextRunAt = &n
	}
	if _, err := tx.NewUpdate().Model(s).Column("next_run_at", "enabled", "last_run_at", "last_execution_id", "last_error").
		WherePK().Exec(ctx); err != nil {
		return fmt.Errorf("schedules: advance %s: %w", s.ID, err)
	}
	return nil
}

// PruneScheduleRuns deletes guard rows created before cutoff. They only
// matter while their tick may still be looked at; the schedule's advanced
// next_run_at already keeps an old tick from running again.
func PruneScheduleRuns(ctx context.Context, db bun.IDB, cutoff time.Time) (int64, error) {
	res, err := db.NewDelete().Model((*ScheduleRun)(nil)).Where("created_at < ?", cutoff.UTC()).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("schedules: prune runs: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// ScheduleRunsOf lists the guard rows of a schedule, oldest first (tests
// and diagnostics).
func ScheduleRunsOf(ctx context.Context, db bun.IDB, scheduleID uuid.UUID) ([]*ScheduleRun, error) {
	var out []*ScheduleRun
	if err := db.NewSelect().Model(&out).Where("sr.schedule_id = ?", scheduleID).Order("sr.tick_time").Scan(ctx); err != nil {
		return nil, fmt.Errorf("schedules: runs of %s: %w", scheduleID, err)
	}
	return out, nil
}

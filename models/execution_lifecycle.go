package models

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/dialect/pgdialect"
)

// Claim asks to start attempt Attempt of execution ID.
type Claim struct {
	ID      uuid.UUID
	Attempt int
}

// ClaimExecutions marks the given executions running on workerID, each only
// if it is still queued, not cancelled, and waiting for exactly that attempt
// (so a duplicate job can never start the same attempt twice). It returns
// the executions it claimed, by id.
func ClaimExecutions(ctx context.Context, db bun.IDB, workerID string, claims []Claim) (map[uuid.UUID]*Execution, error) {
	byAttempt := map[int][]uuid.UUID{}
	for _, c := range claims {
		byAttempt[c.Attempt] = append(byAttempt[c.Attempt], c.ID)
	}
	out := make(map[uuid.UUID]*Execution, len(claims))
	at := now()
	for attempt, ids := range byAttempt {
		var rows []*Execution
		err := db.NewRaw(`UPDATE bot_executions SET status = 'running', attempt = ?, worker_id = ?, started_at = ?, retry_at = NULL
			WHERE id IN (?) AND status = 'queued' AND attempt = ? AND cancel_requested_at IS NULL
			RETURNING *`, attempt, workerID, at, bun.List(ids), attempt-1).Scan(ctx, &rows)
		if err != nil {
			return nil, fmt.Errorf("executions: claim %d on %s: %w", len(ids), workerID, err)
		}
		for _, e := range rows {
			out[e.ID] = e
		}
	}
	return out, nil
}

// Finish is the outcome of one attempt.
type Finish struct {
	ID       uuid.UUID
	WorkerID string
	Attempt  int
	// Status is terminal, or ExecQueued to try again at RetryAt (Requeue
	// gives the attempt back: the worker stopped before it could finish).
	Status  ExecStatus
	Requeue bool
	RetryAt time.Time
	Output  json.RawMessage
	Error   string
	Logs    string
	Started time.Time
	Ended   time.Time
	// BotID and Prior (the attempts recorded before this one) come from the
	// claim; when BotID is zero they are read from the row first.
	BotID uuid.UUID
	Prior []ExecAttempt
}

// FinishOptions configures FinishExecutions.
type FinishOptions struct {
	// ErrorAfterFailures turns an active bot's status to error after this
	// many consecutive failed executions (0 = never).
	ErrorAfterFailures int
	// Enqueue inserts the job for the next attempt inside tx.
	Enqueue func(ctx context.Context, tx bun.Tx, id uuid.UUID, attempt int, at time.Time) (int64, error)
}

// ErrNotHeld is returned for a Finish whose attempt the worker no longer
// holds (it was cancelled while queued, or recovered from a lost worker).
var ErrNotHeld = &StateError{Message: "this attempt is no longer held by the worker"}

// FinishExecutions records attempt outcomes in one transaction: each
// execution row (only if the worker still holds that attempt), the jobs of
// retries, and the bots' statistics, failure streaks and error statuses.
// It returns one error per item (nil, or ErrNotHeld).
func FinishExecutions(ctx context.Context, db bun.IDB, fs []Finish, opts FinishOptions) ([]error, error) {
	results := make([]error, len(fs))
	fs = slices.Clone(fs) // normalised below; the caller's slice stays as given
	for i := range fs {
		f := &fs[i]
		f.Started, f.Ended = f.Started.UTC().Truncate(time.Microsecond), f.Ended.UTC().Truncate(time.Microsecond)
		f.Logs, f.Error, f.Output = TextWithoutNUL(f.Logs), TextWithoutNUL(f.Error), WithoutNUL(f.Output)
	}
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		clear(results)
		stats := map[uuid.UUID]*botDelta{}
		count := func(f Finish, botID uuid.UUID) {
			if f.Status.Terminal() {
				d := stats[botID]
				if d == nil {
					d = &botDelta{}
					stats[botID] = d
				}
				d.add(f.Status, f.Ended.Sub(f.Started).Microseconds(), true, f.Ended)
			}
		}
		var bulk []int // terminal results of known bots: one UPDATE on Postgres
		for i := range fs {
			f := &fs[i]
			if tx.Dialect().Name() == dialect.PG && f.Status.Terminal() && f.BotID != uuid.Nil {
				bulk = append(bulk, i)
				continue
			}
			botID, held, err := finishOne(ctx, tx, *f, opts)
			if err != nil {
				return err
			}
			if !held {
				results[i] = ErrNotHeld
				continue
			}
			count(*f, botID)
		}
		if len(bulk) > 0 {
			held, err := finishTerminalPG(ctx, tx, fs, bulk)
			if err != nil {
				return err
			}
			for _, i := range bulk {
				if !held[fs[i].ID] {
					results[i] = ErrNotHeld
					continue
				}
				count(fs[i], fs[i].BotID)
			}
		}
		return applyBotDeltas(ctx, tx, stats, opts.ErrorAfterFailures)
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// attemptsJSON is the attempts column after f: the prior attempts and this one.
func attemptsJSON(prior []ExecAttempt, f Finish) (string, error) {
	status := string(f.Status)
	if f.Status == ExecQueued {
		status = "failed"
		if f.Requeue {
			status = "interrupted"
		}
	}
	ended := f.Ended
	all := append(slices.Clone(prior), ExecAttempt{N: f.Attempt, Worker: f.WorkerID, StartedAt: f.Started, EndedAt: &ended, Status: status, Error: f.Error})
	b, err := json.Marshal(all)
	return string(b), err
}

// finishTerminalPG records the terminal results fs[at...] in one UPDATE
// (Postgres: arrays unnested into rows), each only where the worker still
// holds that attempt. It returns the ids it updated.
func finishTerminalPG(ctx context.Context, tx bun.Tx, fs []Finish, at []int) (map[uuid.UUID]bool, error) {
	n := len(at)
	var (
		ids, workers, history, logs = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		errs, statuses, outputs     = make([]string, n), make([]string, n), make([]string, n)
		started, ended              = make([]string, n), make([]string, n)
		attempts                    = make([]int, n)
		durations                   = make([]float64, n)
	)
	for k, i := range at {
		f := fs[i]
		js, err := attemptsJSON(f.Prior, f)
		if err != nil {
			return nil, err
		}
		ids[k], workers[k], attempts[k], history[k] = f.ID.String(), f.WorkerID, f.Attempt, js
		logs[k], errs[k], statuses[k] = f.Logs, f.Error, string(f.Status)
		outputs[k] = string(f.Output) // "" stands for NULL: it is never valid JSON
		started[k], ended[k] = f.Started.Format(time.RFC3339Nano), f.Ended.Format(time.RFC3339Nano)
		durations[k] = *msFromUS(f.Ended.Sub(f.Started).Microseconds())
	}
	var done []uuid.UUID
	err := tx.NewRaw(`UPDATE bot_executions AS e SET
			attempts = v.attempts::jsonb, logs = v.logs, error = v.error, status = v.status,
			output = NULLIF(v.output, '')::jsonb, started_at = v.started_at, ended_at = v.ended_at, duration_ms = v.duration_ms
		FROM unnest(?::uuid[], ?::text[], ?::int[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::timestamptz[], ?::timestamptz[], ?::float8[])
			AS v(id, worker_id, attempt, attempts, logs, error, status, output, started_at, ended_at, duration_ms)
		WHERE e.id = v.id AND e.status = 'running' AND e.worker_id = v.worker_id AND e.attempt = v.attempt
		RETURNING e.id`,
		pgdialect.Array(ids), pgdialect.Array(workers), pgdialect.Array(attempts), pgdialect.Array(history), pgdialect.Array(logs),
		pgdialect.Array(errs), pgdialect.Array(statuses), pgdialect.Array(outputs), pgdialect.Array(started), pgdialect.Array(ended),
		pgdialect.Array(durations)).Scan(ctx, &done)
	if err != nil {
		return nil, fmt.Errorf("executions: finish %d: %w", n, err)
	}
	held := make(map[uuid.UUID]bool, len(done))
	for _, id := range done {
		held[id] = true
	}
	return held, nil
}

func finishOne(ctx context.Context, tx bun.Tx, f Finish, opts FinishOptions) (uuid.UUID, bool, error) {
	e := Execution{BotID: f.BotID, Attempts: slices.Clone(f.Prior)}
	if f.BotID == uuid.Nil {
		var cur []Execution
		err := tx.NewSelect().Model(&cur).Column("bot_id", "attempts").
			Where("e.id = ? AND e.status = 'running' AND e.worker_id = ? AND e.attempt = ?", f.ID, f.WorkerID, f.Attempt).
			Scan(ctx)
		if err != nil {
			return uuid.Nil, false, fmt.Errorf("executions: finish %s: %w", f.ID, err)
		}
		if len(cur) == 0 {
			return uuid.Nil, false, nil
		}
		e = cur[0]
	}
	started, ended := f.Started, f.Ended
	attempts, err := attemptsJSON(e.Attempts, f)
	if err != nil {
		return uuid.Nil, false, err
	}
	q := tx.NewUpdate().Model((*Execution)(nil)).
		Set("attempts = ?", attempts).
		Set("logs = ?", f.Logs).
		Set("error = ?", f.Error).
		Where("id = ? AND status = 'running' AND worker_id = ? AND attempt = ?", f.ID, f.WorkerID, f.Attempt)
	if f.Status.Terminal() {
		us := ended.Sub(started).Microseconds()
		var out any
		if len(f.Output) > 0 {
			out = string(f.Output)
		}
		q = q.Set("status = ?", f.Status).Set("output = ?", out).Set("started_at = ?", started).
			Set("ended_at = ?", ended).Set("duration_ms = ?", *msFromUS(us))
	} else {
		if opts.Enqueue == nil {
			return uuid.Nil, false, fmt.Errorf("executions: finish %s: a retry needs an Enqueue function", f.ID)
		}
		next, back := f.Attempt+1, f.Attempt
		if f.Requeue {
			next, back = f.Attempt, f.Attempt-1
		}
		at := f.RetryAt.UTC().Truncate(time.Microsecond)
		jobID, err := opts.Enqueue(ctx, tx, f.ID, next, at)
		if err != nil {
			return uuid.Nil, false, fmt.Errorf("executions: enqueue attempt %d of %s: %w", next, f.ID, err)
		}
		q = q.Set("status = 'queued'").Set("attempt = ?", back).Set("retry_at = ?", at).Set("job_id = ?", jobID).Set("worker_id = NULL")
	}
	res, err := q.Exec(ctx)
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("executions: finish %s: %w", f.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return uuid.Nil, false, nil
	}
	return e.BotID, true, nil
}

// botDelta is what a batch of finished executions adds to one bot.
type botDelta struct {
	total, ok, failed, timed, durUS int64
	last                            time.Time
	// streak is the failures since the batch's last success; reset tells
	// whether there was a success (which resets the stored streak).
	streak int
	reset  bool
}

func (d *botDelta) add(s ExecStatus, us int64, ran bool, ended time.Time) {
	d.total++
	switch s {
	case ExecSuccess:
		d.ok++
		d.streak, d.reset = 0, true
	case ExecFailed, ExecTimedOut:
		d.failed++
		d.streak++
	}
	if ran {
		d.timed++
		d.durUS += us
	}
	if ended.After(d.last) {
		d.last = ended
	}
}

type botAfter struct {
	Name                string    `bun:"name"`
	Status              BotStatus `bun:"status"`
	ConsecutiveFailures int       `bun:"consecutive_failures"`
}

// applyBotDeltas folds finished executions into the bots' statistics, in
// bot id order (so concurrent batches never deadlock), and moves a bot to
// or out of the error status, audited with the system as actor.
func applyBotDeltas(ctx context.Context, tx bun.Tx, deltas map[uuid.UUID]*botDelta, errorAfter int) error {
	ids := make([]uuid.UUID, 0, len(deltas))
	for id := range deltas {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	for _, id := range ids {
		d := deltas[id]
		var after []botAfter
		err := tx.NewRaw(`UPDATE bots SET
				total_executions = total_executions + ?,
				successful_executions = successful_executions + ?,
				failed_executions = failed_executions + ?,
				timed_executions = timed_executions + ?,
				total_duration_us = total_duration_us + ?,
				avg_duration_ms = CASE WHEN timed_executions + ? > 0 THEN (total_duration_us + ?) / 1000.0 / (timed_executions + ?) ELSE 0 END,
				last_executed_at = CASE WHEN last_executed_at IS NULL OR last_executed_at < ? THEN ? ELSE last_executed_at END,
				consecutive_failures = CASE WHEN ? THEN ? ELSE consecutive_failures + ? END
			WHERE id = ? RETURNING name, status, consecutive_failures`,
			d.total, d.ok, d.failed, d.timed, d.durUS, d.timed, d.durUS, d.timed, d.last, d.last,
			d.reset, d.streak, d.streak, id).Scan(ctx, &after)
		if err != nil {
			return fmt.Errorf("executions: statistics of bot %s: %w", id, err)
		}
		if len(after) == 0 {
			continue // purged meanwhile
		}
		a := after[0]
		switch {
		case errorAfter > 0 && a.Status == BotActive && a.ConsecutiveFailures >= errorAfter:
			if err := setBotStatusBySystem(ctx, tx, id, BotActive, BotError,
				fmt.Sprintf("%d consecutive failed executions", a.ConsecutiveFailures)); err != nil {
				return err
			}
		case a.Status == BotError && d.reset && (errorAfter == 0 || a.ConsecutiveFailures < errorAfter):
			if err := setBotStatusBySystem(ctx, tx, id, BotError, BotActive, "an execution succeeded"); err != nil {
				return err
			}
		}
	}
	return nil
}

func setBotStatusBySystem(ctx context.Context, tx bun.Tx, id uuid.UUID, from, to BotStatus, reason string) error {
	if _, err := tx.NewUpdate().Model((*Bot)(nil)).Set("status = ?", to).Set("updated_at = ?", now()).
		Where("id = ? AND status = ?", id, from).Exec(ctx); err != nil {
		return fmt.Errorf("executions: set status of bot %s: %w", id, err)
	}
	return WriteAudit(ctx, tx, SystemActor("system"), AuditEntry{
		Action: "bot.status", ResourceType: "bot", ResourceID: id.String(), BotID: &id,
		Old: map[string]any{"status": from}, New: map[string]any{"status": to, "reason": reason},
	})
}

// FinishExecution records a terminal result for an execution that no worker
// holds (imports, tools, tests), through the same path as the engine, so
// the bot's statistics stay exact.
func FinishExecution(ctx context.Context, db bun.IDB, id uuid.UUID, status ExecStatus, output json.RawMessage, errMsg string, started, ended time.Time) error {
	if !status.Terminal() {
		return fmt.Errorf("executions: finish %s: status %q is not terminal", id, status)
	}
	e, err := ExecutionByID(ctx, db, id)
	if err != nil {
		return err
	}
	if e.Final() {
		return &StateError{Message: fmt.Sprintf("executions: finish %s: already %s", id, e.Status)}
	}
	const direct = "direct"
	attempt := e.Attempt
	if e.Status == ExecQueued {
		attempt++
	}
	res, err := db.NewUpdate().Model((*Execution)(nil)).
		Set("status = 'running'").Set("worker_id = ?", direct).Set("attempt = ?", attempt).
		Where("id = ? AND status = ?", id, e.Status).Exec(ctx)
	if err != nil {
		return fmt.Errorf("executions: finish %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return &StateError{Message: fmt.Sprintf("executions: finish %s: changed meanwhile", id)}
	}
	errs, err := FinishExecutions(ctx, db, []Finish{{ID: id, WorkerID: direct, Attempt: attempt, Status: status,
		Output: output, Error: errMsg, Started: started, Ended: ended}}, FinishOptions{})
	if err != nil {
		return err
	}
	return errs[0]
}

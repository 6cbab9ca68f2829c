package models

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// RequestCancel cancels an execution: a queued one ends as cancelled at
// once; a running one is flagged and its worker interrupts it (the worker
// records the final status). Audited as execution.cancel.
func RequestCancel(ctx context.Context, db bun.IDB, actor Actor, id uuid.UUID) (*Execution, error) {
	var out *Execution
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		e := new(Execution)
		if err := forUpdate(tx, tx.NewSelect().Model(e).Where("e.id = ?", id)).Scan(ctx); err != nil {
			return fmt.Errorf("executions: cancel %s: %w", id, mapErr(err))
		}
		if e.Final() {
			return &StateError{Message: fmt.Sprintf("This execution already finished (%s).", e.Status)}
		}
		if e.CancelRequestedAt != nil {
			out = e
			return nil
		}
		t := now()
		old := e.Status
		e.CancelRequestedAt = &t
		q := tx.NewUpdate().Model(e).Column("cancel_requested_at")
		if e.Status == ExecQueued {
			e.Status, e.EndedAt, e.RetryAt = ExecCancelled, &t, nil
			e.Error = "Cancelled before it started."
			if actor.Label != "" {
				e.Error = fmt.Sprintf("Cancelled by %s before it started.", actor.Label)
			}
			q = tx.NewUpdate().Model(e).Column("cancel_requested_at", "status", "ended_at", "retry_at", "error")
		}
		if _, err := q.Where("status = ?", old).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("executions: cancel %s: %w", id, err)
		}
		if e.Status == ExecCancelled {
			d := &botDelta{}
			d.add(ExecCancelled, 0, false, t)
			if err := applyBotDeltas(ctx, tx, map[uuid.UUID]*botDelta{e.BotID: d}, 0); err != nil {
				return err
			}
		}
		out = e
		botID := e.BotID
		return WriteAudit(ctx, tx, actor, AuditEntry{
			Action: "execution.cancel", ResourceType: "execution", ResourceID: id.String(), BotID: &botID,
			Old: map[string]any{"status": old}, New: map[string]any{"status": e.Status, "cancel_requested": true},
		})
	})
	return out, err
}

// CancelRequested returns which of a worker's running executions were asked
// to stop.
func CancelRequested(ctx context.Context, db bun.IDB, workerID string) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	err := db.NewSelect().Model((*Execution)(nil)).Column("id").
		Where("status = 'running' AND worker_id = ? AND cancel_requested_at IS NOT NULL", workerID).
		Scan(ctx, &ids)
	if err != nil {
		return nil, fmt.Errorf("executions: cancel requests for %s: %w", workerID, err)
	}
	return ids, nil
}

// Worker is a worker process, known by its heartbeat.
type Worker struct {
	bun.BaseModel `bun:"table:codex32_workers,alias:w"`

	ID          string    `bun:"id,pk"`
	Hostname    string    `bun:"hostname,notnull"`
	PID         int       `bun:"pid,notnull"`
	StartedAt   time.Time `bun:"started_at,notnull"`
	HeartbeatAt time.Time `bun:"heartbeat_at,notnull"`
}

// Heartbeat records that a worker is alive (registering it the first time).
func Heartbeat(ctx context.Context, db bun.IDB, w *Worker) error {
	t := now()
	if w.StartedAt.IsZero() {
		w.StartedAt = t
	}
	w.HeartbeatAt = t
	_, err := db.NewInsert().Model(w).On("CONFLICT (id) DO UPDATE").Set("heartbeat_at = EXCLUDED.heartbeat_at").Exec(ctx)
	if err != nil {
		return fmt.Errorf("workers: heartbeat %s: %w", w.ID, err)
	}
	return nil
}

// RemoveWorker forgets a worker that stopped cleanly.
func RemoveWorker(ctx context.Context, db bun.IDB, id string) error {
	_, err := db.NewDelete().Model((*Worker)(nil)).Where("id = ?", id).Exec(ctx)
	return err
}

// LostExecutions returns running executions whose worker has not beaten
// since before: the process died (kill -9, power loss) mid-run. The asking
// worker's own executions are never lost (it is alive, if late).
func LostExecutions(ctx context.Context, db bun.IDB, self string, before time.Time, limit int) ([]Execution, error) {
	var rows []Execution
	err := db.NewSelect().Model(&rows).Column("id", "bot_id", "attempt", "max_attempts", "worker_id", "started_at").
		Where("e.status = 'running'").Where("(e.worker_id IS NULL OR e.worker_id <> ?)", self).
		Where("NOT EXISTS (SELECT 1 FROM codex32_workers w WHERE w.id = e.worker_id AND w.heartbeat_at >= ?)", before.UTC()).
		Limit(int64(limit)).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("executions: lost: %w", err)
	}
	return rows, nil
}

// PruneWorkers forgets workers that have not beaten since before and hold
// no running execution.
func PruneWorkers(ctx context.Context, db bun.IDB, before time.Time) error {
	_, err := db.NewDelete().Model((*Worker)(nil)).Where("heartbeat_at < ?", before.UTC()).
		Where("NOT EXISTS (SELECT 1 FROM bot_executions e WHERE e.status = 'running' AND e.worker_id = w.id)").Exec(ctx)
	return err
}

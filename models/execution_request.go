package models

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// StateError refuses an operation because of the state something is in (a
// bot that may not run, an execution that already finished); the message
// is shown to the user as is.
type StateError struct{ Message string }

func (e *StateError) Error() string { return e.Message }

// RunnableBot loads a bot and its active version for a new execution and
// refuses, with a clear message, bots that may not run.
func RunnableBot(ctx context.Context, db bun.IDB, botID uuid.UUID) (*Bot, *BotVersion, error) {
	b := new(Bot)
	if err := db.NewSelect().Model(b).Where("b.id = ?", botID).Scan(ctx); err != nil {
		return nil, nil, fmt.Errorf("executions: load bot %s: %w", botID, mapErr(err))
	}
	v, err := RunnableVersion(ctx, db, b)
	if err != nil {
		return nil, nil, err
	}
	return b, v, nil
}

// RunnableVersion is the version a run of b (as loaded) would use, or a
// StateError saying why b cannot run now.
func RunnableVersion(ctx context.Context, db bun.IDB, b *Bot) (*BotVersion, error) {
	switch {
	case b.ArchivedAt != nil:
		return nil, &StateError{Message: fmt.Sprintf("%q is archived; restore it before running it.", b.Name)}
	case b.Status == BotInactive:
		return nil, &StateError{Message: fmt.Sprintf("%q is inactive; set its status to active to run it.", b.Name)}
	case b.Status == BotMaintenance:
		return nil, &StateError{Message: fmt.Sprintf("%q is in maintenance; it cannot run until its status is active again.", b.Name)}
	case b.ActiveVersionID == nil:
		return nil, &StateError{Message: fmt.Sprintf("%q has no active version.", b.Name)}
	}
	return BotVersionByID(ctx, db, *b.ActiveVersionID)
}

// InsertRequestedExecution inserts a queued execution of version v and its
// bot.execute audit row inside tx; the caller enqueues the job in the same
// transaction, so a rollback leaves none of the three.
func InsertRequestedExecution(ctx context.Context, tx bun.Tx, actor Actor, v *BotVersion, e *Execution) error {
	e.BotID, e.VersionID, e.VersionNumber, e.Status, e.Attempt = v.BotID, &v.ID, v.Number, ExecQueued, 0
	if e.RequestedBy == nil {
		e.RequestedBy = actor.UserID
	}
	if err := CreateExecution(ctx, tx, e); err != nil {
		return err
	}
	botID := v.BotID
	return WriteAudit(ctx, tx, actor, AuditEntry{
		Action: "bot.execute", ResourceType: "execution", ResourceID: e.ID.String(), BotID: &botID,
		New: map[string]any{"version": v.Number, "trigger": e.Trigger, "max_attempts": e.MaxAttempts},
	})
}

// RequestedExecution is one execution of a batch request.
type RequestedExecution struct {
	Actor     Actor
	Version   *BotVersion
	Execution *Execution
}

// PrepareRequestedExecutions fills in what InsertRequestedExecutions would
// (ids, status, trigger, canonical input, queue time…), so that a caller can
// use the executions before inserting them. Calling it again is harmless.
func PrepareRequestedExecutions(rs []RequestedExecution) error {
	t := now()
	for _, r := range rs {
		e, v := r.Execution, r.Version
		e.BotID, e.VersionID, e.VersionNumber, e.Status, e.Attempt = v.BotID, &v.ID, v.Number, ExecQueued, 0
		if e.RequestedBy == nil {
			e.RequestedBy = r.Actor.UserID
		}
		if e.Trigger == "" {
			e.Trigger = TriggerManual
		}
		if !e.Trigger.Valid() {
			return &ValidationError{Fields: map[string]string{"trigger": fmt.Sprintf("must be one of %v", Triggers)}}
		}
		if len(e.Input) > 0 {
			canon, err := canonicalJSON(e.Input)
			if err != nil {
				return &ValidationError{Fields: map[string]string{"input": err.Error()}}
			}
			e.Input = canon
		}
		if e.ID == uuid.Nil {
			e.ID = NewID()
		}
		if e.MaxAttempts < 1 {
			e.MaxAttempts = 1
		}
		if e.QueuedAt.IsZero() {
			e.QueuedAt = t
		}
	}
	return nil
}

// InsertRequestedExecutions is InsertRequestedExecution for many at once:
// one INSERT for the executions and one for their audit rows.
func InsertRequestedExecutions(ctx context.Context, tx bun.Tx, rs []RequestedExecution) error {
	if len(rs) == 0 {
		return nil
	}
	if err := PrepareRequestedExecutions(rs); err != nil {
		return err
	}
	execs := make([]*Execution, len(rs))
	audits := make([]ActorEntry, len(rs))
	for i, r := range rs {
		e, v := r.Execution, r.Version
		execs[i] = e
		botID := v.BotID
		audits[i] = ActorEntry{Actor: r.Actor, Entry: AuditEntry{
			Action: "bot.execute", ResourceType: "execution", ResourceID: e.ID.String(), BotID: &botID,
			New: map[string]any{"version": v.Number, "trigger": e.Trigger, "max_attempts": e.MaxAttempts},
		}}
	}
	if _, err := tx.NewInsert().Model(&execs).Exec(ctx); err != nil {
		return fmt.Errorf("executions: create %d: %w", len(execs), mapErr(err))
	}
	return WriteAudits(ctx, tx, audits)
}

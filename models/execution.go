package models

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Execution is one run of a bot version with some input.
type Execution struct {
	bun.BaseModel `bun:"table:bot_executions,alias:e"`

	ID          uuid.UUID       `bun:"id,pk,type:uuid"`
	BotID       uuid.UUID       `bun:"bot_id,notnull,type:uuid"`
	VersionID   *uuid.UUID      `bun:"version_id,type:uuid"`
	Status      ExecStatus      `bun:"status,notnull"`
	Trigger     Trigger         `bun:"trigger_kind,notnull"`
	Input       json.RawMessage `bun:"input,type:jsonb"`
	Output      json.RawMessage `bun:"output,type:jsonb"`
	Error       string          `bun:"error,notnull"`
	Logs        string          `bun:"logs,notnull"`
	Attempt     int             `bun:"attempt,notnull"`
	QueuedAt    time.Time       `bun:"queued_at,notnull"`
	StartedAt   *time.Time      `bun:"started_at"`
	EndedAt     *time.Time      `bun:"ended_at"`
	DurationMS  *float64        `bun:"duration_ms"`
	RequestedBy *uuid.UUID      `bun:"requested_by,type:uuid"`
	JobID       *int64          `bun:"job_id"`
}

// CreateExecution inserts a queued execution. Callers that enqueue a job do
// it in the same transaction (tx may be a bun.Tx).
func CreateExecution(ctx context.Context, db bun.IDB, e *Execution) error {
	if e.Trigger == "" {
		e.Trigger = TriggerManual
	}
	if !e.Trigger.Valid() {
		return &ValidationError{Fields: map[string]string{"trigger": fmt.Sprintf("must be one of %v", Triggers)}}
	}
	if e.Status == "" {
		e.Status = ExecQueued
	}
	if !e.Status.Valid() {
		return &ValidationError{Fields: map[string]string{"status": fmt.Sprintf("must be one of %v", ExecStatuses)}}
	}
	if len(e.Input) > 0 {
		canon, err := canonicalJSON(e.Input)
		if err != nil {
			return &ValidationError{Fields: map[string]string{"input": err.Error()}}
		}
		e.Input = canon
	}
	e.ID = NewID()
	if e.QueuedAt.IsZero() {
		e.QueuedAt = now()
	}
	if _, err := db.NewInsert().Model(e).Exec(ctx); err != nil {
		return fmt.Errorf("executions: create for bot %s: %w", e.BotID, mapErr(err))
	}
	return nil
}

// ExecutionByID loads one execution.
func ExecutionByID(ctx context.Context, db bun.IDB, id uuid.UUID) (*Execution, error) {
	e := new(Execution)
	if err := db.NewSelect().Model(e).Where("e.id = ?", id).Scan(ctx); err != nil {
		return nil, fmt.Errorf("executions: load %s: %w", id, mapErr(err))
	}
	return e, nil
}

// FinishExecution records a terminal result and folds it into the bot's
// statistics (counts, running average duration, last run) atomically.
func FinishExecution(ctx context.Context, db bun.IDB, id uuid.UUID, status ExecStatus, output json.RawMessage, errMsg string, started, ended time.Time) error {
	if !status.Terminal() {
		return fmt.Errorf("executions: finish %s: status %q is not terminal", id, status)
	}
	started, ended = started.UTC().Truncate(time.Microsecond), ended.UTC().Truncate(time.Microsecond)
	dur := float64(ended.Sub(started).Microseconds()) / 1000
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		e, err := ExecutionByID(ctx, tx, id)
		if err != nil {
			return err
		}
		if e.Status.Terminal() {
			return fmt.Errorf("executions: finish %s: already %s", id, e.Status)
		}
		e.Status, e.Output, e.Error, e.StartedAt, e.EndedAt, e.DurationMS = status, output, errMsg, &started, &ended, &dur
		if _, err := tx.NewUpdate().Model(e).Column("status", "output", "error", "started_at", "ended_at", "duration_ms").WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("executions: finish %s: %w", id, err)
		}
		ok, failed := 0, 0
		if status == ExecSuccess {
			ok = 1
		} else {
			failed = 1
		}
		_, err = tx.NewUpdate().Model((*Bot)(nil)).
			Set("avg_duration_ms = (avg_duration_ms * total_executions + ?) / (total_executions + 1)", dur).
			Set("total_executions = total_executions + 1").
			Set("successful_executions = successful_executions + ?", ok).
			Set("failed_executions = failed_executions + ?", failed).
			Set("last_executed_at = ?", ended).
			Where("id = ?", e.BotID).Exec(ctx)
		if err != nil {
			return fmt.Errorf("executions: update stats of bot %s: %w", e.BotID, err)
		}
		return nil
	})
}

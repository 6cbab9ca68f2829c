package models

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Execution is one run of a bot version with some input. It moves
// queued → running → success | failed | cancelled | timed_out; a failed
// attempt with attempts left goes back to queued with RetryAt set.
type Execution struct {
	bun.BaseModel `bun:"table:bot_executions,alias:e"`

	ID                uuid.UUID       `bun:"id,pk,type:uuid"`
	BotID             uuid.UUID       `bun:"bot_id,notnull,type:uuid"`
	VersionID         *uuid.UUID      `bun:"version_id,type:uuid"`
	Status            ExecStatus      `bun:"status,notnull"`
	Trigger           Trigger         `bun:"trigger_kind,notnull"`
	Input             json.RawMessage `bun:"input,type:jsonb"`
	Output            json.RawMessage `bun:"output,type:jsonb"`
	Error             string          `bun:"error,notnull"`
	Logs              string          `bun:"logs,notnull"`
	Attempt           int             `bun:"attempt,notnull"`
	MaxAttempts       int             `bun:"max_attempts,notnull"`
	Attempts          []ExecAttempt   `bun:"attempts,type:jsonb"`
	QueuedAt          time.Time       `bun:"queued_at,notnull"`
	StartedAt         *time.Time      `bun:"started_at"`
	EndedAt           *time.Time      `bun:"ended_at"`
	DurationMS        *float64        `bun:"duration_ms"`
	RequestedBy       *uuid.UUID      `bun:"requested_by,type:uuid"`
	JobID             *int64          `bun:"job_id"`
	CancelRequestedAt *time.Time      `bun:"cancel_requested_at"`
	WorkerID          *string         `bun:"worker_id"`
	RetryAt           *time.Time      `bun:"retry_at"`
	// TraceID is the OpenTelemetry trace (32 hex digits) of the request
	// that queued the execution; "" when tracing was off.
	TraceID string `bun:"trace_id,nullzero"`

	// VersionNumber is the number of VersionID, set when the execution is
	// requested (not stored: the version row has it).
	VersionNumber int `bun:"-"`
	// BotName is the bot's name when the execution was requested (not
	// stored either).
	BotName string `bun:"-"`
}

// ExecAttempt is the record of one attempt, kept on the execution.
type ExecAttempt struct {
	N         int        `json:"n"`
	Worker    string     `json:"worker,omitempty"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	Status    string     `json:"status"`
	Error     string     `json:"error,omitempty"`
}

// Final reports whether the execution will not change any more.
func (e *Execution) Final() bool { return e.Status.Terminal() }

// CreateExecution inserts an execution row as is (after validating its
// trigger, status and input). The engine's RequestExecution is what runs a
// bot; this is for imports, seeds and tests.
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
	if e.ID == uuid.Nil {
		e.ID = NewID()
	}
	if e.MaxAttempts < 1 {
		e.MaxAttempts = 1
	}
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

// LastInput returns the input of a bot's newest execution (nil when it has
// none), to prefill the Run form.
func LastInput(ctx context.Context, db bun.IDB, botID uuid.UUID) (json.RawMessage, error) {
	var rows []Execution
	err := db.NewSelect().Model(&rows).Column("input").Where("e.bot_id = ?", botID).
		OrderExpr("e.queued_at DESC, e.id DESC").Limit(1).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("executions: last input of bot %s: %w", botID, err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return rows[0].Input, nil
}

func msFromUS(us int64) *float64 {
	ms := float64(us) / 1000
	return &ms
}

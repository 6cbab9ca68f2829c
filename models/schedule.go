package models

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Schedule runs its bot with a fixed input at the times of a cron
// expression read in a time zone (see Cron for daylight saving time).
// NextRunAt is the next due time in UTC, nil while disabled.
type Schedule struct {
	bun.BaseModel `bun:"table:bot_schedules,alias:sch"`

	ID              uuid.UUID       `bun:"id,pk,type:uuid"`
	BotID           uuid.UUID       `bun:"bot_id,notnull,type:uuid"`
	Description     string          `bun:"description,notnull"`
	CronExpr        string          `bun:"cron_expr,notnull"`
	TimeZone        string          `bun:"time_zone,notnull"`
	Input           json.RawMessage `bun:"input,type:jsonb,notnull"`
	Enabled         bool            `bun:"enabled,notnull"`
	NextRunAt       *time.Time      `bun:"next_run_at"`
	LastRunAt       *time.Time      `bun:"last_run_at"`
	LastExecutionID *uuid.UUID      `bun:"last_execution_id,type:uuid"`
	// LastError is why the last due tick queued nothing (the bot could not
	// run); "" after a tick that queued an execution.
	LastError string     `bun:"last_error,notnull"`
	CreatedBy *uuid.UUID `bun:"created_by,type:uuid"`
	CreatedAt time.Time  `bun:"created_at,notnull"`
	UpdatedAt time.Time  `bun:"updated_at,notnull"`
}

// Schedule limits.
const (
	MaxSchedulesPerBot    = 20
	MaxScheduleInputBytes = 64 << 10
)

// Validate normalises and checks the fields a caller sets, and returns the
// parsed cron expression.
func (s *Schedule) Validate() (*Cron, error) {
	errs := fieldErrors{}
	s.Description = strings.TrimSpace(s.Description)
	s.CronExpr = strings.Join(strings.Fields(s.CronExpr), " ")
	s.TimeZone = strings.TrimSpace(s.TimeZone)
	if s.TimeZone == "" {
		s.TimeZone = "UTC"
	}
	if len(s.Description) > 200 {
		errs["description"] = "must be at most 200 characters"
	}
	var c *Cron
	if _, err := LoadTimeZone(s.TimeZone); err != nil {
		errs["time_zone"] = err.Error()
	} else if c, err = ParseCron(s.CronExpr, s.TimeZone); err != nil {
		errs["cron_expr"] = err.Error()
	}
	if len(bytes.TrimSpace(s.Input)) == 0 {
		s.Input = json.RawMessage("{}")
	}
	switch canon, err := canonicalJSON(s.Input); {
	case len(s.Input) > MaxScheduleInputBytes:
		errs["input"] = fmt.Sprintf("must be at most %d KiB", MaxScheduleInputBytes>>10)
	case err != nil:
		errs["input"] = "is not valid JSON: " + strings.TrimPrefix(err.Error(), "invalid JSON: ")
	case HasNULEscape(canon):
		errs["input"] = msgJSONNUL
	case JSONTooDeep(canon) != "":
		errs["input"] = JSONTooDeep(canon)
	default:
		s.Input = canon
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// Cron parses the stored expression (validated when saved).
func (s *Schedule) Cron() (*Cron, error) { return ParseCron(s.CronExpr, s.TimeZone) }

// scheduleAudit is what the audit log keeps of a schedule.
func scheduleAudit(s *Schedule) map[string]any {
	input := s.Input
	if canon, err := canonicalJSON(s.Input); err == nil {
		input = canon // Postgres's jsonb orders keys its own way
	}
	return map[string]any{
		"bot_id": s.BotID, "description": s.Description, "cron_expr": s.CronExpr, "time_zone": s.TimeZone,
		"input": input, "enabled": s.Enabled,
	}
}

// nextRun is the first run after at, UTC and at the stored precision.
func nextRun(c *Cron, at time.Time) *time.Time {
	n := c.Next(at)
	if n.IsZero() {
		return nil
	}
	n = n.UTC().Truncate(time.Microsecond)
	return &n
}

// CreateSchedule adds a schedule to a bot, due next at the first run after
// at; audited as schedule.create.
func CreateSchedule(ctx context.Context, db bun.IDB, actor Actor, s *Schedule, at time.Time) error {
	c, err := s.Validate()
	if err != nil {
		return err
	}
	s.ID, s.CreatedBy = NewID(), actor.UserID
	s.CreatedAt = now()
	s.UpdatedAt = s.CreatedAt
	s.NextRunAt = nil
	if s.Enabled {
		if s.NextRunAt = nextRun(c, at); s.NextRunAt == nil {
			return &ValidationError{Fields: map[string]string{"cron_expr": "has no run time in the next five years"}}
		}
	}
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		b, err := lockBot(ctx, tx, s.BotID)
		if err != nil {
			return err
		}
		if b.ArchivedAt != nil {
			return ErrArchived
		}
		n, err := tx.NewSelect().Model((*Schedule)(nil)).Where("bot_id = ?", s.BotID).Count(ctx)
		if err != nil {
			return fmt.Errorf("schedules: count for bot %s: %w", s.BotID, err)
		}
		if n >= MaxSchedulesPerBot {
			return &ValidationError{Fields: map[string]string{"": fmt.Sprintf("a bot can have at most %d schedules; delete one first", MaxSchedulesPerBot)}}
		}
		if _, err := tx.NewInsert().Model(s).Exec(ctx); err != nil {
			return fmt.Errorf("schedules: create for bot %s: %w", s.BotID, mapErr(err))
		}
		botID := s.BotID
		return WriteAudit(ctx, tx, actor, AuditEntry{Action: "schedule.create", ResourceType: "schedule", ResourceID: s.ID.String(), BotID: &botID, New: scheduleAudit(s)})
	})
}

// ScheduleByID loads one schedule of a bot (another bot's is not found).
func ScheduleByID(ctx context.Context, db bun.IDB, botID, id uuid.UUID) (*Schedule, error) {
	s := new(Schedule)
	if err := db.NewSelect().Model(s).Where("sch.id = ?", id).Where("sch.bot_id = ?", botID).Scan(ctx); err != nil {
		return nil, fmt.Errorf("schedules: load %s: %w", id, mapErr(err))
	}
	return s, nil
}

// ListSchedules returns a bot's schedules, oldest first.
func ListSchedules(ctx context.Context, db bun.IDB, botID uuid.UUID) ([]*Schedule, error) {
	var out []*Schedule
	if err := db.NewSelect().Model(&out).Where("sch.bot_id = ?", botID).Order("sch.created_at", "sch.id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("schedules: list for bot %s: %w", botID, err)
	}
	return out, nil
}

// SchedulePatch is an update: nil fields are left as they are.
type SchedulePatch struct {
	Description *string
	CronExpr    *string
	TimeZone    *string
	Input       *json.RawMessage
	Enabled     *bool
}

// UpdateSchedule applies p at time at; audited as schedule.update. A new
// expression or time zone, or enabling, computes the next run from at, so
// ticks missed while disabled are not run. Nothing to change is
// ErrUnchanged (and no audit row).
func UpdateSchedule(ctx context.Context, db bun.IDB, actor Actor, botID, id uuid.UUID, p SchedulePatch, at time.Time) (*Schedule, error) {
	var out *Schedule
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		s := new(Schedule)
		q := tx.NewSelect().Model(s).Where("sch.id = ?", id).Where("sch.bot_id = ?", botID)
		if err := forUpdate(tx, q).Scan(ctx); err != nil {
			return fmt.Errorf("schedules: load %s: %w", id, mapErr(err))
		}
		old := scheduleAudit(s)
		wasEnabled, oldCron, oldTZ := s.Enabled, s.CronExpr, s.TimeZone
		if p.Description != nil {
			s.Description = *p.Description
		}
		if p.CronExpr != nil {
			s.CronExpr = *p.CronExpr
		}
		if p.TimeZone != nil {
			s.TimeZone = *p.TimeZone
		}
		if p.Input != nil {
			s.Input = *p.Input
		}
		if p.Enabled != nil {
			s.Enabled = *p.Enabled
		}
		c, err := s.Validate()
		if err != nil {
			return err
		}
		out = s
		nw := scheduleAudit(s)
		if equalViews(old, nw) {
			return ErrUnchanged
		}
		switch {
		case !s.Enabled:
			s.NextRunAt = nil
		case !wasEnabled || s.CronExpr != oldCron || s.TimeZone != oldTZ:
			if s.NextRunAt = nextRun(c, at); s.NextRunAt == nil {
				return &ValidationError{Fields: map[string]string{"cron_expr": "has no run time in the next five years"}}
			}
		}
		s.UpdatedAt = now()
		if _, err := tx.NewUpdate().Model(s).Column("description", "cron_expr", "time_zone", "input", "enabled", "next_run_at", "updated_at").
			WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("schedules: update %s: %w", id, err)
		}
		return WriteAudit(ctx, tx, actor, AuditEntry{Action: "schedule.update", ResourceType: "schedule", ResourceID: id.String(), BotID: &botID, Old: old, New: nw})
	})
	return out, err
}

// DeleteSchedule removes a schedule; audited as schedule.delete.
func DeleteSchedule(ctx context.Context, db bun.IDB, actor Actor, botID, id uuid.UUID) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		s := new(Schedule)
		q := tx.NewSelect().Model(s).Where("sch.id = ?", id).Where("sch.bot_id = ?", botID)
		if err := forUpdate(tx, q).Scan(ctx); err != nil {
			return fmt.Errorf("schedules: load %s: %w", id, mapErr(err))
		}
		if _, err := tx.NewDelete().Model(s).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("schedules: delete %s: %w", id, err)
		}
		return WriteAudit(ctx, tx, actor, AuditEntry{Action: "schedule.delete", ResourceType: "schedule", ResourceID: id.String(), BotID: &botID, Old: scheduleAudit(s)})
	})
}

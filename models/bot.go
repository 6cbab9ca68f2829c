package models

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Bot is a named, owned configuration of a known kind. Its config lives in
// immutable BotVersions; ActiveVersionID says which one runs.
type Bot struct {
	bun.BaseModel `bun:"table:bots,alias:b"`

	ID              uuid.UUID  `bun:"id,pk,type:uuid"`
	OwnerID         uuid.UUID  `bun:"owner_id,notnull,type:uuid"`
	Name            string     `bun:"name,notnull"`
	Description     string     `bun:"description,notnull"`
	Kind            BotKind    `bun:"kind,notnull"`
	Status          BotStatus  `bun:"status,notnull"`
	Tags            []string   `bun:"tags,type:jsonb,notnull"`
	ActiveVersionID *uuid.UUID `bun:"active_version_id,type:uuid"`

	TotalExecutions      int64      `bun:"total_executions,notnull"`
	SuccessfulExecutions int64      `bun:"successful_executions,notnull"`
	FailedExecutions     int64      `bun:"failed_executions,notnull"`
	AvgDurationMS        float64    `bun:"avg_duration_ms,notnull"`
	LastExecutedAt       *time.Time `bun:"last_executed_at"`
	// TotalDurationUS and TimedExecutions make AvgDurationMS exact: the sum
	// of the durations (whole microseconds) of the executions that ran.
	TotalDurationUS     int64 `bun:"total_duration_us,notnull"`
	TimedExecutions     int64 `bun:"timed_executions,notnull"`
	ConsecutiveFailures int   `bun:"consecutive_failures,notnull"`

	CreatedAt  time.Time  `bun:"created_at,notnull"`
	UpdatedAt  time.Time  `bun:"updated_at,notnull"`
	ArchivedAt *time.Time `bun:"archived_at"`

	Owner *User `bun:"rel:belongs-to,join:owner_id=id"`
}

// BotTag indexes bots by tag (bots.tags is the display copy; this table is
// what tag filters query, on both databases).
type BotTag struct {
	bun.BaseModel `bun:"table:bot_tags,alias:bt"`

	BotID uuid.UUID `bun:"bot_id,pk,type:uuid"`
	Tag   string    `bun:"tag,pk"`
}

const maxTags = 20

// Validate normalises and checks the fields a caller sets.
func (b *Bot) Validate() error {
	errs := fieldErrors{}
	b.Name = strings.TrimSpace(b.Name)
	b.Description = strings.TrimSpace(b.Description)
	if b.Name == "" {
		errs["name"] = "is required"
	} else if len(b.Name) > 100 {
		errs["name"] = "must be at most 100 characters"
	}
	if len(b.Description) > 1000 {
		errs["description"] = "must be at most 1000 characters"
	}
	if !b.Kind.Valid() {
		errs["kind"] = fmt.Sprintf("must be one of %v", BotKinds)
	}
	if b.Status == "" {
		b.Status = BotInactive
	}
	if !b.Status.Valid() {
		errs["status"] = fmt.Sprintf("must be one of %v", BotStatuses)
	}
	b.Tags = normaliseTags(b.Tags)
	if len(b.Tags) > maxTags {
		errs["tags"] = fmt.Sprintf("at most %d tags", maxTags)
	}
	for _, t := range b.Tags {
		if len(t) > 50 {
			errs["tags"] = "each tag must be at most 50 characters"
		}
	}
	return errs.err()
}

// normaliseTags lower-cases, trims, drops empties and duplicates, and sorts.
func normaliseTags(in []string) []string {
	out := make([]string, 0, len(in))
	for _, t := range in {
		t = strings.ToLower(strings.TrimSpace(t))
		if t != "" {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// metaView is what bot.update records: the fields that are not versioned.
func (b *Bot) metaView() map[string]any {
	return map[string]any{"name": b.Name, "description": b.Description, "status": b.Status, "tags": b.Tags}
}

func (b *Bot) auditView() map[string]any {
	return map[string]any{
		"owner_id": b.OwnerID, "name": b.Name, "description": b.Description, "kind": b.Kind,
		"status": b.Status, "tags": b.Tags, "active_version_id": b.ActiveVersionID,
	}
}

// CreateBot inserts b with its first version (config, changelog), makes that
// version active, and records the audit row, all in one transaction.
func CreateBot(ctx context.Context, db bun.IDB, actor Actor, b *Bot, config json.RawMessage, changelog string) (*BotVersion, error) {
	return createBot(ctx, db, actor, b, config, changelog, "bot.create")
}

func createBot(ctx context.Context, db bun.IDB, actor Actor, b *Bot, config json.RawMessage, changelog, action string) (*BotVersion, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	b.ID = NewID()
	b.CreatedAt = now()
	b.UpdatedAt = b.CreatedAt
	v, err := newBotVersion(b.ID, 1, b.Kind, actor.UserID, config, changelog)
	if err != nil {
		return nil, err
	}
	// The foreign key bots.active_version_id is deferred, so the bot can
	// point at its first version before that version's row exists.
	b.ActiveVersionID = &v.ID
	err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(b).Exec(ctx); err != nil {
			return fmt.Errorf("bots: create %q: %w", b.Name, mapErr(err))
		}
		if err := insertBotTags(ctx, tx, b.ID, b.Tags); err != nil {
			return err
		}
		if _, err := tx.NewInsert().Model(v).Exec(ctx); err != nil {
			return fmt.Errorf("bot versions: create %s v1: %w", b.ID, mapErr(err))
		}
		botID := b.ID
		return WriteAudit(ctx, tx, actor, AuditEntry{
			Action: action, ResourceType: "bot", ResourceID: b.ID.String(), BotID: &botID,
			New: map[string]any{"bot": b.auditView(), "version": v.Number, "content_hash": v.ContentHash, "config": v.Config},
		})
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// insertBotTags adds the tag index rows of a new bot.
func insertBotTags(ctx context.Context, tx bun.Tx, botID uuid.UUID, tags []string) error {
	if len(tags) == 0 {
		return nil
	}
	rows := make([]BotTag, len(tags))
	for i, t := range tags {
		rows[i] = BotTag{BotID: botID, Tag: t}
	}
	if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
		return fmt.Errorf("bots: set tags: %w", err)
	}
	return nil
}

// BotByID loads one bot.
func BotByID(ctx context.Context, db bun.IDB, id uuid.UUID) (*Bot, error) {
	b := new(Bot)
	if err := db.NewSelect().Model(b).Where("b.id = ?", id).Scan(ctx); err != nil {
		return nil, fmt.Errorf("bots: load %s: %w", id, mapErr(err))
	}
	return b, nil
}

// BotFilter narrows ListBots. Zero values mean "any".
type BotFilter struct {
	OwnerID         *uuid.UUID
	Status          BotStatus
	Tag             string
	IncludeArchived bool
	Limit           int // default 50, at most 500
}

// ListBots returns bots matching f, most recently updated first.
func ListBots(ctx context.Context, db bun.IDB, f BotFilter) ([]*Bot, error) {
	var bots []*Bot
	q := db.NewSelect().Model(&bots)
	if f.OwnerID != nil {
		q = q.Where("b.owner_id = ?", *f.OwnerID)
	}
	if f.Status != "" {
		q = q.Where("b.status = ?", f.Status)
	}
	if f.Tag != "" {
		q = q.Where("EXISTS (SELECT 1 FROM bot_tags AS bt WHERE bt.bot_id = b.id AND bt.tag = ?)", strings.ToLower(f.Tag))
	}
	if !f.IncludeArchived {
		q = q.Where("b.archived_at IS NULL")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	q = q.Order("b.updated_at DESC", "b.id DESC").Limit(int64(min(limit, 500)))
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("bots: list: %w", err)
	}
	return bots, nil
}

// CountBotsByStatus returns how many non-archived bots have each status
// (statuses with no bots are present with 0).
func CountBotsByStatus(ctx context.Context, db bun.IDB, ownerID *uuid.UUID) (map[BotStatus]int, error) {
	var rows []struct {
		Status BotStatus `bun:"status"`
		N      int       `bun:"n"`
	}
	q := db.NewSelect().Model((*Bot)(nil)).Column("b.status").ColumnExpr("count(*) AS n").
		Where("b.archived_at IS NULL").Group("b.status")
	if ownerID != nil {
		q = q.Where("b.owner_id = ?", *ownerID)
	}
	if err := q.Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("bots: count by status: %w", err)
	}
	out := make(map[BotStatus]int, len(BotStatuses))
	for _, s := range BotStatuses {
		out[s] = 0
	}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, nil
}

// NormaliseTags is tags as a bot stores them: lower-case, trimmed, sorted,
// without empties or repeats.
func NormaliseTags(tags []string) []string { return normaliseTags(tags) }

package models

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// AuditQuery filters the audit log. Zero values mean "any".
type AuditQuery struct {
	ActorID      *uuid.UUID
	Actor        string // matches the actor label (email), case-insensitive prefix
	Action       string // exact, or a prefix ending in "." or "*" (e.g. "bot.")
	ResourceType string
	ResourceID   string
	BotID        *uuid.UUID
	From, To     *time.Time // created_at in [From, To)
	Text         string     // anywhere in action, resource, actor, old/new values
	Before       int64      // keyset cursor: only rows with seq < Before
	Limit        int        // default 50, at most 500; <0 means no limit (exports)
}

func (q AuditQuery) apply(sq *bun.SelectQuery) *bun.SelectQuery {
	if q.ActorID != nil {
		sq = sq.Where("a.actor_user_id = ?", *q.ActorID)
	}
	if s := strings.TrimSpace(q.Actor); s != "" {
		sq = sq.Where("lower(a.actor_label) LIKE ? ESCAPE '\\'", escapeLike(strings.ToLower(s))+"%")
	}
	if s := strings.TrimSpace(q.Action); s != "" {
		if p, ok := strings.CutSuffix(s, "*"); ok {
			sq = sq.Where("a.action LIKE ? ESCAPE '\\'", escapeLike(p)+"%")
		} else if strings.HasSuffix(s, ".") {
			sq = sq.Where("a.action LIKE ? ESCAPE '\\'", escapeLike(s)+"%")
		} else {
			sq = sq.Where("a.action = ?", s)
		}
	}
	if q.ResourceType != "" {
		sq = sq.Where("a.resource_type = ?", q.ResourceType)
	}
	if q.ResourceID != "" {
		sq = sq.Where("a.resource_id = ?", q.ResourceID)
	}
	if q.BotID != nil {
		sq = sq.Where("a.bot_id = ?", *q.BotID)
	}
	if q.From != nil {
		sq = sq.Where("a.created_at >= ?", q.From.UTC())
	}
	if q.To != nil {
		sq = sq.Where("a.created_at < ?", q.To.UTC())
	}
	if s := strings.TrimSpace(q.Text); s != "" {
		like := "%" + escapeLike(strings.ToLower(s)) + "%"
		sq = sq.WhereGroup(" AND ", func(w *bun.SelectQuery) *bun.SelectQuery {
			return w.Where("lower(a.action) LIKE ? ESCAPE '\\'", like).
				WhereOr("lower(a.resource_id) LIKE ? ESCAPE '\\'", like).
				WhereOr("lower(a.actor_label) LIKE ? ESCAPE '\\'", like).
				WhereOr("lower(CAST(a.old_values AS TEXT)) LIKE ? ESCAPE '\\'", like).
				WhereOr("lower(CAST(a.new_values AS TEXT)) LIKE ? ESCAPE '\\'", like)
		})
	}
	return sq
}

// AuditPage is one page of audit rows, newest first.
type AuditPage struct {
	Rows []*AuditLog
	Next int64 // pass as Before for the next page; 0 on the last page
}

// QueryAudit returns a page of audit rows, newest first. Pages are keyset
// (seq) pages, so a page deep in a million rows costs what the first does.
func QueryAudit(ctx context.Context, db bun.IDB, q AuditQuery) (*AuditPage, error) {
	limit := q.Limit
	if limit == 0 {
		limit = 50
	}
	limit = min(limit, 500)
	var rows []*AuditLog
	sq := q.apply(db.NewSelect().Model(&rows))
	if q.Before > 0 {
		sq = sq.Where("a.seq < ?", q.Before)
	}
	if err := sq.Order("a.seq DESC").Limit(int64(limit + 1)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("audit: query: %w", err)
	}
	page := &AuditPage{Rows: rows}
	if len(rows) > limit {
		page.Rows = rows[:limit]
		page.Next = page.Rows[limit-1].Seq
	}
	return page, nil
}

// EachAudit streams every row matching q (newest first) to fn in batches,
// never holding more than one batch in memory (for exports).
func EachAudit(ctx context.Context, db bun.IDB, q AuditQuery, fn func(*AuditLog) error) error {
	q.Limit = 500
	for {
		page, err := QueryAudit(ctx, db, q)
		if err != nil {
			return err
		}
		for _, r := range page.Rows {
			if err := fn(r); err != nil {
				return err
			}
		}
		if page.Next == 0 {
			return nil
		}
		q.Before = page.Next
	}
}

// AuditBySeq loads one audit row.
func AuditBySeq(ctx context.Context, db bun.IDB, seq int64) (*AuditLog, error) {
	a := new(AuditLog)
	if err := db.NewSelect().Model(a).Where("a.seq = ?", seq).Scan(ctx); err != nil {
		return nil, fmt.Errorf("audit: load %d: %w", seq, mapErr(err))
	}
	return a, nil
}

// AuditHead returns the newest row (nil when the log is empty).
func AuditHead(ctx context.Context, db bun.IDB) (*AuditLog, error) {
	a := new(AuditLog)
	err := db.NewSelect().Model(a).Order("a.seq DESC").Limit(1).Scan(ctx)
	if err := mapErr(err); err != nil {
		if err == ErrNotFound { //nolint:errorlint // mapErr returns the sentinel itself
			return nil, nil
		}
		return nil, fmt.Errorf("audit: head: %w", err)
	}
	return a, nil
}

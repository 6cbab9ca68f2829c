package models

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// ExecutionQuery is the execution history's filters and page. Every filter
// is served by one of bot_executions' (x, queued_at DESC, id DESC) indexes.
type ExecutionQuery struct {
	// BotIDs keeps executions of these bots (none: every bot).
	BotIDs      []uuid.UUID
	Status      ExecStatus
	Trigger     Trigger
	RequestedBy *uuid.UUID
	// From and To bound queued_at: [From, To).
	From, To *time.Time
	After    string // cursor from the previous page's Next
	Limit    int    // default 25, at most 200
	// CountCap bounds the count (default ExecutionCountCap).
	CountCap int
}

// ExecutionCountCap is where the execution history stops counting.
const ExecutionCountCap = 1000

// ExecutionRow is an execution as the history lists it: no input, output
// or logs (up to a MiB each), plus the names the row shows.
type ExecutionRow struct {
	ID                uuid.UUID  `bun:"id"`
	BotID             uuid.UUID  `bun:"bot_id"`
	VersionID         *uuid.UUID `bun:"version_id"`
	Status            ExecStatus `bun:"status"`
	Trigger           Trigger    `bun:"trigger_kind"`
	Attempt           int        `bun:"attempt"`
	MaxAttempts       int        `bun:"max_attempts"`
	QueuedAt          time.Time  `bun:"queued_at"`
	StartedAt         *time.Time `bun:"started_at"`
	EndedAt           *time.Time `bun:"ended_at"`
	DurationMS        *float64   `bun:"duration_ms"`
	RequestedBy       *uuid.UUID `bun:"requested_by"`
	CancelRequestedAt *time.Time `bun:"cancel_requested_at"`
	RetryAt           *time.Time `bun:"retry_at"`

	BotName        string  `bun:"bot_name"`
	VersionNumber  *int    `bun:"version_number"`
	RequesterEmail *string `bun:"requester_email"`
	RequesterName  *string `bun:"requester_name"`
}

// Final reports whether the execution will not change any more.
func (r *ExecutionRow) Final() bool { return r.Status.Terminal() }

// ExecutionPage is one page of the history.
type ExecutionPage struct {
	Rows []*ExecutionRow
	// Total is the number of matching executions, counted up to CountCap;
	// TotalCapped says there are more.
	Total       int
	TotalCapped bool
	Next        string // cursor of the next page ("" on the last)
}

func (q ExecutionQuery) filter(sq *bun.SelectQuery) *bun.SelectQuery {
	switch len(q.BotIDs) {
	case 0:
	case 1:
		sq = sq.Where("e.bot_id = ?", q.BotIDs[0])
	default:
		sq = sq.Where("e.bot_id IN (?)", bun.List(q.BotIDs))
	}
	if q.Status != "" {
		sq = sq.Where("e.status = ?", q.Status)
	}
	if q.Trigger != "" {
		sq = sq.Where("e.trigger_kind = ?", q.Trigger)
	}
	if q.RequestedBy != nil {
		sq = sq.Where("e.requested_by = ?", *q.RequestedBy)
	}
	if q.From != nil {
		sq = sq.Where("e.queued_at >= ?", q.From.UTC())
	}
	if q.To != nil {
		sq = sq.Where("e.queued_at < ?", q.To.UTC())
	}
	return sq
}

// executionRowSelect selects ExecutionRow's columns (the joins included).
func executionRowSelect(db bun.IDB, rows *[]*ExecutionRow) *bun.SelectQuery {
	return db.NewSelect().Model(rows).
		ModelTableExpr("bot_executions AS e").
		ColumnExpr("e.id, e.bot_id, e.version_id, e.status, e.trigger_kind, e.attempt, e.max_attempts, e.queued_at").
		ColumnExpr("e.started_at, e.ended_at, e.duration_ms, e.requested_by, e.cancel_requested_at, e.retry_at").
		ColumnExpr("b.name AS bot_name, v.number AS version_number, u.email AS requester_email, u.name AS requester_name").
		Join("JOIN bots AS b ON b.id = e.bot_id").
		Join("LEFT JOIN bot_versions AS v ON v.id = e.version_id").
		Join("LEFT JOIN users AS u ON u.id = e.requested_by")
}

// QueryExecutions returns one page of executions, newest first. Pages are
// keyset-paginated on (queued_at, id), so page 2,000 costs what page 1 does.
func QueryExecutions(ctx context.Context, db bun.IDB, q ExecutionQuery) (*ExecutionPage, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 25
	}
	limit = min(limit, 200)
	after, err := decodeCursor(q.After)
	if err != nil {
		return nil, err
	}
	if after != nil && after.Time == nil {
		return nil, &ValidationError{Fields: map[string]string{"after": "is not a valid page cursor"}}
	}
	var rows []*ExecutionRow
	sq := q.filter(executionRowSelect(db, &rows))
	if after != nil {
		sq = sq.Where("(e.queued_at, e.id) < (?, ?)", after.Time.UTC(), after.ID)
	}
	if err := sq.OrderExpr("e.queued_at DESC, e.id DESC").Limit(int64(limit + 1)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("executions: query: %w", err)
	}
	page := &ExecutionPage{Rows: rows}
	if len(rows) > limit {
		page.Rows = rows[:limit]
		last := page.Rows[limit-1]
		t := last.QueuedAt
		page.Next = encodeCursor(cursor{ID: last.ID, Time: &t})
	}
	capAt := q.CountCap
	if capAt <= 0 {
		capAt = ExecutionCountCap
	}
	var total int
	inner := q.filter(db.NewSelect().ModelTableExpr("bot_executions AS e").ColumnExpr("1")).Limit(int64(capAt + 1))
	if err := db.NewSelect().TableExpr("(?) AS matching", inner).ColumnExpr("count(*)").Scan(ctx, &total); err != nil {
		return nil, fmt.Errorf("executions: count: %w", err)
	}
	page.Total, page.TotalCapped = min(total, capAt), total > capAt
	return page, nil
}

// ExecutionRowsByID loads the listed executions as history rows, newest
// first; ids that do not exist are left out. The history's live updates
// use it for the rows still in flight.
func ExecutionRowsByID(ctx context.Context, db bun.IDB, ids []uuid.UUID) ([]*ExecutionRow, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var rows []*ExecutionRow
	err := executionRowSelect(db, &rows).Where("e.id IN (?)", bun.List(ids)).
		OrderExpr("e.queued_at DESC, e.id DESC").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("executions: load %d rows: %w", len(ids), err)
	}
	return rows, nil
}

// BotIDsNamed returns the ids of up to limit bots (archived ones too) named
// name, ignoring case: the history's bot filter accepts a name.
func BotIDsNamed(ctx context.Context, db bun.IDB, name string, limit int) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	err := db.NewSelect().Model((*Bot)(nil)).Column("b.id").Where("lower(b.name) = lower(?)", name).
		OrderExpr("b.id").Limit(int64(limit)).Scan(ctx, &ids)
	if err != nil {
		return nil, fmt.Errorf("bots: ids named %q: %w", name, err)
	}
	return ids, nil
}

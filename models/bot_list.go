package models

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Bot list sort orders.
const (
	SortUpdated = "updated"
	SortName    = "name"
	SortLastRun = "last_run"
)

// BotQuery is the bot list's search, filters, sort and page.
type BotQuery struct {
	Search   string // in name and description, case-insensitive
	Status   BotStatus
	Kind     BotKind
	Tag      string
	OwnerID  *uuid.UUID
	Archived bool   // true: only archived bots; false: only live ones
	Sort     string // SortUpdated (default), SortName, SortLastRun
	After    string // cursor from the previous page's Next
	Limit    int    // default 25, at most 200
	// CountCap bounds the count (default CountCap).
	CountCap int
	// NoCount skips counting (Total stays 0): the API does not report it.
	NoCount bool
}

// BotRow is a bot with what the list shows beside it.
type BotRow struct {
	Bot           `bun:",extend"`
	OwnerEmail    string `bun:"owner_email"`
	OwnerName     string `bun:"owner_name"`
	ActiveVersion *int   `bun:"active_version"`
	// SortName is the database's lower(name): the name cursor must hold the
	// database's folding, not Go's (they differ outside ASCII).
	SortName string `bun:"sort_name"`
}

// SuccessRate is the share of finished executions that succeeded (0..1),
// or -1 when the bot has never run.
func (r *BotRow) SuccessRate() float64 {
	if r.TotalExecutions == 0 {
		return -1
	}
	return float64(r.SuccessfulExecutions) / float64(r.TotalExecutions)
}

// BotPage is one page of the list.
type BotPage struct {
	Rows []*BotRow
	// Total is the number of matching bots, counted up to CountCap; when
	// TotalCapped is set there are more (counting 100,000 rows on every
	// page view would cost more than the page).
	Total       int
	TotalCapped bool
	Next        string // cursor of the next page ("" on the last)
}

// CountCap is where the bot list stops counting.
const CountCap = 1000

// cursor is the sort key of the last row of a page.
type cursor struct {
	ID   uuid.UUID  `json:"i"`
	Time *time.Time `json:"t,omitempty"`
	Name string     `json:"n,omitempty"`
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (*cursor, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, &ValidationError{Fields: map[string]string{"after": "is not a valid page cursor"}}
	}
	c := new(cursor)
	if err := json.Unmarshal(b, c); err != nil {
		return nil, &ValidationError{Fields: map[string]string{"after": "is not a valid page cursor"}}
	}
	return c, nil
}

func (q BotQuery) filter(sq *bun.SelectQuery) *bun.SelectQuery {
	if s := strings.TrimSpace(q.Search); s != "" {
		like := "%" + escapeLike(strings.ToLower(s)) + "%"
		// One expression over name and description, so one trigram index
		// (Postgres) serves the search.
		sq = sq.Where("(lower(b.name) || ' ' || lower(b.description)) LIKE ? ESCAPE '\\'", like)
	}
	if q.Status != "" {
		sq = sq.Where("b.status = ?", q.Status)
	}
	if q.Kind != "" {
		sq = sq.Where("b.kind = ?", q.Kind)
	}
	if q.Tag != "" {
		sq = sq.Where("EXISTS (SELECT 1 FROM bot_tags AS bt WHERE bt.bot_id = b.id AND bt.tag = ?)", strings.ToLower(strings.TrimSpace(q.Tag)))
	}
	if q.OwnerID != nil {
		sq = sq.Where("b.owner_id = ?", *q.OwnerID)
	}
	if q.Archived {
		sq = sq.Where("b.archived_at IS NOT NULL")
	} else {
		sq = sq.Where("b.archived_at IS NULL")
	}
	return sq
}

// QueryBots returns one page of bots. Pages are keyset-paginated (the
// cursor holds the last row's sort key), so a page deep in the list costs
// the same as the first.
func QueryBots(ctx context.Context, db bun.IDB, q BotQuery) (*BotPage, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 25
	}
	limit = min(limit, 200)
	after, err := decodeCursor(q.After)
	if err != nil {
		return nil, err
	}
	var rows []*BotRow
	sq := db.NewSelect().Model(&rows).
		ColumnExpr("b.*").
		ColumnExpr("u.email AS owner_email, u.name AS owner_name, av.number AS active_version, lower(b.name) AS sort_name").
		Join("JOIN users AS u ON u.id = b.owner_id").
		Join("LEFT JOIN bot_versions AS av ON av.id = b.active_version_id")
	sq = q.filter(sq)
	switch q.Sort {
	case SortName:
		if after != nil {
			sq = sq.Where("(lower(b.name), b.id) > (?, ?)", after.Name, after.ID)
		}
		sq = sq.OrderExpr("lower(b.name) ASC, b.id ASC")
	case SortLastRun:
		if after != nil {
			if after.Time == nil {
				sq = sq.Where("b.last_executed_at IS NULL AND b.id < ?", after.ID)
			} else {
				sq = sq.Where("(b.last_executed_at < ? OR (b.last_executed_at = ? AND b.id < ?) OR b.last_executed_at IS NULL)", *after.Time, *after.Time, after.ID)
			}
		}
		sq = sq.OrderExpr("b.last_executed_at DESC NULLS LAST, b.id DESC")
	default:
		if after != nil && after.Time != nil {
			sq = sq.Where("(b.updated_at, b.id) < (?, ?)", *after.Time, after.ID)
		}
		sq = sq.OrderExpr("b.updated_at DESC, b.id DESC")
	}
	if err := sq.Limit(int64(limit + 1)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("bots: query: %w", err)
	}
	page := &BotPage{Rows: rows}
	if len(rows) > limit {
		page.Rows = rows[:limit]
		last := page.Rows[limit-1]
		c := cursor{ID: last.ID}
		switch q.Sort {
		case SortName:
			c.Name = last.SortName
		case SortLastRun:
			c.Time = last.LastExecutedAt
		default:
			t := last.UpdatedAt
			c.Time = &t
		}
		page.Next = encodeCursor(c)
	}
	if q.NoCount {
		return page, nil
	}
	capAt := q.CountCap
	if capAt <= 0 {
		capAt = CountCap
	}
	var total int
	inner := q.filter(db.NewSelect().Model((*Bot)(nil)).ColumnExpr("1")).Limit(int64(capAt + 1))
	if err := db.NewSelect().TableExpr("(?) AS matching", inner).ColumnExpr("count(*)").Scan(ctx, &total); err != nil {
		return nil, fmt.Errorf("bots: count: %w", err)
	}
	page.Total, page.TotalCapped = min(total, capAt), total > capAt
	return page, nil
}

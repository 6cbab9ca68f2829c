package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Status describes the database's schema relative to this binary.
type Status struct {
	Current, Latest           int
	Applied                   []AppliedMigration
	Pending                   []Migration
	RiverCurrent, RiverLatest int
}

// IsCurrent reports whether nothing is pending and nothing is newer.
func (s Status) IsCurrent() bool {
	return s.Current == s.Latest && len(s.Pending) == 0 && s.RiverCurrent == s.RiverLatest
}

// Status reads the version table and River's.
func (m *Migrator) Status(ctx context.Context) (Status, error) {
	st := Status{Latest: m.Latest(), RiverLatest: m.river.latest()}
	rows, err := m.db.SQL.QueryContext(ctx, "SELECT version, name, applied_at FROM "+versionTable+" ORDER BY version")
	if err != nil {
		if isMissingTable(err) {
			st.Pending = m.migs
			return st, m.fillRiver(ctx, &st)
		}
		return st, fmt.Errorf("migrations: read status: %w", err)
	}
	defer func() { _ = rows.Close() }()
	applied := map[int]bool{}
	for rows.Next() {
		var a AppliedMigration
		var at string
		if err := rows.Scan(&a.Version, &a.Name, &at); err != nil {
			return st, fmt.Errorf("migrations: read status: %w", err)
		}
		a.AppliedAt, _ = time.Parse(time.RFC3339Nano, at)
		st.Applied = append(st.Applied, a)
		st.Current = max(st.Current, a.Version)
		applied[a.Version] = true
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("migrations: read status: %w", err)
	}
	st.Pending = m.pending(applied)
	return st, m.fillRiver(ctx, &st)
}

// CurrentVersion returns the newest applied version of our schema.
func (m *Migrator) CurrentVersion(ctx context.Context) (int, error) {
	v, err := m.currentVersion(ctx, m.db.SQL)
	if err != nil && isMissingTable(err) {
		return 0, nil
	}
	return v, err
}

func (m *Migrator) fillRiver(ctx context.Context, st *Status) error {
	v, err := m.river.current(ctx)
	if err != nil {
		return err
	}
	st.RiverCurrent = v
	return nil
}

// Check returns nil when the schema is exactly what this binary expects, and
// otherwise an error that says why (used by /readyz and at serve start).
func (m *Migrator) Check(ctx context.Context) error {
	st, err := m.Status(ctx)
	if err != nil {
		return err
	}
	switch {
	case st.Current > st.Latest:
		return m.newerError(st.Current)
	case st.Current < st.Latest:
		return fmt.Errorf("schema is at version %d of %d: run codex32 migrate up", st.Current, st.Latest)
	case len(st.Pending) > 0: // a migration that landed after a newer one was applied
		return fmt.Errorf("schema is at version %d but %d older migrations are pending: run codex32 migrate up", st.Current, len(st.Pending))
	case st.RiverCurrent < st.RiverLatest:
		return fmt.Errorf("job queue schema is at version %d of %d: run codex32 migrate up", st.RiverCurrent, st.RiverLatest)
	case st.RiverCurrent > st.RiverLatest:
		return fmt.Errorf("%w: job queue schema is at version %d, this binary knows up to %d", ErrSchemaNewer, st.RiverCurrent, st.RiverLatest)
	}
	return nil
}

func isMissingTable(err error) bool {
	if errors.Is(err, sql.ErrNoRows) {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "no such table") || strings.Contains(msg, "42P01") || strings.Contains(msg, "does not exist")
}

package migrations

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"

	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/codex32/codex32/models"
)

// riverMigrator applies River's own schema through its database/sql drivers,
// which work on the *sql.DB both dialects share.
type riverMigrator struct {
	m *rivermigrate.Migrator[*sql.Tx]
}

func newRiverMigrator(db *models.DB, log *slog.Logger) (*riverMigrator, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// River logs every step at info; we log one summary line ourselves.
	cfg := &rivermigrate.Config{Logger: slog.New(minLevel{log.Handler(), slog.LevelWarn})}
	var (
		m   *rivermigrate.Migrator[*sql.Tx]
		err error
	)
	if db.Dialect == models.SQLite {
		m, err = rivermigrate.New(riversqlite.New(db.SQL), cfg)
	} else {
		m, err = rivermigrate.New(riverdatabasesql.New(db.SQL), cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("migrations: river: %w", err)
	}
	return &riverMigrator{m: m}, nil
}

func (r *riverMigrator) latest() int {
	all := r.m.AllVersions()
	return all[len(all)-1].Version
}

func (r *riverMigrator) current(ctx context.Context) (int, error) {
	vs, err := r.m.ExistingVersions(ctx)
	if err != nil {
		if isMissingTable(err) {
			return 0, nil
		}
		return 0, fmt.Errorf("migrations: river status: %w", err)
	}
	cur := 0
	for _, v := range vs {
		cur = max(cur, v.Version)
	}
	return cur, nil
}

func (r *riverMigrator) up(ctx context.Context) (int, error) {
	res, err := r.m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return 0, fmt.Errorf("migrations: river up: %w", err)
	}
	return len(res.Versions), nil
}

func (r *riverMigrator) downAll(ctx context.Context) error {
	if _, err := r.m.Migrate(ctx, rivermigrate.DirectionDown, &rivermigrate.MigrateOpts{TargetVersion: -1}); err != nil {
		return fmt.Errorf("migrations: river down: %w", err)
	}
	return nil
}

// minLevel drops records below a level.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.min}
}

func (h minLevel) WithGroup(n string) slog.Handler { return minLevel{h.Handler.WithGroup(n), h.min} }

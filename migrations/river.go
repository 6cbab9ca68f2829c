package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgconn"
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

// riverGINIndexes are River's GIN indexes on river_job (args, metadata).
var riverGINIndexes = []string{"river_job_args_index", "river_job_metadata_index"}

// tuneRiver turns off the pending list of River's GIN indexes on Postgres.
// Every job row is written three times (insert, running, completed), none
// of them HOT, so the lists filled within seconds under load, and whichever
// statement crossed gin_pending_list_limit merged 4 MB of entries on the
// spot: a request's job INSERT or River's completer stalled for up to
// 150 ms. Without the list each write updates the index directly, a small
// even cost (BENCHMARKS.md, JSON API under load). Idempotent; River's own
// migrations leave index options alone.
func tuneRiver(ctx context.Context, db *models.DB, log *slog.Logger) error {
	if db.Dialect != models.Postgres {
		return nil
	}
	for _, idx := range riverGINIndexes {
		var off bool
		err := db.SQL.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM unnest(c.reloptions) o WHERE o IN ('fastupdate=off', 'fastupdate=false'))
			FROM pg_class c WHERE c.oid = to_regclass($1)`, idx).Scan(&off)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && off) {
			continue
		}
		if err != nil {
			return fmt.Errorf("migrations: river index %s: %w", idx, err)
		}
		// The option takes an exclusive lock on the index: never queue job
		// writes behind it for long (older workers may be running); the
		// next start tries again.
		err = inTx(ctx, db.SQL, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, "SET LOCAL lock_timeout = '3s'"); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "ALTER INDEX "+idx+" SET (fastupdate = off)"); err != nil {
				return err
			}
			// Entries already in the pending list would stay there.
			_, err := tx.ExecContext(ctx, "SELECT gin_clean_pending_list($1::regclass)", idx)
			return err
		})
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available
			log.Warn("river index busy: its GIN pending list stays on until the next start", "index", idx)
			continue
		}
		if err != nil {
			return fmt.Errorf("migrations: river index %s: %w", idx, err)
		}
	}
	return nil
}

func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
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

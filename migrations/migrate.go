// Package migrations holds Codex-32's embedded schema migrations (one folder
// per dialect, same version numbers in both) and applies them, together with
// River's own migrations.
//
// We use a small migrator of our own rather than bun/migrate because each
// migration here runs in one transaction together with its version row (both
// Postgres and SQLite have transactional DDL), concurrent starts are
// serialised by a Postgres advisory lock that cannot outlive a crashed
// process, and "the database is newer than this binary" is a plain comparison.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/codex32/codex32/models"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Migration is one numbered schema change.
type Migration struct {
	Version int
	Name    string
	Up      string
	Down    string
}

// AppliedMigration is a row of the version table.
type AppliedMigration struct {
	Version   int
	Name      string
	AppliedAt time.Time
}

// ErrSchemaNewer means the database was migrated by a newer codex32.
var ErrSchemaNewer = errors.New("database schema is newer than this codex32 knows")

// versionTable records applied versions.
const versionTable = "codex32_schema_migrations"

// lockKey is the Postgres advisory lock that serialises migrators.
const lockKey = int64(0x636f6465783332) // "codex32"

var fileRE = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.(up|down)\.sql$`)

// Load returns the migrations for a dialect, in order, checking that every
// version has both an up and a down file.
func Load(dialect models.Dialect) ([]Migration, error) {
	dir := string(dialect)
	entries, err := fs.ReadDir(files, dir)
	if err != nil {
		return nil, fmt.Errorf("migrations: no migrations for %s: %w", dialect, err)
	}
	byVersion := map[int]*Migration{}
	for _, e := range entries {
		m := fileRE.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migrations: bad file name %s/%s", dir, e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		body, err := fs.ReadFile(files, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		mig := byVersion[v]
		if mig == nil {
			mig = &Migration{Version: v, Name: m[2]}
			byVersion[v] = mig
		}
		if m[3] == "up" {
			mig.Up = string(body)
		} else {
			mig.Down = string(body)
		}
	}
	out := make([]Migration, 0, len(byVersion))
	for _, m := range byVersion {
		if m.Up == "" || m.Down == "" {
			return nil, fmt.Errorf("migrations: %s %04d_%s needs both up and down files", dialect, m.Version, m.Name)
		}
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	// Versions are handed out to parallel branches ahead of time, so a
	// branch may hold 0010 before 0009 lands; what was applied is tracked
	// per version (pending = not applied), so a late 0009 still runs.
	if len(out) == 0 || out[0].Version < 1 {
		return nil, fmt.Errorf("migrations: %s versions start at 0001", dialect)
	}
	return out, nil
}

// Migrator applies migrations to one database.
type Migrator struct {
	db    *models.DB
	migs  []Migration
	river *riverMigrator
	log   *slog.Logger
}

// New prepares a migrator for db.
func New(db *models.DB, log *slog.Logger) (*Migrator, error) {
	migs, err := Load(db.Dialect)
	if err != nil {
		return nil, err
	}
	rm, err := newRiverMigrator(db, log)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Migrator{db: db, migs: migs, river: rm, log: log}, nil
}

// Latest is the newest version this binary knows.
func (m *Migrator) Latest() int { return m.migs[len(m.migs)-1].Version }

// Up applies every pending migration, ours then River's. It returns the
// versions it applied (empty when the schema was already current).
func (m *Migrator) Up(ctx context.Context) ([]Migration, error) {
	var done []Migration
	err := m.locked(ctx, func(conn *sql.Conn) error {
		applied, err := m.appliedVersions(ctx, conn)
		if err != nil {
			return err
		}
		if current := maxVersion(applied); current > m.Latest() {
			return m.newerError(current)
		}
		for _, mig := range m.pending(applied) {
			start := time.Now()
			if err := m.apply(ctx, conn, mig, true); err != nil {
				return err
			}
			m.log.Info("migration applied", "version", mig.Version, "name", mig.Name, "took", time.Since(start).Round(time.Millisecond))
			done = append(done, mig)
		}
		return nil
	}, func() error {
		n, err := m.river.up(ctx)
		if n > 0 {
			m.log.Info("river migrations applied", "count", n)
		}
		if err != nil {
			return err
		}
		return tuneRiver(ctx, m.db, m.log)
	})
	return done, ownerHint(err)
}

// ownerHint explains a privilege error: migrations need the schema owner.
func ownerHint(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" { // insufficient_privilege
		return fmt.Errorf("%w (migrations run as the schema owner: set DATABASE_MIGRATE_URL to the owner's URL, or run codex32 migrate up with it)", err)
	}
	return err
}

// Down rolls back the newest steps migrations of ours. steps < 0 rolls back
// everything, River's schema included (River first).
func (m *Migrator) Down(ctx context.Context, steps int) ([]Migration, error) {
	var rolled []Migration
	var riverFirst func() error
	if steps < 0 {
		riverFirst = func() error { return m.river.downAll(ctx) }
	}
	err := m.lockedWithPre(ctx, riverFirst, func(conn *sql.Conn) error {
		applied, err := m.appliedVersions(ctx, conn)
		if err != nil {
			return err
		}
		if current := maxVersion(applied); current > m.Latest() {
			return m.newerError(current)
		}
		for i := len(m.migs) - 1; i >= 0 && steps != 0; i-- {
			mig := m.migs[i]
			if !applied[mig.Version] {
				continue
			}
			if err := m.apply(ctx, conn, mig, false); err != nil {
				return err
			}
			m.log.Info("migration rolled back", "version", mig.Version, "name", mig.Name)
			rolled = append(rolled, mig)
			steps--
		}
		return nil
	})
	return rolled, err
}

// apply runs one migration and its version-table change in one transaction.
func (m *Migrator) apply(ctx context.Context, conn *sql.Conn, mig Migration, up bool) error {
	dir, body := "down", mig.Down
	if up {
		dir, body = "up", mig.Up
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrations: %04d_%s %s: begin: %w", mig.Version, mig.Name, dir, err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return fmt.Errorf("migrations: %04d_%s %s: %w", mig.Version, mig.Name, dir, err)
	}
	if up {
		_, err = tx.ExecContext(ctx, m.rebind("INSERT INTO "+versionTable+" (version, name, applied_at) VALUES (?, ?, ?)"),
			mig.Version, mig.Name, time.Now().UTC().Format(time.RFC3339Nano))
	} else {
		_, err = tx.ExecContext(ctx, m.rebind("DELETE FROM "+versionTable+" WHERE version = ?"), mig.Version)
	}
	if err != nil {
		return fmt.Errorf("migrations: %04d_%s %s: record version: %w", mig.Version, mig.Name, dir, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrations: %04d_%s %s: commit: %w", mig.Version, mig.Name, dir, err)
	}
	return nil
}

func (m *Migrator) newerError(current int) error {
	return fmt.Errorf("%w: the database is at schema version %d, this binary knows up to %d; run a newer codex32 (or point DATABASE_URL at another database)",
		ErrSchemaNewer, current, m.Latest())
}

// rebind turns ? placeholders into $n for Postgres.
func (m *Migrator) rebind(q string) string {
	if m.db.Dialect != models.Postgres {
		return q
	}
	out, n := make([]byte, 0, len(q)+8), 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			out = append(out, '$')
			out = strconv.AppendInt(out, int64(n), 10)
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}

func (m *Migrator) ensureVersionTable(ctx context.Context, conn *sql.Conn) error {
	// Look first: a least-privilege runtime role (serve with auto-migrate
	// on a current schema) may not CREATE, not even IF NOT EXISTS.
	q := "SELECT to_regclass('" + versionTable + "') IS NOT NULL"
	if m.db.Dialect != models.Postgres {
		q = "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '" + versionTable + "'"
	}
	var exists bool
	if err := conn.QueryRowContext(ctx, q).Scan(&exists); err == nil && exists {
		return nil
	}
	_, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+versionTable+
		" (version integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)")
	if err != nil {
		return fmt.Errorf("migrations: create version table: %w", err)
	}
	return nil
}

// appliedVersions reads the set of applied versions.
func (m *Migrator) appliedVersions(ctx context.Context, conn *sql.Conn) (map[int]bool, error) {
	rows, err := conn.QueryContext(ctx, "SELECT version FROM "+versionTable)
	if err != nil {
		return nil, fmt.Errorf("migrations: read schema version: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("migrations: read schema version: %w", err)
		}
		out[v] = true
	}
	return out, rows.Err()
}

// pending lists this binary's migrations not yet applied, in order.
func (m *Migrator) pending(applied map[int]bool) []Migration {
	var out []Migration
	for _, mig := range m.migs {
		if !applied[mig.Version] {
			out = append(out, mig)
		}
	}
	return out
}

func maxVersion(applied map[int]bool) int {
	n := 0
	for v := range applied {
		n = max(n, v)
	}
	return n
}

func (m *Migrator) currentVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, "SELECT MAX(version) FROM "+versionTable).Scan(&v); err != nil {
		return 0, fmt.Errorf("migrations: read schema version: %w", err)
	}
	return int(v.Int64), nil
}

func (m *Migrator) locked(ctx context.Context, fn func(*sql.Conn) error, after func() error) error {
	return m.run(ctx, nil, fn, after)
}

func (m *Migrator) lockedWithPre(ctx context.Context, before func() error, fn func(*sql.Conn) error) error {
	return m.run(ctx, before, fn, nil)
}

// run executes before, fn and after (each optional but fn) under the
// migration lock. On Postgres that is a session advisory lock held on a
// dedicated connection, released even if the process dies. SQLite has one
// connection and one process: fn gets the connection, and River's steps,
// which need it too, run outside fn.
func (m *Migrator) run(ctx context.Context, before func() error, fn func(*sql.Conn) error, after func() error) error {
	step := func(f func() error) error {
		if f == nil {
			return nil
		}
		return f()
	}
	withConn := func() error {
		conn, err := m.db.SQL.Conn(ctx)
		if err != nil {
			return fmt.Errorf("migrations: connect: %w", err)
		}
		defer func() { _ = conn.Close() }()
		if m.db.Dialect == models.Postgres {
			if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
				return fmt.Errorf("migrations: take lock: %w", err)
			}
			defer func() {
				_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockKey)
			}()
			if err := step(before); err != nil {
				return err
			}
		}
		if err := m.ensureVersionTable(ctx, conn); err != nil {
			return err
		}
		if err := fn(conn); err != nil {
			return err
		}
		if m.db.Dialect == models.Postgres {
			return step(after)
		}
		return nil
	}
	if m.db.Dialect == models.Postgres {
		return withConn()
	}
	if err := step(before); err != nil {
		return err
	}
	if err := withConn(); err != nil {
		return err
	}
	return step(after)
}

// Package models holds the Bun models and every data operation. It imports no
// other package of this project.
package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/driver/sqliteshim"
)

// Dialect names the database engine.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// DB is an open database: Bun for queries, the *sql.DB underneath (River's
// database/sql drivers use it) and, on Postgres, the pgx pool.
type DB struct {
	Bun  *bun.DB
	SQL  *sql.DB
	Pool *pgxpool.Pool // nil on SQLite
	// QueuePool is the job queue's (River's workers') own Postgres pool: its
	// queries carry parameters, so unlike Bun's they are prepared once per
	// connection and skip planning after that. nil on SQLite.
	QueuePool *pgxpool.Pool
	Dialect   Dialect
}

// Open connects to Postgres (driver "postgres", url a postgres:// URL) or
// opens/creates a SQLite file (driver "sqlite", url a file path).
func Open(ctx context.Context, driver, dsn string) (*DB, error) {
	switch Dialect(driver) {
	case Postgres:
		return openPostgres(ctx, dsn)
	case SQLite:
		return openSQLite(ctx, dsn)
	default:
		return nil, fmt.Errorf("models: unknown database driver %q", driver)
	}
}

// DefaultPostgresConns is the size of a process's Postgres connection pool
// unless DATABASE_URL sets pool_max_conns.
const DefaultPostgresConns = 20

func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("models: parse postgres URL: %w", err)
	}
	// Bun interpolates arguments into the SQL text itself, so each query is
	// new text: pgx's default (prepare and cache every statement) would add a
	// round trip per query and fill the statement cache. Queries that do carry
	// arguments (River's) are sent unprepared in one round trip too.
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	// pgxpool's default is max(4, CPUs) connections, which the web server,
	// the workers and River would queue behind; pool_max_conns in the URL
	// still wins.
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = DefaultPostgresConns
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "codex32"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("models: connect postgres: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("models: connect postgres at %s: %w", redactDSN(dsn), err)
	}
	qcfg := cfg.Copy()
	qcfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement
	// Prepared, but planned for each call's values: a generic plan of
	// River's job fetch can be a hundred times slower on a busy queue.
	qcfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	qcfg.MaxConns = 10
	qcfg.ConnConfig.RuntimeParams["application_name"] = cfg.ConnConfig.RuntimeParams["application_name"] + "-queue"
	queuePool, err := pgxpool.NewWithConfig(ctx, qcfg) // connects on first use
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("models: connect postgres: %w", err)
	}
	sqldb := stdlib.OpenDBFromPool(pool)
	// (OpenDBFromPool keeps no idle connections in database/sql: each goes
	// back to the pgx pool, which River uses directly too.)
	return &DB{Bun: bun.NewDB(sqldb, pgDialect{pgdialect.New()}), SQL: sqldb, Pool: pool, QueuePool: queuePool, Dialect: Postgres}, nil
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("models: create data directory %s: %w", dir, err)
		}
	}
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	// The path goes into a file: URI; escape what URIs give meaning to.
	escaped := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
	sqldb, err := sql.Open(sqliteshim.ShimName, "file:"+escaped+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("models: open sqlite %s: %w", path, err)
	}
	// SQLite allows one writer; one connection serialises everything in the
	// process (River's SQLite driver requires it too) and avoids SQLITE_BUSY.
	sqldb.SetMaxOpenConns(1)
	sqldb.SetConnMaxLifetime(0)
	sqldb.SetConnMaxIdleTime(0)
	if err := sqldb.PingContext(ctx); err != nil {
		_ = sqldb.Close()
		return nil, fmt.Errorf("models: open sqlite %s: %w", path, err)
	}
	return &DB{Bun: bun.NewDB(sqldb, sqliteDialect{sqlitedialect.New()}), SQL: sqldb, Dialect: SQLite}, nil
}

// Ping checks the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.SQL.PingContext(ctx); err != nil {
		return fmt.Errorf("models: ping: %w", err)
	}
	var one int
	if err := db.Bun.NewRaw("SELECT 1").Scan(ctx, &one); err != nil {
		return fmt.Errorf("models: ping: %w", err)
	}
	return nil
}

// Close releases every connection.
func (db *DB) Close() error {
	err := db.Bun.Close()
	if db.Pool != nil {
		db.Pool.Close()
	}
	if db.QueuePool != nil {
		db.QueuePool.Close()
	}
	if errors.Is(err, sql.ErrConnDone) {
		return nil
	}
	return err
}

// InTx runs fn in a transaction and commits if it returns nil.
func (db *DB) InTx(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	return db.Bun.RunInTx(ctx, nil, fn)
}

// isPG reports whether db talks to Postgres.
func isPG(db bun.IDB) bool { return db.Dialect().Name() == dialect.PG }

// forUpdate locks the selected rows on Postgres; SQLite has one writer and
// no row locks, so the query is left as is.
func forUpdate(db bun.IDB, q *bun.SelectQuery) *bun.SelectQuery {
	if isPG(db) {
		return q.For("UPDATE")
	}
	return q
}

// redactDSN hides the password of a postgres URL for error messages.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

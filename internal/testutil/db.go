// Package testutil is imported only by tests: real databases (SQLite, or
// Postgres when TEST_DATABASE_URL is set), the real server, and a headless
// browser.
package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/codex32/codex32/migrations"
	"github.com/codex32/codex32/models"
)

// Dialect is the database the suite runs on: Postgres when
// TEST_DATABASE_URL is set, else SQLite.
func Dialect() models.Dialect {
	if os.Getenv("TEST_DATABASE_URL") != "" {
		return models.Postgres
	}
	return models.SQLite
}

// DBSpec says how to open one test's database.
type DBSpec struct {
	Driver string
	URL    string
}

// NewDBSpec creates an empty, isolated database for t — a fresh SQLite file,
// or a fresh Postgres schema — and removes it when t ends. Nothing is migrated.
func NewDBSpec(tb testing.TB) DBSpec {
	tb.Helper()
	if Dialect() == models.SQLite {
		return DBSpec{Driver: "sqlite", URL: filepath.Join(tb.TempDir(), "test.db")}
	}
	base := os.Getenv("TEST_DATABASE_URL")
	schema := "t_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("testutil: connect to TEST_DATABASE_URL: %v", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("testutil: create schema: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("testutil: drop schema %s: %v", schema, err)
			return
		}
		defer func() { _ = conn.Close(context.Background()) }()
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("testutil: drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("testutil: parse TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("pool_max_conns", "8")
	u.RawQuery = q.Encode()
	return DBSpec{Driver: "postgres", URL: u.String()}
}

// OpenDB opens spec and closes it when t ends.
func OpenDB(tb testing.TB, spec DBSpec) *models.DB {
	tb.Helper()
	db, err := models.Open(context.Background(), spec.Driver, spec.URL)
	if err != nil {
		tb.Fatalf("testutil: open %s: %v", spec.Driver, err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// NewDB returns a fresh, fully migrated database for t. On SQLite it is a
// copy of a template migrated once per test process (migrating costs ~1 s
// under -race, where the pure-Go driver is instrumented; a copy costs a
// millisecond). Postgres migrates each schema: a template database is
// no faster there (CREATE DATABASE … TEMPLATE ≈ 0.2 s, migrating ≈ 0.16 s).
func NewDB(tb testing.TB) *models.DB {
	tb.Helper()
	return newMigratedDB(tb, NewDBSpec(tb))
}

func testDatabaseURL() string { return os.Getenv("TEST_DATABASE_URL") }

// newMigratedDB opens spec, migrated up: a copy of the process's template
// on SQLite, migrated in place on Postgres.
func newMigratedDB(tb testing.TB, spec DBSpec) *models.DB {
	tb.Helper()
	if spec.Driver == "sqlite" {
		tmpl, err := sqliteTemplate()
		if err != nil {
			tb.Fatalf("testutil: %v", err)
		}
		if err := copyFile(tmpl, spec.URL); err != nil {
			tb.Fatalf("testutil: copy the template database: %v", err)
		}
		return OpenDB(tb, spec)
	}
	db := OpenDB(tb, spec)
	if err := migrateUp(db); err != nil {
		tb.Fatalf("testutil: %v", err)
	}
	return db
}

func migrateUp(db *models.DB) error {
	m, err := migrations.New(db, nil)
	if err != nil {
		return fmt.Errorf("migrator: %w", err)
	}
	if _, err := m.Up(context.Background()); err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	return nil
}

// CreateUser inserts a user with the given role and a unique email.
func CreateUser(tb testing.TB, db *models.DB, role models.Role) *models.User {
	tb.Helper()
	name := fmt.Sprintf("%s-%s", role, randomHex(4))
	u := &models.User{Email: name + "@example.test", Username: name, Name: "Test " + string(role), Role: role, IsActive: true}
	if err := models.CreateUser(context.Background(), db.Bun, models.SystemActor("test"), u); err != nil {
		tb.Fatalf("testutil: create user: %v", err)
	}
	return u
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/codex32/codex32/internal/config"
	"github.com/codex32/codex32/migrations"
)

// cmdDB: `codex32 db grants --role NAME [--apply]` prints (or applies, as
// the migration role) the privileges of a least-privilege runtime role on
// Postgres.
func cmdDB(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "grants" {
		fs := newFlagSet("db", "codex32 db grants --role NAME [--apply]", stdout)
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		return &usageError{msg: "db needs a command: grants"}
	}
	fs := newFlagSet("db grants", "codex32 db grants --role NAME [--apply]", stdout)
	role := fs.String("role", "", "the Postgres role serve and worker connect as (DATABASE_URL's user); it must not own the tables")
	apply := fs.Bool("apply", false, "run the SQL now, as DATABASE_MIGRATE_URL's role (else DATABASE_URL's), instead of printing it")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *role == "" || fs.NArg() > 0 {
		return &usageError{msg: "db grants needs --role NAME and nothing else"}
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	db, m, err := openMigrateDatabase(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	sql, err := m.RuntimeGrants(ctx, *role)
	if err != nil {
		return err
	}
	if !*apply {
		_, _ = fmt.Fprint(stdout, sql)
		return nil
	}
	if err := m.Exec(ctx, sql); err != nil {
		return fmt.Errorf("db grants: %w", err)
	}
	_, _ = fmt.Fprintf(stdout, "privileges of role %s applied\n", *role)
	return nil
}

// grantRuntimeRole: when migrations run as another role than serve
// (DATABASE_MIGRATE_URL), a migration's new table belongs to the owner and
// the runtime role could not use it. So after migrating, m (connected as
// the owner) grants DATABASE_URL's role what db grants would; idempotent.
func grantRuntimeRole(ctx context.Context, cfg *config.Config, m *migrations.Migrator, log *slog.Logger) error {
	if cfg.Migrate == cfg.Database || cfg.Database.Driver != "postgres" {
		return nil
	}
	pc, err := pgx.ParseConfig(cfg.Database.URL)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	if oc, err := pgx.ParseConfig(cfg.Migrate.URL); err == nil && oc.User == pc.User {
		return nil // one role after all: nothing to grant
	}
	sql, err := m.RuntimeGrants(ctx, pc.User)
	if err != nil {
		return err
	}
	if err := m.Exec(ctx, sql); err != nil {
		return fmt.Errorf("grant the runtime role %s: %w", pc.User, err)
	}
	log.Info("runtime role's privileges applied", "role", pc.User)
	return nil
}

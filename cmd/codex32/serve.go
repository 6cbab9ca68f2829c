package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/handlers"
	"github.com/codex32/codex32/internal/config"
	"github.com/codex32/codex32/internal/telemetry"
	"github.com/codex32/codex32/migrations"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
	"github.com/codex32/codex32/web"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "codex32 serve [--migrate=false]", stdout)
	migrate := fs.Bool("migrate", true, "apply pending migrations at start (overrides CODEX32_AUTO_MIGRATE)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("serve takes no arguments (got %q)", fs.Arg(0))}
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	migrateSet := false
	fs.Visit(func(f *flag.Flag) { migrateSet = migrateSet || f.Name == "migrate" })
	if migrateSet {
		cfg.AutoMigrate = *migrate
	}
	log := newLogger(cfg, stderr)
	return serve(ctx, cfg, log, nil)
}

// serve opens the database, migrates it (if allowed), checks the schema and
// serves until ctx is cancelled. If ready is not nil it receives the bound
// address once the server accepts connections.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, ready chan<- string) error {
	db, m, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()

	if cfg.AutoMigrate {
		if err := migrateUp(ctx, cfg, log, m); err != nil {
			return err
		}
	}
	if err := m.Check(ctx); err != nil {
		return fmt.Errorf("database not ready: %w", err)
	}

	box, err := secretBox(cfg, log)
	if err != nil {
		return err
	}
	signer, err := auditSigner(cfg, log)
	if err != nil {
		return err
	}
	if signer == nil {
		log.Warn("audit checkpoints are not signed: set CODEX32_AUDIT_SIGNING_KEY (make one with codex32 audit keygen)")
	}
	tracing, err := buildTracing(ctx, cfg, db)
	if err != nil {
		return err
	}
	defer shutdownTracing(ctx, tracing, log)
	metrics := buildMetrics(cfg, db)
	eng, err := buildEngine(ctx, cfg, db, box, log, cfg.Workers, metrics, tracing)
	if err != nil {
		return err
	}
	defer eng.shutdown(ctx)
	// contextcheck follows buildApp into the error handler it registers,
	// which renders with the request's own context (c.UserContext()).
	app, err := buildApp(cfg, db, m, log, box, eng.Engine, signer, metrics, tracing) //nolint:contextcheck // the handlers use their request's context
	if err != nil {
		return err
	}
	if err := eng.Start(ctx); err != nil {
		return err
	}
	go pruneLoop(ctx, db, cfg, log)
	// serve returns only once the checkpoint loop has: a checkpoint it
	// stored is in the log before the process ends.
	cpCtx, cpCancel := context.WithCancel(ctx)
	cpDone := make(chan struct{})
	go func() {
		defer close(cpDone)
		checkpointLoop(cpCtx, db, signer, cfg.AuditCheckpointInterval, log)
	}()
	defer func() { cpCancel(); <-cpDone }()
	if err := startProfiler(ctx, cfg.PprofAddr, log); err != nil {
		return fmt.Errorf("listen on %s (CODEX32_PPROF_ADDR): %w", cfg.PprofAddr, err)
	}
	if _, err := startMetrics(ctx, cfg.MetricsAddr, metrics, log); err != nil {
		return fmt.Errorf("listen on %s (CODEX32_METRICS_ADDR): %w", cfg.MetricsAddr, err)
	}

	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (CODEX32_ADDR): %w", cfg.Addr, err)
	}
	log.Info("codex32 serving", "version", version(), "url", displayURL(ln.Addr()), "database", db.Dialect, "env", cfg.Env)
	if ready != nil {
		ready <- ln.Addr().String()
	}

	errc := make(chan error, 1)
	go func() { errc <- app.Listener(web.KeepAccepting(ln, log)) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownErr := app.ShutdownWithTimeout(10 * time.Second)
	// If the signal came before the server goroutine started serving,
	// Shutdown had nothing to stop; closing the listener ends Serve either way.
	_ = ln.Close()
	if shutdownErr != nil {
		return fmt.Errorf("shutdown: %w", shutdownErr)
	}
	if err := <-errc; err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// buildApp wires the web application from the configuration.
func buildApp(cfg *config.Config, db *models.DB, m *migrations.Migrator, log *slog.Logger, box *models.SecretBox, eng *runner.Engine, signer *models.AuditSigner, metrics *telemetry.Metrics, tracing *telemetry.Tracing) (*fiber.App, error) {
	keys, err := sessionKeys(cfg, log)
	if err != nil {
		return nil, err
	}
	store, err := web.NewSessionStore(web.SessionConfig{
		DB: db, Keys: keys, Secure: cfg.Secure(), Idle: cfg.SessionIdle, MaxAge: cfg.SessionMaxAge, Log: log,
	})
	if err != nil {
		return nil, err
	}
	sso, err := handlers.NewSSO(context.Background(), ssoConfig(cfg), log)
	if err != nil {
		return nil, err
	}
	return handlers.NewApp(handlers.Deps{
		DB: db, Log: log, Version: version(), Schema: m, Sessions: store,
		ClientIP: web.ClientIP(cfg.TrustedProxies), Secure: cfg.Secure(),
		APIKeyMaxDays: cfg.APIKeyMaxDays, SSO: sso, Secrets: box, Engine: eng,
		RateLimiter: web.NewRateLimiter(cfg.APIRate.N, cfg.APIRate.Period, nil),
		APICacheTTL: cfg.APICacheTTL, BaseURL: cfg.PublicBaseURL(), AuditKey: auditPublic(signer),
		Metrics: metrics, MetricsToken: cfg.MetricsToken,
		Tracing: tracing, TrustTrace: web.TrustTraceparent(cfg.TrustTraceparent, cfg.TrustedProxies),
	}), nil
}

func auditPublic(s *models.AuditSigner) ed25519.PublicKey {
	if s == nil {
		return nil
	}
	return s.Public()
}

// pruneLoop deletes expired sessions, old sign-in attempts and expired
// Idempotency-Keys every ten minutes until ctx ends.
func pruneLoop(ctx context.Context, db *models.DB, cfg *config.Config, log *slog.Logger) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		now := time.Now()
		if n, err := models.DeleteExpiredSessions(ctx, db.Bun, now, cfg.SessionIdle); err != nil && ctx.Err() == nil {
			log.Warn("prune expired sessions", "err", err)
		} else if n > 0 {
			log.Debug("pruned expired sessions", "count", n)
		}
		if _, err := models.DeleteOldLoginAttempts(ctx, db.Bun, now.Add(-30*24*time.Hour)); err != nil && ctx.Err() == nil {
			log.Warn("prune sign-in attempts", "err", err)
		}
		if _, err := models.PruneIdempotencyKeys(ctx, db.Bun, now); err != nil && ctx.Err() == nil {
			log.Warn("prune idempotency keys", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func openDatabase(ctx context.Context, cfg *config.Config, log *slog.Logger) (*models.DB, *migrations.Migrator, error) {
	return openDatabaseAt(ctx, cfg.Database, log)
}

// openMigrateDatabase opens the database as the role migrations run as
// (DATABASE_MIGRATE_URL, else DATABASE_URL).
func openMigrateDatabase(ctx context.Context, cfg *config.Config, log *slog.Logger) (*models.DB, *migrations.Migrator, error) {
	return openDatabaseAt(ctx, cfg.Migrate, log)
}

// migrateUp applies pending migrations for serve: through m, or, when
// DATABASE_MIGRATE_URL names the schema owner, on a connection of its own
// that is closed again (serve itself keeps running as DATABASE_URL's role).
func migrateUp(ctx context.Context, cfg *config.Config, log *slog.Logger, m *migrations.Migrator) error {
	if cfg.Migrate != cfg.Database {
		owner, om, err := openMigrateDatabase(ctx, cfg, log)
		if err != nil {
			return fmt.Errorf("migrate (DATABASE_MIGRATE_URL): %w", err)
		}
		defer func() { _ = owner.Close() }()
		m = om
	}
	if _, err := m.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return grantRuntimeRole(ctx, cfg, m, log)
}

func openDatabaseAt(ctx context.Context, d config.Database, log *slog.Logger) (*models.DB, *migrations.Migrator, error) {
	db, err := models.Open(ctx, d.Driver, d.URL)
	if err != nil {
		return nil, nil, err
	}
	m, err := migrations.New(db, log)
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return db, m, nil
}

// displayURL turns ":8080" into "http://localhost:8080" for the log line.
func displayURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); host == "" || ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

package main

import (
	"context"
	"fmt"
	"io"

	"github.com/codex32/codex32/internal/config"
)

// cmdWorker runs executions without the web server, so several worker
// processes (on several machines) can share one Postgres database.
func cmdWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("worker", "codex32 worker", stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("worker takes no arguments (got %q)", fs.Arg(0))}
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	db, m, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	if err := m.Check(ctx); err != nil {
		return fmt.Errorf("database not ready (run codex32 migrate up, or start codex32 serve once): %w", err)
	}
	workers := cfg.Workers
	if workers == 0 {
		return &config.Error{Setting: "CODEX32_WORKERS", Problem: "is 0: a worker process needs at least 1"}
	}
	box, err := secretBox(cfg, log)
	if err != nil {
		return err
	}
	tracing, err := buildTracing(ctx, cfg, db)
	if err != nil {
		return err
	}
	defer shutdownTracing(ctx, tracing, log)
	metrics := buildMetrics(cfg, db)
	eng, err := buildEngine(ctx, cfg, db, box, log, workers, metrics, tracing)
	if err != nil {
		return err
	}
	if _, err := startMetrics(ctx, cfg.MetricsAddr, metrics, log); err != nil {
		eng.shutdown(ctx)
		return fmt.Errorf("listen on %s (CODEX32_METRICS_ADDR): %w", cfg.MetricsAddr, err)
	}
	if err := eng.Start(ctx); err != nil {
		eng.shutdown(ctx)
		return err
	}
	log.Info("codex32 worker running", "version", version(), "database", db.Dialect, "worker", eng.WorkerID(), "concurrency", workers)
	<-ctx.Done()
	log.Info("worker stopping", "grace", cfg.ShutdownGrace)
	eng.shutdown(ctx)
	log.Info("worker stopped")
	return nil
}

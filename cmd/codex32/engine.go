package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/codex32/codex32/internal/config"
	"github.com/codex32/codex32/internal/telemetry"
	"github.com/codex32/codex32/migrations"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
)

// engine is the execution engine with the sandbox processes it owns.
type engine struct {
	*runner.Engine
	scripts *runner.ScriptPool
	grace   time.Duration
	log     *slog.Logger
}

// buildEngine wires the execution engine from the settings; workers 0
// builds one that only enqueues (serve with CODEX32_WORKERS=0).
func buildEngine(ctx context.Context, cfg *config.Config, db *models.DB, box *models.SecretBox, log *slog.Logger, workers int, metrics *telemetry.Metrics, tracing *telemetry.Tracing) (*engine, error) {
	allow, hosts, err := runner.ParseAllowList(cfg.OutboundAllow)
	if err != nil {
		return nil, &config.Error{Setting: "CODEX32_OUTBOUND_ALLOW", Problem: err.Error()}
	}
	role, err := migrations.CheckRole(ctx, db)
	if err != nil {
		return nil, err
	}
	if !role.OwnsTables {
		log.Info("database role does not own the tables: River's nightly reindex is off (run REINDEX as the owner if ever needed)")
	}
	if role.CanRewriteAudit && db.Dialect == models.Postgres && cfg.Production() {
		log.Warn("database role can change or remove audit rows; run serve and worker as a least-privilege role (codex32 db grants)")
	}
	var pool *runner.ScriptPool
	if workers > 0 {
		size := cfg.ScriptProcesses
		if size == 0 {
			size = runtime.NumCPU()
		}
		pool, err = runner.NewScriptPool(runner.ScriptPoolConfig{
			Size: size, MemoryLimitBytes: int64(cfg.ScriptMemoryMB) << 20, Logger: log, Metrics: metrics,
		})
		if err != nil {
			return nil, fmt.Errorf("script sandbox: %w", err)
		}
	}
	e, err := runner.NewEngine(runner.EngineConfig{
		DB: db, Log: log, Secrets: box, Workers: workers, Scripts: pool,
		Outbound:         runner.OutboundPolicy{Allow: allow, AllowHosts: hosts},
		ScriptMaxTimeout: cfg.ScriptMaxTimeout, ErrorAfterFailures: cfg.ErrorAfterFailures,
		LostAfter: cfg.WorkerLostAfter, Retention: cfg.ExecutionRetention, KeepPerBot: cfg.ExecutionKeep,
		SkipRiverReindex: !role.OwnsTables, Metrics: metrics, Tracing: tracing,
	})
	if err != nil {
		if pool != nil {
			_ = pool.Close()
		}
		return nil, err
	}
	return &engine{Engine: e, scripts: pool, grace: cfg.ShutdownGrace, log: log}, nil
}

// shutdown stops taking work, gives running executions the grace period,
// then interrupts and requeues the rest, and stops the sandboxes.
func (e *engine) shutdown(ctx context.Context) {
	// ctx is usually over already (the signal that stops the process): the
	// grace period is counted from now, keeping only ctx's values.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.grace)
	defer cancel()
	if err := e.Stop(ctx); err != nil {
		e.log.Warn("stop workers", "err", err)
	}
	if e.scripts != nil {
		_ = e.scripts.Close()
	}
}

package models

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/uptrace/bun"

	"github.com/codex32/codex32/internal/telemetry"
)

// CountUnfinished counts the executions queued and running now (both
// statuses have partial indexes, so this stays cheap on large tables).
func CountUnfinished(ctx context.Context, db bun.IDB) (queued, running int, err error) {
	var rows []struct {
		Status ExecStatus `bun:"status"`
		N      int        `bun:"n"`
	}
	err = db.NewSelect().TableExpr("bot_executions").ColumnExpr("status, count(*) AS n").
		Where("status IN (?, ?)", ExecQueued, ExecRunning).GroupExpr("status").Scan(ctx, &rows)
	if err != nil {
		return 0, 0, fmt.Errorf("executions: count unfinished: %w", err)
	}
	for _, r := range rows {
		switch r.Status {
		case ExecQueued:
			queued = r.N
		case ExecRunning:
			running = r.N
		}
	}
	return queued, running, nil
}

// CountQueueJobs counts the job queue's (River's) jobs by state.
func CountQueueJobs(ctx context.Context, db bun.IDB) (map[string]int, error) {
	var rows []struct {
		State string `bun:"state"`
		N     int    `bun:"n"`
	}
	if err := db.NewSelect().TableExpr("river_job").ColumnExpr("state, count(*) AS n").GroupExpr("state").Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("queue: count jobs: %w", err)
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.State] = r.N
	}
	return out, nil
}

// CountWorkersAlive counts worker processes that reported since since.
func CountWorkersAlive(ctx context.Context, db bun.IDB, since time.Time) (int, error) {
	n, err := db.NewSelect().Model((*Worker)(nil)).Where("heartbeat_at >= ?", since.UTC()).Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("workers: count alive: %w", err)
	}
	return int(n), nil
}

// Readings gives the metrics what they read from the database at scrape
// time (telemetry.DBReadings).
type Readings struct{ DB *DB }

// Unfinished: see CountUnfinished.
func (r Readings) Unfinished(ctx context.Context) (int, int, error) {
	return CountUnfinished(ctx, r.DB.Bun)
}

// QueueJobs: see CountQueueJobs.
func (r Readings) QueueJobs(ctx context.Context) (map[string]int, error) {
	return CountQueueJobs(ctx, r.DB.Bun)
}

// WorkersAlive: see CountWorkersAlive.
func (r Readings) WorkersAlive(ctx context.Context, since time.Time) (int, error) {
	return CountWorkersAlive(ctx, r.DB.Bun, since)
}

// Pools reports the connection pools: on Postgres the app's and the job
// queue's pgx pools, on SQLite database/sql's one connection.
func (r Readings) Pools() []telemetry.PoolStats {
	if r.DB.Pool == nil {
		s := r.DB.SQL.Stats()
		return []telemetry.PoolStats{{Pool: "app", Open: s.OpenConnections, InUse: s.InUse, Idle: s.Idle, MaxOpen: s.MaxOpenConnections, WaitCount: s.WaitCount, WaitDuration: s.WaitDuration}}
	}
	out := make([]telemetry.PoolStats, 0, 2)
	for _, p := range []struct {
		name string
		pool *pgxpool.Pool
	}{{"app", r.DB.Pool}, {"queue", r.DB.QueuePool}} {
		if p.pool == nil {
			continue
		}
		s := p.pool.Stat()
		out = append(out, telemetry.PoolStats{Pool: p.name, Open: int(s.TotalConns()), InUse: int(s.AcquiredConns()), Idle: int(s.IdleConns()),
			MaxOpen: int(s.MaxConns()), WaitCount: s.EmptyAcquireCount(), WaitDuration: s.EmptyAcquireWaitTime()})
	}
	return out
}

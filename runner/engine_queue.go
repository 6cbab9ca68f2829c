package runner

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/uptrace/bun"

	"github.com/codex32/codex32/models"
)

// ExecuteArgs is the job that runs one attempt of an execution. Attempts
// are separate jobs, so River's own retries only cover infrastructure
// errors (the database being away); a duplicate job cannot start an
// attempt twice (see models.ClaimExecutions).
type ExecuteArgs struct {
	ExecutionID uuid.UUID `json:"execution_id"`
	Attempt     int       `json:"attempt"`
	// Trace is the W3C trace context of what queued the attempt (the
	// request, or the attempt before a retry): the worker's spans join
	// that trace, in whatever process it runs. Absent when tracing is off.
	Trace map[string]string `json:"trace,omitempty"`
}

// Kind implements river.JobArgs.
func (ExecuteArgs) Kind() string { return "codex32.execute" }

// queue hides which River drivers the database needs: on Postgres jobs are
// inserted through database/sql (inside Bun's transactions) and worked by a
// pgx client that LISTENs for new jobs; SQLite has one client for both.
type queue struct {
	insert        func(ctx context.Context, tx *sql.Tx, args ExecuteArgs, opts *river.InsertOpts) (int64, error)
	insertMany    func(ctx context.Context, tx *sql.Tx, args []ExecuteArgs) ([]int64, error)
	start         func(ctx context.Context) error
	stop          func(ctx context.Context) error
	stopAndCancel func(ctx context.Context) error
	working       bool
	// carrier is the trace context a job carries (nil when tracing is off).
	carrier func(ctx context.Context) map[string]string
}

type executeWorker struct {
	river.WorkerDefaults[ExecuteArgs]
	e       *Engine
	timeout time.Duration
}

func (w *executeWorker) Work(ctx context.Context, job *river.Job[ExecuteArgs]) error {
	return w.e.work(ctx, job.Args)
}

// Timeout is River's backstop; attempts have their own, shorter limits.
func (w *executeWorker) Timeout(*river.Job[ExecuteArgs]) time.Duration { return w.timeout }

func newQueue(db *models.DB, workers int, e *Engine, log *slog.Logger, maxRun time.Duration) (*queue, error) {
	riverLog := slog.New(levelFloor{log.Handler(), slog.LevelWarn})
	jobTimeout := maxRun + time.Minute
	work := func(cfg *river.Config) {
		ws := river.NewWorkers()
		river.AddWorker(ws, &executeWorker{e: e, timeout: jobTimeout})
		cfg.Workers = ws
		// Jobs record the client that fetched them (attempted_by): naming
		// it after the worker lets a live worker tell which queued
		// executions a dead one was holding (models.StrandedExecutions).
		cfg.ID = e.cfg.WorkerID
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: workers}}
		if t := e.tracing(); t != nil {
			cfg.Middleware = append(cfg.Middleware, NewTraceWorkMiddleware(t.Provider(), t.Propagator(), nil))
		}
		addScheduleTick(cfg, ws, e)
		cfg.JobTimeout = jobTimeout
		// An attempt's timeout is always shorter than the rescue window,
		// so River never rescues a job that is still being worked. Jobs of
		// a dead worker are not left to this window: the engine's upkeep
		// recovers them within LostAfter (recoverStranded, recoverLost).
		cfg.RescueStuckJobsAfter = jobTimeout + 5*time.Minute
		cfg.CompletedJobRetentionPeriod = time.Hour
		cfg.FetchCooldown = 2 * time.Millisecond
		if e.cfg.SkipRiverReindex {
			cfg.ReindexerIndexNames = []string{} // an empty list, not nil (nil is River's default list)
		}
	}
	base := func() *river.Config {
		return &river.Config{Logger: riverLog, FetchCooldown: 2 * time.Millisecond, MaxAttempts: 5}
	}
	q := &queue{working: workers > 0, carrier: e.traceCarrier}
	noop := func(context.Context) error { return nil }
	q.start, q.stop, q.stopAndCancel = noop, noop, noop

	if db.Dialect == models.SQLite {
		cfg := base()
		if workers > 0 {
			work(cfg)
			// No LISTEN/NOTIFY: poll often (one cheap query per interval).
			cfg.FetchPollInterval = 20 * time.Millisecond
		}
		c, err := river.NewClient(riversqlite.New(db.SQL), cfg)
		if err != nil {
			return nil, fmt.Errorf("runner: queue: %w", err)
		}
		q.insert, q.insertMany = insertWith(c), insertManyWith(c)
		if workers > 0 {
			q.start, q.stop, q.stopAndCancel = c.Start, c.Stop, c.StopAndCancel
		}
		return q, nil
	}

	ins, err := river.NewClient(riverdatabasesql.New(db.SQL), base())
	if err != nil {
		return nil, fmt.Errorf("runner: queue: %w", err)
	}
	q.insert, q.insertMany = insertWith(ins), insertManyWith(ins)
	if workers > 0 {
		cfg := base()
		work(cfg)
		cfg.FetchPollInterval = 250 * time.Millisecond
		// Under load a fetch every 10 ms takes a handful of jobs at once;
		// at 2 ms it fetched ~3 per query and cost Postgres a planned
		// JobGetAvailable each time (BENCHMARKS.md, JSON API under load).
		cfg.FetchCooldown = 10 * time.Millisecond
		wc, err := river.NewClient[pgx.Tx](riverpgxv5.New(db.QueuePool), cfg)
		if err != nil {
			return nil, fmt.Errorf("runner: queue workers: %w", err)
		}
		q.start, q.stop, q.stopAndCancel = wc.Start, wc.Stop, wc.StopAndCancel
	}
	return q, nil
}

func insertWith(c *river.Client[*sql.Tx]) func(context.Context, *sql.Tx, ExecuteArgs, *river.InsertOpts) (int64, error) {
	return func(ctx context.Context, tx *sql.Tx, args ExecuteArgs, opts *river.InsertOpts) (int64, error) {
		res, err := c.InsertTx(ctx, tx, args, opts)
		if err != nil {
			return 0, err
		}
		return res.Job.ID, nil
	}
}

func insertManyWith(c *river.Client[*sql.Tx]) func(context.Context, *sql.Tx, []ExecuteArgs) ([]int64, error) {
	return func(ctx context.Context, tx *sql.Tx, args []ExecuteArgs) ([]int64, error) {
		params := make([]river.InsertManyParams, len(args))
		for i, a := range args {
			params[i] = river.InsertManyParams{Args: a}
		}
		res, err := c.InsertManyTx(ctx, tx, params)
		if err != nil {
			return nil, err
		}
		ids := make([]int64, len(res))
		for i, r := range res {
			ids[i] = r.Job.ID
		}
		return ids, nil
	}
}

// enqueue inserts the job of one attempt inside tx, to run at at (zero or
// past: now). River moves scheduled jobs to the queue on a 5-second tick,
// so a delay is rounded up to that.
func (q *queue) enqueue(ctx context.Context, tx bun.Tx, id uuid.UUID, attempt int, at time.Time) (int64, error) {
	opts := &river.InsertOpts{}
	if at.After(time.Now()) {
		opts.ScheduledAt = at
	}
	jobID, err := q.insert(ctx, tx.Tx, ExecuteArgs{ExecutionID: id, Attempt: attempt, Trace: q.carrier(ctx)}, opts)
	if err != nil {
		return 0, fmt.Errorf("runner: enqueue %s: %w", id, err)
	}
	return jobID, nil
}

// levelFloor drops records below a level (River logs every job at info).
type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (h levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelFloor) WithAttrs(as []slog.Attr) slog.Handler {
	return levelFloor{h.Handler.WithAttrs(as), h.min}
}

func (h levelFloor) WithGroup(name string) slog.Handler {
	return levelFloor{h.Handler.WithGroup(name), h.min}
}

package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/codex32/codex32/internal/batch"
	"github.com/codex32/codex32/internal/telemetry"
	"github.com/codex32/codex32/models"
)

// EngineConfig wires the execution engine.
type EngineConfig struct {
	DB      *models.DB
	Log     *slog.Logger
	Secrets *models.SecretBox
	// Workers is how many executions this process runs at once; 0 makes an
	// engine that only enqueues (a web process without workers).
	Workers int
	// Scripts runs script bots; required when Workers > 0.
	Scripts *ScriptPool
	// Outbound is the policy of the one HTTP client http and llm bots use.
	Outbound OutboundPolicy
	// ScriptMaxTimeout caps a script bot's timeout (default 60 s).
	ScriptMaxTimeout time.Duration
	// ErrorAfterFailures: see models.FinishOptions.
	ErrorAfterFailures int
	// LostAfter: a worker silent this long is presumed dead (default 30 s).
	LostAfter time.Duration
	// Retention and KeepPerBot configure pruning (Retention 0 = never).
	Retention  time.Duration
	KeepPerBot int
	// WorkerID names this process in the workers table (default host-pid-random).
	WorkerID string
	// SkipRiverReindex turns off River's nightly REINDEX of its job
	// indexes, which only the tables' owner may run (serve and worker as a
	// least-privilege role: codex32 db grants).
	SkipRiverReindex bool
	// LiveLog, if not nil, gets each console line of a script bot while it
	// runs (within the sandbox's log cap; the stored logs are unchanged). It
	// is called on the sandbox's reader: it must not block. Lines are not
	// masked here; a sink that shows them must mask them itself.
	LiveLog func(meta RunMeta, line string)
	// Metrics counts executions, outbound calls and tokens (nil: none).
	Metrics *telemetry.Metrics
	// Tracing makes spans of the work, the outbound calls, and carries the
	// requester's trace to the worker (nil or disabled: none).
	Tracing *telemetry.Tracing
	// Run replaces the bot kinds (tests only).
	Run RunFunc
}

// RunFunc runs one attempt of a bot config.
type RunFunc func(ctx context.Context, cfg Config, input json.RawMessage, secrets map[string]string, meta RunMeta) (*Result, error)

// RunMeta describes the attempt being run.
type RunMeta struct {
	ExecutionID uuid.UUID `json:"execution_id"`
	BotID       uuid.UUID `json:"bot_id"`
	Attempt     int       `json:"attempt"`
}

// Engine requests, runs and cancels executions.
type Engine struct {
	cfg    EngineConfig
	db     bun.IDB
	log    *slog.Logger
	queue  *queue
	client *http.Client

	configs sync.Map // version id → Config (versions are immutable)

	requests *batch.Batcher[requestItem, requestResult]
	peeks    *batch.Batcher[models.Claim, waiting]
	claims   *batch.Batcher[models.Claim, *models.Execution]
	finishes *batch.Batcher[models.Finish, error]

	// draining ends when Stop begins: attempts still waiting for a sandbox
	// slot give their job back rather than start.
	draining  context.Context
	stopDrain context.CancelFunc

	running   sync.Map // execution id → context.CancelCauseFunc
	upkeepCtx context.Context
	stopUp    context.CancelFunc
	upkeepWG  sync.WaitGroup
}

// errCancelledByUser is the cause of a run's context when someone cancels
// the execution (told apart from a worker shutdown when the attempt ends).
var errCancelledByUser = errors.New("cancelled")

// NewEngine builds the engine; Start starts its workers.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.ScriptMaxTimeout <= 0 {
		cfg.ScriptMaxTimeout = 60 * time.Second
	}
	if cfg.LostAfter <= 0 {
		cfg.LostAfter = 30 * time.Second
	}
	if cfg.KeepPerBot < 1 {
		cfg.KeepPerBot = 100
	}
	if cfg.WorkerID == "" {
		host, _ := os.Hostname()
		cfg.WorkerID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
	}
	if len(cfg.WorkerID) > maxWorkerIDLen {
		return nil, fmt.Errorf("runner: worker id %q is longer than %d characters", cfg.WorkerID, maxWorkerIDLen)
	}
	if cfg.Workers > 0 && cfg.Scripts == nil && cfg.Run == nil {
		return nil, errors.New("runner: an engine with workers needs a script pool")
	}
	// Each call has its config's own timeout; the client's overall limit
	// only has to stay out of the way of the longest one.
	cfg.Outbound.Timeout = max(cfg.Outbound.Timeout, MaxHTTPTimeout+5*time.Second)
	e := &Engine{cfg: cfg, db: cfg.DB.Bun, log: cfg.Log, client: NewOutboundClient(cfg.Outbound)}
	if t := e.tracing(); t != nil {
		e.client.Transport = TracedTransport(e.client.Transport, t.Provider(), t.Propagator(), true)
	}
	e.draining, e.stopDrain = context.WithCancel(context.Background())
	q, err := newQueue(cfg.DB, cfg.Workers, e, cfg.Log, e.maxRunTime())
	if err != nil {
		return nil, err
	}
	e.queue = q
	e.initBatchers()
	return e, nil
}

// maxWorkerIDLen is River's limit on a client id, which the worker id is
// (so a job row names the worker that fetched it).
const maxWorkerIDLen = 100

// WorkerID is this process's name in the workers table.
func (e *Engine) WorkerID() string { return e.cfg.WorkerID }

// maxRunTime bounds one attempt of any kind.
func (e *Engine) maxRunTime() time.Duration {
	return max(e.cfg.ScriptMaxTimeout, MaxHTTPTimeout)
}

// RunRequest asks for one execution.
type RunRequest struct {
	BotID   uuid.UUID
	Input   json.RawMessage
	Trigger models.Trigger
	// Also, if set, runs inside the transaction that queues the execution,
	// once its row is inserted: what it writes commits with the execution
	// or not at all (the API stores an Idempotency-Key's response so). An
	// error fails the request. It may run twice (a failed shared
	// transaction is retried per request), each time in a new transaction.
	Also func(ctx context.Context, tx bun.IDB, ex *models.Execution) error
	// Claim, if set, is an Idempotency-Key claim (models.NewIdempotencyClaim)
	// inserted in the same transaction, before anything else: if the key is
	// already recorded the request does nothing and fails with
	// ErrIdempotencyKeyTaken. With Also storing the response, claim, work
	// and response commit together: no one ever sees the key in flight.
	Claim *models.IdempotencyKey
	// Answer, with Claim, gives the response to record under the claim;
	// the claim is then inserted already answered, so claim, execution and
	// response are one INSERT each in the shared transaction.
	Answer func(ex *models.Execution) (status int, headers map[string]string, body []byte, err error)
	// Allow, if set, is asked whether the requester may run the bot, as
	// loaded for the request and before its state is checked; its error
	// is the request's. It spares the caller a read of the bot of its own:
	// concurrent requests share one.
	Allow func(b *models.Bot) error
}

// runnable is what a request needs of its bot: loaded, allowed, runnable.
type runnable struct {
	b   *models.Bot
	v   *models.BotVersion
	cfg Config
	err error // loading it, its state, or its version's config
}

// loadRunnable loads bot id for requests.
func (e *Engine) loadRunnable(ctx context.Context, db bun.IDB, id uuid.UUID) runnable {
	b, err := models.BotByID(ctx, db, id)
	if err != nil {
		return runnable{err: err}
	}
	rb := runnable{b: b}
	if rb.v, rb.err = models.RunnableVersion(ctx, db, b); rb.err == nil {
		rb.cfg, rb.err = e.versionConfig(rb.v)
	}
	return rb
}

// forRequest is rb for request r, checked in the order callers answer:
// the bot exists, r's Allow, r's input (defaulted here), the bot's state.
func (rb runnable) forRequest(r *RunRequest) error {
	if rb.b == nil {
		return rb.err
	}
	if r.Allow != nil {
		if err := r.Allow(rb.b); err != nil {
			return err
		}
	}
	if err := checkInput(r); err != nil {
		return err
	}
	return rb.err
}

// claimFor returns a copy of r.Claim to insert for ex (prepared), answered
// with r.Answer's response when there is one.
func claimFor(r RunRequest, ex *models.Execution) (*models.IdempotencyKey, error) {
	c := *r.Claim
	if r.Answer == nil {
		return &c, nil
	}
	status, headers, body, err := r.Answer(ex)
	if err != nil {
		return nil, err
	}
	c.State, c.ResponseStatus, c.ResponseHeaders, c.ResponseBody = models.IdempotencyDone, &status, headers, body
	return &c, nil
}

// ErrIdempotencyKeyTaken: a RunRequest's Claim found its key recorded
// already (models.BeginIdempotencyKey says by whom and how it ended).
var ErrIdempotencyKeyTaken = errors.New("runner: Idempotency-Key already recorded")

// Request queues an execution of the bot's active version. The execution
// row, its job and its bot.execute audit row commit together.
//
// Concurrent requests share transactions (see flushRequests): under load
// many executions are queued per commit, and an idle engine adds no wait.
func (e *Engine) Request(ctx context.Context, actor models.Actor, r RunRequest) (*models.Execution, error) {
	res, err := e.requests.Do(ctx, requestItem{actor: actor, r: r, trace: e.traceCarrier(ctx), traceID: telemetry.TraceID(ctx)})
	if err != nil {
		return nil, err
	}
	if res.err == nil && res.ex != nil {
		e.cfg.Metrics.ExecutionRequested(string(res.kind), string(res.ex.Trigger), 1)
	}
	return res.ex, res.err
}

// RequestTx is Request inside the caller's transaction: nothing is queued
// unless tx commits.
// It is counted as requested when it returns, before tx commits.
func (e *Engine) RequestTx(ctx context.Context, tx bun.Tx, actor models.Actor, r RunRequest) (*models.Execution, error) {
	ex, kind, err := e.requestTx(ctx, tx, actor, r)
	if err == nil {
		e.cfg.Metrics.ExecutionRequested(string(kind), string(ex.Trigger), 1)
	}
	return ex, err
}

func (e *Engine) requestTx(ctx context.Context, tx bun.Tx, actor models.Actor, r RunRequest) (*models.Execution, models.BotKind, error) {
	rb := e.loadRunnable(ctx, tx, r.BotID)
	if err := rb.forRequest(&r); err != nil {
		return nil, "", err
	}
	v := rb.v
	ex := &models.Execution{ID: models.NewID(), Input: r.Input, Trigger: r.Trigger, MaxAttempts: rb.cfg.Retry().MaxAttempts, BotName: rb.b.Name, TraceID: telemetry.TraceID(ctx)}
	if r.Claim != nil {
		if err := models.PrepareRequestedExecutions([]models.RequestedExecution{{Actor: actor, Version: v, Execution: ex}}); err != nil {
			return nil, "", err
		}
		claim, err := claimFor(r, ex)
		if err != nil {
			return nil, "", err
		}
		inserted, err := models.InsertIdempotencyClaims(ctx, tx, []*models.IdempotencyKey{claim})
		if err != nil {
			return nil, "", err
		}
		if !inserted[0] {
			return nil, "", ErrIdempotencyKeyTaken
		}
	}
	jobID, err := e.queue.enqueue(ctx, tx, ex.ID, 1, time.Time{})
	if err != nil {
		return nil, "", err
	}
	ex.JobID = &jobID
	if err := models.InsertRequestedExecution(ctx, tx, actor, v, ex); err != nil {
		return nil, "", err
	}
	if r.Also != nil {
		if err := r.Also(ctx, tx, ex); err != nil {
			return nil, "", err
		}
	}
	return ex, rb.cfg.Kind(), nil
}

// Rerun requests a new execution with the same input as an earlier one, of
// the bot's currently active version.
func (e *Engine) Rerun(ctx context.Context, actor models.Actor, id uuid.UUID) (*models.Execution, error) {
	old, err := models.ExecutionByID(ctx, e.db, id)
	if err != nil {
		return nil, err
	}
	return e.Request(ctx, actor, RunRequest{BotID: old.BotID, Input: old.Input, Trigger: models.TriggerReplay})
}

// Cancel cancels a queued execution, or interrupts a running one (here at
// once when this process runs it; other workers notice within a second).
func (e *Engine) Cancel(ctx context.Context, actor models.Actor, id uuid.UUID) (*models.Execution, error) {
	ex, err := models.RequestCancel(ctx, e.db, actor, id)
	if err != nil {
		return nil, err
	}
	if ex.Status == models.ExecCancelled {
		e.countFinished(ctx, ex, ex.Status) // it was queued: no worker ends it
	}
	if f, ok := e.running.Load(id); ok {
		f.(context.CancelCauseFunc)(errCancelledByUser)
	}
	return ex, nil
}

// versionConfig parses a version's config once per process.
func (e *Engine) versionConfig(v *models.BotVersion) (Config, error) {
	if c, ok := e.configs.Load(v.ID); ok {
		return c.(Config), nil
	}
	cfg, err := ValidateConfig(v.Kind, v.Config)
	if err != nil {
		return nil, &models.StateError{Message: fmt.Sprintf("Version %d's config is not valid any more: %v", v.Number, err)}
	}
	e.configs.Store(v.ID, cfg)
	return cfg, nil
}

// MaxHTTPTimeout is the longest timeout_seconds an http or llm config may set.
const MaxHTTPTimeout = 300 * time.Second

// MaxInputBytes bounds an execution's input.
const MaxInputBytes = 1 << 20

package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/codex32/codex32/internal/batch"
	"github.com/codex32/codex32/internal/telemetry"
	"github.com/codex32/codex32/models"
)

// claimBatch and finishBatch bound how many attempts one transaction claims
// or records.
const (
	claimBatch  = 128
	finishBatch = 128
	// finishLinger is how long a result may wait to share a transaction.
	finishLinger = 5 * time.Millisecond
)

// waiting is what a peek found of an attempt: whether it is still waiting
// to be claimed, and its bot kind.
type waiting struct {
	ok   bool
	kind models.BotKind
}

func (e *Engine) initBatchers() {
	e.requests = batch.New(requestBatch, e.flushRequests)
	e.peeks = batch.New(claimBatch, func(ctx context.Context, cs []models.Claim) ([]waiting, error) {
		got, err := models.WaitingExecutions(ctx, e.db, cs)
		if err != nil {
			return nil, err
		}
		out := make([]waiting, len(cs))
		for i, c := range cs {
			kind, ok := got[c.ID]
			out[i] = waiting{ok: ok, kind: kind}
		}
		return out, nil
	})
	e.claims = batch.New(claimBatch, func(ctx context.Context, cs []models.Claim) ([]*models.Execution, error) {
		got, err := models.ClaimExecutions(ctx, e.db, e.cfg.WorkerID, cs)
		if err != nil {
			return nil, err
		}
		out := make([]*models.Execution, len(cs))
		for i, c := range cs {
			out[i] = got[c.ID]
		}
		return out, nil
	})
	// Results wait up to finishLinger for company: one transaction (and
	// one statistics update per bot) for many attempts under load.
	e.finishes = batch.NewLingering(finishBatch, finishLinger, func(ctx context.Context, fs []models.Finish) ([]error, error) {
		return models.FinishExecutions(ctx, e.db, fs, e.finishOptions())
	})
}

// work runs one attempt: claim it, run the bot kind, record the outcome.
// A script attempt is claimed (and becomes running) only once it holds a
// sandbox slot, so one waiting for a slot stays queued.
func (e *Engine) work(ctx context.Context, args ExecuteArgs) error {
	hold, ok, err := e.awaitSlot(ctx, args)
	if err != nil || !ok {
		return err
	}
	defer hold.Release() // unless it ran
	ex, err := e.claims.Do(ctx, models.Claim{ID: args.ExecutionID, Attempt: args.Attempt})
	if err != nil {
		return fmt.Errorf("claim execution %s: %w", args.ExecutionID, err)
	}
	if ex == nil {
		return nil // cancelled, finished, or a duplicate job
	}
	ctx = telemetry.WithExecution(ctx, ex.ID.String(), ex.BotID.String()) // its log lines say which
	started := time.Now()
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	e.running.Store(ex.ID, cancel)
	defer e.running.Delete(ex.ID)

	res, secrets, runErr := e.runAttempt(runCtx, ex, hold)
	f := e.outcome(ctx, runCtx, ex, res, secrets, runErr)
	f.Started, f.Ended = started, time.Now()
	stored, held, err := e.record(ctx, f)
	if err == nil && held {
		e.countAttempt(e.kindOf(ctx, ex), ex, stored)
	}
	return err
}

// awaitSlot returns whether the attempt is still waiting to run (false:
// cancelled, finished, or a duplicate job) and, for a script, a held
// sandbox slot. If the wait ends first (the worker is stopping, River's
// job timeout) the job is given back to River as it was: the attempt did
// not begin and is not spent. A worker that dies while waiting leaves the
// execution queued, and a live one queues it again (recoverStranded).
func (e *Engine) awaitSlot(ctx context.Context, args ExecuteArgs) (*ScriptHold, bool, error) {
	if e.cfg.Scripts == nil {
		return nil, true, nil
	}
	w, err := e.peeks.Do(ctx, models.Claim{ID: args.ExecutionID, Attempt: args.Attempt})
	if err != nil {
		return nil, false, fmt.Errorf("look up execution %s: %w", args.ExecutionID, err)
	}
	if !w.ok || w.kind != models.KindScript {
		return nil, w.ok, nil
	}
	holdCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(e.draining, cancel)() //nolint:contextcheck // draining only signals the stop; the hold runs under ctx
	hold, err := e.cfg.Scripts.Hold(holdCtx)
	if err != nil {
		return nil, false, river.JobSnooze(0)
	}
	return hold, true, nil
}

// runAttempt loads what the attempt needs and runs the bot kind (a script
// on hold, when it holds a slot).
func (e *Engine) runAttempt(ctx context.Context, ex *models.Execution, hold *ScriptHold) (*Result, map[string]string, error) {
	if ex.VersionID == nil {
		return nil, nil, &RunError{Message: "the version this execution was requested for was deleted"}
	}
	cfg, err := e.configByVersionID(ctx, *ex.VersionID)
	if err != nil {
		return nil, nil, err
	}
	secrets, err := e.runSecrets(ctx, ex, cfg.SecretNames())
	if err != nil {
		return nil, nil, err
	}
	client, guard := guardSecrets(e.client, secrets.Hosts)
	run := e.cfg.Run
	if run == nil {
		run = func(ctx context.Context, cfg Config, input json.RawMessage, values map[string]string, meta RunMeta) (*Result, error) {
			return e.runKind(ctx, client, cfg, input, values, meta, hold)
		}
	}
	meta := RunMeta{ExecutionID: ex.ID, BotID: ex.BotID, Attempt: ex.Attempt}
	res, err := run(ctx, cfg, ex.Input, secrets.Values, meta)
	if r := guard.Refusal(); r != nil {
		e.auditSecretRefusal(ctx, ex, *r)
	}
	return res, secrets.Values, err
}

// runSecrets reveals the secrets a run needs, if its bot may use them all.
// A refusal fails the run before anything is sent, and is audited.
func (e *Engine) runSecrets(ctx context.Context, ex *models.Execution, names []string) (models.RunSecrets, error) {
	if len(names) == 0 {
		return models.RunSecrets{}, nil
	}
	b, err := models.BotByID(ctx, e.db, ex.BotID)
	if errors.Is(err, models.ErrNotFound) {
		return models.RunSecrets{}, &RunError{Message: "the bot was deleted"}
	}
	if err != nil {
		return models.RunSecrets{}, &RunError{Message: "could not read the bot", Retryable: true}
	}
	secrets, err := models.RevealSecretsFor(ctx, e.db, e.cfg.Secrets, names, models.UserOfBot(b))
	var refusal *models.SecretRefusal
	if errors.As(err, &refusal) {
		e.auditSecretRefusal(ctx, ex, *refusal)
		return models.RunSecrets{}, &RunError{Message: refusal.Error() + "; nothing was sent"}
	}
	if err != nil {
		return models.RunSecrets{}, &RunError{Message: "could not read the bot's secrets", Retryable: true}
	}
	return secrets, nil
}

// auditSecretRefusal records a run's refused use of a secret; a failure to
// record it is logged (the run fails either way).
func (e *Engine) auditSecretRefusal(ctx context.Context, ex *models.Execution, r models.SecretRefusal) {
	actor := models.SystemActor("execution " + ex.ID.String())
	if err := models.AuditSecretRefusals(context.WithoutCancel(ctx), e.db, actor, &ex.BotID, "run", []models.SecretRefusal{r}); err != nil {
		e.log.Error("could not audit a refused secret", "execution", ex.ID, "secret", r.Name, "err", err)
	}
}

// runKind dispatches to the bot kinds; client is the run's outbound client.
func (e *Engine) runKind(ctx context.Context, client *http.Client, cfg Config, input json.RawMessage, secrets map[string]string, meta RunMeta, hold *ScriptHold) (*Result, error) {
	switch c := cfg.(type) {
	case *ScriptConfig:
		mc, _ := json.Marshal(meta)
		req := ScriptRequest{Source: c.Source, Input: input, Context: mc, Timeout: min(c.Timeout(), e.cfg.ScriptMaxTimeout)}
		if live := e.cfg.LiveLog; live != nil {
			req.OnLog = func(line string) { live(meta, line) }
		}
		if hold != nil {
			return hold.Run(ctx, req)
		}
		return e.cfg.Scripts.Run(ctx, req)
	case *HTTPConfig:
		return RunHTTP(ctx, countedClient(client, e.cfg.Metrics, string(models.KindHTTP)), c, input, secrets)
	case *LLMConfig:
		res, err := RunLLM(ctx, countedClient(client, e.cfg.Metrics, string(models.KindLLM)), c, input, secrets)
		e.countTokens(c, res)
		return res, err
	default:
		return nil, &RunError{Message: fmt.Sprintf("unknown bot config %T", cfg)}
	}
}

// outcome turns what happened into the attempt's Finish record, with
// secrets masked out of everything stored.
func (e *Engine) outcome(jobCtx, runCtx context.Context, ex *models.Execution, res *Result, secrets map[string]string, runErr error) models.Finish {
	f := models.Finish{ID: ex.ID, WorkerID: e.cfg.WorkerID, Attempt: ex.Attempt, BotID: ex.BotID, Prior: ex.Attempts}
	mask := func(s string) string { return models.MaskSecrets(s, secrets) }
	maskJSON := func(raw json.RawMessage) json.RawMessage {
		if len(raw) == 0 || len(secrets) == 0 {
			return raw
		}
		masked := json.RawMessage(mask(string(raw)))
		if !json.Valid(masked) {
			return raw // masking never breaks JSON in practice; keep it valid regardless
		}
		return masked
	}
	var re *RunError
	switch {
	case runErr == nil && res != nil:
		f.Status, f.Output, f.Logs = models.ExecSuccess, maskJSON(res.Output), mask(res.Logs)
		if why := unstorableOutput(f.Output); why != "" {
			f.Status, f.Output, f.Error = models.ExecFailed, nil, why
		}
		return f
	case errors.Is(context.Cause(runCtx), errCancelledByUser):
		f.Status, f.Error = models.ExecCancelled, "Cancelled while running."
		var stopped *StoppedError
		if errors.As(runErr, &stopped) {
			f.Logs = mask(stopped.Logs) // what it printed before the cancel
		}
	case jobCtx.Err() != nil:
		// The worker is stopping: give the attempt back to the queue.
		f.Status, f.Requeue, f.RetryAt = models.ExecQueued, true, time.Now()
		f.Error = "Interrupted: the worker shut down; the attempt was queued again."
	case errors.As(runErr, &re):
		f.Error, f.Logs, f.Output = mask(re.Message), mask(re.Logs), maskJSON(re.Output)
		if why := unstorableOutput(f.Output); why != "" {
			f.Output, f.Error = nil, f.Error+" (its output was not kept: "+why+")"
		}
		f.Status = models.ExecFailed
		if re.TimedOut {
			f.Status = models.ExecTimedOut
		}
		if (re.Retryable || re.TimedOut) && ex.Attempt < ex.MaxAttempts {
			f.Status, f.RetryAt = models.ExecQueued, time.Now().Add(e.retryDelay(ex))
		}
	default:
		if runErr == nil {
			runErr = errors.New("the bot produced no result")
		}
		e.log.Error("execution failed unexpectedly", "execution", ex.ID, "err", runErr)
		f.Status, f.Error = models.ExecFailed, mask(runErr.Error())
	}
	return f
}

func (e *Engine) retryDelay(ex *models.Execution) time.Duration {
	if ex.VersionID != nil {
		if c, ok := e.configs.Load(*ex.VersionID); ok {
			return c.(Config).Retry().Delay(ex.Attempt)
		}
	}
	return time.Second << min(ex.Attempt, 10)
}

// unstorableOutput says why an output cannot be recorded ("" if it can).
func unstorableOutput(out json.RawMessage) string {
	if len(out) > MaxOutputBytes {
		return fmt.Sprintf("output is %d bytes; the limit is %d", len(out), MaxOutputBytes)
	}
	if why := models.JSONTooDeep(out); why != "" {
		return "the output " + why
	}
	return ""
}

// record stores an attempt's outcome (see recordOnce), retrying while the
// database is away: an unrecorded attempt would stay "running" as long as
// this worker lives. It gives up only once the job's context has ended
// (the worker is stopping) and a few tries have failed; the attempt is
// then recovered as lost after the process is gone.
// It returns what was stored and whether the attempt was still held
// (false: cancelled or recovered meanwhile, nothing stored).
func (e *Engine) record(jobCtx context.Context, f models.Finish) (models.Finish, bool, error) {
	var err error
	for try, wait := 0, 100*time.Millisecond; try < 10 || jobCtx.Err() == nil; try, wait = try+1, min(wait*2, 10*time.Second) {
		var stored models.Finish
		var held bool
		if stored, held, err = e.recordOnce(jobCtx, f, try == 0); err == nil {
			return stored, held, nil
		}
		e.log.Warn("record execution outcome", "execution", f.ID, "err", err)
		time.Sleep(wait)
	}
	return f, false, fmt.Errorf("record execution %s: %w", f.ID, err)
}

// recordOnce tries to store f: shared with other results (batched), else
// alone, so that a result the database refuses cannot sink the others;
// if it is refused alone, the attempt is recorded failed without its
// output and logs, with the reason, so that a result that can never be
// written still ends its execution. An error means even that failed: the
// database is away.
func (e *Engine) recordOnce(jobCtx context.Context, f models.Finish, batched bool) (models.Finish, bool, error) {
	finish := func(f models.Finish) (error, error) {
		// The outcome is stored even after the job's context has ended (the
		// worker stopping): keep its values, not its cancellation.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(jobCtx), time.Minute)
		defer cancel()
		if batched {
			return e.finishes.Do(ctx, f)
		}
		errs, err := models.FinishExecutions(ctx, e.db, []models.Finish{f}, e.finishOptions())
		if err != nil {
			return nil, err
		}
		return errs[0], nil
	}
	itemErr, err := finish(f)
	if err != nil && batched {
		batched = false
		itemErr, err = finish(f)
	}
	if err != nil {
		batched = false
		mended := withoutResult(f, err)
		if itemErr, err = finish(mended); err == nil {
			e.log.Error("execution result could not be stored; recorded it failed without its output and logs", "execution", f.ID, "err", mended.Error)
			f = mended
		}
	}
	if err == nil && itemErr != nil {
		// Recovered by another worker or cancelled meanwhile.
		e.log.Info("attempt no longer held", "execution", f.ID, "attempt", f.Attempt)
		return f, false, nil
	}
	return f, err == nil, err
}

// withoutResult is f without what could not be stored, failed with why.
func withoutResult(f models.Finish, writeErr error) models.Finish {
	reason := writeErr
	for next := errors.Unwrap(reason); next != nil; next = errors.Unwrap(reason) {
		reason = next // the database's own words, without our wrapping
	}
	f.Output, f.Logs = nil, ""
	f.Error = fmt.Sprintf("The result of attempt %d could not be stored (%v); it was recorded failed, without its output and logs.", f.Attempt, reason)
	if f.Status.Terminal() {
		f.Status = models.ExecFailed
	}
	return f
}

func (e *Engine) finishOptions() models.FinishOptions {
	return models.FinishOptions{ErrorAfterFailures: e.cfg.ErrorAfterFailures, Enqueue: e.queue.enqueue}
}

// configByVersionID returns a version's parsed config, from the cache or
// the database.
func (e *Engine) configByVersionID(ctx context.Context, id uuid.UUID) (Config, error) {
	if c, ok := e.configs.Load(id); ok {
		return c.(Config), nil
	}
	v, err := models.BotVersionByID(ctx, e.db, id)
	if err != nil {
		return nil, fmt.Errorf("load version %s: %w", id, err)
	}
	cfg, err := e.versionConfig(v)
	if err != nil {
		return nil, &RunError{Message: err.Error()}
	}
	return cfg, nil
}

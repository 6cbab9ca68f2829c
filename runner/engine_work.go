package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/codex32/codex32/internal/batch"
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

func (e *Engine) initBatchers() {
	e.requests = batch.New(requestBatch, e.flushRequests)
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
		return models.FinishExecutions(ctx, e.db, fs, models.FinishOptions{
			ErrorAfterFailures: e.cfg.ErrorAfterFailures,
			Enqueue:            e.queue.enqueue,
		})
	})
}

// work runs one attempt: claim it, run the bot kind, record the outcome.
func (e *Engine) work(ctx context.Context, args ExecuteArgs) error {
	ex, err := e.claims.Do(ctx, models.Claim{ID: args.ExecutionID, Attempt: args.Attempt})
	if err != nil {
		return fmt.Errorf("claim execution %s: %w", args.ExecutionID, err)
	}
	if ex == nil {
		return nil // cancelled, finished, or a duplicate job
	}
	started := time.Now()
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	e.running.Store(ex.ID, cancel)
	defer e.running.Delete(ex.ID)

	res, secrets, runErr := e.runAttempt(runCtx, ex)
	f := e.outcome(ctx, runCtx, ex, res, secrets, runErr)
	f.Started, f.Ended = started, time.Now()
	return e.record(f)
}

// runAttempt loads what the attempt needs and runs the bot kind.
func (e *Engine) runAttempt(ctx context.Context, ex *models.Execution) (*Result, map[string]string, error) {
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
			return e.runKind(ctx, client, cfg, input, values, meta)
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
func (e *Engine) runKind(ctx context.Context, client *http.Client, cfg Config, input json.RawMessage, secrets map[string]string, meta RunMeta) (*Result, error) {
	switch c := cfg.(type) {
	case *ScriptConfig:
		mc, _ := json.Marshal(meta)
		return e.cfg.Scripts.Run(ctx, ScriptRequest{Source: c.Source, Input: input, Context: mc, Timeout: min(c.Timeout(), e.cfg.ScriptMaxTimeout)})
	case *HTTPConfig:
		return RunHTTP(ctx, client, c, input, secrets)
	case *LLMConfig:
		return RunLLM(ctx, client, c, input, secrets)
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
		if len(f.Output) > MaxOutputBytes {
			f.Status, f.Output, f.Error = models.ExecFailed, nil, fmt.Sprintf("output is %d bytes; the limit is %d", len(res.Output), MaxOutputBytes)
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

// record stores an attempt's outcome, retrying while the database is away
// (an unrecorded attempt would stay "running" until this worker dies).
func (e *Engine) record(f models.Finish) error {
	var err error
	for try, wait := 0, 100*time.Millisecond; try < 10; try, wait = try+1, min(wait*2, 10*time.Second) {
		var itemErr error
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		itemErr, err = e.finishes.Do(ctx, f)
		cancel()
		if err == nil {
			if itemErr != nil {
				// Recovered by another worker or cancelled meanwhile.
				e.log.Info("attempt no longer held", "execution", f.ID, "attempt", f.Attempt)
			}
			return nil
		}
		e.log.Warn("record execution outcome", "execution", f.ID, "err", err)
		time.Sleep(wait)
	}
	return fmt.Errorf("record execution %s: %w", f.ID, err)
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

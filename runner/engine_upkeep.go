package runner

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/codex32/codex32/models"
)

// Start announces this worker, starts River's workers and the upkeep loops
// (heartbeat, recovery of lost workers' executions, cancel requests,
// retention). An engine without workers has nothing to start.
func (e *Engine) Start(ctx context.Context) error {
	if !e.queue.working {
		return nil
	}
	host, _ := os.Hostname()
	w := &models.Worker{ID: e.cfg.WorkerID, Hostname: host, PID: os.Getpid()}
	if err := models.Heartbeat(ctx, e.db, w); err != nil {
		return err
	}
	if err := e.queue.start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("runner: start workers: %w", err)
	}
	e.upkeepCtx, e.stopUp = context.WithCancel(context.WithoutCancel(ctx))
	beat := e.cfg.LostAfter / 3
	e.loop("heartbeat", beat, func(ctx context.Context) error { return models.Heartbeat(ctx, e.db, w) })
	e.loop("recover lost executions", beat, e.recoverLost)
	e.loop("recover stranded executions", beat, e.recoverStranded)
	e.loop("cancel requests", 250*time.Millisecond, e.pollCancels)
	if e.cfg.Retention > 0 {
		e.loop("retention", 10*time.Minute, e.prune)
	}
	e.loop("forget old workers", time.Hour, func(ctx context.Context) error {
		return models.PruneWorkers(ctx, e.db, time.Now().Add(-24*time.Hour))
	})
	e.log.Info("workers started", "worker", e.cfg.WorkerID, "concurrency", e.cfg.Workers)
	return nil
}

// Stop stops taking work and lets running attempts finish until ctx ends;
// then it interrupts them, and each is queued again (without using up an
// attempt) for another worker.
func (e *Engine) Stop(ctx context.Context) error {
	if !e.queue.working || e.stopUp == nil {
		return nil
	}
	e.stopDrain()
	err := e.queue.stop(ctx)
	if err != nil {
		e.log.Warn("grace period over: interrupting running executions")
		// ctx has ended (that is why we are here): the hard stop and the
		// unregistering below get time of their own, keeping ctx's values.
		hard, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err = e.queue.stopAndCancel(hard)
		cancel()
	}
	e.stopUp()
	e.upkeepWG.Wait()
	rm, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if rmErr := models.RemoveWorker(rm, e.db, e.cfg.WorkerID); rmErr != nil {
		e.log.Warn("unregister worker", "err", rmErr)
	}
	return err
}

// loop runs fn every interval (jittered ±10 %) until Stop.
func (e *Engine) loop(name string, every time.Duration, fn func(context.Context) error) {
	e.upkeepWG.Add(1)
	go func() {
		defer e.upkeepWG.Done()
		for {
			jitter := time.Duration(float64(every) * (0.9 + 0.2*rand.Float64())) //nolint:gosec // G404: timing jitter, not a secret
			select {
			case <-e.upkeepCtx.Done():
				return
			case <-time.After(jitter):
			}
			if err := fn(e.upkeepCtx); err != nil && e.upkeepCtx.Err() == nil {
				e.log.Warn("engine upkeep failed", "task", name, "err", err)
			}
		}
	}()
}

// recoverLost ends or retries the attempts of workers that stopped
// reporting (killed, crashed, cut off): each execution is retried when it
// has attempts left, else marked failed with the reason.
func (e *Engine) recoverLost(ctx context.Context) error {
	lost, err := models.LostExecutions(ctx, e.db, e.cfg.WorkerID, time.Now().Add(-e.cfg.LostAfter), 500)
	if err != nil {
		return err
	}
	if len(lost) == 0 {
		return nil
	}
	fs := make([]models.Finish, 0, len(lost))
	for _, ex := range lost {
		worker := ""
		if ex.WorkerID != nil {
			worker = *ex.WorkerID
		}
		started := time.Now()
		if ex.StartedAt != nil {
			started = *ex.StartedAt
		}
		f := models.Finish{
			ID: ex.ID, WorkerID: worker, Attempt: ex.Attempt, Status: models.ExecFailed,
			Error:   fmt.Sprintf("The worker running attempt %d (%s) stopped responding for over %s; the attempt was lost.", ex.Attempt, worker, e.cfg.LostAfter),
			Started: started, Ended: time.Now(),
		}
		if ex.Attempt < ex.MaxAttempts {
			// The attempt already waited LostAfter: retry at once.
			f.Status, f.RetryAt = models.ExecQueued, time.Now()
		}
		fs = append(fs, f)
	}
	errs, err := models.FinishExecutions(ctx, e.db, fs, e.finishOptions())
	if err != nil {
		return err
	}
	for i, f := range fs {
		if errs[i] == nil {
			e.countFinished(ctx, &lost[i], f.Status)
		}
	}
	e.log.Warn("recovered executions of lost workers", "count", len(fs))
	return nil
}

// recoverStranded queues again the attempts a lost worker had fetched but
// not begun (waiting for a sandbox slot, or for their claim): they are
// still queued, but their job is River's "running" on the dead process,
// and River would only rescue it after its stuck-job window. Nothing is
// spent: the attempt never began.
func (e *Engine) recoverStranded(ctx context.Context) error {
	ss, err := models.StrandedExecutions(ctx, e.db, e.cfg.WorkerID, time.Now().Add(-e.cfg.LostAfter), 500)
	if err != nil || len(ss) == 0 {
		return err
	}
	n, err := models.RequeueStranded(ctx, e.db, ss, e.queue.enqueue)
	if err != nil {
		return err
	}
	e.log.Warn("queued again executions that lost workers had not begun", "count", n)
	return nil
}

// pollCancels interrupts running attempts that someone asked (through any
// process) to cancel.
func (e *Engine) pollCancels(ctx context.Context) error {
	busy := false
	e.running.Range(func(_, _ any) bool { busy = true; return false })
	if !busy {
		return nil
	}
	ids, err := models.CancelRequested(ctx, e.db, e.cfg.WorkerID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if f, ok := e.running.Load(id); ok {
			f.(context.CancelCauseFunc)(errCancelledByUser)
		}
	}
	return nil
}

// prune applies the retention period in batches.
func (e *Engine) prune(ctx context.Context) error {
	cutoff := time.Now().Add(-e.cfg.Retention)
	total := 0
	for {
		n, err := models.PruneExecutions(ctx, e.db, cutoff, e.cfg.KeepPerBot, 1000)
		total += n
		if err != nil {
			return err
		}
		if n < 1000 {
			break
		}
	}
	if total > 0 {
		e.log.Info("pruned old executions", "count", total, "older_than", cutoff.Format(time.RFC3339))
	}
	return nil
}

// Running reports whether this process is running the execution now.
func (e *Engine) Running(id uuid.UUID) bool {
	_, ok := e.running.Load(id)
	return ok
}

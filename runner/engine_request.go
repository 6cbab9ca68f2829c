package runner

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/codex32/codex32/models"
)

// requestBatch bounds how many requests share one transaction.
const requestBatch = 128

type requestItem struct {
	actor models.Actor
	r     RunRequest
	// trace and traceID are the requester's trace context (batched
	// requests share a transaction, not a context).
	trace   map[string]string
	traceID string
}

type requestResult struct {
	ex   *models.Execution
	kind models.BotKind
	err  error
}

// checkInput validates and defaults a request's input.
func checkInput(r *RunRequest) error {
	if len(r.Input) == 0 {
		r.Input = json.RawMessage("{}")
	}
	if len(r.Input) > MaxInputBytes {
		return &models.ValidationError{Fields: map[string]string{"input": fmt.Sprintf("is %d bytes; the limit is %d (1 MiB)", len(r.Input), MaxInputBytes)}}
	}
	if !json.Valid(r.Input) {
		return &models.ValidationError{Fields: map[string]string{"input": "is not valid JSON"}}
	}
	if why := models.JSONTooDeep(r.Input); why != "" {
		return &models.ValidationError{Fields: map[string]string{"input": why}}
	}
	if models.HasNULEscape(r.Input) {
		return &models.ValidationError{Fields: map[string]string{"input": `has a NUL character (\u0000) in a string, which cannot be stored`}}
	}
	return nil
}

// flushRequests queues a batch of requests in one transaction: their jobs
// in one INSERT, their executions in one, their audit rows in one. Requests
// that may not run get their own error; if the transaction fails, each
// request is retried alone so one bad request cannot sink the others.
func (e *Engine) flushRequests(ctx context.Context, items []requestItem) ([]requestResult, error) {
	out := make([]requestResult, len(items))
	bots := map[uuid.UUID]runnable{}
	var ok []int
	for i := range items {
		it := &items[i]
		rb, seen := bots[it.r.BotID]
		if !seen {
			rb = e.loadRunnable(ctx, e.db, it.r.BotID)
			bots[it.r.BotID] = rb
		}
		if err := rb.forRequest(&it.r); err != nil {
			out[i].err = err
			continue
		}
		ok = append(ok, i)
	}
	if len(ok) == 0 {
		return out, nil
	}
	var taken []int // requests whose Idempotency-Key claim found the key recorded
	err := e.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		taken = nil
		rs := make([]models.RequestedExecution, len(ok))
		for k, i := range ok {
			it := items[i]
			rb := bots[it.r.BotID]
			ex := &models.Execution{ID: models.NewID(), Input: it.r.Input, Trigger: it.r.Trigger, MaxAttempts: rb.cfg.Retry().MaxAttempts, BotName: rb.b.Name, TraceID: it.traceID}
			rs[k] = models.RequestedExecution{Actor: it.actor, Version: rb.v, Execution: ex}
		}
		ok := ok
		if err := models.PrepareRequestedExecutions(rs); err != nil {
			return err
		}
		var claims []*models.IdempotencyKey
		var claimed []int // positions in ok and rs
		for k, i := range ok {
			if items[i].r.Claim == nil {
				continue
			}
			c, err := claimFor(items[i].r, rs[k].Execution)
			if err != nil {
				return err
			}
			claims, claimed = append(claims, c), append(claimed, k)
		}
		if len(claims) > 0 {
			inserted, err := models.InsertIdempotencyClaims(ctx, tx, claims)
			if err != nil {
				return err
			}
			skip := map[int]bool{}
			for n, k := range claimed {
				if !inserted[n] {
					skip[k] = true
					taken = append(taken, ok[k])
				}
			}
			if len(skip) > 0 {
				var keepOK []int
				var keepRS []models.RequestedExecution
				for k := range ok {
					if !skip[k] {
						keepOK, keepRS = append(keepOK, ok[k]), append(keepRS, rs[k])
					}
				}
				ok, rs = keepOK, keepRS
			}
			if len(ok) == 0 {
				return nil
			}
		}
		args := make([]ExecuteArgs, len(ok))
		for k := range ok {
			args[k] = ExecuteArgs{ExecutionID: rs[k].Execution.ID, Attempt: 1, Trace: items[ok[k]].trace}
		}
		jobIDs, err := e.queue.insertMany(ctx, tx.Tx, args)
		if err != nil {
			return fmt.Errorf("runner: enqueue %d: %w", len(args), err)
		}
		for k := range rs {
			rs[k].Execution.JobID = &jobIDs[k]
		}
		if err := models.InsertRequestedExecutions(ctx, tx, rs); err != nil {
			return err
		}
		for k, i := range ok {
			if also := items[i].r.Also; also != nil {
				if err := also(ctx, tx, rs[k].Execution); err != nil {
					return err
				}
			}
			out[i].ex, out[i].kind = rs[k].Execution, bots[items[i].r.BotID].cfg.Kind()
		}
		return nil
	})
	if err == nil {
		for _, i := range taken {
			out[i].err = ErrIdempotencyKeyTaken
		}
		return out, nil
	}
	if len(ok) == 1 {
		out[ok[0]] = requestResult{err: err}
		return out, nil
	}
	for _, i := range ok {
		it := items[i]
		var ex *models.Execution
		var kind models.BotKind
		txErr := e.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			var err error
			ex, kind, err = e.requestTx(ctx, tx, it.actor, it.r)
			return err
		})
		out[i] = requestResult{ex: ex, kind: kind, err: txErr}
	}
	return out, nil
}

package models

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// WaitingExecutions returns, of the given claims, those whose execution is
// still queued for exactly that attempt and not cancelled (what
// ClaimExecutions would claim), with the kind of its version ("" when the
// version was deleted). It writes nothing: a worker asks it before it waits
// for a sandbox slot, so the attempt stays queued until it can begin.
func WaitingExecutions(ctx context.Context, db bun.IDB, claims []Claim) (map[uuid.UUID]BotKind, error) {
	ids := make([]uuid.UUID, len(claims))
	for i, c := range claims {
		ids[i] = c.ID
	}
	var rows []struct {
		ID      uuid.UUID `bun:"id,type:uuid"`
		Attempt int       `bun:"attempt"`
		Kind    *BotKind  `bun:"kind"`
	}
	err := db.NewRaw(`SELECT e.id, e.attempt, v.kind FROM bot_executions e
		LEFT JOIN bot_versions v ON v.id = e.version_id
		WHERE e.id IN (?) AND e.status = 'queued' AND e.cancel_requested_at IS NULL`, bun.List(ids)).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("executions: waiting %d: %w", len(ids), err)
	}
	next := make(map[uuid.UUID]int, len(rows))
	kinds := make(map[uuid.UUID]BotKind, len(rows))
	for _, r := range rows {
		next[r.ID] = r.Attempt + 1
		if r.Kind != nil {
			kinds[r.ID] = *r.Kind
		}
	}
	out := make(map[uuid.UUID]BotKind, len(claims))
	for _, c := range claims {
		if next[c.ID] == c.Attempt {
			out[c.ID] = kinds[c.ID]
		}
	}
	return out, nil
}

// Stranded is a queued execution whose job a worker fetched and then died
// holding, before the attempt began (waiting for a sandbox slot, or for
// its claim to commit).
type Stranded struct {
	ID      uuid.UUID `bun:"id,type:uuid"`
	Attempt int       `bun:"attempt"`
	JobID   int64     `bun:"job_id"`
	Worker  string    `bun:"worker"`
}

// StrandedExecutions finds queued executions whose current job River holds
// as running on a worker other than self that is lost: its heartbeat is
// older than before, or it has none and the job was fetched before before
// (a worker registers before it fetches, so a missing row is one that is
// gone). River would only rescue such a job after its stuck-job window
// (many minutes); the engine queues these attempts again itself.
func StrandedExecutions(ctx context.Context, db bun.IDB, self string, before time.Time, limit int) ([]Stranded, error) {
	// The last entry of attempted_by is the River client that fetched the
	// job: the engine names its client after its worker id.
	last, execID, fetched := `j.attempted_by[cardinality(j.attempted_by)]`, `(j.args->>'execution_id')::uuid`, `j.attempted_at < ?`
	if db.Dialect().Name() == dialect.SQLite {
		// River writes SQLite times in a format of its own: compare instants.
		last, execID, fetched = `json_extract(j.attempted_by, '$[#-1]')`, `json_extract(j.args, '$.execution_id')`, `julianday(j.attempted_at) < julianday(?)`
	}
	before = before.UTC()
	var rows []Stranded
	err := db.NewRaw(`SELECT e.id, e.attempt, e.job_id, `+last+` AS worker
		FROM river_job j JOIN bot_executions e ON e.id = `+execID+` AND e.job_id = j.id
		WHERE j.state = 'running' AND j.kind = 'codex32.execute'
			AND e.status = 'queued' AND e.cancel_requested_at IS NULL
			AND `+last+` <> ?
			AND (EXISTS (SELECT 1 FROM codex32_workers w WHERE w.id = `+last+` AND w.heartbeat_at < ?)
				OR (`+fetched+` AND NOT EXISTS (SELECT 1 FROM codex32_workers w WHERE w.id = `+last+`)))
		LIMIT ?`, self, before, before, limit).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("executions: stranded: %w", err)
	}
	return rows, nil
}

// RequeueStranded gives each stranded execution a new job for the same
// attempt (nothing is spent: the attempt never began), in one transaction,
// each only if it is still queued on the job that was stranded. The old
// job is left to River; should it ever run, ClaimExecutions refuses it
// unless the attempt is still waiting, so no attempt runs twice. It
// returns how many were queued again.
func RequeueStranded(ctx context.Context, db bun.IDB, ss []Stranded, enqueue func(ctx context.Context, tx bun.Tx, id uuid.UUID, attempt int, at time.Time) (int64, error)) (int, error) {
	n := 0
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		n = 0
		for _, s := range ss {
			jobID, err := enqueue(ctx, tx, s.ID, s.Attempt+1, time.Time{})
			if err != nil {
				return fmt.Errorf("executions: requeue %s: %w", s.ID, err)
			}
			res, err := tx.NewUpdate().Model((*Execution)(nil)).Set("job_id = ?", jobID).
				Where("id = ? AND status = 'queued' AND attempt = ? AND job_id = ?", s.ID, s.Attempt, s.JobID).Exec(ctx)
			if err != nil {
				return fmt.Errorf("executions: requeue %s: %w", s.ID, err)
			}
			// Changed meanwhile (claimed, cancelled): the new job finds
			// nothing to do and ends.
			if k, _ := res.RowsAffected(); k > 0 {
				n++
			}
		}
		return nil
	})
	return n, err
}

package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/codex32/codex32/internal/batch"
)

// idempotencyBatch bounds how many keys one transaction begins or completes.
const idempotencyBatch = 128

// IdempotencyKeys begins and completes Idempotency-Keys like
// BeginIdempotencyKey and CompleteIdempotencyKey, but concurrent requests
// share transactions: under load an idempotent API call costs a fraction of
// the two commits it would otherwise add (see BENCHMARKS.md). Keys that were
// not simply inserted (seen before, expired, duplicated within one batch)
// take the one-at-a-time path, with the same answers.
type IdempotencyKeys struct {
	db        bun.IDB
	pg        bool
	begins    *batch.Batcher[*IdempotencyKey, bool]
	completes *batch.Batcher[idempotencyDone, error]
}

type idempotencyDone struct {
	rec     *IdempotencyKey
	status  int
	headers map[string]string
	body    []byte
}

// NewIdempotencyKeys returns the store on db.
func NewIdempotencyKeys(db bun.IDB) *IdempotencyKeys {
	s := &IdempotencyKeys{db: db, pg: db.Dialect().Name() == dialect.PG}
	s.begins = batch.New(idempotencyBatch, s.flushBegins)
	s.completes = batch.New(idempotencyBatch, s.flushCompletes)
	return s
}

// Begin is BeginIdempotencyKey.
func (s *IdempotencyKeys) Begin(ctx context.Context, apiKeyID uuid.UUID, key, fingerprint string, at time.Time) (*IdempotencyKey, bool, error) {
	if key == "" || len(key) > IdempotencyKeyMaxLen {
		return BeginIdempotencyKey(ctx, s.db, apiKeyID, key, fingerprint, at) // its validation error
	}
	rec := NewIdempotencyClaim(apiKeyID, key, fingerprint, at)
	inserted, err := s.begins.Do(ctx, rec)
	if err != nil {
		return nil, false, err
	}
	if inserted {
		return rec, true, nil
	}
	return BeginIdempotencyKey(ctx, s.db, apiKeyID, key, fingerprint, rec.CreatedAt)
}

// NewIdempotencyClaim returns the in-flight record that claims key for
// apiKeyID at time at, to insert with InsertIdempotencyClaims.
func NewIdempotencyClaim(apiKeyID uuid.UUID, key, fingerprint string, at time.Time) *IdempotencyKey {
	at = at.UTC().Truncate(time.Microsecond)
	return &IdempotencyKey{
		ID: NewID(), APIKeyID: apiKeyID, Key: key, Fingerprint: fingerprint, State: IdempotencyInFlight,
		ResponseHeaders: map[string]string{}, CreatedAt: at, ExpiresAt: at.Add(IdempotencyTTL),
	}
}

// InsertIdempotencyClaims inserts claims (from NewIdempotencyClaim) in one
// statement and reports which were inserted: a claim whose key is already
// recorded — live, expired, or claimed earlier in the same call — is
// skipped (BeginIdempotencyKey then says what is there). On Postgres a
// claim on a key that an uncommitted transaction holds waits for it.
func InsertIdempotencyClaims(ctx context.Context, db bun.IDB, recs []*IdempotencyKey) ([]bool, error) {
	out := make([]bool, len(recs))
	if len(recs) == 0 {
		return out, nil
	}
	ids := make([]uuid.UUID, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	// RETURNING NULL: Bun would otherwise scan returned rows back into
	// recs in order, which skipped rows would shift.
	if _, err := db.NewInsert().Model(&recs).On("CONFLICT (api_key_id, key) DO NOTHING").Returning("NULL").Exec(ctx); err != nil {
		return nil, fmt.Errorf("idempotency: claim %d: %w", len(recs), mapErr(err))
	}
	var got []uuid.UUID
	if err := db.NewSelect().Model((*IdempotencyKey)(nil)).Column("id").Where("id IN (?)", bun.List(ids)).Scan(ctx, &got); err != nil {
		return nil, fmt.Errorf("idempotency: claim %d: %w", len(recs), err)
	}
	mine := make(map[uuid.UUID]bool, len(got))
	for _, id := range got {
		mine[id] = true
	}
	for i, r := range recs {
		out[i] = mine[r.ID]
	}
	return out, nil
}

// flushBegins inserts the batch's keys in one statement; a key that
// conflicts with an existing one (or another in the batch) is skipped and
// reported as not inserted.
func (s *IdempotencyKeys) flushBegins(ctx context.Context, recs []*IdempotencyKey) ([]bool, error) {
	var out []bool
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if s.pg {
			// An in-flight claim need not wait for the disk: the request's
			// own work commits synchronously later, and that flushes the
			// log up to it; if Postgres crashes first, claim and work are
			// lost together and a retry starts afresh.
			if _, err := tx.ExecContext(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
				return fmt.Errorf("idempotency: begin: %w", err)
			}
		}
		var err error
		out, err = InsertIdempotencyClaims(ctx, tx, recs)
		return err
	})
	return out, err
}

// Complete is CompleteIdempotencyKey.
func (s *IdempotencyKeys) Complete(ctx context.Context, rec *IdempotencyKey, status int, headers map[string]string, body []byte) error {
	if status < 100 || status >= 500 {
		return CompleteIdempotencyKey(ctx, s.db, rec, status, headers, body) // its error
	}
	res, err := s.completes.Do(ctx, idempotencyDone{rec: rec, status: status, headers: headers, body: body})
	if err != nil {
		return err
	}
	return res
}

// flushCompletes stores the batch's responses in one transaction; each
// gets its own result (a key pruned or released meanwhile is ErrNotFound).
func (s *IdempotencyKeys) flushCompletes(ctx context.Context, ds []idempotencyDone) ([]error, error) {
	out := make([]error, len(ds))
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for i, d := range ds {
			out[i] = CompleteIdempotencyKey(ctx, tx, d.rec, d.status, d.headers, d.body)
			if out[i] != nil && !errors.Is(out[i], ErrNotFound) {
				return out[i] // the transaction is unusable
			}
		}
		return nil
	})
	return out, err
}

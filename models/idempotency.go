package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// IdempotencyTTL is how long an Idempotency-Key is remembered.
const IdempotencyTTL = 24 * time.Hour

// IdempotencyKeyMaxLen is the longest Idempotency-Key accepted.
const IdempotencyKeyMaxLen = 255

// IdempotencyState is where the first request with a key is.
type IdempotencyState string

const (
	// IdempotencyInFlight: the first request is still running.
	IdempotencyInFlight IdempotencyState = "in_flight"
	// IdempotencyDone: the first request's response is stored.
	IdempotencyDone IdempotencyState = "done"
)

// IdempotencyKey remembers one Idempotency-Key of one API key: the request it
// was first used with (as a fingerprint) and, once answered, the response.
type IdempotencyKey struct {
	bun.BaseModel `bun:"table:api_idempotency_keys,alias:ik"`

	ID              uuid.UUID         `bun:"id,pk,type:uuid"`
	APIKeyID        uuid.UUID         `bun:"api_key_id,notnull,type:uuid"`
	Key             string            `bun:"key,notnull"`
	Fingerprint     string            `bun:"fingerprint,notnull"`
	State           IdempotencyState  `bun:"state,notnull"`
	ResponseStatus  *int              `bun:"response_status"`
	ResponseHeaders map[string]string `bun:"response_headers,type:jsonb,notnull"`
	ResponseBody    []byte            `bun:"response_body"`
	CreatedAt       time.Time         `bun:"created_at,notnull"`
	ExpiresAt       time.Time         `bun:"expires_at,notnull"`
}

// BeginIdempotencyKey claims key for apiKeyID at time at. When no live record
// exists it inserts one in flight and returns it with started = true: the
// caller runs the request, then calls CompleteIdempotencyKey or
// ReleaseIdempotencyKey. Otherwise it returns the stored record (in flight
// or done, with whatever fingerprint it was first used with) and started =
// false. A record past its expiry counts as absent and is replaced.
//
// The insert is a single statement with ON CONFLICT DO NOTHING, so of two
// simultaneous requests with the same key exactly one starts, on one
// process or many.
func BeginIdempotencyKey(ctx context.Context, db bun.IDB, apiKeyID uuid.UUID, key, fingerprint string, at time.Time) (*IdempotencyKey, bool, error) {
	if key == "" || len(key) > IdempotencyKeyMaxLen {
		return nil, false, &ValidationError{Fields: map[string]string{"Idempotency-Key": fmt.Sprintf("must be 1 to %d characters", IdempotencyKeyMaxLen)}}
	}
	at = at.UTC().Truncate(time.Microsecond)
	// Each round either inserts, finds a live record, or removes an expired
	// one (or sees one vanish: released by its request); three rounds cover
	// every interleaving but a pathological one.
	for range 3 {
		rec := &IdempotencyKey{
			ID: NewID(), APIKeyID: apiKeyID, Key: key, Fingerprint: fingerprint, State: IdempotencyInFlight,
			ResponseHeaders: map[string]string{}, CreatedAt: at, ExpiresAt: at.Add(IdempotencyTTL),
		}
		res, err := db.NewInsert().Model(rec).On("CONFLICT (api_key_id, key) DO NOTHING").Exec(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("idempotency: begin: %w", mapErr(err))
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, false, fmt.Errorf("idempotency: begin: %w", err)
		} else if n == 1 {
			return rec, true, nil
		}
		old := new(IdempotencyKey)
		err = db.NewSelect().Model(old).Where("ik.api_key_id = ?", apiKeyID).Where("ik.key = ?", key).Scan(ctx)
		if errors.Is(mapErr(err), ErrNotFound) {
			continue // released meanwhile: try again
		} else if err != nil {
			return nil, false, fmt.Errorf("idempotency: load: %w", mapErr(err))
		}
		if old.ExpiresAt.After(at) {
			return old, false, nil
		}
		// Expired but not yet pruned: it no longer counts.
		if _, err := db.NewDelete().Model((*IdempotencyKey)(nil)).Where("id = ?", old.ID).Where("expires_at <= ?", at).Exec(ctx); err != nil {
			return nil, false, fmt.Errorf("idempotency: drop expired: %w", err)
		}
	}
	return nil, false, &StateError{Message: "A request with this Idempotency-Key is being processed; retry shortly."}
}

// CompleteIdempotencyKey stores the response of the request that began rec
// (status below 500; a failed request is released instead).
func CompleteIdempotencyKey(ctx context.Context, db bun.IDB, rec *IdempotencyKey, status int, headers map[string]string, body []byte) error {
	if status < 100 || status >= 500 {
		return fmt.Errorf("idempotency: complete %s: status %d is not stored (release the key instead)", rec.ID, status)
	}
	if headers == nil {
		headers = map[string]string{}
	}
	if body == nil {
		body = []byte{}
	}
	done := *rec
	done.State, done.ResponseStatus, done.ResponseHeaders, done.ResponseBody = IdempotencyDone, &status, headers, body
	res, err := db.NewUpdate().Model(&done).Column("state", "response_status", "response_headers", "response_body").
		WherePK().Where("state = ?", IdempotencyInFlight).Exec(ctx)
	if err != nil {
		return fmt.Errorf("idempotency: complete %s: %w", rec.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("idempotency: complete %s: %w", rec.ID, err)
	} else if n != 1 {
		// Pruned or released meanwhile: nothing to store the response in.
		return fmt.Errorf("idempotency: complete %s: %w", rec.ID, ErrNotFound)
	}
	*rec = done
	return nil
}

// ReleaseIdempotencyKey forgets an in-flight key whose request failed, so a
// retry with the same key runs again. A completed key is left alone.
func ReleaseIdempotencyKey(ctx context.Context, db bun.IDB, rec *IdempotencyKey) error {
	if _, err := db.NewDelete().Model((*IdempotencyKey)(nil)).
		Where("id = ?", rec.ID).Where("state = ?", IdempotencyInFlight).Exec(ctx); err != nil {
		return fmt.Errorf("idempotency: release %s: %w", rec.ID, err)
	}
	return nil
}

// PruneIdempotencyKeys deletes the keys expired at at and returns how many.
func PruneIdempotencyKeys(ctx context.Context, db bun.IDB, at time.Time) (int64, error) {
	res, err := db.NewDelete().Model((*IdempotencyKey)(nil)).
		Where("expires_at <= ?", at.UTC().Truncate(time.Microsecond)).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("idempotency: prune: %w", err)
	}
	return res.RowsAffected()
}

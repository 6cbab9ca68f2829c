package models_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

func idempotencyAPIKey(t *testing.T, db *models.DB) uuid.UUID {
	t.Helper()
	u := testutil.CreateUser(t, db, models.RoleAPIUser)
	k := &models.APIKey{UserID: u.ID, Name: "idem", Scopes: []string{models.ScopeWrite}}
	_, err := models.CreateAPIKey(ctx, db.Bun, models.SystemActor("test"), k)
	require.NoError(t, err)
	return k.ID
}

func TestIdempotencyKeyLifecycle(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	keyID := idempotencyAPIKey(t, db)
	at := time.Now()

	rec, started, err := models.BeginIdempotencyKey(ctx, db.Bun, keyID, "k1", "fp", at)
	require.NoError(t, err)
	require.True(t, started)
	require.Equal(t, models.IdempotencyInFlight, rec.State)
	require.WithinDuration(t, at.Add(24*time.Hour), rec.ExpiresAt, time.Millisecond)

	// While in flight, a second Begin gets the record back and does not start.
	again, started, err := models.BeginIdempotencyKey(ctx, db.Bun, keyID, "k1", "fp", at.Add(time.Second))
	require.NoError(t, err)
	require.False(t, started)
	require.Equal(t, rec.ID, again.ID)
	require.Equal(t, models.IdempotencyInFlight, again.State)

	require.Error(t, models.CompleteIdempotencyKey(ctx, db.Bun, rec, 503, nil, nil), "5xx is not stored")
	body := []byte("{\"id\":1}\x00binary")
	require.NoError(t, models.CompleteIdempotencyKey(ctx, db.Bun, rec, 201,
		map[string]string{"Content-Type": "application/json", "Location": "/api/v1/bots/1"}, body))

	done, started, err := models.BeginIdempotencyKey(ctx, db.Bun, keyID, "k1", "other", at.Add(time.Minute))
	require.NoError(t, err)
	require.False(t, started)
	require.Equal(t, models.IdempotencyDone, done.State)
	require.Equal(t, "fp", done.Fingerprint, "the first request's fingerprint, for the caller to compare")
	require.Equal(t, 201, *done.ResponseStatus)
	require.Equal(t, body, done.ResponseBody)
	require.Equal(t, "/api/v1/bots/1", done.ResponseHeaders["Location"])

	// Release leaves a completed record alone.
	require.NoError(t, models.ReleaseIdempotencyKey(ctx, db.Bun, done))
	_, started, err = models.BeginIdempotencyKey(ctx, db.Bun, keyID, "k1", "fp", at.Add(time.Minute))
	require.NoError(t, err)
	require.False(t, started)
}

func TestIdempotencyKeyRelease(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	keyID := idempotencyAPIKey(t, db)
	at := time.Now()
	rec, started, err := models.BeginIdempotencyKey(ctx, db.Bun, keyID, "k", "fp", at)
	require.NoError(t, err)
	require.True(t, started)
	require.NoError(t, models.ReleaseIdempotencyKey(ctx, db.Bun, rec))
	require.ErrorIs(t, models.CompleteIdempotencyKey(ctx, db.Bun, rec, 200, nil, nil), models.ErrNotFound, "nothing left to complete")

	_, started, err = models.BeginIdempotencyKey(ctx, db.Bun, keyID, "k", "fp", at)
	require.NoError(t, err)
	require.True(t, started, "released: the key may be used again")
}

func TestIdempotencyKeyExpiryAndPrune(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	keyID := idempotencyAPIKey(t, db)
	at := time.Now()
	old, _, err := models.BeginIdempotencyKey(ctx, db.Bun, keyID, "old", "fp", at.Add(-25*time.Hour))
	require.NoError(t, err)
	require.NoError(t, models.CompleteIdempotencyKey(ctx, db.Bun, old, 201, nil, []byte("x")))
	_, _, err = models.BeginIdempotencyKey(ctx, db.Bun, keyID, "stale", "fp", at.Add(-24*time.Hour))
	require.NoError(t, err)
	_, _, err = models.BeginIdempotencyKey(ctx, db.Bun, keyID, "fresh", "fp", at.Add(-23*time.Hour))
	require.NoError(t, err)

	// An expired record no longer counts, pruned or not.
	rec, started, err := models.BeginIdempotencyKey(ctx, db.Bun, keyID, "old", "another", at)
	require.NoError(t, err)
	require.True(t, started)
	require.NotEqual(t, old.ID, rec.ID)

	n, err := models.PruneIdempotencyKeys(ctx, db.Bun, at)
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "stale (exactly 24 h) goes; fresh and the new old stay")
	left, err := db.Bun.NewSelect().Model((*models.IdempotencyKey)(nil)).Count(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, left)
}

func TestIdempotencyKeysBelongToTheirAPIKey(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	a, b := idempotencyAPIKey(t, db), idempotencyAPIKey(t, db)
	at := time.Now()
	for _, id := range []uuid.UUID{a, b} {
		_, started, err := models.BeginIdempotencyKey(ctx, db.Bun, id, "same", "fp", at)
		require.NoError(t, err)
		require.True(t, started)
	}
	// Revoking is not deleting, but deleting an API key takes its keys along.
	_, err := db.Bun.NewDelete().Model((*models.APIKey)(nil)).Where("id = ?", a).Exec(ctx)
	require.NoError(t, err)
	left, err := db.Bun.NewSelect().Model((*models.IdempotencyKey)(nil)).Count(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, left)
}

func TestIdempotencyKeyLength(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	keyID := idempotencyAPIKey(t, db)
	for _, k := range []string{"", strings.Repeat("x", 256)} {
		_, _, err := models.BeginIdempotencyKey(ctx, db.Bun, keyID, k, "fp", time.Now())
		var ve *models.ValidationError
		require.ErrorAs(t, err, &ve)
	}
	_, started, err := models.BeginIdempotencyKey(ctx, db.Bun, keyID, strings.Repeat("x", 255), "fp", time.Now())
	require.NoError(t, err)
	require.True(t, started)
}

func TestIdempotencyKeyConcurrentBeginStartsOnce(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	keyID := idempotencyAPIKey(t, db)
	const n = 16
	var wg sync.WaitGroup
	started := make(chan bool, n)
	errs := make(chan error, n)
	at := time.Now()
	for range n {
		wg.Go(func() {
			_, ok, err := models.BeginIdempotencyKey(ctx, db.Bun, keyID, "race", "fp", at)
			started <- ok
			errs <- err
		})
	}
	wg.Wait()
	close(started)
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	count := 0
	for ok := range started {
		if ok {
			count++
		}
	}
	require.Equal(t, 1, count, "exactly one Begin starts")
}

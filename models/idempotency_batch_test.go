package models_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

// Many concurrent requests — distinct keys and duplicates mixed, so that
// duplicates land in the same batch — get the answers the one-at-a-time
// functions give: each key starts exactly once, the others see it.
func TestIdempotencyKeysBatchedBeginAndComplete(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	keyID := idempotencyAPIKey(t, db)
	store := models.NewIdempotencyKeys(db.Bun)
	const keys, copies = 40, 3
	at := time.Now()
	type result struct {
		key     string
		rec     *models.IdempotencyKey
		started bool
		err     error
	}
	results := make(chan result, keys*copies)
	var wg sync.WaitGroup
	for i := range keys {
		for range copies {
			wg.Go(func() {
				k := fmt.Sprintf("key-%d", i)
				rec, started, err := store.Begin(ctx, keyID, k, "fp-"+k, at)
				results <- result{k, rec, started, err} // asserted below, in the test's goroutine
			})
		}
	}
	wg.Wait()
	close(results)
	starters := map[string]*models.IdempotencyKey{}
	for r := range results {
		require.NoError(t, r.err)
		require.Equal(t, "fp-"+r.key, r.rec.Fingerprint)
		if r.started {
			require.Nil(t, starters[r.key], "%s started twice", r.key)
			starters[r.key] = r.rec
		} else {
			require.Equal(t, models.IdempotencyInFlight, r.rec.State, "a duplicate sees the first in flight")
		}
	}
	require.Len(t, starters, keys, "every key started once")
	var rows int
	require.NoError(t, db.Bun.NewRaw("SELECT count(*) FROM api_idempotency_keys WHERE api_key_id = ?", keyID).Scan(ctx, &rows))
	require.Equal(t, keys, rows)

	// Completed concurrently (in shared transactions), each is stored.
	completeErrs := make(chan error, len(starters))
	for k, rec := range starters {
		wg.Go(func() {
			completeErrs <- store.Complete(ctx, rec, 202, map[string]string{"Location": "/x/" + k}, []byte(`{"k":"`+k+`"}`))
		})
	}
	wg.Wait()
	close(completeErrs)
	for err := range completeErrs {
		require.NoError(t, err)
	}
	for k := range starters {
		done, started, err := store.Begin(ctx, keyID, k, "fp-"+k, at.Add(time.Second))
		require.NoError(t, err)
		require.False(t, started)
		require.Equal(t, models.IdempotencyDone, done.State)
		require.Equal(t, 202, *done.ResponseStatus)
		require.Equal(t, `{"k":"`+k+`"}`, string(done.ResponseBody))
		require.Equal(t, "/x/"+k, done.ResponseHeaders["Location"])
	}

	// A released key (its request failed) can be completed by nobody; a
	// retry starts afresh. Expired keys count as absent.
	rec, started, err := store.Begin(ctx, keyID, "released", "fp", at)
	require.NoError(t, err)
	require.True(t, started)
	require.NoError(t, models.ReleaseIdempotencyKey(ctx, db.Bun, rec))
	require.ErrorIs(t, store.Complete(ctx, rec, 201, nil, nil), models.ErrNotFound)
	_, started, err = store.Begin(ctx, keyID, "released", "fp", at)
	require.NoError(t, err)
	require.True(t, started, "released: starts again")
	_, started, err = store.Begin(ctx, keyID, "key-1", "fp-key-1", at.Add(models.IdempotencyTTL+time.Second))
	require.NoError(t, err)
	require.True(t, started, "expired: starts again")
	require.Error(t, store.Complete(ctx, rec, 503, nil, nil), "5xx is not stored")
	_, _, err = store.Begin(ctx, keyID, "", "fp", at)
	require.Error(t, err, "empty key")
}

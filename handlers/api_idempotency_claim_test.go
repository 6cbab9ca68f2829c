package handlers_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

// A run answered at once claims its Idempotency-Key in the transaction that
// queues it (see idempotentInTx). What it answers before that transaction —
// here 409, the bot may not run — is recorded all the same: the retry gets
// the same 409 even once the bot could run, and runs nothing.
func TestAPIIdempotentRunRecordsRefusals(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	api := newAPITester(t, a)
	u, key := apiUserKey(t, a, models.RoleUser)
	b := apiBotFixture(t, a, u, false)
	setBotStatus(t, a, b, models.BotInactive)
	run := func() *apiResp {
		t.Helper()
		return api.send(apiReq{method: http.MethodPost, path: runPath(b), key: key, body: map[string]any{"input": map[string]any{}}, header: withIdemKey("refused-1")})
	}
	first := run()
	require.Equal(t, http.StatusConflict, first.StatusCode, "%s", first.Body)
	setBotStatus(t, a, b, models.BotActive)
	again := run()
	require.Equal(t, http.StatusConflict, again.StatusCode, "%s", again.Body)
	require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	require.Equal(t, first.Body, again.Body)
	require.Zero(t, executionsOf(t, a, b))

	// A new key runs.
	r := api.send(apiReq{method: http.MethodPost, path: runPath(b), key: key, body: map[string]any{"input": map[string]any{}}, header: withIdemKey("refused-2")})
	require.Equal(t, http.StatusAccepted, r.StatusCode, "%s", r.Body)
	require.Equal(t, 1, executionsOf(t, a, b))
}

// The same key on a run with ?wait (answered the usual way: claimed first,
// stored after) and without is one request per key: the other is a 422.
func TestAPIIdempotentRunWaitAndAtOnceShareKeys(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t) // no workers: a wait ends with 202
	api := newAPITester(t, a)
	u, key := apiUserKey(t, a, models.RoleUser)
	b := apiBotFixture(t, a, u, false)
	body := map[string]any{"input": map[string]any{"n": 1}}
	waited := api.send(apiReq{method: http.MethodPost, path: runPath(b) + "?wait=1s", key: key, body: body, header: withIdemKey("k")})
	require.Equal(t, http.StatusAccepted, waited.StatusCode, "%s", waited.Body)
	replay := api.send(apiReq{method: http.MethodPost, path: runPath(b) + "?wait=1s", key: key, body: body, header: withIdemKey("k")})
	require.Equal(t, "true", replay.Header.Get("Idempotent-Replayed"))
	require.Equal(t, waited.Body, replay.Body)
	other := api.send(apiReq{method: http.MethodPost, path: runPath(b), key: key, body: body, header: withIdemKey("k")})
	requireIdemProblem(t, other, http.StatusUnprocessableEntity)
	require.Equal(t, 1, executionsOf(t, a, b))
}

func setBotStatus(t *testing.T, a *testutil.App, b *models.Bot, s models.BotStatus) {
	t.Helper()
	_, err := a.DB.Bun.NewUpdate().Model((*models.Bot)(nil)).Set("status = ?", s).Where("id = ?", b.ID).Exec(bg)
	require.NoError(t, err)
}

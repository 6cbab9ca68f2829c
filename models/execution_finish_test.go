package models_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

// TestFinishExecutionsBatch: one call records many results (on Postgres in
// one UPDATE of unnested arrays), each exactly as given, whatever the text
// holds; attempts the worker no longer holds are refused one by one, and
// the bot's statistics count only what was recorded.
func TestFinishExecutionsBatch(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	owner := testutil.CreateUser(t, db, models.RoleAdmin)
	b, v := createBot(t, db, owner, "finisher", models.BotActive)

	const n = 8
	ids := make([]uuid.UUID, n)
	claims := make([]models.Claim, n)
	for i := range ids {
		e := &models.Execution{ID: models.NewID(), BotID: b.ID, VersionID: &v.ID, Status: models.ExecQueued, Trigger: models.TriggerAPI,
			Input: json.RawMessage(`{}`), MaxAttempts: 1, QueuedAt: time.Now()}
		require.NoError(t, models.CreateExecution(ctx, db.Bun, e))
		ids[i], claims[i] = e.ID, models.Claim{ID: e.ID, Attempt: 1}
	}
	claimed, err := models.ClaimExecutions(ctx, db.Bun, "w1", claims)
	require.NoError(t, err)
	require.Len(t, claimed, n)

	nasty := "quote \" backslash \\ apostrophe ' braces {a,b} NULL\nnew line\ttab ünïcødé 🚀 \\\" end"
	start := time.Now().Add(-time.Second).UTC().Truncate(time.Microsecond)
	end := start.Add(1234567 * time.Microsecond)
	fin := func(i int, st models.ExecStatus, out, errMsg, logs string) models.Finish {
		f := models.Finish{ID: ids[i], WorkerID: "w1", Attempt: 1, Status: st, Error: errMsg, Logs: logs,
			Started: start, Ended: end, BotID: b.ID}
		if out != "" {
			f.Output = json.RawMessage(out)
		}
		return f
	}
	fs := []models.Finish{
		fin(0, models.ExecSuccess, `{"s":"`+jsonEscape(nasty)+`","n":[1,2.5,null]}`, "", nasty),
		fin(1, models.ExecFailed, "", nasty, ""),
		fin(2, models.ExecSuccess, `null`, "", "NULL"),
		fin(3, models.ExecTimedOut, "", "took too long", "{}"),
		fin(4, models.ExecSuccess, `"ok"`, "", ""),
		fin(5, models.ExecSuccess, `"not mine"`, "", ""),
	}
	fs[5].WorkerID = "w2" // another worker's result for an attempt w1 holds
	// NULs, which Postgres cannot store, in the text and the output.
	fs = append(fs, fin(7, models.ExecSuccess, `{"s\u0000":"x\u0000y"}`, "", "a\x00b"))
	unknownBot := fin(6, models.ExecFailed, "", "boom\x00", "one by one")
	unknownBot.BotID = uuid.Nil // read from the row: goes the one-by-one way
	fs = append(fs, unknownBot)

	errs, err := models.FinishExecutions(ctx, db.Bun, fs, models.FinishOptions{})
	require.NoError(t, err)
	require.Len(t, errs, len(fs))
	for _, i := range []int{0, 1, 2, 3, 4, 6, 7} {
		require.NoError(t, errs[i], "result %d", i)
	}
	require.ErrorIs(t, errs[5], models.ErrNotHeld, "another worker's result")

	get := func(i int) *models.Execution {
		e, err := models.ExecutionByID(ctx, db.Bun, ids[i])
		require.NoError(t, err)
		return e
	}
	e := get(0)
	require.Equal(t, models.ExecSuccess, e.Status)
	require.Equal(t, nasty, e.Logs)
	var out struct {
		S string
		N []*float64
	}
	require.NoError(t, json.Unmarshal(e.Output, &out))
	require.Equal(t, nasty, out.S)
	require.Len(t, out.N, 3)
	require.Nil(t, out.N[2])
	require.True(t, e.StartedAt.Equal(start), "%s != %s", e.StartedAt, start)
	require.True(t, e.EndedAt.Equal(end), "%s != %s", e.EndedAt, end)
	require.InDelta(t, 1234.567, *e.DurationMS, 0.0001)
	require.Len(t, e.Attempts, 1)
	require.Equal(t, "success", e.Attempts[0].Status)
	require.Equal(t, "w1", e.Attempts[0].Worker)

	e = get(1)
	require.Equal(t, models.ExecFailed, e.Status)
	require.Equal(t, nasty, e.Error)
	require.Equal(t, nasty, e.Attempts[0].Error)
	require.Empty(t, e.Logs)
	require.Nil(t, e.Output, "no output is NULL")

	e = get(2)
	require.Equal(t, "NULL", e.Logs, "the text NULL is text")
	require.JSONEq(t, `null`, string(e.Output), "JSON null is kept")

	e = get(3)
	require.Equal(t, models.ExecTimedOut, e.Status)
	require.Equal(t, "{}", e.Logs)

	e = get(4)
	require.JSONEq(t, `"ok"`, string(e.Output))

	e = get(5)
	require.Equal(t, models.ExecRunning, e.Status, "not held: unchanged")
	require.Empty(t, e.Attempts)

	e = get(6)
	require.Equal(t, models.ExecFailed, e.Status)
	require.Equal(t, "one by one", e.Logs)
	require.Equal(t, "boom\uFFFD", e.Error)
	require.Equal(t, "boom\uFFFD", e.Attempts[0].Error)

	e = get(7)
	require.Equal(t, "a\uFFFDb", e.Logs)
	require.JSONEq(t, `{"s\uFFFD":"x\uFFFDy"}`, string(e.Output))
	require.Equal(t, "a\x00b", fs[6].Logs, "the caller's results are left as given")

	got, err := models.BotByID(ctx, db.Bun, b.ID)
	require.NoError(t, err)
	require.EqualValues(t, 7, got.TotalExecutions)
	require.EqualValues(t, 4, got.SuccessfulExecutions)
	require.EqualValues(t, 3, got.FailedExecutions)
}

func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

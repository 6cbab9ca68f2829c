package models_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

func TestNULRules(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]bool{
		`{"a": "x\u0000y"}`:    true,
		`["\u0000"]`:           true,
		`{"\u0000": 1}`:        true,
		`{"a": "\\u0000"}`:     false, // a backslash, then u0000
		`{"a": "\\\u0000"}`:    true,  // a backslash, then NUL
		`{"a": "u0000"}`:       false,
		`{"a": "\u00001"}`:     true,
		`{"a": "x\u0001"}`:     false,
		`{"n": 10000, "u": 1}`: false,
	} {
		require.Equal(t, want, models.HasNULEscape([]byte(raw)), raw)
	}
	require.Equal(t, "a\uFFFDb\uFFFD", models.TextWithoutNUL("a\x00b\x00"))
	require.Equal(t, "plain", models.TextWithoutNUL("plain"))

	got := models.WithoutNUL(json.RawMessage(`{"k\u0000": ["x\u0000", "\\u0000", 12345678901234567890], "n": null}`))
	require.False(t, models.HasNULEscape(got))
	var v map[string]any
	require.NoError(t, json.Unmarshal(got, &v))
	require.Equal(t, []any{"x\uFFFD", `\u0000`, 12345678901234567890.0}, v["k\uFFFD"])
	require.Contains(t, string(got), "12345678901234567890", "numbers keep their digits")
	same := json.RawMessage(`{"a":"\\u0000"}`)
	require.Equal(t, string(same), string(models.WithoutNUL(same)))
}

// TestJSONBackslashU0000RoundTrips: text that reads \u0000 (an escaped
// backslash, then "u0000") is stored and read back as given on both
// databases (Bun alone turned it into a NUL escape: Postgres refused it,
// SQLite stored a NUL).
func TestJSONBackslashU0000RoundTrips(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	owner := testutil.CreateUser(t, db, models.RoleAdmin)
	b, v := createBot(t, db, owner, "escapes", models.BotActive)
	in := json.RawMessage(`{"a":"x\\u0000y","b":"\\\\u0000","c":"\\\\\\u0001","d":"\\\"u0000"}`)
	e := &models.Execution{ID: models.NewID(), BotID: b.ID, VersionID: &v.ID, Status: models.ExecQueued, Trigger: models.TriggerAPI,
		Input: in, MaxAttempts: 1, QueuedAt: time.Now()}
	require.NoError(t, models.CreateExecution(ctx, db.Bun, e))
	got, err := models.ExecutionByID(ctx, db.Bun, e.ID)
	require.NoError(t, err)
	require.JSONEq(t, string(in), string(got.Input))
	var m map[string]string
	require.NoError(t, json.Unmarshal(got.Input, &m))
	require.Equal(t, `x\u0000y`, m["a"])
	require.Equal(t, `\\u0000`, m["b"])
}

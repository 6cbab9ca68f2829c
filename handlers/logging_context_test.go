package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/handlers"
	"github.com/codex32/codex32/internal/telemetry"
	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

// A request's log lines carry its request id and, once the caller is
// known, the user id (JSON logs, as LOG_FORMAT=json writes them).
func TestRequestLogLinesCarryRequestAndUser(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	require.NoError(t, models.MarkSetupDone(bg, db.Bun))
	var logs lockedBuffer
	log := telemetry.NewLogger(&logs, telemetry.LogOptions{Format: "json"})
	store, err := web.NewSessionStore(web.SessionConfig{DB: db, Keys: [][]byte{[]byte(testutil.TestSessionKey)}, Idle: time.Hour, MaxAge: time.Hour, Log: log})
	require.NoError(t, err)
	box, err := models.NewSecretBox([]byte("test-secret-key-0123456789abcdef"))
	require.NoError(t, err)
	app := handlers.NewApp(handlers.Deps{DB: db, Log: log, Version: "test", Sessions: store, Secrets: box,
		Engine: testutil.NewEngine(t, db, box, testutil.EngineOptions{})})
	u := accessUser(t, db, models.RoleUser)
	key, _ := accessKey(t, db, u, models.ScopeRead)

	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/api/v1/bots", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("X-Request-ID", "req-abc-123")
	res, err := app.Test(req, -1)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)

	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		if m["msg"] == "request" && m["path"] == "/api/v1/bots" {
			line = m
		}
	}
	require.NotNil(t, line, "no access log line: %s", logs.String())
	require.Equal(t, "req-abc-123", line["request_id"])
	require.Equal(t, u.ID.String(), line["user_id"], "the line says who asked")
	require.NotContains(t, logs.String(), key, "the API key is never logged")
}

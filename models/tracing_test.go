package models_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

// tracedDB is a fresh database whose queries are recorded from here on.
func tracedDB(t *testing.T) (*models.DB, *tracetest.SpanRecorder, trace.Tracer) {
	t.Helper()
	db := testutil.NewDB(t)
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(ctx) })
	db.Trace(tp)
	return db, sr, tp.Tracer("test")
}

func spanAttrs(s sdktrace.ReadOnlySpan) map[string]string {
	out := map[string]string{}
	for _, kv := range s.Attributes() {
		out[string(kv.Key)] = kv.Value.String()
	}
	return out
}

func dbSystem(db *models.DB) string {
	if db.Dialect == models.Postgres {
		return "postgresql"
	}
	return "sqlite"
}

func TestTraceQuerySpanIsChildOfCaller(t *testing.T) {
	t.Parallel()
	db, sr, tracer := tracedDB(t)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	b, v := createBot(t, db, owner, "Traced Bot", models.BotActive)
	e := &models.Execution{BotID: b.ID, VersionID: &v.ID, Trigger: models.TriggerAPI}
	require.NoError(t, models.CreateExecution(ctx, db.Bun, e))

	pctx, parent := tracer.Start(ctx, "request")
	_, err := models.ExecutionByID(pctx, db.Bun, e.ID)
	require.NoError(t, err)
	parent.End()

	var got sdktrace.ReadOnlySpan
	for _, s := range sr.Ended() {
		if s.Parent().SpanID() == parent.SpanContext().SpanID() {
			require.Nil(t, got, "one query, one span")
			got = s
		}
	}
	require.NotNil(t, got, "the query's span is a child of the caller's span")
	assert.Equal(t, "db SELECT bot_executions", got.Name())
	assert.Equal(t, trace.SpanKindClient, got.SpanKind())
	assert.Equal(t, parent.SpanContext().TraceID(), got.SpanContext().TraceID())
	assert.Equal(t, map[string]string{
		"db.system":    dbSystem(db),
		"db.operation": "SELECT",
		"db.sql.table": "bot_executions",
	}, spanAttrs(got))
	assert.Equal(t, codes.Unset, got.Status().Code)

	// The insert before it was traced too, as a root (no caller span).
	var insert sdktrace.ReadOnlySpan
	for _, s := range sr.Ended() {
		if s.Name() == "db INSERT bot_executions" {
			insert = s
		}
	}
	require.NotNil(t, insert)
	assert.False(t, insert.Parent().IsValid())
}

func TestTraceSpansCarryNoSQLNorArguments(t *testing.T) {
	t.Parallel()
	db, sr, tracer := tracedDB(t)
	const secret = "sk-very-secret-4242"
	pctx, parent := tracer.Start(ctx, "request")

	// A model query, a raw query with an argument that looks like SQL, and
	// a raw update whose literal mentions another table.
	u := &models.User{Email: secret + "@example.test", Username: "u" + strings.ReplaceAll(uuid.NewString()[:8], "-", ""), Name: secret, Role: models.RoleUser, IsActive: true}
	_, err := db.Bun.NewInsert().Model(u).Exec(pctx)
	require.NoError(t, err)
	var n int
	require.NoError(t, db.Bun.NewRaw("SELECT count(*) FROM users WHERE name = ? OR name = ?", secret, "x from secret_table").Scan(pctx, &n))
	require.Equal(t, 1, n)
	_, err = db.Bun.NewRaw("UPDATE users SET name = ? WHERE email = ?", "moved from "+secret, u.Email).Exec(pctx)
	require.NoError(t, err)
	_, err = db.Bun.ExecContext(pctx, "DELETE FROM users WHERE name = ?", "gone "+secret)
	require.NoError(t, err)
	parent.End()

	names := map[string]bool{}
	for _, s := range sr.Ended() {
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			continue
		}
		names[s.Name()] = true
		texts := []string{s.Name(), s.Status().Description}
		for _, kv := range s.Attributes() {
			texts = append(texts, kv.Value.String())
		}
		for _, ev := range s.Events() {
			texts = append(texts, ev.Name)
			for _, kv := range ev.Attributes {
				texts = append(texts, kv.Value.String())
			}
		}
		for _, txt := range texts {
			assert.NotContains(t, txt, "secret", "span %q", s.Name())
			assert.NotContains(t, txt, "WHERE", "span %q", s.Name())
			assert.NotContains(t, txt, "example.test", "span %q", s.Name())
		}
	}
	assert.Equal(t, map[string]bool{
		"db INSERT users": true,
		"db SELECT users": true,
		"db UPDATE users": true,
		"db DELETE users": true,
	}, names)
}

func TestTraceQueryErrors(t *testing.T) {
	t.Parallel()
	db, sr, tracer := tracedDB(t)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	pctx, parent := tracer.Start(ctx, "request")

	// Not found is no error of the query.
	_, err := models.ExecutionByID(pctx, db.Bun, uuid.New())
	require.ErrorIs(t, err, models.ErrNotFound)
	// A unique violation is, without its text (Postgres quotes the value).
	dup := &models.User{Email: owner.Email, Username: owner.Username, Name: "dup", Role: models.RoleUser, IsActive: true}
	_, err = db.Bun.NewInsert().Model(dup).Exec(pctx)
	require.Error(t, err)
	parent.End()

	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range sr.Ended() {
		if s.Parent().SpanID() == parent.SpanContext().SpanID() {
			byName[s.Name()] = s
		}
	}
	require.Contains(t, byName, "db SELECT bot_executions")
	assert.Equal(t, codes.Unset, byName["db SELECT bot_executions"].Status().Code)
	ins := byName["db INSERT users"]
	require.NotNil(t, ins)
	assert.Equal(t, codes.Error, ins.Status().Code)
	want := "SQLITE 2067" // SQLITE_CONSTRAINT_UNIQUE
	if db.Dialect == models.Postgres {
		want = "SQLSTATE 23505"
	}
	assert.Equal(t, want, ins.Status().Description)
	assert.Equal(t, want, spanAttrs(ins)["error.type"])
	assert.Empty(t, ins.Events(), "no error event with the message")
}

func TestExecutionTraceIDRoundTrips(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	b, v := createBot(t, db, owner, "Trace ID Bot", models.BotActive)

	const tid = "4bf92f3577b34da6a3ce929d0e0e4736"
	e := &models.Execution{BotID: b.ID, VersionID: &v.ID, Trigger: models.TriggerAPI, Input: json.RawMessage(`{}`), TraceID: tid}
	require.NoError(t, models.CreateExecution(ctx, db.Bun, e))
	got, err := models.ExecutionByID(ctx, db.Bun, e.ID)
	require.NoError(t, err)
	assert.Equal(t, tid, got.TraceID)

	// No trace: stored as NULL, read back as "".
	none := &models.Execution{BotID: b.ID, VersionID: &v.ID, Trigger: models.TriggerAPI}
	require.NoError(t, models.CreateExecution(ctx, db.Bun, none))
	got, err = models.ExecutionByID(ctx, db.Bun, none.ID)
	require.NoError(t, err)
	assert.Empty(t, got.TraceID)
	assert.Equal(t, 1, count(t, db, "bot_executions", "trace_id IS NULL"))

	// Anything but 32 lowercase hex digits is refused by the schema.
	bad := &models.Execution{BotID: b.ID, VersionID: &v.ID, Trigger: models.TriggerAPI, TraceID: "not-a-trace-id"}
	require.Error(t, models.CreateExecution(ctx, db.Bun, bad))
}

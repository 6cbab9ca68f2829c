package runner_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/codex32/codex32/internal/telemetry"
	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
)

// TestEngineOneTraceFromRequestToOutboundCall: the requester's trace
// travels with the job through the database, so the worker's spans and
// the bot's outbound call (which receives the traceparent) join it, and
// the execution stores its trace id.
func TestEngineOneTraceFromRequestToOutboundCall(t *testing.T) {
	got := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("traceparent")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok": true}`))
	}))
	defer srv.Close()
	sr := tracetest.NewSpanRecorder()
	tr := telemetry.NewTracingWith(sr, "codex32-test")
	db := testutil.NewDB(t)
	db.Trace(tr.Provider())
	eng := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{Workers: 2, Tracing: tr,
		Outbound: runner.OutboundPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}})
	b := newBot(t, db, models.KindHTTP, fmt.Sprintf(`{"method": "GET", "url": %q}`, srv.URL+"/called"))

	ctx, root := tr.Tracer("test").Start(context.Background(), "POST /api/v1/bots/:id/executions")
	ex, err := eng.Request(ctx, models.SystemActor("test"), runner.RunRequest{BotID: b.ID})
	root.End()
	require.NoError(t, err)
	traceID := root.SpanContext().TraceID()
	final := waitFinal(t, db, ex.ID, 30*time.Second)
	require.Equal(t, models.ExecSuccess, final.Status, final.Error)
	require.Equal(t, traceID.String(), final.TraceID, "the execution stores its trace id")

	select {
	case tp := <-got:
		carried := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": tp})
		require.Equal(t, traceID, trace.SpanContextFromContext(carried).TraceID(), "the called server got the request's trace: %q", tp)
	case <-time.After(10 * time.Second):
		t.Fatal("the bot never called the server")
	}

	var work, outbound sdktrace.ReadOnlySpan
	var dbSpans int
	require.Eventually(t, func() bool {
		work, outbound, dbSpans = nil, nil, 0
		for _, s := range sr.Ended() {
			if s.SpanContext().TraceID() != traceID {
				continue
			}
			switch {
			case strings.HasPrefix(s.Name(), "river.work"):
				work = s
			case s.SpanKind() == trace.SpanKindClient && strings.HasPrefix(s.Name(), "db "):
				dbSpans++
			case s.SpanKind() == trace.SpanKindClient:
				outbound = s
			}
		}
		return work != nil && outbound != nil
	}, 10*time.Second, 10*time.Millisecond, "the worker's and the outbound call's spans are in the request's trace")
	require.Equal(t, root.SpanContext().SpanID(), work.Parent().SpanID(), "the job's work is a child of the request")
	require.Positive(t, dbSpans, "database queries of the request and the work are in the trace")
	for _, s := range sr.Ended() {
		for _, a := range s.Attributes() {
			require.NotContains(t, a.Value.String(), "/called", "span %s carries the URL path", s.Name())
		}
	}
}

package runner_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
)

func traceRecorder(t *testing.T) (*tracetest.SpanRecorder, *sdktrace.TracerProvider, propagation.TextMapPropagator) {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return sr, tp, propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

func TestTraceCarrier(t *testing.T) {
	t.Parallel()
	_, tp, prop := traceRecorder(t)
	assert.Nil(t, runner.TraceCarrier(t.Context(), prop), "no span, no carrier")

	ctx, span := tp.Tracer("test").Start(t.Context(), "request")
	defer span.End()
	c := runner.TraceCarrier(ctx, prop)
	require.Contains(t, c, "traceparent")
	assert.Contains(t, c["traceparent"], span.SpanContext().TraceID().String())

	// With tracing off (a no-op provider) the args stay as they were.
	nctx, nspan := noop.NewTracerProvider().Tracer("x").Start(t.Context(), "n")
	defer nspan.End()
	assert.Nil(t, runner.TraceCarrier(nctx, prop))

	b, err := json.Marshal(map[string]any{"execution_id": "x", "trace": c})
	require.NoError(t, err)
	assert.Equal(t, c, runner.JobTraceCarrier(b))
	assert.Nil(t, runner.JobTraceCarrier([]byte(`{"execution_id":"x"}`)))
	assert.Nil(t, runner.JobTraceCarrier([]byte(`not json`)))
}

func TestTraceWorkMiddlewareParentIsCarrier(t *testing.T) {
	t.Parallel()
	sr, tp, prop := traceRecorder(t)
	mw := runner.NewTraceWorkMiddleware(tp, prop, nil)

	reqCtx, req := tp.Tracer("test").Start(t.Context(), "request")
	args, err := json.Marshal(map[string]any{"execution_id": "e1", "trace": runner.TraceCarrier(reqCtx, prop)})
	require.NoError(t, err)
	req.End()

	job := &rivertype.JobRow{ID: 42, Kind: "codex32.execute", Queue: "default", Attempt: 2, EncodedArgs: args}
	var inner trace.SpanContext
	err = mw.Work(t.Context(), job, func(ctx context.Context) error {
		inner = trace.SpanContextFromContext(ctx)
		return nil
	})
	require.NoError(t, err)

	var work sdktrace.ReadOnlySpan
	for _, s := range sr.Ended() {
		if s.Name() == "river.work codex32.execute" {
			work = s
		}
	}
	require.NotNil(t, work)
	assert.Equal(t, req.SpanContext().TraceID(), work.SpanContext().TraceID())
	assert.Equal(t, req.SpanContext().SpanID(), work.Parent().SpanID())
	assert.True(t, work.Parent().IsRemote())
	assert.Equal(t, work.SpanContext().SpanID(), inner.SpanID(), "the job runs inside the work span")
	assert.Equal(t, trace.SpanKindConsumer, work.SpanKind())
	attrs := map[string]string{}
	for _, kv := range work.Attributes() {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	assert.Equal(t, map[string]string{
		"messaging.system":           "river",
		"messaging.operation.type":   "process",
		"messaging.destination.name": "default",
		"messaging.message.id":       "42",
		"river.job.kind":             "codex32.execute",
		"river.job.attempt":          "2",
	}, attrs)
}

func TestTraceWorkMiddlewareNewRootAndErrors(t *testing.T) {
	t.Parallel()
	sr, tp, prop := traceRecorder(t)
	mw := runner.NewTraceWorkMiddleware(tp, prop, nil)

	// A span in the worker's own context is not the job's parent: a job
	// without a carrier starts its own trace.
	wctx, wspan := tp.Tracer("test").Start(t.Context(), "worker")
	defer wspan.End()
	job := &rivertype.JobRow{ID: 1, Kind: "codex32.schedule_tick", Queue: "default", Attempt: 1, EncodedArgs: []byte(`{}`)}
	boom := errors.New("password=hunter2")
	require.ErrorIs(t, mw.Work(wctx, job, func(context.Context) error { return boom }), boom)

	ended := sr.Ended()
	require.Len(t, ended, 1)
	s := ended[0]
	assert.False(t, s.Parent().IsValid())
	assert.NotEqual(t, wspan.SpanContext().TraceID(), s.SpanContext().TraceID())
	assert.Equal(t, codes.Error, s.Status().Code)
	assert.NotContains(t, s.Status().Description, "hunter2")
	for _, kv := range s.Attributes() {
		assert.NotContains(t, kv.Value.String(), "hunter2")
	}

	// Snoozing is flow control, not a failure.
	require.Error(t, mw.Work(t.Context(), job, func(context.Context) error { return river.JobSnooze(time.Minute) }))
	assert.Equal(t, codes.Unset, sr.Ended()[1].Status().Code)
}

type traceProbeArgs struct {
	N     int               `json:"n"`
	Trace map[string]string `json:"trace,omitempty"`
}

func (traceProbeArgs) Kind() string { return "test.trace_probe" }

type traceProbeWorker struct {
	river.WorkerDefaults[traceProbeArgs]
	seen chan traceSeen
}

type traceSeen struct {
	n  int
	sc trace.SpanContext
}

func (w *traceProbeWorker) Work(ctx context.Context, job *river.Job[traceProbeArgs]) error {
	w.seen <- traceSeen{n: job.Args.N, sc: trace.SpanContextFromContext(ctx)}
	return nil
}

// A real River client on the test database: jobs inserted in one batch
// from two requests are each worked inside their own request's trace.
func TestTraceWorkMiddlewareWithRiver(t *testing.T) {
	t.Parallel()
	sr := tracetest.NewSpanRecorder()
	ended := traceEnded{ch: make(chan sdktrace.ReadOnlySpan, 16)}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr), sdktrace.WithSpanProcessor(ended))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	prop := propagation.TraceContext{}
	db := testutil.NewDB(t)

	probe := &traceProbeWorker{seen: make(chan traceSeen, 3)}
	workers := river.NewWorkers()
	river.AddWorker(workers, probe)
	cfg := &river.Config{
		Workers:           workers,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 3}},
		FetchPollInterval: 20 * time.Millisecond,
		FetchCooldown:     5 * time.Millisecond,
		Middleware:        []rivertype.Middleware{runner.NewTraceWorkMiddleware(tp, prop, nil)},
	}
	var client *river.Client[*sql.Tx]
	var err error
	if db.Dialect == models.SQLite {
		client, err = river.NewClient(riversqlite.New(db.SQL), cfg)
	} else {
		client, err = river.NewClient(riverdatabasesql.New(db.SQL), cfg)
	}
	require.NoError(t, err)

	tracer := tp.Tracer("test")
	ctx1, req1 := tracer.Start(t.Context(), "request 1")
	ctx2, req2 := tracer.Start(t.Context(), "request 2")
	_, err = client.InsertMany(t.Context(), []river.InsertManyParams{
		{Args: traceProbeArgs{N: 1, Trace: runner.TraceCarrier(ctx1, prop)}},
		{Args: traceProbeArgs{N: 2, Trace: runner.TraceCarrier(ctx2, prop)}},
		{Args: traceProbeArgs{N: 3}},
	})
	require.NoError(t, err)
	req1.End()
	req2.End()

	require.NoError(t, client.Start(t.Context()))
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Stop(stopCtx)
	})
	seen := map[int]trace.SpanContext{}
	timeout := time.After(20 * time.Second)
	for len(seen) < 3 {
		select {
		case s := <-probe.seen:
			seen[s.n] = s.sc
		case <-timeout:
			t.Fatalf("worked %d of 3 jobs in 20 s", len(seen))
		}
	}
	assert.Equal(t, req1.SpanContext().TraceID(), seen[1].TraceID())
	assert.Equal(t, req2.SpanContext().TraceID(), seen[2].TraceID())
	assert.True(t, seen[3].IsValid())
	assert.NotEqual(t, req1.SpanContext().TraceID(), seen[3].TraceID())
	assert.NotEqual(t, req2.SpanContext().TraceID(), seen[3].TraceID())

	// The work spans end after Work returns; each has its request as parent.
	parents := map[trace.SpanID]bool{}
	for len(parents) < 3 {
		select {
		case s := <-ended.ch:
			if s.Name() == "river.work test.trace_probe" {
				parents[s.Parent().SpanID()] = true
			}
		case <-timeout:
			t.Fatalf("%d of 3 work spans ended in 20 s", len(parents))
		}
	}
	assert.True(t, parents[req1.SpanContext().SpanID()])
	assert.True(t, parents[req2.SpanContext().SpanID()])
	assert.True(t, parents[trace.SpanID{}], "the job without a carrier is a root")
	assert.Len(t, sr.Ended(), 5) // two requests, three jobs
}

// traceEnded hands every ended span to ch, so a test waits for a span
// instead of polling.
type traceEnded struct{ ch chan sdktrace.ReadOnlySpan }

func (p traceEnded) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (p traceEnded) OnEnd(s sdktrace.ReadOnlySpan)                   { p.ch <- s }
func (p traceEnded) Shutdown(context.Context) error                  { return nil }
func (p traceEnded) ForceFlush(context.Context) error                { return nil }

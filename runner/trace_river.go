package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// traceTracerName names the tracer of the runner's spans.
const traceTracerName = "github.com/codex32/codex32/runner"

// TraceCarrier is the W3C trace context of ctx (traceparent, tracestate and
// baggage as p writes them) to store in a job's args under "trace", so the
// worker that runs the job, in whatever process, continues the trace. nil
// when ctx carries no span context (tracing off: the args stay as they were).
func TraceCarrier(ctx context.Context, p propagation.TextMapPropagator) map[string]string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	c := propagation.MapCarrier{}
	p.Inject(ctx, c)
	if len(c) == 0 {
		return nil
	}
	return c
}

// JobTraceCarrier reads the carrier TraceCarrier made from a job's encoded
// args: their JSON field "trace" ({"traceparent": …}). nil when absent.
func JobTraceCarrier(encodedArgs []byte) map[string]string {
	var args struct {
		Trace map[string]string `json:"trace"`
	}
	if err := json.Unmarshal(encodedArgs, &args); err != nil {
		return nil
	}
	return args.Trace
}

// TraceWorkMiddleware is a River worker middleware that works each job in a
// consumer span "river.work <kind>" whose parent is the trace context
// carried in the job's own args. Unlike otelriver, which reads job metadata
// and only links to the enqueuing span, this makes the worker's spans part
// of the request's trace, and it works for jobs inserted in batches (each
// job carries its own context). A job without a carrier (a schedule tick)
// starts a trace of its own.
type TraceWorkMiddleware struct {
	river.MiddlewareDefaults
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	carrier func(encodedArgs []byte) map[string]string
}

var _ rivertype.WorkerMiddleware = (*TraceWorkMiddleware)(nil)

// NewTraceWorkMiddleware builds the middleware. carrier extracts the trace
// context from a job's encoded args (nil: JobTraceCarrier). Install it with
// river.Config.Middleware.
func NewTraceWorkMiddleware(tp trace.TracerProvider, p propagation.TextMapPropagator, carrier func(encodedArgs []byte) map[string]string) *TraceWorkMiddleware {
	if carrier == nil {
		carrier = JobTraceCarrier
	}
	return &TraceWorkMiddleware{tracer: tp.Tracer(traceTracerName), prop: p, carrier: carrier}
}

// Work implements rivertype.WorkerMiddleware.
func (m *TraceWorkMiddleware) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "river"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", job.Queue),
			attribute.Int64("messaging.message.id", job.ID),
			attribute.String("river.job.kind", job.Kind),
			attribute.Int("river.job.attempt", job.Attempt),
		),
	}
	parent := ctx
	var remote trace.SpanContext
	if c := m.carrier(job.EncodedArgs); len(c) > 0 {
		// Extracted over an emptied span context, so a span the worker's
		// own context holds is never mistaken for the job's.
		parent = m.prop.Extract(trace.ContextWithSpanContext(ctx, trace.SpanContext{}), propagation.MapCarrier(c))
		remote = trace.SpanContextFromContext(parent)
	}
	if !remote.IsValid() {
		parent = ctx
		opts = append(opts, trace.WithNewRoot())
	}
	ctx, span := m.tracer.Start(parent, "river.work "+job.Kind, opts...)
	panicked := true
	var err error
	defer func() {
		switch {
		case panicked:
			span.SetStatus(codes.Error, "panic")
		case err != nil:
			traceWorkError(span, err)
		}
		span.End()
	}()
	err = doInner(ctx)
	panicked = false
	return err
}

// traceWorkError marks the span failed without the error's text (a job
// error may quote what the database or a bot said).
func traceWorkError(span trace.Span, err error) {
	var snooze *river.JobSnoozeError
	if errors.As(err, &snooze) {
		span.SetAttributes(attribute.Bool("river.job.snoozed", true))
		return // flow control, not a failure
	}
	var cancel *river.JobCancelError
	if errors.As(err, &cancel) {
		span.SetAttributes(attribute.Bool("river.job.cancelled", true))
	}
	kind := fmt.Sprintf("%T", err)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		kind = "deadline_exceeded"
	case errors.Is(err, context.Canceled):
		kind = "canceled"
	}
	span.SetAttributes(attribute.String("error.type", kind))
	span.SetStatus(codes.Error, kind)
}

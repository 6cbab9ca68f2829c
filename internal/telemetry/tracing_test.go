package telemetry

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// trReceiver is a local OTLP/HTTP receiver: it decodes each export and
// keeps the span names with their resource's attributes.
type trReceiver struct {
	mu       sync.Mutex
	paths    []string
	spans    []string
	resource map[string]string
}

func (r *trReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var msg collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.paths = append(r.paths, req.Method+" "+req.URL.Path)
	for _, rs := range msg.GetResourceSpans() {
		for _, kv := range rs.GetResource().GetAttributes() {
			r.resource[kv.GetKey()] = kv.GetValue().GetStringValue()
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans = append(r.spans, s.GetName())
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

func TestTracingExportsOverOTLPHTTP(t *testing.T) {
	t.Parallel()
	rec := &trReceiver{resource: map[string]string{}}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)

	ctx := t.Context()
	tr, err := NewTracing(ctx, TracingOptions{
		Endpoint:      srv.URL + "/otlp/",
		Protocol:      "http/protobuf",
		ServiceName:   "codex32-test",
		Sampler:       "always_on",
		ResourceAttrs: "deployment.environment=ci, team=a%20b",
		Version:       "1.2.3",
	})
	require.NoError(t, err)
	require.True(t, tr.Enabled())

	sctx, span := tr.Tracer("test").Start(ctx, "hello")
	id := TraceID(sctx)
	require.Len(t, id, 32)
	require.Equal(t, span.SpanContext().TraceID().String(), id)
	span.End()

	shutCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, tr.Shutdown(shutCtx)) // flushes the batch

	rec.mu.Lock()
	defer rec.mu.Unlock()
	assert.Equal(t, []string{"hello"}, rec.spans)
	assert.Equal(t, []string{"POST /otlp/v1/traces"}, rec.paths)
	assert.Equal(t, "codex32-test", rec.resource["service.name"])
	assert.Equal(t, "1.2.3", rec.resource["service.version"])
	assert.Equal(t, "ci", rec.resource["deployment.environment"])
	assert.Equal(t, "a b", rec.resource["team"])
}

func TestTracingSamplerAlwaysOffExportsNothing(t *testing.T) {
	t.Parallel()
	rec := &trReceiver{resource: map[string]string{}}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)

	tr, err := NewTracing(t.Context(), TracingOptions{Endpoint: srv.URL, Sampler: "always_off"})
	require.NoError(t, err)
	sctx, span := tr.Tracer("test").Start(t.Context(), "dropped")
	assert.False(t, span.SpanContext().IsSampled())
	span.End()
	assert.NotEmpty(t, TraceID(sctx), "an unsampled span still has a trace id")
	require.NoError(t, tr.Shutdown(t.Context()))
	rec.mu.Lock()
	defer rec.mu.Unlock()
	assert.Empty(t, rec.spans)
}

func TestTracingOffIsNoop(t *testing.T) {
	t.Parallel()
	tr, err := NewTracing(t.Context(), TracingOptions{})
	require.NoError(t, err)
	assert.False(t, tr.Enabled())
	ctx, span := tr.Tracer("test").Start(t.Context(), "nothing")
	assert.False(t, span.IsRecording())
	assert.False(t, span.SpanContext().IsValid())
	assert.Empty(t, TraceID(ctx))
	span.End()
	require.NoError(t, tr.Shutdown(t.Context()))
	assert.NotNil(t, tr.Propagator())
}

func TestTracingRejectsBadSettings(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]TracingOptions{
		"protocol":    {Endpoint: "http://127.0.0.1:4318", Protocol: "http/json"},
		"sampler":     {Endpoint: "http://127.0.0.1:4318", Sampler: "sometimes"},
		"sampler arg": {Endpoint: "http://127.0.0.1:4318", Sampler: "traceidratio", SamplerArg: "2"},
		"endpoint":    {Endpoint: "127.0.0.1:4318"},
		"resource":    {Endpoint: "http://127.0.0.1:4318", ResourceAttrs: "novalue"},
	} {
		_, err := NewTracing(t.Context(), o)
		assert.Error(t, err, name)
	}
}

// trGRPCReceiver is a local OTLP/gRPC receiver keeping the span names.
type trGRPCReceiver struct {
	collectortrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []string
}

func (r *trGRPCReceiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans = append(r.spans, s.GetName())
			}
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func TestTracingExportsOverOTLPGRPC(t *testing.T) {
	t.Parallel()
	lc := net.ListenConfig{}
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	rec := &trGRPCReceiver{}
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, rec)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)

	tr, err := NewTracing(t.Context(), TracingOptions{Endpoint: "http://" + ln.Addr().String(), Protocol: "grpc", Sampler: "parentbased_traceidratio", SamplerArg: "1"})
	require.NoError(t, err)
	_, span := tr.Tracer("test").Start(t.Context(), "over grpc")
	span.End()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, tr.Shutdown(ctx))
	rec.mu.Lock()
	defer rec.mu.Unlock()
	assert.Equal(t, []string{"over grpc"}, rec.spans)
}

func TestTracingWithRecorder(t *testing.T) {
	t.Parallel()
	sr := tracetest.NewSpanRecorder()
	tr := NewTracingWith(sr, "svc")
	require.True(t, tr.Enabled())
	ctx, parent := tr.Tracer("test").Start(t.Context(), "parent")
	_, child := tr.Tracer("test").Start(ctx, "child")
	child.End()
	parent.End()
	ended := sr.Ended()
	require.Len(t, ended, 2)
	assert.Equal(t, "child", ended[0].Name())
	assert.Equal(t, ended[1].SpanContext().SpanID(), ended[0].Parent().SpanID())
	name, _ := ended[0].Resource().Set().Value("service.name")
	assert.Equal(t, "svc", name.AsString())
}

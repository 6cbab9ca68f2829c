package runner

import (
	"context"
	"net/http"
	"net/url"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TracedTransport wraps rt (the SSRF-safe transport) so every outbound call
// is a client span "HTTP <METHOD>", child of the request's context. With
// propagate the call carries the W3C traceparent (and tracestate, baggage
// as p writes them); without it (a bot's config turned it off) the call is
// still a span but sends no trace header.
//
// otelhttp records the full URL (url.full) and an error's text, and both
// may carry secrets: a bot's URL can hold a token in its path or query,
// and a *url.Error quotes the URL. The spans therefore keep only the
// method, scheme, host, port, status code and error type.
func TracedTransport(rt http.RoundTripper, tp trace.TracerProvider, p propagation.TextMapPropagator, propagate bool) http.RoundTripper {
	if !propagate || p == nil {
		p = propagation.NewCompositeTextMapPropagator() // injects nothing
	}
	return otelhttp.NewTransport(rt,
		otelhttp.WithTracerProvider(traceRedactProvider{tp}),
		otelhttp.WithPropagators(p),
		// Outbound metrics are the runner's own (Prometheus), not otelhttp's.
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
	)
}

// traceRedactProvider hands out tracers whose spans drop what TracedTransport
// must not record.
type traceRedactProvider struct{ trace.TracerProvider }

func (p traceRedactProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return traceRedactTracer{p.TracerProvider.Tracer(name, opts...)}
}

type traceRedactTracer struct{ trace.Tracer }

func (t traceRedactTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	cfg := trace.NewSpanStartConfig(opts...)
	clean := []trace.SpanStartOption{
		trace.WithSpanKind(cfg.SpanKind()),
		trace.WithAttributes(traceRedactAttrs(cfg.Attributes())...),
		trace.WithLinks(cfg.Links()...),
	}
	if !cfg.Timestamp().IsZero() {
		clean = append(clean, trace.WithTimestamp(cfg.Timestamp()))
	}
	if cfg.NewRoot() {
		clean = append(clean, trace.WithNewRoot())
	}
	ctx, span := t.Tracer.Start(ctx, name, clean...)
	s := traceRedactSpan{span}
	return trace.ContextWithSpan(ctx, s), s
}

type traceRedactSpan struct{ trace.Span }

func (s traceRedactSpan) SetAttributes(kv ...attribute.KeyValue) {
	s.Span.SetAttributes(traceRedactAttrs(kv)...)
}

// SetStatus keeps the code; the description is an error's text.
func (s traceRedactSpan) SetStatus(code codes.Code, _ string) {
	desc := ""
	if code == codes.Error {
		desc = "request failed"
	}
	s.Span.SetStatus(code, desc)
}

// RecordError records the error's type only.
func (s traceRedactSpan) RecordError(err error, _ ...trace.EventOption) {
	if err != nil {
		s.Span.AddEvent("exception")
	}
}

// AddEvent keeps the event's name (otelhttp's are read/write byte counts).
func (s traceRedactSpan) AddEvent(name string, opts ...trace.EventOption) {
	cfg := trace.NewEventConfig(opts...)
	s.Span.AddEvent(name, trace.WithAttributes(traceRedactAttrs(cfg.Attributes())...))
}

// traceRedactAllowed are the attributes an outbound span may carry.
var traceRedactAllowed = map[attribute.Key]bool{
	"http.request.method":                 true,
	"http.request.method_original":        true,
	"http.response.status_code":           true,
	"server.address":                      true,
	"server.port":                         true,
	"network.protocol.name":               true,
	"network.protocol.version":            true,
	"error.type":                          true,
	"url.scheme":                          true,
	"messaging.message.type":              true, // otelhttp's read/write events
	"messaging.message.id":                true,
	"messaging.message.compressed_size":   true,
	"messaging.message.uncompressed_size": true,
}

// traceRedactAttrs keeps the allowed attributes (an allow list, so an
// attribute a later otelhttp adds is dropped until it is looked at).
func traceRedactAttrs(kv []attribute.KeyValue) []attribute.KeyValue {
	out := make([]attribute.KeyValue, 0, len(kv))
	for _, a := range kv {
		switch {
		case traceRedactAllowed[a.Key]:
			out = append(out, a)
		case a.Key == "url.full":
			if u, err := url.Parse(a.Value.AsString()); err == nil && u.Scheme != "" {
				out = append(out, attribute.String("url.scheme", u.Scheme))
			}
		}
	}
	return out
}

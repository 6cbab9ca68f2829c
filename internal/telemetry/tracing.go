package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// TracingOptions are the OpenTelemetry settings (config.Config's OTLP and
// OTEL_* fields). Endpoint "" turns tracing off.
type TracingOptions struct {
	Endpoint      string // OTEL_EXPORTER_OTLP_ENDPOINT: base URL of the collector
	Protocol      string // "http/protobuf" (default) or "grpc"
	ServiceName   string // OTEL_SERVICE_NAME
	Sampler       string // OTEL_TRACES_SAMPLER (default parentbased_always_on)
	SamplerArg    string // OTEL_TRACES_SAMPLER_ARG: the ratio of the *traceidratio samplers
	ResourceAttrs string // OTEL_RESOURCE_ATTRIBUTES: k=v,k2=v2 (values percent-encoded)
	Version       string // service.version
}

// Tracing is the process's tracer provider and propagator, handed to web,
// models and runner explicitly. The global otel provider is never set.
type Tracing struct {
	provider trace.TracerProvider
	sdk      *sdktrace.TracerProvider // nil when tracing is off
	prop     propagation.TextMapPropagator
}

// trPropagator is W3C trace context plus baggage.
func trPropagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// NewTracing builds the tracer provider: a no-op one when o.Endpoint is
// empty (no cost beyond the calls), else the SDK exporting batches over
// OTLP. ctx bounds building the resource; the exporter connects lazily.
func NewTracing(ctx context.Context, o TracingOptions) (*Tracing, error) {
	if o.Endpoint == "" {
		return &Tracing{provider: noop.NewTracerProvider(), prop: trPropagator()}, nil
	}
	sampler, err := trSampler(o.Sampler, o.SamplerArg)
	if err != nil {
		return nil, err
	}
	res, err := trResource(ctx, o)
	if err != nil {
		return nil, err
	}
	exp, err := trExporter(ctx, o.Endpoint, o.Protocol)
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(sampler),
		sdktrace.WithResource(res),
	)
	return &Tracing{provider: tp, sdk: tp, prop: trPropagator()}, nil
}

// NewTracingWith is tracing that hands every span to sp (tests pass a
// tracetest.SpanRecorder), sampling everything.
func NewTracingWith(sp sdktrace.SpanProcessor, serviceName string) *Tracing {
	res := resource.NewSchemaless(attribute.String("service.name", serviceName))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(sp),
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithResource(res),
	)
	return &Tracing{provider: tp, sdk: tp, prop: trPropagator()}
}

// Provider is the tracer provider to hand to instrumentation.
func (t *Tracing) Provider() trace.TracerProvider { return t.provider }

// Tracer is a named tracer of the provider (name: the instrumenting package).
func (t *Tracing) Tracer(name string) trace.Tracer { return t.provider.Tracer(name) }

// Propagator reads and writes W3C traceparent/tracestate and baggage.
func (t *Tracing) Propagator() propagation.TextMapPropagator { return t.prop }

// Enabled reports whether spans are recorded and exported.
func (t *Tracing) Enabled() bool { return t.sdk != nil }

// Shutdown flushes the spans still batched and stops the exporter; call it
// once, at exit, with a bounded ctx.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.sdk == nil {
		return nil
	}
	if err := t.sdk.Shutdown(ctx); err != nil {
		return fmt.Errorf("telemetry: shut down tracing: %w", err)
	}
	return nil
}

// TraceID is the hex trace id of the span in ctx, or "" when there is none.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}

// trSampler maps OTEL_TRACES_SAMPLER and its argument to a sampler.
func trSampler(name, arg string) (sdktrace.Sampler, error) {
	ratio := 1.0
	if arg != "" {
		f, err := strconv.ParseFloat(arg, 64)
		if err != nil || f < 0 || f > 1 {
			return nil, fmt.Errorf("telemetry: sampler argument %q is not a number from 0 to 1", arg)
		}
		ratio = f
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	default:
		return nil, fmt.Errorf("telemetry: unknown sampler %q", name)
	}
}

// trResource is the SDK's own attributes, then OTEL_RESOURCE_ATTRIBUTES,
// then service.name and service.version (which win, as the spec says
// OTEL_SERVICE_NAME does).
func trResource(ctx context.Context, o TracingOptions) (*resource.Resource, error) {
	attrs, err := trParseResourceAttrs(o.ResourceAttrs)
	if err != nil {
		return nil, err
	}
	name := o.ServiceName
	if name == "" {
		name = "codex32"
	}
	attrs = append(attrs, attribute.String("service.name", name))
	if o.Version != "" {
		attrs = append(attrs, attribute.String("service.version", o.Version))
	}
	res, err := resource.New(ctx, resource.WithTelemetrySDK(), resource.WithAttributes(attrs...))
	if err != nil {
		return nil, fmt.Errorf("telemetry: tracing resource: %w", err)
	}
	return res, nil
}

// trParseResourceAttrs parses "k=v,k2=v2" (values percent-encoded, as the
// OpenTelemetry spec has OTEL_RESOURCE_ATTRIBUTES).
func trParseResourceAttrs(s string) ([]attribute.KeyValue, error) {
	var out []attribute.KeyValue
	for p := range strings.SplitSeq(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("telemetry: resource attribute %q is not key=value", p)
		}
		val, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("telemetry: resource attribute %q: %w", k, err)
		}
		out = append(out, attribute.String(k, val))
	}
	return out, nil
}

// trExporter builds the OTLP exporter for the protocol. endpoint is the
// base URL (OTEL_EXPORTER_OTLP_ENDPOINT): over HTTP traces go to its path +
// /v1/traces; gRPC uses only its host. http:// means no TLS.
func trExporter(ctx context.Context, endpoint, protocol string) (sdktrace.SpanExporter, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("telemetry: OTLP endpoint %q is not an http:// or https:// URL", endpoint)
	}
	switch protocol {
	case "", "http/protobuf":
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.String()))
		if err != nil {
			return nil, fmt.Errorf("telemetry: OTLP/HTTP exporter: %w", err)
		}
		return exp, nil
	case "grpc":
		exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(u.String()))
		if err != nil {
			return nil, fmt.Errorf("telemetry: OTLP/gRPC exporter: %w", err)
		}
		return exp, nil
	default:
		return nil, errors.New("telemetry: OTLP protocol " + strconv.Quote(protocol) + " is not http/protobuf or grpc")
	}
}

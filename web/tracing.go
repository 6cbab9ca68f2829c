package web

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracingTracerName names the tracer of the request spans.
const tracingTracerName = "github.com/codex32/codex32/web"

// Tracing is a server span per request, named "<METHOD> <route pattern>"
// ("GET /bots/:id"; "GET unmatched" when no route matched: never the raw
// path, which can hold ids and webhook tokens). The span goes into
// c.UserContext(), so the handler's queries and the executions it queues
// are its children.
//
// An incoming W3C traceparent continues the caller's trace only when
// trusted(c) says so (a proxy we run, a webhook caller); otherwise the
// request starts a trace of its own with a link to the caller's span, so
// nobody outside can join or steer our traces, and their baggage is
// ignored. trusted nil trusts nobody.
//
// Put it early (right after the request id): it reads the status the error
// handler will choose the way the access log does, and it sees panics only
// when it is outside recover.
//
// (gofiber/contrib's otelfiber is not among the project's modules; this is
// the part of it we need.)
func Tracing(tp trace.TracerProvider, p propagation.TextMapPropagator, trusted func(c *fiber.Ctx) bool) fiber.Handler {
	tracer := tp.Tracer(tracingTracerName)
	return func(c *fiber.Ctx) error {
		carrier := tracingCarrier{&c.Request().Header}
		// Copied: Fiber's strings point into buffers reused after the
		// request, and the span outlives it. One of Fiber's known methods
		// (others get 501 before routing), so it is safe as a name.
		method := utils.CopyString(c.Method())
		opts := []trace.SpanStartOption{
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", method)),
		}
		parent := c.UserContext()
		if trusted != nil && trusted(c) {
			parent = p.Extract(parent, carrier)
		} else {
			opts = append(opts, trace.WithNewRoot())
			remote := trace.SpanContextFromContext(p.Extract(context.Background(), carrier))
			if remote.IsValid() {
				opts = append(opts, trace.WithLinks(trace.Link{SpanContext: remote}))
			}
		}
		ctx, span := tracer.Start(parent, method, opts...)
		c.SetUserContext(ctx)

		ended := false
		defer func() {
			if !ended { // a panic on its way to an outer recover
				span.SetStatus(codes.Error, "panic")
				span.SetName(method + " " + tracingRoute(c, nil))
				span.End()
			}
		}()
		err := c.Next()
		status := c.Response().StatusCode()
		if err != nil {
			// The error handler has not run yet: the status it will choose.
			status, _ = classify(err)
		}
		route := tracingRoute(c, err)
		span.SetName(method + " " + route)
		span.SetAttributes(
			attribute.String("http.route", route),
			attribute.Int("http.response.status_code", status),
		)
		if status >= 500 {
			span.SetStatus(codes.Error, "")
			span.SetAttributes(attribute.String("error.type", strconv.Itoa(status)))
		}
		ended = true
		span.End()
		return err
	}
}

// tracingRoute is the pattern of the route that handled the request, or
// "unmatched" when none did: Fiber's own "Cannot GET /path" 404, or a
// request that only middleware (a Use route: CSRF refusing it, say) saw.
func tracingRoute(c *fiber.Ctx, err error) string {
	var fe *fiber.Error
	if errors.As(err, &fe) && fe.Code == fiber.StatusNotFound && strings.HasPrefix(fe.Message, "Cannot ") {
		return "unmatched"
	}
	r := c.Route()
	if r == nil || r.Path == "" || tracingIsUse(r) {
		return "unmatched"
	}
	return r.Path
}

// tracingUseField is the index of fiber.Route's unexported "use" flag
// (Use routes get the request's method, so nothing exported tells them
// from routes); nil if a Fiber release renames it, and then only the
// "Cannot" 404 counts as unmatched (TestTracingNamesTheRoutePattern fails).
var tracingUseField = func() []int {
	f, ok := reflect.TypeFor[fiber.Route]().FieldByName("use")
	if !ok || f.Type.Kind() != reflect.Bool {
		return nil
	}
	return f.Index
}()

func tracingIsUse(r *fiber.Route) bool {
	if tracingUseField == nil {
		return false
	}
	return reflect.ValueOf(r).Elem().FieldByIndex(tracingUseField).Bool()
}

// tracingCarrier reads propagation headers from the request. Peek's bytes
// are Fiber's buffers, so every value is copied into a string.
type tracingCarrier struct{ h *fasthttp.RequestHeader }

func (t tracingCarrier) Get(key string) string { return string(t.h.Peek(key)) }

func (t tracingCarrier) Set(string, string) {}

func (t tracingCarrier) Keys() []string {
	var keys []string
	t.h.VisitAll(func(k, _ []byte) { keys = append(keys, string(k)) })
	return keys
}

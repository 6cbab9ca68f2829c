package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

const (
	remoteTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	remoteSpanID  = "00f067aa0ba902b7"
	traceparent   = "00-" + remoteTraceID + "-" + remoteSpanID + "-01"
)

// tracedApp is the real app with Tracing in front of a few routes. A
// request is trusted when it sends X-Test-Trusted.
func tracedApp(t *testing.T, db *models.DB) (*fiber.App, *tracetest.SpanRecorder, *sdktrace.TracerProvider) {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	if db != nil {
		db.Trace(tp)
	}

	app := web.New(web.Options{})
	app.Use(web.Tracing(tp, prop, func(c *fiber.Ctx) bool { return c.Get("X-Test-Trusted") != "" }))
	// Middleware that answers itself (as CSRF does when it refuses).
	app.Use("/private", func(c *fiber.Ctx) error { return c.SendStatus(http.StatusForbidden) })
	app.Get("/bots/:id", func(c *fiber.Ctx) error {
		if m := baggage.FromContext(c.UserContext()).Member("tenant"); m.Value() != "" {
			c.Set("X-Baggage-Tenant", m.Value())
		}
		if db != nil {
			_, err := models.BotByID(c.UserContext(), db.Bun, uuid.New())
			return err // not found: 404
		}
		return c.SendString("ok")
	})
	api := app.Group("/api/v1")
	api.Post("/bots/:id/executions", func(c *fiber.Ctx) error { return c.SendStatus(http.StatusAccepted) })
	app.Get("/boom", func(*fiber.Ctx) error { return errors.New("password=hunter2 leaked") })
	app.Get("/gateway", func(c *fiber.Ctx) error { return c.Status(http.StatusBadGateway).SendString("upstream") })
	return app, sr, tp
}

func do(t *testing.T, app *fiber.App, method, path string, headers map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, path, nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := app.Test(req, -1)
	require.NoError(t, err)
	t.Cleanup(func() { _ = res.Body.Close() })
	return res
}

func serverSpans(sr *tracetest.SpanRecorder) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range sr.Ended() {
		if s.SpanKind() == trace.SpanKindServer {
			out = append(out, s)
		}
	}
	return out
}

func attrMap(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}

func TestTracingNamesTheRoutePattern(t *testing.T) {
	t.Parallel()
	app, sr, _ := tracedApp(t, nil)
	require.Equal(t, http.StatusOK, do(t, app, http.MethodGet, "/bots/secret-id-123", nil).StatusCode)
	require.Equal(t, http.StatusAccepted, do(t, app, http.MethodPost, "/api/v1/bots/secret-id-456/executions", nil).StatusCode)
	require.Equal(t, http.StatusNotFound, do(t, app, http.MethodGet, "/no/such/secret-page", nil).StatusCode)
	require.Equal(t, http.StatusForbidden, do(t, app, http.MethodGet, "/private/secret-thing", nil).StatusCode)

	spans := serverSpans(sr)
	require.Len(t, spans, 4)
	want := []struct {
		name, route, status string
	}{
		{"GET /bots/:id", "/bots/:id", "200"},
		{"POST /api/v1/bots/:id/executions", "/api/v1/bots/:id/executions", "202"},
		{"GET unmatched", "unmatched", "404"},
		{"GET unmatched", "unmatched", "403"}, // only a Use route saw it
	}
	for i, w := range want {
		s := spans[i]
		assert.Equal(t, w.name, s.Name())
		a := attrMap(s)
		assert.Equal(t, w.route, a["http.route"])
		assert.Equal(t, w.status, a["http.response.status_code"])
		assert.Equal(t, s.Name()[:len(a["http.request.method"])], a["http.request.method"])
		assert.Equal(t, codes.Unset, s.Status().Code, "4xx is the client's error, not the server's")
		for _, v := range a {
			assert.NotContains(t, v, "secret")
		}
	}
}

func TestTracingTrustedCallerContinuesTrace(t *testing.T) {
	t.Parallel()
	app, sr, _ := tracedApp(t, nil)
	res := do(t, app, http.MethodGet, "/bots/x", map[string]string{
		"traceparent": traceparent, "baggage": "tenant=acme", "X-Test-Trusted": "1",
	})
	assert.Equal(t, "acme", res.Header.Get("X-Baggage-Tenant"), "a trusted caller's baggage is kept")

	spans := serverSpans(sr)
	require.Len(t, spans, 1)
	s := spans[0]
	assert.Equal(t, remoteTraceID, s.SpanContext().TraceID().String())
	assert.Equal(t, remoteSpanID, s.Parent().SpanID().String())
	assert.True(t, s.Parent().IsRemote())
	assert.Empty(t, s.Links())
}

func TestTracingUntrustedCallerGetsNewTraceWithLink(t *testing.T) {
	t.Parallel()
	app, sr, _ := tracedApp(t, nil)
	res := do(t, app, http.MethodGet, "/bots/x", map[string]string{"traceparent": traceparent, "baggage": "tenant=acme"})
	assert.Empty(t, res.Header.Get("X-Baggage-Tenant"), "an untrusted caller's baggage is ignored")

	spans := serverSpans(sr)
	require.Len(t, spans, 1)
	s := spans[0]
	assert.NotEqual(t, remoteTraceID, s.SpanContext().TraceID().String())
	assert.False(t, s.Parent().IsValid(), "a root span")
	require.Len(t, s.Links(), 1)
	assert.Equal(t, remoteTraceID, s.Links()[0].SpanContext.TraceID().String())
	assert.Equal(t, remoteSpanID, s.Links()[0].SpanContext.SpanID().String())

	// Without a traceparent: a root, no link.
	do(t, app, http.MethodGet, "/bots/y", nil)
	spans = serverSpans(sr)
	require.Len(t, spans, 2)
	assert.False(t, spans[1].Parent().IsValid())
	assert.Empty(t, spans[1].Links())
}

func TestTracingHandlerQueriesAreChildren(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	app, sr, _ := tracedApp(t, db)
	require.Equal(t, http.StatusNotFound, do(t, app, http.MethodGet, "/bots/"+uuid.NewString(), nil).StatusCode)

	spans := serverSpans(sr)
	require.Len(t, spans, 1)
	req := spans[0]
	assert.Equal(t, "GET /bots/:id", req.Name())
	assert.Equal(t, "404", attrMap(req)["http.response.status_code"], "the status the error handler chose")
	var children []string
	for _, s := range sr.Ended() {
		if s.Parent().SpanID() == req.SpanContext().SpanID() {
			assert.Equal(t, req.SpanContext().TraceID(), s.SpanContext().TraceID())
			children = append(children, s.Name())
		}
	}
	assert.Equal(t, []string{"db SELECT bots"}, children)
}

func TestTracingRecordsServerErrors(t *testing.T) {
	t.Parallel()
	app, sr, _ := tracedApp(t, nil)
	require.Equal(t, http.StatusInternalServerError, do(t, app, http.MethodGet, "/boom", nil).StatusCode)
	require.Equal(t, http.StatusBadGateway, do(t, app, http.MethodGet, "/gateway", nil).StatusCode)

	spans := serverSpans(sr)
	require.Len(t, spans, 2)
	for i, want := range []string{"500", "502"} {
		s := spans[i]
		assert.Equal(t, codes.Error, s.Status().Code)
		a := attrMap(s)
		assert.Equal(t, want, a["http.response.status_code"])
		assert.Equal(t, want, a["error.type"])
		assert.NotContains(t, s.Status().Description, "hunter2")
		assert.Empty(t, s.Events(), "the error's text is not recorded")
	}
}

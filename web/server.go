// Package web is Fiber plumbing only: the app with its middleware order,
// error handler, sessions, CSRF, security headers, static files and the
// Render helper.
package web

import (
	"log/slog"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"

	"github.com/codex32/codex32/internal/telemetry"
)

// Options configure the app.
type Options struct {
	Logger  *slog.Logger
	Version string
	// Secure: served over https (HSTS).
	Secure bool
	// ClientIP resolves the client address (see ClientIP); default: the peer.
	ClientIP func(*fiber.Ctx) string
	// Metrics records every request (nil: none).
	Metrics *telemetry.Metrics
	// MetricsToken, when set, also serves Metrics at /metrics on this app
	// to callers sending it as a bearer token.
	MetricsToken string
	// Tracing makes a span of every request (nil or disabled: none);
	// TrustTrace says whose traceparent header continues their trace.
	Tracing    *telemetry.Tracing
	TrustTrace func(*fiber.Ctx) bool
}

// New returns a Fiber app with, in order: request id, client address,
// access log, panic recovery, security headers, the NUL refusal, and
// /static. Handlers add
// sessions and their routes.
func New(opts Options) *fiber.App {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ClientIP == nil {
		opts.ClientIP = ClientIP(nil)
	}
	app := fiber.New(fiber.Config{
		AppName:               "codex32",
		DisableStartupMessage: true,
		ErrorHandler:          errorHandler(opts),
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          60 * time.Second,
		IdleTimeout:           120 * time.Second,
		BodyLimit:             4 << 20,
	})
	rememberRefusedPaths(app)
	app.Use(requestid.New())
	app.Use(logRequestID)
	if t := opts.Tracing; t != nil && t.Enabled() {
		app.Use(Tracing(t.Provider(), t.Propagator(), opts.TrustTrace))
	}
	if opts.Metrics != nil {
		app.Use(CountRequests(opts.Metrics))
		if opts.MetricsToken != "" {
			app.Get("/metrics", MetricsEndpoint(opts.Metrics, opts.MetricsToken))
		}
	}
	app.Use(StoreClientIP(opts.ClientIP))
	app.Use(accessLog(opts.Logger))
	app.Use(recover.New(recover.Config{
		EnableStackTrace: true,
		StackTraceHandler: func(c *fiber.Ctx, e any) {
			opts.Logger.Error("panic in handler", "panic", e, "path", RedactHookPath(c.Path()), "request_id", requestID(c))
		},
	}))
	app.Use(SecurityHeaders(opts.Secure))
	app.Use(RefuseNUL())
	app.Get("/static/*", serveStatic)
	return app
}

// logRequestID puts the request id into the request's context, for the
// log lines of everything the request does.
func logRequestID(c *fiber.Ctx) error {
	if id := requestID(c); id != "" {
		c.SetUserContext(telemetry.WithRequestID(c.UserContext(), strings.Clone(id)))
	}
	return c.Next()
}

func requestID(c *fiber.Ctx) string {
	if v, ok := c.Locals(requestid.ConfigDefault.ContextKey).(string); ok {
		return v
	}
	return ""
}

func accessLog(log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		err := c.Next()
		status := c.Response().StatusCode()
		if err != nil {
			// The error handler has not run yet; log the status it will choose.
			status, _ = classify(err)
		}
		level := slog.LevelInfo
		path := RedactHookPath(c.Path())
		if path == "/healthz" || path == "/readyz" || strings.HasPrefix(path, "/static/") {
			level = slog.LevelDebug
		}
		if status >= 500 {
			level = slog.LevelError
		}
		// The query string is not logged: it may carry secrets (OAuth codes).
		log.Log(c.UserContext(), level, "request",
			"method", c.Method(), "path", path, "status", status, "ip", RequestIP(c),
			"duration_ms", float64(time.Since(start).Microseconds())/1000, "request_id", requestID(c))
		return err
	}
}

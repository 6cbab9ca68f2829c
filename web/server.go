// Package web is Fiber plumbing only: the app with its middleware order,
// error handler, static files and the Render helper.
package web

import (
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
)

// Options configure the app.
type Options struct {
	Logger     *slog.Logger
	Version    string
	Production bool
}

// New returns a Fiber app with recovery, request ids, access logging, the
// error pages and /static mounted. Handlers add their routes to it.
func New(opts Options) *fiber.App {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
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
	app.Use(requestid.New())
	app.Use(accessLog(opts.Logger))
	app.Use(recover.New(recover.Config{
		EnableStackTrace: true,
		StackTraceHandler: func(c *fiber.Ctx, e any) {
			opts.Logger.Error("panic in handler", "panic", e, "path", c.Path(), "request_id", requestID(c))
		},
	}))
	app.Get("/static/*", serveStatic)
	return app
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
		path := c.Path()
		if path == "/healthz" || path == "/readyz" || len(path) > 7 && path[:8] == "/static/" {
			level = slog.LevelDebug
		}
		if status >= 500 {
			level = slog.LevelError
		}
		log.Log(c.UserContext(), level, "request",
			"method", c.Method(), "path", path, "status", status,
			"duration_ms", float64(time.Since(start).Microseconds())/1000, "request_id", requestID(c))
		return err
	}
}

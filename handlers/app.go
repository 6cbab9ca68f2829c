// Package handlers holds the route table and one small file per resource.
package handlers

import (
	"context"
	"log/slog"

	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

// Deps is everything the handlers use, built once in main (and the same way
// in tests).
type Deps struct {
	DB      *models.DB
	Log     *slog.Logger
	Version string
	// Schema reports on the database schema (a *migrations.Migrator).
	Schema     Schema
	Production bool
}

// Schema is what the handlers need to know about the database schema.
type Schema interface {
	// Check returns nil when the schema is exactly what this binary expects.
	Check(ctx context.Context) error
	// CurrentVersion returns the applied schema version.
	CurrentVersion(ctx context.Context) (int, error)
}

// NewApp builds the whole web application.
func NewApp(d Deps) *fiber.App {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	app := web.New(web.Options{Logger: d.Log, Version: d.Version, Production: d.Production})
	h := &handler{Deps: d}
	h.routes(app)
	return app
}

type handler struct {
	Deps
}

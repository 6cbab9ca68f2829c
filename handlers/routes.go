package handlers

import "github.com/gofiber/fiber/v2"

// routes is the one route table.
func (h *handler) routes(app *fiber.App) {
	app.Get("/healthz", h.showHealth)
	app.Get("/readyz", h.showReady)
	app.Get("/", h.showHome)
}

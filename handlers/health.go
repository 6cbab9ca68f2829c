package handlers

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
)

// showHealth answers while the process is alive; it touches nothing else.
func (h *handler) showHealth(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"status": "ok"})
}

// showReady answers 200 when the database is reachable and its schema is the
// one this binary expects, else 503 with the reason.
func (h *handler) showReady(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	ctx, cancel := context.WithTimeout(c.UserContext(), 3*time.Second)
	defer cancel()
	if err := h.DB.Ping(ctx); err != nil {
		h.Log.Warn("readiness: database unreachable", "err", err)
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "reason": "database unreachable"})
	}
	if err := h.Schema.Check(ctx); err != nil {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "reason": err.Error()})
	}
	return c.JSON(fiber.Map{"status": "ready", "database": string(h.DB.Dialect)})
}

package handlers

import "github.com/gofiber/fiber/v2"

// Idempotent exposes the idempotent middleware to the external tests, which
// mount it on a route of their own in the real app (the API endpoints that
// use it live elsewhere).
func Idempotent(d Deps, next fiber.Handler) fiber.Handler {
	h := newHandler(d)
	return h.idempotent(next)
}

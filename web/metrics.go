package web

import (
	"crypto/subtle"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/codex32/codex32/internal/telemetry"
)

// CountRequests records every request in m by its route pattern (e.g.
// /bots/:id; "unmatched" when no route answered, see tracingRoute), method
// and status class, with its duration.
func CountRequests(m *telemetry.Metrics) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		err := c.Next()
		status := c.Response().StatusCode()
		if err != nil {
			status, _ = classify(err) // the error handler has not run yet
		}
		// c.Method() is Fiber's reused request memory: a label must own its bytes.
		m.ObserveHTTP(tracingRoute(c, err), methodLabel(c.Method()), status, time.Since(start))
		return err
	}
}

// methodLabels maps a request's method to an owned constant; others are
// "other".
var methodLabels = map[string]string{
	fiber.MethodGet: fiber.MethodGet, fiber.MethodHead: fiber.MethodHead, fiber.MethodPost: fiber.MethodPost,
	fiber.MethodPut: fiber.MethodPut, fiber.MethodPatch: fiber.MethodPatch, fiber.MethodDelete: fiber.MethodDelete,
	fiber.MethodOptions: fiber.MethodOptions, fiber.MethodConnect: fiber.MethodConnect, fiber.MethodTrace: fiber.MethodTrace,
}

func methodLabel(m string) string {
	if v, ok := methodLabels[m]; ok {
		return v
	}
	return "other"
}

// MetricsEndpoint serves m on the main port to callers presenting token
// as a bearer token (CODEX32_METRICS_TOKEN); a missing or wrong token is
// answered 401 without a hint of what is served.
func MetricsEndpoint(m *telemetry.Metrics, token string) fiber.Handler {
	serve := adaptor.HTTPHandler(m.Handler())
	want := []byte("Bearer " + token)
	return func(c *fiber.Ctx) error {
		got := []byte(strings.TrimSpace(c.Get(fiber.HeaderAuthorization)))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="metrics"`)
			return c.Status(fiber.StatusUnauthorized).SendString("401 Unauthorized\n")
		}
		c.Set(fiber.HeaderCacheControl, "no-store")
		return serve(c)
	}
}

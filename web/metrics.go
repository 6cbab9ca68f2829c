package web

import (
	"crypto/subtle"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/codex32/codex32/internal/telemetry"
)

// unmatchedRoute is the route label of requests no route answered (404s
// of unknown paths): raw paths never become labels.
const unmatchedRoute = "unmatched"

// CountRequests records every request in m by its route pattern (e.g.
// /bots/:id), method and status class, with its duration.
func CountRequests(app *fiber.App, m *telemetry.Metrics) fiber.Handler {
	routes := routePatterns{app: app}
	return func(c *fiber.Ctx) error {
		start := time.Now()
		err := c.Next()
		status := c.Response().StatusCode()
		if err != nil {
			status, _ = classify(err) // the error handler has not run yet
		}
		// c.Method() is Fiber's reused request memory: a label must own its bytes.
		m.ObserveHTTP(routes.label(c), methodLabel(c.Method()), status, time.Since(start))
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

// routePatterns tells endpoint routes from middleware: after a request
// that no endpoint answered, c.Route() is the last middleware's route,
// whose pattern ("/" for app.Use) must not be taken for an endpoint's.
// Routes are told apart by their handler chain, which Fiber shares
// between a route and the copies GetRoutes returns.
type routePatterns struct {
	app       *fiber.App
	once      sync.Once
	endpoints map[*fiber.Handler]struct{}
}

func (r *routePatterns) label(c *fiber.Ctx) string {
	r.once.Do(func() { // every route is registered before the first request
		r.endpoints = map[*fiber.Handler]struct{}{}
		for _, rt := range r.app.GetRoutes(true) { // true: without app.Use's
			if len(rt.Handlers) > 0 {
				r.endpoints[&rt.Handlers[0]] = struct{}{}
			}
		}
	})
	rt := c.Route()
	if len(rt.Handlers) == 0 {
		return unmatchedRoute
	}
	if _, ok := r.endpoints[&rt.Handlers[0]]; !ok {
		return unmatchedRoute
	}
	return rt.Path
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

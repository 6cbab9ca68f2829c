// Package handlers holds the route table and one small file per resource.
package handlers

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/internal/telemetry"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
	"github.com/codex32/codex32/views"
	"github.com/codex32/codex32/web"
)

// Deps is everything the handlers use, built once in main (and the same way
// in tests).
type Deps struct {
	DB      *models.DB
	Log     *slog.Logger
	Version string
	// Schema reports on the database schema (a *migrations.Migrator).
	Schema Schema
	// Sessions is the server-side session store.
	Sessions *web.SessionStore
	// ClientIP resolves the client address (trusted proxies applied).
	ClientIP func(*fiber.Ctx) string
	// Secure: the public URL is https.
	Secure bool
	// BaseURL is the public URL of the site (CODEX32_BASE_URL, no trailing
	// slash), e.g. https://codex32.example.com. When set, the URLs the app
	// hands out to be called from elsewhere (webhook URLs, a webhook reply's
	// status_url) are built on it; when empty, on the request's scheme and
	// host.
	BaseURL string
	// APIKeyMaxDays caps API key lifetimes.
	APIKeyMaxDays int
	// SSO holds the enabled single sign-on providers (may be nil).
	SSO *SSO
	// Secrets encrypts bot secrets (CODEX32_SECRET_KEY).
	Secrets *models.SecretBox
	// Engine requests, runs and cancels executions.
	Engine *runner.Engine
	// RateLimiter limits /api requests per API key (CODEX32_API_RATE_LIMIT);
	// nil: no limit. Mount with web.RateLimit(h.RateLimiter, web.APIKeyID)
	// after apiAuth.
	RateLimiter *web.RateLimiter
	// APICacheTTL is how long /api may reuse an API key check or a bot list
	// page (CODEX32_API_CACHE_TTL); 0: never (see apiCache).
	APICacheTTL time.Duration
	// Now is the clock (tests move it); default time.Now.
	Now func() time.Time
	// AuditKey verifies the stored audit checkpoints when "Verify now"
	// runs (the public half of CODEX32_AUDIT_SIGNING_KEY); nil: they are
	// not checked.
	AuditKey ed25519.PublicKey
	// Metrics records what the handlers do (nil: nothing); MetricsToken,
	// when set, serves them at /metrics to its bearer.
	Metrics      *telemetry.Metrics
	MetricsToken string
	// Tracing makes spans of requests (nil: none); TrustTrace: see
	// web.TrustTraceparent.
	Tracing    *telemetry.Tracing
	TrustTrace func(*fiber.Ctx) bool
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
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.ClientIP == nil {
		d.ClientIP = web.ClientIP(nil)
	}
	if d.APIKeyMaxDays == 0 {
		d.APIKeyMaxDays = 365
	}
	d.BaseURL = strings.TrimSuffix(d.BaseURL, "/")
	app := web.New(web.Options{Logger: d.Log, Version: d.Version, Secure: d.Secure, ClientIP: d.ClientIP, Metrics: d.Metrics, MetricsToken: d.MetricsToken,
		Tracing: d.Tracing, TrustTrace: d.TrustTrace})
	h := newHandler(d)
	app.Use(h.cache.invalidateListsAfterWrites)
	h.routes(app)
	return app
}

// newHandler builds the handlers' shared state.
func newHandler(d Deps) *handler {
	return &handler{Deps: d, cache: newAPICache(d.APICacheTTL), idempotencyKeys: models.NewIdempotencyKeys(d.DB.Bun)}
}

type handler struct {
	Deps
	setupDone atomic.Bool // once true, stays true
	cache     *apiCache
	// idempotencyKeys shares transactions between concurrent requests.
	idempotencyKeys *models.IdempotencyKeys
}

// page fills the layout fields every page needs.
func (h *handler) page(c *fiber.Ctx, title, active string) views.Page {
	return web.NewPage(c, h.Version, title, active)
}

// htmlOnly applies mw to page routes, not to /api (API keys, no cookies).
func htmlOnly(mw fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if strings.HasPrefix(c.Path(), "/api/") {
			return c.Next()
		}
		return mw(c)
	}
}

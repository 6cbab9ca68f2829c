package testutil

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/handlers"
	"github.com/codex32/codex32/internal/telemetry"
	"github.com/codex32/codex32/migrations"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
	"github.com/codex32/codex32/web"
)

// App is the real application wired the way main wires it, on a fresh
// database.
type App struct {
	Fiber    *fiber.App
	DB       *models.DB
	Migrator *migrations.Migrator
	Sessions *web.SessionStore
	Clock    *Clock
	Secrets  *models.SecretBox
	Engine   *runner.Engine
	// RateLimiter is Deps.RateLimiter (nil when WithAPIRateLimit(0, …)).
	RateLimiter *web.RateLimiter
	// Metrics is Deps.Metrics (nil unless WithMetrics).
	Metrics *telemetry.Metrics
}

// AppOption changes how NewApp builds the app.
type AppOption func(*appOptions)

type appOptions struct {
	metrics       bool
	metricsToken  string
	freshInstance bool
	sso           *handlers.SSOConfig
	secure        bool
	proxies       []string
	idle, maxAge  time.Duration
	workers       int
	rateN         int
	ratePeriod    time.Duration
	apiCache      time.Duration
	baseURL       string
	dbProxy       *TCPProxy
}

// WithMetrics records the app's metrics (as serve does), served at
// /metrics to the bearer of token.
func WithMetrics(token string) AppOption {
	return func(o *appOptions) { o.metrics, o.metricsToken = true, token }
}

// WithBaseURL sets the public base URL (CODEX32_BASE_URL → Deps.BaseURL);
// by default it is unset and URLs follow the request's host.
func WithBaseURL(u string) AppOption { return func(o *appOptions) { o.baseURL = u } }

// WithWorkers runs n execution workers in the app (scripts included);
// without it the engine only enqueues.
func WithWorkers(n int) AppOption { return func(o *appOptions) { o.workers = n } }

// WithAPIRateLimit sets the per-API-key rate limit (CODEX32_API_RATE_LIMIT;
// default 600 per minute, as in production; n = 0 turns it off). The
// limiter runs on the app's Clock.
func WithAPIRateLimit(n int, period time.Duration) AppOption {
	return func(o *appOptions) { o.rateN, o.ratePeriod = n, period }
}

// WithAPICache sets CODEX32_API_CACHE_TTL (default 1s, as in production;
// the app's Clock stands still, so a test that changes the database behind
// the app's back advances it by the TTL, as a real client would wait).
func WithAPICache(ttl time.Duration) AppOption { return func(o *appOptions) { o.apiCache = ttl } }

// FreshInstance leaves first-run setup to be done (by default it is done).
func FreshInstance() AppOption { return func(o *appOptions) { o.freshInstance = true } }

// WithSSO enables single sign-on providers.
func WithSSO(cfg handlers.SSOConfig) AppOption { return func(o *appOptions) { o.sso = &cfg } }

// Secure pretends the app is served over https.
func Secure() AppOption { return func(o *appOptions) { o.secure = true } }

// TrustedProxies sets CODEX32_TRUSTED_PROXIES.
func TrustedProxies(p ...string) AppOption { return func(o *appOptions) { o.proxies = p } }

// SessionTimeouts sets the idle and absolute session timeouts.
func SessionTimeouts(idle, maxAge time.Duration) AppOption {
	return func(o *appOptions) { o.idle, o.maxAge = idle, maxAge }
}

// TestSessionKey is the session signing key tests use.
const TestSessionKey = "test-session-key-0123456789abcdef0123456789"

// NewApp builds the app on a fresh, migrated database.
func NewApp(tb testing.TB, opts ...AppOption) *App {
	tb.Helper()
	o := appOptions{idle: 24 * time.Hour, maxAge: 7 * 24 * time.Hour, rateN: 600, ratePeriod: time.Minute, apiCache: time.Second}
	for _, f := range opts {
		f(&o)
	}
	spec := NewDBSpec(tb)
	if o.dbProxy != nil {
		spec = o.dbProxy.via(tb, spec)
	}
	db := newMigratedDB(tb, spec)
	m, err := migrations.New(db, nil)
	if err != nil {
		tb.Fatalf("testutil: migrator: %v", err)
	}
	if !o.freshInstance {
		if err := models.MarkSetupDone(context.Background(), db.Bun); err != nil {
			tb.Fatalf("testutil: mark setup done: %v", err)
		}
	}
	var metrics *telemetry.Metrics
	if o.metrics {
		metrics = telemetry.NewMetrics(telemetry.MetricsOptions{Version: "test"})
		metrics.WatchDB(models.Readings{DB: db}, 30*time.Second)
		db.CountAuditRows(metrics)
	}
	clock := NewClock()
	log := Logger(tb)
	store, err := web.NewSessionStore(web.SessionConfig{
		DB: db, Keys: [][]byte{[]byte(TestSessionKey)}, Secure: o.secure, Idle: o.idle, MaxAge: o.maxAge, Log: log, Now: clock.Now,
	})
	if err != nil {
		tb.Fatalf("testutil: sessions: %v", err)
	}
	var sso *handlers.SSO
	if o.sso != nil {
		if sso, err = handlers.NewSSO(context.Background(), *o.sso, log); err != nil {
			tb.Fatalf("testutil: sso: %v", err)
		}
	}
	box, err := models.NewSecretBox([]byte("test-secret-key-0123456789abcdef"))
	if err != nil {
		tb.Fatalf("testutil: secrets: %v", err)
	}
	eng := NewEngine(tb, db, box, EngineOptions{Workers: o.workers, ErrorAfterFailures: 5, Metrics: metrics})
	limiter := web.NewRateLimiter(o.rateN, o.ratePeriod, clock.Now)
	app := handlers.NewApp(handlers.Deps{
		DB: db, Log: log, Version: "test", Schema: m, Sessions: store, ClientIP: web.ClientIP(o.proxies),
		Secure: o.secure, APIKeyMaxDays: 365, SSO: sso, Secrets: box, Now: clock.Now, Engine: eng, RateLimiter: limiter,
		APICacheTTL: o.apiCache, BaseURL: o.baseURL, Metrics: metrics, MetricsToken: o.metricsToken,
	})
	return &App{Fiber: app, DB: db, Migrator: m, Sessions: store, Clock: clock, Secrets: box, Engine: eng, RateLimiter: limiter, Metrics: metrics}
}

// Do sends a request through the app in memory (no network) and returns the response.
func (a *App) Do(tb testing.TB, req *http.Request) *http.Response {
	tb.Helper()
	resp, err := a.Fiber.Test(req, -1)
	if err != nil {
		tb.Fatalf("testutil: %s %s: %v", req.Method, req.URL, err)
	}
	tb.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// Serve starts the app on 127.0.0.1 and a random port, returns its base URL
// (http://127.0.0.1:NNNN) and shuts it down when t ends.
func (a *App) Serve(tb testing.TB) string {
	tb.Helper()
	ln, err := (&net.ListenConfig{}).Listen(tb.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testutil: listen: %v", err)
	}
	return a.ServeOn(tb, ln)
}

// ServeOn serves the app on ln (for tests that must know the address first).
func (a *App) ServeOn(tb testing.TB, ln net.Listener) string {
	tb.Helper()
	done := make(chan error, 1)
	go func() { done <- a.Fiber.Listener(ln) }()
	base := "http://" + ln.Addr().String()
	tb.Cleanup(func() {
		_ = a.Fiber.ShutdownWithTimeout(5 * time.Second)
		_ = ln.Close()
		if err := <-done; err != nil {
			tb.Logf("testutil: server stopped: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			return base
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("testutil: server at %s did not answer", base)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

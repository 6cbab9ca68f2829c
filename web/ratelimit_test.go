package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestRateLimiterBurstThenRefill(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := NewRateLimiter(600, time.Minute, clock.Now) // one request per 100 ms
	for i := range 600 {
		d := l.Allow("k")
		require.True(t, d.Allowed, "request %d of the burst", i+1)
		require.Equal(t, 600-i-1, d.Remaining)
		require.Equal(t, 600, d.Limit)
	}
	d := l.Allow("k")
	require.False(t, d.Allowed)
	require.Equal(t, 0, d.Remaining)
	require.Equal(t, 100*time.Millisecond, d.RetryAfter)
	require.Equal(t, time.Minute, d.Reset, "a minute until the bucket is full again")
	require.True(t, l.Allow("other").Allowed, "keys are independent")

	clock.Advance(99 * time.Millisecond)
	require.False(t, l.Allow("k").Allowed)
	clock.Advance(time.Millisecond)
	d = l.Allow("k")
	require.True(t, d.Allowed, "one request refilled after 100 ms")
	require.Equal(t, 0, d.Remaining)
	require.False(t, l.Allow("k").Allowed, "denied requests cost nothing, but there is no more room")

	clock.Advance(time.Second)
	for range 10 {
		require.True(t, l.Allow("k").Allowed, "a second refills ten")
	}
	require.False(t, l.Allow("k").Allowed)

	clock.Advance(time.Hour)
	require.Equal(t, 599, l.Allow("k").Remaining, "refills up to the burst, not beyond")
}

func TestRateLimiterSmallRates(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := NewRateLimiter(3, time.Hour, clock.Now)
	require.Equal(t, "3 requests per hour", l.String())
	for range 3 {
		require.True(t, l.Allow("k").Allowed)
	}
	d := l.Allow("k")
	require.False(t, d.Allowed)
	require.Equal(t, 20*time.Minute, d.RetryAfter)
	clock.Advance(20 * time.Minute)
	require.True(t, l.Allow("k").Allowed)
}

func TestRateLimiterOff(t *testing.T) {
	t.Parallel()
	l := NewRateLimiter(0, time.Minute, nil)
	require.Nil(t, l)
	require.True(t, l.Allow("k").Allowed)
	require.Zero(t, l.Len())
	require.Equal(t, "no limit", l.String())
}

func TestRateLimiterEvictsIdleKeys(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := NewRateLimiter(10, time.Second, clock.Now)
	for _, k := range []string{"a", "b", "c"} {
		l.Allow(k)
	}
	l.Allow("a") // a has more debt: 200 ms
	require.Equal(t, 3, l.Len())

	clock.Advance(150 * time.Millisecond)
	l.Allow("d")
	require.Equal(t, 4, l.Len(), "no sweep before a period has passed")

	clock.Advance(time.Second)
	l.Allow("e")
	require.Equal(t, 1, l.Len(), "keys whose buckets refilled are dropped; e was just added")

	// A full table makes room: first by sweeping, then by dropping the key
	// closest to full.
	l.maxKeys = 3
	l.Allow("f")
	l.Allow("f")
	l.Allow("g")
	l.Allow("g")
	l.Allow("g")
	require.Equal(t, 3, l.Len())
	clock.Advance(50 * time.Millisecond)
	l.Allow("h")
	require.Equal(t, 3, l.Len())
	l.mu.Lock()
	_, eHere := l.tat["e"]
	_, fHere := l.tat["f"]
	l.mu.Unlock()
	require.False(t, eHere, "e was the closest to full")
	require.True(t, fHere)
}

func TestRateLimiterIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	l := NewRateLimiter(100, time.Hour, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if l.Allow("shared").Allowed {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, 100, allowed)
}

func TestRateLimitMiddleware(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := NewRateLimiter(2, time.Minute, clock.Now)
	app := New(Options{})
	keyOf := func(c *fiber.Ctx) string { return c.Get("X-Test-Key") }
	app.Get("/api/v1/x", RateLimit(l, keyOf), func(c *fiber.Ctx) error { return c.SendString("ok") })
	get := func(key string) *http.Response {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/api/v1/x", nil)
		if key != "" {
			req.Header.Set("X-Test-Key", key)
		}
		resp, err := app.Test(req, -1)
		require.NoError(t, err)
		t.Cleanup(func() { _ = resp.Body.Close() })
		return resp
	}

	r := get("k")
	require.Equal(t, http.StatusOK, r.StatusCode)
	require.Equal(t, "2", r.Header.Get("RateLimit-Limit"))
	require.Equal(t, "1", r.Header.Get("RateLimit-Remaining"))
	require.Equal(t, "30", r.Header.Get("RateLimit-Reset"))
	require.Empty(t, r.Header.Get("Retry-After"))
	r = get("k")
	require.Equal(t, "0", r.Header.Get("RateLimit-Remaining"))
	require.Equal(t, "60", r.Header.Get("RateLimit-Reset"))

	r = get("k")
	require.Equal(t, http.StatusTooManyRequests, r.StatusCode)
	require.Equal(t, "30", r.Header.Get("Retry-After"))
	require.Equal(t, "0", r.Header.Get("RateLimit-Remaining"))
	var body map[string]any
	require.NoError(t, json.NewDecoder(r.Body).Decode(&body))
	msg := body["error"] // a plain app's JSON errors; under /api it is a problem's "detail"
	if msg == nil {
		msg = body["detail"]
	}
	require.Equal(t, "rate limit exceeded: 2 requests per minute per API key", msg)

	clock.Advance(29*time.Second + 500*time.Millisecond)
	r = get("k")
	require.Equal(t, http.StatusTooManyRequests, r.StatusCode)
	require.Equal(t, "1", r.Header.Get("Retry-After"), "rounded up, at least 1")
	clock.Advance(500 * time.Millisecond)
	require.Equal(t, http.StatusOK, get("k").StatusCode)

	// No key: not limited, no headers.
	for range 5 {
		r = get("")
		require.Equal(t, http.StatusOK, r.StatusCode)
		require.Empty(t, r.Header.Get("RateLimit-Limit"))
	}

	// A nil limiter (CODEX32_API_RATE_LIMIT=0) passes everything.
	off := New(Options{})
	off.Get("/api/v1/x", RateLimit(nil, keyOf), func(c *fiber.Ctx) error { return c.SendString("ok") })
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/api/v1/x", nil)
	req.Header.Set("X-Test-Key", "k")
	resp, err := off.Test(req, -1)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Empty(t, resp.Header.Get("RateLimit-Limit"))
}

func TestCeilSeconds(t *testing.T) {
	t.Parallel()
	require.Equal(t, 1, ceilSeconds(0, 1))
	require.Equal(t, 0, ceilSeconds(0, 0))
	require.Equal(t, 1, ceilSeconds(time.Nanosecond, 1))
	require.Equal(t, 1, ceilSeconds(time.Second, 1))
	require.Equal(t, 2, ceilSeconds(time.Second+time.Nanosecond, 1))
}

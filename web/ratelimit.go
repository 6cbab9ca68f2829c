package web

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// RateLimiter allows each key (an API key id) Limit requests per Period, in
// bursts of up to Limit, refilling steadily. It is GCRA (the generic cell
// rate algorithm, a token bucket stored as one time per key), in memory: the
// limit is per process, so N replicas together allow N times the rate.
//
// A key whose bucket has refilled is indistinguishable from a new one, so
// such keys are dropped (at most once per Period, or when the table is full):
// memory is bounded by the keys active within one Period.
//
// A nil *RateLimiter allows everything (the limit is off).
type RateLimiter struct {
	limit    int
	period   time.Duration
	interval time.Duration // Period / Limit: the cost of one request
	now      func() time.Time
	maxKeys  int

	mu        sync.Mutex
	tat       map[string]time.Time // theoretical arrival time: the bucket is full again then
	lastSweep time.Time
}

// RateLimitMaxKeys bounds how many keys a RateLimiter tracks at once.
const RateLimitMaxKeys = 100_000

// NewRateLimiter returns a limiter of limit requests per period per key, or
// nil (no limit) when limit is 0. now is the clock (nil: time.Now).
func NewRateLimiter(limit int, period time.Duration, now func() time.Time) *RateLimiter {
	if limit <= 0 || period <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	interval := period / time.Duration(limit)
	if interval <= 0 {
		interval = 1
	}
	return &RateLimiter{limit: limit, period: period, interval: interval, now: now, maxKeys: RateLimitMaxKeys,
		tat: map[string]time.Time{}, lastSweep: now()}
}

// RateDecision is the outcome of one request.
type RateDecision struct {
	Allowed bool
	// Limit is the burst size (requests per period).
	Limit int
	// Remaining is how many more requests would be allowed right now.
	Remaining int
	// RetryAfter is how long until the next request is allowed (0 when
	// Allowed).
	RetryAfter time.Duration
	// Reset is how long until the bucket is full again.
	Reset time.Duration
}

// Allow takes one request for key, if there is room.
func (l *RateLimiter) Allow(key string) RateDecision {
	if l == nil {
		return RateDecision{Allowed: true}
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= l.period {
		l.sweep(now)
	}
	tat, ok := l.tat[key]
	if !ok || tat.Before(now) {
		tat = now
	}
	next := tat.Add(l.interval)
	// Allowed while the debt after this request fits in one period.
	if debt := next.Sub(now); debt > l.period {
		return RateDecision{Limit: l.limit, Remaining: 0, RetryAfter: debt - l.period, Reset: tat.Sub(now)}
	}
	if !ok && len(l.tat) >= l.maxKeys {
		if l.sweep(now); len(l.tat) >= l.maxKeys {
			l.evictOne()
		}
	}
	l.tat[key] = next
	debt := next.Sub(now)
	return RateDecision{Allowed: true, Limit: l.limit, Remaining: int((l.period - debt) / l.interval), Reset: debt}
}

// sweep drops keys whose buckets are full again. Allow calls it once a
// period, and when a new key finds the table full. Callers hold mu.
func (l *RateLimiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, t := range l.tat {
		if !t.After(now) {
			delete(l.tat, k)
		}
	}
}

// evictOne drops the key closest to a full bucket, when even a sweep leaves
// the table full; that key loses at most the little debt it had.
func (l *RateLimiter) evictOne() {
	var victim string
	var oldest time.Time
	for k, t := range l.tat {
		if victim == "" || t.Before(oldest) {
			victim, oldest = k, t
		}
	}
	delete(l.tat, victim)
}

// Len is how many keys are tracked.
func (l *RateLimiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tat)
}

// String describes the limit, e.g. "600 requests per minute".
func (l *RateLimiter) String() string {
	if l == nil {
		return "no limit"
	}
	return fmt.Sprintf("%d requests per %s", l.limit, periodName(l.period))
}

func periodName(d time.Duration) string {
	switch d {
	case time.Second:
		return "second"
	case time.Minute:
		return "minute"
	case time.Hour:
		return "hour"
	}
	return d.String()
}

// RateLimit limits requests by keyOf(c) (requests with an empty key pass
// unlimited) and answers the RateLimit-Limit, RateLimit-Remaining and
// RateLimit-Reset headers (draft-ietf-httpapi-ratelimit-headers; seconds).
// Over the limit it answers 429 with Retry-After. l nil: no limit, no
// headers. Mount it after the authentication that keyOf reads.
func RateLimit(l *RateLimiter, keyOf func(*fiber.Ctx) string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if l == nil {
			return c.Next()
		}
		key := keyOf(c)
		if key == "" {
			return c.Next()
		}
		d := l.Allow(key)
		c.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
		c.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
		c.Set("RateLimit-Reset", strconv.Itoa(ceilSeconds(d.Reset, 0)))
		if !d.Allowed {
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(ceilSeconds(d.RetryAfter, 1)))
			return fiber.NewError(fiber.StatusTooManyRequests, "rate limit exceeded: "+l.String()+" per API key")
		}
		return c.Next()
	}
}

// APIKeyID is a RateLimit key: the id of the request's API key ("" when the
// request has none).
func APIKeyID(c *fiber.Ctx) string {
	if k := CurrentAPIKey(c); k != nil {
		return k.ID.String()
	}
	return ""
}

// ceilSeconds rounds d up to whole seconds, and to at least floor.
func ceilSeconds(d time.Duration, floor int) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, floor)
}

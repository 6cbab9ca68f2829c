package handlers

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/models"
)

// apiCacheMaxEntries bounds each cache; when full it starts over.
const apiCacheMaxEntries = 10_000

// apiCache keeps, for Deps.APICacheTTL, what /api reads on every request:
// the API key and user behind a bearer token, and encoded pages of
// GET /api/v1/bots. Entries are tagged with a generation:
//
//   - the key/user entries are dropped when this process changes a user
//     or revokes a key (invalidateAuth);
//   - the bot list pages are dropped by every request that may write
//     (any method but GET/HEAD/OPTIONS, on pages or API) once it is done
//     (invalidateLists), so whoever changes something through this process
//     reads it back at once.
//
// Changes made by other processes (another replica, a worker updating run
// statistics, the CLI) show within the TTL. A zero TTL turns it all off.
type apiCache struct {
	ttl time.Duration

	authGen atomic.Uint64
	listGen atomic.Uint64

	mu    sync.Mutex
	auth  map[string]authEntry
	lists map[string]listEntry
}

type authEntry struct {
	key  models.APIKey
	user models.User
	at   time.Time
	gen  uint64
}

type listEntry struct {
	body []byte
	at   time.Time
	gen  uint64
}

func newAPICache(ttl time.Duration) *apiCache {
	return &apiCache{ttl: ttl, auth: map[string]authEntry{}, lists: map[string]listEntry{}}
}

func (a *apiCache) enabled() bool { return a != nil && a.ttl > 0 }

// authGeneration is read before loading a key from the database, and
// passed to putAuth, so a load that raced with an invalidation is not kept.
func (a *apiCache) authGeneration() uint64 {
	if !a.enabled() {
		return 0
	}
	return a.authGen.Load()
}

// getAuth returns copies of the cached key and user for a key hash.
func (a *apiCache) getAuth(hash string, now time.Time) (*models.APIKey, *models.User, bool) {
	if !a.enabled() {
		return nil, nil, false
	}
	a.mu.Lock()
	e, ok := a.auth[hash]
	a.mu.Unlock()
	if !ok || e.gen != a.authGen.Load() || now.Sub(e.at) >= a.ttl || now.Before(e.at) {
		return nil, nil, false
	}
	k, u := e.key, e.user
	return &k, &u, true
}

func (a *apiCache) putAuth(hash string, gen uint64, k *models.APIKey, u *models.User, now time.Time) {
	if !a.enabled() {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.auth) >= apiCacheMaxEntries {
		a.auth = map[string]authEntry{}
	}
	a.auth[hash] = authEntry{key: *k, user: *u, at: now, gen: gen}
}

// invalidateAuth forgets every cached key and user.
func (a *apiCache) invalidateAuth() {
	if a.enabled() {
		a.authGen.Add(1)
	}
}

func (a *apiCache) listGeneration() uint64 {
	if !a.enabled() {
		return 0
	}
	return a.listGen.Load()
}

func (a *apiCache) getList(key string, now time.Time) ([]byte, bool) {
	if !a.enabled() {
		return nil, false
	}
	a.mu.Lock()
	e, ok := a.lists[key]
	a.mu.Unlock()
	if !ok || e.gen != a.listGen.Load() || now.Sub(e.at) >= a.ttl || now.Before(e.at) {
		return nil, false
	}
	return e.body, true
}

func (a *apiCache) putList(key string, gen uint64, body []byte, now time.Time) {
	if !a.enabled() {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.lists) >= apiCacheMaxEntries {
		a.lists = map[string]listEntry{}
	}
	a.lists[key] = listEntry{body: body, at: now, gen: gen}
}

// invalidateLists forgets every cached list page.
func (a *apiCache) invalidateLists() {
	if a.enabled() {
		a.listGen.Add(1)
	}
}

// invalidateListsAfterWrites is app-wide middleware: once a request that
// may have changed something is answered, cached list pages are dropped.
func (a *apiCache) invalidateListsAfterWrites(c *fiber.Ctx) error {
	err := c.Next()
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
	default:
		a.invalidateLists()
	}
	return err
}

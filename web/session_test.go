package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

func newStore(t *testing.T, db *models.DB, keys ...string) *web.SessionStore {
	t.Helper()
	bk := make([][]byte, len(keys))
	for i, k := range keys {
		bk[i] = []byte(k)
	}
	s, err := web.NewSessionStore(web.SessionConfig{DB: db, Keys: bk, Idle: time.Hour, MaxAge: 24 * time.Hour})
	require.NoError(t, err)
	return s
}

const (
	oldKey = "old-session-key-0123456789abcdef0123456789"
	newKey = "new-session-key-0123456789abcdef0123456789"
)

// save stores a session with a value under store s and returns its cookie.
func save(t *testing.T, s *web.SessionStore) *http.Cookie {
	t.Helper()
	r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil)
	sess, err := s.New(r, s.CookieName())
	require.NoError(t, err)
	require.True(t, sess.IsNew)
	sess.Values["hello"] = "world"
	w := httptest.NewRecorder()
	require.NoError(t, s.Save(r, w, sess))
	cookies := w.Result().Cookies()
	require.Len(t, cookies, 1)
	c := cookies[0]
	require.True(t, c.HttpOnly)
	require.Equal(t, http.SameSiteLaxMode, c.SameSite)
	require.Equal(t, "/", c.Path)
	return c
}

func load(t *testing.T, s *web.SessionStore, c *http.Cookie) (string, bool) {
	t.Helper()
	r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil)
	r.AddCookie(c)
	sess, err := s.New(r, s.CookieName())
	require.NoError(t, err)
	v, _ := sess.Values["hello"].(string)
	return v, !sess.IsNew
}

func TestSessionKeyRotation(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	c := save(t, newStore(t, db, oldKey))

	v, ok := load(t, newStore(t, db, newKey, oldKey), c)
	require.True(t, ok, "a cookie signed with the previous key still verifies after rotation")
	require.Equal(t, "world", v)

	_, ok = load(t, newStore(t, db, newKey), c)
	require.False(t, ok, "once the old key is retired its cookies are refused")

	// New cookies are signed with the newest key.
	c2 := save(t, newStore(t, db, newKey, oldKey))
	_, ok = load(t, newStore(t, db, newKey), c2)
	require.True(t, ok)
}

func TestSessionCookieIsOnlyASignedID(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	s := newStore(t, db, oldKey)
	c := save(t, s)
	require.NotContains(t, c.Value, "world", "data stays on the server")

	tampered := *c //nolint:gosec // G124: a copy of the store's cookie, sent back as a request
	tampered.Value = c.Value[:len(c.Value)-2] + "AA"
	_, ok := load(t, s, &tampered)
	require.False(t, ok, "a tampered cookie is refused")

	// The row is keyed by a hash of the id, never the id itself.
	var rows []models.Session
	require.NoError(t, db.Bun.NewSelect().Model(&rows).Scan(context.Background()))
	require.Len(t, rows, 1)
	require.Len(t, rows[0].IDHash, 64)
}

// A request that loaded a session before it was ended (sign-out elsewhere,
// "end session", a password change) must not bring it back when it saves.
func TestEndedSessionsAreNotResurrected(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	s := newStore(t, db, oldKey)
	c := save(t, s)

	r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil)
	r.AddCookie(c)
	inFlight, err := s.New(r, s.CookieName())
	require.NoError(t, err)
	require.False(t, inFlight.IsNew)

	_, err = db.Bun.NewDelete().Model((*models.Session)(nil)).Where("1 = 1").Exec(context.Background()) // ended meanwhile
	require.NoError(t, err)

	inFlight.Values["flash"] = "x"
	w := httptest.NewRecorder()
	require.NoError(t, s.Save(r, w, inFlight))
	n, err := db.Bun.NewSelect().Model((*models.Session)(nil)).Count(context.Background())
	require.NoError(t, err)
	require.Zero(t, n, "the row stays deleted")
	require.Len(t, w.Result().Cookies(), 1)
	require.Negative(t, w.Result().Cookies()[0].MaxAge, "and the cookie is cleared")
	_, ok := load(t, s, c)
	require.False(t, ok, "the old cookie stays dead")
}

package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/codex32/codex32/models"
)

// SessionConfig configures the server-side session store.
type SessionConfig struct {
	DB     *models.DB
	Keys   [][]byte // signing keys, newest first; older ones still verify
	Secure bool     // served over https: Secure cookie with the __Host- prefix
	Idle   time.Duration
	MaxAge time.Duration // absolute lifetime of a signed-in session
	// AnonTTL is the lifetime of a session that never signs in (it only
	// carries a CSRF token and flashes). Default 2h.
	AnonTTL time.Duration
	Log     *slog.Logger
	Now     func() time.Time // for tests; default time.Now
}

// SessionStore is a gorilla/sessions Store that keeps sessions in the
// database: the cookie carries only a signed random id, the row is keyed by
// its SHA-256, so logout, disabling a user or "end session" take effect at
// once and a replayed cookie finds nothing.
type SessionStore struct {
	cfg    SessionConfig
	codecs []securecookie.Codec
	name   string
}

var _ sessions.Store = (*SessionStore)(nil)

// Keys of session values that are metadata, not data.
const (
	keyUserID  = "user_id"
	keyCreated = "_created"
	keyExpires = "_expires"
	keySeen    = "_seen"
)

// NewSessionStore builds the store.
func NewSessionStore(cfg SessionConfig) (*SessionStore, error) {
	if len(cfg.Keys) == 0 {
		return nil, errors.New("sessions: no signing key")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AnonTTL == 0 {
		cfg.AnonTTL = 2 * time.Hour
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	pairs := make([][]byte, 0, 2*len(cfg.Keys))
	for _, k := range cfg.Keys {
		pairs = append(pairs, k, nil) // sign only: the value is a random id, nothing to hide
	}
	codecs := securecookie.CodecsFromPairs(pairs...)
	for _, c := range codecs {
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			sc.MaxAge(int(cfg.MaxAge.Seconds()) + 60)
		}
	}
	name := "codex32_session"
	if cfg.Secure {
		name = "__Host-codex32_session"
	}
	return &SessionStore{cfg: cfg, codecs: codecs, name: name}, nil
}

// CookieName is the session cookie's name.
func (s *SessionStore) CookieName() string { return s.name }

func (s *SessionStore) options() *sessions.Options {
	// Set explicitly: gorilla's defaults are Secure with SameSite=None.
	return &sessions.Options{Path: "/", HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteLaxMode}
}

// Get returns the request's session (cached per request by gorilla's registry).
func (s *SessionStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New loads the session named by the request's cookie, or starts a new one
// when there is no cookie, it does not verify, or the session has ended.
func (s *SessionStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	sess.Options = s.options()
	sess.IsNew = true
	c, err := r.Cookie(name)
	if err != nil || c.Value == "" {
		return sess, nil
	}
	var id string
	if err := securecookie.DecodeMulti(name, c.Value, &id, s.codecs...); err != nil {
		return sess, nil // forged, expired or signed with a retired key
	}
	ctx := r.Context()
	row, err := models.SessionByHash(ctx, s.cfg.DB.Bun, models.HashSessionID(id))
	if errors.Is(err, models.ErrNotFound) {
		return sess, nil
	} else if err != nil {
		return sess, err
	}
	now := s.cfg.Now()
	if !now.Before(row.ExpiresAt) || now.Sub(row.LastSeenAt) > s.cfg.Idle {
		if err := models.DeleteSession(ctx, s.cfg.DB.Bun, row.IDHash); err != nil {
			s.cfg.Log.Warn("sessions: delete expired", "err", err)
		}
		return sess, nil
	}
	values := map[string]string{}
	if len(row.Data) > 0 {
		if err := json.Unmarshal(row.Data, &values); err != nil {
			return sess, nil
		}
	}
	for k, v := range values {
		sess.Values[k] = v
	}
	if row.UserID != nil {
		sess.Values[keyUserID] = row.UserID.String()
	}
	sess.Values[keyCreated] = row.CreatedAt.Format(time.RFC3339Nano)
	sess.Values[keyExpires] = row.ExpiresAt.Format(time.RFC3339Nano)
	sess.Values[keySeen] = row.LastSeenAt.Format(time.RFC3339Nano)
	sess.ID = id
	sess.IsNew = false
	return sess, nil
}

// Save writes the session row and the cookie, or, when Options.MaxAge < 0,
// deletes the row and expires the cookie.
func (s *SessionStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	ctx := r.Context()
	if sess.Options != nil && sess.Options.MaxAge < 0 {
		if sess.ID != "" {
			if err := models.DeleteSession(ctx, s.cfg.DB.Bun, models.HashSessionID(sess.ID)); err != nil {
				return err
			}
		}
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", &sessions.Options{Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteLaxMode}))
		return nil
	}
	now := s.cfg.Now().UTC()
	fresh := sess.ID == ""
	if fresh {
		id, err := randomToken(32)
		if err != nil {
			return err
		}
		sess.ID = id
		delete(sess.Values, keyCreated)
		delete(sess.Values, keyExpires)
	}
	row := &models.Session{IDHash: models.HashSessionID(sess.ID), LastSeenAt: now, IP: requestIP(r), UserAgent: r.UserAgent()}
	data := map[string]string{}
	for k, v := range sess.Values {
		ks, ok := k.(string)
		if !ok {
			return fmt.Errorf("sessions: key %v is not a string", k)
		}
		vs, ok := v.(string)
		if !ok {
			return fmt.Errorf("sessions: value of %s is not a string", ks)
		}
		switch ks {
		case keyUserID:
			uid, err := uuid.Parse(vs)
			if err != nil {
				return fmt.Errorf("sessions: bad user id: %w", err)
			}
			row.UserID = &uid
		case keyCreated, keyExpires, keySeen:
		default:
			data[ks] = vs
		}
	}
	row.CreatedAt = parseTimeOr(sess.Values[keyCreated], now)
	ttl := s.cfg.AnonTTL
	if row.UserID != nil {
		ttl = s.cfg.MaxAge
	}
	row.ExpiresAt = parseTimeOr(sess.Values[keyExpires], now.Add(ttl))
	if row.UserID != nil && row.ExpiresAt.After(row.CreatedAt.Add(s.cfg.MaxAge)) {
		row.ExpiresAt = row.CreatedAt.Add(s.cfg.MaxAge)
	}
	var err error
	if row.Data, err = json.Marshal(data); err != nil {
		return fmt.Errorf("sessions: encode: %w", err)
	}
	if fresh {
		if err := models.InsertSession(ctx, s.cfg.DB.Bun, row); err != nil {
			return err
		}
	} else {
		ok, err := models.UpdateSession(ctx, s.cfg.DB.Bun, row)
		if err != nil {
			return err
		}
		if !ok {
			// Ended while this request ran: never resurrect it.
			http.SetCookie(w, sessions.NewCookie(sess.Name(), "", &sessions.Options{Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteLaxMode}))
			return nil
		}
	}
	sess.Values[keyCreated] = row.CreatedAt.Format(time.RFC3339Nano)
	sess.Values[keyExpires] = row.ExpiresAt.Format(time.RFC3339Nano)
	sess.Values[keySeen] = row.LastSeenAt.Format(time.RFC3339Nano)
	encoded, err := securecookie.EncodeMulti(sess.Name(), sess.ID, s.codecs[0])
	if err != nil {
		return fmt.Errorf("sessions: sign cookie: %w", err)
	}
	opts := *s.options()
	if row.UserID != nil {
		opts.MaxAge = int(time.Until(row.ExpiresAt).Seconds())
	}
	http.SetCookie(w, sessions.NewCookie(sess.Name(), encoded, &opts))
	return nil
}

// touch records activity at most once a minute.
func (s *SessionStore) touch(ctx context.Context, sess *sessions.Session) {
	if sess.IsNew || sess.ID == "" {
		return
	}
	now := s.cfg.Now()
	if seen := parseTimeOr(sess.Values[keySeen], now); now.Sub(seen) < time.Minute {
		return
	}
	if err := models.TouchSession(ctx, s.cfg.DB.Bun, models.HashSessionID(sess.ID), now); err != nil {
		s.cfg.Log.Warn("sessions: touch", "err", err)
		return
	}
	sess.Values[keySeen] = now.UTC().Format(time.RFC3339Nano)
}

func parseTimeOr(v any, def time.Time) time.Time {
	if s, ok := v.(string); ok && s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UTC()
		}
	}
	return def
}

// randomToken returns n random bytes, URL-safe base64.
func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// requestIP is the client address the session middleware put in RemoteAddr.
func requestIP(r *http.Request) string {
	if i := strings.LastIndexByte(r.RemoteAddr, ':'); i > 0 && !strings.HasSuffix(r.RemoteAddr, "]") {
		return strings.Trim(r.RemoteAddr[:i], "[]")
	}
	return strings.Trim(r.RemoteAddr, "[]")
}

func hashID(id string) string { return models.HashSessionID(id) }

func deleteSessionRow(rs *RequestSession) error {
	return models.DeleteSession(rs.req.Context(), rs.store.cfg.DB.Bun, hashID(rs.sess.ID))
}

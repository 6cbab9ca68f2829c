package web

import (
	"encoding/json"
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/gorilla/sessions"

	"github.com/codex32/codex32/views"
)

const localSession = "codex32.session"

// RequestSession is the current request's session with change tracking:
// it is saved (row and cookie) after the handler only if it changed.
type RequestSession struct {
	store *SessionStore
	sess  *sessions.Session
	req   *http.Request
	dirty bool
}

// Middleware loads the session for every request and saves it afterwards
// when it changed. gorilla/sessions speaks net/http, so it gets a minimal
// request carrying the cookie, the client address and the user agent.
func (s *SessionStore) Middleware(clientIP func(*fiber.Ctx) string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		r, err := http.NewRequestWithContext(c.UserContext(), http.MethodGet, "/", nil)
		if err != nil {
			return err
		}
		r.Header.Set("Cookie", c.Get(fiber.HeaderCookie))
		r.Header.Set("User-Agent", c.Get(fiber.HeaderUserAgent))
		r.RemoteAddr = clientIP(c) + ":0"
		sess, err := s.New(r, s.name)
		if err != nil {
			return err
		}
		s.touch(c.UserContext(), sess)
		rs := &RequestSession{store: s, sess: sess, req: r}
		c.Locals(localSession, rs)
		if err := c.Next(); err != nil {
			// Render the error first (it may add a flash or need a CSRF token), then save.
			if herr := c.App().ErrorHandler(c, err); herr != nil {
				return herr
			}
		}
		return rs.saveIfDirty(c)
	}
}

func (rs *RequestSession) saveIfDirty(c *fiber.Ctx) error {
	if !rs.dirty {
		return nil
	}
	w := &cookieWriter{h: http.Header{}}
	if err := rs.store.Save(rs.req, w, rs.sess); err != nil {
		return err
	}
	for _, v := range w.h.Values("Set-Cookie") {
		c.Response().Header.Add(fiber.HeaderSetCookie, v)
	}
	rs.dirty = false
	return nil
}

// cookieWriter collects the headers gorilla writes.
type cookieWriter struct{ h http.Header }

func (w *cookieWriter) Header() http.Header         { return w.h }
func (w *cookieWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *cookieWriter) WriteHeader(int)             {}

// Session returns the request's session (nil on routes without sessions, like /api).
func Session(c *fiber.Ctx) *RequestSession {
	rs, _ := c.Locals(localSession).(*RequestSession)
	return rs
}

// Get returns a session value ("" when unset).
func (rs *RequestSession) Get(key string) string {
	v, _ := rs.sess.Values[key].(string)
	return v
}

// Set stores a session value.
func (rs *RequestSession) Set(key, value string) {
	if rs.Get(key) == value {
		if _, ok := rs.sess.Values[key]; ok {
			return
		}
	}
	rs.sess.Values[key] = value
	rs.dirty = true
}

// Delete removes a session value.
func (rs *RequestSession) Delete(key string) {
	if _, ok := rs.sess.Values[key]; ok {
		delete(rs.sess.Values, key)
		rs.dirty = true
	}
}

// UserID is the signed-in user's id ("" when anonymous).
func (rs *RequestSession) UserID() string { return rs.Get(keyUserID) }

// SignIn binds the session to a user under a fresh session id (the old row
// is deleted, so an id planted before sign-in is worthless afterwards) and
// a fresh CSRF token, keeping nothing else but pending flashes.
func (rs *RequestSession) SignIn(userID string) error {
	flashes := rs.Get(keyFlashes)
	if err := rs.discardRow(); err != nil {
		return err
	}
	rs.sess.Values = map[any]any{keyUserID: userID}
	if flashes != "" {
		rs.sess.Values[keyFlashes] = flashes
	}
	rs.dirty = true
	return nil
}

// SignOut ends the session: its row is deleted and a new anonymous session
// (with a new id) takes its place, so a flash can still be shown.
func (rs *RequestSession) SignOut() error {
	if err := rs.discardRow(); err != nil {
		return err
	}
	rs.sess.Values = map[any]any{}
	rs.dirty = true
	return nil
}

func (rs *RequestSession) discardRow() error {
	if rs.sess.ID != "" {
		if err := deleteSessionRow(rs); err != nil {
			return err
		}
	}
	rs.sess.ID = ""
	rs.sess.IsNew = true
	return nil
}

// IDHash is the stored hash of this session's id ("" before it is saved).
func (rs *RequestSession) IDHash() string {
	if rs.sess.ID == "" {
		return ""
	}
	return hashID(rs.sess.ID)
}

const keyFlashes = "_flashes"

// AddFlash queues a message for the next page shown.
func (rs *RequestSession) AddFlash(kind views.FlashKind, msg string) {
	var fs []views.Flash
	_ = json.Unmarshal([]byte(rs.Get(keyFlashes)), &fs)
	fs = append(fs, views.Flash{Kind: kind, Message: msg})
	b, _ := json.Marshal(fs)
	rs.Set(keyFlashes, string(b))
}

// TakeFlashes returns and clears the queued messages.
func (rs *RequestSession) TakeFlashes() []views.Flash {
	raw := rs.Get(keyFlashes)
	if raw == "" {
		return nil
	}
	var fs []views.Flash
	_ = json.Unmarshal([]byte(raw), &fs)
	rs.Delete(keyFlashes)
	return fs
}

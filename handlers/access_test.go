package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

// The roles of the route × role matrix. "anonymous" is a visitor who never
// signed in; api_user accounts cannot sign in to the pages, so their column
// is a visitor whose sign-in was refused.
const (
	asAnonymous = "anonymous"
	asViewer    = "viewer"
	asUser      = "user"
	asAPIUser   = "api_user"
	asAdmin     = "admin"
)

var matrixRoles = []string{asAnonymous, asViewer, asUser, asAPIUser, asAdmin}

// statuses is the expected status code per role.
type statuses map[string]int

func want5(anonymous, viewer, user, apiUser, admin int) statuses {
	return statuses{asAnonymous: anonymous, asViewer: viewer, asUser: user, asAPIUser: apiUser, asAdmin: admin}
}

func wantAll(code int) statuses { return want5(code, code, code, code, code) }

const (
	s200 = http.StatusOK
	s201 = http.StatusCreated
	s202 = http.StatusAccepted
	s303 = http.StatusSeeOther
	s401 = http.StatusUnauthorized
	s403 = http.StatusForbidden
	s404 = http.StatusNotFound
	s409 = http.StatusConflict
	s422 = http.StatusUnprocessableEntity
)

// accessPasswordHash is TestPassword hashed once: argon2id is slow on purpose,
// and the matrix creates a fresh account per request.
var accessPasswordHash = sync.OnceValues(func() (string, error) { return models.HashPassword(testutil.TestPassword) })

// accessUser inserts an active user with role whose password is TestPassword.
func accessUser(t *testing.T, db *models.DB, role models.Role) *models.User {
	t.Helper()
	h, err := accessPasswordHash()
	require.NoError(t, err)
	name := fmt.Sprintf("%s-%s", role, uuid.NewString()[:8])
	u := &models.User{Email: name + "@example.test", Username: name, Name: "Test " + string(role), Role: role, IsActive: true, PasswordHash: &h}
	require.NoError(t, models.CreateUser(context.Background(), db.Bun, models.SystemActor("test"), u))
	return u
}

// accessKey creates an API key for u and returns the plaintext key.
func accessKey(t *testing.T, db *models.DB, u *models.User, scopes ...string) (string, *models.APIKey) {
	t.Helper()
	k := &models.APIKey{UserID: u.ID, Name: "test key", Scopes: scopes}
	plain, err := models.CreateAPIKey(context.Background(), db.Bun, models.SystemActor("test"), k)
	require.NoError(t, err)
	return plain, k
}

// accessSessionRow stores a signed-in session of u (as if from another browser)
// and returns its hash.
func accessSessionRow(t *testing.T, db *models.DB, u *models.User) string {
	t.Helper()
	now := time.Now()
	s := &models.Session{IDHash: models.HashSessionID(uuid.NewString()), UserID: &u.ID, Data: []byte("{}"),
		IP: "192.0.2.10", UserAgent: "another browser", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
	require.NoError(t, models.SaveSession(context.Background(), db.Bun, s))
	return s.IDHash
}

// accessPost posts form exactly as given (no CSRF token added) with extra headers.
func accessPost(c *testutil.Client, path string, form url.Values, header http.Header) *testutil.Response {
	req := c.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	return c.Do(req)
}

func accessGet(c *testutil.Client, path string, header http.Header) *testutil.Response {
	req := c.NewRequest(http.MethodGet, path, nil)
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	return c.Do(req)
}

// matrixEnv is one request's world: a client for the role and the records
// the request's path and form refer to.
type matrixEnv struct {
	t      *testing.T
	a      *testutil.App
	c      *testutil.Client
	role   string
	me     *models.User // the requester's account (nil for anonymous)
	target *models.User // another user: the subject of admin routes
}

// signedIn reports whether the role's client holds a signed-in session.
func (e *matrixEnv) signedIn() bool { return e.role != asAnonymous && e.role != asAPIUser }

// ownKey is a key of the requester (of the target user when there is no account).
func (e *matrixEnv) ownKey() string {
	owner := e.me
	if owner == nil {
		owner = e.target
	}
	_, k := accessKey(e.t, e.a.DB, owner, models.ScopeRead)
	return k.ID.String()
}

func (e *matrixEnv) othersKey() string {
	_, k := accessKey(e.t, e.a.DB, e.target, models.ScopeRead)
	return k.ID.String()
}

// otherSession is another session of the requester (a random hash when there is no account).
func (e *matrixEnv) otherSession() string {
	if e.me == nil {
		return models.HashSessionID(uuid.NewString())
	}
	return accessSessionRow(e.t, e.a.DB, e.me)
}

// bot creates a bot owned by owner (the target user when owner is nil),
// with two versions, archived if asked.
func (e *matrixEnv) bot(owner *models.User, archived bool) *models.Bot {
	if owner == nil {
		owner = e.target
	}
	ctx := context.Background()
	b := &models.Bot{OwnerID: owner.ID, Name: "matrix bot", Kind: models.KindHTTP, Status: models.BotActive}
	_, err := models.CreateBot(ctx, e.a.DB.Bun, models.SystemActor("test"), b, []byte(`{"url":"https://example.test/a"}`), "v1")
	require.NoError(e.t, err)
	_, err = models.CreateBotVersion(ctx, e.a.DB.Bun, models.SystemActor("test"), b.ID, 1, models.KindHTTP, []byte(`{"url":"https://example.test/b"}`), "v2")
	require.NoError(e.t, err)
	if archived {
		_, err = models.SetBotArchived(ctx, e.a.DB.Bun, models.SystemActor("test"), b.ID, true)
		require.NoError(e.t, err)
	}
	return b
}

// ownBotPath is a path under a bot of the requester (of the target when anonymous).
func ownBotPath(suffix string, archived bool) func(e *matrixEnv) string {
	return func(e *matrixEnv) string { return "/bots/" + e.bot(e.me, archived).ID.String() + suffix }
}

// othersBotPath is a path under another user's bot.
func othersBotPath(suffix string, archived bool) func(e *matrixEnv) string {
	return func(e *matrixEnv) string { return "/bots/" + e.bot(e.target, archived).ID.String() + suffix }
}

// webhook creates a webhook on a new bot of owner (the target user when
// owner is nil), disabled if asked, and returns it with its token.
func (e *matrixEnv) webhook(owner *models.User, enabled bool) (*models.Bot, *models.Webhook, string) {
	b := e.bot(owner, false)
	w := &models.Webhook{BotID: b.ID, Description: "matrix hook"}
	sec, err := models.CreateWebhook(context.Background(), e.a.DB.Bun, e.a.Secrets, models.SystemActor("test"), w, false)
	require.NoError(e.t, err)
	if !enabled {
		off := false
		_, err = models.UpdateWebhook(context.Background(), e.a.DB.Bun, models.SystemActor("test"), b.ID, w.ID, models.WebhookPatch{Enabled: &off})
		require.NoError(e.t, err)
	}
	return b, w, sec.Token
}

// hookPath is the URL of a webhook of another user's bot.
func hookPath(enabled bool) func(e *matrixEnv) string {
	return func(e *matrixEnv) string {
		_, _, token := e.webhook(e.target, enabled)
		return "/hooks/" + token
	}
}

// webhookPath is a path under a webhook of a bot of the requester (own) or
// of another user.
func webhookPath(own bool, suffix string) func(e *matrixEnv) string {
	return func(e *matrixEnv) string {
		owner := e.target
		if own {
			owner = e.me
		}
		b, w, _ := e.webhook(owner, true)
		return "/bots/" + b.ID.String() + "/webhooks/" + w.ID.String() + suffix
	}
}

// schedulePath is a path under a schedule of a bot of the requester (own)
// or of another user.
func schedulePath(own bool, suffix string) func(e *matrixEnv) string {
	return func(e *matrixEnv) string {
		owner := e.target
		if own && e.me != nil {
			owner = e.me
		}
		b := e.bot(owner, false)
		sc := &models.Schedule{BotID: b.ID, CronExpr: "0 9 * * *", TimeZone: "Europe/Oslo", Enabled: true}
		require.NoError(e.t, models.CreateSchedule(context.Background(), e.a.DB.Bun, models.SystemActor("test"), sc, time.Now()))
		return "/bots/" + b.ID.String() + "/schedules/" + sc.ID.String() + suffix
	}
}

// triggersTab is the Triggers tab of the bot a path is under.
func triggersTab(path string) string { return botPage(path) + "?tab=triggers" }

// execution creates an execution, in status st, of a bot of owner (the
// target user when owner is nil).
func (e *matrixEnv) execution(owner *models.User, st models.ExecStatus) *models.Execution {
	b := e.bot(owner, false)
	ex := &models.Execution{BotID: b.ID, VersionID: b.ActiveVersionID, Status: st, Input: []byte(`{"n":1}`), RequestedBy: &e.target.ID}
	if st.Terminal() {
		now := time.Now().UTC()
		ms := 12.5
		ex.StartedAt, ex.EndedAt, ex.DurationMS = &now, &now, &ms
	}
	require.NoError(e.t, models.CreateExecution(context.Background(), e.a.DB.Bun, ex))
	return ex
}

// ownExecPath is a path under an execution of the requester's bot.
func ownExecPath(st models.ExecStatus, suffix string) func(e *matrixEnv) string {
	return func(e *matrixEnv) string { return "/executions/" + e.execution(e.me, st).ID.String() + suffix }
}

// othersExecPath is a path under an execution of another user's bot.
func othersExecPath(st models.ExecStatus, suffix string) func(e *matrixEnv) string {
	return func(e *matrixEnv) string { return "/executions/" + e.execution(e.target, st).ID.String() + suffix }
}

// botPage is the bot page of the bot a path is under.
func botPage(path string) string {
	parts := strings.Split(path, "/")
	return "/" + parts[1] + "/" + parts[2]
}

func newMatrixEnv(t *testing.T, a *testutil.App, role string) *matrixEnv {
	t.Helper()
	e := &matrixEnv{t: t, a: a, c: a.Client(t), role: role, target: testutil.CreateUser(t, a.DB, models.RoleViewer)}
	switch role {
	case asAnonymous:
		require.Equal(t, s200, e.c.Get("/login").StatusCode) // a session and its CSRF token
	case asAPIUser:
		// The real sign-in is refused: the client stays anonymous.
		e.me = accessUser(t, a.DB, models.RoleAPIUser)
		require.Equal(t, s200, e.c.Get("/login").StatusCode)
		r := e.c.Post("/login", url.Values{"email": {e.me.Email}, "password": {testutil.TestPassword}})
		require.Equal(t, s403, r.StatusCode, r.Body)
		msg := r.Doc(t).Find(`[data-testid="form-error"]`).Text()
		require.Contains(t, msg, "This account is for programs")
		require.Contains(t, msg, "API key")
		require.Empty(t, r.Header.Get("Location"))
		require.NotEmpty(t, e.c.CSRF)
	default:
		e.me = accessUser(t, a.DB, models.Role(role))
		e.c.Login(e.me.Email, testutil.TestPassword)
		require.NotEmpty(t, e.c.CSRF)
	}
	return e
}

// routeCase is one row of the matrix: a registered route, a concrete
// request to it, and the status each role gets.
type routeCase struct {
	method, route string // exactly as registered
	variant       string // what the concrete request is, when a route has several rows
	path          func(e *matrixEnv) string
	form          func(e *matrixEnv) url.Values
	want          statuses
	// public: no h.require, so a visitor is not sent to /login.
	public bool
	// loc is the Location of a 303 that is not a redirect to sign in.
	loc string
	// locFn computes loc from the request path (for paths with ids).
	locFn func(path string) string
	// locPrefix: the Location only starts with this (a new id follows).
	locPrefix string
}

func (rc routeCase) title() string {
	s := rc.method + " " + rc.route
	if rc.variant != "" {
		s += " (" + rc.variant + ")"
	}
	return s
}

func fixedPath(p string) func(*matrixEnv) string { return func(*matrixEnv) string { return p } }

// routeCases is every route the app registers (HEAD and /static/* aside).
// TestRouteRoleMatrix fails when a registered route is missing here.
func routeCases() []routeCase {
	randomID := func(*matrixEnv) string { return uuid.NewString() }
	targetPath := func(suffix string) func(e *matrixEnv) string {
		return func(e *matrixEnv) string { return "/admin/users/" + e.target.ID.String() + suffix }
	}
	randomUserPath := func(suffix string) func(e *matrixEnv) string {
		return func(*matrixEnv) string { return "/admin/users/" + uuid.NewString() + suffix }
	}
	const newPassword = "Lighthouse-Quantum-Zebra-7193"
	cases := []routeCase{
		// Probes and the API: no session at all.
		{method: "GET", route: "/healthz", public: true, want: wantAll(s200)},
		{method: "GET", route: "/readyz", public: true, want: wantAll(s200)},
		{method: "GET", route: "/api/docs", public: true, want: wantAll(s200)},
		{method: "GET", route: "/api/v1/openapi.json", public: true, want: wantAll(s200)},

		// Inbound webhooks: no session; the token is the credential, and an
		// unknown or disabled one is a plain 404.
		{method: "POST", route: "/hooks/:token", variant: "valid token", path: hookPath(true), public: true, want: wantAll(s202),
			form: func(*matrixEnv) url.Values { return url.Values{"n": {"1"}} }},
		{method: "POST", route: "/hooks/:token", variant: "unknown token", path: fixedPath("/hooks/c32wh_" + strings.Repeat("a", 32)), public: true, want: wantAll(s404)},
		{method: "POST", route: "/hooks/:token", variant: "malformed token", path: fixedPath("/hooks/not-a-token"), public: true, want: wantAll(s404)},
		{method: "POST", route: "/hooks/:token", variant: "disabled webhook", path: hookPath(false), public: true, want: wantAll(s404)},

		// First run is over (testutil.NewApp marks setup done): /setup is gone.
		{method: "GET", route: "/setup", public: true, want: wantAll(s404)},
		{method: "POST", route: "/setup", public: true, want: wantAll(s404), form: func(*matrixEnv) url.Values {
			return url.Values{"email": {"second-admin@example.test"}, "name": {"Second"}, "password": {newPassword}}
		}},

		// Signing in and out.
		{method: "GET", route: "/login", public: true, want: want5(s200, s303, s303, s200, s303), loc: "/"},
		{method: "POST", route: "/login", variant: "valid credentials of another user", public: true, want: wantAll(s303), loc: "/",
			form: func(e *matrixEnv) url.Values {
				u := accessUser(e.t, e.a.DB, models.RoleViewer)
				return url.Values{"email": {u.Email}, "password": {testutil.TestPassword}}
			}},
		{method: "POST", route: "/logout", public: true, want: wantAll(s303), loc: "/login"},
		{method: "GET", route: "/auth/:provider/login", variant: "no SSO configured", path: fixedPath("/auth/google/login"), public: true, want: wantAll(s404)},
		{method: "GET", route: "/auth/:provider/callback", variant: "no SSO configured", path: fixedPath("/auth/google/callback?code=c&state=s"), public: true, want: wantAll(s404)},

		// Pages every signed-in role may use.
		{method: "GET", route: "/", want: want5(s303, s200, s200, s303, s200)},
		{method: "GET", route: "/settings/api-keys", want: want5(s303, s200, s200, s303, s200)},
		{method: "POST", route: "/settings/api-keys", variant: "valid", want: want5(s303, s201, s201, s303, s201),
			form: func(*matrixEnv) url.Values {
				return url.Values{"name": {"ci"}, "days": {"30"}, "scopes": {models.ScopeRead}}
			}},
		{method: "POST", route: "/settings/api-keys", variant: "invalid: no name, 0 days", want: want5(s303, s422, s422, s303, s422),
			form: func(*matrixEnv) url.Values {
				return url.Values{"name": {""}, "days": {"0"}, "scopes": {models.ScopeRead}}
			}},
		{method: "POST", route: "/settings/api-keys/:id/revoke", variant: "own key", want: wantAll(s303), loc: "/settings/api-keys",
			path: func(e *matrixEnv) string { return "/settings/api-keys/" + e.ownKey() + "/revoke" }},
		{method: "POST", route: "/settings/api-keys/:id/revoke", variant: "another user's key is not found", want: want5(s303, s404, s404, s303, s404),
			path: func(e *matrixEnv) string { return "/settings/api-keys/" + e.othersKey() + "/revoke" }},
		{method: "POST", route: "/settings/api-keys/:id/revoke", variant: "unknown id", want: want5(s303, s404, s404, s303, s404),
			path: func(e *matrixEnv) string { return "/settings/api-keys/" + randomID(e) + "/revoke" }},
		{method: "POST", route: "/settings/api-keys/:id/revoke", variant: "malformed id", want: want5(s303, s404, s404, s303, s404),
			path: fixedPath("/settings/api-keys/not-a-uuid/revoke")},
		{method: "GET", route: "/profile", want: want5(s303, s200, s200, s303, s200)},
		{method: "POST", route: "/profile/password", variant: "valid", want: wantAll(s303), loc: "/profile",
			form: func(*matrixEnv) url.Values {
				return url.Values{"current_password": {testutil.TestPassword}, "new_password": {newPassword}}
			}},
		{method: "POST", route: "/profile/password", variant: "wrong current password", want: want5(s303, s422, s422, s303, s422),
			form: func(*matrixEnv) url.Values {
				return url.Values{"current_password": {"not my password"}, "new_password": {newPassword}}
			}},
		{method: "POST", route: "/profile/sessions/end-others", want: wantAll(s303), loc: "/profile"},
		{method: "POST", route: "/profile/sessions/:hash/end", variant: "another of my sessions", want: wantAll(s303), loc: "/profile",
			path: func(e *matrixEnv) string { return "/profile/sessions/" + e.otherSession() + "/end" }},
		{method: "POST", route: "/profile/sessions/:hash/end", variant: "unknown session", want: want5(s303, s404, s404, s303, s404),
			path: func(*matrixEnv) string { return "/profile/sessions/" + models.HashSessionID(uuid.NewString()) + "/end" }},

		// Bots: everyone signed in reads; users create and change their own; admins change any.
		{method: "GET", route: "/bots", want: want5(s303, s200, s200, s303, s200)},
		{method: "GET", route: "/bots/new", want: want5(s303, s403, s200, s303, s200)},
		{method: "POST", route: "/bots", variant: "valid", want: want5(s303, s403, s303, s303, s303), locPrefix: "/bots/",
			form: func(*matrixEnv) url.Values {
				return url.Values{"name": {"new bot"}, "kind": {"http"}, "status": {"active"}, "config": {`{"url":"https://example.test"}`}}
			}},
		{method: "POST", route: "/bots", variant: "invalid config", want: want5(s303, s403, s422, s303, s422),
			form: func(*matrixEnv) url.Values {
				return url.Values{"name": {"new bot"}, "kind": {"http"}, "status": {"active"}, "config": {`{"url":1}`}}
			}},
		{method: "GET", route: "/bots/:id", variant: "another user's bot", path: othersBotPath("", false), want: want5(s303, s200, s200, s303, s200)},
		{method: "GET", route: "/bots/:id", variant: "unknown bot", path: func(e *matrixEnv) string { return "/bots/" + randomID(e) }, want: want5(s303, s404, s404, s303, s404)},
		{method: "GET", route: "/bots/:id/edit", variant: "own bot", path: ownBotPath("/edit", false), want: want5(s303, s403, s200, s303, s200)},
		{method: "GET", route: "/bots/:id/edit", variant: "another user's bot", path: othersBotPath("/edit", false), want: want5(s303, s403, s403, s303, s200)},
		{method: "POST", route: "/bots/:id", variant: "own bot, new config", path: ownBotPath("", false), want: want5(s303, s403, s303, s303, s303), locFn: botPage,
			form: func(*matrixEnv) url.Values {
				return url.Values{"name": {"matrix bot"}, "kind": {"http"}, "status": {"active"}, "base": {"2"}, "config": {`{"url":"https://example.test/c"}`}}
			}},
		{method: "POST", route: "/bots/:id", variant: "another user's bot", path: othersBotPath("", false), want: want5(s303, s403, s403, s303, s303), locFn: botPage,
			form: func(*matrixEnv) url.Values {
				return url.Values{"name": {"matrix bot"}, "kind": {"http"}, "status": {"active"}, "base": {"2"}, "config": {`{"url":"https://example.test/c"}`}}
			}},
		{method: "GET", route: "/bots/:id/versions/:n", path: othersBotPath("/versions/1", false), want: want5(s303, s200, s200, s303, s200)},
		{method: "GET", route: "/bots/:id/versions/:n", variant: "unknown version", path: othersBotPath("/versions/9", false), want: want5(s303, s404, s404, s303, s404)},
		{method: "POST", route: "/bots/:id/versions/:n/activate", variant: "own bot", path: ownBotPath("/versions/1/activate", false), want: want5(s303, s403, s303, s303, s303),
			locFn: func(p string) string { return botPage(p) + "?tab=versions" }},
		{method: "POST", route: "/bots/:id/versions/:n/activate", variant: "another user's bot", path: othersBotPath("/versions/1/activate", false), want: want5(s303, s403, s403, s303, s303),
			locFn: func(p string) string { return botPage(p) + "?tab=versions" }},
		{method: "GET", route: "/bots/:id/diff", path: othersBotPath("/diff?from=1&to=2", false), want: want5(s303, s200, s200, s303, s200)},
		{method: "GET", route: "/bots/:id/export", path: othersBotPath("/export", false), want: want5(s303, s200, s200, s303, s200)},
		{method: "POST", route: "/bots/:id/archive", variant: "own bot", path: ownBotPath("/archive", false), want: want5(s303, s403, s303, s303, s303), locFn: botPage},
		{method: "POST", route: "/bots/:id/archive", variant: "another user's bot", path: othersBotPath("/archive", false), want: want5(s303, s403, s403, s303, s303), locFn: botPage},
		{method: "POST", route: "/bots/:id/restore", variant: "own archived bot", path: ownBotPath("/restore", true), want: want5(s303, s403, s303, s303, s303), locFn: botPage},
		{method: "POST", route: "/bots/:id/purge", variant: "archived bot", path: othersBotPath("/purge", true), want: want5(s303, s403, s403, s303, s303), loc: "/bots"},

		// Executions: everyone signed in reads; running, cancelling and
		// re-running need bots:run_own (own bots) or bots:run_any.
		{method: "POST", route: "/bots/:id/run", variant: "own bot", path: ownBotPath("/run", false), want: want5(s303, s403, s303, s303, s303), locPrefix: "/executions/",
			form: func(*matrixEnv) url.Values { return url.Values{"input": {`{"city":"Oslo"}`}} }},
		{method: "POST", route: "/bots/:id/run", variant: "another user's bot", path: othersBotPath("/run", false), want: want5(s303, s403, s403, s303, s303), locPrefix: "/executions/",
			form: func(*matrixEnv) url.Values { return url.Values{"input": {`{}`}} }},
		{method: "POST", route: "/bots/:id/run", variant: "own bot, input not JSON", path: ownBotPath("/run", false), want: want5(s303, s403, s422, s303, s422),
			form: func(*matrixEnv) url.Values { return url.Values{"input": {`{"city":`}} }},
		{method: "POST", route: "/bots/:id/run", variant: "own archived bot", path: ownBotPath("/run", true), want: want5(s303, s403, s409, s303, s409),
			form: func(*matrixEnv) url.Values { return url.Values{"input": {`{}`}} }},
		{method: "POST", route: "/bots/:id/run", variant: "unknown bot", path: func(e *matrixEnv) string { return "/bots/" + randomID(e) + "/run" }, want: want5(s303, s404, s404, s303, s404)},

		// Triggers: everyone signed in sees them; changing them needs what
		// editing the bot needs (bots:edit_own for one's own, bots:edit_any).
		{method: "GET", route: "/bots/:id", variant: "triggers tab", path: othersBotPath("?tab=triggers", false), want: want5(s303, s200, s200, s303, s200)},
		{method: "POST", route: "/bots/:id/webhooks", variant: "own bot", path: ownBotPath("/webhooks", false), want: want5(s303, s403, s201, s303, s201),
			form: func(*matrixEnv) url.Values {
				return url.Values{"description": {"CI"}, "sync_timeout_seconds": {"0"}, "signed": {"1"}}
			}},
		{method: "POST", route: "/bots/:id/webhooks", variant: "another user's bot", path: othersBotPath("/webhooks", false), want: want5(s303, s403, s403, s303, s201),
			form: func(*matrixEnv) url.Values { return url.Values{"description": {"CI"}} }},
		{method: "POST", route: "/bots/:id/webhooks", variant: "own bot, wait too long", path: ownBotPath("/webhooks", false), want: want5(s303, s403, s422, s303, s422),
			form: func(*matrixEnv) url.Values { return url.Values{"sync_timeout_seconds": {"99"}} }},
		{method: "POST", route: "/bots/:id/webhooks/:wid", variant: "own bot: disable", path: webhookPath(true, ""), want: want5(s303, s403, s303, s303, s303), locFn: triggersTab,
			form: func(*matrixEnv) url.Values { return url.Values{"enabled": {"0"}} }},
		{method: "POST", route: "/bots/:id/webhooks/:wid", variant: "another user's bot", path: webhookPath(false, ""), want: want5(s303, s403, s403, s303, s303), locFn: triggersTab,
			form: func(*matrixEnv) url.Values {
				return url.Values{"description": {"renamed"}, "sync_timeout_seconds": {"10"}}
			}},
		{method: "POST", route: "/bots/:id/webhooks/:wid", variant: "own bot, unknown webhook", want: want5(s303, s403, s404, s303, s404),
			path: func(e *matrixEnv) string { return ownBotPath("/webhooks/"+uuid.NewString(), false)(e) },
			form: func(*matrixEnv) url.Values { return url.Values{"enabled": {"0"}} }},
		{method: "POST", route: "/bots/:id/webhooks/:wid/rotate", variant: "own bot, token", path: webhookPath(true, "/rotate"), want: want5(s303, s403, s200, s303, s200),
			form: func(*matrixEnv) url.Values { return url.Values{"what": {"token"}} }},
		{method: "POST", route: "/bots/:id/webhooks/:wid/rotate", variant: "another user's bot, signing secret", path: webhookPath(false, "/rotate"), want: want5(s303, s403, s403, s303, s200),
			form: func(*matrixEnv) url.Values { return url.Values{"what": {"signing"}} }},
		{method: "POST", route: "/bots/:id/webhooks/:wid/rotate", variant: "own bot, nothing named", path: webhookPath(true, "/rotate"), want: want5(s303, s403, s422, s303, s422),
			form: func(*matrixEnv) url.Values { return url.Values{"what": {"everything"}} }},
		{method: "POST", route: "/bots/:id/webhooks/:wid/delete", variant: "own bot", path: webhookPath(true, "/delete"), want: want5(s303, s403, s303, s303, s303), locFn: triggersTab},
		{method: "POST", route: "/bots/:id/webhooks/:wid/delete", variant: "another user's bot", path: webhookPath(false, "/delete"), want: want5(s303, s403, s403, s303, s303), locFn: triggersTab},
		{method: "GET", route: "/bots/:id/schedules/preview", path: othersBotPath("/schedules/preview?cron_expr=30+2+*+*+*&time_zone=Europe/Oslo", false), want: want5(s303, s200, s200, s303, s200)},
		{method: "POST", route: "/bots/:id/schedules", variant: "own bot", path: ownBotPath("/schedules", false), want: want5(s303, s403, s303, s303, s303), locFn: triggersTab,
			form: func(*matrixEnv) url.Values {
				return url.Values{"cron_expr": {"30 2 * * *"}, "time_zone": {"Europe/Oslo"}, "input": {`{"n":1}`}, "enabled": {"1"}}
			}},
		{method: "POST", route: "/bots/:id/schedules", variant: "another user's bot", path: othersBotPath("/schedules", false), want: want5(s303, s403, s403, s303, s303), locFn: triggersTab,
			form: func(*matrixEnv) url.Values { return url.Values{"cron_expr": {"@daily"}, "time_zone": {"UTC"}} }},
		{method: "POST", route: "/bots/:id/schedules", variant: "own bot, bad cron", path: ownBotPath("/schedules", false), want: want5(s303, s403, s422, s303, s422),
			form: func(*matrixEnv) url.Values { return url.Values{"cron_expr": {"every morning"}, "time_zone": {"UTC"}} }},
		{method: "POST", route: "/bots/:id/schedules/:sid", variant: "own bot: disable", path: schedulePath(true, ""), want: want5(s303, s403, s303, s303, s303), locFn: triggersTab,
			form: func(*matrixEnv) url.Values { return url.Values{"enabled": {"0"}} }},
		{method: "POST", route: "/bots/:id/schedules/:sid", variant: "another user's bot", path: schedulePath(false, ""), want: want5(s303, s403, s403, s303, s303), locFn: triggersTab,
			form: func(*matrixEnv) url.Values { return url.Values{"cron_expr": {"0 10 * * *"}} }},
		{method: "POST", route: "/bots/:id/schedules/:sid", variant: "own bot, unknown time zone", path: schedulePath(true, ""), want: want5(s303, s403, s422, s303, s422),
			form: func(*matrixEnv) url.Values { return url.Values{"time_zone": {"Europe/Atlantis"}} }},
		{method: "POST", route: "/bots/:id/schedules/:sid", variant: "own bot, unknown schedule", want: want5(s303, s403, s404, s303, s404),
			path: func(e *matrixEnv) string { return ownBotPath("/schedules/"+uuid.NewString(), false)(e) },
			form: func(*matrixEnv) url.Values { return url.Values{"enabled": {"0"}} }},
		{method: "POST", route: "/bots/:id/schedules/:sid/delete", variant: "own bot", path: schedulePath(true, "/delete"), want: want5(s303, s403, s303, s303, s303), locFn: triggersTab},
		{method: "POST", route: "/bots/:id/schedules/:sid/delete", variant: "another user's bot", path: schedulePath(false, "/delete"), want: want5(s303, s403, s403, s303, s303), locFn: triggersTab},

		{method: "GET", route: "/executions", want: want5(s303, s200, s200, s303, s200)},
		{method: "GET", route: "/executions", variant: "filtered", path: fixedPath("/executions?status=failed&trigger=api&from=2025-01-01&to=2025-12-31"), want: want5(s303, s200, s200, s303, s200)},
		{method: "GET", route: "/executions/rows", variant: "live rows", want: want5(s303, s200, s200, s303, s200),
			path: func(e *matrixEnv) string {
				return "/executions/rows?ids=" + e.execution(nil, models.ExecRunning).ID.String()
			}},
		{method: "GET", route: "/executions/:id", variant: "another user's bot", path: othersExecPath(models.ExecSuccess, ""), want: want5(s303, s200, s200, s303, s200)},
		{method: "GET", route: "/executions/:id", variant: "unknown", path: func(e *matrixEnv) string { return "/executions/" + randomID(e) }, want: want5(s303, s404, s404, s303, s404)},
		{method: "GET", route: "/executions/:id", variant: "malformed id", path: fixedPath("/executions/not-a-uuid"), want: want5(s303, s404, s404, s303, s404)},
		{method: "GET", route: "/executions/:id/live", path: othersExecPath(models.ExecRunning, "/live"), want: want5(s303, s200, s200, s303, s200)},
		{method: "POST", route: "/executions/:id/cancel", variant: "own bot, queued", path: ownExecPath(models.ExecQueued, "/cancel"), want: want5(s303, s403, s303, s303, s303),
			locFn: func(p string) string { return strings.TrimSuffix(p, "/cancel") }},
		{method: "POST", route: "/executions/:id/cancel", variant: "another user's bot, running", path: othersExecPath(models.ExecRunning, "/cancel"), want: want5(s303, s403, s403, s303, s303),
			locFn: func(p string) string { return strings.TrimSuffix(p, "/cancel") }},
		{method: "POST", route: "/executions/:id/cancel", variant: "own bot, finished", path: ownExecPath(models.ExecSuccess, "/cancel"), want: want5(s303, s403, s409, s303, s409)},
		{method: "POST", route: "/executions/:id/cancel", variant: "unknown", path: func(e *matrixEnv) string { return "/executions/" + randomID(e) + "/cancel" }, want: want5(s303, s404, s404, s303, s404)},
		{method: "POST", route: "/executions/:id/rerun", variant: "own bot", path: ownExecPath(models.ExecFailed, "/rerun"), want: want5(s303, s403, s303, s303, s303), locPrefix: "/executions/"},
		{method: "POST", route: "/executions/:id/rerun", variant: "another user's bot", path: othersExecPath(models.ExecSuccess, "/rerun"), want: want5(s303, s403, s403, s303, s303), locPrefix: "/executions/"},
		{method: "POST", route: "/executions/:id/rerun", variant: "unknown", path: func(e *matrixEnv) string { return "/executions/" + randomID(e) + "/rerun" }, want: want5(s303, s404, s404, s303, s404)},

		// Audit: admins only.
		{method: "GET", route: "/audit", want: want5(s303, s403, s403, s303, s200)},
		{method: "GET", route: "/audit/:seq", path: fixedPath("/audit/1"), want: want5(s303, s403, s403, s303, s200)},
		{method: "GET", route: "/audit/export.csv", want: want5(s303, s403, s403, s303, s200)},
		{method: "GET", route: "/audit/export.jsonl", want: want5(s303, s403, s403, s303, s200)},
		{method: "POST", route: "/audit/verify", want: want5(s303, s403, s403, s303, s303), loc: "/audit"},

		// Secrets: admins only.
		{method: "GET", route: "/admin/secrets", want: want5(s303, s403, s403, s303, s200)},
		{method: "POST", route: "/admin/secrets", variant: "valid", want: want5(s303, s403, s403, s303, s303), loc: "/admin/secrets",
			form: func(*matrixEnv) url.Values {
				return url.Values{"name": {"API_TOKEN"}, "value": {"s3cret-value"}}
			}},
		{method: "POST", route: "/admin/secrets", variant: "bad name", want: want5(s303, s403, s403, s303, s422),
			form: func(*matrixEnv) url.Values { return url.Values{"name": {"lower"}, "value": {"x"}} }},
		{method: "POST", route: "/admin/secrets/:name/delete", variant: "existing", want: want5(s303, s403, s403, s303, s303), loc: "/admin/secrets",
			path: func(e *matrixEnv) string {
				return matrixSecretPath("/delete")(e)
			}},
		{method: "POST", route: "/admin/secrets/:name/delete", variant: "unknown", path: fixedPath("/admin/secrets/NOPE/delete"), want: want5(s303, s403, s403, s303, s404)},
		{method: "GET", route: "/admin/secrets/:name", variant: "existing", want: want5(s303, s403, s403, s303, s200), path: matrixSecretPath("")},
		{method: "GET", route: "/admin/secrets/:name", variant: "unknown", path: fixedPath("/admin/secrets/NOPE"), want: want5(s303, s403, s403, s303, s404)},
		{method: "POST", route: "/admin/secrets/:name", variant: "valid", want: want5(s303, s403, s403, s303, s303), loc: "/admin/secrets", path: matrixSecretPath(""),
			form: func(*matrixEnv) url.Values { return url.Values{"grant_tags": {"ops"}, "hosts": {"api.example.com"}} }},
		{method: "POST", route: "/admin/secrets/:name", variant: "bad host", want: want5(s303, s403, s403, s303, s422), path: matrixSecretPath(""),
			form: func(*matrixEnv) url.Values { return url.Values{"hosts": {"https://api.example.com/x"}} }},
		{method: "POST", route: "/admin/secrets/:name", variant: "unknown", path: fixedPath("/admin/secrets/NOPE"), want: want5(s303, s403, s403, s303, s404)},

		// Administration: admins only.
		{method: "GET", route: "/admin/users", want: want5(s303, s403, s403, s303, s200)},
	}
	for _, action := range []struct {
		suffix string
		form   url.Values
	}{
		{"/role", url.Values{"role": {string(models.RoleUser)}}},
		{"/disable", nil},
		{"/enable", nil},
		{"/sessions/end", nil},
	} {
		form := func(*matrixEnv) url.Values {
			f := url.Values{}
			for k, v := range action.form {
				f[k] = append([]string(nil), v...)
			}
			return f
		}
		route := "/admin/users/:id" + action.suffix
		cases = append(cases,
			routeCase{method: "POST", route: route, variant: "another user", path: targetPath(action.suffix), form: form,
				want: want5(s303, s403, s403, s303, s303), loc: "/admin/users"},
			routeCase{method: "POST", route: route, variant: "unknown user", path: randomUserPath(action.suffix), form: form,
				want: want5(s303, s403, s403, s303, s404)},
		)
	}
	// The API: a session cookie is never enough, for any role (the keys ×
	// roles × scopes matrix is TestAPIRouteMatrix).
	seen := map[string]bool{}
	for _, ac := range apiCases() {
		if seen[ac.method+" "+ac.route] {
			continue
		}
		seen[ac.method+" "+ac.route] = true
		path := strings.NewReplacer(":id", uuid.NewString(), ":n", "1").Replace(ac.route)
		cases = append(cases, routeCase{method: ac.method, route: ac.route, variant: "no key; a session cookie is not enough",
			path: fixedPath(path), public: true, want: wantAll(s401)})
	}
	return cases
}

func TestRouteRoleMatrix(t *testing.T) {
	t.Parallel()
	cases := routeCases()
	listed := map[string]bool{}
	for _, rc := range cases {
		listed[rc.method+" "+rc.route] = true
		for _, role := range matrixRoles {
			_, ok := rc.want[role]
			require.True(t, ok, "%s: no expectation for %s", rc.title(), role)
		}
		require.Equal(t, rc.want[asAnonymous], rc.want[asAPIUser], "%s: api_user cannot sign in, so it gets what anonymous gets", rc.title())
	}

	a := testutil.NewApp(t)
	registered := map[string]bool{}
	for _, r := range a.Fiber.GetRoutes(true) {
		if r.Method == http.MethodHead || r.Path == "/static/*" {
			continue
		}
		key := r.Method + " " + r.Path
		registered[key] = true
		if !listed[key] {
			t.Errorf("route %s is not in the role matrix: add it to routeCases in access_test.go", key)
		}
	}
	for key := range listed {
		if !registered[key] {
			t.Errorf("the role matrix lists %s, which the app does not register", key)
		}
	}

	for _, role := range matrixRoles {
		t.Run(role, func(t *testing.T) {
			t.Parallel()
			a := testutil.NewApp(t)
			for _, rc := range cases {
				t.Run(rc.title(), func(t *testing.T) {
					t.Parallel()
					checkRouteCase(t, a, role, rc)
				})
			}
		})
	}

	t.Run("api keys", func(t *testing.T) {
		t.Parallel()
		testAPIMe(t, a)
	})
}

func checkRouteCase(t *testing.T, a *testutil.App, role string, rc routeCase) {
	t.Helper()
	g := guardCase(t, a, pageRefused(rc, role)) // a refused request changes nothing
	defer g.release()
	e := newMatrixEnv(t, a, role)
	path := rc.route
	if rc.path != nil {
		path = rc.path(e)
	}
	var form url.Values
	if rc.form != nil {
		form = rc.form(e)
	}
	g.beforeRequest()
	var resp *testutil.Response
	switch rc.method {
	case http.MethodGet:
		resp = e.c.Get(path)
	case http.MethodPost:
		resp = e.c.Post(path, form) // with the session's CSRF token
	default:
		req := httptest.NewRequestWithContext(t.Context(), rc.method, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(web.CSRFHeader, e.c.CSRF)
		resp = e.c.Do(req)
	}
	want := rc.want[role]
	require.Equal(t, want, resp.StatusCode, "%s %s as %s\n%s", rc.method, path, role, resp.Body)
	g.afterRequest(resp.StatusCode, rc.method+" "+path+" as "+role)

	loc := resp.Header.Get("Location")
	switch {
	case resp.StatusCode != s303:
		require.Empty(t, loc)
	case !rc.public && !e.signedIn():
		// Sent to sign in; a GET comes back to where it was going.
		wantLoc := "/login"
		if rc.method == http.MethodGet && path != "/" {
			wantLoc += "?next=" + url.QueryEscape(path)
		}
		require.Equal(t, wantLoc, loc)
	case rc.locFn != nil:
		require.Equal(t, rc.locFn(path), loc)
	case rc.locPrefix != "":
		require.True(t, strings.HasPrefix(loc, rc.locPrefix), "%s: Location %q", rc.title(), loc)
	default:
		require.NotEmpty(t, rc.loc, "%s: a 303 needs an expected Location", rc.title())
		require.Equal(t, rc.loc, loc)
	}

	isHTML := strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html")
	switch resp.StatusCode {
	case s200, s201, s422, s403, s404:
		if resp.StatusCode == s200 && strings.Contains(path, "/export") {
			require.NotContains(t, resp.Header.Get("Content-Type"), "text/html", "a download, not a page")
			break
		}
		if strings.HasPrefix(path, "/healthz") || strings.HasPrefix(path, "/readyz") || strings.HasPrefix(path, "/api/v1/") || strings.HasPrefix(path, "/hooks/") {
			require.Regexp(t, `^application/(problem\+)?json`, resp.Header.Get("Content-Type"), "JSON, or a problem")
			break
		}
		require.True(t, isHTML, "a page: %s", resp.Header.Get("Content-Type"))
		if resp.StatusCode == s403 || resp.StatusCode == s404 {
			d := resp.Doc(t)
			require.Equal(t, fmt.Sprint(resp.StatusCode), d.Find(`[data-testid="error-status"]`).Text())
			if resp.StatusCode == s403 {
				require.Contains(t, d.Find(`[data-testid="error-page"]`).Text(), "Your role does not allow this")
			}
		}
	}
}

// testAPIMe is /api/v1/me with API keys (Authorization: Bearer) of every role.
func testAPIMe(t *testing.T, a *testutil.App) {
	t.Helper()
	apiGet := func(t *testing.T, path, key string) (*http.Response, map[string]any) {
		t.Helper()
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp := a.Do(t, req)
		if resp.StatusCode < 400 {
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		} else {
			require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
		}
		return resp, jsonBody(t, resp)
	}
	for _, role := range []models.Role{models.RoleViewer, models.RoleUser, models.RoleAPIUser, models.RoleAdmin} {
		t.Run(string(role), func(t *testing.T) {
			t.Parallel()
			u := testutil.CreateUser(t, a.DB, role)
			key, k := accessKey(t, a.DB, u, models.ScopeRead)
			resp, body := apiGet(t, "/api/v1/me", key)
			require.Equal(t, s200, resp.StatusCode, body)
			user, _ := body["user"].(map[string]any)
			require.Equal(t, u.ID.String(), user["id"])
			require.Equal(t, string(role), user["role"])
			gotKey, _ := body["key"].(map[string]any)
			require.Equal(t, k.ID.String(), gotKey["id"])
			require.Equal(t, []any{models.ScopeRead}, gotKey["scopes"])
			require.NotContains(t, fmt.Sprint(body), key, "the key itself is never echoed")
		})
	}
	t.Run("disabled user", func(t *testing.T) {
		t.Parallel()
		u := testutil.CreateUser(t, a.DB, models.RoleUser)
		key, _ := accessKey(t, a.DB, u, models.ScopeRead)
		_, err := models.SetUserActive(context.Background(), a.DB.Bun, models.SystemActor("test"), u.ID, false)
		require.NoError(t, err)
		resp, body := apiGet(t, "/api/v1/me", key)
		require.Equal(t, s401, resp.StatusCode)
		require.Contains(t, body["detail"], "disabled")
	})
	t.Run("no key", func(t *testing.T) {
		t.Parallel()
		resp, body := apiGet(t, "/api/v1/me", "")
		require.Equal(t, s401, resp.StatusCode)
		require.Equal(t, `Bearer realm="codex32"`, resp.Header.Get("WWW-Authenticate"))
		require.EqualValues(t, 401, body["status"])
	})
	t.Run("revoked key", func(t *testing.T) {
		t.Parallel()
		u := testutil.CreateUser(t, a.DB, models.RoleUser)
		key, k := accessKey(t, a.DB, u, models.ScopeRead)
		require.NoError(t, models.RevokeAPIKey(context.Background(), a.DB.Bun, models.SystemActor("test"), u.ID, k.ID))
		resp, _ := apiGet(t, "/api/v1/me", key)
		require.Equal(t, s401, resp.StatusCode)
	})
	t.Run("key without the read scope", func(t *testing.T) {
		t.Parallel()
		u := testutil.CreateUser(t, a.DB, models.RoleUser)
		key, _ := accessKey(t, a.DB, u, models.ScopeWrite)
		resp, _ := apiGet(t, "/api/v1/me", key)
		require.Equal(t, s403, resp.StatusCode)
	})
	t.Run("key in the query string", func(t *testing.T) {
		t.Parallel()
		u := testutil.CreateUser(t, a.DB, models.RoleUser)
		key, _ := accessKey(t, a.DB, u, models.ScopeRead)
		resp, _ := apiGet(t, "/api/v1/me?api_key="+key, "")
		require.Equal(t, s401, resp.StatusCode)
	})
	t.Run("forged key", func(t *testing.T) {
		t.Parallel()
		resp, _ := apiGet(t, "/api/v1/me", "c32_"+strings.Repeat("a", 38))
		require.Equal(t, s401, resp.StatusCode)
	})
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	apiKeyForm := func() url.Values {
		return url.Values{"name": {"from csrf test"}, "days": {"30"}, "scopes": {models.ScopeRead}}
	}
	keysOf := func(t *testing.T, a *testutil.App, u *models.User) []*models.APIKey {
		t.Helper()
		keys, err := models.ListAPIKeys(context.Background(), a.DB.Bun, u.ID)
		require.NoError(t, err)
		return keys
	}
	// refused checks a 403 CSRF answer: an HTML page saying why.
	refused := func(t *testing.T, r *testutil.Response) {
		t.Helper()
		require.Equal(t, s403, r.StatusCode, r.Body)
		require.Equal(t, "text/html; charset=utf-8", r.Header.Get("Content-Type"))
		d := r.Doc(t)
		require.Equal(t, "403", d.Find(`[data-testid="error-status"]`).Text())
		require.Contains(t, d.Find(`[data-testid="error-page"]`).Text(), web.ErrCSRF.Message)
	}
	stillSignedIn := func(t *testing.T, c *testutil.Client) {
		t.Helper()
		require.Equal(t, s200, c.Get("/").StatusCode)
	}

	t.Run("no token: nothing is created", func(t *testing.T) {
		t.Parallel()
		a, c, u := signedIn(t, models.RoleUser)
		refused(t, accessPost(c, "/settings/api-keys", apiKeyForm(), nil))
		require.Empty(t, keysOf(t, a, u))
		stillSignedIn(t, c)
	})
	t.Run("no token: logout does not sign out", func(t *testing.T) {
		t.Parallel()
		_, c, _ := signedIn(t, models.RoleViewer)
		refused(t, accessPost(c, "/logout", url.Values{}, nil))
		stillSignedIn(t, c)
	})
	t.Run("wrong token", func(t *testing.T) {
		t.Parallel()
		a, c, u := signedIn(t, models.RoleUser)
		f := apiKeyForm()
		f.Set("_csrf", "wrong")
		refused(t, accessPost(c, "/settings/api-keys", f, nil))
		refused(t, accessPost(c, "/settings/api-keys", apiKeyForm(), http.Header{web.CSRFHeader: {"wrong"}}))
		// A real token, but of another session.
		other := a.Client(t)
		other.Get("/login")
		require.NotEmpty(t, other.CSRF)
		require.NotEqual(t, c.CSRF, other.CSRF)
		f.Set("_csrf", other.CSRF)
		refused(t, accessPost(c, "/settings/api-keys", f, nil))
		refused(t, accessPost(c, "/logout", url.Values{"_csrf": {other.CSRF}}, nil))
		require.Empty(t, keysOf(t, a, u))
		stillSignedIn(t, c)
	})
	t.Run("token in the X-CSRF-Token header", func(t *testing.T) {
		t.Parallel()
		a, c, u := signedIn(t, models.RoleUser)
		hdr := http.Header{web.CSRFHeader: {c.CSRF}}
		r := accessPost(c, "/settings/api-keys", apiKeyForm(), hdr)
		require.Equal(t, s201, r.StatusCode, r.Body)
		require.Len(t, keysOf(t, a, u), 1)

		// htmx sends it the same way (hx-headers on <body>).
		hx := http.Header{web.CSRFHeader: {c.CSRF}, "Hx-Request": {"true"}}
		r = accessPost(c, "/logout", url.Values{}, hx)
		require.Equal(t, http.StatusNoContent, r.StatusCode, r.Body)
		require.Equal(t, "/login", r.Header.Get("HX-Redirect"))
		require.Equal(t, s303, c.Get("/").StatusCode, "signed out")
	})
	t.Run("the page's hx-headers carry the token", func(t *testing.T) {
		t.Parallel()
		_, c, _ := signedIn(t, models.RoleViewer)
		raw, ok := c.Get("/").Doc(t).Find("body").Attr("hx-headers")
		require.True(t, ok)
		var h map[string]string
		require.NoError(t, json.Unmarshal([]byte(raw), &h))
		require.NotEmpty(t, h[web.CSRFHeader])
		require.Equal(t, c.CSRF, h[web.CSRFHeader])
	})
	t.Run("anonymous sign-in without a token", func(t *testing.T) {
		t.Parallel()
		a := testutil.NewApp(t)
		u := accessUser(t, a.DB, models.RoleUser)
		c := a.Client(t)
		c.Get("/login")
		refused(t, accessPost(c, "/login", url.Values{"email": {u.Email}, "password": {testutil.TestPassword}}, nil))
		require.Equal(t, s303, c.Get("/").StatusCode, "not signed in")
		n, err := a.DB.Bun.NewSelect().Model((*models.LoginAttempt)(nil)).Count(context.Background())
		require.NoError(t, err)
		require.Zero(t, n, "a refused form is not a sign-in attempt")
	})
	t.Run("no session at all", func(t *testing.T) {
		t.Parallel()
		a := testutil.NewApp(t)
		c := a.Client(t)
		refused(t, accessPost(c, "/logout", url.Values{"_csrf": {"anything"}}, nil))
	})
}

var cspNonceRE = regexp.MustCompile(`'nonce-([^']+)'`)

// checkPageSecurity asserts the security headers and the page's script and
// htmx lock-down, and returns the CSP nonce.
func checkPageSecurity(t *testing.T, r *testutil.Response, secure bool) string {
	t.Helper()
	csp := r.Header.Get("Content-Security-Policy")
	for _, d := range []string{"object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "default-src 'self'", "form-action 'self'"} {
		require.Contains(t, csp, d)
	}
	require.NotContains(t, csp, "unsafe-inline")
	require.NotContains(t, csp, "unsafe-eval")
	m := cspNonceRE.FindAllStringSubmatch(csp, -1)
	require.NotEmpty(t, m, csp)
	nonce := m[0][1]
	for _, mm := range m {
		require.Equal(t, nonce, mm[1], "one nonce per response")
	}
	require.GreaterOrEqual(t, len(nonce), 16)
	require.Equal(t, "nosniff", r.Header.Get("X-Content-Type-Options"))
	require.Contains(t, []string{"same-origin", "no-referrer", "strict-origin", "strict-origin-when-cross-origin"}, r.Header.Get("Referrer-Policy"))
	require.Equal(t, "DENY", r.Header.Get("X-Frame-Options"))
	require.Contains(t, r.Header.Get("Cache-Control"), "no-store")
	if secure {
		require.Contains(t, r.Header.Get("Strict-Transport-Security"), "max-age=")
	} else {
		require.Empty(t, r.Header.Get("Strict-Transport-Security"), "no HSTS over plain http")
	}

	d := r.Doc(t)
	cfg, ok := d.Find(`meta[name="htmx-config"]`).Attr("content")
	require.True(t, ok, "htmx-config meta")
	var hc map[string]any
	require.NoError(t, json.Unmarshal([]byte(cfg), &hc))
	require.Equal(t, false, hc["allowEval"])
	require.Equal(t, false, hc["allowScriptTags"])
	require.Equal(t, true, hc["selfRequestsOnly"])

	scripts := d.Find("script")
	require.Positive(t, scripts.Length())
	for i := range scripts.Length() {
		got, _ := scripts.Eq(i).Attr("nonce")
		require.Equal(t, nonce, got, "script %d carries the response's nonce", i)
	}
	styles := d.Find("style")
	for i := range styles.Length() {
		got, _ := styles.Eq(i).Attr("nonce")
		require.Equal(t, nonce, got, "style %d carries the response's nonce", i)
	}
	return nonce
}

// setCookieNamed returns the Set-Cookie of the session cookie in r.
func setCookieNamed(t *testing.T, r *testutil.Response, name string) *http.Cookie {
	t.Helper()
	for _, ck := range r.Cookies() {
		if ck.Name == name {
			return ck
		}
	}
	t.Fatalf("no %s cookie in %q", name, r.Header.Values("Set-Cookie"))
	return nil
}

func checkSessionCookie(t *testing.T, ck *http.Cookie, secure bool) {
	t.Helper()
	require.True(t, ck.HttpOnly, "HttpOnly")
	require.Equal(t, http.SameSiteLaxMode, ck.SameSite, "SameSite=Lax")
	require.Equal(t, "/", ck.Path)
	require.Empty(t, ck.Domain, "host-only")
	require.Equal(t, secure, ck.Secure, "Secure")
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	for _, secure := range []bool{false, true} {
		name := "http"
		var opts []testutil.AppOption
		cookieName := "codex32_session"
		if secure {
			name, cookieName = "https", "__Host-codex32_session"
			opts = append(opts, testutil.Secure())
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := testutil.NewApp(t, opts...)
			admin := accessUser(t, a.DB, models.RoleAdmin)
			viewer := accessUser(t, a.DB, models.RoleViewer)

			anon := a.Client(t)
			r := anon.Get("/login")
			require.Equal(t, s200, r.StatusCode)
			checkSessionCookie(t, setCookieNamed(t, r, cookieName), secure)
			for _, raw := range r.Header.Values("Set-Cookie") {
				require.Contains(t, raw, "HttpOnly")
				require.Contains(t, raw, "SameSite=Lax")
			}
			nonces := map[string]string{"GET /login (anonymous)": checkPageSecurity(t, r, secure)}

			// Signing in sets a new session cookie with the same attributes.
			r = anon.Post("/login", url.Values{"email": {admin.Email}, "password": {testutil.TestPassword}})
			require.Equal(t, s303, r.StatusCode, r.Body)
			checkSessionCookie(t, setCookieNamed(t, r, cookieName), secure)
			if secure {
				require.Contains(t, r.Header.Get("Strict-Transport-Security"), "max-age=")
			} else {
				require.Empty(t, r.Header.Get("Strict-Transport-Security"))
			}
			ac := anon // now the admin

			vc := a.Client(t)
			vc.Login(viewer.Email, testutil.TestPassword)

			pages := []struct {
				name   string
				c      *testutil.Client
				path   string
				status int
			}{
				{"GET / (admin)", ac, "/", s200},
				{"GET /profile (admin)", ac, "/profile", s200},
				{"GET /settings/api-keys (admin)", ac, "/settings/api-keys", s200},
				{"GET /admin/users (admin)", ac, "/admin/users", s200},
				{"404 page", ac, "/no/such/page", s404},
				{"403 page", vc, "/admin/users", s403},
				{"GET /login again (anonymous)", a.Client(t), "/login", s200},
			}
			for _, p := range pages {
				r := p.c.Get(p.path)
				require.Equal(t, p.status, r.StatusCode, p.name)
				require.Equal(t, "text/html; charset=utf-8", r.Header.Get("Content-Type"), p.name)
				nonce := checkPageSecurity(t, r, secure)
				for other, n := range nonces {
					require.NotEqual(t, n, nonce, "%s and %s share a nonce", p.name, other)
				}
				nonces[p.name] = nonce
			}

			// The cookie is set no differently when signing out.
			r = ac.Post("/logout", nil)
			require.Equal(t, s303, r.StatusCode)
			checkSessionCookie(t, setCookieNamed(t, r, cookieName), secure)
		})
	}
}

func TestHTMX(t *testing.T) {
	t.Parallel()
	hx := http.Header{"Hx-Request": {"true"}}

	t.Run("signed out: 401 with HX-Redirect, no login form", func(t *testing.T) {
		t.Parallel()
		a := testutil.NewApp(t)
		c := a.Client(t)
		for path, want := range map[string]string{"/": "/login", "/profile": "/login?next=%2Fprofile"} {
			r := accessGet(c, path, hx)
			require.Equal(t, s401, r.StatusCode, path)
			require.Equal(t, want, r.Header.Get("HX-Redirect"), path)
			require.Empty(t, r.Header.Get("Location"), path)
			require.LessOrEqual(t, len(strings.TrimSpace(r.Body)), len("Unauthorized"), "empty-ish body: %q", r.Body)
			require.NotContains(t, r.Body, "<form")
			require.NotContains(t, r.Body, "login-form")
		}
	})

	t.Run("forbidden POST: a flash fragment retargeted to #flashes", func(t *testing.T) {
		t.Parallel()
		a, c, _ := signedIn(t, models.RoleViewer)
		target := testutil.CreateUser(t, a.DB, models.RoleUser)
		h := http.Header{"Hx-Request": {"true"}, web.CSRFHeader: {c.CSRF}}
		r := accessPost(c, "/admin/users/"+target.ID.String()+"/disable", url.Values{}, h)
		require.Equal(t, s403, r.StatusCode, r.Body)
		require.Equal(t, "#flashes", r.Header.Get("HX-Retarget"))
		require.Equal(t, "beforeend", r.Header.Get("HX-Reswap"))
		require.Contains(t, r.Header.Get("Content-Type"), "text/html")
		d := r.Doc(t)
		require.Equal(t, 1, d.Find(`[data-testid="flash"]`).Length(), r.Body)
		require.Contains(t, d.Find(`[data-testid="flash"]`).Text(), "Not allowed")
		require.NotContains(t, r.Body, "<html")
		require.NotContains(t, r.Body, "<body")
		require.Zero(t, d.Find(`[data-testid="header"]`).Length(), "not a full page")
		got, err := models.UserByID(context.Background(), a.DB.Bun, target.ID)
		require.NoError(t, err)
		require.True(t, got.IsActive, "nothing changed")
	})

	t.Run("forbidden GET: a flash fragment too", func(t *testing.T) {
		t.Parallel()
		_, c, _ := signedIn(t, models.RoleUser)
		r := accessGet(c, "/admin/users", hx)
		require.Equal(t, s403, r.StatusCode)
		require.Equal(t, "#flashes", r.Header.Get("HX-Retarget"))
		require.Equal(t, 1, r.Doc(t).Find(`[data-testid="flash"]`).Length())
		require.NotContains(t, r.Body, "<html")
	})

	t.Run("allowed POST: 204 with HX-Redirect", func(t *testing.T) {
		t.Parallel()
		a, c, _ := signedIn(t, models.RoleAdmin)
		target := testutil.CreateUser(t, a.DB, models.RoleUser)
		h := http.Header{"Hx-Request": {"true"}, web.CSRFHeader: {c.CSRF}}
		r := accessPost(c, "/admin/users/"+target.ID.String()+"/disable", url.Values{}, h)
		require.Equal(t, http.StatusNoContent, r.StatusCode, r.Body)
		require.Equal(t, "/admin/users", r.Header.Get("HX-Redirect"))
		got, err := models.UserByID(context.Background(), a.DB.Bun, target.ID)
		require.NoError(t, err)
		require.False(t, got.IsActive)
		// The flash waits for the next full page.
		require.Contains(t, c.Get("/admin/users").Doc(t).Find(`[data-testid="flash"]`).Text(), "has been disabled")
	})
}

func TestForwardedFor(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		proxies []string
		xff     string
		want    string
	}{
		// Fiber's app.Test connects from 0.0.0.0.
		{"no trusted proxies: header ignored", nil, "203.0.113.9", "0.0.0.0"},
		{"no trusted proxies: chain ignored", nil, "203.0.113.9, 10.0.0.1", "0.0.0.0"},
		{"trusted peer", []string{"0.0.0.0/32"}, "203.0.113.9", "203.0.113.9"},
		{"rightmost untrusted hop", []string{"0.0.0.0/32", "10.0.0.0/8"}, "203.0.113.9, 10.0.0.1", "203.0.113.9"},
		{"a spoofed leftmost hop is not believed", []string{"0.0.0.0/32", "10.0.0.0/8"}, "198.51.100.66, 203.0.113.9, 10.0.0.1", "203.0.113.9"},
		{"untrusted internal hop is the client", []string{"0.0.0.0/32"}, "203.0.113.9, 10.0.0.1", "10.0.0.1"},
		{"garbage hop stops the walk", []string{"0.0.0.0/32"}, "not-an-ip", "0.0.0.0"},
		// A proxy may add its own header line (HAProxy's option forwardfor
		// does) after one the client sent: the lines form one list.
		{"two header lines are one list", []string{"0.0.0.0/32"}, "198.51.100.66\n203.0.113.9", "203.0.113.9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts []testutil.AppOption
			if tc.proxies != nil {
				opts = append(opts, testutil.TrustedProxies(tc.proxies...))
			}
			a := testutil.NewApp(t, opts...)
			u := accessUser(t, a.DB, models.RoleUser)
			c := a.Client(t)
			for _, line := range strings.Split(tc.xff, "\n") {
				c.Header.Add("X-Forwarded-For", line)
			}
			c.Login(u.Email, testutil.TestPassword)

			ctx := context.Background()
			var attempts []models.LoginAttempt
			require.NoError(t, a.DB.Bun.NewSelect().Model(&attempts).Where("la.email = ?", strings.ToLower(u.Email)).Scan(ctx))
			require.Len(t, attempts, 1)
			require.True(t, attempts[0].Success)
			require.Equal(t, tc.want, attempts[0].IP)

			// The session row records the same address.
			sessions, err := models.ListUserSessions(ctx, a.DB.Bun, u.ID)
			require.NoError(t, err)
			require.Len(t, sessions, 1)
			require.Equal(t, tc.want, sessions[0].IP)
		})
	}
}

// matrixSecretPath creates a secret and returns its page's path + suffix.
func matrixSecretPath(suffix string) func(e *matrixEnv) string {
	return func(e *matrixEnv) string {
		name := "K_" + strings.ToUpper(strings.ReplaceAll(uuid.NewString()[:8], "-", ""))
		_, err := models.PutSecret(context.Background(), e.a.DB.Bun, e.a.Secrets, models.SystemActor("test"), name, "", "value-123", nil)
		require.NoError(e.t, err)
		return "/admin/secrets/" + name + suffix
	}
}

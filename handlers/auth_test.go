package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/handlers"
	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

var bg = context.Background()

func countRows(t *testing.T, a *testutil.App, table, where string, args ...any) int {
	t.Helper()
	q := a.DB.Bun.NewSelect().Table(table)
	if where != "" {
		q = q.Where(where, args...)
	}
	n, err := q.Count(bg)
	require.NoError(t, err)
	return int(n)
}

func TestSetupCreatesFirstAdminOnce(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t, testutil.FreshInstance())
	c := a.Client(t)

	for _, path := range []string{"/", "/login", "/profile", "/admin/users"} {
		r := c.Get(path)
		require.Equal(t, http.StatusSeeOther, r.StatusCode, path)
		require.Equal(t, "/setup", r.Header.Get("Location"), path)
	}
	r := c.Get("/setup")
	require.Equal(t, http.StatusOK, r.StatusCode)

	// Weak password and missing name are refused, with the fields marked.
	r = c.Post("/setup", url.Values{"email": {"ada@example.test"}, "name": {""}, "password": {"password1"}})
	require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
	d := r.Doc(t)
	require.NotEmpty(t, d.Find(`[data-testid="error-name"]`).Text())
	require.Contains(t, d.Find(`[data-testid="error-password"]`).Text(), "commonly used")
	require.Zero(t, countRows(t, a, "users", ""))

	r = c.Post("/setup", url.Values{"email": {"ada@example.test"}, "name": {"Ada"}, "password": {"analytical engine 1843"}})
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	require.Equal(t, "/", r.Header.Get("Location"))
	u, err := models.UserByEmail(bg, a.DB.Bun, "ada@example.test")
	require.NoError(t, err)
	require.Equal(t, models.RoleAdmin, u.Role)
	require.NotNil(t, u.PasswordHash)
	require.NotContains(t, *u.PasswordHash, "analytical", "only the hash is stored")
	require.True(t, strings.HasPrefix(*u.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$"))

	home := c.Get("/")
	require.Equal(t, http.StatusOK, home.StatusCode, "signed in as the new admin")
	require.Contains(t, home.Doc(t).Find(`[data-testid="flash"]`).Text(), "Welcome, Ada")

	// Gone for good, for everyone.
	require.Equal(t, http.StatusNotFound, c.Get("/setup").StatusCode)
	other := a.Client(t)
	other.Get("/login")
	require.Equal(t, http.StatusNotFound, other.Get("/setup").StatusCode)
	require.Equal(t, http.StatusNotFound, other.Post("/setup", url.Values{"email": {"eve@example.test"}, "name": {"Eve"}, "password": {"analytical engine 1843"}}).StatusCode)
	require.Equal(t, 1, countRows(t, a, "users", ""))
}

func TestCreateFirstAdminRace(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	errs := make(chan error, 2)
	for _, email := range []string{"a@example.test", "b@example.test"} {
		go func() {
			errs <- models.CreateFirstAdmin(bg, db.Bun, models.SystemActor("test"), &models.User{Email: email, Username: strings.Split(email, "@")[0], Name: "X"}, "analytical engine 1843")
		}()
	}
	e1, e2 := <-errs, <-errs
	require.NotEqual(t, e1 == nil, e2 == nil, "exactly one wins: %v / %v", e1, e2)
	n, err := models.CountUsers(bg, db.Bun)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
}

func TestLoginWrongPasswordAndUnknownUserLookAlike(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	u := testutil.CreateUserWithPassword(t, a.DB, models.RoleUser)
	c := a.Client(t)
	c.Get("/login")
	wrong := c.Post("/login", url.Values{"email": {u.Email}, "password": {"not the password"}})
	unknown := c.Post("/login", url.Values{"email": {"nobody@example.test"}, "password": {"not the password"}})
	require.Equal(t, http.StatusUnauthorized, wrong.StatusCode)
	require.Equal(t, wrong.StatusCode, unknown.StatusCode)
	msg := func(r *testutil.Response) string { return r.Doc(t).Find(`[data-testid="form-error"]`).Text() }
	require.Equal(t, "Incorrect email or password.", msg(wrong))
	require.Equal(t, msg(wrong), msg(unknown))

	// Both attempts are recorded, without the password.
	require.Equal(t, 2, countRows(t, a, "login_attempts", "success = ? AND reason = ?", false, models.ReasonBadCredentials))
	require.Equal(t, 1, countRows(t, a, "login_attempts", "user_id = ?", u.ID))
	require.Equal(t, 2, countRows(t, a, "audit_logs", "action = ?", "auth.login_failed"))
	require.Zero(t, countRows(t, a, "audit_logs", "CAST(new_values AS TEXT) LIKE ?", "%not the password%"))

	c.Login(u.Email, testutil.TestPassword)
	require.Equal(t, 1, countRows(t, a, "login_attempts", "success = ? AND user_id = ?", true, u.ID))
	require.Equal(t, 1, countRows(t, a, "audit_logs", "action = ? AND resource_id = ?", "auth.login", u.ID.String()))
	got, err := models.UserByID(bg, a.DB.Bun, u.ID)
	require.NoError(t, err)
	require.NotNil(t, got.LastLoginAt)
}

func TestLoginRefusesDisabledAndAPIOnlyAccounts(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	disabled := testutil.CreateUserWithPassword(t, a.DB, models.RoleUser)
	_, err := models.SetUserActive(bg, a.DB.Bun, models.SystemActor("test"), disabled.ID, false)
	require.NoError(t, err)
	robot := testutil.CreateUserWithPassword(t, a.DB, models.RoleAPIUser)
	c := a.Client(t)
	c.Get("/login")
	r := c.Post("/login", url.Values{"email": {disabled.Email}, "password": {testutil.TestPassword}})
	require.Equal(t, http.StatusForbidden, r.StatusCode)
	require.Contains(t, r.Body, "disabled")
	r = c.Post("/login", url.Values{"email": {robot.Email}, "password": {testutil.TestPassword}})
	require.Equal(t, http.StatusForbidden, r.StatusCode)
	require.Contains(t, r.Body, "API key")
	require.Equal(t, http.StatusSeeOther, c.Get("/").StatusCode, "neither signed in")
}

func TestLoginThrottlePerAccount(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	u := testutil.CreateUserWithPassword(t, a.DB, models.RoleUser)
	c := a.Client(t)
	c.Get("/login")
	for i := range 5 {
		r := c.Post("/login", url.Values{"email": {u.Email}, "password": {"wrong password " + string(rune('a'+i))}})
		require.Equal(t, http.StatusUnauthorized, r.StatusCode, "failure %d", i+1)
	}
	// The sixth attempt is refused — even with the right password.
	r := c.Post("/login", url.Values{"email": {strings.ToUpper(u.Email)}, "password": {testutil.TestPassword}})
	require.Equal(t, http.StatusTooManyRequests, r.StatusCode)
	require.NotEmpty(t, r.Header.Get("Retry-After"))
	require.Contains(t, r.Doc(t).Find(`[data-testid="form-error"]`).Text(), "Too many failed sign-in attempts")
	require.Equal(t, 1, countRows(t, a, "login_attempts", "reason = ?", models.ReasonThrottled))

	// Other accounts are not affected.
	other := testutil.CreateUserWithPassword(t, a.DB, models.RoleUser)
	a.Client(t).Login(other.Email, testutil.TestPassword)

	// Temporarily: once the window has passed, the right password works.
	a.Clock.Advance(5*time.Minute + time.Second)
	c.Login(u.Email, testutil.TestPassword)
}

func TestLoginThrottlePerAddress(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	c := a.Client(t)
	c.Get("/login")
	var last *testutil.Response
	for i := range 31 {
		last = c.Post("/login", url.Values{"email": {"user" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "@example.test"}, "password": {"wrong password"}})
	}
	require.Equal(t, http.StatusTooManyRequests, last.StatusCode, "many failures from one address")
	require.NotEmpty(t, last.Header.Get("Retry-After"))
}

func TestLogoutThenReplayedCookieIsRefused(t *testing.T) {
	t.Parallel()
	a, c, _ := signedIn(t, models.RoleUser)
	name := a.Sessions.CookieName()
	old := c.Cookie(name)
	require.NotEmpty(t, old)
	r := c.Post("/logout", nil)
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	require.Equal(t, "/login", r.Header.Get("Location"))
	require.Equal(t, http.StatusSeeOther, c.Get("/").StatusCode)

	replay := a.Client(t)
	replay.SetCookie(name, old)
	r = replay.Get("/")
	require.Equal(t, http.StatusSeeOther, r.StatusCode, "the old cookie no longer signs anyone in")
	require.True(t, strings.HasPrefix(r.Header.Get("Location"), "/login"))
	require.Equal(t, 1, countRows(t, a, "audit_logs", "action = ?", "auth.logout"))
}

func TestDisablingAUserEndsTheirOpenSession(t *testing.T) {
	t.Parallel()
	a, c, u := signedIn(t, models.RoleUser)
	require.Equal(t, http.StatusOK, c.Get("/").StatusCode)
	admin := testutil.CreateUserWithPassword(t, a.DB, models.RoleAdmin)
	ac := a.Client(t)
	ac.Login(admin.Email, testutil.TestPassword)
	r := ac.Post("/admin/users/"+u.ID.String()+"/disable", nil)
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	require.Zero(t, countRows(t, a, "sessions", "user_id = ?", u.ID))
	require.Equal(t, http.StatusSeeOther, c.Get("/").StatusCode, "the open session is over")
	require.Equal(t, 1, countRows(t, a, "audit_logs", "action = ? AND resource_id = ?", "user.disable", u.ID.String()))
}

func TestRoleChangeAppliesAtOnce(t *testing.T) {
	t.Parallel()
	a, c, u := signedIn(t, models.RoleAdmin)
	testutil.CreateUser(t, a.DB, models.RoleAdmin) // so u is not the last admin
	require.Equal(t, http.StatusOK, c.Get("/admin/users").StatusCode)
	_, err := models.SetUserRole(bg, a.DB.Bun, models.SystemActor("test"), u.ID, models.RoleViewer)
	require.NoError(t, err)
	require.Equal(t, http.StatusForbidden, c.Get("/admin/users").StatusCode)
	require.Equal(t, http.StatusOK, c.Get("/").StatusCode, "still signed in, as a viewer")
}

func TestSessionFixation(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	u := testutil.CreateUserWithPassword(t, a.DB, models.RoleUser)
	name := a.Sessions.CookieName()

	// The attacker gets a session id and plants it in the victim's browser.
	attacker := a.Client(t)
	attacker.Get("/login")
	planted := attacker.Cookie(name)
	require.NotEmpty(t, planted)
	victim := a.Client(t)
	victim.SetCookie(name, planted)
	victim.CSRF = attacker.CSRF
	r := victim.Post("/login", url.Values{"email": {u.Email}, "password": {testutil.TestPassword}})
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	require.NotEqual(t, planted, victim.Cookie(name), "a fresh session id at login")
	require.Equal(t, http.StatusOK, victim.Get("/").StatusCode)
	require.Equal(t, http.StatusSeeOther, attacker.Get("/").StatusCode, "the planted id signs nobody in")
}

func TestSessionIdleTimeout(t *testing.T) {
	t.Parallel()
	a, c, _ := signedIn(t, models.RoleUser, testutil.SessionTimeouts(time.Hour, 24*time.Hour))
	a.Clock.Advance(50 * time.Minute)
	require.Equal(t, http.StatusOK, c.Get("/").StatusCode, "active within the idle timeout")
	a.Clock.Advance(61 * time.Minute)
	require.Equal(t, http.StatusSeeOther, c.Get("/").StatusCode, "idle too long")
}

func TestSessionAbsoluteTimeout(t *testing.T) {
	t.Parallel()
	a, c, _ := signedIn(t, models.RoleUser, testutil.SessionTimeouts(time.Hour, 2*time.Hour))
	for range 2 {
		a.Clock.Advance(55 * time.Minute)
		require.Equal(t, http.StatusOK, c.Get("/").StatusCode)
	}
	a.Clock.Advance(15 * time.Minute)
	require.Equal(t, http.StatusSeeOther, c.Get("/").StatusCode, "past the absolute limit although active")
}

func TestExpiredSessionsArePruned(t *testing.T) {
	t.Parallel()
	a, _, u := signedIn(t, models.RoleUser, testutil.SessionTimeouts(time.Hour, 2*time.Hour))
	require.Equal(t, 1, countRows(t, a, "sessions", "user_id = ?", u.ID))
	n, err := models.DeleteExpiredSessions(bg, a.DB.Bun, time.Now(), time.Hour)
	require.NoError(t, err)
	require.Zero(t, n, "a live session stays")
	n, err = models.DeleteExpiredSessions(bg, a.DB.Bun, time.Now().Add(61*time.Minute), time.Hour)
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, int64(1))
	require.Zero(t, countRows(t, a, "sessions", "user_id = ?", u.ID))
}

func TestProfilePasswordChangeAndSessions(t *testing.T) {
	t.Parallel()
	a, c, u := signedIn(t, models.RoleViewer)
	other := a.Client(t)
	other.Login(u.Email, testutil.TestPassword)
	require.Equal(t, 2, countRows(t, a, "sessions", "user_id = ?", u.ID))

	d := c.Get("/profile").Doc(t)
	require.Equal(t, 2, d.Find(`[data-testid="session-row"]`).Length())
	require.Equal(t, 1, d.Find(`[data-testid="session-current"]`).Length())

	r := c.Post("/profile/password", url.Values{"current_password": {"wrong"}, "new_password": {"a brand new passphrase"}})
	require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
	require.NotEmpty(t, r.Doc(t).Find(`[data-testid="error-current_password"]`).Text())
	r = c.Post("/profile/password", url.Values{"current_password": {testutil.TestPassword}, "new_password": {"short"}})
	require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
	require.Contains(t, r.Doc(t).Find(`[data-testid="error-new_password"]`).Text(), "at least 8")

	r = c.Post("/profile/password", url.Values{"current_password": {testutil.TestPassword}, "new_password": {"a brand new passphrase"}})
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	require.Equal(t, http.StatusOK, c.Get("/profile").StatusCode, "this browser stays signed in")
	require.Equal(t, http.StatusSeeOther, other.Get("/").StatusCode, "the other session ended")
	require.Equal(t, 1, countRows(t, a, "sessions", "user_id = ?", u.ID))

	// Sign out everywhere else.
	third := a.Client(t)
	third.Login(u.Email, "a brand new passphrase")
	c.Get("/profile")
	require.Equal(t, http.StatusSeeOther, c.Post("/profile/sessions/end-others", nil).StatusCode)
	require.Equal(t, http.StatusSeeOther, third.Get("/").StatusCode)
	require.Equal(t, http.StatusOK, c.Get("/").StatusCode)
}

func TestLoginRedirectsBackButNeverOffSite(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	u := testutil.CreateUserWithPassword(t, a.DB, models.RoleAdmin)
	c := a.Client(t)
	r := c.Get("/admin/users?q=x")
	require.Equal(t, "/login?next=%2Fadmin%2Fusers%3Fq%3Dx", r.Header.Get("Location"))
	c.Get(r.Header.Get("Location"))
	r = c.Post("/login", url.Values{"email": {u.Email}, "password": {testutil.TestPassword}, "next": {"/admin/users?q=x"}})
	require.Equal(t, "/admin/users?q=x", r.Header.Get("Location"))
	for _, evil := range []string{"https://evil.example", "//evil.example", "/\\evil.example"} {
		c2 := a.Client(t)
		c2.Get("/login")
		r = c2.Post("/login", url.Values{"email": {u.Email}, "password": {testutil.TestPassword}, "next": {evil}})
		require.Equal(t, "/", r.Header.Get("Location"), evil)
	}
}

func TestSSOButtonsShowOnlyForConfiguredProviders(t *testing.T) {
	t.Parallel()
	d := testutil.NewApp(t).Client(t).Get("/login").Doc(t)
	require.Zero(t, d.Find(`[data-testid^="sso-"]`).Length())

	a := testutil.NewApp(t, testutil.WithSSO(handlers.SSOConfig{
		BaseURL: "http://localhost:8080",
		Google:  &handlers.OAuthClient{ID: "g", Secret: "s"},
		OIDC:    &handlers.OAuthClient{ID: "o", Secret: "s"}, OIDCIssuer: "http://127.0.0.1:1", OIDCName: "Acme SSO",
	}))
	d = a.Client(t).Get("/login?next=/profile").Doc(t)
	require.Equal(t, 2, d.Find(`[data-testid^="sso-"]`).Length())
	require.Contains(t, d.Find(`[data-testid="sso-oidc"]`).Text(), "Acme SSO")
	require.Equal(t, "/auth/google/login?next=%2Fprofile", d.Find(`[data-testid="sso-google"]`).AttrOr("href", ""))
	require.Zero(t, d.Find(`[data-testid="sso-github"]`).Length())
}

func TestSSOProviderDownShowsAClearError(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t, testutil.WithSSO(handlers.SSOConfig{
		BaseURL: "http://localhost:8080",
		OIDC:    &handlers.OAuthClient{ID: "o", Secret: "s"}, OIDCIssuer: "http://127.0.0.1:1", OIDCName: "Acme SSO",
	}))
	c := a.Client(t)
	r := c.Get("/auth/oidc/login")
	require.Equal(t, http.StatusBadGateway, r.StatusCode)
	require.Contains(t, r.Body, "Acme SSO cannot be reached right now")
	require.Equal(t, http.StatusNotFound, c.Get("/auth/nope/login").StatusCode)
}

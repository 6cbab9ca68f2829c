package handlers_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/codex32/codex32/handlers"
	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

// These tests run the whole single sign-on round trip over real loopback
// HTTP: the app on its own listener, mockoidc as the OIDC provider (and as
// "Google"), and an httptest fake of GitHub. Each test gets its own
// provider, because mockoidc's session store has no lock.

// ---------------------------------------------------------------------------
// The app and the providers

// ssoApp serves the app with single sign-on configured on a fresh database
// and returns it with its base URL (cfg.BaseURL is filled in: the listener
// exists before the app, so the callback URLs are known).
func ssoApp(t *testing.T, cfg handlers.SSOConfig) (*testutil.App, string) {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	base := "http://" + ln.Addr().String()
	cfg.BaseURL = base
	a := testutil.NewApp(t, testutil.WithSSO(cfg))
	return a, a.ServeOn(t, ln)
}

// startOIDC starts a mock OpenID provider for one test.
func ssoStartOIDC(t *testing.T) *mockoidc.MockOIDC {
	t.Helper()
	m, err := mockoidc.Run()
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Shutdown() })
	return m
}

func ssoClientOf(m *mockoidc.MockOIDC) *handlers.OAuthClient {
	cfg := m.Config()
	return &handlers.OAuthClient{ID: cfg.ClientID, Secret: cfg.ClientSecret}
}

// oidcApp serves the app with m as the generic OIDC provider, open for
// sign-up at example.com; change lets a test adjust the configuration.
func ssoOIDCApp(t *testing.T, m *mockoidc.MockOIDC, change func(*handlers.SSOConfig)) (*testutil.App, string) {
	t.Helper()
	cfg := handlers.SSOConfig{
		OIDC: ssoClientOf(m), OIDCIssuer: m.Issuer(),
		Signup: "allowed-domains", AllowedEmailDomains: []string{"example.com"},
	}
	if change != nil {
		change(&cfg)
	}
	return ssoApp(t, cfg)
}

// oidcUser is a person at the mock provider.
func ssoUser(sub, email string, verified bool) *mockoidc.MockUser {
	return &mockoidc.MockUser{Subject: sub, Email: email, EmailVerified: verified, PreferredUsername: strings.Split(email, "@")[0]}
}

// ssoGoogleUser adds Google's hosted-domain claim (hd), which Workspace
// accounts carry and personal accounts do not.
type ssoGoogleUser struct {
	*mockoidc.MockUser
	HD string
}

func (u *ssoGoogleUser) Claims(scope []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	c, err := u.MockUser.Claims(scope, base)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	claims := jwt.MapClaims{}
	if err := json.Unmarshal(b, &claims); err != nil {
		return nil, err
	}
	if u.HD != "" {
		claims["hd"] = u.HD
	}
	return claims, nil
}

// ---------------------------------------------------------------------------
// A browser

// browser keeps cookies like a browser. get follows redirects (recording
// each hop); step makes one request and stops at a redirect.
type ssoBrowser struct {
	t            *testing.T
	follow, step *http.Client
	hops         []*url.URL
}

func ssoNewBrowser(t *testing.T) *ssoBrowser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	b := &ssoBrowser{t: t}
	b.follow = &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		b.hops = append(b.hops, req.URL)
		if len(via) >= 10 {
			return errors.New("too many redirects")
		}
		return nil
	}}
	b.step = &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	return b
}

// result is a finished response: where it ended up and what it said.
type ssoResult struct {
	status int
	url    *url.URL
	header http.Header
	body   string
}

func (r ssoResult) doc(t *testing.T) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(r.body))
	require.NoError(t, err)
	return d
}

func (r ssoResult) text(t *testing.T, testid string) string {
	t.Helper()
	return strings.TrimSpace(r.doc(t).Find(`[data-testid="` + testid + `"]`).Text())
}

// summary says what a page is, briefly, for failure messages.
func (r ssoResult) summary(t *testing.T) string {
	t.Helper()
	if r.status >= 300 && r.status < 400 {
		return "redirect to " + r.header.Get("Location")
	}
	d := r.doc(t)
	if reason := d.Find(`[data-testid="signin-rejected-reason"]`); reason.Length() > 0 {
		return "sign-in refused: " + strings.TrimSpace(reason.Text())
	}
	if page := d.Find(`[data-testid="error-page"]`); page.Length() > 0 {
		return "error page: " + strings.Join(strings.Fields(page.Text()), " ")
	}
	if len(r.body) > 300 {
		return r.body[:300] + "…"
	}
	return r.body
}

func (r ssoResult) location(t *testing.T) string {
	t.Helper()
	require.Truef(t, r.status >= 300 && r.status < 400, "want a redirect from %s, got %d", r.url, r.status)
	return r.header.Get("Location")
}

func (b *ssoBrowser) do(c *http.Client, rawURL string) ssoResult {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.t.Context(), http.MethodGet, rawURL, nil)
	require.NoError(b.t, err, "GET %s", rawURL)
	resp, err := c.Do(req)
	require.NoError(b.t, err, "GET %s", rawURL)
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return ssoResult{status: resp.StatusCode, url: resp.Request.URL, header: resp.Header, body: string(body)}
}

func (b *ssoBrowser) get(rawURL string) ssoResult {
	b.t.Helper()
	return b.do(b.follow, rawURL)
}

func (b *ssoBrowser) stepTo(rawURL string) ssoResult {
	b.t.Helper()
	return b.do(b.step, rawURL)
}

// hop returns the first redirect followed to a URL whose path ends in suffix.
func (b *ssoBrowser) hop(suffix string) *url.URL {
	b.t.Helper()
	for _, u := range b.hops {
		if strings.HasSuffix(u.Path, suffix) {
			return u
		}
	}
	b.t.Fatalf("no redirect to …%s among %v", suffix, b.hops)
	return nil
}

// signIn runs a whole sign-in with provider, following every redirect.
func (b *ssoBrowser) signIn(base, provider string) ssoResult {
	b.t.Helper()
	return b.get(base + "/auth/" + provider + "/login")
}

// toCallback starts a sign-in and lets the provider answer, but stops
// before our callback: it returns the callback URL the provider sent the
// browser to (with its code and state).
func (b *ssoBrowser) toCallback(base, provider string) *url.URL {
	b.t.Helper()
	authorize := b.stepTo(base + "/auth/" + provider + "/login").location(b.t)
	cb, err := url.Parse(b.stepTo(authorize).location(b.t))
	require.NoError(b.t, err)
	require.Equal(b.t, "/auth/"+provider+"/callback", cb.Path)
	require.NotEmpty(b.t, cb.Query().Get("code"))
	require.NotEmpty(b.t, cb.Query().Get("state"))
	return cb
}

func (b *ssoBrowser) requireSignedInAs(base, email string, role models.Role) {
	b.t.Helper()
	r := b.stepTo(base + "/")
	require.Equal(b.t, http.StatusOK, r.status, r.summary(b.t))
	title, _ := r.doc(b.t).Find(`[data-testid="nav-profile"]`).Attr("title")
	require.True(b.t, strings.EqualFold(email, title), "signed in as %q, want %q", title, email)
	require.Equal(b.t, string(role), r.text(b.t, "nav-role"))
}

func (b *ssoBrowser) requireSignedOut(base string) {
	b.t.Helper()
	r := b.stepTo(base + "/")
	require.Equal(b.t, http.StatusSeeOther, r.status)
	require.Equal(b.t, "/login", r.header.Get("Location"))
}

// ---------------------------------------------------------------------------
// Pages

func ssoRequireDashboard(t *testing.T, r ssoResult) {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, r.summary(t))
	require.Equal(t, "/", r.url.Path)
	require.Equal(t, "Dashboard", r.text(t, "page-title"))
}

// requireRejected checks the "sign-in refused" page and that its reason
// mentions each of want.
func ssoRequireRejected(t *testing.T, r ssoResult, want ...string) {
	t.Helper()
	require.Equal(t, http.StatusForbidden, r.status, r.summary(t))
	require.Equal(t, 1, r.doc(t).Find(`[data-testid="signin-rejected"]`).Length(), r.summary(t))
	reason := r.text(t, "signin-rejected-reason")
	for _, w := range want {
		assert.Contains(t, reason, w)
	}
}

// requireBadState checks the plain 403 error page a forged or stale
// callback gets.
func ssoRequireBadState(t *testing.T, r ssoResult) {
	t.Helper()
	require.Equal(t, http.StatusForbidden, r.status, r.summary(t))
	require.Equal(t, "403", r.text(t, "error-status"))
	require.Zero(t, r.doc(t).Find(`[data-testid="signin-rejected"]`).Length())
}

// ---------------------------------------------------------------------------
// Rows

func ssoCount(t *testing.T, a *testutil.App, model any, where string, args ...any) int {
	t.Helper()
	q := a.DB.Bun.NewSelect().Model(model)
	if where != "" {
		q = q.Where(where, args...)
	}
	n, err := q.Count(context.Background())
	require.NoError(t, err)
	return int(n)
}

func ssoCountUsers(t *testing.T, a *testutil.App) int {
	t.Helper()
	return ssoCount(t, a, (*models.User)(nil), "")
}

func ssoCountIdentities(t *testing.T, a *testutil.App) int {
	t.Helper()
	return ssoCount(t, a, (*models.Identity)(nil), "")
}

// signedInSessions counts sessions bound to a user (to one user when ids
// names one).
func ssoSignedInSessions(t *testing.T, a *testutil.App, ids ...any) int {
	t.Helper()
	if len(ids) > 0 {
		return ssoCount(t, a, (*models.Session)(nil), "user_id = ?", ids[0])
	}
	return ssoCount(t, a, (*models.Session)(nil), "user_id IS NOT NULL")
}

func ssoUserByEmail(t *testing.T, a *testutil.App, email string) *models.User {
	t.Helper()
	u, err := models.UserByEmail(context.Background(), a.DB.Bun, email)
	require.NoError(t, err, "user %s", email)
	return u
}

func ssoIdentity(t *testing.T, a *testutil.App, provider, subject string) *models.Identity {
	t.Helper()
	i, err := models.IdentityByProviderSubject(context.Background(), a.DB.Bun, provider, subject)
	require.NoError(t, err, "identity %s/%s", provider, subject)
	return i
}

func ssoRequireNoIdentity(t *testing.T, a *testutil.App, provider, subject string) {
	t.Helper()
	_, err := models.IdentityByProviderSubject(context.Background(), a.DB.Bun, provider, subject)
	require.ErrorIs(t, err, models.ErrNotFound)
}

func ssoLoginAttempts(t *testing.T, a *testutil.App) []*models.LoginAttempt {
	t.Helper()
	var out []*models.LoginAttempt
	require.NoError(t, a.DB.Bun.NewSelect().Model(&out).Order("la.created_at").Scan(context.Background()))
	return out
}

// lastAttempt is the only (or newest) login attempt.
func ssoLastAttempt(t *testing.T, a *testutil.App) *models.LoginAttempt {
	t.Helper()
	all := ssoLoginAttempts(t, a)
	require.NotEmpty(t, all)
	return all[len(all)-1]
}

func ssoAuditRows(t *testing.T, a *testutil.App, action string) []*models.AuditLog {
	t.Helper()
	var out []*models.AuditLog
	require.NoError(t, a.DB.Bun.NewSelect().Model(&out).Where("a.action = ?", action).Order("a.seq").Scan(context.Background()))
	return out
}

// createUser inserts an account the way setup or the CLI does; password ""
// leaves it without one.
func ssoCreateUser(t *testing.T, a *testutil.App, email string, role models.Role, password string) *models.User {
	t.Helper()
	ctx := context.Background()
	u := &models.User{Email: email, Username: strings.Split(email, "@")[0], Name: "Existing", Role: role, IsActive: true}
	require.NoError(t, models.CreateUser(ctx, a.DB.Bun, models.SystemActor("test"), u))
	if password != "" {
		var err error
		u, err = models.SetUserPassword(ctx, a.DB.Bun, models.SystemActor("test"), u.ID, password)
		require.NoError(t, err)
	}
	return u
}

func ssoLinkIdentity(t *testing.T, a *testutil.App, u *models.User, provider, subject, email string, verified bool) {
	t.Helper()
	require.NoError(t, models.LinkIdentity(context.Background(), a.DB.Bun, models.SystemActor("test"), u.ID,
		&models.Identity{Provider: provider, Subject: subject, Email: email, EmailVerified: verified}))
}

// ---------------------------------------------------------------------------
// OIDC

func TestSSOOIDCSignUpCreatesAccount(t *testing.T) {
	t.Parallel()
	m := ssoStartOIDC(t)
	a, base := ssoOIDCApp(t, m, nil)

	m.QueueUser(ssoUser("sub-alice", "alice@example.com", true))
	b := ssoNewBrowser(t)
	ssoRequireDashboard(t, b.signIn(base, "oidc"))

	u := ssoUserByEmail(t, a, "alice@example.com")
	require.Equal(t, models.RoleViewer, u.Role, "DefaultRole defaults to viewer")
	require.True(t, u.IsActive)
	require.Nil(t, u.PasswordHash, "an SSO account has no password")
	require.Equal(t, "alice", u.Username)
	require.NotNil(t, u.LastLoginAt)
	id := ssoIdentity(t, a, "oidc", "sub-alice")
	require.Equal(t, u.ID, id.UserID)
	require.Equal(t, "alice@example.com", id.Email)
	require.True(t, id.EmailVerified)
	b.requireSignedInAs(base, "alice@example.com", models.RoleViewer)
	require.Equal(t, 1, ssoSignedInSessions(t, a, u.ID))

	att := ssoLoginAttempts(t, a)
	require.Len(t, att, 1)
	require.True(t, att[0].Success)
	require.Equal(t, "oidc", att[0].Method)
	require.Equal(t, "alice@example.com", att[0].Email)
	require.NotNil(t, att[0].UserID)
	require.Equal(t, u.ID, *att[0].UserID)
	for _, action := range []string{"user.create", "auth.login"} {
		rows := ssoAuditRows(t, a, action)
		require.Len(t, rows, 1, action)
		require.Equal(t, u.ID.String(), rows[0].ResourceID, action)
	}
	// Sign-up is one change: the identity is recorded in user.create.
	require.Empty(t, ssoAuditRows(t, a, "identity.link"))
	require.Contains(t, string(ssoAuditRows(t, a, "user.create")[0].NewValues), `"provider":"oidc"`)

	// The same subject again, now with another address at the provider, and
	// a page to return to: the same account, its identity refreshed.
	m.QueueUser(ssoUser("sub-alice", "alice.smith@example.com", true))
	b2 := ssoNewBrowser(t)
	r := b2.get(base + "/auth/oidc/login?next=/profile")
	require.Equal(t, http.StatusOK, r.status, r.summary(t))
	require.Equal(t, "/profile", r.url.Path)
	b2.requireSignedInAs(base, "alice@example.com", models.RoleViewer)
	require.Equal(t, 1, ssoCountUsers(t, a))
	require.Equal(t, 1, ssoCountIdentities(t, a))
	require.Equal(t, "alice.smith@example.com", ssoIdentity(t, a, "oidc", "sub-alice").Email)
	require.Len(t, ssoAuditRows(t, a, "user.create"), 1)
	require.Len(t, ssoAuditRows(t, a, "auth.login"), 2)
	require.Len(t, ssoAuditRows(t, a, "identity.update"), 1, "the email change at the provider is audited")
	require.Equal(t, 2, ssoSignedInSessions(t, a, u.ID))
}

func TestSSOOIDCRefusals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		change func(*handlers.SSOConfig)
		user   *mockoidc.MockUser
		reason []string
	}{
		{name: "unverified email", user: ssoUser("sub-1", "una@example.com", false), reason: []string{"not verified"}},
		{name: "domain not allowed", user: ssoUser("sub-2", "otto@other.org", true), reason: []string{"example.com", "other.org"}},
		{name: "look-alike domain", user: ssoUser("sub-3", "eve@example.com.other.org", true), reason: []string{"Only addresses at example.com"}},
		{name: "sign-up off", change: func(c *handlers.SSOConfig) { c.Signup = "off" },
			user: ssoUser("sub-4", "newbie@example.com", true), reason: []string{"sign-up is off"}},
		{name: "sign-up unset", change: func(c *handlers.SSOConfig) { c.Signup = "" },
			user: ssoUser("sub-5", "newbie@example.com", true), reason: []string{"sign-up is off"}},
		{name: "sign-up without domain rules", change: func(c *handlers.SSOConfig) { c.AllowedEmailDomains = nil },
			user: ssoUser("sub-6", "anyone@anywhere.test", true), reason: []string{"not open"}},
		{name: "sign-up without domain rules, unverified", change: func(c *handlers.SSOConfig) { c.AllowedEmailDomains = nil },
			user: ssoUser("sub-7", "anyone@anywhere.test", false), reason: []string{"not open"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := ssoStartOIDC(t)
			a, base := ssoOIDCApp(t, m, tc.change)
			m.QueueUser(tc.user)
			b := ssoNewBrowser(t)

			ssoRequireRejected(t, b.signIn(base, "oidc"), tc.reason...)
			b.requireSignedOut(base)
			require.Zero(t, ssoCountUsers(t, a))
			require.Zero(t, ssoCountIdentities(t, a))
			require.Zero(t, ssoSignedInSessions(t, a))
			att := ssoLoginAttempts(t, a)
			require.Len(t, att, 1)
			require.False(t, att[0].Success)
			require.Equal(t, models.ReasonRejected, att[0].Reason)
			require.Equal(t, "oidc", att[0].Method)
			require.Len(t, ssoAuditRows(t, a, "auth.login_failed"), 1)
			require.Empty(t, ssoAuditRows(t, a, "auth.login"))
			require.Empty(t, ssoAuditRows(t, a, "user.create"))
		})
	}
}

func TestSSOAdminEmails(t *testing.T) {
	t.Parallel()
	m := ssoStartOIDC(t)
	a, base := ssoOIDCApp(t, m, func(c *handlers.SSOConfig) {
		c.AdminEmails = []string{"boss@example.com"}
		c.DefaultRole = models.RoleUser
	})

	// The provider's capitals do not matter.
	m.QueueUser(ssoUser("sub-boss", "Boss@Example.com", true))
	boss := ssoNewBrowser(t)
	ssoRequireDashboard(t, boss.signIn(base, "oidc"))
	require.Equal(t, models.RoleAdmin, ssoUserByEmail(t, a, "boss@example.com").Role)
	boss.requireSignedInAs(base, "boss@example.com", models.RoleAdmin)

	m.QueueUser(ssoUser("sub-dev", "dev@example.com", true))
	dev := ssoNewBrowser(t)
	ssoRequireDashboard(t, dev.signIn(base, "oidc"))
	require.Equal(t, models.RoleUser, ssoUserByEmail(t, a, "dev@example.com").Role, "DefaultRole")
	dev.requireSignedInAs(base, "dev@example.com", models.RoleUser)
}

func TestSSOSignUpOffLetsLinkedAccountsIn(t *testing.T) {
	t.Parallel()
	m := ssoStartOIDC(t)
	a, base := ssoOIDCApp(t, m, func(c *handlers.SSOConfig) { c.Signup = "off" })
	carol := ssoCreateUser(t, a, "carol@example.com", models.RoleUser, "")
	ssoLinkIdentity(t, a, carol, "oidc", "sub-carol", "carol@example.com", true)

	m.QueueUser(ssoUser("sub-carol", "carol@example.com", true))
	b := ssoNewBrowser(t)
	ssoRequireDashboard(t, b.signIn(base, "oidc"))
	b.requireSignedInAs(base, "carol@example.com", models.RoleUser)
	require.Equal(t, 1, ssoCountUsers(t, a))
	require.Equal(t, 1, ssoSignedInSessions(t, a, carol.ID))
}

func TestSSODisabledUserRefused(t *testing.T) {
	t.Parallel()
	m := ssoStartOIDC(t)
	a, base := ssoOIDCApp(t, m, nil)
	m.QueueUser(ssoUser("sub-dan", "dan@example.com", true))
	ssoRequireDashboard(t, ssoNewBrowser(t).signIn(base, "oidc"))
	dan := ssoUserByEmail(t, a, "dan@example.com")
	_, err := models.SetUserActive(context.Background(), a.DB.Bun, models.SystemActor("test"), dan.ID, false)
	require.NoError(t, err)
	require.Zero(t, ssoSignedInSessions(t, a), "disabling ends the sessions")

	m.QueueUser(ssoUser("sub-dan", "dan@example.com", true))
	b := ssoNewBrowser(t)
	ssoRequireRejected(t, b.signIn(base, "oidc"), "disabled")
	b.requireSignedOut(base)
	require.Zero(t, ssoSignedInSessions(t, a))
	att := ssoLastAttempt(t, a)
	require.False(t, att.Success)
	require.Equal(t, models.ReasonDisabled, att.Reason)
	require.NotNil(t, att.UserID)
	require.Equal(t, dan.ID, *att.UserID)
}

// An api_user account is for programs: admissible refuses it the HTML
// pages, and that must hold on the sign-in that creates the account too.
func TestSSOAPIOnlyDefaultRoleNeverGetsASession(t *testing.T) {
	t.Parallel()
	m := ssoStartOIDC(t)
	a, base := ssoOIDCApp(t, m, func(c *handlers.SSOConfig) { c.DefaultRole = models.RoleAPIUser })

	for i := range 2 {
		m.QueueUser(ssoUser("sub-bot", "bot@example.com", true))
		b := ssoNewBrowser(t)
		r := b.stepTo(b.toCallback(base, "oidc").String())
		assert.Equal(t, http.StatusForbidden, r.status, "sign-in %d: %s", i+1, r.summary(t))
		assert.Equal(t, 1, r.doc(t).Find(`[data-testid="signin-rejected"]`).Length(), "sign-in %d: the refusal page", i+1)
		assert.Zero(t, ssoSignedInSessions(t, a), "sign-in %d: no session for an api_user", i+1)
	}
}

// ---------------------------------------------------------------------------
// State, nonce and PKCE

func TestSSOCallbackState(t *testing.T) {
	t.Parallel()

	// noSession checks that a refused callback signed nobody in.
	noSession := func(t *testing.T, a *testutil.App, b *ssoBrowser, base string) {
		t.Helper()
		b.requireSignedOut(base)
		require.Zero(t, ssoSignedInSessions(t, a))
		require.Zero(t, ssoCountUsers(t, a))
		for _, att := range ssoLoginAttempts(t, a) {
			require.False(t, att.Success)
		}
	}

	t.Run("no sign-in started", func(t *testing.T) {
		t.Parallel()
		m := ssoStartOIDC(t)
		a, base := ssoOIDCApp(t, m, nil)
		b := ssoNewBrowser(t)
		ssoRequireBadState(t, b.get(base+"/auth/oidc/callback?code=x"))
		ssoRequireBadState(t, b.get(base+"/auth/oidc/callback?code=x&state=guess"))
		noSession(t, a, b, base)
	})

	t.Run("state missing", func(t *testing.T) {
		t.Parallel()
		m := ssoStartOIDC(t)
		a, base := ssoOIDCApp(t, m, nil)
		b := ssoNewBrowser(t)
		cb := b.toCallback(base, "oidc")
		q := cb.Query()
		q.Del("state")
		cb.RawQuery = q.Encode()
		ssoRequireBadState(t, b.get(cb.String()))
		noSession(t, a, b, base)
	})

	t.Run("wrong state consumes the pending sign-in", func(t *testing.T) {
		t.Parallel()
		m := ssoStartOIDC(t)
		a, base := ssoOIDCApp(t, m, nil)
		b := ssoNewBrowser(t)
		cb := b.toCallback(base, "oidc")
		wrong := *cb
		q := wrong.Query()
		q.Set("state", "wrong")
		wrong.RawQuery = q.Encode()
		ssoRequireBadState(t, b.get(wrong.String()))
		ssoRequireBadState(t, b.get(cb.String()))
		noSession(t, a, b, base)
	})

	t.Run("callback replayed after success", func(t *testing.T) {
		t.Parallel()
		m := ssoStartOIDC(t)
		a, base := ssoOIDCApp(t, m, nil)
		b := ssoNewBrowser(t)
		m.QueueUser(ssoUser("sub-rita", "rita@example.com", true))
		cb := b.toCallback(base, "oidc")
		ssoRequireDashboard(t, b.get(cb.String()))
		ssoRequireBadState(t, b.get(cb.String()))
		other := ssoNewBrowser(t)
		ssoRequireBadState(t, other.get(cb.String()))
		other.requireSignedOut(base)
		require.Equal(t, 1, ssoSignedInSessions(t, a))
	})

	t.Run("callback opened in another browser", func(t *testing.T) {
		t.Parallel()
		m := ssoStartOIDC(t)
		a, base := ssoOIDCApp(t, m, nil)
		m.QueueUser(ssoUser("sub-vic", "vic@example.com", true))
		attacker, victim := ssoNewBrowser(t), ssoNewBrowser(t)
		cb := attacker.toCallback(base, "oidc")
		// Login CSRF: the attacker's callback URL in the victim's browser.
		ssoRequireBadState(t, victim.get(cb.String()))
		noSession(t, a, victim, base)
		// It neither burnt the attacker's own pending sign-in nor the code.
		ssoRequireDashboard(t, attacker.get(cb.String()))
	})

	t.Run("pending sign-in expired", func(t *testing.T) {
		t.Parallel()
		m := ssoStartOIDC(t)
		a, base := ssoOIDCApp(t, m, nil)
		// Nine minutes at the provider is fine…
		m.QueueUser(ssoUser("sub-slow", "slow@example.com", true))
		slow := ssoNewBrowser(t)
		cb := slow.toCallback(base, "oidc")
		a.Clock.Advance(9 * time.Minute)
		ssoRequireDashboard(t, slow.get(cb.String()))
		// … eleven is not.
		b := ssoNewBrowser(t)
		cb = b.toCallback(base, "oidc")
		a.Clock.Advance(11 * time.Minute)
		ssoRequireBadState(t, b.get(cb.String()))
		b.requireSignedOut(base)
		require.Equal(t, 1, ssoSignedInSessions(t, a), "only the first browser's")
		require.Equal(t, 1, ssoCountUsers(t, a))
	})

	t.Run("provider reports an error", func(t *testing.T) {
		t.Parallel()
		m := ssoStartOIDC(t)
		a, base := ssoOIDCApp(t, m, func(c *handlers.SSOConfig) { c.OIDCName = "Acme SSO" })
		b := ssoNewBrowser(t)
		state := b.toCallback(base, "oidc").Query().Get("state")
		q := url.Values{"error": {"access_denied"}, "error_description": {"The user cancelled"}, "state": {state}}
		ssoRequireRejected(t, b.get(base+"/auth/oidc/callback?"+q.Encode()), "Acme SSO did not sign you in: The user cancelled")
		noSession(t, a, b, base)
		att := ssoLoginAttempts(t, a)
		require.Len(t, att, 1)
		require.Equal(t, models.ReasonRejected, att[0].Reason)
	})

	t.Run("provider error with a wrong state", func(t *testing.T) {
		t.Parallel()
		m := ssoStartOIDC(t)
		a, base := ssoOIDCApp(t, m, nil)
		b := ssoNewBrowser(t)
		b.toCallback(base, "oidc")
		ssoRequireBadState(t, b.get(base+"/auth/oidc/callback?error=access_denied&state=wrong"))
		noSession(t, a, b, base)
	})

	t.Run("no code", func(t *testing.T) {
		t.Parallel()
		m := ssoStartOIDC(t)
		a, base := ssoOIDCApp(t, m, nil)
		b := ssoNewBrowser(t)
		state := b.toCallback(base, "oidc").Query().Get("state")
		ssoRequireRejected(t, b.get(base+"/auth/oidc/callback?state="+url.QueryEscape(state)), "did not complete")
		noSession(t, a, b, base)
	})
}

// The authorisation request is altered on its way to the provider: the ID
// token then carries another nonce, or the code is bound to another PKCE
// challenge. Either way nobody signs in.
func TestSSOTamperedAuthorizeRequest(t *testing.T) {
	t.Parallel()
	otherVerifier := oauth2.GenerateVerifier()
	cases := []struct {
		name, param, value, reason string
	}{
		{"nonce", "nonce", rand.Text(), "does not belong to this sign-in"},
		{"PKCE challenge", "code_challenge", oauth2.S256ChallengeFromVerifier(otherVerifier), "did not accept the sign-in"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := ssoStartOIDC(t)
			a, base := ssoOIDCApp(t, m, nil)
			m.QueueUser(ssoUser("sub-mal", "mal@example.com", true))
			b := ssoNewBrowser(t)
			authorize, err := url.Parse(b.stepTo(base + "/auth/oidc/login").location(t))
			require.NoError(t, err)
			q := authorize.Query()
			require.NotEmpty(t, q.Get(tc.param))
			q.Set(tc.param, tc.value)
			authorize.RawQuery = q.Encode()

			ssoRequireRejected(t, b.get(authorize.String()), tc.reason)
			b.requireSignedOut(base)
			require.Zero(t, ssoSignedInSessions(t, a))
			require.Zero(t, ssoCountUsers(t, a))
		})
	}
}

// ---------------------------------------------------------------------------
// Account linking and takeover

func TestSSOExistingAccountWithSameEmail(t *testing.T) {
	t.Parallel()
	const email = "victim@example.com"
	local := func(t *testing.T, a *testutil.App) *models.User {
		t.Helper()
		return ssoCreateUser(t, a, email, models.RoleUser, testutil.TestPassword)
	}
	cases := []struct {
		name    string
		linking bool
		victim  func(*testing.T, *testutil.App) *models.User
		login   *mockoidc.MockUser
		linked  bool
		reason  string
	}{
		{name: "linking off", victim: local, login: ssoUser("sub-x", email, true), reason: "already exists"},
		{name: "linking off, address in capitals", victim: local, login: ssoUser("sub-x", "VICTIM@Example.com", true), reason: "already exists"},
		{name: "linking on", linking: true, victim: local, login: ssoUser("sub-x", email, true), linked: true},
		{name: "linking on, provider did not verify the address", linking: true, victim: local,
			login: ssoUser("sub-x", email, false), reason: "already exists"},
		{name: "linking on, address verified by another provider", linking: true,
			victim: func(t *testing.T, a *testutil.App) *models.User {
				t.Helper()
				u := ssoCreateUser(t, a, email, models.RoleUser, "")
				ssoLinkIdentity(t, a, u, "github", "1", email, true)
				return u
			},
			login: ssoUser("sub-x", email, true), linked: true},
		{name: "linking on, account's address never verified", linking: true,
			victim: func(t *testing.T, a *testutil.App) *models.User {
				t.Helper()
				u := ssoCreateUser(t, a, email, models.RoleUser, "")
				ssoLinkIdentity(t, a, u, "github", "1", email, false)
				return u
			},
			login: ssoUser("sub-x", email, true), reason: "already exists"},
		// canLink's contract: an address an administrator entered (the CLI
		// creates accounts without a password) counts as verified.
		{name: "linking on, account created by an administrator", linking: true,
			victim: func(t *testing.T, a *testutil.App) *models.User {
				t.Helper()
				return ssoCreateUser(t, a, email, models.RoleUser, "")
			},
			login: ssoUser("sub-x", email, true), linked: true},
		// An invitation: an account an administrator created for SSO (no
		// password, no identity yet) is claimed even with linking off.
		{name: "linking off, account created by an administrator", linking: false,
			victim: func(t *testing.T, a *testutil.App) *models.User {
				t.Helper()
				return ssoCreateUser(t, a, email, models.RoleUser, "")
			},
			login: ssoUser("sub-x", email, true), linked: true},
		{name: "linking off, invited account, provider did not verify the address", linking: false,
			victim: func(t *testing.T, a *testutil.App) *models.User {
				t.Helper()
				return ssoCreateUser(t, a, email, models.RoleUser, "")
			},
			login: ssoUser("sub-x", email, false), reason: "already exists"},
		{name: "linking on, account disabled", linking: true,
			victim: func(t *testing.T, a *testutil.App) *models.User {
				t.Helper()
				u := local(t, a)
				_, err := models.SetUserActive(context.Background(), a.DB.Bun, models.SystemActor("test"), u.ID, false)
				require.NoError(t, err)
				return u
			},
			login: ssoUser("sub-x", email, true), reason: "disabled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := ssoStartOIDC(t)
			a, base := ssoOIDCApp(t, m, func(c *handlers.SSOConfig) {
				c.Signup, c.AllowedEmailDomains, c.AccountLinking = "off", nil, tc.linking
			})
			victim := tc.victim(t, a)
			identities := ssoCountIdentities(t, a)
			m.QueueUser(tc.login)
			b := ssoNewBrowser(t)
			r := b.signIn(base, "oidc")

			require.Equal(t, 1, ssoCountUsers(t, a), "never a second account")
			if tc.linked {
				ssoRequireDashboard(t, r)
				b.requireSignedInAs(base, email, victim.Role)
				require.Equal(t, victim.ID, ssoIdentity(t, a, "oidc", "sub-x").UserID)
				links := ssoAuditRows(t, a, "identity.link")
				require.NotEmpty(t, links)
				require.Equal(t, victim.ID.String(), links[len(links)-1].ResourceID)
				require.Equal(t, 1, ssoSignedInSessions(t, a, victim.ID))
				return
			}
			ssoRequireRejected(t, r, tc.reason)
			b.requireSignedOut(base)
			ssoRequireNoIdentity(t, a, "oidc", "sub-x")
			require.Equal(t, identities, ssoCountIdentities(t, a))
			require.Zero(t, ssoSignedInSessions(t, a))
			require.False(t, ssoLastAttempt(t, a).Success)
		})
	}
}

// A subject is only unique at its provider: the same "sub" from another
// provider is someone else.
func TestSSOIdentitiesArePerProvider(t *testing.T) {
	t.Parallel()
	oidcIdP, google := ssoStartOIDC(t), ssoStartOIDC(t)
	a, base := ssoApp(t, handlers.SSOConfig{
		OIDC: ssoClientOf(oidcIdP), OIDCIssuer: oidcIdP.Issuer(),
		Google: ssoClientOf(google), GoogleIssuer: google.Issuer(),
		Signup: "allowed-domains", AllowedEmailDomains: []string{"example.com"},
	})
	login := ssoNewBrowser(t).get(base + "/login")
	require.Equal(t, 1, login.doc(t).Find(`[data-testid="sso-google"]`).Length())
	require.Equal(t, 1, login.doc(t).Find(`[data-testid="sso-oidc"]`).Length())

	google.QueueUser(&ssoGoogleUser{MockUser: ssoUser("same-sub", "gina@example.com", true), HD: "example.com"})
	ssoRequireDashboard(t, ssoNewBrowser(t).signIn(base, "google"))
	gina := ssoUserByEmail(t, a, "gina@example.com")
	require.Equal(t, gina.ID, ssoIdentity(t, a, "google", "same-sub").UserID)

	oidcIdP.QueueUser(ssoUser("same-sub", "gina@example.com", true))
	b := ssoNewBrowser(t)
	ssoRequireRejected(t, b.signIn(base, "oidc"), "already exists")
	b.requireSignedOut(base)
	ssoRequireNoIdentity(t, a, "oidc", "same-sub")
	require.Equal(t, 1, ssoCountUsers(t, a))
}

// ---------------------------------------------------------------------------
// Google (OIDC with the hd claim)

func TestSSOGoogle(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		domains []string
		user    *ssoGoogleUser
		ok      bool
		reason  string
	}{
		{name: "Workspace account", domains: []string{"example.com"},
			user: &ssoGoogleUser{MockUser: ssoUser("g-1", "ann@example.com", true), HD: "example.com"}, ok: true},
		{name: "personal account with an allowed address", domains: []string{"example.com"},
			user: &ssoGoogleUser{MockUser: ssoUser("g-2", "ann@example.com", true)}, reason: "Workspace"},
		{name: "Workspace of another domain", domains: []string{"example.com"},
			user: &ssoGoogleUser{MockUser: ssoUser("g-3", "ann@example.com", true), HD: "other.org"}, reason: "Workspace"},
		{name: "Workspace account, unverified", domains: []string{"example.com"},
			user: &ssoGoogleUser{MockUser: ssoUser("g-4", "ann@example.com", false), HD: "example.com"}, reason: "not verified"},
		{name: "two allowed domains", domains: []string{"example.com", "example.org"},
			user: &ssoGoogleUser{MockUser: ssoUser("g-5", "ann@example.org", true), HD: "example.org"}, ok: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := ssoStartOIDC(t)
			a, base := ssoApp(t, handlers.SSOConfig{
				Google: ssoClientOf(g), GoogleIssuer: g.Issuer(),
				Signup: "allowed-domains", AllowedEmailDomains: tc.domains,
			})
			g.QueueUser(tc.user)
			b := ssoNewBrowser(t)
			r := b.signIn(base, "google")

			// What went to "Google".
			q := b.hop("/authorize").Query()
			require.Equal(t, g.Config().ClientID, q.Get("client_id"))
			require.Equal(t, base+"/auth/google/callback", q.Get("redirect_uri"))
			require.Equal(t, "code", q.Get("response_type"))
			require.ElementsMatch(t, []string{"openid", "email", "profile"}, strings.Fields(q.Get("scope")))
			require.Len(t, q.Get("state"), 43, "32 random bytes")
			require.Len(t, q.Get("nonce"), 43, "32 random bytes")
			require.NotEqual(t, q.Get("state"), q.Get("nonce"))
			require.Len(t, q.Get("code_challenge"), 43, "a SHA-256 in base64url")
			require.Equal(t, "S256", q.Get("code_challenge_method"))
			if len(tc.domains) == 1 {
				require.Equal(t, tc.domains[0], q.Get("hd"))
			} else {
				require.False(t, q.Has("hd"), "no hint when several domains are allowed")
			}

			if tc.ok {
				ssoRequireDashboard(t, r)
				u := ssoUserByEmail(t, a, tc.user.Email)
				require.Equal(t, u.ID, ssoIdentity(t, a, "google", tc.user.Subject).UserID)
				b.requireSignedInAs(base, tc.user.Email, models.RoleViewer)
				require.Equal(t, "google", ssoLastAttempt(t, a).Method)
				return
			}
			ssoRequireRejected(t, r, tc.reason)
			b.requireSignedOut(base)
			require.Zero(t, ssoCountUsers(t, a))
			require.Zero(t, ssoSignedInSessions(t, a))
		})
	}
}

// ---------------------------------------------------------------------------
// GitHub

// ssoFakeGitHub is the part of GitHub (or GitHub Enterprise at /api/v3) the
// sign-in uses.
type ssoFakeGitHub struct {
	*httptest.Server
	clientID, secret string

	mu        sync.Mutex
	user      string            // GET /user
	emails    string            // GET /user/emails; "" answers 403 (no user:email scope)
	orgs      map[string]string // org → membership state; absent: 404
	codes     map[string]bool
	authorize []url.Values
}

const ssoGitHubToken = "gho_codex32test"

const (
	ssoOctocatPrivate = `{"login":"octocat","id":583231,"name":"Octo Cat","email":null}`
	ssoOctocatPublic  = `{"login":"octocat","id":583231,"name":"Octo Cat","email":"octo@example.com"}`
	ssoOctoVerified   = `[{"email":"old@example.net","primary":false,"verified":true,"visibility":null},` +
		`{"email":"octo@example.com","primary":true,"verified":true,"visibility":"private"}]`
	ssoOctoUnverified = `[{"email":"old@example.net","primary":false,"verified":true,"visibility":null},` +
		`{"email":"octo@example.com","primary":true,"verified":false,"visibility":"private"}]`
)

func ssoStartGitHub(t *testing.T) *ssoFakeGitHub {
	t.Helper()
	f := &ssoFakeGitHub{
		clientID: "gh-client", secret: "gh-secret",
		user: ssoOctocatPrivate, emails: ssoOctoVerified,
		orgs: map[string]string{"acme": "active"}, codes: map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", f.serveAuthorize)
	mux.HandleFunc("POST /login/oauth/access_token", f.serveToken)
	mux.HandleFunc("GET /api/v3/user", f.api(func(*http.Request) (int, string) { return http.StatusOK, f.user }))
	mux.HandleFunc("GET /api/v3/user/emails", f.api(func(*http.Request) (int, string) {
		if f.emails == "" {
			return http.StatusForbidden, `{"message":"Resource not accessible by integration"}`
		}
		return http.StatusOK, f.emails
	}))
	mux.HandleFunc("GET /api/v3/user/memberships/orgs/{org}", f.api(func(r *http.Request) (int, string) {
		state, ok := f.orgs[strings.ToLower(r.PathValue("org"))]
		if !ok {
			return http.StatusNotFound, `{"message":"Not Found","status":"404"}`
		}
		return http.StatusOK, `{"state":"` + state + `","role":"member","organization":{"login":"` + r.PathValue("org") + `"}}`
	}))
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

// set changes what the fake answers.
func (f *ssoFakeGitHub) set(change func(f *ssoFakeGitHub)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

// The browser leg: GitHub would ask for consent; this sends it straight back.
func (f *ssoFakeGitHub) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	f.authorize = append(f.authorize, q)
	f.mu.Unlock()
	if q.Get("client_id") != f.clientID {
		http.Error(w, "unknown client", http.StatusBadRequest)
		return
	}
	cb, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	code := rand.Text()
	f.mu.Lock()
	f.codes[code] = true
	f.mu.Unlock()
	v := cb.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	cb.RawQuery = v.Encode()
	http.Redirect(w, r, cb.String(), http.StatusFound)
}

// The code exchange: client credentials by Basic auth or in the form; each
// code works once.
func (f *ssoFakeGitHub) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	f.mu.Lock()
	valid := id == f.clientID && secret == f.secret && f.codes[r.PostForm.Get("code")]
	if valid {
		delete(f.codes, r.PostForm.Get("code"))
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !valid {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"bad_verification_code"}`)
		return
	}
	_, _ = io.WriteString(w, `{"access_token":"`+ssoGitHubToken+`","token_type":"bearer","scope":"read:org,user:email"}`)
}

func (f *ssoFakeGitHub) api(answer func(*http.Request) (int, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+ssoGitHubToken {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"message":"Bad credentials"}`)
			return
		}
		f.mu.Lock()
		status, body := answer(r)
		f.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func (f *ssoFakeGitHub) lastAuthorize(t *testing.T) url.Values {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.NotEmpty(t, f.authorize)
	return f.authorize[len(f.authorize)-1]
}

func ssoGitHubApp(t *testing.T, f *ssoFakeGitHub, change func(*handlers.SSOConfig)) (*testutil.App, string) {
	t.Helper()
	cfg := handlers.SSOConfig{
		GitHub: &handlers.OAuthClient{ID: f.clientID, Secret: f.secret}, GitHubBaseURL: f.URL,
		GitHubAllowedOrgs: []string{"acme"}, Signup: "allowed-domains",
	}
	if change != nil {
		change(&cfg)
	}
	return ssoApp(t, cfg)
}

func TestSSOGitHub(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		change func(*ssoFakeGitHub)
		ok     bool
		reason []string
	}{
		{name: "member", ok: true},
		{name: "member with a public profile address", change: func(f *ssoFakeGitHub) { f.user = ssoOctocatPublic }, ok: true},
		{name: "not a member", change: func(f *ssoFakeGitHub) { delete(f.orgs, "acme") }, reason: []string{"acme"}},
		{name: "invitation not accepted", change: func(f *ssoFakeGitHub) { f.orgs["acme"] = "pending" }, reason: []string{"acme"}},
		{name: "member of another organisation", change: func(f *ssoFakeGitHub) {
			delete(f.orgs, "acme")
			f.orgs["other"] = "active"
		}, reason: []string{"acme"}},
		{name: "primary address unverified, public profile address",
			change: func(f *ssoFakeGitHub) { f.user, f.emails = ssoOctocatPublic, ssoOctoUnverified }, reason: []string{"not verified"}},
		// goth's FetchUser fails on its own when the profile has no public
		// address and the primary one is unverified: the person must still
		// get the real reason.
		{name: "primary address unverified, private profile address",
			change: func(f *ssoFakeGitHub) { f.emails = ssoOctoUnverified }, reason: []string{"not verified"}},
		{name: "addresses not readable, public profile address",
			change: func(f *ssoFakeGitHub) { f.user, f.emails = ssoOctocatPublic, "" }, reason: []string{"user:email"}},
		{name: "addresses not readable, private profile address",
			change: func(f *ssoFakeGitHub) { f.emails = "" }, reason: []string{"user:email"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := ssoStartGitHub(t)
			if tc.change != nil {
				f.set(tc.change)
			}
			a, base := ssoGitHubApp(t, f, nil)
			b := ssoNewBrowser(t)
			r := b.signIn(base, "github")

			q := f.lastAuthorize(t)
			require.Equal(t, base+"/auth/github/callback", q.Get("redirect_uri"))
			require.ElementsMatch(t, []string{"read:org", "user:email"}, strings.Fields(q.Get("scope")))
			require.Len(t, q.Get("state"), 43)

			if tc.ok {
				ssoRequireDashboard(t, r)
				u := ssoUserByEmail(t, a, "octo@example.com")
				require.Equal(t, "octocat", u.Username)
				require.Equal(t, "Octo Cat", u.Name)
				require.Equal(t, models.RoleViewer, u.Role)
				id := ssoIdentity(t, a, "github", "583231")
				require.Equal(t, u.ID, id.UserID)
				require.Equal(t, "octo@example.com", id.Email)
				require.True(t, id.EmailVerified)
				b.requireSignedInAs(base, "octo@example.com", models.RoleViewer)
				att := ssoLastAttempt(t, a)
				require.True(t, att.Success)
				require.Equal(t, "github", att.Method)
				return
			}
			ssoRequireRejected(t, r, tc.reason...)
			b.requireSignedOut(base)
			require.Zero(t, ssoCountUsers(t, a))
			require.Zero(t, ssoSignedInSessions(t, a))
			require.False(t, ssoLastAttempt(t, a).Success)
		})
	}
}

// A returning GitHub user is checked again every time.
func TestSSOGitHubReturningUser(t *testing.T) {
	t.Parallel()

	t.Run("membership revoked", func(t *testing.T) {
		t.Parallel()
		f := ssoStartGitHub(t)
		a, base := ssoGitHubApp(t, f, nil)
		ssoRequireDashboard(t, ssoNewBrowser(t).signIn(base, "github"))
		f.set(func(f *ssoFakeGitHub) { delete(f.orgs, "acme") })
		b := ssoNewBrowser(t)
		ssoRequireRejected(t, b.signIn(base, "github"), "acme")
		b.requireSignedOut(base)
		require.Equal(t, 1, ssoSignedInSessions(t, a), "only the first sign-in's session")
	})

	// The account is found by GitHub's user id; whether the primary address
	// is verified today matters only for creating or linking an account.
	t.Run("primary address no longer verified", func(t *testing.T) {
		t.Parallel()
		f := ssoStartGitHub(t)
		a, base := ssoGitHubApp(t, f, func(c *handlers.SSOConfig) { c.Signup = "off" })
		octo := ssoCreateUser(t, a, "octo@example.com", models.RoleUser, "")
		ssoLinkIdentity(t, a, octo, "github", "583231", "octo@example.com", true)
		f.set(func(f *ssoFakeGitHub) { f.emails = ssoOctoUnverified })
		b := ssoNewBrowser(t)
		ssoRequireDashboard(t, b.signIn(base, "github"))
		b.requireSignedInAs(base, "octo@example.com", models.RoleUser)
	})
}

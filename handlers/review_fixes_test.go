package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

func TestParallelGuessesAreThrottledToo(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	u := testutil.CreateUserWithPassword(t, a.DB, models.RoleUser)
	c := a.Client(t)
	c.Get("/login")
	const n = 12
	codes := make([]int, n)
	errs := make([]error, n) // asserted after Wait: require cannot stop the test from another goroutine
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			form := url.Values{"email": {u.Email}, "password": {"guess " + itoa(i)}, "_csrf": {c.CSRF}}
			req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/login", stringsReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(&http.Cookie{Name: a.Sessions.CookieName(), Value: c.Cookie(a.Sessions.CookieName())}) //nolint:gosec // G124: a request cookie (name and value only)
			resp, err := a.Fiber.Test(req, -1)
			if err != nil {
				errs[i] = err
				return
			}
			_ = resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	wrong := 0
	for _, code := range codes {
		require.Contains(t, []int{http.StatusUnauthorized, http.StatusTooManyRequests}, code)
		if code == http.StatusUnauthorized {
			wrong++
		}
	}
	require.LessOrEqual(t, wrong, 5, "at most five passwords are actually checked: %v", codes)
	// Racing attempts can throttle each other early (pending ones count);
	// once five wrong passwords are on record, even the right one waits.
	r := c.Post("/login", url.Values{"email": {u.Email}, "password": {testutil.TestPassword}})
	if wrong == 5 {
		require.Equal(t, http.StatusTooManyRequests, r.StatusCode)
	} else {
		require.Equal(t, http.StatusSeeOther, r.StatusCode)
	}
}

func TestViewersDoNotSeeTheAuditTrail(t *testing.T) {
	t.Parallel()
	a, c, _ := signedIn(t, models.RoleViewer)
	owner := testutil.CreateUser(t, a.DB, models.RoleUser)
	b := &models.Bot{OwnerID: owner.ID, Name: "b", Kind: models.KindHTTP}
	_, err := models.CreateBot(bg, a.DB.Bun, models.SystemActor("test"), b, []byte(`{}`), "")
	require.NoError(t, err)
	require.Zero(t, c.Get("/bots/"+b.ID.String()).Doc(t).Find(`[data-testid="tab-audit"]`).Length())
	require.Equal(t, http.StatusForbidden, c.Get("/bots/"+b.ID.String()+"?tab=audit").StatusCode)
}

func TestHTMXPostAfterSessionExpiryGoesToLogin(t *testing.T) {
	t.Parallel()
	a, c, _ := signedIn(t, models.RoleAdmin)
	token := c.CSRF
	_, err := a.DB.Bun.NewDelete().Model((*models.Session)(nil)).Where("1 = 1").Exec(bg) // expired / ended
	require.NoError(t, err)
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/audit/verify", nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", token)
	r := c.Do(req)
	require.Equal(t, http.StatusUnauthorized, r.StatusCode)
	require.Equal(t, "/login", r.Header.Get("HX-Redirect"))
}

func TestAnonymousErrorPagesCreateNoSessions(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	for range 5 {
		require.Equal(t, http.StatusNotFound, a.Client(t).Get("/no/such/page").StatusCode)
	}
	require.Zero(t, countRows(t, a, "sessions", ""), "a crawler without cookies leaves nothing behind")
	a.Client(t).Get("/login")
	require.Equal(t, 1, countRows(t, a, "sessions", ""), "the sign-in form needs one (its CSRF token)")
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

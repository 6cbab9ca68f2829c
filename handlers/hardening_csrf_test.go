package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/models"
)

// The CSRF token counts only from the form body or the X-CSRF-Token
// header: a token in a URL leaks through logs, history and Referer, and a
// link carrying one must not be able to change anything.
func TestCSRFTokenIsNotTakenFromTheQueryString(t *testing.T) {
	t.Parallel()
	_, c, _ := signedIn(t, models.RoleUser)
	token := c.CSRF
	require.NotEmpty(t, token)
	post := func(path string, form url.Values, header http.Header) int {
		t.Helper()
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, vs := range header {
			req.Header[k] = vs
		}
		return c.Do(req).StatusCode
	}
	endOthers := "/profile/sessions/end-others"
	require.Equal(t, http.StatusForbidden, post(endOthers+"?_csrf="+url.QueryEscape(token), url.Values{}, nil), "token in the query only")
	require.Equal(t, http.StatusForbidden, post(endOthers+"?_csrf="+url.QueryEscape(token), url.Values{"_csrf": {"wrong"}}, nil), "the query does not win either")
	require.Equal(t, http.StatusForbidden, post(endOthers+"?_csrf="+url.QueryEscape(token), nil, http.Header{"Hx-Request": {"true"}}), "nor for htmx")

	// The two places that do count.
	require.Equal(t, http.StatusSeeOther, post(endOthers, url.Values{"_csrf": {token}}, nil), "form body")
	require.Equal(t, http.StatusSeeOther, post(endOthers, url.Values{}, http.Header{"X-Csrf-Token": {token}}), "header")
	// Still signed in: the refused posts changed nothing.
	require.Equal(t, http.StatusOK, c.Get("/profile").StatusCode)
}

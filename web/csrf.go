package web

import (
	"crypto/subtle"

	"github.com/gofiber/fiber/v2"
)

const keyCSRF = "csrf"

// CSRFFormField and CSRFHeader carry the token: forms post a hidden field,
// htmx sends the header (set once on <body hx-headers>).
const (
	CSRFFormField = "_csrf"
	CSRFHeader    = "X-CSRF-Token"
)

// CSRFToken returns the session's CSRF token, creating it if needed.
func CSRFToken(c *fiber.Ctx) string {
	rs := Session(c)
	if rs == nil {
		return ""
	}
	if t := rs.Get(keyCSRF); t != "" {
		return t
	}
	t, err := randomToken(32)
	if err != nil {
		return ""
	}
	rs.Set(keyCSRF, t)
	return t
}

// ExistingCSRFToken returns the session's token without creating one.
func ExistingCSRFToken(c *fiber.Ctx) string {
	if rs := Session(c); rs != nil {
		return rs.Get(keyCSRF)
	}
	return ""
}

// ErrCSRF is the answer to a state-changing request without a valid token.
var ErrCSRF = fiber.NewError(fiber.StatusForbidden, "The form has expired or did not come from this site. Reload the page and try again.")

// CSRF refuses POST, PUT, PATCH and DELETE requests whose token (form field
// of the body, or header; never the query string) does not match the
// session's. GET never changes anything.
func CSRF() fiber.Handler {
	return func(c *fiber.Ctx) error {
		switch c.Method() {
		case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
			return c.Next()
		}
		rs := Session(c)
		want := ""
		if rs != nil {
			want = rs.Get(keyCSRF)
		}
		got := c.Get(CSRFHeader)
		if got == "" {
			got = formBodyValue(c, CSRFFormField)
		}
		if want == "" && CurrentUser(c) == nil && IsHTMX(c) {
			// The session expired under an open page: send the browser to
			// sign in rather than show a form error in a fragment.
			c.Set("HX-Redirect", "/login")
			return c.SendStatus(fiber.StatusUnauthorized)
		}
		if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			return ErrCSRF
		}
		return c.Next()
	}
}

// formBodyValue reads a field of the request body (urlencoded or
// multipart) — never of the query string, as c.FormValue would: a token in
// a URL leaks through logs, history and Referer.
func formBodyValue(c *fiber.Ctx, name string) string {
	if v := c.Request().PostArgs().Peek(name); len(v) > 0 {
		return string(v)
	}
	if mf, err := c.MultipartForm(); err == nil {
		if vs := mf.Value[name]; len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

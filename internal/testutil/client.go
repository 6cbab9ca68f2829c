package testutil

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// Client drives the app in memory like a browser: it keeps cookies and
// sends the CSRF token it last saw in a page.
type Client struct {
	t       testing.TB
	app     *App
	cookies map[string]*http.Cookie
	CSRF    string
	// Header is added to every request.
	Header http.Header
}

// Client returns a fresh, signed-out client.
func (a *App) Client(tb testing.TB) *Client {
	tb.Helper()
	return &Client{t: tb, app: a, cookies: map[string]*http.Cookie{}, Header: http.Header{}}
}

// Response is a finished response with its body read.
type Response struct {
	*http.Response
	Body string
}

// Doc parses the body as HTML.
func (r *Response) Doc(tb testing.TB) *goquery.Document {
	tb.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(r.Body))
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// Do sends req with the client's cookies and returns the response (no
// redirects are followed).
func (c *Client) Do(req *http.Request) *Response {
	c.t.Helper()
	for _, ck := range c.cookies {
		req.AddCookie(ck)
	}
	for k, vs := range c.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := c.app.Fiber.Test(req, -1)
	if err != nil {
		c.t.Fatalf("testutil: %s %s: %v", req.Method, req.URL, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = &http.Cookie{Name: ck.Name, Value: ck.Value} //nolint:gosec // G124: a request cookie (name and value only), like a browser's jar
		}
	}
	r := &Response{Response: resp, Body: string(body)}
	if strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		if d, err := goquery.NewDocumentFromReader(strings.NewReader(r.Body)); err == nil {
			if v, ok := d.Find(`input[name="_csrf"]`).First().Attr("value"); ok && v != "" {
				c.CSRF = v
			}
		}
	}
	return r
}

// NewRequest builds a request to send with Do, bound to the test's context.
func (c *Client) NewRequest(method, path string, body io.Reader) *http.Request {
	return httptest.NewRequestWithContext(c.t.Context(), method, path, body)
}

// Get fetches path.
func (c *Client) Get(path string) *Response {
	c.t.Helper()
	return c.Do(c.NewRequest(http.MethodGet, path, nil))
}

// Post submits a form to path, adding the CSRF token unless the form has one.
func (c *Client) Post(path string, form url.Values) *Response {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["_csrf"]; !ok && c.CSRF != "" {
		form.Set("_csrf", c.CSRF)
	}
	req := c.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.Do(req)
}

// Cookie returns the value of a cookie the client holds ("" if none).
func (c *Client) Cookie(name string) string {
	if ck, ok := c.cookies[name]; ok {
		return ck.Value
	}
	return ""
}

// SetCookie sets a cookie the client sends.
func (c *Client) SetCookie(name, value string) {
	c.cookies[name] = &http.Cookie{Name: name, Value: value} //nolint:gosec // G124: a request cookie (name and value only)
}

// Login signs in with email and password through the real form and fails
// the test unless it succeeds.
func (c *Client) Login(email, password string) {
	c.t.Helper()
	c.Get("/login")
	r := c.Post("/login", url.Values{"email": {email}, "password": {password}})
	if r.StatusCode != http.StatusSeeOther {
		c.t.Fatalf("testutil: login as %s: status %d\n%s", email, r.StatusCode, r.Body)
	}
	c.Get("/") // pick up a CSRF token for the signed-in session
}

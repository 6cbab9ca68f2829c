package runner

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/codex32/codex32/models"
)

// httpMethods are the methods an http bot may use.
var httpMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}

// HTTPConfig calls a URL. URL, header values and body are templates.
type HTTPConfig struct {
	Method         string            `json:"method"`
	URL            string            `json:"url"`
	Headers        map[string]string `json:"headers,omitempty"`
	Body           string            `json:"body,omitempty"`
	TimeoutSeconds float64           `json:"timeout_seconds"`
	// ExpectedStatus lists the statuses that count as success; empty means any 2xx.
	ExpectedStatus []int `json:"expected_status,omitempty"`
	RetrySettings

	secrets []string
}

// Kind implements Config.
func (*HTTPConfig) Kind() models.BotKind { return models.KindHTTP }

// SecretNames implements Config.
func (c *HTTPConfig) SecretNames() []string { return slices.Clone(c.secrets) }

// Timeout is how long one call may take.
func (c *HTTPConfig) Timeout() time.Duration { return seconds(c.TimeoutSeconds) }

// StatusOK reports whether a response status counts as success.
func (c *HTTPConfig) StatusOK(code int) bool {
	if len(c.ExpectedStatus) == 0 {
		return code >= 200 && code <= 299
	}
	return slices.Contains(c.ExpectedStatus, code)
}

const credentialHint = "put credentials in a secret and reference it as {{secret.NAME}}"

func (c *checker) httpConfig(root *jnode) *HTTPConfig {
	f := c.fields(root, "", append([]string{"method", "url", "headers", "body", "timeout_seconds", "expected_status"}, retryFieldNames...)...)
	cfg := &HTTPConfig{Method: "GET", TimeoutSeconds: 30}
	var refs []string

	if n := f["method"]; n != nil {
		if s, ok := c.str("method", n, 0); ok {
			switch {
			case slices.Contains(httpMethods, s):
				cfg.Method = s
			case slices.Contains(httpMethods, strings.ToUpper(s)):
				c.at("method", n, "must be upper-case: %q", strings.ToUpper(s))
			default:
				c.at("method", n, "must be one of %s", strings.Join(httpMethods, ", "))
			}
		}
	}

	if n := f["url"]; n == nil {
		c.missing("url")
	} else if s, r, ok := c.template("url", n, 8192, true); ok {
		if c.templatedURL("url", n, s) {
			cfg.URL = s
			refs = append(refs, r...)
		}
	}

	if n := f["headers"]; n != nil {
		cfg.Headers, refs = c.headers(n, refs)
	}

	if n := f["body"]; n != nil {
		if s, r, ok := c.template("body", n, 1<<20, true); ok {
			if s != "" && (cfg.Method == "GET" || cfg.Method == "HEAD") {
				c.at("body", n, "a %s request cannot have a body; use POST, PUT, PATCH or DELETE", cfg.Method)
			}
			cfg.Body = s
			refs = append(refs, r...)
		}
	}

	if n := f["timeout_seconds"]; n != nil {
		if v, ok := c.number("timeout_seconds", n, 1, 300); ok {
			cfg.TimeoutSeconds = v
		}
	}

	if n := f["expected_status"]; n != nil {
		cfg.ExpectedStatus = c.statuses(n)
	}

	cfg.RetrySettings = c.retrySettings(f)
	cfg.secrets = uniqueStrings(secretRefs(refs))
	return cfg
}

func (c *checker) headers(n *jnode, refs []string) (map[string]string, []string) {
	if n.kind != jsonObject {
		c.wrongType("headers", n, "an object of header names to values")
		return nil, refs
	}
	out := make(map[string]string, len(n.members))
	seen := map[string]string{}
	for _, m := range n.members {
		path := keyPath("headers", m.key)
		if !validHeaderName(m.key) {
			c.errs = append(c.errs, c.doc.errAt(path, m.keyOff, "%q is not a valid header name", m.key))
			continue
		}
		lower := strings.ToLower(m.key)
		if prev, dup := seen[lower]; dup {
			c.errs = append(c.errs, c.doc.errAt(path, m.keyOff, "duplicate header: %q and %q are the same header", prev, m.key))
			continue
		}
		seen[lower] = m.key
		v, r, ok := c.template(path, m.val, 8192, true)
		if !ok {
			continue
		}
		if strings.ContainsFunc(v, func(r rune) bool { return r != '\t' && (r < 0x20 || r == 0x7f) }) {
			c.at(path, m.val, "header values cannot contain line breaks or control characters")
			continue
		}
		if credentialHeader(m.key) && len(secretRefs(r)) == 0 {
			c.at(path, m.val, credentialHint)
			continue
		}
		out[m.key] = v
		refs = append(refs, r...)
	}
	return out, refs
}

// credentialHeader reports whether a header carries a credential, so its
// value must come from a secret.
func credentialHeader(name string) bool {
	l := strings.ToLower(name)
	switch l {
	case "authorization", "proxy-authorization", "x-api-key", "api-key":
		return true
	}
	return strings.Contains(l, "token") || strings.Contains(l, "secret") || strings.Contains(l, "password")
}

// credentialParam is credentialHeader for URL query parameters.
func credentialParam(name string) bool {
	l := strings.ToLower(name)
	switch l {
	case "api_key", "apikey", "api-key":
		return true
	}
	return strings.Contains(l, "token") || strings.Contains(l, "secret") || strings.Contains(l, "password")
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", ch) >= 0:
		default:
			return false
		}
	}
	return true
}

func (c *checker) statuses(n *jnode) []int {
	if n.kind != jsonArray {
		c.wrongType("expected_status", n, "an array of status codes")
		return nil
	}
	var out []int
	for i, item := range n.items {
		path := indexPath("expected_status", i)
		code, ok := c.integer(path, item, 100, 599)
		if !ok {
			continue
		}
		if slices.Contains(out, code) {
			c.at(path, item, "duplicate status %d", code)
			continue
		}
		out = append(out, code)
	}
	return out
}

// templatedURL checks that s, with its template references replaced by a
// stand-in, is an absolute http(s) URL that carries no literal credential.
func (c *checker) templatedURL(path string, n *jnode, s string) bool {
	u, err := url.Parse(stripTemplates(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		c.at(path, n, "must be an absolute http:// or https:// URL")
		return false
	}
	if scheme, _, _ := strings.Cut(s, "://"); hasSecretRef(scheme) || hasSecretRef(urlHostPort(s)) {
		c.at(path, n, "a secret cannot be part of the URL's scheme, host or port (the name would be looked up, and leak, through DNS); send it in a header, the path or the query")
		return false
	}
	if userinfoPassword(s) != "" && !hasSecretRef(userinfoPassword(s)) {
		c.at(path, n, "the URL contains a password; %s", credentialHint)
		return false
	}
	for _, kv := range strings.Split(rawQuery(s), "&") {
		name, value, _ := strings.Cut(kv, "=")
		if value != "" && credentialParam(name) && !hasSecretRef(value) {
			c.at(path, n, "query parameter %q looks like a credential; %s", name, credentialHint)
			return false
		}
	}
	return true
}

// stripTemplates replaces each {{...}} with "0", which fits anywhere in a URL
// (host label, port, path, query), so the rest can be parsed. Call it only
// on a string TemplateRefs accepted.
func stripTemplates(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			break
		}
		b.WriteString(s[:i])
		b.WriteString("0")
		s = s[i+j+2:]
	}
	b.WriteString(s)
	return b.String()
}

func hasSecretRef(s string) bool {
	refs, err := TemplateRefs(s)
	return err == nil && len(secretRefs(refs)) > 0
}

// userinfoPassword returns the password part of the URL's authority as
// written (templates intact). Template references never contain '/', '?',
// '#' or '@', so the raw text can be cut on them.
func userinfoPassword(s string) string {
	_, rest, ok := strings.Cut(s, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return ""
	}
	_, pw, _ := strings.Cut(rest[:at], ":")
	return pw
}

// urlHostPort returns the host[:port] of the URL's authority as written
// (templates intact), without user-info.
func urlHostPort(s string) string {
	_, rest, ok := strings.Cut(s, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest = rest[at+1:]
	}
	return rest
}

// rawQuery returns the query of the URL as written (templates intact).
func rawQuery(s string) string {
	_, q, ok := strings.Cut(s, "?")
	if !ok {
		return ""
	}
	q, _, _ = strings.Cut(q, "#")
	return q
}

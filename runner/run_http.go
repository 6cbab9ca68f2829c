package runner

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/codex32/codex32/models"
)

// errRunTimeout is the cause of a run's own deadline, to tell it apart from
// the caller's cancellation.
var errRunTimeout = errors.New("runner: run timed out")

// OutputHeaders are the response headers an http bot's output keeps; the
// rest (cookies above all) stay out of stored outputs.
var OutputHeaders = []string{"content-type", "content-length", "location", "etag", "last-modified", "retry-after", "x-request-id"}

// retryableStatuses are the HTTP statuses after which a later attempt may
// succeed. 500 is among them: it is as often a passing fault as a bug, and
// retries only happen when the bot's owner set max_attempts above 1.
var retryableStatuses = []int{
	http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
	http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout,
}

// RetryableStatus reports whether a failed call with this status may succeed later.
func RetryableStatus(code int) bool { return slices.Contains(retryableStatuses, code) }

// httpOutput is an http bot's output.
type httpOutput struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// RunHTTP makes the request cfg describes, with its templates rendered over
// input and secrets, through client (the SSRF-safe outbound client), within
// cfg.Timeout().
//
// The output is {"status": 200, "headers": {...}, "body": ...}: headers holds
// those of OutputHeaders the response has, keyed in lower case; body is the
// parsed JSON when the response says it is JSON (or says nothing and is a JSON
// object or array), otherwise the text, with invalid UTF-8 replaced.
//
// A status cfg.StatusOK rejects is a *RunError carrying that output and a
// short excerpt of the body; it is Retryable for RetryableStatus codes.
// Network errors are Retryable, except a refused destination, too many
// redirects, an oversized response, an unknown host and certificate errors. A
// timeout is TimedOut (and Retryable). When ctx itself ends, the error wraps
// ctx.Err() (context.Canceled) and is not a *RunError. Logs hold one line per
// request with query values, user-info and secret values masked.
func RunHTTP(ctx context.Context, client *http.Client, cfg *HTTPConfig, input json.RawMessage, secrets map[string]string) (*Result, error) {
	var logs runLog
	mask := func(s string) string { return maskSecrets(s, secrets) }
	fail := func(format string, args ...any) error {
		return &RunError{Message: mask(fmt.Sprintf(format, args...)), Logs: logs.String()}
	}

	r, err := newRenderer(input, secrets)
	if err != nil {
		return nil, fail("%v", err)
	}
	rawURL, err := r.render(cfg.URL, RenderURL)
	if err != nil {
		return nil, fail("url: %v", err)
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fail("url: not a valid http:// or https:// URL once the input is inserted")
	}

	header := http.Header{}
	host := ""
	for _, name := range slices.Sorted(maps.Keys(cfg.Headers)) {
		v, err := r.render(cfg.Headers[name], RenderHeader)
		if err != nil {
			return nil, fail("headers.%s: %v", name, err)
		}
		if strings.EqualFold(name, "Host") {
			host = v // net/http takes the Host header from Request.Host only
			continue
		}
		header.Set(name, v)
	}
	if header.Get("User-Agent") == "" {
		header.Set("User-Agent", "codex32")
	}

	var body string
	if cfg.Body != "" {
		ct := header.Get("Content-Type")
		asJSON := isJSONMediaType(ct) || (ct == "" && looksLikeJSON(cfg.Body))
		mode := RenderText
		if asJSON {
			mode = RenderJSONBody
		}
		if body, err = r.render(cfg.Body, mode); err != nil {
			return nil, fail("body: %v", err)
		}
		if asJSON && ct == "" {
			header.Set("Content-Type", "application/json")
		}
		if asJSON && !json.Valid([]byte(body)) {
			logs.add("warning: the body is not valid JSON (check the body template); it was sent as it is")
		}
	}
	if len(r.missing) > 0 {
		logs.add(fmt.Sprintf("note: the input has no %s; inserted nothing (null in a JSON body)", strings.Join(r.missing, ", ")))
	}

	timeout := cfg.Timeout()
	if timeout <= 0 {
		timeout = DefaultOutboundTimeout
	}
	runCtx, cancel := context.WithTimeoutCause(ctx, timeout, errRunTimeout)
	defer cancel()

	var reqBody io.Reader
	if body != "" {
		reqBody = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(runCtx, cfg.Method, u.String(), reqBody)
	if err != nil {
		return nil, fail("could not build the request: %v", err)
	}
	req.Header = header
	if host != "" {
		req.Host = host
	}

	start := time.Now()
	resp, err := client.Do(req)
	var respBody []byte
	if err == nil {
		respBody, err = io.ReadAll(resp.Body)
		_ = resp.Body.Close()
	}
	elapsed := time.Since(start)
	logURL := mask(redactURL(u))
	if err != nil {
		failure := callFailure(ctx, runCtx, err, timeout, secrets)
		if re, ok := AsRunError(failure); ok {
			logs.add(fmt.Sprintf("%s %s → failed after %s: %s", cfg.Method, logURL, fmtElapsed(elapsed), re.Message))
			re.Logs = logs.String()
		}
		return nil, failure
	}
	line := fmt.Sprintf("%s %s → %d in %s", cfg.Method, logURL, resp.StatusCode, fmtElapsed(elapsed))
	if hops := redirectCount(resp); hops > 0 {
		line += fmt.Sprintf(" (after %d redirect%s, ending at %s)", hops, plural(hops), mask(redactURL(resp.Request.URL)))
	}
	logs.add(line)

	out, err := json.Marshal(httpOutput{
		Status:  resp.StatusCode,
		Headers: outputHeaders(resp.Header),
		Body:    responseBody(resp.Header.Get("Content-Type"), respBody),
	})
	if err != nil {
		return nil, fail("could not record the response: %v", err)
	}
	out = maskJSONStrings(out, secrets)
	if len(out) > MaxOutputBytes {
		return nil, fail("the response makes an output of %d bytes; the limit is %d", len(out), MaxOutputBytes)
	}

	if !cfg.StatusOK(resp.StatusCode) {
		msg := fmt.Sprintf("expected status %s, got %s", expectedStatuses(cfg), statusText(resp.StatusCode))
		if ex := bodyExcerpt(respBody); ex != "" {
			msg += ": " + ex
		}
		return nil, &RunError{
			Message:   mask(msg),
			Retryable: RetryableStatus(resp.StatusCode),
			Logs:      logs.String(),
			Output:    out,
		}
	}
	return &Result{Output: out, Logs: logs.String()}, nil
}

// looksLikeJSON reports whether a body template is meant as JSON.
func looksLikeJSON(tmpl string) bool {
	t := strings.TrimSpace(tmpl)
	return strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[")
}

func isJSONMediaType(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

func outputHeaders(h http.Header) map[string]string {
	out := map[string]string{}
	for _, name := range OutputHeaders {
		if v := h.Get(name); v != "" {
			out[name] = v
		}
	}
	return out
}

// responseBody is the body as the output records it.
func responseBody(contentType string, body []byte) json.RawMessage {
	trimmed := bytes.TrimSpace(body)
	if isJSONMediaType(contentType) || (contentType == "" && looksLikeJSON(string(trimmed))) {
		if len(trimmed) > 0 && json.Valid(trimmed) {
			return trimmed
		}
	}
	return quoteJSON(strings.ToValidUTF8(string(body), "\uFFFD"))
}

func expectedStatuses(cfg *HTTPConfig) string {
	if len(cfg.ExpectedStatus) == 0 {
		return "2xx"
	}
	parts := make([]string, len(cfg.ExpectedStatus))
	for i, c := range cfg.ExpectedStatus {
		parts[i] = strconv.Itoa(c)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " or " + parts[len(parts)-1]
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return strconv.Itoa(code) + " " + t
	}
	return strconv.Itoa(code)
}

// bodyExcerpt is the start of a response body on one line, for an error message.
func bodyExcerpt(body []byte) string {
	const maxChars = 200
	return excerptText(string(body[:min(len(body), 4*maxChars)]), maxChars, len(body) > 4*maxChars)
}

// excerptText is s on one line, cut to maxChars characters with an ellipsis
// when it was cut (or cut is already true).
func excerptText(s string, maxChars int, cut bool) string {
	r := []rune(strings.Join(strings.Fields(strings.ToValidUTF8(s, "")), " "))
	if len(r) > maxChars {
		r, cut = r[:maxChars], true
	}
	if cut {
		return string(r) + "…"
	}
	return string(r)
}

func redirectCount(resp *http.Response) int {
	n := 0
	for r := resp.Request; r != nil && r.Response != nil; r = r.Response.Request {
		n++
	}
	return n
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// redactURL is u for a log line: no user-info, no fragment, query values
// replaced by *** (query strings often carry keys).
func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	c.Fragment, c.RawFragment = "", ""
	if c.RawQuery != "" {
		pairs := strings.Split(c.RawQuery, "&")
		for i, p := range pairs {
			if k, v, ok := strings.Cut(p, "="); ok && v != "" {
				pairs[i] = k + "=***"
			}
		}
		c.RawQuery = strings.Join(pairs, "&")
	}
	return c.String()
}

func fmtElapsed(d time.Duration) string {
	return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
}

// callFailure turns the error of an outbound call into what a run returns:
// the caller's own cancellation as a wrapped ctx.Err(), anything else as a
// *RunError with a message fit for the bot's owner (no URL, no secret).
func callFailure(ctx, runCtx context.Context, err error, timeout time.Duration, secrets map[string]string) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("runner: run stopped: %w", cerr)
	}
	var ne net.Error
	if errors.Is(context.Cause(runCtx), errRunTimeout) {
		return &RunError{Message: fmt.Sprintf("timed out after %s", timeout), TimedOut: true, Retryable: true}
	}
	if errors.As(err, &ne) && ne.Timeout() {
		return &RunError{Message: "timed out: " + maskSecrets(innerError(err), secrets), TimedOut: true, Retryable: true}
	}
	if detail, ok := refusalDetail(err); ok {
		return &RunError{Message: "destination refused: " + detail}
	}
	switch {
	case errors.Is(err, ErrTooManyRedirects):
		return &RunError{Message: "too many redirects" + detailAfter(err, ErrTooManyRedirects)}
	case errors.Is(err, ErrResponseTooLarge):
		return &RunError{Message: "the response body is too large" + detailAfter(err, ErrResponseTooLarge)}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return &RunError{Message: fmt.Sprintf("host %s not found", dnsErr.Name)}
	}
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var badHost x509.HostnameError
	var invalid x509.CertificateInvalidError
	if errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &badHost) || errors.As(err, &invalid) {
		return &RunError{Message: "the server's TLS certificate is not valid: " + maskSecrets(innerError(err), secrets)}
	}
	return &RunError{Message: "request failed: " + maskSecrets(innerError(err), secrets), Retryable: true}
}

// detailAfter is what err's message says after sentinel's, as " (detail)".
func detailAfter(err, sentinel error) string {
	_, detail, ok := strings.Cut(err.Error(), sentinel.Error()+": ")
	if !ok || detail == "" {
		return ""
	}
	return " (" + detail + ")"
}

// innerError is err's message without the *url.Error prefix, which repeats
// the URL and with it any secret in it.
func innerError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// refusalDetail finds the outbound client's refusal in err and words it for
// the bot's owner.
func refusalDetail(err error) (string, bool) {
	var found error
	walkErrors(err, func(e error) bool {
		if errors.Unwrap(e) == ErrDestinationRefused { //nolint:errorlint // the error directly wrapping the sentinel holds the detail
			found = e
			return true
		}
		return false
	})
	if found == nil {
		if errors.Is(err, ErrDestinationRefused) {
			return "the address is not allowed", true
		}
		return "", false
	}
	msg := strings.TrimPrefix(found.Error(), ErrDestinationRefused.Error()+": ")
	msg = strings.Replace(msg, "; add it to "+OutboundAllowEnv+" to allow it", "; an admin can allow it with "+OutboundAllowEnv, 1)
	return msg, true
}

// walkErrors visits err and everything it wraps until visit returns true.
func walkErrors(err error, visit func(error) bool) bool {
	if err == nil {
		return false
	}
	if visit(err) {
		return true
	}
	switch e := err.(type) { //nolint:errorlint // walking the chain by hand is the point
	case interface{ Unwrap() error }:
		return walkErrors(e.Unwrap(), visit)
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			if walkErrors(inner, visit) {
				return true
			}
		}
	}
	return false
}

// maskSecrets hides secret values in s, as written and in the escaped forms
// rendering gives them (URL path and query, JSON string).
func maskSecrets(s string, secrets map[string]string) string {
	if len(secrets) == 0 {
		return s
	}
	s = models.MaskSecrets(s, secrets)
	for _, esc := range []func(string) string{
		url.PathEscape, url.QueryEscape, escapeUnreserved,
		func(v string) string { q := quoteJSON(v); return string(q[1 : len(q)-1]) },
	} {
		variants := make(map[string]string, len(secrets))
		for name, v := range secrets {
			if e := esc(v); e != v {
				variants[name] = e
			}
		}
		s = models.MaskSecrets(s, variants)
	}
	return s
}

// maskJSONStrings masks secret values in the strings (keys included) of a
// JSON value, leaving its structure valid; numbers are left alone.
func maskJSONStrings(raw json.RawMessage, secrets map[string]string) json.RawMessage {
	if maskSecrets(string(raw), secrets) == string(raw) {
		return raw
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var b bytes.Buffer
	// Per open container: is it an object, and how many tokens it has had.
	type frame struct {
		obj bool
		n   int
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return raw // not reached for output this package marshalled
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			b.WriteByte(byte(d))
			continue
		}
		if len(stack) > 0 {
			top := &stack[len(stack)-1]
			switch {
			case top.obj && top.n%2 == 1:
				b.WriteByte(':')
			case top.n > 0:
				b.WriteByte(',')
			}
			top.n++
		}
		switch t := tok.(type) {
		case json.Delim:
			b.WriteByte(byte(t)) //nolint:gosec // G115: a json.Delim is one of {}[], ASCII
			stack = append(stack, frame{obj: t == '{'})
		case string:
			b.Write(quoteJSON(maskSecrets(t, secrets)))
		case json.Number:
			b.WriteString(t.String())
		case bool:
			b.WriteString(strconv.FormatBool(t))
		case nil:
			b.WriteString("null")
		}
	}
	return b.Bytes()
}

// runLog collects a run's log lines up to MaxLogBytes.
type runLog struct {
	b       strings.Builder
	dropped bool
}

func (l *runLog) add(line string) {
	if l.dropped {
		return
	}
	const note = "… later lines dropped: the log limit was reached\n"
	if l.b.Len()+len(line)+1 > MaxLogBytes-len(note) {
		l.b.WriteString(note)
		l.dropped = true
		return
	}
	l.b.WriteString(line)
	l.b.WriteByte('\n')
}

func (l *runLog) String() string { return l.b.String() }

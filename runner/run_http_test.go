package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/models"
)

// seenRequest is what a test server received.
type seenRequest struct {
	Method, Path, RawQuery, Host string
	Header                       http.Header
	Body                         string
}

// recorder is a test server on 127.0.0.1 that records every request and
// answers with respond.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []seenRequest
}

func newRecorder(t *testing.T, respond http.HandlerFunc) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.seen = append(rec.seen, seenRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Host, r.Header.Clone(), string(body)})
		rec.mu.Unlock()
		respond(w, r)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *recorder) requests() []seenRequest {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]seenRequest(nil), rec.seen...)
}

// httpCfg validates an http config the way a saved bot's config is.
func httpCfg(t *testing.T, members ...string) *HTTPConfig {
	t.Helper()
	return mustValidate(t, models.KindHTTP, obj(members...)).(*HTTPConfig)
}

func jsonStr(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	require.NoError(t, err)
	return string(b)
}

// loopbackClient is the outbound client with 127.0.0.1 opened, as an admin
// would with CODEX32_OUTBOUND_ALLOW=127.0.0.1/32.
func loopbackClient() *http.Client { return NewOutboundClient(loopbackOnly) }

func requireRunError(t *testing.T, err error) *RunError {
	t.Helper()
	re, ok := AsRunError(err)
	require.True(t, ok, "want *RunError, got %T: %v", err, err)
	return re
}

func TestRunHTTPJSONResponse(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("X-Request-Id", "req-1")
		w.Header().Set("Set-Cookie", "session=secret")
		w.Header().Set("X-Internal", "no")
		_, _ = io.WriteString(w, `{"status": "ok", "checks": [1, 2.50, {"db": true}]}`)
	})
	cfg := httpCfg(t, `"url": "`+srv.URL+`/health"`)
	res, err := RunHTTP(t.Context(), loopbackClient(), cfg, nil, nil)
	require.NoError(t, err)
	require.JSONEq(t, `{"status": 200, "headers": {"content-type": "application/json; charset=utf-8", "x-request-id": "req-1", "content-length": "51"},
		"body": {"status": "ok", "checks": [1, 2.50, {"db": true}]}}`, string(res.Output))
	require.Contains(t, string(res.Output), `2.50`, "numbers keep their written form")
	require.Regexp(t, `^GET http://127\.0\.0\.1:\d+/health → 200 in \d+ ms\n$`, res.Logs)
	require.Len(t, srv.requests(), 1)
	require.Equal(t, "codex32", srv.requests()[0].Header.Get("User-Agent"))
}

func TestRunHTTPTextResponses(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/text":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "all good\n")
		case "/html":
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, `{"looks": "like json"}`)
		case "/untyped":
			w.Header()["Content-Type"] = nil // no sniffing
			_, _ = io.WriteString(w, ` [1, 2] `)
		case "/bad-json":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"truncated": `)
		case "/binary":
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write([]byte{'a', 0xff, 'b'})
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		}
	})
	for path, body := range map[string]string{
		"/text":     `"all good\n"`,
		"/html":     `"{\"looks\": \"like json\"}"`,
		"/untyped":  `[1, 2]`,
		"/bad-json": `"{\"truncated\": "`,
		"/binary":   `"a\ufffdb"`,
		"/empty":    `""`,
	} {
		res, err := RunHTTP(t.Context(), loopbackClient(), httpCfg(t, `"url": "`+srv.URL+path+`"`), nil, nil)
		require.NoError(t, err, path)
		var out struct {
			Status int             `json:"status"`
			Body   json.RawMessage `json:"body"`
		}
		require.NoError(t, json.Unmarshal(res.Output, &out))
		require.JSONEq(t, body, string(out.Body), path)
	}
}

func TestRunHTTPTemplates(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		// A careless API echoing the credential back.
		_, _ = fmt.Fprintf(w, `{"echo": %q, "n": 1234}`, r.Header.Get("Authorization"))
	})
	cfg := httpCfg(t,
		`"method": "POST"`,
		`"url": "`+srv.URL+`/v1/items/{{input.id}}?q={{input.query}}&api_key={{secret.QUERY_KEY}}"`,
		`"headers": {"Authorization": "Bearer {{secret.API_TOKEN}}", "X-Name": "{{input.name}}", "X-Count": "{{input.count}}"}`,
		`"body": `+jsonStr(t, `{"name": "{{input.name}}", "count": {{input.count}}, "tags": {{input.tags}}, "note": {{input.missing}}, "token": "{{secret.API_TOKEN}}"}`),
		`"expected_status": [201]`,
	)
	secrets := map[string]string{"API_TOKEN": "tok-123456", "QUERY_KEY": "qk/&=secret"}
	input := json.RawMessage(`{"id": "a b/c", "query": "x&y=z", "name": "Zoë \"Z\"", "count": 3, "tags": ["p", "q"]}`)

	res, err := RunHTTP(t.Context(), loopbackClient(), cfg, input, secrets)
	require.NoError(t, err)

	seen := srv.requests()
	require.Len(t, seen, 1)
	req := seen[0]
	require.Equal(t, "POST", req.Method)
	require.Equal(t, "/v1/items/a b/c", req.Path)
	require.Equal(t, "q=x%26y%3Dz&api_key=qk%2F%26%3Dsecret", req.RawQuery)
	require.Equal(t, "Bearer tok-123456", req.Header.Get("Authorization"))
	require.Equal(t, `Zoë "Z"`, req.Header.Get("X-Name"))
	require.Equal(t, "3", req.Header.Get("X-Count"))
	require.Equal(t, "application/json", req.Header.Get("Content-Type"), "a JSON body gets a JSON content type")
	require.JSONEq(t, `{"name": "Zoë \"Z\"", "count": 3, "tags": ["p", "q"], "note": null, "token": "tok-123456"}`, req.Body)

	require.JSONEq(t, `{"status": 201, "headers": {"content-type": "application/json", "content-length": "40"},
		"body": {"echo": "Bearer {{secret.API_TOKEN}}", "n": 1234}}`, string(res.Output), "secrets are masked in the output")
	require.Regexp(t, `^note: the input has no missing; inserted nothing \(null in a JSON body\)\n`+
		`POST http://127\.0\.0\.1:\d+/v1/items/a%20b%2Fc\?q=\*\*\*&api_key=\*\*\* → 201 in \d+ ms\n$`, res.Logs)
	for _, s := range []string{"tok-123456", "qk", "x%26y"} {
		require.NotContains(t, res.Logs, s)
	}
}

func TestRunHTTPBodyContentTypes(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, func(http.ResponseWriter, *http.Request) {})
	input := json.RawMessage(`{"t": "a\"b"}`)
	cases := []struct {
		name, headers, body, wantCT, wantBody string
	}{
		{"JSON by shape", `{}`, `{"t": "{{input.t}}"}`, "application/json", `{"t": "a\"b"}`},
		{"JSON array by shape", `{}`, ` [{{input.t}}]`, "application/json", ` ["a\"b"]`},
		{"JSON by content type", `{"Content-Type": "application/merge-patch+json"}`, `"{{input.t}}"`, "application/merge-patch+json", `"a\"b"`},
		{"text by content type", `{"Content-Type": "text/plain"}`, `{"t": "{{input.t}}"}`, "text/plain", `{"t": "a"b"}`},
		{"text by shape", `{}`, `t={{input.t}}`, "", `t=a"b`},
	}
	for _, tc := range cases {
		cfg := httpCfg(t, `"method": "PUT"`, `"url": "`+srv.URL+`/`+strings.ReplaceAll(tc.name, " ", "-")+`"`,
			`"headers": `+tc.headers, `"body": `+jsonStr(t, tc.body))
		_, err := RunHTTP(t.Context(), loopbackClient(), cfg, input, nil)
		require.NoError(t, err, tc.name)
	}
	seen := srv.requests()
	require.Len(t, seen, len(cases))
	for i, tc := range cases {
		require.Equal(t, tc.wantCT, seen[i].Header.Get("Content-Type"), tc.name)
		require.Equal(t, tc.wantBody, seen[i].Body, tc.name)
	}
}

func TestRunHTTPHostileInputKeepsJSONBodyValid(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, func(http.ResponseWriter, *http.Request) {})
	cfg := httpCfg(t, `"method": "POST"`, `"url": "`+srv.URL+`/"`,
		`"body": `+jsonStr(t, `{"n": {{input.n}}, "t": "{{input.text}}", "raw": {{input.text}}, "obj": {{input.obj}}}`))
	hostile := "\"}, \"admin\": true, \"x\": \"\n\r\t\\\u0000\u2028 <script>ü😀 {{input.n}}"
	input, err := json.Marshal(map[string]any{"n": 7, "text": hostile, "obj": map[string]any{"k\"": []any{hostile, nil}}})
	require.NoError(t, err)

	_, err = RunHTTP(t.Context(), loopbackClient(), cfg, input, nil)
	require.NoError(t, err)
	body := srv.requests()[0].Body
	require.True(t, json.Valid([]byte(body)), body)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	require.Equal(t, map[string]any{
		"n": 7.0, "t": hostile, "raw": hostile, "obj": map[string]any{"k\"": []any{hostile, nil}},
	}, got)
}

func TestRunHTTPUnexpectedStatus(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		var code int
		_, _ = fmt.Sscanf(strings.TrimPrefix(r.URL.Path, "/"), "%d", &code)
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "  problem\n   with "+strings.Repeat("x", 300)+"\n")
	})
	excerpt := "problem with " + strings.Repeat("x", 187) + "…"
	cases := []struct {
		code      int
		expected  string
		retryable bool
		want      string
	}{
		{404, `[200, 201]`, false, "expected status 200 or 201, got 404 Not Found: " + excerpt},
		{400, ``, false, "expected status 2xx, got 400 Bad Request: " + excerpt},
		{301, `[200]`, false, "expected status 200, got 301 Moved Permanently: " + excerpt},
		{408, ``, true, "got 408 Request Timeout"},
		{429, ``, true, "got 429 Too Many Requests"},
		{500, ``, true, "got 500 Internal Server Error"},
		{502, ``, true, "got 502 Bad Gateway"},
		{503, ``, true, "expected status 2xx, got 503 Service Unavailable: " + excerpt},
		{504, ``, true, "got 504 Gateway Timeout"},
		{501, ``, false, "got 501 Not Implemented"},
		{599, ``, false, "got 599:"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			t.Parallel()
			members := []string{`"url": "` + srv.URL + `/` + fmt.Sprint(tc.code) + `"`}
			if tc.expected != "" {
				members = append(members, `"expected_status": `+tc.expected)
			}
			res, err := RunHTTP(t.Context(), NewOutboundClient(OutboundPolicy{Allow: loopbackOnly.Allow, MaxRedirects: -1}), httpCfg(t, members...), nil, nil)
			require.Nil(t, res)
			re := requireRunError(t, err)
			require.Contains(t, re.Message, tc.want)
			require.Equal(t, tc.retryable, re.Retryable)
			require.False(t, re.TimedOut)
			require.Regexp(t, fmt.Sprintf(`→ %d in \d+ ms\n$`, tc.code), re.Logs)
			var out httpOutput
			require.NoError(t, json.Unmarshal(re.Output, &out), "the response is kept as the output")
			require.Equal(t, tc.code, out.Status)
		})
	}
	// A status listed as expected is a success.
	res, err := RunHTTP(t.Context(), loopbackClient(), httpCfg(t, `"url": "`+srv.URL+`/503"`, `"expected_status": [200, 503]`), nil, nil)
	require.NoError(t, err)
	require.Contains(t, string(res.Output), `"status":503`)
}

func TestRunHTTPRedirectIsLogged(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new?token=abc123", http.StatusFound)
			return
		}
		_, _ = io.WriteString(w, "moved here")
	})
	res, err := RunHTTP(t.Context(), loopbackClient(), httpCfg(t, `"url": "`+srv.URL+`/old"`), nil, nil)
	require.NoError(t, err)
	require.Regexp(t, `^GET http://127\.0\.0\.1:\d+/old → 200 in \d+ ms \(after 1 redirect, ending at http://127\.0\.0\.1:\d+/new\?token=\*\*\*\)\n$`, res.Logs)
}

func TestRunHTTPTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })
	cfg := httpCfg(t, `"url": "`+srv.URL+`/slow"`)
	cfg.TimeoutSeconds = 0.2 // below what a config allows, to keep the test fast

	start := time.Now()
	res, err := RunHTTP(t.Context(), loopbackClient(), cfg, nil, nil)
	require.Nil(t, res)
	re := requireRunError(t, err)
	require.True(t, re.TimedOut)
	require.True(t, re.Retryable)
	require.Equal(t, "timed out after 200ms", re.Message)
	require.Regexp(t, `^GET http://127\.0\.0\.1:\d+/slow → failed after \d+ ms: timed out after 200ms\n$`, re.Logs)
	require.Less(t, time.Since(start), 10*time.Second)
}

func TestRunHTTPClientTimeoutCountsAsTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })
	client := NewOutboundClient(OutboundPolicy{Allow: loopbackOnly.Allow, Timeout: 100 * time.Millisecond})
	_, err := RunHTTP(t.Context(), client, httpCfg(t, `"url": "`+srv.URL+`/slow?key=abc"`), nil, nil)
	re := requireRunError(t, err)
	require.True(t, re.TimedOut)
	require.True(t, re.Retryable)
	require.NotContains(t, re.Message, "key=abc", "no URL in messages")
}

func TestRunHTTPCancelled(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{})
	release := make(chan struct{})
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	res, err := RunHTTP(ctx, loopbackClient(), httpCfg(t, `"url": "`+srv.URL+`/"`), nil, nil)
	require.Nil(t, res)
	require.ErrorIs(t, err, context.Canceled)
	_, isRunError := AsRunError(err)
	require.False(t, isRunError, "the caller's cancellation is not the bot's failure")
}

func TestRunHTTPResponseTooLarge(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("a", 5000))
	})
	client := NewOutboundClient(OutboundPolicy{Allow: loopbackOnly.Allow, MaxBodyBytes: 1000})
	_, err := RunHTTP(t.Context(), client, httpCfg(t, `"url": "`+srv.URL+`/big"`), nil, nil)
	re := requireRunError(t, err)
	require.Equal(t, "the response body is too large (more than 1000 bytes)", re.Message)
	require.False(t, re.Retryable)
	require.False(t, re.TimedOut)

	res, err := RunHTTP(t.Context(), NewOutboundClient(OutboundPolicy{Allow: loopbackOnly.Allow, MaxBodyBytes: 5000}),
		httpCfg(t, `"url": "`+srv.URL+`/big"`), nil, nil)
	require.NoError(t, err, "a body of exactly the cap is fine")
	require.Contains(t, string(res.Output), strings.Repeat("a", 5000))
}

func TestRunHTTPInputAndSecretErrors(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, func(http.ResponseWriter, *http.Request) {})
	cases := []struct {
		name    string
		members []string
		input   string
		want    string
	}{
		{"missing secret in a header", []string{`"url": "` + srv.URL + `/"`, `"headers": {"Authorization": "Bearer {{secret.API_TOKEN}}"}`}, `{}`,
			"headers.Authorization: secret API_TOKEN is not set; an admin can add it under Admin → Secrets"},
		{"missing secret in the url", []string{`"url": "` + srv.URL + `/?api_key={{secret.KEY}}"`}, `{}`,
			"url: secret KEY is not set; an admin can add it under Admin → Secrets"},
		{"line break into a header", []string{`"url": "` + srv.URL + `/"`, `"headers": {"X-Name": "{{input.name}}"}`}, `{"name": "a\r\nX-Admin: 1"}`,
			"headers.X-Name: {{input.name}} holds a line break or control character, which a header value cannot contain"},
		{"host injection", []string{`"url": "http://{{input.host}}.example.com/"`}, `{"host": "evil.com/"}`,
			"url: {{input.host}} is in the URL's host"},
		{"empty host", []string{`"url": "http://{{input.host}}/"`}, `{}`,
			"url: not a valid http:// or https:// URL once the input is inserted"},
		{"input not JSON", []string{`"url": "` + srv.URL + `/"`}, `{"a":`, "the input is not valid JSON"},
	}
	for _, tc := range cases {
		_, err := RunHTTP(t.Context(), loopbackClient(), httpCfg(t, tc.members...), json.RawMessage(tc.input), nil)
		re := requireRunError(t, err)
		require.Contains(t, re.Message, tc.want, tc.name)
		require.False(t, re.Retryable, tc.name)
	}
	require.Empty(t, srv.requests(), "nothing is sent when rendering fails")
}

func TestRunHTTPTooManyRedirects(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Path+"x", http.StatusFound)
	})
	client := NewOutboundClient(OutboundPolicy{Allow: loopbackOnly.Allow, MaxRedirects: 2})
	_, err := RunHTTP(t.Context(), client, httpCfg(t, `"url": "`+srv.URL+`/"`), nil, nil)
	re := requireRunError(t, err)
	require.Equal(t, "too many redirects (stopped after 2)", re.Message)
	require.False(t, re.Retryable)
	require.Len(t, srv.requests(), 3)
}

func TestRunHTTPNetworkErrorIsRetryable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	_, err := RunHTTP(t.Context(), loopbackClient(), httpCfg(t, `"url": "`+url+`/?token={{secret.T}}"`), nil, map[string]string{"T": "tok-abcdef"})
	re := requireRunError(t, err)
	require.True(t, re.Retryable)
	require.False(t, re.TimedOut)
	require.Contains(t, re.Message, "request failed: ")
	require.Contains(t, re.Message, "connection refused")
	require.NotContains(t, re.Message, "tok-abcdef")
	require.NotContains(t, re.Logs, "tok-abcdef")
}

func TestRunHTTPSecretInPathAndHostHeader(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, func(http.ResponseWriter, *http.Request) {})
	cfg := httpCfg(t, `"method": "POST"`, `"url": "`+srv.URL+`/hooks/{{secret.HOOK_PATH}}"`,
		`"headers": {"Host": "hooks.internal.example"}`, `"body": "ping"`)
	res, err := RunHTTP(t.Context(), loopbackClient(), cfg, nil, map[string]string{"HOOK_PATH": "T000/B000/xyz secret"})
	require.NoError(t, err)
	seen := srv.requests()[0]
	require.Equal(t, "/hooks/T000/B000/xyz secret", seen.Path)
	require.Equal(t, "hooks.internal.example", seen.Host)
	require.Equal(t, "ping", seen.Body)
	require.Empty(t, seen.Header.Get("Content-Type"), "a text body gets no content type of ours")
	require.Regexp(t, `^POST http://127\.0\.0\.1:\d+/hooks/\{\{secret\.HOOK_PATH\}\} → 200 in \d+ ms\n$`, res.Logs)
}

func TestMaskJSONStringsKeepsJSONValid(t *testing.T) {
	t.Parallel()
	secrets := map[string]string{"PIN": "1234", "TOKEN": `to"ken`}
	raw := json.RawMessage(`{"id":12345,"s":"pin 1234","k1234":[true,null,1.5,{"t":"to\"ken"}],"e":{},"a":[]}`)
	got := maskJSONStrings(raw, secrets)
	require.JSONEq(t, `{"id":12345,"s":"pin {{secret.PIN}}","k{{secret.PIN}}":[true,null,1.5,{"t":"{{secret.TOKEN}}"}],"e":{},"a":[]}`, string(got))
	require.Equal(t, `{"n":1}`, string(maskJSONStrings(json.RawMessage(`{"n":1}`), secrets)), "untouched without secrets in it")
}

package runner

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/models"
)

func TestValidateConfigDocument(t *testing.T) {
	t.Parallel()
	http := models.KindHTTP
	runErrCases(t, []errCase{
		{"unknown kind", models.BotKind("rag"), `{}`, []FieldError{
			{Path: "kind", Message: `unknown bot kind "rag"`},
		}},
		{"empty", http, " \n ", []FieldError{
			{Message: "config is empty; expected a JSON object"},
		}},
		{"syntax error reports line and column", http, "{\n  \"url\": \"https://example.com\",\n  \"method\" \"GET\"\n}", []FieldError{
			{Line: 3, Column: 12, Message: "invalid JSON: invalid character '\"' after object key"},
		}},
		{"trailing comma", http, "{\n  \"url\": \"https://example.com\",\n}", []FieldError{
			{Line: 3, Column: 1, Message: "invalid JSON: invalid character '}'"},
		}},
		{"unexpected end", http, "{\n  \"url\": \"https://example.com\",\n", []FieldError{
			{Line: 2, Column: 32, Message: "invalid JSON: unexpected end of JSON input"},
		}},
		{"trailing data", http, `{"url": "https://example.com"} {}`, []FieldError{
			{Line: 1, Column: 32, Message: "invalid JSON: invalid character '{' after top-level value"},
		}},
		{"columns count characters, not bytes", http, `{"name": "héllo", "url": 5}`, []FieldError{
			{Path: "name", Line: 1, Column: 2, Message: `unknown field "name"`},
			{Path: "url", Line: 1, Column: 26, Message: "must be a string, not a number"},
		}},
		{"top level must be an object", http, "\n\n  [1, 2]", []FieldError{
			{Line: 3, Column: 3, Message: "config must be a JSON object, not an array"},
		}},
		{"top level null", http, `null`, []FieldError{
			{Line: 1, Column: 1, Message: "config must be a JSON object, not null"},
		}},
		{"duplicate key", http, obj(`"url": "https://a.example.com"`, `"url": "https://b.example.com"`), []FieldError{
			{Path: "url", Line: 3, Column: 3, Message: `duplicate key "url"`},
		}},
		{"duplicate nested key", http, obj(`"url": "https://a.example.com"`, `"headers": {"Accept": "text/plain", "Accept": "text/html"}`), []FieldError{
			{Path: "headers.Accept", Line: 3, Column: 39, Message: `duplicate key "Accept"`},
		}},
		{"unknown field lists the allowed ones", http, obj(`"url": "https://example.com"`, `"retries": 3`), []FieldError{
			{Path: "retries", Line: 3, Column: 3, Message: `unknown field "retries" (allowed: method, url, headers, body, timeout_seconds, expected_status, max_attempts, retry_backoff_seconds)`},
		}},
		{"unknown field differing in case gets a hint", http, obj(`"URL": "https://example.com"`), []FieldError{
			{Path: "URL", Line: 2, Column: 3, Message: `unknown field "URL"; did you mean "url"?`},
			{Path: "url", Message: "is required"},
		}},
		{"every mistake is reported", http, obj(`"method": "FETCH"`, `"url": "example.com"`, `"timeout_seconds": 0`, `"extra": true`), []FieldError{
			{Path: "extra", Line: 5, Column: 3, Message: `unknown field "extra"`},
			{Path: "method", Line: 2, Column: 13, Message: "must be one of GET, POST, PUT, PATCH, DELETE, HEAD"},
			{Path: "url", Line: 3, Column: 10, Message: "must be an absolute http:// or https:// URL"},
			{Path: "timeout_seconds", Line: 4, Column: 22, Message: "must be between 1 and 300"},
		}},
	})
}

func TestValidateConfigTooLarge(t *testing.T) {
	t.Parallel()
	raw := `{"url": "https://example.com", "body": "` + strings.Repeat("a", MaxConfigBytes) + `"}`
	_, err := ValidateConfig(models.KindHTTP, []byte(raw))
	requireFieldErrors(t, err, FieldError{Message: "bytes; the limit is 1048576"})
}

func TestConfigErrorFormatting(t *testing.T) {
	t.Parallel()
	_, err := ValidateConfig(models.KindHTTP, []byte(obj(`"method": 1`, `"timeout_seconds": "30"`)))
	require.EqualError(t, err, "invalid config: method: must be a string, not a number (line 2, column 13); "+
		"url: is required; timeout_seconds: must be a number, not a string (line 3, column 22)")
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, map[string]string{
		"method":          "must be a string, not a number",
		"url":             "is required",
		"timeout_seconds": "must be a number, not a string",
	}, ce.ByPath())

	js, err := json.Marshal(ce.Errors[0])
	require.NoError(t, err)
	require.JSONEq(t, `{"path":"method","line":2,"column":13,"message":"must be a string, not a number"}`, string(js))
}

func TestConfigErrorByPathJoinsMessages(t *testing.T) {
	t.Parallel()
	ce := &ConfigError{Errors: []FieldError{{Path: "url", Message: "a"}, {Path: "url", Message: "b"}, {Path: "", Message: "c"}}}
	require.Equal(t, map[string]string{"url": "a; b", "": "c"}, ce.ByPath())
}

func TestHTTPConfigMinimalDefaults(t *testing.T) {
	t.Parallel()
	cfg := mustValidate(t, models.KindHTTP, `{"url": "https://status.example.com/api/health"}`)
	hc, ok := cfg.(*HTTPConfig)
	require.True(t, ok)
	require.Equal(t, "GET", hc.Method)
	require.Equal(t, "https://status.example.com/api/health", hc.URL)
	require.Nil(t, hc.Headers)
	require.Empty(t, hc.Body)
	require.InDelta(t, 30.0, hc.TimeoutSeconds, 0)
	require.Equal(t, 30*time.Second, hc.Timeout())
	require.Empty(t, hc.ExpectedStatus)
	require.Empty(t, hc.SecretNames())
	require.True(t, hc.StatusOK(200))
	require.True(t, hc.StatusOK(299))
	require.False(t, hc.StatusOK(199))
	require.False(t, hc.StatusOK(301))
}

func TestHTTPConfigFull(t *testing.T) {
	t.Parallel()
	raw := obj(
		`"method": "POST"`,
		`"url": "https://api.example.com/v1/items/{{input.id}}?q={{ input.query }}&api_key={{secret.QUERY_KEY}}"`,
		`"headers": {"Authorization": "Bearer {{secret.API_TOKEN}}", "Content-Type": "application/json", "X-Request-Source": "codex32"}`,
		`"body": "{\"name\": \"{{input.name}}\", \"nested\": {\"a\": {\"b\": 1}}, \"token\": \"{{secret.API_TOKEN}}\"}"`,
		`"timeout_seconds": 2.5`,
		`"expected_status": [200, 201, 204]`,
	)
	hc := mustValidate(t, models.KindHTTP, raw).(*HTTPConfig)
	require.Equal(t, "POST", hc.Method)
	require.Equal(t, map[string]string{
		"Authorization":    "Bearer {{secret.API_TOKEN}}",
		"Content-Type":     "application/json",
		"X-Request-Source": "codex32",
	}, hc.Headers)
	require.Equal(t, `{"name": "{{input.name}}", "nested": {"a": {"b": 1}}, "token": "{{secret.API_TOKEN}}"}`, hc.Body)
	require.Equal(t, 2500*time.Millisecond, hc.Timeout())
	require.Equal(t, []int{200, 201, 204}, hc.ExpectedStatus)
	require.True(t, hc.StatusOK(204))
	require.False(t, hc.StatusOK(202))
	require.Equal(t, []string{"QUERY_KEY", "API_TOKEN"}, hc.SecretNames())
}

func TestHTTPConfigAccepts(t *testing.T) {
	t.Parallel()
	for name, raw := range map[string]string{
		"every method":                 `{"url": "https://example.com", "method": "DELETE"}`,
		"templated host and port":      `{"url": "http://{{input.host}}.internal.example:{{input.port}}/x"}`,
		"password from a secret":       `{"url": "https://bot:{{secret.SITE_PASSWORD}}@example.com/"}`,
		"user without password":        `{"url": "https://bot@example.com/"}`,
		"credential query from secret": `{"url": "https://example.com/?access_token={{secret.TOKEN}}"}`,
		"empty body with GET":          `{"url": "https://example.com", "body": ""}`,
		"body with DELETE":             `{"url": "https://example.com", "method": "DELETE", "body": "x"}`,
		"empty headers":                `{"url": "https://example.com", "headers": {}}`,
		"secret-looking header via secret": `{"url": "https://example.com", "headers": {"X-Api-Key": "{{secret.KEY}}",` +
			` "Proxy-Authorization": "Basic {{secret.PROXY}}", "X-Client-Secret": "{{ secret.CLIENT_SECRET }}"}}`,
		"whole-number statuses": `{"url": "https://example.com", "expected_status": [2e2, 404.0, 599, 100]}`,
		"timeout bounds":        `{"url": "https://example.com", "timeout_seconds": 300}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mustValidate(t, models.KindHTTP, raw)
		})
	}
}

func TestHTTPConfigErrors(t *testing.T) {
	t.Parallel()
	h := models.KindHTTP
	url := `"url": "https://example.com"`
	runErrCases(t, []errCase{
		{"method lower case", h, obj(url, `"method": "get"`), []FieldError{
			{Path: "method", Line: 3, Column: 13, Message: `must be upper-case: "GET"`},
		}},
		{"method unknown", h, obj(url, `"method": "OPTIONS"`), []FieldError{
			{Path: "method", Line: 3, Column: 13, Message: "must be one of GET, POST, PUT, PATCH, DELETE, HEAD"},
		}},
		{"url missing", h, obj(`"method": "GET"`), []FieldError{
			{Path: "url", Message: "is required"},
		}},
		{"url relative", h, obj(`"url": "/api/health"`), []FieldError{
			{Path: "url", Line: 2, Column: 10, Message: "must be an absolute http:// or https:// URL"},
		}},
		{"url other scheme", h, obj(`"url": "ftp://example.com/file"`), []FieldError{
			{Path: "url", Line: 2, Column: 10, Message: "must be an absolute http:// or https:// URL"},
		}},
		{"url entirely from input", h, obj(`"url": "{{input.url}}"`), []FieldError{
			{Path: "url", Line: 2, Column: 10, Message: "must be an absolute http:// or https:// URL"},
		}},
		{"url null", h, obj(`"url": null`), []FieldError{
			{Path: "url", Line: 2, Column: 10, Message: "must be a string, not null"},
		}},
		{"url literal password", h, obj(`"url": "https://bot:hunter2@example.com/"`), []FieldError{
			{Path: "url", Line: 2, Column: 10, Message: "the URL contains a password; put credentials in a secret and reference it as {{secret.NAME}}"},
		}},
		{"url literal token in query", h, obj(`"url": "https://example.com/?q=1&access_token=abc123"`), []FieldError{
			{Path: "url", Line: 2, Column: 10, Message: `query parameter "access_token" looks like a credential; put credentials in a secret`},
		}},
		{"url template error", h, obj(`"url": "https://example.com/{{env.HOME}}"`), []FieldError{
			{Path: "url", Line: 2, Column: 10, Message: `template: {{env.HOME}}: unknown namespace "env"; use {{input.NAME}} or {{secret.NAME}}`},
		}},
		{"url template not closed", h, obj(`"url": "https://example.com/{{input.id"`), []FieldError{
			{Path: "url", Line: 2, Column: 10, Message: `template: "{{input.id" is not closed with }}`},
		}},
		{"headers not an object", h, obj(url, `"headers": ["Accept: */*"]`), []FieldError{
			{Path: "headers", Line: 3, Column: 14, Message: "must be an object of header names to values, not an array"},
		}},
		{"header name invalid", h, obj(url, `"headers": {"Bad Header": "x"}`), []FieldError{
			{Path: "headers.Bad Header", Line: 3, Column: 15, Message: `"Bad Header" is not a valid header name`},
		}},
		{"header value not a string", h, obj(url, `"headers": {"Accept": 1}`), []FieldError{
			{Path: "headers.Accept", Line: 3, Column: 25, Message: "must be a string, not a number"},
		}},
		{"header value with line break", h, obj(url, `"headers": {"Accept": "a\r\nX-Evil: 1"}`), []FieldError{
			{Path: "headers.Accept", Line: 3, Column: 25, Message: "header values cannot contain line breaks or control characters"},
		}},
		{"headers differing only in case", h, obj(url, `"headers": {"Accept": "a", "accept": "b"}`), []FieldError{
			{Path: "headers.accept", Line: 3, Column: 30, Message: `duplicate header: "Accept" and "accept" are the same header`},
		}},
		{"literal Authorization", h, obj(url, `"headers": {"Authorization": "Bearer sk-live-123"}`), []FieldError{
			{Path: "headers.Authorization", Line: 3, Column: 32, Message: "put credentials in a secret and reference it as {{secret.NAME}}"},
		}},
		{"literal credential headers by name", h, obj(url, `"headers": {"x-api-key": "k", "Api-Key": "k", "X-Auth-Token": "t", "X-Client-SECRET": "s", "Db-Password": "p", "Proxy-Authorization": "Basic abc"}`), []FieldError{
			{Path: "headers.x-api-key", Line: 3, Column: 28, Message: "put credentials in a secret"},
			{Path: "headers.Api-Key", Line: 3, Column: 44, Message: "put credentials in a secret"},
			{Path: "headers.X-Auth-Token", Line: 3, Column: 65, Message: "put credentials in a secret"},
			{Path: "headers.X-Client-SECRET", Line: 3, Column: 89, Message: "put credentials in a secret"},
			{Path: "headers.Db-Password", Line: 3, Column: 109, Message: "put credentials in a secret"},
			{Path: "headers.Proxy-Authorization", Line: 3, Column: 137, Message: "put credentials in a secret"},
		}},
		{"credential from input is still literal", h, obj(url, `"headers": {"Authorization": "Bearer {{input.token}}"}`), []FieldError{
			{Path: "headers.Authorization", Line: 3, Column: 32, Message: "put credentials in a secret and reference it as {{secret.NAME}}"},
		}},
		{"GET with body", h, obj(url, `"body": "{}"`), []FieldError{
			{Path: "body", Line: 3, Column: 11, Message: "a GET request cannot have a body; use POST, PUT, PATCH or DELETE"},
		}},
		{"HEAD with body", h, obj(url, `"method": "HEAD"`, `"body": "x"`), []FieldError{
			{Path: "body", Line: 4, Column: 11, Message: "a HEAD request cannot have a body"},
		}},
		{"body template stray close", h, obj(url, `"method": "POST"`, `"body": "hello input.name}}"`), []FieldError{
			{Path: "body", Line: 4, Column: 11, Message: `template: "input.name}}" has }} without a matching {{`},
		}},
		{"body secret name lower case", h, obj(url, `"method": "POST"`, `"body": "{{secret.api_key}}"`), []FieldError{
			{Path: "body", Line: 4, Column: 11, Message: `template: {{secret.api_key}}: "api_key" is not a valid secret name`},
		}},
		{"timeout too small", h, obj(url, `"timeout_seconds": 0.5`), []FieldError{
			{Path: "timeout_seconds", Line: 3, Column: 22, Message: "must be between 1 and 300"},
		}},
		{"timeout too large", h, obj(url, `"timeout_seconds": 301`), []FieldError{
			{Path: "timeout_seconds", Line: 3, Column: 22, Message: "must be between 1 and 300"},
		}},
		{"timeout as string", h, obj(url, `"timeout_seconds": "30"`), []FieldError{
			{Path: "timeout_seconds", Line: 3, Column: 22, Message: "must be a number, not a string"},
		}},
		{"expected_status not an array", h, obj(url, `"expected_status": 200`), []FieldError{
			{Path: "expected_status", Line: 3, Column: 22, Message: "must be an array of status codes, not a number"},
		}},
		{"expected_status duplicate", h, obj(url, `"expected_status": [200, 200]`), []FieldError{
			{Path: "expected_status[1]", Line: 3, Column: 28, Message: "duplicate status 200"},
		}},
		{"expected_status out of range and fractional", h, obj(url, `"expected_status": [99, 600, 200.5, "201"]`), []FieldError{
			{Path: "expected_status[0]", Line: 3, Column: 23, Message: "must be between 100 and 599"},
			{Path: "expected_status[1]", Line: 3, Column: 27, Message: "must be between 100 and 599"},
			{Path: "expected_status[2]", Line: 3, Column: 32, Message: "must be a whole number"},
			{Path: "expected_status[3]", Line: 3, Column: 39, Message: "must be a whole number, not a string"},
		}},
	})
}

func TestConfigJSONRoundTrip(t *testing.T) {
	t.Parallel()
	for _, kind := range models.BotKinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			cfg := mustValidate(t, kind, string(Example(kind)))
			normalised, err := json.Marshal(cfg)
			require.NoError(t, err)
			again := mustValidate(t, kind, string(normalised))
			require.Equal(t, cfg, again)
		})
	}
}

func TestLineColumn(t *testing.T) {
	t.Parallel()
	raw := []byte("ab\r\nçd\n\nx")
	for _, tc := range []struct{ off, line, col int }{
		{0, 1, 1}, {1, 1, 2}, {4, 2, 1}, {6, 2, 2}, {8, 3, 1}, {9, 4, 1}, {10, 4, 2}, {99, 4, 2}, {-1, 1, 1},
	} {
		line, col := lineColumn(raw, tc.off)
		require.Equal(t, []int{tc.line, tc.col}, []int{line, col}, "offset %d", tc.off)
	}
}

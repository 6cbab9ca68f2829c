package runner

import (
	"encoding/json"
	"net/url"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

const renderInput = `{
  "name": "Ada Lovelace",
  "n": 42, "big": 1e400, "price": 12.50, "ok": true, "none": null,
  "text": "say \"hi\"\nthen\\leave \u2028 <b>&</b> ü 😀",
  "ticket": {"id": "T-1", "tags": ["a", "b"], "z": 1, "a": 2},
  "items": [{"sku": "x/y"}, {"sku": ".."}],
  "host": "api", "evil_host": "evil.com/x?",
  "path": "a b/c?d#e%", "dot": ".", "query": "a&b=c d+é#"
}`

var renderSecrets = map[string]string{"API_TOKEN": "tok en&/\"x\"", "PATH_KEY": "p/q"}

func render(t *testing.T, tmpl string, mode RenderMode) string {
	t.Helper()
	out, err := RenderTemplate(tmpl, mode, json.RawMessage(renderInput), renderSecrets)
	require.NoError(t, err, tmpl)
	return out
}

func TestRenderText(t *testing.T) {
	t.Parallel()
	for tmpl, want := range map[string]string{
		"":                      "",
		"no refs {here}":        "no refs {here}",
		"Hello {{input.name}}!": "Hello Ada Lovelace!",
		"{{ input.n }}/{{input.big}}/{{input.price}}": "42/1e400/12.50",
		"{{input.ok}} {{input.none}}":                 "true null",
		"{{input.ticket}}":                            `{"id":"T-1","tags":["a","b"],"z":1,"a":2}`,
		"{{input.ticket.tags}}":                       `["a","b"]`,
		"{{input.ticket.tags.1}}":                     "b",
		"{{input.items.0.sku}}":                       "x/y",
		"[{{input.missing}}][{{input.name.x}}][{{input.items.9}}][{{input.items.01}}]": "[][][][]",
		"{{{input.n}}}":            "{42}",
		"key={{secret.API_TOKEN}}": `key=tok en&/"x"`,
	} {
		require.Equal(t, want, render(t, tmpl, RenderText), tmpl)
	}
	require.Equal(t, "say \"hi\"\nthen\\leave \u2028 <b>&</b> ü 😀", render(t, "{{input.text}}", RenderText))
}

func TestRenderEmptyInputCountsAsNull(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "  ", "null"} {
		out, err := RenderTemplate(`{"a": {{input.a}}, "b": "{{input.b}}"}`, RenderJSONBody, json.RawMessage(in), nil)
		require.NoError(t, err)
		require.Equal(t, `{"a": null, "b": ""}`, out)
	}
	out, err := RenderTemplate("{{input.0}}", RenderText, json.RawMessage(`["first"]`), nil)
	require.NoError(t, err)
	require.Equal(t, "first", out)
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	_, err := RenderTemplate("{{secret.NOPE}}", RenderText, nil, renderSecrets)
	require.EqualError(t, err, "secret NOPE is not set; an admin can add it under Admin → Secrets")
	_, err = RenderTemplate("x", RenderText, json.RawMessage(`{"a":`), nil)
	require.EqualError(t, err, "the input is not valid JSON")
	_, err = RenderTemplate("{{env.HOME}}", RenderText, nil, nil)
	require.ErrorContains(t, err, `template: {{env.HOME}}: unknown namespace "env"`)
	_, err = RenderTemplate("{{input.a", RenderText, nil, nil)
	require.ErrorContains(t, err, "is not closed")
	_, err = RenderTemplate("x", RenderMode(99), nil, nil)
	require.ErrorContains(t, err, "unknown render mode 99")
}

func TestRenderMissingPathsAreRecorded(t *testing.T) {
	t.Parallel()
	r, err := newRenderer(json.RawMessage(renderInput), nil)
	require.NoError(t, err)
	_, err = r.render("{{input.a}} {{input.ticket.nope}} {{input.a}} {{input.name}}", RenderText)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "ticket.nope"}, r.missing)
}

func TestRenderHeader(t *testing.T) {
	t.Parallel()
	require.Equal(t, `Bearer tok en&/"x"`, render(t, "Bearer {{secret.API_TOKEN}}", RenderHeader))
	require.Equal(t, "v=42", render(t, "v={{input.n}}", RenderHeader))
	for _, in := range []string{`{"v": "a\r\nX-Evil: 1"}`, `{"v": "a\nb"}`, `{"v": "a\u0000"}`, `{"v": "\u007f"}`} {
		_, err := RenderTemplate("x-{{input.v}}", RenderHeader, json.RawMessage(in), nil)
		require.EqualError(t, err, "{{input.v}} holds a line break or control character, which a header value cannot contain", in)
	}
	_, err := RenderTemplate("{{secret.S}}", RenderHeader, nil, map[string]string{"S": "line\nbreak"})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "line\nbreak", "the value may be a secret")
	out, err := RenderTemplate("{{input.v}}", RenderHeader, json.RawMessage(`{"v": "tab\tok"}`), nil)
	require.NoError(t, err)
	require.Equal(t, "tab\tok", out)
}

func TestRenderURL(t *testing.T) {
	t.Parallel()
	for tmpl, want := range map[string]string{
		"https://example.com/items/{{input.path}}?q={{input.query}}#{{input.query}}":       "https://example.com/items/a%20b%2Fc%3Fd%23e%25?q=a%26b%3Dc+d%2B%C3%A9%23#a%26b%3Dc+d%2B%C3%A9%23",
		"https://example.com/{{input.items.0.sku}}/{{input.items.1.sku}}/{{input.dot}}":    "https://example.com/x%2Fy/%2E%2E/%2E",
		"http://{{input.host}}.internal.example:{{input.n}}/x":                             "http://api.internal.example:42/x",
		"https://bot:{{secret.API_TOKEN}}@example.com/":                                    "https://bot:tok%20en%26%2F%22x%22@example.com/",
		"https://example.com/?api_key={{secret.API_TOKEN}}&n={{input.n}}&m={{input.none}}": "https://example.com/?api_key=tok+en%26%2F%22x%22&n=42&m=null",
		"https://example.com/hooks/{{secret.PATH_KEY}}?x={{input.missing}}":                "https://example.com/hooks/p%2Fq?x=",
		"https://example.com/a?b={{input.ticket.tags}}":                                    "https://example.com/a?b=%5B%22a%22%2C%22b%22%5D",
		"https://example.com?q={{input.name}}":                                             "https://example.com?q=Ada+Lovelace",
		"https://example.com#{{input.name}}":                                               "https://example.com#Ada+Lovelace",
	} {
		got := render(t, tmpl, RenderURL)
		require.Equal(t, want, got, tmpl)
		u, err := url.Parse(got)
		require.NoError(t, err, got)
		require.NotEmpty(t, u.Host)
	}
	q := render(t, "https://example.com/?q={{input.query}}&t={{secret.API_TOKEN}}", RenderURL)
	u, err := url.Parse(q)
	require.NoError(t, err)
	require.Equal(t, "a&b=c d+é#", u.Query().Get("q"))
	require.Equal(t, renderSecrets["API_TOKEN"], u.Query().Get("t"))
	p := render(t, "https://example.com/{{input.path}}", RenderURL)
	u, err = url.Parse(p)
	require.NoError(t, err)
	require.Equal(t, "/a b/c?d#e%", u.Path)

	for _, tmpl := range []string{"http://{{input.evil_host}}/", "http://x{{input.name}}/", "http://{{input.text}}.example/"} {
		_, err := RenderTemplate(tmpl, RenderURL, json.RawMessage(renderInput), nil)
		require.ErrorContains(t, err, "is in the URL's host, where only letters, digits, '.', '-' and '_' may be inserted", tmpl)
	}
	_, err = RenderTemplate("https://bot:{{secret.NOPE}}@example.com/", RenderURL, nil, nil)
	require.ErrorContains(t, err, "secret NOPE is not set")
}

func TestRenderJSONBody(t *testing.T) {
	t.Parallel()
	for tmpl, want := range map[string]string{
		`{"n": {{input.n}}, "t": "{{input.name}}"}`:                            `{"n": 42, "t": "Ada Lovelace"}`,
		`{"name": {{input.name}}, "ok": {{input.ok}}, "none": {{input.none}}}`: `{"name": "Ada Lovelace", "ok": true, "none": null}`,
		`{"missing": {{input.nope}}, "in": "[{{input.nope}}]"}`:                `{"missing": null, "in": "[]"}`,
		`{"obj": {{input.ticket}}, "s": "{{input.ticket}}"}`:                   `{"obj": {"id":"T-1","tags":["a","b"],"z":1,"a":2}, "s": "{\"id\":\"T-1\",\"tags\":[\"a\",\"b\"],\"z\":1,\"a\":2}"}`,
		`["{{input.n}}", {{input.big}}, "{{input.price}}"]`:                    `["42", 1e400, "12.50"]`,
		`{"esc\"aped {{input.n}}": "a\\" + {{input.n}}"}`:                      `{"esc\"aped 42": "a\\" + 42"}`,
		`{"a": "}", "b": {{input.n}}, "c": "{"}`:                               `{"a": "}", "b": 42, "c": "{"}`,
		`{"auth": "Bearer {{secret.API_TOKEN}}", "raw": {{secret.API_TOKEN}}}`: `{"auth": "Bearer tok en&/\"x\"", "raw": "tok en&/\"x\""}`,
		`{"nested": {"a": {"b": {{input.n}}}}}`:                                `{"nested": {"a": {"b": 42}}}`,
	} {
		require.Equal(t, want, render(t, tmpl, RenderJSONBody), tmpl)
	}
}

func TestRenderJSONBodyHostileInputStaysValid(t *testing.T) {
	t.Parallel()
	tmpl := `{"n": {{input.n}}, "t": "{{input.text}}", "v": {{input.text}}, "o": {{input.o}}, "mixed": "pre {{input.o}} post", "list": [{{input.text}}, "{{input.n}}"]}`
	hostile := []string{
		`"quote \" and backslash \\ and \\\" and newline \n and tab \t"`,
		`"\u0000\u001f\u007f\u2028\u2029 </script> & <!-- ü 😀 \ud83d\ude00"`,
		`"\"}, \"injected\": true, \"x\": {\""`,
		`"{{input.n}}"`,
		`12345678901234567890.5e-3`,
		`{"deep": [{"\"k": "v\n"}], "n": null}`,
		`[]`,
		`false`,
	}
	for _, h := range hostile {
		in := `{"n": ` + h + `, "text": ` + h + `, "o": ` + h + `}`
		require.True(t, json.Valid([]byte(in)), in)
		out, err := RenderTemplate(tmpl, RenderJSONBody, json.RawMessage(in), nil)
		require.NoError(t, err)
		require.True(t, json.Valid([]byte(out)), "invalid JSON for input %s:\n%s", h, out)

		var got map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &got))
		var want any
		require.NoError(t, json.Unmarshal([]byte(h), &want))
		require.Equal(t, want, got["v"], "a value outside strings round-trips")
		if s, ok := want.(string); ok {
			require.Equal(t, s, got["t"], "a string inside a string literal round-trips")
		}
		require.NotContains(t, got, "injected")
	}
	// Invalid UTF-8 in the input's strings is replaced, so the body stays UTF-8.
	out, err := RenderTemplate(tmpl, RenderJSONBody, json.RawMessage("{\"text\": \"a\xffb\"}"), nil)
	require.NoError(t, err)
	require.True(t, utf8.ValidString(out))
	require.Contains(t, out, "\"v\": \"a\uFFFDb\"")
}

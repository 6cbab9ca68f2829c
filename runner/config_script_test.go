package runner

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/models"
)

// scriptJSON builds a script config around src, escaping it as JSON does.
func scriptJSON(t *testing.T, src string, extra ...string) string {
	t.Helper()
	js, err := json.Marshal(src)
	require.NoError(t, err)
	return obj(append([]string{`"source": ` + string(js)}, extra...)...)
}

func TestScriptConfigMinimalDefaults(t *testing.T) {
	t.Parallel()
	src := "function main(input) {\n  return input.a + 1;\n}\n"
	cfg := mustValidate(t, models.KindScript, scriptJSON(t, src))
	sc, ok := cfg.(*ScriptConfig)
	require.True(t, ok)
	require.Equal(t, &ScriptConfig{Source: src, TimeoutSeconds: 5, RetrySettings: RetrySettings{MaxAttempts: 1, RetryBackoffSeconds: 2}}, sc)
	require.Equal(t, 5*time.Second, sc.Timeout())
	require.Empty(t, sc.SecretNames())
}

func TestScriptConfigAcceptsMainForms(t *testing.T) {
	t.Parallel()
	for name, src := range map[string]string{
		"declaration without params": "function main() { return 1 }",
		"async declaration":          "async function main(input) { return input }",
		"const arrow":                "const main = (input) => ({ n: input.items.length });",
		"let function expression":    "let main = function (input) { return input };",
		"var async arrow":            "var main = async input => input;",
		"among other bindings":       "const a = 1, main = x => x + a;",
		"after helpers":              "function total(xs) { return xs.reduce((s, x) => s + x, 0) }\nfunction main(input) { return total(input.items) }",
		"modern syntax":              "class Acc { constructor() { this.n = 0 } }\nconst main = ({ items = [] }) => { const a = new Acc(); for (const i of items) a.n += i?.price ?? 0; return `${a.n}` };",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mustValidate(t, models.KindScript, scriptJSON(t, src, `"timeout_seconds": 60`))
		})
	}
}

func TestScriptConfigErrors(t *testing.T) {
	t.Parallel()
	s := models.KindScript
	noMain := "no main function found; define a top-level function main(input) that returns the output"
	runErrCases(t, []errCase{
		{"source missing", s, `{"timeout_seconds": 5}`, []FieldError{
			{Path: "source", Message: "is required"},
		}},
		{"source blank", s, scriptJSON(t, " \n "), []FieldError{
			{Path: "source", Line: 2, Column: 13, Message: "is required"},
		}},
		{"source not a string", s, obj(`"source": ["function main() {}"]`), []FieldError{
			{Path: "source", Line: 2, Column: 13, Message: "must be a string, not an array"},
		}},
		{"syntax error gives the line in the script", s, scriptJSON(t, "function main(input) {\n  return input.a +;\n}"), []FieldError{
			{Path: "source", Line: 2, Column: 19, InScript: true, Message: "SyntaxError at line 2, column 19 of the script: Unexpected token ;"},
		}},
		{"unbalanced brace", s, scriptJSON(t, "function main() {\n  return 1\n}\n}\n"), []FieldError{
			{Path: "source", Line: 4, Column: 1, InScript: true, Message: "SyntaxError at line 4, column 1 of the script: Unexpected token }"},
		}},
		{"compile error gives the line in the script", s, scriptJSON(t, "let total = 0;\nlet total = 1;\nfunction main() { return total }"), []FieldError{
			{Path: "source", Line: 2, Column: 5, InScript: true, Message: "Identifier 'total' has already been declared"},
		}},
		{"no main", s, scriptJSON(t, "function handler(input) { return input }"), []FieldError{
			{Path: "source", Message: noMain},
		}},
		{"main only nested", s, scriptJSON(t, "function outer() { function main() {} }"), []FieldError{
			{Path: "source", Message: noMain},
		}},
		{"main called, not defined", s, scriptJSON(t, "main({})"), []FieldError{
			{Path: "source", Message: noMain},
		}},
		{"main not a function", s, scriptJSON(t, "const main = 42;"), []FieldError{
			{Path: "source", Message: "main must be a function; define a top-level function main(input)"},
		}},
		{"main declared without value", s, scriptJSON(t, "var main;"), []FieldError{
			{Path: "source", Message: "main must be a function"},
		}},
		{"main a generator", s, scriptJSON(t, "function* main(input) { yield input }"), []FieldError{
			{Path: "source", Message: "main must be a plain function, not a generator"},
		}},
		{"source too large", s, scriptJSON(t, "function main() {}\n//"+strings.Repeat("x", MaxScriptBytes)), []FieldError{
			{Path: "source", Line: 2, Column: 13, Message: "is 204821 bytes; the limit is 204800 (200 KB)"},
		}},
		{"timeout too long", s, scriptJSON(t, "function main() {}", `"timeout_seconds": 61`), []FieldError{
			{Path: "timeout_seconds", Line: 3, Column: 22, Message: "must be between 1 and 60"},
		}},
		{"timeout too short", s, scriptJSON(t, "function main() {}", `"timeout_seconds": 0`), []FieldError{
			{Path: "timeout_seconds", Line: 3, Column: 22, Message: "must be between 1 and 60"},
		}},
		{"script and other errors together", s, scriptJSON(t, "function main( {", `"timeout_seconds": 100`, `"env": {}`), []FieldError{
			{Path: "env", Line: 4, Column: 3, Message: `unknown field "env" (allowed: source, timeout_seconds, max_attempts, retry_backoff_seconds)`},
			{Path: "source", Line: 1, Column: 17, InScript: true, Message: "SyntaxError at line 1, column 17 of the script: Unexpected end of input"},
			{Path: "timeout_seconds", Line: 3, Column: 22, Message: "must be between 1 and 60"},
		}},
	})
}

func TestScriptErrorStringOmitsJSONPosition(t *testing.T) {
	t.Parallel()
	_, err := ValidateConfig(models.KindScript, []byte(scriptJSON(t, "function main() {\n  return ;;\n  )\n}")))
	require.EqualError(t, err, "invalid config: source: SyntaxError at line 3, column 3 of the script: Unexpected token )")
}

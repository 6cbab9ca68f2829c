package handlers

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUnescapeHTMLJSON(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`{"a":"\u003cb\u003e \u0026 \u003C"}`: `{"a":"<b> & <"}`,
		`{"a":"\\u003c"}`:                     `{"a":"\\u003c"}`, // an escaped backslash, then text
		`{"a":"\\\u003c"}`:                    `{"a":"\\<"}`,
		`{"a":"\u00e9\n\"\u003e"}`:            `{"a":"\u00e9\n\">"}`,
		`[1,2]`:                               `[1,2]`,
		`"\u003`:                              `"\u003`, // truncated: left alone
	} {
		got := string(unescapeHTMLJSON([]byte(in)))
		require.Equal(t, want, got, in)
		if json.Valid([]byte(in)) {
			var a, b any
			require.NoError(t, json.Unmarshal([]byte(in), &a))
			require.NoError(t, json.Unmarshal([]byte(got), &b))
			require.Equal(t, a, b, "same value: %s", in)
		}
	}
}

func TestJSONProblemPointsAtTheLine(t *testing.T) {
	t.Parallel()
	require.Empty(t, jsonProblem([]byte(`{"a":[1,2]}`)))
	require.Contains(t, jsonProblem([]byte("{\n  \"a\": 1,\n}")), "line 3, column 1")
	require.Contains(t, jsonProblem([]byte(`{"a":`)), "not valid JSON")
}

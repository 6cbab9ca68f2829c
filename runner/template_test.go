package runner

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTemplateRefs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"no references { at } all }", nil},
		{"Hello {{input.name}} and {{ secret.API_KEY }}!", []string{"input.name", "secret.API_KEY"}},
		{"{{input.ticket.body}}{{input.ticket.body}}", []string{"input.ticket.body", "input.ticket.body"}},
		{"{{\tinput.items.0.price-eur\n}}", []string{"input.items.0.price-eur"}},
		{`{"a": {"b": {{input.x}}}}`, []string{"input.x"}},
		{"{{{input.x}}}", []string{"input.x"}},
		{"{{secret.A}} {{secret." + strings.Repeat("B", 64) + "}}", []string{"secret.A", "secret." + strings.Repeat("B", 64)}},
	} {
		got, err := TemplateRefs(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
}

func TestTemplateRefsErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"Hi {{input.name", `"{{input.name" is not closed with }}`},
		{"{{input.a}} then {{", `"{{" is not closed with }}`},
		{"Hi {{ }}", "{{ }}: empty reference; use {{input.NAME}} or {{secret.NAME}}"},
		{"{{input}}", "{{input}}: name a field of the input, e.g. {{input.ticket}}"},
		{"{{input.}}", "{{input.}}: name a field of the input"},
		{"{{input.a..b}}", `{{input.a..b}}: "a..b" is not a valid input path`},
		{"{{input.a b}}", `{{input.a b}}: "a b" is not a valid input path`},
		{"{{secret}}", "{{secret}}: name the secret, e.g. {{secret.API_TOKEN}}"},
		{"{{secret.api_key}}", `{{secret.api_key}}: "api_key" is not a valid secret name`},
		{"{{secret.A.B}}", `{{secret.A.B}}: "A.B" is not a valid secret name`},
		{"{{secret._X}}", `"_X" is not a valid secret name`},
		{"{{secret." + strings.Repeat("B", 65) + "}}", "is not a valid secret name"},
		{"{{env.HOME}}", `{{env.HOME}}: unknown namespace "env"; use {{input.NAME}} or {{secret.NAME}}`},
		{"{{ Input.name }}", `unknown namespace "Input"`},
		{"Hello input.name}}", `"input.name}}" has }} without a matching {{`},
		{"{{input.a}} and secret.B }}", `"secret.B }}" has }} without a matching {{`},
	} {
		_, err := TemplateRefs(tc.in)
		require.Error(t, err, tc.in)
		require.Contains(t, err.Error(), tc.want, tc.in)
	}
}

func TestValidSecretName(t *testing.T) {
	t.Parallel()
	require.True(t, ValidSecretName("A"))
	require.True(t, ValidSecretName("OPENAI_API_KEY"))
	require.True(t, ValidSecretName("K8S_TOKEN_2"))
	require.False(t, ValidSecretName(""))
	require.False(t, ValidSecretName("1KEY"))
	require.False(t, ValidSecretName("Key"))
	require.False(t, ValidSecretName("MY-KEY"))
	require.False(t, ValidSecretName(strings.Repeat("A", 65)))
}

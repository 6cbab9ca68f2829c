package runner

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/models"
)

// obj builds a config with one member per line, two spaces in, so a member
// on line N (the first is line 2) has its key at column 3.
func obj(members ...string) string {
	if len(members) == 0 {
		return "{}"
	}
	return "{\n  " + strings.Join(members, ",\n  ") + "\n}"
}

// errCase is a config that must fail with exactly these errors. Message in
// want is matched as a substring so library wording (encoding/json, goja)
// can be checked by its key part; everything else must be equal.
type errCase struct {
	name string
	kind models.BotKind
	raw  string
	want []FieldError
}

func runErrCases(t *testing.T, cases []errCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := ValidateConfig(tc.kind, []byte(tc.raw))
			require.Nil(t, cfg)
			requireFieldErrors(t, err, tc.want...)
		})
	}
}

func requireFieldErrors(t *testing.T, err error, want ...FieldError) {
	t.Helper()
	var ce *ConfigError
	require.ErrorAs(t, err, &ce, "want *ConfigError, got %T: %v", err, err)
	require.Len(t, ce.Errors, len(want), "errors: %v", ce.Errors)
	for i, w := range want {
		got := ce.Errors[i]
		require.Contains(t, got.Message, w.Message, "error %d", i)
		got.Message = w.Message
		require.Equal(t, w, got, "error %d", i)
	}
}

func mustValidate(t *testing.T, kind models.BotKind, raw string) Config {
	t.Helper()
	cfg, err := ValidateConfig(kind, []byte(raw))
	require.NoError(t, err)
	require.NotNil(t, cfg)
	require.Equal(t, kind, cfg.Kind())
	return cfg
}

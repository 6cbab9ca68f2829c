package runner

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/models"
)

func TestExamplesValidate(t *testing.T) {
	t.Parallel()
	for _, kind := range models.BotKinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ex := Example(kind)
			require.True(t, json.Valid(ex))
			require.Contains(t, string(ex), "\n  \"", "pretty-printed")
			mustValidate(t, kind, string(ex))
			require.NotEmpty(t, Schema(kind))
		})
	}
}

func TestSchemaMentionsEveryField(t *testing.T) {
	t.Parallel()
	fields := map[models.BotKind][]string{
		models.KindHTTP:   {"method", "url", "headers", "body", "timeout_seconds", "expected_status", "{{secret.NAME}}", "Output:"},
		models.KindLLM:    {"model", "system_prompt", "prompt_template", "temperature", "max_tokens", "json_output", "base_url", "api_key_secret", "timeout_seconds", "Output:"},
		models.KindScript: {"source", "main(input)", "timeout_seconds"},
	}
	for kind := range fields {
		fields[kind] = append(fields[kind], "max_attempts", "retry_backoff_seconds")
	}
	for kind, names := range fields {
		for _, name := range names {
			require.Contains(t, Schema(kind), name, kind)
		}
	}
}

func TestUnknownKindHasNoSchemaOrExample(t *testing.T) {
	t.Parallel()
	require.Empty(t, Schema("rag"))
	require.Nil(t, Example("rag"))
}

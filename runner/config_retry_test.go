package runner

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/models"
)

// minimalConfigs are the smallest valid config of each kind, as JSON members.
var minimalConfigs = map[models.BotKind][]string{
	models.KindHTTP:   {`"url": "https://example.com"`},
	models.KindLLM:    {`"model": "gpt-4o-mini"`, `"prompt_template": "Hi {{input.name}}"`},
	models.KindScript: {`"source": "function main(input) { return input }"`},
}

func TestRetryFieldsDefaults(t *testing.T) {
	t.Parallel()
	for kind, members := range minimalConfigs {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			cfg := mustValidate(t, kind, obj(members...))
			require.Equal(t, RetryPolicy{MaxAttempts: 1, Backoff: 2 * time.Second}, cfg.Retry())
			require.Positive(t, cfg.Timeout())
		})
	}
}

func TestRetryFieldsAccepted(t *testing.T) {
	t.Parallel()
	for kind, members := range minimalConfigs {
		for _, tc := range []struct {
			extra []string
			want  RetryPolicy
		}{
			{[]string{`"max_attempts": 1`, `"retry_backoff_seconds": 0.1`}, RetryPolicy{MaxAttempts: 1, Backoff: 100 * time.Millisecond}},
			{[]string{`"max_attempts": 10`, `"retry_backoff_seconds": 3600`}, RetryPolicy{MaxAttempts: 10, Backoff: time.Hour}},
			{[]string{`"max_attempts": 3.0`}, RetryPolicy{MaxAttempts: 3, Backoff: 2 * time.Second}},
		} {
			cfg := mustValidate(t, kind, obj(append(members, tc.extra...)...))
			require.Equal(t, tc.want, cfg.Retry(), "%s %v", kind, tc.extra)
		}
	}
}

func TestRetryFieldsRejected(t *testing.T) {
	t.Parallel()
	var cases []errCase
	for kind, members := range minimalConfigs {
		line := len(members) + 2
		with := func(extra string) string { return obj(append(members, extra)...) }
		cases = append(cases,
			errCase{string(kind) + " max_attempts 0", kind, with(`"max_attempts": 0`), []FieldError{
				{Path: "max_attempts", Line: line, Column: 19, Message: "must be between 1 and 10"},
			}},
			errCase{string(kind) + " max_attempts 11", kind, with(`"max_attempts": 11`), []FieldError{
				{Path: "max_attempts", Line: line, Column: 19, Message: "must be between 1 and 10"},
			}},
			errCase{string(kind) + " max_attempts fractional", kind, with(`"max_attempts": 2.5`), []FieldError{
				{Path: "max_attempts", Line: line, Column: 19, Message: "must be a whole number"},
			}},
			errCase{string(kind) + " max_attempts as string", kind, with(`"max_attempts": "3"`), []FieldError{
				{Path: "max_attempts", Line: line, Column: 19, Message: "must be a whole number, not a string"},
			}},
			errCase{string(kind) + " backoff too small", kind, with(`"retry_backoff_seconds": 0.05`), []FieldError{
				{Path: "retry_backoff_seconds", Line: line, Column: 28, Message: "must be between 0.1 and 3600"},
			}},
			errCase{string(kind) + " backoff too large", kind, with(`"retry_backoff_seconds": 3601`), []FieldError{
				{Path: "retry_backoff_seconds", Line: line, Column: 28, Message: "must be between 0.1 and 3600"},
			}},
		)
	}
	runErrCases(t, cases)
}

func TestRetryPolicyDelay(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{MaxAttempts: 10, Backoff: 2 * time.Second}
	for attempt, want := range map[int]time.Duration{
		1: 2 * time.Second, 2: 4 * time.Second, 3: 8 * time.Second, 4: 16 * time.Second,
		11: 2048 * time.Second, 12: time.Hour, 100: time.Hour, 0: 2 * time.Second,
	} {
		require.Equal(t, want, p.Delay(attempt), "attempt %d", attempt)
	}
	require.Equal(t, time.Hour, RetryPolicy{Backoff: time.Hour}.Delay(1))
	require.Equal(t, time.Hour, RetryPolicy{Backoff: time.Hour}.Delay(5))
	require.Equal(t, 200*time.Millisecond, RetryPolicy{Backoff: 100 * time.Millisecond}.Delay(2))
	require.Zero(t, RetryPolicy{}.Delay(3))
}

func TestRetrySettingsZeroValueTakesDefaults(t *testing.T) {
	t.Parallel()
	require.Equal(t, RetryPolicy{MaxAttempts: 1, Backoff: 2 * time.Second}, (&ScriptConfig{}).Retry())
	require.Equal(t, RetryPolicy{MaxAttempts: 4, Backoff: 2 * time.Second}, (&HTTPConfig{RetrySettings: RetrySettings{MaxAttempts: 4}}).Retry())
}

func TestConfigInterface(t *testing.T) {
	t.Parallel()
	var _ Config = (*HTTPConfig)(nil)
	var _ Config = (*LLMConfig)(nil)
	var _ Config = (*ScriptConfig)(nil)
}

func TestLLMConfigJSONOutputAndTimeout(t *testing.T) {
	t.Parallel()
	l := models.KindLLM
	model := `"model": "gpt-4o-mini"`
	lc := mustValidate(t, l, obj(model, `"prompt_template": "Reply with a json object: {{input.q}}"`, `"json_output": true`)).(*LLMConfig)
	require.True(t, lc.JSONOutput)
	lc = mustValidate(t, l, obj(model, `"system_prompt": "Answer in JSON."`, `"prompt_template": "{{input.q}}"`, `"json_output": true`)).(*LLMConfig)
	require.True(t, lc.JSONOutput)
	lc = mustValidate(t, l, obj(model, `"prompt_template": "Hi"`, `"json_output": false`, `"timeout_seconds": 1`)).(*LLMConfig)
	require.False(t, lc.JSONOutput)
	require.Equal(t, time.Second, lc.Timeout())

	prompt := `"prompt_template": "Summarise {{input.text}}"`
	runErrCases(t, []errCase{
		{"json_output not a bool", l, obj(model, prompt, `"json_output": "yes"`), []FieldError{
			{Path: "json_output", Line: 4, Column: 18, Message: "must be true or false, not a string"},
		}},
		{"json_output without asking for JSON", l, obj(model, prompt, `"json_output": true`), []FieldError{
			{Path: "json_output", Line: 4, Column: 18, Message: "with json_output, the system prompt or prompt_template must ask for JSON"},
		}},
		{"timeout too long", l, obj(model, prompt, `"timeout_seconds": 301`), []FieldError{
			{Path: "timeout_seconds", Line: 4, Column: 22, Message: "must be between 1 and 300"},
		}},
		{"timeout too short", l, obj(model, prompt, `"timeout_seconds": 0.5`), []FieldError{
			{Path: "timeout_seconds", Line: 4, Column: 22, Message: "must be between 1 and 300"},
		}},
	})
}

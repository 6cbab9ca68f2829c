package runner

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/models"
)

func TestLLMConfigMinimalDefaults(t *testing.T) {
	t.Parallel()
	cfg := mustValidate(t, models.KindLLM, `{"model": "gpt-4o-mini", "prompt_template": "Summarise: {{input.ticket}}"}`)
	lc, ok := cfg.(*LLMConfig)
	require.True(t, ok)
	require.Equal(t, &LLMConfig{
		Model: "gpt-4o-mini", PromptTemplate: "Summarise: {{input.ticket}}",
		Temperature: 1, MaxTokens: 1024, APIKeySecret: "OPENAI_API_KEY", TimeoutSeconds: 60,
		RetrySettings: RetrySettings{MaxAttempts: 1, RetryBackoffSeconds: 2},
	}, lc)
	require.Equal(t, []string{"OPENAI_API_KEY"}, lc.SecretNames())
	require.Equal(t, time.Minute, lc.Timeout())
	require.Equal(t, RetryPolicy{MaxAttempts: 1, Backoff: 2 * time.Second}, lc.Retry())
}

func TestLLMConfigFull(t *testing.T) {
	t.Parallel()
	raw := obj(
		`"model": "llama3.1:8b"`,
		`"system_prompt": "You answer in {{ input.language }}, as JSON."`,
		`"prompt_template": "Ticket {{input.ticket.id}}:\n{{input.ticket.body}}"`,
		`"temperature": 0`,
		`"max_tokens": 200000`,
		`"base_url": "http://localhost:11434/v1"`,
		`"api_key_secret": "OLLAMA_KEY"`,
		`"json_output": true`,
		`"timeout_seconds": 300`,
		`"max_attempts": 10`,
		`"retry_backoff_seconds": 0.5`,
	)
	lc := mustValidate(t, models.KindLLM, raw).(*LLMConfig)
	require.Equal(t, &LLMConfig{
		Model: "llama3.1:8b", SystemPrompt: "You answer in {{ input.language }}, as JSON.",
		PromptTemplate: "Ticket {{input.ticket.id}}:\n{{input.ticket.body}}",
		Temperature:    0, MaxTokens: 200000, JSONOutput: true, BaseURL: "http://localhost:11434/v1", APIKeySecret: "OLLAMA_KEY",
		TimeoutSeconds: 300, RetrySettings: RetrySettings{MaxAttempts: 10, RetryBackoffSeconds: 0.5},
	}, lc)
	require.Equal(t, 5*time.Minute, lc.Timeout())
	require.Equal(t, RetryPolicy{MaxAttempts: 10, Backoff: 500 * time.Millisecond}, lc.Retry())
	require.Equal(t, []string{"OLLAMA_KEY"}, lc.SecretNames())
}

func TestLLMConfigLimitsAccepted(t *testing.T) {
	t.Parallel()
	raw := obj(
		`"model": "`+strings.Repeat("m", 200)+`"`,
		`"system_prompt": "`+strings.Repeat("é", 20000)+`"`,
		`"prompt_template": "`+strings.Repeat("p", 50000)+`"`,
		`"temperature": 2`,
		`"max_tokens": 1`,
	)
	mustValidate(t, models.KindLLM, raw)
}

func TestLLMConfigErrors(t *testing.T) {
	t.Parallel()
	l := models.KindLLM
	model, prompt := `"model": "gpt-4o-mini"`, `"prompt_template": "Hi {{input.name}}"`
	runErrCases(t, []errCase{
		{"required fields missing", l, `{}`, []FieldError{
			{Path: "model", Message: "is required"},
			{Path: "prompt_template", Message: "is required"},
		}},
		{"model blank", l, obj(`"model": "  "`, prompt), []FieldError{
			{Path: "model", Line: 2, Column: 12, Message: "is required"},
		}},
		{"model too long", l, obj(`"model": "`+strings.Repeat("m", 201)+`"`, prompt), []FieldError{
			{Path: "model", Line: 2, Column: 12, Message: "is 201 characters long; the limit is 200"},
		}},
		{"system prompt too long", l, obj(model, prompt, `"system_prompt": "`+strings.Repeat("s", 20001)+`"`), []FieldError{
			{Path: "system_prompt", Line: 4, Column: 20, Message: "is 20001 characters long; the limit is 20000"},
		}},
		{"prompt too long", l, obj(model, `"prompt_template": "`+strings.Repeat("p", 50001)+`"`), []FieldError{
			{Path: "prompt_template", Line: 3, Column: 22, Message: "is 50001 characters long; the limit is 50000"},
		}},
		{"prompt blank", l, obj(model, `"prompt_template": ""`), []FieldError{
			{Path: "prompt_template", Line: 3, Column: 22, Message: "is required"},
		}},
		{"secret in prompt", l, obj(model, `"prompt_template": "key: {{secret.OPENAI_API_KEY}}"`), []FieldError{
			{Path: "prompt_template", Line: 3, Column: 22, Message: "secrets cannot be used here ({{secret.OPENAI_API_KEY}}): the text is sent to the model"},
		}},
		{"secret in system prompt", l, obj(model, prompt, `"system_prompt": "{{ secret.DB_PASSWORD }}"`), []FieldError{
			{Path: "system_prompt", Line: 4, Column: 20, Message: "secrets cannot be used here ({{secret.DB_PASSWORD}})"},
		}},
		{"prompt template error", l, obj(model, `"prompt_template": "Hi {{user.name}}"`), []FieldError{
			{Path: "prompt_template", Line: 3, Column: 22, Message: `template: {{user.name}}: unknown namespace "user"`},
		}},
		{"temperature out of range", l, obj(model, prompt, `"temperature": 2.1`), []FieldError{
			{Path: "temperature", Line: 4, Column: 18, Message: "must be between 0 and 2"},
		}},
		{"temperature negative", l, obj(model, prompt, `"temperature": -0.1`), []FieldError{
			{Path: "temperature", Line: 4, Column: 18, Message: "must be between 0 and 2"},
		}},
		{"max_tokens zero", l, obj(model, prompt, `"max_tokens": 0`), []FieldError{
			{Path: "max_tokens", Line: 4, Column: 17, Message: "must be between 1 and 200000"},
		}},
		{"max_tokens too many", l, obj(model, prompt, `"max_tokens": 200001`), []FieldError{
			{Path: "max_tokens", Line: 4, Column: 17, Message: "must be between 1 and 200000"},
		}},
		{"max_tokens fractional", l, obj(model, prompt, `"max_tokens": 10.5`), []FieldError{
			{Path: "max_tokens", Line: 4, Column: 17, Message: "must be a whole number"},
		}},
		{"base_url not http", l, obj(model, prompt, `"base_url": "ftp://llm.example.com"`), []FieldError{
			{Path: "base_url", Line: 4, Column: 15, Message: "must be an absolute http:// or https:// URL"},
		}},
		{"base_url relative", l, obj(model, prompt, `"base_url": "llm.example.com/v1"`), []FieldError{
			{Path: "base_url", Line: 4, Column: 15, Message: "must be an absolute http:// or https:// URL"},
		}},
		{"base_url templated", l, obj(model, prompt, `"base_url": "https://{{input.host}}/v1"`), []FieldError{
			{Path: "base_url", Line: 4, Column: 15, Message: "cannot contain template references"},
		}},
		{"base_url with credentials", l, obj(model, prompt, `"base_url": "https://me:pw@llm.example.com/v1"`), []FieldError{
			{Path: "base_url", Line: 4, Column: 15, Message: "the URL contains credentials"},
		}},
		{"api_key_secret lower case", l, obj(model, prompt, `"api_key_secret": "openai_key"`), []FieldError{
			{Path: "api_key_secret", Line: 4, Column: 21, Message: "must be a secret name"},
		}},
		{"api_key_secret as a reference", l, obj(model, prompt, `"api_key_secret": "{{secret.OPENAI_API_KEY}}"`), []FieldError{
			{Path: "api_key_secret", Line: 4, Column: 21, Message: `give just the secret's name, e.g. "OPENAI_API_KEY"`},
		}},
		{"api_key_secret empty", l, obj(model, prompt, `"api_key_secret": ""`), []FieldError{
			{Path: "api_key_secret", Line: 4, Column: 21, Message: "must be a secret name"},
		}},
		{"http fields are unknown", l, obj(model, prompt, `"url": "https://example.com"`), []FieldError{
			{Path: "url", Line: 4, Column: 3, Message: `unknown field "url" (allowed: model, system_prompt, prompt_template, temperature, max_tokens, json_output, base_url, api_key_secret, timeout_seconds, max_attempts, retry_backoff_seconds)`},
		}},
	})
}

package runner

import (
	"net/url"
	"strings"
	"time"

	"github.com/codex32/codex32/models"
)

// DefaultAPIKeySecret is the secret an llm bot's API key comes from unless
// its config names another.
const DefaultAPIKeySecret = "OPENAI_API_KEY" //nolint:gosec // G101: the name of a secret, not its value

// LLMConfig asks an OpenAI-compatible chat model. The prompts are templates
// over the input only: secrets would be sent to the model.
type LLMConfig struct {
	Model          string  `json:"model"`
	SystemPrompt   string  `json:"system_prompt,omitempty"`
	PromptTemplate string  `json:"prompt_template"`
	Temperature    float64 `json:"temperature"`
	MaxTokens      int     `json:"max_tokens"`
	// JSONOutput asks for a JSON object (response_format json_object) and
	// makes the output's answer that parsed value instead of text.
	JSONOutput bool `json:"json_output"`
	// BaseURL is the API root of an OpenAI-compatible server; empty means OpenAI's.
	BaseURL        string  `json:"base_url,omitempty"`
	APIKeySecret   string  `json:"api_key_secret"`
	TimeoutSeconds float64 `json:"timeout_seconds"`
	RetrySettings
}

// Kind implements Config.
func (*LLMConfig) Kind() models.BotKind { return models.KindLLM }

// SecretNames implements Config.
func (c *LLMConfig) SecretNames() []string { return []string{c.APIKeySecret} }

// Timeout is how long one call to the model may take.
func (c *LLMConfig) Timeout() time.Duration { return seconds(c.TimeoutSeconds) }

// jsonWordHint is why json_output needs the word JSON in a prompt: OpenAI
// rejects a json_object request whose messages never mention it.
const jsonWordHint = `with json_output, the system prompt or prompt_template must ask for JSON (e.g. "Answer with a JSON object …"); OpenAI rejects the request otherwise`

func (c *checker) llmConfig(root *jnode) *LLMConfig {
	f := c.fields(root, "", append([]string{"model", "system_prompt", "prompt_template", "temperature", "max_tokens",
		"json_output", "base_url", "api_key_secret", "timeout_seconds"}, retryFieldNames...)...)
	cfg := &LLMConfig{Temperature: 1, MaxTokens: 1024, APIKeySecret: DefaultAPIKeySecret, TimeoutSeconds: 60}

	if n := f["model"]; n == nil {
		c.missing("model")
	} else if s, ok := c.str("model", n, 200); ok {
		if strings.TrimSpace(s) == "" {
			c.at("model", n, "is required")
		}
		cfg.Model = s
	}

	if n := f["system_prompt"]; n != nil {
		cfg.SystemPrompt, _, _ = c.template("system_prompt", n, 20000, false)
	}

	if n := f["prompt_template"]; n == nil {
		c.missing("prompt_template")
	} else if s, _, ok := c.template("prompt_template", n, 50000, false); ok {
		if strings.TrimSpace(s) == "" {
			c.at("prompt_template", n, "is required")
		}
		cfg.PromptTemplate = s
	}

	if n := f["temperature"]; n != nil {
		if v, ok := c.number("temperature", n, 0, 2); ok {
			cfg.Temperature = v
		}
	}

	if n := f["max_tokens"]; n != nil {
		if v, ok := c.integer("max_tokens", n, 1, 200000); ok {
			cfg.MaxTokens = v
		}
	}

	if n := f["json_output"]; n != nil {
		if n.kind != jsonBool {
			c.wrongType("json_output", n, "true or false")
		} else if cfg.JSONOutput = n.b; cfg.JSONOutput && cfg.PromptTemplate != "" &&
			!strings.Contains(strings.ToLower(cfg.SystemPrompt+"\n"+cfg.PromptTemplate), "json") {
			c.at("json_output", n, jsonWordHint)
		}
	}

	if n := f["base_url"]; n != nil {
		if s, ok := c.str("base_url", n, 2048); ok && c.baseURL(n, s) {
			cfg.BaseURL = s
		}
	}

	if n := f["api_key_secret"]; n != nil {
		if s, ok := c.str("api_key_secret", n, 0); ok {
			switch {
			case ValidSecretName(s):
				cfg.APIKeySecret = s
			case strings.Contains(s, "{{"):
				c.at("api_key_secret", n, "give just the secret's name, e.g. %q, not a {{secret.…}} reference", DefaultAPIKeySecret)
			default:
				c.at("api_key_secret", n, "must be a secret name: A-Z, 0-9 and _, starting with a letter, at most 64 characters")
			}
		}
	}

	if n := f["timeout_seconds"]; n != nil {
		if v, ok := c.number("timeout_seconds", n, 1, 300); ok {
			cfg.TimeoutSeconds = v
		}
	}
	cfg.RetrySettings = c.retrySettings(f)
	return cfg
}

func (c *checker) baseURL(n *jnode, s string) bool {
	if strings.Contains(s, "{{") {
		c.at("base_url", n, "cannot contain template references")
		return false
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		c.at("base_url", n, "must be an absolute http:// or https:// URL")
		return false
	}
	if u.User != nil {
		c.at("base_url", n, "the URL contains credentials; put the API key in a secret and name it in api_key_secret")
		return false
	}
	return true
}

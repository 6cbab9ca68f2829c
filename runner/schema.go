package runner

import "github.com/codex32/codex32/models"

// retryHelp describes the retry fields every kind has.
const retryHelp = `
  max_attempts     1 to 10 (default 1: no retry); a failed run is tried again
                   only when the failure may pass
  retry_backoff_seconds
                   0.1 to 3600 (default 2); the wait before retry n is this
                   times 2^(n-1), at most one hour`

// callRetryHelp is retryHelp for the kinds that call out over the network.
const callRetryHelp = `
  max_attempts     1 to 10 (default 1: no retry); a failed run is tried again
                   only when the failure may pass: a network error, a timeout,
                   a 429 or 5xx answer
  retry_backoff_seconds
                   0.1 to 3600 (default 2); the wait before retry n is this
                   times 2^(n-1), at most one hour`

// Schema describes a kind's config fields for the help text beside the
// config editor. It is "" for an unknown kind.
func Schema(kind models.BotKind) string {
	switch kind {
	case models.KindHTTP:
		return `Calls a URL and returns the response.
  method           GET, POST, PUT, PATCH, DELETE or HEAD (default GET)
  url              required; absolute http:// or https:// URL
  headers          object of header name → value (optional)
  body             request body (optional; not with GET or HEAD)
  timeout_seconds  1 to 300 (default 30)
  expected_status  list of status codes that count as success (default: any 2xx)` + callRetryHelp + `
url, header values and body are templates: {{input.field}} inserts a field of the
execution's input ({{input.items.0.id}} reaches into arrays), {{secret.NAME}} a
stored secret. Values are escaped for where they land: URL-encoded in the URL,
JSON-escaped inside a JSON body's strings and inserted as JSON values outside
them, so {"n": {{input.n}}, "t": "{{input.text}}"} stays valid. A missing input
field inserts nothing (null in a JSON body). A body that starts with { or [ is
sent as application/json unless a Content-Type header says otherwise.
Credentials (Authorization, API keys, tokens, passwords) must come from a
secret, never be typed in.
Output: {"status": 200, "headers": {"content-type": …}, "body": parsed JSON or text}.`
	case models.KindLLM:
		return `Asks an OpenAI-compatible chat model and returns its answer.
  model            required; e.g. gpt-4o-mini
  system_prompt    instructions for the model (optional, up to 20,000 characters)
  prompt_template  required; the user message, up to 50,000 characters
  temperature      0 to 2 (default 1)
  max_tokens       1 to 200,000 (default 1024)
  json_output      true to ask for a JSON object and return it parsed (default
                   false); a prompt must then mention JSON
  base_url         API root of an OpenAI-compatible server (default: OpenAI)
  api_key_secret   name of the secret holding the API key (default OPENAI_API_KEY)
  timeout_seconds  1 to 300 (default 60)` + callRetryHelp + `
The prompts are templates: {{input.field}} inserts a field of the execution's input.
Secrets cannot be used in prompts.
Output: {"answer": text or parsed JSON, "model": …, "finish_reason": …,
"usage": {"prompt_tokens": …, "completion_tokens": …, "total_tokens": …}}.`
	case models.KindScript:
		return `Runs JavaScript in a sandbox (no network, files or timers).
  source           required; must define a top-level function main(input) whose
                   return value is the output; up to 200 KB
  timeout_seconds  1 to 60 (default 5)` + retryHelp
	}
	return ""
}

// Example returns a starter config for a kind, pretty-printed; nil for an
// unknown kind. Every example passes ValidateConfig.
func Example(kind models.BotKind) []byte {
	switch kind {
	case models.KindHTTP:
		return []byte(`{
  "method": "POST",
  "url": "https://api.example.com/v1/tickets",
  "headers": {
    "Authorization": "Bearer {{secret.EXAMPLE_API_TOKEN}}",
    "Content-Type": "application/json"
  },
  "body": "{\"title\": \"{{input.title}}\", \"priority\": \"{{input.priority}}\"}",
  "timeout_seconds": 30,
  "expected_status": [200, 201],
  "max_attempts": 3,
  "retry_backoff_seconds": 5
}
`)
	case models.KindLLM:
		return []byte(`{
  "model": "gpt-4o-mini",
  "system_prompt": "You are a concise assistant for a support team.",
  "prompt_template": "Summarise this in three bullet points:\n\n{{input.text}}",
  "temperature": 0.2,
  "max_tokens": 512,
  "api_key_secret": "OPENAI_API_KEY",
  "timeout_seconds": 60,
  "max_attempts": 2
}
`)
	case models.KindScript:
		return []byte(`{
  "source": "function main(input) {\n  const name = input.name || \"world\";\n  return { greeting: \"Hello, \" + name + \"!\" };\n}\n",
  "timeout_seconds": 5
}
`)
	}
	return nil
}

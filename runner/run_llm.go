package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// llmOutput is an llm bot's output.
type llmOutput struct {
	// Answer is the model's text, or with json_output the JSON it returned.
	Answer       json.RawMessage `json:"answer"`
	Model        string          `json:"model"`
	FinishReason string          `json:"finish_reason"`
	Usage        llmUsage        `json:"usage"`
}

type llmUsage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
}

// defaultLLMBaseURL is where requests go when the config names no base_url.
const defaultLLMBaseURL = "https://api.openai.com/v1/"

// RunLLM asks an OpenAI-compatible chat completions API (POST
// {base_url}/chat/completions) through client (the SSRF-safe outbound
// client), within cfg.Timeout(). The API key is secrets[cfg.APIKeySecret];
// the prompts are rendered over input with RenderText. The SDK's own
// retries are off: the engine retries by the bot's retry policy. Settings
// from the process environment (OPENAI_BASE_URL, OPENAI_ORG_ID, ...) are
// ignored, so no bot sees the server's own OpenAI configuration.
//
// The output is {"answer": ..., "model": ..., "finish_reason": ...,
// "usage": {"prompt_tokens": n, "completion_tokens": n, "total_tokens": n}}.
// answer is the text of the first choice, or with json_output the JSON value
// it holds (a ```json fence around it is tolerated); an answer that is not
// JSON then fails, with the text kept in the error's output.
//
// Errors: 401 and 403 are not retryable and point at the API key's secret;
// 408, 429 (except an exhausted quota) and 5xx are retryable; other statuses
// are not. Network errors and timeouts are as for RunHTTP, and so is the
// caller's cancellation. No message contains the API key.
func RunLLM(ctx context.Context, client *http.Client, cfg *LLMConfig, input json.RawMessage, secrets map[string]string) (*Result, error) {
	var logs runLog
	mask := func(s string) string { return maskSecrets(s, secrets) }
	fail := func(format string, args ...any) *RunError {
		return &RunError{Message: mask(fmt.Sprintf(format, args...)), Logs: logs.String()}
	}

	key, ok := secrets[cfg.APIKeySecret]
	if !ok {
		return nil, fail("api_key_secret: %v", secretNotSet(cfg.APIKeySecret))
	}
	r, err := newRenderer(input, secrets)
	if err != nil {
		return nil, fail("%v", err)
	}
	var messages []openai.ChatCompletionMessageParamUnion
	if cfg.SystemPrompt != "" {
		system, err := r.render(cfg.SystemPrompt, RenderText)
		if err != nil {
			return nil, fail("system_prompt: %v", err)
		}
		messages = append(messages, openai.SystemMessage(system))
	}
	prompt, err := r.render(cfg.PromptTemplate, RenderText)
	if err != nil {
		return nil, fail("prompt_template: %v", err)
	}
	messages = append(messages, openai.UserMessage(prompt))
	if len(r.missing) > 0 {
		logs.add(fmt.Sprintf("note: the input has no %s; inserted nothing", strings.Join(r.missing, ", ")))
	}

	opts := []option.RequestOption{
		option.WithEnvironmentProduction(),
		option.WithHTTPClient(client),
		option.WithAPIKey(key),
		option.WithMaxRetries(0),
	}
	endpoint := defaultLLMBaseURL
	if cfg.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(cfg.BaseURL))
		endpoint = strings.TrimSuffix(cfg.BaseURL, "/") + "/"
	}
	endpoint += "chat/completions"
	if u, err := url.Parse(endpoint); err == nil {
		endpoint = redactURL(u)
	}
	params := openai.ChatCompletionNewParams{
		Model:       cfg.Model,
		Messages:    messages,
		Temperature: openai.Float(cfg.Temperature),
		MaxTokens:   openai.Int(int64(cfg.MaxTokens)),
	}
	if cfg.JSONOutput {
		params.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{
			OfJSONObject: &shared.ResponseFormatJSONObjectParam{},
		}
	}

	timeout := cfg.Timeout()
	if timeout <= 0 {
		timeout = DefaultOutboundTimeout
	}
	runCtx, cancel := context.WithTimeoutCause(ctx, timeout, errRunTimeout)
	defer cancel()

	var resp *http.Response
	start := time.Now()
	svc := openai.NewChatCompletionService(opts...)
	completion, err := svc.New(runCtx, params, option.WithResponseInto(&resp))
	elapsed := time.Since(start)
	if err != nil {
		failure := llmFailure(ctx, runCtx, err, resp, cfg, timeout, secrets)
		if re, ok := AsRunError(failure); ok {
			logs.add(fmt.Sprintf("POST %s → failed after %s: %s", endpoint, fmtElapsed(elapsed), re.Message))
			re.Logs = logs.String()
		}
		return nil, failure
	}

	model := completion.Model
	if model == "" {
		model = cfg.Model
	}
	usage := llmUsage{
		PromptTokens:     completion.Usage.PromptTokens,
		CompletionTokens: completion.Usage.CompletionTokens,
		TotalTokens:      completion.Usage.TotalTokens,
	}
	logs.add(fmt.Sprintf("POST %s → %d in %s (model %s, %d prompt + %d completion tokens)",
		endpoint, statusOf(resp), fmtElapsed(elapsed), model, usage.PromptTokens, usage.CompletionTokens))

	if len(completion.Choices) == 0 {
		return nil, fail("the model server returned no answer (no choices)")
	}
	choice := completion.Choices[0]
	out := llmOutput{Model: model, FinishReason: choice.FinishReason, Usage: usage, Answer: quoteJSON(choice.Message.Content)}
	record := func() (json.RawMessage, *RunError) {
		raw, err := json.Marshal(out)
		if err != nil {
			return nil, fail("could not record the answer: %v", err)
		}
		raw = maskJSONStrings(raw, secrets)
		if len(raw) > MaxOutputBytes {
			return nil, fail("the answer makes an output of %d bytes; the limit is %d", len(raw), MaxOutputBytes)
		}
		return raw, nil
	}

	if choice.Message.Content == "" && choice.Message.Refusal != "" {
		re := fail("the model refused: %s", excerptText(choice.Message.Refusal, 300, false))
		re.Output, _ = record()
		return nil, re
	}
	if cfg.JSONOutput {
		answer, ok := jsonAnswer(choice.Message.Content)
		if !ok {
			msg := "json_output is on but the model's answer is not valid JSON"
			if choice.FinishReason == "length" {
				msg += fmt.Sprintf(" (it was cut off at max_tokens, %d; raise max_tokens)", cfg.MaxTokens)
			}
			if ex := excerptText(choice.Message.Content, 200, false); ex != "" {
				msg += ": " + ex
			}
			re := fail("%s", msg)
			re.Output, _ = record()
			return nil, re
		}
		out.Answer = answer
	}
	raw, re := record()
	if re != nil {
		return nil, re
	}
	return &Result{Output: raw, Logs: logs.String()}, nil
}

// jsonAnswer parses a json_output answer, tolerating a Markdown code fence
// around it (servers that ignore response_format often add one).
func jsonAnswer(content string) (json.RawMessage, bool) {
	s := strings.TrimSpace(content)
	if rest, ok := strings.CutPrefix(s, "```"); ok {
		if nl := strings.IndexByte(rest, '\n'); nl >= 0 && !strings.ContainsAny(rest[:nl], "{[\"") {
			rest = rest[nl+1:] // the fence's language tag, e.g. "json"
		}
		s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "```"))
	}
	if s == "" || !json.Valid([]byte(s)) {
		return nil, false
	}
	return json.RawMessage(s), true
}

func statusOf(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

// llmFailure words a failed chat completion call for the bot's owner.
func llmFailure(ctx, runCtx context.Context, err error, resp *http.Response, cfg *LLMConfig, timeout time.Duration, secrets map[string]string) error {
	if ctx.Err() != nil || context.Cause(runCtx) != nil {
		return callFailure(ctx, runCtx, err, timeout, secrets)
	}
	var apiErr *openai.Error
	status, detail, code := 0, "", ""
	switch {
	case errors.As(err, &apiErr):
		status, detail, code = apiErr.StatusCode, apiErr.Message, apiErr.Code
	case resp != nil && resp.StatusCode >= 400:
		// An error body that is not OpenAI's JSON shape.
		status = resp.StatusCode
	default:
		var syntaxErr *json.SyntaxError
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &syntaxErr) || errors.As(err, &typeErr) || strings.Contains(err.Error(), "error parsing response json") {
			return &RunError{Message: "the model server's response is not a chat completion; check base_url"}
		}
		return callFailure(ctx, runCtx, err, timeout, secrets)
	}
	detail = maskSecrets(excerptText(detail, 300, false), secrets)
	withDetail := func(s string) string {
		if detail != "" {
			return s + ": " + detail
		}
		return s
	}
	st := statusText(status)
	switch {
	case status == http.StatusUnauthorized:
		// The provider's message may echo part of the key: leave it out.
		return &RunError{Message: fmt.Sprintf("the model server rejected the API key (%s); check the secret %s named in api_key_secret — an admin can update it under Admin → Secrets",
			st, cfg.APIKeySecret)}
	case status == http.StatusForbidden:
		return &RunError{Message: withDetail(fmt.Sprintf("the model server refused access (%s); check that the API key in secret %s may use model %q",
			st, cfg.APIKeySecret, cfg.Model))}
	case status == http.StatusTooManyRequests && code == "insufficient_quota":
		return &RunError{Message: withDetail(fmt.Sprintf("the account behind secret %s is out of quota (%s)", cfg.APIKeySecret, st))}
	case status == http.StatusTooManyRequests:
		return &RunError{Message: withDetail("rate limited by the model server (" + st + ")"), Retryable: true}
	case status == http.StatusNotFound:
		return &RunError{Message: withDetail(fmt.Sprintf("not found (%s): check model %q and base_url", st, cfg.Model))}
	case status == http.StatusRequestTimeout || status >= 500:
		return &RunError{Message: withDetail("the model server failed (" + st + ")"), Retryable: true}
	}
	return &RunError{Message: withDetail("the model server rejected the request (" + st + ")")}
}

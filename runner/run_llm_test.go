package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/models"
)

const testLLMKey = "sk-test-0123456789abcdef"

var llmSecrets = map[string]string{"LLM_KEY": testLLMKey}

// completion is a chat completion response with one choice.
func completion(content, finish string) string {
	return fmt.Sprintf(`{"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "test-model-2024",
		"choices": [{"index": 0, "message": {"role": "assistant", "content": %q, "refusal": null}, "finish_reason": %q, "logprobs": null}],
		"usage": {"prompt_tokens": 21, "completion_tokens": 5, "total_tokens": 26}}`, content, finish)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// llmCfg validates an llm config for a fake server; extra members replace
// the defaults of the same key.
func llmCfg(t *testing.T, baseURL string, extra ...string) *LLMConfig {
	t.Helper()
	members := []string{
		`"model": "test-model"`,
		`"system_prompt": "Be brief. Language: {{input.lang}}."`,
		`"prompt_template": "Summarise: {{input.text}}"`,
		`"temperature": 0`,
		`"max_tokens": 77`,
		`"base_url": "` + baseURL + `/v1"`,
		`"api_key_secret": "LLM_KEY"`,
	}
	for _, e := range extra {
		key, _, _ := strings.Cut(e, ":")
		members = slices.DeleteFunc(members, func(m string) bool { return strings.HasPrefix(m, key+":") })
		members = append(members, e)
	}
	return mustValidate(t, models.KindLLM, obj(members...)).(*LLMConfig)
}

func TestRunLLMSuccess(t *testing.T) {
	t.Parallel()
	// An OpenAI-compatible server; the SDK posts to {base_url}/chat/completions.
	srv := newRecorder(t, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, completion("Three bullets.", "stop"))
	})
	input := json.RawMessage(`{"text": "the \"printer\" is on fire\n", "lang": "en"}`)

	res, err := RunLLM(t.Context(), loopbackClient(), llmCfg(t, srv.URL), input, llmSecrets)
	require.NoError(t, err)
	require.JSONEq(t, `{"answer": "Three bullets.", "model": "test-model-2024", "finish_reason": "stop",
		"usage": {"prompt_tokens": 21, "completion_tokens": 5, "total_tokens": 26}}`, string(res.Output))
	require.Regexp(t, `^POST http://127\.0\.0\.1:\d+/v1/chat/completions → 200 in \d+ ms \(model test-model-2024, 21 prompt \+ 5 completion tokens\)\n$`, res.Logs)
	require.NotContains(t, res.Logs, testLLMKey)

	seen := srv.requests()
	require.Len(t, seen, 1)
	require.Equal(t, "POST", seen[0].Method)
	require.Equal(t, "/v1/chat/completions", seen[0].Path)
	require.Equal(t, "Bearer "+testLLMKey, seen[0].Header.Get("Authorization"))
	require.Equal(t, "application/json", seen[0].Header.Get("Content-Type"))
	var body map[string]any
	require.NoError(t, json.Unmarshal([]byte(seen[0].Body), &body))
	require.Equal(t, "test-model", body["model"])
	require.Equal(t, []any{
		map[string]any{"role": "system", "content": "Be brief. Language: en."},
		map[string]any{"role": "user", "content": "Summarise: the \"printer\" is on fire\n"},
	}, body["messages"])
	require.Contains(t, body, "temperature", "temperature 0 is sent, not dropped as a zero value")
	require.InDelta(t, 0.0, body["temperature"], 0)
	require.InDelta(t, 77.0, body["max_tokens"], 0)
	require.NotContains(t, body, "response_format")
	require.NotContains(t, body, "stream")
}

func TestRunLLMIgnoresProcessEnvironment(t *testing.T) {
	// Not parallel: it sets the OpenAI SDK's environment variables, which a
	// bot must never pick up (they are the server's, not the bot owner's).
	t.Setenv("OPENAI_ORG_ID", "org-server")
	t.Setenv("OPENAI_PROJECT_ID", "proj-server")
	t.Setenv("OPENAI_CUSTOM_HEADERS", "X-Server-Secret: s3cret")
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/elsewhere")
	t.Setenv("OPENAI_API_KEY", "sk-server-key")
	srv := newRecorder(t, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, completion("ok", "stop")) })
	_, err := RunLLM(t.Context(), loopbackClient(), llmCfg(t, srv.URL), json.RawMessage(`{}`), llmSecrets)
	require.NoError(t, err)
	h := srv.requests()[0].Header
	require.Equal(t, "Bearer "+testLLMKey, h.Get("Authorization"))
	for _, name := range []string{"OpenAI-Organization", "OpenAI-Project", "X-Server-Secret"} {
		require.Empty(t, h.Get(name), name)
	}
}

func TestRunLLMJSONOutput(t *testing.T) {
	t.Parallel()
	answers := map[string]string{
		"plain":  `{"summary": "fire", "severity": 3, "tags": ["hw"]}`,
		"fenced": "```json\n{\"summary\": \"fire\", \"severity\": 3, \"tags\": [\"hw\"]}\n```",
		"bare":   "```\n{\"summary\": \"fire\", \"severity\": 3, \"tags\": [\"hw\"]}```",
	}
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, completion(answers[r.URL.Query().Get("case")], "stop"))
	})
	for name := range answers {
		cfg := llmCfg(t, srv.URL, `"json_output": true`, `"prompt_template": "Reply with a JSON object about {{input.text}}"`)
		client := NewOutboundClient(loopbackOnly)
		client.Transport = addQuery(client.Transport, "case", name)
		res, err := RunLLM(t.Context(), client, cfg, json.RawMessage(`{"text": "x"}`), llmSecrets)
		require.NoError(t, err, name)
		require.JSONEq(t, `{"answer": {"summary": "fire", "severity": 3, "tags": ["hw"]}, "model": "test-model-2024", "finish_reason": "stop",
			"usage": {"prompt_tokens": 21, "completion_tokens": 5, "total_tokens": 26}}`, string(res.Output), name)
	}
	for _, seen := range srv.requests() {
		var body map[string]any
		require.NoError(t, json.Unmarshal([]byte(seen.Body), &body))
		require.Equal(t, map[string]any{"type": "json_object"}, body["response_format"])
	}
}

// addQuery tags each request with a query parameter, so one fake server can
// answer several cases.
func addQuery(next http.RoundTripper, key, value string) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		q := r.URL.Query()
		q.Set(key, value)
		r.URL.RawQuery = q.Encode()
		return next.RoundTrip(r)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRunLLMJSONOutputNotJSON(t *testing.T) {
	t.Parallel()
	finish := map[string]string{"stop": "Sorry, I cannot produce that.", "length": `{"summary": "the printer`}
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		f := r.URL.Query().Get("finish")
		writeJSON(w, 200, completion(finish[f], f))
	})
	cases := []struct{ finish, want string }{
		{"stop", "json_output is on but the model's answer is not valid JSON: Sorry, I cannot produce that."},
		{"length", `json_output is on but the model's answer is not valid JSON (it was cut off at max_tokens, 77; raise max_tokens): {"summary": "the printer`},
	}
	for _, tc := range cases {
		client := NewOutboundClient(loopbackOnly)
		client.Transport = addQuery(client.Transport, "finish", tc.finish)
		cfg := llmCfg(t, srv.URL, `"json_output": true`, `"prompt_template": "JSON please: {{input.text}}"`)
		_, err := RunLLM(t.Context(), client, cfg, nil, llmSecrets)
		re := requireRunError(t, err)
		require.Equal(t, tc.want, re.Message)
		require.False(t, re.Retryable)
		var out llmOutput
		require.NoError(t, json.Unmarshal(re.Output, &out), "the answer is kept")
		require.Equal(t, string(quoteJSON(finish[tc.finish])), string(out.Answer))
		require.Contains(t, re.Logs, "→ 200 in")
	}
}

func TestRunLLMErrors(t *testing.T) {
	t.Parallel()
	apiError := func(msg, typ, code string) string {
		return fmt.Sprintf(`{"error": {"message": %q, "type": %q, "param": null, "code": %q}}`, msg, typ, code)
	}
	responses := map[string]func(w http.ResponseWriter){
		"401": func(w http.ResponseWriter) {
			writeJSON(w, 401, apiError("Incorrect API key provided: "+testLLMKey[:7]+"****cdef.", "invalid_request_error", "invalid_api_key"))
		},
		"403": func(w http.ResponseWriter) {
			writeJSON(w, 403, apiError("Project does not have access to model test-model", "invalid_request_error", "model_not_found"))
		},
		"404": func(w http.ResponseWriter) { http.NotFound(w, nil) },
		"400": func(w http.ResponseWriter) {
			writeJSON(w, 400, apiError("max_tokens is too large", "invalid_request_error", ""))
		},
		"429": func(w http.ResponseWriter) {
			writeJSON(w, 429, apiError("Rate limit reached", "requests", "rate_limit_exceeded"))
		},
		"quota": func(w http.ResponseWriter) {
			writeJSON(w, 429, apiError("You exceeded your current quota", "insufficient_quota", "insufficient_quota"))
		},
		"500": func(w http.ResponseWriter) {
			writeJSON(w, 500, apiError("The server had an error; key "+testLLMKey+" logged", "server_error", ""))
		},
		"502 text": func(w http.ResponseWriter) { http.Error(w, "upstream exploded", http.StatusBadGateway) },
		"503":      func(w http.ResponseWriter) { writeJSON(w, 503, `{"error": "overloaded"}`) },
		"not a completion": func(w http.ResponseWriter) {
			writeJSON(w, 200, `[1, 2, 3]`)
		},
		"no choices": func(w http.ResponseWriter) {
			writeJSON(w, 200, `{"id": "x", "object": "chat.completion", "model": "m", "choices": []}`)
		},
		"refusal": func(w http.ResponseWriter) {
			writeJSON(w, 200, `{"id": "x", "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
				"message": {"role": "assistant", "content": null, "refusal": "I can't help with that."}}]}`)
		},
	}
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { responses[r.URL.Query().Get("case")](w) })
	cases := []struct {
		name      string
		retryable bool
		want      []string
	}{
		{"401", false, []string{"the model server rejected the API key (401 Unauthorized); check the secret LLM_KEY named in api_key_secret — an admin can update it under Admin → Secrets"}},
		{"403", false, []string{`the model server refused access (403 Forbidden); check that the API key in secret LLM_KEY may use model "test-model": Project does not have access to model test-model`}},
		{"404", false, []string{`not found (404 Not Found): check model "test-model" and base_url`}},
		{"400", false, []string{"the model server rejected the request (400 Bad Request): max_tokens is too large"}},
		{"429", true, []string{"rate limited by the model server (429 Too Many Requests): Rate limit reached"}},
		{"quota", false, []string{"the account behind secret LLM_KEY is out of quota (429 Too Many Requests): You exceeded your current quota"}},
		{"500", true, []string{"the model server failed (500 Internal Server Error): The server had an error; key {{secret.LLM_KEY}} logged"}},
		{"502 text", true, []string{"the model server failed (502 Bad Gateway)"}},
		{"503", true, []string{"the model server failed (503 Service Unavailable)"}},
		{"not a completion", false, []string{"the model server's response is not a chat completion; check base_url"}},
		{"no choices", false, []string{"the model server returned no answer (no choices)"}},
		{"refusal", false, []string{"the model refused: I can't help with that."}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client := NewOutboundClient(loopbackOnly)
			client.Transport = addQuery(client.Transport, "case", tc.name)
			res, err := RunLLM(t.Context(), client, llmCfg(t, srv.URL), nil, llmSecrets)
			require.Nil(t, res)
			re := requireRunError(t, err)
			for _, w := range tc.want {
				require.Contains(t, re.Message, w)
			}
			require.Equal(t, tc.retryable, re.Retryable)
			require.False(t, re.TimedOut)
			for _, leak := range []string{testLLMKey, testLLMKey[:7]} {
				require.NotContains(t, re.Message, leak)
				require.NotContains(t, re.Logs, leak)
			}
			require.Contains(t, re.Logs, "POST http://127.0.0.1:")
		})
	}
}

func TestRunLLMMissingKeySecret(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, func(http.ResponseWriter, *http.Request) {})
	_, err := RunLLM(t.Context(), loopbackClient(), llmCfg(t, srv.URL), nil, map[string]string{"OTHER": "x"})
	re := requireRunError(t, err)
	require.Equal(t, "api_key_secret: secret LLM_KEY is not set; an admin can add it under Admin → Secrets", re.Message)
	require.False(t, re.Retryable)
	require.Empty(t, srv.requests())
}

func TestRunLLMTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := newRecorder(t, func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })
	cfg := llmCfg(t, srv.URL)
	cfg.TimeoutSeconds = 0.2
	_, err := RunLLM(t.Context(), loopbackClient(), cfg, nil, llmSecrets)
	re := requireRunError(t, err)
	require.True(t, re.TimedOut)
	require.True(t, re.Retryable)
	require.Equal(t, "timed out after 200ms", re.Message)
	require.Len(t, srv.requests(), 1, "the SDK does not retry on its own")
}

func TestRunLLMCancelled(t *testing.T) {
	t.Parallel()
	arrived, release := make(chan struct{}), make(chan struct{})
	srv := newRecorder(t, func(_ http.ResponseWriter, r *http.Request) {
		close(arrived)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	_, err := RunLLM(ctx, loopbackClient(), llmCfg(t, srv.URL), nil, llmSecrets)
	require.ErrorIs(t, err, context.Canceled)
	_, isRunError := AsRunError(err)
	require.False(t, isRunError)
}

func TestRunLLMNoSDKRetries(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "0")
		writeJSON(w, 503, `{"error": {"message": "busy"}}`)
	})
	start := time.Now()
	_, err := RunLLM(t.Context(), loopbackClient(), llmCfg(t, srv.URL), nil, llmSecrets)
	require.True(t, requireRunError(t, err).Retryable)
	require.Len(t, srv.requests(), 1)
	require.Less(t, time.Since(start), 10*time.Second)
}

func TestRunLLMDestinationRefused(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, func(http.ResponseWriter, *http.Request) {})
	_, err := RunLLM(t.Context(), NewOutboundClient(OutboundPolicy{}), llmCfg(t, srv.URL), nil, llmSecrets)
	re := requireRunError(t, err)
	require.Equal(t, "destination refused: 127.0.0.1 is a loopback address; an admin can allow it with CODEX32_OUTBOUND_ALLOW", re.Message)
	require.False(t, re.Retryable)
	require.Empty(t, srv.requests())
}

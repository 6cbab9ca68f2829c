// Package runner is the execution engine: the bot kinds, their configs and
// (later) the workers that run them.
package runner

import (
	"fmt"
	"slices"
	"time"

	"github.com/codex32/codex32/models"
)

// MaxConfigBytes bounds a submitted config; a script's source is the only
// large part and has its own, smaller limit.
const MaxConfigBytes = 1 << 20

// Config is a validated bot config of one kind, with defaults applied.
// Marshalling it to JSON gives the normalised config.
type Config interface {
	Kind() models.BotKind
	// SecretNames lists, without repeats, the secrets the bot needs at run time.
	SecretNames() []string
	// Timeout is how long one attempt may take.
	Timeout() time.Duration
	// Retry says how often, and how far apart, a failed run is attempted.
	Retry() RetryPolicy
}

// ValidateConfig parses raw strictly as the config of a bot of the given kind
// and checks every field. User mistakes come back together as a *ConfigError;
// on success the typed config (*HTTPConfig, *LLMConfig or *ScriptConfig) has
// its defaults filled in.
func ValidateConfig(kind models.BotKind, raw []byte) (Config, error) {
	if !kind.Valid() {
		return nil, &ConfigError{Errors: []FieldError{{Path: "kind", Message: fmt.Sprintf("unknown bot kind %q", kind)}}}
	}
	if len(raw) > MaxConfigBytes {
		return nil, &ConfigError{Errors: []FieldError{{Message: fmt.Sprintf("config is %d bytes; the limit is %d", len(raw), MaxConfigBytes)}}}
	}
	doc, errs := parseJSONDoc(raw)
	if doc == nil {
		return nil, &ConfigError{Errors: errs}
	}
	c := &checker{doc: doc, errs: errs}
	if doc.root.kind != jsonObject {
		c.at("", doc.root, "config must be a JSON object, not %s", doc.root.kind)
		return nil, &ConfigError{Errors: c.errs}
	}
	var cfg Config
	switch kind {
	case models.KindHTTP:
		cfg = c.httpConfig(doc.root)
	case models.KindLLM:
		cfg = c.llmConfig(doc.root)
	case models.KindScript:
		cfg = c.scriptConfig(doc.root)
	}
	if len(c.errs) > 0 {
		return nil, &ConfigError{Errors: c.errs}
	}
	return cfg, nil
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func uniqueStrings(in []string) []string {
	var out []string
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Bounds and defaults of the retry fields every kind has.
const (
	DefaultMaxAttempts         = 1
	MaxMaxAttempts             = 10
	DefaultRetryBackoffSeconds = 2.0
	MinRetryBackoffSeconds     = 0.1
	MaxRetryBackoffSeconds     = 3600.0
	// MaxRetryDelay caps the exponential backoff between two attempts.
	MaxRetryDelay = time.Hour
)

// RetryPolicy is how the engine retries a run whose error is Retryable.
type RetryPolicy struct {
	// MaxAttempts counts the first attempt: 1 means no retry.
	MaxAttempts int
	// Backoff is the delay after the first failed attempt; it doubles after
	// each further failure.
	Backoff time.Duration
}

// Delay is how long to wait after attempt (1-based) failed before the next
// one: Backoff * 2^(attempt-1), capped at MaxRetryDelay.
func (p RetryPolicy) Delay(attempt int) time.Duration {
	d := max(p.Backoff, 0)
	for i := 1; i < attempt && d < MaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, MaxRetryDelay)
}

// RetrySettings are the retry fields shared by every kind; each config
// embeds them so they sit beside its own fields in the JSON.
type RetrySettings struct {
	MaxAttempts         int     `json:"max_attempts"`
	RetryBackoffSeconds float64 `json:"retry_backoff_seconds"`
}

var retryFieldNames = []string{"max_attempts", "retry_backoff_seconds"}

func defaultRetrySettings() RetrySettings {
	return RetrySettings{MaxAttempts: DefaultMaxAttempts, RetryBackoffSeconds: DefaultRetryBackoffSeconds}
}

// Retry implements Config. Zero fields (a config built in code rather than by
// ValidateConfig) take the defaults.
func (s RetrySettings) Retry() RetryPolicy {
	p := RetryPolicy{MaxAttempts: s.MaxAttempts, Backoff: seconds(s.RetryBackoffSeconds)}
	if p.MaxAttempts < 1 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.Backoff <= 0 {
		p.Backoff = seconds(DefaultRetryBackoffSeconds)
	}
	return p
}

// retrySettings reads the retry fields from a config's members.
func (c *checker) retrySettings(f map[string]*jnode) RetrySettings {
	s := defaultRetrySettings()
	if n := f["max_attempts"]; n != nil {
		if v, ok := c.integer("max_attempts", n, 1, MaxMaxAttempts); ok {
			s.MaxAttempts = v
		}
	}
	if n := f["retry_backoff_seconds"]; n != nil {
		if v, ok := c.number("retry_backoff_seconds", n, MinRetryBackoffSeconds, MaxRetryBackoffSeconds); ok {
			s.RetryBackoffSeconds = v
		}
	}
	return s
}

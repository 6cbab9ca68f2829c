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

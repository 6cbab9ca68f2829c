package runner

import (
	"testing"

	"github.com/codex32/codex32/models"
)

// A secret in a URL's host or port would be looked up through DNS (and so
// reach whoever runs the name server) before any destination check.
func TestHTTPConfigRefusesSecretsInSchemeHostOrPort(t *testing.T) {
	t.Parallel()
	const msg = "a secret cannot be part of the URL's scheme, host or port"
	h := models.KindHTTP
	runErrCases(t, []errCase{
		{"secret as a host label", h, obj(`"url": "http://{{secret.API_TOKEN}}.attacker.example/"`), []FieldError{{Path: "url", Line: 2, Column: 10, Message: msg}}},
		{"secret as the host", h, obj(`"url": "https://{{secret.API_TOKEN}}/x"`), []FieldError{{Path: "url", Line: 2, Column: 10, Message: msg}}},
		{"secret after user-info", h, obj(`"url": "https://u:{{secret.PW}}@{{secret.API_TOKEN}}.example.com/"`), []FieldError{{Path: "url", Line: 2, Column: 10, Message: msg}}},
		{"secret as the port", h, obj(`"url": "https://example.com:{{secret.API_TOKEN}}/"`), []FieldError{{Path: "url", Line: 2, Column: 10, Message: msg}}},
	})
	for name, raw := range map[string]string{
		"path":      `{"url": "https://example.com/{{secret.API_TOKEN}}/x"}`,
		"query":     `{"url": "https://example.com/x?api_key={{secret.API_TOKEN}}"}`,
		"user-info": `{"url": "https://bot:{{secret.API_TOKEN}}@example.com/"}`,
	} {
		t.Run("allowed in the "+name, func(t *testing.T) {
			t.Parallel()
			cfg := mustValidate(t, h, raw)
			if got := cfg.SecretNames(); len(got) != 1 || got[0] != "API_TOKEN" {
				t.Fatalf("secrets %v", got)
			}
		})
	}
}

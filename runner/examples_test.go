package runner

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dop251/goja"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/models"
)

// exampleBot is the import shape of a file in examples/bots.
type exampleBot struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Tags        []string        `json:"tags"`
	Kind        models.BotKind  `json:"kind"`
	Config      json.RawMessage `json:"config"`
}

func readExampleBot(t *testing.T, path string) exampleBot {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var b exampleBot
	require.NoError(t, dec.Decode(&b), path)
	return b
}

func TestExampleBotsValidate(t *testing.T) {
	t.Parallel()
	paths, err := filepath.Glob("../examples/bots/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	kinds := map[models.BotKind]bool{}
	for _, path := range paths {
		b := readExampleBot(t, path)
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			require.NotEmpty(t, strings.TrimSpace(b.Name))
			require.LessOrEqual(t, len(b.Name), 100)
			require.NotEmpty(t, b.Description)
			require.LessOrEqual(t, len(b.Description), 1000)
			require.NotEmpty(t, b.Tags)
			for _, tag := range b.Tags {
				require.Equal(t, strings.ToLower(strings.TrimSpace(tag)), tag, "tags are stored lower-case")
			}
			require.True(t, b.Kind.Valid(), "kind %q", b.Kind)
			cfg, err := ValidateConfig(b.Kind, b.Config)
			require.NoError(t, err)
			require.Equal(t, b.Kind, cfg.Kind())
		})
		kinds[b.Kind] = true
	}
	for _, k := range models.BotKinds {
		require.True(t, kinds[k], "no example of kind %s", k)
	}
}

// The invoice example is a real program: run its main as the script kind will.
func TestInvoiceTotalExampleComputes(t *testing.T) {
	t.Parallel()
	b := readExampleBot(t, "../examples/bots/invoice-total.json")
	cfg, err := ValidateConfig(b.Kind, b.Config)
	require.NoError(t, err)
	sc := cfg.(*ScriptConfig)

	vm := goja.New()
	_, err = vm.RunString(sc.Source)
	require.NoError(t, err)
	main, ok := goja.AssertFunction(vm.Get("main"))
	require.True(t, ok)
	var input map[string]any
	require.NoError(t, json.Unmarshal([]byte(`{"currency": "EUR", "tax_rate": 0.21, "items": [
		{"description": "Hosting", "quantity": 2, "unit_price": 12.5},
		{"description": "Support", "unit_price": 0.1},
		{"description": "Domains", "quantity": 3, "unit_price": 0.2}]}`), &input))
	out, err := main(goja.Undefined(), vm.ToValue(input))
	require.NoError(t, err)
	got, err := json.Marshal(out.Export())
	require.NoError(t, err)
	require.JSONEq(t, `{"currency": "EUR", "items": 3, "subtotal": 25.7, "tax": 5.4, "total": 31.1}`, string(got))
}

package models_test

import (
	"strings"
	"testing"

	"github.com/codex32/codex32/models"
)

func TestJSONDepth(t *testing.T) {
	for raw, want := range map[string]int{
		`1`: 0, `"[[["`: 0, `[]`: 1, `{"a": [1, {"b": []}]}`: 4, `["\"[", ["]"]]`: 2, `[[],[],[]]`: 2,
		strings.Repeat("[", 600) + strings.Repeat("]", 600): 600,
	} {
		if got := models.JSONDepth([]byte(raw)); got != want {
			t.Errorf("JSONDepth(%.40s) = %d, want %d", raw, got, want)
		}
	}
	if why := models.JSONTooDeep([]byte(strings.Repeat("[", models.MaxJSONDepth) + strings.Repeat("]", models.MaxJSONDepth))); why != "" {
		t.Errorf("at the limit: %q", why)
	}
	if why := models.JSONTooDeep([]byte(strings.Repeat("{\"a\":", 513) + "1" + strings.Repeat("}", 513))); !strings.Contains(why, "nests deeper than 512 levels") {
		t.Errorf("past the limit: %q", why)
	}
}

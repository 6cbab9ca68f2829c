package handlers_test

import (
	"os"
	"testing"

	"github.com/codex32/codex32/internal/testutil"
)

// TestMain lets the script sandbox re-execute this test binary.
func TestMain(m *testing.M) {
	testutil.SandboxMain()
	os.Exit(m.Run())
}

package runner

import (
	"os"
	"testing"
)

// envSandboxChild makes the test binary a sandbox child, so pool tests run
// real child processes without building codex32 (internal/testutil's
// SandboxMain does the same for other packages).
const envSandboxChild = "CODEX32_SANDBOX_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(envSandboxChild) == "1" {
		os.Exit(ServeScripts(os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

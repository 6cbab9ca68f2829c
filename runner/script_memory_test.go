package runner

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Memory tests are not parallel, so at most one child is near its limit at
// a time: with the 64 MiB limit a child is killed by 200 MiB above its start
// size, and with the default 256 MiB by 600 MiB.

func TestScriptPoolMemory(t *testing.T) {
	p, _ := newTestPool(t, ScriptPoolConfig{Size: 1, MemoryLimitBytes: 64 << 20})
	cases := []struct{ name, src string }{
		{"huge string", `function main() { return "x".repeat(2 ** 30).length }`},
		{"16 GiB string", `function main() { return "x".repeat(2 ** 34).length }`},
		{"string doubling", `function main() { let s = "x"; for (;;) s = s + s }`},
		{"string doubling caught", `function main() { let s = "x"; for (;;) { try { s = s + s } catch (e) {} } }`},
		{"growing array", `function main() { const a = []; for (;;) a.push({x: a.length}) }`},
		{"growing map", `function main() { const m = new Map(); for (let i = 0; ; i++) m.set("k" + i, [i]) }`},
		{"big allocation in top-level code", `const a = new Array(2 ** 27).fill(1.5); function main() {}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := requireTrivialRun(t, p)
			start := time.Now()
			res, err := p.Run(context.Background(), ScriptRequest{Source: tc.src, Timeout: 30 * time.Second})
			took := time.Since(start)
			require.Nil(t, res)
			re, ok := AsRunError(err)
			require.True(t, ok, "want a *RunError, got %T: %v", err, err)
			require.Contains(t, re.Message, "exceeded the memory limit of 64 MiB")
			require.False(t, re.TimedOut)
			require.False(t, re.Retryable)
			t.Logf("%s: %q after %s", tc.name, re.Message, took.Round(time.Millisecond))
			require.NotEqual(t, before, requireTrivialRun(t, p), "the child was replaced to give its memory back")
		})
	}
}

// TestScriptPoolDefaultMemoryLimit checks the default limit on the cases
// from the issue.
func TestScriptPoolDefaultMemoryLimit(t *testing.T) {
	p, _ := newTestPool(t, ScriptPoolConfig{Size: 1})
	for _, src := range []string{
		`function main() { return "x".repeat(2 ** 30).length }`,
		`function main() { let s = "x"; for (;;) s = s + s }`,
	} {
		res, err := p.Run(context.Background(), ScriptRequest{Source: src, Timeout: 30 * time.Second})
		require.Nil(t, res)
		re, ok := AsRunError(err)
		require.True(t, ok, "want a *RunError, got %T: %v", err, err)
		require.Contains(t, re.Message, "exceeded the memory limit of 256 MiB")
		requireTrivialRun(t, p)
	}
}

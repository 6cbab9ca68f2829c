package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSeedCommand(t *testing.T) {
	t.Parallel()
	env := dbEnv(t)

	_, stderr, code := codex32(t, env, "seed", "--bots", "5")
	require.Equal(t, 1, code, "the schema must be current first")
	require.Contains(t, stderr, "database not ready")

	_, stderr, code = codex32(t, env, "migrate", "up")
	require.Zero(t, code, stderr)

	args := []string{"seed", "--users", "3", "--bots", "20", "--versions", "2", "--executions", "100", "--audit", "50", "--seed", "42"}
	out, stderr, code := codex32(t, env, args...)
	require.Zero(t, code, stderr)
	require.Regexp(t, `^seeded 3 users, 20 bots, 40 versions, \d+ tags, 100 executions, 50 audit rows: \d+ rows in [\d.]+s \(\d+ rows/s, (sqlite|postgres), seed 42\)\n$`, out)
	for _, stage := range []string{"users", "bots", "executions", "audit"} {
		require.Contains(t, stderr, "seed: "+stage, "progress on stderr")
	}

	out, stderr, code = codex32(t, env, "audit", "verify")
	require.Zero(t, code, "seeded audit rows verify: %s %s", out, stderr)

	// Again, with existing users only: adds to what is there.
	out, stderr, code = codex32(t, env, "seed", "--users", "0", "--bots", "2", "--audit", "5")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "seeded 0 users, 2 bots, 6 versions")
}

func TestSeedCommandUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"seed"}, // --bots is required
		{"seed", "--bots", "-1"},
		{"seed", "--bots", "x"},
		{"seed", "--bots", "3", "--versions", "0"},
		{"seed", "--bots", "0", "--executions", "10"},
		{"seed", "--bots", "1", "--frob"},
		{"seed", "--bots", "1", "extra"},
	} {
		_, stderr, code := codex32(t, nil, args...)
		require.Equal(t, 2, code, "%v: %s", args, stderr)
		require.True(t, strings.HasPrefix(stderr, "codex32: "), "%v: %s", args, stderr)
	}

	out, _, code := codex32(t, nil, "seed", "--help")
	require.Zero(t, code)
	require.Contains(t, out, "--executions")
	out, _, _ = codex32(t, nil, "help")
	require.Contains(t, out, "codex32 seed")
}

func TestSeedCommandRefusesProduction(t *testing.T) {
	t.Parallel()
	env := dbEnv(t)
	env["CODEX32_ENV"] = "production"
	env["CODEX32_SESSION_SECRET"] = strings.Repeat("s", 40)
	env["CODEX32_SECRET_KEY"] = strings.Repeat("ab", 32)
	_, stderr, code := codex32(t, env, "seed", "--bots", "1")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "production")
	require.Contains(t, stderr, "--force")
}

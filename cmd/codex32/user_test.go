package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

// codex32Stdin runs the binary with standard input.
func codex32Stdin(t *testing.T, env map[string]string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"CODEX32_TEST_RUN_MAIN=1", "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok { //nolint:errorlint // exec returns it unwrapped
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return out.String(), errb.String(), code
}

func TestUserCommands(t *testing.T) {
	t.Parallel()
	spec := testutil.NewDBSpec(t)
	env := map[string]string{"DATABASE_URL": spec.URL}
	_, stderr, code := codex32(t, env, "migrate", "up")
	require.Zero(t, code, stderr)

	out, stderr, code := codex32Stdin(t, env, "a long admin passphrase\n", "user", "create", "--email", "Root@Example.test", "--name", "Root", "--role", "admin", "--password-stdin")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "created Root@Example.test")

	// Weak passwords, bad roles and duplicates are refused with one line.
	_, stderr, code = codex32Stdin(t, env, "short\n", "user", "create", "--email", "w@example.test", "--name", "W", "--role", "user", "--password-stdin")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "password must be at least")
	_, stderr, code = codex32(t, env, "user", "create", "--email", "x@example.test", "--name", "X", "--role", "root")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "--role must be one of")
	_, stderr, code = codex32(t, env, "user", "create", "--email", "root@example.test", "--name", "Again", "--role", "user")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "already exists")
	_, stderr, code = codex32(t, env, "user", "create", "--name", "No email")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "--email is required")

	_, stderr, code = codex32(t, env, "user", "create", "--email", "bot@example.test", "--name", "Bot", "--role", "api_user")
	require.Zero(t, code, stderr)
	out, stderr, code = codex32(t, env, "user", "set-role", "--email", "bot@example.test", "--role", "viewer")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "now viewer")
	_, stderr, code = codex32(t, env, "user", "disable", "--email", "bot@example.test")
	require.Zero(t, code, stderr)
	_, stderr, code = codex32(t, env, "user", "enable", "--email", "bot@example.test")
	require.Zero(t, code, stderr)
	// The last admin cannot be demoted.
	_, stderr, code = codex32(t, env, "user", "set-role", "--email", "root@example.test", "--role", "viewer")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "last active admin")

	out, stderr, code = codex32(t, env, "user", "token", "--email", "bot@example.test", "--name", "deploy", "--scopes", "read,execute", "--expires", "30d")
	require.Zero(t, code, stderr)
	key := strings.TrimSpace(out)
	require.True(t, models.WellFormedAPIKey(key), out)
	require.Contains(t, stderr, "shown only now")
	_, stderr, code = codex32(t, env, "user", "token", "--email", "bot@example.test", "--name", "x", "--scopes", "read", "--expires", "400d")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "CODEX32_API_KEY_MAX_DAYS")

	// Check the database: roles, the key's scopes, setup marked done, and the audit trail.
	db := testutil.OpenDB(t, spec)
	ctx := context.Background()
	root, err := models.UserByEmail(ctx, db.Bun, "root@example.test")
	require.NoError(t, err)
	require.Equal(t, models.RoleAdmin, root.Role)
	ok, err := models.VerifyPassword(*root.PasswordHash, "a long admin passphrase")
	require.NoError(t, err)
	require.True(t, ok)
	k, err := models.APIKeyByKey(ctx, db.Bun, key)
	require.NoError(t, err)
	require.Equal(t, []string{"execute", "read"}, k.Scopes)
	done, err := models.SetupDone(ctx, db.Bun)
	require.NoError(t, err)
	require.True(t, done)
	n, err := db.Bun.NewSelect().Table("audit_logs").Where("actor_label = ?", "cli").Count(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 6, n, "create ×2, set-role, disable, enable, token")
}

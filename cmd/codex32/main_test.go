package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/config"
	"github.com/codex32/codex32/internal/testutil"
)

// TestMain lets tests run this test binary as the real codex32 process.
// The script sandbox is started as "<binary> sandbox" with a clean
// environment, so that argument is recognised too.
func TestMain(m *testing.M) {
	if os.Getenv("CODEX32_TEST_RUN_MAIN") == "1" || (len(os.Args) == 2 && os.Args[1] == "sandbox") {
		main()
		return
	}
	os.Exit(m.Run())
}

// httpGet is http.Get bound to ctx.
func httpGet(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return http.DefaultClient.Do(req)
}

// codex32 runs the binary in a fresh working directory with only the given
// environment (plus PATH/HOME), and returns its output and exit status.
func codex32(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return codex32In(t, t.TempDir(), env, args...)
}

func codex32In(t *testing.T, dir string, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = []string{"CODEX32_TEST_RUN_MAIN=1", "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), errb.String(), ee.ExitCode()
	}
	require.NoError(t, err)
	return out.String(), errb.String(), 0
}

func TestBadConfigurationIsOneLineAndExitTwo(t *testing.T) {
	t.Parallel()
	cases := []struct{ env, value, want string }{
		{"DATABASE_URL", "mysql://x", "codex32: invalid DATABASE_URL: unsupported scheme \"mysql\""},
		{"CODEX32_ADDR", "nope", "codex32: invalid CODEX32_ADDR: \"nope\" is not host:port"},
		{"LOG_LEVEL", "loud", "codex32: invalid LOG_LEVEL"},
		{"CODEX32_AUTO_MIGRATE", "maybe", "codex32: invalid CODEX32_AUTO_MIGRATE"},
		{"CODEX32_AUDIT_SIGNING_KEY", "not-a-key", "codex32: invalid CODEX32_AUDIT_SIGNING_KEY: is not 64 hex characters"},
		{"CODEX32_AUDIT_CHECKPOINT_INTERVAL", "1s", "codex32: invalid CODEX32_AUDIT_CHECKPOINT_INTERVAL"},
		{"DATABASE_MIGRATE_URL", "postgres://owner@db.example.test/codex32", "codex32: invalid DATABASE_MIGRATE_URL: is for Postgres"},
	}
	for _, tc := range cases {
		for _, args := range [][]string{nil, {"serve"}, {"migrate", "status"}} {
			stdout, stderr, code := codex32(t, map[string]string{tc.env: tc.value}, args...)
			require.Equal(t, 2, code, "%s=%s %v: %s", tc.env, tc.value, args, stderr)
			require.Empty(t, stdout)
			require.Equal(t, 1, strings.Count(stderr, "\n"), "exactly one line, got %q", stderr)
			require.True(t, strings.HasPrefix(stderr, tc.want), "got %q", stderr)
			require.NotContains(t, stderr, "goroutine")
		}
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"frobnicate"}, {"serve", "--bogus"}, {"migrate"}, {"migrate", "sideways"}, {"migrate", "down", "zero"}} {
		_, stderr, code := codex32(t, nil, args...)
		require.Equal(t, 2, code, "%v: %s", args, stderr)
		require.Contains(t, stderr, "codex32:")
	}
}

func TestHelpListsEverySetting(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help"}, {"serve", "--help"}, {"migrate", "--help"}} {
		stdout, _, code := codex32(t, nil, args...)
		require.Zero(t, code, "%v", args)
		for _, s := range config.Settings() {
			require.Contains(t, stdout, s.Name, "%v lists %s", args, s.Name)
		}
	}
	stdout, _, _ := codex32(t, nil, "help")
	for _, word := range []string{"serve", "migrate up", "migrate down", "migrate status", "version"} {
		require.Contains(t, stdout, word)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	stdout, _, code := codex32(t, nil, "version")
	require.Zero(t, code)
	require.True(t, strings.HasPrefix(stdout, "codex32 "), stdout)
}

// dbEnv points DATABASE_URL at a fresh, empty database for t.
func dbEnv(t *testing.T) map[string]string {
	t.Helper()
	spec := testutil.NewDBSpec(t)
	return map[string]string{"DATABASE_URL": spec.URL}
}

func TestMigrateCommands(t *testing.T) {
	t.Parallel()
	env := dbEnv(t)
	out, stderr, code := codex32(t, env, "migrate", "status")
	require.Zero(t, code, stderr)
	require.Regexp(t, `version 0 of (\d+) \(\d+ pending\)`, out)
	require.Contains(t, out, "pending  0001_init")

	out, stderr, code = codex32(t, env, "migrate", "up")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "applied 0001_init")

	out, stderr, code = codex32(t, env, "migrate", "up")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "schema is current", "a second up is a no-op")

	out, stderr, code = codex32(t, env, "migrate", "status")
	require.Zero(t, code, stderr)
	require.Regexp(t, `version (\d+) of (\d+) \(current\)`, out)
	require.Regexp(t, `job queue \(River\) schema: version (\d+) of \d+`, out)

	out, stderr, code = codex32(t, env, "migrate", "down", "--all")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "rolled back 0001_init")
	out, _, _ = codex32(t, env, "migrate", "status")
	require.Contains(t, out, "version 0 of ")
	require.Contains(t, out, "job queue (River) schema: version 0 of")

	out, stderr, code = codex32(t, env, "migrate", "up")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "applied 0001_init")
	out, _, _ = codex32(t, env, "migrate", "status")
	require.Contains(t, out, "(current)")
}

func TestServeRefusesSchemaBehindWithoutMigrate(t *testing.T) {
	t.Parallel()
	env := dbEnv(t)
	env["CODEX32_ADDR"] = "127.0.0.1:0"
	_, stderr, code := codex32(t, env, "serve", "--migrate=false")
	require.Equal(t, 1, code)
	require.Regexp(t, `database not ready: schema is at version 0 of \d+: run codex32 migrate up`, stderr)
}

func TestServeAnswersHealthAndReady(t *testing.T) {
	t.Parallel()
	spec := testutil.NewDBSpec(t)
	cfg, err := config.FromEnv(map[string]string{"DATABASE_URL": spec.URL, "CODEX32_ADDR": "127.0.0.1:0", "CODEX32_DATA_DIR": filepath.Join(t.TempDir(), "data")})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, testutil.Logger(t), ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
		resp, err := httpGet(t.Context(), "http://"+addr+path)
		require.NoError(t, err)
		var body map[string]string
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		_ = resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Equal(t, want, body["status"], path)
	}
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, "graceful shutdown")
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not shut down")
	}
}

func TestDefaultDatabaseIsCreatedInDataDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, err := config.FromEnv(map[string]string{"CODEX32_ADDR": "127.0.0.1:0", "CODEX32_DATA_DIR": filepath.Join(dir, "nested", "data")})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, testutil.Logger(t), ready) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("serve exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not shut down")
	}
	_, err = os.Stat(filepath.Join(dir, "nested", "data", "codex32.db"))
	require.NoError(t, err, "SQLite file created on first start")
}

func TestDotEnvFileIsReadAndEnvironmentWins(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".env"), []byte("CODEX32_ADDR=from-dotenv\n"), 0o600))
	_, stderr, code := codex32In(t, dir, nil, "migrate", "status")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, `invalid CODEX32_ADDR: "from-dotenv"`, "the .env file was read")

	stdout, stderr, code := codex32In(t, dir, map[string]string{"CODEX32_ADDR": "127.0.0.1:0"}, "migrate", "status")
	require.Zero(t, code, "a real environment variable wins over .env: %s", stderr)
	require.Contains(t, stdout, "database: sqlite")
}

package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/config"
)

func TestDevelopmentSessionKeyIsGeneratedOnceAndKept(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, err := config.FromEnv(map[string]string{"CODEX32_DATA_DIR": dir})
	require.NoError(t, err)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	k1, err := sessionKeys(cfg, log)
	require.NoError(t, err)
	require.Len(t, k1, 1)
	require.GreaterOrEqual(t, len(k1[0]), 32)
	require.Contains(t, logs.String(), "CODEX32_SESSION_SECRET", "a warning says to set the real setting")
	st, err := os.Stat(filepath.Join(dir, "session.key"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	k2, err := sessionKeys(cfg, log)
	require.NoError(t, err)
	require.Equal(t, k1, k2, "the same key on the next start, so sessions survive restarts")
}

func TestSessionSecretSettingWins(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, err := config.FromEnv(map[string]string{"CODEX32_DATA_DIR": dir,
		"CODEX32_SESSION_SECRET": "new-key-0123456789abcdef0123456789abcdef,old-key-0123456789abcdef0123456789abcdef"})
	require.NoError(t, err)
	keys, err := sessionKeys(cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte("new-key-0123456789abcdef0123456789abcdef"), []byte("old-key-0123456789abcdef0123456789abcdef")}, keys)
	_, err = os.Stat(filepath.Join(dir, "session.key"))
	require.True(t, os.IsNotExist(err), "no key file is written")
}

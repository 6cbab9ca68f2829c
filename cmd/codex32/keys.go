package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/codex32/codex32/internal/config"
	"github.com/codex32/codex32/models"
)

// sessionKeys returns the session signing keys: CODEX32_SESSION_SECRET, or
// in development a key generated once and kept in the data directory.
func sessionKeys(cfg *config.Config, log *slog.Logger) ([][]byte, error) {
	if len(cfg.SessionSecret) > 0 {
		keys := make([][]byte, len(cfg.SessionSecret))
		for i, k := range cfg.SessionSecret {
			keys[i] = []byte(k)
		}
		return keys, nil
	}
	path := filepath.Join(cfg.DataDir, "session.key")
	key, err := devKeyFile(path, log, "CODEX32_SESSION_SECRET")
	if err != nil {
		return nil, err
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("session key file %s is too short; delete it to generate a new one", path)
	}
	return [][]byte{[]byte(key)}, nil
}

// secretBox builds the encryption for bot secrets from CODEX32_SECRET_KEY,
// or in development from a key generated once and kept in the data directory.
func secretBox(cfg *config.Config, log *slog.Logger) (*models.SecretBox, error) {
	var hexKeys []string
	if len(cfg.SecretKey) > 0 {
		hexKeys = cfg.SecretKey
	} else {
		k, err := devKeyFile(filepath.Join(cfg.DataDir, "secret.key"), log, "CODEX32_SECRET_KEY")
		if err != nil {
			return nil, err
		}
		hexKeys = []string{k}
	}
	keys := make([][]byte, len(hexKeys))
	for i, h := range hexKeys {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("secret key %d is not 64 hex characters", i+1)
		}
		keys[i] = b
	}
	return models.NewSecretBox(keys...)
}

// devKeyFile reads a hex key from path, creating it (0600) on first use.
func devKeyFile(path string, log *slog.Logger, setting string) (string, error) {
	b, err := os.ReadFile(path) //nolint:gosec // G304: a key file the operator names in the configuration
	switch {
	case err == nil:
		log.Warn("using a development key from the data directory; set "+setting+" in production", "file", path)
		return strings.TrimSpace(string(b)), nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	key := hex.EncodeToString(raw)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return "", fmt.Errorf("create data directory: %w", err)
	}
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	log.Warn("generated a development key in the data directory; set "+setting+" in production", "file", path)
	return key, nil
}

// auditSigner returns the key that signs audit checkpoints:
// CODEX32_AUDIT_SIGNING_KEY, or in development a key generated once and
// kept in the data directory. In production without the setting it is nil
// (checkpoints are not signed; serve says so at start).
func auditSigner(cfg *config.Config, log *slog.Logger) (*models.AuditSigner, error) {
	if cfg.AuditSigningKey != "" {
		return models.ParseAuditSigningKey(cfg.AuditSigningKey)
	}
	if cfg.Production() {
		return nil, nil
	}
	k, err := devKeyFile(filepath.Join(cfg.DataDir, "audit-signing.key"), log, "CODEX32_AUDIT_SIGNING_KEY")
	if err != nil {
		return nil, err
	}
	return models.ParseAuditSigningKey(k)
}

// auditVerifyKey is the public key whose stored checkpoints a verification
// checks: the configured signing key's, or the development key file's if
// one exists (a verification never creates one). Nil when there is none.
func auditVerifyKey(cfg *config.Config) (ed25519.PublicKey, error) {
	if cfg.AuditSigningKey == "" && !cfg.Production() {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "audit-signing.key")); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	s, err := auditSigner(cfg, slog.New(slog.DiscardHandler))
	if err != nil || s == nil {
		return nil, err
	}
	return s.Public(), nil
}

package models

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// AuditSigner holds the Ed25519 key that signs audit checkpoints. It lives
// outside the database (CODEX32_AUDIT_SIGNING_KEY, or a development file in
// the data directory): whoever can rewrite the database can recompute the
// unkeyed hash chain, but cannot sign the recomputed head.
//
// Key format: the private key is the 32-byte Ed25519 seed as 64 hex
// characters (any 32 random bytes are a valid seed, so `openssl rand -hex
// 32` makes one too); the public key is its 32 bytes as 64 hex characters.
type AuditSigner struct {
	priv ed25519.PrivateKey
}

// ParseAuditSigningKey reads a private key (64 hex characters of seed).
func ParseAuditSigningKey(s string) (*AuditSigner, error) {
	seed, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("audit signing key: not %d hex characters (make one with: codex32 audit keygen)", 2*ed25519.SeedSize)
	}
	return &AuditSigner{priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// NewAuditSigningKey makes a fresh key and returns it with its private key
// in the format ParseAuditSigningKey reads.
func NewAuditSigningKey() (*AuditSigner, string, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, "", fmt.Errorf("audit signing key: %w", err)
	}
	return &AuditSigner{priv: ed25519.NewKeyFromSeed(seed)}, hex.EncodeToString(seed), nil
}

// Public is the key that verifies this signer's checkpoints.
func (s *AuditSigner) Public() ed25519.PublicKey { return s.priv.Public().(ed25519.PublicKey) }

// KeyID names the key in checkpoints (see AuditKeyID).
func (s *AuditSigner) KeyID() string { return AuditKeyID(s.Public()) }

// ParseAuditPublicKey reads a public key (64 hex characters).
func ParseAuditPublicKey(s string) (ed25519.PublicKey, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("audit public key: not %d hex characters", 2*ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// AuditKeyID is a key's fingerprint: "ed25519:" and the first 16 hex
// characters of the SHA-256 of the public key. It tells keys apart after a
// rotation; the signature, not the id, is what proves anything.
func AuditKeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "ed25519:" + hex.EncodeToString(sum[:8])
}

package models

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// SecretBox encrypts secret values with AES-256-GCM. Keys are named by a
// short fingerprint stored beside each ciphertext, so old keys can still
// decrypt after a new one is added (rotation: the first key encrypts).
type SecretBox struct {
	keys  map[string]cipher.AEAD
	first string
}

// ErrNoSecretKey is returned when no key can decrypt a value.
var ErrNoSecretKey = errors.New("secrets: no configured key can decrypt this value (was CODEX32_SECRET_KEY changed?)")

// NewSecretBox takes 32-byte keys, the first one encrypting.
func NewSecretBox(keys ...[]byte) (*SecretBox, error) {
	if len(keys) == 0 {
		return nil, errors.New("secrets: no key")
	}
	b := &SecretBox{keys: map[string]cipher.AEAD{}}
	for i, k := range keys {
		if len(k) != 32 {
			return nil, fmt.Errorf("secrets: key %d is %d bytes; AES-256 needs 32", i+1, len(k))
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("secrets: key %d: %w", i+1, err)
		}
		gcm, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secrets: key %d: %w", i+1, err)
		}
		sum := sha256.Sum256(k)
		id := hex.EncodeToString(sum[:4])
		b.keys[id] = gcm
		if i == 0 {
			b.first = id
		}
	}
	return b, nil
}

// Seal encrypts plaintext; aad binds the ciphertext to its secret (its
// name), so a ciphertext copied onto another secret does not decrypt.
func (b *SecretBox) Seal(plaintext, aad []byte) (ciphertext, nonce []byte, keyID string, err error) {
	gcm := b.keys[b.first]
	nonce = make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, "", fmt.Errorf("secrets: nonce: %w", err)
	}
	return gcm.Seal(nil, nonce, plaintext, aad), nonce, b.first, nil
}

// Open decrypts a value sealed by Seal with the same aad.
func (b *SecretBox) Open(ciphertext, nonce []byte, keyID string, aad []byte) ([]byte, error) {
	gcm, ok := b.keys[keyID]
	if !ok {
		return nil, ErrNoSecretKey
	}
	pt, err := gcm.Open(nil, nonce, ciphertext, aad)
	if err != nil {
		return nil, fmt.Errorf("secrets: decrypt: %w", err)
	}
	return pt, nil
}

package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// APIKey lets a program act as a user. Only the SHA-256 of the key is stored;
// the key itself is shown once, when it is created.
type APIKey struct {
	bun.BaseModel `bun:"table:api_keys,alias:k"`

	ID         uuid.UUID  `bun:"id,pk,type:uuid"`
	UserID     uuid.UUID  `bun:"user_id,notnull,type:uuid"`
	Name       string     `bun:"name,notnull"`
	Prefix     string     `bun:"prefix,notnull"` // shown in lists so people can tell keys apart
	KeyHash    string     `bun:"key_hash,notnull"`
	Scopes     []string   `bun:"scopes,type:jsonb,notnull"`
	ExpiresAt  *time.Time `bun:"expires_at"`
	LastUsedAt *time.Time `bun:"last_used_at"`
	RevokedAt  *time.Time `bun:"revoked_at"`
	CreatedAt  time.Time  `bun:"created_at,notnull"`
}

// apiKeyPrefix marks our keys so secret scanners can recognise them.
const apiKeyPrefix = "cx32_"

var keyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// HashAPIKey returns the stored form of a key.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Validate checks the fields a caller sets.
func (k *APIKey) Validate() error {
	errs := fieldErrors{}
	k.Name = strings.TrimSpace(k.Name)
	if k.Name == "" {
		errs["name"] = "is required"
	} else if len(k.Name) > 100 {
		errs["name"] = "must be at most 100 characters"
	}
	if k.Scopes == nil {
		k.Scopes = []string{}
	}
	if k.ExpiresAt != nil && !k.ExpiresAt.After(time.Now()) {
		errs["expires_at"] = "must be in the future"
	}
	return errs.err()
}

// CreateAPIKey generates a key for k.UserID, stores its hash and returns the
// plaintext key, which is never stored or shown again.
func CreateAPIKey(ctx context.Context, db bun.IDB, actor Actor, k *APIKey) (string, error) {
	if err := k.Validate(); err != nil {
		return "", err
	}
	var secret [20]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", fmt.Errorf("api keys: random: %w", err)
	}
	body := strings.ToLower(keyEncoding.EncodeToString(secret[:]))
	plain := apiKeyPrefix + body
	k.ID = NewID()
	k.Prefix = apiKeyPrefix + body[:8]
	k.KeyHash = HashAPIKey(plain)
	k.CreatedAt = now()
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(k).Exec(ctx); err != nil {
			return fmt.Errorf("api keys: create: %w", mapErr(err))
		}
		return WriteAudit(ctx, tx, actor, AuditEntry{
			Action: "api_key.create", ResourceType: "api_key", ResourceID: k.ID.String(),
			New: map[string]any{"user_id": k.UserID, "name": k.Name, "prefix": k.Prefix, "scopes": k.Scopes, "expires_at": k.ExpiresAt},
		})
	})
	if err != nil {
		return "", err
	}
	return plain, nil
}

// APIKeyByKey finds the key row for a plaintext key (revoked and expired keys included).
func APIKeyByKey(ctx context.Context, db bun.IDB, plain string) (*APIKey, error) {
	k := new(APIKey)
	if err := db.NewSelect().Model(k).Where("k.key_hash = ?", HashAPIKey(plain)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("api keys: look up: %w", mapErr(err))
	}
	return k, nil
}

// ListAPIKeys returns a user's keys, newest first.
func ListAPIKeys(ctx context.Context, db bun.IDB, userID uuid.UUID) ([]*APIKey, error) {
	var keys []*APIKey
	if err := db.NewSelect().Model(&keys).Where("k.user_id = ?", userID).Order("k.created_at DESC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("api keys: list for %s: %w", userID, err)
	}
	return keys, nil
}

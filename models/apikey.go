package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"slices"
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

// API key format: "c32_" + 32 base32 characters (160 random bits) + 6
// base32 characters of CRC-32 over the random part, so typos and truncated
// keys are rejected without a database lookup, and secret scanners can
// recognise our keys by the prefix.
const (
	apiKeyPrefix  = "c32_"
	apiKeyBodyLen = 32
	apiKeySumLen  = 6
	// APIKeyDisplayLen is how much of a key is kept for display.
	APIKeyDisplayLen = len(apiKeyPrefix) + 8
)

// API key scopes.
const (
	ScopeRead    = "read"
	ScopeWrite   = "write"
	ScopeExecute = "execute"
)

// Scopes lists every scope.
var Scopes = []string{ScopeRead, ScopeWrite, ScopeExecute}

var keyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// HashAPIKey returns the stored form of a key.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func apiKeyChecksum(body string) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc32.ChecksumIEEE([]byte(body)))
	return strings.ToLower(keyEncoding.EncodeToString(b[:]))[:apiKeySumLen]
}

// WellFormedAPIKey reports whether s has our key format and a valid checksum.
func WellFormedAPIKey(s string) bool {
	if len(s) != len(apiKeyPrefix)+apiKeyBodyLen+apiKeySumLen || !strings.HasPrefix(s, apiKeyPrefix) {
		return false
	}
	body := s[len(apiKeyPrefix) : len(apiKeyPrefix)+apiKeyBodyLen]
	return apiKeyChecksum(body) == s[len(apiKeyPrefix)+apiKeyBodyLen:]
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
	slices.Sort(k.Scopes)
	k.Scopes = slices.Compact(k.Scopes)
	for _, s := range k.Scopes {
		if !slices.Contains(Scopes, s) {
			errs["scopes"] = fmt.Sprintf("unknown scope %q (use %s)", s, strings.Join(Scopes, ", "))
		}
	}
	if len(k.Scopes) == 0 {
		errs["scopes"] = "choose at least one scope"
	}
	if k.ExpiresAt != nil && !k.ExpiresAt.After(time.Now()) {
		errs["expires_at"] = "must be in the future"
	}
	return errs.err()
}

// HasScope reports whether the key carries scope.
func (k *APIKey) HasScope(scope string) bool { return slices.Contains(k.Scopes, scope) }

// Usable reports why a key cannot be used, or "" when it can.
func (k *APIKey) Usable(at time.Time) string {
	switch {
	case k.RevokedAt != nil:
		return "revoked"
	case k.ExpiresAt != nil && !at.Before(*k.ExpiresAt):
		return "expired"
	}
	return ""
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
	plain := apiKeyPrefix + body + apiKeyChecksum(body)
	k.ID = NewID()
	k.Prefix = plain[:APIKeyDisplayLen]
	k.KeyHash = HashAPIKey(plain)
	k.CreatedAt = now()
	if k.ExpiresAt != nil {
		t := k.ExpiresAt.UTC().Truncate(time.Microsecond)
		k.ExpiresAt = &t
	}
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

// RevokeAPIKey revokes one of a user's keys (idempotent) and audits it.
func RevokeAPIKey(ctx context.Context, db bun.IDB, actor Actor, userID, keyID uuid.UUID) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		k := new(APIKey)
		if err := tx.NewSelect().Model(k).Where("k.id = ?", keyID).Where("k.user_id = ?", userID).Scan(ctx); err != nil {
			return fmt.Errorf("api keys: revoke %s: %w", keyID, mapErr(err))
		}
		if k.RevokedAt != nil {
			return nil
		}
		at := now()
		k.RevokedAt = &at
		if _, err := tx.NewUpdate().Model(k).Column("revoked_at").WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("api keys: revoke %s: %w", keyID, err)
		}
		return WriteAudit(ctx, tx, actor, AuditEntry{
			Action: "api_key.revoke", ResourceType: "api_key", ResourceID: k.ID.String(),
			New: map[string]any{"user_id": k.UserID, "name": k.Name, "prefix": k.Prefix},
		})
	})
}

// TouchAPIKey records use, at most once a minute per key to spare writes.
func TouchAPIKey(ctx context.Context, db bun.IDB, k *APIKey, at time.Time) error {
	if k.LastUsedAt != nil && at.Sub(*k.LastUsedAt) < time.Minute {
		return nil
	}
	at = at.UTC().Truncate(time.Microsecond)
	if _, err := db.NewUpdate().Model(k).Set("last_used_at = ?", at).WherePK().Exec(ctx); err != nil {
		return fmt.Errorf("api keys: touch: %w", err)
	}
	k.LastUsedAt = &at
	return nil
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

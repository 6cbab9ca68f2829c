package models

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// BotVersion is one immutable config of a bot. The database refuses updates.
type BotVersion struct {
	bun.BaseModel `bun:"table:bot_versions,alias:v"`

	ID          uuid.UUID       `bun:"id,pk,type:uuid"`
	BotID       uuid.UUID       `bun:"bot_id,notnull,type:uuid"`
	Number      int             `bun:"number,notnull"`
	Kind        BotKind         `bun:"kind,notnull"` // a version may change the bot's kind
	Config      json.RawMessage `bun:"config,type:jsonb,notnull"`
	ContentHash string          `bun:"content_hash,notnull"`
	Changelog   string          `bun:"changelog,notnull"`
	AuthorID    *uuid.UUID      `bun:"author_id,type:uuid"` // kept (no foreign key) after the author is deleted
	CreatedAt   time.Time       `bun:"created_at,notnull"`
}

// ConfigHash returns the SHA-256 of the canonical form of a JSON config, so
// equal configs hash equally whatever their key order or spacing.
func ConfigHash(config json.RawMessage) (string, error) {
	canon, err := canonicalJSON(config)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:]), nil
}

// canonicalJSON re-encodes JSON with sorted object keys and no insignificant
// space, keeping numbers exactly as written.
func canonicalJSON(raw []byte) ([]byte, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return []byte("null"), nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("invalid JSON: trailing data")
	}
	return json.Marshal(v)
}

// newBotVersion validates config and builds (does not insert) version
// number of a bot, with the config stored in canonical form.
func newBotVersion(botID uuid.UUID, number int, kind BotKind, author *uuid.UUID, config json.RawMessage, changelog string) (*BotVersion, error) {
	canon, err := canonicalJSON(config)
	if err != nil {
		return nil, &ValidationError{Fields: map[string]string{"config": err.Error()}}
	}
	if len(canon) == 0 || canon[0] != '{' {
		return nil, &ValidationError{Fields: map[string]string{"config": "must be a JSON object"}}
	}
	if HasNULEscape(canon) {
		return nil, &ValidationError{Fields: map[string]string{"config": msgJSONNUL}}
	}
	sum := sha256.Sum256(canon)
	return &BotVersion{
		ID: NewID(), BotID: botID, Number: number, Kind: kind, Config: canon, ContentHash: hex.EncodeToString(sum[:]),
		Changelog: strings.TrimSpace(changelog), AuthorID: author, CreatedAt: now(),
	}, nil
}

// ListBotVersions returns a bot's versions, newest first.
func ListBotVersions(ctx context.Context, db bun.IDB, botID uuid.UUID) ([]*BotVersion, error) {
	var vs []*BotVersion
	if err := db.NewSelect().Model(&vs).Where("v.bot_id = ?", botID).Order("v.number DESC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("bot versions: list %s: %w", botID, err)
	}
	return vs, nil
}

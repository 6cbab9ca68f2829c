package models

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// BotFile is a bot as a JSON file: the seed's bots/*.json shape (name,
// description, tags, type or kind, config) and what the export writes (the
// same fields plus every version).
type BotFile struct {
	Format      string           `json:"format,omitempty"`
	Name        string           `json:"name"`
	Description string           `json:"description,omitempty"`
	Tags        []string         `json:"tags,omitempty"`
	Kind        BotKind          `json:"kind,omitempty"`
	Type        BotKind          `json:"type,omitempty"` // the seed's name for kind
	Status      BotStatus        `json:"status,omitempty"`
	Config      json.RawMessage  `json:"config"`
	Versions    []BotFileVersion `json:"versions,omitempty"`
	ExportedAt  *time.Time       `json:"exported_at,omitempty"`
	Extra       map[string]any   `json:"-"`
}

// BotFileVersion is one version in an export.
type BotFileVersion struct {
	Number      int             `json:"number"`
	Kind        BotKind         `json:"kind"`
	Config      json.RawMessage `json:"config"`
	Changelog   string          `json:"changelog,omitempty"`
	ContentHash string          `json:"content_hash"`
	CreatedAt   time.Time       `json:"created_at"`
	Active      bool            `json:"active,omitempty"`
}

// BotFileFormat names the export format.
const BotFileFormat = "codex32.bot/v1"

// ParseBotFile reads and checks a bot file.
func ParseBotFile(data []byte) (*BotFile, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	f := new(BotFile)
	if err := dec.Decode(f); err != nil {
		return nil, fmt.Errorf("not a bot JSON file: %w", err)
	}
	if f.Kind == "" {
		f.Kind = f.Type
	}
	if f.Type != "" && f.Kind != f.Type {
		return nil, errors.New(`"kind" and "type" disagree`)
	}
	if !f.Kind.Valid() {
		return nil, fmt.Errorf("kind %q is not one of %v", f.Kind, BotKinds)
	}
	if len(bytes.TrimSpace(f.Config)) == 0 {
		return nil, errors.New(`"config" is missing`)
	}
	if f.Status == "" {
		f.Status = BotInactive
	}
	return f, nil
}

// ExportBot returns a bot with all its versions as a BotFile.
func ExportBot(ctx context.Context, db bun.IDB, botID uuid.UUID) (*BotFile, error) {
	b, err := BotByID(ctx, db, botID)
	if err != nil {
		return nil, err
	}
	vs, err := ListBotVersions(ctx, db, botID)
	if err != nil {
		return nil, err
	}
	at := now()
	f := &BotFile{Format: BotFileFormat, Name: b.Name, Description: b.Description, Tags: b.Tags, Kind: b.Kind, Status: b.Status, ExportedAt: &at}
	for i := len(vs) - 1; i >= 0; i-- {
		v := vs[i]
		active := b.ActiveVersionID != nil && *b.ActiveVersionID == v.ID
		if active {
			f.Config = v.Config
		}
		f.Versions = append(f.Versions, BotFileVersion{Number: v.Number, Kind: v.Kind, Config: v.Config, Changelog: v.Changelog,
			ContentHash: v.ContentHash, CreatedAt: v.CreatedAt, Active: active})
	}
	return f, nil
}

// ImportResult says what importing a file did.
type ImportResult string

const (
	ImportCreated   ImportResult = "created"
	ImportUpdated   ImportResult = "updated"   // a new version of an existing bot
	ImportUnchanged ImportResult = "unchanged" // the same config is already active
)

// ImportBot creates the file's bot for owner, audited as bot.import. A live
// bot of the owner with the same name is the same bot: an identical active
// config is "unchanged" (so imports are idempotent), a different one becomes
// a new version.
func ImportBot(ctx context.Context, db bun.IDB, actor Actor, owner uuid.UUID, f *BotFile, source string) (ImportResult, *Bot, error) {
	var result ImportResult
	var out *Bot
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		existing := new(Bot)
		err := tx.NewSelect().Model(existing).Where("b.owner_id = ?", owner).Where("lower(b.name) = lower(?)", strings.TrimSpace(f.Name)).
			Where("b.archived_at IS NULL").Order("b.created_at").Limit(1).Scan(ctx)
		switch err = mapErr(err); {
		case err == nil:
			out = existing
			latest, err := LatestBotVersion(ctx, tx, existing.ID)
			if err != nil {
				return err
			}
			hash, err := ConfigHash(f.Config)
			if err != nil {
				return &ValidationError{Fields: map[string]string{"config": err.Error()}}
			}
			current := latest
			if existing.ActiveVersionID != nil {
				if current, err = BotVersionByID(ctx, tx, *existing.ActiveVersionID); err != nil {
					return err
				}
			}
			if hash == current.ContentHash && current.Kind == f.Kind {
				result = ImportUnchanged
				return nil
			}
			if _, err := CreateBotVersion(ctx, tx, actor, existing.ID, latest.Number, f.Kind, f.Config, "Imported from "+source); err != nil {
				return err
			}
			result = ImportUpdated
			return nil
		case !errors.Is(err, ErrNotFound):
			return err
		}
		b := &Bot{OwnerID: owner, Name: f.Name, Description: f.Description, Kind: f.Kind, Status: f.Status, Tags: f.Tags}
		if len(f.Versions) > 1 {
			if err := importWithHistory(ctx, tx, actor, b, f, source); err != nil {
				return err
			}
		} else if _, err := createBot(ctx, tx, actor, b, f.Config, "Imported from "+source, "bot.import"); err != nil {
			return err
		}
		out, result = b, ImportCreated
		return nil
	})
	return result, out, err
}

// importWithHistory creates a bot from an export with several versions:
// every version is recreated in order (numbers, kinds, configs and
// changelogs; the importer becomes their author), the one marked active is
// active, and one bot.import audit row records it all.
func importWithHistory(ctx context.Context, tx bun.Tx, actor Actor, b *Bot, f *BotFile, source string) error {
	vs := slices.Clone(f.Versions)
	slices.SortFunc(vs, func(a, b BotFileVersion) int { return a.Number - b.Number })
	if err := b.Validate(); err != nil {
		return err
	}
	b.ID, b.CreatedAt = NewID(), now()
	b.UpdatedAt = b.CreatedAt
	versions := make([]*BotVersion, 0, len(vs))
	for i, fv := range vs {
		if !fv.Kind.Valid() {
			return &ValidationError{Fields: map[string]string{"versions": fmt.Sprintf("version %d: kind %q is not one of %v", fv.Number, fv.Kind, BotKinds)}}
		}
		v, err := newBotVersion(b.ID, i+1, fv.Kind, actor.UserID, fv.Config, fv.Changelog)
		if err != nil {
			return fmt.Errorf("version %d: %w", fv.Number, err)
		}
		versions = append(versions, v)
		if fv.Active || (b.ActiveVersionID == nil && i == len(vs)-1) {
			b.ActiveVersionID, b.Kind = &v.ID, v.Kind
		}
	}
	if _, err := tx.NewInsert().Model(b).Exec(ctx); err != nil {
		return fmt.Errorf("bots: import %q: %w", b.Name, mapErr(err))
	}
	if err := insertBotTags(ctx, tx, b.ID, b.Tags); err != nil {
		return err
	}
	if _, err := tx.NewInsert().Model(&versions).Exec(ctx); err != nil {
		return fmt.Errorf("bot versions: import %s: %w", b.ID, mapErr(err))
	}
	botID := b.ID
	return WriteAudit(ctx, tx, actor, AuditEntry{
		Action: "bot.import", ResourceType: "bot", ResourceID: b.ID.String(), BotID: &botID,
		New: map[string]any{"bot": b.auditView(), "versions": len(versions), "source": source},
	})
}

package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// ErrArchived refuses changes to an archived bot (restore it first).
var ErrArchived = &ValidationError{Fields: map[string]string{"archived": "this bot is archived; restore it before changing it"}}

// ErrUnchanged means a save would create a version identical to the latest.
var ErrUnchanged = errors.New("the config is identical to the latest version")

// VersionConflictError means someone saved a newer version since the editor
// loaded version Base.
type VersionConflictError struct {
	Base, Latest int
}

func (e *VersionConflictError) Error() string {
	return fmt.Sprintf("version %d was saved meanwhile (you edited version %d)", e.Latest, e.Base)
}

// lockBot loads a bot for update inside tx (a row lock on Postgres; SQLite
// has one writer).
func lockBot(ctx context.Context, tx bun.Tx, id uuid.UUID) (*Bot, error) {
	b := new(Bot)
	if err := forUpdate(tx, tx.NewSelect().Model(b).Where("b.id = ?", id)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("bots: load %s: %w", id, mapErr(err))
	}
	return b, nil
}

// LatestBotVersion returns the newest version of a bot.
func LatestBotVersion(ctx context.Context, db bun.IDB, botID uuid.UUID) (*BotVersion, error) {
	v := new(BotVersion)
	if err := db.NewSelect().Model(v).Where("v.bot_id = ?", botID).Order("v.number DESC").Limit(1).Scan(ctx); err != nil {
		return nil, fmt.Errorf("bot versions: latest of %s: %w", botID, mapErr(err))
	}
	return v, nil
}

// BotVersionByNumber returns version n of a bot.
func BotVersionByNumber(ctx context.Context, db bun.IDB, botID uuid.UUID, n int) (*BotVersion, error) {
	v := new(BotVersion)
	if err := db.NewSelect().Model(v).Where("v.bot_id = ?", botID).Where("v.number = ?", n).Scan(ctx); err != nil {
		return nil, fmt.Errorf("bot versions: %s v%d: %w", botID, n, mapErr(err))
	}
	return v, nil
}

// BotVersionByID returns one version.
func BotVersionByID(ctx context.Context, db bun.IDB, id uuid.UUID) (*BotVersion, error) {
	v := new(BotVersion)
	if err := db.NewSelect().Model(v).Where("v.id = ?", id).Scan(ctx); err != nil {
		return nil, fmt.Errorf("bot versions: load %s: %w", id, mapErr(err))
	}
	return v, nil
}

// CreateBotVersion saves config (of kind) as version Base+1 of a bot and
// makes it active. It fails with *VersionConflictError when the latest
// version is no longer Base, and with ErrUnchanged when config and kind equal
// the latest version's: nothing is overwritten and no empty version is made.
func CreateBotVersion(ctx context.Context, db bun.IDB, actor Actor, botID uuid.UUID, base int, kind BotKind, config json.RawMessage, changelog string) (*BotVersion, error) {
	var out *BotVersion
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		v, entry, err := createBotVersionTx(ctx, tx, actor, botID, base, kind, config, changelog)
		if err != nil {
			return err
		}
		out = v
		return WriteAudit(ctx, tx, actor, entry)
	})
	return out, err
}

// createBotVersionTx does CreateBotVersion's work except the audit row,
// which it returns for the caller to write.
func createBotVersionTx(ctx context.Context, tx bun.Tx, actor Actor, botID uuid.UUID, base int, kind BotKind, config json.RawMessage, changelog string) (*BotVersion, AuditEntry, error) {
	if !kind.Valid() {
		return nil, AuditEntry{}, &ValidationError{Fields: map[string]string{"kind": fmt.Sprintf("must be one of %v", BotKinds)}}
	}
	b, err := lockBot(ctx, tx, botID)
	if err != nil {
		return nil, AuditEntry{}, err
	}
	if b.ArchivedAt != nil {
		return nil, AuditEntry{}, ErrArchived
	}
	latest, err := LatestBotVersion(ctx, tx, botID)
	if err != nil {
		return nil, AuditEntry{}, err
	}
	if latest.Number != base {
		return nil, AuditEntry{}, &VersionConflictError{Base: base, Latest: latest.Number}
	}
	v, err := newBotVersion(botID, latest.Number+1, kind, actor.UserID, config, changelog)
	if err != nil {
		return nil, AuditEntry{}, err
	}
	if v.ContentHash == latest.ContentHash && kind == latest.Kind {
		return nil, AuditEntry{}, ErrUnchanged
	}
	if _, err := tx.NewInsert().Model(v).Exec(ctx); err != nil {
		return nil, AuditEntry{}, fmt.Errorf("bot versions: create %s v%d: %w", botID, v.Number, mapErr(err))
	}
	old := map[string]any{"version": latest.Number, "kind": latest.Kind, "content_hash": latest.ContentHash, "config": latest.Config}
	b.ActiveVersionID, b.Kind, b.UpdatedAt = &v.ID, kind, now()
	if _, err := tx.NewUpdate().Model(b).Column("active_version_id", "kind", "updated_at").WherePK().Exec(ctx); err != nil {
		return nil, AuditEntry{}, fmt.Errorf("bots: activate v%d of %s: %w", v.Number, botID, err)
	}
	return v, AuditEntry{
		Action: "bot.version.create", ResourceType: "bot_version", ResourceID: v.ID.String(), BotID: &botID,
		Old: old,
		New: map[string]any{"version": v.Number, "kind": v.Kind, "content_hash": v.ContentHash, "changelog": v.Changelog, "config": v.Config},
	}, nil
}

// ActivateBotVersion makes an existing version the active one (a roll back
// or forward); later executions use it.
func ActivateBotVersion(ctx context.Context, db bun.IDB, actor Actor, botID uuid.UUID, number int) (*BotVersion, error) {
	var out *BotVersion
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		b, err := lockBot(ctx, tx, botID)
		if err != nil {
			return err
		}
		if b.ArchivedAt != nil {
			return ErrArchived
		}
		v, err := BotVersionByNumber(ctx, tx, botID, number)
		if err != nil {
			return err
		}
		if b.ActiveVersionID != nil && *b.ActiveVersionID == v.ID {
			out = v
			return ErrUnchanged
		}
		oldNumber := 0
		if b.ActiveVersionID != nil {
			if cur, err := BotVersionByID(ctx, tx, *b.ActiveVersionID); err == nil {
				oldNumber = cur.Number
			}
		}
		b.ActiveVersionID, b.Kind, b.UpdatedAt = &v.ID, v.Kind, now()
		if _, err := tx.NewUpdate().Model(b).Column("active_version_id", "kind", "updated_at").WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("bots: activate v%d of %s: %w", number, botID, err)
		}
		out = v
		return WriteAudit(ctx, tx, actor, AuditEntry{
			Action: "bot.version.activate", ResourceType: "bot", ResourceID: botID.String(), BotID: &botID,
			Old: map[string]any{"active_version": oldNumber}, New: map[string]any{"active_version": v.Number, "active_version_id": v.ID},
		})
	})
	return out, err
}

// BotPatch is a change of a bot's descriptive fields (not a version).
type BotPatch struct {
	Name        string
	Description string
	Tags        []string
	Status      BotStatus
}

// UpdateBot changes name, description, tags and status; audited as
// bot.update with old and new values. Returns ErrUnchanged if nothing differs.
func UpdateBot(ctx context.Context, db bun.IDB, actor Actor, botID uuid.UUID, p BotPatch) (*Bot, error) {
	var out *Bot
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		b, entry, err := updateBotTx(ctx, tx, botID, p)
		out = b
		if err != nil {
			return err
		}
		return WriteAudit(ctx, tx, actor, entry)
	})
	return out, err
}

func updateBotTx(ctx context.Context, tx bun.Tx, botID uuid.UUID, p BotPatch) (*Bot, AuditEntry, error) {
	b, err := lockBot(ctx, tx, botID)
	if err != nil {
		return nil, AuditEntry{}, err
	}
	if b.ArchivedAt != nil {
		return nil, AuditEntry{}, ErrArchived
	}
	before := b.metaView()
	oldTags := slices.Clone(b.Tags)
	if p.Status != b.Status {
		// A person deciding the status clears the failure streak.
		b.ConsecutiveFailures = 0
	}
	b.Name, b.Description, b.Tags, b.Status = p.Name, p.Description, p.Tags, p.Status
	if err := b.Validate(); err != nil {
		return nil, AuditEntry{}, err
	}
	after := b.metaView()
	if equalViews(before, after) {
		return b, AuditEntry{}, ErrUnchanged
	}
	b.UpdatedAt = now()
	if _, err := tx.NewUpdate().Model(b).Column("name", "description", "tags", "status", "consecutive_failures", "updated_at").WherePK().Exec(ctx); err != nil {
		return nil, AuditEntry{}, fmt.Errorf("bots: update %s: %w", botID, mapErr(err))
	}
	if !slices.Equal(oldTags, b.Tags) {
		if _, err := tx.NewDelete().Model((*BotTag)(nil)).Where("bot_id = ?", botID).Exec(ctx); err != nil {
			return nil, AuditEntry{}, fmt.Errorf("bots: clear tags: %w", err)
		}
		if err := insertBotTags(ctx, tx, botID, b.Tags); err != nil {
			return nil, AuditEntry{}, err
		}
	}
	return b, AuditEntry{Action: "bot.update", ResourceType: "bot", ResourceID: botID.String(), BotID: &botID, Old: before, New: after}, nil
}

// SaveBotEdit applies an edit form: a changed config or kind becomes a new
// version, changed details are updated in place — one transaction and one
// audit row (bot.version.create, carrying the detail changes too, or
// bot.update). It returns the new version (nil if the config was unchanged)
// and whether the details changed; ErrUnchanged if nothing did.
func SaveBotEdit(ctx context.Context, db bun.IDB, actor Actor, botID uuid.UUID, base int, kind BotKind, config json.RawMessage, changelog string, p BotPatch) (*BotVersion, bool, error) {
	var v *BotVersion
	var metaChanged bool
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		nv, ev, err := createBotVersionTx(ctx, tx, actor, botID, base, kind, config, changelog)
		if err != nil && !errors.Is(err, ErrUnchanged) {
			return err
		}
		_, eu, uerr := updateBotTx(ctx, tx, botID, p)
		if uerr != nil && !errors.Is(uerr, ErrUnchanged) {
			return uerr
		}
		v, metaChanged = nv, uerr == nil
		switch {
		case nv != nil && metaChanged:
			ev.Old.(map[string]any)["bot"] = eu.Old
			ev.New.(map[string]any)["bot"] = eu.New
			return WriteAudit(ctx, tx, actor, ev)
		case nv != nil:
			return WriteAudit(ctx, tx, actor, ev)
		case metaChanged:
			return WriteAudit(ctx, tx, actor, eu)
		}
		return ErrUnchanged
	})
	return v, metaChanged, err
}

func equalViews(a, b map[string]any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// SetBotArchived archives (hides from lists, keeps everything) or restores a bot.
func SetBotArchived(ctx context.Context, db bun.IDB, actor Actor, botID uuid.UUID, archived bool) (*Bot, error) {
	var out *Bot
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		b, err := lockBot(ctx, tx, botID)
		if err != nil {
			return err
		}
		if (b.ArchivedAt != nil) == archived {
			out = b
			return ErrUnchanged
		}
		action, old := "bot.restore", b.ArchivedAt
		if archived {
			t := now()
			b.ArchivedAt, action = &t, "bot.archive"
		} else {
			b.ArchivedAt = nil
		}
		b.UpdatedAt = now()
		if _, err := tx.NewUpdate().Model(b).Column("archived_at", "updated_at").WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("bots: %s %s: %w", action, botID, err)
		}
		out = b
		return WriteAudit(ctx, tx, actor, AuditEntry{Action: action, ResourceType: "bot", ResourceID: botID.String(), BotID: &botID,
			Old: map[string]any{"archived_at": old}, New: map[string]any{"archived_at": b.ArchivedAt}})
	})
	return out, err
}

// ErrNotArchived refuses to purge a bot that is not archived.
var ErrNotArchived = &ValidationError{Fields: map[string]string{"archived": "only an archived bot can be purged; archive it first"}}

// PurgeBot deletes an archived bot with its versions and executions. Its
// audit history remains (audit rows have no foreign keys).
func PurgeBot(ctx context.Context, db bun.IDB, actor Actor, botID uuid.UUID) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		b, err := lockBot(ctx, tx, botID)
		if err != nil {
			return err
		}
		if b.ArchivedAt == nil {
			return ErrNotArchived
		}
		versions, err := tx.NewSelect().Model((*BotVersion)(nil)).Where("bot_id = ?", botID).Count(ctx)
		if err != nil {
			return fmt.Errorf("bots: purge %s: %w", botID, err)
		}
		if _, err := tx.NewDelete().Model((*Bot)(nil)).Where("id = ?", botID).Exec(ctx); err != nil {
			return fmt.Errorf("bots: purge %s: %w", botID, err)
		}
		old := b.auditView()
		old["versions"] = versions
		return WriteAudit(ctx, tx, actor, AuditEntry{Action: "bot.purge", ResourceType: "bot", ResourceID: botID.String(), BotID: &botID, Old: old})
	})
}

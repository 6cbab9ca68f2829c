package models

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/uptrace/bun"
)

// AuditCheckpoint is a signed statement "audit row Seq had hash Hash at
// SignedAt". Because every row's hash covers its predecessor's, it vouches
// for every row up to Seq: a chain rewritten and re-hashed by someone who
// holds the database has another hash at Seq, and they cannot sign that.
type AuditCheckpoint struct {
	bun.BaseModel `bun:"table:audit_checkpoints,alias:ck"`

	ID        int64     `bun:"id,pk,autoincrement" json:"-"`
	Seq       int64     `bun:"seq,notnull" json:"seq"`
	Hash      string    `bun:"hash,notnull" json:"hash"`
	SignedAt  time.Time `bun:"signed_at,notnull" json:"signed_at"`
	KeyID     string    `bun:"key_id,notnull" json:"key_id"`
	PublicKey string    `bun:"public_key,notnull" json:"public_key"`
	Signature string    `bun:"signature,notnull" json:"signature"`
	CreatedBy string    `bun:"created_by,notnull" json:"-"`
	CreatedAt time.Time `bun:"created_at,notnull" json:"-"`
}

// CheckpointFormat names the checkpoint file format (codex32 audit
// checkpoint --out); the signed message carries the same version.
const CheckpointFormat = "codex32-audit-checkpoint-v1"

// signedMessage is the canonical encoding that is signed: one field per
// line, fixed order, time in UTC with microseconds (what both databases
// keep), prefixed with the format so a signature cannot be replayed as
// anything else.
func (c *AuditCheckpoint) signedMessage() []byte {
	b := make([]byte, 0, 160)
	b = append(b, CheckpointFormat+"\nseq="...)
	b = strconv.AppendInt(b, c.Seq, 10)
	b = append(b, "\nhash="...)
	b = append(b, c.Hash...)
	b = append(b, "\nsigned_at="...)
	b = append(b, c.SignedAt.UTC().Format("2006-01-02T15:04:05.000000Z")...)
	b = append(b, "\nkey_id="...)
	b = append(b, c.KeyID...)
	b = append(b, '\n')
	return b
}

// SignAuditCheckpoint signs (seq, hash, now) with s.
func SignAuditCheckpoint(s *AuditSigner, seq int64, hash string) *AuditCheckpoint {
	c := &AuditCheckpoint{Seq: seq, Hash: hash, SignedAt: now(), KeyID: s.KeyID(), PublicKey: hex.EncodeToString(s.Public())}
	c.Signature = hex.EncodeToString(ed25519.Sign(s.priv, c.signedMessage()))
	return c
}

// ErrCheckpointSignature means a checkpoint was not signed by the given key
// (forged, altered, or signed by another key).
var ErrCheckpointSignature = errors.New("audit checkpoint: signature does not verify")

// VerifySignature checks that pub signed c. The key the checkpoint names
// is never trusted: the caller says which key it expects.
func (c *AuditCheckpoint) VerifySignature(pub ed25519.PublicKey) error {
	if want := AuditKeyID(pub); c.KeyID != want {
		return fmt.Errorf("%w: it names key %s, not the given key %s", ErrCheckpointSignature, c.KeyID, want)
	}
	sig, err := hex.DecodeString(c.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, c.signedMessage(), sig) {
		return fmt.Errorf("%w with key %s: the checkpoint was forged or altered", ErrCheckpointSignature, c.KeyID)
	}
	return nil
}

// checkpointFile is the file written by `codex32 audit checkpoint --out`.
// Its field names match the structured log line, so a JSON log line of an
// "audit checkpoint" is a checkpoint file too.
type checkpointFile struct {
	Format string `json:"format,omitempty"`
	*AuditCheckpoint
}

// MarshalCheckpointFile encodes c as a checkpoint file.
func MarshalCheckpointFile(c *AuditCheckpoint) ([]byte, error) {
	b, err := json.MarshalIndent(checkpointFile{Format: CheckpointFormat, AuditCheckpoint: c}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint: encode: %w", err)
	}
	return append(b, '\n'), nil
}

// ParseCheckpointFile reads a checkpoint file (or a JSON log line of one).
// It does not verify the signature: see VerifySignature.
func ParseCheckpointFile(data []byte) (*AuditCheckpoint, error) {
	f := checkpointFile{AuditCheckpoint: new(AuditCheckpoint)}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("audit checkpoint: not a checkpoint file: %w", err)
	}
	c := f.AuditCheckpoint
	switch {
	case f.Format != "" && f.Format != CheckpointFormat:
		return nil, fmt.Errorf("audit checkpoint: format %q is not %s", f.Format, CheckpointFormat)
	case c.Seq < 1 || c.Hash == "" || c.SignedAt.IsZero() || c.KeyID == "" || c.Signature == "":
		return nil, errors.New("audit checkpoint: not a checkpoint file: seq, hash, signed_at, key_id and signature are all required")
	}
	return c, nil
}

// insertAuditCheckpoint stores c (the table takes INSERT only).
func insertAuditCheckpoint(ctx context.Context, db bun.IDB, c *AuditCheckpoint, by string) error {
	c.CreatedBy, c.CreatedAt = by, now()
	if _, err := db.NewInsert().Model(c).Returning("id").Exec(ctx); err != nil {
		return fmt.Errorf("audit checkpoint: store: %w", err)
	}
	return nil
}

// ListAuditCheckpoints returns the stored checkpoints with an id of at
// least fromID, oldest first.
func ListAuditCheckpoints(ctx context.Context, db bun.IDB, fromID int64) ([]*AuditCheckpoint, error) {
	var out []*AuditCheckpoint
	if err := db.NewSelect().Model(&out).Where("ck.id >= ?", fromID).Order("ck.id ASC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("audit checkpoint: list: %w", err)
	}
	return out, nil
}

// lastAuditCheckpoint is the newest stored checkpoint of keyID with an id
// of at least fromID (nil when there is none).
func lastAuditCheckpoint(ctx context.Context, db bun.IDB, keyID string, fromID int64) (*AuditCheckpoint, error) {
	c := new(AuditCheckpoint)
	err := db.NewSelect().Model(c).Where("ck.key_id = ? AND ck.id >= ?", keyID, fromID).Order("ck.id DESC").Limit(1).Scan(ctx)
	if errors.Is(mapErr(err), ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("audit checkpoint: last: %w", err)
	}
	return c, nil
}

// nextAuditCheckpointID is one above the newest stored checkpoint's id.
func nextAuditCheckpointID(ctx context.Context, db bun.IDB) (int64, error) {
	var n int64
	if err := db.NewRaw("SELECT coalesce(max(id), 0) + 1 FROM audit_checkpoints").Scan(ctx, &n); err != nil {
		return 0, fmt.Errorf("audit checkpoint: next id: %w", err)
	}
	return n, nil
}

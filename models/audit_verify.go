package models

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// AuditVerification is the outcome of the last chain verification, and the
// anchor the next one compares with.
type AuditVerification struct {
	At      time.Time `json:"at"`
	Rows    int       `json:"rows"`
	OK      bool      `json:"ok"`
	Problem string    `json:"problem,omitempty"`
	By      string    `json:"by"`
	// HeadSeq/HeadHash is the anchor: the head the last passing
	// verification saw, or the one an admin accepted. A failed
	// verification keeps the old anchor.
	HeadSeq  int64  `json:"head_seq,omitempty"`
	HeadHash string `json:"head_hash,omitempty"`
	// BrokenSince and FirstProblem: when and how the chain first failed.
	// A failure is sticky: every verification reports it until an admin
	// accepts a new anchor (AcceptAuditChain).
	BrokenSince  *time.Time `json:"broken_since,omitempty"`
	FirstProblem string     `json:"first_problem,omitempty"`
	// Checkpoints is how many stored signed checkpoints were checked;
	// CheckpointSeq the row an outside checkpoint vouched for (0: none).
	Checkpoints   int   `json:"checkpoints,omitempty"`
	CheckpointSeq int64 `json:"checkpoint_seq,omitempty"`
	// CheckpointsFrom: stored checkpoints with a lower id were signed before
	// the last accepted re-anchoring and are not checked any more.
	CheckpointsFrom int64      `json:"checkpoints_from,omitempty"`
	AcceptedAt      *time.Time `json:"accepted_at,omitempty"`
}

// AuditVerifyOptions is what a verification compares the chain with,
// beyond its own links and the saved anchor.
type AuditVerifyOptions struct {
	// Key: stored checkpoints signed with this key must match the chain
	// (nil: stored checkpoints are not checked).
	Key ed25519.PublicKey
	// Checkpoint, from outside the database (a file, the log), must be
	// signed by CheckpointKey and match the chain.
	Checkpoint    *AuditCheckpoint
	CheckpointKey ed25519.PublicKey
}

const settingAuditVerify = "audit_last_verification"

// ErrAuditBroken is returned by VerifyAndRecordAuditChain (wrapped) when the
// chain is broken, including when an earlier failure was not yet accepted.
var ErrAuditBroken = errors.New("audit chain broken")

// VerifyAndRecordAuditChain verifies the chain and stores the outcome. It
// returns ErrCheckpointSignature (recording nothing) when opts.Checkpoint is
// not signed by opts.CheckpointKey.
func VerifyAndRecordAuditChain(ctx context.Context, db bun.IDB, actor Actor, opts AuditVerifyOptions) (AuditVerification, error) {
	if opts.Checkpoint != nil {
		if err := opts.Checkpoint.VerifySignature(opts.CheckpointKey); err != nil {
			return AuditVerification{}, err
		}
	}
	prev, err := LastAuditVerification(ctx, db)
	if err != nil {
		return AuditVerification{}, err
	}
	w := chainWalk{expect: map[int64]expectedHash{}}
	// Rows removed from the end (or a restored old backup) leave a chain
	// that verifies: compare with the head an earlier verification saw,
	// whether or not it passed.
	if prev != nil && prev.HeadSeq > 0 {
		w.expect[prev.HeadSeq] = expectedHash{prev.HeadHash, "verified as the chain head on " + prev.At.UTC().Format("2006-01-02 15:04 UTC")}
	}
	res := AuditVerification{At: now(), By: actor.Label}
	if res.By == "" {
		res.By = "system"
	}
	if prev != nil {
		res.CheckpointsFrom, res.AcceptedAt = prev.CheckpointsFrom, prev.AcceptedAt
	}
	verr, err := expectStoredCheckpoints(ctx, db, opts.Key, res.CheckpointsFrom, w.expect, &res.Checkpoints)
	if err != nil {
		return res, err
	}
	if c := opts.Checkpoint; c != nil {
		res.CheckpointSeq = c.Seq
		if e, ok := w.expect[c.Seq]; ok && e.hash != c.Hash {
			verr = fmt.Errorf("audit: verify: row %d: the given checkpoint and the one %s disagree", c.Seq, e.what)
		}
		w.expect[c.Seq] = expectedHash{c.Hash, checkpointWhat(c)}
	}
	var end walked
	if verr == nil {
		end, verr = walkAuditChain(ctx, db, w)
		res.Rows = end.checked
	}
	if prev != nil && !prev.OK {
		// Sticky: a chain that looks fine again (truncated further,
		// recomputed) is not a repaired one.
		since := prev.At
		if prev.BrokenSince != nil {
			since = *prev.BrokenSince
		}
		sticky := fmt.Sprintf("the chain was found broken on %s and stays broken until an admin accepts a new anchor (codex32 audit accept --reason ...)",
			since.UTC().Format("2006-01-02 15:04 UTC"))
		if verr == nil {
			verr = fmt.Errorf("audit: verify: %s: %s", sticky, firstProblem(prev))
		} else {
			verr = fmt.Errorf("%w; %s; first problem: %s", verr, sticky, firstProblem(prev))
		}
	}
	res.OK = verr == nil
	if res.OK {
		res.HeadSeq, res.HeadHash = end.seq, end.hash
	} else {
		res.Problem = verr.Error()
		res.BrokenSince, res.FirstProblem = &res.At, res.Problem
		if prev != nil {
			res.HeadSeq, res.HeadHash = prev.HeadSeq, prev.HeadHash // keep the last good anchor
			if !prev.OK {
				res.BrokenSince, res.FirstProblem = prev.BrokenSince, firstProblem(prev)
				if res.BrokenSince == nil {
					res.BrokenSince = &prev.At
				}
			}
		}
		verr = fmt.Errorf("%w: %w", ErrAuditBroken, verr)
	}
	if err := recordAuditVerification(ctx, db, actor, res, AuditEntry{Action: "audit.verify", ResourceType: "audit", ResourceID: "chain",
		New: map[string]any{"rows": res.Rows, "ok": res.OK, "problem": res.Problem, "checkpoints": res.Checkpoints, "checkpoint_seq": res.CheckpointSeq}}); err != nil {
		return res, err
	}
	return res, verr
}

func firstProblem(v *AuditVerification) string {
	if v.FirstProblem != "" {
		return v.FirstProblem
	}
	return v.Problem
}

func checkpointWhat(c *AuditCheckpoint) string {
	return "signed in the checkpoint of " + c.SignedAt.UTC().Format("2006-01-02 15:04:05 UTC") + " by key " + c.KeyID
}

// expectStoredCheckpoints adds the stored checkpoints signed with key (from
// id fromID on) to expect, counting them in n. A stored checkpoint that
// names key but does not verify is a problem of the chain's record: it is
// returned as problem; err is a failure to read.
func expectStoredCheckpoints(ctx context.Context, db bun.IDB, key ed25519.PublicKey, fromID int64, expect map[int64]expectedHash, n *int) (problem, err error) {
	if key == nil {
		return nil, nil
	}
	all, err := ListAuditCheckpoints(ctx, db, fromID)
	if err != nil {
		return nil, err
	}
	id := AuditKeyID(key)
	for _, c := range all {
		if c.KeyID != id {
			continue // another key's (rotated): the configured key cannot vouch for it
		}
		if err := c.VerifySignature(key); err != nil {
			return fmt.Errorf("audit: verify: stored checkpoint %d (row %d): %w", c.ID, c.Seq, err), nil
		}
		if e, ok := expect[c.Seq]; ok && e.hash != c.Hash {
			return fmt.Errorf("audit: verify: row %d: checkpoint %d and the one %s disagree", c.Seq, c.ID, e.what), nil
		}
		expect[c.Seq] = expectedHash{c.Hash, checkpointWhat(c)}
		*n++
	}
	return nil, nil
}

// recordAuditVerification stores res and its audit row in one transaction.
func recordAuditVerification(ctx context.Context, db bun.IDB, actor Actor, res AuditVerification, e AuditEntry) error {
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	row := &InstanceSetting{Key: settingAuditVerify, Value: string(b), UpdatedAt: res.At}
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(row).On("CONFLICT (key) DO UPDATE").Set("value = EXCLUDED.value").Set("updated_at = EXCLUDED.updated_at").Exec(ctx); err != nil {
			return fmt.Errorf("audit: record verification: %w", err)
		}
		return WriteAudit(ctx, tx, actor, e)
	})
}

// LastAuditVerification returns the stored outcome, or nil if never verified.
func LastAuditVerification(ctx context.Context, db bun.IDB) (*AuditVerification, error) {
	row := new(InstanceSetting)
	err := db.NewSelect().Model(row).Where("key = ?", settingAuditVerify).Scan(ctx)
	if errors.Is(mapErr(err), ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("audit: read verification: %w", err)
	}
	v := new(AuditVerification)
	if err := json.Unmarshal([]byte(row.Value), v); err != nil {
		return nil, fmt.Errorf("audit: read verification: %w", err)
	}
	return v, nil
}

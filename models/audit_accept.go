package models

import (
	"context"
	"fmt"
	"strings"

	"github.com/uptrace/bun"
)

// ErrNothingToAccept: the chain is not broken, there is no anchor to replace.
var ErrNothingToAccept = &StateError{Message: "nothing to accept: the last verification of the audit chain passed (run codex32 audit verify)"}

// AcceptAuditChain is an admin's explicit decision that the chain as it is
// now becomes the new anchor after a failed verification (rows were lost
// to a restored backup, say). It needs a reason, refuses a chain whose rows
// do not verify among themselves (accepting cannot repair altered rows),
// and is audited (audit.accept: who, why, the old and new anchor). Stored
// checkpoints signed before it describe the old chain: from now on they
// are not checked (outside checkpoint files still are, and will fail).
func AcceptAuditChain(ctx context.Context, db bun.IDB, actor Actor, reason string) (AuditVerification, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return AuditVerification{}, &ValidationError{Fields: map[string]string{"reason": "say why the chain may be re-anchored (--reason \"...\")"}}
	}
	if len(reason) > 1000 {
		return AuditVerification{}, &ValidationError{Fields: map[string]string{"reason": "at most 1000 characters"}}
	}
	prev, err := LastAuditVerification(ctx, db)
	if err != nil {
		return AuditVerification{}, err
	}
	if prev == nil || prev.OK {
		return AuditVerification{}, ErrNothingToAccept
	}
	end, verr := walkAuditChain(ctx, db, chainWalk{})
	if verr != nil {
		return AuditVerification{}, &StateError{Message: fmt.Sprintf(
			"cannot accept: the rows themselves do not verify (%s); a new anchor cannot repair altered rows: restore the audit log from a backup", verr)}
	}
	from, err := nextAuditCheckpointID(ctx, db)
	if err != nil {
		return AuditVerification{}, err
	}
	by := actor.Label
	if by == "" {
		by = "system"
	}
	res := AuditVerification{At: now(), Rows: end.checked, OK: true, By: by, HeadSeq: end.seq, HeadHash: end.hash, CheckpointsFrom: from}
	res.AcceptedAt = &res.At
	old := map[string]any{"anchor_seq": prev.HeadSeq, "anchor_hash": prev.HeadHash, "problem": firstProblem(prev)}
	if prev.BrokenSince != nil {
		old["broken_since"] = prev.BrokenSince.UTC()
	}
	err = recordAuditVerification(ctx, db, actor, res, AuditEntry{Action: "audit.accept", ResourceType: "audit", ResourceID: "chain", Old: old,
		New: map[string]any{"reason": reason, "anchor_seq": res.HeadSeq, "anchor_hash": res.HeadHash, "checkpoints_from": from}})
	return res, err
}

package models

import (
	"context"
	"errors"
	"fmt"

	"github.com/uptrace/bun"
)

// CreateAuditCheckpoint signs the chain's head with s and stores the
// checkpoint. It signs only a chain that extends the last one it signed:
// the rows after that checkpoint are verified (the whole chain when there
// is none), and nothing is signed while the chain is broken and not
// accepted — a signature must never bless a rewritten chain. When the head
// has not moved since s's newest checkpoint, that one is returned with
// created false. A chain found broken here is recorded as a failed
// verification, as `audit verify` would.
func CreateAuditCheckpoint(ctx context.Context, db bun.IDB, s *AuditSigner, actor Actor) (c *AuditCheckpoint, created bool, err error) {
	state, err := LastAuditVerification(ctx, db)
	if err != nil {
		return nil, false, err
	}
	if state != nil && !state.OK {
		return nil, false, fmt.Errorf("%w: no checkpoint is signed until an admin accepts a new anchor: %s", ErrAuditBroken, state.Problem)
	}
	from := int64(0)
	if state != nil {
		from = state.CheckpointsFrom
	}
	last, err := lastAuditCheckpoint(ctx, db, s.KeyID(), from)
	if err != nil {
		return nil, false, err
	}
	w := chainWalk{expect: map[int64]expectedHash{}}
	if last != nil {
		if err := last.VerifySignature(s.Public()); err != nil {
			return nil, false, fmt.Errorf("%w: stored checkpoint %d: %w", ErrAuditBroken, last.ID, err)
		}
		row, err := AuditBySeq(ctx, db, last.Seq)
		if err != nil || row.Hash != last.Hash {
			return nil, false, recordSignerFailure(ctx, db, s, actor, fmt.Errorf(
				"audit: checkpoint: row %d is missing or does not have the hash %s: the chain was rewritten", last.Seq, checkpointWhat(last)))
		}
		w.after, w.prev = last.Seq, last.Hash
	}
	if state != nil && state.HeadSeq > w.after {
		w.expect[state.HeadSeq] = expectedHash{state.HeadHash, "verified as the chain head on " + state.At.UTC().Format("2006-01-02 15:04 UTC")}
	}
	end, verr := walkAuditChain(ctx, db, w)
	if verr != nil {
		return nil, false, recordSignerFailure(ctx, db, s, actor, verr)
	}
	if end.seq == 0 {
		return nil, false, &StateError{Message: "the audit log is empty: there is nothing to sign"}
	}
	if last != nil && end.seq == last.Seq {
		return last, false, nil
	}
	c = SignAuditCheckpoint(s, end.seq, end.hash)
	if err := insertAuditCheckpoint(ctx, db, c, actor.Label); err != nil {
		return nil, false, err
	}
	return c, true, nil
}

// recordSignerFailure runs a full verification with the stored checkpoints,
// which records the failure (sticky) as `audit verify` would, and returns
// verr: no checkpoint is signed.
func recordSignerFailure(ctx context.Context, db bun.IDB, s *AuditSigner, actor Actor, verr error) error {
	if _, err := VerifyAndRecordAuditChain(ctx, db, actor, AuditVerifyOptions{Key: s.Public()}); err != nil && !errors.Is(err, ErrAuditBroken) {
		return err
	}
	return fmt.Errorf("%w: no checkpoint signed: %w", ErrAuditBroken, verr)
}

package models

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
)

// ActorEntry is one audit row to write: who, and what.
type ActorEntry struct {
	Actor Actor
	Entry AuditEntry
}

// WriteAudits appends several audit rows inside tx, chained in order, with
// one head lookup and one INSERT: the same rows WriteAudit would write one
// by one.
func WriteAudits(ctx context.Context, tx bun.Tx, entries []ActorEntry) error {
	if len(entries) == 0 {
		return nil
	}
	head, err := auditHead(ctx, tx)
	if err != nil {
		return err
	}
	prevHash, seq := head.Hash.String, head.Seq.Int64
	rows := make([]*AuditLog, len(entries))
	t := now()
	for i, ae := range entries {
		seq++
		a, e := ae.Actor, ae.Entry
		row := &AuditLog{
			ID: NewID(), Seq: seq, ActorUserID: a.UserID, ActorAPIKeyID: a.APIKeyID, ActorLabel: a.Label,
			Action: e.Action, ResourceType: e.ResourceType, ResourceID: e.ResourceID, BotID: e.BotID,
			IP: a.IP, UserAgent: truncate(a.UserAgent, 500), CreatedAt: t, PrevHash: prevHash,
		}
		if row.OldValues, err = auditJSON(e.Old); err != nil {
			return err
		}
		if row.NewValues, err = auditJSON(e.New); err != nil {
			return err
		}
		if row.Hash, err = row.ComputeHash(); err != nil {
			return err
		}
		prevHash = row.Hash
		rows[i] = row
	}
	if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
		return fmt.Errorf("audit: insert %d rows: %w", len(rows), err)
	}
	return nil
}

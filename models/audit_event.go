package models

import (
	"context"

	"github.com/uptrace/bun"
)

// RecordEvent writes an audit row for something that changes no other
// table (a sign-out, for example), in its own transaction.
func RecordEvent(ctx context.Context, db bun.IDB, actor Actor, e AuditEntry) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		return WriteAudit(ctx, tx, actor, e)
	})
}

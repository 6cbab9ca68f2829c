package testutil

import (
	"context"
	"testing"

	"github.com/codex32/codex32/models"
)

// DropAuditGuards does what a database superuser (or, on SQLite, anyone
// with the file) can: it removes the triggers that refuse changes to audit
// rows and checkpoints, for the rest of t's database.
func DropAuditGuards(tb testing.TB, db *models.DB) {
	tb.Helper()
	stmts := []string{"ALTER TABLE audit_logs DISABLE TRIGGER ALL", "ALTER TABLE audit_checkpoints DISABLE TRIGGER ALL"}
	if db.Dialect == models.SQLite {
		stmts = []string{"DROP TRIGGER audit_logs_no_update", "DROP TRIGGER audit_logs_no_delete",
			"DROP TRIGGER audit_checkpoints_no_update", "DROP TRIGGER audit_checkpoints_no_delete"}
	}
	for _, s := range stmts {
		if _, err := db.SQL.ExecContext(context.Background(), s); err != nil {
			tb.Fatalf("testutil: %s: %v", s, err)
		}
	}
}

// ForgeAuditChain is the attack signed checkpoints defeat: with the guards
// dropped it changes row seq's actor, re-hashes that row and every later one
// so the chain links again, and removes what the database kept about
// earlier verifications and checkpoints. Afterwards the chain verifies on
// its own.
func ForgeAuditChain(tb testing.TB, db *models.DB, seq int64) {
	tb.Helper()
	ctx := context.Background()
	DropAuditGuards(tb, db)
	var rows []*models.AuditLog
	if err := db.Bun.NewSelect().Model(&rows).Where("a.seq >= ?", seq-1).Order("a.seq ASC").Scan(ctx); err != nil {
		tb.Fatalf("testutil: load audit rows: %v", err)
	}
	prev := ""
	for _, r := range rows {
		if r.Seq == seq-1 {
			prev = r.Hash
			continue
		}
		if r.Seq == seq {
			r.ActorLabel = "someone else"
		}
		r.PrevHash = prev
		h, err := r.ComputeHash()
		if err != nil {
			tb.Fatalf("testutil: hash: %v", err)
		}
		r.Hash, prev = h, h
		if _, err := db.Bun.NewUpdate().Model(r).Column("actor_label", "prev_hash", "hash").WherePK().Exec(ctx); err != nil {
			tb.Fatalf("testutil: rewrite row %d: %v", r.Seq, err)
		}
	}
	for _, s := range []string{"DELETE FROM audit_checkpoints", "DELETE FROM instance_settings WHERE key = 'audit_last_verification'"} {
		if _, err := db.SQL.ExecContext(ctx, s); err != nil {
			tb.Fatalf("testutil: %s: %v", s, err)
		}
	}
}

package models

import (
	"context"
	"strings"

	"github.com/uptrace/bun"

	"github.com/codex32/codex32/internal/telemetry"
)

// CountAuditRows counts the audit rows this process writes in m
// (codex32_audit_rows_total). Like Trace, call it right after Open, before
// db.Bun is copied anywhere. Rows of a transaction that rolls back after
// the insert are counted too (rare: the insert is a mutation's last step).
func (db *DB) CountAuditRows(m *telemetry.Metrics) {
	if m == nil {
		return
	}
	db.Bun = db.Bun.WithQueryHook(auditCounter{m: m})
}

type auditCounter struct{ m *telemetry.Metrics }

func (auditCounter) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }

func (a auditCounter) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	if e.Err != nil || e.Result == nil || !strings.HasPrefix(e.Query, `INSERT INTO "audit_logs"`) {
		return
	}
	if n, err := e.Result.RowsAffected(); err == nil {
		a.m.AuditRows(int(n))
	}
}

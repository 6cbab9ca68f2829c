package migrations

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/codex32/codex32/models"
)

// appendOnlyTables may be read and added to by the runtime role, never
// changed: the audit log and its signed checkpoints. TRUNCATE is its own
// privilege in Postgres; it is granted on no table.
var appendOnlyTables = []string{"audit_logs", "audit_checkpoints"}

// readOnlyTables record the schema's versions: only migrations (run as the
// owner) write them.
var readOnlyTables = []string{versionTable, "river_migration"}

var roleRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$-]{0,62}$`)

// RuntimeGrants returns the SQL that gives role what serve and worker need
// on this Postgres schema and nothing more: no ownership (so no ALTER, no
// DISABLE TRIGGER, no DROP), no TRUNCATE anywhere, and only SELECT and
// INSERT on the append-only audit tables. Run it as the schema owner after
// migrating; again after a migration that adds tables. The tables are read
// from the live schema, so River's are included.
func (m *Migrator) RuntimeGrants(ctx context.Context, role string) (string, error) {
	if m.db.Dialect != models.Postgres {
		return "", errors.New("db grants: roles are a Postgres feature; SQLite has none")
	}
	if !roleRE.MatchString(role) {
		return "", fmt.Errorf("db grants: %q is not a role name", role)
	}
	var schema, owner string
	if err := m.db.SQL.QueryRowContext(ctx, `SELECT current_schema(), pg_get_userbyid(n.nspowner)
		FROM pg_namespace n WHERE n.nspname = current_schema()`).Scan(&schema, &owner); err != nil {
		return "", fmt.Errorf("db grants: read schema: %w", err)
	}
	if owner == role {
		return "", fmt.Errorf("db grants: %s owns schema %s; the runtime role must be another role", role, schema)
	}
	rows, err := m.db.SQL.QueryContext(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1`)
	if err != nil {
		return "", fmt.Errorf("db grants: list tables: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var ordinary, appendOnly, readOnly []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return "", fmt.Errorf("db grants: list tables: %w", err)
		}
		q := pgx.Identifier{schema, t}.Sanitize()
		switch {
		case slices.Contains(appendOnlyTables, t):
			appendOnly = append(appendOnly, q)
		case slices.Contains(readOnlyTables, t):
			readOnly = append(readOnly, q)
		default:
			ordinary = append(ordinary, q)
		}
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("db grants: list tables: %w", err)
	}
	if len(appendOnly) != len(appendOnlyTables) {
		return "", errors.New("db grants: the schema is not migrated (run codex32 migrate up first)")
	}
	r, s := pgx.Identifier{role}.Sanitize(), pgx.Identifier{schema}.Sanitize()
	var b strings.Builder
	fmt.Fprintf(&b, `-- Privileges of the codex32 runtime role %s on schema %s (codex32 db grants).
-- Run as the schema owner (%s) after codex32 migrate, and again after a
-- migration that adds tables. %s must not own these tables, nor be a member
-- of their owner or a superuser: then it cannot ALTER, disable triggers on,
-- UPDATE, DELETE or TRUNCATE the audit log.
-- On Postgres 14 and older also run: REVOKE CREATE ON SCHEMA public FROM PUBLIC;
BEGIN;
GRANT USAGE ON SCHEMA %s TO %s;
REVOKE CREATE ON SCHEMA %s FROM %s;
REVOKE ALL ON ALL TABLES IN SCHEMA %s FROM %s;
`, r, s, owner, r, s, r, s, r, s, r)
	grant := func(privs string, tables []string, why string) {
		if len(tables) > 0 {
			fmt.Fprintf(&b, "-- %s\nGRANT %s ON TABLE %s TO %s;\n", why, privs, strings.Join(tables, ", "), r)
		}
	}
	grant("SELECT, INSERT, UPDATE, DELETE", ordinary, "Ordinary tables (River's included): no TRUNCATE, REFERENCES or TRIGGER.")
	grant("SELECT, INSERT", appendOnly, "Append-only: the audit log and its signed checkpoints.")
	grant("SELECT", readOnly, "Schema versions: written by migrations only.")
	fmt.Fprintf(&b, "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %s TO %s;\nCOMMIT;\n", s, r)
	return b.String(), nil
}

// RoleCheck is what the connected role may do to the schema.
type RoleCheck struct {
	// OwnsTables: the role owns River's job table (or is a superuser or a
	// member of its owner), so owner-only maintenance works.
	OwnsTables bool
	// CanRewriteAudit: the role could change or remove audit rows
	// (UPDATE, DELETE or TRUNCATE privilege, or ownership).
	CanRewriteAudit bool
}

// CheckRole reports what the connected role may do (Postgres; on SQLite
// whoever opens the file may do anything).
func CheckRole(ctx context.Context, db *models.DB) (RoleCheck, error) {
	if db.Dialect != models.Postgres {
		return RoleCheck{OwnsTables: true, CanRewriteAudit: true}, nil
	}
	var rc RoleCheck
	err := db.SQL.QueryRowContext(ctx, `SELECT
		coalesce((SELECT pg_has_role(c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = to_regclass('river_job')), true),
		pg_has_role((SELECT relowner FROM pg_class WHERE oid = to_regclass('audit_logs')), 'USAGE')
			OR has_table_privilege('audit_logs', 'UPDATE') OR has_table_privilege('audit_logs', 'DELETE')
			OR has_table_privilege('audit_logs', 'TRUNCATE')`).Scan(&rc.OwnsTables, &rc.CanRewriteAudit)
	if err != nil {
		return rc, fmt.Errorf("migrations: check role: %w", err)
	}
	return rc, nil
}

// Exec runs SQL such as RuntimeGrants' on the migrator's connection.
func (m *Migrator) Exec(ctx context.Context, sql string) error {
	_, err := m.db.SQL.ExecContext(ctx, sql)
	return err
}

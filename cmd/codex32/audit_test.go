package main

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

func TestAuditVerifyFindsTampering(t *testing.T) {
	t.Parallel()
	env, spec := importEnv(t)
	_, stderr, code := codex32(t, env, "import", examplesDir(t))
	require.Zero(t, code, stderr)

	out, stderr, code := codex32(t, env, "audit", "verify")
	require.Zero(t, code, stderr)
	require.Regexp(t, `^audit chain OK: \d+ rows verified`, out)

	db := testutil.OpenDB(t, spec)
	ctx := context.Background()
	last, err := models.LastAuditVerification(ctx, db.Bun)
	require.NoError(t, err)
	require.True(t, last.OK)
	require.Equal(t, "cli", last.By)

	// The database refuses to change audit rows…
	_, err = db.Bun.ExecContext(ctx, "UPDATE audit_logs SET action = 'bot.delete' WHERE seq = 2")
	require.ErrorContains(t, err, "immutable")
	// …so an attacker with the database drops the guard first. Verify notices.
	if db.Dialect == models.Postgres {
		_, err = db.Bun.ExecContext(ctx, "ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_immutable")
	} else {
		_, err = db.Bun.ExecContext(ctx, "DROP TRIGGER audit_logs_no_update")
	}
	require.NoError(t, err)
	_, err = db.Bun.ExecContext(ctx, "UPDATE audit_logs SET actor_label = 'someone else' WHERE seq = 2")
	require.NoError(t, err)
	_ = db.Close()

	out, stderr, code = codex32(t, env, "audit", "verify")
	require.Equal(t, 1, code, out)
	require.Contains(t, stderr, "audit chain BROKEN after 1 intact rows: audit: verify: row 2 was altered")
	require.Equal(t, 1, strings.Count(stderr, "\n"))
}

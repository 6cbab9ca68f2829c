package models_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

// Postgres jsonb would rewrite 1e1 as 10 and break both the content hash
// and the audit chain: configs and audit values are stored as written.
func TestNumbersAreStoredAsHashed(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	b := &models.Bot{OwnerID: owner.ID, Name: "numbers", Kind: models.KindHTTP}
	v, err := models.CreateBot(ctx, db.Bun, models.Actor{UserID: &owner.ID}, b,
		json.RawMessage(`{"url":"https://example.test","timeout_seconds":1e1,"ratio":0.50,"neg":-0,"big":1E+2}`), "")
	require.NoError(t, err)
	stored, err := models.BotVersionByID(ctx, db.Bun, v.ID)
	require.NoError(t, err)
	hash, err := models.ConfigHash(stored.Config)
	require.NoError(t, err)
	require.Equal(t, stored.ContentHash, hash, "the stored config still matches its hash")
	_, err = models.VerifyAuditChain(ctx, db.Bun)
	require.NoError(t, err, "the audit chain verifies after a round trip through the database")
}

func TestBotNameSortKeysetWithAccents(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	names := []string{"alpha", "Zed", "Éclair", "Émile", "Ölf", "Ürsula"}
	for _, n := range names {
		_, err := models.CreateBot(ctx, db.Bun, models.Actor{}, &models.Bot{OwnerID: owner.ID, Name: n, Kind: models.KindHTTP}, json.RawMessage(`{}`), "")
		require.NoError(t, err)
	}
	seen := map[string]bool{}
	after := ""
	for range 10 {
		p, err := models.QueryBots(ctx, db.Bun, models.BotQuery{Sort: models.SortName, Limit: 1, After: after})
		require.NoError(t, err)
		for _, r := range p.Rows {
			seen[r.Name] = true
		}
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	require.Len(t, seen, len(names), "every bot is reachable page by page: %v", seen)
}

func TestLongUserAgentsAreCutOnACharacter(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	ua := strings.Repeat("a", 499) + "é" + strings.Repeat("b", 10) // é straddles byte 500
	u := &models.User{Email: "ua@example.test", Username: "ua"}
	require.NoError(t, models.CreateUser(ctx, db.Bun, models.Actor{UserAgent: ua}, u))
	var got string
	require.NoError(t, db.Bun.NewSelect().Table("audit_logs").Column("user_agent").Where("resource_id = ?", u.ID.String()).Scan(ctx, &got))
	require.Equal(t, strings.Repeat("a", 499), got)
}

func TestArchivedBotsRefuseChanges(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	b, _ := createBot(t, db, owner, "frozen", models.BotActive)
	_, err := models.SetBotArchived(ctx, db.Bun, models.Actor{}, b.ID, true)
	require.NoError(t, err)
	_, err = models.CreateBotVersion(ctx, db.Bun, models.Actor{}, b.ID, 1, models.KindHTTP, json.RawMessage(`{"x":2}`), "")
	require.ErrorIs(t, err, models.ErrArchived)
	_, err = models.ActivateBotVersion(ctx, db.Bun, models.Actor{}, b.ID, 1)
	require.ErrorIs(t, err, models.ErrArchived)
	_, err = models.UpdateBot(ctx, db.Bun, models.Actor{}, b.ID, models.BotPatch{Name: "renamed", Status: models.BotActive})
	require.ErrorIs(t, err, models.ErrArchived)
}

func TestVerifyNoticesRemovedNewestRows(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	for range 5 {
		testutil.CreateUser(t, db, models.RoleViewer)
	}
	res, err := models.VerifyAndRecordAuditChain(ctx, db.Bun, models.SystemActor("test"), models.AuditVerifyOptions{})
	require.NoError(t, err)
	require.True(t, res.OK)
	head := res.HeadSeq
	require.Positive(t, head)

	// Someone with the database removes the newest rows (bypassing the guard).
	if db.Dialect == models.Postgres {
		_, err = db.Bun.ExecContext(ctx, "ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_immutable")
	} else {
		_, err = db.Bun.ExecContext(ctx, "DROP TRIGGER audit_logs_no_delete")
	}
	require.NoError(t, err)
	_, err = db.Bun.ExecContext(ctx, fmt.Sprintf("DELETE FROM audit_logs WHERE seq >= %d", head-1))
	require.NoError(t, err)

	res, err = models.VerifyAndRecordAuditChain(ctx, db.Bun, models.SystemActor("test"), models.AuditVerifyOptions{})
	require.Error(t, err)
	require.False(t, res.OK)
	require.Contains(t, res.Problem, fmt.Sprintf("row %d", head))
	require.Contains(t, res.Problem, "rows were removed")
}

func TestTruncateIsRefusedOnPostgres(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	if db.Dialect != models.Postgres {
		t.Skip("SQLite has no TRUNCATE statement (DELETE is refused by a trigger, tested elsewhere)")
	}
	testutil.CreateUser(t, db, models.RoleViewer)
	_, err := db.Bun.ExecContext(ctx, "TRUNCATE audit_logs")
	require.ErrorContains(t, err, "immutable")
}

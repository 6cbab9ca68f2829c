package models_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

func TestBotVersionsAreNumberedAndIdenticalSavesAreRefused(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	actor := models.Actor{UserID: &owner.ID, Label: owner.Email}
	b, v1 := createBot(t, db, owner, "versioned", models.BotActive)

	// Same config, different key order and spacing: no new version.
	_, err := models.CreateBotVersion(ctx, db.Bun, actor, b.ID, 1, models.KindHTTP, json.RawMessage(`{ "method":"GET", "url":"https://example.test" }`), "noop")
	require.ErrorIs(t, err, models.ErrUnchanged)

	v2, err := models.CreateBotVersion(ctx, db.Bun, actor, b.ID, 1, models.KindHTTP, json.RawMessage(`{"method":"POST","url":"https://example.test"}`), "  switch to POST ")
	require.NoError(t, err)
	require.Equal(t, 2, v2.Number)
	require.Equal(t, "switch to POST", v2.Changelog)
	require.NotEqual(t, v1.ContentHash, v2.ContentHash)
	got, err := models.BotByID(ctx, db.Bun, b.ID)
	require.NoError(t, err)
	require.Equal(t, v2.ID, *got.ActiveVersionID, "the new version is active")

	// Editing a stale version is a conflict naming the newer version; nothing is written.
	_, err = models.CreateBotVersion(ctx, db.Bun, actor, b.ID, 1, models.KindHTTP, json.RawMessage(`{"method":"PUT","url":"https://example.test"}`), "stale")
	var conflict *models.VersionConflictError
	require.ErrorAs(t, err, &conflict)
	require.Equal(t, 2, conflict.Latest)
	require.Contains(t, err.Error(), "version 2 was saved meanwhile")

	// A kind change with the same JSON is a new version, and the bot's kind follows.
	v3, err := models.CreateBotVersion(ctx, db.Bun, actor, b.ID, 2, models.KindLLM, json.RawMessage(`{"method":"POST","url":"https://example.test"}`), "kind")
	require.NoError(t, err)
	require.Equal(t, models.KindLLM, v3.Kind)
	got, err = models.BotByID(ctx, db.Bun, b.ID)
	require.NoError(t, err)
	require.Equal(t, models.KindLLM, got.Kind)

	require.Equal(t, 2, count(t, db, "audit_logs", "action = ? AND bot_id = ?", "bot.version.create", b.ID))
}

func TestConcurrentSavesOfTheSameVersion(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	actor := models.Actor{UserID: &owner.ID}
	b, _ := createBot(t, db, owner, "contended", models.BotActive)
	const n = 6
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := range n {
		wg.Go(func() {
			cfg := json.RawMessage(`{"method":"GET","url":"https://example.test/` + fmt.Sprintf("%c", 'a'+i) + `"}`)
			_, results[i] = models.CreateBotVersion(ctx, db.Bun, actor, b.ID, 1, models.KindHTTP, cfg, "edit")
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range results {
		var conflict *models.VersionConflictError
		switch {
		case err == nil:
			wins++
		case errors.As(err, &conflict):
			require.Equal(t, 2, conflict.Latest)
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	require.Equal(t, 1, wins, "exactly one save of version 1 wins")
	vs, err := models.ListBotVersions(ctx, db.Bun, b.ID)
	require.NoError(t, err)
	require.Len(t, vs, 2)
	n2, err := models.VerifyAuditChain(ctx, db.Bun)
	require.NoError(t, err, "concurrent writers did not fork the chain")
	require.Positive(t, n2)
}

func TestActivateRollsBack(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	actor := models.Actor{UserID: &owner.ID}
	b, v1 := createBot(t, db, owner, "rollback", models.BotActive)
	_, err := models.CreateBotVersion(ctx, db.Bun, actor, b.ID, 1, models.KindScript, json.RawMessage(`{"source":"function main(i){return i}"}`), "v2")
	require.NoError(t, err)

	v, err := models.ActivateBotVersion(ctx, db.Bun, actor, b.ID, 1)
	require.NoError(t, err)
	require.Equal(t, v1.ID, v.ID)
	got, err := models.BotByID(ctx, db.Bun, b.ID)
	require.NoError(t, err)
	require.Equal(t, v1.ID, *got.ActiveVersionID)
	require.Equal(t, models.KindHTTP, got.Kind, "the kind follows the active version")

	_, err = models.ActivateBotVersion(ctx, db.Bun, actor, b.ID, 1)
	require.ErrorIs(t, err, models.ErrUnchanged)
	_, err = models.ActivateBotVersion(ctx, db.Bun, actor, b.ID, 9)
	require.ErrorIs(t, err, models.ErrNotFound)
	var row models.AuditLog
	require.NoError(t, db.Bun.NewSelect().Model(&row).Where("action = ?", "bot.version.activate").Scan(ctx))
	require.JSONEq(t, `{"active_version":2}`, string(row.OldValues))
	require.EqualValues(t, 1, jsonField(t, row.NewValues, "active_version"))
}

func TestUpdateArchiveRestorePurge(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	actor := models.Actor{UserID: &owner.ID}
	b, _ := createBot(t, db, owner, "lifecycle", models.BotActive, "a")

	_, err := models.UpdateBot(ctx, db.Bun, actor, b.ID, models.BotPatch{Name: "lifecycle", Description: b.Description, Tags: []string{"a"}, Status: models.BotActive})
	require.ErrorIs(t, err, models.ErrUnchanged)
	nb, err := models.UpdateBot(ctx, db.Bun, actor, b.ID, models.BotPatch{Name: "renamed", Description: "d", Tags: []string{"B", "c"}, Status: models.BotMaintenance})
	require.NoError(t, err)
	require.Equal(t, []string{"b", "c"}, nb.Tags)
	byTag, err := models.ListBots(ctx, db.Bun, models.BotFilter{Tag: "c"})
	require.NoError(t, err)
	require.Len(t, byTag, 1)
	byOldTag, err := models.ListBots(ctx, db.Bun, models.BotFilter{Tag: "a"})
	require.NoError(t, err)
	require.Empty(t, byOldTag)
	var row models.AuditLog
	require.NoError(t, db.Bun.NewSelect().Model(&row).Where("action = ?", "bot.update").Scan(ctx))
	require.Equal(t, "lifecycle", jsonField(t, row.OldValues, "name"))
	require.Equal(t, "renamed", jsonField(t, row.NewValues, "name"))

	require.ErrorIs(t, models.PurgeBot(ctx, db.Bun, actor, b.ID), models.ErrNotArchived)
	_, err = models.SetBotArchived(ctx, db.Bun, actor, b.ID, true)
	require.NoError(t, err)
	list, err := models.ListBots(ctx, db.Bun, models.BotFilter{})
	require.NoError(t, err)
	require.Empty(t, list, "archived bots are hidden by default")
	_, err = models.SetBotArchived(ctx, db.Bun, actor, b.ID, false)
	require.NoError(t, err)
	_, err = models.SetBotArchived(ctx, db.Bun, actor, b.ID, true)
	require.NoError(t, err)

	auditBefore := count(t, db, "audit_logs", "bot_id = ?", b.ID)
	require.NoError(t, models.PurgeBot(ctx, db.Bun, actor, b.ID))
	_, err = models.BotByID(ctx, db.Bun, b.ID)
	require.ErrorIs(t, err, models.ErrNotFound)
	require.Zero(t, count(t, db, "bot_versions", "bot_id = ?", b.ID))
	require.Equal(t, auditBefore+1, count(t, db, "audit_logs", "bot_id = ?", b.ID), "the history remains, plus the purge")
	_, err = models.VerifyAuditChain(ctx, db.Bun)
	require.NoError(t, err)
}

// jsonField decodes one top-level field (Postgres jsonb reformats the text).
func jsonField(t *testing.T, raw json.RawMessage, key string) any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	return m[key]
}

func TestExportImportsBackWithItsHistory(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	actor := models.Actor{UserID: &owner.ID}
	b, _ := createBot(t, db, owner, "historic", models.BotActive, "x")
	_, err := models.CreateBotVersion(ctx, db.Bun, actor, b.ID, 1, models.KindHTTP, json.RawMessage(`{"url":"https://example.test/2"}`), "second")
	require.NoError(t, err)
	_, err = models.CreateBotVersion(ctx, db.Bun, actor, b.ID, 2, models.KindScript, json.RawMessage(`{"source":"function main(i){return i}"}`), "third")
	require.NoError(t, err)
	_, err = models.ActivateBotVersion(ctx, db.Bun, actor, b.ID, 2)
	require.NoError(t, err)

	f, err := models.ExportBot(ctx, db.Bun, b.ID)
	require.NoError(t, err)
	raw, err := json.Marshal(f)
	require.NoError(t, err)
	parsed, err := models.ParseBotFile(raw)
	require.NoError(t, err)

	other := testutil.CreateUser(t, db, models.RoleUser)
	before := count(t, db, "audit_logs", "")
	res, nb, err := models.ImportBot(ctx, db.Bun, models.Actor{UserID: &other.ID}, other.ID, parsed, "historic.json")
	require.NoError(t, err)
	require.Equal(t, models.ImportCreated, res)
	require.Equal(t, before+1, count(t, db, "audit_logs", ""), "one audit row for the whole import")
	vs, err := models.ListBotVersions(ctx, db.Bun, nb.ID)
	require.NoError(t, err)
	require.Len(t, vs, 3)
	orig, err := models.ListBotVersions(ctx, db.Bun, b.ID)
	require.NoError(t, err)
	for i := range vs {
		require.Equal(t, orig[i].ContentHash, vs[i].ContentHash)
		require.Equal(t, orig[i].Kind, vs[i].Kind)
		require.Equal(t, orig[i].Changelog, vs[i].Changelog)
	}
	got, err := models.BotByID(ctx, db.Bun, nb.ID)
	require.NoError(t, err)
	active, err := models.BotVersionByID(ctx, db.Bun, *got.ActiveVersionID)
	require.NoError(t, err)
	require.Equal(t, 2, active.Number, "the active version is the exported active one")
	require.Equal(t, models.KindHTTP, got.Kind)

	res, _, err = models.ImportBot(ctx, db.Bun, models.Actor{UserID: &other.ID}, other.ID, parsed, "historic.json")
	require.NoError(t, err)
	require.Equal(t, models.ImportUnchanged, res, "importing it again changes nothing")
}

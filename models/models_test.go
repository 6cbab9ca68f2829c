package models_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

var ctx = context.Background()

func TestHealthCheck(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	require.NoError(t, db.Ping(ctx))
	require.Equal(t, testutil.Dialect(), db.Dialect)
}

func TestAllTablesExist(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	var tables []string
	q := "SELECT name FROM sqlite_master WHERE type = 'table'"
	if db.Dialect == models.Postgres {
		q = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
	}
	require.NoError(t, db.Bun.NewRaw(q).Scan(ctx, &tables))
	for _, want := range []string{"users", "identities", "sessions", "api_keys", "bots", "bot_tags",
		"bot_versions", "bot_executions", "audit_logs", "codex32_schema_migrations", "river_job",
		"codex32_workers", "bot_webhooks", "bot_schedules", "schedule_runs", "api_idempotency_keys"} {
		require.Contains(t, tables, want)
	}
}

func TestCreateUser(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	u := &models.User{Email: "Admin@Test.local", Username: "admin", Role: models.RoleAdmin, IsActive: true}
	require.NoError(t, models.CreateUser(ctx, db.Bun, models.SystemActor("test"), u))
	require.Equal(t, uuid.Version(7), u.ID.Version(), "ids are UUIDv7")

	got, err := models.UserByEmail(ctx, db.Bun, "admin@test.LOCAL")
	require.NoError(t, err)
	require.Equal(t, u.ID, got.ID)
	require.Equal(t, models.RoleAdmin, got.Role)
	require.Nil(t, got.PasswordHash, "SSO-only users have no password hash")
	require.WithinDuration(t, time.Now(), got.CreatedAt, time.Minute)

	// Email is unique ignoring case.
	dup := &models.User{Email: "admin@test.local", Username: "other", IsActive: true}
	err = models.CreateUser(ctx, db.Bun, models.SystemActor("test"), dup)
	require.ErrorIs(t, err, models.ErrConflict)

	// Invalid input is a ValidationError naming the fields.
	err = models.CreateUser(ctx, db.Bun, models.SystemActor("test"), &models.User{Email: "nope", Role: "root"})
	var ve *models.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Contains(t, ve.Fields, "email")
	require.Contains(t, ve.Fields, "username")
	require.Contains(t, ve.Fields, "role")

	_, err = models.UserByID(ctx, db.Bun, uuid.New())
	require.ErrorIs(t, err, models.ErrNotFound)
}

func TestRoleCheckConstraint(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	u := testutil.CreateUser(t, db, models.RoleUser)
	_, err := db.Bun.NewUpdate().Model((*models.User)(nil)).Set("role = ?", "superuser").Where("id = ?", u.ID).Exec(ctx)
	require.Error(t, err, "the database refuses an unknown role")
}

func TestUserRelationshipsEmpty(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	u := testutil.CreateUser(t, db, models.RoleAdmin)
	got := new(models.User)
	require.NoError(t, db.Bun.NewSelect().Model(got).Relation("Bots").Relation("APIKeys").Where("u.id = ?", u.ID).Scan(ctx))
	require.Empty(t, got.Bots)
	require.Empty(t, got.APIKeys)
}

func TestAPIKeyCreation(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	u := testutil.CreateUser(t, db, models.RoleAdmin)
	k := &models.APIKey{UserID: u.ID, Name: "Test Key", Scopes: []string{"read"}}
	plain, err := models.CreateAPIKey(ctx, db.Bun, models.SystemActor("test"), k)
	require.NoError(t, err)
	require.Regexp(t, `^c32_[a-z2-7]{38}$`, plain)
	require.True(t, models.WellFormedAPIKey(plain))
	require.False(t, models.WellFormedAPIKey(typo(plain, len(plain)-1)), "checksum catches a typo")
	require.False(t, models.WellFormedAPIKey(typo(plain, 10)), "a typo in the body too")
	require.True(t, len(k.Prefix) > 5 && plain[:len(k.Prefix)] == k.Prefix, "prefix is the start of the key")

	stored, err := models.APIKeyByKey(ctx, db.Bun, plain)
	require.NoError(t, err)
	require.Equal(t, u.ID, stored.UserID)
	require.Equal(t, []string{"read"}, stored.Scopes)
	require.NotEqual(t, plain, stored.KeyHash)
	require.Equal(t, models.HashAPIKey(plain), stored.KeyHash)

	// The key itself is nowhere in the database: not in api_keys, not in the audit log.
	n, err := db.Bun.NewSelect().Table("api_keys").Where("key_hash = ? OR prefix = ? OR name = ?", plain, plain, plain).Count(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	n, err = db.Bun.NewSelect().Table("audit_logs").Where("CAST(new_values AS TEXT) LIKE ?", "%"+plain[len(k.Prefix):]+"%").Count(ctx)
	require.NoError(t, err)
	require.Zero(t, n)

	_, err = models.APIKeyByKey(ctx, db.Bun, plain+"x")
	require.ErrorIs(t, err, models.ErrNotFound)
}

func createBot(t *testing.T, db *models.DB, owner *models.User, name string, status models.BotStatus, tags ...string) (*models.Bot, *models.BotVersion) {
	t.Helper()
	b := &models.Bot{OwnerID: owner.ID, Name: name, Description: "Test bot description", Kind: models.KindHTTP, Status: status, Tags: tags}
	actor := models.Actor{UserID: &owner.ID, Label: owner.Email}
	v, err := models.CreateBot(ctx, db.Bun, actor, b, json.RawMessage(`{"url": "https://example.test", "method": "GET"}`), "first version")
	require.NoError(t, err)
	return b, v
}

func TestCreateBot(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	b, v := createBot(t, db, owner, "Test Bot", models.BotActive, "Prod", "alpha", "prod ")

	got, err := models.BotByID(ctx, db.Bun, b.ID)
	require.NoError(t, err)
	require.Equal(t, "Test Bot", got.Name)
	require.Equal(t, owner.ID, got.OwnerID)
	require.Equal(t, []string{"alpha", "prod"}, got.Tags, "tags are normalised")
	require.NotNil(t, got.ActiveVersionID)
	require.Equal(t, v.ID, *got.ActiveVersionID)
	require.Equal(t, 1, v.Number)
	require.Equal(t, owner.ID, *v.AuthorID)
	require.JSONEq(t, `{"method":"GET","url":"https://example.test"}`, string(v.Config))

	vs, err := models.ListBotVersions(ctx, db.Bun, b.ID)
	require.NoError(t, err)
	require.Len(t, vs, 1)
	require.Equal(t, v.ContentHash, vs[0].ContentHash)

	byTag, err := models.ListBots(ctx, db.Bun, models.BotFilter{Tag: "PROD"})
	require.NoError(t, err)
	require.Len(t, byTag, 1)
	none, err := models.ListBots(ctx, db.Bun, models.BotFilter{Tag: "missing"})
	require.NoError(t, err)
	require.Empty(t, none)

	// A config that is not a JSON object is refused, and nothing is left behind.
	bad := &models.Bot{OwnerID: owner.ID, Name: "Bad", Kind: models.KindHTTP}
	_, err = models.CreateBot(ctx, db.Bun, models.Actor{}, bad, json.RawMessage(`[1,2]`), "")
	var ve *models.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Contains(t, ve.Fields, "config")
	all, err := models.ListBots(ctx, db.Bun, models.BotFilter{})
	require.NoError(t, err)
	require.Len(t, all, 1, "the failed bot's insert was rolled back")
}

func TestBotVersionsAreImmutable(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	_, v := createBot(t, db, owner, "Immutable", models.BotActive)
	_, err := db.Bun.NewUpdate().Model((*models.BotVersion)(nil)).Set("changelog = ?", "rewritten").Where("id = ?", v.ID).Exec(ctx)
	require.ErrorContains(t, err, "immutable")
}

func TestBotStatistics(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	b, v := createBot(t, db, owner, "Stats Bot", models.BotActive)
	start := time.Now()
	results := []struct {
		status models.ExecStatus
		took   time.Duration
	}{{models.ExecSuccess, 100 * time.Millisecond}, {models.ExecSuccess, 200 * time.Millisecond}, {models.ExecFailed, 300 * time.Millisecond}}
	for _, r := range results {
		e := &models.Execution{BotID: b.ID, VersionID: &v.ID, RequestedBy: &owner.ID}
		require.NoError(t, models.CreateExecution(ctx, db.Bun, e))
		require.NoError(t, models.FinishExecution(ctx, db.Bun, e.ID, r.status, json.RawMessage(`{"ok":true}`), "", start, start.Add(r.took)))
	}
	got, err := models.BotByID(ctx, db.Bun, b.ID)
	require.NoError(t, err)
	require.EqualValues(t, 3, got.TotalExecutions)
	require.EqualValues(t, 2, got.SuccessfulExecutions)
	require.EqualValues(t, 1, got.FailedExecutions)
	require.InDelta(t, 200.0, got.AvgDurationMS, 0.001)
	require.NotNil(t, got.LastExecutedAt)
}

func TestExecutionRecord(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	b, v := createBot(t, db, owner, "Exec Bot", models.BotActive)
	e := &models.Execution{BotID: b.ID, VersionID: &v.ID, Trigger: models.TriggerAPI, Input: json.RawMessage(`{"key": "value"}`)}
	require.NoError(t, models.CreateExecution(ctx, db.Bun, e))
	start := time.Now().Add(-150 * time.Millisecond)
	require.NoError(t, models.FinishExecution(ctx, db.Bun, e.ID, models.ExecSuccess, json.RawMessage(`{"result":"ok"}`), "", start, start.Add(150500*time.Microsecond)))

	got, err := models.ExecutionByID(ctx, db.Bun, e.ID)
	require.NoError(t, err)
	require.Equal(t, models.ExecSuccess, got.Status)
	require.Equal(t, models.TriggerAPI, got.Trigger)
	require.JSONEq(t, `{"key":"value"}`, string(got.Input))
	require.JSONEq(t, `{"result":"ok"}`, string(got.Output))
	require.NotNil(t, got.DurationMS)
	require.InDelta(t, 150.5, *got.DurationMS, 0.001)

	// A finished execution cannot be finished again.
	err = models.FinishExecution(ctx, db.Bun, e.ID, models.ExecFailed, nil, "x", start, start)
	require.ErrorContains(t, err, "already success")

	err = models.CreateExecution(ctx, db.Bun, &models.Execution{BotID: b.ID, Trigger: "cron"})
	var ve *models.ValidationError
	require.ErrorAs(t, err, &ve)
}

func count(t *testing.T, db *models.DB, table, where string, args ...any) int {
	t.Helper()
	q := db.Bun.NewSelect().Table(table)
	if where != "" {
		q = q.Where(where, args...)
	}
	n, err := q.Count(ctx)
	require.NoError(t, err)
	return int(n)
}

func TestDeleteUserCascadesButKeepsAudit(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	admin := testutil.CreateUser(t, db, models.RoleAdmin)
	doomed := testutil.CreateUser(t, db, models.RoleUser)
	other := testutil.CreateUser(t, db, models.RoleUser)

	b, v := createBot(t, db, doomed, "Cascade Test", models.BotActive)
	e := &models.Execution{BotID: b.ID, VersionID: &v.ID, RequestedBy: &doomed.ID}
	require.NoError(t, models.CreateExecution(ctx, db.Bun, e))
	_, err := models.CreateAPIKey(ctx, db.Bun, models.Actor{UserID: &doomed.ID}, &models.APIKey{UserID: doomed.ID, Name: "k", Scopes: []string{"read"}})
	require.NoError(t, err)
	// The doomed user also ran someone else's bot: that execution stays, requester cleared.
	ob, ov := createBot(t, db, other, "Other's bot", models.BotActive)
	oe := &models.Execution{BotID: ob.ID, VersionID: &ov.ID, RequestedBy: &doomed.ID}
	require.NoError(t, models.CreateExecution(ctx, db.Bun, oe))

	auditBefore := count(t, db, "audit_logs", "")
	require.Positive(t, count(t, db, "audit_logs", "actor_user_id = ?", doomed.ID))

	require.NoError(t, models.DeleteUser(ctx, db.Bun, models.Actor{UserID: &admin.ID, Label: admin.Email}, doomed.ID))

	require.Zero(t, count(t, db, "users", "id = ?", doomed.ID))
	require.Zero(t, count(t, db, "bots", "owner_id = ?", doomed.ID))
	require.Zero(t, count(t, db, "bot_versions", "bot_id = ?", b.ID))
	require.Zero(t, count(t, db, "bot_executions", "bot_id = ?", b.ID))
	require.Zero(t, count(t, db, "bot_tags", "bot_id = ?", b.ID))
	require.Zero(t, count(t, db, "api_keys", "user_id = ?", doomed.ID))

	kept, err := models.ExecutionByID(ctx, db.Bun, oe.ID)
	require.NoError(t, err)
	require.Nil(t, kept.RequestedBy)
	require.Equal(t, 1, count(t, db, "bots", "id = ?", ob.ID))

	// Every audit row is still there (plus the deletion's own), and the chain verifies.
	require.Equal(t, auditBefore+1, count(t, db, "audit_logs", ""))
	require.Positive(t, count(t, db, "audit_logs", "actor_user_id = ?", doomed.ID))
	require.Equal(t, 1, count(t, db, "audit_logs", "action = ? AND resource_id = ?", "user.delete", doomed.ID.String()))
	n, err := models.VerifyAuditChain(ctx, db.Bun)
	require.NoError(t, err)
	require.Equal(t, auditBefore+1, n)
}

func TestAuditRowsAreImmutableAndChained(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	testutil.CreateUser(t, db, models.RoleAdmin)
	testutil.CreateUser(t, db, models.RoleUser)
	_, err := db.Bun.NewUpdate().Table("audit_logs").Set("action = ?", "forged").Where("seq = 1").Exec(ctx)
	require.ErrorContains(t, err, "immutable")
	_, err = db.Bun.NewDelete().Table("audit_logs").Where("seq = 1").Exec(ctx)
	require.ErrorContains(t, err, "immutable")

	var rows []*models.AuditLog
	require.NoError(t, db.Bun.NewSelect().Model(&rows).Order("seq").Scan(ctx))
	require.Len(t, rows, 2)
	require.Empty(t, rows[0].PrevHash)
	require.Equal(t, rows[0].Hash, rows[1].PrevHash)
	n, err := models.VerifyAuditChain(ctx, db.Bun)
	require.NoError(t, err)
	require.Equal(t, 2, n)
}

func TestAuditWriteFailureRollsBackChange(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	// Break the audit table so the audit insert fails: the user must not be created.
	_, err := db.Bun.ExecContext(ctx, "ALTER TABLE audit_logs RENAME TO audit_logs_gone")
	require.NoError(t, err)
	err = models.CreateUser(ctx, db.Bun, models.SystemActor("test"), &models.User{Email: "a@b.test", Username: "a"})
	require.Error(t, err)
	require.Zero(t, count(t, db, "users", ""))
	require.NotErrorIs(t, err, models.ErrConflict)
}

func TestCountBotsByStatus(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	createBot(t, db, owner, "a", models.BotActive)
	createBot(t, db, owner, "b", models.BotActive)
	createBot(t, db, owner, "c", models.BotError)
	got, err := models.CountBotsByStatus(ctx, db.Bun, &owner.ID)
	require.NoError(t, err)
	require.Equal(t, map[models.BotStatus]int{models.BotActive: 2, models.BotError: 1, models.BotInactive: 0, models.BotMaintenance: 0}, got)
	mine, err := models.ListBots(ctx, db.Bun, models.BotFilter{OwnerID: &owner.ID, Status: models.BotActive})
	require.NoError(t, err)
	require.Len(t, mine, 2)
}

func TestActiveVersionForeignKeyIsEnforcedAtCommit(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	missing := uuid.Must(uuid.NewV7())
	err := db.Bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		b := &models.Bot{ID: models.NewID(), OwnerID: owner.ID, Name: "dangling", Kind: models.KindHTTP, Status: models.BotActive,
			Tags: []string{}, ActiveVersionID: &missing, CreatedAt: time.Now(), UpdatedAt: time.Now()}
		_, err := tx.NewInsert().Model(b).Exec(ctx)
		return err
	})
	require.Error(t, err, "a bot may not point at a version that does not exist")
	require.Zero(t, count(t, db, "bots", ""))
}

func TestCreateBotRollsBackWhenAuditFails(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	_, err := db.Bun.ExecContext(ctx, "ALTER TABLE audit_logs RENAME TO audit_logs_gone")
	require.NoError(t, err)
	b := &models.Bot{OwnerID: owner.ID, Name: "x", Kind: models.KindHTTP, Tags: []string{"t"}}
	_, err = models.CreateBot(ctx, db.Bun, models.Actor{UserID: &owner.ID}, b, json.RawMessage(`{}`), "")
	require.Error(t, err)
	for _, table := range []string{"bots", "bot_versions", "bot_tags"} {
		require.Zero(t, count(t, db, table, ""), table)
	}
}

// typo changes the character at i to a different one of the key alphabet.
func typo(key string, i int) string {
	c := byte('a')
	if key[i] == 'a' {
		c = 'b'
	}
	return key[:i] + string(c) + key[i+1:]
}

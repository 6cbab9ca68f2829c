package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/config"
	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/migrations"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
)

// leastPrivilegeRoles creates, on the test cluster, a schema owner and a
// runtime role with its own schema, and returns each one's URL (both with
// that schema as search_path). Everything is dropped when t ends.
func leastPrivilegeRoles(t *testing.T) (ownerURL, runtimeURL, runtimeRole string) {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	suffix := hex.EncodeToString(b)
	owner, runtime, schema := "owner_"+suffix, "app_"+suffix, "lp_"+suffix
	ctx := context.Background()
	su, err := pgx.Connect(ctx, base)
	require.NoError(t, err)
	defer func() { _ = su.Close(ctx) }()
	for _, s := range []string{
		"CREATE ROLE " + owner + " LOGIN", "CREATE ROLE " + runtime + " LOGIN",
		"CREATE SCHEMA " + schema + " AUTHORIZATION " + owner,
	} {
		_, err := su.Exec(ctx, s)
		require.NoError(t, err, s)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		su, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop roles: %v", err)
			return
		}
		defer func() { _ = su.Close(ctx) }()
		for _, s := range []string{"DROP SCHEMA " + schema + " CASCADE", "DROP OWNED BY " + runtime, "DROP ROLE " + runtime, "DROP ROLE " + owner} {
			if _, err := su.Exec(ctx, s); err != nil {
				t.Errorf("%s: %v", s, err)
			}
		}
	})
	as := func(role string) string {
		u, err := url.Parse(base)
		require.NoError(t, err)
		u.User = url.User(role)
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return as(owner), as(runtime), runtime
}

// requireDenied asserts a statement fails for lack of privilege
// (insufficient_privilege: "permission denied" or "must be owner").
func requireDenied(t *testing.T, db *models.DB, stmt string) {
	t.Helper()
	_, err := db.SQL.ExecContext(context.Background(), stmt)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr, "%s: want a privilege error, got %v", stmt, err)
	require.Equal(t, "42501", pgErr.Code, "%s: %s", stmt, pgErr.Message)
}

// Postgres: migrations run as the schema owner, serve and worker as a role
// that holds the privileges codex32 db grants prints and no more. That role
// works normally but cannot ALTER the audit tables, disable their triggers,
// or UPDATE, DELETE or TRUNCATE them.
func TestLeastPrivilegeRuntimeRole(t *testing.T) {
	if testutil.Dialect() != models.Postgres {
		t.Skip("roles and privileges are Postgres's; SQLite has none (make test runs the Postgres suite)")
	}
	t.Parallel()
	ownerURL, runtimeURL, role := leastPrivilegeRoles(t)
	private, _ := keygen(t)
	env := map[string]string{"DATABASE_URL": runtimeURL, "DATABASE_MIGRATE_URL": ownerURL, "CODEX32_AUDIT_SIGNING_KEY": private}

	_, stderr, code := codex32(t, env, "migrate", "up")
	require.Zero(t, code, "migrate runs as DATABASE_MIGRATE_URL's role: %s", stderr)
	require.Contains(t, stderr, "runtime role's privileges applied", "and grants DATABASE_URL's role what it needs")
	sql, stderr, code := codex32(t, env, "db", "grants", "--role", role)
	require.Zero(t, code, stderr)
	require.Regexp(t, `GRANT SELECT, INSERT ON TABLE "lp_[0-9a-f]+"\."audit_checkpoints", "lp_[0-9a-f]+"\."audit_logs" TO "`+role+`";`, sql)
	require.Contains(t, sql, `"river_job"`, "River's tables are covered")
	for _, line := range strings.Split(sql, "\n") {
		if strings.HasPrefix(line, "GRANT") {
			require.NotContains(t, line, "TRUNCATE", "TRUNCATE is granted on no table")
		}
	}
	out, stderr, code := codex32(t, env, "db", "grants", "--role", role, "--apply")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "applied")

	// serve starts as the runtime role (auto-migrate goes through the
	// owner's URL), runs River, and signs a checkpoint at start.
	cfg, err := config.FromEnv(map[string]string{"DATABASE_URL": runtimeURL, "DATABASE_MIGRATE_URL": ownerURL, "CODEX32_ADDR": "127.0.0.1:0",
		"CODEX32_DATA_DIR": filepath.Join(t.TempDir(), "data"), "CODEX32_AUDIT_SIGNING_KEY": private, "CODEX32_WORKERS": "2", "CODEX32_SCRIPT_PROCESSES": "1"})
	require.NoError(t, err)
	logs := &syncBuffer{}
	db := testutil.OpenDB(t, testutil.DBSpec{Driver: "postgres", URL: runtimeURL})
	testutil.CreateUser(t, db, models.RoleAdmin) // so there is something to sign
	addr, stop := startServe(t, cfg, slog.New(slog.NewTextHandler(logs, nil)))
	resp, err := httpGet(t.Context(), "http://"+addr+"/readyz")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), `msg="audit checkpoint"`) }, 20*time.Second, 50*time.Millisecond, "serve signs at start")
	require.Contains(t, logs.String(), "River's nightly reindex is off")

	ctx := context.Background()
	rc, err := migrations.CheckRole(ctx, db)
	require.NoError(t, err)
	require.Equal(t, migrations.RoleCheck{OwnsTables: false, CanRewriteAudit: false}, rc)

	// Normal work as the runtime role: a bot, its audit rows, an execution
	// run by serve's workers, a verification and a checkpoint.
	bot := createBot(t, db, models.KindScript, `{"source": "function main(input) { return {doubled: input.n * 2} }"}`)
	box, err := models.NewSecretBox([]byte("roles-test-key-0123456789abcdefg"))
	require.NoError(t, err)
	eng := testutil.NewEngine(t, db, box, testutil.EngineOptions{})
	ex, err := eng.Request(ctx, models.SystemActor("test"), runner.RunRequest{BotID: bot.ID, Input: json.RawMessage(`{"n": 21}`)})
	require.NoError(t, err)
	done := waitExec(t, db, ex.ID, 30*time.Second, func(e *models.Execution) bool { return e.Final() })
	require.Equal(t, models.ExecSuccess, done.Status, "error: %v", done.Error)
	signer, err := models.ParseAuditSigningKey(private)
	require.NoError(t, err)
	_, created, err := models.CreateAuditCheckpoint(ctx, db.Bun, signer, models.SystemActor("test"))
	require.NoError(t, err)
	require.True(t, created)
	res, err := models.VerifyAndRecordAuditChain(ctx, db.Bun, models.SystemActor("test"), models.AuditVerifyOptions{Key: signer.Public()})
	require.NoError(t, err)
	require.GreaterOrEqual(t, res.Checkpoints, 2)
	stop()

	// What a thief with the application's credentials would try.
	for _, table := range []string{"audit_logs", "audit_checkpoints"} {
		for _, stmt := range []string{
			"ALTER TABLE %s DISABLE TRIGGER ALL", "ALTER TABLE %s DISABLE TRIGGER USER",
			"UPDATE %s SET hash = 'x'", "DELETE FROM %s", "TRUNCATE %s", "DROP TABLE %s",
		} {
			requireDenied(t, db, fmt.Sprintf(stmt, table))
		}
	}
	requireDenied(t, db, "ALTER TABLE bots DISABLE TRIGGER ALL")
	requireDenied(t, db, "TRUNCATE bots")
	requireDenied(t, db, "CREATE TABLE sneaky (id int)")
	requireDenied(t, db, "DELETE FROM codex32_schema_migrations")

	// Without DATABASE_MIGRATE_URL the runtime role's auto-migrate of a
	// current schema is a no-op, so serve starts with the default settings…
	out, stderr, code = codex32(t, map[string]string{"DATABASE_URL": runtimeURL}, "migrate", "up")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "schema is current")
	// …and a pending migration says who must run it.
	owner := testutil.OpenDB(t, testutil.DBSpec{Driver: "postgres", URL: ownerURL})
	om, err := migrations.New(owner, nil)
	require.NoError(t, err)
	_, err = om.Down(ctx, 1)
	require.NoError(t, err)
	_, stderr, code = codex32(t, map[string]string{"DATABASE_URL": runtimeURL}, "migrate", "up")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "migrations run as the schema owner: set DATABASE_MIGRATE_URL")
	_, stderr, code = codex32(t, env, "migrate", "up")
	require.Zero(t, code, stderr)
	// The re-created table (0010) was granted to the runtime role again, so:
	out, stderr, code = codex32(t, env, "audit", "verify")
	require.Zero(t, code, "the CLI verifies as the runtime role too: %s", stderr)
	require.Contains(t, out, "audit chain OK")
}

// startServe runs serve in this process until the returned stop is called.
func startServe(t *testing.T, cfg *config.Config, log *slog.Logger) (addr string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, log, ready) }()
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve exited: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("serve did not start")
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err, "graceful shutdown")
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not shut down")
		}
	}
	t.Cleanup(stop)
	return addr, stop
}

// serve signs a checkpoint at start and whenever the log has grown, every
// CODEX32_AUDIT_CHECKPOINT_INTERVAL, on either database.
func TestServeSignsAuditCheckpoints(t *testing.T) {
	t.Parallel()
	spec := testutil.NewDBSpec(t)
	private, _ := keygen(t)
	cfg, err := config.FromEnv(map[string]string{"DATABASE_URL": spec.URL, "CODEX32_ADDR": "127.0.0.1:0", "CODEX32_WORKERS": "0",
		"CODEX32_DATA_DIR": filepath.Join(t.TempDir(), "data"), "CODEX32_AUDIT_SIGNING_KEY": private, "CODEX32_AUDIT_CHECKPOINT_INTERVAL": "10s"})
	require.NoError(t, err)
	cfg.AuditCheckpointInterval = 200 * time.Millisecond // below the setting's floor, to keep the test short
	logs := &syncBuffer{}
	_, stop := startServe(t, cfg, slog.New(slog.NewTextHandler(logs, nil)))
	sdb := testutil.OpenDB(t, spec)
	ctx := context.Background()
	count := func() int {
		n, err := sdb.Bun.NewSelect().Model((*models.AuditCheckpoint)(nil)).Count(ctx)
		require.NoError(t, err)
		return int(n)
	}
	require.Zero(t, count(), "an empty log is not signed")
	testutil.CreateUser(t, sdb, models.RoleAdmin)
	require.Eventually(t, func() bool { return count() == 1 }, 10*time.Second, 50*time.Millisecond)
	time.Sleep(600 * time.Millisecond)
	require.Equal(t, 1, count(), "nothing new, nothing signed")
	testutil.CreateUser(t, sdb, models.RoleViewer)
	require.Eventually(t, func() bool { return count() == 2 }, 10*time.Second, 50*time.Millisecond)
	stop()
	require.Equal(t, 2, strings.Count(logs.String(), `msg="audit checkpoint"`), logs.String())
}

func TestDBGrantsCommand(t *testing.T) {
	t.Parallel()
	_, stderr, code := codex32(t, nil, "db", "grants")
	require.Equal(t, 2, code, "--role is required: %s", stderr)
	if testutil.Dialect() == models.SQLite {
		_, stderr, code = codex32(t, nil, "db", "grants", "--role", "app")
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "SQLite has none")
		return
	}
	env := dbEnv(t)
	_, stderr, code = codex32(t, env, "db", "grants", "--role", "app")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "not migrated")
	_, stderr, code = codex32(t, env, "migrate", "up")
	require.Zero(t, code, stderr)
	_, stderr, code = codex32(t, env, "db", "grants", "--role", "x; DROP TABLE bots")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "is not a role name")
}

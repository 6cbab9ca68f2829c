package migrations_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/migrations"
	"github.com/codex32/codex32/models"
)

var ctx = context.Background()

func tableCount(t *testing.T, db *models.DB) int {
	t.Helper()
	q := "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name <> 'sqlite_sequence'"
	if db.Dialect == models.Postgres {
		q = "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
	}
	var n int
	require.NoError(t, db.SQL.QueryRowContext(ctx, q).Scan(&n))
	return n
}

func TestUpDownUp(t *testing.T) {
	t.Parallel()
	db := testutil.OpenDB(t, testutil.NewDBSpec(t))
	m, err := migrations.New(db, nil)
	require.NoError(t, err)
	all, err := migrations.Load(db.Dialect)
	require.NoError(t, err)

	st, err := m.Status(ctx)
	require.NoError(t, err)
	require.Zero(t, st.Current)
	require.Len(t, st.Pending, len(all))
	require.Error(t, m.Check(ctx), "an empty database is not ready")

	applied, err := m.Up(ctx)
	require.NoError(t, err)
	require.Len(t, applied, len(all))
	require.NoError(t, m.Check(ctx))
	tablesAfterUp := tableCount(t, db)

	// A second up is a no-op.
	applied, err = m.Up(ctx)
	require.NoError(t, err)
	require.Empty(t, applied)
	require.Equal(t, tablesAfterUp, tableCount(t, db))

	// Put data in, so down has to cope with rows (and the immutable-row triggers).
	u := testutil.CreateUser(t, db, models.RoleAdmin)
	require.NotZero(t, u.ID)

	// Down to zero removes everything but the version table.
	rolled, err := m.Down(ctx, -1)
	require.NoError(t, err)
	require.Len(t, rolled, len(all))
	require.Equal(t, 1, tableCount(t, db), "only the version table is left")
	st, err = m.Status(ctx)
	require.NoError(t, err)
	require.Zero(t, st.Current)
	require.Zero(t, st.RiverCurrent)

	// And up again.
	applied, err = m.Up(ctx)
	require.NoError(t, err)
	require.Len(t, applied, len(all))
	require.Equal(t, tablesAfterUp, tableCount(t, db))
	require.NoError(t, m.Check(ctx))
	testutil.CreateUser(t, db, models.RoleAdmin)
}

func TestDownOneStep(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	m, err := migrations.New(db, nil)
	require.NoError(t, err)
	all, err := migrations.Load(db.Dialect)
	require.NoError(t, err)
	rolled, err := m.Down(ctx, 1)
	require.NoError(t, err)
	require.Len(t, rolled, 1)
	require.Equal(t, m.Latest(), rolled[0].Version)
	st, err := m.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, all[len(all)-2].Version, st.Current)
	require.ErrorContains(t, m.Check(ctx), "migrate up")
}

func TestNewerSchemaIsRefused(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	m, err := migrations.New(db, nil)
	require.NoError(t, err)
	// Pretend a newer codex32 applied version Latest+1.
	_, err = db.Bun.ExecContext(ctx, "INSERT INTO codex32_schema_migrations (version, name, applied_at) VALUES (?, 'from_the_future', '2030-01-01T00:00:00Z')", m.Latest()+1)
	require.NoError(t, err)

	err = m.Check(ctx)
	require.ErrorIs(t, err, migrations.ErrSchemaNewer)
	require.ErrorContains(t, err, "newer codex32")
	_, err = m.Up(ctx)
	require.ErrorIs(t, err, migrations.ErrSchemaNewer)
	_, err = m.Down(ctx, 1)
	require.ErrorIs(t, err, migrations.ErrSchemaNewer)
}

func TestBothDialectsHaveTheSameVersions(t *testing.T) {
	t.Parallel()
	pg, err := migrations.Load(models.Postgres)
	require.NoError(t, err)
	lite, err := migrations.Load(models.SQLite)
	require.NoError(t, err)
	require.Len(t, lite, len(pg))
	for i := range pg {
		require.Equal(t, pg[i].Version, lite[i].Version)
		require.Equal(t, pg[i].Name, lite[i].Name)
	}
}

// TestGINIndexesWriteThrough: on Postgres, the GIN indexes on hot tables keep no
// pending list (a list merge stalled whichever job write crossed its limit).
func TestGINIndexesWriteThrough(t *testing.T) {
	t.Parallel()
	if testutil.Dialect() != models.Postgres {
		t.Skip("GIN indexes are Postgres's; SQLite has none")
	}
	db := testutil.OpenDB(t, testutil.NewDBSpec(t))
	m, err := migrations.New(db, nil)
	require.NoError(t, err)
	fastupdate := func() map[string]string {
		rows, err := db.SQL.QueryContext(ctx, `SELECT c.relname, coalesce(array_to_string(c.reloptions, ','), '')
			FROM pg_class c JOIN pg_am a ON a.oid = c.relam
			WHERE a.amname = 'gin' AND c.relnamespace = current_schema()::regnamespace ORDER BY 1`)
		require.NoError(t, err)
		defer func() { _ = rows.Close() }()
		out := map[string]string{}
		for rows.Next() {
			var name, opts string
			require.NoError(t, rows.Scan(&name, &opts))
			out[name] = opts
		}
		require.NoError(t, rows.Err())
		return out
	}
	want := map[string]string{"bots_search_trgm_idx": "fastupdate=off", "river_job_args_index": "fastupdate=off", "river_job_metadata_index": "fastupdate=off"}
	_, err = m.Up(ctx)
	require.NoError(t, err)
	require.Equal(t, want, fastupdate())
	// Idempotent, and mended if someone turned it back on — but never by
	// waiting long behind job writers: a busy index is left for next time.
	_, err = db.SQL.ExecContext(ctx, "ALTER INDEX river_job_args_index SET (fastupdate = on)")
	require.NoError(t, err)
	reader, err := db.SQL.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = reader.ExecContext(ctx, "SELECT count(*) FROM river_job") // locks its indexes until the end
	require.NoError(t, err)
	start := time.Now()
	_, err = m.Up(ctx)
	require.NoError(t, err, "a busy index does not stop the start")
	require.Less(t, time.Since(start), 10*time.Second)
	require.Equal(t, "fastupdate=on", fastupdate()["river_job_args_index"])
	require.NoError(t, reader.Rollback())
	_, err = m.Up(ctx)
	require.NoError(t, err)
	require.Equal(t, want, fastupdate())
}

// TestLateMigrationIsApplied: versions are handed to parallel branches
// ahead of time, so a database can be at 0010 before 0009 exists; when it
// arrives it is pending (applied by version, not "everything above max").
func TestLateMigrationIsApplied(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	m, err := migrations.New(db, nil)
	require.NoError(t, err)
	all, err := migrations.Load(db.Dialect)
	require.NoError(t, err)
	late := all[6] // 0007_idempotency: a table nothing later depends on
	require.Equal(t, "idempotency", late.Name)
	// Make the database look as if it never had late: undo it by hand.
	_, err = db.SQL.ExecContext(ctx, late.Down)
	require.NoError(t, err)
	_, err = db.Bun.ExecContext(ctx, "DELETE FROM codex32_schema_migrations WHERE version = ?", late.Version)
	require.NoError(t, err)

	st, err := m.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, m.Latest(), st.Current)
	require.Equal(t, []migrations.Migration{late}, st.Pending)
	require.ErrorContains(t, m.Check(ctx), "1 older migrations are pending")

	applied, err := m.Up(ctx)
	require.NoError(t, err)
	require.Equal(t, []migrations.Migration{late}, applied)
	require.NoError(t, m.Check(ctx))
}

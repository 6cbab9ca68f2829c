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

// schemaShape lists the current schema's columns, indexes, triggers and
// constraints, one line each, in a stable order.
func schemaShape(t *testing.T, db *models.DB) []string {
	t.Helper()
	q := `
SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
  FROM information_schema.columns WHERE table_schema = current_schema()
UNION ALL
SELECT 'index ' || tablename || '.' || indexname FROM pg_indexes WHERE schemaname = current_schema()
UNION ALL
SELECT 'trigger ' || event_object_table || '.' || trigger_name || ' ' || event_manipulation
  FROM information_schema.triggers WHERE trigger_schema = current_schema()
UNION ALL
SELECT 'constraint ' || table_name || '.' || constraint_name || ' ' || constraint_type
  FROM information_schema.table_constraints WHERE constraint_schema = current_schema()
   AND constraint_name NOT LIKE '%\_not\_null' -- named after OIDs; is_nullable covers them
ORDER BY 1`
	rows, err := db.SQL.QueryContext(ctx, q)
	require.NoError(t, err)
	defer func() { _ = rows.Close() }()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

// Several replicas start at once on a fresh Postgres schema, each with its
// own connection pool, and all migrate: the advisory lock lets one apply
// each migration, the others find nothing to do, nobody fails, and the
// schema is exactly what one migrator alone makes.
func TestConcurrentMigratorsApplyEachMigrationOnce(t *testing.T) {
	t.Parallel()
	if testutil.Dialect() != models.Postgres {
		t.Skip("the advisory lock is Postgres's: set TEST_DATABASE_URL (make test runs the Postgres suite)")
	}
	all, err := migrations.Load(models.Postgres)
	require.NoError(t, err)

	spec := testutil.NewDBSpec(t)
	const n = 8
	dbs := make([]*models.DB, n)
	ms := make([]*migrations.Migrator, n)
	for i := range n {
		dbs[i] = testutil.OpenDB(t, spec)
		ms[i], err = migrations.New(dbs[i], nil)
		require.NoError(t, err)
		// Connect now, so the race is between migrations, not dials.
		require.NoError(t, dbs[i].SQL.PingContext(ctx))
	}

	type result struct {
		applied []migrations.Migration
		err     error
	}
	start := make(chan struct{})
	results := make(chan result, n)
	runCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for i := range n {
		go func() {
			<-start
			applied, err := ms[i].Up(runCtx)
			results <- result{applied, err}
		}()
	}
	close(start)
	times := map[int]int{}
	migrated := 0
	for range n {
		select {
		case r := <-results:
			require.NoError(t, r.err)
			if len(r.applied) > 0 {
				migrated++
			}
			for _, m := range r.applied {
				times[m.Version]++
			}
		case <-runCtx.Done():
			t.Fatal("the migrators did not all finish within 2 minutes")
		}
	}
	require.Len(t, times, len(all), "every migration applied")
	for v, c := range times {
		require.Equal(t, 1, c, "migration %d applied %d times", v, c)
	}
	require.Equal(t, 1, migrated, "the first to hold the lock applies them all; the others find the schema current")

	db := dbs[0]
	var rows, distinct int
	require.NoError(t, db.SQL.QueryRowContext(ctx, "SELECT count(*), count(DISTINCT version) FROM codex32_schema_migrations").Scan(&rows, &distinct))
	require.Equal(t, []int{len(all), len(all)}, []int{rows, distinct}, "one version row per migration")
	for _, m := range ms {
		require.NoError(t, m.Check(ctx))
		st, err := m.Status(ctx)
		require.NoError(t, err)
		require.Empty(t, st.Pending)
		require.Equal(t, all[len(all)-1].Version, st.Current)
		require.Equal(t, st.RiverLatest, st.RiverCurrent, "River's migrations too")
	}

	// The same schema as one migrator alone makes.
	ref := testutil.NewDB(t)
	require.Equal(t, schemaShape(t, ref), schemaShape(t, db))

	// And it works: a user (with its audit row) can be created.
	u := testutil.CreateUser(t, db, models.RoleAdmin)
	require.NotZero(t, u.ID)
}

package handlers_test

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

// A refused request changes nothing. The route × role matrices call
// guardCase around each request: a case that expects a refusal holds its
// app's database alone (the matrices run their cases in parallel on one
// app), so the row counts of every table and the audit chain's head taken
// just before the request must be those just after it, but for the one
// access.denied row a 403 writes by design.

// refusalAudit is the audit a refusal may write: a 403 records exactly one
// access.denied row, other refusals record nothing.
var refusalAudit = map[int][]string{http.StatusForbidden: {"access.denied"}}

// appLocks holds one lock per app: shared by the cases that may change the
// database, exclusive for the ones that must not.
var appLocks sync.Map // *testutil.App → *sync.RWMutex

// appTables caches the app's table names.
var appTables sync.Map // *testutil.App → []string

type caseGuard struct {
	t       *testing.T
	a       *testutil.App
	refused bool
	unlock  func()
	before  dbSnapshot
	taken   bool
}

// guardCase starts a matrix case; refused says whether it expects a
// refusal. Release it (defer g.release()) when the case ends.
func guardCase(t *testing.T, a *testutil.App, refused bool) *caseGuard {
	t.Helper()
	v, _ := appLocks.LoadOrStore(a, new(sync.RWMutex))
	mu := v.(*sync.RWMutex)
	g := &caseGuard{t: t, a: a, refused: refused}
	if refused {
		mu.Lock()
		g.unlock = mu.Unlock
	} else {
		mu.RLock()
		g.unlock = mu.RUnlock
	}
	return g
}

func (g *caseGuard) release() {
	if g.unlock != nil {
		g.unlock()
		g.unlock = nil
	}
}

// before snapshots the database once the case's fixtures exist, just
// before its request.
func (g *caseGuard) beforeRequest() {
	g.t.Helper()
	if g.refused {
		g.before = snapshotDB(g.t, g.a)
		g.taken = true
	}
}

// afterRequest checks that a refused request left the database as it was
// (who says what the request was, for the failure message).
func (g *caseGuard) afterRequest(status int, who string) {
	g.t.Helper()
	defer g.release()
	if !g.refused || !g.taken {
		return
	}
	after := snapshotDB(g.t, g.a)
	var newActions []string
	rows, err := g.a.DB.Bun.QueryContext(g.t.Context(), "SELECT action, prev_hash FROM audit_logs WHERE seq > ? ORDER BY seq", g.before.auditSeq)
	require.NoError(g.t, err)
	first := true
	for rows.Next() {
		var action, prev string
		require.NoError(g.t, rows.Scan(&action, &prev))
		if first {
			require.Equal(g.t, g.before.auditHash, prev, "%s: the audit chain goes on from the head it had", who)
			first = false
		}
		newActions = append(newActions, action)
	}
	require.NoError(g.t, rows.Err())
	require.NoError(g.t, rows.Close())
	want := refusalAudit[status]
	require.Equal(g.t, fmt.Sprint(want), fmt.Sprint(newActions), "%s (%d): the audit rows the refusal wrote", who, status)

	for _, table := range slices.Sorted(maps.Keys(g.before.counts)) {
		b, a := g.before.counts[table], after.counts[table]
		if table == "audit_logs" {
			b += int64(len(want))
		}
		require.Equal(g.t, b, a, "%s (%d): rows in %s before and after the refused request", who, status, table)
	}
}

type dbSnapshot struct {
	counts    map[string]int64
	auditSeq  int64
	auditHash string
}

func tablesOf(t *testing.T, a *testutil.App) []string {
	t.Helper()
	if v, ok := appTables.Load(a); ok {
		return v.([]string)
	}
	q := "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
	if a.DB.Dialect == models.Postgres {
		q = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
	}
	var names []string
	require.NoError(t, a.DB.Bun.NewRaw(q).Scan(t.Context(), &names))
	require.Contains(t, names, "bots")
	require.Contains(t, names, "audit_logs")
	sort.Strings(names)
	appTables.Store(a, names)
	return names
}

// snapshotDB counts the rows of every table (in one query) and reads the
// audit chain's head.
func snapshotDB(t *testing.T, a *testutil.App) dbSnapshot {
	t.Helper()
	tables := tablesOf(t, a)
	parts := make([]string, len(tables))
	for i, name := range tables {
		parts[i] = fmt.Sprintf("SELECT '%s' AS name, count(*) AS n FROM %s", name, name)
	}
	var got []struct {
		Name string `bun:"name"`
		N    int64  `bun:"n"`
	}
	require.NoError(t, a.DB.Bun.NewRaw(strings.Join(parts, " UNION ALL ")).Scan(t.Context(), &got))
	s := dbSnapshot{counts: map[string]int64{}}
	for _, r := range got {
		s.counts[r.Name] = r.N
	}
	require.Len(t, s.counts, len(tables))
	err := a.DB.Bun.NewRaw("SELECT seq, hash FROM audit_logs ORDER BY seq DESC LIMIT 1").Scan(t.Context(), &s.auditSeq, &s.auditHash)
	require.NoError(t, err)
	return s
}

// pageRefused says whether a page matrix case expects a refusal: an error
// status, or a protected route sending a visitor who is not signed in to
// the sign-in page.
func pageRefused(rc routeCase, role string) bool {
	want := rc.want[role]
	signedIn := role != asAnonymous && role != asAPIUser
	return want >= 400 || (want == http.StatusSeeOther && !rc.public && !signedIn)
}

package handlers_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

// TestPagePerformance measures full-page server time (routing, session,
// queries, templ rendering — no network) on a large seeded database and
// prints p50/p95 for each page. It is a measurement, not a pass/fail timing
// assertion, and runs only when asked, because seeding takes a minute:
//
//	CODEX32_PERF_BOTS=100000 CODEX32_PERF_EXECUTIONS=1000000 CODEX32_PERF_AUDIT=1000000 make perf-pages
func TestPagePerformance(t *testing.T) {
	bots := envInt("CODEX32_PERF_BOTS")
	if bots == 0 {
		t.Skip("set CODEX32_PERF_BOTS (and CODEX32_PERF_EXECUTIONS, CODEX32_PERF_AUDIT) to measure page times: make perf-pages")
	}
	a := testutil.NewApp(t)
	start := time.Now()
	stats, err := models.Seed(bg, a.DB, models.SeedOptions{Users: 50, Bots: bots, VersionsPerBot: 3,
		Executions: envInt("CODEX32_PERF_EXECUTIONS"), Audit: envInt("CODEX32_PERF_AUDIT"), Rand: rand.New(rand.NewPCG(1, 2))})
	require.NoError(t, err)
	t.Logf("seeded %+v in %s on %s", stats, time.Since(start).Round(time.Second), a.DB.Dialect)
	if a.DB.Dialect == models.Postgres {
		_, err := a.DB.Bun.ExecContext(bg, "ANALYZE")
		require.NoError(t, err)
	}
	admin := testutil.CreateUserWithPassword(t, a.DB, models.RoleAdmin)
	c := a.Client(t)
	c.Login(admin.Email, testutil.TestPassword)

	// A search word taken from a real bot name, and a cursor 200 pages in.
	var name string
	require.NoError(t, a.DB.Bun.NewSelect().Table("bots").Column("name").Limit(1).Scan(bg, &name))
	word := strings.ToLower(strings.Fields(name)[0])
	deep := "/bots"
	depth := min(200, bots/25-1)
	for range depth {
		next := c.Get(deep).Doc(t).Find(`[data-testid="next-page"]`).AttrOr("href", "")
		require.NotEmpty(t, next)
		deep = next
	}
	auditDeep := "/audit"
	for range min(200, (stats.Audit+stats.Bots)/50-1) {
		next := c.Get(auditDeep).Doc(t).Find(`[data-testid="next-page"]`).AttrOr("href", "")
		require.NotEmpty(t, next)
		auditDeep = next
	}
	// Executions: a bot that has some, a cursor 200 pages in, and a poll of
	// a full page of rows (what the live updates ask for).
	var execBot string
	execDeep := "/executions"
	var pollIDs []string
	if stats.Executions > 0 {
		require.NoError(t, a.DB.Bun.NewSelect().Table("bot_executions").Column("bot_id").OrderExpr("queued_at DESC").Limit(1).Scan(bg, &execBot))
		for range min(200, stats.Executions/25-1) {
			next := c.Get(execDeep).Doc(t).Find(`[data-testid="next-page"]`).AttrOr("href", "")
			require.NotEmpty(t, next)
			execDeep = next
		}
		require.NoError(t, a.DB.Bun.NewSelect().Table("bot_executions").Column("id").OrderExpr("queued_at DESC").Limit(25).Scan(bg, &pollIDs))
	}
	pages := []struct{ name, path string }{
		{"bots: first page", "/bots"},
		{"bots: search " + word, "/bots?q=" + word},
		{"bots: filtered (status+kind), sorted by name", "/bots?status=active&kind=http&sort=name"},
		{fmt.Sprintf("bots: page %d (%d rows in)", depth+1, depth*25), deep},
		{"audit: first page", "/audit"},
		{"audit: filtered (action bot.update)", "/audit?action=bot.update"},
		{"audit: a page deep in the log", auditDeep},
	}
	if stats.Executions > 0 {
		pages = append(pages, []struct{ name, path string }{
			{"executions: first page", "/executions"},
			{"executions: filtered (status failed)", "/executions?status=failed"},
			{"executions: filtered (trigger api, a month)", "/executions?trigger=api&from=" + time.Now().AddDate(0, -1, 0).UTC().Format("2006-01-02")},
			{"executions: filtered (status+trigger+bot)", "/executions?status=success&trigger=schedule&bot=" + execBot},
			{"executions: one bot's tab", "/bots/" + execBot + "?tab=executions"},
			{"executions: a page deep in the history", execDeep},
			{"executions: live poll of 25 rows", "/executions/rows?ids=" + strings.Join(pollIDs, ",")},
		}...)
	}
	var report strings.Builder
	fmt.Fprintf(&report, "\n%-48s %9s %9s %9s\n", "page ("+string(a.DB.Dialect)+")", "p50", "p95", "max")
	for _, p := range pages {
		var ds []time.Duration
		for i := range 60 {
			t0 := time.Now()
			r := c.Get(p.path)
			d := time.Since(t0)
			require.Equal(t, http.StatusOK, r.StatusCode, p.path)
			if i >= 10 { // warm-up
				ds = append(ds, d)
			}
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		fmt.Fprintf(&report, "%-48s %9s %9s %9s\n", p.name, ms(ds[len(ds)/2]), ms(ds[len(ds)*95/100]), ms(ds[len(ds)-1]))
	}
	t0 := time.Now()
	n, err := models.VerifyAuditChain(bg, a.DB.Bun)
	require.NoError(t, err)
	fmt.Fprintf(&report, "%-48s %s for %d rows\n", "audit verify (whole chain)", time.Since(t0).Round(time.Millisecond), n)
	t.Log(report.String())
	fmt.Println(report.String())
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

func envInt(name string) int {
	n, _ := strconv.Atoi(os.Getenv(name))
	return n
}

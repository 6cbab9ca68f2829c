package runner_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun/driver/sqliteshim"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/migrations"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
)

// TestEnginePerformance measures end-to-end throughput (requested →
// recorded as success, audit on) of a trivial script bot, the database's
// own single-row INSERT rate on the same machine for comparison, and queue
// latency at 100 executions/s offered. It is a measurement, run on demand:
//
//	make perf-engine
func TestEnginePerformance(t *testing.T) {
	if os.Getenv("CODEX32_PERF_ENGINE") == "" {
		t.Skip("set CODEX32_PERF_ENGINE=1 to measure the engine: make perf-engine")
	}
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("CODEX32_PERF_ENGINE_N")); err == nil && v > 0 {
		n = v
	}
	spec := testutil.NewDBSpec(t)
	if spec.Driver == "postgres" {
		u, _ := url.Parse(spec.URL)
		q := u.Query()
		q.Set("pool_max_conns", "32")
		u.RawQuery = q.Encode()
		spec.URL = u.String()
	}
	db := testutil.OpenDB(t, spec)
	migrate(t, db)
	ctx := context.Background()
	eng := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{Workers: 200, ScriptProcesses: runtime.NumCPU()})
	b := newBot(t, db, models.KindScript, scriptConfig(`function main(input) { return {n: input.n}; }`, ""))

	// Warm up (sandbox processes, caches, connections).
	runBatch(t, db, eng, b.ID, 200, 8)

	start := time.Now()
	runBatch(t, db, eng, b.ID, n, 32)
	el := time.Since(start)
	rate := float64(n) / el.Seconds()
	insert := insertRate(t, db, spec)
	t.Logf("RESULT %s throughput: %d executions in %s = %.0f executions/s; single-row INSERT rate %.0f/s; ratio %.2f",
		db.Dialect, n, el.Round(time.Millisecond), rate, insert, rate/insert)
	checkStats(t, db, b.ID)

	// Queue latency at 100 executions/s offered, for 10 s.
	var ids []uuid.UUID
	tick := time.NewTicker(10 * time.Millisecond)
	for i := 0; i < 1000; i++ {
		<-tick.C
		ex, err := eng.Request(ctx, models.SystemActor("perf"), runner.RunRequest{BotID: b.ID, Input: json.RawMessage(`{"n": 1}`)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ex.ID)
	}
	tick.Stop()
	var lat []time.Duration
	for _, id := range ids {
		e := waitFinal(t, db, id, 30*time.Second)
		if e.Status != models.ExecSuccess {
			t.Fatalf("%s: %s", id, e.Status)
		}
		lat = append(lat, e.Attempts[0].StartedAt.Sub(e.QueuedAt))
	}
	slices.Sort(lat)
	t.Logf("RESULT %s queue latency (requested → running) at 100/s offered: p50 %s, p99 %s, max %s",
		db.Dialect, lat[len(lat)/2].Round(100*time.Microsecond), lat[len(lat)*99/100].Round(100*time.Microsecond), lat[len(lat)-1].Round(100*time.Microsecond))
}

func migrate(t *testing.T, db *models.DB) {
	t.Helper()
	m, err := migrations.New(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// runBatch requests n executions from c goroutines and waits until all
// are recorded as success.
func runBatch(t *testing.T, db *models.DB, eng *runner.Engine, botID uuid.UUID, n, c int) {
	t.Helper()
	ctx := context.Background()
	before := countRows(t, db, "SELECT count(*) FROM bot_executions WHERE status = 'success'")
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, c)
	for g := 0; g < c; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < n; i += c {
				if _, err := eng.Request(ctx, models.SystemActor("perf"), runner.RunRequest{BotID: botID, Input: json.RawMessage(fmt.Sprintf(`{"n": %d}`, i))}); err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("requests issued in %s", time.Since(start).Round(time.Millisecond))
	deadline := time.Now().Add(5 * time.Minute)
	for countRows(t, db, "SELECT count(*) FROM bot_executions WHERE status = 'success'")-before < n {
		if time.Now().After(deadline) {
			t.Fatal("executions did not finish within 5 minutes")
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// insertRate is the database's own single-row INSERT rate here: pgbench
// with a 1 KB JSONB insert script on Postgres, a Go loop of one-row
// transactions in WAL mode on SQLite.
func insertRate(t *testing.T, db *models.DB, spec testutil.DBSpec) float64 {
	t.Helper()
	if db.Dialect == models.SQLite {
		path := filepath.Join(t.TempDir(), "insert.db")
		sdb, err := sql.Open(sqliteshim.ShimName, "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = sdb.Close() }()
		sdb.SetMaxOpenConns(1)
		if _, err := sdb.ExecContext(t.Context(), `CREATE TABLE t (id INTEGER PRIMARY KEY, doc TEXT)`); err != nil {
			t.Fatal(err)
		}
		doc := `{"pad": "` + fmt.Sprintf("%01000d", 0) + `"}`
		start, n := time.Now(), 0
		for time.Since(start) < 3*time.Second {
			tx, err := sdb.BeginTx(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(t.Context(), `INSERT INTO t (doc) VALUES (?)`, doc); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			n++
		}
		return float64(n) / time.Since(start).Seconds()
	}
	if _, err := exec.LookPath("pgbench"); err != nil {
		t.Logf("pgbench not found; no INSERT baseline")
		return 1
	}
	if _, err := db.Bun.ExecContext(context.Background(), `CREATE TABLE IF NOT EXISTS perf_insert (id bigserial PRIMARY KEY, doc jsonb)`); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "insert.sql")
	if err := os.WriteFile(script, []byte(`INSERT INTO perf_insert (doc) VALUES (('{"pad": "' || repeat('x', 1000) || '"}')::jsonb);`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(spec.URL)
	q := u.Query()
	schema := q.Get("search_path")
	q.Del("search_path")
	q.Del("pool_max_conns")
	q.Set("options", "-csearch_path="+schema)
	u.RawQuery = q.Encode()
	out, err := exec.CommandContext(t.Context(), "pgbench", "-n", "-c", "8", "-j", "2", "-T", "5", "-f", script, u.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("pgbench: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`tps = ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("pgbench output: %s", out)
	}
	tps, _ := strconv.ParseFloat(string(m[1]), 64)
	return tps
}

package runner_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
)

// With more workers than sandbox processes, a script attempt becomes
// running only once it holds a sandbox process: the others stay queued
// meanwhile (so a worker dying then has spent none of their attempts). It
// used to claim them all at once, running while they waited. (One that
// just ended gives its process back a moment before its result is
// recorded, so a process may account for more than one running at once.)
func TestScriptAttemptsStayQueuedUntilTheyHoldASandbox(t *testing.T) {
	db := testutil.NewDB(t)
	eng := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{Workers: 9, ScriptProcesses: 2})
	b := newBot(t, db, models.KindScript, scriptConfig(`function main() { const end = Date.now() + 300; while (Date.now() < end) {} return "done"; }`, ""))
	ids := make([]uuid.UUID, 8)
	for i := range ids {
		ex, err := eng.Request(context.Background(), models.SystemActor("test"), runner.RunRequest{BotID: b.ID})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = ex.ID
	}
	deadline := time.Now().Add(30 * time.Second)
	sawRunning := false // and the others queued meanwhile
	for {
		var rows []models.Execution
		if err := db.Bun.NewSelect().Model(&rows).Column("id", "status", "started_at", "worker_id").Where("e.bot_id = ?", b.ID).Scan(context.Background()); err != nil {
			t.Fatal(err)
		}
		running, final := 0, 0
		for _, e := range rows {
			switch {
			case e.Status == models.ExecRunning:
				running++
			case e.Final():
				final++
			}
		}
		// Two hold a sandbox process; a run that just ended has given its
		// process back before its result is written, and under load (the
		// race detector, a busy database) a result can lag a second run,
		// so a few more may show as running. All eight at once is the old
		// behaviour: claiming every attempt before it has a process.
		if running > 6 {
			for _, e := range rows {
				t.Logf("%s %s started %v (now %v)", e.ID, e.Status, e.StartedAt, time.Now().UTC())
			}
			t.Fatalf("%d executions running with two sandbox processes", running)
		}
		sawRunning = sawRunning || (running > 0 && len(rows)-running-final > 0)
		if final == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d final within 30 s", final, len(ids))
		}
		time.Sleep(5 * time.Millisecond)
	}
	// How they ended first: a run that failed at once would also explain
	// never seeing one running.
	for _, id := range ids {
		got := waitFinal(t, db, id, time.Second)
		if got.Status != models.ExecSuccess || len(got.Attempts) != 1 {
			t.Fatalf("execution: %s %q attempts %+v", got.Status, got.Error, got.Attempts)
		}
	}
	if !sawRunning {
		t.Fatal("never saw an execution running while others waited")
	}
	checkStats(t, db, b.ID)
}

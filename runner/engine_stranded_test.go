package runner_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
)

// strandJob makes an execution's job look fetched (River's "running") by
// the River client workerID at fetched, as a process that died before
// the attempt began leaves it.
func strandJob(t *testing.T, db *models.DB, ex *models.Execution, workerID string, fetched time.Time) {
	t.Helper()
	by, _ := json.Marshal([]string{workerID})
	q := `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = ?, attempted_by = ARRAY[?]::text[] WHERE id = ?`
	args := []any{fetched.UTC(), workerID, *ex.JobID}
	if db.Dialect == models.SQLite {
		q = `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = strftime('%Y-%m-%d %H:%M:%f', ?), attempted_by = jsonb(?) WHERE id = ?`
		args = []any{fetched.UTC().Format("2006-01-02 15:04:05.000"), string(by), *ex.JobID}
	}
	if _, err := db.Bun.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("strand job: %v", err)
	}
}

// An execution whose job a now-dead worker fetched but never began is
// queued again and run by a live worker within LostAfter plus a heartbeat
// interval, without spending its attempt: River would have left it queued
// until its stuck-job rescue (over ten minutes).
func TestEngineRunsAttemptsADeadWorkerFetchedButNeverBegan(t *testing.T) {
	db := testutil.NewDB(t)
	ctx := context.Background()
	box := testBox(t)
	queuer := testutil.NewEngine(t, db, box, testutil.EngineOptions{})
	b := newBot(t, db, models.KindScript, scriptConfig(`function main() {}`, ""))
	request := func() *models.Execution {
		t.Helper()
		ex, err := queuer.Request(ctx, models.SystemActor("test"), runner.RunRequest{BotID: b.ID})
		if err != nil {
			t.Fatal(err)
		}
		return ex
	}
	// One fetched by a worker that stopped beating, one by a worker whose
	// row is gone.
	silent, gone := request(), request()
	dead := &models.Worker{ID: "dead-worker-1", Hostname: "h", PID: 1}
	if err := models.Heartbeat(ctx, db.Bun, dead); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Bun.NewUpdate().Model((*models.Worker)(nil)).Set("heartbeat_at = ?", time.Now().Add(-time.Hour).UTC()).
		Where("id = ?", dead.ID).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	strandJob(t, db, silent, dead.ID, time.Now().Add(-time.Minute))
	strandJob(t, db, gone, "gone-worker-2", time.Now().Add(-time.Minute))

	const lostAfter = time.Second
	run := func(context.Context, runner.Config, json.RawMessage, map[string]string, runner.RunMeta) (*runner.Result, error) {
		return &runner.Result{Output: json.RawMessage(`"ran"`)}, nil
	}
	started := time.Now()
	testutil.NewEngine(t, db, box, testutil.EngineOptions{Workers: 2, LostAfter: lostAfter, Run: run})
	// Recovery runs every LostAfter/3 (±10 %); the margin covers a busy
	// test machine.
	for _, ex := range []*models.Execution{silent, gone} {
		got := waitFinal(t, db, ex.ID, lostAfter+10*time.Second)
		if got.Status != models.ExecSuccess || got.Attempt != 1 || len(got.Attempts) != 1 {
			t.Fatalf("stranded execution: %s attempt %d, attempts %+v, error %q", got.Status, got.Attempt, got.Attempts, got.Error)
		}
	}
	t.Logf("both ran %s after a live worker started", time.Since(started).Round(time.Millisecond))
	checkStats(t, db, b.ID)
}

// Only lost workers' jobs are stranded: a live worker's job that is still
// waiting for a slot is its own, and the asking worker never counts itself.
func TestStrandedExecutionsAreOnlyLostWorkers(t *testing.T) {
	db := testutil.NewDB(t)
	ctx := context.Background()
	queuer := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{})
	b := newBot(t, db, models.KindScript, scriptConfig(`function main() {}`, ""))
	request := func() *models.Execution {
		t.Helper()
		ex, err := queuer.Request(ctx, models.SystemActor("test"), runner.RunRequest{BotID: b.ID})
		if err != nil {
			t.Fatal(err)
		}
		return ex
	}
	beat := func(id string, at time.Time) {
		t.Helper()
		if err := models.Heartbeat(ctx, db.Bun, &models.Worker{ID: id}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Bun.NewUpdate().Model((*models.Worker)(nil)).Set("heartbeat_at = ?", at.UTC()).Where("id = ?", id).Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	beat("alive", now)
	beat("dead", now.Add(-time.Hour))
	beat("me", now.Add(-time.Hour))
	alive, dead, self, goneOld, goneNew, cancelled := request(), request(), request(), request(), request(), request()
	strandJob(t, db, alive, "alive", now.Add(-time.Minute))
	strandJob(t, db, dead, "dead", now.Add(-time.Minute))
	strandJob(t, db, self, "me", now.Add(-time.Minute))
	strandJob(t, db, goneOld, "gone", now.Add(-time.Minute))
	strandJob(t, db, goneNew, "gone", now) // fetched after the cutoff: not yet
	strandJob(t, db, cancelled, "dead", now.Add(-time.Minute))
	if _, err := models.RequestCancel(ctx, db.Bun, models.SystemActor("test"), cancelled.ID); err != nil {
		t.Fatal(err)
	}

	ss, err := models.StrandedExecutions(ctx, db.Bun, "me", now.Add(-30*time.Second), 100)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range ss {
		got[s.ID.String()] = s.Worker
		if s.Attempt != 0 || s.JobID == 0 {
			t.Fatalf("stranded %+v", s)
		}
	}
	want := map[string]string{dead.ID.String(): "dead", goneOld.ID.String(): "gone"}
	if len(got) != len(want) || got[dead.ID.String()] != "dead" || got[goneOld.ID.String()] != "gone" {
		t.Fatalf("stranded %v, want %v", got, want)
	}

	// Requeued once each: a second pass finds their job changed.
	next := int64(1 << 40)
	enqueue := func(context.Context, bun.Tx, uuid.UUID, int, time.Time) (int64, error) { next++; return next, nil }
	for pass, want := range []int{2, 0} {
		n, err := models.RequeueStranded(ctx, db.Bun, ss, enqueue)
		if err != nil || n != want {
			t.Fatalf("requeue pass %d: %d, %v; want %d", pass, n, err, want)
		}
	}
	ex, err := models.ExecutionByID(ctx, db.Bun, dead.ID)
	if err != nil || ex.Status != models.ExecQueued || ex.JobID == nil || *ex.JobID <= 1<<40 {
		t.Fatalf("requeued execution: %+v, %v", ex, err)
	}
}

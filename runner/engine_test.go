package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/google/uuid"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
)

func TestEngineRunsScriptAndKeepsStatistics(t *testing.T) {
	db := testutil.NewDB(t)
	eng := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{Workers: 4})
	b := newBot(t, db, models.KindScript, scriptConfig(`function main(input, ctx) { console.log("adding"); return {sum: input.a + input.b, attempt: ctx.attempt}; }`, ""))
	u := testutil.CreateUser(t, db, models.RoleUser)

	ex, err := eng.Request(context.Background(), actor(u), runner.RunRequest{BotID: b.ID, Input: json.RawMessage(`{"a": 1, "b": 2}`)})
	if err != nil {
		t.Fatal(err)
	}
	if ex.Status != models.ExecQueued || ex.VersionID == nil || *ex.VersionID != *b.ActiveVersionID || ex.Trigger != models.TriggerManual {
		t.Fatalf("requested execution: %+v", ex)
	}
	got := waitFinal(t, db, ex.ID, 20*time.Second)
	if got.Status != models.ExecSuccess {
		t.Fatalf("status %s, error %q", got.Status, got.Error)
	}
	var out struct{ Sum, Attempt int }
	if err := json.Unmarshal(got.Output, &out); err != nil || out.Sum != 3 || out.Attempt != 1 {
		t.Fatalf("output %s (%v)", got.Output, err)
	}
	if !strings.Contains(got.Logs, "adding") {
		t.Fatalf("logs %q", got.Logs)
	}
	if got.RequestedBy == nil || *got.RequestedBy != u.ID || len(got.Attempts) != 1 || got.Attempts[0].Status != "success" {
		t.Fatalf("requester/attempts: %+v", got)
	}
	if n := countRows(t, db, "SELECT count(*) FROM audit_logs WHERE action = 'bot.execute' AND resource_id = ?", ex.ID.String()); n != 1 {
		t.Fatalf("%d bot.execute audit rows, want 1", n)
	}
	bot := checkStats(t, db, b.ID)
	if bot.TotalExecutions != 1 || bot.SuccessfulExecutions != 1 {
		t.Fatalf("stats %+v", bot)
	}
}

func TestEngineRefusesBotsThatMayNotRun(t *testing.T) {
	db := testutil.NewDB(t)
	eng := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		prep func(*models.Bot)
		want string
	}{
		{"inactive", func(b *models.Bot) { setStatus(t, db, b, models.BotInactive) }, "inactive"},
		{"maintenance", func(b *models.Bot) { setStatus(t, db, b, models.BotMaintenance) }, "maintenance"},
		{"archived", func(b *models.Bot) {
			if _, err := models.SetBotArchived(ctx, db.Bun, models.SystemActor("test"), b.ID, true); err != nil {
				t.Fatal(err)
			}
		}, "archived"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBot(t, db, models.KindScript, scriptConfig(`function main() { return 1 }`, ""))
			tc.prep(b)
			_, err := eng.Request(ctx, models.SystemActor("test"), runner.RunRequest{BotID: b.ID})
			var se *models.StateError
			if !errors.As(err, &se) || !strings.Contains(se.Message, tc.want) {
				t.Fatalf("err = %v, want a StateError mentioning %q", err, tc.want)
			}
			if n := countRows(t, db, "SELECT count(*) FROM bot_executions WHERE bot_id = ?", b.ID); n != 0 {
				t.Fatalf("%d executions created", n)
			}
		})
	}
	b := newBot(t, db, models.KindScript, scriptConfig(`function main() { return 1 }`, ""))
	if _, err := eng.Request(ctx, models.SystemActor("test"), runner.RunRequest{BotID: b.ID, Input: json.RawMessage(`{"a":`)}); err == nil {
		t.Fatal("invalid JSON input accepted")
	}
}

func setStatus(t *testing.T, db *models.DB, b *models.Bot, s models.BotStatus) {
	t.Helper()
	if _, err := models.UpdateBot(context.Background(), db.Bun, models.SystemActor("test"), b.ID,
		models.BotPatch{Name: b.Name, Description: b.Description, Tags: b.Tags, Status: s}); err != nil {
		t.Fatal(err)
	}
}

func TestEngineRequestRollsBackTogether(t *testing.T) {
	db := testutil.NewDB(t)
	eng := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{})
	b := newBot(t, db, models.KindScript, scriptConfig(`function main() { return 1 }`, ""))
	jobsBefore := countRows(t, db, "SELECT count(*) FROM river_job")
	auditBefore := countRows(t, db, "SELECT count(*) FROM audit_logs")
	boom := errors.New("boom")
	err := db.Bun.RunInTx(context.Background(), nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := eng.RequestTx(ctx, tx, models.SystemActor("test"), runner.RunRequest{BotID: b.ID}); err != nil {
			return err
		}
		if n := countRowsTx(t, tx, "SELECT count(*) FROM river_job"); n != jobsBefore+1 {
			t.Errorf("inside the transaction: %d jobs, want %d", n, jobsBefore+1)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if n := countRows(t, db, "SELECT count(*) FROM bot_executions"); n != 0 {
		t.Fatalf("%d executions after rollback", n)
	}
	if n := countRows(t, db, "SELECT count(*) FROM river_job"); n != jobsBefore {
		t.Fatalf("%d jobs after rollback, want %d", n, jobsBefore)
	}
	if n := countRows(t, db, "SELECT count(*) FROM audit_logs"); n != auditBefore {
		t.Fatalf("%d audit rows after rollback, want %d", n, auditBefore)
	}
}

func countRowsTx(t *testing.T, tx bun.Tx, q string) int {
	t.Helper()
	var n int
	if err := tx.NewRaw(q).Scan(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEngineCancelQueued(t *testing.T) {
	db := testutil.NewDB(t)
	eng := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{}) // no workers: stays queued
	b := newBot(t, db, models.KindScript, scriptConfig(`function main() { return 1 }`, ""))
	u := testutil.CreateUser(t, db, models.RoleUser)
	ctx := context.Background()
	ex, err := eng.Request(ctx, actor(u), runner.RunRequest{BotID: b.ID})
	if err != nil {
		t.Fatal(err)
	}
	got, err := eng.Cancel(ctx, actor(u), ex.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != models.ExecCancelled || !strings.Contains(got.Error, u.Email) {
		t.Fatalf("after cancel: %s %q", got.Status, got.Error)
	}
	if _, err := eng.Cancel(ctx, actor(u), ex.ID); err == nil {
		t.Fatal("cancelling a finished execution succeeded")
	}
	if n := countRows(t, db, "SELECT count(*) FROM audit_logs WHERE action = 'execution.cancel' AND resource_id = ?", ex.ID.String()); n != 1 {
		t.Fatalf("%d execution.cancel audit rows", n)
	}
	bot := checkStats(t, db, b.ID)
	if bot.TotalExecutions != 1 || bot.FailedExecutions != 0 {
		t.Fatalf("stats %+v", bot)
	}
	// A worker started now finds nothing to run: it takes the cancelled
	// execution's job off the queue without running it, and runs a later
	// request. Waiting for both (not for time to pass) catches a late run.
	ran := make(chan uuid.UUID, 8)
	testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{Workers: 2, Run: func(_ context.Context, _ runner.Config, _ json.RawMessage, _ map[string]string, m runner.RunMeta) (*runner.Result, error) {
		ran <- m.ExecutionID
		return &runner.Result{Output: json.RawMessage(`1`)}, nil
	}})
	later, err := eng.Request(ctx, actor(u), runner.RunRequest{BotID: b.ID})
	if err != nil {
		t.Fatal(err)
	}
	waitFinal(t, db, later.ID, 30*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for countRows(t, db, "SELECT count(*) FROM river_job WHERE id = ? AND state IN ('completed', 'cancelled', 'discarded')", *ex.JobID) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the cancelled execution's job was never taken off the queue")
		}
		time.Sleep(10 * time.Millisecond) // polling a condition
	}
	for {
		select {
		case id := <-ran:
			if id != later.ID {
				t.Fatalf("execution %s ran; only %s should have (the other was cancelled)", id, later.ID)
			}
			continue
		default:
		}
		break
	}
}

func TestEngineCancelRunningScript(t *testing.T) {
	db := testutil.NewDB(t)
	type liveLine struct {
		meta runner.RunMeta
		line string
	}
	printed := make(chan liveLine, 8)
	eng := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{Workers: 2, LiveLog: func(meta runner.RunMeta, line string) {
		select {
		case printed <- liveLine{meta, line}:
		default:
		}
	}})
	b := newBot(t, db, models.KindScript, scriptConfig(`function main() { console.log("working on it"); for (;;) {} }`, `"timeout_seconds": 60`))
	ctx := context.Background()
	ex, err := eng.Request(ctx, models.SystemActor("test"), runner.RunRequest{BotID: b.ID})
	if err != nil {
		t.Fatal(err)
	}
	select { // in its loop, past the log line
	case got := <-printed:
		if got.line != "working on it" || got.meta.ExecutionID != ex.ID || got.meta.BotID != b.ID {
			t.Fatalf("live line %+v, want execution %s of bot %s", got, ex.ID, b.ID)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the script never printed its line")
	}
	start := time.Now()
	if _, err := eng.Cancel(ctx, models.SystemActor("test"), ex.ID); err != nil {
		t.Fatal(err)
	}
	got := waitFinal(t, db, ex.ID, 5*time.Second)
	if got.Status != models.ExecCancelled {
		t.Fatalf("status %s (%q)", got.Status, got.Error)
	}
	if !strings.Contains(got.Logs, "working on it") {
		t.Fatalf("the logs printed before the cancel were lost: %q", got.Logs)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("cancel took %s", d)
	}
	checkStats(t, db, b.ID)
	// The sandbox lives on.
	ok := newBot(t, db, models.KindScript, scriptConfig(`function main() { return "fine" }`, ""))
	ex2, err := eng.Request(ctx, models.SystemActor("test"), runner.RunRequest{BotID: ok.ID})
	if err != nil {
		t.Fatal(err)
	}
	if got := waitFinal(t, db, ex2.ID, 20*time.Second); got.Status != models.ExecSuccess {
		t.Fatalf("after a cancel: %s %q", got.Status, got.Error)
	}
}

func TestEngineCancelRunningElsewhere(t *testing.T) {
	// The cancel comes through another engine (a web process without
	// workers): the worker notices through the database.
	db := testutil.NewDB(t)
	started := make(chan struct{}, 1)
	testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{Workers: 2, Run: func(ctx context.Context, _ runner.Config, _ json.RawMessage, _ map[string]string, _ runner.RunMeta) (*runner.Result, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}})
	web := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{})
	b := newBot(t, db, models.KindScript, scriptConfig(`function main() { return 1 }`, ""))
	ctx := context.Background()
	ex, err := web.Request(ctx, models.SystemActor("test"), runner.RunRequest{BotID: b.ID})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("never started")
	}
	waitFor(t, db, ex.ID, 5*time.Second, "running", func(e *models.Execution) bool { return e.Status == models.ExecRunning })
	if _, err := web.Cancel(ctx, models.SystemActor("test"), ex.ID); err != nil {
		t.Fatal(err)
	}
	if got := waitFinal(t, db, ex.ID, 5*time.Second); got.Status != models.ExecCancelled {
		t.Fatalf("status %s", got.Status)
	}
	checkStats(t, db, b.ID)
}

func TestEngineScriptTimeout(t *testing.T) {
	db := testutil.NewDB(t)
	eng := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{Workers: 2})
	b := newBot(t, db, models.KindScript, scriptConfig(`function main() { for (;;) {} }`, `"timeout_seconds": 1`))
	ex, err := eng.Request(context.Background(), models.SystemActor("test"), runner.RunRequest{BotID: b.ID})
	if err != nil {
		t.Fatal(err)
	}
	got := waitFinal(t, db, ex.ID, 20*time.Second)
	if got.Status != models.ExecTimedOut || !strings.Contains(got.Error, "timed out") {
		t.Fatalf("status %s, error %q", got.Status, got.Error)
	}
	if bot := checkStats(t, db, b.ID); bot.FailedExecutions != 1 {
		t.Fatalf("stats %+v", bot)
	}
}

func TestEngineRetriesWithBackoff(t *testing.T) {
	var calls atomic.Int32
	var mu sync.Mutex
	var times []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		if calls.Add(1) < 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok": true}`))
	}))
	defer srv.Close()
	db := testutil.NewDB(t)
	eng := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{Workers: 2,
		Outbound: runner.OutboundPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}})
	b := newBot(t, db, models.KindHTTP, fmt.Sprintf(`{"method": "GET", "url": %q, "max_attempts": 3, "retry_backoff_seconds": 0.2}`, srv.URL))
	ex, err := eng.Request(context.Background(), models.SystemActor("test"), runner.RunRequest{BotID: b.ID})
	if err != nil {
		t.Fatal(err)
	}
	if ex.MaxAttempts != 3 {
		t.Fatalf("max attempts %d", ex.MaxAttempts)
	}
	got := waitFinal(t, db, ex.ID, 30*time.Second)
	if got.Status != models.ExecSuccess || got.Attempt != 3 || len(got.Attempts) != 3 {
		t.Fatalf("status %s attempt %d attempts %+v error %q", got.Status, got.Attempt, got.Attempts, got.Error)
	}
	for i, a := range got.Attempts[:2] {
		if a.Status != "failed" || !strings.Contains(a.Error, "503") {
			t.Fatalf("attempt %d: %+v", i+1, a)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	// Backoff: 0.2 s before attempt 2, 0.4 s before attempt 3.
	if d := times[1].Sub(times[0]); d < 200*time.Millisecond {
		t.Fatalf("second attempt after %s", d)
	}
	if d := times[2].Sub(times[1]); d < 400*time.Millisecond {
		t.Fatalf("third attempt after %s", d)
	}
	checkStats(t, db, b.ID)
}

func TestEngineErrorStatusAfterFailures(t *testing.T) {
	db := testutil.NewDB(t)
	var fail atomic.Bool
	fail.Store(true)
	eng := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{Workers: 2, ErrorAfterFailures: 3,
		Run: func(context.Context, runner.Config, json.RawMessage, map[string]string, runner.RunMeta) (*runner.Result, error) {
			if fail.Load() {
				return nil, &runner.RunError{Message: "nope"}
			}
			return &runner.Result{Output: json.RawMessage(`true`)}, nil
		}})
	b := newBot(t, db, models.KindScript, scriptConfig(`function main() { return 1 }`, ""))
	ctx := context.Background()
	run := func() *models.Execution {
		ex, err := eng.Request(ctx, models.SystemActor("test"), runner.RunRequest{BotID: b.ID})
		if err != nil {
			t.Fatal(err)
		}
		return waitFinal(t, db, ex.ID, 10*time.Second)
	}
	for i := 0; i < 3; i++ {
		if got := run(); got.Status != models.ExecFailed || got.Error != "nope" {
			t.Fatalf("run %d: %s %q", i, got.Status, got.Error)
		}
	}
	bot := checkStats(t, db, b.ID)
	if bot.Status != models.BotError || bot.ConsecutiveFailures != 3 {
		t.Fatalf("after 3 failures: status %s, streak %d", bot.Status, bot.ConsecutiveFailures)
	}
	if n := countRows(t, db, "SELECT count(*) FROM audit_logs WHERE action = 'bot.status' AND bot_id = ? AND actor_label = 'system'", b.ID); n != 1 {
		t.Fatalf("%d system bot.status audit rows", n)
	}
	fail.Store(false)
	if got := run(); got.Status != models.ExecSuccess { // error bots still run
		t.Fatalf("run after error: %s", got.Status)
	}
	bot = checkStats(t, db, b.ID)
	if bot.Status != models.BotActive || bot.ConsecutiveFailures != 0 {
		t.Fatalf("after a success: status %s, streak %d", bot.Status, bot.ConsecutiveFailures)
	}
}

func TestEngineRecoversExecutionsOfALostWorker(t *testing.T) {
	for _, maxAttempts := range []int{1, 2} {
		t.Run(fmt.Sprint("max_attempts=", maxAttempts), func(t *testing.T) {
			db := testutil.NewDB(t)
			ctx := context.Background()
			web := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{})
			b := newBot(t, db, models.KindScript, scriptConfig(`function main() { return 1 }`, fmt.Sprintf(`"max_attempts": %d`, maxAttempts)))
			ex, err := web.Request(ctx, models.SystemActor("test"), runner.RunRequest{BotID: b.ID})
			if err != nil {
				t.Fatal(err)
			}
			// A worker that claims the attempt and is never heard of again.
			if err := models.Heartbeat(ctx, db.Bun, &models.Worker{ID: "ghost"}); err != nil {
				t.Fatal(err)
			}
			claimed, err := models.ClaimExecutions(ctx, db.Bun, "ghost", []models.Claim{{ID: ex.ID, Attempt: 1}})
			if err != nil || claimed[ex.ID] == nil {
				t.Fatalf("claim: %v %v", claimed, err)
			}
			start := time.Now()
			testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{Workers: 2, LostAfter: 2 * time.Second,
				Run: func(context.Context, runner.Config, json.RawMessage, map[string]string, runner.RunMeta) (*runner.Result, error) {
					return &runner.Result{Output: json.RawMessage(`"second try"`)}, nil
				}})
			got := waitFinal(t, db, ex.ID, 15*time.Second)
			if d := time.Since(start); d > 8*time.Second {
				t.Fatalf("recovered after %s; LostAfter is 2s", d)
			}
			want := models.ExecFailed
			if maxAttempts > 1 {
				want = models.ExecSuccess
			}
			if got.Status != want || !strings.Contains(got.Attempts[0].Error, "stopped responding") {
				t.Fatalf("status %s (want %s), attempts %+v", got.Status, want, got.Attempts)
			}
			checkStats(t, db, b.ID)
		})
	}
}

func TestEngineShutdownRequeuesRunningAttempts(t *testing.T) {
	db := testutil.NewDB(t)
	ctx := context.Background()
	started := make(chan struct{}, 1)
	first, err := runner.NewEngine(runner.EngineConfig{DB: db, Secrets: testBox(t), Workers: 2, Log: testutil.Logger(t),
		Run: func(ctx context.Context, _ runner.Config, _ json.RawMessage, _ map[string]string, _ runner.RunMeta) (*runner.Result, error) {
			started <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(ctx); err != nil {
		t.Fatal(err)
	}
	b := newBot(t, db, models.KindScript, scriptConfig(`function main() { return 1 }`, ""))
	ex, err := first.Request(ctx, models.SystemActor("test"), runner.RunRequest{BotID: b.ID})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("never started")
	}
	grace, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_ = first.Stop(grace)
	got, err := models.ExecutionByID(ctx, db.Bun, ex.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != models.ExecQueued || got.Attempt != 0 || len(got.Attempts) != 1 || got.Attempts[0].Status != "interrupted" {
		t.Fatalf("after shutdown: status %s attempt %d attempts %+v", got.Status, got.Attempt, got.Attempts)
	}
	testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{Workers: 2, Run: func(context.Context, runner.Config, json.RawMessage, map[string]string, runner.RunMeta) (*runner.Result, error) {
		return &runner.Result{Output: json.RawMessage(`"done"`)}, nil
	}})
	if got := waitFinal(t, db, ex.ID, 10*time.Second); got.Status != models.ExecSuccess || got.Attempt != 1 {
		t.Fatalf("after restart: %s attempt %d", got.Status, got.Attempt)
	}
	checkStats(t, db, b.ID)
}

func TestEngineTwoWorkersNeverRunAnAttemptTwice(t *testing.T) {
	db := testutil.NewDB(t)
	var mu sync.Mutex
	runs := map[string]int{}
	run := func(_ context.Context, _ runner.Config, _ json.RawMessage, _ map[string]string, m runner.RunMeta) (*runner.Result, error) {
		mu.Lock()
		runs[fmt.Sprint(m.ExecutionID, "/", m.Attempt)]++
		mu.Unlock()
		time.Sleep(time.Millisecond)
		return &runner.Result{Output: json.RawMessage(`1`)}, nil
	}
	a := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{Workers: 8, Run: run, WorkerID: "a"})
	testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{Workers: 8, Run: run, WorkerID: "b"})
	b := newBot(t, db, models.KindScript, scriptConfig(`function main() { return 1 }`, ""))
	const n = 300
	ids := make([]models.Execution, 0, n)
	for i := 0; i < n; i++ {
		ex, err := a.Request(context.Background(), models.SystemActor("test"), runner.RunRequest{BotID: b.ID})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, *ex)
	}
	workers := map[string]int{}
	for _, ex := range ids {
		got := waitFinal(t, db, ex.ID, 30*time.Second)
		if got.Status != models.ExecSuccess || len(got.Attempts) != 1 {
			t.Fatalf("%s: %s attempts %+v", ex.ID, got.Status, got.Attempts)
		}
		workers[got.Attempts[0].Worker]++
	}
	mu.Lock()
	defer mu.Unlock()
	if len(runs) != n {
		t.Fatalf("%d attempts ran, want %d", len(runs), n)
	}
	for k, c := range runs {
		if c != 1 {
			t.Fatalf("attempt %s ran %d times", k, c)
		}
	}
	t.Logf("executions per worker: %v", workers)
	if bot := checkStats(t, db, b.ID); bot.TotalExecutions != n {
		t.Fatalf("total %d", bot.TotalExecutions)
	}
}

func TestPruneExecutionsKeepsNewestAndStatistics(t *testing.T) {
	db := testutil.NewDB(t)
	ctx := context.Background()
	eng := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{Workers: 4, Run: func(context.Context, runner.Config, json.RawMessage, map[string]string, runner.RunMeta) (*runner.Result, error) {
		return &runner.Result{Output: json.RawMessage(`1`)}, nil
	}})
	b := newBot(t, db, models.KindScript, scriptConfig(`function main() { return 1 }`, ""))
	var last *models.Execution
	for i := 0; i < 10; i++ {
		ex, err := eng.Request(ctx, models.SystemActor("test"), runner.RunRequest{BotID: b.ID})
		if err != nil {
			t.Fatal(err)
		}
		last = waitFinal(t, db, ex.ID, 10*time.Second)
	}
	old := time.Now().Add(-90 * 24 * time.Hour).UTC()
	if _, err := db.Bun.NewRaw("UPDATE bot_executions SET queued_at = ? WHERE id <> ?", old, last.ID).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	n, err := models.PruneExecutions(ctx, db.Bun, time.Now().Add(-30*24*time.Hour), 3, 4)
	if err != nil || n != 4 {
		t.Fatalf("first batch: %d %v", n, err)
	}
	n, err = models.PruneExecutions(ctx, db.Bun, time.Now().Add(-30*24*time.Hour), 3, 4)
	if err != nil || n != 3 {
		t.Fatalf("second batch: %d %v (10 rows, keep 3)", n, err)
	}
	if left := countRows(t, db, "SELECT count(*) FROM bot_executions WHERE bot_id = ?", b.ID); left != 3 {
		t.Fatalf("%d left, want 3", left)
	}
	if _, err := models.ExecutionByID(ctx, db.Bun, last.ID); err != nil {
		t.Fatalf("the newest execution was pruned: %v", err)
	}
	checkStats(t, db, b.ID)
}

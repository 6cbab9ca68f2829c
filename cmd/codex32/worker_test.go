package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/migrations"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
)

// workerProc is a `codex32 worker` process.
type workerProc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startWorker(t *testing.T, env map[string]string) *workerProc {
	t.Helper()
	return startCodex32(t, "worker", env)
}

// startCodex32 runs this test binary as `codex32 <sub>` (worker, serve),
// killed when t ends.
func startCodex32(t *testing.T, sub string, env map[string]string) *workerProc {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], sub)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"CODEX32_TEST_RUN_MAIN=1", "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "CODEX32_DATA_DIR=" + cmd.Dir}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	w := &workerProc{cmd: cmd, stderr: &syncBuffer{}}
	cmd.Stderr = w.stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s %d stderr:\n%s", sub, cmd.Process.Pid, w.stderr.String())
		}
	})
	return w
}

// engineDB migrates a fresh database and returns it, its env and an engine
// that only enqueues (like a web process without workers).
func engineDB(t *testing.T) (*models.DB, map[string]string, *runner.Engine) {
	t.Helper()
	spec := testutil.NewDBSpec(t)
	db := testutil.OpenDB(t, spec)
	m, err := migrations.New(db, nil)
	require.NoError(t, err)
	_, err = m.Up(context.Background())
	require.NoError(t, err)
	box, err := models.NewSecretBox([]byte("worker-test-key-0123456789abcdef"))
	require.NoError(t, err)
	eng := testutil.NewEngine(t, db, box, testutil.EngineOptions{})
	return db, map[string]string{"DATABASE_URL": spec.URL, "CODEX32_WORKER_LOST_AFTER": "2s", "CODEX32_SCRIPT_PROCESSES": "1"}, eng
}

func createBot(t *testing.T, db *models.DB, kind models.BotKind, config string) *models.Bot {
	t.Helper()
	owner := testutil.CreateUser(t, db, models.RoleUser)
	b := &models.Bot{OwnerID: owner.ID, Name: "bot-" + uuid.NewString()[:8], Kind: kind, Status: models.BotActive}
	_, err := models.CreateBot(context.Background(), db.Bun, models.SystemActor("test"), b, json.RawMessage(config), "first")
	require.NoError(t, err)
	return b
}

func waitExec(t *testing.T, db *models.DB, id uuid.UUID, within time.Duration, cond func(*models.Execution) bool) *models.Execution {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		e, err := models.ExecutionByID(context.Background(), db.Bun, id)
		require.NoError(t, err)
		if cond(e) {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s: still %s after %s (attempts %+v)", id, e.Status, within, e.Attempts)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// requireStatsAddUp compares a bot's statistics with its executions rows.
func requireStatsAddUp(t *testing.T, db *models.DB, botID uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	var rows []models.Execution
	require.NoError(t, db.Bun.NewSelect().Model(&rows).Where("e.bot_id = ?", botID).Scan(ctx))
	var total, ok, failed, us int64
	for _, e := range rows {
		if !e.Final() {
			continue
		}
		total++
		switch e.Status {
		case models.ExecSuccess:
			ok++
		case models.ExecFailed, models.ExecTimedOut:
			failed++
		}
		if e.DurationMS != nil {
			us += int64(math.Round(*e.DurationMS * 1000))
		}
	}
	b := new(models.Bot)
	require.NoError(t, db.Bun.NewSelect().Model(b).Where("b.id = ?", botID).Scan(ctx))
	require.Equal(t, []int64{total, ok, failed, us}, []int64{b.TotalExecutions, b.SuccessfulExecutions, b.FailedExecutions, b.TotalDurationUS}, "bot statistics vs table")
}

func TestKilledWorkerExecutionsAreRecovered(t *testing.T) {
	db, env, eng := engineDB(t)
	ctx := context.Background()
	// Attempt 1 spins forever; a later attempt returns.
	src, _ := json.Marshal(`function main(input, ctx) { if (ctx.attempt === 1) { for (;;) {} } return {attempt: ctx.attempt}; }`)
	retried := createBot(t, db, models.KindScript, fmt.Sprintf(`{"source": %s, "timeout_seconds": 60, "max_attempts": 2, "retry_backoff_seconds": 0.1}`, src))
	once := createBot(t, db, models.KindScript, fmt.Sprintf(`{"source": %s, "timeout_seconds": 60}`, src))
	exA, err := eng.Request(ctx, models.SystemActor("test"), runner.RunRequest{BotID: retried.ID})
	require.NoError(t, err)
	exB, err := eng.Request(ctx, models.SystemActor("test"), runner.RunRequest{BotID: once.ID})
	require.NoError(t, err)

	env["CODEX32_SCRIPT_PROCESSES"] = "2"
	env["CODEX32_WORKER_LOST_AFTER"] = "5s"
	w1 := startWorker(t, env)
	running := func(e *models.Execution) bool { return e.Status == models.ExecRunning }
	waitExec(t, db, exA.ID, 30*time.Second, running)
	waitExec(t, db, exB.ID, 30*time.Second, running)

	require.NoError(t, w1.cmd.Process.Signal(syscall.SIGKILL))
	_ = w1.cmd.Wait()
	killed := time.Now()

	startWorker(t, env)
	final := func(e *models.Execution) bool { return e.Final() }
	a := waitExec(t, db, exA.ID, 30*time.Second, final)
	b := waitExec(t, db, exB.ID, 30*time.Second, final)
	t.Logf("recovered %s after the kill", time.Since(killed))

	require.Equal(t, models.ExecSuccess, a.Status, "retried execution: %q", a.Error)
	require.Equal(t, 2, a.Attempt)
	require.Contains(t, a.Attempts[0].Error, "stopped responding")
	require.JSONEq(t, `{"attempt": 2}`, string(a.Output))

	require.Equal(t, models.ExecFailed, b.Status)
	require.Contains(t, b.Error, "stopped responding")
	requireStatsAddUp(t, db, retried.ID)
	requireStatsAddUp(t, db, once.ID)
}

func TestTwoWorkerProcessesNeverRunAnAttemptTwice(t *testing.T) {
	db, env, eng := engineDB(t)
	var mu sync.Mutex
	hits := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Query().Get("n")]++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok": true}`))
	}))
	defer srv.Close()
	env["CODEX32_OUTBOUND_ALLOW"] = "127.0.0.1"
	// No worker dies here: a short LostAfter would only let a loaded test
	// machine mistake a late heartbeat for a dead worker.
	env["CODEX32_WORKER_LOST_AFTER"] = "60s"
	bot := createBot(t, db, models.KindHTTP, fmt.Sprintf(`{"method": "GET", "url": "%s/?n={{input.n}}"}`, srv.URL))
	w1, w2 := startWorker(t, env), startWorker(t, env)
	_, _ = w1, w2

	const n = 200
	ids := make([]uuid.UUID, n)
	for i := range n {
		ex, err := eng.Request(context.Background(), models.SystemActor("test"), runner.RunRequest{BotID: bot.ID, Input: json.RawMessage(fmt.Sprintf(`{"n": %d}`, i))})
		require.NoError(t, err)
		ids[i] = ex.ID
	}
	workers := map[string]int{}
	for _, id := range ids {
		e := waitExec(t, db, id, 60*time.Second, func(e *models.Execution) bool { return e.Final() })
		require.Equal(t, models.ExecSuccess, e.Status, e.Error)
		require.Len(t, e.Attempts, 1)
		workers[e.Attempts[0].Worker]++
	}
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, hits, n)
	for k, c := range hits {
		require.Equal(t, 1, c, "request n=%s arrived %d times", k, c)
	}
	t.Logf("executions per worker process: %v", workers)
	require.Len(t, workers, 2, "both worker processes took work")
	requireStatsAddUp(t, db, bot.ID)
}

func TestWorkerStopsOnSIGTERMAndRequeues(t *testing.T) {
	db, env, eng := engineDB(t)
	src, _ := json.Marshal(`function main(input, ctx) { if (ctx.attempt === 1 && input.spin) { for (;;) {} } return "done"; }`)
	bot := createBot(t, db, models.KindScript, fmt.Sprintf(`{"source": %s, "timeout_seconds": 60}`, src))
	ex, err := eng.Request(context.Background(), models.SystemActor("test"), runner.RunRequest{BotID: bot.ID, Input: json.RawMessage(`{"spin": true}`)})
	require.NoError(t, err)
	env["CODEX32_SHUTDOWN_GRACE"] = "500ms"
	w := startWorker(t, env)
	waitExec(t, db, ex.ID, 30*time.Second, func(e *models.Execution) bool { return e.Status == models.ExecRunning })
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- w.cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "worker exit: %s", w.stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("worker did not stop within 20 s of SIGTERM:\n%s", w.stderr.String())
	}
	e := waitExec(t, db, ex.ID, time.Second, func(*models.Execution) bool { return true })
	require.Equal(t, models.ExecQueued, e.Status, "interrupted attempts go back to the queue")
	require.Equal(t, "interrupted", e.Attempts[0].Status)
	require.Contains(t, w.stderr.String(), "worker stopped")
}

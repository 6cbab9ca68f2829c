package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
)

// countExecs counts the bot's executions matching where.
func countExecs(t *testing.T, db *models.DB, botID uuid.UUID, where string, args ...any) int {
	t.Helper()
	n, err := db.Bun.NewSelect().Model((*models.Execution)(nil)).Where("bot_id = ?", botID).Where(where, args...).Count(context.Background())
	require.NoError(t, err)
	return int(n)
}

// A `codex32 serve` holding a queue of slow script runs is killed (-9)
// while it runs some, has more waiting for a sandbox process and has
// fetched others. A fresh worker then finishes everything: the attempts
// the dead process had not begun stay queued and are handed to the live
// worker within CODEX32_WORKER_LOST_AFTER plus a margin (River alone left
// them for its ten-minute stuck-job rescue), without spending an attempt;
// only those it was really running are lost; the statistics equal the
// executions table.
func TestKilledServeStrandsNoExecution(t *testing.T) {
	db, env, eng := engineDB(t)
	ctx := context.Background()
	runs := 300
	if db.Dialect == models.SQLite {
		runs = 100 // one file shared by two processes: keep it short
	}
	const (
		lostAfter = 3 * time.Second
		processes = 2
	)
	src, _ := json.Marshal(`function main() { const end = Date.now() + 150; while (Date.now() < end) {} return "done"; }`)
	bot := createBot(t, db, models.KindScript, fmt.Sprintf(`{"source": %s, "timeout_seconds": 30}`, src))
	for range runs {
		_, err := eng.Request(ctx, models.SystemActor("test"), runner.RunRequest{BotID: bot.ID})
		require.NoError(t, err)
	}
	env["CODEX32_WORKERS"] = "20"
	env["CODEX32_SCRIPT_PROCESSES"] = fmt.Sprint(processes)
	env["CODEX32_WORKER_LOST_AFTER"] = lostAfter.String()
	env["CODEX32_ADDR"] = "127.0.0.1:0"

	serve := startCodex32(t, "serve", env)
	deadline := time.Now().Add(60 * time.Second)
	for countExecs(t, db, bot.ID, "status = 'success'") < 5 {
		require.True(t, time.Now().Before(deadline), "serve ran nothing within 60 s:\n%s", serve.stderr.String())
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, serve.cmd.Process.Signal(syscall.SIGKILL))
	_ = serve.cmd.Wait()
	killed := time.Now()

	// What the dead process left: the attempts it was running (it held a
	// sandbox process for each, or had just finished one), and queued
	// executions whose job it had fetched (waiting for a sandbox process,
	// or for their claim).
	var running []uuid.UUID
	require.NoError(t, db.Bun.NewSelect().Model((*models.Execution)(nil)).Column("id").
		Where("bot_id = ? AND status = 'running'", bot.ID).Scan(ctx, &running))
	stranded, err := models.StrandedExecutions(ctx, db.Bun, "", killed, 1000)
	require.NoError(t, err)
	t.Logf("at the kill: %d running, %d fetched but not begun, %d success", len(running), len(stranded), countExecs(t, db, bot.ID, "status = 'success'"))
	require.LessOrEqual(t, len(running), 2*processes, "only attempts holding a sandbox process (or just done with one) are running")
	require.NotEmpty(t, stranded, "the dead process had fetched jobs it had not begun")

	worker := startCodex32(t, "worker", env)
	// Handed to the live worker within LostAfter (+ one recovery interval,
	// the worker's start and a margin for a loaded machine).
	for {
		left, err := models.StrandedExecutions(ctx, db.Bun, "", killed, 1000)
		require.NoError(t, err)
		if len(left) == 0 {
			break
		}
		require.Less(t, time.Since(killed), lostAfter+10*time.Second, "%d executions still stranded:\n%s", len(left), worker.stderr.String())
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("stranded executions queued again %s after the kill", time.Since(killed).Round(time.Millisecond))
	deadline = time.Now().Add(90 * time.Second)
	for countExecs(t, db, bot.ID, "status IN ('queued', 'running')") > 0 {
		require.True(t, time.Now().Before(deadline), "executions still unfinished 90 s after the kill:\n%s", worker.stderr.String())
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("all %d final %s after the kill", runs, time.Since(killed).Round(time.Millisecond))

	wasRunning := map[uuid.UUID]bool{}
	for _, id := range running {
		wasRunning[id] = true
	}
	var rows []models.Execution
	require.NoError(t, db.Bun.NewSelect().Model(&rows).Where("e.bot_id = ?", bot.ID).Scan(ctx))
	require.Len(t, rows, runs)
	lost := 0
	for _, e := range rows {
		require.Len(t, e.Attempts, 1, "execution %s: one attempt, run once: %+v", e.ID, e.Attempts)
		if strings.Contains(e.Error, "stopped responding") {
			lost++
			require.True(t, wasRunning[e.ID], "execution %s lost its attempt but was not running at the kill", e.ID)
			require.Equal(t, models.ExecFailed, e.Status)
			continue
		}
		require.Equal(t, models.ExecSuccess, e.Status, "execution %s: %q", e.ID, e.Error)
	}
	t.Logf("%d attempts lost (running at the kill), %d succeeded", lost, runs-lost)
	requireStatsAddUp(t, db, bot.ID)
}

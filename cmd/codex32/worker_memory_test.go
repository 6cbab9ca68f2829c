package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
)

// TestWorkerMemory runs 1,000 queued script executions through a real
// `codex32 worker` process and reports the peak resident memory of the
// worker and its sandbox processes together. The budget is 200 MiB. Run by
// `make perf-engine` (without -race, which multiplies memory use).
func TestWorkerMemory(t *testing.T) {
	if os.Getenv("CODEX32_PERF_ENGINE") == "" {
		t.Skip("set CODEX32_PERF_ENGINE=1: make perf-engine")
	}
	db, env, eng := engineDB(t)
	src, _ := json.Marshal(`function main(input) { const a = []; for (let i = 0; i < 1000; i++) a.push({i: i, s: "x" + i}); return {n: input.n, len: a.length}; }`)
	bot := createBot(t, db, models.KindScript, fmt.Sprintf(`{"source": %s}`, src))
	const n = 1000
	for i := range n {
		_, err := eng.Request(context.Background(), models.SystemActor("test"), runner.RunRequest{BotID: bot.ID, Input: json.RawMessage(fmt.Sprintf(`{"n": %d}`, i))})
		require.NoError(t, err)
	}
	env["CODEX32_SCRIPT_PROCESSES"] = "0" // the default: one sandbox per CPU
	w := startWorker(t, env)
	peak := int64(0)
	start := time.Now()
	for {
		peak = max(peak, treeRSS(w.cmd.Process.Pid))
		var done int
		require.NoError(t, db.Bun.NewRaw("SELECT count(*) FROM bot_executions WHERE status = 'success'").Scan(context.Background(), &done))
		if done == n {
			break
		}
		if time.Since(start) > 5*time.Minute {
			t.Fatalf("only %d of %d done after 5 minutes", done, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("RESULT worker memory: %d script executions in %s; peak RSS of worker + sandboxes %.1f MiB (budget 200 MiB)",
		n, time.Since(start).Round(time.Millisecond), float64(peak)/(1<<20))
	require.Less(t, peak, int64(200<<20))
	requireStatsAddUp(t, db, bot.ID)
}

// treeRSS sums VmRSS of a process and its descendants.
func treeRSS(pid int) int64 {
	total := rssOf(pid)
	for _, c := range childrenOf(pid) {
		total += treeRSS(c)
	}
	return total
}

func rssOf(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func childrenOf(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

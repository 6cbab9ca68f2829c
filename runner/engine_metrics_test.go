package runner_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/telemetry"
	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
)

// TestEngineMetricsAgreeWithTheDatabase runs executions of every outcome
// and checks that /metrics says what the executions table says.
func TestEngineMetricsAgreeWithTheDatabase(t *testing.T) {
	const llmKey = "sk-metrics-test-secret-value-42"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/chat/completions") {
			_, _ = w.Write([]byte(`{"id": "c1", "object": "chat.completion", "created": 1700000000, "model": "metrics-model",
				"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi", "refusal": null}, "finish_reason": "stop", "logprobs": null}],
				"usage": {"prompt_tokens": 21, "completion_tokens": 5, "total_tokens": 26}}`))
			return
		}
		_, _ = w.Write([]byte(`{"ok": true}`))
	}))
	defer srv.Close()
	db := testutil.NewDB(t)
	box := testBox(t)
	m := telemetry.NewMetrics(telemetry.MetricsOptions{BotLabels: true, BotLabelsMax: 3})
	m.WatchDB(models.Readings{DB: db}, 30*time.Second)
	eng := testutil.NewEngine(t, db, box, testutil.EngineOptions{Workers: 4, Metrics: m,
		Outbound: runner.OutboundPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}})

	bots := []*models.Bot{
		newBot(t, db, models.KindScript, scriptConfig(`function main() { return 1 }`, "")),
		newBot(t, db, models.KindScript, scriptConfig(`function main() { throw new Error("no") }`, "")),
		newBot(t, db, models.KindHTTP, fmt.Sprintf(`{"method": "GET", "url": %q}`, srv.URL)),
		newBot(t, db, models.KindHTTP, `{"method": "GET", "url": "http://169.254.169.254/latest/meta-data"}`),
		newBot(t, db, models.KindLLM, fmt.Sprintf(`{"model": "metrics-model", "prompt_template": "hi", "base_url": %q, "api_key_secret": "LLM_KEY"}`, srv.URL+"/v1")),
	}
	_, err := models.PutSecret(context.Background(), db.Bun, box, models.SystemActor("test"), "LLM_KEY", "", llmKey,
		&models.SecretScope{Grants: models.SecretGrants{Bots: []uuid.UUID{bots[4].ID}}, Hosts: []string{"127.0.0.1"}})
	require.NoError(t, err)
	var ids []uuid.UUID
	for round := range 3 {
		for _, b := range bots {
			trigger := models.TriggerManual
			if round == 1 {
				trigger = models.TriggerAPI
			}
			ex, err := eng.Request(context.Background(), models.SystemActor("test"), runner.RunRequest{BotID: b.ID, Trigger: trigger})
			require.NoError(t, err)
			ids = append(ids, ex.ID)
		}
	}
	for i, id := range ids {
		ex := waitFinal(t, db, id, 30*time.Second)
		if want := []models.ExecStatus{models.ExecSuccess, models.ExecFailed, models.ExecSuccess, models.ExecFailed, models.ExecSuccess}[i%len(bots)]; ex.Status != want {
			t.Fatalf("bot %d: %s (%s), want %s", i%len(bots), ex.Status, ex.Error, want)
		}
	}

	s := testutil.ScrapeHandler(t, m.Handler())
	requested := s.Count("codex32_executions_requested_total", nil)
	require.Equal(t, len(ids), requested)
	for _, st := range []models.ExecStatus{models.ExecSuccess, models.ExecFailed, models.ExecCancelled, models.ExecTimedOut} {
		want := countRows(t, db, "SELECT count(*) FROM bot_executions WHERE status = ?", st)
		got := s.Count("codex32_executions_finished_total", map[string]string{"status": string(st)})
		require.Equal(t, want, got, "finished with %s: metrics and table disagree", st)
	}
	for kind, want := range map[string]int{"script": 6, "http": 6, "llm": 3} {
		got := s.Count("codex32_executions_finished_total", map[string]string{"kind": kind})
		require.Equal(t, want, got, kind)
		waits := s.Count("codex32_execution_queue_wait_seconds", map[string]string{"kind": kind})
		require.Equal(t, want, waits, "queue waits of %s", kind)
	}
	api := s.Count("codex32_executions_finished_total", map[string]string{"trigger": "api"})
	require.Equal(t, 5, api)
	ok := s.Count("codex32_outbound_requests_total", map[string]string{"kind": "http", "result": "ok"})
	require.Equal(t, 3, ok)
	refused := s.Count("codex32_outbound_requests_total", map[string]string{"kind": "http", "result": "refused"})
	require.Equal(t, 3, refused, "the metadata address is refused by the guard")
	llmOK := s.Count("codex32_outbound_requests_total", map[string]string{"kind": "llm", "result": "ok"})
	require.Equal(t, 3, llmOK)
	in := s.Count("codex32_llm_tokens_total", map[string]string{"model": "metrics-model", "direction": "input"})
	out := s.Count("codex32_llm_tokens_total", map[string]string{"model": "metrics-model", "direction": "output"})
	require.Equal(t, []int{63, 15}, []int{in, out})

	queued := s.Count("codex32_executions_queued", nil)
	running := s.Count("codex32_executions_running", nil)
	require.Equal(t, []int{0, 0}, []int{queued, running})
	alive := s.Count("codex32_workers_alive", nil)
	require.GreaterOrEqual(t, alive, 1)
	require.Len(t, s.LabelValues("codex32_river_jobs", "state"), len(telemetry.QueueJobStates))
	require.Contains(t, s.LabelValues("codex32_db_open_connections", "pool"), "app")
	procs, found := s.Value("codex32_sandbox_processes", nil)
	require.True(t, found)
	require.GreaterOrEqual(t, procs, 1.0)

	// Bot labels are opt-in and capped: 5 bots, at most 3 ids, the rest "other".
	labels := s.LabelValues("codex32_bot_executions_finished_total", "bot_id")
	require.Len(t, labels, 4)
	require.Contains(t, labels, "other")
	perBot := s.Count("codex32_bot_executions_finished_total", nil)
	require.Equal(t, len(ids), perBot)

	text := s.Text()
	require.NotContains(t, text, llmKey, "a secret in the metrics")
	for _, id := range ids {
		require.NotContains(t, text, id.String(), "an execution id as a label")
	}
	require.NotContains(t, text, "169.254", "a destination as a label")
}

func TestEngineMetricsCountCancelledWhileQueued(t *testing.T) {
	db := testutil.NewDB(t)
	m := telemetry.NewMetrics(telemetry.MetricsOptions{})
	web := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{Metrics: m}) // no workers: it stays queued
	b := newBot(t, db, models.KindScript, scriptConfig(`function main() { return 1 }`, ""))
	ex, err := web.Request(context.Background(), models.SystemActor("test"), runner.RunRequest{BotID: b.ID})
	require.NoError(t, err)
	_, err = web.Cancel(context.Background(), models.SystemActor("test"), ex.ID)
	require.NoError(t, err)
	_, err = web.Cancel(context.Background(), models.SystemActor("test"), ex.ID)
	require.Error(t, err, "already finished")
	s := testutil.ScrapeHandler(t, m.Handler())
	got := s.Count("codex32_executions_finished_total", map[string]string{"status": "cancelled", "kind": "script", "trigger": "manual"})
	require.Equal(t, 1, got, "counted once")
	require.Equal(t, 1, countRows(t, db, "SELECT count(*) FROM bot_executions WHERE status = 'cancelled'"))
}

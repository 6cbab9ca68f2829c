package runner_test

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

func testBox(t *testing.T) *models.SecretBox {
	t.Helper()
	box, err := models.NewSecretBox([]byte("engine-test-key-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// newBot creates an active bot of the given kind and config.
func newBot(t *testing.T, db *models.DB, kind models.BotKind, config string) *models.Bot {
	t.Helper()
	owner := testutil.CreateUser(t, db, models.RoleUser)
	b := &models.Bot{OwnerID: owner.ID, Name: "bot-" + uuid.NewString()[:8], Kind: kind, Status: models.BotActive}
	if _, err := models.CreateBot(context.Background(), db.Bun, models.SystemActor("test"), b, json.RawMessage(config), "first"); err != nil {
		t.Fatalf("create bot: %v", err)
	}
	return b
}

func scriptConfig(source string, extra string) string {
	src, _ := json.Marshal(source)
	cfg := `{"source": ` + string(src)
	if extra != "" {
		cfg += ", " + extra
	}
	return cfg + "}"
}

// waitFor polls an execution until cond holds.
func waitFor(t *testing.T, db *models.DB, id uuid.UUID, within time.Duration, what string, cond func(*models.Execution) bool) *models.Execution {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		e, err := models.ExecutionByID(context.Background(), db.Bun, id)
		if err != nil {
			t.Fatalf("load execution: %v", err)
		}
		if cond(e) {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s not %s within %s: status %s, error %q, attempts %+v", id, what, within, e.Status, e.Error, e.Attempts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitFinal(t *testing.T, db *models.DB, id uuid.UUID, within time.Duration) *models.Execution {
	t.Helper()
	return waitFor(t, db, id, within, "final", func(e *models.Execution) bool { return e.Final() })
}

// checkStats asserts the bot's statistics equal aggregates of its
// executions table rows, exactly.
func checkStats(t *testing.T, db *models.DB, botID uuid.UUID) *models.Bot {
	t.Helper()
	ctx := context.Background()
	var rows []models.Execution
	if err := db.Bun.NewSelect().Model(&rows).Where("e.bot_id = ?", botID).Scan(ctx); err != nil {
		t.Fatal(err)
	}
	var total, ok, failed, timed, us int64
	var last time.Time
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
			timed++
			us += int64(math.Round(*e.DurationMS * 1000))
		}
		if e.EndedAt != nil && e.EndedAt.After(last) {
			last = *e.EndedAt
		}
	}
	b := new(models.Bot)
	if err := db.Bun.NewSelect().Model(b).Where("b.id = ?", botID).Scan(ctx); err != nil {
		t.Fatal(err)
	}
	if b.TotalExecutions != total || b.SuccessfulExecutions != ok || b.FailedExecutions != failed ||
		b.TimedExecutions != timed || b.TotalDurationUS != us {
		t.Fatalf("statistics disagree with the table: bot total=%d ok=%d failed=%d timed=%d us=%d; table total=%d ok=%d failed=%d timed=%d us=%d",
			b.TotalExecutions, b.SuccessfulExecutions, b.FailedExecutions, b.TimedExecutions, b.TotalDurationUS, total, ok, failed, timed, us)
	}
	if timed > 0 {
		if want := float64(us) / 1000 / float64(timed); math.Abs(b.AvgDurationMS-want) > 1e-9*max(1, want) {
			t.Fatalf("avg duration %v, want %v", b.AvgDurationMS, want)
		}
	}
	if total > 0 && (b.LastExecutedAt == nil || !b.LastExecutedAt.Equal(last)) {
		t.Fatalf("last executed %v, want %v", b.LastExecutedAt, last)
	}
	return b
}

func countRows(t *testing.T, db *models.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Bun.NewRaw(query, args...).Scan(context.Background(), &n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func actor(u *models.User) models.Actor {
	return models.Actor{UserID: &u.ID, Label: u.Email}
}

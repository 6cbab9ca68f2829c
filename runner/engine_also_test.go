package runner_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
)

// RunRequest.Also writes in the transaction that queues the execution:
// its writes commit with it, and its error takes the execution back — for
// requests that share a transaction too.
func TestEngineRequestAlsoCommitsWithTheExecution(t *testing.T) {
	db := testutil.NewDB(t)
	eng := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{})
	b := newBot(t, db, models.KindScript, scriptConfig(`function main() { return 1 }`, ""))
	ctx := context.Background()
	mark := func(ctx context.Context, tx bun.IDB, ex *models.Execution) error {
		_, err := tx.NewRaw("UPDATE bots SET description = ? WHERE id = ?", "ran "+ex.ID.String(), ex.BotID).Exec(ctx)
		return err
	}
	ex, err := eng.Request(ctx, models.SystemActor("test"), runner.RunRequest{BotID: b.ID, Also: mark})
	if err != nil {
		t.Fatal(err)
	}
	var desc string
	if err := db.Bun.NewRaw("SELECT description FROM bots WHERE id = ?", b.ID).Scan(ctx, &desc); err != nil {
		t.Fatal(err)
	}
	if desc != "ran "+ex.ID.String() {
		t.Fatalf("description %q: Also did not run with the execution", desc)
	}

	// Concurrent requests share transactions; the one whose Also fails
	// gets the error and leaves nothing behind; the others are queued.
	boom := errors.New("boom")
	before := countRows(t, db, "SELECT count(*) FROM bot_executions")
	auditBefore := countRows(t, db, "SELECT count(*) FROM audit_logs WHERE action = 'bot.execute'")
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() {
			r := runner.RunRequest{BotID: b.ID}
			if i == 7 {
				r.Also = func(context.Context, bun.IDB, *models.Execution) error { return boom }
			}
			_, errs[i] = eng.Request(ctx, models.SystemActor("test"), r)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i == 7 && !errors.Is(err, boom) {
			t.Fatalf("request 7: %v, want boom", err)
		} else if i != 7 && err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if n := countRows(t, db, "SELECT count(*) FROM bot_executions"); n != before+19 {
		t.Fatalf("%d executions, want %d", n, before+19)
	}
	if n := countRows(t, db, "SELECT count(*) FROM audit_logs WHERE action = 'bot.execute'"); n != auditBefore+19 {
		t.Fatalf("%d bot.execute audit rows, want %d", n, auditBefore+19)
	}
}

// RunRequest.Claim inserts an Idempotency-Key claim with the execution; a
// key recorded already (by an earlier request, or earlier in the same
// shared transaction) runs nothing and says so.
func TestEngineRequestClaimRunsOncePerKey(t *testing.T) {
	db := testutil.NewDB(t)
	eng := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{})
	b := newBot(t, db, models.KindScript, scriptConfig(`function main() { return 1 }`, ""))
	ctx := context.Background()
	owner := testutil.CreateUser(t, db, models.RoleAPIUser)
	k := &models.APIKey{UserID: owner.ID, Name: "k", Scopes: []string{models.ScopeExecute}}
	if _, err := models.CreateAPIKey(ctx, db.Bun, models.SystemActor("test"), k); err != nil {
		t.Fatal(err)
	}
	before := countRows(t, db, "SELECT count(*) FROM bot_executions")
	var wg sync.WaitGroup
	errs := make([]error, 24)
	for i := range errs {
		wg.Go(func() {
			claim := models.NewIdempotencyClaim(k.ID, fmt.Sprintf("key-%d", i%8), "fp", time.Now())
			_, errs[i] = eng.Request(ctx, models.SystemActor("test"), runner.RunRequest{BotID: b.ID, Claim: claim})
		})
	}
	wg.Wait()
	ran, taken := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ran++
		case errors.Is(err, runner.ErrIdempotencyKeyTaken):
			taken++
		default:
			t.Fatal(err)
		}
	}
	if ran != 8 || taken != 16 {
		t.Fatalf("ran %d, taken %d; want 8 and 16", ran, taken)
	}
	if n := countRows(t, db, "SELECT count(*) FROM bot_executions"); n != before+8 {
		t.Fatalf("%d executions, want %d", n, before+8)
	}
	if n := countRows(t, db, "SELECT count(*) FROM api_idempotency_keys"); n != 8 {
		t.Fatalf("%d keys recorded, want 8", n)
	}
	// In a caller's transaction too.
	err := db.Bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		_, err := eng.RequestTx(ctx, tx, models.SystemActor("test"), runner.RunRequest{BotID: b.ID, Claim: models.NewIdempotencyClaim(k.ID, "key-1", "fp", time.Now())})
		return err
	})
	if !errors.Is(err, runner.ErrIdempotencyKeyTaken) {
		t.Fatalf("RequestTx: %v", err)
	}
}

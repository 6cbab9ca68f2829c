package runner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
)

// nestedJSON is a JSON array nesting depth levels deep.
func nestedJSON(depth int) string {
	return strings.Repeat("[", depth) + "1" + strings.Repeat("]", depth)
}

// The nesting limit (512) is the same on both databases: an output at the
// limit is stored, a deeper one fails its execution with the reason. On
// SQLite one past 1,000 levels used to fail its write for good and stay
// running; on Postgres both were stored.
func TestEngineOutputNestingLimit(t *testing.T) {
	db := testutil.NewDB(t)
	run := func(_ context.Context, _ runner.Config, input json.RawMessage, _ map[string]string, _ runner.RunMeta) (*runner.Result, error) {
		var in struct{ Depth int }
		if err := json.Unmarshal(input, &in); err != nil {
			return nil, err
		}
		if in.Depth < 0 {
			return nil, &runner.RunError{Message: "it broke", Output: json.RawMessage(nestedJSON(-in.Depth))}
		}
		return &runner.Result{Output: json.RawMessage(nestedJSON(in.Depth))}, nil
	}
	eng := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{Workers: 2, Run: run})
	b := newBot(t, db, models.KindScript, scriptConfig(`function main() {}`, ""))
	request := func(depth int) *models.Execution {
		t.Helper()
		ex, err := eng.Request(context.Background(), models.SystemActor("test"), runner.RunRequest{BotID: b.ID, Input: json.RawMessage(`{"depth": ` + jsonInt(depth) + `}`)})
		if err != nil {
			t.Fatal(err)
		}
		return ex
	}
	atLimit, over, overSQLite, failedDeep := request(512), request(513), request(1001), request(-600)

	got := waitFinal(t, db, atLimit.ID, 20*time.Second)
	if got.Status != models.ExecSuccess || string(got.Output) != nestedJSON(512) {
		t.Fatalf("at the limit: %s %q, output stored: %v", got.Status, got.Error, string(got.Output) == nestedJSON(512))
	}
	for _, ex := range []*models.Execution{over, overSQLite} {
		got := waitFinal(t, db, ex.ID, 20*time.Second)
		if got.Status != models.ExecFailed || !strings.Contains(got.Error, "output nests deeper than 512 levels") || got.Output != nil {
			t.Fatalf("over the limit: %s %q, output %d bytes", got.Status, got.Error, len(got.Output))
		}
	}
	got = waitFinal(t, db, failedDeep.ID, 20*time.Second)
	if got.Status != models.ExecFailed || !strings.Contains(got.Error, "it broke (its output was not kept: the output nests deeper than 512 levels") {
		t.Fatalf("a failure with a deep partial output: %s %q", got.Status, got.Error)
	}
	checkStats(t, db, b.ID)
}

// A real script whose output nests too deep fails with the reason, on both
// databases, instead of staying running (SQLite) or being stored
// (Postgres).
func TestEngineScriptOutputNestedTooDeepFails(t *testing.T) {
	db := testutil.NewDB(t)
	eng := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{Workers: 2})
	b := newBot(t, db, models.KindScript, scriptConfig(`function main(input) { let v = 1; for (let i = 0; i < input.depth; i++) { v = [v]; } return v; }`, ""))
	for _, depth := range []int{512, 1001} {
		ex, err := eng.Request(context.Background(), models.SystemActor("test"), runner.RunRequest{BotID: b.ID, Input: json.RawMessage(`{"depth": ` + jsonInt(depth) + `}`)})
		if err != nil {
			t.Fatal(err)
		}
		got := waitFinal(t, db, ex.ID, 20*time.Second)
		switch {
		case depth == 512 && got.Status != models.ExecSuccess:
			t.Fatalf("depth 512: %s %q", got.Status, got.Error)
		case depth > 512 && (got.Status != models.ExecFailed || !strings.Contains(got.Error, "nests deeper than 512 levels")):
			t.Fatalf("depth %d: %s %q", depth, got.Status, got.Error)
		}
	}
	checkStats(t, db, b.ID)
}

// Inputs deeper than the limit are refused as invalid (the API, the page
// and webhooks word the refusal), on both databases; at the limit they are
// queued and stored.
func TestEngineRefusesInputsNestedTooDeep(t *testing.T) {
	db := testutil.NewDB(t)
	eng := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{})
	b := newBot(t, db, models.KindScript, scriptConfig(`function main() {}`, ""))
	ex, err := eng.Request(context.Background(), models.SystemActor("test"), runner.RunRequest{BotID: b.ID, Input: json.RawMessage(`{"a": ` + nestedJSON(511) + `}`)})
	if err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	stored, err := models.ExecutionByID(context.Background(), db.Bun, ex.ID)
	var compact bytes.Buffer
	if err != nil || json.Compact(&compact, stored.Input) != nil || compact.String() != `{"a":`+nestedJSON(511)+`}` {
		t.Fatalf("stored input: %v", err)
	}
	for _, depth := range []int{513, 1001, 5000} {
		_, err := eng.Request(context.Background(), models.SystemActor("test"), runner.RunRequest{BotID: b.ID, Input: json.RawMessage(nestedJSON(depth))})
		var ve *models.ValidationError
		if !errors.As(err, &ve) || !strings.Contains(ve.Fields["input"], "nests deeper than 512 levels") {
			t.Fatalf("depth %d: %v", depth, err)
		}
	}
}

// A result the database refuses (here: output that is not JSON, which no
// bot kind makes, standing for whatever a database may refuse) ends its
// execution failed with the database's reason, at once, and does not sink
// the results batched with it. It used to be retried for a minute and
// then stay running for good.
func TestEngineRecordsUnstorableResultAsFailed(t *testing.T) {
	db := testutil.NewDB(t)
	run := func(_ context.Context, _ runner.Config, input json.RawMessage, _ map[string]string, _ runner.RunMeta) (*runner.Result, error) {
		if strings.Contains(string(input), "broken") {
			return &runner.Result{Output: json.RawMessage(`{"broken":`), Logs: "printed"}, nil
		}
		return &runner.Result{Output: json.RawMessage(`{"ok": true}`)}, nil
	}
	eng := testutil.NewEngine(t, db, testBox(t), testutil.EngineOptions{Workers: 8, Run: run})
	b := newBot(t, db, models.KindScript, scriptConfig(`function main() {}`, ""))
	var ids []*models.Execution
	for i := range 8 {
		input := `{}`
		if i == 3 {
			input = `{"broken": true}`
		}
		ex, err := eng.Request(context.Background(), models.SystemActor("test"), runner.RunRequest{BotID: b.ID, Input: json.RawMessage(input)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ex)
	}
	for i, ex := range ids {
		got := waitFinal(t, db, ex.ID, 15*time.Second)
		if i == 3 {
			if got.Status != models.ExecFailed || !strings.Contains(got.Error, "could not be stored") || got.Output != nil || got.Logs != "" {
				t.Fatalf("unstorable result: %s %q output %q logs %q", got.Status, got.Error, got.Output, got.Logs)
			}
			t.Logf("recorded error: %s", got.Error)
			continue
		}
		if got.Status != models.ExecSuccess {
			t.Fatalf("execution %d beside it: %s %q", i, got.Status, got.Error)
		}
	}
	checkStats(t, db, b.ID)
}

func jsonInt(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

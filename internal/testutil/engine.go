package testutil

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/codex32/codex32/internal/telemetry"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
)

// sandboxChildEnv marks a test binary started as a script sandbox child.
const sandboxChildEnv = "CODEX32_SANDBOX_CHILD"

// SandboxMain must be called first in TestMain of every package whose tests
// run script bots: the script pool re-executes the test binary as its
// sandbox process, and this turns that process into the sandbox.
func SandboxMain() {
	if os.Getenv(sandboxChildEnv) == "1" {
		os.Exit(runner.ServeScripts(os.Stdin, os.Stdout))
	}
}

// ScriptPool starts a script sandbox pool made of this test binary (see
// SandboxMain), closed when t ends.
func ScriptPool(tb testing.TB, size int) *runner.ScriptPool {
	tb.Helper()
	return scriptPool(tb, size, nil)
}

func scriptPool(tb testing.TB, size int, m *telemetry.Metrics) *runner.ScriptPool {
	tb.Helper()
	p, err := runner.NewScriptPool(runner.ScriptPoolConfig{
		Size: size, MemoryLimitBytes: 256 << 20, Command: []string{os.Args[0]},
		Env: []string{sandboxChildEnv + "=1"}, Logger: Logger(tb), Metrics: m,
	})
	if err != nil {
		tb.Fatalf("testutil: script pool: %v", err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// EngineOptions adjusts NewEngine.
type EngineOptions struct {
	Workers            int
	ErrorAfterFailures int
	LostAfter          time.Duration
	Outbound           runner.OutboundPolicy
	Run                runner.RunFunc
	WorkerID           string
	// ScriptProcesses is the sandbox pool size (default 2).
	ScriptProcesses int
	// LiveLog: see runner.EngineConfig.LiveLog.
	LiveLog func(meta runner.RunMeta, line string)
	// Metrics records the engine's (and its sandbox pool's) work.
	Metrics *telemetry.Metrics
	// Tracing: see runner.EngineConfig.Tracing.
	Tracing *telemetry.Tracing
}

// NewEngine builds an execution engine on db; with Workers > 0 it starts
// them (scripts run in a pool of this test binary) and stops them when t
// ends.
func NewEngine(tb testing.TB, db *models.DB, box *models.SecretBox, o EngineOptions) *runner.Engine {
	tb.Helper()
	cfg := runner.EngineConfig{
		DB: db, Log: Logger(tb), Secrets: box, Workers: o.Workers, ErrorAfterFailures: o.ErrorAfterFailures,
		LostAfter: o.LostAfter, Outbound: o.Outbound, Run: o.Run, WorkerID: o.WorkerID,
		LiveLog: o.LiveLog, Metrics: o.Metrics, Tracing: o.Tracing,
	}
	if o.Workers > 0 && o.Run == nil {
		cfg.Scripts = scriptPool(tb, max(o.ScriptProcesses, 2), o.Metrics)
	}
	e, err := runner.NewEngine(cfg)
	if err != nil {
		tb.Fatalf("testutil: engine: %v", err)
	}
	if o.Workers > 0 {
		if err := e.Start(context.Background()); err != nil {
			tb.Fatalf("testutil: start engine: %v", err)
		}
		tb.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = e.Stop(ctx)
		})
	}
	return e
}

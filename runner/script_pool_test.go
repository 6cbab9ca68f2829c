package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// These tests run scripts in real sandbox children: this test binary,
// re-executed (see TestMain).

// lockedBuffer collects the pool's log, children's stderr included.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newTestPool starts a pool of this test binary, closed when t ends. A data
// race reported by a child (run with -race) fails the test.
func newTestPool(tb testing.TB, cfg ScriptPoolConfig) (*ScriptPool, *lockedBuffer) {
	tb.Helper()
	exe, err := os.Executable()
	require.NoError(tb, err)
	if cfg.Command == nil {
		cfg.Command = []string{exe}
		cfg.Env = append(cfg.Env, envSandboxChild+"=1")
	}
	logs := &lockedBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := NewScriptPool(cfg)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		require.NoError(tb, p.Close())
		require.NotContains(tb, logs.String(), "DATA RACE", "a sandbox child reported a data race")
	})
	return p, logs
}

// childPIDs lists the pool's running children.
func (p *ScriptPool) childPIDs() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var pids []int
	for proc := range p.procs {
		if !proc.gone() {
			pids = append(pids, proc.pid)
		}
	}
	return pids
}

const trivialScript = `function main(input) { return input }`

// requireTrivialRun checks the pool (of Size 1) still works and returns the
// pid of the child that ran it.
func requireTrivialRun(t *testing.T, p *ScriptPool) int {
	t.Helper()
	res, err := p.Run(context.Background(), ScriptRequest{Source: trivialScript, Input: json.RawMessage(`{"ok":true}`), Timeout: 10 * time.Second})
	require.NoError(t, err)
	require.JSONEq(t, `{"ok":true}`, string(res.Output))
	slot := <-p.slots
	defer func() { p.slots <- slot }()
	require.NotNil(t, slot.proc)
	return slot.proc.pid
}

func TestScriptPoolRunsScripts(t *testing.T) {
	t.Parallel()
	p, _ := newTestPool(t, ScriptPoolConfig{Size: 1})
	require.Empty(t, p.childPIDs(), "children start when first needed")

	res, err := p.Run(context.Background(), ScriptRequest{
		Source: `function main(input, ctx) {
			console.log("hello", input.name);
			console.error("attempt", ctx.attempt);
			return {greeting: "hi " + input.name, ctx: ctx, html: "<&>"};
		}`,
		Input:   json.RawMessage(`{"name": "Ada"}`),
		Context: json.RawMessage(`{"execution_id": "e1", "bot_id": "b1", "attempt": 3}`),
		Timeout: 10 * time.Second,
	})
	require.NoError(t, err)
	require.JSONEq(t, `{"greeting":"hi Ada","ctx":{"execution_id":"e1","bot_id":"b1","attempt":3},"html":"<&>"}`, string(res.Output))
	require.Equal(t, "hello Ada\n[error] attempt 3\n", res.Logs)

	res, err = p.Run(context.Background(), ScriptRequest{Source: `function main() {}`})
	require.NoError(t, err)
	require.Equal(t, "null", string(res.Output), "undefined is returned as null")

	first := p.childPIDs()
	require.Len(t, first, 1)
	require.Equal(t, first[0], requireTrivialRun(t, p), "one child serves run after run")
}

// TestScriptPoolAbuse runs scripts that must fail cleanly, each followed by
// a trivial run on the same pool. Memory is in TestScriptPoolMemory.
func TestScriptPoolAbuse(t *testing.T) { //nolint:tparallel // subtests share a one-child pool and check whether that child was replaced; they run in order
	t.Parallel()
	p, logs := newTestPool(t, ScriptPoolConfig{Size: 1})
	p.killGrace = 300 * time.Millisecond // the regular expression case waits for it
	cases := []struct {
		name, src string
		timeout   time.Duration
		want      string
		timedOut  bool
		replaced  bool // the child had to be killed
		logs      string
	}{
		{name: "infinite loop", src: `function main() { console.log("looping"); for (;;) {} }`, timeout: 200 * time.Millisecond,
			want: "script timed out after 200ms", timedOut: true, logs: "looping\n"},
		{name: "infinite loop at top level", src: `for (;;) {} function main() {}`, timeout: 200 * time.Millisecond,
			want: "script timed out after 200ms", timedOut: true},
		{name: "uninterruptible built-in", src: `function main() { return /^(\w+\s?)*\1$/.test("a".repeat(60) + "!") }`, timeout: 200 * time.Millisecond,
			want: "script timed out after 200ms", timedOut: true, replaced: true},
		{name: "deep recursion", src: `function f(n) { return f(n + 1) } function main() { return f(0) }`,
			want: "RangeError: maximum call stack size exceeded at line 1"},
		{name: "throw Error", src: "function main() {\n  throw new Error('boom')\n}", want: "Error: boom at line 2, column 9"},
		{name: "throw 42", src: `function main() { throw 42 }`, want: "script threw a value that is not an Error: 42"},
		{name: "throw object", src: `function main() { throw {} }`, want: "script threw a value that is not an Error: {}"},
		{name: "throw null", src: `function main() { throw null }`, want: "script threw a value that is not an Error: null"},
		{name: "returns a function", src: `function main() { return function () {} }`, want: "main returned a function, which is not JSON"},
		{name: "returns a cycle", src: `function main() { const a = {}; a.a = a; return a }`, want: "the output contains a cycle"},
		{name: "returns a BigInt", src: `function main() { return 2n ** 70n }`, want: "the output contains a BigInt"},
		{name: "no main", src: `function mian() {}`, want: "no main function found"},
		{name: "syntax error", src: `function main() { return }}`, want: "SyntaxError at line 1, column 27 of the script"},
		{name: "output over 1 MiB", src: `function main() { return "x".repeat(1100000) }`, want: "the output is 1.0 MiB of JSON; the limit is 1 MiB"},
		{name: "endless log flood", src: `function main() { for (let i = 0; ; i++) console.log("spam " + i) }`, timeout: 300 * time.Millisecond,
			want: "script timed out after 300ms", timedOut: true, logs: logsTruncatedNote},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := requireTrivialRun(t, p)
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 20 * time.Second
			}
			res, err := p.Run(context.Background(), ScriptRequest{Source: tc.src, Timeout: timeout})
			require.Nil(t, res)
			re, ok := AsRunError(err)
			require.True(t, ok, "want a *RunError, got %T: %v", err, err)
			require.Contains(t, re.Message, tc.want)
			require.Equal(t, tc.timedOut, re.TimedOut)
			require.False(t, re.Retryable)
			require.LessOrEqual(t, len(re.Logs), MaxLogBytes)
			if tc.logs != "" {
				require.True(t, strings.HasSuffix(re.Logs, tc.logs), "logs end %q", re.Logs[max(0, len(re.Logs)-40):])
			}
			after := requireTrivialRun(t, p)
			if tc.replaced {
				require.NotEqual(t, before, after, "the stuck child was replaced")
			} else {
				require.Equal(t, before, after, "the child lives on")
			}
		})
	}
	require.Contains(t, logs.String(), "did not stop at its time limit; killed the child")
}

func TestScriptPoolLogFloodIsCapped(t *testing.T) {
	t.Parallel()
	p, _ := newTestPool(t, ScriptPoolConfig{Size: 1})
	res, err := p.Run(context.Background(), ScriptRequest{
		Source:  `function main() { for (let i = 0; i < 50000; i++) console.log("line " + i); return "done" }`,
		Timeout: 30 * time.Second,
	})
	require.NoError(t, err)
	require.Equal(t, `"done"`, string(res.Output))
	require.LessOrEqual(t, len(res.Logs), MaxLogBytes)
	require.True(t, strings.HasPrefix(res.Logs, "line 0\nline 1\n"))
	require.True(t, strings.HasSuffix(res.Logs, "\n"+logsTruncatedNote))
}

func TestScriptPoolCancel(t *testing.T) {
	t.Parallel()
	p, _ := newTestPool(t, ScriptPoolConfig{Size: 1})
	before := requireTrivialRun(t, p)

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	res, err := p.Run(ctx, ScriptRequest{Source: `function main() { for (;;) {} }`, Timeout: time.Minute})
	took := time.Since(start)
	require.Nil(t, res)
	require.ErrorIs(t, err, context.Canceled)
	_, isRunErr := AsRunError(err)
	require.False(t, isRunErr)
	// Well under the script's minute: the cancel interrupted it. (Speed is
	// a benchmark's business; this only guards against waiting it out.)
	require.Less(t, took, 5*time.Second)
	t.Logf("cancelled after %s (cancel at 100ms)", took)

	require.Equal(t, before, requireTrivialRun(t, p), "the interrupted child is reused")

	_, err = p.Run(ctx, ScriptRequest{Source: trivialScript})
	require.ErrorIs(t, err, context.Canceled, "an already cancelled context runs nothing")
}

// TestScriptPoolCancelUninterruptible cancels a script stuck in a built-in:
// Run returns at once and the child is killed after the grace period.
func TestScriptPoolCancelUninterruptible(t *testing.T) {
	t.Parallel()
	p, _ := newTestPool(t, ScriptPoolConfig{Size: 1})
	p.killGrace = 200 * time.Millisecond
	before := requireTrivialRun(t, p)

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := p.Run(ctx, ScriptRequest{Source: `function main() { return /^(\w+\s?)*\1$/.test("a".repeat(60) + "!") }`, Timeout: time.Minute})
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, time.Since(start), 5*time.Second)

	require.NotEqual(t, before, requireTrivialRun(t, p), "the stuck child was killed and replaced")
}

func TestScriptPoolRejectsInvalidJSON(t *testing.T) {
	t.Parallel()
	p, _ := newTestPool(t, ScriptPoolConfig{Size: 1})
	_, err := p.Run(context.Background(), ScriptRequest{Source: trivialScript, Input: json.RawMessage(`{"a":`)})
	require.Equal(t, &RunError{Message: "the input is not valid JSON"}, err)
	_, err = p.Run(context.Background(), ScriptRequest{Source: trivialScript, Context: json.RawMessage(`nope`)})
	require.Equal(t, &RunError{Message: "the run context is not valid JSON"}, err)
	require.Empty(t, p.childPIDs(), "nothing was sent to a child")
}

func TestScriptPoolWaitsForAFreeChild(t *testing.T) {
	t.Parallel()
	p, _ := newTestPool(t, ScriptPoolConfig{Size: 1})
	busy := make(chan error, 1)
	go func() {
		_, err := p.Run(context.Background(), ScriptRequest{Source: `function main() { for (;;) {} }`, Timeout: 500 * time.Millisecond})
		busy <- err
	}()
	require.Eventually(t, func() bool { return len(p.slots) == 0 }, 5*time.Second, time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := p.Run(ctx, ScriptRequest{Source: trivialScript})
	require.ErrorIs(t, err, context.DeadlineExceeded, "the only child is busy")

	requireTrivialRun(t, p) // waits for the loop's time limit
	re, ok := AsRunError(<-busy)
	require.True(t, ok)
	require.True(t, re.TimedOut)
}

func TestScriptPoolConcurrency(t *testing.T) {
	t.Parallel()
	p, _ := newTestPool(t, ScriptPoolConfig{Size: 2})
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			src := fmt.Sprintf(`function main(input) { let s = 0; for (let k = 0; k < 20000; k++) s += k; return {i: input.i, s: s, me: %d} }`, i)
			res, err := p.Run(context.Background(), ScriptRequest{Source: src, Input: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), Timeout: 30 * time.Second})
			if err != nil {
				errs <- err
				return
			}
			if want := fmt.Sprintf(`{"i":%d,"s":199990000,"me":%d}`, i, i); string(res.Output) != want {
				errs <- fmt.Errorf("run %d: got %s, want %s", i, res.Output, want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.LessOrEqual(t, len(p.childPIDs()), 2)
}

func TestScriptPoolChildKilledMidRun(t *testing.T) {
	t.Parallel()
	p, _ := newTestPool(t, ScriptPoolConfig{Size: 1})
	before := requireTrivialRun(t, p)
	time.AfterFunc(100*time.Millisecond, func() { _ = syscall.Kill(before, syscall.SIGKILL) })
	_, err := p.Run(context.Background(), ScriptRequest{Source: `function main() { for (;;) {} }`, Timeout: time.Minute})
	re, ok := AsRunError(err)
	require.True(t, ok, "got %T: %v", err, err)
	require.Equal(t, "sandbox process exited unexpectedly: signal: killed", re.Message)
	require.True(t, re.Retryable)
	require.NotEqual(t, before, requireTrivialRun(t, p), "a new child took its place")
}

func TestScriptPoolChildDiedWhileIdle(t *testing.T) {
	t.Parallel()
	p, _ := newTestPool(t, ScriptPoolConfig{Size: 1})
	before := requireTrivialRun(t, p)
	require.NoError(t, syscall.Kill(before, syscall.SIGKILL))
	require.Eventually(t, func() bool { return len(p.childPIDs()) == 0 }, 5*time.Second, time.Millisecond)
	require.NotEqual(t, before, requireTrivialRun(t, p))
}

func TestScriptPoolSandboxThatDoesNotStart(t *testing.T) {
	t.Parallel()
	p, _ := newTestPool(t, ScriptPoolConfig{Size: 1, Command: []string{"/bin/sh", "-c", "echo 'codex32: unknown command \"sandbox\"' >&2; exit 2"}})
	_, err := p.Run(context.Background(), ScriptRequest{Source: trivialScript})
	re, ok := AsRunError(err)
	require.True(t, ok, "got %T: %v", err, err)
	require.Equal(t, `the script sandbox did not start: exit status 2: codex32: unknown command "sandbox"`, re.Message)
	require.True(t, re.Retryable)

	p2, _ := newTestPool(t, ScriptPoolConfig{Size: 1, Command: []string{"/nonexistent/codex32", "sandbox"}})
	_, err = p2.Run(context.Background(), ScriptRequest{Source: trivialScript})
	re, ok = AsRunError(err)
	require.True(t, ok, "got %T: %v", err, err)
	require.Contains(t, re.Message, "could not start the script sandbox")
}

func TestScriptPoolClose(t *testing.T) {
	t.Parallel()
	p, _ := newTestPool(t, ScriptPoolConfig{Size: 1})
	running := make(chan error, 1)
	started := make(chan string, 1)
	go func() {
		_, err := p.Run(context.Background(), ScriptRequest{Source: `function main() { console.log("in the loop"); for (;;) {} }`, Timeout: time.Minute,
			OnLog: func(line string) { started <- line }})
		running <- err
	}()
	select {
	case line := <-started: // the run reached the child and is looping
		require.Equal(t, "in the loop", line)
	case err := <-running:
		t.Fatalf("the run ended before Close: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the script never started")
	}
	require.NoError(t, p.Close())
	require.ErrorIs(t, <-running, ErrScriptPoolClosed)
	require.Empty(t, p.childPIDs())
	_, err := p.Run(context.Background(), ScriptRequest{Source: trivialScript})
	require.ErrorIs(t, err, ErrScriptPoolClosed)
	require.NoError(t, p.Close(), "Close twice is fine")
}

func TestNewScriptPoolRejectsATinyMemoryLimit(t *testing.T) {
	t.Parallel()
	_, err := NewScriptPool(ScriptPoolConfig{MemoryLimitBytes: 1 << 20})
	require.ErrorContains(t, err, "below the minimum of 16 MiB")
}

func TestScriptPoolChildEnvironmentIsClean(t *testing.T) {
	t.Setenv("CODEX32_TEST_SECRET", "hunter2")
	p, _ := newTestPool(t, ScriptPoolConfig{Size: 1})
	requireTrivialRun(t, p)
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.childPIDs()[0]))
	require.NoError(t, err)
	vars := strings.Split(strings.TrimRight(string(env), "\x00"), "\x00")
	require.ElementsMatch(t, []string{EnvSandboxMemoryLimit + "=268435456", "GOMAXPROCS=2", envSandboxChild + "=1", envSandboxCancelFD + "=3"}, vars)
}

func BenchmarkScriptPoolTrivial(b *testing.B) {
	p, _ := newTestPool(b, ScriptPoolConfig{Size: 2})
	req := ScriptRequest{Source: `function main(input) { return {n: input.n + 1} }`, Input: json.RawMessage(`{"n":1}`), Timeout: 5 * time.Second}
	ctx := context.Background()
	for range 2 { // start both children
		_, err := p.Run(ctx, req)
		require.NoError(b, err)
	}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := p.Run(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := p.Run(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

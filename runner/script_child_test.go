package runner

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// rawChild is this test binary started as a sandbox child, talked to
// directly rather than through a pool.
type rawChild struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	cancels *os.File
	enc     *json.Encoder // requests
	cancel  *json.Encoder // cancels
	dec     *json.Decoder // answers
	stderr  *bytes.Buffer
}

func startRawChild(t *testing.T) *rawChild {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	cancelR, cancelW, err := os.Pipe()
	require.NoError(t, err)
	cmd := exec.CommandContext(t.Context(), exe)
	cmd.Env = []string{envSandboxChild + "=1", EnvSandboxMemoryLimit + "=" + "67108864", envSandboxCancelFD + "=3"}
	cmd.ExtraFiles = []*os.File{cancelR}
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &bytes.Buffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	require.NoError(t, cancelR.Close())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cancelW.Close() })
	c := &rawChild{cmd: cmd, stdin: stdin, cancels: cancelW, enc: json.NewEncoder(stdin), cancel: json.NewEncoder(cancelW),
		dec: json.NewDecoder(stdout), stderr: stderr}
	var hello sandboxResponse
	require.NoError(t, c.dec.Decode(&hello))
	require.NotNil(t, hello.Ready)
	require.Equal(t, int64(64<<20), hello.Ready.MemoryLimit)
	return c
}

func TestScriptSandboxChildProtocol(t *testing.T) {
	t.Parallel()
	c := startRawChild(t)
	enc, dec := c.enc, c.dec
	require.NoError(t, enc.Encode(sandboxRequest{ID: 7, Op: opRun, Source: `function main(i, c) { console.log("x"); return [i, c] }`, Input: json.RawMessage(`1`), Timeout: time.Second}))
	var r sandboxResponse
	require.NoError(t, dec.Decode(&r))
	require.Equal(t, uint64(7), r.ID)
	require.JSONEq(t, `[1, {}]`, string(r.Output))
	require.Equal(t, "x\n", r.Logs)

	require.NoError(t, enc.Encode(sandboxRequest{ID: 8, Op: opRun, Source: `function main() { for (;;) {} }`, Timeout: time.Minute}))
	time.Sleep(20 * time.Millisecond) // let it start: this is the cancel of a running script
	require.NoError(t, c.cancel.Encode(sandboxRequest{ID: 8, Op: opCancel}))
	r = sandboxResponse{}
	require.NoError(t, dec.Decode(&r))
	require.Equal(t, sandboxResponse{ID: 8, Failure: &scriptFailure{Message: "script was cancelled", Kind: failCancelled}}, r)
}

// TestScriptSandboxChildExitsWhenThePoolIsGone: a child whose pool died (its
// pipes closed) does not keep a stuck script running forever.
func TestScriptSandboxChildExitsWhenThePoolIsGone(t *testing.T) {
	t.Parallel()
	c := startRawChild(t)
	cmd, stderr := c.cmd, c.stderr
	require.NoError(t, c.enc.Encode(sandboxRequest{ID: 1, Op: opRun, Source: `function main() { return /^(\w+\s?)*\1$/.test("a".repeat(60) + "!") }`, Timeout: time.Minute}))
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, c.stdin.Close())
	require.NoError(t, c.cancels.Close())

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "got %v", err)
		require.Equal(t, 1, ee.ExitCode())
		require.Contains(t, stderr.String(), "the pool is gone")
	case <-time.After(scriptKillGrace + 10*time.Second):
		t.Fatal("the orphaned child is still running")
	}
}

func TestScriptServerCancelBeforeRunBegins(t *testing.T) {
	t.Parallel()
	var s scriptServer
	s.cancel(5)
	select {
	case <-s.begin(5):
	default:
		t.Fatal("a cancel that came first must cancel the run")
	}
	s.end()
	select {
	case <-s.begin(6):
		t.Fatal("only run 5 was cancelled")
	default:
	}
}

package runner

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
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

	// A live run sends its console lines as it goes: the first one shows
	// the script is running, so this is the cancel of a running script.
	require.NoError(t, enc.Encode(sandboxRequest{ID: 8, Op: opRun, Source: `function main() { console.log("looping"); for (;;) {} }`, Timeout: time.Minute, Live: true}))
	r = sandboxResponse{}
	require.NoError(t, dec.Decode(&r))
	require.Equal(t, uint64(8), r.ID)
	require.NotNil(t, r.Log, "got %+v", r)
	require.Equal(t, "looping", *r.Log)
	require.NoError(t, c.cancel.Encode(sandboxRequest{ID: 8, Op: opCancel}))
	r = sandboxResponse{}
	require.NoError(t, dec.Decode(&r))
	require.Equal(t, sandboxResponse{ID: 8, Logs: "looping\n", Failure: &scriptFailure{Message: "script was cancelled", Kind: failCancelled}}, r)
}

// TestScriptSandboxChildLiveLinesKeepTheCap: a live run sends only the lines
// its logs keep, so a log flood is no message flood.
func TestScriptSandboxChildLiveLinesKeepTheCap(t *testing.T) {
	t.Parallel()
	c := startRawChild(t)
	require.NoError(t, c.enc.Encode(sandboxRequest{ID: 3, Op: opRun, Source: `function main() { for (let i = 0; i < 100000; i++) console.log("line " + i + " " + "x".repeat(100)); return 1 }`, Timeout: time.Minute, Live: true}))
	var sent int
	for {
		var r sandboxResponse
		require.NoError(t, c.dec.Decode(&r))
		require.Equal(t, uint64(3), r.ID)
		if r.Log == nil {
			require.JSONEq(t, `1`, string(r.Output))
			require.True(t, strings.HasSuffix(r.Logs, logsTruncatedNote))
			require.Equal(t, strings.Count(r.Logs, "\n")-1, sent, "one message per kept line")
			return
		}
		sent++
		require.Less(t, sent, 1000, "lines past the cap were sent")
	}
}

// TestScriptSandboxChildExitsWhenThePoolIsGone: a child whose pool died (its
// pipes closed) does not keep a stuck script running forever.
func TestScriptSandboxChildExitsWhenThePoolIsGone(t *testing.T) {
	t.Parallel()
	c := startRawChild(t)
	cmd, stderr := c.cmd, c.stderr
	require.NoError(t, c.enc.Encode(sandboxRequest{ID: 1, Op: opRun, Source: `function main() { console.log("matching"); return /^(\w+\s?)*\1$/.test("a".repeat(60) + "!") }`, Timeout: time.Minute, Live: true}))
	var r sandboxResponse
	require.NoError(t, c.dec.Decode(&r))
	require.NotNil(t, r.Log, "the run started (got %+v)", r)
	// Past its log line the script is a few instructions from the regex, and
	// an interrupt landing there would stop it cleanly. Only the regex can
	// use a tenth of a second of CPU: once it has, the script is stuck in it.
	base := processCPUTicks(t, cmd.Process.Pid)
	require.Eventually(t, func() bool { return processCPUTicks(t, cmd.Process.Pid) >= base+10 }, 30*time.Second, 5*time.Millisecond)
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

// processCPUTicks is the user + system CPU time of a process in clock ticks
// (usually 1/100 s), from /proc/<pid>/stat.
func processCPUTicks(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	require.NoError(t, err)
	// The command name (field 2) may hold spaces: count from its ")".
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	utime, err := strconv.ParseInt(f[11], 10, 64)
	require.NoError(t, err)
	stime, err := strconv.ParseInt(f[12], 10, 64)
	require.NoError(t, err)
	return utime + stime
}

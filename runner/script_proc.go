package runner

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
)

// maxLoggedStderrLines bounds what one child may put in the parent's log.
// A Go fatal error dumps every goroutine; its first lines (the error and
// the failing stack) are the useful part.
const maxLoggedStderrLines = 40

// sandboxProc is one sandbox child process, seen from the pool.
type sandboxProc struct {
	cmd     *exec.Cmd
	pid     int
	log     *slog.Logger
	stdin   io.WriteCloser
	cancels *os.File // the write end of the cancel pipe

	sendMu   sync.Mutex
	enc      *json.Encoder
	cancelMu sync.Mutex

	ready     chan *sandboxReady    // the greeting
	responses chan *sandboxResponse // answers; one run at a time, so one slot
	exited    chan struct{}         // closed when the process is gone and its output read
	// live gets the console lines of the run in progress (set per run).
	live atomic.Pointer[liveRun]

	// rssLimit is the resident size at which the pool kills the child; set
	// from the greeting before the first run.
	rssLimit int64
	// memoryKilled is set when the pool killed it for its size.
	memoryKilled atomic.Bool

	// Set before exited is closed.
	waitErr   error
	firstLine string // the first line on stderr, for start failures
	fatal     string // the Go runtime's "fatal error: …" or "panic: …" line
	outOfMem  bool   // the Go runtime reported it could not get memory
}

// liveRun is a run whose console lines go to onLog as they come.
type liveRun struct {
	id    uint64
	onLog func(string)
}

// startSandboxProc starts argv with env and the goroutines that read its
// output. onExit runs once the process has exited and everything is read.
func startSandboxProc(argv, env []string, log *slog.Logger, onExit func(*sandboxProc)) (*sandboxProc, error) {
	cancelR, cancelW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer func() { _ = cancelR.Close() }() // the child has its own copy
	// The child is pooled and serves many runs, so no one run's context
	// bounds it: the pool kills it. argv is the pool's configured command
	// (by default this binary's own "sandbox"), never user input.
	cmd := exec.Command(argv[0], argv[1:]...) //nolint:noctx,gosec // G204: a pooled child outliving any one context; argv is the pool's own command
	cmd.Env = append(env[:len(env):len(env)], envSandboxCancelFD+"=3")
	cmd.SysProcAttr = sandboxProcAttr()
	cmd.ExtraFiles = []*os.File{cancelR} // fd 3
	stdin, err := cmd.StdinPipe()
	var stdout, stderr io.ReadCloser
	if err == nil {
		stdout, err = cmd.StdoutPipe()
	}
	if err == nil {
		stderr, err = cmd.StderrPipe()
	}
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		_ = cancelW.Close()
		return nil, err
	}
	p := &sandboxProc{
		cmd: cmd, pid: cmd.Process.Pid, stdin: stdin, cancels: cancelW, enc: json.NewEncoder(stdin),
		ready: make(chan *sandboxReady, 1), responses: make(chan *sandboxResponse, 1), exited: make(chan struct{}),
	}
	p.log = log.With("pid", p.pid)
	p.enc.SetEscapeHTML(false)
	stderrDone := make(chan struct{})
	go p.readStderr(stderr, stderrDone)
	go p.readStdout(stdout, stderrDone, onExit)
	return p, nil
}

func (p *sandboxProc) readStdout(stdout io.Reader, stderrDone <-chan struct{}, onExit func(*sandboxProc)) {
	dec := json.NewDecoder(stdout)
	for {
		r := new(sandboxResponse)
		if err := dec.Decode(r); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				p.log.Warn("script sandbox: unreadable answer; stopping the child", "err", err)
				p.kill()
			}
			break
		}
		if r.Ready != nil {
			select {
			case p.ready <- r.Ready:
			default:
			}
			continue
		}
		if r.Log != nil {
			if l := p.live.Load(); l != nil && l.id == r.ID {
				l.onLog(*r.Log)
			}
			continue
		}
		select {
		case p.responses <- r:
		default: // nobody can be waiting for a second answer
			p.log.Warn("script sandbox: unexpected answer", "id", r.ID)
		}
	}
	<-stderrDone
	p.waitErr = p.cmd.Wait()
	p.cancelMu.Lock()
	_ = p.cancels.Close()
	p.cancelMu.Unlock()
	close(p.exited)
	if onExit != nil {
		onExit(p)
	}
}

// readStderr logs what the child writes there (never part of a run) and
// keeps what explains a crash.
func (p *sandboxProc) readStderr(stderr io.Reader, done chan<- struct{}) {
	defer close(done)
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if p.firstLine == "" {
			p.firstLine = line
		}
		if p.fatal == "" && (strings.HasPrefix(line, "fatal error: ") || strings.HasPrefix(line, "panic: ")) {
			p.fatal = line
		}
		if strings.Contains(line, "out of memory") || strings.Contains(line, "cannot allocate memory") {
			p.outOfMem = true
		}
		if n++; n <= maxLoggedStderrLines {
			p.log.Warn("script sandbox stderr", "line", line)
		}
	}
	if n > maxLoggedStderrLines {
		p.log.Warn("script sandbox stderr: lines not logged", "count", n-maxLoggedStderrLines)
	}
	_, _ = io.Copy(io.Discard, stderr) // after an over-long line
}

func (p *sandboxProc) send(req *sandboxRequest) error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	return p.enc.Encode(req)
}

// cancel asks the child to interrupt run id.
func (p *sandboxProc) cancel(id uint64) error {
	b, err := json.Marshal(sandboxRequest{ID: id, Op: opCancel})
	if err != nil {
		return err
	}
	p.cancelMu.Lock()
	defer p.cancelMu.Unlock()
	_, err = p.cancels.Write(append(b, '\n'))
	return err
}

// kill stops the child at once; its goroutines notice and clean up.
func (p *sandboxProc) kill() {
	_ = p.cmd.Process.Kill()
}

// gone reports whether the process has exited.
func (p *sandboxProc) gone() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// checkMemory kills the child if its resident size is over its limit.
func (p *sandboxProc) checkMemory() {
	if p.rssLimit <= 0 {
		return
	}
	if rss, ok := processRSS(p.pid); ok && rss > p.rssLimit {
		p.memoryKilled.Store(true)
		p.log.Warn("script sandbox: over its memory limit; killing it", "rss", rss, "limit", p.rssLimit)
		p.kill()
	}
}

// exitedForMemory reports whether the child died of the memory limit: the
// pool killed it, it gave up on a stuck script, or the kernel's address
// space limit made the Go runtime fail. Call after exited is closed.
func (p *sandboxProc) exitedForMemory() bool {
	var ee *exec.ExitError
	return p.memoryKilled.Load() || p.outOfMem ||
		(errors.As(p.waitErr, &ee) && ee.ExitCode() == sandboxExitMemory)
}

// deathError is the run's error when the child died under it. Call after
// exited is closed.
func (p *sandboxProc) deathError(memoryLimit int64) *RunError {
	if p.exitedForMemory() {
		return &RunError{Message: "script was stopped: it exceeded the memory limit of " + formatBytes(memoryLimit)}
	}
	why := "exited"
	if p.waitErr != nil {
		why = p.waitErr.Error()
	}
	if p.fatal != "" {
		why = p.fatal + " (" + why + ")"
	}
	// A crash may not be the script's doing (the OOM killer, an operator):
	// a later attempt may well succeed.
	return &RunError{Message: "sandbox process exited unexpectedly: " + why, Retryable: true}
}

// startError explains a child that exited before its greeting.
func (p *sandboxProc) startError() error {
	why := "exited"
	if p.waitErr != nil {
		why = p.waitErr.Error()
	}
	if p.firstLine != "" {
		why += ": " + p.firstLine
	}
	return fmt.Errorf("the script sandbox did not start: %s", why)
}

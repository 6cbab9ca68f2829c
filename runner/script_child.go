package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
)

// DefaultScriptMemoryLimit is the memory one script may use unless the
// pool is configured otherwise.
const DefaultScriptMemoryLimit int64 = 256 << 20

// EnvSandboxMemoryLimit carries the memory limit, in bytes, from the pool to
// the sandbox child it starts.
const EnvSandboxMemoryLimit = "CODEX32_SANDBOX_MEMORY_LIMIT"

// envSandboxCancelFD names the child's file descriptor of the cancel pipe.
const envSandboxCancelFD = "CODEX32_SANDBOX_CANCEL_FD"

// sandboxExitMemory is the exit status of a child that gave up on a script
// stuck over the memory limit in a built-in it could not interrupt.
const sandboxExitMemory = 3

// sandboxMaxStack bounds a goroutine's stack in the child. Script recursion
// lives on goja's heap; only built-ins that recurse in Go (JSON.stringify of
// deeply nested values) grow this one.
const sandboxMaxStack = 128 << 20

// ServeScripts is the body of a sandbox child process (codex32 sandbox): it
// reads run requests from in and writes results to out, one script at a
// time, until in ends, and returns the process's exit status. The memory
// limit comes from EnvSandboxMemoryLimit, which the pool sets. It sets
// process-wide limits (the Go memory limit, the maximum stack, and on Linux
// RLIMIT_AS), so only a process that does nothing else may call it; nothing
// else may write to out. Errors go to stderr.
func ServeScripts(in io.Reader, out io.Writer) int {
	limit, err := sandboxMemoryLimitFromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := serveScripts(in, out, limit); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// sandboxMemoryLimitFromEnv reads the limit the pool passes to its children.
func sandboxMemoryLimitFromEnv() (int64, error) {
	s := os.Getenv(EnvSandboxMemoryLimit)
	if s == "" {
		return DefaultScriptMemoryLimit, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < minScriptMemoryLimit {
		return 0, fmt.Errorf("sandbox: invalid %s %q: want a number of bytes, at least %d", EnvSandboxMemoryLimit, s, minScriptMemoryLimit)
	}
	return n, nil
}

func serveScripts(in io.Reader, out io.Writer, limit int64) error {
	// The collector works to keep the heap under the limit, so only live
	// data trips the guard; the guard interrupts the script that holds it.
	debug.SetMemoryLimit(limit)
	debug.SetMaxStack(sandboxMaxStack)
	ready := &sandboxReady{MemoryLimit: limit}
	// The kernel's limit is the last line: a single huge allocation in a
	// built-in fails at once instead of filling the machine's memory.
	if sanitizerBuild() {
		ready.Warning = "no address-space limit: the race detector reserves terabytes of address space"
	} else if as, err := limitAddressSpace(addressSpaceHeadroom(limit)); err != nil {
		ready.Warning = "no address-space limit: " + err.Error()
	} else {
		ready.AddressSpaceLimit = as
	}

	engine := newScriptEngine(limit)
	engine.memoryStuck = func(heap int64) {
		// Nothing else can stop a built-in that is still allocating: leave,
		// and let the pool report the memory limit and start a new child.
		fmt.Fprintf(os.Stderr, "sandbox: script heap reached %s over a limit of %s in a built-in that cannot be interrupted; exiting\n",
			formatBytes(heap), formatBytes(limit))
		os.Exit(sandboxExitMemory)
	}
	s := &scriptServer{engine: engine, enc: json.NewEncoder(out), parentGone: func() {
		// A script stuck in a built-in would otherwise outlive the worker.
		time.AfterFunc(scriptKillGrace, func() {
			fmt.Fprintln(os.Stderr, "sandbox: the pool is gone and the script does not stop; exiting")
			os.Exit(1)
		})
	}}
	s.enc.SetEscapeHTML(false)
	if err := s.enc.Encode(sandboxResponse{Ready: ready}); err != nil {
		return fmt.Errorf("sandbox: greet: %w", err)
	}
	return s.serve(in, cancelPipeFromEnv())
}

// cancelPipeFromEnv opens the cancel pipe the pool passes (see
// envSandboxCancelFD); nil when run without one.
func cancelPipeFromEnv() io.Reader {
	fd, err := strconv.Atoi(os.Getenv(envSandboxCancelFD))
	if err != nil || fd < 3 {
		return nil
	}
	return os.NewFile(uintptr(fd), "sandbox-cancel")
}

// addressSpaceHeadroom is how much address space a child may add to what it
// had at start: twice the limit (the guard stops a heap at twice the limit
// even inside a built-in) plus room for the runtime's own reservations.
func addressSpaceHeadroom(limit int64) int64 { return 2*limit + 512<<20 }

// scriptServer is the child's request loop.
type scriptServer struct {
	engine *scriptEngine
	enc    *json.Encoder
	// parentGone is called when the cancel pipe ends (the pool is gone),
	// while a run may still be going; nil does nothing.
	parentGone func()

	mu        sync.Mutex
	current   uint64        // the run in progress, 0 if none
	cancelCh  chan struct{} // closed to cancel it
	cancelled uint64        // a cancel that arrived before its run began
}

// serve runs the requests read from in, each on this goroutine (a hand-off
// to another would cost a thread wake-up per run), until in ends. Cancels
// come on their own pipe, read meanwhile by readCancels.
func (s *scriptServer) serve(in io.Reader, cancels io.Reader) error {
	if cancels != nil {
		go s.readCancels(cancels)
	}
	dec := json.NewDecoder(in)
	for {
		var m sandboxRequest
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("sandbox: read request: %w", err)
		}
		if m.Op != opRun {
			continue
		}
		cancel := s.begin(m.ID)
		job := &scriptJob{Source: m.Source, Input: m.Input, Context: m.Context, Timeout: m.Timeout}
		if m.Live {
			id := m.ID
			// The script runs on this goroutine: nothing else writes to
			// enc meanwhile. A line that cannot be sent is only lost from
			// the live view; the answer carries all of them.
			job.Live = func(line string) { _ = s.enc.Encode(sandboxResponse{ID: id, Log: &line}) }
		}
		o := s.engine.run(job, cancel)
		s.end()
		if err := s.enc.Encode(sandboxResponse{ID: m.ID, Output: o.Output, Logs: o.Logs, Failure: o.Failure}); err != nil {
			return fmt.Errorf("sandbox: answer run %d: %w", m.ID, err)
		}
	}
}

// readCancels interrupts the runs named on the cancel pipe. The pipe ends
// when the pool is gone; then the current run is stopped too.
func (s *scriptServer) readCancels(cancels io.Reader) {
	dec := json.NewDecoder(cancels)
	for {
		var m sandboxRequest
		if err := dec.Decode(&m); err != nil {
			s.cancel(0)
			if s.parentGone != nil {
				s.parentGone()
			}
			return
		}
		s.cancel(m.ID)
	}
}

func (s *scriptServer) begin(id uint64) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	s.current = id
	if s.cancelled == id {
		close(ch) // cancelled before it began
	} else {
		s.cancelCh = ch
	}
	return ch
}

func (s *scriptServer) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.current, s.cancelCh = 0, nil
}

// cancel interrupts run id; 0 means whatever is running.
func (s *scriptServer) cancel(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancelCh != nil && (id == 0 || id == s.current) {
		close(s.cancelCh)
		s.cancelCh = nil
		return
	}
	s.cancelled = id
}

// sanitizerBuild reports whether this binary was built with the race
// detector (or msan/asan), whose shadow memory needs far more address space
// than RLIMIT_AS can allow.
func sanitizerBuild() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "-race", "-msan", "-asan":
			if s.Value == "true" {
				return true
			}
		}
	}
	return false
}

package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codex32/codex32/internal/telemetry"
)

// ErrScriptPoolClosed is what Run returns once Close has been called.
var ErrScriptPoolClosed = errors.New("runner: the script pool is closed")

const (
	// scriptKillGrace is how long a child may take to answer after its
	// time limit or a cancel before the pool kills it: built-ins (a
	// backtracking regular expression, say) cannot be interrupted.
	scriptKillGrace = 2 * time.Second
	// sandboxStartTimeout bounds a child's start, up to its greeting.
	sandboxStartTimeout = 10 * time.Second
	// rssPollInterval is how often the pool reads a busy child's size.
	rssPollInterval = 10 * time.Millisecond
	// rssSlack is what a child may hold beyond its start size and twice the
	// script limit (runtime overhead, a goroutine stack) before it is killed.
	rssSlack = 64 << 20
	// minScriptMemoryLimit keeps a child able to start at all.
	minScriptMemoryLimit = 16 << 20
)

// ScriptPoolConfig configures NewScriptPool.
type ScriptPoolConfig struct {
	// Size is how many scripts may run at once, each in a child process of
	// its own; 0 means GOMAXPROCS.
	Size int
	// MemoryLimitBytes is the memory one script may use; 0 means
	// DefaultScriptMemoryLimit (256 MiB).
	MemoryLimitBytes int64
	// Command starts a sandbox child; nil means this executable with the
	// argument "sandbox". Tests re-run their own binary.
	Command []string
	// Env is added to the child's environment. The parent's own environment
	// is not passed on, so no secret of the server reaches a script.
	Env []string
	// Logger gets the children's stderr and the pool's warnings; nil
	// discards them.
	Logger *slog.Logger
	// Metrics counts replaced children and reports the pool (nil: none).
	Metrics *telemetry.Metrics
}

// ScriptRequest is one run of a script bot.
type ScriptRequest struct {
	Source string
	// Input is the execution's JSON input (main's first argument); empty means null.
	Input json.RawMessage
	// Context is a small JSON object, main's second argument (execution_id,
	// bot_id, attempt, …); empty means {}.
	Context json.RawMessage
	// Timeout is the run's time limit; 0 means 5 s.
	Timeout time.Duration
	// OnLog, if not nil, gets each console line while the script runs
	// (within the log cap), from another goroutine; it must not block. The
	// result's Logs still holds them all.
	OnLog func(line string)
}

// ScriptPool runs scripts in sandbox child processes (codex32 sandbox), one
// script per child at a time, so that a script that exhausts its memory
// loses only its child. Children start when first needed and are replaced
// when they die, or after a script hit the memory limit (to give the memory
// back). It is safe for concurrent use.
type ScriptPool struct {
	size      int
	limit     int64
	argv, env []string
	log       *slog.Logger
	metrics   *telemetry.Metrics
	killGrace time.Duration

	slots   chan *scriptSlot // free slots; a slot owns at most one child
	closing chan struct{}
	nextID  atomic.Uint64

	mu     sync.Mutex
	closed bool
	procs  map[*sandboxProc]struct{}
	wg     sync.WaitGroup // children and the goroutines that wait on them
}

// scriptSlot is a place for one child; proc is nil until one is started.
type scriptSlot struct{ proc *sandboxProc }

// NewScriptPool makes a pool; it starts no process until the first Run.
func NewScriptPool(cfg ScriptPoolConfig) (*ScriptPool, error) {
	p := &ScriptPool{
		size: cfg.Size, limit: cfg.MemoryLimitBytes, log: cfg.Logger, metrics: cfg.Metrics, killGrace: scriptKillGrace,
		closing: make(chan struct{}), procs: make(map[*sandboxProc]struct{}),
	}
	if p.size <= 0 {
		p.size = runtime.GOMAXPROCS(0)
	}
	switch {
	case p.limit == 0:
		p.limit = DefaultScriptMemoryLimit
	case p.limit < minScriptMemoryLimit:
		return nil, fmt.Errorf("runner: script memory limit %d is below the minimum of %s", p.limit, formatBytes(minScriptMemoryLimit))
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.argv = cfg.Command
	if len(p.argv) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("runner: find the sandbox executable: %w", err)
		}
		p.argv = []string{exe, "sandbox"}
	}
	// Two threads of Go code are plenty for one script; later entries win.
	p.env = append([]string{EnvSandboxMemoryLimit + "=" + strconv.FormatInt(p.limit, 10), "GOMAXPROCS=2"}, cfg.Env...)

	p.slots = make(chan *scriptSlot, p.size)
	for range p.size {
		p.slots <- &scriptSlot{}
	}
	p.metrics.WatchSandbox(p.Stats)
	return p, nil
}

// Stats reports the children alive and those running a script now.
func (p *ScriptPool) Stats() (processes, busy int) {
	p.mu.Lock()
	processes = len(p.procs)
	p.mu.Unlock()
	return processes, p.size - len(p.slots)
}

// Run runs one script in a free child, waiting for one if all are busy. A
// failed, timed-out or over-memory run is a *RunError; if ctx ends first,
// the error wraps ctx's error (context.Canceled when cancelled).
func (p *ScriptPool) Run(ctx context.Context, req ScriptRequest) (*Result, error) {
	if err := checkScriptRequest(req); err != nil {
		return nil, err
	}
	h, err := p.Hold(ctx)
	if err != nil {
		return nil, err
	}
	return h.run(ctx, req)
}

// Hold waits for a free child slot and keeps it for one Run, so a caller
// can begin its work (the engine: mark the attempt running) only once a
// script can start. The holder must Run or Release it.
func (p *ScriptPool) Hold(ctx context.Context) (*ScriptHold, error) {
	if ctx.Err() != nil {
		return nil, cancelledError(ctx)
	}
	select {
	case slot := <-p.slots:
		return &ScriptHold{p: p, slot: slot}, nil
	case <-ctx.Done():
		return nil, cancelledError(ctx)
	case <-p.closing:
		return nil, ErrScriptPoolClosed
	}
}

// ScriptHold is a slot of the pool held for one run.
type ScriptHold struct {
	p    *ScriptPool
	mu   sync.Mutex
	slot *scriptSlot // nil once run or released
}

func (h *ScriptHold) take() *scriptSlot {
	h.mu.Lock()
	defer h.mu.Unlock()
	slot := h.slot
	h.slot = nil
	return slot
}

// Run runs one script on the held slot (see ScriptPool.Run); the slot goes
// back to the pool when it is done. A hold runs once.
func (h *ScriptHold) Run(ctx context.Context, req ScriptRequest) (*Result, error) {
	if err := checkScriptRequest(req); err != nil {
		h.Release()
		return nil, err
	}
	return h.run(ctx, req)
}

func (h *ScriptHold) run(ctx context.Context, req ScriptRequest) (*Result, error) {
	slot := h.take()
	if slot == nil {
		return nil, errors.New("runner: this script slot was already used")
	}
	p := h.p
	if ctx.Err() != nil {
		p.slots <- slot
		return nil, cancelledError(ctx)
	}
	proc, err := p.procFor(ctx, slot)
	if err != nil {
		p.slots <- slot
		return nil, err
	}
	return p.runOn(ctx, slot, proc, req)
}

// Release gives the slot back unused; after Run it does nothing. A nil
// hold is allowed.
func (h *ScriptHold) Release() {
	if h == nil {
		return
	}
	if slot := h.take(); slot != nil {
		h.p.slots <- slot
	}
}

func checkScriptRequest(req ScriptRequest) error {
	if len(req.Input) > 0 && !json.Valid(req.Input) {
		return &RunError{Message: "the input is not valid JSON"}
	}
	if len(req.Context) > 0 && !json.Valid(req.Context) {
		return &RunError{Message: "the run context is not valid JSON"}
	}
	return nil
}

// Close kills the children and waits for them to exit. Runs in progress
// fail with ErrScriptPoolClosed.
func (p *ScriptPool) Close() error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.closing)
	}
	procs := make([]*sandboxProc, 0, len(p.procs))
	for proc := range p.procs {
		procs = append(procs, proc)
	}
	p.mu.Unlock()
	for _, proc := range procs {
		proc.kill()
	}
	p.wg.Wait()
	return nil
}

func (p *ScriptPool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// procFor returns the slot's child, starting one if it has none or it died.
func (p *ScriptPool) procFor(ctx context.Context, slot *scriptSlot) (*sandboxProc, error) {
	if slot.proc != nil && !slot.proc.gone() {
		return slot.proc, nil
	}
	slot.proc = nil
	proc, err := p.startProc(ctx)
	if err != nil {
		return nil, err
	}
	slot.proc = proc
	return proc, nil
}

func (p *ScriptPool) startProc(ctx context.Context) (*sandboxProc, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrScriptPoolClosed
	}
	p.wg.Add(1)
	p.mu.Unlock()

	proc, err := startSandboxProc(p.argv, p.env, p.log, func(proc *sandboxProc) {
		p.mu.Lock()
		delete(p.procs, proc)
		p.mu.Unlock()
		p.wg.Done()
	})
	if err != nil {
		p.wg.Done()
		return nil, &RunError{Message: "could not start the script sandbox: " + err.Error(), Retryable: true}
	}
	p.mu.Lock()
	closed := p.closed
	if !closed {
		p.procs[proc] = struct{}{}
	}
	p.mu.Unlock()
	if closed {
		proc.kill()
		return nil, ErrScriptPoolClosed
	}

	timer := time.NewTimer(sandboxStartTimeout)
	defer timer.Stop()
	select {
	case r := <-proc.ready:
		if r.Warning != "" {
			proc.log.Warn("script sandbox: " + r.Warning)
		}
		base, _ := processRSS(proc.pid)
		proc.rssLimit = base + 2*p.limit + rssSlack
		proc.log.Debug("script sandbox started", "rss", base, "rss_limit", proc.rssLimit,
			"memory_limit", r.MemoryLimit, "address_space_limit", r.AddressSpaceLimit)
		return proc, nil
	case <-proc.exited:
		if p.isClosed() {
			return nil, ErrScriptPoolClosed
		}
		return nil, &RunError{Message: proc.startError().Error(), Retryable: true}
	case <-ctx.Done():
		proc.kill()
		return nil, cancelledError(ctx)
	case <-timer.C:
		proc.kill()
		return nil, &RunError{Message: "the script sandbox did not start within " + sandboxStartTimeout.String(), Retryable: true}
	}
}

// runOn runs req on proc, which belongs to slot, and gives the slot back.
func (p *ScriptPool) runOn(ctx context.Context, slot *scriptSlot, proc *sandboxProc, req ScriptRequest) (*Result, error) {
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = defaultScriptTimeout
	}
	id := p.nextID.Add(1)
	msg := &sandboxRequest{ID: id, Op: opRun, Source: req.Source, Input: req.Input, Context: req.Context, Timeout: timeout, Live: req.OnLog != nil}
	if req.OnLog != nil {
		live := &liveRun{id: id, onLog: req.OnLog}
		proc.live.Store(live)
		// Lines of a run that was given up on (cancelled, timed out) stop
		// here: its answer may come later, its lines are not wanted.
		defer proc.live.CompareAndSwap(live, nil)
	}
	if err := proc.send(msg); err != nil {
		// The child died since its last run; its exit explains why.
		res := awaitExited
		if !proc.gone() {
			// Waiting for the child's exit is bounded by killGrace, not ctx.
			_, res = p.await(context.WithoutCancel(ctx), proc, id, time.Now().Add(p.killGrace))
		}
		p.retire(slot, p.deathReason(proc))
		if p.isClosed() {
			return nil, ErrScriptPoolClosed
		}
		if res == awaitExited {
			return nil, proc.deathError(p.limit)
		}
		return nil, &RunError{Message: "could not send the script to the sandbox: " + err.Error(), Retryable: true}
	}

	resp, res := p.await(ctx, proc, id, time.Now().Add(timeout+p.killGrace))
	switch res {
	case awaitAnswered:
		if resp.Failure != nil && resp.Failure.Kind == failMemory {
			p.retire(slot, restartMemory)
		} else {
			p.slots <- slot
		}
		return answerResult(resp)
	case awaitExited:
		p.retire(slot, p.deathReason(proc))
		if p.isClosed() {
			return nil, ErrScriptPoolClosed
		}
		return nil, proc.deathError(p.limit)
	case awaitDeadline:
		p.retire(slot, restartTimeout)
		proc.log.Warn("script sandbox: the script did not stop at its time limit; killed the child", "timeout", timeout)
		return nil, &RunError{Message: timedOutMessage(timeout), TimedOut: true}
	default: // awaitCancelled
		_ = proc.cancel(id)
		// An interrupt usually lands at once: wait a moment for the
		// child's answer, which carries the logs printed so far.
		// ctx is cancelled already; the wait is bounded by its deadline.
		resp, res := p.await(context.WithoutCancel(ctx), proc, id, time.Now().Add(min(cancelAnswerWait, p.killGrace)))
		if res != awaitAnswered {
			p.drain(ctx, slot, proc, id)
			return nil, cancelledError(ctx)
		}
		if resp.Failure != nil && resp.Failure.Kind == failMemory {
			p.retire(slot, restartMemory)
		} else {
			p.slots <- slot
		}
		return nil, &StoppedError{Cause: ctx.Err(), Logs: resp.Logs}
	}
}

// drain waits in the background for the answer to a cancelled run, so the
// slot's child is reused if it stops in time and killed if it does not.
func (p *ScriptPool) drain(ctx context.Context, slot *scriptSlot, proc *sandboxProc, id uint64) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.retire(slot, "")
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		// The run's ctx is cancelled; this outlives it, bounded by killGrace.
		resp, res := p.await(context.WithoutCancel(ctx), proc, id, time.Now().Add(p.killGrace))
		if res == awaitAnswered && (resp.Failure == nil || resp.Failure.Kind != failMemory) {
			p.slots <- slot
			return
		}
		reason := restartCancel
		if res == awaitAnswered {
			reason = restartMemory
		}
		p.retire(slot, reason)
	}()
}

// Why a child was replaced (codex32_sandbox_restarts_total{reason}).
const (
	restartMemory  = "memory"
	restartTimeout = "timeout"
	restartCrash   = "crash"
	restartCancel  = "cancel"
)

// deathReason says why a child that exited on its own did.
func (p *ScriptPool) deathReason(proc *sandboxProc) string {
	if proc.gone() && proc.exitedForMemory() {
		return restartMemory
	}
	return restartCrash
}

// retire kills the slot's child and frees the slot once the child is gone,
// so that a replacement never runs beside the memory it replaces. reason
// (see restart*) is counted unless the pool is closing or empty.
func (p *ScriptPool) retire(slot *scriptSlot, reason string) {
	proc := slot.proc
	slot.proc = nil
	if proc != nil && reason != "" && !p.isClosed() {
		p.metrics.SandboxRestart(reason)
	}
	if proc == nil || proc.gone() {
		p.slots <- slot
		return
	}
	proc.kill()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.slots <- slot
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		<-proc.exited
		p.slots <- slot
	}()
}

type awaitResult int

const (
	awaitAnswered awaitResult = iota
	awaitExited
	awaitDeadline
	awaitCancelled
)

// await waits for the answer to run id, watching the child's size meanwhile;
// past deadline it kills the child.
func (p *ScriptPool) await(ctx context.Context, proc *sandboxProc, id uint64, deadline time.Time) (*sandboxResponse, awaitResult) {
	timer := time.NewTimer(min(rssPollInterval, time.Until(deadline)))
	defer timer.Stop()
	for {
		select {
		case r := <-proc.responses:
			if r.ID == id {
				return r, awaitAnswered
			}
		case <-proc.exited:
			// It may have answered just before it went.
			select {
			case r := <-proc.responses:
				if r.ID == id {
					return r, awaitAnswered
				}
			default:
			}
			return nil, awaitExited
		case <-ctx.Done():
			return nil, awaitCancelled
		case now := <-timer.C:
			if !now.Before(deadline) {
				proc.kill()
				return nil, awaitDeadline
			}
			proc.checkMemory()
			timer.Reset(min(rssPollInterval, deadline.Sub(now)))
		}
	}
}

// answerResult turns a child's answer into Run's result.
func answerResult(r *sandboxResponse) (*Result, error) {
	f := r.Failure
	if f == nil {
		out := r.Output
		if len(out) == 0 {
			out = json.RawMessage("null")
		}
		return &Result{Output: out, Logs: r.Logs}, nil
	}
	return nil, &RunError{Message: f.Message, TimedOut: f.Kind == failTimeout, Logs: r.Logs}
}

// cancelAnswerWait is how long a cancelled run waits for the child's
// answer (and its logs) before leaving it to drain in the background.
const cancelAnswerWait = 300 * time.Millisecond

// StoppedError is a run stopped by its context (errors.Is finds
// context.Canceled), with the logs it printed before.
type StoppedError struct {
	Cause error
	Logs  string
}

func (e *StoppedError) Error() string { return "runner: script run stopped: " + e.Cause.Error() }
func (e *StoppedError) Unwrap() error { return e.Cause }

// cancelledError wraps ctx's error so errors.Is finds context.Canceled (or
// DeadlineExceeded).
func cancelledError(ctx context.Context) error {
	return fmt.Errorf("runner: script run stopped: %w", ctx.Err())
}

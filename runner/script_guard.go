package runner

import (
	"math"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
)

// memoryPollInterval is how often a running script's heap is measured.
// Reading the metric costs about a microsecond.
const memoryPollInterval = 2 * time.Millisecond

// memoryStuckAfter is how long a run may stay over the memory limit after
// it was interrupted before the child gives up on it: built-ins such as
// String.prototype.repeat run in Go and cannot be interrupted.
const memoryStuckAfter = 100 * time.Millisecond

// stopReason is why the guard interrupted a run; it is also the value goja
// carries in the *goja.InterruptedError.
type stopReason int32

const (
	stopNone stopReason = iota
	stopTimeout
	stopCancelled
	stopMemory
)

// scriptGuard watches one run: it interrupts the runtime when the time is
// up, when the caller cancels, or when the heap grows over the limit.
type scriptGuard struct {
	vm       *goja.Runtime
	done     chan struct{}
	finished atomic.Bool
	stopped  atomic.Int32 // the first stopReason
	memory   atomic.Bool  // the heap went over the limit at some point
}

// startScriptGuard starts watching; call finish when the run is over.
// memoryLimit 0 turns the memory watch off; stuck (may be nil) is called when
// the heap stays over the limit after the interrupt, or reaches twice it.
func startScriptGuard(vm *goja.Runtime, timeout time.Duration, memoryLimit int64, cancel <-chan struct{}, stuck func(heapBytes int64)) *scriptGuard {
	g := &scriptGuard{vm: vm, done: make(chan struct{})}
	go g.watch(timeout, memoryLimit, cancel, stuck)
	return g
}

func (g *scriptGuard) finish() {
	g.finished.Store(true)
	close(g.done)
}

// reason is why the run was interrupted, if it was.
func (g *scriptGuard) reason() stopReason { return stopReason(g.stopped.Load()) }

// memoryExceeded reports whether the heap went over the limit during the run.
func (g *scriptGuard) memoryExceeded() bool { return g.memory.Load() }

func (g *scriptGuard) stop(r stopReason) {
	if g.stopped.CompareAndSwap(int32(stopNone), int32(r)) {
		g.vm.Interrupt(r)
	}
}

func (g *scriptGuard) watch(timeout time.Duration, limit int64, cancel <-chan struct{}, stuck func(int64)) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var poll <-chan time.Time
	if limit > 0 {
		t := time.NewTicker(memoryPollInterval)
		defer t.Stop()
		poll = t.C
	}
	var overSince time.Time
	for {
		select {
		case <-g.done:
			return
		case <-deadline.C:
			g.stop(stopTimeout)
		case <-cancel:
			g.stop(stopCancelled)
			cancel = nil
		case now := <-poll:
			heap := heapObjectBytes()
			if heap <= limit || g.finished.Load() {
				continue
			}
			if overSince.IsZero() {
				overSince = now
				g.memory.Store(true)
				// Stop even a run that is already stopping for another reason:
				// the memory verdict wins and the child is replaced.
				g.stopped.Store(int32(stopMemory))
				g.vm.Interrupt(stopMemory)
			}
			if stuck != nil && !g.finished.Load() && (heap > 2*limit || now.Sub(overSince) > memoryStuckAfter) {
				stuck(heap)
			}
		}
	}
}

// heapObjectBytes is the memory held by heap objects, live or not yet swept.
// With debug.SetMemoryLimit at the script limit the collector keeps garbage
// below it, so going over means live data (or one huge allocation) did.
func heapObjectBytes() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(min(s[0].Value.Uint64(), math.MaxInt64))
}

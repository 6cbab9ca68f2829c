package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dop251/goja"
)

// This file runs one script in one fresh goja runtime. It knows nothing of
// processes: script_child.go serves it over a pipe inside a sandbox child
// process and script_pool.go runs those children.

// scriptFileName is the name positions in the script refer to.
const scriptFileName = "script.js"

// maxScriptCallDepth bounds JavaScript recursion (built-ins count as
// frames). goja keeps its call stack on the heap, so without it a runaway
// recursion only ends at the memory limit. Node allows about 11,000; less
// here because goja unwinds an exception through nested built-in calls
// (f → Array.prototype.map → f …) in time quadratic in the depth, in Go code
// a timeout cannot interrupt: about 1 s at 5,000 frames, 3–6 s at 10,000.
const maxScriptCallDepth = 5_000

// defaultScriptTimeout applies when a job does not say.
const defaultScriptTimeout = 5 * time.Second

// scriptJob is one run of a script.
type scriptJob struct {
	Source  string
	Input   json.RawMessage // the execution's input; empty means null
	Context json.RawMessage // a small object passed as main's second argument; empty means {}
	Timeout time.Duration
	// Live, if not nil, gets each console line as it is written (within
	// the log cap), on the run's goroutine.
	Live func(line string)
}

// failureKind says why a run stopped when it did not fail on its own.
type failureKind string

const (
	failScript    failureKind = ""          // threw, bad output, syntax error, …
	failTimeout   failureKind = "timeout"   // hit its time limit
	failCancelled failureKind = "cancelled" // the caller cancelled it
	failMemory    failureKind = "memory"    // exceeded the memory limit
)

// scriptFailure is why a run failed, in words for the bot's owner.
type scriptFailure struct {
	Message string      `json:"message"`
	Kind    failureKind `json:"kind,omitempty"`
}

// scriptOutcome is what one run produced: Output on success, Failure otherwise.
type scriptOutcome struct {
	Output  json.RawMessage
	Logs    string
	Failure *scriptFailure
}

// scriptEngine runs jobs, each in a runtime of its own. It is safe for
// concurrent use, but its memory watch measures the whole process, so a
// sandbox child runs one job at a time.
type scriptEngine struct {
	programs *programCache
	// memoryLimit is the heap a run may use; 0 turns the watch off.
	memoryLimit int64
	// memoryStuck is called when the heap stays over the limit although the
	// run was interrupted (a built-in such as String.prototype.repeat cannot
	// be interrupted). The sandbox child exits; nil does nothing.
	memoryStuck func(heapBytes int64)
}

func newScriptEngine(memoryLimit int64) *scriptEngine {
	return &scriptEngine{programs: newProgramCache(programCacheSize), memoryLimit: memoryLimit}
}

// scriptProblem is a failure found by this package rather than thrown by
// the script; its text is the whole message.
type scriptProblem string

func (p scriptProblem) Error() string { return string(p) }

// promiseType identifies a promise without exporting the object (which, for
// a plain object, would copy it).
var promiseType = reflect.TypeOf((*goja.Promise)(nil))

const mainHintRun = "define a top-level function main(input, ctx) that returns the output"

// run runs job in a fresh runtime. Closing cancel interrupts it.
func (e *scriptEngine) run(job *scriptJob, cancel <-chan struct{}) (out scriptOutcome) {
	prg, failure := e.programs.compile(job.Source)
	if failure != nil {
		return scriptOutcome{Failure: failure}
	}
	timeout := job.Timeout
	if timeout <= 0 {
		timeout = defaultScriptTimeout
	}

	vm := goja.New()
	vm.SetMaxCallStackSize(maxScriptCallDepth)
	r := &scriptRun{vm: vm, logs: &logBuffer{onLine: job.Live}}
	g := startScriptGuard(vm, timeout, e.memoryLimit, cancel, e.memoryStuck)
	defer func() {
		g.finish()
		// goja is not ours: a bug in it must fail the run, not the process.
		if p := recover(); p != nil {
			out = scriptOutcome{Failure: &scriptFailure{Message: fmt.Sprintf("the script engine failed: %v", p)}}
		}
		out.Logs = r.logs.String()
		if g.memoryExceeded() {
			out.Output = nil
			out.Failure = &scriptFailure{Message: memoryExceededMessage(e.memoryLimit), Kind: failMemory}
		}
	}()

	output, err := r.execute(prg, job)
	if err != nil {
		return scriptOutcome{Failure: r.failure(err, g.reason(), timeout)}
	}
	return scriptOutcome{Output: output}
}

// scriptRun is the state of one run.
type scriptRun struct {
	vm        *goja.Runtime
	logs      *logBuffer
	parse     goja.Callable // JSON.parse and JSON.stringify, taken before the
	stringify goja.Callable // script could replace them
}

func (r *scriptRun) execute(prg *goja.Program, job *scriptJob) (json.RawMessage, error) {
	jsonObj := r.vm.Get("JSON").ToObject(r.vm)
	r.parse, _ = goja.AssertFunction(jsonObj.Get("parse"))
	r.stringify, _ = goja.AssertFunction(jsonObj.Get("stringify"))
	installConsole(r.vm, r.logs, r.stringify)

	input, err := r.parseJSON(job.Input, "null")
	if err != nil {
		return nil, scriptProblem("the input is not valid JSON: " + err.Error())
	}
	ctx, err := r.parseJSON(job.Context, "{}")
	if err != nil {
		return nil, scriptProblem("the run context is not valid JSON: " + err.Error())
	}
	if _, err := r.vm.RunProgram(prg); err != nil {
		return nil, err
	}
	mainFn, ok := goja.AssertFunction(r.vm.Get("main"))
	if !ok {
		return nil, scriptProblem("no main function found; " + mainHintRun)
	}
	ret, err := mainFn(goja.Undefined(), input, ctx)
	if err != nil {
		return nil, err
	}
	return r.toJSON(ret)
}

func (r *scriptRun) parseJSON(raw json.RawMessage, empty string) (goja.Value, error) {
	s := empty
	if len(raw) > 0 {
		s = string(raw)
	}
	return r.parse(goja.Undefined(), r.vm.ToValue(s))
}

// toJSON turns main's return value into the run's output. undefined becomes
// null, as it would in JSON.stringify({output: undefined}) read back.
func (r *scriptRun) toJSON(ret goja.Value) (json.RawMessage, error) {
	if o, ok := ret.(*goja.Object); ok && o.ExportType() == promiseType {
		p, _ := o.Export().(*goja.Promise)
		switch {
		case p == nil:
		case p.State() == goja.PromiseStateFulfilled:
			ret = p.Result()
		case p.State() == goja.PromiseStateRejected:
			return nil, scriptProblem(r.describeThrow("main's promise was rejected with", p.Result(), nil))
		default:
			return nil, scriptProblem("main returned a promise that never settled; scripts have no timers or I/O, so there is nothing to wait for")
		}
	}
	switch v := ret.(type) {
	case nil:
		return json.RawMessage("null"), nil
	case *goja.Symbol:
		return nil, scriptProblem("main returned a Symbol, which is not JSON; return an object, array, string, number, boolean or null")
	case *goja.Object:
		if _, isFn := goja.AssertFunction(v); isFn {
			return nil, scriptProblem("main returned a function, which is not JSON; return an object, array, string, number, boolean or null")
		}
	}
	if goja.IsUndefined(ret) {
		return json.RawMessage("null"), nil
	}

	s, err := r.stringify(goja.Undefined(), ret)
	if err != nil {
		return nil, outputJSONError(err)
	}
	if goja.IsUndefined(s) {
		return json.RawMessage("null"), nil
	}
	out := s.String()
	if len(out) > MaxOutputBytes {
		return nil, scriptProblem(fmt.Sprintf("the output is %s of JSON; the limit is %s", formatBytes(int64(len(out))), formatBytes(MaxOutputBytes)))
	}
	return json.RawMessage(out), nil
}

// outputJSONError explains why JSON.stringify refused the output.
func outputJSONError(err error) error {
	var ex *goja.Exception
	if !errors.As(err, &ex) {
		return err // an interrupt: the guard's reason explains it
	}
	msg := ex.Value().String()
	switch {
	case strings.Contains(msg, "circular"):
		return scriptProblem("the output contains a cycle (an object that refers to itself), which JSON cannot represent")
	case strings.Contains(msg, "BigInt"):
		return scriptProblem("the output contains a BigInt, which JSON cannot represent; convert it with String(x) or Number(x) first")
	default:
		return scriptProblem("the output cannot be turned into JSON: " + msg)
	}
}

// failure turns a run's error into a message for the bot's owner.
func (r *scriptRun) failure(err error, stopped stopReason, timeout time.Duration) *scriptFailure {
	switch stopped {
	case stopTimeout:
		return &scriptFailure{Message: timedOutMessage(timeout), Kind: failTimeout}
	case stopCancelled:
		return &scriptFailure{Message: "script was cancelled", Kind: failCancelled}
	}
	var (
		problem  scriptProblem
		overflow *goja.StackOverflowError
		ex       *goja.Exception
	)
	switch {
	case errors.As(err, &problem):
		return &scriptFailure{Message: string(problem)}
	case errors.As(err, &overflow):
		return &scriptFailure{Message: "RangeError: maximum call stack size exceeded" + where(overflow.Stack())}
	case errors.As(err, &ex):
		return &scriptFailure{Message: r.describeThrow("script threw", ex.Value(), ex.Stack())}
	}
	return &scriptFailure{Message: err.Error()}
}

// describeThrow describes a thrown (or rejected) value: an Error by its
// name and message, anything else by what it is.
func (r *scriptRun) describeThrow(verb string, val goja.Value, stack []goja.StackFrame) string {
	if o, ok := val.(*goja.Object); ok && o.ClassName() == "Error" {
		return safeString(val.String, "Error") + where(stack)
	}
	return verb + " a value that is not an Error: " + r.describeValue(val) + where(stack)
}

// describeValue is a short, readable form of a thrown non-Error value.
func (r *scriptRun) describeValue(v goja.Value) string {
	const max = 200
	var s string
	switch {
	case v == nil || goja.IsUndefined(v):
		return "undefined"
	case goja.IsNull(v):
		return "null"
	}
	switch v.(type) {
	case *goja.Object:
		s = safeString(func() string {
			j, err := r.stringify(goja.Undefined(), v)
			if err != nil || goja.IsUndefined(j) {
				return v.String()
			}
			return j.String()
		}, "an object")
	case *goja.Symbol:
		s = "Symbol(" + v.String() + ")"
	default:
		if str, ok := v.Export().(string); ok {
			s = strconv.Quote(str)
		} else {
			s = v.String()
		}
	}
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// where is " at line L, column C" for the innermost frame in the script.
func where(stack []goja.StackFrame) string {
	for i := range stack {
		if stack[i].SrcName() != scriptFileName {
			continue
		}
		if p := stack[i].Position(); p.Line > 0 {
			return fmt.Sprintf(" at line %d, column %d", p.Line, p.Column)
		}
	}
	return ""
}

// safeString calls f, which may run script code (a toString, a getter), and
// returns fallback if that throws or was interrupted.
func safeString(f func() string, fallback string) (s string) {
	defer func() {
		if recover() != nil {
			s = fallback
		}
	}()
	return f()
}

func timedOutMessage(timeout time.Duration) string {
	return "script timed out after " + timeout.String()
}

func memoryExceededMessage(limit int64) string {
	return "script exceeded the memory limit of " + formatBytes(limit)
}

// formatBytes writes sizes the way limits are configured: "256 MiB", "1.5 MiB", "900 bytes".
func formatBytes(n int64) string {
	const mib = 1 << 20
	switch {
	case n >= mib && n%mib == 0:
		return strconv.FormatInt(n/mib, 10) + " MiB"
	case n >= mib:
		return strconv.FormatFloat(float64(n)/mib, 'f', 1, 64) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	default:
		return strconv.FormatInt(n, 10) + " bytes"
	}
}

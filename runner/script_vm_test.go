package runner

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// These tests run scripts in this process, without a sandbox child: fast,
// and under -race they check the engine's own goroutines. Nothing here may
// allocate much: this process has no memory limit.

func runInProcess(t *testing.T, src, input string) scriptOutcome {
	t.Helper()
	e := newScriptEngine(0)
	return e.run(&scriptJob{Source: src, Input: json.RawMessage(input), Context: json.RawMessage(`{"attempt":2}`), Timeout: 5 * time.Second}, nil)
}

func TestScriptEngineOutputs(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, src, input, want string }{
		{"object", `function main() { return {a: 1, b: [true, null, "x"]} }`, ``, `{"a":1,"b":[true,null,"x"]}`},
		{"number", `function main() { return 1.5 }`, ``, `1.5`},
		{"string with markup", `function main() { return "<b>&</b>" }`, ``, `"<b>&</b>"`},
		{"undefined is null", `function main() { }`, ``, `null`},
		{"input passes through", `function main(input) { return input }`, `{"n":[1,2,{"k":"v"}]}`, `{"n":[1,2,{"k":"v"}]}`},
		{"no input is null", `function main(input) { return input === null }`, ``, `true`},
		{"ctx passes through", `function main(input, ctx) { return ctx.attempt }`, ``, `2`},
		{"arrow main", `const main = (input) => input.n * 2`, `{"n":21}`, `42`},
		{"async main", `async function main(input) { const v = await Promise.resolve(input.n); return v + 1 }`, `{"n":1}`, `2`},
		{"toJSON undefined", `function main() { return {toJSON() { return undefined }} }`, ``, `null`},
		{"nested functions dropped as JSON does", `function main() { return {f() {}, a: 1} }`, ``, `{"a":1}`},
		{"replaced JSON does not matter", `JSON = null; function main() { return [1] }`, ``, `[1]`},
		{"lone surrogate escaped", `function main() { return "\ud800" }`, ``, `"\ud800"`},
		{"console is an object", `function main() { return [typeof console, typeof console.log] }`, ``, `["object","function"]`},
		{"console can be replaced", `console = {log() {}}; function main() { console.log("x"); return 1 }`, ``, `1`},
		{"no require, timers or I/O", `function main() { return [typeof require, typeof setTimeout, typeof fetch, typeof process] }`, ``, `["undefined","undefined","undefined","undefined"]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := runInProcess(t, tc.src, tc.input)
			require.Nil(t, o.Failure)
			require.JSONEq(t, tc.want, string(o.Output))
		})
	}
}

func TestScriptEngineConsole(t *testing.T) {
	t.Parallel()
	o := runInProcess(t, `function main() {
		console.log("plain", 1, true, null, undefined);
		console.info({a: [1, 2]});
		console.warn("careful");
		console.error(new TypeError("bad"));
		console.debug(function f() {}, Symbol("s"));
		const c = {}; c.c = c; console.log(c);
		return 1;
	}`, "")
	require.Nil(t, o.Failure)
	require.Equal(t, "plain 1 true null undefined\n"+
		`{"a":[1,2]}`+"\n"+
		"[warn] careful\n"+
		"[error] TypeError: bad\n"+
		"[Function] Symbol(s)\n"+
		"[object Object]\n", o.Logs)
}

func TestScriptEngineFailures(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, src, input, want string }{
		{"thrown Error with position", "function main() {\n  throw new Error('boom')\n}", "", "Error: boom at line 2, column 9"},
		{"runtime TypeError", "function main() {\n  return null.x\n}", "", "TypeError: Cannot read property 'x' of"},
		{"throw 42", `function main() { throw 42 }`, "", "script threw a value that is not an Error: 42 at line 1, column 19"},
		{"throw object", `function main() { throw {a: 1} }`, "", `script threw a value that is not an Error: {"a":1} at line 1`},
		{"throw null", `function main() { throw null }`, "", "script threw a value that is not an Error: null at line 1"},
		{"throw undefined", `function main() { throw undefined }`, "", "script threw a value that is not an Error: undefined at line 1"},
		{"throw string", `function main() { throw "oops" }`, "", `script threw a value that is not an Error: "oops" at line 1`},
		{"throw with throwing toString", `function main() { const e = new Error("x"); e.toString = () => { throw 1 }; throw e }`, "", "Error at line 1"},
		{"returns a function", `function main() { return () => 1 }`, "", "main returned a function, which is not JSON"},
		{"returns a symbol", `function main() { return Symbol("s") }`, "", "main returned a Symbol, which is not JSON"},
		{"returns a cycle", `function main() { const a = {}; a.a = a; return a }`, "", "the output contains a cycle"},
		{"returns a BigInt", `function main() { return {n: 10n} }`, "", "the output contains a BigInt"},
		{"deep recursion", `function f(n) { return f(n + 1) + 1 } function main() { return f(0) }`, "", "RangeError: maximum call stack size exceeded at line 1"},
		{"recursion through a built-in", `function f(n) { return [n].map(f) } function main() { return f(0) }`, "", "maximum call stack size exceeded"},
		{"syntax error", "function main() {\n  return (\n}", "", "SyntaxError at line 3, column 1 of the script"},
		{"no main", `function helper() { return 1 }`, "", "no main function found; define a top-level function main(input, ctx)"},
		{"main not a function", `var main = 5`, "", "no main function found"},
		{"top-level throw", `throw new RangeError("early"); function main() {}`, "", "RangeError: early at line 1"},
		{"output over 1 MiB", `function main() { return "x".repeat(2 << 20) }`, "", "the output is 2.0 MiB of JSON; the limit is 1 MiB"},
		{"rejected promise", `async function main() { throw new TypeError("later") }`, "", "TypeError: later"},
		{"rejected with non-Error", `function main() { return Promise.reject(7) }`, "", "main's promise was rejected with a value that is not an Error: 7"},
		{"promise never settles", `function main() { return new Promise(() => {}) }`, "", "main returned a promise that never settled"},
		{"input not JSON", `function main(i) { return i }`, "{nope", "the input is not valid JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newScriptEngine(0)
			o := e.run(&scriptJob{Source: tc.src, Input: json.RawMessage(tc.input), Timeout: time.Minute}, nil)
			require.NotNil(t, o.Failure, "output %s", o.Output)
			require.Contains(t, o.Failure.Message, tc.want)
			require.Nil(t, o.Output)
		})
	}
}

func TestScriptEngineStops(t *testing.T) {
	t.Parallel()
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		e := newScriptEngine(0)
		o := e.run(&scriptJob{Source: `function main() { console.log("started"); for (;;) {} }`, Timeout: 50 * time.Millisecond}, nil)
		require.Equal(t, &scriptFailure{Message: "script timed out after 50ms", Kind: failTimeout}, o.Failure)
		require.Equal(t, "started\n", o.Logs, "logs before the timeout are kept")
	})
	t.Run("timeout in top-level code", func(t *testing.T) {
		t.Parallel()
		e := newScriptEngine(0)
		o := e.run(&scriptJob{Source: `while (true) {} function main() {}`, Timeout: 50 * time.Millisecond}, nil)
		require.Equal(t, failTimeout, o.Failure.Kind)
	})
	t.Run("timeout not swallowed by catch", func(t *testing.T) {
		t.Parallel()
		e := newScriptEngine(0)
		o := e.run(&scriptJob{Source: `function main() { for (;;) { try { for (;;) {} } catch (e) {} } }`, Timeout: 50 * time.Millisecond}, nil)
		require.Equal(t, failTimeout, o.Failure.Kind)
	})
	t.Run("timeout not swallowed in console.log", func(t *testing.T) {
		t.Parallel()
		e := newScriptEngine(0)
		o := e.run(&scriptJob{Source: `function main() { const o = {get x() { for (;;) {} }}; try { console.log(o) } catch (e) {} return 1 }`, Timeout: 50 * time.Millisecond}, nil)
		require.Equal(t, failTimeout, o.Failure.Kind)
	})
	t.Run("cancel", func(t *testing.T) {
		t.Parallel()
		e := newScriptEngine(0)
		cancel := make(chan struct{})
		time.AfterFunc(30*time.Millisecond, func() { close(cancel) })
		o := e.run(&scriptJob{Source: `function main() { for (;;) {} }`, Timeout: time.Minute}, cancel)
		require.Equal(t, &scriptFailure{Message: "script was cancelled", Kind: failCancelled}, o.Failure)
	})
	t.Run("memory watch", func(t *testing.T) {
		t.Parallel()
		// The heap metric covers the whole test process; whatever else runs
		// only makes the limit trip sooner, which is the expected result.
		e := newScriptEngine(32 << 20)
		o := e.run(&scriptJob{Source: `function main() { const a = []; for (;;) a.push({x: a.length}) }`, Timeout: time.Minute}, nil)
		require.Equal(t, &scriptFailure{Message: "script exceeded the memory limit of 32 MiB", Kind: failMemory}, o.Failure)
	})
}

func TestLogBufferCapsAtMaxLogBytes(t *testing.T) {
	t.Parallel()
	var l logBuffer
	line := strings.Repeat("é", 100) // two bytes each, so a cut can land mid-character
	for range 1000 {
		l.add(line)
	}
	s := l.String()
	require.LessOrEqual(t, len(s), MaxLogBytes)
	require.Greater(t, len(s), MaxLogBytes-len(line)-len(logsTruncatedNote)-2)
	require.True(t, strings.HasSuffix(s, "\n"+logsTruncatedNote))
	require.True(t, utf8.ValidString(s))

	var short logBuffer
	short.add("one")
	short.add("two")
	require.Equal(t, "one\ntwo\n", short.String())
}

func TestScriptEngineLogFlood(t *testing.T) {
	t.Parallel()
	o := runInProcess(t, `function main() { for (let i = 0; i < 100000; i++) console.log("line " + i); return "done" }`, "")
	require.Nil(t, o.Failure)
	require.Equal(t, `"done"`, string(o.Output))
	require.LessOrEqual(t, len(o.Logs), MaxLogBytes)
	require.True(t, strings.HasPrefix(o.Logs, "line 0\nline 1\n"))
	require.True(t, strings.HasSuffix(o.Logs, logsTruncatedNote))
}

func TestProgramCacheReusesAndEvicts(t *testing.T) {
	t.Parallel()
	c := newProgramCache(2)
	a1, f := c.compile(`function main() { return "a" }`)
	require.Nil(t, f)
	a2, _ := c.compile(`function main() { return "a" }`)
	require.Same(t, a1, a2, "the same source compiles once")
	_, _ = c.compile(`function main() { return "b" }`)
	_, _ = c.compile(`function main() { return "c" }`)
	a3, _ := c.compile(`function main() { return "a" }`)
	require.NotSame(t, a1, a3, "the least recently used program was evicted")
	require.Equal(t, 2, c.order.Len())

	_, f = c.compile("function main( {")
	require.NotNil(t, f)
	require.Contains(t, f.Message, "SyntaxError at line 1")
}

func TestFormatBytes(t *testing.T) {
	t.Parallel()
	require.Equal(t, "256 MiB", formatBytes(256<<20))
	require.Equal(t, "1.5 MiB", formatBytes(3<<19))
	require.Equal(t, "64 KiB", formatBytes(64<<10))
	require.Equal(t, "900 bytes", formatBytes(900))
}

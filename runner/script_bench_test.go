package runner

import (
	"encoding/json"
	"testing"
	"time"
)

// BenchmarkScriptEngineTrivial is the cost of one run inside a child,
// without the pipe: a fresh runtime, the cached program, input and output.
func BenchmarkScriptEngineTrivial(b *testing.B) {
	e := newScriptEngine(256 << 20)
	job := &scriptJob{Source: `function main(input) { return {n: input.n + 1} }`, Input: json.RawMessage(`{"n":1}`), Context: json.RawMessage(`{"attempt":1}`), Timeout: 5 * time.Second}
	for b.Loop() {
		if o := e.run(job, nil); o.Failure != nil {
			b.Fatal(o.Failure.Message)
		}
	}
}

func BenchmarkScriptEngineTrivialNoMemoryWatch(b *testing.B) {
	e := newScriptEngine(0)
	job := &scriptJob{Source: `function main(input) { return {n: input.n + 1} }`, Input: json.RawMessage(`{"n":1}`), Context: json.RawMessage(`{"attempt":1}`), Timeout: 5 * time.Second}
	for b.Loop() {
		if o := e.run(job, nil); o.Failure != nil {
			b.Fatal(o.Failure.Message)
		}
	}
}

package runner

import (
	"encoding/json"
	"time"
)

// The pool and its sandbox children talk in newline-delimited JSON: run
// requests on the child's stdin, answers on its stdout, and cancels on a
// pipe of their own (file descriptor 3, named in envSandboxCancelFD), which
// the child reads while it runs a script. A child first sends a greeting
// (id 0, ready set), then answers each run with the run's id; a live run
// sends its console lines first, one message each. It runs one script at a
// time; a cancel names the run to interrupt. The end of the cancel pipe
// tells a child its pool is gone.

const (
	opRun    = "run"
	opCancel = "cancel"
)

// sandboxRequest is a message from the pool to a child.
type sandboxRequest struct {
	ID      uint64          `json:"id"`
	Op      string          `json:"op"`
	Source  string          `json:"source,omitempty"`
	Input   json.RawMessage `json:"input,omitempty"`
	Context json.RawMessage `json:"ctx,omitempty"`
	Timeout time.Duration   `json:"timeout_ns,omitempty"`
	// Live asks the child to send each console line of the run as it is
	// written (a response with Log set), before the run's answer.
	Live bool `json:"live,omitempty"`
}

// sandboxResponse is a message from a child: its greeting or a run's result.
type sandboxResponse struct {
	ID      uint64          `json:"id"`
	Ready   *sandboxReady   `json:"ready,omitempty"`
	Output  json.RawMessage `json:"output,omitempty"`
	Logs    string          `json:"logs,omitempty"`
	Failure *scriptFailure  `json:"failure,omitempty"`
	// Log is one console line of a live run that is still going; such a
	// message is not the run's answer.
	Log *string `json:"log,omitempty"`
}

// sandboxReady is what a child tells the pool about itself when it starts.
type sandboxReady struct {
	MemoryLimit int64 `json:"memory_limit"`
	// AddressSpaceLimit is the RLIMIT_AS the child set on itself; 0 if none.
	AddressSpaceLimit int64 `json:"address_space_limit"`
	// Warning explains why a limit could not be set.
	Warning string `json:"warning,omitempty"`
}

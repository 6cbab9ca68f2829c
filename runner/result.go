package runner

import (
	"encoding/json"
	"errors"
)

// MaxOutputBytes bounds the JSON output one run may record.
const MaxOutputBytes = 1 << 20

// MaxLogBytes bounds the logs one run may record; later lines are dropped
// with a note saying so.
const MaxLogBytes = 64 << 10

// Result is what one successful run of a bot produced.
type Result struct {
	// Output is a JSON value (at most MaxOutputBytes).
	Output json.RawMessage
	// Logs are human-readable lines (console.log, request summaries), capped
	// at MaxLogBytes.
	Logs string
}

// RunError is a failed run, with a message meant for the bot's owner. The
// engine masks secrets in it before storing it.
type RunError struct {
	Message string
	// Retryable means a later attempt may succeed (network errors, 5xx, 429).
	Retryable bool
	// TimedOut means the run hit its time limit.
	TimedOut bool
	// Logs captured before the failure, if any.
	Logs string
	// Output, if the run produced a partial result worth keeping (an HTTP
	// error response body, say).
	Output json.RawMessage
}

func (e *RunError) Error() string { return e.Message }

// AsRunError returns err as a *RunError when it is one.
func AsRunError(err error) (*RunError, bool) {
	var re *RunError
	ok := errors.As(err, &re)
	return re, ok
}

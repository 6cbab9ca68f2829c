package runner

import (
	"context"

	"github.com/codex32/codex32/internal/telemetry"
)

// tracing is the engine's tracing when it is on, else nil.
func (e *Engine) tracing() *telemetry.Tracing {
	if t := e.cfg.Tracing; t != nil && t.Enabled() {
		return t
	}
	return nil
}

// traceCarrier is the trace context of ctx to put into a job's args (nil
// when tracing is off or ctx has no span).
func (e *Engine) traceCarrier(ctx context.Context) map[string]string {
	t := e.tracing()
	if t == nil {
		return nil
	}
	return TraceCarrier(ctx, t.Propagator())
}

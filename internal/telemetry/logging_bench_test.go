package telemetry

import (
	"context"
	"io"
	"log/slog"
	"testing"
)

// BenchmarkLog compares a line through NewLogger with the same line
// through the standard library's handler alone.
func BenchmarkLog(b *testing.B) {
	tctx, _ := logFixedSpan(&testing.T{})
	ctx := WithExecution(WithRequestID(tctx, "0190b6e2-7f3a-7c1e-9d2a-5f1e2d3c4b5a"), "0190b6e2-7f3a-7c1e-9d2a-5f1e2d3c4b5b", "0190b6e2-7f3a-7c1e-9d2a-5f1e2d3c4b5c")
	run := func(b *testing.B, log *slog.Logger, ctx context.Context) {
		b.Helper()
		b.ReportAllocs()
		for b.Loop() {
			log.InfoContext(ctx, "execution finished", "status", "succeeded", "duration_ms", 12.5, "attempt", 1)
		}
	}
	b.Run("stdlib-json", func(b *testing.B) {
		run(b, slog.New(slog.NewJSONHandler(io.Discard, nil)).With("component", "runner"), ctx)
	})
	for _, f := range []string{"text", "json", "ecs"} {
		b.Run(f+"-no-context", func(b *testing.B) {
			run(b, Component(NewLogger(io.Discard, LogOptions{Format: f}), ComponentRunner), context.Background())
		})
		b.Run(f+"-context", func(b *testing.B) {
			run(b, Component(NewLogger(io.Discard, LogOptions{Format: f}), ComponentRunner), ctx)
		})
		b.Run(f+"-no-context-in-group", func(b *testing.B) {
			run(b, Component(NewLogger(io.Discard, LogOptions{Format: f}), ComponentRunner).WithGroup("job"), context.Background())
		})
		b.Run(f+"-context-in-group", func(b *testing.B) {
			run(b, Component(NewLogger(io.Discard, LogOptions{Format: f}), ComponentRunner).WithGroup("job"), ctx)
		})
	}
	b.Run("disabled-debug", func(b *testing.B) {
		log := Component(NewLogger(io.Discard, LogOptions{Format: "json"}), ComponentHTTP)
		b.ReportAllocs()
		for b.Loop() {
			log.DebugContext(ctx, "not written", "n", 1)
		}
	})
}

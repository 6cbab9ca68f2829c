package main

import (
	"io"
	"log/slog"

	"github.com/codex32/codex32/internal/config"
	"github.com/codex32/codex32/internal/telemetry"
)

// newLogger is the logger of every subcommand: LOG_FORMAT (text, json or
// ecs) and LOG_LEVEL (with its per-component levels) from cfg; the ecs
// format names the service after OTEL_SERVICE_NAME, as the traces do.
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	return telemetry.NewLogger(w, telemetry.LogOptions{
		Format:     cfg.LogFormat,
		Level:      cfg.Level,
		Components: cfg.ComponentLevels,
		Service:    cfg.OTelServiceName,
		Version:    version(),
	})
}

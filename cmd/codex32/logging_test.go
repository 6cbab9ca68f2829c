package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/config"
	"github.com/codex32/codex32/internal/telemetry"
)

// newLogger follows LOG_FORMAT and LOG_LEVEL as the config parsed them.
func TestNewLoggerFollowsConfig(t *testing.T) {
	t.Parallel()
	ctx := telemetry.WithRequestID(context.Background(), "req-1")
	for _, tc := range []struct {
		format string
		check  func(t *testing.T, line string)
	}{
		{"text", func(t *testing.T, line string) {
			t.Helper()
			require.Regexp(t, `^time=\S+ level=DEBUG msg=hello component=runner request_id=req-1$`, line)
		}},
		{"json", func(t *testing.T, line string) {
			t.Helper()
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &m))
			require.Equal(t, "hello", m["msg"])
			require.Equal(t, "DEBUG", m["level"])
			require.Equal(t, "runner", m["component"])
			require.Equal(t, "req-1", m["request_id"])
		}},
		{"ecs", func(t *testing.T, line string) {
			t.Helper()
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &m))
			require.Equal(t, "hello", m["message"])
			require.Equal(t, "debug", m["log.level"])
			require.Equal(t, "runner", m["log.logger"])
			require.Equal(t, "req-1", m["http.request.id"])
			require.Equal(t, telemetry.ECSVersion, m["ecs.version"])
			require.Equal(t, "codex32-test", m["service.name"], "OTEL_SERVICE_NAME")
			require.Equal(t, version(), m["service.version"])
		}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.FromEnv(map[string]string{
				"LOG_FORMAT": tc.format, "LOG_LEVEL": "warn,runner=debug", "OTEL_SERVICE_NAME": "codex32-test",
				"CODEX32_DATA_DIR": t.TempDir(),
			})
			require.NoError(t, err)
			var buf bytes.Buffer
			log := newLogger(cfg, &buf)
			log.InfoContext(ctx, "not shown: below warn")
			telemetry.Component(log, telemetry.ComponentHTTP).InfoContext(ctx, "not shown: http is at warn")
			telemetry.Component(log, telemetry.ComponentRunner).DebugContext(ctx, "hello")
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			require.Len(t, lines, 1, buf.String())
			tc.check(t, lines[0])
		})
	}
}

// The binary's own lines follow LOG_FORMAT=ecs: a real subcommand's log on
// stderr is ECS JSON, one object per line, and no text-format line slips
// through another logger.
func TestCodex32LogsECS(t *testing.T) {
	t.Parallel()
	env, _ := importEnv(t)
	env["CODEX32_DATA_DIR"] = t.TempDir()
	env["LOG_FORMAT"] = "ecs"
	env["OTEL_SERVICE_NAME"] = "codex32-ecs-test"
	_, stderr, code := codex32(t, env, "audit", "checkpoint")
	require.Zero(t, code, stderr)
	var found map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		require.NotRegexp(t, `^time=`, line, "a text line in ecs mode")
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		require.Equal(t, telemetry.ECSVersion, m["ecs.version"], line)
		require.Equal(t, "codex32-ecs-test", m["service.name"], line)
		require.NotEmpty(t, m["@timestamp"], line)
		require.NotEmpty(t, m["log.level"], line)
		if m["message"] == "audit checkpoint" {
			found = m
		}
	}
	require.NotNil(t, found, "the checkpoint is logged:\n%s", stderr)
	require.Equal(t, "info", found["log.level"])
}

package telemetry

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/codex32/codex32/internal/config"
)

// logLines parses buf as one JSON object per line.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(buf.Bytes()))
	for sc.Scan() {
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		var m map[string]any
		require.NoError(t, dec.Decode(&m), "line %q", sc.Text())
		logNoDuplicateKeys(t, sc.Text())
		out = append(out, m)
	}
	require.NoError(t, sc.Err())
	return out
}

// logNoDuplicateKeys fails when a JSON object in line repeats a key
// (encoding/json would silently keep the last one; Elasticsearch refuses it).
func logNoDuplicateKeys(t *testing.T, line string) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	var walk func() // reads one value
	walk = func() {
		tok, err := dec.Token()
		require.NoError(t, err)
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				require.NoError(t, err)
				key := k.(string)
				require.False(t, seen[key], "duplicate key %q in %s", key, line)
				seen[key] = true
				walk()
			}
			_, err = dec.Token()
			require.NoError(t, err)
		case json.Delim('['):
			for dec.More() {
				walk()
			}
			_, err = dec.Token()
			require.NoError(t, err)
		}
	}
	walk()
}

func logFixedSpan(t *testing.T) (context.Context, trace.SpanContext) {
	t.Helper()
	tid, err := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	require.NoError(t, err)
	sid, err := trace.SpanIDFromHex("00f067aa0ba902b7")
	require.NoError(t, err)
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	return trace.ContextWithSpanContext(context.Background(), sc), sc
}

func TestComponentConstantsMatchConfig(t *testing.T) {
	t.Parallel()
	ours := []string{ComponentHTTP, ComponentAuth, ComponentAPI, ComponentRunner, ComponentSandbox, ComponentScheduler, ComponentAudit, ComponentDB}
	require.ElementsMatch(t, config.LogComponents, ours)
}

func TestLogComponentLevels(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"text", "json", "ecs"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			_, comps, err := config.ParseLogLevels("info,runner=debug,http=warn")
			require.NoError(t, err)
			log := NewLogger(&buf, LogOptions{Format: format, Level: slog.LevelInfo, Components: comps})
			runner := Component(log, ComponentRunner)
			httpLog := Component(log, ComponentHTTP)
			// Set inside a group, the component still counts.
			grouped := Component(log.WithGroup("job"), ComponentRunner)

			require.True(t, runner.Enabled(context.Background(), slog.LevelDebug))
			require.False(t, httpLog.Enabled(context.Background(), slog.LevelInfo))
			require.False(t, log.Enabled(context.Background(), slog.LevelDebug))

			runner.Debug("runner debug")
			httpLog.Debug("http debug")
			httpLog.Info("http info")
			httpLog.Warn("http warn")
			log.Debug("default debug")
			log.Info("default info")
			grouped.Debug("grouped runner debug", "n", 1)
			// Component again replaces the component, it does not add one.
			Component(runner, ComponentSandbox).Debug("sandbox debug")
			Component(runner, ComponentSandbox).Info("sandbox info")

			out := buf.String()
			for _, want := range []string{"runner debug", "http warn", "default info", "grouped runner debug", "sandbox info"} {
				require.Contains(t, out, want)
			}
			for _, unwanted := range []string{"http debug", "http info", "default debug", "sandbox debug"} {
				require.NotContains(t, out, unwanted)
			}
			if format == "text" {
				require.Contains(t, out, `msg="runner debug" component=runner`)
				require.Contains(t, out, `msg="grouped runner debug" component=runner job.n=1`)
				return
			}
			key, msgKey := "component", "msg"
			if format == "ecs" {
				key, msgKey = "log.logger", "message"
			}
			byMsg := map[string]map[string]any{}
			for _, l := range logLines(t, &buf) {
				byMsg[l[msgKey].(string)] = l
			}
			require.Equal(t, "runner", byMsg["runner debug"][key])
			require.Equal(t, "http", byMsg["http warn"][key])
			require.NotContains(t, byMsg["default info"], key)
			require.Equal(t, "runner", byMsg["grouped runner debug"][key])
			require.Equal(t, map[string]any{"n": float64(1)}, byMsg["grouped runner debug"]["job"])
			require.Equal(t, "sandbox", byMsg["sandbox info"][key])
		})
	}
}

func TestLogContextFieldsJSON(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := NewLogger(&buf, LogOptions{Format: "json", Level: slog.LevelInfo})
	ctx, sc := logFixedSpan(t)
	ctx = WithRequestID(ctx, "req-1")
	ctx = WithUserID(ctx, "user-1")
	ctx = WithExecution(ctx, "exec-1", "bot-1")
	require.Equal(t, "req-1", RequestID(ctx))
	require.Empty(t, RequestID(context.Background()))

	Component(log, ComponentRunner).InfoContext(ctx, "ran", "status", "succeeded")
	log.WithGroup("g").InfoContext(ctx, "grouped", "a", 1)
	// The caller's own request_id wins; the line has one.
	log.InfoContext(ctx, "explicit", "request_id", "mine")
	log.With("execution_id", "with").InfoContext(ctx, "explicit with")
	log.Info("no context")

	lines := logLines(t, &buf)
	require.Len(t, lines, 5)
	want := map[string]any{
		"request_id": "req-1", "user_id": "user-1", "execution_id": "exec-1", "bot_id": "bot-1",
		"trace_id": sc.TraceID().String(), "span_id": sc.SpanID().String(),
	}
	for _, l := range lines[:2] {
		for k, v := range want {
			require.Equal(t, v, l[k], "%s in %v", k, l)
		}
	}
	require.Equal(t, "runner", lines[0]["component"])
	require.Equal(t, "succeeded", lines[0]["status"])
	require.Equal(t, "INFO", lines[0]["level"])
	require.Equal(t, map[string]any{"a": float64(1)}, lines[1]["g"], "the record's attrs stay in the group, the context fields do not")
	require.Equal(t, "mine", lines[2]["request_id"])
	require.Equal(t, "user-1", lines[2]["user_id"])
	require.Equal(t, "with", lines[3]["execution_id"])
	require.Equal(t, "req-1", lines[3]["request_id"])
	for _, k := range []string{"request_id", "user_id", "execution_id", "bot_id", "trace_id", "span_id", "component"} {
		require.NotContains(t, lines[4], k)
	}
}

func TestLogContextFieldsECS(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := NewLogger(&buf, LogOptions{Format: "ecs", Level: slog.LevelDebug, Service: "codex32-worker", Version: "v1.2.3"})
	ctx, sc := logFixedSpan(t)
	ctx = WithExecution(WithUserID(WithRequestID(ctx, "req-1"), "user-1"), "exec-1", "bot-1")

	before := time.Now()
	Component(log, ComponentRunner).With("kind", "http").InfoContext(ctx, "ran", "err", errors.New("boom"), "http.status", 502)
	log.WithGroup("job").DebugContext(ctx, "grouped", "attempt", 2)
	// Names that would collide with the ECS fields are moved aside, so
	// the object has each key once.
	NewLogger(&buf, LogOptions{Format: "ecs", Level: slog.LevelInfo}).With("message", "m1").Warn("colliding", "time", "t1", "level", "l1", "error", "e1", "err", "e2", "ecs.version", "x", "request_id", "r1")

	lines := logLines(t, &buf)
	require.Len(t, lines, 3)
	l := lines[0]
	ts, err := time.Parse(time.RFC3339Nano, l["@timestamp"].(string))
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(l["@timestamp"].(string), "Z"), "UTC")
	require.WithinDuration(t, before, ts, time.Minute)
	require.Equal(t, "info", l["log.level"])
	require.Equal(t, "ran", l["message"])
	require.Equal(t, ECSVersion, l["ecs.version"])
	require.True(t, strings.HasPrefix(ECSVersion, "8."))
	require.Equal(t, "codex32-worker", l["service.name"])
	require.Equal(t, "v1.2.3", l["service.version"])
	require.Equal(t, "runner", l["log.logger"])
	require.Equal(t, "req-1", l["http.request.id"])
	require.Equal(t, "user-1", l["user.id"])
	require.Equal(t, "exec-1", l["labels.execution_id"])
	require.Equal(t, "bot-1", l["labels.bot_id"])
	require.Equal(t, sc.TraceID().String(), l["trace.id"])
	require.Equal(t, sc.SpanID().String(), l["span.id"])
	require.Equal(t, "boom", l["error.message"])
	require.Equal(t, "http", l["kind"])
	require.EqualValues(t, 502, l["http.status"])
	for _, k := range []string{"time", "level", "msg", "component", "request_id", "user_id", "execution_id", "bot_id", "trace_id", "span_id", "err"} {
		require.NotContains(t, l, k)
	}

	g := lines[1]
	require.Equal(t, "debug", g["log.level"])
	require.Equal(t, "req-1", g["http.request.id"])
	require.Equal(t, sc.TraceID().String(), g["trace.id"])
	require.Equal(t, map[string]any{"attempt": float64(2)}, g["job"])

	c := lines[2]
	require.Equal(t, "warn", c["log.level"])
	require.Equal(t, "colliding", c["message"])
	require.Equal(t, "m1", c["codex32.message"])
	require.Equal(t, "t1", c["codex32.time"])
	require.Equal(t, "l1", c["codex32.level"])
	require.Equal(t, "e1", c["error.message"])
	require.Equal(t, "e2", c["codex32.err"])
	require.Equal(t, "x", c["codex32.ecs.version"])
	require.Equal(t, ECSVersion, c["ecs.version"])
	require.Equal(t, "r1", c["http.request.id"])
	require.Equal(t, "codex32", c["service.name"], "the default service name")
	require.NotContains(t, c, "service.version")
}

func TestLogTraceFromRealSpan(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	var buf bytes.Buffer
	log := NewLogger(&buf, LogOptions{Format: "json", Level: slog.LevelInfo})
	ctx, span := tp.Tracer("test").Start(context.Background(), "execution")
	log.InfoContext(WithExecution(ctx, "exec-1", "bot-1"), "inside the span")
	span.End()

	ended := rec.Ended()
	require.Len(t, ended, 1)
	lines := logLines(t, &buf)
	require.Len(t, lines, 1)
	require.Equal(t, ended[0].SpanContext().TraceID().String(), lines[0]["trace_id"])
	require.Equal(t, ended[0].SpanContext().SpanID().String(), lines[0]["span_id"])
	require.Len(t, lines[0]["trace_id"], 32)

	// A span context that is not valid (tracing off: the no-op tracer)
	// adds nothing.
	buf.Reset()
	noopCtx, s := noop.NewTracerProvider().Tracer("x").Start(context.Background(), "y")
	log.InfoContext(noopCtx, "no tracing")
	s.End()
	lines = logLines(t, &buf)
	require.NotContains(t, lines[0], "trace_id")
	require.NotContains(t, lines[0], "span_id")
}

func TestLogRedaction(t *testing.T) {
	t.Parallel()
	secrets := []slog.Attr{
		slog.String("password", "s1"), slog.String("Secret", "s2"), slog.String("TOKEN", "s3"),
		slog.String("authorization", "s4"), slog.String("Cookie", "s5"), slog.String("api_key", "s6"),
		slog.String("key_material", "s7"), slog.String("client_secret", "s8"), slog.String("Access_Token", "s9"),
		slog.String("http.authorization", "s10"), slog.Any("session_secret", []byte("s11")),
		slog.Group("token", slog.String("value", "s12")),
		slog.Group("auth", slog.String("password", "s13")),
		slog.Any("creds", logValuer{slog.GroupValue(slog.String("api_key", "s16"))}),
		slog.Any("refresh_token", logValuer{slog.StringValue("s17")}),
	}
	for _, format := range []string{"text", "json", "ecs"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			log := NewLogger(&buf, LogOptions{Format: format, Level: slog.LevelInfo})
			args := make([]any, 0, len(secrets)+2)
			for _, a := range secrets {
				args = append(args, a)
			}
			args = append(args, "tokens", 42, "token_count", 7)
			log.With("cookie", "s14").WithGroup("g").With("bot_token", "s15").Info("secrets", args...)
			out := buf.String()
			for i := 1; i <= 17; i++ {
				require.NotRegexp(t, `\bs`+strconv.Itoa(i)+`\b`, out)
			}
			require.GreaterOrEqual(t, strings.Count(out, logRedacted), 17, out)
			kv := `%s=%d`
			if format != "text" {
				kv = `"%s":%d`
			}
			require.Contains(t, out, fmt.Sprintf(kv, "tokens", 42), "tokens is not a secret name")
			require.Contains(t, out, fmt.Sprintf(kv, "token_count", 7), "token_count is not a secret name")
		})
	}
}

type logValuer struct{ v slog.Value }

func (l logValuer) LogValue() slog.Value { return l.v }

// Lines written at once from many goroutines, through every path of the
// handler, come out whole.
func TestLogConcurrentLinesStayWhole(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := NewLogger(&buf, LogOptions{Format: "ecs", Level: slog.LevelInfo})
	ctx, _ := logFixedSpan(t)
	ctx = WithRequestID(ctx, "req")
	loggers := []*slog.Logger{log, Component(log, ComponentRunner), Component(log, ComponentDB).WithGroup("q").With("n", 1)}
	const perLogger, workers = 50, 4
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range perLogger {
				for _, l := range loggers {
					l.InfoContext(ctx, "line", "w", w, "i", i, "message", "collides")
				}
			}
		}()
	}
	for range workers {
		<-done
	}
	lines := logLines(t, &buf)
	require.Len(t, lines, workers*perLogger*len(loggers))
	for _, l := range lines {
		require.Equal(t, "req", l["http.request.id"])
		require.Equal(t, "line", l["message"])
	}
}

func TestLogTextFormat(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := NewLogger(&buf, LogOptions{Format: "text", Level: slog.LevelInfo})
	ctx, sc := logFixedSpan(t)
	ctx = WithRequestID(ctx, "req-1")
	log.InfoContext(ctx, "codex32 serving", "url", "http://127.0.0.1:8080")
	log.Info("plain")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2)
	require.Regexp(t, `^time=\S+ level=INFO msg="codex32 serving" url=http://127\.0\.0\.1:8080 request_id=req-1 trace_id=`+sc.TraceID().String()+` span_id=`+sc.SpanID().String()+`$`, lines[0])
	require.Regexp(t, `^time=\S+ level=INFO msg=plain$`, lines[1])
}

func TestLogUnknownFormatIsText(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	NewLogger(&buf, LogOptions{}).Info("hello")
	require.Regexp(t, `^time=\S+ level=INFO msg=hello\n$`, buf.String())
}

// The handler keeps the levels it was given, not the caller's map.
func TestLogComponentsCopied(t *testing.T) {
	t.Parallel()
	comps := map[string]slog.Level{ComponentDB: slog.LevelDebug}
	log := NewLogger(&bytes.Buffer{}, LogOptions{Format: "json", Level: slog.LevelInfo, Components: comps})
	comps[ComponentDB] = slog.LevelError
	require.True(t, Component(log, ComponentDB).Enabled(context.Background(), slog.LevelDebug))
	require.True(t, slices.Contains(config.LogComponents, ComponentDB))
}

package telemetry

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// The components LOG_LEVEL can give a level of their own
// (config.LogComponents; a test keeps the two lists equal).
const (
	ComponentHTTP      = "http"
	ComponentAuth      = "auth"
	ComponentAPI       = "api"
	ComponentRunner    = "runner"
	ComponentSandbox   = "sandbox"
	ComponentScheduler = "scheduler"
	ComponentAudit     = "audit"
	ComponentDB        = "db"
)

// ECSVersion is the Elastic Common Schema version whose field names
// LOG_FORMAT=ecs writes (checked against the ECS 8.17 field reference:
// base, log, ecs, service, tracing, http, user, error).
const ECSVersion = "8.17.0"

// LogOptions configure NewLogger. Format is text, json or ecs (anything
// else is text); Level is the default level and Components the levels of
// the components that have their own (LOG_LEVEL=info,runner=debug).
// Service and Version are written as service.name and service.version in
// the ecs format only.
type LogOptions struct {
	Format     string
	Level      slog.Level
	Components map[string]slog.Level
	Service    string
	Version    string
}

// NewLogger returns the process's logger, writing one line per record to w.
//
// Fields. Besides the message and what the caller passes, every line gets
// these when they apply — the ones joining logs to requests, executions
// and traces:
//
//	text / json    ecs                   from
//	time           @timestamp            the record (ecs: RFC 3339, nanoseconds, UTC)
//	level          log.level             the record (ecs: lower case)
//	msg            message               the record
//	component      log.logger            Component(logger, name)
//	request_id     http.request.id       WithRequestID(ctx, id)
//	user_id        user.id               WithUserID(ctx, id)
//	execution_id   labels.execution_id   WithExecution(ctx, executionID, botID)
//	bot_id         labels.bot_id         WithExecution(ctx, executionID, botID)
//	trace_id       trace.id              the OpenTelemetry span in ctx, when valid
//	span_id        span.id               the OpenTelemetry span in ctx, when valid
//	err / error    error.message         an attr of the caller's named err or error
//	-              ecs.version           ECSVersion
//	-              service.name          LogOptions.Service (default codex32)
//	-              service.version       LogOptions.Version (when set)
//
// The context fields come from the record's context: log with
// InfoContext(ctx, …) and friends. They are written at the top level even
// inside WithGroup, and not twice when the caller passes the same key
// itself. In ecs, other attrs keep their own key (groups become nested
// objects); a top-level attr whose key would collide with one of the names
// above is written as codex32.<key>.
//
// Redaction: an attr whose key (or the last dotted part of it, or a group
// around it) is password, secret, token, authorization, cookie, api_key or
// key_material, or ends with _secret or _token (any case), is written as
// "[redacted]" in every format. It is a safety net, not a licence to log
// secrets.
func NewLogger(w io.Writer, o LogOptions) *slog.Logger {
	cfg := &logConfig{ecs: o.Format == "ecs", def: o.Level, comps: maps.Clone(o.Components)} // a copy: the caller's map may change later
	lowest := o.Level
	for _, l := range cfg.comps {
		lowest = min(lowest, l)
	}
	hopts := &slog.HandlerOptions{Level: lowest, ReplaceAttr: logReplaceAttr(cfg.ecs)}
	switch o.Format {
	case "json":
		cfg.root = slog.NewJSONHandler(w, hopts)
	case "ecs":
		service := o.Service
		if service == "" {
			service = "codex32"
		}
		fixed := []slog.Attr{slog.String("ecs.version", ECSVersion), slog.String("service.name", service)}
		if o.Version != "" {
			fixed = append(fixed, slog.String("service.version", o.Version))
		}
		cfg.root = slog.NewJSONHandler(w, hopts).WithAttrs(fixed)
	default:
		cfg.root = slog.NewTextHandler(w, hopts)
	}
	return slog.New(&logHandler{cfg: cfg, inner: cfg.root, level: cfg.def})
}

// Component is l for one component: its lines carry component=name and
// follow that component's level.
func Component(l *slog.Logger, name string) *slog.Logger {
	return l.With(logComponentKey, name)
}

const logComponentKey = "component"

// logExtras are the fields the handler adds itself, in the order it adds
// them, with their names in text/json and in ecs.
var logExtras = [...]struct{ plain, ecs string }{
	{logComponentKey, "log.logger"},
	{"request_id", "http.request.id"},
	{"user_id", "user.id"},
	{"execution_id", "labels.execution_id"},
	{"bot_id", "labels.bot_id"},
	{"trace_id", "trace.id"},
	{"span_id", "span.id"},
}

// logECSFixed are the top-level names the ecs format writes for every
// record (before and after ReplaceAttr's renaming).
var logECSFixed = []string{
	slog.TimeKey, slog.LevelKey, slog.MessageKey, slog.SourceKey,
	"@timestamp", "log.level", "message", "ecs.version", "service.name", "service.version",
}

// logECSKey is the ecs name of a top-level attr.
func logECSKey(k string) string {
	for _, e := range logExtras {
		if k == e.plain {
			return e.ecs
		}
	}
	if k == "err" || k == "error" {
		return "error.message"
	}
	return k
}

// logSecretKey reports whether an attr with this key must not be written.
func logSecretKey(k string) bool {
	k = strings.ToLower(k)
	if i := strings.LastIndexByte(k, '.'); i >= 0 {
		k = k[i+1:]
	}
	switch k {
	case "password", "secret", "token", "authorization", "cookie", "api_key", "key_material":
		return true
	}
	return strings.HasSuffix(k, "_secret") || strings.HasSuffix(k, "_token")
}

const logRedacted = "[redacted]"

// logReplaceAttr redacts, and in ecs renames the top-level names.
func logReplaceAttr(ecs bool) func([]string, slog.Attr) slog.Attr {
	return func(groups []string, a slog.Attr) slog.Attr {
		if logSecretKey(a.Key) || slices.ContainsFunc(groups, logSecretKey) {
			return slog.String(a.Key, logRedacted)
		}
		if !ecs || len(groups) > 0 {
			return a
		}
		switch a.Key {
		case slog.TimeKey:
			// The JSON handler writes a time as RFC 3339 with nanoseconds.
			if a.Value.Kind() == slog.KindTime {
				return slog.Time("@timestamp", a.Value.Time().UTC())
			}
			return slog.Attr{Key: "@timestamp", Value: a.Value}
		case slog.LevelKey:
			return slog.String("log.level", logECSLevel(a.Value))
		case slog.MessageKey:
			return slog.Attr{Key: "message", Value: a.Value}
		case "err", "error":
			if err, ok := a.Value.Any().(error); ok && err != nil {
				return slog.String("error.message", err.Error())
			}
			return slog.String("error.message", a.Value.String())
		}
		if k := logECSKey(a.Key); k != a.Key {
			return slog.Attr{Key: k, Value: a.Value}
		}
		return a
	}
}

// logECSLevel is the level in lower case (ECS keeps the original level;
// lower case is what Elastic's own loggers write).
func logECSLevel(v slog.Value) string {
	l, ok := v.Any().(slog.Level)
	if !ok {
		return strings.ToLower(v.String())
	}
	switch l {
	case slog.LevelDebug:
		return "debug"
	case slog.LevelInfo:
		return "info"
	case slog.LevelWarn:
		return "warn"
	case slog.LevelError:
		return "error"
	}
	return strings.ToLower(l.String())
}

type logConfig struct {
	ecs   bool
	def   slog.Level
	comps map[string]slog.Level
	// root is the standard-library handler with only the fixed ecs attrs.
	root slog.Handler
}

// logOp is one WithAttrs or WithGroup applied to root, kept so that Handle
// can rebuild the chain with context fields at the top level when a group
// is open.
type logOp struct {
	group string
	attrs []slog.Attr
}

type logHandler struct {
	cfg *logConfig
	// inner is root, then the component (when set), then ops.
	inner slog.Handler
	ops   []logOp
	// groups is how many groups are open.
	groups int
	// level is the minimum level: the component's, else the default.
	level     slog.Level
	component string
	// topKeys are the output names of the top-level attrs given to
	// WithAttrs, so that added fields and (ecs) renamed attrs do not
	// repeat them.
	topKeys []string
}

func (h *logHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *logHandler) outKey(k string) string {
	if h.cfg.ecs {
		return logECSKey(k)
	}
	return k
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	h2 := *h
	pass := make([]slog.Attr, 0, len(as))
	newComponent := false
	for _, a := range as {
		// The component is kept out of ops and written right after the
		// fixed fields, so that it stays the component (and one field)
		// however many groups are open and however often it is set.
		if a.Key == logComponentKey {
			newComponent = true
			h2.component = a.Value.Resolve().String()
			h2.level = h.cfg.def
			if l, ok := h.cfg.comps[h2.component]; ok {
				h2.level = l
			}
			continue
		}
		pass = append(pass, a)
	}
	if h.groups == 0 {
		var keys []string
		pass, keys, _ = h.logECSFix(pass, nil)
		h2.topKeys = append(slices.Clip(h.topKeys), keys...)
	}
	if len(pass) > 0 {
		h2.inner = h.inner.WithAttrs(pass)
		h2.ops = append(slices.Clip(h.ops), logOp{attrs: pass})
	}
	if newComponent {
		h2.inner = h2.logChain(nil)
	}
	return &h2
}

// logChain is root with the component, extra (at the top level) and ops.
func (h *logHandler) logChain(extra []slog.Attr) slog.Handler {
	top := make([]slog.Attr, 0, 1+len(extra))
	if h.component != "" {
		top = append(top, slog.String(logComponentKey, h.component))
	}
	next := h.cfg.root.WithAttrs(append(top, extra...))
	for _, op := range h.ops {
		if op.group != "" {
			next = next.WithGroup(op.group)
		} else {
			next = next.WithAttrs(op.attrs)
		}
	}
	return next
}

// logTopTaken reports whether a top-level field with this output name is
// already written by the component or a WithAttrs attr.
func (h *logHandler) logTopTaken(out string) bool {
	return slices.Contains(h.topKeys, out) || (h.component != "" && out == h.outKey(logComponentKey))
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.inner = h.inner.WithGroup(name)
	h2.ops = append(slices.Clip(h.ops), logOp{group: name})
	h2.groups++
	return &h2
}

// logECSFix records the output names of top-level attrs in used and, in
// ecs, renames an attr whose name is taken (by the fixed fields or an
// earlier attr) to codex32.<key>, so that the JSON object has no duplicate
// keys (Elasticsearch refuses those). It returns as itself when nothing
// was renamed.
func (h *logHandler) logECSFix(as []slog.Attr, used []string) ([]slog.Attr, []string, bool) {
	var out []slog.Attr
	for i, a := range as {
		k := h.outKey(a.Key)
		if h.cfg.ecs && h.logECSTaken(a.Key, k, used) {
			if out == nil {
				out = append(make([]slog.Attr, 0, len(as)), as[:i]...)
			}
			a.Key = "codex32." + a.Key
			k = a.Key
		}
		if out != nil {
			out = append(out, a)
		}
		used = append(used, k)
	}
	if out == nil {
		return as, used, false
	}
	return out, used, true
}

// logECSTaken reports whether an ecs attr with this key, whose output name
// is out, would repeat a fixed field, a top-level WithAttrs attr or one of
// used.
func (h *logHandler) logECSTaken(key, out string, used []string) bool {
	return slices.Contains(logECSFixed, key) || slices.Contains(logECSFixed, out) ||
		h.logTopTaken(out) || slices.Contains(used, out)
}

type logFields struct{ requestID, userID, executionID, botID string }

type logCtxKey struct{}

func logFieldsFrom(ctx context.Context) logFields {
	if ctx == nil {
		return logFields{}
	}
	if f, ok := ctx.Value(logCtxKey{}).(*logFields); ok {
		return *f
	}
	return logFields{}
}

func logWithFields(ctx context.Context, f logFields) context.Context {
	return context.WithValue(ctx, logCtxKey{}, &f)
}

// WithRequestID returns ctx whose log lines carry request_id=id.
func WithRequestID(ctx context.Context, id string) context.Context {
	f := logFieldsFrom(ctx)
	f.requestID = id
	return logWithFields(ctx, f)
}

// WithUserID returns ctx whose log lines carry user_id=id.
func WithUserID(ctx context.Context, id string) context.Context {
	f := logFieldsFrom(ctx)
	f.userID = id
	return logWithFields(ctx, f)
}

// WithExecution returns ctx whose log lines carry execution_id and bot_id.
func WithExecution(ctx context.Context, executionID, botID string) context.Context {
	f := logFieldsFrom(ctx)
	f.executionID, f.botID = executionID, botID
	return logWithFields(ctx, f)
}

// RequestID is the request id WithRequestID put in ctx, or "".
func RequestID(ctx context.Context) string {
	return logFieldsFrom(ctx).requestID
}

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	var buf [len(logExtras)]slog.Attr
	extra := buf[:0]
	f := logFieldsFrom(ctx)
	for i, v := range [...]string{f.requestID, f.userID, f.executionID, f.botID} {
		if v != "" {
			extra = append(extra, slog.String(logExtras[i+1].plain, v))
		}
	}
	if ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			extra = append(extra, slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
		}
	}

	if h.groups > 0 {
		// The record's attrs belong inside the groups, the added fields
		// outside: rebuild the chain with them first. Only lines that
		// have something to add pay for it.
		if len(extra) == 0 {
			return h.inner.Handle(ctx, r)
		}
		return h.logChain(slices.Clone(h.logDropTaken(extra, nil))).Handle(ctx, r)
	}

	if len(extra) == 0 && (!h.cfg.ecs || r.NumAttrs() == 0) {
		return h.inner.Handle(ctx, r)
	}
	// The output names of the record's top-level attrs: the added fields
	// give way to them and, in ecs, a name taken twice is moved aside.
	var kbuf [16]string
	keys, clash := kbuf[:0], false
	r.Attrs(func(a slog.Attr) bool {
		k := h.outKey(a.Key)
		clash = clash || (h.cfg.ecs && h.logECSTaken(a.Key, k, keys))
		keys = append(keys, k)
		return true
	})
	if clash {
		as := make([]slog.Attr, 0, r.NumAttrs())
		r.Attrs(func(a slog.Attr) bool { as = append(as, a); return true })
		as, keys, _ = h.logECSFix(as, nil)
		r2 := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
		r2.AddAttrs(as...)
		r = r2
	}
	extra = h.logDropTaken(extra, keys)
	r.AddAttrs(extra...)
	return h.inner.Handle(ctx, r)
}

// logDropTaken removes the added fields whose output name the caller's
// top-level attrs (WithAttrs, or recordKeys) already use: the caller's
// value wins and the line has one such field.
func (h *logHandler) logDropTaken(extra []slog.Attr, recordKeys []string) []slog.Attr {
	out := extra[:0]
	for _, e := range extra {
		k := h.outKey(e.Key)
		if h.logTopTaken(k) || slices.Contains(recordKeys, k) {
			continue
		}
		out = append(out, e)
	}
	return out
}

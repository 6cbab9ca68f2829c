package telemetry

import (
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MetricsOptions configure NewMetrics.
type MetricsOptions struct {
	Version, Commit string
	// BotLabels adds codex32_bot_executions_finished_total{bot_id,status}
	// (CODEX32_METRICS_BOT_LABELS); at most BotLabelsMax distinct bot ids,
	// the rest counted as "other".
	BotLabels    bool
	BotLabelsMax int
}

// Bounds on label values that come from data rather than code.
const (
	maxModelLabels = 50
	otherLabel     = "other"
)

var (
	// Buckets of request durations and queue waits, in seconds.
	fastBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	// Buckets of run times: scripts may run for minutes.
	runBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900}
)

// Metrics is the process's Prometheus registry and the instruments
// recorded into it. A nil *Metrics records nothing.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests     *prometheus.CounterVec
	httpDuration     *prometheus.HistogramVec
	execRequested    *prometheus.CounterVec
	execFinished     *prometheus.CounterVec
	queueWait        *prometheus.HistogramVec
	runTime          *prometheus.HistogramVec
	botFinished      *prometheus.CounterVec
	outbound         *prometheus.CounterVec
	outboundDuration *prometheus.HistogramVec
	llmTokens        *prometheus.CounterVec
	logins           *prometheus.CounterVec
	rateLimited      prometheus.Counter
	webhooks         *prometheus.CounterVec
	scheduleTicks    prometheus.Counter
	scheduleMisses   prometheus.Counter
	auditRows        prometheus.Counter
	sandboxRestarts  *prometheus.CounterVec
	scrapeErrors     *prometheus.CounterVec

	bots   boundedLabels
	models boundedLabels
}

// NewMetrics builds a registry with the Go runtime and process
// collectors, codex32_build_info and every codex32_ instrument.
func NewMetrics(o MetricsOptions) *Metrics {
	reg := prometheus.NewRegistry()
	f := factory{reg}
	m := &Metrics{reg: reg}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	version, commit := o.Version, o.Commit
	if version == "" {
		version = "dev"
	}
	if commit == "" {
		commit = "unknown"
	}
	f.gauge("codex32_build_info", "Always 1; the labels say which build this process runs.",
		prometheus.Labels{"version": version, "commit": commit, "goversion": runtime.Version()}).Set(1)

	m.httpRequests = f.counterVec("codex32_http_requests_total", "HTTP requests answered, by route pattern, method and status class (2xx…5xx).", "route", "method", "code")
	m.httpDuration = f.histogramVec("codex32_http_request_duration_seconds", "Time to answer an HTTP request, by route pattern and method.", fastBuckets, "route", "method")
	m.execRequested = f.counterVec("codex32_executions_requested_total", "Executions requested (queued), by bot kind and trigger.", "kind", "trigger")
	m.execFinished = f.counterVec("codex32_executions_finished_total", "Executions that reached a final status, by bot kind, trigger and status.", "kind", "trigger", "status")
	m.queueWait = f.histogramVec("codex32_execution_queue_wait_seconds", "Time from an attempt being due (requested, or its retry time) to it running, by bot kind.", fastBuckets, "kind")
	m.runTime = f.histogramVec("codex32_execution_run_seconds", "Run time of finished attempts, by bot kind and status.", runBuckets, "kind", "status")
	if o.BotLabels {
		m.botFinished = f.counterVec("codex32_bot_executions_finished_total", "Finished executions per bot (opt-in, CODEX32_METRICS_BOT_LABELS; bots beyond the cap count as bot_id=\"other\").", "bot_id", "status")
		m.bots = boundedLabels{max: max(o.BotLabelsMax, 1)}
	}
	m.outbound = f.counterVec("codex32_outbound_requests_total", "Outbound requests of http and llm bots, by kind and result (ok, refused by the address guard, timeout, error).", "kind", "result")
	m.outboundDuration = f.histogramVec("codex32_outbound_request_duration_seconds", "Duration of outbound requests of http and llm bots, by kind.", fastBuckets, "kind")
	m.llmTokens = f.counterVec("codex32_llm_tokens_total", "LLM tokens as reported by the provider, by model (at most 50, the rest \"other\") and direction (input, output).", "model", "direction")
	m.models = boundedLabels{max: maxModelLabels}
	m.logins = f.counterVec("codex32_logins_total", "Sign-in attempts, by method (password, google, github, oidc) and result (ok, failed, refused, limited).", "method", "result")
	m.rateLimited = f.counter("codex32_api_rate_limited_total", "API requests refused by the per-key rate limit.")
	m.webhooks = f.counterVec("codex32_webhook_calls_total", "Inbound webhook calls, by result.", "result")
	m.scheduleTicks = f.counter("codex32_schedule_ticks_total", "Schedule ticks that queued an execution.")
	m.scheduleMisses = f.counter("codex32_schedule_misses_total", "Schedule ticks skipped (missed while down, or the bot was not runnable).")
	m.auditRows = f.counter("codex32_audit_rows_total", "Audit log rows written by this process.")
	m.sandboxRestarts = f.counterVec("codex32_sandbox_restarts_total", "Script sandbox processes replaced, by reason (memory, timeout, crash, cancel).", "reason")
	m.scrapeErrors = f.counterVec("codex32_scrape_errors_total", "Scrape-time readings that failed or timed out, by source.", "source")
	// Series that alerts watch with increase() exist from the start, at 0:
	// an increase from "absent" is never seen.
	for _, s := range []string{"executions", "queue", "workers"} {
		m.scrapeErrors.WithLabelValues(s)
	}
	for _, r := range []string{"memory", "timeout", "crash", "cancel"} {
		m.sandboxRestarts.WithLabelValues(r)
	}
	return m
}

// Registry is the registry behind the metrics (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, Timeout: 10 * time.Second})
}

// StatusClass turns an HTTP status into its class label ("2xx"…).
func StatusClass(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status/100) + "xx"
}

// ObserveHTTP records one answered request; route is the route pattern.
func (m *Metrics) ObserveHTTP(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.httpRequests.WithLabelValues(route, method, StatusClass(status)).Inc()
	m.httpDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

// ExecutionRequested counts n executions queued.
func (m *Metrics) ExecutionRequested(kind, trigger string, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.execRequested.WithLabelValues(kind, trigger).Add(float64(n))
}

// ExecutionStarted records an attempt starting after waiting wait.
func (m *Metrics) ExecutionStarted(kind string, wait time.Duration) {
	if m == nil {
		return
	}
	m.queueWait.WithLabelValues(kind).Observe(max(wait, 0).Seconds())
}

// AttemptFinished records the run time of an attempt that ended with
// status (a retried attempt too).
func (m *Metrics) AttemptFinished(kind, status string, run time.Duration) {
	if m == nil {
		return
	}
	m.runTime.WithLabelValues(kind, status).Observe(max(run, 0).Seconds())
}

// ExecutionFinished counts an execution reaching its final status.
func (m *Metrics) ExecutionFinished(kind, trigger, status, botID string) {
	if m == nil {
		return
	}
	m.execFinished.WithLabelValues(kind, trigger, status).Inc()
	if m.botFinished != nil {
		m.botFinished.WithLabelValues(m.bots.value(botID), status).Inc()
	}
}

// Outbound result classes.
const (
	OutboundOK      = "ok"
	OutboundRefused = "refused"
	OutboundTimeout = "timeout"
	OutboundError   = "error"
)

// ObserveOutbound records one outbound call of a bot (kind http or llm).
func (m *Metrics) ObserveOutbound(kind, result string, d time.Duration) {
	if m == nil {
		return
	}
	m.outbound.WithLabelValues(kind, result).Inc()
	m.outboundDuration.WithLabelValues(kind).Observe(d.Seconds())
}

// LLMTokens counts the tokens a provider reported for one call.
func (m *Metrics) LLMTokens(model string, input, output int) {
	if m == nil {
		return
	}
	model = m.models.value(model)
	if input > 0 {
		m.llmTokens.WithLabelValues(model, "input").Add(float64(input))
	}
	if output > 0 {
		m.llmTokens.WithLabelValues(model, "output").Add(float64(output))
	}
}

// Login counts a sign-in attempt.
func (m *Metrics) Login(method, result string) {
	if m == nil {
		return
	}
	m.logins.WithLabelValues(method, result).Inc()
}

// RateLimited counts an API request refused by the rate limit.
func (m *Metrics) RateLimited() {
	if m == nil {
		return
	}
	m.rateLimited.Inc()
}

// Webhook counts an inbound webhook call by its result.
func (m *Metrics) Webhook(result string) {
	if m == nil {
		return
	}
	m.webhooks.WithLabelValues(result).Inc()
}

// ScheduleTicks counts schedule ticks that queued executions, and those
// skipped.
func (m *Metrics) ScheduleTicks(queued, missed int) {
	if m == nil {
		return
	}
	m.scheduleTicks.Add(float64(max(queued, 0)))
	m.scheduleMisses.Add(float64(max(missed, 0)))
}

// AuditRows counts audit rows written.
func (m *Metrics) AuditRows(n int) {
	if m == nil || n <= 0 {
		return
	}
	m.auditRows.Add(float64(n))
}

// SandboxRestart counts a sandbox process replaced, by reason.
func (m *Metrics) SandboxRestart(reason string) {
	if m == nil {
		return
	}
	m.sandboxRestarts.WithLabelValues(reason).Inc()
}

// scrapeError counts a failed scrape-time reading.
func (m *Metrics) scrapeError(source string) {
	if m == nil {
		return
	}
	m.scrapeErrors.WithLabelValues(source).Inc()
}

// boundedLabels admits at most max distinct values; later ones become
// "other".
type boundedLabels struct {
	mu   sync.Mutex
	max  int
	seen map[string]struct{}
}

func (b *boundedLabels) value(v string) string {
	if v == "" {
		return "unknown"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.seen[v]; ok {
		return v
	}
	if len(b.seen) >= b.max {
		return otherLabel
	}
	if b.seen == nil {
		b.seen = map[string]struct{}{}
	}
	b.seen[v] = struct{}{}
	return v
}

// factory registers instruments as it makes them.
type factory struct{ reg *prometheus.Registry }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}

func (f factory) gauge(name, help string, constLabels prometheus.Labels) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: constLabels})
	f.reg.MustRegister(g)
	return g
}

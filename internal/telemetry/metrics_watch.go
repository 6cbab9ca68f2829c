package telemetry

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// PoolStats is one connection pool's state.
type PoolStats struct {
	Pool                       string // bounded: "app", "queue"
	Open, InUse, Idle, MaxOpen int
	WaitCount                  int64
	WaitDuration               time.Duration
}

// DBReadings is what the metrics read from the database at scrape time.
type DBReadings interface {
	// Unfinished counts the executions queued and running now.
	Unfinished(ctx context.Context) (queued, running int, err error)
	// QueueJobs counts the job queue's jobs by state.
	QueueJobs(ctx context.Context) (map[string]int, error)
	// WorkersAlive counts the worker processes heard from since since.
	WorkersAlive(ctx context.Context, since time.Time) (int, error)
	// Pools reports the connection pools (no I/O).
	Pools() []PoolStats
}

// QueueJobStates are River's job states, always reported (0 when none).
var QueueJobStates = []string{"available", "cancelled", "completed", "discarded", "pending", "retryable", "running", "scheduled"}

// scrapeTimeout bounds each scrape-time database reading: a slow or
// unreachable database costs a scrape error, never a hung scrape.
const scrapeTimeout = 3 * time.Second

// WatchDB reports, at each scrape, the executions queued and running, the
// job queue by state, the workers alive (heard from within lostAfter) and
// the connection pools.
func (m *Metrics) WatchDB(r DBReadings, lostAfter time.Duration) {
	if m == nil || r == nil {
		return
	}
	m.reg.MustRegister(&dbCollector{m: m, r: r, lostAfter: lostAfter,
		queued:      prometheus.NewDesc("codex32_executions_queued", "Executions waiting to run now (read from the database at scrape time).", nil, nil),
		running:     prometheus.NewDesc("codex32_executions_running", "Executions running now (read from the database at scrape time).", nil, nil),
		jobs:        prometheus.NewDesc("codex32_river_jobs", "Job queue (River) jobs by state, read at scrape time.", []string{"state"}, nil),
		workers:     prometheus.NewDesc("codex32_workers_alive", "Worker processes that reported within CODEX32_WORKER_LOST_AFTER.", nil, nil),
		open:        prometheus.NewDesc("codex32_db_open_connections", "Open database connections, by pool.", []string{"pool"}, nil),
		inUse:       prometheus.NewDesc("codex32_db_in_use_connections", "Database connections in use, by pool.", []string{"pool"}, nil),
		idle:        prometheus.NewDesc("codex32_db_idle_connections", "Idle database connections, by pool.", []string{"pool"}, nil),
		maxOpen:     prometheus.NewDesc("codex32_db_max_open_connections", "Most database connections the pool may open.", []string{"pool"}, nil),
		waits:       prometheus.NewDesc("codex32_db_wait_count_total", "Times a query waited for a free connection, by pool.", []string{"pool"}, nil),
		waitSeconds: prometheus.NewDesc("codex32_db_wait_duration_seconds_total", "Time spent waiting for a free connection, by pool.", []string{"pool"}, nil),
	})
}

type dbCollector struct {
	m         *Metrics
	r         DBReadings
	lostAfter time.Duration

	queued, running, jobs, workers                 *prometheus.Desc
	open, inUse, idle, maxOpen, waits, waitSeconds *prometheus.Desc
}

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.queued, c.running, c.jobs, c.workers, c.open, c.inUse, c.idle, c.maxOpen, c.waits, c.waitSeconds} {
		ch <- d
	}
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	if q, r, err := c.r.Unfinished(ctx); err != nil {
		c.m.scrapeError("executions")
	} else {
		ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(q))
		ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, float64(r))
	}
	if jobs, err := c.r.QueueJobs(ctx); err != nil {
		c.m.scrapeError("queue")
	} else {
		for _, s := range QueueJobStates {
			ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(jobs[s]), s)
		}
	}
	if n, err := c.r.WorkersAlive(ctx, time.Now().Add(-c.lostAfter)); err != nil {
		c.m.scrapeError("workers")
	} else {
		ch <- prometheus.MustNewConstMetric(c.workers, prometheus.GaugeValue, float64(n))
	}
	for _, p := range c.r.Pools() {
		ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(p.Open), p.Pool)
		ch <- prometheus.MustNewConstMetric(c.inUse, prometheus.GaugeValue, float64(p.InUse), p.Pool)
		ch <- prometheus.MustNewConstMetric(c.idle, prometheus.GaugeValue, float64(p.Idle), p.Pool)
		ch <- prometheus.MustNewConstMetric(c.maxOpen, prometheus.GaugeValue, float64(p.MaxOpen), p.Pool)
		ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, float64(p.WaitCount), p.Pool)
		ch <- prometheus.MustNewConstMetric(c.waitSeconds, prometheus.CounterValue, p.WaitDuration.Seconds(), p.Pool)
	}
}

// SandboxReading reports the script sandbox: processes alive and busy.
type SandboxReading func() (processes, busy int)

// WatchSandbox reports the sandbox pool at each scrape.
func (m *Metrics) WatchSandbox(read SandboxReading) {
	if m == nil || read == nil {
		return
	}
	m.reg.MustRegister(&sandboxCollector{read: read,
		procs: prometheus.NewDesc("codex32_sandbox_processes", "Script sandbox processes alive.", nil, nil),
		busy:  prometheus.NewDesc("codex32_sandbox_busy", "Script sandbox processes running a script now.", nil, nil),
	})
}

type sandboxCollector struct {
	read        SandboxReading
	procs, busy *prometheus.Desc
}

func (c *sandboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.procs; ch <- c.busy }

func (c *sandboxCollector) Collect(ch chan<- prometheus.Metric) {
	p, b := c.read()
	ch <- prometheus.MustNewConstMetric(c.procs, prometheus.GaugeValue, float64(p))
	ch <- prometheus.MustNewConstMetric(c.busy, prometheus.GaugeValue, float64(b))
}

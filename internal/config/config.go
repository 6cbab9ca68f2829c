// Package config reads Codex-32's settings from the environment (and an
// optional .env file) and validates them, so that a bad setting is reported
// once, by name, before anything starts.
package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/joho/godotenv"
)

// Config is every setting the binary reads. The `help` tag is shown by
// `codex32 help`; keep it to one line.
type Config struct {
	DatabaseURL string `env:"DATABASE_URL" help:"postgres:// URL, or a SQLite path / sqlite:// URL (default: $CODEX32_DATA_DIR/codex32.db)"`
	// MigrateURL lets serve and worker run as a least-privilege role while
	// migrations run as the schema owner.
	MigrateURL  string `env:"DATABASE_MIGRATE_URL" help:"postgres:// URL of the schema owner, used for migrations (serve's auto-migrate, codex32 migrate) while serve and worker use DATABASE_URL as a role without ownership (codex32 db grants)"`
	Addr        string `env:"CODEX32_ADDR" envDefault:":8080" help:"address the web server listens on, host:port"`
	DataDir     string `env:"CODEX32_DATA_DIR" envDefault:"./data" help:"directory for the embedded SQLite database and other local files"`
	Env         string `env:"CODEX32_ENV" envDefault:"development" help:"development or production"`
	LogLevel    string `env:"LOG_LEVEL" envDefault:"info" help:"debug, info, warn or error, optionally per component after a comma: info,runner=debug,http=warn (components: http, auth, api, runner, sandbox, scheduler, audit, db)"`
	LogFormat   string `env:"LOG_FORMAT" envDefault:"text" help:"text, json, or ecs (JSON with Elastic Common Schema field names, for Filebeat/Elastic)"`
	PprofAddr   string `env:"CODEX32_PPROF_ADDR" help:"host:port for Go's profiler (/debug/pprof/) on its own listener, e.g. 127.0.0.1:6060; empty = off; never expose it publicly"`
	AutoMigrate bool   `env:"CODEX32_AUTO_MIGRATE" envDefault:"true" help:"apply database migrations when serve starts (serve --migrate=false also turns it off)"`

	BaseURL        string        `env:"CODEX32_BASE_URL" help:"public URL of this server, e.g. https://codex32.example.com (default http://localhost:PORT); https turns on secure cookies and HSTS"`
	SessionSecret  []string      `env:"CODEX32_SESSION_SECRET" envSeparator:"," help:"comma-separated session signing keys, newest first, each at least 32 characters (old keys still verify); required in production"`
	SessionIdle    time.Duration `env:"CODEX32_SESSION_IDLE_TIMEOUT" envDefault:"24h" help:"sign out after this long without a request"`
	SessionMaxAge  time.Duration `env:"CODEX32_SESSION_MAX_AGE" envDefault:"168h" help:"sign out this long after sign-in, active or not"`
	TrustedProxies []string      `env:"CODEX32_TRUSTED_PROXIES" envSeparator:"," help:"comma-separated IPs/CIDRs of reverse proxies whose X-Forwarded-For is believed"`
	SecretKey      []string      `env:"CODEX32_SECRET_KEY" envSeparator:"," help:"comma-separated 32-byte keys (64 hex characters) encrypting bot secrets, newest first; required in production"`

	GoogleClientID     string `env:"GOOGLE_CLIENT_ID" help:"Google OAuth client id (enables \"Sign in with Google\")"`
	GoogleClientSecret string `env:"GOOGLE_CLIENT_SECRET" help:"Google OAuth client secret"`
	GitHubClientID     string `env:"GITHUB_CLIENT_ID" help:"GitHub OAuth app client id (enables \"Sign in with GitHub\")"`
	GitHubClientSecret string `env:"GITHUB_CLIENT_SECRET" help:"GitHub OAuth app client secret"`
	GitHubBaseURL      string `env:"GITHUB_BASE_URL" help:"GitHub Enterprise URL, e.g. https://github.example.com (default github.com)"`
	OIDCIssuer         string `env:"OIDC_ISSUER" help:"OpenID Connect issuer URL (Keycloak, Okta, Dex, Azure AD…; enables the OIDC button)"`
	OIDCClientID       string `env:"OIDC_CLIENT_ID" help:"OpenID Connect client id"`
	OIDCClientSecret   string `env:"OIDC_CLIENT_SECRET" help:"OpenID Connect client secret"`
	OIDCName           string `env:"OIDC_NAME" envDefault:"Single sign-on" help:"label of the OIDC sign-in button"`

	AllowedEmailDomains []string      `env:"CODEX32_ALLOWED_EMAIL_DOMAINS" envSeparator:"," help:"comma-separated email domains allowed to sign in with Google/OIDC (empty: any)"`
	GitHubAllowedOrgs   []string      `env:"CODEX32_GITHUB_ALLOWED_ORGS" envSeparator:"," help:"comma-separated GitHub organisations whose members may sign in with GitHub (empty: any)"`
	Signup              string        `env:"CODEX32_SIGNUP" envDefault:"off" help:"off (only existing users sign in) or allowed-domains (SSO users who pass the domain/org rules get an account)"`
	DefaultRole         string        `env:"CODEX32_DEFAULT_ROLE" envDefault:"viewer" help:"role of users created by SSO sign-up: viewer, user or api_user"`
	AdminEmails         []string      `env:"CODEX32_ADMIN_EMAILS" envSeparator:"," help:"comma-separated emails that SSO sign-in makes admin (verified emails only)"`
	AccountLinking      bool          `env:"CODEX32_ACCOUNT_LINKING" envDefault:"false" help:"let a second sign-in provider attach to an existing account when both emails are verified"`
	APIKeyMaxDays       int           `env:"CODEX32_API_KEY_MAX_DAYS" envDefault:"365" help:"longest lifetime, in days, an API key may be given"`
	APICacheTTL         time.Duration `env:"CODEX32_API_CACHE_TTL" envDefault:"1s" help:"how long the API may reuse an API key check or a GET /api/v1/bots page; changes made through the same process show at once, others within this time (0 = off)"`
	APIRateLimit        string        `env:"CODEX32_API_RATE_LIMIT" envDefault:"600/min" help:"requests each API key may make to /api, as N/sec, N/min or N/hour, per server process (0 = no limit)"`

	Workers            int           `env:"CODEX32_WORKERS" envDefault:"100" help:"executions one process runs at a time (serve and worker); 0 = serve runs no workers"`
	ScriptProcesses    int           `env:"CODEX32_SCRIPT_PROCESSES" envDefault:"0" help:"sandbox processes running script bots (0 = one per CPU); each runs one script at a time"`
	ScriptMemoryMB     int           `env:"CODEX32_SCRIPT_MEMORY_MB" envDefault:"256" help:"memory limit of one script run, in MiB; a script that needs more fails"`
	ScriptMaxTimeout   time.Duration `env:"CODEX32_SCRIPT_MAX_TIMEOUT" envDefault:"60s" help:"cap on a script bot's timeout_seconds"`
	OutboundAllow      []string      `env:"CODEX32_OUTBOUND_ALLOW" envSeparator:"," help:"comma-separated hosts and CIDRs that http and llm bots may reach although internal (loopback, private, link-local…); the cloud metadata address stays refused"`
	ErrorAfterFailures int           `env:"CODEX32_ERROR_AFTER_FAILURES" envDefault:"5" help:"consecutive failed executions that set an active bot's status to error (0 = never)"`
	WorkerLostAfter    time.Duration `env:"CODEX32_WORKER_LOST_AFTER" envDefault:"30s" help:"a worker that has not reported for this long is presumed dead; its running executions are retried or failed"`
	ShutdownGrace      time.Duration `env:"CODEX32_SHUTDOWN_GRACE" envDefault:"30s" help:"on SIGTERM, how long running executions may finish before they are interrupted and queued again"`
	ExecutionRetention time.Duration `env:"CODEX32_EXECUTION_RETENTION" envDefault:"720h" help:"finished executions older than this are deleted (0 = keep forever)"`
	ExecutionKeep      int           `env:"CODEX32_EXECUTION_KEEP_PER_BOT" envDefault:"100" help:"each bot keeps at least its newest N executions, however old"`

	AuditSigningKey         string        `env:"CODEX32_AUDIT_SIGNING_KEY" help:"Ed25519 key (64 hex characters; codex32 audit keygen) that signs audit checkpoints; keep it outside the database (development: a key file in the data directory)"`
	AuditCheckpointInterval time.Duration `env:"CODEX32_AUDIT_CHECKPOINT_INTERVAL" envDefault:"10m" help:"serve signs an audit checkpoint this often when the audit log has grown (0 = only on demand: codex32 audit checkpoint)"`

	MetricsAddr         string `env:"CODEX32_METRICS_ADDR" help:"host:port of a separate listener serving Prometheus metrics at /metrics, e.g. :9090 (serve and worker each expose their own); empty = off"`
	MetricsToken        string `env:"CODEX32_METRICS_TOKEN" help:"when set (at least 16 characters), /metrics is also served on the main port to requests with Authorization: Bearer <token>"`
	MetricsBotLabels    bool   `env:"CODEX32_METRICS_BOT_LABELS" envDefault:"false" help:"add codex32_bot_executions_finished_total{bot_id,status}, one series per bot (opt-in: raises cardinality)"`
	MetricsBotLabelsMax int    `env:"CODEX32_METRICS_BOT_LABELS_MAX" envDefault:"100" help:"cap on distinct bot_id labels; bots beyond it are counted as bot_id=\"other\""`

	OTLPEndpoint    string `env:"OTEL_EXPORTER_OTLP_ENDPOINT" help:"OpenTelemetry collector URL, e.g. http://otel-collector:4318 (http/protobuf) or http://otel-collector:4317 (grpc); traces are off when empty"`
	OTLPProtocol    string `env:"OTEL_EXPORTER_OTLP_PROTOCOL" envDefault:"http/protobuf" help:"http/protobuf or grpc"`
	OTelServiceName string `env:"OTEL_SERVICE_NAME" envDefault:"codex32" help:"service.name of the traces this process sends"`
	OTelSampler     string `env:"OTEL_TRACES_SAMPLER" envDefault:"parentbased_always_on" help:"always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio"`
	OTelSamplerArg  string `env:"OTEL_TRACES_SAMPLER_ARG" help:"the ratio for the traceidratio samplers, 0 to 1 (default 1)"`
	OTelResource    string `env:"OTEL_RESOURCE_ATTRIBUTES" help:"extra resource attributes of the traces, key=value,key=value (e.g. deployment.environment=prod)"`
	TraceURL        string `env:"CODEX32_TRACE_URL" help:"link to a trace in your tracing UI, with {trace_id} in it, e.g. https://jaeger.example.com/trace/{trace_id}; the execution page links its trace through it"`
	// TrustTraceparent lists who may continue a trace: a traceparent header
	// from anyone else starts a new trace (linked to theirs).
	TrustTraceparent string `env:"CODEX32_TRUST_TRACEPARENT" envDefault:"proxies" help:"whose incoming W3C traceparent header continues their trace: proxies (CODEX32_TRUSTED_PROXIES and loopback), all, or none; webhooks always honour it"`

	// Database is derived from DatabaseURL by Validate.
	Database Database `env:"-"`
	// Migrate is where migrations run: DATABASE_MIGRATE_URL, else Database.
	Migrate Database `env:"-"`
	// Level is derived from LogLevel by Validate: the default level.
	Level slog.Level `env:"-"`
	// ComponentLevels is derived from LogLevel by Validate: the levels of
	// the components named after the first comma.
	ComponentLevels map[string]slog.Level `env:"-"`
	// APIRate is derived from APIRateLimit by Validate.
	APIRate Rate `env:"-"`
	// baseURLDefaulted: Validate filled BaseURL in (CODEX32_BASE_URL unset).
	baseURLDefaulted bool
}

// Rate is a request rate: N requests per Period. The zero Rate is no limit.
type Rate struct {
	N      int
	Period time.Duration
}

// Off reports whether the rate is "no limit".
func (r Rate) Off() bool { return r.N == 0 }

// ParseRate reads "N/sec", "N/min" or "N/hour" (also N/s, N/second, N/m,
// N/minute, N/h), or "0" for no limit.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	num, unit, hasUnit := strings.Cut(strings.ToLower(s), "/")
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n < 0 {
		return Rate{}, fmt.Errorf("%q is not N/sec, N/min or N/hour (for example 600/min), or 0 for no limit", s)
	}
	if n == 0 {
		return Rate{}, nil
	}
	if !hasUnit {
		return Rate{}, fmt.Errorf("%q has no period: write %d/sec, %d/min or %d/hour", s, n, n, n)
	}
	var period time.Duration
	switch strings.TrimSpace(unit) {
	case "s", "sec", "second":
		period = time.Second
	case "m", "min", "minute":
		period = time.Minute
	case "h", "hour":
		period = time.Hour
	default:
		return Rate{}, fmt.Errorf("%q: the period must be sec, min or hour (for example 600/min)", s)
	}
	if n > 1_000_000 {
		return Rate{}, fmt.Errorf("%q: at most 1000000 requests per period", s)
	}
	return Rate{N: n, Period: period}, nil
}

// Database says which engine to open and where.
type Database struct {
	Driver string // "postgres" or "sqlite"
	URL    string // the postgres URL, or the SQLite file path
}

// Error is a configuration problem, reported as one line naming the setting.
type Error struct {
	Setting string
	Problem string
}

func (e *Error) Error() string { return fmt.Sprintf("invalid %s: %s", e.Setting, e.Problem) }

// Load reads the optional .env file in the working directory (real
// environment variables win over it), then the environment, then validates.
func Load() (*Config, error) {
	if err := godotenv.Load(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, &Error{Setting: ".env", Problem: err.Error()}
	}
	return FromEnv(nil)
}

// FromEnv parses settings from the given map, or from the process
// environment when environ is nil.
func FromEnv(environ map[string]string) (*Config, error) {
	cfg := &Config{}
	opts := env.Options{}
	if environ != nil {
		opts.Environment = environ
	}
	if err := env.ParseWithOptions(cfg, opts); err != nil {
		return nil, parseError(err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// parseError turns env's aggregate error into our one-line Error.
func parseError(err error) error {
	var agg env.AggregateError
	if errors.As(err, &agg) && len(agg.Errors) > 0 {
		var pe env.ParseError
		if errors.As(agg.Errors[0], &pe) {
			return &Error{Setting: settingOfField(pe.Name), Problem: fmt.Sprintf("cannot parse as %s", pe.Type)}
		}
		return &Error{Setting: "environment", Problem: agg.Errors[0].Error()}
	}
	return &Error{Setting: "environment", Problem: err.Error()}
}

func settingOfField(field string) string {
	for _, s := range Settings() {
		if s.Field == field {
			return s.Name
		}
	}
	return field
}

// Validate checks every setting and fills the derived fields.
func (c *Config) Validate() error {
	if _, port, err := net.SplitHostPort(c.Addr); err != nil {
		return &Error{Setting: "CODEX32_ADDR", Problem: fmt.Sprintf("%q is not host:port (for example :8080 or 127.0.0.1:8080)", c.Addr)}
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return &Error{Setting: "CODEX32_ADDR", Problem: fmt.Sprintf("port %q is not a number from 0 to 65535", port)}
	}
	if c.PprofAddr != "" {
		if _, _, err := net.SplitHostPort(c.PprofAddr); err != nil {
			return &Error{Setting: "CODEX32_PPROF_ADDR", Problem: fmt.Sprintf("%q is not host:port (for example 127.0.0.1:6060)", c.PprofAddr)}
		}
	}
	switch c.Env {
	case "development", "production":
	default:
		return &Error{Setting: "CODEX32_ENV", Problem: fmt.Sprintf("%q is not development or production", c.Env)}
	}
	level, components, err := ParseLogLevels(c.LogLevel)
	if err != nil {
		return &Error{Setting: "LOG_LEVEL", Problem: err.Error()}
	}
	c.Level, c.ComponentLevels = level, components
	switch c.LogFormat {
	case "text", "json", "ecs":
	default:
		return &Error{Setting: "LOG_FORMAT", Problem: fmt.Sprintf("%q is not text, json or ecs", c.LogFormat)}
	}
	if err := c.validateTelemetry(); err != nil {
		return err
	}
	if strings.TrimSpace(c.DataDir) == "" {
		return &Error{Setting: "CODEX32_DATA_DIR", Problem: "must not be empty"}
	}
	db, err := ParseDatabaseURL(c.DatabaseURL, c.DataDir)
	if err != nil {
		return &Error{Setting: "DATABASE_URL", Problem: err.Error()}
	}
	c.Database, c.Migrate = db, db
	if strings.TrimSpace(c.MigrateURL) != "" {
		m, err := ParseDatabaseURL(c.MigrateURL, c.DataDir)
		switch {
		case err != nil:
			return &Error{Setting: "DATABASE_MIGRATE_URL", Problem: err.Error()}
		case m.Driver != "postgres" || db.Driver != "postgres":
			return &Error{Setting: "DATABASE_MIGRATE_URL", Problem: "is for Postgres: both it and DATABASE_URL must be postgres:// URLs (SQLite has no roles)"}
		}
		c.Migrate = m
	}
	if err := c.validateAudit(); err != nil {
		return err
	}
	return c.validateAuth()
}

func (c *Config) validateAudit() error {
	c.AuditSigningKey = strings.TrimSpace(c.AuditSigningKey)
	if c.AuditSigningKey != "" {
		if b, err := hex.DecodeString(c.AuditSigningKey); err != nil || len(b) != 32 {
			return &Error{Setting: "CODEX32_AUDIT_SIGNING_KEY", Problem: "is not 64 hex characters (make one with: codex32 audit keygen)"}
		}
	}
	if c.AuditCheckpointInterval != 0 && c.AuditCheckpointInterval < 10*time.Second {
		return &Error{Setting: "CODEX32_AUDIT_CHECKPOINT_INTERVAL", Problem: "must be 0 (off) or at least 10s"}
	}
	return nil
}

// Secure reports whether the public URL is https (secure cookies, HSTS).
func (c *Config) Secure() bool { return strings.HasPrefix(c.BaseURL, "https://") }

// PublicBaseURL is CODEX32_BASE_URL as configured (normalised), or "" when
// it was not set: BaseURL then holds a localhost default that suits OAuth
// callbacks in development but not URLs handed to other machines, which
// should rather follow the request's host (handlers.Deps.BaseURL).
func (c *Config) PublicBaseURL() string {
	if c.baseURLDefaulted {
		return ""
	}
	return c.BaseURL
}

func (c *Config) validateAuth() error {
	if c.BaseURL == "" {
		c.baseURLDefaulted = true
		_, port, _ := net.SplitHostPort(c.Addr)
		c.BaseURL = "http://localhost:" + port
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return &Error{Setting: "CODEX32_BASE_URL", Problem: fmt.Sprintf("%q is not an http(s) URL of the server's root, like https://codex32.example.com", c.BaseURL)}
	}
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	for i, k := range c.SessionSecret {
		c.SessionSecret[i] = strings.TrimSpace(k)
		if len(c.SessionSecret[i]) < 32 {
			return &Error{Setting: "CODEX32_SESSION_SECRET", Problem: fmt.Sprintf("key %d is shorter than 32 characters (generate one with: openssl rand -hex 32)", i+1)}
		}
	}
	if c.Production() && len(c.SessionSecret) == 0 {
		return &Error{Setting: "CODEX32_SESSION_SECRET", Problem: "is required when CODEX32_ENV=production (generate one with: openssl rand -hex 32)"}
	}
	for i, k := range c.SecretKey {
		c.SecretKey[i] = strings.TrimSpace(k)
		if b, err := hex.DecodeString(c.SecretKey[i]); err != nil || len(b) != 32 {
			return &Error{Setting: "CODEX32_SECRET_KEY", Problem: fmt.Sprintf("key %d is not 64 hex characters (generate one with: openssl rand -hex 32)", i+1)}
		}
	}
	if c.Production() && len(c.SecretKey) == 0 {
		return &Error{Setting: "CODEX32_SECRET_KEY", Problem: "is required when CODEX32_ENV=production (generate one with: openssl rand -hex 32)"}
	}
	if c.SessionIdle < time.Minute {
		return &Error{Setting: "CODEX32_SESSION_IDLE_TIMEOUT", Problem: "must be at least 1m"}
	}
	if c.SessionMaxAge < c.SessionIdle {
		return &Error{Setting: "CODEX32_SESSION_MAX_AGE", Problem: "must be at least CODEX32_SESSION_IDLE_TIMEOUT"}
	}
	for _, p := range c.TrustedProxies {
		p = strings.TrimSpace(p)
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				return &Error{Setting: "CODEX32_TRUSTED_PROXIES", Problem: fmt.Sprintf("%q is not an IP address or CIDR", p)}
			}
		}
	}
	pairs := []struct{ name, id, secret string }{
		{"GOOGLE_CLIENT", c.GoogleClientID, c.GoogleClientSecret},
		{"GITHUB_CLIENT", c.GitHubClientID, c.GitHubClientSecret},
	}
	for _, p := range pairs {
		if (p.id == "") != (p.secret == "") {
			return &Error{Setting: p.name + "_ID/" + p.name + "_SECRET", Problem: "set both or neither"}
		}
	}
	if (c.OIDCIssuer == "") != (c.OIDCClientID == "") || (c.OIDCClientID == "") != (c.OIDCClientSecret == "") {
		return &Error{Setting: "OIDC_ISSUER/OIDC_CLIENT_ID/OIDC_CLIENT_SECRET", Problem: "set all three or none"}
	}
	for _, raw := range []struct{ name, v string }{{"OIDC_ISSUER", c.OIDCIssuer}, {"GITHUB_BASE_URL", c.GitHubBaseURL}} {
		if raw.v == "" {
			continue
		}
		if u, err := url.Parse(raw.v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &Error{Setting: raw.name, Problem: fmt.Sprintf("%q is not an http(s) URL", raw.v)}
		}
	}
	switch c.Signup {
	case "off", "allowed-domains":
	default:
		return &Error{Setting: "CODEX32_SIGNUP", Problem: fmt.Sprintf("%q is not off or allowed-domains", c.Signup)}
	}
	switch c.DefaultRole {
	case "viewer", "user", "api_user":
	default:
		return &Error{Setting: "CODEX32_DEFAULT_ROLE", Problem: fmt.Sprintf("%q is not viewer, user or api_user (admin is granted only by CODEX32_ADMIN_EMAILS)", c.DefaultRole)}
	}
	c.AllowedEmailDomains = lowerAll(c.AllowedEmailDomains, "@")
	c.AdminEmails = lowerAll(c.AdminEmails, "")
	c.GitHubAllowedOrgs = lowerAll(c.GitHubAllowedOrgs, "")
	if c.APIKeyMaxDays < 1 || c.APIKeyMaxDays > 3650 {
		return &Error{Setting: "CODEX32_API_KEY_MAX_DAYS", Problem: "must be from 1 to 3650"}
	}
	if c.APIRate, err = ParseRate(c.APIRateLimit); err != nil {
		return &Error{Setting: "CODEX32_API_RATE_LIMIT", Problem: err.Error()}
	}
	if c.APICacheTTL < 0 || c.APICacheTTL > time.Minute {
		return &Error{Setting: "CODEX32_API_CACHE_TTL", Problem: fmt.Sprintf("%s is not between 0 and 1m", c.APICacheTTL)}
	}
	return c.validateEngine()
}

// validateEngine checks the execution engine's settings.
func (c *Config) validateEngine() error {
	switch {
	case c.Workers < 0 || c.Workers > 10000:
		return &Error{Setting: "CODEX32_WORKERS", Problem: "must be from 0 to 10000"}
	case c.ScriptProcesses < 0 || c.ScriptProcesses > 256:
		return &Error{Setting: "CODEX32_SCRIPT_PROCESSES", Problem: "must be from 0 to 256"}
	case c.ScriptMemoryMB < 32 || c.ScriptMemoryMB > 16384:
		return &Error{Setting: "CODEX32_SCRIPT_MEMORY_MB", Problem: "must be from 32 to 16384"}
	case c.ScriptMaxTimeout < time.Second || c.ScriptMaxTimeout > time.Hour:
		return &Error{Setting: "CODEX32_SCRIPT_MAX_TIMEOUT", Problem: "must be from 1s to 1h"}
	case c.ErrorAfterFailures < 0:
		return &Error{Setting: "CODEX32_ERROR_AFTER_FAILURES", Problem: "must not be negative"}
	case c.WorkerLostAfter < 2*time.Second:
		return &Error{Setting: "CODEX32_WORKER_LOST_AFTER", Problem: "must be at least 2s (workers report every third of it)"}
	case c.ShutdownGrace < 0:
		return &Error{Setting: "CODEX32_SHUTDOWN_GRACE", Problem: "must not be negative"}
	case c.ExecutionRetention < 0:
		return &Error{Setting: "CODEX32_EXECUTION_RETENTION", Problem: "must not be negative"}
	case c.ExecutionKeep < 1:
		return &Error{Setting: "CODEX32_EXECUTION_KEEP_PER_BOT", Problem: "must be at least 1"}
	}
	return nil
}

func lowerAll(in []string, trimPrefix string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		s = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), trimPrefix))
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Production reports whether CODEX32_ENV=production.
func (c *Config) Production() bool { return c.Env == "production" }

// ParseDatabaseURL accepts a postgres:// or postgresql:// URL, a sqlite://
// URL, a file: URL or a plain path. Empty means the embedded default.
func ParseDatabaseURL(raw, dataDir string) (Database, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return Database{Driver: "sqlite", URL: filepath.Join(dataDir, "codex32.db")}, nil
	}
	scheme, rest, hasScheme := strings.Cut(raw, "://")
	if !hasScheme {
		if strings.HasPrefix(raw, "file:") {
			return Database{Driver: "sqlite", URL: strings.TrimPrefix(raw, "file:")}, nil
		}
		if strings.Contains(raw, ":") && !strings.ContainsAny(raw, `/\.`) {
			return Database{}, fmt.Errorf("%q is neither a URL nor a file path", raw)
		}
		return Database{Driver: "sqlite", URL: raw}, nil
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		u, err := url.Parse(raw)
		if err != nil {
			return Database{}, fmt.Errorf("not a valid postgres URL: %v", redactURLError(err))
		}
		if u.Host == "" && u.Query().Get("host") == "" {
			return Database{}, errors.New("postgres URL has no host")
		}
		return Database{Driver: "postgres", URL: raw}, nil
	case "sqlite", "sqlite3":
		path, _, _ := strings.Cut(rest, "?")
		if path == "" {
			return Database{}, errors.New("sqlite URL has no file path (use sqlite://relative/path.db or sqlite:///absolute/path.db)")
		}
		return Database{Driver: "sqlite", URL: path}, nil
	default:
		return Database{}, fmt.Errorf("unsupported scheme %q (use postgres://… or a SQLite path)", scheme)
	}
}

// redactURLError drops the URL (which may hold a password) from url.Parse's error.
func redactURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return "malformed"
}

// Setting describes one environment variable for help output.
type Setting struct {
	Name    string
	Field   string
	Default string
	Help    string
}

// Package config reads Codex-32's settings from the environment (and an
// optional .env file) and validates them, so that a bad setting is reported
// once, by name, before anything starts.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/caarlos0/env/v11"
	"github.com/joho/godotenv"
)

// Config is every setting the binary reads. The `help` tag is shown by
// `codex32 help`; keep it to one line.
type Config struct {
	DatabaseURL string `env:"DATABASE_URL" help:"postgres:// URL, or a SQLite path / sqlite:// URL (default: $CODEX32_DATA_DIR/codex32.db)"`
	Addr        string `env:"CODEX32_ADDR" envDefault:":8080" help:"address the web server listens on, host:port"`
	DataDir     string `env:"CODEX32_DATA_DIR" envDefault:"./data" help:"directory for the embedded SQLite database and other local files"`
	Env         string `env:"CODEX32_ENV" envDefault:"development" help:"development or production"`
	LogLevel    string `env:"LOG_LEVEL" envDefault:"info" help:"debug, info, warn or error"`
	LogFormat   string `env:"LOG_FORMAT" envDefault:"text" help:"text or json"`
	AutoMigrate bool   `env:"CODEX32_AUTO_MIGRATE" envDefault:"true" help:"apply database migrations when serve starts (serve --migrate=false also turns it off)"`

	// Database is derived from DatabaseURL by Validate.
	Database Database `env:"-"`
	// Level is derived from LogLevel by Validate.
	Level slog.Level `env:"-"`
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
	switch c.Env {
	case "development", "production":
	default:
		return &Error{Setting: "CODEX32_ENV", Problem: fmt.Sprintf("%q is not development or production", c.Env)}
	}
	if err := c.Level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return &Error{Setting: "LOG_LEVEL", Problem: fmt.Sprintf("%q is not debug, info, warn or error", c.LogLevel)}
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return &Error{Setting: "LOG_FORMAT", Problem: fmt.Sprintf("%q is not text or json", c.LogFormat)}
	}
	if strings.TrimSpace(c.DataDir) == "" {
		return &Error{Setting: "CODEX32_DATA_DIR", Problem: "must not be empty"}
	}
	db, err := ParseDatabaseURL(c.DatabaseURL, c.DataDir)
	if err != nil {
		return &Error{Setting: "DATABASE_URL", Problem: err.Error()}
	}
	c.Database = db
	return nil
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

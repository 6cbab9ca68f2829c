package config_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/config"
)

func TestDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := config.FromEnv(map[string]string{})
	require.NoError(t, err)
	require.Equal(t, ":8080", cfg.Addr)
	require.Equal(t, "./data", cfg.DataDir)
	require.Equal(t, "development", cfg.Env)
	require.True(t, cfg.AutoMigrate)
	require.Equal(t, config.Database{Driver: "sqlite", URL: filepath.Join("data", "codex32.db")}, cfg.Database)
}

func TestDatabaseURLForms(t *testing.T) {
	t.Parallel()
	cases := map[string]config.Database{
		"postgres://u:p@db:5432/app?sslmode=disable": {Driver: "postgres", URL: "postgres://u:p@db:5432/app?sslmode=disable"},
		"postgresql://db/app":                        {Driver: "postgres", URL: "postgresql://db/app"},
		"sqlite://rel/x.db":                          {Driver: "sqlite", URL: "rel/x.db"},
		"sqlite:///abs/x.db":                         {Driver: "sqlite", URL: "/abs/x.db"},
		"/var/lib/codex32/x.db":                      {Driver: "sqlite", URL: "/var/lib/codex32/x.db"},
		"file:x.db":                                  {Driver: "sqlite", URL: "x.db"},
		"x.db":                                       {Driver: "sqlite", URL: "x.db"},
	}
	for in, want := range cases {
		got, err := config.ParseDatabaseURL(in, "./data")
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
}

func TestInvalidSettingsNameTheSetting(t *testing.T) {
	t.Parallel()
	cases := map[string]map[string]string{
		"DATABASE_URL":                                  {"DATABASE_URL": "mysql://x"},
		"CODEX32_ADDR":                                  {"CODEX32_ADDR": "nope"},
		"CODEX32_ENV":                                   {"CODEX32_ENV": "staging"},
		"LOG_LEVEL":                                     {"LOG_LEVEL": "loud"},
		"LOG_FORMAT":                                    {"LOG_FORMAT": "xml"},
		"CODEX32_AUTO_MIGRATE":                          {"CODEX32_AUTO_MIGRATE": "maybe"},
		"CODEX32_DATA_DIR":                              {"CODEX32_DATA_DIR": " "},
		"CODEX32_BASE_URL":                              {"CODEX32_BASE_URL": "ftp://example.com"},
		"CODEX32_SESSION_SECRET":                        {"CODEX32_SESSION_SECRET": "too-short"},
		"CODEX32_SESSION_IDLE_TIMEOUT":                  {"CODEX32_SESSION_IDLE_TIMEOUT": "10s"},
		"CODEX32_SESSION_MAX_AGE":                       {"CODEX32_SESSION_IDLE_TIMEOUT": "2h", "CODEX32_SESSION_MAX_AGE": "1h"},
		"CODEX32_TRUSTED_PROXIES":                       {"CODEX32_TRUSTED_PROXIES": "10.0.0.0/8,not-an-ip"},
		"GOOGLE_CLIENT_ID/GOOGLE_CLIENT_SECRET":         {"GOOGLE_CLIENT_ID": "id-only"},
		"OIDC_ISSUER/OIDC_CLIENT_ID/OIDC_CLIENT_SECRET": {"OIDC_ISSUER": "https://idp.example.com"},
		"OIDC_ISSUER":                                   {"OIDC_ISSUER": "idp.example.com", "OIDC_CLIENT_ID": "a", "OIDC_CLIENT_SECRET": "b"},
		"CODEX32_SIGNUP":                                {"CODEX32_SIGNUP": "everyone"},
		"CODEX32_DEFAULT_ROLE":                          {"CODEX32_DEFAULT_ROLE": "admin"},
		"CODEX32_API_KEY_MAX_DAYS":                      {"CODEX32_API_KEY_MAX_DAYS": "0"},
		"CODEX32_API_RATE_LIMIT":                        {"CODEX32_API_RATE_LIMIT": "600"},
	}
	for setting, environ := range cases {
		_, err := config.FromEnv(environ)
		var ce *config.Error
		require.ErrorAs(t, err, &ce, setting)
		require.Equal(t, setting, ce.Setting)
		require.NotContains(t, err.Error(), "\n", "one line")
	}
}

func TestPostgresPasswordNotEchoed(t *testing.T) {
	t.Parallel()
	_, err := config.FromEnv(map[string]string{"DATABASE_URL": "postgres://u:s3cret@[bad/x"})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cret")
}

func TestHelpListsEverySetting(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	config.WriteHelp(&buf)
	for _, name := range []string{"DATABASE_URL", "CODEX32_ADDR", "CODEX32_DATA_DIR", "CODEX32_ENV", "LOG_LEVEL", "LOG_FORMAT", "CODEX32_AUTO_MIGRATE"} {
		require.Contains(t, buf.String(), name)
	}
}

func TestREADMEDocumentsEverySetting(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	for _, s := range config.Settings() {
		require.Contains(t, string(readme), "`"+s.Name+"`", "README's configuration table lists %s", s.Name)
	}
}

func TestProductionNeedsASessionSecret(t *testing.T) {
	t.Parallel()
	_, err := config.FromEnv(map[string]string{"CODEX32_ENV": "production"})
	var ce *config.Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "CODEX32_SESSION_SECRET", ce.Setting)
	_, err = config.FromEnv(map[string]string{"CODEX32_ENV": "production", "CODEX32_SESSION_SECRET": "new-key-0123456789abcdef0123456789abcdef"})
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "CODEX32_SECRET_KEY", ce.Setting)

	cfg, err := config.FromEnv(map[string]string{"CODEX32_ENV": "production", "CODEX32_SECRET_KEY": "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		"CODEX32_SESSION_SECRET": "new-key-0123456789abcdef0123456789abcdef, old-key-0123456789abcdef0123456789abcdef",
		"CODEX32_BASE_URL":       "https://codex32.example.com/"})
	require.NoError(t, err)
	require.Len(t, cfg.SessionSecret, 2, "rotation: several keys")
	require.True(t, cfg.Secure())
	require.Equal(t, "https://codex32.example.com", cfg.BaseURL)
	require.Equal(t, "https://codex32.example.com", cfg.PublicBaseURL(), "set: URLs for other machines use it")
}

func TestAuthSettingsAreNormalised(t *testing.T) {
	t.Parallel()
	cfg, err := config.FromEnv(map[string]string{"CODEX32_ADDR": "127.0.0.1:9000",
		"CODEX32_ALLOWED_EMAIL_DOMAINS": " Example.COM, @corp.example ", "CODEX32_ADMIN_EMAILS": "Boss@Example.com",
		"CODEX32_GITHUB_ALLOWED_ORGS": "Acme"})
	require.NoError(t, err)
	require.Equal(t, "http://localhost:9000", cfg.BaseURL, "default base URL follows the port")
	require.Empty(t, cfg.PublicBaseURL(), "the default is not a public URL: webhook URLs follow the request's host")
	require.False(t, cfg.Secure())
	require.Equal(t, []string{"example.com", "corp.example"}, cfg.AllowedEmailDomains)
	require.Equal(t, []string{"boss@example.com"}, cfg.AdminEmails)
	require.Equal(t, []string{"acme"}, cfg.GitHubAllowedOrgs)
	require.Equal(t, "off", cfg.Signup)
	require.Equal(t, "viewer", cfg.DefaultRole)
}

func TestAPIRateLimit(t *testing.T) {
	t.Parallel()
	cfg, err := config.FromEnv(map[string]string{})
	require.NoError(t, err)
	require.Equal(t, config.Rate{N: 600, Period: time.Minute}, cfg.APIRate, "default 600/min")

	for in, want := range map[string]config.Rate{
		"10/sec": {N: 10, Period: time.Second}, "10/s": {N: 10, Period: time.Second}, "10/second": {N: 10, Period: time.Second},
		"600/min": {N: 600, Period: time.Minute}, " 600 / MIN ": {N: 600, Period: time.Minute}, "5/minute": {N: 5, Period: time.Minute},
		"1000/hour": {N: 1000, Period: time.Hour}, "1000/h": {N: 1000, Period: time.Hour},
		"0": {}, "0/min": {},
	} {
		got, err := config.ParseRate(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	off, err := config.FromEnv(map[string]string{"CODEX32_API_RATE_LIMIT": "0"})
	require.NoError(t, err)
	require.True(t, off.APIRate.Off())

	for _, bad := range []string{"600", "fast", "-1/min", "10/day", "10/", "/min", "2000000/sec", "1.5/sec"} {
		_, err := config.FromEnv(map[string]string{"CODEX32_API_RATE_LIMIT": bad})
		var ce *config.Error
		require.ErrorAs(t, err, &ce, bad)
		require.Equal(t, "CODEX32_API_RATE_LIMIT", ce.Setting)
		require.NotContains(t, err.Error(), "\n")
		t.Log(err)
	}
}

func TestLogLevelsPerComponent(t *testing.T) {
	t.Parallel()
	cfg, err := config.FromEnv(map[string]string{"LOG_LEVEL": "warn, runner=debug,http=error", "LOG_FORMAT": "ecs"})
	require.NoError(t, err)
	require.Equal(t, slog.LevelWarn, cfg.Level)
	require.Equal(t, map[string]slog.Level{"runner": slog.LevelDebug, "http": slog.LevelError}, cfg.ComponentLevels)
	for _, bad := range []string{"loud", "info,runner", "info,nosuch=debug", "info,runner=loud", "runner=debug"} {
		_, err := config.FromEnv(map[string]string{"LOG_LEVEL": bad})
		var ce *config.Error
		require.ErrorAs(t, err, &ce, bad)
		require.Equal(t, "LOG_LEVEL", ce.Setting, bad)
	}
}

func TestTelemetrySettings(t *testing.T) {
	t.Parallel()
	cfg, err := config.FromEnv(map[string]string{"CODEX32_METRICS_ADDR": ":9090", "CODEX32_METRICS_TOKEN": "0123456789abcdef",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "CODEX32_TRACE_URL": "https://jaeger.example.com/trace/{trace_id}"})
	require.NoError(t, err)
	require.Equal(t, "https://jaeger.example.com/trace/4bf92f3577b34da6a3ce929d0e0e4736", cfg.TraceLink("4bf92f3577b34da6a3ce929d0e0e4736"))
	require.Empty(t, cfg.TraceLink(""), "no trace id, no link")
	for setting, bad := range map[string]string{
		"CODEX32_METRICS_ADDR":           "9090",
		"CODEX32_METRICS_TOKEN":          "short",
		"CODEX32_METRICS_BOT_LABELS_MAX": "0",
		"OTEL_EXPORTER_OTLP_ENDPOINT":    "collector:4318",
		"OTEL_EXPORTER_OTLP_PROTOCOL":    "http/json",
		"OTEL_TRACES_SAMPLER":            "sometimes",
		"OTEL_TRACES_SAMPLER_ARG":        "2",
		"CODEX32_TRACE_URL":              "https://jaeger.example.com/trace/",
		"CODEX32_TRUST_TRACEPARENT":      "everyone",
	} {
		_, err := config.FromEnv(map[string]string{setting: bad})
		var ce *config.Error
		require.ErrorAs(t, err, &ce, setting)
		require.Equal(t, setting, ce.Setting)
	}
	_, err = config.FromEnv(map[string]string{"CODEX32_METRICS_ADDR": ":8080"})
	require.Error(t, err, "metrics on the main address")
}

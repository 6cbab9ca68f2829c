package config_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

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
		"DATABASE_URL":         {"DATABASE_URL": "mysql://x"},
		"CODEX32_ADDR":         {"CODEX32_ADDR": "nope"},
		"CODEX32_ENV":          {"CODEX32_ENV": "staging"},
		"LOG_LEVEL":            {"LOG_LEVEL": "loud"},
		"LOG_FORMAT":           {"LOG_FORMAT": "xml"},
		"CODEX32_AUTO_MIGRATE": {"CODEX32_AUTO_MIGRATE": "maybe"},
		"CODEX32_DATA_DIR":     {"CODEX32_DATA_DIR": " "},
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

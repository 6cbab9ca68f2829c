package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

// importEnv is a migrated database with one admin.
func importEnv(t *testing.T) (map[string]string, testutil.DBSpec) {
	t.Helper()
	spec := testutil.NewDBSpec(t)
	env := map[string]string{"DATABASE_URL": spec.URL}
	_, stderr, code := codex32(t, env, "migrate", "up")
	require.Zero(t, code, stderr)
	_, stderr, code = codex32(t, env, "user", "create", "--email", "admin@example.test", "--name", "Admin", "--role", "admin")
	require.Zero(t, code, stderr)
	return env, spec
}

func examplesDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "examples", "bots"))
	require.NoError(t, err)
	return dir
}

func TestImportExamplesIsIdempotent(t *testing.T) {
	t.Parallel()
	env, spec := importEnv(t)
	dir := examplesDir(t)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(entries), 3, "one example per kind")

	out, stderr, code := codex32(t, env, "import", dir)
	require.Zero(t, code, stderr+out)
	require.Equal(t, len(entries), strings.Count(out, "created "), out)
	require.Contains(t, out, "0 failed")

	out, stderr, code = codex32(t, env, "import", dir)
	require.Zero(t, code, stderr+out)
	require.Equal(t, len(entries), strings.Count(out, "unchanged "), "a second run changes nothing:\n%s", out)

	db := testutil.OpenDB(t, spec)
	ctx := context.Background()
	n, err := db.Bun.NewSelect().Table("bots").Count(ctx)
	require.NoError(t, err)
	require.EqualValues(t, len(entries), n)
	n, err = db.Bun.NewSelect().Table("audit_logs").Where("action = ?", "bot.import").Count(ctx)
	require.NoError(t, err)
	require.EqualValues(t, len(entries), n)
	kinds := map[string]bool{}
	var rows []models.Bot
	require.NoError(t, db.Bun.NewSelect().Model(&rows).Scan(ctx))
	for _, b := range rows {
		kinds[string(b.Kind)] = true
	}
	require.Len(t, kinds, 3, "http, llm and script")
}

func TestImportReportsBadFilesAndGoesOn(t *testing.T) {
	t.Parallel()
	env, _ := importEnv(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	good := write("a-good.json", `{"name":"Pinger","description":"d","tags":["ops"],"type":"http","config":{"url":"https://example.test"}}`)
	write("b-malformed.json", `{"name": "Broken",`)
	write("c-badconfig.json", `{"name":"Bad","kind":"http","config":{"url":42}}`)
	write("d-badkind.json", `{"name":"Odd","kind":"ftp","config":{}}`)
	write("notes.txt", "not json")

	out, _, code := codex32(t, env, "import", dir)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "created    "+good)
	require.Contains(t, out, "FAILED     "+filepath.Join(dir, "b-malformed.json")+": not a bot JSON file")
	require.Contains(t, out, "FAILED     "+filepath.Join(dir, "c-badconfig.json")+": invalid config: url")
	require.Contains(t, out, "FAILED     "+filepath.Join(dir, "d-badkind.json")+`: kind "ftp"`)
	require.NotContains(t, out, "notes.txt", "only .json files in folders")
	require.Contains(t, out, "4 files: 1 created, 0 updated, 0 unchanged, 3 failed")

	// A changed file becomes a new version of the same bot.
	write("a-good.json", `{"name":"Pinger","type":"http","config":{"url":"https://example.test/v2"}}`)
	out, _, code = codex32(t, env, "import", good)
	require.Zero(t, code, out)
	require.Contains(t, out, "updated    "+good)

	_, stderr, code := codex32(t, env, "import", "--owner", "nobody@example.test", good)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "no user with email")
	_, stderr, code = codex32(t, env, "import")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "at least one file")
}

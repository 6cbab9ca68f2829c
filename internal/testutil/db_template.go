package testutil

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/codex32/codex32/models"
)

// sqliteTemplateOnce is this test process's migrated SQLite database, made
// on first use. It is the one package-level value in testutil: a fixture
// of the process, like the test binary itself, never swapped by a test.
var sqliteTemplateOnce = sync.OnceValues(makeSQLiteTemplate)

func sqliteTemplate() (string, error) { return sqliteTemplateOnce() }

// templatePrefix names the template folders; the pid follows it.
const templatePrefix = "codex32-testdb-"

func makeSQLiteTemplate() (string, error) {
	removeStaleTemplates()
	dir := filepath.Join(os.TempDir(), templatePrefix+strconv.Itoa(os.Getpid()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("template database: %w", err)
	}
	path := filepath.Join(dir, "template.db")
	_ = os.Remove(path)
	db, err := models.Open(context.Background(), "sqlite", path)
	if err != nil {
		return "", fmt.Errorf("template database: %w", err)
	}
	err = migrateUp(db)
	// Closing the last connection checkpoints the WAL into the file and
	// removes it, so the one file is the whole database.
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("template database: %w", err)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		return "", fmt.Errorf("template database: %s-wal is still there after closing", path)
	}
	return path, nil
}

// removeStaleTemplates deletes the template folders of test processes
// that have ended.
func removeStaleTemplates() {
	entries, _ := os.ReadDir(os.TempDir())
	for _, e := range entries {
		pid, ok := strings.CutPrefix(e.Name(), templatePrefix)
		if !ok || !e.IsDir() {
			continue
		}
		n, err := strconv.Atoi(pid)
		if err != nil || n == os.Getpid() || alive(n) {
			continue
		}
		_ = os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
	}
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer func() { _ = src.Close() }()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		_ = dst.Close()
		return err
	}
	return dst.Close()
}

func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	return err == nil && p.Signal(syscall.Signal(0)) == nil
}

package testutil

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is where Debian's chromium package installs the browser.
const ChromiumPath = "/usr/bin/chromium"

// Browser returns a chromedp context driving a fresh headless Chromium.
// Locally it skips the test with a clear message when Chromium is missing;
// under CI (CI=true) a missing Chromium fails the test instead, so CI can
// never pass without really running the browser tests.
func Browser(tb testing.TB) context.Context {
	tb.Helper()
	path := ChromiumPath
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		path = p
	}
	if _, err := os.Stat(path); err != nil {
		if lp, lerr := exec.LookPath("chromium"); lerr == nil {
			path = lp
		} else if os.Getenv("CI") != "" {
			tb.Fatalf("browser test: Chromium not found at %s and CI is set: install it (apt-get install -y chromium)", path)
		} else {
			tb.Skipf("browser test skipped: Chromium not found at %s (apt-get install -y chromium to run it)", path)
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoSandbox,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 800),
		chromedp.UserDataDir(tb.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	tb.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("browser test: start Chromium: %v", err)
	}
	return ctx
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Screenshot saves a full-page PNG of the current page to
// test-artifacts/<test name>-<name>.png at the repository root (git ignores
// it) and returns its path.
func Screenshot(tb testing.TB, ctx context.Context, name string) string {
	tb.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join(RepoRoot(tb), "test-artifacts")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		tb.Fatalf("screenshot %s: %v", name, err)
	}
	file := filepath.Join(dir, unsafeName.ReplaceAllString(tb.Name()+"-"+name, "_")+"-"+string(Dialect())+".png")
	if err := os.WriteFile(file, png, 0o600); err != nil {
		tb.Fatalf("screenshot %s: %v", name, err)
	}
	tb.Logf("screenshot: %s", file)
	return file
}

// RepoRoot finds the directory holding go.mod, walking up from the test's directory.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("testutil: go.mod not found above the test directory")
		}
		dir = parent
	}
}

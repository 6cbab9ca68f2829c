package testutil

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/handlers"
	"github.com/codex32/codex32/migrations"
	"github.com/codex32/codex32/models"
)

// App is the real application wired the way main wires it, on a fresh
// database.
type App struct {
	Fiber    *fiber.App
	DB       *models.DB
	Migrator *migrations.Migrator
}

// NewApp builds the app on a fresh, migrated database.
func NewApp(t testing.TB) *App {
	t.Helper()
	db := NewDB(t)
	m, err := migrations.New(db, nil)
	if err != nil {
		t.Fatalf("testutil: migrator: %v", err)
	}
	app := handlers.NewApp(handlers.Deps{DB: db, Log: Logger(t), Version: "test", Schema: m})
	return &App{Fiber: app, DB: db, Migrator: m}
}

// Do sends a request through the app in memory (no network) and returns the response.
func (a *App) Do(t testing.TB, req *http.Request) *http.Response {
	t.Helper()
	resp, err := a.Fiber.Test(req, -1)
	if err != nil {
		t.Fatalf("testutil: %s %s: %v", req.Method, req.URL, err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// Serve starts the app on 127.0.0.1 and a random port, returns its base URL
// (http://127.0.0.1:NNNN) and shuts it down when t ends.
func (a *App) Serve(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testutil: listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Fiber.Listener(ln) }()
	base := "http://" + ln.Addr().String()
	t.Cleanup(func() {
		_ = a.Fiber.ShutdownWithTimeout(5 * time.Second)
		_ = ln.Close()
		if err := <-done; err != nil {
			t.Logf("testutil: server stopped: %v", err)
		}
	})
	// Wait until it answers.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			return base
		}
		select {
		case <-ctx.Done():
			t.Fatalf("testutil: server at %s did not answer", base)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

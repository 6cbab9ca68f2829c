package testutil

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"

	"github.com/codex32/codex32/models"
)

// TCPProxy forwards connections from a loopback port to a target address
// until it is cut: then it drops every connection it carries and stops
// listening, so new connections are refused — the database "goes away"
// for whatever talks to it through the proxy, for real.
type TCPProxy struct {
	ln     net.Listener
	target string
	// ctx ends when the proxy is cut (not with the test's context: cleanups
	// that run before Cut may still reach the database through it).
	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	conns []net.Conn
	cut   bool
}

// NewTCPProxy starts a proxy to target (host:port); it is cut when t ends.
func NewTCPProxy(tb testing.TB, target string) *TCPProxy {
	tb.Helper()
	ln, err := (&net.ListenConfig{}).Listen(tb.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testutil: proxy listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &TCPProxy{ln: ln, target: target, ctx: ctx, cancel: cancel}
	go p.accept()
	tb.Cleanup(p.Cut)
	return p
}

// Addr is the proxy's host:port.
func (p *TCPProxy) Addr() string { return p.ln.Addr().String() }

func (p *TCPProxy) accept() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := (&net.Dialer{}).DialContext(p.ctx, "tcp", p.target)
		if err != nil {
			_ = in.Close()
			continue
		}
		if !p.track(in, out) {
			return
		}
		go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
		go func() { _, _ = io.Copy(in, out); _ = in.Close() }()
	}
}

func (p *TCPProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		for _, c := range cs {
			_ = c.Close()
		}
		return false
	}
	p.conns = append(p.conns, cs...)
	return true
}

// Cut closes the listener and every connection through the proxy.
func (p *TCPProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return
	}
	p.cut = true
	p.cancel()
	_ = p.ln.Close()
	for _, c := range p.conns {
		_ = c.Close()
	}
}

// DBThrough makes the app reach its Postgres database through p (on
// SQLite, which has no connection to cut, it changes nothing).
func DBThrough(p *TCPProxy) AppOption { return func(o *appOptions) { o.dbProxy = p } }

// via rewrites a postgres:// URL to connect through the proxy.
func (p *TCPProxy) via(tb testing.TB, spec DBSpec) DBSpec {
	tb.Helper()
	if spec.Driver != "postgres" {
		return spec
	}
	u, err := url.Parse(spec.URL)
	if err != nil {
		tb.Fatalf("testutil: parse database URL: %v", err)
	}
	u.Host = p.Addr()
	spec.URL = u.String()
	return spec
}

// PostgresAddr is the host:port of TEST_DATABASE_URL ("" on SQLite).
func PostgresAddr(tb testing.TB) string {
	tb.Helper()
	if Dialect() != models.Postgres {
		return ""
	}
	u, err := url.Parse(testDatabaseURL())
	if err != nil {
		tb.Fatalf("testutil: parse TEST_DATABASE_URL: %v", err)
	}
	return u.Host
}

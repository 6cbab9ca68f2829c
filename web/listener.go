package web

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"
)

// KeepAccepting wraps ln so that running out of file descriptors or kernel
// memory does not stop the server. fasthttp treats every Accept error other
// than a timeout as permanent and returns from Serve, which would end the
// process on the first EMFILE of a connection flood; like net/http, this
// waits (5 ms, doubling to 1 s) and tries again, logging at most every 10 s.
func KeepAccepting(ln net.Listener, log *slog.Logger) net.Listener {
	return &retryListener{Listener: ln, log: log, sleep: time.Sleep}
}

type retryListener struct {
	net.Listener
	log   *slog.Logger
	sleep func(time.Duration)

	mu         sync.Mutex
	lastLog    time.Time
	suppressed int
}

func (l *retryListener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil || !transientAcceptError(err) {
			return c, err
		}
		delay = min(max(2*delay, 5*time.Millisecond), time.Second)
		l.report(err, delay)
		l.sleep(delay)
	}
}

func (l *retryListener) report(err error, delay time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := time.Now(); now.Sub(l.lastLog) >= 10*time.Second {
		l.log.Error("accepting connections failed; retrying", "err", err, "retry_in", delay, "similar_errors_since_last_report", l.suppressed)
		l.lastLog, l.suppressed = now, 0
		return
	}
	l.suppressed++
}

// transientAcceptError reports errors that go away once connections close.
func transientAcceptError(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

package web

import (
	"log/slog"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// flakyListener fails Accept with errs in turn, then returns conn.
type flakyListener struct {
	net.Listener
	errs []error
	conn net.Conn
}

func (f *flakyListener) Accept() (net.Conn, error) {
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return nil, err
	}
	return f.conn, nil
}

func TestKeepAcceptingRetriesWhenOutOfFileDescriptors(t *testing.T) {
	a, b := net.Pipe()
	defer func() { _ = a.Close(); _ = b.Close() }()
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	enfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.ENFILE)}
	inner := &flakyListener{errs: []error{emfile, emfile, enfile, emfile}, conn: a}
	var slept []time.Duration
	ln := &retryListener{Listener: inner, log: slog.New(slog.DiscardHandler), sleep: func(d time.Duration) { slept = append(slept, d) }}
	c, err := ln.Accept()
	require.NoError(t, err)
	require.Same(t, a, c)
	require.Equal(t, []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}, slept, "backs off, doubling")
}

func TestKeepAcceptingReturnsOtherErrors(t *testing.T) {
	closed := &net.OpError{Op: "accept", Net: "tcp", Err: net.ErrClosed}
	ln := KeepAccepting(&flakyListener{errs: []error{closed}}, slog.New(slog.DiscardHandler))
	_, err := ln.Accept()
	require.ErrorIs(t, err, net.ErrClosed, "closing the listener still ends Serve: %v", err)
}

func TestKeepAcceptingCapsTheDelay(t *testing.T) {
	emfile := os.NewSyscallError("accept4", syscall.EMFILE)
	errs := make([]error, 12)
	for i := range errs {
		errs[i] = emfile
	}
	a, b := net.Pipe()
	defer func() { _ = a.Close(); _ = b.Close() }()
	var last time.Duration
	ln := &retryListener{Listener: &flakyListener{errs: errs, conn: a}, log: slog.New(slog.DiscardHandler), sleep: func(d time.Duration) { last = d }}
	_, err := ln.Accept()
	require.NoError(t, err)
	require.Equal(t, time.Second, last)
}

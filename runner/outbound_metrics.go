package runner

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/codex32/codex32/internal/telemetry"
)

// countedClient is client with each request (each redirect hop) counted
// in m by kind (http, llm) and result: ok (a response came back, whatever
// its status), refused (the address or secret-host guard), timeout,
// error. With m nil it is client itself.
func countedClient(client *http.Client, m *telemetry.Metrics, kind string) *http.Client {
	if m == nil {
		return client
	}
	c := *client
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = countingTransport{base: base, m: m, kind: kind}
	if check := c.CheckRedirect; check != nil {
		c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			err := check(req, via)
			if err != nil && errors.Is(err, ErrDestinationRefused) {
				m.ObserveOutbound(kind, telemetry.OutboundRefused, 0)
			}
			return err
		}
	}
	return &c
}

type countingTransport struct {
	base http.RoundTripper
	m    *telemetry.Metrics
	kind string
}

func (t countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	res, err := t.base.RoundTrip(req)
	t.m.ObserveOutbound(t.kind, outboundResult(err), time.Since(start))
	return res, err
}

// outboundResult classifies a round trip's error.
func outboundResult(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return telemetry.OutboundOK
	case errors.Is(err, ErrDestinationRefused):
		return telemetry.OutboundRefused
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return telemetry.OutboundTimeout
	default:
		return telemetry.OutboundError
	}
}

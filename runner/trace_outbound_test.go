package runner_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/codex32/codex32/runner"
)

// traceTexts is everything a span would export as text.
func traceTexts(s sdktrace.ReadOnlySpan) []string {
	out := []string{s.Name(), s.Status().Description}
	for _, kv := range s.Attributes() {
		out = append(out, string(kv.Key)+"="+kv.Value.String())
	}
	for _, ev := range s.Events() {
		out = append(out, ev.Name)
		for _, kv := range ev.Attributes {
			out = append(out, string(kv.Key)+"="+kv.Value.String())
		}
	}
	return out
}

func TestTracedTransport(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("traceparent")
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, "short and stout")
	}))
	t.Cleanup(srv.Close)

	for _, propagate := range []bool{true, false} {
		sr, tp, prop := traceRecorder(t)
		client := &http.Client{Transport: runner.TracedTransport(http.DefaultTransport, tp, prop, propagate)}
		ctx, parent := tp.Tracer("test").Start(t.Context(), "work")
		// A token in the path and the query, as bot URLs can have.
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/bot-tok3n-secret/send?api_key=k3y-secret", strings.NewReader("input-secret"))
		require.NoError(t, err)
		res, err := client.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, res.Body)
		require.NoError(t, res.Body.Close())
		parent.End()

		header := <-got
		if propagate {
			require.NotEmpty(t, header)
			assert.Contains(t, header, parent.SpanContext().TraceID().String())
		} else {
			assert.Empty(t, header, "no traceparent when propagation is off")
		}

		var call sdktrace.ReadOnlySpan
		for _, s := range sr.Ended() {
			if s.Parent().SpanID() == parent.SpanContext().SpanID() {
				call = s
			}
		}
		require.NotNil(t, call, "propagate=%v: the call is a child span of the work", propagate)
		assert.Equal(t, "HTTP POST", call.Name())
		assert.Equal(t, trace.SpanKindClient, call.SpanKind())
		assert.Equal(t, parent.SpanContext().TraceID(), call.SpanContext().TraceID())
		if propagate {
			assert.Contains(t, header, call.SpanContext().SpanID().String(), "the server's parent is the call span")
		}
		attrs := map[string]string{}
		for _, kv := range call.Attributes() {
			attrs[string(kv.Key)] = kv.Value.String()
		}
		assert.Equal(t, "POST", attrs["http.request.method"])
		assert.Equal(t, "418", attrs["http.response.status_code"])
		assert.Equal(t, "127.0.0.1", attrs["server.address"])
		assert.Equal(t, "http", attrs["url.scheme"])
		assert.NotContains(t, attrs, "url.full")
		assert.Equal(t, codes.Error, call.Status().Code) // 4xx is an error for a client
		for _, txt := range traceTexts(call) {
			assert.NotContains(t, txt, "secret")
		}
	}
}

func TestTracedTransportErrorHidesURL(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close() // nothing listens there now

	sr, tp, prop := traceRecorder(t)
	client := &http.Client{Transport: runner.TracedTransport(http.DefaultTransport, tp, prop, true)}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, addr+"/p?token=tok-secret", nil)
	require.NoError(t, err)
	res, err := client.Do(req)
	if res != nil {
		_ = res.Body.Close()
	}
	require.Error(t, err)
	require.Contains(t, err.Error(), "tok-secret", "the error itself quotes the URL")

	ended := sr.Ended()
	require.Len(t, ended, 1)
	s := ended[0]
	assert.Equal(t, codes.Error, s.Status().Code)
	assert.False(t, s.Parent().IsValid())
	for _, txt := range traceTexts(s) {
		assert.NotContains(t, txt, "secret")
	}
	var errType string
	for _, kv := range s.Attributes() {
		if kv.Key == "error.type" {
			errType = kv.Value.AsString()
		}
	}
	assert.NotEmpty(t, errType)
}

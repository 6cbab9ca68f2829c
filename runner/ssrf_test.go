package runner

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// countingServer is a test server that only counts the requests reaching it.
func countingServer(t *testing.T, ln net.Listener, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if h != nil {
			h(w, r)
		}
	}))
	if ln != nil {
		_ = srv.Listener.Close()
		srv.Listener = ln
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &hits
}

func port(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	_, p, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	return p
}

// TestSSRFRefusedThroughRunHTTP drives RunHTTP with the default outbound
// policy (no CODEX32_OUTBOUND_ALLOW) at internal destinations.
func TestSSRFRefusedThroughRunHTTP(t *testing.T) {
	t.Parallel()
	v4, v4hits := countingServer(t, nil, nil)
	p := port(t, v4)

	// A server on [::1] when the machine has IPv6 loopback; otherwise the
	// refusal is still checked, with nothing to count.
	v6URL, v6hits := "http://[::1]:"+p+"/", new(atomic.Int64)
	if ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "[::1]:0"); err == nil {
		var v6 *httptest.Server
		v6, v6hits = countingServer(t, ln, nil)
		v6URL = "http://[::1]:" + port(t, v6) + "/"
	}

	// An allowlisted loopback server that redirects to the metadata address.
	toMetadata, toMetadataHits := countingServer(t, nil, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/iam/", http.StatusFound)
	})

	defaultClient := NewOutboundClient(OutboundPolicy{})
	metaOpen, _, err := ParseAllowList([]string{"127.0.0.1/32, 169.254.0.0/16"})
	require.NoError(t, err)

	cases := []struct {
		name   string
		url    string
		client *http.Client
		want   string
	}{
		{"loopback", v4.URL + "/", defaultClient,
			"destination refused: 127.0.0.1 is a loopback address; an admin can allow it with CODEX32_OUTBOUND_ALLOW"},
		{"loopback by name", "http://localhost:" + p + "/", defaultClient, "(localhost) is a loopback address; an admin can allow it with CODEX32_OUTBOUND_ALLOW"},
		{"unspecified (reaches loopback on Linux)", "http://0.0.0.0:" + p + "/", defaultClient, "0.0.0.0 is an unspecified address"},
		{"IPv4-mapped loopback", "http://[::ffff:127.0.0.1]:" + p + "/", defaultClient, "127.0.0.1 (::ffff:127.0.0.1) is a loopback address"},
		{"IPv6 loopback", v6URL, defaultClient, "destination refused: ::1 is a loopback address"},
		{"private", "http://10.0.0.1/", defaultClient, "destination refused: 10.0.0.1 is a private (RFC 1918) address"},
		{"private with port", "http://192.168.1.1:8080/admin", defaultClient, "192.168.1.1 is a private (RFC 1918) address"},
		{"metadata", "http://169.254.169.254/latest/meta-data/", defaultClient,
			"destination refused: 169.254.169.254 is the cloud metadata address and is always refused"},
		{"metadata even when allowlisted", "http://169.254.169.254/latest/meta-data/", NewOutboundClient(OutboundPolicy{Allow: metaOpen}),
			"destination refused: 169.254.169.254 is the cloud metadata address and is always refused"},
		{"redirect to metadata", toMetadata.URL + "/", loopbackClient(),
			"destination refused: 169.254.169.254 is the cloud metadata address and is always refused"},
		{"redirect to metadata, link-local allowlisted", toMetadata.URL + "/", NewOutboundClient(OutboundPolicy{Allow: metaOpen}),
			"destination refused: 169.254.169.254 is the cloud metadata address and is always refused"},
	}
	for _, tc := range cases {
		res, err := RunHTTP(t.Context(), tc.client, httpCfg(t, `"url": "`+tc.url+`"`), nil, nil)
		require.Nil(t, res, tc.name)
		re := requireRunError(t, err)
		require.Contains(t, re.Message, tc.want, tc.name)
		require.True(t, strings.HasPrefix(re.Message, "destination refused: "), tc.name)
		require.False(t, re.Retryable, "%s: a refused destination stays refused", tc.name)
		require.False(t, re.TimedOut, tc.name)
		require.Contains(t, re.Logs, "failed after", tc.name)
	}
	require.Zero(t, v4hits.Load(), "no request reached the loopback server")
	require.Zero(t, v6hits.Load(), "no request reached the IPv6 loopback server")
	require.Equal(t, int64(2), toMetadataHits.Load(), "only the allowlisted first hops were made")
}

// Numeric host spellings either fail to resolve or resolve to loopback and
// are refused; none may reach the server.
func TestSSRFOddHostSpellings(t *testing.T) {
	t.Parallel()
	srv, hits := countingServer(t, nil, nil)
	p := port(t, srv)
	for _, host := range []string{"2130706433", "0x7f.0.0.1", "127.1", "017700000001"} {
		cfg := httpCfg(t, `"url": "http://`+host+`:`+p+`/"`)
		cfg.TimeoutSeconds = 2 // a resolver without network must not hold the test up
		_, err := RunHTTP(t.Context(), NewOutboundClient(OutboundPolicy{}), cfg, nil, nil)
		_ = requireRunError(t, err)
	}
	require.Zero(t, hits.Load())
}

func TestSSRFAllowlistOpensLoopback(t *testing.T) {
	t.Parallel()
	srv, hits := countingServer(t, nil, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("internal ok"))
	})
	allow, hosts, err := ParseAllowList([]string{"127.0.0.1/32"})
	require.NoError(t, err)
	client := NewOutboundClient(OutboundPolicy{Allow: allow, AllowHosts: hosts})

	res, err := RunHTTP(t.Context(), client, httpCfg(t, `"url": "`+srv.URL+`/status"`), nil, nil)
	require.NoError(t, err)
	require.Contains(t, string(res.Output), `"body":"internal ok"`)
	require.Equal(t, int64(1), hits.Load())

	// The allowlist opens only what it names.
	_, err = RunHTTP(t.Context(), client, httpCfg(t, `"url": "http://10.0.0.1/"`), nil, nil)
	require.Contains(t, requireRunError(t, err).Message, "10.0.0.1 is a private (RFC 1918) address")
	_, err = RunHTTP(t.Context(), client, httpCfg(t, `"url": "http://169.254.169.254/"`), nil, nil)
	require.Contains(t, requireRunError(t, err).Message, "cloud metadata address")
}

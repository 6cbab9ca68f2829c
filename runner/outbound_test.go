package runner

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var loopbackOnly = OutboundPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}

func TestCheckDestinationRefuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		ip     string
		policy OutboundPolicy
		reason string
	}{
		{"127.0.0.1", OutboundPolicy{}, "127.0.0.1 is a loopback address; add it to CODEX32_OUTBOUND_ALLOW to allow it"},
		{"127.8.9.10", OutboundPolicy{}, "loopback"},
		{"10.1.2.3", OutboundPolicy{}, "private (RFC 1918)"},
		{"172.16.0.1", OutboundPolicy{}, "private (RFC 1918)"},
		{"192.168.1.1", OutboundPolicy{}, "private (RFC 1918)"},
		{"169.254.1.1", OutboundPolicy{}, "link-local"},
		{"169.254.169.254", OutboundPolicy{}, "cloud metadata"},
		{"169.254.169.254", OutboundPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16")}}, "always refused"},
		{"169.254.169.254", OutboundPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, AllowHosts: []string{"meta"}}, "always refused"},
		{"::ffff:169.254.169.254", OutboundPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("::/0")}}, "always refused"},
		{"fd00:ec2::254", OutboundPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("fc00::/7")}}, "always refused"},
		{"100.64.0.1", OutboundPolicy{}, "carrier-grade NAT"},
		{"::1", OutboundPolicy{}, "loopback"},
		{"::", OutboundPolicy{}, "unspecified"},
		{"fc00::1", OutboundPolicy{}, "unique local"},
		{"fd12:3456::1", OutboundPolicy{}, "unique local"},
		{"fe80::1", OutboundPolicy{}, "link-local"},
		{"fe80::1%eth0", OutboundPolicy{}, "link-local"},
		{"ff02::1", OutboundPolicy{}, "multicast"},
		{"224.0.0.1", OutboundPolicy{}, "multicast"},
		{"255.255.255.255", OutboundPolicy{}, "broadcast"},
		{"::ffff:127.0.0.1", OutboundPolicy{}, "127.0.0.1 is a loopback address"},
		{"::ffff:10.0.0.1", OutboundPolicy{}, "private"},
		{"::10.0.0.1", OutboundPolicy{}, "an IPv6 form of 10.0.0.1, a private (RFC 1918) address"},
		{"64:ff9b::192.168.0.1", OutboundPolicy{}, "an IPv6 form of 192.168.0.1"},
		{"0.0.0.0", OutboundPolicy{}, "unspecified"},
		{"0.1.2.3", OutboundPolicy{}, "0.0.0.0/8"},
		{"240.0.0.1", OutboundPolicy{}, "reserved"},
		{"10.0.0.1", OutboundPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}, "private"},
	}
	for _, tc := range cases {
		t.Run(tc.ip, func(t *testing.T) {
			t.Parallel()
			err := CheckDestination(netip.MustParseAddr(tc.ip), "", tc.policy)
			require.ErrorIs(t, err, ErrDestinationRefused)
			require.Contains(t, err.Error(), tc.reason)
		})
	}
}

func TestCheckDestinationAllows(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		ip     string
		host   string
		policy OutboundPolicy
	}{
		{"public v4", "93.184.216.34", "example.com", OutboundPolicy{}},
		{"public v6", "2606:4700::1", "", OutboundPolicy{}},
		{"public mapped", "::ffff:93.184.216.34", "", OutboundPolicy{}},
		{"allowlisted prefix", "10.1.2.3", "", OutboundPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}},
		{"allowlisted mapped", "::ffff:127.0.0.1", "", loopbackOnly},
		{"allowlisted host", "127.0.0.1", "LocalHost.", OutboundPolicy{AllowHosts: []string{"localhost"}}},
		{"allowlisted link-local", "169.254.10.10", "", OutboundPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16")}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, CheckDestination(netip.MustParseAddr(tc.ip), tc.host, tc.policy))
		})
	}
}

func TestCheckDestinationHostIsExactMatch(t *testing.T) {
	t.Parallel()
	p := OutboundPolicy{AllowHosts: []string{"internal.example"}}
	ip := netip.MustParseAddr("10.0.0.5")
	require.NoError(t, CheckDestination(ip, "internal.example", p))
	for _, host := range []string{"api.internal.example", "internal.example.evil", "10.0.0.5", ""} {
		require.ErrorIs(t, CheckDestination(ip, host, p), ErrDestinationRefused, host)
	}
}

func TestParseAllowList(t *testing.T) {
	t.Parallel()
	prefixes, hosts, err := ParseAllowList([]string{
		"10.0.0.0/8, 127.0.0.1", " Intranet.Example. ", "::1", "192.168.1.7/16", "::ffff:172.16.0.0/108", "",
	})
	require.NoError(t, err)
	require.Equal(t, []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("127.0.0.1/32"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("172.16.0.0/12"),
	}, prefixes)
	require.Equal(t, []string{"intranet.example"}, hosts)

	bad := []struct{ entry, want string }{
		{"10.0.0.0/33", "not a CIDR"},
		{"exa mple!", `"mple!": not an IP, CIDR or host name`},
		{"http://host", "not a CIDR"},
		{"host:8080", "not an IP, CIDR or host name"},
		{"*.example.com", "not an IP, CIDR or host name"},
		{"169.254.169.254", "always refused"},
		{"fd00:ec2::254/128", "always refused"},
		{"fe80::1%eth0", "zoned"},
	}
	for _, tc := range bad {
		t.Run(tc.entry, func(t *testing.T) {
			t.Parallel()
			prefixes, hosts, err := ParseAllowList([]string{"10.0.0.0/8", tc.entry})
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, OutboundAllowEnv)
			require.Nil(t, prefixes)
			require.Nil(t, hosts)
		})
	}
}

func newTextServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, c *http.Client, url string) (string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { require.NoError(t, resp.Body.Close()) }()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

func TestOutboundClientDial(t *testing.T) {
	t.Parallel()
	srv := newTextServer(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	byName := "http://localhost:" + port + "/"

	cases := []struct {
		name    string
		url     string
		policy  OutboundPolicy
		refused string
	}{
		{"loopback refused", srv.URL, OutboundPolicy{}, "127.0.0.1 is a loopback address"},
		{"loopback allowlisted", srv.URL, loopbackOnly, ""},
		{"localhost refused", byName, OutboundPolicy{}, "(localhost) is a loopback address"},
		{"localhost allowlisted by name", byName, OutboundPolicy{AllowHosts: []string{"LOCALHOST"}}, ""},
		{"other host name does not open localhost", byName, OutboundPolicy{AllowHosts: []string{"example.com"}}, "loopback"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body, err := get(t, NewOutboundClient(tc.policy), tc.url)
			if tc.refused != "" {
				require.ErrorIs(t, err, ErrDestinationRefused)
				require.ErrorContains(t, err, tc.refused)
				return
			}
			require.NoError(t, err)
			require.Equal(t, "ok", body)
		})
	}
}

func TestOutboundClientRedirects(t *testing.T) {
	t.Parallel()
	toMetadata := newTextServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	toPrivate := newTextServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://10.0.0.1/", http.StatusFound)
	})
	toFile := newTextServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "ftp://127.0.0.1/", http.StatusFound)
	})
	loop := newTextServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Path+"x", http.StatusFound)
	})
	hops := newTextServer(t, func(w http.ResponseWriter, r *http.Request) {
		if len(r.URL.Path) < 4 {
			http.Redirect(w, r, r.URL.Path+"x", http.StatusFound)
			return
		}
		_, _ = io.WriteString(w, "landed "+r.URL.Path)
	})
	metaOpen := OutboundPolicy{Allow: append([]netip.Prefix{netip.MustParsePrefix("169.254.0.0/16")}, loopbackOnly.Allow...)}

	cases := []struct {
		name    string
		url     string
		policy  OutboundPolicy
		wantErr error
		errText string
		body    string
	}{
		{"hop to metadata refused", toMetadata.URL, loopbackOnly, ErrDestinationRefused, "169.254.169.254 is the cloud metadata address", ""},
		{"hop to metadata refused even if allowlisted", toMetadata.URL, metaOpen, ErrDestinationRefused, "always refused", ""},
		{"hop to private refused", toPrivate.URL, loopbackOnly, ErrDestinationRefused, "10.0.0.1 is a private", ""},
		{"hop to other scheme refused", toFile.URL, loopbackOnly, ErrDestinationRefused, `scheme "ftp"`, ""},
		{"too many redirects", loop.URL, OutboundPolicy{Allow: loopbackOnly.Allow, MaxRedirects: 2}, ErrTooManyRedirects, "stopped after 2", ""},
		{"default limit", loop.URL, loopbackOnly, ErrTooManyRedirects, "stopped after 5", ""},
		{"within limit", hops.URL + "/", OutboundPolicy{Allow: loopbackOnly.Allow, MaxRedirects: 3}, nil, "", "landed /xxx"},
		{"negative limit returns the 3xx", hops.URL + "/", OutboundPolicy{Allow: loopbackOnly.Allow, MaxRedirects: -1}, nil, "", "<a href=\"/x\">Found</a>.\n\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body, err := get(t, NewOutboundClient(tc.policy), tc.url)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.ErrorContains(t, err, tc.errText)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.body, body)
		})
	}
}

func TestOutboundClientBodyCap(t *testing.T) {
	t.Parallel()
	const limit = 1000
	srv := newTextServer(t, func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, strings.Repeat("a", n))
	})
	client := NewOutboundClient(OutboundPolicy{Allow: loopbackOnly.Allow, MaxBodyBytes: limit})

	cases := []struct {
		name string
		size int
		ok   bool
	}{
		{"empty", 0, true},
		{"at the cap", limit, true},
		{"one over", limit + 1, false},
		{"far over", 50 * limit, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body, err := get(t, client, srv.URL+"/?n="+strconv.Itoa(tc.size))
			if !tc.ok {
				require.ErrorIs(t, err, ErrResponseTooLarge)
				require.ErrorContains(t, err, "more than 1000 bytes")
				require.Len(t, body, limit)
				return
			}
			require.NoError(t, err)
			require.Len(t, body, tc.size)
		})
	}
}

func TestOutboundPolicyDefaults(t *testing.T) {
	t.Parallel()
	p := OutboundPolicy{}.withDefaults()
	require.Equal(t, int64(DefaultMaxBodyBytes), p.MaxBodyBytes)
	require.Equal(t, DefaultOutboundTimeout, p.Timeout)
	require.Equal(t, DefaultMaxRedirects, p.MaxRedirects)
	c := NewOutboundClient(OutboundPolicy{})
	require.Equal(t, DefaultOutboundTimeout, c.Timeout)
	tr, ok := c.Transport.(*cappedTransport)
	require.True(t, ok)
	require.Nil(t, tr.base.(*http.Transport).Proxy, "environment proxies must be ignored")
}

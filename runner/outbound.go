package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// OutboundAllowEnv names the admin allowlist of hosts and CIDRs that opens
// internal destinations deliberately.
const OutboundAllowEnv = "CODEX32_OUTBOUND_ALLOW"

// Defaults applied to zero fields of OutboundPolicy.
const (
	DefaultMaxBodyBytes    = 1 << 20
	DefaultOutboundTimeout = 30 * time.Second
	DefaultMaxRedirects    = 5
)

var (
	// ErrDestinationRefused is wrapped by every refused dial or redirect.
	ErrDestinationRefused = errors.New("outbound destination refused")
	// ErrResponseTooLarge is returned by a response body read past MaxBodyBytes.
	ErrResponseTooLarge = errors.New("outbound response body too large")
	// ErrTooManyRedirects is returned when a request exceeds MaxRedirects.
	ErrTooManyRedirects = errors.New("outbound request: too many redirects")
)

// OutboundPolicy configures NewOutboundClient. Zero numeric fields take the
// defaults above; a negative MaxRedirects follows no redirect and returns
// the 3xx response itself.
type OutboundPolicy struct {
	Allow        []netip.Prefix
	AllowHosts   []string
	MaxBodyBytes int64
	Timeout      time.Duration
	MaxRedirects int
}

func (p OutboundPolicy) withDefaults() OutboundPolicy {
	if p.MaxBodyBytes <= 0 {
		p.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if p.Timeout <= 0 {
		p.Timeout = DefaultOutboundTimeout
	}
	if p.MaxRedirects == 0 {
		p.MaxRedirects = DefaultMaxRedirects
	}
	return p
}

// Metadata endpoints stay refused even when an allowlisted prefix or host
// covers them: reaching them from a bot leaks cloud credentials.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack, ...
	netip.MustParseAddr("fd00:ec2::254"),   // AWS over IPv6
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
}

// specialPrefixes are refused ranges the netip predicates do not name.
var specialPrefixes = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), `a "this network" (0.0.0.0/8) address`},
	{netip.MustParsePrefix("100.64.0.0/10"), "a carrier-grade NAT (100.64.0.0/10) address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol assignment (192.0.0.0/24) address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking (198.18.0.0/15) address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved (240.0.0.0/4) address"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local address"},
}

var nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")

// ParseAllowList parses CODEX32_OUTBOUND_ALLOW entries: IPs, CIDRs and host
// names. Each entry may itself hold several separated by commas or spaces,
// so the raw environment value can be passed as one entry. Host names are
// lower-cased and matched exactly (no wildcards). Every bad entry is reported.
func ParseAllowList(entries []string) (prefixes []netip.Prefix, hosts []string, err error) {
	var errs []error
	for _, entry := range entries {
		for _, item := range strings.FieldsFunc(entry, func(r rune) bool {
			return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
		}) {
			prefix, host, perr := parseAllowItem(item)
			switch {
			case perr != nil:
				errs = append(errs, fmt.Errorf("%s entry %q: %w", OutboundAllowEnv, item, perr))
			case host != "":
				hosts = append(hosts, host)
			default:
				prefixes = append(prefixes, prefix)
			}
		}
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return prefixes, hosts, nil
}

func parseAllowItem(item string) (netip.Prefix, string, error) {
	if strings.Contains(item, "/") {
		prefix, err := netip.ParsePrefix(item)
		if err != nil {
			return netip.Prefix{}, "", fmt.Errorf("not a CIDR: %w", err)
		}
		if prefix.Addr().Is4In6() {
			prefix = netip.PrefixFrom(prefix.Addr().Unmap(), max(prefix.Bits()-96, 0))
		}
		return prefix.Masked(), "", checkNotMetadata(prefix)
	}
	if addr, err := netip.ParseAddr(item); err == nil {
		if addr.Zone() != "" {
			return netip.Prefix{}, "", errors.New("zoned addresses are not supported")
		}
		addr = addr.Unmap()
		prefix := netip.PrefixFrom(addr, addr.BitLen())
		return prefix, "", checkNotMetadata(prefix)
	}
	host := normalizeHost(item)
	if !validHostName(host) {
		return netip.Prefix{}, "", errors.New("not an IP, CIDR or host name")
	}
	return netip.Prefix{}, host, nil
}

// checkNotMetadata rejects an entry that names only a metadata address, so
// the admin learns at start-up that it can never be opened.
func checkNotMetadata(prefix netip.Prefix) error {
	if prefix.IsSingleIP() && isMetadata(prefix.Addr()) {
		return errors.New("the cloud metadata address is always refused and cannot be allowed")
	}
	return nil
}

func normalizeHost(host string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
}

func validHostName(host string) bool {
	if host == "" || len(host) > 253 {
		return false
	}
	for label := range strings.SplitSeq(host, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' && r != '_' {
				return false
			}
		}
	}
	return true
}

// CheckDestination reports whether ip, reached for the requested host, may be
// dialled under p. It returns nil or an error wrapping ErrDestinationRefused
// that names the address and the reason.
func CheckDestination(ip netip.Addr, host string, p OutboundPolicy) error {
	if !ip.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrDestinationRefused)
	}
	// Prefix.Contains never matches a zoned address, so drop the zone first.
	ip = ip.WithZone("").Unmap()
	v4, embeds := embeddedIPv4(ip)
	if isMetadata(ip) || (embeds && isMetadata(v4)) {
		return fmt.Errorf("%w: %s is the cloud metadata address and is always refused",
			ErrDestinationRefused, describe(ip, host))
	}
	if allowed(ip, host, p) || (embeds && allowed(v4, "", p)) {
		return nil
	}
	reason := refusalReason(ip)
	if reason == "" && embeds {
		if inner := refusalReason(v4); inner != "" {
			reason = fmt.Sprintf("an IPv6 form of %s, %s", v4, inner)
		}
	}
	if reason == "" {
		return nil
	}
	return fmt.Errorf("%w: %s is %s; add it to %s to allow it",
		ErrDestinationRefused, describe(ip, host), reason, OutboundAllowEnv)
}

func describe(ip netip.Addr, host string) string {
	if host == "" || host == ip.String() {
		return ip.String()
	}
	return fmt.Sprintf("%s (%s)", ip, host)
}

func isMetadata(ip netip.Addr) bool {
	ip = ip.WithZone("").Unmap()
	for _, m := range metadataAddrs {
		if ip == m {
			return true
		}
	}
	return false
}

func allowed(ip netip.Addr, host string, p OutboundPolicy) bool {
	for _, prefix := range p.Allow {
		if prefix.Contains(ip) {
			return true
		}
	}
	if host = normalizeHost(host); host == "" {
		return false
	}
	for _, h := range p.AllowHosts {
		if normalizeHost(h) == host {
			return true
		}
	}
	return false
}

// embeddedIPv4 extracts the IPv4 address carried by an IPv4-compatible
// (::a.b.c.d) or NAT64 (64:ff9b::a.b.c.d) address; a local NAT64 gateway
// would otherwise translate it straight into the private IPv4 network.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	compat := [12]byte(b[:12]) == [12]byte{}
	if !compat && !nat64Prefix.Contains(ip) {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(b[12:])), true
}

func refusalReason(ip netip.Addr) string {
	switch {
	case ip.IsUnspecified():
		return "an unspecified address"
	case ip.IsLoopback():
		return "a loopback address"
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "the broadcast address"
	case ip.IsPrivate() && ip.Is4():
		return "a private (RFC 1918) address"
	case ip.IsPrivate():
		return "a unique local (fc00::/7) address"
	case ip.IsLinkLocalUnicast():
		return "a link-local address"
	case ip.IsMulticast():
		return "a multicast address"
	}
	for _, s := range specialPrefixes {
		if s.prefix.Contains(ip) {
			return s.reason
		}
	}
	return ""
}

// NewOutboundClient returns the one HTTP client for bot traffic. The
// destination check runs in the dialer's Control hook, on the address
// actually connected to after DNS resolution, so neither DNS rebinding nor a
// redirect can reach a refused address; environment proxies are ignored
// because they would move the dial to the proxy.
func NewOutboundClient(p OutboundPolicy) *http.Client {
	p = p.withDefaults()
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            safeDialer(p),
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport:     &cappedTransport{base: transport, max: p.MaxBodyBytes},
		CheckRedirect: checkRedirect(p.MaxRedirects),
		Timeout:       p.Timeout,
	}
}

type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func safeDialer(p OutboundPolicy) dialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("outbound dial %s: %w", addr, err)
		}
		// Control sees only the resolved IP; the closure supplies the host
		// so an allowlisted host name opens the addresses it resolves to.
		d := &net.Dialer{
			Timeout:   p.Timeout,
			KeepAlive: 30 * time.Second,
			Control: func(_, address string, _ syscall.RawConn) error {
				ap, err := netip.ParseAddrPort(address)
				if err != nil {
					return fmt.Errorf("%w: unparsable address %q", ErrDestinationRefused, address)
				}
				return CheckDestination(ap.Addr(), host, p)
			},
		}
		return d.DialContext(ctx, network, addr)
	}
}

func checkRedirect(maxRedirects int) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if maxRedirects < 0 {
			return http.ErrUseLastResponse
		}
		if len(via) > maxRedirects {
			return fmt.Errorf("%w: stopped after %d", ErrTooManyRedirects, maxRedirects)
		}
		if s := req.URL.Scheme; s != "http" && s != "https" {
			return fmt.Errorf("%w: redirect to scheme %q; only http and https are allowed",
				ErrDestinationRefused, s)
		}
		return nil
	}
}

// cappedTransport bounds every response body, redirect hops included.
type cappedTransport struct {
	base http.RoundTripper
	max  int64
}

func (t *cappedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.Body == nil || resp.Body == http.NoBody {
		return resp, err
	}
	resp.Body = &cappedBody{rc: resp.Body, left: t.max, max: t.max}
	return resp, nil
}

type cappedBody struct {
	rc   io.ReadCloser
	left int64
	max  int64
	err  error
}

func (c *cappedBody) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	// Read one byte past the cap so a body of exactly max bytes is fine.
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.rc.Read(p)
	if int64(n) <= c.left {
		c.left -= int64(n)
		c.err = err
		return n, err
	}
	n = int(c.left)
	c.left = 0
	c.err = fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, c.max)
	return n, c.err
}

func (c *cappedBody) Close() error { return c.rc.Close() }

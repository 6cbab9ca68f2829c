package web

import (
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// ClientIP returns a function giving the request's client address. The
// X-Forwarded-For header is believed only when the connection comes from a
// trusted proxy, and then the rightmost address that is not itself a trusted
// proxy is the client (addresses further left are whatever the client sent).
func ClientIP(trusted []string) func(*fiber.Ctx) string {
	prefixes := trustedPrefixes(trusted)
	isTrusted := func(a netip.Addr) bool {
		a = a.Unmap()
		for _, p := range prefixes {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(c *fiber.Ctx) string {
		remote, ok := netip.AddrFromSlice(c.Context().RemoteIP())
		if !ok {
			return ""
		}
		remote = remote.Unmap()
		if len(prefixes) == 0 || !isTrusted(remote) {
			return remote.String()
		}
		// A proxy may append its own header line rather than extend the
		// client's: all lines together are one list.
		var hops []string
		for _, v := range c.Request().Header.PeekAll(fiber.HeaderXForwardedFor) {
			hops = append(hops, strings.Split(string(v), ",")...)
		}
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break
			}
			if !isTrusted(a) {
				return a.Unmap().String()
			}
		}
		return remote.String()
	}
}

// trustedPrefixes parses a list of IPs and CIDRs (CODEX32_TRUSTED_PROXIES,
// validated by config); unparsable entries are skipped.
func trustedPrefixes(list []string) []netip.Prefix {
	var prefixes []netip.Prefix
	for _, t := range list {
		t = strings.TrimSpace(t)
		if p, err := netip.ParsePrefix(t); err == nil {
			prefixes = append(prefixes, p.Masked())
		} else if a, err := netip.ParseAddr(t); err == nil {
			prefixes = append(prefixes, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return prefixes
}

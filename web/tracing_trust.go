package web

import (
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// TrustTraceparent says whose incoming traceparent continues their trace
// (CODEX32_TRUST_TRACEPARENT): "all", "none", or "proxies" — the peer is a
// trusted proxy or loopback. Webhook calls (/hooks/…) are always trusted:
// the sender's trace is the one their call belongs to.
func TrustTraceparent(mode string, proxies []string) func(*fiber.Ctx) bool {
	prefixes := trustedPrefixes(proxies)
	return func(c *fiber.Ctx) bool {
		if strings.HasPrefix(c.Path(), "/hooks/") || mode == "all" {
			return true
		}
		if mode != "proxies" {
			return false
		}
		remote, ok := netip.AddrFromSlice(c.Context().RemoteIP())
		if !ok {
			return false
		}
		remote = remote.Unmap()
		if remote.IsLoopback() {
			return true
		}
		for _, p := range prefixes {
			if p.Contains(remote) {
				return true
			}
		}
		return false
	}
}

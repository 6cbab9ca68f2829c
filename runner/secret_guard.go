package runner

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/codex32/codex32/models"
)

// secretGuard lets a request that carries secrets go only to hosts every
// one of those secrets allows. It sits under the client's redirect loop, so
// it sees each hop (the final destination included) before anything is
// sent: a hop to another host fails the request, it never goes out without
// the secret. The first refusal is kept for the audit log.
type secretGuard struct {
	base  http.RoundTripper
	hosts map[string][]string // secret name → allowed host patterns

	mu      sync.Mutex
	refused *models.SecretRefusal
}

// guardSecrets returns client limited to the hosts the run's secrets allow,
// and the guard that remembers a refusal; client itself when the run
// carries no secret.
func guardSecrets(client *http.Client, hosts map[string][]string) (*http.Client, *secretGuard) {
	if len(hosts) == 0 {
		return client, nil
	}
	g := &secretGuard{base: client.Transport, hosts: hosts}
	if g.base == nil {
		g.base = http.DefaultTransport
	}
	c := *client
	c.Transport = g
	return &c, g
}

func (g *secretGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Hostname()
	for _, name := range slices.Sorted(maps.Keys(g.hosts)) {
		allowed := g.hosts[name]
		if models.SecretHostAllowed(allowed, host) {
			continue
		}
		hop := "the request"
		if req.Response != nil {
			hop = "a redirect"
		}
		reason := fmt.Sprintf("%s went to %s, but the secret may only be sent to %s", hop, host, strings.Join(allowed, ", "))
		g.mu.Lock()
		if g.refused == nil {
			g.refused = &models.SecretRefusal{Name: name, Reason: reason}
		}
		g.mu.Unlock()
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, fmt.Errorf("%w: secret %s: %s; nothing was sent", ErrDestinationRefused, name, reason)
	}
	return g.base.RoundTrip(req)
}

// Refusal is the first request the guard refused, if any.
func (g *secretGuard) Refusal() *models.SecretRefusal {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refused
}

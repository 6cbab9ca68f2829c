package models

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// SecretGrants says which bots may use a secret: a bot may when any entry
// matches it. Nothing granted means no bot may. New kinds of grantee (teams)
// become new fields here and a new case in Allows.
type SecretGrants struct {
	Bots   []uuid.UUID `json:"bots"`
	Tags   []string    `json:"tags"`
	Owners []uuid.UUID `json:"owners"`
}

// SecretUser is the bot that asks to use a secret: BotID is nil for a bot
// that is being created.
type SecretUser struct {
	BotID   *uuid.UUID
	OwnerID uuid.UUID
	Tags    []string
}

// UserOfBot is the SecretUser for an existing bot.
func UserOfBot(b *Bot) SecretUser {
	id := b.ID
	return SecretUser{BotID: &id, OwnerID: b.OwnerID, Tags: b.Tags}
}

// Allows reports whether the bot u may use the secret.
func (g SecretGrants) Allows(u SecretUser) bool {
	if u.BotID != nil && slices.Contains(g.Bots, *u.BotID) {
		return true
	}
	if slices.Contains(g.Owners, u.OwnerID) {
		return true
	}
	for _, t := range u.Tags {
		if slices.Contains(g.Tags, strings.ToLower(t)) {
			return true
		}
	}
	return false
}

// Empty reports whether no bot may use the secret.
func (g SecretGrants) Empty() bool { return len(g.Bots)+len(g.Tags)+len(g.Owners) == 0 }

// normalised is g sorted, without repeats, tags lower-cased, never nil (so
// stored and audited forms are stable).
func (g SecretGrants) normalised() SecretGrants {
	ids := func(in []uuid.UUID) []uuid.UUID {
		out := slices.Clone(in)
		slices.SortFunc(out, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
		out = slices.Compact(out)
		if out == nil {
			out = []uuid.UUID{}
		}
		return out
	}
	tags := make([]string, 0, len(g.Tags))
	for _, t := range g.Tags {
		if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
			tags = append(tags, t)
		}
	}
	slices.Sort(tags)
	return SecretGrants{Bots: ids(g.Bots), Tags: slices.Compact(tags), Owners: ids(g.Owners)}
}

// SecretScope is who may use a secret and where it may be sent.
type SecretScope struct {
	Grants SecretGrants
	// Hosts are the destination hosts a request carrying the secret may go
	// to: exact names or IPs, or "*.example.com" for any name under it.
	Hosts []string
}

// NormaliseSecretHost checks one destination host pattern and returns it
// in the form stored: lower case, no trailing dot. Ports, schemes and paths
// are refused (a secret's hosts are hosts).
func NormaliseSecretHost(p string) (string, error) {
	h := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(p)), ".")
	if h == "" {
		return "", fmt.Errorf("an empty host")
	}
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	if a, err := netip.ParseAddr(h); err == nil {
		if a.Zone() != "" {
			return "", fmt.Errorf("%q: zoned addresses are not supported", p)
		}
		return a.Unmap().String(), nil
	}
	name, wild := strings.CutPrefix(h, "*.")
	if !validDNSName(name) {
		return "", fmt.Errorf("%q is not a host name (api.example.com), a wildcard (*.example.com) or an IP address", p)
	}
	if wild && !strings.Contains(name, ".") {
		return "", fmt.Errorf("%q is too wide: a wildcard needs at least two labels after it (*.example.com)", p)
	}
	return h, nil
}

func validDNSName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
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

// SecretHostAllowed reports whether host (a URL's host name, without port)
// matches one of the patterns. "*.example.com" matches names under
// example.com at any depth, not example.com itself.
func SecretHostAllowed(patterns []string, host string) bool {
	h := strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if a, err := netip.ParseAddr(h); err == nil {
		h = a.Unmap().String()
	}
	for _, p := range patterns {
		if suffix, wild := strings.CutPrefix(p, "*."); wild {
			if strings.HasSuffix(h, "."+suffix) {
				return true
			}
		} else if h == p {
			return true
		}
	}
	return false
}

// validate normalises s's hosts and tags; errors are keyed by form field.
func (s *SecretScope) validate() error {
	errs := fieldErrors{}
	hosts := make([]string, 0, len(s.Hosts))
	var bad []string
	for _, p := range s.Hosts {
		if strings.TrimSpace(p) == "" {
			continue
		}
		h, err := NormaliseSecretHost(p)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		hosts = append(hosts, h)
	}
	if len(bad) > 0 {
		errs["hosts"] = strings.Join(bad, "; ")
	}
	if len(hosts) > 100 {
		errs["hosts"] = "at most 100 hosts"
	}
	slices.Sort(hosts)
	s.Hosts = slices.Compact(hosts)
	s.Grants = s.Grants.normalised()
	for _, t := range s.Grants.Tags {
		if len(t) > 50 {
			errs["tags"] = fmt.Sprintf("tag %q is longer than 50 characters", t)
		}
	}
	if n := len(s.Grants.Bots) + len(s.Grants.Tags) + len(s.Grants.Owners); n > 1000 {
		errs["bots"] = "at most 1,000 grants"
	}
	return errs.err()
}

// SecretRefusal is a secret a bot asked for and may not have, with why.
type SecretRefusal struct {
	Name   string
	Reason string
}

// Error words the refusal for the bot's owner; it never holds the value.
func (r *SecretRefusal) Error() string { return "secret " + r.Name + ": " + r.Reason }

// Reasons a secret is refused.
const (
	// One wording for "not granted" and "does not exist", so a bot's
	// author cannot learn which secret names exist by trying them.
	secretNotGranted = "this bot may not use it (or it is not set); an admin can add or grant it under Admin → Secrets" //nolint:gosec // G101: a refusal message, not a credential
	secretNoHosts    = "it may not be sent anywhere yet; an admin can choose its hosts under Admin → Secrets"           //nolint:gosec // G101: a refusal message, not a credential
)

// refuse says whether bot u may use s, and why not.
func (s *Secret) refuse(u SecretUser) *SecretRefusal {
	switch {
	case !s.Grants.Allows(u):
		return &SecretRefusal{Name: s.Name, Reason: secretNotGranted}
	case len(s.Hosts) == 0:
		return &SecretRefusal{Name: s.Name, Reason: secretNoHosts}
	}
	return nil
}

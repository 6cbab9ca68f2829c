package handlers

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/markbates/goth"
	"github.com/markbates/goth/providers/github"
	"github.com/markbates/goth/providers/openidConnect"
	"golang.org/x/oauth2"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/views"
)

// OAuthClient is an OAuth application's credentials.
type OAuthClient struct {
	ID, Secret string
}

// SSOConfig says which single sign-on providers are enabled and who may
// sign in with them. Built in main from the configuration.
type SSOConfig struct {
	BaseURL string // callback URLs are BaseURL + /auth/<key>/callback

	Google       *OAuthClient
	GoogleIssuer string // default https://accounts.google.com (tests point it at a local provider)

	GitHub        *OAuthClient
	GitHubBaseURL string // default https://github.com; Enterprise: https://github.example.com

	OIDC       *OAuthClient
	OIDCIssuer string
	OIDCName   string

	AllowedEmailDomains []string
	GitHubAllowedOrgs   []string
	Signup              string // "off" or "allowed-domains"
	DefaultRole         models.Role
	AdminEmails         []string
	AccountLinking      bool

	HTTPClient *http.Client // outbound calls; default: 10 s timeout
}

// SSO holds the enabled providers. We drive goth's providers directly —
// never gothic, whose state handling trusts the caller — and bind state,
// nonce and PKCE verifier to the server-side session.
type SSO struct {
	cfg       SSOConfig
	log       *slog.Logger
	providers map[string]*ssoProvider
	order     []string
}

// ssoProvider is one enabled provider. OIDC providers (Google, generic)
// are built lazily: goth fetches discovery when a provider is constructed,
// and the identity provider being down must not stop Codex-32 starting.
type ssoProvider struct {
	key, label string
	isGitHub   bool
	issuer     string // OIDC
	client     OAuthClient
	extra      map[string]string // fixed auth URL parameters (Google's hd)
	githubAPI  string

	mu       sync.Mutex
	goth     goth.Provider
	verifier *oidc.IDTokenVerifier
}

// NewSSO prepares the enabled providers; it contacts none of them.
func NewSSO(_ context.Context, cfg SSOConfig, log *slog.Logger) (*SSO, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.DefaultRole == "" {
		cfg.DefaultRole = models.RoleViewer
	}
	s := &SSO{cfg: cfg, log: log, providers: map[string]*ssoProvider{}}
	add := func(p *ssoProvider) {
		s.providers[p.key] = p
		s.order = append(s.order, p.key)
	}
	if cfg.Google != nil {
		issuer := cfg.GoogleIssuer
		if issuer == "" {
			issuer = "https://accounts.google.com"
		}
		p := &ssoProvider{key: "google", label: "Google", issuer: issuer, client: *cfg.Google, extra: map[string]string{}}
		if len(cfg.AllowedEmailDomains) == 1 {
			p.extra["hd"] = cfg.AllowedEmailDomains[0] // a hint to Google; the hd claim is still checked
		}
		add(p)
	}
	if cfg.GitHub != nil {
		base, api := "https://github.com", "https://api.github.com"
		if cfg.GitHubBaseURL != "" {
			base = strings.TrimSuffix(cfg.GitHubBaseURL, "/")
			api = base + "/api/v3"
		}
		p := &ssoProvider{key: "github", label: "GitHub", isGitHub: true, client: *cfg.GitHub, githubAPI: api}
		gp := github.NewCustomisedURL(p.client.ID, p.client.Secret, s.callbackURL("github"),
			base+"/login/oauth/authorize", base+"/login/oauth/access_token", api+"/user", api+"/user/emails", "read:org", "user:email")
		gp.HTTPClient = cfg.HTTPClient
		p.goth = gp
		add(p)
	}
	if cfg.OIDC != nil {
		name := cfg.OIDCName
		if name == "" {
			name = "Single sign-on"
		}
		// The issuer is kept exactly as configured: discovery must match it.
		add(&ssoProvider{key: "oidc", label: name, issuer: cfg.OIDCIssuer, client: *cfg.OIDC})
	}
	return s, nil
}

func (s *SSO) callbackURL(key string) string {
	return strings.TrimSuffix(s.cfg.BaseURL, "/") + "/auth/" + key + "/callback"
}

// Buttons lists the enabled providers for the sign-in page.
func (s *SSO) Buttons() []views.SSOButton {
	if s == nil {
		return nil
	}
	out := make([]views.SSOButton, 0, len(s.order))
	for _, k := range s.order {
		out = append(out, views.SSOButton{Key: k, Label: s.providers[k].label})
	}
	return out
}

func (s *SSO) provider(key string) *ssoProvider {
	if s == nil {
		return nil
	}
	return s.providers[key]
}

// ready builds an OIDC provider on first use (discovery + JWKS verifier).
func (s *SSO) ready(ctx context.Context, p *ssoProvider) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.goth != nil {
		return nil
	}
	ctx = oidc.ClientContext(ctx, s.cfg.HTTPClient)
	op, err := oidc.NewProvider(ctx, p.issuer)
	if err != nil {
		return fmt.Errorf("sso: %s discovery at %s: %w", p.key, p.issuer, err)
	}
	gp, err := openidConnect.New(p.client.ID, p.client.Secret, s.callbackURL(p.key),
		strings.TrimSuffix(p.issuer, "/")+"/.well-known/openid-configuration", "openid", "email", "profile")
	if err != nil {
		return fmt.Errorf("sso: %s: %w", p.key, err)
	}
	gp.HTTPClient = s.cfg.HTTPClient
	// go-oidc keeps only the HTTP client from ctx for fetching keys later.
	p.verifier = op.Verifier(&oidc.Config{ClientID: p.client.ID})
	p.goth = gp
	return nil
}

// pendingSSO is what the session remembers between redirect and callback.
type pendingSSO struct {
	Provider string    `json:"p"`
	State    string    `json:"s"`
	Nonce    string    `json:"n,omitempty"`
	Verifier string    `json:"v,omitempty"`
	Next     string    `json:"x"`
	At       time.Time `json:"t"`
}

const keyPendingSSO = "sso_pending"

// pendingTTL is how long a sign-in may take at the provider.
const pendingTTL = 10 * time.Minute

// begin returns the provider's authorisation URL and the pending record.
func (s *SSO) begin(ctx context.Context, p *ssoProvider, next string, now time.Time) (string, *pendingSSO, error) {
	if !p.isGitHub {
		if err := s.ready(ctx, p); err != nil {
			return "", nil, err
		}
	}
	state, err := randomString(32)
	if err != nil {
		return "", nil, err
	}
	pend := &pendingSSO{Provider: p.key, State: state, Next: next, At: now}
	gs, err := p.goth.BeginAuth(state)
	if err != nil {
		return "", nil, fmt.Errorf("sso: %s begin: %w", p.key, err)
	}
	authURL, err := gs.GetAuthURL()
	if err != nil {
		return "", nil, fmt.Errorf("sso: %s auth URL: %w", p.key, err)
	}
	u, err := url.Parse(authURL)
	if err != nil {
		return "", nil, err
	}
	q := u.Query()
	for k, v := range p.extra {
		q.Set(k, v)
	}
	if !p.isGitHub {
		if pend.Nonce, err = randomString(32); err != nil {
			return "", nil, err
		}
		pend.Verifier = oauth2.GenerateVerifier()
		q.Set("nonce", pend.Nonce)
		q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(pend.Verifier))
		q.Set("code_challenge_method", "S256")
	}
	u.RawQuery = q.Encode()
	return u.String(), pend, nil
}

// ssoIdentity is what a provider vouched for.
type ssoIdentity struct {
	Provider, Subject, Email, Name, Username, HostedDomain string
	EmailVerified                                          bool
	Orgs                                                   map[string]bool // GitHub: allowed orgs the user is an active member of
}

// errRejected is a refusal to show the person, with the reason.
type errRejected struct{ reason, code string }

func (e *errRejected) Error() string { return e.reason }

func reject(code, reason string) error { return &errRejected{code: code, reason: reason} }

// complete checks the callback against the pending record and exchanges the
// code; it returns who the provider says signed in.
func (s *SSO) complete(ctx context.Context, p *ssoProvider, pend *pendingSSO, code, state string, now time.Time) (*ssoIdentity, error) {
	if pend == nil || pend.Provider != p.key || state == "" ||
		subtle.ConstantTimeCompare([]byte(state), []byte(pend.State)) != 1 || now.Sub(pend.At) > pendingTTL {
		return nil, errBadState
	}
	if code == "" {
		return nil, reject("no_code", "The provider did not complete the sign-in.")
	}
	if !p.isGitHub {
		if err := s.ready(ctx, p); err != nil {
			return nil, err
		}
	}
	gs, err := p.goth.UnmarshalSession("{}")
	if err != nil {
		return nil, err
	}
	params := url.Values{"code": {code}}
	if pend.Verifier != "" {
		params.Set("code_verifier", pend.Verifier)
	}
	token, err := gs.Authorize(p.goth, params)
	if err != nil {
		s.log.Warn("sso: code exchange failed", "provider", p.key, "err", err)
		return nil, reject("exchange_failed", "The provider did not accept the sign-in. Please try again.")
	}
	if p.isGitHub {
		return s.githubIdentity(ctx, p, token)
	}
	return s.oidcIdentity(ctx, p, gs, pend)
}

var errBadState = errors.New("sso: missing, mismatched or expired state")

func (s *SSO) oidcIdentity(ctx context.Context, p *ssoProvider, gs goth.Session, pend *pendingSSO) (*ssoIdentity, error) {
	os, ok := gs.(*openidConnect.Session)
	if !ok || os.IDToken == "" {
		return nil, reject("no_id_token", "The provider sent no ID token.")
	}
	// goth checks neither the signature nor the nonce: we do.
	idt, err := p.verifier.Verify(ctx, os.IDToken)
	if err != nil {
		s.log.Warn("sso: ID token rejected", "provider", p.key, "err", err)
		return nil, reject("bad_id_token", "The provider's ID token could not be verified.")
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(pend.Nonce)) != 1 {
		return nil, reject("bad_nonce", "The provider's ID token does not belong to this sign-in.")
	}
	var cl struct {
		Email             string `json:"email"`
		EmailVerified     any    `json:"email_verified"`
		Name              string `json:"name"`
		PreferredUsername string `json:"preferred_username"`
		HD                string `json:"hd"`
	}
	if err := idt.Claims(&cl); err != nil {
		return nil, err
	}
	id := &ssoIdentity{Provider: p.key, Subject: idt.Subject, Email: strings.TrimSpace(cl.Email), Name: cl.Name,
		Username: cl.PreferredUsername, HostedDomain: strings.ToLower(cl.HD), EmailVerified: truthy(cl.EmailVerified)}
	if id.Name == "" && p.goth != nil {
		if u, err := p.goth.FetchUser(gs); err == nil {
			id.Name = u.Name
		}
	}
	return id, nil
}

// truthy reads email_verified, which some providers send as a string.
func truthy(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case string:
		return strings.EqualFold(t, "true")
	}
	return false
}

func (s *SSO) githubIdentity(ctx context.Context, p *ssoProvider, token string) (*ssoIdentity, error) {
	// We read the profile and emails ourselves rather than through goth's
	// FetchUser: its Email is the public profile address, verified or not,
	// and its own fallback hides why an address was refused.
	var prof struct {
		ID    json.Number `json:"id"`
		Login string      `json:"login"`
		Name  string      `json:"name"`
	}
	if code, err := s.githubGet(ctx, p, "/user", token, &prof); err != nil || code != http.StatusOK || prof.ID == "" {
		s.log.Warn("sso: github profile", "status", code, "err", err)
		return nil, reject("profile_failed", "GitHub did not return your profile.")
	}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if code, err := s.githubGet(ctx, p, "/user/emails", token, &emails); err != nil || code != http.StatusOK {
		s.log.Warn("sso: github emails", "status", code, "err", err)
		return nil, reject("emails_failed", "GitHub did not return your email addresses (the user:email scope is needed).")
	}
	id := &ssoIdentity{Provider: p.key, Subject: prof.ID.String(), Name: prof.Name, Username: prof.Login, Orgs: map[string]bool{}}
	for _, e := range emails {
		if e.Primary {
			id.Email, id.EmailVerified = e.Email, e.Verified
		}
	}
	for _, org := range s.cfg.GitHubAllowedOrgs {
		var m struct {
			State string `json:"state"`
		}
		code, err := s.githubGet(ctx, p, "/user/memberships/orgs/"+url.PathEscape(org), token, &m)
		if err != nil {
			return nil, err
		}
		if code == http.StatusOK && m.State == "active" {
			id.Orgs[org] = true
		}
	}
	return id, nil
}

func (s *SSO) githubGet(ctx context.Context, p *ssoProvider, path, token string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.githubAPI+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("sso: github %s: %w", path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(v)
}

package handlers

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/views"
	"github.com/codex32/codex32/web"
)

func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// startSSO sends the browser to the provider, remembering state, nonce and
// PKCE verifier in the server-side session.
func (h *handler) startSSO(c *fiber.Ctx) error {
	p := h.SSO.provider(utils.CopyString(c.Params("provider")))
	if p == nil {
		return fiber.ErrNotFound
	}
	authURL, pend, err := h.SSO.begin(c.UserContext(), p, safeNext(c.Query("next")), h.Now())
	if err != nil {
		h.Log.Error("sso: cannot start sign-in", "provider", p.key, "err", err)
		return fiber.NewError(fiber.StatusBadGateway, p.label+" cannot be reached right now. Try again in a moment, or sign in another way.")
	}
	b, err := json.Marshal(pend)
	if err != nil {
		return err
	}
	web.Session(c).Set(keyPendingSSO, string(b))
	return c.Redirect(authURL, fiber.StatusSeeOther)
}

// finishSSO handles the provider's redirect back.
func (h *handler) finishSSO(c *fiber.Ctx) error {
	p := h.SSO.provider(utils.CopyString(c.Params("provider")))
	if p == nil {
		return fiber.ErrNotFound
	}
	rs := web.Session(c)
	var pend *pendingSSO
	if raw := rs.Get(keyPendingSSO); raw != "" {
		pend = new(pendingSSO)
		if json.Unmarshal([]byte(raw), pend) != nil {
			pend = nil
		}
	}
	rs.Delete(keyPendingSSO) // one attempt per redirect, success or not
	ctx := c.UserContext()
	attempt := &models.LoginAttempt{Method: p.key, IP: web.RequestIP(c), UserAgent: c.Get(fiber.HeaderUserAgent)}
	defer h.countLogin(p.key, attempt)

	if e := c.Query("error"); e != "" && pend != nil && subtle.ConstantTimeCompare([]byte(c.Query("state")), []byte(pend.State)) == 1 {
		attempt.Reason = models.ReasonRejected
		if err := models.RecordLoginAttempt(ctx, h.DB.Bun, attempt); err != nil {
			return err
		}
		desc := c.Query("error_description")
		if desc == "" {
			desc = e
		}
		return h.ssoRejected(c, p.label, p.label+" did not sign you in: "+desc)
	}
	id, err := h.SSO.complete(ctx, p, pend, c.Query("code"), c.Query("state"), h.Now())
	if errors.Is(err, errBadState) {
		h.Log.Warn("sso: callback with a bad state refused", "provider", p.key, "ip", attempt.IP)
		return fiber.NewError(fiber.StatusForbidden, "This sign-in could not be verified as one you started here. Start again from the sign-in page.")
	}
	var rej *errRejected
	if errors.As(err, &rej) {
		attempt.Reason = models.ReasonRejected
		if err := models.RecordLoginAttempt(ctx, h.DB.Bun, attempt); err != nil {
			return err
		}
		return h.ssoRejected(c, p.label, rej.reason)
	}
	if err != nil {
		h.Log.Error("sso: callback failed", "provider", p.key, "err", err)
		return fiber.NewError(fiber.StatusBadGateway, p.label+" could not be reached to finish the sign-in. Try again.")
	}
	attempt.Email = id.Email
	u, err := h.admitSSO(ctx, c, p, id)
	if u != nil {
		attempt.UserID = &u.ID
	}
	if errors.As(err, &rej) {
		attempt.Reason = models.ReasonRejected
		switch rej.code {
		case "disabled":
			attempt.Reason = models.ReasonDisabled
		case "api_only":
			attempt.Reason = models.ReasonAPIOnly
		}
		if err := models.RecordLoginAttempt(ctx, h.DB.Bun, attempt); err != nil {
			return err
		}
		return h.ssoRejected(c, p.label, rej.reason)
	} else if err != nil {
		return err
	}
	attempt.Success = true
	if err := models.RecordLoginAttempt(ctx, h.DB.Bun, attempt); err != nil {
		return err
	}
	if err := rs.SignIn(u.ID.String()); err != nil {
		return err
	}
	return c.Redirect(safeNext(pend.Next), fiber.StatusSeeOther)
}

func (h *handler) ssoRejected(c *fiber.Ctx, provider, reason string) error {
	return web.Render(c, fiber.StatusForbidden, views.SignInRejected(h.page(c, "Sign-in refused", "login"),
		views.SignInRejectedData{Provider: provider, Reason: reason}))
}

func emailDomain(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(email[at+1:])
}

// passesRules applies CODEX32_ALLOWED_EMAIL_DOMAINS (Google and OIDC) and
// CODEX32_GITHUB_ALLOWED_ORGS (GitHub). It returns the refusal, or nil.
func (s *SSO) passesRules(p *ssoProvider, id *ssoIdentity) error {
	if p.isGitHub {
		if len(s.cfg.GitHubAllowedOrgs) > 0 && len(id.Orgs) == 0 {
			return reject("org", "Only members of the GitHub organisation(s) "+strings.Join(s.cfg.GitHubAllowedOrgs, ", ")+" may sign in.")
		}
		return nil
	}
	if len(s.cfg.AllowedEmailDomains) == 0 {
		return nil
	}
	domain := emailDomain(id.Email)
	if !id.EmailVerified {
		return reject("unverified", "Your email address at "+p.label+" is not verified, so it cannot be matched to the allowed domains.")
	}
	if !slices.Contains(s.cfg.AllowedEmailDomains, domain) {
		return reject("domain", "Only addresses at "+strings.Join(s.cfg.AllowedEmailDomains, ", ")+" may sign in; yours is at "+domain+".")
	}
	if p.key == "google" && id.HostedDomain != domain {
		return reject("domain", "Sign in with your Google Workspace account at "+strings.Join(s.cfg.AllowedEmailDomains, ", ")+" (a personal Google account with that address is not enough).")
	}
	return nil
}

// admitSSO finds or creates the account for a provider identity, applying
// the sign-in rules. Accounts are keyed by (provider, subject); an existing
// account with the same email is linked only when linking is on and both
// sides' emails are verified.
func (h *handler) admitSSO(ctx context.Context, c *fiber.Ctx, p *ssoProvider, id *ssoIdentity) (*models.User, error) {
	s := h.SSO
	if err := s.passesRules(p, id); err != nil {
		return nil, err
	}
	actor := models.Actor{Label: id.Email, IP: web.RequestIP(c), UserAgent: c.Get(fiber.HeaderUserAgent)}
	ident, err := models.IdentityByProviderSubject(ctx, h.DB.Bun, p.key, id.Subject)
	switch {
	case err == nil:
		u, err := models.UserByID(ctx, h.DB.Bun, ident.UserID)
		if err != nil {
			return nil, err
		}
		actor.UserID = &u.ID
		if err := models.RefreshIdentity(ctx, h.DB.Bun, actor, ident, id.Email, id.EmailVerified); err != nil {
			return nil, err
		}
		return u, admissible(u)
	case !errors.Is(err, models.ErrNotFound):
		return nil, err
	}
	newIdent := &models.Identity{Provider: p.key, Subject: id.Subject, Email: id.Email, EmailVerified: id.EmailVerified}
	existing, err := models.UserByEmail(ctx, h.DB.Bun, id.Email)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		return nil, err
	}
	if existing != nil {
		ok, err := h.canLink(ctx, existing, id)
		if err != nil {
			return nil, err
		}
		if !ok {
			return existing, reject("exists", "An account with the address "+id.Email+" already exists. Sign in the way you usually do; "+
				"signing in with "+p.label+" cannot take it over.")
		}
		if err := admissible(existing); err != nil {
			return existing, err
		}
		actor.UserID = &existing.ID
		if err := models.LinkIdentity(ctx, h.DB.Bun, actor, existing.ID, newIdent); err != nil {
			return nil, err
		}
		return existing, nil
	}
	// A new person.
	if s.cfg.Signup != "allowed-domains" {
		return nil, reject("no_account", "There is no Codex-32 account for "+id.Email+", and sign-up is off. Ask an administrator to create one.")
	}
	rulesSet := (p.isGitHub && len(s.cfg.GitHubAllowedOrgs) > 0) || (!p.isGitHub && len(s.cfg.AllowedEmailDomains) > 0)
	if !rulesSet {
		return nil, reject("no_rules", "Sign-up with "+p.label+" is not open: no allowed domains or organisations are configured. Ask an administrator to create your account.")
	}
	if !id.EmailVerified || id.Email == "" {
		return nil, reject("unverified", "Your email address at "+p.label+" is not verified, so an account cannot be created for it.")
	}
	role := s.cfg.DefaultRole
	if slices.Contains(s.cfg.AdminEmails, strings.ToLower(id.Email)) {
		role = models.RoleAdmin
	}
	username := id.Username
	if username == "" {
		username = strings.Split(id.Email, "@")[0]
	}
	u := &models.User{Email: id.Email, Username: username, Name: id.Name, Role: role, IsActive: true}
	if err := models.CreateSSOUser(ctx, h.DB.Bun, actor, u, newIdent); err != nil {
		return nil, err
	}
	return u, admissible(u)
}

// admissible refuses disabled and API-only accounts.
func admissible(u *models.User) error {
	if !u.IsActive {
		return reject("disabled", "Your Codex-32 account has been disabled. Ask an administrator to enable it.")
	}
	if !u.Can(models.PermSignInHTML) {
		return reject("api_only", "This account is for programs: it can use the API with an API key, not these pages.")
	}
	return nil
}

// canLink: linking is on, the provider verified the email, and the existing
// account's email is verified too — by another provider's identity, or
// because an administrator (or setup, or the CLI) entered it.
//
// An account an administrator created for single sign-on (no password, no
// identity yet) is claimed by the first sign-in with that verified email,
// linking or not: it is nobody else's yet, and that is how people are
// invited when sign-up is off.
func (h *handler) canLink(ctx context.Context, existing *models.User, id *ssoIdentity) (bool, error) {
	if !id.EmailVerified {
		return false, nil
	}
	ids, err := models.ListIdentities(ctx, h.DB.Bun, existing.ID)
	if err != nil {
		return false, err
	}
	if existing.PasswordHash == nil && len(ids) == 0 {
		return true, nil
	}
	if !h.SSO.cfg.AccountLinking {
		return false, nil
	}
	if existing.PasswordHash != nil {
		// A local account: its email was entered by an administrator, the
		// CLI or first-run setup.
		return true, nil
	}
	for _, i := range ids {
		if i.EmailVerified && strings.EqualFold(i.Email, existing.Email) {
			return true, nil
		}
	}
	return false, nil
}

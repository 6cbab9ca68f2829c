package handlers

import (
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

// unauthorized is a 401 problem; with invalid set the WWW-Authenticate
// challenge says the token was refused (RFC 6750), not just missing.
func unauthorized(c *fiber.Ctx, detail string, invalid bool) error {
	challenge := `Bearer realm="codex32"`
	if invalid {
		challenge += `, error="invalid_token"`
	}
	c.Set(fiber.HeaderWWWAuthenticate, challenge)
	return web.NewProblem(fiber.StatusUnauthorized, "", detail)
}

// apiAuth authenticates /api requests by an API key in the Authorization
// header — never a cookie, never the query string.
func (h *handler) apiAuth(c *fiber.Ctx) error {
	for _, p := range []string{"api_key", "apikey", "key", "token", "access_token"} {
		if c.Query(p) != "" {
			return unauthorized(c, "API keys are accepted only in the Authorization header (Authorization: Bearer c32_…), never in the URL.", true)
		}
	}
	auth := c.Get(fiber.HeaderAuthorization)
	scheme, key, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(key) == "" {
		return unauthorized(c, "Missing API key: send Authorization: Bearer c32_…", false)
	}
	key = strings.TrimSpace(key)
	if !models.WellFormedAPIKey(key) {
		return unauthorized(c, "Invalid API key.", true)
	}
	ctx := c.UserContext()
	now := h.Now()
	hash := models.HashAPIKey(key)
	gen := h.cache.authGeneration() // before reading: a racing change wins
	k, u, cached := h.cache.getAuth(hash, now)
	if !cached {
		var err error
		if k, u, err = h.loadAPIKey(c, key); err != nil || k == nil {
			return err
		}
	}
	if why := k.Usable(now); why != "" {
		return unauthorized(c, "This API key is "+why+".", true)
	}
	if !u.IsActive || !u.Can(models.PermUseAPI) {
		return unauthorized(c, "The account this API key belongs to is disabled.", true)
	}
	touched := false
	if last := k.LastUsedAt; last == nil || now.Sub(*last) >= time.Minute {
		if err := models.TouchAPIKey(ctx, h.DB.Bun, k, now); err != nil {
			h.Log.Warn("api: record key use", "err", err)
		} else {
			touched = true
		}
	}
	if !cached || touched {
		h.cache.putAuth(hash, gen, k, u, now)
	}
	web.SetAPIKey(c, k, u)
	return c.Next()
}

// loadAPIKey reads the key and its user; (nil, nil, err) answers the
// request: unknown key (401) or a database error.
func (h *handler) loadAPIKey(c *fiber.Ctx, key string) (*models.APIKey, *models.User, error) {
	ctx := c.UserContext()
	k, err := models.APIKeyByKey(ctx, h.DB.Bun, key)
	if errors.Is(err, models.ErrNotFound) {
		return nil, nil, unauthorized(c, "Invalid API key.", true)
	} else if err != nil {
		return nil, nil, err
	}
	u, err := models.UserByID(ctx, h.DB.Bun, k.UserID)
	if err != nil {
		return nil, nil, err
	}
	return k, u, nil
}

// apiRequire lets a request through when its key carries scope and its
// user's role has p — the permission the same page route requires. Both
// refusals are 403s, audited as access.denied, that say what is missing.
func (h *handler) apiRequire(scope string, p models.Permission) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if k := web.CurrentAPIKey(c); k == nil || !k.HasScope(scope) {
			return h.apiForbiddenScope(c, scope)
		}
		if !web.CurrentUser(c).Can(p) {
			return h.apiForbidden(c, string(p))
		}
		return c.Next()
	}
}

// apiForbidden records the refusal like the pages do and answers a 403
// problem naming the permission the role lacks.
func (h *handler) apiForbidden(c *fiber.Ctx, perm string) error {
	if err := h.forbidden(c, perm); !errors.Is(err, fiber.ErrForbidden) {
		return err
	}
	u := web.CurrentUser(c)
	p := web.NewProblem(fiber.StatusForbidden, "", "Your role ("+string(u.Role)+") does not have the "+perm+" permission this request needs.")
	p.MissingPermission = perm
	return p
}

func (h *handler) apiForbiddenScope(c *fiber.Ctx, scope string) error {
	if err := h.forbidden(c, "scope:"+scope); !errors.Is(err, fiber.ErrForbidden) {
		return err
	}
	c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="codex32", error="insufficient_scope", scope="`+scope+`"`)
	p := web.NewProblem(fiber.StatusForbidden, web.ProblemInsufficientScope, "This API key lacks the "+scope+" scope.")
	p.MissingScope = scope
	return p
}

// showAPIMe returns the key's user and the key itself (never its secret).
func (h *handler) showAPIMe(c *fiber.Ctx) error {
	u, k := web.CurrentUser(c), web.CurrentAPIKey(c)
	return c.JSON(apiMe{User: toAPIUser(u), Key: toAPIKey(k)})
}

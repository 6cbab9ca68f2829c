package handlers

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

// apiError answers an API request with a JSON error.
func apiError(c *fiber.Ctx, status int, msg string) error {
	if status == fiber.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="codex32"`)
	}
	return c.Status(status).JSON(fiber.Map{"error": msg, "status": status})
}

// apiAuth authenticates /api requests by an API key in the Authorization
// header — never a cookie, never the query string.
func (h *handler) apiAuth(c *fiber.Ctx) error {
	for _, p := range []string{"api_key", "apikey", "key", "token", "access_token"} {
		if c.Query(p) != "" {
			return apiError(c, fiber.StatusUnauthorized, "API keys are accepted only in the Authorization header (Authorization: Bearer c32_…), never in the URL.")
		}
	}
	auth := c.Get(fiber.HeaderAuthorization)
	scheme, key, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(key) == "" {
		return apiError(c, fiber.StatusUnauthorized, "Missing API key: send Authorization: Bearer c32_…")
	}
	key = strings.TrimSpace(key)
	if !models.WellFormedAPIKey(key) {
		return apiError(c, fiber.StatusUnauthorized, "Invalid API key.")
	}
	ctx := c.UserContext()
	k, err := models.APIKeyByKey(ctx, h.DB.Bun, key)
	if errors.Is(err, models.ErrNotFound) {
		return apiError(c, fiber.StatusUnauthorized, "Invalid API key.")
	} else if err != nil {
		return err
	}
	now := h.Now()
	if why := k.Usable(now); why != "" {
		return apiError(c, fiber.StatusUnauthorized, "This API key is "+why+".")
	}
	u, err := models.UserByID(ctx, h.DB.Bun, k.UserID)
	if err != nil {
		return err
	}
	if !u.IsActive || !u.Can(models.PermUseAPI) {
		return apiError(c, fiber.StatusUnauthorized, "The account this API key belongs to is disabled.")
	}
	if err := models.TouchAPIKey(ctx, h.DB.Bun, k, now); err != nil {
		h.Log.Warn("api: record key use", "err", err)
	}
	web.SetAPIKey(c, k, u)
	return c.Next()
}

// requireScope refuses keys without scope.
func (h *handler) requireScope(scope string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if k := web.CurrentAPIKey(c); k == nil || !k.HasScope(scope) {
			return apiError(c, fiber.StatusForbidden, "This API key lacks the "+scope+" scope.")
		}
		return c.Next()
	}
}

// showAPIMe returns the key's user and scopes.
func (h *handler) showAPIMe(c *fiber.Ctx) error {
	u, k := web.CurrentUser(c), web.CurrentAPIKey(c)
	return c.JSON(fiber.Map{
		"user": fiber.Map{"id": u.ID, "email": u.Email, "username": u.Username, "name": u.Name, "role": u.Role},
		"key":  fiber.Map{"id": k.ID, "name": k.Name, "prefix": k.Prefix, "scopes": k.Scopes, "expires_at": k.ExpiresAt},
	})
}

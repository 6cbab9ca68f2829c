package web

import (
	"errors"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/codex32/codex32/internal/telemetry"
	"github.com/codex32/codex32/models"
)

const (
	localUser     = "codex32.user"
	localAPIKey   = "codex32.api_key" //nolint:gosec // G101: a request-locals key, not a credential
	localClientIP = "codex32.client_ip"
)

// LoadUser reads the signed-in user for the session on every request, so a
// role change applies at once; a session whose user is gone or disabled is
// ended.
func LoadUser(db *models.DB) fiber.Handler {
	return func(c *fiber.Ctx) error {
		rs := Session(c)
		if rs == nil || rs.UserID() == "" {
			return c.Next()
		}
		id, err := uuid.Parse(rs.UserID())
		if err != nil {
			if err := rs.SignOut(); err != nil {
				return err
			}
			return c.Next()
		}
		u, err := models.UserByID(c.UserContext(), db.Bun, id)
		switch {
		case errors.Is(err, models.ErrNotFound):
			if err := rs.SignOut(); err != nil {
				return err
			}
		case err != nil:
			return err
		case !u.IsActive || !u.Can(models.PermSignInHTML):
			if err := rs.SignOut(); err != nil {
				return err
			}
		default:
			c.Locals(localUser, u)
			c.SetUserContext(telemetry.WithUserID(c.UserContext(), u.ID.String())) // its log lines say who
		}
		return c.Next()
	}
}

// CurrentUser is the signed-in user, or nil.
func CurrentUser(c *fiber.Ctx) *models.User {
	u, _ := c.Locals(localUser).(*models.User)
	return u
}

// SetAPIKey records the API key (and its user) that authenticated the request.
func SetAPIKey(c *fiber.Ctx, k *models.APIKey, u *models.User) {
	c.Locals(localAPIKey, k)
	c.Locals(localUser, u)
	if u != nil {
		c.SetUserContext(telemetry.WithUserID(c.UserContext(), u.ID.String()))
	}
}

// CurrentAPIKey is the API key that authenticated the request, or nil.
func CurrentAPIKey(c *fiber.Ctx) *models.APIKey {
	k, _ := c.Locals(localAPIKey).(*models.APIKey)
	return k
}

// StoreClientIP remembers the client address for the rest of the request.
func StoreClientIP(clientIP func(*fiber.Ctx) string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Locals(localClientIP, clientIP(c))
		return c.Next()
	}
}

// RequestIP is the client address (after trusted-proxy handling).
func RequestIP(c *fiber.Ctx) string {
	ip, _ := c.Locals(localClientIP).(string)
	return ip
}

// Actor describes who is making a change in this request, for the audit log.
func Actor(c *fiber.Ctx) models.Actor {
	a := models.Actor{IP: RequestIP(c), UserAgent: c.Get(fiber.HeaderUserAgent)}
	if u := CurrentUser(c); u != nil {
		id := u.ID
		a.UserID, a.Label = &id, u.Email
	}
	if k := CurrentAPIKey(c); k != nil {
		id := k.ID
		a.APIKeyID = &id
	}
	return a
}

package handlers

import (
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/views"
	"github.com/codex32/codex32/web"
)

// usersPageSize is how many users the admin page shows at once.
const usersPageSize = 100

func (h *handler) showUsers(c *fiber.Ctx) error {
	q := strings.TrimSpace(c.Query("q"))
	after := strings.Clone(c.Query("after"))
	page, err := models.QueryUsers(c.UserContext(), h.DB.Bun, models.UserFilter{Search: q, After: after, Limit: usersPageSize})
	if _, bad := validationFields(err); bad {
		return redirectWithFlash(c, "/admin/users", views.FlashError, "That page link is no longer valid; here is the first page.")
	}
	if err != nil {
		return err
	}
	d := views.UsersData{Users: page.Users, Search: q, Me: web.CurrentUser(c), Next: page.Next, Paged: after != ""}
	return web.Render(c, fiber.StatusOK, views.Users(h.page(c, "Users", "users"), d))
}

func userIDParam(c *fiber.Ctx) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return uuid.Nil, fiber.ErrNotFound
	}
	return id, nil
}

// userChanged redirects back to the users page, or re-shows it with the
// validation message (e.g. "last admin").
func userChanged(c *fiber.Ctx, u *models.User, err error, msg string) error {
	if fields, ok := validationFields(err); ok {
		for _, m := range fields {
			return redirectWithFlash(c, "/admin/users", views.FlashError, capitalise(m)+".")
		}
	}
	if err != nil {
		return err
	}
	return redirectWithFlash(c, "/admin/users", views.FlashSuccess, strings.ReplaceAll(msg, "%s", u.Email))
}

func (h *handler) updateUserRole(c *fiber.Ctx) error {
	id, err := userIDParam(c)
	if err != nil {
		return err
	}
	u, err := models.SetUserRole(c.UserContext(), h.DB.Bun, web.Actor(c), id, models.Role(c.FormValue("role")))
	h.cache.invalidateAuth() // the API sees the change at once
	return userChanged(c, u, err, "%s is now "+c.FormValue("role")+".")
}

func (h *handler) disableUser(c *fiber.Ctx) error {
	id, err := userIDParam(c)
	if err != nil {
		return err
	}
	u, err := models.SetUserActive(c.UserContext(), h.DB.Bun, web.Actor(c), id, false)
	h.cache.invalidateAuth() // the API sees the change at once
	return userChanged(c, u, err, "%s has been disabled and signed out everywhere.")
}

func (h *handler) enableUser(c *fiber.Ctx) error {
	id, err := userIDParam(c)
	if err != nil {
		return err
	}
	u, err := models.SetUserActive(c.UserContext(), h.DB.Bun, web.Actor(c), id, true)
	h.cache.invalidateAuth() // the API sees the change at once
	return userChanged(c, u, err, "%s can sign in again.")
}

func (h *handler) endUserSessions(c *fiber.Ctx) error {
	id, err := userIDParam(c)
	if err != nil {
		return err
	}
	u, err := models.UserByID(c.UserContext(), h.DB.Bun, id)
	if err != nil {
		return err
	}
	keep := ""
	if me := web.CurrentUser(c); me.ID == id {
		keep = web.Session(c).IDHash()
	}
	if _, err := models.EndUserSessions(c.UserContext(), h.DB.Bun, web.Actor(c), id, keep); err != nil {
		return err
	}
	return redirectWithFlash(c, "/admin/users", views.FlashSuccess, "Sessions of "+u.Email+" have been ended.")
}

package handlers

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

// listAPIUsers is the users page as JSON (?q= searches email, username,
// name), newest first, in keyset pages like the bots list.
func (h *handler) listAPIUsers(c *fiber.Ctx) error {
	qe := queryErrors{}
	f := models.UserFilter{
		Search: strings.TrimSpace(c.Query("q")),
		After:  c.Query("cursor"),
		Limit:  qe.limit(c, 50, 200),
	}
	if err := qe.err(); err != nil {
		return err
	}
	page, err := models.QueryUsers(c.UserContext(), h.DB.Bun, f)
	if _, ok := validationFields(err); ok {
		return web.FieldsProblem(fiber.StatusBadRequest, map[string]string{"cursor": "is not a valid page cursor"})
	} else if err != nil {
		return err
	}
	items := make([]apiUser, len(page.Users))
	for i, u := range page.Users {
		items[i] = toAPIUser(u)
	}
	return c.JSON(newAPIPage(items, page.Next))
}

type apiUserUpdate struct {
	Role *string `json:"role"`
}

// updateAPIUser changes a user's role (applies from their next request).
// Demoting the last active admin is a 409.
func (h *handler) updateAPIUser(c *fiber.Ctx) error {
	id, err := userIDParam(c)
	if err != nil {
		return err
	}
	var in apiUserUpdate
	if err := bindJSON(c, &in, true); err != nil {
		return err
	}
	if in.Role == nil {
		return web.FieldsProblem(fiber.StatusUnprocessableEntity, map[string]string{"role": "is required"})
	}
	u, err := models.SetUserRole(c.UserContext(), h.DB.Bun, web.Actor(c), id, models.Role(*in.Role))
	h.cache.invalidateAuth() // the API sees the change at once
	if errors.Is(err, models.ErrLastAdmin) {
		return &models.StateError{Message: "This is the last active admin; make someone else admin first."}
	}
	if err != nil {
		return err
	}
	return c.JSON(toAPIUser(u))
}

package handlers

import (
	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/views"
	"github.com/codex32/codex32/web"
)

func (h *handler) profileData(c *fiber.Ctx) (views.ProfileData, error) {
	u := web.CurrentUser(c)
	ctx := c.UserContext()
	ids, err := models.ListIdentities(ctx, h.DB.Bun, u.ID)
	if err != nil {
		return views.ProfileData{}, err
	}
	sessions, err := models.ListUserSessions(ctx, h.DB.Bun, u.ID)
	if err != nil {
		return views.ProfileData{}, err
	}
	return views.ProfileData{Identities: ids, Sessions: sessions, CurrentHash: web.Session(c).IDHash(),
		HasPassword: u.PasswordHash != nil, Errors: views.FormErrors{}}, nil
}

func (h *handler) showProfile(c *fiber.Ctx) error {
	d, err := h.profileData(c)
	if err != nil {
		return err
	}
	return web.Render(c, fiber.StatusOK, views.Profile(h.page(c, "Profile", "profile"), d))
}

func (h *handler) updatePassword(c *fiber.Ctx) error {
	u := web.CurrentUser(c)
	if u.PasswordHash == nil {
		return fiber.NewError(fiber.StatusBadRequest, "This account signs in with single sign-on and has no password.")
	}
	d, err := h.profileData(c)
	if err != nil {
		return err
	}
	ok, _ := models.VerifyPassword(*u.PasswordHash, c.FormValue("current_password"))
	if !ok {
		d.Errors["current_password"] = "That is not your current password."
		return web.Render(c, fiber.StatusUnprocessableEntity, views.Profile(h.page(c, "Profile", "profile"), d))
	}
	_, err = models.SetUserPassword(c.UserContext(), h.DB.Bun, web.Actor(c), u.ID, c.FormValue("new_password"))
	if fields, isVal := validationFields(err); isVal {
		d.Errors["new_password"] = capitalise(fields["password"]) + "."
		return web.Render(c, fiber.StatusUnprocessableEntity, views.Profile(h.page(c, "Profile", "profile"), d))
	} else if err != nil {
		return err
	}
	// Every session was ended, this one included: continue under a new one.
	if err := web.Session(c).SignIn(u.ID.String()); err != nil {
		return err
	}
	return redirectWithFlash(c, "/profile", views.FlashSuccess, "Your password has been changed and your other sessions signed out.")
}

func (h *handler) endOtherSessions(c *fiber.Ctx) error {
	u := web.CurrentUser(c)
	n, err := models.EndUserSessions(c.UserContext(), h.DB.Bun, web.Actor(c), u.ID, web.Session(c).IDHash())
	if err != nil {
		return err
	}
	msg := "You were not signed in anywhere else."
	if n > 0 {
		msg = "Signed out of your other sessions."
	}
	return redirectWithFlash(c, "/profile", views.FlashSuccess, msg)
}

func (h *handler) endSession(c *fiber.Ctx) error {
	u := web.CurrentUser(c)
	hash := c.Params("hash")
	if hash == web.Session(c).IDHash() {
		return fiber.NewError(fiber.StatusBadRequest, "To end this session, sign out.")
	}
	if err := models.EndSession(c.UserContext(), h.DB.Bun, web.Actor(c), u.ID, hash); err != nil {
		return err
	}
	return redirectWithFlash(c, "/profile", views.FlashSuccess, "The session has been ended.")
}

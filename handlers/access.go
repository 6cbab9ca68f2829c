package handlers

import (
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/views"
	"github.com/codex32/codex32/web"
)

// require lets the request through only for a signed-in user with p.
// Anonymous visitors go to the sign-in page (htmx requests get HX-Redirect,
// so a login form is never swapped into a fragment); others get 403.
func (h *handler) require(p models.Permission) fiber.Handler {
	return func(c *fiber.Ctx) error {
		u := web.CurrentUser(c)
		if u == nil {
			return h.toLogin(c)
		}
		if !u.Can(p) {
			return h.forbidden(c, string(p))
		}
		return c.Next()
	}
}

// forbidden records the refused attempt in the audit log and answers 403.
func (h *handler) forbidden(c *fiber.Ctx, needed string) error {
	err := models.RecordEvent(c.UserContext(), h.DB.Bun, web.Actor(c), models.AuditEntry{
		Action: "access.denied", ResourceType: "route", ResourceID: c.Method() + " " + c.Path(),
		New: map[string]any{"needed": needed},
	})
	if err != nil {
		return err
	}
	return fiber.ErrForbidden
}

func (h *handler) toLogin(c *fiber.Ctx) error {
	next := ""
	if c.Method() == fiber.MethodGet {
		next = string(c.Request().URI().RequestURI())
	}
	target := "/login"
	if next != "" && next != "/" {
		target += "?next=" + url.QueryEscape(next)
	}
	if web.IsHTMX(c) {
		c.Set("HX-Redirect", target)
		return c.SendStatus(fiber.StatusUnauthorized)
	}
	return c.Redirect(target, fiber.StatusSeeOther)
}

// safeNext returns next if it is a path on this site, else "/".
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.IsAbs() || u.Host != "" {
		return "/"
	}
	return next
}

// firstRun sends every page to /setup while no admin exists, and makes
// /setup a 404 for good afterwards.
func (h *handler) firstRun(c *fiber.Ctx) error {
	done, err := h.isSetupDone(c)
	if err != nil {
		return err
	}
	isSetup := c.Path() == "/setup"
	switch {
	case done && isSetup:
		return fiber.ErrNotFound
	case !done && !isSetup:
		if web.IsHTMX(c) {
			c.Set("HX-Redirect", "/setup")
			return c.SendStatus(fiber.StatusUnauthorized)
		}
		return c.Redirect("/setup", fiber.StatusSeeOther)
	}
	return c.Next()
}

func (h *handler) isSetupDone(c *fiber.Ctx) (bool, error) {
	if h.setupDone.Load() {
		return true, nil
	}
	done, err := models.SetupDone(c.UserContext(), h.DB.Bun)
	if err != nil {
		return false, err
	}
	if done {
		h.setupDone.Store(true)
	}
	return done, nil
}

// redirectWithFlash queues a flash and redirects (303, or HX-Redirect for htmx).
func redirectWithFlash(c *fiber.Ctx, to string, kind views.FlashKind, msg string) error {
	if rs := web.Session(c); rs != nil && msg != "" {
		rs.AddFlash(kind, msg)
	}
	if web.IsHTMX(c) {
		c.Set("HX-Redirect", to)
		return c.SendStatus(fiber.StatusNoContent)
	}
	return c.Redirect(to, fiber.StatusSeeOther)
}

package handlers

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/views"
	"github.com/codex32/codex32/web"
)

// Sign-in throttling: the sixth bad password within the window for one
// account, or too many from one address, is refused with 429 until the
// oldest failure leaves the window.
const (
	throttleWindow     = 5 * time.Minute
	maxFailuresPerUser = 5
	maxFailuresPerIP   = 30
)

const msgBadCredentials = "Incorrect email or password."

func (h *handler) showSetup(c *fiber.Ctx) error {
	web.CSRFToken(c) // the form needs one
	return web.Render(c, fiber.StatusOK, views.Setup(h.page(c, "Set up", "setup"), views.SetupData{}))
}

func (h *handler) createSetup(c *fiber.Ctx) error {
	d := views.SetupData{Email: strings.TrimSpace(c.FormValue("email")), Name: strings.TrimSpace(c.FormValue("name")), Errors: views.FormErrors{}}
	u := &models.User{Email: d.Email, Username: strings.Split(d.Email, "@")[0], Name: d.Name, Role: models.RoleAdmin}
	// Report every problem at once: the fields, the name, the password.
	if fields, ok := validationFields(u.Validate()); ok {
		for k, v := range fields {
			d.Errors[k] = capitalise(v)
		}
	}
	if d.Name == "" {
		d.Errors["name"] = "Is required"
	}
	if msg := models.CheckPasswordPolicy(c.FormValue("password"), d.Email); msg != "" {
		d.Errors["password"] = capitalise(msg)
	}
	if len(d.Errors) == 0 {
		err := models.CreateFirstAdmin(c.UserContext(), h.DB.Bun, web.Actor(c), u, c.FormValue("password"))
		var ve *models.ValidationError
		switch {
		case errors.Is(err, models.ErrSetupDone):
			h.setupDone.Store(true)
			return fiber.ErrNotFound
		case errors.As(err, &ve):
			for k, v := range ve.Fields {
				d.Errors[k] = capitalise(v)
			}
		case err != nil:
			return err
		}
	}
	if len(d.Errors) > 0 {
		return web.Render(c, fiber.StatusUnprocessableEntity, views.Setup(h.page(c, "Set up", "setup"), d))
	}
	h.setupDone.Store(true)
	if err := web.Session(c).SignIn(u.ID.String()); err != nil {
		return err
	}
	return redirectWithFlash(c, "/", views.FlashSuccess, "Welcome, "+u.Name+". Your administrator account is ready.")
}

func (h *handler) ssoButtons() []views.SSOButton {
	if h.SSO == nil {
		return nil
	}
	return h.SSO.Buttons()
}

func (h *handler) showLogin(c *fiber.Ctx) error {
	if web.CurrentUser(c) != nil {
		return c.Redirect(safeNext(c.Query("next")), fiber.StatusSeeOther)
	}
	d := views.LoginData{Next: safeNext(c.Query("next")), SSO: h.ssoButtons(), Errors: views.FormErrors{}}
	web.CSRFToken(c) // the form needs one
	return web.Render(c, fiber.StatusOK, views.Login(h.page(c, "Sign in", "login"), d))
}

func (h *handler) createLogin(c *fiber.Ctx) error {
	ctx := c.UserContext()
	email := strings.TrimSpace(c.FormValue("email"))
	password := c.FormValue("password")
	d := views.LoginData{Email: email, Next: safeNext(c.FormValue("next")), SSO: h.ssoButtons(), Errors: views.FormErrors{}}
	fail := func(status int, msg string) error {
		d.Errors[""] = msg
		return web.Render(c, status, views.Login(h.page(c, "Sign in", "login"), d))
	}
	attempt := &models.LoginAttempt{Email: email, IP: web.RequestIP(c), UserAgent: c.Get(fiber.HeaderUserAgent)}
	defer h.countLogin("password", attempt)

	// The attempt is stored as pending before anything else, so parallel
	// guesses count against each other at once; then the window is checked
	// (this attempt included).
	if err := models.BeginLoginAttempt(ctx, h.DB.Bun, attempt); err != nil {
		return err
	}
	now := h.Now()
	if wait, err := h.throttled(c, email, attempt.IP, now); err != nil {
		return err
	} else if wait > 0 {
		attempt.Reason = models.ReasonThrottled
		if err := models.FinishLoginAttempt(ctx, h.DB.Bun, attempt); err != nil {
			return err
		}
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		return fail(fiber.StatusTooManyRequests, fmt.Sprintf("Too many failed sign-in attempts. Try again in %s.", roundUp(wait)))
	}

	u, err := models.UserByEmail(ctx, h.DB.Bun, email)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		return err
	}
	ok := false
	if u != nil && u.PasswordHash != nil {
		if ok, err = models.VerifyPassword(*u.PasswordHash, password); err != nil {
			h.Log.Error("login: stored password hash is unreadable", "user_id", u.ID, "err", err)
		}
	} else {
		// Same work as a real check, so "no such user" cannot be told
		// apart from "wrong password" by timing.
		models.BurnPasswordCheck(password)
	}
	if u != nil {
		attempt.UserID = &u.ID
	}
	switch {
	case !ok:
		attempt.Reason = models.ReasonBadCredentials
	case !u.IsActive:
		attempt.Reason = models.ReasonDisabled
	case !u.Can(models.PermSignInHTML):
		attempt.Reason = models.ReasonAPIOnly
	}
	if attempt.Reason != models.ReasonPending {
		if err := models.FinishLoginAttempt(ctx, h.DB.Bun, attempt); err != nil {
			return err
		}
		switch attempt.Reason {
		case models.ReasonDisabled:
			return fail(fiber.StatusForbidden, "This account has been disabled. Ask an administrator to enable it.")
		case models.ReasonAPIOnly:
			return fail(fiber.StatusForbidden, "This account is for programs: it can use the API with an API key, not these pages.")
		}
		return fail(fiber.StatusUnauthorized, msgBadCredentials)
	}
	attempt.Success, attempt.Reason = true, ""
	if err := models.FinishLoginAttempt(ctx, h.DB.Bun, attempt); err != nil {
		return err
	}
	if err := web.Session(c).SignIn(u.ID.String()); err != nil {
		return err
	}
	return c.Redirect(d.Next, fiber.StatusSeeOther)
}

// throttled returns how long the client must wait, or 0.
func (h *handler) throttled(c *fiber.Ctx, email, ip string, now time.Time) (time.Duration, error) {
	since := now.Add(-throttleWindow)
	wait := time.Duration(0)
	check := func(email, ip string, max int) error {
		n, oldest, err := models.RecentFailures(c.UserContext(), h.DB.Bun, email, ip, since)
		if err != nil {
			return err
		}
		if n > max { // this attempt is counted too
			wait = max64(wait, oldest.Add(throttleWindow).Sub(now))
		}
		return nil
	}
	if email != "" {
		if err := check(email, "", maxFailuresPerUser); err != nil {
			return 0, err
		}
	}
	if err := check("", ip, maxFailuresPerIP); err != nil {
		return 0, err
	}
	if wait > 0 && wait < time.Second {
		wait = time.Second
	}
	return wait, nil
}

func max64(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

func roundUp(d time.Duration) string {
	if d <= time.Minute {
		return strconv.Itoa(int(math.Ceil(d.Seconds()))) + " seconds"
	}
	return strconv.Itoa(int(math.Ceil(d.Minutes()))) + " minutes"
}

func (h *handler) createLogout(c *fiber.Ctx) error {
	rs := web.Session(c)
	if u := web.CurrentUser(c); u != nil {
		err := models.RecordEvent(c.UserContext(), h.DB.Bun, web.Actor(c), models.AuditEntry{
			Action: "auth.logout", ResourceType: "user", ResourceID: u.ID.String(),
		})
		if err != nil {
			return err
		}
	}
	if err := rs.SignOut(); err != nil {
		return err
	}
	return redirectWithFlash(c, "/login", views.FlashInfo, "You have signed out.")
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

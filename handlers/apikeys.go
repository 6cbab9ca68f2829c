package handlers

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/views"
	"github.com/codex32/codex32/web"
)

const defaultAPIKeyDays = 90

func (h *handler) apiKeysData(c *fiber.Ctx) (views.APIKeysData, error) {
	u := web.CurrentUser(c)
	keys, err := models.ListAPIKeys(c.UserContext(), h.DB.Bun, u.ID)
	if err != nil {
		return views.APIKeysData{}, err
	}
	return views.APIKeysData{
		Keys: keys, MaxDays: h.APIKeyMaxDays, Now: h.Now(), Errors: views.FormErrors{},
		Form: views.APIKeyForm{Days: min(defaultAPIKeyDays, h.APIKeyMaxDays), Scopes: []string{models.ScopeRead}},
	}, nil
}

func (h *handler) showAPIKeys(c *fiber.Ctx) error {
	d, err := h.apiKeysData(c)
	if err != nil {
		return err
	}
	return web.Render(c, fiber.StatusOK, views.APIKeys(h.page(c, "API keys", "api-keys"), d))
}

func (h *handler) createAPIKey(c *fiber.Ctx) error {
	u := web.CurrentUser(c)
	d, err := h.apiKeysData(c)
	if err != nil {
		return err
	}
	d.Form = views.APIKeyForm{Name: strings.TrimSpace(c.FormValue("name")), Scopes: formValues(c, "scopes")}
	days, convErr := strconv.Atoi(strings.TrimSpace(c.FormValue("days")))
	d.Form.Days = days
	if convErr != nil || days < 1 || days > h.APIKeyMaxDays {
		d.Errors["days"] = "Choose from 1 to " + strconv.Itoa(h.APIKeyMaxDays) + " days."
	}
	k := &models.APIKey{UserID: u.ID, Name: d.Form.Name, Scopes: d.Form.Scopes}
	if len(d.Errors) == 0 {
		exp := h.Now().Add(time.Duration(days) * 24 * time.Hour)
		k.ExpiresAt = &exp
		plain, err := models.CreateAPIKey(c.UserContext(), h.DB.Bun, web.Actor(c), k)
		if fieldErrs, ok := validationFields(err); ok {
			for f, m := range fieldErrs {
				d.Errors[f] = capitalise(m) + "."
			}
		} else if err != nil {
			return err
		} else {
			// Shown in this response only; never stored or redirected with.
			fresh, err := h.apiKeysData(c)
			if err != nil {
				return err
			}
			fresh.NewKey = plain
			return web.Render(c, fiber.StatusCreated, views.APIKeys(h.page(c, "API keys", "api-keys"), fresh))
		}
	}
	return web.Render(c, fiber.StatusUnprocessableEntity, views.APIKeys(h.page(c, "API keys", "api-keys"), d))
}

func (h *handler) revokeAPIKey(c *fiber.Ctx) error {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return fiber.ErrNotFound
	}
	u := web.CurrentUser(c)
	// Only the owner's keys are found: another user's key is a 404.
	err = models.RevokeAPIKey(c.UserContext(), h.DB.Bun, web.Actor(c), u.ID, id)
	h.cache.invalidateAuth() // the API refuses the key at once
	if err != nil {
		return err
	}
	return redirectWithFlash(c, "/settings/api-keys", views.FlashSuccess, "The key has been revoked. Programs using it now get 401.")
}

// formValues returns every value of a repeated form field.
func formValues(c *fiber.Ctx, name string) []string {
	var out []string
	c.Request().PostArgs().VisitAll(func(k, v []byte) {
		if string(k) == name {
			out = append(out, string(v))
		}
	})
	if mf, err := c.MultipartForm(); err == nil && mf != nil {
		out = append(out, mf.Value[name]...)
	}
	return out
}

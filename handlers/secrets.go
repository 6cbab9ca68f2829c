package handlers

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/views"
	"github.com/codex32/codex32/web"
)

func (h *handler) secretsPage(c *fiber.Ctx, status int, d views.SecretsData) error {
	list, err := models.ListSecrets(c.UserContext(), h.DB.Bun)
	if err != nil {
		return err
	}
	d.Secrets = list
	if d.Errors == nil {
		d.Errors = views.FormErrors{}
	}
	return web.Render(c, status, views.Secrets(h.page(c, "Secrets", "secrets"), d))
}

func (h *handler) showSecrets(c *fiber.Ctx) error {
	return h.secretsPage(c, fiber.StatusOK, views.SecretsData{})
}

// putSecret saves a secret's value (write-only: the response never echoes it).
func (h *handler) putSecret(c *fiber.Ctx) error {
	if h.Secrets == nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, "Secrets are not configured on this server.")
	}
	d := views.SecretsData{Name: strings.TrimSpace(c.FormValue("name")), Description: strings.TrimSpace(c.FormValue("description")), Errors: views.FormErrors{}}
	s, err := models.PutSecret(c.UserContext(), h.DB.Bun, h.Secrets, web.Actor(c), d.Name, d.Description, c.FormValue("value"))
	if fields, ok := validationFields(err); ok {
		for k, v := range fields {
			d.Errors[k] = capitalise(v) + "."
		}
		return h.secretsPage(c, fiber.StatusUnprocessableEntity, d)
	}
	if err != nil {
		return err
	}
	return redirectWithFlash(c, "/admin/secrets", views.FlashSuccess, "Secret "+s.Name+" saved. Its value will not be shown again.")
}

func (h *handler) deleteSecret(c *fiber.Ctx) error {
	name := strings.Clone(c.Params("name"))
	err := models.DeleteSecret(c.UserContext(), h.DB.Bun, web.Actor(c), name)
	if errors.Is(err, models.ErrNotFound) {
		return fiber.ErrNotFound
	}
	if err != nil {
		return err
	}
	return redirectWithFlash(c, "/admin/secrets", views.FlashSuccess, "Secret "+name+" deleted.")
}

package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

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
	d.Scopes = make(map[string]views.ScopeForm, len(list))
	for _, s := range list {
		f, err := h.scopeForm(c.UserContext(), s)
		if err != nil {
			return err
		}
		d.Scopes[s.Name] = f
	}
	if d.Errors == nil {
		d.Errors = views.FormErrors{}
	}
	return web.Render(c, status, views.Secrets(h.page(c, "Secrets", "secrets"), d))
}

func (h *handler) showSecrets(c *fiber.Ctx) error {
	return h.secretsPage(c, fiber.StatusOK, views.SecretsData{})
}

// putSecret saves a secret's value (write-only: the response never echoes
// it). A new secret takes the form's scope; a replaced one keeps its own.
func (h *handler) putSecret(c *fiber.Ctx) error {
	if h.Secrets == nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, "Secrets are not configured on this server.")
	}
	ctx := c.UserContext()
	d := views.SecretsData{Name: strings.TrimSpace(c.FormValue("name")), Description: strings.TrimSpace(c.FormValue("description")),
		Scope: scopeFormValues(c), Errors: views.FormErrors{}}
	var scope *models.SecretScope
	if _, err := models.SecretByName(ctx, h.DB.Bun, d.Name); errors.Is(err, models.ErrNotFound) {
		sc, fields, err := h.parseScope(ctx, d.Scope)
		if err != nil {
			return err
		}
		if len(fields) > 0 {
			for k, v := range fields {
				d.Errors[k] = v
			}
			return h.secretsPage(c, fiber.StatusUnprocessableEntity, d)
		}
		scope = &sc
	} else if err != nil {
		return err
	}
	s, err := models.PutSecret(ctx, h.DB.Bun, h.Secrets, web.Actor(c), d.Name, d.Description, c.FormValue("value"), scope)
	if fields, ok := validationFields(err); ok {
		for k, v := range fields {
			d.Errors[k] = capitalise(v) + "."
		}
		return h.secretsPage(c, fiber.StatusUnprocessableEntity, d)
	}
	if err != nil {
		return err
	}
	msg := "Secret " + s.Name + " saved. Its value will not be shown again."
	if scope == nil {
		msg += " Its bots and hosts are unchanged."
	}
	return redirectWithFlash(c, "/admin/secrets", views.FlashSuccess, msg)
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

// showSecretScope is the page that says which bots may use a secret and
// where it may be sent.
func (h *handler) showSecretScope(c *fiber.Ctx) error {
	s, err := models.SecretByName(c.UserContext(), h.DB.Bun, c.Params("name"))
	if errors.Is(err, models.ErrNotFound) {
		return fiber.ErrNotFound
	}
	if err != nil {
		return err
	}
	f, err := h.scopeForm(c.UserContext(), s)
	if err != nil {
		return err
	}
	return web.Render(c, fiber.StatusOK, views.SecretScope(h.page(c, "Secret "+s.Name, "secrets"), views.SecretScopeData{Secret: s, Form: f, Errors: views.FormErrors{}}))
}

// updateSecretScope grants and revokes: the form replaces the scope.
func (h *handler) updateSecretScope(c *fiber.Ctx) error {
	ctx := c.UserContext()
	s, err := models.SecretByName(ctx, h.DB.Bun, c.Params("name"))
	if errors.Is(err, models.ErrNotFound) {
		return fiber.ErrNotFound
	}
	if err != nil {
		return err
	}
	d := views.SecretScopeData{Secret: s, Form: scopeFormValues(c), Errors: views.FormErrors{}}
	scope, fields, err := h.parseScope(ctx, d.Form)
	if err != nil {
		return err
	}
	if len(fields) == 0 {
		_, err = models.SetSecretScope(ctx, h.DB.Bun, web.Actor(c), s.Name, scope)
		if vf, ok := validationFields(err); ok {
			for k, v := range vf {
				fields[k] = capitalise(v) + "."
			}
		} else if err != nil {
			return err
		}
	}
	if len(fields) > 0 {
		for k, v := range fields {
			d.Errors[k] = v
		}
		return web.Render(c, fiber.StatusUnprocessableEntity, views.SecretScope(h.page(c, "Secret "+s.Name, "secrets"), d))
	}
	return redirectWithFlash(c, "/admin/secrets", views.FlashSuccess, "Secret "+s.Name+": who may use it and where it may be sent are saved.")
}

func scopeFormValues(c *fiber.Ctx) views.ScopeForm {
	return views.ScopeForm{Tags: c.FormValue("grant_tags"), Owners: c.FormValue("grant_owners"), Bots: c.FormValue("grant_bots"), Hosts: c.FormValue("hosts")}
}

// splitList splits a form list on commas, spaces and line breaks.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

// parseScope reads the scope form: owners by email, bots by id (or a link
// to the bot's page). Unknown ones are field errors, keyed by form field.
func (h *handler) parseScope(ctx context.Context, f views.ScopeForm) (models.SecretScope, map[string]string, error) {
	fields := map[string]string{}
	sc := models.SecretScope{Hosts: splitList(f.Hosts), Grants: models.SecretGrants{Tags: strings.Split(f.Tags, ",")}}
	var unknown []string
	for _, email := range splitList(f.Owners) {
		u, err := models.UserByEmail(ctx, h.DB.Bun, email)
		if errors.Is(err, models.ErrNotFound) {
			unknown = append(unknown, email)
			continue
		} else if err != nil {
			return sc, nil, err
		}
		sc.Grants.Owners = append(sc.Grants.Owners, u.ID)
	}
	if len(unknown) > 0 {
		fields["grant_owners"] = "No user has the email " + strings.Join(unknown, ", ") + "."
	}
	unknown = nil
	for _, ref := range splitList(f.Bots) {
		id, perr := uuid.Parse(ref[strings.LastIndexByte(ref, '/')+1:])
		if perr != nil {
			unknown = append(unknown, ref)
			continue
		}
		if _, err := models.BotByID(ctx, h.DB.Bun, id); errors.Is(err, models.ErrNotFound) {
			unknown = append(unknown, ref)
			continue
		} else if err != nil {
			return sc, nil, err
		}
		sc.Grants.Bots = append(sc.Grants.Bots, id)
	}
	if len(unknown) > 0 {
		fields["grant_bots"] = "No bot has the id " + strings.Join(unknown, ", ") + " (give a bot's id or the link to its page)."
	}
	for _, h := range sc.Hosts {
		if _, err := models.NormaliseSecretHost(h); err != nil {
			fields["hosts"] = capitalise(err.Error()) + "."
			break
		}
	}
	return sc, fields, nil
}

// scopeForm is s's scope as the form shows it, with owners as emails and
// bots by id, and a summary with names.
func (h *handler) scopeForm(ctx context.Context, s *models.Secret) (views.ScopeForm, error) {
	f := views.ScopeForm{Tags: strings.Join(s.Grants.Tags, ", "), Hosts: strings.Join(s.Hosts, "\n")}
	var owners, bots []string
	for _, id := range s.Grants.Owners {
		u, err := models.UserByID(ctx, h.DB.Bun, id)
		switch {
		case errors.Is(err, models.ErrNotFound):
			f.OwnerLabels = append(f.OwnerLabels, "a deleted user")
			continue
		case err != nil:
			return f, err
		}
		owners = append(owners, u.Email)
		f.OwnerLabels = append(f.OwnerLabels, u.Email)
	}
	for _, id := range s.Grants.Bots {
		bots = append(bots, id.String())
		b, err := models.BotByID(ctx, h.DB.Bun, id)
		switch {
		case errors.Is(err, models.ErrNotFound):
			f.BotLabels = append(f.BotLabels, views.BotLabel{ID: id.String(), Name: fmt.Sprintf("deleted bot %s", id.String()[:8])})
		case err != nil:
			return f, err
		default:
			f.BotLabels = append(f.BotLabels, views.BotLabel{ID: id.String(), Name: b.Name})
		}
	}
	f.Owners, f.Bots = strings.Join(owners, ", "), strings.Join(bots, "\n")
	return f, nil
}

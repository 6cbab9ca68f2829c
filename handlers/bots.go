package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
	"github.com/codex32/codex32/views"
	"github.com/codex32/codex32/web"
)

// showBots is the bot list: search, filters, sort and keyset pages, all in
// the URL so a view can be shared and reloaded.
func (h *handler) showBots(c *fiber.Ctx) error {
	u := web.CurrentUser(c)
	q := models.BotQuery{
		Search: strings.TrimSpace(c.Query("q")), Status: models.BotStatus(c.Query("status")), Kind: models.BotKind(c.Query("kind")),
		Tag: strings.TrimSpace(c.Query("tag")), Archived: c.Query("archived") == "1", Sort: c.Query("sort"),
		After: c.Query("after"),
	}
	if q.Status != "" && !q.Status.Valid() {
		q.Status = ""
	}
	if q.Kind != "" && !q.Kind.Valid() {
		q.Kind = ""
	}
	switch q.Sort {
	case models.SortName, models.SortLastRun:
	default:
		q.Sort = models.SortUpdated
	}
	mine := c.Query("mine") == "1"
	owner := strings.TrimSpace(c.Query("owner"))
	switch {
	case mine:
		q.OwnerID = &u.ID
	case owner != "":
		o, err := models.UserByEmail(c.UserContext(), h.DB.Bun, owner)
		switch {
		case err == nil:
			q.OwnerID = &o.ID
		case errors.Is(err, models.ErrNotFound):
			nobody := uuid.Nil // an unknown owner matches no bot
			q.OwnerID = &nobody
		default:
			return err
		}
	}
	page, err := models.QueryBots(c.UserContext(), h.DB.Bun, q)
	if fields, ok := validationFields(err); ok {
		_ = fields
		q.After = ""
		page, err = models.QueryBots(c.UserContext(), h.DB.Bun, q)
	}
	if err != nil {
		return err
	}
	d := views.BotsListData{Page: page, Query: q, Mine: mine, Owner: owner, CanCreate: u.Can(models.PermBotsCreate),
		QueryString: botListQuery(q, mine, owner), First: q.After == ""}
	if web.IsHTMX(c) && c.Get("HX-Target") == "bot-results" {
		// Live search and paging swap only the results.
		return web.Render(c, fiber.StatusOK, views.BotResults(d))
	}
	return web.Render(c, fiber.StatusOK, views.BotsList(h.page(c, "Bots", "bots"), d))
}

// botListQuery is the list's filters as a query string (no cursor).
func botListQuery(q models.BotQuery, mine bool, owner string) string {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("q", q.Search)
	set("status", string(q.Status))
	set("kind", string(q.Kind))
	set("tag", q.Tag)
	if q.Sort != models.SortUpdated {
		set("sort", q.Sort)
	}
	if mine {
		v.Set("mine", "1")
	} else {
		set("owner", owner)
	}
	if q.Archived {
		v.Set("archived", "1")
	}
	return v.Encode()
}

func schemas() map[models.BotKind]string {
	out := map[models.BotKind]string{}
	for _, k := range models.BotKinds {
		out[k] = runner.Schema(k)
	}
	return out
}

func (h *handler) showNewBot(c *fiber.Ctx) error {
	kind := models.BotKind(c.Query("kind"))
	if !kind.Valid() {
		kind = models.KindHTTP
	}
	d := views.BotFormData{Kind: kind, Status: models.BotActive, Config: string(runner.Example(kind)), Errors: views.FormErrors{}, Schemas: schemas()}
	return web.Render(c, fiber.StatusOK, views.BotForm(h.page(c, "New bot", "bots"), d))
}

// botForm reads the create/edit form.
func botForm(c *fiber.Ctx) views.BotFormData {
	return views.BotFormData{
		Name: strings.TrimSpace(c.FormValue("name")), Description: strings.TrimSpace(c.FormValue("description")),
		Kind: models.BotKind(c.FormValue("kind")), Tags: c.FormValue("tags"), Status: models.BotStatus(c.FormValue("status")),
		Config: c.FormValue("config"), Changelog: strings.TrimSpace(c.FormValue("changelog")),
		Errors: views.FormErrors{}, Schemas: schemas(),
	}
}

func splitTags(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// formErrors shows the models' refusals on the form: the config's among
// the config problems (the form shows no other error for it).
func formErrors(d *views.BotFormData, fields map[string]string) {
	for k, v := range fields {
		if k == "config" {
			d.Problems = append(d.Problems, views.ConfigProblem{Message: capitalise(v) + "."})
			continue
		}
		d.Errors[k] = capitalise(v) + "."
	}
}

// checkConfig validates the config against its kind; problems go to d.
func checkConfig(d *views.BotFormData) (json.RawMessage, runner.Config) {
	if !d.Kind.Valid() {
		d.Errors["kind"] = "Choose a kind."
		return nil, nil
	}
	cfg, err := runner.ValidateConfig(d.Kind, []byte(d.Config))
	if err != nil {
		var ce *runner.ConfigError
		if errors.As(err, &ce) {
			for _, fe := range ce.Errors {
				d.Problems = append(d.Problems, views.ConfigProblem{Path: fe.Path, Line: fe.Line, Column: fe.Column, Message: fe.Message})
			}
			return nil, nil
		}
		d.Errors[""] = err.Error()
		return nil, nil
	}
	return json.RawMessage(d.Config), cfg
}

// checkFormSecrets adds the secret checks' problems to the bot form.
func (h *handler) checkFormSecrets(c *fiber.Ctx, d *views.BotFormData, use secretUse) error {
	problems, err := h.secretProblems(c, use)
	if err != nil {
		return err
	}
	if msg, ok := problems["config"]; ok {
		d.Problems = append(d.Problems, views.ConfigProblem{Message: msg})
	}
	if msg, ok := problems["tags"]; ok {
		d.Errors["tags"] = capitalise(msg) + "."
	}
	return nil
}

func (h *handler) createBot(c *fiber.Ctx) error {
	u := web.CurrentUser(c)
	d := botForm(c)
	config, cfg := checkConfig(&d)
	b := &models.Bot{OwnerID: u.ID, Name: d.Name, Description: d.Description, Kind: d.Kind, Status: d.Status, Tags: splitTags(d.Tags)}
	if fields, ok := validationFields(b.Validate()); ok {
		for k, v := range fields {
			d.Errors[k] = capitalise(v) + "."
		}
	}
	if len(d.Errors) == 0 && len(d.Problems) == 0 {
		if err := h.checkFormSecrets(c, &d, secretUse{cfg: cfg, user: models.SecretUser{OwnerID: u.ID, Tags: b.Tags}}); err != nil {
			return err
		}
	}
	if len(d.Errors) == 0 && len(d.Problems) == 0 {
		_, err := models.CreateBot(c.UserContext(), h.DB.Bun, web.Actor(c), b, config, "Created")
		if fields, ok := validationFields(err); ok {
			formErrors(&d, fields)
		} else if err != nil {
			return err
		} else {
			return redirectWithFlash(c, "/bots/"+b.ID.String(), views.FlashSuccess, "Bot created with version 1.")
		}
	}
	return web.Render(c, fiber.StatusUnprocessableEntity, views.BotForm(h.page(c, "New bot", "bots"), d))
}

// loadBot reads the :id bot (404 for a bad id or a missing bot).
func (h *handler) loadBot(c *fiber.Ctx) (*models.Bot, error) {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return nil, fiber.ErrNotFound
	}
	return models.BotByID(c.UserContext(), h.DB.Bun, id)
}

// canEditBot: owners with bots:edit_own, anyone with bots:edit_any.
func canEditBot(u *models.User, b *models.Bot) bool {
	return u.Can(models.PermBotsEditAny) || (u.Can(models.PermBotsEditOwn) && b.OwnerID == u.ID)
}

// editableBot loads the :id bot and refuses (403, audited) users who may not change it.
func (h *handler) editableBot(c *fiber.Ctx) (*models.Bot, error) {
	b, err := h.loadBot(c)
	if err != nil {
		return nil, err
	}
	if !canEditBot(web.CurrentUser(c), b) {
		return nil, h.forbidden(c, "bots:edit")
	}
	return b, nil
}

func (h *handler) showBot(c *fiber.Ctx) error {
	b, err := h.loadBot(c)
	if err != nil {
		return err
	}
	d, err := h.botPageData(c, b, c.Query("tab", "overview"))
	if err != nil {
		return err
	}
	if d.Tab == "executions" && web.IsHTMX(c) && c.Get("HX-Target") == "exec-results" {
		// Filters and paging of the tab swap only the results.
		return web.Render(c, fiber.StatusOK, views.ExecutionResults(*d.Executions))
	}
	return web.Render(c, fiber.StatusOK, views.BotPage(h.page(c, b.Name, "bots"), *d))
}

// botPageData loads the bot page with one tab's content.
func (h *handler) botPageData(c *fiber.Ctx, b *models.Bot, tab string) (*views.BotPageData, error) {
	ctx := c.UserContext()
	u := web.CurrentUser(c)
	d := &views.BotPageData{Bot: b, Tab: tab, CanEdit: canEditBot(u, b) && b.ArchivedAt == nil,
		CanPurge: u.Can(models.PermBotsPurge), CanAudit: u.Can(models.PermAuditRead), CanRestore: canEditBot(u, b) && b.ArchivedAt != nil}
	var err error
	if owner, err := models.UserByID(ctx, h.DB.Bun, b.OwnerID); err == nil {
		d.Owner = owner
	}
	if b.ActiveVersionID != nil {
		if d.Active, err = models.BotVersionByID(ctx, h.DB.Bun, *b.ActiveVersionID); err != nil {
			return nil, err
		}
	}
	latest, err := models.LatestBotVersion(ctx, h.DB.Bun, b.ID)
	if err != nil {
		return nil, err
	}
	d.Latest = latest.Number
	d.Run = views.RunData{BotID: b.ID.String(), CanRun: canRunBot(u, b)}
	if d.Run.Blocked, err = h.runBlocked(ctx, b); err != nil {
		return nil, err
	}
	switch d.Tab {
	case "versions":
		if d.Versions, err = models.ListBotVersions(ctx, h.DB.Bun, b.ID); err != nil {
			return nil, err
		}
		if d.Authors, err = h.authorLabels(ctx, d.Versions); err != nil {
			return nil, err
		}
	case "audit":
		if !u.Can(models.PermAuditRead) {
			return nil, h.forbidden(c, string(models.PermAuditRead))
		}
		page, err := models.QueryAudit(ctx, h.DB.Bun, models.AuditQuery{BotID: &b.ID, Limit: 100})
		if err != nil {
			return nil, err
		}
		d.Audit = page.Rows
	case "executions":
		if d.Executions, err = h.executionList(c, b); err != nil {
			return nil, err
		}
		if d.Run.CanRun && d.Run.Blocked == "" {
			d.Executions.RunHref = "/bots/" + b.ID.String() + "?tab=run"
		}
	case "triggers":
		if d.Triggers, err = h.triggersData(c, b, d.CanEdit); err != nil {
			return nil, err
		}
	case "run":
		last, err := models.LastInput(ctx, h.DB.Bun, b.ID)
		if err != nil {
			return nil, err
		}
		d.Run.Input = prettyInput(last)
	default:
		d.Tab = "overview"
	}
	return d, nil
}

func (h *handler) authorLabels(ctx context.Context, vs []*models.BotVersion) (map[string]string, error) {
	ids := map[uuid.UUID]bool{}
	for _, v := range vs {
		if v.AuthorID != nil {
			ids[*v.AuthorID] = true
		}
	}
	out := map[string]string{}
	for id := range ids {
		u, err := models.UserByID(ctx, h.DB.Bun, id)
		if errors.Is(err, models.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		out[id.String()] = u.Email
	}
	return out, nil
}

func (h *handler) editFormFor(ctx context.Context, b *models.Bot) (views.BotFormData, error) {
	latest, err := models.LatestBotVersion(ctx, h.DB.Bun, b.ID)
	if err != nil {
		return views.BotFormData{}, err
	}
	return views.BotFormData{Bot: b, Name: b.Name, Description: b.Description, Kind: latest.Kind, Tags: strings.Join(b.Tags, ", "),
		Status: b.Status, Config: prettyConfig(latest.Config), Base: latest.Number, Errors: views.FormErrors{}, Schemas: schemas()}, nil
}

func prettyConfig(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return string(raw)
	}
	return string(b)
}

func (h *handler) showEditBot(c *fiber.Ctx) error {
	b, err := h.editableBot(c)
	if err != nil {
		return err
	}
	d, err := h.editFormFor(c.UserContext(), b)
	if err != nil {
		return err
	}
	return web.Render(c, fiber.StatusOK, views.BotForm(h.page(c, "Edit "+b.Name, "bots"), d))
}

// updateBot saves the edit form: a changed config or kind becomes a new
// version (unless someone saved one meanwhile: a conflict, nothing written),
// the other fields are updated in place; both in one transaction.
func (h *handler) updateBot(c *fiber.Ctx) error {
	b, err := h.editableBot(c)
	if err != nil {
		return err
	}
	d := botForm(c)
	d.Bot = b
	d.Base = atoiDefault(c.FormValue("base"), 0)
	config, cfg := checkConfig(&d)
	patch := models.BotPatch{Name: d.Name, Description: d.Description, Tags: splitTags(d.Tags), Status: d.Status}
	if len(d.Errors) == 0 && len(d.Problems) == 0 {
		use := secretUse{cfg: cfg, user: models.SecretUser{BotID: &b.ID, OwnerID: b.OwnerID, Tags: models.NormaliseTags(patch.Tags)}, oldTags: b.Tags}
		if err := h.checkFormSecrets(c, &d, use); err != nil {
			return err
		}
	}
	if len(d.Errors) > 0 || len(d.Problems) > 0 {
		return web.Render(c, fiber.StatusUnprocessableEntity, views.BotForm(h.page(c, "Edit "+b.Name, "bots"), d))
	}
	saved, metaChanged, err := models.SaveBotEdit(c.UserContext(), h.DB.Bun, web.Actor(c), b.ID, d.Base, d.Kind, config, d.Changelog, patch)
	if errors.Is(err, models.ErrUnchanged) {
		err = nil
	}
	var conflict *models.VersionConflictError
	if errors.As(err, &conflict) {
		d.Conflict = conflict
		return web.Render(c, fiber.StatusConflict, views.BotForm(h.page(c, "Edit "+b.Name, "bots"), d))
	}
	if fields, ok := validationFields(err); ok {
		if m, ok := fields["archived"]; ok {
			delete(fields, "archived")
			fields[""] = m
		}
		formErrors(&d, fields)
		return web.Render(c, fiber.StatusUnprocessableEntity, views.BotForm(h.page(c, "Edit "+b.Name, "bots"), d))
	}
	if err != nil {
		return err
	}
	msg := "Nothing changed: the config is identical to version " + itoa(d.Base) + ", so no version was made."
	kind := views.FlashInfo
	switch {
	case saved != nil && metaChanged:
		msg, kind = "Saved version "+itoa(saved.Number)+" and updated the details.", views.FlashSuccess
	case saved != nil:
		msg, kind = "Saved version "+itoa(saved.Number)+".", views.FlashSuccess
	case metaChanged:
		msg, kind = "Details updated. The config is unchanged, so no version was made.", views.FlashSuccess
	}
	return redirectWithFlash(c, "/bots/"+b.ID.String(), kind, msg)
}

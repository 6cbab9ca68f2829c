package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
	"github.com/codex32/codex32/web"
)

// listAPIBots is GET /api/v1/bots: the bot list's filters, keyset pages.
func (h *handler) listAPIBots(c *fiber.Ctx) error {
	ctx := c.UserContext()
	qe := queryErrors{}
	q := models.BotQuery{
		Search:   strings.TrimSpace(c.Query("q")),
		Status:   models.BotStatus(qe.oneOf(c, "status", stringsOf(models.BotStatuses))),
		Kind:     models.BotKind(qe.oneOf(c, "kind", stringsOf(models.BotKinds))),
		Tag:      strings.TrimSpace(c.Query("tag")),
		Archived: qe.boolean(c, "archived"),
		Sort:     qe.oneOf(c, "sort", []string{models.SortUpdated, models.SortName, models.SortLastRun}),
		After:    c.Query("cursor"),
		Limit:    qe.limit(c, 50, 200),
	}
	mine, owner := qe.boolean(c, "mine"), strings.TrimSpace(c.Query("owner"))
	if mine && owner != "" {
		qe["owner"] = "cannot be combined with mine"
	}
	if err := qe.err(); err != nil {
		return err
	}
	switch {
	case mine:
		q.OwnerID = &web.CurrentUser(c).ID
	case owner != "":
		id, err := h.userRef(ctx, owner)
		if err != nil {
			return err
		}
		q.OwnerID = &id
	}
	q.NoCount = true
	// The page depends on nothing but q (every role that may list bots
	// sees them all), so callers share cached pages.
	cacheKey := botQueryKey(q)
	now := h.Now()
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	if body, ok := h.cache.getList(cacheKey, now); ok {
		return c.Send(body)
	}
	gen := h.cache.listGeneration() // before reading: a racing write wins
	page, err := models.QueryBots(ctx, h.DB.Bun, q)
	if _, ok := validationFields(err); ok {
		return web.FieldsProblem(fiber.StatusBadRequest, map[string]string{"cursor": "is not a valid page cursor"})
	} else if err != nil {
		return err
	}
	items := make([]apiBot, len(page.Rows))
	for i, r := range page.Rows {
		items[i] = toAPIBot(&r.Bot, r.OwnerEmail, r.ActiveVersion)
	}
	body, err := json.Marshal(newAPIPage(items, page.Next))
	if err != nil {
		return err
	}
	h.cache.putList(cacheKey, gen, body, now)
	return c.Send(body)
}

// botQueryKey identifies a bot list query in the API cache.
func botQueryKey(q models.BotQuery) string {
	owner := ""
	if q.OwnerID != nil {
		owner = q.OwnerID.String()
	}
	return strings.Join([]string{q.Search, string(q.Status), string(q.Kind), q.Tag, owner,
		strconv.FormatBool(q.Archived), q.Sort, q.After, strconv.Itoa(q.Limit)}, "\x00")
}

// userRef resolves a user filter given as an id or an email; an unknown
// user matches nothing (uuid.Nil), as in the pages.
func (h *handler) userRef(ctx context.Context, ref string) (uuid.UUID, error) {
	if id, err := uuid.Parse(ref); err == nil {
		return id, nil
	}
	u, err := models.UserByEmail(ctx, h.DB.Bun, ref)
	switch {
	case err == nil:
		return u.ID, nil
	case errors.Is(err, models.ErrNotFound):
		return uuid.Nil, nil
	}
	return uuid.Nil, err
}

// apiBotFull is a bot as the single-bot answers give it.
func (h *handler) apiBotFull(ctx context.Context, id uuid.UUID) (apiBot, error) {
	b, err := models.BotByID(ctx, h.DB.Bun, id)
	if err != nil {
		return apiBot{}, err
	}
	email := ""
	if o, err := models.UserByID(ctx, h.DB.Bun, b.OwnerID); err == nil {
		email = o.Email
	} else if !errors.Is(err, models.ErrNotFound) {
		return apiBot{}, err
	}
	var active *int
	if b.ActiveVersionID != nil {
		v, err := models.BotVersionByID(ctx, h.DB.Bun, *b.ActiveVersionID)
		if err != nil {
			return apiBot{}, err
		}
		active = &v.Number
	}
	latest, err := models.LatestBotVersion(ctx, h.DB.Bun, b.ID)
	if err != nil {
		return apiBot{}, err
	}
	out := toAPIBot(b, email, active)
	out.LatestVersion = &latest.Number
	return out, nil
}

func (h *handler) sendAPIBot(c *fiber.Ctx, status int, id uuid.UUID) error {
	out, err := h.apiBotFull(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.Status(status).JSON(out)
}

func (h *handler) showAPIBot(c *fiber.Ctx) error {
	b, err := h.loadBot(c)
	if err != nil {
		return err
	}
	return h.sendAPIBot(c, fiber.StatusOK, b.ID)
}

// missingBotPerm names the permission a user lacks for a bot: the _own one
// on their own bot, the _any one on someone else's.
func missingBotPerm(u *models.User, b *models.Bot, own, anyBot models.Permission) string {
	if b.OwnerID == u.ID {
		return string(own)
	}
	return string(anyBot)
}

// apiEditableBot loads the :id bot and refuses (403, audited) users who
// may not change it — canEditBot, as on the pages.
func (h *handler) apiEditableBot(c *fiber.Ctx) (*models.Bot, error) {
	b, err := h.loadBot(c)
	if err != nil {
		return nil, err
	}
	if u := web.CurrentUser(c); !canEditBot(u, b) {
		return nil, h.apiForbidden(c, missingBotPerm(u, b, models.PermBotsEditOwn, models.PermBotsEditAny))
	}
	return b, nil
}

// apiChangeErr words model errors for the API: changing an archived bot is
// a state conflict (409), not an invalid field.
func apiChangeErr(err error) error {
	if errors.Is(err, models.ErrArchived) {
		return &models.StateError{Message: "This bot is archived; restore it before changing it."}
	}
	return err
}

// checkAPIConfig validates config against kind into fields ("config" or
// "config.<path>" for the config's own problems).
func checkAPIConfig(kind models.BotKind, config json.RawMessage, fields map[string]string) runner.Config {
	if !kind.Valid() {
		fields["kind"] = fmt.Sprintf("must be one of %s", strings.Join(stringsOf(models.BotKinds), ", "))
		return nil
	}
	if len(config) == 0 {
		fields["config"] = "is required"
		return nil
	}
	cfg, err := runner.ValidateConfig(kind, config)
	var ce *runner.ConfigError
	if !errors.As(err, &ce) {
		if err != nil {
			fields["config"] = err.Error()
		}
		return cfg
	}
	for _, fe := range ce.Errors {
		field := "config"
		if fe.Path != "" {
			field += "." + fe.Path
		}
		if prev, ok := fields[field]; ok {
			fields[field] = prev + "; " + fe.Message
		} else {
			fields[field] = fe.Message
		}
	}
	return nil
}

// addSecretProblems adds the secret checks' problems to an API answer's fields.
func (h *handler) addSecretProblems(c *fiber.Ctx, use secretUse, fields map[string]string) error {
	problems, err := h.secretProblems(c, use)
	for k, v := range problems {
		fields[k] = v
	}
	return err
}

type apiBotCreate struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Kind        string          `json:"kind"`
	Status      string          `json:"status"`
	Tags        []string        `json:"tags"`
	Config      json.RawMessage `json:"config"`
	Changelog   string          `json:"changelog"`
}

// createAPIBot is POST /api/v1/bots: the bot with its version 1.
func (h *handler) createAPIBot(c *fiber.Ctx) error {
	var in apiBotCreate
	if err := bindJSON(c, &in, true); err != nil {
		return err
	}
	if in.Status == "" {
		in.Status = string(models.BotActive) // as the new-bot form
	}
	b := &models.Bot{OwnerID: web.CurrentUser(c).ID, Name: in.Name, Description: in.Description, Kind: models.BotKind(in.Kind),
		Status: models.BotStatus(in.Status), Tags: in.Tags}
	fields := map[string]string{}
	if vf, ok := validationFields(b.Validate()); ok {
		for k, v := range vf {
			fields[k] = v
		}
	}
	var cfg runner.Config
	if _, bad := fields["kind"]; !bad {
		cfg = checkAPIConfig(b.Kind, in.Config, fields)
	}
	if len(fields) == 0 {
		if err := h.addSecretProblems(c, secretUse{cfg: cfg, user: models.SecretUser{OwnerID: b.OwnerID, Tags: b.Tags}}, fields); err != nil {
			return err
		}
	}
	if len(fields) > 0 {
		return web.FieldsProblem(fiber.StatusUnprocessableEntity, fields)
	}
	changelog := strings.TrimSpace(in.Changelog)
	if changelog == "" {
		changelog = "Created"
	}
	if _, err := models.CreateBot(c.UserContext(), h.DB.Bun, web.Actor(c), b, in.Config, changelog); err != nil {
		return err
	}
	c.Location("/api/v1/bots/" + b.ID.String())
	return h.sendAPIBot(c, fiber.StatusCreated, b.ID)
}

type apiBotUpdate struct {
	Name        *string         `json:"name"`
	Description *string         `json:"description"`
	Status      *string         `json:"status"`
	Tags        *[]string       `json:"tags"`
	Kind        *string         `json:"kind"`
	Config      json.RawMessage `json:"config"`
	Changelog   string          `json:"changelog"`
	BaseVersion *int            `json:"base_version"`
}

// updateAPIBot is PATCH /api/v1/bots/{id}: fields left out stay as they
// are. A new config or kind becomes a new version (optimistically locked on
// base_version, default the latest); the details change in place; both in
// one transaction. Nothing to change is not an error.
func (h *handler) updateAPIBot(c *fiber.Ctx) error {
	b, err := h.apiEditableBot(c)
	if err != nil {
		return err
	}
	var in apiBotUpdate
	if err := bindJSON(c, &in, true); err != nil {
		return err
	}
	ctx := c.UserContext()
	patch := models.BotPatch{Name: b.Name, Description: b.Description, Tags: b.Tags, Status: b.Status}
	if in.Name != nil {
		patch.Name = *in.Name
	}
	if in.Description != nil {
		patch.Description = *in.Description
	}
	if in.Tags != nil {
		patch.Tags = *in.Tags
	}
	if in.Status != nil {
		patch.Status = models.BotStatus(*in.Status)
	}
	check := &models.Bot{Name: patch.Name, Description: patch.Description, Tags: patch.Tags, Status: patch.Status, Kind: b.Kind}
	fields := map[string]string{}
	if vf, ok := validationFields(check.Validate()); ok {
		for k, v := range vf {
			fields[k] = v
		}
	}
	versioned := in.Kind != nil || len(in.Config) > 0 || in.BaseVersion != nil || strings.TrimSpace(in.Changelog) != ""
	use := secretUse{user: models.SecretUser{BotID: &b.ID, OwnerID: b.OwnerID, Tags: check.Tags}, oldTags: b.Tags}
	if !versioned {
		if len(fields) == 0 && in.Tags != nil {
			// New tags may lose the bot a secret its config uses, or gain one.
			latest, err := models.LatestBotVersion(ctx, h.DB.Bun, b.ID)
			if err != nil {
				return err
			}
			use.cfg, _ = runner.ValidateConfig(latest.Kind, latest.Config)
			if err := h.addSecretProblems(c, use, fields); err != nil {
				return err
			}
		}
		if len(fields) > 0 {
			return web.FieldsProblem(fiber.StatusUnprocessableEntity, fields)
		}
		if _, err := models.UpdateBot(ctx, h.DB.Bun, web.Actor(c), b.ID, patch); err != nil && !errors.Is(err, models.ErrUnchanged) {
			return apiChangeErr(err)
		}
		return h.sendAPIBot(c, fiber.StatusOK, b.ID)
	}
	latest, err := models.LatestBotVersion(ctx, h.DB.Bun, b.ID)
	if err != nil {
		return err
	}
	kind, config, base := latest.Kind, latest.Config, latest.Number
	if in.Kind != nil {
		kind = models.BotKind(*in.Kind)
	}
	if len(in.Config) > 0 {
		config = in.Config
	}
	if in.BaseVersion != nil {
		base = *in.BaseVersion
	}
	use.cfg = checkAPIConfig(kind, config, fields)
	if len(fields) == 0 {
		if err := h.addSecretProblems(c, use, fields); err != nil {
			return err
		}
	}
	if len(fields) > 0 {
		return web.FieldsProblem(fiber.StatusUnprocessableEntity, fields)
	}
	_, _, err = models.SaveBotEdit(ctx, h.DB.Bun, web.Actor(c), b.ID, base, kind, config, in.Changelog, patch)
	if err != nil && !errors.Is(err, models.ErrUnchanged) {
		return apiChangeErr(err)
	}
	return h.sendAPIBot(c, fiber.StatusOK, b.ID)
}

func (h *handler) archiveAPIBot(c *fiber.Ctx) error { return h.setAPIArchived(c, true) }
func (h *handler) restoreAPIBot(c *fiber.Ctx) error { return h.setAPIArchived(c, false) }

// setAPIArchived archives or restores a bot; doing it twice is harmless.
func (h *handler) setAPIArchived(c *fiber.Ctx, archived bool) error {
	b, err := h.apiEditableBot(c)
	if err != nil {
		return err
	}
	if _, err := models.SetBotArchived(c.UserContext(), h.DB.Bun, web.Actor(c), b.ID, archived); err != nil && !errors.Is(err, models.ErrUnchanged) {
		return err
	}
	return h.sendAPIBot(c, fiber.StatusOK, b.ID)
}

package handlers

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/views"
	"github.com/codex32/codex32/web"
)

func versionParam(c *fiber.Ctx, name string) (int, error) {
	n, err := strconv.Atoi(c.Params(name))
	if err != nil || n < 1 {
		return 0, fiber.ErrNotFound
	}
	return n, nil
}

func (h *handler) showVersion(c *fiber.Ctx) error {
	b, err := h.loadBot(c)
	if err != nil {
		return err
	}
	n, err := versionParam(c, "n")
	if err != nil {
		return err
	}
	v, err := models.BotVersionByNumber(c.UserContext(), h.DB.Bun, b.ID, n)
	if err != nil {
		return err
	}
	authors, err := h.authorLabels(c.UserContext(), []*models.BotVersion{v})
	if err != nil {
		return err
	}
	d := views.VersionData{Bot: b, Version: v, Author: "system", Active: b.ActiveVersionID != nil && *b.ActiveVersionID == v.ID,
		CanEdit: canEditBot(web.CurrentUser(c), b) && b.ArchivedAt == nil}
	if v.AuthorID != nil {
		d.Author = "a deleted user"
		if a, ok := authors[v.AuthorID.String()]; ok {
			d.Author = a
		}
	}
	return web.Render(c, fiber.StatusOK, views.VersionPage(h.page(c, b.Name+" v"+itoa(n), "bots"), d))
}

// showDiff compares any two versions (default: the two newest).
func (h *handler) showDiff(c *fiber.Ctx) error {
	ctx := c.UserContext()
	b, err := h.loadBot(c)
	if err != nil {
		return err
	}
	vs, err := models.ListBotVersions(ctx, h.DB.Bun, b.ID)
	if err != nil {
		return err
	}
	byNumber := map[int]*models.BotVersion{}
	for _, v := range vs {
		byNumber[v.Number] = v
	}
	to := byNumber[atoiDefault(c.Query("to"), vs[0].Number)]
	defFrom := vs[0].Number - 1
	if defFrom < 1 {
		defFrom = 1
	}
	from := byNumber[atoiDefault(c.Query("from"), defFrom)]
	if from == nil || to == nil {
		return fiber.NewError(fiber.StatusNotFound, "No such version.")
	}
	d := views.DiffData{Bot: b, From: from, To: to, Versions: vs, Mode: c.Query("mode", "split")}
	if d.Mode != "unified" {
		d.Mode = "split"
	}
	if d.Entries, err = models.DiffJSON(from.Config, to.Config); err != nil {
		return err
	}
	if d.Lines, err = models.DiffLines(from.Config, to.Config); err != nil {
		return err
	}
	return web.Render(c, fiber.StatusOK, views.DiffPage(h.page(c, "Compare versions of "+b.Name, "bots"), d))
}

func (h *handler) activateVersion(c *fiber.Ctx) error {
	b, err := h.editableBot(c)
	if err != nil {
		return err
	}
	n, err := versionParam(c, "n")
	if err != nil {
		return err
	}
	to := "/bots/" + b.ID.String() + "?tab=versions"
	_, err = models.ActivateBotVersion(c.UserContext(), h.DB.Bun, web.Actor(c), b.ID, n)
	switch {
	case errors.Is(err, models.ErrUnchanged):
		return redirectWithFlash(c, to, views.FlashInfo, "Version "+itoa(n)+" is already active.")
	case errors.Is(err, models.ErrArchived):
		return redirectWithFlash(c, to, views.FlashError, "This bot is archived; restore it before activating a version.")
	case err != nil:
		return err
	}
	return redirectWithFlash(c, to, views.FlashSuccess, "Version "+itoa(n)+" is now active; new runs use it.")
}

func (h *handler) archiveBot(c *fiber.Ctx) error { return h.setArchived(c, true) }
func (h *handler) restoreBot(c *fiber.Ctx) error { return h.setArchived(c, false) }
func (h *handler) setArchived(c *fiber.Ctx, archived bool) error {
	b, err := h.editableBot(c)
	if err != nil {
		return err
	}
	_, err = models.SetBotArchived(c.UserContext(), h.DB.Bun, web.Actor(c), b.ID, archived)
	if err != nil && !errors.Is(err, models.ErrUnchanged) {
		return err
	}
	msg := "Bot restored."
	if archived {
		msg = "Bot archived. It is hidden from lists; restore it from its page (Archived filter)."
	}
	return redirectWithFlash(c, "/bots/"+b.ID.String(), views.FlashSuccess, msg)
}

func (h *handler) purgeBot(c *fiber.Ctx) error {
	b, err := h.loadBot(c)
	if err != nil {
		return err
	}
	err = models.PurgeBot(c.UserContext(), h.DB.Bun, web.Actor(c), b.ID)
	if fields, ok := validationFields(err); ok {
		return redirectWithFlash(c, "/bots/"+b.ID.String(), views.FlashError, capitalise(fields["archived"])+".")
	}
	if err != nil {
		return err
	}
	return redirectWithFlash(c, "/bots", views.FlashSuccess, "“"+b.Name+"” was purged. Its audit history remains.")
}

// exportBot downloads a bot with every version as JSON (importable again).
func (h *handler) exportBot(c *fiber.Ctx) error {
	b, err := h.loadBot(c)
	if err != nil {
		return err
	}
	f, err := models.ExportBot(c.UserContext(), h.DB.Bun, b.ID)
	if err != nil {
		return err
	}
	out, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+exportFileName(b.Name)+`.json"`)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(append(out, '\n'))
}

// exportFileName makes a safe file name from a bot name.
func exportFileName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-")
	if s == "" {
		s = "bot"
	}
	return s
}

package handlers

import (
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

// listAPIVersions is every version of a bot, newest first, without configs.
// A bot has few versions, so there is one page (next_cursor is null).
func (h *handler) listAPIVersions(c *fiber.Ctx) error {
	b, err := h.loadBot(c)
	if err != nil {
		return err
	}
	vs, err := models.ListBotVersions(c.UserContext(), h.DB.Bun, b.ID)
	if err != nil {
		return err
	}
	items := make([]apiVersion, len(vs))
	for i, v := range vs {
		items[i] = toAPIVersion(v, b, false)
	}
	return c.JSON(newAPIPage(items, ""))
}

func (h *handler) showAPIVersion(c *fiber.Ctx) error {
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
	return c.JSON(toAPIVersion(v, b, true))
}

// showAPIDiff compares version from with version to (default: the newest
// with the one before it).
func (h *handler) showAPIDiff(c *fiber.Ctx) error {
	b, err := h.loadBot(c)
	if err != nil {
		return err
	}
	vs, err := models.ListBotVersions(c.UserContext(), h.DB.Bun, b.ID)
	if err != nil {
		return err
	}
	byNumber := map[int]*models.BotVersion{}
	for _, v := range vs {
		byNumber[v.Number] = v
	}
	qe := queryErrors{}
	number := func(name string, def int) int {
		raw := c.Query(name)
		if raw == "" {
			return def
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 {
			qe[name] = "must be a version number (1 or more)"
		}
		return n
	}
	to := number("to", vs[0].Number)
	from := number("from", max(to-1, 1))
	if err := qe.err(); err != nil {
		return err
	}
	for _, n := range []int{from, to} {
		if byNumber[n] == nil {
			return web.NewProblem(fiber.StatusNotFound, "", "This bot has no version "+strconv.Itoa(n)+".")
		}
	}
	fv, tv := byNumber[from], byNumber[to]
	entries, err := models.DiffJSON(fv.Config, tv.Config)
	if err != nil {
		return err
	}
	unified, err := models.UnifiedDiff(fv.Config, tv.Config, "v"+strconv.Itoa(from), "v"+strconv.Itoa(to))
	if err != nil {
		return err
	}
	out := apiDiff{From: from, To: to, Changes: []apiDiffChange{}, Unified: unified}
	for _, e := range models.Changes(entries) {
		out.Changes = append(out.Changes, apiDiffChange{Path: e.Path, Op: string(e.Op), Old: e.Old, New: e.New})
	}
	return c.JSON(out)
}

// activateAPIVersion makes version n the active one (roll back or forward);
// activating the active version changes nothing.
func (h *handler) activateAPIVersion(c *fiber.Ctx) error {
	b, err := h.apiEditableBot(c)
	if err != nil {
		return err
	}
	n, err := versionParam(c, "n")
	if err != nil {
		return err
	}
	_, err = models.ActivateBotVersion(c.UserContext(), h.DB.Bun, web.Actor(c), b.ID, n)
	if err != nil && !errors.Is(err, models.ErrUnchanged) {
		return apiChangeErr(err)
	}
	return h.sendAPIBot(c, fiber.StatusOK, b.ID)
}

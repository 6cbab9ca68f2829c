package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
	"github.com/codex32/codex32/views"
	"github.com/codex32/codex32/web"
)

// canRunBot: owners with bots:run_own, anyone with bots:run_any. Cancelling
// and re-running an execution follow the same rule.
func canRunBot(u *models.User, b *models.Bot) bool {
	return u.Can(models.PermBotsRunAny) || (u.Can(models.PermBotsRunOwn) && b.OwnerID == u.ID)
}

// runBlocked is why the bot cannot run now ("" when it can), in the
// engine's own words.
func (h *handler) runBlocked(ctx context.Context, b *models.Bot) (string, error) {
	_, _, err := models.RunnableBot(ctx, h.DB.Bun, b.ID)
	var se *models.StateError
	switch {
	case err == nil:
		return "", nil
	case errors.As(err, &se):
		return se.Message, nil
	}
	return "", err
}

// maxPollIDs bounds the ids one live-update request may ask about (a page
// holds at most 200 rows).
const maxPollIDs = 200

// executionList reads the history's filters from the query string and
// loads the page. bot is nil for /executions, the bot for its tab.
func (h *handler) executionList(c *fiber.Ctx, bot *models.Bot) (*views.ExecutionsListData, error) {
	ctx := c.UserContext()
	f := views.ExecFilters{
		Status: strings.TrimSpace(c.Query("status")), Trigger: strings.TrimSpace(c.Query("trigger")),
		Requester: strings.TrimSpace(c.Query("requester")), From: strings.TrimSpace(c.Query("from")),
		To: strings.TrimSpace(c.Query("to")), Mine: c.Query("mine") == "1",
	}
	if bot == nil {
		f.Bot = strings.TrimSpace(c.Query("bot"))
	}
	q := models.ExecutionQuery{After: c.Query("after")}
	var problems []string
	nobody := uuid.Nil // matches no execution
	if f.Status != "" {
		if s := models.ExecStatus(f.Status); s.Valid() {
			q.Status = s
		} else {
			problems = append(problems, fmt.Sprintf("%q is not a status", f.Status))
			f.Status = ""
		}
	}
	if f.Trigger != "" {
		if t := models.Trigger(f.Trigger); t.Valid() {
			q.Trigger = t
		} else {
			problems = append(problems, fmt.Sprintf("%q is not a trigger", f.Trigger))
			f.Trigger = ""
		}
	}
	switch {
	case bot != nil:
		q.BotIDs = []uuid.UUID{bot.ID}
	case f.Bot != "":
		if id, err := uuid.Parse(f.Bot); err == nil {
			q.BotIDs = []uuid.UUID{id}
		} else {
			ids, err := models.BotIDsNamed(ctx, h.DB.Bun, f.Bot, 50)
			if err != nil {
				return nil, err
			}
			if len(ids) == 0 {
				ids = []uuid.UUID{nobody}
			}
			q.BotIDs = ids
		}
	}
	switch {
	case f.Mine:
		q.RequestedBy = &web.CurrentUser(c).ID
	case f.Requester != "":
		u, err := models.UserByEmail(ctx, h.DB.Bun, f.Requester)
		switch {
		case err == nil:
			q.RequestedBy = &u.ID
		case errors.Is(err, models.ErrNotFound):
			q.RequestedBy = &nobody
		default:
			return nil, err
		}
	}
	for _, d := range []struct {
		raw  *string
		dst  **time.Time
		name string
		add  time.Duration
	}{{&f.From, &q.From, "from", 0}, {&f.To, &q.To, "to", 24 * time.Hour}} {
		if *d.raw == "" {
			continue
		}
		t, err := time.Parse("2006-01-02", *d.raw)
		if err != nil {
			problems = append(problems, fmt.Sprintf("the %s date %q is not YYYY-MM-DD", d.name, *d.raw))
			*d.raw = ""
			continue
		}
		t = t.Add(d.add) // "to" is inclusive: up to the end of that day
		*d.dst = &t
	}

	page, err := models.QueryExecutions(ctx, h.DB.Bun, q)
	if _, ok := validationFields(err); ok {
		// A damaged cursor: start from the newest.
		q.After = ""
		page, err = models.QueryExecutions(ctx, h.DB.Bun, q)
	}
	if err != nil {
		return nil, err
	}
	d := &views.ExecutionsListData{Page: page, Filters: f, Path: "/executions", First: q.After == "", Now: h.Now()}
	v := url.Values{}
	if bot != nil {
		d.Path, d.BotID = "/bots/"+bot.ID.String(), bot.ID.String()
		v.Set("tab", "executions")
	}
	for k, val := range map[string]string{"status": f.Status, "trigger": f.Trigger, "bot": f.Bot, "requester": f.Requester,
		"from": f.From, "to": f.To} {
		if val != "" {
			v.Set(k, val)
		}
	}
	if f.Mine {
		v.Set("mine", "1")
	}
	d.QueryString = v.Encode()
	if len(problems) > 0 {
		d.Problem = "Ignored: " + strings.Join(problems, "; ") + "."
	}
	return d, nil
}

// showExecutions is the execution history of every bot.
func (h *handler) showExecutions(c *fiber.Ctx) error {
	d, err := h.executionList(c, nil)
	if err != nil {
		return err
	}
	if web.IsHTMX(c) && c.Get("HX-Target") == "exec-results" {
		return web.Render(c, fiber.StatusOK, views.ExecutionResults(*d))
	}
	return web.Render(c, fiber.StatusOK, views.ExecutionsPage(h.page(c, "Executions", "executions"), *d))
}

// showExecutionRows is the history's live update: the rows asked for
// (those in flight when the page was drawn), swapped out of band, and a
// poller for the ones still in flight. One request per table per second,
// primary-key lookups only, whatever the filters were.
func (h *handler) showExecutionRows(c *fiber.Ctx) error {
	var ids []uuid.UUID
	for _, s := range strings.Split(c.Query("ids"), ",") {
		if id, err := uuid.Parse(strings.TrimSpace(s)); err == nil && len(ids) < maxPollIDs {
			ids = append(ids, id)
		}
	}
	rows, err := models.ExecutionRowsByID(c.UserContext(), h.DB.Bun, ids)
	if err != nil {
		return err
	}
	return web.Render(c, fiber.StatusOK, views.ExecutionRowsLive(rows, h.Now()))
}

// loadExecution reads the :id execution (404 for a bad id or a missing one).
func (h *handler) loadExecution(c *fiber.Ctx) (*models.Execution, error) {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return nil, fiber.ErrNotFound
	}
	return models.ExecutionByID(c.UserContext(), h.DB.Bun, id)
}

// executionData loads what the execution page shows.
func (h *handler) executionData(c *fiber.Ctx) (*views.ExecutionData, error) {
	ctx := c.UserContext()
	e, err := h.loadExecution(c)
	if err != nil {
		return nil, err
	}
	b, err := models.BotByID(ctx, h.DB.Bun, e.BotID)
	if err != nil {
		return nil, err
	}
	e.Input, e.Output = unescapeHTMLJSON(e.Input), unescapeHTMLJSON(e.Output)
	u := web.CurrentUser(c)
	d := &views.ExecutionData{Exec: e, Bot: b, CanRun: canRunBot(u, b), CSRF: web.CSRFToken(c), Now: h.Now(), Requester: "system"}
	if e.VersionID != nil {
		d.Version, err = models.BotVersionByID(ctx, h.DB.Bun, *e.VersionID)
		if err != nil && !errors.Is(err, models.ErrNotFound) {
			return nil, err
		}
	}
	if b.ActiveVersionID != nil {
		if d.Version != nil && *b.ActiveVersionID == d.Version.ID {
			d.Active = d.Version
		} else if d.Active, err = models.BotVersionByID(ctx, h.DB.Bun, *b.ActiveVersionID); err != nil && !errors.Is(err, models.ErrNotFound) {
			return nil, err
		}
	}
	if e.RequestedBy != nil {
		d.Requester = "a deleted user"
		if r, err := models.UserByID(ctx, h.DB.Bun, *e.RequestedBy); err == nil {
			d.Requester = ownerLabel(r)
		} else if !errors.Is(err, models.ErrNotFound) {
			return nil, err
		}
	}
	return d, nil
}

func ownerLabel(u *models.User) string {
	if u.Name != "" {
		return u.Name + " (" + u.Email + ")"
	}
	return u.Email
}

func (h *handler) showExecution(c *fiber.Ctx) error {
	d, err := h.executionData(c)
	if err != nil {
		return err
	}
	if d.CanRun {
		if d.RunBlocked, err = h.runBlocked(c.UserContext(), d.Bot); err != nil {
			return err
		}
	}
	return web.Render(c, fiber.StatusOK, views.ExecutionPage(h.page(c, "Execution of "+d.Bot.Name, "executions"), *d))
}

// showExecutionLive is the execution page's polled panel.
func (h *handler) showExecutionLive(c *fiber.Ctx) error {
	d, err := h.executionData(c)
	if errors.Is(err, models.ErrNotFound) {
		// An error here would become a flash every second: end the polling.
		return web.Render(c, fiber.StatusOK, views.ExecutionGone())
	}
	if err != nil {
		return err
	}
	return web.Render(c, fiber.StatusOK, views.ExecutionLive(*d))
}

// engine is the execution engine, or a clear error when this process has none.
func (h *handler) engine() (*runner.Engine, error) {
	if h.Engine == nil {
		return nil, fiber.NewError(fiber.StatusServiceUnavailable, "The execution engine is not configured in this process.")
	}
	return h.Engine, nil
}

// runnableExecution loads the :id execution and its bot, refusing (403,
// audited) users who may not run that bot.
func (h *handler) runnableExecution(c *fiber.Ctx) (*models.Execution, *models.Bot, error) {
	e, err := h.loadExecution(c)
	if err != nil {
		return nil, nil, err
	}
	b, err := models.BotByID(c.UserContext(), h.DB.Bun, e.BotID)
	if err != nil {
		return nil, nil, err
	}
	if !canRunBot(web.CurrentUser(c), b) {
		return nil, nil, h.forbidden(c, "bots:run")
	}
	return e, b, nil
}

// cancelExecution stops a queued or running execution; a finished one is
// a 409 with the reason.
func (h *handler) cancelExecution(c *fiber.Ctx) error {
	e, _, err := h.runnableExecution(c)
	if err != nil {
		return err
	}
	eng, err := h.engine()
	if err != nil {
		return err
	}
	got, err := eng.Cancel(c.UserContext(), web.Actor(c), e.ID)
	if err != nil {
		return err
	}
	msg := "Cancel requested: the worker stops this run within a second."
	if got.Status == models.ExecCancelled {
		msg = "Cancelled before it started."
	}
	return redirectWithFlash(c, "/executions/"+e.ID.String(), views.FlashSuccess, msg)
}

// rerunExecution runs the bot again with the same input, on its active version.
func (h *handler) rerunExecution(c *fiber.Ctx) error {
	e, _, err := h.runnableExecution(c)
	if err != nil {
		return err
	}
	eng, err := h.engine()
	if err != nil {
		return err
	}
	ex, err := eng.Rerun(c.UserContext(), web.Actor(c), e.ID)
	if err != nil {
		return err
	}
	return redirectWithFlash(c, "/executions/"+ex.ID.String(), views.FlashSuccess, "Re-run queued with the same input, on the active version.")
}

// runBot queues a manual run of the bot's active version with the posted
// input. Refusals (bad JSON, a bot that may not run) come back in the Run
// panel with the reason.
func (h *handler) runBot(c *fiber.Ctx) error {
	ctx := c.UserContext()
	b, err := h.loadBot(c)
	if err != nil {
		return err
	}
	if !canRunBot(web.CurrentUser(c), b) {
		return h.forbidden(c, "bots:run")
	}
	eng, err := h.engine()
	if err != nil {
		return err
	}
	input := strings.Clone(c.FormValue("input"))
	run := views.RunData{BotID: b.ID.String(), Input: input, CanRun: true}
	raw := json.RawMessage(strings.TrimSpace(input))
	if len(raw) == 0 {
		raw = json.RawMessage("{}")
	}
	status := fiber.StatusUnprocessableEntity
	if len(raw) <= runner.MaxInputBytes {
		run.Error = jsonProblem(raw)
	}
	if run.Error == "" {
		ex, err := eng.Request(ctx, web.Actor(c), runner.RunRequest{BotID: b.ID, Input: raw, Trigger: models.TriggerManual})
		var se *models.StateError
		switch {
		case err == nil:
			return redirectWithFlash(c, "/executions/"+ex.ID.String(), views.FlashSuccess, "Run queued.")
		case errors.As(err, &se):
			status, run.Error, run.Blocked = fiber.StatusConflict, se.Message, se.Message
		default:
			fields, ok := validationFields(err)
			if !ok {
				return err
			}
			run.Error = inputProblem(fields)
		}
	}
	if web.IsHTMX(c) {
		return web.Render(c, status, views.RunPanel(web.CSRFToken(c), run))
	}
	d, err := h.botPageData(c, b, "run")
	if err != nil {
		return err
	}
	d.Run.Input, d.Run.Error = run.Input, run.Error
	return web.Render(c, status, views.BotPage(h.page(c, b.Name, "bots"), *d))
}

// inputProblem words the engine's input ValidationError.
func inputProblem(fields map[string]string) string {
	if m, ok := fields["input"]; ok {
		return "The input " + m + "."
	}
	parts := make([]string, 0, len(fields))
	for k, v := range fields {
		parts = append(parts, k+" "+v)
	}
	return capitalise(strings.Join(parts, "; ")) + "."
}

// jsonProblem says where JSON is broken ("" when it is valid).
func jsonProblem(raw []byte) string {
	var v any
	err := json.Unmarshal(raw, &v)
	if err == nil {
		return ""
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := lineColumn(raw, se.Offset-1) // Offset is just past the bad byte
		return fmt.Sprintf("The input is not valid JSON: %s (line %d, column %d).", se.Error(), line, col)
	}
	return "The input is not valid JSON: " + err.Error() + "."
}

// lineColumn turns a byte offset into a 1-based line and column.
func lineColumn(b []byte, off int64) (int, int) {
	off = min(max(off, 0), int64(len(b)))
	line, col := 1, 1
	for _, ch := range b[:off] {
		if ch == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// prettyInput is the Run editor's starting text: the last input, indented,
// with <, > and & as themselves (templ escapes the page, not the JSON).
func prettyInput(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "{}"
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, unescapeHTMLJSON(raw), "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}

// unescapeHTMLJSON turns the \u003c, \u003e and \u0026 escapes Go's JSON
// encoder writes back into <, > and &, so stored JSON reads as it was
// typed. The page is still escaped when rendered.
func unescapeHTMLJSON(raw []byte) []byte {
	if !bytes.Contains(raw, []byte(`\u00`)) {
		return raw
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' || i+1 >= len(raw) {
			out = append(out, raw[i])
			continue
		}
		if i+5 < len(raw) && raw[i+1] == 'u' {
			switch string(raw[i+2 : i+6]) {
			case "003c", "003C":
				out, i = append(out, '<'), i+5
				continue
			case "003e", "003E":
				out, i = append(out, '>'), i+5
				continue
			case "0026":
				out, i = append(out, '&'), i+5
				continue
			}
		}
		out = append(out, raw[i], raw[i+1]) // any other escape, kept whole
		i++
	}
	return out
}

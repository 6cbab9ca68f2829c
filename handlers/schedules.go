package handlers

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/views"
	"github.com/codex32/codex32/web"
)

// triggersData loads the Triggers tab: the bot's webhooks and schedules,
// each schedule with its next three run times.
func (h *handler) triggersData(c *fiber.Ctx, b *models.Bot, canEdit bool) (*views.TriggersData, error) {
	ctx := c.UserContext()
	d := &views.TriggersData{
		BotID: b.ID.String(), CanEdit: canEdit, HookBase: h.hookBase(c),
		WebhookForm:  views.WebhookForm{Errors: views.FormErrors{}},
		ScheduleForm: views.ScheduleForm{TimeZone: "UTC", Input: "{}", Enabled: true, Errors: views.FormErrors{}},
	}
	var err error
	if d.Webhooks, err = models.ListWebhooks(ctx, h.DB.Bun, b.ID); err != nil {
		return nil, err
	}
	schedules, err := models.ListSchedules(ctx, h.DB.Bun, b.ID)
	if err != nil {
		return nil, err
	}
	for _, s := range schedules {
		d.Schedules = append(d.Schedules, scheduleRow(s, h.Now()))
	}
	return d, nil
}

// scheduleRow computes a schedule's next three runs: the stored next run
// (which may be overdue while no worker is up), then the ones after it.
func scheduleRow(s *models.Schedule, now time.Time) views.ScheduleRow {
	r := views.ScheduleRow{Schedule: s, Loc: time.UTC}
	c, err := s.Cron()
	if err != nil {
		r.Problem = "The schedule cannot be read: " + err.Error() + "."
		return r
	}
	r.Loc = c.Location()
	if !s.Enabled {
		return r
	}
	first := c.Next(now)
	if s.NextRunAt != nil {
		first = *s.NextRunAt
	}
	if first.IsZero() {
		r.Problem = "No run time in the next five years."
		return r
	}
	r.Runs = append([]time.Time{first.UTC()}, c.NextN(first, 2)...)
	return r
}

// scheduleForm reads the schedule form into f and a patch; a field that
// is absent stays nil (a toggle posts only enabled).
func scheduleForm(c *fiber.Ctx, f *views.ScheduleForm) models.SchedulePatch {
	var p models.SchedulePatch
	args := c.Request().PostArgs()
	str := func(name string, dst *string, field **string) {
		if args.Has(name) {
			v := strings.Clone(c.FormValue(name))
			*dst, *field = v, &v
		}
	}
	str("description", &f.Description, &p.Description)
	str("cron_expr", &f.CronExpr, &p.CronExpr)
	str("time_zone", &f.TimeZone, &p.TimeZone)
	if args.Has("input") {
		f.Input = strings.Clone(c.FormValue("input"))
		raw := json.RawMessage(strings.TrimSpace(f.Input))
		p.Input = &raw
	}
	if args.Has("enabled") {
		on := c.FormValue("enabled") == "1"
		f.Enabled, p.Enabled = on, &on
	}
	return p
}

// scheduleErrors words a schedule's validation errors for the form; an
// input that is not JSON says where.
func scheduleErrors(fields map[string]string, f *views.ScheduleForm) {
	for k, v := range fields {
		if k == "archived" {
			k = ""
		}
		msg := capitalise(v) + "."
		switch k {
		case "input":
			if p := jsonProblem([]byte(strings.TrimSpace(f.Input))); p != "" && strings.HasPrefix(v, "is not valid JSON") {
				msg = p
			}
		case "time_zone":
			msg = "Unknown time zone: " + v + "."
		}
		f.Errors[k] = msg
	}
}

func (h *handler) createSchedule(c *fiber.Ctx) error {
	b, err := h.editableBot(c)
	if err != nil {
		return err
	}
	if err := refuseArchived(b); err != nil {
		return err
	}
	f := views.ScheduleForm{Enabled: true, Errors: views.FormErrors{}}
	p := scheduleForm(c, &f)
	s := &models.Schedule{BotID: b.ID, Enabled: true}
	if p.Description != nil {
		s.Description = *p.Description
	}
	if p.CronExpr != nil {
		s.CronExpr = *p.CronExpr
	}
	if p.TimeZone != nil {
		s.TimeZone = *p.TimeZone
	}
	if p.Input != nil {
		s.Input = *p.Input
	}
	if p.Enabled != nil {
		s.Enabled = *p.Enabled
	}
	err = models.CreateSchedule(c.UserContext(), h.DB.Bun, web.Actor(c), s, h.Now())
	if fields, ok := validationFields(err); ok {
		scheduleErrors(fields, &f)
		return h.renderTriggers(c, b, fiber.StatusUnprocessableEntity, func(d *views.TriggersData) { d.ScheduleForm = f })
	}
	if err != nil {
		return err
	}
	msg := "Schedule added."
	if s.NextRunAt != nil {
		if c, err := s.Cron(); err == nil {
			msg = "Schedule added: it runs next " + s.NextRunAt.In(c.Location()).Format("Mon 2 Jan 2006 15:04 MST") + "."
		}
	}
	return redirectWithFlash(c, triggersPath(b), views.FlashSuccess, msg)
}

// loadSchedule reads the :sid schedule of bot b (404 for a bad id, a
// missing schedule or another bot's).
func (h *handler) loadSchedule(c *fiber.Ctx, b *models.Bot) (*models.Schedule, error) {
	id, err := uuid.Parse(c.Params("sid"))
	if err != nil {
		return nil, fiber.ErrNotFound
	}
	return models.ScheduleByID(c.UserContext(), h.DB.Bun, b.ID, id)
}

// updateSchedule changes the fields the form carries.
func (h *handler) updateSchedule(c *fiber.Ctx) error {
	b, err := h.editableBot(c)
	if err != nil {
		return err
	}
	s, err := h.loadSchedule(c, b)
	if err != nil {
		return err
	}
	f := views.ScheduleForm{ID: s.ID.String(), Description: s.Description, CronExpr: s.CronExpr, TimeZone: s.TimeZone,
		Input: string(s.Input), Enabled: s.Enabled, Errors: views.FormErrors{}}
	p := scheduleForm(c, &f)
	got, err := models.UpdateSchedule(c.UserContext(), h.DB.Bun, web.Actor(c), b.ID, s.ID, p, h.Now())
	if fields, ok := validationFields(err); ok {
		scheduleErrors(fields, &f)
		return h.renderTriggers(c, b, fiber.StatusUnprocessableEntity, func(d *views.TriggersData) { d.EditSchedule = &f })
	}
	switch {
	case errors.Is(err, models.ErrUnchanged):
		return redirectWithFlash(c, triggersPath(b), views.FlashInfo, "Nothing changed.")
	case err != nil:
		return err
	}
	msg := "Schedule saved."
	switch {
	case !got.Enabled:
		msg = "Schedule disabled: it does not run until it is enabled again."
	case got.NextRunAt != nil:
		if c, err := got.Cron(); err == nil {
			msg = "Schedule saved: it runs next " + got.NextRunAt.In(c.Location()).Format("Mon 2 Jan 2006 15:04 MST") + "."
		}
	}
	return redirectWithFlash(c, triggersPath(b), views.FlashSuccess, msg)
}

func (h *handler) deleteSchedule(c *fiber.Ctx) error {
	b, err := h.editableBot(c)
	if err != nil {
		return err
	}
	s, err := h.loadSchedule(c, b)
	if err != nil {
		return err
	}
	if err := models.DeleteSchedule(c.UserContext(), h.DB.Bun, web.Actor(c), b.ID, s.ID); err != nil {
		return err
	}
	return redirectWithFlash(c, triggersPath(b), views.FlashSuccess, "Schedule deleted.")
}

// showSchedulePreview is the schedule form's live preview (htmx): the next
// three run times of the expression being typed, or what is wrong with it.
func (h *handler) showSchedulePreview(c *fiber.Ctx) error {
	if _, err := h.loadBot(c); err != nil {
		return err
	}
	d := views.SchedulePreviewData{}
	expr, tz := c.Query("cron_expr"), c.Query("time_zone")
	if strings.TrimSpace(expr) == "" {
		return web.Render(c, fiber.StatusOK, views.SchedulePreview(views.SchedulePreviewData{Problem: "Type a cron expression to see when it runs."}))
	}
	if _, err := models.LoadTimeZone(tz); err != nil {
		d.Problem = "Unknown time zone: " + err.Error() + "."
	} else if cr, err := models.ParseCron(expr, tz); err != nil {
		d.Problem = "The cron expression " + err.Error() + "."
	} else {
		d.Loc, d.Runs = cr.Location(), cr.NextN(h.Now(), 3)
	}
	return web.Render(c, fiber.StatusOK, views.SchedulePreview(d))
}

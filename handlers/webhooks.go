package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
	"github.com/codex32/codex32/views"
	"github.com/codex32/codex32/web"
)

// maxWebhookBody caps a webhook call's body (the app's own limit is higher).
const maxWebhookBody = 1 << 20

// SignatureHeader carries a signed webhook call's HMAC.
const SignatureHeader = "X-Codex32-Signature"

// hookError answers a webhook call with a problem (application/problem+json,
// like the API's, whatever the Accept header): the error handler writes it.
func hookError(status int, msg string) error {
	return web.NewProblem(status, "", msg)
}

// hookNotFound is the answer for an unknown, malformed or disabled token
// alike, so a caller learns nothing about which.
func hookNotFound() error {
	return hookError(fiber.StatusNotFound, "No webhook at this address.")
}

// redactHookPath rewrites the request's path to hide the token — a
// credential — from what reads it after the handler: the access log and
// the error log record at most the prefix lists show.
func redactHookPath(c *fiber.Ctx) { c.Path(web.RedactHookPath(c.Path())) }

// hookOther answers every other request under /hooks/ (wrong method or
// path) without touching sessions: 405 for a token path, 404 otherwise.
func (h *handler) hookOther(c *fiber.Ctx) error {
	if p := c.Path(); p != "/hooks" && !strings.HasPrefix(p, "/hooks/") {
		return c.Next() // Fiber's Use matches any prefix: /hooksfoo is a page path
	}
	defer redactHookPath(c)
	rest := strings.TrimPrefix(c.Path(), "/hooks/")
	if rest != "" && rest != c.Path() && !strings.Contains(rest, "/") {
		c.Set(fiber.HeaderAllow, fiber.MethodPost)
		return hookError(fiber.StatusMethodNotAllowed, "Webhooks accept POST only.")
	}
	return hookNotFound()
}

// webhookInput turns a call's body into the execution's input: JSON as
// is; any other text wrapped as {"body": …, "content_type": …}. A body
// declared JSON must be JSON, in UTF-8 (400), without \u0000 (422); one
// that is not text is refused (415).
func webhookInput(contentType string, body []byte) (json.RawMessage, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if contentType == "" || err != nil {
		mt = ""
	}
	declaredJSON := mt == "application/json" || strings.HasSuffix(mt, "+json")
	trimmed := bytes.TrimSpace(body)
	notText := hookError(fiber.StatusUnsupportedMediaType, "Send JSON (Content-Type: application/json) or UTF-8 text.")
	switch {
	case len(trimmed) == 0 && (declaredJSON || mt == ""):
		return json.RawMessage("{}"), nil
	case declaredJSON:
		if err := checkJSONText(trimmed); err != nil {
			return nil, err
		}
		if !json.Valid(trimmed) {
			return nil, hookError(fiber.StatusBadRequest, "The body is declared JSON ("+mt+") but is not valid JSON.")
		}
		return jsonBodyInput(trimmed)
	case !utf8.Valid(body):
		return nil, notText
	case mt == "" && json.Valid(trimmed):
		if err := checkJSONText(trimmed); err != nil {
			return nil, err
		}
		return jsonBodyInput(trimmed)
	}
	wrapped, err := json.Marshal(map[string]string{"body": string(body), "content_type": mt})
	if err != nil {
		return nil, notText
	}
	return wrapped, nil
}

// jsonBodyInput is a JSON body as the input, refused (400, like JSON that
// does not parse) when it nests deeper than the engine stores.
func jsonBodyInput(body []byte) (json.RawMessage, error) {
	if why := models.JSONTooDeep(body); why != "" {
		return nil, hookError(fiber.StatusBadRequest, "The body "+why+"; send JSON that nests less deeply.")
	}
	return json.RawMessage(bytes.Clone(body)), nil
}

// hookBase is scheme://host of this site: the configured public base URL,
// else as the request reached it (behind a proxy that rewrites the host,
// only the former is the address callers can use).
func (h *handler) hookBase(c *fiber.Ctx) string {
	if h.BaseURL != "" {
		return h.BaseURL
	}
	scheme := c.Protocol()
	if h.Secure {
		scheme = "https"
	}
	return scheme + "://" + c.Hostname()
}

// receiveWebhook is POST /hooks/:token: no session, no CSRF (the token in
// the URL is the credential), JSON in and out. It runs the webhook's bot
// with the body as input and answers 202 with the execution's id, or, for
// a synchronous webhook, 200 with its output once it finishes (202 if it
// has not within the webhook's timeout).
func (h *handler) receiveWebhook(c *fiber.Ctx) error {
	defer redactHookPath(c)
	ctx := c.UserContext()
	// The raw body, as signed: c.Body() would inflate a compressed one.
	body := c.Request().Body()
	if len(body) > maxWebhookBody {
		return hookError(fiber.StatusRequestEntityTooLarge, "The body is larger than 1 MiB.")
	}
	if enc := strings.TrimSpace(c.Get(fiber.HeaderContentEncoding)); enc != "" && !strings.EqualFold(enc, "identity") {
		return hookError(fiber.StatusUnsupportedMediaType, "Compressed bodies are not accepted: send the body uncompressed.")
	}
	token := c.Params("token")
	if !models.WellFormedWebhookToken(token) {
		return hookNotFound()
	}
	w, err := models.WebhookByToken(ctx, h.DB.Bun, token)
	if errors.Is(err, models.ErrNotFound) {
		return hookNotFound()
	} else if err != nil {
		return hookFailed(err)
	}
	if !w.Enabled {
		return hookNotFound()
	}
	actor := models.Actor{Label: "webhook " + w.ID.String(), IP: web.RequestIP(c), UserAgent: c.Get(fiber.HeaderUserAgent)}
	call := models.WebhookCall{Legacy: c.Get(SignatureHeader), Body: body, Standard: models.StandardHeaders{
		ID: c.Get("webhook-id"), Timestamp: c.Get("webhook-timestamp"), Signature: c.Get("webhook-signature")}}
	why, err := w.VerifySignature(h.Secrets, call, h.Now())
	if err != nil {
		return hookFailed(err)
	}
	if why != "" {
		return h.refuseHook(c, actor, w, fiber.StatusUnauthorized, why)
	}
	input, err := webhookInput(c.Get(fiber.HeaderContentType), body)
	if err != nil {
		return err
	}
	if len(input) > runner.MaxInputBytes {
		return hookError(fiber.StatusRequestEntityTooLarge, "The body, wrapped as input, is larger than 1 MiB.")
	}
	eng, err := h.engine()
	if err != nil {
		return hookError(fiber.StatusServiceUnavailable, "The execution engine is not configured in this process.")
	}
	req := runner.RunRequest{BotID: w.BotID, Input: input, Trigger: models.TriggerWebhook}
	if w.Signed() && w.SignatureScheme == models.SchemeStandard {
		// The id is remembered with the execution, in one transaction:
		// a replay of an accepted call queues nothing.
		req.Also = func(ctx context.Context, tx bun.IDB, _ *models.Execution) error {
			return models.RecordWebhookMessage(ctx, tx, w.ID, call.Standard.ID, h.Now())
		}
	}
	ex, err := eng.Request(ctx, actor, req)
	var se *models.StateError
	switch {
	case errors.Is(err, models.ErrWebhookReplay):
		return h.refuseHook(c, actor, w, fiber.StatusConflict, "this webhook-id was already received (a replay runs nothing)")
	case errors.As(err, &se):
		return hookError(fiber.StatusConflict, se.Message)
	case err != nil:
		if fields, ok := validationFields(err); ok {
			return hookError(fiber.StatusUnprocessableEntity, inputProblem(fields))
		}
		return hookFailed(err)
	}
	if err := models.TouchWebhook(ctx, h.DB.Bun, w, h.Now()); err != nil {
		h.Log.Warn("webhook: record call", "webhook", w.ID, "err", err)
	}
	// The caller is a program: point it at the API resource (read with an
	// API key), not the HTML page.
	statusURL := h.hookBase(c) + "/api/v1/executions/" + ex.ID.String()
	if w.SyncTimeoutSeconds > 0 {
		done, err := h.awaitWebhookExecution(ctx, ex.ID, time.Duration(w.SyncTimeoutSeconds)*time.Second)
		if err != nil {
			return hookFailed(err)
		}
		if done != nil {
			out := fiber.Map{"execution_id": done.ID, "status": done.Status, "output": done.Output, "status_url": statusURL}
			if len(done.Output) == 0 {
				out["output"] = nil
			}
			if done.Error != "" {
				out["error"] = done.Error
			}
			if done.DurationMS != nil {
				out["duration_ms"] = *done.DurationMS
			}
			return c.Status(fiber.StatusOK).JSON(out)
		}
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"execution_id": ex.ID, "status": models.ExecQueued, "status_url": statusURL})
}

// refuseHook counts and (at most once a minute) audits a refused call,
// and answers it with why, and how to sign for the webhook's scheme.
func (h *handler) refuseHook(c *fiber.Ctx, actor models.Actor, w *models.Webhook, status int, why string) error {
	if _, err := models.RecordWebhookRejection(c.UserContext(), h.DB.Bun, actor, w, why, h.Now()); err != nil {
		h.Log.Warn("webhook: record rejection", "webhook", w.ID, "err", err)
	}
	how := "Sign it the Standard Webhooks way: webhook-id, webhook-timestamp (Unix seconds, within 5 minutes) and webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>."
	if w.SignatureScheme == models.SchemeLegacy {
		how = "Sign the raw body: " + SignatureHeader + ": sha256=<hex HMAC-SHA256>."
	}
	if status == fiber.StatusConflict {
		how = "Send each call with a new webhook-id."
	}
	return hookError(status, "Refused: "+why+". "+how)
}

// hookFailed hands an unexpected error to the error handler, which logs it
// (the path redacted by then) and answers 500, or 503 while the database
// cannot be reached.
func hookFailed(err error) error { return fmt.Errorf("webhook call: %w", err) }

// awaitWebhookExecution waits like the API's ?wait (awaitExecution) and
// loads the finished execution; nil (and no error) when it has not
// finished in time.
func (h *handler) awaitWebhookExecution(ctx context.Context, id uuid.UUID, within time.Duration) (*models.Execution, error) {
	done, err := h.awaitExecution(ctx, id, within)
	if err != nil || !done {
		return nil, err
	}
	return models.ExecutionByID(ctx, h.DB.Bun, id)
}

// loadWebhook reads the :wid webhook of bot b (404 for a bad id, a
// missing webhook or another bot's).
func (h *handler) loadWebhook(c *fiber.Ctx, b *models.Bot) (*models.Webhook, error) {
	id, err := uuid.Parse(c.Params("wid"))
	if err != nil {
		return nil, fiber.ErrNotFound
	}
	return models.WebhookByID(c.UserContext(), h.DB.Bun, b.ID, id)
}

// renderTriggers shows the bot page on its Triggers tab with status, after
// adjust has filled in what this response adds (a secret shown once, a
// form's errors).
func (h *handler) renderTriggers(c *fiber.Ctx, b *models.Bot, status int, adjust func(*views.TriggersData)) error {
	d, err := h.botPageData(c, b, "triggers")
	if err != nil {
		return err
	}
	if adjust != nil && d.Triggers != nil {
		adjust(d.Triggers)
	}
	return web.Render(c, status, views.BotPage(h.page(c, b.Name, "bots"), *d))
}

func triggersPath(b *models.Bot) string { return "/bots/" + b.ID.String() + "?tab=triggers" }

// webhookForm reads the webhook form; a field that is absent stays nil.
func webhookForm(c *fiber.Ctx, f *views.WebhookForm) models.WebhookPatch {
	var p models.WebhookPatch
	args := c.Request().PostArgs()
	if args.Has("description") {
		s := strings.TrimSpace(c.FormValue("description"))
		f.Description, p.Description = s, &s
	}
	if args.Has("signature_scheme") {
		s := strings.TrimSpace(c.FormValue("signature_scheme"))
		f.Scheme, p.SignatureScheme = s, &s
	}
	if args.Has("sync_timeout_seconds") {
		n, err := strconv.Atoi(strings.TrimSpace(c.FormValue("sync_timeout_seconds")))
		if err != nil {
			n = -1 // refused by Validate with the range
		}
		f.SyncTimeout, p.SyncTimeoutSeconds = n, &n
	}
	if args.Has("enabled") {
		on := c.FormValue("enabled") == "1"
		p.Enabled = &on
	}
	p.RemoveSigning = c.FormValue("remove_signing") == "1"
	return p
}

// errNoSigningKey: signing secrets are encrypted with CODEX32_SECRET_KEY.
var errNoSigningKey = fiber.NewError(fiber.StatusServiceUnavailable, "Signing secrets need CODEX32_SECRET_KEY, which is not configured on this server.")

// refuseArchived refuses new triggers on an archived bot (the tab hides
// the forms; this answers a crafted or stale post).
func refuseArchived(b *models.Bot) error {
	if b.ArchivedAt != nil {
		return &models.StateError{Message: "This bot is archived; restore it before adding triggers."}
	}
	return nil
}

func (h *handler) createWebhook(c *fiber.Ctx) error {
	b, err := h.editableBot(c)
	if err != nil {
		return err
	}
	if err := refuseArchived(b); err != nil {
		return err
	}
	f := views.WebhookForm{Errors: views.FormErrors{}, Signed: c.FormValue("signed") == "1"}
	if f.Signed && h.Secrets == nil {
		return errNoSigningKey
	}
	p := webhookForm(c, &f)
	w := &models.Webhook{BotID: b.ID}
	if p.SignatureScheme != nil {
		w.SignatureScheme = *p.SignatureScheme
	}
	if p.Description != nil {
		w.Description = *p.Description
	}
	if p.SyncTimeoutSeconds != nil {
		w.SyncTimeoutSeconds = *p.SyncTimeoutSeconds
	}
	secrets, err := models.CreateWebhook(c.UserContext(), h.DB.Bun, h.Secrets, web.Actor(c), w, f.Signed)
	if fields, ok := validationFields(err); ok {
		for k, v := range fields {
			if k == "archived" {
				k = ""
			}
			f.Errors[k] = capitalise(v) + "."
		}
		return h.renderTriggers(c, b, fiber.StatusUnprocessableEntity, func(d *views.TriggersData) { d.WebhookForm = f })
	}
	if err != nil {
		return err
	}
	// Shown in this response only; never stored or redirected with.
	return h.renderTriggers(c, b, fiber.StatusCreated, func(d *views.TriggersData) {
		d.Shown = &views.ShownSecrets{WebhookID: w.ID.String(), URL: d.HookBase + "/hooks/" + secrets.Token, SigningSecret: secrets.SigningSecret, Scheme: w.SignatureScheme}
	})
}

// updateWebhook changes the fields the form carries (a toggle posts only
// enabled); the others are left as they are.
func (h *handler) updateWebhook(c *fiber.Ctx) error {
	b, err := h.editableBot(c)
	if err != nil {
		return err
	}
	w, err := h.loadWebhook(c, b)
	if err != nil {
		return err
	}
	f := views.WebhookForm{ID: w.ID.String(), Description: w.Description, SyncTimeout: w.SyncTimeoutSeconds, Signed: w.Signed(), Scheme: w.SignatureScheme, Errors: views.FormErrors{}}
	p := webhookForm(c, &f)
	got, err := models.UpdateWebhook(c.UserContext(), h.DB.Bun, web.Actor(c), b.ID, w.ID, p)
	if fields, ok := validationFields(err); ok {
		for k, v := range fields {
			f.Errors[k] = capitalise(v) + "."
		}
		return h.renderTriggers(c, b, fiber.StatusUnprocessableEntity, func(d *views.TriggersData) { d.EditWebhook = &f })
	}
	switch {
	case errors.Is(err, models.ErrUnchanged):
		return redirectWithFlash(c, triggersPath(b), views.FlashInfo, "Nothing changed.")
	case err != nil:
		return err
	}
	msg := "Webhook saved."
	switch {
	case p.Enabled != nil && *p.Enabled != w.Enabled && got.Enabled:
		msg = "Webhook enabled: its URL runs the bot again."
	case p.Enabled != nil && *p.Enabled != w.Enabled:
		msg = "Webhook disabled: its URL answers 404 until it is enabled again."
	}
	return redirectWithFlash(c, triggersPath(b), views.FlashSuccess, msg)
}

// rotateWebhook makes a new token (what=token: the old URL stops working
// at once) or signing secret (what=signing) and shows it once.
func (h *handler) rotateWebhook(c *fiber.Ctx) error {
	b, err := h.editableBot(c)
	if err != nil {
		return err
	}
	w, err := h.loadWebhook(c, b)
	if err != nil {
		return err
	}
	what := c.FormValue("what", models.RotateToken)
	if what == models.RotateSigning && h.Secrets == nil {
		return errNoSigningKey
	}
	_, secrets, err := models.RotateWebhook(c.UserContext(), h.DB.Bun, h.Secrets, web.Actor(c), b.ID, w.ID, what)
	if fields, ok := validationFields(err); ok {
		return fiber.NewError(fiber.StatusUnprocessableEntity, capitalise(fields["what"])+".")
	}
	if err != nil {
		return err
	}
	// The new value is shown in this response (no redirect could carry
	// it); htmx picks the tab out of the page.
	return h.renderTriggers(c, b, fiber.StatusOK, func(d *views.TriggersData) {
		d.Shown = &views.ShownSecrets{WebhookID: w.ID.String(), SigningSecret: secrets.SigningSecret, Scheme: w.SignatureScheme}
		if secrets.Token != "" {
			d.Shown.URL = d.HookBase + "/hooks/" + secrets.Token
		}
	})
}

func (h *handler) deleteWebhook(c *fiber.Ctx) error {
	b, err := h.editableBot(c)
	if err != nil {
		return err
	}
	w, err := h.loadWebhook(c, b)
	if err != nil {
		return err
	}
	if err := models.DeleteWebhook(c.UserContext(), h.DB.Bun, web.Actor(c), b.ID, w.ID); err != nil {
		return err
	}
	return redirectWithFlash(c, triggersPath(b), views.FlashSuccess, "Webhook deleted: its URL answers 404.")
}

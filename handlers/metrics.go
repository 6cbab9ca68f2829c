package handlers

import (
	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

// countLogin counts a finished sign-in attempt (one still pending was not
// decided: nothing is counted). method is bounded: password or a provider key.
func (h *handler) countLogin(method string, a *models.LoginAttempt) {
	result := ""
	switch {
	case a.Success:
		result = "ok"
	case a.Reason == models.ReasonBadCredentials:
		result = "failed"
	case a.Reason == models.ReasonThrottled:
		result = "limited"
	case a.Reason == models.ReasonDisabled, a.Reason == models.ReasonAPIOnly, a.Reason == models.ReasonRejected:
		result = "refused"
	default:
		return
	}
	h.Metrics.Login(method, result)
}

// countRateLimited counts API requests the rate limit refused.
func (h *handler) countRateLimited(c *fiber.Ctx) error {
	err := c.Next()
	if err != nil && web.StatusOf(err) == fiber.StatusTooManyRequests {
		h.Metrics.RateLimited()
	}
	return err
}

// countWebhook counts an inbound webhook call by its answer: accepted,
// bad_signature (401), not_found (404, also a disabled webhook), conflict
// (409: a replayed webhook-id, or a bot that may not run), invalid (a
// body refused), error (5xx).
func (h *handler) countWebhook(c *fiber.Ctx) error {
	err := c.Next()
	status := c.Response().StatusCode()
	if err != nil {
		status = web.StatusOf(err)
	}
	result := "invalid"
	switch {
	case status < 300:
		result = "accepted"
	case status == fiber.StatusUnauthorized:
		result = "bad_signature"
	case status == fiber.StatusNotFound:
		result = "not_found"
	case status == fiber.StatusConflict:
		result = "conflict"
	case status >= 500:
		result = "error"
	}
	h.Metrics.Webhook(result)
	return err
}

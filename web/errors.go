package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/views"
)

// classify maps an error to an HTTP status and a message that is safe to
// show. This is the one place where sentinel errors become statuses.
// StatusOf is the status the error handler answers err with.
func StatusOf(err error) int {
	status, _ := classify(err)
	return status
}

func classify(err error) (int, string) {
	var pe *Problem
	var fe *fiber.Error
	var ve *models.ValidationError
	var se *models.StateError
	var vc *models.VersionConflictError
	switch {
	case errors.As(err, &pe):
		return pe.Status, pe.Error()
	case errors.As(err, &fe):
		return fe.Code, fe.Message
	case errors.Is(err, models.ErrNotFound):
		return http.StatusNotFound, "Not Found"
	case errors.Is(err, models.ErrConflict):
		return http.StatusConflict, "That already exists."
	case errors.As(err, &vc):
		return http.StatusConflict, vc.Error()
	case errors.As(err, &ve):
		return http.StatusUnprocessableEntity, ve.Error()
	case errors.As(err, &se):
		// A bot that may not run, an execution that already finished: the
		// message is written for the user.
		return http.StatusConflict, se.Message
	case models.DatabaseUnreachable(err):
		return http.StatusServiceUnavailable, msgUnreachable
	default:
		return http.StatusInternalServerError, "Internal Server Error"
	}
}

// msgUnreachable is the answer while the database cannot be reached.
const msgUnreachable = "The database cannot be reached right now. Please try again in a few seconds."

// RetryUnreachableSeconds is the Retry-After of a 503 for an unreachable
// database: long enough for a restart or failover, short enough that
// clients come back soon after.
const RetryUnreachableSeconds = "5"

func errorHandler(opts Options) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		status, msg := classify(err)
		rid := requestID(c)
		path := requestPath(c)
		if status >= 500 {
			opts.Logger.Error("request failed", "path", RedactHookPath(path), "status", status, "err", err, "request_id", rid)
		}
		if status == http.StatusServiceUnavailable && models.DatabaseUnreachable(err) {
			c.Set(fiber.HeaderRetryAfter, RetryUnreachableSeconds)
		}
		if isMachinePath(path) {
			// The JSON API and the webhooks answer every error with an
			// RFC 9457 problem.
			return writeProblem(c, err)
		}
		if ra := c.Response().Header.Peek(fiber.HeaderRetryAfter); status == http.StatusTooManyRequests && len(ra) == 0 {
			c.Set(fiber.HeaderRetryAfter, "60")
		}
		if wantsJSON(c) {
			return c.Status(status).JSON(fiber.Map{"error": msg, "status": status, "request_id": rid})
		}
		data := views.ErrorData{Status: status, Heading: http.StatusText(status), Message: msg, RequestID: rid}
		switch status {
		case http.StatusNotFound:
			data.Heading, data.Message = "Page not found", "There is nothing at this address. It may have moved, or the link may be wrong."
		case http.StatusForbidden:
			data.Heading = "Not allowed"
			if msg == "Forbidden" {
				data.Message = "Your role does not allow this. Ask an administrator if you need it."
			}
		case http.StatusInternalServerError:
			data.Heading, data.Message = "Something went wrong", "The error has been logged. Please try again; if it keeps happening, give your administrator the request ID below."
		case http.StatusServiceUnavailable:
			if models.DatabaseUnreachable(err) {
				data.Heading = "Temporarily unavailable"
			}
		}
		if IsHTMX(c) {
			// Show the problem where the user is looking, not inside the
			// fragment's target: a flash at the top of the page.
			c.Set("HX-Retarget", "#flashes")
			c.Set("HX-Reswap", "beforeend")
			return Render(c, status, views.FlashMessage(views.Flash{Kind: views.FlashError, Message: data.Heading + ": " + data.Message}))
		}
		return Render(c, status, views.ErrorPage(NewPage(c, opts.Version, data.Heading, ""), data))
	}
}

// NewPage fills the layout fields every page needs from the request.
func NewPage(c *fiber.Ctx, version, title, active string) views.Page {
	p := views.Page{Title: title, Active: active, Version: version, User: CurrentUser(c)}
	// A signed-in page always carries a token (htmx and the sign-out form
	// need it). A signed-out page only reuses one: forms that need a token
	// (sign-in, setup) create it, so crawlers hitting 404s create no sessions.
	if p.User != nil {
		p.CSRF = CSRFToken(c)
	} else {
		p.CSRF = ExistingCSRFToken(c)
	}
	if rs := Session(c); rs != nil {
		p.Flashes = rs.TakeFlashes()
	}
	return p
}

// wantsJSON reports whether the client asked for JSON rather than a page.
func wantsJSON(c *fiber.Ctx) bool {
	accept := c.Get(fiber.HeaderAccept)
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}

package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/models"
)

// ProblemBase is where problem type URIs live: a type is ProblemBase + a
// slug ("validation", "not-found"). The slugs are part of the API contract
// (handlers/openapi/openapi.yaml lists them) and never change within /api/v1.
const ProblemBase = "https://codex32.dev/problems/"

// Problem type slugs. Plain fiber errors and sentinel errors get the slug of
// their status (problemSlugs); the others are chosen by the handlers.
const (
	ProblemMalformedJSON     = "malformed-json"
	ProblemInvalidQuery      = "invalid-query"
	ProblemInsufficientScope = "insufficient-scope"
	ProblemVersionConflict   = "version-conflict"
	ProblemStateConflict     = "state-conflict"
	ProblemValidation        = "validation"
)

// problemSlugs names the type of a problem that only has a status.
var problemSlugs = map[int]string{
	http.StatusBadRequest:                  "bad-request",
	http.StatusUnauthorized:                "unauthorized",
	http.StatusForbidden:                   "forbidden",
	http.StatusNotFound:                    "not-found",
	http.StatusMethodNotAllowed:            "method-not-allowed",
	http.StatusConflict:                    "conflict",
	http.StatusRequestEntityTooLarge:       "payload-too-large",
	http.StatusUnsupportedMediaType:        "unsupported-media-type",
	http.StatusUnprocessableEntity:         ProblemValidation,
	http.StatusTooManyRequests:             "rate-limited",
	http.StatusRequestHeaderFieldsTooLarge: "headers-too-large",
	http.StatusInternalServerError:         "internal",
	http.StatusServiceUnavailable:          "unavailable",
}

// ProblemType is the type URI for a slug.
func ProblemType(slug string) string { return ProblemBase + slug }

// ProblemTypeFor is the type URI of a problem that only has a status.
func ProblemTypeFor(status int) string {
	if s, ok := problemSlugs[status]; ok {
		return ProblemType(s)
	}
	return ProblemType("http-" + strconv.Itoa(status))
}

// FieldProblem is one invalid field of a request body or query string.
type FieldProblem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an RFC 9457 problem detail, the body of every /api error. It is
// also an error: handlers return it and the error handler writes it.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Instance is the request path (never the query: it may hold secrets).
	Instance  string `json:"instance,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	// Extension members, each present only for the problems that have it.
	Errors            []FieldProblem `json:"errors,omitempty"`
	MissingScope      string         `json:"missing_scope,omitempty"`
	MissingPermission string         `json:"missing_permission,omitempty"`
	Offset            *int64         `json:"offset,omitempty"`
	Line              int            `json:"line,omitempty"`
	Column            int            `json:"column,omitempty"`
	LimitBytes        int64          `json:"limit_bytes,omitempty"`
	BaseVersion       int            `json:"base_version,omitempty"`
	LatestVersion     int            `json:"latest_version,omitempty"`
}

func (p *Problem) Error() string {
	if p.Detail != "" {
		return p.Detail
	}
	return p.Title
}

// NewProblem is a problem of type slug ("" for the status's own type).
func NewProblem(status int, slug, detail string) *Problem {
	p := &Problem{Status: status, Detail: detail, Type: ProblemTypeFor(status)}
	if slug != "" {
		p.Type = ProblemType(slug)
	}
	return p
}

// FieldsProblem is a 422 (body) or 400 (query string) naming each bad field.
func FieldsProblem(status int, fields map[string]string) *Problem {
	slug := ProblemValidation
	detail := "The request body has invalid fields."
	if status == http.StatusBadRequest {
		slug, detail = ProblemInvalidQuery, "The query string has invalid parameters."
	}
	p := NewProblem(status, slug, detail)
	for f, m := range fields {
		p.Errors = append(p.Errors, FieldProblem{Field: f, Message: m})
	}
	slices.SortFunc(p.Errors, func(a, b FieldProblem) int { return strings.Compare(a.Field, b.Field) })
	return p
}

// toProblem turns any error into the problem the client sees, with the
// status classify gives (the access log and the response agree).
func toProblem(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		out := *p
		if out.Type == "" {
			out.Type = ProblemTypeFor(out.Status)
		}
		return &out
	}
	status, msg := classify(err)
	out := &Problem{Type: ProblemTypeFor(status), Status: status, Detail: msg}
	var ve *models.ValidationError
	var se *models.StateError
	var vc *models.VersionConflictError
	switch {
	case errors.As(err, &vc):
		out.Type, out.BaseVersion, out.LatestVersion = ProblemType(ProblemVersionConflict), vc.Base, vc.Latest
		out.Detail = "Version " + strconv.Itoa(vc.Latest) + " was saved meanwhile (you edited version " + strconv.Itoa(vc.Base) +
			"). Load the latest version, reapply your change and send base_version " + strconv.Itoa(vc.Latest) + "."
	case errors.As(err, &se):
		out.Type = ProblemType(ProblemStateConflict)
	case errors.As(err, &ve) && status == http.StatusUnprocessableEntity:
		fp := FieldsProblem(status, ve.Fields)
		out.Errors, out.Detail = fp.Errors, fp.Detail
	}
	if msg == http.StatusText(status) {
		out.Detail = ""
	}
	return out
}

// writeProblem answers an /api request with err as application/problem+json.
func writeProblem(c *fiber.Ctx, err error) error {
	p := toProblem(err)
	p.Title = http.StatusText(p.Status)
	if p.Title == "" {
		p.Title = "Error " + strconv.Itoa(p.Status)
	}
	path := requestPath(c)
	if isAPIPath(path) {
		p.Instance = path
		p.RequestID = requestID(c)
	}
	// A webhook's answer names neither: its path holds the credential, and
	// answers that must not differ (an unknown token, a disabled one) are
	// the same bytes (the X-Request-Id header still has the id).
	var fe *fiber.Error
	if errors.As(err, &fe) {
		switch {
		case fe.Code == http.StatusNotFound && strings.HasPrefix(fe.Message, "Cannot "):
			// Fiber's own "Cannot GET /path": no route.
			p.Detail = "There is no API endpoint " + c.Method() + " " + c.Path() + ". The endpoints are listed at /api/docs."
		case fe.Code == http.StatusMethodNotAllowed:
			p.Detail = c.Method() + " is not allowed here; the allowed methods are in the Allow header."
		case fe.Code == http.StatusRequestEntityTooLarge && p.Detail == "":
			p.Detail = "The request body is too large."
		}
	}
	h := &c.Response().Header
	switch p.Status {
	case http.StatusUnauthorized:
		// (A webhook's 401 is a refused signature, not a missing key.)
		if isAPIPath(path) && len(h.Peek(fiber.HeaderWWWAuthenticate)) == 0 {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="codex32"`)
		}
	case http.StatusTooManyRequests:
		if len(h.Peek(fiber.HeaderRetryAfter)) == 0 {
			c.Set(fiber.HeaderRetryAfter, "60")
		}
	}
	body, merr := json.Marshal(p)
	if merr != nil {
		return merr
	}
	c.Set(fiber.HeaderContentType, "application/problem+json")
	return c.Status(p.Status).Send(body)
}

// isAPIPath reports whether a path is part of the JSON API (problem
// responses, API keys, no sessions).
func isAPIPath(path string) bool { return strings.HasPrefix(path, "/api/") }

// isMachinePath reports whether a path is answered to programs — the API
// and the inbound webhooks — whose errors are problems, never pages.
func isMachinePath(path string) bool {
	return isAPIPath(path) || path == "/hooks" || strings.HasPrefix(path, "/hooks/")
}

// RedactHookPath hides most of a webhook token — a credential — in a path
// that is logged or echoed: /hooks/ and the token's first
// models.WebhookTokenDisplayLen characters. Other paths are returned as
// they are; a redacted path stays the same.
func RedactHookPath(path string) string {
	rest, ok := strings.CutPrefix(path, "/hooks/")
	if !ok || len(rest) <= models.WebhookTokenDisplayLen {
		return path
	}
	return "/hooks/" + rest[:models.WebhookTokenDisplayLen] + "..."
}

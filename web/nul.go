package web

import (
	"bytes"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/codex32/codex32/models"
)

// msgNUL says why a value is refused: Postgres cannot store a NUL in text
// (SQLite can; both refuse it alike).
const msgNUL = `must not contain the NUL character (%00, \u0000)`

// RefuseNUL answers 400 to a request with a NUL character (decoded from
// %00) in its path, a query parameter, or a form field of its body
// (urlencoded or multipart; names and values), on every route, before any
// handler or database sees it. The problem names each offending parameter
// or field (type invalid-query for the query string, bad-request for the
// rest). JSON bodies are checked where they are decoded (handlers'
// checkJSONText): \u0000 there is a 422 for the field, after the route's
// own 404 and 403.
func RefuseNUL() fiber.Handler {
	return func(c *fiber.Ctx) error {
		req := c.Request()
		if bytes.IndexByte(req.URI().Path(), 0) >= 0 {
			return NewProblem(http.StatusBadRequest, "", "The path "+msgNUL+".")
		}
		// A copy: parsing the request's own QueryArgs would make fasthttp
		// re-encode its query string (what c.OriginalURL returns).
		query := fasthttp.AcquireArgs()
		defer fasthttp.ReleaseArgs(query)
		query.ParseBytes(req.URI().QueryString())
		if bad := argsWithNUL(query.VisitAll); len(bad) > 0 {
			return nulFields(ProblemInvalidQuery, "query parameter", bad)
		}
		if bad := formFieldsWithNUL(c); len(bad) > 0 {
			return nulFields("", "form field", bad)
		}
		return c.Next()
	}
}

func nulFields(slug, what string, names []string) *Problem {
	detail := "The " + what + " " + strings.Join(names, ", ") + " " + msgNUL + "."
	if len(names) > 1 {
		detail = "The " + what + "s " + strings.Join(names, ", ") + " " + msgNUL + "."
	}
	p := NewProblem(http.StatusBadRequest, slug, detail)
	for _, n := range names {
		p.Errors = append(p.Errors, FieldProblem{Field: n, Message: msgNUL})
	}
	return p
}

// argsWithNUL lists the names (NULs shown as U+FFFD) whose name or a value
// has a NUL.
func argsWithNUL(visit func(func(k, v []byte))) []string {
	var bad []string
	visit(func(k, v []byte) {
		if bytes.IndexByte(k, 0) >= 0 || bytes.IndexByte(v, 0) >= 0 {
			bad = appendName(bad, string(k))
		}
	})
	return bad
}

func formFieldsWithNUL(c *fiber.Ctx) []string {
	mt, _, _ := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	switch mt {
	case fiber.MIMEApplicationForm:
		return argsWithNUL(c.Request().PostArgs().VisitAll)
	case fiber.MIMEMultipartForm:
		mf, err := c.MultipartForm()
		if err != nil {
			return nil // the handler reports a broken form
		}
		var bad []string
		for k, vs := range mf.Value {
			if strings.ContainsRune(k, 0) || slices.ContainsFunc(vs, func(v string) bool { return strings.ContainsRune(v, 0) }) {
				bad = appendName(bad, k)
			}
		}
		for k, fs := range mf.File {
			for _, f := range fs {
				if strings.ContainsRune(k, 0) || strings.ContainsRune(f.Filename, 0) {
					bad = appendName(bad, k)
				}
			}
		}
		slices.Sort(bad)
		return bad
	}
	return nil
}

func appendName(names []string, n string) []string {
	n = models.TextWithoutNUL(n)
	if slices.Contains(names, n) {
		return names
	}
	return append(names, n)
}

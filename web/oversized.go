package web

import (
	"regexp"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// refusedPathKey holds, on the fasthttp context, the path of a request the
// server refused before parsing it whole.
const refusedPathKey = "codex32.refused_path"

// refusedLine finds the path in fasthttp's "small read buffer" error,
// which quotes the first 200 bytes of what it read: the request line.
var refusedLine = regexp.MustCompile(`contents: "[A-Z]+ (/[^ "\\?#]*)`)

// rememberRefusedPaths lets the error handler tell an API request from a
// page when headers overflow the read buffer (431): fasthttp resets the
// request before any handler could see it, so the path survives only in
// the error's text (TestOversizedRequestsAnswerProblemsToPrograms notices
// if a fasthttp upgrade changes it).
func rememberRefusedPaths(app *fiber.App) {
	srv := app.Server()
	next := srv.ErrorHandler
	srv.ErrorHandler = func(ctx *fasthttp.RequestCtx, err error) {
		if m := refusedLine.FindStringSubmatch(err.Error()); m != nil {
			ctx.SetUserValue(refusedPathKey, m[1])
		}
		next(ctx, err)
	}
}

// requestPath is the request's path, or the one a refused request had.
func requestPath(c *fiber.Ctx) string {
	if p, ok := c.Context().UserValue(refusedPathKey).(string); ok {
		return p
	}
	return c.Path()
}

package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/runner"
	"github.com/codex32/codex32/web"
)

// apiBodyLimit bounds an API request body: the largest config or execution
// input (1 MiB each, runner.MaxConfigBytes and runner.MaxInputBytes) plus
// 64 KiB for the other fields. The server's own limit (4 MiB) is above it.
const apiBodyLimit = max(runner.MaxConfigBytes, runner.MaxInputBytes) + 64<<10

// bindJSON decodes the request body, a JSON object, into dst. Unknown
// fields are refused (a misspelt field must not be silently ignored). An
// empty body is allowed unless required, and leaves dst as it is.
func bindJSON(c *fiber.Ctx, dst any, required bool) error {
	body := c.Body()
	if len(body) > apiBodyLimit {
		p := web.NewProblem(fiber.StatusRequestEntityTooLarge, "", fmt.Sprintf("The request body is %d bytes; the limit is %d.", len(body), apiBodyLimit))
		p.LimitBytes = apiBodyLimit
		return p
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if required {
			return web.NewProblem(fiber.StatusBadRequest, web.ProblemMalformedJSON, "The request body is empty; send a JSON object.")
		}
		return nil
	}
	if !isJSONMediaType(c.Get(fiber.HeaderContentType)) {
		return web.NewProblem(fiber.StatusUnsupportedMediaType, "", "Send the body as JSON with Content-Type: application/json.")
	}
	if err := checkJSONText(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return bodyProblem(body, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return malformedAt(body, dec.InputOffset(), "there is more after the JSON object")
	}
	return nil
}

func isJSONMediaType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// bodyProblem turns a decoding error into a 400 (not JSON, with where) or a
// 422 (a field of the wrong type or unknown).
func bodyProblem(body []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return malformedAt(body, se.Offset-1, se.Error()) // Offset is just past the bad byte
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return malformedAt(body, int64(len(body)), "unexpected end of JSON input")
	case errors.As(err, &te) && te.Field == "":
		return web.NewProblem(fiber.StatusBadRequest, web.ProblemMalformedJSON, "The request body must be a JSON object.")
	case errors.As(err, &te):
		return web.FieldsProblem(fiber.StatusUnprocessableEntity, map[string]string{te.Field: "must be " + jsonTypeName(te.Type)})
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return web.FieldsProblem(fiber.StatusUnprocessableEntity, map[string]string{strings.Trim(name, `"`): "is not a field of this request"})
	}
	return web.NewProblem(fiber.StatusBadRequest, web.ProblemMalformedJSON, "The request body is not valid JSON.")
}

func malformedAt(body []byte, off int64, what string) error {
	off = min(max(off, 0), int64(len(body)))
	line, col := lineColumn(body, off)
	p := web.NewProblem(fiber.StatusBadRequest, web.ProblemMalformedJSON,
		fmt.Sprintf("The request body is not valid JSON: %s (byte %d, line %d, column %d).", strings.TrimPrefix(what, "json: "), off, line, col))
	p.Offset, p.Line, p.Column = &off, line, col
	return p
}

func jsonTypeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	}
	return "of another type"
}

// queryErrors collects bad query parameters: the API refuses them (400)
// where the pages ignore them.
type queryErrors map[string]string

func (q queryErrors) err() error {
	if len(q) == 0 {
		return nil
	}
	return web.FieldsProblem(fiber.StatusBadRequest, q)
}

// limit reads ?limit= (def when absent, 1..most).
func (q queryErrors) limit(c *fiber.Ctx, def, most int) int {
	raw := c.Query("limit")
	if raw == "" {
		return def
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > most {
		q["limit"] = fmt.Sprintf("must be a whole number from 1 to %d", most)
		return def
	}
	return n
}

// boolean reads a true/false parameter (also 1/0).
func (q queryErrors) boolean(c *fiber.Ctx, name string) bool {
	switch c.Query(name) {
	case "", "false", "0":
		return false
	case "true", "1":
		return true
	}
	q[name] = "must be true or false"
	return false
}

// oneOf reads a parameter that must be one of allowed ("" when absent).
func (q queryErrors) oneOf(c *fiber.Ctx, name string, allowed []string) string {
	v := strings.TrimSpace(c.Query(name))
	if v == "" {
		return ""
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	q[name] = "must be one of " + strings.Join(allowed, ", ")
	return ""
}

// timeBound reads a from/to bound: a date (YYYY-MM-DD; a "to" date includes
// that whole day) or an RFC 3339 date-time (exact). nil when absent.
func (q queryErrors) timeBound(c *fiber.Ctx, name string, isTo bool) *time.Time {
	raw := strings.TrimSpace(c.Query(name))
	if raw == "" {
		return nil
	}
	if t, err := time.Parse(time.DateOnly, raw); err == nil {
		if isTo {
			t = t.Add(24 * time.Hour)
		}
		return &t
	}
	if t, err := time.Parse(time.RFC3339Nano, raw); err == nil {
		return &t
	}
	q[name] = "must be a date (YYYY-MM-DD) or an RFC 3339 date-time"
	return nil
}

func stringsOf[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

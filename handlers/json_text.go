package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"unicode/utf8"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

// checkJSONText refuses a JSON body that Go's decoder would accept but
// should not: bytes that are not UTF-8 (a 400 malformed-json saying where:
// JSON text is UTF-8, and the decoder would silently turn them into U+FFFD)
// and a string holding \u0000 (a 422 naming the top-level field; "body"
// when the body is not an object), which Postgres cannot store. It reads
// the body in memory once more at most (utf8.Valid and a byte search); the
// field is only looked for when there is a \u0000. Every JSON body the API
// and the webhooks take goes through it before it is decoded.
func checkJSONText(body []byte) error {
	if !utf8.Valid(body) {
		off := firstInvalidUTF8(body)
		return malformedAt(body, int64(off), "the text is not UTF-8")
	}
	if !models.HasNULEscape(body) {
		return nil
	}
	const msg = `must not contain the NUL character (\u0000): it cannot be stored`
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		if !json.Valid(body) {
			return nil // the decoder says where it is broken
		}
		return web.FieldsProblem(http.StatusUnprocessableEntity, map[string]string{"body": msg})
	}
	fields := map[string]string{}
	for k, v := range members {
		if bytes.IndexByte([]byte(k), 0) >= 0 || models.HasNULEscape(v) {
			fields[models.TextWithoutNUL(k)] = msg
		}
	}
	if len(fields) == 0 {
		// Only in a member that a later duplicate replaces: the decoder
		// keeps the last, without the NUL.
		return nil
	}
	return web.FieldsProblem(http.StatusUnprocessableEntity, fields)
}

// firstInvalidUTF8 is the offset of the first byte that is not UTF-8.
func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

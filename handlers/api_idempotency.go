package handlers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
	"github.com/codex32/codex32/web"
)

// Idempotency headers (draft-ietf-httpapi-idempotency-key-header).
const (
	headerIdempotencyKey      = "Idempotency-Key"
	headerIdempotentReplayed  = "Idempotent-Replayed"
	idempotencyKeyDescription = "Idempotency-Key must be 1 to 255 printable ASCII characters"
)

// idempotent makes next, an API handler that creates something, safe to
// retry: a request carrying an Idempotency-Key runs once per API key and
// key; a retry of the same request within 24 hours gets the stored response
// again (with Idempotent-Replayed: true) instead of running next twice.
//
//   - No header: next runs as usual.
//   - Same key, different request (method, path and query, canonical
//     body): 422. Same key while the first request is still running: 409.
//   - A response with status 500 or more is not stored and the key is
//     forgotten, so the client may retry with the same key.
//   - Requests without an API key (pages, signed in by cookie) ignore the
//     header: /api accepts API keys only, and pages have CSRF tokens and
//     redirects instead.
//
// Apply it per route, after apiAuth and requireScope:
//
//	api.Post("/v1/bots", h.requireScope(models.ScopeWrite), h.idempotent(h.createAPIBot))
func (h *handler) idempotent(next fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		values := c.Request().Header.PeekAll(headerIdempotencyKey)
		if len(values) == 0 {
			return next(c)
		}
		k := web.CurrentAPIKey(c)
		if k == nil {
			return next(c)
		}
		key, err := parseIdempotencyKey(values)
		if err != nil {
			return err
		}
		fp := requestFingerprint(c)
		// The outcome must be recorded even if the client goes away.
		ctx := context.WithoutCancel(c.UserContext())
		rec, started, err := h.idempotencyKeys.Begin(ctx, k.ID, key, fp, h.Now())
		if err != nil {
			return err
		}
		if !started {
			return replayIdempotent(c, rec, fp)
		}
		return h.runIdempotent(ctx, c, rec, next)
	}
}

// runIdempotent runs next for the request that claimed rec and stores its
// response (status < 500) or forgets the key (5xx, panic).
func (h *handler) runIdempotent(ctx context.Context, c *fiber.Ctx, rec *models.IdempotencyKey, next fiber.Handler) error {
	finished := false
	defer func() {
		if !finished { // next panicked: let a retry run again
			if err := models.ReleaseIdempotencyKey(ctx, h.DB.Bun, rec); err != nil {
				h.Log.Error("idempotency: release after panic", "err", err)
			}
		}
	}()
	c.Locals(localIdempotencyKey, rec)
	if err := next(c); err != nil {
		// Render the error now, so the response to store is the one the
		// client gets (the app's error handler would run only after us).
		if herr := c.App().ErrorHandler(c, err); herr != nil {
			h.Log.Error("idempotency: error handler", "err", herr)
			c.Response().Reset()
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	finished = true
	if stored, _ := c.Locals(localIdempotencyStored).(bool); stored {
		return nil // next stored the response with its own writes
	}
	h.storeResponse(ctx, c, rec)
	return nil
}

// storeResponse stores the response c carries (status < 500) under rec, or
// forgets rec (5xx) so that a retry runs again.
func (h *handler) storeResponse(ctx context.Context, c *fiber.Ctx, rec *models.IdempotencyKey) {
	status := c.Response().StatusCode()
	if status >= fiber.StatusInternalServerError {
		if err := models.ReleaseIdempotencyKey(ctx, h.DB.Bun, rec); err != nil {
			h.Log.Error("idempotency: release after server error", "err", err)
		}
		return
	}
	headers := map[string]string{}
	if ct := c.Response().Header.ContentType(); len(ct) > 0 {
		headers[fiber.HeaderContentType] = string(ct)
	}
	if loc := c.Response().Header.Peek(fiber.HeaderLocation); len(loc) > 0 {
		headers[fiber.HeaderLocation] = string(loc)
	}
	if err := h.idempotencyKeys.Complete(ctx, rec, status, headers, bytes.Clone(c.Response().Body())); err != nil {
		// The work is done and the client gets its response; a retry with
		// this key answers 409 until the key expires rather than run twice.
		h.Log.Error("idempotency: store response", "err", err)
	}
}

// Locals the idempotent middleware shares with the handler it wraps.
const (
	localIdempotencyClaim  = "codex32.idempotency_claim"  // *models.IdempotencyKey to insert with the work
	localIdempotencyKey    = "codex32.idempotency_key"    // *models.IdempotencyKey being answered
	localIdempotencyStored = "codex32.idempotency_stored" // true: the handler stored the response
)

// idempotencyKeyOf returns the Idempotency-Key record the request claimed,
// or nil. A handler that can store its own response in the transaction that
// does its work (atomically, and sparing a commit) calls
// models.CompleteIdempotencyKey there and then markIdempotencyStored.
func idempotencyKeyOf(c *fiber.Ctx) *models.IdempotencyKey {
	rec, _ := c.Locals(localIdempotencyKey).(*models.IdempotencyKey)
	return rec
}

func markIdempotencyStored(c *fiber.Ctx) { c.Locals(localIdempotencyStored, true) }

// idempotencyClaimOf returns the claim idempotentInTx left for the handler:
// it inserts it in the transaction that does the work (runner.RunRequest's
// Claim) and stores its response there too.
func idempotencyClaimOf(c *fiber.Ctx) *models.IdempotencyKey {
	rec, _ := c.Locals(localIdempotencyClaim).(*models.IdempotencyKey)
	return rec
}

// idempotentInTx is idempotent for a handler that can claim the key, do its
// work and store its response in one transaction (the run endpoint without
// ?wait): one commit instead of three, and the key is never seen in flight
// — a concurrent duplicate waits for that commit and gets the replay. When
// inTx says the request is not such a one, it is plain idempotent.
//
// The handler finds the claim with idempotencyClaimOf. If the key was
// recorded already it fails with runner.ErrIdempotencyKeyTaken and the
// recorded request is replayed (or 422), as idempotent does. Errors the
// handler answers before its transaction (400, 403, 404, 409, 422) are
// stored afterwards like any response, unless a concurrent duplicate got
// the key first, whose answer is then given.
func (h *handler) idempotentInTx(inTx func(*fiber.Ctx) bool, next fiber.Handler) fiber.Handler {
	plain := h.idempotent(next)
	return func(c *fiber.Ctx) error {
		values := c.Request().Header.PeekAll(headerIdempotencyKey)
		k := web.CurrentAPIKey(c)
		if len(values) == 0 || k == nil || !inTx(c) {
			return plain(c)
		}
		key, err := parseIdempotencyKey(values)
		if err != nil {
			return err
		}
		fp := requestFingerprint(c)
		ctx := context.WithoutCancel(c.UserContext())
		c.Locals(localIdempotencyClaim, models.NewIdempotencyClaim(k.ID, key, fp, h.Now()))
		err = next(c)
		c.Locals(localIdempotencyClaim, nil)
		if err == nil {
			if stored, _ := c.Locals(localIdempotencyStored).(bool); !stored {
				h.Log.Error("idempotency: a handler answered without storing its claimed response", "path", c.Path())
			}
			return nil
		}
		if !errors.Is(err, runner.ErrIdempotencyKeyTaken) {
			// Answered before claiming: render it and record it like idempotent.
			if herr := c.App().ErrorHandler(c, err); herr != nil {
				return herr
			}
		} else {
			c.Response().Reset()
		}
		rec, started, berr := h.idempotencyKeys.Begin(ctx, k.ID, key, fp, h.Now())
		switch {
		case berr != nil:
			return berr
		case !started:
			c.Response().Reset()
			return replayIdempotent(c, rec, fp)
		case errors.Is(err, runner.ErrIdempotencyKeyTaken):
			// Recorded a moment ago, gone now (expired or released): run.
			return h.runIdempotent(ctx, c, rec, next)
		default:
			h.storeResponse(ctx, c, rec)
			return nil
		}
	}
}

// replayIdempotent answers a request whose key was seen before.
func replayIdempotent(c *fiber.Ctx, rec *models.IdempotencyKey, fp string) error {
	switch {
	case rec.Fingerprint != fp:
		return fiber.NewError(fiber.StatusUnprocessableEntity, "Idempotency-Key was used with a different request")
	case rec.State != models.IdempotencyDone || rec.ResponseStatus == nil:
		return fiber.NewError(fiber.StatusConflict, "A request with this Idempotency-Key is still being processed; retry later")
	}
	for name, v := range rec.ResponseHeaders {
		c.Set(name, v)
	}
	c.Set(headerIdempotentReplayed, "true")
	return c.Status(*rec.ResponseStatus).Send(rec.ResponseBody)
}

// parseIdempotencyKey checks the header: exactly one, 1–255 printable ASCII
// characters. The draft sends it as a structured-field string ("…"); the
// bare form most clients send is accepted too.
func parseIdempotencyKey(values [][]byte) (string, error) {
	if len(values) != 1 {
		return "", fiber.NewError(fiber.StatusBadRequest, "send one Idempotency-Key header")
	}
	key := strings.TrimSpace(string(values[0]))
	if len(key) >= 2 && key[0] == '"' && key[len(key)-1] == '"' {
		var b strings.Builder
		inner := key[1 : len(key)-1]
		for i := 0; i < len(inner); i++ {
			if inner[i] == '\\' && i+1 < len(inner) && (inner[i+1] == '"' || inner[i+1] == '\\') {
				i++
			}
			b.WriteByte(inner[i])
		}
		key = b.String()
	}
	if key == "" || len(key) > models.IdempotencyKeyMaxLen {
		return "", fiber.NewError(fiber.StatusBadRequest, idempotencyKeyDescription)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return "", fiber.NewError(fiber.StatusBadRequest, idempotencyKeyDescription)
		}
	}
	return key, nil
}

// requestFingerprint identifies a request for Idempotency-Key reuse: the
// SHA-256 of the method, the path with its query (sorted) and the body —
// canonical JSON when it is JSON (key order and spacing do not matter), the
// bytes as sent otherwise.
func requestFingerprint(c *fiber.Ctx) string {
	sum := sha256.New()
	target := c.Path()
	if q := c.Request().URI().QueryString(); len(q) > 0 {
		if v, err := url.ParseQuery(string(q)); err == nil {
			target += "?" + v.Encode()
		} else {
			target += "?" + string(q)
		}
	}
	_, _ = fmt.Fprintf(sum, "%s\n%s\n", c.Method(), target)
	_, _ = sum.Write(canonicalBody(c.Body()))
	return hex.EncodeToString(sum.Sum(nil))
}

// canonicalBody re-encodes a JSON body with sorted keys and no spacing;
// numbers keep their text. Anything else is returned as is.
func canonicalBody(body []byte) []byte {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || !json.Valid(trimmed) {
		return body
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return body
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return body
	}
	return out.Bytes()
}

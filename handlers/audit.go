package handlers

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/valyala/fasthttp"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/views"
	"github.com/codex32/codex32/web"
)

// auditQuery reads the audit filters from the query string.
func auditQuery(c *fiber.Ctx) (q models.AuditQuery, f views.AuditFilters, queryString, problem string) {
	f = views.AuditFilters{
		Actor: strings.TrimSpace(c.Query("actor")), Action: strings.TrimSpace(c.Query("action")),
		ResourceType: strings.TrimSpace(c.Query("resource_type")), ResourceID: strings.TrimSpace(c.Query("resource_id")),
		Bot: strings.TrimSpace(c.Query("bot")), From: c.Query("from"), To: c.Query("to"), Text: strings.TrimSpace(c.Query("text")),
	}
	q = models.AuditQuery{Actor: f.Actor, Action: f.Action, ResourceType: f.ResourceType, ResourceID: f.ResourceID, Text: f.Text}
	var problems []string
	if f.Bot != "" {
		if id, err := uuid.Parse(f.Bot); err == nil {
			q.BotID = &id
		} else {
			problems = append(problems, "the bot id is not a valid id")
		}
	}
	for _, d := range []struct {
		raw string
		dst **time.Time
		nm  string
	}{{f.From, &q.From, "from"}, {f.To, &q.To, "to"}} {
		if d.raw == "" {
			continue
		}
		t, err := time.Parse("2006-01-02", d.raw)
		if err != nil {
			problems = append(problems, "the "+d.nm+" date is not YYYY-MM-DD")
			continue
		}
		*d.dst = &t
	}
	if b, err := strconv.ParseInt(c.Query("before"), 10, 64); err == nil && b > 0 {
		q.Before = b
	}
	v := url.Values{}
	for k, val := range map[string]string{"actor": f.Actor, "action": f.Action, "resource_type": f.ResourceType,
		"resource_id": f.ResourceID, "bot": f.Bot, "from": f.From, "to": f.To, "text": f.Text} {
		if val != "" {
			v.Set(k, val)
		}
	}
	if len(problems) > 0 {
		problem = "Ignored: " + strings.Join(problems, "; ") + "."
	}
	return q, f, v.Encode(), problem
}

func (h *handler) showAudit(c *fiber.Ctx) error {
	ctx := c.UserContext()
	q, f, qs, problem := auditQuery(c)
	page, err := models.QueryAudit(ctx, h.DB.Bun, q)
	if err != nil {
		return err
	}
	head, err := models.AuditHead(ctx, h.DB.Bun)
	if err != nil {
		return err
	}
	ver, err := models.LastAuditVerification(ctx, h.DB.Bun)
	if err != nil {
		return err
	}
	d := views.AuditData{Page: page, Filters: f, QueryString: qs, First: q.Before == 0, Head: head, Verification: ver, Error: problem}
	return web.Render(c, fiber.StatusOK, views.AuditPage(h.page(c, "Audit log", "audit"), d))
}

func (h *handler) showAuditEntry(c *fiber.Ctx) error {
	seq, err := strconv.ParseInt(c.Params("seq"), 10, 64)
	if err != nil {
		return fiber.ErrNotFound
	}
	row, err := models.AuditBySeq(c.UserContext(), h.DB.Bun, seq)
	if err != nil {
		return err
	}
	d := views.AuditEntryData{Row: row}
	if d.Changes, err = models.DiffJSON(row.OldValues, row.NewValues); err != nil {
		return err
	}
	d.Changes = models.Changes(d.Changes)
	if d.Lines, err = models.DiffLines(row.OldValues, row.NewValues); err != nil {
		return err
	}
	return web.Render(c, fiber.StatusOK, views.AuditEntryPage(h.page(c, "Audit entry "+c.Params("seq"), "audit"), d))
}

// verifyAudit re-checks the whole chain now and records the outcome.
func (h *handler) verifyAudit(c *fiber.Ctx) error {
	res, err := models.VerifyAndRecordAuditChain(c.UserContext(), h.DB.Bun, web.Actor(c), models.AuditVerifyOptions{Key: h.AuditKey})
	if err != nil && !errors.Is(err, models.ErrAuditBroken) {
		return err // could not read the chain or record the outcome
	}
	if web.IsHTMX(c) {
		return web.Render(c, fiber.StatusOK, views.VerificationFragment(&res))
	}
	kind, msg := views.FlashSuccess, "The audit chain verified: "+itoa(res.Rows)+" rows intact."
	if !res.OK {
		kind, msg = views.FlashError, "The audit chain is BROKEN: "+res.Problem
	}
	return redirectWithFlash(c, "/audit", kind, msg)
}

var auditCSVHeader = []string{"seq", "created_at", "actor_user_id", "actor_api_key_id", "actor", "action", "resource_type",
	"resource_id", "bot_id", "old_values", "new_values", "ip", "user_agent", "prev_hash", "hash"}

func uuidString(id *uuid.UUID) string {
	if id == nil {
		return ""
	}
	return id.String()
}

// exportAuditCSV streams the filtered audit rows as CSV, batch by batch,
// so a million rows never sit in memory.
func (h *handler) exportAuditCSV(c *fiber.Ctx) error {
	return h.streamAudit(c, pageAuditExportQuery(c), "text/csv; charset=utf-8", "csv", func(w *bufio.Writer) (func(*models.AuditLog) error, func() error) {
		cw := csv.NewWriter(w)
		_ = cw.Write(auditCSVHeader)
		return func(a *models.AuditLog) error {
				return cw.Write([]string{strconv.FormatInt(a.Seq, 10), a.CreatedAt.UTC().Format(time.RFC3339Nano), uuidString(a.ActorUserID),
					uuidString(a.ActorAPIKeyID), csvSafe(a.ActorLabel), a.Action, a.ResourceType, csvSafe(a.ResourceID), uuidString(a.BotID),
					string(a.OldValues), string(a.NewValues), a.IP, csvSafe(a.UserAgent), a.PrevHash, a.Hash})
			}, func() error {
				cw.Flush()
				return cw.Error()
			}
	})
}

// csvSafe defuses spreadsheet formulas in free text.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// exportAuditJSONL streams the filtered audit rows as JSON Lines.
func (h *handler) exportAuditJSONL(c *fiber.Ctx) error {
	return h.streamAudit(c, pageAuditExportQuery(c), "application/x-ndjson", "jsonl", func(w *bufio.Writer) (func(*models.AuditLog) error, func() error) {
		enc := json.NewEncoder(w)
		return func(a *models.AuditLog) error {
			return enc.Encode(map[string]any{"seq": a.Seq, "created_at": a.CreatedAt.UTC(), "actor_user_id": a.ActorUserID,
				"actor_api_key_id": a.ActorAPIKeyID, "actor": a.ActorLabel, "action": a.Action, "resource_type": a.ResourceType,
				"resource_id": a.ResourceID, "bot_id": a.BotID, "old_values": a.OldValues, "new_values": a.NewValues, "ip": a.IP,
				"user_agent": a.UserAgent, "prev_hash": a.PrevHash, "hash": a.Hash})
		}, func() error { return nil }
	})
}

// pageAuditExportQuery is the audit page's filters, from the first row.
func pageAuditExportQuery(c *fiber.Ctx) models.AuditQuery {
	q, _, _, _ := auditQuery(c)
	q.Before = 0
	return q
}

// streamAudit records the export (audit.export) and streams every row q
// matches through writer as a download named codex32-audit-<time>.<ext>;
// the audit page's exports and the API's use it.
func (h *handler) streamAudit(c *fiber.Ctx, q models.AuditQuery, ctype, ext string, writer func(*bufio.Writer) (func(*models.AuditLog) error, func() error)) error {
	db := h.DB
	log := h.Log
	if err := models.RecordEvent(c.UserContext(), h.DB.Bun, web.Actor(c), models.AuditEntry{
		Action: "audit.export", ResourceType: "audit", ResourceID: ext, New: map[string]any{"filters": c.Request().URI().QueryArgs().String()},
	}); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, ctype)
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="codex32-audit-`+time.Now().UTC().Format("20060102-150405")+`.`+ext+`"`)
	ctx := c.UserContext()
	conn := c.Context().Conn()
	c.Context().SetBodyStreamWriter(fasthttp.StreamWriter(func(w *bufio.Writer) {
		write, done := writer(w)
		n := 0
		err := models.EachAudit(ctx, db.Bun, q, func(a *models.AuditLog) error {
			if err := write(a); err != nil {
				return err
			}
			if n++; n%500 == 0 {
				// The server's write timeout covers the whole response:
				// keep extending it while rows keep flowing.
				_ = conn.SetWriteDeadline(time.Now().Add(time.Minute))
				return w.Flush()
			}
			return nil
		})
		if err == nil {
			err = done()
		}
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			log.Warn("audit export stopped", "err", err, "rows", n)
		}
	}))
	return nil
}

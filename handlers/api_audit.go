package handlers

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/codex32/codex32/models"
)

// apiAuditQuery reads the audit filters (the audit page's names), refusing
// bad ones.
func apiAuditQuery(c *fiber.Ctx, qe queryErrors) models.AuditQuery {
	q := models.AuditQuery{
		Actor: strings.TrimSpace(c.Query("actor")), Action: strings.TrimSpace(c.Query("action")),
		ResourceType: strings.TrimSpace(c.Query("resource_type")), ResourceID: strings.TrimSpace(c.Query("resource_id")),
		Text: strings.TrimSpace(c.Query("text")),
		From: qe.timeBound(c, "from", false), To: qe.timeBound(c, "to", true),
	}
	if raw := strings.TrimSpace(c.Query("bot")); raw != "" {
		if id, err := uuid.Parse(raw); err == nil {
			q.BotID = &id
		} else {
			qe["bot"] = "must be a bot id"
		}
	}
	return q
}

// listAPIAudit is the audit log, newest first, in keyset pages.
func (h *handler) listAPIAudit(c *fiber.Ctx) error {
	qe := queryErrors{}
	q := apiAuditQuery(c, qe)
	q.Limit = qe.limit(c, 50, 500)
	if raw := c.Query("cursor"); raw != "" {
		if n, err := strconv.ParseInt(raw, 10, 64); err == nil && n > 0 {
			q.Before = n
		} else {
			qe["cursor"] = "is not a valid page cursor"
		}
	}
	if err := qe.err(); err != nil {
		return err
	}
	page, err := models.QueryAudit(c.UserContext(), h.DB.Bun, q)
	if err != nil {
		return err
	}
	items := make([]apiAuditEntry, len(page.Rows))
	for i, r := range page.Rows {
		items[i] = toAPIAuditEntry(r)
	}
	next := ""
	if page.Next > 0 {
		next = strconv.FormatInt(page.Next, 10)
	}
	return c.JSON(newAPIPage(items, next))
}

// exportAPIAudit streams every matching row as CSV (the columns of the
// audit page's export) or JSON Lines (one AuditEntry a line), and records
// the export in the audit log as the page does.
func (h *handler) exportAPIAudit(c *fiber.Ctx) error {
	qe := queryErrors{}
	q := apiAuditQuery(c, qe)
	format := qe.oneOf(c, "format", []string{"csv", "jsonl"})
	if err := qe.err(); err != nil {
		return err
	}
	if format == "" {
		format = "jsonl"
	}
	ctype := "application/x-ndjson"
	if format == "csv" {
		ctype = "text/csv; charset=utf-8"
	}
	return h.streamAudit(c, q, ctype, format, func(w *bufio.Writer) (func(*models.AuditLog) error, func() error) {
		return apiAuditWriter(w, format)
	})
}

// apiAuditWriter writes rows in format to w: CSV with the page export's
// header and spreadsheet-safe text, or JSON Lines of AuditEntry.
func apiAuditWriter(w *bufio.Writer, format string) (func(*models.AuditLog) error, func() error) {
	if format == "jsonl" {
		enc := json.NewEncoder(w)
		return func(a *models.AuditLog) error { return enc.Encode(toAPIAuditEntry(a)) }, func() error { return nil }
	}
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
}

package handlers_test

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

func TestAuditPageFiltersAndPages(t *testing.T) {
	t.Parallel()
	a, c, admin := signedIn(t, models.RoleAdmin)
	for i := range 60 {
		testutil.CreateUser(t, a.DB, models.Roles[i%len(models.Roles)])
	}
	d := c.Get("/audit").Doc(t)
	require.Equal(t, 50, d.Find(`[data-testid="audit-row"]`).Length(), "a page of 50, newest first")
	head := d.Find(`[data-testid="chain-head-seq"]`).Text()
	first := d.Find(`[data-testid="audit-link"]`).First().Text()
	require.Equal(t, head, first)
	next := d.Find(`[data-testid="next-page"]`).AttrOr("href", "")
	require.Contains(t, next, "before=")
	older := c.Get(next).Doc(t)
	require.Positive(t, older.Find(`[data-testid="audit-row"]`).Length())
	require.NotEqual(t, first, older.Find(`[data-testid="audit-link"]`).First().Text())

	// Filters: action prefix, actor, resource, text, dates.
	rows := func(q string) int { return c.Get("/audit?" + q).Doc(t).Find(`[data-testid="audit-row"]`).Length() }
	require.Equal(t, 1, rows("action=auth.login"), "the admin's sign-in")
	require.Equal(t, 1, rows("actor="+strings.ToUpper(admin.Email[:5])))
	require.Equal(t, 1, rows("resource_type=user&resource_id="+admin.ID.String()+"&action=auth."))
	require.Equal(t, 50, rows("action=user."))
	require.Equal(t, 1, rows("text="+admin.Email[:12]+"&action=auth."))
	require.Zero(t, rows("from=2999-01-01"))
	r := c.Get("/audit?from=yesterday&bot=nope")
	require.Equal(t, http.StatusOK, r.StatusCode)
	require.Contains(t, r.Doc(t).Find(`[data-testid="form-error"]`).Text(), "not YYYY-MM-DD")

	// An entry shows old → new as a diff.
	entry := c.Get("/audit/" + first).Doc(t)
	require.Contains(t, entry.Find(`[data-testid="page-title"]`).Text(), "user.create")
	require.Positive(t, entry.Find(`[data-testid="diff-row"][data-op="added"]`).Length())
	require.Equal(t, http.StatusNotFound, c.Get("/audit/999999").StatusCode)
}

func TestAuditExportsStreamEveryFilteredRow(t *testing.T) {
	t.Parallel()
	a, c, _ := signedIn(t, models.RoleAdmin)
	for range 1200 / 100 {
		for range 100 {
			testutil.CreateUser(t, a.DB, models.RoleViewer)
		}
	}
	total := countRows(t, a, "audit_logs", "action = ?", "user.create")

	r := c.Get("/audit/export.csv?action=user.create")
	require.Equal(t, http.StatusOK, r.StatusCode)
	require.Contains(t, r.Header.Get("Content-Disposition"), ".csv")
	recs, err := csv.NewReader(strings.NewReader(r.Body)).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, total+1, "header plus every row, across batches")
	require.Equal(t, "seq", recs[0][0])
	for _, rec := range recs[1:] {
		require.Equal(t, "user.create", rec[5])
	}

	r = c.Get("/audit/export.jsonl?action=user.create")
	require.Equal(t, http.StatusOK, r.StatusCode)
	sc := bufio.NewScanner(strings.NewReader(r.Body))
	n := 0
	var prevSeq float64
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		if n > 0 {
			require.Less(t, m["seq"].(float64), prevSeq, "newest first")
		}
		prevSeq = m["seq"].(float64)
		n++
	}
	require.Equal(t, total, n)
	require.Equal(t, 2, countRows(t, a, "audit_logs", "action = ?", "audit.export"), "exports are audited")
}

func TestAuditVerifyButton(t *testing.T) {
	t.Parallel()
	a, c, _ := signedIn(t, models.RoleAdmin)
	require.Contains(t, c.Get("/audit").Doc(t).Find(`[data-testid="verification-status"]`).Text(), "Never verified")
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/audit/verify", nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", c.CSRF)
	r := c.Do(req)
	require.Equal(t, http.StatusOK, r.StatusCode)
	require.Contains(t, r.Doc(t).Find(`[data-testid="verification-status"]`).Text(), "rows verified")
	require.Contains(t, c.Get("/audit").Doc(t).Find(`[data-testid="verification-status"]`).Text(), "rows verified")
	require.Equal(t, 1, countRows(t, a, "audit_logs", "action = ?", "audit.verify"))
}

// "Verify now" reports a broken chain as BROKEN, and keeps doing so after
// the chain is truncated further (it would verify on its own): only an
// admin's codex32 audit accept re-anchors it.
func TestAuditVerifyButtonStaysBroken(t *testing.T) {
	t.Parallel()
	a, c, _ := signedIn(t, models.RoleAdmin)
	for range 4 {
		testutil.CreateUser(t, a.DB, models.RoleViewer)
	}
	click := func() string {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/audit/verify", nil)
		req.Header.Set("HX-Request", "true")
		req.Header.Set("X-CSRF-Token", c.CSRF)
		r := c.Do(req)
		require.Equal(t, http.StatusOK, r.StatusCode)
		return r.Doc(t).Find(`[data-testid="verification-status"]`).Text()
	}
	require.Contains(t, click(), "rows verified")
	last, err := models.LastAuditVerification(t.Context(), a.DB.Bun)
	require.NoError(t, err)
	testutil.DropAuditGuards(t, a.DB)
	_, err = a.DB.Bun.ExecContext(t.Context(), "DELETE FROM audit_logs WHERE seq >= ?", last.HeadSeq)
	require.NoError(t, err)
	require.Contains(t, click(), "Chain BROKEN")
	_, err = a.DB.Bun.ExecContext(t.Context(), "DELETE FROM audit_logs WHERE seq >= ?", last.HeadSeq-2)
	require.NoError(t, err)
	_, err = models.VerifyAuditChain(t.Context(), a.DB.Bun)
	require.NoError(t, err, "what is left links up")
	status := click()
	require.Contains(t, status, "Chain BROKEN since")
	require.Contains(t, status, "stays broken until an admin accepts")
	page := c.Get("/audit").Doc(t)
	require.Equal(t, 1, page.Find(`[data-testid="chain-broken"]`).Length())
}

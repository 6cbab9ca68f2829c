package handlers_test

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

// The audit export's CSV is opened in spreadsheets: free text that starts
// with =, +, -, @, a tab or a carriage return would be read as a formula,
// so the CSV prefixes it with an apostrophe. JSON Lines is for programs
// and carries every value exactly as recorded. Both the page's and the
// API's exports are checked.
func TestAuditExportDefusesFormulasInCSVOnly(t *testing.T) {
	t.Parallel()
	a, c, admin := signedIn(t, models.RoleAdmin)
	key, _ := accessKey(t, a.DB, admin, models.ScopeRead)

	// A value that only contains a formula character later is left alone.
	values := []string{"=HYPERLINK(\"http://evil.test\",\"x\")", "+1+2", "-2+3", "@SUM(A1:A9)", "\tTAB", "\rCR", "plain=1+2"}
	for _, v := range values {
		actor := models.Actor{Label: v, UserAgent: v, IP: "192.0.2.1"}
		require.NoError(t, models.RecordEvent(t.Context(), a.DB.Bun, actor, models.AuditEntry{
			Action: "test.formula", ResourceType: "test", ResourceID: v,
		}))
	}
	// And through a request: the User-Agent of a sign-in is the sender's to choose.
	const ua = "=cmd|' /C calc'!A0"
	c2 := a.Client(t)
	c2.Header = http.Header{"User-Agent": {ua}}
	c2.Login(admin.Email, testutil.TestPassword)

	defused := func(v string) string {
		if strings.ContainsRune("=+-@\t\r", rune(v[0])) {
			return "'" + v
		}
		return v
	}
	checkCSV := func(name, body string) {
		t.Helper()
		recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		require.NoError(t, err, name)
		require.Equal(t, []string{"actor", "resource_id", "user_agent"}, []string{recs[0][4], recs[0][7], recs[0][12]}, name)
		seen := map[string]bool{}
		sawUA := false
		for _, rec := range recs[1:] {
			if rec[12] == "'"+ua {
				sawUA = true
			}
			require.NotEqual(t, ua, rec[12], "%s: the sign-in's User-Agent is not a live formula", name)
			if rec[5] != "test.formula" {
				continue
			}
			for _, v := range values {
				if rec[7] == defused(v) {
					seen[v] = true
					require.Equal(t, defused(v), rec[4], "%s: actor of %q", name, v)
					require.Equal(t, defused(v), rec[12], "%s: user agent of %q", name, v)
				}
			}
		}
		require.True(t, sawUA, "%s: the sign-in row is exported, defused", name)
		for _, v := range values {
			require.True(t, seen[v], "%s: a row whose resource_id is exactly %q (defused: %q)", name, v, defused(v))
		}
	}
	checkJSONL := func(name, body string) {
		t.Helper()
		seen := map[string]bool{}
		sawUA := false
		sc := bufio.NewScanner(strings.NewReader(body))
		for sc.Scan() {
			var e struct {
				Action     string `json:"action"`
				Actor      string `json:"actor"`
				ResourceID string `json:"resource_id"`
				UserAgent  string `json:"user_agent"`
			}
			require.NoError(t, json.Unmarshal(sc.Bytes(), &e), name)
			sawUA = sawUA || e.UserAgent == ua
			if e.Action != "test.formula" {
				continue
			}
			require.Equal(t, e.ResourceID, e.Actor, name)
			require.Equal(t, e.ResourceID, e.UserAgent, name)
			seen[e.ResourceID] = true
		}
		require.NoError(t, sc.Err())
		require.True(t, sawUA, "%s: the User-Agent exactly as sent", name)
		for _, v := range values {
			require.True(t, seen[v], "%s: %q exactly as recorded", name, v)
		}
	}

	r := c.Get("/audit/export.csv")
	require.Equal(t, http.StatusOK, r.StatusCode, r.Body)
	checkCSV("page CSV", r.Body)
	r = c.Get("/audit/export.jsonl")
	require.Equal(t, http.StatusOK, r.StatusCode, r.Body)
	checkJSONL("page JSONL", r.Body)

	api := newAPITester(t, a)
	ar := api.get("/api/v1/audit/export?format=csv", key)
	require.Equal(t, http.StatusOK, ar.StatusCode, string(ar.Body))
	checkCSV("API CSV", string(ar.Body))
	ar = api.get("/api/v1/audit/export?format=jsonl", key)
	require.Equal(t, http.StatusOK, ar.StatusCode, string(ar.Body))
	checkJSONL("API JSONL", string(ar.Body))
}

package handlers_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

func TestAPIAudit(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	api := newAPITester(t, a)
	admin, key := apiUserKey(t, a, models.RoleAdmin)
	for range 3 {
		apiBotFixture(t, a, admin, false)
	}

	// Pages, newest first, following next_cursor.
	var seqs []int64
	cursor := ""
	for {
		path := "/api/v1/audit?action=bot.&limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := api.get(path, key)
		require.Equal(t, s200, r.StatusCode, string(r.Body))
		var page struct {
			Items []struct {
				Seq    int64  `json:"seq"`
				Action string `json:"action"`
				Hash   string `json:"hash"`
			} `json:"items"`
			Next *string `json:"next_cursor"`
		}
		r.decode(t, &page)
		for _, e := range page.Items {
			require.Regexp(t, `^bot\.`, e.Action)
			require.Len(t, e.Hash, 64)
			seqs = append(seqs, e.Seq)
		}
		if page.Next == nil {
			break
		}
		cursor = *page.Next
	}
	require.Len(t, seqs, 6, "3 bots × (create + a version)")
	for i := 1; i < len(seqs); i++ {
		require.Less(t, seqs[i], seqs[i-1])
	}
	r := api.send(apiReq{method: "GET", path: "/api/v1/audit?cursor=x&bot=y", key: key, off: true})
	require.Equal(t, s400, r.StatusCode)
	require.Equal(t, []web.FieldProblem{{Field: "bot", Message: "must be a bot id"}, {Field: "cursor", Message: "is not a valid page cursor"}}, r.problem(t).Errors)

	// Exports stream every matching row and are themselves audited.
	r = api.get("/api/v1/audit/export?format=csv&action=bot.create", key)
	require.Equal(t, s200, r.StatusCode)
	require.Equal(t, "text/csv; charset=utf-8", r.Header.Get("Content-Type"))
	require.Regexp(t, `^attachment; filename="codex32-audit-\d{8}-\d{6}\.csv"$`, r.Header.Get("Content-Disposition"))
	rows, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 4)
	require.Equal(t, "seq", rows[0][0])
	require.Equal(t, "bot.create", rows[1][5])

	r = api.get("/api/v1/audit/export?action=bot.", key)
	require.Equal(t, "application/x-ndjson", r.Header.Get("Content-Type"))
	sc := bufio.NewScanner(bytes.NewReader(r.Body))
	n := 0
	for sc.Scan() {
		var e map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e))
		// Each line is an AuditEntry: the same schema as the list's items.
		ok, errs := theContract(t).checkSchema("AuditEntry", sc.Bytes())
		require.True(t, ok, report(errs))
		n++
	}
	require.Equal(t, 6, n)
	page, err := models.QueryAudit(t.Context(), a.DB.Bun, models.AuditQuery{Action: "audit.export"})
	require.NoError(t, err)
	require.Len(t, page.Rows, 2)
	require.Equal(t, "jsonl", page.Rows[0].ResourceID)
	require.NotNil(t, page.Rows[0].ActorAPIKeyID)
}

func TestAPIUsers(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	api := newAPITester(t, a)
	admin, key := apiUserKey(t, a, models.RoleAdmin)
	target := testutil.CreateUser(t, a.DB, models.RoleUser)

	r := api.get("/api/v1/users?q="+target.Email, key)
	require.Equal(t, s200, r.StatusCode)
	require.NotContains(t, string(r.Body), "password")
	var page struct {
		Items []map[string]any `json:"items"`
		Next  *string          `json:"next_cursor"`
	}
	r.decode(t, &page)
	require.Len(t, page.Items, 1)
	require.Equal(t, target.ID.String(), page.Items[0]["id"])
	require.Nil(t, page.Next)

	r = api.patch("/api/v1/users/"+target.ID.String(), key, map[string]any{"role": "viewer"})
	require.Equal(t, s200, r.StatusCode, string(r.Body))
	require.Equal(t, "viewer", r.object(t)["role"])
	got, err := models.UserByID(t.Context(), a.DB.Bun, target.ID)
	require.NoError(t, err)
	require.Equal(t, models.RoleViewer, got.Role)

	r = api.send(apiReq{method: "PATCH", path: "/api/v1/users/" + target.ID.String(), key: key, off: true, body: map[string]any{"role": "owner"}})
	require.Equal(t, s422, r.StatusCode)
	require.Equal(t, "role", r.problem(t).Errors[0].Field)
	r = api.send(apiReq{method: "PATCH", path: "/api/v1/users/" + target.ID.String(), key: key, off: true, body: map[string]any{}})
	require.Equal(t, s422, r.StatusCode)
	require.Equal(t, []web.FieldProblem{{Field: "role", Message: "is required"}}, r.problem(t).Errors)

	// The only admin may not demote themselves.
	r = api.patch("/api/v1/users/"+admin.ID.String(), key, map[string]any{"role": "user"})
	require.Equal(t, s409, r.StatusCode)
	require.Equal(t, web.ProblemType(web.ProblemStateConflict), r.problem(t).Type)
	require.Contains(t, r.problem(t).Detail, "last active admin")

	// /me says who the key is, never a secret.
	r = api.get("/api/v1/me", key)
	me := r.object(t)
	require.Equal(t, admin.Email, me["user"].(map[string]any)["email"])
	require.NotContains(t, string(r.Body), key)
	require.NotContains(t, string(r.Body), "hash")
	require.Len(t, me["key"].(map[string]any)["scopes"], 3)
}

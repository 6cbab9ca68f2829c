package handlers_test

import (
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

// JSON text is UTF-8: Go's decoder would turn other bytes into U+FFFD
// without a word, so they are refused (400, saying where) before decoding.
func TestJSONBodiesMustBeUTF8(t *testing.T) {
	t.Parallel()
	a, _, u := signedIn(t, models.RoleAdmin)
	api := newAPITester(t, a)
	owner, key := apiUserKey(t, a, models.RoleAdmin)
	b := apiBotFixture(t, a, owner, false)

	body := []byte(`{"name": "caf` + "\xe9" + `", "kind": "http", "config": {"url": "https://example.test/"}}`)
	r := api.post("/api/v1/bots", key, body)
	require.Equal(t, http.StatusBadRequest, r.StatusCode, string(r.Body))
	p := r.problem(t)
	require.Equal(t, web.ProblemType(web.ProblemMalformedJSON), p.Type)
	require.Contains(t, p.Detail, "UTF-8")
	require.NotNil(t, p.Offset)
	require.EqualValues(t, 13, *p.Offset, "the offending byte")
	require.Equal(t, 1, p.Line)
	require.Equal(t, 14, p.Column)
	bots, err := models.ListBots(bg, a.DB.Bun, models.BotFilter{})
	require.NoError(t, err)
	require.Len(t, bots, 1, "nothing was created")

	r = api.patch("/api/v1/bots/"+b.ID.String(), key, []byte(`{"description": "`+"\xff\xfe"+`"}`))
	require.Equal(t, http.StatusBadRequest, r.StatusCode, string(r.Body))
	r = api.post("/api/v1/bots/"+b.ID.String()+"/executions", key, []byte(`{"input": {"s": "`+"\xc3"+`"}}`))
	require.Equal(t, http.StatusBadRequest, r.StatusCode, string(r.Body))
	// Real UTF-8, and escapes of any character, are fine.
	r = api.patch("/api/v1/bots/"+b.ID.String(), key, []byte(`{"description": "café \u00e9 😀"}`))
	require.Equal(t, http.StatusOK, r.StatusCode, string(r.Body))

	// Webhooks: a body declared JSON is JSON (400); without a content type
	// it is not text (415), as the README says.
	hb := execBot(t, a, u, "hooked", models.BotActive)
	_, sec := hookOf(t, a, hb, false, 0)
	path := "/hooks/" + sec.Token
	bad := []byte(`{"ref": "ma` + "\xff" + `in"}`)
	hr := callHook(t, a, http.MethodPost, path, "application/json", bad, nil)
	require.Equal(t, http.StatusBadRequest, hr.status, hr.raw)
	require.Contains(t, hr.body["detail"], "UTF-8")
	hr = callHook(t, a, http.MethodPost, path, "", bad, nil)
	require.Equal(t, http.StatusUnsupportedMediaType, hr.status, hr.raw)
	ex, err := models.QueryExecutions(bg, a.DB.Bun, models.ExecutionQuery{BotIDs: []uuid.UUID{hb.ID, b.ID}})
	require.NoError(t, err)
	require.Empty(t, ex.Rows, "nothing was queued")
}

package handlers_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

type executionJSON struct {
	ID                string         `json:"id"`
	BotID             string         `json:"bot_id"`
	BotName           string         `json:"bot_name"`
	Version           *int           `json:"version"`
	Status            string         `json:"status"`
	Trigger           string         `json:"trigger"`
	RequesterEmail    *string        `json:"requester_email"`
	CancelRequestedAt *time.Time     `json:"cancel_requested_at"`
	Input             any            `json:"input"`
	Output            map[string]any `json:"output"`
	Logs              string         `json:"logs"`
	Attempts          []any          `json:"attempts"`
}

// TestAPIRunAndWait runs script bots in real sandboxes: a fast one within
// ?wait (200, finished), a slow one past it (202 and Location), which is
// then cancelled while it runs.
func TestAPIRunAndWait(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t, testutil.WithWorkers(2))
	api := newAPITester(t, a)
	u, key := apiUserKey(t, a, models.RoleUser)
	fast := scriptBot(t, a, u, "Fast", 0, 10)
	slow := scriptBot(t, a, u, "Slow", 30_000, 60)

	start := time.Now()
	r := api.post("/api/v1/bots/"+fast.ID.String()+"/executions?wait=30s", key, map[string]any{"input": map[string]any{"city": "Oslo"}})
	require.Equal(t, s200, r.StatusCode, string(r.Body))
	require.Less(t, time.Since(start), 30*time.Second)
	require.Empty(t, r.Header.Get("Location"))
	var ex executionJSON
	r.decode(t, &ex)
	require.Equal(t, "success", ex.Status)
	require.Equal(t, "api", ex.Trigger)
	require.Equal(t, "Fast", ex.BotName)
	require.Equal(t, 1, *ex.Version)
	require.Equal(t, u.Email, *ex.RequesterEmail)
	require.Equal(t, map[string]any{"city": "Oslo"}, ex.Input)
	require.Equal(t, true, ex.Output["ok"])
	require.Contains(t, ex.Logs, "started with")
	require.Len(t, ex.Attempts, 1)

	// Whole seconds work too; no input is {}.
	r = api.post("/api/v1/bots/"+fast.ID.String()+"/executions?wait=20", key, nil)
	require.Equal(t, s200, r.StatusCode, string(r.Body))
	r.decode(t, &ex)
	require.Equal(t, map[string]any{}, ex.Input)

	// Past the wait: 202, Location, still in flight.
	r = api.post("/api/v1/bots/"+slow.ID.String()+"/executions?wait=500ms", key, map[string]any{"input": []int{1, 2}})
	require.Equal(t, s202, r.StatusCode, string(r.Body))
	r.decode(t, &ex)
	require.Contains(t, []string{"queued", "running"}, ex.Status)
	loc := r.Header.Get("Location")
	require.Equal(t, "/api/v1/executions/"+ex.ID, loc)
	waitAPIStatus(t, api, key, loc, "running")

	// Cancel it while it runs: the worker stops it.
	r = api.post(loc+"/cancel", key, nil)
	require.Equal(t, s200, r.StatusCode, string(r.Body))
	r.decode(t, &ex)
	require.NotNil(t, ex.CancelRequestedAt)
	waitAPIStatus(t, api, key, loc, "cancelled")
	r = api.post(loc+"/cancel", key, nil)
	require.Equal(t, s409, r.StatusCode)
	p := r.problem(t)
	require.Equal(t, web.ProblemType(web.ProblemStateConflict), p.Type)
	require.Contains(t, p.Detail, "already finished")

	// The history: newest first, filtered, in pages.
	r = api.get("/api/v1/executions?mine=true&trigger=api&limit=2", key)
	require.Equal(t, s200, r.StatusCode)
	var page struct {
		Items []executionJSON `json:"items"`
		Next  *string         `json:"next_cursor"`
	}
	r.decode(t, &page)
	require.Len(t, page.Items, 2)
	require.Equal(t, ex.ID, page.Items[0].ID)
	require.NotNil(t, page.Next)
	r = api.get("/api/v1/executions?mine=true&trigger=api&limit=2&cursor="+*page.Next, key)
	r.decode(t, &page)
	require.Len(t, page.Items, 1)
	require.Nil(t, page.Next)
	r = api.get("/api/v1/bots/"+fast.ID.String()+"/executions?status=success", key)
	r.decode(t, &page)
	require.Len(t, page.Items, 2)
	r = api.get("/api/v1/executions?bot=slow", key)
	r.decode(t, &page)
	require.Len(t, page.Items, 1, "a bot by name, ignoring case")
	r = api.get("/api/v1/executions?requester="+u.ID.String()+"&status=cancelled", key)
	r.decode(t, &page)
	require.Len(t, page.Items, 1)
	today := time.Now().UTC().Format(time.DateOnly)
	r = api.get("/api/v1/executions?from="+today+"&to="+today, key)
	r.decode(t, &page)
	require.Len(t, page.Items, 3, "to includes the whole day")
	r = api.get("/api/v1/executions?to="+time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), key)
	r.decode(t, &page)
	require.Empty(t, page.Items)
}

func waitAPIStatus(t *testing.T, api *apiTester, key, path, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := api.get(path, key)
		require.Equal(t, s200, r.StatusCode)
		var ex executionJSON
		r.decode(t, &ex)
		if ex.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s stayed %s, want %s", path, ex.Status, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAPIRunRefusals(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	api := newAPITester(t, a)
	u, key := apiUserKey(t, a, models.RoleUser)
	b := apiBotFixture(t, a, u, false)
	path := "/api/v1/bots/" + b.ID.String() + "/executions"

	for _, w := range []string{"2m", "61s", "-1s", "soon"} {
		r := api.send(apiReq{method: "POST", path: path + "?wait=" + w, key: key, off: true})
		require.Equal(t, s400, r.StatusCode, w)
		require.Equal(t, "wait", r.problem(t).Errors[0].Field, w)
	}

	// An input over 1 MiB but within the body limit is an invalid field.
	big := `{"input":"` + strings.Repeat("x", 1<<20) + `"}`
	r := api.post(path, key, big)
	require.Equal(t, s422, r.StatusCode, string(r.Body))
	require.Equal(t, "input", r.problem(t).Errors[0].Field)

	// Postgres cannot store \u0000 in JSON: refused alike on both databases
	// (an escaped backslash followed by u0000 is ordinary text).
	r = api.post(path, key, `{"input": {"s": "a\u0000b"}}`)
	require.Equal(t, s422, r.StatusCode, string(r.Body))
	require.Equal(t, "input", r.problem(t).Errors[0].Field)
	require.Contains(t, r.problem(t).Errors[0].Message, "NUL")
	r = api.post(path, key, `{"input": {"s": "a\\u0000b"}}`)
	require.Equal(t, s202, r.StatusCode, string(r.Body))

	// A bot that may not run: 409 with the engine's reason.
	_, err := models.UpdateBot(t.Context(), a.DB.Bun, models.SystemActor("test"), b.ID,
		models.BotPatch{Name: b.Name, Status: models.BotInactive, Tags: b.Tags})
	require.NoError(t, err)
	r = api.post(path, key, map[string]any{"input": 1})
	require.Equal(t, s409, r.StatusCode)
	p := r.problem(t)
	require.Equal(t, web.ProblemType(web.ProblemStateConflict), p.Type)
	require.Contains(t, p.Detail, "inactive")

	n, err := a.DB.Bun.NewSelect().Model((*models.Execution)(nil)).Where("bot_id = ?", b.ID).Count(t.Context())
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "only the run with ordinary text was queued")
	require.Equal(t, http.StatusOK, api.get("/api/v1/bots/"+b.ID.String()+"/executions", key).StatusCode)
}

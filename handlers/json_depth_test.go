package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

func nested(depth int) string {
	return strings.Repeat("[", depth) + "1" + strings.Repeat("]", depth)
}

// Inputs nested deeper than the engine stores (512 levels) are refused the
// same way on both databases, where they used to answer 500 on SQLite
// (1,001 levels and more) and be queued on Postgres: the API with a 422
// naming the input, the Run form with its 422 page, a webhook with a 400
// (as for a body that is not JSON). At the limit they are queued.
func TestInputsNestedTooDeepAreRefused(t *testing.T) { //nolint:tparallel // subtests count the queued executions of the one app; they run in order
	t.Parallel()
	a := testutil.NewApp(t)
	queued := func() int { return countRows(t, a, "bot_executions", "") }

	t.Run("API: 422 problem naming the input", func(t *testing.T) {
		api := newAPITester(t, a)
		u, key := apiUserKey(t, a, models.RoleUser)
		b := apiBotFixture(t, a, u, false)
		path := "/api/v1/bots/" + b.ID.String() + "/executions"
		before := queued()
		for _, depth := range []int{513, 1001, 9000} {
			r := api.post(path, key, `{"input": `+nested(depth)+`}`)
			require.Equal(t, s422, r.StatusCode, "depth %d: %s", depth, r.Body)
			require.Contains(t, r.Header.Get("Content-Type"), "application/problem+json")
			p := r.problem(t)
			require.Equal(t, "input", p.Errors[0].Field)
			require.Contains(t, p.Errors[0].Message, "nests deeper than 512 levels")
		}
		require.Equal(t, before, queued(), "nothing queued")
		r := api.post(path, key, `{"input": `+nested(512)+`}`)
		require.Equal(t, s202, r.StatusCode, string(r.Body))
	})

	t.Run("Run form: the 422 page, and the panel for htmx", func(t *testing.T) {
		c := a.Client(t)
		u := testutil.CreateUserWithPassword(t, a.DB, models.RoleUser)
		c.Login(u.Email, testutil.TestPassword)
		b := execBot(t, a, u, "deep", models.BotActive)
		page := "/bots/" + b.ID.String()
		before := queued()
		r := c.Post(page+"/run", url.Values{"input": {nested(1001)}})
		require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
		require.Contains(t, r.Doc(t).Find(`[data-testid="run-error"]`).Text(), "The input nests deeper than 512 levels")
		r = accessPost(c, page+"/run", url.Values{"input": {nested(600)}}, hxHeaders(c))
		require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
		require.NotContains(t, r.Body, "<html")
		require.Contains(t, r.Doc(t).Find(`#run-panel [data-testid="run-error"]`).Text(), "nests deeper than 512 levels")
		require.Equal(t, before, queued(), "nothing queued")
	})

	t.Run("webhook: 400 like a body that is not JSON", func(t *testing.T) {
		owner := testutil.CreateUser(t, a.DB, models.RoleUser)
		b := execBot(t, a, owner, "hooked", models.BotActive)
		_, sec := hookOf(t, a, b, false, 0)
		before := queued()
		declared := postJSON(t, a, "/hooks/"+sec.Token, nested(1001), nil)
		require.Equal(t, http.StatusBadRequest, declared.status, declared.raw)
		require.Contains(t, declared.body["detail"], "nests deeper than 512 levels")
		sniffed := callHook(t, a, http.MethodPost, "/hooks/"+sec.Token, "", []byte(nested(5000)), nil)
		require.Equal(t, http.StatusBadRequest, sniffed.status, sniffed.raw)
		require.Equal(t, before, queued(), "nothing queued")
		ok := postJSON(t, a, "/hooks/"+sec.Token, nested(512), nil)
		require.Equal(t, http.StatusAccepted, ok.status, ok.raw)
	})
}

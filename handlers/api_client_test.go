package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/apiclient"
	"github.com/codex32/codex32/handlers/openapi"
	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

// TestAPIClient drives the API end to end over a real loopback listener
// with the client generated from the contract (apiclient), every exchange
// checked against the contract too.
func TestAPIClient(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t, testutil.WithWorkers(2))
	u, key := apiUserKey(t, a, models.RoleUser)
	base := a.Serve(t)
	c, err := apiclient.NewClientWithResponses(base,
		apiclient.WithHTTPClient(&http.Client{Transport: contractTransport{t: t, next: http.DefaultTransport}}),
		apiclient.WithRequestEditorFn(apiclient.BearerAuth(key)))
	require.NoError(t, err)
	ctx := t.Context()

	me, err := c.GetMeWithResponse(ctx)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, me.StatusCode(), string(me.Body))
	require.Equal(t, u.Email, me.JSON200.User.Email)
	require.Equal(t, apiclient.Role("user"), me.JSON200.User.Role)

	created, err := c.CreateBotWithResponse(ctx, nil, apiclient.BotCreate{
		Name: "Greeter", Kind: apiclient.BotKindScript, Tags: &[]string{"demo"},
		Config: apiclient.BotConfig{"source": "function main(input) { return {greeting: 'Hello, ' + input.name}; }"},
	})
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, created.StatusCode(), string(created.Body))
	bot := created.JSON201
	require.Equal(t, apiclient.BotStatusActive, bot.Status)

	wait := "30s"
	run, err := c.RunBotWithResponse(ctx, bot.ID, &apiclient.RunBotParams{Wait: &wait}, apiclient.RunBotJSONRequestBody{Input: map[string]any{"name": "Ada"}})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, run.StatusCode(), string(run.Body))
	require.Equal(t, apiclient.ExecStatusSuccess, run.JSON200.Status)
	require.Equal(t, map[string]any{"greeting": "Hello, Ada"}, run.JSON200.Output)

	got, err := c.GetExecutionWithResponse(ctx, run.JSON200.ID)
	require.NoError(t, err)
	require.Equal(t, apiclient.TriggerAPI, got.JSON200.Trigger)

	mine := true
	list, err := c.ListBotsWithResponse(ctx, &apiclient.ListBotsParams{Mine: &mine})
	require.NoError(t, err)
	require.Len(t, list.JSON200.Items, 1)
	require.Nil(t, list.JSON200.NextCursor)

	// Errors come back typed as problems.
	missing, err := c.GetBotWithResponse(ctx, uuid.New())
	require.NoError(t, err)
	require.Equal(t, http.StatusNotFound, missing.StatusCode())
	require.Equal(t, "https://codex32.dev/problems/not-found", missing.ApplicationProblemJSON404.Type)
	bad, err := c.CreateBotWithResponse(ctx, nil, apiclient.BotCreate{Name: "x", Kind: apiclient.BotKindHTTP, Config: apiclient.BotConfig{"url": 1}})
	require.NoError(t, err)
	require.Equal(t, http.StatusUnprocessableEntity, bad.StatusCode())
	require.Equal(t, "config.url", (*bad.ApplicationProblemJSON422.Errors)[0].Field)
}

func TestAPIDocsPage(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	for _, signedIn := range []bool{false, true} {
		c := a.Client(t)
		if signedIn {
			u := testutil.CreateUserWithPassword(t, a.DB, models.RoleViewer)
			c.Login(u.Email, testutil.TestPassword)
		}
		r := c.Get("/api/docs")
		require.Equal(t, http.StatusOK, r.StatusCode)
		checkPageSecurity(t, r, false)
		d := r.Doc(t)
		require.Contains(t, d.Find(`[data-testid="page-title"]`).Text(), "Codex-32 API")
		require.Equal(t, signedIn, d.Find(`[data-testid="nav-profile"]`).Length() == 1, "the layout knows who is signed in")
		require.Contains(t, d.Find(`[data-testid="api-intro"] table`).Text(), "insufficient-scope", "the problem types table")

		// Every operation of the document, with an example.
		docs, err := openapi.Docs()
		require.NoError(t, err)
		n := 0
		for _, tag := range docs.Tags {
			for _, op := range tag.Operations {
				n++
				card := d.Find(`[data-operation-id="` + op.ID + `"]`)
				require.Equal(t, 1, card.Length(), op.ID)
				require.Equal(t, op.Path, card.Find(`[data-testid="api-path"]`).Text())
				curl := card.Find(`[data-testid="api-curl"]`).Text()
				require.True(t, strings.HasPrefix(curl, "curl"), curl)
				require.Contains(t, curl, "$CODEX32_URL"+op.Path)
				if !op.Public {
					require.Contains(t, curl, "Authorization: Bearer $CODEX32_API_KEY")
					require.Contains(t, card.Find(`[data-testid="api-access"]`).Text(), op.Scope)
				}
			}
		}
		require.Equal(t, n, d.Find(`[data-testid="api-operation"]`).Length())
		require.Greater(t, n, 20)
		require.Contains(t, d.Find(`[data-operation-id="createBot"] [data-testid="api-curl"]`).Text(), `-d '{"name":"Status page check"`)
		require.Positive(t, d.Find(`[data-testid="api-schema"]`).Length())
		// Nothing from elsewhere: no CDN, no fonts, no scripts but ours.
		d.Find("script[src], link[href]").Each(func(_ int, s *goquery.Selection) {
			src := s.AttrOr("src", s.AttrOr("href", ""))
			require.True(t, strings.HasPrefix(src, "/static/"), src)
		})
	}
}

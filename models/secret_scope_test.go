package models_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/models"
)

func TestSecretHostPatterns(t *testing.T) {
	t.Parallel()
	patterns := []string{"api.example.com", "*.hooks.example.org", "10.0.0.5", "::1"}
	for host, want := range map[string]bool{
		"api.example.com": true, "API.Example.com.": true, "x.api.example.com": false, "example.com": false,
		"a.hooks.example.org": true, "a.b.hooks.example.org": true, "hooks.example.org": false, "evilhooks.example.org": false,
		"10.0.0.5": true, "10.0.0.6": false, "[::1]": true, "api.example.com.attacker.example": false,
	} {
		require.Equal(t, want, models.SecretHostAllowed(patterns, host), host)
	}
	for _, bad := range []string{"https://api.example.com", "api.example.com:443", "*.com", "*", "a b", "/path", "fe80::1%eth0"} {
		_, err := models.NormaliseSecretHost(bad)
		require.Error(t, err, bad)
	}
	got, err := models.NormaliseSecretHost(" API.Example.COM. ")
	require.NoError(t, err)
	require.Equal(t, "api.example.com", got)
}

func TestSecretGrantsMatchBotsTagsAndOwners(t *testing.T) {
	t.Parallel()
	bot, owner, other := uuid.New(), uuid.New(), uuid.New()
	g := models.SecretGrants{Bots: []uuid.UUID{bot}, Tags: []string{"payments"}, Owners: []uuid.UUID{owner}}
	require.True(t, g.Allows(models.SecretUser{BotID: &bot, OwnerID: other}))
	require.True(t, g.Allows(models.SecretUser{OwnerID: owner}), "a new bot of a granted owner")
	require.True(t, g.Allows(models.SecretUser{OwnerID: other, Tags: []string{"Payments"}}))
	require.False(t, g.Allows(models.SecretUser{OwnerID: other, Tags: []string{"ops"}}))
	require.False(t, models.SecretGrants{}.Allows(models.SecretUser{BotID: &bot, OwnerID: owner}), "nothing granted: no bot")
}

package models_test

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

func key(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k
}

func TestSecretsAreEncryptedAuditedAndMasked(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	k1 := key(t)
	box, err := models.NewSecretBox(k1)
	require.NoError(t, err)
	admin := testutil.CreateUser(t, db, models.RoleAdmin)
	actor := models.Actor{UserID: &admin.ID, Label: admin.Email}

	const value = "sk-live-0123456789abcdef"
	s, err := models.PutSecret(ctx, db.Bun, box, actor, "OPENAI_API_KEY", "production key", value, nil)
	require.NoError(t, err)
	require.False(t, bytes.Contains(s.Ciphertext, []byte(value)), "encrypted at rest")
	n, err := db.Bun.NewSelect().Table("secrets").Where("CAST(ciphertext AS TEXT) LIKE ?", "%0123456789%").Count(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Zero(t, count(t, db, "audit_logs", "CAST(new_values AS TEXT) LIKE ? OR CAST(old_values AS TEXT) LIKE ?", "%0123456789%", "%0123456789%"), "never in the audit log")
	require.Equal(t, 1, count(t, db, "audit_logs", "action = ? AND resource_id = ?", "secret.create", "OPENAI_API_KEY"))

	got, err := models.RevealSecrets(ctx, db.Bun, box, []string{"OPENAI_API_KEY"})
	require.NoError(t, err)
	require.Equal(t, value, got["OPENAI_API_KEY"])
	require.Equal(t, "Authorization: Bearer {{secret.OPENAI_API_KEY}}", models.MaskSecrets("Authorization: Bearer "+value, got))

	// Update replaces the value; rotation: a new key encrypts, the old one still decrypts.
	rotated, err := models.NewSecretBox(key(t), k1)
	require.NoError(t, err)
	got, err = models.RevealSecrets(ctx, db.Bun, rotated, []string{"OPENAI_API_KEY"})
	require.NoError(t, err)
	require.Equal(t, value, got["OPENAI_API_KEY"])
	_, err = models.PutSecret(ctx, db.Bun, rotated, actor, "OPENAI_API_KEY", "", "sk-new-value-9999", nil)
	require.NoError(t, err)
	require.Equal(t, 1, count(t, db, "audit_logs", "action = ?", "secret.update"))
	got, err = models.RevealSecrets(ctx, db.Bun, rotated, []string{"OPENAI_API_KEY"})
	require.NoError(t, err)
	require.Equal(t, "sk-new-value-9999", got["OPENAI_API_KEY"])
	_, err = models.RevealSecrets(ctx, db.Bun, box, []string{"OPENAI_API_KEY"})
	require.ErrorIs(t, err, models.ErrNoSecretKey, "a box without the new key cannot read it")

	_, err = models.RevealSecrets(ctx, db.Bun, rotated, []string{"MISSING"})
	require.ErrorIs(t, err, models.ErrNotFound)
	_, err = models.PutSecret(ctx, db.Bun, box, actor, "lower_case", "", "x", nil)
	var ve *models.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Contains(t, ve.Fields, "name")

	require.NoError(t, models.DeleteSecret(ctx, db.Bun, actor, "OPENAI_API_KEY"))
	list, err := models.ListSecrets(ctx, db.Bun)
	require.NoError(t, err)
	require.Empty(t, list)
	require.Equal(t, 1, count(t, db, "audit_logs", "action = ?", "secret.delete"))
}

func TestSecretCiphertextIsBoundToItsName(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	box, err := models.NewSecretBox(key(t))
	require.NoError(t, err)
	_, err = models.PutSecret(ctx, db.Bun, box, models.Actor{}, "A_KEY", "", "value-a-123", nil)
	require.NoError(t, err)
	_, err = models.PutSecret(ctx, db.Bun, box, models.Actor{}, "B_KEY", "", "value-b-456", nil)
	require.NoError(t, err)
	// Copy A's ciphertext onto B: it must not decrypt as B.
	_, err = db.Bun.ExecContext(ctx, "UPDATE secrets SET ciphertext = (SELECT ciphertext FROM secrets WHERE name = 'A_KEY'), nonce = (SELECT nonce FROM secrets WHERE name = 'A_KEY') WHERE name = 'B_KEY'")
	require.NoError(t, err)
	_, err = models.RevealSecrets(ctx, db.Bun, box, []string{"B_KEY"})
	require.Error(t, err)
	_, err = models.NewSecretBox([]byte("short"))
	require.Error(t, err)
}

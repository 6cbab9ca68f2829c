package models_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

func TestStandardWebhookSignaturesAndReplays(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	box, err := models.NewSecretBox(key(t))
	require.NoError(t, err)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	b, _ := createBot(t, db, owner, "hooked", models.BotActive)
	w := &models.Webhook{BotID: b.ID}
	sec, err := models.CreateWebhook(ctx, db.Bun, box, models.Actor{UserID: &owner.ID}, w, true)
	require.NoError(t, err)
	require.Equal(t, models.SchemeStandard, w.SignatureScheme, "new webhooks sign the Standard Webhooks way")
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sec.SigningSecret, "whsec_"))
	require.NoError(t, err, "the secret is whsec_ + standard base64, as Standard Webhooks libraries read it")
	require.Len(t, raw, 32)

	now := time.Now()
	body := []byte(`{"ticket": 42}`)
	call := func(id string, at time.Time, b []byte) models.WebhookCall {
		ts, sig := models.SignStandardWebhook(sec.SigningSecret, id, at, body)
		return models.WebhookCall{Standard: models.StandardHeaders{ID: id, Timestamp: ts, Signature: sig}, Body: b}
	}
	verify := func(c models.WebhookCall) string {
		why, err := w.VerifySignature(box, c, now)
		require.NoError(t, err)
		return why
	}
	require.Empty(t, verify(call("msg_1", now, body)))
	require.Empty(t, verify(call("msg_1", now.Add(-4*time.Minute), body)), "within the tolerance")
	require.Contains(t, verify(call("msg_1", now.Add(-6*time.Minute), body)), "more than 5m0s from now", "an old call")
	require.Contains(t, verify(call("msg_1", now.Add(6*time.Minute), body)), "more than 5m0s from now")
	require.Equal(t, "bad signature", verify(call("msg_1", now, []byte(`{"ticket": 43}`))), "the body is signed")
	c := call("msg_1", now, body)
	c.Standard.ID = "msg_2"
	require.Equal(t, "bad signature", verify(c), "the id is signed")
	c = call("msg_1", now, body)
	c.Standard.Signature = "v1,bm9wZQ== " + c.Standard.Signature
	require.Empty(t, verify(c), "any of several signatures (key rotation)")
	require.Equal(t, "missing webhook-signature", verify(models.WebhookCall{Legacy: models.SignWebhookBody(sec.SigningSecret, body), Body: body}),
		"a standard webhook takes no legacy signature")

	// The same id is accepted once.
	require.NoError(t, models.RecordWebhookMessage(ctx, db.Bun, w.ID, "msg_1", now))
	require.ErrorIs(t, models.RecordWebhookMessage(ctx, db.Bun, w.ID, "msg_1", now.Add(time.Second)), models.ErrWebhookReplay)
	require.NoError(t, models.RecordWebhookMessage(ctx, db.Bun, w.ID, "msg_2", now))
	// Past twice the tolerance an id is forgotten: its timestamp is refused by then anyway.
	require.NoError(t, models.RecordWebhookMessage(ctx, db.Bun, w.ID, "msg_1", now.Add(11*time.Minute)))

	// Legacy, per webhook: the body-only signature with the same secret.
	legacy := models.SchemeLegacy
	_, err = models.UpdateWebhook(ctx, db.Bun, models.SystemActor("test"), b.ID, w.ID, models.WebhookPatch{SignatureScheme: &legacy})
	require.NoError(t, err)
	got, err := models.WebhookByToken(ctx, db.Bun, sec.Token)
	require.NoError(t, err)
	why, err := got.VerifySignature(box, models.WebhookCall{Legacy: models.SignWebhookBody(sec.SigningSecret, body), Body: body}, now)
	require.NoError(t, err)
	require.Empty(t, why)
}

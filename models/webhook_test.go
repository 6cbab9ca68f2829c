package models_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

func TestWebhookLifecycleKeepsOnlyHashesAndAudits(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	box, err := models.NewSecretBox(key(t))
	require.NoError(t, err)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	actor := models.Actor{UserID: &owner.ID, Label: owner.Email}
	b, _ := createBot(t, db, owner, "hooked", models.BotActive)

	w := &models.Webhook{BotID: b.ID, Description: "  from CI  ", SyncTimeoutSeconds: 5, SignatureScheme: models.SchemeLegacy}
	sec, err := models.CreateWebhook(ctx, db.Bun, box, actor, w, true)
	require.NoError(t, err)
	require.True(t, models.WellFormedWebhookToken(sec.Token), sec.Token)
	require.True(t, strings.HasPrefix(sec.SigningSecret, "whsec_"))
	require.Equal(t, "from CI", w.Description)

	got, err := models.WebhookByToken(ctx, db.Bun, sec.Token)
	require.NoError(t, err)
	require.Equal(t, w.ID, got.ID)
	require.True(t, got.Enabled)
	require.True(t, got.Signed())
	require.Equal(t, sec.Token[:models.WebhookTokenDisplayLen], got.TokenPrefix)
	// Neither the token nor the signing secret is stored in clear.
	require.NotContains(t, got.TokenHash, sec.Token)
	require.False(t, bytes.Contains(got.SigningCiphertext, []byte(sec.SigningSecret)))

	body := []byte(`{"a":1}`)
	why, err := got.VerifySignature(box, models.WebhookCall{Legacy: models.SignWebhookBody(sec.SigningSecret, body), Body: body}, time.Now())
	require.NoError(t, err)
	require.Empty(t, why)
	_, err = got.VerifySignature(nil, models.WebhookCall{Legacy: models.SignWebhookBody(sec.SigningSecret, body), Body: body}, time.Now())
	require.ErrorIs(t, err, models.ErrNoSigningKey, "no key configured: an error, never a pass")
	for header, want := range map[string]string{
		"": "missing signature", "sha1=abc": "malformed signature", "sha256=zz": "malformed signature",
		models.SignWebhookBody("whsec_other", body):                  "bad signature",
		models.SignWebhookBody(sec.SigningSecret, []byte(`{"a":2}`)): "bad signature",
	} {
		why, err := got.VerifySignature(box, models.WebhookCall{Legacy: header, Body: body}, time.Now())
		require.NoError(t, err)
		require.Equal(t, want, why, header)
	}

	// Rotating the token: the old one is gone at once.
	_, rot, err := models.RotateWebhook(ctx, db.Bun, box, actor, b.ID, w.ID, models.RotateToken)
	require.NoError(t, err)
	require.NotEqual(t, sec.Token, rot.Token)
	require.Empty(t, rot.SigningSecret)
	_, err = models.WebhookByToken(ctx, db.Bun, sec.Token)
	require.ErrorIs(t, err, models.ErrNotFound)
	_, err = models.WebhookByToken(ctx, db.Bun, rot.Token)
	require.NoError(t, err)

	// Rotating the signing secret: the old secret's signatures fail.
	_, rot2, err := models.RotateWebhook(ctx, db.Bun, box, actor, b.ID, w.ID, models.RotateSigning)
	require.NoError(t, err)
	got, err = models.WebhookByID(ctx, db.Bun, b.ID, w.ID)
	require.NoError(t, err)
	why, err = got.VerifySignature(box, models.WebhookCall{Legacy: models.SignWebhookBody(sec.SigningSecret, body), Body: body}, time.Now())
	require.NoError(t, err)
	require.Equal(t, "bad signature", why)
	why, err = got.VerifySignature(box, models.WebhookCall{Legacy: models.SignWebhookBody(rot2.SigningSecret, body), Body: body}, time.Now())
	require.NoError(t, err)
	require.Empty(t, why)

	off, desc, timeout := false, "disabled for now", 0
	upd, err := models.UpdateWebhook(ctx, db.Bun, actor, b.ID, w.ID, models.WebhookPatch{Enabled: &off, Description: &desc, SyncTimeoutSeconds: &timeout, RemoveSigning: true})
	require.NoError(t, err)
	require.False(t, upd.Enabled)
	require.False(t, upd.Signed())
	_, err = models.UpdateWebhook(ctx, db.Bun, actor, b.ID, w.ID, models.WebhookPatch{Enabled: &off})
	require.ErrorIs(t, err, models.ErrUnchanged)
	bad := 31
	_, err = models.UpdateWebhook(ctx, db.Bun, actor, b.ID, w.ID, models.WebhookPatch{SyncTimeoutSeconds: &bad})
	var ve *models.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Contains(t, ve.Fields, "sync_timeout_seconds")

	// Another bot's id does not reach this webhook.
	other, _ := createBot(t, db, owner, "other", models.BotActive)
	_, err = models.WebhookByID(ctx, db.Bun, other.ID, w.ID)
	require.ErrorIs(t, err, models.ErrNotFound)
	require.ErrorIs(t, models.DeleteWebhook(ctx, db.Bun, actor, other.ID, w.ID), models.ErrNotFound)

	require.NoError(t, models.DeleteWebhook(ctx, db.Bun, actor, b.ID, w.ID))
	_, err = models.WebhookByToken(ctx, db.Bun, rot.Token)
	require.ErrorIs(t, err, models.ErrNotFound)

	for action, n := range map[string]int{"webhook.create": 1, "webhook.rotate": 2, "webhook.update": 1, "webhook.delete": 1} {
		require.Equal(t, n, count(t, db, "audit_logs", "action = ? AND resource_id = ?", action, w.ID.String()), action)
	}
	// No audit row carries a token or a secret.
	var values []string
	require.NoError(t, db.Bun.NewRaw("SELECT coalesce(CAST(old_values AS TEXT), '') || coalesce(CAST(new_values AS TEXT), '') FROM audit_logs").Scan(ctx, &values))
	for _, v := range values {
		for _, s := range []string{sec.Token, rot.Token, sec.SigningSecret, rot2.SigningSecret} {
			require.NotContains(t, v, s)
		}
	}
	_, err = models.VerifyAuditChain(ctx, db.Bun)
	require.NoError(t, err)
}

func TestWebhookLimitsAndArchivedBots(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	box, err := models.NewSecretBox(key(t))
	require.NoError(t, err)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	actor := models.Actor{UserID: &owner.ID, Label: owner.Email}
	b, _ := createBot(t, db, owner, "many hooks", models.BotActive)
	for range models.MaxWebhooksPerBot {
		_, err := models.CreateWebhook(ctx, db.Bun, box, actor, &models.Webhook{BotID: b.ID}, false)
		require.NoError(t, err)
	}
	_, err = models.CreateWebhook(ctx, db.Bun, box, actor, &models.Webhook{BotID: b.ID}, false)
	var ve *models.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Contains(t, ve.Fields[""], "at most")

	_, err = models.CreateWebhook(ctx, db.Bun, box, actor, &models.Webhook{BotID: b.ID, SyncTimeoutSeconds: 31, Description: strings.Repeat("x", 201)}, false)
	require.ErrorAs(t, err, &ve)
	require.Contains(t, ve.Fields, "sync_timeout_seconds")
	require.Contains(t, ve.Fields, "description")

	archived, _ := createBot(t, db, owner, "archived", models.BotActive)
	_, err = models.SetBotArchived(ctx, db.Bun, actor, archived.ID, true)
	require.NoError(t, err)
	_, err = models.CreateWebhook(ctx, db.Bun, box, actor, &models.Webhook{BotID: archived.ID}, false)
	require.ErrorAs(t, err, &ve)
	require.Contains(t, ve.Fields, "archived")
}

// Refusals are counted every time but audited at most once a minute per
// webhook, however many arrive at once.
func TestWebhookRejectionsAreRateLimitedInTheAuditLog(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	box, err := models.NewSecretBox(key(t))
	require.NoError(t, err)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	b, _ := createBot(t, db, owner, "attacked", models.BotActive)
	w := &models.Webhook{BotID: b.ID}
	_, err = models.CreateWebhook(ctx, db.Bun, box, models.SystemActor("test"), w, true)
	require.NoError(t, err)
	attacker := models.Actor{Label: "webhook " + w.ID.String(), IP: "203.0.113.7"}

	t0 := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	var mu sync.Mutex
	audited := 0
	var errs []error
	for i := range 20 {
		wg.Go(func() {
			ok, err := models.RecordWebhookRejection(ctx, db.Bun, attacker, w, "bad signature", t0.Add(time.Duration(i)*time.Second))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				audited++
			}
		})
	}
	wg.Wait()
	require.Empty(t, errs)
	require.Equal(t, 1, audited)
	require.Equal(t, 1, count(t, db, "audit_logs", "action = 'webhook.rejected'"))

	// A minute after the audited one, the next refusal is audited again.
	ok, err := models.RecordWebhookRejection(ctx, db.Bun, attacker, w, "missing signature", t0.Add(2*time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	got, err := models.WebhookByID(ctx, db.Bun, b.ID, w.ID)
	require.NoError(t, err)
	require.EqualValues(t, 21, got.RejectedCount)
	require.NotNil(t, got.LastRejectedAt)
	require.True(t, got.LastRejectedAt.Equal(t0.Add(2*time.Minute)))
	require.Equal(t, 2, count(t, db, "audit_logs", "action = 'webhook.rejected' AND ip = '203.0.113.7'"))
	_, err = models.VerifyAuditChain(ctx, db.Bun)
	require.NoError(t, err)
}

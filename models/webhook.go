package models

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Webhook is an inbound URL, /hooks/<token>, that runs its bot with the
// request body as input. Only the SHA-256 of the token is stored; the URL
// is shown once, when it is created or rotated. The optional signing
// secret is encrypted with the SecretBox and, when set, every call must be
// signed by the webhook's SignatureScheme (see webhook_standard.go).
type Webhook struct {
	bun.BaseModel `bun:"table:bot_webhooks,alias:wh"`

	ID                 uuid.UUID `bun:"id,pk,type:uuid"`
	BotID              uuid.UUID `bun:"bot_id,notnull,type:uuid"`
	Description        string    `bun:"description,notnull"`
	TokenHash          string    `bun:"token_hash,notnull"`
	TokenPrefix        string    `bun:"token_prefix,notnull"` // shown in lists to tell webhooks apart
	SigningCiphertext  []byte    `bun:"signing_ciphertext"`
	SigningNonce       []byte    `bun:"signing_nonce"`
	SigningKeyID       string    `bun:"signing_key_id,notnull"`
	Enabled            bool      `bun:"enabled,notnull"`
	SyncTimeoutSeconds int       `bun:"sync_timeout_seconds,notnull"`
	// SignatureScheme is SchemeStandard or SchemeLegacy (signed webhooks).
	SignatureScheme   string     `bun:"signature_scheme,notnull"`
	LastCalledAt      *time.Time `bun:"last_called_at"`
	RejectedCount     int64      `bun:"rejected_count,notnull"`
	LastRejectedAt    *time.Time `bun:"last_rejected_at"`
	RejectedAuditedAt *time.Time `bun:"rejected_audited_at"`
	CreatedBy         *uuid.UUID `bun:"created_by,type:uuid"`
	CreatedAt         time.Time  `bun:"created_at,notnull"`
	UpdatedAt         time.Time  `bun:"updated_at,notnull"`
}

// Webhook limits.
const (
	// MaxWebhookSyncTimeout is the longest a synchronous webhook waits for
	// the execution's output.
	MaxWebhookSyncTimeout = 30
	// MaxWebhooksPerBot bounds how many webhooks one bot may have.
	MaxWebhooksPerBot = 10
	// WebhookTokenDisplayLen is how much of a token lists show.
	WebhookTokenDisplayLen = len(webhookTokenPrefix) + 6

	webhookTokenPrefix   = "c32wh_"
	webhookSigningPrefix = "whsec_"
	// webhookRejectAuditEvery: a refused call is always counted, but
	// audited at most this often per webhook, so a flood of bad calls
	// cannot fill the audit log.
	webhookRejectAuditEvery = time.Minute
)

// ErrNoSigningKey: signing secrets are encrypted with CODEX32_SECRET_KEY,
// and this server has none.
var ErrNoSigningKey = errors.New("webhooks: signing secrets need CODEX32_SECRET_KEY, which is not configured on this server")

// WebhookSecrets are the values shown once: the token (the URL's last
// segment) and the signing secret, each only when it was just made.
type WebhookSecrets struct {
	Token         string
	SigningSecret string
}

// Signed reports whether calls must carry a valid signature.
func (w *Webhook) Signed() bool { return len(w.SigningCiphertext) > 0 }

// Validate normalises and checks the fields a caller sets.
func (w *Webhook) Validate() error {
	errs := fieldErrors{}
	w.Description = strings.TrimSpace(w.Description)
	if len(w.Description) > 200 {
		errs["description"] = "must be at most 200 characters"
	}
	if w.SignatureScheme == "" {
		w.SignatureScheme = SchemeStandard
	}
	if w.SignatureScheme != SchemeStandard && w.SignatureScheme != SchemeLegacy {
		errs["signature_scheme"] = "must be standard or legacy"
	}
	if w.SyncTimeoutSeconds < 0 || w.SyncTimeoutSeconds > MaxWebhookSyncTimeout {
		errs["sync_timeout_seconds"] = fmt.Sprintf("must be from 0 (answer at once) to %d seconds", MaxWebhookSyncTimeout)
	}
	return errs.err()
}

// HashWebhookToken returns the stored form of a token.
func HashWebhookToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// WellFormedWebhookToken reports whether s looks like one of our tokens,
// so garbage is refused without a database lookup.
func WellFormedWebhookToken(s string) bool {
	if len(s) != len(webhookTokenPrefix)+32 || !strings.HasPrefix(s, webhookTokenPrefix) {
		return false
	}
	for _, r := range s[len(webhookTokenPrefix):] {
		if (r < 'a' || r > 'z') && (r < '2' || r > '7') {
			return false
		}
	}
	return true
}

func newWebhookToken() (string, error) {
	var b [20]byte // 160 bits
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("webhooks: random: %w", err)
	}
	return webhookTokenPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])), nil
}

func newSigningSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("webhooks: random: %w", err)
	}
	// Standard Webhooks libraries read the part after whsec_ as standard base64.
	return webhookSigningPrefix + base64.StdEncoding.EncodeToString(b[:]), nil
}

func webhookAAD(id uuid.UUID) []byte { return []byte("webhook:" + id.String()) }

// sealSigning encrypts a new signing secret onto w and returns it.
func (w *Webhook) sealSigning(box *SecretBox) (string, error) {
	if box == nil {
		return "", ErrNoSigningKey
	}
	secret, err := newSigningSecret()
	if err != nil {
		return "", err
	}
	ct, nonce, keyID, err := box.Seal([]byte(secret), webhookAAD(w.ID))
	if err != nil {
		return "", err
	}
	w.SigningCiphertext, w.SigningNonce, w.SigningKeyID = ct, nonce, keyID
	return secret, nil
}

// setToken gives w a new token and returns it.
func (w *Webhook) setToken() (string, error) {
	token, err := newWebhookToken()
	if err != nil {
		return "", err
	}
	w.TokenHash, w.TokenPrefix = HashWebhookToken(token), token[:WebhookTokenDisplayLen]
	return token, nil
}

// WebhookCall is what a call brings to be verified.
type WebhookCall struct {
	// Legacy is the X-Codex32-Signature header.
	Legacy string
	// Standard are the Standard Webhooks headers.
	Standard StandardHeaders
	Body     []byte
}

// VerifySignature checks a call against the webhook's signing secret, by
// its scheme, in constant time. It returns "" when the call may proceed,
// else why it may not. A Standard Webhooks call must still have its id
// recorded (RecordWebhookMessage) to be refused when replayed.
func (w *Webhook) VerifySignature(box *SecretBox, call WebhookCall, now time.Time) (string, error) {
	if !w.Signed() {
		return "", nil
	}
	if w.SignatureScheme == SchemeStandard {
		if call.Standard.Signature == "" {
			return "missing webhook-signature", nil
		}
	} else if strings.TrimSpace(call.Legacy) == "" {
		return "missing signature", nil
	}
	if box == nil {
		return "", ErrNoSigningKey
	}
	secret, err := box.Open(w.SigningCiphertext, w.SigningNonce, w.SigningKeyID, webhookAAD(w.ID))
	if err != nil {
		return "", fmt.Errorf("webhooks: %s: signing secret: %w", w.ID, err)
	}
	if w.SignatureScheme == SchemeStandard {
		return verifyStandard(secret, call.Standard, call.Body, now), nil
	}
	hexSum, ok := strings.CutPrefix(strings.TrimSpace(call.Legacy), "sha256=")
	if !ok {
		return "malformed signature", nil
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil || len(got) != sha256.Size {
		return "malformed signature", nil
	}
	mac := hmac.New(sha256.New, secret)
	_, _ = mac.Write(call.Body)
	if !hmac.Equal(mac.Sum(nil), got) {
		return "bad signature", nil
	}
	return "", nil
}

// SignWebhookBody is the X-Codex32-Signature value for body (for senders
// and tests).
func SignWebhookBody(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	_, _ = mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// webhookAudit is what the audit log keeps of a webhook: never the token
// or the signing secret.
func webhookAudit(w *Webhook) map[string]any {
	return map[string]any{
		"bot_id": w.BotID, "description": w.Description, "token_prefix": w.TokenPrefix, "signed": w.Signed(), "signature_scheme": w.SignatureScheme,
		"enabled": w.Enabled, "sync_timeout_seconds": w.SyncTimeoutSeconds,
	}
}

// CreateWebhook adds a webhook to a bot, with a signing secret if signed,
// and returns the token and secret (never stored, never shown again).
// Audited as webhook.create.
func CreateWebhook(ctx context.Context, db bun.IDB, box *SecretBox, actor Actor, w *Webhook, signed bool) (*WebhookSecrets, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	w.ID, w.Enabled, w.CreatedBy = NewID(), true, actor.UserID
	w.CreatedAt = now()
	w.UpdatedAt = w.CreatedAt
	out := &WebhookSecrets{}
	var err error
	if out.Token, err = w.setToken(); err != nil {
		return nil, err
	}
	if signed {
		if out.SigningSecret, err = w.sealSigning(box); err != nil {
			return nil, err
		}
	}
	err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		b, err := lockBot(ctx, tx, w.BotID)
		if err != nil {
			return err
		}
		if b.ArchivedAt != nil {
			return ErrArchived
		}
		n, err := tx.NewSelect().Model((*Webhook)(nil)).Where("bot_id = ?", w.BotID).Count(ctx)
		if err != nil {
			return fmt.Errorf("webhooks: count for bot %s: %w", w.BotID, err)
		}
		if n >= MaxWebhooksPerBot {
			return &ValidationError{Fields: map[string]string{"": fmt.Sprintf("a bot can have at most %d webhooks; delete one first", MaxWebhooksPerBot)}}
		}
		if _, err := tx.NewInsert().Model(w).Exec(ctx); err != nil {
			return fmt.Errorf("webhooks: create for bot %s: %w", w.BotID, mapErr(err))
		}
		botID := w.BotID
		return WriteAudit(ctx, tx, actor, AuditEntry{Action: "webhook.create", ResourceType: "webhook", ResourceID: w.ID.String(), BotID: &botID, New: webhookAudit(w)})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// WebhookByToken finds the webhook of a plaintext token (disabled ones
// included; the caller decides).
func WebhookByToken(ctx context.Context, db bun.IDB, token string) (*Webhook, error) {
	w := new(Webhook)
	if err := db.NewSelect().Model(w).Where("wh.token_hash = ?", HashWebhookToken(token)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("webhooks: look up: %w", mapErr(err))
	}
	return w, nil
}

// WebhookByID loads one webhook of a bot (another bot's is not found).
func WebhookByID(ctx context.Context, db bun.IDB, botID, id uuid.UUID) (*Webhook, error) {
	w := new(Webhook)
	if err := db.NewSelect().Model(w).Where("wh.id = ?", id).Where("wh.bot_id = ?", botID).Scan(ctx); err != nil {
		return nil, fmt.Errorf("webhooks: load %s: %w", id, mapErr(err))
	}
	return w, nil
}

// ListWebhooks returns a bot's webhooks, oldest first.
func ListWebhooks(ctx context.Context, db bun.IDB, botID uuid.UUID) ([]*Webhook, error) {
	var out []*Webhook
	if err := db.NewSelect().Model(&out).Where("wh.bot_id = ?", botID).Order("wh.created_at", "wh.id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("webhooks: list for bot %s: %w", botID, err)
	}
	return out, nil
}

// lockWebhook loads a bot's webhook for update inside tx.
func lockWebhook(ctx context.Context, tx bun.Tx, botID, id uuid.UUID) (*Webhook, error) {
	w := new(Webhook)
	q := tx.NewSelect().Model(w).Where("wh.id = ?", id).Where("wh.bot_id = ?", botID)
	if err := forUpdate(tx, q).Scan(ctx); err != nil {
		return nil, fmt.Errorf("webhooks: load %s: %w", id, mapErr(err))
	}
	return w, nil
}

// WebhookPatch is an update: nil fields are left as they are.
type WebhookPatch struct {
	Description        *string
	Enabled            *bool
	SyncTimeoutSeconds *int
	// SignatureScheme switches between SchemeStandard and SchemeLegacy
	// (the signing secret stays: both schemes take it).
	SignatureScheme *string
	// RemoveSigning stops requiring signatures (and forgets the secret).
	RemoveSigning bool
}

// UpdateWebhook applies p; audited as webhook.update. Nothing to change is
// ErrUnchanged (and no audit row).
func UpdateWebhook(ctx context.Context, db bun.IDB, actor Actor, botID, id uuid.UUID, p WebhookPatch) (*Webhook, error) {
	var out *Webhook
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		w, err := lockWebhook(ctx, tx, botID, id)
		if err != nil {
			return err
		}
		old := webhookAudit(w)
		if p.Description != nil {
			w.Description = *p.Description
		}
		if p.Enabled != nil {
			w.Enabled = *p.Enabled
		}
		if p.SyncTimeoutSeconds != nil {
			w.SyncTimeoutSeconds = *p.SyncTimeoutSeconds
		}
		if p.SignatureScheme != nil {
			w.SignatureScheme = *p.SignatureScheme
		}
		if p.RemoveSigning {
			w.SigningCiphertext, w.SigningNonce, w.SigningKeyID = nil, nil, ""
		}
		if err := w.Validate(); err != nil {
			return err
		}
		out = w
		nw := webhookAudit(w)
		if equalViews(old, nw) {
			return ErrUnchanged
		}
		w.UpdatedAt = now()
		if _, err := tx.NewUpdate().Model(w).Column("description", "enabled", "sync_timeout_seconds", "signature_scheme", "signing_ciphertext", "signing_nonce", "signing_key_id", "updated_at").
			WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("webhooks: update %s: %w", id, err)
		}
		return WriteAudit(ctx, tx, actor, AuditEntry{Action: "webhook.update", ResourceType: "webhook", ResourceID: id.String(), BotID: &botID, Old: old, New: nw})
	})
	return out, err
}

// What RotateWebhook replaces.
const (
	RotateToken   = "token"
	RotateSigning = "signing"
)

// RotateWebhook replaces the token (the old URL stops working at once) or
// the signing secret (adding one if there was none) and returns the new
// value. Audited as webhook.rotate.
func RotateWebhook(ctx context.Context, db bun.IDB, box *SecretBox, actor Actor, botID, id uuid.UUID, what string) (*Webhook, *WebhookSecrets, error) {
	if what != RotateToken && what != RotateSigning {
		return nil, nil, &ValidationError{Fields: map[string]string{"what": "must be token or signing"}}
	}
	var out *Webhook
	secrets := &WebhookSecrets{}
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		w, err := lockWebhook(ctx, tx, botID, id)
		if err != nil {
			return err
		}
		old := webhookAudit(w)
		cols := []string{"updated_at"}
		if what == RotateToken {
			if secrets.Token, err = w.setToken(); err != nil {
				return err
			}
			cols = append(cols, "token_hash", "token_prefix")
		} else {
			if secrets.SigningSecret, err = w.sealSigning(box); err != nil {
				return err
			}
			cols = append(cols, "signing_ciphertext", "signing_nonce", "signing_key_id")
		}
		w.UpdatedAt = now()
		if _, err := tx.NewUpdate().Model(w).Column(cols...).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("webhooks: rotate %s of %s: %w", what, id, mapErr(err))
		}
		out = w
		nw := webhookAudit(w)
		nw["rotated"] = what
		return WriteAudit(ctx, tx, actor, AuditEntry{Action: "webhook.rotate", ResourceType: "webhook", ResourceID: id.String(), BotID: &botID, Old: old, New: nw})
	})
	if err != nil {
		return nil, nil, err
	}
	return out, secrets, nil
}

// DeleteWebhook removes a webhook (its URL answers 404 from then on);
// audited as webhook.delete.
func DeleteWebhook(ctx context.Context, db bun.IDB, actor Actor, botID, id uuid.UUID) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		w, err := lockWebhook(ctx, tx, botID, id)
		if err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model(w).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("webhooks: delete %s: %w", id, err)
		}
		return WriteAudit(ctx, tx, actor, AuditEntry{Action: "webhook.delete", ResourceType: "webhook", ResourceID: id.String(), BotID: &botID, Old: webhookAudit(w)})
	})
}

// RecordWebhookRejection counts a call refused for its signature. The
// first refusal in a minute also writes a webhook.rejected audit row (with
// the running count), in the same transaction; later ones only count, so
// an attacker holding the URL cannot fill the audit log. It reports
// whether an audit row was written.
func RecordWebhookRejection(ctx context.Context, db bun.IDB, actor Actor, w *Webhook, reason string, at time.Time) (bool, error) {
	at = at.UTC().Truncate(time.Microsecond)
	audited := false
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var count int64
		err := tx.NewRaw("UPDATE bot_webhooks SET rejected_count = rejected_count + 1, last_rejected_at = ? WHERE id = ? RETURNING rejected_count",
			at, w.ID).Scan(ctx, &count)
		if err != nil {
			return fmt.Errorf("webhooks: count rejection of %s: %w", w.ID, mapErr(err))
		}
		// Claim the minute's audit slot: only one caller's UPDATE matches.
		res, err := tx.NewUpdate().Model((*Webhook)(nil)).Set("rejected_audited_at = ?", at).
			Where("id = ?", w.ID).
			Where("rejected_audited_at IS NULL OR rejected_audited_at <= ?", at.Add(-webhookRejectAuditEvery)).Exec(ctx)
		if err != nil {
			return fmt.Errorf("webhooks: record rejection of %s: %w", w.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		audited = true
		botID := w.BotID
		return WriteAudit(ctx, tx, actor, AuditEntry{Action: "webhook.rejected", ResourceType: "webhook", ResourceID: w.ID.String(), BotID: &botID,
			New: map[string]any{"reason": reason, "rejected_count": count, "note": "further refusals within a minute are counted, not audited"}})
	})
	return audited, err
}

// TouchWebhook records a call, at most once a minute per webhook to spare
// writes.
func TouchWebhook(ctx context.Context, db bun.IDB, w *Webhook, at time.Time) error {
	if w.LastCalledAt != nil && at.Sub(*w.LastCalledAt) < time.Minute {
		return nil
	}
	at = at.UTC().Truncate(time.Microsecond)
	if _, err := db.NewUpdate().Model((*Webhook)(nil)).Set("last_called_at = ?", at).Where("id = ?", w.ID).Exec(ctx); err != nil {
		return fmt.Errorf("webhooks: touch %s: %w", w.ID, err)
	}
	w.LastCalledAt = &at
	return nil
}

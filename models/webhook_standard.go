package models

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Signature schemes of a signed webhook.
const (
	// SchemeStandard is Standard Webhooks: webhook-id, webhook-timestamp
	// and webhook-signature ("v1,<base64 HMAC-SHA256 of id.timestamp.body>"),
	// keyed with the base64-decoded part of the whsec_ secret. A call older
	// or newer than WebhookTolerance, or whose id was seen, is refused.
	SchemeStandard = "standard"
	// SchemeLegacy is X-Codex32-Signature: sha256=<hex HMAC of the body>,
	// keyed with the whole secret. It covers only the body: a captured call
	// can be replayed. Kept for senders made before Standard Webhooks.
	SchemeLegacy = "legacy"

	// WebhookTolerance is how far a webhook-timestamp may be from now.
	WebhookTolerance = 5 * time.Minute
)

// ErrWebhookReplay: a Standard Webhooks call whose webhook-id this webhook
// has already accepted.
var ErrWebhookReplay = errors.New("webhooks: this webhook-id was already received")

// StandardHeaders are a Standard Webhooks call's three headers.
type StandardHeaders struct {
	ID, Timestamp, Signature string
}

// signingKey is the HMAC key of a scheme: Standard Webhooks use the
// decoded base64 after "whsec_" (any base64 alphabet, so secrets made
// before the scheme existed work too); legacy uses the whole string.
func signingKey(scheme string, secret []byte) []byte {
	if scheme != SchemeStandard {
		return secret
	}
	enc, ok := strings.CutPrefix(string(secret), webhookSigningPrefix)
	if !ok {
		return secret
	}
	for _, e := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := e.DecodeString(enc); err == nil {
			return k
		}
	}
	return secret
}

// standardMAC is the base64 HMAC-SHA256 of id.timestamp.body.
func standardMAC(key []byte, id, ts string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	_, _ = mac.Write([]byte(id + "." + ts + "."))
	_, _ = mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SignStandardWebhook is the webhook-signature value of a call (for
// senders and tests): secret is the whsec_ value shown once.
func SignStandardWebhook(secret, id string, at time.Time, body []byte) (timestamp, signature string) {
	ts := strconv.FormatInt(at.Unix(), 10)
	return ts, "v1," + standardMAC(signingKey(SchemeStandard, []byte(secret)), id, ts, body)
}

// verifyStandard checks a Standard Webhooks call signed with secret at
// now. It returns "" when the call may proceed, else why not.
func verifyStandard(secret []byte, h StandardHeaders, body []byte, now time.Time) string {
	if h.ID == "" || h.Timestamp == "" || h.Signature == "" {
		return "missing webhook-id, webhook-timestamp or webhook-signature"
	}
	if len(h.ID) > 255 {
		return "webhook-id is longer than 255 characters"
	}
	sec, err := strconv.ParseInt(h.Timestamp, 10, 64)
	if err != nil {
		return "malformed webhook-timestamp"
	}
	if d := now.Sub(time.Unix(sec, 0)); d > WebhookTolerance || d < -WebhookTolerance {
		return fmt.Sprintf("webhook-timestamp is more than %s from now (a replay, or a clock far off)", WebhookTolerance)
	}
	want := standardMAC(signingKey(SchemeStandard, secret), h.ID, h.Timestamp, body)
	for _, s := range strings.Fields(h.Signature) {
		v, sig, ok := strings.Cut(s, ",")
		if ok && v == "v1" && hmac.Equal([]byte(sig), []byte(want)) {
			return ""
		}
	}
	return "bad signature"
}

// RecordWebhookMessage remembers that webhook w accepted the call id,
// inside the transaction that queues its execution: a second call with
// the same id is ErrWebhookReplay and queues nothing. Ids older than twice
// the tolerance are forgotten (their timestamps are refused anyway).
func RecordWebhookMessage(ctx context.Context, tx bun.IDB, webhookID uuid.UUID, id string, at time.Time) error {
	if _, err := tx.NewDelete().Table("webhook_messages").Where("webhook_id = ?", webhookID).
		Where("received_at < ?", at.Add(-2*WebhookTolerance)).Exec(ctx); err != nil {
		return fmt.Errorf("webhooks: forget old message ids: %w", err)
	}
	res, err := tx.NewInsert().Model(&webhookMessage{WebhookID: webhookID, MessageID: id, ReceivedAt: at}).On("CONFLICT DO NOTHING").Exec(ctx)
	if err != nil {
		return fmt.Errorf("webhooks: remember message id: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return ErrWebhookReplay
	}
	return nil
}

type webhookMessage struct {
	bun.BaseModel `bun:"table:webhook_messages"`

	WebhookID  uuid.UUID `bun:"webhook_id,pk,type:uuid"`
	MessageID  string    `bun:"message_id,pk"`
	ReceivedAt time.Time `bun:"received_at,notnull"`
}

package models

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Secret is a named, encrypted value. Its plaintext is never stored, logged,
// rendered or audited; bot configs reference it as {{secret.NAME}}.
type Secret struct {
	bun.BaseModel `bun:"table:secrets,alias:sc"`

	ID          uuid.UUID  `bun:"id,pk,type:uuid"`
	Name        string     `bun:"name,notnull"`
	Description string     `bun:"description,notnull"`
	Ciphertext  []byte     `bun:"ciphertext,notnull"`
	Nonce       []byte     `bun:"nonce,notnull"`
	KeyID       string     `bun:"key_id,notnull"`
	CreatedBy   *uuid.UUID `bun:"created_by,type:uuid"`
	UpdatedBy   *uuid.UUID `bun:"updated_by,type:uuid"`
	CreatedAt   time.Time  `bun:"created_at,notnull"`
	UpdatedAt   time.Time  `bun:"updated_at,notnull"`
	// Grants and Hosts are the secret's scope: which bots may use it, and
	// where a request carrying it may go. ScopedAt is when an admin last
	// chose them; NULL for a secret from before scopes existed.
	Grants   SecretGrants `bun:"grants,type:jsonb,notnull"`
	Hosts    []string     `bun:"hosts,type:jsonb,notnull"`
	ScopedAt *time.Time   `bun:"scoped_at"`
}

// NeedsScope reports whether the secret predates scopes and no admin has
// chosen its bots and hosts yet (no bot can use it meanwhile).
func (s *Secret) NeedsScope() bool { return s.ScopedAt == nil }

var secretNameRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)

// MaxSecretBytes bounds a secret's value.
const MaxSecretBytes = 64 << 10

func validateSecret(name, value string) error {
	errs := fieldErrors{}
	if !secretNameRE.MatchString(name) {
		errs["name"] = "must be UPPER_SNAKE_CASE: a capital letter, then capitals, digits or _ (at most 64)"
	}
	switch {
	case value == "":
		errs["value"] = "is required"
	case len(value) > MaxSecretBytes:
		errs["value"] = fmt.Sprintf("must be at most %d KiB", MaxSecretBytes>>10)
	}
	return errs.err()
}

// secretAudit is what the audit log keeps of a secret: never the value.
func secretAudit(s *Secret) map[string]any {
	return map[string]any{"name": s.Name, "description": s.Description, "value": "********", "key_id": s.KeyID,
		"grants": s.Grants.normalised(), "hosts": nonNil(s.Hosts)}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// PutSecret creates the named secret, or replaces its value (and
// description), encrypted with box; audited as secret.create/secret.update.
// A new secret takes scope (nil: usable by no bot, sent nowhere); an
// existing one keeps its scope unless scope is given.
func PutSecret(ctx context.Context, db bun.IDB, box *SecretBox, actor Actor, name, description, value string, scope *SecretScope) (*Secret, error) {
	name = strings.TrimSpace(name)
	err := validateSecret(name, value)
	if scope != nil {
		err = joinFieldErrors(err, scope.validate())
	}
	if err != nil {
		return nil, err
	}
	ct, nonce, keyID, err := box.Seal([]byte(value), []byte(name))
	if err != nil {
		return nil, err
	}
	var out *Secret
	err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		s := new(Secret)
		err := forUpdate(tx, tx.NewSelect().Model(s).Where("sc.name = ?", name)).Scan(ctx)
		switch err = mapErr(err); {
		case err == nil:
			old := secretAudit(s)
			s.Description, s.Ciphertext, s.Nonce, s.KeyID, s.UpdatedBy, s.UpdatedAt = strings.TrimSpace(description), ct, nonce, keyID, actor.UserID, now()
			cols := []string{"description", "ciphertext", "nonce", "key_id", "updated_by", "updated_at"}
			if scope != nil {
				s.Grants, s.Hosts, s.ScopedAt = scope.Grants, scope.Hosts, &s.UpdatedAt
				cols = append(cols, "grants", "hosts", "scoped_at")
			}
			if _, err := tx.NewUpdate().Model(s).Column(cols...).WherePK().Exec(ctx); err != nil {
				return fmt.Errorf("secrets: update %s: %w", name, err)
			}
			out = s
			return WriteAudit(ctx, tx, actor, AuditEntry{Action: "secret.update", ResourceType: "secret", ResourceID: name, Old: old, New: secretAudit(s)})
		case err != ErrNotFound: //nolint:errorlint // mapErr returns the sentinel itself
			return fmt.Errorf("secrets: load %s: %w", name, err)
		}
		s = &Secret{ID: NewID(), Name: name, Description: strings.TrimSpace(description), Ciphertext: ct, Nonce: nonce, KeyID: keyID,
			CreatedBy: actor.UserID, UpdatedBy: actor.UserID, CreatedAt: now(), Grants: SecretGrants{}.normalised(), Hosts: []string{}}
		s.UpdatedAt = s.CreatedAt
		s.ScopedAt = &s.CreatedAt // a new secret's scope is chosen now, even if empty
		if scope != nil {
			s.Grants, s.Hosts = scope.Grants, scope.Hosts
		}
		if _, err := tx.NewInsert().Model(s).Exec(ctx); err != nil {
			return fmt.Errorf("secrets: create %s: %w", name, mapErr(err))
		}
		out = s
		return WriteAudit(ctx, tx, actor, AuditEntry{Action: "secret.create", ResourceType: "secret", ResourceID: name, New: secretAudit(s)})
	})
	return out, err
}

// DeleteSecret removes a secret; audited as secret.delete.
func DeleteSecret(ctx context.Context, db bun.IDB, actor Actor, name string) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		s := new(Secret)
		if err := tx.NewSelect().Model(s).Where("sc.name = ?", name).Scan(ctx); err != nil {
			return fmt.Errorf("secrets: delete %s: %w", name, mapErr(err))
		}
		if _, err := tx.NewDelete().Model(s).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("secrets: delete %s: %w", name, err)
		}
		return WriteAudit(ctx, tx, actor, AuditEntry{Action: "secret.delete", ResourceType: "secret", ResourceID: name, Old: secretAudit(s)})
	})
}

// ListSecrets returns the secrets' names and metadata (ciphertext included
// in the struct; never render it), by name.
func ListSecrets(ctx context.Context, db bun.IDB) ([]*Secret, error) {
	var out []*Secret
	if err := db.NewSelect().Model(&out).Order("sc.name").Scan(ctx); err != nil {
		return nil, fmt.Errorf("secrets: list: %w", err)
	}
	return out, nil
}

// RevealSecrets decrypts the named secrets whatever their scope. A missing
// name is an error naming it. Runs never use it: they use RevealSecretsFor,
// which checks the bot's grant.
func RevealSecrets(ctx context.Context, db bun.IDB, box *SecretBox, names []string) (map[string]string, error) {
	out := make(map[string]string, len(names))
	if len(names) == 0 {
		return out, nil
	}
	var rows []*Secret
	if err := db.NewSelect().Model(&rows).Where("sc.name IN (?)", bun.List(names)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("secrets: load: %w", err)
	}
	for _, s := range rows {
		pt, err := box.Open(s.Ciphertext, s.Nonce, s.KeyID, []byte(s.Name))
		if err != nil {
			return nil, fmt.Errorf("secrets: %s: %w", s.Name, err)
		}
		out[s.Name] = string(pt)
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("secrets: %s: %w", n, ErrNotFound)
		}
	}
	return out, nil
}

// MaskSecrets replaces every occurrence of the given secret values in s
// with a placeholder naming the secret, for logs, outputs and errors.
func MaskSecrets(s string, secrets map[string]string) string {
	for name, v := range secrets {
		if len(v) >= 4 { // masking very short values would shred ordinary text
			s = strings.ReplaceAll(s, v, "{{secret."+name+"}}")
		}
	}
	return s
}

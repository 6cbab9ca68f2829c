package models

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Identity links a user to an external sign-in (Google, GitHub, OIDC).
type Identity struct {
	bun.BaseModel `bun:"table:identities,alias:i"`

	ID            uuid.UUID `bun:"id,pk,type:uuid"`
	UserID        uuid.UUID `bun:"user_id,notnull,type:uuid"`
	Provider      string    `bun:"provider,notnull"`
	Subject       string    `bun:"subject,notnull"`
	Email         string    `bun:"email,notnull"`
	EmailVerified bool      `bun:"email_verified,notnull"`
	CreatedAt     time.Time `bun:"created_at,notnull"`
	UpdatedAt     time.Time `bun:"updated_at,notnull"`
}

// ListIdentities returns a user's linked sign-in identities.
func ListIdentities(ctx context.Context, db bun.IDB, userID uuid.UUID) ([]*Identity, error) {
	var out []*Identity
	if err := db.NewSelect().Model(&out).Where("i.user_id = ?", userID).Order("i.created_at").Scan(ctx); err != nil {
		return nil, fmt.Errorf("identities: list for %s: %w", userID, err)
	}
	return out, nil
}

// IdentityByProviderSubject finds the identity a provider's subject maps to.
func IdentityByProviderSubject(ctx context.Context, db bun.IDB, provider, subject string) (*Identity, error) {
	i := new(Identity)
	if err := db.NewSelect().Model(i).Where("i.provider = ?", provider).Where("i.subject = ?", subject).Scan(ctx); err != nil {
		return nil, fmt.Errorf("identities: load %s/%s: %w", provider, subject, mapErr(err))
	}
	return i, nil
}

// RefreshIdentity updates the email a provider reports for an identity
// (audited as identity.update, since account linking trusts it).
func RefreshIdentity(ctx context.Context, db bun.IDB, actor Actor, i *Identity, email string, verified bool) error {
	if i.Email == email && i.EmailVerified == verified {
		return nil
	}
	old := map[string]any{"provider": i.Provider, "email": i.Email, "email_verified": i.EmailVerified}
	i.Email, i.EmailVerified, i.UpdatedAt = email, verified, now()
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewUpdate().Model(i).Column("email", "email_verified", "updated_at").WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("identities: refresh %s: %w", i.ID, err)
		}
		return WriteAudit(ctx, tx, actor, AuditEntry{Action: "identity.update", ResourceType: "user", ResourceID: i.UserID.String(),
			Old: old, New: map[string]any{"provider": i.Provider, "email": i.Email, "email_verified": i.EmailVerified}})
	})
}

// LinkIdentity attaches a provider identity to an existing user (audited).
func LinkIdentity(ctx context.Context, db bun.IDB, actor Actor, userID uuid.UUID, i *Identity) error {
	i.ID, i.UserID, i.CreatedAt = NewID(), userID, now()
	i.UpdatedAt = i.CreatedAt
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(i).Exec(ctx); err != nil {
			return fmt.Errorf("identities: link %s to %s: %w", i.Provider, userID, mapErr(err))
		}
		return WriteAudit(ctx, tx, actor, AuditEntry{
			Action: "identity.link", ResourceType: "user", ResourceID: userID.String(),
			New: map[string]any{"provider": i.Provider, "subject": i.Subject, "email": i.Email, "email_verified": i.EmailVerified},
		})
	})
}

// CreateSSOUser creates a user (no password) with its first identity, in
// one transaction and one audit row (user.create, naming the identity). A
// username already taken gets a numeric suffix.
func CreateSSOUser(ctx context.Context, db bun.IDB, actor Actor, u *User, i *Identity) error {
	if err := u.Validate(); err != nil {
		return err
	}
	base := u.Username
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for n := 1; ; n++ {
			taken, err := tx.NewSelect().Model((*User)(nil)).Where("lower(username) = lower(?)", u.Username).Exists(ctx)
			if err != nil {
				return fmt.Errorf("users: check username: %w", err)
			}
			if !taken {
				break
			}
			if n > 50 {
				return fmt.Errorf("users: no free username near %q: %w", base, ErrConflict)
			}
			u.Username = fmt.Sprintf("%s%d", base, n+1)
		}
		u.ID, u.CreatedAt = NewID(), now()
		u.UpdatedAt = u.CreatedAt
		if _, err := tx.NewInsert().Model(u).Exec(ctx); err != nil {
			return fmt.Errorf("users: create %s: %w", u.Email, mapErr(err))
		}
		i.ID, i.UserID, i.CreatedAt = NewID(), u.ID, now()
		i.UpdatedAt = i.CreatedAt
		if _, err := tx.NewInsert().Model(i).Exec(ctx); err != nil {
			return fmt.Errorf("identities: link %s to %s: %w", i.Provider, u.ID, mapErr(err))
		}
		view := u.auditView()
		view["identity"] = map[string]any{"provider": i.Provider, "subject": i.Subject, "email": i.Email, "email_verified": i.EmailVerified}
		return WriteAudit(ctx, tx, actor, AuditEntry{Action: "user.create", ResourceType: "user", ResourceID: u.ID.String(), New: view})
	})
}

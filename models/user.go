package models

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// User is a person (or a program's account, role api_user) who can sign in.
type User struct {
	bun.BaseModel `bun:"table:users,alias:u"`

	ID           uuid.UUID  `bun:"id,pk,type:uuid"`
	Email        string     `bun:"email,notnull"`
	Username     string     `bun:"username,notnull"`
	Name         string     `bun:"name,notnull"`
	PasswordHash *string    `bun:"password_hash"` // nil for SSO-only users
	Role         Role       `bun:"role,notnull"`
	IsActive     bool       `bun:"is_active,notnull"`
	LastLoginAt  *time.Time `bun:"last_login_at"`
	CreatedAt    time.Time  `bun:"created_at,notnull"`
	UpdatedAt    time.Time  `bun:"updated_at,notnull"`

	Bots    []*Bot    `bun:"rel:has-many,join:id=owner_id"`
	APIKeys []*APIKey `bun:"rel:has-many,join:id=user_id"`
}

// Validate normalises and checks the fields a caller sets.
func (u *User) Validate() error {
	errs := fieldErrors{}
	u.Email = strings.TrimSpace(u.Email)
	u.Username = strings.TrimSpace(u.Username)
	u.Name = strings.TrimSpace(u.Name)
	if addr, err := mail.ParseAddress(u.Email); err != nil || addr.Address != u.Email {
		errs["email"] = "must be a plain email address like ada@example.com"
	} else if len(u.Email) > 254 {
		errs["email"] = "must be at most 254 characters"
	}
	if u.Username == "" {
		errs["username"] = "is required"
	} else if len(u.Username) > 64 {
		errs["username"] = "must be at most 64 characters"
	}
	if len(u.Name) > 200 {
		errs["name"] = "must be at most 200 characters"
	}
	if u.Role == "" {
		u.Role = RoleUser
	}
	if !u.Role.Valid() {
		errs["role"] = fmt.Sprintf("must be one of %v", Roles)
	}
	return errs.err()
}

// auditView is what the audit log records of a user: never the password hash.
func (u *User) auditView() map[string]any {
	return map[string]any{
		"email": u.Email, "username": u.Username, "name": u.Name, "role": u.Role,
		"is_active": u.IsActive, "has_password": u.PasswordHash != nil,
	}
}

// CreateUser validates and inserts u (ID and timestamps are set here) and
// records the audit row in the same transaction.
func CreateUser(ctx context.Context, db bun.IDB, actor Actor, u *User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	u.ID = NewID()
	u.CreatedAt = now()
	u.UpdatedAt = u.CreatedAt
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(u).Exec(ctx); err != nil {
			return fmt.Errorf("users: create %s: %w", u.Email, mapErr(err))
		}
		return WriteAudit(ctx, tx, actor, AuditEntry{
			Action: "user.create", ResourceType: "user", ResourceID: u.ID.String(), New: u.auditView(),
		})
	})
}

// UserByID loads one user.
func UserByID(ctx context.Context, db bun.IDB, id uuid.UUID) (*User, error) {
	u := new(User)
	if err := db.NewSelect().Model(u).Where("u.id = ?", id).Scan(ctx); err != nil {
		return nil, fmt.Errorf("users: load %s: %w", id, mapErr(err))
	}
	return u, nil
}

// UserByEmail loads a user by email, ignoring case.
func UserByEmail(ctx context.Context, db bun.IDB, email string) (*User, error) {
	u := new(User)
	err := db.NewSelect().Model(u).Where("lower(u.email) = ?", strings.ToLower(strings.TrimSpace(email))).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("users: load by email: %w", mapErr(err))
	}
	return u, nil
}

// DeleteUser removes a user and, by foreign-key cascade, their bots,
// versions, executions, identities, sessions and API keys. Audit rows have no
// foreign keys and stay, so the chain still verifies.
func DeleteUser(ctx context.Context, db bun.IDB, actor Actor, id uuid.UUID) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		u, err := UserByID(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model((*User)(nil)).Where("id = ?", id).Exec(ctx); err != nil {
			return fmt.Errorf("users: delete %s: %w", id, err)
		}
		return WriteAudit(ctx, tx, actor, AuditEntry{
			Action: "user.delete", ResourceType: "user", ResourceID: id.String(), Old: u.auditView(),
		})
	})
}

// CountUsers returns how many users exist.
func CountUsers(ctx context.Context, db bun.IDB) (int64, error) {
	n, err := db.NewSelect().Model((*User)(nil)).Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("users: count: %w", err)
	}
	return n, nil
}

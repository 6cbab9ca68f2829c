package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// InstanceSetting is one key/value row of instance-wide state.
type InstanceSetting struct {
	bun.BaseModel `bun:"table:instance_settings,alias:st"`

	Key       string    `bun:"key,pk"`
	Value     string    `bun:"value,notnull"`
	UpdatedAt time.Time `bun:"updated_at,notnull"`
}

const settingSetupDone = "setup_completed_at"

// SetupDone reports whether the first admin has been created (by /setup or
// the CLI). Once true it stays true, even if every user is later deleted.
func SetupDone(ctx context.Context, db bun.IDB) (bool, error) {
	n, err := db.NewSelect().Model((*InstanceSetting)(nil)).Where("key = ?", settingSetupDone).Count(ctx)
	if err != nil {
		return false, fmt.Errorf("setup: read: %w", err)
	}
	if n > 0 {
		return true, nil
	}
	// A database with users but no marker (created before the marker
	// existed, or by hand) is set up too.
	users, err := db.NewSelect().Model((*User)(nil)).Limit(1).Count(ctx)
	if err != nil {
		return false, fmt.Errorf("setup: read: %w", err)
	}
	return users > 0, nil
}

// ErrSetupDone is returned by CreateFirstAdmin once setup has happened.
var ErrSetupDone = fmt.Errorf("setup has already been completed: %w", ErrConflict)

// CreateFirstAdmin creates the first user as an admin and marks setup done,
// in one transaction; a second concurrent attempt fails with ErrSetupDone.
func CreateFirstAdmin(ctx context.Context, db bun.IDB, actor Actor, u *User, password string) error {
	u.Role = RoleAdmin
	u.IsActive = true
	if err := u.Validate(); err != nil {
		return err
	}
	if msg := CheckPasswordPolicy(password, u.Email); msg != "" {
		return &ValidationError{Fields: map[string]string{"password": msg}}
	}
	h, err := HashPassword(password)
	if err != nil {
		return err
	}
	u.PasswordHash = &h
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := markSetupDone(ctx, tx); err != nil {
			return err
		}
		if n, err := tx.NewSelect().Model((*User)(nil)).Count(ctx); err != nil {
			return fmt.Errorf("setup: count users: %w", err)
		} else if n > 0 {
			return ErrSetupDone
		}
		return CreateUser(ctx, tx, actor, u)
	})
}

// markSetupDone inserts the marker; if it is already there, someone was
// first (ON CONFLICT keeps the transaction usable on Postgres).
func markSetupDone(ctx context.Context, tx bun.Tx) error {
	row := &InstanceSetting{Key: settingSetupDone, Value: now().Format("2006-01-02T15:04:05.999999Z07:00"), UpdatedAt: now()}
	res, err := tx.NewInsert().Model(row).On("CONFLICT (key) DO NOTHING").Exec(ctx)
	if err != nil {
		return fmt.Errorf("setup: mark done: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrSetupDone
	}
	return nil
}

// MarkSetupDone records that setup happened (used when the CLI creates a user).
func MarkSetupDone(ctx context.Context, db bun.IDB) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		err := markSetupDone(ctx, tx)
		if errors.Is(err, ErrSetupDone) {
			return nil
		}
		return err
	})
}

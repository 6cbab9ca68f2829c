package models

import (
	"context"
	"encoding/json"
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

// AuditVerification is the outcome of the last chain verification.
type AuditVerification struct {
	At       time.Time `json:"at"`
	Rows     int       `json:"rows"`
	OK       bool      `json:"ok"`
	Problem  string    `json:"problem,omitempty"`
	By       string    `json:"by"`
	HeadSeq  int64     `json:"head_seq,omitempty"`
	HeadHash string    `json:"head_hash,omitempty"`
}

const settingAuditVerify = "audit_last_verification"

// VerifyAndRecordAuditChain verifies the chain and stores the outcome.
func VerifyAndRecordAuditChain(ctx context.Context, db bun.IDB, actor Actor) (AuditVerification, error) {
	by := actor.Label
	prev, err := LastAuditVerification(ctx, db)
	if err != nil {
		return AuditVerification{}, err
	}
	n, verr := VerifyAuditChain(ctx, db)
	head, err := AuditHead(ctx, db)
	if err != nil {
		return AuditVerification{}, err
	}
	// Rows removed from the end (or a restored old backup) leave a chain
	// that verifies: compare with the head the last verification saw.
	if verr == nil && prev != nil && prev.OK && prev.HeadSeq > 0 {
		if old, err := AuditBySeq(ctx, db, prev.HeadSeq); err != nil || old.Hash != prev.HeadHash {
			verr = fmt.Errorf("audit: verify: row %d, the chain head verified on %s, is missing or changed: rows were removed",
				prev.HeadSeq, prev.At.UTC().Format("2006-01-02 15:04 UTC"))
		}
	}
	if by == "" {
		by = "system"
	}
	res := AuditVerification{At: now(), Rows: n, OK: verr == nil, By: by}
	if head != nil && verr == nil {
		res.HeadSeq, res.HeadHash = head.Seq, head.Hash
	} else if prev != nil {
		res.HeadSeq, res.HeadHash = prev.HeadSeq, prev.HeadHash // keep the last good head
	}
	if verr != nil {
		res.Problem = verr.Error()
	}
	b, err := json.Marshal(res)
	if err != nil {
		return res, err
	}
	row := &InstanceSetting{Key: settingAuditVerify, Value: string(b), UpdatedAt: res.At}
	err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(row).On("CONFLICT (key) DO UPDATE").Set("value = EXCLUDED.value").Set("updated_at = EXCLUDED.updated_at").Exec(ctx); err != nil {
			return fmt.Errorf("audit: record verification: %w", err)
		}
		return WriteAudit(ctx, tx, actor, AuditEntry{Action: "audit.verify", ResourceType: "audit", ResourceID: "chain",
			New: map[string]any{"rows": res.Rows, "ok": res.OK, "problem": res.Problem}})
	})
	if err != nil {
		return res, err
	}
	return res, verr
}

// LastAuditVerification returns the stored outcome, or nil if never verified.
func LastAuditVerification(ctx context.Context, db bun.IDB) (*AuditVerification, error) {
	row := new(InstanceSetting)
	err := db.NewSelect().Model(row).Where("key = ?", settingAuditVerify).Scan(ctx)
	if errors.Is(mapErr(err), ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("audit: read verification: %w", err)
	}
	v := new(AuditVerification)
	if err := json.Unmarshal([]byte(row.Value), v); err != nil {
		return nil, fmt.Errorf("audit: read verification: %w", err)
	}
	return v, nil
}

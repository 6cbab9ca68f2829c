package models

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// LoginAttempt records one sign-in attempt (never the password).
type LoginAttempt struct {
	bun.BaseModel `bun:"table:login_attempts,alias:la"`

	ID        uuid.UUID  `bun:"id,pk,type:uuid"`
	Email     string     `bun:"email,notnull"` // lower-cased as typed
	UserID    *uuid.UUID `bun:"user_id,type:uuid"`
	IP        string     `bun:"ip,notnull"`
	UserAgent string     `bun:"user_agent,notnull"`
	Method    string     `bun:"method,notnull"` // "password" or a provider name
	Success   bool       `bun:"success,notnull"`
	Reason    string     `bun:"reason,notnull"` // why it failed
	CreatedAt time.Time  `bun:"created_at,notnull"`
}

// Reasons a sign-in attempt failed. Only ReasonBadCredentials counts
// towards throttling.
const (
	ReasonBadCredentials = "bad_credentials"
	ReasonDisabled       = "disabled"
	ReasonAPIOnly        = "api_only"
	ReasonThrottled      = "throttled"
	ReasonRejected       = "rejected"
	// ReasonPending marks an attempt whose password is being checked. It
	// counts as a failure, so concurrent guesses see each other at once.
	ReasonPending = "pending"
)

// RecordLoginAttempt stores the attempt and its audit row in one transaction.
func RecordLoginAttempt(ctx context.Context, db bun.IDB, a *LoginAttempt) error {
	prepareAttempt(a)
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(a).Exec(ctx); err != nil {
			return fmt.Errorf("login attempts: record: %w", err)
		}
		return auditAttempt(ctx, tx, a)
	})
}

// BeginLoginAttempt stores a pending attempt before the password is checked
// (it counts towards throttling straight away); FinishLoginAttempt settles it.
func BeginLoginAttempt(ctx context.Context, db bun.IDB, a *LoginAttempt) error {
	prepareAttempt(a)
	a.Reason = ReasonPending
	if _, err := db.NewInsert().Model(a).Exec(ctx); err != nil {
		return fmt.Errorf("login attempts: begin: %w", err)
	}
	return nil
}

// FinishLoginAttempt records the outcome of a pending attempt and its audit
// row in one transaction.
func FinishLoginAttempt(ctx context.Context, db bun.IDB, a *LoginAttempt) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewUpdate().Model(a).Column("user_id", "success", "reason").WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("login attempts: finish: %w", err)
		}
		return auditAttempt(ctx, tx, a)
	})
}

func prepareAttempt(a *LoginAttempt) {
	a.ID = NewID()
	a.Email = strings.ToLower(strings.TrimSpace(truncate(a.Email, 254)))
	a.UserAgent = truncate(a.UserAgent, 500)
	if a.Method == "" {
		a.Method = "password"
	}
	a.CreatedAt = now()
}

// auditAttempt writes auth.login or auth.login_failed (and, on success,
// stamps the user's last_login_at in the same transaction). A failed attempt's
// actor is anonymous (it may be an attacker); the account it targeted is
// the resource.
func auditAttempt(ctx context.Context, tx bun.Tx, a *LoginAttempt) error {
	action, rtype, rid := "auth.login_failed", "login", a.Email
	actor := Actor{Label: a.Email, IP: a.IP, UserAgent: a.UserAgent}
	if a.Success {
		action = "auth.login"
		actor.UserID = a.UserID
		if a.UserID != nil {
			if _, err := tx.NewUpdate().Model((*User)(nil)).Set("last_login_at = ?", a.CreatedAt).Where("id = ?", *a.UserID).Exec(ctx); err != nil {
				return fmt.Errorf("users: record login: %w", err)
			}
		}
	}
	if a.UserID != nil {
		rtype, rid = "user", a.UserID.String()
	}
	return WriteAudit(ctx, tx, actor, AuditEntry{
		Action: action, ResourceType: rtype, ResourceID: rid,
		New: map[string]any{"email": a.Email, "method": a.Method, "success": a.Success, "reason": a.Reason},
	})
}

// RecentFailures counts bad-credential failures since `since` for an email
// (when email != "") or an IP (when ip != ""), and returns the time of the
// oldest one counted (for Retry-After).
func RecentFailures(ctx context.Context, db bun.IDB, email, ip string, since time.Time) (int, time.Time, error) {
	var row struct {
		N      int        `bun:"n"`
		Oldest *time.Time `bun:"oldest"`
	}
	q := db.NewSelect().Model((*LoginAttempt)(nil)).ColumnExpr("count(*) AS n").ColumnExpr("min(la.created_at) AS oldest").
		Where("la.success = ?", false).Where("la.reason IN (?, ?)", ReasonBadCredentials, ReasonPending).
		Where("la.created_at > ?", since.UTC().Truncate(time.Microsecond))
	if email != "" {
		q = q.Where("la.email = ?", strings.ToLower(strings.TrimSpace(email)))
	}
	if ip != "" {
		q = q.Where("la.ip = ?", ip)
	}
	if email == "" && ip == "" {
		return 0, time.Time{}, nil
	}
	if err := q.Scan(ctx, &row); err != nil {
		return 0, time.Time{}, fmt.Errorf("login attempts: count: %w", err)
	}
	var oldest time.Time
	if row.Oldest != nil {
		oldest = *row.Oldest
	}
	return row.N, oldest, nil
}

// DeleteOldLoginAttempts removes attempts older than before (the audit log
// keeps the permanent record).
func DeleteOldLoginAttempts(ctx context.Context, db bun.IDB, before time.Time) (int64, error) {
	res, err := db.NewDelete().Model((*LoginAttempt)(nil)).Where("created_at < ?", before.UTC()).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("login attempts: prune: %w", err)
	}
	return res.RowsAffected()
}

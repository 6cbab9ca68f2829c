package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Session is a server-side web session. Only a hash of the session id is
// stored, so a database leak does not hand out live sessions.
type Session struct {
	bun.BaseModel `bun:"table:sessions,alias:s"`

	IDHash     string     `bun:"id_hash,pk"`
	UserID     *uuid.UUID `bun:"user_id,type:uuid"` // nil before sign-in
	Data       []byte     `bun:"data"`
	IP         string     `bun:"ip,notnull"`
	UserAgent  string     `bun:"user_agent,notnull"`
	CreatedAt  time.Time  `bun:"created_at,notnull"`
	LastSeenAt time.Time  `bun:"last_seen_at,notnull"`
	ExpiresAt  time.Time  `bun:"expires_at,notnull"` // absolute limit
}

// HashSessionID is the stored form of a session id.
func HashSessionID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// SessionByHash loads a session row (expired or not: the caller decides).
func SessionByHash(ctx context.Context, db bun.IDB, hash string) (*Session, error) {
	s := new(Session)
	if err := db.NewSelect().Model(s).Where("s.id_hash = ?", hash).Scan(ctx); err != nil {
		return nil, fmt.Errorf("sessions: load: %w", mapErr(err))
	}
	return s, nil
}

// InsertSession stores a new session row.
func InsertSession(ctx context.Context, db bun.IDB, s *Session) error {
	normaliseSession(s)
	if _, err := db.NewInsert().Model(s).Exec(ctx); err != nil {
		return fmt.Errorf("sessions: insert: %w", err)
	}
	return nil
}

// UpdateSession rewrites an existing session row. It reports false, and
// writes nothing, when the row is gone: the session was ended (sign-out,
// "end session", a password change) while this request was in flight, and
// must not come back.
func UpdateSession(ctx context.Context, db bun.IDB, s *Session) (bool, error) {
	normaliseSession(s)
	res, err := db.NewUpdate().Model(s).Column("user_id", "data", "ip", "user_agent", "last_seen_at", "expires_at").WherePK().Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("sessions: update: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// SaveSession inserts a session row (tests and tools; the web store uses
// InsertSession and UpdateSession).
func SaveSession(ctx context.Context, db bun.IDB, s *Session) error {
	return InsertSession(ctx, db, s)
}

func normaliseSession(s *Session) {
	s.CreatedAt = s.CreatedAt.UTC().Truncate(time.Microsecond)
	s.LastSeenAt = s.LastSeenAt.UTC().Truncate(time.Microsecond)
	s.ExpiresAt = s.ExpiresAt.UTC().Truncate(time.Microsecond)
	s.UserAgent = truncate(s.UserAgent, 500)
}

// TouchSession records activity (for the idle timeout).
func TouchSession(ctx context.Context, db bun.IDB, hash string, at time.Time) error {
	_, err := db.NewUpdate().Model((*Session)(nil)).Set("last_seen_at = ?", at.UTC().Truncate(time.Microsecond)).
		Where("id_hash = ?", hash).Exec(ctx)
	if err != nil {
		return fmt.Errorf("sessions: touch: %w", err)
	}
	return nil
}

// DeleteSession removes one session.
func DeleteSession(ctx context.Context, db bun.IDB, hash string) error {
	if _, err := db.NewDelete().Model((*Session)(nil)).Where("id_hash = ?", hash).Exec(ctx); err != nil {
		return fmt.Errorf("sessions: delete: %w", err)
	}
	return nil
}

// ListUserSessions returns a user's sessions, most recently active first.
func ListUserSessions(ctx context.Context, db bun.IDB, userID uuid.UUID) ([]*Session, error) {
	var out []*Session
	err := db.NewSelect().Model(&out).Where("s.user_id = ?", userID).Where("s.expires_at > ?", now()).
		Order("s.last_seen_at DESC").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("sessions: list for %s: %w", userID, err)
	}
	return out, nil
}

// EndUserSessions deletes a user's sessions, except the one whose hash is
// keep (pass "" to end them all), and audits it. It returns how many ended.
func EndUserSessions(ctx context.Context, db bun.IDB, actor Actor, userID uuid.UUID, keep string) (int, error) {
	var n int
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		q := tx.NewDelete().Model((*Session)(nil)).Where("user_id = ?", userID)
		if keep != "" {
			q = q.Where("id_hash <> ?", keep)
		}
		res, err := q.Exec(ctx)
		if err != nil {
			return fmt.Errorf("sessions: end for %s: %w", userID, err)
		}
		affected, _ := res.RowsAffected()
		n = int(affected)
		return WriteAudit(ctx, tx, actor, AuditEntry{
			Action: "session.end", ResourceType: "user", ResourceID: userID.String(),
			New: map[string]any{"ended": n, "kept_current": keep != ""},
		})
	})
	return n, err
}

// EndSession deletes one of a user's sessions by hash, and audits it.
func EndSession(ctx context.Context, db bun.IDB, actor Actor, userID uuid.UUID, hash string) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewDelete().Model((*Session)(nil)).Where("user_id = ?", userID).Where("id_hash = ?", hash).Exec(ctx)
		if err != nil {
			return fmt.Errorf("sessions: end: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sessions: end: %w", ErrNotFound)
		}
		return WriteAudit(ctx, tx, actor, AuditEntry{
			Action: "session.end", ResourceType: "user", ResourceID: userID.String(),
			New: map[string]any{"ended": 1, "session": hash[:12]},
		})
	})
}

// DeleteExpiredSessions removes sessions past their absolute expiry or idle
// for longer than idle, and returns how many it removed.
func DeleteExpiredSessions(ctx context.Context, db bun.IDB, at time.Time, idle time.Duration) (int64, error) {
	at = at.UTC().Truncate(time.Microsecond)
	res, err := db.NewDelete().Model((*Session)(nil)).
		WhereOr("expires_at <= ?", at).WhereOr("last_seen_at <= ?", at.Add(-idle)).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("sessions: delete expired: %w", err)
	}
	return res.RowsAffected()
}

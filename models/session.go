package models

import (
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
	ExpiresAt  time.Time  `bun:"expires_at,notnull"`
}

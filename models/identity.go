package models

import (
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

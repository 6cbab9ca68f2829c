package models

import (
	"time"

	"github.com/google/uuid"
)

// NewID returns a time-ordered UUIDv7, so primary-key indexes stay append-mostly.
func NewID() uuid.UUID {
	return uuid.Must(uuid.NewV7())
}

// now is the timestamp stored for "now": UTC with microsecond precision, the
// precision both Postgres and our SQLite encoding keep, so values round-trip.
func now() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

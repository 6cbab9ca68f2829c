package models

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// DatabaseUnreachable reports whether err means the database cannot be
// reached right now — a request that failed for it may succeed if retried
// later (the web answers 503 with Retry-After), unlike a query that is
// wrong (500). It is true for:
//   - connecting failed (refused, timed out, authentication, a dropped
//     database: *pgconn.ConnectError), or the network failed mid-query
//     (*net.OpError; io.ErrUnexpectedEOF, pgx's word for a connection the
//     server or the network closed — request bodies are read before any
//     handler runs and their decoding errors are 400s, so an EOF that gets
//     this far is the database's);
//   - database/sql gave up on bad connections (driver.ErrBadConn), or the
//     pool is closed (the process is shutting down);
//   - Postgres is shutting down, starting up or broke the connection
//     (SQLSTATE class 08, 57P01–57P03).
//
// It is false for SQLite's "database is locked" (SQLITE_BUSY): with one
// connection and a 10 s busy timeout that means another process held the
// write lock for that long, or a bug — contention to investigate, not an
// outage a client should wait out. A context deadline is not an outage
// either: requests have none of their own, so one that expired was set
// by code that chose to give up.
func DatabaseUnreachable(err error) bool {
	if err == nil {
		return false
	}
	var ce *pgconn.ConnectError
	var oe *net.OpError
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &ce), errors.As(err, &oe), errors.Is(err, driver.ErrBadConn), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.As(err, &pe):
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	// database/sql's and pgxpool's "closed" errors are not exported.
	msg := err.Error()
	return strings.Contains(msg, "sql: database is closed") || strings.HasSuffix(msg, "closed pool")
}

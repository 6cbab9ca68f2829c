package models

import (
	"database/sql"
	"errors"
	"strings"
)

var (
	// ErrNotFound is returned when a row does not exist (mapped to 404).
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when a unique constraint would be violated.
	ErrConflict = errors.New("already exists")
)

// ValidationError describes invalid input, field by field.
type ValidationError struct {
	Fields map[string]string
}

func (e *ValidationError) Error() string {
	parts := make([]string, 0, len(e.Fields))
	for k, v := range e.Fields {
		parts = append(parts, k+": "+v)
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// fieldErrors collects validation problems; nil when there are none.
type fieldErrors map[string]string

func (f fieldErrors) err() error {
	if len(f) == 0 {
		return nil
	}
	return &ValidationError{Fields: f}
}

// mapErr turns driver errors into the package's sentinel errors.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	msg := err.Error()
	// Postgres 23505 unique_violation; SQLite "UNIQUE constraint failed".
	if strings.Contains(msg, "23505") || strings.Contains(msg, "UNIQUE constraint failed") {
		return errors.Join(ErrConflict, err)
	}
	return err
}

// joinFieldErrors merges two validation results (either may be nil).
func joinFieldErrors(a, b error) error {
	var va, vb *ValidationError
	if !errors.As(a, &va) {
		return b
	}
	if errors.As(b, &vb) {
		for k, v := range vb.Fields {
			va.Fields[k] = v
		}
	}
	return va
}

package testutil

import (
	"context"
	"testing"

	"github.com/codex32/codex32/models"
)

// TestPassword is the password CreateUserWithPassword gives.
const TestPassword = "correct horse battery staple"

// CreateUserWithPassword inserts an active user with TestPassword.
func CreateUserWithPassword(tb testing.TB, db *models.DB, role models.Role) *models.User {
	tb.Helper()
	u := CreateUser(tb, db, role)
	if _, err := models.SetUserPassword(context.Background(), db.Bun, models.SystemActor("test"), u.ID, TestPassword); err != nil {
		tb.Fatalf("testutil: set password: %v", err)
	}
	got, err := models.UserByID(context.Background(), db.Bun, u.ID)
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

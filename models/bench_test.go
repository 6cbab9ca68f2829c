package models_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

// The seed's baseline: create user, create bot, list a user's bots, count
// bots by status. Each write here is a full transaction that also appends a
// hash-chained audit row (more work than the seed's bare insert).

func BenchmarkCreateUser(b *testing.B) {
	db := testutil.NewDB(b)
	actor := models.SystemActor("bench")
	i := 0
	for b.Loop() {
		i++
		u := &models.User{Email: fmt.Sprintf("bench_user_%d@test.local", i), Username: fmt.Sprintf("bench_user_%d", i), Role: models.RoleUser, IsActive: true}
		if err := models.CreateUser(ctx, db.Bun, actor, u); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCreateBot(b *testing.B) {
	db := testutil.NewDB(b)
	owner := testutil.CreateUser(b, db, models.RoleAdmin)
	actor := models.Actor{UserID: &owner.ID, Label: owner.Email}
	config := json.RawMessage(`{"url":"https://example.test/hook","method":"POST"}`)
	i := 0
	for b.Loop() {
		i++
		bot := &models.Bot{OwnerID: owner.ID, Name: fmt.Sprintf("Bench Bot %d", i), Kind: models.KindHTTP, Status: models.BotInactive, Tags: []string{"bench"}}
		if _, err := models.CreateBot(ctx, db.Bun, actor, bot, config, "initial"); err != nil {
			b.Fatal(err)
		}
	}
}

// seedBots gives 10 users 100 bots each (statuses spread evenly).
func seedBots(b *testing.B, db *models.DB) []*models.User {
	b.Helper()
	users := make([]*models.User, 10)
	for i := range users {
		users[i] = testutil.CreateUser(b, db, models.RoleUser)
		actor := models.Actor{UserID: &users[i].ID}
		for j := range 100 {
			bot := &models.Bot{OwnerID: users[i].ID, Name: fmt.Sprintf("bot %d", j), Kind: models.KindHTTP, Status: models.BotStatuses[j%4]}
			if _, err := models.CreateBot(ctx, db.Bun, actor, bot, json.RawMessage(`{"url":"https://example.test"}`), ""); err != nil {
				b.Fatal(err)
			}
		}
	}
	return users
}

func BenchmarkListUserBots(b *testing.B) {
	db := testutil.NewDB(b)
	users := seedBots(b, db)
	owner := users[3].ID
	for b.Loop() {
		bots, err := models.ListBots(ctx, db.Bun, models.BotFilter{OwnerID: &owner, Limit: 100})
		if err != nil {
			b.Fatal(err)
		}
		if len(bots) != 100 {
			b.Fatalf("got %d bots", len(bots))
		}
	}
}

func BenchmarkCountBotsByStatus(b *testing.B) {
	db := testutil.NewDB(b)
	seedBots(b, db)
	for b.Loop() {
		counts, err := models.CountBotsByStatus(ctx, db.Bun, nil)
		if err != nil {
			b.Fatal(err)
		}
		if counts[models.BotActive] != 250 {
			b.Fatalf("got %v", counts)
		}
	}
}

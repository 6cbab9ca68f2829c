package models_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

func TestQueryBotsFiltersAndCounts(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	alice := testutil.CreateUser(t, db, models.RoleUser)
	bob := testutil.CreateUser(t, db, models.RoleUser)
	mk := func(owner *models.User, name, desc string, kind models.BotKind, status models.BotStatus, tags ...string) *models.Bot {
		b := &models.Bot{OwnerID: owner.ID, Name: name, Description: desc, Kind: kind, Status: status, Tags: tags}
		_, err := models.CreateBot(ctx, db.Bun, models.Actor{UserID: &owner.ID}, b, json.RawMessage(`{"x":1}`), "")
		require.NoError(t, err)
		return b
	}
	mk(alice, "Status checker", "pings the status page", models.KindHTTP, models.BotActive, "ops")
	mk(alice, "Summariser", "summarises tickets", models.KindLLM, models.BotInactive, "support", "ops")
	mk(bob, "Invoice total", "adds up 100% of items", models.KindScript, models.BotActive)
	archived := mk(bob, "Old checker", "", models.KindHTTP, models.BotActive)
	_, err := models.SetBotArchived(ctx, db.Bun, models.Actor{}, archived.ID, true)
	require.NoError(t, err)

	names := func(q models.BotQuery) []string {
		t.Helper()
		p, err := models.QueryBots(ctx, db.Bun, q)
		require.NoError(t, err)
		out := []string{}
		for _, r := range p.Rows {
			out = append(out, r.Name)
		}
		require.Equal(t, len(out), p.Total, "total matches a single page here")
		return out
	}
	byName := models.BotQuery{Sort: models.SortName}
	require.Equal(t, []string{"Invoice total", "Status checker", "Summariser"}, names(byName))
	q := byName
	q.Search = "CHECK"
	require.Equal(t, []string{"Status checker"}, names(q), "case-insensitive, archived hidden")
	q.Archived = true
	require.Equal(t, []string{"Old checker"}, names(q))
	q = byName
	q.Search = "tickets"
	require.Equal(t, []string{"Summariser"}, names(q), "searches descriptions")
	q.Search = "100%"
	require.Equal(t, []string{"Invoice total"}, names(q), "% is literal")
	q.Search = "_"
	require.Empty(t, names(q), "_ is literal")
	q = byName
	q.Tag = "OPS"
	require.Equal(t, []string{"Status checker", "Summariser"}, names(q))
	q.Kind = models.KindLLM
	require.Equal(t, []string{"Summariser"}, names(q))
	q = byName
	q.Status = models.BotActive
	q.OwnerID = &bob.ID
	require.Equal(t, []string{"Invoice total"}, names(q))

	p, err := models.QueryBots(ctx, db.Bun, models.BotQuery{Search: "summ"})
	require.NoError(t, err)
	require.Len(t, p.Rows, 1)
	require.Equal(t, alice.Email, p.Rows[0].OwnerEmail)
	require.NotNil(t, p.Rows[0].ActiveVersion)
	require.Equal(t, 1, *p.Rows[0].ActiveVersion)
	require.InDelta(t, -1, p.Rows[0].SuccessRate(), 0, "never ran") // delta 0: exactly

	capped, err := models.QueryBots(ctx, db.Bun, models.BotQuery{CountCap: 2})
	require.NoError(t, err)
	require.Equal(t, 2, capped.Total)
	require.True(t, capped.TotalCapped, "counting stops at the cap")
	exact, err := models.QueryBots(ctx, db.Bun, models.BotQuery{CountCap: 3})
	require.NoError(t, err)
	require.Equal(t, 3, exact.Total)
	require.False(t, exact.TotalCapped)

	_, err = models.QueryBots(ctx, db.Bun, models.BotQuery{After: "!!not a cursor"})
	var ve *models.ValidationError
	require.ErrorAs(t, err, &ve)
}

func TestQueryBotsKeysetPagesCoverEverythingOnce(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	owner := testutil.CreateUser(t, db, models.RoleUser)
	const n = 23
	for i := range n {
		b := &models.Bot{OwnerID: owner.ID, Name: fmt.Sprintf("bot %02d", (i*7)%n), Kind: models.KindHTTP}
		_, err := models.CreateBot(ctx, db.Bun, models.Actor{}, b, json.RawMessage(`{}`), "")
		require.NoError(t, err)
		if i%3 == 0 {
			e := &models.Execution{BotID: b.ID}
			require.NoError(t, models.CreateExecution(ctx, db.Bun, e))
			start := time.Now().Add(-time.Duration(i) * time.Minute)
			require.NoError(t, models.FinishExecution(ctx, db.Bun, e.ID, models.ExecSuccess, nil, "", start, start.Add(time.Second)))
		}
	}
	for _, sort := range []string{models.SortUpdated, models.SortName, models.SortLastRun} {
		seen := map[uuid.UUID]bool{}
		var order []*models.BotRow
		after := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 10, "pagination terminates")
			p, err := models.QueryBots(ctx, db.Bun, models.BotQuery{Sort: sort, Limit: 5, After: after})
			require.NoError(t, err)
			require.Equal(t, n, p.Total)
			for _, r := range p.Rows {
				require.False(t, seen[r.ID], "%s: %s seen twice", sort, r.Name)
				seen[r.ID] = true
				order = append(order, r)
			}
			if p.Next == "" {
				break
			}
			after = p.Next
		}
		require.Len(t, seen, n, sort)
		for i := 1; i < len(order); i++ {
			a, b := order[i-1], order[i]
			switch sort {
			case models.SortName:
				require.LessOrEqual(t, a.Name, b.Name)
			case models.SortUpdated:
				require.False(t, a.UpdatedAt.Before(b.UpdatedAt))
			case models.SortLastRun:
				if a.LastExecutedAt == nil {
					require.Nil(t, b.LastExecutedAt, "never-run bots come last")
				} else if b.LastExecutedAt != nil {
					require.False(t, a.LastExecutedAt.Before(*b.LastExecutedAt))
				}
			}
		}
	}
}

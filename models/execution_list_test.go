package models_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

// execFixture is two bots with executions in known states and times.
type execFixture struct {
	db         *models.DB
	alice, bob *models.User
	b1, b2     *models.Bot
	base       time.Time
}

func newExecFixture(t *testing.T) *execFixture {
	t.Helper()
	db := testutil.NewDB(t)
	f := &execFixture{db: db, alice: testutil.CreateUser(t, db, models.RoleUser), bob: testutil.CreateUser(t, db, models.RoleUser),
		base: time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)}
	mk := func(name string) *models.Bot {
		b := &models.Bot{OwnerID: f.alice.ID, Name: name, Kind: models.KindHTTP, Status: models.BotActive}
		_, err := models.CreateBot(ctx, db.Bun, models.Actor{UserID: &f.alice.ID}, b, json.RawMessage(`{"url":"https://example.test"}`), "")
		require.NoError(t, err)
		return b
	}
	f.b1, f.b2 = mk("first"), mk("second")
	return f
}

func (f *execFixture) add(t *testing.T, b *models.Bot, s models.ExecStatus, tr models.Trigger, by *models.User, at time.Time) *models.Execution {
	t.Helper()
	e := &models.Execution{BotID: b.ID, VersionID: b.ActiveVersionID, Status: s, Trigger: tr, QueuedAt: at, Input: json.RawMessage(`{"n":1}`)}
	if by != nil {
		e.RequestedBy = &by.ID
	}
	if s.Terminal() {
		end := at.Add(1500 * time.Millisecond)
		ms := 1500.0
		e.StartedAt, e.EndedAt, e.DurationMS = &at, &end, &ms
	}
	require.NoError(t, models.CreateExecution(ctx, f.db.Bun, e))
	return e
}

func TestQueryExecutionsFilters(t *testing.T) {
	t.Parallel()
	f := newExecFixture(t)
	day := 24 * time.Hour
	e1 := f.add(t, f.b1, models.ExecSuccess, models.TriggerManual, f.alice, f.base)
	e2 := f.add(t, f.b1, models.ExecFailed, models.TriggerAPI, f.bob, f.base.Add(day))
	e3 := f.add(t, f.b2, models.ExecQueued, models.TriggerSchedule, nil, f.base.Add(2*day))
	e4 := f.add(t, f.b2, models.ExecSuccess, models.TriggerReplay, f.alice, f.base.Add(3*day))

	ids := func(q models.ExecutionQuery) []uuid.UUID {
		t.Helper()
		p, err := models.QueryExecutions(ctx, f.db.Bun, q)
		require.NoError(t, err)
		out := []uuid.UUID{}
		for _, r := range p.Rows {
			out = append(out, r.ID)
		}
		require.Equal(t, len(out), p.Total, "the total matches a single page here")
		require.False(t, p.TotalCapped)
		return out
	}
	require.Equal(t, []uuid.UUID{e4.ID, e3.ID, e2.ID, e1.ID}, ids(models.ExecutionQuery{}), "newest first")
	require.Equal(t, []uuid.UUID{e4.ID, e1.ID}, ids(models.ExecutionQuery{Status: models.ExecSuccess}))
	require.Equal(t, []uuid.UUID{e2.ID, e1.ID}, ids(models.ExecutionQuery{BotIDs: []uuid.UUID{f.b1.ID}}))
	require.Equal(t, []uuid.UUID{e4.ID, e3.ID, e2.ID, e1.ID}, ids(models.ExecutionQuery{BotIDs: []uuid.UUID{f.b1.ID, f.b2.ID}}))
	require.Equal(t, []uuid.UUID{e2.ID}, ids(models.ExecutionQuery{Trigger: models.TriggerAPI}))
	require.Equal(t, []uuid.UUID{e4.ID, e1.ID}, ids(models.ExecutionQuery{RequestedBy: &f.alice.ID}))
	from, to := f.base.Add(day), f.base.Add(3*day)
	require.Equal(t, []uuid.UUID{e3.ID, e2.ID}, ids(models.ExecutionQuery{From: &from, To: &to}), "[from, to)")
	require.Equal(t, []uuid.UUID{e4.ID}, ids(models.ExecutionQuery{BotIDs: []uuid.UUID{f.b2.ID}, Status: models.ExecSuccess, RequestedBy: &f.alice.ID}))
	nobody := uuid.Nil
	require.Empty(t, ids(models.ExecutionQuery{RequestedBy: &nobody}))

	// A row carries what the history shows.
	p, err := models.QueryExecutions(ctx, f.db.Bun, models.ExecutionQuery{Trigger: models.TriggerAPI})
	require.NoError(t, err)
	r := p.Rows[0]
	require.Equal(t, "first", r.BotName)
	require.NotNil(t, r.VersionNumber)
	require.Equal(t, 1, *r.VersionNumber)
	require.NotNil(t, r.RequesterEmail)
	require.Equal(t, f.bob.Email, *r.RequesterEmail)
	require.Equal(t, models.ExecFailed, r.Status)
	require.NotNil(t, r.DurationMS)
	require.InDelta(t, 1500, *r.DurationMS, 0.001)
	require.True(t, r.QueuedAt.Equal(f.base.Add(day)))
	require.True(t, r.Final())

	p, err = models.QueryExecutions(ctx, f.db.Bun, models.ExecutionQuery{Trigger: models.TriggerSchedule})
	require.NoError(t, err)
	require.Nil(t, p.Rows[0].RequesterEmail, "no requester")
	require.False(t, p.Rows[0].Final())

	capped, err := models.QueryExecutions(ctx, f.db.Bun, models.ExecutionQuery{CountCap: 3})
	require.NoError(t, err)
	require.Equal(t, 3, capped.Total)
	require.True(t, capped.TotalCapped, "counting stops at the cap")

	var ve *models.ValidationError
	_, err = models.QueryExecutions(ctx, f.db.Bun, models.ExecutionQuery{After: "!!not a cursor"})
	require.ErrorAs(t, err, &ve)

	rows, err := models.ExecutionRowsByID(ctx, f.db.Bun, []uuid.UUID{e1.ID, e3.ID, uuid.New()})
	require.NoError(t, err)
	require.Len(t, rows, 2, "unknown ids are left out")
	require.Equal(t, e3.ID, rows[0].ID)
	require.Equal(t, e1.ID, rows[1].ID)
}

// Pages walk every execution exactly once, in (queued_at, id) order, even
// when many share a queued_at (the id breaks the tie) and with a filter.
func TestQueryExecutionsKeysetPages(t *testing.T) {
	t.Parallel()
	f := newExecFixture(t)
	const n = 37
	for i := range n {
		at := f.base.Add(time.Duration(i/4) * time.Second) // groups of 4 share a time
		s := models.ExecSuccess
		if i%3 == 0 {
			s = models.ExecFailed
		}
		f.add(t, []*models.Bot{f.b1, f.b2}[i%2], s, models.TriggerManual, f.alice, at)
	}
	for _, tc := range []struct {
		name string
		q    models.ExecutionQuery
		want int
	}{
		{"all", models.ExecutionQuery{}, n},
		{"failed", models.ExecutionQuery{Status: models.ExecFailed}, 13},
		{"one bot", models.ExecutionQuery{BotIDs: []uuid.UUID{f.b2.ID}}, 18},
	} {
		seen := map[uuid.UUID]bool{}
		var order []*models.ExecutionRow
		q := tc.q
		q.Limit = 5
		for pages := 0; ; pages++ {
			require.Less(t, pages, 20, "pagination terminates")
			p, err := models.QueryExecutions(ctx, f.db.Bun, q)
			require.NoError(t, err)
			require.Equal(t, tc.want, p.Total)
			require.LessOrEqual(t, len(p.Rows), 5)
			for _, r := range p.Rows {
				require.False(t, seen[r.ID], "%s: %s seen twice", tc.name, r.ID)
				seen[r.ID] = true
				order = append(order, r)
			}
			if p.Next == "" {
				break
			}
			q.After = p.Next
		}
		require.Len(t, seen, tc.want, tc.name)
		for i := 1; i < len(order); i++ {
			a, b := order[i-1], order[i]
			require.False(t, a.QueuedAt.Before(b.QueuedAt), tc.name)
			if a.QueuedAt.Equal(b.QueuedAt) {
				require.Greater(t, a.ID.String(), b.ID.String(), tc.name)
			}
		}
	}
}

package models_test

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
)

func TestSeed(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	// An existing user and its audit row: the seeded chain must continue it.
	first := testutil.CreateUser(t, db, models.RoleAdmin)
	var head models.AuditLog
	require.NoError(t, db.Bun.NewSelect().Model(&head).Order("seq DESC").Limit(1).Scan(ctx))
	require.EqualValues(t, 1, head.Seq)

	var stages []string
	st, err := models.Seed(ctx, db, models.SeedOptions{
		Users: 5, Bots: 50, VersionsPerBot: 3, Executions: 500, Audit: 300,
		Rand: rand.New(rand.NewPCG(1, 2)),
		Progress: func(stage string, done, total int) {
			require.LessOrEqual(t, done, total)
			if !slices.Contains(stages, stage) {
				stages = append(stages, stage)
			}
		},
	})
	require.NoError(t, err)
	// Users first; audit rows are written alongside bots and executions.
	require.ElementsMatch(t, []string{"users", "bots", "executions", "audit"}, stages)
	require.Equal(t, "users", stages[0])
	require.Less(t, slices.Index(stages, "bots"), slices.Index(stages, "executions"))
	require.Equal(t, 5, st.Users)
	require.Equal(t, 50, st.Bots)
	require.Equal(t, 150, st.Versions)
	require.Equal(t, 500, st.Executions)
	require.Equal(t, 300, st.Audit)
	require.Equal(t, 5+50+150+500+300+st.Tags, st.Rows())

	require.Equal(t, 6, count(t, db, "users", ""))
	require.Equal(t, 50, count(t, db, "bots", ""))
	require.Equal(t, 150, count(t, db, "bot_versions", ""))
	require.Equal(t, st.Tags, count(t, db, "bot_tags", ""))
	require.Equal(t, 500, count(t, db, "bot_executions", ""))
	require.Equal(t, 301, count(t, db, "audit_logs", ""))

	checkSeededData(t, db)

	// The chain verifies and the seeded rows continue the existing head.
	n, err := models.VerifyAuditChain(ctx, db.Bun)
	require.NoError(t, err)
	require.Equal(t, 301, n)
	var second models.AuditLog
	require.NoError(t, db.Bun.NewSelect().Model(&second).Where("seq = 2").Scan(ctx))
	require.Equal(t, head.Hash, second.PrevHash)

	// Audit rows name seeded things: each bot is created at most once.
	var creates struct{ N, Uniq int }
	require.NoError(t, db.Bun.NewRaw(`SELECT count(*) AS n, count(DISTINCT resource_id) AS uniq
		FROM audit_logs WHERE action = 'bot.create'`).Scan(ctx, &creates))
	require.Equal(t, creates.N, creates.Uniq)
	var unknownBots int
	require.NoError(t, db.Bun.NewRaw(`SELECT count(*) FROM audit_logs AS a
		WHERE a.bot_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM bots AS b WHERE b.id = a.bot_id)`).Scan(ctx, &unknownBots))
	require.Zero(t, unknownBots)

	// One admin among the seeded users, emails unique and realistic.
	var admins int
	require.NoError(t, db.Bun.NewRaw("SELECT count(*) FROM users WHERE role = 'admin' AND id <> ?", first.ID).Scan(ctx, &admins))
	require.GreaterOrEqual(t, admins, 1)
	u, err := models.UserByEmail(ctx, db.Bun, "ada.lovelace+2@example.test")
	require.NoError(t, err, "the first seeded user is numbered after the existing one")
	require.Equal(t, models.RoleAdmin, u.Role)

	// A second run adds more without breaking anything.
	st2, err := models.Seed(ctx, db, models.SeedOptions{Users: 2, Bots: 10, VersionsPerBot: 2, Executions: 100, Audit: 50})
	require.NoError(t, err)
	require.Equal(t, 8, count(t, db, "users", ""))
	require.Equal(t, 60, count(t, db, "bots", ""))
	require.Equal(t, 170, count(t, db, "bot_versions", ""))
	require.Equal(t, st.Tags+st2.Tags, count(t, db, "bot_tags", ""))
	require.Equal(t, 600, count(t, db, "bot_executions", ""))
	n, err = models.VerifyAuditChain(ctx, db.Bun)
	require.NoError(t, err)
	require.Equal(t, 351, n)
	checkSeededData(t, db)

	// Users only: audit rows then need no bots.
	_, err = models.Seed(ctx, db, models.SeedOptions{Audit: 20})
	require.NoError(t, err, "existing users act in the audit rows")
	n, err = models.VerifyAuditChain(ctx, db.Bun)
	require.NoError(t, err)
	require.Equal(t, 371, n)

	// And the regular audit writer continues the seeded chain.
	testutil.CreateUser(t, db, models.RoleViewer)
	n, err = models.VerifyAuditChain(ctx, db.Bun)
	require.NoError(t, err)
	require.Equal(t, 372, n)
}

// checkSeededData checks every seeded row against the rules the app keeps.
func checkSeededData(t *testing.T, db *models.DB) {
	t.Helper()
	var bots []*models.Bot
	require.NoError(t, db.Bun.NewSelect().Model(&bots).Scan(ctx))
	var versions []*models.BotVersion
	require.NoError(t, db.Bun.NewSelect().Model(&versions).Order("v.bot_id", "v.number").Scan(ctx))
	var execs []*models.Execution
	require.NoError(t, db.Bun.NewSelect().Model(&execs).Scan(ctx))
	var tags []models.BotTag
	require.NoError(t, db.Bun.NewSelect().Model(&tags).Scan(ctx))

	byBot := map[uuid.UUID][]*models.BotVersion{}
	versionBot := map[uuid.UUID]uuid.UUID{}
	for _, v := range versions {
		byBot[v.BotID] = append(byBot[v.BotID], v)
		versionBot[v.ID] = v.BotID
		// Configs are canonical, hashed, and valid for their kind.
		h, err := models.ConfigHash(v.Config)
		require.NoError(t, err)
		require.Equal(t, h, v.ContentHash, "content hash of %s v%d", v.BotID, v.Number)
		var obj map[string]any
		require.NoError(t, json.Unmarshal(v.Config, &obj), "config is a JSON object")
		_, err = runner.ValidateConfig(v.Kind, v.Config)
		require.NoError(t, err, "%s config of %s v%d: %s", v.Kind, v.BotID, v.Number, v.Config)
		require.NotEmpty(t, v.Changelog)
	}
	tagsOf := map[uuid.UUID][]string{}
	for _, bt := range tags {
		tagsOf[bt.BotID] = append(tagsOf[bt.BotID], bt.Tag)
	}
	type agg struct {
		total, ok, failed int64
		sum               float64
		last              time.Time
	}
	stats := map[uuid.UUID]*agg{}
	for _, e := range execs {
		require.Equal(t, e.BotID, versionBot[*e.VersionID], "execution runs a version of its own bot")
		require.True(t, e.Status.Valid() && e.Trigger.Valid())
		var in map[string]any
		require.NoError(t, json.Unmarshal(e.Input, &in))
		require.WithinDuration(t, time.Now().Add(-45*24*time.Hour), e.QueuedAt, 46*24*time.Hour, "within the last 90 days")
		switch e.Status {
		case models.ExecQueued:
			require.Nil(t, e.StartedAt)
			require.Nil(t, e.EndedAt)
		case models.ExecRunning:
			require.NotNil(t, e.StartedAt)
			require.Nil(t, e.EndedAt)
		default:
			require.NotNil(t, e.StartedAt)
			require.NotNil(t, e.EndedAt)
			require.False(t, e.StartedAt.Before(e.QueuedAt))
			require.InDelta(t, float64(e.EndedAt.Sub(*e.StartedAt).Microseconds())/1000, *e.DurationMS, 1e-9)
			require.Equal(t, e.Status == models.ExecSuccess, !absentJSON(e.Output), "%s output %q", e.Status, e.Output)
			require.Equal(t, e.Status != models.ExecSuccess, e.Error != "")
			a := stats[e.BotID]
			if a == nil {
				a = &agg{}
				stats[e.BotID] = a
			}
			a.total++
			a.sum += *e.DurationMS
			switch e.Status {
			case models.ExecSuccess:
				a.ok++
			case models.ExecFailed, models.ExecTimedOut:
				a.failed++
			}
			if e.EndedAt.After(a.last) {
				a.last = *e.EndedAt
			}
		}
	}
	for _, b := range bots {
		vs := byBot[b.ID]
		require.NotEmpty(t, vs)
		for i, v := range vs {
			require.Equal(t, i+1, v.Number)
			require.Equal(t, b.Kind, v.Kind)
			if i > 0 {
				require.True(t, v.CreatedAt.After(vs[i-1].CreatedAt))
				require.NotEqual(t, vs[i-1].ContentHash, v.ContentHash, "each version changes the config")
			}
		}
		require.Equal(t, vs[len(vs)-1].ID, *b.ActiveVersionID, "the latest version is active")
		require.ElementsMatch(t, b.Tags, tagsOf[b.ID])
		require.LessOrEqual(t, len(b.Tags), 3)
		require.True(t, b.Status.Valid())
		a := stats[b.ID]
		if a == nil {
			a = &agg{}
		}
		require.Equal(t, a.total, b.TotalExecutions, "bot %s", b.ID)
		require.Equal(t, a.ok, b.SuccessfulExecutions)
		require.Equal(t, a.failed, b.FailedExecutions)
		require.Equal(t, a.total, b.TimedExecutions)
		require.InDelta(t, a.sum*1000, float64(b.TotalDurationUS), 0.5*float64(a.total)+1e-6)
		if a.total == 0 {
			require.Nil(t, b.LastExecutedAt)
			continue
		}
		require.InDelta(t, a.sum/float64(a.total), b.AvgDurationMS, 1e-6)
		require.NotNil(t, b.LastExecutedAt)
		require.True(t, a.last.Equal(*b.LastExecutedAt), "last executed %s, want %s", b.LastExecutedAt, a.last)
	}

	// The same in SQL, over all bots at once.
	var sums struct {
		Total, OK, Failed int64
	}
	require.NoError(t, db.Bun.NewRaw(`SELECT sum(total_executions) AS total, sum(successful_executions) AS ok,
		sum(failed_executions) AS failed FROM bots`).Scan(ctx, &sums))
	var execSums struct {
		Total, OK, Failed int64
	}
	require.NoError(t, db.Bun.NewRaw(`SELECT count(*) AS total, sum(CASE WHEN status = 'success' THEN 1 ELSE 0 END) AS ok,
		sum(CASE WHEN status IN ('failed', 'timed_out') THEN 1 ELSE 0 END) AS failed
		FROM bot_executions WHERE status NOT IN ('queued', 'running')`).Scan(ctx, &execSums))
	require.Equal(t, execSums.Total, sums.Total)
	require.Equal(t, execSums.OK, sums.OK)
	require.Equal(t, execSums.Failed, sums.Failed)
}

// absentJSON reports a JSON column with no value: SQL NULL, or the JSON null
// Bun writes for a nil json.RawMessage.
func absentJSON(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

func TestSeedIsReproducible(t *testing.T) {
	t.Parallel()
	names := func() []string {
		db := testutil.NewDB(t)
		_, err := models.Seed(ctx, db, models.SeedOptions{Users: 3, Bots: 20, VersionsPerBot: 2, Rand: rand.New(rand.NewPCG(7, 7))})
		require.NoError(t, err)
		var out []string
		require.NoError(t, db.Bun.NewRaw("SELECT name FROM bots ORDER BY created_at").Scan(ctx, &out))
		return out
	}
	first := names()
	require.Equal(t, first, names())
}

func TestSeedRefusesBadOptions(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	for _, o := range []models.SeedOptions{
		{Users: -1},
		{Bots: 1, VersionsPerBot: 0},
		{Executions: 10},
		{Bots: 1, VersionsPerBot: 1}, // no users to own it
	} {
		_, err := models.Seed(ctx, db, o)
		require.Error(t, err, "%+v", o)
	}
	require.Equal(t, 0, count(t, db, "bots", ""))
}

func TestChainAuditRows(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	testutil.CreateUser(t, db, models.RoleUser)
	var head models.AuditLog
	require.NoError(t, db.Bun.NewSelect().Model(&head).Order("seq DESC").Limit(1).Scan(ctx))

	rows := []*models.AuditLog{
		{Action: "bot.update", ResourceType: "bot", ResourceID: "x", OldValues: json.RawMessage(`{"b": 1, "a": [1, 2]}`),
			NewValues: json.RawMessage(`{"b":2,"a":[1,2]}`), CreatedAt: time.Now().Add(-time.Hour)},
		{Action: "auth.logout", ResourceType: "user", ResourceID: "y"},
	}
	last, err := models.ChainAuditRows(head.Hash, head.Seq+1, rows)
	require.NoError(t, err)
	require.Equal(t, rows[1].Hash, last)
	require.Equal(t, head.Hash, rows[0].PrevHash)
	require.Equal(t, rows[0].Hash, rows[1].PrevHash)
	require.EqualValues(t, 2, rows[0].Seq)
	require.EqualValues(t, 3, rows[1].Seq)
	require.JSONEq(t, `{"a":[1,2],"b":1}`, string(rows[0].OldValues))
	require.Equal(t, `{"a":[1,2],"b":1}`, string(rows[0].OldValues), "stored canonical, as WriteAudit does")
	require.Nil(t, rows[1].OldValues, "absent values stay NULL")
	require.NotEqual(t, uuid.Nil, rows[1].ID)

	_, err = db.Bun.NewInsert().Model(&rows).Exec(ctx)
	require.NoError(t, err)
	n, err := models.VerifyAuditChain(ctx, db.Bun)
	require.NoError(t, err)
	require.Equal(t, 3, n)

	_, err = models.ChainAuditRows("", 1, []*models.AuditLog{{Action: "x", NewValues: json.RawMessage(`{nope`)}})
	require.Error(t, err)
}

// The app keeps writing audit rows while a seed runs: both interleave and
// the chain stays intact (seeded batches are re-chained onto the new head).
func TestSeedAuditWithConcurrentWriter(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	u := testutil.CreateUser(t, db, models.RoleUser)
	stop, started := make(chan struct{}), make(chan struct{})
	written := make(chan int)
	go func() {
		n := 0
		for {
			if n == 1 {
				close(started)
			}
			select {
			case <-stop:
				written <- n
				return
			default:
			}
			err := models.RecordEvent(ctx, db.Bun, models.Actor{UserID: &u.ID, Label: u.Email},
				models.AuditEntry{Action: "auth.logout", ResourceType: "user", ResourceID: u.ID.String()})
			if err != nil {
				t.Error(err)
			}
			n++
		}
	}()
	<-started // the writer is writing before the seed begins
	_, err := models.Seed(ctx, db, models.SeedOptions{Audit: 12000})
	close(stop)
	n := <-written
	require.NoError(t, err)
	require.Positive(t, n)
	checked, err := models.VerifyAuditChain(ctx, db.Bun)
	require.NoError(t, err)
	require.Equal(t, 1+12000+n, checked)
}

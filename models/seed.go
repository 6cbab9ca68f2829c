package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"
)

// SeedOptions says how much synthetic data Seed adds.
type SeedOptions struct {
	// Users to create. With 0, bots and audit rows use (up to 1,000 of) the
	// users already in the database.
	Users int
	// Bots to create, each with VersionsPerBot versions (at least 1 when
	// Bots > 0); the latest is active.
	Bots, VersionsPerBot int
	// Executions spread over the bots created in the same call (Bots > 0).
	Executions int
	// Audit rows appended to the existing chain.
	Audit int
	// Rand drives every choice (math/rand/v2), so a seed gives the same data
	// again (ids and "now" aside); nil means randomly seeded. Seed uses it
	// from its own goroutines, one at a time: leave it alone until Seed returns.
	Rand *rand.Rand
	// Progress, if set, is called after each batch with the stage ("users",
	// "bots", "executions", "audit") and its done/total counts. Audit rows
	// are written while the bots and executions are; calls never overlap.
	Progress func(stage string, done, total int)
}

// SeedStats counts the rows Seed inserted.
type SeedStats struct {
	Users, Bots, Versions, Tags, Executions, Audit int
}

// Rows is the number of rows inserted into all tables.
func (s SeedStats) Rows() int { return s.Users + s.Bots + s.Versions + s.Tags + s.Executions + s.Audit }

// Seed stages, as reported to SeedOptions.Progress.
const (
	SeedStageUsers      = "users"
	SeedStageBots       = "bots"
	SeedStageExecutions = "executions"
	SeedStageAudit      = "audit"
)

// Seed fills db with realistic synthetic data for demos and benchmarks:
// users, bots with versions and tags, executions over the last 90 days (the
// bots' statistics match them) and audit rows chained onto the existing log.
//
// It is fast rather than transactional: batches commit as they go. Each bot
// commits with its versions and tags, and each audit batch extends the chain
// intact; but a bot's statistics are computed before its executions are
// inserted (so bots go in once, with their final counters, and are never
// updated — on Postgres an UPDATE of every bot costs as much as inserting
// them), so an interrupted Seed can leave counters ahead of the executions.
//
// Audit rows are written at the same time as bots and executions, on
// another connection. On Postgres rows go in with COPY; each audit batch is
// copied inside a transaction that holds the audit writers' advisory lock
// (taken by codex32_audit_head(), as WriteAudit does) and continues the head
// read there — so the app may keep writing audit rows while Seed runs: they
// interleave between batches and the chain stays intact. On SQLite,
// multi-row INSERTs in transactions of a few thousand rows; SQLite's single
// writer serialises the chain.
func Seed(ctx context.Context, db *DB, o SeedOptions) (SeedStats, error) {
	if err := o.validate(); err != nil {
		return SeedStats{}, err
	}
	if o.Rand == nil {
		o.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())) //nolint:gosec // G404: demo data, not secrets
	}
	s := &seeder{db: db, o: o, r: o.Rand, now: now()}
	s.pools = newSeedPools(s.r)
	s.execSeed = s.r.Uint64()
	auditRand := rand.New(rand.NewPCG(s.r.Uint64(), s.r.Uint64())) //nolint:gosec // G404: demo data, reproducible from the seed
	if err := s.seedUsers(ctx); err != nil {
		return s.st, err
	}
	s.planBots()
	s.planExecutions()
	// Audit rows have no foreign keys: they are written alongside the bots
	// and then the executions (which must follow the bots), on their own
	// connection.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var firstErr error
	fail := func(err error) {
		if err == nil {
			return
		}
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
		cancel()
	}
	wg.Go(func() { fail(s.seedAudit(ctx, auditRand)) })
	wg.Go(func() {
		if err := s.seedBots(ctx); err != nil {
			fail(err)
			return
		}
		fail(s.seedExecutions(ctx))
	})
	wg.Wait()
	if firstErr != nil {
		return s.st, firstErr
	}
	// Bulk loads leave the planner without statistics until autovacuum
	// comes by (up to a minute or more); until then a 10,000-bot list
	// sorts the whole table instead of walking an index.
	if s.db.Dialect == Postgres {
		if _, err := s.db.Bun.ExecContext(ctx, "ANALYZE"); err != nil {
			return s.st, fmt.Errorf("seed: analyze: %w", err)
		}
	}
	return s.st, nil
}

func (o SeedOptions) validate() error {
	for _, c := range []struct {
		name string
		n    int
	}{{"users", o.Users}, {"bots", o.Bots}, {"versions per bot", o.VersionsPerBot}, {"executions", o.Executions}, {"audit rows", o.Audit}} {
		if c.n < 0 {
			return fmt.Errorf("seed: %s must not be negative (got %d)", c.name, c.n)
		}
	}
	if o.Bots > 0 && o.VersionsPerBot < 1 {
		return errors.New("seed: every bot needs at least one version")
	}
	if o.Executions > 0 && o.Bots == 0 {
		return errors.New("seed: executions are spread over the bots seeded with them: ask for bots too")
	}
	return nil
}

const day = 24 * time.Hour

// Seeded data lies in these windows before "now": users join first, bots
// are created over the following months, executions and audit rows cover
// the last 90 days.
const (
	seedUsersFrom   = 200 * day
	seedUsersUntil  = 125 * day
	seedBotsFrom    = 120 * day
	seedBotsUntil   = 7 * day
	seedHistorySpan = 90 * day
)

type seeder struct {
	db       *DB
	o        SeedOptions
	r        *rand.Rand // users and bots; executions and audit rows have their own
	execSeed uint64
	now      time.Time
	pools    *seedPools
	progMu   sync.Mutex

	users  []seedUser
	owners []int // indexes into users of those who may own bots
	admins []int
	bots   []*seedBot // this call's, in creation order

	announced int // bots whose bot.create audit row has been made
	st        SeedStats
}

type seedUser struct {
	id       uuid.UUID
	email    string
	username string
	name     string
	role     Role
	active   bool
}

// seedBot is what later stages need to know of a seeded bot; its configs are
// recomputed from it on demand rather than kept.
type seedBot struct {
	id                      uuid.UUID
	owner                   int
	name, description       string
	kind                    BotKind
	status                  BotStatus
	tags                    []string
	team, subject, function int
	variant                 int
	versions                []uuid.UUID
	vtimes                  []time.Time // vtimes[0] is the bot's creation

	// Statistics of the executions to come, as FinishExecution keeps them.
	total, ok, failed int64
	sumUS             int64
	last              time.Time
}

func (s *seeder) progress(stage string, done, total int) {
	if s.o.Progress != nil {
		s.progMu.Lock()
		defer s.progMu.Unlock()
		s.o.Progress(stage, done, total)
	}
}

// batch picks a batch size: COPY on Postgres takes big batches well; SQLite
// keeps transactions to a few thousand rows.
func (s *seeder) batch(pg, sqlite int) int {
	if s.db.Dialect == Postgres {
		return pg
	}
	return sqlite
}

// spread returns the time of item i of n spread evenly, with jitter, over
// [from, from+span): increasing with i.
func (s *seeder) spread(r *rand.Rand, from time.Time, span time.Duration, i, n int) time.Time {
	f := (float64(i) + r.Float64()) / float64(n)
	return from.Add(time.Duration(f * float64(span))).Truncate(time.Microsecond)
}

// runStage generates batches on one goroutine while the caller's goroutine
// writes the previous one, so generation overlaps the database's work.
func runStage[T any](ctx context.Context, s *seeder, stage string, total, batch int,
	gen func(done, n int) T, write func(ctx context.Context, chunk T) error) error {
	if total == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan T, 1)
	// On return, stop the producer and wait for it: it uses the caller's
	// Rand, which must be free again when Seed returns.
	defer func() {
		cancel()
		for range ch {
		}
	}()
	go func() {
		defer close(ch)
		for done := 0; done < total; {
			n := min(batch, total-done)
			chunk := gen(done, n)
			select {
			case ch <- chunk:
			case <-ctx.Done():
				return
			}
			done += n
		}
	}()
	s.progress(stage, 0, total)
	done := 0
	for chunk := range ch {
		if err := write(ctx, chunk); err != nil {
			return fmt.Errorf("seed: %s: %w", stage, err)
		}
		done += min(batch, total-done)
		s.progress(stage, done, total)
	}
	if done < total {
		return fmt.Errorf("seed: %s: %w", stage, context.Cause(ctx))
	}
	return nil
}

// ---- users ----------------------------------------------------------------

var seedPeople = []string{
	"Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Edsger Dijkstra", "Barbara Liskov",
	"Donald Knuth", "Margaret Hamilton", "Dennis Ritchie", "Radia Perlman", "Ken Thompson", "Frances Allen",
	"John McCarthy", "Hedy Lamarr", "Leslie Lamport", "Adele Goldberg", "Claude Shannon", "Shafi Goldwasser",
	"Tony Hoare", "Sophie Wilson", "Niklaus Wirth", "Karen Sparck Jones", "Linus Torvalds", "Evelyn Berezin",
	"Guido van Rossum", "Annie Easley", "Bjarne Stroustrup", "Mary Kenneth Keller", "Rob Pike", "Jean Sammet",
	"Tim Berners-Lee", "Lynn Conway", "Vint Cerf", "Ida Rhodes", "Whitfield Diffie", "Joan Clarke",
}

func (s *seeder) seedUsers(ctx context.Context) error {
	if s.o.Users == 0 {
		if s.o.Bots == 0 && s.o.Audit == 0 {
			return nil
		}
		return s.loadUsers(ctx)
	}
	offset, err := s.db.Bun.NewSelect().Model((*User)(nil)).Count(ctx)
	if err != nil {
		return fmt.Errorf("seed: users: count: %w", err)
	}
	from := s.now.Add(-seedUsersFrom)
	s.progress(SeedStageUsers, 0, s.o.Users)
	batch := s.batch(1000, 1000)
	for done := 0; done < s.o.Users; {
		n := min(batch, s.o.Users-done)
		rows := make([]User, n)
		for i := range rows {
			k := done + i
			name := seedPeople[k%len(seedPeople)]
			slug := strings.ToLower(strings.ReplaceAll(strings.ReplaceAll(name, " ", "."), "-", ""))
			num := strconv.Itoa(int(offset) + k + 1)
			role := RoleAdmin
			if k > 0 {
				role = pickWeighted(s.r, []Role{RoleUser, RoleViewer, RoleAPIUser, RoleAdmin}, []int{62, 24, 9, 5})
			}
			created := s.spread(s.r, from, seedUsersFrom-seedUsersUntil, k, s.o.Users)
			u := User{
				ID: NewID(), Email: slug + "+" + num + "@example.test", Username: slug + "." + num, Name: name,
				Role: role, IsActive: k == 0 || s.r.IntN(100) >= 4, CreatedAt: created, UpdatedAt: created,
			}
			if role != RoleAPIUser && s.r.IntN(100) < 85 {
				t := s.now.Add(-time.Duration(s.r.Int64N(int64(14 * day)))).Truncate(time.Microsecond)
				u.LastLoginAt = &t
			}
			rows[i] = u
		}
		if _, err := s.db.Bun.NewInsert().Model(&rows).Exec(ctx); err != nil {
			return fmt.Errorf("seed: users: %w", mapErr(err))
		}
		for i := range rows {
			u := &rows[i]
			s.addUser(seedUser{id: u.ID, email: u.Email, username: u.Username, name: u.Name, role: u.Role, active: u.IsActive})
		}
		done += n
		s.st.Users += n
		s.progress(SeedStageUsers, done, s.o.Users)
	}
	return nil
}

// loadUsers takes existing users as owners and actors.
func (s *seeder) loadUsers(ctx context.Context) error {
	var rows []User
	err := s.db.Bun.NewSelect().Model(&rows).Column("id", "email", "username", "name", "role", "is_active").
		Order("u.created_at ASC", "u.id ASC").Limit(1000).Scan(ctx)
	if err != nil {
		return fmt.Errorf("seed: users: load: %w", err)
	}
	for i := range rows {
		u := &rows[i]
		s.addUser(seedUser{id: u.ID, email: u.Email, username: u.Username, name: u.Name, role: u.Role, active: u.IsActive})
	}
	if len(s.users) == 0 {
		return errors.New("seed: there are no users to own bots or act in the audit log: seed some users too")
	}
	if s.o.Bots > 0 && len(s.owners) == 0 {
		return errors.New("seed: no existing user may own bots (admin, user or api_user): seed some users too")
	}
	return nil
}

func (s *seeder) addUser(u seedUser) {
	s.users = append(s.users, u)
	if u.role != RoleViewer {
		s.owners = append(s.owners, len(s.users)-1)
	}
	if u.role == RoleAdmin && u.active {
		s.admins = append(s.admins, len(s.users)-1)
	}
}

func (s *seeder) randomUser(r *rand.Rand) *seedUser { return &s.users[r.IntN(len(s.users))] }

func (u *seedUser) actor(r *rand.Rand, p *seedPools) Actor {
	id := u.id
	return Actor{UserID: &id, Label: u.email, IP: p.ips[r.IntN(len(p.ips))], UserAgent: p.agents[r.IntN(len(p.agents))]}
}

// ---- bots -----------------------------------------------------------------

type botChunk struct {
	bots     []Bot
	versions []BotVersion
	tags     []BotTag
}

// planBots invents this call's bots (and their versions' ids and times),
// in creation order, without writing them.
func (s *seeder) planBots() {
	from := s.now.Add(-seedBotsFrom)
	span := seedBotsFrom - seedBotsUntil
	s.bots = make([]*seedBot, s.o.Bots)
	for i := range s.bots {
		s.bots[i] = s.newBot(s.spread(s.r, from, span, i, s.o.Bots))
	}
}

func (s *seeder) seedBots(ctx context.Context) error {
	gen := func(done, n int) botChunk {
		c := botChunk{bots: make([]Bot, n), versions: make([]BotVersion, 0, n*s.o.VersionsPerBot)}
		for i := range n {
			sb := s.bots[done+i]
			owner := s.users[sb.owner].id
			c.bots[i] = Bot{
				ID: sb.id, OwnerID: owner, Name: sb.name, Description: sb.description, Kind: sb.kind, Status: sb.status,
				Tags: sb.tags, ActiveVersionID: &sb.versions[len(sb.versions)-1],
				TotalExecutions: sb.total, SuccessfulExecutions: sb.ok, FailedExecutions: sb.failed,
				TotalDurationUS: sb.sumUS, TimedExecutions: sb.total,
				CreatedAt: sb.vtimes[0], UpdatedAt: sb.vtimes[len(sb.vtimes)-1],
			}
			if sb.total > 0 {
				last := sb.last
				c.bots[i].AvgDurationMS, c.bots[i].LastExecutedAt = float64(sb.sumUS)/1000/float64(sb.total), &last
			}
			for _, t := range sb.tags {
				c.tags = append(c.tags, BotTag{BotID: sb.id, Tag: t})
			}
			for v := range sb.versions {
				cfg, hash := s.botConfig(sb, v+1)
				author := owner
				if v > 0 && s.r.IntN(100) < 15 {
					author = s.users[s.owners[s.r.IntN(len(s.owners))]].id
				}
				c.versions = append(c.versions, BotVersion{
					ID: sb.versions[v], BotID: sb.id, Number: v + 1, Kind: sb.kind, Config: cfg, ContentHash: hash,
					Changelog: s.changelog(sb, v+1), AuthorID: &author, CreatedAt: sb.vtimes[v],
				})
			}
		}
		return c
	}
	write := func(ctx context.Context, c botChunk) error {
		var err error
		if s.db.Dialect == Postgres {
			err = s.copyBots(ctx, c)
		} else {
			err = s.db.Bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
				if err := insertChunks(ctx, tx, c.bots, 500); err != nil {
					return err
				}
				if err := insertChunks(ctx, tx, c.versions, 500); err != nil {
					return err
				}
				return insertChunks(ctx, tx, c.tags, 1000)
			})
		}
		if err != nil {
			return err
		}
		s.st.Bots += len(c.bots)
		s.st.Versions += len(c.versions)
		s.st.Tags += len(c.tags)
		return nil
	}
	return runStage(ctx, s, SeedStageBots, s.o.Bots, s.batch(2000, 500), gen, write)
}

// copyBots inserts a batch of bots with their versions and tags in one
// transaction: bots.active_version_id is a deferred foreign key, checked at
// commit, when the versions are there.
func (s *seeder) copyBots(ctx context.Context, c botChunk) error {
	tx, err := s.db.Pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"bots"},
		[]string{"id", "owner_id", "name", "description", "kind", "status", "tags", "active_version_id",
			"total_executions", "successful_executions", "failed_executions", "avg_duration_ms", "last_executed_at",
			"total_duration_us", "timed_executions", "created_at", "updated_at"},
		pgx.CopyFromSlice(len(c.bots), func(i int) ([]any, error) {
			b := &c.bots[i]
			tags, err := json.Marshal(b.Tags)
			if err != nil {
				return nil, err
			}
			return []any{[16]byte(b.ID), [16]byte(b.OwnerID), b.Name, b.Description, string(b.Kind), string(b.Status),
				string(tags), pgUUID(b.ActiveVersionID), b.TotalExecutions, b.SuccessfulExecutions, b.FailedExecutions,
				b.AvgDurationMS, pgTime(b.LastExecutedAt), b.TotalDurationUS, b.TimedExecutions, b.CreatedAt, b.UpdatedAt}, nil
		}))
	if err != nil {
		return fmt.Errorf("copy bots: %w", err)
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"bot_versions"},
		[]string{"id", "bot_id", "number", "kind", "config", "content_hash", "changelog", "author_id", "created_at"},
		pgx.CopyFromSlice(len(c.versions), func(i int) ([]any, error) {
			v := &c.versions[i]
			return []any{[16]byte(v.ID), [16]byte(v.BotID), v.Number, string(v.Kind), []byte(v.Config), v.ContentHash,
				v.Changelog, pgUUID(v.AuthorID), v.CreatedAt}, nil
		}))
	if err != nil {
		return fmt.Errorf("copy bot versions: %w", err)
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"bot_tags"}, []string{"bot_id", "tag"},
		pgx.CopyFromSlice(len(c.tags), func(i int) ([]any, error) {
			return []any{[16]byte(c.tags[i].BotID), c.tags[i].Tag}, nil
		}))
	if err != nil {
		return fmt.Errorf("copy bot tags: %w", err)
	}
	return tx.Commit(ctx)
}

// newBot invents a bot created at created, with its versions' ids and times.
func (s *seeder) newBot(created time.Time) *seedBot {
	r := s.r
	kind := pickWeighted(r, BotKinds, []int{40, 35, 25})
	k := seedKindWords[kind]
	b := &seedBot{
		id: NewID(), owner: s.owners[r.IntN(len(s.owners))], kind: kind,
		status:  pickWeighted(r, BotStatuses, []int{78, 12, 5, 5}),
		team:    r.IntN(len(seedTeams)),
		subject: r.IntN(len(k.subjects)), function: r.IntN(len(k.functions)), variant: r.IntN(1 << 16),
	}
	team, subject, function := seedTeams[b.team], k.subjects[b.subject], k.functions[b.function]
	if r.IntN(100) < 70 {
		b.name = team + " " + subject + " " + function
	} else {
		b.name = subject + " " + function
	}
	target := seedTargets[b.variant%len(seedTargets)]
	b.description = fmt.Sprintf(k.descriptions[b.variant%len(k.descriptions)], strings.ToLower(subject), team, target)

	b.tags = []string{}
	for range r.IntN(4) {
		b.tags = append(b.tags, seedTags[r.IntN(len(seedTags))])
	}
	b.tags = normaliseTags(b.tags)

	v := s.o.VersionsPerBot
	b.versions = make([]uuid.UUID, v)
	b.vtimes = make([]time.Time, v)
	// Versions follow at irregular intervals between creation and yesterday.
	life := s.now.Add(-day).Sub(created)
	for i := range v {
		b.versions[i] = NewID()
		if i == 0 {
			b.vtimes[i] = created
			continue
		}
		step := life / time.Duration(v)
		b.vtimes[i] = created.Add(step*time.Duration(i) + time.Duration(r.Float64()*0.8*float64(step))).Truncate(time.Microsecond)
	}
	return b
}

// botConfig builds version n of a bot's config in canonical form (sorted
// keys: the struct fields below are declared in key order) with its content
// hash. It depends only on the bot and n, so it is recomputed, not stored.
func (s *seeder) botConfig(b *seedBot, n int) (json.RawMessage, string) {
	var v any
	k := seedKindWords[b.kind]
	subject := k.subjects[b.subject]
	slug := slugify(subject)
	team := strings.ToLower(seedTeams[b.team])
	switch b.kind {
	case KindHTTP:
		fn := k.functions[b.function]
		c := seedHTTPConfig{Method: "POST", TimeoutSeconds: []int{10, 15, 20, 30, 45, 60}[(b.variant+n-1)%6]}
		target := b.variant % len(seedHTTPTargets)
		t := seedHTTPTargets[target]
		switch {
		case strings.Contains(fn, "Check") || strings.Contains(fn, "Poller") || strings.Contains(fn, "Probe"):
			c.Method = "GET"
			c.URL = "https://" + slug + "." + team + ".internal.example.test/healthz"
		default:
			if strings.Contains(fn, "Sync") {
				c.Method = "PUT"
			}
			c.URL = fmt.Sprintf(t.url, slug, b.variant)
			c.Body = fmt.Sprintf(t.body, subject)
			c.Headers = map[string]string{"Content-Type": "application/json"}
			if t.auth != "" {
				c.Headers["Authorization"] = t.auth
			}
		}
		if n >= 2 {
			c.ExpectedStatus = []int{200, 201, 202}
		}
		if n >= 3 {
			if c.Headers == nil {
				c.Headers = map[string]string{}
			}
			c.Headers["User-Agent"] = "codex32-bot/" + strconv.Itoa(n)
		}
		v = c
	case KindLLM:
		fn := k.functions[b.function]
		m := seedModels[b.variant%len(seedModels)]
		c := seedLLMConfig{
			APIKeySecret: m.secret, BaseURL: m.baseURL, Model: m.name,
			MaxTokens:      256 * (1 + (b.variant+n-1)%8),
			PromptTemplate: fmt.Sprintf(seedLLMPrompts[fn], strings.ToLower(subject)) + "\n\n{{input.text}}",
			SystemPrompt:   fmt.Sprintf("You help the %s team with %ss. Be concise and never invent facts.", seedTeams[b.team], strings.ToLower(subject)),
			Temperature:    float64((b.variant+n)%11) / 10,
		}
		if n >= 2 && n%2 == 0 {
			c.SystemPrompt += " Answer in the language of the input."
		}
		v = c
	case KindScript:
		fn := k.functions[b.function]
		v = seedScriptConfig{Source: fmt.Sprintf(seedScripts[fn], seedScriptConstant(fn, n)), TimeoutSeconds: 2 + (b.variant+n)%8}
	}
	raw, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("seed: encode config: %v", err)) // static types: cannot happen
	}
	sum := sha256.Sum256(raw)
	return raw, hex.EncodeToString(sum[:])
}

func (s *seeder) changelog(b *seedBot, n int) string {
	if n == 1 {
		return "Initial version"
	}
	list := seedChangelogs[b.kind]
	return list[(b.variant+n)%len(list)]
}

// versionAt returns the number (1-based) of the version active at t.
func (b *seedBot) versionAt(t time.Time) int {
	for i := len(b.vtimes) - 1; i > 0; i-- {
		if !b.vtimes[i].After(t) {
			return i + 1
		}
	}
	return 1
}

// ---- executions ------------------------------------------------------------

// execPlan is every random choice about one execution. Execution k's plan
// depends only on k (its own random stream), so the plans are made twice:
// first to compute each bot's statistics before the bots are inserted, then
// to build the rows.
type execPlan struct {
	bot                int
	version            int // number, 1-based
	status             ExecStatus
	trigger            Trigger
	requester          int // index into users; -1 for none
	queued             time.Time
	started, ended     time.Time
	input, output, err int
	attempt, worker    int
}

// execPlanner makes plans; each goroutine needs its own.
type execPlanner struct {
	s    *seeder
	pcg  rand.PCG
	r    *rand.Rand
	hist int // executions that have finished; the rest are queued or running
	live int
}

func (s *seeder) newExecPlanner() *execPlanner {
	p := &execPlanner{s: s}
	p.r = rand.New(&p.pcg) //nolint:gosec // G404: demo data, reproducible from the seed
	// A few executions are still queued or running; the rest finished over
	// the last 90 days, in time order (as they would have been inserted).
	p.live = min(s.o.Executions/200, 25)
	p.hist = s.o.Executions - p.live
	return p
}

func (p *execPlanner) plan(k int) execPlan {
	s, r := p.s, p.r
	p.pcg.Seed(s.execSeed, splitmix64(uint64(k))) //nolint:gosec // G115: k is an index (≥ 0), only hashed
	var e execPlan
	if k < p.hist {
		e.queued = s.spread(r, s.now.Add(-seedHistorySpan), seedHistorySpan-15*time.Minute, k, p.hist)
		e.status = pickWeighted(r, []ExecStatus{ExecSuccess, ExecFailed, ExecTimedOut, ExecCancelled}, []int{880, 92, 14, 14})
	} else {
		// Running ones are older than queued ones.
		e.queued = s.spread(r, s.now.Add(-10*time.Minute), 10*time.Minute-time.Second, k-p.hist, p.live)
		e.status = ExecRunning
		if k-p.hist >= p.live/2 {
			e.status = ExecQueued
		}
	}
	// A run of one of the bots that existed by then; some bots are busier
	// than others, so part of the traffic favours a few.
	existing := max(1, sort.Search(len(s.bots), func(i int) bool { return s.bots[i].vtimes[0].After(e.queued) }))
	e.bot = r.IntN(existing)
	if r.IntN(100) < 40 {
		u := r.Float64()
		e.bot = int(float64(existing) * u * u * u)
	}
	b := s.bots[e.bot]
	if e.queued.Before(b.vtimes[0]) {
		e.queued = b.vtimes[0].Add(time.Minute)
	}
	e.version = b.versionAt(e.queued)
	if !e.status.Terminal() {
		e.version = len(b.versions)
	}
	e.trigger = pickWeighted(r, Triggers, []int{15, 35, 25, 20, 5})
	e.requester = -1
	switch e.trigger {
	case TriggerManual, TriggerReplay:
		e.requester = b.owner
		if r.IntN(100) < 30 {
			e.requester = r.IntN(len(s.users))
		}
	case TriggerAPI:
		e.requester = b.owner
	}
	e.input = r.IntN(len(s.pools.inputs[b.kind]))
	if e.status == ExecQueued {
		return e
	}
	e.attempt, e.worker = 1, 1+r.IntN(4)
	e.started = e.queued.Add(time.Duration(5000+r.IntN(800000)) * time.Microsecond)
	if e.status == ExecRunning {
		return e
	}
	var d time.Duration
	switch e.status {
	case ExecTimedOut:
		d = seedTimeouts[b.kind]
	case ExecCancelled:
		d = time.Duration(float64(seedMedians[b.kind]) * (0.2 + r.Float64()))
	default:
		// Log-normal durations around the kind's median, below its timeout.
		d = min(time.Duration(float64(seedMedians[b.kind])*math.Exp(0.6*r.NormFloat64())), seedTimeouts[b.kind]-time.Millisecond)
		if e.status == ExecFailed {
			e.attempt = 1 + r.IntN(3)
			e.err = r.IntN(len(s.pools.errors[b.kind]))
		} else {
			e.output = r.IntN(len(s.pools.outputs[b.kind]))
		}
	}
	e.ended = e.started.Add(d).Truncate(time.Microsecond)
	return e
}

// durationMS is how the engine stores a run's duration.
func durationMS(started, ended time.Time) float64 {
	return float64(ended.Sub(started).Microseconds()) / 1000
}

// planExecutions accumulates each bot's statistics the way the engine does
// (models.FinishExecutions): terminal runs only; failed and timed_out are
// failures; durations summed in microseconds.
func (s *seeder) planExecutions() {
	p := s.newExecPlanner()
	for k := range s.o.Executions {
		e := p.plan(k)
		if !e.status.Terminal() {
			continue
		}
		b := s.bots[e.bot]
		b.total++
		switch e.status {
		case ExecSuccess:
			b.ok++
		case ExecFailed, ExecTimedOut:
			b.failed++
		}
		b.sumUS += e.ended.Sub(e.started).Microseconds()
		if e.ended.After(b.last) {
			b.last = e.ended
		}
	}
}

func (s *seeder) seedExecutions(ctx context.Context) error {
	p := s.newExecPlanner()
	// Rows come in two halves, split by bot, so Postgres can take them on two
	// connections at once without both locking (for the foreign-key checks)
	// the same bot and version rows.
	gen := func(done, n int) [2][]Execution {
		var halves [2][]Execution
		for i := range n {
			pl := p.plan(done + i)
			h := pl.bot % 2
			halves[h] = append(halves[h], Execution{})
			s.execution(&halves[h][len(halves[h])-1], pl)
		}
		return halves
	}
	write := func(ctx context.Context, halves [2][]Execution) error {
		if s.db.Dialect == Postgres {
			var errs [2]error
			var wg sync.WaitGroup
			for h := range halves {
				wg.Go(func() { errs[h] = s.copyExecutions(ctx, halves[h]) })
			}
			wg.Wait()
			if err := errors.Join(errs[:]...); err != nil {
				return err
			}
		} else if err := s.db.Bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			for _, rows := range halves {
				if err := insertChunks(ctx, tx, rows, 500); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
		s.st.Executions += len(halves[0]) + len(halves[1])
		return nil
	}
	return runStage(ctx, s, SeedStageExecutions, s.o.Executions, s.batch(50000, 5000), gen, write)
}

// execution builds the row of a plan.
func (s *seeder) execution(e *Execution, pl execPlan) {
	p := s.pools
	b := s.bots[pl.bot]
	*e = Execution{
		ID: NewID(), BotID: b.id, VersionID: &b.versions[pl.version-1], Status: pl.status, Trigger: pl.trigger,
		Input: p.inputs[b.kind][pl.input], QueuedAt: pl.queued, Attempt: pl.attempt, MaxAttempts: max(pl.attempt, 1),
	}
	if pl.requester >= 0 {
		id := s.users[pl.requester].id
		e.RequestedBy = &id
	}
	if pl.status == ExecQueued {
		e.Logs = "queued (" + string(pl.trigger) + ")"
		return
	}
	started := pl.started
	e.StartedAt = &started
	pickup := started.Sub(pl.queued).Milliseconds()
	if pl.status == ExecRunning {
		e.Logs = fmt.Sprintf("picked up by worker-%d after %d ms\nrunning version %d", pl.worker, pickup, pl.version)
		return
	}
	ended := pl.ended
	ms := durationMS(started, ended)
	e.EndedAt, e.DurationMS = &ended, &ms
	switch pl.status {
	case ExecTimedOut:
		e.Error = fmt.Sprintf("timed out after %s", seedTimeouts[b.kind])
	case ExecCancelled:
		e.Error = "cancelled by " + s.users[b.owner].email
	case ExecFailed:
		e.Error = p.errors[b.kind][pl.err]
	default:
		e.Output = p.outputs[b.kind][pl.output]
	}
	e.Logs = fmt.Sprintf("picked up by worker-%d after %d ms (attempt %d)\nrunning version %d\n%s after %.1f ms",
		pl.worker, pickup, pl.attempt, pl.version, pl.status, ms)
}

func (s *seeder) copyExecutions(ctx context.Context, rows []Execution) error {
	_, err := s.db.Pool.CopyFrom(ctx, pgx.Identifier{"bot_executions"},
		[]string{"id", "bot_id", "version_id", "status", "trigger_kind", "input", "output", "error", "logs", "attempt", "max_attempts",
			"queued_at", "started_at", "ended_at", "duration_ms", "requested_by"},
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			e := &rows[i]
			var dur any
			if e.DurationMS != nil {
				dur = *e.DurationMS
			}
			return []any{[16]byte(e.ID), [16]byte(e.BotID), pgUUID(e.VersionID), string(e.Status), string(e.Trigger),
				pgJSON(e.Input), pgJSON(e.Output), e.Error, e.Logs, e.Attempt, e.MaxAttempts,
				e.QueuedAt, pgTime(e.StartedAt), pgTime(e.EndedAt), dur, pgUUID(e.RequestedBy)}, nil
		}))
	if err != nil {
		return fmt.Errorf("copy executions: %w", err)
	}
	return nil
}

// ---- audit -----------------------------------------------------------------

// auditChunk is a batch of audit rows chained, ahead of time, onto the head
// the batch before it will leave (prev, first).
type auditChunk struct {
	rows  []*AuditLog
	prev  string
	first int64
	err   error
}

func (s *seeder) seedAudit(ctx context.Context, r *rand.Rand) error {
	total := s.o.Audit
	if total == 0 {
		return nil
	}
	// Chain in the generating goroutine, optimistically continuing from the
	// head as it is now; each batch is re-chained under the lock only if
	// someone else wrote audit rows meanwhile.
	var head chainHead
	if err := s.db.Bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) (err error) {
		head, err = auditHead(ctx, tx)
		return err
	}); err != nil {
		return fmt.Errorf("seed: %s: %w", SeedStageAudit, err)
	}
	prev, next := head.Hash.String, head.Seq.Int64+1
	from := s.now.Add(-seedHistorySpan)
	existing := 0
	gen := func(done, n int) auditChunk {
		c := auditChunk{rows: make([]*AuditLog, n), prev: prev, first: next}
		for i := range c.rows {
			t := s.spread(r, from, seedHistorySpan, done+i, total)
			for existing < len(s.bots) && !s.bots[existing].vtimes[0].After(t) {
				existing++
			}
			c.rows[i] = s.auditRow(r, t, existing)
		}
		prev, c.err = ChainAuditRows(c.prev, c.first, c.rows)
		next += int64(n)
		return c
	}
	write := func(ctx context.Context, c auditChunk) error {
		if c.err != nil {
			return c.err
		}
		var err error
		if s.db.Dialect == Postgres {
			err = s.copyAudit(ctx, c)
		} else {
			err = s.db.Bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
				head, err := auditHead(ctx, tx)
				if err != nil {
					return err
				}
				if err := c.rechain(head.Hash.String, head.Seq.Int64+1); err != nil {
					return err
				}
				return insertChunks(ctx, tx, c.rows, 500)
			})
		}
		if err != nil {
			return err
		}
		s.st.Audit += len(c.rows)
		return nil
	}
	return runStage(ctx, s, SeedStageAudit, total, s.batch(20000, 5000), gen, write)
}

// rechain chains the rows again if the head is not the one they were
// chained onto.
func (c *auditChunk) rechain(prev string, first int64) error {
	if prev == c.prev && first == c.first {
		return nil
	}
	_, err := ChainAuditRows(prev, first, c.rows)
	return err
}

// copyAudit copies a batch in, in a transaction that holds the audit
// advisory lock (codex32_audit_head takes it) until commit, after making
// sure the batch continues the head read under that lock.
func (s *seeder) copyAudit(ctx context.Context, c auditChunk) error {
	tx, err := s.db.Pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var seq *int64
	var hash *string
	if err := tx.QueryRow(ctx, "SELECT head_seq, head_hash FROM codex32_audit_head()").Scan(&seq, &hash); err != nil {
		return fmt.Errorf("read chain head: %w", err)
	}
	prev, first := "", int64(1)
	if seq != nil && hash != nil {
		prev, first = *hash, *seq+1
	}
	if err := c.rechain(prev, first); err != nil {
		return err
	}
	rows := c.rows
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"audit_logs"},
		[]string{"id", "seq", "actor_user_id", "actor_api_key_id", "actor_label", "action", "resource_type", "resource_id",
			"bot_id", "old_values", "new_values", "ip", "user_agent", "created_at", "prev_hash", "hash"},
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			a := rows[i]
			return []any{[16]byte(a.ID), a.Seq, pgUUID(a.ActorUserID), pgUUID(a.ActorAPIKeyID), a.ActorLabel, a.Action,
				a.ResourceType, a.ResourceID, pgUUID(a.BotID), pgJSON(a.OldValues), pgJSON(a.NewValues), a.IP, a.UserAgent,
				a.CreatedAt, a.PrevHash, a.Hash}, nil
		}))
	if err != nil {
		return fmt.Errorf("copy audit rows: %w", err)
	}
	return tx.Commit(ctx)
}

var seedAuditActions = []string{
	"auth.login", "auth.login_failed", "auth.logout", "session.end", "bot.create", "bot.version.create",
	"bot.version.activate", "bot.update", "bot.archive", "user.role.change", "user.disable", "api_key.create",
	"api_key.revoke", "access.denied", "audit.export",
}

var seedAuditWeights = []int{34, 6, 8, 3, 7, 12, 4, 9, 1, 2, 1, 4, 2, 5, 2}

// seedBotView mirrors Bot.auditView (fields in key order).
type seedBotView struct {
	ActiveVersionID *uuid.UUID `json:"active_version_id"`
	Description     string     `json:"description"`
	Kind            BotKind    `json:"kind"`
	Name            string     `json:"name"`
	OwnerID         uuid.UUID  `json:"owner_id"`
	Status          BotStatus  `json:"status"`
	Tags            []string   `json:"tags"`
}

// seedUserView mirrors User.auditView.
type seedUserView struct {
	Email       string `json:"email"`
	HasPassword bool   `json:"has_password"`
	IsActive    bool   `json:"is_active"`
	Name        string `json:"name"`
	Role        Role   `json:"role"`
	Username    string `json:"username"`
}

func (u *seedUser) view() seedUserView {
	return seedUserView{Email: u.email, IsActive: u.active, Name: u.name, Role: u.role, Username: u.username}
}

func (b *seedBot) view(s *seeder, active int) seedBotView {
	return seedBotView{ActiveVersionID: &b.versions[active-1], Description: b.description, Kind: b.kind, Name: b.name,
		OwnerID: s.users[b.owner].id, Status: b.status, Tags: b.tags}
}

// auditRow invents one plausible audit event at t about the seeded users
// and the first `existing` seeded bots (those created by t).
func (s *seeder) auditRow(r *rand.Rand, t time.Time, existing int) *AuditLog {
	action := pickWeighted(r, seedAuditActions, seedAuditWeights)
	if existing == 0 && strings.HasPrefix(action, "bot.") {
		action = "auth.login"
	}
	return s.auditRowAction(r, t, existing, action)
}

func (s *seeder) auditRowAction(r *rand.Rand, t time.Time, existing int, action string) *AuditLog {
	p := s.pools
	u := s.randomUser(r)
	a := &AuditLog{ID: NewID(), CreatedAt: t}
	actor := u.actor(r, p)
	var oldV, newV any
	var botID *uuid.UUID
	rtype, rid := "user", u.id.String()
	pickBot := func() *seedBot { return s.bots[r.IntN(existing)] }
	admin := func() {
		if len(s.admins) > 0 {
			actor = s.users[s.admins[r.IntN(len(s.admins))]].actor(r, p)
		} else {
			actor = SystemActor("cli")
		}
	}
	switch action {
	case "auth.login":
		newV = map[string]any{"email": u.email, "method": p.methods[r.IntN(len(p.methods))], "reason": "", "success": true}
	case "auth.login_failed":
		reason := pickWeighted(r, []string{ReasonBadCredentials, ReasonThrottled, ReasonDisabled, ReasonRejected}, []int{80, 8, 7, 5})
		email := u.email
		if r.IntN(100) < 30 {
			// A mistyped address: no such user.
			email = strings.SplitN(u.email, "@", 2)[0] + "@example.org"
			actor.UserID, rtype, rid = nil, "login", email
		}
		actor.Label = email
		newV = map[string]any{"email": email, "method": "password", "reason": reason, "success": false}
	case "auth.logout":
	case "session.end":
		newV = map[string]any{"ended": 1 + r.IntN(3), "kept_current": true}
	case "bot.create":
		// The next bot, in creation order, not yet announced; if every bot
		// created by t has been, this is an edit instead.
		if s.announced >= existing {
			return s.auditRowAction(r, t, existing, "bot.update")
		}
		b := s.bots[s.announced]
		s.announced++
		cfg, hash := s.botConfig(b, 1)
		actor = s.users[b.owner].actor(r, p)
		rtype, rid, botID = "bot", b.id.String(), ptrTo(b.id)
		newV = map[string]any{"bot": b.view(s, 1), "version": 1, "content_hash": hash, "config": cfg}
	case "bot.version.create":
		b := pickBot()
		n := len(b.versions)
		if n > 1 {
			n = 2 + r.IntN(n-1)
		}
		cfg, hash := s.botConfig(b, n)
		prevHash := hash
		if n > 1 {
			_, prevHash = s.botConfig(b, n-1)
		}
		actor = s.users[b.owner].actor(r, p)
		rtype, rid, botID = "bot_version", b.versions[n-1].String(), ptrTo(b.id)
		oldV = map[string]any{"version": max(n-1, 1), "kind": b.kind, "content_hash": prevHash, "active_version_id": b.versions[max(n-2, 0)]}
		newV = map[string]any{"version": n, "kind": b.kind, "content_hash": hash, "changelog": s.changelog(b, n), "config": cfg}
	case "bot.version.activate":
		b := pickBot()
		to := 1 + r.IntN(len(b.versions))
		actor = s.users[b.owner].actor(r, p)
		rtype, rid, botID = "bot", b.id.String(), ptrTo(b.id)
		oldV = map[string]any{"active_version": len(b.versions)}
		newV = map[string]any{"active_version": to, "active_version_id": b.versions[to-1]}
	case "bot.update":
		b := pickBot()
		actor = s.users[b.owner].actor(r, p)
		rtype, rid, botID = "bot", b.id.String(), ptrTo(b.id)
		before, after := b.view(s, len(b.versions)), b.view(s, len(b.versions))
		before.Status = pickWeighted(r, BotStatuses, []int{40, 30, 15, 15})
		if before.Status == after.Status {
			before.Description = "Draft: " + before.Description
		}
		oldV, newV = before, after
	case "bot.archive":
		b := pickBot()
		actor = s.users[b.owner].actor(r, p)
		rtype, rid, botID = "bot", b.id.String(), ptrTo(b.id)
		oldV = map[string]any{"archived_at": nil}
		newV = map[string]any{"archived_at": t}
	case "user.role.change", "user.disable":
		admin()
		before, after := u.view(), u.view()
		if action == "user.disable" {
			before.IsActive, after.IsActive = true, false
		} else {
			before.Role = pickWeighted(r, Roles, []int{5, 40, 40, 15})
			if before.Role == after.Role {
				before.Role = RoleViewer
				if after.Role == RoleViewer {
					before.Role = RoleUser
				}
			}
		}
		oldV, newV = before, after
	case "api_key.create", "api_key.revoke":
		rtype, rid = "api_key", NewID().String()
		prefix := "c32_"
		for range 8 {
			prefix += string("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[r.IntN(32)])
		}
		name := p.keyNames[r.IntN(len(p.keyNames))]
		if action == "api_key.create" {
			exp := t.Add(time.Duration(30+r.IntN(335)) * day)
			scopes := [][]string{{"read"}, {"execute", "read"}, {"execute", "read", "write"}}[r.IntN(3)]
			newV = map[string]any{"user_id": u.id, "name": name, "prefix": prefix, "scopes": scopes, "expires_at": exp}
		} else {
			newV = map[string]any{"user_id": u.id, "name": name, "prefix": prefix}
		}
	case "access.denied":
		rtype = "route"
		route := p.routes[r.IntN(len(p.routes))]
		rid = route.path
		if existing > 0 {
			rid = strings.ReplaceAll(rid, ":id", pickBot().id.String())
		} else {
			rid = strings.ReplaceAll(rid, ":id", NewID().String())
		}
		newV = map[string]any{"needed": route.needed}
	case "audit.export":
		admin()
		rtype, rid = "audit", []string{"csv", "jsonl"}[r.IntN(2)]
		newV = map[string]any{"filters": p.filters[r.IntN(len(p.filters))]}
	}
	a.ActorUserID, a.ActorAPIKeyID, a.ActorLabel, a.IP, a.UserAgent = actor.UserID, actor.APIKeyID, actor.Label, actor.IP, actor.UserAgent
	a.Action, a.ResourceType, a.ResourceID, a.BotID = action, rtype, rid, botID
	a.OldValues, a.NewValues = mustJSON(oldV), mustJSON(newV)
	return a
}

// ---- helpers ---------------------------------------------------------------

// insertChunks inserts rows with multi-row INSERTs of at most per rows.
func insertChunks[T any](ctx context.Context, tx bun.Tx, rows []T, per int) error {
	for i := 0; i < len(rows); i += per {
		chunk := rows[i:min(i+per, len(rows))]
		if _, err := tx.NewInsert().Model(&chunk).Exec(ctx); err != nil {
			return mapErr(err)
		}
	}
	return nil
}

func pickWeighted[T any](r *rand.Rand, items []T, weights []int) T {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := r.IntN(total)
	for i, w := range weights {
		if n < w {
			return items[i]
		}
		n -= w
	}
	return items[len(items)-1]
}

func pgUUID(id *uuid.UUID) any {
	if id == nil {
		return nil
	}
	return [16]byte(*id)
}

func pgJSON(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return []byte(raw)
}

func pgTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return *t
}

func mustJSON(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("seed: encode audit values: %v", err)) // built from plain types: cannot happen
	}
	return b
}

// splitmix64 scrambles n into a well-spread seed.
func splitmix64(n uint64) uint64 {
	n += 0x9e3779b97f4a7c15
	n = (n ^ (n >> 30)) * 0xbf58476d1ce4e5b9
	n = (n ^ (n >> 27)) * 0x94d049bb133111eb
	return n ^ (n >> 31)
}

func slugify(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, " ", "-"))
}

// ---- word lists and templates ----------------------------------------------

var seedTeams = []string{
	"Billing", "Support", "Platform", "Growth", "Security", "Data", "Sales", "Marketing",
	"Ops", "Finance", "People", "Mobile", "Infra", "Legal", "Design", "QA",
}

var seedTags = []string{
	"billing", "support", "marketing", "internal", "experimental", "production", "nightly",
	"slack", "customer-facing", "ops", "data", "security",
}

var seedTargets = []string{"Slack", "PagerDuty", "the CRM", "Jira", "the data warehouse", "Microsoft Teams", "the status page"}

type seedKind struct {
	subjects, functions []string
	// descriptions take the subject (lower case), the team and a target.
	descriptions []string
}

var seedKindWords = map[BotKind]seedKind{
	KindHTTP: {
		subjects:  []string{"Invoice", "Deploy", "Incident", "Order", "Signup", "Payment", "Inventory", "Release", "Shipment", "Lead"},
		functions: []string{"Notifier", "Webhook Relay", "Sync", "Health Check", "Status Poller", "Alert Forwarder", "Ticket Creator", "Uptime Probe"},
		descriptions: []string{
			"Posts %s events from the %s pipeline to %s.",
			"Keeps %s records of the %s team in step with %s.",
			"Calls %[3]s whenever a %[1]s needs attention from %[2]s.",
		},
	},
	KindLLM: {
		subjects:  []string{"Support Ticket", "Customer Feedback", "Release Note", "Sales Call", "Bug Report", "Contract", "Survey Response", "Standup", "Incident Report", "Product Review"},
		functions: []string{"Summarizer", "Triage Assistant", "Classifier", "Translator", "Reply Drafter", "Sentiment Analyzer", "Digest", "Tagger"},
		descriptions: []string{
			"Reads each %s and drafts what the %s team needs to know; results go to %s.",
			"Turns raw %s text into a short, structured note for %s (shared in %s).",
			"First pass over every %s so the %s team can focus on the hard cases; flags go to %s.",
		},
	},
	KindScript: {
		subjects:  []string{"CSV Import", "Lead", "Order", "Metrics", "Log", "Webhook Payload", "Address", "Timesheet", "Invoice Line"},
		functions: []string{"Validator", "Deduplicator", "Scorer", "Formatter", "Normalizer", "Router", "Aggregator"},
		descriptions: []string{
			"Cleans up incoming %s data for %s before it reaches %s.",
			"Small, fast checks on every %s the %s team receives, before %s sees it.",
			"Reshapes %s records from %s for %s.",
		},
	},
}

type seedHTTPTarget struct{ url, body, auth string }

// URLs take the subject's slug and a number; bodies take the subject.
var seedHTTPTargets = []seedHTTPTarget{
	{"https://hooks.slack.example.test/services/%s/%d", `{"text": "%s update: {{input.message}}", "channel": "{{input.channel}}"}`, ""},
	{"https://events.pagerduty.example.test/v2/enqueue?source=%s&n=%d", `{"routing_key": "{{secret.PAGERDUTY_ROUTING_KEY}}", "event_action": "trigger", "payload": {"summary": "%s: {{input.message}}", "severity": "warning"}}`, ""},
	{"https://api.crm.example.test/v2/%s/%d", `{"note": "{{input.message}}", "kind": "%s"}`, "Bearer {{secret.CRM_API_TOKEN}}"},
	{"https://jira.example.test/rest/api/3/issue?label=%s&board=%d", `{"fields": {"summary": "%s: {{input.message}}", "issuetype": {"name": "Task"}}}`, "Basic {{secret.JIRA_BASIC_AUTH}}"},
	{"https://ingest.warehouse.example.test/v1/events/%s/%d", `{"event": "%s", "payload": "{{input.message}}"}`, "Bearer {{secret.WAREHOUSE_TOKEN}}"},
	{"https://teams.example.test/webhook/%s/%d", `{"title": "%s", "text": "{{input.message}}"}`, ""},
}

// seedHTTPConfig and the other config structs list their fields in key
// order, so json.Marshal writes the canonical form directly.
type seedHTTPConfig struct {
	Body           string            `json:"body,omitempty"`
	ExpectedStatus []int             `json:"expected_status,omitempty"`
	Headers        map[string]string `json:"headers,omitempty"`
	Method         string            `json:"method"`
	TimeoutSeconds int               `json:"timeout_seconds"`
	URL            string            `json:"url"`
}

type seedLLMConfig struct {
	APIKeySecret   string  `json:"api_key_secret"`
	BaseURL        string  `json:"base_url,omitempty"`
	MaxTokens      int     `json:"max_tokens"`
	Model          string  `json:"model"`
	PromptTemplate string  `json:"prompt_template"`
	SystemPrompt   string  `json:"system_prompt,omitempty"`
	Temperature    float64 `json:"temperature"`
}

type seedScriptConfig struct {
	Source         string `json:"source"`
	TimeoutSeconds int    `json:"timeout_seconds"`
}

var seedModels = []struct{ name, baseURL, secret string }{
	{"gpt-4o-mini", "", "OPENAI_API_KEY"},
	{"gpt-4.1-mini", "", "OPENAI_API_KEY"},
	{"gpt-4o", "", "OPENAI_API_KEY"},
	{"llama-3.1-8b-instruct", "https://llm.internal.example.test/v1", "LLM_GATEWAY_KEY"},
	{"mistral-small-latest", "https://api.mistral.example.test/v1", "MISTRAL_API_KEY"},
}

var seedLLMPrompts = map[string]string{
	"Summarizer":         "Summarize this %s in three bullet points:",
	"Triage Assistant":   "Rate the urgency of this %s (low, normal, high or urgent) and say why in one sentence:",
	"Classifier":         "Label this %s as one of: bug, question, feature request, praise, complaint.",
	"Translator":         "Translate this %s into English; keep product names unchanged:",
	"Reply Drafter":      "Draft a friendly, concise reply to this %s:",
	"Sentiment Analyzer": "Rate the sentiment of this %s from -1 (very negative) to 1 (very positive) and quote the key phrase:",
	"Digest":             "Write a short digest of today's %ss for a busy manager:",
	"Tagger":             "Suggest up to five tags for this %s, as a comma-separated list:",
}

// seedScripts take one number, which each version changes.
var seedScripts = map[string]string{
	"Validator": `const MAX_ERRORS = %d;

function main(input) {
  const errors = [];
  (input.rows || []).forEach((row, i) => {
    if (errors.length < MAX_ERRORS && !(row.email || "").includes("@")) {
      errors.push({ row: i, field: "email" });
    }
  });
  return { valid: errors.length === 0, errors };
}
`,
	"Deduplicator": `const LIMIT = %d;

function main(input) {
  const seen = new Set();
  const items = [];
  for (const item of input.items || []) {
    const key = String(item.id || "").toLowerCase();
    if (key && !seen.has(key) && items.length < LIMIT) {
      seen.add(key);
      items.push(item);
    }
  }
  return { items, duplicates: (input.items || []).length - items.length };
}
`,
	"Scorer": `const WEIGHTS = { email: 10, phone: 5, company: 20, title: %d };

function main(input) {
  let score = 0;
  for (const field of Object.keys(WEIGHTS)) {
    if (input[field]) score += WEIGHTS[field];
  }
  return { score: Math.min(score, 100), qualified: score >= 30 };
}
`,
	"Formatter": `const DECIMALS = %d;

const main = (input) => ({
  text: (input.name || "unknown") + ": " + Number(input.amount || 0).toFixed(DECIMALS) + " " + (input.currency || "EUR"),
});
`,
	"Normalizer": `const MAX_LENGTH = %d;

function main(input) {
  const clean = (s) => String(s || "").trim().replace(/\s+/g, " ").slice(0, MAX_LENGTH);
  return { name: clean(input.name), city: clean(input.city).toUpperCase(), country: clean(input.country || "DE") };
}
`,
	"Router": `const THRESHOLD = %d;

function main(input) {
  const amount = Number(input.amount || 0);
  if (amount >= THRESHOLD) return { queue: "manual-review", reason: "amount over " + THRESHOLD };
  if ((input.tags || []).indexOf("vip") >= 0) return { queue: "priority" };
  return { queue: "standard" };
}
`,
	"Aggregator": `const WINDOW_MINUTES = %d;

function main(input) {
  const totals = {};
  for (const point of input.points || []) {
    totals[point.name] = (totals[point.name] || 0) + Number(point.value || 0);
  }
  return { window_minutes: WINDOW_MINUTES, totals, count: (input.points || []).length };
}
`,
}

// seedScriptConstant is the number version n of a script uses.
func seedScriptConstant(function string, n int) int {
	switch function {
	case "Formatter":
		return 2 + (n-1)%3
	case "Router":
		return 1000 * n
	case "Aggregator":
		return 5 * n
	default:
		return 10 * n
	}
}

var seedChangelogs = map[BotKind][]string{
	KindHTTP: {
		"Raise the timeout: the endpoint is slow at month end",
		"Accept 201 and 202 as success",
		"Send a User-Agent so the receiver can tell us apart",
		"Move the token into a secret",
		"Shorter timeout after the upstream fix",
		"Point at the new endpoint",
	},
	KindLLM: {
		"Tighten the prompt: fewer made-up details",
		"Lower the temperature for steadier answers",
		"Allow longer answers",
		"Switch model after the evaluation",
		"Ask for the input's language",
		"Shorter system prompt",
	},
	KindScript: {
		"Handle empty input",
		"Raise the limit for bigger batches",
		"Fix the off-by-one in the loop",
		"Faster path for the common case",
		"Clearer output field names",
	},
}

var seedMedians = map[BotKind]time.Duration{KindHTTP: 250 * time.Millisecond, KindLLM: 2400 * time.Millisecond, KindScript: 12 * time.Millisecond}

var seedTimeouts = map[BotKind]time.Duration{KindHTTP: 30 * time.Second, KindLLM: 60 * time.Second, KindScript: 5 * time.Second}

// seedPools are pre-built values picked at random for each row.
type seedPools struct {
	inputs, outputs map[BotKind][]json.RawMessage
	errors          map[BotKind][]string
	ips, agents     []string
	methods         []string
	keyNames        []string
	filters         []string
	routes          []struct{ path, needed string }
}

func newSeedPools(r *rand.Rand) *seedPools {
	p := &seedPools{
		inputs: map[BotKind][]json.RawMessage{}, outputs: map[BotKind][]json.RawMessage{},
		errors: map[BotKind][]string{
			KindHTTP: {
				"unexpected status 503 Service Unavailable (expected 2xx)",
				"unexpected status 429 Too Many Requests (expected 2xx)",
				"unexpected status 500 Internal Server Error (expected 2xx)",
				"dial tcp 203.0.113.17:443: connect: connection refused",
				"secret CRM_API_TOKEN is not set",
				"tls: failed to verify certificate: x509: certificate has expired",
			},
			KindLLM: {
				"chat completion: 429 Too Many Requests: rate limit reached for requests",
				"chat completion: 500 Internal Server Error",
				"chat completion: 400 Bad Request: maximum context length exceeded",
				"chat completion: 401 Unauthorized: invalid API key (secret OPENAI_API_KEY)",
				"chat completion: empty response from the model",
			},
			KindScript: {
				"TypeError: Cannot read property 'length' of undefined at main (source.js:4:25)",
				"ReferenceError: amount is not defined at main (source.js:3:10)",
				"main returned undefined; return the output",
				"RangeError: toFixed() digits argument must be between 0 and 100",
			},
		},
		ips: []string{
			"203.0.113.10", "203.0.113.24", "203.0.113.77", "198.51.100.5", "198.51.100.42", "192.0.2.8",
			"192.0.2.131", "10.20.1.15", "10.20.3.201", "2001:db8::17", "2001:db8:42::8",
		},
		agents: []string{
			"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
			"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
			"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
			"curl/8.8.0", "python-requests/2.32.3",
		},
		methods:  []string{"password", "password", "google", "github", "oidc"},
		keyNames: []string{"ci-deploy", "nightly-report", "zapier", "grafana", "backfill-script", "support-widget", "terraform"},
		filters:  []string{"action=bot.create", "actor=admin", "from=2024-01-01", "bot=", "action=auth.login_failed", ""},
		routes: []struct{ path, needed string }{
			{"POST /bots/:id/versions", string(PermBotsEditOwn)},
			{"POST /bots/:id/archive", string(PermBotsEditOwn)},
			{"POST /bots/:id/purge", string(PermBotsPurge)},
			{"GET /audit", string(PermAuditRead)},
			{"GET /users", string(PermUsersManage)},
			{"POST /bots", string(PermBotsCreate)},
		},
	}
	messages := []string{
		"Deploy of api-gateway v2.14.1 finished", "Invoice INV-20931 is 14 days overdue", "New signup: acme-corp (enterprise trial)",
		"Nightly backup completed in 42 min", "Order 58213 shipped with DHL", "Payment of EUR 1,249.50 failed: card declined",
		"Disk usage on db-2 above 85%", "Release 3.8.0 tagged", "Lead from webinar: Jane Doe, Globex", "Stock for SKU-1182 below 20",
	}
	channels := []string{"#ops", "#billing", "#sales", "#alerts", "#releases", "#support"}
	texts := []string{
		"The export button does nothing when I click it in Firefox. Chrome works. We need the CSV for the board meeting tomorrow.",
		"Great product overall, but the new pricing page is confusing: which plan includes SSO?",
		"Customer reports duplicate invoices for March after the migration; refund requested.",
		"Yesterday: finished the importer. Today: review the webhook retries. Blockers: waiting on staging access.",
		"Bonjour, je n'arrive pas à me connecter depuis la mise à jour. Pouvez-vous m'aider ?",
		"Call with Globex: interested in 200 seats, concerned about data residency, next step security review.",
		"After the 2.3 release the app crashes on start on Android 12 devices.",
		"Love the new dashboard! Would be even better with dark mode.",
	}
	for i := range 32 {
		p.inputs[KindHTTP] = append(p.inputs[KindHTTP], mustJSON(map[string]any{
			"channel": channels[r.IntN(len(channels))], "message": messages[(i+r.IntN(3))%len(messages)]}))
		p.inputs[KindLLM] = append(p.inputs[KindLLM], mustJSON(map[string]any{"text": texts[i%len(texts)]}))
		p.outputs[KindHTTP] = append(p.outputs[KindHTTP], mustJSON(map[string]any{
			"status": []int{200, 200, 201, 202}[i%4], "body": map[string]any{"ok": true, "id": fmt.Sprintf("evt_%06d", r.IntN(1000000))}}))
		p.outputs[KindLLM] = append(p.outputs[KindLLM], mustJSON(map[string]any{
			"text":  []string{"- Export fails in Firefox only\n- Needed for tomorrow's board meeting\n- Workaround: use Chrome", "urgency: high (customer blocked before a deadline)", "feature request", "Positive (0.7): \"Love the new dashboard\"", "bug, android, crash, release-2.3"}[i%5],
			"model": seedModels[i%len(seedModels)].name,
			"usage": map[string]any{"prompt_tokens": 80 + r.IntN(900), "completion_tokens": 12 + r.IntN(300)}}))
	}
	scriptInputs := []map[string]any{
		{"rows": []any{map[string]any{"email": "ada@example.test"}, map[string]any{"email": "not-an-email"}}},
		{"items": []any{map[string]any{"id": "A-1"}, map[string]any{"id": "a-1"}, map[string]any{"id": "B-7"}}},
		{"name": "Globex GmbH", "amount": 1249.5, "currency": "EUR"},
		{"email": "jane@globex.example.test", "company": "Globex", "title": "CTO"},
		{"points": []any{map[string]any{"name": "latency_ms", "value": 231}, map[string]any{"name": "latency_ms", "value": 187}}},
		{"amount": 4200, "tags": []any{"vip"}},
		{"name": "  Ada   Lovelace ", "city": "london", "country": "GB"},
	}
	scriptOutputs := []map[string]any{
		{"valid": false, "errors": []any{map[string]any{"row": 1, "field": "email"}}},
		{"items": []any{map[string]any{"id": "A-1"}, map[string]any{"id": "B-7"}}, "duplicates": 1},
		{"text": "Globex GmbH: 1249.50 EUR"},
		{"score": 35, "qualified": true},
		{"window_minutes": 5, "totals": map[string]any{"latency_ms": 418}, "count": 2},
		{"queue": "manual-review", "reason": "amount over 3000"},
		{"name": "Ada Lovelace", "city": "LONDON", "country": "GB"},
	}
	for i := range scriptInputs {
		p.inputs[KindScript] = append(p.inputs[KindScript], mustJSON(scriptInputs[i]))
		p.outputs[KindScript] = append(p.outputs[KindScript], mustJSON(scriptOutputs[i]))
	}
	return p
}

// ptrTo returns a pointer to a copy of id: audit rows must not point into
// the seeder's bots, which other stages read while the INSERT scans
// returned columns back into the rows.
func ptrTo(id uuid.UUID) *uuid.UUID { return &id }

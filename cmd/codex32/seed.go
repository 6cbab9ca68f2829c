package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/codex32/codex32/internal/config"
	"github.com/codex32/codex32/models"
)

const seedUsage = "codex32 seed [--users U] --bots N [--versions V] [--executions E] [--audit A] [--seed S] [--force]"

// cmdSeed fills the database with synthetic data for demos and benchmarks.
func cmdSeed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("seed", seedUsage, stdout)
	users := fs.Int("users", 20, "users to create (one is an admin); 0 uses the existing users")
	bots := fs.Int("bots", 0, "bots to create (required; 0 is allowed)")
	versions := fs.Int("versions", 3, "versions per bot, at least 1; the latest is active")
	executions := fs.Int("executions", 0, "executions spread over the new bots and the last 90 days")
	audit := fs.Int("audit", 0, "audit rows appended to the existing chain")
	seed := fs.Uint64("seed", 0, "random seed, for the same data again (0: a random seed)")
	force := fs.Bool("force", false, "seed even when CODEX32_ENV=production")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("seed: unexpected argument %q (usage: %s)", fs.Arg(0), seedUsage)}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if !given["bots"] {
		return &usageError{msg: "seed: --bots is required (usage: " + seedUsage + ")"}
	}
	for _, f := range []struct {
		name string
		n    int
	}{{"users", *users}, {"bots", *bots}, {"versions", *versions}, {"executions", *executions}, {"audit", *audit}} {
		if f.n < 0 {
			return &usageError{msg: fmt.Sprintf("seed: --%s must be 0 or more, not %d", f.name, f.n)}
		}
	}
	if *bots > 0 && *versions < 1 {
		return &usageError{msg: "seed: --versions must be at least 1: every bot has a version"}
	}
	if *executions > 0 && *bots == 0 {
		return &usageError{msg: "seed: --executions are spread over the new bots: give --bots too"}
	}

	cfg, err := config.Load()
	if err != nil {
		return err
	}
	if cfg.Production() && !*force {
		return errors.New("seed: refusing to add synthetic data to a production instance (CODEX32_ENV=production); pass --force if you mean it")
	}
	log := newLogger(cfg, stderr)
	db, m, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	if err := m.Check(ctx); err != nil {
		return fmt.Errorf("database not ready: %w", err)
	}

	if *seed == 0 {
		*seed = rand.Uint64() //nolint:gosec // G404: demo data; a seed, printed so the run can be repeated, not a secret
	}
	start := time.Now()
	stageStart := map[string]time.Time{} // stages overlap: audit rows go in alongside the rest
	st, err := models.Seed(ctx, db, models.SeedOptions{
		Users: *users, Bots: *bots, VersionsPerBot: *versions, Executions: *executions, Audit: *audit,
		Rand: rand.New(rand.NewPCG(*seed, *seed^0x9e3779b97f4a7c15)), //nolint:gosec // G404: demo data, reproducible from the seed by design
		Progress: func(stage string, done, total int) {
			if done == 0 {
				stageStart[stage] = time.Now()
				return
			}
			el := time.Since(stageStart[stage])
			_, _ = fmt.Fprintf(stderr, "seed: %-10s %9d / %-9d %8.1fs %10.0f/s\n", stage, done, total, el.Seconds(), float64(done)/el.Seconds())
		},
	})
	if err != nil {
		return err
	}
	el := time.Since(start)
	_, _ = fmt.Fprintf(stdout, "seeded %d users, %d bots, %d versions, %d tags, %d executions, %d audit rows: %d rows in %.1fs (%.0f rows/s, %s, seed %d)\n",
		st.Users, st.Bots, st.Versions, st.Tags, st.Executions, st.Audit, st.Rows(), el.Seconds(), float64(st.Rows())/el.Seconds(), db.Dialect, *seed)
	return nil
}

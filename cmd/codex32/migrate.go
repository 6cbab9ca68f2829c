package main

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/codex32/codex32/internal/config"
)

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", "codex32 migrate up | down [N] [--all] | status", stdout)
	all := fs.Bool("all", false, "with down: roll back every migration, River's included")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// Allow "down --all" and "down 2" as well as "--all down".
	rest := fs.Args()
	if len(rest) > 1 {
		if err := parseFlags(fs, rest[1:]); err != nil {
			return err
		}
		rest = append([]string{rest[0]}, fs.Args()...)
	}
	if len(rest) == 0 {
		return &usageError{msg: "migrate needs up, down or status (run codex32 help)"}
	}
	sub := rest[0]
	steps := 1
	switch {
	case sub == "down" && *all:
		steps = -1
		if len(rest) > 1 {
			return &usageError{msg: "migrate down takes N or --all, not both"}
		}
	case sub == "down" && len(rest) == 2:
		n, err := strconv.Atoi(rest[1])
		if err != nil || n < 1 {
			return &usageError{msg: fmt.Sprintf("migrate down: %q is not a positive number of steps", rest[1])}
		}
		steps = n
	case len(rest) > 1:
		return &usageError{msg: fmt.Sprintf("migrate %s: unexpected argument %q", sub, rest[1])}
	}
	if sub != "up" && sub != "down" && sub != "status" {
		return &usageError{msg: fmt.Sprintf("unknown migrate command %q (want up, down or status)", sub)}
	}

	cfg, err := config.Load()
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	db, m, err := openMigrateDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()

	switch sub {
	case "up":
		applied, err := m.Up(ctx)
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			_, _ = fmt.Fprintf(stdout, "schema is current (version %d)\n", m.Latest())
		}
		for _, a := range applied {
			_, _ = fmt.Fprintf(stdout, "applied %04d_%s\n", a.Version, a.Name)
		}
		if err := grantRuntimeRole(ctx, cfg, m, log); err != nil {
			return err
		}
	case "down":
		rolled, err := m.Down(ctx, steps)
		if err != nil {
			return err
		}
		if len(rolled) == 0 {
			_, _ = fmt.Fprintln(stdout, "nothing to roll back")
		}
		for _, r := range rolled {
			_, _ = fmt.Fprintf(stdout, "rolled back %04d_%s\n", r.Version, r.Name)
		}
		if steps < 0 {
			_, _ = fmt.Fprintln(stdout, "job queue (River) schema removed")
		}
	case "status":
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		state := "current"
		switch {
		case st.Current > st.Latest:
			state = "NEWER than this binary"
		case len(st.Pending) > 0:
			state = fmt.Sprintf("%d pending", len(st.Pending))
		}
		_, _ = fmt.Fprintf(stdout, "database: %s\nschema:   version %d of %d (%s)\n", db.Dialect, st.Current, st.Latest, state)
		for _, a := range st.Applied {
			_, _ = fmt.Fprintf(stdout, "  applied  %04d_%s  %s\n", a.Version, a.Name, a.AppliedAt.Format("2006-01-02 15:04:05Z07:00"))
		}
		for _, p := range st.Pending {
			_, _ = fmt.Fprintf(stdout, "  pending  %04d_%s\n", p.Version, p.Name)
		}
		_, _ = fmt.Fprintf(stdout, "job queue (River) schema: version %d of %d\n", st.RiverCurrent, st.RiverLatest)
	}
	return nil
}

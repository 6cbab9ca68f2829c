package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/codex32/codex32/internal/config"
	"github.com/codex32/codex32/models"
)

// cmdAudit: `codex32 audit verify` walks the hash chain and exits 0, or 1
// naming the first broken row. The outcome is recorded (and shown on /audit).
func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit", "codex32 audit verify", stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || fs.Arg(0) != "verify" {
		return &usageError{msg: "audit needs a command: verify"}
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	db, m, err := openDatabase(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	if err := m.Check(ctx); err != nil {
		return fmt.Errorf("database not ready: %w", err)
	}
	start := time.Now()
	res, err := models.VerifyAndRecordAuditChain(ctx, db.Bun, models.SystemActor("cli"))
	if err != nil {
		if !res.OK {
			return fmt.Errorf("audit chain BROKEN after %d intact rows: %s", res.Rows, res.Problem)
		}
		return err
	}
	_, _ = fmt.Fprintf(stdout, "audit chain OK: %d rows verified in %s\n", res.Rows, time.Since(start).Round(time.Millisecond))
	return nil
}

package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/codex32/codex32/internal/config"
	"github.com/codex32/codex32/models"
)

const auditUsage = `codex32 audit verify [--checkpoint FILE --public-key KEY]
       codex32 audit checkpoint [--out FILE]
       codex32 audit accept --reason "why the chain may be re-anchored"
       codex32 audit keygen
       codex32 audit public-key`

// cmdAudit dispatches the audit subcommands.
func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs := newFlagSet("audit", auditUsage, stdout)
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		return &usageError{msg: "audit needs a command: verify, checkpoint, accept, keygen or public-key"}
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "verify":
		return cmdAuditVerify(ctx, rest, stdout, stderr)
	case "checkpoint":
		return cmdAuditCheckpoint(ctx, rest, stdout, stderr)
	case "accept":
		return cmdAuditAccept(ctx, rest, stdout, stderr)
	case "keygen":
		return cmdAuditKeygen(rest, stdout)
	case "public-key":
		return cmdAuditPublicKey(rest, stdout, stderr)
	}
	return &usageError{msg: fmt.Sprintf("unknown audit command %q (want verify, checkpoint, accept, keygen or public-key)", sub)}
}

// openAudit loads the settings and opens a current database.
func openAudit(ctx context.Context, stderr io.Writer) (*config.Config, *slog.Logger, *models.DB, error) {
	cfg, err := config.Load()
	if err != nil {
		return nil, nil, nil, err
	}
	log := newLogger(cfg, stderr)
	db, m, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := m.Check(ctx); err != nil {
		_ = db.Close()
		return nil, nil, nil, fmt.Errorf("database not ready: %w", err)
	}
	return cfg, log, db, nil
}

// cmdAuditVerify walks the hash chain and exits 0, or 1 naming the first
// broken row. Stored checkpoints signed by the configured key must match;
// --checkpoint proves the chain up to a checkpoint kept outside the
// database is the one that was signed. The outcome is recorded (and shown
// on /audit); a failure stays until `audit accept`.
func cmdAuditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit verify", "codex32 audit verify [--checkpoint FILE --public-key KEY]", stdout)
	cpFile := fs.String("checkpoint", "", "a checkpoint file (codex32 audit checkpoint --out, or a JSON log line of one) the chain must match")
	pubFlag := fs.String("public-key", "", "the public key (64 hex characters, or a file holding them) that signed --checkpoint")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("audit verify: unexpected argument %q", fs.Arg(0))}
	}
	if (*cpFile == "") != (*pubFlag == "") {
		return &usageError{msg: "audit verify: --checkpoint and --public-key go together (the key is never taken from the file)"}
	}
	var opts models.AuditVerifyOptions
	if *cpFile != "" {
		data, err := os.ReadFile(*cpFile)
		if err != nil {
			return fmt.Errorf("read checkpoint: %w", err)
		}
		if opts.Checkpoint, err = models.ParseCheckpointFile(data); err != nil {
			return err
		}
		if opts.CheckpointKey, err = readPublicKey(*pubFlag); err != nil {
			return err
		}
	}
	cfg, _, db, err := openAudit(ctx, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	if opts.Key, err = auditVerifyKey(cfg); err != nil {
		return err
	}
	start := time.Now()
	res, err := models.VerifyAndRecordAuditChain(ctx, db.Bun, models.SystemActor("cli"), opts)
	if err != nil {
		if errors.Is(err, models.ErrAuditBroken) {
			return fmt.Errorf("audit chain BROKEN after %d intact rows: %s", res.Rows, res.Problem)
		}
		return err
	}
	msg := fmt.Sprintf("audit chain OK: %d rows verified in %s", res.Rows, time.Since(start).Round(time.Millisecond))
	if res.Checkpoints > 0 {
		msg += fmt.Sprintf("; %d stored signed checkpoints match", res.Checkpoints)
	}
	if c := opts.Checkpoint; c != nil {
		msg += fmt.Sprintf("; row %d has the hash signed by %s at %s", c.Seq, c.KeyID, c.SignedAt.UTC().Format(time.RFC3339))
	}
	_, _ = fmt.Fprintln(stdout, msg)
	return nil
}

// readPublicKey takes 64 hex characters, or the name of a file holding them.
func readPublicKey(v string) (ed25519.PublicKey, error) {
	if k, err := models.ParseAuditPublicKey(v); err == nil {
		return k, nil
	}
	data, err := os.ReadFile(v) //nolint:gosec // G304: a file the operator names on the command line
	if err != nil {
		return nil, &usageError{msg: fmt.Sprintf("--public-key: %q is neither 64 hex characters nor a readable file", v)}
	}
	k, err := models.ParseAuditPublicKey(string(data))
	if err != nil {
		return nil, &usageError{msg: fmt.Sprintf("--public-key %s: %v", v, err)}
	}
	return k, nil
}

// cmdAuditCheckpoint signs the chain's head now, stores the checkpoint,
// logs it and, with --out, writes it to a file for safekeeping outside the
// database.
func cmdAuditCheckpoint(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit checkpoint", "codex32 audit checkpoint [--out FILE]", stdout)
	out := fs.String("out", "", "also write the checkpoint to this file (keep it where the database's owner cannot rewrite it)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("audit checkpoint: unexpected argument %q", fs.Arg(0))}
	}
	cfg, log, db, err := openAudit(ctx, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	signer, err := auditSigner(cfg, log)
	if err != nil {
		return err
	}
	if signer == nil {
		return &config.Error{Setting: "CODEX32_AUDIT_SIGNING_KEY", Problem: "is not set: checkpoints cannot be signed (make a key with: codex32 audit keygen)"}
	}
	c, created, err := models.CreateAuditCheckpoint(ctx, db.Bun, signer, models.SystemActor("cli"))
	if err != nil {
		return err
	}
	if created {
		logCheckpoint(log, c)
	}
	if *out != "" {
		data, err := models.MarshalCheckpointFile(c)
		if err != nil {
			return err
		}
		if err := os.WriteFile(*out, data, 0o644); err != nil { //nolint:gosec // a checkpoint is public: it holds no secret
			return fmt.Errorf("write checkpoint: %w", err)
		}
	}
	verb := "signed"
	if !created {
		verb = "unchanged (the head has not moved since the last one)"
	}
	_, _ = fmt.Fprintf(stdout, "audit checkpoint %s: row %d, hash %s, key %s, signed at %s\n", verb, c.Seq, c.Hash, c.KeyID, c.SignedAt.UTC().Format(time.RFC3339))
	return nil
}

// logCheckpoint writes a checkpoint as one structured log line: the log is
// kept apart from the database, so the line is a copy its owner cannot
// rewrite. With LOG_FORMAT=json the line is itself a checkpoint file.
func logCheckpoint(log *slog.Logger, c *models.AuditCheckpoint) {
	log.Info("audit checkpoint", "seq", c.Seq, "hash", c.Hash, "signed_at", c.SignedAt.UTC().Format(time.RFC3339Nano),
		"key_id", c.KeyID, "public_key", c.PublicKey, "signature", c.Signature)
}

// cmdAuditAccept re-anchors a chain that failed verification, stating why.
func cmdAuditAccept(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit accept", `codex32 audit accept --reason "..."`, stdout)
	reason := fs.String("reason", "", "why the chain as it is now may become the new anchor (recorded in the audit log)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("audit accept: unexpected argument %q", fs.Arg(0))}
	}
	if strings.TrimSpace(*reason) == "" {
		return &usageError{msg: `audit accept needs --reason "..." saying why the chain may be re-anchored`}
	}
	_, _, db, err := openAudit(ctx, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	res, err := models.AcceptAuditChain(ctx, db.Bun, models.SystemActor(cliOperator()), *reason)
	if err != nil {
		return err
	}
	_, _ = fmt.Fprintf(stdout, "audit chain re-anchored at row %d (%d rows verified); recorded as audit.accept\n", res.HeadSeq, res.Rows)
	return nil
}

// cliOperator names who ran the command, as well as the CLI can tell: the
// operating-system user and host.
func cliOperator() string {
	who := os.Getenv("USER")
	if who == "" {
		who = "unknown"
	}
	host, _ := os.Hostname()
	return "cli (" + who + "@" + host + ")"
}

// cmdAuditKeygen prints a new signing key and its public key.
func cmdAuditKeygen(args []string, stdout io.Writer) error {
	fs := newFlagSet("audit keygen", "codex32 audit keygen", stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	s, private, err := models.NewAuditSigningKey()
	if err != nil {
		return err
	}
	_, _ = fmt.Fprintf(stdout, `# Secret: give it to codex32 serve, never store it in the database.
CODEX32_AUDIT_SIGNING_KEY=%s
# Public (key id %s): verify checkpoints with codex32 audit verify --public-key.
%x
`, private, s.KeyID(), []byte(s.Public()))
	return nil
}

// cmdAuditPublicKey prints the configured signing key's public key.
func cmdAuditPublicKey(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit public-key", "codex32 audit public-key", stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	s, err := auditSigner(cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	if s == nil {
		return &config.Error{Setting: "CODEX32_AUDIT_SIGNING_KEY", Problem: "is not set"}
	}
	_, _ = fmt.Fprintf(stdout, "%x\n", []byte(s.Public()))
	return nil
}

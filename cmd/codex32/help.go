package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/codex32/codex32/internal/config"
)

// buildVersion is set at link time: -ldflags "-X main.buildVersion=v1.2.3".
var buildVersion = ""

func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if dirty {
				rev += "-dirty"
			}
			return "dev-" + rev
		}
		if v := info.Main.Version; v != "" && v != "(devel)" {
			return v
		}
	}
	return "dev"
}

func writeHelp(w io.Writer) {
	_, _ = fmt.Fprint(w, `codex32 — self-hosted dashboard for managing bots

Usage:
  codex32 [serve] [flags]        serve the web dashboard and run executions (the default)
  codex32 worker                 run executions only (several may share one Postgres)
  codex32 migrate up             apply pending database migrations (as DATABASE_MIGRATE_URL when set)
  codex32 migrate down [N|--all] roll back the newest N migrations (default 1); --all removes every table
  codex32 migrate status         show applied and pending migrations
  codex32 user create --email E --name N --role R [--password-stdin]
                                 create an account (admin, user, viewer or api_user)
  codex32 user set-role --email E --role R
  codex32 user disable|enable --email E
  codex32 user token --email E --name N --scopes read,write,execute [--expires 90d]
                                 print a new API key for that user
  codex32 import [--owner EMAIL] PATH...
                                 create bots from JSON files or folders (idempotent)
  codex32 audit verify [--checkpoint FILE --public-key KEY]
                                 check the audit log's hash chain (and its signed checkpoints); non-zero names
                                 the first broken row; a failure stays until audit accept
  codex32 audit checkpoint [--out FILE]
                                 sign the chain's head now (CODEX32_AUDIT_SIGNING_KEY); store, log, write to FILE
  codex32 audit accept --reason R
                                 after a failed verification, accept the chain as it is as the new anchor (audited)
  codex32 audit keygen           print a new checkpoint signing key and its public key
  codex32 audit public-key       print the configured signing key's public key
  codex32 db grants --role NAME [--apply]
                                 Postgres: the privileges of a least-privilege runtime role (no ALTER, TRUNCATE,
                                 UPDATE or DELETE on the audit log); --apply runs them as DATABASE_MIGRATE_URL
  codex32 seed --bots N [--users U] [--versions V] [--executions E] [--audit A] [--seed S]   add synthetic demo data
  codex32 version                print the version
  codex32 help                   this text

Serve flags:
  --migrate=false                do not apply migrations at start (the schema must then be current)

Settings (environment variables):
`)
	config.WriteHelp(w)
}

// newFlagSet makes a flag set whose --help prints the command's usage, the
// settings table, and exits 0.
func newFlagSet(name, usage string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		_, _ = fmt.Fprintf(w, "Usage: %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
		_, _ = fmt.Fprintln(w, "\nSettings (environment variables):")
		config.WriteHelp(w)
	}
	return fs
}

// parseFlags parses args, mapping -h/--help to errHelpShown and other
// mistakes to a usage error (exit 2).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelpShown
		}
		return &usageError{msg: err.Error()}
	}
	return nil
}

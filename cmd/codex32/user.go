package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/codex32/codex32/internal/config"
	"github.com/codex32/codex32/models"
)

const userUsage = `codex32 user create --email E --name N --role R [--password-stdin]
  codex32 user set-role --email E --role R
  codex32 user disable --email E
  codex32 user enable --email E
  codex32 user token --email E --name N --scopes read,write,execute [--expires 90d]`

// cmdUser manages accounts from the command line. Every change is audited
// with the actor "cli".
func cmdUser(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			_, _ = fmt.Fprintln(stdout, "Usage:\n  "+userUsage)
			return errHelpShown
		}
		return &usageError{msg: "user needs a command: create, set-role, disable, enable or token (run codex32 help)"}
	}
	sub := args[0]
	fs := newFlagSet("user "+sub, userUsage, stdout)
	email := fs.String("email", "", "the user's email address")
	name := fs.String("name", "", "create: the user's name; token: the key's name")
	role := fs.String("role", "", "admin, user, viewer or api_user")
	pwStdin := fs.Bool("password-stdin", false, "create: read a password from standard input (otherwise the account has none: SSO only)")
	scopes := fs.String("scopes", "", "token: comma-separated scopes (read, write, execute)")
	expires := fs.String("expires", "90d", "token: lifetime, e.g. 30d or 720h")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *email == "" {
		return &usageError{msg: "user " + sub + ": --email is required"}
	}
	cfg, err := config.Load()
	if err != nil {
		return err
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
	actor := models.SystemActor("cli")

	if sub == "create" {
		u := &models.User{Email: *email, Name: *name, Username: strings.Split(*email, "@")[0], Role: models.Role(*role), IsActive: true}
		if *role == "" {
			return &usageError{msg: "user create: --role is required (admin, user, viewer or api_user)"}
		}
		if *pwStdin {
			pw, err := readPassword(stdin)
			if err != nil {
				return err
			}
			if msg := models.CheckPasswordPolicy(pw, *email); msg != "" {
				return fmt.Errorf("password %s", msg)
			}
			h, err := models.HashPassword(pw)
			if err != nil {
				return err
			}
			u.PasswordHash = &h
		}
		if err := models.CreateUser(ctx, db.Bun, actor, u); err != nil {
			return describe(err)
		}
		if err := models.MarkSetupDone(ctx, db.Bun); err != nil {
			return err
		}
		_, _ = fmt.Fprintf(stdout, "created %s (%s) with role %s\n", u.Email, u.ID, u.Role)
		return nil
	}

	u, err := models.UserByEmail(ctx, db.Bun, *email)
	if err != nil {
		if errors.Is(err, models.ErrNotFound) {
			return fmt.Errorf("no user with email %s", *email)
		}
		return err
	}
	switch sub {
	case "set-role":
		if _, err := models.SetUserRole(ctx, db.Bun, actor, u.ID, models.Role(*role)); err != nil {
			return describe(err)
		}
		_, _ = fmt.Fprintf(stdout, "%s is now %s\n", u.Email, *role)
	case "disable", "enable":
		if _, err := models.SetUserActive(ctx, db.Bun, actor, u.ID, sub == "enable"); err != nil {
			return describe(err)
		}
		_, _ = fmt.Fprintf(stdout, "%s %sd\n", u.Email, sub)
	case "token":
		ttl, err := parseTTL(*expires)
		if err != nil {
			return &usageError{msg: "user token: --expires: " + err.Error()}
		}
		if ttl > time.Duration(cfg.APIKeyMaxDays)*24*time.Hour {
			return &usageError{msg: fmt.Sprintf("user token: --expires is longer than CODEX32_API_KEY_MAX_DAYS (%d days)", cfg.APIKeyMaxDays)}
		}
		exp := time.Now().Add(ttl)
		k := &models.APIKey{UserID: u.ID, Name: *name, Scopes: splitList(*scopes), ExpiresAt: &exp}
		key, err := models.CreateAPIKey(ctx, db.Bun, actor, k)
		if err != nil {
			return describe(err)
		}
		_, _ = fmt.Fprintln(stdout, key)
		_, _ = fmt.Fprintf(stderr, "API key %q for %s, scopes %s, expires %s. It is shown only now.\n", k.Name, u.Email, strings.Join(k.Scopes, ","), exp.UTC().Format(time.RFC3339))
	default:
		return &usageError{msg: fmt.Sprintf("unknown user command %q (want create, set-role, disable, enable or token)", sub)}
	}
	return nil
}

// describe turns a validation error into one readable line.
func describe(err error) error {
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		parts := make([]string, 0, len(ve.Fields))
		for k, v := range ve.Fields {
			parts = append(parts, "--"+strings.ReplaceAll(k, "_", "-")+" "+v)
		}
		return errors.New(strings.Join(parts, "; "))
	}
	if errors.Is(err, models.ErrConflict) {
		return errors.New("a user with that email or username already exists")
	}
	return err
}

func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input")
	}
	return line, nil
}

// parseTTL accepts Go durations and whole days ("90d").
func parseTTL(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a duration like 90d or 720h", s)
	}
	return d, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

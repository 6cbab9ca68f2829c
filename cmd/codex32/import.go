package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/codex32/codex32/internal/config"
	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
)

// cmdImport: `codex32 import [--owner EMAIL] PATH...` creates a bot (version
// 1, audited as bot.import) for each JSON file, or each *.json in a folder.
// A file that fails is reported and does not stop the others; the exit
// status is 1 if any failed. Running it twice reports "unchanged".
func cmdImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("import", "codex32 import [--owner EMAIL] PATH...", stdout)
	owner := fset.String("owner", "", "email of the user who will own the bots (default: the first admin)")
	if err := parseFlags(fset, args); err != nil {
		return err
	}
	if fset.NArg() == 0 {
		return &usageError{msg: "import needs at least one file or folder"}
	}
	files, err := collectJSON(fset.Args())
	if err != nil {
		return &usageError{msg: err.Error()}
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
	u, err := importOwner(ctx, db, *owner)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, path := range files {
		result, err := importFile(ctx, db, u, path)
		if err != nil {
			counts["failed"]++
			_, _ = fmt.Fprintf(stdout, "FAILED     %s: %v\n", path, err)
			continue
		}
		counts[string(result)]++
		_, _ = fmt.Fprintf(stdout, "%-10s %s\n", result, path)
	}
	_, _ = fmt.Fprintf(stdout, "%d files: %d created, %d updated, %d unchanged, %d failed (owner %s)\n",
		len(files), counts["created"], counts["updated"], counts["unchanged"], counts["failed"], u.Email)
	if counts["failed"] > 0 {
		return fmt.Errorf("%d of %d files could not be imported", counts["failed"], len(files))
	}
	return nil
}

func importFile(ctx context.Context, db *models.DB, owner *models.User, path string) (models.ImportResult, error) {
	data, err := os.ReadFile(path) //nolint:gosec // G304: a file the operator names on the command line
	if err != nil {
		return "", err
	}
	f, err := models.ParseBotFile(data)
	if err != nil {
		return "", err
	}
	if _, err := runner.ValidateConfig(f.Kind, f.Config); err != nil {
		return "", err
	}
	actor := models.Actor{UserID: &owner.ID, Label: "cli"}
	res, _, err := models.ImportBot(ctx, db.Bun, actor, owner.ID, f, filepath.Base(path))
	return res, err
}

func importOwner(ctx context.Context, db *models.DB, email string) (*models.User, error) {
	if email != "" {
		u, err := models.UserByEmail(ctx, db.Bun, email)
		if errors.Is(err, models.ErrNotFound) {
			return nil, fmt.Errorf("--owner: no user with email %s", email)
		}
		return u, err
	}
	admins, err := models.ListUsers(ctx, db.Bun, models.UserFilter{Limit: 500})
	if err != nil {
		return nil, err
	}
	for i := len(admins) - 1; i >= 0; i-- { // oldest first
		if admins[i].Role == models.RoleAdmin && admins[i].IsActive {
			return admins[i], nil
		}
	}
	return nil, errors.New("no admin exists to own the bots: create one first, or pass --owner EMAIL")
}

// collectJSON expands folders to their *.json files (sorted), keeps files as given.
func collectJSON(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.EqualFold(filepath.Ext(path), ".json") {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

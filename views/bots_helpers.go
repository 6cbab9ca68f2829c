package views

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/codex32/codex32/models"
)

func statusClasses(s models.BotStatus) string {
	switch s {
	case models.BotActive:
		return "bg-green-100 text-green-800 dark:bg-green-900 dark:text-green-100"
	case models.BotError:
		return "bg-red-100 text-red-800 dark:bg-red-900 dark:text-red-100"
	case models.BotMaintenance:
		return "bg-amber-100 text-amber-800 dark:bg-amber-900 dark:text-amber-100"
	default:
		return "bg-slate-200 text-slate-700 dark:bg-slate-700 dark:text-slate-200"
	}
}

func statusOptions() [][2]string {
	out := [][2]string{{"", "Any"}}
	for _, s := range models.BotStatuses {
		out = append(out, [2]string{string(s), string(s)})
	}
	return out
}

func kindOptions() [][2]string {
	out := [][2]string{{"", "Any"}}
	for _, k := range models.BotKinds {
		out = append(out, [2]string{string(k), string(k)})
	}
	return out
}

func sortOptions() [][2]string {
	return [][2]string{{models.SortUpdated, "Recently updated"}, {models.SortName, "Name"}, {models.SortLastRun, "Last run"}}
}

func countLabel(n int, capped bool) string {
	switch {
	case capped:
		return fmt.Sprintf("More than %s bots", thousands(n))
	case n == 1:
		return "1 bot"
	}
	return thousands(n) + " bots"
}

// thousands formats n with comma separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func ownerLabel(name, email string) string {
	if name != "" {
		return name
	}
	return email
}

func successLabel(rate float64, total int64) string {
	if rate < 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f%% of %d", rate*100, total)
}

func joinQuery(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "&" + b
}

func ownerOf(u *models.User) string {
	if u == nil {
		return "a deleted user"
	}
	return ownerLabel(u.Name, u.Email)
}

func authorOf(authors map[string]string, id *uuid.UUID) string {
	if id == nil {
		return "system"
	}
	if a, ok := authors[id.String()]; ok {
		return a
	}
	return "a deleted user"
}

// pluralOf picks the wording for n things.
func pluralOf(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

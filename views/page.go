// Package views holds the templ components. Components receive everything
// they show as arguments; they never query anything.
package views

import (
	"encoding/json"
	"net/url"

	"github.com/codex32/codex32/models"
)

// Page is what the layout needs from every handler.
type Page struct {
	Title   string
	Active  string // the nav item to highlight, e.g. "home"
	Flashes []Flash
	Version string
	User    *models.User // nil when signed out
	CSRF    string       // the session's CSRF token
}

// FlashKind colours a flash message.
type FlashKind string

const (
	FlashSuccess FlashKind = "success"
	FlashError   FlashKind = "error"
	FlashInfo    FlashKind = "info"
)

// Flash is a one-time message shown at the top of the next page.
type Flash struct {
	Kind    FlashKind
	Message string
}

// NavItem is one entry of the header navigation. Items whose pages do not
// exist yet are shown disabled rather than linking to a 404.
type NavItem struct {
	Key, Label, Href string
	Enabled          bool
	Needs            models.Permission // shown only to users who have it
}

// Nav is the header navigation.
var Nav = []NavItem{
	{Key: "home", Label: "Dashboard", Href: "/", Enabled: true, Needs: models.PermSignInHTML},
	{Key: "bots", Label: "Bots", Href: "/bots", Enabled: true, Needs: models.PermBotsRead},
	{Key: "executions", Label: "Executions", Href: "/executions", Enabled: true, Needs: models.PermBotsRead},
	{Key: "audit", Label: "Audit log", Href: "/audit", Enabled: true, Needs: models.PermAuditRead},
	{Key: "secrets", Label: "Secrets", Href: "/admin/secrets", Enabled: true, Needs: models.PermSystemSettings},
	{Key: "users", Label: "Users", Href: "/admin/users", Enabled: true, Needs: models.PermUsersManage},
}

// visibleNav is the navigation for a user (none when signed out).
func visibleNav(u *models.User) []NavItem {
	var out []NavItem
	for _, it := range Nav {
		if u.Can(it.Needs) {
			out = append(out, it)
		}
	}
	return out
}

// htmxConfig locks htmx down (no eval, no inline scripts, same-origin
// requests only, no page snapshots in localStorage) and lets 4xx/5xx
// responses swap, so error messages the server retargets become visible.
const htmxConfig = `{"allowEval":false,"allowScriptTags":false,"selfRequestsOnly":true,"includeIndicatorStyles":false,` +
	`"historyCacheSize":0,"refreshOnHistoryMiss":true,` +
	`"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},{"code":"[45]..","swap":true,"error":true}]}`

func csrfHeaders(token string) string {
	b, _ := json.Marshal(map[string]string{"X-CSRF-Token": token})
	return string(b)
}

func flashClasses(k FlashKind) string {
	switch k {
	case FlashSuccess:
		return "border-green-300 bg-green-50 text-green-800 dark:border-green-700 dark:bg-green-950 dark:text-green-200"
	case FlashError:
		return "border-red-300 bg-red-50 text-red-800 dark:border-red-700 dark:bg-red-950 dark:text-red-200"
	default:
		return "border-blue-300 bg-blue-50 text-blue-800 dark:border-blue-700 dark:bg-blue-950 dark:text-blue-200"
	}
}

func pageTitle(p Page) string {
	if p.Title == "" {
		return "Codex-32"
	}
	return p.Title + " · Codex-32"
}

func displayName(u *models.User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.Username
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

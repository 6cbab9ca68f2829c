// Package views holds the templ components. Components receive everything
// they show as arguments; they never query anything.
package views

// Page is what the layout needs from every handler.
type Page struct {
	Title   string
	Active  string // the nav item to highlight, e.g. "home"
	Flashes []Flash
	Version string
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
}

// Nav is the header navigation.
var Nav = []NavItem{
	{Key: "home", Label: "Dashboard", Href: "/", Enabled: true},
	{Key: "bots", Label: "Bots", Href: "/bots"},
	{Key: "executions", Label: "Executions", Href: "/executions"},
	{Key: "audit", Label: "Audit log", Href: "/audit"},
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

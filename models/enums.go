package models

import "slices"

// Role is what a user may do. The database has a CHECK constraint with the same values.
type Role string

const (
	RoleAdmin   Role = "admin"
	RoleUser    Role = "user"
	RoleViewer  Role = "viewer"
	RoleAPIUser Role = "api_user"
)

// Roles lists every role, most powerful first.
var Roles = []Role{RoleAdmin, RoleUser, RoleViewer, RoleAPIUser}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// BotKind is what a bot's config describes.
type BotKind string

const (
	KindHTTP   BotKind = "http"
	KindLLM    BotKind = "llm"
	KindScript BotKind = "script"
)

// BotKinds lists every kind.
var BotKinds = []BotKind{KindHTTP, KindLLM, KindScript}

// Valid reports whether k is a known kind.
func (k BotKind) Valid() bool { return slices.Contains(BotKinds, k) }

// BotStatus is a bot's operational state.
type BotStatus string

const (
	BotActive      BotStatus = "active"
	BotInactive    BotStatus = "inactive"
	BotError       BotStatus = "error"
	BotMaintenance BotStatus = "maintenance"
)

// BotStatuses lists every status.
var BotStatuses = []BotStatus{BotActive, BotInactive, BotError, BotMaintenance}

// Valid reports whether s is a known status.
func (s BotStatus) Valid() bool { return slices.Contains(BotStatuses, s) }

// ExecStatus is where an execution is in its life.
type ExecStatus string

const (
	ExecQueued    ExecStatus = "queued"
	ExecRunning   ExecStatus = "running"
	ExecSuccess   ExecStatus = "success"
	ExecFailed    ExecStatus = "failed"
	ExecCancelled ExecStatus = "cancelled"
	ExecTimedOut  ExecStatus = "timed_out"
)

// ExecStatuses lists every execution status.
var ExecStatuses = []ExecStatus{ExecQueued, ExecRunning, ExecSuccess, ExecFailed, ExecCancelled, ExecTimedOut}

// Valid reports whether s is a known status.
func (s ExecStatus) Valid() bool { return slices.Contains(ExecStatuses, s) }

// Terminal reports whether the execution has finished.
func (s ExecStatus) Terminal() bool {
	return s == ExecSuccess || s == ExecFailed || s == ExecCancelled || s == ExecTimedOut
}

// Trigger is what started an execution.
type Trigger string

const (
	TriggerManual   Trigger = "manual"
	TriggerAPI      Trigger = "api"
	TriggerWebhook  Trigger = "webhook"
	TriggerSchedule Trigger = "schedule"
	TriggerReplay   Trigger = "replay"
)

// Triggers lists every trigger.
var Triggers = []Trigger{TriggerManual, TriggerAPI, TriggerWebhook, TriggerSchedule, TriggerReplay}

// Valid reports whether t is a known trigger.
func (t Trigger) Valid() bool { return slices.Contains(Triggers, t) }

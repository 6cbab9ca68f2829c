package handlers

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/codex32/codex32/models"
)

// The JSON shapes of /api/v1. Field names are snake_case and stable: they
// are the contract in handlers/openapi/openapi.yaml, which the tests check
// every response against. Never add secrets, password or key hashes here.

// apiPage is every list: one page and the cursor of the next (null on the last).
type apiPage[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func newAPIPage[T any](items []T, next string) apiPage[T] {
	if items == nil {
		items = []T{}
	}
	p := apiPage[T]{Items: items}
	if next != "" {
		p.NextCursor = &next
	}
	return p
}

type apiUser struct {
	ID          uuid.UUID  `json:"id"`
	Email       string     `json:"email"`
	Username    string     `json:"username"`
	Name        string     `json:"name"`
	Role        string     `json:"role"`
	IsActive    bool       `json:"is_active"`
	LastLoginAt *time.Time `json:"last_login_at"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

func toAPIUser(u *models.User) apiUser {
	return apiUser{ID: u.ID, Email: u.Email, Username: u.Username, Name: u.Name, Role: string(u.Role), IsActive: u.IsActive,
		LastLoginAt: utcPtr(u.LastLoginAt), CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC()}
}

type apiKey struct {
	ID         uuid.UUID  `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Scopes     []string   `json:"scopes"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	CreatedAt  time.Time  `json:"created_at"`
}

func toAPIKey(k *models.APIKey) apiKey {
	return apiKey{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Scopes: k.Scopes, ExpiresAt: utcPtr(k.ExpiresAt),
		LastUsedAt: utcPtr(k.LastUsedAt), CreatedAt: k.CreatedAt.UTC()}
}

type apiMe struct {
	User apiUser `json:"user"`
	Key  apiKey  `json:"key"`
}

type apiBotStats struct {
	TotalExecutions      int64      `json:"total_executions"`
	SuccessfulExecutions int64      `json:"successful_executions"`
	FailedExecutions     int64      `json:"failed_executions"`
	AvgDurationMS        float64    `json:"avg_duration_ms"`
	LastExecutedAt       *time.Time `json:"last_executed_at"`
	ConsecutiveFailures  int        `json:"consecutive_failures"`
}

type apiBot struct {
	ID            uuid.UUID   `json:"id"`
	Name          string      `json:"name"`
	Description   string      `json:"description"`
	Kind          string      `json:"kind"`
	Status        string      `json:"status"`
	Tags          []string    `json:"tags"`
	OwnerID       uuid.UUID   `json:"owner_id"`
	OwnerEmail    string      `json:"owner_email"`
	ActiveVersion *int        `json:"active_version"`
	LatestVersion *int        `json:"latest_version,omitempty"` // single-bot answers only
	Archived      bool        `json:"archived"`
	ArchivedAt    *time.Time  `json:"archived_at"`
	Stats         apiBotStats `json:"stats"`
	CreatedAt     time.Time   `json:"created_at"`
	UpdatedAt     time.Time   `json:"updated_at"`
}

func toAPIBot(b *models.Bot, ownerEmail string, active *int) apiBot {
	tags := b.Tags
	if tags == nil {
		tags = []string{}
	}
	return apiBot{
		ID: b.ID, Name: b.Name, Description: b.Description, Kind: string(b.Kind), Status: string(b.Status), Tags: tags,
		OwnerID: b.OwnerID, OwnerEmail: ownerEmail, ActiveVersion: active, Archived: b.ArchivedAt != nil, ArchivedAt: utcPtr(b.ArchivedAt),
		Stats: apiBotStats{TotalExecutions: b.TotalExecutions, SuccessfulExecutions: b.SuccessfulExecutions, FailedExecutions: b.FailedExecutions,
			AvgDurationMS: b.AvgDurationMS, LastExecutedAt: utcPtr(b.LastExecutedAt), ConsecutiveFailures: b.ConsecutiveFailures},
		CreatedAt: b.CreatedAt.UTC(), UpdatedAt: b.UpdatedAt.UTC(),
	}
}

type apiVersion struct {
	ID          uuid.UUID       `json:"id"`
	Number      int             `json:"number"`
	Kind        string          `json:"kind"`
	ContentHash string          `json:"content_hash"`
	Changelog   string          `json:"changelog"`
	AuthorID    *uuid.UUID      `json:"author_id"`
	Active      bool            `json:"active"`
	CreatedAt   time.Time       `json:"created_at"`
	Config      json.RawMessage `json:"config,omitempty"` // single-version answers only
}

func toAPIVersion(v *models.BotVersion, b *models.Bot, withConfig bool) apiVersion {
	out := apiVersion{ID: v.ID, Number: v.Number, Kind: string(v.Kind), ContentHash: v.ContentHash, Changelog: v.Changelog,
		AuthorID: v.AuthorID, Active: b.ActiveVersionID != nil && *b.ActiveVersionID == v.ID, CreatedAt: v.CreatedAt.UTC()}
	if withConfig {
		out.Config = v.Config
	}
	return out
}

type apiDiffChange struct {
	Path string          `json:"path"`
	Op   string          `json:"op"`
	Old  json.RawMessage `json:"old,omitempty"`
	New  json.RawMessage `json:"new,omitempty"`
}

type apiDiff struct {
	From    int             `json:"from"`
	To      int             `json:"to"`
	Changes []apiDiffChange `json:"changes"`
	Unified string          `json:"unified"`
}

type apiExecutionSummary struct {
	ID                uuid.UUID  `json:"id"`
	BotID             uuid.UUID  `json:"bot_id"`
	BotName           string     `json:"bot_name"`
	VersionID         *uuid.UUID `json:"version_id"`
	Version           *int       `json:"version"`
	Status            string     `json:"status"`
	Trigger           string     `json:"trigger"`
	Attempt           int        `json:"attempt"`
	MaxAttempts       int        `json:"max_attempts"`
	QueuedAt          time.Time  `json:"queued_at"`
	StartedAt         *time.Time `json:"started_at"`
	EndedAt           *time.Time `json:"ended_at"`
	DurationMS        *float64   `json:"duration_ms"`
	RequestedBy       *uuid.UUID `json:"requested_by"`
	RequesterEmail    *string    `json:"requester_email"`
	CancelRequestedAt *time.Time `json:"cancel_requested_at"`
	RetryAt           *time.Time `json:"retry_at"`
}

func toAPIExecutionSummary(r *models.ExecutionRow) apiExecutionSummary {
	return apiExecutionSummary{
		ID: r.ID, BotID: r.BotID, BotName: r.BotName, VersionID: r.VersionID, Version: r.VersionNumber, Status: string(r.Status),
		Trigger: string(r.Trigger), Attempt: r.Attempt, MaxAttempts: r.MaxAttempts, QueuedAt: r.QueuedAt.UTC(),
		StartedAt: utcPtr(r.StartedAt), EndedAt: utcPtr(r.EndedAt), DurationMS: r.DurationMS, RequestedBy: r.RequestedBy,
		RequesterEmail: r.RequesterEmail, CancelRequestedAt: utcPtr(r.CancelRequestedAt), RetryAt: utcPtr(r.RetryAt),
	}
}

type apiAttempt struct {
	N         int        `json:"n"`
	Worker    string     `json:"worker"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at"`
	Status    string     `json:"status"`
	Error     string     `json:"error"`
}

type apiExecution struct {
	apiExecutionSummary
	Input    json.RawMessage `json:"input"`
	Output   json.RawMessage `json:"output"`
	Error    string          `json:"error"`
	Logs     string          `json:"logs"`
	Attempts []apiAttempt    `json:"attempts"`
}

func toAPIExecution(r *models.ExecutionRow, e *models.Execution) apiExecution {
	out := apiExecution{apiExecutionSummary: toAPIExecutionSummary(r), Input: jsonOrNull(e.Input), Output: jsonOrNull(e.Output),
		Error: e.Error, Logs: e.Logs, Attempts: []apiAttempt{}}
	for _, a := range e.Attempts {
		out.Attempts = append(out.Attempts, apiAttempt{N: a.N, Worker: a.Worker, StartedAt: a.StartedAt.UTC(), EndedAt: utcPtr(a.EndedAt),
			Status: a.Status, Error: a.Error})
	}
	return out
}

type apiAuditEntry struct {
	Seq           int64           `json:"seq"`
	ID            uuid.UUID       `json:"id"`
	CreatedAt     time.Time       `json:"created_at"`
	ActorUserID   *uuid.UUID      `json:"actor_user_id"`
	ActorAPIKeyID *uuid.UUID      `json:"actor_api_key_id"`
	Actor         string          `json:"actor"`
	Action        string          `json:"action"`
	ResourceType  string          `json:"resource_type"`
	ResourceID    string          `json:"resource_id"`
	BotID         *uuid.UUID      `json:"bot_id"`
	OldValues     json.RawMessage `json:"old_values"`
	NewValues     json.RawMessage `json:"new_values"`
	IP            string          `json:"ip"`
	UserAgent     string          `json:"user_agent"`
	PrevHash      string          `json:"prev_hash"`
	Hash          string          `json:"hash"`
}

func toAPIAuditEntry(a *models.AuditLog) apiAuditEntry {
	return apiAuditEntry{Seq: a.Seq, ID: a.ID, CreatedAt: a.CreatedAt.UTC(), ActorUserID: a.ActorUserID, ActorAPIKeyID: a.ActorAPIKeyID,
		Actor: a.ActorLabel, Action: a.Action, ResourceType: a.ResourceType, ResourceID: a.ResourceID, BotID: a.BotID,
		OldValues: jsonOrNull(a.OldValues), NewValues: jsonOrNull(a.NewValues), IP: a.IP, UserAgent: a.UserAgent,
		PrevHash: a.PrevHash, Hash: a.Hash}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// jsonOrNull is stored JSON as a value of the answer (null when there is none).
func jsonOrNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
}

package runner

import (
	"context"
	"encoding/json"

	"github.com/codex32/codex32/models"
)

// unknownKind labels an execution whose version (and so kind) is gone.
const unknownKind = "unknown"

// kindOf is the bot kind of ex's version, from the config cache.
func (e *Engine) kindOf(ctx context.Context, ex *models.Execution) string {
	if ex.VersionID == nil {
		return unknownKind
	}
	cfg, err := e.configByVersionID(ctx, *ex.VersionID)
	if err != nil {
		return unknownKind
	}
	return string(cfg.Kind())
}

// countTokens counts the tokens an llm answer reports (its output's usage).
func (e *Engine) countTokens(c *LLMConfig, res *Result) {
	if e.cfg.Metrics == nil || res == nil {
		return
	}
	var out struct {
		Model string   `json:"model"`
		Usage llmUsage `json:"usage"`
	}
	if json.Unmarshal(res.Output, &out) != nil {
		return
	}
	model := out.Model
	if model == "" {
		model = c.Model
	}
	e.cfg.Metrics.LLMTokens(model, int(out.Usage.PromptTokens), int(out.Usage.CompletionTokens))
}

// countAttempt records an attempt whose outcome f was stored: its queue
// wait and run time, and — when it ended the execution — the execution.
func (e *Engine) countAttempt(kind string, ex *models.Execution, f models.Finish) {
	m := e.cfg.Metrics
	if m == nil {
		return
	}
	due := ex.QueuedAt
	if ex.RetryAt != nil && ex.RetryAt.After(due) {
		due = *ex.RetryAt
	}
	if !due.IsZero() && !f.Started.IsZero() {
		m.ExecutionStarted(kind, f.Started.Sub(due))
	}
	if f.Requeue {
		return // given back unrun: not an attempt
	}
	m.AttemptFinished(kind, string(f.Status), f.Ended.Sub(f.Started))
	if f.Status.Terminal() {
		m.ExecutionFinished(kind, string(ex.Trigger), string(f.Status), ex.BotID.String())
	}
}

// countFinished counts executions that another path than a worker's run
// ended (cancelled while queued, failed as lost).
func (e *Engine) countFinished(ctx context.Context, ex *models.Execution, status models.ExecStatus) {
	if e.cfg.Metrics == nil || !status.Terminal() {
		return
	}
	e.cfg.Metrics.ExecutionFinished(e.kindOf(ctx, ex), string(ex.Trigger), string(status), ex.BotID.String())
}

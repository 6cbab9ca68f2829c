package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
	"github.com/codex32/codex32/web"
)

// apiMaxWait bounds ?wait= on POST /api/v1/bots/{id}/executions.
const apiMaxWait = 60 * time.Second

// apiWaitPoll is how often a waiting request looks at its execution: one
// primary-key read of the history row, which leaves out the input, output
// and logs (up to a MiB each).
const apiWaitPoll = 50 * time.Millisecond

func (h *handler) listAPIExecutions(c *fiber.Ctx) error { return h.apiExecutionList(c, nil) }

func (h *handler) listAPIBotExecutions(c *fiber.Ctx) error {
	b, err := h.loadBot(c)
	if err != nil {
		return err
	}
	return h.apiExecutionList(c, b)
}

// apiExecutionList is the execution history with the pages' filters; bot
// is nil for every bot's history.
func (h *handler) apiExecutionList(c *fiber.Ctx, bot *models.Bot) error {
	ctx := c.UserContext()
	qe := queryErrors{}
	q := models.ExecutionQuery{
		Status:  models.ExecStatus(qe.oneOf(c, "status", stringsOf(models.ExecStatuses))),
		Trigger: models.Trigger(qe.oneOf(c, "trigger", stringsOf(models.Triggers))),
		From:    qe.timeBound(c, "from", false),
		To:      qe.timeBound(c, "to", true),
		After:   c.Query("cursor"),
		Limit:   qe.limit(c, 50, 200),
	}
	mine, requester := qe.boolean(c, "mine"), strings.TrimSpace(c.Query("requester"))
	if mine && requester != "" {
		qe["requester"] = "cannot be combined with mine"
	}
	if err := qe.err(); err != nil {
		return err
	}
	nobody := uuid.Nil
	switch ref := strings.TrimSpace(c.Query("bot")); {
	case bot != nil:
		q.BotIDs = []uuid.UUID{bot.ID}
	case ref != "":
		if id, err := uuid.Parse(ref); err == nil {
			q.BotIDs = []uuid.UUID{id}
		} else {
			ids, err := models.BotIDsNamed(ctx, h.DB.Bun, ref, 50)
			if err != nil {
				return err
			}
			if len(ids) == 0 {
				ids = []uuid.UUID{nobody}
			}
			q.BotIDs = ids
		}
	}
	switch {
	case mine:
		q.RequestedBy = &web.CurrentUser(c).ID
	case requester != "":
		id, err := h.userRef(ctx, requester)
		if err != nil {
			return err
		}
		q.RequestedBy = &id
	}
	page, err := models.QueryExecutions(ctx, h.DB.Bun, q)
	if _, ok := validationFields(err); ok {
		return web.FieldsProblem(fiber.StatusBadRequest, map[string]string{"cursor": "is not a valid page cursor"})
	} else if err != nil {
		return err
	}
	items := make([]apiExecutionSummary, len(page.Rows))
	for i, r := range page.Rows {
		items[i] = toAPIExecutionSummary(r)
	}
	return c.JSON(newAPIPage(items, page.Next))
}

// apiExecutionFull is one execution with its input, output, logs and attempts.
func (h *handler) apiExecutionFull(ctx context.Context, id uuid.UUID) (apiExecution, error) {
	e, err := models.ExecutionByID(ctx, h.DB.Bun, id)
	if err != nil {
		return apiExecution{}, err
	}
	rows, err := models.ExecutionRowsByID(ctx, h.DB.Bun, []uuid.UUID{id})
	if err != nil {
		return apiExecution{}, err
	}
	if len(rows) == 0 {
		return apiExecution{}, models.ErrNotFound // purged meanwhile
	}
	return toAPIExecution(rows[0], e), nil
}

func (h *handler) showAPIExecution(c *fiber.Ctx) error {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return fiber.ErrNotFound
	}
	out, err := h.apiExecutionFull(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(out)
}

type apiRunRequest struct {
	Input json.RawMessage `json:"input"`
}

// waitParam reads ?wait=: a Go duration ("30s", "1500ms") or whole seconds.
func waitParam(c *fiber.Ctx) (time.Duration, error) {
	raw := strings.TrimSpace(c.Query("wait"))
	if raw == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(raw)
	if n, nerr := strconv.Atoi(raw); nerr == nil {
		d, err = time.Duration(n)*time.Second, nil
	}
	if err != nil || d < 0 || d > apiMaxWait {
		return 0, web.FieldsProblem(fiber.StatusBadRequest, map[string]string{"wait": "must be a duration from 0s to 60s, like 30s"})
	}
	return d, nil
}

// createAPIExecution runs the bot's active version with the posted input
// (trigger api). With ?wait= it answers 200 with the finished execution if
// it ends in time; otherwise 202 with Location to poll.
func (h *handler) createAPIExecution(c *fiber.Ctx) error {
	ctx := c.UserContext()
	botID, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return fiber.ErrNotFound
	}
	// The engine loads the bot (once for all the requests it queues
	// together) and asks canRunBot first: 404, 403, then the input (422)
	// and the bot's state (409). A request refused earlier, here, reads
	// the bot to answer in the same order (refusedRun).
	wait, err := waitParam(c)
	if err != nil {
		return h.refusedRun(c, botID, err)
	}
	var in apiRunRequest
	if err := bindJSON(c, &in, false); err != nil {
		return h.refusedRun(c, botID, err)
	}
	input := in.Input
	if len(input) == 0 || string(input) == "null" {
		input = json.RawMessage("{}")
	}
	eng, err := h.engine()
	if err != nil {
		return h.refusedRun(c, botID, err)
	}
	u := web.CurrentUser(c)
	req := runner.RunRequest{BotID: botID, Input: input, Trigger: models.TriggerAPI, Allow: func(b *models.Bot) error {
		return runRefusal(u, b)
	}}
	if wait == 0 {
		return h.runAndAnswerAtOnce(c, eng, req)
	}
	ex, err := eng.Request(ctx, web.Actor(c), req)
	if err != nil {
		return h.runError(c, err)
	}
	status := fiber.StatusAccepted
	if wait > 0 {
		done, err := h.awaitExecution(ctx, ex.ID, wait)
		if err != nil {
			return err
		}
		if done {
			status = fiber.StatusOK
		}
	}
	out, err := h.apiExecutionFull(ctx, ex.ID)
	if err != nil {
		return err
	}
	if status == fiber.StatusAccepted {
		c.Location("/api/v1/executions/" + ex.ID.String())
	}
	return c.Status(status).JSON(out)
}

// runAndAnswerAtOnce requests the run and answers 202 with the execution as
// inserted (nothing to read back). Under an Idempotency-Key the response is
// stored in the transaction that queues the execution: both commit or
// neither, with one commit instead of two.
func (h *handler) runAndAnswerAtOnce(c *fiber.Ctx, eng *runner.Engine, req runner.RunRequest) error {
	u := web.CurrentUser(c)
	var body []byte
	var headers map[string]string
	answer := func(ex *models.Execution) (int, map[string]string, []byte, error) {
		var err error
		body, err = json.Marshal(requestedAPIExecution(ex, u))
		headers = map[string]string{fiber.HeaderContentType: fiber.MIMEApplicationJSON, fiber.HeaderLocation: "/api/v1/executions/" + ex.ID.String()}
		return fiber.StatusAccepted, headers, body, err
	}
	stored := false
	if req.Claim = idempotencyClaimOf(c); req.Claim != nil {
		// The claim is inserted already answered, with the execution.
		req.Answer = answer
	} else if rec := idempotencyKeyOf(c); rec != nil {
		// Claimed before (idempotent): store the answer with the execution.
		req.Also = func(ctx context.Context, tx bun.IDB, ex *models.Execution) error {
			status, headers, body, err := answer(ex)
			if err != nil {
				return err
			}
			err = models.CompleteIdempotencyKey(ctx, tx, rec, status, headers, body)
			stored = err == nil
			if errors.Is(err, models.ErrNotFound) {
				return nil // released meanwhile: nothing to store it in
			}
			return err
		}
	}
	ex, err := eng.Request(c.UserContext(), web.Actor(c), req)
	if err != nil {
		return h.runError(c, err)
	}
	if _, _, _, err := answer(ex); err != nil {
		return err
	}
	if stored || req.Claim != nil {
		markIdempotencyStored(c)
	}
	for k, v := range headers {
		c.Set(k, v)
	}
	return c.Status(fiber.StatusAccepted).Send(body)
}

// runRefused: a run request's Allow found the requester may not run the bot.
type runRefused struct{ perm string }

func (e *runRefused) Error() string { return "missing permission " + e.perm }

// runRefusal is canRunBot as an error: nil when u may run b.
func runRefusal(u *models.User, b *models.Bot) error {
	if !canRunBot(u, b) {
		return &runRefused{perm: missingBotPerm(u, b, models.PermBotsRunOwn, models.PermBotsRunAny)}
	}
	return nil
}

// runError answers a failed run request: a refusal is the API's 403
// (audited, as everywhere), anything else goes to the error handler.
func (h *handler) runError(c *fiber.Ctx, err error) error {
	var refused *runRefused
	if errors.As(err, &refused) {
		return h.apiForbidden(c, refused.perm)
	}
	return err
}

// refusedRun answers a run request refused before it reached the engine
// (bad ?wait, body, no engine) as the engine would have: 404 for a bot
// that does not exist, the audited 403 for one the caller may not run,
// and only then err.
func (h *handler) refusedRun(c *fiber.Ctx, botID uuid.UUID, err error) error {
	b, lerr := models.BotByID(c.UserContext(), h.DB.Bun, botID)
	if lerr != nil {
		return lerr
	}
	if refused := runRefusal(web.CurrentUser(c), b); refused != nil {
		return h.runError(c, refused)
	}
	return err
}

// requestedAPIExecution is the API view of ex, just requested by u, as
// apiExecutionFull would read it back.
func requestedAPIExecution(ex *models.Execution, u *models.User) apiExecution {
	r := &models.ExecutionRow{
		ID: ex.ID, BotID: ex.BotID, VersionID: ex.VersionID, Status: ex.Status, Trigger: ex.Trigger,
		Attempt: ex.Attempt, MaxAttempts: ex.MaxAttempts, QueuedAt: ex.QueuedAt, RequestedBy: ex.RequestedBy,
		BotName: ex.BotName,
	}
	if ex.VersionID != nil {
		n := ex.VersionNumber
		r.VersionNumber = &n
	}
	if ex.RequestedBy != nil && u != nil && *ex.RequestedBy == u.ID {
		r.RequesterEmail, r.RequesterName = &u.Email, &u.Name
	}
	return toAPIExecution(r, ex)
}

// awaitExecution reports whether execution id finishes within wait.
func (h *handler) awaitExecution(ctx context.Context, id uuid.UUID, wait time.Duration) (bool, error) {
	deadline := time.Now().Add(wait)
	for {
		rows, err := models.ExecutionRowsByID(ctx, h.DB.Bun, []uuid.UUID{id})
		if err != nil {
			return false, err
		}
		if len(rows) == 1 && rows[0].Final() {
			return true, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(min(apiWaitPoll, left)):
		}
	}
}

// cancelAPIExecution stops a queued or running execution; a finished one
// is a 409 saying so.
func (h *handler) cancelAPIExecution(c *fiber.Ctx) error {
	ctx := c.UserContext()
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return fiber.ErrNotFound
	}
	e, err := models.ExecutionByID(ctx, h.DB.Bun, id)
	if err != nil {
		return err
	}
	b, err := models.BotByID(ctx, h.DB.Bun, e.BotID)
	if err != nil {
		return err
	}
	if u := web.CurrentUser(c); !canRunBot(u, b) {
		return h.apiForbidden(c, missingBotPerm(u, b, models.PermBotsRunOwn, models.PermBotsRunAny))
	}
	eng, err := h.engine()
	if err != nil {
		return err
	}
	if _, err := eng.Cancel(ctx, web.Actor(c), e.ID); err != nil {
		return err // a finished execution is a StateError: 409
	}
	out, err := h.apiExecutionFull(ctx, e.ID)
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// runsAtOnce: a run request without ?wait, answered as soon as it is
// queued (its Idempotency-Key is claimed in the queueing transaction).
func runsAtOnce(c *fiber.Ctx) bool {
	wait, err := waitParam(c)
	return err == nil && wait == 0
}

package handlers

import (
	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

// routes is the one route table. Every page route states the permission it
// needs; TestRouteRoleMatrix checks each route against every role.
func (h *handler) routes(app *fiber.App) {
	// No session: probes.
	app.Get("/healthz", h.showHealth)
	app.Get("/readyz", h.showReady)

	// The JSON API (handlers/openapi/openapi.yaml is its contract): an API
	// key, a scope per kind of request (read, write, execute) and the same
	// permission as the page that does the same thing. Handlers check
	// ownership (canEditBot, canRunBot) as the pages do.
	app.Get("/api/docs", h.Sessions.Middleware(h.ClientIP), web.LoadUser(h.DB), h.showAPIDocs)
	app.Get("/api/v1/openapi.json", h.showOpenAPI)
	// Per-key rate limit after authentication; Idempotency-Key on creates.
	api := app.Group("/api", h.apiAuth, h.countRateLimited, web.RateLimit(h.RateLimiter, web.APIKeyID))
	read, write, execute := models.ScopeRead, models.ScopeWrite, models.ScopeExecute
	api.Get("/v1/me", h.apiRequire(read, models.PermUseAPI), h.showAPIMe)
	api.Get("/v1/bots", h.apiRequire(read, models.PermBotsRead), h.listAPIBots)
	api.Post("/v1/bots", h.apiRequire(write, models.PermBotsCreate), h.idempotent(h.createAPIBot))
	api.Get("/v1/bots/:id", h.apiRequire(read, models.PermBotsRead), h.showAPIBot)
	api.Patch("/v1/bots/:id", h.apiRequire(write, models.PermBotsRead), h.updateAPIBot)
	api.Post("/v1/bots/:id/archive", h.apiRequire(write, models.PermBotsRead), h.archiveAPIBot)
	api.Post("/v1/bots/:id/restore", h.apiRequire(write, models.PermBotsRead), h.restoreAPIBot)
	api.Get("/v1/bots/:id/export", h.apiRequire(read, models.PermBotsRead), h.exportBot)
	api.Get("/v1/bots/:id/versions", h.apiRequire(read, models.PermBotsRead), h.listAPIVersions)
	api.Get("/v1/bots/:id/versions/:n", h.apiRequire(read, models.PermBotsRead), h.showAPIVersion)
	api.Post("/v1/bots/:id/versions/:n/activate", h.apiRequire(write, models.PermBotsRead), h.activateAPIVersion)
	api.Get("/v1/bots/:id/diff", h.apiRequire(read, models.PermBotsRead), h.showAPIDiff)
	api.Get("/v1/bots/:id/executions", h.apiRequire(read, models.PermBotsRead), h.listAPIBotExecutions)
	api.Post("/v1/bots/:id/executions", h.apiRequire(execute, models.PermBotsRead), h.idempotentInTx(runsAtOnce, h.createAPIExecution))
	api.Get("/v1/executions", h.apiRequire(read, models.PermBotsRead), h.listAPIExecutions)
	api.Get("/v1/executions/:id", h.apiRequire(read, models.PermBotsRead), h.showAPIExecution)
	api.Post("/v1/executions/:id/cancel", h.apiRequire(execute, models.PermBotsRead), h.cancelAPIExecution)
	api.Get("/v1/audit", h.apiRequire(read, models.PermAuditRead), h.listAPIAudit)
	api.Get("/v1/audit/export", h.apiRequire(read, models.PermAuditRead), h.exportAPIAudit)
	api.Get("/v1/users", h.apiRequire(read, models.PermUsersManage), h.listAPIUsers)
	api.Patch("/v1/users/:id", h.apiRequire(write, models.PermUsersManage), h.updateAPIUser)

	// Inbound webhooks, for machines: no session, no CSRF — the token in
	// the URL is the credential. Anything else under /hooks/ is answered
	// here too, so it never reaches the page middleware below.
	app.Post("/hooks/:token", h.countWebhook, h.receiveWebhook)
	app.Use("/hooks", h.hookOther)

	// Pages: session, user, CSRF, first-run redirect.
	app.Use(htmlOnly(h.Sessions.Middleware(h.ClientIP)))
	app.Use(htmlOnly(web.LoadUser(h.DB)))
	app.Use(htmlOnly(web.CSRF()))
	app.Use(htmlOnly(h.firstRun))

	app.Get("/setup", h.showSetup)
	app.Post("/setup", h.createSetup)
	app.Get("/login", h.showLogin)
	app.Post("/login", h.createLogin)
	app.Post("/logout", h.createLogout)
	app.Get("/auth/:provider/login", h.startSSO)
	app.Get("/auth/:provider/callback", h.finishSSO)

	app.Get("/", h.require(models.PermSignInHTML), h.showHome)

	app.Get("/bots", h.require(models.PermBotsRead), h.showBots)
	app.Get("/bots/new", h.require(models.PermBotsCreate), h.showNewBot)
	app.Post("/bots", h.require(models.PermBotsCreate), h.createBot)
	app.Get("/bots/:id", h.require(models.PermBotsRead), h.showBot)
	app.Get("/bots/:id/edit", h.require(models.PermBotsRead), h.showEditBot)
	app.Post("/bots/:id", h.require(models.PermBotsRead), h.updateBot)
	app.Get("/bots/:id/versions/:n", h.require(models.PermBotsRead), h.showVersion)
	app.Post("/bots/:id/versions/:n/activate", h.require(models.PermBotsRead), h.activateVersion)
	app.Get("/bots/:id/diff", h.require(models.PermBotsRead), h.showDiff)
	app.Get("/bots/:id/export", h.require(models.PermBotsRead), h.exportBot)
	app.Post("/bots/:id/archive", h.require(models.PermBotsRead), h.archiveBot)
	app.Post("/bots/:id/restore", h.require(models.PermBotsRead), h.restoreBot)
	app.Post("/bots/:id/purge", h.require(models.PermBotsPurge), h.purgeBot)
	// Running, cancelling and re-running also need bots:run_own on one's
	// own bot or bots:run_any (checked in the handlers: canRunBot).
	app.Post("/bots/:id/run", h.require(models.PermBotsRead), h.runBot)
	// Triggers (the Triggers tab): everyone signed in sees them; changing
	// them needs what editing the bot needs (checked in the handlers:
	// editableBot).
	app.Post("/bots/:id/webhooks", h.require(models.PermBotsRead), h.createWebhook)
	app.Post("/bots/:id/webhooks/:wid", h.require(models.PermBotsRead), h.updateWebhook)
	app.Post("/bots/:id/webhooks/:wid/rotate", h.require(models.PermBotsRead), h.rotateWebhook)
	app.Post("/bots/:id/webhooks/:wid/delete", h.require(models.PermBotsRead), h.deleteWebhook)
	app.Get("/bots/:id/schedules/preview", h.require(models.PermBotsRead), h.showSchedulePreview)
	app.Post("/bots/:id/schedules", h.require(models.PermBotsRead), h.createSchedule)
	app.Post("/bots/:id/schedules/:sid", h.require(models.PermBotsRead), h.updateSchedule)
	app.Post("/bots/:id/schedules/:sid/delete", h.require(models.PermBotsRead), h.deleteSchedule)

	app.Get("/executions", h.require(models.PermBotsRead), h.showExecutions)
	app.Get("/executions/rows", h.require(models.PermBotsRead), h.showExecutionRows)
	app.Get("/executions/:id", h.require(models.PermBotsRead), h.showExecution)
	app.Get("/executions/:id/live", h.require(models.PermBotsRead), h.showExecutionLive)
	app.Post("/executions/:id/cancel", h.require(models.PermBotsRead), h.cancelExecution)
	app.Post("/executions/:id/rerun", h.require(models.PermBotsRead), h.rerunExecution)

	app.Get("/audit", h.require(models.PermAuditRead), h.showAudit)
	app.Get("/audit/export.csv", h.require(models.PermAuditRead), h.exportAuditCSV)
	app.Get("/audit/export.jsonl", h.require(models.PermAuditRead), h.exportAuditJSONL)
	app.Get("/audit/:seq", h.require(models.PermAuditRead), h.showAuditEntry)
	app.Post("/audit/verify", h.require(models.PermAuditRead), h.verifyAudit)

	app.Get("/settings/api-keys", h.require(models.PermAPIKeysOwn), h.showAPIKeys)
	app.Post("/settings/api-keys", h.require(models.PermAPIKeysOwn), h.createAPIKey)
	app.Post("/settings/api-keys/:id/revoke", h.require(models.PermAPIKeysOwn), h.revokeAPIKey)

	app.Get("/profile", h.require(models.PermProfile), h.showProfile)
	app.Post("/profile/password", h.require(models.PermProfile), h.updatePassword)
	app.Post("/profile/sessions/end-others", h.require(models.PermProfile), h.endOtherSessions)
	app.Post("/profile/sessions/:hash/end", h.require(models.PermProfile), h.endSession)

	app.Get("/admin/secrets", h.require(models.PermSystemSettings), h.showSecrets)
	app.Post("/admin/secrets", h.require(models.PermSystemSettings), h.putSecret)
	app.Post("/admin/secrets/:name/delete", h.require(models.PermSystemSettings), h.deleteSecret)
	app.Get("/admin/secrets/:name", h.require(models.PermSystemSettings), h.showSecretScope)
	app.Post("/admin/secrets/:name", h.require(models.PermSystemSettings), h.updateSecretScope)

	app.Get("/admin/users", h.require(models.PermUsersManage), h.showUsers)
	app.Post("/admin/users/:id/role", h.require(models.PermUsersManage), h.updateUserRole)
	app.Post("/admin/users/:id/disable", h.require(models.PermUsersManage), h.disableUser)
	app.Post("/admin/users/:id/enable", h.require(models.PermUsersManage), h.enableUser)
	app.Post("/admin/users/:id/sessions/end", h.require(models.PermUsersManage), h.endUserSessions)
}

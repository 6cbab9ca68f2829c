package handlers

import (
	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/views"
	"github.com/codex32/codex32/web"
)

// showHome renders the dashboard.
func (h *handler) showHome(c *fiber.Ctx) error {
	ctx := c.UserContext()
	counts, err := models.CountBotsByStatus(ctx, h.DB.Bun, nil)
	if err != nil {
		return err
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	data := views.HomeData{Database: "SQLite", Bots: total, ByStatus: counts, CanCreate: web.CurrentUser(c).Can(models.PermBotsCreate)}
	if h.DB.Dialect == models.Postgres {
		data.Database = "PostgreSQL"
	}
	if data.SchemaVersion, err = h.Schema.CurrentVersion(ctx); err != nil {
		return err
	}
	if web.CurrentUser(c).Can(models.PermSystemSettings) {
		if data.SecretsNeedingScope, err = models.CountSecretsNeedingScope(ctx, h.DB.Bun); err != nil {
			return err
		}
	}
	return web.Render(c, fiber.StatusOK, views.Home(h.page(c, "Dashboard", "home"), data))
}

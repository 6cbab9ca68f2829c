package handlers

import (
	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/handlers/openapi"
	"github.com/codex32/codex32/views"
	"github.com/codex32/codex32/web"
)

// showOpenAPI serves the API's contract as JSON (public: it holds no data).
func (h *handler) showOpenAPI(c *fiber.Ctx) error {
	doc, err := openapi.JSON()
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(doc)
}

// showAPIDocs is the API reference page, rendered from the same document
// on the server (no scripts, nothing fetched from elsewhere).
func (h *handler) showAPIDocs(c *fiber.Ctx) error {
	d, err := openapi.Docs()
	if err != nil {
		return err
	}
	d.BaseURL = c.BaseURL()
	return web.Render(c, fiber.StatusOK, views.APIDocsPage(h.page(c, "API reference", "api-docs"), d))
}

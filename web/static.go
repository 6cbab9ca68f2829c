package web

import (
	"errors"
	"io/fs"
	"mime"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/static"
)

// serveStatic serves the embedded assets. A request carrying the asset's
// current content hash (?v=…, as static.URL writes it) may be cached forever;
// anything else is cached briefly and revalidated by ETag.
func serveStatic(c *fiber.Ctx) error {
	name := path.Clean(strings.TrimPrefix(c.Params("*"), "/"))
	hash := static.Hash(name)
	if hash == "" || strings.HasPrefix(name, "..") {
		return fiber.ErrNotFound
	}
	body, err := fs.ReadFile(static.FS, name)
	if errors.Is(err, fs.ErrNotExist) {
		return fiber.ErrNotFound
	} else if err != nil {
		return err
	}
	etag := `"` + hash + `"`
	if c.Query("v") == hash {
		c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	} else {
		c.Set(fiber.HeaderCacheControl, "public, max-age=300, must-revalidate")
	}
	c.Set(fiber.HeaderETag, etag)
	c.Set("X-Content-Type-Options", "nosniff")
	if c.Get(fiber.HeaderIfNoneMatch) == etag {
		return c.SendStatus(fiber.StatusNotModified)
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = fiber.MIMEOctetStream
	}
	c.Set(fiber.HeaderContentType, ctype)
	return c.Send(body)
}

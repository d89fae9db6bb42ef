package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/ote-stack/ote/hub/console"
)

// GET / and GET /console/{asset}: the web console (hub/console).

func (s *server) consoleIndex(c *fiber.Ctx) error {
	return sendAsset(c, console.Index())
}

func (s *server) consoleAsset(c *fiber.Ctx) error {
	a, found := console.Lookup(c.Params("asset"))
	if !found {
		return notFound("no console asset %q", clip(c.Params("asset")))
	}
	return sendAsset(c, a)
}

// sendAsset answers with an asset, or 304 when the browser has it: assets
// are revalidated on every load (no-cache), so a new hub's console is never
// mixed with an old one's cached modules.
func sendAsset(c *fiber.Ctx, a console.Asset) error {
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderETag, a.ETag)
	c.Set("Content-Security-Policy", console.Policy)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	if c.Get(fiber.HeaderIfNoneMatch) == a.ETag {
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, a.Type)
	return c.Send(a.Body)
}

package api

import (
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
)

// maxRequestIDLen bounds a caller's own X-Request-ID.
const maxRequestIDLen = 64

// requestIDs gives every request a correlation id: the caller's
// X-Request-ID when it is short and made of [A-Za-z0-9._-] (anything else
// could forge log lines), a fresh UUID otherwise. It is in the response's
// X-Request-ID and on every log line of the request.
func requestIDs(c *fiber.Ctx) error {
	id := c.Get(fiber.HeaderXRequestID)
	if !validRequestID(id) {
		id = utils.UUIDv4()
	} else {
		id = utils.CopyString(id)
	}
	c.Locals("requestid", id)
	c.Set(fiber.HeaderXRequestID, id)
	return c.Next()
}

func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch b := id[i]; {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '-', b == '_', b == '.':
		default:
			return false
		}
	}
	return true
}

package api

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/evaratech/evara/internal/telemetry"
)

// Browser error reports. The route is public: the gate rate-limits it per
// IP like every anonymous call (per user with a token), the body is capped
// far below the API's limit, and the store clips every field. Reports are
// not audited: they change no tenant's state, and auditing a public write
// would let anyone fill the audit log.

func (s *Server) frontendErrorRoutes() {
	s.handle(fiber.MethodPost, "/frontend-errors", PermPublic, "report a browser error (public, size- and rate-limited)", s.reportFrontendError)
}

// maxFrontendErrorBody is the largest report accepted, in bytes: the
// stored fields add up to about 21 KiB.
const maxFrontendErrorBody = 32 << 10

// frontendErrorRequest is a report as the dashboard's error boundary sends
// it. ComponentStack is kept after the stack; Timestamp is the browser's
// clock, which is not trusted and not kept.
type frontendErrorRequest struct {
	Message        string `json:"message"`
	Stack          string `json:"stack"`
	ComponentStack string `json:"component_stack"`
	URL            string `json:"url"`
	UserAgent      string `json:"user_agent"`
	Timestamp      string `json:"timestamp"`
}

// frontendErrorTimeout bounds the store write of one report.
const frontendErrorTimeout = 3 * time.Second

func (s *Server) reportFrontendError(c *fiber.Ctx) error {
	if len(c.Body()) > maxFrontendErrorBody {
		return fiber.NewError(fiber.StatusRequestEntityTooLarge, "an error report is at most 32 KiB")
	}
	var req frontendErrorRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Message == "" {
		return invalid("message", msgRequired)
	}
	e := telemetry.FrontendError{Message: req.Message, Stack: req.Stack, URL: req.URL, UserAgent: req.UserAgent}
	if req.ComponentStack != "" {
		e.Stack += "\n" + req.ComponentStack
	}
	if e.UserAgent == "" {
		e.UserAgent = c.Get(fiber.HeaderUserAgent)
	}
	if p := principalOf(c); p != nil {
		e.UserID = p.UserID()
	}
	ctx, cancel := context.WithTimeout(context.Background(), frontendErrorTimeout)
	defer cancel()
	if err := s.store.InsertFrontendError(ctx, e); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusAccepted)
}

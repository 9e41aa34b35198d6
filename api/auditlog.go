package api

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/evaratech/evara/internal/telemetry"
)

func (s *Server) auditRoutes() {
	s.handle(fiber.MethodGet, "/audit", PermAudit, "the audit log, newest first; ?limit=&offset=&user_id=&resource_type=&resource_id=", s.listAudit)
}

// auditJSON is one audit log entry (SPEC §7).
type auditJSON struct {
	ID           int64          `json:"id"`
	UserID       *string        `json:"user_id"`
	ActionType   string         `json:"action_type"`
	ResourceType *string        `json:"resource_type"`
	ResourceID   *string        `json:"resource_id"`
	Metadata     map[string]any `json:"metadata"`
	RequestID    *string        `json:"request_id"`
	Timestamp    time.Time      `json:"timestamp"`
}

func orNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// listAudit answers one page of the log. It sets no X-Total-Count: the log
// grows without bound and the store does not count it (page with offset
// until a page comes back short).
func (s *Server) listAudit(c *fiber.Ctx) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	f := telemetry.AuditFilter{UserID: c.Query("user_id"), ResourceType: c.Query("resource_type"),
		ResourceID: c.Query("resource_id"), Page: p}
	ctx, cancel := reqContext()
	defer cancel()
	entries, err := s.store.ListAudit(ctx, f)
	if err != nil {
		return err
	}
	out := make([]auditJSON, len(entries))
	for i, e := range entries {
		meta := e.Metadata
		if meta == nil {
			meta = map[string]any{}
		}
		out[i] = auditJSON{ID: e.ID, UserID: orNull(e.UserID), ActionType: e.Action, ResourceType: orNull(e.ResourceType),
			ResourceID: orNull(e.ResourceID), Metadata: meta, RequestID: orNull(e.RequestID), Timestamp: e.Timestamp}
	}
	return c.JSON(out)
}

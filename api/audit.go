package api

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/evaratech/evara/internal/telemetry"
)

// AuditStore is the append-only audit log.
type AuditStore interface {
	AppendAudit(ctx context.Context, e telemetry.AuditEntry) (telemetry.AuditEntry, error)
	ListAudit(ctx context.Context, f telemetry.AuditFilter) ([]telemetry.AuditEntry, error)
}

// auditTimeout bounds one audit write. It runs on its own context, so a
// mutation that has happened is recorded even if its request is gone.
const auditTimeout = 3 * time.Second

// record audits an action of the request's caller: action ("node.create",
// "alert.resolve", "permission.denied"…), the resource, and metadata such
// as "before"/"after". A failed write is logged, not returned: the change
// it records has already happened.
func (s *Server) record(c *fiber.Ctx, action, resourceType, resourceID string, meta map[string]any) {
	user := ""
	if p := principalOf(c); p != nil {
		user = p.UserID()
	}
	s.recordAs(requestID(c), user, action, resourceType, resourceID, meta)
}

// recordAs audits an action of user under request id reqID ("" when no
// HTTP request carries it: a WebSocket identified after its upgrade).
func (s *Server) recordAs(reqID, user, action, resourceType, resourceID string, meta map[string]any) {
	if s.store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), auditTimeout)
	defer cancel()
	_, err := s.store.AppendAudit(ctx, telemetry.AuditEntry{
		UserID: user, Action: action, ResourceType: resourceType, ResourceID: resourceID,
		Metadata: meta, RequestID: reqID,
	})
	if err != nil {
		s.log.Error("audit entry not written", "request_id", reqID, "action", action, "resource_type", resourceType,
			"resource_id", resourceID, "err", err)
	}
}

package api

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/evaratech/evara/internal/telemetry"
)

// Maintenance windows silence a node, or every node of a community: no
// alerts inside one, and the nodes show Maintenance (SPEC §7).

func (s *Server) maintenanceRoutes() {
	s.handle(fiber.MethodGet, "/manage/maintenance", PermNodeRead, "maintenance windows in scope; ?active=true for those covering now", s.listWindows)
	s.handle(fiber.MethodPost, "/manage/maintenance", PermAlertManage, "schedule a maintenance window for a node or a community", s.createWindow)
	s.handle(fiber.MethodDelete, "/manage/maintenance/:id", PermAlertManage, "cancel a maintenance window", s.deleteWindow)
}

// windowJSON is a maintenance window; exactly one of node_id and
// community_id is set.
type windowJSON struct {
	ID          string    `json:"id"`
	NodeID      *string   `json:"node_id"`
	CommunityID *string   `json:"community_id"`
	StartsAt    time.Time `json:"starts_at"`
	EndsAt      time.Time `json:"ends_at"`
	Reason      string    `json:"reason"`
	CreatedBy   *string   `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
}

func windowOf(w telemetry.MaintenanceWindow) windowJSON {
	out := windowJSON{ID: w.ID, CommunityID: w.CommunityID, StartsAt: w.StartsAt, EndsAt: w.EndsAt, Reason: w.Reason,
		CreatedBy: w.CreatedBy, CreatedAt: w.CreatedAt}
	if w.NodeID != nil {
		id := string(*w.NodeID)
		out.NodeID = &id
	}
	return out
}

type windowRequest struct {
	NodeID      *string    `json:"node_id"`
	CommunityID *string    `json:"community_id"`
	StartsAt    *time.Time `json:"starts_at"`
	EndsAt      *time.Time `json:"ends_at"`
	Reason      string     `json:"reason"`
}

// Window bounds: a window longer than a year is a mistake (or a node that
// should be deleted), and a window over before it is created is pointless.
const (
	maxWindowLength = 366 * 24 * time.Hour
	maxWindowReason = 500
)

func (req windowRequest) check(now time.Time) error {
	var v checks
	node, comm := req.NodeID != nil && *req.NodeID != "", req.CommunityID != nil && *req.CommunityID != ""
	v.check(node != comm, "node_id", "name exactly one of node_id and community_id")
	v.check(req.StartsAt != nil, "starts_at", "is required (RFC 3339)")
	v.check(req.EndsAt != nil, "ends_at", "is required (RFC 3339)")
	if req.StartsAt != nil && req.EndsAt != nil {
		v.check(req.EndsAt.After(*req.StartsAt), "ends_at", "must be after starts_at")
		v.check(req.EndsAt.Sub(*req.StartsAt) <= maxWindowLength, "ends_at", "a window lasts at most 366 days")
		v.check(req.EndsAt.After(now), "ends_at", "must be in the future")
	}
	v.check(utf8.RuneCountInString(req.Reason) <= maxWindowReason && !strings.ContainsRune(req.Reason, 0), "reason", "must be at most 500 characters")
	return v.err()
}

func (s *Server) listWindows(c *fiber.Ctx) error {
	var activeAt *time.Time
	switch c.Query("active") {
	case "", "false":
	case "true":
		now := s.now()
		activeAt = &now
	default:
		return invalid("active", "must be true or false")
	}
	ctx, cancel := reqContext()
	defer cancel()
	windows, err := s.store.ListWindows(ctx, scopeOf(c), activeAt)
	if err != nil {
		return err
	}
	out := make([]windowJSON, len(windows))
	for i, w := range windows {
		out[i] = windowOf(w)
	}
	setTotal(c, len(out))
	return c.JSON(out)
}

// createWindow schedules a window over a node or a community in the
// caller's scope; one outside it is 404 and nothing is written.
func (s *Server) createWindow(c *fiber.Ctx) error {
	var req windowRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := req.check(s.now()); err != nil {
		return err
	}
	user := principalOf(c).UserID()
	w := telemetry.MaintenanceWindow{StartsAt: *req.StartsAt, EndsAt: *req.EndsAt, Reason: strings.TrimSpace(req.Reason), CreatedBy: &user}
	if req.NodeID != nil && *req.NodeID != "" {
		w.NodeID = (*telemetry.NodeID)(req.NodeID)
	} else {
		w.CommunityID = req.CommunityID
	}
	ctx, cancel := reqContext()
	defer cancel()
	if err := s.store.CreateWindow(ctx, scopeOf(c), &w); err != nil {
		return err
	}
	s.record(c, "maintenance.create", "maintenance_window", w.ID, map[string]any{"after": windowOf(w)})
	s.windowChanged(ctx, w)
	return c.Status(fiber.StatusCreated).JSON(windowOf(w))
}

func (s *Server) deleteWindow(c *fiber.Ctx) error {
	ctx, cancel := reqContext()
	defer cancel()
	scope, id := scopeOf(c), param(c, "id")
	before, err := s.findWindow(c, id)
	if err != nil {
		return err
	}
	if err := s.store.DeleteWindow(ctx, scope, before.ID); err != nil {
		return err
	}
	s.record(c, "maintenance.delete", "maintenance_window", before.ID, map[string]any{"before": windowOf(before)})
	s.windowChanged(ctx, before)
	return c.SendStatus(fiber.StatusNoContent)
}

// windowChanged tells the devices of the window's node or community.
func (s *Server) windowChanged(ctx context.Context, w telemetry.MaintenanceWindow) {
	if w.NodeID != nil {
		s.alertSettingsChanged(ctx, *w.NodeID, "")
	} else {
		s.alertSettingsChanged(ctx, "", deref(w.CommunityID))
	}
}

// findWindow is a window in the caller's scope (the store has no lookup by
// id: a scope holds few windows, so the list is searched).
func (s *Server) findWindow(c *fiber.Ctx, id string) (telemetry.MaintenanceWindow, error) {
	ctx, cancel := reqContext()
	defer cancel()
	windows, err := s.store.ListWindows(ctx, scopeOf(c), nil)
	if err != nil {
		return telemetry.MaintenanceWindow{}, err
	}
	for _, w := range windows {
		if strings.EqualFold(w.ID, id) {
			return w, nil
		}
	}
	return telemetry.MaintenanceWindow{}, telemetry.ErrNotFound
}

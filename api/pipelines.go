package api

import (
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/evaratech/evara/internal/telemetry"
)

// Pipelines are water lines drawn on the map. They belong to no tenant
// (the schema has no owner column): whoever may read nodes sees them all,
// and only pipeline managers (superadmins) draw them.

func (s *Server) pipelineRoutes() {
	s.handle(fiber.MethodGet, "/pipelines", PermNodeRead, "the pipelines drawn on the map", s.listPipelines)
	s.handle(fiber.MethodPost, "/pipelines", PermPipelines, "draw a pipeline", s.createPipeline)
	s.handle(fiber.MethodPatch, "/pipelines/:id", PermPipelines, "change a pipeline's name, color or course", s.updatePipeline)
	s.handle(fiber.MethodDelete, "/pipelines/:id", PermPipelines, "delete a pipeline", s.deletePipeline)
}

// pipelineJSON is a pipeline (SPEC §7); positions are [lat, lng] pairs.
type pipelineJSON struct {
	ID        string             `json:"id"`
	Name      string             `json:"name"`
	Color     *string            `json:"color"`
	Positions []telemetry.LatLng `json:"positions"`
	CreatedBy *string            `json:"created_by"`
	CreatedAt time.Time          `json:"created_at"`
	UpdatedAt time.Time          `json:"updated_at"`
}

func pipelineOf(p telemetry.Pipeline) pipelineJSON {
	pos := p.Positions
	if pos == nil {
		pos = []telemetry.LatLng{}
	}
	return pipelineJSON{ID: p.ID, Name: p.Name, Color: p.Color, Positions: pos, CreatedBy: p.CreatedBy,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

// pipelineRequest is the body of POST (name and positions required) and
// PATCH (any field; at least one).
type pipelineRequest struct {
	Name      *string             `json:"name"`
	Color     *string             `json:"color"`
	Positions *[]telemetry.LatLng `json:"positions"`
}

// Pipeline bounds: a line needs two points; 5,000 is far more than anyone
// draws by hand and keeps one row small.
const (
	maxPipelineName   = 200
	maxPipelinePoints = 5000
)

var colorPattern = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// apply copies the request's fields onto p and checks the result.
func (req pipelineRequest) apply(p *telemetry.Pipeline) error {
	if req.Name != nil {
		p.Name = strings.TrimSpace(*req.Name)
	}
	if req.Color != nil {
		color := strings.ToLower(*req.Color)
		p.Color = &color
	}
	if req.Positions != nil {
		p.Positions = *req.Positions
	}
	var v checks
	v.check(p.Name != "" && utf8.RuneCountInString(p.Name) <= maxPipelineName && !strings.ContainsRune(p.Name, 0),
		"name", "must be 1 to 200 characters")
	v.check(p.Color == nil || colorPattern.MatchString(*p.Color), "color", "must be #rrggbb")
	v.check(len(p.Positions) >= 2 && len(p.Positions) <= maxPipelinePoints, "positions", "must hold 2 to 5000 [lat, lng] points")
	for _, pt := range p.Positions {
		if pt[0] < -90 || pt[0] > 90 || pt[1] < -180 || pt[1] > 180 {
			v.check(false, "positions", "latitudes must be within ±90 and longitudes within ±180")
			break
		}
	}
	return v.err()
}

func (s *Server) listPipelines(c *fiber.Ctx) error {
	ctx, cancel := reqContext()
	defer cancel()
	pipes, err := s.store.ListPipelines(ctx)
	if err != nil {
		return err
	}
	out := make([]pipelineJSON, len(pipes))
	for i, p := range pipes {
		out[i] = pipelineOf(p)
	}
	setTotal(c, len(out))
	return c.JSON(out)
}

func (s *Server) createPipeline(c *fiber.Ctx) error {
	var req pipelineRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	var v checks
	v.check(req.Name != nil, "name", msgRequired)
	v.check(req.Positions != nil, "positions", msgRequired)
	if err := v.err(); err != nil {
		return err
	}
	user := principalOf(c).UserID()
	p := telemetry.Pipeline{CreatedBy: &user}
	if err := req.apply(&p); err != nil {
		return err
	}
	ctx, cancel := reqContext()
	defer cancel()
	if err := s.store.CreatePipeline(ctx, &p); err != nil {
		return err
	}
	s.record(c, "pipeline.create", "pipeline", p.ID, map[string]any{"after": pipelineOf(p)})
	return c.Status(fiber.StatusCreated).JSON(pipelineOf(p))
}

func (s *Server) updatePipeline(c *fiber.Ctx) error {
	var req pipelineRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req == (pipelineRequest{}) {
		return invalid("body", "names no field to change")
	}
	ctx, cancel := reqContext()
	defer cancel()
	before, err := s.store.GetPipeline(ctx, param(c, "id"))
	if err != nil {
		return err
	}
	p := before
	p.Positions = append([]telemetry.LatLng(nil), before.Positions...)
	if err := req.apply(&p); err != nil {
		return err
	}
	after, err := s.store.UpdatePipeline(ctx, p)
	if err != nil {
		return err
	}
	s.record(c, "pipeline.update", "pipeline", after.ID, map[string]any{"before": pipelineOf(before), "after": pipelineOf(after)})
	return c.JSON(pipelineOf(after))
}

func (s *Server) deletePipeline(c *fiber.Ctx) error {
	ctx, cancel := reqContext()
	defer cancel()
	before, err := s.store.GetPipeline(ctx, param(c, "id"))
	if err != nil {
		return err
	}
	if err := s.store.DeletePipeline(ctx, before.ID); err != nil {
		return err
	}
	s.record(c, "pipeline.delete", "pipeline", before.ID, map[string]any{"before": pipelineOf(before)})
	return c.SendStatus(fiber.StatusNoContent)
}

package api

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Health levels, best first.
const (
	HealthOK       = "ok"
	HealthDegraded = "degraded"
	HealthCritical = "critical"
)

// Health is the body of GET /health (SPEC §7).
type Health struct {
	Status    string            `json:"status"`
	Database  string            `json:"database"`
	Timestamp time.Time         `json:"timestamp"`
	Services  map[string]string `json:"services"`
}

// HealthReporter reports the state of the process's dependencies. It must
// answer from state it already holds: health checks never call upstream.
type HealthReporter interface {
	Health(ctx context.Context) Health
}

func (s *Server) getHealth(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	h := s.health.Health(ctx)
	status := fiber.StatusOK
	if h.Status == HealthCritical {
		status = fiber.StatusServiceUnavailable
	}
	return c.Status(status).JSON(h)
}

func (s *Server) getVersion(c *fiber.Ctx) error { return c.JSON(s.build) }

// getLiveness answers as long as the process can serve HTTP at all.
func (s *Server) getLiveness(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": HealthOK})
}

// getReadiness is 503 before the server serves and from the moment
// shutdown begins, so a load balancer drains this replica first.
func (s *Server) getReadiness(c *fiber.Ctx) error {
	if !s.ready.Load() {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "not_ready"})
	}
	return c.JSON(fiber.Map{"status": "ready"})
}

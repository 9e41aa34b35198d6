package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/prometheus/client_golang/prometheus"
)

// BuildInfo identifies the running binary.
type BuildInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Go      string `json:"go"`
}

// Options configures a Server. Logger and Health are required.
type Options struct {
	Logger    *slog.Logger
	Health    HealthReporter
	Build     BuildInfo
	BodyLimit int     // bytes; default 1 MiB
	Runtime   Runtime // live data and cluster stats; nil serves no such routes

	// Registerer receives evara_http_request_duration_seconds; nil measures
	// nothing. Gatherer is served at GET /metrics; nil serves no such route.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
}

// Server is Evara's HTTP server.
type Server struct {
	app    *fiber.App
	log    *slog.Logger
	health HealthReporter
	build  BuildInfo
	ready  atomic.Bool
}

// New builds the server and its routes; it does not listen yet.
func New(opts Options) *Server {
	if opts.BodyLimit <= 0 {
		opts.BodyLimit = 1 << 20
	}
	s := &Server{log: opts.Logger, health: opts.Health, build: opts.Build}
	s.app = fiber.New(fiber.Config{
		AppName:               "evara",
		DisableStartupMessage: true,
		BodyLimit:             opts.BodyLimit,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           120 * time.Second,
		ErrorHandler:          s.handleError,
		StrictRouting:         false, // paths work with and without a trailing slash
	})
	s.measure(opts) // first, so it measures what the rest makes of a request
	s.app.Use(recover.New())
	s.app.Use(requestid.New(requestid.Config{Header: fiber.HeaderXRequestID}))
	s.routes()
	s.runtimeRoutes(opts.Runtime)
	s.serveMetrics(opts)
	return s
}

func (s *Server) routes() {
	for _, prefix := range []string{"", "/api/v1"} {
		s.app.Get(prefix+"/health", s.getHealth)
		s.app.Get(prefix+"/version", s.getVersion)
	}
	s.app.Get("/healthz", s.getLiveness)
	s.app.Get("/readyz", s.getReadiness)
}

// Serve accepts connections on ln until Shutdown. The server reports ready
// from the moment it serves.
func (s *Server) Serve(ln net.Listener) error {
	s.ready.Store(true)
	return s.app.Listener(ln)
}

// Shutdown first turns readiness off, then stops accepting and waits for
// in-flight requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ready.Store(false)
	err := s.app.ShutdownWithContext(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("http: requests still running at the shutdown deadline")
	}
	return err
}

// Test serves one request without a listener (for tests in this package's
// consumers and in its own).
func (s *Server) Handler() *fiber.App { return s.app }

package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/evaratech/evara/api/ws"
	"github.com/evaratech/evara/internal/telemetry"
)

// BuildInfo identifies the running binary.
type BuildInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Go      string `json:"go"`
}

// Options configures a Server. Logger and Health are required; without a
// Store the server answers only health, version and metrics.
type Options struct {
	Logger    *slog.Logger
	Health    HealthReporter
	Build     BuildInfo
	BodyLimit int     // bytes; default 1 MiB
	Runtime   Runtime // live data and cluster stats; nil serves no such routes
	// Sessions opens the session of each WebSocket connection (SPEC §8);
	// nil serves no WebSocket. It needs Store and Auth.
	Sessions ws.Sessions

	Store    Store         // the dashboard's data; nil serves no dashboard routes
	Auth     Authenticator // verifies bearer tokens; nil refuses every token
	Revoker  Revoker       // logout; nil: logout answers 503
	Limiter  RateLimiter   // per-user and per-IP limits; nil: unlimited
	Sealer   Sealer        // seals channel keys at rest; required to create nodes
	Channels ChannelChecker
	Events   EventPublisher // NODE_PROVISIONED…; nil publishes nothing
	// AlertSettings hears of rule and maintenance-window changes; nil: the
	// devices notice them at their periodic reload.
	AlertSettings AlertSettings
	Security      Security
	// WebhooksHTTPSOnly refuses webhook subscriptions to plain-HTTP URLs
	// (internal/app sets it when EVARA_ENV=production).
	WebhooksHTTPSOnly bool
	// TrustedProxies are the addresses whose X-Forwarded-For is believed
	// (a load balancer's); others' is ignored.
	TrustedProxies []netip.Prefix
	// BootstrapSuperadmins are emails made superadmin at their next request.
	BootstrapSuperadmins []string
	Now                  func() time.Time // default time.Now

	// Registerer receives evara_http_request_duration_seconds; nil measures
	// nothing. Gatherer is served at GET /metrics; nil serves no such route.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
}

// Server is Evara's HTTP server.
type Server struct {
	app           *fiber.App
	log           *slog.Logger
	health        HealthReporter
	build         BuildInfo
	ready         atomic.Bool
	table         []Route
	store         Store
	runtime       Runtime
	auth          Authenticator
	revoker       Revoker
	limiter       RateLimiter
	sealer        Sealer
	channels      ChannelChecker
	events        EventPublisher
	alertSettings AlertSettings
	sec           Security
	now           func() time.Time
	profiles      profileCache
	// live is the WebSocket endpoint; nil without Options.Sessions.
	live *ws.Server
	// nodes caches node lookups of the live-data route by scope and id.
	nodes *ttlCache[telemetry.Node]
	// dashStats caches GET /dashboard/stats by scope (dashboard.go).
	dashStats *ttlCache[dashboardStats]

	bootstrapEmails map[string]bool
	// webhooksHTTPSOnly: see Options.WebhooksHTTPSOnly.
	webhooksHTTPSOnly bool

	// streams is the context of streamed exports, which outlive their
	// handler: Shutdown cancels it, so a long export does not hold the
	// shutdown until its own deadline.
	streams     context.Context
	stopStreams context.CancelFunc
}

// New builds the server and its routes; it does not listen yet.
func New(opts Options) *Server {
	if opts.BodyLimit <= 0 {
		opts.BodyLimit = 1 << 20
	}
	s := &Server{log: opts.Logger, health: opts.Health, build: opts.Build, store: opts.Store, runtime: opts.Runtime,
		auth: opts.Auth, revoker: opts.Revoker, limiter: opts.Limiter, sealer: opts.Sealer, channels: opts.Channels,
		events: opts.Events, alertSettings: opts.AlertSettings, sec: opts.Security.withDefaults(), now: opts.Now,
		webhooksHTTPSOnly: opts.WebhooksHTTPSOnly, bootstrapEmails: map[string]bool{}}
	if s.now == nil {
		s.now = time.Now
	}
	s.streams, s.stopStreams = context.WithCancel(context.Background())
	s.nodes = newTTLCache[telemetry.Node](nodeCacheTTL, 100_000, s.now)
	for _, e := range opts.BootstrapSuperadmins {
		s.bootstrapEmails[strings.ToLower(strings.TrimSpace(e))] = true
	}
	cfg := fiber.Config{
		AppName:               "evara",
		DisableStartupMessage: true,
		BodyLimit:             opts.BodyLimit,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           120 * time.Second,
		ErrorHandler:          s.handleError,
		StrictRouting:         false, // paths work with and without a trailing slash
	}
	if len(opts.TrustedProxies) > 0 {
		cfg.ProxyHeader, cfg.EnableTrustedProxyCheck, cfg.EnableIPValidation = fiber.HeaderXForwardedFor, true, true
		for _, p := range opts.TrustedProxies {
			cfg.TrustedProxies = append(cfg.TrustedProxies, p.String())
		}
	}
	if opts.Sessions != nil && opts.Store != nil {
		s.live = ws.New(ws.Options{Sessions: opts.Sessions, Auth: s.wsAuthenticate, Resolve: s.wsResolve, Replay: s.wsReplay,
			Logger: opts.Logger.With("component", "ws"), Registerer: opts.Registerer, Origins: opts.Security.CORSOrigins})
	}
	s.app = fiber.New(cfg)
	s.measure(opts) // first, so it measures what the rest makes of a request
	s.app.Use(recover.New())
	s.app.Use(requestIDs)
	s.useGate()
	s.routes()
	s.serveMetrics(opts)
	return s
}

// routes declares every route. The operator routes at the root stay out
// of the route table (they are not the dashboard's API).
func (s *Server) routes() {
	s.app.Get("/health", s.getHealth)
	s.app.Get("/version", s.getVersion)
	s.app.Get("/healthz", s.getLiveness)
	s.app.Get("/readyz", s.getReadiness)
	s.handle(fiber.MethodGet, "/health", PermPublic, "service health", s.getHealth)
	s.handle(fiber.MethodGet, "/version", PermPublic, "build information", s.getVersion)
	s.handle(fiber.MethodGet, "/openapi.json", PermPublic, "this API's OpenAPI 3.1 document", s.getOpenAPI)
	if s.runtime != nil {
		s.runtimeRoutes()
	}
	if s.store == nil {
		return
	}
	for _, group := range []func(){
		s.authRoutes, s.nodeRoutes, s.telemetryRoutes, s.dashboardRoutes, s.alertRoutes, s.ruleRoutes,
		s.maintenanceRoutes, s.tenancyRoutes, s.userRoutes, s.pipelineRoutes, s.adminRoutes, s.auditRoutes,
		s.analyticsRoutes, s.exportRoutes, s.provisioningRoutes, s.frontendErrorRoutes, s.liveRoutes, s.webhookRoutes,
	} {
		group()
	}
}

// Serve accepts connections on ln until Shutdown. The server reports ready
// from the moment it serves.
func (s *Server) Serve(ln net.Listener) error {
	s.ready.Store(true)
	return s.app.Listener(ln)
}

// Shutdown first turns readiness off and cuts streamed exports, then stops
// accepting and waits for in-flight requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ready.Store(false)
	// Exports in flight end now, cut short (logged; the client sees an
	// incomplete download and asks another replica).
	s.stopStreams()
	err := s.app.ShutdownWithContext(ctx)
	// The listener has stopped accepting: now every WebSocket is closed
	// with 4000 (reconnect) — fasthttp does not wait for hijacked
	// connections, so they are closed and waited for here.
	if s.live != nil {
		err = errors.Join(err, s.live.Shutdown(ctx))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("http: requests still running at the shutdown deadline")
	}
	return err
}

// Test serves one request without a listener (for tests in this package's
// consumers and in its own).
func (s *Server) Handler() *fiber.App { return s.app }

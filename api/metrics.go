package api

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routeUnmatched is the route label of requests that reached no handler
// route (404s for unknown paths, 405s, or a middleware answered first): the
// raw path never becomes a label value, so a scanner probing random URLs
// cannot grow the number of series.
const routeUnmatched = "unmatched"

// measure installs the request duration middleware when opts has a
// Registerer. New installs it before any other middleware, so it also sees
// what recover makes of a panic.
func (s *Server) measure(opts Options) {
	if opts.Registerer != nil {
		s.app.Use(s.measureRequests(newRequestDuration(opts.Registerer)))
	}
}

// serveMetrics adds GET /metrics (at the root only, SPEC §7) when opts has
// a Gatherer. New adds it after the middleware, which it goes through like
// any route.
func (s *Server) serveMetrics(opts Options) {
	if opts.Gatherer != nil {
		s.app.Get("/metrics", metricsHandler(opts.Gatherer, opts.Registerer, s.log))
	}
}

// newRequestDuration registers evara_http_request_duration_seconds. When
// reg already holds it (a second Server on the same registry), the existing
// histogram is shared; any other registration error is a programming error
// and panics, as MustRegister would.
func newRequestDuration(reg prometheus.Registerer) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "evara_http_request_duration_seconds",
		Help: "Time to answer HTTP requests, by method, matched route pattern and status code.",
		// 0.2 is a bound so the SLO (P95 < 200 ms, SPEC §10) reads exactly.
		Buckets: []float64{.005, .01, .025, .05, .1, .2, .5, 1, 2.5, 5, 10},
	}, []string{"method", "route", "code"})
	if err := reg.Register(h); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.HistogramVec); ok {
				return existing
			}
		}
		panic(fmt.Sprintf("api: registering the request histogram: %v", err))
	}
	return h
}

// measureRequests observes every request's duration under its route
// pattern. A failed request's error is handed to the server's one error
// handler here (as fiber's own logger middleware does), because the status
// is only known once the error has become a response; the chain then sees
// nil and fiber does not handle the error a second time.
func (s *Server) measureRequests(h *prometheus.HistogramVec) fiber.Handler {
	var routes handlerRoutes
	return func(c *fiber.Ctx) error {
		start := time.Now()
		if err := c.Next(); err != nil {
			if herr := s.handleError(c, err); herr != nil {
				// Writing the error response itself failed; fiber answers 500.
				c.Status(fiber.StatusInternalServerError)
			}
		}
		h.WithLabelValues(c.Method(), routes.label(c), strconv.Itoa(c.Response().StatusCode())).
			Observe(time.Since(start).Seconds())
		return nil
	}
}

// handlerRoutes knows the app's handler routes (not its middleware), so
// the route label is always a registered pattern or routeUnmatched. After
// the chain, c.Route() is the last route that matched; when no handler
// route was reached (unknown path, or a middleware answered first) that is
// a middleware's prefix route, which must not pass for a handler's pattern.
// Fiber does not say whether a route is middleware, but GetRoutes(true)
// lists the others. It is read at the first request: routes are registered
// before the server serves.
type handlerRoutes struct {
	once sync.Once
	set  map[string]bool // method + " " + pattern
}

func (r *handlerRoutes) label(c *fiber.Ctx) string {
	r.once.Do(func() {
		r.set = map[string]bool{}
		for _, rt := range c.App().GetRoutes(true) {
			r.set[rt.Method+" "+rt.Path] = true
		}
	})
	rt := c.Route()
	if !r.set[rt.Method+" "+rt.Path] {
		return routeUnmatched
	}
	return rt.Path
}

// metricsHandler serves the Prometheus exposition of g. It goes through
// promhttp (adapted to fiber by fiber's adaptor, which wraps fasthttp's
// fasthttpadaptor) rather than formatting with expfmt by hand: promhttp
// negotiates the format (text, OpenMetrics, protobuf), compresses, and
// serves what it could gather when one collector fails. The request
// conversion costs little at scrape frequency. With reg set, promhttp
// counts its own gathering errors there.
func metricsHandler(g prometheus.Gatherer, reg prometheus.Registerer, log *slog.Logger) fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:      promLogger{log},
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      reg,
	}))
}

// promLogger gives promhttp the injected logger.
type promLogger struct{ log *slog.Logger }

func (p promLogger) Println(v ...any) {
	p.log.Warn("gathering metrics failed", "err", fmt.Sprint(v...))
}

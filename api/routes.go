package api

import (
	"context"
	"sort"
	"time"

	"github.com/gofiber/fiber/v2"
)

// apiPrefix is where the dashboard's API lives (SPEC §7).
const apiPrefix = "/api/v1"

// Route is one entry of the route table: every dashboard call is declared
// through it, so the OpenAPI document, the authorization matrix test and
// the router are one list.
type Route struct {
	Method  string
	Path    string // under /api/v1, in fiber's syntax ("/nodes/:id")
	Perm    Permission
	Summary string
	// Mutates is true for calls that change state (audited, fuzzed).
	Mutates bool
}

// Routes is the route table, sorted by path and method.
func (s *Server) Routes() []Route {
	out := append([]Route(nil), s.table...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// handle declares a route under /api/v1 that requires perm.
func (s *Server) handle(method, path string, perm Permission, summary string, h fiber.Handler) {
	mutates := method != fiber.MethodGet && method != fiber.MethodHead
	s.table = append(s.table, Route{Method: method, Path: path, Perm: perm, Summary: summary, Mutates: mutates})
	s.app.Add(method, apiPrefix+path, s.require(perm), h)
}

// Handler deadlines: fiber's request context is never cancelled, so every
// handler works under one of these.
const (
	requestTimeout = 10 * time.Second
	exportTimeout  = 30 * time.Minute // streamed exports of a whole history
)

// reqContext is the deadline-bound context of one request.
func reqContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), requestTimeout)
}

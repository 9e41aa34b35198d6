package api

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/evaratech/evara/api/auth"
	"github.com/evaratech/evara/api/ws"
	"github.com/evaratech/evara/internal/telemetry"
)

// Live events (SPEC §8): the WebSocket endpoint, and what its connections
// ask of the API — who a token belongs to, which nodes a topic names in
// the caller's scope, and which readings a reconnecting client missed.

// replayLimit bounds one replay: a client that missed more gets the newest
// replayLimit entries (ThingSpeak's own window is 8000).
const replayLimit = 8000

func (s *Server) liveRoutes() {
	if s.live == nil {
		return
	}
	// Public at the gate: browsers cannot set headers on a WebSocket, so
	// the upgrade authenticates itself (?token=, the subprotocol, or a
	// first auth message).
	s.live.Attach(s.app) // connections let go of their upgrade request's memory
	s.handle(fiber.MethodGet, "/ws/ws", PermPublic, "WebSocket of live events (SPEC §8); the upgrade authenticates", s.live.Handler())
	s.handle(fiber.MethodGet, "/ws/stats", PermSystem, "WebSocket figures of this member: connections, subscriptions, messages, batches, drops", s.getWSStats)
}

func (s *Server) getWSStats(c *fiber.Ctx) error {
	return c.JSON(s.live.Stats())
}

// wsAuthenticate identifies a WebSocket client by its token, as the gate
// identifies a bearer token.
func (s *Server) wsAuthenticate(ctx context.Context, token string) (ws.Identity, error) {
	if s.auth == nil {
		return ws.Identity{}, fmt.Errorf("%w: authentication is not configured", ws.ErrUnauthorized)
	}
	claims, err := s.auth.Verify(ctx, token)
	if errors.Is(err, auth.ErrUnauthorized) {
		return ws.Identity{}, fmt.Errorf("%w: %w", ws.ErrUnauthorized, err)
	}
	if err != nil {
		return ws.Identity{}, err // the revocation check could not be made
	}
	p, err := s.resolve(ctx, "", claims) // no HTTP request: a WebSocket identified after its upgrade
	if err != nil {
		return ws.Identity{}, err // the store: the profile could not be read
	}
	return ws.Identity{UserID: p.Profile.ID, Scope: p.Scope}, nil
}

func identityScope(id ws.Identity) telemetry.Scope {
	sc, _ := id.Scope.(telemetry.Scope)
	return sc
}

// wsResolve names the devices behind a topic, within the caller's scope:
// node:<id or key>, community:<id or slug> (its nodes now; later ones
// arrive as NODE_PROVISIONED), alerts (no device: the session passes on
// the alerts announced to it for nodes in the identity's scope). Nodes
// without a channel have no device to follow.
func (s *Server) wsResolve(ctx context.Context, id ws.Identity, topic string) ([]telemetry.NodeID, error) {
	scope := identityScope(id)
	kind, ref, _ := strings.Cut(topic, ":")
	switch {
	case kind == "alerts" && ref == "":
		return nil, nil
	case kind == "node" && ref != "":
		// Through the node cache, as live-data: a fleet of dashboards
		// reconnecting at once asks for the same nodes again and again.
		n, err := s.cachedNode(ctx, scope, ref)
		if err != nil {
			return nil, err
		}
		if n.ChannelID <= 0 {
			return nil, nil
		}
		return []telemetry.NodeID{n.ID}, nil
	case kind == "community" && ref != "":
		comm, err := s.store.GetCommunity(ctx, scope, ref)
		if err != nil {
			return nil, err
		}
		return s.communityDevices(ctx, scope, comm.ID)
	}
	return nil, fmt.Errorf("topic %q: want node:<id>, community:<id> or alerts: %w", topic, telemetry.ErrInvalid)
}

func (s *Server) communityDevices(ctx context.Context, scope telemetry.Scope, community string) ([]telemetry.NodeID, error) {
	var out []telemetry.NodeID
	for offset := 0; ; offset += 1000 {
		nodes, total, err := s.store.ListNodes(ctx, scope, telemetry.NodeFilter{CommunityID: community, Page: telemetry.Page{Limit: 1000, Offset: offset}})
		if err != nil {
			return nil, err
		}
		for _, n := range nodes {
			if n.ChannelID > 0 {
				out = append(out, n.ID)
			}
		}
		if len(nodes) == 0 || offset+len(nodes) >= total {
			return out, nil
		}
	}
}

// wsReplay returns a node's stored readings after entry since, oldest
// first, as the telemetry events the client missed.
func (s *Server) wsReplay(ctx context.Context, id ws.Identity, node telemetry.NodeID, since int64) ([]telemetry.LiveEvent, error) {
	n, err := s.store.GetNode(ctx, identityScope(id), string(node))
	if err != nil {
		return nil, err
	}
	rows, err := s.store.Readings(ctx, n.ID, telemetry.ReadingQuery{AfterEntryID: since, Limit: replayLimit})
	if err != nil {
		return nil, err
	}
	names := metricNames(n.FieldMapping)
	out := make([]telemetry.LiveEvent, 0, len(rows))
	for _, r := range rows {
		metrics := make(map[string]float64, telemetry.FieldCount)
		for i, f := range r.Fields {
			if f.Valid {
				metrics[names[i]] = f.Value
			}
		}
		out = append(out, telemetry.LiveEvent{Kind: telemetry.LiveTelemetry, NodeID: n.ID, ProducedUnixMs: r.CreatedAt.UnixMilli(),
			EntryID: r.EntryID, At: r.CreatedAt, Metrics: metrics, Status: n.Status})
	}
	return out, nil
}

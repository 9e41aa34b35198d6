package api

import (
	"context"
	"encoding/json"

	"github.com/evaratech/evara/internal/telemetry"
)

// EventPublisher hands the API's events to the dashboard's live
// connections (SPEC §8), e.g. NODE_PROVISIONED when a node is created.
// Publish must not block on slow subscribers; it reports nothing back: a
// change has happened whether or not anyone hears of it.
type EventPublisher interface {
	Publish(ctx context.Context, p Published)
}

// Published is one event with what routing it needs: the community whose
// followers get it, and whether the node has a device to follow (a
// channel) from now on.
type Published struct {
	Event     telemetry.LiveEvent
	Community string
	HasDevice bool
}

// publishProvisioned announces a new node (its JSON object as the event's
// payload) when a publisher is configured.
func (s *Server) publishProvisioned(ctx context.Context, n telemetry.Node, out nodeJSON) {
	if s.events == nil {
		return
	}
	data, err := json.Marshal(map[string]any{"node": out})
	if err != nil {
		s.log.Error("NODE_PROVISIONED not published", "node_id", string(n.ID), "err", err)
		return
	}
	s.events.Publish(ctx, Published{
		Event: telemetry.LiveEvent{Kind: telemetry.LiveNodeProvisioned, NodeID: n.ID, ProducedUnixMs: s.now().UnixMilli(),
			Status: n.Status, Data: data},
		Community: deref(n.CommunityID),
		HasDevice: n.ChannelID > 0,
	})
}

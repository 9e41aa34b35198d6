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

// AlertSettings hears that a node's alert rules or maintenance windows
// changed — of one node, or of every node of a community — so that the
// device actors concerned read them again at once rather than at their
// next periodic reload. Like Publish, it must not block and reports nothing.
type AlertSettings interface {
	AlertSettingsChanged(ctx context.Context, node telemetry.NodeID, community string)
}

// alertSettingsChanged tells the configured AlertSettings, if any.
func (s *Server) alertSettingsChanged(ctx context.Context, node telemetry.NodeID, community string) {
	if s.alertSettings != nil {
		s.alertSettings.AlertSettingsChanged(ctx, node, community)
	}
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

// AlertObject is an alert as the alert routes show it, for the events and
// webhooks that carry one.
func AlertObject(a telemetry.Alert) any { return alertOf(a) }

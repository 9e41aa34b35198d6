package session

import "github.com/evaratech/evara/internal/telemetry"

// AlertsTopic is the topic of every alert in the user's scope.
const AlertsTopic = "alerts"

// AlertAnnounce is an alert of a node opening or resolving (an
// ALERT_TRIGGERED or ALERT_RESOLVED event), raised by the node's device
// actor wherever it runs and announced to every session of every member.
// A session passes it on once when it watches AlertsTopic and its Scope
// covers Owner, or when one of its topics names the node; others ignore it.
type AlertAnnounce struct {
	Event telemetry.LiveEvent
	Owner telemetry.NodeOwner
}

func (s *session) announceAlert(m *AlertAnnounce) {
	_, all := s.topics[AlertsTopic]
	_, follows := s.links[m.Event.NodeID]
	if follows || all && s.opts.Scope.Covers(m.Owner) {
		s.opts.Sink.Deliver(m.Event)
	}
}

package session

import (
	"github.com/evaratech/evara/actors/msg"
	"github.com/evaratech/evara/internal/telemetry"
)

// AlertsTopic is the topic of every alert in the user's scope.
const AlertsTopic = "alerts"

// An alert of a node opening or resolving (an ALERT_TRIGGERED or
// ALERT_RESOLVED event) reaches a session in one of two ways, and is passed
// on once:
//   - as *msg.AlertRaised sent to the device's subscribers (whatever member
//     they are on): a session passes it on while it follows the node;
//   - as *AlertAnnounce, which each member's live relay hands to its
//     sessions that watch AlertsTopic: a session passes it on when its
//     Scope covers Owner and it does not follow the node (then it has it
//     from the device already).

// AlertAnnounce is an alert for the sessions that watch AlertsTopic.
type AlertAnnounce struct {
	Event telemetry.LiveEvent
	Owner telemetry.NodeOwner
}

// AlertMessage is an alert event as it crosses members.
func AlertMessage(ev telemetry.LiveEvent, owner telemetry.NodeOwner) *msg.AlertRaised {
	return &msg.AlertRaised{NodeId: string(ev.NodeID), Event: string(ev.Kind), ProducedUnixMs: ev.ProducedUnixMs, Data: ev.Data,
		CommunityId: owner.CommunityID, CustomerId: owner.CustomerID, DistributorId: owner.DistributorID,
		CommunityDistributorId: owner.CommunityDistributorID}
}

// AlertFromMessage is AlertMessage's inverse.
func AlertFromMessage(m *msg.AlertRaised) *AlertAnnounce {
	return &AlertAnnounce{
		Event: telemetry.LiveEvent{Kind: telemetry.LiveKind(m.GetEvent()), NodeID: telemetry.NodeID(m.GetNodeId()),
			ProducedUnixMs: m.GetProducedUnixMs(), Data: m.GetData()},
		Owner: telemetry.NodeOwner{CommunityID: m.GetCommunityId(), CustomerID: m.GetCustomerId(),
			DistributorID: m.GetDistributorId(), CommunityDistributorID: m.GetCommunityDistributorId()},
	}
}

// onFollowedAlert is an alert sent to the device's subscribers.
func (s *session) onFollowedAlert(m *msg.AlertRaised) {
	if _, follows := s.links[telemetry.NodeID(m.GetNodeId())]; follows {
		s.opts.Sink.Deliver(AlertFromMessage(m).Event)
	}
}

// announceAlert is an alert for the alerts topic.
func (s *session) announceAlert(m *AlertAnnounce) {
	_, all := s.topics[AlertsTopic]
	_, follows := s.links[m.Event.NodeID]
	if all && !follows && s.opts.Scope.Covers(m.Owner) {
		s.opts.Sink.Deliver(m.Event)
	}
}

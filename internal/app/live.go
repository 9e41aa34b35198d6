package app

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"

	"github.com/evaratech/evara/actors/msg"
	"github.com/evaratech/evara/actors/session"
	"github.com/evaratech/evara/api"
	"github.com/evaratech/evara/api/ws"
	"github.com/evaratech/evara/cluster"
	"github.com/evaratech/evara/internal/telemetry"
)

// liveSessions opens one session actor per WebSocket connection
// (session/<uuid>, a child of the root on this member) and hands events
// the API raises (NODE_PROVISIONED) to the sessions following the node's
// community. Safe for concurrent use.
type liveSessions struct {
	system *actor.ActorSystem
	member *cluster.Member

	mu            sync.Mutex
	open          map[*liveSession]struct{}
	alertWatchers map[*liveSession]struct{} // the open sessions that watch the alerts topic
}

func newLiveSessions(system *actor.ActorSystem, member *cluster.Member) *liveSessions {
	return &liveSessions{system: system, member: member, open: map[*liveSession]struct{}{}, alertWatchers: map[*liveSession]struct{}{}}
}

// DevicePID is a device's PID on the member that owns it now (the
// session asks again at every subscribe attempt, so a moved device is
// found).
func (l *liveSessions) DevicePID(node telemetry.NodeID) *actor.PID {
	return l.member.DevicePID(node)
}

// Open spawns the connection's session actor.
func (l *liveSessions) Open(id ws.Identity, sink ws.Sink) (ws.Session, error) {
	scope, _ := id.Scope.(telemetry.Scope) // the API's identities carry one; anything else sees no alerts topic
	pid, err := l.system.Root.SpawnNamed(session.Props(session.Options{Sink: sink, Locator: l, Scope: scope}), "session/"+uuid.NewString())
	if err != nil {
		return nil, err
	}
	s := &liveSession{owner: l, pid: pid}
	l.mu.Lock()
	l.open[s] = struct{}{}
	l.mu.Unlock()
	return s, nil
}

// Count is the number of open sessions (cluster stats).
func (l *liveSessions) Count() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.open))
}

// Publish implements api.EventPublisher: a node provisioned in a community
// reaches the sessions that follow that community, on this member and —
// through each member's relay — on the others; they start following the
// node's device too (when it has one).
func (l *liveSessions) Publish(_ context.Context, p api.Published) {
	if p.Community == "" {
		return
	}
	l.deliver(p)
	l.relay(&msg.NodeProvisioned{NodeId: string(p.Event.NodeID), CommunityId: p.Community, HasDevice: p.HasDevice,
		ProducedUnixMs: p.Event.ProducedUnixMs, Status: string(p.Event.Status), Data: p.Event.Data})
}

// relay sends m to the live relay of every other member.
func (l *liveSessions) relay(m any) {
	for _, member := range l.member.Members() {
		if member != l.member.Address() {
			l.system.Root.Send(actor.NewPID(member, relayName), m)
		}
	}
}

// broadcast sends m to every session of this member (a mailbox send: it
// never blocks).
func (l *liveSessions) broadcast(m any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for s := range l.open {
		l.system.Root.Send(s.pid, m)
	}
}

// relayName is each member's live relay: it hands the events other members
// publish to this member's sessions.
const relayName = "live"

// relayProps is the relay: an actor only because remote members can send
// it messages; it holds no state and never blocks.
func (l *liveSessions) relayProps() *actor.Props {
	return actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *msg.NodeProvisioned:
			l.deliver(api.Published{Community: m.GetCommunityId(), HasDevice: m.GetHasDevice(), Event: telemetry.LiveEvent{
				Kind: telemetry.LiveNodeProvisioned, NodeID: telemetry.NodeID(m.GetNodeId()), ProducedUnixMs: m.GetProducedUnixMs(),
				Status: telemetry.Status(m.GetStatus()), Data: m.GetData()}})
		case *msg.AlertRaised:
			l.announceAlert(session.AlertFromMessage(m))
		}
	})
}

// PublishAlert hands an alert event to the sessions that follow the node
// (followers: the device's subscribers, on any member) and, through every
// member's relay, to those that watch the alerts topic (they pass it on
// when the node is in their scope). Sessions that do neither never hear of
// it: an alert costs its followers and the alerts topic's watchers, not
// every connection.
func (l *liveSessions) PublishAlert(ev telemetry.LiveEvent, owner telemetry.NodeOwner, followers []*actor.PID) {
	m := session.AlertMessage(ev, owner)
	for _, pid := range followers {
		l.system.Root.Send(pid, m)
	}
	l.announceAlert(&session.AlertAnnounce{Event: ev, Owner: owner})
	l.relay(m)
}

// announceAlert hands an alert to this member's sessions that watch the
// alerts topic.
func (l *liveSessions) announceAlert(m *session.AlertAnnounce) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for s := range l.alertWatchers {
		l.system.Root.Send(s.pid, m)
	}
}

// deliver hands a provisioned node to this member's sessions; those that
// follow its community pass it on (and follow its device).
func (l *liveSessions) deliver(p api.Published) {
	l.broadcast(&session.Announce{Topic: "community:" + p.Community, Event: p.Event, Follow: p.HasDevice})
}

// liveSession is one connection's handle on its session actor.
type liveSession struct {
	owner  *liveSessions
	pid    *actor.PID
	closed atomic.Bool
}

func (s *liveSession) Watch(topic string, nodes []telemetry.NodeID) {
	if topic == session.AlertsTopic {
		s.owner.mu.Lock()
		if !s.closed.Load() {
			s.owner.alertWatchers[s] = struct{}{}
		}
		s.owner.mu.Unlock()
	}
	s.owner.system.Root.Send(s.pid, &session.Watch{Topic: topic, Nodes: nodes})
}

func (s *liveSession) Unwatch(topic string) {
	if topic == session.AlertsTopic {
		s.owner.mu.Lock()
		delete(s.owner.alertWatchers, s)
		s.owner.mu.Unlock()
	}
	s.owner.system.Root.Send(s.pid, &session.Unwatch{Topic: topic})
}

// Close stops the session actor (it unsubscribes from its devices) and
// waits for it.
func (s *liveSession) Close() {
	if s.closed.Swap(true) {
		return
	}
	s.owner.mu.Lock()
	delete(s.owner.open, s)
	delete(s.owner.alertWatchers, s)
	s.owner.mu.Unlock()
	_ = s.owner.system.Root.StopFuture(s.pid).Wait() // a timeout leaves it stopping on its own
}

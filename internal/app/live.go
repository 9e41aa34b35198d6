package app

import (
	"context"
	"slices"
	"strings"
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

	mu   sync.Mutex
	open map[*liveSession]struct{}
	// watchers are the open sessions of each topic that gets announcements
	// (the alerts topic, community topics), so that an announcement costs
	// its watchers' mailboxes, not every session's.
	watchers map[string]map[*liveSession]struct{}
}

func newLiveSessions(system *actor.ActorSystem, member *cluster.Member) *liveSessions {
	return &liveSessions{system: system, member: member, open: map[*liveSession]struct{}{}, watchers: map[string]map[*liveSession]struct{}{}}
}

// announced reports whether topic gets announcements (and so is indexed).
func announced(topic string) bool {
	return topic == session.AlertsTopic || strings.HasPrefix(topic, communityPrefix)
}

const communityPrefix = "community:"

// announce sends m to this member's sessions that watch topic.
func (l *liveSessions) announce(topic string, m any) {
	l.mu.Lock()
	pids := make([]*actor.PID, 0, len(l.watchers[topic]))
	for s := range l.watchers[topic] {
		pids = append(pids, s.pid)
	}
	l.mu.Unlock()
	// Outside the lock: sending to a thousand sessions need not hold up
	// Watch and Close of the others.
	for _, pid := range pids {
		l.system.Root.Send(pid, m)
	}
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
	l.announce(session.AlertsTopic, m)
}

// deliver hands a provisioned node to this member's sessions that follow
// its community; they pass it on (and follow its device).
func (l *liveSessions) deliver(p api.Published) {
	topic := communityPrefix + p.Community
	l.announce(topic, &session.Announce{Topic: topic, Event: p.Event, Follow: p.HasDevice})
}

// liveSession is one connection's handle on its session actor.
type liveSession struct {
	owner  *liveSessions
	pid    *actor.PID
	closed atomic.Bool
	// announced are its topics in owner.watchers (under owner.mu): Watch and
	// Unwatch come from the connection's read loop, Close after it.
	announced []string
}

func (s *liveSession) Watch(topic string, nodes []telemetry.NodeID) {
	if announced(topic) {
		l := s.owner
		l.mu.Lock()
		if !s.closed.Load() && !slices.Contains(s.announced, topic) {
			if l.watchers[topic] == nil {
				l.watchers[topic] = map[*liveSession]struct{}{}
			}
			l.watchers[topic][s] = struct{}{}
			s.announced = append(s.announced, topic)
		}
		l.mu.Unlock()
	}
	s.owner.system.Root.Send(s.pid, &session.Watch{Topic: topic, Nodes: nodes})
}

func (s *liveSession) Unwatch(topic string) {
	s.owner.mu.Lock()
	s.forgetLocked(topic)
	s.owner.mu.Unlock()
	s.owner.system.Root.Send(s.pid, &session.Unwatch{Topic: topic})
}

// forgetLocked takes the session out of topic's watchers.
func (s *liveSession) forgetLocked(topic string) {
	i := slices.Index(s.announced, topic)
	if i < 0 {
		return
	}
	s.announced = slices.Delete(s.announced, i, i+1)
	l := s.owner
	delete(l.watchers[topic], s)
	if len(l.watchers[topic]) == 0 {
		delete(l.watchers, topic)
	}
}

// Close stops the session actor (it unsubscribes from its devices) and
// waits for it.
func (s *liveSession) Close() {
	if s.closed.Swap(true) {
		return
	}
	s.owner.mu.Lock()
	delete(s.owner.open, s)
	for len(s.announced) > 0 {
		s.forgetLocked(s.announced[0])
	}
	s.owner.mu.Unlock()
	_ = s.owner.system.Root.StopFuture(s.pid).Wait() // a timeout leaves it stopping on its own
}

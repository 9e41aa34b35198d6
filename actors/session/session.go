package session

import (
	"slices"
	"sync"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/actors/msg"
	"github.com/evaratech/evara/internal/telemetry"
)

// session is the actor. Everything below is touched only by Receive and by
// the continuations protoactor runs on the same mailbox.
type session struct {
	opts  *Options // the props' copy, shared by every incarnation; read only
	carry *carryOver

	system *actor.ActorSystem
	self   *actor.PID
	done   bool // stopping or restarting: late answers are ignored

	topics map[string][]telemetry.NodeID // topic → its nodes, sorted, without repeats
	links  map[telemetry.NodeID]*link    // one per node any topic names

	resubscribes int64
}

func newSession(opts *Options, carry *carryOver) *session {
	return &session{
		opts:   opts,
		carry:  carry,
		topics: map[string][]telemetry.NodeID{},
		links:  map[telemetry.NodeID]*link{},
	}
}

// Receive handles one message; it never waits: answers to Subscribe come
// back through ReenterAfter and backoffs are timers.
func (s *session) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		s.system, s.self = c.ActorSystem(), c.Self()
		for topic, nodes := range s.carry.take() {
			s.watch(c, topic, nodes)
		}
	case *Watch:
		s.watch(c, m.Topic, m.Nodes)
	case *Unwatch:
		s.unwatch(c, m.Topic)
	case *Announce:
		s.announce(c, m)
	case *AlertAnnounce:
		s.announceAlert(m)
	case *GetStats:
		c.Respond(s.snapshot())
	case *retryDue:
		if m.owner == s {
			s.onRetryDue(c, m)
		}
	case *msg.Subscribed:
		s.onSubscribed(c, m)
	case *msg.TelemetryUpdate:
		s.onTelemetry(m)
	case *msg.StatusUpdate:
		s.onStatus(m)
	case *msg.AlertRaised:
		s.onFollowedAlert(m)
	case *msg.SubscriptionEnded:
		s.onEnded(c, telemetry.NodeID(m.GetNodeId()))
	case *actor.Terminated:
		s.onTerminated(m.GetWho())
	case *actor.Restarting:
		// A crash must not cost the connection its subscriptions: the next
		// incarnation watches the same topics again.
		s.carry.put(s.topics)
		s.shutdown(c)
	case *actor.Stopping:
		s.shutdown(c)
	}
}

// watch sets a topic's nodes. New nodes are counted in before the old ones
// are counted out, so that a node the topic keeps is never unsubscribed.
func (s *session) watch(c actor.Context, topic string, nodes []telemetry.NodeID) {
	set := slices.Compact(slices.Sorted(slices.Values(nodes))) // a copy: the caller keeps its slice
	old, had := s.topics[topic]
	s.topics[topic] = set
	for _, n := range set {
		s.want(c, n)
	}
	if had {
		for _, n := range old {
			s.release(c, n)
		}
	}
}

func (s *session) announce(c actor.Context, m *Announce) {
	nodes, ok := s.topics[m.Topic]
	if !ok {
		return
	}
	s.opts.Sink.Deliver(m.Event)
	if m.Follow && !slices.Contains(nodes, m.Event.NodeID) {
		s.watch(c, m.Topic, append(slices.Clone(nodes), m.Event.NodeID))
	}
}

func (s *session) unwatch(c actor.Context, topic string) {
	old, had := s.topics[topic]
	if !had {
		return
	}
	delete(s.topics, topic)
	for _, n := range old {
		s.release(c, n)
	}
}

// want counts one more topic naming node, subscribing to its device when it
// is the first.
func (s *session) want(c actor.Context, node telemetry.NodeID) {
	if l, ok := s.links[node]; ok {
		l.topics++
		return
	}
	l := &link{topics: 1}
	s.links[node] = l
	s.subscribe(c, node, l)
}

// release counts one topic fewer naming node, unsubscribing from its device
// when none is left.
func (s *session) release(c actor.Context, node telemetry.NodeID) {
	l, ok := s.links[node]
	if !ok {
		return
	}
	if l.topics--; l.topics > 0 {
		return
	}
	s.leave(c, l, leaveUnsubscribe|leaveUnwatch)
	stopTimer(l.timer)
	delete(s.links, node)
}

// shutdown unsubscribes from every device and stops the timers. The topics
// stay (Restarting hands them on).
func (s *session) shutdown(c actor.Context) {
	if s.done {
		return
	}
	s.done = true
	for _, l := range s.links {
		s.leave(c, l, leaveUnsubscribe|leaveUnwatch)
		stopTimer(l.timer)
	}
}

func (s *session) snapshot() *Stats {
	st := &Stats{Topics: len(s.topics), Devices: len(s.links), Resubscribes: s.resubscribes}
	for _, l := range s.links {
		if l.subscribed {
			st.Subscribed++
		}
	}
	st.Pending = st.Devices - st.Subscribed
	return st
}

// carryOver is what one incarnation of a session leaves to the next when
// its supervisor restarts it after a crash: the topics it watched.
type carryOver struct {
	mu     sync.Mutex
	topics map[string][]telemetry.NodeID
}

func (c *carryOver) put(topics map[string][]telemetry.NodeID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.topics = topics
}

func (c *carryOver) take() map[string][]telemetry.NodeID {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.topics
	c.topics = nil
	return t
}

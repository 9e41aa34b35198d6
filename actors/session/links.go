package session

import (
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/actors/msg"
	"github.com/evaratech/evara/internal/telemetry"
)

// link is the session's subscription to one node's device. It is in one of
// three states: asking (pid set, not subscribed: a Subscribe is
// unanswered), subscribed (pid set), or waiting (pid nil: the backoff timer
// will start the next attempt).
type link struct {
	topics     int        // topics naming the node
	pid        *actor.PID // the device asked or subscribed to, and watched
	subscribed bool
	gen        uint64        // the current attempt; answers and timers of others are ignored
	tried      bool          // an attempt was made before: the next one is a resubscribe
	backoff    time.Duration // the next wait after a failure; 0 after a success
	timer      *time.Timer

	lastEntry  int64            // newest entry passed to the sink
	lastStatus telemetry.Status // latest status passed to the sink
}

// subscribe asks the node's device, wherever the locator says it is now,
// to send its events here: a request with this actor as the sender, not a
// future (a future is a process of its own, per attempt). The device
// answers with itself as the sender; the link's timer gives up on the
// attempt after SubscribeTimeout. The device is watched so that its end,
// its member's, or its absence (Terminated NotFound) is noticed.
func (s *session) subscribe(c actor.Context, node telemetry.NodeID, l *link) {
	l.gen++
	if l.tried {
		s.resubscribes++
	}
	l.tried = true
	pid := s.opts.Locator.DevicePID(node)
	if pid == nil {
		s.retryLater(node, l, errNoOwner)
		return
	}
	s.setPID(node, l, pid)
	c.Watch(pid)
	c.Request(pid, &msg.Subscribe{Address: s.self.Address, Id: s.self.Id})
	s.arm(node, l, s.opts.SubscribeTimeout)
}

var errNoOwner = errors.New("no member owns the node")

// onSubscribed takes a device's answer to Subscribe. An answer the link no
// longer waits for (its attempt was given up, or it is from a device the
// link has left) is undone; a second answer of the same device is one of
// an earlier attempt, already taken.
func (s *session) onSubscribed(c actor.Context, m *msg.Subscribed) {
	if s.done {
		return
	}
	from := c.Sender() // the device; nil from a device that answers without one
	node := telemetry.NodeID(m.GetLatest().GetNodeId())
	l := s.links[node]
	if l == nil || l.pid == nil || from != nil && !l.pid.Equal(from) {
		if from != nil {
			c.Send(from, &msg.Unsubscribe{Address: s.self.Address, Id: s.self.Id})
		}
		return
	}
	if l.subscribed {
		return
	}
	l.subscribed, l.backoff = true, 0
	stopTimer(l.timer)
	l.timer = nil
	s.handOver(node, l, m.GetLatest())
}

var errTimeout = errors.New("the device did not answer Subscribe in time")

// onEnded: the device stopped (its node moved, was reconfigured or
// deleted, or it crashed and restarts); it has dropped this subscriber.
// Which device sent it is unknown (events carry no sender), so a
// SubscriptionEnded of a device left earlier costs one needless but
// harmless resubscribe.
func (s *session) onEnded(c actor.Context, node telemetry.NodeID) {
	l := s.links[node]
	if l == nil || l.pid == nil {
		return
	}
	s.leave(c, node, l, leaveUnwatch)
	s.retryLater(node, l, errEnded)
}

var errEnded = errors.New("the device ended the subscription")

// onTerminated: a watched device stopped, or its member is gone
// (TerminatedReason_AddressTerminated), or there was no such actor
// (TerminatedReason_NotFound).
func (s *session) onTerminated(who *actor.PID) {
	node, ok := s.byID[who.GetId()]
	if !ok {
		return // a device left earlier
	}
	l := s.links[node]
	if l.pid == nil || l.pid.GetAddress() != who.GetAddress() {
		return // the node's device where it was before
	}
	s.leave(nil, node, l, 0)
	s.retryLater(node, l, errTerminated)
}

var errTerminated = errors.New("the device or its member is gone")

// onRetryDue: the link's timer ended — a backoff (subscribe again) or an
// attempt's time to answer (give it up; the device may still take it, so
// it is undone).
func (s *session) onRetryDue(c actor.Context, m *retryDue) {
	l := s.links[m.node]
	if l == nil || l.gen != m.gen {
		return
	}
	l.timer = nil
	switch {
	case l.pid == nil:
		s.subscribe(c, m.node, l)
	case !l.subscribed:
		s.leave(c, m.node, l, leaveUnsubscribe|leaveUnwatch)
		s.retryLater(m.node, l, errTimeout)
	}
}

// retryLater arms the link's backoff timer: ResubscribeMin after a
// success, doubling with every failure in a row up to ResubscribeMax. It
// keeps trying for as long as the node is wanted.
func (s *session) retryLater(node telemetry.NodeID, l *link, why error) {
	l.gen++
	wait := max(l.backoff, s.opts.ResubscribeMin)
	l.backoff = min(2*wait, s.opts.ResubscribeMax)
	s.opts.Logger.Debug("device subscription lost or refused; subscribing again",
		"node_id", string(node), "reason", why.Error(), "retry_in", wait)
	s.arm(node, l, wait)
}

// arm sets the link's timer to send retryDue for its current attempt after
// wait.
func (s *session) arm(node telemetry.NodeID, l *link, wait time.Duration) {
	stopTimer(l.timer)
	system, self, due := s.system, s.self, &retryDue{owner: s, node: node, gen: l.gen}
	l.timer = time.AfterFunc(wait, func() { system.Root.Send(self, due) })
}

// What leave sends the device it leaves.
const (
	leaveUnsubscribe = 1 << iota // it may hold the subscription
	leaveUnwatch                 // it is still there to be unwatched
)

// leave forgets the link's device; c may be nil when what is nothing.
func (s *session) leave(c actor.Context, node telemetry.NodeID, l *link, what int) {
	if l.pid == nil {
		return
	}
	if what&leaveUnsubscribe != 0 {
		c.Send(l.pid, &msg.Unsubscribe{Address: s.self.Address, Id: s.self.Id})
	}
	if what&leaveUnwatch != 0 {
		c.Unwatch(l.pid)
	}
	s.setPID(node, l, nil)
	l.subscribed = false
}

func (s *session) setPID(node telemetry.NodeID, l *link, pid *actor.PID) {
	if l.pid != nil {
		delete(s.byID, l.pid.GetId())
	}
	l.pid = pid
	if pid != nil {
		s.byID[pid.GetId()] = node
	}
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

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
// will start the next attempt). Its fields are ordered so that it fits in
// 64 bytes: a session holds one per node it follows.
type link struct {
	pid     *actor.PID    // the device asked or subscribed to (watched when remote)
	timer   *time.Timer   // the backoff, or the attempt's time to answer
	gen     uint64        // the current attempt; answers and timers of others are ignored
	backoff time.Duration // the next wait after a failure; 0 after a success

	lastEntry  int64            // newest entry passed to the sink
	lastStatus telemetry.Status // latest status passed to the sink

	topics     int32 // topics naming the node
	subscribed bool
	tried      bool // an attempt was made before: the next one is a resubscribe
}

// subscribe asks the node's device, wherever the locator says it is now,
// to send its events here: a request with this actor as the sender, not a
// future (a future is a process of its own, per attempt). The device
// answers with itself as the sender; the link's timer gives up on the
// attempt after SubscribeTimeout.
//
// A device on another member is watched, so that its end, its member's,
// or its absence (Terminated NotFound) is noticed. A local one is not: a
// watch would cost it a watcher entry per session, and it tells its
// subscribers when it stops (SubscriptionEnded). Whether it is there is a
// look-up in the process registry, made before asking (a device known to
// be gone costs no dead letter) and while its answer is awaited
// (localCheck).
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
	var proc actor.Process
	if s.local(pid) {
		if proc = s.process(pid); proc == nil {
			s.retryLater(node, l, errGone)
			return
		}
	} else {
		c.Watch(pid)
	}
	l.pid = pid
	c.Request(pid, &msg.Subscribe{Address: s.self.Address, Id: s.self.Id})
	if proc == nil {
		s.arm(node, l, s.opts.SubscribeTimeout)
		return
	}
	s.armCheck(node, l, proc, min(localCheck, s.opts.SubscribeTimeout), s.opts.SubscribeTimeout)
}

// localCheck is when an attempt at a local device first checks that the
// device's process is still the one asked; the checks after it are twice
// as far apart each time, up to SubscribeTimeout (100, 300, 700 and
// 1,000 ms with the default: a device that answers in time costs none, a
// busy one at most four). Without a watch, a device that stops with the
// Subscribe in its mailbox drops it without a word: neither an answer nor
// a dead letter nor a Terminated. A check finds it gone (or replaced by a
// new incarnation under the same name) and subscribes again at once
// rather than at SubscribeTimeout.
//
// A Subscribe that reaches protoactor's dead letters is answered with a
// DeadLetterResponse that does not say to what; the session ignores it.
// With the look-up made just before sending, that happens only when the
// device's process goes in between, and the first check catches it.
const localCheck = 100 * time.Millisecond

// armCheck sets the link's timer to check, after wait, the attempt at a
// local device whose process was asked; left is what remains of
// SubscribeTimeout.
func (s *session) armCheck(node telemetry.NodeID, l *link, asked actor.Process, wait, left time.Duration) {
	s.armWith(l, wait, &retryDue{owner: s, node: node, gen: l.gen, asked: asked, waited: wait, left: left - wait})
}

// checkLocal is a check of an attempt at a local device (localCheck).
func (s *session) checkLocal(c actor.Context, m *retryDue, l *link) {
	now := s.process(l.pid)
	switch {
	case now != m.asked:
		// Gone, or another process under the same name: a new incarnation,
		// which may have had the Subscribe (it is undone).
		what := 0
		if now != nil {
			what = leaveUnsubscribe
		}
		s.leave(c, l, what)
		s.retryLater(m.node, l, errGone)
	case m.left > 0:
		s.armCheck(m.node, l, m.asked, min(2*m.waited, m.left), m.left)
	default:
		s.giveUp(c, m.node, l)
	}
}

var (
	errNoOwner = errors.New("no member owns the node")
	errGone    = errors.New("the local device is gone")
)

// local tells a device on this member from one on another.
func (s *session) local(pid *actor.PID) bool { return pid.GetAddress() == s.system.Address() }

// process is a local device's process in the actor system's registry now;
// nil when it has none (stopped, or never started).
func (s *session) process(pid *actor.PID) actor.Process {
	if p, ok := s.system.ProcessRegistry.GetLocal(pid.GetId()); ok {
		return p
	}
	return nil
}

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
	s.leave(c, l, leaveUnwatch)
	s.retryLater(node, l, errEnded)
}

var errEnded = errors.New("the device ended the subscription")

// onTerminated: a watched (remote) device stopped, or its member is gone
// (TerminatedReason_AddressTerminated), or there was no such actor
// (TerminatedReason_NotFound). It is rare enough that the links are
// scanned rather than indexed by device; a Terminated of a device no link
// asks or is subscribed to (one left earlier) matches none.
func (s *session) onTerminated(who *actor.PID) {
	for node, l := range s.links {
		if l.pid != nil && l.pid.GetId() == who.GetId() && l.pid.GetAddress() == who.GetAddress() {
			s.leave(nil, l, 0)
			s.retryLater(node, l, errTerminated)
		}
	}
}

var errTerminated = errors.New("the device or its member is gone")

// onRetryDue: the link's timer ended — a backoff (subscribe again), the
// check of an attempt at a local device (localCheck), or an attempt's time
// to answer (give it up; the device may still take it, so it is undone).
func (s *session) onRetryDue(c actor.Context, m *retryDue) {
	l := s.links[m.node]
	if l == nil || l.gen != m.gen {
		return
	}
	l.timer = nil
	switch {
	case l.pid == nil:
		s.subscribe(c, m.node, l)
	case l.subscribed:
		// The answer came first (and stopped the timer too late).
	case m.asked != nil:
		s.checkLocal(c, m, l)
	default:
		s.giveUp(c, m.node, l)
	}
}

// giveUp abandons an attempt that was not answered in time.
func (s *session) giveUp(c actor.Context, node telemetry.NodeID, l *link) {
	s.leave(c, l, leaveUnsubscribe|leaveUnwatch)
	s.retryLater(node, l, errTimeout)
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
	s.armWith(l, wait, &retryDue{owner: s, node: node, gen: l.gen})
}

// armWith sets the link's timer to send due after wait.
func (s *session) armWith(l *link, wait time.Duration, due *retryDue) {
	stopTimer(l.timer)
	system, self := s.system, s.self
	l.timer = time.AfterFunc(wait, func() { system.Root.Send(self, due) })
}

// What leave sends the device it leaves.
const (
	leaveUnsubscribe = 1 << iota // it may hold the subscription
	leaveUnwatch                 // it is still there to be unwatched (if remote: only those are watched)
)

// leave forgets the link's device; c may be nil when what is nothing.
func (s *session) leave(c actor.Context, l *link, what int) {
	if l.pid == nil {
		return
	}
	if what&leaveUnsubscribe != 0 {
		c.Send(l.pid, &msg.Unsubscribe{Address: s.self.Address, Id: s.self.Id})
	}
	if what&leaveUnwatch != 0 && !s.local(l.pid) {
		c.Unwatch(l.pid)
	}
	l.pid = nil
	l.subscribed = false
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

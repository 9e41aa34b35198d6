package limiter

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/time/rate"

	"github.com/evaratech/evara/actors/device"
	"github.com/evaratech/evara/internal/telemetry"
)

// limiter is the actor. All its state is touched only on its mailbox:
// Receive, and HandleFailure, which protoactor runs there too.
type limiter struct {
	cfg      Config
	log      *slog.Logger
	self     *actor.PID
	sup      actor.Supervisor // this actor's context, as HandleFailure hands it over
	desired  *desired         // the nodes to run; survives a restart of the limiter
	stopping bool             // the limiter itself: start nothing any more

	devices map[telemetry.NodeID]*entry
	byPID   map[string]telemetry.NodeID // process id → node
	crashed map[telemetry.NodeID]bool   // stopped for crashing

	bucket    *rate.Limiter
	share     float64 // this member's share of the cluster's budget (SetShare), requests/s
	burst     int
	rate      float64   // granted now: share, lowered by AIMD
	holdUntil time.Time // no permits before (Config.Hold)
	window    window
	outcomes  outcomes
	reserved  map[string]*place // device process id → its place in the queue

	pushbacks    []time.Time // within the current window
	lastDecrease time.Time
	quietSince   time.Time // the last pushback, or the last increase step

	slots slots
	stats Stats
}

// entry is one running device.
type entry struct {
	pid      *actor.PID
	interval time.Duration
	stopping bool
	next     *telemetry.Node // Reconfigure: start this once the old device is gone
	crashes  []time.Time
	timer    *time.Timer // a pending restart
	timerGen uint64
	breaker  device.BreakerState
	mailbox  *depth // the device's mailbox depth; kept across restarts
	slot     int    // its place in the interval's phase sequence (slots)
}

func newLimiter(cfg Config, want *desired) *limiter {
	now := cfg.Now()
	return &limiter{
		cfg:        cfg,
		desired:    want,
		log:        cfg.Logger,
		devices:    map[telemetry.NodeID]*entry{},
		byPID:      map[string]telemetry.NodeID{},
		crashed:    map[telemetry.NodeID]bool{},
		bucket:     rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst),
		share:      cfg.Rate,
		burst:      cfg.Burst,
		rate:       cfg.Rate,
		holdUntil:  now.Add(cfg.Hold),
		reserved:   map[string]*place{},
		quietSince: now,
	}
}

// Receive handles one message; nothing in it blocks.
func (l *limiter) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		l.self = c.Self()
		for _, n := range l.desired.all() { // after a restart of the limiter (a bug): run its devices again
			l.spawn(c, n, false)
		}
	case *device.PermitRequest:
		l.onPermitRequest(c)
	case *device.FetchOutcome:
		l.onOutcome(m)
	case *device.BreakerChanged:
		if e := l.devices[m.Node]; e != nil {
			e.breaker = m.State
		}
	case *Start:
		l.start(c, m.Nodes, m.CatchUp)
		l.ack(c)
	case *SetShare:
		l.setShare(l.cfg.Now(), m.Rate, m.Burst)
		l.ack(c)
	case *StopDevice:
		l.desired.remove(m.Node)
		if e := l.devices[m.Node]; e != nil {
			e.next = nil
			l.stop(c, e)
		}
		l.ack(c)
	case *Reconfigure:
		l.reconfigure(c, m.Node)
		l.ack(c)
	case *actor.Terminated:
		l.onTerminated(c, m.Who)
	case *restartDue:
		l.onRestartDue(m)
	case *GetStats:
		c.Respond(l.snapshot())
	case *actor.Stopping, *actor.Restarting:
		l.stopping = true // protoactor stops the devices next
		for _, e := range l.devices {
			stopTimer(e)
		}
	}
}

// start runs a device for each node without one. A device still stopping
// (StopDevice) is started again once it is gone; a running one is left
// alone.
func (l *limiter) start(c actor.Context, nodes []telemetry.Node, catchUp bool) {
	for i := range nodes {
		n := &nodes[i] // kept (desired) without a copy: a Start's nodes are never changed
		switch e := l.devices[n.ID]; {
		case e == nil:
			l.spawn(c, n, catchUp)
		case e.stopping && e.next == nil:
			e.next = n
		}
	}
}

func (l *limiter) ack(c actor.Context) {
	if c.Sender() != nil {
		c.Respond(&Ack{})
	}
}

func (l *limiter) spawn(c actor.Context, n *telemetry.Node, catchUp bool) {
	if l.stopping {
		return
	}
	cfg, err := l.deviceConfig(*n)
	cfg.CatchUp = catchUp
	slot, phase := l.slots.take(cfg.Interval())
	cfg.Phase = &phase
	var pid *actor.PID
	mb := &depth{}
	if err == nil {
		pid, err = c.SpawnNamed(device.Props(cfg).Configure(actor.WithMailbox(actor.Unbounded(mb))), string(n.ID))
	}
	if err != nil {
		l.slots.give(cfg.Interval(), slot)
		l.stats.Rejected++
		l.desired.remove(n.ID)
		l.log.Error("device not started", "node_id", string(n.ID), "err", err)
		return
	}
	delete(l.crashed, n.ID)
	l.desired.set(n)
	l.devices[n.ID] = &entry{pid: pid, interval: cfg.Interval(), breaker: device.BreakerClosed, mailbox: mb, slot: slot}
	l.byPID[pid.Id] = n.ID
}

// deviceConfig builds and checks a node's device configuration. A panic
// of Config.Devices (a bug of the caller) rejects the node instead of
// crashing the limiter and, with it, every device of the member.
func (l *limiter) deviceConfig(n telemetry.Node) (cfg device.Config, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("building the device configuration panicked: %v", r)
		}
	}()
	cfg = l.cfg.Devices(n)
	cfg.Node = n
	return cfg, cfg.Validate()
}

func (l *limiter) stop(c actor.Context, e *entry) {
	stopTimer(e)
	if !e.stopping {
		e.stopping = true
		c.Stop(e.pid)
	}
}

func (l *limiter) reconfigure(c actor.Context, n telemetry.Node) {
	e := l.devices[n.ID]
	if e == nil {
		l.spawn(c, &n, false)
		return
	}
	e.next = &n
	l.stop(c, e)
}

// onTerminated forgets a device that has stopped and starts its
// replacement if a Reconfigure asked for one.
func (l *limiter) onTerminated(c actor.Context, who *actor.PID) {
	id, ok := l.byPID[who.Id]
	if !ok {
		return
	}
	e := l.devices[id]
	delete(l.byPID, who.Id)
	delete(l.devices, id)
	l.slots.give(e.interval, e.slot)
	stopTimer(e)
	if p := l.reserved[who.Id]; p != nil {
		p.r.CancelAt(l.cfg.Now())
		delete(l.reserved, who.Id)
	}
	if e.next != nil {
		l.spawn(c, e.next, false)
	}
}

func (l *limiter) snapshot() *Stats {
	now := l.cfg.Now()
	l.adapt(now)
	s := l.stats
	s.Devices, s.Waiting = len(l.devices), len(l.reserved)
	s.ConfiguredRate, s.Rate, s.Burst = l.share, l.rate, l.burst
	s.Tokens = l.bucket.TokensAt(now)
	depths := make([]int64, 0, len(l.devices))
	for _, e := range l.devices {
		s.Demand += float64(time.Second) / float64(e.interval)
		switch e.breaker {
		case device.BreakerOpen:
			s.BreakersOpen++
		case device.BreakerHalfOpen:
			s.BreakersHalfOpen++
		default:
			s.BreakersClosed++
		}
		depths = append(depths, e.mailbox.load())
	}
	s.MailboxMax, s.MailboxP99 = maxAndP99(depths)
	s.OK, s.Failed, s.RateLimited = l.outcomes.ok, l.outcomes.failed, l.outcomes.limited
	s.OKLastMinute, s.FailedLastMinute, s.RateLimitedLastMinute = l.outcomes.lastMinute(now)
	s.Stretch = max(1, s.Demand/l.rate)
	s.Crashed = slices.Sorted(maps.Keys(l.crashed))
	return &s
}

func stopTimer(e *entry) {
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
}

// desired is the set of nodes the limiter was asked to run. It lives in the
// props, outside the actor, so that a limiter restarted by its own
// supervisor after a panic starts the same devices again (protoactor stops
// a restarting actor's children first).
type desired struct {
	mu    sync.Mutex
	nodes map[telemetry.NodeID]*telemetry.Node
}

func (d *desired) set(n *telemetry.Node) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nodes[n.ID] = n
}

func (d *desired) remove(id telemetry.NodeID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.nodes, id)
}

func (d *desired) all() []*telemetry.Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.SortedFunc(maps.Values(d.nodes), func(a, b *telemetry.Node) int { return strings.Compare(string(a.ID), string(b.ID)) })
}

package device

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/actors/msg"
	"github.com/evaratech/evara/actors/writer"
	"github.com/evaratech/evara/internal/telemetry"
)

// device is the actor. Everything below is touched only by Receive (and by
// the continuations protoactor runs on the same mailbox); the goroutines it
// starts get copies and answer with messages.
type device struct {
	cfg      *Config // the props' copy, shared by every incarnation; read only
	carry    *carryOver
	interval time.Duration

	system   *actor.ActorSystem
	self     *actor.PID
	parent   *actor.PID     // the limiter; nil when spawned from the root (no budget)
	jobs     sync.WaitGroup // fetch, warm-up and status goroutines
	inflight []*job         // their cancel functions, until they report
	done     bool           // stopping or restarting: late answers are ignored

	// Schedule. due is in real (monotonic) time, like the timers.
	due        time.Time
	tickTimer  *time.Timer
	tickGen    uint64
	retryTimer *time.Timer
	retryGen   uint64
	notBefore  time.Time // real time before which the upstream asked not to be called (429)
	started    time.Time // on the injected clock: the staleness baseline until an entry is seen
	// subsChecked is the due time of the tick that last checked the local
	// subscribers (checkSubscribers).
	subsChecked time.Time

	// Fetch pipeline: at most one of these is in progress at a time.
	awaitingPermit bool                // a PermitRequest is unanswered
	permitDeferred bool                // denied; the retry timer asks again
	fetching       bool                // the fetch goroutine runs
	pending        []telemetry.Reading // fetched, not yet accepted by the writer
	writing        bool                // a Write is unanswered

	handed, stored int64 // newest entry accepted by the writer / reported durable
	channelLast    int64 // the channel's last_entry_id at the previous fetch (0: unknown)
	perFetch       int64 // entries that arrived between the two previous fetches
	perFetchKnown  bool  // perFetch was measured (two fetches seen)

	breaker  breaker
	reported BreakerState     // the breaker state the parent last heard of
	status   telemetry.Status // connectivity as decided: Online or Offline (or the node's initial status)
	shown    telemetry.Status // what the node shows: status, or Alert, or Maintenance (shownStatus)
	saved    telemetry.Status // shown, as persisted
	saving   bool
	lastSeen time.Time // created_at of the newest entry known
	latest   latest
	subs     subscribers
	alerts   alertState
	stats    Stats
}

func newDevice(cfg *Config, carry *carryOver) *device {
	d := &device{
		cfg:      cfg,
		carry:    carry,
		interval: cfg.Interval(),
		breaker:  breaker{state: BreakerClosed},
		reported: BreakerClosed,
		status:   connectivity(cfg.Node.Status),
		saved:    cfg.Node.Status,
		stored:   cfg.Node.LastEntryID,
	}
	if cfg.Node.LastSeen != nil {
		d.lastSeen = *cfg.Node.LastSeen
	}
	stored, status, saved := carry.load()
	d.stored = max(d.stored, stored)
	if status != "" {
		d.status, d.saved = status, saved
	}
	d.shown, d.handed = d.saved, d.stored
	return d
}

// Receive handles one message; it never waits for I/O except on stop,
// when it cancels its goroutines and waits for them to return.
func (d *device) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		d.start(c)
	case *tick:
		if m.owner == d && m.gen == d.tickGen {
			d.onTick(c)
		}
	case *retry:
		if m.owner == d && m.gen == d.retryGen {
			d.onRetry(c)
		}
	case *Permit:
		d.onPermit()
	case *PermitDenied:
		d.onPermitDenied(m)
	case jobReport:
		d.forgetFinished()
		if m.from() == d {
			m.handle(c, d)
		}
	case *writer.Stored:
		if m.Node == d.cfg.Node.ID && m.LastEntryID > d.stored {
			d.stored = m.LastEntryID
			d.carry.setStored(m.LastEntryID)
		}
	case *windowEdge:
		if m.owner == d && m.gen == d.alerts.edgeGen {
			d.onWindowEdge()
		}
	case *msg.ReloadAlerts:
		d.loadAlerts()
	case *msg.GetLatest:
		c.Respond(d.latestMsg())
	case *msg.Subscribe:
		d.subscribe(c, m)
	case *msg.Unsubscribe:
		d.unsubscribe(c, m.GetAddress(), m.GetId())
	case *actor.Terminated: // a remote subscriber stopped, or its member is gone
		d.unsubscribe(nil, m.Who.GetAddress(), m.Who.GetId())
	case *GetStats:
		c.Respond(d.snapshot())
	case *actor.Stopping, *actor.Restarting:
		d.shutdown()
	}
}

// start warms the cache from the store; the first poll is scheduled once
// that is done (warmed), so that a live-data request after a restart is
// answered from the store's newest reading rather than with nothing.
func (d *device) start(c actor.Context) {
	d.system, d.self, d.parent = c.ActorSystem(), c.Self(), c.Parent()
	d.started = d.cfg.Now()
	store, alerts, node, now, msg := d.cfg.Store, d.cfg.Alerts, d.cfg.Node.ID, d.started, &warmed{reportOf: reportOf{d}}
	d.alerts.loading = alerts != nil
	d.goAndReport(msg, storeTimeout, func(ctx context.Context) {
		msg.reading, msg.err = store.LatestReading(ctx, node)
		if alerts != nil {
			msg.alerts = readAlertState(ctx, alerts, node, now)
		}
	})
}

// job is one goroutine of the actor: its context's cancel function, and
// whether it has finished.
type job struct {
	cancel context.CancelFunc
	done   atomic.Bool
}

// goAndReport runs work on a goroutine the actor owns, with a context of
// its own (timing out after timeout, if positive) that shutdown cancels,
// and then sends msg (which work fills in) to the actor. Contexts live only
// as long as their job: an idle device holds none.
func (d *device) goAndReport(msg jobReport, timeout time.Duration, work func(ctx context.Context)) {
	var ctx context.Context
	var cancel context.CancelFunc
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), timeout)
	} else {
		ctx, cancel = context.WithCancel(context.Background())
	}
	j := &job{cancel: cancel}
	d.inflight = append(d.inflight, j)
	system, self := d.system, d.self
	d.jobs.Add(1)
	go func() {
		defer d.jobs.Done()
		work(ctx)
		cancel()
		j.done.Store(true)
		system.Root.Send(self, msg)
	}()
}

// forgetFinished drops the jobs that have reported.
func (d *device) forgetFinished() {
	d.inflight = slices.DeleteFunc(d.inflight, func(j *job) bool { return j.done.Load() })
	if len(d.inflight) == 0 {
		d.inflight = nil
	}
}

// shutdown ends everything the actor started: timers, and the goroutines,
// whose context is cancelled first (an in-flight fetch ends at once).
func (d *device) shutdown() {
	if d.done {
		return
	}
	d.done = true
	d.endSubscriptions()
	stopTimer(d.tickTimer)
	stopTimer(d.retryTimer)
	stopTimer(d.alerts.edgeTimer)
	for _, j := range d.inflight {
		j.cancel()
	}
	d.jobs.Wait()
	d.inflight = nil
}

func (d *device) onWarmed(m *warmed) {
	switch {
	case m.err == nil:
		if m.reading.EntryID > d.latest.entryID {
			d.setLatest(m.reading.Entry)
		}
	case !isNotFound(m.err):
		d.logger().Warn("cannot read the latest stored reading; the cache starts empty", "err", m.err)
	}
	delay := firstDelay(d.cfg.Now(), d.phase(), d.interval)
	d.due = time.Now().Add(delay)
	if d.cfg.CatchUp {
		// Taken over from a member that left: its last poll may be up to an
		// interval old, so poll within CatchUpWindow (spread by a hash of
		// the id); the tick after that falls back on the phase (onTick).
		d.due = d.due.Add(-d.interval)
		delay = phase(d.cfg.Node.ID, min(d.interval, CatchUpWindow))
	}
	d.armTick(delay)
	if d.cfg.Alerts != nil {
		d.alerts.loading = false
		d.applyAlertState(m.alerts, 0, true)
		if d.alerts.again { // a ReloadAlerts came during the warm-up
			d.loadAlerts()
		}
	}
	d.persistStatus() // a status carried over from a crashed incarnation may be unsaved
}

// onTick runs once per interval: it schedules the next tick and starts a
// fetch unless one is still under way, the breaker is open, or the
// upstream asked to wait.
func (d *device) onTick(c actor.Context) {
	d.checkSubscribers()
	d.due = d.due.Add(d.interval)
	if late := time.Since(d.due); late >= 0 { // the actor was held up: skip the missed slots
		d.due = d.due.Add((late/d.interval + 1) * d.interval)
	}
	if time.Until(d.due) < d.interval/4 { // after a catch-up poll: not twice in a row
		d.due = d.due.Add(d.interval)
	}
	d.armTick(time.Until(d.due))

	now := d.cfg.Now()
	d.checkStale(now)
	if d.cfg.Alerts != nil && (d.alerts.engine == nil || d.alerts.stale || time.Since(d.alerts.loaded) >= alertReload) {
		d.loadAlerts()
	}
	d.checkConnectivityAlert()
	d.persistStatus() // retries a status the store refused earlier
	switch {
	case d.awaitingPermit || d.permitDeferred || d.fetching || len(d.pending) > 0:
		d.stats.SkippedBusy++
	case time.Now().Before(d.notBefore):
		d.stats.SkippedBusy++
	case !d.breaker.allow(now):
		d.stats.SkippedOpen++
	default:
		d.askPermit(c)
	}
	d.reportBreaker(c)
}

// reportBreaker tells the parent when the breaker's state has changed.
func (d *device) reportBreaker(c actor.Context) {
	if d.breaker.state == d.reported || d.parent == nil {
		return
	}
	d.reported = d.breaker.state
	c.Send(d.parent, &BreakerChanged{Node: d.cfg.Node.ID, State: d.reported})
}

func (d *device) onRetry(c actor.Context) {
	switch {
	case d.permitDeferred:
		d.permitDeferred = false
		d.askPermit(c)
	case len(d.pending) > 0 && !d.writing:
		d.sendWrite(c)
	}
}

func (d *device) armTick(delay time.Duration) {
	stopTimer(d.tickTimer)
	d.tickGen++
	d.tickTimer = d.after(delay, &tick{owner: d, gen: d.tickGen})
}

func (d *device) armRetry(delay time.Duration) {
	stopTimer(d.retryTimer)
	d.retryGen++
	d.retryTimer = d.after(delay, &retry{owner: d, gen: d.retryGen})
}

// after sends msg to the actor after delay. Timers, not ReceiveTimeout,
// which races in protoactor (#1139).
func (d *device) after(delay time.Duration, msg any) *time.Timer {
	system, self := d.system, d.self
	return time.AfterFunc(max(delay, 0), func() { system.Root.Send(self, msg) })
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

// latest is the cached newest reading; metrics is never changed once
// built, so answers may share it.
type latest struct {
	at      time.Time
	entryID int64
	metrics map[string]float64
}

func (d *device) latestMsg() *msg.Latest {
	l := &msg.Latest{NodeId: string(d.cfg.Node.ID), EntryId: d.latest.entryID, Metrics: d.latest.metrics, Status: string(d.shown)}
	if !d.latest.at.IsZero() {
		l.TimestampUnixMs = d.latest.at.UnixMilli()
	}
	return l
}

func (d *device) setLatest(e telemetry.Entry) {
	d.latest = latest{at: e.CreatedAt, entryID: e.EntryID, metrics: metrics(d.cfg.Node.FieldMapping, e)}
	if e.CreatedAt.After(d.lastSeen) {
		d.lastSeen = e.CreatedAt
	}
}

func (d *device) snapshot() *Stats {
	s := d.stats
	s.Node, s.Channel, s.Interval = d.cfg.Node.ID, d.cfg.Node.ChannelID, d.interval
	s.Status, s.Connectivity, s.Breaker, s.ConsecutiveFailures = d.shown, d.status, d.breaker.state, d.breaker.failures
	if e := d.alerts.engine; e != nil {
		s.OpenAlerts = len(e.Open())
	}
	s.InMaintenance = d.inMaintenance(d.cfg.Now())
	s.BreakerOpened = d.breaker.opened
	s.LastEntryHanded, s.LastEntryStored, s.PendingRows = d.handed, d.stored, len(d.pending)
	s.Subscribers = len(d.subs)
	return &s
}

// phase is the device's place within its interval: the limiter's, or a
// hash of the node id.
func (d *device) phase() time.Duration {
	if d.cfg.Phase != nil {
		return *d.cfg.Phase
	}
	return phase(d.cfg.Node.ID, d.interval)
}

// logger is the configured logger with the node's attributes. Built per
// message logged — rarely — rather than kept: a kept slog handler with
// pre-formatted attributes would cost every idle device hundreds of bytes.
func (d *device) logger() *slog.Logger {
	return d.cfg.Logger.With("node_id", string(d.cfg.Node.ID), "channel", int64(d.cfg.Node.ChannelID))
}

// crash re-raises a panic of the fetcher inside Receive, where the
// supervisor (the limiter) sees it: a goroutine's panic would kill the
// process instead of one device.
func (d *device) crash(reason any) {
	panic(fmt.Sprintf("device %s: fetcher panicked: %v", d.cfg.Node.ID, reason))
}

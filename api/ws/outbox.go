package ws

import (
	"sync"
	"sync/atomic"

	"github.com/evaratech/evara/internal/telemetry"
)

// outbox is what waits for a connection's writer: the newest telemetry and
// the newest status event per node (coalesced), a FIFO of at most limit
// control messages and unmergeable events, and at most one replay. It is
// the connection's Sink: Deliver takes the mutex briefly and never blocks.
type outbox struct {
	limit   int
	dropped *atomic.Uint64 // the server's counter
	// wake tells the writer there is something to write: it starts one
	// unless one runs. It never blocks and may be called under mu.
	wake func()

	mu sync.Mutex
	// events are the coalesced ones, in the order their slot was taken;
	// slots indexes them once there are slotIndexMin (a connection
	// following a few devices scans a few entries instead of keeping a map).
	events  []telemetry.LiveEvent
	slots   map[slotKey]int
	control []queued
	replay  []telemetry.LiveEvent
	// replayed is closed once replay has been written (or the connection
	// ends); nil when no replay waits.
	replayed chan struct{}
	overflow bool // the FIFO overflowed: the writer closes with 4008
	held     bool // coalesced events wait (while a subscription is set up)
	closed   bool // the connection is ending: drop everything
}

// slotKey names a coalescing slot: one per node and kind.
type slotKey struct {
	node   telemetry.NodeID
	status bool
}

// slotIndexMin is how many coalesced events make the outbox index them.
const slotIndexMin = 16

func keyOf(ev *telemetry.LiveEvent) slotKey {
	return slotKey{node: ev.NodeID, status: ev.Kind == telemetry.LiveStatus}
}

// slotLocked finds k's waiting event.
func (o *outbox) slotLocked(k slotKey) (int, bool) {
	if o.slots != nil {
		i, ok := o.slots[k]
		return i, ok
	}
	for i := range o.events {
		if keyOf(&o.events[i]) == k {
			return i, true
		}
	}
	return 0, false
}

// addSlotLocked appends ev in a slot of its own.
func (o *outbox) addSlotLocked(k slotKey, ev telemetry.LiveEvent) {
	o.events = append(o.events, ev)
	switch {
	case o.slots != nil:
		o.slots[k] = len(o.events) - 1
	case len(o.events) >= slotIndexMin:
		o.slots = make(map[slotKey]int, 2*len(o.events))
		for i := range o.events {
			o.slots[keyOf(&o.events[i])] = i
		}
	}
}

// queued is one FIFO entry: an encoded control message or an event the
// writer encodes.
type queued struct {
	raw   []byte
	event *telemetry.LiveEvent
}

func newOutbox(limit int, dropped *atomic.Uint64, wake func()) *outbox {
	return &outbox{limit: limit, dropped: dropped, wake: wake}
}

// Deliver queues ev. Telemetry and status events replace an older one of
// the same node still waiting (a telemetry event older than the waiting
// one, by entry_id, is itself dropped); other kinds join the FIFO.
func (o *outbox) Deliver(ev telemetry.LiveEvent) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	switch ev.Kind {
	case telemetry.LiveTelemetry, telemetry.LiveStatus:
		k := keyOf(&ev)
		if i, ok := o.slotLocked(k); ok {
			if ev.Kind == telemetry.LiveStatus || ev.EntryID >= o.events[i].EntryID {
				o.events[i] = ev
			}
			o.mu.Unlock()
			o.dropped.Add(1)
			return // the writer was woken for the event replaced
		}
		o.addSlotLocked(k, ev)
	default:
		o.pushLocked(queued{event: &ev})
	}
	o.mu.Unlock()
	o.wake()
}

// send queues an encoded control message.
func (o *outbox) send(raw []byte) {
	o.mu.Lock()
	if !o.closed {
		o.pushLocked(queued{raw: raw})
	}
	o.mu.Unlock()
	o.wake()
}

func (o *outbox) pushLocked(q queued) {
	if len(o.control) >= o.limit {
		o.overflow = true
		return
	}
	o.control = append(o.control, q)
}

// startReplay queues events to be written before the coalesced ones and
// returns a channel closed once they are written (or dropped because the
// connection ends). The reading goroutine waits on it, so there is at most one
// replay per connection and a client cannot pile them up.
func (o *outbox) startReplay(events []telemetry.LiveEvent) <-chan struct{} {
	done := make(chan struct{})
	o.mu.Lock()
	if o.closed || o.replayed != nil {
		o.mu.Unlock()
		close(done)
		return done
	}
	o.replay, o.replayed = events, done
	o.mu.Unlock()
	o.wake()
	return done
}

// takeControl returns the FIFO and the replay waiting, and whether the FIFO
// overflowed.
func (o *outbox) takeControl() (control []queued, replay []telemetry.LiveEvent, replayed chan struct{}, overflow bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	control, o.control = o.control, nil
	replay, replayed = o.replay, o.replayed
	o.replay, o.replayed = nil, nil
	return control, replay, replayed, o.overflow
}

// hold makes coalesced events wait (true) or go again (false).
func (o *outbox) hold(on bool) {
	o.mu.Lock()
	o.held = on
	o.mu.Unlock()
	if !on {
		o.wake()
	}
}

// takeEvents returns the coalesced events and empties their slots. While
// held, or while control messages or a replay wait, it returns nothing
// (the writer is woken for them): they go first, so a replay precedes the
// live events of the subscription that asked for it.
func (o *outbox) takeEvents() []telemetry.LiveEvent {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.held {
		return nil // hold(false) wakes the writer
	}
	if len(o.control) > 0 || o.replayed != nil || o.overflow {
		o.wake()
		return nil
	}
	events := o.events
	o.events, o.slots = nil, nil
	return events
}

// close drops everything waiting and refuses what comes; a replay waiting
// is released.
func (o *outbox) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	o.events, o.control, o.replay, o.slots = nil, nil, nil, nil
	if o.replayed != nil {
		close(o.replayed)
		o.replayed = nil
	}
}

// size is how many entries the outbox holds (for tests and the memory
// bound: at most 2 × nodes + limit, plus a replay in progress).
func (o *outbox) size() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.events) + len(o.control) + len(o.replay)
}

package device

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/actors/msg"
)

// subscribers are the PIDs (local or on other members) that get the
// device's events. The map exists only while there are any: an idle device
// without viewers pays nothing.
type subscribers map[subKey]*actor.PID

// subKey names a subscriber; it holds the strings the PID holds (no copy).
type subKey struct{ address, id string }

// subscribe adds a subscriber and answers it with the current reading.
//
// Only a subscriber on another member is watched: its member's death is
// noticed through the Terminated that protoactor's endpoint watcher sends
// the watchers of its actors. A local one is not: a session unsubscribes
// in its Stopping and Restarting, after its Subscribe (one sender to one
// receiver is ordered), so a watch would only cost both sides a watcher
// entry (about 1.8 KB a session following 10 devices, in a heap profile of
// 5,000 sessions) and two system messages. The safety net for a local
// subscriber gone without unsubscribing is checkSubscribers.
func (d *device) subscribe(c actor.Context, m *msg.Subscribe) {
	key := subKey{m.GetAddress(), m.GetId()}
	if _, ok := d.subs[key]; !ok {
		// The subscriber is usually the sender (a session's request); its
		// PID is then kept as it is rather than made again.
		pid := c.Sender()
		if pid == nil || pid.GetAddress() != key.address || pid.GetId() != key.id {
			pid = actor.NewPID(key.address, key.id)
		}
		if d.subs == nil {
			d.subs = subscribers{}
		}
		d.subs[key] = pid
		if d.remote(key) {
			c.Watch(pid) // its end, or its member's, is a Terminated: dropped
		}
	}
	if c.Sender() != nil {
		// With the device as the sender: a subscriber tells the answer of a
		// device it has left (and undoes it) from the one it waits for.
		c.Request(c.Sender(), &msg.Subscribed{Latest: d.latestMsg()})
	}
}

// unsubscribe drops a subscriber; c is nil when it is gone (nothing to
// unwatch).
func (d *device) unsubscribe(c actor.Context, address, id string) {
	key := subKey{address, id}
	pid, ok := d.subs[key]
	if !ok {
		return
	}
	delete(d.subs, key)
	if len(d.subs) == 0 {
		d.subs = nil
	}
	if c != nil && d.remote(key) {
		c.Unwatch(pid)
	}
}

// remote tells a subscriber on another member from a local one.
func (d *device) remote(key subKey) bool { return key.address != d.system.Address() }

// checkSubscribers drops the local subscribers that are no longer in the
// actor system's process registry: gone without unsubscribing, which a
// session does not do, but each would cost a dead letter per event for as
// long as the device lives. It runs on the ticks (onTick), at most once
// per Config.SubscriberCheck of schedule, rather than per event: with 1,000
// devices of 100 subscribers each, a check per reading would be 100,000
// registry look-ups a second; once a minute it is 1,700. A subscriber that
// is stopping is still registered; the next check drops it.
func (d *device) checkSubscribers() {
	if len(d.subs) == 0 || d.due.Sub(d.subsChecked) < d.cfg.SubscriberCheck {
		return
	}
	d.subsChecked = d.due
	registry := d.system.ProcessRegistry
	for key := range d.subs {
		if d.remote(key) {
			continue
		}
		if _, ok := registry.GetLocal(key.id); !ok {
			d.unsubscribe(nil, key.address, key.id)
			d.stats.SubscribersGone++
		}
	}
}

// pids is a copy of the subscribers, for use off the mailbox (nil when
// there are none).
func (s subscribers) pids() []*actor.PID {
	if len(s) == 0 {
		return nil
	}
	out := make([]*actor.PID, 0, len(s))
	for _, pid := range s {
		out = append(out, pid)
	}
	return out
}

// publish sends an event to every subscriber.
func (d *device) publish(event any) {
	for _, pid := range d.subs {
		d.system.Root.Send(pid, event)
	}
}

func (d *device) publishReading() {
	if len(d.subs) > 0 {
		d.publish(&msg.TelemetryUpdate{Latest: d.latestMsg(), ProducedUnixMs: time.Now().UnixMilli()})
	}
}

func (d *device) publishStatus() {
	if len(d.subs) > 0 {
		d.publish(&msg.StatusUpdate{NodeId: string(d.cfg.Node.ID), Status: string(d.shown), ProducedUnixMs: time.Now().UnixMilli()})
	}
}

// endSubscriptions tells the subscribers that this device is going away.
func (d *device) endSubscriptions() {
	if len(d.subs) > 0 {
		d.publish(&msg.SubscriptionEnded{NodeId: string(d.cfg.Node.ID)})
	}
	d.subs = nil
}

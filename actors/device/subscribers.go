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
		c.Watch(pid) // a subscriber that stops (or whose member dies) is dropped: Terminated
	}
	if c.Sender() != nil {
		// With the device as the sender: a subscriber tells the answer of a
		// device it has left (and undoes it) from the one it waits for.
		c.Request(c.Sender(), &msg.Subscribed{Latest: d.latestMsg()})
	}
}

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
	if c != nil {
		c.Unwatch(pid)
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

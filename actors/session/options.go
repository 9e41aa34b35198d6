package session

import (
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/internal/telemetry"
)

// Sink receives a connection's events. Deliver must not block and must be
// safe for concurrent use: the connection's outbox implements it (it
// coalesces), and the actor calls it from its mailbox. Metrics maps in the
// events may be shared with a device actor and other sessions: read only.
type Sink interface {
	Deliver(telemetry.LiveEvent)
}

// Locator finds a node's device actor: its PID on the member that owns the
// node now, or nil when no member does. It is asked again at every
// (re)subscribe attempt, so a device that moved is found where it went. It
// is called from the actor's mailbox, so it must answer from memory.
type Locator interface {
	DevicePID(node telemetry.NodeID) *actor.PID
}

// LocatorFunc adapts a function to Locator.
type LocatorFunc func(node telemetry.NodeID) *actor.PID

// DevicePID implements Locator.
func (f LocatorFunc) DevicePID(node telemetry.NodeID) *actor.PID { return f(node) }

// Options configures a session actor. Sink and Locator are required; the
// rest have defaults.
type Options struct {
	Sink    Sink
	Locator Locator
	// Scope is what the connection's user may see: an alert announced for
	// the AlertsTopic reaches the session only for a node it covers.
	Scope  telemetry.Scope
	Logger *slog.Logger     // default: discard
	Now    func() time.Time // default time.Now; stamps the current reading handed over at subscribe
	// ResubscribeMin is the first wait before subscribing again after a
	// device was lost or an attempt failed; it doubles on every failure in
	// a row up to ResubscribeMax. Defaults 25ms and 1s.
	ResubscribeMin time.Duration
	ResubscribeMax time.Duration
	// SubscribeTimeout is how long a device has to answer Subscribe
	// before the attempt is abandoned and made again; default 1s.
	SubscribeTimeout time.Duration
}

func (o Options) withDefaults() Options {
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defd(&o.ResubscribeMin, 25*time.Millisecond)
	defd(&o.ResubscribeMax, time.Second)
	defd(&o.SubscribeTimeout, time.Second)
	o.ResubscribeMax = max(o.ResubscribeMax, o.ResubscribeMin)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Props returns the props of one session actor: spawn it once (its
// incarnations after a crash share what the props hold). It panics when
// Sink or Locator is missing: that is a wiring mistake, not a runtime
// condition.
func Props(opts Options) *actor.Props {
	if opts.Sink == nil || opts.Locator == nil {
		panic("session: Sink and Locator are required")
	}
	opts = opts.withDefaults()
	carry := &carryOver{}
	return actor.PropsFromProducer(func() actor.Actor { return newSession(&opts, carry) })
}

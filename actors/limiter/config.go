package limiter

import (
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/actors/device"
	"github.com/evaratech/evara/internal/telemetry"
)

// Name is the name to spawn the limiter under (SpawnNamed). Its devices
// are then addressable as DeviceID(node): "limiter/<node id>" (SPEC §2).
const Name = "limiter"

// DeviceID is the process id of a node's device actor under a limiter
// spawned as Name; with the owner member's address it makes the device's PID.
func DeviceID(node telemetry.NodeID) string { return Name + "/" + string(node) }

// AIMD and supervision figures.
const (
	// DefaultAdaptWindow is the AIMD window: this many pushbacks within it
	// are a storm, and the rate grows back by one step per quiet window.
	DefaultAdaptWindow = 10 * time.Second
	stormOutcomes      = 3    // pushbacks within a window that halve the rate
	decreaseFactor     = 0.5  // multiplicative decrease
	increaseStep       = 0.05 // of the configured rate, per quiet window
	floorFraction      = 0.05 // of the configured rate: the lowest it goes

	restartBackoffMin = 100 * time.Millisecond
	restartBackoffMax = 10 * time.Second
	crashLimit        = 3                // crashes within crashWindow that stop a device
	crashWindow       = time.Minute      // see crashLimit
	crashMemory       = 10 * time.Minute // crashes this recent lengthen the backoff
)

// Config configures a limiter.
type Config struct {
	// Rate is this member's share of the upstream budget, in requests per
	// second; Burst is how many may go at once. Both must be positive.
	Rate  float64
	Burst int
	// Devices builds the configuration of a node's device actor (Node is
	// set to the node by the limiter).
	Devices func(telemetry.Node) device.Config
	Logger  *slog.Logger // default: discard
	// Now is the clock of the token bucket, AIMD and crash counting
	// (default time.Now).
	Now func() time.Time
	// AdaptWindow is the AIMD window (default DefaultAdaptWindow).
	AdaptWindow time.Duration
	// Hold is how long after its start the limiter grants no permit: a
	// member joining a cluster waits until the others have seen it and
	// lowered their shares, so that the shares never sum above the budget.
	Hold time.Duration
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.AdaptWindow <= 0 {
		c.AdaptWindow = DefaultAdaptWindow
	}
	c.Burst = max(c.Burst, 1)
	return c
}

// Props returns the limiter's props. It panics when Rate is not positive
// or Devices is nil: the composition root validated the settings.
func Props(cfg Config) *actor.Props {
	if !(cfg.Rate > 0) || cfg.Devices == nil {
		panic("limiter: Rate must be positive and Devices set")
	}
	cfg = cfg.withDefaults()
	want := &desired{nodes: map[telemetry.NodeID]*telemetry.Node{}}
	return actor.PropsFromProducer(func() actor.Actor { return newLimiter(cfg, want) })
}

// Start asks the limiter to run a device for each node that has none yet
// (nodes already running are left alone). Answered with *Ack when sent as
// a request.
// CatchUp marks nodes taken over from a member that left: their devices
// poll within device.CatchUpWindow rather than at their phase.
type Start struct {
	Nodes   []telemetry.Node
	CatchUp bool
}

// SetShare sets this member's share of the cluster-wide budget (Rate
// requests/s, Burst at once) as membership changes; the AIMD state carries
// over in proportion. Answered with *Ack when sent as a request.
type SetShare struct {
	Rate  float64
	Burst int
}

// StopDevice stops a node's device; its in-flight fetch is cancelled.
// Answered with *Ack when sent as a request (the device stops soon after).
type StopDevice struct{ Node telemetry.NodeID }

// Reconfigure replaces a node's device with one for the node as given (a
// changed interval, key or mapping): the old one is stopped and, once it
// is gone, the new one starts. A node without a device is started.
// Answered with *Ack when sent as a request.
type Reconfigure struct{ Node telemetry.Node }

// Ack answers Start, StopDevice and Reconfigure sent as requests.
type Ack struct{}

// GetStats asks for the member's figures; the answer is *Stats.
type GetStats struct{}

// Stats answers GetStats.
type Stats struct {
	Devices        int     // running (or restarting) device actors
	ConfiguredRate float64 // requests/s: this member's share of the budget
	Rate           float64 // requests/s now (AIMD)
	Burst          int
	Tokens         float64 // in the bucket now (negative while reservations wait)
	PermitsGranted int64
	PermitsDenied  int64
	Waiting        int // devices holding a reservation
	// Demand is what the devices would fetch at their intervals, in
	// requests/s; Stretch = max(1, Demand/Rate) is the factor by which
	// every device's effective interval grows when the budget is short.
	Demand  float64
	Stretch float64
	// Outcomes counts the fetch outcomes reported; Pushbacks those that
	// were 429 or 5xx; Decreases the times AIMD halved the rate.
	Outcomes      int64
	Pushbacks     int64
	Decreases     int64
	ExtraRequests int64 // second requests of fetches, charged after the fact
	Crashes       int64 // device crashes seen
	// Crashed lists the nodes whose devices were stopped for crashing
	// repeatedly; Start or Reconfigure runs them again.
	Crashed  []telemetry.NodeID
	Rejected int64 // nodes whose device configuration was invalid
	// QueueJumps counts the times a device with live subscribers took the
	// turn of a waiting device without any.
	QueueJumps int64

	// Breakers of the running devices by state.
	BreakersClosed, BreakersOpen, BreakersHalfOpen int
	// MailboxMax and MailboxP99 are the depths of the devices' mailboxes.
	MailboxMax, MailboxP99 int64
	// Fetch outcomes in total and over the last minute.
	OK, Failed, RateLimited                               int64
	OKLastMinute, FailedLastMinute, RateLimitedLastMinute int64
}

// restartDue fires when a crashed device's backoff ends.
type restartDue struct {
	node telemetry.NodeID
	pid  *actor.PID
	gen  uint64
}

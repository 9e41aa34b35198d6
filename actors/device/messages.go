package device

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak"
)

// PermitRequest is what a device sends its parent (the limiter) with
// ctx.Request before each fetch. The parent answers *Permit or *PermitDenied.
// Priority says the device has live subscribers: when the budget is short
// it is served before devices without any.
type PermitRequest struct{ Priority bool }

// Permit allows one upstream fetch.
type Permit struct{}

// PermitDenied refuses a fetch for now: the device asks again after
// RetryAfter (and makes no upstream call meanwhile).
type PermitDenied struct{ RetryAfter time.Duration }

// FetchOutcome is sent to the parent after every fetch that had a permit,
// so that it can adapt the upstream rate.
type FetchOutcome struct {
	Node        telemetry.NodeID
	OK          bool
	RateLimited bool // the upstream answered 429
	ServerError bool // the upstream answered 5xx or did not answer in time
	// Requests is how many upstream requests the fetch made (1 or 2, see
	// thingspeak.Page.Requests); the parent charges any beyond the permit.
	Requests int
}

// Live data crosses members, so its request and answer are protobuf:
// *msg.GetLatest → *msg.Latest (package actors/msg).

// BreakerChanged is sent to the parent whenever the device's breaker
// changes state, so that the member can count breakers by state without
// asking every device.
type BreakerChanged struct {
	Node  telemetry.NodeID
	State BreakerState
}

// GetStats asks for the device's figures; the answer is *Stats.
type GetStats struct{}

// BreakerState is the state of a device's circuit breaker.
type BreakerState string

// The breaker's states.
const (
	BreakerClosed   BreakerState = "closed"    // fetching normally
	BreakerOpen     BreakerState = "open"      // no upstream calls until the cooldown ends
	BreakerHalfOpen BreakerState = "half-open" // one probe allowed
)

// Stats answers GetStats.
type Stats struct {
	Node                telemetry.NodeID
	Channel             telemetry.ChannelID
	Interval            time.Duration
	Status              telemetry.Status // as the node shows it: Online, Offline, Alert or Maintenance
	Connectivity        telemetry.Status // Online or Offline, whatever alerts and windows say
	OpenAlerts          int              // alerts of the node the device believes open
	InMaintenance       bool
	Breaker             BreakerState
	ConsecutiveFailures int
	LastFetch           time.Time // when the latest fetch ended, either way
	LastError           string    // of the latest failed fetch; "" after a success
	LastEntryHanded     int64     // newest entry the writer accepted; the next fetch asks after it
	LastEntryStored     int64     // newest entry the writer reported durable
	PendingRows         int       // fetched rows the writer has not accepted yet
	Fetches             int64     // fetches made (successful or not)
	Failures            int64     // failed fetches, rate-limited ones included
	RateLimited         int64     // fetches answered 429
	BreakerOpened       int64     // times the breaker opened
	SkippedOpen         int64     // polls skipped because the breaker was open
	SkippedBusy         int64     // polls skipped because the previous one was not done
	PermitsDenied       int64     // PermitDenied answers received
	WriterBusy          int64     // Busy answers from the writer
	MissedEntries       int64     // entries beyond ThingSpeak's 8000-entry window after a long gap
	Subscribers         int       // PIDs receiving this device's events
	// SubscribersGone counts the local subscribers dropped because they had
	// stopped without unsubscribing (Config.SubscriberCheck): not 0 means
	// a subscriber that does not clean up after itself.
	SubscribersGone int64
}

// Messages a device sends itself. owner tells them apart from those of a
// previous incarnation of the same actor (after a supervisor restart, its
// mailbox may still hold them); gen tells a timer's latest arming from
// earlier ones.
type (
	tick struct {
		owner *device
		gen   uint64
	}
	retry struct {
		owner *device
		gen   uint64
	}
	warmed struct {
		reportOf
		reading telemetry.Reading
		err     error
		alerts  alertSnapshot // when the device keeps alerts
	}
	fetched struct {
		reportOf
		page     thingspeak.Page
		err      error
		panicked any // the fetcher panicked: re-raised in Receive for the supervisor
	}
	statusSaved struct {
		reportOf
		status telemetry.Status
		err    error
	}
)

// jobReport is what a goroutine started by goAndReport sends the actor when
// its work is done: Receive forgets the finished job, and hands the report
// to its handler only when this incarnation started the job.
type jobReport interface {
	from() *device
	handle(c actor.Context, d *device)
}

// reportOf is the part every jobReport shares: the device that started it.
type reportOf struct{ owner *device }

func (r reportOf) from() *device { return r.owner }

func (m *warmed) handle(_ actor.Context, d *device)       { d.onWarmed(m) }
func (m *fetched) handle(c actor.Context, d *device)      { d.onFetched(c, m) }
func (m *statusSaved) handle(_ actor.Context, d *device)  { d.onStatusSaved(m) }
func (m *alertsLoaded) handle(_ actor.Context, d *device) { d.onAlertsLoaded(m) }
func (m *alertsSaved) handle(_ actor.Context, d *device)  { d.onAlertsSaved(m) }

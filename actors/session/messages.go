package session

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/internal/telemetry"
)

// Watch sets the nodes a topic covers, replacing whatever it covered
// before (an empty Nodes keeps the topic with no node). A node named by
// several topics has one device subscription, kept while any topic names it.
type Watch struct {
	Topic string
	Nodes []telemetry.NodeID
}

// Unwatch forgets a topic; the devices no other topic names are
// unsubscribed.
type Unwatch struct{ Topic string }

// Announce is an event raised elsewhere (NODE_PROVISIONED) for the
// followers of Topic: a session that watches Topic passes it to the sink
// as it is and, with Follow, adds the event's node to the topic (a new
// device of a followed community). Others ignore it.
type Announce struct {
	Topic  string
	Event  telemetry.LiveEvent
	Follow bool
}

// GetStats asks for the session's figures; the answer is *Stats.
type GetStats struct{}

// Stats answers GetStats.
type Stats struct {
	Topics     int // topics watched
	Devices    int // distinct nodes the topics name
	Subscribed int // of those, devices that confirmed the subscription
	Pending    int // of those, waiting for an answer or for the next attempt
	// Resubscribes counts attempts made again after a subscription was
	// lost (the device stopped, moved or its member died) or an attempt
	// failed.
	Resubscribes int64
}

// retryDue is what a node's backoff timer sends the actor when it ends.
// gen tells the latest arming from earlier ones; owner tells it apart from
// one of a previous incarnation (after a supervisor restart the mailbox may
// still hold it).
type retryDue struct {
	owner *session
	node  telemetry.NodeID
	gen   uint64
	// asked is set on a check of an attempt at a local device
	// (localCheck): the device's process when Subscribe was sent. waited
	// is the wait that ended, left what remains of SubscribeTimeout.
	asked        actor.Process
	waited, left time.Duration
}

// Package session is the session actor (SPEC §2, §8): one per WebSocket
// connection, on the member that holds the connection. It keeps the
// connection's subscriptions to device actors — wherever in the cluster
// they run, following them when they move or their member dies — and fans
// their events in to the connection's Sink.
//
// # Messages
//
// Accepted from the connection (plain Go types: it is on the same member):
//
//	*Watch{Topic, Nodes} set the nodes a topic covers, replacing the topic's
//	                     previous set. Each node has one device subscription
//	                     however many topics name it (reference counted).
//	*Unwatch{Topic}      forget a topic; devices no other topic names are
//	                     unsubscribed
//	*Announce{Topic, Event, Follow}
//	                     an event raised elsewhere (NODE_PROVISIONED): passed
//	                     to the sink as it is when the session watches Topic,
//	                     and with Follow its node joins the topic
//	*AlertAnnounce{Event, Owner}
//	                     an alert for the watchers of AlertsTopic (each
//	                     member's relay keeps them): passed on when Scope
//	                     covers Owner and the session does not follow the node
//	*GetStats (request)  → *Stats{Topics, Devices, Subscribed, Pending, Resubscribes}
//
// Sent to devices (protobuf, any member): *msg.Subscribe{self} as a request
// (and a device on another member is watched), *msg.Unsubscribe{self}.
//
// Accepted from devices:
//
//	*msg.Subscribed        the answer to Subscribe, with the device's current
//	                       reading: passed on as a TELEMETRY_UPDATE (or, with no
//	                       new reading, a changed status as a STATUS_UPDATE), so
//	                       that a new subscriber has the current state at once.
//	                       The device answers with itself as the sender: an
//	                       answer from a device the link has left, or after its
//	                       attempt was given up, is undone (Unsubscribe).
//	*msg.TelemetryUpdate   → telemetry.LiveTelemetry: node_id, entry_id,
//	                       timestamp (At), metrics, status, produced_unix_ms (ts)
//	*msg.StatusUpdate      → telemetry.LiveStatus
//	*msg.AlertRaised       an alert of a followed node (ALERT_TRIGGERED or
//	                       ALERT_RESOLVED), sent to the device's subscribers
//	*msg.SubscriptionEnded the device stopped: subscribe again
//	*actor.Terminated      a watched (remote) device stopped, was not there,
//	                       or its member died: subscribe again
//
// Events of nodes no topic names are ignored, and readings are passed on in
// increasing entry order per node (a late event of a device left is
// dropped); the current reading handed over at subscribe time is passed on
// unless it is the one passed on last.
//
// # Subscribing
//
// Each attempt asks the Locator where the node's device is now and sends
// Subscribe as a request (this actor the sender; no future, which would be
// a process per attempt); the link's timer gives the attempt up after
// SubscribeTimeout. A device on another member is watched. A local one is
// not (both ends would hold a watcher entry per subscription, and both
// already say goodbye: the device sends SubscriptionEnded when it stops or
// restarts, the session Unsubscribe); instead the session looks it up in
// the actor system's process registry before asking, and again while the
// answer is awaited (100 ms after asking, then twice as far apart each
// time), so that a device gone before or while it is asked costs a
// backoff rather than SubscribeTimeout.
// A timeout, no owner, a local device gone, a SubscriptionEnded or a
// Terminated make the session try again after a backoff: ResubscribeMin,
// doubling with every failure in a row up to ResubscribeMax, for as long
// as the session lives and a topic names the node. An attempt given up is
// undone (Unsubscribe) in case the device takes it late. Backoffs are
// time.AfterFunc timers sending generation-numbered messages to the actor
// (protoactor's ReceiveTimeout races, #1139).
//
// A member killed outright is noticed through protoactor's remote endpoint:
// when the connection to it breaks, watchers of its actors get Terminated
// with TerminatedReason_AddressTerminated. A member that vanishes without
// breaking the connection is noticed only when the transport gives up on it.
//
// # State, concurrency and lifetime
//
// The state is bounded by what the connection asked for: its topics, and
// one small record (plus at most one timer) per distinct node they name.
// The connection layer bounds the topics and which nodes they may name.
// Receive never blocks: the Sink must not block either, and the Locator
// answers from memory.
//
// Whoever spawns a session stops it, when its connection closes; on stop it
// unsubscribes from every device and stops its timers, leaving nothing
// running. A session restarted by its supervisor after a crash
// unsubscribes, and its next incarnation watches the same topics again.
package session

// Package ws owns the dashboard's WebSocket transport (SPEC §8): the
// upgrade at GET /api/v1/ws/ws, the auth handshake, the client's frames
// (read when the client has sent something: no goroutine waits for an idle
// client), ONE writer at a time (running only while there is something to
// write), a bounded coalescing outbox, the heartbeat and the close codes. What a connection subscribes to is not
// its business: it asks Resolve which nodes a topic names (and whether the
// caller may see them), and hands them to a Session (an actor in
// internal/app) that delivers the nodes' events back through the Sink.
//
// A Server is safe for concurrent use. Whoever mounts Handler should call
// Attach with the fiber app first (so that a connection does not hold its
// upgrade request's goroutine, context and buffers for its whole life),
// and must call Shutdown, which closes every connection with 4000 and
// waits for their goroutines (fasthttp's own shutdown does not wait for
// hijacked connections).
//
// # Authentication
//
// One of, checked after the upgrade so that a browser sees a close code:
//
//	GET /api/v1/ws/ws?token=<jwt>
//	Sec-WebSocket-Protocol: <jwt>            (the only or last protocol offered; echoed back)
//	{"type":"auth","token":"<jwt>"}          (the first message, within AuthTimeout)
//
// # Client → server
//
//	{"type":"subscribe","topic":"node:<id>"|"community:<id>"|"alerts","since":<entry_id>}
//	{"type":"unsubscribe","topic":"node:<id>"}
//	{"type":"pong"}
//
// since is optional: with it, the readings after that entry_id are sent
// (oldest first, at most Options.ReplayLimit, as BATCH_STATUS_UPDATE frames)
// after "subscribed" and before any live event of the connection; the
// current reading that a new subscription delivers may repeat the last
// replayed one, so clients keep the highest entry_id per node. Subscribing
// again to a topic re-resolves it (and replays with since). Unknown fields
// are ignored; messages over MaxMessageSize bytes close the connection
// with 1009, more than MessageRate a second (burst MessageBurst) with 4009.
//
// # Server → client
//
//	{"type":"subscribed","topic":"node:n1"}
//	{"type":"unsubscribed","topic":"node:n1"}
//	{"type":"error","code":"not_found","message":"no such topic or not yours","topic":"node:n9"}
//	{"type":"ping","ts":1767225600000}
//	{"event":"TELEMETRY_UPDATE","node_id":"n1","ts":1767225600123,"entry_id":42,
//	 "timestamp":"2026-01-01T00:00:00Z","metrics":{"water_level":71.5},"status":"Online"}
//	{"event":"STATUS_UPDATE","node_id":"n1","status":"Offline","ts":1767225600123}
//	{"event":"BATCH_STATUS_UPDATE","updates":[<TELEMETRY_UPDATE or STATUS_UPDATE>…],"ts":<newest update's ts>}
//	{"event":"ALERT_TRIGGERED","node_id":"n1","ts":…, <the alert's own fields>}
//
// ts is when the device actor produced the event (unix ms), so a client can
// measure delivery delay; a ping's ts is when it was sent. Error codes:
// bad_message (not JSON or no type), unknown_type, bad_topic, not_found
// (the topic does not exist or is outside the caller's scope), too_many_topics,
// unavailable (resolving failed; try again), already_authenticated.
//
// # Delivery
//
// Each connection's outbox keeps the newest telemetry event and the newest
// status event per node (an older one still waiting is replaced and counted
// as dropped) plus a FIFO of at most OutboxLimit control messages and
// other events (alerts, provisioning). So its memory is bounded by
// (#subscribed nodes × 2 + OutboxLimit) events, whatever the client does,
// plus while it is written one replay of at most ReplayLimit events (the
// connection reads the client's next message only after it).
// An idle connection's writer sends an event at once. What arrives while
// it writes is coalesced and goes out, when that write is done, as one
// BATCH_STATUS_UPDATE (or as itself when it is one event): an event waits
// for no timer, only for the write in progress, and a client that reads
// slowly gets fewer, fuller frames instead of a backlog.
//
// # Heartbeat
//
// The server sends {"type":"ping"} every PingInterval. Any message from the
// client (a pong or anything else) proves it alive; after MissedPongs pings
// without one the connection is closed with 4004.
//
// # Close codes
//
//	1002  protocol error: an unmasked, reserved, oversized control or misordered frame
//	1007  a text message that is not UTF-8
//	1009  message too big (over MaxMessageSize; refused from the frame's header)
//	1011  internal error: a panic in this connection's code (logged with conn_id); reconnect
//	1013  sessions unavailable (the live-data layer refused to open one), or the token could not be
//	      checked (Authenticate failed without ErrUnauthorized); reconnect later
//	4000  server shutting down; reconnect (to another replica)
//	4001  unauthorized: no, invalid or expired token, or a first message that is not auth
//	4002  auth timeout: no auth message within AuthTimeout
//	4003  bad messages: BadMessageLimit malformed or unknown messages in a row
//	4004  heartbeat: MissedPongs pings went unanswered
//	4008  slow consumer: a write did not complete within WriteTimeout, or the
//	      control FIFO overflowed; a client that reads nothing at all cannot
//	      receive this frame (the socket is full) and sees the TCP connection end
//	4009  too many messages: the client exceeded MessageRate
//
// # Concurrency
//
// Reading: after Attach on Linux, one epoll instance per Server (itself
// waited for through Go's netpoller, so it holds no thread) reports a
// connection whose client sent something, once, and a short-lived
// goroutine reads what there is, parses the frames (frames.go) and handles
// the messages (Authenticate, Resolve, Replay and the Session are called
// there), then re-arms the report. So an idle connection holds no
// goroutine and no read buffer: only a frame cut by the network is kept
// between reads. Without Attach (or where there is no epoll) each
// connection reads in a goroutine for its life (fasthttp's hijack
// goroutine without Attach) and hands each message to a short-lived
// goroutine, so that its own stack stays as small as waiting needs.
//
// The writer writes every data frame and every close frame of ours; it
// runs only while there is something to write (it is started when
// something is queued or a ping is due, and exits when nothing is left).
// At most one writer of a connection runs at a time. Pongs to protocol
// pings and the answer to a client's close frame go through WriteControl,
// which is safe alongside the writer. Sink.Deliver only takes the outbox's
// mutex and never blocks. A panic in a connection's goroutines is
// recovered, logged and closes that connection only. Auth timeouts and the
// wait for the client's answer to our close frame are timers, not read
// deadlines.
//
// A telemetry event delivered to many connections is encoded once: the
// Server keeps the encoding of each node's newest reading and the writers
// share it.
package ws

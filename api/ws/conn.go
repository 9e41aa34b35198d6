package ws

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fasthttp/websocket"
	"golang.org/x/time/rate"

	"github.com/evaratech/evara/internal/telemetry"
)

// conn is one WebSocket connection. The fields under "read side" belong to
// whichever goroutine reads the connection (one at a time, see read.go);
// those under "writer" to the writer, which runs only while there is
// something to write (see writer.go), one at a time; the rest is shared
// through the outbox, atomics, closeReq and rmu.
type conn struct {
	s        *Server
	ws       *websocket.Conn
	raw      net.Conn // the TCP connection under fasthttp's hijack wrapper
	id       uint64
	out      *outbox
	detached bool // ours to close (Attach)

	closeOnce  sync.Once
	closeReq   chan struct{} // closed by requestClose
	closeCode  int           // 0: close without a frame (the client is gone)
	closeText  string
	writerDone chan struct{} // closed when the writer has finished for good
	// kicks counts requests for a writer since the running one (if any)
	// last looked; 0 means no writer runs (writer.go).
	kicks atomic.Int64
	// unanswered counts pings sent since the client's last message.
	unanswered atomic.Int32
	pingDue    atomic.Bool
	pingTimer  *time.Timer // sets pingDue; the writer arms it again, and stops it when it finishes

	// rmu hands reading over between the goroutines that take turns at it
	// (read.go): reading is true while one of them reads (or sets up), cut
	// once the TCP connection is closed; whoever sees both false ends the
	// connection.
	rmu     sync.Mutex
	reading bool
	cutDone bool
	polled  bool            // the poller tells when to read
	rc      syscall.RawConn // raw's, for the poller
	endOnce sync.Once

	// read side
	frames    frameReader
	phase     readPhase
	broken    bool        // the client broke the protocol: what it sends is ignored
	authTimer *time.Timer // while phase is phaseAuth
	ident     Identity
	session   Session
	topics    map[string]topicKind
	limiter   *rate.Limiter
	bad       int
}

// serve runs one connection: it authenticates with the upgrade's token
// (if any), opens the session and then reads the client's messages —
// after Attach on Linux by handing the connection to the poller and
// returning (no goroutine waits for an idle client), otherwise by reading
// in this goroutine until the connection ends. Either way end runs once,
// last, when reading is over. detached: the connection is ours to close
// (fasthttp let go of it, Attach); otherwise fasthttp closes it when
// serve returns.
func (s *Server) serve(wc *websocket.Conn, token string, detached bool) {
	c := &conn{s: s, ws: wc, raw: unwrap(wc.NetConn()), closeReq: make(chan struct{}),
		writerDone: make(chan struct{}), detached: detached, reading: true,
		limiter: rate.NewLimiter(rate.Limit(s.opts.MessageRate), s.opts.MessageBurst)}
	c.id = s.nextID.Add(1)
	c.frames.limit = s.opts.MaxMessageSize
	c.out = newOutbox(s.opts.OutboxLimit, &s.stats.dropped, c.kick)
	if !s.add(c) { // Shutdown began between the upgrade and now
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(CloseShutdown, "server shutting down, reconnect"),
			time.Now().Add(closeGrace))
		if detached {
			_ = wc.NetConn().Close()
		}
		return
	}
	s.stats.connections.Add(1)

	// Armed after the assignment, so the writer the timer starts sees it.
	c.pingTimer = time.AfterFunc(time.Hour, c.ping)
	c.pingTimer.Reset(s.opts.PingInterval)
	if !c.start(token) {
		c.end()
		return
	}
	if detached {
		if p := s.poller(); p != nil && c.handToPoller(p) {
			return
		}
	}
	c.readBlocking(wc.NetConn())
	c.end()
}

// logger logs with the connection's id. Made when needed: a logger per
// idle connection would cost memory for lines that are rarely written.
func (c *conn) logger() *slog.Logger { return c.s.log.With("conn_id", c.id) }

// unwrap is the TCP connection under fasthttp's hijack wrapper, whose own
// Close does nothing while the handler runs.
func unwrap(nc net.Conn) net.Conn {
	if u, ok := nc.(interface{ UnsafeConn() net.Conn }); ok {
		return u.UnsafeConn()
	}
	return nc
}

// start authenticates with the upgrade's token and opens the session, or
// without one arms the auth timeout and leaves authentication to the
// first message. It reports false when the connection is over (a close
// frame of ours may be on its way).
func (c *conn) start(token string) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			c.panicked("opening", r)
			ok = false
		}
	}()
	if token == "" {
		c.phase = phaseAuth
		c.authTimer = time.AfterFunc(c.s.opts.AuthTimeout, func() {
			c.requestClose(CloseAuthTimeout, "authentication timeout")
		})
		return true
	}
	var opened bool
	offStack(func() { opened = c.open(token) })
	if !opened {
		c.phase = phaseClosing
	}
	return opened
}

// open authenticates and opens the session; it reports whether it did
// (else it has asked to close).
func (c *conn) open(token string) bool {
	ctx, cancel := context.WithTimeout(c.s.base, c.s.opts.AuthTimeout)
	defer cancel()
	id, err := c.s.opts.Auth(ctx, token)
	switch {
	case errors.Is(err, ErrUnauthorized):
		c.requestClose(CloseUnauthorized, "unauthorized")
		return false
	case err != nil:
		c.logger().Warn("websocket token not checked", "err", err)
		c.requestClose(closeTryLater, "authentication unavailable, reconnect later")
		return false
	}
	c.ident = id
	c.topics = map[string]topicKind{}
	sess, err := c.s.opts.Sessions.Open(c.ident, c.out)
	if err != nil {
		c.logger().Warn("websocket session not opened", "user_id", c.ident.UserID, "err", err)
		c.requestClose(closeTryLater, "sessions unavailable, reconnect later")
		return false
	}
	c.session = sess
	c.phase = phaseOpen
	return true
}

// offStack runs f on a goroutine of its own and waits for it; a panic in f
// goes on in the caller. A connection that reads in a goroutine of its own
// handles messages this way so that the goroutine's stack stays as small
// as waiting for the next message needs: a goroutine's stack grows to its
// deepest call (JSON, the store, the session) and shrinks only at a
// garbage collection, by half, when mostly unused, so every idle
// connection would keep the stack its deepest message needed. f's stack is
// freed when it returns.
func offStack(f func()) {
	var p any
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { p = recover() }()
		f()
	}()
	<-done
	if p != nil {
		panic(p)
	}
}

// alive records a message from the client: it counts, and answers pings.
func (c *conn) alive() {
	c.s.stats.in.Add(1)
	c.unanswered.Store(0)
}

// authMessage authenticates with the first message, which must be
// {"type":"auth","token":…}, and opens the session; false: the connection
// is closing.
func (c *conn) authMessage(data []byte) bool {
	if !c.authTimer.Stop() {
		return false // too late: the timeout asked to close
	}
	var m clientMessage
	if json.Unmarshal(data, &m) != nil || m.Type != "auth" || m.Token == "" {
		c.requestClose(CloseUnauthorized, "authenticate first")
		return false
	}
	return c.open(m.Token)
}

// handle answers one client message; false ends the connection.
func (c *conn) handle(data []byte) bool {
	var m clientMessage
	if err := json.Unmarshal(data, &m); err != nil || m.Type == "" {
		return c.refuseBad("bad_message", "expected a JSON object with a type", "")
	}
	switch m.Type {
	case "subscribe":
		return c.subscribe(m)
	case "unsubscribe":
		return c.unsubscribe(m)
	case "pong":
	case "auth":
		c.out.send(errorMessage("already_authenticated", "this connection is authenticated already", ""))
	default:
		return c.refuseBad("unknown_type", "unknown message type", "")
	}
	c.bad = 0
	return true
}

// refuseBad answers a malformed message; BadMessageLimit of them in a row
// close the connection.
func (c *conn) refuseBad(code, message, topic string) bool {
	c.out.send(errorMessage(code, message, topic))
	c.bad++
	if c.bad >= c.s.opts.BadMessageLimit {
		c.requestClose(CloseBadMessages, "too many bad messages")
		return false
	}
	return true
}

func (c *conn) subscribe(m clientMessage) bool {
	kind, ok := kindOf(m.Topic)
	if !ok {
		return c.refuseBad("bad_topic", "topic must be node:<id>, community:<id> or alerts", m.Topic)
	}
	c.bad = 0
	_, had := c.topics[m.Topic]
	if !had && len(c.topics) >= c.s.opts.MaxTopics {
		c.out.send(errorMessage("too_many_topics", "unsubscribe from a topic first", m.Topic))
		return true
	}
	ctx, cancel := context.WithTimeout(c.s.base, c.s.opts.CallTimeout)
	defer cancel()
	nodes, err := c.s.opts.Resolve(ctx, c.ident, m.Topic)
	if err != nil {
		c.refuseTopic(m.Topic, err)
		return true
	}
	var replay []telemetry.LiveEvent
	if m.Since != nil && c.s.opts.Replay != nil && kind != topicAlerts {
		// Before Watch: what a device produces after this query arrives as
		// the current reading the new subscription delivers, so nothing
		// falls between the two.
		replay = c.replay(ctx, nodes, *m.Since)
	}
	// Live events wait while Watch runs and the reply and the replay are
	// queued, so they follow both (the writer sends queued control
	// messages and replays before coalesced events); the reply is sent
	// once the session watches.
	c.out.hold(true)
	c.session.Watch(m.Topic, nodes)
	c.out.send(encodeControl(control{Type: "subscribed", Topic: m.Topic}))
	var replayed <-chan struct{}
	if len(replay) > 0 {
		replayed = c.out.startReplay(replay)
	}
	c.out.hold(false)
	if !had {
		c.topics[m.Topic] = kind
		c.s.stats.topics[kind].Add(1)
	}
	if replayed != nil {
		// One replay at a time: the client's next message waits for it.
		select {
		case <-replayed:
		case <-c.writerDone:
		}
	}
	return true
}

func (c *conn) refuseTopic(topic string, err error) {
	switch {
	case errors.Is(err, telemetry.ErrNotFound):
		c.out.send(errorMessage("not_found", "no such topic or not yours", topic))
	case errors.Is(err, telemetry.ErrInvalid):
		c.out.send(errorMessage("bad_topic", "invalid topic", topic))
	default:
		c.logger().Warn("websocket topic not resolved", "topic", topic, "err", err)
		c.out.send(errorMessage("unavailable", "try again later", topic))
	}
}

// replay collects the readings after since of nodes, oldest first per node,
// at most ReplayLimit in all (the newest of each node are kept).
func (c *conn) replay(ctx context.Context, nodes []telemetry.NodeID, since int64) []telemetry.LiveEvent {
	var out []telemetry.LiveEvent
	for _, n := range nodes {
		room := c.s.opts.ReplayLimit - len(out)
		if room <= 0 {
			break
		}
		evs, err := c.s.opts.Replay(ctx, c.ident, n, since)
		if err != nil {
			c.logger().Warn("websocket replay failed", "node_id", n, "err", err)
			continue
		}
		if len(evs) > room {
			evs = evs[len(evs)-room:]
		}
		out = append(out, evs...)
	}
	return out
}

func (c *conn) unsubscribe(m clientMessage) bool {
	if _, ok := kindOf(m.Topic); !ok {
		return c.refuseBad("bad_topic", "topic must be node:<id>, community:<id> or alerts", m.Topic)
	}
	c.bad = 0
	if kind, ok := c.topics[m.Topic]; ok {
		c.session.Unwatch(m.Topic)
		delete(c.topics, m.Topic)
		c.s.stats.topics[kind].Add(-1)
	}
	c.out.send(encodeControl(control{Type: "unsubscribed", Topic: m.Topic}))
	return true
}

// requestClose asks the writer to close the connection with code (0: no
// close frame). The first request wins.
func (c *conn) requestClose(code int, text string) {
	c.closeOnce.Do(func() {
		c.closeCode, c.closeText = code, text
		close(c.closeReq)
	})
	c.kick()
}

package ws

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"golang.org/x/time/rate"

	"github.com/evaratech/evara/internal/telemetry"
)

// conn is one WebSocket connection. The fields under "read loop" belong to
// the goroutine running serve; those under "writer" to the writer, which
// runs only while there is something to write (see writer.go), one at a
// time; the rest is shared through the outbox, atomics and closeReq.
type conn struct {
	s   *Server
	ws  *websocket.Conn
	raw net.Conn // the TCP connection under fasthttp's hijack wrapper
	id  uint64
	out *outbox

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

	// dlMu orders read deadlines: once the writer has sent our close frame
	// and set the final one, the read loop may not clear it.
	dlMu    sync.Mutex
	dlFinal bool

	// read loop
	ident   Identity
	session Session
	topics  map[string]topicKind
	limiter *rate.Limiter
	bad     int
}

// serve runs one connection: it runs the read loop and, whatever happens,
// waits for the writer and closes the session before returning. The
// caller closes the TCP connection after it.
func (s *Server) serve(wc *websocket.Conn, token string) {
	c := &conn{s: s, ws: wc, raw: unwrap(wc.NetConn()), closeReq: make(chan struct{}),
		writerDone: make(chan struct{}),
		limiter:    rate.NewLimiter(rate.Limit(s.opts.MessageRate), s.opts.MessageBurst)}
	c.id = s.nextID.Add(1)
	c.out = newOutbox(s.opts.OutboxLimit, &s.stats.dropped, c.kick)
	if !s.add(c) { // Shutdown began between the upgrade and now
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(CloseShutdown, "server shutting down, reconnect"),
			time.Now().Add(closeGrace))
		return
	}
	defer s.remove(c)
	s.stats.connections.Add(1)
	defer s.stats.connections.Add(-1)

	// Armed after the assignment, so the writer the timer starts sees it.
	c.pingTimer = time.AfterFunc(time.Hour, c.ping)
	c.pingTimer.Reset(s.opts.PingInterval)
	closing := c.run(token)
	if closing {
		c.drain()
	}
	c.finish(closing)
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

// run authenticates, opens the session and reads until the connection
// ends. It reports whether it chose to close (so a close frame of ours is
// on its way and the client's answer should be awaited).
func (c *conn) run(token string) (closing bool) {
	defer func() {
		if r := recover(); r != nil {
			c.logger().Error("websocket connection panicked", "where", "read loop", "panic", r)
			c.requestClose(closeInternal, "internal error")
			closing = true
		}
	}()
	c.ws.SetReadLimit(c.s.opts.MaxMessageSize)
	var opened bool
	offStack(func() { opened, closing = c.open(token) })
	if !opened {
		return closing
	}
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return false // gone, closed, too big (the library sent 1009) or our deadline
		}
		c.alive()
		if !c.limiter.Allow() {
			c.requestClose(CloseTooMany, "too many messages")
			return true
		}
		var goOn bool
		offStack(func() { goOn = c.handle(data) })
		if !goOn {
			return true
		}
	}
}

// open authenticates and opens the session; it reports whether it did,
// and if not whether it chose to close.
func (c *conn) open(token string) (opened, closing bool) {
	if ok, closing := c.authenticate(token); !ok {
		return false, closing
	}
	sess, err := c.s.opts.Sessions.Open(c.ident, c.out)
	if err != nil {
		c.logger().Warn("websocket session not opened", "user_id", c.ident.UserID, "err", err)
		c.requestClose(closeTryLater, "sessions unavailable, reconnect later")
		return false, true
	}
	c.session = sess
	return true, false
}

// offStack runs f on a goroutine of its own and waits for it; a panic in f
// goes on in the caller. The read loop handles messages this way so that
// its own stack stays as small as waiting for the next message needs: a
// goroutine's stack grows to its deepest call (JSON, the store, the
// session) and shrinks only at a garbage collection, by half, when mostly
// unused, so every idle connection would keep the stack its deepest
// message needed. f's stack is freed when it returns.
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

// authenticate verifies the upgrade's token, or else the first message's.
func (c *conn) authenticate(token string) (ok, closing bool) {
	if token == "" {
		c.readDeadline(time.Now().Add(c.s.opts.AuthTimeout), false)
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.requestClose(CloseAuthTimeout, "authentication timeout")
				return false, true
			}
			return false, false
		}
		c.alive()
		var m clientMessage
		if json.Unmarshal(data, &m) != nil || m.Type != "auth" || m.Token == "" {
			c.requestClose(CloseUnauthorized, "authenticate first")
			return false, true
		}
		token = m.Token
		c.readDeadline(time.Time{}, false)
	}
	ctx, cancel := context.WithTimeout(c.s.base, c.s.opts.AuthTimeout)
	defer cancel()
	id, err := c.s.opts.Auth(ctx, token)
	if err != nil {
		c.requestClose(CloseUnauthorized, "unauthorized")
		return false, true
	}
	c.ident = id
	c.topics = map[string]topicKind{}
	return true, false
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

// drain reads (and ignores) until the client answers our close frame or
// the writer's deadline passes.
func (c *conn) drain() {
	for {
		if _, _, err := c.ws.NextReader(); err != nil {
			return
		}
	}
}

// readDeadline sets the read deadline unless the final one is set.
func (c *conn) readDeadline(t time.Time, final bool) {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	if c.dlFinal {
		return
	}
	c.dlFinal = final
	_ = c.ws.SetReadDeadline(t)
}

// cut closes the TCP connection: blocked reads and writes fail at once.
func (c *conn) cut() { _ = c.raw.Close() }

// finish stops the writer, waits for it and closes the session. When the
// read loop chose to close, the writer is sending our close frame: it is
// left to finish (within WriteTimeout) before the TCP connection is cut.
func (c *conn) finish(closing bool) {
	defer func() {
		if r := recover(); r != nil {
			c.logger().Error("websocket connection panicked", "where", "closing the session", "panic", r)
		}
	}()
	c.requestClose(0, "")
	if closing {
		<-c.writerDone
	}
	c.cut()
	<-c.writerDone
	for _, kind := range c.topics {
		c.s.stats.topics[kind].Add(-1)
	}
	if c.session != nil {
		c.session.Close()
	}
}

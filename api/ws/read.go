package ws

import (
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/fasthttp/websocket"
)

// The read side. A connection's client messages are read by one goroutine
// at a time: after Attach on Linux, a short-lived one that the poller
// starts when the client has sent something (readPolled), so an idle
// connection holds no goroutine at all; otherwise one for the connection's
// life (readBlocking). Both feed the bytes to the frame parser, whose
// messages go to onMessage.
//
// The connection ends (end) once, when reading is over: the client left,
// closed, or answered our close frame, or the TCP connection was cut (by
// the writer after a failed write, the close grace timer, or Shutdown). A
// cut closes the socket, which a blocked read notices but the poller
// does not report, so cut ends the connection itself when no goroutine is
// reading (rmu).

// readPhase is where a connection's conversation is.
type readPhase uint8

const (
	phaseAuth    readPhase = iota // the first message must authenticate
	phaseOpen                     // messages are handled
	phaseClosing                  // our close frame is on its way: the client's answer is awaited, messages ignored
)

// readChunk is the size of one read by the poller's goroutines (from a
// pool): a whole subscribe burst of a dashboard fits. A connection reading
// in a goroutine of its own keeps a smaller buffer for its life.
const (
	readChunk        = 4096
	readChunkBlocked = 512
)

var readBuffers = sync.Pool{New: func() any { b := make([]byte, readChunk); return &b }}

// poller is the Server's, made at the first connection that can use it; nil
// where there is none (then connections read in goroutines of their own).
func (s *Server) poller() *poller {
	s.pollOnce.Do(func() {
		p, err := newPoller()
		if err != nil {
			s.log.Warn("websocket connections read in a goroutine each", "err", err)
			return
		}
		s.poll = p
	})
	return s.poll
}

// handToPoller registers c with p and lets go of it; false (nothing done)
// when it cannot, so that the caller reads in its own goroutine.
func (c *conn) handToPoller(p *poller) bool {
	sc, ok := c.raw.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.cutDone {
		return false // reading fails at once, and the caller ends c
	}
	c.rc, c.polled = rc, true
	if err := p.add(c); err != nil {
		c.rc, c.polled = nil, false
		return false
	}
	c.reading = false
	return true
}

// readable is the poller's news that c's client sent something (or left).
func (c *conn) readable() {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.cutDone || c.reading {
		return
	}
	c.reading = true
	go c.readPolled()
}

// readPolled reads what the socket holds, then re-arms the poller, or ends
// the connection when reading is over.
func (c *conn) readPolled() {
	more := c.guard(c.readAvailable)
	c.rmu.Lock()
	c.reading = false
	if more && !c.cutDone && c.s.poll.rearm(c) == nil {
		c.rmu.Unlock()
		return
	}
	c.rmu.Unlock()
	c.end()
}

// readAvailable reads and handles what the client has sent, without
// waiting; false when reading is over.
func (c *conn) readAvailable() bool {
	bp := readBuffers.Get().(*[]byte)
	defer readBuffers.Put(bp)
	buf := *bp
	for {
		n, again, err := c.readNonBlocking(buf)
		switch {
		case again:
			return true
		case err != nil:
			return false
		case !c.consume(buf[:n]):
			return false
		case n < len(buf):
			return true // all there was; more makes the poller report c again
		}
	}
}

// readBlocking reads until the connection ends.
func (c *conn) readBlocking(nc net.Conn) {
	buf := make([]byte, readChunkBlocked)
	c.guard(func() bool {
		for {
			n, err := nc.Read(buf)
			if n > 0 && !c.consume(buf[:n]) {
				return false
			}
			if err != nil {
				return false
			}
		}
	})
}

// guard runs read; a panic in it is logged and closes the connection (its
// report is then false: reading is over).
func (c *conn) guard(read func() bool) (more bool) {
	defer func() {
		if r := recover(); r != nil {
			c.panicked("reading", r)
			more = false
		}
	}()
	return read()
}

// panicked logs a panic of c's code and closes c with 1011.
func (c *conn) panicked(where string, r any) {
	c.logger().Error("websocket connection panicked", "where", where, "panic", r)
	c.requestClose(closeInternal, "internal error")
	c.phase = phaseClosing
}

// consume parses the bytes read; false when reading is over.
func (c *conn) consume(b []byte) bool {
	if c.broken {
		return true // until the client answers our close, or the grace ends
	}
	more, err := c.frames.feed(b, c)
	if fe, ok := isFrameError(err); ok {
		c.broken, c.frames = true, frameReader{}
		c.requestClose(fe.code, fe.text)
		c.phase = phaseClosing
		return true
	}
	return more
}

// onMessage handles one client message (frameHandler).
func (c *conn) onMessage(data []byte) bool {
	if c.phase != phaseClosing && c.closeRequested() {
		c.phase = phaseClosing // the writer is closing: a timeout, a slow client, Shutdown
	}
	switch c.phase {
	case phaseAuth:
		c.alive()
		var opened bool
		c.call(func() { opened = c.authMessage(data) })
		if !opened {
			c.phase = phaseClosing
		}
	case phaseOpen:
		c.alive()
		if !c.limiter.Allow() {
			c.requestClose(CloseTooMany, "too many messages")
			c.phase = phaseClosing
			return true
		}
		var goOn bool
		c.call(func() { goOn = c.handle(data) })
		if !goOn {
			c.phase = phaseClosing
		}
	}
	return true
}

// call runs f, on a goroutine of its own when this one lives as long as
// the connection (offStack).
func (c *conn) call(f func()) {
	if c.polled {
		f()
		return
	}
	offStack(f)
}

// onPing answers a protocol-level ping (frameHandler); WriteControl is safe
// alongside the writer.
func (c *conn) onPing(payload []byte) {
	_ = c.ws.WriteControl(websocket.PongMessage, payload, time.Now().Add(closeGrace))
}

// onClose takes the client's close frame (frameHandler): it answers our
// own, or else it is answered with the same code. Reading is over.
func (c *conn) onClose(code int) bool {
	if c.phase != phaseClosing && !c.closeRequested() {
		var payload []byte
		if code != websocket.CloseNoStatusReceived {
			payload = websocket.FormatCloseMessage(code, "")
		}
		_ = c.ws.WriteControl(websocket.CloseMessage, payload, time.Now().Add(closeGrace))
	}
	return false
}

func (c *conn) closeRequested() bool {
	select {
	case <-c.closeReq:
		return true
	default:
		return false
	}
}

// cut closes the TCP connection: blocked reads and writes fail at once. If
// no goroutine reads the connection (the poller has it), the connection
// ends here.
func (c *conn) cut() {
	c.rmu.Lock()
	first := !c.cutDone
	c.cutDone = true
	idle := !c.reading
	c.rmu.Unlock()
	if first && c.polled {
		c.s.poll.remove(c)
	}
	_ = c.raw.Close()
	if first && idle {
		go c.end()
	}
}

// end finishes the connection once reading is over: the writer is stopped
// and waited for, the session closed, the connection forgotten and (when
// ours) closed.
func (c *conn) end() {
	c.endOnce.Do(func() {
		c.rmu.Lock()
		c.reading = true // this goroutine has the connection: cut leaves it alone
		c.rmu.Unlock()
		if c.authTimer != nil {
			c.authTimer.Stop()
		}
		c.finish(c.phase == phaseClosing) // cuts: the poller forgets c
		c.frames = frameReader{}
		c.s.stats.connections.Add(-1)
		if c.detached {
			_ = c.ws.NetConn().Close() // after the writer: fasthttp reuses the wrapper
		}
		c.s.remove(c)
	})
}

// finish stops the writer, waits for it and closes the session. When the
// read side chose to close, the writer is sending our close frame: it is
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

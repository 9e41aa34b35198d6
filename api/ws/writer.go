package ws

import (
	"errors"
	"net"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/evaratech/evara/internal/telemetry"
)

// The writer: every data frame and every close frame of ours goes through
// it. It runs only while there is something to write, so an idle
// connection holds no writer goroutine: kick
// starts it unless it runs, and it exits once it has found nothing new to
// do. Writers of a connection never overlap, so the "writer" fields of conn
// need no lock. It finishes for good after sending the close frame asked
// for, or when a write fails (it then cuts the TCP connection, so the read
// loop ends too); on its way out it empties the outbox and releases a
// replay the reading goroutine waits for.

// kick asks for a writer. kicks counts the requests since the running
// writer (if any) last looked: the one that takes it from 0 starts a
// writer, which keeps looking until no request came while it worked. A
// writer that finished for good leaves the count above 0, so no other
// starts.
func (c *conn) kick() {
	if c.kicks.Add(1) == 1 {
		go c.writeLoop()
	}
}

// ping runs every PingInterval in the ping timer's goroutine; the writer
// sends the ping (and arms the timer again).
func (c *conn) ping() {
	c.pingDue.Store(true)
	c.kick()
}

func (c *conn) writeLoop() {
	defer func() {
		if r := recover(); r != nil {
			c.logger().Error("websocket connection panicked", "where", "writer", "panic", r)
			_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeInternal, "internal error"),
				time.Now().Add(closeGrace))
			c.cut()
			c.finishWriter()
		}
	}()
	for {
		n := c.kicks.Load()
		if !c.writeOnce() {
			c.finishWriter()
			return
		}
		if c.kicks.CompareAndSwap(n, 0) {
			return
		}
	}
}

// writeOnce does what there is to do now: the close asked for, a ping,
// the control messages and replay waiting, the coalesced events. What
// arrives while it writes waits for the next round, coalesced: an idle
// connection gets an event at once, a busy one the newest of each node
// as one batch when the write in progress is done. It reports false when
// the writer is finished for good.
func (c *conn) writeOnce() bool {
	opts := c.s.opts
	select {
	case <-c.closeReq:
		c.sendClose()
		return false
	default:
	}
	if c.pingDue.Swap(false) {
		c.pingTimer.Reset(opts.PingInterval)
		if int(c.unanswered.Load()) >= opts.MissedPongs {
			c.requestClose(CloseHeartbeat, "no pong") // kicks: the loop goes round again
			return true
		}
		c.unanswered.Add(1)
		if !c.write(encodeControl(control{Type: "ping", TS: time.Now().UnixMilli()})) {
			return false
		}
	}
	if !c.flushControl() {
		return false
	}
	return c.flushEvents()
}

// finishWriter ends the writer for good: the timers stop, the outbox drops
// what waits and refuses more, a replay awaited is released.
func (c *conn) finishWriter() {
	c.pingTimer.Stop()
	c.out.close()
	close(c.writerDone)
}

// flushControl writes the FIFO and a replay waiting; an overflowed FIFO
// closes the connection as a slow consumer.
func (c *conn) flushControl() bool {
	control, replay, replayed, overflow := c.out.takeControl()
	if replayed != nil {
		defer close(replayed)
	}
	if overflow {
		c.s.stats.slowCloses.Add(1)
		c.logger().Info("websocket slow consumer", "reason", "outbox overflow")
		c.requestClose(CloseSlowConsumer, "slow consumer")
		return true // the loop sends the close frame next
	}
	for _, q := range control {
		raw := q.raw
		if q.event != nil {
			var err error
			if raw, err = encodeEvent(*q.event); err != nil {
				c.logger().Warn("websocket event not sent", "event", q.event.Kind, "node_id", q.event.NodeID, "err", err)
				continue
			}
		}
		if !c.write(raw) {
			return false
		}
	}
	return c.writeEvents(replay)
}

// flushEvents writes the coalesced events: one event as itself, several as
// batches.
func (c *conn) flushEvents() bool {
	events := c.out.takeEvents()
	if len(events) == 0 {
		return true
	}
	return c.writeEvents(events)
}

func (c *conn) writeEvents(events []telemetry.LiveEvent) bool {
	for len(events) > 0 {
		n := min(len(events), maxBatch)
		chunk := events[:n]
		events = events[n:]
		updates := make([][]byte, 0, len(chunk))
		var ts int64
		for _, ev := range chunk {
			b, err := c.s.frames.encode(ev)
			if err != nil {
				c.logger().Warn("websocket event not sent", "event", ev.Kind, "node_id", ev.NodeID, "err", err)
				continue
			}
			updates = append(updates, b)
			ts = max(ts, ev.ProducedUnixMs)
		}
		var frame []byte
		switch len(updates) {
		case 0:
			continue
		case 1:
			frame = updates[0]
		default:
			frame = encodeBatch(updates, ts)
			c.s.stats.batches.Add(1)
		}
		if !c.write(frame) {
			return false
		}
	}
	return true
}

// write sends one text frame within WriteTimeout. A timeout is a slow
// consumer; after any failure the connection's write side is unusable, so
// the TCP connection is cut.
func (c *conn) write(b []byte) bool {
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.s.opts.WriteTimeout))
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.s.stats.slowCloses.Add(1)
			c.logger().Info("websocket slow consumer", "reason", "write timeout")
			c.requestClose(CloseSlowConsumer, "slow consumer")
		}
		c.cut()
		return false
	}
	c.s.stats.out.Add(1)
	return true
}

// sendClose writes the close frame requested (after the control messages
// still waiting, such as the error that explains it), then gives the
// client closeGrace to answer before the TCP connection is cut.
func (c *conn) sendClose() {
	if c.closeCode == 0 {
		return // reading ended: the client is gone or closed first
	}
	if c.closeCode != CloseSlowConsumer {
		control, _, replayed, _ := c.out.takeControl()
		if replayed != nil {
			close(replayed)
		}
		for _, q := range control {
			if q.raw != nil && !c.write(q.raw) {
				return
			}
		}
	}
	err := c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(c.closeCode, c.closeText),
		time.Now().Add(c.s.opts.WriteTimeout))
	if err != nil {
		c.cut()
		return
	}
	time.AfterFunc(closeGrace, c.cut)
}

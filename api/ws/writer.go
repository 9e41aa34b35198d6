package ws

import (
	"encoding/json"
	"errors"
	"net"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/evaratech/evara/internal/telemetry"
)

// writeLoop is the connection's one writer: every data frame and every
// close frame of ours goes through it. It ends after sending the close
// frame asked for, or when a write fails (it then cuts the TCP connection,
// so the read loop ends too). On its way out it empties the outbox and
// releases a replay the read loop waits for.
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	defer c.out.close()
	defer func() {
		if r := recover(); r != nil {
			c.logger().Error("websocket connection panicked", "where", "writer", "panic", r)
			_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeInternal, "internal error"),
				time.Now().Add(closeGrace))
			c.cut()
		}
	}()
	opts := c.s.opts
	ping := time.NewTicker(opts.PingInterval)
	defer ping.Stop()
	var (
		window    *time.Timer
		windowC   <-chan time.Time // non-nil while events wait for the window's end
		lastEvent time.Time        // when the last event frame was written
	)
	defer func() {
		if window != nil {
			window.Stop()
		}
	}()
	for {
		select {
		case <-c.closeReq:
			c.sendClose()
			return
		default:
		}
		select {
		case <-c.closeReq:
			c.sendClose()
			return
		case <-ping.C:
			if int(c.unanswered.Load()) >= opts.MissedPongs {
				c.requestClose(CloseHeartbeat, "no pong")
				continue
			}
			c.unanswered.Add(1)
			if !c.write(encodeControl(control{Type: "ping", TS: time.Now().UnixMilli()})) {
				return
			}
		case <-c.out.wakeC:
			if !c.flushControl() {
				return
			}
			if windowC != nil || !c.out.pendingEvents() {
				continue
			}
			if wait := opts.BatchWindow - time.Since(lastEvent); wait > 0 {
				window = time.NewTimer(wait)
				windowC = window.C
				continue
			}
			if !c.flushEvents(&lastEvent) {
				return
			}
		case <-windowC:
			windowC = nil
			if !c.flushControl() || !c.flushEvents(&lastEvent) {
				return
			}
		}
	}
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
func (c *conn) flushEvents(lastEvent *time.Time) bool {
	events := c.out.takeEvents()
	if len(events) == 0 {
		return true
	}
	ok := c.writeEvents(events)
	*lastEvent = time.Now()
	return ok
}

func (c *conn) writeEvents(events []telemetry.LiveEvent) bool {
	for len(events) > 0 {
		n := min(len(events), maxBatch)
		chunk := events[:n]
		events = events[n:]
		updates := make([]json.RawMessage, 0, len(chunk))
		var ts int64
		for _, ev := range chunk {
			b, err := encodeEvent(ev)
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
// client closeGrace to answer before the read loop gives up.
func (c *conn) sendClose() {
	if c.closeCode == 0 {
		return // the read loop ended: the client is gone or closed first
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
	c.readDeadline(time.Now().Add(closeGrace), true)
}

package ws

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/evaratech/evara/internal/telemetry"
)

// bigTelemetry is a telemetry event of about 2 KB, so that a few of them
// fill the small socket buffers of the slow-consumer tests.
func bigTelemetry(node telemetry.NodeID, entry int64) telemetry.LiveEvent {
	ev := telemetryEvent(node, entry)
	ev.Metrics = map[string]float64{}
	for i := range 80 {
		ev.Metrics[fmt.Sprintf("metric_%02d", i)] = float64(entry)
	}
	return ev
}

func TestSlowReaderGetsNewestWithinBoundedMemory(t *testing.T) {
	const limit, nodes, entries = 8, 3, 1500
	h := newHarness(t, Options{OutboxLimit: limit}, smallBuffers)
	cl := h.connect(t, "ann")
	cl.subscribe("community:c1")
	c := h.srv.snapshot()[0]

	// The client reads nothing while the devices produce.
	most := 0
	for e := int64(1); e <= entries; e++ {
		for _, n := range []telemetry.NodeID{"n1", "n2", "n3"} {
			h.sessions.push(bigTelemetry(n, e))
			if e%50 == 0 {
				h.sessions.push(telemetry.LiveEvent{Kind: telemetry.LiveStatus, NodeID: n, ProducedUnixMs: e, Status: telemetry.StatusOnline})
			}
			most = max(most, c.out.size())
		}
	}
	if most > 2*nodes+limit {
		t.Errorf("the outbox held %d events, more than 2 × %d nodes + %d", most, nodes, limit)
	}

	// Then it reads: each node's readings only move forward and end at
	// the newest, although most were never sent.
	last := map[string]float64{}
	frames := 0
	for done := 0; done < nodes; {
		m := cl.read()
		frames++
		updates := []any{m}
		if m["event"] == batchEvent {
			updates = m["updates"].([]any)
		}
		for _, u := range updates {
			u := u.(map[string]any)
			if u["event"] != "TELEMETRY_UPDATE" {
				continue
			}
			n, e := u["node_id"].(string), u["entry_id"].(float64)
			if e <= last[n] {
				t.Fatalf("%s went back from entry %v to %v", n, last[n], e)
			}
			last[n] = e
			if e == entries {
				done++
			}
		}
	}
	if st := h.srv.Stats(); st.Dropped == 0 || frames >= nodes*entries {
		t.Errorf("nothing was coalesced: %d frames, stats %+v", frames, st)
	}
}

func TestClientThatNeverReadsIsClosedAsSlow(t *testing.T) {
	h := newHarness(t, Options{WriteTimeout: 100 * time.Millisecond}, smallBuffers)
	cl := h.connect(t, "ann")
	cl.subscribe("node:n1")
	e := int64(0)
	eventually(t, "a slow-consumer close", func() bool {
		e++
		h.sessions.push(bigTelemetry("n1", e))
		return h.srv.Stats().SlowCloses == 1
	})
	eventually(t, "the connection ends", func() bool { return h.srv.Stats().Connections == 0 })
	// Whatever was buffered, then the end: the close frame could not be
	// written into a full socket.
	for {
		if _, err := cl.readRaw(); err != nil {
			break
		}
	}
}

func TestPausedReaderOverflowingIsClosedWith4008(t *testing.T) {
	const limit = 4
	h := newHarness(t, Options{OutboxLimit: limit, WriteTimeout: patience}, smallBuffers)
	cl := h.connect(t, "ann")
	cl.subscribe("alerts")
	c := h.srv.snapshot()[0]
	data, _ := json.Marshal(map[string]string{"message": strings.Repeat("overflow ", 250)})
	eventually(t, "the outbox overflows while the client does not read", func() bool {
		h.sessions.push(telemetry.LiveEvent{Kind: telemetry.LiveAlertTriggered, Data: data})
		c.out.mu.Lock()
		defer c.out.mu.Unlock()
		return c.out.overflow
	})
	// The client reads again: what was written, then 4008.
	cl.expectClose(CloseSlowConsumer)
	if st := h.srv.Stats(); st.SlowCloses != 1 {
		t.Errorf("slow closes %d, want 1", st.SlowCloses)
	}
}

func TestHeartbeat(t *testing.T) {
	h := newHarness(t, Options{PingInterval: 100 * time.Millisecond, MissedPongs: 2}, 0)
	cl := h.connect(t, "ann")
	for range 3 {
		m := cl.read()
		if m["type"] != "ping" || m["ts"].(float64) <= 0 {
			t.Fatalf("got %v, want a ping", m)
		}
		cl.send(map[string]any{"type": "pong"})
	}
	// No more pongs: closed after two unanswered pings.
	cl.expectClose(CloseHeartbeat)
}

func TestShutdownClosesEveryConnection(t *testing.T) {
	h := newHarness(t, Options{}, 0)
	var clients []*client
	for i := range 3 {
		cl := h.connect(t, fmt.Sprint("user", i))
		cl.subscribe("node:n1")
		clients = append(clients, cl)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		done <- h.srv.Shutdown(ctx)
	}()
	for _, cl := range clients {
		cl.expectClose(CloseShutdown)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := h.srv.Stats().Connections; n != 0 {
		t.Errorf("%d connections left", n)
	}
	for _, s := range h.sessions.all() {
		s.mu.Lock()
		if !s.closed {
			t.Errorf("session of %s not closed", s.id.UserID)
		}
		s.mu.Unlock()
	}
}

func TestPanicClosesOnlyItsConnection(t *testing.T) {
	h := newHarness(t, Options{}, 0)
	bystander := h.connect(t, "bob")
	bystander.subscribe("node:n1")
	for _, topic := range []string{"node:boom", "node:watchpanic"} {
		cl := h.connect(t, "ann")
		cl.send(map[string]any{"type": "subscribe", "topic": topic})
		cl.expectClose(websocket.StatusInternalError)
	}
	h.sessions.push(telemetryEvent("n1", 7))
	if m := bystander.read(); m["entry_id"] != 7.0 {
		t.Fatalf("bystander got %v", m)
	}
	eventually(t, "the panicked connections' sessions closed", func() bool {
		for _, s := range h.sessions.all()[1:] {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if !closed {
				return false
			}
		}
		return true
	})
}

// ourGoroutines counts the goroutines running this package's code.
func ourGoroutines() int {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "evara/api/ws.(*conn)") || strings.Contains(g, "evara/api/ws.(*Server).serve") {
			n++
		}
	}
	return n
}

func TestConnectDisconnectCyclesLeaveNothingBehind(t *testing.T) {
	h := newHarness(t, Options{}, 0)
	for i := range 1000 {
		cl := h.connect(t, "ann")
		cl.subscribe("node:n1")
		if i%2 == 0 {
			_ = cl.c.Close(websocket.StatusNormalClosure, "bye")
		} else {
			_ = cl.c.CloseNow() // no close handshake: the TCP connection just ends
		}
	}
	eventually(t, "every connection and its goroutines gone", func() bool {
		return h.srv.Stats().Connections == 0 && ourGoroutines() == 0
	})
	for _, s := range h.sessions.all() {
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if !closed {
			t.Fatal("a session was left open")
		}
	}
	if got := h.srv.Stats().Subscriptions; got != (SubscriptionStats{}) {
		t.Errorf("subscriptions left: %+v", got)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, Options{Registerer: reg}, 0)
	New(Options{Sessions: h.sessions, Auth: fakeAuth, Resolve: fakeResolve, Registerer: reg}) // shares the registry: no panic
	cl := h.connect(t, "ann")
	cl.subscribe("node:n1")
	h.sessions.push(telemetryEvent("n1", 1))
	cl.read()
	gather := func() map[string]float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				name := mf.GetName()
				for _, l := range m.GetLabel() {
					name += "{" + l.GetValue() + "}"
				}
				got[name] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
		return got
	}
	// A frame is counted once written, which the client may see first.
	eventually(t, "both frames counted", func() bool { return gather()["evara_ws_messages_total{out}"] >= 2 })
	got := gather()
	want := map[string]float64{"evara_ws_messages_total{in}": 1, "evara_ws_messages_total{out}": 2,
		"evara_ws_batches_total": 0, "evara_ws_dropped_total": 0, "evara_ws_slow_closes_total": 0}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

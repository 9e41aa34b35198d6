package ws

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// TestEventWireFormat pins each event's JSON (SPEC §8).
func TestEventWireFormat(t *testing.T) {
	h := newHarness(t, Options{}, 0)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		ev   telemetry.LiveEvent
		want string
	}{
		{"telemetry", telemetry.LiveEvent{Kind: telemetry.LiveTelemetry, NodeID: "n1", ProducedUnixMs: 1767225600123, EntryID: 42,
			At: at.In(time.FixedZone("IST", 19800)), Metrics: map[string]float64{"water_level": 71.5, "tds": 120}, Status: telemetry.StatusOnline},
			`{"event":"TELEMETRY_UPDATE","node_id":"n1","ts":1767225600123,"entry_id":42,"timestamp":"2026-01-01T00:00:00Z","metrics":{"tds":120,"water_level":71.5},"status":"Online"}`},
		{"status", telemetry.LiveEvent{Kind: telemetry.LiveStatus, NodeID: "n1", ProducedUnixMs: 1767225600124, Status: telemetry.StatusOffline},
			`{"event":"STATUS_UPDATE","node_id":"n1","ts":1767225600124,"status":"Offline"}`},
		{"alert", telemetry.LiveEvent{Kind: telemetry.LiveAlertTriggered, NodeID: "n1", ProducedUnixMs: 1767225600125,
			Data: json.RawMessage(`{"alert_id":"a1","severity":"critical","ts":1,"event":"forged"}`)},
			`{"alert_id":"a1","event":"ALERT_TRIGGERED","node_id":"n1","severity":"critical","ts":1767225600125}`},
		{"provisioned without data", telemetry.LiveEvent{Kind: telemetry.LiveNodeProvisioned, NodeID: "n1", ProducedUnixMs: 1767225600126},
			`{"event":"NODE_PROVISIONED","node_id":"n1","ts":1767225600126}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := h.connect(t, "ann")
			cl.subscribe("node:" + tt.name)
			// An event whose data is not an object is not sent: the next one is.
			h.sessions.push(telemetry.LiveEvent{Kind: telemetry.LiveAlertResolved, NodeID: telemetry.NodeID(tt.name), Data: json.RawMessage(`[1]`)})
			tt.ev.NodeID = telemetry.NodeID(tt.name)
			h.sessions.push(tt.ev)
			raw, err := cl.readRaw()
			if err != nil {
				t.Fatal(err)
			}
			if want := strings.ReplaceAll(tt.want, `"n1"`, `"`+tt.name+`"`); string(raw) != want {
				t.Errorf("got  %s\nwant %s", raw, want)
			}
		})
	}
}

// TestBurstIsBatched: an idle connection gets an event at once; what
// arrives while the writer cannot write (here: held, as while a write is in
// progress) goes out next as one BATCH_STATUS_UPDATE holding the newest
// event per node and kind.
func TestBurstIsBatched(t *testing.T) {
	h := newHarness(t, Options{}, 0)
	cl := h.connect(t, "ann")
	cl.subscribe("community:c1")
	c := h.srv.snapshot()[0]
	h.sessions.push(telemetryEvent("n1", 1))
	if m := cl.read(); m["event"] != "TELEMETRY_UPDATE" || m["entry_id"] != 1.0 {
		t.Fatalf("first event: %v", m)
	}
	c.out.hold(true)
	for i := int64(2); i <= 10; i++ {
		h.sessions.push(telemetryEvent("n1", i))
		h.sessions.push(telemetryEvent("n2", i))
	}
	h.sessions.push(telemetryEvent("n2", 3)) // older than the one waiting: dropped
	h.sessions.push(telemetry.LiveEvent{Kind: telemetry.LiveStatus, NodeID: "n3", ProducedUnixMs: 5, Status: telemetry.StatusAlert})
	c.out.hold(false)
	m := cl.read()
	if m["event"] != batchEvent {
		t.Fatalf("got %v, want a batch", m)
	}
	var got []string
	for _, u := range m["updates"].([]any) {
		u := u.(map[string]any)
		got = append(got, fmt.Sprintf("%v %v %v %v", u["event"], u["node_id"], u["entry_id"], u["status"]))
	}
	want := []string{"TELEMETRY_UPDATE n1 10 Online", "TELEMETRY_UPDATE n2 10 Online", "STATUS_UPDATE n3 <nil> Alert"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("batch %v, want %v", got, want)
	}
	if m["ts"] != float64(telemetryEvent("n1", 10).ProducedUnixMs) {
		t.Errorf("batch ts %v, want the newest update's", m["ts"])
	}
	st := h.srv.Stats()
	if st.Batches != 1 || st.Dropped != 17 {
		t.Errorf("stats %+v, want 1 batch and 17 dropped", st)
	}
}

func TestReplayPrecedesLiveEvents(t *testing.T) {
	replay := func(_ context.Context, id Identity, node telemetry.NodeID, since int64) ([]telemetry.LiveEvent, error) {
		if id.UserID != "ann" {
			return nil, fmt.Errorf("wrong identity %v", id)
		}
		var out []telemetry.LiveEvent
		for e := since + 1; e <= since+5; e++ {
			out = append(out, telemetryEvent(node, e))
		}
		return out, nil
	}
	h := newHarness(t, Options{Replay: replay, ReplayLimit: 8}, 0)
	// The session delivers the current reading as soon as it is asked to
	// watch, as the real one does.
	h.sessions.mu.Lock()
	h.sessions.onWatch = func(s Sink, nodes []telemetry.NodeID) {
		for _, n := range nodes {
			s.Deliver(telemetryEvent(n, 99))
		}
	}
	h.sessions.mu.Unlock()
	cl := h.connect(t, "ann")
	cl.send(map[string]any{"type": "subscribe", "topic": "community:c1", "since": 10})
	if m := cl.read(); m["type"] != "subscribed" {
		t.Fatalf("first: %v, want subscribed", m)
	}
	var got []string
	for len(got) < 8+3 {
		m := cl.read()
		updates := []any{m}
		if m["event"] == batchEvent {
			updates = m["updates"].([]any)
		}
		for _, u := range updates {
			u := u.(map[string]any)
			got = append(got, fmt.Sprintf("%v:%v", u["node_id"], u["entry_id"]))
		}
	}
	// At most 8 replayed (n1's five, then the three n2 has room for), then live.
	want := "n1:11 n1:12 n1:13 n1:14 n1:15 n2:13 n2:14 n2:15 n1:99 n2:99 n3:99"
	if strings.Join(got, " ") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
}

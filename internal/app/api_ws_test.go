package app

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/evaratech/evara/internal/telemetry"
)

// These tests drive /api/v1/ws/ws with real WebSocket clients over TCP
// against the whole stack: session actors subscribing to the device actors
// that poll the simulator, the API resolving topics in the caller's scope,
// replay from PostgreSQL.

// wsPatience bounds every wait: a failure bound, never a timing assertion.
const wsPatience = 15 * time.Second

// wsClient is one test connection; frames are decoded as they come.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
}

// wsFrame is any server message: a reply (type) or an event.
type wsFrame struct {
	Type    string         `json:"type"`
	Topic   string         `json:"topic"`
	Code    string         `json:"code"`
	Event   string         `json:"event"`
	NodeID  string         `json:"node_id"`
	TS      int64          `json:"ts"`
	EntryID int64          `json:"entry_id"`
	Updates []wsFrame      `json:"updates"`
	Metrics map[string]any `json:"metrics"`
	Node    map[string]any `json:"node"`
}

// events flattens a frame into its events (a batch into its updates).
func (f wsFrame) events() []wsFrame {
	if f.Event == "BATCH_STATUS_UPDATE" {
		return f.Updates
	}
	if f.Event != "" {
		return []wsFrame{f}
	}
	return nil
}

func (e *apiEnv) dialWS(t *testing.T, token string) *wsClient {
	t.Helper()
	c := e.dialWSOnce(t, token)
	t.Cleanup(func() { _ = c.conn.CloseNow() })
	return c
}

// dialWSOnce is dialWS for a caller that closes the connection itself.
func (e *apiEnv) dialWSOnce(t *testing.T, token string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wsPatience)
	defer cancel()
	url := "ws" + strings.TrimPrefix(e.URL, "http") + "/api/v1/ws/ws"
	conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{token}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if resp.Body != nil {
		_ = resp.Body.Close()
	}
	conn.SetReadLimit(1 << 20)
	return &wsClient{t: t, conn: conn}
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wsPatience)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, raw); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next reads frames until one satisfies ok, failing the test after
// wsPatience; the frames it skipped are returned too.
func (c *wsClient) next(ok func(wsFrame) bool) (wsFrame, []wsFrame) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wsPatience)
	defer cancel()
	var skipped []wsFrame
	for {
		_, raw, err := c.conn.Read(ctx)
		if err != nil {
			c.t.Fatalf("read: %v (after %d frames)", err, len(skipped))
		}
		var f wsFrame
		if err := json.Unmarshal(raw, &f); err != nil {
			c.t.Fatalf("frame is not JSON: %v: %s", err, raw)
		}
		if ok(f) {
			return f, skipped
		}
		skipped = append(skipped, f)
	}
}

func (c *wsClient) subscribe(topic string, since *int64) wsFrame {
	c.t.Helper()
	msg := map[string]any{"type": "subscribe", "topic": topic}
	if since != nil {
		msg["since"] = *since
	}
	c.send(msg)
	f, _ := c.next(func(f wsFrame) bool { return (f.Type == "subscribed" || f.Type == "error") && f.Topic == topic })
	return f
}

// telemetryOf waits for a telemetry event of node (in a batch or alone).
func (c *wsClient) telemetryOf(node telemetry.NodeID) (wsFrame, []wsFrame) {
	c.t.Helper()
	var hit wsFrame
	_, skipped := c.next(func(f wsFrame) bool {
		for _, ev := range f.events() {
			if ev.Event == "TELEMETRY_UPDATE" && ev.NodeID == string(node) {
				hit = ev
				return true
			}
		}
		return false
	})
	return hit, skipped
}

func TestWebSocketSubscribeAndScope(t *testing.T) {
	e := newAPIEnv(t)
	nodeA, nodeB := e.fx.NodeA.ID, e.fx.NodeB.ID

	t.Run("a customer follows its node", func(t *testing.T) {
		c := e.dialWS(t, e.fx.Tokens["customer"])
		if f := c.subscribe("node:"+string(nodeA), nil); f.Type != "subscribed" {
			t.Fatalf("subscribe: %+v", f)
		}
		first, _ := c.telemetryOf(nodeA)
		second, _ := c.telemetryOf(nodeA)
		if first.TS == 0 || len(first.Metrics) == 0 || second.EntryID <= first.EntryID {
			t.Errorf("events %+v then %+v: want readings with ts and metrics, newer entries after older", first, second)
		}
	})

	t.Run("another tenant's node is refused", func(t *testing.T) {
		c := e.dialWS(t, e.fx.Tokens["customer"])
		if f := c.subscribe("node:"+string(nodeB), nil); f.Type != "error" || f.Code != "not_found" {
			t.Fatalf("subscribe to tenant B's node: %+v, want error not_found", f)
		}
		if f := c.subscribe("community:"+e.fx.CommB.ID, nil); f.Type != "error" {
			t.Fatalf("subscribe to tenant B's community: %+v, want an error", f)
		}
	})

	t.Run("a community brings only its own nodes", func(t *testing.T) {
		c := e.dialWS(t, e.fx.Tokens["community_admin"])
		if f := c.subscribe("community:"+e.fx.CommA.ID, nil); f.Type != "subscribed" {
			t.Fatalf("subscribe: %+v", f)
		}
		// Until three readings of A have come, no event of B may arrive.
		for range 3 {
			_, skipped := c.telemetryOf(nodeA)
			for _, f := range skipped {
				for _, ev := range f.events() {
					if ev.NodeID != string(nodeA) && ev.NodeID != string(e.fx.NodeA2.ID) {
						t.Fatalf("community A's follower got an event of %s: %+v", ev.NodeID, ev)
					}
				}
			}
		}
	})

	t.Run("a token that is not one is closed with 4001", func(t *testing.T) {
		c := e.dialWS(t, "not-a-token")
		ctx, cancel := context.WithTimeout(context.Background(), wsPatience)
		defer cancel()
		_, _, err := c.conn.Read(ctx)
		if code := websocket.CloseStatus(err); code != 4001 {
			t.Fatalf("read: %v (close %d), want close 4001", err, code)
		}
	})
}

// TestWebSocketReplay disconnects a client, lets the device store more
// entries, and reconnects with since: the replay brings exactly the
// entries it missed, and live ones follow without a gap.
func TestWebSocketReplay(t *testing.T) {
	e := newAPIEnv(t)
	node := e.fx.NodeA.ID
	c := e.dialWS(t, e.fx.Tokens["customer"])
	c.subscribe("node:"+string(node), nil)
	seen, _ := c.telemetryOf(node)
	_ = c.conn.Close(websocket.StatusNormalClosure, "bye")

	// Three more entries are stored while the client is away.
	ctx := context.Background()
	for deadline := time.Now().Add(wsPatience); ; time.Sleep(100 * time.Millisecond) {
		r, err := e.store.LatestReading(ctx, node)
		if err == nil && r.EntryID >= seen.EntryID+3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the device stored nothing after entry %d", seen.EntryID)
		}
	}
	stored, err := e.store.Readings(ctx, node, telemetry.ReadingQuery{AfterEntryID: seen.EntryID})
	if err != nil {
		t.Fatal(err)
	}

	c = e.dialWS(t, e.fx.Tokens["customer"])
	since := seen.EntryID
	if f := c.subscribe("node:"+string(node), &since); f.Type != "subscribed" {
		t.Fatalf("subscribe: %+v", f)
	}
	got := map[int64]int{}
	last := stored[len(stored)-1].EntryID
	c.next(func(f wsFrame) bool {
		for _, ev := range f.events() {
			if ev.Event == "TELEMETRY_UPDATE" && ev.NodeID == string(node) {
				got[ev.EntryID]++
			}
		}
		_, done := got[last]
		return done
	})
	for _, r := range stored {
		if got[r.EntryID] == 0 {
			t.Errorf("entry %d (missed while away) was not replayed", r.EntryID)
		}
	}
	for id := range got {
		if id <= seen.EntryID {
			t.Errorf("entry %d was delivered again (the client had it)", id)
		}
	}
}

// TestWebSocketNodeProvisioned: a community's follower hears of a node
// created in it, and then of its readings.
func TestWebSocketNodeProvisioned(t *testing.T) {
	e := newAPIEnv(t)
	c := e.dialWS(t, e.fx.Tokens["community_admin"])
	c.subscribe("community:"+e.fx.CommA.ID, nil)
	ch := e.sim.Channels()[2] // polled by nobody yet
	raw := e.expect(http.StatusCreated, http.MethodPost, "/api/v1/nodes", e.fx.Tokens["superadmin"], map[string]any{
		"hardware_id": "tank-ws-1", "device_label": "Tank WS", "device_type": "EvaraTank", "community_id": e.fx.CommA.ID,
		"thingspeak_mapping": map[string]any{"channel_id": ch.ID, "read_api_key": ch.ReadKey, "field_mapping": map[string]string{"field1": "water_level"}},
	})
	var created struct{ ID telemetry.NodeID }
	mustJSON(t, raw, &created)
	f, _ := c.next(func(f wsFrame) bool { return f.Event == "NODE_PROVISIONED" })
	if f.NodeID != string(created.ID) || f.Node["node_key"] != "tank-ws-1" || f.TS == 0 {
		t.Fatalf("NODE_PROVISIONED = %+v, want node %s with its object", f, created.ID)
	}
	c.telemetryOf(created.ID) // the new node's device is followed too
}

// TestWebSocketCyclesLeaveNothing connects and disconnects 5,000 times:
// the process's goroutines and heap come back to their baseline, and the
// device keeps no subscriber behind.
func TestWebSocketCyclesLeaveNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 connections")
	}
	e := newAPIEnv(t)
	token, topic := e.fx.Tokens["customer"], "node:"+string(e.fx.NodeA.ID)
	cycle := func() {
		c := e.dialWSOnce(t, token)
		c.subscribe(topic, nil)
		_ = c.conn.Close(websocket.StatusNormalClosure, "")
	}
	for range 50 { // warm pools and caches
		cycle()
	}
	e.client.CloseIdleConnections()
	baseG, baseHeap := settle()
	for range 5000 {
		cycle()
	}
	var g int
	var heap uint64
	for deadline := time.Now().Add(wsPatience); ; time.Sleep(200 * time.Millisecond) {
		g, heap = settle()
		if g <= baseG+5 && heap <= baseHeap+8<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5,000 cycles: %d goroutines (baseline %d), heap %d KB (baseline %d KB)", g, baseG, heap>>10, baseHeap>>10)
		}
	}
	t.Logf("after 5,000 cycles: %d goroutines (baseline %d), heap %d KB (baseline %d KB)", g, baseG, heap>>10, baseHeap>>10)
	var stats struct {
		Connections int `json:"connections"`
	}
	mustJSON(t, e.expect(http.StatusOK, http.MethodGet, "/api/v1/ws/stats", e.fx.Tokens["superadmin"], nil), &stats)
	if stats.Connections != 0 {
		t.Errorf("ws stats: %d connections open, want 0", stats.Connections)
	}
}

// settle collects garbage and reads the goroutine count and live heap.
func settle() (int, uint64) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return runtime.NumGoroutine(), m.HeapInuse
}

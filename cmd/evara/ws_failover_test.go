package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/evaratech/evara/cluster"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/persistence/storetest"
)

// TestWebSocketFollowsAFailover: three members; a WebSocket client on one
// follows a device owned by another; SIGKILL of the owner: the
// client keeps receiving the device's readings, now polled by a survivor,
// within 10 s, without reconnecting (its session re-subscribes by itself).
func TestWebSocketFollowsAFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("a multi-process test")
	}
	url := storetest.FreshSchema(t)
	simURL := startSim(t, "--channels", "12", "--period", "1s", "--history", "5", "--seed", "31")
	nodes := provision(t, pgOpener(t, url), simURL, time.Second)

	members, addrs, httpURL := startMembers(t, 3, url, simURL)
	waitCluster(t, httpURL[0], 3, int64(len(nodes)))

	// Follow any device; the client connects to a member that does not own
	// it, and its owner is the one killed.
	node, owner := deviceAndOwner(t, addrs, nodes)
	client := (owner + 1) % len(members)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(httpURL[client], "http")+"/api/v1/ws/ws",
		&websocket.DialOptions{Subprotocols: []string{opsToken}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if resp.Body != nil {
		_ = resp.Body.Close()
	}
	defer func() { _ = conn.CloseNow() }()
	sub, _ := json.Marshal(map[string]any{"type": "subscribe", "topic": "node:" + string(node)})
	if err := conn.Write(ctx, websocket.MessageText, sub); err != nil {
		t.Fatal(err)
	}
	// next returns the first reading of node newer than after, within wait.
	next := func(after int64, wait time.Duration) (int64, bool) {
		rctx, rcancel := context.WithTimeout(ctx, wait)
		defer rcancel()
		for {
			_, raw, err := conn.Read(rctx)
			if err != nil {
				return 0, false
			}
			var f struct {
				Event   string `json:"event"`
				NodeID  string `json:"node_id"`
				EntryID int64  `json:"entry_id"`
				Updates []struct {
					Event   string `json:"event"`
					NodeID  string `json:"node_id"`
					EntryID int64  `json:"entry_id"`
				} `json:"updates"`
			}
			if err := json.Unmarshal(raw, &f); err != nil {
				t.Fatalf("frame is not JSON: %s", raw)
			}
			if f.Event == "TELEMETRY_UPDATE" && f.NodeID == string(node) && f.EntryID > after {
				return f.EntryID, true
			}
			for _, u := range f.Updates {
				if u.Event == "TELEMETRY_UPDATE" && u.NodeID == string(node) && u.EntryID > after {
					return u.EntryID, true
				}
			}
		}
	}
	last, ok := next(0, 30*time.Second)
	if !ok {
		t.Fatal("no reading of the followed device before the kill")
	}
	last, _ = next(last, 10*time.Second) // one more: the subscription is live
	killed := time.Now()
	members[owner].kill()
	got, ok := next(last, 10*time.Second)
	if !ok {
		t.Fatalf("no reading of device %s within 10 s of SIGKILL of its member (last entry %d before the kill)", node, last)
	}
	t.Logf("entry %d arrived %s after the kill (entry %d before it)", got, time.Since(killed).Round(time.Millisecond), last)
	for i, m := range members {
		if i != owner {
			m.stop(t)
		}
	}
}

// TestWebSocketProvisionedAcrossMembers: a node created through one member
// reaches a client following its community on another.
func TestWebSocketProvisionedAcrossMembers(t *testing.T) {
	if testing.Short() {
		t.Skip("a multi-process test")
	}
	url := storetest.FreshSchema(t)
	members, _, httpURL := startMembers(t, 2, url, "http://127.0.0.1:9")
	waitCluster(t, httpURL[0], 2, 0)
	var community struct{ ID string }
	postJSON(t, httpURL[1]+"/api/v1/communities", map[string]any{"name": "Lake View"}, &community)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(httpURL[0], "http")+"/api/v1/ws/ws",
		&websocket.DialOptions{Subprotocols: []string{opsToken}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if resp.Body != nil {
		_ = resp.Body.Close()
	}
	defer func() { _ = conn.CloseNow() }()
	sub, _ := json.Marshal(map[string]any{"type": "subscribe", "topic": "community:" + community.ID})
	if err := conn.Write(ctx, websocket.MessageText, sub); err != nil {
		t.Fatal(err)
	}
	var node struct{ ID string }
	for {
		_, raw, err := conn.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var f struct{ Type, Event, NodeID string }
		_ = json.Unmarshal(raw, &f)
		if f.Type == "subscribed" && node.ID == "" {
			postJSON(t, httpURL[1]+"/api/v1/nodes", map[string]any{"node_key": "lake-1", "label": "Lake 1", "category": "Sump",
				"analytics_type": "EvaraTank", "community_id": community.ID}, &node)
			continue
		}
		if f.Event == "NODE_PROVISIONED" {
			var ev struct {
				NodeID string `json:"node_id"`
			}
			_ = json.Unmarshal(raw, &ev)
			if ev.NodeID != node.ID {
				t.Fatalf("NODE_PROVISIONED of %q, want the node created on the other member %q", ev.NodeID, node.ID)
			}
			break
		}
	}
	members[0].stop(t)
	members[1].stop(t)
}

// postJSON posts body as the superadmin and decodes a 201 answer into out.
func postJSON(t *testing.T, url string, body, out any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+opsToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, answer)
	}
	if err := json.Unmarshal(answer, out); err != nil {
		t.Fatal(err)
	}
}

// startMembers starts n `evara serve` members of one static cluster on the
// database at dbURL, polling upstream, and returns them once each serves
// HTTP, with their cluster addresses and HTTP base URLs.
func startMembers(t *testing.T, n int, dbURL, upstream string) (members []*proc, addrs, httpURL []string) {
	t.Helper()
	addrs = freeClusterPorts(t, n)
	members, httpURL = make([]*proc, n), make([]string, n)
	for i := range members {
		members[i] = startEvara(t, apiEnv("DATABASE_URL="+dbURL, "EVARA_ENCRYPTION_KEY="+testKey, "EVARA_THINGSPEAK_URL="+upstream,
			"EVARA_CLUSTER_ADVERTISE="+addrs[i], "EVARA_CLUSTER_MEMBERS="+strings.Join(addrs, ",")), "serve", "--addr", "127.0.0.1:0")
	}
	for i, m := range members {
		addr, _ := m.waitFor(t, "evara serving", 30*time.Second)["addr"].(string)
		httpURL[i] = "http://" + addr
	}
	return members, addrs, httpURL
}

// deviceAndOwner picks a device of nodes and the index of the member that
// owns it among addrs (ports are random, so which member owns what is only
// known at run time).
func deviceAndOwner(t *testing.T, addrs []string, nodes map[telemetry.NodeID]simChannel) (telemetry.NodeID, int) {
	t.Helper()
	for node := range nodes {
		owner := slices.Index(addrs, cluster.OwnerAmong(addrs, node))
		if owner < 0 {
			t.Fatalf("device %s has no owner among %v", node, addrs)
		}
		return node, owner
	}
	t.Fatal("no devices")
	return "", 0
}

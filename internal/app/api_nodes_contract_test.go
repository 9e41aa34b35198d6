package app

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// nodeVolatile are the node fields the device runtime moves while a test
// runs.
var nodeVolatile = []string{"status", "last_seen"}

// adminFormNode is a create body as the dashboard's admin form sends it:
// the form's names, the channel id as a string, a tank config.
func adminFormNode(e *apiEnv, key string) map[string]any {
	ch := e.sim.Channels()[2] // the fixture's nodes poll channels 0 and 1
	return map[string]any{
		"hardware_id": key, "device_label": "Clubhouse tank", "device_type": "EvaraTank", "category": "OHT",
		"location_name": "Clubhouse roof", "lat": 17.4401, "long": 78.3489, "capacity": 10000,
		"community_id": e.fx.CommA.ID, "customer_id": e.fx.CustA2.ID, "poll_interval_seconds": 60,
		"thingspeak_mapping": map[string]any{
			"channel_id": strconv.FormatInt(int64(ch.ID), 10), "read_api_key": ch.ReadKey, "write_api_key": "WRITEKEY0000TEST",
			"field_mapping": map[string]string{"field1": "water_level", "field2": "temperature"},
		},
		"config_tank": map[string]any{"height_cm": 180, "diameter_cm": 120, "shape": "cylinder"},
	}
}

// TestNodeContracts compares the node routes' answers with their golden
// files: get (by id and by node_key), list, create from the admin form,
// and the map markers.
func TestNodeContracts(t *testing.T) {
	e := newAPIEnv(t)
	admin := e.fx.Tokens["superadmin"]
	e.waitPolled(t, e.fx.NodeA.ID) // so that NodeA's last_seen is set in every run
	byID := e.expect(http.StatusOK, "GET", "/api/v1/nodes/"+string(e.fx.NodeA.ID), admin, nil)
	golden(t, "nodes_get", byID, nodeVolatile...)
	byKey := e.expect(http.StatusOK, "GET", "/api/v1/devices/"+e.fx.NodeA.NodeKey, admin, nil)
	if id := nodesDecode[map[string]any](t, byKey)["id"]; id != string(e.fx.NodeA.ID) {
		t.Errorf("by node_key: id %v, want %s", id, e.fx.NodeA.ID)
	}

	resp, list := e.do("GET", "/api/v1/nodes?limit=2", admin, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Total-Count") != "3" {
		t.Fatalf("list: %d, X-Total-Count %q: %s", resp.StatusCode, resp.Header.Get("X-Total-Count"), list)
	}
	golden(t, "nodes_list", list, nodeVolatile...)

	created := e.expect(http.StatusCreated, "POST", "/api/v1/devices", e.fx.Tokens["distributor"], adminFormNode(e, "EV-TANK-0042"))
	golden(t, "nodes_create", created, nodeVolatile...)
	id := nodesDecode[nodeObject](t, created).ID
	if got := e.expect(http.StatusOK, "GET", "/api/v1/nodes/"+id, admin, nil); string(nodesMasked(t, got)) != string(nodesMasked(t, created)) {
		t.Errorf("the created node reads back otherwise:\n%s\n%s", got, created)
	}

	markers := e.expect(http.StatusOK, "GET", "/api/v1/devices/map/all", e.fx.Tokens["community_admin"], nil)
	golden(t, "nodes_map", markers, "status")
}

// TestTelemetryContracts compares the stored-telemetry routes with their
// golden files over readings written through the store (NodeA2 has no
// channel, so nothing else writes its readings).
func TestTelemetryContracts(t *testing.T) {
	e := newAPIEnv(t)
	node, token := e.fx.NodeA2, e.fx.Tokens["community_admin"]
	empty := e.expect(http.StatusOK, "GET", "/api/v1/devices/"+string(node.ID)+"/telemetry/latest", token, nil)
	golden(t, "nodes_telemetry_latest_empty", empty)

	base := time.Now().UTC().Truncate(time.Second).Add(-630 * time.Second) // entries 10.5, 9.5 and 8.5 minutes old
	var rows []telemetry.Reading
	for i := range 3 {
		r := telemetry.Reading{Node: node.ID, Entry: telemetry.Entry{EntryID: int64(101 + i), CreatedAt: base.Add(time.Duration(i) * time.Minute)}}
		r.Fields[0] = telemetry.Field{Value: 150.5 - float64(i), Valid: true}
		if i != 1 { // a missing temperature is null
			r.Fields[1] = telemetry.Field{Value: 24 + float64(i)/4, Valid: true}
		}
		rows = append(rows, r)
	}
	if err := e.store.WriteReadings(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, path string }{
		{"nodes_telemetry_latest", "/devices/" + string(node.ID) + "/telemetry/latest"},
		{"nodes_telemetry_history", "/devices/" + string(node.ID) + "/telemetry/history?results=2"},
		{"nodes_feeds", "/nodes/" + node.NodeKey + "/feeds.json?results=10&minutes=60"},
	} {
		golden(t, c.name, e.expect(http.StatusOK, "GET", "/api/v1"+c.path, token, nil))
	}
	// Readings older than ?minutes= are left out.
	recent := nodesDecode[feedBody](t, e.expect(http.StatusOK, "GET", "/api/v1/nodes/"+string(node.ID)+"/feeds.json?minutes=10", token, nil))
	if len(recent.Feeds) != 2 || recent.Feeds[0].EntryID != 102 {
		t.Errorf("minutes=10: %+v, want entries 102 and 103", recent.Feeds)
	}
	for _, bad := range []string{"results=0", "results=8001", "results=x", "minutes=0"} {
		e.expect(http.StatusUnprocessableEntity, "GET", "/api/v1/nodes/"+string(node.ID)+"/feeds.json?"+bad, token, nil)
	}
}

// TestFeedFromRuntime reads the feed of a node the runtime polls from the
// simulator: its entries reach feeds.json in ThingSpeak's shape.
func TestFeedFromRuntime(t *testing.T) {
	e := newAPIEnv(t)
	path := "/api/v1/nodes/" + string(e.fx.NodeA.ID) + "/feeds.json?results=50"
	var feed feedBody
	for deadline := time.Now().Add(60 * time.Second); len(feed.Feeds) < 2; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no readings of NodeA reach its feed: %+v", feed)
		}
		feed = nodesDecode[feedBody](t, e.expect(http.StatusOK, "GET", path, e.fx.Tokens["customer"], nil))
	}
	if feed.Channel.ID == nil || *feed.Channel.ID != int64(e.fx.NodeA.ChannelID) || feed.Channel.Field1 != "water_level" {
		t.Errorf("channel %+v, want id %d and field1 water_level", feed.Channel, e.fx.NodeA.ChannelID)
	}
	for i, f := range feed.Feeds {
		if i > 0 && f.EntryID <= feed.Feeds[i-1].EntryID {
			t.Errorf("entries out of order: %d after %d", f.EntryID, feed.Feeds[i-1].EntryID)
		}
		if f.Field1 == nil {
			t.Errorf("entry %d has no field1", f.EntryID)
		} else if _, err := strconv.ParseFloat(*f.Field1, 64); err != nil {
			t.Errorf("entry %d: field1 %q is not a number as text", f.EntryID, *f.Field1)
		}
	}
	if last := feed.Feeds[len(feed.Feeds)-1].EntryID; feed.Channel.LastEntryID == nil || *feed.Channel.LastEntryID < last {
		t.Errorf("last_entry_id %v, but the feed holds entry %d", feed.Channel.LastEntryID, last)
	}
}

// waitPolled waits until the runtime has polled a node once (its
// last_seen is set).
func (e *apiEnv) waitPolled(t *testing.T, id telemetry.NodeID) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		n, err := e.store.GetNode(context.Background(), telemetry.Scope{All: true}, string(id))
		if err != nil {
			t.Fatal(err)
		}
		if n.LastSeen != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s is never polled", id)
		}
	}
}

// nodeObject is the part of a node answer tests look at.
type nodeObject struct {
	ID           string            `json:"id"`
	Label        string            `json:"label"`
	Category     string            `json:"category"`
	Lat          *float64          `json:"lat"`
	Lng          *float64          `json:"lng"`
	CustomerID   *string           `json:"customer_id"`
	CommunityID  *string           `json:"community_id"`
	FieldMapping map[string]string `json:"field_mapping"`
	Version      int               `json:"version"`
}

type feedBody struct {
	Channel struct {
		ID          *int64 `json:"id"`
		Field1      string `json:"field1"`
		LastEntryID *int64 `json:"last_entry_id"`
	} `json:"channel"`
	Feeds []struct {
		EntryID int64   `json:"entry_id"`
		Field1  *string `json:"field1"`
	} `json:"feeds"`
}

func nodesDecode[T any](t *testing.T, raw []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	return v
}

// nodesMasked is a node answer without the fields the runtime moves.
func nodesMasked(t *testing.T, raw []byte) []byte {
	t.Helper()
	v := nodesDecode[map[string]any](t, raw)
	for _, k := range nodeVolatile {
		delete(v, k)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

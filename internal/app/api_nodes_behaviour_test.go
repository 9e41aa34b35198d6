package app

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/evaratech/evara/internal/telemetry"
)

// TestNodeCreateRefuses sends create bodies that must be refused and
// checks the status, the field named, and that nothing was written.
func TestNodeCreateRefuses(t *testing.T) {
	e := newAPIEnv(t)
	ch := e.sim.Channels()[2]
	with := func(changes map[string]any) map[string]any {
		body := map[string]any{"node_key": "refused-1", "label": "Refused", "category": "OHT", "analytics_type": "EvaraTank",
			"community_id": e.fx.CommA.ID}
		for k, v := range changes {
			if v == nil {
				delete(body, k)
			} else {
				body[k] = v
			}
		}
		return body
	}
	channel := func(key string) map[string]any {
		return map[string]any{"channel_id": ch.ID, "read_api_key": key}
	}
	for _, c := range []struct {
		name, who string
		body      map[string]any
		status    int
		field     string
	}{
		{"latitude out of range", "superadmin", with(map[string]any{"lat": 91}), 422, "lat"},
		{"longitude out of range", "superadmin", with(map[string]any{"long": -181}), 422, "lng"},
		{"unknown category", "superadmin", with(map[string]any{"category": "Tank"}), 422, "category"},
		{"unknown analytics type", "superadmin", with(map[string]any{"analytics_type": "EvaraX"}), 422, "analytics_type"},
		{"zero capacity", "superadmin", with(map[string]any{"capacity": 0}), 422, "capacity"},
		{"poll interval too short", "superadmin", with(map[string]any{"poll_interval_seconds": 5}), 422, "poll_interval_seconds"},
		{"field9", "superadmin", with(map[string]any{"field_mapping": map[string]string{"field9": "x"}}), 422, "field_mapping.field9"},
		{"empty alias", "superadmin", with(map[string]any{"field_mapping": map[string]string{"field1": " "}}), 422, "field_mapping.field1"},
		{"channel id not a number", "superadmin", with(map[string]any{"thingspeak_mapping": map[string]any{"channel_id": "abc", "read_api_key": "K"}}), 422, "thingspeak_mapping.channel_id"},
		{"channel id zero", "superadmin", with(map[string]any{"thingspeak_channel_id": 0, "thingspeak_read_api_key": "K"}), 422, "thingspeak_channel_id"},
		{"channel without key", "superadmin", with(map[string]any{"thingspeak_channel_id": ch.ID}), 422, "thingspeak_read_api_key"},
		{"write key without read key", "superadmin", with(map[string]any{"thingspeak_write_api_key": "W1"}), 422, "thingspeak_write_api_key"},
		{"node_key with a space", "superadmin", with(map[string]any{"node_key": "has space"}), 422, "node_key"},
		{"node_key that is a UUID", "superadmin", with(map[string]any{"node_key": e.fx.CommA.ID}), 422, "node_key"},
		{"no label", "superadmin", with(map[string]any{"label": nil}), 422, "label"},
		{"label and device_label differ", "superadmin", with(map[string]any{"device_label": "Other"}), 422, "device_label"},
		{"unknown field", "superadmin", with(map[string]any{"colour": "blue"}), 422, "colour"},
		{"status", "superadmin", with(map[string]any{"status": "Online"}), 422, "status"},
		{"config of another analytics type", "superadmin", with(map[string]any{"analytics_type": "EvaraFlow", "config_tank": map[string]any{}}), 422, "config_tank"},
		{"two configs", "superadmin", with(map[string]any{"analytics_type": nil, "config_tank": map[string]any{}, "config_flow": map[string]any{}}), 422, "config_flow"},
		{"community of another tenant", "distributor", with(map[string]any{"community_id": e.fx.CommB.ID}), 422, "community_id"},
		{"community id not a UUID", "distributor", with(map[string]any{"community_id": "' OR 1=1 --"}), 422, "community_id"},
		{"customer of another tenant", "distributor", with(map[string]any{"customer_id": e.fx.CustB.ID}), 422, "customer_id"},
		{"customer of another community", "superadmin", with(map[string]any{"customer_id": e.fx.CustB.ID}), 422, "customer_id"},
		{"wrong read key", "distributor", with(map[string]any{"thingspeak_mapping": channel("WRONGKEY00000000")}), 422, "thingspeak_read_api_key"},
		{"unknown channel", "distributor", with(map[string]any{"thingspeak_mapping": map[string]any{"channel_id": 999999999, "read_api_key": ch.ReadKey}}), 422, "thingspeak_read_api_key"},
		{"node_key taken", "superadmin", with(map[string]any{"node_key": "tank-a1"}), 409, ""},
		{"not a provisioner", "community_admin", with(nil), 403, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := e.fingerprint(t)
			resp, raw := e.do("POST", "/api/v1/nodes", e.fx.Tokens[c.who], c.body)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, raw)
			}
			if c.field != "" && !problemNames(t, raw, c.field) {
				t.Errorf("the answer does not name %s: %s", c.field, raw)
			}
			if c.status == http.StatusForbidden {
				return // the denial is audited: that is a write, and wanted
			}
			if after := e.fingerprint(t); after != before {
				t.Errorf("a refused create wrote:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// problemNames reports whether a 422 answer names field.
func problemNames(t *testing.T, raw []byte, field string) bool {
	t.Helper()
	var p struct {
		Errors []struct{ Field string } `json:"errors"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	return slices.ContainsFunc(p.Errors, func(f struct{ Field string }) bool { return f.Field == field })
}

// TestNodeQuota fills customer A2's base plan (5 devices): the fifth node
// is accepted, the sixth refused with 409 and nothing written.
func TestNodeQuota(t *testing.T) {
	e := newAPIEnv(t)
	for range 4 {
		e.freshNode(&e.fx.CommA, &e.fx.CustA2)
	}
	body := func(key string) map[string]any {
		return map[string]any{"node_key": key, "label": "Quota", "category": "Sump", "analytics_type": "EvaraTank",
			"customer_id": e.fx.CustA2.ID}
	}
	created := nodesDecode[nodeObject](t, e.expect(http.StatusCreated, "POST", "/api/v1/nodes", e.fx.Tokens["distributor"], body("quota-5")))
	if created.CommunityID == nil || *created.CommunityID != e.fx.CommA.ID {
		t.Errorf("a node filed under a customer takes its community: %v", created.CommunityID)
	}
	before := e.fingerprint(t)
	raw := e.expect(http.StatusConflict, "POST", "/api/v1/nodes", e.fx.Tokens["distributor"], body("quota-6"))
	if !strings.Contains(string(raw), `plan \"base\" allows 5 devices`) {
		t.Errorf("the refusal does not explain the quota: %s", raw)
	}
	if after := e.fingerprint(t); after != before {
		t.Errorf("a refused create wrote:\nbefore %s\nafter  %s", before, after)
	}
	// Reassigning a node to the full customer is refused the same way.
	other := e.freshNode(&e.fx.CommA, &e.fx.CustA)
	e.expect(http.StatusConflict, "PATCH", "/api/v1/nodes/"+string(other.ID), e.fx.Tokens["community_admin"],
		map[string]any{"customer_id": e.fx.CustA2.ID})
}

// TestNodeKeysNeverLeave creates a node with a read and a write key and
// looks for them in every answer about it and in the audit log; the
// sealed key opens with the node's id, and the device runtime, which
// opens it, polls the new node.
func TestNodeKeysNeverLeave(t *testing.T) {
	e := newAPIEnv(t)
	const writeKey = "WRITEKEY0000TEST"
	readKey := e.sim.Channels()[2].ReadKey
	token := e.fx.Tokens["distributor"]
	body := adminFormNode(e, "EV-KEYS-1")
	body["poll_interval_seconds"] = 15 // polled within 15 s of its start
	raw := e.expect(http.StatusCreated, "POST", "/api/v1/devices", token, body)
	id := nodesDecode[nodeObject](t, raw).ID
	answers := [][]byte{raw}
	for _, path := range []string{"/nodes/" + id, "/devices/EV-KEYS-1", "/nodes", "/devices/map/all", "/nodes/" + id + "/feeds.json",
		"/devices/" + id + "/telemetry/history", "/devices/" + id + "/telemetry/latest"} {
		answers = append(answers, e.expect(http.StatusOK, "GET", "/api/v1"+path, token, nil))
	}
	answers = append(answers, e.expect(http.StatusOK, "PATCH", "/api/v1/nodes/"+id, token,
		map[string]any{"thingspeak_mapping": map[string]any{"read_api_key": readKey}}))
	entries, err := e.store.ListAudit(context.Background(), telemetry.AuditFilter{ResourceID: id})
	if err != nil {
		t.Fatal(err)
	}
	audit, _ := json.Marshal(entries)
	answers = append(answers, audit)
	for i, a := range answers {
		if strings.Contains(string(a), readKey) || strings.Contains(string(a), writeKey) {
			t.Errorf("answer %d holds a channel key: %s", i, a)
		}
	}

	n, err := e.store.GetNode(context.Background(), telemetry.Scope{All: true}, id)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := e.keys.Open(n.ChannelKey.KeyID, n.ChannelKey.Ciphertext, []byte(id))
	if err != nil || string(plain) != readKey {
		t.Errorf("the sealed read key opens to %q, %v", plain, err)
	}
	if plain, err := e.keys.Open(n.ChannelKey.KeyID, n.WriteKey, []byte(id)); err != nil || string(plain) != writeKey {
		t.Errorf("the sealed write key opens to %q, %v (kept across a read-key change under the same key id)", plain, err)
	}
	e.waitPolled(t, telemetry.NodeID(id))
}

// TestNodeEdit checks PATCH and PUT: a PATCH changes only what it names,
// null clears, PUT clears what it leaves out, edits need the permission
// of what they change, a stale version is 409, and each edit is audited
// with before and after.
func TestNodeEdit(t *testing.T) {
	e := newAPIEnv(t)
	n := e.freshNode(&e.fx.CommA, &e.fx.CustA)
	path := "/api/v1/nodes/" + string(n.ID)
	read := func() map[string]any {
		return nodesDecode[map[string]any](t, e.expect(http.StatusOK, "GET", path, e.fx.Tokens["superadmin"], nil))
	}
	before := read()
	e.expect(http.StatusOK, "PATCH", path, e.fx.Tokens["customer"], map[string]any{"label": "Roof tank"})
	after := read()
	for k, v := range before {
		switch k {
		case "label":
			if after[k] != "Roof tank" {
				t.Errorf("label %v, want Roof tank", after[k])
			}
		case "updated_at", "version":
		default:
			if b, a := nodesJSON(t, v), nodesJSON(t, after[k]); b != a {
				t.Errorf("PATCH of the label changed %s: %s → %s", k, b, a)
			}
		}
	}
	if after["version"].(float64) != before["version"].(float64)+1 {
		t.Errorf("version %v after %v", after["version"], before["version"])
	}

	cleared := nodesDecode[nodeObject](t, e.expect(http.StatusOK, "PATCH", path, e.fx.Tokens["customer"], map[string]any{"lat": nil}))
	if cleared.Lat != nil || cleared.Lng == nil {
		t.Errorf("lat: null cleared lat %v, lng %v", cleared.Lat, cleared.Lng)
	}
	put := nodesDecode[nodeObject](t, e.expect(http.StatusOK, "PUT", path, e.fx.Tokens["customer"],
		map[string]any{"label": "Replaced", "category": "OHT", "analytics_type": "EvaraTank"}))
	if put.Lng != nil || len(put.FieldMapping) != 0 || put.CustomerID == nil || *put.CustomerID != e.fx.CustA.ID {
		t.Errorf("PUT keeps the filing and clears the rest: %+v", put)
	}

	for _, c := range []struct {
		name, who string
		body      map[string]any
		status    int
	}{
		{"empty body", "customer", map[string]any{}, 422},
		{"status", "customer", map[string]any{"status": "Maintenance"}, 422},
		{"required null", "customer", map[string]any{"label": nil}, 422},
		{"PUT without category", "customer", map[string]any{"label": "x"}, 422},
		{"stale version", "customer", map[string]any{"label": "x", "version": 1}, 409},
		{"customer changes the category", "customer", map[string]any{"category": "Sump"}, 403},
		{"customer reassigns the node", "customer", map[string]any{"customer_id": e.fx.CustA2.ID}, 403},
		{"community admin moves it to another community", "community_admin", map[string]any{"community_id": e.fx.CommB.ID}, 403},
		{"community admin changes the channel", "community_admin", map[string]any{"thingspeak_channel_id": 5, "thingspeak_read_api_key": "K"}, 403},
		{"distributor names another tenant's community", "distributor", map[string]any{"community_id": e.fx.CommB.ID}, 422},
		{"distributor names another tenant's customer", "distributor", map[string]any{"customer_id": e.fx.CustB.ID}, 422},
		{"new channel without key", "distributor", map[string]any{"thingspeak_channel_id": 5}, 422},
		{"lat out of range", "customer", map[string]any{"lat": -91}, 422},
	} {
		t.Run(c.name, func(t *testing.T) {
			method := "PATCH"
			if strings.HasPrefix(c.name, "PUT") {
				method = "PUT"
			}
			was := read()
			e.expect(c.status, method, path, e.fx.Tokens[c.who], c.body)
			if now := read(); nodesJSON(t, now) != nodesJSON(t, was) {
				t.Errorf("a refused edit changed the node:\n%v\n%v", was, now)
			}
		})
	}

	moved := nodesDecode[nodeObject](t, e.expect(http.StatusOK, "PATCH", path, e.fx.Tokens["community_admin"],
		map[string]any{"customer_id": e.fx.CustA2.ID}))
	if moved.CustomerID == nil || *moved.CustomerID != e.fx.CustA2.ID {
		t.Errorf("a community admin gives the node to another customer of its community: %v", moved.CustomerID)
	}
	e.expect(http.StatusNotFound, "GET", path, e.fx.Tokens["customer"], nil) // no longer customer A's

	entries := e.auditOf(t, string(n.ID), "node.update")
	if len(entries) != 4 {
		t.Fatalf("%d node.update entries, want 4", len(entries))
	}
	first := nodesJSON(t, entries[len(entries)-1].Metadata)
	if !strings.Contains(first, `"before":{`) || !strings.Contains(first, `"label":"Roof tank"`) {
		t.Errorf("the first update's entry lacks before/after: %s", first)
	}
}

// TestNodeDelete deletes a node: 204, then 404 everywhere at once (this
// replica's node cache forgets it), audited with the node as it was.
func TestNodeDelete(t *testing.T) {
	e := newAPIEnv(t)
	n := e.freshNode(&e.fx.CommA, &e.fx.CustA)
	live := "/api/v1/devices/" + string(n.ID) + "/live-data"
	e.expect(http.StatusOK, "GET", live, e.fx.Tokens["customer"], nil) // now cached
	e.expect(http.StatusNotFound, "DELETE", "/api/v1/devices/"+string(n.ID), e.fx.Tokens["distributor_b"], nil)
	e.expect(http.StatusNoContent, "DELETE", "/api/v1/devices/"+n.NodeKey, e.fx.Tokens["distributor"], nil)
	e.expect(http.StatusNotFound, "GET", "/api/v1/nodes/"+string(n.ID), e.fx.Tokens["superadmin"], nil)
	e.expect(http.StatusNotFound, "GET", live, e.fx.Tokens["customer"], nil)
	e.expect(http.StatusNotFound, "DELETE", "/api/v1/nodes/"+string(n.ID), e.fx.Tokens["superadmin"], nil)
	e.expect(http.StatusNotFound, "DELETE", "/api/v1/nodes/not-a-node", e.fx.Tokens["superadmin"], nil)
	entries := e.auditOf(t, string(n.ID), "node.delete")
	if len(entries) != 1 || !strings.Contains(nodesJSON(t, entries[0].Metadata), `"node_key":"`+n.NodeKey+`"`) {
		t.Errorf("delete audit: %+v", entries)
	}
}

// TestNodeList checks the list's filters and paging.
func TestNodeList(t *testing.T) {
	e := newAPIEnv(t)
	admin := e.fx.Tokens["superadmin"]
	for _, c := range []struct {
		query string
		want  []string // node keys in order
		total string
	}{
		{"", []string{"sump-a2", "tank-a1", "tank-b1"}, "3"},
		{"?q=SUMP", []string{"sump-a2"}, "1"},
		{"?q=block%20tank", []string{"tank-a1", "tank-b1"}, "2"},
		{"?community_id=" + e.fx.CommB.ID, []string{"tank-b1"}, "1"},
		{"?status=provisioning&q=sump", []string{"sump-a2"}, "1"},
		{"?limit=1&offset=1", []string{"tank-a1"}, "3"},
		{"?q=%25", nil, "0"},
	} {
		resp, raw := e.do("GET", "/api/v1/devices"+c.query, admin, nil)
		var got []string
		for _, n := range nodesDecode[[]struct {
			NodeKey string `json:"node_key"`
		}](t, raw) {
			got = append(got, n.NodeKey)
		}
		if resp.StatusCode != http.StatusOK || !slices.Equal(got, c.want) || resp.Header.Get("X-Total-Count") != c.total {
			t.Errorf("%s: %d %v (total %s), want %v (total %s)", c.query, resp.StatusCode, got, resp.Header.Get("X-Total-Count"), c.want, c.total)
		}
	}
	for _, bad := range []string{"?status=Broken", "?community_id=nope", "?limit=0", "?offset=-1"} {
		e.expect(http.StatusUnprocessableEntity, "GET", "/api/v1/nodes"+bad, admin, nil)
	}
	// A community admin's list is its community's, whatever it asks for.
	resp, raw := e.do("GET", "/api/v1/nodes?community_id="+e.fx.CommB.ID, e.fx.Tokens["community_admin"], nil)
	if resp.StatusCode != http.StatusOK || string(raw) != "[]" {
		t.Errorf("community admin asking for community B: %d %s", resp.StatusCode, raw)
	}
}

// auditOf lists a node's audit entries of one action, newest first (the
// entry is written before the answer is sent).
func (e *apiEnv) auditOf(t *testing.T, id, action string) []telemetry.AuditEntry {
	t.Helper()
	all, err := e.store.ListAudit(context.Background(), telemetry.AuditFilter{ResourceType: "node", ResourceID: id})
	if err != nil {
		t.Fatal(err)
	}
	var out []telemetry.AuditEntry
	for _, a := range all {
		if a.Action == action {
			out = append(out, a)
		}
	}
	return out
}

func nodesJSON(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak/sim"
	"github.com/evaratech/evara/internal/webhook"
)

// These tests drive the simulator's signal across alert thresholds (sim
// overrides) and check what the whole stack makes of it: alert rows,
// node statuses, WebSocket events and signed webhook deliveries.

// hookReceiver is a webhook endpoint that verifies every signature and
// answers 500 to the first failFirst attempts of each delivery.
type hookReceiver struct {
	secret    []byte
	failFirst int

	mu       sync.Mutex
	attempts map[string]int // delivery id → attempts seen
	got      []hookDelivery // accepted (200) deliveries, in arrival order
	bad      []string       // signature failures
}

type hookDelivery struct {
	ID         string    `json:"id"`
	Event      string    `json:"event"`
	CreatedAt  time.Time `json:"created_at"`
	ReceivedAt time.Time `json:"-"`
	Attempts   int       `json:"-"`
	Data       struct {
		NodeID     string     `json:"node_id"`
		Status     string     `json:"status"`
		DetectedAt time.Time  `json:"detected_at"`
		Alert      alertFrame `json:"alert"`
	} `json:"data"`
}

// alertFrame is an alert as events and webhooks carry it.
type alertFrame struct {
	ID          string    `json:"id"`
	NodeID      string    `json:"node_id"`
	Kind        string    `json:"kind"`
	Metric      *string   `json:"metric"`
	Severity    string    `json:"severity"`
	Status      string    `json:"status"`
	Message     string    `json:"message"`
	RuleID      *string   `json:"rule_id"`
	TriggeredAt time.Time `json:"triggered_at"`
}

func newHookReceiver(t testing.TB, failFirst int) (*hookReceiver, *httptest.Server) {
	h := &hookReceiver{secret: []byte("whsec-" + uuid.NewString()), failFirst: failFirst, attempts: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(srv.Close)
	return h, srv
}

func (h *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := webhook.Verify(h.secret, r.Header.Get(webhook.SignatureHeader), body, at, 5*time.Minute); err != nil {
		h.bad = append(h.bad, err.Error())
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var d hookDelivery
	if err := json.Unmarshal(body, &d); err != nil {
		h.bad = append(h.bad, "body: "+err.Error())
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.attempts[d.ID]++
	if h.attempts[d.ID] <= h.failFirst {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	d.ReceivedAt, d.Attempts = at, h.attempts[d.ID]
	h.got = append(h.got, d)
	w.WriteHeader(http.StatusOK)
}

// deliveries returns the accepted deliveries that match keep.
func (h *hookReceiver) deliveries(keep func(hookDelivery) bool) []hookDelivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return filter(h.got, keep)
}

// filter returns the items keep accepts, in order (a new slice).
func filter[T any](items []T, keep func(T) bool) []T {
	var out []T
	for _, it := range items {
		if keep(it) {
			out = append(out, it)
		}
	}
	return out
}

func (h *hookReceiver) badSignatures() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bad...)
}

// subscribeWebhook stores a subscription of community to every event, its
// secret sealed as the API seals it (the subscription id as associated data).
func (e *apiEnv) subscribeWebhook(t testing.TB, url string, secret []byte, community string) {
	t.Helper()
	id := uuid.Must(uuid.NewV7()).String()
	keyID, sealed, err := e.keys.Seal(secret, []byte(id))
	if err != nil {
		t.Fatal(err)
	}
	sub := &telemetry.WebhookSubscription{ID: id, URL: url, Events: webhook.Events, Enabled: true, CommunityID: &community,
		Secret: telemetry.SealedSecret{KeyID: keyID, Ciphertext: sealed}}
	subs, ok := e.store.(interface {
		CreateSubscription(context.Context, telemetry.Scope, *telemetry.WebhookSubscription) error
	})
	if !ok {
		t.Fatal("the store keeps no webhook subscriptions")
	}
	if err := subs.CreateSubscription(context.Background(), telemetry.Scope{All: true}, sub); err != nil {
		t.Fatal(err)
	}
}

// startWebhooks runs the dispatcher as serve does, with a short backoff so
// that retries come within the test.
func (e *apiEnv) startWebhooks(t testing.TB) {
	t.Helper()
	d, err := webhook.NewDispatcher(e.store.(webhook.Store), e.keys, webhook.Options{
		Poll: 50 * time.Millisecond, Backoff: 100 * time.Millisecond, Wake: e.rt.webhookWake,
	})
	if err != nil {
		t.Fatal(err)
	}
	d.Start()
	t.Cleanup(d.Stop)
}

// alertLog collects the alert events a WebSocket client receives.
type alertLog struct {
	mu     sync.Mutex
	events []wsAlertEvent
}

type wsAlertEvent struct {
	Event  string     `json:"event"`
	NodeID string     `json:"node_id"`
	TS     int64      `json:"ts"`
	Alert  alertFrame `json:"alert"`
}

// collectAlerts reads c's frames in the background until the connection
// closes (at the end of the test), keeping the alert events.
func collectAlerts(c *wsClient) *alertLog {
	l := &alertLog{}
	go func() {
		for {
			_, raw, err := c.conn.Read(context.Background())
			if err != nil {
				return
			}
			var f struct {
				wsAlertEvent
				Updates []wsAlertEvent `json:"updates"`
			}
			if json.Unmarshal(raw, &f) != nil {
				continue
			}
			l.mu.Lock()
			for _, ev := range append([]wsAlertEvent{f.wsAlertEvent}, f.Updates...) {
				if strings.HasPrefix(ev.Event, "ALERT_") {
					l.events = append(l.events, ev)
				}
			}
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *alertLog) matching(keep func(wsAlertEvent) bool) []wsAlertEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return filter(l.events, keep)
}

// alertsOf lists a node's alerts through the API.
func (e *apiEnv) alertsOf(node telemetry.NodeID) []alertFrame {
	e.t.Helper()
	var out []alertFrame
	mustJSON(e.t, e.expect(http.StatusOK, http.MethodGet, "/api/v1/alerts?limit=1000&node_id="+string(node), e.fx.Tokens["superadmin"], nil), &out)
	return out
}

func (e *apiEnv) nodeStatus(node telemetry.NodeID) string {
	e.t.Helper()
	var out struct{ Status string }
	mustJSON(e.t, e.expect(http.StatusOK, http.MethodGet, "/api/v1/nodes/"+string(node), e.fx.Tokens["superadmin"], nil), &out)
	return out.Status
}

// lastEntry is the newest entry stored for node.
func (e *apiEnv) lastEntry(node telemetry.NodeID) int64 {
	e.t.Helper()
	n, err := e.store.GetNode(context.Background(), telemetry.Scope{All: true}, string(node))
	if err != nil {
		e.t.Fatal(err)
	}
	return n.LastEntryID
}

// readingsPass waits until n more entries of node are stored: the device
// has observed them.
func (e *apiEnv) readingsPass(t testing.TB, node telemetry.NodeID, n int64) {
	t.Helper()
	from := e.lastEntry(node)
	waitUntil(t, fmt.Sprintf("%d more readings of %s", n, node), func() bool { return e.lastEntry(node) >= from+n })
}

// waitUntil polls cond until it holds, failing after wsPatience (a bound
// on a failure, not a timing assertion).
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * wsPatience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// steadyNode provisions a node of community A on the simulator's third
// channel, whose level (field1) and temperature (field2) are held at
// constant values for every entry: no anomaly until the test makes one.
func (e *apiEnv) steadyNode(t *testing.T, key string, level float64) (telemetry.Node, sim.ChannelSpec) {
	t.Helper()
	ch := e.sim.Channels()[2]
	if err := e.sim.SetOverrides([]sim.Override{
		{Channel: ch.ID, Field: 1, Value: ptrTo(level)},
		{Channel: ch.ID, Field: 2, Value: ptrTo(24.0)},
	}); err != nil {
		t.Fatal(err)
	}
	n := e.node(context.Background(), key, "OHT", "EvaraTank", &e.fx.CommA, &e.fx.CustA, &ch)
	waitUntil(t, "the node's device polls", func() bool { return e.lastEntry(n.ID) > 0 })
	return n, ch
}

// setLevel holds the channel's level at v for the entries from now on.
func (e *apiEnv) setLevel(t *testing.T, ch sim.ChannelSpec, v float64) {
	t.Helper()
	if err := e.sim.AddOverride(sim.Override{Channel: ch.ID, Field: 1, Value: ptrTo(v), From: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

func (e *apiEnv) createRule(t *testing.T, node telemetry.NodeID, condition string, threshold float64, severity string, cooldown int) string {
	t.Helper()
	var r struct{ ID string }
	mustJSON(t, e.expect(http.StatusCreated, http.MethodPost, "/api/v1/alerts/rules", e.fx.Tokens["community_admin"], map[string]any{
		"node_id": node, "name": "level " + condition + " " + fmt.Sprint(threshold), "metric": "water_level",
		"condition": condition, "threshold": threshold, "severity": severity, "cooldown_minutes": cooldown,
	}), &r)
	return r.ID
}

func ofKind(kind string, alerts []alertFrame) []alertFrame {
	return filter(alerts, func(a alertFrame) bool { return a.Kind == kind })
}

// TestAlertRuleLifecycle: a critical rule on the level. Crossing opens
// exactly one alert (node Alert, ALERT_TRIGGERED to the node's community
// and to no other tenant, a signed webhook after two 500s); staying across
// changes nothing; returning resolves it once; crossing again within the
// cooldown opens nothing.
func TestAlertRuleLifecycle(t *testing.T) {
	e := newAPIEnv(t)
	recv, hooks := newHookReceiver(t, 2)
	e.subscribeWebhook(t, hooks.URL, recv.secret, e.fx.CommA.ID)
	e.startWebhooks(t)
	node, ch := e.steadyNode(t, "tank-alerts", 100)

	mineAll := e.watchAlerts(t, "community_admin", "alerts")
	mineNode := e.watchAlerts(t, "customer", "node:"+string(node.ID))
	mineBoth := e.watchAlerts(t, "community_admin", "node:"+string(node.ID), "alerts") // hears it once
	elsewhere := e.watchAlerts(t, "community_admin", "node:"+string(e.fx.NodeA.ID))    // follows another node only
	theirs := e.watchAlerts(t, "community_admin_b", "alerts")
	theirCustomer := e.watchAlerts(t, "customer_b", "alerts")

	rule := e.createRule(t, node.ID, ">", 500, "critical", 60)
	e.readingsPass(t, node.ID, 2)
	if got := ofKind("rule", e.alertsOf(node.ID)); len(got) != 0 {
		t.Fatalf("alerts before any crossing: %+v", got)
	}

	// Cross: exactly one alert, the node in Alert.
	e.setLevel(t, ch, 900)
	waitUntil(t, "the rule's alert opens", func() bool { return len(ofKind("rule", e.alertsOf(node.ID))) == 1 })
	waitUntil(t, "the node shows Alert", func() bool { return e.nodeStatus(node.ID) == "Alert" })
	opened := ofKind("rule", e.alertsOf(node.ID))[0]
	if opened.Status != "open" || opened.Severity != "critical" || opened.RuleID == nil || *opened.RuleID != rule {
		t.Errorf("opened alert = %+v", opened)
	}
	isRule := func(ev wsAlertEvent) bool { return ev.Alert.Kind == "rule" }
	triggered := func(ev wsAlertEvent) bool { return isRule(ev) && ev.Event == "ALERT_TRIGGERED" }
	waitUntil(t, "ALERT_TRIGGERED on the alerts topic", func() bool { return len(mineAll.matching(triggered)) == 1 })
	waitUntil(t, "ALERT_TRIGGERED to the node's follower", func() bool { return len(mineNode.matching(triggered)) == 1 })
	hookOf := func(event string) func(hookDelivery) bool {
		return func(d hookDelivery) bool { return d.Event == event && d.Data.Alert.Kind == "rule" }
	}
	waitUntil(t, "the alert.triggered webhook, after two 500s", func() bool { return len(recv.deliveries(hookOf("alert.triggered"))) == 1 })
	if d := recv.deliveries(hookOf("alert.triggered"))[0]; d.Attempts != 3 || d.Data.Alert.ID != opened.ID || d.Data.NodeID != string(node.ID) {
		t.Errorf("alert.triggered delivery = %+v (attempts %d), want the opened alert on the third attempt", d, d.Attempts)
	}

	// Stay across: nothing new.
	e.readingsPass(t, node.ID, 3)
	if got := ofKind("rule", e.alertsOf(node.ID)); len(got) != 1 || got[0].Status != "open" {
		t.Fatalf("after staying across: %+v, want the one alert still open", got)
	}

	// Return: resolved once, the node back Online.
	e.setLevel(t, ch, 100)
	waitUntil(t, "the alert resolves", func() bool {
		got := ofKind("rule", e.alertsOf(node.ID))
		return len(got) == 1 && got[0].Status == "resolved"
	})
	waitUntil(t, "the node shows Online", func() bool { return e.nodeStatus(node.ID) == "Online" })
	resolved := func(ev wsAlertEvent) bool { return isRule(ev) && ev.Event == "ALERT_RESOLVED" }
	waitUntil(t, "ALERT_RESOLVED", func() bool {
		return len(mineAll.matching(resolved)) == 1 && len(mineNode.matching(resolved)) == 1 && len(mineBoth.matching(resolved)) == 1
	})
	waitUntil(t, "the alert.resolved webhook", func() bool { return len(recv.deliveries(hookOf("alert.resolved"))) == 1 })

	// Cross again within the cooldown: no new alert.
	e.setLevel(t, ch, 900)
	e.readingsPass(t, node.ID, 3)
	e.setLevel(t, ch, 100)
	e.readingsPass(t, node.ID, 2)
	if got := ofKind("rule", e.alertsOf(node.ID)); len(got) != 1 {
		t.Errorf("crossing again within the cooldown: %d rule alerts, want still 1", len(got))
	}
	for name, log := range map[string]*alertLog{"alerts topic": mineAll, "follower": mineNode, "follower on the alerts topic": mineBoth} {
		if got := log.matching(triggered); len(got) != 1 {
			t.Errorf("ALERT_TRIGGERED events to the %s: %d, want 1", name, len(got))
		}
	}
	ofNode := func(ev wsAlertEvent) bool { return ev.NodeID == string(node.ID) }
	if got := elsewhere.matching(ofNode); len(got) != 0 {
		t.Errorf("a session following another node received %d alert events of this one", len(got))
	}
	if got := recv.deliveries(hookOf("alert.triggered")); len(got) != 1 {
		t.Errorf("alert.triggered webhooks: %d, want 1", len(got))
	}

	// No other tenant heard of any of it (community B's own nodes may raise
	// alerts of their own), and every request was signed.
	ofA := func(ev wsAlertEvent) bool { return ev.NodeID == string(node.ID) || ev.NodeID == string(e.fx.NodeA.ID) }
	if got := theirs.matching(ofA); len(got) != 0 {
		t.Errorf("community B's admin received %d alert events of community A: %+v", len(got), got)
	}
	if got := theirCustomer.matching(ofA); len(got) != 0 {
		t.Errorf("customer B received %d alert events of community A", len(got))
	}
	if bad := recv.badSignatures(); len(bad) != 0 {
		t.Errorf("deliveries with a bad signature: %v", bad)
	}
}

// watchAlerts connects as user, subscribes to topics and collects the
// alert events that come.
func (e *apiEnv) watchAlerts(t *testing.T, user string, topics ...string) *alertLog {
	t.Helper()
	c := e.dialWS(t, e.fx.Tokens[user])
	for _, topic := range topics {
		if f := c.subscribe(topic, nil); f.Type != "subscribed" {
			t.Fatalf("%s subscribing to %s: %+v", user, topic, f)
		}
	}
	return collectAlerts(c)
}

// TestAlertAnomalyOnASpikeOnly: a steady level and temperature raise
// nothing; one injected spike of the level opens one warning anomaly alert
// of that metric (value, mean and deviation in its message), which
// resolves when the level is back; the temperature never alerts.
func TestAlertAnomalyOnASpikeOnly(t *testing.T) {
	e := newAPIEnv(t, withAnomalies)
	node, ch := e.steadyNode(t, "tank-anomaly", 120)
	e.readingsPass(t, node.ID, 3) // 30 entries of history and more: the windows are full enough
	if got := e.alertsOf(node.ID); len(got) != 0 {
		t.Fatalf("alerts on a steady signal: %+v", got)
	}
	now := time.Now()
	if err := e.sim.AddOverride(sim.Override{Channel: ch.ID, Field: 1, Value: ptrTo(480.0), From: now, Until: now.Add(1500 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the spike's anomaly alert opens and resolves", func() bool {
		got := ofKind("anomaly", e.alertsOf(node.ID))
		return len(got) == 1 && got[0].Status == "resolved"
	})
	e.readingsPass(t, node.ID, 3)
	all := e.alertsOf(node.ID)
	if len(all) != 1 {
		t.Fatalf("alerts after one spike: %+v, want one anomaly", all)
	}
	a := all[0]
	if a.Severity != "warning" || a.Metric == nil || *a.Metric != "water_level" {
		t.Errorf("anomaly alert = %+v, want a warning on water_level", a)
	}
	for _, want := range []string{"480", "mean 120", "deviation"} {
		if !strings.Contains(a.Message, want) {
			t.Errorf("anomaly message %q lacks %q", a.Message, want)
		}
	}
}

// TestAlertMaintenance: a node in a maintenance window shows Maintenance
// and raises nothing, however far its level goes; when the window is
// cancelled, the condition still holding opens its alert at the next
// reading.
func TestAlertMaintenance(t *testing.T) {
	e := newAPIEnv(t)
	node, ch := e.steadyNode(t, "tank-maintenance", 100)
	admin := e.fx.Tokens["community_admin"]
	var w struct{ ID string }
	mustJSON(t, e.expect(http.StatusCreated, http.MethodPost, "/api/v1/manage/maintenance", admin, map[string]any{
		"node_id": node.ID, "starts_at": time.Now().Add(-time.Minute), "ends_at": time.Now().Add(time.Hour), "reason": "pump replacement",
	}), &w)
	waitUntil(t, "the node shows Maintenance", func() bool { return e.nodeStatus(node.ID) == "Maintenance" })
	e.createRule(t, node.ID, ">", 500, "critical", 0)
	e.setLevel(t, ch, 900)
	e.readingsPass(t, node.ID, 4)
	if got := e.alertsOf(node.ID); len(got) != 0 {
		t.Fatalf("alerts inside a maintenance window: %+v", got)
	}
	if got := e.nodeStatus(node.ID); got != "Maintenance" {
		t.Errorf("status inside the window = %s", got)
	}

	e.expect(http.StatusNoContent, http.MethodDelete, "/api/v1/manage/maintenance/"+w.ID, admin, nil)
	waitUntil(t, "the rule's alert opens once the window is gone", func() bool { return len(ofKind("rule", e.alertsOf(node.ID))) == 1 })
	waitUntil(t, "the node shows Alert", func() bool { return e.nodeStatus(node.ID) == "Alert" })
}

// TestAlertDeviceOffline: an upstream outage makes the device Offline: a
// critical device_offline alert opens (device.offline and alert.triggered
// webhooks); when data returns it resolves (device.online, alert.resolved).
func TestAlertDeviceOffline(t *testing.T) {
	e := newAPIEnv(t)
	recv, hooks := newHookReceiver(t, 0)
	e.subscribeWebhook(t, hooks.URL, recv.secret, e.fx.CommA.ID)
	e.startWebhooks(t)
	node, ch := e.steadyNode(t, "tank-offline", 100)
	waitUntil(t, "the node is Online", func() bool { return e.nodeStatus(node.ID) == "Online" })

	if err := e.sim.SetFaults(sim.FaultConfig{Channels: map[telemetry.ChannelID]sim.Faults{
		ch.ID: {Outages: []sim.Window{{Start: time.Now(), End: time.Now().Add(time.Hour)}}},
	}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the offline alert opens", func() bool {
		got := ofKind("device_offline", e.alertsOf(node.ID))
		return len(got) == 1 && got[0].Status == "open" && got[0].Severity == "critical"
	})
	// The status and the alert are stored by jobs of their own: the alert
	// may be in the store a moment before the status.
	waitUntil(t, "the node is Offline during the outage", func() bool { return e.nodeStatus(node.ID) == "Offline" })
	// Before the breaker opens (5 failures): the next poll succeeds.
	if err := e.sim.SetFaults(sim.FaultConfig{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the offline alert resolves", func() bool {
		got := ofKind("device_offline", e.alertsOf(node.ID))
		return len(got) == 1 && got[0].Status == "resolved"
	})
	waitUntil(t, "the node is Online again", func() bool { return e.nodeStatus(node.ID) == "Online" })
	count := func() map[string]int {
		got := map[string]int{}
		for _, d := range recv.deliveries(func(d hookDelivery) bool { return d.Data.NodeID == string(node.ID) }) {
			got[d.Event]++
		}
		return got
	}
	want := map[string]int{"device.offline": 1, "alert.triggered": 1, "device.online": 1, "alert.resolved": 1}
	waitUntil(t, "the four webhooks of the node", func() bool { return len(count()) == 4 })
	e.readingsPass(t, node.ID, 2)
	if got := count(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("webhook events of the node = %v, want %v", got, want)
	}
}
